// SPDX-License-Identifier: GPL-2.0
/*
 * migration_lifetime_test - object lifetimes around migration: a data fd
 * closed mid-session, the device closed mid-session (then reopened
 * RUNNING), a data fd outliving the device and its group, fd and module
 * reference leaks, pollers woken when their session dies, and threads
 * racing state changes, reads, polls, PRECOPY_INFO and closes for a
 * bounded time with a consistent device at the end.
 *
 * On kernels without PRE_COPY (before 6.2) the PRE_COPY cases are
 * skipped, and where PRE_COPY is only the way a test saves or holds a
 * data fd, STOP_COPY takes its place.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/lm_test.h"

/* The PRE_COPY states last: the race leaves them out without PRE_COPY. */
static const uint32_t settable[] = {
	S_STOP, S_RUNNING, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P,
	S_PRE_COPY, S_PRE_COPY_P2P,
};
#define N_SETTABLE_NO_PRECOPY	5

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* A full save from RUNNING works and yields a well-formed stream. */
static void expect_migratable(struct __test_metadata *_metadata,
			      struct lm_dev *d)
{
	struct lm_sview *v = calloc(1, sizeof(*v));
	const char *stage = "";
	struct lm_buf s;
	bool precopy;
	int ret;

	ASSERT_NE(NULL, v);
	LM_USE_PRECOPY(d, precopy);
	lm_buf_init(&s);
	ret = lm_save(d, precopy, LM_CHUNK_ALL, &s, &stage);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", stage, strerror(-ret));
	EXPECT_EQ(0, lm_stream_view(s.p, s.len, v)) TH_LOG("%s", v->why);
	ASSERT_EQ(0, lm_mig_set_state(d, S_RUNNING, NULL));
	lm_buf_free(&s);
	free(v);
}

/* ---- per-state lifetime cases ----------------------------------------- */

struct life {
	struct lm_dev dev;
	struct lm_buf own;
	int fd;
	int nfds;
};

/* Open, note the fd count, enter @state and move some data. */
static void life_init(struct __test_metadata *_metadata, struct life *self,
		      uint32_t state)
{
	uint8_t b[8];

	self->fd = -1;
	lm_buf_init(&self->own);
	LM_OPEN_DEV(&self->dev, 0);
	LM_NEED_STATE(&self->dev, state);
	ASSERT_EQ(0, lm_save(&self->dev, 0, LM_CHUNK_ALL, &self->own, NULL));
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	self->nfds = lm_count_fds();
	ASSERT_LT(0, self->nfds);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, state, &self->fd));
	if (state == S_RESUMING) {
		ASSERT_EQ(0, lm_feed(self->fd, self->own.p, self->own.len / 2,
				     LM_CHUNK_ALL, NULL));
	} else if (self->fd >= 0) {
		ASSERT_EQ(8, lm_read1(self->fd, b, sizeof(b)));
	}
}

static void life_fini(struct life *self)
{
	lm_close(&self->fd);
	lm_buf_free(&self->own);
	lm_dev_close(&self->dev);
}

/* Every state, with or without a session. */
FIXTURE(life)
{
	struct life l;
};

