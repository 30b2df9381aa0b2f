# SPDX-License-Identifier: GPL-2.0
"""What every module of the harness shares: its error, its clock, the
repository it runs from and two facts about the host."""

import os
import re
import subprocess
import time

# selftests/e2e/common.py -> the repository.
REPO = os.environ.get('LIVEMIG_REPO') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.realpath(__file__))))


class HarnessError(Exception):
    """A step of the harness could not be done (set-up, a QEMU that did
    not come up, a migration that never ended)."""


def now():
    return time.monotonic()


def kernel_before(major, minor):
    """Is the running kernel's release older than major.minor?"""
    m = re.match(r'(\d+)\.(\d+)', os.uname().release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) < (major, minor)


def qemu_version(qemu):
    try:
        return subprocess.run([qemu, '--version'], capture_output=True,
                              text=True, timeout=20).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
