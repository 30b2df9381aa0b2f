/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig migration stream: the on-the-wire format.
 *
 * This header and src/stream.c use no kernel type or helper beyond the
 * fixed-width integer names (u8, u16, u32, u64), errno values, memcpy() and
 * a CRC-32 primitive, so the same parser compiles into the module and into
 * userspace (fuzzer, stream decoder).  Userspace provides those names in
 * tools/kshim.h.  Documentation/stream-format.md is the specification.
 *
 * Layout, all integers little-endian:
 *
 *   stream  := header record* END
 *   header  := magic:u32 version:u16 hdr_len:u16 engine_id:u32
 *              flags:u32 reserved:u32 crc:u32                 (24 bytes)
 *   record  := type:u16 rflags:u16 len:u32 crc:u32 payload[len]
 *
 * A header's crc covers its first 20 bytes; a record's crc covers its
 * type, rflags and len fields followed by its payload.  Nothing may follow
 * the END record.
 */
#ifndef LIVEMIG_STREAM_H
#define LIVEMIG_STREAM_H

#ifdef __KERNEL__
#include <linux/crc32.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/types.h>
#endif

#define LM_STREAM_MAGIC		0x47494d4cU	/* "LMIG" in stream order */
#define LM_STREAM_VERSION	1
#define LM_HDR_LEN		24
#define LM_REC_HDR_LEN		12

/* Record types.  Anything else is rejected. */
enum lm_rec_type {
	LM_REC_IDENTITY	= 1,	/* struct lm_identity + engine compat blob */
	LM_REC_STATE	= 2,	/* engine register file, engine-defined */
	LM_REC_PAGES	= 3,	/* u64 offset, then whole pages of data */
	LM_REC_ZERO	= 4,	/* u64 offset, u64 length: zero-filled range */
	LM_REC_END	= 15,	/* empty: the stream is complete */
};

/* Fixed part of an IDENTITY payload; the engine's blob follows it. */
#define LM_IDENTITY_LEN		24
struct lm_identity {
	u16 vendor;
	u16 device;
	u16 subsys_vendor;
	u16 subsys_device;
	u32 class_rev;		/* class << 8 | revision */
	u32 engine_version;
	u32 blob_len;		/* bytes of engine blob that follow */
	u32 reserved;		/* zero */
};

/* Errors the parser reports (same values in the kernel and in libc). */
#define LM_EINCOMPAT	EPROTO	/* foreign or incompatible stream */
#define LM_ECORRUPT	EBADMSG	/* damaged, truncated or malformed */

static inline u32 lm_crc32(u32 crc, const void *p, size_t len)
{
#ifdef __KERNEL__
	return crc32_le(crc, p, len);
#else
	return kshim_crc32(crc, p, len);
#endif
}

static inline void lm_put16(u8 *p, u16 v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static inline void lm_put32(u8 *p, u32 v)
{
	lm_put16(p, v & 0xffff);
	lm_put16(p + 2, v >> 16);
}

static inline void lm_put64(u8 *p, u64 v)
{
	lm_put32(p, v & 0xffffffff);
	lm_put32(p + 4, v >> 32);
}

static inline u16 lm_get16(const u8 *p)
{
	return p[0] | (u16)p[1] << 8;
}

static inline u32 lm_get32(const u8 *p)
{
	return lm_get16(p) | (u32)lm_get16(p + 2) << 16;
}

static inline u64 lm_get64(const u8 *p)
{
	return lm_get32(p) | (u64)lm_get32(p + 4) << 32;
}

/* Encoding: each returns the number of bytes written at @dst. */
size_t lm_encode_header(u8 *dst, u32 engine_id);
size_t lm_encode_rec_hdr(u8 *dst, u16 type, const void *payload, u32 len);
void lm_encode_identity(u8 *dst, const struct lm_identity *id);
int lm_decode_identity(const u8 *src, u32 len, struct lm_identity *id);

/**
 * typedef lm_record_fn - receives one complete, checksummed record
 * @ctx: the caller's context
 * @type: record type (enum lm_rec_type, never END)
 * @payload: @len bytes, valid only during the call
 * @len: payload length
 *
 * Return: 0 to go on, or a negative errno that fails the stream.
 */
typedef int (*lm_record_fn)(void *ctx, u16 type, const u8 *payload, u32 len);

/* Parser states. */
enum lm_parse_state {
	LM_PARSE_HEADER,
	LM_PARSE_REC_HDR,
	LM_PARSE_PAYLOAD,
	LM_PARSE_DONE,
	LM_PARSE_FAILED,
};

/**
 * struct lm_parser - incremental stream parser
 * @state: enum lm_parse_state
 * @engine_id: the engine the stream must be for
 * @max_payload: largest payload accepted; the size of @payload
 * @have: bytes gathered of the piece being parsed
 * @err: the negative errno once the parser has failed
 * @nrecords: records delivered so far
 * @rec_type: type of the record being gathered
 * @rec_len: payload length of the record being gathered
 * @rec_crc: checksum the record claims
 * @hdr: bytes of the header or record header being gathered
 * @payload: caller-supplied buffer of @max_payload bytes
 *
 * Feed it bytes in any segmentation; it calls back once per record after
 * the record's checksum matched, and fails for good at the first error.
 */
struct lm_parser {
	u32 state;
	u32 engine_id;
	u32 max_payload;
	u32 have;
	int err;
	u32 nrecords;
	u16 rec_type;
	u32 rec_len;
	u32 rec_crc;
	u8 hdr[LM_HDR_LEN];
	u8 *payload;
};

void lm_parser_init(struct lm_parser *p, u32 engine_id, u8 *payload_buf,
		    u32 max_payload);
int lm_parser_feed(struct lm_parser *p, const u8 *data, size_t len,
		   lm_record_fn fn, void *ctx);
int lm_parser_finish(struct lm_parser *p);

#endif /* LIVEMIG_STREAM_H */
