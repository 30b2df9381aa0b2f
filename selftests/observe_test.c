// SPDX-License-Identifier: GPL-2.0
/*
 * observe_test - what the driver lets a developer see of a migration, read
 * while one runs: the per-device debugfs status file and the livemig trace
 * events (Documentation/operating.md, "Watching a migration").
 *
 * What is expected comes from the uAPI and from what the test itself did,
 * never from the driver: the arcs are the ones include/uapi/linux/vfio.h
 * defines between the states the test asks for, the byte counts are the
 * bytes the test read, the PRECOPY_INFO figures are what the ioctl
 * returned, and the errno of a failed arc is the one the ioctl returned.
 *
 * Needs debugfs and tracefs mounted (the rig mounts both); a test skips
 * only after checking that the file system is indeed not mounted there.
 */
#include <fcntl.h>
#include <sys/statfs.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"
#include "lib/lm_status.h"

#define DEBUGFS		LM_DEBUGFS
#define TRACEFS		"/sys/kernel/tracing"
#define DEBUGFS_MAGIC_	0x64626720
#define TRACEFS_MAGIC_	0x74726163
#define TRACE_MAX	(1 << 20)
#define MAX_ARCS	32

static bool mounted(const char *path, long magic)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == magic;
}

static int put(const char *path, const char *s, int flags)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	if (*s && write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static unsigned long long status_num(const struct lm_dev *d, const char *key)
{
	unsigned long long v = 0;

	lm_status_u64(d, key, &v);
	return v;
}

/* "saving: produced P consumed C ..." -> P and C; false if no session. */
static bool saving_counts(const struct lm_dev *d, unsigned long long *prod,
			  unsigned long long *cons)
{
	char v[256];

	return sscanf(lm_status(d, "saving", v, sizeof(v)),
		      "produced %llu consumed %llu", prod, cons) == 2;
}

static ssize_t read_some(int fd, size_t want, size_t *total)
{
	char buf[4096];
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = read(fd, buf, want - got < sizeof(buf) ? want - got :
							      sizeof(buf));
		if (n < 0 && errno != ENOMSG)
			return -errno;
		if (n <= 0)	/* the end, for now (ENOMSG) or for good */
			break;
		got += n;
	}
	*total += got;
	return got;
}

/* ---- debugfs ----------------------------------------------------------- */

FIXTURE(debugfs) {
	struct lm_dev dev;
};

FIXTURE_SETUP(debugfs)
{
	char v[64];

	if (!mounted(DEBUGFS, DEBUGFS_MAGIC_))
		SKIP(return, "debugfs is not mounted at " DEBUGFS);
	LM_OPEN_DEV(&self->dev, 0);
	ASSERT_STRNE("", lm_status(&self->dev, "state", v, sizeof(v)))
		TH_LOG("no status file for %s in " DEBUGFS "/livemig-vfio-pci",
		       self->dev.bdf);
}

FIXTURE_TEARDOWN(debugfs)
{
	lm_dev_close(&self->dev);
}

/*
 * A STOP_COPY save watched from debugfs: the state, the saving session's
 * counters against the bytes read, the session gone after STOP, and the
 * arcs counted as the uAPI's FSM walks them (RUNNING -> RUNNING_P2P ->
 * STOP -> STOP_COPY, then STOP_COPY -> STOP).
 */
TEST_F(debugfs, status_follows_a_stop_copy_save)
{
	unsigned long long arcs0, prod, cons;
	size_t total = 0;
	char v[256];
	int fd = -1;

	EXPECT_STREQ("RUNNING", lm_status(&self->dev, "state", v, sizeof(v)));
	EXPECT_STREQ("none", lm_status(&self->dev, "saving", v, sizeof(v)));
	EXPECT_STREQ("1", lm_status(&self->dev, "open", v, sizeof(v)));
	arcs0 = status_num(&self->dev, "arcs");

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	EXPECT_STREQ("STOP_COPY", lm_status(&self->dev, "state", v, sizeof(v)));
	EXPECT_EQ(arcs0 + 3, status_num(&self->dev, "arcs"));
	ASSERT_TRUE(saving_counts(&self->dev, &prod, &cons))
		TH_LOG("saving: %s", lm_status(&self->dev, "saving", v,
						sizeof(v)));
	EXPECT_EQ(0, cons);

	ASSERT_EQ(16, read_some(fd, 16, &total));
	ASSERT_TRUE(saving_counts(&self->dev, &prod, &cons));
	EXPECT_EQ(16, cons);
	EXPECT_LE(16, prod);

	ASSERT_LE(0, read_some(fd, SIZE_MAX, &total));
	ASSERT_TRUE(saving_counts(&self->dev, &prod, &cons));
	EXPECT_EQ(total, cons);
	EXPECT_EQ(total, prod) TH_LOG("produced bytes nobody read");

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	EXPECT_STREQ("STOP", lm_status(&self->dev, "state", v, sizeof(v)));
	EXPECT_STREQ("none", lm_status(&self->dev, "saving", v, sizeof(v)));
	EXPECT_EQ(arcs0 + 4, status_num(&self->dev, "arcs"));
	close(fd);
}

