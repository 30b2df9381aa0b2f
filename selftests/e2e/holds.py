# SPDX-License-Identifier: GPL-2.0
"""
How long the driver holds a device's locks, measured from outside it.

A guest's access to the device waits for what the driver holds: a
trapped register access for the device's state_mutex, a VRAM access
that faults (after a write-tracking collection) for vfio's memory_lock,
which the driver takes for write around every engine call.  While a
window runs, kprobes on the module's own functions time every hold of
either lock:

  state_mutex   livemig_lock() returned  ->  livemig_unlock() called
  memory_lock   livemig_hw_begin() returned  ->  livemig_hw_end() called

Each hold is also told by where it was taken and released (the
callers of the probed functions, e.g. "livemig_file_read..
livemig_fill_locked"; the return probes give the first, the release
probes' "at=" argument the second): the summary names the sites of the longest hold
and counts the holds of 10 ms or more per pair of sites.

Whether the holder ran all along is told by the scheduler's switches in
the same trace: for the longest hold, the time its task spent switched
out of the CPU (off_cpu_us) and whether it was preempted (prev_state R,
runnable) or waited (S, D: a sleep, e.g. for memory_lock or a page).
A hold much longer than its off-CPU time was slow while the task was
on a CPU, which in the TCG rig includes the vCPU itself not running.

A guest's access to a tracked VRAM page faults once after each
collection (src/wtrack.c), and the fault waits for memory_lock: the
probes on livemig_wt_fault() time those faults (vram_fault_max_us, what
of a VRAM stall the driver caused).  They are not told by device: in
the window only the source's guest runs (the destination's is paused
until the switchover).

The same switches tell what the guest's vCPU went through: the tasks
that took those faults, or took the device's state_mutex for a trapped
register access, are its vCPU threads (QEMU under TCG makes the access
from the vCPU's own thread), and vcpu_preempted_max_us is the longest they sat preempted
(runnable, not on a CPU) in the window, vcpu_off_cpu_max_us the longest
off the CPU for any reason.  A stall of the guest as long as that needs
no lock to explain it.  For the longest stretch off the CPU the
scheduler's wakeups tell why: its state (vcpu_off_cpu_longest_state: R
preempted, S or D asleep), the thread that woke it
(vcpu_off_cpu_longest_woken_by, the waker's name as the trace prints
it; QEMU names its threads with -name ...,debug-threads=on, e.g.
"mig/src/main" for the migration thread, "CPU 0/TCG", or the main
loop's "qemu-system-x86"), how long of it the thread slept before
that wakeup (vcpu_off_cpu_longest_asleep_us; the rest it waited for a
CPU), how long that waker itself sat preempted
meanwhile (vcpu_off_cpu_longest_waker_preempted_us: a vCPU asleep on
a lock whose holder waited for a CPU) and held a device's state_mutex
while the vCPU slept (vcpu_off_cpu_longest_waker_state_mutex_us: a
holder busy in the driver), and whether it lay inside one of
the thread's VRAM faults (vcpu_off_cpu_longest_in_fault, a wait in the
driver).

Each probe also records its device (the struct livemig_device pointer,
the functions' first argument); a device is told by its PCI address
through the livemig trace events (livemig_precopy_info, livemig_arc),
which fire with state_mutex held, so the pointer that thread holds then
is that device's.  QEMU need not ask PRECOPY_INFO in the window (with a
large VRAM it does not), so tracing starts before the migration, whose
RUNNING -> PRE_COPY arc names the source, and window() and stop() write
markers into the trace: only holds between them count.  The probes go
into a tracefs instance of their own, so the global trace buffer (the
demo's) is left alone.

The kprobes add a little to every hold they time, and the clock is the
trace clock of the kernel the rig runs (TCG: a vCPU descheduled while
holding a lock counts as holding it, as it does for a waiter).
"""

import os
import re

TRACING = '/sys/kernel/tracing'
INSTANCE = 'livemig-holds'
MODULE = 'livemig_vfio_pci'

