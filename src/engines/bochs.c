// SPDX-License-Identifier: GPL-2.0
/*
 * livemig engine for QEMU's "bochs-display" (1234:1111, class 0x0380).
 *
 * The std VGA (class 0x0300) shares the IDs and has legacy VGA state on
 * top; it is not driven here.  The device, from QEMU's
 * hw/display/bochs-display.c and include/hw/display/bochs-vbe.h:
 *
 *  BAR0  VRAM, 4-256 MiB (a power of two), prefetchable RAM.  It stays
 *        mmapped by the user: guest writes are never trapped.
 *  BAR2  4 KiB MMIO:
 *        0x000  EDID blob, 256 bytes, read-only
 *        0x500  VBE dispi registers, 16 bit, register i at 0x500 + 2 * i:
 *               ID (reads 0xb0c5), XRES, YRES, BPP, ENABLE, BANK,
 *               VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET, then
 *               VIDEO_MEMORY_64K (read-only).  Writes only store the
 *               value: no register has side effects.
 *        0x600  QEMU extended registers, 32 bit: size (read-only) and
 *               the framebuffer byte order at 0x604 (0x1e1e1e1e little,
 *               0xbebebebe big endian; other values are ignored).
 *
 * The device neither masters the bus nor raises interrupts, so there is
 * nothing to quiesce and no DMA to log; everything it holds is VRAM plus
 * ten registers.
 *
 * Saving.  VRAM goes out as PAGES records (runs of pages with data) and
 * ZERO records (runs of all-zero pages, which carry no data).  For every
 * page the engine keeps the xxh64 of the contents it sent.  PRE_COPY's
 * initial snapshot walks VRAM once.  Where the kernel lets the core track
 * the user's accesses to VRAM (src/wtrack.c: a page's first access after
 * a collection faults and sets a bit), a DIRTY request takes the pages
 * touched since the last one, without reading VRAM, and PRECOPY_INFO and
 * MIG_DATA_SIZE count them as they happen;
 * elsewhere a DIRTY request hashes every sent page again ("rescan") and
 * compares.  Either way a page is sent again only if its hash changed,
 * so storing the bytes a page already holds costs a copy but no stream
 * bytes.  FINAL rescans all of VRAM with the device stopped (what no PTE
 * saw, such as a peer's DMA into the BAR, is found there), sends what
 * changed and what the walk had not reached yet, and the registers in a
 * STATE record.  A page that changes while it is copied is sent torn, but
 * its hash is that of the torn copy, so a later rescan sends it again.
 *
 * Resuming.  Each PAGES or ZERO record goes into VRAM as it arrives
 * (->apply), while the source may still be in PRE_COPY, so that
 * RESUMING -> STOP, inside the downtime, writes no VRAM: it checks that
 * every page was covered and the registers arrived, and writes the ten
 * registers.  Before a page is first written, what it held is copied to
 * an undo image in kernel memory; a stream rejected at any point
 * (->revert) gets those pages back, so a rejected or incomplete stream
 * still leaves the device as it found it.  The registers are only staged
 * until RESUMING -> STOP.
 *
 * Compatibility (the IDENTITY blob): the VRAM size, the VBE ID and the
 * EDID.  A destination showing the guest another monitor or another
 * amount of VRAM refuses the stream.
 */
#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xxhash.h>

#include "bochs_rec.h"
#include "engines.h"

#define BOCHS_DEVICE		0x1111

#define BOCHS_VRAM_BAR		0
#define BOCHS_MMIO_BAR		2
#define BOCHS_MMIO_LEN		SZ_4K
#define BOCHS_EDID		0x000
#define BOCHS_EDID_LEN		256
#define BOCHS_VBE		0x500
#define BOCHS_QEXT_BYTEORDER	0x604

/* Worst case of one page on the wire: a PAGES record of its own. */
#define BOCHS_PAGE_COST		(LM_REC_HDR_LEN + 8 + BOCHS_PAGE)
/*
 * The largest VRAM the engine takes: a resuming session stages all of it
 * in one kvmalloc() (which warns above INT_MAX) and keeps per-page arrays
 * in kmalloc'd bitmaps.  QEMU's bochs-display refuses more than 256 MiB.
 */
