// SPDX-License-Identifier: GPL-2.0
/*
 * migration_precopy_test - VFIO_MIG_GET_PRECOPY_INFO and
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: where PRECOPY_INFO is valid, its input
 * checks, initial_bytes falling to zero as the initial data is read,
 * dirty_bytes rising when the device changes in PRE_COPY and falling as
 * that is read; a non-zero stop-copy estimate in every state that covers
 * what STOP_COPY then produces.
 *
 * All of it came with 6.2: on older kernels every test here is skipped
 * (after checking that the device does not offer what VFIO lacks).
 */
#include <poll.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

FIXTURE(precopy)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(precopy)
{
	uint32_t state;		/* PRE_COPY or PRE_COPY_P2P */
};

FIXTURE_VARIANT_ADD(precopy, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(precopy, pre_copy_p2p) { .state = S_PRE_COPY_P2P };

FIXTURE_SETUP(precopy)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(precopy)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(precopy, initial_info)
{
	struct vfio_precopy_info info;

	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ((uint32_t)sizeof(info), info.argsz);
	EXPECT_EQ(0U, info.flags);
	EXPECT_LT(0ULL, info.initial_bytes);
	EXPECT_EQ(0ULL, info.dirty_bytes);
}

TEST_F(precopy, argsz_too_small)
{
	static const uint32_t bad[] = { 0, 1, 8, 16, 23 };
	struct vfio_precopy_info info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(-EINVAL, lm_precopy_info_raw(self->fd, bad[i], 0,
						       &info))
			TH_LOG("argsz %u", bad[i]);
	/* Larger than the structure is fine. */
	EXPECT_EQ(0, lm_precopy_info_raw(self->fd, 32, 0, &info));
	EXPECT_EQ(0, lm_precopy_info_raw(self->fd, 4096, 0, &info));
}

/*
 * The input flags select nothing: mlx5, hisi, virtio and qat ignore them
 * and QEMU passes 0.  Without the PRECOPY_INFOv2 opt-in the output flags
 * are reserved (7.1's uAPI), so only the call's success and the byte
 * counts are asserted: they must be what a call with flags 0 reports at
 * the same point (nothing is read in between).
 */
TEST_F(precopy, input_flags_ignored)
{
	static const uint32_t any[] = { 1, 2, 0x80000000, 0xffffffff };
	struct vfio_precopy_info ref, info;
	unsigned int i;

	ASSERT_EQ(0, lm_precopy_info_raw(self->fd, sizeof(ref), 0, &ref));
	for (i = 0; i < ARRAY_SIZE(any); i++) {
		EXPECT_EQ(0, lm_precopy_info_raw(self->fd, sizeof(info),
						 any[i], &info))
			TH_LOG("flags %#x", any[i]);
		EXPECT_EQ(ref.initial_bytes, info.initial_bytes)
			TH_LOG("flags %#x", any[i]);
		EXPECT_EQ(ref.dirty_bytes, info.dirty_bytes)
			TH_LOG("flags %#x", any[i]);
	}
}

#ifndef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 12
#endif

/*
 * 7.1: after VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 the flags are output
 * only.  No engine of this driver produces new initial data during
 * PRE_COPY, so every call reports 0 (no VFIO_PRECOPY_INFO_REINIT, no
 * echo of the input), with the same counts as before the opt-in.
 */
TEST_F(precopy, info_v2_flags_output_only)
{
	static const uint32_t any[] = { 0, 1, 2, 0x80000000, 0xffffffff };
	struct vfio_precopy_info ref, info;
	unsigned int i;
	int ret;

	ASSERT_EQ(0, lm_precopy_info_raw(self->fd, sizeof(ref), 0, &ref));
	ret = lm_feature(&self->dev, VFIO_DEVICE_FEATURE_SET,
			 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);
	if (!lm_kver_at_least(7, 1)) {
		EXPECT_NE(0, ret);
		SKIP(return, "kernel %s: no PRECOPY_INFOv2 before 7.1",
		     lm_kver()->release);
	}
	ASSERT_EQ(0, ret);
	for (i = 0; i < ARRAY_SIZE(any); i++) {
		EXPECT_EQ(0, lm_precopy_info_raw(self->fd, sizeof(info),
						 any[i], &info))
			TH_LOG("flags %#x", any[i]);
		EXPECT_EQ(0U, info.flags) TH_LOG("flags %#x", any[i]);
		EXPECT_EQ(ref.initial_bytes, info.initial_bytes)
			TH_LOG("flags %#x", any[i]);
		EXPECT_EQ(ref.dirty_bytes, info.dirty_bytes)
			TH_LOG("flags %#x", any[i]);
	}
}

TEST_F(precopy, bad_pointer_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_MIG_GET_PRECOPY_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(precopy, unknown_ioctl_rejected)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	/* The next VFIO ioctl number is not the data fd's business. */
	EXPECT_EQ(-1, ioctl(self->fd, _IO(VFIO_TYPE, VFIO_BASE + 22), &info));
	EXPECT_TRUE(errno == ENOTTY || errno == EINVAL) TH_LOG("errno %d",
							       errno);
}

/* initial_bytes counts down exactly as the initial data is read. */
TEST_F(precopy, initial_bytes_fall_to_zero)
{
	struct vfio_precopy_info info;
	uint64_t initial, total = 0;
	uint8_t buf[7];
	long n;

	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	initial = info.initial_bytes;
	ASSERT_LT(0ULL, initial);
	for (;;) {
		n = lm_read1(self->fd, buf, sizeof(buf));
		if (n == -ENOMSG)
			break;
		ASSERT_LT(0, n) TH_LOG("read: %ld", n);
		total += n;
		ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
		if (total <= initial) {
			EXPECT_EQ(initial - total, info.initial_bytes);
		} else {
			EXPECT_EQ(0ULL, info.initial_bytes);
		}
		ASSERT_GT(1ULL << 20, total);
	}
	/* Everything available before the temporary end was accounted. */
	EXPECT_LE(initial, total);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info.initial_bytes);
	EXPECT_EQ(0ULL, info.dirty_bytes);
}

