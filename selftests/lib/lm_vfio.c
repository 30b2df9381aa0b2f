// SPDX-License-Identifier: GPL-2.0
/*
 * lm_vfio.c - VFIO plumbing for the livemig selftests: device open through
 * a backend, regions, config space, device features, DMA mappings.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>

#include "lm_devsel.h"
#include "lm_vfio.h"

#define LM_SYSFS_PCI	"/sys/bus/pci/devices"

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* ---- group/container backend (type1) ---------------------------------- */

static int group_id_of(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), LM_SYSFS_PCI "/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return neg_errno();
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return atoi(base);
}

static int group_open_device(struct lm_dev *d)
{
	int fd;

	fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (fd < 0)
		return neg_errno();
	d->fd = fd;
	return 0;
}

static void group_close_device(struct lm_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static void group_close(struct lm_dev *d)
{
	group_close_device(d);
	if (d->group_fd >= 0)
		close(d->group_fd);
	if (d->container_fd >= 0)
		close(d->container_fd);
	d->group_fd = -1;
	d->container_fd = -1;
}

static int group_open(struct lm_dev *d)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int ret;

	d->group_id = group_id_of(d->bdf);
	if (d->group_id < 0)
		return d->group_id;

	d->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container_fd < 0)
		return neg_errno();
	if (ioctl(d->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto err;
	}
	if (ioctl(d->container_fd, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) != 1) {
		ret = -EOPNOTSUPP;
		goto err;
	}

	snprintf(path, sizeof(path), "/dev/vfio/%d", d->group_id);
	d->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->group_fd < 0) {
		ret = neg_errno();
		goto err;
	}
	if (ioctl(d->group_fd, VFIO_GROUP_GET_STATUS, &status)) {
		ret = neg_errno();
		goto err;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = -EBUSY;
		goto err;
	}
	if (ioctl(d->group_fd, VFIO_GROUP_SET_CONTAINER, &d->container_fd)) {
		ret = neg_errno();
		goto err;
	}
	if (ioctl(d->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ret = neg_errno();
		goto err;
	}
	ret = group_open_device(d);
	if (ret)
		goto err;
	return 0;
err:
	group_close(d);
	return ret;
}

static int group_dma_map(struct lm_dev *d, void *vaddr, uint64_t iova,
			 uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (ioctl(d->container_fd, VFIO_IOMMU_MAP_DMA, &map))
		return neg_errno();
	return 0;
}

static int group_dma_unmap(struct lm_dev *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (ioctl(d->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return neg_errno();
	return 0;
}

const struct lm_backend lm_backend_group = {
	.name = "group",
	.open = group_open,
	.open_device = group_open_device,
	.close_device = group_close_device,
	.close = group_close,
	.dma_map = group_dma_map,
	.dma_unmap = group_dma_unmap,
};

/* ---- cdev/iommufd backend -------------------------------------------- */

/*
 * A kernel with CONFIG_VFIO_DEVICE_CDEV and CONFIG_IOMMUFD gives every
 * VFIO device a character device, /dev/vfio/devices/vfioN (its name in
 * /sys/bus/pci/devices/<bdf>/vfio-dev/), and the IOMMU context is an
 * iommufd (/dev/iommu) with one IO address space (IOAS) in it.
 *
 * The IOMMU context (iommufd, IOAS and its mappings) lives from open to
 * close; the device fd is what open_device/close_device take and drop.
 * Opening it is: open the cdev, VFIO_DEVICE_BIND_IOMMUFD (the device's
 * first open: vfio core pins the driver module and calls its
 * open_device, then bind_iommufd), VFIO_DEVICE_ATTACH_IOMMUFD_PT to the
 * IOAS.  Closing the cdev undoes all three in the kernel's order: the
 * driver's close_device runs while the device is still attached, then
 * detach and unbind.  So a device closed and reopened finds the same
 * mappings at the same IOVAs, as with the group backend's container.
 */
#define LM_DEV_IOMMU		"/dev/iommu"
#define LM_DEV_VFIO_CDEVS	"/dev/vfio/devices"

/* The name of @bdf's VFIO cdev ("vfioN") into @name, 0 or -errno. */
static int cdev_name_of(const char *bdf, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *dir;

	snprintf(path, sizeof(path), LM_SYSFS_PCI "/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		return -ENODEV;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		if (strlen(de->d_name) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		snprintf(name, len, "%s", de->d_name);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

int lm_backend_check(const char *bdf, char *why, size_t len)
{
	const struct lm_backend *be = lm_backend_default();
	char name[64];
	int ret;

	why[0] = '\0';
	if (be != &lm_backend_cdev)
		return 0;
	if (access(LM_DEV_IOMMU, F_OK)) {
		snprintf(why, len, "cdev: no " LM_DEV_IOMMU
			 " (kernel without CONFIG_IOMMUFD, or iommufd not loaded)");
		return -EOPNOTSUPP;
	}
	if (access(LM_DEV_VFIO_CDEVS, F_OK)) {
		snprintf(why, len, "cdev: no " LM_DEV_VFIO_CDEVS
			 " (kernel without CONFIG_VFIO_DEVICE_CDEV)");
		return -EOPNOTSUPP;
	}
	if (!bdf)
		return 0;
	ret = cdev_name_of(bdf, name, sizeof(name));
	if (ret) {
		snprintf(why, len, "cdev: %s has no " LM_SYSFS_PCI
			 "/%s/vfio-dev/vfioN: %s", bdf, bdf, strerror(-ret));
		return ret;
	}
	return 0;
}

static int cdev_open_device(struct lm_dev *d)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = d->iommufd,
	};
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = d->ioas_id,
	};
	char name[64], path[PATH_MAX];
	int fd, ret;

	ret = cdev_name_of(d->bdf, name, sizeof(name));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), LM_DEV_VFIO_CDEVS "/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : neg_errno();
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ret = neg_errno();
		close(fd);
		return ret;
	}
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ret = neg_errno();
		close(fd);	/* unbinds */
		return ret;
	}
	d->dev_id = bind.out_devid;
	d->fd = fd;
	return 0;
}

