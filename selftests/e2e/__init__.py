# SPDX-License-Identifier: GPL-2.0
"""
e2e: the harness of the end-to-end migration tests, which drive nested
QEMUs over QMP inside the test rig (scripts/e2e-migrate, scripts/e2e-bochs,
selftests/fault-inject/e2e_faults.py; Documentation/rig.md).

Modules, each with a public API (no module uses another's _names):
  common     HarnessError, now(), REPO, kernel_before(), qemu_version()
  tap        Tap: ok(), setup(), skip(), diag(), finish()
  qmp        QMP (cmd(), events_named(), wait_event()), QMPError,
             connect_unix()
  vm         VM: one nested QEMU (a context manager that kills it),
             kill_all(), shell_quote()
  vfio       sysfs and vfio helpers (probe_dma_logging(), fresh_open(),
             vfio_holders(), ...), BochsBinder, the VFIO constants
  stream     StreamProxy, IdentityMutator, LateMutator, the livemig
             stream constants
  migration  migrate(h, src, dst, ...), set_caps(), HOLD_PARAMS, and the
             trace readers (dirty_stats(), pending_samples(), ...)
  checks     the shared checks: completed(), precopy(), finish_payload(),
             source_survived(), why(), ...
  harness    Harness: arguments, Tap, devices, dirty tracking, new_vm(),
             prepare(), run_variant(), record(), the kernel log
  variants   one function per variant, @variant-registered (REGISTRY,
             ALL_VARIANTS); simple() and refused(), the common flows
  report     demo(h): the readable report of make demo
  bochs      BochsHarness and the e2e-bochs run (bench, its variants)
  cli        parse_args() (e2e-migrate's options) and run()

Constants mirrored from C headers (vfio.C_MIRROR, stream.C_MIRROR) are
checked against the headers by selftests/e2e/check-consts.
Standard library only.
"""
