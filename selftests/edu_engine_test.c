// SPDX-License-Identifier: GPL-2.0
/*
 * edu_engine_test - the edu engine's side of migration: BAR0 is trapped,
 * readable in every state and not writable while stopped; P2P states hold
 * DMA doorbells (and a held doorbell migrates); a running factorial or
 * DMA finishes before the device counts as quiesced; pending interrupts
 * reach a destination only once it runs; and the DMA-buffer rule: after
 * a RAM->edu DMA (in any open since the driver bound) the save stream
 * fails with EOPNOTSUPP while the arcs still succeed and the device keeps
 * its state, a resuming stream is refused the same way, and binding the
 * driver zeroes the buffer whoever wrote it.
 * PRE_COPY states are skipped on kernels without them (before 6.2).
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

#define DMA_SIZE	0x10000
#define IN_OFF		0x0000	/* RAM the edu buffer is loaded from */
#define OUT_OFF		0x2000	/* RAM the edu buffer is copied to */
#define XFER		256

/* Longer than a DMA takes (100 ms of virtual time) by a wide margin. */
#define HOLD_MS		400

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static void fill(void *p, size_t len, uint32_t seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = lm_rand(&seed);
}

/* Load the edu DMA buffer from RAM (a RAM->edu DMA) and wait for it. */
static int load_edu_buffer(struct lm_dev *d, struct lm_dma *dma,
			   uint32_t seed)
{
	int ret;

	fill((uint8_t *)dma->vaddr + IN_OFF, XFER, seed);
	ret = edu_dma_start(d, dma->iova + IN_OFF, EDU_DMA_BUF, XFER,
			    EDU_DMA_RUN);
	return ret ?: edu_wait_dma(d, LM_DEV_WAIT_MS);
}

/*
 * Copy @len bytes of the edu DMA buffer out to RAM at OUT_OFF (an edu->RAM
 * DMA), after filling the destination with @fill, and wait for it.
 */
static int copy_edu_buffer(struct lm_dev *d, struct lm_dma *dma, size_t len,
			   int fill)
{
	int ret;

	memset((uint8_t *)dma->vaddr + OUT_OFF, fill, len);
	ret = edu_dma_start(d, EDU_DMA_BUF, dma->iova + OUT_OFF, len,
			    EDU_DMA_RUN | EDU_DMA_TO_RAM);
	return ret ?: edu_wait_dma(d, LM_DEV_WAIT_MS);
}

/* ---- edu: one device ---------------------------------------------------- */

/*
 * Setup and teardown shared by the one-device fixtures: edu #0 open and
 * RUNNING, DMA_SIZE bytes of RAM mapped at EDU_TEST_IOVA.  Teardown resets
 * the device and waits out any DMA before the RAM is unmapped.  Macros,
 * not functions: LM_OPEN_DEV and ASSERT_* return from the fixture.
 */
#define EDU_DMA_SETUP() do {						\
	int __ret;							\
									\
	memset(&self->dma, 0, sizeof(self->dma));			\
	LM_OPEN_DEV(&self->dev, 0);					\
	__ret = lm_dma_alloc_map(&self->dev, EDU_TEST_IOVA, DMA_SIZE,	\
				 &self->dma);				\
	ASSERT_EQ(0, __ret) TH_LOG("dma map: %s", strerror(-__ret));	\
} while (0)

#define EDU_DMA_TEARDOWN() do {						\
	if (self->dev.fd >= 0) {					\
		lm_dev_reset(&self->dev);				\
		edu_wait_dma(&self->dev, LM_DEV_WAIT_MS);		\
	}								\
	lm_dma_unmap_free(&self->dev, &self->dma);			\
	lm_dev_close(&self->dev);					\
} while (0)

FIXTURE(edu)
{
	struct lm_dev dev;
	struct lm_dma dma;
};

FIXTURE_SETUP(edu)
{
	EDU_DMA_SETUP();
}

FIXTURE_TEARDOWN(edu)
{
	EDU_DMA_TEARDOWN();
}

TEST_F(edu, bar0_trapped)
{
	struct vfio_region_info info;
	void *p;

	ASSERT_EQ(0, lm_region_info(&self->dev, VFIO_PCI_BAR0_REGION_INDEX,
				    &info));
	EXPECT_EQ(1ULL << 20, info.size);
	EXPECT_TRUE(!!(info.flags & VFIO_REGION_INFO_FLAG_READ));
	EXPECT_TRUE(!!(info.flags & VFIO_REGION_INFO_FLAG_WRITE));
	EXPECT_FALSE(!!(info.flags & VFIO_REGION_INFO_FLAG_MMAP));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->dev.fd,
		 info.offset);
	EXPECT_EQ(MAP_FAILED, p);
	if (p != MAP_FAILED)
		munmap(p, 4096);
}

