// SPDX-License-Identifier: GPL-2.0
/*
 * livemig stream encoder and incremental parser.
 *
 * Pure C: built into the module and, with tools/kshim.h, into userspace
 * tools and the fuzzer.  It trusts nothing it is fed.
 */
#include "livemig/stream.h"

/**
 * lm_encode_header() - write a stream header
 * @dst: LM_HDR_LEN bytes
 * @engine_id: the engine that produced the stream
 *
 * Return: LM_HDR_LEN.
 */
size_t lm_encode_header(u8 *dst, u32 engine_id)
{
	lm_put32(dst, LM_STREAM_MAGIC);
	lm_put16(dst + 4, LM_STREAM_VERSION);
	lm_put16(dst + 6, LM_HDR_LEN);
	lm_put32(dst + 8, engine_id);
	lm_put32(dst + 12, 0);
	lm_put32(dst + 16, 0);
	lm_put32(dst + 20, lm_crc32(~0U, dst, 20) ^ ~0U);
	return LM_HDR_LEN;
}

static u32 lm_rec_crc(const u8 *hdr8, const void *payload, u32 len)
{
	u32 crc = lm_crc32(~0U, hdr8, 8);

	return lm_crc32(crc, payload, len) ^ ~0U;
}

/**
 * lm_encode_rec_hdr() - write a record header for a payload
 * @dst: LM_REC_HDR_LEN bytes
 * @type: record type
 * @payload: the payload the checksum covers (may sit right after @dst)
 * @len: payload length
 *
 * Return: LM_REC_HDR_LEN.
 */
size_t lm_encode_rec_hdr(u8 *dst, u16 type, const void *payload, u32 len)
{
	lm_put16(dst, type);
	lm_put16(dst + 2, 0);
	lm_put32(dst + 4, len);
	lm_put32(dst + 8, lm_rec_crc(dst, payload, len));
	return LM_REC_HDR_LEN;
}

/**
 * lm_encode_identity() - write the fixed part of an IDENTITY payload
 * @dst: LM_IDENTITY_LEN bytes
 * @id: the identity
 */
void lm_encode_identity(u8 *dst, const struct lm_identity *id)
{
	lm_put16(dst, id->vendor);
	lm_put16(dst + 2, id->device);
	lm_put16(dst + 4, id->subsys_vendor);
	lm_put16(dst + 6, id->subsys_device);
	lm_put32(dst + 8, id->class_rev);
	lm_put32(dst + 12, id->engine_version);
	lm_put32(dst + 16, id->blob_len);
	lm_put32(dst + 20, 0);
}

/**
 * lm_decode_identity() - read and check the fixed part of an IDENTITY
 * @src: the payload
 * @len: payload length
 * @id: filled in
 *
 * Return: 0, or -LM_ECORRUPT if the lengths do not add up.
 */
int lm_decode_identity(const u8 *src, u32 len, struct lm_identity *id)
{
	if (len < LM_IDENTITY_LEN)
		return -LM_ECORRUPT;
	id->vendor = lm_get16(src);
	id->device = lm_get16(src + 2);
	id->subsys_vendor = lm_get16(src + 4);
	id->subsys_device = lm_get16(src + 6);
	id->class_rev = lm_get32(src + 8);
	id->engine_version = lm_get32(src + 12);
	id->blob_len = lm_get32(src + 16);
	id->reserved = lm_get32(src + 20);
	if (id->reserved || id->blob_len != len - LM_IDENTITY_LEN)
		return -LM_ECORRUPT;
	return 0;
}

/**
 * lm_parser_init() - start parsing a stream
 * @p: the parser
 * @engine_id: engine the stream must name
 * @payload_buf: buffer for one record's payload
 * @max_payload: its size; longer records are rejected
 */
void lm_parser_init(struct lm_parser *p, u32 engine_id, u8 *payload_buf,
		    u32 max_payload)
{
	memset(p, 0, sizeof(*p));
	p->state = LM_PARSE_HEADER;
	p->engine_id = engine_id;
	p->payload = payload_buf;
	p->max_payload = max_payload;
}

static int lm_parser_fail(struct lm_parser *p, int err)
{
	p->state = LM_PARSE_FAILED;
	p->err = err;
	return err;
}

static int lm_check_header(struct lm_parser *p)
{
	const u8 *h = p->hdr;

	if (lm_get32(h) != LM_STREAM_MAGIC)
		return -LM_EINCOMPAT;
	if ((lm_crc32(~0U, h, 20) ^ ~0U) != lm_get32(h + 20))
		return -LM_ECORRUPT;
	if (lm_get16(h + 4) != LM_STREAM_VERSION ||
	    lm_get16(h + 6) != LM_HDR_LEN ||
	    lm_get32(h + 8) != p->engine_id)
		return -LM_EINCOMPAT;
	if (lm_get32(h + 12) || lm_get32(h + 16))
		return -LM_EINCOMPAT;
	return 0;
}

