// SPDX-License-Identifier: GPL-2.0
/*
 * lm_bochs.c - helpers for QEMU's bochs-display in the tests and bench.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "lm_bochs.h"
#include "lm_devsel.h"
#include "lm_stream.h"

#define SYSFS_PCI	"/sys/bus/pci/devices/"
#define SYSFS_DRIVERS	"/sys/bus/pci/drivers/"

/* Functions bochs_bind_all() bound, to be released at the end. */
static char bound_by_us[LM_MAX_DEVICES][LM_BDF_LEN];
static int nbound_by_us;

/* Copy a PCI address, which always fits. */
static void bdf_copy(char *dst, const char *src)
{
	size_t n = strnlen(src, LM_BDF_LEN - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static long sysfs_read_ul(const char *bdf, const char *attr)
{
	char path[1024], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYSFS_PCI "%s/%s", bdf, attr);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 0);
}

bool bochs_is(const char *bdf)
{
	return sysfs_read_ul(bdf, "vendor") == BOCHS_VENDOR &&
	       sysfs_read_ul(bdf, "device") == BOCHS_DEVICE &&
	       sysfs_read_ul(bdf, "class") == BOCHS_CLASS;
}

static int cmp_bdf(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int bind_one(const char *bdf)
{
	char drv[300];
	int ret;

	lm_driver_of(bdf, drv, sizeof(drv));
	if (!strcmp(drv, LM_DRIVER_NAME))
		return 0;
	ret = lm_bind_driver(bdf, LM_DRIVER_NAME);
	if (ret)
		return ret;
	if (nbound_by_us < LM_MAX_DEVICES)
		bdf_copy(bound_by_us[nbound_by_us++], bdf);
	return 0;
}

int bochs_bind_all(char (*bdf)[LM_BDF_LEN], int max)
{
	char found[LM_MAX_DEVICES][LM_BDF_LEN];
	struct dirent *de;
	int i, n = 0, ret;
	DIR *dir;

	dir = opendir(SYSFS_PCI);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < LM_MAX_DEVICES) {
		if (lm_is_bdf(de->d_name) && bochs_is(de->d_name))
			bdf_copy(found[n++], de->d_name);
	}
	closedir(dir);
	qsort(found, n, sizeof(found[0]), cmp_bdf);
	for (i = 0; i < n && i < max; i++) {
		ret = bind_one(found[i]);
		if (ret) {
			fprintf(stderr, "# bochs: cannot bind %s to %s: %s\n",
				found[i], LM_DRIVER_NAME, strerror(-ret));
			return ret;
		}
		bdf_copy(bdf[i], found[i]);
	}
	return i;
}

void bochs_unbind_all(void)
{
	char path[1024];
	int i;

	for (i = 0; i < nbound_by_us; i++) {
		const char *bdf = bound_by_us[i];

		snprintf(path, sizeof(path), SYSFS_DRIVERS LM_DRIVER_NAME
			 "/unbind");
		lm_sysfs_write(path, bdf);
		snprintf(path, sizeof(path), SYSFS_PCI "%s/driver_override",
			 bdf);
		lm_sysfs_write(path, "\n");
	}
	nbound_by_us = 0;
}

int bochs_select_devices(int *argc, char **argv)
{
	char bdf[LM_MAX_DEVICES][LM_BDF_LEN];
	int i, n, ret;

	n = lm_select_devices(argc, argv);
	if (n && strcmp(lm_devices.source, "sysfs")) {
		/* Given explicitly: keep the bochs-display ones. */
		for (i = 0, ret = 0; i < n; i++)
			if (bochs_is(lm_devices.bdf[i]))
				bdf_copy(bdf[ret++], lm_devices.bdf[i]);
		n = ret;
	} else {
		n = bochs_bind_all(bdf, LM_MAX_DEVICES);
		if (n < 0)
			n = 0;
		lm_devices.source = "bochs-display functions";
	}
	lm_devices.n = n;
	for (i = 0; i < n; i++)
		bdf_copy(lm_devices.bdf[i], bdf[i]);
	return n;
}

int bochs_map_vram(struct lm_dev *d, uint8_t **vram, size_t *size)
{
	struct vfio_region_info info;
	void *p;
	int ret;

	ret = lm_region_info(d, VFIO_PCI_BAR0_REGION_INDEX + BOCHS_VRAM_BAR,
			     &info);
	if (ret)
		return ret;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) || !info.size)
		return -EOPNOTSUPP;
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		 info.offset);
	if (p == MAP_FAILED)
		return -errno;
	*vram = p;
	*size = info.size;
	return 0;
}

void bochs_unmap_vram(uint8_t *vram, size_t size)
{
	if (vram)
		munmap(vram, size);
}

