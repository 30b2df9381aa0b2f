// SPDX-License-Identifier: GPL-2.0
/*
 * lmstream-gen.c - write the fuzz seed streams: edu migration streams in
 * exactly the form the module emits them (src/migf.c frames them, the
 * edu engine fills in 64-byte STATE records), built with the real
 * encoder from src/stream.c.
 *
 *   lmstream-gen DIR        write DIR/<name>.lms for every seed
 *   lmstream-gen --check DIR
 *                           exit 1 unless DIR holds exactly those bytes
 *
 * The register values are what an edu can hold (see src/engines/edu.c):
 * a factorial k! mod 2^32, status bit 7 at most, no running DMA except as
 * a held doorbell.
 */
#include <stdio.h>
#include <stdlib.h>

#include "edu_rec.h"
#include "harness.h"

struct out {
	u8 buf[8192];
	size_t len;
};

static u32 fact_mod32(int k)
{
	u32 f = 1;

	while (k > 1)
		f *= (u32)k--;
	return f;
}

static void put_rec(struct out *o, u16 type, const u8 *payload, u32 len)
{
	u8 *hdr = o->buf + o->len;

	memcpy(hdr + LM_REC_HDR_LEN, payload, len);
	lm_encode_rec_hdr(hdr, type, hdr + LM_REC_HDR_LEN, len);
	o->len += LM_REC_HDR_LEN + len;
}

static void begin(struct out *o)
{
	struct lm_identity id = {
		.vendor = LMFZ_EDU_VENDOR,
		.device = LMFZ_EDU_DEVICE,
		.subsys_vendor = LMFZ_EDU_SUBVENDOR,
		.subsys_device = LMFZ_EDU_SUBDEVICE,
		.class_rev = LMFZ_EDU_CLASS_REV,
		.engine_version = LMFZ_EDU_VERSION,
		.blob_len = 4,
	};
	u8 ident[LM_IDENTITY_LEN + 4];

	o->len = lm_encode_header(o->buf, LMFZ_EDU_ENGINE_ID);
	lm_encode_identity(ident, &id);
	lm_put32(ident + LM_IDENTITY_LEN, LMFZ_EDU_ID_REG);
	put_rec(o, LM_REC_IDENTITY, ident, sizeof(ident));
}

/* A STATE record as edu's engine encodes it (src/engines/edu_rec.c). */
static void state(struct out *o, const struct edu_state *r)
{
	u8 p[EDU_STATE_LEN];

	edu_state_encode(p, r);
	put_rec(o, LM_REC_STATE, p, sizeof(p));
}

static void end(struct out *o)
{
	put_rec(o, LM_REC_END, NULL, 0);
}

static int emit(const char *dir, const char *name, const struct out *o,
		bool check)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.lms", dir, name);
	if (check) {
		u8 cur[sizeof(o->buf) + 1];
		size_t n;

		f = fopen(path, "rb");
		if (!f) {
			fprintf(stderr, "lmstream-gen: %s missing\n", path);
			return 1;
		}
		n = fread(cur, 1, sizeof(cur), f);
		fclose(f);
		if (n != o->len || memcmp(cur, o->buf, n)) {
			fprintf(stderr, "lmstream-gen: %s differs from the generator\n",
				path);
			return 1;
		}
		return 0;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(o->buf, 1, o->len, f) != o->len || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct out o;
	bool check = false;
	const char *dir;
	int bad = 0;

	if (argc == 3 && !strcmp(argv[1], "--check")) {
		check = true;
		dir = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		dir = argv[1];
	} else {
		fprintf(stderr, "usage: lmstream-gen [--check] DIR\n");
		return 2;
	}

	/* STOP_COPY of a device nobody touched since power-on. */
	begin(&o);
	state(&o, &(struct edu_state){ 0 });
	end(&o);
	bad |= emit(dir, "edu-stopcopy-fresh", &o, check);

	/* STOP_COPY after a guest used everything but a held doorbell. */
	begin(&o);
	state(&o, &(struct edu_state){
		.liveness = 0x12345678, .fact = fact_mod32(5),
		.status = 0x80, .irq_status = 0x1,
		.dma_src = 0x40000, .dma_dst = 0x1234000, .dma_cnt = 0x100,
		.dma_cmd = 0x6 });
	end(&o);
	bad |= emit(dir, "edu-stopcopy-used", &o, check);

	/* A doorbell held in RUNNING_P2P travels as held_cmd. */
	begin(&o);
	state(&o, &(struct edu_state){
		.liveness = 0xedcba987, .fact = fact_mod32(13),
		.irq_status = 0x100,
		.dma_src = 0x2000, .dma_dst = 0x40000, .dma_cnt = 0x1000,
		.held_cmd = 0x7 });
	end(&o);
	bad |= emit(dir, "edu-held-doorbell", &o, check);

	/* PRE_COPY: initial snapshot, a dirty one, then STOP_COPY's. */
	begin(&o);
	state(&o, &(struct edu_state){ .liveness = 1, .fact = fact_mod32(3) });
	state(&o, &(struct edu_state){ .liveness = 2, .fact = fact_mod32(12),
				       .status = 0x80 });
	state(&o, &(struct edu_state){ .liveness = 3, .fact = fact_mod32(34),
				       .status = 0x80, .irq_status = 0x80000000,
				       .dma_src = 0x40000, .dma_dst = 0xfff000,
				       .dma_cnt = 8, .dma_cmd = 0x2 });
	end(&o);
	bad |= emit(dir, "edu-precopy", &o, check);

	return bad;
}
