// SPDX-License-Identifier: GPL-2.0
/*
 * bochs_test - the bochs-display engine between two bochs-display
 * functions: VRAM and registers round-trip bit for bit through STOP_COPY
 * and through PRE_COPY while VRAM is rewritten through the user's mapping;
 * all-zero pages travel as ZERO ranges; PRECOPY_INFO falls as data is
 * read and rises when the mapping is written; MIG_DATA_SIZE shrinks once
 * PRE_COPY moved VRAM; a resuming stream's pages are in VRAM before
 * RESUMING -> STOP; a stream the destination rejects, at any point,
 * leaves its VRAM and registers untouched.  The PRE_COPY cases are
 * skipped on kernels without PRE_COPY (before 6.2).
 *
 * Devices: bochs-display functions among those given (argv,
 * LIVEMIG_DEVICES), else every one in the system, bound to the driver
 * for the run and released after it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/pci_regs.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"
#include "lib/lm_bochs.h"
#include "lib/lm_status.h"

#define SEED_SRC	0x5eed0001ULL
#define SEED_DST	0x5eed0002ULL
#define SEED_REWRITE	0x5eed0003ULL
#define SEED_LATE	0x5eed0004ULL

/* Every page of VRAM is covered at least once (@exactly: once). */
static int covered_all(const uint8_t *c, size_t npages, bool exactly)
{
	size_t pg;

	for (pg = 0; pg < npages; pg++)
		if (!c[pg] || (exactly && c[pg] != 1))
			return (int)pg;
	return -1;
}

/* Index of the first page that differs, -1 if none. */
static long first_diff(const uint8_t *a, const uint8_t *b, size_t size)
{
	size_t off;

	for (off = 0; off < size; off += BOCHS_PAGE)
		if (memcmp(a + off, b + off, BOCHS_PAGE))
			return (long)(off / BOCHS_PAGE);
	return -1;
}

/* Read until at least @want more bytes or an end; returns the errno. */
static int read_some(int fd, struct lm_buf *b, size_t want, int *end)
{
	size_t start = b->len;
	uint8_t tmp[65536];
	long n;

	*end = LM_END_NONE;
	while (b->len - start < want) {
		n = lm_read1(fd, tmp, sizeof(tmp));
		if (n == -ENOMSG) {
			*end = LM_END_TEMP;
			return 0;
		}
		if (n < 0)
			return (int)n;
		if (!n) {
			*end = LM_END_PERM;
			return 0;
		}
		if (lm_buf_append(b, tmp, n))
			return -ENOMEM;
	}
	return 0;
}

FIXTURE(bochs)
{
	struct lm_dev src, dst;
	uint8_t *vsrc, *vdst;
	size_t vram, npages;
	uint8_t *expect;	/* a private copy of what VRAM should hold */
	struct lm_buf stream;
	int fd;
};

FIXTURE_SETUP(bochs)
{
	size_t size;

	self->fd = -1;
	self->vsrc = self->vdst = self->expect = NULL;
	lm_buf_init(&self->stream);
	LM_OPEN_DEV(&self->src, 0);
	LM_OPEN_DEV(&self->dst, 1);
	ASSERT_EQ(0, bochs_map_vram(&self->src, &self->vsrc, &self->vram));
	ASSERT_EQ(0, bochs_map_vram(&self->dst, &self->vdst, &size));
	ASSERT_EQ(self->vram, size) TH_LOG("the two devices' VRAM differ");
	ASSERT_EQ(0, self->vram % BOCHS_PAGE);
	self->npages = self->vram / BOCHS_PAGE;
	self->expect = malloc(self->vram);
	ASSERT_NE(NULL, self->expect);
}

FIXTURE_TEARDOWN(bochs)
{
	lm_close(&self->fd);
	lm_buf_free(&self->stream);
	free(self->expect);
	bochs_unmap_vram(self->vsrc, self->vram);
	bochs_unmap_vram(self->vdst, self->vram);
	lm_dev_close(&self->src);
	lm_dev_close(&self->dst);
}

/*
 * Resume the destination from the saved stream, written in chunks @c: it
 * must take it, and its VRAM must then equal the source's.
 */
static void resume_matches(struct __test_metadata *_metadata,
			   FIXTURE_DATA(bochs) *self, struct lm_chunker c)
{
	int we, se;
	long diff;

	ASSERT_EQ(0, lm_resume(&self->dst, self->stream.p, self->stream.len,
			       c, &we, &se))
		TH_LOG("write %s, RESUMING->STOP %s", strerror(-we),
		       strerror(-se));
	diff = first_diff(self->vsrc, self->vdst, self->vram);
	EXPECT_EQ(-1, diff) TH_LOG("VRAM page %ld differs", diff);
}

/*
 * Fill VRAM through the mapping: every third page zero, every seventh
 * page zero but for its last byte, the rest a pattern of @seed.
 */
static size_t fill_mixed(uint8_t *vram, size_t npages, uint64_t seed)
{
	uint8_t page[BOCHS_PAGE];
	size_t pg, nonzero = 0;

	for (pg = 0; pg < npages; pg++) {
		if (pg % 3 == 0) {
			memset(page, 0, sizeof(page));
		} else if (pg % 7 == 0) {
			memset(page, 0, sizeof(page));
			page[BOCHS_PAGE - 1] = 0x5a;
			nonzero++;
		} else {
			bochs_fill_page(page, seed, pg);
			nonzero++;
		}
		memcpy(vram + pg * BOCHS_PAGE, page, BOCHS_PAGE);
	}
	return nonzero;
}

static void fill_all(uint8_t *vram, size_t npages, uint64_t seed)
{
	size_t pg;

	for (pg = 0; pg < npages; pg++)
		bochs_fill_page(vram + pg * BOCHS_PAGE, seed, pg);
}

/* STOP_COPY from RUNNING, read to the end, back to STOP. */
static int save_stop_copy(struct lm_dev *d, struct lm_buf *b, size_t limit)
{
	int fd = -1, end, ret;

	ret = lm_mig_set_state(d, S_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = bochs_drain(fd, b, 65536, limit, &end);
	if (!ret && end != LM_END_PERM)
		ret = -EPROTO;
	close(fd);
	return ret ?: lm_mig_set_state(d, S_STOP, NULL);
}

/*
 * The source: mixed VRAM (fill_mixed()) in mode @want; the destination:
 * other pixels in mode @other; the source's STOP_COPY stream saved into
 * self->stream.  Returns the source's non-zero pages, or -1 if a step
 * failed (logged).
 */
static long saved_pair(struct __test_metadata *_metadata,
		       FIXTURE_DATA(bochs) *self, const struct bochs_regs *want,
		       const struct bochs_regs *other)
{
	long nonzero = (long)fill_mixed(self->vsrc, self->npages, SEED_SRC);
	int ret;

	fill_all(self->vdst, self->npages, SEED_DST);
	ret = bochs_write_regs(&self->src, want);
	ret = ret ?: bochs_write_regs(&self->dst, other);
	ret = ret ?: save_stop_copy(&self->src, &self->stream,
				    2 * self->vram + (1 << 20));
	if (ret)
		TH_LOG("setting up the pair: %s", strerror(-ret));
	return ret ? -1 : nonzero;
}

TEST_F(bochs, roundtrip_stop_copy)
{
	struct bochs_regs want, got, other;
	struct bochs_sstat st;
	const char *why = NULL;
	uint8_t *cover;
	long nonzero;
	int pg;
	char d[512];

	bochs_regs_mode(&want, 1024, 768, 16, 8, true);
	want.vbe[VBE_BANK] = 3;
	bochs_regs_mode(&other, 640, 480, 0, 0, false);
	nonzero = saved_pair(_metadata, self, &want, &other);
	ASSERT_LE(0, nonzero);

	cover = calloc(self->npages, 1);
	ASSERT_NE(NULL, cover);
	ASSERT_EQ(0, bochs_stream_walk(self->stream.p, self->stream.len, cover,
				       self->npages, &st, &why))
		TH_LOG("stream: %s", why);
	pg = covered_all(cover, self->npages, true);
	free(cover);
	EXPECT_EQ(-1, pg) TH_LOG("page %d not covered exactly once", pg);
	/* Zero pages travel as ranges, data pages once each. */
	EXPECT_EQ((uint64_t)nonzero * BOCHS_PAGE, st.page_bytes);
	EXPECT_EQ((uint64_t)(self->npages - nonzero) * BOCHS_PAGE,
		  st.zero_bytes);
	EXPECT_EQ(1U, st.nrec[LM_REC_STATE]);
	TH_LOG("%zu MiB VRAM, %zu%% data pages: %zu stream bytes, %zu PAGES "
	       "and %zu ZERO records", self->vram >> 20,
	       nonzero * 100 / self->npages, st.len, st.nrec[LM_REC_PAGES],
	       st.nrec[LM_REC_ZERO]);

	resume_matches(_metadata, self, LM_CHUNK_RANDOM(70000, 7));
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &got));
	EXPECT_EQ(0, bochs_regs_diff(&want, &got, d, sizeof(d)))
		TH_LOG("registers (expected!=got):%s", d);
	EXPECT_EQ(VBE_ID5, got.vbe[VBE_ID]);

	/* The destination runs on from there. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	self->vdst[5] ^= 0xff;
	EXPECT_EQ(self->vsrc[5] ^ 0xff, self->vdst[5]);
}

/*
 * RESUMING -> STOP runs inside the downtime, so it must not be a pass
 * over VRAM: each page is in VRAM once write() took its record, before
 * the arc; the arc completes the registers.
 */
