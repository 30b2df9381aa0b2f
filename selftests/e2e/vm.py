# SPDX-License-Identifier: GPL-2.0
"""One nested QEMU: its command line, QMP, serial console and logs."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading

from .common import HarnessError, now
from .qmp import QMP, QMPError, connect_unix

# QEMU trace events worth keeping (QEMU 10.0 names, see -trace help).
TRACE_EVENTS = ('vfio_migration_*', 'vfio_save_*', 'vfio_load_*',
                'vfio_vmstate_change*', 'vfio_state_pending_*',
                'migrate_set_state', 'vfio_multifd_*',
                'vfio_device_dirty_tracking_*', 'vfio_get_dirty_bitmap',
                'source_return_path_thread_switchover_acked')


class VM:
    """
    A nested QEMU running the payload, with QMP and a serial socket.  As a
    context manager it kills its QEMU on the way out, whatever happened;
    kill_all() stops every VM still running (the harness calls it after
    each variant).
    """

    registry = []

    def __init__(self, name, host, *, qemu, payload, device_arg, machine,
                 mem, vdir, sockdir, boot_timeout, incoming=False,
                 payload_args='', iommufd=False, extra_devices=(),
                 echo=None):
        """
        Start QEMU for @name on @host (substituted for {host} in
        @device_arg) booting @payload, stopped (-S) or, with @incoming,
        waiting for a migration (-incoming defer); its logs go to
        @vdir/@name, its QMP and serial sockets to @sockdir.  QEMU writes
        its trace log and the serial log into @sockdir too (the rig's
        tmpfs: on the 9p share a trace line cost the writing thread, the
        migration thread among them, a round trip to the host, and the
        VM's vCPU thread was seen asleep until that thread woke it), and
        close() moves them into @vdir/@name.  @echo, if set, is called
        with every serial line.  Raises HarnessError when QEMU does not
        come up within @boot_timeout seconds.
        """
        self.name = name
        self.host = host
        self.incoming = incoming
        self.echo = echo
        self.dir = os.path.join(vdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.qmp_path = os.path.join(sockdir, name + '.qmp')
        self.ser_path = os.path.join(sockdir, name + '.ser')
        self.trace_path = os.path.join(sockdir, name + '.trace.log')
        self.serial_log = os.path.join(sockdir, name + '.serial.log')
        self.stderr_path = os.path.join(self.dir, 'qemu.log')
        self.lines = []               # (monotonic time, text)
        self.lines_cond = threading.Condition()
        self.ser_closed = False
        self.device_arg = device_arg.format(host=host or '')
        self.is_vfio = self.device_arg.startswith('vfio-pci')
        self.iommufd = iommufd and self.is_vfio
        backend = []
        if self.iommufd:
            # QEMU 10.0: an iommufd backend object, linked from the device.
            backend = ['-object', 'iommufd,id=iommufd0']
            self.device_arg += ',iommufd=iommufd0'

        # debug-threads: the threads carry their names ("CPU 0/TCG",
        # "mig/src/main"), which the bench's traces report.
        args = [qemu, '-name', name + ',debug-threads=on',
                '-nodefaults', '-no-user-config',
                '-machine', machine, '-accel', 'tcg',
                '-m', str(mem), '-display', 'none', '-no-reboot',
                '-msg', 'timestamp=on',
                '-chardev', 'socket,id=ser0,path=%s,server=on,wait=off,'
                            'logfile=%s' % (self.ser_path, self.serial_log),
                '-serial', 'chardev:ser0',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
        args += backend + ['-device', self.device_arg]
        for d in extra_devices:
            args += ['-device', d]
        args += ['-kernel', payload, '-D', self.trace_path]
        for ev in TRACE_EVENTS:
            args += ['-trace', 'enable=' + ev]
        if payload_args:
            args += ['-append', payload_args]
        if incoming:
            args += ['-incoming', 'defer']
        else:
            args += ['-S']          # started once serial and QMP are attached
        self.cmdline = args
        with open(os.path.join(self.dir, 'cmdline'), 'w') as f:
            f.write(' '.join(shell_quote(a) for a in args) + '\n')
        self.errf = open(self.stderr_path, 'wb')
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.errf, stderr=self.errf,
                                     start_new_session=True)
        VM.registry.append(self)
        self.t_start = now()
        try:
            # Slow on a loaded host under the debug kernel: give QEMU the
            # payload's boot time to come up.
            self.qmp = QMP(self.qmp_path, name, timeout=boot_timeout)
            self.ser = connect_unix(self.ser_path, boot_timeout)
        except Exception:
            self.kill()
            raise HarnessError('%s: QEMU did not come up:\n%s' % (
                name, self.stderr_tail()))
        self.ser_thread = threading.Thread(target=self._serial_reader,
                                           daemon=True)
        self.ser_thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def _serial_reader(self):
        buf = b''
        while True:
            try:
                data = self.ser.recv(4096)
            except OSError:
                data = b''
            if not data:
                break
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                text = line.decode('utf-8', 'replace').rstrip('\r')
                with self.lines_cond:
                    self.lines.append((now(), text))
                    self.lines_cond.notify_all()
                if self.echo:
                    self.echo('%s| %s' % (self.name, text))
        with self.lines_cond:
            if buf:
                self.lines.append((now(), buf.decode('utf-8', 'replace')))
            self.ser_closed = True
            self.lines_cond.notify_all()

    def cont(self):
        self.qmp.cmd('cont')

    def send(self, byte):
        self.ser.sendall(byte.encode())

    def wait_line(self, pattern, timeout, start=0):
        """First serial line from index @start matching @pattern, or None."""
        rx = re.compile(pattern)
        deadline = now() + timeout
        with self.lines_cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return m
                    i += 1
                left = deadline - now()
                if left <= 0 or self.ser_closed or self.proc.poll() is not None:
                    # One last look: the process may have exited right after.
                    for _, text in self.lines[i:]:
                        m = rx.search(text)
                        if m:
                            return m
                    return None
                self.lines_cond.wait(min(left, 0.5))

    def nlines(self):
        with self.lines_cond:
            return len(self.lines)

    def grep(self, pattern):
        rx = re.compile(pattern)
        with self.lines_cond:
            return [t for _, t in self.lines if rx.search(t)]

    def status(self):
        try:
            return self.qmp.cmd('query-status', timeout=20).get('status')
        except (QMPError, HarnessError):
            return None

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def quit(self, timeout=30):
        if self.proc.poll() is None:
            try:
                self.qmp.cmd('quit', timeout=10)
            except (QMPError, HarnessError):
                pass
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
        self.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.close()

    def close(self):
        if getattr(self, 'qmp', None) is not None and \
                not getattr(self, 'events_saved', False):
            self.events_saved = True
            with self.qmp.cond:
                evs = [dict(e, t=round(t - self.t_start, 3))
                       for t, e in self.qmp.events]
            with open(os.path.join(self.dir, 'events.json'), 'w') as f:
                json.dump(evs, f, indent=1)
        for attr in ('qmp', 'ser'):
            obj = getattr(self, attr, None)
            if obj is not None:
                try:
                    obj.close()
                except OSError:
                    pass
        if not self.errf.closed:
            self.errf.close()
        self._keep_logs()
        if self in VM.registry:
            VM.registry.remove(self)

    def _keep_logs(self):
        """Move the trace and serial logs from the scratch directory
        into the VM's directory once QEMU has exited (or now, if it has
        not: what it writes later is lost)."""
        for attr, name in (('trace_path', 'trace.log'),
                           ('serial_log', 'serial.log')):
            path, kept = getattr(self, attr), os.path.join(self.dir, name)
            if path == kept:
                continue
            try:
                shutil.copyfile(path, kept)
                os.unlink(path)
            except FileNotFoundError:
                pass
            setattr(self, attr, kept)

    def stderr_tail(self, n=15):
        try:
            with open(self.stderr_path, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return ''
        return '\n'.join(lines[-n:])

    def qemu_errors(self):
        """QEMU's own error lines (not trace lines)."""
        try:
            with open(self.stderr_path, 'rb') as f:
                text = f.read().decode('utf-8', 'replace')
        except OSError:
            return []
        return [ln for ln in text.splitlines()
                if ln.strip() and not re.match(r'^\d+@[\d.]+:\w+ ', ln)]

    def trace_lines(self):
        out = []
        for path in (self.trace_path, self.stderr_path):
            try:
                with open(path, 'rb') as f:
                    out += f.read().decode('utf-8', 'replace').splitlines()
            except OSError:
                pass
        return out

    def device_states(self):
        """The device's migration states: from VFIO_MIGRATION events."""
        return [(t, e['data'].get('device-state'))
                for t, e in self.qmp.events_named('VFIO_MIGRATION')]

    def traced_states(self):
        """The device's migration states as traced by QEMU."""
        out = []
        for ln in self.trace_lines():
            m = re.search(r'vfio_migration_set_state .*?new state (\S+)', ln)
            if m:
                out.append(m.group(1))
        return out

    def payload_state(self, when, tag=''):
        """The payload's "LMG STATE when=..." line as a dict, or None;
        @tag '-EDU2': its line about the VM's second edu."""
        for text in reversed(self.grep(r'LMG STATE%s when=%s ' % (tag, when))):
            return dict(kv.split('=', 1) for kv in text.split()[2:]
                        if '=' in kv)
        return None


def shell_quote(s):
    if re.match(r'^[\w@%+=:,./-]+$', s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


# --- a man-in-the-middle for the migration stream -----------------------------


def kill_all():
    """Kill every VM that is still running."""
    for vm in list(VM.registry):
        vm.kill()
