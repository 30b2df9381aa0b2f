/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: DMA logging (dirty.c), as main.c offers it.
 */
#ifndef LIVEMIG_DIRTY_H
#define LIVEMIG_DIRTY_H

#include "device.h"

const struct vfio_log_ops *livemig_dirty_ops(struct livemig_device *ld);

#endif /* LIVEMIG_DIRTY_H */
