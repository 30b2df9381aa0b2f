// SPDX-License-Identifier: GPL-2.0
/*
 * lmbench - measurements for `make bench`, run inside the test rig.
 *
 *   lmbench throughput SRC DST    full-VRAM save and resume through the
 *                                 data fd vs memcpy of the same mapping,
 *                                 and the save vs a pread() of BAR 0
 *                                 through the device's VFIO region
 *   lmbench ratio SRC DST         stream bytes per VRAM byte, half-empty VRAM
 *   lmbench arcs BDF...           latency of each FSM arc, per device
 *   lmbench fill BDF SEED PCT     VRAM: PCT% of pages a pattern, rest zero
 *   lmbench check BDF SEED PCT [SKIP]
 *                                 VRAM holds what fill wrote (from byte SKIP)
 *   lmbench bind                  bind every bochs-display function to the
 *                                 driver; print their addresses
 *
 * Options before the command: --reps N (default 3; arcs: 5).
 *
 * Every measurement prints one JSON object on stdout; diagnostics go to
 * stderr.  Figures measured side by side are taken in the same run,
 * alternating, and reported as medians.  Exit 0, or 1 on any failure
 * (a round trip that does not reproduce VRAM fails the run).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lm_bochs.h"
#include "lm_datafd.h"
#include "lm_devsel.h"
#include "lm_edu.h"
#include "lm_mig.h"
#include "lm_stream.h"
#include "lm_vfio.h"

#define CHUNK		(1u << 20)
#define MAX_REPS	64

static int reps = 3;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double tmp[MAX_REPS];

	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "lmbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

#define CHECK(expr) do {						\
	int __r = (expr);						\
	if (__r)							\
		die(#expr, __r);					\
} while (0)

struct bdev {
	struct lm_dev d;
	uint8_t *vram;
	size_t size;
};

static void bdev_open(struct bdev *b, const char *bdf)
{
	size_t pg;
	volatile uint8_t sink;

	CHECK(lm_dev_open(&b->d, bdf));
	CHECK(lm_reset_to_running(&b->d));
	CHECK(bochs_map_vram(&b->d, &b->vram, &b->size));
	/* Fault the mapping in: not part of any figure. */
	for (pg = 0; pg < b->size; pg += BOCHS_PAGE)
		sink = b->vram[pg];
	(void)sink;
}

static void bdev_close(struct bdev *b)
{
	bochs_unmap_vram(b->vram, b->size);
	lm_dev_close(&b->d);
}

static uint8_t *alloc_touched(size_t len)
{
	uint8_t *p = malloc(len);

	if (!p)
		die("malloc", ENOMEM);
	memset(p, 0x11, len);
	return p;
}

/* pct% of pages (chosen per page by a hash of the seed) get a pattern. */
static bool page_used(uint64_t seed, size_t pg, int pct)
{
	uint64_t x = (seed ^ 0xa0761d6478bd642fULL) + pg * 0xe7037ed1a0b428dbULL;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (int)(x % 100) < pct;
}

static size_t fill(uint8_t *vram, size_t size, uint64_t seed, int pct)
{
	size_t pg, used = 0;

	for (pg = 0; pg < size / BOCHS_PAGE; pg++) {
		if (page_used(seed, pg, pct)) {
			bochs_fill_page(vram + pg * BOCHS_PAGE, seed, pg);
			used++;
		} else {
			memset(vram + pg * BOCHS_PAGE, 0, BOCHS_PAGE);
		}
	}
	return used;
}

static long check(const uint8_t *vram, size_t size, uint64_t seed, int pct,
		  size_t skip)
{
	uint8_t page[BOCHS_PAGE];
	size_t pg;

	for (pg = skip / BOCHS_PAGE; pg < size / BOCHS_PAGE; pg++) {
		if (page_used(seed, pg, pct))
			bochs_fill_page(page, seed, pg);
		else
			memset(page, 0, sizeof(page));
		if (memcmp(page, vram + pg * BOCHS_PAGE, BOCHS_PAGE))
			return (long)pg;
	}
	return -1;
}

/* STOP -> STOP_COPY, read the stream into @buf in 1 MiB reads. */
static size_t save_into(struct lm_dev *d, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	int fd = -1;
	long n;

	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	for (;;) {
		if (cap - len < CHUNK)
			die("stream larger than the buffer", E2BIG);
		n = lm_read1(fd, buf + len, CHUNK);
		if (n < 0)
			die("read", (int)n);
		if (!n)
			break;
		len += n;
	}
	close(fd);
	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL));
	return len;
}

