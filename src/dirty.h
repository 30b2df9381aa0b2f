/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: DMA logging (dirty.c), as main.c offers it.
 */
#ifndef LIVEMIG_DIRTY_H
#define LIVEMIG_DIRTY_H

#include "device.h"

const struct vfio_log_ops *livemig_dirty_ops(struct livemig_device *ld);

struct seq_file;
void livemig_dirty_show(struct livemig_device *ld, struct seq_file *m);

#endif /* LIVEMIG_DIRTY_H */