TEST_F(edu, registers_work)
{
	struct edu_regs r;

	ASSERT_EQ(0, edu_read_regs(&self->dev, &r));
	EXPECT_EQ(EDU_ID_VALUE, r.id);
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_LIVENESS, 0x1234));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_FACT, 10));
	ASSERT_EQ(0, edu_wait_fact(&self->dev, LM_DEV_WAIT_MS));
	ASSERT_EQ(0, edu_read_regs(&self->dev, &r));
	EXPECT_EQ(~0x1234U, r.liveness);
	EXPECT_EQ(3628800U, r.fact);
}

/* A DMA round trip through the edu buffer works at all (the rig's IOMMU
 * path), so the DMA-based tests below mean something.
 */
TEST_F(edu, dma_round_trip)
{
	uint8_t *ram = self->dma.vaddr;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 7));
	ASSERT_EQ(0, copy_edu_buffer(&self->dev, &self->dma, XFER, 0));
	EXPECT_EQ(0, memcmp(ram + IN_OFF, ram + OUT_OFF, XFER));
}

/*
 * Start a factorial that is still computing when this returns (the
 * precondition of the tests below, checked, not assumed): k = 2^24 and
 * doubled, up to 2^30, until STATUS shows COMPUTING right after the
 * start.  Returns k, or 0 if no k was ever caught running.
 */
static uint32_t start_long_factorial(struct lm_dev *d)
{
	uint32_t k, st;

	for (k = 1u << 24; k && k <= 1u << 30; k <<= 1) {
		if (edu_wait_fact(d, LM_DEV_WAIT_MS) ||
		    lm_bar_write32(d, 0, EDU_REG_STATUS, 0) ||
		    lm_bar_write32(d, 0, EDU_REG_FACT, k) ||
		    lm_bar_read32(d, 0, EDU_REG_STATUS, &st))
			return 0;
		if (st & EDU_STATUS_COMPUTING)
			return k;
	}
	return 0;
}

/* The factorial runs on a device thread; STOP waits for it. */
TEST_F(edu, stop_waits_for_factorial)
{
	uint32_t st, fact, k;

	k = start_long_factorial(&self->dev);
	ASSERT_NE(0U, k) TH_LOG("no factorial was caught computing");
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_STATUS, &st));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_FACT, &fact));
	EXPECT_EQ(0U, st & EDU_STATUS_COMPUTING);
	EXPECT_EQ(edu_fact_mod32(k), fact);
}

TEST_F(edu, stop_copy_waits_for_factorial)
{
	uint32_t st, fact, k;
	int fd = -1;

	k = start_long_factorial(&self->dev);
	ASSERT_NE(0U, k) TH_LOG("no factorial was caught computing");
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_STATUS, &st));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_FACT, &fact));
	EXPECT_EQ(0U, st & EDU_STATUS_COMPUTING);
	EXPECT_EQ(edu_fact_mod32(k), fact);
	lm_close(&fd);
}

/* Entering P2P waits for a DMA already in flight. */
TEST_F(edu, p2p_waits_for_inflight_dma)
{
	uint8_t *ram = self->dma.vaddr;
	uint64_t cmd;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 11));
	memset(ram + OUT_OFF, 0, XFER);
	ASSERT_EQ(0, edu_dma_start(&self->dev, EDU_DMA_BUF,
				   self->dma.iova + OUT_OFF, XFER,
				   EDU_DMA_RUN | EDU_DMA_TO_RAM));
	/* The precondition: the DMA is in flight (edu runs it 100 ms later). */
	ASSERT_EQ(0, lm_bar_read64(&self->dev, 0, EDU_REG_DMA_CMD, &cmd));
	ASSERT_TRUE(cmd & EDU_DMA_RUN) TH_LOG("the DMA was over before P2P");
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING_P2P, NULL));
	ASSERT_EQ(0, lm_bar_read64(&self->dev, 0, EDU_REG_DMA_CMD, &cmd));
	EXPECT_EQ((uint64_t)EDU_DMA_TO_RAM, cmd);
	EXPECT_EQ(0, memcmp(ram + IN_OFF, ram + OUT_OFF, XFER));
}

/* Register writes other than DMA go through in P2P states. */
FIXTURE(p2p)
{
	struct lm_dev dev;
	struct lm_dma dma;
	int fd;
};

FIXTURE_VARIANT(p2p)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(p2p, running_p2p) { .state = S_RUNNING_P2P };
FIXTURE_VARIANT_ADD(p2p, pre_copy_p2p) { .state = S_PRE_COPY_P2P };

