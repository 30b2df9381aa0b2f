/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig compat: every difference between the kernels this module builds
 * on (Linux 6.1 to 7.3; see Documentation/kernels.md), in one place.
 *
 * The rest of the module is written against the newest API and calls the
 * helpers below where kernels differ.  Where the kernel defines a macro
 * that came with a feature, the test is on that macro; a version test is
 * used only where nothing else tells, and names the change it stands for.
 *
 * LIVEMIG_HAVE_PRECOPY	   PRE_COPY states, VFIO_MIGRATION_PRE_COPY and
 *			   VFIO_MIG_GET_PRECOPY_INFO (6.2)
 * LIVEMIG_HAVE_DATA_SIZE  vfio_migration_ops.migration_get_data_size and
 *			   VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (6.2)
 * LIVEMIG_HAVE_IOMMUFD	   the iommufd device ops with detach_ioas, and the
 *			   VFIO device cdev (6.6)
 * LIVEMIG_HAVE_PRECOPY_V2 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 and the
 *			   REINIT output flag (7.1)
 * LIVEMIG_HAVE_WTRACK	   one address_space per VFIO device holding every
 *			   user mapping of its BARs (6.10): what write
 *			   tracking of a BAR needs to zap them
 *
 * and the vfio_device_ops members newer kernels require (6.17, 6.19) and
 * the three ways vfio-pci core has mapped BARs (6.1, 6.8, 7.2).
 */
#ifndef LIVEMIG_COMPAT_H
#define LIVEMIG_COMPAT_H

#include <linux/err.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/stddef.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

/* --- PRE_COPY and the stop-copy data size (6.2) ------------------------ */

#ifdef VFIO_MIG_GET_PRECOPY_INFO
#define LIVEMIG_HAVE_PRECOPY 1
#else
#define LIVEMIG_HAVE_PRECOPY 0
/*
 * 6.1's uAPI stops at RUNNING_P2P.  The PRE_COPY names get the values 6.2
 * gave them, so the FSM's tables compile unchanged; vfio core never walks
 * to them because the device does not set VFIO_MIGRATION_PRE_COPY.
 */
#define VFIO_DEVICE_STATE_PRE_COPY	((enum vfio_device_mig_state)6)
#define VFIO_DEVICE_STATE_PRE_COPY_P2P	((enum vfio_device_mig_state)7)
#define VFIO_MIGRATION_PRE_COPY		BIT(2)
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};

/* Never matched: the data FD answers every ioctl with ENOTTY on 6.1. */
#define VFIO_MIG_GET_PRECOPY_INFO	(~0U)
#endif

#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define LIVEMIG_HAVE_DATA_SIZE 1
#define LIVEMIG_MIG_OP_DATA_SIZE(fn)	.migration_get_data_size = (fn),
#else
#define LIVEMIG_HAVE_DATA_SIZE 0
#define LIVEMIG_MIG_OP_DATA_SIZE(fn)
#endif

/* --- VFIO_MIG_GET_PRECOPY_INFO arguments, PRECOPY_INFOv2 (7.1) ------- */

#ifdef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define LIVEMIG_HAVE_PRECOPY_V2 1
#else
#define LIVEMIG_HAVE_PRECOPY_V2 0
#endif

/**
 * livemig_precopy_info_args() - check and fetch VFIO_MIG_GET_PRECOPY_INFO's
 * argument
 * @vdev: the device the data FD belongs to
 * @cmd: the ioctl command
 * @arg: the user's argument
 * @info: receives the user's structure
 *
 * The input flags select nothing and are never a reason to fail.  Until
 * the user opts in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (7.1, handled
 * by vfio core) the output flags are reserved and keep whatever the user
 * passed, as with every vfio driver; after it they are output only and
 * start at 0.  7.1 has the check as vfio_check_precopy_ioctl(); older
 * kernels get the same here.
 *
 * Return: 0, -ENOTTY for another command, -EFAULT or -EINVAL.
 */
static inline int livemig_precopy_info_args(struct vfio_device *vdev,
					    unsigned int cmd, unsigned long arg,
					    struct vfio_precopy_info *info)
{
#if LIVEMIG_HAVE_PRECOPY_V2
	return vfio_check_precopy_ioctl(vdev, cmd, arg, info);
#else
	const size_t minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);

	if (!LIVEMIG_HAVE_PRECOPY || cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info->argsz < minsz)
		return -EINVAL;
	return 0;
#endif
}

/* --- iommufd device ops (6.6) ------------------------------------------- */

/*
 * Tested on the VFIO device cdev uAPI (6.6), which came with detach_ioas;
 * 6.2 to 6.5 had the other three ops only and are not supported here.
 */
#ifdef VFIO_DEVICE_BIND_IOMMUFD
#define LIVEMIG_HAVE_IOMMUFD 1
#define LIVEMIG_IOMMUFD_OPS						\
	.bind_iommufd = vfio_iommufd_physical_bind,			\
	.unbind_iommufd = vfio_iommufd_physical_unbind,			\
	.attach_ioas = vfio_iommufd_physical_attach_ioas,		\
	.detach_ioas = vfio_iommufd_physical_detach_ioas,
#else
#define LIVEMIG_HAVE_IOMMUFD 0
#define LIVEMIG_IOMMUFD_OPS
#endif

/*
 * "module: Convert symbol namespace to string literal" (6.13): before it
 * MODULE_IMPORT_NS() took a bare identifier.  6.1 has no IOMMUFD
 * namespace to import.
 */