TEST_F(bochs, resume_writes_vram_before_stop)
{
	struct bochs_regs want, got, other;
	int fd = -1;
	long diff;
	char d[512];

	bochs_regs_mode(&want, 800, 600, 32, 0, true);
	bochs_regs_mode(&other, 640, 480, 0, 0, false);
	ASSERT_LE(0, saved_pair(_metadata, self, &want, &other));

	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RESUMING, &fd));
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, lm_feed(fd, self->stream.p, self->stream.len,
			     LM_CHUNK(65536), NULL));
	diff = first_diff(self->vsrc, self->vdst, self->vram);
	EXPECT_EQ(-1, diff) TH_LOG("before STOP, VRAM page %ld is not the "
				   "stream's", diff);
	/* The registers are the arc's: still the destination's own. */
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &got));
	EXPECT_EQ(0, bochs_regs_diff(&other, &got, d, sizeof(d)))
		TH_LOG("registers changed before STOP:%s", d);

	EXPECT_EQ(0, lm_mig_set_state(&self->dst, S_STOP, NULL));
	close(fd);
	diff = first_diff(self->vsrc, self->vdst, self->vram);
	EXPECT_EQ(-1, diff) TH_LOG("after STOP, VRAM page %ld differs", diff);
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &got));
	EXPECT_EQ(0, bochs_regs_diff(&want, &got, d, sizeof(d)))
		TH_LOG("registers (expected!=got):%s", d);
}

/* ---- golden: a stream a release saved, resumed by every later module ---- */

/*
 * selftests/golden/bochs-<release>-<MiB>m.stream was saved by that release
 * from a bochs-display of that VRAM size in the mode of golden_mode(), its
 * VRAM zero but for every GOLDEN_STRIDE-th page, filled by
 * bochs_fill_page() with GOLDEN_SEED (the .expect file says so, for the
 * record).  Every later module must resume it onto a device holding other
 * pixels and another mode, bit-exact.  LM_GOLDEN_SAVE=DIR saves this
 * release's fixture into DIR instead (then the test skips).
 */
#define GOLDEN_SEED	0x60d5eedULL
#define GOLDEN_STRIDE	509

static void golden_mode(struct bochs_regs *r)
{
	bochs_regs_mode(r, 800, 600, 32, 4, true);
	r->vbe[VBE_BANK] = 2;
}

static void golden_vram(uint8_t *vram, size_t npages)
{
	size_t pg;

	memset(vram, 0, npages * BOCHS_PAGE);
	for (pg = 0; pg < npages; pg += GOLDEN_STRIDE)
		bochs_fill_page(vram + pg * BOCHS_PAGE, GOLDEN_SEED, pg);
}

TEST_F(bochs, golden_stream_resumes)
{
	const char *save = getenv("LM_GOLDEN_SAVE");
	char path[512], ver[32] = "", d[512], suffix[32];
	struct bochs_regs want, got, other;
	int we, se, found = 0;
	struct dirent *e;
	struct lm_buf g;
	long diff;
	DIR *dir;
	FILE *f;
	size_t n;

	golden_mode(&want);
	if (save && *save) {
		f = fopen("VERSION", "r");
		ASSERT_NE(NULL, f);
		ASSERT_NE(NULL, fgets(ver, sizeof(ver), f));
		fclose(f);
		ver[strcspn(ver, "\n")] = 0;
		golden_vram(self->vsrc, self->npages);
		ASSERT_EQ(0, bochs_write_regs(&self->src, &want));
		ASSERT_EQ(0, save_stop_copy(&self->src, &self->stream,
					    2 * self->vram + (1 << 20)));
		snprintf(path, sizeof(path), "%s/bochs-%s-%zum.stream", save,
			 ver, self->vram >> 20);
		ASSERT_EQ(0, lm_file_save(path, self->stream.p, self->stream.len));
		n = snprintf(d, sizeof(d),
			     "# Saved by livemig-vfio-pci %s from QEMU's bochs-display\n"
			     "# with %zu MiB VRAM (selftests/bochs_test.c, golden).\n"
			     "vram %zu\nmode 800x600x32 virt-x-offset 4 bank 2 enabled\n"
			     "pages every %d-th from 0, bochs_fill_page(seed 0x%llx)\n",
			     ver, self->vram >> 20, self->vram, GOLDEN_STRIDE,
			     (unsigned long long)GOLDEN_SEED);
		snprintf(path, sizeof(path), "%s/bochs-%s-%zum.expect", save,
			 ver, self->vram >> 20);
		ASSERT_EQ(0, lm_file_save(path, d, n));
		SKIP(return, "saved this release's fixture into %s", save);
	}

	/* Every fixture saved from a device with this VRAM size. */
	snprintf(suffix, sizeof(suffix), "-%zum.stream", self->vram >> 20);
	dir = opendir("selftests/golden");
	ASSERT_NE(NULL, dir);
	lm_buf_init(&g);
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, "bochs-", 6) || len <= strlen(suffix) ||
		    strcmp(e->d_name + len - strlen(suffix), suffix))
			continue;
		found++;
		snprintf(path, sizeof(path), "selftests/golden/%s", e->d_name);
		g.len = 0;
		ASSERT_EQ(0, lm_buf_load(&g, path)) TH_LOG("%s", path);
		ASSERT_LE(8U, g.len);
		EXPECT_EQ(0, memcmp(g.p, "LMIG", 4));

		golden_vram(self->expect, self->npages);
		fill_all(self->vdst, self->npages, SEED_DST);
		bochs_regs_mode(&other, 640, 480, 16, 0, true);
		ASSERT_EQ(0, lm_reset_to_running(&self->dst));
		ASSERT_EQ(0, bochs_write_regs(&self->dst, &other));
		lm_resume(&self->dst, g.p, g.len, LM_CHUNK(70000), &we, &se);
		EXPECT_EQ(0, we) TH_LOG("%s: write: %s", path, strerror(-we));
		EXPECT_EQ(0, se) TH_LOG("%s: RESUMING->STOP: %s", path,
					strerror(-se));
		diff = first_diff(self->expect, self->vdst, self->vram);
		EXPECT_EQ(-1, diff) TH_LOG("%s: VRAM page %ld differs", path, diff);
		ASSERT_EQ(0, bochs_read_regs(&self->dst, &got));
		EXPECT_EQ(0, bochs_regs_diff(&want, &got, d, sizeof(d)))
			TH_LOG("%s: registers (expected!=got):%s", path, d);
		ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	}
	closedir(dir);
	EXPECT_LE(1, found) TH_LOG("no golden bochs stream for %zu MiB of VRAM",
				   self->vram >> 20);
	lm_buf_free(&g);
}

/*
 * What one read() makes the module produce is bounded, whatever its
 * length: a read of 64 MiB in STOP_COPY of a VRAM full of data must not
 * pull all of VRAM into kernel memory in one call (issue 13, finding 6).
 * The bound asserted, 4 MiB, is four times the work the module means one
 * read() to do (its read budget, 1 MiB) and a quarter of the smallest
 * VRAM the rig gives bochs-display.  The stream read that way must still
 * resume exactly.
 */
TEST_F(bochs, read_produces_bounded)
{
	const size_t big = 64 << 20, bound = 4 << 20;
	int fd = -1;
	size_t largest = 0;
	uint8_t *buf;
	long n;

	ASSERT_LT(bound, self->vram) TH_LOG("VRAM too small to tell");
	fill_all(self->vsrc, self->npages, SEED_SRC);
	fill_all(self->vdst, self->npages, SEED_DST);
	buf = malloc(big);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, &fd));
	while ((n = lm_read1(fd, buf, big)) > 0) {
		if ((size_t)n > largest)
			largest = n;
		if (lm_buf_append(&self->stream, buf, n))
			break;
	}
	free(buf);
	close(fd);
	ASSERT_EQ(0, n) TH_LOG("read: %s", strerror((int)-n));
	EXPECT_GE(bound, largest) TH_LOG("one read returned %zu bytes", largest);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
}

/*
 * What one read() makes the module examine is bounded too, zero pages
 * included: zero pages emit nothing, so a budget counted in emitted bytes
 * let one read() in PRE_COPY walk all of an all-zero VRAM under the state
 * lock (issue 13, finding 5).  After one read of up to 64 MiB,
 * PRECOPY_INFO must still count all but at most 4 MiB (four times the
 * module's read budget, a quarter of the rig's smallest VRAM) of VRAM as
 * initial data not yet produced; reading on must still give a stream that
 * resumes exactly.
 */
