# SPDX-License-Identifier: GPL-2.0
"""
The igbvf engine without QEMU: two VFs of different PFs opened through
vfio, driven the way a guest's VF driver drives them (register writes,
VF<->PF mailbox requests) and migrated by hand through the uAPI.  Used by
scripts/e2e-igbvf --lifecycle (selftests/suites.d/igbvf-migrate).

Each check returns (passed, what); only dma_logging_follows_rx() enables
a queue (RX, into memory it maps for the VF), the others never let the
VFs DMA.
"""

import contextlib
import ctypes
import errno
import fcntl
import functools
import mmap
import os
import re
import struct
import subprocess
import threading
import time

from . import vfio

# VF BAR 0 registers and mailbox bits (the 82576 VF's layout).
MBMEM, MBX = 0x0800, 0x0c40
MBX_REQ, MBX_ACK, MBX_VFU = 1, 2, 4
MBX_PFSTS, MBX_PFACK = 0x10, 0x20
MSG_RESET, MSG_SET_VLAN, VLAN_ADD, MSG_ACK = 0x01, 0x04, 1 << 16, 1 << 31
QUEUE_ENABLE = 1 << 25


def rxq(q, r):
    return 0x2800 + 0x100 * q + r


def txq(q, r):
    return 0x3800 + 0x100 * q + r


# What a round trip must carry: ring registers of both queues, as the
# device reads them back.  Values a guest could program (queues disabled).
RING_WRITES = []
for _q in range(2):
    RING_WRITES += [
        (rxq(_q, 0x00), 0x00100000 + 0x1000 * _q), (rxq(_q, 0x04), 0),
        (rxq(_q, 0x08), 0x400), (rxq(_q, 0x0c), 0x82000002),
        (rxq(_q, 0x10), 3 + _q), (rxq(_q, 0x18), 9 + _q),
        (txq(_q, 0x00), 0x00200000 + 0x1000 * _q), (txq(_q, 0x04), 0),
        (txq(_q, 0x08), 0x800), (txq(_q, 0x10), 5 + _q),
        (txq(_q, 0x18), 5 + _q), (txq(_q, 0x38), 0x00300000 + 0x40 * _q)]


class VF:
    """One VF opened through vfio, its BAR 0 through the device fd."""

    def __init__(self, bdf):
        self.bdf = bdf
        self.fds = []
        self.dfd = vfio.open_vfio_device(bdf, self.fds)
        self.bar0 = vfio.region_offset(self.dfd, 0)

    def rd(self, off):
        return struct.unpack('<I', os.pread(self.dfd, 4, self.bar0 + off))[0]

    def wr(self, off, val):
        os.pwrite(self.dfd, struct.pack('<I', val & 0xffffffff),
                  self.bar0 + off)

    def mbx_wait(self, bits, seen, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen[0] |= self.rd(MBX)
            if seen[0] & bits:
                seen[0] &= ~bits
                return True
            time.sleep(0.001)
        return False

    def mbx_lock(self):
        for _ in range(1000):
            self.wr(MBX, MBX_VFU)
            if self.rd(MBX) & MBX_VFU:
                return True
            time.sleep(0.001)
        return False

    def request(self, words, nreply):
        """Send @words to the PF as a VF driver does; the reply's words."""
        seen = [0]
        if not self.mbx_lock():
            return None
        for i, w in enumerate(words):
            self.wr(MBMEM + 4 * i, w)
        self.wr(MBX, MBX_REQ)
        if not self.mbx_wait(MBX_PFACK, seen) or \
                not self.mbx_wait(MBX_PFSTS, seen) or not self.mbx_lock():
            return None
        reply = [self.rd(MBMEM + 4 * i) for i in range(nreply)]
        self.wr(MBX, MBX_ACK)
        return reply

    def status(self, key):
        path = '/sys/kernel/debug/livemig-vfio-pci/%s/status' % self.bdf
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(':')
                    if k == key:
                        return v.strip()
        except OSError:
            pass
        return None

    def bus_master(self, on):
        """Set or clear Bus Master Enable in the VF's command register."""
        cfg = vfio.region_offset(self.dfd, vfio.VFIO_PCI_CONFIG_REGION_INDEX)
        cmd = struct.unpack('<H', os.pread(self.dfd, 2, cfg + 4))[0]
        cmd = cmd | 4 if on else cmd & ~4
        os.pwrite(self.dfd, struct.pack('<H', cmd), cfg + 4)

    def close(self):
        for fd in reversed(self.fds):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def program(a):
    """
    What round_trip() and the golden stream start from: VF_RESET and
    SET_VLAN 100 through @a's mailbox, then RING_WRITES.  Returns None, or
    why it could not be done.
    """
    reply = a.request([MSG_RESET], 3)
    if not reply or (reply[0] & 0xffff) != MSG_RESET or \
            not reply[0] & MSG_ACK:
        return 'VF_RESET through %s: reply %s' % (a.bdf, reply)
    reply = a.request([MSG_SET_VLAN | VLAN_ADD, 100], 1)
    if not reply or not reply[0] & MSG_ACK:
        return 'SET_VLAN 100 through %s: reply %s' % (a.bdf, reply)
    for off, val in RING_WRITES:
        a.wr(off, val)
    return None


def save(a):
    """@a's state, saved through the uAPI (RUNNING -> STOP_COPY)."""
    fd = vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_STOP_COPY)
    try:
        return read_all(fd)
    finally:
        os.close(fd)


