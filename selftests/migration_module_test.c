// SPDX-License-Identifier: GPL-2.0
/*
 * migration_module_test - the driver coming and going with no device
 * open: unbind/rebind of a device and unload/reload of the module, after
 * which every device must be bound again, come up RUNNING, work and
 * migrate, and the module's reference count must be back where it was.
 *
 * Needs root and the module's path in LIVEMIG_MODULE (the .ko that was
 * loaded); skipped otherwise, so that an ordinary run never unloads the
 * driver under the other suites.  Every test leaves the module loaded and
 * the devices bound, whatever happens.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

#define SYSFS_DRV	"/sys/bus/pci/drivers/" LM_DRIVER_NAME
#define MODULE_NAME	"livemig_vfio_pci"
#define BIND_WAIT_MS	20000

static int sysfs_write(const char *path, const char *s)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static bool bound(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path), SYSFS_DRV "/%s", bdf);
	return access(path, F_OK) == 0;
}

static bool module_loaded(void)
{
	return access("/sys/module/" MODULE_NAME, F_OK) == 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Wait until every selected device is bound to the driver. */
static bool wait_all_bound(void)
{
	long end = now_ms() + BIND_WAIT_MS;
	int i;

	for (;;) {
		for (i = 0; i < lm_devices.n; i++)
			if (!bound(lm_devices.bdf[i]))
				break;
		if (i == lm_devices.n)
			return true;
		if (now_ms() > end)
			return false;
		usleep(50000);
	}
}

/*
 * An installed module is usually compressed (Debian: .ko.xz, what DKMS
 * installs and modprobe loads), and not always in a form the kernel's own
 * decompressor takes (DKMS's xz uses CRC64): such a file goes through
 * kmod's insmod, which decompresses it in user space as modprobe does.
 */
static int load_module(const char *path)
{
	size_t n = strlen(path);
	int fd, ret = 0, status;
	pid_t pid;

	if (n > 3 && strcmp(path + n - 3, ".ko")) {
		pid = fork();
		if (pid < 0)
			return -errno;
		if (!pid) {
			execlp("insmod", "insmod", path, (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			return -errno;
		return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		ret = -errno;
	close(fd);
	return ret;
}

static int unload_module(void)
{
	if (syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK))
		return -errno;
	return 0;
}

static int refcnt(void)
{
	char buf[32];
	int fd, n;

	fd = open("/sys/module/" MODULE_NAME "/refcnt", O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

/* Put things back: module loaded, every device bound. */
static void restore(const char *ko)
{
	int i;

	if (!module_loaded())
		load_module(ko);
	for (i = 0; i < lm_devices.n; i++)
		if (!bound(lm_devices.bdf[i]))
			sysfs_write("/sys/bus/pci/drivers_probe",
				    lm_devices.bdf[i]);
	wait_all_bound();
}

/* Every device opens RUNNING, works, and migrates onto itself. */
static void expect_devices_work(struct __test_metadata *_metadata)
{
	struct edu_prog p = { .liveness = 0x600d, .fact_k = 6 };
	struct edu_regs expect;
	struct lm_buf s;
	struct lm_dev d;
	int i, we, se;
	bool precopy;

	for (i = 0; i < lm_devices.n; i++) {
		lm_buf_init(&s);
		ASSERT_EQ(0, lm_dev_open_retry(&d, lm_devices.bdf[i]))
			TH_LOG("%s", lm_devices.bdf[i]);
		ASSERT_EQ(0, lm_pci_enable(&d));
		ASSERT_STATE(&d, S_RUNNING);
		ASSERT_EQ(0, lm_reset_to_running(&d));
		LM_USE_PRECOPY(&d, precopy);
		ASSERT_EQ(0, edu_program(&d, &p, NULL, &expect));
		ASSERT_EQ(0, lm_save(&d, precopy, LM_CHUNK_ALL, &s, NULL));
		ASSERT_EQ(0, lm_reset_to_running(&d));
		lm_resume(&d, s.p, s.len, LM_CHUNK_ALL, &we, &se);
		ASSERT_EQ(0, we);
		ASSERT_EQ(0, se);
		ASSERT_EQ(0, lm_mig_set_state(&d, S_RUNNING, NULL));
		ASSERT_REGS(&d, &expect);
		lm_dev_close(&d);
		lm_buf_free(&s);
	}
}

FIXTURE(module)
{
	const char *ko;
};

FIXTURE_SETUP(module)
{
	self->ko = getenv("LIVEMIG_MODULE");
	if (!self->ko || !*self->ko)
		SKIP(return, "set LIVEMIG_MODULE to the loaded .ko to run");
	if (geteuid())
		SKIP(return, "needs root");
	if (access(self->ko, R_OK))
		SKIP(return, "%s: %s", self->ko, strerror(errno));
	ASSERT_TRUE(module_loaded());
	ASSERT_TRUE(wait_all_bound());
}

FIXTURE_TEARDOWN(module)
{
	if (self->ko)
		restore(self->ko);
}

TEST_F(module, unbind_rebind_idle)
{
	const char *bdf = lm_device(0);

	ASSERT_EQ(0, sysfs_write(SYSFS_DRV "/unbind", bdf));
	ASSERT_FALSE(bound(bdf));
	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/drivers_probe", bdf));
	ASSERT_TRUE(wait_all_bound());
	expect_devices_work(_metadata);
}

TEST_F(module, unbind_rebind_after_use)
{
	const char *bdf = lm_device(0);
	struct lm_dev d;
	bool precopy;
	int fd = -1;

	/* Leave the device mid-migration, closed, then unbind it. */
	ASSERT_EQ(0, lm_dev_open_retry(&d, bdf));
	LM_USE_PRECOPY(&d, precopy);
	ASSERT_EQ(0, lm_mig_set_state(&d, precopy ? S_PRE_COPY_P2P :
						     S_STOP_COPY, &fd));
	close(fd);
	lm_dev_close(&d);
	ASSERT_EQ(0, sysfs_write(SYSFS_DRV "/unbind", bdf));
	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/drivers_probe", bdf));
	ASSERT_TRUE(wait_all_bound());
	expect_devices_work(_metadata);
}

TEST_F_TIMEOUT(module, unload_reload, 300)
{
	int base = refcnt(), i;

	ASSERT_LE(0, base);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, unload_module()) TH_LOG("round %d", i);
		ASSERT_FALSE(module_loaded());
		ASSERT_EQ(0, load_module(self->ko)) TH_LOG("round %d", i);
		ASSERT_TRUE(wait_all_bound()) TH_LOG("round %d", i);
	}
	expect_devices_work(_metadata);
	EXPECT_EQ(base, refcnt());
}

TEST_F(module, unload_refused_while_device_open)
{
	struct lm_dev d;

	ASSERT_EQ(0, lm_dev_open_retry(&d, lm_device(0)));
	EXPECT_NE(0, unload_module());
	EXPECT_TRUE(module_loaded());
	lm_dev_close(&d);
}

LM_TEST_MAIN
