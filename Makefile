# SPDX-License-Identifier: GPL-2.0
#
# livemig-vfio-pci: out-of-tree vfio-pci variant driver with VFIO live
# migration.
#
# This Makefile builds and installs the module and nothing else: it never
# installs packages.  The targets that need the QEMU test rig (check, demo,
# bench, shell, setup, ...) are in test.mk, included at the end; only they
# provision the machine (scripts/setup).
#
#   make                        build for the running kernel
#   make KDIR=/path/to/build    build against another kernel's build tree
#   make KVER=6.1.0-44-amd64    ... or name the kernel: /lib/modules/$(KVER)/build
#   make install                modules_install into /lib/modules/$(KVER) + depmod
#                               (INSTALL_MOD_PATH=DIR: under DIR instead)
#   make W=1 / make C=2         extra warnings / sparse (passed to kbuild)
#   make style                  checkpatch --strict over src/ and include/
#   make deb                    the livemig-vfio-pci-dkms Debian package
#   make dkms-install           dkms add/build/install from this tree
#   make dkms-remove            ... and remove it again

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
# The release of the tree in KDIR, for depmod: its UTS_RELEASE (Debian's
# 6.1 headers say 6.1.NNN in include/config/kernel.release, while the
# kernel and its /lib/modules directory are 6.1.0-NN-amd64).
KREL = $(or $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null),$(KVER))

.PHONY: all modules clean install style deb dkms-install dkms-remove have-kdir

all: modules

have-kdir:
	@test -f $(KDIR)/Makefile || { \
		echo "livemig: no kernel build tree at $(KDIR)" >&2; \
		echo "livemig: install the headers of kernel $(KVER) (Debian: linux-headers-$(KVER))," >&2; \
		echo "livemig: or pass KDIR=/path/to/build or KVER=<release>" >&2; exit 1; }

# W=1 and C=2 are passed straight through to kbuild.
modules: have-kdir
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	-test ! -f $(KDIR)/Makefile || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(CURDIR)/build

# INSTALL_MOD_PATH (kbuild's) installs under another root, e.g. a
# staging tree; depmod then indexes that root.
install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) -a $(KREL)

# checkpatch.pl from a kernel source tree (Debian: linux-source-6.12,
# unpacked; `make setup` does that).  include/livemig/compat.h exists to
# test kernel versions and to name the kernel's own uAPI macros (some in
# CamelCase, some empty on old kernels), so it is checked without those
# four rules; src/livemig_trace.h without the two that TRACE_EVENT()'s
# layout (one macro argument per line, as in the kernel's own trace
# headers) breaks; every other file with all of them.
KSRC ?= /usr/src/linux-source-6.12
CHECKPATCH = $(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG
COMPAT_H := include/livemig/compat.h
TRACE_H := src/livemig_trace.h
style:
	@test -x $(KSRC)/scripts/checkpatch.pl || { \
		echo "livemig: no $(KSRC)/scripts/checkpatch.pl (make setup, or KSRC=)" >&2; exit 1; }
	$(CHECKPATCH) -f $(filter-out $(COMPAT_H) $(TRACE_H),$(shell git ls-files 'src/*.c' 'src/*.h' 'include/*.h'))
	$(CHECKPATCH) --ignore OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT -f $(TRACE_H)
	$(CHECKPATCH) --ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON,MACRO_ARG_UNUSED,CAMELCASE -f $(COMPAT_H)

# Packaging (Documentation/packaging.md).
deb:
	$(CURDIR)/scripts/deb

dkms-install:
	$(CURDIR)/scripts/dkms-install

dkms-remove:
	$(CURDIR)/scripts/dkms-install --remove

-include $(CURDIR)/test.mk
