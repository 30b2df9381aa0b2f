/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_kernel.h - what the running kernel's VFIO offers, told from the
 * kernel itself: its release (uname), and for DMA logging its
 * configuration.  Never from anything the driver reports: these are the
 * answers the driver is held to.
 *
 *   PRE_COPY        VFIO_DEVICE_STATE_PRE_COPY(_P2P), VFIO_MIGRATION_PRE_COPY,
 *                   VFIO_MIG_GET_PRECOPY_INFO: since 6.2
 *   MIG_DATA_SIZE   VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: since 6.2
 *   DMA logging     reports need vfio core's iova_bitmap: part of vfio up
 *                   to 6.6, from 6.7 on built only with
 *                   CONFIG_IOMMUFD_DRIVER
 *
 * Each helper fills @why (if not NULL) with a sentence naming the kernel
 * and the reason either way, e.g. "kernel 6.1.0-57-amd64: VFIO has no
 * PRE_COPY before 6.2", fit for a skip message.
 */
#ifndef LM_KERNEL_H
#define LM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

struct lm_kver {
	char release[65];	/* uname -r */
	int major;
	int minor;
	bool parsed;		/* major and minor could be read */
};

/* Parse "MAJOR.MINOR[...]" of @release into @kv; 0 or -EINVAL. */
int lm_kver_parse(const char *release, struct lm_kver *kv);

/* The running kernel (uname), parsed once. */
const struct lm_kver *lm_kver(void);

/*
 * Is the running kernel at least @major.@minor?  A release that cannot
 * be parsed counts as new enough: a test then runs (and may fail) rather
 * than being skipped for no proven reason.
 */
bool lm_kver_at_least(int major, int minor);

/* VFIO has the PRE_COPY states and VFIO_MIG_GET_PRECOPY_INFO (>= 6.2). */
bool lm_kernel_has_precopy(char *why, size_t len);

/* VFIO has VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (>= 6.2). */
bool lm_kernel_has_data_size(char *why, size_t len);

/*
 * Can vfio core report a device's DMA log (DMA_LOGGING_REPORT) on this
 * kernel?  1 yes, 0 no, a negative errno when it cannot tell (6.7 or
 * later and neither the kernel's config nor its symbols can be read) or
 * when the config and the symbols disagree; @why says which.
 */
int lm_kernel_dma_logging(char *why, size_t len);

#endif /* LM_KERNEL_H */