/* STOP -> RESUMING, write @len bytes in 1 MiB writes, -> STOP. */
static void resume_from(struct lm_dev *d, const uint8_t *buf, size_t len)
{
	size_t off = 0, n;
	int fd = -1;
	long w;

	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd));
	while (off < len) {
		n = len - off < CHUNK ? len - off : CHUNK;
		w = lm_write1(fd, buf + off, n);
		if (w <= 0)
			die("write", w ? (int)w : EIO);
		off += w;
	}
	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL));
	close(fd);
}

static void copy_chunked(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < CHUNK ? len - off : CHUNK;
		memcpy(dst + off, src + off, n);
	}
}

/*
 * BAR 0 into @dst by pread() of the device's region in CHUNK reads: the
 * kernel's own copy path for the same memory (vfio-pci's BAR read), with
 * the device RUNNING.  Not timed: the state changes around it.
 */
static double pread_bar(struct lm_dev *d, uint8_t *dst, size_t len)
{
	size_t off, n;
	ssize_t got;
	double t0, t;

	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL));
	t0 = now_s();
	for (off = 0; off < len; off += got) {
		n = len - off < CHUNK ? len - off : CHUNK;
		got = lm_region_read(d, VFIO_PCI_BAR0_REGION_INDEX, off,
				     dst + off, n);
		if (got <= 0)
			die("pread of BAR 0", got ? (int)got : EIO);
	}
	t = now_s() - t0;
	CHECK(lm_mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL));
	return t;
}

static int cmd_throughput(const char *sbdf, const char *dbdf)
{
	double t_mcpy_save[MAX_REPS], t_save[MAX_REPS], t_pread[MAX_REPS];
	double t_mcpy_res[MAX_REPS], t_res[MAX_REPS];
	struct bdev src, dst;
	uint8_t *raw, *stream;
	size_t cap, len = 0;
	double t0, ms, mr, mp;
	long bad;
	int i;

	bdev_open(&src, sbdf);
	bdev_open(&dst, dbdf);
	if (src.size != dst.size)
		die("VRAM sizes differ", EINVAL);
	cap = src.size + src.size / 64 + 4 * CHUNK;
	raw = alloc_touched(src.size);
	stream = alloc_touched(cap);
	fill(src.vram, src.size, 1, 100);
	CHECK(lm_mig_set_state(&src.d, VFIO_DEVICE_STATE_STOP, NULL));
	CHECK(lm_mig_set_state(&dst.d, VFIO_DEVICE_STATE_STOP, NULL));

	for (i = 0; i < reps; i++) {
		/* Alternate which goes first. */
		if (i % 2) {
			t0 = now_s();
			len = save_into(&src.d, stream, cap);
			t_save[i] = now_s() - t0;
		}
		t0 = now_s();
		copy_chunked(raw, src.vram, src.size);
		t_mcpy_save[i] = now_s() - t0;
		memset(raw, 0, src.size);
		t_pread[i] = pread_bar(&src.d, raw, src.size);
		bad = check(raw, src.size, 1, 100, 0);
		if (bad >= 0) {
			fprintf(stderr, "lmbench: pread of BAR 0 differs at page %ld\n",
				bad);
			return 1;
		}
		if (!(i % 2)) {
			t0 = now_s();
			len = save_into(&src.d, stream, cap);
			t_save[i] = now_s() - t0;
		}

		memset(dst.vram, 0, dst.size);
		t0 = now_s();
		copy_chunked(dst.vram, raw, dst.size);
		t_mcpy_res[i] = now_s() - t0;
		memset(dst.vram, 0xee, dst.size);
		t0 = now_s();
		resume_from(&dst.d, stream, len);
		t_res[i] = now_s() - t0;
		bad = check(dst.vram, dst.size, 1, 100, 0);
		if (bad >= 0) {
			fprintf(stderr, "lmbench: resumed VRAM differs at page %ld\n",
				bad);
			return 1;
		}
	}
	ms = median(t_mcpy_save, reps);
	mr = median(t_mcpy_res, reps);
	mp = median(t_pread, reps);
	printf("{\"vram_bytes\": %zu, \"stream_bytes\": %zu, \"reps\": %d, "
	       "\"chunk_bytes\": %u, "
	       "\"save_s\": %.6f, \"memcpy_from_bar_s\": %.6f, "
	       "\"save_mib_s\": %.1f, \"memcpy_from_bar_mib_s\": %.1f, "
	       "\"save_vs_memcpy\": %.3f, "
	       "\"pread_bar_s\": %.6f, \"pread_bar_mib_s\": %.1f, "
	       "\"save_vs_pread\": %.3f, "
	       "\"resume_s\": %.6f, \"memcpy_to_bar_s\": %.6f, "
	       "\"resume_mib_s\": %.1f, \"memcpy_to_bar_mib_s\": %.1f, "
	       "\"resume_vs_memcpy\": %.3f}\n",
	       src.size, len, reps, CHUNK,
	       median(t_save, reps), ms,
	       src.size / median(t_save, reps) / (1 << 20),
	       src.size / ms / (1 << 20),
	       ms / median(t_save, reps),
	       mp, src.size / mp / (1 << 20), mp / median(t_save, reps),
	       median(t_res, reps), mr,
	       src.size / median(t_res, reps) / (1 << 20),
	       src.size / mr / (1 << 20),
	       mr / median(t_res, reps));
	free(raw);
	free(stream);
	bdev_close(&src);
	bdev_close(&dst);
	return 0;
}

