// SPDX-License-Identifier: GPL-2.0
/*
 * igbvf engine: DMA logging.  What an 82576 VF writes into guest memory:
 *  - RX: the packet buffer (and, in a header-split mode, the header
 *    buffer) named by each descriptor the guest posted, then the
 *    descriptor itself, written back in place;
 *  - TX: the descriptors, written back in place, and the head write-back
 *    word when TDWBAL enables it (transmit buffers are only read).
 * The rings are where the ring registers say; the engine marks them whole
 * at every report.  The buffers are only in the descriptors, and a
 * written-back RX descriptor no longer holds its buffer's address; so the
 * engine reads each descriptor as the guest posts it (the RX tail write
 * is trapped, BAR 0 being trapped whole), with livemig_dma_peek(), which
 * translates the way the VF's own DMA does, and keeps the addresses per
 * ring slot (struct igbvf_rxpost).
 *
 * The marking rules, which make every page the VF wrote after a report
 * part of a later one:
 *  - posting marks the buffer at once (the VF may fill it before the
 *    next report), and marks the buffer the slot held before if the
 *    slot's old entry is still kept;
 *  - every report marks each kept entry, then drops the entries of slots
 *    no longer posted (between RDH and RDT): their buffer was written, if
 *    at all, before this report's marking;
 *  - a change of ring base, length or buffer sizes marks what the old
 *    geometry named and drops the entries; a later post or report reads
 *    the descriptors still posted again;
 *  - logging start reads the descriptors posted before it.
 * A descriptor that cannot be read (not mapped to RAM, no memory for the
 * entries) makes every later report mark all the logged ranges: more than
 * the VF wrote, never less.
 *
 * Locking: everything here runs under state_mutex, with the VF's BAR 0
 * accessible (a trapped write, or inside livemig_hw_begin()).
 */
#include <linux/slab.h>

#include "igbvf_dma.h"
#include "igbvf_regs.h"

#define IGBVF_DESC		16
/* SRRCTL: buffer sizes and descriptor type. */
#define IGBVF_SRRCTL_BSIZEPKT(v)	(((v) & 0x7f) * 1024)
#define IGBVF_SRRCTL_DESCTYPE(v)	(((v) >> 25) & 7)
/* BSIZEPACKET 0 leaves the size to the PF's RCTL, at most 16 KiB. */
#define IGBVF_RX_MAXBUF		16384
/* Header buffers: BSIZEHEADER is in 64-byte units, at most 960 bytes. */
#define IGBVF_RX_MAXHDR		1024
/* TDWBAL: bit 0 enables the head write-back, a 4-byte word. */
#define IGBVF_WB_ENABLE		1

static u32 igbvf_dma_rd(struct livemig_device *ld, u32 off)
{
	u32 v = 0;

	/* Offsets inside BAR 0 cannot fail; a failed read reads as 0. */
	livemig_hw_read32(ld, IGBVF_BAR, off, &v);
	return v;
}

/* The RX or TX ring of queue @q: IOVA and bytes. */
static u64 igbvf_dma_ring(struct livemig_device *ld, bool tx, int q,
			  u32 *bytes)
{
	u32 lo, hi;

	if (tx) {
		lo = igbvf_dma_rd(ld, IGBVF_TXQ(q, IGBVF_BAL));
		hi = igbvf_dma_rd(ld, IGBVF_TXQ(q, IGBVF_BAH));
		*bytes = igbvf_dma_rd(ld, IGBVF_TXQ(q, IGBVF_LEN));
	} else {
		lo = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_BAL));
		hi = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_BAH));
		*bytes = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_LEN));
	}
	return (u64)hi << 32 | lo;
}

/* Mark a posted buffer pair: packet and, in a header-split mode, header. */
static void igbvf_dma_mark_slot(struct livemig_device *ld, const u64 *e,
				u32 srrctl)
{
	u32 pkt = IGBVF_SRRCTL_BSIZEPKT(srrctl);

	if (e[0])
		livemig_dirty_mark(ld, e[0], pkt ? pkt : IGBVF_RX_MAXBUF);
	if (e[1])
		livemig_dirty_mark(ld, e[1], IGBVF_RX_MAXHDR);
}

/* Mark every kept entry of @rp, then forget them all. */
static void igbvf_dma_drop(struct livemig_device *ld, struct igbvf_rxpost *rp,
			   u32 srrctl)
{
	u32 s;

	for (s = 0; s < rp->nslots; s++)
		igbvf_dma_mark_slot(ld, &rp->addr[2 * s], srrctl);
	kvfree(rp->addr);
	memset(rp, 0, sizeof(*rp));
}

