// SPDX-License-Identifier: GPL-2.0
/*
 * livemig engine for the virtual functions of an Intel 82576 (igbvf,
 * 8086:10ca), as QEMU's igb emulates them.
 *
 * What lives where.  The VF's BAR 0 holds its queue registers (ring base,
 * length, head, tail, queue control for two queue pairs), its interrupt
 * registers (EIMS/EIMC, EIAC, EIAM, EITR, IVAR), statistics and the VF
 * side of the mailbox to the PF (V2PMAILBOX, VMBMEM).  The PF holds what
 * the guest asked the PF for through that mailbox: the MAC filter, VLAN
 * and multicast filters, the receive/transmit enables of the VF.  So the
 * engine migrates the BAR 0 state itself and re-creates the PF side on
 * the destination the way a VF driver does: it sends VF_RESET through the
 * destination VF's mailbox (which the PF driver answers with the VF's
 * MAC and enables it), then replays the requests the guest made on the
 * source (SET_MAC, SET_MULTICAST, the VLANs, SET_LPE, SET_PROMISC), which
 * the engine logs as the guest sends them.
 *
 * BAR 3, the MSI-X BAR, is trapped too, though the engine only passes its
 * accesses on: mapped, QEMU 10.0 splits it around the MSI-X table it
 * emulates into a section that is not page-aligned, asks the type1
 * IOMMU for that section's dirty pages during a migration, gets EINVAL
 * and fails the migration ("Failed to get dirty bitmap").  Trapped, it is
 * no RAM section at all (QEMU emulates the table and PBA either way).
 *
 * BAR 0 is trapped whole (16 KiB of registers, no data path: the rings
 * are in guest memory), so the engine sees every access:
 *  - quiesced (the P2P states and after), RX queues are disabled in the
 *    device while the guest keeps reading the RXDCTL/TXDCTL it wrote, and
 *    a TX tail write is held (the device transmits inside it): no DMA
 *    until the engine releases them on the return to RUNNING;
 *  - stopped, writes are refused;
 *  - read-to-clear mailbox bits the engine reads for itself are kept and
 *    handed to the guest's next read; interrupt registers the device does
 *    not read back are shadowed from the guest's writes; the statistics
 *    read on as counters across a migration (offset by the source's).
 * A request the guest sent and the PF had not acked when the VF stopped
 * is sent again on the destination, whose PF then acks it.
 *
 * The MAC: the PF gives the VF its MAC (an administrator sets it with
 * `ip link set PF vf N mac ...`, as libvirt does for a hostdev interface).
 * The destination VF must end up with the source's: if the destination's
 * PF answers VF_RESET with another one, the engine asks for the source's
 * with SET_MAC_ADDR, and a PF that refuses (an administratively set MAC)
 * cannot take the state.  The engine asks as soon as the first STATE
 * arrives (->preflight, PRE_COPY's data while the source still runs), so
 * that write() fails with -EPROTO and the migration fails before the
 * downtime; load asks again for what the last STATE says.
 *
 * DMA logging: the engine reports what the VF may have written (RX
 * buffers as the guest posts them, the rings, TX head write-back) from
 * the descriptors and ring registers (igbvf_dma.c), where the kernel can
 * report DMA logging at all (see compat.h); elsewhere QEMU needs
 * enable-migration=on and sends all guest RAM each pass.
 *
 * Limits: the interrupt state is what the guest wrote: a vector the
 * device auto-masked (EIAM) is enabled again on the destination, and
 * every enabled vector is raised once there, which a driver takes as a
 * spurious interrupt.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "engines.h"
#include "igbvf_dma.h"
#include "igbvf_rec.h"
#include "igbvf_regs.h"

#define IGBVF_MSIX_BAR		3
#define IGBVF_ENGINE_ID		0x49474256	/* "IGBV" */
#define IGBVF_ENGINE_VERSION	1
#define IGBVF_IDENTITY_LEN	20

#define IGBVF_CTRL		0x0000
#define IGBVF_MBMEM		0x0800
#define IGBVF_MBX		0x0c40
#define IGBVF_PSRTYPE		0x0f0c
#define IGBVF_EICS		0x1520
#define IGBVF_EIMS		0x1524
#define IGBVF_EIMC		0x1528
#define IGBVF_EIAC		0x152c
#define IGBVF_EIAM		0x1530
#define IGBVF_EITR(n)		(0x1680 + 4 * (n))
#define IGBVF_IVAR0		0x1700
#define IGBVF_IVAR_MISC		0x1740

/* How long the PF may take to answer a mailbox message. */
#define IGBVF_MBX_WAIT_MS	2000
/* How long a disabled RX queue may take to report itself disabled. */
#define IGBVF_QUEUE_WAIT_MS	100

/*
 * The queue registers that move as the device holds them, in the order a
 * load writes them (head before tail; the queue enables, RXDCTL and
 * TXDCTL, are handled apart): register offset within the queue, TX or
 * RX, and the field of struct igbvf_queue.
 */
