// SPDX-License-Identifier: GPL-2.0
/*
 * migration_stream_test - what travels over the data fd.
 *
 * conform: the saved stream follows the documented format (header,
 *   IDENTITY first and matching the device, STATE, END) and PRE_COPY's
 *   initial data carries the identity.
 * rt: edu #1 -> edu #2 round trips, straight STOP_COPY, through PRE_COPY,
 *   and through PRE_COPY with the device changing in between, with the
 *   stream read and written whole, a byte at a time and in random pieces;
 *   every register must read back bit-exact on the destination.
 * reject: damaged and foreign streams: every truncation, a flipped bit at
 *   every offset, each header and identity field wrong (checksums
 *   recomputed so only that field is wrong), bad records, trailing bytes,
 *   over-long records.  Each must fail the resume with the documented
 *   errno, apply nothing, and leave a device that reset recovers.
 *
 * What goes through PRE_COPY is skipped on kernels without it (before
 * 6.2); a save that only prefers PRE_COPY goes through STOP_COPY there.
 */
#include <dirent.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

#define DMA_SIZE	0x10000

/* ---- register files used as migration payloads ---------------------- */

static const struct edu_prog pat_basic = {
	.liveness = 0xdeadbeef, .fact_k = 5,
	.dma_src = EDU_DMA_BUF, .dma_dst = EDU_TEST_IOVA, .dma_cnt = 0x40,
};

static const struct edu_prog pat_full = {
	.liveness = 0x12345678, .fact_k = 12, .irqfact = true,
	.irq_status = 0x101,
	.dma_cmd = EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ,
	.dma_src = 0x40010, .dma_dst = 0x123456, .dma_cnt = 0x80,
};

static const struct edu_prog pat_wide = {
	.liveness = 0xffffffff, .fact_k = 33, .irqfact = true,
	.irq_status = 0xffffffff,
	.dma_cmd = EDU_DMA_RUN | EDU_DMA_TO_RAM,
	.dma_src = 0xfedcba9876543210ULL, .dma_dst = 0x0123456789abcdefULL,
	.dma_cnt = 0xffffffffffffffffULL,
};

static const struct edu_prog pat_fact1 = {
	.liveness = 1, .fact_k = 0,	/* 0! = 1 */
};

static const struct edu_prog pat_fact0 = {
	.liveness = 0x80000000, .fact_k = 40,	/* 40! mod 2^32 = 0 */
	.irqfact = true,
};

static const struct edu_prog pat_irqfact = {
	.liveness = 0x0f0f0f0f, .fact_k = 10, .irqfact = true,
};

static const struct edu_prog pat_irq = {
	.liveness = 0x00ff00ff, .fact_k = 3, .irq_status = EDU_IRQ_DMA,
};

/* What the destination holds before a resume overwrites it. */
static const struct edu_prog pat_noise = {
	.liveness = 0x0badf00d, .fact_k = 7,
	.dma_src = 0x41000, .dma_dst = 0x1000, .dma_cnt = 0x10,
};

static int program(struct lm_dev *d, const struct edu_prog *p,
		   const struct lm_dma *dma, struct edu_regs *expect)
{
	if (!p) {
		edu_regs_power_on(expect);
		return 0;
	}
	return edu_program(d, p, dma, expect);
}

/* ---- conform ---------------------------------------------------------- */

FIXTURE(conform)
{
	struct lm_dev dev;
	struct lm_buf s;
	struct lm_sview *v;
	struct edu_regs expect;		/* what the saved stream holds */
};

