# SPDX-License-Identifier: GPL-2.0
"""A minimal QMP client: commands with ids, events kept with the time they
arrived (QEMU's machine protocol over a unix socket)."""

import json
import socket
import threading
import time

from .common import HarnessError, now


class QMPError(Exception):
    pass


class QMP:
    """A minimal QMP client: commands with ids, events kept with times."""

    def __init__(self, path, name, timeout=30):
        self.name = name
        self.sock = connect_unix(path, timeout)
        self.rfile = self.sock.makefile('rb')
        self.cond = threading.Condition()
        self.replies = {}
        self.events = []            # (monotonic time, event dict)
        self.closed = False
        self.next_id = 1
        greeting = self.rfile.readline()
        if not greeting:
            raise HarnessError('%s: QMP closed before its greeting' % name)
        self.version = json.loads(greeting)['QMP']['version']
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.cmd('qmp_capabilities')

    def _reader(self):
        try:
            for line in self.rfile:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                with self.cond:
                    if 'event' in msg:
                        self.events.append((now(), msg))
                    elif 'id' in msg:
                        self.replies[msg['id']] = msg
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def cmd(self, execute, args=None, timeout=60):
        with self.cond:
            cid = self.next_id
            self.next_id += 1
        req = {'execute': execute, 'id': cid}
        if args:
            req['arguments'] = args
        try:
            self.sock.sendall(json.dumps(req).encode() + b'\n')
        except OSError as e:
            raise QMPError('%s: %s: %s' % (self.name, execute, e))
        deadline = now() + timeout
        with self.cond:
            while cid not in self.replies:
                left = deadline - now()
                if self.closed or left <= 0:
                    raise QMPError('%s: %s: no reply (%s)' % (
                        self.name, execute,
                        'connection closed' if self.closed else 'timeout'))
                self.cond.wait(left)
            reply = self.replies.pop(cid)
        if 'error' in reply:
            raise QMPError('%s: %s: %s' % (self.name, execute,
                                           reply['error'].get('desc')))
        return reply.get('return')

    def events_named(self, name):
        with self.cond:
            return [(t, e) for t, e in self.events if e['event'] == name]

    def wait_event(self, name, pred=lambda e: True, timeout=60, since=0.0):
        deadline = now() + timeout
        with self.cond:
            while True:
                for t, e in self.events:
                    if t >= since and e['event'] == name and pred(e):
                        return e
                left = deadline - now()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 1.0))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def connect_unix(path, timeout):
    deadline = now() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if now() > deadline:
                raise HarnessError('cannot connect to %s: %s' % (path, e))
            time.sleep(0.05)
