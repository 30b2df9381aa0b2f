// SPDX-License-Identifier: GPL-2.0
/*
 * Bare-metal payload that drives an Intel 82576 virtual function (igbvf,
 * 8086:10ca) itself: the first step of issue 17's migration tests.
 *
 * Built from selftests/guest's entry, console, PCI and timer code into
 * build/guest-igbvf/payload.elf and booted by QEMU's multiboot loader in
 * a nested VM whose VF is assigned through VFIO.  It resets the VF, asks
 * the PF for its MAC address through the VF<->PF mailbox (the message
 * the Linux igb PF driver answers), sets up one RX and one TX ring of
 * advanced descriptors, and exchanges numbered UDP datagrams with the rig's
 * traffic peer (selftests/lib/igb-rig.sh: 192.168.77.1, port 7777, which
 * echoes them), checking every echo byte for byte.  Interrupts stay off:
 * everything is polled.
 *
 * With "wait" on its command line it then stays up for a migration: it
 * prints "LMG MIGRATE-NOW", keeps exchanging datagrams (one in flight at
 * a time) until a byte arrives on COM1 (the harness's "the migration is
 * over"), then checks that the VF's queue registers still hold what it
 * programmed and that another @count datagrams come back intact, with no
 * re-initialisation of the VF.  One datagram in flight bounds what a
 * migration's downtime can lose: the one whose echo was due while the VM
 * was stopped (lost=N is the harness's bound).
 *
 * Lines on COM1, all starting with "LMG ":
 *   LMG BOOT ...                       the payload runs
 *   LMG IGBVF bdf=.. bar0=.. mac=..    the VF and the MAC the PF gave it
 *   LMG ECHO sent=N echoed=N corrupt=N lost=N late=N dup=N
 *                                      the first exchange
 *   LMG MIGRATE-NOW round=1            (wait) exchanging until a byte comes
 *   LMG TICK t=MS sent=N echoed=N lost=N  (wait) once a second meanwhile
 *   LMG RUNNING sent=N echoed=N corrupt=N lost=N late=N dup=N byte=C
 *                                      (wait) that exchange, once it ended
 *   LMG AFTER sent=N echoed=N corrupt=N lost=N late=N dup=N regs_bad=N
 *                                      (wait) the exchange after the byte
 *   LMG RINGS ...                      the queues' registers at the end
 *   LMG CHECK-FAIL ...                 one line per problem
 *   LMG RESULT PASS|FAIL ...           the verdict, then the exit
 *
 * Command line (-append), space separated:
 *   count=N      datagrams to exchange (default 100)
 *   ip=N         the VF's address is 192.168.77.N (default 20)
 *   lost=N       how many may go unanswered and still pass: in the first
 *                exchange, and in wait mode while waiting (default 0)
 *   timeout=S    give up after S seconds (default 300; in wait mode the
 *                wait for the byte is not counted)
 *   wait         stay up for a migration, as above
 *   msix         take the RX queue's interrupts: MSI-X vector 0 of the VF
 *                at a vector of this CPU's local APIC, RX queue 0 mapped
 *                to it (IVAR0), auto-cleared (EIAC) and enabled (EIMS);
 *                interrupts stay enabled and
 *                are counted ("LMG MSIX ..." at the end): the first
 *                exchange must take some, and so must the exchange after
 *                the byte (on the VF a migration ended on), with no stray
 *                interrupt
 *
 * The peer must know the VF's MAC (a static neighbour entry): the payload
 * does not answer ARP.  The rig gives the VF a fixed MAC through the PF
 * (`ip link set PF vf N mac ...`) before the VM starts.
 */
#include "lib.h"

/*
 * How long the echo of a datagram is waited for before it counts as
 * lost: an echo takes milliseconds, but the nested guest runs under TCG
 * on a loaded host, where a stall of a second happens.  The bound only
 * tells lost from slow.
 */
#define ECHO_WAIT_MS		10000

