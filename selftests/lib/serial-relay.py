#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Relay a QEMU serial port that listens on a UNIX socket.

    serial-relay.py SOCKET OUT CTL

Connects to SOCKET (retrying for 20 s), appends everything the guest
prints to OUT, and sends the guest every byte written to the FIFO CTL
(e.g. `printf E > CTL`).  Exits when QEMU closes the socket.  The
selftests' libvirt suites use it: libvirt gives a domain's serial port
as <serial type='unix'><source mode='bind' .../></serial>.
"""
import os
import select
import socket
import sys
import time


def main():
    path, out_path, ctl = sys.argv[1:4]
    sock = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            break
        except OSError:
            sock.close()
            sock = None
            time.sleep(0.1)
    if sock is None:
        print('serial-relay: cannot connect to %s' % path, file=sys.stderr)
        return 1
    # Read-write, so that the FIFO never reads as closed.
    fd = os.open(ctl, os.O_RDWR)
    with open(out_path, 'ab', buffering=0) as out:
        while True:
            ready, _, _ = select.select([sock, fd], [], [])
            if sock in ready:
                data = sock.recv(4096)
                if not data:
                    return 0
                out.write(data)
            if fd in ready:
                sock.sendall(os.read(fd, 64))


if __name__ == '__main__':
    sys.exit(main())
