# SPDX-License-Identifier: GPL-2.0
"""
e2e-bochs on the harness: a VM with a bochs-display instead of an edu,
another payload (build/guest-bochs/payload.elf), its two variants and the
benchmark's one measured migration (scripts/e2e-bochs has the details).
"""

import functools
import json
import os
import subprocess
import time

from . import checks, holds, migration, variants
from .common import REPO, HarnessError, qemu_version
from .harness import Harness
from .qmp import QMPError
from .vfio import VFIO_DRIVERS, BochsBinder

BUILD = os.path.join(REPO, 'build')
PAYLOAD = os.path.join(BUILD, 'guest-bochs', 'payload.elf')
LMBENCH = os.path.join(BUILD, 'tools', 'lmbench')

# rombar=0: the nested firmware must not run the display's option ROM.
DEVICE_ARG = ('vfio-pci,host={host},id=bochs0,enable-migration=on,'
              'migration-events=on,rombar=0')
# The VM without the device still needs a -device: an inert port.
NODEV_ARG = 'isa-debug-exit,iobase=0xf0,iosize=0x01'
PREFILL_SEED = 0x5eed
THP = '/sys/kernel/mm/transparent_hugepage/enabled'


def set_thp(mode):
    """Set the rig kernel's transparent huge page mode; returns the old
    one (the bracketed word of "always [madvise] never"), or None for a
    kernel without them (the debug kernel), which has no khugepaged."""
    if not os.path.exists(THP):
        return None
    with open(THP) as f:
        old = f.read().split('[', 1)[1].split(']', 1)[0]
    with open(THP, 'w') as f:
        f.write(mode)
    return old


