/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: the device structure every core unit works on.
 *
 * Data only: no unit's functions are declared here, so including it
 * adds no edge to the dependency graph of src/.  Who may touch which
 * field, and under which lock, is said beside the field; the lifetime
 * fields (the lock, the migration state, the open sessions) belong to
 * state.c, which is the only unit that changes them outside an FSM arc.
 * Engines see only include/livemig/engine.h.
 */
#ifndef LIVEMIG_DEVICE_H
#define LIVEMIG_DEVICE_H

#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/vfio_pci_core.h>

#include "livemig/engine.h"

struct livemig_session;

/**
 * struct livemig_wtrack - write tracking of one mmapped BAR (wtrack.c)
 * @bar: the BAR, or -1 when nothing is tracked (the engine asks for
 *	none, or this kernel cannot zap a device's mappings)
 * @npages: pages of @bar (PAGE_SIZE each), bits in @written
 * @written: a bit per page, set (atomically, no lock) when a mapping of
 *	the page faults or the region's write() wrote it; taken and cleared
 *	by livemig_wt_collect() under state_mutex
 * @core_vm_ops: vfio-pci core's vm_ops for mappings of @bar, whose fault
 *	handler tracked mappings call; set at the first mmap
 * @broken: a mapping of @bar could not be tracked: track nothing more
 * @ops_lock: protects @core_vm_ops and @broken while they are set; taken
 *	in ->mmap, under mmap_lock, and nothing nests in it
 */
struct livemig_wtrack {
	int bar;
	unsigned long npages;
	unsigned long *written;
	const struct vm_operations_struct *core_vm_ops;
	bool broken;
	struct mutex ops_lock;	/* see @ops_lock above */
};

/**
 * enum livemig_slot - what may be open on a device, one of each at a time
 * @LIVEMIG_SLOT_DIRTY: DMA logging (dirty.c), from LOG_START to LOG_STOP
 * @LIVEMIG_SLOT_SAVING: a saving data FD (migf.c)
 * @LIVEMIG_SLOT_RESUMING: a resuming data FD (migf.c)
 * @LIVEMIG_NR_SLOTS: number of slots
 *
 * A reset or close ends what is open in this order (state.c).
 */
enum livemig_slot {
	LIVEMIG_SLOT_DIRTY,
	LIVEMIG_SLOT_SAVING,
	LIVEMIG_SLOT_RESUMING,
	LIVEMIG_NR_SLOTS,
};

/**
 * struct livemig_device - a PCI function driven by this module
 * @core: vfio-pci core device; must stay first for vfio_alloc_device()
 * @engine: the engine that saves and restores this function (set at init)
 * @priv: engine private data, @engine->priv_size bytes
 * @state_mutex: serialises the migration FSM (@mig_state), what is open
 *	(@slots and the objects there), trapped BAR accesses and every
 *	engine op.  Lock order: state_mutex -> vfio's memory_lock;
 *	mmap_lock nests inside state_mutex (copy_to/from_user in FD
 *	operations).  Never taken under memory_lock: the PCI reset_done
 *	callback runs with memory_lock held and only try-locks it, leaving
 *	the reset to livemig_unlock() otherwise (@deferred_reset).  Taken
 *	and released only through livemig_lock()/livemig_unlock() (state.c).
 * @mig_state: current migration state; written by fsm.c's arcs and by
 *	state.c's reset, under state_mutex
 * @slots: what is open (enum livemig_slot); set and ended through
 *	state.c, under state_mutex
 * @reset_lock: protects @deferred_reset
 * @deferred_reset: a reset_done arrived while @state_mutex was busy
 * @hw_cmd: PCI command register saved by livemig_hw_begin()
 * @hw_forced: livemig_hw_begin() turned memory decode on
 * @hw_shared: livemig_hw_begin() took memory_lock for read, not write
 * @decode_held: memory decode that livemig_hw_begin() forced on was left
 *	on for a data session (livemig_hw_end()); under state_mutex
 *	and vfio's memory_lock for write
 * @in_reset_done: state_mutex was taken by livemig_reset_done(), inside
 *	vfio-pci core's reset with memory_lock held for write
 * @open: the device is open (between open_device and close_device);
 *	written by main.c under state_mutex
 * @debugfs: the device's debugfs directory (debugfs.c), or an ERR_PTR/NULL
 * @arcs: FSM arcs taken since the device was bound, under state_mutex
 * @last_err: the last error an engine op or a session failed with, as
 *	recorded by livemig_failed(); under state_mutex
 * @last_err_where: what failed then (a static string), or NULL
 * @wt: write tracking of the engine's write-tracked BAR (wtrack.c)
 */
struct livemig_device {
	struct vfio_pci_core_device core;
	const struct livemig_engine *engine;
	void *priv;
	struct mutex state_mutex;	/* see above: the FSM lock */
	enum vfio_device_mig_state mig_state;
	struct livemig_session *slots[LIVEMIG_NR_SLOTS];
	spinlock_t reset_lock;		/* protects deferred_reset */
	bool deferred_reset;
	u16 hw_cmd;
	bool hw_forced;
	bool hw_shared;
	bool decode_held;
	bool in_reset_done;
	bool open;
	struct dentry *debugfs;
	u64 arcs;
	int last_err;
	const char *last_err_where;
	struct livemig_wtrack wt;
};

static inline struct livemig_device *to_ld(struct vfio_device *vdev)
{
	return container_of(vdev, struct livemig_device, core.vdev);
}

/* The function is in a power state where its BARs respond (not D3). */
static inline bool livemig_powered(struct pci_dev *pdev)
{
	return (__force int)pdev->current_state < (__force int)PCI_D3hot;
}

#endif /* LIVEMIG_DEVICE_H */
