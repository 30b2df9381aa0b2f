# SPDX-License-Identifier: GPL-2.0
#
# What the bare-metal payloads' Makefiles share (selftests/guest,
# guest-bochs, guest-igbvf): a 32-bit multiboot ELF, $(O)/payload.elf,
# built from $(SRCDIR)/$(MAIN).c and this directory's entry, console, PCI
# and timer code, linked with its payload.ld.  The including Makefile sets
# SRCDIR, O and MAIN first; targets all and clean.

GUEST := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

CC := gcc
# No SSE/x87 code generation: the payloads never enable them (the edu
# payload's one 8-byte MMIO read uses MMX from inline assembly, enabled
# at run time).
CFLAGS := -m32 -march=i686 -ffreestanding -fno-builtin -fno-pic -fno-pie \
	  -fno-stack-protector -fno-asynchronous-unwind-tables \
	  -fno-tree-loop-distribute-patterns -mgeneral-regs-only \
	  -O2 -g -Wall -Wextra -Wno-unused-parameter -std=gnu11 -MMD -MP \
	  -I$(GUEST)
ASFLAGS := -m32 -MMD -MP
LDFLAGS := -m32 -nostdlib -static -no-pie -Wl,--build-id=none \
	   -Wl,-n -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments \
	   -Wl,-T,$(GUEST)/payload.ld

OBJS := $(O)/entry.o $(O)/$(MAIN).o $(O)/lib.o $(O)/trap.o

.PHONY: all clean

all: $(O)/payload.elf

$(O)/payload.elf: $(OBJS) $(GUEST)/payload.ld
	$(CC) $(LDFLAGS) -o $@ $(OBJS) -lgcc

$(O)/$(MAIN).o: $(SRCDIR)/$(MAIN).c | $(O)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/%.o: $(GUEST)/%.c | $(O)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/%.o: $(GUEST)/%.S | $(O)
	$(CC) $(ASFLAGS) -c -o $@ $<

$(O):
	mkdir -p $@

clean:
	rm -f $(OBJS) $(OBJS:.o=.d) $(O)/payload.elf

-include $(OBJS:.o=.d)