#define BOCHS_VRAM_MAX		SZ_1G
/* Pages hashed or written between two chances to reschedule. */
#define BOCHS_RESCHED_PAGES	256

/* IDENTITY blob: le64 VRAM bytes, le32 VBE ID, le32 EDID length, EDID. */
#define BOCHS_ID_LEN		(16 + BOCHS_EDID_LEN)

/* Restore order: ENABLE last, once the mode it enables is in place. */
static const u8 bochs_restore_order[] = {
	VBE_XRES, VBE_YRES, VBE_BPP, VBE_BANK, VBE_VIRT_WIDTH,
	VBE_VIRT_HEIGHT, VBE_X_OFFSET, VBE_Y_OFFSET, VBE_ENABLE,
};

/**
 * struct bochs_dev - engine private data, protected by the state_mutex
 * @vram_size: bytes of VRAM (BAR0)
 * @npages: @vram_size in BOCHS_PAGE pages
 * @id: the IDENTITY blob of this device, read at open
 *
 * @saving: a saving session is open (between save_begin and save_end)
 * @sent: per page, xxh64 of what the destination has been sent
 * @dirty: pages found changed since they were sent and not sent again
 * @ndirty: bits set in @dirty
 * @cursor: the walk has sent every page below this one at least once
 * @dcursor: no bit of @dirty below this one is set
 * @tracked: this session takes written pages from the core's write
 *	tracking instead of rescanning VRAM
 * @taken: scratch bitmap for livemig_wt_collect()
 * @zero_hash: xxh64 of an all-zero page
 * @scratch: one page to hash a copy of VRAM in
 * @phase: the phase of the last ->save call
 * @more: the last ->save call returned LIVEMIG_SAVE_MORE
 * @state_sent: the STATE record of this session went out
 * @hashed: pages hashed since the device was opened (debugfs)
 *
 * @undo: resuming: per page in @covered, what VRAM held before the
 *	session first wrote it
 * @covered: resuming: pages some record wrote (and kept in @undo)
 * @staged: resuming: the staged registers
 * @staged_valid: resuming: @staged holds a STATE record
 * @applied: pages resuming sessions wrote into VRAM since the device was
 *	opened (debugfs)
 */
struct bochs_dev {
	u64 vram_size;
	u32 npages;
	u8 id[BOCHS_ID_LEN];

	bool saving;
	u64 *sent;
	unsigned long *dirty;
	u32 ndirty;
	u32 cursor;
	u32 dcursor;
	bool tracked;
	unsigned long *taken;
	u64 zero_hash;
	u8 *scratch;
	enum livemig_save_phase phase;
	bool more;
	bool state_sent;
	u64 hashed;

	u8 *undo;
	unsigned long *covered;
	struct bochs_regs staged;
	bool staged_valid;
	u64 applied;
};

/*
 * A PAGES record being filled (@rec, pages @rec_first..+@rec_n) and a run
 * of zero pages not yet emitted (@zero_first..+@zero_n), during one
 * ->save call.  Pages join either in any order; a record or run ends when
 * the next page does not extend it.
 */
struct bochs_out {
	struct livemig_save *s;
	u8 *rec;
	u32 rec_first;
	u32 rec_n;
	u32 zero_first;
	u32 zero_n;
};

/**
 * bochs_match() - is @pdev a bochs-display (and not a std VGA)?
 * @pdev: the function being probed
 *
 * Return: true for 1234:1111 with class 0x0380.
 */
static bool bochs_match(struct pci_dev *pdev)
{
	return pdev->vendor == LIVEMIG_VENDOR_QEMU &&
	       pdev->device == BOCHS_DEVICE &&
	       pdev->class >> 8 == PCI_CLASS_DISPLAY_OTHER;
}

static void __iomem *bochs_vram(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);

	return livemig_hw_iomem(ld, BOCHS_VRAM_BAR, 0, bd->vram_size);
}

static void __iomem *bochs_mmio(struct livemig_device *ld)
{
	return livemig_hw_iomem(ld, BOCHS_MMIO_BAR, 0, BOCHS_MMIO_LEN);
}

