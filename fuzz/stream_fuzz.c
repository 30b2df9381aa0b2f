// SPDX-License-Identifier: GPL-2.0
/*
 * stream_fuzz.c - libFuzzer entry point for the livemig stream parser
 * (src/stream.c).  All the work and every check is in harness.c.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lmfz_run(data, size, NULL);
	return 0;
}
