/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim.h - the few kernel names include/livemig/stream.h needs, for
 * userspace builds (selftests, stream tools, fuzzers).
 *
 * Include this before "livemig/stream.h".  Nothing here may grow into a
 * general kernel emulation layer: the stream code is written to need only
 * fixed-width integers, errno values, memcpy()/memset() and CRC-32.
 */
#ifndef LIVEMIG_KSHIM_H
#define LIVEMIG_KSHIM_H

#ifdef __KERNEL__
#error "tools/kshim.h is for userspace builds only"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define BIT(n)	(1UL << (n))

/*
 * kshim_crc32() - the kernel's crc32_le(): little-endian (reflected)
 * CRC-32 with polynomial 0xEDB88320.  Like the kernel helper it only
 * updates @crc; the initial ~0 and the final inversion of the usual
 * "CRC-32" are the caller's business, so
 * kshim_crc32(~0U, "123456789", 9) ^ ~0U == 0xCBF43926.
 *
 * Bitwise on purpose: streams are small and the code stays obviously
 * right.
 */
static inline uint32_t kshim_crc32(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;
	int i;

	while (len--) {
		crc ^= *b++;
		for (i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
	}
	return crc;
}

#endif /* LIVEMIG_KSHIM_H */
