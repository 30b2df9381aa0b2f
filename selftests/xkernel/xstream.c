// SPDX-License-Identifier: GPL-2.0
/*
 * xstream - migration streams across kernels.  A host is upgraded by
 * live-migrating its VMs off it, so a stream the module saves on one
 * kernel must resume on every other.  scripts/check boots the rig once
 * per kernel of the matrix; in each boot
 *
 *   xstream save DIR TAG
 *
 * programs the first edu with a fixed register file, saves it straight
 * through STOP_COPY (and through PRE_COPY where the kernel has it) into
 * DIR/TAG.<kind>.lms, keeps the register file the program must leave in
 * DIR/TAG.<kind>.regs, and checks that the stream resumes on the same
 * kernel.  With SRC tags (streams saved by earlier boots of other
 * kernels) it then resumes every stream saved under each SRC tag onto the second edu
 * after filling its registers with other values, and checks the register
 * file against what the saving side programmed.  Output is TAP; a SRC
 * with no stream is a failure, not a skip.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_devsel.h"
#include "lm_edu.h"
#include "lm_kernel.h"
#include "lm_mig.h"

static int tap_n, tap_failed;

static void tap(int ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	tap_failed |= !ok;
}

/* What each kind of stream carries: distinct values, so a mix-up shows. */
static const struct edu_prog progs[] = {
	{ .liveness = 0x5a5aa5a5, .fact_k = 9, .irqfact = true,
	  .irq_status = 0x10,
	  .dma_src = 0x40000, .dma_dst = 0x123000, .dma_cnt = 64 },
	{ .liveness = 0x0badcafe, .fact_k = 12, .irqfact = false,
	  .irq_status = 0x2,
	  .dma_src = 0x40100, .dma_dst = 0x231000, .dma_cnt = 128 },
};
static const char * const kinds[] = { "stopcopy", "precopy" };

/* Values a resume must overwrite. */
static const struct edu_prog noise = {
	.liveness = 0x11111111, .fact_k = 5, .irqfact = false,
	.irq_status = 0x40,
	.dma_src = 0x40800, .dma_dst = 0x77000, .dma_cnt = 8,
};

/* Fill @d with other values, resume @len bytes and compare with @expect. */
static int resume_check(struct lm_dev *d, const void *p, size_t len,
			const struct edu_regs *expect, char *why, size_t wlen)
{
	struct edu_regs before, got;
	int ret, werr = 0, serr = 0;

	ret = lm_reset_to_running(d);
	ret = ret ?: lm_pci_enable(d);
	ret = ret ?: edu_program(d, &noise, NULL, &before);
	if (ret) {
		snprintf(why, wlen, "preparing the destination: %s",
			 strerror(-ret));
		return ret;
	}
	ret = lm_resume(d, p, len, LM_CHUNK_ALL, &werr, &serr);
	if (ret) {
		snprintf(why, wlen, "resume: write %s, RESUMING->STOP %s",
			 strerror(-werr), strerror(-serr));
		return ret;
	}
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	ret = ret ?: edu_read_regs(d, &got);
	if (ret) {
		snprintf(why, wlen, "back to RUNNING / reading: %s",
			 strerror(-ret));
		return ret;
	}
	if (edu_regs_diff(expect, &got, why, wlen))
		return -EBADMSG;
	return 0;
}