FIXTURE_SETUP(conform)
{
	int ret;

	lm_buf_init(&self->s);
	self->v = calloc(1, sizeof(*self->v));
	ASSERT_NE(NULL, self->v);
	LM_OPEN_DEV(&self->dev, 0);
	ASSERT_EQ(0, edu_program(&self->dev, &pat_irqfact, NULL,
				 &self->expect));
	ret = lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->s, NULL);
	ASSERT_EQ(0, ret) TH_LOG("save: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(conform)
{
	lm_buf_free(&self->s);
	free(self->v);
	lm_dev_close(&self->dev);
}

/*
 * Does any golden edu stream start with the same 8 bytes (magic, version,
 * header length) as @p?  0 if one does, -ESRCH if none, or an errno.
 */
static int golden_head_match(const uint8_t *p)
{
	struct dirent *e;
	int ret = -ESRCH;
	DIR *dir = opendir("selftests/golden");

	if (!dir)
		return -errno;
	while ((e = readdir(dir)) && ret) {
		uint8_t head[8];
		char path[512];
		FILE *f;

		if (strncmp(e->d_name, "edu-", 4) || !strstr(e->d_name, ".stream"))
			continue;
		snprintf(path, sizeof(path), "selftests/golden/%s", e->d_name);
		f = fopen(path, "r");
		if (f && fread(head, 1, 8, f) == 8 && !memcmp(p, head, 8))
			ret = 0;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return ret;
}

/*
 * The header as documented (Documentation/stream-format.md): the bytes
 * "LMIG", version 1, a 24-byte header; and the same magic, version and
 * length as one of the golden streams, so that a format change cannot
 * slip in without a new fixture (see golden below).
 */
TEST_F(conform, well_formed)
{
	EXPECT_EQ(0, lm_stream_view(self->s.p, self->s.len, self->v))
		TH_LOG("%s", self->v->why);
	ASSERT_LE(8U, self->s.len);
	EXPECT_EQ(0, memcmp(self->s.p, "LMIG", 4));
	EXPECT_EQ(1, self->s.p[4] | self->s.p[5] << 8);
	EXPECT_EQ(24, self->s.p[6] | self->s.p[7] << 8);
	EXPECT_EQ(0, golden_head_match(self->s.p))
		TH_LOG("no golden stream in selftests/golden has this magic, "
		       "version and header length: a new format needs a fixture");
	EXPECT_EQ(0U, self->v->flags);
	EXPECT_EQ(0U, self->v->reserved);
	EXPECT_TRUE(self->v->hdr_crc_ok);
	EXPECT_EQ(self->s.len, self->v->end_off);
}

TEST_F(conform, records_in_order)
{
	const struct lm_sview *v = self->v;
	int i;

	lm_stream_view(self->s.p, self->s.len, self->v);
	ASSERT_LE(3, v->nrec);
	EXPECT_EQ(LM_REC_IDENTITY, v->rec[0].type);
	EXPECT_EQ(LM_REC_END, v->rec[v->nrec - 1].type);
	EXPECT_EQ(0U, v->rec[v->nrec - 1].len);
	EXPECT_NE(NULL, lm_stream_find(v, LM_REC_STATE, 0));
	for (i = 0; i < v->nrec; i++) {
		EXPECT_TRUE(v->rec[i].crc_ok) TH_LOG("record %d", i);
		EXPECT_EQ(0, v->rec[i].rflags) TH_LOG("record %d", i);
	}
}

TEST_F(conform, identity_matches_device)
{
	const struct lm_srec *r;
	struct lm_identity id;
	uint32_t vd, sub, cr;
	const uint8_t *p;

	lm_stream_view(self->s.p, self->s.len, self->v);
	r = lm_stream_find(self->v, LM_REC_IDENTITY, 0);
	ASSERT_NE(NULL, r);
	ASSERT_LE((uint32_t)LM_IDENTITY_LEN, r->len);
	p = self->s.p + r->off + LM_REC_HDR_LEN;
	id.vendor = lm_get16(p);
	id.device = lm_get16(p + 2);
	id.subsys_vendor = lm_get16(p + 4);
	id.subsys_device = lm_get16(p + 6);
	id.class_rev = lm_get32(p + 8);
	id.engine_version = lm_get32(p + 12);
	id.blob_len = lm_get32(p + 16);
	id.reserved = lm_get32(p + 20);

	ASSERT_EQ(0, lm_cfg_read32(&self->dev, 0x00, &vd));
	ASSERT_EQ(0, lm_cfg_read32(&self->dev, 0x2c, &sub));
	ASSERT_EQ(0, lm_cfg_read32(&self->dev, 0x08, &cr));
	EXPECT_EQ(EDU_VENDOR, id.vendor);
	EXPECT_EQ(EDU_DEVICE, id.device);
	EXPECT_EQ(vd & 0xffff, id.vendor);
	EXPECT_EQ(vd >> 16, id.device);
	EXPECT_EQ(sub & 0xffff, id.subsys_vendor);
	EXPECT_EQ(sub >> 16, id.subsys_device);
	EXPECT_EQ(cr, id.class_rev);
	EXPECT_NE(0U, id.engine_version);
	EXPECT_EQ(r->len - LM_IDENTITY_LEN, id.blob_len);
	EXPECT_EQ(0U, id.reserved);
}

TEST_F(conform, engine_id_stable)
{
	struct lm_buf again;
	struct lm_sview *v2 = calloc(1, sizeof(*v2));
	bool precopy;

	ASSERT_NE(NULL, v2);
	LM_USE_PRECOPY(&self->dev, precopy);
	lm_buf_init(&again);
	lm_stream_view(self->s.p, self->s.len, self->v);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_EQ(0, lm_save(&self->dev, precopy, LM_CHUNK_ALL, &again,
			     NULL));
	ASSERT_EQ(0, lm_stream_view(again.p, again.len, v2)) TH_LOG("%s",
								    v2->why);
	EXPECT_EQ(self->v->engine_id, v2->engine_id);
	EXPECT_NE(0U, v2->engine_id);
	free(v2);
	lm_buf_free(&again);
}

/* PRE_COPY's initial data is the header and the whole identity. */
TEST_F(conform, precopy_initial_data_is_identity)
{
	struct lm_sview *v2 = calloc(1, sizeof(*v2));
	struct vfio_precopy_info info;
	struct lm_buf init;
	uint8_t *p;
	int fd = -1, end;

	ASSERT_NE(NULL, v2);
	LM_NEED_PRECOPY(&self->dev);
	lm_buf_init(&init);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY, &fd));
	ASSERT_EQ(0, lm_precopy_info(fd, &info));
	ASSERT_EQ(0, lm_drain(fd, &init, LM_CHUNK_ALL, LM_STREAM_LIMIT,
			      &end));
	ASSERT_EQ(LM_END_TEMP, end);
	ASSERT_LE((uint64_t)LM_HDR_LEN + LM_REC_HDR_LEN + LM_IDENTITY_LEN,
		  info.initial_bytes);
	ASSERT_LE(info.initial_bytes, (uint64_t)init.len);
	/* Look at the initial part alone: it must end on a record
	 * boundary, with IDENTITY as its first record.
	 */
	p = malloc(info.initial_bytes);
	ASSERT_NE(NULL, p);
	memcpy(p, init.p, info.initial_bytes);
	lm_stream_view(p, info.initial_bytes, v2);
	ASSERT_LE(1, v2->nrec);
	EXPECT_EQ(LM_REC_IDENTITY, v2->rec[0].type);
	EXPECT_TRUE(v2->rec[0].crc_ok);
	EXPECT_EQ(info.initial_bytes,
		  (uint64_t)(v2->rec[v2->nrec - 1].off + LM_REC_HDR_LEN +
			     v2->rec[v2->nrec - 1].len));
	free(p);
	close(fd);
	free(v2);
	lm_buf_free(&init);
}

/*
 * A device accepts its own stream: after noise was programmed over the
 * saved registers, the resume brings back every one of them (asserted
 * before anything else touches the device).
 */
TEST_F(conform, self_resume)
{
	struct edu_regs noise;
	int we, se;

	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	ASSERT_EQ(0, edu_program(&self->dev, &pat_noise, NULL, &noise));
	ASSERT_NE(0, edu_regs_diff(&self->expect, &noise, NULL, 0));
	lm_resume(&self->dev, self->s.p, self->s.len, LM_CHUNK_ALL, &we, &se);
	EXPECT_EQ(0, we);
	EXPECT_EQ(0, se);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_REGS(&self->dev, &self->expect);
}

/* ---- golden: streams a release saved, resumed by every later module ------ */

/*
 * selftests/golden/edu-<release>.stream was saved by that release's module
 * from an edu programmed with pat_golden; edu-<release>.expect holds the
 * register file the saving test programmed (from the test library, not
 * from the driver) and the header the stream must start with.  Every later
 * module must resume each fixture onto an edu holding other values and
 * restore those registers exactly (or, had the format version been bumped
 * on purpose, refuse it with EPROTO and a test saying so).
 *
 * LM_GOLDEN_SAVE=DIR makes the test save the current release's fixture
 * into DIR instead (then it skips): how a release adds its own.
 */
#define GOLDEN_DIR	"selftests/golden"

static const struct edu_prog pat_golden = {
	.liveness = 0xa5c3e10f, .fact_k = 11, .irqfact = true,
	.irq_status = 0x24,
	.dma_src = 0x40123, .dma_dst = 0x2345678, .dma_cnt = 0x99,
};

static const char *const golden_regs[] = {
	"id", "liveness", "fact", "status", "irq_status",
	"dma_src", "dma_dst", "dma_cnt", "dma_cmd",
};

static void golden_vals(const struct edu_regs *r, uint64_t *v)
{
	v[0] = r->id;
	v[1] = r->liveness;
	v[2] = r->fact;
	v[3] = r->status;
	v[4] = r->irq_status;
	v[5] = r->dma_src;
	v[6] = r->dma_dst;
	v[7] = r->dma_cnt;
	v[8] = r->dma_cmd;
}

