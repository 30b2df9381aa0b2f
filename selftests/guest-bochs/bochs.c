// SPDX-License-Identifier: GPL-2.0
/*
 * Bare-metal live-migration payload for QEMU's bochs-display.
 *
 * Built from selftests/guest's entry, console, PCI and timer code (see
 * ../guest/lib.h) into its own ELF, build/guest-bochs/payload.elf, and
 * booted the same way (-kernel, multiboot) in a nested VM whose
 * bochs-display is assigned through VFIO (or emulated).  It sets a video
 * mode, fills VRAM, asks the harness to migrate and, until the harness
 * says the migration is over, keeps rewriting a small region of VRAM
 * with a new pattern each pass and panning the display (Y_OFFSET) with
 * every pass.  Afterwards it checks that VRAM and the registers hold
 * exactly what it last wrote.
 *
 * Guest RAM records what was last written (a sequence number per page,
 * the register values), so the check is exact: VRAM and RAM stop at the
 * same instruction.  Only the page being written at that moment may hold
 * a mix of the old and the new pattern, word by word; the same holds for
 * a register write in flight.
 *
 * Protocol with the harness: that of the edu payload (../guest/payload.c,
 * scripts/e2e-migrate) - "LMG MIGRATE-NOW round=N", then one byte on
 * COM1: 'E' verify and exit, 'N' verify and go round again, 'X' abort -
 * plus "LMG BOCHS ..." describing the device and "LMG PASS seq=..."
 * heartbeats.
 *
 * Stalls: every page write to VRAM and every write and read back of the
 * Y_OFFSET register (BAR2) is timed in guest virtual time (ACPI PM
 * timer, which stands still while the VM is stopped, so a migration's
 * downtime is not a stall).  'S' on COM1 prints what was seen since the
 * last 'S' (or since the loop began) and starts over:
 *   LMG STALL vram_n=N vram_p50_us=.. vram_p99_us=.. vram_max_us=..
 *             reg_n=N reg_p50_us=.. reg_p99_us=.. reg_max_us=..
 * Percentiles are exact to 1 us below 1 ms, to 1 ms above (up to 1 s).
 *
 * Command line (-append), space separated:
 *   region=N     pages rewritten continuously (default 64)
 *   fill=N       KiB of VRAM after the region filled with a static
 *                pattern at boot and checked afterwards (default: all);
 *                the rest must read as zero (it is cleared at boot)
 *   prefilled    leave VRAM beyond the region alone (the harness filled
 *                it) and do not check it
 *   nodev        no device: rewrite a region of guest RAM instead (the
 *                same VM without the device, for the benchmark)
 *   no-migrate   set up, check, exit (smoke test)
 *   timeout=S    give up waiting for the harness after S seconds
 */
#include "lib.h"

#define BOCHS_VENDOR		0x1234
#define BOCHS_DEVICE		0x1111
#define BOCHS_CLASS		0x038000
#define PCI_CLASS_REV		0x08
#define PCI_BAR2		0x18

#define PAGE			4096
#define WORDS			(PAGE / 4)

#define VBE			0x500
#define VBE_ID			0x0
#define VBE_XRES		0x1
#define VBE_YRES		0x2
#define VBE_BPP			0x3
#define VBE_ENABLE		0x4
#define VBE_BANK		0x5
#define VBE_VIRT_WIDTH		0x6
#define VBE_VIRT_HEIGHT		0x7
#define VBE_X_OFFSET		0x8
#define VBE_Y_OFFSET		0x9
#define VBE_NREGS		0xa
#define VBE_VIDEO_MEMORY_64K	0xa
#define VBE_ID5			0xb0c5
#define QEXT_BYTEORDER		0x604
#define BIG_ENDIAN_FB		0xbebebebeu

#define MAX_REGION		1024
#define NO_PENDING		0xffffffffu

static struct {
	u32 region;
	u32 fill_kib;		/* ~0: all of VRAM */
	bool prefilled;
	bool nodev;
	bool no_migrate;
	u32 timeout_s;
} opt = { 64, ~0u, false, false, false, 900 };

static u32 vram, vram_size, mmio;

/* --- stalls ------------------------------------------------------------- */