/* initial + dirty is what can be read before the temporary end. */
TEST_F(precopy, info_matches_readable_bytes)
{
	struct vfio_precopy_info info;
	struct lm_buf b;
	int end;

	lm_buf_init(&b);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK(16), LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_TEMP, end);
	EXPECT_EQ(info.initial_bytes + info.dirty_bytes, (uint64_t)b.len);
	lm_buf_free(&b);
}

/* An unchanged device produces no dirty data. */
TEST_F(precopy, idle_device_stays_clean)
{
	struct vfio_precopy_info info;
	struct lm_buf b;
	uint32_t live;
	int end, i;

	lm_buf_init(&b);
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_TEMP, end);
	/* Rewriting a register with the value it holds changes nothing. */
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_LIVENESS, &live));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_LIVENESS, ~live));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
		EXPECT_EQ(0ULL, info.initial_bytes);
		EXPECT_EQ(0ULL, info.dirty_bytes);
	}
	EXPECT_EQ(-ENOMSG, lm_read1(self->fd, &end, 1));
	EXPECT_FALSE(!!(lm_poll1(self->fd, POLLIN, 0) & POLLIN));
	lm_buf_free(&b);
}

/* PRECOPY_INFO is refused once the session moved on to STOP_COPY. */
TEST_F(precopy, einval_in_stop_copy)
{
	struct vfio_precopy_info info;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, NULL));
	EXPECT_EQ(-EINVAL, lm_precopy_info(self->fd, &info));
}

/*
 * dirty_bytes: change one register in PRE_COPY after the initial data was
 * read; the next PRECOPY_INFO reports new data, which reads out to a
 * temporary end after which dirty_bytes is zero again.
 */
FIXTURE(dirty)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(dirty)
{
	uint32_t state;
	int reg;		/* register offset to change */
	int width;		/* 4 or 8 */
	uint64_t val;
};

