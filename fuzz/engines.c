// SPDX-License-Identifier: GPL-2.0
/*
 * engines.c - feed the engines' record decoders (src/engines/edu_rec.c,
 * src/engines/bochs_rec.c, src/engines/igbvf_rec.c) what a hostile resume stream can hand them,
 * the way the module's resuming data FD does, and check what they accept.
 *
 * An input is either a whole stream (it starts with the stream magic; the
 * golden fixtures are the seeds) or one record:
 *
 *   stream:  the stream, checksums recomputed first so that mutations
 *            reach the decoders; parsed by src/stream.c, each record
 *            staged by the engine's model below, then finished and, if it
 *            all validated, "loaded" (the checks the engine's load does)
 *   record:  type-selector:u8 payload...  the payload is staged alone
 *
 * Properties, a broken one abort()s (libFuzzer reports it as a crash):
 * - every record a decoder accepts encodes back, with the engine's own
 *   encoder, to the very bytes it was decoded from (so it is something a
 *   save could have produced, and no field is ignored);
 * - a decoded VRAM range is non-empty, page aligned and inside the VRAM of
 *   the device the stream is loaded into; staging writes only there;
 * - a stream that loads gave every VRAM page a value and a register file;
 *   an edu state that loads has a factorial the device computes again;
 * - an igbvf state that loads has rings of whole descriptor blocks with
 *   head and tails inside, a device TX tail at its head unless the queue
 *   is disabled, logged mailbox
 *   requests of their own type and length, at most IGBVF_VLANS 12-bit
 *   VLAN ids and pending mailbox bits only of those a read clears.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engines.h"
#include "edu_rec.h"
#include "bochs_rec.h"
#include "igbvf_rec.h"
#include "harness.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "engines.c:%d: invariant broken: %s\n",	\
			__LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* The destination: an edu as the rig's (harness.h), or a bochs-display. */
#define BOCHS_VENDOR		0x1234
#define BOCHS_DEVICE		0x1111
#define BOCHS_ID_LEN		(16 + 256)
/* An igb VF of the rig: QEMU's 82576 VF behind the rig's PF. */
#define IGBVF_ENGINE_ID		0x49474256U
#define IGBVF_ENGINE_VERSION	1
#define IGBVF_MAX_RECORD	2048
#define IGBVF_VENDOR		0x8086
#define IGBVF_DEVICE		0x10ca
#define IGBVF_PF_DEVICE		0x10c9
#define IGBVF_ID_LEN		20
/* The largest VRAM the model stages (QEMU's bochs-display: 256 MiB). */
#define MODEL_VRAM_MAX		(64ULL << 20)

struct model {
	int engine;
	u32 max_record;
	/* edu */
	struct edu_state edu;
	bool edu_valid;
	/* bochs-display: the device takes its VRAM size from IDENTITY */
	u64 vram;
	u8 *covered;		/* one byte per page */
	bool regs_valid;
	struct bochs_regs regs;
	/* igbvf */
	struct igbvf_state igbvf;
	u8 igbvf_raw[IGBVF_STATE_LEN];
	bool igbvf_valid;
	u32 nrec;
};

/* One staging image for all runs: the model checks bounds itself. */
static u8 *image;

static int stage_edu(struct model *m, u16 type, const u8 *p, u32 len)
{
	u8 again[EDU_STATE_LEN];
	struct edu_state s;
	int ret;

	if (type != LM_REC_STATE)
		return -LM_ECORRUPT;
	ret = edu_state_decode(p, len, &s);
	if (ret) {
		CHECK(ret == -LM_ECORRUPT);
		return ret;
	}
	CHECK(len == EDU_STATE_LEN);
	edu_state_encode(again, &s);
	CHECK(!memcmp(again, p, len));
	m->edu = s;
	m->edu_valid = true;
	return 0;
}

static int stage_igbvf(struct model *m, u16 type, const u8 *p, u32 len)
{
	struct igbvf_state s;
	int ret;

	if (type != LM_REC_STATE)
		return -LM_ECORRUPT;
	memset(&s, 0, sizeof(s));
	ret = igbvf_state_decode(p, len, &s);
	if (ret) {
		CHECK(ret == -LM_ECORRUPT);
		return ret;
	}
	CHECK(len == IGBVF_STATE_LEN);
	/* As the engine: the last STATE counts, its checks come at load. */
	m->igbvf = s;
	memcpy(m->igbvf_raw, p, len);
	m->igbvf_valid = true;
	return 0;
}