static const struct igbvf_qreg {
	u8 reg;
	bool tx;
	u8 field;
} igbvf_qregs[] = {
#define QREG(r, t, f) { r, t, offsetof(struct igbvf_queue, f) }
	QREG(IGBVF_BAL, false, rdbal),
	QREG(IGBVF_BAH, false, rdbah),
	QREG(IGBVF_LEN, false, rdlen),
	QREG(IGBVF_SRRCTL, false, srrctl),
	QREG(IGBVF_DCA, false, rxctl),
	QREG(IGBVF_HEAD, false, rdh),
	QREG(IGBVF_TAIL, false, rdt),
	QREG(IGBVF_BAL, true, tdbal),
	QREG(IGBVF_BAH, true, tdbah),
	QREG(IGBVF_LEN, true, tdlen),
	QREG(IGBVF_DCA, true, txctl),
	QREG(IGBVF_WBAL, true, tdwbal),
	QREG(IGBVF_WBAH, true, tdwbah),
	QREG(IGBVF_HEAD, true, tdh),
	QREG(IGBVF_TAIL, true, tdt),
#undef QREG
};

static u32 igbvf_qreg(int q, const struct igbvf_qreg *r)
{
	return r->tx ? IGBVF_TXQ(q, r->reg) : IGBVF_RXQ(q, r->reg);
}

static u32 *igbvf_qfield(struct igbvf_queue *sq, const struct igbvf_qreg *r)
{
	return (u32 *)((u8 *)sq + r->field);
}

static u32 igbvf_qget(const struct igbvf_queue *sq, const struct igbvf_qreg *r)
{
	return *(const u32 *)((const u8 *)sq + r->field);
}

static const u32 igbvf_stat_regs[IGBVF_STATS] = {
	0x0f10, 0x0f14, 0x0f18, 0x0f34, 0x0f3c, 0x0f40, 0x0f44, 0x0f48, 0x0f50,
};

/**
 * struct igbvf_dev - engine private data, protected by the state_mutex
 * @quiesced: RX is disabled in the device and TX tail writes are held
 * @loaded: a load put state in the device that the return to RUNNING
 *	completes (queue enables, interrupt mask, a resent request)
 * @held: a TX tail write is held, per queue
 * @rxdctl: RXDCTL as the guest set it, per queue (valid while @quiesced)
 * @txdctl: TXDCTL as the guest set it, per queue (valid while @quiesced)
 * @tdt: TX tail as the guest wrote it, per queue (valid while @held)
 * @eitr: shadows of what the guest wrote to registers the device does not
 *	read back as written, and so on down to @psrtype
 * @ivar0: IVAR0 shadow
 * @ivar_misc: IVAR_MISC shadow
 * @eims: enabled vectors: EIMS writes set, EIMC writes clear
 * @eiac: EIAC shadow
 * @eiam: EIAM shadow
 * @psrtype: PSRTYPE shadow
 * @mbx_pending: read-to-clear mailbox bits read by the engine, not yet by
 *	the guest
 * @gmbmem: the words the guest wrote to the mailbox memory
 * @rd: the last words the guest read from it (to learn the MAC)
 * @stat_off: added to each statistics counter the guest reads
 * @mac: the MAC address the PF gave the VF, if @mac_valid
 * @mac_valid: the guest read the PF's reply to VF_RESET
 * @inflight: the guest's request the PF has not acked yet
 * @set_mac: the requests the engine replays on a destination, down to
 *	@vlan
 * @set_mc: the last SET_MULTICAST
 * @set_lpe: the last SET_LPE
 * @set_promisc: the last SET_PROMISC
 * @nvlan: VLAN ids in @vlan
 * @vlan: VLAN ids added and not removed
 * @staged: the state a resuming session staged
 * @staged_valid: @staged holds a STATE record
 * @last: the snapshot last emitted in the current saving session
 * @mbx_seen: read-to-clear bits the engine's own mailbox exchange saw
 * @mac_checked: this resuming session's preflight asked the PF for the MAC
 * @sent: requests the engine sent the PF and the PF answered, preflight's
 *	included
 * @replayed: requests load and unquiesce sent the PF since the device was
 *	opened
 * @dma: what the VF may DMA into, while DMA logging runs
 * @vectors: the MSI-X vectors the function reports, read at open so that
 *	check_identity (which must not touch the device) need not
 */
struct igbvf_dev {
	bool quiesced;
	bool loaded;
	bool held[IGBVF_QUEUES];
	u32 rxdctl[IGBVF_QUEUES];
	u32 txdctl[IGBVF_QUEUES];
	u32 tdt[IGBVF_QUEUES];
	u32 eitr[IGBVF_VECTORS];
	u32 ivar0, ivar_misc, eims, eiac, eiam, psrtype;
	u32 mbx_pending;
	u32 gmbmem[IGBVF_MBX_WORDS];
	u32 rd[3];
	u32 stat_off[IGBVF_STATS];
	u8 mac[6];
	bool mac_valid;
	struct igbvf_msg inflight, set_mac, set_mc, set_lpe, set_promisc;
	u32 nvlan;
	u32 vlan[IGBVF_VLANS];
	struct igbvf_state staged;
	bool staged_valid;
	struct igbvf_state last;
	u32 mbx_seen;
	bool mac_checked;
	unsigned long sent;
	unsigned long replayed;
	struct igbvf_dmalog dma;
	int vectors;
};

static int igbvf_rd(struct livemig_device *ld, u32 off, u32 *v)
{
	return livemig_hw_read32(ld, IGBVF_BAR, off, v);
}

static int igbvf_wr(struct livemig_device *ld, u32 off, u32 v)
{
	return livemig_hw_write32(ld, IGBVF_BAR, off, v);
}

