# SPDX-License-Identifier: GPL-2.0
"""
The checks the variants share, each one or a few TAP lines on the
harness's Tap (h.tap): the payload set up and verified the device, the
migration completed or failed the right way, the device went through the
states it should, QEMU used the device's DMA log, the source carried on,
nothing holds a device any more.
"""

import os
import time

from .common import HarnessError, kernel_before, now
from .migration import dirty_stats
from .vfio import fresh_open, vfio_holders, vfio_paths

# Payload exit: isa-debug-exit makes QEMU exit with (code << 1) | 1.
PAYLOAD_PASS_RC = 1


def wait_ready(h, vm, variant, rnd=1):
    m = vm.wait_line(r'LMG MIGRATE-NOW round=%d' % rnd,
                     h.args.boot_timeout)
    ok = h.tap.setup(m is not None,
                     '%s: payload on %s set up the device (round %d)'
                     % (variant, vm.name, rnd),
                     why(vm))
    if not ok:
        raise HarnessError('payload not ready')
    return ok


def why(vm):
    fails = vm.grep(r'LMG (CHECK-FAIL|INVARIANT-FAIL|RESULT|EXCEPTION)')
    return '\n'.join(['serial:'] + fails[-15:] +
                     ['qemu:'] + vm.stderr_tail(8).splitlines())


def finish_payload(h, vm, variant, where, report=True):
    """Tell the payload the migration is over; check its verdict."""
    n0 = vm.nlines()
    vm.send('E')
    m = vm.wait_line(r'LMG RESULT (PASS|FAIL)', h.args.check_timeout,
                     start=0)
    rc = vm.wait_exit(30)
    passed = m is not None and m.group(1) == 'PASS'
    if not report:
        return passed and rc == PAYLOAD_PASS_RC
    # The payload's verdict below says all there is; whether it
    # printed RESUMED first is context for a failure.
    if vm.wait_line(r'LMG RESUMED', 1, start=n0) is None:
        h.tap.diag('%s: the payload never said RESUMED on the %s'
                   % (variant, where))
    # The payload's memory check (selftests/guest, "Memory the CPU
    # writes"): words the CPU kept rewriting until the stop must equal
    # the count the vCPU held in a register, else QEMU lost a page.
    # After a migration QEMU's serial model has been seen to repeat a
    # character on the host (e.g. "LMG  MEMSEQ"), so match loosely; a
    # payload that passed and reported no stale word also counts.
    ms = vm.wait_line(r'MEMSEQ .*stale=(\d+)', 1, start=n0)
    ms_ok = ms.group(1) == '0' if ms else \
        passed and not vm.grep(r'CHECK-FAIL memseq')
    h.tap.ok(ms_ok,
             '%s: CPU-written memory matched the vCPU registers on '
             'the %s' % (variant, where),
             '\n'.join(vm.grep(r'LMG (MEMSEQ|CHECK-FAIL memseq)')
                       [-6:]) or why(vm))
    # One verdict: the payload said PASS and exited with it through
    # isa-debug-exit (the exit status alone is QEMU's doing).
    h.tap.ok(passed and rc == PAYLOAD_PASS_RC,
             '%s: device state verified by the payload on the %s '
             '(QEMU status %s)' % (variant, where, rc), why(vm))
    return passed and rc == PAYLOAD_PASS_RC


def precopy(h, variant, src, dst):
    if not src.is_vfio:
        h.tap.skip('%s: device went through PRE_COPY' % variant,
                   'not a vfio device')
        return
    ev = [s for _, s in src.device_states()]
    tr = src.traced_states()
    precopy = 'pre-copy' in ev or 'PRE_COPY' in tr
    if kernel_before(6, 2):
        # The kernel's VFIO has no PRE_COPY: the device must not claim it.
        h.tap.ok(not precopy, '%s: source device skipped PRE_COPY '
                 '(kernel %s: no PRE_COPY before 6.2)'
                 % (variant, os.uname().release),
                 'events: %s\ntrace: %s' % (ev, tr))
    else:
        h.tap.ok(precopy,
                 '%s: source device went through PRE_COPY' % variant,
                 'events: %s\ntrace: %s' % (ev, tr))
    h.tap.ok('stop-copy' in ev or 'STOP_COPY' in tr,
             '%s: source device went through STOP_COPY' % variant,
             'events: %s\ntrace: %s' % (ev, tr))
    dev = [s for _, s in dst.device_states()]
    dtr = dst.traced_states()
    h.tap.ok(('resuming' in dev or 'RESUMING' in dtr) and
             (dev[-1:] == ['running'] or dtr[-1:] == ['RUNNING']),
             '%s: destination device RESUMING then RUNNING' % variant,
             'events: %s\ntrace: %s' % (dev, dtr))
    if h.dirty == 'device':
        device_log_used(h, variant, src)


