// SPDX-License-Identifier: GPL-2.0
/*
 * livemig DMA dirty tracking: the vfio_log_ops.
 *
 * A reusable range store: the user (QEMU) names up to
 * LIVEMIG_DIRTY_MAX_RANGES IOVA ranges and a page size; each range gets a
 * bitmap.  Engines that see their device's DMA writes (e.g. through a
 * trapped doorbell) call livemig_dirty_mark(); DMA_LOGGING_REPORT reads and
 * clears the bits through vfio's iova_bitmap.
 *
 * vfio core can only report when the kernel has iova_bitmap (always up to
 * 6.6, only with CONFIG_IOMMUFD_DRIVER since; see compat.h); without it the
 * log ops are not offered at all, so a user never starts logging that can
 * never be reported.
 *
 * Locking: the store is protected by the device's state_mutex.
 */
#include <linux/bitmap.h>
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "livemig.h"

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
	struct livemig_dirty *d = ld->dirty;
	u64 end, first, last;
	u32 i;

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
		first = (max(iova, r->iova) - r->iova) >> d->page_shift;
		last = (min(end, rlast) - r->iova) >> d->page_shift;
		bitmap_set(r->bits, first, last - first + 1);
	}
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

/**
 * livemig_dirty_stop_locked() - stop logging and free its memory
 * @ld: the device, state_mutex held
 */
void livemig_dirty_stop_locked(struct livemig_device *ld)
{
	livemig_dirty_free(ld->dirty);
	ld->dirty = NULL;
}

static int livemig_log_start(struct vfio_device *vdev,
			     struct rb_root_cached *ranges, u32 nnodes,
			     u64 *page_size)
{
	struct livemig_device *ld = to_ld(vdev);
	struct interval_tree_node *node;
	struct livemig_dirty *d;
	u64 pages = 0;
	int ret = 0;
	u32 i = 0;

	/* vfio core checked alignment, overflow and overlaps already. */
	if (!is_power_of_2(*page_size) || *page_size < PAGE_SIZE ||
	    *page_size > LIVEMIG_DIRTY_MAX_PAGE_SIZE)
		return -EINVAL;
	if (nnodes > LIVEMIG_DIRTY_MAX_RANGES)
		return -E2BIG;

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d)
		return -ENOMEM;
	d->page_shift = ilog2(*page_size);
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		struct livemig_dirty_range *r = &d->ranges[i];

		r->iova = node->start;
		r->length = node->last - node->start + 1;
		r->npages = r->length >> d->page_shift;
		pages += r->npages;
		if (!r->npages || pages > LIVEMIG_DIRTY_MAX_PAGES) {
			ret = r->npages ? -E2BIG : -EINVAL;
			goto err_free;
		}
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
		d->nranges = ++i;
	}

	livemig_lock(ld);
	if (!ld->open || ld->dirty) {
		ret = ld->dirty ? -EBUSY : -ENODEV;
		livemig_unlock(ld);
		goto err_free;
	}
	ld->dirty = d;
	livemig_unlock(ld);
	return 0;

err_free:
	livemig_dirty_free(d);
	return ret;
}

static int livemig_log_stop(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_lock(ld);
	livemig_dirty_stop_locked(ld);
	livemig_unlock(ld);
	return 0;
}

static int livemig_dirty_report(struct livemig_dirty *d, unsigned long iova,
				unsigned long length,
				struct iova_bitmap *dirty)
{
	u64 end = (u64)iova + length - 1, covered = 0;
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
		bit = (lo - r->iova) >> d->page_shift;
		last = (hi - r->iova) >> d->page_shift;
		for_each_set_bit_from(bit, r->bits, last + 1) {
			iova_bitmap_set(dirty,
					r->iova + ((u64)bit << d->page_shift),
					1UL << d->page_shift);
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
	int ret;

	livemig_lock(ld);
	if (!ld->dirty) {
		ret = -EINVAL;
		goto out;
	}
	/* Let the engine mark DMA that may have landed since the last look. */
	if (ld->engine->dirty_sync) {
		ret = livemig_hw_begin(ld);
		if (ret)
			goto out;
		ld->engine->dirty_sync(ld);
		livemig_hw_end(ld);
	}
	ret = livemig_dirty_report(ld->dirty, iova, length, dirty);
out:
	livemig_unlock(ld);
	return ret;
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