#define IGB_VENDOR		0x8086
#define IGBVF_DEVICE		0x10ca

/* VF registers (BAR 0), from the 82576 datasheet's VF register map. */
#define VF_CTRL			0x0000
#define  CTRL_RST		(1u << 26)
#define VF_STATUS		0x0008
#define VF_MBX			0x0c40		/* V2PMAILBOX */
#define  MBX_REQ		(1u << 0)
#define  MBX_ACK		(1u << 1)
#define  MBX_VFU		(1u << 2)
#define  MBX_PFU		(1u << 3)
#define  MBX_PFSTS		(1u << 4)
#define  MBX_PFACK		(1u << 5)
#define  MBX_RSTI		(1u << 6)
#define  MBX_RSTD		(1u << 7)
#define  MBX_R2C		(MBX_PFSTS | MBX_PFACK | MBX_RSTD)
#define VF_MBMEM		0x0800		/* VMBMEM: 16 words */
#define VF_EIMS			0x1524
#define VF_EIAC			0x152c
#define VF_EITR0		0x1680
#define VF_IVAR0		0x1700
#define  IVAR_VALID		0x80
#define VF_RDBAL		0x2800
#define VF_RDBAH		0x2804
#define VF_RDLEN		0x2808
#define VF_SRRCTL		0x280c
#define  SRRCTL_BSIZE_1K(n)	(n)		/* packet buffer, 1 KiB units */
#define  SRRCTL_DROP_EN		(1u << 31)
#define VF_RDH			0x2810
#define VF_RDT			0x2818
#define VF_RXDCTL		0x2828
#define VF_TDBAL		0x3800
#define VF_TDBAH		0x3804
#define VF_TDLEN		0x3808
#define VF_TDH			0x3810
#define VF_TDT			0x3818
#define VF_TXDCTL		0x3828
#define  QUEUE_ENABLE		(1u << 25)

/* Mailbox messages (the igb PF's VF protocol). */
#define MSG_VF_RESET		0x01
#define MSG_ACK			0x80000000u
#define MSG_NACK		0x40000000u
#define MSG_CTS			0x20000000u

/*
 * Advanced TX data descriptors: length and command in cmd_type_len,
 * the payload length in olinfo_status (bits 14-31), where the device also
 * sets DD (bit 0) once it is done with a descriptor that asked (RS).
 */
struct tx_desc {
	u64 addr;
	u32 cmd_type_len;
	u32 olinfo_status;
} __attribute__((packed));
#define TXD_CMD_EOP		(1u << 24)
#define TXD_CMD_IFCS		(1u << 25)
#define TXD_CMD_RS		(1u << 27)
#define TXD_CMD_DEXT		(1u << 29)
#define TXD_DTYP_DATA		(3u << 20)
#define TXD_PAYLEN_SHIFT	14
#define TXD_STA_DD		(1u << 0)

/*
 * Advanced one-buffer RX descriptors (SRRCTL.DESCTYPE 1): QEMU's igb
 * writes the advanced write-back format whatever DESCTYPE says, which
 * overwrites the buffer address, so every descriptor is re-armed.
 * Read: buffer address, header address (0).  Write-back: w[2] holds the
 * status (DD bit 0, EOP bit 1), the low half of w[3] the length.
 */
union rx_desc {
	struct {
		u64 pkt;
		u64 hdr;
	} read;
	u32 w[4];
} __attribute__((packed));
#define RXD_STA_DD		(1u << 0)
#define RXD_STA_EOP		(1u << 1)
#define SRRCTL_DESC_ADV_1BUF	(1u << 25)

#define NDESC			8		/* 128 bytes per ring */
#define BUF			2048

static struct tx_desc txr[NDESC] __attribute__((aligned(128)));
static union rx_desc rxr[NDESC] __attribute__((aligned(128)));
static u8 txbuf[NDESC][BUF] __attribute__((aligned(64)));
static u8 rxbuf[NDESC][BUF] __attribute__((aligned(64)));

