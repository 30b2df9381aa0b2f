// SPDX-License-Identifier: GPL-2.0
/*
 * migration_state_test - the VFIO migration state machine as userspace sees
 * it: advertised flags, feature probing, the state after open, invalid
 * requests, and the whole (from, to) transition matrix over the seven
 * settable states plus ERROR as a target, each pair reached from a freshly
 * reset device.
 *
 * Before 6.2 VFIO has no PRE_COPY states: there the matrix is the five
 * other settable states plus ERROR, the arcs touching PRE_COPY are
 * skipped, and requests for PRE_COPY must be refused as unknown states.
 */
#include <fcntl.h>
#include <poll.h>

#include <linux/pci_regs.h>
#include <sys/eventfd.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

static const uint32_t all_states[] = {
	S_STOP, S_RUNNING, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P,
	S_PRE_COPY, S_PRE_COPY_P2P,
};

FIXTURE(mig)
{
	struct lm_dev dev;
};

FIXTURE_SETUP(mig)
{
	LM_OPEN_DEV(&self->dev, 0);
}

FIXTURE_TEARDOWN(mig)
{
	lm_dev_close(&self->dev);
}

/* What is offered follows the kernel's VFIO: PRE_COPY from 6.2 on. */
TEST_F(mig, migration_flags)
{
	uint64_t want = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
	uint64_t flags = 0;
	char why[160];

	if (lm_kernel_has_precopy(why, sizeof(why)))
		want |= VFIO_MIGRATION_PRE_COPY;
	ASSERT_EQ(0, lm_mig_flags(&self->dev, &flags));
	EXPECT_EQ(want, flags) TH_LOG("%s", why);
}

TEST_F(mig, probe_migration_get)
{
	EXPECT_EQ(0, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
				VFIO_DEVICE_FEATURE_GET,
				VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0));
}

TEST_F(mig, migration_feature_is_get_only)
{
	struct vfio_device_feature_migration m = {
		.flags = VFIO_MIGRATION_STOP_COPY,
	};

	EXPECT_EQ(-EINVAL, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
				      VFIO_DEVICE_FEATURE_SET,
				      VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0));
	EXPECT_EQ(-EINVAL, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_SET,
				      VFIO_DEVICE_FEATURE_MIGRATION, &m,
				      sizeof(m)));
}

TEST_F(mig, probe_mig_device_state_get_set)
{
	EXPECT_EQ(0, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
				VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_SET,
				VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0));
}

TEST_F(mig, probe_mig_data_size_get_only)
{
	LM_NEED_DATA_SIZE(&self->dev);
	EXPECT_EQ(0, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
				VFIO_DEVICE_FEATURE_GET,
				VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, NULL, 0));
	EXPECT_EQ(-EINVAL, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
				      VFIO_DEVICE_FEATURE_SET,
				      VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				      NULL, 0));
}

TEST_F(mig, running_after_open)
{
	/* The fixture reset the device; a plain close + reopen must also
	 * come up RUNNING.
	 */
	ASSERT_STATE(&self->dev, S_RUNNING);
	lm_dev_close_device(&self->dev);
	ASSERT_EQ(0, lm_dev_open_device(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
}

TEST_F(mig, get_state_returns_no_fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = 0xffff, .data_fd = 1234,
	};

	ASSERT_EQ(0, lm_feature(&self->dev, VFIO_DEVICE_FEATURE_GET,
				VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m,
				sizeof(m)));
	EXPECT_EQ((uint32_t)S_RUNNING, m.device_state);
	EXPECT_EQ(-1, m.data_fd);
}

TEST_F(mig, set_state_short_argsz)
{
	struct {
		struct vfio_device_feature f;
		uint32_t state;	/* data_fd missing */
	} arg = {
		.f.argsz = sizeof(struct vfio_device_feature) + 4,
		.f.flags = VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		.state = S_STOP,
	};

	EXPECT_EQ(-1, ioctl(self->dev.fd, VFIO_DEVICE_FEATURE, &arg));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_STATE(&self->dev, S_RUNNING);
}

TEST_F(mig, invalid_state_values)
{
	static const uint32_t bad[] = {
		VFIO_DEVICE_STATE_NR, VFIO_DEVICE_STATE_NR + 1, 64, 0x80000002,
		0xffffffff,
	};
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, lm_mig_set_state(&self->dev, bad[i], &fd))
			TH_LOG("state %#x", bad[i]);
		EXPECT_EQ(-1, fd);
		ASSERT_STATE(&self->dev, S_RUNNING);
	}
}

