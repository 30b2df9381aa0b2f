// SPDX-License-Identifier: GPL-2.0
/*
 * hp_holder - the VFIO side of selftests/suites.d/hotplug.
 *
 *   hp_holder MODE BDF
 *
 * MODE is one of:
 *
 *   precopy    PRE_COPY, the data fd read part way; on the device request,
 *              read on to the temporary end, go to STOP_COPY, read to the
 *              permanent end (the save finishes), then close everything.
 *   stopcopy   STOP_COPY, the data fd read part way; on the request close
 *              the device while the data fd stays open: reading it on
 *              then fails with ENODEV, poll() says POLLERR.
 *   resuming   RESUMING with half of a saved stream written; on the
 *              request write the rest, RESUMING -> STOP must load it (the
 *              registers are the saved ones), then close everything.
 *   poll       PRE_COPY read to the temporary end, a thread asleep in
 *              poll() on the data fd; on the request close the device: the
 *              thread must wake (POLLERR).  The data fd is kept open until
 *              the device is gone from sysfs, then read (ENODEV), polled
 *              (POLLERR) and closed.
 *   roundtrip  no removal: program the device, save it through PRE_COPY,
 *              reset it, resume the stream and compare the registers.
 *   reset      no removal: behind its root port the function has a reset
 *              of its own (a bus reset), so VFIO_DEVICE_RESET is vfio-pci
 *              core's and reaches the driver only through reset_done.  A
 *              doorbell held in RUNNING_P2P must not survive it: RUNNING
 *              after the reset, the held DMA never runs, a new one does.
 *
 * Every removal mode first registers an eventfd as the device's request
 * interrupt (VFIO_PCI_REQ_IRQ_INDEX), gets into position and prints
 * "ready"; scripts/vm's agent is then asked (by the suite) to device_del
 * the function, and vfio's remove path, blocked until the device is
 * released, signals the eventfd.
 *
 * Output: "ready" once in position, then one line per check, "ok TEXT" or
 * "not ok TEXT"; the suite numbers them.  The number of check lines per
 * mode is fixed: two (open, request eventfd) plus what the mode's function
 * says (the suite pads a short run with failures).  Exit status 0 if every check passed.  Waits are bounded
 * (HP_WAIT_MS) so that a driver that never wakes a sleeper fails the
 * check instead of hanging the suite; nothing is measured.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lm_datafd.h"
#include "lm_edu.h"
#include "lm_mig.h"
#include "lm_stream.h"
#include "lm_vfio.h"

#define HP_WAIT_MS	120000
#define HP_PART		16	/* bytes read/written before the request */