TEST_F(bochs, read_examines_bounded)
{
	const size_t big = 64 << 20, bound = 4 << 20;
	struct vfio_precopy_info info;
	int end;
	uint8_t *buf;
	long n;

	LM_NEED_PRECOPY(&self->src);
	ASSERT_LT(bound, self->vram) TH_LOG("VRAM too small to tell");
	memset(self->vsrc, 0, self->vram);
	fill_all(self->vdst, self->npages, SEED_DST);
	buf = malloc(big);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	n = lm_read1(self->fd, buf, big);
	ASSERT_LT(0, n) TH_LOG("read: %s", strerror((int)-n));
	ASSERT_EQ(0, lm_buf_append(&self->stream, buf, n));
	free(buf);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_LE((uint64_t)(self->vram - bound), info.initial_bytes)
		TH_LOG("one read of an all-zero VRAM walked %llu of %zu bytes",
		       (unsigned long long)(self->vram - info.initial_bytes),
		       self->vram);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_PERM, end);
	lm_close(&self->fd);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
}

/*
 * poll() on a saving data FD says readable while a read() would return
 * data or the end of the stream.  After a read() that took everything
 * produced so far, bochs-display still owes most of VRAM in STOP_COPY:
 * poll() must not leave the reader asleep (issue 13, finding 2).  A read
 * with a buffer larger than what one call produces always ends there.
 */
TEST_F(bochs, poll_readable_while_engine_owes)
{
	const size_t big = 64 << 20;
	int fd = -1, reads = 0, asleep = 0, ev;
	uint8_t *buf;
	long n;

	fill_all(self->vsrc, self->npages, SEED_SRC);
	buf = malloc(big);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, &fd));
	while ((n = lm_read1(fd, buf, big)) > 0) {
		reads++;
		ev = lm_poll1(fd, POLLIN, 0);
		if (!(ev > 0 && (ev & POLLIN)))
			asleep++;
	}
	free(buf);
	close(fd);
	EXPECT_EQ(0, n) TH_LOG("read: %s", strerror((int)-n));
	EXPECT_LT(1, reads) TH_LOG("the stream came in one read: nothing told");
	EXPECT_EQ(0, asleep) TH_LOG("%d of %d polls after a read said not "
				    "readable", asleep, reads);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
}

/*
 * write() to a resuming data FD takes the stream a page at a time.  When a
 * later page of the caller's buffer faults, the pages before it were
 * already taken: write() must return their count, as write(2) does, not
 * EFAULT, or a caller that retries the rest hands the driver those bytes
 * twice.  The rest is then written from where the count says and the
 * stream must resume exactly.
 */
TEST_F(bochs, write_returns_count_before_fault)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd = -1, se;
	size_t off;
	uint8_t *win;
	long n, diff;

	fill_all(self->vsrc, self->npages, SEED_SRC);
	fill_all(self->vdst, self->npages, SEED_DST);
	ASSERT_EQ(0, save_stop_copy(&self->src, &self->stream,
				    2 * self->vram + (1 << 20)));
	ASSERT_LT((size_t)(2 * pg), self->stream.len);

	win = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, win);
	memcpy(win, self->stream.p, pg);
	ASSERT_EQ(0, mprotect(win + pg, pg, PROT_NONE));

	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RESUMING, &fd));
	n = lm_write1(fd, win, 2 * pg);
	munmap(win, 2 * pg);
	EXPECT_EQ(pg, n) TH_LOG("write over a faulting second page: %ld", n);

	/* A caller continues after what was accepted (nothing, on an error). */
	off = n > 0 ? (size_t)n : 0;
	EXPECT_EQ(0, lm_feed(fd, self->stream.p + off, self->stream.len - off,
			     LM_CHUNK_RANDOM(70000, 3), NULL));
	se = lm_mig_set_state(&self->dst, S_STOP, NULL);
	EXPECT_EQ(0, se) TH_LOG("RESUMING->STOP: %s", strerror(-se));
	close(fd);
	if (!se) {
		diff = first_diff(self->vsrc, self->vdst, self->vram);
		EXPECT_EQ(-1, diff) TH_LOG("VRAM page %ld differs", diff);
	}
}

/*
 * PRE_COPY while VRAM changes: pages already sent and pages not reached
 * yet are rewritten, data pages become zero and zero pages data, after
 * half of the initial data was read and again after the temporary end;
 * registers change too.  The destination ends up with the last of it.
 */
TEST_F(bochs, roundtrip_precopy_rewritten)
{
	size_t q = self->npages / 4, pg;
	struct bochs_regs want, got;
	struct vfio_precopy_info info;
	struct bochs_sstat st;
	const char *why = NULL;
	uint8_t *cover;
	int end, bad;
	char d[512];

	LM_NEED_PRECOPY(&self->src);
	fill_mixed(self->vsrc, self->npages, SEED_SRC);
	bochs_regs_mode(&want, 800, 600, 0, 0, false);
	ASSERT_EQ(0, bochs_write_regs(&self->src, &want));
	fill_all(self->vdst, self->npages, SEED_DST);

	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, read_some(self->fd, &self->stream, self->vram / 2, &end));
	ASSERT_EQ(LM_END_NONE, end) TH_LOG("initial data ended too soon");

	/* Sent already: rewrite; and turn data into zeros and back. */
	for (pg = 0; pg < q; pg += 2)
		bochs_fill_page(self->vsrc + pg * BOCHS_PAGE, SEED_REWRITE, pg);
	memset(self->vsrc + BOCHS_PAGE, 0, BOCHS_PAGE);	/* was data */
	self->vsrc[3 * BOCHS_PAGE + 100] = 1;			/* was zero */
	/* Not reached yet. */
	for (pg = 3 * q; pg < self->npages; pg += 3)
		bochs_fill_page(self->vsrc + pg * BOCHS_PAGE, SEED_REWRITE, pg);

	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);

	/* After the temporary end: rewrite the middle, change the mode. */
	for (pg = q; pg < 2 * q; pg += 5)
		bochs_fill_page(self->vsrc + pg * BOCHS_PAGE, SEED_LATE, pg);
	self->vsrc[self->vram - 1] ^= 0x80;
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_LE((uint64_t)(q / 5) * BOCHS_PAGE, info.dirty_bytes);
	bochs_regs_mode(&want, 1280, 1024, 32, 0, true);
	ASSERT_EQ(0, bochs_write_regs(&self->src, &want));

	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_PERM, end);
	lm_close(&self->fd);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));

	cover = calloc(self->npages, 1);
	ASSERT_NE(NULL, cover);
	ASSERT_EQ(0, bochs_stream_walk(self->stream.p, self->stream.len, cover,
				       self->npages, &st, &why))
		TH_LOG("stream: %s", why);
	bad = covered_all(cover, self->npages, false);
	free(cover);
	EXPECT_EQ(-1, bad) TH_LOG("page %d never sent", bad);
	EXPECT_EQ(1U, st.nrec[LM_REC_STATE]);

	resume_matches(_metadata, self, LM_CHUNK(131072));
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &got));
	EXPECT_EQ(0, bochs_regs_diff(&want, &got, d, sizeof(d)))
		TH_LOG("registers (expected!=got):%s", d);
}

static uint64_t info_total(const struct vfio_precopy_info *i)
{
	return i->initial_bytes + i->dirty_bytes;
}

/*
 * PRECOPY_INFO falls with every read of initial data, rises when the
 * mapping is written (and only when the bytes really change), falls to
 * zero as that is read; MIG_DATA_SIZE then counts only what is left.
 */
