#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Numbered UDP datagrams and their echo: the traffic of the igb rig
(selftests/lib/igb-rig.sh).

    udp-echo.py serve ADDR PORT
        echo every datagram to its sender, until killed
    udp-echo.py send SRC DST PORT COUNT [SIZE]
        send COUNT datagrams of SIZE bytes (default 512) from SRC, one at
        a time, each waiting up to WAIT_S (10 s) for its echo; print one line,
        "sent=N echoed=N corrupt=N late=N", and exit 0 only if every one
        came back intact

A datagram carries its number and a payload derived from it, so an
echo that is not byte-for-byte what was sent counts as corrupt; one that
arrives after its wait counts as late (and not echoed).  The wait only
tells a lost datagram from a slow one: an echo takes milliseconds, but
the rig runs under TCG on a shared host, where a stall of a second
happens; a short wait would make a loaded host fail the check.  Standard
library only.
"""

import socket
import struct
import sys

WAIT_S = 10


def payload(seq, size):
    head = struct.pack('!I', seq)
    body = bytes((seq * 131 + i * 7) & 0xff for i in range(size - len(head)))
    return head + body


def serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)


def send(src, dst, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(WAIT_S)
    echoed = corrupt = late = 0
    for seq in range(count):
        want = payload(seq, size)
        s.sendto(want, (dst, port))
        while True:
            try:
                data, _ = s.recvfrom(65536)
            except socket.timeout:
                break
            got = struct.unpack('!I', data[:4])[0] if len(data) >= 4 else -1
            if got != seq:
                late += 1           # an earlier one, after its wait
                continue
            if data == want:
                echoed += 1
            else:
                corrupt += 1
            break
    print('sent=%d echoed=%d corrupt=%d late=%d' % (count, echoed, corrupt,
                                                     late))
    return 0 if echoed == count else 1


def main(argv):
    if len(argv) == 3 and argv[0] == 'serve':
        serve(argv[1], int(argv[2]))
        return 0
    if len(argv) in (5, 6) and argv[0] == 'send':
        return send(argv[1], argv[2], int(argv[3]), int(argv[4]),
                    int(argv[5]) if len(argv) == 6 else 512)
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