TEST_F(mig, same_state_is_noop)
{
	unsigned int i;
	bool precopy;
	int fd;

	LM_USE_PRECOPY(&self->dev, precopy);

	/* From RUNNING: RUNNING again is a no-op success without an fd. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, &fd));
	EXPECT_EQ(-1, fd);
	ASSERT_STATE(&self->dev, S_RUNNING);

	/* For every settable state but RESUMING (kept for the matrix). */
	for (i = 0; i < ARRAY_SIZE(all_states); i++) {
		uint32_t s = all_states[i];
		int fd1 = -1, fd2 = -1;

		if (s == S_RESUMING || (!precopy && lm_state_is_precopy(s)))
			continue;
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, s, &fd1))
			TH_LOG("-> %s", lm_state_name(s));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, s, &fd2))
			TH_LOG("%s -> %s", lm_state_name(s), lm_state_name(s));
		EXPECT_EQ(-1, fd2);
		ASSERT_STATE(&self->dev, s);
		lm_close(&fd1);
		lm_close(&fd2);
	}
}

TEST_F(mig, device_info_advertises_reset)
{
	struct vfio_device_info info;

	ASSERT_EQ(0, lm_dev_info(&self->dev, &info));
	EXPECT_TRUE(!!(info.flags & VFIO_DEVICE_FLAGS_PCI));
	EXPECT_TRUE(!!(info.flags & VFIO_DEVICE_FLAGS_RESET));
}

/*
 * The full matrix.  Every case starts from a freshly reset RUNNING device,
 * moves to @from (asserting that step too), then requests @to.
 */
FIXTURE(matrix)
{
	struct lm_dev dev;
	struct lm_buf stream;	/* a valid stream of this device */
	int from_fd;
};

FIXTURE_VARIANT(matrix)
{
	uint32_t from;
	uint32_t to;
};

#define M(f, t)								\
	FIXTURE_VARIANT_ADD(matrix, f##_to_##t) {			\
		.from = VFIO_DEVICE_STATE_##f,				\
		.to = VFIO_DEVICE_STATE_##t,				\
	};
#define M_ROW(f)							\
	M(f, STOP) M(f, RUNNING) M(f, STOP_COPY) M(f, RESUMING)		\
	M(f, RUNNING_P2P) M(f, PRE_COPY) M(f, PRE_COPY_P2P) M(f, ERROR)

M_ROW(STOP)
M_ROW(RUNNING)
M_ROW(RESUMING)
M_ROW(RUNNING_P2P)
M_ROW(PRE_COPY)
M_ROW(PRE_COPY_P2P)
/*
 * STOP_COPY last, and its two refused arcs to PRE_COPY states at the very
 * end: a driver that hangs on them (e.g. by handing them to a 6.12.95
 * vfio_mig_get_next_state(), which loops forever on them) takes the
 * device down with it, and should take down as little else as possible.
 */
M(STOP_COPY, STOP) M(STOP_COPY, RUNNING) M(STOP_COPY, STOP_COPY)
M(STOP_COPY, RESUMING) M(STOP_COPY, RUNNING_P2P) M(STOP_COPY, ERROR)
M(STOP_COPY, PRE_COPY) M(STOP_COPY, PRE_COPY_P2P)