TEST_F(bochs, precopy_info_falls_and_rises)
{
	struct vfio_precopy_info info, prev;
	uint64_t size, fresh;
	uint8_t page[BOCHS_PAGE];
	size_t pg, before, npg = 10;
	struct lm_buf rest;
	int end, reads = 0;

	LM_NEED_PRECOPY(&self->src);
	LM_NEED_DATA_SIZE(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_data_size(&self->src, &fresh));
	EXPECT_LE((uint64_t)self->vram, fresh);

	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, lm_precopy_info(self->fd, &prev));
	EXPECT_LE((uint64_t)self->vram, prev.initial_bytes);
	EXPECT_EQ(0ULL, prev.dirty_bytes);
	for (;;) {
		ASSERT_EQ(0, read_some(self->fd, &self->stream, 256 << 10,
				       &end));
		ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
		if (end == LM_END_TEMP)
			break;
		reads++;
		EXPECT_GT(info_total(&prev), info_total(&info))
			TH_LOG("read %zu bytes: %llu -> %llu", self->stream.len,
			       (unsigned long long)info_total(&prev),
			       (unsigned long long)info_total(&info));
		prev = info;
	}
	EXPECT_LT(2, reads);
	EXPECT_EQ(0ULL, info.initial_bytes);
	EXPECT_EQ(0ULL, info.dirty_bytes);
	/* PRE_COPY moved VRAM: the stop-copy estimate is what is left. */
	ASSERT_EQ(0, lm_mig_data_size(&self->src, &size));
	EXPECT_GT(fresh / 16, size) TH_LOG("stop-copy estimate %llu",
					   (unsigned long long)size);

	/* Written through the mapping: dirty, by at least those pages. */
	for (pg = 0; pg < npg; pg++)
		bochs_fill_page(self->vsrc + pg * 97 % self->npages * BOCHS_PAGE,
				SEED_REWRITE, pg);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info.initial_bytes);
	EXPECT_LE((uint64_t)npg * BOCHS_PAGE, info.dirty_bytes);
	EXPECT_GT((uint64_t)npg * (BOCHS_PAGE + 64), info.dirty_bytes);
	ASSERT_EQ(0, lm_mig_data_size(&self->src, &size));
	EXPECT_LE((uint64_t)npg * BOCHS_PAGE, size);

	before = self->stream.len;
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	EXPECT_EQ(LM_END_TEMP, end);
	EXPECT_LE(npg * BOCHS_PAGE, self->stream.len - before);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info_total(&info));

	/*
	 * Storing the bytes a page already holds is no change: the estimate
	 * may count the pages written (it does not read VRAM to tell), but
	 * no page goes out again and the estimate then falls to zero.
	 */
	for (pg = 0; pg < npg; pg++) {
		uint8_t *p = self->vsrc + pg * 97 % self->npages * BOCHS_PAGE;

		memcpy(page, p, sizeof(page));
		memcpy(p, page, sizeof(page));
	}
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_GE((uint64_t)npg * BOCHS_PAGE, info_total(&info));
	before = self->stream.len;
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	EXPECT_EQ(LM_END_TEMP, end);
	EXPECT_GT((size_t)BOCHS_PAGE, self->stream.len - before)
		TH_LOG("%zu unchanged pages sent %zu bytes", npg,
		       self->stream.len - before);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info_total(&info));

	/*
	 * The estimate covers what STOP_COPY then produces, given the
	 * changes found (here by one more PRECOPY_INFO).
	 */
	self->vsrc[0] ^= 1;
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_LE((uint64_t)BOCHS_PAGE, info.dirty_bytes);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY_P2P, NULL));
	ASSERT_EQ(0, lm_mig_data_size(&self->src, &size));
	lm_buf_init(&rest);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
	ASSERT_EQ(0, bochs_drain(self->fd, &rest, 65536, 0, &end));
	EXPECT_EQ(LM_END_PERM, end);
	EXPECT_LE(rest.len, size);
	EXPECT_LE((size_t)BOCHS_PAGE, rest.len);
	lm_buf_free(&rest);
}

/*
 * Writes to VRAM that bypass the user's mapping during PRE_COPY still
 * reach the destination: a write() through the VFIO region (seen as it
 * happens) and a write vfio-pci core makes for an ioeventfd (which no
 * mapping sees, like a peer's DMA: found when the device stops).
 */
TEST_F(bochs, precopy_writes_past_the_mapping)
{
	/* 4 bytes: 7.2 refuses 8-byte ioeventfds (EINVAL), 7.3 takes them. */
	struct vfio_device_ioeventfd ev = {
		.argsz = sizeof(ev),
		.flags = VFIO_DEVICE_IOEVENTFD_32,
		.data = 0x11223344,
	};
	size_t a = self->npages / 3, b = self->npages / 2;
	struct vfio_precopy_info info;
	struct vfio_region_info bar0;
	uint8_t page[BOCHS_PAGE];
	uint64_t one = 1;
	uint32_t got = 0;
	int efd, end, i;

	LM_NEED_PRECOPY(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	fill_all(self->vdst, self->npages, SEED_DST);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);

	bochs_fill_page(page, SEED_LATE, a);
	ASSERT_EQ((ssize_t)sizeof(page),
		  lm_region_write(&self->src, 0, a * BOCHS_PAGE, page,
				  sizeof(page)));
	ASSERT_EQ(0, memcmp(self->vsrc + a * BOCHS_PAGE, page, sizeof(page)))
		TH_LOG("the region write did not reach VRAM");
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_LE((uint64_t)BOCHS_PAGE, info.dirty_bytes)
		TH_LOG("a page written with write() is not dirty");

	ASSERT_EQ(0, lm_region_info(&self->src, 0, &bar0));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ev.offset = bar0.offset + b * BOCHS_PAGE + 8;
	ev.fd = efd;
	ASSERT_EQ(0, ioctl(self->src.fd, VFIO_DEVICE_IOEVENTFD, &ev))
		TH_LOG("VFIO_DEVICE_IOEVENTFD on VRAM: %s", strerror(errno));
	ASSERT_EQ(8, write(efd, &one, sizeof(one)));
	for (i = 0; i < 1000 && got != ev.data; i++) {
		memcpy(&got, self->vsrc + b * BOCHS_PAGE + 8, sizeof(got));
		if (got != ev.data)
			usleep(1000);
	}
	ev.fd = -1;
	EXPECT_EQ(0, ioctl(self->src.fd, VFIO_DEVICE_IOEVENTFD, &ev));
	close(efd);
	ASSERT_EQ(ev.data, got) TH_LOG("the ioeventfd did not write VRAM");

	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_PERM, end);
	lm_close(&self->fd);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	resume_matches(_metadata, self, LM_CHUNK(131072));
}

/*
 * The first page of the source's VRAM that the stream read so far does
 * not describe, -1 if none, -2 if the stream does not decode (@why says
 * why).
 */
static long stream_vs_vram(const FIXTURE_DATA(bochs) *self, const char **why)
{
	uint8_t *image = calloc(1, self->vram);
	long diff = -2;

	*why = "out of memory";
	if (image && !bochs_stream_image(self->stream.p, self->stream.len,
					 image, self->npages, why))
		diff = first_diff(image, self->vsrc, self->vram);
	free(image);
	return diff;
}

struct writer {
	uint8_t *vram;
	size_t npages;
	atomic_bool stop;
	atomic_ulong writes;
};

/* Store a counter at a pseudo-random place of a pseudo-random page. */
static void *writer_run(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL, v;

	while (!atomic_load(&w->stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = atomic_fetch_add(&w->writes, 1) + 1;
		memcpy(w->vram + (x % w->npages) * BOCHS_PAGE +
		       (x >> 40) % (BOCHS_PAGE / 8) * 8, &v, sizeof(v));
	}
	return NULL;
}

/*
 * PRE_COPY keeps up with a guest that writes VRAM while the data is read:
 * a thread stores into random pages while the stream is read, 256 KiB or
 * up to a temporary end at a time; once it stopped, draining must
 * leave the stream describing VRAM exactly, before any STOP_COPY.  (The
 * final phase reads all of VRAM anyway, so only this checks that the
 * pages PRE_COPY finds changed, by tracking or rescan, are all of them.)
 * The workload is counted, not timed: it used to end after 5 s, and a
 * slow machine then failed the write count; the harness timeout is only
 * a hang guard.
 */
TEST_F_TIMEOUT(bochs, precopy_keeps_up_with_a_writer, 300)
{
	struct writer w = { .vram = self->vsrc, .npages = self->npages };
	const char *why = "";
	struct vfio_precopy_info info;
	pthread_t th;
	int end, rounds;
	long diff;

	LM_NEED_PRECOPY(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);

	atomic_init(&w.stop, false);
	atomic_init(&w.writes, 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, writer_run, &w));
	/* At least 20 reads, and reads until the writer made 2000 writes. */
	for (rounds = 0; rounds < 20 || atomic_load(&w.writes) < 2000;
	     rounds++) {
		/* A bounded read: a writer outpacing the reader has no end. */
		ASSERT_EQ(0, read_some(self->fd, &self->stream, 256 << 10,
				       &end));
		ASSERT_NE(LM_END_PERM, end);
		ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	}
	atomic_store(&w.stop, true);
	ASSERT_EQ(0, pthread_join(th, NULL));
	TH_LOG("%lu writes while PRE_COPY was read %d times",
	       atomic_load(&w.writes), rounds);

	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info_total(&info));
	diff = stream_vs_vram(self, &why);
	ASSERT_NE(-2, diff) TH_LOG("stream: %s", why);
	EXPECT_EQ(-1, diff)
		TH_LOG("after %lu writes, page %ld of VRAM is not what PRE_COPY sent",
		       atomic_load(&w.writes), diff);
}

/*
 * A temporary end (ENOMSG) only when nothing is owed: the uAPI reaches it
 * "when both initial_bytes and dirty_bytes are zero".  Every page is
 * touched without a change (each stores the bytes it holds), more than a
 * read's budget of them, and only the last page really changes: a
 * PRE_COPY read that examined a budget of unchanged pages and answered
 * ENOMSG while the changed page was still owed left PRECOPY_INFO
 * non-zero and the stream without the change (what made
 * precopy_keeps_up_with_a_writer fail now and then).
 */
