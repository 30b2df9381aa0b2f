// SPDX-License-Identifier: GPL-2.0
/*
 * livemig engine for QEMU's "edu" educational device (1234:11e8).
 *
 * edu has no save/restore interface, so this engine is built from the
 * register semantics (QEMU hw/misc/edu.c) alone:
 *
 *  0x04 liveness   a write stores ~val: restored by writing ~value
 *  0x08 factorial  a write of n starts n! (mod 2^32) on a thread; the
 *                  value cannot be stored directly, but every value the
 *                  device can hold is k! mod 2^32 for some k <= 34 (34!
 *                  has 32 factors of two), so writing that k restores it
 *  0x20 status     bit 0 computing (read-only), bit 7 IRQ on factorial
 *  0x24 irq status raised through 0x60, acked through 0x64
 *  0x80..0x98      DMA source, destination, count, command (64-bit); the
 *                  command cannot be written without starting a DMA, so a
 *                  restored command value the device does not already
 *                  show is served from a shadow until the next doorbell
 *
 * BAR0 is trapped: the core routes every user access through
 * edu_bar_read()/edu_bar_write(), which lets the engine hold DMA doorbells
 * in the P2P states and refuse writes while the device is stopped.
 *
 * DMA dirty tracking: every edu->RAM doorbell passes through
 * edu_bar_write() (or is held and replayed by the engine), so the engine
 * knows each page the device will write: [dst & mask, + count), where mask
 * is the device's DMA mask (QEMU property dma_mask, 28 bits by default;
 * the edu_dma_bits module parameter must match it).  Pages are marked when
 * the doorbell rings and marked again at every report while the DMA may
 * still be running, so a write that lands after a report is reported
 * again.  RAM->edu DMA writes no guest memory and marks nothing.
 *
 * Limit: the 4 KiB DMA buffer inside the device can only be read by DMA
 * into the user's IOVA space, which the driver does not own, and edu keeps
 * it across resets, opens and drivers.  So the engine makes it provably
 * clean when it can and refuses to migrate it when it is not:
 *  - at probe (driver bound, no user can reach the device yet, the IOMMU
 *    group unclaimed) the engine zeroes the buffer with a RAM->edu DMA of
 *    its own from a zeroed DMA API buffer: whatever an earlier driver or
 *    user left there is gone, and the buffer is known to hold zeroes;
 *  - a RAM->edu DMA rung by a user (any open) puts bytes there the driver
 *    cannot read: from then on, until the driver is bound again, save
 *    streams fail with -EOPNOTSUPP (read() on the data FD), and a
 *    resuming stream is refused with -EOPNOTSUPP (write()) as well,
 *    because a destination's guest would expect the source's zeroes; the
 *    FSM arcs still succeed, so the VM keeps running on the source;
 *  - if the probe-time zeroing cannot be done (no DMA, a user owns the
 *    group, the device does not finish), the buffer is unknown from the
 *    start, with the same effect, and the kernel log says why.
 * Unbinding and binding the function again (or a hot-unplug and plug)
 * makes it migratable again.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iommu.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "edu_rec.h"
#include "engines.h"

#define EDU_BAR			0
#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_FACT		0x08
#define EDU_REG_STATUS		0x20
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_CNT		0x90
#define EDU_REG_DMA_CMD		0x98

#define EDU_IRQ_FACT		0x1
/* The device's internal DMA buffer: its address on the device side. */
#define EDU_DMA_BUF_ADDR	0x40000
#define EDU_DMA_BUF_SIZE	4096

#define EDU_ENGINE_ID		0x00454455	/* "EDU" */
#define EDU_ENGINE_VERSION	1
#define EDU_WAIT_MS		3000
/* How long a finished factorial may take to raise its interrupt. */
#define EDU_IRQ_WAIT_MS		500

static unsigned int edu_dma_bits = 28;
module_param(edu_dma_bits, uint, 0444);
MODULE_PARM_DESC(edu_dma_bits,
		 "edu: width of the device's DMA mask (QEMU dma_mask), default 28");

