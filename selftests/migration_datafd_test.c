// SPDX-License-Identifier: GPL-2.0
/*
 * migration_datafd_test - the migration data fd as a file: a stream (no
 * positional I/O), one direction per session, ENOMSG at PRE_COPY's
 * temporary end and a permanent end in STOP_COPY, poll() readiness, and
 * death of the fd when its session ends, the device is closed or reset.
 * PRE_COPY sessions are skipped on kernels without PRE_COPY (before 6.2).
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

FIXTURE(fd)
{
	struct lm_dev dev;
	int fd;
};

/* Which session the fd under test belongs to. */
FIXTURE_VARIANT(fd)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(fd, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(fd, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(fd, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(fd, resuming) { .state = S_RESUMING };

FIXTURE_SETUP(fd)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(fd)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

static bool is_resuming(const FIXTURE_VARIANT(fd) *v)
{
	return v->state == S_RESUMING;
}

/* Saving sessions only. */
FIXTURE(savefd)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(savefd)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(savefd, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(savefd, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(savefd, stop_copy) { .state = S_STOP_COPY };

FIXTURE_SETUP(savefd)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(savefd)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

/* PRE_COPY sessions only. */
FIXTURE(prefd)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(prefd)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(prefd, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(prefd, pre_copy_p2p) { .state = S_PRE_COPY_P2P };

FIXTURE_SETUP(prefd)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(prefd)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(fd, pread_pwrite_lseek_espipe)
{
	uint8_t b[16] = { 0 };

	EXPECT_EQ(-1, pread(self->fd, b, sizeof(b), 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, pwrite(self->fd, b, sizeof(b), 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_CUR));
	EXPECT_EQ(ESPIPE, errno);
	/* Nothing above moved the stream: a saving fd still starts with
	 * the header magic.
	 */
	if (!is_resuming(variant)) {
		ASSERT_EQ(4, lm_read1(self->fd, b, 4));
		EXPECT_EQ(LM_STREAM_MAGIC, lm_get32(b));
	}
}

TEST_F(fd, access_mode)
{
	int fl = fcntl(self->fd, F_GETFL);

	ASSERT_NE(-1, fl);
	EXPECT_EQ(is_resuming(variant) ? O_WRONLY : O_RDONLY, fl & O_ACCMODE);
}

TEST_F(fd, wrong_direction_ebadf)
{
	uint8_t b[16] = { 0 };

	if (is_resuming(variant)) {
		EXPECT_EQ(-EBADF, lm_read1(self->fd, b, sizeof(b)));
	} else {
		EXPECT_EQ(-EBADF, lm_write1(self->fd, b, sizeof(b)));
		/* The refused write changed nothing: the stream is intact. */
		ASSERT_EQ(4, lm_read1(self->fd, b, 4));
		EXPECT_EQ(LM_STREAM_MAGIC, lm_get32(b));
	}
}

TEST_F(fd, poll_ready)
{
	int rev = lm_poll1(self->fd, POLLIN | POLLOUT, 0);

	ASSERT_LE(0, rev);
	if (is_resuming(variant)) {
		EXPECT_TRUE(!!(rev & POLLOUT)) TH_LOG("revents %#x", rev);
		EXPECT_FALSE(!!(rev & POLLIN)) TH_LOG("revents %#x", rev);
	} else {
		/* Fresh saving session: data is there. */
		EXPECT_TRUE(!!(rev & POLLIN)) TH_LOG("revents %#x", rev);
		EXPECT_FALSE(!!(rev & POLLOUT)) TH_LOG("revents %#x", rev);
	}
	EXPECT_FALSE(!!(rev & POLLERR)) TH_LOG("revents %#x", rev);
}

/* Read to the end; check which end and that it is sticky. */
TEST_F(savefd, end_of_stream)
{
	bool pre = variant->state != S_STOP_COPY;
	struct lm_buf b;
	uint8_t x;
	int end, i, rev;

	lm_buf_init(&b);
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK(64), LM_STREAM_LIMIT,
			      &end));
	EXPECT_LT((size_t)0, b.len);
	EXPECT_EQ(pre ? LM_END_TEMP : LM_END_PERM, end);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(pre ? -ENOMSG : 0, lm_read1(self->fd, &x, 1));
	/* poll: nothing readable at the temporary end, readable at the
	 * permanent one.
	 */
	rev = lm_poll1(self->fd, POLLIN, 0);
	ASSERT_LE(0, rev);
	if (pre) {
		EXPECT_FALSE(!!(rev & POLLIN)) TH_LOG("revents %#x", rev);
	} else {
		EXPECT_TRUE(!!(rev & POLLIN)) TH_LOG("revents %#x", rev);
	}
	EXPECT_FALSE(!!(rev & POLLERR)) TH_LOG("revents %#x", rev);
	lm_buf_free(&b);
}

/* PRE_COPY's end is temporary: STOP_COPY continues the same stream. */
TEST_F(prefd, temporary_end_then_stop_copy)
{
	struct lm_sview *v = calloc(1, sizeof(*v));
	struct lm_buf b;
	int end, nfd = -1;

	ASSERT_NE(NULL, v);
	lm_buf_init(&b);
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &nfd));
	EXPECT_EQ(-1, nfd);
	lm_close(&nfd);
	/* New data became readable. */
	EXPECT_TRUE(!!(lm_poll1(self->fd, POLLIN, 0) & POLLIN));
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	EXPECT_EQ(LM_END_PERM, end);
	EXPECT_EQ(0, lm_read1(self->fd, &end, 1));
	EXPECT_EQ(0, lm_stream_view(b.p, b.len, v)) TH_LOG("%s", v->why);
	free(v);
	lm_buf_free(&b);
}

/* A 1-byte reader sees the same kind of well-formed stream. */
TEST_F(savefd, byte_reads_well_formed)
{
	struct lm_sview *v = calloc(1, sizeof(*v));
	struct lm_buf b;
	int end;

	ASSERT_NE(NULL, v);
	lm_buf_init(&b);
	if (variant->state != S_STOP_COPY) {
		ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK(1),
				      LM_STREAM_LIMIT, &end));
		ASSERT_EQ(LM_END_TEMP, end);
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, NULL));
	}
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK(1), LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_PERM, end);
	EXPECT_EQ(0, lm_stream_view(b.p, b.len, v))
		TH_LOG("%zu bytes: %s", b.len, v->why);
	free(v);
	lm_buf_free(&b);
}