TEST_F(bochs, precopy_end_only_when_nothing_is_owed)
{
	struct vfio_precopy_info info;
	const char *why = "";
	uint8_t page[BOCHS_PAGE];
	size_t pg, last;
	int end;
	long diff;

	LM_NEED_PRECOPY(&self->src);
	ASSERT_LT(1024UL, self->npages) TH_LOG("VRAM too small to tell");
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	ASSERT_EQ(0ULL, info_total(&info));

	for (pg = 0; pg < self->npages; pg++) {
		memcpy(page, self->vsrc + pg * BOCHS_PAGE, sizeof(page));
		memcpy(self->vsrc + pg * BOCHS_PAGE, page, sizeof(page));
	}
	last = self->npages - 1;
	bochs_fill_page(self->vsrc + last * BOCHS_PAGE, SEED_REWRITE, last);

	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_EQ(0ULL, info_total(&info))
		TH_LOG("ENOMSG with %llu initial and %llu dirty bytes owed",
		       (unsigned long long)info.initial_bytes,
		       (unsigned long long)info.dirty_bytes);
	diff = stream_vs_vram(self, &why);
	ASSERT_NE(-2, diff) TH_LOG("stream: %s", why);
	EXPECT_EQ(-1, diff)
		TH_LOG("at ENOMSG, page %ld of VRAM is not what PRE_COPY sent (%zu changed)",
		       diff, last);
}

struct reader {
	int fd;
	atomic_int reads;	/* reads that returned data */
	atomic_bool done;
	long last;		/* what ended the loop: -ENODEV, or another */
};

/* Read the saving FD in 4 MiB calls until it fails with other than ENOMSG. */
static void *reader_run(void *arg)
{
	struct reader *r = arg;
	const size_t len = 4 << 20;
	uint8_t *buf = malloc(len);
	long n = -ENOMEM;

	while (buf) {
		n = lm_read1(r->fd, buf, len);
		if (n > 0)
			atomic_fetch_add(&r->reads, 1);
		else if (n != -ENOMSG)
			break;
	}
	free(buf);
	r->last = n;
	atomic_store(&r->done, true);
	return NULL;
}

/*
 * A read() of the saving FD lets go of the device between chunks, so
 * that the user's register accesses need not wait for all of it; what
 * happens there must not hurt it.  A thread reads PRE_COPY in 4 MiB calls
 * (several chunks each) while this one reads and writes the registers
 * and then takes the device back to RUNNING, which ends the session
 * under the reader: every register access must work and see its own
 * write, the reader must get data and then ENODEV (no other error), and
 * the device must then save and resume as before.
 */
TEST_F(bochs, read_lets_registers_and_arcs_in)
{
	struct reader r = { .last = 0 };
	struct bochs_regs want, got, other;
	pthread_t th;
	int i;
	char d[512];

	LM_NEED_PRECOPY(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	r.fd = self->fd;
	atomic_init(&r.reads, 0);
	atomic_init(&r.done, false);
	ASSERT_EQ(0, pthread_create(&th, NULL, reader_run, &r));
	for (i = 0; i < 50; i++) {
		bochs_regs_mode(&want, 640 + 32 * (i % 8), 480, 0, i % 4,
				true);
		ASSERT_EQ(0, bochs_write_regs(&self->src, &want));
		ASSERT_EQ(0, bochs_read_regs(&self->src, &got));
		EXPECT_EQ(0, bochs_regs_diff(&want, &got, d, sizeof(d)))
			TH_LOG("access %d while reading (expected!=got):%s", i,
			       d);
	}
	/* Data came out: the arc below ends a session in use. */
	while (!atomic_load(&r.reads) && !atomic_load(&r.done))
		usleep(1000);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_RUNNING, NULL));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(-ENODEV, r.last)
		TH_LOG("after %d reads with data, read: %s",
		       atomic_load(&r.reads), strerror((int)-r.last));

	lm_close(&self->fd);
	lm_buf_free(&self->stream);
	bochs_regs_mode(&want, 800, 600, 32, 0, true);
	bochs_regs_mode(&other, 640, 480, 0, 0, false);
	ASSERT_LE(0, saved_pair(_metadata, self, &want, &other));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
}

/*
 * A read() held inside its copy to the user: the buffer is registered
 * with a userfaultfd for missing pages, so the copy waits in the fault
 * until the test lets it go (unregisters the range, which wakes it).
 */
struct held_read {
	int uffd;
	uint8_t *buf;
	size_t len;
	int fd;
	long n;		/* what the read() returned */
};

static void *held_read_run(void *arg)
{
	struct held_read *h = arg;

	h->n = lm_read1(h->fd, h->buf, h->len);
	return NULL;
}

/* A userfaultfd and a buffer registered with it: 0, or -errno. */
static int held_read_arm(struct held_read *h, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	h->len = len;
	h->buf = MAP_FAILED;
	/* Not UFFD_USER_MODE_ONLY: the fault to catch is the kernel's. */
	h->uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (h->uffd < 0)
		return -errno;
	if (ioctl(h->uffd, UFFDIO_API, &api))
		return -errno;
	h->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->buf == MAP_FAILED)
		return -errno;
	reg.range.start = (uintptr_t)h->buf;
	reg.range.len = len;
	return ioctl(h->uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

/*
 * The reader's copy has faulted: 0, or an errno (nothing within a
 * minute: the read() returned without copying, or never got there).
 */
static int held_read_faulted(struct held_read *h)
{
	struct pollfd p = { .fd = h->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&p, 1, 60000) != 1)
		return -ETIMEDOUT;
	if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -errno;
	return msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -EPROTO;
}

/* Let the copy go on: the range is unregistered, its waiters woken. */
static int held_read_release(struct held_read *h)
{
	struct uffdio_range r = {
		.start = (uintptr_t)h->buf, .len = h->len,
	};

	return ioctl(h->uffd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

static void held_read_free(struct held_read *h)
{
	if (h->buf != MAP_FAILED)
		munmap(h->buf, h->len);
	if (h->uffd >= 0)
		close(h->uffd);
}

/* What a second thread does with the device while the read() is held. */
struct held_access {
	struct lm_dev *dev;
	struct bochs_regs want, got;
	int state;	/* the arc it then takes */
	int ret;
	atomic_bool done;
};

static void *held_access_run(void *arg)
{
	struct held_access *a = arg;

	a->ret = bochs_write_regs(a->dev, &a->want);
	a->ret = a->ret ?: bochs_read_regs(a->dev, &a->got);
	a->ret = a->ret ?: lm_mig_set_state(a->dev, a->state, NULL);
	atomic_store(&a->done, true);
	return NULL;
}

/*
 * PRE_COPY's read() of 1 MiB is held in its copy to the user while a
 * second thread writes and reads back the registers and takes the arc
 * @a->state: the thread must be done before the copy is let go (it waits
 * 30 s at least for that: with the device's lock held across the copy
 * it never is).  The reader's result is then in @h->n.  Returns -ENOSYS
 * for a kernel without userfaultfd (nothing done), else 0.
 */
static int held_read_with_access(struct __test_metadata *_metadata,
				 FIXTURE_DATA(bochs) *self,
				 struct held_read *h, struct held_access *a)
{
	pthread_t rt, at;
	bool first;
	int i, ret;
	char d[512];

	ret = held_read_arm(h, 1 << 20);
	if (ret == -ENOSYS) {
		held_read_free(h);
		return ret;
	}
	ASSERT_EQ(0, ret) TH_LOG("userfaultfd: %s", strerror(-ret));
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	h->fd = self->fd;
	ASSERT_EQ(0, pthread_create(&rt, NULL, held_read_run, h));
	ret = held_read_faulted(h);
	if (ret) {
		held_read_release(h);
		pthread_join(rt, NULL);
		ASSERT_EQ(0, ret)
			TH_LOG("the read() never reached its copy: %s (it returned %ld)",
			       strerror(-ret), h->n);
	}

	a->dev = &self->src;
	atomic_init(&a->done, false);
	ASSERT_EQ(0, pthread_create(&at, NULL, held_access_run, a));
	for (i = 0; i < 30000 && !atomic_load(&a->done); i++)
		usleep(1000);
	first = atomic_load(&a->done);
	ASSERT_EQ(0, held_read_release(h));
	ASSERT_EQ(0, pthread_join(at, NULL));
	ASSERT_EQ(0, pthread_join(rt, NULL));
	EXPECT_TRUE(first)
		TH_LOG("register accesses and the arc to %d waited for a read() held in its copy to the user",
		       a->state);
	ASSERT_EQ(0, a->ret) TH_LOG("access or arc: %s", strerror(-a->ret));
	EXPECT_EQ(0, bochs_regs_diff(&a->want, &a->got, d, sizeof(d)))
		TH_LOG("registers read back (expected!=got):%s", d);
	return 0;
}

/*
 * A read() copies out to the user without holding the device: while its
 * copy waits in a page fault, the registers and PRE_COPY -> STOP_COPY
 * go ahead (STOP_COPY emits into the same session meanwhile).  The
 * bytes the held read() then returns, followed by the rest of the FD,
 * are a stream the destination resumes to the source's VRAM.
 */
TEST_F(bochs, held_read_copy_lets_stop_copy_in)
{
	struct held_access a = { .state = S_STOP_COPY };
	struct held_read h = { .uffd = -1 };
	int end;

	LM_NEED_PRECOPY(&self->src);
	bochs_regs_mode(&a.want, 800, 600, 32, 0, true);
	if (held_read_with_access(_metadata, self, &h, &a) == -ENOSYS)
		SKIP(return, "kernel without userfaultfd (ENOSYS)");
	ASSERT_LT(0, h.n) TH_LOG("held read: %s", strerror((int)-h.n));
	ASSERT_EQ(0, lm_buf_append(&self->stream, h.buf, h.n));
	held_read_free(&h);
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536,
				 2 * self->vram + (1 << 20), &end));
	ASSERT_EQ(LM_END_PERM, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &a.got));
	EXPECT_EQ(0, bochs_regs_diff(&a.want, &a.got, NULL, 0));
}

