// SPDX-License-Identifier: GPL-2.0
/*
 * Bare-metal live-migration test payload for QEMU's edu device.
 *
 * Booted by QEMU's multiboot loader (-kernel payload.elf) in a nested VM
 * whose edu is either emulated (-device edu) or assigned through VFIO
 * (-device vfio-pci,host=...).  It puts known state into the device,
 * asks the harness to migrate the VM, keeps checking the device while the
 * migration runs, and once the harness says the migration is over checks
 * every register against what it wrote, uses the device again and exits
 * through isa-debug-exit.
 *
 * Protocol with the harness (scripts/e2e-migrate), on COM1:
 *
 *   payload -> harness, one line each, all starting with "LMG ":
 *     LMG BOOT ...                   the payload runs
 *     LMG EDU bdf=.. bar0=..         the device it drives
 *     LMG STATE when=before ...      registers before migration
 *     LMG MIGRATE-NOW round=N        state is in place: migrate now
 *     LMG TICK ... dma_writes=N      heartbeat while waiting, about 1/s
 *                                    (N: dma-pages transfers so far)
 *     LMG RESUMED round=N byte=C     the harness said the migration ended
 *     LMG MEMSEQ round=N seq=S ...   CPU-written memory checked against a
 *                                    register-held count: see "Memory the
 *                                    CPU writes" below (stale=0: none lost)
 *     LMG STATE when=after ...       registers as found afterwards
 *     LMG DMAPAGES verified ...      dma-pages: pages checked, how many bad
 *     LMG CHECK-FAIL ...             one line per mismatch
 *     LMG RESULT PASS|FAIL ...       the verdict, then
 *     LMG EXIT code=N                and the isa-debug-exit write
 *
 *   harness -> payload, one byte, sent to the serial port of whichever
 *   QEMU now runs the VM (the destination after a migration, the source
 *   after a failed one):
 *     'N'  migration over: verify, use the device, then set up new state
 *          for round N+1 and print MIGRATE-NOW again (back and forth)
 *     'E'  migration over: verify, use the device, report, exit
 *     'X'  abort: exit with a failure
 *
 * Serial input is the one signal that does not depend on the state being
 * migrated: the UART's receive path is fed by the QEMU that runs the VM
 * right now, so a byte can only arrive where the harness sent it.
 *
 * Command line (-append), space separated:
 *   (default)        edu->RAM DMA only; the internal buffer is never
 *                    written from RAM, so the driver can save the device
 *   fill-dma-buffer  first fill the internal buffer by RAM->edu DMA: the
 *                    driver must refuse to save the device, so migration
 *                    fails and the payload verifies on the source
 *   loop             keep the device busy (liveness, factorials, DMA with
 *                    interrupts) during the migration instead of reading
 *   no-migrate       set up, verify and exercise, exit (smoke test)
 *   keep-filled      with fill-dma-buffer: do not zero the buffer at the
 *                    end (to leave a dirty device behind, for tests)
 *   zero-dma-buffer  only make edu's DMA buffer all zeroes (RAM->edu DMA
 *                    if it is not) and exit: run before the migration
 *                    tests on each device, since earlier tests may have
 *                    left data there that no migration can carry
 *   dma-pages        while waiting for the harness, keep having the device
 *                    DMA (edu->RAM) over pages the CPU has just refilled,
 *                    and after the migration check that every page holds
 *                    the last data: see "DMA into guest pages" below
 *   timeout=S        give up waiting for the harness after S seconds
 *   seed=S           draw the register values of each round from S
 *                    (the harness passes one per VM and logs it)
 *   bochs            the VM also has a bochs-display (1234:1111): each
 *                    round fills the first 64 KiB of its VRAM with words
 *                    drawn from the seed and the round, and checks every
 *                    one after the migration ("LMG BOCHS when=... bad=N")
 *   msi              point edu's MSI at a vector of this CPU's local APIC
 *                    and, before and after each migration, raise an edu
 *                    interrupt with interrupts on: it must arrive, once,
 *                    as that vector ("LMG MSI when=... received=N")
 *   edus=2           the VM has two edus (the first two in bus order):
 *                    each round puts state of its own into each (values
 *                    drawn from the seed, the round and the device, so a
 *                    state restored into the wrong device shows), checks
 *                    both while waiting and after the migration, and
 *                    exercises both.  The second one's lines say
 *                    "LMG EDU2 ..." and "LMG STATE-EDU2 ..."; the modes
 *                    above (fill, loop, dma-pages, msi) use the first
 *
 * Interrupts stay disabled on the CPU: interrupt status is polled at
 * 0x24 and acked at 0x64, INTx is disabled in the command register and
 * MSI is left off, except with "msi" (the 8259s masked, the local APIC
 * on, interrupts enabled only while an MSI is awaited).  Exit codes are
 * listed in lib.h.
 */
#include "lib.h"
#include "edu.h"

/* What the device must hold, kept in guest RAM: it migrates with the VM. */
struct edu_shadow {
	u32 live;		/* expected read of 0x04 (~written) */
	u32 fact;
	u32 status;
	u32 irq;
	u32 dma_src;
	u32 dma_dst;
	u32 dma_cnt;
	u32 dma_cmd;
	u16 pci_cmd;
	u32 bar0;
};

enum mode { MODE_DEFAULT, MODE_FILL, MODE_LOOP, MODE_DMA_PAGES };

static struct {
	enum mode mode;
	bool no_migrate;
	bool zero_only;
	bool keep_filled;
	u32 timeout_s;
	u32 seed;
	bool msi;
	bool bochs;
	u32 edus;
} opt = { MODE_DEFAULT, false, false, false, 900, 0, false, false, 1 };

static u32 edu_bdf;
static u32 bar0;
static struct edu_shadow sh;
static u32 failures, checks, printed_fails;
static bool dma_buf_clean;

/* DMA targets and sources; identity-mapped, well below edu's 2^28 mask. */
static u8 edu_buf_seen[EDU_DMA_BUF_SIZE] __attribute__((aligned(4096)));
static u8 ram_dst[3 * 4096] __attribute__((aligned(4096)));
static u8 ram_src[EDU_DMA_BUF_SIZE] __attribute__((aligned(4096)));