#define FINE_US		1000	/* 1 us buckets below this */
#define COARSE_MS	1000	/* then 1 ms buckets up to a second */

static struct stall_hist {
	u32 n;
	u32 max_us;
	u32 fine[FINE_US];
	u32 coarse[COARSE_MS + 1];
} st_vram, st_reg;

static void stall_add(struct stall_hist *h, u64 us)
{
	u32 v = us > 0xffffffffu ? 0xffffffffu : (u32)us;

	h->n++;
	if (v > h->max_us)
		h->max_us = v;
	if (v < FINE_US)
		h->fine[v]++;
	else
		h->coarse[v / 1000 < COARSE_MS ? v / 1000 : COARSE_MS]++;
}

/* The smallest value (us) that at least @pct% of the samples do not exceed. */
static u32 stall_pct(const struct stall_hist *h, u32 pct)
{
	u32 want = (u32)(((u64)h->n * pct + 99) / 100), seen = 0, i;

	if (!h->n)
		return 0;
	for (i = 0; i < FINE_US; i++) {
		seen += h->fine[i];
		if (seen >= want)
			return i;
	}
	for (i = 0; i <= COARSE_MS; i++) {
		seen += h->coarse[i];
		if (seen >= want)
			return i < COARSE_MS ? (i + 1) * 1000 - 1 : h->max_us;
	}
	return h->max_us;
}

static void stall_report(void)
{
	printf("LMG STALL vram_n=%u vram_p50_us=%u vram_p99_us=%u vram_max_us=%u reg_n=%u reg_p50_us=%u reg_p99_us=%u reg_max_us=%u\n",
	       st_vram.n, stall_pct(&st_vram, 50), stall_pct(&st_vram, 99),
	       st_vram.max_us, st_reg.n, stall_pct(&st_reg, 50),
	       stall_pct(&st_reg, 99), st_reg.max_us);
	memset(&st_vram, 0, sizeof(st_vram));
	memset(&st_reg, 0, sizeof(st_reg));
}
static u32 failures, checks, printed;

/* What was last written, in guest RAM: it migrates with the VM. */
static volatile u32 done_seq[MAX_REGION];
static volatile u32 cur_pg, cur_seq;		/* the page being written */
static volatile u16 regs[VBE_NREGS];		/* registers as written */
static volatile u32 reg_pending = NO_PENDING;	/* Y_OFFSET in flight */

/* nodev: the region lives in RAM. */
static u32 ram_region[MAX_REGION * WORDS] __attribute__((aligned(4096)));

static inline u16 rd16(u32 addr)
{
	return *(volatile u16 *)addr;
}

static inline void wr16(u32 addr, u16 v)
{
	*(volatile u16 *)addr = v;
}

static u16 vbe_rd(u32 i)
{
	return rd16(mmio + VBE + 2 * i);
}

static void vbe_wr(u32 i, u16 v)
{
	wr16(mmio + VBE + 2 * i, v);
}

static void fail(const char *what, u32 where, u32 got, u32 want)
{
	failures++;
	if (printed++ < 32)
		printf("LMG CHECK-FAIL %s at=0x%x got=0x%08x want=0x%08x\n",
		       what, where, got, want);
}

/* Word @i of region page @pg in pass @seq. */
static u32 region_word(u32 seq, u32 pg, u32 i)
{
	return (seq * 0x9e3779b1u) ^ (pg << 16) ^ i ^ 0x5a5a0001u;
}

/* Word at byte @off of the static part. */
static u32 static_word(u32 off)
{
	return (off * 0x85ebca6bu) ^ (off >> 13) ^ 0xc2b2ae35u;
}

static u32 region_base(void)
{
	return opt.nodev ? (u32)ram_region : vram;
}

static u32 fill_bytes(void)
{
	u32 rest = vram_size - opt.region * PAGE;

	if (opt.prefilled)
		return 0;
	if (opt.fill_kib == ~0u || opt.fill_kib * 1024 > rest)
		return rest;
	return opt.fill_kib * 1024;
}