static int failures;

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf(cond ? "ok " : "not ok ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

static const char *err_name(int neg)
{
	return neg ? strerror(-neg) : "success";
}

static int open_dev(struct lm_dev *d, const char *bdf)
{
	int i, ret = -EBUSY;

	for (i = 0; i < 100 && ret == -EBUSY; i++) {
		ret = lm_dev_open(d, bdf);
		if (ret == -EBUSY)
			usleep(100000);
	}
	if (!ret)
		ret = lm_reset_to_running(d);
	return ret;
}

static int program(struct lm_dev *d, uint32_t seed, struct edu_regs *expect)
{
	struct edu_prog p = {
		.liveness = 0x5eed0000 | seed,
		.fact_k = 5 + seed % 7,
		.irqfact = false,
		.dma_src = 0x1000 + seed,
		.dma_dst = 0x2000 + seed,
		.dma_cnt = 64,
	};

	return edu_program(d, &p, NULL, expect);
}

static int regs_equal(struct lm_dev *d, const struct edu_regs *want,
		      char *why, size_t len)
{
	struct edu_regs now;
	int ret;

	ret = edu_read_regs(d, &now);
	if (ret) {
		snprintf(why, len, "reading registers: %s", err_name(ret));
		return 0;
	}
	return edu_regs_diff(want, &now, why, len) == 0;
}

static int request_efd(struct lm_dev *d)
{
	int efd = eventfd(0, EFD_CLOEXEC), ret;

	if (efd < 0)
		return -errno;
	ret = lm_irq_eventfd(d, VFIO_PCI_REQ_IRQ_INDEX, efd);
	if (ret) {
		close(efd);
		return ret;
	}
	return efd;
}

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

/* Wait for the request; one check line. */
static void wait_request(int efd)
{
	uint64_t cnt = 0;
	int rev = lm_poll1(efd, POLLIN, HP_WAIT_MS);

	if (rev > 0 && read(efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		cnt = 0;
	check(rev > 0 && cnt > 0,
	      "the request interrupt's eventfd fired (poll %d, count %llu)",
	      rev, (unsigned long long)cnt);
}

static int sysfs_present(const char *bdf)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	return stat(path, &st) == 0;
}

/* precopy: 6 checks */
static void mode_precopy(struct lm_dev *d, int efd)
{
	struct lm_buf b;
	struct lm_sview *v = calloc(1, sizeof(*v));
	uint8_t part[HP_PART];
	long n;
	int fd = -1, fd2 = -1, end = 0, ret;

	lm_buf_init(&b);
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	n = ret ? ret : lm_read1(fd, part, sizeof(part));
	if (n > 0)
		lm_buf_append(&b, part, n);
	check(!ret && n == HP_PART, "PRE_COPY, %d bytes read (%s)", HP_PART,
	      err_name(ret ?: (n < 0 ? (int)n : 0)));
	ready();
	wait_request(efd);

	ret = fd < 0 ? -EBADF : lm_drain(fd, &b, LM_CHUNK(100), LM_STREAM_LIMIT, &end);
	check(!ret && end == LM_END_TEMP,
	      "after the request the PRE_COPY read goes on to its temporary end (%s, end %d)",
	      err_name(ret), end);
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd2);
	end = 0;
	if (!ret)
		ret = lm_drain(fd, &b, LM_CHUNK(100), LM_STREAM_LIMIT, &end);
	check(!ret && end == LM_END_PERM && fd2 < 0,
	      "PRE_COPY -> STOP_COPY and the read to the permanent end finish (%s)",
	      err_name(ret));
	ret = v ? lm_stream_view(b.p, b.len, v) : -ENOMEM;
	check(!ret, "the %zu bytes saved form a complete stream (%s)", b.len,
	      ret && v && v->why ? v->why : err_name(ret));
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	check(!ret, "STOP_COPY -> STOP after the request (%s)", err_name(ret));
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	lm_buf_free(&b);
	free(v);
}

/* stopcopy: 5 checks */
static void mode_stopcopy(struct lm_dev *d, int efd)
{
	uint8_t part[HP_PART];
	long n;
	int fd = -1, ret, rev;

	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	n = ret ? ret : lm_read1(fd, part, sizeof(part));
	check(!ret && n == HP_PART, "STOP_COPY, %d bytes read (%s)", HP_PART,
	      err_name(ret ?: (n < 0 ? (int)n : 0)));
	ready();
	wait_request(efd);

	/* Release the device with the data fd still open, mid-stream. */
	lm_dev_close(d);
	n = fd < 0 ? -EBADF : lm_read1(fd, part, sizeof(part));
	check(n == -ENODEV, "a read after the device was closed fails with ENODEV (%s)",
	      n >= 0 ? "data" : strerror((int)-n));
	rev = fd < 0 ? -EBADF : lm_poll1(fd, POLLIN, 0);
	check(rev > 0 && (rev & POLLERR), "poll() says POLLERR (revents %#x)", rev);
	check(fd >= 0 && close(fd) == 0, "the data fd closes");
}

/* resuming: 5 checks */
static void mode_resuming(struct lm_dev *d, int efd)
{
	struct edu_regs want;
	struct lm_buf b;
	const char *stage = "";
	char why[256] = "";
	long n = 0;
	int fd = -1, ret, stop;

	lm_buf_init(&b);
	ret = program(d, 7, &want);
	ret = ret ?: lm_save(d, 0, LM_CHUNK_ALL, &b, &stage);
	ret = ret ?: lm_reset_to_running(d);
	ret = ret ?: lm_mig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (!ret)
		n = lm_write1(fd, b.p, b.len / 2);
	check(!ret && n == (long)(b.len / 2),
	      "saved %zu bytes, reset, RESUMING with %zu written (%s%s%s)",
	      b.len, b.len / 2, ret ? stage : "",
	      ret ? ": " : "", err_name(ret ?: (n < 0 ? (int)n : 0)));
	ready();
	wait_request(efd);

	ret = fd < 0 ? -EBADF : lm_feed(fd, b.p + b.len / 2, b.len - b.len / 2,
					LM_CHUNK(7), NULL);
	check(!ret, "after the request the rest of the stream is accepted (%s)",
	      err_name(ret));
	stop = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	check(!stop, "RESUMING -> STOP loads it (%s)", err_name(stop));
	check(!stop && regs_equal(d, &want, why, sizeof(why)),
	      "the registers are the saved ones%s%s", *why ? ": " : "", why);
	if (fd >= 0)
		close(fd);
	lm_buf_free(&b);
}

struct poller {
	int fd;
	int rev;
};

static void *poller_fn(void *arg)
{
	struct poller *p = arg;

	p->rev = lm_poll1(p->fd, POLLIN, HP_WAIT_MS);
	return NULL;
}

/* poll: 7 checks */
static void mode_poll(struct lm_dev *d, int efd, const char *bdf)
{
	struct poller p = { .fd = -1, .rev = 0 };
	struct lm_buf b;
	pthread_t th;
	uint8_t byte;
	long n;
	int end = 0, ret, started = 0, rev, i;

	lm_buf_init(&b);
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &p.fd);
	ret = ret ?: lm_drain(p.fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT, &end);
	if (!ret && end == LM_END_TEMP) {
		ret = -pthread_create(&th, NULL, poller_fn, &p);
		started = !ret;
	}
	check(started, "PRE_COPY read to its temporary end, a thread polls the data fd (%s)",
	      err_name(ret));
	ready();
	wait_request(efd);

	lm_dev_close(d);
	if (started)
		pthread_join(th, NULL);
	check(started && p.rev > 0 && (p.rev & POLLERR),
	      "closing the device wakes the poller with POLLERR (revents %#x)", p.rev);

	/* The data fd outlives the device: wait for it to leave sysfs. */
	for (i = 0; i < HP_WAIT_MS / 100 && sysfs_present(bdf); i++)
		usleep(100000);
	check(!sysfs_present(bdf), "%s is removed while the data fd is still open", bdf);
	n = p.fd < 0 ? -EBADF : lm_read1(p.fd, &byte, 1);
	check(n == -ENODEV, "a read on the data fd of the removed device fails with ENODEV (%s)",
	      n >= 0 ? "data" : strerror((int)-n));
	rev = p.fd < 0 ? -EBADF : lm_poll1(p.fd, POLLIN, 0);
	check(rev > 0 && (rev & POLLERR), "poll() still says POLLERR (revents %#x)", rev);
	check(p.fd >= 0 && close(p.fd) == 0, "the data fd closes");
	lm_buf_free(&b);
}

