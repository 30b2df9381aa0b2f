# SPDX-License-Identifier: GPL-2.0
#
# The test side of livemig-vfio-pci, included by the Makefile: the targets
# that need the QEMU test rig (Documentation/rig.md).  Each of them first
# runs scripts/setup, which installs what the rig needs from Debian's
# archive (test kernel, QEMU, busybox, compilers, kernel source); a plain
# `make` never does.
#
#   make setup         install what the rig needs (idempotent)
#   make check         build everything, run every suite; last line
#                      "N passed, N failed, N skipped" (T=<pattern> for some)
#   make check-debug   the same on the debug kernel (KASAN, lockdep, ...)
#   make demo          a live migration of a VM with an assigned edu, reported
#   make demo-libvirt  the same through libvirt (virsh migrate --live)
#   make bench         the benchmark (build/report/bench.{json,md})
#   make shell         a shell in the rig, module loaded and edu bound
#   make fuzz          fuzz the stream parser and the engines' decoders
#                      (FUZZ_SECONDS each, default 60; or FUZZ_RUNS in all)

# The rig's primary kernel: Debian's 6.12 from bookworm-backports, which
# scripts/setup installs.  The module for it is built into the tree
# (./livemig-vfio-pci.ko, what scripts/vm loads by default).
TEST_KVER = $(notdir $(patsubst %/build,%,$(lastword $(sort $(wildcard /lib/modules/6.12.*/build)))))
TEST_KDIR = /lib/modules/$(TEST_KVER)/build
BUILD := $(CURDIR)/build
SETUP := $(CURDIR)/scripts/setup

.PHONY: setup test-modules selftests tools check check-debug fuzz bench demo demo-libvirt shell FORCE

setup:
	@$(SETUP)

# After setup, so TEST_KDIR is evaluated once the kernel is installed.
test-modules: setup
	$(MAKE) modules KDIR=$(TEST_KDIR)

selftests: setup
	$(MAKE) -C selftests

# Small userspace tools used inside the rig.
tools: setup $(BUILD)/tools/vfio-info

$(BUILD)/uapi/linux/vfio.h: FORCE
	@$(MAKE) --no-print-directory -C selftests $@

FORCE:

$(BUILD)/tools/vfio-info: tools/vfio-info.c $(BUILD)/uapi/linux/vfio.h
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -O2 -g -I$(BUILD)/uapi -o $@ $<

# Build everything, boot the rig once, run every suite in it (see
# scripts/run-suites) and end with "N passed, N failed, N skipped".
# T=<pattern...> runs only the matching suites. CHECK_SUBDIRS: what else
# is built first (each has its own Makefile).
CHECK_SUBDIRS := selftests $(patsubst %/Makefile,%,$(wildcard fuzz/Makefile))

check: setup
	$(MAKE) test-modules
	$(MAKE) tools
	@for d in $(CHECK_SUBDIRS); do $(MAKE) -C $$d || exit 1; done
	@$(CURDIR)/scripts/check $(T)

# `make check` on the debug kernel (scripts/debug-kernel: KASAN, lockdep,
# kmemleak, debugobjects, fault injection, IOMMUFD + VFIO cdev), built
# once into a cache outside the repo (about 25 min on 2 idle cores); the
# module is built against it in build/debug-mod/.  See
# Documentation/robustness.md.
check-debug: setup
	$(MAKE) tools
	@for d in $(CHECK_SUBDIRS); do $(MAKE) -C $$d || exit 1; done
	@$(CURDIR)/scripts/check-debug $(T)

# Fuzz the stream parser and the engines' record decoders (stream_fuzz,
# edu_fuzz, bochs_fuzz) for FUZZ_SECONDS each (default 60), or for
# FUZZ_RUNS executions in all, after replaying the seeds, golden streams
# and regressions; a crash is minimised into fuzz/regressions/, which
# `make check` then replays.  See fuzz/Makefile (coverage, seeds, shares).
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
fuzz: setup
	$(MAKE) -C fuzz all
	$(MAKE) -C fuzz check
	$(MAKE) -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS)

# Measure the bochs-display engine and what PRE_COPY buys, in the rig: one
# boot per kernel (BENCH_KERNELS, default stock,debug: Debian's 6.12 and
# the debug tier's kernel, built on first use) and VRAM size (BENCH_SIZES,
# default 16,64,256 MiB); writes build/report/bench.json and bench.md
# (scripts/bench).
bench: setup
	$(MAKE) test-modules
	$(MAKE) -C selftests
	$(MAKE) $(BUILD)/tools/lmbench
	@$(CURDIR)/scripts/bench

$(BUILD)/tools/lmbench: tools/lmbench.c $(BUILD)/selftests/lib/libtest.a
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -O2 -g -D_GNU_SOURCE -I$(BUILD)/uapi -Iselftests/lib \
		-Iinclude -Itools -o $@ $< $(BUILD)/selftests/lib/libtest.a

# Boot the rig and live-migrate a VM with an assigned edu (scripts/demo-guest
# runs inside the guest).
demo: setup
	$(MAKE) test-modules
	$(MAKE) tools
	$(MAKE) -C selftests/guest
	@$(CURDIR)/scripts/vm -- scripts/demo-guest

# The same migration driven by libvirt: two daemons in the rig, virsh
# migrate --live (scripts/demo-libvirt runs inside the guest).
demo-libvirt: setup
	$(MAKE) test-modules
	$(MAKE) -C selftests/guest
	@$(CURDIR)/scripts/vm -- scripts/demo-libvirt

# An interactive shell in the rig, module loaded and edu devices bound.
shell: setup
	$(MAKE) test-modules
	$(MAKE) tools
	@$(CURDIR)/scripts/vm --shell
