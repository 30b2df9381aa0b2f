// SPDX-License-Identifier: GPL-2.0
/*
 * livemig DMA dirty tracking: the vfio_log_ops.
 *
 * A reusable range store: the user (QEMU) names up to a page of IOVA
 * ranges (vfio core's limit) and a page size hint; each range gets a
 * bitmap.  Engines that see their device's DMA writes (e.g. through a
 * trapped doorbell) call livemig_dirty_mark(); DMA_LOGGING_REPORT reads and
 * clears the bits through vfio's iova_bitmap.
 *
 * What the header lets a driver choose, chosen here:
 * - More than LIVEMIG_DIRTY_MAX_RANGES ranges are merged, closest pair
 *   first, so a merged range also logs the gap it swallowed (DMA there is
 *   reported, never lost).
 * - The page size is the hint rounded down to a power of two, at least
 *   PAGE_SIZE and at most LIVEMIG_DIRTY_MAX_PAGE_SIZE, doubled while the
 *   ranges need more than LIVEMIG_DIRTY_MAX_PAGES bits; it is returned to
 *   the user.  Tracking pages are aligned to their size.
 * - A report whose window covers only part of a dirty tracking page sets
 *   the part it covers and keeps the bit: it is cleared by the report that
 *   covers the whole page (inside its range).  Over-reporting is safe;
 *   clearing a bit vfio core could not record would lose a page.
 *
 * vfio core can only report when the kernel has iova_bitmap (always up to
 * 6.6, only with CONFIG_IOMMUFD_DRIVER since; see compat.h); without it the
 * log ops are not offered at all, so a user never starts logging that can
 * never be reported.
 *
 * Locking: the store is protected by the device's state_mutex.
 */
#include <linux/bitmap.h>
#include <linux/highmem.h>
#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/iova_bitmap.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dirty.h"
#include "state.h"

/*
 * Limits of the DMA dirty-range store.  More ranges than it
 * keeps are merged; more pages than it tracks take a larger page.
 */
#define LIVEMIG_DIRTY_MAX_RANGES	16
#define LIVEMIG_DIRTY_MAX_PAGES		BIT_ULL(28)	/* 32 MiB of bitmap */
#define LIVEMIG_DIRTY_MAX_PAGE_SIZE	BIT_ULL(30)

/**
 * struct livemig_dirty_range - one logged IOVA range
 * @iova: first byte
 * @length: bytes (a merged range also covers the gaps it swallowed)
 * @base: index of the first tracking page, counted from IOVA 0: tracking
 *        pages are aligned to their size, not to the range
 * @npages: tracking pages the range touches, bits in @bits
 * @bits: bit i set when the device wrote tracking page @base + i (inside
 *        the range) since the last report that covered it
 */
struct livemig_dirty_range {
	u64 iova;
	u64 length;
	u64 base;
	u64 npages;
	unsigned long *bits;
};

/**
 * struct livemig_dirty - DMA logging state, protected by state_mutex
 * @session: its slot in state.c (LIVEMIG_SLOT_DIRTY) while logging runs
 * @page_shift: log2 of the tracking page size
 * @nranges: ranges in use
 * @ranges: the ranges, sorted by IOVA
 */
struct livemig_dirty {
	struct livemig_session session;
	unsigned int page_shift;
	u32 nranges;
	struct livemig_dirty_range ranges[LIVEMIG_DIRTY_MAX_RANGES];
};

/* The DMA log of @ld while logging runs, else NULL; state_mutex held. */
static struct livemig_dirty *livemig_dirty_log(struct livemig_device *ld)
{
	struct livemig_session *s = livemig_slot(ld, LIVEMIG_SLOT_DIRTY);

	return s ? container_of(s, struct livemig_dirty, session) : NULL;
}

/**
 * livemig_dirty_mark() - the device wrote [@iova, @iova + @len)
 * @ld: the device, state_mutex held
 * @iova: first byte written, as the device addressed it
 * @len: bytes written (0 marks nothing)
 *
 * Marks every tracked page the range touches; parts outside the tracked
 * ranges are not recorded (the user did not ask for them).  No-op when
 * logging is off.
 */
