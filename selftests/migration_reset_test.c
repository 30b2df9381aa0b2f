// SPDX-License-Identifier: GPL-2.0
/*
 * migration_reset_test - VFIO_DEVICE_RESET from every migration state,
 * ERROR included: the device comes back RUNNING with power-on registers,
 * the data fd of the interrupted session is dead, and the device works and
 * migrates again afterwards.  PRE_COPY states are skipped on kernels
 * without them (before 6.2).
 */
#include <poll.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

FIXTURE(reset)
{
	struct lm_dev dev;
	int fd;
};

/* The states that have a data session (ERROR: the one that failed). */
FIXTURE(reset_session)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(reset)
{
	uint32_t state;
	bool read_some;		/* saving: read part of the stream first */
};

FIXTURE_VARIANT_ADD(reset, stop) { .state = S_STOP };
FIXTURE_VARIANT_ADD(reset, running) { .state = S_RUNNING };
FIXTURE_VARIANT_ADD(reset, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(reset, stop_copy_partly_read) {
	.state = S_STOP_COPY, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(reset, resuming_partly_written) {
	.state = S_RESUMING, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset, running_p2p) { .state = S_RUNNING_P2P };
FIXTURE_VARIANT_ADD(reset, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(reset, pre_copy_partly_read) {
	.state = S_PRE_COPY, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(reset, error) { .state = S_ERROR };

static const struct edu_prog busy_prog = {
	.liveness = 0x7777aaaa, .fact_k = 13, .irqfact = true,
	.irq_status = 0x1001,
	.dma_src = 0x40020, .dma_dst = 0x500000, .dma_cnt = 0x44,
};

static void reset_init(struct __test_metadata *_metadata, struct lm_dev *dev,
		       int *fdp, uint32_t state, bool read_some)
{
	struct edu_regs expect;
	struct lm_buf own;
	uint8_t b[16];

	*fdp = -1;
	lm_buf_init(&own);
	LM_OPEN_DEV(dev, 0);
	LM_NEED_STATE(dev, state);
	/* Far from power-on in every register but the command. */
	ASSERT_EQ(0, edu_program(dev, &busy_prog, NULL, &expect));
	if (state == S_RESUMING && read_some) {
		ASSERT_EQ(0, lm_save(dev, 0, LM_CHUNK_ALL, &own, NULL));
		ASSERT_EQ(0, lm_mig_set_state(dev, S_RUNNING, NULL));
	}
	if (state == S_ERROR) {
		ASSERT_EQ(0, lm_mig_set_state(dev, S_RESUMING, fdp));
		ASSERT_EQ(-EBADMSG, lm_mig_set_state(dev, S_STOP, NULL));
	} else {
		ASSERT_EQ(0, lm_mig_set_state(dev, state, fdp));
	}
	ASSERT_STATE(dev, state);
	if (read_some && state == S_RESUMING) {
		ASSERT_EQ(0, lm_feed(*fdp, own.p, own.len / 2, LM_CHUNK_ALL,
				     NULL));
	} else if (read_some) {
		ASSERT_EQ((long)sizeof(b), lm_read1(*fdp, b, sizeof(b)));
	}
	lm_buf_free(&own);
}

FIXTURE_SETUP(reset)
{
	reset_init(_metadata, &self->dev, &self->fd, variant->state,
		   variant->read_some);
}

FIXTURE_TEARDOWN(reset)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(reset, power_on_and_running)
{
	struct edu_regs pon;

	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
	edu_regs_power_on(&pon);
	ASSERT_REGS(&self->dev, &pon);
}

FIXTURE_VARIANT(reset_session)
{
	uint32_t state;
	bool read_some;
};

FIXTURE_VARIANT_ADD(reset_session, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(reset_session, stop_copy_partly_read) {
	.state = S_STOP_COPY, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset_session, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(reset_session, resuming_partly_written) {
	.state = S_RESUMING, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset_session, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(reset_session, pre_copy_partly_read) {
	.state = S_PRE_COPY, .read_some = true,
};
FIXTURE_VARIANT_ADD(reset_session, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(reset_session, error) { .state = S_ERROR };

FIXTURE_SETUP(reset_session)
{
	reset_init(_metadata, &self->dev, &self->fd, variant->state,
		   variant->read_some);
	if (_metadata->exit_code == KSFT_SKIP)
		return;
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(reset_session)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(reset_session, session_fd_dead)
{
	uint8_t b[8] = { 0 };
	int rev;

	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	if (variant->state == S_RESUMING || variant->state == S_ERROR) {
		EXPECT_EQ(-ENODEV, lm_write1(self->fd, b, sizeof(b)));
	} else {
		EXPECT_EQ(-ENODEV, lm_read1(self->fd, b, sizeof(b)));
	}
	rev = lm_poll1(self->fd, POLLIN | POLLOUT, 0);
	EXPECT_TRUE(rev > 0 && (rev & POLLERR)) TH_LOG("revents %#x", rev);
}

TEST_F(reset, works_and_migrates_again)
{
	struct edu_prog p = { .liveness = 0x31, .fact_k = 4 };
	struct edu_regs expect;
	struct lm_buf s;
	const char *stage = "";
	int ret, we, se;
	bool precopy;

	lm_buf_init(&s);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	LM_USE_PRECOPY(&self->dev, precopy);
	ASSERT_EQ(0, edu_program(&self->dev, &p, NULL, &expect));
	ASSERT_REGS(&self->dev, &expect);
	ret = lm_save(&self->dev, precopy, LM_CHUNK_ALL, &s, &stage);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", stage, strerror(-ret));
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	lm_resume(&self->dev, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_REGS(&self->dev, &expect);
	lm_buf_free(&s);
}

/* Reset twice in a row, and a reset of a device in RUNNING, are harmless. */
TEST_F(reset, twice)
{
	struct edu_regs pon;

	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	ASSERT_STATE(&self->dev, S_RUNNING);
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
	edu_regs_power_on(&pon);
	ASSERT_REGS(&self->dev, &pon);
}

LM_TEST_MAIN
