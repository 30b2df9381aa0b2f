// SPDX-License-Identifier: GPL-2.0
/*
 * lm_status.c - read the driver's debugfs status file (lm_status.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lm_status.h"

#define LM_STATUS_MAX	4096

ssize_t lm_slurp(const char *path, char *buf, size_t max)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < max - 1) {
		n = read(fd, buf + len, max - 1 - len);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (!n)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

const char *lm_status(const struct lm_dev *d, const char *key, char *out,
		      size_t outlen)
{
	char path[256], buf[LM_STATUS_MAX], *p, *e;
	size_t klen = strlen(key);

	out[0] = '\0';
	snprintf(path, sizeof(path), LM_DEBUGFS "/livemig-vfio-pci/%s/status",
		 d->bdf);
	if (lm_slurp(path, buf, sizeof(buf)) < 0)
		return out;
	for (p = buf; p && *p; p = e ? e + 1 : NULL) {
		e = strchr(p, '\n');
		if (e)
			*e = '\0';
		if (!strncmp(p, key, klen) && p[klen] == ':' &&
		    p[klen + 1] == ' ') {
			snprintf(out, outlen, "%s", p + klen + 2);
			break;
		}
	}
	return out;
}

int lm_status_u64(const struct lm_dev *d, const char *key,
		  unsigned long long *v)
{
	char s[256], *end;

	if (!*lm_status(d, key, s, sizeof(s)))
		return -ENOENT;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s ? -ENOENT : 0;
}
