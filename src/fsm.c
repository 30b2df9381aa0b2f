// SPDX-License-Identifier: GPL-2.0
/*
 * livemig migration FSM: the vfio_migration_ops.
 *
 * A requested state is reached by walking single arcs chosen by the vfio
 * core's vfio_mig_get_next_state(); this file implements each arc the
 * core's table can ask for with STOP_COPY, P2P and PRE_COPY, and nothing
 * else.  The walk stops at the first failing arc, leaving the device in
 * the last state it fully reached, or in ERROR when an arc could not be
 * undone (a failed resume).
 */
#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>

#include "fsm.h"
#include "migf.h"
#include "state.h"
#include "livemig_trace.h"

static bool precopy = true;
module_param(precopy, bool, 0444);
MODULE_PARM_DESC(precopy,
		 "Offer PRE_COPY (default on); off saves state only in STOP_COPY");

/**
 * livemig_precopy_enabled() - does this module offer PRE_COPY?
 *
 * Return: the value of the "precopy" module parameter; false on a kernel
 * whose VFIO has no PRE_COPY (6.1).
 */
bool livemig_precopy_enabled(void)
{
	return LIVEMIG_HAVE_PRECOPY && precopy;
}

/* The engine op of an arc that only changes what the device does. */
static int livemig_call(struct livemig_device *ld, const char *what,
			int (*op)(struct livemig_device *ld))
{
	return op ? livemig_hw_call(ld, what, op(ld)) : 0;
}

/* PRE_COPY_P2P -> STOP_COPY: stop, then finish the stream on the same FD. */
static int livemig_precopy_to_stop_copy(struct livemig_device *ld)
{
	int ret;

	ret = livemig_call(ld, "stop", ld->engine->stop);
	if (ret)
		return ret;
	return livemig_saving_finish(ld);
}

/* RESUMING -> STOP: a stream that does not load leaves the device in ERROR. */
static int livemig_finish_resuming(struct livemig_device *ld)
{
	int ret = livemig_resuming_load(ld);

	if (ret)
		ld->mig_state = VFIO_DEVICE_STATE_ERROR;
	return ret;
}

#define ARC(a, b)	((a) << 8 | (b))

static struct file *livemig_step(struct livemig_device *ld,
				 enum vfio_device_mig_state next)
{
	const struct livemig_engine *e = ld->engine;
	int ret;

	lockdep_assert_held(&ld->state_mutex);
	switch (ARC(ld->mig_state, next)) {
	case ARC(VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P):
	case ARC(VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY_P2P):
		ret = livemig_call(ld, "quiesce", e->quiesce);
		break;
	case ARC(VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING):
	case ARC(VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY):
		ret = livemig_call(ld, "unquiesce", e->unquiesce);
		break;
	case ARC(VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_STOP):
		ret = livemig_call(ld, "stop", e->stop);
		break;
	case ARC(VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING_P2P):
		ret = livemig_call(ld, "start", e->start);
		break;
	case ARC(VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_PRE_COPY):
	case ARC(VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P):
		return livemig_saving_open(ld, true);
	case ARC(VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY):
		return livemig_saving_open(ld, false);
	case ARC(VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_RUNNING):
	case ARC(VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RUNNING_P2P):
	case ARC(VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP):
		livemig_end_locked(ld, LIVEMIG_SLOT_SAVING);
		ret = 0;
		break;
	case ARC(VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_STOP_COPY):
		ret = livemig_precopy_to_stop_copy(ld);
		break;
	case ARC(VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RESUMING):
		return livemig_resuming_open(ld);
	case ARC(VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP):
		ret = livemig_finish_resuming(ld);
		break;
	default:
		/* vfio_mig_get_next_state() never asks for another arc. */
		WARN_ON_ONCE(1);
		ret = -EINVAL;
		break;
	}
	return ret ? ERR_PTR(ret) : NULL;
}

/* One arc taken or refused: counted, traced and, with dynamic debug, logged. */
static void livemig_arc_done(struct livemig_device *ld,
			     enum vfio_device_mig_state from,
			     enum vfio_device_mig_state to, int ret, u64 t0)
{
	u64 usecs = div_u64(ktime_get_ns() - t0, NSEC_PER_USEC);

	if (!ret)
		ld->arcs++;
	trace_livemig_arc(ld->core.pdev, from, to, ret, usecs);
	dev_dbg(&ld->core.pdev->dev, "livemig: %s -> %s: %d (%llu us)\n",
		livemig_state_name(from), livemig_state_name(to), ret, usecs);
}

/*
 * The requests vfio core's table answers with ERROR: ERROR as a target,
 * anything from ERROR (only a reset leaves it) and STOP_COPY back to the
 * PRE_COPY states.  They are refused here, before vfio_mig_get_next_state()
 * is asked: up to at least 6.12.95 (Debian's bookworm-backports kernel)
 * its walk over unsupported states has no stop at ERROR and spins forever
 * on exactly these requests, and it WARNs when the current state is ERROR.
 */
static bool livemig_arc_refused(enum vfio_device_mig_state cur,
				enum vfio_device_mig_state new)
{
	return new == VFIO_DEVICE_STATE_ERROR ||
	       cur == VFIO_DEVICE_STATE_ERROR ||
	       (cur == VFIO_DEVICE_STATE_STOP_COPY &&
		(new == VFIO_DEVICE_STATE_PRE_COPY ||
		 new == VFIO_DEVICE_STATE_PRE_COPY_P2P));
}

static struct file *livemig_set_state(struct vfio_device *vdev,
				      enum vfio_device_mig_state new_state)
{
	struct livemig_device *ld = to_ld(vdev);
	enum vfio_device_mig_state from, next;
	struct file *res = NULL;
	u64 t0;
	int ret;

	livemig_lock(ld);
	if (livemig_arc_refused(ld->mig_state, new_state))
		res = ERR_PTR(-EINVAL);
	while (!res && ld->mig_state != new_state) {
		ret = vfio_mig_get_next_state(vdev, ld->mig_state, new_state,
					      &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		from = ld->mig_state;
		t0 = ktime_get_ns();
		res = livemig_step(ld, next);
		livemig_arc_done(ld, from, next, PTR_ERR_OR_ZERO(res), t0);
		if (IS_ERR(res))
			break;
		ld->mig_state = next;
		/* Only the last arc of a walk may open a session. */
		if (res && ld->mig_state != new_state) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	livemig_unlock(ld);
	return res;
}

static int livemig_get_state(struct vfio_device *vdev,
			     enum vfio_device_mig_state *state)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_lock(ld);
	*state = ld->mig_state;
	livemig_unlock(ld);
	return 0;
}

static int __maybe_unused
livemig_get_data_size(struct vfio_device *vdev, unsigned long *stop_copy_length)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_lock(ld);
	*stop_copy_length = livemig_stop_copy_size(ld);
	livemig_unlock(ld);
	return 0;
}

const struct vfio_migration_ops livemig_mig_ops = {
	.migration_set_state = livemig_set_state,
	.migration_get_state = livemig_get_state,
	LIVEMIG_MIG_OP_DATA_SIZE(livemig_get_data_size)
};