FIXTURE_VARIANT(life)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(life, stop) { .state = S_STOP };
FIXTURE_VARIANT_ADD(life, running) { .state = S_RUNNING };
FIXTURE_VARIANT_ADD(life, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(life, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(life, running_p2p) { .state = S_RUNNING_P2P };
FIXTURE_VARIANT_ADD(life, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(life, pre_copy_p2p) { .state = S_PRE_COPY_P2P };

FIXTURE_SETUP(life)
{
	life_init(_metadata, &self->l, variant->state);
}

FIXTURE_TEARDOWN(life)
{
	life_fini(&self->l);
}

/* The states with a data session. */
FIXTURE(session)
{
	struct life l;
};

FIXTURE_VARIANT(session)
{
	uint32_t state;
};

FIXTURE_VARIANT_ADD(session, stop_copy) { .state = S_STOP_COPY };
FIXTURE_VARIANT_ADD(session, resuming) { .state = S_RESUMING };
FIXTURE_VARIANT_ADD(session, pre_copy) { .state = S_PRE_COPY };
FIXTURE_VARIANT_ADD(session, pre_copy_p2p) { .state = S_PRE_COPY_P2P };

FIXTURE_SETUP(session)
{
	life_init(_metadata, &self->l, variant->state);
	if (_metadata->exit_code == KSFT_SKIP)
		return;
	ASSERT_LE(0, self->l.fd);
}

FIXTURE_TEARDOWN(session)
{
	life_fini(&self->l);
}

TEST_F(session, close_data_fd_mid_session)
{
	int nfd = -1;

	lm_close(&self->l.fd);
	ASSERT_STATE(&self->l.dev, variant->state);
	if (variant->state == S_RESUMING) {
		/* Half a stream, and the writer went away: leaving RESUMING
		 * fails cleanly and reset recovers.
		 */
		EXPECT_EQ(-EBADMSG, lm_mig_set_state(&self->l.dev, S_STOP, NULL));
		ASSERT_STATE(&self->l.dev, S_ERROR);
		ASSERT_EQ(0, lm_reset_to_running(&self->l.dev));
	} else {
		if (variant->state != S_STOP_COPY) {
			/* The session goes on without its fd. */
			ASSERT_EQ(0, lm_mig_set_state(&self->l.dev, S_STOP_COPY,
						      &nfd));
			EXPECT_EQ(-1, nfd);
			lm_close(&nfd);
		}
		ASSERT_EQ(0, lm_mig_set_state(&self->l.dev, S_STOP, NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->l.dev, S_RUNNING, NULL));
	}
	expect_migratable(_metadata, &self->l.dev);
	EXPECT_EQ(self->l.nfds, lm_count_fds());
}

TEST_F(life, close_device_mid_session)
{
	uint8_t b[8] = { 0 };
	int rev;

	lm_dev_close_device(&self->l.dev);
	if (self->l.fd >= 0) {
		if (variant->state == S_RESUMING) {
			EXPECT_EQ(-ENODEV, lm_write1(self->l.fd, b, sizeof(b)));
		} else {
			EXPECT_EQ(-ENODEV, lm_read1(self->l.fd, b, sizeof(b)));
		}
		rev = lm_poll1(self->l.fd, POLLIN | POLLOUT, 0);
		EXPECT_TRUE(rev > 0 && (rev & POLLERR)) TH_LOG("revents %#x",
							       rev);
	}
	ASSERT_EQ(0, lm_dev_open_device(&self->l.dev));
	ASSERT_EQ(0, lm_pci_enable(&self->l.dev));
	ASSERT_STATE(&self->l.dev, S_RUNNING);
	expect_migratable(_metadata, &self->l.dev);
	lm_close(&self->l.fd);
	EXPECT_EQ(self->l.nfds, lm_count_fds());
}

/* The data fd outlives the device fd, the group and the container. */
TEST_F(session, fd_outlives_everything)
{
	uint8_t b[8] = { 0 };
	int rev;

	lm_dev_close(&self->l.dev);
	if (variant->state == S_RESUMING) {
		EXPECT_EQ(-ENODEV, lm_write1(self->l.fd, b, sizeof(b)));
	} else {
		EXPECT_EQ(-ENODEV, lm_read1(self->l.fd, b, sizeof(b)));
	}
	rev = lm_poll1(self->l.fd, POLLIN | POLLOUT, 0);
	EXPECT_TRUE(rev > 0 && (rev & POLLERR)) TH_LOG("revents %#x", rev);
	if (variant->state != S_RESUMING && variant->state != S_STOP_COPY) {
		struct vfio_precopy_info info;

		EXPECT_NE(0, lm_precopy_info(self->l.fd, &info));
	}
	lm_close(&self->l.fd);
	ASSERT_EQ(0, lm_dev_open(&self->l.dev, lm_device(0)));
	ASSERT_EQ(0, lm_pci_enable(&self->l.dev));
	ASSERT_STATE(&self->l.dev, S_RUNNING);
}

/* A poller sleeping on the fd wakes when the device goes away. */
struct poller {
	int fd;
	short events;
	int revents;
	volatile pid_t tid;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;

	p->tid = syscall(SYS_gettid);

	/* Wait for what never comes in this session: more PRE_COPY data,
	 * or for a resuming fd, input.
	 */
	p->revents = lm_poll1(p->fd, p->events, LM_DEV_WAIT_MS);
	return NULL;
}

TEST_F(session, poller_woken_by_close)
{
	struct poller p = { .revents = -1 };
	struct lm_buf b;
	pthread_t t;
	int end;

	lm_buf_init(&b);
	if (variant->state == S_PRE_COPY || variant->state == S_PRE_COPY_P2P) {
		/* At the temporary end nothing is readable: poll sleeps. */
		ASSERT_EQ(0, lm_drain(self->l.fd, &b, LM_CHUNK_ALL,
				      LM_STREAM_LIMIT, &end));
		ASSERT_EQ(LM_END_TEMP, end);
	}
	p.fd = self->l.fd;
	/* STOP_COPY is readable at once and RESUMING writable: poll them for
	 * the other direction so that the thread sleeps.
	 */
	p.events = variant->state == S_RESUMING ? POLLIN :
		   variant->state == S_STOP_COPY ? POLLOUT : POLLIN;
	ASSERT_EQ(0, pthread_create(&t, NULL, poll_thread, &p));
	while (!p.tid)
		usleep(1000);
	/* The precondition: the thread sleeps inside poll() on the fd. */
	EXPECT_EQ(0, lm_wait_in_poll(p.tid, LM_DEV_WAIT_MS / 2))
		TH_LOG("the poller never went to sleep in poll()");
	lm_dev_close_device(&self->l.dev);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_TRUE(p.revents > 0 && (p.revents & POLLERR))
		TH_LOG("revents %d", p.revents);
	lm_buf_free(&b);
}

/* ---- leaks ------------------------------------------------------------- */

FIXTURE(leak)
{
	struct lm_dev dev;
};

FIXTURE_SETUP(leak)
{
	LM_OPEN_DEV(&self->dev, 0);
}

FIXTURE_TEARDOWN(leak)
{
	lm_dev_close(&self->dev);
}

TEST_F(leak, no_fd_leak_over_sessions)
{
	struct lm_buf s;
	int before, i, we, se;
	bool precopy;

	LM_USE_PRECOPY(&self->dev, precopy);
	lm_buf_init(&s);
	before = lm_count_fds();
	for (i = 0; i < 10; i++) {
		lm_buf_free(&s);
		ASSERT_EQ(0, lm_save(&self->dev, precopy && (i & 1),
				     LM_CHUNK_ALL, &s, NULL));
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
		lm_resume(&self->dev, s.p, s.len, LM_CHUNK_ALL, &we, &se);
		ASSERT_EQ(0, se);
		ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	}
	EXPECT_EQ(before, lm_count_fds());
	lm_buf_free(&s);
}

static int read_refcnt(void)
{
	char buf[32];
	int fd, n;

	fd = open("/sys/module/livemig_vfio_pci/refcnt", O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

/*
 * Module references: an open device pins the module, so does a data fd
 * that outlives it (its code runs on every read), and all is given back.
 */
TEST_F(leak, module_refcount)
{
	int base, with_dev, with_fd, fd = -1;
	bool precopy;

	if (read_refcnt() < 0)
		SKIP(return, "no /sys/module/livemig_vfio_pci/refcnt");
	LM_USE_PRECOPY(&self->dev, precopy);
	lm_dev_close_device(&self->dev);
	base = read_refcnt();
	ASSERT_EQ(0, lm_dev_open_device(&self->dev));
	with_dev = read_refcnt();
	EXPECT_LT(base, with_dev);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev,
				      precopy ? S_PRE_COPY : S_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	lm_dev_close_device(&self->dev);
	with_fd = read_refcnt();
	EXPECT_LT(base, with_fd) TH_LOG("a data fd does not pin the module");
	close(fd);
	EXPECT_EQ(base, read_refcnt());
	ASSERT_EQ(0, lm_dev_open_device(&self->dev));
}

/* ---- racing threads ----------------------------------------------------- */

#define RACE_MS		3000
#define RACE_MAX_OPS	20000

struct race {
	struct lm_dev *dev;
	bool precopy;		/* the kernel has PRE_COPY (and DATA_SIZE) */
	pthread_mutex_t lock;
	int fd;			/* the current session's fd, -1 if none */
	atomic_int stop;
	atomic_int bad;		/* unexpected results */
	atomic_long ops;
	char why[256];
};

static void race_bad(struct race *r, const char *op, long ret)
{
	if (atomic_fetch_add(&r->bad, 1) == 0)
		snprintf(r->why, sizeof(r->why), "%s returned %ld (%s)", op,
			 ret, ret < 0 ? strerror(-ret) : "");
}

static int race_dup(struct race *r)
{
	int fd = -1;

	pthread_mutex_lock(&r->lock);
	if (r->fd >= 0)
		fd = dup(r->fd);
	pthread_mutex_unlock(&r->lock);
	return fd;
}

static void race_publish(struct race *r, int fd)
{
	pthread_mutex_lock(&r->lock);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = fd;
	pthread_mutex_unlock(&r->lock);
}

static bool race_done(struct race *r, long t_end)
{
	return atomic_load(&r->stop) || now_ms() > t_end ||
	       atomic_fetch_add(&r->ops, 1) > RACE_MAX_OPS;
}

/* Only this thread changes the state, so it knows which arcs exist. */
static void *race_state(void *arg)
{
	struct race *r = arg;
	long t_end = now_ms() + RACE_MS;
	uint32_t cur = S_RUNNING, to, seed = 4242;
	unsigned int n = r->precopy ? ARRAY_SIZE(settable) :
				      N_SETTABLE_NO_PRECOPY;
	int ret, fd;

	while (!race_done(r, t_end)) {
		uint32_t x = lm_rand(&seed);

		if (x % 16 == 0 || cur == S_ERROR) {
			ret = lm_dev_reset(r->dev);
			if (ret)
				race_bad(r, "RESET", ret);
			cur = S_RUNNING;
			continue;
		}
		if (x % 16 == 1) {
			race_publish(r, -1);	/* the user closes its fd */
			continue;
		}
		to = settable[(x >> 8) % n];
		/* Refused arcs are the matrix test's business. */
		if (cur == S_STOP_COPY &&
		    (to == S_PRE_COPY || to == S_PRE_COPY_P2P))
			continue;
		ret = lm_mig_set_state(r->dev, to, &fd);
		if (!ret) {
			cur = to;
			if (fd >= 0)
				race_publish(r, fd);
		} else if (cur == S_RESUMING &&
			   (ret == -EBADMSG || ret == -EPROTO)) {
			/* Leaving RESUMING with a junk stream. */
			cur = S_ERROR;
		} else {
			uint32_t st;

			race_bad(r, "SET_STATE", ret);
			if (!lm_mig_get_state(r->dev, &st))
				cur = st;
		}
	}
	atomic_store(&r->stop, 1);
	return NULL;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	long t_end = now_ms() + RACE_MS + 1000;
	uint8_t buf[256];
	long n;
	int fd;

	while (!race_done(r, t_end)) {
		fd = race_dup(r);
		if (fd < 0) {
			usleep(100);
			continue;
		}
		n = lm_read1(fd, buf, sizeof(buf));
		if (n < 0 && n != -ENOMSG && n != -ENODEV && n != -EBADF)
			race_bad(r, "read", n);
		n = lm_write1(fd, buf, sizeof(buf) / 4);
		if (n < 0 && n != -ENODEV && n != -EBADF && n != -EBADMSG &&
		    n != -EPROTO)
			race_bad(r, "write", n);
		n = lm_poll1(fd, POLLIN | POLLOUT, 0);
		if (n < 0)
			race_bad(r, "poll", n);
		close(fd);
	}
	return NULL;
}

static void *race_info(void *arg)
{
	struct race *r = arg;
	long t_end = now_ms() + RACE_MS + 1000;
	struct vfio_precopy_info info;
	uint64_t size;
	uint32_t st;
	int fd, ret;

	while (!race_done(r, t_end)) {
		ret = lm_mig_get_state(r->dev, &st);
		if (ret || st >= VFIO_DEVICE_STATE_NR ||
		    (!r->precopy && lm_state_is_precopy(st)))
			race_bad(r, "GET_STATE", ret ? ret : (long)st);
		/* PRECOPY_INFO and MIG_DATA_SIZE came with PRE_COPY (6.2). */
		if (!r->precopy)
			continue;
		ret = lm_mig_data_size(r->dev, &size);
		if (ret || !size)
			race_bad(r, "MIG_DATA_SIZE", ret);
		fd = race_dup(r);
		if (fd < 0)
			continue;
		ret = lm_precopy_info(fd, &info);
		if (ret && ret != -EINVAL && ret != -ENODEV)
			race_bad(r, "PRECOPY_INFO", ret);
		close(fd);
	}
	return NULL;
}

FIXTURE(race)
{
	struct lm_dev dev;
};

FIXTURE_SETUP(race)
{
	LM_OPEN_DEV(&self->dev, 0);
}

FIXTURE_TEARDOWN(race)
{
	lm_dev_close(&self->dev);
}

TEST_F_TIMEOUT(race, threads_hammer_one_device, 300)
{
	struct race r = { .dev = &self->dev, .fd = -1 };
	pthread_t t[4];
	struct edu_regs pon;
	uint32_t st;
	int before, i;

	LM_USE_PRECOPY(&self->dev, r.precopy);
	before = lm_count_fds();
	pthread_mutex_init(&r.lock, NULL);
	ASSERT_EQ(0, pthread_create(&t[0], NULL, race_state, &r));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, race_reader, &r));
	ASSERT_EQ(0, pthread_create(&t[2], NULL, race_reader, &r));
	ASSERT_EQ(0, pthread_create(&t[3], NULL, race_info, &r));
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%ld operations", (long)atomic_load(&r.ops));
	EXPECT_EQ(0, atomic_load(&r.bad)) TH_LOG("%s", r.why);

	/* Whatever the threads left, the device is in a valid state... */
	ASSERT_EQ(0, lm_mig_get_state(&self->dev, &st));
	ASSERT_GT((uint32_t)VFIO_DEVICE_STATE_NR, st);
	race_publish(&r, -1);
	/* ...reset brings it home, and it works and migrates. */
	ASSERT_EQ(0, lm_reset_to_running(&self->dev));
	edu_regs_power_on(&pon);
	ASSERT_REGS(&self->dev, &pon);
	expect_migratable(_metadata, &self->dev);
	EXPECT_EQ(before, lm_count_fds());
	pthread_mutex_destroy(&r.lock);
}

/*
 * Two processes: one holds a data fd (inherited), the other closes.
 * Without PRE_COPY the session is a STOP_COPY one, read to its end.
 */
TEST_F(race, forked_holder)
{
	int fd = -1, status;
	bool precopy;
	pid_t pid;
	uint8_t b[8];

	LM_USE_PRECOPY(&self->dev, precopy);
	ASSERT_EQ(0, lm_mig_set_state(&self->dev,
				      precopy ? S_PRE_COPY : S_STOP_COPY, &fd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child reads from the inherited fd until it dies. */
		long n;
		int i;

		for (i = 0; i < 100000; i++) {
			n = lm_read1(fd, b, 1);
			if (n == -ENODEV)
				_exit(0);
			if (n < 0 && n != -ENOMSG)
				_exit(1);
			usleep(100);
		}
		_exit(2);
	}
	usleep(100000);
	/* The session ends under the child's feet. */
	ASSERT_EQ(0, lm_mig_set_state(&self->dev, S_RUNNING, NULL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(fd);
	expect_migratable(_metadata, &self->dev);
}

LM_TEST_MAIN