static int rd16(struct lm_dev *d, uint64_t off, uint16_t *v)
{
	ssize_t n = lm_region_read(d, VFIO_PCI_BAR0_REGION_INDEX +
				   BOCHS_MMIO_BAR, off, v, 2);

	return n == 2 ? 0 : n < 0 ? (int)n : -EIO;
}

static int wr16(struct lm_dev *d, uint64_t off, uint16_t v)
{
	ssize_t n = lm_region_write(d, VFIO_PCI_BAR0_REGION_INDEX +
				    BOCHS_MMIO_BAR, off, &v, 2);

	return n == 2 ? 0 : n < 0 ? (int)n : -EIO;
}

int bochs_read_regs(struct lm_dev *d, struct bochs_regs *r)
{
	int i, ret = 0;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < VBE_NREGS && !ret; i++)
		ret = rd16(d, BOCHS_VBE + 2 * i, &r->vbe[i]);
	return ret ?: lm_bar_read32(d, BOCHS_MMIO_BAR, BOCHS_QEXT_BYTEORDER,
				    &r->byteorder);
}

int bochs_write_regs(struct lm_dev *d, const struct bochs_regs *r)
{
	int i, ret;

	ret = wr16(d, BOCHS_VBE + 2 * VBE_ENABLE, 0);
	ret = ret ?: lm_bar_write32(d, BOCHS_MMIO_BAR, BOCHS_QEXT_BYTEORDER,
				    r->byteorder);
	for (i = VBE_XRES; i < VBE_NREGS && !ret; i++)
		if (i != VBE_ENABLE)
			ret = wr16(d, BOCHS_VBE + 2 * i, r->vbe[i]);
	return ret ?: wr16(d, BOCHS_VBE + 2 * VBE_ENABLE, r->vbe[VBE_ENABLE]);
}

int bochs_regs_diff(const struct bochs_regs *a, const struct bochs_regs *b,
		    char *buf, size_t len)
{
	static const char *const names[VBE_NREGS] = {
		"id", "xres", "yres", "bpp", "enable", "bank", "virt_width",
		"virt_height", "x_offset", "y_offset",
	};
	size_t used = 0;
	int i, n = 0;

	if (len)
		buf[0] = '\0';
	for (i = VBE_XRES; i < VBE_NREGS; i++) {
		if (a->vbe[i] == b->vbe[i])
			continue;
		n++;
		if (used < len)
			used += snprintf(buf + used, len - used, " %s:%#x!=%#x",
					 names[i], a->vbe[i], b->vbe[i]);
	}
	if (a->byteorder != b->byteorder) {
		n++;
		if (used < len)
			snprintf(buf + used, len - used, " byteorder:%#x!=%#x",
				 a->byteorder, b->byteorder);
	}
	return n;
}

void bochs_regs_mode(struct bochs_regs *r, uint16_t w, uint16_t h,
		     uint16_t x, uint16_t y, bool be)
{
	memset(r, 0, sizeof(*r));
	r->vbe[VBE_XRES] = w;
	r->vbe[VBE_YRES] = h;
	r->vbe[VBE_BPP] = 32;
	r->vbe[VBE_VIRT_WIDTH] = w + x;
	r->vbe[VBE_VIRT_HEIGHT] = h + y;
	r->vbe[VBE_X_OFFSET] = x;
	r->vbe[VBE_Y_OFFSET] = y;
	r->vbe[VBE_BANK] = 0;
	r->vbe[VBE_ENABLE] = VBE_ENABLED | VBE_LFB_ENABLED;
	r->byteorder = be ? BOCHS_BIG_ENDIAN : BOCHS_LITTLE_ENDIAN;
}

void bochs_regs_power_on(struct bochs_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->byteorder = BOCHS_LITTLE_ENDIAN;
}

