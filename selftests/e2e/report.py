# SPDX-License-Identifier: GPL-2.0
"""The demo (e2e-migrate --demo, make demo): one plain migration, a
readable report on stdout and the same in demo.json."""

import json
import os
import shutil
import sys

from . import variants
from .common import HarnessError, qemu_version
from .checks import payload_checks
from .migration import device_downtime_share, dirty_stats, pending_samples
from .qmp import QMPError
from .vm import kill_all


def demo(h):
    variant = 'plain'
    h.vdir = os.path.join(h.out, 'demo')
    shutil.rmtree(h.vdir, ignore_errors=True)
    os.makedirs(h.vdir)
    before_log = h.dmesg()
    report = {'migrated': False, 'state_verified': False,
              'downtime_ms': None, 'total_ms': None, 'setup_ms': None,
              'device_bytes': None, 'dirty_tracking': 'none',
              'dirty_tracking_why': h.dirty_why}
    try:
        src, dst, res, rec = variants.simple(h, variant)
        ds = dirty_stats(src) if src.is_vfio else None
        used = bool(ds and ds['started'] and ds['reads'] and
                    rec['status'] == 'completed')
        report.update({
            'dirty_tracking': 'device' if used else 'none',
            'dirty_log': ds,
        })
        if h.dirty == 'device' and not used:
            report['dirty_tracking_why'] = (
                'the driver offers DMA logging, but QEMU\'s trace does '
                'not show it used it (%s)' % src.trace_path)
        report.update({
            'migrated': rec['status'] == 'completed',
            'state_verified': bool(rec['payload_pass']),
            'downtime_ms': rec['downtime_ms'],
            'total_ms': rec['total_ms'],
            'setup_ms': rec['setup_ms'],
            'device_bytes': rec['device_bytes'],
            'ram_bytes': rec['ram_bytes'],
            'ram_passes': rec['ram_passes'],
            'registers_before': rec['registers_before'],
            'registers_after': rec['registers_after'],
            'source_device_states': [s for _, s in src.device_states()],
            'destination_device_states':
                [s for _, s in dst.device_states()],
            'source_traced_states': src.traced_states(),
            'precopy_samples': [s for s in res['samples']
                                if s['status'] == 'active' and
                                s['device'] in ('pre-copy', None)],
            'pending_trace': pending_samples(src),
            'checks': payload_checks(dst),
            'device_downtime_share': device_downtime_share(src, dst),
        })
        # Device states from `migrate` until the migration ended.
        t0, t1 = res['t0'], res['t_end'] + 1.0
        report['source_timeline'] = [
            (round(t - t0, 3), s) for t, s in src.device_states()
            if t0 <= t <= t1]
        report['destination_timeline'] = [
            (round(t - t0, 3), s) for t, s in dst.device_states()
            if t0 <= t <= t1]
    except (HarnessError, QMPError, OSError) as e:
        report['error'] = str(e)
        h.tap.ok(False, 'demo: ran to the end', str(e))
    finally:
        kill_all()
    h.check_dmesg('demo', before_log)
    report.update({
        'source': h.hosts[0], 'destination': h.hosts[1],
        'device_arg': h.device_arg, 'memory_mib': h.args.mem,
        'qemu': qemu_version(h.qemu), 'kernel': os.uname().release,
        'logs': h.vdir,
    })
    os.makedirs(h.args.report_dir, exist_ok=True)
    path = os.path.join(h.args.report_dir, 'demo.json')
    with open(path, 'w') as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write('\n')
    print_report(report, path, h.drivers_str())
    return report


REG_ROWS = (('liveness (0x04)', 'live'), ('factorial (0x08)', 'fact'),
            ('status (0x20)', 'status'), ('irq status (0x24)', 'irq'),
            ('dma src (0x80)', 'dma_src'), ('dma dst (0x88)', 'dma_dst'),
            ('dma count (0x90)', 'dma_cnt'), ('dma cmd (0x98)', 'dma_cmd'),
            ('pci command', 'pci_cmd'), ('bar0', 'bar0'))


