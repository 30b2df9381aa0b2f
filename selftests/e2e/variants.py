# SPDX-License-Identifier: GPL-2.0
"""
The variants of e2e-migrate, one function each, registered by name with
@variant: fn(h, variant) runs one scenario on the Harness @h and reports
its checks as TAP lines (h.tap), @variant being the name those lines
start with.  ALL_VARIANTS is the order e2e-migrate runs them in.
simple() and refused() are the flows most variants are made of (and
what other harnesses build theirs from, e.g. e2e-bochs).
"""

import os
import re
import signal
import time

from . import checks, migration
from .common import now
from .migration import dirty_stats
from .stream import IdentityMutator, LateMutator
from .checks import dma_writes
from .vfio import DRIVER, BochsBinder, iommufd_unavailable
from .vm import kill_all

ALL_VARIANTS = ('baseline', 'plain', 'msi', 'two-devices', 'two-edus',
                'multifd',
                'back-and-forth',
                'dest-refuses',
                'dest-identity', 'dest-refuses-late', 'cancel',
                'fill-dma-buffer', 'busy', 'dirty-dma', 'dest-killed',
                'source-killed', 'iommufd', 'stale-buffer')

REGISTRY = {}


def variant(name):
    """Register the decorated function as the variant @name."""
    def register(fn):
        REGISTRY[name] = fn
        return fn
    return register


def ready_pair(h, variant, payload_args=''):
    """
    A source VM on the first device, started, whose payload set up the
    device and then ran --settle seconds, and a destination VM on the
    second waiting for the migration: (src, dst).
    """
    src = h.new_vm('src', h.hosts[0], payload_args=payload_args)
    dst = h.new_vm('dst', h.hosts[1], incoming=True)
    src.cont()
    checks.wait_ready(h, src, variant)
    time.sleep(h.args.settle)
    return src, dst


def simple(h, variant, multifd=False, payload_args='', iommufd=False):
    src = h.new_vm('src', h.hosts[0], payload_args=payload_args,
                   iommufd=iommufd)
    dst = h.new_vm('dst', h.hosts[1], incoming=True,
                   iommufd=iommufd)
    if iommufd:
        for vm in (src, dst):
            checks.iommufd_backend(h, variant, vm)
    src.cont()
    checks.wait_ready(h, src, variant)
    before = src.payload_state('before')
    time.sleep(h.args.settle)
    res = migration.migrate(h, src, dst, multifd=multifd)
    done = checks.completed(h, variant, src, dst, res)
    checks.precopy(h, variant, src, dst)
    rec = h.record(variant, res, src=src)
    src.quit()
    ok = done and checks.finish_payload(h, dst, variant, 'destination')
    rec.update({'payload_pass': ok,
                'registers_before': before,
                'registers_after': dst.payload_state('after')})
    return src, dst, res, rec


def _migrate_leg(h, variant, label, src, dst, leg, where,
                 verify_if_failed=False):
    """
    One more leg of a variant: migrate @src into @dst, checked like any
    other migration (the TAP lines start with @label), recorded as @leg,
    then the payload's verdict on the @where: only if the migration
    completed, unless @verify_if_failed.
    """
    res = migration.migrate(h, src, dst)
    done = checks.completed(h, label, src, dst, res)
    checks.precopy(h, label, src, dst)
    h.record(variant, res, {'leg': leg}, src=src)
    src.quit()
    if done or verify_if_failed:
        checks.finish_payload(h, dst, variant, where)


@variant('baseline')
def baseline(h, variant):
    vm = h.new_vm('src', h.hosts[0], payload_args='loop')
    vm.cont()
    checks.wait_ready(h, vm, variant)
    time.sleep(max(h.args.settle, 3))
    checks.finish_payload(h, vm, variant, 'source (no migration)')


@variant('plain')
def plain(h, variant):
    simple(h, variant)


@variant('msi')
def msi(h, variant):
    src, dst, _, _ = simple(h, variant, payload_args='msi')
    for vm, when, where in ((src, 'before', 'source'),
                            (dst, 'after', 'destination')):
        m = vm.grep(r'LMG MSI when=%s received=(\d+) stray=(\d+)'
                    % when)
        got = re.search(r'received=(\d+) stray=(\d+)', m[-1]) \
            if m else None
        h.tap.ok(got is not None and got.group(1) == '1' and
                 got.group(2) == '0',
                 '%s: an edu interrupt arrived as its MSI in the '
                 'guest on the %s (%s)' % (variant, where,
                                           m[-1] if m else 'no line'),
                 checks.why(vm))