def resume(b, stream):
    """Resume @stream on @b and run it (RESUMING -> STOP -> RUNNING)."""
    fd = vfio.set_mig_state(b.dfd, vfio.VFIO_DEVICE_STATE_RESUMING)
    try:
        os.write(fd, stream)
    finally:
        os.close(fd)
    vfio.set_mig_state(b.dfd, vfio.VFIO_DEVICE_STATE_STOP)
    vfio.set_mig_state(b.dfd, vfio.VFIO_DEVICE_STATE_RUNNING)


def read_all(fd, precopy=False):
    """
    Read @fd to its end; with @precopy (a PRE_COPY data fd), to the
    temporary end too, where read() says ENOMSG: what the fd has now.
    """
    out = bytearray()
    while True:
        try:
            b = os.read(fd, 65536)
        except OSError as e:
            if precopy and e.errno == errno.ENOMSG:
                return bytes(out)
            raise
        if not b:
            return bytes(out)
        out += b


@contextlib.contextmanager
def vf_pair(bdf_a, bdf_b):
    """VFs A and B opened through vfio, closed when the block ends."""
    opened = []
    try:
        opened.append(VF(bdf_a))
        opened.append(VF(bdf_b))
        yield opened
    finally:
        for v in opened:
            v.close()


def uapi_check(fn):
    """A check whose uAPI step raised OSError failed at that step."""
    @functools.wraps(fn)
    def check(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            return False, 'uAPI step failed: %s' % e
    return check


@uapi_check
def round_trip(bdf_a, bdf_b):
    """
    Program VF A as a guest would (VF_RESET and a VLAN through the
    mailbox, the ring registers of both queues), save it through the
    uAPI, resume the stream on VF B (of the other PF): B must read back
    A's ring registers, and B's engine must have replayed VF_RESET and
    the VLAN to B's PF, which acked them (a refused request fails the
    load).
    """
    with vf_pair(bdf_a, bdf_b) as (a, b):
        why = program(a)
        if why:
            return False, why
        want = {off: a.rd(off) for off, _ in RING_WRITES}
        fresh = {off: b.rd(off) for off, _ in RING_WRITES}
        same = [off for off in want if fresh[off] == want[off]]
        if len(same) == len(want):
            return False, 'precondition: %s already reads what %s holds' % (
                bdf_b, bdf_a)
        replayed0 = int(b.status('igbvf_replayed') or -1)
        stream = save(a)
        vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_STOP)
        resume(b, stream)
        got = {off: b.rd(off) for off, _ in RING_WRITES}
        bad = ['0x%04x: %#x, want %#x' % (o, got[o], want[o])
               for o in want if got[o] != want[o]]
        replayed = int(b.status('igbvf_replayed') or -1) - replayed0
        vlans = b.status('igbvf_vlans')
        ok = not bad and replayed == 2 and vlans == '1'
        return ok, ('%d bytes of stream; %d ring registers %s on %s; %s '
                    'requests replayed to its PF (want 2: VF_RESET, '
                    'SET_VLAN), %s VLAN kept' % (
                        len(stream), len(want),
                        'as on %s' % bdf_a if not bad else
                        'differ: ' + ', '.join(bad[:4]), bdf_b, replayed,
                        vlans))


