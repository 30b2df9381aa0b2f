// SPDX-License-Identifier: GPL-2.0
/*
 * stress_test - many save/resume cycles between the two edu devices, in
 * alternating directions, with a second thread hammering the saving FD
 * (PRECOPY_INFO, poll, stray reads) and the device (state GETs,
 * MIG_DATA_SIZE) meanwhile; the register file must arrive bit-exact every
 * cycle.  Then thousands of mutated streams (bit flips, byte edits,
 * truncations, splices, length-field edits, random segmentation) go into
 * real resuming FDs: each must either resume to exactly the source's
 * registers or be rejected, and the device must work afterwards.
 *
 * Bounded by counts (LIVEMIG_STRESS_CYCLES, LIVEMIG_MUTATIONS) so a slow
 * rig takes longer but never tests less.
 *
 * On kernels without PRE_COPY (before 6.2) the cycles save through
 * STOP_COPY and the hammer leaves out PRECOPY_INFO and MIG_DATA_SIZE,
 * which came with it.
 */
#include <poll.h>
#include <pthread.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

static unsigned int env_count(const char *name, unsigned int dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

struct hammer {
	pthread_t thread;
	struct lm_dev *dev;
	bool precopy;		/* PRE_COPY, PRECOPY_INFO, MIG_DATA_SIZE */
	int fd;
	volatile int stop;
	volatile unsigned long calls;
	int bad;		/* an answer the uAPI does not allow */
};

/* Let the hammer get a few more calls in: the phases really overlap. */
static void hammer_wait(struct hammer *h, unsigned long more)
{
	unsigned long want = h->calls + more;

	while (h->calls < want)
		usleep(100);
}

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	struct vfio_precopy_info info;
	struct pollfd pfd;
	uint64_t size;
	uint32_t state;
	int ret;

	while (!h->stop) {
		if (h->precopy) {
			ret = lm_precopy_info(h->fd, &info);
			if (ret && ret != -EINVAL && ret != -ENODEV)
				h->bad = ret;
		}
		pfd.fd = h->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) < 0)
			h->bad = -errno;
		if (lm_mig_get_state(h->dev, &state) ||
		    state > (h->precopy ? S_PRE_COPY_P2P : S_RUNNING_P2P))
			h->bad = -EIO;
		if (h->precopy && (lm_mig_data_size(h->dev, &size) || !size))
			h->bad = -EIO;
		h->calls++;
	}
	return NULL;
}

static void random_prog(struct edu_prog *p, uint32_t *seed)
{
	memset(p, 0, sizeof(*p));
	p->liveness = lm_rand(seed);
	p->fact_k = lm_rand(seed) % 40;
	p->irqfact = lm_rand(seed) & 1;
	p->irq_status = lm_rand(seed) & 0x1ff;
	p->dma_src = EDU_DMA_BUF + (lm_rand(seed) & 0xff8);
	p->dma_dst = ((uint64_t)lm_rand(seed) << 12) & EDU_DMA_MASK;
	p->dma_cnt = lm_rand(seed) & 0xfff;
}

FIXTURE(stress)
{
	struct lm_dev dev[2];
};

FIXTURE_SETUP(stress)
{
	LM_OPEN_DEV(&self->dev[0], 0);
	LM_OPEN_DEV(&self->dev[1], 1);
}

FIXTURE_TEARDOWN(stress)
{
	lm_dev_close(&self->dev[1]);
	lm_dev_close(&self->dev[0]);
}

/*
 * Save @src through PRE_COPY (STOP_COPY only, without @precopy) while a
 * hammer thread works on its FD.
 */
static int save_hammered(struct lm_dev *src, bool precopy,
			 struct lm_buf *out, uint32_t *seed, struct hammer *h)
{
	int fd, ret, end;

	ret = lm_mig_set_state(src, precopy ? S_PRE_COPY : S_STOP_COPY, &fd);
	if (ret)
		return ret;
	memset(h, 0, sizeof(*h));
	h->dev = src;
	h->precopy = precopy;
	h->fd = fd;
	if (pthread_create(&h->thread, NULL, hammer_thread, h)) {
		close(fd);
		return -EAGAIN;
	}
	hammer_wait(h, 2);
	if (precopy) {
		ret = lm_drain(fd, out, LM_CHUNK_RANDOM(97, *seed),
			       LM_STREAM_LIMIT, &end);
		hammer_wait(h, 2);
		ret = ret ?: lm_mig_set_state(src, S_STOP_COPY, NULL);
	} else {
		/* A first piece of the stream, the rest below. */
		uint8_t part[64];
		long n = lm_read1(fd, part, sizeof(part));

		ret = n < 0 ? (int)n : lm_buf_append(out, part, n);
		hammer_wait(h, 2);
	}
	hammer_wait(h, 2);
	ret = ret ?: lm_drain(fd, out, LM_CHUNK_RANDOM(61, *seed + 1),
			      LM_STREAM_LIMIT, &end);
	if (!ret && end != LM_END_PERM)
		ret = -EPROTO;
	ret = ret ?: lm_mig_set_state(src, S_STOP, NULL);
	h->stop = 1;
	pthread_join(h->thread, NULL);
	close(fd);
	return ret;
}