/**
 * struct edu_dev - engine private data, protected by the state_mutex
 * @buf_unknown: the DMA buffer may hold bytes other than zeroes (set at
 *	probe if it could not be zeroed, and by any RAM->edu doorbell);
 *	kept for the device's life, across opens
 * @id: ID register, read at open
 * @held_cmd: the doorbell held while quiesced, 0 if none
 * @cmd_shadow: DMA command the user reads instead of the device's
 * @cmd_shadow_valid: @cmd_shadow is in force (until the next doorbell)
 * @pending_irq: interrupt bits a load staged, raised on return to RUNNING
 * @last: the snapshot last emitted in the current saving session
 * @staged: the state a resuming session staged
 * @staged_valid: @staged holds a STATE record
 * @fact_irq_due: a factorial was started and its interrupt not seen yet
 * @dma_lo: first byte of guest memory DMA in flight may write
 * @dma_hi: last byte of it; @dma_lo > @dma_hi when nothing is in flight
 */
struct edu_dev {
	bool buf_unknown;
	u32 id;
	u64 held_cmd;
	u64 cmd_shadow;
	bool cmd_shadow_valid;
	u32 pending_irq;
	struct edu_state last;
	struct edu_state staged;
	bool staged_valid;
	bool fact_irq_due;
	u64 dma_lo;
	u64 dma_hi;
};

static void edu_dma_clear(struct edu_dev *ed)
{
	ed->dma_lo = U64_MAX;
	ed->dma_hi = 0;
}

static bool edu_dma_pending(struct edu_dev *ed)
{
	return ed->dma_lo <= ed->dma_hi;
}

/* Mark the pages DMA in flight may have written since they were marked. */
static void edu_dma_mark(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);

	if (edu_dma_pending(ed))
		livemig_dirty_mark(ld, ed->dma_lo, ed->dma_hi - ed->dma_lo + 1);
}

static void edu_dirty_sync(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	u64 cmd;

	if (!edu_dma_pending(ed))
		return;
	edu_dma_mark(ld);
	/* Once the device shows no DMA, everything it wrote is marked. */
	if (!livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CMD, &cmd) &&
	    !(cmd & EDU_DMA_RUN))
		edu_dma_clear(ed);
}

/*
 * A doorbell reaches the device (passed through or replayed).  An edu->RAM
 * transfer will write [dst & mask, + count); widen the in-flight window
 * and mark it.  A RAM->edu transfer fills the internal buffer instead.
 */
static int edu_doorbell(struct livemig_device *ld, u64 cmd)
{
	struct edu_dev *ed = livemig_priv(ld);
	u64 mask = edu_dma_bits >= 64 ? U64_MAX : (1ULL << edu_dma_bits) - 1;
	u64 dst, cnt;
	int ret;

	ed->cmd_shadow_valid = false;
	if (!(cmd & EDU_DMA_TO_RAM)) {
		ed->buf_unknown = true;
		return 0;
	}
	/* Forget DMA that has landed, so the window spans only what may run. */
	edu_dirty_sync(ld);
	ret = livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_DST, &dst);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CNT, &cnt);
	if (ret || !cnt)
		return ret;
	dst &= mask;
	ed->dma_lo = min(ed->dma_lo, dst);
	ed->dma_hi = max(ed->dma_hi, cnt - 1 > U64_MAX - dst ?
				     U64_MAX : dst + cnt - 1);
	edu_dma_mark(ld);
	return 0;
}

/* Wait, bounded, for edu's DMA engine; the device is ours alone. */
static int edu_probe_wait(void __iomem *bar)
{
	ktime_t end = ktime_add_ms(ktime_get(), EDU_WAIT_MS);

	while (readq(bar + EDU_REG_DMA_CMD) & EDU_DMA_RUN) {
		if (ktime_after(ktime_get(), end))
			return -ETIMEDOUT;
		usleep_range(1000, 2000);
	}
	return 0;
}

static bool edu_group_claimed(struct pci_dev *pdev)
{
	struct iommu_group *group = iommu_group_get(&pdev->dev);
	bool claimed;

	if (!group)
		return false;
	claimed = iommu_group_dma_owner_claimed(group);
	iommu_group_put(group);
	return claimed;
}

/*
 * Zero the internal DMA buffer by a RAM->edu DMA from a zeroed buffer of
 * the DMA API.  Only at probe: the function is not registered with vfio
 * yet and, with its IOMMU group unclaimed, in the kernel's DMA domain.
 * Returns 0 once the device has copied the zeroes.
 */