static int bochs_read_regs(struct livemig_device *ld, struct bochs_regs *r)
{
	void __iomem *mmio = bochs_mmio(ld);
	int i;

	if (!mmio)
		return -EIO;
	for (i = 0; i < VBE_NREGS; i++)
		r->vbe[i] = ioread16(mmio + BOCHS_VBE + 2 * i);
	r->byteorder = ioread32(mmio + BOCHS_QEXT_BYTEORDER);
	return 0;
}

/* Write @r with the mode disabled meanwhile, ENABLE last; check it. */
static int bochs_write_regs(struct livemig_device *ld,
			    const struct bochs_regs *r)
{
	void __iomem *mmio = bochs_mmio(ld);
	struct bochs_regs got;
	unsigned int i, idx;
	int ret;

	if (!mmio)
		return -EIO;
	iowrite16(0, mmio + BOCHS_VBE + 2 * VBE_ENABLE);
	iowrite32(r->byteorder, mmio + BOCHS_QEXT_BYTEORDER);
	for (i = 0; i < ARRAY_SIZE(bochs_restore_order); i++) {
		idx = bochs_restore_order[i];
		iowrite16(r->vbe[idx], mmio + BOCHS_VBE + 2 * idx);
	}
	ret = bochs_read_regs(ld, &got);
	if (ret)
		return ret;
	for (i = VBE_XRES; i < VBE_NREGS; i++)
		if (got.vbe[i] != r->vbe[i])
			return -EIO;
	return got.byteorder == r->byteorder ? 0 : -EIO;
}

/**
 * bochs_open() - the device is opened: size VRAM, read the identity
 * @ld: the device
 *
 * Return: 0, -ENODEV if the BARs are not those of a bochs-display, or
 * -EIO if they are not mapped.
 */
static int bochs_open(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);
	struct pci_dev *pdev = livemig_pdev(ld);
	u64 size = pci_resource_len(pdev, BOCHS_VRAM_BAR);
	void __iomem *mmio;
	int i;

	memset(bd, 0, sizeof(*bd));
	if (size < BOCHS_PAGE || !is_power_of_2(size) ||
	    size > BOCHS_VRAM_MAX ||
	    pci_resource_len(pdev, BOCHS_MMIO_BAR) < BOCHS_MMIO_LEN) {
		pci_warn(pdev, "livemig: unexpected bochs-display BARs\n");
		return -ENODEV;
	}
	bd->vram_size = size;
	bd->npages = size / BOCHS_PAGE;
	mmio = bochs_mmio(ld);
	if (!mmio || !bochs_vram(ld))
		return -EIO;

	lm_put64(bd->id, size);
	lm_put32(bd->id + 8, ioread16(mmio + BOCHS_VBE + 2 * VBE_ID));
	lm_put32(bd->id + 12, BOCHS_EDID_LEN);
	/* The EDID region takes accesses of 1 to 4 bytes. */
	for (i = 0; i < BOCHS_EDID_LEN; i += 4)
		lm_put32(bd->id + 16 + i, ioread32(mmio + BOCHS_EDID + i));
	return 0;
}

/**
 * bochs_identity() - the compatibility blob: VRAM size, VBE ID, EDID
 * @ld: the device
 * @blob: where to write it
 * @max: room at @blob
 *
 * Return: the blob's length, or -EINVAL if it does not fit.
 */
static int bochs_identity(struct livemig_device *ld, u8 *blob, u32 max)
{
	struct bochs_dev *bd = livemig_priv(ld);

	if (max < BOCHS_ID_LEN)
		return -EINVAL;
	memcpy(blob, bd->id, BOCHS_ID_LEN);
	return BOCHS_ID_LEN;
}

/**
 * bochs_check_identity() - does the source show the same VRAM and monitor?
 * @ld: the device
 * @id: the source's identity (PCI IDs already checked by the core)
 * @blob: the source's blob
 * @len: its length
 *
 * Return: 0, or -EPROTO unless the blob equals this device's.
 */
static int bochs_check_identity(struct livemig_device *ld,
				const struct lm_identity *id,
				const u8 *blob, u32 len)
{
	struct bochs_dev *bd = livemig_priv(ld);

	if (len != BOCHS_ID_LEN || memcmp(blob, bd->id, BOCHS_ID_LEN))
		return -LM_EINCOMPAT;
	return 0;
}

/* --- saving ------------------------------------------------------------ */