@uapi_check
def precopy_follows_the_guest(bdf_a, bdf_b):
    """
    PRE_COPY on a VF, what migration_precopy_test's edu fixtures check on
    edu: PRECOPY_INFO reports initial bytes that drain as they are read;
    an idle VF then has nothing dirty and read() says ENOMSG; an RX tail
    the guest writes in PRE_COPY makes it report dirty bytes, which a read
    drains; MIG_DATA_SIZE covers what STOP_COPY then produces; and B,
    resumed from the whole stream, reads the tail written in PRE_COPY.
    """
    tail = rxq(1, 0x18)
    with vf_pair(bdf_a, bdf_b) as (a, b):
        for off, val in RING_WRITES:
            a.wr(off, val)
            b.wr(off, 0)
        fd = vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_PRE_COPY)
        try:
            return precopy_steps(a, b, fd, tail)
        finally:
            os.close(fd)


def precopy_steps(a, b, fd, tail):
    """precopy_follows_the_guest() on open VFs, @fd A's PRE_COPY data fd."""
    init0 = vfio.precopy_info(fd)
    first = read_all(fd, precopy=True)
    idle = vfio.precopy_info(fd)
    empty = read_all(fd, precopy=True)
    new = a.rd(tail) + 7
    a.wr(tail, new)
    dirty = vfio.precopy_info(fd)
    more = read_all(fd, precopy=True)
    drained = vfio.precopy_info(fd)
    size = vfio.mig_data_size(a.dfd)
    vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_STOP_COPY)
    rest = read_all(fd)
    vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_STOP)
    resume(b, first + more + rest)
    got = b.rd(tail)
    ok = init0[0] > 0 and len(first) >= init0[0] and \
        idle == (0, 0) and not empty and dirty[1] > 0 and \
        len(more) >= dirty[1] and drained == (0, 0) and \
        size >= len(rest) > 0 and got == new
    return ok, ('PRECOPY_INFO (initial, dirty): %s, %d bytes read, then '
                '%s and %d more; after the guest wrote RDT1=%d: %s, %d '
                'bytes read, then %s; MIG_DATA_SIZE %d, STOP_COPY %d '
                'bytes; %s reads RDT1=%d' % (
                    init0, len(first), idle, len(empty), new, dirty,
                    len(more), drained, size, len(rest), b.bdf, got))


@uapi_check
def tx_tail_of_disabled_queue(bdf_a, bdf_b):
    """
    A guest may write a TX tail to a queue it has not enabled: the device
    transmits nothing and keeps that tail apart from the head.  A state
    saved so must load: B reads A's TX head and tail of that queue (and
    the queue stays disabled, so nothing is sent).
    """
    with vf_pair(bdf_a, bdf_b) as (a, b):
        for off, val in RING_WRITES:
            a.wr(off, val)
        head = a.rd(txq(0, 0x10))
        a.wr(txq(0, 0x18), head + 3)
        want = (head, head + 3)
        have = (a.rd(txq(0, 0x10)), a.rd(txq(0, 0x18)))
        if have != want or a.rd(txq(0, 0x28)) & QUEUE_ENABLE:
            return False, ('precondition: %s\'s TX queue 0 disabled with '
                           'head/tail %s, reads %s' % (bdf_a, want, have))
        stream = save(a)
        vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_STOP)
        for off, _ in RING_WRITES:
            b.wr(off, 0)
        try:
            resume(b, stream)
            verdict = 'loaded'
        except OSError as e:
            verdict = 'refused: %s' % errno.errorcode.get(e.errno, e.errno)
        got = (b.rd(txq(0, 0x10)), b.rd(txq(0, 0x18)))
        en = b.rd(txq(0, 0x28)) & QUEUE_ENABLE
        return verdict == 'loaded' and got == want and not en, (
            'head %d, tail %d on %s; the state %s on %s, which reads head '
            '%d, tail %d, queue %s' % (want + (bdf_a, verdict, bdf_b) + got +
                                       ('enabled' if en else 'disabled',)))


GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))), 'golden')


def release():
    with open(os.path.join(os.path.dirname(GOLDEN_DIR), '..', 'VERSION')) as f:
        return f.read().strip()


def golden_resumes(bdf_a, bdf_b, save_dir=None):
    """
    The golden stream of this engine (selftests/golden/igbvf-<release>.
    stream, saved by that release from VF A programmed as round_trip()
    does) resumes on VF B: B reads back the ring registers the .expect
    file lists, and its engine replayed VF_RESET and the VLAN.  With
    @save_dir (LM_GOLDEN_SAVE), save the current release's fixture there
    instead.
    """
    a = b = None
    name = 'igbvf-%s' % release()
    try:
        if save_dir:
            a = VF(bdf_a)
            why = program(a)
            if why:
                return False, why
            regs = {off: a.rd(off) for off, _ in RING_WRITES}
            stream = save(a)
            with open(os.path.join(save_dir, name + '.stream'), 'wb') as f:
                f.write(stream)
            with open(os.path.join(save_dir, name + '.expect'), 'w') as f:
                f.write('# Saved by livemig-vfio-pci %s from an igb VF (QEMU) '
                        'programmed by\n# selftests/e2e/igbvf.py '
                        'golden_resumes(): VF_RESET, SET_VLAN 100, and\n'
                        '# RING_WRITES; the ring registers as the VF read '
                        'them back.\n' % release())
                f.write('vlans 1\n')
                for off in sorted(regs):
                    f.write('0x%04x 0x%08x\n' % (off, regs[off]))
            return True, 'saved %s (%d bytes) in %s' % (name, len(stream),
                                                       save_dir)
        with open(os.path.join(GOLDEN_DIR, name + '.stream'), 'rb') as f:
            stream = f.read()
        want = {}
        with open(os.path.join(GOLDEN_DIR, name + '.expect')) as f:
            for line in f:
                w = line.split()
                if w and w[0].startswith('0x'):
                    want[int(w[0], 16)] = int(w[1], 16)
        b = VF(bdf_b)
        # Whatever an earlier check left there: zeroes, what a reset leaves.
        for off in want:
            b.wr(off, 0)
        if all(b.rd(off) == v for off, v in want.items()):
            return False, 'precondition: %s already reads the fixture\'s ' \
                'registers' % bdf_b
        replayed0 = int(b.status('igbvf_replayed') or -1)
        resume(b, stream)
        bad = ['0x%04x: %#x, want %#x' % (o, b.rd(o), v)
               for o, v in sorted(want.items()) if b.rd(o) != v]
        replayed = int(b.status('igbvf_replayed') or -1) - replayed0
        vlans = b.status('igbvf_vlans')
        return not bad and replayed == 2 and vlans == '1', (
            '%s (%d bytes): %d registers %s; %d requests replayed (want 2), '
            '%s VLAN kept' % (name, len(stream), len(want),
                              'as saved' if not bad else
                              'differ: ' + ', '.join(bad[:4]),
                              replayed, vlans))
    except OSError as e:
        return False, 'step failed: %s' % e
    finally:
        for v in (a, b):
            if v:
                v.close()