static int lm_check_rec_hdr(struct lm_parser *p)
{
	const u8 *h = p->hdr;

	p->rec_type = lm_get16(h);
	p->rec_len = lm_get32(h + 4);
	p->rec_crc = lm_get32(h + 8);
	if (lm_get16(h + 2))
		return -LM_ECORRUPT;
	switch (p->rec_type) {
	case LM_REC_IDENTITY:
	case LM_REC_STATE:
	case LM_REC_PAGES:
	case LM_REC_ZERO:
		break;
	case LM_REC_END:
		if (p->rec_len)
			return -LM_ECORRUPT;
		break;
	default:
		return -LM_ECORRUPT;
	}
	if (p->rec_len > p->max_payload)
		return -LM_ECORRUPT;
	/* The identity must come first, and only once. */
	if (!p->nrecords && p->rec_type != LM_REC_IDENTITY)
		return -LM_ECORRUPT;
	if (p->nrecords && p->rec_type == LM_REC_IDENTITY)
		return -LM_ECORRUPT;
	return 0;
}

/* Gather up to @want bytes into @dst; returns bytes taken from @data. */
static size_t lm_gather(struct lm_parser *p, u8 *dst, u32 want,
			const u8 *data, size_t len)
{
	size_t n = want - p->have;

	if (n > len)
		n = len;
	memcpy(dst + p->have, data, n);
	p->have += n;
	return n;
}

static int lm_deliver(struct lm_parser *p, lm_record_fn fn, void *ctx)
{
	int ret;

	if (lm_rec_crc(p->hdr, p->payload, p->rec_len) != p->rec_crc)
		return -LM_ECORRUPT;
	p->have = 0;
	p->nrecords++;
	if (p->rec_type == LM_REC_END) {
		p->state = LM_PARSE_DONE;
		return 0;
	}
	p->state = LM_PARSE_REC_HDR;
	ret = fn(ctx, p->rec_type, p->payload, p->rec_len);
	return ret > 0 ? -LM_ECORRUPT : ret;
}

/**
 * lm_parser_feed() - parse the next bytes of a stream
 * @p: the parser
 * @data: bytes
 * @len: how many
 * @fn: called for each complete record but END
 * @ctx: passed to @fn
 *
 * Return: 0 when all of @data was consumed, or the negative errno that
 * failed the stream (also returned by every later call).
 */
int lm_parser_feed(struct lm_parser *p, const u8 *data, size_t len,
		   lm_record_fn fn, void *ctx)
{
	size_t n;
	int ret;

	if (p->state == LM_PARSE_FAILED)
		return p->err;
	while (len) {
		switch (p->state) {
		case LM_PARSE_HEADER:
			n = lm_gather(p, p->hdr, LM_HDR_LEN, data, len);
			if (p->have == LM_HDR_LEN) {
				ret = lm_check_header(p);
				if (ret)
					return lm_parser_fail(p, ret);
				p->have = 0;
				p->state = LM_PARSE_REC_HDR;
			}
			break;
		case LM_PARSE_REC_HDR:
			n = lm_gather(p, p->hdr, LM_REC_HDR_LEN, data, len);
			if (p->have < LM_REC_HDR_LEN)
				break;
			ret = lm_check_rec_hdr(p);
			if (ret)
				return lm_parser_fail(p, ret);
			p->have = 0;
			p->state = LM_PARSE_PAYLOAD;
			if (!p->rec_len) {
				ret = lm_deliver(p, fn, ctx);
				if (ret)
					return lm_parser_fail(p, ret);
			}
			break;
		case LM_PARSE_PAYLOAD:
			n = lm_gather(p, p->payload, p->rec_len, data, len);
			if (p->have == p->rec_len) {
				ret = lm_deliver(p, fn, ctx);
				if (ret)
					return lm_parser_fail(p, ret);
			}
			break;
		default:
			/* Anything after END is trailing garbage. */
			return lm_parser_fail(p, -LM_ECORRUPT);
		}
		data += n;
		len -= n;
	}
	return 0;
}

/**
 * lm_parser_finish() - the writer says the stream is over
 * @p: the parser
 *
 * Return: 0 if a complete stream (up to END) was seen, else the errno.
 */
int lm_parser_finish(struct lm_parser *p)
{
	if (p->state == LM_PARSE_DONE)
		return 0;
	if (p->state == LM_PARSE_FAILED)
		return p->err;
	return lm_parser_fail(p, -LM_ECORRUPT);
}