static int cmd_ratio(const char *sbdf, const char *dbdf)
{
	struct bdev src, dst;
	struct bochs_sstat st;
	const char *why;
	size_t used, cap, len;
	uint8_t *stream;
	struct lm_buf pre;
	int end, fd = -1;
	long bad;

	bdev_open(&src, sbdf);
	bdev_open(&dst, dbdf);
	cap = src.size + src.size / 64 + 4 * CHUNK;
	stream = alloc_touched(cap);
	used = fill(src.vram, src.size, 2, 50);

	/* STOP_COPY only. */
	CHECK(lm_mig_set_state(&src.d, VFIO_DEVICE_STATE_STOP, NULL));
	len = save_into(&src.d, stream, cap);
	CHECK(bochs_stream_walk(stream, len, NULL, 0, &st, &why));
	CHECK(lm_mig_set_state(&dst.d, VFIO_DEVICE_STATE_STOP, NULL));
	memset(dst.vram, 0xee, dst.size);
	resume_from(&dst.d, stream, len);
	bad = check(dst.vram, dst.size, 2, 50, 0);
	if (bad >= 0) {
		fprintf(stderr, "lmbench: resumed VRAM differs at page %ld\n", bad);
		return 1;
	}

	/* Through PRE_COPY, nothing changing: initial data + final. */
	CHECK(lm_reset_to_running(&src.d));
	lm_buf_init(&pre);
	CHECK(lm_mig_set_state(&src.d, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	CHECK(bochs_drain(fd, &pre, CHUNK, 0, &end));
	CHECK(lm_mig_set_state(&src.d, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	CHECK(bochs_drain(fd, &pre, CHUNK, 0, &end));
	close(fd);

	printf("{\"vram_bytes\": %zu, \"data_pages_pct\": %.1f, "
	       "\"stream_bytes\": %zu, \"stream_bytes_ratio\": %.4f, "
	       "\"pages_records\": %zu, \"zero_records\": %zu, "
	       "\"precopy_stream_bytes\": %zu, "
	       "\"precopy_stream_bytes_ratio\": %.4f}\n",
	       src.size, used * 100.0 / (src.size / BOCHS_PAGE), len,
	       (double)len / src.size, st.nrec[LM_REC_PAGES],
	       st.nrec[LM_REC_ZERO], pre.len, (double)pre.len / src.size);
	lm_buf_free(&pre);
	free(stream);
	bdev_close(&src);
	bdev_close(&dst);
	return 0;
}

/* --- FSM arcs ----------------------------------------------------------- */

enum {
	S_STOP = VFIO_DEVICE_STATE_STOP,
	S_RUNNING = VFIO_DEVICE_STATE_RUNNING,
	S_STOP_COPY = VFIO_DEVICE_STATE_STOP_COPY,
	S_RESUMING = VFIO_DEVICE_STATE_RESUMING,
	S_RUNNING_P2P = VFIO_DEVICE_STATE_RUNNING_P2P,
	S_PRE_COPY = VFIO_DEVICE_STATE_PRE_COPY,
	S_PRE_COPY_P2P = VFIO_DEVICE_STATE_PRE_COPY_P2P,
};

#define MAX_ARCS	16

struct arc {
	uint32_t from, to;
	double us[MAX_REPS];
};

static struct arc arcs[MAX_ARCS];
static int narcs;

static struct arc *arc_of(uint32_t from, uint32_t to)
{
	int i;

	for (i = 0; i < narcs; i++)
		if (arcs[i].from == from && arcs[i].to == to)
			return &arcs[i];
	if (narcs == MAX_ARCS)
		die("too many arcs", E2BIG);
	arcs[narcs].from = from;
	arcs[narcs].to = to;
	return &arcs[narcs++];
}

/* One timed arc; the device must be in @from. */
static int timed(struct lm_dev *d, uint32_t from, uint32_t to, int rep,
		 int *fd)
{
	double t0 = now_s();
	int ret = lm_mig_set_state(d, to, fd);

	arc_of(from, to)->us[rep] = (now_s() - t0) * 1e6;
	if (ret)
		fprintf(stderr, "lmbench: %s -> %s: %s\n", lm_state_name(from),
			lm_state_name(to), strerror(-ret));
	return ret;
}

static int drain_to(int fd, struct lm_buf *b, int want_end)
{
	int end, ret = bochs_drain(fd, b, CHUNK, 0, &end);

	return ret ?: end == want_end ? 0 : -EPROTO;
}

static int arcs_one(struct lm_dev *d, int rep)
{
	struct lm_buf s;
	int fd = -1, fd2 = -1, ret;

	lm_buf_init(&s);
	ret = timed(d, S_RUNNING, S_RUNNING_P2P, rep, NULL);
	ret = ret ?: timed(d, S_RUNNING_P2P, S_STOP, rep, NULL);
	ret = ret ?: timed(d, S_STOP, S_RUNNING_P2P, rep, NULL);
	ret = ret ?: timed(d, S_RUNNING_P2P, S_RUNNING, rep, NULL);
	/* PRE_COPY, abandoned. */
	ret = ret ?: timed(d, S_RUNNING, S_PRE_COPY, rep, &fd);
	ret = ret ?: timed(d, S_PRE_COPY, S_RUNNING, rep, NULL);
	if (fd >= 0)
		close(fd);
	fd = -1;
	ret = ret ?: lm_mig_set_state(d, S_RUNNING_P2P, NULL);
	ret = ret ?: timed(d, S_RUNNING_P2P, S_PRE_COPY_P2P, rep, &fd);
	ret = ret ?: timed(d, S_PRE_COPY_P2P, S_RUNNING_P2P, rep, NULL);
	if (fd >= 0)
		close(fd);
	fd = -1;
	ret = ret ?: lm_mig_set_state(d, S_RUNNING, NULL);
	/* A whole migration: initial data read in PRE_COPY, then the stop. */
	ret = ret ?: lm_mig_set_state(d, S_PRE_COPY, &fd);
	ret = ret ?: drain_to(fd, &s, LM_END_TEMP);
	ret = ret ?: timed(d, S_PRE_COPY, S_PRE_COPY_P2P, rep, NULL);
	ret = ret ?: timed(d, S_PRE_COPY_P2P, S_PRE_COPY, rep, NULL);
	ret = ret ?: lm_mig_set_state(d, S_PRE_COPY_P2P, NULL);
	ret = ret ?: timed(d, S_PRE_COPY_P2P, S_STOP_COPY, rep, NULL);
	ret = ret ?: drain_to(fd, &s, LM_END_PERM);
	ret = ret ?: timed(d, S_STOP_COPY, S_STOP, rep, NULL);
	if (fd >= 0)
		close(fd);
	fd = -1;
	/* STOP_COPY straight from STOP (no PRE_COPY), then back. */
	ret = ret ?: timed(d, S_STOP, S_STOP_COPY, rep, &fd2);
	if (fd2 >= 0)
		close(fd2);
	ret = ret ?: lm_mig_set_state(d, S_STOP, NULL);
	/* Resume the stream saved above. */
	ret = ret ?: timed(d, S_STOP, S_RESUMING, rep, &fd);
	if (!ret)
		ret = lm_feed(fd, s.p, s.len, LM_CHUNK(CHUNK), NULL);
	ret = ret ?: timed(d, S_RESUMING, S_STOP, rep, NULL);
	if (fd >= 0)
		close(fd);
	ret = ret ?: lm_mig_set_state(d, S_RUNNING, NULL);
	lm_buf_free(&s);
	return ret;
}

static const char *engine_of(const char *bdf)
{
	return bochs_is(bdf) ? "bochs-display" : "edu";
}

static int cmd_arcs(int n, char **bdfs)
{
	struct bdev b;
	int i, r, first = 1;

	printf("{");
	for (i = 0; i < n; i++) {
		bool bochs = bochs_is(bdfs[i]);

		narcs = 0;
		if (bochs) {
			bdev_open(&b, bdfs[i]);
			fill(b.vram, b.size, 3, 100);
		} else {
			CHECK(lm_dev_open(&b.d, bdfs[i]));
			CHECK(lm_reset_to_running(&b.d));
			b.vram = NULL;
			b.size = 0;
		}
		for (r = 0; r < reps; r++)
			CHECK(arcs_one(&b.d, r));
		printf("%s\"%s\": {\"bdf\": \"%s\", \"vram_bytes\": %zu, "
		       "\"reps\": %d, \"arcs_us\": {", first ? "" : ", ",
		       engine_of(bdfs[i]), bdfs[i], b.size, reps);
		first = 0;
		for (r = 0; r < narcs; r++)
			printf("%s\"%s->%s\": %.1f", r ? ", " : "",
			       lm_state_name(arcs[r].from),
			       lm_state_name(arcs[r].to),
			       median(arcs[r].us, reps));
		printf("}}");
		if (bochs)
			bdev_close(&b);
		else
			lm_dev_close(&b.d);
	}
	printf("}\n");
	return 0;
}

static int cmd_fill(const char *bdf, uint64_t seed, int pct)
{
	struct bdev b;
	size_t used;

	bdev_open(&b, bdf);
	used = fill(b.vram, b.size, seed, pct);
	printf("{\"vram_bytes\": %zu, \"data_pages\": %zu}\n", b.size, used);
	bdev_close(&b);
	return 0;
}

static int cmd_check(const char *bdf, uint64_t seed, int pct, size_t skip)
{
	struct lm_dev d;
	uint8_t *vram;
	size_t size;
	long bad;

	/* No reset: the contents are what is checked. */
	CHECK(lm_dev_open(&d, bdf));
	CHECK(lm_pci_enable(&d));
	CHECK(bochs_map_vram(&d, &vram, &size));
	bad = check(vram, size, seed, pct, skip);
	printf("{\"vram_bytes\": %zu, \"first_bad_page\": %ld}\n", size, bad);
	bochs_unmap_vram(vram, size);
	lm_dev_close(&d);
	return bad >= 0;
}

static int cmd_bind(void)
{
	char bdf[LM_MAX_DEVICES][LM_BDF_LEN];
	int i, n = bochs_bind_all(bdf, LM_MAX_DEVICES);

	if (n < 0)
		die("binding", n);
	for (i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", bdf[i]);
	printf("\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: lmbench [--reps N] throughput SRC DST | ratio SRC DST |\n"
		"       arcs BDF... | fill BDF SEED PCT | check BDF SEED PCT [SKIP] | bind\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "--reps")) {
		reps = atoi(argv[i + 1]);
		if (reps < 1 || reps > MAX_REPS)
			return usage();
		i += 2;
	}
	if (i >= argc)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[i], "bind") && argc - i == 1)
		return cmd_bind();
	if (!strcmp(argv[i], "throughput") && argc - i == 3)
		return cmd_throughput(argv[i + 1], argv[i + 2]);
	if (!strcmp(argv[i], "ratio") && argc - i == 3)
		return cmd_ratio(argv[i + 1], argv[i + 2]);
	if (!strcmp(argv[i], "arcs") && argc - i >= 2)
		return cmd_arcs(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "fill") && argc - i == 4)
		return cmd_fill(argv[i + 1], strtoull(argv[i + 2], NULL, 0),
				atoi(argv[i + 3]));
	if (!strcmp(argv[i], "check") && (argc - i == 4 || argc - i == 5))
		return cmd_check(argv[i + 1], strtoull(argv[i + 2], NULL, 0),
				 atoi(argv[i + 3]),
				 argc - i == 5 ? strtoull(argv[i + 4], NULL, 0) : 0);
	return usage();
}
