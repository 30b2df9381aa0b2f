/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_test.h - glue between the livemig helper library and the kselftest
 * harness.  Only the *_test.c files include this (after
 * kselftest_harness.h); the library itself does not depend on the harness.
 */
#ifndef LM_TEST_H
#define LM_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "lm_datafd.h"
#include "lm_devsel.h"
#include "lm_edu.h"
#include "lm_kernel.h"
#include "lm_mig.h"
#include "lm_stream.h"
#include "lm_vfio.h"

#define S_ERROR		VFIO_DEVICE_STATE_ERROR
#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RESUMING	VFIO_DEVICE_STATE_RESUMING
#define S_RUNNING_P2P	VFIO_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY	VFIO_DEVICE_STATE_PRE_COPY
#define S_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P

/*
 * The rig runs under TCG on a shared machine: a test that takes 2 s alone
 * can take 20 s when the host is busy.  Give every test two minutes; only
 * a hang should ever get near that.
 */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

/* Generous bound for the device's own asynchronous work (DMA, factorial). */
#define LM_DEV_WAIT_MS	20000

/*
 * main(): take PCI addresses out of argv, skip the whole program (exit 4,
 * with a TAP plan of 0) when no device is selected or when the VFIO
 * backend (LIVEMIG_VFIO_BACKEND) does not exist on this kernel, else run
 * the harness.  -h and -l work without devices.
 */
#define LM_TEST_MAIN							\
int main(int argc, char **argv)						\
{									\
	char why[256];							\
	int i, n;							\
									\
	n = lm_select_devices(&argc, argv);				\
	for (i = 1; i < argc; i++)					\
		if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "-h"))	\
			return test_harness_run(argc, argv);		\
	if (!n) {							\
		printf("TAP version 13\n1..0 # SKIP no device selected "\
		       "(give PCI addresses, set LIVEMIG_DEVICES or bind "\
		       "devices to " LM_DRIVER_NAME ")\n");		\
		return KSFT_SKIP;					\
	}								\
	if (lm_backend_check(NULL, why, sizeof(why)) == -EOPNOTSUPP) {	\
		printf("TAP version 13\n1..0 # SKIP %s\n", why);	\
		return KSFT_SKIP;					\
	}								\
	fprintf(stderr, "# kernel %s; VFIO backend: %s\n",		\
		lm_kver()->release, lm_backend_default()->name);	\
	fprintf(stderr, "# devices (%s):", lm_devices.source);		\
	for (i = 0; i < n; i++)						\
		fprintf(stderr, " %s", lm_devices.bdf[i]);		\
	fprintf(stderr, "\n");						\
	return test_harness_run(argc, argv);				\
}

/*
 * Open the @idx-th device, reset it to power-on and RUNNING, enable
 * memory and bus master.  In a FIXTURE_SETUP: skips when there are too
 * few devices or the kernel lacks the VFIO backend (-EOPNOTSUPP), fails
 * on any other error.
 */
#define LM_OPEN_DEV(dev, idx) do {					\
	const char *__bdf = lm_device(idx);				\
	char __why[256];						\
	int __ret;							\
									\
	if (!__bdf)							\
		SKIP(return, "needs %d devices, %d selected",		\
		     (idx) + 1, lm_devices.n);				\
	__ret = lm_dev_open_retry((dev), __bdf);			\
	if (__ret == -EOPNOTSUPP &&					\
	    lm_backend_check(__bdf, __why, sizeof(__why)))		\
		SKIP(return, "%s", __why);				\
	ASSERT_EQ(0, __ret) TH_LOG("open %s: %s", __bdf,		\
				   strerror(-__ret));			\
	__ret = lm_reset_to_running(dev);				\
	ASSERT_EQ(0, __ret) TH_LOG("reset %s: %s", __bdf,		\
				   strerror(-__ret));			\
} while (0)

/*
 * A test killed by the harness may still be releasing the device while
 * the next one starts: retry a busy open for a few seconds.
 */
static inline int lm_dev_open_retry(struct lm_dev *d, const char *bdf)
{
	int i, ret;

	for (i = 0; i < 100; i++) {
		ret = lm_dev_open(d, bdf);
		if (ret != -EBUSY)
			break;
		usleep(100000);
	}
	return ret;
}

/*
 * What the running kernel's VFIO offers comes from the kernel
 * (lm_kernel.h), never from the driver.  Where a device is open, a test
 * that is skipped, or that takes another path, for something the kernel
 * lacks first asserts that the device does not offer it either: a driver
 * that advertises PRE_COPY on 6.1 fails instead of being skipped.
 */

