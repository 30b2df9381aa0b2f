// SPDX-License-Identifier: GPL-2.0
/*
 * faults_test - data FDs against the device going away under them:
 * reset or close while a reader sleeps in poll, reset while a writer is
 * mid-stream, the device unbound (and rebound) while a data FD is still
 * open, and module removal refused while one is open.  Every case must
 * end with the FD cleanly dead (ENODEV / POLLERR), no splat in the
 * kernel log (the rig scans it) and the device usable again.
 *
 * The sleeping reader's FD is an idle one of either kind: a PRE_COPY FD
 * drained to its temporary end (skipped on kernels without PRE_COPY,
 * before 6.2) or a RESUMING FD, which is never readable.
 *
 * Unbind and module cases need root and sysfs (the rig runs as root);
 * they are skipped elsewhere.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

#define POLL_MS		20000
#define SYSFS_DRV	"/sys/bus/pci/drivers/" LM_DRIVER_NAME
#define MODULE_NAME	"livemig_vfio_pci"

struct poller {
	pthread_t thread;
	int fd;
	int ret;
	short revents;
	volatile pid_t tid;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	p->tid = syscall(SYS_gettid);
	p->ret = poll(&pfd, 1, POLL_MS);
	p->revents = pfd.revents;
	return NULL;
}

static int poller_start(struct poller *p, int fd)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	if (pthread_create(&p->thread, NULL, poll_thread, p))
		return -1;
	while (!p->tid)
		usleep(1000);
	/* The precondition: the thread sleeps inside poll() on the fd. */
	return lm_wait_in_poll(p->tid, POLL_MS / 2) ? -1 : 0;
}

/*
 * An idle data FD that poll(POLLIN) sleeps on: a PRE_COPY FD drained to
 * its temporary end, or a fresh RESUMING FD.
 */
static int idle_fd(struct lm_dev *d, uint32_t state)
{
	struct lm_buf b;
	int fd, ret, end;
	char c;

	if (state == S_RESUMING)
		return lm_mig_set_state(d, S_RESUMING, &fd) ? -1 : fd;
	if (lm_mig_set_state(d, S_PRE_COPY, &fd))
		return -1;
	lm_buf_init(&b);
	ret = lm_drain(fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT, &end);
	lm_buf_free(&b);
	if (ret || end != LM_END_TEMP || lm_read1(fd, &c, 1) != -ENOMSG) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One byte in the FD's direction: a dead FD refuses it with ENODEV. */
static long fd_io(int fd, uint32_t state)
{
	char c = 0;

	return state == S_RESUMING ? lm_write1(fd, &c, 1) :
				     lm_read1(fd, &c, 1);
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static bool bound(const char *bdf)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), SYSFS_DRV "/%s", bdf);
	return !stat(path, &st);
}

static int rebind(const char *bdf)
{
	int i, ret;

	ret = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	for (i = 0; i < 200 && !bound(bdf); i++)
		usleep(10000);
	return bound(bdf) ? 0 : (ret ? ret : -ENODEV);
}

FIXTURE(faults)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_SETUP(faults)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
}

FIXTURE_TEARDOWN(faults)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

/* An idle data FD of each kind, for the cases that sleep on one. */
FIXTURE(idle)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(idle)
{
	uint32_t state;		/* PRE_COPY or RESUMING */
};

FIXTURE_VARIANT_ADD(idle, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(idle, resuming) { .state = S_RESUMING };

FIXTURE_SETUP(idle)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
}

FIXTURE_TEARDOWN(idle)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(idle, reset_wakes_poller)
{
	struct poller p;

	self->fd = idle_fd(&self->dev, variant->state);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, poller_start(&p, self->fd));
	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	pthread_join(p.thread, NULL);
	/* Woken by the reset, not by the timeout. */
	EXPECT_EQ(1, p.ret);
	EXPECT_TRUE(p.revents & POLLERR);
	EXPECT_EQ(-ENODEV, fd_io(self->fd, variant->state));
}

TEST_F(idle, close_device_wakes_poller)
{
	struct poller p;

	self->fd = idle_fd(&self->dev, variant->state);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, poller_start(&p, self->fd));
	lm_dev_close_device(&self->dev);
	pthread_join(p.thread, NULL);
	EXPECT_EQ(1, p.ret);
	EXPECT_TRUE(p.revents & POLLERR);
	EXPECT_EQ(-ENODEV, fd_io(self->fd, variant->state));
	/* Reopened, the device starts over in RUNNING. */
	ASSERT_EQ(0, lm_dev_open_device(&self->dev));
	{
		uint32_t state;

		ASSERT_EQ(0, lm_mig_get_state(&self->dev, &state));
		EXPECT_EQ(S_RUNNING, state);
	}
}

