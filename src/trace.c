// SPDX-License-Identifier: GPL-2.0
/*
 * livemig tracepoints: the one unit that instantiates the events of
 * livemig_trace.h; the units that emit them include it alone.
 */
#define CREATE_TRACE_POINTS
#include "livemig_trace.h"
