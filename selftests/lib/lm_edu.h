/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_edu.h - QEMU's "edu" device (hw/misc/edu.c) as the tests see it.
 */
#ifndef LM_EDU_H
#define LM_EDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lm_vfio.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_ID_VALUE		0x010000edU

#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04	/* reads back ~written */
#define EDU_REG_FACT		0x08	/* write k: computes k! */
#define EDU_REG_STATUS		0x20
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80	/* 64-bit */
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_CNT		0x90
#define EDU_REG_DMA_CMD		0x98

#define EDU_STATUS_COMPUTING	0x01
#define EDU_STATUS_IRQFACT	0x80

#define EDU_IRQ_FACT		0x001
#define EDU_IRQ_DMA		0x100

#define EDU_DMA_RUN		0x1
#define EDU_DMA_TO_RAM		0x2	/* direction: edu buffer -> RAM */
#define EDU_DMA_IRQ		0x4

#define EDU_DMA_BUF		0x40000	/* device-side buffer address */
#define EDU_DMA_BUF_SIZE	4096
#define EDU_DMA_MASK		((1ULL << 28) - 1)

/* Default IOVA window for test buffers: below the 28-bit DMA mask. */
#define EDU_TEST_IOVA		0x00100000ULL

struct edu_regs {
	uint32_t id;
	uint32_t liveness;
	uint32_t fact;
	uint32_t status;
	uint32_t irq_status;
	uint64_t dma_src;
	uint64_t dma_dst;
	uint64_t dma_cnt;
	uint64_t dma_cmd;
};

/* A register file to program: see edu_program() for the order. */
struct edu_prog {
	uint32_t liveness;	/* value to read back (written inverted) */
	uint32_t fact_k;	/* fact reads k! mod 2^32 afterwards */
	bool irqfact;
	uint32_t irq_status;	/* bits raised */
	/* If dma_cmd has EDU_DMA_RUN: one edu->RAM DMA into @dma first. */
	uint64_t dma_cmd;
	uint64_t dma_src;	/* final register values, written last */
	uint64_t dma_dst;
	uint64_t dma_cnt;
};

int edu_read_regs(struct lm_dev *d, struct edu_regs *r);
/* Describe differences into @buf; returns the number of registers that differ. */
int edu_regs_diff(const struct edu_regs *a, const struct edu_regs *b,
		  char *buf, size_t len);
void edu_regs_power_on(struct edu_regs *r);

uint32_t edu_fact_mod32(uint32_t k);
/* Bounded polls (@timeout_ms of wall time): 0, -ETIMEDOUT or an errno. */
int edu_wait_fact(struct lm_dev *d, int timeout_ms);
int edu_wait_dma(struct lm_dev *d, int timeout_ms);

/*
 * Program @p into a RUNNING device.  If p->dma_cmd has EDU_DMA_RUN an
 * edu->RAM DMA of p->... is first run with safe addresses into @dma (so
 * the command register ends up as the device itself leaves it: the run
 * bit clears on completion); @dma may be NULL otherwise.  The expected
 * register file is stored in *@expect.
 */
int edu_program(struct lm_dev *d, const struct edu_prog *p,
		const struct lm_dma *dma, struct edu_regs *expect);

/* Start a DMA with the given registers and doorbell; no wait. */
int edu_dma_start(struct lm_dev *d, uint64_t src, uint64_t dst, uint64_t cnt,
		  uint64_t cmd);

#endif /* LM_EDU_H */
