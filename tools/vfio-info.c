// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-info - show what VFIO exposes for PCI devices: opens each device's
 * /dev/vfio/<group> through a type1 container, gets the device fd and
 * prints device info, every region and IRQ index, and the migration
 * feature. Used by `make demo` (scripts/demo-guest) inside the test rig.
 *
 *   vfio-info BDF...        e.g. vfio-info 0000:00:01.0
 *
 * Exit status 0 if every device could be opened, else 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

static const char *const region_names[] = {
	[VFIO_PCI_BAR0_REGION_INDEX] = "BAR0",
	[VFIO_PCI_BAR1_REGION_INDEX] = "BAR1",
	[VFIO_PCI_BAR2_REGION_INDEX] = "BAR2",
	[VFIO_PCI_BAR3_REGION_INDEX] = "BAR3",
	[VFIO_PCI_BAR4_REGION_INDEX] = "BAR4",
	[VFIO_PCI_BAR5_REGION_INDEX] = "BAR5",
	[VFIO_PCI_ROM_REGION_INDEX] = "ROM",
	[VFIO_PCI_CONFIG_REGION_INDEX] = "CONFIG",
	[VFIO_PCI_VGA_REGION_INDEX] = "VGA",
};

static const char *const irq_names[] = {
	[VFIO_PCI_INTX_IRQ_INDEX] = "INTx",
	[VFIO_PCI_MSI_IRQ_INDEX] = "MSI",
	[VFIO_PCI_MSIX_IRQ_INDEX] = "MSI-X",
	[VFIO_PCI_ERR_IRQ_INDEX] = "ERR",
	[VFIO_PCI_REQ_IRQ_INDEX] = "REQ",
};

static const char *const mig_states[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static void human_size(unsigned long long size, char *buf, size_t len)
{
	if (size && !(size % (1024 * 1024)))
		snprintf(buf, len, "%llu MiB", size / (1024 * 1024));
	else if (size && !(size % 1024))
		snprintf(buf, len, "%llu KiB", size / 1024);
	else
		snprintf(buf, len, "%llu B", size);
}

static int iommu_group(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *slash;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = '\0';
	slash = strrchr(link, '/');
	return slash ? atoi(slash + 1) : -1;
}

static void show_regions(int dev, unsigned int num)
{
	unsigned int i;

	printf("  regions:\n");
	for (i = 0; i < num; i++) {
		struct vfio_region_info reg = { .argsz = sizeof(reg), .index = i };
		char size[32];

		if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &reg)) {
			/* No VGA region on a device that is not VGA. */
			if (errno == EINVAL && i == VFIO_PCI_VGA_REGION_INDEX)
				continue;
			printf("    %-6u error: %s\n", i, strerror(errno));
			continue;
		}
		if (!reg.size)
			continue;
		human_size(reg.size, size, sizeof(size));
		printf("    %-6s size %-9s offset 0x%llx %s%s%s%s\n",
		       i < sizeof(region_names) / sizeof(region_names[0]) && region_names[i] ?
				region_names[i] : "dev",
		       size, (unsigned long long)reg.offset,
		       reg.flags & VFIO_REGION_INFO_FLAG_READ ? "read " : "",
		       reg.flags & VFIO_REGION_INFO_FLAG_WRITE ? "write " : "",
		       reg.flags & VFIO_REGION_INFO_FLAG_MMAP ? "mmap " : "",
		       reg.flags & VFIO_REGION_INFO_FLAG_CAPS ? "caps" : "");
	}
}

static void show_irqs(int dev, unsigned int num)
{
	unsigned int i;

	printf("  interrupts:");
	for (i = 0; i < num; i++) {
		struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };

		if (ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &irq) || !irq.count)
			continue;
		printf(" %s x%u", i < sizeof(irq_names) / sizeof(irq_names[0]) && irq_names[i] ?
		       irq_names[i] : "?", irq.count);
	}
	printf("\n");
}

static void show_migration(int dev)
{
	struct {
		struct vfio_device_feature hdr;
		union {
			struct vfio_device_feature_migration mig;
			struct vfio_device_feature_mig_state state;
		};
	} f;

	memset(&f, 0, sizeof(f));
	f.hdr.argsz = sizeof(f);
	f.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &f)) {
		printf("  migration: not supported (%s)\n", strerror(errno));
		return;
	}
	printf("  migration: %s%s%s\n",
	       f.mig.flags & VFIO_MIGRATION_STOP_COPY ? "STOP_COPY " : "",
	       f.mig.flags & VFIO_MIGRATION_P2P ? "P2P " : "",
	       f.mig.flags & VFIO_MIGRATION_PRE_COPY ? "PRE_COPY" : "");

	memset(&f, 0, sizeof(f));
	f.hdr.argsz = sizeof(f);
	f.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	if (!ioctl(dev, VFIO_DEVICE_FEATURE, &f))
		printf("  device state: %s\n",
		       f.state.device_state < sizeof(mig_states) / sizeof(mig_states[0]) &&
		       mig_states[f.state.device_state] ?
				mig_states[f.state.device_state] : "?");
}

static int show(const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int container = -1, group = -1, dev = -1, grp, ret = 1;
	char path[64];

	printf("%s\n", bdf);
	grp = iommu_group(bdf);
	if (grp < 0) {
		printf("  error: no IOMMU group\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", grp);
	printf("  IOMMU group %d: %s\n", grp, path);

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0) {
		printf("  error: /dev/vfio/vfio: %s\n", strerror(errno));
		goto out;
	}
	group = open(path, O_RDWR);
	if (group < 0) {
		printf("  error: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		printf("  error: group not viable\n");
		goto out;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		printf("  error: type1 container: %s\n", strerror(errno));
		goto out;
	}
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0) {
		printf("  error: VFIO_GROUP_GET_DEVICE_FD: %s\n", strerror(errno));
		goto out;
	}
	if (ioctl(dev, VFIO_DEVICE_GET_INFO, &info)) {
		printf("  error: VFIO_DEVICE_GET_INFO: %s\n", strerror(errno));
		goto out;
	}
	printf("  device fd: %s%s, %u regions, %u IRQ indexes\n",
	       info.flags & VFIO_DEVICE_FLAGS_PCI ? "PCI" : "not PCI",
	       info.flags & VFIO_DEVICE_FLAGS_RESET ? ", resettable" : "",
	       info.num_regions, info.num_irqs);
	show_regions(dev, info.num_regions);
	show_irqs(dev, info.num_irqs);
	show_migration(dev);
	ret = 0;
out:
	if (dev >= 0)
		close(dev);
	if (group >= 0)
		close(group);
	if (container >= 0)
		close(container);
	return ret;
}

int main(int argc, char **argv)
{
	int i, ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s BDF...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		ret |= show(argv[i]);
	return ret;
}