static bool igbvf_stopped(struct livemig_device *ld)
{
	switch (livemig_state(ld)) {
	case VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
		return true;
	default:
		return false;
	}
}

static bool igbvf_match(struct pci_dev *pdev)
{
	/*
	 * The engine reaches the PF through the VF's mailbox only, and
	 * migrates the three vectors of the 82576's VF.
	 */
	return pdev->is_virtfn && pci_msix_vec_count(pdev) == IGBVF_VECTORS;
}

static int igbvf_open(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	memset(iv, 0, sizeof(*iv));
	iv->vectors = pci_msix_vec_count(livemig_pdev(ld));
	return 0;
}

static void igbvf_close(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	igbvf_dma_free(&iv->dma);
}

/* --- what the guest does ---------------------------------------------- */

/* The guest rang the mailbox with the request in its words: log it. */
static void igbvf_log_request(struct igbvf_dev *iv)
{
	u32 w0 = iv->gmbmem[0], n = igbvf_msg_words(w0), vid, i;
	struct igbvf_msg m = { .len = n };

	if (!n)
		return;
	memcpy(m.w, iv->gmbmem, n * 4);
	iv->inflight = m;
	switch (IGBVF_MSG_TYPE(w0)) {
	case IGBVF_MSG_RESET:
		/* The PF forgets what the VF asked for before. */
		memset(&iv->set_mac, 0, sizeof(iv->set_mac));
		memset(&iv->set_mc, 0, sizeof(iv->set_mc));
		memset(&iv->set_lpe, 0, sizeof(iv->set_lpe));
		memset(&iv->set_promisc, 0, sizeof(iv->set_promisc));
		iv->nvlan = 0;
		iv->mac_valid = false;
		break;
	case IGBVF_MSG_SET_MAC:
		iv->set_mac = m;
		break;
	case IGBVF_MSG_SET_MC:
		iv->set_mc = m;
		break;
	case IGBVF_MSG_SET_LPE:
		iv->set_lpe = m;
		break;
	case IGBVF_MSG_SET_PROMISC:
		iv->set_promisc = m;
		break;
	case IGBVF_MSG_SET_VLAN:
		vid = m.w[1] & 0xfff;
		for (i = 0; i < iv->nvlan && iv->vlan[i] != vid; i++)
			;
		if (w0 & IGBVF_VLAN_ADD) {
			if (i == iv->nvlan && iv->nvlan < IGBVF_VLANS)
				iv->vlan[iv->nvlan++] = vid;
		} else if (i < iv->nvlan) {
			iv->vlan[i] = iv->vlan[--iv->nvlan];
			iv->vlan[iv->nvlan] = 0;
		}
		break;
	}
}

/* The guest read mailbox word @w: learn the MAC from a VF_RESET reply. */
static void igbvf_snoop_reply(struct igbvf_dev *iv, u32 w, u32 v)
{
	if (w > 2)
		return;
	iv->rd[w] = v;
	if (w == 2 && IGBVF_MSG_TYPE(iv->rd[0]) == IGBVF_MSG_RESET &&
	    (iv->rd[0] & IGBVF_MSG_ACK)) {
		memcpy(iv->mac, &iv->rd[1], 4);
		iv->mac[4] = iv->rd[2];
		iv->mac[5] = iv->rd[2] >> 8;
		iv->mac_valid = true;
	}
}

static bool igbvf_stat_index(u64 off, int *i)
{
	for (*i = 0; *i < IGBVF_STATS; (*i)++)
		if (igbvf_stat_regs[*i] == off)
			return true;
	return false;
}

/* Queue @q and register @r of a queue register offset, if it is one. */
static bool igbvf_queue_reg(u64 off, bool tx, int *q, u32 *r)
{
	u64 base = tx ? 0x3800 : 0x2800;

	if (off < base || off >= base + 0x100 * IGBVF_QUEUES)
		return false;
	*q = (off - base) / 0x100;
	*r = (off - base) % 0x100;
	return true;
}

static int igbvf_bar_read(struct livemig_device *ld, int bar, u64 off,
			  u64 *val, int size)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	u32 v, r;
	int q, ret;

	if (bar != IGBVF_BAR || size != 4)
		return LIVEMIG_PASS;
	if (off == IGBVF_MBX) {
		ret = igbvf_rd(ld, off, &v);
		if (ret)
			return ret;
		v |= iv->mbx_pending;
		iv->mbx_pending = 0;
		if (v & IGBVF_MBX_PFACK)
			iv->inflight.len = 0;
		*val = v;
		return 0;
	}
	if (off >= IGBVF_MBMEM && off < IGBVF_MBMEM + 4 * IGBVF_MBX_WORDS) {
		ret = igbvf_rd(ld, off, &v);
		if (!ret)
			igbvf_snoop_reply(iv, (off - IGBVF_MBMEM) / 4, v);
		*val = v;
		return ret;
	}
	if (igbvf_stat_index(off, &q)) {
		ret = igbvf_rd(ld, off, &v);
		*val = (u32)(v + iv->stat_off[q]);
		return ret;
	}
	if (!iv->quiesced)
		return LIVEMIG_PASS;
	if (igbvf_queue_reg(off, false, &q, &r) && r == IGBVF_DCTL) {
		*val = iv->rxdctl[q];
		return 0;
	}
	if (igbvf_queue_reg(off, true, &q, &r)) {
		if (r == IGBVF_DCTL) {
			*val = iv->txdctl[q];
			return 0;
		}
		if (r == IGBVF_TAIL && iv->held[q]) {
			*val = iv->tdt[q];
			return 0;
		}
	}
	return LIVEMIG_PASS;
}