# (name, kprobe definition)
PROBES = (
    ('lmh_lk', 'p:%s %s:livemig_lock ld=$arg1'),
    ('lmh_lkr', 'r:%s %s:livemig_lock'),
    ('lmh_ul', 'p:%s %s:livemig_unlock ld=$arg1 at=$stack0:symbol'),
    ('lmh_hb', 'p:%s %s:livemig_hw_begin ld=$arg1'),
    ('lmh_hbr', 'r:%s %s:livemig_hw_begin'),
    ('lmh_he', 'p:%s %s:livemig_hw_end ld=$arg1 at=$stack0:symbol'),
    ('lmh_wf', 'p:%s %s:livemig_wt_fault'),
    ('lmh_wfr', 'r:%s %s:livemig_wt_fault'),
)
EVENTS = ('livemig/livemig_precopy_info', 'livemig/livemig_arc',
          'sched/sched_switch', 'sched/sched_waking')

LINE = re.compile(r'^\s*(.*?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)')
# Where a lock was taken: the return probe's caller, "(site+off/size
# [module] <- fn)"; where it was released: the probe's "at=" argument, the caller as
# the kernel prints a symbol (site+off/size).  An entry probe beside a
# return probe on the same function would see the return trampoline.
SITE = re.compile(r'^\(([\w.]+(?:\+0x[0-9a-f]+)?)/0x[0-9a-f]+(?: \[\w+\])? <- |'
                  r' at=([\w.]+(?:\+0x[0-9a-f]+)?)')
LONG_US = 10000
# Where a vCPU's trapped register access takes state_mutex.
TRAPPED = ('livemig_trapped_rw', 'livemig_read', 'livemig_write')
SWITCH = re.compile(r'prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)')
# sched_waking: "comm=%s pid=%d prio=%d target_cpu=%03d", in the context
# of the waker; a thread's name may hold spaces ("CPU 0/TCG").
WAKING = re.compile(r' pid=(\d+) prio=')
BDF = re.compile(r'([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f])')


def _write(path, text, append=False):
    # os.open: Python's append mode seeks to the end, which tracefs refuses.
    fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        os.write(fd, (text + '\n').encode())
    finally:
        os.close(fd)


MARK = 'livemig-holds window'


class LockHolds:
    """start() before the migration, window() where the window starts,
    stop(bdf) where it ends: the holds of that device's locks in the
    window, as a dict (or {'error': why})."""

    def __init__(self):
        self.inst = os.path.join(TRACING, 'instances', INSTANCE)
        self.error = None

    def start(self):
        try:
            if not os.path.isdir(os.path.join(TRACING, 'events')):
                os.system('mount -t tracefs nodev %s 2>/dev/null' % TRACING)
            self._remove()
            for name, fmt in PROBES:
                _write(os.path.join(TRACING, 'kprobe_events'),
                       fmt % (name, MODULE), append=True)
            os.makedirs(self.inst, exist_ok=True)
            _write(os.path.join(self.inst, 'buffer_size_kb'), '65536')
            for name, _ in PROBES:
                _write(os.path.join(self.inst, 'events', 'kprobes', name,
                                    'enable'), '1')
            for ev in EVENTS:
                _write(os.path.join(self.inst, 'events', ev, 'enable'), '1')
            _write(os.path.join(self.inst, 'tracing_on'), '1')
        except OSError as e:
            self.error = 'cannot set up the kprobes: %s' % e
            self._remove()

    def _mark(self, what):
        if not self.error:
            try:
                _write(os.path.join(self.inst, 'trace_marker'),
                       '%s %s' % (MARK, what))
            except OSError as e:
                self.error = 'cannot mark the trace: %s' % e

    def window(self):
        self._mark('start')

    def close(self):
        """Remove the probes and the instance (again); stop() does too."""
        self._remove()

    def _remove(self):
        try:
            if os.path.isdir(self.inst):
                _write(os.path.join(self.inst, 'tracing_on'), '0')
                os.rmdir(self.inst)
        except OSError:
            pass
        for name, _ in PROBES:
            try:
                _write(os.path.join(TRACING, 'kprobe_events'), '-:' + name,
                       append=True)
            except OSError:
                pass

    def stop(self, bdf):
        self._mark('end')
        if self.error:
            self._remove()
            return {'error': self.error}
        try:
            _write(os.path.join(self.inst, 'tracing_on'), '0')
            with open(os.path.join(self.inst, 'trace')) as f:
                lines = f.readlines()
        except OSError as e:
            return {'error': 'cannot read the trace: %s' % e}
        finally:
            self._remove()
        keep = os.environ.get('LIVEMIG_HOLDS_TRACE')
        if keep:
            # For a closer look: the raw trace, as summarize() read it.
            with open(keep, 'w') as f:
                f.writelines(lines)
        return summarize(lines, bdf)


