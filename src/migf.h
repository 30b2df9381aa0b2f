/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: the data FD (migf.c), as the FSM (fsm.c) drives it.
 *
 * A session is opened by the arc that hands its FD to the user and ended
 * through its slot in state.c; what it needs to know of the FSM it is
 * told: whether it starts in PRE_COPY, and when PRE_COPY is over.
 */
#ifndef LIVEMIG_MIGF_H
#define LIVEMIG_MIGF_H

#include <linux/fs.h>

#include "device.h"

struct file *livemig_saving_open(struct livemig_device *ld, bool precopy);
int livemig_saving_finish(struct livemig_device *ld);
struct file *livemig_resuming_open(struct livemig_device *ld);
int livemig_resuming_load(struct livemig_device *ld);
size_t livemig_stop_copy_size(struct livemig_device *ld);

struct seq_file;
void livemig_migf_show(struct livemig_device *ld, struct seq_file *m);

#endif /* LIVEMIG_MIGF_H */