#define RAM_FILL		0xa5	/* what RAM holds where DMA must land */
#define RAM_DST_OFF		4096	/* guard page below and above */

/*
 * With edus=2 the globals above describe the edu in use (cur_edu); the
 * other one's are parked here.  use_edu() swaps them, so that every
 * helper below works on whichever device is in use.
 */
#define MAX_EDUS		2

static struct edu_ctx {
	u32 bdf;
	u32 bar0;
	struct edu_shadow sh;
	bool clean;
	u8 seen[EDU_DMA_BUF_SIZE];
} edu_parked[MAX_EDUS];
static u32 cur_edu;

static void use_edu(u32 i)
{
	struct edu_ctx *out = &edu_parked[cur_edu], *in = &edu_parked[i];

	if (i == cur_edu)
		return;
	out->bdf = edu_bdf;
	out->bar0 = bar0;
	out->sh = sh;
	out->clean = dma_buf_clean;
	memcpy(out->seen, edu_buf_seen, sizeof(edu_buf_seen));
	edu_bdf = in->bdf;
	bar0 = in->bar0;
	sh = in->sh;
	dma_buf_clean = in->clean;
	memcpy(edu_buf_seen, in->seen, sizeof(edu_buf_seen));
	cur_edu = i;
}

/* Names the second edu in the lines about it: "" for the first. */
static const char *edu_tag(void)
{
	return cur_edu ? "-EDU2" : "";
}

static const char *edu_who(void)
{
	return cur_edu ? "edu2 " : "";
}

static const char *mode_name(void)
{
	if (opt.zero_only)
		return "zero-dma-buffer";
	if (opt.no_migrate)
		return "no-migrate";
	switch (opt.mode) {
	case MODE_FILL:
		return "fill-dma-buffer";
	case MODE_LOOP:
		return "loop";
	case MODE_DMA_PAGES:
		return "dma-pages";
	default:
		return "default";
	}
}

/* --- device access ----------------------------------------------------- */

static u32 rd(u32 off)
{
	return mmio_read32(bar0 + off);
}

static void wr(u32 off, u32 v)
{
	mmio_write32(bar0 + off, v);
}

/* One 8-byte MMIO read (MMX movq): edu accepts 8 bytes from 0x80. */
static u64 rd64(u32 off)
{
	u64 v;

	asm volatile("movq (%1), %%mm0\n\t"
		     "movq %%mm0, %0\n\t"
		     "emms"
		     : "=m"(v) : "r"(bar0 + off) : "memory");
	return v;
}

static void enable_mmx(void)
{
	u32 cr0;

	asm volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 &= ~((1u << 2) | (1u << 3));	/* EM, TS */
	cr0 |= 1u << 1;				/* MP */
	asm volatile("mov %0, %%cr0" : : "r"(cr0));
}

static void fail(const char *what, u32 got, u32 want)
{
	failures++;
	if (printed_fails++ < 64)
		printf("LMG CHECK-FAIL %s%s got=0x%08x want=0x%08x\n",
		       edu_who(), what, got, want);
}

static bool expect(const char *what, u32 got, u32 want)
{
	checks++;
	if (got == want)
		return true;
	fail(what, got, want);
	return false;
}

static bool expect64(const char *what, u64 got, u64 want)
{
	checks++;
	if (got == want)
		return true;
	failures++;
	if (printed_fails++ < 64)
		printf("LMG CHECK-FAIL %s%s got=0x%016llx want=0x%016llx\n",
		       edu_who(), what, got, want);
	return false;
}

static u32 factorial(u32 n)
{
	u32 r = 1;

	while (n)
		r *= n--;
	return r;
}

/* Poll until (reg & mask) == want, for at most @ms of guest time. */
static bool poll_reg(u32 off, u32 mask, u32 want, u32 ms)
{
	u64 t0 = now_ms();

	for (;;) {
		if ((rd(off) & mask) == want)
			return true;
		if (now_ms() - t0 > ms)
			return (rd(off) & mask) == want;
		cpu_relax();
	}
}

/* --- operations that change device state and its shadow ---------------- */

static void irq_ack(u32 bits)
{
	wr(EDU_IRQ_ACK, bits);
	sh.irq &= ~bits;
	expect("irq_status after ack", rd(EDU_IRQ_STATUS), sh.irq);
}

static void irq_raise(u32 bits)
{
	wr(EDU_IRQ_RAISE, bits);
	sh.irq |= bits;
	expect("irq_status after raise", rd(EDU_IRQ_STATUS), sh.irq);
}

static void set_irqfact(bool on)
{
	wr(EDU_STATUS, on ? EDU_STATUS_IRQFACT : 0);
	sh.status = on ? EDU_STATUS_IRQFACT : 0;
	expect("status after write", rd(EDU_STATUS), sh.status);
}

static void set_liveness(u32 v)
{
	wr(EDU_LIVENESS, v);
	sh.live = ~v;
	expect("liveness", rd(EDU_LIVENESS), sh.live);
}

static void do_factorial(u32 n)
{
	wr(EDU_FACT, n);
	if (!poll_reg(EDU_STATUS, EDU_STATUS_COMPUTING, 0, 5000))
		fail("factorial still computing after 5 s", rd(EDU_STATUS), 0);
	sh.fact = factorial(n);
	expect("factorial", rd(EDU_FACT), sh.fact);
	if (sh.status & EDU_STATUS_IRQFACT) {
		/*
		 * edu clears COMPUTING before it raises the interrupt (under
		 * the BQL, from its worker thread): give the bit a moment.
		 */
		sh.irq |= EDU_IRQ_FACT;
		if (!poll_reg(EDU_IRQ_STATUS, EDU_IRQ_FACT, EDU_IRQ_FACT, 2000))
			fail("factorial irq not raised", rd(EDU_IRQ_STATUS),
			     sh.irq);
	}
	expect("status after factorial", rd(EDU_STATUS), sh.status);
}