class BochsHarness(Harness):
    def __init__(self, args, found):
        self.found = found
        super().__init__(args)

    def pick_hosts(self):
        if not self.vfio:
            return ['nodev-1', 'nodev-2']
        self.drivers = dict(self.found)
        hosts = [b for b, _ in self.found[:2]]
        if self.args.src_host:
            hosts[0] = self.args.src_host
        if self.args.dst_host:
            hosts[1] = self.args.dst_host
        if len(hosts) < 2:
            raise HarnessError(
                'need two bochs-display functions (1234:1111, class '
                '0x0380) bound to %s, found %s' % (' or '.join(VFIO_DRIVERS),
                                                   self.found or 'none'))
        return hosts

    def stall(self, vm, timeout=60):
        """Ask the payload for its access times since the last ask ('S')
        and have it start over: the LMG STALL line as a dict of ints."""
        n0 = vm.nlines()
        vm.send('S')
        m = vm.wait_line(r'LMG STALL (.*)', timeout, start=n0)
        if m is None:
            raise HarnessError('no LMG STALL line from the payload on %s'
                               % vm.name)
        return {k: int(v) for k, v in
                (kv.split('=', 1) for kv in m.group(1).split())}

    def pin_vcpu(self, src, dst):
        """
        Set the rig up as an operator sets up a latency-sensitive VM
        (libvirt's <vcpupin>): the source's vCPU thread(s) (QMP
        query-cpus-fast) and its main loop on the rig's last CPU, every
        other thread of both QEMUs and this harness on the others, the
        destination (another machine, in real life) at nice 19.  The main
        loop stays with the vCPU because in the rig the vCPU thread
        sleeps on QEMU locks the main loop holds (holds.py names the
        waker), and a main loop preempted on the busy CPU made the vCPU
        wait for a CPU, not for the device.  Called again once the
        migration runs, for the threads it started: QEMU's migration
        thread, whose read() calls run the driver's save work, starts on
        its creator's CPUs.  Returns what was pinned: the vCPU's CPU, the
        others, the name of every thread moved off the vCPU's.
        """
        if not hasattr(self, 'cpus'):       # before the first call moved us
            self.cpus = sorted(os.sched_getaffinity(0))
        cpus = self.cpus
        if len(cpus) < 2:
            raise HarnessError('--pin-vcpu needs two CPUs, this guest has '
                               '%s' % cpus)
        vcpu_cpu, others = cpus[-1], set(cpus[:-1])
        vcpus = [c['thread-id'] for c in src.qmp.cmd('query-cpus-fast')]
        own = set(vcpus) | {src.proc.pid}
        moved = []
        os.sched_setaffinity(0, others)
        for vm in (src, dst):
            for tid in map(int, os.listdir('/proc/%d/task' % vm.proc.pid)):
                try:
                    if vm is src and tid in own:
                        os.sched_setaffinity(tid, {vcpu_cpu})
                        continue
                    os.sched_setaffinity(tid, others)
                    if vm is dst:
                        os.setpriority(os.PRIO_PROCESS, tid, 19)
                    with open('/proc/%d/task/%d/comm' % (vm.proc.pid,
                                                         tid)) as f:
                        moved.append('%s %s' % (vm.name, f.read().strip()))
                except (ProcessLookupError, FileNotFoundError):
                    pass                # a thread that ended meanwhile
        got = {t: sorted(os.sched_getaffinity(t)) for t in own}
        if any(g != [vcpu_cpu] for g in got.values()):
            raise HarnessError('the vCPU and main loop threads did not stay '
                               'on CPU %d: %s' % (vcpu_cpu, got))
        return {'vcpu_cpu': vcpu_cpu, 'vcpu_threads': vcpus,
                'other_cpus': sorted(others), 'moved': sorted(moved)}

    def _stall_windows(self, src, window, repin=None):
        """
        The guest's access times (see stall()) over @window seconds with
        no migration ("none"), then a hold for migration.migrate() that
        keeps the migration in PRE_COPY for @window seconds once the
        device is in it and then takes that window ("precopy") before it
        lets the migration converge.  Over the same window the source
        device's lock holds are timed ("precopy_holds", see holds.py):
        what of the guest's stalls the driver can have caused.  Returns
        (the dict the windows go into, the hold, the LockHolds, which the
        caller closes once the migration is over).
        """
        self.stall(src)
        time.sleep(window)
        stall = {'none': self.stall(src)}
        t = {}
        locks = holds.LockHolds()
        locks.start()                       # the arc to PRE_COPY names src

        def holding(samples):
            if samples[-1]['device'] != 'pre-copy':
                return True
            if 't0' not in t:
                if repin:
                    stall['pinned'] = repin()
                locks.window()
                self.stall(src)             # the window starts in PRE_COPY
                t['t0'] = time.monotonic()
            if time.monotonic() - t['t0'] < window:
                return True
            stall['precopy'] = self.stall(src)
            stall['precopy_holds'] = locks.stop(self.hosts[0])
            return False
        return stall, holding, locks

    def bench(self, config, prefill, stall_window=10.0, pin=False):
        """One migration, measured; returns the result record."""
        variant = 'bench-' + config
        if self.vfio:
            variant += '-precopy' if precopy_enabled() else '-stopcopy'
        self.vdir = os.path.join(self.out, variant)
        os.makedirs(self.vdir, exist_ok=True)
        region = self.args.payload_args
        if prefill is not None and self.vfio:
            r = subprocess.run([LMBENCH, 'fill', self.hosts[0],
                                str(PREFILL_SEED), str(prefill)],
                               capture_output=True, text=True)
            if r.returncode:
                raise HarnessError('prefill failed: ' + r.stderr)
        src, dst = variants.ready_pair(self, variant)
        hold = locks = thp = repin = None
        try:
            if config == 'stall':
                if pin:
                    # khugepaged, collapsing the source QEMU's memory, held
                    # its mmap_lock, which the migration thread, holding a
                    # lock the vCPU waited for, then waited for in a page
                    # fault; and it took the vCPU's CPU meanwhile.  Such VMs
                    # run on hugetlbfs or with THP off.
                    thp = set_thp('never')
                    self.pin_vcpu(src, dst)
                    repin = functools.partial(self.pin_vcpu, src, dst)
                stall, hold, locks = self._stall_windows(src, stall_window,
                                                         repin)
                if pin:
                    stall['thp'] = 'never (was %s)' % thp if thp else \
                        'not in this kernel'
            res = migration.migrate(self, src, dst, hold=hold)
        finally:
            if locks:
                locks.close()       # the probes go, window or not
            if thp:
                set_thp(thp)
        done = checks.completed(self, variant, src, dst, res)
        rec = self.record(variant, res)
        if config == 'stall':
            if done:
                stall['switchover'] = self.stall(dst)
            self.tap.ok('precopy' in stall,
                        '%s: the guest timed its accesses while PRE_COPY '
                        'ran' % variant, str(stall))
            rec['stall'] = stall
            self.tap.diag('%s: guest stalls: %s' % (variant, stall))
        stops = [t for t, _ in src.qmp.events_named('STOP')]
        # QEMU sends RESUME before it runs the run-state handlers, vfio's
        # among them, which load the device (RESUMING -> STOP ->
        # RUNNING_P2P -> RUNNING); the vCPUs start after them.  So the
        # guest runs again at the later of RESUME and the device's
        # RUNNING event, not at RESUME.
        resumes = [t for t, _ in dst.qmp.events_named('RESUME')]
        running = [t for t, e in dst.qmp.events_named('VFIO_MIGRATION')
                   if e.get('data', {}).get('device-state') == 'running']
        if stops and resumes:
            resumed = max([resumes[-1]] + running[-1:])
            rec['stop_to_resume_ms'] = round((resumed - stops[-1]) * 1e3, 1)
        src.quit()
        rec['payload_pass'] = done and checks.finish_payload(
            self,
            dst, variant, 'destination')
        dst.quit()
        if prefill is not None and self.vfio:
            skip = 4096 * int(region_pages(region))
            r = subprocess.run([LMBENCH, 'check', self.hosts[1],
                                str(PREFILL_SEED), str(prefill), str(skip)],
                               capture_output=True, text=True)
            ok = r.returncode == 0
            self.tap.ok(ok, '%s: destination VRAM beyond the region is the '
                        'prefilled pattern' % variant, r.stdout + r.stderr)
            rec['prefill_intact'] = ok
        rec.update({'config': config, 'prefill_pct': prefill,
                    'precopy': precopy_enabled() if self.vfio else None,
                    'downtime_limit_ms': self.args.downtime_limit,
                    'switchover_bandwidth': self.args.switchover_bandwidth,
                    'guest_mem_mib': self.args.mem})
        return rec


