// SPDX-License-Identifier: GPL-2.0
/*
 * edu's STATE record, encoded, decoded and checked without the device.
 *
 * Pure C over include/livemig/stream.h: built into the module and, with
 * tools/kshim.h, into the fuzzer, which feeds edu_state_decode() and
 * edu_state_check() hostile payloads and checks that whatever they accept
 * encodes back to the same bytes.
 *
 * Payload (EDU_STATE_LEN bytes, little-endian): liveness, fact, status,
 * irq_status as u32, then dma_src, dma_dst, dma_cnt, dma_cmd, held_cmd
 * and a reserved zero as u64.
 */
#include "edu_rec.h"

/**
 * edu_state_encode() - the STATE payload of a snapshot
 * @p: EDU_STATE_LEN bytes
 * @s: the snapshot
 */
void edu_state_encode(u8 *p, const struct edu_state *s)
{
	lm_put32(p, s->liveness);
	lm_put32(p + 4, s->fact);
	lm_put32(p + 8, s->status);
	lm_put32(p + 12, s->irq_status);
	lm_put64(p + 16, s->dma_src);
	lm_put64(p + 24, s->dma_dst);
	lm_put64(p + 32, s->dma_cnt);
	lm_put64(p + 40, s->dma_cmd);
	lm_put64(p + 48, s->held_cmd);
	lm_put64(p + 56, 0);
}

/**
 * edu_state_decode() - read a STATE payload
 * @p: the payload
 * @len: its length
 * @s: the state it holds
 *
 * Structural checks only: a PRE_COPY snapshot may catch a transient state
 * (a factorial computing, DMA running) that edu_state_check() refuses at
 * load, when only the last STATE of the stream counts.
 *
 * Return: 0, or -LM_ECORRUPT for another length or a reserved field that
 * is not zero.
 */
int edu_state_decode(const u8 *p, u32 len, struct edu_state *s)
{
	if (len != EDU_STATE_LEN || lm_get64(p + 56))
		return -LM_ECORRUPT;
	s->liveness = lm_get32(p);
	s->fact = lm_get32(p + 4);
	s->status = lm_get32(p + 8);
	s->irq_status = lm_get32(p + 12);
	s->dma_src = lm_get64(p + 16);
	s->dma_dst = lm_get64(p + 24);
	s->dma_cnt = lm_get64(p + 32);
	s->dma_cmd = lm_get64(p + 40);
	s->held_cmd = lm_get64(p + 48);
	return 0;
}

/* The k with k! == @fact (mod 2^32), or -1 if the device cannot hold it. */
static int edu_fact_inverse(u32 fact)
{
	u32 f = 1;
	int k;

	for (k = 0; k <= EDU_FACT_MAX_K; k++) {
		if (k)
			f *= k;
		if (f == fact)
			return k;
	}
	return -1;
}

/**
 * edu_state_check() - can a stopped edu be put in this state?
 * @s: the state a stream staged
 *
 * The factorial register must hold some k! the device can compute again;
 * no status bit but IRQFACT (COMPUTING is over once the source stopped);
 * no DMA running; a held doorbell must be one (RUN set).
 *
 * Return: the k to write to the factorial register, or -LM_ECORRUPT.
 */
int edu_state_check(const struct edu_state *s)
{
	int k = edu_fact_inverse(s->fact);

	if (k < 0 || (s->status & ~EDU_STATUS_IRQFACT) ||
	    (s->dma_cmd & EDU_DMA_RUN) ||
	    (s->held_cmd && !(s->held_cmd & EDU_DMA_RUN)))
		return -LM_ECORRUPT;
	return k;
}
