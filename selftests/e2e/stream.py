# SPDX-License-Identifier: GPL-2.0
"""
The migration stream on the wire: a proxy that relays QEMU's migration
connections and lets a mutator change bytes of it, and the mutators that
find the livemig stream (include/livemig/stream.h) or QEMU's vfio data in
it.

The livemig constants below mirror include/livemig/stream.h: C_MIRROR
names the C expression each one must equal, and selftests/e2e/check-consts
checks them (host suite e2e-consts of make check).
"""

import os
import socket
import struct
import threading
import zlib

from .common import HarnessError
from .qmp import connect_unix

LM_STREAM_MAGIC = 0x47494d4c            # "LMIG" in stream order
LM_STREAM_VERSION = 1
LM_HDR_LEN = 24
LM_REC_HDR_LEN = 12
LM_REC_IDENTITY = 1
LM_IDENTITY_LEN = 24
# Where IdentityMutator finds the IDs in an IDENTITY payload (u16 each).
LM_IDENTITY_VENDOR_OFF = 0
LM_IDENTITY_DEVICE_OFF = 2
LM_MAGIC = struct.pack('<I', LM_STREAM_MAGIC)

C_MIRROR = {
    'LM_STREAM_MAGIC': 'LM_STREAM_MAGIC',
    'LM_STREAM_VERSION': 'LM_STREAM_VERSION',
    'LM_HDR_LEN': 'LM_HDR_LEN',
    'LM_REC_HDR_LEN': 'LM_REC_HDR_LEN',
    'LM_REC_IDENTITY': 'LM_REC_IDENTITY',
    'LM_IDENTITY_LEN': 'LM_IDENTITY_LEN',
    'LM_IDENTITY_VENDOR_OFF': 'offsetof(struct lm_identity, vendor)',
    'LM_IDENTITY_DEVICE_OFF': 'offsetof(struct lm_identity, device)',
}
C_HEADERS = ('"kshim.h"', '<livemig/stream.h>')

# VFIO device data chunk marker in QEMU's migration stream (be64): QEMU's
# VFIO_MIG_FLAG_DEV_DATA_STATE (hw/vfio/migration.c), no header of ours.
VFIO_MIG_FLAG_DEV_DATA_STATE = b'\xff\xff\xff\xff\xef\x10\x00\x04'