def migrate_together(h, variant, src, dst):
    """
    The migration of a VM with two devices, whose payload is ready on
    @src: it completes, it is recorded, every device reaches a P2P state
    before any stops (QEMU's rule); the source is quit.  True if it
    completed.
    """
    time.sleep(h.args.settle)
    res = migration.migrate(h, src, dst)
    done = checks.completed(h, variant, src, dst, res)
    h.record(variant, res, src=src)
    checks.p2p_order(h, variant, src)
    src.quit()
    return done


@variant('two-devices')
def two_devices(h, variant):
    """edu and bochs-display in one VM, migrated together."""
    if not h.vfio:
        h.tap.skip(variant, 'needs vfio devices')
        return
    binder = BochsBinder()
    bochs = [bdf for bdf, drv in binder.bind() if drv == DRIVER]
    try:
        if not h.tap.setup(len(bochs) >= 2,
                           '%s: two bochs-display functions bound to '
                           'livemig-vfio-pci (%s)'
                           % (variant, ', '.join(bochs) or 'none')):
            return
        # bochs-display never DMAs, and its engine offers no DMA log.
        vga = 'vfio-pci,host=%s,id=vga,enable-migration=on,' \
              'migration-events=on'
        src = h.new_vm('src', h.hosts[0], payload_args='bochs',
                       extra_devices=[vga % bochs[0]])
        dst = h.new_vm('dst', h.hosts[1], incoming=True,
                       extra_devices=[vga % bochs[1]])
        src.cont()
        checks.wait_ready(h, src, variant)
        if migrate_together(h, variant, src, dst):
            checks.finish_payload(h, dst, variant, 'destination')
            m = dst.grep(r'LMG BOCHS when=after .*bad=(\d+)')
            h.tap.ok(bool(m) and m[-1].split('bad=')[1].split()[0]
                     == '0',
                     '%s: the bochs-display VRAM the guest wrote '
                        'arrived with the edu (%s)'
                        % (variant, m[-1] if m else 'no line'),
                        checks.why(dst))
    finally:
        kill_all()
        binder.release()


# The registers of an edu the payload puts state into (LMG STATE lines).
EDU_REGS = ('live', 'fact', 'status', 'irq', 'dma_src', 'dma_dst', 'dma_cnt',
            'dma_cmd')


@variant('two-edus')
def two_edus(h, variant):
    """Two edus in one VM, migrated together: edu #1 and #3 on the
    source, #2 and #4 on the destination."""
    if not h.vfio:
        h.tap.skip(variant, 'needs vfio devices')
        return
    spare = h.spare_edus()
    if not h.tap.setup(len(spare) >= 2,
                       '%s: two more edu functions bound to a vfio driver '
                       '(%s; the rig has four)'
                       % (variant, ', '.join(spare) or 'none')):
        return
    h.prepare(spare[:2])
    second = h.device_arg.replace('id=edu0', 'id=edu1')
    src = h.new_vm('src', h.hosts[0], payload_args='edus=2',
                   extra_devices=[second.format(host=spare[0])])
    dst = h.new_vm('dst', h.hosts[1], incoming=True,
                   extra_devices=[second.format(host=spare[1])])
    src.cont()
    checks.wait_ready(h, src, variant)
    first = src.payload_state('before')
    before = src.payload_state('before', '-EDU2')
    if not migrate_together(h, variant, src, dst):
        return
    checks.finish_payload(h, dst, variant, 'destination')
    # The second edu's registers as the payload found them on the
    # destination (printed before it used the device again), against
    # the source's before the migration.  The two edus hold different
    # values, so a state loaded into the wrong one shows.
    after = dst.payload_state('after', '-EDU2')
    differ = [r for r in EDU_REGS
              if not before or not after or before.get(r) != after.get(r)]
    distinct = bool(first and before) and \
        all(first.get(r) != before.get(r) for r in ('live', 'irq'))
    h.tap.ok(not differ and distinct,
             '%s: the second edu\'s registers arrived with the VM, '
             'its own and not the first edu\'s' % variant,
             'first edu before: %s\nsecond before: %s\nsecond after: %s'
             '\ndiffer: %s' % (first, before, after, differ))


@variant('busy')
def busy(h, variant):
    simple(h, variant, payload_args='loop')