/* A bad user buffer fails with EFAULT and loses nothing. */
TEST_F(fd, efault_loses_nothing)
{
	struct lm_sview *v = calloc(1, sizeof(*v));
	void *bad;
	struct lm_buf b;
	int end;

	ASSERT_NE(NULL, v);
	bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, bad);
	lm_buf_init(&b);
	if (is_resuming(variant)) {
		struct lm_dev *d = &self->dev;
		struct lm_buf s;
		int we, se;

		EXPECT_EQ(-EFAULT, lm_write1(self->fd, bad, 64));
		/* Then a whole valid stream must still be accepted: take one
		 * from this device after starting over.
		 */
		lm_close(&self->fd);
		ASSERT_EQ(0, lm_reset_to_running(d));
		lm_buf_init(&s);
		ASSERT_EQ(0, lm_save(d, 0, LM_CHUNK_ALL, &s, NULL));
		ASSERT_EQ(0, lm_reset_to_running(d));
		ASSERT_EQ(0, lm_mig_set_state(d, S_RESUMING, &self->fd));
		EXPECT_EQ(-EFAULT, lm_write1(self->fd, bad, s.len));
		we = lm_feed(self->fd, s.p, s.len, LM_CHUNK_ALL, NULL);
		EXPECT_EQ(0, we);
		se = lm_mig_set_state(d, S_STOP, NULL);
		EXPECT_EQ(0, se);
		lm_buf_free(&s);
	} else {
		EXPECT_EQ(-EFAULT, lm_read1(self->fd, bad, 64));
		if (variant->state != S_STOP_COPY) {
			ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL,
					      LM_STREAM_LIMIT, &end));
			ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY,
						      NULL));
		}
		EXPECT_EQ(-EFAULT, lm_read1(self->fd, bad, 64));
		ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL,
				      LM_STREAM_LIMIT, &end));
		EXPECT_EQ(0, lm_stream_view(b.p, b.len, v))
			TH_LOG("%zu bytes: %s", b.len, v->why);
	}
	munmap(bad, 4096);
	free(v);
	lm_buf_free(&b);
}

