/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: write tracking of an mmapped BAR (wtrack.c), as main.c
 * sets it up and feeds it.  Engines use the services declared in
 * include/livemig/engine.h.
 */
#ifndef LIVEMIG_WTRACK_H
#define LIVEMIG_WTRACK_H

#include <linux/mm_types.h>

#include "device.h"

int livemig_wt_init(struct livemig_device *ld, struct pci_dev *pdev);
void livemig_wt_destroy(struct livemig_device *ld);
int livemig_wt_mmap(struct livemig_device *ld, struct vm_area_struct *vma);
void livemig_wt_note_write(struct livemig_device *ld, loff_t pos, size_t len);

#endif /* LIVEMIG_WTRACK_H */
