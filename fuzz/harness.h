/* SPDX-License-Identifier: GPL-2.0 */
/*
 * harness.h - drive src/stream.c the way the module's resuming data FD
 * does, for the libFuzzer target and for the replay suite.
 *
 * An input is either a raw stream (it starts with the stream magic, as
 * every file in fuzz/seeds/ does) or a control prefix followed by a
 * stream:
 *
 *   ctl:u8 nseg:u8 seg[nseg & 15]:u8 stream...
 *
 *   ctl bits 0-1  callback: 0 the module's staging model, 1 accept
 *                 everything, 2 return a positive value at record
 *                 seg-derived k, 3 return -ENOMEM at record k
 *   ctl bits 2-3  payload buffer: 0 1024 bytes (edu's max_record),
 *                 1 0 bytes, 2 64 bytes, 3 4096 bytes
 *   ctl bit 4     reseal: recompute the header and record checksums
 *                 first, so mutations get past the CRC checks
 *   seg[i]        write sizes, used in turn: seg[i] + 1 bytes each;
 *                 none means one write of everything
 *
 * A raw stream runs with ctl 0 and is also fed byte by byte.
 *
 * Every input is fed twice, segmented and whole; both runs must agree on
 * the result, the records delivered and where they failed.  A stream
 * that parses completely must re-encode, with the real encoder, to the
 * very bytes that were fed.  A broken invariant abort()s.
 */
#ifndef LMFZ_HARNESS_H
#define LMFZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kshim.h"
#include "livemig/stream.h"

/* What the module's edu engine is and what its devices report. */
#define LMFZ_EDU_ENGINE_ID	0x00454455U
#define LMFZ_EDU_VERSION	1
#define LMFZ_EDU_MAX_RECORD	1024
#define LMFZ_EDU_VENDOR		0x1234
#define LMFZ_EDU_DEVICE		0x11e8
#define LMFZ_EDU_SUBVENDOR	0x1af4
#define LMFZ_EDU_SUBDEVICE	0x1100
#define LMFZ_EDU_CLASS_REV	0x00ff0010U
#define LMFZ_EDU_ID_REG		0x010000edU
#define LMFZ_EDU_STATE_LEN	64

#define LMFZ_CTL_CB_MASK	0x03
#define LMFZ_CB_MODEL		0
#define LMFZ_CB_ACCEPT		1
#define LMFZ_CB_POSITIVE	2
#define LMFZ_CB_ENOMEM		3
#define LMFZ_CTL_BUF_SHIFT	2
#define LMFZ_CTL_RESEAL		0x10

struct lmfz_result {
	int ret;		/* first error of feed, else of finish */
	bool complete;		/* parsed up to END, finish returned 0 */
	u32 nrecords;		/* records delivered to the callback */
	u32 nstate;		/* STATE records the model accepted */
	bool identity_ok;	/* the model accepted an IDENTITY */
	u64 digest;		/* over every delivered record */
};

/*
 * Run one input; abort() on a broken invariant.  @res (may be NULL)
 * receives the outcome of the segmented run.
 */
void lmfz_run(const u8 *data, size_t len, struct lmfz_result *res);

/* Recompute a stream's header and record checksums, lengths as they are. */
void lmfz_reseal(u8 *s, size_t len);

#endif /* LMFZ_HARNESS_H */
