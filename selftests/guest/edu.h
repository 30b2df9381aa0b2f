/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU's educational PCI device (1234:11e8), as seen through BAR0.
 * Below 0x80 only 4-byte accesses work; from 0x80 4 or 8 bytes.
 */
#ifndef GUEST_EDU_H
#define GUEST_EDU_H

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_BAR0_SIZE		(1u << 20)

#define EDU_ID			0x00	/* RO 0x010000ed */
#define  EDU_ID_VALUE		0x010000edu
#define EDU_LIVENESS		0x04	/* reads back ~written */
#define EDU_FACT		0x08	/* write n: computes n! (mod 2^32) */
#define EDU_STATUS		0x20
#define  EDU_STATUS_COMPUTING	0x01
#define  EDU_STATUS_IRQFACT	0x80	/* raise FACT_IRQ when done */
#define EDU_IRQ_STATUS		0x24
#define EDU_IRQ_RAISE		0x60
#define EDU_IRQ_ACK		0x64
#define  EDU_IRQ_FACT		0x00000001
#define  EDU_IRQ_DMA		0x00000100
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define  EDU_DMA_RUN		0x1
#define  EDU_DMA_TO_RAM		0x2	/* direction: edu buffer -> RAM */
#define  EDU_DMA_IRQ		0x4	/* raise EDU_IRQ_DMA when done */

/* The device's internal DMA buffer, only reachable by DMA. */
#define EDU_DMA_BUF		0x40000u
#define EDU_DMA_BUF_SIZE	4096u

#endif /* GUEST_EDU_H */
