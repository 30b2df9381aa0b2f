/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_datafd.h - moving bytes through migration data fds.
 */
#ifndef LM_DATAFD_H
#define LM_DATAFD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable byte buffer. */
struct lm_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

void lm_buf_init(struct lm_buf *b);
void lm_buf_free(struct lm_buf *b);
int lm_buf_append(struct lm_buf *b, const void *p, size_t len);
int lm_buf_copy(struct lm_buf *dst, const struct lm_buf *src);

/*
 * How a stream is cut into read()/write() calls: @fixed bytes each, or,
 * when @fixed is 0, a pseudo-random size in [1, @max] from @seed.
 */
struct lm_chunker {
	size_t fixed;
	size_t max;
	uint32_t seed;
};

#define LM_CHUNK_ALL	((struct lm_chunker){ .fixed = (size_t)1 << 30 })
#define LM_CHUNK(n)	((struct lm_chunker){ .fixed = (n) })
#define LM_CHUNK_RANDOM(m, s) ((struct lm_chunker){ .max = (m), .seed = (s) })

size_t lm_chunk_next(struct lm_chunker *c);
uint32_t lm_rand(uint32_t *seed);

/* Why lm_drain() stopped. */
enum lm_end {
	LM_END_NONE,	/* stopped by an error */
	LM_END_TEMP,	/* read() failed with ENOMSG: PRE_COPY's temporary end */
	LM_END_PERM,	/* read() returned 0: the permanent end */
};

/*
 * Read a saving fd until it ends, appending to @b.  Returns 0 at an end
 * (*@end says which) or the negative errno of the failing read().  At
 * most @limit bytes are taken (0: no limit); -E2BIG past it, so a driver
 * that never ends cannot hang a test.
 */
int lm_drain(int fd, struct lm_buf *b, struct lm_chunker c, size_t limit,
	     int *end);

/*
 * Write @len bytes to a resuming fd in chunks.  Returns 0 when all were
 * accepted, else the negative errno of the first failing write();
 * *@done (if given) gets the number of bytes accepted.
 */
int lm_feed(int fd, const void *p, size_t len, struct lm_chunker c,
	    size_t *done);

/* poll() one fd; returns revents (0 on timeout) or a negative errno. */
int lm_poll1(int fd, short events, int timeout_ms);

/* One read()/write() returning the count or a negative errno. */
long lm_read1(int fd, void *p, size_t len);
long lm_write1(int fd, const void *p, size_t len);

/* Append the whole file @path to @b; write @len bytes to @path. 0 or -errno. */
int lm_buf_load(struct lm_buf *b, const char *path);
int lm_file_save(const char *path, const void *p, size_t len);

/*
 * Wait (up to @timeout_ms) until thread @tid of this process sleeps in
 * poll() or ppoll(): /proc names that system call for it and its state is
 * S.  The precondition of a wake-up test, checked instead of assumed
 * after a fixed sleep.  0, -ETIMEDOUT, or an errno of reading /proc.
 */
int lm_wait_in_poll(pid_t tid, int timeout_ms);

#endif /* LM_DATAFD_H */