#if !LIVEMIG_HAVE_IOMMUFD
#define LIVEMIG_IMPORT_NS_IOMMUFD()
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#define LIVEMIG_IMPORT_NS_IOMMUFD()	MODULE_IMPORT_NS("IOMMUFD")
#else
#define LIVEMIG_IMPORT_NS_IOMMUFD()	MODULE_IMPORT_NS(IOMMUFD)
#endif

/* --- DMA logging reports ------------------------------------------------- */

/*
 * vfio core fills the user's bitmap through iova_bitmap.  Up to 6.6 that
 * was part of vfio itself; since "vfio: Move iova_bitmap into iommufd"
 * (6.7) it is built only with CONFIG_IOMMUFD_DRIVER, and without it every
 * DMA_LOGGING_REPORT fails whatever the driver does.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)
#define LIVEMIG_KERNEL_REPORTS_DMA_LOG	1
#else
#define LIVEMIG_KERNEL_REPORTS_DMA_LOG	IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
#endif

/* --- vfio_device_ops members newer kernels require -------------------- */

/*
 * "vfio/pci: Do vf_token checks for VFIO_DEVICE_BIND_IOMMUFD" (6.17):
 * vfio_pci_core_match() calls ops->match_token_uuid unconditionally.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define LIVEMIG_MATCH_TOKEN_OP	\
	.match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define LIVEMIG_MATCH_TOKEN_OP
#endif

/*
 * "vfio: Add get_region_info_caps op" (6.19): VFIO_DEVICE_GET_REGION_INFO
 * no longer reaches ->ioctl; without the op every region is EINVAL.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define LIVEMIG_REGION_INFO_OP	\
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,
#else
#define LIVEMIG_REGION_INFO_OP
#endif

/* --- BAR mappings -------------------------------------------------------- */

/*
 * vfio-pci core owns the kernel mappings of BARs and releases them in
 * vfio_pci_core_disable().  6.1 to 6.7 map on demand in a static helper;
 * "vfio/pci: Expose vfio_pci_core_setup_barmap()" (6.8) exported it;
 * "vfio/pci: Replace vfio_pci_core_setup_barmap() with
 * vfio_pci_core_get_iomap()" (7.2) maps every BAR in vfio_pci_core_enable()
 * and leaves an ERR_PTR where it could not.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0)
#define LIVEMIG_BARS_MAPPED_AT_ENABLE	1
#else
#define LIVEMIG_BARS_MAPPED_AT_ENABLE	0
#endif

/**
 * livemig_map_bar() - make sure vfio-pci core holds a kernel mapping of a BAR
 * @core: the device, between vfio_pci_core_enable() and _disable()
 * @bar: BAR index, below PCI_STD_NUM_BARS
 *
 * Return: 0 or a negative errno.
 */
static inline int livemig_map_bar(struct vfio_pci_core_device *core, int bar)
{
#if LIVEMIG_BARS_MAPPED_AT_ENABLE
	void __iomem *io = vfio_pci_core_get_iomap(core, bar);

	return IS_ERR(io) ? PTR_ERR(io) : 0;
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	return vfio_pci_core_setup_barmap(core, bar);
#else
	struct pci_dev *pdev = core->pdev;
	void __iomem *io;
	int ret;

	if (core->barmap[bar])
		return 0;
	ret = pci_request_selected_regions(pdev, 1 << bar, "vfio");
	if (ret)
		return ret;
	io = pci_iomap(pdev, bar, 0);
	if (!io) {
		pci_release_selected_regions(pdev, 1 << bar);
		return -ENOMEM;
	}
	core->barmap[bar] = io;
	return 0;
#endif
}

/**
 * livemig_bar_iomem() - vfio-pci core's kernel mapping of a BAR
 * @core: the device, open (its BARs were mapped by livemig_map_bar())
 * @bar: BAR index, below PCI_STD_NUM_BARS
 *
 * Return: the mapping, or NULL if the BAR is not mapped.
 */
static inline void __iomem *livemig_bar_iomem(struct vfio_pci_core_device *core,
					      int bar)
{
	void __iomem *io = core->barmap[bar];

	/* 7.2 leaves an ERR_PTR for a BAR it could not map. */
	return IS_ERR_OR_NULL(io) ? NULL : io;
}

/* --- one address_space for a device's mappings (6.10) ------------------ */

/*
 * "vfio: Create vfio_fs_type with inode per device" (b7c5e64fecfa, merged
 * for 6.10-rc4 with "vfio/pci: Use unmap_mapping_range()") gave every VFIO
 * device an inode whose address_space holds all user mappings of its
 * BARs; vfio-pci core zaps them there with unmap_mapping_range().  Stable
 * trees that took the pair before 6.10 only miss the tracking here.  6.1
 * keeps a list of vmas private to vfio-pci core instead, so src/wtrack.c
 * tracks no writes there (6.1 has no PRE_COPY, where tracking pays off).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define LIVEMIG_HAVE_WTRACK	1
static inline struct address_space *
livemig_dev_mapping(struct vfio_pci_core_device *core)
{
	return core->vdev.inode->i_mapping;
}
#else
#define LIVEMIG_HAVE_WTRACK	0
static inline struct address_space *
livemig_dev_mapping(struct vfio_pci_core_device *core)
{
	return NULL;
}
#endif

#endif /* LIVEMIG_COMPAT_H */