static void cdev_close_device(struct lm_dev *d)
{
	/* Detach and unbind come with the release of the last reference. */
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static void cdev_close(struct lm_dev *d)
{
	struct iommu_destroy destroy = {
		.size = sizeof(destroy),
		.id = d->ioas_id,
	};

	cdev_close_device(d);
	if (d->iommufd >= 0) {
		/*
		 * Closing the iommufd would free the IOAS too; destroying it
		 * first checks that nothing (no device) still holds it.
		 */
		if (d->ioas_id)
			ioctl(d->iommufd, IOMMU_DESTROY, &destroy);
		close(d->iommufd);
	}
	d->iommufd = -1;
	d->ioas_id = 0;
}

static int cdev_open(struct lm_dev *d)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char why[160];
	int ret;

	ret = lm_backend_check(d->bdf, why, sizeof(why));
	if (ret)
		return ret;
	d->iommufd = open(LM_DEV_IOMMU, O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		return errno == ENOENT ? -EOPNOTSUPP : neg_errno();
	if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		ret = neg_errno();
		goto err;
	}
	d->ioas_id = alloc.out_ioas_id;
	ret = cdev_open_device(d);
	if (ret)
		goto err;
	return 0;
err:
	cdev_close(d);
	return ret;
}

static int cdev_dma_map(struct lm_dev *d, void *vaddr, uint64_t iova,
			uint64_t size)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = d->ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	if (ioctl(d->iommufd, IOMMU_IOAS_MAP, &map))
		return neg_errno();
	return 0;
}

static int cdev_dma_unmap(struct lm_dev *d, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = d->ioas_id,
		.iova = iova,
		.length = size,
	};

	if (ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &unmap))
		return neg_errno();
	/* Exactly what was asked, as type1 does for a whole mapping. */
	return unmap.length == size ? 0 : -EIO;
}

const struct lm_backend lm_backend_cdev = {
	.name = "cdev",
	.open = cdev_open,
	.open_device = cdev_open_device,
	.close_device = cdev_close_device,
	.close = cdev_close,
	.dma_map = cdev_dma_map,
	.dma_unmap = cdev_dma_unmap,
};

const struct lm_backend *lm_backend_default(void)
{
	const char *s = getenv("LIVEMIG_VFIO_BACKEND");

	if (s && !strcmp(s, "cdev"))
		return &lm_backend_cdev;
	return &lm_backend_group;
}

/* ---- generic device API ---------------------------------------------- */

int lm_dev_open(struct lm_dev *d, const char *bdf)
{
	memset(d, 0, sizeof(*d));
	d->container_fd = -1;
	d->group_fd = -1;
	d->iommufd = -1;
	d->ioas_id = 0;
	d->fd = -1;
	if (strlen(bdf) >= sizeof(d->bdf))
		return -ENAMETOOLONG;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	d->be = lm_backend_default();
	return d->be->open(d);
}

