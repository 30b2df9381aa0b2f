// SPDX-License-Identifier: GPL-2.0
/*
 * harness.c - feed src/stream.c as the module's resuming data FD does
 * (src/migf.c: lm_parser_feed() per write with a staging callback, then
 * lm_parser_finish() on RESUMING -> STOP) and check what it does.
 *
 * The callback models the module's staging: the core's IDENTITY check
 * (lm_decode_identity(), then the edu device's IDs, engine version and
 * ID-register blob) and edu's STATE record shape (one 64-byte layout,
 * nothing else).  edu_stage()/edu_load() themselves are kernel code
 * (src/engines/edu.c) and are not compiled here; the in-rig stream tests
 * cover them on the real device.
 *
 * See harness.h for the input format and the invariants.
 */
#include <stdio.h>
#include <stdlib.h>

#include "edu_rec.h"
#include "harness.h"

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

struct lmfz_ctx {
	int cb;			/* LMFZ_CB_* */
	u32 fail_at;		/* 1-based record the callback fails, CB 2/3 */
	const u8 *buf;		/* the parser's payload buffer */
	u32 max;		/* its size */
	u32 n;			/* records seen */
	u32 nstate;
	bool identity_ok;
	u64 digest;
	u8 *enc;		/* the delivered records, re-encoded */
	size_t enc_len;
	size_t enc_cap;
};

