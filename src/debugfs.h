/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: the debugfs directory of each device (debugfs.c), as
 * main.c creates and removes it.
 */
#ifndef LIVEMIG_DEBUGFS_H
#define LIVEMIG_DEBUGFS_H

#include "device.h"

void livemig_debugfs_init(void);
void livemig_debugfs_exit(void);
void livemig_debugfs_add(struct livemig_device *ld);
void livemig_debugfs_remove(struct livemig_device *ld);

#endif /* LIVEMIG_DEBUGFS_H */