def pf_netdev(vf_bdf):
    pf = os.path.realpath('/sys/bus/pci/devices/%s/physfn' % vf_bdf)
    return os.listdir(os.path.join(pf, 'net'))[0]


def vf_index(vf_bdf):
    """@vf_bdf's number among its PF's VFs (the N of virtfnN)."""
    pf = '/sys/bus/pci/devices/%s/physfn' % vf_bdf
    for n in os.listdir(pf):
        if n.startswith('virtfn') and os.path.basename(
                os.path.realpath(os.path.join(pf, n))) == vf_bdf:
            return int(n[len('virtfn'):])
    raise OSError(errno.ENOENT, 'no virtfn link to %s' % vf_bdf)


def admin_mac(vf_bdf, mac=None):
    """
    The MAC @vf_bdf's PF gives it (`ip link show PF`, its vf line); with
    @mac, set it first as an administrator does (`ip link set PF vf N mac
    MAC`: the igb PF then refuses the VF's own SET_MAC_ADDR).
    """
    dev, n = pf_netdev(vf_bdf), vf_index(vf_bdf)
    if mac:
        subprocess.run(['ip', 'link', 'set', dev, 'vf', str(n), 'mac', mac],
                       check=True)
    out = subprocess.run(['ip', 'link', 'show', dev], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r'^\s*vf %d\b.*?link/ether ([0-9a-f:]{17})' % n, out,
                  re.M)
    return m.group(1) if m else None


def mac_refused_before_downtime(bdf_a, bdf_b, other='52:54:00:0e:e0:01'):
    """
    B's PF has an administratively set MAC for B other than the one A's
    PF gave A (which A's guest read in the VF_RESET reply): B's PF will
    refuse A's MAC, so B cannot take A's state.  B must say so while A is
    still in PRE_COPY (its VM running: QEMU loads PRE_COPY data on the
    destination as it arrives and, with switchover-ack, stops the source
    only after that), i.e. the write of A's first PRE_COPY bytes fails
    with EPROTO, not the later RESUMING -> STOP after the downtime.  A
    then returns to RUNNING.  B's MAC is set back afterwards.
    """
    a = b = None
    sfd = rfd = -1
    old = None
    try:
        old = admin_mac(bdf_b)
        if admin_mac(bdf_b, other) != other:
            return False, 'precondition: could not set %s on %s' % (other,
                                                                   bdf_b)
        a, b = VF(bdf_a), VF(bdf_b)
        reply = a.request([MSG_RESET], 3)
        if not reply or not reply[0] & MSG_ACK:
            return False, 'VF_RESET through %s: reply %s' % (bdf_a, reply)
        mac_a = ':'.join('%02x' % x for x in struct.pack(
            '<IH', reply[1], reply[2] & 0xffff))
        if mac_a == other:
            return False, 'precondition: %s already has %s' % (bdf_a, other)
        sfd = vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_PRE_COPY)
        first = read_all(sfd, precopy=True)
        rfd = vfio.set_mig_state(b.dfd, vfio.VFIO_DEVICE_STATE_RESUMING)
        try:
            os.write(rfd, first)
            verdict = 'written'
        except OSError as e:
            verdict = errno.errorcode.get(e.errno, str(e.errno))
        os.close(rfd)
        rfd = -1
        os.close(sfd)
        sfd = -1
        vfio.set_mig_state(a.dfd, vfio.VFIO_DEVICE_STATE_RUNNING)
        st = vfio.get_mig_state(a.dfd)
        ok = verdict == 'EPROTO' and st == vfio.VFIO_DEVICE_STATE_RUNNING
        return ok, ('A (%s) has %s, B\'s PF gives %s %s: the write of A\'s '
                    '%d PRE_COPY bytes to B: %s (want EPROTO); A back to '
                    'state %d (RUNNING is %d)' % (
                        bdf_a, mac_a, bdf_b, other, len(first), verdict, st,
                        vfio.VFIO_DEVICE_STATE_RUNNING))
    except (OSError, subprocess.CalledProcessError) as e:
        return False, 'step failed: %s' % e
    finally:
        for fd in (sfd, rfd):
            if fd >= 0:
                os.close(fd)
        for v in (a, b):
            if v:
                v.close()
        if old:
            admin_mac(bdf_b, old)