def print_report(r, path, hosts):
    w = sys.stdout.write
    w('\n=== livemig-vfio-pci: live migration of a VM with an assigned edu '
      '===\n\n')
    w('  QEMU            %s\n' % r.get('qemu'))
    w('  devices         %s\n' % hosts)
    w('  guest           bare-metal payload, %s MiB RAM, TCG\n'
      % r.get('memory_mib'))
    w('  migrated        %s\n' % ('yes' if r['migrated'] else 'NO'))
    w('  state verified  %s%s\n' % (
        'yes' if r['state_verified'] else 'NO',
        ' (%s checks by the payload on the destination)' % r['checks']
        if r.get('checks') else ''))
    w('  dirty tracking  %s\n' % r.get('dirty_tracking'))
    w('\n  What was migrated: guest RAM and CPU, the device\'s PCI config '
      'space (QEMU),\n  and the edu register file through livemig-vfio-pci '
      '(%s bytes of device data).\n' % r.get('device_bytes'))
    log = r.get('dirty_log') or {}
    if r.get('dirty_tracking') == 'device':
        w('  QEMU ran with its default device arguments (%s)\n  and took '
          'the pages the device\'s DMA wrote from livemig-vfio-pci\'s DMA '
          'log\n  (%s reads, %s dirty pages), so each pass resent only dirty '
          'RAM\n  (%s passes, %s bytes).\n'
          % (r.get('device_arg'), log.get('reads'), log.get('pages'),
             r.get('ram_passes'), r.get('ram_bytes')))
    else:
        w('  No device dirty tracking: %s.\n  QEMU needs enable-migration=on '
          'and then resends all RAM on every pass\n  (%s passes, %s bytes).\n'
          % (r.get('dirty_tracking_why'), r.get('ram_passes'),
             r.get('ram_bytes')))
    b, a = r.get('registers_before') or {}, r.get('registers_after') or {}
    if b or a:
        w('\n  %-20s %-14s %-14s\n' % ('register', 'before (src)',
                                       'after (dst)'))
        for label, key in REG_ROWS:
            vb, va = b.get(key, '-'), a.get(key, '-')
            w('  %-20s %-14s %-14s%s\n' % (label, vb, va,
                                           '' if vb == va else '  <- differs'))
    if r.get('source_timeline'):
        w('\n  device migration states, seconds after `migrate`:\n')
        w('  source device:      %s\n' % ' -> '.join(
            '%s (+%.2fs)' % (s, t) for t, s in r['source_timeline']))
        w('  destination device: %s\n' % ' -> '.join(
            '%s (+%.2fs)' % (s, t) for t, s in r['destination_timeline']))
    pre = r.get('precopy_samples') or []
    if pre:
        w('\n  PRE_COPY samples (query-migrate):\n')
        w('  %8s %-10s %12s %12s %7s\n' % ('t (s)', 'status', 'device B',
                                           'ram B', 'passes'))
        idx = sorted(set(round(i * (len(pre) - 1) / 11)
                         for i in range(12))) if len(pre) > 12 \
            else range(len(pre))
        for s in (pre[i] for i in idx):
            w('  %8.2f %-10s %12s %12s %7s\n' % (
                s['t'], s['status'], s['vfio'], s['ram'], s['passes']))
    pend = r.get('pending_trace') or []
    if pend:
        w('\n  PRE_COPY sizes QEMU got from the driver (traced):\n')
        t0 = pend[0].get('time', 0)
        for p in pend[:10]:
            w('  %8.2f %-28s initial %s B, dirty %s B%s\n' % (
                p.get('time', t0) - t0, p['event'],
                p.get('precopy_initial_size'), p.get('precopy_dirty_size'),
                ', stop-copy %s B' % p['stopcopy_size']
                if 'stopcopy_size' in p else ''))
    w('\n  total time      %s ms\n' % r.get('total_ms'))
    w('  setup time      %s ms\n' % r.get('setup_ms'))
    w('  downtime        %s ms\n' % r.get('downtime_ms'))
    share = r.get('device_downtime_share') or {}
    if share:
        w('    of which the device, roughly: %s ms on the source (PRE_COPY_P2P'
          ' to stop-copy data read),\n    %s ms on the destination (config '
          'loaded to RUNNING); the rest is RAM and QEMU\n'
          % (share.get('source_stop_copy_ms'),
             share.get('destination_resume_ms')))
    w('  device bytes    %s\n' % r.get('device_bytes'))
    if r.get('error'):
        w('  error           %s\n' % r['error'])
    w('\n  report: %s\n  logs:   %s\n\n' % (path, r.get('logs')))
    sys.stdout.flush()