void livemig_dirty_mark(struct livemig_device *ld, u64 iova, u64 len)
{
	struct livemig_dirty *d;
	u64 end, first, last;
	u32 i;

	lockdep_assert_held(&ld->state_mutex);
	d = livemig_dirty_log(ld);
	if (!d || !len)
		return;
	end = iova + len - 1;
	if (end < iova)
		end = U64_MAX;
	for (i = 0; i < d->nranges; i++) {
		struct livemig_dirty_range *r = &d->ranges[i];
		u64 rlast = r->iova + r->length - 1;

		if (end < r->iova || iova > rlast)
			continue;
		first = (max(iova, r->iova) >> d->page_shift) - r->base;
		last = (min(end, rlast) >> d->page_shift) - r->base;
		bitmap_set(r->bits, first, last - first + 1);
	}
}

/**
 * livemig_dirty_logging() - is DMA logging running on the device?
 * @ld: the device, state_mutex held
 *
 * Return: true from a successful LOG_START until LOG_STOP, a reset or
 * close; livemig_dirty_mark() records nothing otherwise.
 */
bool livemig_dirty_logging(struct livemig_device *ld)
{
	lockdep_assert_held(&ld->state_mutex);
	return livemig_dirty_log(ld);
}

/*
 * Copy what lies at @phys (within one page) into @dst, if it is RAM the
 * kernel can take a reference on: a page freed under us (an unmap racing
 * with the read) is refused, not read.
 */
static int livemig_peek_page(phys_addr_t phys, void *dst, size_t n)
{
	unsigned long pfn = PHYS_PFN(phys);
	struct folio *folio;
	struct page *page;
	void *va;

	if (!pfn_valid(pfn))
		return -EFAULT;
	page = pfn_to_page(pfn);
	if (is_zone_device_page(page))
		return -EFAULT;
	folio = page_folio(page);
	if (!folio_try_get(folio))
		return -EFAULT;
	if (unlikely(page_folio(page) != folio)) {
		folio_put(folio);
		return -EFAULT;
	}
	va = kmap_local_page(page);
	memcpy(dst, va + offset_in_page(phys), n);
	kunmap_local(va);
	folio_put(folio);
	return 0;
}

/**
 * livemig_dma_peek() - read memory the way the device would DMA from it
 * @ld: the device, state_mutex held
 * @iova: first byte, as the device addresses it
 * @buf: where to copy
 * @len: bytes
 *
 * Translates through the IOMMU domain the device is attached to (a type1
 * container's or an iommufd page table) and copies from the RAM found
 * there.  Takes no sleeping lock, so it may run under vfio-pci core's
 * memory_lock, where vfio_dma_rw() (which faults pages in under
 * mmap_lock, and is not offered for a physical device bound through
 * iommufd) may not.  For engines that learn where their device will DMA
 * from descriptors in user memory (DMA logging).
 *
 * Return: 0, -ENODEV when the device has no paging domain, or -EFAULT
 * when part of the range is not mapped to RAM; @buf is then undefined.
 */
int livemig_dma_peek(struct livemig_device *ld, u64 iova, void *buf,
		     size_t len)
{
	struct iommu_domain *dom;
	u8 *dst = buf;

	lockdep_assert_held(&ld->state_mutex);
	dom = iommu_get_domain_for_dev(&ld->core.pdev->dev);
	if (!dom || !(dom->type & __IOMMU_DOMAIN_PAGING))
		return -ENODEV;
	while (len) {
		size_t n = min_t(u64, len, PAGE_SIZE - (iova & ~PAGE_MASK));
		phys_addr_t phys = iommu_iova_to_phys(dom, iova);
		int ret;

		if (!phys)
			return -EFAULT;
		ret = livemig_peek_page(phys, dst, n);
		if (ret)
			return ret;
		dst += n;
		iova += n;
		len -= n;
	}
	return 0;
}

static void livemig_dirty_free(struct livemig_dirty *d)
{
	u32 i;

	if (!d)
		return;
	for (i = 0; i < d->nranges; i++)
		kvfree(d->ranges[i].bits);
	kfree(d);
}

/* The log's ->end (LOG_STOP, reset, close): its memory goes. */
static void livemig_dirty_end(struct livemig_session *s)
{
	livemig_dirty_free(container_of(s, struct livemig_dirty, session));
}

/* An inclusive IOVA span, while ranges are gathered and merged. */
struct livemig_span {
	u64 first;
	u64 last;
};