/* Start a DMA, wait for it; returns false when it did not complete. */
static bool do_dma(u32 src, u32 dst, u32 cnt, u32 cmd)
{
	u32 dev = cmd & EDU_DMA_TO_RAM ? src : dst;

	/*
	 * edu only logs an out-of-range transfer and then copies anyway,
	 * past its 4 KiB buffer inside QEMU: never ask for one.
	 */
	if (dev < EDU_DMA_BUF || cnt > EDU_DMA_BUF_SIZE ||
	    dev - EDU_DMA_BUF > EDU_DMA_BUF_SIZE - cnt) {
		printf("LMG RESULT FAIL reason=payload bug: dma 0x%x+0x%x outside the edu buffer\n",
		       dev, cnt);
		guest_exit(EXIT_SETUP);
	}
	wr(EDU_DMA_SRC, src);
	wr(EDU_DMA_DST, dst);
	wr(EDU_DMA_CNT, cnt);
	wr(EDU_DMA_CMD, cmd | EDU_DMA_RUN);
	sh.dma_src = src;
	sh.dma_dst = dst;
	sh.dma_cnt = cnt;
	/* edu runs the transfer 100 ms (virtual) after the doorbell. */
	if (!poll_reg(EDU_DMA_CMD, EDU_DMA_RUN, 0, 10000)) {
		fail("dma did not complete in 10 s", rd(EDU_DMA_CMD), cmd);
		sh.dma_cmd = rd(EDU_DMA_CMD);
		return false;
	}
	sh.dma_cmd = cmd & ~EDU_DMA_RUN;
	if (cmd & EDU_DMA_IRQ) {
		sh.irq |= EDU_IRQ_DMA;
		if (!poll_reg(EDU_IRQ_STATUS, EDU_IRQ_DMA, EDU_IRQ_DMA, 2000))
			fail("dma irq not raised", rd(EDU_IRQ_STATUS), sh.irq);
	}
	expect("dma cmd after completion", rd(EDU_DMA_CMD), sh.dma_cmd);
	return true;
}

/*
 * edu buffer [off, off + cnt) -> RAM, into a pre-filled window with guard
 * bytes on both sides, then compare with what the buffer is known to hold.
 */
static void dma_to_ram_checked(u32 off, u32 dst_off, u32 cnt, bool irq)
{
	u8 *dst = ram_dst + RAM_DST_OFF + dst_off;
	u32 i, bad = 0, first = 0;

	memset(ram_dst, RAM_FILL, sizeof(ram_dst));
	barrier();
	if (!do_dma(EDU_DMA_BUF + off, (u32)dst, cnt,
		    EDU_DMA_TO_RAM | (irq ? EDU_DMA_IRQ : 0)))
		return;
	barrier();
	for (i = 0; i < cnt; i++) {
		if (((volatile u8 *)dst)[i] != edu_buf_seen[off + i] && !bad++)
			first = i;
	}
	checks++;
	if (bad) {
		failures++;
		printf("LMG CHECK-FAIL dma edu->ram %u of %u bytes differ, first at +%u: got 0x%02x want 0x%02x\n",
		       bad, cnt, first, dst[first], edu_buf_seen[off + first]);
	}
	checks++;
	if (ram_dst[RAM_DST_OFF + dst_off - 1] != RAM_FILL ||
	    dst[cnt] != RAM_FILL) {
		failures++;
		printf("LMG CHECK-FAIL dma edu->ram wrote outside [dst, dst+%u)\n",
		       cnt);
	}
}

/* RAM -> edu buffer: after this the driver must refuse to save the device. */
static void dma_from_ram(const u8 *src, u32 off, u32 cnt)
{
	do_dma((u32)src, EDU_DMA_BUF + off, cnt, EDU_DMA_IRQ);
	irq_ack(EDU_IRQ_DMA);
}

/* Read the whole edu buffer into edu_buf_seen (as found, unchecked). */
static void learn_dma_buffer(void)
{
	u32 i;

	memset(edu_buf_seen, RAM_FILL, sizeof(edu_buf_seen));
	barrier();
	do_dma(EDU_DMA_BUF, (u32)edu_buf_seen, EDU_DMA_BUF_SIZE,
	       EDU_DMA_TO_RAM);
	barrier();
	dma_buf_clean = true;
	for (i = 0; i < EDU_DMA_BUF_SIZE; i++)
		if (((volatile u8 *)edu_buf_seen)[i]) {
			dma_buf_clean = false;
			break;
		}
}

/* --- whole-device checks ----------------------------------------------- */

static void print_state(const char *when, u32 round)
{
	printf("LMG STATE%s when=%s round=%u id=0x%08x live=0x%08x fact=0x%08x status=0x%08x irq=0x%08x dma_src=0x%08x dma_dst=0x%08x dma_cnt=0x%08x dma_cmd=0x%08x pci_cmd=0x%04x bar0=0x%08x\n",
	       edu_tag(), when, round, rd(EDU_ID), rd(EDU_LIVENESS),
	       rd(EDU_FACT),
	       rd(EDU_STATUS), rd(EDU_IRQ_STATUS), rd(EDU_DMA_SRC),
	       rd(EDU_DMA_DST), rd(EDU_DMA_CNT), rd(EDU_DMA_CMD),
	       pci_read16(edu_bdf, PCI_COMMAND),
	       pci_read32(edu_bdf, PCI_BAR0));
}

/*
 * Compare every register with the shadow.  @quiet: the invariant loop,
 * which counts mismatches without a line per read.
 */