/* Shadow what the device does not read back; false: not such a register. */
static bool igbvf_shadow_write(struct igbvf_dev *iv, u64 off, u32 v)
{
	switch (off) {
	case IGBVF_EIMS:
		iv->eims |= v;
		return true;
	case IGBVF_EIMC:
		iv->eims &= ~v;
		return true;
	case IGBVF_EIAC:
		iv->eiac = v;
		return true;
	case IGBVF_EIAM:
		iv->eiam = v;
		return true;
	case IGBVF_IVAR0:
		iv->ivar0 = v;
		return true;
	case IGBVF_IVAR_MISC:
		iv->ivar_misc = v;
		return true;
	case IGBVF_PSRTYPE:
		iv->psrtype = v;
		return true;
	}
	if (off >= IGBVF_EITR(0) && off < IGBVF_EITR(IGBVF_VECTORS)) {
		iv->eitr[(off - IGBVF_EITR(0)) / 4] = v;
		return true;
	}
	return false;
}

static int igbvf_bar_write(struct livemig_device *ld, int bar, u64 off,
			   u64 val, int size)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	u32 v = val, r;
	int q;

	if (igbvf_stopped(ld))
		return -EBUSY;
	if (bar != IGBVF_BAR)
		return LIVEMIG_PASS;
	/* The device takes 32-bit accesses; the engine follows only those. */
	if (size != 4)
		return size == 8 ? -EINVAL : LIVEMIG_PASS;
	igbvf_dma_write(ld, &iv->dma, off, v);
	if (off >= IGBVF_MBMEM && off < IGBVF_MBMEM + 4 * IGBVF_MBX_WORDS) {
		iv->gmbmem[(off - IGBVF_MBMEM) / 4] = v;
		return LIVEMIG_PASS;
	}
	if (off == IGBVF_MBX && (v & IGBVF_MBX_REQ)) {
		igbvf_log_request(iv);
		return LIVEMIG_PASS;
	}
	if (igbvf_shadow_write(iv, off, v))
		return LIVEMIG_PASS;
	if (!iv->quiesced)
		return LIVEMIG_PASS;
	if (igbvf_queue_reg(off, false, &q, &r) && r == IGBVF_DCTL) {
		iv->rxdctl[q] = v;
		return 0;
	}
	if (igbvf_queue_reg(off, true, &q, &r)) {
		if (r == IGBVF_DCTL) {
			iv->txdctl[q] = v;
			return 0;
		}
		if (r == IGBVF_TAIL) {
			/* Hold it: the device would transmit inside it. */
			iv->tdt[q] = v;
			iv->held[q] = true;
			return 0;
		}
	}
	return LIVEMIG_PASS;
}

/* --- quiesce and resume ------------------------------------------------ */

/* Disable RX in the device, keep what the guest set; wait until it is. */
static int igbvf_quiesce(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	ktime_t end = ktime_add_ms(ktime_get(), IGBVF_QUEUE_WAIT_MS);
	int q, ret = 0;
	u32 v;

	if (iv->quiesced)
		return 0;
	for (q = 0; q < IGBVF_QUEUES && !ret; q++) {
		ret = igbvf_rd(ld, IGBVF_RXQ(q, IGBVF_DCTL), &iv->rxdctl[q]);
		ret = ret ?: igbvf_rd(ld, IGBVF_TXQ(q, IGBVF_DCTL),
				      &iv->txdctl[q]);
		ret = ret ?: igbvf_wr(ld, IGBVF_RXQ(q, IGBVF_DCTL),
				      iv->rxdctl[q] & ~IGBVF_QUEUE_ENABLE);
		iv->held[q] = false;
	}
	for (q = 0; q < IGBVF_QUEUES && !ret; q++) {
		for (;;) {
			ret = igbvf_rd(ld, IGBVF_RXQ(q, IGBVF_DCTL), &v);
			if (ret || !(v & IGBVF_QUEUE_ENABLE))
				break;
			if (ktime_after(ktime_get(), end)) {
				ret = -ETIMEDOUT;
				break;
			}
			usleep_range(100, 200);
		}
	}
	if (ret) {
		/* Leave the device as the guest had it. */
		for (q = 0; q < IGBVF_QUEUES; q++)
			igbvf_wr(ld, IGBVF_RXQ(q, IGBVF_DCTL), iv->rxdctl[q]);
		return ret;
	}
	iv->quiesced = true;
	return 0;
}

/* --- the engine's own mailbox exchange (as a VF driver) ---------------- */

static int igbvf_mbx_read(struct livemig_device *ld, u32 *v)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	int ret = igbvf_rd(ld, IGBVF_MBX, v);

	if (!ret)
		iv->mbx_seen |= *v & IGBVF_MBX_R2C;
	return ret;
}