static int golden_save(const char *dir, struct lm_dev *d)
{
	uint64_t v[ARRAY_SIZE(golden_regs)];
	char path[512], ver[32] = "";
	struct edu_regs expect;
	struct lm_buf s;
	FILE *f;
	size_t i;
	int ret;

	f = fopen("VERSION", "r");
	if (!f || !fgets(ver, sizeof(ver), f))
		return -ENOENT;
	fclose(f);
	ver[strcspn(ver, "\n")] = 0;
	lm_buf_init(&s);
	ret = lm_reset_to_running(d);
	ret = ret ?: edu_program(d, &pat_golden, NULL, &expect);
	ret = ret ?: lm_save(d, 0, LM_CHUNK_ALL, &s, NULL);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "%s/edu-%s.stream", dir, ver);
	ret = lm_file_save(path, s.p, s.len);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "%s/edu-%s.expect", dir, ver);
	f = fopen(path, "w");
	if (!f) {
		ret = -errno;
		goto out;
	}
	fprintf(f, "# Saved by livemig-vfio-pci %s from QEMU's edu programmed with\n"
		"# pat_golden (selftests/migration_stream_test.c); the registers as\n"
		"# that programming leaves them (edu_program(), selftests/lib).\n",
		ver);
	fprintf(f, "magic LMIG\nversion %u\n", s.p[4] | s.p[5] << 8);
	golden_vals(&expect, v);
	for (i = 0; i < ARRAY_SIZE(golden_regs); i++)
		fprintf(f, "%s 0x%llx\n", golden_regs[i], (unsigned long long)v[i]);
	ret = fclose(f) ? -EIO : 0;
out:
	lm_buf_free(&s);
	return ret;
}

/* Parse @path into @v (by golden_regs) and the header it promises. */
static int golden_expect(const char *path, uint64_t *v, char *magic,
			 unsigned int *version)
{
	char line[256], key[64];
	unsigned long long val;
	unsigned int found = 0;
	size_t i;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "magic %4s", magic) == 1)
			continue;
		if (sscanf(line, "version %u", version) == 1)
			continue;
		if (sscanf(line, "%63s %llx", key, &val) != 2)
			continue;
		for (i = 0; i < ARRAY_SIZE(golden_regs); i++)
			if (!strcmp(key, golden_regs[i])) {
				v[i] = val;
				found |= 1U << i;
			}
	}
	fclose(f);
	return found == (1U << ARRAY_SIZE(golden_regs)) - 1 ? 0 : -EINVAL;
}

static void golden_one(struct __test_metadata *_metadata, struct lm_dev *d,
		       const char *name)
{
	uint64_t want[ARRAY_SIZE(golden_regs)], got[ARRAY_SIZE(golden_regs)];
	char path[512], magic[5] = "";
	unsigned int version = 0;
	struct edu_regs noise, now;
	struct lm_buf s;
	int we, se, i;

	snprintf(path, sizeof(path), GOLDEN_DIR "/%s.expect", name);
	ASSERT_EQ(0, golden_expect(path, want, magic, &version))
		TH_LOG("%s: unreadable or incomplete", path);
	snprintf(path, sizeof(path), GOLDEN_DIR "/%s.stream", name);
	lm_buf_init(&s);
	ASSERT_EQ(0, lm_buf_load(&s, path)) TH_LOG("%s", path);
	/* The header as the release wrote it (Documentation/stream-format.md). */
	ASSERT_LE(8U, s.len);
	EXPECT_EQ(0, memcmp(s.p, magic, 4)) TH_LOG("%s: magic", name);
	EXPECT_EQ(version, (unsigned int)(s.p[4] | s.p[5] << 8))
		TH_LOG("%s: version", name);

	ASSERT_EQ(0, lm_reset_to_running(d));
	ASSERT_EQ(0, edu_program(d, &pat_noise, NULL, &noise));
	lm_resume(d, s.p, s.len, LM_CHUNK(97), &we, &se);
	EXPECT_EQ(0, we) TH_LOG("%s: write: %s", name, strerror(-we));
	EXPECT_EQ(0, se) TH_LOG("%s: RESUMING->STOP: %s", name, strerror(-se));
	ASSERT_EQ(0, lm_mig_set_state(d, S_RUNNING, NULL));
	ASSERT_EQ(0, edu_read_regs(d, &now));
	golden_vals(&now, got);
	for (i = 0; i < (int)ARRAY_SIZE(golden_regs); i++) {
		uint64_t w = want[i], g = got[i];

		EXPECT_EQ(w, g)
			TH_LOG("%s: %s restored as 0x%llx, saved 0x%llx", name,
			       golden_regs[i], (unsigned long long)g,
			       (unsigned long long)w);
	}
	lm_buf_free(&s);
}

TEST_F(conform, golden_streams_resume)
{
	const char *save = getenv("LM_GOLDEN_SAVE");
	struct dirent *e;
	int found = 0;
	DIR *dir;

	if (save && *save) {
		ASSERT_EQ(0, golden_save(save, &self->dev));
		SKIP(return, "saved this release's fixture into %s", save);
	}
	dir = opendir(GOLDEN_DIR);
	ASSERT_NE(NULL, dir) TH_LOG("%s: %s", GOLDEN_DIR, strerror(errno));
	while ((e = readdir(dir))) {
		char name[256];
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, "edu-", 4) || len < 8 ||
		    strcmp(e->d_name + len - 7, ".stream") || len - 7 >= sizeof(name))
			continue;
		memcpy(name, e->d_name, len - 7);
		name[len - 7] = 0;
		golden_one(_metadata, &self->dev, name);
		found++;
	}
	closedir(dir);
	EXPECT_LE(1, found) TH_LOG("no edu fixture in %s", GOLDEN_DIR);
}

/* ---- rt: round trips between two devices -------------------------------- */

enum rt_path { RT_STOPCOPY, RT_PRECOPY, RT_DIRTY };
enum rt_chunk { RT_WHOLE, RT_BYTES, RT_RANDOM };

FIXTURE(rt)
{
	struct lm_dev src, dst;
	struct lm_dma sdma, ddma;
};

FIXTURE_VARIANT(rt)
{
	const struct edu_prog *prog;	/* NULL: power-on state */
	enum rt_path path;
	enum rt_chunk chunk;
	uint32_t seed;
};

#define RT(pat, p, pname, c, cname, s)					\
	FIXTURE_VARIANT_ADD(rt, pat##_##pname##_##cname) {		\
		.prog = PROG_##pat, .path = p, .chunk = c, .seed = s,	\
	};