static u32 check_registers(bool quiet)
{
	struct { const char *name; u32 off; u32 want; } regs[] = {
		{ "id", EDU_ID, EDU_ID_VALUE },
		{ "liveness", EDU_LIVENESS, sh.live },
		{ "factorial", EDU_FACT, sh.fact },
		{ "status", EDU_STATUS, sh.status },
		{ "irq_status", EDU_IRQ_STATUS, sh.irq },
		{ "dma_src", EDU_DMA_SRC, sh.dma_src },
		{ "dma_dst", EDU_DMA_DST, sh.dma_dst },
		{ "dma_cnt", EDU_DMA_CNT, sh.dma_cnt },
		{ "dma_cmd", EDU_DMA_CMD, sh.dma_cmd },
	};
	u32 i, bad = 0;

	for (i = 0; i < ARRAY_SIZE(regs); i++) {
		u32 got = rd(regs[i].off);

		if (quiet) {
			bad += got != regs[i].want;
			if (got != regs[i].want && printed_fails++ < 64)
				printf("LMG INVARIANT-FAIL %s%s got=0x%08x want=0x%08x\n",
				       edu_who(), regs[i].name, got,
				       regs[i].want);
		} else if (!expect(regs[i].name, got, regs[i].want)) {
			bad++;
		}
	}
	if (quiet)
		return bad;

	/* The same DMA registers as single 8-byte accesses. */
	bad += !expect64("dma_src (8-byte)", rd64(EDU_DMA_SRC), sh.dma_src);
	bad += !expect64("dma_dst (8-byte)", rd64(EDU_DMA_DST), sh.dma_dst);
	bad += !expect64("dma_cnt (8-byte)", rd64(EDU_DMA_CNT), sh.dma_cnt);
	bad += !expect64("dma_cmd (8-byte)", rd64(EDU_DMA_CMD), sh.dma_cmd);

	/* Configuration space, restored by QEMU, not by the driver. */
	bad += !expect("pci id", pci_read32(edu_bdf, PCI_VENDOR_ID),
		       (u32)EDU_DEVICE << 16 | EDU_VENDOR);
	bad += !expect("pci command", pci_read16(edu_bdf, PCI_COMMAND) &
		       (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			PCI_COMMAND_INTX_DISABLE), sh.pci_cmd);
	bad += !expect("pci bar0", pci_read32(edu_bdf, PCI_BAR0), sh.bar0);
	return bad;
}

/* --- MSI (option msi) --------------------------------------------------- */

#define LAPIC_ID	0x20
#define LAPIC_SVR	0xf0
#define MSI_TEST_BIT	0x00000200u	/* an interrupt status bit nobody else raises */
#define MSI_WAIT_MS	2000


/* Mask the 8259s, turn the local APIC on, point edu's MSI at MSI_VECTOR. */
static void msi_setup(void)
{
	u32 pos = pci_read8(edu_bdf, 0x34) & 0xfc, apic, ctl;
	int n;

	for (n = 0; pos && n < 48; n++) {
		if (pci_read8(edu_bdf, pos) == 0x05)
			break;
		pos = pci_read8(edu_bdf, pos + 1) & 0xfc;
	}
	if (!pos || n == 48) {
		printf("LMG RESULT FAIL reason=edu has no MSI capability\n");
		guest_exit(EXIT_SETUP);
	}
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x100 | 0xff);
	apic = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
	ctl = pci_read32(edu_bdf, pos) >> 16;
	pci_write32(edu_bdf, pos + 4, LAPIC_BASE | apic << 12);
	if (ctl & 0x80) {			/* 64-bit address */
		pci_write32(edu_bdf, pos + 8, 0);
		pci_write16(edu_bdf, pos + 12, MSI_VECTOR);
	} else {
		pci_write16(edu_bdf, pos + 8, MSI_VECTOR);
	}
	pci_write16(edu_bdf, pos + 2, (ctl & ~0x70u) | 1);
	printf("LMG MSI setup cap=0x%x apic=%u vector=0x%x\n", pos, apic,
	       MSI_VECTOR);
}

/*
 * Raise an edu interrupt and take interrupts for a while: the MSI must
 * arrive, and nothing else.  Interrupts raised before (DMA, factorial)
 * are taken first, so that only this one is counted.
 */
static void msi_check(const char *when)
{
	u32 before, got;
	u64 t0;

	asm volatile("sti; nop; nop; cli" ::: "memory");
	before = msi_count;
	stray_count = 0;
	irq_raise(MSI_TEST_BIT);
	t0 = now_ms();
	asm volatile("sti" ::: "memory");
	while (msi_count == before && now_ms() - t0 < MSI_WAIT_MS)
		cpu_relax();
	asm volatile("cli" ::: "memory");
	got = msi_count - before;
	printf("LMG MSI when=%s received=%u stray=%u\n", when, got,
	       stray_count);
	expect("MSI delivered", got, 1);
	expect("stray interrupts", stray_count, 0);
	irq_ack(MSI_TEST_BIT);
}

/* --- a bochs-display beside the edu (option bochs) ---------------------- */

#define BOCHS_DEVICE		0x1111
#define BOCHS_CHECK_WORDS	(64 * 1024 / 4)

static u32 bochs_bdf, bochs_vram;