def inflight_resent(bdf_a, bdf_b):
    """
    A request the PF has not acked when the VF stops is sent again on the
    destination: VF A is reset through its PF, A's PF interface is taken
    down (the igb PF answers its VFs only while up), A sends SET_VLAN and
    gets no ack; A is saved, the state resumed on B (whose PF is up), and
    once B runs, B's mailbox shows the PF's ack and a reply to SET_VLAN.
    """
    a = b = None
    dev = pf_netdev(bdf_a)
    try:
        a, b = VF(bdf_a), VF(bdf_b)
        reply = a.request([MSG_RESET], 3)
        if not reply or not reply[0] & MSG_ACK:
            return False, 'VF_RESET through %s: reply %s' % (bdf_a, reply)
        subprocess.run(['ip', 'link', 'set', dev, 'down'], check=True)
        if not a.mbx_lock():
            return False, 'mailbox of %s not lockable' % bdf_a
        a.wr(MBMEM, MSG_SET_VLAN | VLAN_ADD)
        a.wr(MBMEM + 4, 200)
        a.wr(MBX, MBX_REQ)
        seen = [0]
        if a.mbx_wait(MBX_PFACK, seen, timeout=2):
            return False, ('precondition: the PF of %s acked with its interface '
                           'down' % bdf_a)
        inflight = a.status('igbvf_inflight')
        resume(b, save(a))
        seen = [0]
        acked = b.mbx_wait(MBX_PFACK, seen) and b.mbx_wait(MBX_PFSTS, seen)
        reply = None
        if acked and b.mbx_lock():
            reply = b.rd(MBMEM)
            b.wr(MBX, MBX_ACK)
        ok = inflight == '2' and acked and reply is not None and \
            (reply & 0xffff) == MSG_SET_VLAN and bool(reply & MSG_ACK)
        return ok, ('%s\'s engine held a request of %s words in flight; on '
                    '%s the PF %s, reply %s' % (
                        bdf_a, inflight, bdf_b,
                        'acked' if acked else 'did not ack',
                        '%#x' % reply if reply is not None else None))
    except (OSError, subprocess.CalledProcessError) as e:
        return False, 'step failed: %s' % e
    finally:
        subprocess.run(['ip', 'link', 'set', dev, 'up'])
        for v in (a, b):
            if v:
                v.close()


def reset_drops_shadows(bdf):
    """
    Quiesced, the engine answers RXDCTL from the guest's write and keeps
    the queue disabled in the device; after VFIO_DEVICE_RESET the device
    is RUNNING again and RXDCTL must be the device's (the reset disabled
    the queue), not the shadow the reset made stale.
    """
    v = None
    try:
        v = VF(bdf)
        vfio.set_mig_state(v.dfd, vfio.VFIO_DEVICE_STATE_RUNNING_P2P)
        v.wr(rxq(0, 0x28), QUEUE_ENABLE)
        quiesced = v.rd(rxq(0, 0x28))
        if not quiesced & QUEUE_ENABLE:
            return False, ('precondition: quiesced, RXDCTL reads %#x, not '
                           'the guest\'s enable' % quiesced)
        fcntl.ioctl(v.dfd, vfio.VFIO_DEVICE_RESET)
        st = vfio.get_mig_state(v.dfd)
        after = v.rd(rxq(0, 0x28))
        ok = st == vfio.VFIO_DEVICE_STATE_RUNNING and \
            not after & QUEUE_ENABLE
        return ok, ('quiesced RXDCTL %#x; after VFIO_DEVICE_RESET state %d, '
                    'RXDCTL %#x' % (quiesced, st, after))
    except OSError as e:
        return False, 'uAPI step failed: %s' % e
    finally:
        if v:
            v.close()


