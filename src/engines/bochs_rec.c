// SPDX-License-Identifier: GPL-2.0
/*
 * bochs-display's PAGES, ZERO and STATE records, encoded, decoded and
 * checked without the device.
 *
 * Pure C over include/livemig/stream.h: built into the module and, with
 * tools/kshim.h, into the fuzzer, which feeds these decoders hostile
 * payloads and checks that whatever they accept encodes back to the same
 * bytes and stays inside VRAM.
 *
 *   PAGES  off:u64 data[len - 8]   data is (len - 8) / 4096 whole pages
 *   ZERO   off:u64 len:u64         pages that are all zero
 *   STATE  see BOCHS_STATE_LEN
 *
 * A range is refused unless it is non-empty, page aligned at both ends
 * and inside VRAM.
 */
#include "bochs_rec.h"

/* Is [@off, @off + @len) a non-empty page-aligned range inside VRAM? */
static int bochs_range_ok(u64 vram_size, u64 off, u64 len)
{
	return len && !(off % BOCHS_PAGE) && !(len % BOCHS_PAGE) &&
	       off < vram_size && len <= vram_size - off;
}

/**
 * bochs_pages_encode_hdr() - the head of a PAGES payload
 * @p: 8 bytes, followed by the pages
 * @off: VRAM offset of the first page
 */
void bochs_pages_encode_hdr(u8 *p, u64 off)
{
	lm_put64(p, off);
}

/**
 * bochs_pages_decode() - where a PAGES payload's pages go
 * @p: the payload; its pages start at @p + 8
 * @len: its length
 * @vram_size: bytes of VRAM of the device the stream is loaded into
 * @r: the VRAM range the pages cover
 *
 * Return: 0, or -LM_ECORRUPT for a payload without a whole page or a
 * range outside VRAM.
 */
int bochs_pages_decode(const u8 *p, u32 len, u64 vram_size,
		       struct bochs_range *r)
{
	if (len < 8)
		return -LM_ECORRUPT;
	r->off = lm_get64(p);
	r->len = len - 8;
	return bochs_range_ok(vram_size, r->off, r->len) ? 0 : -LM_ECORRUPT;
}

/**
 * bochs_zero_encode() - a ZERO payload
 * @p: BOCHS_ZERO_LEN bytes
 * @r: the zero pages
 */
void bochs_zero_encode(u8 *p, const struct bochs_range *r)
{
	lm_put64(p, r->off);
	lm_put64(p + 8, r->len);
}

/**
 * bochs_zero_decode() - the pages a ZERO payload says are zero
 * @p: the payload
 * @len: its length
 * @vram_size: bytes of VRAM of the device the stream is loaded into
 * @r: the range
 *
 * Return: 0, or -LM_ECORRUPT for another length or a range outside VRAM.
 */
int bochs_zero_decode(const u8 *p, u32 len, u64 vram_size,
		      struct bochs_range *r)
{
	if (len != BOCHS_ZERO_LEN)
		return -LM_ECORRUPT;
	r->off = lm_get64(p);
	r->len = lm_get64(p + 8);
	return bochs_range_ok(vram_size, r->off, r->len) ? 0 : -LM_ECORRUPT;
}

/**
 * bochs_regs_encode() - the STATE payload of a register file
 * @p: BOCHS_STATE_LEN bytes
 * @r: the registers
 */
void bochs_regs_encode(u8 *p, const struct bochs_regs *r)
{
	int i;

	memset(p, 0, BOCHS_STATE_LEN);
	for (i = VBE_XRES; i < VBE_NREGS; i++)
		lm_put16(p + 2 * (i - VBE_XRES), r->vbe[i]);
	lm_put32(p + BOCHS_STATE_BYTEORDER, r->byteorder);
}

/**
 * bochs_regs_decode() - the register file of a STATE payload
 * @p: the payload
 * @len: its length
 * @r: the registers; VBE_ID is left zero (it is not state)
 *
 * Return: 0, or -LM_ECORRUPT for another length, a reserved byte that is
 * not zero, or a byte order the register cannot hold (it only ever reads
 * back one of two values).
 */
int bochs_regs_decode(const u8 *p, u32 len, struct bochs_regs *r)
{
	u32 order;
	int i;

	if (len != BOCHS_STATE_LEN || lm_get16(p + 18))
		return -LM_ECORRUPT;
	order = lm_get32(p + BOCHS_STATE_BYTEORDER);
	if (order != BOCHS_LITTLE_ENDIAN && order != BOCHS_BIG_ENDIAN)
		return -LM_ECORRUPT;
	r->byteorder = order;
	r->vbe[VBE_ID] = 0;
	for (i = VBE_XRES; i < VBE_NREGS; i++)
		r->vbe[i] = lm_get16(p + 2 * (i - VBE_XRES));
	return 0;
}
