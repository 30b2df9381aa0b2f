// SPDX-License-Identifier: GPL-2.0
/*
 * edu_fuzz.c - libFuzzer entry point for the edu engine's record
 * decoders (src/engines/edu_rec.c).  The work and the checks are in
 * engines.c.
 */
#include "engines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lmfz_engine_run(LMFZ_ENGINE_EDU, data, size);
	return 0;
}