static void write_page(u32 pg, u32 seq)
{
	volatile u32 *p = (volatile u32 *)(region_base() + pg * PAGE);
	u64 t0 = now_us();
	u32 i;

	cur_pg = pg;
	cur_seq = seq;
	barrier();
	for (i = 0; i < WORDS; i++)
		p[i] = region_word(seq, pg, i);
	barrier();
	done_seq[pg] = seq;
	stall_add(&st_vram, now_us() - t0);
}

static void set_yoff(u16 v)
{
	u64 t0;

	if (opt.nodev)
		return;
	t0 = now_us();
	reg_pending = v;
	barrier();
	vbe_wr(VBE_Y_OFFSET, v);
	barrier();
	regs[VBE_Y_OFFSET] = v;
	reg_pending = NO_PENDING;
	if (vbe_rd(VBE_Y_OFFSET) != v)
		fail("y_offset read back", VBE_Y_OFFSET, vbe_rd(VBE_Y_OFFSET), v);
	stall_add(&st_reg, now_us() - t0);
}

static void parse_cmdline(const char *s)
{
	const char *w;
	size_t n;

	while ((w = cmdline_word(&s, &n))) {
		if (word_u32(w, n, "region=", &opt.region) ||
		    word_u32(w, n, "fill=", &opt.fill_kib) ||
		    word_u32(w, n, "timeout=", &opt.timeout_s))
			continue;
		if (word_is(w, n, "prefilled"))
			opt.prefilled = true;
		else if (word_is(w, n, "nodev"))
			opt.nodev = true;
		else if (word_is(w, n, "no-migrate"))
			opt.no_migrate = true;
	}
	if (!opt.region || opt.region > MAX_REGION)
		opt.region = 64;
}

static void setup_fail(const char *why)
{
	printf("LMG RESULT FAIL reason=%s\n", why);
	guest_exit(EXIT_SETUP);
}

static u32 bar_size(u32 bdf, u32 off, u32 raw)
{
	u32 size;

	pci_write32(bdf, off, ~0u);
	size = ~(pci_read32(bdf, off) & ~0xfu) + 1;
	pci_write32(bdf, off, raw);
	return size;
}

