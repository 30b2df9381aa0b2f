// SPDX-License-Identifier: GPL-2.0
/*
 * dma_logging_test - VFIO_DEVICE_FEATURE_DMA_LOGGING_START/REPORT/STOP on
 * an edu device: the bits after known DMAs (straddling pages, clamped by
 * the device's 28-bit DMA mask, held in P2P and replayed), read-and-clear,
 * RAM->edu DMA dirtying nothing, every bad input rejected with its errno,
 * and logging across reset and migration states.
 *
 * vfio core reports through its iova_bitmap: part of vfio up to 6.6,
 * built only with CONFIG_IOMMUFD_DRIVER from 6.7 on.  Whether this kernel
 * has it is told from the kernel (lm_kernel_dma_logging()), and the
 * driver must agree: logging offered where the kernel can report (6.1
 * included), not offered where it cannot (Debian's 6.12, which lacks
 * CONFIG_IOMMUFD_DRIVER), and only then is every test here skipped.
 */
#include "kselftest_harness.h"
#include "lib/lm_test.h"

#define LOG_PAGE	4096ULL
#define LOG_SIZE	(64 * LOG_PAGE)
#define LOG_IOVA	EDU_TEST_IOVA
#define DMA_WAIT_MS	5000

static int log_start(struct lm_dev *d, uint64_t page_size,
		     const struct vfio_device_feature_dma_logging_range *r,
		     uint32_t n, uint64_t *page_out)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = page_size,
		.num_ranges = n,
		.ranges = (uintptr_t)r,
	};
	int ret;

	ret = lm_feature(d, VFIO_DEVICE_FEATURE_SET,
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			 &ctl, sizeof(ctl));
	if (!ret && page_out)
		*page_out = ctl.page_size;
	return ret;
}

static int log_start1(struct lm_dev *d, uint64_t iova, uint64_t len)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = iova, .length = len,
	};

	return log_start(d, LOG_PAGE, &r, 1, NULL);
}

static int log_stop(struct lm_dev *d)
{
	return lm_feature(d, VFIO_DEVICE_FEATURE_SET,
			  VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

static int log_report(struct lm_dev *d, uint64_t iova, uint64_t len,
		      uint64_t page_size, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova, .length = len, .page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	return lm_feature(d, VFIO_DEVICE_FEATURE_GET,
			  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			  &rep, sizeof(rep));
}

/* Report the whole logged window into @bits (LOG_SIZE / LOG_PAGE bits). */
static int report_all(struct lm_dev *d, uint64_t *bits)
{
	memset(bits, 0, LOG_SIZE / LOG_PAGE / 8);
	return log_report(d, LOG_IOVA, LOG_SIZE, LOG_PAGE, bits);
}

static int count_bits(const uint64_t *bits, unsigned int nwords)
{
	int n = 0;
	unsigned int i;

	for (i = 0; i < nwords; i++)
		n += __builtin_popcountll(bits[i]);
	return n;
}

static bool bit_set(const uint64_t *bits, unsigned int bit)
{
	return bits[bit / 64] & (1ULL << (bit % 64));
}

FIXTURE(logging)
{
	struct lm_dev dev;
	struct lm_dma dma;
	uint64_t bits[LOG_SIZE / LOG_PAGE / 64];
};

/* The kernel's config and symbols are read once, not in every test. */
static void __attribute__((constructor)) kernel_dma_logging_once(void)
{
	lm_kernel_dma_logging(NULL, 0);
}

FIXTURE_SETUP(logging)
{
	char why[512];
	int have, ret;

	LM_OPEN_DEV(&self->dev, 0);
	ASSERT_EQ(0, lm_pci_enable(&self->dev));
	have = lm_kernel_dma_logging(why, sizeof(why));
	ASSERT_LE(0, have) TH_LOG("%s", why);
	ret = lm_feature(&self->dev, VFIO_DEVICE_FEATURE_PROBE |
			 VFIO_DEVICE_FEATURE_SET,
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0);
	if (!have) {
		/* No log ops: vfio core answers ENOTTY itself. */
		ASSERT_EQ(-ENOTTY, ret)
			TH_LOG("%s, yet DMA logging is offered", why);
		SKIP(return, "no DMA logging: %s", why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s, yet DMA_LOGGING_START probe: %s", why,
				 strerror(-ret));
	ASSERT_EQ(0, lm_dma_alloc_map(&self->dev, LOG_IOVA, LOG_SIZE,
				      &self->dma));
}

FIXTURE_TEARDOWN(logging)
{
	if (self->dma.vaddr)
		lm_dma_unmap_free(&self->dev, &self->dma);
	lm_dev_close(&self->dev);
}

/* edu -> RAM: @cnt bytes of the device buffer to IOVA @dst; wait for it. */
static int dma_to_ram(struct lm_dev *d, uint64_t dst, uint64_t cnt)
{
	int ret = edu_dma_start(d, EDU_DMA_BUF, dst, cnt,
				EDU_DMA_RUN | EDU_DMA_TO_RAM);

	return ret ? ret : edu_wait_dma(d, DMA_WAIT_MS);
}

TEST_F(logging, known_dma_sets_its_page)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 5 * LOG_PAGE + 8, 16));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 5));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
}