/*
 * The session ends (PRE_COPY -> RUNNING) while a read() waits in its copy
 * to the user: the arc goes ahead, the read() then fails with ENODEV
 * (its bytes belong to a stream nobody can finish), and the buffer it
 * copied from is freed once, by it (KASAN on the debug tier).  The
 * device then saves and resumes as before.
 */
TEST_F(bochs, held_read_copy_lets_session_end)
{
	struct held_access a = { .state = S_RUNNING };
	struct held_read h = { .uffd = -1 };
	struct bochs_regs want, other;

	LM_NEED_PRECOPY(&self->src);
	bochs_regs_mode(&a.want, 1024, 768, 16, 8, true);
	if (held_read_with_access(_metadata, self, &h, &a) == -ENOSYS)
		SKIP(return, "kernel without userfaultfd (ENOSYS)");
	EXPECT_EQ(-ENODEV, h.n)
		TH_LOG("held read after its session ended: %ld", h.n);
	held_read_free(&h);

	lm_close(&self->fd);
	bochs_regs_mode(&want, 800, 600, 32, 0, true);
	bochs_regs_mode(&other, 640, 480, 0, 0, false);
	ASSERT_LE(0, saved_pair(_metadata, self, &want, &other));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
}

/* The function's own command register, as the host sees it (sysfs). */
static int phys_cmd(const struct lm_dev *d, uint16_t *cmd)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", d->bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, cmd, sizeof(*cmd), PCI_COMMAND);
	close(fd);
	return n == sizeof(*cmd) ? 0 : -EIO;
}

/*
 * Saving with memory decode off: the user may turn it off at any time,
 * and ->save, which otherwise shares memory_lock with the user's faults,
 * then gets the BARs exclusively with decode forced on (and left on
 * while the session lasts).  The PRE_COPY and STOP_COPY stream must
 * carry VRAM all the same, and once the session ended the command
 * register must read back as the user left it, through VFIO and on the
 * function itself.
 */
TEST_F(bochs, save_with_memory_decode_off)
{
	uint16_t cmd, now;
	int end;

	LM_NEED_PRECOPY(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_cfg_read16(&self->src, PCI_COMMAND, &cmd));
	ASSERT_TRUE(cmd & PCI_COMMAND_MEMORY);
	ASSERT_EQ(0, lm_cfg_write16(&self->src, PCI_COMMAND,
				    cmd & ~PCI_COMMAND_MEMORY));
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 1 << 20, 0, &end));
	EXPECT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 1 << 20,
				 2 * self->vram + (1 << 20), &end));
	EXPECT_EQ(LM_END_PERM, end);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
	ASSERT_EQ(0, lm_cfg_read16(&self->src, PCI_COMMAND, &now));
	EXPECT_EQ(cmd & ~PCI_COMMAND_MEMORY, now)
		TH_LOG("command register after saving: %#x", now);
	ASSERT_EQ(0, phys_cmd(&self->src, &now));
	EXPECT_FALSE(now & PCI_COMMAND_MEMORY)
		TH_LOG("the function decodes memory after saving: %#x", now);
	ASSERT_EQ(0, lm_cfg_write16(&self->src, PCI_COMMAND, cmd));
	resume_matches(_metadata, self, LM_CHUNK_ALL);
}

/*
 * Resuming into a function whose memory decode is off (QEMU's
 * destination before it loads the guest's config space): every record
 * is written into VRAM with decode forced on, left on while the session
 * lasts.  After RESUMING -> STOP the function must not decode memory
 * again (the user left it off), and VRAM must hold the source's.
 */
TEST_F(bochs, resume_with_memory_decode_off)
{
	struct bochs_regs want, other;
	uint16_t cmd, now;
	int we, se;
	long diff;

	bochs_regs_mode(&want, 800, 600, 32, 0, true);
	bochs_regs_mode(&other, 640, 480, 0, 0, false);
	ASSERT_LE(0, saved_pair(_metadata, self, &want, &other));
	ASSERT_EQ(0, lm_cfg_read16(&self->dst, PCI_COMMAND, &cmd));
	ASSERT_TRUE(cmd & PCI_COMMAND_MEMORY);
	ASSERT_EQ(0, lm_cfg_write16(&self->dst, PCI_COMMAND,
				    cmd & ~PCI_COMMAND_MEMORY));
	ASSERT_EQ(0, lm_resume(&self->dst, self->stream.p, self->stream.len,
			       LM_CHUNK_ALL, &we, &se))
		TH_LOG("write %s, RESUMING->STOP %s", strerror(-we),
		       strerror(-se));
	ASSERT_EQ(0, phys_cmd(&self->dst, &now));
	EXPECT_FALSE(now & PCI_COMMAND_MEMORY)
		TH_LOG("the function decodes memory after resuming: %#x", now);
	ASSERT_EQ(0, lm_cfg_read16(&self->dst, PCI_COMMAND, &now));
	EXPECT_EQ(cmd & ~PCI_COMMAND_MEMORY, now);
	ASSERT_EQ(0, lm_cfg_write16(&self->dst, PCI_COMMAND, cmd));
	diff = first_diff(self->vsrc, self->vdst, self->vram);
	EXPECT_EQ(-1, diff) TH_LOG("VRAM page %ld differs", diff);
}

/* Pages the engine has hashed since the device was opened (debugfs). */
static int pages_hashed(const struct lm_dev *d, unsigned long long *n)
{
	return lm_status_u64(d, "bochs_pages_hashed", n);
}

/*
 * PRECOPY_INFO and MIG_DATA_SIZE answer from what the driver already
 * knows: with the initial data read and nothing written, ten of each read
 * no VRAM (the engine hashes no page), and pages then written through the
 * mapping show in the very next MIG_DATA_SIZE, still without reading VRAM.
 * Each query used to hash all of it under the device's locks while the
 * guest waited, and MIG_DATA_SIZE lagged one PRECOPY_INFO behind.
 */
TEST_F(bochs, precopy_queries_read_no_vram)
{
	unsigned long long h0, h1, h2;
	struct vfio_precopy_info info;
	uint64_t size, idle;
	size_t pg, npg = 5;
	int i, end;

	LM_NEED_PRECOPY(&self->src);
	LM_NEED_DATA_SIZE(&self->src);
	fill_all(self->vsrc, self->npages, SEED_SRC);
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &self->fd));
	ASSERT_EQ(0, bochs_drain(self->fd, &self->stream, 65536, 0, &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_EQ(0, pages_hashed(&self->src, &h0))
		TH_LOG("no bochs_pages_hashed in %s's debugfs status",
		       self->src.bdf);

	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
		EXPECT_EQ(0ULL, info_total(&info));
		ASSERT_EQ(0, lm_mig_data_size(&self->src, &idle));
	}
	ASSERT_EQ(0, pages_hashed(&self->src, &h1));
	EXPECT_EQ(0ULL, h1 - h0)
		TH_LOG("ten PRECOPY_INFO and MIG_DATA_SIZE hashed %llu pages of %zu",
		       h1 - h0, self->npages);

	for (pg = 0; pg < npg; pg++)
		bochs_fill_page(self->vsrc + pg * 131 % self->npages * BOCHS_PAGE,
				SEED_REWRITE, pg);
	ASSERT_EQ(0, lm_mig_data_size(&self->src, &size));
	EXPECT_LE(idle + npg * BOCHS_PAGE, size)
		TH_LOG("%zu pages written: stop-copy estimate %llu -> %llu", npg,
		       (unsigned long long)idle, (unsigned long long)size);
	ASSERT_EQ(0, lm_precopy_info(self->fd, &info));
	EXPECT_LE((uint64_t)npg * BOCHS_PAGE, info.dirty_bytes);
	ASSERT_EQ(0, pages_hashed(&self->src, &h2));
	EXPECT_EQ(0ULL, h2 - h1)
		TH_LOG("the queries after %zu pages were written hashed %llu pages",
		       npg, h2 - h1);
}