@variant('multifd')
def multifd(h, variant):
    src, dst, res, rec = simple(h, variant, multifd=True)
    if src.is_vfio:
        used = any('vfio_save_complete_precopy_thread' in ln
                   for ln in src.trace_lines())
        h.tap.ok(used, '%s: device state sent over multifd (QEMU '
                 'save thread ran)' % variant)
        got = any('vfio_load_state_device_buffer_incoming' in ln
                  for ln in dst.trace_lines())
        h.tap.ok(got, '%s: device state received over multifd '
                 '(buffers loaded by the load thread)' % variant)


@variant('dirty-dma')
def dirty_dma(h, variant):
    src, dst = ready_pair(h, variant, payload_args='dma-pages')
    want = h.args.dirty_dma_writes
    hold = {'w0': None, 't0': None, 'w': 0, 'passes': 0}

    def holding(samples):
        # Until the payload's DMA into its pages ran for a while with
        # the device in PRE_COPY (TICK lines: about one a second).
        s = samples[-1]
        if src.is_vfio and s['device'] != 'pre-copy':
            return True
        w = dma_writes(src)
        if hold['w0'] is None:
            hold['w0'], hold['t0'] = w, now()
            hold['p0'] = s['passes'] or 0
        hold['w'] = w - hold['w0']
        hold['passes'] = (s['passes'] or 0) - hold['p0']
        return hold['w'] < want and \
            now() - hold['t0'] < h.args.dirty_dma_hold

    res = migration.migrate(h, src, dst, hold=holding)
    h.tap.ok(hold['w'] >= want,
             '%s: the device DMA\'d into guest pages %d times while '
             'the migration ran (%d RAM passes) before it could '
             'converge' % (variant, hold['w'], hold['passes']),
             'wanted %d within %s s' % (want, h.args.dirty_dma_hold))
    done = checks.completed(h, variant, src, dst, res)
    checks.precopy(h, variant, src, dst)
    ds = dirty_stats(src)
    if h.dirty == 'device':
        h.tap.ok(ds['pages'] > 0,
                 '%s: the device\'s log reported the pages its DMA '
                 'wrote (%d pages in %d reads)'
                 % (variant, ds['pages'], ds['reads']))
    else:
        for what in ('QEMU tracked the device\'s DMA through its DMA '
                     'log', 'the device\'s log reported the pages its '
                     'DMA wrote'):
            h.tap.skip('%s: %s' % (variant, what), h.dirty_why)
    h.record(variant, res, {'dma_writes_held': hold['w'],
                            'released_s': res['released']}, src=src)
    src.quit()
    if not done:
        return
    checks.finish_payload(h, dst, variant, 'destination')
    m = dst.wait_line(r'LMG DMAPAGES verified pages=(\d+) bad=(\d+) '
                      r'last_written_by_dma=(\d+) dma_writes=(\d+) '
                      r'bad_while_running=(\d+)', 1)
    h.tap.ok(m is not None and m.group(2) == '0' and
             m.group(5) == '0' and int(m.group(3)) > 0,
             '%s: every guest page holds its last data on the '
             'destination (%s of %s pages last written by DMA; bad: '
             '%s at the end, %s while running; %s DMA writes in all)'
             % ((variant,) + (m.group(3, 1, 2, 5, 4) if m else
                              ('?',) * 5)), checks.why(dst))
    h.results[variant][-1]['dma_pages'] = \
        m.group(0).split(' ', 3)[-1] if m else None


@variant('back-and-forth')
def back_and_forth(h, variant):
    a = h.new_vm('src', h.hosts[0])
    b = h.new_vm('mid', h.hosts[1], incoming=True)
    a.cont()
    checks.wait_ready(h, a, variant)
    time.sleep(h.args.settle)
    res = migration.migrate(h, a, b)
    checks.completed(h, variant + ' #1->#2', a, b, res)
    checks.precopy(h, variant + ' #1->#2', a, b)
    h.record(variant, res, {'leg': '1->2'}, src=a)
    a.quit()                    # frees edu #1 for the way back
    n0 = b.nlines()
    b.send('N')
    m = b.wait_line(r'LMG ROUND-DONE round=1 failures=(\d+)',
                    h.args.check_timeout, start=n0)
    h.tap.ok(m is not None and m.group(1) == '0',
             '%s: state verified on #2 after the first migration'
             % variant, checks.why(b))
    checks.wait_ready(h, b, variant, rnd=2)
    c = h.new_vm('back', h.hosts[0], incoming=True)
    time.sleep(h.args.settle)
    _migrate_leg(h, variant, variant + ' #2->#1', b, c, '2->1',
                 'source device again (#1)', verify_if_failed=True)