/* Merge the closest neighbours until at most @max spans remain. */
static u32 livemig_dirty_merge(struct livemig_span *s, u32 n, u32 max)
{
	u32 i, best;

	while (n > max) {
		best = 0;
		for (i = 1; i + 1 < n; i++)
			if (s[i + 1].first - s[i].last <
			    s[best + 1].first - s[best].last)
				best = i;
		s[best].last = s[best + 1].last;
		memmove(&s[best + 1], &s[best + 2],
			(n - best - 2) * sizeof(*s));
		n--;
	}
	return n;
}

static u64 livemig_dirty_pages(const struct livemig_span *s, u32 n,
			       unsigned int shift)
{
	u64 pages = 0;
	u32 i;

	for (i = 0; i < n; i++)
		pages += (s[i].last >> shift) - (s[i].first >> shift) + 1;
	return pages;
}

/*
 * The tracking page shift for a @hint: a power of two the store does, the
 * smallest at or above the hint's that keeps the bitmaps within
 * LIVEMIG_DIRTY_MAX_PAGES.  Returns 0 if even the largest page is too many.
 */
static unsigned int livemig_dirty_shift(u64 hint, const struct livemig_span *s,
					u32 n)
{
	const unsigned int max = ilog2(LIVEMIG_DIRTY_MAX_PAGE_SIZE);
	unsigned int shift;

	if (hint <= PAGE_SIZE)
		shift = PAGE_SHIFT;
	else
		shift = min_t(unsigned int, ilog2(hint), max);
	for (; shift <= max; shift++)
		if (livemig_dirty_pages(s, n, shift) <= LIVEMIG_DIRTY_MAX_PAGES)
			return shift;
	return 0;
}

static int livemig_log_start(struct vfio_device *vdev,
			     struct rb_root_cached *ranges, u32 nnodes,
			     u64 *page_size)
{
	struct livemig_device *ld = to_ld(vdev);
	struct interval_tree_node *node;
	struct livemig_span *spans;
	struct livemig_dirty *d;
	unsigned int shift;
	u32 i = 0, n = 0;
	int ret = 0;

	/*
	 * vfio core checked alignment, overflow and overlaps, and caps
	 * @nnodes at a page of ranges; the tree is in IOVA order.
	 */
	spans = kmalloc_array(nnodes, sizeof(*spans), GFP_KERNEL);
	if (!spans)
		return -ENOMEM;
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX);
	     node && n < nnodes;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		/* Not every kernel's vfio core refuses a zero length. */
		if (node->last < node->start) {
			ret = -EINVAL;
			goto out_spans;
		}
		spans[n].first = node->start;
		spans[n++].last = node->last;
	}
	if (WARN_ON_ONCE(!n)) {
		ret = -EINVAL;
		goto out_spans;
	}
	n = livemig_dirty_merge(spans, n, LIVEMIG_DIRTY_MAX_RANGES);
	shift = livemig_dirty_shift(*page_size, spans, n);
	if (!shift) {
		ret = -E2BIG;
		goto out_spans;
	}

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d) {
		ret = -ENOMEM;
		goto out_spans;
	}
	d->session.end = livemig_dirty_end;
	d->page_shift = shift;
	for (i = 0; i < n; i++) {
		struct livemig_dirty_range *r = &d->ranges[i];

		r->iova = spans[i].first;
		r->length = spans[i].last - spans[i].first + 1;
		r->base = spans[i].first >> shift;
		r->npages = (spans[i].last >> shift) - r->base + 1;
		/*
		 * Up to 32 MiB: more than kmalloc gives in one piece, which
		 * it refuses with a WARN; kvcalloc falls back to vmalloc.
		 */
		r->bits = kvcalloc(BITS_TO_LONGS(r->npages), sizeof(long),
				   GFP_KERNEL_ACCOUNT);
		if (!r->bits) {
			ret = -ENOMEM;
			goto err_free;
		}
		d->nranges = i + 1;
	}

	livemig_lock(ld);
	if (!ld->open || livemig_dirty_log(ld)) {
		ret = livemig_dirty_log(ld) ? -EBUSY : -ENODEV;
		livemig_unlock(ld);
		goto err_free;
	}
	livemig_slot_set(ld, LIVEMIG_SLOT_DIRTY, &d->session);
	/*
	 * The engine marks what its device may write from now on (e.g. the
	 * buffers already posted to it); a failure it must cover itself.
	 */
	if (ld->engine->dirty_start)
		livemig_hw_call(ld, "dirty_start",
				(ld->engine->dirty_start(ld), 0));
	livemig_unlock(ld);
	*page_size = 1ULL << shift;
	goto out_spans;

