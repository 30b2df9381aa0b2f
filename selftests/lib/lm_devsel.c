// SPDX-License-Identifier: GPL-2.0
/*
 * lm_devsel.c - device selection for the livemig selftests.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_devsel.h"
#include "lm_edu.h"

struct lm_devlist lm_devices;

bool lm_is_bdf(const char *s)
{
	static const char pat[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (pat[i] == 'x') {
			if (!isxdigit((unsigned char)s[i]))
				return false;
		} else if (s[i] != pat[i]) {
			return false;
		}
	}
	/* function 0-7 */
	return s[11] >= '0' && s[11] <= '7';
}

static void add(const char *bdf)
{
	int i;

	if (lm_devices.n >= LM_MAX_DEVICES || !lm_is_bdf(bdf))
		return;
	for (i = 0; i < lm_devices.n; i++)
		if (!strcasecmp(lm_devices.bdf[i], bdf))
			return;
	snprintf(lm_devices.bdf[lm_devices.n++], sizeof(lm_devices.bdf[0]),
		 "%s", bdf);
}

static int cmp_bdf(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Read a hex ID from /sys/bus/pci/devices/<bdf>/<attr>; -1 on failure. */
static long sysfs_id(const char *bdf, const char *attr)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%li", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Found on our own, only the edu functions count: the driver may also
 * drive other devices (bochs-display), which have suites of their own.
 */
static bool sysfs_is_edu(const char *bdf)
{
	return sysfs_id(bdf, "vendor") == EDU_VENDOR &&
	       sysfs_id(bdf, "device") == EDU_DEVICE;
}

static void from_sysfs(void)
{
	struct dirent *de;
	DIR *dir;

	dir = opendir("/sys/bus/pci/drivers/" LM_DRIVER_NAME);
	if (!dir)
		return;
	while ((de = readdir(dir)))
		if (lm_is_bdf(de->d_name) && sysfs_is_edu(de->d_name))
			add(de->d_name);
	closedir(dir);
	qsort(lm_devices.bdf, lm_devices.n, sizeof(lm_devices.bdf[0]),
	      cmp_bdf);
}

static void from_env(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;

	if (!copy)
		return;
	for (tok = strtok_r(copy, ", \t\n", &save); tok;
	     tok = strtok_r(NULL, ", \t\n", &save))
		add(tok);
	free(copy);
}

int lm_select_devices(int *argc, char **argv)
{
	const char *env;
	int i, j;

	memset(&lm_devices, 0, sizeof(lm_devices));
	for (i = 1, j = 1; i < *argc; i++) {
		if (lm_is_bdf(argv[i]))
			add(argv[i]);
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	if (lm_devices.n) {
		lm_devices.source = "argv";
		return lm_devices.n;
	}
	env = getenv("LIVEMIG_DEVICES");
	if (env && *env) {
		from_env(env);
		lm_devices.source = "env";
		return lm_devices.n;
	}
	from_sysfs();
	lm_devices.source = "sysfs";
	return lm_devices.n;
}

const char *lm_device(int i)
{
	if (i < 0 || i >= lm_devices.n)
		return NULL;
	return lm_devices.bdf[i];
}

void lm_driver_of(const char *bdf, char *buf, size_t len)
{
	char path[512], target[512];
	const char *slash;
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(buf, len, "%s", slash ? slash + 1 : target);
}

int lm_sysfs_write(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

int lm_bind_driver(const char *bdf, const char *driver)
{
	char path[512], drv[256];
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf);
	ret = lm_sysfs_write(path, driver);
	if (ret)
		return ret;
	lm_driver_of(bdf, drv, sizeof(drv));
	if (drv[0]) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		ret = lm_sysfs_write(path, bdf);
		if (ret)
			return ret;
	}
	/* Fails if no driver took it; the link tells. */
	lm_sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	lm_driver_of(bdf, drv, sizeof(drv));
	return strcmp(drv, driver) ? -ENODEV : 0;
}
