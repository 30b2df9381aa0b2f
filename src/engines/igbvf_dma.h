/* SPDX-License-Identifier: GPL-2.0 */
/*
 * igbvf engine: what the VF may DMA into, for DMA logging (igbvf_dma.c).
 */
#ifndef LIVEMIG_IGBVF_DMA_H
#define LIVEMIG_IGBVF_DMA_H

#include "livemig/engine.h"
#include "igbvf_rec.h"

/**
 * struct igbvf_rxpost - the RX buffers posted to one queue, as logged
 * @addr: per ring slot, the packet buffer's and the header buffer's IOVA
 *	(0: none) the guest posted there; kept after the device consumed
 *	the slot until a report has covered the device's write
 * @base: the ring's IOVA when @addr was built
 * @nslots: ring slots, entries of @addr / 2 (0: not built)
 */
struct igbvf_rxpost {
	u64 *addr;
	u64 base;
	u32 nslots;
};

/**
 * struct igbvf_dmalog - the engine's side of DMA logging, under state_mutex
 * @rx: the posted RX buffers, per queue
 * @all: a descriptor could not be read: every report marks everything
 *	until logging starts again
 * @peeks: descriptors read from guest memory since logging started
 */
struct igbvf_dmalog {
	struct igbvf_rxpost rx[IGBVF_QUEUES];
	bool all;
	unsigned long peeks;
};

void igbvf_dma_start(struct livemig_device *ld, struct igbvf_dmalog *dl);
void igbvf_dma_sync(struct livemig_device *ld, struct igbvf_dmalog *dl);
void igbvf_dma_write(struct livemig_device *ld, struct igbvf_dmalog *dl,
		     u64 off, u32 val);
void igbvf_dma_free(struct igbvf_dmalog *dl);

#endif /* LIVEMIG_IGBVF_DMA_H */