def refused(h, variant, mutator, payload_args='', when=None):
    src, dst = ready_pair(h, variant, payload_args)
    res = migration.migrate(h, src, dst, proxy_mutator=mutator)
    if mutator is not None:
        h.tap.ok(mutator.done, '%s: proxy changed the device data '
                 'on the wire' % variant,
                 'pattern not found in the stream')
        if mutator.what:
            h.tap.diag('%s: %s' % (variant, mutator.what))
    h.record(variant, res)
    if res['info'].get('status') == 'completed':
        h.tap.ok(False, '%s: migration refused' % variant,
                 'the migration completed: the destination took it')
        return
    checks.source_survived(h, variant, src, dst, res, 'failed')
    states = [s for _, s in src.device_states()]
    stopped = bool(src.qmp.events_named('STOP'))
    h.tap.diag('%s: source device states %s; source VM %s' % (
        variant, ' -> '.join(states),
        'was stopped for a switchover and restarted' if stopped
        else 'never stopped'))
    if when == 'before' and src.is_vfio:
        h.tap.ok(not stopped and 'stop-copy' not in states,
                 '%s: refused before switchover (source VM never '
                 'stopped)' % variant)
    elif when == 'after' and src.is_vfio:
        h.tap.ok(stopped and 'stop-copy' in states,
                 '%s: refused after switchover began (source was in '
                 'STOP_COPY)' % variant)
    checks.finish_payload(h, src, variant, 'source')


def _changed_on_the_wire(h, variant, mutator, when):
    """refused() with @mutator changing the livemig stream in flight."""
    if not h.vfio:
        h.tap.skip(variant, 'needs the livemig stream (vfio)')
        return
    refused(h, variant, mutator, when=when)


@variant('dest-refuses')
def dest_refuses(h, variant):
    _changed_on_the_wire(h, variant, IdentityMutator('flip'), 'before')


@variant('dest-identity')
def dest_identity(h, variant):
    _changed_on_the_wire(h, variant, IdentityMutator('identity'), 'before')


@variant('dest-refuses-late')
def dest_refuses_late(h, variant):
    _changed_on_the_wire(h, variant, LateMutator(), 'after')


@variant('fill-dma-buffer')
def fill_dma_buffer(h, variant):
    refused(h, variant, None, payload_args='fill-dma-buffer')
    kill_all()
    h.prepare()


@variant('stale-buffer')
def stale_buffer(h, variant):
    if not h.vfio:
        h.tap.skip(variant, 'needs two sessions on one real device')
        return
    # The source's edu, then the destination's, holds data an earlier
    # session wrote into its DMA buffer from RAM and left behind.
    for side, filled in (('source', 0), ('destination', 1)):
        _stale_buffer_side(h, variant, side, h.hosts[filled])
        kill_all()
        h.prepare()


def _stale_buffer_side(h, variant, side, host):
    # Session 1: fill the buffer from RAM and close the device.
    with h.new_vm('filler-' + side, host,
                  payload_args='fill-dma-buffer no-migrate '
                  'keep-filled') as vm:
        vm.cont()
        m = vm.wait_line(r'LMG RESULT (PASS|FAIL)', h.args.boot_timeout)
        vm.wait_exit(30)
    if not h.tap.setup(m is not None and m.group(1) == 'PASS',
                       '%s: an earlier session left data in the DMA '
                       'buffer of the %s, %s' % (variant, side, host)):
        return
    # Session 2: migrate a VM that never touched the buffer ith.
    src = h.new_vm('src-' + side, h.hosts[0])
    dst = h.new_vm('dst-' + side, h.hosts[1], incoming=True)
    src.cont()
    checks.wait_ready(h, src, variant)
    h.tap.diag('%s: source payload says: %s' % (
        variant, src.grep(r'LMG DMABUF')))
    time.sleep(h.args.settle)
    res = migration.migrate(h, src, dst)
    h.record(variant, res)
    # The destination's guest would not see the source's bytes: the
    # driver must refuse, on the source (save) or destination (load).
    checks.source_survived(h, '%s: stale %s' % (variant, side), src,
                           dst, res, 'failed')
    checks.finish_payload(h, src, variant, 'source')
    # QEMU names the errno on the source ("Channel error: ..."); on
    # the destination it reports the device whose state failed to load.
    errs = (src.qemu_errors() if side == 'source' else
            dst.qemu_errors())
    pat = (r'Operation not supported' if side == 'source' else
           r'Operation not supported|loading state.*vfio')
    h.tap.ok(any(re.search(pat, e) for e in errs),
             '%s: the %s refused the device state' % (variant, side),
             'QEMU said: %s' % errs[-3:])