FIXTURE_SETUP(p2p)
{
	self->fd = -1;
	EDU_DMA_SETUP();
	LM_NEED_STATE(&self->dev, variant->state);
}

FIXTURE_TEARDOWN(p2p)
{
	lm_close(&self->fd);
	EDU_DMA_TEARDOWN();
}

TEST_F(p2p, plain_registers_writable)
{
	struct edu_regs r;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_LIVENESS, 0xabc));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_FACT, 7));
	ASSERT_EQ(0, edu_wait_fact(&self->dev, LM_DEV_WAIT_MS));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_IRQ_RAISE, 0x10));
	ASSERT_EQ(0, lm_bar_write64(&self->dev, 0, EDU_REG_DMA_CNT, 0x77));
	ASSERT_EQ(0, edu_read_regs(&self->dev, &r));
	EXPECT_EQ(~0xabcU, r.liveness);
	EXPECT_EQ(5040U, r.fact);
	EXPECT_EQ(0x10U, r.irq_status);
	EXPECT_EQ(0x77ULL, r.dma_cnt);
}

/*
 * A doorbell rung in a P2P state is held: it shows in the command
 * register, DMA registers keep their values, a second doorbell is
 * ignored, nothing moves until the device runs again, and then it runs.
 */
static void ring_held(struct __test_metadata *_metadata, struct lm_dev *d,
		      struct lm_dma *dma)
{
	uint8_t *ram = dma->vaddr;
	struct edu_regs r;

	memset(ram + OUT_OFF, 0, XFER);
	ASSERT_EQ(0, edu_dma_start(d, EDU_DMA_BUF, dma->iova + OUT_OFF, XFER,
				   EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ));
	ASSERT_EQ(0, edu_read_regs(d, &r));
	EXPECT_EQ((uint64_t)(EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ),
		  r.dma_cmd);
	/* Ignored while the doorbell is pending, as the device would. */
	ASSERT_EQ(0, lm_bar_write64(d, 0, EDU_REG_DMA_SRC, 0x40800));
	ASSERT_EQ(0, lm_bar_write64(d, 0, EDU_REG_DMA_DST, 0x5000));
	ASSERT_EQ(0, lm_bar_write64(d, 0, EDU_REG_DMA_CNT, 8));
	ASSERT_EQ(0, lm_bar_write64(d, 0, EDU_REG_DMA_CMD,
				    EDU_DMA_RUN | EDU_DMA_TO_RAM));
	ASSERT_EQ(0, edu_read_regs(d, &r));
	EXPECT_EQ((uint64_t)EDU_DMA_BUF, r.dma_src);
	EXPECT_EQ(dma->iova + OUT_OFF, r.dma_dst);
	EXPECT_EQ((uint64_t)XFER, r.dma_cnt);
	EXPECT_EQ((uint64_t)(EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ),
		  r.dma_cmd);
	msleep(HOLD_MS);
	ASSERT_EQ(0, edu_read_regs(d, &r));
	EXPECT_EQ(0U, r.irq_status & EDU_IRQ_DMA);
	EXPECT_TRUE(!!(r.dma_cmd & EDU_DMA_RUN));
}

static void expect_ran(struct __test_metadata *_metadata, struct lm_dev *d,
		       struct lm_dma *dma)
{
	uint8_t *ram = dma->vaddr;
	struct edu_regs r;

	ASSERT_EQ(0, edu_wait_dma(d, LM_DEV_WAIT_MS));
	ASSERT_EQ(0, edu_read_regs(d, &r));
	EXPECT_EQ((uint64_t)(EDU_DMA_TO_RAM | EDU_DMA_IRQ), r.dma_cmd);
	EXPECT_TRUE(!!(r.irq_status & EDU_IRQ_DMA));
	EXPECT_EQ(0, memcmp(ram + IN_OFF, ram + OUT_OFF, XFER));
}

TEST_F(p2p, doorbell_held_until_running)
{
	uint8_t *ram = self->dma.vaddr;
	uint8_t zero[XFER] = { 0 };

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 21));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ring_held(_metadata, &self->dev, &self->dma);
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, XFER))
		TH_LOG("the held DMA wrote RAM");
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	expect_ran(_metadata, &self->dev, &self->dma);
}

TEST_F(p2p, doorbell_held_through_stop)
{
	uint8_t *ram = self->dma.vaddr;
	uint8_t zero[XFER] = { 0 };
	uint64_t cmd;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 22));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ring_held(_metadata, &self->dev, &self->dma);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	msleep(HOLD_MS);
	ASSERT_EQ(0, lm_bar_read64(&self->dev, 0, EDU_REG_DMA_CMD, &cmd));
	EXPECT_TRUE(!!(cmd & EDU_DMA_RUN));
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, XFER));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	expect_ran(_metadata, &self->dev, &self->dma);
}