static int edu_zero_dma_buffer(struct pci_dev *pdev)
{
	void __iomem *bar;
	dma_addr_t iova;
	void *zero;
	int ret;

	if (pci_resource_len(pdev, EDU_BAR) < EDU_REG_DMA_CMD + 8)
		return -ENODEV;
	ret = dma_set_mask_and_coherent(&pdev->dev,
					DMA_BIT_MASK(min(edu_dma_bits, 64U)));
	if (ret)
		return ret;
	ret = pci_enable_device_mem(pdev);
	if (ret)
		return ret;
	bar = pci_iomap(pdev, EDU_BAR, EDU_REG_DMA_CMD + 8);
	if (!bar) {
		ret = -ENOMEM;
		goto out_disable;
	}
	zero = dma_alloc_coherent(&pdev->dev, EDU_DMA_BUF_SIZE, &iova,
				  GFP_KERNEL);
	if (!zero) {
		ret = -ENOMEM;
		goto out_unmap;
	}
	/* A DMA an earlier owner started must not overlap ours. */
	ret = edu_probe_wait(bar);
	if (ret)
		goto out_free;
	if (edu_group_claimed(pdev)) {
		ret = -EBUSY;
		goto out_free;
	}
	pci_set_master(pdev);
	writeq(iova, bar + EDU_REG_DMA_SRC);
	writeq(EDU_DMA_BUF_ADDR, bar + EDU_REG_DMA_DST);
	writeq(EDU_DMA_BUF_SIZE, bar + EDU_REG_DMA_CNT);
	writeq(EDU_DMA_RUN, bar + EDU_REG_DMA_CMD);
	ret = edu_probe_wait(bar);
	pci_clear_master(pdev);
	if (ret) {
		/* The device may still read it: leak it rather than reuse. */
		goto out_unmap;
	}
	/* A user who claimed the group meanwhile got our DMA in its domain. */
	if (edu_group_claimed(pdev))
		ret = -EBUSY;
out_free:
	dma_free_coherent(&pdev->dev, EDU_DMA_BUF_SIZE, zero, iova);
out_unmap:
	pci_iounmap(pdev, bar);
out_disable:
	pci_disable_device(pdev);
	return ret;
}

/**
 * edu_probe() - put the DMA buffer in a known state when the driver binds
 * @ld: the device, not yet registered with vfio
 *
 * See the "Limit" paragraph at the top of this file.
 */
static void edu_probe(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	struct pci_dev *pdev = livemig_pdev(ld);
	int ret = edu_zero_dma_buffer(pdev);

	ed->buf_unknown = ret != 0;
	if (ret)
		pci_warn(pdev,
			 "livemig: edu DMA buffer could not be zeroed (%d); the device cannot be migrated until it is bound again\n",
			 ret);
}

static bool edu_stopped(struct livemig_device *ld)
{
	switch (livemig_state(ld)) {
	case VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
		return true;
	default:
		return false;
	}
}

static bool edu_quiesced(struct livemig_device *ld)
{
	enum vfio_device_mig_state s = livemig_state(ld);

	return s == VFIO_DEVICE_STATE_RUNNING_P2P ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P || edu_stopped(ld);
}

/* Wait, bounded, until the device has no DMA and (@fact) no factorial. */
static int edu_wait_idle(struct livemig_device *ld, bool fact)
{
	ktime_t end = ktime_add_ms(ktime_get(), EDU_WAIT_MS);
	u64 cmd;
	u32 st;
	int ret;

	for (;;) {
		ret = livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CMD, &cmd);
		if (!ret)
			ret = livemig_hw_read32(ld, EDU_BAR, EDU_REG_STATUS, &st);
		if (ret)
			return ret;
		if (!(cmd & EDU_DMA_RUN) &&
		    (!fact || !(st & EDU_STATUS_COMPUTING)))
			return 0;
		if (ktime_after(ktime_get(), end)) {
			pci_warn(livemig_pdev(ld),
				 "livemig: edu still busy after %d ms\n",
				 EDU_WAIT_MS);
			return -ETIMEDOUT;
		}
		usleep_range(1000, 2000);
	}
}

/*
 * edu clears COMPUTING before its worker thread raises the factorial
 * interrupt (the raise waits for QEMU's global lock).  A device stopped in
 * between would lose the interrupt: the source is stopped before it fires
 * and the destination never learns of it.  So when a factorial the user
 * started has finished with IRQFACT on and its interrupt is not there yet,
 * wait (bounded) for it to land.
 */
