/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig engine contract: what a device engine provides to the generic
 * migration core, who calls it, in which state and under which lock.
 *
 * The core owns the FSM, the data FD, the stream framing, PRE_COPY
 * accounting and all locking.  An engine knows one kind of PCI function:
 * how to quiesce it, read its state into stream records and load it back.
 * Documentation/engine-porting.md walks through writing one.
 *
 * Locking: every engine op except ->match is called with the device's
 * state_mutex held (see struct livemig_device in src/device.h), so an
 * engine needs no lock of its own for state that only its ops touch.  Ops
 * that touch hardware are bracketed by the core with livemig_hw_call()
 * (livemig_hw_begin()/livemig_hw_end() in src/state.c),
 * which hold vfio's memory_lock for write and keep memory decode on, so an
 * engine may use the livemig_hw_*() accessors freely inside an op.  The
 * one exception is ->save (livemig_hw_call_shared()): memory_lock is held
 * for read there while decode is on, so the user's mmap faults on the
 * BARs (a guest touching VRAM) run beside it.
 */
#ifndef LIVEMIG_ENGINE_H
#define LIVEMIG_ENGINE_H

#include <linux/pci.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include "livemig/compat.h"
#include "livemig/stream.h"

struct livemig_device;
struct livemig_save;
struct seq_file;

/* Vendor ID of QEMU's emulated devices (edu, bochs-display); not in pci_ids.h. */
#define LIVEMIG_VENDOR_QEMU	0x1234

/* Returned by ->bar_read/->bar_write: let the core do the access. */
#define LIVEMIG_PASS	1

/* Returned by ->save: the budget is used up, call again for more. */
#define LIVEMIG_SAVE_MORE	1

/**
 * enum livemig_save_phase - which part of the state ->save is asked for
 * @LIVEMIG_SAVE_INITIAL: a saving session starts in PRE_COPY: the running
 *	snapshot that a destination can load ahead of downtime
 * @LIVEMIG_SAVE_DIRTY: PRE_COPY, asked again: emit only what changed since
 *	the last ->save (nothing at all if nothing changed)
 * @LIVEMIG_SAVE_FINAL: STOP_COPY: the device is stopped; emit everything a
 *	destination needs that it has not been sent yet
 */
enum livemig_save_phase {
	LIVEMIG_SAVE_INITIAL,
	LIVEMIG_SAVE_DIRTY,
	LIVEMIG_SAVE_FINAL,
};

