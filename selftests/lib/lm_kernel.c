// SPDX-License-Identifier: GPL-2.0
/*
 * lm_kernel.c - what the running kernel's VFIO offers, from its release
 * and, for DMA logging, its configuration and symbols.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "lm_kernel.h"

/* PRE_COPY and MIG_DATA_SIZE came together, in 6.2. */
#define PRECOPY_MAJOR	6
#define PRECOPY_MINOR	2
/* "vfio: Move iova_bitmap into iommufd" (6.7). */
#define IOVA_BITMAP_MOVED_MAJOR	6
#define IOVA_BITMAP_MOVED_MINOR	7

static int parse_num(const char **s, int *out)
{
	const char *p = *s;
	long v = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p++ - '0');
		if (v > INT_MAX)
			return -EINVAL;
	}
	*out = (int)v;
	*s = p;
	return 0;
}

int lm_kver_parse(const char *release, struct lm_kver *kv)
{
	const char *p = release;

	memset(kv, 0, sizeof(*kv));
	snprintf(kv->release, sizeof(kv->release), "%s", release);
	if (parse_num(&p, &kv->major) || *p++ != '.' ||
	    parse_num(&p, &kv->minor))
		return -EINVAL;
	kv->parsed = true;
	return 0;
}

const struct lm_kver *lm_kver(void)
{
	static struct lm_kver kv;
	static bool done;
	struct utsname u;

	if (!done) {
		if (uname(&u))
			snprintf(u.release, sizeof(u.release), "(uname: %s)",
				 strerror(errno));
		lm_kver_parse(u.release, &kv);
		done = true;
	}
	return &kv;
}

bool lm_kver_at_least(int major, int minor)
{
	const struct lm_kver *kv = lm_kver();

	if (!kv->parsed)
		return true;
	return kv->major > major || (kv->major == major && kv->minor >= minor);
}

static void say(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The common part of the PRE_COPY and MIG_DATA_SIZE answers. */
static bool since_6_2(const char *what, char *why, size_t len)
{
	const struct lm_kver *kv = lm_kver();

	if (!kv->parsed) {
		say(why, len, "kernel %s: release not understood, assuming %s",
		    kv->release, what);
		return true;
	}
	if (lm_kver_at_least(PRECOPY_MAJOR, PRECOPY_MINOR)) {
		say(why, len, "kernel %s has %s", kv->release, what);
		return true;
	}
	say(why, len, "kernel %s: VFIO has no %s before %d.%d", kv->release,
	    what, PRECOPY_MAJOR, PRECOPY_MINOR);
	return false;
}

bool lm_kernel_has_precopy(char *why, size_t len)
{
	return since_6_2("PRE_COPY", why, len);
}

bool lm_kernel_has_data_size(char *why, size_t len)
{
	return since_6_2("MIG_DATA_SIZE", why, len);
}

/* ---- DMA logging: CONFIG_IOMMUFD_DRIVER ---------------------------------- */

/*
 * Look for CONFIG_IOMMUFD_DRIVER in one config file (a .gz through
 * gzip).  1 "=y", 0 absent or not set, -ENOENT if the file cannot be
 * read.
 */
static int config_has_iommufd_driver(const char *path, bool gz)
{
	static const char want[] = "CONFIG_IOMMUFD_DRIVER=";
	char line[512], cmd[PATH_MAX + 32];
	int found = 0;
	FILE *f;

	if (gz) {
		f = fopen(path, "r");
		if (!f)
			return -ENOENT;
		fclose(f);
		snprintf(cmd, sizeof(cmd), "gzip -dc '%s' 2>/dev/null", path);
		f = popen(cmd, "r");
	} else {
		f = fopen(path, "r");
	}
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, sizeof(want) - 1)) {
			found = line[sizeof(want) - 1] == 'y';
			break;
		}
	}
	if (gz) {
		/* No config at all in the stream: not a verdict. */
		if (pclose(f) && !found)
			return -ENOENT;
	} else {
		fclose(f);
	}
	return found;
}

