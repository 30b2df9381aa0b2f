// SPDX-License-Identifier: GPL-2.0
/*
 * livemig core: write tracking of an mmapped BAR.
 *
 * An engine whose device keeps a large memory BAR mmapped by the user
 * (bochs-display's VRAM) needs to know which pages the user wrote since
 * it last copied them, without reading the BAR again.  The core gives
 * the BAR's mappings vm_ops of their own: vfio-pci core's fault handler,
 * wrapped so that each fault also sets the page's bit, and no
 * ->huge_fault, so that every 4 KiB page faults on its own.
 * livemig_wt_collect() hands the bits to the engine and then zaps the
 * BAR's mappings, so that the next access to any page faults (and sets
 * its bit) again.
 *
 * What is tracked is "accessed since the last collection", a superset of
 * "written": PTEs are inserted writable, as vfio-pci core inserts them,
 * so that nothing changes for the user.  Tracking writes alone would need
 * read-only PTEs and ->pfn_mkwrite, and then KVM would emulate the
 * guest's first write to every page it had read since the last collection
 * (hva_to_pfn_remapped() reports a read-only host PTE as a read-only
 * fault), and VFIO type1 could no longer map the BAR for peer DMA
 * (follow_fault_pfn() refuses a read-only PTE).  An engine resends a
 * tracked page only if its contents changed, so a page that was only read
 * costs a copy and a hash, never stream bytes.
 *
 * Ordering.  The fault handler sets the bit after core's handler inserted
 * the PTE; a collection takes the bits and then zaps.  Any PTE is thus
 * zapped by the first collection after it was inserted or by a later one,
 * and its bit is taken by the first collection after the handler set it
 * or a later one: every access through it happens before a collection
 * that takes a bit set after the PTE was inserted completes.  An engine
 * that copies a page only after the collection that reported it (or, for
 * a page never copied, after any collection) copies every write that no
 * later collection reports.  A write() through the region is noted after
 * it reached the BAR, for the same reason.
 *
 * What no PTE sees (a peer's DMA into the BAR, an ioeventfd on it) is not
 * tracked: an engine finds those by reading the BAR once the device is
 * stopped.
 *
 * Kernels whose vfio-pci core keeps no address_space per device (before
 * 6.10, see livemig/compat.h) get no tracking: livemig_wt_active() says
 * so and engines fall back to reading the BAR.
 */
#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "livemig/compat.h"
#include "livemig/engine.h"
#include "wtrack.h"

/**
 * livemig_wt_init() - set up tracking for the engine's write-tracked BAR
 * @ld: the device, at init (before vfio-pci core's init sets its pdev)
 * @pdev: its PCI function
 *
 * Return: 0 or -ENOMEM.
 */
int livemig_wt_init(struct livemig_device *ld, struct pci_dev *pdev)
{
	struct livemig_wtrack *wt = &ld->wt;
	unsigned long bars = ld->engine->write_tracked_bars;
	u64 len;

	wt->bar = -1;
	mutex_init(&wt->ops_lock);
	if (!LIVEMIG_HAVE_WTRACK || !bars)
		return 0;
	if (WARN_ON_ONCE(hweight_long(bars) != 1 ||
			 !(bars & ld->engine->mapped_bars)))
		return 0;
	len = pci_resource_len(pdev, __ffs(bars));
	if (!len || len % PAGE_SIZE)
		return 0;
	wt->npages = len >> PAGE_SHIFT;
	wt->written = kvcalloc(BITS_TO_LONGS(wt->npages), sizeof(long),
			       GFP_KERNEL);
	if (!wt->written)
		return -ENOMEM;
	wt->bar = __ffs(bars);
	return 0;
}

/**
 * livemig_wt_destroy() - undo livemig_wt_init()
 * @ld: the device, at release
 */
void livemig_wt_destroy(struct livemig_device *ld)
{
	kvfree(ld->wt.written);
	ld->wt.written = NULL;
	ld->wt.bar = -1;
	mutex_destroy(&ld->wt.ops_lock);
}

/* The BAR's pages in the device's address_space, first and count. */
static pgoff_t livemig_wt_pgoff(struct livemig_wtrack *wt)
{
	return VFIO_PCI_INDEX_TO_OFFSET(wt->bar) >> PAGE_SHIFT;
}

static struct livemig_device *livemig_wt_ld(struct vm_area_struct *vma)
{
	struct vfio_pci_core_device *core = vma->vm_private_data;

	return container_of(core, struct livemig_device, core);
}

static vm_fault_t livemig_wt_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct livemig_wtrack *wt = &livemig_wt_ld(vma)->wt;
	unsigned long pg;
	vm_fault_t ret;

	ret = wt->core_vm_ops->fault(vmf);
	pg = vma->vm_pgoff - livemig_wt_pgoff(wt) +
	     ((vmf->address - vma->vm_start) >> PAGE_SHIFT);
	if (!WARN_ON_ONCE(pg >= wt->npages))
		set_bit(pg, wt->written);
	return ret;
}

/* A tracked mapping: vfio-pci core's fault handler, 4 KiB PTEs only. */
static const struct vm_operations_struct livemig_wt_vm_ops = {
	.fault = livemig_wt_fault,
};

