/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: the one owner of a device's lifetime (state.c).
 *
 * state_mutex, the reset that vfio-pci core reports while the mutex is
 * busy, what is open on the device and how it ends, and the bracket
 * every engine op runs in.  Every other unit of src/ may include this
 * header; state.c includes none of theirs.
 */
#ifndef LIVEMIG_STATE_H
#define LIVEMIG_STATE_H

#include "device.h"

/**
 * struct livemig_session - something open on a device until it is ended
 * @end: ends it, with state_mutex held, after state.c took it out of its
 *	slot: free what it holds, wake its waiters, drop the references it
 *	took.  Called by livemig_end_locked() on an explicit end (an FSM arc,
 *	LOG_STOP) and on every reset and close.
 *
 * The unit that opens it (migf.c, dirty.c) embeds it in its own object;
 * state.c knows nothing else of it, which keeps the lock owner below the
 * units whose objects it ends.
 */
struct livemig_session {
	void (*end)(struct livemig_session *s);
};

void livemig_state_init(struct livemig_device *ld);
void livemig_state_destroy(struct livemig_device *ld);

void livemig_lock(struct livemig_device *ld);
void livemig_unlock(struct livemig_device *ld);
void livemig_reset_done(struct livemig_device *ld);
void livemig_reset_state_locked(struct livemig_device *ld);

struct livemig_session *livemig_slot(struct livemig_device *ld,
				     enum livemig_slot slot);
void livemig_slot_set(struct livemig_device *ld, enum livemig_slot slot,
		      struct livemig_session *s);
void livemig_end_locked(struct livemig_device *ld, enum livemig_slot slot);

const char *livemig_state_name(enum vfio_device_mig_state state);
void livemig_note_failure(struct livemig_device *ld, const char *where,
			  int err);
int livemig_failed(struct livemig_device *ld, const char *where, int err);

int livemig_hw_begin(struct livemig_device *ld, bool shared);
void livemig_hw_end(struct livemig_device *ld);
void livemig_hw_release_decode(struct livemig_device *ld);

/**
 * livemig_hw_call() - run an engine op with the device's BARs accessible
 * @ld: the device, state_mutex held (livemig_hw_begin() asserts it)
 * @what: the op's name, a string literal, for the log and debugfs
 * @call: the op's call, an int expression; evaluated only if the BARs
 *	could be made accessible
 *
 * The one bracket around engine ops that touch the device: vfio's
 * memory_lock held for write and memory decode on while @call runs (see
 * livemig_hw_begin()).  A negative result is recorded and logged by
 * livemig_failed().
 *
 * Return: livemig_hw_begin()'s error, or the value of @call.
 */
#define livemig_hw_call(ld, what, call)					\
	__livemig_hw_call(ld, what, false, call)

/**
 * livemig_hw_call_shared() - livemig_hw_call() that lets mmap faults in
 * @ld: the device, state_mutex held
 * @what: the op's name, a string literal
 * @call: the op's call, an int expression
 *
 * As livemig_hw_call(), but with memory_lock held for read when memory
 * decode is on already (livemig_hw_begin()): the user's mmap faults on
 * the BARs do not wait for @call.  @call must not rely on the user being
 * kept off the BARs; it may read and write them with the livemig_hw_*()
 * accessors.
 *
 * Return: livemig_hw_begin()'s error, or the value of @call.
 */
#define livemig_hw_call_shared(ld, what, call)				\
	__livemig_hw_call(ld, what, true, call)

#define __livemig_hw_call(ld, what, shared, call)			\
({									\
	struct livemig_device *__ld = (ld);				\
	int __ret = livemig_hw_begin(__ld, shared);			\
									\
	if (!__ret) {							\
		__ret = (call);						\
		livemig_hw_end(__ld);					\
	}								\
	__ret < 0 ? livemig_failed(__ld, what, __ret) : __ret;		\
})

#endif /* LIVEMIG_STATE_H */