@variant('cancel')
def cancel(h, variant):
    src, dst = ready_pair(h, variant)
    hold = {'since': None}

    def in_precopy(samples):
        # Cancel once the device has sat in PRE_COPY for a while.
        s = samples[-1]
        pre = s['device'] == 'pre-copy' if src.is_vfio else True
        if pre and hold['since'] is None:
            hold['since'] = now()
        return hold['since'] is not None and \
            now() - hold['since'] > h.args.cancel_after

    # A trickle of bandwidth and HOLD_PARAMS: it cannot converge, even
    # when only the RAM the payload dirties is resent, so the device
    # stays in PRE_COPY until the cancel.
    res = migration.migrate(h, src, dst, bandwidth=64 << 10,
                            on_active=in_precopy, hold=lambda s: True)
    states = [s for _, s in src.device_states()]
    h.tap.ok(res['info'].get('status') == 'active' and
             (not src.is_vfio or 'pre-copy' in states),
             '%s: migration active with the device in PRE_COPY'
             % variant, 'status %s, device states %s'
             % (res['info'].get('status'), states))
    src.qmp.cmd('migrate_cancel')
    dl = now() + 60
    info = {}
    while now() < dl:
        info = src.qmp.cmd('query-migrate')
        if info.get('status') in ('cancelled', 'failed', 'completed'):
            break
        time.sleep(0.1)
    if not h.tap.ok(info.get('status') == 'cancelled',
                    '%s: migration cancelled (%s)'
                    % (variant, info.get('status'))):
        return
    h.tap.ok(src.status() == 'running',
             '%s: source still running' % variant)
    checks.device_back_in_running(h, variant, src)
    h.record(variant, {'info': info, 'wall_s': res['wall_s']},
             {'leg': 'cancelled'})
    rc = dst.wait_exit(60)
    if rc is None:
        dst.kill()
    h.tap.diag('%s: first destination exited with %s' % (variant, rc))
    # The payload must still see its state on the source after the cancel.
    n0 = src.nlines()
    m = src.wait_line(r'LMG TICK .* bad=(\d+)', 10, start=n0)
    h.tap.ok(m is not None and m.group(1) == '0',
             '%s: payload invariants hold on the source after the '
             'cancel' % variant, checks.why(src))

    dst2 = h.new_vm('dst2', h.hosts[1], incoming=True)
    _migrate_leg(h, variant, variant + ' retry', src, dst2, 'retry',
                 'destination after the retry', verify_if_failed=True)


def _held_in_precopy(h, variant, src, dst):
    """
    Start a migration of @src into @dst that cannot converge (a trickle
    of bandwidth and HOLD_PARAMS) and return once RAM is on the wire,
    the source's device has sat in PRE_COPY for --kill-after seconds
    and the destination's device is RESUMING.  Returns the migration's
    result and whether it got there (one TAP line).
    """
    hold = {'since': None}

    def there(samples):
        s = samples[-1]
        pre = s['device'] == 'pre-copy' if src.is_vfio else True
        resuming = 'resuming' in [st for _, st in dst.device_states()] \
            if dst.is_vfio else True
        if pre and resuming and (s['ram'] or 0) > 0 and \
                hold['since'] is None:
            hold['since'] = now()
        return hold['since'] is not None and \
            now() - hold['since'] > h.args.kill_after

    res = migration.migrate(h, src, dst, bandwidth=64 << 10, on_active=there,
                            hold=lambda s: True)
    s = res['samples'][-1] if res['samples'] else {}
    ok = h.tap.ok(
        res['info'].get('status') == 'active' and
        hold['since'] is not None,
        '%s: migration under way: source device in PRE_COPY, '
        'destination device RESUMING (%s B of RAM, %s B of device data '
        'sent)' % (variant, s.get('ram'), s.get('vfio')),
        'status %s\nsource device states %s\ndestination device '
        'states %s' % (res['info'].get('status'),
                       [x for _, x in src.device_states()],
                       [x for _, x in dst.device_states()]))
    return res, ok


def _sigkill(h, variant, vm, what):
    """SIGKILL @vm's QEMU; one TAP line that it died of it."""
    try:
        os.killpg(vm.proc.pid, signal.SIGKILL)
    except OSError:
        pass
    rc = vm.wait_exit(30)
    vm.close()
    h.tap.ok(rc == -signal.SIGKILL, '%s: %s QEMU killed with SIGKILL '
             '(status %s)' % (variant, what, rc))
    return rc