#define RT_CHUNKS(pat, p, pname, s)					\
	RT(pat, p, pname, RT_WHOLE, whole, s)				\
	RT(pat, p, pname, RT_BYTES, bytes, s)				\
	RT(pat, p, pname, RT_RANDOM, random, s)
#define RT_PATHS(pat, s)						\
	RT_CHUNKS(pat, RT_STOPCOPY, stopcopy, s)			\
	RT_CHUNKS(pat, RT_PRECOPY, precopy, (s) * 3)			\
	RT_CHUNKS(pat, RT_DIRTY, dirty, (s) * 7)

#define PROG_poweron	NULL
#define PROG_basic	(&pat_basic)
#define PROG_full	(&pat_full)
#define PROG_wide	(&pat_wide)
#define PROG_fact1	(&pat_fact1)
#define PROG_fact0	(&pat_fact0)
#define PROG_irqfact	(&pat_irqfact)
#define PROG_irq	(&pat_irq)

RT_PATHS(poweron, 11)
RT_PATHS(basic, 13)
RT_PATHS(full, 17)
RT_PATHS(wide, 19)
RT_PATHS(fact1, 23)
RT_PATHS(fact0, 29)
RT_PATHS(irqfact, 31)
RT_PATHS(irq, 37)

FIXTURE_SETUP(rt)
{
	int ret;

	memset(&self->sdma, 0, sizeof(self->sdma));
	memset(&self->ddma, 0, sizeof(self->ddma));
	LM_OPEN_DEV(&self->src, 0);
	LM_OPEN_DEV(&self->dst, 1);
	if (variant->path != RT_STOPCOPY)
		LM_NEED_PRECOPY(&self->src);
	ret = lm_dma_alloc_map(&self->src, EDU_TEST_IOVA, DMA_SIZE,
			       &self->sdma);
	ASSERT_EQ(0, ret) TH_LOG("dma map: %s", strerror(-ret));
	ret = lm_dma_alloc_map(&self->dst, EDU_TEST_IOVA, DMA_SIZE,
			       &self->ddma);
	ASSERT_EQ(0, ret) TH_LOG("dma map: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(rt)
{
	edu_wait_dma(&self->src, LM_DEV_WAIT_MS);
	edu_wait_dma(&self->dst, LM_DEV_WAIT_MS);
	lm_dma_unmap_free(&self->src, &self->sdma);
	lm_dma_unmap_free(&self->dst, &self->ddma);
	lm_dev_close(&self->src);
	lm_dev_close(&self->dst);
}

static struct lm_chunker rt_chunker(const FIXTURE_VARIANT(rt) *v, size_t max)
{
	switch (v->chunk) {
	case RT_BYTES:
		return LM_CHUNK(1);
	case RT_RANDOM:
		return LM_CHUNK_RANDOM(max, v->seed);
	default:
		return LM_CHUNK_ALL;
	}
}

TEST_F_TIMEOUT(rt, round_trip, 120)
{
	struct lm_chunker rc = rt_chunker(variant, 53);
	struct lm_chunker wc = rt_chunker(variant, 37);
	struct edu_regs expect, junk, got;
	struct lm_buf s;
	const char *stage = "";
	char why[512];
	int ret, we, se;

	lm_buf_init(&s);
	ret = program(&self->src, variant->prog, &self->sdma, &expect);
	ASSERT_EQ(0, ret) TH_LOG("program source: %s", strerror(-ret));
	ret = program(&self->dst, &pat_noise, NULL, &junk);
	ASSERT_EQ(0, ret) TH_LOG("program destination: %s", strerror(-ret));

	if (variant->path == RT_DIRTY) {
		struct vfio_precopy_info info;
		int fd = -1, end;

		ASSERT_EQ(0, lm_mig_set_state(&self->src, S_PRE_COPY, &fd));
		ASSERT_EQ(0, lm_drain(fd, &s, rc, LM_STREAM_LIMIT, &end));
		ASSERT_EQ(LM_END_TEMP, end);
		/* The device keeps running and changes. */
		expect.liveness ^= 0x00c0ffee;
		ASSERT_EQ(0, lm_bar_write32(&self->src, 0, EDU_REG_LIVENESS,
					    ~expect.liveness));
		ASSERT_EQ(0, lm_bar_write32(&self->src, 0, EDU_REG_STATUS, 0));
		expect.status = 0;
		ASSERT_EQ(0, lm_bar_write32(&self->src, 0, EDU_REG_FACT, 8));
		ASSERT_EQ(0, edu_wait_fact(&self->src, LM_DEV_WAIT_MS));
		expect.fact = edu_fact_mod32(8);
		ASSERT_EQ(0, lm_precopy_info(fd, &info));
		EXPECT_LT(0ULL, info.dirty_bytes);
		ASSERT_EQ(0, lm_drain(fd, &s, rc, LM_STREAM_LIMIT, &end));
		ASSERT_EQ(LM_END_TEMP, end);
		/* And changes again after the last PRECOPY_INFO: only the
		 * final STOP_COPY data can carry this.
		 */
		expect.dma_cnt = 0x1234;
		ASSERT_EQ(0, lm_bar_write64(&self->src, 0, EDU_REG_DMA_CNT,
					    expect.dma_cnt));
		ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP_COPY, NULL));
		ASSERT_EQ(0, lm_drain(fd, &s, rc, LM_STREAM_LIMIT, &end));
		ASSERT_EQ(LM_END_PERM, end);
		ASSERT_EQ(0, lm_mig_set_state(&self->src, S_STOP, NULL));
		close(fd);
	} else {
		ret = lm_save(&self->src, variant->path == RT_PRECOPY, rc, &s,
			      &stage);
		ASSERT_EQ(0, ret) TH_LOG("save: %s: %s", stage,
					 strerror(-ret));
	}

	/* Saving does not disturb the source (its irq status included). */
	ASSERT_REGS(&self->src, &expect);

	lm_resume(&self->dst, s.p, s.len, wc, &we, &se);
	ASSERT_EQ(0, we) TH_LOG("write: %s", strerror(-we));
	ASSERT_EQ(0, se) TH_LOG("RESUMING -> STOP: %s", strerror(-se));
	ASSERT_STATE(&self->dst, S_STOP);

	/* In STOP: everything restored.  Pending interrupts are raised
	 * only once the device runs (edu_engine_test watches the interrupt
	 * itself); the status register may show them already or not yet.
	 */
	ASSERT_EQ(0, edu_read_regs(&self->dst, &got));
	EXPECT_TRUE(got.irq_status == 0 ||
		    got.irq_status == expect.irq_status)
		TH_LOG("irq status %#x in STOP", got.irq_status);
	got.irq_status = expect.irq_status;
	EXPECT_EQ(0, edu_regs_diff(&expect, &got, why, sizeof(why)))
		TH_LOG("in STOP (expected!=got):%s", why);

	ASSERT_EQ(0, lm_mig_set_state(&self->dst, S_RUNNING, NULL));
	ASSERT_REGS(&self->dst, &expect);

	/* The source, resumed, is intact too. */
	ASSERT_EQ(0, lm_mig_set_state(&self->src, S_RUNNING, NULL));
	ASSERT_REGS(&self->src, &expect);

	/* And the destination works. */
	ASSERT_EQ(0, lm_bar_write32(&self->dst, 0, EDU_REG_LIVENESS, 0x55));
	ASSERT_EQ(0, lm_bar_write32(&self->dst, 0, EDU_REG_STATUS, 0));
	ASSERT_EQ(0, lm_bar_write32(&self->dst, 0, EDU_REG_FACT, 4));
	ASSERT_EQ(0, edu_wait_fact(&self->dst, LM_DEV_WAIT_MS));
	ASSERT_EQ(0, edu_read_regs(&self->dst, &got));
	EXPECT_EQ(~0x55U, got.liveness);
	EXPECT_EQ(24U, got.fact);
	lm_buf_free(&s);
}

