# SPDX-License-Identifier: GPL-2.0
"""
The Harness: what one run of e2e-migrate (or e2e-bochs, or the
fault-injection runner) holds - its arguments, its Tap, the two devices
(pick_hosts(), which a harness for other devices overrides), how QEMU
tracks the device's dirtying, the directory each variant logs into
(vdir), the figures of every migration (results, record()) - and the
steps around the variants: new_vm(), prepare(), run_variant(), the
kernel log, cleanup().
"""

import os
import random
import shutil
import subprocess
import tempfile

from . import checks
from .checks import PAYLOAD_PASS_RC
from .common import REPO, HarnessError, now
from .migration import dirty_stats
from .qmp import QMPError
from .tap import Tap
from .vfio import (DRIVER, EDU_DEVICE, EDU_VENDOR, VFIO_DRIVERS,
                   driver_of, kernel_has_iova_bitmap, probe_dma_logging,
                   sysfs, write)
from .vm import VM, kill_all


# The device, when the driver offers DMA logging: QEMU's defaults (see
# "Dirty tracking" at the top of scripts/e2e-migrate); migration-events=on
# only adds the VFIO_MIGRATION events.
VFIO_DEVICE_ARG_PLAIN = 'vfio-pci,host={host},id=edu0,migration-events=on'
# Without it: QEMU treats all guest RAM as dirty on every pass.
VFIO_DEVICE_ARG = ('vfio-pci,host={host},id=edu0,enable-migration=on,'
                   'migration-events=on')