static int edu_wait_fact_irq(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	ktime_t end = ktime_add_ms(ktime_get(), EDU_IRQ_WAIT_MS);
	u32 st, irq;
	int ret;

	if (!ed->fact_irq_due)
		return 0;
	ret = livemig_hw_read32(ld, EDU_BAR, EDU_REG_STATUS, &st);
	while (!ret && (st & EDU_STATUS_IRQFACT)) {
		ret = livemig_hw_read32(ld, EDU_BAR, EDU_REG_IRQ_STATUS, &irq);
		if (ret || (irq & EDU_IRQ_FACT) ||
		    ktime_after(ktime_get(), end))
			break;
		usleep_range(1000, 2000);
	}
	/* Seen, not expected (IRQFACT off), or given up: not due any more. */
	ed->fact_irq_due = false;
	return ret;
}

static int edu_open(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	bool buf_unknown = ed->buf_unknown;

	/* An open starts afresh; the buffer's condition does not. */
	memset(ed, 0, sizeof(*ed));
	ed->buf_unknown = buf_unknown;
	edu_dma_clear(ed);
	return livemig_hw_read32(ld, EDU_BAR, EDU_REG_ID, &ed->id);
}

static int edu_bar_read(struct livemig_device *ld, int bar, u64 off,
			u64 *val, int size)
{
	struct edu_dev *ed = livemig_priv(ld);
	u64 v;

	if (off == EDU_REG_DMA_CMD && (size == 4 || size == 8) &&
	    (ed->held_cmd || ed->cmd_shadow_valid)) {
		v = ed->held_cmd ? ed->held_cmd : ed->cmd_shadow;
		*val = size == 4 ? (u32)v : v;
		return 0;
	}
	/* Staged interrupt bits read as pending before they are raised. */
	if (off == EDU_REG_IRQ_STATUS && size == 4) {
		u32 irq;
		int ret = livemig_hw_read32(ld, bar, off, &irq);

		if (irq & EDU_IRQ_FACT)
			ed->fact_irq_due = false;
		*val = irq | ed->pending_irq;
		return ret;
	}
	return LIVEMIG_PASS;
}

static int edu_bar_write(struct livemig_device *ld, int bar, u64 off,
			 u64 val, int size)
{
	struct edu_dev *ed = livemig_priv(ld);
	bool dma_reg = off >= EDU_REG_DMA_SRC && off <= EDU_REG_DMA_CMD &&
		       (size == 4 || size == 8);
	int ret;

	if (edu_stopped(ld))
		return -EBUSY;
	if (off == EDU_REG_FACT && size == 4)
		ed->fact_irq_due = true;
	if (off == EDU_REG_IRQ_ACK && size == 4 && (val & EDU_IRQ_FACT))
		ed->fact_irq_due = false;
	if (!dma_reg)
		return LIVEMIG_PASS;
	/* While a doorbell is held the device counts as running a DMA. */
	if (ed->held_cmd)
		return 0;
	if (off != EDU_REG_DMA_CMD || !(val & EDU_DMA_RUN))
		return LIVEMIG_PASS;
	if (size == 4)
		val = (u32)val;
	if (edu_quiesced(ld)) {
		ed->held_cmd = val;
		ed->cmd_shadow_valid = false;
		return 0;
	}
	/*
	 * Note it before the device can act on it.  A doorbell the device
	 * ignores (a DMA still runs) is counted too: harmless extra pages.
	 */
	ret = edu_doorbell(ld, val);
	return ret ? ret : LIVEMIG_PASS;
}

/* Wait for the device, then account for what its last DMA wrote. */
static int edu_settle(struct livemig_device *ld, bool fact)
{
	int ret = edu_wait_idle(ld, fact);

	if (!ret) {
		edu_dma_mark(ld);
		edu_dma_clear(livemig_priv(ld));
	}
	return ret;
}

static int edu_quiesce(struct livemig_device *ld)
{
	return edu_settle(ld, false);
}

static int edu_unquiesce(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	int ret = 0;

	if (ed->held_cmd) {
		ret = edu_doorbell(ld, ed->held_cmd);
		ret = ret ?: livemig_hw_write64(ld, EDU_BAR, EDU_REG_DMA_CMD,
						ed->held_cmd);
		if (ret)
			return ret;
		ed->held_cmd = 0;
	}
	if (ed->pending_irq) {
		ret = livemig_hw_write32(ld, EDU_BAR, EDU_REG_IRQ_RAISE,
					 ed->pending_irq);
		ed->pending_irq = 0;
	}
	return ret;
}

