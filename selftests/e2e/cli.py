# SPDX-License-Identifier: GPL-2.0
"""The command line of e2e-migrate (its options, shared with e2e-bochs and
the fault-injection runner) and its run: the payload, the harness, the
variants or the demo, results.json, the TAP plan."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys

from . import report, variants
from .common import REPO, HarnessError, kernel_before, qemu_version
from .harness import VFIO_DEVICE_ARG, Harness
from .qmp import QMPError

DEFAULT_PAYLOAD = os.path.join(REPO, 'build', 'guest', 'payload.elf')


def parse_args(argv, doc=None):
    """
    The options of e2e-migrate, which e2e-bochs and the fault-injection
    runner take too; @doc, e2e-migrate's docstring, gives --help its list
    of variants.
    """
    build = os.path.join(REPO, 'build')
    p = argparse.ArgumentParser(
        description='Live-migrate a nested QEMU VM with an assigned edu '
                    'device and check its state (TAP output).',
        epilog='variants:' + doc.split('or all):')[1]
        .split('--demo runs')[0].rstrip() if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('variants', nargs='*', metavar='VARIANT',
                   help='variants to run (default: $E2E_VARIANTS, or all): '
                   '%s' % ', '.join(variants.ALL_VARIANTS))
    p.add_argument('--demo', action='store_true',
                   help='run plain and print a readable report')
    p.add_argument('--list', action='store_true', help='list the variants')
    p.add_argument('--out', default=os.environ.get(
        'E2E_OUT', os.path.join(build, 'e2e')),
        help='logs directory (default: $E2E_OUT or build/e2e)')
    p.add_argument('--report-dir', default=os.path.join(build, 'report'),
                   help='where --demo writes demo.json (default build/report)')
    p.add_argument('--payload', default=DEFAULT_PAYLOAD,
                   help='default build/guest/payload.elf, rebuilt if stale')
    p.add_argument('--payload-args', default='',
                   help='extra payload command-line words for every VM')
    p.add_argument('--seed', type=int,
                   default=int(os.environ.get('E2E_SEED', '0') or 0),
                   help='payload seed for every VM (default: a random one '
                        'per VM, logged; E2E_SEED)')
    p.add_argument('--qemu', default=os.environ.get('E2E_QEMU',
                                                    'qemu-system-x86_64'))
    p.add_argument('--device-arg', default=None,
                   help='the -device argument for both VMs, {host} is the '
                   'BDF (default: %s); "edu" tests without vfio'
                   % VFIO_DEVICE_ARG)
    p.add_argument('--dirty-tracking', choices=('auto', 'device', 'none'),
                   default=os.environ.get('E2E_DIRTY_TRACKING', 'auto'),
                   help='auto (default, $E2E_DIRTY_TRACKING): QEMU\'s '
                   'default device arguments if the driver offers DMA '
                   'logging, else enable-migration=on; device or none: '
                   'force one')
    p.add_argument('--src-host', help='BDF of the source edu')
    p.add_argument('--dst-host', help='BDF of the destination edu')
    p.add_argument('--machine', default='q35')
    p.add_argument('--mem', type=int, default=32, help='MiB (default 32)')
    p.add_argument('--max-bandwidth', type=int, default=1 << 30,
                   help='bytes/s (default 1 GiB/s)')
    p.add_argument('--downtime-limit', type=int, default=300,
                   help='ms (default 300, as QEMU)')
    p.add_argument('--switchover-bandwidth', type=int, default=None,
                   help='avail-switchover-bandwidth, bytes/s (default '
                   '1 GiB/s, 4 TiB/s on kernels without MIG_DATA_SIZE; '
                   '0: QEMU uses the measured bandwidth, which never '
                   'converges while all RAM is dirty on every pass)')
    p.add_argument('--multifd-channels', type=int, default=2)
    p.add_argument('--timeout', type=int, default=300,
                   help='per migration, seconds')
    p.add_argument('--boot-timeout', type=int, default=120)
    p.add_argument('--check-timeout', type=int, default=120)
    p.add_argument('--settle', type=float, default=1.0,
                   help='seconds the payload checks invariants before the '
                   'migration starts')
    p.add_argument('--cancel-after', type=float, default=1.0,
                   help='seconds in PRE_COPY before migrate_cancel')
    p.add_argument('--kill-after', type=float, default=1.0,
                   help='dest-killed, source-killed: seconds in PRE_COPY '
                   'before the SIGKILL')
    p.add_argument('--poll', type=float, default=0.1,
                   help='query-migrate interval, seconds')
    p.add_argument('--dirty-dma-writes', type=int, default=12,
                   help='dirty-dma: DMA writes into guest pages while the '
                   'migration is held (default 12)')
    p.add_argument('--dirty-dma-hold', type=float, default=60,
                   help='dirty-dma: hold the migration at most this many '
                   'seconds (default 60)')
    p.add_argument('--no-ack-hold', action='store_true',
                   help='with the device\'s DMA log, do not hold the '
                   'migration until the switchover is acked (exposes '
                   'QEMU\'s lost TCG writes, see tools/tcg-dirty-repro)')
    p.add_argument('--no-prepare', action='store_true',
                   help='do not zero the edu DMA buffers first')
    p.add_argument('--dmesg', action='store_true', default=None,
                   help='scan the kernel log (default: only in the rig)')
    p.add_argument('--no-dmesg', dest='dmesg', action='store_false')
    p.add_argument('-v', '--verbose', action='store_true',
                   help='echo the payloads\' serial output')
    a = p.parse_args(argv)
    if not a.variants and os.environ.get('E2E_VARIANTS'):
        a.variants = os.environ['E2E_VARIANTS'].split()
    for v in a.variants:
        if v not in variants.ALL_VARIANTS:
            p.error('unknown variant %r (try --list)' % v)
    # Before 6.2 the kernel has no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, and
    # QEMU then takes the device's stop-copy size to be 100 GiB: with the
    # measured or a 1 GiB/s bandwidth the expected downtime never fits the
    # limit and the migration never switches over.  An operator on such a
    # kernel gives QEMU the switchover bandwidth; so does the harness (and
    # scripts/e2e-bochs, which takes these arguments).
    a.no_data_size = kernel_before(6, 2)
    if a.switchover_bandwidth is None:
        a.switchover_bandwidth = 1 << 42 if a.no_data_size else 1 << 30
    return a


def run(args):
    """Run e2e-migrate with @args (parse_args()): exit status."""
    if args.list:
        print('\n'.join(variants.ALL_VARIANTS))
        return 0
    if args.payload == DEFAULT_PAYLOAD:
        # Cheap when up to date; inside the rig only build/ is writable,
        # which is where it goes.
        r = subprocess.run(['make', '-s', '-C',
                            os.path.join(REPO, 'selftests', 'guest')],
                           capture_output=True, text=True)
        if r.returncode:
            print('# make -C selftests/guest failed:\n# ' +
                  '\n# '.join((r.stdout + r.stderr).splitlines()[-10:]))
    if not os.path.isfile(args.payload):
        print('Bail out! no payload at %s (make -C selftests/guest)'
              % args.payload)
        return 2
    if not shutil.which(args.qemu):
        print('Bail out! %s not found' % args.qemu)
        return 2
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    try:
        h = Harness(args)
    except HarnessError as e:
        print('Bail out! %s' % e)
        return 2

    def on_signal(sig, frame):
        h.cleanup()
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.no_data_size:
        h.tap.diag('kernel %s has no MIG_DATA_SIZE (6.2): QEMU assumes a '
                   '100 GiB device state; avail-switchover-bandwidth %d'
                   % (os.uname().release, args.switchover_bandwidth))
    h.tap.diag('e2e-migrate: %s; devices %s; payload %s' % (
        qemu_version(args.qemu), h.drivers_str(), args.payload))
    if not h.vfio:
        h.tap.diag('device %r is not vfio: the destination cannot hold the '
                   'device state; expect its register checks to fail'
                   % h.device_arg)
    h.report_dirty_tracking()
    try:
        if args.demo:
            if h.vfio and not args.no_prepare:
                h.prepare()
            rep = report.demo(h)
            ok = rep['migrated'] and rep['state_verified']
            h.tap.ok(ok, 'demo: migrated with the device state verified')
        else:
            if h.vfio and not args.no_prepare:
                try:
                    h.prepare()
                except (HarnessError, QMPError, OSError) as e:
                    h.tap.setup(False, 'prepare: ran to the end', str(e))
            for v in args.variants or variants.ALL_VARIANTS:
                h.run_variant(v, variants.REGISTRY[v])
        path = os.path.join(args.out, 'results.json')
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = {}
        old.update(h.results)
        with open(path, 'w') as f:
            json.dump(old, f, indent=2, sort_keys=True)
            f.write('\n')
    finally:
        h.cleanup()
    h.tap.finish()
    return 1 if h.tap.failed else 0
