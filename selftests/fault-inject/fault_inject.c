// SPDX-License-Identifier: GPL-2.0
/*
 * fault-inject - fail, one at a time, every allocation and user copy the
 * livemig module makes during a whole migration flow, and check that each
 * failure is clean: the flow gets an error (or copes), the kernel logs no
 * splat and leaks nothing (the rig's scan and the kmemleak suite), and the
 * device migrates correctly afterwards.
 *
 * Run by selftests/suites.d/fault-inject, which aims failslab,
 * fail_page_alloc and fail_usercopy at the module (their stack-trace
 * filter is set to the module's text; probability stays 0).  This
 * program then uses the per-task /proc/thread-self/fail-nth: writing N
 * fails the N-th call in this thread that passes those filters, so
 * N = 1, 2, ... walks every failure point of the flow in order until a
 * run completes without the fault being reached.
 *
 *   fault-inject [--from N] [--max N] [--seconds S] [BDF]
 *
 * --from and --max pick a range of fault points (to look at one of them
 * with FAULT_INJECT_VERBOSE=2, say).
 *
 * The flow, all in this thread: open the device, enable it, program
 * edu registers, DMA logging start/report/stop (where offered), save
 * through PRE_COPY, reset, save through STOP_COPY, resume that stream,
 * reset, close.  Each save that succeeds must give a well-formed stream
 * (selftests/lib's independent reader) and the resumed device must show
 * the registers that were saved.  After every injected run the device is
 * opened afresh, without injection, and must save and resume a known
 * register file.
 *
 * TAP: one result per fault point, then the plan.  Exit 0 all passed, 1
 * a failure, 4 skipped (no fail-nth, no device).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lm_devsel.h"
#include "lm_edu.h"
#include "lm_mig.h"
#include "lm_stream.h"

#define LOG_IOVA	0x100000ULL
#define LOG_SIZE	0x100000ULL
#define LOG_PAGE	4096ULL

static int nth_fd = -1;

static int nth_write(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(nth_fd, buf, len, 0) == len ? 0 : -errno;
}

/* Remaining count: 0 once the fault was injected. */
static long nth_read(void)
{
	char buf[16] = "";

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

static const struct edu_prog prog_a = {
	.liveness = 0x0badcafe, .fact_k = 7, .irqfact = true,
	.irq_status = 0x4,
	.dma_src = 0x40000, .dma_dst = 0x180000, .dma_cnt = 128,
};

static const struct edu_prog prog_b = {
	.liveness = 0x600df00d, .fact_k = 11,
	.irq_status = 0x20,
	.dma_src = 0x2000, .dma_dst = 0x40000, .dma_cnt = 32,
};

static int dma_logging(struct lm_dev *d, const char **stage)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = LOG_IOVA, .length = LOG_SIZE,
	};
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = LOG_PAGE, .num_ranges = 1, .ranges = (uintptr_t)&r,
	};
	uint64_t bits[LOG_SIZE / LOG_PAGE / 64];
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = LOG_IOVA, .length = LOG_SIZE, .page_size = LOG_PAGE,
		.bitmap = (uintptr_t)bits,
	};
	int ret;

	*stage = "DMA_LOGGING_START";
	ret = lm_feature(d, VFIO_DEVICE_FEATURE_SET,
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));
	if (ret == -ENOTTY || ret == -EOPNOTSUPP)
		return 0;	/* not offered on this kernel */
	if (ret)
		return ret;
	*stage = "DMA_LOGGING_REPORT";
	ret = lm_feature(d, VFIO_DEVICE_FEATURE_GET,
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
	*stage = ret ? *stage : "DMA_LOGGING_STOP";
	if (!ret)
		ret = lm_feature(d, VFIO_DEVICE_FEATURE_SET,
				 VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
	return ret;
}

/* A save that reported success must have produced a complete stream. */
static int check_stream(const struct lm_buf *b, const char **sub)
{
	static struct lm_sview v;
	int ret = lm_stream_view(b->p, b->len, &v);

	if (ret)
		*sub = v.why ? v.why : "malformed stream";
	return ret ? -EIO : 0;
}

/*
 * Where the armed fault was injected: fail-nth is read after each step,
 * and the step after which it first reads 0 took the fault.
 */
static const char *injected_in;

static void step_done(const char *name)
{
	if (!injected_in && nth_fd >= 0 && nth_read() == 0)
		injected_in = name;
}

#define STEP(name, expr) do {				\
		*stage = (name);			\
		sub = "";				\
		ret = (expr);				\
		step_done(name);			\
		if (ret)				\
			goto out;			\
	} while (0)