static int cmd_save(const char *dir, const char *tag)
{
	int kind, nkinds = lm_kernel_has_precopy(NULL, 0) ? 2 : 1;
	char path[4096], why[512];
	struct edu_regs expect;
	const char *stage = "";
	struct lm_buf b;
	struct lm_dev d;
	int ret;

	ret = lm_dev_open(&d, lm_device(0));
	if (ret) {
		printf("Bail out! open %s: %s\n", lm_device(0), strerror(-ret));
		return 1;
	}
	for (kind = 0; kind < nkinds; kind++) {
		lm_buf_init(&b);
		ret = lm_reset_to_running(&d);
		ret = ret ?: lm_pci_enable(&d);
		ret = ret ?: edu_program(&d, &progs[kind], NULL, &expect);
		stage = "program";
		if (!ret)
			ret = lm_save(&d, kind, LM_CHUNK_ALL, &b, &stage);
		snprintf(path, sizeof(path), "%s/%s.%s.lms", dir, tag,
			 kinds[kind]);
		if (!ret)
			ret = lm_file_save(path, b.p, b.len);
		snprintf(path, sizeof(path), "%s/%s.%s.regs", dir, tag,
			 kinds[kind]);
		if (!ret)
			ret = lm_file_save(path, &expect, sizeof(expect));
		if (ret) {
			tap(0, "%s %s: save failed at %s: %s", tag,
			    kinds[kind], stage, strerror(-ret));
		} else {
			ret = resume_check(&d, b.p, b.len, &expect, why,
					   sizeof(why));
			tap(!ret, "%s %s: %zu bytes saved, resumed on the same kernel%s%s",
			    tag, kinds[kind], b.len, ret ? ": " : "",
			    ret ? why : "");
		}
		lm_buf_free(&b);
	}
	lm_reset_to_running(&d);
	lm_dev_close(&d);
	return 0;
}

static int cmd_resume(const char *dir, const char *tag, int nsrc,
		      char **srcs)
{
	int i, kind, found, ret;
	char path[4096], why[512];
	struct edu_regs expect;
	struct lm_buf b, r;
	struct lm_dev d;

	ret = lm_dev_open(&d, lm_device(lm_device(1) ? 1 : 0));
	if (ret) {
		printf("Bail out! open: %s\n", strerror(-ret));
		return 1;
	}
	for (i = 0; i < nsrc; i++) {
		found = 0;
		for (kind = 0; kind < 2; kind++) {
			snprintf(path, sizeof(path), "%s/%s.%s.lms", dir,
				 srcs[i], kinds[kind]);
			lm_buf_init(&b);
			lm_buf_init(&r);
			if (lm_buf_load(&b, path)) {
				lm_buf_free(&b);
				continue;
			}
			found++;
			snprintf(path, sizeof(path), "%s/%s.%s.regs", dir,
				 srcs[i], kinds[kind]);
			ret = lm_buf_load(&r, path);
			if (ret || r.len != sizeof(expect)) {
				tap(0, "%s %s resumes on %s: no register file",
				    srcs[i], kinds[kind], tag);
			} else {
				memcpy(&expect, r.p, sizeof(expect));
				ret = resume_check(&d, b.p, b.len, &expect,
						   why, sizeof(why));
				tap(!ret, "%s %s stream (%zu bytes) resumes on %s%s%s",
				    srcs[i], kinds[kind], b.len, tag,
				    ret ? ": " : "", ret ? why : "");
			}
			lm_buf_free(&b);
			lm_buf_free(&r);
		}
		if (!found)
			tap(0, "%s: no stream saved under that tag in %s",
			    srcs[i], dir);
	}
	lm_reset_to_running(&d);
	lm_dev_close(&d);
	return 0;
}

int main(int argc, char **argv)
{
	int n = lm_select_devices(&argc, argv);
	int save = argc > 1 && !strcmp(argv[1], "--save");
	int ret = 0;

	if (argc - save < 3 || (!save && argc < 4)) {
		fprintf(stderr, "usage: xstream [--save] DIR TAG [SRC_TAG...] [BDF...]\n");
		return 2;
	}
	if (!n) {
		printf("Bail out! no edu bound to %s\n", LM_DRIVER_NAME);
		return 1;
	}
	argv += save;
	argc -= save;
	if (save)
		ret = cmd_save(argv[1], argv[2]);
	if (!ret && argc > 3)
		ret = cmd_resume(argv[1], argv[2], argc - 3, argv + 3);
	printf("1..%d\n", tap_n);
	return ret || tap_failed;
}
