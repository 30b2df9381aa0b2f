/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig core: the migration FSM (fsm.c), as main.c registers it.
 */
#ifndef LIVEMIG_FSM_H
#define LIVEMIG_FSM_H

#include <linux/vfio.h>

extern const struct vfio_migration_ops livemig_mig_ops;
bool livemig_precopy_enabled(void);

#endif /* LIVEMIG_FSM_H */