static int edu_stop(struct livemig_device *ld)
{
	int ret = edu_settle(ld, true);

	return ret ?: edu_wait_fact_irq(ld);
}

static int edu_save_check(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);

	if (!ed->buf_unknown)
		return 0;
	pci_warn_once(livemig_pdev(ld),
		      "livemig: edu DMA buffer may hold data only DMA can read (RAM->edu DMA since the driver bound); its contents cannot be saved\n");
	return -EOPNOTSUPP;
}

static int edu_identity(struct livemig_device *ld, u8 *blob, u32 max)
{
	struct edu_dev *ed = livemig_priv(ld);

	if (max < 4)
		return -EINVAL;
	lm_put32(blob, ed->id);
	return 4;
}

static int edu_snapshot(struct livemig_device *ld, struct edu_state *s)
{
	struct edu_dev *ed = livemig_priv(ld);
	u32 irq;
	int ret;

	ret = livemig_hw_read32(ld, EDU_BAR, EDU_REG_LIVENESS, &s->liveness);
	ret = ret ?: livemig_hw_read32(ld, EDU_BAR, EDU_REG_FACT, &s->fact);
	ret = ret ?: livemig_hw_read32(ld, EDU_BAR, EDU_REG_STATUS, &s->status);
	ret = ret ?: livemig_hw_read32(ld, EDU_BAR, EDU_REG_IRQ_STATUS, &irq);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_SRC,
				       &s->dma_src);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_DST,
				       &s->dma_dst);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CNT,
				       &s->dma_cnt);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CMD,
				       &s->dma_cmd);
	if (ret)
		return ret;
	s->irq_status = irq | ed->pending_irq;
	if (ed->cmd_shadow_valid)
		s->dma_cmd = ed->cmd_shadow;
	s->held_cmd = ed->held_cmd;
	return 0;
}

static int edu_save(struct livemig_device *ld, struct livemig_save *save,
		    enum livemig_save_phase phase)
{
	struct edu_dev *ed = livemig_priv(ld);
	u8 buf[EDU_STATE_LEN];
	struct edu_state s;
	int ret;

	memset(&s, 0, sizeof(s));
	ret = edu_snapshot(ld, &s);
	if (ret)
		return ret;
	if (phase == LIVEMIG_SAVE_DIRTY && !memcmp(&s, &ed->last, sizeof(s)))
		return 0;
	ed->last = s;
	edu_state_encode(buf, &s);
	return livemig_emit(save, LM_REC_STATE, buf, sizeof(buf));
}

static size_t edu_state_size(struct livemig_device *ld)
{
	return LM_REC_HDR_LEN + EDU_STATE_LEN;
}

