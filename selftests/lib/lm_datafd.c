// SPDX-License-Identifier: GPL-2.0
/*
 * lm_datafd.c - moving bytes through migration data fds.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lm_datafd.h"

void lm_buf_init(struct lm_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void lm_buf_free(struct lm_buf *b)
{
	free(b->p);
	lm_buf_init(b);
}

static int lm_buf_reserve(struct lm_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (b->len + extra <= b->cap)
		return 0;
	while (cap < b->len + extra)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int lm_buf_append(struct lm_buf *b, const void *p, size_t len)
{
	int ret = lm_buf_reserve(b, len);

	if (ret)
		return ret;
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

int lm_buf_copy(struct lm_buf *dst, const struct lm_buf *src)
{
	lm_buf_init(dst);
	return lm_buf_append(dst, src->p, src->len);
}

uint32_t lm_rand(uint32_t *seed)
{
	/* xorshift32; a zero seed would stick at zero */
	uint32_t x = *seed ? *seed : 0x2545f491U;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return x;
}

size_t lm_chunk_next(struct lm_chunker *c)
{
	if (c->fixed)
		return c->fixed;
	if (c->max <= 1)
		return 1;
	return 1 + lm_rand(&c->seed) % c->max;
}

long lm_read1(int fd, void *p, size_t len)
{
	ssize_t n = read(fd, p, len);

	return n < 0 ? -errno : n;
}

long lm_write1(int fd, const void *p, size_t len)
{
	ssize_t n = write(fd, p, len);

	return n < 0 ? -errno : n;
}

int lm_drain(int fd, struct lm_buf *b, struct lm_chunker c, size_t limit,
	     int *end)
{
	uint8_t tmp[4096];
	size_t want;
	long n;

	*end = LM_END_NONE;
	for (;;) {
		want = lm_chunk_next(&c);
		if (want > sizeof(tmp))
			want = sizeof(tmp);
		n = lm_read1(fd, tmp, want);
		if (n == -ENOMSG) {
			*end = LM_END_TEMP;
			return 0;
		}
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		if (n == 0) {
			*end = LM_END_PERM;
			return 0;
		}
		if ((size_t)n > want)
			return -EOVERFLOW;
		if (lm_buf_append(b, tmp, n))
			return -ENOMEM;
		if (limit && b->len > limit)
			return -E2BIG;
	}
}

int lm_feed(int fd, const void *p, size_t len, struct lm_chunker c,
	    size_t *done)
{
	const uint8_t *s = p;
	size_t off = 0, want;
	long n;
	int ret = 0;

	while (off < len) {
		want = lm_chunk_next(&c);
		if (want > len - off)
			want = len - off;
		n = lm_write1(fd, s + off, want);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			ret = n;
			break;
		}
		if (n == 0 || (size_t)n > want) {
			ret = -EIO;
			break;
		}
		off += n;
	}
	if (done)
		*done = off;
	return ret;
}

int lm_poll1(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? pfd.revents : 0;
}

int lm_buf_load(struct lm_buf *b, const char *path)
{
	char chunk[65536];
	FILE *f = fopen(path, "rb");
	size_t n;
	int ret = 0;

	if (!f)
		return -errno;
	while (!ret && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ret = lm_buf_append(b, chunk, n);
	fclose(f);
	return ret;
}

int lm_file_save(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	if (fwrite(p, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

/* The first line of /proc/self/task/@tid/@what into @buf. 0 or -errno. */
static int lm_task_line(pid_t tid, const char *what, char *buf, int len)
{
	char path[64];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, what);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		ret = -EIO;
	fclose(f);
	return ret;
}

/* 1 if thread @tid sleeps in poll()/ppoll() now, 0 if not, or -errno. */
static int lm_in_poll(pid_t tid)
{
	char buf[256], *p;
	long nr;
	int ret;

	ret = lm_task_line(tid, "syscall", buf, sizeof(buf));
	if (ret)
		return ret;
	/* "running" while on a CPU, else the number and its arguments. */
	nr = strtol(buf, &p, 10);
	if (p == buf || (nr != SYS_ppoll
#ifdef SYS_poll
			 && nr != SYS_poll
#endif
			 ))
		return 0;
	ret = lm_task_line(tid, "stat", buf, sizeof(buf));
	if (ret)
		return ret;
	/* "tid (comm) S ...": the state follows the last ')'. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

int lm_wait_in_poll(pid_t tid, int timeout_ms)
{
	struct timespec t0, t;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ret = lm_in_poll(tid);
		if (ret)
			return ret < 0 ? ret : 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return -ETIMEDOUT;
		usleep(1000);
	}
}