static const u8 peer_mac[6] = { 0x52, 0x54, 0x00, 0x1b, 0x00, 0xff };
#define NET_PREFIX		0xc0a84d00u	/* 192.168.77.0 */
#define PEER_IP			(NET_PREFIX | 1)
#define ECHO_PORT		7777
#define MY_PORT			40000
#define DGRAM_BYTES		256

static struct {
	u32 count;
	u32 ip;
	u32 lost_ok;
	u32 timeout_s;
	bool wait;
	bool msix;
} opt = { 100, 20, 0, 300, false, false };

static u32 bar0, vf_bdf;
static u8 my_mac[6];
/* Shadows of what the payload last wrote to TDT, RDT and SRRCTL. */
static u32 tx_tail, rx_next, rdt, srrctl;
static u32 failures;
static u64 t_start;

/* One exchange's counts (see exchange()). */
struct echo_stats {
	u32 sent, echoed, corrupt, lost, late, dup;
};

/* Echoes received, by datagram number (the first 64 Ki): duplicates. */
#define SEQ_TRACKED		65536
static u8 seq_seen[SEQ_TRACKED / 8];

static u32 rd(u32 off)
{
	return mmio_read32(bar0 + off);
}

static void wr(u32 off, u32 v)
{
	mmio_write32(bar0 + off, v);
}

static void __attribute__((noreturn)) fail_setup(const char *why, u32 v)
{
	printf("LMG RESULT FAIL reason=%s (0x%08x)\n", why, v);
	guest_exit(EXIT_SETUP);
}

static bool timed_out(void)
{
	return now_ms() - t_start > (u64)opt.timeout_s * 1000;
}

/* --- the mailbox ----------------------------------------------------------- */

/* Read-to-clear bits seen so far (PFSTS, PFACK, RSTD). */
static u32 mbx_seen;

static u32 mbx_read(void)
{
	u32 v = rd(VF_MBX);

	mbx_seen |= v & MBX_R2C;
	return v;
}

/* Wait until one of @bits was seen (and forget it), for up to @ms. */
static bool mbx_wait(u32 bits, u32 ms)
{
	u64 t0 = now_ms();

	for (;;) {
		mbx_read();
		if (mbx_seen & bits) {
			mbx_seen &= ~bits;
			return true;
		}
		if (now_ms() - t0 > ms)
			return false;
		cpu_relax();
	}
}

static bool mbx_lock(void)
{
	u64 t0 = now_ms();

	do {
		wr(VF_MBX, MBX_VFU);
		if (mbx_read() & MBX_VFU)
			return true;
	} while (now_ms() - t0 < 1000);
	return false;
}

static bool mbx_send(const u32 *msg, u32 n)
{
	u32 i;

	if (!mbx_lock())
		return false;
	/* A stale reply or ack of the PF's is of no interest now. */
	mbx_read();
	mbx_seen &= ~(MBX_PFSTS | MBX_PFACK);
	for (i = 0; i < n; i++)
		mmio_write32(bar0 + VF_MBMEM + 4 * i, msg[i]);
	wr(VF_MBX, MBX_REQ);			/* drops VFU, tells the PF */
	return mbx_wait(MBX_PFACK, 1000);
}

static bool mbx_receive(u32 *msg, u32 n)
{
	u32 i;

	if (!mbx_wait(MBX_PFSTS, 1000) || !mbx_lock())
		return false;
	for (i = 0; i < n; i++)
		msg[i] = mmio_read32(bar0 + VF_MBMEM + 4 * i);
	wr(VF_MBX, MBX_ACK);			/* received; drops VFU */
	return true;
}

/* --- MSI-X (option msix) ------------------------------------------------------ */

#define PCI_CAP_MSIX		0x11
#define LAPIC_ID		0x20
#define LAPIC_SVR		0xf0

static u32 msix_first, msix_after;

