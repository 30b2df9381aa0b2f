/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_mig.h - whole-migration helpers built on lm_vfio and lm_datafd.
 */
#ifndef LM_MIG_H
#define LM_MIG_H

#include <stdint.h>

#include "lm_datafd.h"
#include "lm_vfio.h"

/* Cap on any stream the tests read: far above what edu produces. */
#define LM_STREAM_LIMIT		(16u << 20)

/*
 * Save a RUNNING device: through PRE_COPY (initial data read to the
 * temporary end, then STOP_COPY) when @precopy, else straight to
 * STOP_COPY; read to the permanent end.  The device is left in STOP.
 * Returns 0 or a negative errno; *@stage names the step that failed.
 */
int lm_save(struct lm_dev *d, int precopy, struct lm_chunker c,
	    struct lm_buf *out, const char **stage);

/*
 * Resume a device (any state that can reach RESUMING) from @len bytes:
 * RESUMING, write in chunks, then STOP.  *@write_err gets the first
 * write() error (0 if all accepted) and *@stop_err the RESUMING->STOP
 * result.  Returns 0 when both are 0, else the first non-zero.
 */
int lm_resume(struct lm_dev *d, const void *p, size_t len,
	      struct lm_chunker c, int *write_err, int *stop_err);

/* Reset, re-enable memory/bus master and check the state is RUNNING. */
int lm_reset_to_running(struct lm_dev *d);

#endif /* LM_MIG_H */