/* Wait until one of @bits was seen, and forget it. */
static int igbvf_mbx_wait(struct livemig_device *ld, u32 bits)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	ktime_t end = ktime_add_ms(ktime_get(), IGBVF_MBX_WAIT_MS);
	u32 v;
	int ret;

	for (;;) {
		ret = igbvf_mbx_read(ld, &v);
		if (ret)
			return ret;
		if (iv->mbx_seen & bits) {
			iv->mbx_seen &= ~bits;
			return 0;
		}
		if (ktime_after(ktime_get(), end))
			return -ETIMEDOUT;
		usleep_range(200, 400);
	}
}

static int igbvf_mbx_lock(struct livemig_device *ld)
{
	ktime_t end = ktime_add_ms(ktime_get(), IGBVF_MBX_WAIT_MS);
	u32 v;
	int ret;

	for (;;) {
		ret = igbvf_wr(ld, IGBVF_MBX, IGBVF_MBX_VFU);
		ret = ret ?: igbvf_mbx_read(ld, &v);
		if (ret || (v & IGBVF_MBX_VFU))
			return ret;
		if (ktime_after(ktime_get(), end))
			return -ETIMEDOUT;
		usleep_range(200, 400);
	}
}

/* Send @m and wait for the PF's ack; with @reply, read the reply too. */
static int igbvf_mbx_call(struct livemig_device *ld, const struct igbvf_msg *m,
			  u32 *reply, u32 nreply)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	u32 v, i;
	int ret;

	ret = igbvf_mbx_lock(ld);
	ret = ret ?: igbvf_mbx_read(ld, &v);
	if (ret)
		return ret;
	iv->mbx_seen &= ~(IGBVF_MBX_PFSTS | IGBVF_MBX_PFACK);
	for (i = 0; i < m->len && !ret; i++)
		ret = igbvf_wr(ld, IGBVF_MBMEM + 4 * i, m->w[i]);
	ret = ret ?: igbvf_wr(ld, IGBVF_MBX, IGBVF_MBX_REQ);
	ret = ret ?: igbvf_mbx_wait(ld, IGBVF_MBX_PFACK);
	ret = ret ?: igbvf_mbx_wait(ld, IGBVF_MBX_PFSTS);
	ret = ret ?: igbvf_mbx_lock(ld);
	for (i = 0; i < nreply && !ret; i++)
		ret = igbvf_rd(ld, IGBVF_MBMEM + 4 * i, &reply[i]);
	ret = ret ?: igbvf_wr(ld, IGBVF_MBX, IGBVF_MBX_ACK);
	if (!ret)
		iv->sent++;
	return ret;
}

/* Send a request; 0 if the PF acked it, -EPROTO if it refused it. */
static int igbvf_mbx_request(struct livemig_device *ld,
			     const struct igbvf_msg *m)
{
	u32 reply;
	int ret;

	if (!m->len)
		return 0;
	ret = igbvf_mbx_call(ld, m, &reply, 1);
	if (ret)
		return ret;
	if (IGBVF_MSG_TYPE(reply) != IGBVF_MSG_TYPE(m->w[0]) ||
	    !(reply & IGBVF_MSG_ACK))
		return -EPROTO;
	return 0;
}

/*
 * VF_RESET through the PF (what an earlier life of this VF left in its
 * mailbox is not ours), then the MAC the guest knows: the one it set
 * itself, else the one the source's PF gave it, if this PF gave another.
 * -EPROTO if the PF refuses that MAC.
 */
static int igbvf_claim_mac(struct livemig_device *ld,
			   const struct igbvf_state *s)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	struct igbvf_msg m = { .len = 1, .w = { IGBVF_MSG_RESET } };
	const struct igbvf_msg *want = &s->set_mac;
	u32 reply[3];
	u8 mac[6];
	int ret;

	iv->mbx_seen = 0;
	ret = igbvf_rd(ld, IGBVF_MBX, &reply[0]);
	ret = ret ?: igbvf_mbx_call(ld, &m, reply, 3);
	if (ret) {
		pci_warn(livemig_pdev(ld),
			 "livemig: igbvf: the PF did not answer VF_RESET (%d); is its interface up?\n",
			 ret);
		return ret;
	}
	if (IGBVF_MSG_TYPE(reply[0]) != IGBVF_MSG_RESET ||
	    !(reply[0] & IGBVF_MSG_ACK))
		return -EPROTO;
	memcpy(mac, &reply[1], 4);
	mac[4] = reply[2];
	mac[5] = reply[2] >> 8;
	if (!want->len && s->mac_valid && memcmp(mac, s->mac, 6)) {
		m.len = 3;
		m.w[0] = IGBVF_MSG_SET_MAC;
		memcpy(&m.w[1], s->mac, 4);
		m.w[2] = s->mac[4] | s->mac[5] << 8;
		want = &m;
	}
	ret = igbvf_mbx_request(ld, want);
	if (ret == -EPROTO) {
		memcpy(mac, &want->w[1], 4);
		mac[4] = want->w[2];
		mac[5] = want->w[2] >> 8;
		pci_warn(livemig_pdev(ld),
			 "livemig: igbvf: the PF refuses this VF the MAC %pM its guest has\n",
			 mac);
	}
	return ret;
}