# DMA logging of a VF that receives: one MiB of memory mapped for it, an
# 8-slot RX ring on its first page and a 2 KiB buffer per slot, slot i's
# on page BUF_PAGE + 4 * i (slots 4-7 written in the ring, not posted).
LOG_IOVA, LOG_SIZE, LOG_PAGE = 0x10000000, 1 << 20, 4096
RX_SLOTS, BUF_PAGE = 8, 16
SRRCTL_2K_ADV_DROP = 2 | (1 << 25) | (1 << 31)
RXD_DD = 1


def _buf_page(slot):
    return BUF_PAGE + 4 * slot


def _peer_send(data, timeout=30):
    """Send @data in a UDP datagram from the rig's peer to the VF's IP."""
    code = ('import socket,sys; s = socket.socket(socket.AF_INET, '
            'socket.SOCK_DGRAM); s.sendto(bytes.fromhex(sys.argv[1]), '
            '(sys.argv[2], 9))')
    subprocess.run(['ip', 'netns', 'exec', os.environ['IGB_NS'], 'python3',
                    '-c', code, data.hex(), os.environ['IGB_VF_IP']],
                   check=True, timeout=timeout)


def _wait_dd(mem, slot, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = struct.unpack_from('<I', mem, 16 * slot + 8)[0]
        if st & RXD_DD:
            return True
        time.sleep(0.05)
    return False


def dma_logging_follows_rx(bdf):
    """
    DMA logging on a VF that really receives (the rig's peer sends it
    datagrams): every report holds the RX ring's page and the buffers
    posted to the VF, from the RDT write that posts them (the VF may fill
    them any time); a buffer the VF filled is in the first report after
    the fill and not in the next; nothing else is ever reported (the
    buffers of ring slots written but not posted, untouched pages).  The
    datagram must be in the buffer, so the DMA is real.  Returns
    (passed, what), or (None, why) for a skip whose reason it checked.
    """
    can = vfio.kernel_has_iova_bitmap()
    offered, why = vfio.probe_dma_logging(bdf)
    if can is False:
        if offered is False:
            return None, ('this kernel cannot report DMA logging (no '
                          'iova_bitmap_set) and the driver does not offer '
                          'it (probe: %s)' % why)
        return False, ('the kernel cannot report DMA logging, yet the probe '
                       'answered %s (%s)' % (offered, why))
    if not offered:
        return False, 'the driver does not offer DMA logging: %s' % why
    v = None
    mem = None
    mapped = logging = False
    steps = []
    try:
        v = VF(bdf)
        if v.request([MSG_RESET], 3) is None:
            return False, 'precondition: the PF did not answer VF_RESET'
        mem = mmap.mmap(-1, LOG_SIZE)
        for s in range(RX_SLOTS):
            struct.pack_into('<QQ', mem, 16 * s,
                             LOG_IOVA + _buf_page(s) * LOG_PAGE, 0)
        vaddr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        vfio.map_dma(v.fds[0], vaddr, LOG_IOVA, LOG_SIZE)
        mapped = True
        v.bus_master(True)
        for off, val in ((rxq(0, 0x28), 0), (rxq(0, 0x00), LOG_IOVA),
                         (rxq(0, 0x04), 0), (rxq(0, 0x08), 16 * RX_SLOTS),
                         (rxq(0, 0x0c), SRRCTL_2K_ADV_DROP),
                         (rxq(0, 0x10), 0), (rxq(0, 0x18), 0),
                         (rxq(0, 0x28), QUEUE_ENABLE)):
            v.wr(off, val)
        page = vfio.dma_log_start(v.dfd, LOG_IOVA, LOG_SIZE, LOG_PAGE)
        logging = True

        def report(what, want):
            got = vfio.dma_log_report(v.dfd, LOG_IOVA, LOG_SIZE, LOG_PAGE)
            steps.append((what, sorted(want), got))
            return got == sorted(want)

        posted = [0] + [_buf_page(s) for s in range(4)]
        v.wr(rxq(0, 0x18), 4)
        ok = report('4 slots posted', posted)
        ok &= report('again, nothing received', posted)
        tag = b'LMDMA-%s-' % bdf.encode() + bytes(range(64))
        _peer_send(tag + b'1')
        if not _wait_dd(mem, 0):
            return False, ('precondition: no datagram in slot 0 after 20 s '
                           '(RDH %d, ring %s); reports %s'
                           % (v.rd(rxq(0, 0x10)), mem[:64].hex(), steps))
        landed = tag + b'1' in mem[_buf_page(0) * LOG_PAGE:
                                   _buf_page(0) * LOG_PAGE + 2048]
        ok &= landed
        ok &= report('slot 0 filled', posted)
        ok &= report('slot 0 consumed', posted[:1] + posted[2:])
        _peer_send(tag + b'2')
        if not _wait_dd(mem, 1):
            return False, 'precondition: no datagram in slot 1 after 20 s'
        ok &= report('slot 1 filled', posted[:1] + posted[2:])
        ok &= report('slot 1 consumed', posted[:1] + posted[3:])
        v.wr(rxq(0, 0x18), 5)
        ok &= report('slot 4 posted', posted[:1] + posted[3:] +
                     [_buf_page(4)])
        return ok, ('page size %d; datagram %s buffer 0; reports (what, '
                    'expected pages, reported): %s; peeks %s, all %s'
                    % (page, 'in' if landed else 'NOT in', steps,
                       v.status('igbvf_dma_peeks'),
                       v.status('igbvf_dma_all')))
    except (OSError, subprocess.SubprocessError) as e:
        return False, 'step failed: %s; reports so far %s' % (e, steps)
    finally:
        if v:
            try:
                v.wr(rxq(0, 0x28), 0)
                v.bus_master(False)
                if logging:
                    vfio.dma_log_stop(v.dfd)
                if mapped:
                    vfio.unmap_dma(v.fds[0], LOG_IOVA, LOG_SIZE)
            except OSError:
                pass
            v.close()
        if mem is not None:
            try:
                mem.close()
            except BufferError:
                pass


def sriov_off_while_open(pf, bdf, timeout=120):
    """
    sriov_numvfs=0 on @pf while @bdf is open with a STOP_COPY data fd:
    the removal waits for the user; once the device fd is closed it
    completes, and the data fd, still open, fails reads with an errno
    (the device is gone) instead of reaching freed memory.
    """
    v = VF(bdf)
    res = {}

    def remove():
        try:
            vfio.write('/sys/bus/pci/devices/%s/sriov_numvfs' % pf, '0')
            res['rc'] = 0
        except OSError as e:
            res['rc'] = e.errno

    fd = -1
    try:
        fd = vfio.set_mig_state(v.dfd, vfio.VFIO_DEVICE_STATE_STOP_COPY)
        first = len(os.read(fd, 64))
        t = threading.Thread(target=remove, daemon=True)
        t.start()
        t.join(3)
        waited = t.is_alive()
        v.close()
        t.join(timeout)
        gone = not os.path.exists('/sys/bus/pci/devices/' + bdf)
        try:
            n = len(os.read(fd, 4096))
            after = 'read %d bytes' % n
            clean = False
        except OSError as e:
            after = 'read: %s' % errno.errorcode.get(e.errno, e.errno)
            clean = e.errno == errno.ENODEV
        ok = waited and not t.is_alive() and res.get('rc') == 0 and gone \
            and clean
        return ok, ('read %d bytes first; the removal %s for the user; '
                    'sriov_numvfs=0 %s (%s), VF %s; then the data fd: %s' % (
                        first, 'waited' if waited else 'did not wait',
                        'finished' if not t.is_alive() else 'still blocked',
                        res.get('rc'), 'gone' if gone else 'still there',
                        after))
    except OSError as e:
        return False, 'uAPI step failed: %s' % e
    finally:
        v.close()
        if fd >= 0:
            os.close(fd)