#define DIRTY(st, name, r, w, v)					\
	FIXTURE_VARIANT_ADD(dirty, st##_##name) {			\
		.state = VFIO_DEVICE_STATE_##st, .reg = (r),		\
		.width = (w), .val = (v),				\
	};
#define DIRTY_ALL(st)							\
	DIRTY(st, liveness, EDU_REG_LIVENESS, 4, 0x13572468)		\
	DIRTY(st, factorial, EDU_REG_FACT, 4, 6)			\
	DIRTY(st, irqfact, EDU_REG_STATUS, 4, EDU_STATUS_IRQFACT)	\
	DIRTY(st, irq_raise, EDU_REG_IRQ_RAISE, 4, 0x40)		\
	DIRTY(st, dma_src, EDU_REG_DMA_SRC, 8, 0x40123)			\
	DIRTY(st, dma_dst, EDU_REG_DMA_DST, 8, 0x123456789aULL)		\
	DIRTY(st, dma_cnt, EDU_REG_DMA_CNT, 8, 0x80)

DIRTY_ALL(PRE_COPY)
DIRTY_ALL(PRE_COPY_P2P)

FIXTURE_SETUP(dirty)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(dirty)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(dirty, rises_then_drains)
{
	struct lm_sview *v = calloc(1, sizeof(*v));
	struct vfio_precopy_info info;
	struct lm_buf b;
	size_t before;
	int end, rev;

	ASSERT_NE(NULL, v);
	lm_buf_init(&b);
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	ASSERT_EQ(0ULL, info.initial_bytes);
	ASSERT_EQ(0ULL, info.dirty_bytes);

	if (variant->width == 8) {
		ASSERT_EQ(0, lm_bar_write64(&self->dev, 0, variant->reg,
					    variant->val));
	} else {
		ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, variant->reg,
					    variant->val));
	}
	if (variant->reg == EDU_REG_FACT) {
		ASSERT_EQ(0, edu_wait_fact(&self->dev, LM_DEV_WAIT_MS));
	}

	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info.initial_bytes);
	EXPECT_LT(0ULL, info.dirty_bytes);
	EXPECT_EQ(0U, info.flags);
	rev = lm_poll1(self->fd, POLLIN, 0);
	EXPECT_TRUE(rev > 0 && (rev & POLLIN)) TH_LOG("revents %#x", rev);

	before = b.len;
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK(3), LM_STREAM_LIMIT,
			      &end));
	EXPECT_EQ(LM_END_TEMP, end);
	EXPECT_EQ(info.dirty_bytes, (uint64_t)(b.len - before));
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info.dirty_bytes);

	/* The stream so far plus the final part is well-formed and has
	 * more than one STATE record.
	 */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, NULL));
	ASSERT_EQ(0, lm_drain(self->fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	EXPECT_EQ(LM_END_PERM, end);
	EXPECT_EQ(0, lm_stream_view(b.p, b.len, v)) TH_LOG("%s", v->why);
	EXPECT_NE(NULL, lm_stream_find(v, LM_REC_STATE, 1));
	free(v);
	lm_buf_free(&b);
}

/*
 * MIG_DATA_SIZE in every state: non-zero, and not smaller than what the
 * device then produces in STOP_COPY.
 */
FIXTURE(data_size)
{
	struct lm_dev dev;
	struct lm_buf own;	/* a stream of this device, for RESUMING */
	int fd;
};

FIXTURE_VARIANT(data_size)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(data_size, stop) { .state = S_STOP };
FIXTURE_VARIANT_ADD(data_size, running) { .state = S_RUNNING };
FIXTURE_VARIANT_ADD(data_size, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(data_size, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(data_size, running_p2p) { .state = S_RUNNING_P2P };
FIXTURE_VARIANT_ADD(data_size, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(data_size, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(data_size, error) { .state = S_ERROR };

/* STOP_COPY is reachable (without reset) from all states but ERROR. */
static bool can_stop_copy(uint32_t state)
{
	return state != S_ERROR;
}

FIXTURE_SETUP(data_size)
{
	struct edu_prog p = {
		.liveness = 0xa1b2c3d4, .fact_k = 9, .irqfact = true,
		.irq_status = 0x300, .dma_src = 0x40040, .dma_dst = 0x200000,
		.dma_cnt = 0x100,
	};
	struct edu_regs expect;

	self->fd = -1;
	lm_buf_init(&self->own);
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_DATA_SIZE(&self->dev);
	LM_NEED_STATE(&self->dev, variant->state);
	/* A non-trivial register file, so the estimate has work to cover. */
	ASSERT_EQ(0, edu_program(&self->dev, &p, NULL, &expect));
	if (variant->state == S_RESUMING || variant->state == S_ERROR) {
		ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->own,
				     NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	}
	if (variant->state == S_ERROR) {
		int we, se;

		/* A stream missing its last byte: RESUMING -> STOP fails. */
		lm_resume(&self->dev, self->own.p, self->own.len - 1,
			  LM_CHUNK_ALL, &we, &se);
		ASSERT_STATE(&self->dev, S_ERROR);
	} else {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state,
					      &self->fd));
	}
}

FIXTURE_TEARDOWN(data_size)
{
	lm_close(&self->fd);
	lm_buf_free(&self->own);
	lm_dev_close(&self->dev);
}

TEST_F(data_size, nonzero)
{
	uint64_t size = 0;

	ASSERT_EQ(0, lm_mig_data_size(&self->dev, &size));
	EXPECT_LT(0ULL, size);
	/* Asking does not change the state. */
	ASSERT_STATE(&self->dev, variant->state);
}

TEST_F(data_size, covers_stop_copy)
{
	struct lm_buf b;
	uint64_t size = 0;
	int end, fd = -1;

	ASSERT_EQ(0, lm_mig_data_size(&self->dev, &size));
	EXPECT_LT(0ULL, size);
	if (!can_stop_copy(variant->state)) {
		/* From ERROR only reset leads anywhere: the estimate must
		 * still cover what the device saves after it.
		 */
		ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	}
	lm_buf_init(&b);
	if (variant->state == S_RESUMING) {
		ASSERT_EQ(0, lm_feed(self->fd, self->own.p, self->own.len,
				     LM_CHUNK_ALL, NULL));
	}
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	if (fd < 0) {
		/* PRE_COPY sessions continue on their fd. */
		ASSERT_TRUE(variant->state == S_PRE_COPY ||
			    variant->state == S_PRE_COPY_P2P ||
			    variant->state == S_STOP_COPY);
		fd = dup(self->fd);
	}
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lm_drain(fd, &b, LM_CHUNK_ALL, LM_STREAM_LIMIT, &end));
	EXPECT_EQ(LM_END_PERM, end);
	EXPECT_LE((uint64_t)b.len, size) TH_LOG("estimate %llu, produced %zu",
				      (unsigned long long)size, b.len);
	lm_close(&fd);
	lm_buf_free(&b);
}

/* PRECOPY_INFO on fds that are not in a PRE_COPY state. */
FIXTURE(precopy_einval)
{
	struct lm_dev dev;
};

FIXTURE_SETUP(precopy_einval)
{
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_PRECOPY(&self->dev);
}

FIXTURE_TEARDOWN(precopy_einval)
{
	lm_dev_close(&self->dev);
}

TEST_F(precopy_einval, stop_copy_fd)
{
	struct vfio_precopy_info info;
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, lm_precopy_info(fd, &info));
	close(fd);
}

TEST_F(precopy_einval, resuming_fd)
{
	struct vfio_precopy_info info;
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &fd));
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, lm_precopy_info(fd, &info));
	close(fd);
}

TEST_F(precopy_einval, pre_copy_fd_after_running)
{
	struct vfio_precopy_info info;
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	EXPECT_NE(0, lm_precopy_info(fd, &info));
	close(fd);
}

LM_TEST_MAIN