/*
 * The flow under injection.  Returns 0 or the first error, at *stage.
 * A flow that completes must also have moved the right state: the
 * registers programmed before the save are what the resumed device shows.
 */
static int flow(const char *bdf, const char **stage, char *why, size_t len)
{
	const char *sub = "";
	struct edu_regs expect, got;
	struct lm_buf pre, stop;
	int ret, werr = 0, serr = 0;
	struct lm_dev d;

	injected_in = NULL;
	lm_buf_init(&pre);
	lm_buf_init(&stop);
	*stage = "open";
	ret = lm_dev_open(&d, bdf);
	step_done("open");
	if (ret)
		return ret;
	STEP("enable", lm_pci_enable(&d));
	STEP("reset", lm_reset_to_running(&d));
	STEP("program", edu_program(&d, &prog_a, NULL, &expect));
	STEP("DMA logging", dma_logging(&d, &sub));
	STEP("save through PRE_COPY", lm_save(&d, 1, LM_CHUNK(64), &pre, &sub));
	STEP("PRE_COPY stream", check_stream(&pre, &sub));
	STEP("reset after PRE_COPY", lm_reset_to_running(&d));
	STEP("program again", edu_program(&d, &prog_a, NULL, &expect));
	STEP("save through STOP_COPY", lm_save(&d, 0, LM_CHUNK_ALL, &stop, &sub));
	STEP("STOP_COPY stream", check_stream(&stop, &sub));
	STEP("reset before resume", lm_reset_to_running(&d));
	STEP("resume", lm_resume(&d, stop.p, stop.len, LM_CHUNK(40), &werr, &serr));
	STEP("RUNNING after resume", lm_mig_set_state(&d, VFIO_DEVICE_STATE_RUNNING, NULL));
	STEP("read registers", edu_read_regs(&d, &got));
	if (edu_regs_diff(&expect, &got, why, len)) {
		*stage = "compare";
		ret = -EIO;
		goto out;
	}
	STEP("reset after resume", lm_reset_to_running(&d));
out:
	if (ret && *sub) {
		snprintf(why, len, "%s", sub);
	}
	lm_dev_close(&d);
	step_done("close");
	lm_buf_free(&pre);
	lm_buf_free(&stop);
	return ret;
}