/* A zero-length read or write is harmless. */
TEST_F(fd, zero_length_io)
{
	uint8_t b[4];

	if (is_resuming(variant)) {
		EXPECT_EQ(0, lm_write1(self->fd, b, 0));
	} else {
		EXPECT_EQ(0, lm_read1(self->fd, b, 0));
		ASSERT_EQ(4, lm_read1(self->fd, b, 4));
		EXPECT_EQ(LM_STREAM_MAGIC, lm_get32(b));
	}
}

static void expect_dead(struct __test_metadata *_metadata, int fd)
{
	uint8_t b[8] = { 0 };
	int rev, fl;

	fl = fcntl(fd, F_GETFL);
	ASSERT_NE(-1, fl);
	if ((fl & O_ACCMODE) == O_WRONLY) {
		EXPECT_EQ(-ENODEV, lm_write1(fd, b, sizeof(b)));
	} else {
		EXPECT_EQ(-ENODEV, lm_read1(fd, b, sizeof(b)));
	}
	rev = lm_poll1(fd, POLLIN | POLLOUT, 0);
	EXPECT_TRUE(rev > 0 && (rev & POLLERR)) TH_LOG("revents %#x", rev);
}

/* The session ends: leaving the saving/resuming states kills the fd. */
TEST_F(fd, dead_after_session_end)
{
	uint32_t leave_to = S_STOP;

	if (is_resuming(variant)) {
		struct lm_buf s;
		int nfd = -1;

		/* Leave RESUMING cleanly: own stream, then STOP. */
		lm_close(&self->fd);
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
		lm_buf_init(&s);
		ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &s, NULL));
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &nfd));
		self->fd = nfd;
		ASSERT_EQ(0, lm_feed(self->fd, s.p, s.len, LM_CHUNK_ALL,
				     NULL));
		lm_buf_free(&s);
	} else if (variant->state == S_PRE_COPY) {
		leave_to = S_RUNNING;
	} else if (variant->state == S_PRE_COPY_P2P) {
		leave_to = S_RUNNING_P2P;
	}
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, leave_to, NULL));
	expect_dead(_metadata, self->fd);
	/* PRECOPY_INFO, where the kernel has it, on a dead fd fails too. */
	if (!is_resuming(variant) && lm_kernel_has_precopy(NULL, 0)) {
		struct vfio_precopy_info info;

		EXPECT_NE(0, lm_precopy_info(self->fd, &info));
	}
}

TEST_F(fd, dead_after_device_close)
{
	lm_dev_close_device(&self->dev);
	expect_dead(_metadata, self->fd);
	ASSERT_EQ(0, lm_dev_open_device(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
	expect_dead(_metadata, self->fd);
}

TEST_F(fd, dead_after_reset)
{
	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
	expect_dead(_metadata, self->fd);
}

/* A new session gives a new fd; the previous session's fd is dead. */
TEST_F(fd, new_session_new_fd)
{
	int nfd = -1;
	uint8_t b[4];

	if (is_resuming(variant)) {
		/* RESUMING -> (no stream) fails, so restart from reset. */
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	} else {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	}
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &nfd));
	ASSERT_LE(0, nfd);
	EXPECT_NE(self->fd, nfd);
	expect_dead(_metadata, self->fd);
	if (!is_resuming(variant)) {
		ASSERT_EQ(4, lm_read1(nfd, b, 4));
		EXPECT_EQ(LM_STREAM_MAGIC, lm_get32(b));
	}
	lm_close(&nfd);
}

/* dup()ed fds share one stream. */
TEST_F(savefd, dup_shares_stream)
{
	uint8_t a[4], b[4];
	int d;

	d = dup(self->fd);
	ASSERT_LE(0, d);
	ASSERT_EQ(4, lm_read1(d, a, 4));
	EXPECT_EQ(LM_STREAM_MAGIC, lm_get32(a));
	ASSERT_EQ(4, lm_read1(self->fd, b, 4));
	/* version, then header length, not the magic again */
	EXPECT_EQ((uint32_t)LM_STREAM_VERSION | (uint32_t)LM_HDR_LEN << 16,
		  lm_get32(b));
	close(d);
}

LM_TEST_MAIN