/* A resuming session shows the bytes written to it. */
TEST_F(debugfs, status_counts_resume_bytes)
{
	struct lm_buf s;
	char v[256];
	unsigned long long c;
	int fd = -1;

	lm_buf_init(&s);
	ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &s, NULL));
	ASSERT_LT(100, s.len);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &fd));
	EXPECT_STREQ("RESUMING", lm_status(&self->dev, "state", v, sizeof(v)));
	ASSERT_EQ(100, write(fd, s.p, 100));
	ASSERT_EQ(1, sscanf(lm_status(&self->dev, "resuming", v, sizeof(v)),
			    "consumed %llu", &c)) TH_LOG("resuming: %s", v);
	EXPECT_EQ(100, c);
	ASSERT_EQ((ssize_t)(s.len - 100), write(fd, s.p + 100, s.len - 100));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	EXPECT_STREQ("none", lm_status(&self->dev, "resuming", v, sizeof(v)));
	close(fd);
	lm_buf_free(&s);
}

/*
 * A foreign stream is refused: the status names the last failure, with
 * the errno write() returned, and where it happened.
 */
TEST_F(debugfs, last_error_names_a_rejected_stream)
{
	static const char junk[64] = "this is not a livemig stream";
	char v[256], want[64];
	ssize_t n;
	int fd = -1;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &fd));
	n = write(fd, junk, sizeof(junk));
	ASSERT_EQ(-1, n);
	snprintf(want, sizeof(want), "%d resume stream", -errno);
	EXPECT_STREQ(want, lm_status(&self->dev, "last_error", v, sizeof(v)));
	close(fd);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	EXPECT_STREQ("none", lm_status(&self->dev, "resuming", v, sizeof(v)));
}

/* The engine's own lines: an edu function says so, with nothing held. */
TEST_F(debugfs, engine_figures_shown)
{
	char v[64];

	EXPECT_STREQ("edu", lm_status(&self->dev, "engine", v, sizeof(v)));
	EXPECT_STREQ("0x0", lm_status(&self->dev, "edu_held_doorbell", v,
				      sizeof(v)));
	EXPECT_STREQ("0", lm_status(&self->dev, "edu_dma_in_flight", v,
				    sizeof(v)));
}

/* ---- trace events ------------------------------------------------------ */

struct arc {
	char from[16];
	char to[16];
	int ret;
};

struct seen {
	struct arc arcs[MAX_ARCS];
	int narcs;
	int nsessions;
	char session[128];	/* the last session_end's text */
	int ninfo;
	unsigned long long initial, dirty;	/* the last precopy_info */
};

FIXTURE(trace) {
	struct lm_dev dev;
	char *buf;
};

FIXTURE_SETUP(trace)
{
	self->buf = NULL;
	if (!mounted(TRACEFS, TRACEFS_MAGIC_))
		SKIP(return, "tracefs is not mounted at " TRACEFS);
	LM_OPEN_DEV(&self->dev, 0);
	self->buf = malloc(TRACE_MAX);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, put(TRACEFS "/events/livemig/enable", "1", 0))
		TH_LOG("no livemig events in " TRACEFS "/events");
	ASSERT_EQ(0, put(TRACEFS "/trace", "", O_TRUNC));
}

FIXTURE_TEARDOWN(trace)
{
	put(TRACEFS "/events/livemig/enable", "0", 0);
	free(self->buf);
	lm_dev_close(&self->dev);
}

/* Parse the events of @bdf out of the trace buffer. */
static void parse_trace(char *buf, const char *bdf, struct seen *s)
{
	char *p, *e, *ev;
	char dev[32];

	memset(s, 0, sizeof(*s));
	for (p = buf; p && *p; p = e ? e + 1 : NULL) {
		e = strchr(p, '\n');
		if (e)
			*e = '\0';
		ev = strstr(p, "livemig_");
		if (!ev || *p == '#')
			continue;
		if (sscanf(ev, "livemig_arc: %31s", dev) == 1 &&
		    !strcmp(dev, bdf) && s->narcs < MAX_ARCS) {
			struct arc *a = &s->arcs[s->narcs];

			if (sscanf(ev, "livemig_arc: %*s %15s -> %15s ret=%d",
				   a->from, a->to, &a->ret) == 3)
				s->narcs++;
		} else if (sscanf(ev, "livemig_session_end: %31s", dev) == 1 &&
			   !strcmp(dev, bdf)) {
			s->nsessions++;
			snprintf(s->session, sizeof(s->session), "%s",
				 ev + strlen("livemig_session_end: ") +
				 strlen(bdf) + 1);
		} else if (sscanf(ev, "livemig_precopy_info: %31s", dev) == 1 &&
			   !strcmp(dev, bdf)) {
			s->ninfo++;
			sscanf(ev, "livemig_precopy_info: %*s initial_bytes=%llu dirty_bytes=%llu",
			       &s->initial, &s->dirty);
		}
	}
}