static void bochs_find(void)
{
	int n, bdf = pci_find(EDU_VENDOR, BOCHS_DEVICE, &n);
	u16 cmd;

	if (bdf < 0) {
		printf("LMG RESULT FAIL reason=no bochs-display (1234:1111) found\n");
		guest_exit(EXIT_SETUP);
	}
	bochs_bdf = bdf;
	bochs_vram = pci_read32(bochs_bdf, PCI_BAR0) & ~0xfu;
	cmd = pci_read16(bochs_bdf, PCI_COMMAND);
	pci_write16(bochs_bdf, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
	printf("LMG BOCHS bdf=%02x:%02x.%u vram=0x%08x\n", PCI_BUS(bdf),
	       PCI_DEV(bdf), PCI_FN(bdf), bochs_vram);
	if (!bochs_vram) {
		printf("LMG RESULT FAIL reason=bochs-display VRAM BAR not assigned\n");
		guest_exit(EXIT_SETUP);
	}
}

static u32 bochs_word(u32 round, u32 i)
{
	u32 x = (opt.seed ^ 0xb0c5b0c5u) + round * 0x9e3779b9u + i * 0x85ebca6bu;

	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	return x;
}

static void bochs_fill(u32 round)
{
	u32 i;

	for (i = 0; i < BOCHS_CHECK_WORDS; i++)
		mmio_write32(bochs_vram + 4 * i, bochs_word(round, i));
}

static void bochs_verify(const char *when, u32 round)
{
	u32 i, bad = 0, first = 0;

	for (i = 0; i < BOCHS_CHECK_WORDS; i++)
		if (mmio_read32(bochs_vram + 4 * i) != bochs_word(round, i) &&
		    !bad++)
			first = i;
	printf("LMG BOCHS when=%s round=%u words=%u bad=%u first_bad=%u\n",
	       when, round, BOCHS_CHECK_WORDS, bad, first);
	expect("bochs-display VRAM words wrong", bad, 0);
}

/* --- the scenario --------------------------------------------------------- */

/* xorshift32 over the seed=S argument and the round: the values below. */
static u32 rnd_state;

static u32 rnd(void)
{
	u32 x = rnd_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rnd_state = x;
}

/*
 * Put round-specific state into every register the driver must carry:
 * liveness, a finished factorial, IRQFACT, a finished edu->RAM DMA (with
 * or without its interrupt) and interrupt status bits left pending on
 * purpose, raised through 0x60.  Without seed=S (or S = 0) the values
 * are fixed per round; with it, drawn from S and the round (the harness
 * logs S), so every variant carries other values.  The second edu's
 * values are drawn apart from the first's: fixed ones differ in every
 * register, seeded ones come from another stream.
 */
static void setup_state(u32 round)
{
	bool odd = (round + cur_edu) & 1;
	u32 live = 0x5eed0000 | cur_edu << 12 | round * 0x101;
	u32 k = 10 + round + 2 * cur_edu;
	u32 off = (round * 0x100 + cur_edu * 0x80) % 0xc00;
	u32 dst = round * 0x40 + cur_edu * 0x20;
	u32 cnt = 0x200 + round * 0x10 + cur_edu * 8;
	u32 irq = 0x5a000000 | round << 16 | cur_edu << 23;
	bool irqfact = odd, dmairq = odd;

	if (opt.seed) {
		rnd_state = (opt.seed + cur_edu * 0x632be5abu) ^
			    (round * 0x9e3779b9u) ?: 1;
		live = rnd();
		k = 5 + rnd() % 13;
		off = rnd() % 0xc00;
		cnt = 1 + rnd() % 0x400;	/* off + cnt <= the 4 KiB buffer */
		dst = rnd() % 0x400;
		irq = rnd() & 0xfffe0000;	/* clear of the FACT/DMA bits */
		irqfact = rnd() & 1;
		dmairq = rnd() & 1;
	}
	printf("LMG SETUP%s round=%u seed=%u live=0x%08x k=%u dma=%u+%u->%u irq=0x%08x\n",
	       edu_tag(), round, opt.seed, live, k, off, cnt, dst, irq);
	irq_ack(~0u);
	set_irqfact(irqfact);
	set_liveness(live);
	do_factorial(k);
	dma_to_ram_checked(off, dst, cnt, dmairq);
	irq_raise(irq);
	check_registers(false);
}

/* After migration: a new liveness, factorials, a full-buffer DMA. */
static void exercise(u32 round)
{
	printf("LMG EXERCISE%s round=%u\n", edu_tag(), round);
	irq_ack(~0u);
	set_liveness(0xc0ffee00 | round);
	set_irqfact(true);
	do_factorial(5);
	irq_ack(EDU_IRQ_FACT);
	do_factorial(13);
	irq_ack(EDU_IRQ_FACT);
	set_irqfact(false);
	do_factorial(8);
	dma_to_ram_checked(0, 0, EDU_DMA_BUF_SIZE, true);
	irq_ack(EDU_IRQ_DMA);
	check_registers(false);
}

/* One round of keeping the device busy (mode loop). */
static void busy_iteration(u32 i)
{
	u32 off = (i * 64) % EDU_DMA_BUF_SIZE;

	expect("id", rd(EDU_ID), EDU_ID_VALUE);
	set_liveness(0x10000000 + i);
	do_factorial(1 + i % 12);
	if (sh.status & EDU_STATUS_IRQFACT)
		irq_ack(EDU_IRQ_FACT);
	dma_to_ram_checked(off, off, 64, true);
	irq_ack(EDU_IRQ_DMA);
}

/* --- DMA into guest pages (mode dma-pages) ------------------------------ */

/*
 * Pages only the device's DMA logging can report.  Each iteration
 * refills one page with a new CPU pattern and then has edu DMA part of
 * its buffer over it (edu->RAM only: after a RAM->edu transfer the driver
 * refuses to save the device); every third transfer straddles into the
 * next page, whose CPU pattern is older.  QEMU sees the CPU writes in its
 * own dirty log, but the DMA lands behind its back, through the host's
 * IOMMU: a page QEMU sent between the refill and the DMA, and that the
 * CPU does not write again before the switchover, reaches the
 * destination with the DMA data only if the device reported the page.
 *
 * dp_want[] is what each page must hold, written by the CPU (so it
 * migrates like any RAM): the refill, then, once the DMA completed, the
 * bytes of the edu buffer the DMA copied (edu_buf_seen, all zeroes after
 * the harness's zero-dma-buffer).  The pattern has no zero byte.  Every
 * iteration first checks all pages, so that on the destination a stale
 * page is caught before the next refill could hide it; a wrong page is
 * reported once, then taken as it is.
 */
#define DP_PAGES		32	/* 7 * i % DP_PAGES visits each page */
#define DP_PAGE			4096u

static u8 dp_pages[DP_PAGES * DP_PAGE] __attribute__((aligned(4096)));
static u8 dp_want[DP_PAGES * DP_PAGE] __attribute__((aligned(4096)));
static struct {
	u32 gen;		/* generation of the last refill, 0: initial */
	u32 dma;		/* number of the last DMA into it, 0: none */
} dp_rec[DP_PAGES];
static u32 dp_dmas;		/* completed DMA transfers into dp_pages */
static u32 dp_bad_running;	/* pages found wrong before the final check */

static void dp_fill(u32 p, u32 gen)
{
	u32 *a = (u32 *)(dp_pages + p * DP_PAGE);
	u32 *b = (u32 *)(dp_want + p * DP_PAGE);
	u32 i, x = gen * 0x9e3779b1u ^ (p + 1) * 0x85ebca6bu;

	for (i = 0; i < DP_PAGE / 4; i++) {
		x = x * 1664525u + 1013904223u;
		a[i] = b[i] = x | 0x01010101u;
	}
	dp_rec[p].gen = gen;
}

/* How many bytes of page @p differ from dp_want; @first: the first one. */
static u32 dp_diff(u32 p, u32 *first)
{
	const volatile u32 *aw = (u32 *)(dp_pages + p * DP_PAGE);
	const u32 *bw = (u32 *)(dp_want + p * DP_PAGE);
	const volatile u8 *a = dp_pages + p * DP_PAGE;
	const u8 *b = dp_want + p * DP_PAGE;
	u32 i, n = 0;

	for (i = 0; i < DP_PAGE / 4; i++)
		if (aw[i] != bw[i])
			break;
	if (i == DP_PAGE / 4)
		return 0;
	for (i *= 4; i < DP_PAGE; i++)
		if (a[i] != b[i] && !n++)
			*first = i;
	return n;
}

/* One line per wrong page; returns whether @p holds what it must. */
static bool dp_check(u32 p, const char *when)
{
	u32 first = 0, n = dp_diff(p, &first);

	checks++;
	if (!n)
		return true;
	failures++;
	if (printed_fails++ < 64)
		printf("LMG CHECK-FAIL dma-pages %s: page %u at 0x%08x: %u bytes differ, first at +%u: got 0x%02x want 0x%02x (refill %u, last dma #%u of %u)\n",
		       when, p, (u32)(dp_pages + p * DP_PAGE), n, first,
		       dp_pages[p * DP_PAGE + first],
		       dp_want[p * DP_PAGE + first], dp_rec[p].gen,
		       dp_rec[p].dma, dp_dmas);
	return false;
}

static void dma_pages_init(void)
{
	u32 p;

	for (p = 0; p < DP_PAGES; p++)
		dp_fill(p, 0);
	printf("LMG DMAPAGES pages=%u at=0x%08x want=0x%08x buffer=%s\n",
	       DP_PAGES, (u32)dp_pages, (u32)dp_want,
	       dma_buf_clean ? "zero" : "not-zero");
}

static void dma_pages_iteration(u32 i)
{
	u32 p = i * 7 % DP_PAGES, len = 64 + i * 200 % 1984;
	u32 off, src, k, np = 1;

	if (i % 3 == 2) {
		/* Half in page p, half in the next one. */
		if (p == DP_PAGES - 1)
			p--;
		off = DP_PAGE - len / 2;
		np = 2;
	} else {
		off = i * 328 % (DP_PAGE - len + 1);
	}
	src = i * 40 % (EDU_DMA_BUF_SIZE - len + 1);

	for (k = 0; k < DP_PAGES; k++) {
		if (!dp_check(k, "before the next refill")) {
			dp_bad_running++;
			memcpy(dp_want + k * DP_PAGE, dp_pages + k * DP_PAGE,
			       DP_PAGE);
		}
	}
	dp_fill(p, i + 1);
	barrier();
	if (!do_dma(EDU_DMA_BUF + src, (u32)(dp_pages + p * DP_PAGE + off),
		    len, EDU_DMA_TO_RAM))
		return;
	barrier();
	dp_dmas++;
	memcpy(dp_want + p * DP_PAGE + off, edu_buf_seen + src, len);
	for (k = 0; k < np; k++) {
		dp_rec[p + k].dma = dp_dmas;
		if (!dp_check(p + k, "right after its dma")) {
			dp_bad_running++;
			memcpy(dp_want + (p + k) * DP_PAGE,
			       dp_pages + (p + k) * DP_PAGE, DP_PAGE);
		}
	}
}

/* After the migration: every page must hold its last data. */
static void dma_pages_verify(void)
{
	u32 p, bad = 0, dma = 0;

	for (p = 0; p < DP_PAGES; p++) {
		dma += dp_rec[p].dma != 0;
		bad += !dp_check(p, "after migration");
	}
	printf("LMG DMAPAGES verified pages=%u bad=%u last_written_by_dma=%u dma_writes=%u bad_while_running=%u\n",
	       DP_PAGES, bad, dma, dp_dmas, dp_bad_running);
}

/* --- Memory the CPU writes (every mode) --------------------------------- */

/*
 * While the payload waits for the harness, an assembly loop keeps one
 * count in a register (esi) and, for each of a few words spread over
 * static pages and the stack, checks that the word holds the count and
 * stores count + 1 into it, then increments the register.  Registers
 * migrate exactly with the vCPU; guest RAM only if QEMU sent every page
 * the CPU dirtied after its last pass.  A page that reaches the
 * destination stale holds an older count than the register, and the
 * loop's next check on the destination sees it before its store could
 * hide it (only a stop between one word's load and its store misses that
 * one word).  The stale word and any later one found stale are reported,
 * then all words are rewritten and the count goes on.  The loop leaves for C (device checks, ticks) every
 * few thousand rounds and when a byte waits in the UART; after the byte,
 * one more full pass checks every word.
 */
#define MS_PAGES		6
#define MS_WORDS		(MS_PAGES + 2)	/* + two on the stack */

static u8 ms_pages[MS_PAGES * 4096] __attribute__((aligned(4096)));
static u32 *ms_loc[MS_WORDS];
static u32 ms_seq;		/* the count between bursts */
static u32 ms_stale;		/* stale words seen this round */
static u32 ms_stale_total;

static void memseq_init(u32 *stack_words)
{
	u32 i;

	for (i = 0; i < MS_PAGES; i++)
		ms_loc[i] = (u32 *)(ms_pages + i * 4096 + (i * 1028) % 4096);
	ms_loc[MS_PAGES] = &stack_words[0];
	ms_loc[MS_PAGES + 1] = &stack_words[1];
	for (i = 0; i < MS_WORDS; i++)
		*(volatile u32 *)ms_loc[i] = ms_seq;
}

/*
 * Up to @rounds rounds of check-and-store, fewer if a word is stale or
 * the UART has a byte; returns whether every word was as expected.
 */
static bool memseq_burst(u32 rounds, const char *when)
{
	u32 seq = ms_seq, got, idx, port;

	asm volatile("1:	xorl	%%ecx, %%ecx\n"
		     "2:	movl	(%[loc],%%ecx,4), %%edx\n"
		     "	movl	(%%edx), %%eax\n"
		     "	cmpl	%%esi, %%eax\n"
		     "	jne	9f\n"
		     "	leal	1(%%esi), %%eax\n"
		     "	movl	%%eax, (%%edx)\n"
		     "	incl	%%ecx\n"
		     "	cmpl	%[n], %%ecx\n"
		     "	jb	2b\n"
		     "	incl	%%esi\n"
		     "	movl	$0x3fd, %%edx\n"	/* COM1 LSR */
		     "	inb	%%dx, %%al\n"
		     "	testb	$1, %%al\n"		/* data ready */
		     "	jnz	9f\n"
		     "	decl	%%edi\n"
		     "	jnz	1b\n"
		     "9:\n"
		     : "=a"(got), "=c"(idx), "=d"(port), "+S"(seq),
		       "+D"(rounds)
		     : [loc] "b"(ms_loc), [n] "i"(MS_WORDS)
		     : "memory", "cc");
	if (idx >= MS_WORDS) {
		ms_seq = seq;
		return true;
	}
	/* Words before @idx passed this round; report every later one too. */
	for (; idx < MS_WORDS; idx++) {
		got = *(volatile u32 *)ms_loc[idx];
		if (got == seq)
			continue;
		ms_stale++;
		ms_stale_total++;
		failures++;
		if (printed_fails++ < 64)
			printf("LMG CHECK-FAIL memseq %s: word %u at 0x%08x got=%u want=%u (%u behind the register)\n",
			       when, idx, (u32)ms_loc[idx], got, seq,
			       seq - got);
	}
	/* Start over from a consistent state. */
	for (idx = 0; idx < MS_WORDS; idx++)
		*(volatile u32 *)ms_loc[idx] = seq + 1;
	ms_seq = seq + 1;
	return false;
}

/* Returns the byte the harness sent. */
static int wait_for_harness(u32 round)
{
	u64 t0 = now_ms(), last = t0, t;
	u32 iter = 0, bad = 0, seq0, i;
	u32 stack_words[2];
	int c;

	memseq_init(stack_words);
	seq0 = ms_seq;
	ms_stale = 0;
	printf("LMG MIGRATE-NOW round=%u\n", round);
	for (;;) {
		/* Most of the time: default mode has little else to do. */
		memseq_burst(opt.mode == MODE_DEFAULT ? 2048 : 64, "running");
		c = serial_getc_nowait();
		if (c == 'N' || c == 'E' || c == 'X')
			break;
		if (c >= 0)
			printf("LMG NOTE ignoring input byte 0x%02x\n", c);

		if (opt.mode == MODE_LOOP)
			busy_iteration(iter);
		else if (opt.mode == MODE_DMA_PAGES)
			dma_pages_iteration(iter);
		else
			bad += check_registers(true);
		for (i = 1; i < opt.edus; i++) {
			use_edu(i);
			bad += check_registers(true);
			use_edu(0);
		}
		iter++;

		t = now_ms();
		if (t - last >= 1000) {
			last = t;
			printf("LMG TICK round=%u t=%u iter=%u bad=%u failures=%u dma_writes=%u\n",
			       round, (u32)(t - t0), iter, bad, failures,
			       dp_dmas);
		}
		if (t - t0 > (u64)opt.timeout_s * 1000) {
			printf("LMG RESULT FAIL reason=timeout waiting for the harness (%u s)\n",
			       opt.timeout_s);
			guest_exit(EXIT_TIMEOUT);
		}
	}
	/* One whole pass after the byte: every word, on this side. */
	memseq_burst(1, "after resume");
	failures += bad;
	checks += iter + 1;
	printf("LMG RESUMED round=%u byte=%c iter=%u invariant_bad=%u dma_writes=%u\n",
	       round, c, iter, bad, dp_dmas);
	printf("LMG MEMSEQ round=%u seq=%u rounds=%u words=%u stale=%u stale_total=%u\n",
	       round, ms_seq, ms_seq - seq0, MS_WORDS, ms_stale,
	       ms_stale_total);
	return c;
}

static void parse_cmdline(const char *s)
{
	const char *w;
	size_t n;

	while ((w = cmdline_word(&s, &n))) {
		if (word_is(w, n, "fill-dma-buffer"))
			opt.mode = MODE_FILL;
		else if (word_is(w, n, "loop"))
			opt.mode = MODE_LOOP;
		else if (word_is(w, n, "dma-pages"))
			opt.mode = MODE_DMA_PAGES;
		else if (word_is(w, n, "no-migrate"))
			opt.no_migrate = true;
		else if (word_is(w, n, "zero-dma-buffer"))
			opt.zero_only = true;
		else if (word_is(w, n, "keep-filled"))
			opt.keep_filled = true;
		else if (word_is(w, n, "msi"))
			opt.msi = true;
		else if (word_is(w, n, "bochs"))
			opt.bochs = true;
		else if (!word_u32(w, n, "timeout=", &opt.timeout_s) &&
			 !word_u32(w, n, "edus=", &opt.edus))
			word_u32(w, n, "seed=", &opt.seed);
	}
	if (!opt.edus || opt.edus > MAX_EDUS) {
		printf("LMG RESULT FAIL reason=edus=%u: 1 or %u\n", opt.edus,
		       MAX_EDUS);
		guest_exit(EXIT_SETUP);
	}
}

/* Find the edu in use (cur_edu: the first, or the second in bus order). */
static void find_device(void)
{
	u32 raw, size;
	u16 cmd;
	int n, bdf;

	bdf = pci_find_nth(EDU_VENDOR, EDU_DEVICE, cur_edu, &n);
	if (bdf < 0) {
		printf("LMG RESULT FAIL reason=no edu device (1234:11e8) #%u found (%d in all)\n",
		       cur_edu + 1, n);
		guest_exit(EXIT_SETUP);
	}
	edu_bdf = bdf;
	cmd = pci_read16(edu_bdf, PCI_COMMAND);
	raw = pci_read32(edu_bdf, PCI_BAR0);

	/* Size BAR0 with memory decoding off, then put it back. */
	pci_write16(edu_bdf, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	pci_write32(edu_bdf, PCI_BAR0, ~0u);
	size = ~(pci_read32(edu_bdf, PCI_BAR0) & ~0xfu) + 1;
	pci_write32(edu_bdf, PCI_BAR0, raw);

	bar0 = raw & ~0xfu;
	printf("LMG EDU%s bdf=%02x:%02x.%u count=%d bar0=0x%08x flags=0x%x size=0x%x cmd=0x%04x\n",
	       cur_edu ? "2" : "", PCI_BUS(edu_bdf), PCI_DEV(edu_bdf), PCI_FN(edu_bdf), n, bar0,
	       raw & 0xf, size, cmd);
	if (raw & 1 || !bar0 || size != EDU_BAR0_SIZE) {
		printf("LMG RESULT FAIL reason=BAR0 not a 1 MiB memory BAR assigned by the firmware\n");
		guest_exit(EXIT_SETUP);
	}

	/* Memory space and bus mastering on; INTx off: we poll. */
	sh.pci_cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		     PCI_COMMAND_INTX_DISABLE;
	pci_write16(edu_bdf, PCI_COMMAND, cmd | sh.pci_cmd);
	sh.bar0 = raw;
	if (rd(EDU_ID) != EDU_ID_VALUE) {
		printf("LMG RESULT FAIL reason=edu ID register reads 0x%08x\n",
		       rd(EDU_ID));
		guest_exit(EXIT_SETUP);
	}
}

/* The register file as found, before we touch it: the shadow's start. */
static void adopt_device_state(void)
{
	sh.live = rd(EDU_LIVENESS);
	sh.fact = rd(EDU_FACT);
	sh.status = rd(EDU_STATUS);
	sh.irq = rd(EDU_IRQ_STATUS);
	sh.dma_src = rd(EDU_DMA_SRC);
	sh.dma_dst = rd(EDU_DMA_DST);
	sh.dma_cnt = rd(EDU_DMA_CNT);
	sh.dma_cmd = rd(EDU_DMA_CMD);
	if (sh.status & EDU_STATUS_COMPUTING)
		poll_reg(EDU_STATUS, EDU_STATUS_COMPUTING, 0, 5000);
	if (sh.dma_cmd & EDU_DMA_RUN)
		poll_reg(EDU_DMA_CMD, EDU_DMA_RUN, 0, 10000);
	print_state("boot", 0);
}

/* Find the edu in use, take its registers and DMA buffer as found. */
static void bring_up(void)
{
	find_device();
	adopt_device_state();
	learn_dma_buffer();
	irq_ack(~0u);
	printf("LMG DMABUF%s %s\n", edu_tag(), dma_buf_clean ? "clean" :
	       "NOT-CLEAN (written by RAM->edu DMA before this boot; a destination device will not hold the same bytes)");
}

static void __attribute__((noreturn)) finish(void)
{
	if (failures) {
		printf("LMG RESULT FAIL failures=%u checks=%u\n", failures,
		       checks);
		guest_exit(EXIT_FAIL);
	}
	printf("LMG RESULT PASS checks=%u\n", checks);
	guest_exit(EXIT_PASS);
}

void __attribute__((noreturn)) payload_main(u32 magic, struct mb_info *mbi)
{
	const char *cmdline = mb_cmdline(magic, mbi);
	u32 round = 1, i;
	int c;

	serial_init();
	parse_cmdline(cmdline);
	enable_mmx();
	timer_init();
	printf("\nLMG BOOT mode=%s timeout=%u mem_upper_kib=%u clock=%s cmdline=\"%s\"\n",
	       mode_name(), opt.timeout_s,
	       magic == MB_INFO_MAGIC && (mbi->flags & MB_INFO_MEM) ?
			mbi->mem_upper : 0,
	       timer_source(), cmdline);

	bring_up();
	for (i = 1; i < opt.edus; i++) {
		use_edu(i);
		bring_up();
		use_edu(0);
	}

	if (opt.zero_only) {
		if (!dma_buf_clean) {
			memset(ram_src, 0, sizeof(ram_src));
			dma_from_ram(ram_src, 0, EDU_DMA_BUF_SIZE);
			learn_dma_buffer();
			expect("dma buffer zero after zeroing", dma_buf_clean,
			       true);
			printf("LMG DMABUF zeroed\n");
		}
		finish();
	}

	if (opt.mode == MODE_FILL) {
		for (i = 0; i < EDU_DMA_BUF_SIZE; i++)
			ram_src[i] = (u8)(i * 7 + 0x3c);
		dma_from_ram(ram_src, 0, EDU_DMA_BUF_SIZE);
		memcpy(edu_buf_seen, ram_src, EDU_DMA_BUF_SIZE);
		dma_to_ram_checked(0, 0, EDU_DMA_BUF_SIZE, false);
		printf("LMG FILLED dma buffer by RAM->edu DMA: the driver must refuse to save this device\n");
	}
	if (opt.mode == MODE_DMA_PAGES)
		dma_pages_init();

	if (opt.msi)
		msi_setup();
	if (opt.bochs)
		bochs_find();
	for (;;) {
		for (i = 1; i < opt.edus; i++) {
			use_edu(i);
			setup_state(round);
			print_state("before", round);
			use_edu(0);
		}
		setup_state(round);
		if (opt.bochs) {
			bochs_fill(round);
			bochs_verify("before", round);
		}
		if (opt.msi)
			msi_check("before");
		print_state("before", round);
		if (opt.no_migrate) {
			c = 'E';
		} else {
			c = wait_for_harness(round);
			if (c == 'X') {
				printf("LMG RESULT FAIL reason=harness abort\n");
				guest_exit(EXIT_FAIL);
			}
		}
		print_state("after", round);
		if (opt.msi)
			msi_check("after");
		if (opt.bochs)
			bochs_verify("after", round);
		if (opt.mode == MODE_DMA_PAGES)
			dma_pages_verify();
		check_registers(false);
		exercise(round);
		for (i = 1; i < opt.edus; i++) {
			use_edu(i);
			print_state("after", round);
			check_registers(false);
			exercise(round);
			use_edu(0);
		}
		printf("LMG ROUND-DONE round=%u failures=%u checks=%u\n",
		       round, failures, checks);
		if (c != 'N')
			break;
		round++;
	}

	if (opt.mode == MODE_FILL && !opt.keep_filled) {
		/* Leave the device as we found it for whoever uses it next. */
		memset(ram_src, 0, sizeof(ram_src));
		dma_from_ram(ram_src, 0, EDU_DMA_BUF_SIZE);
		memset(edu_buf_seen, 0, sizeof(edu_buf_seen));
		dma_to_ram_checked(0, 0, EDU_DMA_BUF_SIZE, false);
		printf("LMG NOTE dma buffer zeroed again\n");
	}
	finish();
}