static void bochs_save_free(struct bochs_dev *bd)
{
	kvfree(bd->sent);
	bd->sent = NULL;
	bitmap_free(bd->dirty);
	bd->dirty = NULL;
	bitmap_free(bd->taken);
	bd->taken = NULL;
	bd->tracked = false;
	kfree(bd->scratch);
	bd->scratch = NULL;
	bd->saving = false;
}

/**
 * bochs_save_begin() - a saving session starts: nothing sent yet
 * @ld: the device
 *
 * Return: 0 or -ENOMEM.
 */
static int bochs_save_begin(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);

	bochs_save_free(bd);
	bd->sent = kvcalloc(bd->npages, sizeof(*bd->sent), GFP_KERNEL_ACCOUNT);
	bd->dirty = bitmap_zalloc(bd->npages, GFP_KERNEL_ACCOUNT);
	bd->scratch = kzalloc(BOCHS_PAGE, GFP_KERNEL_ACCOUNT);
	if (!bd->sent || !bd->dirty || !bd->scratch) {
		bochs_save_free(bd);
		return -ENOMEM;
	}
	bd->zero_hash = xxh64(bd->scratch, BOCHS_PAGE, 0);
	if (livemig_wt_active(ld, BOCHS_VRAM_BAR) == bd->npages &&
	    PAGE_SIZE == BOCHS_PAGE) {
		bd->taken = bitmap_zalloc(bd->npages, GFP_KERNEL_ACCOUNT);
		if (!bd->taken) {
			bochs_save_free(bd);
			return -ENOMEM;
		}
		/* Every page is sent after this: start with no write seen. */
		livemig_wt_collect(ld, bd->taken);
		bd->tracked = true;
	}
	bd->ndirty = 0;
	bd->cursor = 0;
	bd->dcursor = 0;
	bd->more = false;
	bd->state_sent = false;
	bd->saving = true;
	return 0;
}

/**
 * bochs_save_end() - the saving session ended: drop the page hashes
 * @ld: the device
 */
static void bochs_save_end(struct livemig_device *ld)
{
	bochs_save_free(livemig_priv(ld));
}

/* Publish the PAGES record being filled, if it holds any page. */
static void bochs_out_commit(struct bochs_out *o)
{
	if (o->rec && o->rec_n)
		livemig_emit_commit(o->s, LM_REC_PAGES,
				    8 + o->rec_n * BOCHS_PAGE);
	o->rec = NULL;
	o->rec_n = 0;
}

static int bochs_out_zeros(struct bochs_out *o)
{
	u8 p[16];

	if (!o->zero_n)
		return 0;
	struct bochs_range r = {
		.off = (u64)o->zero_first * BOCHS_PAGE,
		.len = (u64)o->zero_n * BOCHS_PAGE,
	};

	bochs_zero_encode(p, &r);
	o->zero_n = 0;
	return livemig_emit(o->s, LM_REC_ZERO, p, sizeof(p));
}

static int bochs_out_finish(struct bochs_out *o)
{
	bochs_out_commit(o);
	return bochs_out_zeros(o);
}

/*
 * Send page @pg as VRAM holds it now and remember the hash of what was
 * sent.  The page is copied straight into the record being filled; if it
 * turns out all zero it is dropped from there and joins the zero run.  A
 * page sent before (@resend) whose hash did not change is dropped too.
 */
static int bochs_out_page(struct livemig_device *ld, struct bochs_out *o,
			  void __iomem *vram, u32 pg, bool resend)
{
	u64 hash;
	struct bochs_dev *bd = livemig_priv(ld);
	u8 *dst;

	if (o->rec && pg != o->rec_first + o->rec_n)
		bochs_out_commit(o);
	if (!o->rec) {
		o->rec = livemig_emit_begin(o->s, BOCHS_REC_MAX);
		if (!o->rec)
			return -ENOMEM;
		o->rec_first = pg;
		bochs_pages_encode_hdr(o->rec, (u64)pg * BOCHS_PAGE);
	}
	dst = o->rec + 8 + o->rec_n * BOCHS_PAGE;
	memcpy_fromio(dst, vram + (size_t)pg * BOCHS_PAGE, BOCHS_PAGE);
	bd->hashed++;
	if (memchr_inv(dst, 0, BOCHS_PAGE)) {
		hash = xxh64(dst, BOCHS_PAGE, 0);
		if (resend && hash == bd->sent[pg]) {
			livemig_save_charge(o->s, BOCHS_PAGE);
			return 0;
		}
		bd->sent[pg] = hash;
		if (++o->rec_n == BOCHS_REC_PAGES)
			bochs_out_commit(o);
		return 0;
	}

	livemig_save_charge(o->s, BOCHS_PAGE);
	if (resend && bd->sent[pg] == bd->zero_hash)
		return 0;
	bd->sent[pg] = bd->zero_hash;
	bochs_out_commit(o);
	if (o->zero_n && o->zero_first + o->zero_n == pg) {
		o->zero_n++;
		return 0;
	}
	if (bochs_out_zeros(o))
		return -ENOMEM;
	o->zero_first = pg;
	o->zero_n = 1;
	return 0;
}