class Harness:
    def __init__(self, args):
        self.args = args
        self.tap = Tap()
        self.qemu = args.qemu
        self.payload = args.payload
        self.device_arg = args.device_arg or VFIO_DEVICE_ARG
        self.vfio = self.device_arg.startswith('vfio-pci')
        self.out = args.out
        self.results = {}
        self.sockdir = tempfile.mkdtemp(prefix='e2e-migrate-', dir='/tmp')
        self.vdir = None
        self.hosts = self.pick_hosts()
        self._pick_dirty_tracking()
        self.use_dmesg = args.dmesg if args.dmesg is not None else \
            (os.environ.get('LIVEMIG_VM') == '1')

    def pick_hosts(self):
        """
        The source and destination devices (BDFs): two edu functions
        bound to a vfio driver, or --src-host/--dst-host.  Sets
        self.drivers ({BDF: driver}).  A harness for other devices
        overrides it; it runs in __init__, with self.args and self.vfio
        set.
        """
        if not self.vfio:
            return ['emulated-1', 'emulated-2']
        if self.args.src_host and self.args.dst_host:
            return [self.args.src_host, self.args.dst_host]
        found = []
        env = os.environ.get('LIVEMIG_EDU', '').split()
        cands = env or sorted(os.listdir('/sys/bus/pci/devices'))
        for bdf in cands:
            if (sysfs(bdf, 'vendor'), sysfs(bdf, 'device')) != \
                    (EDU_VENDOR, EDU_DEVICE):
                continue
            drv = driver_of(bdf)
            if drv in VFIO_DRIVERS:
                found.append((bdf, drv))
        self.drivers = dict(found)
        if len(found) < 2:
            raise HarnessError(
                'need two edu devices (1234:11e8) bound to %s, found %s; '
                'run inside the rig (scripts/vm -- scripts/e2e-migrate) or '
                'use --device-arg edu on a development host'
                % (' or '.join(VFIO_DRIVERS), found or 'none'))
        hosts = [b for b, _ in found[:2]]
        if self.args.src_host:
            hosts[0] = self.args.src_host
        if self.args.dst_host:
            hosts[1] = self.args.dst_host
        return hosts

    def _pick_dirty_tracking(self):
        """
        Set self.dirty ('device': both QEMUs get QEMU's default device
        arguments and must track the device's DMA through its log;
        'none': enable-migration=on) and self.dirty_why, the reason.
        """
        want = self.args.dirty_tracking
        self.dirty_probe = {}
        self.dirty_verdict = None       # None: skip; True/False: ok/not ok
        if not self.vfio:
            self.dirty = 'none'
            self.dirty_why = 'not a vfio device'
            return
        for host in self.hosts:
            self.dirty_probe[host] = probe_dma_logging(host)
        offered = all(r[0] for r in self.dirty_probe.values())
        iova = kernel_has_iova_bitmap()
        if offered:
            self.dirty_why = ('livemig-vfio-pci offers DMA logging on %s '
                              '(VFIO_DEVICE_FEATURE_PROBE)'
                              % ' and '.join(self.hosts))
            self.dirty_verdict = True
        elif any(r[0] is None for r in self.dirty_probe.values()):
            self.dirty_why = 'could not ask the driver: %s' % '; '.join(
                r[1] for r in self.dirty_probe.values() if r[0] is None)
            self.dirty_verdict = False
        elif iova is False:
            self.dirty_why = ('kernel %s without CONFIG_IOMMUFD_DRIVER (no '
                              'iova_bitmap_set in /proc/kallsyms): vfio core '
                              'cannot report DMA logging, so the driver does '
                              'not offer it' % os.uname().release)
        else:
            self.dirty_why = ('livemig-vfio-pci does not offer DMA logging '
                              '(probe: %s) although the kernel %s can report '
                              'it' % (', '.join(
                                  '%s %s' % (h, r[1]) for h, r in
                                  self.dirty_probe.items() if not r[0]),
                                  'has iova_bitmap' if iova else
                                  'may have iova_bitmap'))
            self.dirty_verdict = False
        if want == 'none':
            self.dirty = 'none'
            self.dirty_why = 'forced by --dirty-tracking none; ' + \
                self.dirty_why
            self.dirty_verdict = None
        else:
            self.dirty = 'device' if offered or want == 'device' else 'none'
        if self.args.device_arg is None and self.dirty == 'device':
            self.device_arg = VFIO_DEVICE_ARG_PLAIN
        elif self.args.device_arg is None and offered:
            # enable-migration=on alone would still use the device's log.
            self.device_arg = VFIO_DEVICE_ARG + \
                ',x-device-dirty-page-tracking=off'

    def report_dirty_tracking(self):
        """The one TAP line about the probe, before the variants."""
        name = 'dirty tracking: the driver offers DMA logging to QEMU'
        if self.dirty_verdict is None:
            self.tap.skip(name, self.dirty_why)
        else:
            self.tap.ok(self.dirty_verdict, name, self.dirty_why)
        self.tap.diag('dirty tracking: %s; device %s' % (
            'QEMU defaults, the device\'s DMA log' if self.dirty == 'device'
            else 'none (QEMU treats all RAM as dirty)', self.device_arg))

    def cleanup(self):
        kill_all()
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def new_vm(self, name, host, incoming=False, payload_args='',
               iommufd=False, extra_devices=()):
        words = [x for x in (payload_args, self.args.payload_args) if x]
        if not incoming:
            # Register values of its own for every VM that boots the
            # payload (the destination gets them with the VM's RAM).
            seed = self.args.seed or random.randrange(1, 1 << 31)
            words.append('seed=%d' % seed)
            self.tap.diag('%s on %s: payload seed=%d (E2E_SEED=%d repeats '
                          'it)' % (name, host, seed, seed))
        return VM(name, host, qemu=self.qemu, payload=self.payload,
                  device_arg=self.device_arg, machine=self.args.machine,
                  mem=self.args.mem, vdir=self.vdir, sockdir=self.sockdir,
                  boot_timeout=self.args.boot_timeout, incoming=incoming,
                  payload_args=' '.join(words), iommufd=iommufd,
                  extra_devices=extra_devices,
                  echo=self.tap.diag if self.args.verbose else None)

    def dmesg(self):
        if not self.use_dmesg:
            return None
        try:
            return subprocess.run(['dmesg'], capture_output=True, text=True,
                                  timeout=20).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            return None

    def check_dmesg(self, variant, before):
        # Not a test of its own: the rig's scan of the whole guest log
        # (and run-suites' scan of this suite's records) counts a splat;
        # this only says which variant was running.
        after = self.dmesg()
        if before is None or after is None:
            self.tap.diag('%s: kernel log not read (not in the rig)'
                          % variant)
            return []
        # The ring may have wrapped; fall back to the whole tail then.
        new = after[len(before):] if after[:len(before)] == before \
            else after[-400:]
        with open(os.path.join(self.vdir, 'dmesg-delta.log'), 'w') as f:
            f.write('\n'.join(new) + '\n')
        scan = os.path.join(REPO, 'scripts', 'splat-scan')
        if os.access(scan, os.X_OK):
            r = subprocess.run([scan, '-'], input='\n'.join(new) + '\n',
                               capture_output=True, text=True)
            if r.returncode != 0:
                self.tap.diag('%s: the kernel logged a splat during it:\n%s'
                              % (variant, r.stdout[-3000:]))
        return [ln for ln in new if 'livemig' in ln or 'vfio' in ln]

    def record(self, variant, res, extra=None, src=None):
        """
        Keep one migration's figures in results.json; with @src (the
        source VM) also how QEMU tracked the device's dirtying.
        """
        info = res['info']
        r = {
            'status': info.get('status'),
            'total_ms': info.get('total-time'),
            'downtime_ms': info.get('downtime'),
            'setup_ms': info.get('setup-time'),
            'device_bytes': info.get('vfio', {}).get('transferred'),
            'ram_bytes': info.get('ram', {}).get('transferred'),
            'ram_passes': info.get('ram', {}).get('dirty-sync-count'),
            'error': info.get('error-desc'),
            'wall_s': round(res['wall_s'], 3),
        }
        if src is not None and src.is_vfio:
            ds = dirty_stats(src)
            r.update({'dirty_tracking': 'device' if ds['started'] else 'none',
                      'dirty_log_reads': ds['reads'],
                      'dirty_pages_reported': ds['pages']})
        if extra:
            r.update(extra)
        self.results.setdefault(variant, []).append(r)
        self.tap.diag('%s: status=%s total=%sms downtime=%sms setup=%sms '
                      'device=%s B ram=%s B passes=%s%s' % (
                          variant, r['status'], r['total_ms'],
                          r['downtime_ms'], r['setup_ms'],
                          r['device_bytes'], r['ram_bytes'],
                          r['ram_passes'],
                          (' error="%s"' % r['error']) if r['error'] else ''))
        return r

    def prepare(self, hosts=None):
        """
        Start from edus the driver can save (@hosts, default the source's
        and destination's).  Once a RAM->edu DMA wrote edu's DMA buffer
        (in any open), the driver refuses to save the device or load a
        state into it until it probes it again, which zeroes the buffer
        (src/engines/edu.c).  So bind each edu to the driver again, then
        have the payload check that its buffer holds zeroes.
        """
        hosts = hosts or self.hosts
        saved = self.vdir
        self.vdir = os.path.join(saved or self.out, 'prepare')
        shutil.rmtree(self.vdir, ignore_errors=True)
        os.makedirs(self.vdir)
        try:
            self._rebind_edus(hosts)
            self._zero_buffers(hosts)
        finally:
            self.vdir = saved

    def spare_edus(self):
        """The edu functions bound to a vfio driver other than the
        source's and destination's (the rig's #3 and #4), in BDF order."""
        return [b for b in sorted(getattr(self, 'drivers', {}))
                if b not in self.hosts]

    def _rebind_edus(self, hosts):
        for host in hosts:
            if driver_of(host) != DRIVER:
                continue
            try:
                write('/sys/bus/pci/drivers/%s/unbind' % DRIVER, host)
                write('/sys/bus/pci/drivers/%s/bind' % DRIVER, host)
            except OSError as e:
                self.tap.diag('prepare: rebinding %s: %s' % (host, e))
            self.tap.setup(driver_of(host) == DRIVER,
                           'prepare: %s bound to %s again'
                           % (host, DRIVER))

    def _zero_buffers(self, hosts):
        for i, host in enumerate(hosts):
            with self.new_vm('edu%d' % (i + 1), host,
                             payload_args='zero-dma-buffer') as vm:
                vm.cont()
                m = vm.wait_line(r'LMG RESULT (PASS|FAIL)',
                                 self.args.boot_timeout)
                rc = vm.wait_exit(30)
                zeroed = bool(vm.grep(r'LMG DMABUF zeroed'))
                # A payload that had to zero it made it unsaveable again.
                self.tap.setup(m is not None and m.group(1) == 'PASS' and
                               rc == PAYLOAD_PASS_RC and
                               (zeroed is False or not self.vfio),
                               'prepare: DMA buffer of %s is zero%s'
                               % (host, ' (was not: the payload zeroed '
                                  'it)' if zeroed else ''), checks.why(vm))

    def run_variant(self, name, fn):
        """Run the variant @name, fn(self, name) (see variants.py), in
        its own log directory; kill every QEMU it left running."""
        self.vdir = os.path.join(self.out, name)
        shutil.rmtree(self.vdir, ignore_errors=True)
        os.makedirs(self.vdir)
        self.tap.diag('--- %s (logs in %s)' % (name, self.vdir))
        before = self.dmesg()
        t0 = now()
        try:
            fn(self, name)
        except (HarnessError, QMPError, OSError) as e:
            self.tap.ok(False, '%s: ran to the end' % name, str(e))
        finally:
            kill_all()
        lines = self.check_dmesg(name, before)
        if lines:
            self.tap.diag('%s: kernel said:\n  %s' % (
                name, '\n  '.join(lines[-12:])))
        self.tap.diag('%s: %.1f s' % (name, now() - t0))

    def drivers_str(self):
        d = getattr(self, 'drivers', {})
        return ', '.join('%s (%s)' % (h, d.get(h, 'emulated'))
                         for h in self.hosts)