def precopy_enabled():
    """Does the loaded livemig-vfio-pci offer PRE_COPY (module parameter)?"""
    try:
        with open('/sys/module/livemig_vfio_pci/parameters/precopy') as f:
            return f.read().strip() in ('Y', '1')
    except OSError:
        return None


def region_pages(payload_args):
    for w in payload_args.split():
        if w.startswith('region='):
            return int(w[7:], 0)
    return 64


def plain(h, variant):
    """#1 -> #2 through PRE_COPY, VRAM rewritten throughout."""
    src, dst, res, rec = variants.simple(h, variant)
    vb = res['info'].get('vfio', {}).get('transferred') or 0
    h.tap.diag('%s: %d bytes of device data for %s' % (
        variant, vb, h.hosts))


# The variants of e2e-bochs, in the order they run.
VARIANTS = {'plain': plain,
            'back-and-forth': variants.REGISTRY['back-and-forth']}


def run(mine, args):
    """
    Run e2e-bochs: @mine are its own options (list, bench, prefill,
    region, json, variants), @args e2e-migrate's (cli.parse_args()).
    Returns the exit status.
    """
    if mine.list:
        print('\n'.join(VARIANTS))
        return 0
    r = subprocess.run(['make', '-s', '-C',
                        os.path.join(REPO, 'selftests', 'guest-bochs')],
                       capture_output=True, text=True)
    if r.returncode or not os.path.isfile(PAYLOAD):
        print('Bail out! cannot build %s:\n# %s' % (
            PAYLOAD, '\n# '.join((r.stdout + r.stderr).splitlines()[-10:])))
        return 2
    args.payload = PAYLOAD
    words = ['region=%d' % mine.region]
    if mine.bench == 'nodev':
        words.append('nodev')
        args.device_arg = NODEV_ARG
    else:
        args.device_arg = args.device_arg or DEVICE_ARG
    if mine.prefill is not None:
        words.append('prefilled')
    args.payload_args = ' '.join(words + ([args.payload_args]
                                          if args.payload_args else []))
    args.out = os.path.abspath(os.path.join(args.out, 'bochs'))
    os.makedirs(args.out, exist_ok=True)

    binder = BochsBinder()
    try:
        found = binder.bind() if args.device_arg.startswith('vfio-pci') \
            else []
        try:
            h = BochsHarness(args, found)
        except HarnessError as e:
            print('Bail out! %s' % e)
            return 2
        h.tap.diag('e2e-bochs: %s; devices %s; payload %s %s' % (
            qemu_version(args.qemu), h.drivers_str(), args.payload,
            args.payload_args))
        try:
            if mine.bench:
                try:
                    rec = h.bench(mine.bench, mine.prefill,
                                  mine.stall_window, mine.pin_vcpu)
                except (HarnessError, QMPError, OSError) as e:
                    h.tap.ok(False, 'bench-%s: ran to the end' % mine.bench,
                             str(e))
                    rec = {'config': mine.bench, 'error': str(e)}
                if mine.json:
                    with open(mine.json, 'w') as f:
                        json.dump(rec, f, indent=2, sort_keys=True)
                        f.write('\n')
            else:
                for v in mine.variants or VARIANTS:
                    h.run_variant(v, VARIANTS[v])
                path = os.path.join(args.out, 'results.json')
                with open(path, 'w') as f:
                    json.dump(h.results, f, indent=2, sort_keys=True)
                    f.write('\n')
        finally:
            h.cleanup()
        h.tap.finish()
        if mine.bench:
            print(json.dumps(rec, sort_keys=True))
        return 1 if h.tap.failed else 0
    finally:
        binder.release()