/* The initial walk: every page not reached yet, in order. */
static int bochs_walk(struct livemig_device *ld, struct bochs_out *o,
		      void __iomem *vram)
{
	struct bochs_dev *bd = livemig_priv(ld);
	int ret;

	while (bd->cursor < bd->npages) {
		ret = bochs_out_page(ld, o, vram, bd->cursor, false);
		if (ret)
			return ret;
		bd->cursor++;
		if (livemig_save_full(o->s))
			return LIVEMIG_SAVE_MORE;
	}
	return 0;
}

/* Send the pages a rescan found changed. */
static int bochs_send_dirty(struct livemig_device *ld, struct bochs_out *o,
			    void __iomem *vram)
{
	struct bochs_dev *bd = livemig_priv(ld);
	unsigned long pg;
	int ret;

	for (;;) {
		pg = find_next_bit(bd->dirty, bd->npages, bd->dcursor);
		if (pg >= bd->npages)
			return 0;
		ret = bochs_out_page(ld, o, vram, pg, true);
		if (ret)
			return ret;
		__clear_bit(pg, bd->dirty);
		bd->ndirty--;
		bd->dcursor = pg + 1;
		if (livemig_save_full(o->s))
			return LIVEMIG_SAVE_MORE;
	}
}

/*
 * Mark dirty the pages the user wrote since the last collection, among
 * those sent; what the walk has not reached yet is sent later anyway.
 */
static void bochs_take_written(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);
	unsigned long pg;

	bitmap_zero(bd->taken, bd->npages);
	livemig_wt_collect(ld, bd->taken);
	for_each_set_bit(pg, bd->taken, bd->cursor)
		if (!__test_and_set_bit(pg, bd->dirty))
			bd->ndirty++;
	bd->dcursor = 0;
}

/* Hash every page sent and not known dirty; mark those that changed. */
static void bochs_rescan(struct livemig_device *ld, void __iomem *vram)
{
	struct bochs_dev *bd = livemig_priv(ld);
	u32 pg;

	for (pg = 0; pg < bd->cursor; pg++) {
		if (test_bit(pg, bd->dirty))
			continue;
		memcpy_fromio(bd->scratch, vram + (size_t)pg * BOCHS_PAGE,
			      BOCHS_PAGE);
		bd->hashed++;
		if (xxh64(bd->scratch, BOCHS_PAGE, 0) != bd->sent[pg]) {
			__set_bit(pg, bd->dirty);
			bd->ndirty++;
		}
		if (!(pg % BOCHS_RESCHED_PAGES))
			cond_resched();
	}
	bd->dcursor = 0;
}

static int bochs_emit_state(struct livemig_device *ld, struct livemig_save *s)
{
	u8 p[BOCHS_STATE_LEN];
	struct bochs_regs r;
	int ret;

	ret = bochs_read_regs(ld, &r);
	if (ret)
		return ret;
	bochs_regs_encode(p, &r);
	return livemig_emit(s, LM_REC_STATE, p, sizeof(p));
}

/**
 * bochs_save() - emit VRAM and registers for one phase of a session
 * @ld: the device
 * @s: the session
 * @phase: INITIAL walks VRAM; DIRTY rescans it and sends what changed;
 *	FINAL rescans, sends what changed or was never sent, then STATE
 *
 * A call that repeats the phase of a call that returned
 * %LIVEMIG_SAVE_MORE goes on where that one stopped instead of
 * rescanning.
 *
 * Return: 0 when the phase is complete, %LIVEMIG_SAVE_MORE when the
 * budget is used, or a negative errno.
 */
