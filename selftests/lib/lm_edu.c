// SPDX-License-Identifier: GPL-2.0
/*
 * lm_edu.c - register-level helpers for QEMU's edu device.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lm_edu.h"

int edu_read_regs(struct lm_dev *d, struct edu_regs *r)
{
	int ret;

	memset(r, 0, sizeof(*r));
	ret = lm_bar_read32(d, 0, EDU_REG_ID, &r->id);
	ret = ret ?: lm_bar_read32(d, 0, EDU_REG_LIVENESS, &r->liveness);
	ret = ret ?: lm_bar_read32(d, 0, EDU_REG_FACT, &r->fact);
	ret = ret ?: lm_bar_read32(d, 0, EDU_REG_STATUS, &r->status);
	ret = ret ?: lm_bar_read32(d, 0, EDU_REG_IRQ_STATUS, &r->irq_status);
	ret = ret ?: lm_bar_read64(d, 0, EDU_REG_DMA_SRC, &r->dma_src);
	ret = ret ?: lm_bar_read64(d, 0, EDU_REG_DMA_DST, &r->dma_dst);
	ret = ret ?: lm_bar_read64(d, 0, EDU_REG_DMA_CNT, &r->dma_cnt);
	ret = ret ?: lm_bar_read64(d, 0, EDU_REG_DMA_CMD, &r->dma_cmd);
	return ret;
}

int edu_regs_diff(const struct edu_regs *a, const struct edu_regs *b,
		  char *buf, size_t len)
{
	int n = 0;
	size_t used = 0;

	if (len)
		buf[0] = '\0';
#define DIFF(f) do {							\
	if (a->f != b->f) {						\
		n++;							\
		if (used < len)						\
			used += snprintf(buf + used, len - used,	\
				" %s:%#llx!=%#llx", #f,			\
				(unsigned long long)a->f,		\
				(unsigned long long)b->f);		\
	}								\
} while (0)
	DIFF(id);
	DIFF(liveness);
	DIFF(fact);
	DIFF(status);
	DIFF(irq_status);
	DIFF(dma_src);
	DIFF(dma_dst);
	DIFF(dma_cnt);
	DIFF(dma_cmd);
#undef DIFF
	return n;
}

void edu_regs_power_on(struct edu_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->id = EDU_ID_VALUE;
}

uint32_t edu_fact_mod32(uint32_t k)
{
	uint32_t r = 1;

	/* 2^32 divides k! from k = 34 on */
	if (k >= 34)
		return 0;
	while (k > 1)
		r *= k--;
	return r;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int edu_wait_fact(struct lm_dev *d, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	uint32_t st;
	int ret;

	for (;;) {
		ret = lm_bar_read32(d, 0, EDU_REG_STATUS, &st);
		if (ret)
			return ret;
		if (!(st & EDU_STATUS_COMPUTING))
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

int edu_wait_dma(struct lm_dev *d, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	uint64_t cmd;
	int ret;

	for (;;) {
		ret = lm_bar_read64(d, 0, EDU_REG_DMA_CMD, &cmd);
		if (ret)
			return ret;
		if (!(cmd & EDU_DMA_RUN))
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

int edu_dma_start(struct lm_dev *d, uint64_t src, uint64_t dst, uint64_t cnt,
		  uint64_t cmd)
{
	int ret;

	ret = lm_bar_write64(d, 0, EDU_REG_DMA_SRC, src);
	ret = ret ?: lm_bar_write64(d, 0, EDU_REG_DMA_DST, dst);
	ret = ret ?: lm_bar_write64(d, 0, EDU_REG_DMA_CNT, cnt);
	ret = ret ?: lm_bar_write64(d, 0, EDU_REG_DMA_CMD, cmd);
	/* RAM->edu: the driver cannot save the device until it probes it. */
	if (!ret && (cmd & EDU_DMA_RUN) && !(cmd & EDU_DMA_TO_RAM))
		d->rebind_on_close = true;
	return ret;
}

int edu_program(struct lm_dev *d, const struct edu_prog *p,
		const struct lm_dma *dma, struct edu_regs *expect)
{
	int ret;

	ret = edu_wait_fact(d, 20000);
	ret = ret ?: edu_wait_dma(d, 20000);
	/* No IRQFACT while computing, or the result would raise an irq. */
	ret = ret ?: lm_bar_write32(d, 0, EDU_REG_STATUS, 0);
	ret = ret ?: lm_bar_write32(d, 0, EDU_REG_FACT, p->fact_k);
	ret = ret ?: edu_wait_fact(d, 20000);
	if (ret)
		return ret;

	if (p->dma_cmd & EDU_DMA_RUN) {
		uint64_t cnt = 64;

		if (!dma || !dma->vaddr || dma->size < cnt ||
		    !(p->dma_cmd & EDU_DMA_TO_RAM))
			return -EINVAL;
		ret = edu_dma_start(d, EDU_DMA_BUF, dma->iova, cnt, p->dma_cmd);
		ret = ret ?: edu_wait_dma(d, 20000);
		if (ret)
			return ret;
	}
	ret = lm_bar_write64(d, 0, EDU_REG_DMA_SRC, p->dma_src);
	ret = ret ?: lm_bar_write64(d, 0, EDU_REG_DMA_DST, p->dma_dst);
	ret = ret ?: lm_bar_write64(d, 0, EDU_REG_DMA_CNT, p->dma_cnt);
	/* irq status: exactly the requested bits */
	ret = ret ?: lm_bar_write32(d, 0, EDU_REG_IRQ_ACK, ~0U);
	if (!ret && p->irq_status)
		ret = lm_bar_write32(d, 0, EDU_REG_IRQ_RAISE, p->irq_status);
	ret = ret ?: lm_bar_write32(d, 0, EDU_REG_STATUS,
				    p->irqfact ? EDU_STATUS_IRQFACT : 0);
	ret = ret ?: lm_bar_write32(d, 0, EDU_REG_LIVENESS, ~p->liveness);
	if (ret)
		return ret;

	expect->id = EDU_ID_VALUE;
	expect->liveness = p->liveness;
	expect->fact = edu_fact_mod32(p->fact_k);
	expect->status = p->irqfact ? EDU_STATUS_IRQFACT : 0;
	expect->irq_status = p->irq_status;
	expect->dma_src = p->dma_src;
	expect->dma_dst = p->dma_dst;
	expect->dma_cnt = p->dma_cnt;
	if (p->dma_cmd & EDU_DMA_RUN)
		expect->dma_cmd = p->dma_cmd & ~(uint64_t)EDU_DMA_RUN;
	else
		ret = lm_bar_read64(d, 0, EDU_REG_DMA_CMD, &expect->dma_cmd);
	return ret;
}
