# SPDX-License-Identifier: GPL-2.0
#
# livemig-vfio-pci: out-of-tree vfio-pci variant driver with VFIO live
# migration.  See README.md for the two commands that matter
# (`make demo`, `make check`).

# The test kernel: Debian's 6.12 (bookworm-backports), not the host's.
KVER_TEST := $(notdir $(patsubst %/build,%,$(lastword $(sort $(wildcard /lib/modules/6.12.*/build)))))
KDIR ?= $(if $(KVER_TEST),/lib/modules/$(KVER_TEST)/build,/lib/modules/$(shell uname -r)/build)
KSRC ?= /usr/src/linux-source-6.12
PWD := $(CURDIR)
BUILD := $(CURDIR)/build

SETUP := $(CURDIR)/scripts/setup

.PHONY: all modules clean setup style install selftests tools check demo shell FORCE
.PHONY: fuzz check-debug

all: modules

setup:
	@$(SETUP)

# W=1 and C=2 are passed straight through to kbuild.
modules: setup
	$(MAKE) -C $(KDIR) M=$(PWD) modules

clean:
	$(MAKE) -C $(KDIR) M=$(PWD) clean 2>/dev/null || true
	rm -rf $(BUILD)

install: modules
	$(MAKE) -C $(KDIR) M=$(PWD) modules_install
	depmod -a $(notdir $(patsubst %/build,%,$(KDIR))) 2>/dev/null || depmod -a

# checkpatch --strict over the kernel-side sources.
style: setup
	$(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \
		-f $(shell git ls-files 'src/*.c' 'src/*.h' 'include/*.h')

# --- tests and the QEMU rig (scripts/vm; Documentation/rig.md) --------------

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
	$(MAKE) modules
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

# Fuzz the stream parser for FUZZ_SECONDS (default 60) after replaying the
# seeds and regressions; a crash is minimised into fuzz/regressions/,
# which `make check` then replays.  See fuzz/Makefile (coverage, seeds).
FUZZ_SECONDS ?= 60
fuzz: setup
	$(MAKE) -C fuzz all
	$(MAKE) -C fuzz check
	$(MAKE) -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

# Measure the bochs-display engine and what PRE_COPY buys, in the rig: one
# boot per VRAM size (BENCH_SIZES, default 16,64,256 MiB); writes
# build/report/bench.json and bench.md (scripts/bench).
.PHONY: bench
bench: setup
	$(MAKE) modules
	$(MAKE) -C selftests
	$(MAKE) $(BUILD)/tools/lmbench
	@$(CURDIR)/scripts/bench

$(BUILD)/tools/lmbench: tools/lmbench.c $(BUILD)/selftests/lib/libtest.a
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -O2 -g -D_GNU_SOURCE -I$(BUILD)/uapi -Iselftests/lib \
		-Iinclude -Itools -o $@ $< $(BUILD)/selftests/lib/libtest.a

# Boot the rig and show both edu devices bound to the driver and exposed by
# VFIO (scripts/demo-guest runs inside the guest).
demo: setup
	$(MAKE) modules
	$(MAKE) tools
	$(MAKE) -C selftests/guest
	@$(CURDIR)/scripts/vm -- scripts/demo-guest

# An interactive shell in the rig, module loaded and edu devices bound.
shell: setup
	$(MAKE) modules
	$(MAKE) tools
	@$(CURDIR)/scripts/vm --shell