/* Assert that @dev (NULL or closed: no check) does not offer PRE_COPY. */
#define LM_ASSERT_NO_PRECOPY(dev, why) do {				\
	struct lm_dev *__nd = (dev);					\
	uint64_t __fl = 0;						\
									\
	if (__nd && __nd->fd >= 0) {					\
		ASSERT_EQ(0, lm_mig_flags(__nd, &__fl));		\
		ASSERT_EQ(0ULL, __fl & VFIO_MIGRATION_PRE_COPY)		\
			TH_LOG("%s, yet %s advertises "			\
			       "VFIO_MIGRATION_PRE_COPY", (why),	\
			       __nd->bdf);				\
	}								\
} while (0)

/*
 * For fixtures and tests that enter PRE_COPY(_P2P) or use PRECOPY_INFO:
 * skip, with the reason, on a kernel whose VFIO has no PRE_COPY (before
 * 6.2), after asserting that @dev (may be NULL) does not advertise it.
 */
#define LM_NEED_PRECOPY(dev) do {					\
	char __pwhy[160];						\
									\
	if (!lm_kernel_has_precopy(__pwhy, sizeof(__pwhy))) {		\
		LM_ASSERT_NO_PRECOPY((dev), __pwhy);			\
		SKIP(return, "%s", __pwhy);				\
	}								\
} while (0)

/* LM_NEED_PRECOPY() if @state is PRE_COPY or PRE_COPY_P2P. */
#define LM_NEED_STATE(dev, state) do {					\
	if (lm_state_is_precopy(state))					\
		LM_NEED_PRECOPY(dev);					\
} while (0)

/*
 * For tests that use VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: skip, with the
 * reason, on a kernel whose VFIO has none (before 6.2), after asserting
 * that @dev (may be NULL) does not answer it: 6.1's vfio core hands the
 * unknown feature to vfio_pci_core_ioctl_feature(), which says ENOTTY.
 */
#define LM_NEED_DATA_SIZE(dev) do {					\
	struct lm_dev *__sd = (dev);					\
	char __swhy[160];						\
	uint64_t __sz = 0;						\
									\
	if (!lm_kernel_has_data_size(__swhy, sizeof(__swhy))) {		\
		if (__sd && __sd->fd >= 0)				\
			ASSERT_EQ(-ENOTTY, lm_mig_data_size(__sd, &__sz)) \
				TH_LOG("%s, yet %s answers it", __swhy,	\
				       __sd->bdf);			\
		SKIP(return, "%s", __swhy);				\
	}								\
} while (0)

/*
 * For tests whose subject is not PRE_COPY but that save through it where
 * they can: @use = whether the kernel's VFIO has PRE_COPY; where it has
 * not, @dev (may be NULL) must not advertise it and the test goes on
 * through STOP_COPY, so that its coverage stays on 6.1.
 */
#define LM_USE_PRECOPY(dev, use) do {					\
	char __uwhy[160];						\
									\
	(use) = lm_kernel_has_precopy(__uwhy, sizeof(__uwhy));		\
	if (!(use))							\
		LM_ASSERT_NO_PRECOPY((dev), __uwhy);			\
} while (0)

/* Assert the device's current migration state. */
#define ASSERT_STATE(dev, want) do {					\
	uint32_t __st = 0xdead;						\
	ASSERT_EQ(0, lm_mig_get_state((dev), &__st));			\
	ASSERT_EQ((uint32_t)(want), __st)				\
		TH_LOG("state is %s, expected %s",			\
		       lm_state_name(__st), lm_state_name(want));	\
} while (0)

#define EXPECT_STATE(dev, want) do {					\
	uint32_t __st = 0xdead;						\
	EXPECT_EQ(0, lm_mig_get_state((dev), &__st));			\
	EXPECT_EQ((uint32_t)(want), __st)				\
		TH_LOG("state is %s, expected %s",			\
		       lm_state_name(__st), lm_state_name(want));	\
} while (0)

/* Assert a register file equals @want, naming every differing register. */
#define ASSERT_REGS(dev, want) do {					\
	struct edu_regs __got;						\
	char __why[512];						\
	ASSERT_EQ(0, edu_read_regs((dev), &__got));			\
	ASSERT_EQ(0, edu_regs_diff((want), &__got, __why,		\
				   sizeof(__why)))			\
		TH_LOG("registers differ (expected!=got):%s", __why);	\
} while (0)

/* Close an fd if open, and forget it. */
static inline void lm_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

#endif /* LM_TEST_H */