static u64 fnv(u64 h, const void *p, size_t len)
{
	const u8 *b = p;

	if (!h)
		h = 0xcbf29ce484222325ULL;
	while (len--) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void enc_append(struct lmfz_ctx *c, const void *p, size_t len)
{
	if (c->enc_len + len > c->enc_cap) {
		size_t cap = 2 * (c->enc_len + len) + 64;

		c->enc = realloc(c->enc, cap);
		CHECK(c->enc);
		c->enc_cap = cap;
	}
	if (len)
		memcpy(c->enc + c->enc_len, p, len);
	c->enc_len += len;
}

/* The core's IDENTITY check (livemig_check_identity) against an edu. */
static int model_identity(const u8 *p, u32 len)
{
	u8 again[LM_IDENTITY_LEN];
	struct lm_identity id;
	int ret;

	ret = lm_decode_identity(p, len, &id);
	if (ret) {
		CHECK(ret == -LM_ECORRUPT);
		return ret;
	}
	/* What decode promises: the blob is exactly the rest ... */
	CHECK(id.reserved == 0);
	CHECK((u64)LM_IDENTITY_LEN + id.blob_len == len);
	/* ... and the encoder gives back the bytes it was decoded from. */
	lm_encode_identity(again, &id);
	CHECK(!memcmp(again, p, LM_IDENTITY_LEN));
	if (id.vendor != LMFZ_EDU_VENDOR || id.device != LMFZ_EDU_DEVICE ||
	    id.subsys_vendor != LMFZ_EDU_SUBVENDOR ||
	    id.subsys_device != LMFZ_EDU_SUBDEVICE ||
	    id.class_rev != LMFZ_EDU_CLASS_REV ||
	    id.engine_version != LMFZ_EDU_VERSION)
		return -LM_EINCOMPAT;
	if (id.blob_len != 4 || lm_get32(p + LM_IDENTITY_LEN) != LMFZ_EDU_ID_REG)
		return -LM_EINCOMPAT;
	return 0;
}

/* edu's engine stages a STATE record with its own decoder. */
static int model_state(struct lmfz_ctx *c, const u8 *p, u32 len)
{
	struct edu_state s;
	int ret;

	ret = edu_state_decode(p, len, &s);
	if (ret)
		return ret;
	c->digest = fnv(c->digest, &s, sizeof(s));
	c->nstate++;
	return 0;
}

static int record_cb(void *ctx, u16 type, const u8 *payload, u32 len)
{
	struct lmfz_ctx *c = ctx;
	u8 hdr[LM_REC_HDR_LEN], hdr24[LM_HDR_LEN];
	int ret = 0;

	/* The parser's side of the contract. */
	CHECK(type == LM_REC_IDENTITY || type == LM_REC_STATE ||
	      type == LM_REC_PAGES || type == LM_REC_ZERO);
	CHECK(len <= c->max);
	CHECK(payload == c->buf);
	CHECK((c->n == 0) == (type == LM_REC_IDENTITY));

	/* A record is only delivered after the header passed: re-encode it. */
	if (!c->n) {
		lm_encode_header(hdr24, LMFZ_EDU_ENGINE_ID);
		enc_append(c, hdr24, sizeof(hdr24));
	}
	c->n++;
	c->digest = fnv(c->digest, &type, sizeof(type));
	c->digest = fnv(c->digest, &len, sizeof(len));
	c->digest = fnv(c->digest, payload, len);
	lm_encode_rec_hdr(hdr, type, payload, len);
	enc_append(c, hdr, sizeof(hdr));
	enc_append(c, payload, len);

	if (c->n == c->fail_at) {
		if (c->cb == LMFZ_CB_POSITIVE)
			return 1;
		if (c->cb == LMFZ_CB_ENOMEM)
			return -ENOMEM;
	}
	if (c->cb == LMFZ_CB_ACCEPT)
		return 0;

	switch (type) {
	case LM_REC_IDENTITY:
		ret = model_identity(payload, len);
		c->identity_ok = !ret;
		break;
	case LM_REC_STATE:
		ret = model_state(c, payload, len);
		break;
	default:
		/* edu emits and stages STATE records only. */
		ret = -LM_ECORRUPT;
		break;
	}
	return ret;
}

static bool known_err(int err)
{
	return err == -LM_ECORRUPT || err == -LM_EINCOMPAT || err == -ENOMEM;
}

struct lmfz_cfg {
	int cb;
	u32 fail_at;
	u32 max;
	const u8 *seg;		/* write sizes - 1, used in turn */
	size_t nseg;
	bool bytewise;		/* one byte per write */
};

struct lmfz_out {
	struct lmfz_result r;
	u8 *enc;
	size_t enc_len;
	size_t fail_off;	/* bytes fed before the failing write */
};

static void feed_all(const struct lmfz_cfg *cfg, const u8 *s, size_t len,
		     bool segmented, struct lmfz_out *out)
{
	struct lmfz_ctx c = { .cb = cfg->cb, .fail_at = cfg->fail_at };
	struct lm_parser p;
	size_t off = 0, i = 0;
	u8 *pbuf;
	int ret = 0, again;

	/* Exactly max bytes, so ASan sees any write past the buffer. */
	pbuf = malloc(cfg->max ? cfg->max : 1);
	CHECK(pbuf);
	c.buf = pbuf;
	c.max = cfg->max;
	lm_parser_init(&p, LMFZ_EDU_ENGINE_ID, pbuf, cfg->max);

	while (off < len) {
		size_t n = len - off;
		u8 *chunk;

		if (segmented && cfg->bytewise)
			n = 1;
		else if (segmented && cfg->nseg) {
			size_t want = (size_t)cfg->seg[i++ % cfg->nseg] + 1;

			if (want < n)
				n = want;
		}
		/* Each write in its own exact-size buffer, like a bounce copy. */
		chunk = malloc(n);
		CHECK(chunk);
		memcpy(chunk, s + off, n);
		ret = lm_parser_feed(&p, chunk, n, record_cb, &c);
		free(chunk);
		CHECK(p.state <= LM_PARSE_FAILED);
		CHECK(p.nrecords >= c.n);
		if (ret) {
			CHECK(ret < 0 && known_err(ret));
			CHECK(p.state == LM_PARSE_FAILED && p.err == ret);
			break;
		}
		CHECK(p.state != LM_PARSE_FAILED);
		CHECK(p.state != LM_PARSE_HEADER || p.have < LM_HDR_LEN);
		CHECK(p.state != LM_PARSE_REC_HDR || p.have < LM_REC_HDR_LEN);
		CHECK(p.state != LM_PARSE_PAYLOAD ||
		      (p.rec_len <= cfg->max && p.have < p.rec_len));
		off += n;
	}
	out->fail_off = off;

	if (ret) {
		/* Failure is for good: later writes and finish repeat it. */
		again = lm_parser_feed(&p, s, len ? 1 : 0, record_cb, &c);
		CHECK(again == ret);
		CHECK(lm_parser_finish(&p) == ret);
	} else {
		ret = lm_parser_finish(&p);
		CHECK(ret == 0 || ret == -LM_ECORRUPT);
		CHECK((ret == 0) == (p.state == LM_PARSE_DONE));
		/* finish twice gives the same answer */
		CHECK(lm_parser_finish(&p) == ret);
	}

	out->r.ret = ret;
	out->r.complete = ret == 0;
	out->r.nrecords = c.n;
	out->r.nstate = c.nstate;
	out->r.identity_ok = c.identity_ok;
	out->r.digest = c.digest;
	if (out->r.complete) {
		u8 end[LM_REC_HDR_LEN];

		lm_encode_rec_hdr(end, LM_REC_END, NULL, 0);
		enc_append(&c, end, sizeof(end));
	}
	out->enc = c.enc;
	out->enc_len = c.enc_len;
	free(pbuf);
}

/* Recompute header and record checksums over the lengths as they are. */
void lmfz_reseal(u8 *s, size_t len)
{
	size_t off = LM_HDR_LEN;

	if (len < LM_HDR_LEN)
		return;
	lm_put32(s + 20, lm_crc32(~0U, s, 20) ^ ~0U);
	while (len - off >= LM_REC_HDR_LEN) {
		u32 rlen = lm_get32(s + off + 4);
		size_t avail = len - off - LM_REC_HDR_LEN;
		u32 crc;

		if (avail > rlen)
			avail = rlen;
		crc = lm_crc32(~0U, s + off, 8);
		crc = lm_crc32(crc, s + off + LM_REC_HDR_LEN, avail) ^ ~0U;
		lm_put32(s + off + 8, crc);
		if ((u64)rlen > len - off - LM_REC_HDR_LEN)
			break;
		off += LM_REC_HDR_LEN + rlen;
	}
}

static const u32 buf_sizes[4] = { LMFZ_EDU_MAX_RECORD, 0, 64, 4096 };

void lmfz_run(const u8 *data, size_t len, struct lmfz_result *res)
{
	struct lmfz_cfg cfg = { .max = LMFZ_EDU_MAX_RECORD };
	struct lmfz_out seg = { 0 }, whole = { 0 };
	const u8 *s = data;
	size_t slen = len;
	u8 *copy = NULL;
	int ctl = 0;

	if (len >= 4 && lm_get32(data) == LM_STREAM_MAGIC) {
		cfg.bytewise = true;
	} else if (len >= 2) {
		ctl = data[0];
		cfg.nseg = data[1] & 15;
		cfg.fail_at = (data[1] >> 4) + 1;
		if (len - 2 < cfg.nseg)
			cfg.nseg = len - 2;
		cfg.seg = data + 2;
		cfg.cb = ctl & LMFZ_CTL_CB_MASK;
		cfg.max = buf_sizes[(ctl >> LMFZ_CTL_BUF_SHIFT) & 3];
		s = data + 2 + cfg.nseg;
		slen = len - 2 - cfg.nseg;
	} else {
		s = data + len;
		slen = 0;
	}
	if (ctl & LMFZ_CTL_RESEAL) {
		copy = malloc(slen ? slen : 1);
		CHECK(copy);
		memcpy(copy, s, slen);
		lmfz_reseal(copy, slen);
		s = copy;
	}

	feed_all(&cfg, s, slen, true, &seg);
	feed_all(&cfg, s, slen, false, &whole);

	/* However the bytes were cut, the parser reaches the same verdict. */
	CHECK(seg.r.ret == whole.r.ret);
	CHECK(seg.r.complete == whole.r.complete);
	CHECK(seg.r.nrecords == whole.r.nrecords);
	CHECK(seg.r.nstate == whole.r.nstate);
	CHECK(seg.r.identity_ok == whole.r.identity_ok);
	CHECK(seg.r.digest == whole.r.digest);
	CHECK(seg.enc_len == whole.enc_len);
	CHECK(!seg.enc_len || !memcmp(seg.enc, whole.enc, seg.enc_len));

	/* A complete stream is the canonical encoding of its records. */
	if (seg.r.complete) {
		CHECK(seg.enc_len == slen);
		CHECK(!memcmp(seg.enc, s, slen));
		CHECK(seg.r.nrecords >= 1);
	}
	/* Whatever was delivered is, re-encoded, a prefix of what was fed. */
	CHECK(seg.enc_len <= slen);
	CHECK(!seg.enc_len || !memcmp(seg.enc, s, seg.enc_len));

	if (res)
		*res = seg.r;
	free(seg.enc);
	free(whole.enc);
	free(copy);
}