err_free:
	livemig_dirty_free(d);
out_spans:
	kfree(spans);
	return ret;
}

static int livemig_log_stop(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_lock(ld);
	livemig_end_locked(ld, LIVEMIG_SLOT_DIRTY);
	livemig_unlock(ld);
	return 0;
}

/*
 * Report and clear the dirty pages of [@iova, @iova + @length) into
 * @dirty.  A tracking page the window covers only in part is reported for
 * that part and kept (see the top of this file).
 */
static int livemig_dirty_report(struct livemig_dirty *d, unsigned long iova,
				unsigned long length,
				struct iova_bitmap *dirty)
{
	u64 end = (u64)iova + length - 1, covered = 0;
	const unsigned int shift = d->page_shift;
	unsigned long bit, last;
	u32 i;

	if (!length)
		return 0;
	for (i = 0; i < d->nranges; i++) {
		struct livemig_dirty_range *r = &d->ranges[i];
		u64 rlast = r->iova + r->length - 1;
		u64 lo, hi;

		if (end < r->iova || iova > rlast)
			continue;
		lo = max_t(u64, iova, r->iova);
		hi = min(end, rlast);
		covered += hi - lo + 1;
		bit = (lo >> shift) - r->base;
		last = (hi >> shift) - r->base;
		for_each_set_bit_from(bit, r->bits, last + 1) {
			u64 first = (r->base + bit) << shift;
			u64 plast = first + BIT_ULL(shift) - 1;
			u64 from = max(first, lo), to = min(plast, hi);

			iova_bitmap_set(dirty, from, to - from + 1);
			if (max(first, r->iova) >= lo && min(plast, rlast) <= hi)
				clear_bit(bit, r->bits);
		}
	}
	/* A report must stay inside what logging was started for. */
	return covered == length ? 0 : -EINVAL;
}

static int livemig_log_read_and_clear(struct vfio_device *vdev,
				      unsigned long iova, unsigned long length,
				      struct iova_bitmap *dirty)
{
	struct livemig_device *ld = to_ld(vdev);
	const struct livemig_engine *e = ld->engine;
	struct livemig_dirty *d;
	int ret;

	livemig_lock(ld);
	d = livemig_dirty_log(ld);
	if (!d) {
		ret = -EINVAL;
		goto out;
	}
	/* Let the engine mark DMA that may have landed since the last look. */
	if (e->dirty_sync) {
		ret = livemig_hw_call(ld, "dirty_sync", (e->dirty_sync(ld), 0));
		if (ret)
			goto out;
	}
	ret = livemig_dirty_report(d, iova, length, dirty);
out:
	livemig_unlock(ld);
	return ret;
}

/**
 * livemig_dirty_show() - DMA logging, for debugfs
 * @ld: the device, state_mutex held
 * @m: where to print; one line
 */
void livemig_dirty_show(struct livemig_device *ld, struct seq_file *m)
{
	struct livemig_dirty *d = livemig_dirty_log(ld);
	u64 dirty = 0;
	u32 i;

	if (!d) {
		seq_printf(m, "dma_logging: %s\n",
			   livemig_dirty_ops(ld) ? "off" : "not offered");
		return;
	}
	for (i = 0; i < d->nranges; i++)
		dirty += bitmap_weight(d->ranges[i].bits, d->ranges[i].npages);
	seq_printf(m, "dma_logging: ranges %u page_size %llu dirty_pages %llu\n",
		   d->nranges, BIT_ULL(d->page_shift), dirty);
}

static const struct vfio_log_ops livemig_log_ops = {
	.log_start = livemig_log_start,
	.log_stop = livemig_log_stop,
	.log_read_and_clear = livemig_log_read_and_clear,
};

/**
 * livemig_dirty_ops() - log ops to offer for a device
 * @ld: the device being initialised
 *
 * Return: the ops if the engine tracks its DMA and the kernel can report
 * it, else NULL.
 */
const struct vfio_log_ops *livemig_dirty_ops(struct livemig_device *ld)
{
	if (!LIVEMIG_KERNEL_REPORTS_DMA_LOG || !ld->engine->tracks_dma)
		return NULL;
	return &livemig_log_ops;
}
