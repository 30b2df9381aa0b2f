// SPDX-License-Identifier: GPL-2.0
/*
 * livemig device lifetime: the one owner of state_mutex.
 *
 * What lives here, and nowhere else:
 * - taking and releasing state_mutex (livemig_lock()/livemig_unlock());
 * - the reset of the function that vfio-pci core reports through the PCI
 *   reset_done callback under its memory_lock, where state_mutex cannot
 *   be taken without inverting the lock order: it is recorded and carried
 *   out by whoever holds or next releases the mutex;
 * - what is open on the device (a saving or resuming data FD, DMA
 *   logging), each in its slot, and how it ends: one at a time through
 *   livemig_end_locked(), all at once on reset and close;
 * - the bracket around engine ops that touch the hardware
 *   (livemig_hw_begin()/livemig_hw_end(), livemig_hw_call()).
 *
 * The units that open sessions (migf.c, dirty.c) and walk the FSM
 * (fsm.c) call this one; it calls none of them, only the end op each
 * session registered with its slot and the engine's reset_done.
 */
#include <linux/lockdep.h>
#include <linux/pci.h>

#include "state.h"

/**
 * livemig_state_init() - a new device: RUNNING, nothing open
 * @ld: the device, not yet visible to anyone
 */
void livemig_state_init(struct livemig_device *ld)
{
	mutex_init(&ld->state_mutex);
	spin_lock_init(&ld->reset_lock);
	ld->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

/**
 * livemig_state_destroy() - the device's memory goes away
 * @ld: the device, closed (nothing is open any more)
 */
void livemig_state_destroy(struct livemig_device *ld)
{
	mutex_destroy(&ld->state_mutex);
}

/**
 * livemig_lock() - take the device's state_mutex
 * @ld: the device
 */
void livemig_lock(struct livemig_device *ld)
{
	mutex_lock(&ld->state_mutex);
}

/**
 * livemig_unlock() - release state_mutex, first handling a function reset
 * that reset_done recorded: everything open ends, the state is RUNNING
 * and the engine drops its stale view of the device
 * @ld: the device
 *
 * The reset is done under the mutex, so that no FSM step sees it half
 * way; the loop catches a reset that arrives while this one is handled.
 */
void livemig_unlock(struct livemig_device *ld)
{
again:
	spin_lock(&ld->reset_lock);
	if (ld->deferred_reset) {
		ld->deferred_reset = false;
		spin_unlock(&ld->reset_lock);
		livemig_reset_state_locked(ld);
		if (ld->engine->reset_done)
			ld->engine->reset_done(ld);
		goto again;
	}
	ld->in_reset_done = false;
	mutex_unlock(&ld->state_mutex);
	spin_unlock(&ld->reset_lock);
}

/**
 * livemig_reset_done() - the function was reset (FLR, bus or slot reset)
 * @ld: the device; called by the PCI reset_done callback, under vfio's
 *	memory_lock, so state_mutex is only try-locked here
 *
 * The reset is recorded; if the mutex is free it is handled at once by
 * livemig_unlock(), else by the holder when it releases the mutex.
 */
void livemig_reset_done(struct livemig_device *ld)
{
	spin_lock(&ld->reset_lock);
	ld->deferred_reset = true;
	if (!mutex_trylock(&ld->state_mutex)) {
		spin_unlock(&ld->reset_lock);
		return;
	}
	spin_unlock(&ld->reset_lock);
	ld->in_reset_done = true;
	livemig_unlock(ld);
}

/**
 * livemig_slot() - what is open in a slot
 * @ld: the device, state_mutex held
 * @slot: the slot
 *
 * Return: the session, or NULL.
 */
struct livemig_session *livemig_slot(struct livemig_device *ld,
				     enum livemig_slot slot)
{
	lockdep_assert_held(&ld->state_mutex);
	return ld->slots[slot];
}

/**
 * livemig_slot_set() - a session was opened in an empty slot
 * @ld: the device, state_mutex held
 * @slot: the slot, empty
 * @s: the session; its ->end runs when the slot is ended
 */
void livemig_slot_set(struct livemig_device *ld, enum livemig_slot slot,
		      struct livemig_session *s)
{
	lockdep_assert_held(&ld->state_mutex);
	WARN_ON_ONCE(ld->slots[slot]);
	ld->slots[slot] = s;
}

/**
 * livemig_end_locked() - end what is open in a slot, if anything
 * @ld: the device, state_mutex held
 * @slot: the slot
 *
 * The slot is empty before the session's ->end runs.
 */
void livemig_end_locked(struct livemig_device *ld, enum livemig_slot slot)
{
	struct livemig_session *s;

	lockdep_assert_held(&ld->state_mutex);
	s = ld->slots[slot];
	if (!s)
		return;
	ld->slots[slot] = NULL;
	s->end(s);
}

/**
 * livemig_reset_state_locked() - end everything open, back to RUNNING
 * @ld: the device, state_mutex held
 *
 * Used by reset, close and the deferred reset of reset_done: DMA logging
 * stops, then the saving and resuming sessions end (enum livemig_slot).
 */
void livemig_reset_state_locked(struct livemig_device *ld)
{
	int slot;

	lockdep_assert_held(&ld->state_mutex);
	for (slot = 0; slot < LIVEMIG_NR_SLOTS; slot++)
		livemig_end_locked(ld, slot);
	ld->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

/**
 * livemig_state_name() - a migration state as the uAPI header names it
 * @state: the state
 *
 * Return: its name without the VFIO_DEVICE_STATE_ prefix, or "?".
 */
const char *livemig_state_name(enum vfio_device_mig_state state)
{
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	if ((unsigned int)state >= ARRAY_SIZE(names) || !names[state])
		return "?";
	return names[state];
}

/**
 * livemig_note_failure() - record a failure for debugfs, without logging it
 * @ld: the device, state_mutex held
 * @where: what failed, a static string
 * @err: the negative errno
 *
 * For a failure the caller logs in its own words (a rejected stream).
 */
void livemig_note_failure(struct livemig_device *ld, const char *where,
			  int err)
{
	lockdep_assert_held(&ld->state_mutex);
	ld->last_err = err;
	ld->last_err_where = where;
}

/**
 * livemig_failed() - an engine op or a session failed: record and log it
 * @ld: the device, state_mutex held
 * @where: what failed, a static string ("engine stop", "resume stream")
 * @err: the negative errno
 *
 * The last failure is what debugfs shows; the log line is rate limited,
 * since a user can make some of these fail at will (a corrupt stream).
 *
 * Return: @err, so that callers can return through it.
 */
int livemig_failed(struct livemig_device *ld, const char *where, int err)
{
	livemig_note_failure(ld, where, err);
	dev_err_ratelimited(&ld->core.pdev->dev, "livemig: %s: %s failed: %pe\n",
			    ld->engine->name, where, ERR_PTR(err));
	return err;
}

/**
 * livemig_state() - current migration state; call with state_mutex held
 * @ld: the device
 *
 * Return: the state.
 */
enum vfio_device_mig_state livemig_state(struct livemig_device *ld)
{
	lockdep_assert_held(&ld->state_mutex);
	return ld->mig_state;
}

/**
 * livemig_hw_begin() - make the device's BARs accessible to the engine
 * @ld: the device, state_mutex held
 * @shared: memory_lock for read will do if memory decode is on
 *
 * Takes vfio's memory_lock for write, so no user access or mmap fault runs
 * meanwhile, and turns memory decode on if the user left it off; the
 * command register is restored by livemig_hw_end().
 *
 * With @shared, and memory decode on, memory_lock is taken for read
 * instead: nothing can then turn decode off, reset or power down the
 * function (vfio-pci core does those holding it for write), but the
 * user's mmap faults on the BARs go on meanwhile.  For engine work that
 * only reads the BARs while the guest may run (PRE_COPY's ->save): a
 * guest's first access to a VRAM page after a write-tracking collection
 * faults, and would otherwise wait for the whole call.
 *
 * Use it through livemig_hw_call() or livemig_hw_call_shared().
 *
 * Return: 0, or -EIO if the function is in a low power state.
 */
int livemig_hw_begin(struct livemig_device *ld, bool shared)
{
	struct pci_dev *pdev = ld->core.pdev;
	u16 cmd;

	lockdep_assert_held(&ld->state_mutex);
	if (shared) {
		down_read(&ld->core.memory_lock);
		if (livemig_powered(pdev)) {
			pci_read_config_word(pdev, PCI_COMMAND, &cmd);
			if (cmd & PCI_COMMAND_MEMORY) {
				ld->hw_shared = true;
				ld->hw_forced = false;
				return 0;
			}
		}
		/* Decode must be forced on (or the answer is -EIO). */
		up_read(&ld->core.memory_lock);
	}
	down_write(&ld->core.memory_lock);
	ld->hw_shared = false;
	if (!livemig_powered(pdev)) {
		up_write(&ld->core.memory_lock);
		return -EIO;
	}
	pci_read_config_word(pdev, PCI_COMMAND, &ld->hw_cmd);
	ld->hw_forced = !(ld->hw_cmd & PCI_COMMAND_MEMORY);
	if (ld->hw_forced)
		pci_write_config_word(pdev, PCI_COMMAND,
				      ld->hw_cmd | PCI_COMMAND_MEMORY);
	return 0;
}

/**
 * livemig_hw_end() - undo livemig_hw_begin()
 * @ld: the device
 */
void livemig_hw_end(struct livemig_device *ld)
{
	lockdep_assert_held(&ld->core.memory_lock);
	if (ld->hw_shared) {
		up_read(&ld->core.memory_lock);
		return;
	}
	/*
	 * A data session calls the engine per record or per chunk, and
	 * turning decode on and off remaps the BAR every time (a few
	 * milliseconds under TCG, hundreds of times per VRAM): forced
	 * decode stays on until the session ends
	 * (livemig_hw_release_decode()).
	 */
	if (ld->hw_forced && (ld->slots[LIVEMIG_SLOT_RESUMING] ||
			      ld->slots[LIVEMIG_SLOT_SAVING]))
		ld->decode_held = true;
	else if (ld->hw_forced)
		pci_write_config_word(ld->core.pdev, PCI_COMMAND, ld->hw_cmd);
	up_write(&ld->core.memory_lock);
}

/* Memory decode back to what the user's command register says. */
static void livemig_decode_restore(struct livemig_device *ld)
{
	struct pci_dev *pdev = ld->core.pdev;
	u16 user = le16_to_cpu(*(__le16 *)&ld->core.vconfig[PCI_COMMAND]);
	u16 cmd;

	lockdep_assert_held_write(&ld->core.memory_lock);
	ld->decode_held = false;
	if ((user & PCI_COMMAND_MEMORY) || !livemig_powered(pdev))
		return;
	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	if (cmd & PCI_COMMAND_MEMORY)
		pci_write_config_word(pdev, PCI_COMMAND,
				      cmd & ~PCI_COMMAND_MEMORY);
}

/**
 * livemig_hw_release_decode() - a data session ended: undo held decode
 * @ld: the device, state_mutex held, vfio's memory_lock not held (or
 *	held for write by vfio-pci core around a reset, @in_reset_done)
 *
 * If livemig_hw_end() left memory decode forced on for the session, it
 * is turned off again unless the user turned it on meanwhile (vfio-pci
 * core keeps the user's view of the command register in vconfig, and
 * writes it through to the function under memory_lock).
 */
void livemig_hw_release_decode(struct livemig_device *ld)
{
	lockdep_assert_held(&ld->state_mutex);
	if (!ld->decode_held)
		return;
	if (ld->in_reset_done) {
		livemig_decode_restore(ld);
		return;
	}
	down_write(&ld->core.memory_lock);
	livemig_decode_restore(ld);
	up_write(&ld->core.memory_lock);
}