/* A VRAM of zeros is a handful of bytes on the wire. */
TEST_F(bochs, zero_vram_is_small)
{
	struct bochs_sstat st;
	const char *why = NULL;

	memset(self->vsrc, 0, self->vram);
	ASSERT_EQ(0, save_stop_copy(&self->src, &self->stream, self->vram));
	ASSERT_EQ(0, bochs_stream_walk(self->stream.p, self->stream.len, NULL,
				       0, &st, &why))
		TH_LOG("stream: %s", why);
	EXPECT_EQ(0ULL, st.page_bytes);
	EXPECT_EQ((uint64_t)self->vram, st.zero_bytes);
	EXPECT_GT((size_t)4096, self->stream.len);
}

/* The identity blob: VRAM size, VBE ID, the EDID as the device shows it. */
TEST_F(bochs, identity_blob)
{
	uint8_t edid[BOCHS_EDID_LEN];
	struct bochs_sstat st;
	const char *why = NULL;
	const uint8_t *blob;
	uint64_t vram = 0;
	int i;

	for (i = 0; i < BOCHS_EDID_LEN; i += 4)
		ASSERT_EQ(0, lm_bar_read32(&self->src, BOCHS_MMIO_BAR, i,
					   (uint32_t *)(edid + i)));
	ASSERT_EQ(0, save_stop_copy(&self->src, &self->stream,
				    2 * self->vram + (1 << 20)));
	ASSERT_EQ(0, bochs_stream_walk(self->stream.p, self->stream.len, NULL,
				       0, &st, &why));
	ASSERT_EQ((uint32_t)LM_IDENTITY_LEN + 16 + BOCHS_EDID_LEN,
		  st.identity_len);
	blob = st.identity + LM_IDENTITY_LEN;
	for (i = 7; i >= 0; i--)
		vram = vram << 8 | blob[i];
	EXPECT_EQ((uint64_t)self->vram, vram);
	EXPECT_EQ(VBE_ID5, blob[8] | blob[9] << 8);
	EXPECT_EQ(BOCHS_EDID_LEN, blob[12] | blob[13] << 8);
	EXPECT_EQ(0, memcmp(blob + 16, edid, BOCHS_EDID_LEN));
}

/* VFIO_DEVICE_RESET: registers to power-on values, VRAM kept. */
TEST_F(bochs, reset_registers)
{
	struct bochs_regs r, want;
	char d[512];

	fill_all(self->vsrc, 4, SEED_SRC);
	memcpy(self->expect, self->vsrc, 4 * BOCHS_PAGE);
	bochs_regs_mode(&r, 1024, 768, 0, 0, true);
	ASSERT_EQ(0, bochs_write_regs(&self->src, &r));
	ASSERT_EQ(0, lm_reset_to_running(&self->src));
	ASSERT_EQ(0, bochs_read_regs(&self->src, &r));
	bochs_regs_power_on(&want);
	EXPECT_EQ(0, bochs_regs_diff(&want, &r, d, sizeof(d)))
		TH_LOG("registers (expected!=got):%s", d);
	EXPECT_EQ(0, memcmp(self->expect, self->vsrc, 4 * BOCHS_PAGE));
}

/*
 * Streams the destination must reject.  Each is a valid stream of the
 * source with one thing wrong; the destination's VRAM and registers
 * must be exactly what they were.
 */
enum damage {
	DMG_TRUNCATED,		/* the END record is missing */
	DMG_FLIPPED,		/* a data byte flipped: checksum fails */
	DMG_VRAM_SIZE,		/* IDENTITY says another VRAM size */
	DMG_EDID,		/* IDENTITY carries another EDID */
	DMG_PAGES_OUTSIDE,	/* a PAGES record past the end of VRAM */
	DMG_ZERO_MISSING,	/* a ZERO range left out: pages uncovered */
	DMG_STATE_MISSING,	/* no registers */
	DMG_BYTEORDER,		/* a byte order the device cannot hold */
	/* Ranges (issue 19): each must be refused before VRAM is touched. */
	DMG_PAGES_UNALIGNED,	/* PAGES at an offset inside a page */
	DMG_PAGES_WRAP,		/* PAGES whose end wraps past 2^64 */
	DMG_PAGES_MISSING,	/* a PAGES record left out: pages uncovered */
	DMG_ZERO_EXCEEDS,	/* ZERO running one page past VRAM */
	DMG_ZERO_WRAP,		/* ZERO whose length wraps the offset */
	DMG_ZERO_EMPTY,		/* ZERO of no page */
	DMG_ZERO_UNALIGNED,	/* ZERO of a length that is not whole pages */
};

FIXTURE(reject)
{
	struct lm_dev src, dst;
	uint8_t *vsrc, *vdst;
	size_t vram, npages;
	struct lm_buf stream;
};

FIXTURE_VARIANT(reject)
{
	enum damage damage;
	int err;		/* expected from write() or from STOP */
};

FIXTURE_VARIANT_ADD(reject, truncated) { DMG_TRUNCATED, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, flipped) { DMG_FLIPPED, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, vram_size) { DMG_VRAM_SIZE, -EPROTO };
FIXTURE_VARIANT_ADD(reject, edid) { DMG_EDID, -EPROTO };
FIXTURE_VARIANT_ADD(reject, pages_outside) { DMG_PAGES_OUTSIDE, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, zero_missing) { DMG_ZERO_MISSING, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, state_missing) { DMG_STATE_MISSING, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, byteorder) { DMG_BYTEORDER, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, pages_unaligned) { DMG_PAGES_UNALIGNED, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, pages_wrap) { DMG_PAGES_WRAP, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, pages_missing) { DMG_PAGES_MISSING, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, zero_exceeds) { DMG_ZERO_EXCEEDS, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, zero_wrap) { DMG_ZERO_WRAP, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, zero_empty) { DMG_ZERO_EMPTY, -EBADMSG };
FIXTURE_VARIANT_ADD(reject, zero_unaligned) { DMG_ZERO_UNALIGNED, -EBADMSG };

/* Setup and teardown of a source and a destination with VRAM mapped. */
#define PAIR_SETUP(self) do {						\
	size_t __size;							\
									\
	(self)->vsrc = (self)->vdst = NULL;				\
	lm_buf_init(&(self)->stream);					\
	LM_OPEN_DEV(&(self)->src, 0);					\
	LM_OPEN_DEV(&(self)->dst, 1);					\
	ASSERT_EQ(0, bochs_map_vram(&(self)->src, &(self)->vsrc,	\
				    &(self)->vram));			\
	ASSERT_EQ(0, bochs_map_vram(&(self)->dst, &(self)->vdst,	\
				    &__size));				\
	ASSERT_EQ((self)->vram, __size);				\
	(self)->npages = (self)->vram / BOCHS_PAGE;			\
} while (0)

#define PAIR_TEARDOWN(self) do {					\
	lm_buf_free(&(self)->stream);					\
	bochs_unmap_vram((self)->vsrc, (self)->vram);			\
	bochs_unmap_vram((self)->vdst, (self)->vram);			\
	lm_dev_close(&(self)->src);					\
	lm_dev_close(&(self)->dst);					\
} while (0)

FIXTURE_SETUP(reject)
{
	PAIR_SETUP(self);
}

FIXTURE_TEARDOWN(reject)
{
	PAIR_TEARDOWN(self);
}

/* Offset of the @nth record of @type, or 0. */
static size_t find_rec(const struct lm_buf *b, uint16_t type, int nth)
{
	size_t off = LM_HDR_LEN;
	uint32_t len;

	while (off + LM_REC_HDR_LEN <= b->len) {
		len = lm_get32(b->p + off + 4);
		if (lm_get16(b->p + off) == type && nth-- == 0)
			return off;
		off += LM_REC_HDR_LEN + len;
	}
	return 0;
}

static void drop_rec(struct lm_buf *b, size_t off)
{
	size_t len = LM_REC_HDR_LEN + lm_get32(b->p + off + 4);

	memmove(b->p + off, b->p + off + len, b->len - off - len);
	b->len -= len;
}