class StreamProxy:
    """
    Relays unix-socket migration connections (main channel and multifd
    channels) to the destination, both ways, so that return-path and
    switchover-ack keep working, and lets a mutator change bytes of the
    source->destination direction of the first connection.  It holds back
    a tail of each forward burst so that a pattern split across two reads
    can still be changed, and flushes it when the source pauses.
    """

    HOLD = 8192
    IDLE = 0.05

    def __init__(self, listen_path, target_path, mutator):
        self.listen_path = listen_path
        self.target_path = target_path
        self.mutator = mutator
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(listen_path)
        self.lsock.listen(8)
        self.nconn = 0
        self.forwarded = 0
        self.stop = False
        self.threads = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            idx = self.nconn
            self.nconn += 1
            try:
                d = connect_unix(self.target_path, 10)
            except HarnessError:
                c.close()
                continue
            for fn in (lambda: self._forward(c, d, idx),
                       lambda: self._back(d, c)):
                t = threading.Thread(target=fn, daemon=True)
                t.start()
                self.threads.append(t)

    def _forward(self, src, dst, idx):
        held = bytearray()
        src.settimeout(self.IDLE)
        try:
            while True:
                try:
                    data = src.recv(1 << 16)
                except socket.timeout:
                    data = None
                if data == b'':
                    break
                if data:
                    held += data
                    if idx == 0 and self.mutator:
                        self.mutator.scan(held, self.forwarded)
                    if len(held) > self.HOLD:
                        n = len(held) - self.HOLD
                        dst.sendall(held[:n])
                        self.forwarded += n if idx == 0 else 0
                        del held[:n]
                elif held:
                    dst.sendall(held)
                    self.forwarded += len(held) if idx == 0 else 0
                    held.clear()
            if held:
                dst.sendall(held)
        except OSError:
            pass
        _half_close(src, dst)

    def _back(self, src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        _half_close(src, dst)

    def close(self):
        self.stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        try:
            os.unlink(self.listen_path)
        except OSError:
            pass


def _half_close(src, dst):
    """One direction is over: no more writes to @dst, reads from @src."""
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


class IdentityMutator:
    """
    Finds the livemig stream header (magic, version 1, valid header CRC)
    followed by its IDENTITY record, and either flips one payload byte
    (the record CRC no longer matches: a corrupted stream) or rewrites
    the device ID with a valid CRC (a stream from another device).
    """

    def __init__(self, mode):
        self.mode = mode            # 'flip' or 'identity'
        self.done = False
        self.what = None

    def scan(self, buf, base):
        if self.done:
            return
        start = 0
        while True:
            i = buf.find(LM_MAGIC, start)
            if i < 0 or i + LM_HDR_LEN + LM_REC_HDR_LEN + \
                    LM_IDENTITY_LEN > len(buf):
                return
            start = i + 1
            hdr = bytes(buf[i:i + LM_HDR_LEN])
            version, hdr_len = struct.unpack_from('<HH', hdr, 4)
            crc = struct.unpack_from('<I', hdr, 20)[0]
            if version != LM_STREAM_VERSION or hdr_len != LM_HDR_LEN or \
                    zlib.crc32(hdr[:20]) != crc:
                continue
            r = i + LM_HDR_LEN
            rtype, _, rlen, rcrc = struct.unpack_from('<HHII', buf, r)
            if rtype != LM_REC_IDENTITY:
                continue
            p = r + LM_REC_HDR_LEN
            if p + rlen > len(buf):
                return              # wait for more bytes
            if self.mode == 'flip':
                buf[p] ^= 0xff
                self.what = ('flipped identity payload byte 0 at stream '
                             'offset %d (record CRC now wrong)' % (base + p))
            else:
                vendor, = struct.unpack_from('<H', buf,
                                             p + LM_IDENTITY_VENDOR_OFF)
                device, = struct.unpack_from('<H', buf,
                                             p + LM_IDENTITY_DEVICE_OFF)
                struct.pack_into('<H', buf, p + LM_IDENTITY_DEVICE_OFF,
                                 device ^ 0x0001)
                payload = bytes(buf[p:p + rlen])
                new = zlib.crc32(bytes(buf[r:r + 8]) + payload)
                struct.pack_into('<I', buf, r + 8, new)
                self.what = ('identity %04x:%04x rewritten to %04x:%04x '
                             'with a valid record CRC, at stream offset %d'
                             % (vendor, device, vendor, device ^ 1, base + p))
            self.done = True
            return


class LateMutator:
    """
    Flips a byte of the device's data in its QEMU_VM_SECTION_END section,
    i.e. in what the source saves after the VM stopped (stop-copy).
    The section id comes from the device's QEMU_VM_SECTION_START header.
    """

    def __init__(self):
        self.section = None
        self.done = False
        self.what = None

    def scan(self, buf, base):
        if self.done:
            return
        if self.section is None:
            self._find_section(buf)
            if self.section is None:
                return
        pat = b'\x03' + struct.pack('>I', self.section) + \
            VFIO_MIG_FLAG_DEV_DATA_STATE
        i = buf.find(pat)
        if i < 0 or i + len(pat) + 8 + 16 > len(buf):
            return
        size = struct.unpack_from('>Q', buf, i + len(pat))[0]
        data = i + len(pat) + 8
        off = min(size - 1, 14)
        buf[data + off] ^= 0xff
        self.what = ('flipped byte %d of the %d-byte stop-copy chunk of '
                     'section %d at stream offset %d'
                     % (off, size, self.section, base + data + off))
        self.done = True

    def _find_section(self, buf):
        start = 0
        while True:
            i = buf.find(b'/vfio', start)
            if i < 0:
                return
            start = i + 1
            end = i + 5
            for n in range(5, 80):
                lp = end - n - 1
                if lp < 5:
                    break
                if buf[lp] == n and buf[lp - 5] == 0x01:
                    idstr = bytes(buf[lp + 1:end])
                    if all(32 < c < 127 for c in idstr):
                        self.section = struct.unpack_from('>I', buf,
                                                          lp - 4)[0]
                        self.idstr = idstr.decode()
                        return


# --- the harness ---------------------------------------------------------------
