/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Engine objects, one line each.  Only src/engines/engines.c includes
 * this, for its table of functions and engines.
 */
#ifndef LIVEMIG_ENGINES_H
#define LIVEMIG_ENGINES_H

#include "livemig/engine.h"

extern const struct livemig_engine edu_engine;
extern const struct livemig_engine bochs_engine;
extern const struct livemig_engine igbvf_engine;

#endif /* LIVEMIG_ENGINES_H */