def device_log_used(h, variant, src):
    """QEMU's trace must show it tracked the device's DMA by its log."""
    ds = dirty_stats(src)
    h.tap.ok(ds['started'] and ds['reads'] > 0,
             '%s: QEMU tracked the device\'s DMA through its DMA log '
             '(%d log reads, %d dirty pages reported)'
             % (variant, ds['reads'], ds['pages']),
             'no vfio_device_dirty_tracking_start / '
             'vfio_get_dirty_bitmap in the source\'s trace (%s)'
             % src.trace_path)
    return ds


def completed(h, variant, src, dst, res):
    info = res['info']
    h.tap.ok(info.get('status') == 'completed',
             '%s: migration completed' % variant,
             'status %s: %s\nsource qemu:\n%s\ndestination qemu:\n%s'
             % (info.get('status'), info.get('error-desc'),
                src.stderr_tail(), dst.stderr_tail()))
    # QEMU's own run states after a completed migration: context, and
    # a failure only if QEMU did not get there.
    st = src.status()
    h.tap.setup(st == 'postmigrate', '%s: source stopped (%s)'
                % (variant, st))
    st = dst.status()
    h.tap.setup(st == 'running', '%s: destination running (%s)'
                % (variant, st))
    if h.vfio:
        vb = info.get('vfio', {}).get('transferred') or 0
        h.tap.ok(vb > 0, '%s: device data transferred (%d bytes)'
                 % (variant, vb))
    return info.get('status') == 'completed'


def wait_running(vm, timeout=30):
    """@vm's run state once it is 'running', or the last one seen when
    @timeout seconds passed (e.g. a source restarting its VM after a
    failed migration)."""
    state = None
    dl = now() + timeout
    while now() < dl:
        state = vm.status()
        if state == 'running':
            break
        time.sleep(0.2)
    return state


def device_back_in_running(h, variant, src):
    """One TAP line (vfio only): @src's device is back in RUNNING."""
    if src.is_vfio:
        # The device's VFIO_MIGRATION event may trail the VM's status.
        dl = now() + 10
        ev = [s for _, s in src.device_states()]
        while ev[-1:] != ['running'] and now() < dl:
            time.sleep(0.2)
            ev = [s for _, s in src.device_states()]
        h.tap.ok(ev[-1:] == ['running'],
                 '%s: source device back in RUNNING' % variant,
                 'device states: %s' % ev)


def source_survived(h, variant, src, dst, res, want_status):
    info = res['info']
    st = info.get('status')
    h.tap.ok(st == want_status, '%s: migration %s (got %s: %s)'
             % (variant, want_status, st, info.get('error-desc')))
    # Give the source a moment to restart the VM after the failure.
    state = wait_running(src)
    h.tap.ok(state == 'running', '%s: source VM running again (%s)'
             % (variant, state))
    device_back_in_running(h, variant, src)
    rc = dst.wait_exit(60)
    h.tap.ok(rc is not None and not dst.grep(r'LMG RESUMED'),
             '%s: destination gave up without running the VM '
             '(QEMU status %s)' % (variant, rc),
             dst.stderr_tail())
    errs = dst.qemu_errors()
    if errs:
        h.tap.diag('%s: destination said: %s' % (variant, errs[-3:]))