FIXTURE_SETUP(matrix)
{
	const char *stage = "";
	int ret;

	self->from_fd = -1;
	lm_buf_init(&self->stream);
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->from);
	LM_NEED_STATE(&self->dev, variant->to);
	if (variant->from == S_RESUMING && variant->to != S_RESUMING &&
	    variant->to != S_ERROR) {
		/* Leaving RESUMING needs a complete stream: take our own. */
		ret = lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->stream,
			      &stage);
		ASSERT_EQ(0, ret) TH_LOG("saving: %s: %s", stage,
					 strerror(-ret));
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	}
}

FIXTURE_TEARDOWN(matrix)
{
	lm_close(&self->from_fd);
	lm_buf_free(&self->stream);
	lm_dev_close(&self->dev);
}

/* Whether the uAPI (vfio_mig_get_next_state) allows from -> to. */
static bool arc_allowed(uint32_t from, uint32_t to)
{
	if (to == S_ERROR)
		return false;
	if (from == S_STOP_COPY && (to == S_PRE_COPY || to == S_PRE_COPY_P2P))
		return false;
	return true;
}

/* Whether reaching @to from @from starts a new data session. */
static bool starts_session(uint32_t from, uint32_t to)
{
	if (from == to)
		return false;
	if (to == S_RESUMING)
		return true;
	return lm_state_is_saving(to) && !lm_state_is_saving(from);
}

/* Whether the session of a data fd opened in @from survives into @to. */
static bool session_continues(uint32_t from, uint32_t to)
{
	if (from == to)
		return true;
	return lm_state_is_saving(from) && lm_state_is_saving(to);
}

TEST_F(matrix, transition)
{
	uint32_t from = variant->from, to = variant->to;
	bool want_fd, allowed = arc_allowed(from, to);
	struct pollfd pfd;
	int fd = -2, ret;
	uint8_t b;

	/* Step 1: RUNNING -> from. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, from, &self->from_fd))
		TH_LOG("RUNNING -> %s", lm_state_name(from));
	want_fd = starts_session(S_RUNNING, from);
	ASSERT_EQ(want_fd, self->from_fd >= 0)
		TH_LOG("RUNNING -> %s returned data_fd %d",
		       lm_state_name(from), self->from_fd);
	ASSERT_STATE(&self->dev, from);

	if (from == S_RESUMING && self->stream.len) {
		ASSERT_EQ(0, lm_feed(self->from_fd, self->stream.p,
				     self->stream.len, LM_CHUNK_ALL, NULL));
	}

	/* Step 2: from -> to. */
	ret = lm_mig_set_state(&self->dev, to, &fd);
	if (!allowed) {
		EXPECT_EQ(-EINVAL, ret)
			TH_LOG("%s -> %s should be refused",
			       lm_state_name(from), lm_state_name(to));
		EXPECT_EQ(-1, fd);
		lm_close(&fd);
		/* A refused arc leaves the state alone... */
		ASSERT_STATE(&self->dev, from);
		/* ...and the session too. */
		if (self->from_fd >= 0 && lm_state_is_saving(from)) {
			ret = lm_read1(self->from_fd, &b, 1);
			EXPECT_NE(-ENODEV, ret);
			EXPECT_NE(-EBADF, ret);
		}
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("%s -> %s: %s", lm_state_name(from),
				 lm_state_name(to), strerror(-ret));
	ASSERT_STATE(&self->dev, to);

	want_fd = starts_session(from, to);
	EXPECT_EQ(want_fd, fd >= 0)
		TH_LOG("%s -> %s returned data_fd %d", lm_state_name(from),
		       lm_state_name(to), fd);

	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);

		ASSERT_NE(-1, fl);
		/* The new fd is of the right kind. */
		if (to == S_RESUMING) {
			EXPECT_EQ(O_WRONLY, fl & O_ACCMODE);
			EXPECT_EQ(-EBADF, lm_read1(fd, &b, 1));
		} else {
			EXPECT_EQ(O_RDONLY, fl & O_ACCMODE);
			ret = lm_read1(fd, &b, 1);
			EXPECT_EQ(1, ret) TH_LOG("first read of a new saving "
						 "fd: %ld", (long)ret);
		}
		EXPECT_NE(fd, self->from_fd);
	}

	/* The old fd: alive iff its session continues. */
	if (self->from_fd >= 0) {
		bool alive = session_continues(from, to);

		if (lm_state_is_saving(from)) {
			ret = lm_read1(self->from_fd, &b, 1);
			if (alive) {
				EXPECT_TRUE(ret == 1 || ret == 0 ||
					    ret == -ENOMSG)
					TH_LOG("read on continuing session: %d",
					       ret);
			} else {
				EXPECT_EQ(-ENODEV, ret);
			}
		} else {
			ret = lm_write1(self->from_fd, &b, 1);
			if (alive) {
				EXPECT_NE(-ENODEV, ret);
			} else {
				EXPECT_EQ(-ENODEV, ret);
			}
		}
		if (!alive) {
			pfd.fd = self->from_fd;
			pfd.events = POLLIN | POLLOUT;
			ASSERT_EQ(1, poll(&pfd, 1, 0));
			EXPECT_TRUE(!!(pfd.revents & POLLERR));
		}
	}
	lm_close(&fd);
}