TEST_F(p2p, doorbell_dropped_by_reset)
{
	uint8_t *ram = self->dma.vaddr;
	uint8_t zero[XFER] = { 0 };
	struct edu_regs r, pon;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 23));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ring_held(_metadata, &self->dev, &self->dma);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	msleep(HOLD_MS);
	ASSERT_EQ(0, edu_read_regs(&self->dev, &r));
	edu_regs_power_on(&pon);
	EXPECT_EQ(0, edu_regs_diff(&pon, &r, NULL, 0));
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, XFER));
}

/*
 * VFIO_DEVICE_IOEVENTFD has vfio-pci core write a BAR when an eventfd is
 * signalled, past the driver's read/write: on a trapped BAR it would ring
 * the doorbell a P2P state holds, and DMA would escape the hold and the
 * dirty log (issue 13, finding 4).  It must be refused there (EINVAL, as
 * core refuses it over the MSI-X table); signalled anyway, the eventfd
 * moves nothing.
 */
TEST_F(p2p, ioeventfd_cannot_ring_the_doorbell)
{
	uint8_t *ram = self->dma.vaddr;
	uint8_t zero[XFER] = { 0 };
	struct vfio_region_info bar0;
	struct vfio_device_ioeventfd ev = {
		.argsz = sizeof(ev),
		.flags = VFIO_DEVICE_IOEVENTFD_64,
		.data = EDU_DMA_RUN | EDU_DMA_TO_RAM,
	};
	uint64_t one = 1;
	int efd, ret, err;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 24));
	memset(ram + OUT_OFF, 0, XFER);
	ASSERT_EQ(0, lm_region_info(&self->dev, 0, &bar0));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ev.offset = bar0.offset + EDU_REG_DMA_CMD;
	ev.fd = efd;
	ret = ioctl(self->dev.fd, VFIO_DEVICE_IOEVENTFD, &ev);
	err = errno;
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_EQ(0, lm_bar_write64(&self->dev, 0, EDU_REG_DMA_SRC,
				    EDU_DMA_BUF));
	ASSERT_EQ(0, lm_bar_write64(&self->dev, 0, EDU_REG_DMA_DST,
				    self->dma.iova + OUT_OFF));
	ASSERT_EQ(0, lm_bar_write64(&self->dev, 0, EDU_REG_DMA_CNT, XFER));
	ASSERT_EQ(8, write(efd, &one, sizeof(one)));
	msleep(HOLD_MS);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, err);
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, XFER))
		TH_LOG("the eventfd rang the doorbell in a P2P state");
	if (!ret) {
		ev.fd = -1;
		EXPECT_EQ(0, ioctl(self->dev.fd, VFIO_DEVICE_IOEVENTFD, &ev));
	}
	close(efd);
}

/* ---- writes refused while stopped ---------------------------------------- */

FIXTURE(stopped)
{
	struct lm_dev dev;
	struct lm_dma dma;
	struct lm_buf own;	/* for leaving RESUMING */
	int fd;
};

FIXTURE_VARIANT(stopped)
{
	uint32_t state;
	uint32_t reg;
	int width;
	uint64_t val;
};

#define STOPPED(st, name, r, w, v)					\
	FIXTURE_VARIANT_ADD(stopped, st##_##name) {			\
		.state = VFIO_DEVICE_STATE_##st, .reg = (r),		\
		.width = (w), .val = (v),				\
	};
#define STOPPED_ALL(st)							\
	STOPPED(st, liveness, EDU_REG_LIVENESS, 4, 0x9999)		\
	STOPPED(st, factorial, EDU_REG_FACT, 4, 4)			\
	STOPPED(st, status, EDU_REG_STATUS, 4, 0)			\
	STOPPED(st, irq_raise, EDU_REG_IRQ_RAISE, 4, 0x8000)		\
	STOPPED(st, irq_ack, EDU_REG_IRQ_ACK, 4, 0xffffffff)		\
	STOPPED(st, dma_src, EDU_REG_DMA_SRC, 8, 0x40400)		\
	STOPPED(st, dma_dst, EDU_REG_DMA_DST, 8, 0x7000)		\
	STOPPED(st, dma_cnt, EDU_REG_DMA_CNT, 8, 0x11)			\
	STOPPED(st, doorbell, EDU_REG_DMA_CMD, 8,			\
		EDU_DMA_RUN | EDU_DMA_TO_RAM)

STOPPED_ALL(STOP)
STOPPED_ALL(STOP_COPY)
STOPPED_ALL(RESUMING)