/* The PF side as the source's guest left it: MAC, then its filters. */
static int igbvf_recreate_pf_side(struct livemig_device *ld,
				  const struct igbvf_state *s)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	struct igbvf_msg m = { .len = 2 };
	unsigned long sent = iv->sent;
	u32 i;
	int ret;

	ret = igbvf_claim_mac(ld, s);
	ret = ret ?: igbvf_mbx_request(ld, &s->set_lpe);
	ret = ret ?: igbvf_mbx_request(ld, &s->set_mc);
	ret = ret ?: igbvf_mbx_request(ld, &s->set_promisc);
	for (i = 0; i < s->nvlan && !ret; i++) {
		m.w[0] = IGBVF_MSG_SET_VLAN | IGBVF_VLAN_ADD;
		m.w[1] = s->vlan[i];
		ret = igbvf_mbx_request(ld, &m);
	}
	iv->replayed += iv->sent - sent;
	return ret;
}

/* Release what quiesce and load held: TX tails, queue enables, vectors. */
static int igbvf_unquiesce(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	int q, ret = 0;

	if (!iv->quiesced)
		return 0;
	if (iv->loaded && iv->inflight.len) {
		/* Its reply reaches the guest through this VF's mailbox. */
		ret = igbvf_mbx_lock(ld);
		for (q = 0; q < iv->inflight.len && !ret; q++)
			ret = igbvf_wr(ld, IGBVF_MBMEM + 4 * q,
				       iv->inflight.w[q]);
		ret = ret ?: igbvf_wr(ld, IGBVF_MBX, IGBVF_MBX_REQ);
		if (ret)
			return ret;
		iv->replayed++;
	}
	for (q = 0; q < IGBVF_QUEUES && !ret; q++) {
		ret = igbvf_wr(ld, IGBVF_TXQ(q, IGBVF_DCTL), iv->txdctl[q]);
		ret = ret ?: igbvf_wr(ld, IGBVF_RXQ(q, IGBVF_DCTL),
				      iv->rxdctl[q]);
		if (!ret && iv->held[q])
			ret = igbvf_wr(ld, IGBVF_TXQ(q, IGBVF_TAIL), iv->tdt[q]);
		if (!ret)
			iv->held[q] = false;
	}
	if (!ret && iv->loaded) {
		ret = igbvf_wr(ld, IGBVF_EIMS, iv->eims);
		/* Have the guest look at its rings once. */
		ret = ret ?: igbvf_wr(ld, IGBVF_EICS, iv->eims);
	}
	if (ret)
		return ret;
	iv->quiesced = false;
	iv->loaded = false;
	return 0;
}

/* --- save -------------------------------------------------------------- */

/*
 * Compatibility data: the PF model (the PF side is re-created through its
 * driver's mailbox protocol), the VF's id, its queue pairs (fixed by the
 * 82576's VF register layout) and its MSI-X vectors as the function
 * reports them.  How many VFs the PF enabled changes neither on the
 * 82576, so it is not part of it.
 */
static int igbvf_identity(struct livemig_device *ld, u8 *blob, u32 max)
{
	struct pci_dev *pdev = livemig_pdev(ld), *pf = pci_physfn(pdev);
	struct igbvf_dev *iv = livemig_priv(ld);

	if (max < IGBVF_IDENTITY_LEN || iv->vectors < 0)
		return -EINVAL;
	memset(blob, 0, IGBVF_IDENTITY_LEN);
	lm_put32(blob, (u32)pf->vendor << 16 | pf->device);
	lm_put32(blob + 4, (u32)pdev->vendor << 16 | pdev->device);
	lm_put32(blob + 8, IGBVF_QUEUES);
	lm_put32(blob + 12, iv->vectors);
	return IGBVF_IDENTITY_LEN;
}

static int igbvf_snapshot(struct livemig_device *ld, struct igbvf_state *s)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	unsigned int i;
	int q, ret = 0;
	u32 v;

	for (q = 0; q < IGBVF_QUEUES && !ret; q++) {
		struct igbvf_queue *sq = &s->q[q];

		for (i = 0; i < ARRAY_SIZE(igbvf_qregs) && !ret; i++)
			ret = igbvf_rd(ld, igbvf_qreg(q, &igbvf_qregs[i]),
				       igbvf_qfield(sq, &igbvf_qregs[i]));
		ret = ret ?: igbvf_rd(ld, IGBVF_RXQ(q, IGBVF_DCTL),
				      &sq->rxdctl);
		ret = ret ?: igbvf_rd(ld, IGBVF_TXQ(q, IGBVF_DCTL),
				      &sq->txdctl);
		sq->tdt_guest = sq->tdt;
		if (iv->quiesced) {
			sq->rxdctl = iv->rxdctl[q];
			sq->txdctl = iv->txdctl[q];
			if (iv->held[q])
				sq->tdt_guest = iv->tdt[q];
		}
	}
	/* Keep what this read clears for the guest. */
	ret = ret ?: igbvf_rd(ld, IGBVF_MBX, &v);
	for (i = 0; i < IGBVF_MBX_WORDS && !ret; i++)
		ret = igbvf_rd(ld, IGBVF_MBMEM + 4 * i, &s->mbmem[i]);
	for (i = 0; i < IGBVF_STATS && !ret; i++) {
		ret = igbvf_rd(ld, igbvf_stat_regs[i], &s->stats[i]);
		s->stats[i] += iv->stat_off[i];
	}
	if (ret)
		return ret;
	iv->mbx_pending |= v & IGBVF_MBX_R2C;
	if (iv->mbx_pending & IGBVF_MBX_PFACK)
		iv->inflight.len = 0;
	memcpy(s->eitr, iv->eitr, sizeof(s->eitr));
	s->ivar0 = iv->ivar0;
	s->ivar_misc = iv->ivar_misc;
	s->eims = iv->eims;
	s->eiac = iv->eiac;
	s->eiam = iv->eiam;
	s->psrtype = iv->psrtype;
	s->mbx_pending = iv->mbx_pending;
	memcpy(s->mac, iv->mac, 6);
	s->mac_valid = iv->mac_valid;
	s->inflight = iv->inflight;
	s->set_mac = iv->set_mac;
	s->set_mc = iv->set_mc;
	s->set_lpe = iv->set_lpe;
	s->set_promisc = iv->set_promisc;
	s->nvlan = iv->nvlan;
	memcpy(s->vlan, iv->vlan, sizeof(s->vlan));
	return 0;
}

