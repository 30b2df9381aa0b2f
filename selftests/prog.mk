# SPDX-License-Identifier: GPL-2.0
#
# One helper program of a selftests subdirectory, linked against the
# selftests' library.  The subdirectory's Makefile sets PROG (the program,
# built from $(PROG).c next to it) and includes this file:
#
#   make -C selftests/<dir>      -> build/selftests/<dir>/$(PROG)

SRCDIR := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
TOP := $(abspath $(SRCDIR)/../..)
BUILD ?= $(TOP)/build
OUT := $(BUILD)/selftests/$(notdir $(SRCDIR))
LIBTEST := $(BUILD)/selftests/lib/libtest.a

CC ?= gcc
CFLAGS ?= -Wall -Wextra -O2 -g
CPPFLAGS += -D_GNU_SOURCE -I$(BUILD)/uapi -I$(TOP)/selftests/lib -I$(TOP)/include \
	-I$(TOP)/tools

.PHONY: all clean FORCE

all: $(OUT)/$(PROG)

# The selftests' library (and the uapi header) come from their Makefile.
$(LIBTEST): FORCE
	@$(MAKE) --no-print-directory -C $(TOP)/selftests $@

$(OUT)/$(PROG): $(SRCDIR)/$(PROG).c $(LIBTEST)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -pthread -o $@ $< $(LIBTEST)

clean:
	rm -rf $(OUT)