/* ---- reject: damaged and foreign streams -------------------------------- */

struct rj {
	struct lm_dev dev;
	struct lm_dma dma;
	struct lm_buf good;
	struct lm_sview *v;
	struct edu_regs saved;		/* what the good stream carries */
	struct edu_regs before;		/* what the device holds */
	size_t id_off;			/* IDENTITY payload offset */
	size_t state_off;		/* first STATE record offset */
	size_t end_off;			/* END record offset */
};

static const struct edu_prog pat_a = {
	.liveness = 0x11112222, .fact_k = 11, .irqfact = true,
	.irq_status = 0x5,
	.dma_cmd = EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ,
	.dma_src = 0x40100, .dma_dst = 0x300000, .dma_cnt = 0x20,
};

static const struct edu_prog pat_b = {
	.liveness = 0x33334444, .fact_k = 6, .irqfact = false,
	.irq_status = 0x30,
	.dma_cmd = EDU_DMA_RUN | EDU_DMA_TO_RAM,
	.dma_src = 0x40200, .dma_dst = 0x400000, .dma_cnt = 0x30,
};

/*
 * Shared setup: save pattern A from device 0 as the good stream, then
 * program pattern B, which differs from A in every register.
 */
static void rj_init(struct __test_metadata *_metadata, struct rj *self)
{
	const struct lm_srec *r;
	int ret;

	lm_buf_init(&self->good);
	memset(&self->dma, 0, sizeof(self->dma));
	self->v = calloc(1, sizeof(*self->v));
	ASSERT_NE(NULL, self->v);
	LM_OPEN_DEV(&self->dev, 0);
	ret = lm_dma_alloc_map(&self->dev, EDU_TEST_IOVA, DMA_SIZE,
			       &self->dma);
	ASSERT_EQ(0, ret) TH_LOG("dma map: %s", strerror(-ret));
	ASSERT_EQ(0, edu_program(&self->dev, &pat_a, &self->dma,
				 &self->saved));
	ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->good, NULL));
	ASSERT_EQ(0, lm_stream_view(self->good.p, self->good.len, self->v))
		TH_LOG("%s", self->v->why);
	r = lm_stream_find(self->v, LM_REC_IDENTITY, 0);
	ASSERT_NE(NULL, r);
	self->id_off = r->off + LM_REC_HDR_LEN;
	r = lm_stream_find(self->v, LM_REC_STATE, 0);
	ASSERT_NE(NULL, r);
	self->state_off = r->off;
	r = lm_stream_find(self->v, LM_REC_END, 0);
	ASSERT_NE(NULL, r);
	self->end_off = r->off;
	/* The device now holds something else, different in every field. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_EQ(0, edu_program(&self->dev, &pat_b, &self->dma,
				 &self->before));
	ASSERT_EQ(9, edu_regs_diff(&self->saved, &self->before, NULL, 0) + 1)
		TH_LOG("patterns A and B must differ in all but the ID");
}

static void rj_fini(struct rj *self)
{
	edu_wait_dma(&self->dev, LM_DEV_WAIT_MS);
	lm_dma_unmap_free(&self->dev, &self->dma);
	lm_buf_free(&self->good);
	free(self->v);
	lm_dev_close(&self->dev);
}

FIXTURE(reject)
{
	struct rj r;
};

FIXTURE_SETUP(reject)
{
	rj_init(_metadata, &self->r);
}

FIXTURE_TEARDOWN(reject)
{
	rj_fini(&self->r);
}

FIXTURE(reject_flip)
{
	struct rj r;
};

FIXTURE_VARIANT(reject_flip)
{
	int bit;
};

FIXTURE_VARIANT_ADD(reject_flip, bit0) { .bit = 0 };
FIXTURE_VARIANT_ADD(reject_flip, bit1) { .bit = 1 };
FIXTURE_VARIANT_ADD(reject_flip, bit2) { .bit = 2 };
FIXTURE_VARIANT_ADD(reject_flip, bit3) { .bit = 3 };
FIXTURE_VARIANT_ADD(reject_flip, bit4) { .bit = 4 };
FIXTURE_VARIANT_ADD(reject_flip, bit5) { .bit = 5 };
FIXTURE_VARIANT_ADD(reject_flip, bit6) { .bit = 6 };
FIXTURE_VARIANT_ADD(reject_flip, bit7) { .bit = 7 };

FIXTURE_SETUP(reject_flip)
{
	rj_init(_metadata, &self->r);
}

FIXTURE_TEARDOWN(reject_flip)
{
	rj_fini(&self->r);
}

/*
 * Resume from @p/@len and check a clean rejection: the write or the
 * RESUMING -> STOP step fails (with @err if non-zero, else EBADMSG or
 * EPROTO), the failed write's errno is the one STOP reports, the device
 * is in ERROR with nothing applied, and reset brings it back to RUNNING
 * with power-on registers.  Returns the errno seen.
 */
