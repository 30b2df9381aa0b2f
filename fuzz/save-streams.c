// SPDX-License-Identifier: GPL-2.0
/*
 * save-streams.c - save real migration streams from the devices bound to
 * livemig-vfio-pci, for the fuzz corpus and for checking the seed
 * generator against what the module really emits.  Runs in the test rig:
 *
 *   scripts/vm -- build/fuzz/save-streams build/fuzz/device-streams
 *
 * For every selected edu (see selftests/lib/lm_devsel.h) it programs a
 * few registers, saves once straight through STOP_COPY and once through
 * PRE_COPY, and writes DIR/<bdf>-stopcopy.lms and DIR/<bdf>-precopy.lms.
 * Each device is reset to RUNNING afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_devsel.h"
#include "lm_edu.h"
#include "lm_mig.h"

static int write_file(const char *dir, const char *bdf, const char *kind,
		      const struct lm_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%s.lms", dir, bdf, kind);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
		perror(path);
		return -1;
	}
	printf("save-streams: %s: %zu bytes\n", path, b->len);
	return 0;
}

static int save_one(const char *dir, const char *bdf)
{
	const struct edu_prog prog = {
		.liveness = 0x5a5aa5a5, .fact_k = 9, .irqfact = true,
		.irq_status = 0x10,
		.dma_src = 0x40000, .dma_dst = 0x123000, .dma_cnt = 64,
	};
	struct edu_regs expect;
	const char *stage = "";
	struct lm_buf b;
	struct lm_dev d;
	int ret, precopy;

	ret = lm_dev_open(&d, bdf);
	if (ret) {
		fprintf(stderr, "save-streams: %s: open: %s\n", bdf, strerror(-ret));
		return -1;
	}
	for (precopy = 0; precopy <= 1 && !ret; precopy++) {
		ret = lm_pci_enable(&d);
		ret = ret ?: edu_program(&d, &prog, NULL, &expect);
		if (ret) {
			stage = "program";
			break;
		}
		lm_buf_init(&b);
		ret = lm_save(&d, precopy, LM_CHUNK_ALL, &b, &stage);
		if (!ret)
			ret = write_file(dir, bdf, precopy ? "precopy" : "stopcopy", &b);
		lm_buf_free(&b);
		if (!ret)
			ret = lm_reset_to_running(&d);
	}
	if (ret)
		fprintf(stderr, "save-streams: %s: %s failed: %d\n", bdf, stage, ret);
	lm_dev_close(&d);
	return ret ? -1 : 0;
}

int main(int argc, char **argv)
{
	int i, n, bad = 0;

	n = lm_select_devices(&argc, argv);
	if (argc != 2) {
		fprintf(stderr, "usage: save-streams DIR [BDF...]\n");
		return 2;
	}
	if (!n) {
		fprintf(stderr, "save-streams: no device bound to %s\n", LM_DRIVER_NAME);
		return 1;
	}
	for (i = 0; i < n; i++)
		bad |= save_one(argv[1], lm_device(i));
	return bad ? 1 : 0;
}