/*
 * Read the descriptor in slot @s of RX queue @q as posted, keep its
 * buffers and mark them (and the buffers the slot held before).  False
 * when it could not be read.
 */
static bool igbvf_dma_take(struct livemig_device *ld, struct igbvf_dmalog *dl,
			   int q, u32 s, u32 srrctl)
{
	struct igbvf_rxpost *rp = &dl->rx[q];
	u64 *e = &rp->addr[2 * s];
	__le64 d[2];

	igbvf_dma_mark_slot(ld, e, srrctl);
	e[0] = 0;
	e[1] = 0;
	dl->peeks++;
	if (livemig_dma_peek(ld, rp->base + (u64)s * IGBVF_DESC, d, sizeof(d)))
		return false;
	e[0] = le64_to_cpu(d[0]);
	/* Descriptor types 2-5 split headers into the second address. */
	if (IGBVF_SRRCTL_DESCTYPE(srrctl) >= 2 &&
	    IGBVF_SRRCTL_DESCTYPE(srrctl) <= 5)
		e[1] = le64_to_cpu(d[1]) & ~1ULL;
	igbvf_dma_mark_slot(ld, e, srrctl);
	return true;
}

/* Take slots [@from, @to) of RX queue @q (ring order, wrapping). */
static bool igbvf_dma_take_span(struct livemig_device *ld,
				struct igbvf_dmalog *dl, int q, u32 from,
				u32 to, u32 srrctl)
{
	u32 n = dl->rx[q].nslots, s;

	from %= n;
	to %= n;
	for (s = from; s != to; s = (s + 1) % n)
		if (!igbvf_dma_take(ld, dl, q, s, srrctl))
			return false;
	return true;
}

/*
 * Make RX queue @q's entries follow the ring the registers describe now:
 * if they were built for another ring (or not at all), mark and drop them
 * and read the descriptors posted between RDH and RDT.  False when that
 * failed.
 */
static bool igbvf_dma_build(struct livemig_device *ld, struct igbvf_dmalog *dl,
			    int q)
{
	struct igbvf_rxpost *rp = &dl->rx[q];
	u32 srrctl = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_SRRCTL));
	u32 bytes, n;
	u64 base = igbvf_dma_ring(ld, false, q, &bytes);

	n = bytes / IGBVF_DESC;
	if (rp->addr && rp->base == base && rp->nslots == n)
		return true;
	igbvf_dma_drop(ld, rp, srrctl);
	if (!n)
		return true;
	rp->addr = kvcalloc(2 * (size_t)n, sizeof(u64), GFP_KERNEL);
	if (!rp->addr)
		return false;
	rp->base = base;
	rp->nslots = n;
	return igbvf_dma_take_span(ld, dl, q,
				   igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_HEAD)),
				   igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_TAIL)),
				   srrctl);
}

/* Mark what the rings and write-back word of queue @q name now. */
static void igbvf_dma_mark_rings(struct livemig_device *ld, int q)
{
	u32 bytes, lo, hi;
	u64 base;

	base = igbvf_dma_ring(ld, false, q, &bytes);
	livemig_dirty_mark(ld, base, bytes);
	base = igbvf_dma_ring(ld, true, q, &bytes);
	livemig_dirty_mark(ld, base, bytes);
	lo = igbvf_dma_rd(ld, IGBVF_TXQ(q, IGBVF_WBAL));
	hi = igbvf_dma_rd(ld, IGBVF_TXQ(q, IGBVF_WBAH));
	if (lo & IGBVF_WB_ENABLE)
		livemig_dirty_mark(ld, (u64)hi << 32 | (lo & ~3U), 4);
}

/* From now on every report marks everything. */
static void igbvf_dma_give_up(struct livemig_device *ld,
			      struct igbvf_dmalog *dl)
{
	dl->all = true;
	livemig_dirty_mark(ld, 0, U64_MAX);
}

/**
 * igbvf_dma_free() - forget the posted buffers
 * @dl: the engine's DMA log state, state_mutex held (or the device closed)
 */
void igbvf_dma_free(struct igbvf_dmalog *dl)
{
	int q;

	for (q = 0; q < IGBVF_QUEUES; q++)
		kvfree(dl->rx[q].addr);
	memset(dl, 0, sizeof(*dl));
}