/*
 * The running kernel's config: /boot/config-<release> (Debian's), the
 * headers' .config, /proc/config.gz (CONFIG_IKCONFIG_PROC).  In the rig
 * the host's root is the guest's, so the first two hold for a kernel
 * installed on the host; a kernel unpacked elsewhere (scripts/kernels)
 * may have none, then the symbols decide.
 */
static int config_verdict(const char *release, char *src, size_t len)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "/boot/config-%s", release);
	ret = config_has_iommufd_driver(path, false);
	if (ret == -ENOENT) {
		snprintf(path, sizeof(path), "/lib/modules/%s/build/.config",
			 release);
		ret = config_has_iommufd_driver(path, false);
	}
	if (ret == -ENOENT) {
		snprintf(path, sizeof(path), "/proc/config.gz");
		ret = config_has_iommufd_driver(path, true);
	}
	if (ret >= 0)
		snprintf(src, len, "%s", path);
	return ret;
}

/*
 * The running kernel's own word: iova_bitmap_for_each() is built into
 * the kernel exactly when CONFIG_IOMMUFD_DRIVER is (6.7 on).  1 present,
 * 0 absent, -ENOENT if /proc/kallsyms cannot be read or is empty.
 */
static int kallsyms_verdict(void)
{
	char line[512], name[256];
	int found = 0, lines = 0;
	FILE *f;

	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (sscanf(line, "%*s %*s %255s", name) == 1 &&
		    !strcmp(name, "iova_bitmap_for_each")) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return lines ? found : -ENOENT;
}

static int dma_logging(char *why, size_t len)
{
	const struct lm_kver *kv = lm_kver();
	char src[PATH_MAX] = "";
	int cfg, sym;

	if (kv->parsed && !lm_kver_at_least(IOVA_BITMAP_MOVED_MAJOR,
					    IOVA_BITMAP_MOVED_MINOR)) {
		say(why, len, "kernel %s: vfio reports DMA logs through its own iova_bitmap before %d.%d",
		    kv->release, IOVA_BITMAP_MOVED_MAJOR,
		    IOVA_BITMAP_MOVED_MINOR);
		return 1;
	}
	cfg = config_verdict(kv->release, src, sizeof(src));
	sym = kallsyms_verdict();
	if (cfg < 0 && sym < 0) {
		say(why, len, "kernel %s: no config and no /proc/kallsyms to tell CONFIG_IOMMUFD_DRIVER by",
		    kv->release);
		return -ENOENT;
	}
	if (cfg >= 0 && sym >= 0 && cfg != sym) {
		say(why, len, "kernel %s: %s says CONFIG_IOMMUFD_DRIVER is %s, /proc/kallsyms %s iova_bitmap_for_each",
		    kv->release, src, cfg ? "set" : "not set",
		    sym ? "has" : "lacks");
		return -EPROTO;
	}
	if (cfg < 0)
		snprintf(src, sizeof(src), "/proc/kallsyms");
	else if (sym >= 0)
		snprintf(src + strlen(src), sizeof(src) - strlen(src),
			 " and /proc/kallsyms");
	if (cfg > 0 || sym > 0) {
		say(why, len, "kernel %s has CONFIG_IOMMUFD_DRIVER (%s)",
		    kv->release, src);
		return 1;
	}
	say(why, len, "kernel %s without CONFIG_IOMMUFD_DRIVER (%s)",
	    kv->release, src);
	return 0;
}

/* Reading the config and /proc/kallsyms is slow under TCG: once. */
int lm_kernel_dma_logging(char *why, size_t len)
{
	static char saved[PATH_MAX + 160];
	static bool done;
	static int ret;

	if (!done) {
		ret = dma_logging(saved, sizeof(saved));
		done = true;
	}
	say(why, len, "%s", saved);
	return ret;
}