/**
 * struct livemig_engine - one kind of PCI function
 * @name: short name, used in log messages
 * @engine_id: stream engine id; a stream for another id is refused
 * @version: engine stream version; sent in IDENTITY
 * @max_record: largest record payload the engine emits or accepts
 * @trapped_bars: bitmask of BARs never mmapped: the core routes every
 *	access to them through @bar_read/@bar_write
 * @mapped_bars: bitmask of further BARs the engine reads or writes in
 *	bulk through livemig_hw_iomem(); they stay mmappable by the user
 * @priv_size: bytes of engine private data the core allocates per device
 * @tracks_dma: the engine reports every DMA write of its device through
 *	livemig_dirty_mark(), so the core offers DMA logging (vfio_log_ops)
 * @write_tracked_bars: at most one BAR of @mapped_bars whose pages the
 *	core records when the user may have written them (src/wtrack.c):
 *	accessed through a mapping, or written with the region's write();
 *	not a peer's DMA or an ioeventfd.  The engine takes them with
 *	livemig_wt_collect() and counts them with livemig_wt_count();
 *	livemig_wt_active() says whether this kernel tracks them at all.
 *
 * @match: probe time, no lock, optional: @pdev matched the engine's line
 *	in the module's PCI id table (src/engines/engines.c); return true
 *	if the engine drives it after all (e.g. check the class code).  May
 *	not sleep for long.
 * @probe: the driver binds to the function, before the device is
 *	registered with vfio (no user can reach it, no lock needed).  The
 *	function is in D0 and not enabled; the engine may enable it, map
 *	BARs with pci_iomap() and use the DMA API while no user owns the
 *	IOMMU group (iommu_group_dma_owner_claimed()), and must leave it
 *	disabled and unmapped.  The one place where a driver can put device
 *	state that the user cannot reach into a known condition, e.g. an
 *	internal buffer only DMA can read.  Engine private data set here
 *	outlives every open: @open must keep it.
 * @open: device opened (RUNNING), before any other op of this open.
 *	Reset engine bookkeeping and set up BAR mappings.
 * @close: device closing.  Sessions are already disabled.
 *
 * @bar_read: user read of a trapped BAR, @size 1, 2, 4 or 8, naturally
 *	aligned.  Store the value in @val, or return %LIVEMIG_PASS to read
 *	the hardware.  Called in every state, under vfio's memory_lock
 *	(read) with memory decode on, so the livemig_hw_*() accessors work.
 * @bar_write: user write to a trapped BAR, like @bar_read.  Return 0
 *	(consumed), %LIVEMIG_PASS (write the hardware) or a negative errno.
 *
 * @quiesce: RUNNING -> RUNNING_P2P and PRE_COPY -> PRE_COPY_P2P.  Stop
 *	starting new DMA (hold doorbells) and wait, bounded, for DMA in
 *	flight.  On error the core leaves the device in the old state.
 * @unquiesce: the reverse arcs.  Release what @quiesce held, re-raise
 *	interrupts that a load staged.
 * @stop: RUNNING_P2P -> STOP.  Wait, bounded, for internal work; from
 *	now on @bar_write should refuse writes.
 * @start: STOP -> RUNNING_P2P.
 *
 * @save_check: may a save stream be produced now?  0 or the errno that
 *	read() on the data FD then returns.  Called on every read.
 * @identity: write the engine compat blob (at most @max bytes) that goes
 *	into the IDENTITY record; return its length or a negative errno.
 * @save_begin: a saving session starts (before the first @save).
 * @save: emit records for @phase through livemig_emit().  Return 0 when
 *	the phase is complete, %LIVEMIG_SAVE_MORE once livemig_save_full()
 *	says the call's budget is used (the core calls again with the same
 *	phase when the reader wants more), or a negative errno (the data FD
 *	then fails reads with it).  A DIRTY call looks for changes since
 *	the last emitted data; the core makes it when the user asks for
 *	PRECOPY_INFO or reads at the end of what was produced.  Work that
 *	emits nothing (a zero page folded into a ZERO range) is charged
 *	with livemig_save_charge(), so that livemig_save_full() bounds it
 *	too: a call must not walk all of a large device's state because
 *	none of it needed sending.  Within one read, and while nothing is
 *	unread, the core calls again (memory_lock and state_mutex dropped
 *	in between: other ops, trapped accesses and arcs may run there, as
 *	between two reads) until something is emitted or the phase
 *	completes: a PRE_COPY read answers ENOMSG only after a
 *	DIRTY phase ran to its end with nothing to send, so a DIRTY phase
 *	must end (it looks at the changes known when it started, not at
 *	those made while it runs).  Runs with vfio's memory_lock held for
 *	read (for write only when memory decode had to be forced on): the
 *	device cannot be reset or lose decode, but the user's mmap faults
 *	on its BARs go on, so @save must not count on the user being kept
 *	off the BARs (it never could for accesses through PTEs already
 *	present).
 * @save_end: the saving session ended; free what @save_begin set up.
 *	Also called when @save_begin failed.
 * @pending: PRE_COPY: bytes the engine knows it still has to emit for
 *	the initial snapshot and for changes found so far (optional; the
 *	core adds what is produced but unread).  Return true when the
 *	figures already count changes no @save has looked for yet (the
 *	engine tracks them as they happen, e.g. with write tracking): the
 *	core then answers PRECOPY_INFO without a DIRTY @save.  Return false
 *	to have the core make one (only when no call is unfinished) and
 *	ask again.  Must not touch the device.  Initial data is produced
 *	once per session: the core never reports VFIO_PRECOPY_INFO_REINIT
 *	(7.1's PRECOPY_INFOv2), and neither engine needs it (edu's state is
 *	one record; bochs-display's compatibility data, VRAM size and EDID,
 *	is fixed while the device is open).  An engine whose device can be
 *	reconfigured mid-PRE_COPY in a way the destination must see before
 *	anything else needs the core extended for REINIT.
 * @state_size: bytes @save will emit in the FINAL phase, records headers
 *	included: with no saving session open, an upper bound for a fresh
 *	session; with one open, what that session still has to emit if the
 *	device stopped now, given what it emitted already and the changes
 *	found so far (the core adds what is produced but unread).
 *
 * @check_identity: resuming: is a source with @id and @blob compatible
 *	with this device?  0, -EPROTO, or another negative errno when this
 *	device cannot take any state now (write() on the data FD returns
 *	it).  The core already checked the PCI IDs and engine version.
 * @resume_begin: a resuming session starts: forget anything staged.
 *	Return 0 or a negative errno (the arc to RESUMING then fails).
 * @stage: one validated record of a resuming stream: check it and keep
 *	it in engine memory.  Must not touch the device.  Return 0,
 *	-EBADMSG (malformed) or -EPROTO (incompatible).
 * @preflight: resuming, right after @stage kept a record of @type: ask
 *	the device (or what stands behind it, e.g. a VF's PF) whether it can
 *	take what is staged so far, when the answer depends on more than
 *	the bytes.  Runs inside livemig_hw_begin(), while the source may
 *	still be running (PRE_COPY data, which QEMU with switchover-ack
 *	loads before it stops the source), so a refusal here fails the
 *	migration before the downtime.  Return 0, -EPROTO (this device
 *	cannot take the state) or another negative errno; write() on the
 *	data FD returns it and the stream stays rejected.  May leave the
 *	device changed: @load follows, or the user resets it.
 * @apply: resuming, right after @stage (and @preflight) took a record:
 *	write what the record holds into the device now (optional), so
 *	that @load, inside the downtime, has less left to do.  Runs inside
 *	livemig_hw_begin(), while the source may still be in PRE_COPY.
 *	Whatever it overwrites it must keep, for @revert.  Return 0 or a
 *	negative errno (write() on the data FD returns it, the stream stays
 *	rejected).
 * @revert: resuming, the stream was rejected (a write() or RESUMING ->
 *	STOP failed): put back what @apply overwrote, so that a rejected
 *	stream leaves the device as it found it.  Runs inside
 *	livemig_hw_begin(); may be called more than once per session.  Not
 *	called when the session just ends (a reset or close in RESUMING):
 *	what @apply wrote stays, as the state of a device being reset.
 * @load: RESUMING -> STOP after the whole stream validated: apply the
 *	staged state to the device without raising an interrupt or starting
 *	DMA; defer those to @unquiesce.  An error puts the device in ERROR.
 * @resume_end: the resuming session ended; free what was staged.  Also
 *	called when @resume_begin failed.
 *
 * @reset: VFIO_DEVICE_RESET for a device that has no reset of its own:
 *	return the device to its power-on state.  Used only when vfio-pci
 *	core has no reset for the function (reset_works false).
 * @reset_done: the PCI core reset the function (FLR, bus or slot reset:
 *	VFIO_DEVICE_RESET on a function that has one, a hot reset, the
 *	resets of open and close): drop what the engine keeps of the
 *	device's state in memory (shadows, held requests), which the reset
 *	made stale.  Runs with state_mutex held, possibly inside the reset
 *	with vfio-pci core's memory_lock held: must not touch the device.
 *
 * @dirty_start: DMA logging started: mark what the device may write from
 *	now on without the engine seeing it again (e.g. buffers posted
 *	before), and set up what @dirty_sync needs.  It cannot fail: an
 *	engine that cannot tell must mark everything it cannot rule out.
 * @dirty_sync: DMA logging is about to be reported: mark (again) what DMA
 *	in flight may have written since it was last marked, so a page
 *	written after a report is reported once more.
 * @show: print the engine's own figures into the device's debugfs status
 *	file, one "key: value" line each with the engine's name as the key's
 *	prefix (e.g. "edu_held_doorbell: 0"); must not touch the device.
 *
 * Any op may be NULL when it has nothing to do, except @identity, @save,
 * @state_size, @stage and @load.  @open, @quiesce, @unquiesce, @stop,
 * @start, @identity, @save, @preflight, @apply, @revert, @load, @reset,
 * @dirty_start and @dirty_sync run inside livemig_hw_begin(); the others
 * must not touch the device.
 */