/* PRE_COPY -> PRE_COPY_P2P -> STOP_COPY: one fd, one continuous stream. */
TEST_F(mig, precopy_chain_keeps_fd)
{
	struct lm_buf s;
	struct lm_sview *v;
	int end;
	int fd = -1, fd2 = -1, fd3 = -1;
	uint8_t b;

	LM_NEED_PRECOPY(&self->dev);
	lm_buf_init(&s);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	/* Part of the initial data in PRE_COPY... */
	ASSERT_EQ(1, lm_read1(fd, &b, 1));
	ASSERT_EQ(0, lm_buf_append(&s, &b, 1));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY_P2P, &fd2));
	EXPECT_EQ(-1, fd2);
	/* ...the rest of it in PRE_COPY_P2P... */
	ASSERT_EQ(0, lm_drain(fd, &s, LM_CHUNK(7), LM_STREAM_LIMIT, &end));
	EXPECT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd3));
	EXPECT_EQ(-1, fd3);
	/* ...and the final part in STOP_COPY, all through the same fd. */
	ASSERT_EQ(0, lm_drain(fd, &s, LM_CHUNK(5), LM_STREAM_LIMIT, &end));
	EXPECT_EQ(LM_END_PERM, end);

	v = calloc(1, sizeof(*v));
	ASSERT_NE(NULL, v);
	EXPECT_EQ(0, lm_stream_view(s.p, s.len, v))
		TH_LOG("stream of %zu bytes: %s", s.len, v->why);
	free(v);
	lm_buf_free(&s);
	lm_close(&fd);
	lm_close(&fd2);
	lm_close(&fd3);
}

/* ERROR is never reachable by request, and nothing leaves it but reset. */
TEST_F(mig, error_only_left_by_reset)
{
	unsigned int i;
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &fd));
	/* An empty stream: leaving RESUMING fails and lands in ERROR. */
	EXPECT_EQ(-EBADMSG, lm_mig_set_state(&self->dev, S_STOP, NULL));
	ASSERT_STATE(&self->dev, S_ERROR);
	for (i = 0; i < ARRAY_SIZE(all_states); i++) {
		int nfd;

		EXPECT_EQ(-EINVAL, lm_mig_set_state(&self->dev, all_states[i],
						    &nfd))
			TH_LOG("ERROR -> %s", lm_state_name(all_states[i]));
		lm_close(&nfd);
		ASSERT_STATE(&self->dev, S_ERROR);
	}
	EXPECT_EQ(-EINVAL, lm_mig_set_state(&self->dev, S_ERROR, NULL));
	ASSERT_STATE(&self->dev, S_ERROR);
	lm_close(&fd);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
}