static void expect_arcs(struct __test_metadata *_metadata,
			const struct seen *s, const char *const *want, int n)
{
	int i;

	ASSERT_EQ(n, s->narcs);
	for (i = 0; i < n; i++) {
		char got[40];

		snprintf(got, sizeof(got), "%s->%s", s->arcs[i].from,
			 s->arcs[i].to);
		EXPECT_STREQ(want[i], got) TH_LOG("arc %d", i);
		EXPECT_EQ(0, s->arcs[i].ret) TH_LOG("arc %s", got);
	}
}

/*
 * A whole save, with PRE_COPY where the kernel has it: every arc the
 * uAPI's FSM takes, in order; the PRECOPY_INFO answer as the ioctl got
 * it; one session_end carrying the bytes the test read.
 */
TEST_F(trace, a_save_traces_arcs_info_and_session)
{
	static const char *const with_precopy[] = {
		"RUNNING->PRE_COPY", "PRE_COPY->PRE_COPY_P2P",
		"PRE_COPY_P2P->STOP_COPY", "STOP_COPY->STOP",
		"STOP->RUNNING_P2P", "RUNNING_P2P->RUNNING",
	};
	static const char *const stop_copy[] = {
		"RUNNING->RUNNING_P2P", "RUNNING_P2P->STOP",
		"STOP->STOP_COPY", "STOP_COPY->STOP",
		"STOP->RUNNING_P2P", "RUNNING_P2P->RUNNING",
	};
	struct vfio_precopy_info info = { 0 };
	char want[128];
	struct seen s;
	size_t total = 0;
	bool precopy;
	int fd = -1;

	LM_USE_PRECOPY(&self->dev, precopy);
	if (precopy) {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY, &fd));
		ASSERT_EQ(0, lm_precopy_info(fd, &info));
		ASSERT_LE(0, read_some(fd, SIZE_MAX, &total));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_PRE_COPY_P2P,
					      NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, NULL));
	} else {
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP_COPY, &fd));
	}
	ASSERT_LE(0, read_some(fd, SIZE_MAX, &total));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_STOP, NULL));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	close(fd);

	ASSERT_EQ(0, put(TRACEFS "/events/livemig/enable", "0", 0));
	ASSERT_LE(0, lm_slurp(TRACEFS "/trace", self->buf, TRACE_MAX));
	parse_trace(self->buf, self->dev.bdf, &s);

	if (precopy)
		expect_arcs(_metadata, &s, with_precopy, 6);
	else
		expect_arcs(_metadata, &s, stop_copy, 6);
	EXPECT_EQ(precopy ? 1 : 0, s.ninfo);
	if (precopy) {
		EXPECT_EQ(info.initial_bytes, s.initial);
		EXPECT_EQ(info.dirty_bytes, s.dirty);
	}
	EXPECT_EQ(1, s.nsessions);
	snprintf(want, sizeof(want), "saving produced=%zu consumed=%zu err=0",
		 total, total);
	EXPECT_STREQ(want, s.session);
}

/* An arc that fails carries the errno the user got. */
TEST_F(trace, a_failed_arc_carries_its_errno)
{
	static const char junk[64] = "this is not a livemig stream";
	struct seen s;
	int fd = -1, ret, i, found = 0;

	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RESUMING, &fd));
	ASSERT_EQ(-1, write(fd, junk, sizeof(junk)));
	ret = lm_mig_set_state(&self->dev, S_STOP, NULL);
	ASSERT_GT(0, ret);
	close(fd);
	ASSERT_EQ(0, put(TRACEFS "/events/livemig/enable", "0", 0));
	ASSERT_LE(0, lm_slurp(TRACEFS "/trace", self->buf, TRACE_MAX));
	parse_trace(self->buf, self->dev.bdf, &s);
	for (i = 0; i < s.narcs; i++) {
		if (!strcmp(s.arcs[i].from, "RESUMING") &&
		    !strcmp(s.arcs[i].to, "STOP")) {
			found++;
			EXPECT_EQ(ret, s.arcs[i].ret);
		}
	}
	EXPECT_EQ(1, found);
	EXPECT_EQ(1, s.nsessions);
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
}

LM_TEST_MAIN
