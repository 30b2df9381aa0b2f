#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
e2e_faults: nested-QEMU live migrations (the e2e harness, selftests/e2e)
with failslab, fail_page_alloc and fail_usercopy aimed at the livemig
module.  Run by selftests/suites.d/fault-inject-e2e on the debug kernel
(skipped elsewhere); see Documentation/robustness.md.

Which calls may fail.  Every attribute gets the stack-trace filter of the
fault-inject suite (a frame inside the module's text among the innermost
FAULT_INJECT_DEPTH frames) plus `task-filter`: only tasks whose
make-it-fail is set are failed.  That flag is set on exactly the QEMU
whose phase a round aims at, on all of its threads (threads created later
inherit it), for exactly that phase: from exec for a device open (through
a wrapper that sets /proc/self/make-it-fail and execs QEMU), from the
`migrate` command for the source's PRE_COPY, from the end of a hold in
PRE_COPY for the switchover and STOP_COPY, for the whole incoming
migration on the destination.  A global probability with the stack
filter alone would fail whichever process reaches the module first: the
other QEMU, or this harness, which opens the devices itself.

The device-region read/write path (livemig_read/livemig_write and the
trapped-BAR helpers between them) is excluded with reject-start/-end:
edu's BAR is trapped, so every guest register access is a read()/write()
on the device FD; a failed one makes QEMU hand the guest all-ones or drop
the write, which is the guest's device misbehaving, not a migration arc,
FD operation or DMA-logging call failing (the fault-inject suite covers
that path from a plain VFIO user).

Each round picks, from its seed, the attributes, probability, interval
and `times` (the cap on injected faults; what is left of it afterwards is
the count of faults that hit).  A round where no fault hit is retried
with interval 1 (the first eligible call fails); if none hits then, the
fault case is reported as SKIP, never as a pass.  Outcomes accepted:
  - the migration completes and the payload verifies the device state on
    the destination;
  - it fails cleanly: QEMU reports the error, the source VM runs again with
    its device back in RUNNING and the destination gives up;
  - for an open: QEMU refuses to start, or to migrate, saying why.
Then, with injection off, the devices must prove recoverable: a source
that survived a failure is migrated again to a fresh destination (whose
payload verifies the state programmed before the fault), otherwise a
fresh pair of QEMUs migrates; either must complete with the state
verified.  The kernel log of the round must hold no splat.  Each round
also names where its faults landed: the innermost module function of
each logged fault stack (verbose 2).

Environment: FAULT_INJECT_E2E_SECONDS (time budget, default 900: a round
starts only if one more of the average length still fits, the rest are
SKIPs), FAULT_INJECT_E2E_SEED (base seed, default 1; round i uses
seed + i), FAULT_INJECT_E2E_ROUNDS (names, space separated; default
all), FAULT_INJECT_E2E_HOLD (seconds the source is
held in PRE_COPY, default 3), FAULT_INJECT_DEPTH (default 16),
FAULT_INJECT_VERBOSE (the attributes' verbose, default 2: a stack per
fault, from which each round names where its faults landed).