static const struct edu_prog stopped_prog = {
	.liveness = 0x2468ace0, .fact_k = 9, .irqfact = true,
	.irq_status = 0x3,
	.dma_src = EDU_DMA_BUF, .dma_dst = EDU_TEST_IOVA + OUT_OFF,
	.dma_cnt = XFER,
};

FIXTURE_SETUP(stopped)
{
	self->fd = -1;
	lm_buf_init(&self->own);
	EDU_DMA_SETUP();
}

FIXTURE_TEARDOWN(stopped)
{
	lm_close(&self->fd);
	lm_buf_free(&self->own);
	EDU_DMA_TEARDOWN();
}

TEST_F(stopped, write_refused)
{
	uint8_t *ram = self->dma.vaddr;
	uint8_t zero[XFER] = { 0 };
	struct edu_regs expect;
	int ret;

	ASSERT_EQ(0, edu_program(&self->dev, &stopped_prog, NULL, &expect));
	memset(ram + OUT_OFF, 0, XFER);
	if (variant->state == S_RESUMING) {
		/* To leave RESUMING afterwards: this device's own stream. */
		ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->own,
				     NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	}
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	if (variant->width == 8)
		ret = lm_bar_write64(&self->dev, 0, variant->reg, variant->val);
	else
		ret = lm_bar_write32(&self->dev, 0, variant->reg, variant->val);
	EXPECT_EQ(-EBUSY, ret);
	/* Nothing reached the device. */
	msleep(variant->reg == EDU_REG_DMA_CMD ? HOLD_MS : 0);
	ASSERT_REGS(&self->dev, &expect);

	if (variant->state == S_RESUMING) {
		ASSERT_EQ(0, lm_feed(self->fd, self->own.p, self->own.len,
				     LM_CHUNK_ALL, NULL));
	}
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	msleep(variant->reg == EDU_REG_DMA_CMD ? HOLD_MS : 0);
	ASSERT_REGS(&self->dev, &expect);
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, XFER));
}

/* Reads work in every state, ERROR included. */
FIXTURE(readable)
{
	struct lm_dev dev;
	int fd;
};

FIXTURE_VARIANT(readable)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(readable, stop) { .state = S_STOP };
FIXTURE_VARIANT_ADD(readable, running) { .state = S_RUNNING };
FIXTURE_VARIANT_ADD(readable, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(readable, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(readable, running_p2p) { .state = S_RUNNING_P2P };
FIXTURE_VARIANT_ADD(readable, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(readable, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(readable, error) { .state = S_ERROR };

FIXTURE_SETUP(readable)
{
	self->fd = -1;
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, variant->state);
}

FIXTURE_TEARDOWN(readable)
{
	lm_close(&self->fd);
	lm_dev_close(&self->dev);
}

TEST_F(readable, registers_read_back)
{
	struct edu_prog p = {
		.liveness = 0xfeedface, .fact_k = 6, .irqfact = true,
		.irq_status = 0x80, .dma_src = 0x40000, .dma_dst = 0x1234,
		.dma_cnt = 12,
	};
	struct edu_regs expect;

	ASSERT_EQ(0, edu_program(&self->dev, &p, NULL, &expect));
	if (variant->state == S_ERROR) {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING,
					      &self->fd));
		EXPECT_NE(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	} else {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state,
					      &self->fd));
	}
	ASSERT_STATE(&self->dev, variant->state);
	ASSERT_REGS(&self->dev, &expect);
}

/* ---- the DMA-buffer rule ------------------------------------------------ */

FIXTURE(dmarule)
{
	struct lm_dev dev;
	struct lm_dma dma;
	int fd;
};

FIXTURE_VARIANT(dmarule)
{
	uint32_t state;		/* where the save stream is read */
};