def _stats(prefix, holds):
    holds = sorted(holds)
    if not holds:
        return {prefix + '_n': 0}
    return {prefix + '_n': len(holds),
            prefix + '_max_us': round(holds[-1]),
            prefix + '_p99_us': round(holds[int(len(holds) * 0.99)]),
            prefix + '_p50_us': round(holds[len(holds) // 2])}


def summarize(lines, bdf):
    """The holds of device @bdf in trace @lines (see the module's doc):
    with window markers in them, those that began after the start
    marker and ended before the end marker; without, all."""
    # Per lock: the probes of entering, having taken and releasing it.
    locks = {'state_mutex': ('lmh_lk', 'lmh_lkr', 'lmh_ul'),
             'memory_lock': ('lmh_hb', 'lmh_hbr', 'lmh_he')}
    probe = {ev: (lock, i) for lock, evs in locks.items()
             for i, ev in enumerate(evs)}
    entered = {lock: {} for lock in locks}   # pid -> ld it waits for
    held = {lock: {} for lock in locks}      # pid -> (ld, since)
    done = {lock: [] for lock in locks}      # (ld, since, until)
    lds = {}        # bdf -> ld
    off = {}        # pid -> [(out, in, prev_state, its woken entry)]
    woken = {}      # pid -> (when, waker's name, waker's pid), latest
    faulting = {}   # pid -> since
    faults = []     # (pid, since, until)
    out_at = {}     # pid -> (out, prev_state) while switched out
    win = [None, None]
    for line in lines:
        m = LINE.search(line)
        if not m:
            continue
        comm, pid, t, ev, rest = (m.group(1), m.group(2), float(m.group(3)),
                                  m.group(4), m.group(5))
        if ev == 'tracing_mark_write' and rest.startswith(MARK):
            win[rest.endswith(' end')] = t
            continue
        if ev == 'sched_switch':
            sw = SWITCH.search(rest)
            if sw:
                out_at[sw.group(1)] = (t, sw.group(2))
                if sw.group(3) in out_at:
                    o, st = out_at.pop(sw.group(3))
                    w = woken.get(sw.group(3))
                    off.setdefault(sw.group(3), []).append(
                        (o, t, st, w if w and w[0] >= o else None))
            continue
        if ev == 'sched_waking':
            wk = WAKING.search(rest)
            if wk:
                woken[wk.group(1)] = (t, comm.strip(), pid)
            continue
        if ev == 'lmh_wf':
            faulting[pid] = t
            continue
        if ev == 'lmh_wfr':
            if pid in faulting:
                faults.append((pid, faulting.pop(pid), t))
            continue
        if ev in probe:
            lock, step = probe[ev]
            ld = re.search(r'ld=(0x[0-9a-f]+)', rest)
            ld = ld.group(1) if ld else None
            at = SITE.search(rest)
            at = (at.group(1) or at.group(2)) if at else '?'
            if step == 0:
                entered[lock][pid] = ld
            elif step == 1 and pid in entered[lock]:
                # A livemig_hw_begin() that failed has no livemig_hw_end().
                held[lock][pid] = (entered[lock].pop(pid), at, t)
            elif step == 2 and pid in held[lock] and \
                    held[lock][pid][0] == ld:
                _, since_at, since = held[lock].pop(pid)
                done[lock].append((ld, since, t, since_at + '..' + at, pid))
        elif ev in ('livemig_precopy_info', 'livemig_arc') and \
                pid in held['state_mutex']:
            b = BDF.search(rest)
            if b:
                lds[b.group(1)] = held['state_mutex'][pid][0]
    ld = lds.get(bdf)
    if ld is None:
        return {'error': 'no livemig trace event of %s with a lock held in '
                'the trace (%d lines)' % (bdf, len(lines))}
    lo = win[0] if win[0] is not None else float('-inf')
    hi = win[1] if win[1] is not None else float('inf')

    r = {'bdf': bdf}
    vcpus = set(pid for d, _, _, at, pid in done['state_mutex']
                if d == ld and at.split('..')[0].split('+')[0] in TRAPPED)
    mine = [(b - a) * 1e6 for pid, a, b in faults if a >= lo and b <= hi]
    r['vram_fault_n'] = len(mine)
    if mine:
        vcpus |= set(pid for pid, a, b in faults if a >= lo and b <= hi)
        r['vram_fault_max_us'] = round(max(mine))
    if vcpus:
        gaps = [(min(i, hi) - max(o, lo), st, wk, pid, o, i)
                for pid in vcpus
                for o, i, st, wk in off.get(pid, ()) if o < hi and i > lo]
        r['vcpu_off_cpu_max_us'] = round(max(
            [g[0] for g in gaps] or [0]) * 1e6)
        r['vcpu_preempted_max_us'] = round(max(
            [g[0] for g in gaps if g[1].startswith('R')] or [0]) * 1e6)
        if gaps:
            _, st, wk, pid, o, i = max(gaps, key=lambda g: g[0])
            r['vcpu_off_cpu_longest_state'] = st[:1]
            r['vcpu_off_cpu_longest_woken_by'] = wk[1] if wk else None
            # Asleep until the wakeup; the rest it waited for a CPU.
            r['vcpu_off_cpu_longest_asleep_us'] = round(
                (wk[0] - o) * 1e6) if wk else 0
            # The waker's own time preempted meanwhile: a vCPU asleep on a
            # QEMU lock whose holder waited for a CPU; and its time
            # holding a device's state_mutex while the vCPU slept: a
            # holder busy in the driver.
            r['vcpu_off_cpu_longest_waker_preempted_us'] = round(sum(
                min(i2, i) - max(o2, o)
                for o2, i2, st2, _ in off.get(wk[2], ())
                if st2.startswith('R') and o2 < i and i2 > o) * 1e6) \
                if wk else None
            r['vcpu_off_cpu_longest_waker_state_mutex_us'] = round(sum(
                min(b, wk[0]) - max(a, o)
                for _, a, b, _, p in done['state_mutex']
                if p == wk[2] and a < wk[0] and b > o) * 1e6) \
                if wk else None
            r['vcpu_off_cpu_longest_in_fault'] = any(
                p == pid and a <= o and i <= b for p, a, b in faults)
    for lock in locks:
        mine = [((b - a) * 1e6, at, pid, a, b)
                for d, a, b, at, pid in done[lock]
                if d == ld and a >= lo and b <= hi]
        r.update(_stats(lock, [h[0] for h in mine]))
        if mine:
            _, at, pid, a, b = max(mine)
            r[lock + '_longest_at'] = at
            outs = [(max(o, a), min(i, b), st) for o, i, st, _ in
                    off.get(pid, ()) if o < b and i > a]
            r[lock + '_longest_off_cpu_us'] = round(
                sum(i - o for o, i, _ in outs) * 1e6)
            r[lock + '_longest_switched_out'] = sorted(
                set(st[:1] for _, _, st in outs))
            long_ = {}
            for us, at, _, _, _ in mine:
                if us >= LONG_US:
                    at = re.sub(r'\+0x[0-9a-f]+', '', at)
                    long_[at] = long_.get(at, 0) + 1
            r[lock + '_over_10ms'] = long_
    return r
