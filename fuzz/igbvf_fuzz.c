// SPDX-License-Identifier: GPL-2.0
/*
 * igbvf_fuzz.c - libFuzzer entry point for the igbvf engine's record
 * decoders (src/engines/igbvf_rec.c).  The work and the checks are in
 * engines.c.
 */
#include "engines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lmfz_engine_run(LMFZ_ENGINE_IGBVF, data, size);
	return 0;
}