static int expect_rejected(struct __test_metadata *_metadata,
			   struct rj *self, const uint8_t *p,
			   size_t len, struct lm_chunker c, int err,
			   const char *what)
{
	struct edu_regs got;
	char why[512];
	int we, se, seen;

	lm_resume(&self->dev, p, len, c, &we, &se);
	seen = we ? we : se;
	ASSERT_NE(0, se) TH_LOG("%s: accepted", what);
	if (we) {
		ASSERT_EQ(we, se) TH_LOG("%s: write failed with %d, STOP with %d",
					 what, we, se);
	}
	if (err) {
		ASSERT_EQ(-err, seen) TH_LOG("%s: %s", what, strerror(-seen));
	} else {
		ASSERT_TRUE(seen == -EBADMSG || seen == -EPROTO)
			TH_LOG("%s: %s", what, strerror(-seen));
	}
	ASSERT_STATE(&self->dev, S_ERROR);
	ASSERT_EQ(0, edu_read_regs(&self->dev, &got));
	ASSERT_EQ(0, edu_regs_diff(&self->before, &got, why, sizeof(why)))
		TH_LOG("%s: registers changed (before!=now):%s", what, why);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev)) TH_LOG("%s", what);
	edu_regs_power_on(&self->before);
	ASSERT_REGS(&self->dev, &self->before);
	return seen;
}

/* A good resume still works after rejections, and restores A exactly. */
static void expect_good_resume(struct __test_metadata *_metadata,
			       struct rj *self)
{
	int we, se;

	lm_resume(&self->dev, self->good.p, self->good.len, LM_CHUNK_ALL,
		  &we, &se);
	ASSERT_EQ(0, we);
	ASSERT_EQ(0, se);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_REGS(&self->dev, &self->saved);
}

TEST_F(reject, empty_stream)
{
	expect_rejected(_metadata, &self->r, NULL, 0, LM_CHUNK_ALL, EBADMSG,
			"empty");
	expect_good_resume(_metadata, &self->r);
}

TEST_F_TIMEOUT(reject, every_truncation, 300)
{
	char what[64];
	size_t n;

	for (n = 1; n < self->r.good.len; n++) {
		snprintf(what, sizeof(what), "first %zu of %zu bytes", n,
			 self->r.good.len);
		expect_rejected(_metadata, &self->r, self->r.good.p, n, LM_CHUNK_ALL,
				EBADMSG, what);
	}
	expect_good_resume(_metadata, &self->r);
}

TEST_F_TIMEOUT(reject, truncation_bytewise, 300)
{
	/* The same cut at each record boundary and mid-record, fed one
	 * byte at a time.
	 */
	size_t cuts[LM_SVIEW_MAX_RECS * 2 + 2];
	unsigned int i, n = 0;
	char what[64];
	int r;

	cuts[n++] = LM_HDR_LEN;
	for (r = 0; r < self->r.v->nrec; r++) {
		cuts[n++] = self->r.v->rec[r].off + LM_REC_HDR_LEN / 2;
		if (r + 1 < self->r.v->nrec)
			cuts[n++] = self->r.v->rec[r + 1].off;
	}
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "first %zu bytes, 1 at a time",
			 cuts[i]);
		expect_rejected(_metadata, &self->r, self->r.good.p, cuts[i],
				LM_CHUNK(1), EBADMSG, what);
	}
	expect_good_resume(_metadata, &self->r);
}

TEST_F_TIMEOUT(reject_flip, flipped_bit_everywhere, 300)
{
	uint8_t *p = malloc(self->r.good.len);
	char what[64];
	size_t off;

	ASSERT_NE(NULL, p);
	for (off = 0; off < self->r.good.len; off++) {
		memcpy(p, self->r.good.p, self->r.good.len);
		p[off] ^= 1u << variant->bit;
		snprintf(what, sizeof(what), "bit %d of byte %zu flipped",
			 variant->bit, off);
		/* A damaged magic may be called foreign; anything else is
		 * a checksum failure.
		 */
		expect_rejected(_metadata, &self->r, p, self->r.good.len,
				LM_CHUNK_ALL, off < 4 ? 0 : EBADMSG, what);
	}
	free(p);
	expect_good_resume(_metadata, &self->r);
}

/*
 * Field edits.  Each variant of reject_field names a byte offset base
 * (header, IDENTITY payload, first STATE record, END record), an offset
 * in it, a width and how to change the value; checksums are recomputed
 * afterwards so that only the edited field is wrong.
 */
enum base { B_HDR, B_ID, B_STATE, B_END };
enum op { OP_SET, OP_XOR, OP_ADD };

FIXTURE(reject_field)
{
	struct rj r;
};

FIXTURE_VARIANT(reject_field)
{
	enum base base;
	unsigned int off;
	int width;
	enum op op;
	uint32_t val;
	int err;		/* expected errno, 0: EBADMSG or EPROTO */
};

#define FIELD(name, b, o, w, opr, v, e)					\
	FIXTURE_VARIANT_ADD(reject_field, name) {			\
		.base = b, .off = o, .width = w, .op = opr, .val = v,	\
		.err = e,						\
	};