TEST_F(logging, straddling_dma_sets_both_pages)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 3 * LOG_PAGE - 8, 16));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 2));
	EXPECT_TRUE(bit_set(self->bits, 3));
	EXPECT_EQ(2, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, whole_buffer_dma_spans_two_pages)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 10 * LOG_PAGE + 1,
				EDU_DMA_BUF_SIZE));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 10));
	EXPECT_TRUE(bit_set(self->bits, 11));
	EXPECT_EQ(2, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, report_clears)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, report_never_clears_user_bits)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	memset(self->bits, 0xff, sizeof(self->bits));
	ASSERT_EQ(0, log_report(&self->dev, LOG_IOVA, LOG_SIZE, LOG_PAGE,
				self->bits));
	EXPECT_EQ((int)(LOG_SIZE / LOG_PAGE),
		  count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, ram_to_edu_dirties_nothing)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, edu_dma_start(&self->dev, LOG_IOVA + LOG_PAGE,
				   EDU_DMA_BUF, 64, EDU_DMA_RUN));
	ASSERT_EQ(0, edu_wait_dma(&self->dev, DMA_WAIT_MS));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, dma_mask_clamps_the_address)
{
	/* edu masks DMA addresses to 28 bits: bit 28 set lands below it. */
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev,
				(1ULL << 28) + LOG_IOVA + 7 * LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 7));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, held_doorbell_dirties_after_replay)
{
	uint32_t state;

	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING_P2P, NULL));
	ASSERT_EQ(0, edu_dma_start(&self->dev, EDU_DMA_BUF,
				   LOG_IOVA + 9 * LOG_PAGE, 8,
				   EDU_DMA_RUN | EDU_DMA_TO_RAM));
	/* Held: nothing was written yet. */
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_EQ(0, lm_mig_get_state(&self->dev, &state));
	EXPECT_EQ(S_RUNNING, state);
	ASSERT_EQ(0, edu_wait_dma(&self->dev, DMA_WAIT_MS));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 9));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, in_flight_dma_reported_again_after_it_lands)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	/* Report while the DMA (100 ms in edu) may still be running ... */
	ASSERT_EQ(0, edu_dma_start(&self->dev, EDU_DMA_BUF,
				   LOG_IOVA + 12 * LOG_PAGE, 8,
				   EDU_DMA_RUN | EDU_DMA_TO_RAM));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 12));
	/* ... then the write lands: the page must be reported once more. */
	ASSERT_EQ(0, edu_wait_dma(&self->dev, DMA_WAIT_MS));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 12));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
}

