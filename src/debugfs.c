// SPDX-License-Identifier: GPL-2.0
/*
 * livemig debugfs: what a device is doing, for whoever debugs a migration.
 *
 *   /sys/kernel/debug/livemig-vfio-pci/<PCI address>/status
 *
 * is a snapshot taken under the device's state_mutex, one "key: value"
 * line each (Documentation/operating.md lists them): the migration state,
 * the engine, how many FSM arcs were taken, the last failure and where it
 * happened, the open saving and resuming sessions with their byte
 * counters, DMA logging, and the engine's own figures (its ->show op).
 * Reading it waits for an FSM arc or a data FD operation in progress.
 *
 * Without CONFIG_DEBUG_FS the debugfs calls are stubs and nothing shows.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "debugfs.h"
#include "dirty.h"
#include "migf.h"
#include "state.h"

static struct dentry *livemig_debugfs_root;

static int livemig_status_show(struct seq_file *m, void *unused)
{
	struct livemig_device *ld = m->private;

	livemig_lock(ld);
	seq_printf(m, "state: %s\n", livemig_state_name(ld->mig_state));
	seq_printf(m, "engine: %s\n", ld->engine->name);
	seq_printf(m, "open: %d\n", ld->open);
	seq_printf(m, "arcs: %llu\n", ld->arcs);
	if (ld->last_err_where)
		seq_printf(m, "last_error: %d %s\n", ld->last_err,
			   ld->last_err_where);
	else
		seq_puts(m, "last_error: none\n");
	livemig_migf_show(ld, m);
	livemig_dirty_show(ld, m);
	if (ld->engine->show)
		ld->engine->show(ld, m);
	livemig_unlock(ld);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(livemig_status);

/**
 * livemig_debugfs_init() - the module's debugfs directory
 *
 * A failure leaves the module without one, never without the driver.
 */
void livemig_debugfs_init(void)
{
	livemig_debugfs_root = debugfs_create_dir("livemig-vfio-pci", NULL);
}

/**
 * livemig_debugfs_exit() - remove the module's debugfs directory
 */
void livemig_debugfs_exit(void)
{
	debugfs_remove_recursive(livemig_debugfs_root);
}

/**
 * livemig_debugfs_add() - a device's directory and its status file
 * @ld: the device, initialised, not yet registered with vfio
 */
void livemig_debugfs_add(struct livemig_device *ld)
{
	ld->debugfs = debugfs_create_dir(pci_name(ld->core.pdev),
					 livemig_debugfs_root);
	debugfs_create_file("status", 0400, ld->debugfs, ld,
			    &livemig_status_fops);
}

/**
 * livemig_debugfs_remove() - remove a device's directory
 * @ld: the device, unregistered from vfio
 *
 * Waits for readers of its files to finish, so the device's memory
 * outlives them.
 */
void livemig_debugfs_remove(struct livemig_device *ld)
{
	debugfs_remove_recursive(ld->debugfs);
	ld->debugfs = NULL;
}
