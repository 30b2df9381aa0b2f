/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livemig tracepoints: every FSM arc, every data session's totals, every
 * VFIO_MIG_GET_PRECOPY_INFO answer.  Documentation/operating.md shows how
 * to read them; trace.c instantiates them.
 *
 * A function is named by its PCI address as numbers (domain, bus, devfn)
 * rather than a string, so the events build unchanged on every supported
 * kernel (__assign_str() changed its arguments in 6.10).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM livemig

#if !defined(LIVEMIG_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define LIVEMIG_TRACE_H

#include <linux/pci.h>
#include <linux/tracepoint.h>
#include <linux/vfio.h>

#include "livemig/compat.h"	/* the PRE_COPY states on 6.1 */

#define livemig_show_state(s)						\
	__print_symbolic(s,						\
		{ VFIO_DEVICE_STATE_ERROR, "ERROR" },			\
		{ VFIO_DEVICE_STATE_STOP, "STOP" },			\
		{ VFIO_DEVICE_STATE_RUNNING, "RUNNING" },		\
		{ VFIO_DEVICE_STATE_STOP_COPY, "STOP_COPY" },		\
		{ VFIO_DEVICE_STATE_RESUMING, "RESUMING" },		\
		{ VFIO_DEVICE_STATE_RUNNING_P2P, "RUNNING_P2P" },	\
		{ VFIO_DEVICE_STATE_PRE_COPY, "PRE_COPY" },		\
		{ VFIO_DEVICE_STATE_PRE_COPY_P2P, "PRE_COPY_P2P" })

/*
 * One arc of the FSM, as vfio_mig_get_next_state() chose it: @ret is 0 or
 * the errno that stopped the walk there; @usecs the time the arc took,
 * engine op and session work included.
 */
TRACE_EVENT(livemig_arc,
	TP_PROTO(struct pci_dev *pdev, u32 from, u32 to, int ret, u64 usecs),
	TP_ARGS(pdev, from, to, ret, usecs),
	TP_STRUCT__entry(
		__field(u32, domain)
		__field(u16, rid)
		__field(u32, from)
		__field(u32, to)
		__field(int, ret)
		__field(u64, usecs)
	),
	TP_fast_assign(
		__entry->domain = pci_domain_nr(pdev->bus);
		__entry->rid = pci_dev_id(pdev);
		__entry->from = from;
		__entry->to = to;
		__entry->ret = ret;
		__entry->usecs = usecs;
	),
	TP_printk("%04x:%02x:%02x.%u %s -> %s ret=%d usecs=%llu",
		  __entry->domain, __entry->rid >> 8,
		  PCI_SLOT(__entry->rid), PCI_FUNC(__entry->rid),
		  livemig_show_state(__entry->from),
		  livemig_show_state(__entry->to), __entry->ret,
		  __entry->usecs)
);

/*
 * A data session ended (an arc, a reset, a close): for a saving session
 * the stream bytes produced and read, for a resuming one the bytes
 * written (in @consumed); @err is the error that stuck to it, if any.
 */
TRACE_EVENT(livemig_session_end,
	TP_PROTO(struct pci_dev *pdev, bool saving, u64 produced,
		 u64 consumed, int err),
	TP_ARGS(pdev, saving, produced, consumed, err),
	TP_STRUCT__entry(
		__field(u32, domain)
		__field(u16, rid)
		__field(bool, saving)
		__field(u64, produced)
		__field(u64, consumed)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->domain = pci_domain_nr(pdev->bus);
		__entry->rid = pci_dev_id(pdev);
		__entry->saving = saving;
		__entry->produced = produced;
		__entry->consumed = consumed;
		__entry->err = err;
	),
	TP_printk("%04x:%02x:%02x.%u %s produced=%llu consumed=%llu err=%d",
		  __entry->domain, __entry->rid >> 8,
		  PCI_SLOT(__entry->rid), PCI_FUNC(__entry->rid),
		  __entry->saving ? "saving" : "resuming",
		  __entry->produced, __entry->consumed, __entry->err)
);

/* What VFIO_MIG_GET_PRECOPY_INFO answered. */
TRACE_EVENT(livemig_precopy_info,
	TP_PROTO(struct pci_dev *pdev, u64 initial_bytes, u64 dirty_bytes),
	TP_ARGS(pdev, initial_bytes, dirty_bytes),
	TP_STRUCT__entry(
		__field(u32, domain)
		__field(u16, rid)
		__field(u64, initial_bytes)
		__field(u64, dirty_bytes)
	),
	TP_fast_assign(
		__entry->domain = pci_domain_nr(pdev->bus);
		__entry->rid = pci_dev_id(pdev);
		__entry->initial_bytes = initial_bytes;
		__entry->dirty_bytes = dirty_bytes;
	),
	TP_printk("%04x:%02x:%02x.%u initial_bytes=%llu dirty_bytes=%llu",
		  __entry->domain, __entry->rid >> 8,
		  PCI_SLOT(__entry->rid), PCI_FUNC(__entry->rid), __entry->initial_bytes,
		  __entry->dirty_bytes)
);

#endif /* LIVEMIG_TRACE_H */

/* The header is outside include/trace/events: tell define_trace.h where. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE livemig_trace
#include <trace/define_trace.h>