TAP out; exit 0 all passed, 1 a failure, 4 skipped.
"""

import os
import random
import re
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True

REPO = os.environ.get('LIVEMIG_REPO') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))

from e2e import checks, cli, migration  # noqa: E402 - after the path above
from e2e.common import HarnessError  # noqa: E402
from e2e.harness import Harness  # noqa: E402
from e2e.qmp import QMPError  # noqa: E402
from e2e.vm import kill_all, shell_quote  # noqa: E402

DBG = '/sys/kernel/debug'
MOD = 'livemig_vfio_pci'
ALL_ATTRS = ('failslab', 'fail_page_alloc', 'fail_usercopy')
ULONG_MAX = (1 << 64) - 1

# The device-region read/write path: excluded (see above).
REJECT_SYMS = ('livemig_trapped', 'livemig_mem_enabled', 'livemig_trapped_one',
               'livemig_trapped_rw', 'livemig_read', 'livemig_write')
# What the reject range must never cover: the migration, FD and DMA
# logging code.
KEEP_RX = re.compile(r'migf|fsm|dirty|livemig_ioctl|open_device|'
                     r'close_device|feature|precopy|stream|lm_')

# name, which QEMU is failed, in which phase, which attributes may fail.
ROUNDS = (
    ('precopy', 'src', 'precopy', ALL_ATTRS),
    ('resume', 'dst', 'resume', ALL_ATTRS),
    ('switchover', 'src', 'switchover', ALL_ATTRS),
    ('open-src', 'src', 'open', ALL_ATTRS),
    ('open-dst', 'dst', 'open', ALL_ATTRS),
    ('precopy-usercopy', 'src', 'precopy', ('fail_usercopy',)),
    ('resume-usercopy', 'dst', 'resume', ('fail_usercopy',)),
    ('precopy-alloc', 'src', 'precopy', ('failslab', 'fail_page_alloc')),
)


def now():
    return time.monotonic()


def skip_all(why):
    print('1..0 # SKIP %s' % why)
    sys.exit(4)


def bail(why):
    """What the rig always provides is missing: a failure, not a skip."""
    print('Bail out! %s' % why)
    sys.exit(1)


# --- debugfs fault attributes ----------------------------------------------

class Faults:
    def __init__(self):
        self.attrs = [a for a in ALL_ATTRS
                      if os.path.isdir(os.path.join(DBG, a))]
        self.armed = {}

    def _path(self, attr, knob):
        return os.path.join(DBG, attr, knob)

    def set(self, attr, knob, val):
        p = self._path(attr, knob)
        if os.path.exists(p):
            with open(p, 'w') as f:
                f.write('%s\n' % val)

    def get(self, attr, knob):
        with open(self._path(attr, knob)) as f:
            return f.read().strip()

    def configure(self, lo, hi, rlo, rhi, depth, verbose):
        for a in self.attrs:
            self.set(a, 'probability', 0)
            self.set(a, 'times', 0)
            self.set(a, 'space', 0)
            self.set(a, 'interval', 1)
            self.set(a, 'task-filter', 'Y')
            self.set(a, 'stacktrace-depth', depth)
            self.set(a, 'require-start', lo)
            self.set(a, 'require-end', hi)
            self.set(a, 'reject-start', rlo)
            self.set(a, 'reject-end', rhi)
            self.set(a, 'verbose', verbose)
        # By default GFP_KERNEL allocations and order-0 pages never fail.
        self.set('failslab', 'ignore-gfp-wait', 'N')
        self.set('fail_page_alloc', 'ignore-gfp-wait', 'N')
        self.set('fail_page_alloc', 'ignore-gfp-highmem', 'N')
        self.set('fail_page_alloc', 'min-order', 0)

    def arm(self, attrs, probability, interval, times):
        """Nothing fails until a task gets make-it-fail."""
        self.armed = {}
        for a in attrs:
            if a not in self.attrs:
                continue
            self.set(a, 'probability', 0)
            self.set(a, 'interval', interval)
            self.set(a, 'times', times)
            self.set(a, 'probability', probability)
            self.armed[a] = times

    def injected(self):
        """Faults injected since arm(), per attribute (`times` counts down)."""
        return {a: t - int(self.get(a, 'times'))
                for a, t in self.armed.items()}

    def disarm(self):
        for a in self.armed:
            self.set(a, 'probability', 0)
        got = self.injected()
        for a in self.armed:
            self.set(a, 'times', 0)
        self.armed = {}
        return got

    def restore(self):
        for a in self.attrs:
            self.set(a, 'probability', 0)
            self.set(a, 'times', 1)
            self.set(a, 'interval', 1)
            self.set(a, 'task-filter', 'N')
            self.set(a, 'require-start', 0)
            self.set(a, 'require-end', ULONG_MAX)
            self.set(a, 'reject-start', 0)
            self.set(a, 'reject-end', 0)
            self.set(a, 'verbose', 2)
        self.set('failslab', 'ignore-gfp-wait', 'Y')
        self.set('fail_page_alloc', 'ignore-gfp-wait', 'Y')
        self.set('fail_page_alloc', 'min-order', 1)


def set_make_it_fail(pid, on):
    """make-it-fail on every thread of @pid (twice: threads being born)."""
    for _ in range(2):
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            return
        for tid in tids:
            try:
                with open('/proc/%d/task/%s/make-it-fail' % (pid, tid),
                          'w') as f:
                    f.write('1' if on else '0')
            except OSError:
                pass


def module_text():
    """Sorted (address, name) of the module's text symbols."""
    syms = []
    with open('/proc/kallsyms') as f:
        for ln in f:
            parts = ln.split()
            if len(parts) >= 4 and parts[3] == '[%s]' % MOD and \
                    parts[1] in ('t', 'T'):
                syms.append((int(parts[0], 16), parts[2]))
    return sorted(syms)