TEST_F(logging, two_ranges)
{
	struct vfio_device_feature_dma_logging_range r[2] = {
		{ .iova = LOG_IOVA, .length = 4 * LOG_PAGE },
		{ .iova = LOG_IOVA + 32 * LOG_PAGE, .length = 32 * LOG_PAGE },
	};

	ASSERT_EQ(0, log_start(&self->dev, LOG_PAGE, r, 2, NULL));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 40 * LOG_PAGE, 8));
	/* Outside both ranges: not recorded. */
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 20 * LOG_PAGE, 8));
	ASSERT_EQ(0, log_report(&self->dev, LOG_IOVA + 32 * LOG_PAGE,
				32 * LOG_PAGE, LOG_PAGE, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 8));
	EXPECT_EQ(1, count_bits(self->bits, 1));
}

TEST_F(logging, larger_report_page_size)
{
	uint64_t bits[1] = { 0 };

	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 17 * LOG_PAGE, 8));
	/* 16 KiB report pages: page 17 is in report bit 4. */
	ASSERT_EQ(0, log_report(&self->dev, LOG_IOVA, LOG_SIZE, 4 * LOG_PAGE,
				bits));
	EXPECT_EQ(1ULL << 4, bits[0]);
}

TEST_F(logging, bad_inputs)
{
	struct vfio_device_feature_dma_logging_range r[257];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(r); i++) {
		r[i].iova = LOG_IOVA + 2 * i * LOG_PAGE;
		r[i].length = LOG_PAGE;
	}
	/* No range at all. */
	EXPECT_EQ(-EINVAL, log_start(&self->dev, LOG_PAGE, r, 0, NULL));
	/* Unaligned start or length. */
	r[0].iova = LOG_IOVA + 1;
	EXPECT_EQ(-EINVAL, log_start(&self->dev, LOG_PAGE, r, 1, NULL));
	r[0].iova = LOG_IOVA;
	r[0].length = LOG_PAGE + 8;
	EXPECT_EQ(-EINVAL, log_start(&self->dev, LOG_PAGE, r, 1, NULL));
	/* Zero length. */
	r[0].length = 0;
	EXPECT_EQ(-EINVAL, log_start(&self->dev, LOG_PAGE, r, 1, NULL));
	/* Overlapping ranges. */
	r[0].length = 4 * LOG_PAGE;
	EXPECT_EQ(-EINVAL, log_start(&self->dev, LOG_PAGE, r, 2, NULL));
	r[0].length = LOG_PAGE;
	/* More ranges than vfio core takes (a page of them). */
	EXPECT_EQ(-E2BIG, log_start(&self->dev, LOG_PAGE, r, 257, NULL));
	/* A range table the kernel cannot read. */
	EXPECT_EQ(-EFAULT, log_start(&self->dev, LOG_PAGE,
				     (void *)(uintptr_t)8, 1, NULL));
	/* Report and stop without start. */
	EXPECT_EQ(-EINVAL, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, log_stop(&self->dev));
	/* A real start still works after all that. */
	EXPECT_EQ(0, log_start(&self->dev, LOG_PAGE, r + 1, 16, NULL));
}

/*
 * A range of 2^26 pages (256 GiB at 4 KiB, a guest above ~128 GiB) is
 * within the 2^28 pages the driver tracks, so it must start: its bitmap
 * (8 MiB) is more than kmalloc gives in one piece, which made the start
 * fail with ENOMEM after a kernel WARN (issue 13, finding 1; the rig's
 * log scan counts the WARN).  A DMA into it is then reported as usual.
 */
TEST_F(logging, large_range_starts)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = (1ULL << 26) * LOG_PAGE,
	};

	ASSERT_EQ(0, log_start(&self->dev, LOG_PAGE, &r, 1, NULL));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 3 * LOG_PAGE, 16));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 3));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
}

/*
 * The header promises at least a page of ranges (256 here); a driver
 * that keeps fewer merges them rather than refusing (issue 13, finding
 * 7).  DMA into the first, a middle and the last of 256 one-page ranges
 * is reported in each.
 */