TEST_F(reject, applies_nothing)
{
	struct bochs_regs mode, before, after;
	struct lm_buf *s = &self->stream;
	uint8_t *expect, *pay;
	size_t off;
	int we, se, err;
	uint32_t st;
	long diff;
	char d[512];

	fill_mixed(self->vsrc, self->npages, SEED_SRC);
	bochs_regs_mode(&mode, 1024, 768, 0, 0, true);
	ASSERT_EQ(0, bochs_write_regs(&self->src, &mode));
	ASSERT_EQ(0, save_stop_copy(&self->src, s, 2 * self->vram + (1 << 20)));

	switch (variant->damage) {
	case DMG_TRUNCATED:
		s->len -= LM_REC_HDR_LEN;
		break;
	case DMG_FLIPPED:
		off = find_rec(s, LM_REC_PAGES, 3);
		ASSERT_NE(0, off);
		s->p[off + LM_REC_HDR_LEN + 8 + 1000] ^= 0x10;
		break;
	case DMG_VRAM_SIZE:
		off = find_rec(s, LM_REC_IDENTITY, 0);
		s->p[off + LM_REC_HDR_LEN + LM_IDENTITY_LEN + 2] ^= 0x01;
		lm_stream_reseal(s->p, s->len);
		break;
	case DMG_EDID:
		off = find_rec(s, LM_REC_IDENTITY, 0);
		s->p[off + LM_REC_HDR_LEN + LM_IDENTITY_LEN + 16 + 20] ^= 0x01;
		lm_stream_reseal(s->p, s->len);
		break;
	case DMG_PAGES_OUTSIDE:
		off = find_rec(s, LM_REC_PAGES, 2);
		ASSERT_NE(0, off);
		lm_put64(s->p + off + LM_REC_HDR_LEN, self->vram - BOCHS_PAGE);
		lm_stream_reseal(s->p, s->len);
		break;
	case DMG_ZERO_MISSING:
		off = find_rec(s, LM_REC_ZERO, 1);
		ASSERT_NE(0, off);
		drop_rec(s, off);
		break;
	case DMG_STATE_MISSING:
		off = find_rec(s, LM_REC_STATE, 0);
		ASSERT_NE(0, off);
		drop_rec(s, off);
		break;
	case DMG_BYTEORDER:
		off = find_rec(s, LM_REC_STATE, 0);
		ASSERT_NE(0, off);
		lm_put32(s->p + off + LM_REC_HDR_LEN + 20, 0x12345678);
		lm_stream_reseal(s->p, s->len);
		break;
	case DMG_PAGES_UNALIGNED:
	case DMG_PAGES_WRAP:
	case DMG_PAGES_MISSING:
		off = find_rec(s, LM_REC_PAGES, 1);
		ASSERT_NE(0, off);
		if (variant->damage == DMG_PAGES_MISSING) {
			drop_rec(s, off);
			break;
		}
		pay = s->p + off + LM_REC_HDR_LEN;
		lm_put64(pay, variant->damage == DMG_PAGES_WRAP ?
			 -(uint64_t)BOCHS_PAGE : lm_get64(pay) + 1);
		lm_stream_reseal(s->p, s->len);
		break;
	case DMG_ZERO_EXCEEDS:
	case DMG_ZERO_WRAP:
	case DMG_ZERO_EMPTY:
	case DMG_ZERO_UNALIGNED:
		off = find_rec(s, LM_REC_ZERO, 1);
		ASSERT_NE(0, off);
		pay = s->p + off + LM_REC_HDR_LEN;
		if (variant->damage == DMG_ZERO_EXCEEDS)
			lm_put64(pay + 8, self->vram - lm_get64(pay) + BOCHS_PAGE);
		else if (variant->damage == DMG_ZERO_WRAP)
			lm_put64(pay + 8, -lm_get64(pay));
		else if (variant->damage == DMG_ZERO_EMPTY)
			lm_put64(pay + 8, 0);
		else
			lm_put64(pay + 8, lm_get64(pay + 8) + 512);
		lm_stream_reseal(s->p, s->len);
		break;
	}

	/* The destination: other contents, another mode. */
	fill_all(self->vdst, self->npages, SEED_DST);
	bochs_regs_mode(&mode, 640, 480, 8, 8, false);
	mode.vbe[VBE_BANK] = 1;
	ASSERT_EQ(0, bochs_write_regs(&self->dst, &mode));
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &before));
	expect = malloc(self->vram);
	ASSERT_NE(NULL, expect);
	memcpy(expect, self->vdst, self->vram);

	err = lm_resume(&self->dst, s->p, s->len, LM_CHUNK(65536), &we, &se);
	EXPECT_EQ(variant->err, err) TH_LOG("write %s, RESUMING->STOP %s",
					    strerror(-we), strerror(-se));
	EXPECT_NE(0, se);
	ASSERT_EQ(0, lm_mig_get_state(&self->dst, &st));
	EXPECT_EQ((uint32_t)S_ERROR, st) TH_LOG("state %s", lm_state_name(st));

	diff = first_diff(expect, self->vdst, self->vram);
	free(expect);
	EXPECT_EQ(-1, diff) TH_LOG("VRAM page %ld was written", diff);
	ASSERT_EQ(0, bochs_read_regs(&self->dst, &after));
	EXPECT_EQ(0, bochs_regs_diff(&before, &after, d, sizeof(d)))
		TH_LOG("registers changed (before!=after):%s", d);
}

/* Put a record of @type with @payload before the record at offset @at. */
static int insert_rec(struct lm_buf *b, size_t at, uint16_t type,
		      const void *payload, uint32_t len)
{
	size_t add = LM_REC_HDR_LEN + len, tail = b->len - at;
	uint8_t *p, *room = calloc(1, add);
	int ret;

	if (!room)
		return -ENOMEM;
	ret = lm_buf_append(b, room, add);	/* grow by @add bytes */
	free(room);
	if (ret)
		return ret;
	p = b->p + at;
	memmove(p + add, p, tail);
	lm_put16(p, type);
	lm_put16(p + 2, 0);
	lm_put32(p + 4, len);
	lm_put32(p + 8, 0);	/* lm_stream_reseal() computes it */
	memcpy(p + LM_REC_HDR_LEN, payload, len);
	return 0;
}

/*
 * Ranges that overlap or repeat are not damage: a PRE_COPY stream sends
 * a page again when it changes, and the record that comes last gives it
 * its value.  Ahead of the source's records: a ZERO over the first PAGES
 * record's pages, a PAGES of other bytes over the first ZERO range's
 * pages; after the first PAGES record, the same record again.  The
 * destination must end with the source's VRAM.
 */
FIXTURE(ranges)
{
	struct lm_dev src, dst;
	uint8_t *vsrc, *vdst;
	size_t vram, npages;
	struct lm_buf stream;
};

FIXTURE_SETUP(ranges)
{
	PAIR_SETUP(self);
}

FIXTURE_TEARDOWN(ranges)
{
	PAIR_TEARDOWN(self);
}

TEST_F(ranges, overlapping_ranges_take_the_last_value)
{
	struct lm_buf *s = &self->stream;
	size_t pages, zero, first;
	uint8_t z[16], *junk;
	struct bochs_regs mode;
	uint32_t plen;
	int we, se;
	long diff;

	fill_mixed(self->vsrc, self->npages, SEED_SRC);
	bochs_regs_mode(&mode, 1024, 768, 0, 0, true);
	ASSERT_EQ(0, bochs_write_regs(&self->src, &mode));
	ASSERT_EQ(0, save_stop_copy(&self->src, s, 2 * self->vram + (1 << 20)));

	/* The same PAGES record twice in a row. */
	pages = find_rec(s, LM_REC_PAGES, 0);
	ASSERT_NE(0, pages);
	plen = lm_get32(s->p + pages + 4);
	junk = malloc(plen);
	ASSERT_NE(NULL, junk);
	memcpy(junk, s->p + pages + LM_REC_HDR_LEN, plen);
	ASSERT_EQ(0, insert_rec(s, pages + LM_REC_HDR_LEN + plen, LM_REC_PAGES,
				junk, plen));

	/* Before everything: ZERO over those pages ... */
	first = find_rec(s, LM_REC_IDENTITY, 0);
	first += LM_REC_HDR_LEN + lm_get32(s->p + first + 4);
	lm_put64(z, lm_get64(junk));
	lm_put64(z + 8, plen - 8);
	ASSERT_EQ(0, insert_rec(s, first, LM_REC_ZERO, z, sizeof(z)));

	/* ... and PAGES of other bytes over the first ZERO range. */
	zero = find_rec(s, LM_REC_ZERO, 1);	/* the source's first */
	ASSERT_NE(0, zero);
	memset(junk, 0, plen);
	lm_put64(junk, lm_get64(s->p + zero + LM_REC_HDR_LEN));
	memset(junk + 8, 0xa5, BOCHS_PAGE);
	ASSERT_EQ(0, insert_rec(s, first, LM_REC_PAGES, junk, 8 + BOCHS_PAGE));
	free(junk);
	lm_stream_reseal(s->p, s->len);

	fill_all(self->vdst, self->npages, SEED_DST);
	ASSERT_EQ(0, lm_resume(&self->dst, s->p, s->len, LM_CHUNK(65536),
			       &we, &se)) TH_LOG("write %s, RESUMING->STOP %s",
						 strerror(-we), strerror(-se));
	diff = first_diff(self->vsrc, self->vdst, self->vram);
	EXPECT_EQ(-1, diff) TH_LOG("VRAM page %ld differs", diff);
}

int main(int argc, char **argv)
{
	int i, n, ret;

	n = bochs_select_devices(&argc, argv);
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "-h"))
			return test_harness_run(argc, argv);
	if (n < 2) {
		printf("TAP version 13\n1..0 # SKIP needs two bochs-display "
		       "functions bound to " LM_DRIVER_NAME ", found %d\n", n);
		bochs_unbind_all();
		return KSFT_SKIP;
	}
	fprintf(stderr, "# devices (%s):", lm_devices.source);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s", lm_devices.bdf[i]);
	fprintf(stderr, "\n");
	ret = test_harness_run(argc, argv);
	bochs_unbind_all();
	return ret;
}