FIXTURE_VARIANT_ADD(dmarule, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(dmarule, pre_copy_p2p) { .state = S_PRE_COPY_P2P };
FIXTURE_VARIANT_ADD(dmarule, stop_copy) { .state = S_STOP_COPY };

FIXTURE_SETUP(dmarule)
{
	self->fd = -1;
	EDU_DMA_SETUP();
	LM_NEED_STATE(&self->dev, variant->state);
}

FIXTURE_TEARDOWN(dmarule)
{
	lm_close(&self->fd);
	EDU_DMA_TEARDOWN();
}

TEST_F(dmarule, save_fails_device_intact)
{
	uint8_t *ram = self->dma.vaddr;
	struct edu_regs before;
	uint8_t buf[64];
	int nfd = -1;

	/* A RAM->edu DMA puts data into the buffer the engine cannot read. */
	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 31));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_LIVENESS, 0x4242));
	ASSERT_EQ(0, edu_read_regs(&self->dev, &before));

	/* The arc succeeds; reading the stream fails. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(-EOPNOTSUPP, lm_read1(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(-EOPNOTSUPP, lm_read1(self->fd, buf, 1));
	if (variant->state != S_STOP_COPY) {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &nfd));
		EXPECT_EQ(-1, nfd);
		EXPECT_EQ(-EOPNOTSUPP, lm_read1(self->fd, buf, sizeof(buf)));
	}
	/* The device goes back to work with its state. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_REGS(&self->dev, &before);
	/* ...and its buffer: copy it out again. */
	ASSERT_EQ(0, copy_edu_buffer(&self->dev, &self->dma, XFER, 0));
	EXPECT_EQ(0, memcmp(ram + IN_OFF, ram + OUT_OFF, XFER));
	ASSERT_EQ(0, lm_bar_write32(&self->dev, 0, EDU_REG_FACT, 5));
	ASSERT_EQ(0, edu_wait_fact(&self->dev, LM_DEV_WAIT_MS));
	ASSERT_EQ(0, lm_bar_read32(&self->dev, 0, EDU_REG_FACT,
				   (uint32_t *)buf));
	EXPECT_EQ(120U, *(uint32_t *)buf);
}

/* The direct arc to RUNNING from the failed session works as well. */
TEST_F(dmarule, arcs_back_to_running)
{
	struct edu_regs before;
	uint8_t b;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 32));
	ASSERT_EQ(0, edu_read_regs(&self->dev, &before));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, variant->state, &self->fd));
	EXPECT_EQ(-EOPNOTSUPP, lm_read1(self->fd, &b, 1));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_STATE(&self->dev, S_RUNNING);
	ASSERT_REGS(&self->dev, &before);
}

/* Only RAM->edu DMA counts: edu->RAM leaves the buffer exportable. */
TEST_F(edu, edu_to_ram_dma_still_saves)
{
	struct lm_buf s;
	bool precopy;
	int ret;

	LM_USE_PRECOPY(&self->dev, precopy);
	lm_buf_init(&s);
	ASSERT_EQ(0, edu_dma_start(&self->dev, EDU_DMA_BUF,
				   self->dma.iova + OUT_OFF, XFER,
				   EDU_DMA_RUN | EDU_DMA_TO_RAM));
	ASSERT_EQ(0, edu_wait_dma(&self->dev, LM_DEV_WAIT_MS));
	ret = lm_save(&self->dev, precopy, LM_CHUNK_ALL, &s, NULL);
	EXPECT_EQ(0, ret) TH_LOG("save: %s", strerror(-ret));
	lm_buf_free(&s);
}

/*
 * The rule outlives the open: the bytes a RAM->edu DMA left in the buffer
 * are still there when the device is opened again (edu keeps them across
 * resets), so a later open cannot save them either.
 */
TEST_F(edu, dma_rule_outlives_the_open)
{
	uint8_t b;
	int fd = -1;

	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 33));
	/* Close it all, the container or iommufd too, without a new probe. */
	self->dev.rebind_on_close = false;
	EDU_DMA_TEARDOWN();
	EDU_DMA_SETUP();
	/* Teardown binds the driver again, for the tests that follow. */
	self->dev.rebind_on_close = true;
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EOPNOTSUPP, lm_read1(fd, &b, 1));
	lm_close(&fd);
}

/*
 * Binding the driver zeroes the buffer, whoever wrote it: a user of
 * vfio-pci fills it from RAM, then the function is bound to this driver
 * again; the buffer copies out as zeroes and the device saves.
 */