/* roundtrip: 4 checks */
static void mode_roundtrip(struct lm_dev *d)
{
	struct edu_regs want, other;
	struct lm_buf b;
	const char *stage = "";
	char why[256] = "";
	int ret, werr = 0, serr = 0;

	lm_buf_init(&b);
	ret = program(d, 3, &want);
	check(!ret, "program the replugged device (%s)", err_name(ret));
	ret = lm_save(d, 1, LM_CHUNK(64), &b, &stage);
	check(!ret, "save it through PRE_COPY and STOP_COPY, %zu bytes (%s%s%s)",
	      b.len, ret ? stage : "", ret ? ": " : "", err_name(ret));
	/* Other values, so that the resume has something to restore. */
	ret = lm_reset_to_running(d);
	ret = ret ?: program(d, 11, &other);
	ret = ret ?: lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	ret = ret ?: lm_resume(d, b.p, b.len, LM_CHUNK(13), &werr, &serr);
	check(!ret, "reprogram it, resume the saved stream (write %s, stop %s)",
	      err_name(werr), err_name(serr));
	ret = ret ?: lm_mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	check(!ret && regs_equal(d, &want, why, sizeof(why)),
	      "RUNNING again with the saved registers%s%s", *why ? ": " : "", why);
	lm_buf_free(&b);
}

/* reset: 6 checks */
#define RESET_XFER	256
#define RESET_HELD	0x2000	/* RAM the held DMA would write */
#define RESET_NEW	0x3000	/* RAM the DMA after the reset writes */