TEST_F(logging, many_ranges_are_merged)
{
	static struct vfio_device_feature_dma_logging_range r[256];
	static const unsigned int hit[] = { 0, 20, 31 };
	uint64_t page = 0, bits[1];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(r); i++) {
		r[i].iova = LOG_IOVA + 2 * i * LOG_PAGE;
		r[i].length = LOG_PAGE;
	}
	ASSERT_EQ(0, log_start(&self->dev, LOG_PAGE, r, ARRAY_SIZE(r), &page));
	EXPECT_EQ(LOG_PAGE, page);
	for (i = 0; i < ARRAY_SIZE(hit); i++)
		ASSERT_EQ(0, dma_to_ram(&self->dev,
					LOG_IOVA + 2 * hit[i] * LOG_PAGE, 8));
	for (i = 0; i < ARRAY_SIZE(hit); i++) {
		bits[0] = 0;
		ASSERT_EQ(0, log_report(&self->dev,
					LOG_IOVA + 2 * hit[i] * LOG_PAGE,
					LOG_PAGE, LOG_PAGE, bits));
		EXPECT_EQ(1ULL, bits[0]) TH_LOG("range %u", hit[i]);
	}
	/* A range nobody wrote to reports nothing. */
	bits[0] = 0;
	ASSERT_EQ(0, log_report(&self->dev, LOG_IOVA + 2 * 7 * LOG_PAGE,
				LOG_PAGE, LOG_PAGE, bits));
	EXPECT_EQ(0ULL, bits[0]);
	EXPECT_EQ(0, log_stop(&self->dev));
}

/*
 * page_size is a hint: a size the driver cannot track is replaced by one
 * it can, returned in page_size, and DMA is then reported at that
 * granularity (finding 7).
 */
TEST_F(logging, unsupported_page_size_is_replaced)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = LOG_IOVA, .length = LOG_SIZE,
	};
	uint64_t page = 0;

	/* Below the CPU page: 4 KiB. */
	ASSERT_EQ(0, log_start(&self->dev, 512, &r, 1, &page));
	EXPECT_EQ(LOG_PAGE, page);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 5 * LOG_PAGE + 8, 16));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 5));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, log_stop(&self->dev));

	/* Not a power of two (12 KiB): a power of two the driver tracks. */
	r.length = 3 * 16 * LOG_PAGE;
	ASSERT_EQ(0, log_start(&self->dev, 3 * LOG_PAGE, &r, 1, &page));
	EXPECT_TRUE(page >= LOG_PAGE && !(page & (page - 1)))
		TH_LOG("page size %llu", (unsigned long long)page);
	ASSERT_EQ(0, log_stop(&self->dev));

	/* Above what the driver tracks (2 GiB): its largest, 1 GiB. */
	r.iova = 0;
	r.length = 1ULL << 31;
	ASSERT_EQ(0, log_start(&self->dev, 1ULL << 31, &r, 1, &page));
	EXPECT_EQ(1ULL << 30, page);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 9 * LOG_PAGE, 8));
	/* One dirty 1 GiB page covers every 4 KiB page of the window. */
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ((int)(LOG_SIZE / LOG_PAGE),
		  count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
}

/*
 * More pages at the asked size than the driver tracks (2^28): it takes
 * a larger page instead of refusing (finding 7), and a DMA dirties the
 * two 4 KiB pages of its 8 KiB page.
 */
TEST_F(logging, too_many_pages_coarsen_the_page_size)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = ((1ULL << 28) + 2) * LOG_PAGE,
	};
	uint64_t page = 0;

	ASSERT_EQ(0, log_start(&self->dev, LOG_PAGE, &r, 1, &page));
	EXPECT_EQ(2 * LOG_PAGE, page);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 3 * LOG_PAGE + 8, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 2));
	EXPECT_TRUE(bit_set(self->bits, 3));
	EXPECT_EQ(2, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
}

/*
 * A report window that covers only part of a dirty tracking page
 * (tracking at 8 KiB, reporting 4 KiB) reports it and keeps it: the bit
 * must not be cleared and then lost when vfio core cannot record a page
 * larger than the window (issue 13, finding 8).
 */