def reject_range(syms):
    """[start, end) around the region read/write path, and what it holds."""
    addrs = [a for a, n in syms if n in REJECT_SYMS]
    if not addrs:
        return None
    lo, hi = min(addrs), max(addrs)
    after = [a for a, _ in syms if a > hi]
    end = after[0] if after else hi + 4096
    inside = [n for a, n in syms if lo <= a < end]
    return lo, end, inside


def fault_sites(lines):
    """
    Where the injected faults landed, from the kernel log (verbose 2: a
    stack per fault; those of __GFP_NOWARN allocations are not logged):
    'attribute at innermost-module-function (thread)' per fault.
    """
    out = []
    cur = None
    for ln in lines:
        ln = re.sub(r'^\[[ \d.]+\] ', '', ln).strip()
        if ln.startswith('FAULT_INJECTION: forcing a failure'):
            cur = {'attr': '?', 'comm': '?', 'site': None}
            out.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r'name (\w+), interval', ln)
        if m:
            cur['attr'] = m.group(1)
            continue
        m = re.search(r' Comm: (\S+)', ln)
        if m:
            cur['comm'] = m.group(1)
            continue
        m = re.match(r'(\w+)\+0x[0-9a-f]+/0x[0-9a-f]+ \[%s\]' % MOD, ln)
        if m and cur['site'] is None:
            cur['site'] = m.group(1)
            continue
        if ln.startswith('</TASK>'):
            cur = None
    return ['%s at %s (%s)' % (f['attr'], f['site'] or '?', f['comm'])
            for f in out]


# --- the rounds -----------------------------------------------------------

class Round:
    def __init__(self, idx, name, target, phase, attrs, seed, attempt):
        self.idx, self.name = idx, name
        self.target, self.phase, self.attrs = target, phase, attrs
        self.seed = seed
        rng = random.Random(seed)
        if attempt:
            # Retry: the first eligible call fails.
            self.probability, self.interval, self.times = 100, 1, 1
        elif phase == 'open':
            self.probability, self.interval, self.times = \
                100, rng.randint(1, 6), 1
        else:
            self.probability = rng.choice((100, 100, 50))
            self.interval = rng.randint(1, 5)
            self.times = rng.randint(1, 3)
        self.attempt = attempt

    def label(self):
        return 'round %d %s' % (self.idx, self.name)

    def params(self):
        return ('%s QEMU, %s; %s; probability %d%%, interval %d, times %d, '
                'seed %d%s' % (self.target, self.phase, '+'.join(self.attrs),
                               self.probability, self.interval, self.times,
                               self.seed,
                               ' (retry)' if self.attempt else ''))