static int bochs_save(struct livemig_device *ld, struct livemig_save *s,
		      enum livemig_save_phase phase)
{
	struct bochs_dev *bd = livemig_priv(ld);
	struct bochs_out o = { .s = s };
	bool resume = bd->more && bd->phase == phase;
	void __iomem *vram = bochs_vram(ld);
	int ret, fin;

	if (!bd->saving || !vram)
		return -EIO;
	bd->phase = phase;
	switch (phase) {
	case LIVEMIG_SAVE_INITIAL:
		ret = bochs_walk(ld, &o, vram);
		break;
	case LIVEMIG_SAVE_DIRTY:
		if (!resume && bd->tracked)
			bochs_take_written(ld);
		else if (!resume)
			bochs_rescan(ld, vram);
		ret = bochs_send_dirty(ld, &o, vram);
		break;
	default:
		if (!resume)
			bochs_rescan(ld, vram);
		ret = bochs_send_dirty(ld, &o, vram);
		if (!ret)
			ret = bochs_walk(ld, &o, vram);
		break;
	}
	fin = bochs_out_finish(&o);
	if (ret >= 0 && fin)
		ret = fin;
	if (!ret && phase == LIVEMIG_SAVE_FINAL && !bd->state_sent) {
		ret = bochs_emit_state(ld, s);
		bd->state_sent = !ret;
	}
	bd->more = ret == LIVEMIG_SAVE_MORE;
	return ret;
}

/* Sent pages written since the last collection and not yet marked dirty. */
static u32 bochs_written(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);

	return bd->tracked ? livemig_wt_count(ld, bd->dirty, bd->cursor) : 0;
}

/**
 * bochs_pending() - what PRE_COPY still owes, for PRECOPY_INFO
 * @ld: the device
 * @initial: VRAM the initial walk has not reached, in bytes
 * @dirty: pages found changed (by a rescan) or written (tracked) since
 *	they were sent, and not sent again yet, in bytes
 *
 * Return: true when writes are tracked, so @dirty is current.
 */
static bool bochs_pending(struct livemig_device *ld, u64 *initial, u64 *dirty)
{
	struct bochs_dev *bd = livemig_priv(ld);

	*initial = (u64)(bd->npages - bd->cursor) * BOCHS_PAGE;
	*dirty = ((u64)bd->ndirty + bochs_written(ld)) * BOCHS_PAGE;
	return bd->tracked;
}

/**
 * bochs_state_size() - bytes the FINAL phase emits, at most
 * @ld: the device
 *
 * Every page in a record of its own, plus STATE; in an open session only
 * the pages not sent yet or found changed, and STATE unless it went out.
 *
 * Return: the size in bytes.
 */
static size_t bochs_state_size(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);
	u64 pages = bd->npages;
	size_t size;

	if (bd->saving)
		pages = bd->npages - bd->cursor + bd->ndirty +
			bochs_written(ld);
	size = pages * BOCHS_PAGE_COST;
	if (!bd->saving || !bd->state_sent)
		size += LM_REC_HDR_LEN + BOCHS_STATE_LEN;
	return size;
}

/* --- resuming ---------------------------------------------------------- */

/*
 * The undo image is VRAM-sized and a session ends in RESUMING -> STOP,
 * inside the downtime: a worker gives it back.
 */
static void bochs_resume_free(struct bochs_dev *bd)
{
	livemig_kvfree_later(bd->undo);
	bd->undo = NULL;
	bitmap_free(bd->covered);
	bd->covered = NULL;
	bd->staged_valid = false;
}

/**
 * bochs_resume_begin() - a resuming session starts: room to undo VRAM
 * @ld: the device
 *
 * Return: 0 or -ENOMEM (the arc to RESUMING fails).
 */
static int bochs_resume_begin(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);

	bochs_resume_free(bd);
	bd->undo = kvmalloc(bd->vram_size, GFP_KERNEL_ACCOUNT);
	bd->covered = bitmap_zalloc(bd->npages, GFP_KERNEL_ACCOUNT);
	if (!bd->undo || !bd->covered) {
		bochs_resume_free(bd);
		return -ENOMEM;
	}
	return 0;
}

