/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: private definitions shared by main.c, fsm.c and migf.c.
 * Engines see only include/livemig/engine.h.
 */
#ifndef LIVEMIG_CORE_H
#define LIVEMIG_CORE_H

#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/vfio_pci_core.h>
#include <linux/wait.h>

#include "livemig/engine.h"

/*
 * Room for an engine's compat blob in the IDENTITY record: enough for a
 * display's EDID (a 128-byte base block and extension blocks) beside
 * the engine's own words.
 */
#define LIVEMIG_ID_BLOB_MAX	1024

/**
 * struct livemig_file - one data transfer session (a data FD)
 * @filp: the anonymous-inode file handed to the user
 * @ld: the device; the file holds a reference on it (get_device()), so
 *	the memory stays valid even after the device is unbound
 * @saving: true for a saving session (read-only FD), false for resuming
 * @disabled: the session has ended (state change, close, reset): every
 *	further operation fails with -ENODEV
 * @final: saving: the stream is complete (STOP_COPY); the end is permanent
 * @err: saving: sticky error that read() returns; resuming: unused
 * @rejected: resuming: the one log line for a rejected stream was printed
 * @wq: poll waiters
 * @buf: saving: bytes [@buf_start, @produced) of the stream
 * @buf_start: absolute stream offset of @buf[0]
 * @cap: size of @buf
 * @produced: saving: absolute count of bytes emitted
 * @consumed: saving: bytes read; resuming: bytes written
 * @initial_end: saving: absolute offset where the PRE_COPY initial data ends
 * @more: saving: the engine has more to emit for @more_phase
 * @more_phase: saving: the phase the engine is in the middle of
 * @spent: saving: budget the engine's ->save calls used so far, emitted
 *	and charged bytes (livemig_save_charge()); bounds one read's work
 * @parser: resuming: the stream parser
 * @payload: resuming: the parser's record buffer
 * @bounce: resuming: copy_from_user() staging, one page
 *
 * Locking: every field but @filp, @ld, @saving and @wq is protected by
 * @ld->state_mutex.  FD operations take it themselves; the reference the
 * file holds keeps the mutex alive.
 */
struct livemig_file {
	struct file *filp;
	struct livemig_device *ld;
	bool saving;
	bool disabled;
	bool final;
	int err;
	bool rejected;
	wait_queue_head_t wq;
	u8 *buf;
	u64 buf_start;
	size_t cap;
	u64 produced;
	u64 consumed;
	u64 initial_end;
	bool more;
	enum livemig_save_phase more_phase;
	u64 spent;
	struct lm_parser parser;
	u8 *payload;
	u8 *bounce;
};

/*
 * Bytes one ->save call may emit, or examine without emitting, before it
 * should return MORE; also about what one read() makes the engine do.
 */
#define LIVEMIG_SAVE_BUDGET	(1024 * 1024)

/* What engines hold when they emit: the saving session and the call's start. */
struct livemig_save {
	struct livemig_file *migf;
	u64 start;
	u64 work;	/* work charged that emitted nothing, in bytes */
};

/*
 * Limits of the DMA dirty-range store (dirty.c).  More ranges than it
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
 * @page_shift: log2 of the tracking page size
 * @nranges: ranges in use
 * @ranges: the ranges, sorted by IOVA
 */
struct livemig_dirty {
	unsigned int page_shift;
	u32 nranges;
	struct livemig_dirty_range ranges[LIVEMIG_DIRTY_MAX_RANGES];
};

/**
 * struct livemig_device - a PCI function driven by this module
 * @core: vfio-pci core device; must stay first for vfio_alloc_device()
 * @engine: the engine that saves and restores this function
 * @priv: engine private data, @engine->priv_size bytes
 * @state_mutex: serialises the migration FSM (@mig_state), the sessions
 *	(@saving, @resuming and their contents), trapped BAR accesses and
 *	every engine op.  Lock order: state_mutex -> vfio's memory_lock;
 *	mmap_lock nests inside state_mutex (copy_to/from_user in FD
 *	operations).  Never taken under memory_lock: the PCI reset_done
 *	callback runs with memory_lock held and only try-locks it, leaving
 *	the reset to livemig_unlock() otherwise (@deferred_reset).
 * @mig_state: current migration state
 * @saving: the open saving session, or NULL
 * @resuming: the open resuming session, or NULL
 * @reset_lock: protects @deferred_reset
 * @deferred_reset: a reset_done arrived while @state_mutex was busy
 * @hw_cmd: PCI command register saved by livemig_hw_begin()
 * @hw_forced: livemig_hw_begin() turned memory decode on
 * @open: the device is open (between open_device and close_device)
 * @dirty: DMA logging state while logging runs, else NULL
 */
struct livemig_device {
	struct vfio_pci_core_device core;
	const struct livemig_engine *engine;
	void *priv;
	struct mutex state_mutex;	/* see above: the FSM lock */
	enum vfio_device_mig_state mig_state;
	struct livemig_file *saving;
	struct livemig_file *resuming;
	spinlock_t reset_lock;		/* protects deferred_reset */
	bool deferred_reset;
	u16 hw_cmd;
	bool hw_forced;
	bool open;
	struct livemig_dirty *dirty;
};

static inline struct livemig_device *to_ld(struct vfio_device *vdev)
{
	return container_of(vdev, struct livemig_device, core.vdev);
}

/* main.c */
void livemig_lock(struct livemig_device *ld);
void livemig_unlock(struct livemig_device *ld);
int livemig_hw_begin(struct livemig_device *ld);
void livemig_hw_end(struct livemig_device *ld);

/* fsm.c */
extern const struct vfio_migration_ops livemig_mig_ops;
void livemig_reset_state_locked(struct livemig_device *ld);
bool livemig_precopy_enabled(void);

/* dirty.c */
const struct vfio_log_ops *livemig_dirty_ops(struct livemig_device *ld);
void livemig_dirty_stop_locked(struct livemig_device *ld);

/* migf.c */
struct livemig_file *livemig_file_create(struct livemig_device *ld,
					 bool saving);
void livemig_file_disable_locked(struct livemig_file *migf);
int livemig_save_locked(struct livemig_file *migf,
			enum livemig_save_phase phase);
int livemig_save_start_locked(struct livemig_file *migf, bool precopy);
int livemig_resume_finish_locked(struct livemig_file *migf);
size_t livemig_stop_copy_size(struct livemig_device *ld);

#endif /* LIVEMIG_CORE_H */