/* Without injection: the device must still migrate a known state. */
static int verify(const char *bdf, char *why, size_t len)
{
	struct edu_regs expect, got;
	const char *stage = "";
	struct lm_buf s;
	struct lm_dev d;
	int ret, werr = 0, serr = 0;

	lm_buf_init(&s);
	ret = lm_dev_open(&d, bdf);
	if (ret) {
		snprintf(why, len, "open: %s", strerror(-ret));
		return ret;
	}
	ret = lm_pci_enable(&d);
	ret = ret ?: lm_reset_to_running(&d);
	ret = ret ?: edu_program(&d, &prog_b, NULL, &expect);
	if (ret) {
		snprintf(why, len, "reset/program: %s", strerror(-ret));
		goto out;
	}
	ret = lm_save(&d, 0, LM_CHUNK_ALL, &s, &stage);
	if (ret) {
		snprintf(why, len, "save: %s: %s", stage, strerror(-ret));
		goto out;
	}
	ret = lm_reset_to_running(&d);
	ret = ret ?: lm_resume(&d, s.p, s.len, LM_CHUNK_ALL, &werr, &serr);
	ret = ret ?: lm_mig_set_state(&d, VFIO_DEVICE_STATE_RUNNING, NULL);
	ret = ret ?: edu_read_regs(&d, &got);
	if (ret) {
		snprintf(why, len, "resume: write %d, stop %d: %s", werr, serr,
			 strerror(-ret));
		goto out;
	}
	if (edu_regs_diff(&expect, &got, why, len)) {
		ret = -EIO;
		goto out;
	}
	ret = lm_reset_to_running(&d);
	if (ret)
		snprintf(why, len, "final reset: %s", strerror(-ret));
out:
	lm_dev_close(&d);
	lm_buf_free(&s);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned int max = 2000, first = 1, n, failed = 0, results = 0;
	const char *bdf, *stage = "";
	char why[512];
	long secs = 1800, left;
	time_t start;
	int i, ret;

	lm_select_devices(&argc, argv);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--from") && i + 1 < argc)
			first = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: fault-inject [--from N] [--max N] [--seconds S] [BDF]\n");
			return 2;
		}
	}
	printf("TAP version 13\n");
	bdf = lm_device(0);
	if (!bdf) {
		/* The rig always binds one: a failure, not a skip. */
		printf("Bail out! no device bound to %s\n", LM_DRIVER_NAME);
		return 1;
	}
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth_fd < 0) {
		printf("1..0 # SKIP no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)\n");
		return 4;
	}
	printf("# device %s\n", bdf);

	/* The flow must pass as it is before faults mean anything. */
	why[0] = 0;
	ret = flow(bdf, &stage, why, sizeof(why));
	if (ret) {
		printf("Bail out! the flow fails without injection at %s: %s (%s)\n",
		       stage, strerror(-ret), why);
		return 1;
	}

	start = time(NULL);
	for (n = first; n <= max; n++) {
		char what[1024];

		if (time(NULL) - start > secs) {
			printf("# time budget of %lds used up after %u fault points\n",
			       secs, results);
			break;
		}
		stage = "";
		if (nth_write(n)) {
			printf("Bail out! cannot arm fail-nth: %s\n", strerror(errno));
			return 1;
		}
		why[0] = 0;
		ret = flow(bdf, &stage, why, sizeof(why));
		left = nth_read();
		nth_write(0);
		if (ret)
			snprintf(what, sizeof(what), "injected in %s, flow failed at %s (%s%s%s)",
				 injected_in ?: "?", stage, strerror(-ret),
				 why[0] ? ": " : "", why);
		else
			snprintf(what, sizeof(what), "injected in %s, flow completed",
				 injected_in ?: "?");
		/*
		 * A save that succeeded with a broken stream, or a resume that
		 * succeeded with the wrong state, is silent corruption: fail.
		 */
		if (ret == -EIO && (!strcmp(stage, "compare") ||
				    strstr(stage, " stream"))) {
			printf("not ok %u fault %u: %s\n", ++results, n, what);
			failed++;
			continue;
		}
		if (left != 0) {
			/* Fewer than n failure points: every one was tried. */
			if (ret) {
				printf("not ok %u no fault left to inject, yet the %s\n",
				       ++results, what);
				failed++;
			}
			printf("# the flow has %u failure points\n", n - 1);
			break;
		}
		why[0] = 0;
		if (verify(bdf, why, sizeof(why))) {
			printf("not ok %u fault %u: %s; device not usable after: %s\n",
			       ++results, n, what, why);
			failed++;
			/* A broken device fails every later point too. */
			break;
		}
		printf("ok %u fault %u: %s; device migrates after\n", ++results,
		       n, what);
		fflush(stdout);
	}
	printf("1..%u\n", results);
	return failed ? 1 : 0;
}