/* header: magic, version, header length, engine, flags, reserved */
FIELD(magic_zero, B_HDR, 0, 4, OP_SET, 0, EPROTO)
FIELD(magic_swapped, B_HDR, 0, 4, OP_SET, 0x4c4d4947, EPROTO)
FIELD(magic_plus_one, B_HDR, 0, 4, OP_ADD, 1, EPROTO)
FIELD(version_0, B_HDR, 4, 2, OP_SET, 0, EPROTO)
FIELD(version_2, B_HDR, 4, 2, OP_SET, 2, EPROTO)
FIELD(version_ffff, B_HDR, 4, 2, OP_SET, 0xffff, EPROTO)
FIELD(hdr_len_0, B_HDR, 6, 2, OP_SET, 0, 0)
FIELD(hdr_len_23, B_HDR, 6, 2, OP_SET, 23, 0)
FIELD(hdr_len_32, B_HDR, 6, 2, OP_SET, 32, 0)
FIELD(engine_plus_one, B_HDR, 8, 4, OP_ADD, 1, EPROTO)
FIELD(engine_zero, B_HDR, 8, 4, OP_SET, 0, EPROTO)
FIELD(engine_inverted, B_HDR, 8, 4, OP_XOR, 0xffffffff, EPROTO)
FIELD(hdr_flags_1, B_HDR, 12, 4, OP_SET, 1, 0)
FIELD(hdr_flags_top, B_HDR, 12, 4, OP_SET, 0x80000000, 0)
FIELD(hdr_reserved, B_HDR, 16, 4, OP_SET, 1, 0)
/* identity */
FIELD(id_vendor, B_ID, 0, 2, OP_XOR, 1, EPROTO)
FIELD(id_vendor_zero, B_ID, 0, 2, OP_SET, 0, EPROTO)
FIELD(id_device, B_ID, 2, 2, OP_XOR, 1, EPROTO)
FIELD(id_device_other, B_ID, 2, 2, OP_SET, 0x1111, EPROTO)
FIELD(id_subsys_vendor, B_ID, 4, 2, OP_XOR, 0x8000, EPROTO)
FIELD(id_subsys_device, B_ID, 6, 2, OP_XOR, 0x8000, EPROTO)
FIELD(id_revision, B_ID, 8, 4, OP_XOR, 0x01, EPROTO)
FIELD(id_prog_if, B_ID, 8, 4, OP_XOR, 0x100, EPROTO)
FIELD(id_class, B_ID, 8, 4, OP_XOR, 0xff000000, EPROTO)
FIELD(id_engine_version_plus, B_ID, 12, 4, OP_ADD, 1, EPROTO)
FIELD(id_engine_version_zero, B_ID, 12, 4, OP_SET, 0, EPROTO)
FIELD(id_blob_len_plus, B_ID, 16, 4, OP_ADD, 1, 0)
FIELD(id_blob_len_huge, B_ID, 16, 4, OP_SET, 0xffffffff, 0)
FIELD(id_reserved, B_ID, 20, 4, OP_SET, 1, 0)
/* records */
FIELD(state_type_0, B_STATE, 0, 2, OP_SET, 0, EBADMSG)
FIELD(state_type_5, B_STATE, 0, 2, OP_SET, 5, EBADMSG)
FIELD(state_type_14, B_STATE, 0, 2, OP_SET, 14, EBADMSG)
FIELD(state_type_16, B_STATE, 0, 2, OP_SET, 16, EBADMSG)
FIELD(state_type_ffff, B_STATE, 0, 2, OP_SET, 0xffff, EBADMSG)
FIELD(state_as_identity, B_STATE, 0, 2, OP_SET, LM_REC_IDENTITY, 0)
FIELD(state_rflags, B_STATE, 2, 2, OP_SET, 1, EBADMSG)
FIELD(state_rflags_top, B_STATE, 2, 2, OP_SET, 0x8000, EBADMSG)
FIELD(identity_as_state, B_ID, -12, 2, OP_SET, LM_REC_STATE, EBADMSG)
FIELD(identity_rflags, B_ID, -10, 2, OP_SET, 1, EBADMSG)
FIELD(end_type_5, B_END, 0, 2, OP_SET, 5, EBADMSG)
FIELD(end_type_ffff, B_END, 0, 2, OP_SET, 0xffff, EBADMSG)
FIELD(end_rflags, B_END, 2, 2, OP_SET, 1, EBADMSG)
FIELD(state_len_huge, B_STATE, 4, 4, OP_SET, 0x7fffffff, EBADMSG)
FIELD(state_len_max, B_STATE, 4, 4, OP_SET, 0xffffffff, EBADMSG)

FIXTURE_SETUP(reject_field)
{
	rj_init(_metadata, &self->r);
}

FIXTURE_TEARDOWN(reject_field)
{
	rj_fini(&self->r);
}

static void put(uint8_t *p, int width, uint32_t v)
{
	if (width == 2)
		lm_put16(p, v);
	else
		lm_put32(p, v);
}

static uint32_t get(const uint8_t *p, int width)
{
	return width == 2 ? lm_get16(p) : lm_get32(p);
}

TEST_F(reject_field, edited)
{
	struct rj *r = &self->r;
	uint8_t *p = malloc(r->good.len);
	size_t base = 0, at;
	uint32_t old, nv;
	char what[96];

	ASSERT_NE(NULL, p);
	memcpy(p, r->good.p, r->good.len);
	switch (variant->base) {
	case B_HDR:
		base = 0;
		break;
	case B_ID:
		base = r->id_off;
		break;
	case B_STATE:
		base = r->state_off;
		break;
	case B_END:
		base = r->end_off;
		break;
	}
	at = base + (int)variant->off;
	ASSERT_LE(at + variant->width, r->good.len);
	old = get(p + at, variant->width);
	switch (variant->op) {
	case OP_SET:
		nv = variant->val;
		break;
	case OP_XOR:
		nv = old ^ variant->val;
		break;
	default:
		nv = old + variant->val;
		break;
	}
	ASSERT_NE(old, nv) TH_LOG("the edit must change the field");
	put(p + at, variant->width, nv);
	lm_stream_reseal(p, r->good.len);
	snprintf(what, sizeof(what), "byte %zu: %#x -> %#x", at, old, nv);
	expect_rejected(_metadata, r, p, r->good.len, LM_CHUNK_ALL,
			variant->err, what);
	free(p);
	expect_good_resume(_metadata, r);
}

/* Structural damage: build a new stream out of the good one's pieces. */
static void append_rec(struct lm_buf *b, const struct rj *self,
		       int i)
{
	const struct lm_srec *r = &self->v->rec[i];

	lm_buf_append(b, self->good.p + r->off, LM_REC_HDR_LEN + r->len);
}

static void append_new_rec(struct lm_buf *b, uint16_t type,
			   const void *payload, uint32_t len)
{
	uint8_t h[LM_REC_HDR_LEN];

	lm_put16(h, type);
	lm_put16(h + 2, 0);
	lm_put32(h + 4, len);
	lm_put32(h + 8, lm_stream_rec_crc(h, payload, len));
	lm_buf_append(b, h, sizeof(h));
	lm_buf_append(b, payload, len);
}

TEST_F(reject, identity_missing)
{
	struct lm_buf b;
	int i;

	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	for (i = 1; i < self->r.v->nrec; i++)
		append_rec(&b, &self->r, i);
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, EBADMSG,
			"no IDENTITY");
	lm_buf_free(&b);
}

TEST_F(reject, identity_twice)
{
	struct lm_buf b;
	int i;

	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	append_rec(&b, &self->r, 0);
	for (i = 0; i < self->r.v->nrec; i++)
		append_rec(&b, &self->r, i);
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, EBADMSG,
			"IDENTITY twice");
	lm_buf_free(&b);
}

TEST_F(reject, identity_not_first)
{
	struct lm_buf b;
	int i;

	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	append_rec(&b, &self->r, 1);
	append_rec(&b, &self->r, 0);
	for (i = 2; i < self->r.v->nrec; i++)
		append_rec(&b, &self->r, i);
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, EBADMSG,
			"IDENTITY second");
	lm_buf_free(&b);
}

TEST_F(reject, end_with_payload)
{
	static const uint8_t four[4] = { 1, 2, 3, 4 };
	struct lm_buf b;
	int i;

	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	for (i = 0; i < self->r.v->nrec - 1; i++)
		append_rec(&b, &self->r, i);
	append_new_rec(&b, LM_REC_END, four, sizeof(four));
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, EBADMSG,
			"END with a payload");
	lm_buf_free(&b);
}

TEST_F(reject, overlong_record)
{
	const uint32_t len = 1u << 20;
	uint8_t *zero = calloc(1, len);
	struct lm_buf b;
	int i;

	ASSERT_NE(NULL, zero);
	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	append_rec(&b, &self->r, 0);
	/* A checksummed 1 MiB STATE record: far beyond any register file. */
	append_new_rec(&b, LM_REC_STATE, zero, len);
	for (i = 1; i < self->r.v->nrec; i++)
		append_rec(&b, &self->r, i);
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, EBADMSG,
			"1 MiB STATE record");
	free(zero);
	lm_buf_free(&b);
	expect_good_resume(_metadata, &self->r);
}