struct livemig_engine {
	const char *name;
	u32 engine_id;
	u32 version;
	u32 max_record;
	unsigned long trapped_bars;
	unsigned long mapped_bars;
	size_t priv_size;
	bool tracks_dma;
	unsigned long write_tracked_bars;

	bool (*match)(struct pci_dev *pdev);
	void (*probe)(struct livemig_device *ld);
	int (*open)(struct livemig_device *ld);
	void (*close)(struct livemig_device *ld);

	int (*bar_read)(struct livemig_device *ld, int bar, u64 off,
			u64 *val, int size);
	int (*bar_write)(struct livemig_device *ld, int bar, u64 off,
			 u64 val, int size);

	int (*quiesce)(struct livemig_device *ld);
	int (*unquiesce)(struct livemig_device *ld);
	int (*stop)(struct livemig_device *ld);
	int (*start)(struct livemig_device *ld);

	int (*save_check)(struct livemig_device *ld);
	int (*identity)(struct livemig_device *ld, u8 *blob, u32 max);
	int (*save_begin)(struct livemig_device *ld);
	int (*save)(struct livemig_device *ld, struct livemig_save *s,
		    enum livemig_save_phase phase);
	void (*save_end)(struct livemig_device *ld);
	bool (*pending)(struct livemig_device *ld, u64 *initial, u64 *dirty);
	size_t (*state_size)(struct livemig_device *ld);