/* splitmix64 */
static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void bochs_fill_page(uint8_t *page, uint64_t seed, size_t pg)
{
	uint64_t x = seed * 0x100000001b3ULL + pg, v;
	size_t i;

	for (i = 0; i < BOCHS_PAGE; i += 8) {
		v = mix(&x);
		memcpy(page + i, &v, 8);
	}
	/* Never all zero: a pattern page must go out as data. */
	page[0] |= 1;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A record's VRAM range: non-empty, page aligned, inside VRAM. */
static int range_ok(size_t npages, uint64_t off, uint64_t len,
		    const char **why)
{
	if (off % BOCHS_PAGE || len % BOCHS_PAGE || !len ||
	    off / BOCHS_PAGE >= npages ||
	    len / BOCHS_PAGE > npages - off / BOCHS_PAGE) {
		*why = "page range outside VRAM or not page aligned";
		return -EBADMSG;
	}
	return 0;
}

static int cover(uint8_t *c, size_t npages, uint64_t off, uint64_t len,
		 const char **why)
{
	uint64_t pg;

	if (!c)
		return 0;
	if (range_ok(npages, off, len, why))
		return -EBADMSG;
	for (pg = off / BOCHS_PAGE; pg < (off + len) / BOCHS_PAGE; pg++)
		if (c[pg] < 255)
			c[pg]++;
	return 0;
}

/* Write a PAGES payload (@data) or a ZERO range (@data NULL) into @image. */
static int apply(uint8_t *image, size_t npages, uint64_t off,
		 const uint8_t *data, uint64_t len, const char **why)
{
	if (!image)
		return 0;
	if (range_ok(npages, off, len, why))
		return -EBADMSG;
	if (data)
		memcpy(image + off, data, len);
	else
		memset(image + off, 0, len);
	return 0;
}

/*
 * Walk a saved stream: count, cover (@c, optional) and apply (@image,
 * optional: PAGES data and ZERO ranges written into it in stream order);
 * @need_end: a stream without END is malformed.
 */
static int walk(const uint8_t *p, size_t len, uint8_t *c, uint8_t *image,
		size_t npages, struct bochs_sstat *st, bool need_end,
		const char **why)
{
	size_t off = LM_HDR_LEN;
	uint32_t rlen;
	uint16_t type;
	bool end = false;

	memset(st, 0, sizeof(*st));
	st->len = len;
	*why = NULL;
	if (len < LM_HDR_LEN || get32(p) != LM_STREAM_MAGIC ||
	    lm_stream_hdr_crc(p) != get32(p + 20)) {
		*why = "bad stream header";
		return -EBADMSG;
	}
	while (off < len) {
		if (end) {
			*why = "bytes after END";
			return -EBADMSG;
		}
		if (len - off < LM_REC_HDR_LEN) {
			*why = "truncated record header";
			return -EBADMSG;
		}
		type = p[off] | p[off + 1] << 8;
		rlen = get32(p + off + 4);
		if (rlen > len - off - LM_REC_HDR_LEN) {
			*why = "truncated record";
			return -EBADMSG;
		}
		if (lm_stream_rec_crc(p + off, p + off + LM_REC_HDR_LEN, rlen) !=
		    get32(p + off + 8)) {
			*why = "record checksum";
			return -EBADMSG;
		}
		if ((off == LM_HDR_LEN) != (type == LM_REC_IDENTITY) ||
		    type > 15) {
			*why = "IDENTITY not first, or twice, or a bad type";
			return -EBADMSG;
		}
		st->nrec[type]++;
		off += LM_REC_HDR_LEN;
		switch (type) {
		case LM_REC_IDENTITY:
			st->identity = p + off;
			st->identity_len = rlen;
			break;
		case LM_REC_STATE:
			st->state = p + off;
			st->state_len = rlen;
			break;
		case LM_REC_PAGES:
			if (rlen < 8) {
				*why = "PAGES record without an offset";
				return -EBADMSG;
			}
			if (cover(c, npages, get64(p + off), rlen - 8, why) ||
			    apply(image, npages, get64(p + off), p + off + 8,
				  rlen - 8, why))
				return -EBADMSG;
			st->page_bytes += rlen - 8;
			break;
		case LM_REC_ZERO:
			if (rlen != 16) {
				*why = "ZERO record of the wrong length";
				return -EBADMSG;
			}
			if (cover(c, npages, get64(p + off), get64(p + off + 8),
				  why) ||
			    apply(image, npages, get64(p + off), NULL,
				  get64(p + off + 8), why))
				return -EBADMSG;
			st->zero_bytes += get64(p + off + 8);
			break;
		case LM_REC_END:
			end = true;
			break;
		default:
			*why = "unknown record type";
			return -EBADMSG;
		}
		off += rlen;
	}
	if (!end && need_end) {
		*why = "no END";
		return -EBADMSG;
	}
	return 0;
}

int bochs_stream_walk(const uint8_t *p, size_t len, uint8_t *c,
		      size_t npages, struct bochs_sstat *st, const char **why)
{
	return walk(p, len, c, NULL, npages, st, true, why);
}

int bochs_stream_image(const uint8_t *p, size_t len, uint8_t *image,
		       size_t npages, const char **why)
{
	struct bochs_sstat st;

	return walk(p, len, NULL, image, npages, &st, false, why);
}

int bochs_drain(int fd, struct lm_buf *b, size_t chunk, size_t limit,
		int *end)
{
	long n;

	*end = LM_END_NONE;
	for (;;) {
		if (b->cap - b->len < chunk) {
			size_t cap = b->cap ? 2 * b->cap : chunk;
			uint8_t *p;

			while (cap - b->len < chunk)
				cap *= 2;
			p = realloc(b->p, cap);
			if (!p)
				return -ENOMEM;
			b->p = p;
			b->cap = cap;
		}
		n = lm_read1(fd, b->p + b->len, chunk);
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
		b->len += n;
		if (limit && b->len > limit)
			return -E2BIG;
	}
}
