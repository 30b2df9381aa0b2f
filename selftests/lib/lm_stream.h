/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_stream.h - an independent reader of the livemig stream format
 * (include/livemig/stream.h, Documentation/stream-format.rst), used to
 * check what the driver produces and to forge precisely damaged streams.
 *
 * It deliberately does not reuse src/stream.c: a conformance test that
 * shared the driver's parser would share its bugs.  Only the format
 * constants and the CRC primitive come from the shared header.
 */
#ifndef LM_STREAM_H
#define LM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../tools/kshim.h"
#include "livemig/stream.h"

#define LM_SVIEW_MAX_RECS	512

struct lm_srec {
	size_t off;		/* offset of the record header */
	uint16_t type;
	uint16_t rflags;
	uint32_t len;
	uint32_t crc;
	bool crc_ok;
};

struct lm_sview {
	size_t len;		/* bytes looked at */
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_len;
	uint32_t engine_id;
	uint32_t flags;
	uint32_t reserved;
	uint32_t hdr_crc;
	bool hdr_crc_ok;
	int nrec;
	struct lm_srec rec[LM_SVIEW_MAX_RECS];
	size_t end_off;		/* first byte after END, 0 if no END seen */
	const char *why;	/* first problem found, for messages */
};

/* CRC of a header's first 20 bytes / of a record (header + payload). */
uint32_t lm_stream_hdr_crc(const uint8_t *hdr);
uint32_t lm_stream_rec_crc(const uint8_t *rec_hdr, const uint8_t *payload,
			   uint32_t len);

/*
 * Walk a stream.  Returns 0 if it is a complete, well-formed stream
 * (valid header, every record checksummed, IDENTITY first and once, END
 * last and empty, nothing after END), else -EPROTO or -EBADMSG with
 * v->why set; v holds what could be parsed either way.
 */
int lm_stream_view(const uint8_t *p, size_t len, struct lm_sview *v);

/*
 * Recompute the header checksum and the checksum of every record that
 * fits in @len, walking the record length fields as they now are.  Used
 * after editing a field so that only the edit is wrong.
 */
void lm_stream_reseal(uint8_t *p, size_t len);

/* The @nth record of @type, or NULL. */
const struct lm_srec *lm_stream_find(const struct lm_sview *v, uint16_t type,
				     int nth);

#endif /* LM_STREAM_H */