/*
 * A kernel whose VFIO has no PRE_COPY (before 6.2): 6 and 7, the PRE_COPY
 * states of later uAPIs, are unknown states to it.  6.1's vfio core hands
 * the request to the driver as is, and vfio_mig_get_next_state() answers
 * EINVAL for any state past RUNNING_P2P.  The request must fail that way
 * from every settable state, return no data fd, and leave the state, its
 * session and the device as they were.  On 6.2 and later: skipped.
 */
FIXTURE(no_precopy)
{
	struct lm_dev dev;
	struct lm_buf stream;	/* a valid stream of this device */
	int fd;			/* the session of @from, if any */
};

FIXTURE_VARIANT(no_precopy)
{
	uint32_t from;
};

FIXTURE_VARIANT_ADD(no_precopy, stop) { .from = S_STOP };
FIXTURE_VARIANT_ADD(no_precopy, running) { .from = S_RUNNING };
FIXTURE_VARIANT_ADD(no_precopy, stop_copy) { .from = S_STOP_COPY };
FIXTURE_VARIANT_ADD(no_precopy, resuming) { .from = S_RESUMING };
FIXTURE_VARIANT_ADD(no_precopy, running_p2p) { .from = S_RUNNING_P2P };

FIXTURE_SETUP(no_precopy)
{
	char why[160];

	self->fd = -1;
	lm_buf_init(&self->stream);
	LM_OPEN_DEV(&self->dev, 0);
	if (lm_kernel_has_precopy(why, sizeof(why)))
		SKIP(return, "%s", why);
	LM_ASSERT_NO_PRECOPY(&self->dev, why);
	ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->stream,
			     NULL));
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->from, &self->fd));
	ASSERT_STATE(&self->dev, variant->from);
}

FIXTURE_TEARDOWN(no_precopy)
{
	lm_close(&self->fd);
	lm_buf_free(&self->stream);
	lm_dev_close(&self->dev);
}