static void bochs_cover(struct model *m, const struct bochs_range *r,
			const u8 *data)
{
	u64 pg;

	CHECK(r->len && !(r->off % BOCHS_PAGE) && !(r->len % BOCHS_PAGE));
	CHECK(r->off < m->vram && r->len <= m->vram - r->off);
	if (data)
		memcpy(image + r->off, data, r->len);
	for (pg = r->off / BOCHS_PAGE; pg < (r->off + r->len) / BOCHS_PAGE; pg++)
		m->covered[pg] = 1;
}

static int stage_bochs(struct model *m, u16 type, const u8 *p, u32 len)
{
	u8 again[BOCHS_STATE_LEN > BOCHS_ZERO_LEN ? BOCHS_STATE_LEN :
		 BOCHS_ZERO_LEN];
	struct bochs_regs regs;
	struct bochs_range r;
	int ret;

	if (!m->vram)	/* no IDENTITY staged: a lone record */
		return -LM_ECORRUPT;
	switch (type) {
	case LM_REC_PAGES:
		ret = bochs_pages_decode(p, len, m->vram, &r);
		if (ret)
			break;
		CHECK(r.len == len - 8);
		bochs_pages_encode_hdr(again, r.off);
		CHECK(!memcmp(again, p, 8));
		bochs_cover(m, &r, p + 8);
		return 0;
	case LM_REC_ZERO:
		ret = bochs_zero_decode(p, len, m->vram, &r);
		if (ret)
			break;
		bochs_zero_encode(again, &r);
		CHECK(len == BOCHS_ZERO_LEN && !memcmp(again, p, len));
		bochs_cover(m, &r, NULL);
		return 0;
	case LM_REC_STATE:
		ret = bochs_regs_decode(p, len, &regs);
		if (ret)
			break;
		CHECK(len == BOCHS_STATE_LEN);
		CHECK(regs.byteorder == BOCHS_LITTLE_ENDIAN ||
		      regs.byteorder == BOCHS_BIG_ENDIAN);
		bochs_regs_encode(again, &regs);
		CHECK(!memcmp(again, p, len));
		m->regs = regs;
		m->regs_valid = true;
		return 0;
	default:
		return -LM_ECORRUPT;
	}
	CHECK(ret == -LM_ECORRUPT);
	return ret;
}

/*
 * The core's IDENTITY check and the engine's: an edu must be the rig's;
 * a bochs-display destination is taken to be a device like the source
 * (same blob), whose VRAM size the blob gives, within what the model
 * stages.
 */
static int check_identity(struct model *m, const u8 *p, u32 len)
{
	struct lm_identity id;
	u64 vram;
	int ret;

	ret = lm_decode_identity(p, len, &id);
	if (ret)
		return ret;
	if (m->engine == LMFZ_ENGINE_EDU) {
		if (id.vendor != LMFZ_EDU_VENDOR ||
		    id.device != LMFZ_EDU_DEVICE ||
		    id.engine_version != LMFZ_EDU_VERSION || id.blob_len != 4 ||
		    lm_get32(p + LM_IDENTITY_LEN) != LMFZ_EDU_ID_REG)
			return -LM_EINCOMPAT;
		return 0;
	}
	if (m->engine == LMFZ_ENGINE_IGBVF) {
		const u8 *b = p + LM_IDENTITY_LEN;

		if (id.vendor != IGBVF_VENDOR || id.device != IGBVF_DEVICE ||
		    id.engine_version != IGBVF_ENGINE_VERSION ||
		    id.blob_len != IGBVF_ID_LEN ||
		    lm_get32(b) != ((u32)IGBVF_VENDOR << 16 | IGBVF_PF_DEVICE) ||
		    lm_get32(b + 4) != ((u32)IGBVF_VENDOR << 16 | IGBVF_DEVICE) ||
		    lm_get32(b + 8) != IGBVF_QUEUES ||
		    lm_get32(b + 12) != IGBVF_VECTORS || lm_get32(b + 16))
			return -LM_EINCOMPAT;
		return 0;
	}
	if (id.vendor != BOCHS_VENDOR || id.device != BOCHS_DEVICE ||
	    id.engine_version != BOCHS_ENGINE_VERSION ||
	    id.blob_len != BOCHS_ID_LEN)
		return -LM_EINCOMPAT;
	vram = lm_get64(p + LM_IDENTITY_LEN);
	if (!vram || vram % BOCHS_PAGE || vram > MODEL_VRAM_MAX)
		return -LM_EINCOMPAT;
	m->vram = vram;
	free(m->covered);
	m->covered = calloc(vram / BOCHS_PAGE, 1);
	CHECK(m->covered);
	return 0;
}