TEST_F(reject, state_payload_short)
{
	const struct lm_srec *st = lm_stream_find(self->r.v, LM_REC_STATE, 0);
	struct lm_buf b;
	int i;

	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	for (i = 0; i < self->r.v->nrec; i++) {
		if (&self->r.v->rec[i] == st)
			append_new_rec(&b, LM_REC_STATE, self->r.good.p + st->off +
				       LM_REC_HDR_LEN, st->len - 1);
		else
			append_rec(&b, &self->r, i);
	}
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, 0,
			"STATE one byte short");
	lm_buf_free(&b);
}

TEST_F(reject, state_payload_long)
{
	const struct lm_srec *st = lm_stream_find(self->r.v, LM_REC_STATE, 0);
	uint8_t *pl = calloc(1, st->len + 8);
	struct lm_buf b;
	int i;

	ASSERT_NE(NULL, pl);
	memcpy(pl, self->r.good.p + st->off + LM_REC_HDR_LEN, st->len);
	lm_buf_init(&b);
	lm_buf_append(&b, self->r.good.p, LM_HDR_LEN);
	for (i = 0; i < self->r.v->nrec; i++) {
		if (&self->r.v->rec[i] == st)
			append_new_rec(&b, LM_REC_STATE, pl, st->len + 8);
		else
			append_rec(&b, &self->r, i);
	}
	expect_rejected(_metadata, &self->r, b.p, b.len, LM_CHUNK_ALL, 0,
			"STATE eight bytes long");
	free(pl);
	lm_buf_free(&b);
}

static void trailing(struct __test_metadata *_metadata,
		     struct rj *self, const void *extra,
		     size_t len, struct lm_chunker c, const char *what)
{
	struct lm_buf b;

	lm_buf_init(&b);
	lm_buf_append(&b, self->good.p, self->good.len);
	lm_buf_append(&b, extra, len);
	expect_rejected(_metadata, self, b.p, b.len, c, EBADMSG, what);
	lm_buf_free(&b);
}

TEST_F(reject, trailing_zero_byte)
{
	static const uint8_t z;

	trailing(_metadata, &self->r, &z, 1, LM_CHUNK_ALL, "one 0x00 after END");
}

TEST_F(reject, trailing_ff_byte)
{
	static const uint8_t ff = 0xff;

	trailing(_metadata, &self->r, &ff, 1, LM_CHUNK_ALL, "one 0xff after END");
}

TEST_F(reject, trailing_byte_separate_write)
{
	static const uint8_t z;
	int fd = -1, se;

	/* The garbage arrives in its own write() after a complete stream. */
	ASSERT_EQ(0, lm_mig_set_state(&self->r.dev, S_RESUMING, &fd));
	ASSERT_EQ(0, lm_feed(fd, self->r.good.p, self->r.good.len, LM_CHUNK_ALL,
			     NULL));
	EXPECT_EQ(-EBADMSG, lm_write1(fd, &z, 1));
	se = lm_mig_set_state(&self->r.dev, S_STOP, NULL);
	EXPECT_EQ(-EBADMSG, se);
	ASSERT_STATE(&self->r.dev, S_ERROR);
	ASSERT_REGS(&self->r.dev, &self->r.before);
	close(fd);
	ASSERT_EQ(0, lm_reset_to_running(&self->r.dev));
}

TEST_F(reject, trailing_end_record)
{
	trailing(_metadata, &self->r, self->r.good.p + self->r.end_off,
		 LM_REC_HDR_LEN, LM_CHUNK_ALL, "second END");
}

TEST_F(reject, trailing_whole_stream)
{
	trailing(_metadata, &self->r, self->r.good.p, self->r.good.len, LM_CHUNK(5),
		 "the stream twice");
}

TEST_F(reject, trailing_page)
{
	uint8_t *junk = malloc(4096);
	uint32_t seed = 99;
	int i;

	ASSERT_NE(NULL, junk);
	for (i = 0; i < 4096; i++)
		junk[i] = lm_rand(&seed);
	trailing(_metadata, &self->r, junk, 4096, LM_CHUNK_ALL,
		 "4 KiB after END");
	free(junk);
}

TEST_F(reject, random_garbage)
{
	uint8_t junk[256];
	uint32_t seed = 12345;
	unsigned int i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = lm_rand(&seed);
	if (lm_get32(junk) == LM_STREAM_MAGIC)
		junk[0] ^= 1;
	expect_rejected(_metadata, &self->r, junk, sizeof(junk), LM_CHUNK_ALL,
			EPROTO, "random bytes");
}

/* Once a write failed, every later write fails the same way. */
TEST_F(reject, error_is_sticky)
{
	uint8_t *p = malloc(self->r.good.len);
	int fd = -1, i;

	ASSERT_NE(NULL, p);
	memcpy(p, self->r.good.p, self->r.good.len);
	lm_put32(p + 8, lm_get32(p + 8) + 1);	/* engine id */
	lm_stream_reseal(p, self->r.good.len);
	ASSERT_EQ(0, lm_mig_set_state(&self->r.dev, S_RESUMING, &fd));
	EXPECT_EQ(-EPROTO, lm_write1(fd, p, LM_HDR_LEN));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(-EPROTO, lm_write1(fd, self->r.good.p, self->r.good.len));
	EXPECT_EQ(-EPROTO, lm_mig_set_state(&self->r.dev, S_STOP, NULL));
	ASSERT_STATE(&self->r.dev, S_ERROR);
	ASSERT_REGS(&self->r.dev, &self->r.before);
	close(fd);
	free(p);
	ASSERT_EQ(0, lm_reset_to_running(&self->r.dev));
	expect_good_resume(_metadata, &self->r);
}

/* Leaving RESUMING for RUNNING directly fails the same way. */
TEST_F(reject, truncated_resume_to_running)
{
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->r.dev, S_RESUMING, &fd));
	ASSERT_EQ(0, lm_feed(fd, self->r.good.p, self->r.good.len - 1,
			     LM_CHUNK_ALL, NULL));
	EXPECT_EQ(-EBADMSG, lm_mig_set_state(&self->r.dev, S_RUNNING, NULL));
	ASSERT_STATE(&self->r.dev, S_ERROR);
	ASSERT_REGS(&self->r.dev, &self->r.before);
	close(fd);
	ASSERT_EQ(0, lm_reset_to_running(&self->r.dev));
	expect_good_resume(_metadata, &self->r);
}

LM_TEST_MAIN