static int edu_check_identity(struct livemig_device *ld,
			      const struct lm_identity *id,
			      const u8 *blob, u32 len)
{
	struct edu_dev *ed = livemig_priv(ld);

	if (len != 4 || lm_get32(blob) != ed->id)
		return -LM_EINCOMPAT;
	/* The source's buffer held zeroes; this one may not. */
	if (ed->buf_unknown) {
		pci_warn_once(livemig_pdev(ld),
			      "livemig: edu DMA buffer may hold data left by RAM->edu DMA; refusing to load a state that expects it zeroed\n");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int edu_resume_begin(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);

	ed->staged_valid = false;
	return 0;
}

/* Structural checks only (edu_state_decode()); the last STATE counts. */
static int edu_stage(struct livemig_device *ld, u16 type, const u8 *p,
		     u32 len)
{
	struct edu_dev *ed = livemig_priv(ld);
	struct edu_state s;
	int ret;

	if (type != LM_REC_STATE)
		return -LM_ECORRUPT;
	ret = edu_state_decode(p, len, &s);
	if (ret)
		return ret;
	ed->staged = s;
	ed->staged_valid = true;
	return 0;
}

static int edu_write_fact(struct livemig_device *ld, u32 k)
{
	int ret;

	ret = livemig_hw_write32(ld, EDU_BAR, EDU_REG_FACT, k);
	return ret ?: edu_wait_idle(ld, true);
}

/*
 * Put @s into the device without an interrupt or a DMA the source never
 * issued: IRQFACT stays off while the factorial is recomputed, interrupt
 * bits are only acked here (raising waits for RUNNING), the DMA command
 * is shadowed rather than written.
 */
static int edu_apply(struct livemig_device *ld, const struct edu_state *s,
		     int k)
{
	struct edu_dev *ed = livemig_priv(ld);
	u32 irq;
	u64 cmd;
	int ret;

	ret = edu_wait_idle(ld, true);
	ret = ret ?: livemig_hw_write32(ld, EDU_BAR, EDU_REG_STATUS, 0);
	ret = ret ?: edu_write_fact(ld, k);
	ret = ret ?: livemig_hw_write32(ld, EDU_BAR, EDU_REG_LIVENESS,
					~s->liveness);
	ret = ret ?: livemig_hw_write64(ld, EDU_BAR, EDU_REG_DMA_SRC,
					s->dma_src);
	ret = ret ?: livemig_hw_write64(ld, EDU_BAR, EDU_REG_DMA_DST,
					s->dma_dst);
	ret = ret ?: livemig_hw_write64(ld, EDU_BAR, EDU_REG_DMA_CNT,
					s->dma_cnt);
	ret = ret ?: livemig_hw_write32(ld, EDU_BAR, EDU_REG_STATUS,
					s->status & EDU_STATUS_IRQFACT);
	ret = ret ?: livemig_hw_read32(ld, EDU_BAR, EDU_REG_IRQ_STATUS, &irq);
	if (!ret && (irq & ~s->irq_status))
		ret = livemig_hw_write32(ld, EDU_BAR, EDU_REG_IRQ_ACK,
					 irq & ~s->irq_status);
	ret = ret ?: livemig_hw_read64(ld, EDU_BAR, EDU_REG_DMA_CMD, &cmd);
	if (ret)
		return ret;
	ed->pending_irq = s->irq_status & ~irq;
	ed->fact_irq_due = false;
	ed->cmd_shadow = s->dma_cmd;
	ed->cmd_shadow_valid = cmd != s->dma_cmd;
	ed->held_cmd = s->held_cmd;
	return 0;
}

static int edu_load(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	const struct edu_state *s = &ed->staged;
	int k;

	/* Validate everything before the first register is touched. */
	if (!ed->staged_valid)
		return -LM_ECORRUPT;
	k = edu_state_check(s);
	if (k < 0)
		return k;
	return edu_apply(ld, s, k);
}

/* The function was reset: no doorbell is held, nothing is in flight. */
static void edu_reset_done(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);

	ed->held_cmd = 0;
	ed->pending_irq = 0;
	ed->cmd_shadow_valid = false;
	edu_dma_clear(ed);
}

/* debugfs: what the engine holds of the device. */
static void edu_show(struct livemig_device *ld, struct seq_file *m)
{
	struct edu_dev *ed = livemig_priv(ld);

	seq_printf(m, "edu_buffer_unknown: %d\n", ed->buf_unknown);
	seq_printf(m, "edu_held_doorbell: 0x%llx\n", ed->held_cmd);
	seq_printf(m, "edu_dma_in_flight: %d\n", edu_dma_pending(ed));
	seq_printf(m, "edu_pending_irq: 0x%x\n", ed->pending_irq);
	seq_printf(m, "edu_staged: %d\n", ed->staged_valid);
}

static int edu_reset(struct livemig_device *ld)
{
	struct edu_dev *ed = livemig_priv(ld);
	struct edu_state zero = {};
	int ret;

	edu_reset_done(ld);
	ret = edu_apply(ld, &zero, EDU_FACT_MAX_K);
	ed->pending_irq = 0;
	return ret;
}

const struct livemig_engine edu_engine = {
	.name = "edu",
	.engine_id = EDU_ENGINE_ID,
	.version = EDU_ENGINE_VERSION,
	.max_record = 1024,
	.trapped_bars = BIT(EDU_BAR),
	.priv_size = sizeof(struct edu_dev),
	.tracks_dma = true,
	.probe = edu_probe,
	.open = edu_open,
	.bar_read = edu_bar_read,
	.bar_write = edu_bar_write,
	.quiesce = edu_quiesce,
	.unquiesce = edu_unquiesce,
	.stop = edu_stop,
	.save_check = edu_save_check,
	.identity = edu_identity,
	.save = edu_save,
	.state_size = edu_state_size,
	.check_identity = edu_check_identity,
	.resume_begin = edu_resume_begin,
	.stage = edu_stage,
	.load = edu_load,
	.reset = edu_reset,
	.reset_done = edu_reset_done,
	.dirty_sync = edu_dirty_sync,
	.show = edu_show,
};
