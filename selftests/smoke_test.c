// SPDX-License-Identifier: GPL-2.0
/*
 * Smoke test for livemig-vfio-pci: both QEMU edu devices (1234:11e8) are
 * bound to the driver and usable through the VFIO group/container API with
 * the type1 IOMMU backend: device info, region info for BAR0 (1 MiB) and
 * config space, and plain reads through both regions.
 *
 * With LIVEMIG_VFIO_BACKEND=cdev the same, through the device's VFIO cdev
 * (/dev/vfio/devices/vfioN) bound to an iommufd and attached to an IOAS,
 * with raw ioctls (not selftests/lib) so the library's cdev backend is
 * checked against them; skipped on a kernel without /dev/iommu.
 *
 * Runs inside the test rig (scripts/vm); outside it, or without the
 * driver loaded, it reports SKIP and exits 4.
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
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "kselftest_harness.h"

#define DRIVER		"livemig-vfio-pci"
#define DRIVER_DIR	"/sys/bus/pci/drivers/" DRIVER
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_BAR0_SIZE	(1024 * 1024)
#define EDU_ID_REG	0x00
#define EDU_ID_MASK	0x0000ffff	/* upper half is the version */
#define EDU_ID		0x000000ed
#define MAX_DEVS	8

static unsigned long read_hex(const char *bdf, const char *attr)
{
	char path[PATH_MAX], buf[32] = "";
	unsigned long val = ~0UL;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return val;
	if (fgets(buf, sizeof(buf), f))
		val = strtoul(buf, NULL, 16);
	fclose(f);
	return val;
}

static int is_edu(const char *bdf)
{
	return read_hex(bdf, "vendor") == EDU_VENDOR &&
	       read_hex(bdf, "device") == EDU_DEVICE;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* BDFs of the devices in @dir that are edu, sorted; returns the count. */
static int list_edu(const char *dir, char bdfs[][16], int max)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned int dom, bus, dev, fn;

		if (sscanf(de->d_name, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
			continue;
		if (strlen(de->d_name) >= sizeof(bdfs[0]) || !is_edu(de->d_name) || n == max)
			continue;
		strcpy(bdfs[n++], de->d_name);
	}
	closedir(d);
	qsort(bdfs, n, sizeof(bdfs[0]), cmp_str);
	return n;
}

static int iommu_group(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *slash;
	ssize_t len;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return -1;
	link[len] = '\0';
	slash = strrchr(link, '/');
	return slash ? atoi(slash + 1) : -1;
}

TEST(driver_registered)
{
	ASSERT_EQ(0, access(DRIVER_DIR, F_OK))
		TH_LOG("%s missing: module not loaded?", DRIVER_DIR);
	ASSERT_EQ(0, access("/sys/module/livemig_vfio_pci", F_OK));
}

TEST(every_edu_bound)
{
	char all[MAX_DEVS][16], bound[MAX_DEVS][16];
	int n_all, n_bound, i, j;

	n_all = list_edu("/sys/bus/pci/devices", all, MAX_DEVS);
	n_bound = list_edu(DRIVER_DIR, bound, MAX_DEVS);
	/* The rig has four (scripts/vm); the suites need two at least. */
	ASSERT_LE(2, n_all) TH_LOG("the rig has %d edu devices", n_all);
	ASSERT_EQ(n_all, n_bound) TH_LOG("every edu is bound to " DRIVER);
	for (i = 0; i < n_bound; i++) {
		EXPECT_STREQ(all[i], bound[i]);
		EXPECT_LE(0, iommu_group(bound[i])) TH_LOG("%s has no IOMMU group", bound[i]);
	}
	/* An IOMMU group of its own each, or VFIO cannot hand them out apart. */
	for (i = 0; i < n_bound; i++)
		for (j = i + 1; j < n_bound; j++)
			EXPECT_NE(iommu_group(bound[i]), iommu_group(bound[j]))
				TH_LOG("%s and %s share a group", bound[i], bound[j]);
}

static int use_cdev(void)
{
	const char *s = getenv("LIVEMIG_VFIO_BACKEND");

	return s && !strcmp(s, "cdev");
}

/* The VFIO cdev of @bdf, "/dev/vfio/devices/vfioN", from sysfs. */
static int cdev_path(const char *bdf, char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(path, len, "/dev/vfio/devices/%s", de->d_name);
			ret = 0;
			break;
		}
	closedir(d);
	return ret;
}

FIXTURE(edu) {
	char bdf[16];
	int container;	/* or the iommufd */
	int group;
	int device;
};

FIXTURE_VARIANT(edu) {
	int index;
};

FIXTURE_VARIANT_ADD(edu, first) { .index = 0 };
FIXTURE_VARIANT_ADD(edu, second) { .index = 1 };