TEST_F(no_precopy, refused_device_unchanged)
{
	static const uint32_t pre[] = { S_PRE_COPY, S_PRE_COPY_P2P };
	struct edu_prog p = { .liveness = 0x6010, .fact_k = 5 };
	struct vfio_precopy_info info;
	struct edu_regs expect;
	struct lm_buf s;
	unsigned int i;
	int we, se;
	uint8_t b;

	for (i = 0; i < ARRAY_SIZE(pre); i++) {
		/* Raw, to see the data_fd the kernel writes back. */
		struct {
			struct vfio_device_feature f;
			struct vfio_device_feature_mig_state m;
		} arg = {
			.f.argsz = sizeof(arg),
			.f.flags = VFIO_DEVICE_FEATURE_SET |
				   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			.m.device_state = pre[i],
			.m.data_fd = 1234,
		};

		EXPECT_EQ(-1, ioctl(self->dev.fd, VFIO_DEVICE_FEATURE, &arg))
			TH_LOG("%s -> %u accepted",
			       lm_state_name(variant->from), pre[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s -> %u",
						lm_state_name(variant->from),
						pre[i]);
		EXPECT_EQ(-1, arg.m.data_fd);
		if (arg.m.data_fd >= 0 && arg.m.data_fd != 1234)
			close(arg.m.data_fd);
		ASSERT_STATE(&self->dev, variant->from);
	}

	/* The session of @from goes on. */
	if (variant->from == S_STOP_COPY) {
		ASSERT_EQ(1, lm_read1(self->fd, &b, 1));
		/* PRECOPY_INFO is no ioctl of this kernel's data fd. */
		EXPECT_EQ(-ENOTTY, lm_precopy_info(self->fd, &info));
	} else if (variant->from == S_RESUMING) {
		ASSERT_EQ(0, lm_feed(self->fd, self->stream.p,
				     self->stream.len, LM_CHUNK_ALL, NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	}

	/* Back to RUNNING the ordinary way; the device works and migrates. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	lm_close(&self->fd);
	ASSERT_EQ(0, edu_program(&self->dev, &p, NULL, &expect));
	lm_buf_init(&s);
	ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &s, NULL));
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	lm_resume(&self->dev, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_REGS(&self->dev, &expect);
	lm_buf_free(&s);
}

/*
 * The uAPI (RUNNING_P2P -> STOP): a stopped device and its driver "must
 * accept and respond to interaction to support external subsystems in
 * the STOP state, for example PCI MSI-X and PCI config space".  edu has
 * MSI, not MSI-X: in each stopped state, config space reads and writes
 * (the command register, the MSI capability's address and data) and
 * turning MSI on and off through VFIO_DEVICE_SET_IRQS all work; the
 * device runs on afterwards.
 */
FIXTURE(stopped_access)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(stopped_access)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(stopped_access, stop) { .state = S_STOP };
FIXTURE_VARIANT_ADD(stopped_access, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(stopped_access, resuming) { .state = S_RESUMING };

FIXTURE_SETUP(stopped_access)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
}

FIXTURE_TEARDOWN(stopped_access)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

/* Offset of capability @id in config space, 0 if absent. */
static uint32_t find_cap(struct lm_dev *d, uint8_t id)
{
	uint32_t v, pos;
	int n;

	if (lm_cfg_read32(d, PCI_CAPABILITY_LIST & ~3U, &v))
		return 0;
	pos = (v >> (8 * (PCI_CAPABILITY_LIST & 3))) & 0xfc;
	for (n = 0; pos && n < 48; n++) {
		if (lm_cfg_read32(d, pos, &v))
			return 0;
		if ((v & 0xff) == id)
			return pos;
		pos = (v >> 8) & 0xfc;
	}
	return 0;
}

TEST_F(stopped_access, config_space_and_msi_work)
{
	uint16_t cmd, cmd2;
	uint32_t vd, addr, msi;
	int efd;

	msi = find_cap(&self->dev, PCI_CAP_ID_MSI);
	ASSERT_NE(0U, msi) TH_LOG("edu without an MSI capability");
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));

	ASSERT_EQ(0, lm_cfg_read32(&self->dev, PCI_VENDOR_ID, &vd));
	EXPECT_EQ((uint32_t)EDU_DEVICE << 16 | EDU_VENDOR, vd);
	ASSERT_EQ(0, lm_cfg_read16(&self->dev, PCI_COMMAND, &cmd));
	ASSERT_EQ(0, lm_cfg_write16(&self->dev, PCI_COMMAND,
				    cmd ^ PCI_COMMAND_INTX_DISABLE));
	ASSERT_EQ(0, lm_cfg_read16(&self->dev, PCI_COMMAND, &cmd2));
	EXPECT_EQ(cmd ^ PCI_COMMAND_INTX_DISABLE, cmd2);
	ASSERT_EQ(0, lm_cfg_write16(&self->dev, PCI_COMMAND, cmd));
	/* MSI address (low dword): what QEMU restores before RUNNING. */
	ASSERT_EQ(0, lm_cfg_write32(&self->dev, msi + PCI_MSI_ADDRESS_LO,
				    0xfee01000));
	ASSERT_EQ(0, lm_cfg_read32(&self->dev, msi + PCI_MSI_ADDRESS_LO, &addr));
	EXPECT_EQ(0xfee01000U, addr);

	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	EXPECT_EQ(0, lm_irq_eventfd(&self->dev, VFIO_PCI_MSI_IRQ_INDEX, efd));
	EXPECT_EQ(0, lm_irq_eventfd(&self->dev, VFIO_PCI_MSI_IRQ_INDEX, -1));
	close(efd);

	ASSERT_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_LIVENESS, 0x1234));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_LIVENESS, &vd));
	EXPECT_EQ(~0x1234U, vd);
}

LM_TEST_MAIN
