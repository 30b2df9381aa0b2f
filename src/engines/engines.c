// SPDX-License-Identifier: GPL-2.0
/*
 * The engines this module knows.  A new engine adds one line here, one
 * line in Kbuild and one entry in the PCI id table of src/main.c.
 */
#include "engines.h"

const struct livemig_engine *const livemig_engines[] = {
	&edu_engine,
	&bochs_engine,
	NULL,
};