static void find_device(void)
{
	u32 bdf, bus, dev, raw0, raw2, size2;
	u16 cmd;
	int n = 0;

	for (bus = 0, bdf = ~0u; bus < 256 && bdf == ~0u; bus++)
		for (dev = 0; dev < 32; dev++) {
			u32 b = PCI_BDF(bus, dev, 0);

			if (pci_read32(b, PCI_VENDOR_ID) ==
			    ((u32)BOCHS_DEVICE << 16 | BOCHS_VENDOR) &&
			    pci_read32(b, PCI_CLASS_REV) >> 8 == BOCHS_CLASS) {
				bdf = b;
				n++;
				break;
			}
		}
	if (bdf == ~0u)
		setup_fail("no bochs-display (1234:1111 class 0x0380) found");
	cmd = pci_read16(bdf, PCI_COMMAND);
	pci_write16(bdf, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	raw0 = pci_read32(bdf, PCI_BAR0);
	raw2 = pci_read32(bdf, PCI_BAR2);
	vram_size = bar_size(bdf, PCI_BAR0, raw0);
	size2 = bar_size(bdf, PCI_BAR2, raw2);
	vram = raw0 & ~0xfu;
	mmio = raw2 & ~0xfu;
	pci_write16(bdf, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY |
		    PCI_COMMAND_INTX_DISABLE);
	printf("LMG BOCHS bdf=%02x:%02x.%u vram=0x%08x vram_size=0x%x mmio=0x%08x mmio_size=0x%x\n",
	       PCI_BUS(bdf), PCI_DEV(bdf), PCI_FN(bdf), vram, vram_size, mmio,
	       size2);
	if ((raw0 & 1) || (raw2 & 1) || !vram || !mmio || vram_size < (1u << 22) ||
	    size2 < PAGE)
		setup_fail("BARs not assigned as memory by the firmware");
	if (vbe_rd(VBE_ID) != VBE_ID5)
		setup_fail("VBE ID register does not read 0xb0c5");
	if (vbe_rd(VBE_VIDEO_MEMORY_64K) != vram_size >> 16)
		setup_fail("VIDEO_MEMORY_64K does not match BAR0");
}

/* A 1024x768x32 mode on a taller virtual screen, big-endian framebuffer. */
static void setup_device(void)
{
	static const u16 mode[VBE_NREGS] = {
		[VBE_XRES] = 1024, [VBE_YRES] = 768, [VBE_BPP] = 32,
		[VBE_BANK] = 2, [VBE_VIRT_WIDTH] = 1024,
		[VBE_VIRT_HEIGHT] = 800, [VBE_X_OFFSET] = 0,
		[VBE_Y_OFFSET] = 0, [VBE_ENABLE] = 0x41,
	};
	u32 i, off, end;

	vbe_wr(VBE_ENABLE, 0);
	mmio_write32(mmio + QEXT_BYTEORDER, BIG_ENDIAN_FB);
	for (i = VBE_XRES; i < VBE_NREGS; i++) {
		if (i == VBE_ENABLE)
			continue;
		vbe_wr(i, mode[i]);
		regs[i] = mode[i];
	}
	vbe_wr(VBE_ENABLE, mode[VBE_ENABLE]);
	regs[VBE_ENABLE] = mode[VBE_ENABLE];

	if (opt.prefilled)
		return;
	end = opt.region * PAGE + fill_bytes();
	for (off = opt.region * PAGE; off < end; off += 4)
		mmio_write32(vram + off, static_word(off));
	for (; off < vram_size; off += 4)
		mmio_write32(vram + off, 0);
	printf("LMG FILLED static=%u KiB zero=%u KiB\n", (end / 1024) -
	       opt.region * 4, (vram_size - end) / 1024);
}

static void print_state(const char *when, u32 round, u32 seq)
{
	if (opt.nodev) {
		printf("LMG STATE when=%s round=%u seq=%u nodev\n", when,
		       round, seq);
		return;
	}
	printf("LMG STATE when=%s round=%u seq=%u xres=%u yres=%u bpp=%u enable=0x%x bank=%u vw=%u vh=%u xoff=%u yoff=%u byteorder=0x%08x\n",
	       when, round, seq, vbe_rd(VBE_XRES), vbe_rd(VBE_YRES),
	       vbe_rd(VBE_BPP), vbe_rd(VBE_ENABLE), vbe_rd(VBE_BANK),
	       vbe_rd(VBE_VIRT_WIDTH), vbe_rd(VBE_VIRT_HEIGHT),
	       vbe_rd(VBE_X_OFFSET), vbe_rd(VBE_Y_OFFSET),
	       mmio_read32(mmio + QEXT_BYTEORDER));
}

static void check_registers(void)
{
	static const char *const names[VBE_NREGS] = {
		"id", "xres", "yres", "bpp", "enable", "bank", "virt_width",
		"virt_height", "x_offset", "y_offset",
	};
	u32 i, got;

	if (opt.nodev)
		return;
	for (i = VBE_XRES; i < VBE_NREGS; i++) {
		got = vbe_rd(i);
		checks++;
		if (got == regs[i])
			continue;
		/* A write in flight when the VM stopped may have landed. */
		if (i == VBE_Y_OFFSET && reg_pending != NO_PENDING &&
		    got == reg_pending)
			continue;
		fail(names[i], i, got, regs[i]);
	}
	checks += 3;
	if (vbe_rd(VBE_ID) != VBE_ID5)
		fail("id", 0, vbe_rd(VBE_ID), VBE_ID5);
	if (vbe_rd(VBE_VIDEO_MEMORY_64K) != vram_size >> 16)
		fail("video_memory_64k", 0xa, vbe_rd(VBE_VIDEO_MEMORY_64K),
		     vram_size >> 16);
	if (mmio_read32(mmio + QEXT_BYTEORDER) != BIG_ENDIAN_FB)
		fail("byteorder", QEXT_BYTEORDER,
		     mmio_read32(mmio + QEXT_BYTEORDER), BIG_ENDIAN_FB);
}

static void check_region(void)
{
	u32 pg, i, got, want, alt;
	bool torn_ok;

	for (pg = 0; pg < opt.region; pg++) {
		volatile u32 *p = (volatile u32 *)(region_base() + pg * PAGE);

		/* The page being written when the VM stopped may be torn. */
		torn_ok = pg == cur_pg && cur_seq != done_seq[pg];
		for (i = 0; i < WORDS; i++) {
			got = p[i];
			want = region_word(done_seq[pg], pg, i);
			alt = region_word(cur_seq, pg, i);
			checks++;
			if (got != want && !(torn_ok && got == alt))
				fail("region", pg * PAGE + i * 4, got, want);
		}
	}
}

static void check_static(void)
{
	u32 off, end, got;

	if (opt.nodev || opt.prefilled)
		return;
	end = opt.region * PAGE + fill_bytes();
	for (off = opt.region * PAGE; off < end; off += 4) {
		got = mmio_read32(vram + off);
		if (got != static_word(off))
			fail("static", off, got, static_word(off));
	}
	for (; off < vram_size; off += 4) {
		got = mmio_read32(vram + off);
		if (got)
			fail("zero", off, got, 0);
	}
	checks += (vram_size - opt.region * PAGE) / 4;
}

/* Rewrite the region until the harness speaks; returns its byte. */
static int run(u32 round, u32 *seqp)
{
	u64 t0 = now_ms(), last = t0, t;
	u32 seq = *seqp, pg, passes = 0;
	int c = -1;

	printf("LMG MIGRATE-NOW round=%u\n", round);
	for (;;) {
		for (pg = 0; pg < opt.region; pg++) {
			write_page(pg, seq);
			if (!(pg & 7)) {
				c = serial_getc_nowait();
				if (c == 'E' || c == 'N' || c == 'X')
					goto out;
				if (c == 'S')
					stall_report();
			}
		}
		set_yoff(seq % 32);
		seq++;
		passes++;
		t = now_ms();
		if (t - last >= 1000) {
			last = t;
			printf("LMG TICK round=%u t=%u seq=%u passes=%u\n", round,
			       (u32)(t - t0), seq, passes);
		}
		if (t - t0 > (u64)opt.timeout_s * 1000) {
			printf("LMG RESULT FAIL reason=timeout waiting for the harness (%u s)\n",
			       opt.timeout_s);
			guest_exit(EXIT_TIMEOUT);
		}
	}
out:
	*seqp = seq + 1;
	printf("LMG RESUMED round=%u byte=%c seq=%u passes=%u cur_pg=%u\n",
	       round, c, seq, passes, cur_pg);
	return c;
}

void __attribute__((noreturn)) payload_main(u32 magic, struct mb_info *mbi)
{
	const char *cmdline = mb_cmdline(magic, mbi);
	u32 round = 1, seq = 1, pg;
	int c;

	serial_init();
	parse_cmdline(cmdline);
	timer_init();
	printf("\nLMG BOOT mode=bochs%s region=%u timeout=%u clock=%s cmdline=\"%s\"\n",
	       opt.nodev ? "-nodev" : "", opt.region, opt.timeout_s,
	       timer_source(), cmdline);
	if (opt.nodev) {
		vram_size = opt.region * PAGE;
	} else {
		find_device();
		if (opt.region * PAGE > vram_size / 2)
			setup_fail("region larger than half of VRAM");
		setup_device();
	}
	for (pg = 0; pg < opt.region; pg++)
		write_page(pg, 0);

	for (;;) {
		print_state("before", round, seq);
		if (opt.no_migrate) {
			c = 'E';
		} else {
			c = run(round, &seq);
			if (c == 'X') {
				printf("LMG RESULT FAIL reason=harness abort\n");
				guest_exit(EXIT_FAIL);
			}
		}
		print_state("after", round, seq);
		check_registers();
		check_region();
		check_static();
		printf("LMG ROUND-DONE round=%u failures=%u checks=%u\n", round,
		       failures, checks);
		if (c != 'N')
			break;
		round++;
	}
	if (failures) {
		printf("LMG RESULT FAIL failures=%u checks=%u\n", failures,
		       checks);
		guest_exit(EXIT_FAIL);
	}
	printf("LMG RESULT PASS checks=%u\n", checks);
	guest_exit(EXIT_PASS);
}
