/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bochs-display's records (bochs_rec.c): the layout of PAGES, ZERO and
 * STATE payloads and the checks a resuming stream's records must pass,
 * without the device.  Included by bochs.c and by the userspace fuzzer
 * (fuzz/bochs_fuzz.c, through tools/kshim.h), so it uses nothing but
 * include/livemig/stream.h.
 */
#ifndef LIVEMIG_BOCHS_REC_H
#define LIVEMIG_BOCHS_REC_H

#include "livemig/stream.h"

#define BOCHS_ENGINE_ID		0x424f4348	/* "BOCH" */
#define BOCHS_ENGINE_VERSION	1

/* VRAM travels in 4 KiB pages whatever the kernel's page size. */
#define BOCHS_PAGE		4096
#define BOCHS_REC_PAGES		32	/* pages per PAGES record, at most */
#define BOCHS_REC_MAX		(8 + BOCHS_REC_PAGES * BOCHS_PAGE)
#define BOCHS_ZERO_LEN		16

#define BOCHS_LITTLE_ENDIAN	0x1e1e1e1e
#define BOCHS_BIG_ENDIAN	0xbebebebe

/* VBE dispi register indices. */
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
#define VBE_NREGS		0xa	/* registers that hold a value */

/*
 * STATE payload: VBE registers XRES..Y_OFFSET (indices 1-9) as le16 at
 * 2 * (index - 1), two reserved zero bytes, the byte order as le32.
 */
#define BOCHS_STATE_LEN		24
#define BOCHS_STATE_BYTEORDER	20

/**
 * struct bochs_regs - the register file that travels
 * @vbe: VBE dispi registers by index; [VBE_ID] is not part of the state
 * @byteorder: framebuffer byte order register
 */
struct bochs_regs {
	u16 vbe[VBE_NREGS];
	u32 byteorder;
};

/**
 * struct bochs_range - VRAM bytes a PAGES or ZERO record gives a value
 * @off: first byte, a multiple of BOCHS_PAGE
 * @len: bytes, a non-zero multiple of BOCHS_PAGE
 */
struct bochs_range {
	u64 off;
	u64 len;
};

void bochs_pages_encode_hdr(u8 *p, u64 off);
int bochs_pages_decode(const u8 *p, u32 len, u64 vram_size,
		       struct bochs_range *r);
void bochs_zero_encode(u8 *p, const struct bochs_range *r);
int bochs_zero_decode(const u8 *p, u32 len, u64 vram_size,
		      struct bochs_range *r);
void bochs_regs_encode(u8 *p, const struct bochs_regs *r);
int bochs_regs_decode(const u8 *p, u32 len, struct bochs_regs *r);

#endif /* LIVEMIG_BOCHS_REC_H */