	int (*check_identity)(struct livemig_device *ld,
			      const struct lm_identity *id,
			      const u8 *blob, u32 len);
	int (*resume_begin)(struct livemig_device *ld);
	int (*stage)(struct livemig_device *ld, u16 type,
		     const u8 *payload, u32 len);
	int (*preflight)(struct livemig_device *ld, u16 type);
	int (*apply)(struct livemig_device *ld, u16 type,
		     const u8 *payload, u32 len);
	void (*revert)(struct livemig_device *ld);
	int (*load)(struct livemig_device *ld);
	void (*resume_end)(struct livemig_device *ld);

	int (*reset)(struct livemig_device *ld);
	void (*reset_done)(struct livemig_device *ld);

	void (*dirty_start)(struct livemig_device *ld);
	void (*dirty_sync)(struct livemig_device *ld);
	void (*show)(struct livemig_device *ld, struct seq_file *m);
};

/* Services the core offers to engines. */
void *livemig_priv(struct livemig_device *ld);
struct pci_dev *livemig_pdev(struct livemig_device *ld);
enum vfio_device_mig_state livemig_state(struct livemig_device *ld);
int livemig_emit(struct livemig_save *s, u16 type, const void *payload,
		 u32 len);
u8 *livemig_emit_begin(struct livemig_save *s, u32 len);
void livemig_emit_commit(struct livemig_save *s, u16 type, u32 len);
void livemig_save_charge(struct livemig_save *s, u32 bytes);
bool livemig_save_full(struct livemig_save *s);
void livemig_dirty_mark(struct livemig_device *ld, u64 iova, u64 len);
bool livemig_dirty_logging(struct livemig_device *ld);
void livemig_kvfree_later(void *p);
int livemig_dma_peek(struct livemig_device *ld, u64 iova, void *buf,
		     size_t len);
unsigned long livemig_wt_active(struct livemig_device *ld, int bar);
void livemig_wt_collect(struct livemig_device *ld, unsigned long *dst);
unsigned long livemig_wt_count(struct livemig_device *ld,
			       const unsigned long *skip, unsigned long below);

int livemig_hw_read32(struct livemig_device *ld, int bar, u64 off, u32 *val);
int livemig_hw_write32(struct livemig_device *ld, int bar, u64 off, u32 val);
int livemig_hw_read64(struct livemig_device *ld, int bar, u64 off, u64 *val);
int livemig_hw_write64(struct livemig_device *ld, int bar, u64 off, u64 val);
void __iomem *livemig_hw_iomem(struct livemig_device *ld, int bar, u64 off,
			       size_t len);

/*
 * The module's PCI id table, each entry's driver_data its engine
 * (src/engines/engines.c).
 */
extern const struct pci_device_id livemig_pci_table[];

#endif /* LIVEMIG_ENGINE_H */