class Runner:
    def __init__(self, h, faults, out):
        self.h, self.faults, self.out = h, faults, out
        self.tap = h.tap
        self.real_qemu = h.qemu
        self.wrapper = os.path.join(out, 'qemu-make-it-fail')
        with open(self.wrapper, 'w') as f:
            f.write('#!/bin/sh\n# QEMU with make-it-fail set from exec on.\n'
                    'echo 1 >/proc/self/make-it-fail || exit 126\n'
                    'exec %s "$@"\n' % shell_quote(self.real_qemu))
        os.chmod(self.wrapper, 0o755)
        self.hold_s = float(os.environ.get('FAULT_INJECT_E2E_HOLD', '3'))
        self.summary = []

    def kill_all(self):
        kill_all()

    def new_vm(self, name, host, incoming=False, failing=False):
        self.h.qemu = self.wrapper if failing else self.real_qemu
        try:
            return self.h.new_vm(name, host, incoming=incoming)
        finally:
            self.h.qemu = self.real_qemu

    # -- one attempt of a fault round: checks are collected, not printed --

    def attempt(self, r):
        h = self.h
        verdicts = []               # (cond, name, diag)
        by_state = {}
        res = {'outcome': None, 'error': None}
        faulted = {'vm': None}

        def chk(cond, name, diag=None):
            verdicts.append((bool(cond), '%s: %s' % (r.label(), name),
                             diag))
            return bool(cond)

        def fail_on(vm, on):
            if vm is not None and vm.proc.poll() is None:
                set_make_it_fail(vm.proc.pid, on)

        def count(state):
            if not self.faults.armed:
                return
            n = sum(self.faults.injected().values())
            seen = sum(by_state.values())
            if n > seen:
                by_state[state] = by_state.get(state, 0) + n - seen

        src = dst = None
        self.faults.arm(r.attrs, r.probability, r.interval, r.times)
        try:
            # Source.
            try:
                src = self.new_vm('src', h.hosts[0],
                                  failing=(r.target, r.phase) == ('src',
                                                                  'open'))
            except HarnessError as e:
                count('open')
                res.update(outcome='start-failed', error=str(e))
                self._start_failed(chk, res, 'source', None)
                return verdicts, res, by_state
            src.cont()
            ready = src.wait_line(r'LMG MIGRATE-NOW round=1',
                                  h.args.boot_timeout)
            fail_on(src, False)
            count('open')
            if ready is None:
                res.update(outcome='start-failed', error='\n'.join(
                    src.qemu_errors()[-5:]))
                self._start_failed(chk, res, 'source', src)
                return verdicts, res, by_state
            before = src.payload_state('before')
            # Destination.
            try:
                dst = self.new_vm('dst', h.hosts[1], incoming=True,
                                  failing=(r.target, r.phase) == ('dst',
                                                                  'open'))
            except HarnessError as e:
                count('open')
                res.update(outcome='start-failed', error=str(e))
                self._start_failed(chk, res, 'destination', None)
                res['recovered'] = self._migrate_again(src, r.label())
                return verdicts, res, by_state
            fail_on(dst, False)
            count('open')
            time.sleep(h.args.settle)

            if r.phase == 'resume':
                fail_on(dst, True)
                faulted['vm'] = dst
            elif r.phase == 'precopy':
                fail_on(src, True)
                faulted['vm'] = src
            hold_state = {'since': None}

            def hold(samples):
                s = samples[-1]
                watch = faulted['vm'] or src
                count((watch.device_states() or [(0, 'setup')])[-1][1])
                if r.phase not in ('precopy', 'switchover'):
                    return False
                if s['device'] != 'pre-copy':
                    return True
                if hold_state['since'] is None:
                    hold_state['since'] = now()
                held = now() - hold_state['since']
                if r.phase == 'precopy':
                    if held < self.hold_s and \
                            sum(self.faults.injected().values()) < r.times:
                        return True
                    fail_on(src, False)
                    faulted['vm'] = None
                    return False
                if held < 1:
                    return True
                fail_on(src, True)      # switchover
                faulted['vm'] = src
                return False

            def on_active(samples):
                watch = faulted['vm'] or src
                count((watch.device_states() or [(0, 'setup')])[-1][1])
                return False

            try:
                mig = migration.migrate(h, src, dst, hold=hold,
                                        on_active=on_active)
            except QMPError as e:
                mig = None
                res.update(outcome='refused', error=str(e))
            fail_on(src, False)
            fail_on(dst, False)
            count('end')
            if mig is not None:
                info = mig['info']
                res['outcome'] = info.get('status')
                res['error'] = info.get('error-desc')
                h.record(r.label(), mig, {'params': r.params()}, src=src)
            got = self.faults.disarm()
            res['injected'] = got
            if res['outcome'] == 'completed':
                src.quit()
                ok = checks.finish_payload(h, dst, r.label(), 'destination',
                                           report=False)
                chk(ok, 'migration completed and the payload verified the '
                    'device state on the destination', checks.why(dst))
                res['registers'] = (before, dst.payload_state('after'))
            elif res['outcome'] in ('failed', 'refused'):
                self._failed_cleanly(chk, res, src, dst, r.label())
            else:
                chk(False, 'migration ended (%s)' % res['outcome'],
                    res['error'])
            return verdicts, res, by_state
        finally:
            if self.faults.armed:
                res['injected'] = self.faults.disarm()
            self.kill_all()

    def _start_failed(self, chk, res, which, vm):
        """QEMU did not come up, or its payload could not use the device."""
        if vm is not None:
            rc = vm.proc.poll()
            errs = vm.qemu_errors()
            chk(rc is None or rc > 0,
                '%s QEMU did not crash (status %s)' % (which, rc))
            chk(errs, '%s QEMU reported why the device is unusable: %s'
                % (which, (errs or ['nothing'])[-1][:200]), vm.stderr_tail())
        else:
            chk(res['error'] and 'did not come up' in res['error'] and
                len(res['error'].splitlines()) > 1,
                '%s QEMU refused to start and said why: %s'
                % (which, (res['error'] or '').splitlines()[-1][:200]),
                res['error'])

    def _failed_cleanly(self, chk, res, src, dst, label):
        chk(res['error'], 'migration %s with an error from QEMU: %s'
            % (res['outcome'], (res['error'] or 'none')[:200]))
        state = checks.wait_running(src)
        chk(state == 'running', 'source VM running again (%s)' % state)
        ev = [s for _, s in src.device_states()]
        chk(not ev or ev[-1] == 'running',
            'source device back in RUNNING (%s)' % ' -> '.join(ev))
        if dst is not None:
            rc = dst.wait_exit(60)
            chk(not dst.grep(r'LMG RESUMED'),
                'destination did not run the VM (QEMU status %s)' % rc,
                dst.stderr_tail())
            errs = dst.qemu_errors()
            if errs:
                self.h.tap.diag('%s: the destination said: %s'
                                % (label, errs[-1][:300]))
            dst.kill()
        res['recovered'] = self._migrate_again(src, label)

    def _migrate_again(self, src, label):
        """
        With injection off, migrate the surviving source to a fresh
        destination on the other device: the payload there verifies the
        state it programmed before the failure (so the source's device
        kept it), and both devices prove recoverable.
        """
        try:
            dst = self.new_vm('dst2', self.h.hosts[1], incoming=True)
            return self._complete(src, dst, label, label + ' again')
        except (HarnessError, QMPError, OSError) as e:
            return False, str(e)

    def _complete(self, src, dst, label, what):
        """
        Migrate src to dst with injection off; (True, None) once it
        completed and the destination's payload verified the state,
        else (False, why).
        """
        h = self.h
        mig = migration.migrate(h, src, dst)
        h.record(what, mig)
        st = mig['info'].get('status')
        if st != 'completed':
            return False, 'migration %s: %s' % (
                st, mig['info'].get('error-desc'))
        src.quit()
        if not checks.finish_payload(h, dst, label, 'destination',
                                     report=False):
            return False, checks.why(dst)
        return True, None

    # -- recovery: a clean migration with injection off --

    def recover(self, label):
        h = self.h
        try:
            src = self.new_vm('src', h.hosts[0])
            dst = self.new_vm('dst', h.hosts[1], incoming=True)
            src.cont()
            if src.wait_line(r'LMG MIGRATE-NOW round=1',
                             h.args.boot_timeout) is None:
                return False, 'source payload not ready:\n' + checks.why(src)
            time.sleep(h.args.settle)
            return self._complete(src, dst, label, label + ' recovery')
        except (HarnessError, QMPError, OSError) as e:
            return False, str(e)
        finally:
            self.kill_all()

    def run_round(self, idx, spec, seed):
        h = self.h
        name, target, phase, attrs = spec
        attrs = tuple(a for a in attrs if a in self.faults.attrs)
        h.vdir = os.path.join(self.out, 'round-%d-%s' % (idx, name))
        os.makedirs(h.vdir, exist_ok=True)
        before = h.dmesg()
        t0 = now()
        result = None
        for attempt in range(2):
            r = Round(idx, name, target, phase, attrs, seed + 1000 * attempt,
                      attempt)
            h.tap.diag('--- %s: %s' % (r.label(), r.params()))
            klog = h.dmesg() or []
            try:
                verdicts, res, by_state = self.attempt(r)
            except Exception as e:     # noqa: BLE001 - reported, next round
                why = str(e) if isinstance(e, (HarnessError,
                                               QMPError)) \
                    else traceback.format_exc()
                verdicts, res, by_state = [(False, '%s: ran to the end'
                                            % r.label(), why)], \
                    {'outcome': 'error', 'error': str(e),
                     'injected': self.faults.disarm()}, {}
                self.kill_all()
            got = res.get('injected') or {}
            n = sum(got.values())
            h.tap.diag('%s: %d faults injected (%s); by device state %s; '
                       'outcome %s%s' % (
                           r.label(), n, ', '.join('%s %d' % kv for kv in
                                                   got.items()) or 'none',
                           by_state or '{}', res['outcome'],
                           ' (%s)' % res['error'].splitlines()[-1][:200]
                           if res.get('error') else ''))
            after = h.dmesg() or []
            sites = fault_sites(after[len(klog):] if after[:len(klog)] == klog
                                else after[-2000:])
            if sites:
                h.tap.diag('%s: logged faults: %s' % (r.label(),
                                                      '; '.join(sites)))
            result = (r, verdicts, res, by_state, n)
            if n or any(not c for c, _, _ in verdicts):
                break
            h.tap.diag('%s: no fault hit; the checks of this attempt do '
                       'not count' % r.label())
        r, verdicts, res, by_state, n = result
        if n:
            h.tap.diag('%s: %d faults injected (%s)' % (
                r.label(), n, ', '.join('%s %d' % kv for kv in
                                        res['injected'].items() if kv[1])))
            for cond, cname, diag in verdicts:
                h.tap.ok(cond, cname, diag)
        else:
            bad = [c for c in verdicts if not c[0]]
            for cond, cname, diag in bad:
                h.tap.ok(cond, cname, diag)
            h.tap.skip('%s: fault case' % r.label(),
                       'no fault hit in %s (%s)' % (r.phase, r.params()))
        if res.get('recovered'):
            ok, why = res['recovered']
            h.tap.ok(ok, '%s: source recovered: migrated again without '
                     'faults to a fresh destination, device state verified'
                     % r.label(), why)
        else:
            ok, why = self.recover(r.label())
            h.tap.ok(ok, '%s: devices recoverable: a clean migration '
                     'afterwards completed with the device state verified'
                     % r.label(), why)
        h.check_dmesg(r.label(), before)
        self.summary.append('%s: %d faults (%s), %s, %s, %.0f s' % (
            r.label(), n, ', '.join('%s %d' % kv for kv in
                                    (res.get('injected') or {}).items()),
            res['outcome'], 'recovered' if ok else 'NOT recovered',
            now() - t0))