/* vfio-pci core's BAR vm_ops hold nothing but what the wrapper forwards. */
static bool livemig_wt_wrappable(const struct vm_operations_struct *ops)
{
	const u8 *base = (const u8 *)ops;
	u8 rest[sizeof(*ops)];

	memcpy(rest, ops, sizeof(rest));
	memset(rest + ((const u8 *)&ops->fault - base), 0, sizeof(ops->fault));
	memset(rest + ((const u8 *)&ops->huge_fault - base), 0,
	       sizeof(ops->huge_fault));
	return ops->fault && !memchr_inv(rest, 0, sizeof(rest));
}

/**
 * livemig_wt_mmap() - give a new mapping of the tracked BAR our vm_ops
 * @ld: the device
 * @vma: a mapping vfio_pci_core_mmap() just set up
 *
 * Called from ->mmap, after vfio_pci_core_mmap() set the mapping up.  If
 * vfio-pci core's vm_ops are not what the wrapper expects (a kernel this
 * module does not know), the mapping keeps them and tracking stops for
 * the device: livemig_wt_active() says 0 from then on, and engines find
 * changes by reading the BAR.
 *
 * Return: 0.
 */
int livemig_wt_mmap(struct livemig_device *ld, struct vm_area_struct *vma)
{
	struct livemig_wtrack *wt = &ld->wt;

	if (wt->bar < 0 || vma->vm_pgoff >> (VFIO_PCI_OFFSET_SHIFT -
					    PAGE_SHIFT) != wt->bar)
		return 0;
	mutex_lock(&wt->ops_lock);
	if (!wt->core_vm_ops && livemig_wt_wrappable(vma->vm_ops))
		wt->core_vm_ops = vma->vm_ops;
	if (vma->vm_ops == wt->core_vm_ops &&
	    vma->vm_private_data == &ld->core) {
		vma->vm_ops = &livemig_wt_vm_ops;
	} else {
		pci_warn_once(ld->core.pdev,
			      "livemig: unexpected BAR mapping, writes to BAR %d not tracked\n",
			      wt->bar);
		WRITE_ONCE(wt->broken, true);
	}
	mutex_unlock(&wt->ops_lock);
	return 0;
}

/**
 * livemig_wt_note_write() - the user wrote the tracked BAR with write()
 * @ld: the device
 * @pos: file position of the write (region index and offset)
 * @len: bytes written
 *
 * Called after the write reached the BAR.
 */
void livemig_wt_note_write(struct livemig_device *ld, loff_t pos, size_t len)
{
	struct livemig_wtrack *wt = &ld->wt;
	u64 off = pos & VFIO_PCI_OFFSET_MASK;
	unsigned long first, last;

	if (wt->bar < 0 || VFIO_PCI_OFFSET_TO_INDEX(pos) != wt->bar || !len)
		return;
	first = off >> PAGE_SHIFT;
	last = min_t(u64, (off + len - 1) >> PAGE_SHIFT, wt->npages - 1);
	for (; first <= last && first < wt->npages; first++)
		set_bit(first, wt->written);
}

/**
 * livemig_wt_active() - are writes to a BAR of the device tracked?
 * @ld: the device
 * @bar: the BAR, one of the engine's write_tracked_bars
 *
 * Return: the number of pages tracked (PAGE_SIZE each), or 0 when this
 * kernel cannot track them.
 */
unsigned long livemig_wt_active(struct livemig_device *ld, int bar)
{
	return ld->wt.bar == bar && !READ_ONCE(ld->wt.broken) ?
	       ld->wt.npages : 0;
}

/**
 * livemig_wt_collect() - pages the user may have written since the last one
 * @ld: the device, state_mutex held
 * @dst: a bitmap of livemig_wt_active() bits; each page accessed through a
 *	mapping or written with write() since the last collection is set in
 *	it (bits already set stay set)
 *
 * Then zaps every mapping of the BAR, so that later accesses are seen.
 * Reads nothing of the BAR and takes no vfio lock: the cost is a pass
 * over the bitmap and the unmapping of the user's PTEs.
 */
void livemig_wt_collect(struct livemig_device *ld, unsigned long *dst)
{
	struct livemig_wtrack *wt = &ld->wt;
	unsigned long i;

	lockdep_assert_held(&ld->state_mutex);
	if (WARN_ON_ONCE(wt->bar < 0))
		return;
	for (i = 0; i < BITS_TO_LONGS(wt->npages); i++)
		if (READ_ONCE(wt->written[i]))
			dst[i] |= xchg(&wt->written[i], 0);
	unmap_mapping_range(livemig_dev_mapping(&ld->core),
			    (loff_t)livemig_wt_pgoff(wt) << PAGE_SHIFT,
			    (loff_t)wt->npages << PAGE_SHIFT, true);
}

/**
 * livemig_wt_count() - pages livemig_wt_collect() would report, not in @skip
 * @ld: the device, state_mutex held
 * @skip: a bitmap of livemig_wt_active() bits: pages not to count
 * @below: count only pages below this one
 *
 * Return: the number of pages.
 */
unsigned long livemig_wt_count(struct livemig_device *ld,
			       const unsigned long *skip, unsigned long below)
{
	struct livemig_wtrack *wt = &ld->wt;
	unsigned long i, w, n = 0;

	lockdep_assert_held(&ld->state_mutex);
	if (wt->bar < 0)
		return 0;
	below = min(below, wt->npages);
	for (i = 0; i < BITS_TO_LONGS(below); i++) {
		w = READ_ONCE(wt->written[i]) & ~skip[i];
		if ((i + 1) * BITS_PER_LONG > below)
			w &= BITMAP_LAST_WORD_MASK(below);
		n += hweight_long(w);
	}
	return n;
}