static int igbvf_save(struct livemig_device *ld, struct livemig_save *save,
		      enum livemig_save_phase phase)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	struct igbvf_state *s;
	u8 *buf;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	buf = kmalloc(IGBVF_STATE_LEN, GFP_KERNEL);
	if (!s || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = igbvf_snapshot(ld, s);
	if (ret)
		goto out;
	if (phase == LIVEMIG_SAVE_DIRTY && !memcmp(s, &iv->last, sizeof(*s)))
		goto out;
	iv->last = *s;
	igbvf_state_encode(buf, s);
	ret = livemig_emit(save, LM_REC_STATE, buf, IGBVF_STATE_LEN);
out:
	kfree(buf);
	kfree(s);
	return ret;
}

static size_t igbvf_state_size(struct livemig_device *ld)
{
	return LM_REC_HDR_LEN + IGBVF_STATE_LEN;
}

/* --- resume ------------------------------------------------------------ */

static int igbvf_check_identity(struct livemig_device *ld,
				const struct lm_identity *id,
				const u8 *blob, u32 len)
{
	u8 mine[IGBVF_IDENTITY_LEN];

	/* Another PF model or VF layout cannot take the state. */
	if (len != IGBVF_IDENTITY_LEN ||
	    igbvf_identity(ld, mine, sizeof(mine)) != IGBVF_IDENTITY_LEN ||
	    memcmp(mine, blob, IGBVF_IDENTITY_LEN))
		return -LM_EINCOMPAT;
	return 0;
}

static int igbvf_resume_begin(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	iv->staged_valid = false;
	iv->mac_checked = false;
	return 0;
}

static int igbvf_stage(struct livemig_device *ld, u16 type, const u8 *p,
		       u32 len)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	int ret;

	if (type != LM_REC_STATE)
		return -LM_ECORRUPT;
	ret = igbvf_state_decode(p, len, &iv->staged);
	if (ret)
		return ret;
	iv->staged_valid = true;
	return 0;
}

/*
 * A STATE was staged: ask this VF's PF now whether it gives the VF the
 * MAC the guest knows, the first time a STATE says which.  That STATE is
 * PRE_COPY's first (the source still runs; with switchover-ack QEMU
 * stops it only after the destination took that data), so a PF that
 * refuses fails the migration before the downtime instead of at load.
 * Load re-creates the whole PF side from the last STATE anyway.
 */
static int igbvf_preflight(struct livemig_device *ld, u16 type)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	const struct igbvf_state *s = &iv->staged;

	if (iv->mac_checked || !iv->staged_valid ||
	    (!s->mac_valid && !s->set_mac.len))
		return 0;
	iv->mac_checked = true;
	return igbvf_claim_mac(ld, s);
}

/* The queue registers, with both queues disabled (enables wait for RUNNING). */
static int igbvf_load_queues(struct livemig_device *ld,
			     const struct igbvf_state *s)
{
	unsigned int i;
	int q, ret = 0;

	for (q = 0; q < IGBVF_QUEUES && !ret; q++) {
		const struct igbvf_queue *sq = &s->q[q];
		u32 rxd = sq->rxdctl & ~IGBVF_QUEUE_ENABLE;
		u32 txd = sq->txdctl & ~IGBVF_QUEUE_ENABLE;

		ret = igbvf_wr(ld, IGBVF_RXQ(q, IGBVF_DCTL), rxd);
		ret = ret ?: igbvf_wr(ld, IGBVF_TXQ(q, IGBVF_DCTL), txd);
		/* In table order: a disabled queue transmits nothing at TDT. */
		for (i = 0; i < ARRAY_SIZE(igbvf_qregs) && !ret; i++)
			ret = igbvf_wr(ld, igbvf_qreg(q, &igbvf_qregs[i]),
				       igbvf_qget(sq, &igbvf_qregs[i]));
	}
	return ret;
}