static void mode_reset(struct lm_dev *d, const char *bdf)
{
	static const uint8_t zero[RESET_XFER];
	char path[128], methods[128] = "";
	struct lm_dma dma = { 0 };
	struct edu_regs r = { 0 };
	uint32_t state = ~0U;
	uint8_t *ram;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(methods, sizeof(methods), f))
			methods[0] = 0;
		fclose(f);
	}
	methods[strcspn(methods, "\n")] = 0;
	check(methods[0] != 0, "the function has a reset of its own (reset_method: %s)",
	      methods[0] ? methods : "none");

	ret = lm_dma_alloc_map(d, EDU_TEST_IOVA, 0x10000, &dma);
	ram = dma.vaddr;
	if (!ret)
		memset(ram, 0, 0x10000);
	ret = ret ?: lm_mig_set_state(d, VFIO_DEVICE_STATE_RUNNING_P2P, NULL);
	ret = ret ?: edu_dma_start(d, EDU_DMA_BUF, dma.iova + RESET_HELD,
				   RESET_XFER, EDU_DMA_RUN | EDU_DMA_TO_RAM);
	ret = ret ?: edu_read_regs(d, &r);
	check(!ret && (r.dma_cmd & EDU_DMA_RUN),
	      "a doorbell rung in RUNNING_P2P is held (DMA_CMD %#llx; %s)",
	      (unsigned long long)r.dma_cmd, err_name(ret));
	if (ret) {
		check(0, "reset not tried");
		check(0, "reset not tried");
		check(0, "reset not tried");
		check(0, "reset not tried");
		goto out;
	}

	ret = lm_dev_reset(d);
	check(!ret, "VFIO_DEVICE_RESET (%s)", err_name(ret));
	ret = lm_mig_get_state(d, &state);
	check(!ret && state == VFIO_DEVICE_STATE_RUNNING,
	      "RUNNING after the reset (state %u; %s)", state, err_name(ret));
	usleep(400 * 1000);
	ret = edu_read_regs(d, &r);
	check(!ret && !(r.dma_cmd & EDU_DMA_RUN) &&
	      !memcmp(ram + RESET_HELD, zero, RESET_XFER),
	      "the held doorbell is gone: DMA_CMD %#llx, its RAM %s (%s)",
	      (unsigned long long)r.dma_cmd,
	      memcmp(ram + RESET_HELD, zero, RESET_XFER) ? "written" : "untouched",
	      err_name(ret));
	ret = edu_dma_start(d, EDU_DMA_BUF, dma.iova + RESET_NEW, RESET_XFER,
			    EDU_DMA_RUN | EDU_DMA_TO_RAM);
	ret = ret ?: edu_wait_dma(d, 5000);
	check(!ret, "a DMA programmed after the reset runs to completion (%s)",
	      err_name(ret));
out:
	if (dma.vaddr)
		lm_dma_unmap_free(d, &dma);
}

int main(int argc, char **argv)
{
	const char *mode, *bdf;
	struct lm_dev d;
	int ret, efd = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s precopy|stopcopy|resuming|poll|roundtrip|reset BDF\n",
			argv[0]);
		return 2;
	}
	mode = argv[1];
	bdf = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);

	ret = open_dev(&d, bdf);
	check(!ret, "open %s through VFIO (%s) and reset it", bdf, err_name(ret));
	if (ret)
		return 1;

	if (!strcmp(mode, "roundtrip") || !strcmp(mode, "reset")) {
		if (!strcmp(mode, "roundtrip"))
			mode_roundtrip(&d);
		else
			mode_reset(&d, bdf);
		lm_dev_close(&d);
		return failures ? 1 : 0;
	}

	efd = request_efd(&d);
	check(efd >= 0, "an eventfd for the request interrupt (%s)",
	      err_name(efd < 0 ? efd : 0));
	if (efd < 0) {
		lm_dev_close(&d);
		return 1;
	}
	if (!strcmp(mode, "precopy"))
		mode_precopy(&d, efd);
	else if (!strcmp(mode, "stopcopy"))
		mode_stopcopy(&d, efd);
	else if (!strcmp(mode, "resuming"))
		mode_resuming(&d, efd);
	else if (!strcmp(mode, "poll"))
		mode_poll(&d, efd, bdf);
	else
		check(0, "unknown mode %s", mode);
	/* lm_dev_close() is idempotent (stopcopy and poll closed already). */
	lm_dev_close(&d);
	close(efd);
	return failures ? 1 : 0;
}
