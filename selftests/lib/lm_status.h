/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_status.h - the driver's per-device debugfs status file,
 * /sys/kernel/debug/livemig-vfio-pci/<bdf>/status: one "key: value" line
 * per figure (Documentation/operating.md, "Watching a migration").
 */
#ifndef LM_STATUS_H
#define LM_STATUS_H

#include <stddef.h>
#include <sys/types.h>

#include "lm_vfio.h"

#define LM_DEBUGFS	"/sys/kernel/debug"

/* Read a whole (pseudo) file into @buf, NUL terminated: its length or -errno. */
ssize_t lm_slurp(const char *path, char *buf, size_t max);

/* The value of "@key: value" in @d's status file, in @out; "" if absent. */
const char *lm_status(const struct lm_dev *d, const char *key, char *out,
		      size_t outlen);

/*
 * The number "@key: N" in @d's status file: 0 and *@v set, or -ENOENT
 * when the file or the line is missing.
 */
int lm_status_u64(const struct lm_dev *d, const char *key,
		  unsigned long long *v);

#endif /* LM_STATUS_H */