/* Vector 0 of the VF's MSI-X table at MSI_VECTOR, RX queue 0 mapped to it. */
static void msix_setup(void)
{
	u32 pos = pci_read8(vf_bdf, 0x34) & 0xfc, tbl, bar, raw, apic;
	u16 ctl;
	int n;

	for (n = 0; pos && n < 48; n++) {
		if (pci_read8(vf_bdf, pos) == PCI_CAP_MSIX)
			break;
		pos = pci_read8(vf_bdf, pos + 1) & 0xfc;
	}
	if (!pos || n == 48)
		fail_setup("the VF has no MSI-X capability", 0);
	ctl = pci_read16(vf_bdf, pos + 2);
	tbl = pci_read32(vf_bdf, pos + 4);
	raw = pci_read32(vf_bdf, PCI_BAR0 + 4 * (tbl & 7));
	bar = raw & ~0xfu;
	if ((raw & 1) || !bar)
		fail_setup("the MSI-X table's BAR is not an assigned memory BAR", raw);
	bar += tbl & ~7u;
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x100 | 0xff);
	apic = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
	/* Enabled with the function masked while entry 0 is written. */
	pci_write16(vf_bdf, pos + 2, ctl | 0xc000);
	mmio_write32(bar, LAPIC_BASE | apic << 12);
	mmio_write32(bar + 4, 0);
	mmio_write32(bar + 8, MSI_VECTOR);
	mmio_write32(bar + 12, 0);
	pci_write16(vf_bdf, pos + 2, (ctl | 0x8000) & ~0x4000);
	wr(VF_EITR0, 0);
	wr(VF_IVAR0, IVAR_VALID | 0);
	/* The cause clears as the message goes out: the next one can follow. */
	wr(VF_EIAC, 1);
	wr(VF_EIMS, 1);
	printf("LMG MSIX setup cap=0x%x table=0x%08x apic=%u vector=0x%x\n",
	       pos, bar, apic, MSI_VECTOR);
	asm volatile("sti" ::: "memory");
}

/* --- bring-up ---------------------------------------------------------------- */

