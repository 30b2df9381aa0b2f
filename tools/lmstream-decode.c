// SPDX-License-Identifier: GPL-2.0
/*
 * lmstream-decode - print a saved livemig migration stream as a listing:
 * the header, every record (offset, type, flags, length, checksum), the
 * IDENTITY fields and, for edu streams, the STATE registers; then the
 * verdict of the module's own parser (src/stream.c) on the whole file.
 *
 *   lmstream-decode [-q] [FILE]      (no FILE or "-": standard input)
 *
 * -q prints only the verdict.  Exit status: 0 the parser accepts the
 * stream, 1 it rejects it, 2 usage or read error.
 *
 * The listing walks the bytes on its own, so it keeps going past a bad
 * checksum or a record the parser would refuse and shows where things
 * went wrong; the verdict line is the parser's.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "kshim.h"
#include "livemig/stream.h"

#define EDU_ENGINE_ID	0x00454455U
#define EDU_STATE_LEN	64

static const char *type_name(u16 t)
{
	switch (t) {
	case LM_REC_IDENTITY: return "IDENTITY";
	case LM_REC_STATE: return "STATE";
	case LM_REC_PAGES: return "PAGES";
	case LM_REC_ZERO: return "ZERO";
	case LM_REC_END: return "END";
	default: return "unknown";
	}
}

static void engine_name(u32 id, char out[8])
{
	int i, n = 0;

	for (i = 0; i < 4; i++) {
		u8 c = (id >> (8 * (3 - i))) & 0xff;

		if (c >= 0x20 && c < 0x7f)
			out[n++] = c;
	}
	out[n] = 0;
}

static u8 *slurp(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	u8 *buf = malloc(cap);

	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			u8 *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static void hexdump(const u8 *p, u32 len, u32 max)
{
	u32 i;

	for (i = 0; i < len && i < max; i++)
		printf("%s%02x", i % 16 ? " " : "\n        ", p[i]);
	if (len > max)
		printf("\n        ... %u more bytes", len - max);
	printf("\n");
}

static void show_identity(const u8 *p, u32 len)
{
	struct lm_identity id;
	int ret = lm_decode_identity(p, len, &id);

	if (len < LM_IDENTITY_LEN) {
		printf("      (too short for an IDENTITY: %u < %u)\n", len,
		       LM_IDENTITY_LEN);
		return;
	}
	id.blob_len = lm_get32(p + 16);
	id.reserved = lm_get32(p + 20);
	printf("      device %04x:%04x subsystem %04x:%04x class %06x rev %02x\n",
	       lm_get16(p), lm_get16(p + 2), lm_get16(p + 4), lm_get16(p + 6),
	       lm_get32(p + 8) >> 8, lm_get32(p + 8) & 0xff);
	printf("      engine version %u, blob %u bytes, reserved %#x%s\n",
	       lm_get32(p + 12), id.blob_len, id.reserved,
	       ret ? "  [decode: lengths or reserved field wrong]" : "");
	if (!ret && id.blob_len == 4)
		printf("      blob: 0x%08x\n", lm_get32(p + LM_IDENTITY_LEN));
	else if (!ret && id.blob_len) {
		printf("      blob:");
		hexdump(p + LM_IDENTITY_LEN, id.blob_len, 64);
	}
}

static void show_edu_state(const u8 *p, u32 len)
{
	if (len != EDU_STATE_LEN) {
		printf("      (edu STATE is %u bytes, this one %u)\n",
		       EDU_STATE_LEN, len);
		return;
	}
	printf("      liveness   0x%08x   factorial 0x%08x (%u)\n",
	       lm_get32(p), lm_get32(p + 4), lm_get32(p + 4));
	printf("      status     0x%08x   irq status 0x%08x\n",
	       lm_get32(p + 8), lm_get32(p + 12));
	printf("      dma src    0x%016llx  dst 0x%016llx\n",
	       (unsigned long long)lm_get64(p + 16),
	       (unsigned long long)lm_get64(p + 24));
	printf("      dma count  0x%016llx  cmd 0x%016llx\n",
	       (unsigned long long)lm_get64(p + 32),
	       (unsigned long long)lm_get64(p + 40));
	printf("      held cmd   0x%016llx  reserved %#llx\n",
	       (unsigned long long)lm_get64(p + 48),
	       (unsigned long long)lm_get64(p + 56));
}

static void listing(const u8 *s, size_t len)
{
	u32 engine, hcrc, want;
	size_t off;
	char name[8];
	int n = 0;

	if (len < LM_HDR_LEN) {
		printf("header: only %zu bytes, %u needed\n", len, LM_HDR_LEN);
		return;
	}
	engine = lm_get32(s + 8);
	engine_name(engine, name);
	hcrc = lm_get32(s + 20);
	want = lm_crc32(~0U, s, 20) ^ ~0U;
	printf("header: magic 0x%08x%s version %u hdr_len %u engine 0x%08x (%s)\n",
	       lm_get32(s), lm_get32(s) == LM_STREAM_MAGIC ? " (LMIG)" : " (bad)",
	       lm_get16(s + 4), lm_get16(s + 6), engine, name);
	printf("        flags %#x reserved %#x crc 0x%08x %s\n",
	       lm_get32(s + 12), lm_get32(s + 16), hcrc,
	       hcrc == want ? "ok" : "BAD");
	if (hcrc != want)
		printf("        (crc should be 0x%08x)\n", want);

	off = LM_HDR_LEN;
	while (off < len) {
		const u8 *h = s + off;
		u32 rlen, crc, avail;
		u16 type;

		if (len - off < LM_REC_HDR_LEN) {
			printf("@%-6zu %zu trailing bytes: not a record header\n",
			       off, len - off);
			return;
		}
		type = lm_get16(h);
		rlen = lm_get32(h + 4);
		crc = lm_get32(h + 8);
		avail = len - off - LM_REC_HDR_LEN < rlen ?
			len - off - LM_REC_HDR_LEN : rlen;
		want = lm_crc32(~0U, h, 8);
		want = lm_crc32(want, h + LM_REC_HDR_LEN, avail) ^ ~0U;
		printf("@%-6zu record %d: %s (%u) flags %#x len %u crc 0x%08x %s\n",
		       off, n++, type_name(type), type, lm_get16(h + 2), rlen,
		       crc, avail < rlen ? "TRUNCATED" :
		       crc == want ? "ok" : "BAD");
		if (avail == rlen) {
			const u8 *p = h + LM_REC_HDR_LEN;

			switch (type) {
			case LM_REC_IDENTITY:
				show_identity(p, rlen);
				break;
			case LM_REC_STATE:
				if (engine == EDU_ENGINE_ID)
					show_edu_state(p, rlen);
				else
					hexdump(p, rlen, 64);
				break;
			case LM_REC_PAGES:
				if (rlen >= 8)
					printf("      offset %#llx, %u data bytes\n",
					       (unsigned long long)lm_get64(p),
					       rlen - 8);
				break;
			case LM_REC_ZERO:
				if (rlen >= 16)
					printf("      offset %#llx, length %#llx\n",
					       (unsigned long long)lm_get64(p),
					       (unsigned long long)lm_get64(p + 8));
				break;
			default:
				break;
			}
		}
		if (avail < rlen)
			return;
		off += LM_REC_HDR_LEN + rlen;
		if (type == LM_REC_END && off < len)
			printf("@%-6zu %zu bytes after END\n", off, len - off);
		if (type == LM_REC_END)
			return;
	}
	printf("@%-6zu end of file without an END record\n", off);
}

struct count {
	u32 records;
};

static int count_record(void *ctx, u16 type, const u8 *payload, u32 len)
{
	struct count *c = ctx;

	(void)type;
	(void)payload;
	(void)len;
	c->records++;
	return 0;
}

/* The module's parser, accepting any record it delivers. */
static int verdict(const u8 *s, size_t len)
{
	struct lm_parser p;
	struct count c = { 0 };
	u32 max = 1U << 20;
	u8 *buf = malloc(max);
	size_t off = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	lm_parser_init(&p, len >= 12 ? lm_get32(s + 8) : 0, buf, max);
	/* Byte by byte, so the failing offset is exact. */
	while (off < len && !ret) {
		ret = lm_parser_feed(&p, s + off, 1, count_record, &c);
		if (!ret)
			off++;
	}
	if (!ret)
		ret = lm_parser_finish(&p);
	if (!ret)
		printf("parser: complete stream, %u records before END, %zu bytes\n",
		       c.records, len);
	else
		printf("parser: rejected at byte %zu of %zu: %s (%s)\n", off, len,
		       ret == -LM_EINCOMPAT ? "incompatible" :
		       ret == -LM_ECORRUPT ? "corrupt or truncated" : "error",
		       strerror(-ret));
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	const char *path = "-";
	bool quiet = false;
	size_t len;
	FILE *f;
	u8 *s;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-q"))
			quiet = true;
		else if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help"))
			goto usage;
		else if (path[0] == '-' && !path[1])
			path = argv[a];
		else
			goto usage;
	}
	f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		perror(path);
		return 2;
	}
	s = slurp(f, &len);
	if (f != stdin)
		fclose(f);
	if (!s) {
		fprintf(stderr, "lmstream-decode: cannot read %s\n", path);
		return 2;
	}
	if (!quiet)
		listing(s, len);
	a = verdict(s, len);
	free(s);
	return a ? 1 : 0;

usage:
	fprintf(stderr, "usage: lmstream-decode [-q] [FILE]\n");
	return 2;
}
