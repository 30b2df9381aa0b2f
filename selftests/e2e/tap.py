# SPDX-License-Identifier: GPL-2.0
"""TAP output: one line per check, diagnostics, the plan at the end."""

import sys
import threading


class Tap:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.n = 0
        self.failed = 0
        self.todo = 0
        self.lock = threading.Lock()

    def _print(self, line):
        with self.lock:
            self.out.write(line + '\n')
            self.out.flush()

    def ok(self, cond, name, diag=None, todo=None):
        self.n += 1
        if todo and not cond:
            self.todo += 1
        self._print('%s %d - %s%s' % ('ok' if cond else 'not ok', self.n, name,
                                      ' # TODO %s' % todo if todo else ''))
        if not cond:
            if not todo:
                self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    self.diag('  ' + line)
        return bool(cond)

    def setup(self, cond, name, diag=None):
        """A step the tests need, not a test: a diagnostic when it worked,
        a counted failure when it did not."""
        if cond:
            self.diag('setup: ' + name)
            return True
        return self.ok(False, 'setup: ' + name, diag)

    def skip(self, name, reason):
        self.n += 1
        self._print('ok %d - %s # SKIP %s' % (self.n, name, reason))

    def diag(self, msg):
        for line in str(msg).splitlines() or ['']:
            self._print('# ' + line)

    def finish(self):
        self._print('1..%d' % self.n)
        self._print('# e2e-migrate: %d passed, %d failed%s'
                    % (self.n - self.failed - self.todo, self.failed,
                       ', %d known problems (TODO)' % self.todo
                       if self.todo else ''))


# --- QMP ----------------------------------------------------------------------