static void find_vf(void)
{
	u32 raw, cmd;
	int n, bdf = pci_find(IGB_VENDOR, IGBVF_DEVICE, &n);

	if (bdf < 0)
		fail_setup("no igb VF (8086:10ca) found", 0);
	vf_bdf = bdf;
	raw = pci_read32(vf_bdf, PCI_BAR0);
	bar0 = raw & ~0xfu;
	if ((raw & 1) || !bar0)
		fail_setup("VF BAR 0 is not an assigned memory BAR", raw);
	if ((raw & 6) == 4 && pci_read32(vf_bdf, PCI_BAR0 + 4))
		fail_setup("VF BAR 0 above 4 GiB", pci_read32(vf_bdf, PCI_BAR0 + 4));
	cmd = pci_read16(vf_bdf, PCI_COMMAND);
	pci_write16(vf_bdf, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY |
		    PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
}

static void reset_vf(void)
{
	u32 msg[4] = { MSG_VF_RESET }, i;

	wr(VF_CTRL, rd(VF_CTRL) | CTRL_RST);
	/*
	 * Linux's igbvf waits for RSTD (or RSTI) here.  QEMU sets RSTD only
	 * when the PF driver writes CTRL_EXT.PFRSTD, as it starts, never on a
	 * VF reset, and it is read-to-clear, so whoever drove the VF first has
	 * taken it.  The PF answers VF_RESET either way: wait a little, go on.
	 */
	mbx_seen = 0;
	if (!mbx_wait(MBX_RSTD | MBX_RSTI, 200))
		printf("LMG NOTE no reset-done bit from the PF; sending VF_RESET anyway\n");
	if (!mbx_send(msg, 1))
		fail_setup("the PF did not take the VF_RESET message", rd(VF_MBX));
	if (!mbx_receive(msg, 4))
		fail_setup("no reply to VF_RESET", rd(VF_MBX));
	if ((msg[0] & ~MSG_CTS) != (MSG_VF_RESET | MSG_ACK))
		fail_setup("VF_RESET refused", msg[0]);
	for (i = 0; i < 6; i++)
		my_mac[i] = ((const u8 *)&msg[1])[i];
	if (!(my_mac[0] | my_mac[1] | my_mac[2] | my_mac[3] | my_mac[4] |
	      my_mac[5]))
		fail_setup("the PF gave no MAC address", msg[1]);
}

static void setup_rings(void)
{
	u32 i;

	memset(txr, 0, sizeof(txr));
	memset(rxr, 0, sizeof(rxr));
	for (i = 0; i < NDESC; i++)
		rxr[i].read.pkt = (u32)rxbuf[i];

	wr(VF_RXDCTL, 0);
	wr(VF_RDBAL, (u32)rxr);
	wr(VF_RDBAH, 0);
	wr(VF_RDLEN, sizeof(rxr));
	srrctl = SRRCTL_BSIZE_1K(BUF / 1024) | SRRCTL_DESC_ADV_1BUF |
		 SRRCTL_DROP_EN;
	wr(VF_SRRCTL, srrctl);
	wr(VF_RDH, 0);
	wr(VF_RDT, 0);
	wr(VF_RXDCTL, QUEUE_ENABLE);
	/* All but one descriptor belong to the device. */
	rdt = NDESC - 1;
	wr(VF_RDT, rdt);
	rx_next = 0;

	wr(VF_TXDCTL, 0);
	wr(VF_TDBAL, (u32)txr);
	wr(VF_TDBAH, 0);
	wr(VF_TDLEN, sizeof(txr));
	wr(VF_TDH, 0);
	wr(VF_TDT, 0);
	wr(VF_TXDCTL, QUEUE_ENABLE);
	tx_tail = 0;
}

/* --- frames ---------------------------------------------------------------- */

static void put16(u8 *p, u32 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(u8 *p, u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static u32 get16(const u8 *p)
{
	return (u32)p[0] << 8 | p[1];
}

static u32 get32(const u8 *p)
{
	return get16(p) << 16 | get16(p + 2);
}

static u32 ip_csum(const u8 *p, u32 len)
{
	u32 s = 0, i;

	for (i = 0; i < len; i += 2)
		s += get16(p + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

static u8 body_byte(u32 seq, u32 i)
{
	return (u8)(seq * 131 + i * 7);
}

#define ETH_HLEN		14
#define IP_HLEN			20
#define UDP_HLEN		8
#define FRAME_BYTES		(ETH_HLEN + IP_HLEN + UDP_HLEN + DGRAM_BYTES)

/* Ethernet + IPv4 + UDP to the peer's echo port, datagram number @seq. */
static u32 build(u8 *f, u32 seq)
{
	u8 *ip = f + ETH_HLEN, *udp = ip + IP_HLEN, *d = udp + UDP_HLEN;
	u32 i;

	memcpy(f, peer_mac, 6);
	memcpy(f + 6, my_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, IP_HLEN + UDP_HLEN + DGRAM_BYTES);
	put16(ip + 4, seq);
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 12, NET_PREFIX | opt.ip);
	put32(ip + 16, PEER_IP);
	put16(ip + 10, ip_csum(ip, IP_HLEN));
	put16(udp, MY_PORT);
	put16(udp + 2, ECHO_PORT);
	put16(udp + 4, UDP_HLEN + DGRAM_BYTES);
	put16(udp + 6, 0);			/* no checksum (IPv4) */
	put32(d, seq);
	for (i = 4; i < DGRAM_BYTES; i++)
		d[i] = body_byte(seq, i);
	return FRAME_BYTES;
}

static bool transmit(u32 seq)
{
	struct tx_desc *t = &txr[tx_tail];
	u32 len;
	u64 t0;

	len = build(txbuf[tx_tail], seq);
	t->addr = (u32)txbuf[tx_tail];
	t->cmd_type_len = len | TXD_DTYP_DATA | TXD_CMD_DEXT | TXD_CMD_EOP |
			  TXD_CMD_IFCS | TXD_CMD_RS;
	t->olinfo_status = len << TXD_PAYLEN_SHIFT;
	barrier();
	tx_tail = (tx_tail + 1) % NDESC;
	wr(VF_TDT, tx_tail);
	t0 = now_ms();
	while (!(((volatile struct tx_desc *)t)->olinfo_status & TXD_STA_DD)) {
		/* QEMU completes a transmit inside the TDT write: a bound only. */
		if (now_ms() - t0 > ECHO_WAIT_MS) {
			printf("LMG CHECK-FAIL tx seq=%u not done: TDH=%u TDT=%u TXDCTL=0x%08x\n",
			       seq, rd(VF_TDH), rd(VF_TDT), rd(VF_TXDCTL));
			failures++;
			return false;
		}
		cpu_relax();
	}
	return true;
}

/*
 * Records the echo of datagram @seq: whether one was seen before (a
 * duplicate).
 */
static bool seen_before(u32 seq)
{
	u8 bit = 1u << (seq % 8);
	bool dup;

	if (seq >= SEQ_TRACKED)
		return false;
	dup = seq_seen[seq / 8] & bit;
	seq_seen[seq / 8] |= bit;
	return dup;
}

/*
 * The echo of datagram @seq, waited for up to @ms: 1 intact, 0 not
 * there, -1 corrupt.  Frames that are not echoes (ARP, IPv6) are put
 * back; an echo of an earlier datagram counts in @st as late (its wait
 * had given up) or as a duplicate.
 */
static int receive(u32 seq, u32 ms, struct echo_stats *st)
{
	u64 t0 = now_ms();

	for (;;) {
		volatile union rx_desc *r = &rxr[rx_next];
		const u8 *f = rxbuf[rx_next], *ip = f + ETH_HLEN;
		const u8 *udp = ip + IP_HLEN, *d = udp + UDP_HLEN;
		int verdict = 2;		/* not an echo */
		u32 i, len;

		if (!(r->w[2] & RXD_STA_DD)) {
			if (now_ms() - t0 > ms)
				return 0;
			cpu_relax();
			continue;
		}
		barrier();
		len = r->w[3] & 0xffff;
		if (len >= FRAME_BYTES && get16(f + 12) == 0x0800 &&
		    ip[9] == 17 && get16(udp) == ECHO_PORT &&
		    get16(udp + 2) == MY_PORT) {
			if (get32(d) != seq) {
				if (seen_before(get32(d)))
					st->dup++;
				else
					st->late++;
			} else if (seen_before(seq)) {
				st->dup++;
			} else {
				verdict = 1;
				if (memcmp(f, my_mac, 6) || len < FRAME_BYTES ||
				    get16(udp + 4) != UDP_HLEN + DGRAM_BYTES)
					verdict = -1;
				for (i = 4; verdict == 1 && i < DGRAM_BYTES; i++)
					if (d[i] != body_byte(seq, i))
						verdict = -1;
			}
		}
		/* Give the descriptor back, re-armed. */
		r->read.pkt = (u32)rxbuf[rx_next];
		r->read.hdr = 0;
		barrier();
		rdt = rx_next;
		wr(VF_RDT, rdt);
		rx_next = (rx_next + 1) % NDESC;
		if (verdict != 2)
			return verdict;
	}
}

/* One datagram out and its echo back, counted in @st. */
static bool exchange_one(u32 seq, struct echo_stats *st)
{
	int v;

	if (!transmit(seq))
		return false;
	st->sent++;
	v = receive(seq, ECHO_WAIT_MS, st);
	if (v > 0)
		st->echoed++;
	else if (v < 0)
		st->corrupt++;
	else
		st->lost++;
	return true;
}

/* Datagrams *@seq on, @n of them, one in flight at a time. */
static void exchange(u32 *seq, u32 n, struct echo_stats *st)
{
	u32 end = *seq + n;

	for (; *seq < end && !timed_out(); (*seq)++)
		if (!exchange_one(*seq, st))
			break;
}

static void print_stats(const char *what, const struct echo_stats *st)
{
	printf("LMG %s sent=%u echoed=%u corrupt=%u lost=%u late=%u dup=%u",
	       what, st->sent, st->echoed, st->corrupt, st->lost, st->late,
	       st->dup);
}

/* Whether @st is a clean exchange of @n datagrams, @lost_ok lost. */
static bool stats_ok(const struct echo_stats *st, u32 n, u32 lost_ok)
{
	return st->sent == n && !st->corrupt && !st->dup &&
	       st->lost <= lost_ok && st->echoed + st->lost == n;
}

/*
 * The VF's queue registers against what the payload programmed: a VF
 * that came back reset, re-enabled elsewhere or with moved rings reads
 * differently.  RDH is the device's own; TDH must have caught up with
 * TDT (every transmit completed).  Returns the registers that differ.
 */
static u32 check_queue_regs(void)
{
	const struct {
		const char *name;
		u32 off, mask, want;
	} r[] = {
		{ "RDBAL", VF_RDBAL, ~0u, (u32)rxr },
		{ "RDBAH", VF_RDBAH, ~0u, 0 },
		{ "RDLEN", VF_RDLEN, ~0u, sizeof(rxr) },
		{ "SRRCTL", VF_SRRCTL, ~0u, srrctl },
		{ "RXDCTL.ENABLE", VF_RXDCTL, QUEUE_ENABLE, QUEUE_ENABLE },
		{ "RDT", VF_RDT, ~0u, rdt },
		{ "TDBAL", VF_TDBAL, ~0u, (u32)txr },
		{ "TDBAH", VF_TDBAH, ~0u, 0 },
		{ "TDLEN", VF_TDLEN, ~0u, sizeof(txr) },
		{ "TXDCTL.ENABLE", VF_TXDCTL, QUEUE_ENABLE, QUEUE_ENABLE },
		{ "TDT", VF_TDT, ~0u, tx_tail },
		{ "TDH", VF_TDH, ~0u, tx_tail },
	};
	u32 i, got, bad = 0;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		got = rd(r[i].off) & r[i].mask;
		if (got == r[i].want)
			continue;
		bad++;
		printf("LMG CHECK-FAIL register %s got=0x%08x want=0x%08x\n",
		       r[i].name, got, r[i].want);
	}
	return bad;
}

/*
 * Wait mode: exchange datagrams until the harness sends a byte, then
 * check the registers and exchange @opt.count more.  Returns whether all
 * of it held.
 */
static bool wait_for_harness(u32 *seq)
{
	struct echo_stats run = { 0 }, after = { 0 };
	u64 t0 = now_ms(), tick = t0;
	u32 regs_bad;
	int c;
	bool ok;

	printf("LMG MIGRATE-NOW round=1\n");
	while ((c = serial_getc_nowait()) < 0) {
		if (!exchange_one((*seq)++, &run))
			break;
		if (now_ms() - tick >= 1000) {
			tick = now_ms();
			printf("LMG TICK t=%u sent=%u echoed=%u lost=%u\n",
			       (u32)(tick - t0), run.sent, run.echoed, run.lost);
		}
	}
	print_stats("RUNNING", &run);
	printf(" byte=%c\n", c > 32 && c < 127 ? c : '?');
	/* The wait for the byte is the harness's; the rest is bounded. */
	t_start = now_ms();
	regs_bad = check_queue_regs();
	msix_after = msi_count;
	exchange(seq, opt.count, &after);
	msix_after = msi_count - msix_after;
	print_stats("AFTER", &after);
	printf(" regs_bad=%u\n", regs_bad);
	ok = c >= 0 && run.sent && stats_ok(&run, run.sent, opt.lost_ok) &&
	     !regs_bad && stats_ok(&after, opt.count, 0) &&
	     (!opt.msix || msix_after);
	if (!ok)
		printf("LMG CHECK-FAIL wait mode: %s\n",
		       c < 0 ? "a transmit failed while waiting" :
		       regs_bad ? "the VF's queue registers changed" :
		       opt.msix && !msix_after ? "no RX interrupt after the byte" :
		       "an exchange lost, duplicated or corrupted datagrams");
	return ok;
}

static void parse_cmdline(const char *s)
{
	const char *w;
	size_t n;

	while ((w = cmdline_word(&s, &n))) {
		if (word_is(w, n, "wait")) {
			opt.wait = true;
			continue;
		}
		if (word_is(w, n, "msix")) {
			opt.msix = true;
			continue;
		}
		if (word_u32(w, n, "count=", &opt.count) ||
		    word_u32(w, n, "ip=", &opt.ip) ||
		    word_u32(w, n, "lost=", &opt.lost_ok))
			continue;
		word_u32(w, n, "timeout=", &opt.timeout_s);
	}
	if (!opt.ip || opt.ip > 254 || opt.ip == 1)
		opt.ip = 20;
}

void __attribute__((noreturn)) payload_main(u32 magic, struct mb_info *mbi)
{
	const char *cmdline = mb_cmdline(magic, mbi);
	struct echo_stats first = { 0 };
	u32 seq = 0;

	serial_init();
	parse_cmdline(cmdline);
	timer_init();
	t_start = now_ms();
	printf("\nLMG BOOT mode=igbvf%s count=%u ip=192.168.77.%u clock=%s cmdline=\"%s\"\n",
	       opt.wait ? " wait" : "", opt.count, opt.ip, timer_source(),
	       cmdline);
	find_vf();
	reset_vf();
	printf("LMG IGBVF bdf=%02x:%02x.%u bar0=0x%08x status=0x%08x mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
	       PCI_BUS(vf_bdf), PCI_DEV(vf_bdf), PCI_FN(vf_bdf), bar0,
	       rd(VF_STATUS), my_mac[0], my_mac[1], my_mac[2], my_mac[3],
	       my_mac[4], my_mac[5]);
	setup_rings();
	if (opt.msix)
		msix_setup();

	msix_first = msi_count;
	exchange(&seq, opt.count, &first);
	msix_first = msi_count - msix_first;
	if (opt.msix && !msix_first) {
		printf("LMG CHECK-FAIL msix: no RX interrupt in the first exchange\n");
		failures++;
	}
	print_stats("ECHO", &first);
	printf("\n");
	if (!stats_ok(&first, opt.count, opt.lost_ok))
		failures++;
	else if (opt.wait && !wait_for_harness(&seq))
		failures++;
	printf("LMG RINGS rdh=%u rdt=%u rxdctl=0x%08x srrctl=0x%08x rx0=0x%08x%08x tdh=%u tdt=%u\n",
	       rd(VF_RDH), rd(VF_RDT), rd(VF_RXDCTL), rd(VF_SRRCTL),
	       ((volatile u32 *)rxr)[3], ((volatile u32 *)rxr)[2], rd(VF_TDH),
	       rd(VF_TDT));
	if (opt.msix) {
		asm volatile("cli" ::: "memory");
		printf("LMG MSIX first=%u after=%u stray=%u\n", msix_first,
		       msix_after, stray_count);
		if (stray_count) {
			printf("LMG CHECK-FAIL msix: %u stray interrupts\n",
			       stray_count);
			failures++;
		}
	}
	if (failures) {
		printf("LMG RESULT FAIL failures=%u\n", failures);
		guest_exit(EXIT_FAIL);
	}
	printf("LMG RESULT PASS checks=%u\n", first.echoed);
	guest_exit(EXIT_PASS);
}