def p2p_order(h, variant, src):
    """QEMU's P2P rule for several devices: every one reaches a P2P
    state before any is stopped."""
    seq = [(e['data'].get('qom-path') or e['data'].get('device-id'),
            e['data'].get('device-state'))
           for _, e in src.qmp.events_named('VFIO_MIGRATION')]
    devs = sorted({d for d, _ in seq})
    p2p = {d: max((i for i, (dd, st) in enumerate(seq)
                   if dd == d and st and st.endswith('p2p')),
                  default=None) for d in devs}
    stops = [i for i, (_, st) in enumerate(seq)
             if st in ('stop', 'stop-copy')]
    first_stop = min(stops) if stops else None
    ok = len(devs) == 2 and first_stop is not None and \
        all(v is not None and v < first_stop for v in p2p.values())
    h.tap.ok(ok, '%s: both devices reached a P2P state before either '
             'stopped' % variant,
             'events: %s' % ', '.join('%s:%s' % (d.split('/')[-1], st)
                                      for d, st in seq))


def source_carries_on(h, variant, src, when):
    """The VM runs on @src as if no migration had been tried."""
    state = wait_running(src)
    h.tap.ok(state == 'running', '%s: VM still running on the source '
             '(%s)' % (variant, state))
    h.tap.ok(not src.qmp.events_named('STOP'),
             '%s: source VM never stopped' % variant)
    if src.is_vfio:
        ev = []
        dl = now() + 10
        while now() < dl:
            ev = [s for _, s in src.device_states()]
            if ev[-1:] == ['running']:
                break
            time.sleep(0.1)
        h.tap.ok('pre-copy' in ev and ev[-1:] == ['running'],
                 '%s: source device left PRE_COPY for RUNNING'
                 % variant, 'device states: %s' % ev)
    # Two heartbeats after the failure: the payload still runs, and its
    # register checks (every loop iteration) still all match.
    n0 = src.nlines()
    m1 = src.wait_line(r'LMG TICK .*iter=(\d+) bad=(\d+) failures=(\d+)',
                       10, start=n0)
    n1 = src.nlines()
    m2 = src.wait_line(r'LMG TICK .*iter=(\d+) bad=(\d+) failures=(\d+)',
                       10, start=n1) if m1 else None
    h.tap.ok(m1 is not None and m2 is not None and
             int(m2.group(1)) > int(m1.group(1)) and
             m2.group(2, 3) == ('0', '0'),
             '%s: payload progressing on the source after %s, device '
             'registers intact (iterations %s -> %s, bad %s)'
             % (variant, when, m1.group(1) if m1 else '?',
                m2.group(1) if m2 else '?',
                m2.group(2) if m2 else '?'), why(src))


def device_released(h, variant, host, what):
    """Nothing holds @host any more, and it opens afresh."""
    if not h.vfio:
        h.tap.skip('%s: %s released' % (variant, what),
                   'not a vfio device')
        return
    held = vfio_holders(vfio_paths(host))
    h.tap.ok(not held, '%s: no process holds %s (%s) open'
             % (variant, what, host),
             '\n'.join('pid %d (%s): %s' % x for x in held))
    err = fresh_open(host)
    h.tap.ok(err is None, '%s: %s opens afresh through its vfio '
             'group' % (variant, what), err)


def iommufd_backend(h, variant, vm):
    """@vm's QEMU holds /dev/iommu and the device's cdev, not its group."""
    fds = set()
    try:
        for fd in os.listdir('/proc/%d/fd' % vm.proc.pid):
            try:
                fds.add(os.readlink('/proc/%d/fd/%s' % (vm.proc.pid, fd)))
            except OSError:
                pass
    except OSError:
        pass
    paths = vfio_paths(vm.host)
    cdev = [p for p in paths if '/devices/' in p]
    group = [p for p in paths if '/devices/' not in p]
    h.tap.ok('/dev/iommu' in fds and bool(cdev) and cdev[0] in fds and
             not fds & set(group),
             '%s: %s QEMU reaches %s through iommufd (%s and '
             '/dev/iommu open, not %s)'
             % (variant, vm.name, vm.host, ', '.join(cdev) or '?',
                ', '.join(group) or 'the group'),
             'open: %s' % sorted(f for f in fds
                                 if f.startswith('/dev/')))


def dma_writes(vm):
    """The payload's count of DMA writes into its pages, last TICK."""
    m = vm.grep(r'LMG TICK .* dma_writes=\d+')
    return int(m[-1].rsplit('dma_writes=', 1)[1].split()[0]) if m else 0


def payload_checks(vm):
    m = vm.grep(r'LMG RESULT PASS checks=(\d+)')
    return int(m[-1].split('checks=')[1]) if m else None
