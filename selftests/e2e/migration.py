# SPDX-License-Identifier: GPL-2.0
"""
The migration driver: migrate one VM into another over QMP (capabilities,
parameters, the optional stream proxy, the samples taken while it runs,
holding it back from converging), and what QEMU's trace says about it
afterwards (the device's dirty log, the PRE_COPY sizes, the downtime's
device share).
"""

import json
import os
import re
import time

from .common import HarnessError, now
from .stream import StreamProxy


# Migration parameters under which QEMU keeps iterating and never switches
# over, however little RAM is dirty (as with the device's DMA log): 1 ms of
# downtime at 4000 bytes/s is a 4-byte threshold, below the vfio device's
# stop-copy size.  Not 0: QEMU would take a pending estimate of 0 (all RAM
# sent, not yet synced) as converged, and with it never sync the dirty log.
HOLD_PARAMS = {'downtime-limit': 1, 'avail-switchover-bandwidth': 4000}


def set_caps(h, vm, multifd):
    caps = [{'capability': 'return-path', 'state': True},
            {'capability': 'switchover-ack', 'state': True},
            {'capability': 'multifd', 'state': bool(multifd)}]
    if not h.vfio:
        # switchover-ack needs a device that acks; emulated edu has none.
        caps[1]['state'] = False
    vm.qmp.cmd('migrate-set-capabilities', {'capabilities': caps})
    if multifd:
        vm.qmp.cmd('migrate-set-parameters',
                   {'multifd-channels': h.args.multifd_channels})


def migrate(h, src, dst, multifd=False, proxy_mutator=None,
            bandwidth=None, downtime=None, on_active=None, hold=None):
    """
    Migrate @src into @dst (started with -incoming defer).  Returns a
    dict with the final query-migrate, the samples taken while it ran
    and what the proxy changed.  @on_active(samples) is called at each
    sample while the migration is active and may return True to stop
    polling early (the caller then cancels).  @hold(samples), likewise
    called, keeps the migration from converging (see HOLD_PARAMS)
    until it first returns False; res['released'] says after how long.

    With the device's DMA log (h.dirty == 'device') the migration
    is also held until the destination has acked the switchover
    (source_return_path_thread_switchover_acked in the source's
    trace), unless --no-ack-hold: QEMU 10.0 under TCG loses CPU writes
    when it syncs its dirty bitmap while the pages are still queued
    (it re-arms TCG's dirty tracking only when a sync finds a page
    that was not queued yet; tools/tcg-dirty-repro), which the real
    parameters make it do on every iteration while switchover-ack
    holds the switchover back.  Held, it syncs only after whole passes,
    with nothing queued; once acked, the first sync that finds nothing
    new switches over.  Without the DMA log QEMU marks all RAM dirty on
    every sync, which hides the bug.
    """
    mig = os.path.join(h.sockdir, dst.name + '.mig')
    set_caps(h, dst, multifd)
    dst.qmp.cmd('migrate-incoming', {'uri': 'unix:' + mig})
    set_caps(h, src, multifd)
    # Without the device's DMA log every pass resends all RAM, mostly
    # as cheap zero-page records, so the measured wire bandwidth says
    # little about how long the switchover takes: give QEMU the figure.
    params = {
        'max-bandwidth': bandwidth or h.args.max_bandwidth,
        'avail-switchover-bandwidth': h.args.switchover_bandwidth,
        'downtime-limit': downtime or h.args.downtime_limit}
    ack_hold = (h.vfio and h.dirty == 'device' and
                not h.args.no_ack_hold)
    src.qmp.cmd('migrate-set-parameters',
                dict(params, **HOLD_PARAMS) if hold or ack_hold
                else params)
    released = None
    ack_released = None
    params_set = False
    proxy = None
    uri = 'unix:' + mig
    if proxy_mutator:
        ppath = os.path.join(h.sockdir, dst.name + '.proxy')
        proxy = StreamProxy(ppath, mig, proxy_mutator)
        uri = 'unix:' + ppath
    t0 = now()
    src.qmp.cmd('migrate', {'uri': uri})
    samples = []
    info = {}
    stopped_early = False
    deadline = t0 + h.args.timeout
    try:
        while True:
            info = src.qmp.cmd('query-migrate')
            st = info.get('status')
            samples.append({
                't': round(now() - t0, 3), 'status': st,
                'ram': info.get('ram', {}).get('transferred'),
                'ram_remaining': info.get('ram', {}).get('remaining'),
                'vfio': info.get('vfio', {}).get('transferred'),
                'passes': info.get('ram', {}).get('dirty-sync-count'),
                'device': (src.device_states() or [(0, None)])[-1][1],
            })
            if st in ('completed', 'failed', 'cancelled'):
                break
            if on_active and st == 'active' and on_active(samples):
                stopped_early = True
                break
            if hold and released is None and st == 'active' and \
                    not hold(samples):
                released = round(now() - t0, 3)
            if ack_hold and ack_released is None and \
                    any('switchover_acked' in t
                        for t in src.trace_lines()):
                ack_released = round(now() - t0, 3)
            if (released is not None or not hold) and \
                    (ack_released is not None or not ack_hold) and \
                    (hold or ack_hold) and not params_set:
                src.qmp.cmd('migrate-set-parameters', params)
                params_set = True
            if now() > deadline:
                raise HarnessError('migration still %s after %d s'
                                   % (st, h.args.timeout))
            time.sleep(h.args.poll)
    finally:
        if proxy and not stopped_early:
            proxy.close()
        with open(os.path.join(h.vdir, 'samples-%s.json' % dst.name),
                  'w') as f:
            json.dump({'final': info, 'samples': samples}, f, indent=1)
    res = {'info': info, 'samples': samples, 'wall_s': now() - t0,
           't0': t0, 't_end': now(), 'released': released,
           'ack_released': ack_released,
           'proxy': proxy, 'mutator': proxy_mutator}
    if proxy and stopped_early:
        res['proxy_close'] = proxy.close
    if not stopped_early and info.get('status') == 'completed':
        # The destination may still be loading the last bits.
        dl = now() + 60
        while now() < dl:
            if dst.status() == 'running':
                break
            time.sleep(0.1)
    return res


