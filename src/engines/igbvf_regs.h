/* SPDX-License-Identifier: GPL-2.0 */
/*
 * igbvf engine: the VF's queue registers in BAR 0, which igbvf.c migrates
 * and igbvf_dma.c reads to learn where the VF may DMA.
 */
#ifndef LIVEMIG_IGBVF_REGS_H
#define LIVEMIG_IGBVF_REGS_H

#define IGBVF_BAR		0

/* Queue registers: RX at 0x2800, TX at 0x3800, 0x100 per queue. */
#define IGBVF_RXQ(n, r)		(0x2800 + 0x100 * (n) + (r))
#define IGBVF_TXQ(n, r)		(0x3800 + 0x100 * (n) + (r))
#define IGBVF_BAL		0x00
#define IGBVF_BAH		0x04
#define IGBVF_LEN		0x08
#define IGBVF_SRRCTL		0x0c
#define IGBVF_HEAD		0x10
#define IGBVF_DCA		0x14
#define IGBVF_TAIL		0x18
#define IGBVF_DCTL		0x28
#define IGBVF_WBAL		0x38
#define IGBVF_WBAH		0x3c

#endif /* LIVEMIG_IGBVF_REGS_H */