TEST_F(logging, partial_report_keeps_the_page)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = LOG_IOVA, .length = LOG_SIZE,
	};
	uint64_t page = 0, bits[1] = { 0 };

	ASSERT_EQ(0, log_start(&self->dev, 2 * LOG_PAGE, &r, 1, &page));
	ASSERT_EQ(2 * LOG_PAGE, page);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 8, 8));
	/* The second 4 KiB of the dirty 8 KiB page. */
	ASSERT_EQ(0, log_report(&self->dev, LOG_IOVA + LOG_PAGE, LOG_PAGE,
				LOG_PAGE, bits));
	EXPECT_EQ(1ULL, bits[0]);
	/* The whole window still has it, then it is cleared. */
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 0));
	EXPECT_TRUE(bit_set(self->bits, 1));
	EXPECT_EQ(2, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
}

TEST_F(logging, bad_reports)
{
	int ret;

	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	/* Outside the logged range. */
	EXPECT_EQ(-EINVAL, log_report(&self->dev, LOG_IOVA + LOG_SIZE,
				      LOG_PAGE, LOG_PAGE, self->bits));
	EXPECT_EQ(-EINVAL, log_report(&self->dev, LOG_IOVA, 2 * LOG_SIZE,
				      LOG_PAGE, self->bits));
	/* Report page size not a power of two, or below 4 KiB. */
	EXPECT_EQ(-EINVAL, log_report(&self->dev, LOG_IOVA, LOG_SIZE,
				      3 * LOG_PAGE, self->bits));
	EXPECT_EQ(-EINVAL, log_report(&self->dev, LOG_IOVA, LOG_SIZE, 512,
				      self->bits));
	/*
	 * A bitmap the kernel cannot write.  vfio core's iova_bitmap pins
	 * it lazily and drops a pinning failure inside iova_bitmap_set(),
	 * so the driver never sees it: the report may succeed or fail with
	 * EFAULT, but must fail cleanly and leave logging usable.
	 */
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA, 8));
	ret = log_report(&self->dev, LOG_IOVA, LOG_SIZE, LOG_PAGE,
			 (uint64_t *)(uintptr_t)8);
	EXPECT_TRUE(ret == 0 || ret == -EFAULT) TH_LOG("report: %d", ret);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 1));
}

TEST_F(logging, start_twice_busy)
{
	uint64_t page = 0;
	struct vfio_device_feature_dma_logging_range r = {
		.iova = LOG_IOVA, .length = LOG_SIZE,
	};

	ASSERT_EQ(0, log_start(&self->dev, LOG_PAGE, &r, 1, &page));
	EXPECT_EQ(LOG_PAGE, page);
	EXPECT_EQ(-EBUSY, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	EXPECT_EQ(0, log_stop(&self->dev));
	EXPECT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
}

TEST_F(logging, reset_stops_logging)
{
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, lm_dev_reset(&self->dev));
	EXPECT_EQ(-EINVAL, report_all(&self->dev, self->bits));
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 1));
}

TEST_F(logging, across_migration_states)
{
	int fd = -1;

	LM_NEED_PRECOPY(&self->dev);
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 2 * LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 2));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, NULL));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	close(fd);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 4 * LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 4));
	EXPECT_EQ(0, log_stop(&self->dev));
}

/*
 * The same without PRE_COPY, on every kernel: logging goes on through a
 * STOP_COPY session and back to RUNNING; a stopped device dirties
 * nothing.
 */
TEST_F(logging, across_stop_copy)
{
	struct lm_buf s;
	int fd = -1, end;

	lm_buf_init(&s);
	ASSERT_EQ(0, log_start1(&self->dev, LOG_IOVA, LOG_SIZE));
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 3 * LOG_PAGE, 8));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lm_drain(fd, &s, LM_CHUNK_ALL, LM_STREAM_LIMIT, &end));
	EXPECT_EQ(LM_END_PERM, end);
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 3));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_EQ(0, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	close(fd);
	ASSERT_EQ(0, dma_to_ram(&self->dev, LOG_IOVA + 6 * LOG_PAGE, 8));
	ASSERT_EQ(0, report_all(&self->dev, self->bits));
	EXPECT_TRUE(bit_set(self->bits, 6));
	EXPECT_EQ(1, count_bits(self->bits, ARRAY_SIZE(self->bits)));
	EXPECT_EQ(0, log_stop(&self->dev));
	lm_buf_free(&s);
}

LM_TEST_MAIN