def _killed_in_precopy(h, variant, victim, what):
    """
    ready_pair(), a migration held with the source's device in PRE_COPY
    (_held_in_precopy()), then the SIGKILL of the @victim's QEMU ('src'
    or 'dst'; @what names it in the TAP line): (src, dst, res), or None
    when the migration never got there.
    """
    src, dst = ready_pair(h, variant)
    res, held = _held_in_precopy(h, variant, src, dst)
    if not held:
        return None
    _sigkill(h, variant, src if victim == 'src' else dst, what)
    return src, dst, res


def _migration_end(vm, timeout=60):
    """query-migrate on @vm once the migration left 'active'."""
    info = {}
    dl = now() + timeout
    while now() < dl:
        info = vm.qmp.cmd('query-migrate')
        if info.get('status') not in ('active', 'setup', 'device',
                                      'pre-switchover', 'cancelling',
                                      'wait-unplug'):
            break
        time.sleep(0.1)
    return info


@variant('dest-killed')
def dest_killed(h, variant):
    got = _killed_in_precopy(h, variant, 'dst',
                             'destination (device RESUMING)')
    if got is None:
        return
    src, dst, res = got
    info = _migration_end(src)
    h.tap.ok(info.get('status') == 'failed',
             '%s: source reports the migration failed (%s: %s)'
             % (variant, info.get('status'), info.get('error-desc')))
    h.record(variant, {'info': info, 'wall_s': now() - res['t0']},
             {'leg': 'destination killed'})
    checks.source_carries_on(h, variant, src, 'the failure')
    checks.device_released(h, variant, h.hosts[1],
                           'edu #2 (its QEMU was killed)')
    # edu #2 must take a whole migration again.
    dst2 = h.new_vm('dst2', h.hosts[1], incoming=True)
    _migrate_leg(h, variant, variant + ' retry', src, dst2, 'retry',
                 'fresh destination on edu #2')


@variant('source-killed')
def source_killed(h, variant):
    got = _killed_in_precopy(h, variant, 'src', 'source (device PRE_COPY)')
    if got is None:
        return
    src, dst, res = got
    # QEMU 10.0 (seen here): the load hits the end of the stream
    # ("Read section footer failed: -5"), QEMU says "load of migration
    # failed" and, migrate-incoming's exit-on-error being true by
    # default, exits with EXIT_FAILURE.
    rc = dst.wait_exit(60)
    errs = dst.qemu_errors()
    h.tap.ok(rc == 1, '%s: destination QEMU exited with status 1 '
             '(got %s)' % (variant, rc), '\n'.join(errs[-5:]))
    h.tap.ok(any('load of migration failed' in e for e in errs),
             '%s: destination QEMU reported the incoming migration '
             'failed' % variant, '\n'.join(errs[-5:]))
    h.tap.ok(not dst.grep(r'LMG '),
             '%s: destination never ran the VM' % variant,
             '\n'.join(dst.grep(r'LMG ')[:5]))
    h.tap.diag('%s: destination device states %s; it said %s' % (
        variant, [s for _, s in dst.device_states()], errs[-3:]))
    dst.close()
    h.record(variant, {'info': res['info'],
                       'wall_s': now() - res['t0']},
             {'leg': 'source killed', 'destination_status': rc})
    checks.device_released(h, variant, h.hosts[0],
                           'edu #1 (killed in PRE_COPY)')
    checks.device_released(h, variant, h.hosts[1],
                           'edu #2 (its load failed in RESUMING)')
    # Both devices, roles swapped, in a new pair of QEMUs: #2 -> #1.
    a = h.new_vm('src2', h.hosts[1])
    b = h.new_vm('dst2', h.hosts[0], incoming=True)
    a.cont()
    checks.wait_ready(h, a, variant)
    time.sleep(h.args.settle)
    _migrate_leg(h, variant, variant + ' #2->#1', a, b, '2->1',
                 'destination (edu #1)')


@variant('iommufd')
def iommufd(h, variant):
    if not h.vfio:
        h.tap.skip(variant, 'not a vfio device')
        return
    why = iommufd_unavailable(h.hosts)
    if why:
        h.tap.skip('%s: migration through QEMU\'s iommufd backend'
                   % variant, why)
        return
    simple(h, variant, iommufd=True)


assert set(REGISTRY) == set(ALL_VARIANTS), 'a variant not in ALL_VARIANTS'