/**
 * bochs_resume_end() - the resuming session ended: drop the undo image
 * @ld: the device
 */
static void bochs_resume_end(struct livemig_device *ld)
{
	bochs_resume_free(livemig_priv(ld));
}

/* Decode a PAGES or ZERO payload into the VRAM range it gives a value. */
static int bochs_range_decode(struct bochs_dev *bd, u16 type, const u8 *p,
			      u32 len, struct bochs_range *r)
{
	if (type == LM_REC_PAGES)
		return bochs_pages_decode(p, len, bd->vram_size, r);
	return bochs_zero_decode(p, len, bd->vram_size, r);
}

/**
 * bochs_stage() - check one record of a resuming stream
 * @ld: the device
 * @type: PAGES, ZERO or STATE
 * @p: the payload
 * @len: its length
 *
 * PAGES and ZERO are only checked here (bochs_apply() writes them); a
 * STATE record is kept until RESUMING -> STOP.
 *
 * Return: 0, or -EBADMSG for a record of another type or shape, a page
 * range outside VRAM or not page aligned, or a byte order the register
 * cannot hold.
 */
static int bochs_stage(struct livemig_device *ld, u16 type, const u8 *p,
		       u32 len)
{
	struct bochs_dev *bd = livemig_priv(ld);
	struct bochs_range r;
	struct bochs_regs regs;
	int ret;

	switch (type) {
	case LM_REC_PAGES:
	case LM_REC_ZERO:
		return bochs_range_decode(bd, type, p, len, &r);
	case LM_REC_STATE:
		ret = bochs_regs_decode(p, len, &regs);
		if (ret)
			return ret;
		bd->staged = regs;
		bd->staged_valid = true;
		return 0;
	default:
		return -LM_ECORRUPT;
	}
}

/* Keep what the pages of @r not yet covered hold, then mark them. */
static void bochs_keep_undo(struct bochs_dev *bd, void __iomem *vram,
			    const struct bochs_range *r)
{
	unsigned long pg = r->off / BOCHS_PAGE;
	unsigned long last = pg + r->len / BOCHS_PAGE, end;
	size_t off;

	while (pg < last) {
		pg = find_next_zero_bit(bd->covered, last, pg);
		if (pg >= last)
			break;
		end = find_next_bit(bd->covered, last, pg);
		end = min_t(unsigned long, end, pg + BOCHS_RESCHED_PAGES);
		off = pg * BOCHS_PAGE;
		memcpy_fromio(bd->undo + off, vram + off,
			      (end - pg) * BOCHS_PAGE);
		bitmap_set(bd->covered, pg, end - pg);
		pg = end;
		cond_resched();
	}
}

/**
 * bochs_apply() - write a PAGES or ZERO record into VRAM as it arrives
 * @ld: the device
 * @type: the record's type, checked by bochs_stage()
 * @p: the payload
 * @len: its length
 *
 * What the pages held before the session first wrote them goes to the
 * undo image first.  A later record for the same pages overwrites them
 * again: the last one gives a page its value, as on the source.
 *
 * Return: 0, or -EIO if VRAM is not mapped.
 */
static int bochs_apply(struct livemig_device *ld, u16 type, const u8 *p,
		       u32 len)
{
	struct bochs_dev *bd = livemig_priv(ld);
	void __iomem *vram = bochs_vram(ld);
	struct bochs_range r;
	size_t done, n;
	int ret;

	if (type != LM_REC_PAGES && type != LM_REC_ZERO)
		return 0;
	ret = bochs_range_decode(bd, type, p, len, &r);
	if (ret)
		return ret;
	if (!vram || !bd->undo)
		return -EIO;
	bochs_keep_undo(bd, vram, &r);
	for (done = 0; done < r.len; done += n) {
		n = min_t(size_t, r.len - done,
			  BOCHS_RESCHED_PAGES * BOCHS_PAGE);
		if (type == LM_REC_PAGES)
			memcpy_toio(vram + r.off + done, p + 8 + done, n);
		else
			memset_io(vram + r.off + done, 0, n);
		cond_resched();
	}
	bd->applied += r.len / BOCHS_PAGE;
	return 0;
}