TEST_F(edu, bind_zeroes_what_another_driver_left)
{
	uint8_t *ram, zero[EDU_DMA_BUF_SIZE] = { 0 };
	char bdf[sizeof(self->dev.bdf)], drv[64];
	struct lm_buf s;
	int ret, rc;

	snprintf(bdf, sizeof(bdf), "%s", self->dev.bdf);
	EDU_DMA_TEARDOWN();
	rc = system("modprobe vfio-pci >/dev/null 2>&1");
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK)) {
		LM_OPEN_DEV(&self->dev, 0);
		SKIP(return, "no vfio-pci driver (modprobe vfio-pci: %d)", rc);
	}
	/* From here on, closing binds the function to this driver. */
	ret = lm_bind_driver(bdf, "vfio-pci");
	ASSERT_EQ(0, ret) TH_LOG("bind to vfio-pci: %s", strerror(-ret));
	ASSERT_EQ(0, lm_dev_open_retry(&self->dev, bdf));
	self->dev.rebind_on_close = true;
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
	ASSERT_EQ(0, lm_dma_alloc_map(&self->dev, EDU_TEST_IOVA, DMA_SIZE,
				      &self->dma));
	ram = self->dma.vaddr;
	ASSERT_EQ(0, load_edu_buffer(&self->dev, &self->dma, 34));
	/* The data is in the device: copy it out under vfio-pci. */
	ASSERT_EQ(0, copy_edu_buffer(&self->dev, &self->dma, XFER, 0));
	ASSERT_EQ(0, memcmp(ram + IN_OFF, ram + OUT_OFF, XFER));
	ASSERT_NE(0, memcmp(ram + IN_OFF, zero, XFER));
	EDU_DMA_TEARDOWN();
	lm_driver_of(bdf, drv, sizeof(drv));
	ASSERT_STREQ(LM_DRIVER_NAME, drv);

	EDU_DMA_SETUP();
	ram = self->dma.vaddr;
	ASSERT_EQ(0, copy_edu_buffer(&self->dev, &self->dma, EDU_DMA_BUF_SIZE,
				     0xa5));
	EXPECT_EQ(0, memcmp(ram + OUT_OFF, zero, EDU_DMA_BUF_SIZE))
		TH_LOG("the buffer holds what vfio-pci's user left");
	lm_buf_init(&s);
	ret = lm_save(&self->dev, 0, LM_CHUNK_ALL, &s, NULL);
	EXPECT_EQ(0, ret) TH_LOG("save: %s", strerror(-ret));
	lm_buf_free(&s);
}

/* ---- two devices: what travels with the state --------------------------- */

FIXTURE(pair)
{
	struct lm_dev src, dst;
	struct lm_dma sdma, ddma;
	int efd;
};