TEST_F_TIMEOUT(stress, save_resume_cycles, 900)
{
	unsigned int cycles = env_count("LIVEMIG_STRESS_CYCLES", 24);
	unsigned long calls = 0;
	uint32_t seed = 0x5eed;
	unsigned int i;
	bool precopy;

	LM_USE_PRECOPY(&self->dev[0], precopy);
	for (i = 0; i < cycles; i++) {
		struct lm_dev *src = &self->dev[i & 1];
		struct lm_dev *dst = &self->dev[!(i & 1)];
		struct edu_regs expect, got;
		struct edu_prog prog;
		struct hammer h;
		struct lm_buf stream;
		int werr, serr;
		char diff[512];

		random_prog(&prog, &seed);
		ASSERT_EQ(0, lm_reset_to_running(src));
		ASSERT_EQ(0, edu_program(src, &prog, NULL, &expect));
		lm_buf_init(&stream);
		ASSERT_EQ(0, save_hammered(src, precopy, &stream, &seed, &h))
			TH_LOG("cycle %u", i);
		EXPECT_EQ(0, h.bad) TH_LOG("cycle %u: hammer saw %d", i, h.bad);
		calls += h.calls;
		ASSERT_EQ(0, lm_reset_to_running(dst));
		ASSERT_EQ(0, lm_resume(dst, stream.p, stream.len,
				       LM_CHUNK_RANDOM(33, seed), &werr, &serr))
			TH_LOG("cycle %u: write %d stop %d", i, werr, serr);
		ASSERT_EQ(0, lm_mig_set_state(dst, S_RUNNING, NULL));
		ASSERT_EQ(0, edu_read_regs(dst, &got));
		EXPECT_EQ(0, edu_regs_diff(&expect, &got, diff, sizeof(diff)))
			TH_LOG("cycle %u:%s", i, diff);
		ASSERT_EQ(0, lm_mig_set_state(src, S_RUNNING, NULL));
		lm_buf_free(&stream);
	}
	TH_LOG("%u cycles, %lu concurrent calls", cycles, calls);
	EXPECT_LE(6UL * cycles, calls);
}

/* One mutation of @in into @out; returns a short name of what was done. */
static const char *mutate(const struct lm_buf *in, struct lm_buf *out,
			  uint32_t *seed)
{
	uint32_t r = lm_rand(seed);
	size_t n = in->len, pos = lm_rand(seed) % n, i;

	lm_buf_copy(out, in);
	switch (r % 6) {
	case 0:
		out->p[pos] ^= 1u << (lm_rand(seed) % 8);
		return "bitflip";
	case 1:
		out->p[pos] = lm_rand(seed);
		return "byte";
	case 2:
		out->len = pos;
		return "truncate";
	case 3:
		/* Splice: a run of the stream copied over another place. */
		for (i = 0; i < 16 && pos + i < n; i++)
			out->p[pos + i] = in->p[lm_rand(seed) % n];
		return "splice";
	case 4:
		/* Length fields: the record header after the stream header. */
		pos = 24 + 4 + (lm_rand(seed) % 4);
		if (pos < n)
			out->p[pos] = lm_rand(seed);
		return "length";
	default:
		/* Duplicate a tail: trailing garbage or a second END. */
		lm_buf_append(out, in->p + pos, n - pos);
		return "append";
	}
}

TEST_F_TIMEOUT(stress, mutated_streams, 900)
{
	unsigned int count = env_count("LIVEMIG_MUTATIONS", 2000);
	unsigned int accepted = 0, rejected = 0, i;
	struct edu_regs expect, got, base;
	struct lm_buf stream, m;
	struct edu_prog prog;
	uint32_t seed = 0xbadc0de;
	const char *stage;
	char diff[512];
	bool precopy;

	LM_USE_PRECOPY(&self->dev[0], precopy);
	random_prog(&prog, &seed);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev[0]));
	ASSERT_EQ(0, edu_program(&self->dev[0], &prog, NULL, &expect));
	lm_buf_init(&stream);
	lm_buf_init(&m);
	ASSERT_EQ(0, lm_save(&self->dev[0], precopy, LM_CHUNK_ALL, &stream,
			     &stage))
		TH_LOG("save: %s", stage);

	for (i = 0; i < count; i++) {
		const char *what = mutate(&stream, &m, &seed);
		int werr = 0, serr = 0, ret;
		uint32_t state;

		ASSERT_EQ(0, lm_reset_to_running(&self->dev[1]));
		ASSERT_EQ(0, edu_read_regs(&self->dev[1], &base));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev[1], S_STOP, NULL));
		ret = lm_resume(&self->dev[1], m.p, m.len,
				LM_CHUNK_RANDOM(200, seed + i), &werr, &serr);
		ASSERT_EQ(0, lm_mig_get_state(&self->dev[1], &state));
		if (!ret) {
			/* Accepted: it must be the source's state, exactly. */
			accepted++;
			EXPECT_EQ(S_STOP, state);
			ASSERT_EQ(0, lm_mig_set_state(&self->dev[1], S_RUNNING,
						      NULL));
			ASSERT_EQ(0, edu_read_regs(&self->dev[1], &got));
			EXPECT_EQ(0, edu_regs_diff(&expect, &got, diff,
						   sizeof(diff)))
				TH_LOG("#%u %s accepted:%s", i, what, diff);
		} else {
			/* Rejected: clean errno, ERROR, nothing applied. */
			rejected++;
			EXPECT_TRUE(ret == -EBADMSG || ret == -EPROTO)
				TH_LOG("#%u %s: %d", i, what, ret);
			EXPECT_EQ(S_ERROR, state);
			ASSERT_EQ(0, edu_read_regs(&self->dev[1], &got));
			EXPECT_EQ(0, edu_regs_diff(&base, &got, diff,
						   sizeof(diff)))
				TH_LOG("#%u %s rejected but applied:%s", i,
				       what, diff);
		}
	}
	ASSERT_EQ(0, lm_reset_to_running(&self->dev[1]));
	TH_LOG("%u mutations: %u accepted, %u rejected", count, accepted,
	       rejected);
	/* Most mutations must be caught; both outcomes must have happened. */
	EXPECT_LT(count / 2, rejected);
	lm_buf_free(&m);
	lm_buf_free(&stream);
}

LM_TEST_MAIN
