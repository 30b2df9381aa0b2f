/* SPDX-License-Identifier: GPL-2.0 */
/*
 * edu's records (edu_rec.c): the STATE record's layout and the checks a
 * resuming stream's STATE must pass, without the device.  Included by
 * edu.c and by the userspace fuzzer (fuzz/edu_fuzz.c, through
 * tools/kshim.h), so it uses nothing but include/livemig/stream.h.
 */
#ifndef LIVEMIG_EDU_REC_H
#define LIVEMIG_EDU_REC_H

#include "livemig/stream.h"

#define EDU_STATE_LEN		64
#define EDU_FACT_MAX_K		34	/* 34! is 0 mod 2^32: larger k alias */

#define EDU_STATUS_COMPUTING	0x01
#define EDU_STATUS_IRQFACT	0x80
#define EDU_DMA_RUN		0x1
#define EDU_DMA_TO_RAM		0x2

/* The device state that travels, in wire order (see edu_state_encode()). */
struct edu_state {
	u32 liveness;
	u32 fact;
	u32 status;
	u32 irq_status;
	u64 dma_src;
	u64 dma_dst;
	u64 dma_cnt;
	u64 dma_cmd;		/* as the user reads it when nothing is held */
	u64 held_cmd;		/* a doorbell held in P2P, 0 if none */
};

void edu_state_encode(u8 *p, const struct edu_state *s);
int edu_state_decode(const u8 *p, u32 len, struct edu_state *s);
int edu_state_check(const struct edu_state *s);

#endif /* LIVEMIG_EDU_REC_H */
