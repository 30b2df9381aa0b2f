// SPDX-License-Identifier: GPL-2.0
/*
 * lm_mig.c - whole-migration helpers.
 */
#include <errno.h>
#include <unistd.h>

#include "lm_mig.h"

int lm_save(struct lm_dev *d, int precopy, struct lm_chunker c,
	    struct lm_buf *out, const char **stage)
{
	int end;
	int fd = -1, fd2 = -1, ret;
	const char *dummy;

	if (!stage)
		stage = &dummy;
	if (precopy) {
		*stage = "RUNNING->PRE_COPY";
		ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
		if (ret)
			return ret;
		*stage = "PRE_COPY has no data fd";
		if (fd < 0)
			return -EBADF;
		*stage = "read in PRE_COPY";
		ret = lm_drain(fd, out, c, LM_STREAM_LIMIT, &end);
		if (ret)
			goto out;
		*stage = "PRE_COPY read did not end with ENOMSG";
		if (end != LM_END_TEMP) {
			ret = -EPROTO;
			goto out;
		}
		*stage = "PRE_COPY->STOP_COPY";
		ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd2);
		if (ret)
			goto out;
		*stage = "PRE_COPY->STOP_COPY returned a new fd";
		if (fd2 >= 0) {
			ret = -EEXIST;
			goto out;
		}
	} else {
		*stage = "->STOP_COPY";
		ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
		if (ret)
			return ret;
		*stage = "STOP_COPY has no data fd";
		if (fd < 0)
			return -EBADF;
	}
	*stage = "read in STOP_COPY";
	ret = lm_drain(fd, out, c, LM_STREAM_LIMIT, &end);
	if (ret)
		goto out;
	*stage = "STOP_COPY read did not reach a permanent end";
	if (end != LM_END_PERM) {
		ret = -EPROTO;
		goto out;
	}
	*stage = "STOP_COPY->STOP";
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	return ret;
}

int lm_resume(struct lm_dev *d, const void *p, size_t len,
	      struct lm_chunker c, int *write_err, int *stop_err)
{
	int fd = -1, ret;

	*write_err = 0;
	*stop_err = 0;
	ret = lm_mig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret) {
		*stop_err = ret;
		return ret;
	}
	if (fd < 0) {
		*stop_err = -EBADF;
		return -EBADF;
	}
	*write_err = lm_feed(fd, p, len, c, NULL);
	*stop_err = lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	return *write_err ? *write_err : *stop_err;
}

int lm_reset_to_running(struct lm_dev *d)
{
	uint32_t st;
	int ret;

	ret = lm_dev_reset(d);
	ret = ret ?: lm_pci_enable(d);
	ret = ret ?: lm_mig_get_state(d, &st);
	if (!ret && st != VFIO_DEVICE_STATE_RUNNING)
		ret = -EPROTO;
	return ret;
}