def pending_samples(vm):
    """
    PRE_COPY sizes QEMU got from the driver (PRECOPY_INFO and
    MIG_DATA_SIZE, as traced by vfio_state_pending_* and
    vfio_save_iterate), consecutive repeats collapsed.
    """
    out = []
    last = None
    for ln in vm.trace_lines():
        m = re.search(r'(vfio_state_pending_\w+|vfio_save_iterate) ', ln)
        if not m:
            continue
        ev = m.group(1)
        m = re.match(r'^\d+@([\d.]+):', ln)
        body = ln.split(')', 1)[-1]
        vals = dict((k.strip().replace(' ', '_'), int(v, 0)) for k, v in
                    re.findall(r'([a-z][a-z ]*?) (0x[0-9a-f]+|\d+)', body))
        key = (ev, tuple(sorted(vals.items())))
        if key == last:
            continue
        last = key
        vals['event'] = ev
        if m:
            vals['time'] = float(m.group(1))
        out.append(vals)
    return out


def dirty_stats(vm):
    """
    How QEMU on @vm (as a migration source) tracked its vfio device's
    dirtying, from the trace: 'started' when it started the device's DMA
    logging (vfio_device_dirty_tracking_start; 'ranges' its text), and
    'reads'/'pages': the dirty bitmap reads (vfio_get_dirty_bitmap, from
    the device log or, without it, the container) and the pages they
    returned dirty.
    """
    out = {'started': False, 'ranges': None, 'reads': 0, 'pages': 0}
    for ln in vm.trace_lines():
        m = re.search(r'vfio_device_dirty_tracking_start (.*)$', ln)
        if m:
            out['started'] = True
            out['ranges'] = m.group(1).strip()
            continue
        m = re.search(r'vfio_get_dirty_bitmap .*dirty_pages=(\d+)', ln)
        if m:
            out['reads'] += 1
            out['pages'] += int(m.group(1))
    return out


def trace_times(vm):
    """(time, event, rest) for every timestamped trace line."""
    out = []
    for ln in vm.trace_lines():
        m = re.match(r'^\d+@([\d.]+):(\w+) (.*)$', ln)
        if m:
            out.append((float(m.group(1)), m.group(2), m.group(3)))
    return out


def device_downtime_share(src, dst):
    """
    Roughly the device's part of the downtime, from QEMU's trace time
    stamps (logged after each step, so approximate): on the source from
    PRE_COPY_P2P (vCPUs stopped) until its stop-copy data was read; on
    the destination from its config space being loaded until RUNNING
    (RESUMING -> STOP applies the state, then RUNNING_P2P, RUNNING).
    The rest of the downtime is RAM and the other devices.
    """
    out = {}
    ts = trace_times(src)
    start = [t for t, e, r in ts if e == 'vfio_migration_set_state' and
             'new state PRE_COPY_P2P' in r]
    end = [t for t, e, r in ts if e in ('vfio_save_complete_precopy',
                                        'vfio_save_complete_precopy_thread_end')]
    if start and end and end[-1] >= start[-1]:
        out['source_stop_copy_ms'] = round((end[-1] - start[-1]) * 1000, 1)
    td = trace_times(dst)
    data = [t for t, e, r in td
            if e == 'vfio_load_device_config_state_end']
    run = [t for t, e, r in td if e == 'vfio_migration_set_state' and
           'new state RUNNING,' in r]
    if data and run and run[0] >= data[-1]:
        out['destination_resume_ms'] = round((run[0] - data[-1]) * 1000, 1)
    return out
