/* SPDX-License-Identifier: GPL-2.0 */
/*
 * engines.h - the engines' record decoders under the fuzzer (engines.c).
 */
#ifndef LMFZ_ENGINES_H
#define LMFZ_ENGINES_H

#include <stdbool.h>
#include <stddef.h>

#include "kshim.h"

#define LMFZ_ENGINE_EDU		0
#define LMFZ_ENGINE_BOCHS	1
#define LMFZ_ENGINE_IGBVF	2

/*
 * Run one input (engines.c says what it is) through @engine's decoders.
 * Returns 0 when a whole stream staged, validated and would load, else the
 * error that stopped it; a broken invariant abort()s.
 */
int lmfz_engine_run(int engine, const u8 *data, size_t len);

#endif /* LMFZ_ENGINES_H */