def main():
    for a in ('failslab', 'fail_page_alloc'):
        if not os.path.isdir(os.path.join(DBG, a)):
            skip_all('no %s in debugfs (kernel without fault injection)' % a)
    if not os.path.exists('/proc/self/make-it-fail'):
        skip_all('no /proc/self/make-it-fail')
    try:
        with open('/proc/modules') as f:
            if not any(ln.startswith(MOD + ' ') for ln in f):
                bail('module %s not loaded' % MOD)
    except OSError:
        bail('no /proc/modules')
    syms = module_text()
    if not syms or syms[0][0] == 0:
        bail('no addresses for %s in /proc/kallsyms' % MOD)
    lo, hi = syms[0][0], syms[-1][0] + 65536
    rej = reject_range(syms)
    if rej is None:
        print('Bail out! none of %s in /proc/kallsyms: cannot keep faults '
              'out of the device-region read/write path' % (REJECT_SYMS,))
        return 1
    rlo, rhi, inside = rej
    kept = [n for n in inside if KEEP_RX.search(n) and n not in REJECT_SYMS]
    if kept:
        print('Bail out! the reject range %#x-%#x would cover %s'
              % (rlo, rhi, kept))
        return 1

    out = os.path.join(REPO, 'build', 'fault-inject-e2e')
    os.makedirs(out, exist_ok=True)
    args = cli.parse_args(['--out', out, '--timeout', '240'])
    if not os.path.isfile(args.payload):
        bail('no payload at %s (make -C selftests/guest)' % args.payload)
    try:
        h = Harness(args)
    except HarnessError as e:
        # No devices, no QEMU: the rig has both, so this is a failure.
        bail(str(e))

    faults = Faults()
    budget = float(os.environ.get('FAULT_INJECT_E2E_SECONDS', '900'))

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)     # restore the attributes on the way
    signal.signal(signal.SIGTERM, on_signal)
    seed = int(os.environ.get('FAULT_INJECT_E2E_SEED', '1'))
    only = os.environ.get('FAULT_INJECT_E2E_ROUNDS', '').split()
    rounds = [s for s in ROUNDS if not only or s[0] in only]
    t0 = now()
    h.tap.diag('fault-inject-e2e: module text %#x-%#x; not failed: %#x-%#x '
               '(%s); devices %s; dirty tracking %s' % (
                   lo, hi, rlo, rhi, ' '.join(inside), h.drivers_str(),
                   h.dirty))
    runner = None
    try:
        faults.configure(lo, hi, rlo, rhi,
                         int(os.environ.get('FAULT_INJECT_DEPTH', '16')),
                         int(os.environ.get('FAULT_INJECT_VERBOSE', '2')))
        h.prepare()
        runner = Runner(h, faults, out)
        took = []
        for spec in rounds:
            i = ROUNDS.index(spec) + 1      # seeds do not depend on the pick
            # Start a round only if one more as long as the average fits.
            mean = sum(took) / len(took) if took else 0
            if now() - t0 + mean > budget:
                h.tap.skip('round %d %s' % (i, spec[0]),
                           'time budget FAULT_INJECT_E2E_SECONDS=%d s: '
                           '%.0f s spent, a round takes about %.0f s'
                           % (budget, now() - t0, mean))
                continue
            t1 = now()
            runner.run_round(i, spec, seed + i)
            took.append(now() - t1)
    finally:
        faults.restore()
        h.cleanup()
    for ln in runner.summary if runner else []:
        h.tap.diag(ln)
    print('1..%d' % h.tap.n)
    print('# fault-inject-e2e: %d passed, %d failed (%.0f s)'
          % (h.tap.n - h.tap.failed, h.tap.failed, now() - t0))
    return 1 if h.tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