/**
 * igbvf_dma_start() - DMA logging started: read what is posted
 * @ld: the device, inside livemig_hw_begin()
 * @dl: the engine's DMA log state
 */
void igbvf_dma_start(struct livemig_device *ld, struct igbvf_dmalog *dl)
{
	int q;

	igbvf_dma_free(dl);
	for (q = 0; q < IGBVF_QUEUES; q++) {
		if (!igbvf_dma_build(ld, dl, q)) {
			igbvf_dma_give_up(ld, dl);
			return;
		}
		igbvf_dma_mark_rings(ld, q);
	}
}

/**
 * igbvf_dma_sync() - a report is about to be made: mark what the VF may
 *	have written since the last one
 * @ld: the device, inside livemig_hw_begin()
 * @dl: the engine's DMA log state
 */
void igbvf_dma_sync(struct livemig_device *ld, struct igbvf_dmalog *dl)
{
	u32 s, head, posted, srrctl;
	struct igbvf_rxpost *rp;
	int q;

	if (dl->all) {
		livemig_dirty_mark(ld, 0, U64_MAX);
		return;
	}
	for (q = 0; q < IGBVF_QUEUES; q++) {
		igbvf_dma_mark_rings(ld, q);
		if (!igbvf_dma_build(ld, dl, q)) {
			igbvf_dma_give_up(ld, dl);
			return;
		}
		rp = &dl->rx[q];
		if (!rp->nslots)
			continue;
		srrctl = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_SRRCTL));
		head = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_HEAD)) % rp->nslots;
		posted = (igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_TAIL)) +
			  rp->nslots - head) % rp->nslots;
		for (s = 0; s < rp->nslots; s++) {
			u64 *e = &rp->addr[2 * s];

			igbvf_dma_mark_slot(ld, e, srrctl);
			/* Consumed: the VF will not write it again. */
			if ((s + rp->nslots - head) % rp->nslots >= posted) {
				e[0] = 0;
				e[1] = 0;
			}
		}
	}
}

/**
 * igbvf_dma_write() - the guest writes a queue register: follow it
 * @ld: the device, in a trapped write, before the write reaches the VF
 * @dl: the engine's DMA log state
 * @off: the register's offset in BAR 0
 * @val: what the guest writes
 *
 * An RX tail write posts the slots from the old tail to @val: their
 * buffers are read and marked before the VF can see them.  A write to an
 * RX ring's base, length or buffer sizes marks and drops what the old
 * values named; one to a TX ring's base, length or write-back address
 * marks what the old ones named.  Does nothing while logging is off.
 */
void igbvf_dma_write(struct livemig_device *ld, struct igbvf_dmalog *dl,
		     u64 off, u32 val)
{
	u32 r, srrctl, tail;
	bool tx;
	int q;

	if (!livemig_dirty_logging(ld) || dl->all)
		return;
	if (off >= IGBVF_RXQ(0, 0) && off < IGBVF_RXQ(IGBVF_QUEUES, 0)) {
		tx = false;
		off -= IGBVF_RXQ(0, 0);
	} else if (off >= IGBVF_TXQ(0, 0) &&
		   off < IGBVF_TXQ(IGBVF_QUEUES, 0)) {
		tx = true;
		off -= IGBVF_TXQ(0, 0);
	} else {
		return;
	}
	q = off / 0x100;
	r = off % 0x100;
	switch (r) {
	case IGBVF_TAIL:
		if (tx)
			return;
		if (!igbvf_dma_build(ld, dl, q))
			goto fail;
		if (!dl->rx[q].nslots)
			return;
		srrctl = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_SRRCTL));
		tail = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_TAIL));
		if (!igbvf_dma_take_span(ld, dl, q, tail, val, srrctl))
			goto fail;
		return;
	case IGBVF_BAL:
	case IGBVF_BAH:
	case IGBVF_LEN:
	case IGBVF_SRRCTL:
	case IGBVF_WBAL:
	case IGBVF_WBAH:
		igbvf_dma_mark_rings(ld, q);
		srrctl = igbvf_dma_rd(ld, IGBVF_RXQ(q, IGBVF_SRRCTL));
		if (!tx)
			igbvf_dma_drop(ld, &dl->rx[q], srrctl);
		return;
	default:
		return;
	}
fail:
	igbvf_dma_give_up(ld, dl);
}
