/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_bochs.h - QEMU's "bochs-display" (hw/display/bochs-display.c) as the
 * tests and the benchmark see it: finding and binding the functions,
 * mapping VRAM, the register file, and a stream walker that copes with
 * VRAM-sized streams.
 */
#ifndef LM_BOCHS_H
#define LM_BOCHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lm_datafd.h"
#include "lm_vfio.h"

#define BOCHS_VENDOR		0x1234
#define BOCHS_DEVICE		0x1111
#define BOCHS_CLASS		0x038000	/* display, other */

#define BOCHS_VRAM_BAR		0
#define BOCHS_MMIO_BAR		2
#define BOCHS_PAGE		4096
#define BOCHS_EDID_LEN		256
#define BOCHS_VBE		0x500		/* register i at 0x500 + 2i */
#define BOCHS_QEXT_BYTEORDER	0x604
#define BOCHS_LITTLE_ENDIAN	0x1e1e1e1eU
#define BOCHS_BIG_ENDIAN	0xbebebebeU

#define VBE_ID			0x0
#define VBE_XRES		0x1
#define VBE_YRES		0x2
#define VBE_BPP			0x3
#define VBE_ENABLE		0x4
#define VBE_BANK		0x5
#define VBE_VIRT_WIDTH		0x6
#define VBE_VIRT_HEIGHT		0x7
#define VBE_X_OFFSET		0x8
#define VBE_Y_OFFSET		0x9
#define VBE_NREGS		0xa
#define VBE_VIDEO_MEMORY_64K	0xa		/* read-only */
#define VBE_ID5			0xb0c5

#define VBE_ENABLED		0x01
#define VBE_LFB_ENABLED		0x40

struct bochs_regs {
	uint16_t vbe[VBE_NREGS];	/* [VBE_ID] reads VBE_ID5 */
	uint32_t byteorder;
};

/* Is the function at @bdf a bochs-display (not a std VGA)? */
bool bochs_is(const char *bdf);

/*
 * Find every bochs-display function, sorted; bind each one that is not
 * bound to the livemig driver yet (driver_override, then a probe).
 * Returns how many are bound to it, or a negative errno.  The addresses
 * go to @bdf (room for @max); bochs_unbind_all() undoes what was bound.
 */
int bochs_bind_all(char (*bdf)[LM_BDF_LEN], int max);
void bochs_unbind_all(void);

/*
 * Use bochs-display functions as the test's devices: those among the
 * ones given (argv, LIVEMIG_DEVICES) or, if none were given, every one
 * in the system, bound as by bochs_bind_all().  Rewrites lm_devices so
 * that lm_device(i) is the i-th of them; returns how many.
 */
int bochs_select_devices(int *argc, char **argv);

/* mmap BAR0 (VRAM) of an open device, read-write. */
int bochs_map_vram(struct lm_dev *d, uint8_t **vram, size_t *size);
void bochs_unmap_vram(uint8_t *vram, size_t size);

int bochs_read_regs(struct lm_dev *d, struct bochs_regs *r);
/* Display off, the registers, ENABLE last (the order a driver uses). */
int bochs_write_regs(struct lm_dev *d, const struct bochs_regs *r);
/* Describe differences of the state registers; returns how many differ. */
int bochs_regs_diff(const struct bochs_regs *a, const struct bochs_regs *b,
		    char *buf, size_t len);
/* A plausible mode: @w x @h, 32 bpp, panned by @x/@y, @be byte order. */
void bochs_regs_mode(struct bochs_regs *r, uint16_t w, uint16_t h,
		     uint16_t x, uint16_t y, bool be);
/* The state after VFIO_DEVICE_RESET: everything zero, little endian. */
void bochs_regs_power_on(struct bochs_regs *r);

/* Deterministic fill: page @pg of a pattern named by @seed. */
void bochs_fill_page(uint8_t *page, uint64_t seed, size_t pg);

/*
 * Walk a stream of any size: check the header and every record's
 * checksum, IDENTITY first, END last.  Counts the records by type
 * (@nrec[type], types up to 15) and, if @cover is given (one byte per
 * VRAM page, @npages of them), adds 1 to the page's byte for every PAGES
 * or ZERO record that covers it.  Returns 0 or -EBADMSG with *@why set.
 */
struct bochs_sstat {
	size_t nrec[16];
	uint64_t page_bytes;	/* VRAM bytes carried as data */
	uint64_t zero_bytes;	/* VRAM bytes given as ZERO ranges */
	size_t len;		/* stream bytes */
	const uint8_t *state;	/* the last STATE payload, or NULL */
	uint32_t state_len;
	const uint8_t *identity;	/* the IDENTITY payload */
	uint32_t identity_len;
};
int bochs_stream_walk(const uint8_t *p, size_t len, uint8_t *cover,
		      size_t npages, struct bochs_sstat *st, const char **why);

/*
 * Apply the VRAM a saved stream carries so far (END not needed: a
 * PRE_COPY stream read up to a temporary end) to @image, in stream
 * order.  Returns 0 or -EBADMSG with *@why set.
 */
int bochs_stream_image(const uint8_t *p, size_t len, uint8_t *image,
		       size_t npages, const char **why);

/* Drain a saving fd into @b in reads of @chunk bytes (any size). */
int bochs_drain(int fd, struct lm_buf *b, size_t chunk, size_t limit,
		int *end);

#endif /* LM_BOCHS_H */
