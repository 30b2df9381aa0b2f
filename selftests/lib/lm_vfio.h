/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_vfio.h - VFIO plumbing for the livemig selftests.
 *
 * Every function returns 0 (or a byte count) on success and a negative
 * errno on failure, never -1 with errno, so tests can assert on the exact
 * error a uAPI call produced.  Nothing here includes the kselftest harness:
 * the library is usable from any small tool as well.
 *
 * Device access goes through a backend, picked by LIVEMIG_VFIO_BACKEND:
 *   group (default)  the legacy container/group path: /dev/vfio/vfio with
 *                    the type1 IOMMU, /dev/vfio/<group>;
 *   cdev             the VFIO device cdev, /dev/vfio/devices/vfioN, bound
 *                    to an iommufd (/dev/iommu) with one IOAS.
 * Debian's 6.12 has only the group path; the debug kernel has both.  On a
 * kernel without iommufd or device cdevs the cdev backend's open fails
 * with -EOPNOTSUPP and lm_backend_check() says why.
 */
#ifndef LM_VFIO_H
#define LM_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* A raw (not headers_install'ed) uapi vfio.h still says __user. */
#ifndef __user
#define __user
#endif
#include <linux/vfio.h>

#define LM_BDF_LEN		32

struct lm_dev;

/**
 * struct lm_backend - how a device is opened and its DMA mapped
 * @name: "group" or "cdev"
 * @open: acquire IOMMU context and device fd for @d->bdf
 * @open_device: (re)acquire only the device fd, IOMMU context kept (cdev:
 *	open, bind to the iommufd, attach to the IOAS again)
 * @close_device: drop only the device fd; DMA mappings stay
 * @close: drop everything
 * @dma_map: map @size bytes at @vaddr to @iova
 * @dma_unmap: undo it
 */
struct lm_backend {
	const char *name;
	int (*open)(struct lm_dev *d);
	int (*open_device)(struct lm_dev *d);
	void (*close_device)(struct lm_dev *d);
	void (*close)(struct lm_dev *d);
	int (*dma_map)(struct lm_dev *d, void *vaddr, uint64_t iova,
		       uint64_t size);
	int (*dma_unmap)(struct lm_dev *d, uint64_t iova, uint64_t size);
};

struct lm_dev {
	char bdf[LM_BDF_LEN];
	const struct lm_backend *be;
	int container_fd;	/* group backend */
	int group_fd;		/* group backend */
	int group_id;
	int iommufd;		/* cdev backend: /dev/iommu */
	uint32_t ioas_id;	/* cdev backend: the IOAS, 0 if none */
	uint32_t dev_id;	/* cdev backend: iommufd's id of the device */
	int fd;			/* the VFIO device fd, -1 when closed */
	/*
	 * lm_dev_close() binds the device to the driver again once it is
	 * closed: set by edu_dma_start() for a RAM->edu DMA, which leaves
	 * the driver unable to save the device until it probes it again
	 * (and zeroes edu's buffer).  A test of that rule clears it.
	 */
	bool rebind_on_close;
};

/* Backends, and the one LIVEMIG_VFIO_BACKEND (default "group") names. */
extern const struct lm_backend lm_backend_group;
extern const struct lm_backend lm_backend_cdev;
const struct lm_backend *lm_backend_default(void);
/*
 * Can the default backend open @bdf (NULL: any device) on this kernel?
 * 0, or -EOPNOTSUPP (kernel without it) / -errno with a reason in @why.
 */
int lm_backend_check(const char *bdf, char *why, size_t len);

/* Open/close. */
int lm_dev_open(struct lm_dev *d, const char *bdf);
int lm_dev_open_device(struct lm_dev *d);
void lm_dev_close_device(struct lm_dev *d);
void lm_dev_close(struct lm_dev *d);

/* Device info, reset. */
int lm_dev_info(struct lm_dev *d, struct vfio_device_info *info);
int lm_dev_reset(struct lm_dev *d);

/* Regions. */
int lm_region_info(struct lm_dev *d, uint32_t index,
		   struct vfio_region_info *info);
ssize_t lm_region_read(struct lm_dev *d, uint32_t index, uint64_t off,
		       void *buf, size_t len);
ssize_t lm_region_write(struct lm_dev *d, uint32_t index, uint64_t off,
			const void *buf, size_t len);

/* BAR access: exactly one access of the given width, 0 or -errno. */
int lm_bar_read32(struct lm_dev *d, int bar, uint64_t off, uint32_t *val);
int lm_bar_write32(struct lm_dev *d, int bar, uint64_t off, uint32_t val);
int lm_bar_read64(struct lm_dev *d, int bar, uint64_t off, uint64_t *val);
int lm_bar_write64(struct lm_dev *d, int bar, uint64_t off, uint64_t val);

/* PCI config space through the config region. */
int lm_cfg_read16(struct lm_dev *d, uint32_t off, uint16_t *val);
int lm_cfg_write16(struct lm_dev *d, uint32_t off, uint16_t val);
int lm_cfg_read32(struct lm_dev *d, uint32_t off, uint32_t *val);
int lm_cfg_write32(struct lm_dev *d, uint32_t off, uint32_t val);
/* Memory decode + bus master on, so BAR access and device DMA work. */
int lm_pci_enable(struct lm_dev *d);

/* VFIO_DEVICE_FEATURE, raw: @flags includes GET/SET/PROBE. */
int lm_feature(struct lm_dev *d, uint32_t flags, uint32_t feature,
	       void *data, size_t len);
int lm_mig_flags(struct lm_dev *d, uint64_t *flags);
/*
 * Set a migration state.  *@data_fd gets the returned data fd or -1;
 * it is written on success and on failure (then -1).
 */
int lm_mig_set_state(struct lm_dev *d, uint32_t state, int *data_fd);
int lm_mig_get_state(struct lm_dev *d, uint32_t *state);
int lm_mig_data_size(struct lm_dev *d, uint64_t *size);
/* VFIO_MIG_GET_PRECOPY_INFO on a data fd; argsz = sizeof(*info). */
int lm_precopy_info(int data_fd, struct vfio_precopy_info *info);
/* The same with an explicit argsz and input flags, for bad-input tests. */
int lm_precopy_info_raw(int data_fd, uint32_t argsz, uint32_t flags,
			struct vfio_precopy_info *info);

/* Names for messages; saving = PRE_COPY, PRE_COPY_P2P, STOP_COPY. */
const char *lm_state_name(uint32_t state);
bool lm_state_is_saving(uint32_t state);
/* PRE_COPY or PRE_COPY_P2P: states a kernel before 6.2 does not have. */
bool lm_state_is_precopy(uint32_t state);

/* DMA: anonymous memory mapped into the device's IOMMU context. */
struct lm_dma {
	void *vaddr;
	uint64_t iova;
	uint64_t size;
};

int lm_dma_alloc_map(struct lm_dev *d, uint64_t iova, uint64_t size,
		     struct lm_dma *dma);
int lm_dma_unmap_free(struct lm_dev *d, struct lm_dma *dma);

/*
 * Route interrupt @index (VFIO_PCI_INTX/MSI_IRQ_INDEX) vector 0 to eventfd
 * @efd; @efd < 0 disables the index.
 */
int lm_irq_eventfd(struct lm_dev *d, uint32_t index, int efd);

/* Counting open fds of this process (leak checks). */
int lm_count_fds(void);

#endif /* LM_VFIO_H */
