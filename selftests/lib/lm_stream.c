// SPDX-License-Identifier: GPL-2.0
/*
 * lm_stream.c - an independent reader/re-sealer of livemig streams.
 */
#include <errno.h>
#include <string.h>

#include "lm_stream.h"

static uint32_t rd16(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

uint32_t lm_stream_hdr_crc(const uint8_t *hdr)
{
	return kshim_crc32(~0U, hdr, 20) ^ ~0U;
}

uint32_t lm_stream_rec_crc(const uint8_t *rec_hdr, const uint8_t *payload,
			   uint32_t len)
{
	uint32_t crc = kshim_crc32(~0U, rec_hdr, 8);

	return kshim_crc32(crc, payload, len) ^ ~0U;
}

static int fail(struct lm_sview *v, int err, const char *why)
{
	if (!v->why)
		v->why = why;
	return err;
}

int lm_stream_view(const uint8_t *p, size_t len, struct lm_sview *v)
{
	size_t off = LM_HDR_LEN;
	int ret = 0, nid = 0;

	memset(v, 0, sizeof(*v));
	v->len = len;
	if (len < LM_HDR_LEN)
		return fail(v, -EBADMSG, "shorter than a header");
	v->magic = rd32(p);
	v->version = rd16(p + 4);
	v->hdr_len = rd16(p + 6);
	v->engine_id = rd32(p + 8);
	v->flags = rd32(p + 12);
	v->reserved = rd32(p + 16);
	v->hdr_crc = rd32(p + 20);
	v->hdr_crc_ok = lm_stream_hdr_crc(p) == v->hdr_crc;
	if (v->magic != LM_STREAM_MAGIC)
		ret = fail(v, -EPROTO, "bad magic");
	else if (!v->hdr_crc_ok)
		ret = fail(v, -EBADMSG, "bad header checksum");
	else if (v->version != LM_STREAM_VERSION || v->hdr_len != LM_HDR_LEN)
		ret = fail(v, -EPROTO, "bad version or header length");
	else if (v->flags || v->reserved)
		ret = fail(v, -EPROTO, "header flags/reserved not zero");

	while (off < len && v->nrec < LM_SVIEW_MAX_RECS) {
		struct lm_srec *r = &v->rec[v->nrec];

		if (v->end_off) {
			ret = ret ? ret : fail(v, -EBADMSG, "bytes after END");
			break;
		}
		if (len - off < LM_REC_HDR_LEN) {
			ret = ret ? ret : fail(v, -EBADMSG, "truncated record header");
			break;
		}
		r->off = off;
		r->type = rd16(p + off);
		r->rflags = rd16(p + off + 2);
		r->len = rd32(p + off + 4);
		r->crc = rd32(p + off + 8);
		if (r->len > len - off - LM_REC_HDR_LEN) {
			ret = ret ? ret : fail(v, -EBADMSG, "truncated record");
			break;
		}
		r->crc_ok = lm_stream_rec_crc(p + off,
					      p + off + LM_REC_HDR_LEN,
					      r->len) == r->crc;
		v->nrec++;
		off += LM_REC_HDR_LEN + r->len;

		if (!r->crc_ok)
			ret = ret ? ret : fail(v, -EBADMSG, "bad record checksum");
		if (r->rflags)
			ret = ret ? ret : fail(v, -EBADMSG, "record flags set");
		switch (r->type) {
		case LM_REC_IDENTITY:
			nid++;
			if (v->nrec != 1 || nid > 1)
				ret = ret ? ret : fail(v, -EBADMSG,
						       "IDENTITY not first/once");
			break;
		case LM_REC_STATE:
		case LM_REC_PAGES:
		case LM_REC_ZERO:
			if (v->nrec == 1)
				ret = ret ? ret : fail(v, -EBADMSG,
						       "first record not IDENTITY");
			break;
		case LM_REC_END:
			if (r->len)
				ret = ret ? ret : fail(v, -EBADMSG,
						       "END has a payload");
			v->end_off = off;
			break;
		default:
			ret = ret ? ret : fail(v, -EBADMSG, "unknown record type");
			break;
		}
	}
	if (!ret && !v->end_off)
		ret = fail(v, -EBADMSG, "no END record");
	return ret;
}

void lm_stream_reseal(uint8_t *p, size_t len)
{
	size_t off = LM_HDR_LEN;
	uint32_t rlen;

	if (len < LM_HDR_LEN)
		return;
	wr32(p + 20, lm_stream_hdr_crc(p));
	while (len - off >= LM_REC_HDR_LEN) {
		rlen = rd32(p + off + 4);
		if (rlen > len - off - LM_REC_HDR_LEN)
			break;
		wr32(p + off + 8, lm_stream_rec_crc(p + off,
						    p + off + LM_REC_HDR_LEN,
						    rlen));
		off += LM_REC_HDR_LEN + rlen;
	}
}

const struct lm_srec *lm_stream_find(const struct lm_sview *v, uint16_t type,
				     int nth)
{
	int i;

	for (i = 0; i < v->nrec; i++)
		if (v->rec[i].type == type && nth-- == 0)
			return &v->rec[i];
	return NULL;
}