static int igbvf_load(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	const struct igbvf_state *s = &iv->staged;
	u32 v;
	int q, i, ret;

	if (!iv->staged_valid)
		return -LM_ECORRUPT;
	ret = igbvf_state_check(s);
	if (ret)
		return ret;
	ret = igbvf_recreate_pf_side(ld, s);
	ret = ret ?: igbvf_load_queues(ld, s);
	for (i = 0; i < IGBVF_VECTORS && !ret; i++)
		ret = igbvf_wr(ld, IGBVF_EITR(i), s->eitr[i]);
	ret = ret ?: igbvf_wr(ld, IGBVF_IVAR0, s->ivar0);
	ret = ret ?: igbvf_wr(ld, IGBVF_IVAR_MISC, s->ivar_misc);
	ret = ret ?: igbvf_wr(ld, IGBVF_EIAC, s->eiac);
	ret = ret ?: igbvf_wr(ld, IGBVF_EIAM, s->eiam);
	ret = ret ?: igbvf_wr(ld, IGBVF_PSRTYPE, s->psrtype);
	ret = ret ?: igbvf_wr(ld, IGBVF_EIMC, ~0u);
	/* The mailbox words as the source's guest left them. */
	ret = ret ?: igbvf_mbx_lock(ld);
	for (i = 0; i < IGBVF_MBX_WORDS && !ret; i++)
		ret = igbvf_wr(ld, IGBVF_MBMEM + 4 * i, s->mbmem[i]);
	ret = ret ?: igbvf_wr(ld, IGBVF_MBX, 0);
	for (i = 0; i < IGBVF_STATS && !ret; i++) {
		ret = igbvf_rd(ld, igbvf_stat_regs[i], &v);
		iv->stat_off[i] = s->stats[i] - v;
	}
	if (ret)
		return ret;
	for (q = 0; q < IGBVF_QUEUES; q++) {
		iv->rxdctl[q] = s->q[q].rxdctl;
		iv->txdctl[q] = s->q[q].txdctl;
		iv->tdt[q] = s->q[q].tdt_guest;
		iv->held[q] = s->q[q].tdt_guest != s->q[q].tdt;
	}
	memcpy(iv->eitr, s->eitr, sizeof(iv->eitr));
	iv->ivar0 = s->ivar0;
	iv->ivar_misc = s->ivar_misc;
	iv->eims = s->eims;
	iv->eiac = s->eiac;
	iv->eiam = s->eiam;
	iv->psrtype = s->psrtype;
	iv->mbx_pending = s->mbx_pending;
	memcpy(iv->gmbmem, s->mbmem, sizeof(iv->gmbmem));
	memcpy(iv->mac, s->mac, 6);
	iv->mac_valid = s->mac_valid;
	iv->inflight = s->inflight;
	iv->set_mac = s->set_mac;
	iv->set_mc = s->set_mc;
	iv->set_lpe = s->set_lpe;
	iv->set_promisc = s->set_promisc;
	iv->nvlan = s->nvlan;
	memcpy(iv->vlan, s->vlan, sizeof(iv->vlan));
	iv->quiesced = true;
	iv->loaded = true;
	return 0;
}

static void igbvf_resume_end(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	iv->staged_valid = false;
}

/* The function was reset: the guest starts over with it. */
static void igbvf_reset_done(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	memset(iv, 0, offsetof(struct igbvf_dev, staged));
}

static void igbvf_show(struct livemig_device *ld, struct seq_file *m)
{
	struct igbvf_dev *iv = livemig_priv(ld);
	int q;

	seq_printf(m, "igbvf_quiesced: %d\n", iv->quiesced);
	for (q = 0; q < IGBVF_QUEUES; q++)
		seq_printf(m, "igbvf_held_tdt%d: %d\n", q, iv->held[q]);
	seq_printf(m, "igbvf_mac: %pM\n", iv->mac);
	seq_printf(m, "igbvf_mac_known: %d\n", iv->mac_valid);
	seq_printf(m, "igbvf_inflight: %u\n", iv->inflight.len);
	seq_printf(m, "igbvf_vlans: %u\n", iv->nvlan);
	seq_printf(m, "igbvf_replayed: %lu\n", iv->replayed);
	seq_printf(m, "igbvf_staged: %d\n", iv->staged_valid);
	seq_printf(m, "igbvf_dma_peeks: %lu\n", iv->dma.peeks);
	seq_printf(m, "igbvf_dma_all: %d\n", iv->dma.all);
}

static void igbvf_dirty_start(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	igbvf_dma_start(ld, &iv->dma);
}

static void igbvf_dirty_sync(struct livemig_device *ld)
{
	struct igbvf_dev *iv = livemig_priv(ld);

	igbvf_dma_sync(ld, &iv->dma);
}

const struct livemig_engine igbvf_engine = {
	.name = "igbvf",
	.engine_id = IGBVF_ENGINE_ID,
	.version = IGBVF_ENGINE_VERSION,
	.max_record = 2048,
	.trapped_bars = BIT(IGBVF_BAR) | BIT(IGBVF_MSIX_BAR),
	.priv_size = sizeof(struct igbvf_dev),
	.tracks_dma = true,
	.match = igbvf_match,
	.open = igbvf_open,
	.close = igbvf_close,
	.bar_read = igbvf_bar_read,
	.bar_write = igbvf_bar_write,
	.quiesce = igbvf_quiesce,
	.unquiesce = igbvf_unquiesce,
	.identity = igbvf_identity,
	.save = igbvf_save,
	.state_size = igbvf_state_size,
	.check_identity = igbvf_check_identity,
	.resume_begin = igbvf_resume_begin,
	.stage = igbvf_stage,
	.preflight = igbvf_preflight,
	.load = igbvf_load,
	.resume_end = igbvf_resume_end,
	.reset_done = igbvf_reset_done,
	.dirty_start = igbvf_dirty_start,
	.dirty_sync = igbvf_dirty_sync,
	.show = igbvf_show,
};