FIXTURE_SETUP(pair)
{
	int ret;

	self->efd = -1;
	memset(&self->sdma, 0, sizeof(self->sdma));
	memset(&self->ddma, 0, sizeof(self->ddma));
	LM_OPEN_DEV(&self->src, 0);
	LM_OPEN_DEV(&self->dst, 1);
	ret = lm_dma_alloc_map(&self->src, EDU_TEST_IOVA, DMA_SIZE,
			       &self->sdma);
	ASSERT_EQ(0, ret) TH_LOG("dma map: %s", strerror(-ret));
	ret = lm_dma_alloc_map(&self->dst, EDU_TEST_IOVA, DMA_SIZE,
			       &self->ddma);
	ASSERT_EQ(0, ret) TH_LOG("dma map: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(pair)
{
	if (self->efd >= 0) {
		lm_irq_eventfd(&self->dst, VFIO_PCI_MSI_IRQ_INDEX, -1);
		close(self->efd);
	}
	if (self->src.fd >= 0) {
		lm_dev_reset(&self->src);
		edu_wait_dma(&self->src, LM_DEV_WAIT_MS);
	}
	if (self->dst.fd >= 0) {
		lm_dev_reset(&self->dst);
		edu_wait_dma(&self->dst, LM_DEV_WAIT_MS);
	}
	lm_dma_unmap_free(&self->src, &self->sdma);
	lm_dma_unmap_free(&self->dst, &self->ddma);
	lm_dev_close(&self->src);
	lm_dev_close(&self->dst);
}

/* A doorbell held on the source rings on the destination once it runs. */
TEST_F(pair, held_doorbell_migrates)
{
	uint8_t *sram = self->sdma.vaddr, *dram = self->ddma.vaddr;
	uint8_t noise[XFER];
	struct lm_buf s;
	uint64_t cmd;
	int end, fd = -1, we, se;

	lm_buf_init(&s);
	/*
	 * Both buffers hold zeroes (the driver's probe): the DMA, once it
	 * runs, overwrites the noise in the RAM it targets with them.
	 */
	memset(noise, 0x5a, XFER);
	memset(dram + IN_OFF, 0, XFER);
	memset(dram + OUT_OFF, 0x5a, XFER);

	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_RUNNING_P2P, NULL));
	ring_held(_metadata, &self->src, &self->sdma);
	memset(sram + OUT_OFF, 0x5a, XFER);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, &fd));
	ASSERT_EQ(0, lm_drain(fd, &s, LM_CHUNK_ALL, LM_STREAM_LIMIT, &end));
	ASSERT_EQ(LM_END_PERM, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	close(fd);

	lm_resume(&self->dst, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	/* Restored as pending, not run. */
	ASSERT_EQ(0, lm_bar_read64(&self->dst, 0, EDU_REG_DMA_CMD, &cmd));
	EXPECT_EQ((uint64_t)(EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ),
		  cmd);
	msleep(HOLD_MS);
	EXPECT_EQ(0, memcmp(dram + OUT_OFF, noise, XFER));

	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	expect_ran(_metadata, &self->dst, &self->ddma);
	/* The source, still stopped, never ran it. */
	EXPECT_EQ(0, memcmp(sram + OUT_OFF, noise, XFER));
	lm_buf_free(&s);
}

/*
 * A destination whose buffer a RAM->edu DMA wrote would show the guest
 * other bytes than the source's zeroes: its data FD refuses the stream
 * (EOPNOTSUPP), and the device goes back to work with its own state.
 */
TEST_F(pair, dirty_destination_refuses_the_state)
{
	struct edu_regs before;
	struct lm_buf s;
	int we, se, ret;

	lm_buf_init(&s);
	ASSERT_EQ(0, lm_bar_write32(&self->src, 0, EDU_REG_LIVENESS, 0x1111));
	ret = lm_save(&self->src, 0, LM_CHUNK_ALL, &s, NULL);
	ASSERT_EQ(0, ret) TH_LOG("save: %s", strerror(-ret));
	ASSERT_EQ(0, load_edu_buffer(&self->dst, &self->ddma, 43));
	ASSERT_EQ(0, lm_bar_write32(&self->dst, 0, EDU_REG_LIVENESS, 0x2222));
	ASSERT_EQ(0, edu_read_regs(&self->dst, &before));
	ASSERT_NE(before.liveness, (uint32_t)~0x1111U);

	lm_resume(&self->dst, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	EXPECT_EQ(-EOPNOTSUPP, we);
	EXPECT_NE(0, se) TH_LOG("a refused stream was loaded");
	/* Nothing of the source's state reached the device... */
	ASSERT_REGS(&self->dst, &before);
	/* ...which a reset returns to work. */
	ASSERT_EQ(0, lm_reset_to_running(&self->dst));
	ASSERT_STATE(&self->dst, S_RUNNING);
	lm_buf_free(&s);
}

/* Pending interrupt bits reach the destination only when it runs. */
TEST_F(pair, pending_irq_raised_only_when_running)
{
	struct lm_buf s;
	uint64_t cnt;
	uint32_t irq;
	int we, se, rev;

	lm_buf_init(&s);
	self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->efd);
	ASSERT_EQ(0, lm_irq_eventfd(&self->dst, VFIO_PCI_MSI_IRQ_INDEX,
				    self->efd));

	ASSERT_EQ(0, lm_bar_write32(&self->src, 0, EDU_REG_IRQ_RAISE, 0x42));
	ASSERT_EQ(0, lm_save(&self->src, 0, LM_CHUNK_ALL, &s, NULL));

	lm_resume(&self->dst, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	msleep(HOLD_MS);
	EXPECT_EQ(-1, read(self->efd, &cnt, sizeof(cnt)))
		TH_LOG("an interrupt arrived in STOP");

	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	rev = lm_poll1(self->efd, POLLIN, LM_DEV_WAIT_MS);
	EXPECT_TRUE(rev > 0 && (rev & POLLIN))
		TH_LOG("no interrupt after RUNNING");
	ASSERT_EQ(0, lm_bar_read32(&self->dst, 0, EDU_REG_IRQ_STATUS, &irq));
	EXPECT_EQ(0x42U, irq);
	lm_buf_free(&s);
}

/* And a source without pending bits causes no interrupt at all. */
TEST_F(pair, no_spurious_irq_on_restore)
{
	struct edu_prog p = {
		.liveness = 0x5, .fact_k = 12, .irqfact = true,
	};
	struct edu_regs expect;
	struct lm_buf s;
	uint64_t cnt;
	bool precopy;
	int we, se;

	LM_USE_PRECOPY(&self->src, precopy);
	lm_buf_init(&s);
	self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->efd);
	ASSERT_EQ(0, lm_irq_eventfd(&self->dst, VFIO_PCI_MSI_IRQ_INDEX,
				    self->efd));
	/* IRQFACT set and a factorial to restore: a naive restore (write
	 * the factorial with IRQFACT on) would interrupt.
	 */
	ASSERT_EQ(0, edu_program(&self->src, &p, NULL, &expect));
	ASSERT_EQ(0, lm_save(&self->src, precopy, LM_CHUNK_ALL, &s, NULL));
	lm_resume(&self->dst, s.p, s.len, LM_CHUNK_ALL, &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	msleep(HOLD_MS);
	EXPECT_EQ(-1, read(self->efd, &cnt, sizeof(cnt)))
		TH_LOG("spurious interrupt");
	ASSERT_REGS(&self->dst, &expect);
	lm_buf_free(&s);
}

LM_TEST_MAIN