/**
 * bochs_revert() - a rejected stream: VRAM back to what it held before
 * @ld: the device
 *
 * Every page the session wrote gets its undo copy back; nothing is
 * covered afterwards, so a second call writes nothing.
 */
static void bochs_revert(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);
	void __iomem *vram = bochs_vram(ld);
	unsigned long pg = 0, end;
	size_t off;

	if (!vram || !bd->covered)
		return;
	while (pg < bd->npages) {
		pg = find_next_bit(bd->covered, bd->npages, pg);
		if (pg >= bd->npages)
			break;
		end = find_next_zero_bit(bd->covered, bd->npages, pg);
		end = min_t(unsigned long, end, pg + BOCHS_RESCHED_PAGES);
		off = pg * BOCHS_PAGE;
		memcpy_toio(vram + off, bd->undo + off, (end - pg) * BOCHS_PAGE);
		pg = end;
		cond_resched();
	}
	bitmap_zero(bd->covered, bd->npages);
}

/**
 * bochs_load() - RESUMING -> STOP: the registers, once the stream is whole
 * @ld: the device
 *
 * VRAM is in place already (bochs_apply()); the stream is whole when
 * every page was covered and the registers arrived.
 *
 * Return: 0, -EBADMSG for an incomplete stream, or -EIO if the registers
 * did not take the values written.
 */
static int bochs_load(struct livemig_device *ld)
{
	struct bochs_dev *bd = livemig_priv(ld);

	if (!bd->covered || !bd->staged_valid ||
	    !bitmap_full(bd->covered, bd->npages))
		return -LM_ECORRUPT;
	return bochs_write_regs(ld, &bd->staged);
}

/**
 * bochs_reset() - VFIO_DEVICE_RESET: registers back to power-on values
 * @ld: the device
 *
 * Display disabled, every VBE register zero, little-endian framebuffer.
 * VRAM is memory and keeps its contents, as across a reset of QEMU.
 *
 * Return: 0 or -EIO.
 */
static int bochs_reset(struct livemig_device *ld)
{
	struct bochs_regs r = { .byteorder = BOCHS_LITTLE_ENDIAN };

	return bochs_write_regs(ld, &r);
}

/* debugfs: VRAM and where the walk of the saving session stands. */
static void bochs_show(struct livemig_device *ld, struct seq_file *m)
{
	struct bochs_dev *bd = livemig_priv(ld);

	seq_printf(m, "bochs_vram_bytes: %llu\n", bd->vram_size);
	seq_printf(m, "bochs_saving: %d\n", bd->saving);
	seq_printf(m, "bochs_pages_hashed: %llu\n", bd->hashed);
	if (bd->saving) {
		seq_printf(m, "bochs_pages_walked: %u of %u\n", bd->cursor,
			   bd->npages);
		seq_printf(m, "bochs_pages_dirty: %u\n", bd->ndirty);
		seq_printf(m, "bochs_write_tracking: %d\n", bd->tracked);
	}
	seq_printf(m, "bochs_staged: %d\n", bd->staged_valid);
	seq_printf(m, "bochs_pages_applied: %llu\n", bd->applied);
}

const struct livemig_engine bochs_engine = {
	.name = "bochs-display",
	.engine_id = BOCHS_ENGINE_ID,
	.version = BOCHS_ENGINE_VERSION,
	.max_record = BOCHS_REC_MAX,
	.mapped_bars = BIT(BOCHS_VRAM_BAR) | BIT(BOCHS_MMIO_BAR),
	.priv_size = sizeof(struct bochs_dev),
	/* The device never masters the bus: there is no DMA to log. */
	.tracks_dma = true,
	.write_tracked_bars = BIT(BOCHS_VRAM_BAR),
	.match = bochs_match,
	.open = bochs_open,
	.identity = bochs_identity,
	.save_begin = bochs_save_begin,
	.save = bochs_save,
	.save_end = bochs_save_end,
	.pending = bochs_pending,
	.state_size = bochs_state_size,
	.check_identity = bochs_check_identity,
	.resume_begin = bochs_resume_begin,
	.stage = bochs_stage,
	.apply = bochs_apply,
	.revert = bochs_revert,
	.load = bochs_load,
	.resume_end = bochs_resume_end,
	.reset = bochs_reset,
	.show = bochs_show,
};