TEST_F(faults, reset_mid_stream_writer)
{
	struct lm_buf stream;
	struct edu_regs before, after;
	const char *stage;
	struct lm_dev src;
	uint32_t state;
	size_t half;

	LM_OPEN_DEV(&src, 1);
	lm_buf_init(&stream);
	ASSERT_EQ(0, lm_save(&src, 0, LM_CHUNK_ALL, &stream, &stage));
	lm_dev_close(&src);

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &self->fd));
	half = stream.len / 2;
	ASSERT_EQ((long)half, lm_write1(self->fd, stream.p, half));
	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	EXPECT_EQ(-ENODEV, lm_write1(self->fd, stream.p + half,
				     stream.len - half));
	ASSERT_EQ(0, lm_mig_get_state(&self->dev, &state));
	EXPECT_EQ(S_RUNNING, state);
	/* The reset left power-on registers; nothing of the stream applied. */
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
	ASSERT_EQ(0, edu_read_regs(&self->dev, &after));
	edu_regs_power_on(&before);
	EXPECT_EQ(0, edu_regs_diff(&before, &after, NULL, 0));
	lm_buf_free(&stream);
}

TEST_F(idle, unbind_with_datafd_open)
{
	char bdf[LM_BDF_LEN];
	struct pollfd pfd;
	struct vfio_precopy_info info;
	uint32_t state;

	if (geteuid() || access(SYSFS_DRV "/unbind", W_OK))
		SKIP(return, "needs root and " SYSFS_DRV);
	strcpy(bdf, self->dev.bdf);
	self->fd = idle_fd(&self->dev, variant->state);
	ASSERT_LE(0, self->fd);

	/* The device, its group and container go; the data FD stays. */
	lm_dev_close(&self->dev);
	ASSERT_EQ(0, sysfs_write(SYSFS_DRV "/unbind", bdf));
	EXPECT_FALSE(bound(bdf));

	EXPECT_EQ(-ENODEV, fd_io(self->fd, variant->state));
	pfd.fd = self->fd;
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLERR);
	if (variant->state == S_PRE_COPY)
		EXPECT_EQ(-EINVAL, lm_precopy_info(self->fd, &info));
	/* Last reference: the device's memory goes with it. */
	lm_close(&self->fd);

	ASSERT_EQ(0, rebind(bdf));
	ASSERT_EQ(0, lm_dev_open(&self->dev, bdf));
	ASSERT_EQ(0, lm_mig_get_state(&self->dev, &state));
	EXPECT_EQ(S_RUNNING, state);
	EXPECT_EQ(0, lm_reset_to_running(&self->dev));
}

TEST_F(idle, unbind_wakes_poller)
{
	char bdf[LM_BDF_LEN];
	struct poller p;

	if (geteuid() || access(SYSFS_DRV "/unbind", W_OK))
		SKIP(return, "needs root and " SYSFS_DRV);
	strcpy(bdf, self->dev.bdf);
	self->fd = idle_fd(&self->dev, variant->state);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, poller_start(&p, self->fd));
	lm_dev_close(&self->dev);
	ASSERT_EQ(0, sysfs_write(SYSFS_DRV "/unbind", bdf));
	pthread_join(p.thread, NULL);
	EXPECT_EQ(1, p.ret);
	EXPECT_TRUE(p.revents & POLLERR);
	lm_close(&self->fd);
	ASSERT_EQ(0, rebind(bdf));
	ASSERT_EQ(0, lm_dev_open(&self->dev, bdf));
}

static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/" MODULE_NAME "/refcnt", "r");
	long n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

TEST_F(idle, module_pinned_by_datafd)
{
	long before, during;
	int ret;

	before = module_refcnt();
	if (geteuid() || before < 0)
		SKIP(return, "needs root and /sys/module/" MODULE_NAME);
	self->fd = idle_fd(&self->dev, variant->state);
	ASSERT_LE(0, self->fd);
	/* Close the device: only the data FD keeps the module busy. */
	lm_dev_close(&self->dev);
	during = module_refcnt();
	EXPECT_LT(before - 1, during);
	/* Non-blocking removal must be refused while the FD is open. */
	ret = syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK);
	EXPECT_EQ(-1, ret);
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY);
	lm_close(&self->fd);
}

LM_TEST_MAIN