FIXTURE_SETUP(edu)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char bdfs[MAX_DEVS][16], path[PATH_MAX];
	int n, grp;

	self->container = self->group = self->device = -1;
	n = list_edu(DRIVER_DIR, bdfs, MAX_DEVS);
	if (n <= variant->index)
		SKIP(return, "edu #%d not bound to %s", variant->index, DRIVER);
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[variant->index]);

	if (use_cdev()) {
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
		struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
		struct vfio_device_attach_iommufd_pt attach = {
			.argsz = sizeof(attach),
		};

		self->container = open("/dev/iommu", O_RDWR);
		ASSERT_LE(0, self->container) TH_LOG("/dev/iommu: %s", strerror(errno));
		ASSERT_EQ(0, ioctl(self->container, IOMMU_IOAS_ALLOC, &alloc));
		ASSERT_EQ(0, cdev_path(self->bdf, path, sizeof(path)))
			TH_LOG("%s has no vfio-dev/vfioN", self->bdf);
		self->device = open(path, O_RDWR);
		ASSERT_LE(0, self->device) TH_LOG("%s: %s", path, strerror(errno));
		bind.iommufd = self->container;
		ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
			TH_LOG("BIND_IOMMUFD %s: %s", path, strerror(errno));
		attach.pt_id = alloc.out_ioas_id;
		ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
			TH_LOG("ATTACH_IOMMUFD_PT %s: %s", path, strerror(errno));
		return;
	}

	self->container = open("/dev/vfio/vfio", O_RDWR);
	ASSERT_LE(0, self->container) TH_LOG("/dev/vfio/vfio: %s", strerror(errno));
	ASSERT_EQ(VFIO_API_VERSION, ioctl(self->container, VFIO_GET_API_VERSION));
	ASSERT_EQ(1, ioctl(self->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));

	grp = iommu_group(self->bdf);
	ASSERT_LE(0, grp);
	snprintf(path, sizeof(path), "/dev/vfio/%d", grp);
	self->group = open(path, O_RDWR);
	ASSERT_LE(0, self->group) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_TRUE(status.flags & VFIO_GROUP_FLAGS_VIABLE);
	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_SET_CONTAINER, &self->container));
	ASSERT_EQ(0, ioctl(self->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		TH_LOG("VFIO_SET_IOMMU: %s", strerror(errno));
	self->device = ioctl(self->group, VFIO_GROUP_GET_DEVICE_FD, self->bdf);
	ASSERT_LE(0, self->device) TH_LOG("GET_DEVICE_FD %s: %s", self->bdf, strerror(errno));
}

FIXTURE_TEARDOWN(edu)
{
	if (self->device >= 0)
		close(self->device);
	if (self->group >= 0)
		close(self->group);
	if (self->container >= 0)
		close(self->container);
}

TEST_F(edu, device_info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_LE(VFIO_PCI_NUM_REGIONS, info.num_regions);
	EXPECT_LE(VFIO_PCI_NUM_IRQS, info.num_irqs);
}

TEST_F(edu, bar0_region)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	__u32 id = 0;

	ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_GET_REGION_INFO, &reg));
	EXPECT_EQ(EDU_BAR0_SIZE, reg.size);
	EXPECT_TRUE(reg.flags & VFIO_REGION_INFO_FLAG_READ);
	EXPECT_TRUE(reg.flags & VFIO_REGION_INFO_FLAG_WRITE);
	/* The identification register through the driver's read path. */
	ASSERT_EQ(sizeof(id), pread(self->device, &id, sizeof(id), reg.offset + EDU_ID_REG));
	EXPECT_EQ(EDU_ID, id & EDU_ID_MASK) TH_LOG("edu ID register reads 0x%08x", id);
}

TEST_F(edu, config_region)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	__u16 ids[2] = { 0, 0 };

	ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_GET_REGION_INFO, &reg));
	EXPECT_LE(256, reg.size);
	EXPECT_TRUE(reg.flags & VFIO_REGION_INFO_FLAG_READ);
	EXPECT_TRUE(reg.flags & VFIO_REGION_INFO_FLAG_WRITE);
	ASSERT_EQ(sizeof(ids), pread(self->device, ids, sizeof(ids), reg.offset));
	EXPECT_EQ(EDU_VENDOR, ids[0]);
	EXPECT_EQ(EDU_DEVICE, ids[1]);
}

int main(int argc, char **argv)
{
	/* Not in the rig or driver not loaded: skip the whole program. */
	if (access(DRIVER_DIR, F_OK)) {
		printf("TAP version 13\n1..0 # SKIP %s not loaded (run me in scripts/vm)\n",
		       DRIVER);
		return KSFT_SKIP;
	}
	if (use_cdev() && access("/dev/iommu", F_OK)) {
		printf("TAP version 13\n1..0 # SKIP cdev: no /dev/iommu "
		       "(kernel without CONFIG_IOMMUFD)\n");
		return KSFT_SKIP;
	}
	return test_harness_run(argc, argv);
}