int lm_dev_open_device(struct lm_dev *d)
{
	if (d->fd >= 0)
		return -EBUSY;
	return d->be->open_device(d);
}

void lm_dev_close_device(struct lm_dev *d)
{
	if (d->be)
		d->be->close_device(d);
}

void lm_dev_close(struct lm_dev *d)
{
	int ret;

	if (d->be)
		d->be->close(d);
	d->be = NULL;
	if (d->rebind_on_close) {
		d->rebind_on_close = false;
		ret = lm_bind_driver(d->bdf, LM_DRIVER_NAME);
		if (ret)
			fprintf(stderr, "# rebind %s to %s: %s\n", d->bdf,
				LM_DRIVER_NAME, strerror(-ret));
	}
}

int lm_dev_info(struct lm_dev *d, struct vfio_device_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, info))
		return neg_errno();
	return 0;
}

int lm_dev_reset(struct lm_dev *d)
{
	if (ioctl(d->fd, VFIO_DEVICE_RESET))
		return neg_errno();
	return 0;
}

int lm_region_info(struct lm_dev *d, uint32_t index,
		   struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info))
		return neg_errno();
	return 0;
}

/* Region offsets are stable for vfio-pci, but ask rather than assume. */
static int region_offset(struct lm_dev *d, uint32_t index, uint64_t *off,
			 uint64_t *size)
{
	struct vfio_region_info info;
	int ret;

	ret = lm_region_info(d, index, &info);
	if (ret)
		return ret;
	*off = info.offset;
	*size = info.size;
	return 0;
}

ssize_t lm_region_read(struct lm_dev *d, uint32_t index, uint64_t off,
		       void *buf, size_t len)
{
	uint64_t base, size;
	ssize_t n;
	int ret;

	ret = region_offset(d, index, &base, &size);
	if (ret)
		return ret;
	n = pread(d->fd, buf, len, base + off);
	if (n < 0)
		return neg_errno();
	return n;
}

ssize_t lm_region_write(struct lm_dev *d, uint32_t index, uint64_t off,
			const void *buf, size_t len)
{
	uint64_t base, size;
	ssize_t n;
	int ret;

	ret = region_offset(d, index, &base, &size);
	if (ret)
		return ret;
	n = pwrite(d->fd, buf, len, base + off);
	if (n < 0)
		return neg_errno();
	return n;
}

static int access_exact(ssize_t n, size_t want)
{
	if (n < 0)
		return n;
	return (size_t)n == want ? 0 : -EIO;
}

int lm_bar_read32(struct lm_dev *d, int bar, uint64_t off, uint32_t *val)
{
	return access_exact(lm_region_read(d, VFIO_PCI_BAR0_REGION_INDEX + bar,
					   off, val, 4), 4);
}

int lm_bar_write32(struct lm_dev *d, int bar, uint64_t off, uint32_t val)
{
	return access_exact(lm_region_write(d, VFIO_PCI_BAR0_REGION_INDEX + bar,
					    off, &val, 4), 4);
}

int lm_bar_read64(struct lm_dev *d, int bar, uint64_t off, uint64_t *val)
{
	return access_exact(lm_region_read(d, VFIO_PCI_BAR0_REGION_INDEX + bar,
					   off, val, 8), 8);
}

int lm_bar_write64(struct lm_dev *d, int bar, uint64_t off, uint64_t val)
{
	return access_exact(lm_region_write(d, VFIO_PCI_BAR0_REGION_INDEX + bar,
					    off, &val, 8), 8);
}

int lm_cfg_read16(struct lm_dev *d, uint32_t off, uint16_t *val)
{
	return access_exact(lm_region_read(d, VFIO_PCI_CONFIG_REGION_INDEX,
					   off, val, 2), 2);
}

int lm_cfg_write16(struct lm_dev *d, uint32_t off, uint16_t val)
{
	return access_exact(lm_region_write(d, VFIO_PCI_CONFIG_REGION_INDEX,
					    off, &val, 2), 2);
}

int lm_cfg_write32(struct lm_dev *d, uint32_t off, uint32_t val)
{
	return access_exact(lm_region_write(d, VFIO_PCI_CONFIG_REGION_INDEX,
					    off, &val, 4), 4);
}

int lm_cfg_read32(struct lm_dev *d, uint32_t off, uint32_t *val)
{
	return access_exact(lm_region_read(d, VFIO_PCI_CONFIG_REGION_INDEX,
					   off, val, 4), 4);
}