static int stage(void *ctx, u16 type, const u8 *payload, u32 len)
{
	struct model *m = ctx;

	CHECK(len <= m->max_record);
	m->nrec++;
	if (type == LM_REC_IDENTITY)
		return check_identity(m, payload, len);
	if (m->engine == LMFZ_ENGINE_EDU)
		return stage_edu(m, type, payload, len);
	if (m->engine == LMFZ_ENGINE_IGBVF)
		return stage_igbvf(m, type, payload, len);
	return stage_bochs(m, type, payload, len);
}

/* What the engine's load checks before it touches the device. */
static int load(struct model *m)
{
	static u8 again[IGBVF_STATE_LEN];
	u64 pg;
	u32 f = 1;
	int k, i;

	if (m->engine == LMFZ_ENGINE_EDU) {
		if (!m->edu_valid)
			return -LM_ECORRUPT;
		k = edu_state_check(&m->edu);
		if (k < 0) {
			CHECK(k == -LM_ECORRUPT);
			return k;
		}
		/* The device recomputes k!: it must be the value saved. */
		CHECK(k <= EDU_FACT_MAX_K);
		for (i = 2; i <= k; i++)
			f *= i;
		CHECK(f == m->edu.fact);
		CHECK(!(m->edu.dma_cmd & EDU_DMA_RUN));
		return 0;
	}
	if (m->engine == LMFZ_ENGINE_IGBVF) {
		const struct igbvf_state *g = &m->igbvf;

		if (!m->igbvf_valid)
			return -LM_ECORRUPT;
		k = igbvf_state_check(g);
		if (k) {
			CHECK(k == -LM_ECORRUPT);
			return k;
		}
		/* What loads is what a save produces, byte for byte. */
		igbvf_state_encode(again, g);
		CHECK(!memcmp(again, m->igbvf_raw, IGBVF_STATE_LEN));
		/* What the engine's load relies on. */
		for (i = 0; i < IGBVF_QUEUES; i++) {
			CHECK(g->q[i].tdt == g->q[i].tdh ||
			      !(g->q[i].txdctl & IGBVF_QUEUE_ENABLE));
			CHECK(g->q[i].rdlen <= IGBVF_RING_MAX &&
			      g->q[i].tdlen <= IGBVF_RING_MAX);
		}
		CHECK(g->nvlan <= IGBVF_VLANS);
		CHECK(g->inflight.len <= IGBVF_MBX_WORDS &&
		      g->set_mc.len <= IGBVF_MBX_WORDS);
		CHECK(!(g->mbx_pending & ~IGBVF_MBX_R2C));
		return 0;
	}
	if (!m->vram || !m->regs_valid)
		return -LM_ECORRUPT;
	for (pg = 0; pg < m->vram / BOCHS_PAGE; pg++)
		if (!m->covered[pg])
			return -LM_ECORRUPT;
	return 0;
}

int lmfz_engine_run(int engine, const u8 *data, size_t len)
{
	struct model m = {
		.engine = engine,
		.max_record = engine == LMFZ_ENGINE_EDU ? LMFZ_EDU_MAX_RECORD :
			      engine == LMFZ_ENGINE_IGBVF ? IGBVF_MAX_RECORD :
							    BOCHS_REC_MAX,
	};
	static const u16 types[] = {
		LM_REC_IDENTITY, LM_REC_STATE, LM_REC_PAGES, LM_REC_ZERO,
	};
	struct lm_parser parser;
	u8 *payload, *copy;
	int ret;

	if (!image) {
		image = malloc(MODEL_VRAM_MAX);
		CHECK(image);
	}
	if (len < 4 || lm_get32(data) != LM_STREAM_MAGIC) {
		/* One record on its own, after a bochs IDENTITY of 1 MiB. */
		if (!len)
			return -LM_ECORRUPT;
		if (engine == LMFZ_ENGINE_BOCHS) {
			m.vram = 1 << 20;
			m.covered = calloc(m.vram / BOCHS_PAGE, 1);
			CHECK(m.covered);
		}
		ret = len - 1 > m.max_record ? -LM_ECORRUPT :
		      stage(&m, types[data[0] % 4], data + 1, len - 1);
		free(m.covered);
		return ret;
	}

	copy = malloc(len);
	payload = malloc(m.max_record);
	CHECK(copy && payload);
	memcpy(copy, data, len);
	lmfz_reseal(copy, len);
	lm_parser_init(&parser, engine == LMFZ_ENGINE_EDU ?
		       LMFZ_EDU_ENGINE_ID : engine == LMFZ_ENGINE_IGBVF ?
		       IGBVF_ENGINE_ID : BOCHS_ENGINE_ID,
		       payload, m.max_record);
	ret = lm_parser_feed(&parser, copy, len, stage, &m);
	if (!ret)
		ret = lm_parser_finish(&parser);
	if (!ret)
		ret = load(&m);
	free(m.covered);
	free(payload);
	free(copy);
	return ret;
}