int lm_pci_enable(struct lm_dev *d)
{
	uint16_t cmd;
	int ret;

	ret = lm_cfg_read16(d, PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return lm_cfg_write16(d, PCI_COMMAND, cmd);
}

/* ---- device features --------------------------------------------------- */

int lm_feature(struct lm_dev *d, uint32_t flags, uint32_t feature,
	       void *data, size_t len)
{
	struct vfio_device_feature *f;
	size_t sz = sizeof(*f) + len;
	int ret = 0;

	f = calloc(1, sz);
	if (!f)
		return -ENOMEM;
	f->argsz = sz;
	f->flags = flags | feature;
	if (len)
		memcpy(f->data, data, len);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, f))
		ret = neg_errno();
	else if (len)
		memcpy(data, f->data, len);
	free(f);
	return ret;
}

int lm_mig_flags(struct lm_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = { 0 };
	int ret;

	ret = lm_feature(d, VFIO_DEVICE_FEATURE_GET,
			 VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	if (!ret)
		*flags = mig.flags;
	return ret;
}

int lm_mig_set_state(struct lm_dev *d, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state,
		.data_fd = -2,	/* the kernel must overwrite it */
	};
	int ret;

	ret = lm_feature(d, VFIO_DEVICE_FEATURE_SET,
			 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	if (data_fd)
		*data_fd = ret ? -1 : mig.data_fd;
	else if (!ret && mig.data_fd >= 0)
		close(mig.data_fd);
	return ret;
}

int lm_mig_get_state(struct lm_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = ~0U,
		.data_fd = -2,
	};
	int ret;

	ret = lm_feature(d, VFIO_DEVICE_FEATURE_GET,
			 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	if (!ret)
		*state = mig.device_state;
	return ret;
}

int lm_mig_data_size(struct lm_dev *d, uint64_t *size)
{
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int ret;

	ret = lm_feature(d, VFIO_DEVICE_FEATURE_GET,
			 VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &ds, sizeof(ds));
	if (!ret)
		*size = ds.stop_copy_length;
	return ret;
}

int lm_precopy_info_raw(int data_fd, uint32_t argsz, uint32_t flags,
			struct vfio_precopy_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	info->argsz = argsz;
	info->flags = flags;
	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, info))
		return neg_errno();
	return 0;
}

int lm_precopy_info(int data_fd, struct vfio_precopy_info *info)
{
	return lm_precopy_info_raw(data_fd, sizeof(*info), 0, info);
}

const char *lm_state_name(uint32_t state)
{
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	if (state < sizeof(names) / sizeof(names[0]))
		return names[state];
	return "INVALID";
}

bool lm_state_is_saving(uint32_t state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       state == VFIO_DEVICE_STATE_STOP_COPY;
}

bool lm_state_is_precopy(uint32_t state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* ---- DMA --------------------------------------------------------------- */

int lm_dma_alloc_map(struct lm_dev *d, uint64_t iova, uint64_t size,
		     struct lm_dma *dma)
{
	void *p;
	int ret;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return neg_errno();
	ret = d->be->dma_map(d, p, iova, size);
	if (ret) {
		munmap(p, size);
		return ret;
	}
	dma->vaddr = p;
	dma->iova = iova;
	dma->size = size;
	return 0;
}

int lm_dma_unmap_free(struct lm_dev *d, struct lm_dma *dma)
{
	int ret = 0;

	if (!dma->vaddr)
		return 0;
	if (d->be)
		ret = d->be->dma_unmap(d, dma->iova, dma->size);
	munmap(dma->vaddr, dma->size);
	dma->vaddr = NULL;
	return ret;
}

int lm_irq_eventfd(struct lm_dev *d, uint32_t index, int efd)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} arg = {
		.set.argsz = sizeof(arg),
		.set.index = index,
		.set.start = 0,
	};

	if (efd >= 0) {
		arg.set.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				VFIO_IRQ_SET_ACTION_TRIGGER;
		arg.set.count = 1;
		arg.fd = efd;
	} else {
		arg.set.flags = VFIO_IRQ_SET_DATA_NONE |
				VFIO_IRQ_SET_ACTION_TRIGGER;
		arg.set.count = 0;
		arg.set.argsz = sizeof(arg.set);
	}
	if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &arg))
		return neg_errno();
	return 0;
}

int lm_count_fds(void)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir("/proc/self/fd");
	if (!dir)
		return neg_errno();
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;	/* the directory's own fd */
}
