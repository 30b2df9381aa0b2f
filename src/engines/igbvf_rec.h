/* SPDX-License-Identifier: GPL-2.0 */
/*
 * igbvf's records (igbvf_rec.c): the STATE record's layout and the checks
 * a resuming stream's STATE must pass, without the device.  Included by
 * igbvf.c; pure C over include/livemig/stream.h, like edu_rec.h, so that
 * a userspace fuzzer can build it through tools/kshim.h.
 */
#ifndef LIVEMIG_IGBVF_REC_H
#define LIVEMIG_IGBVF_REC_H

#ifdef __KERNEL__
#include <linux/bits.h>
#endif
#include "livemig/stream.h"

#define IGBVF_QUEUES		2	/* a VF of the 82576 has two queue pairs */
#define IGBVF_VECTORS		3	/* and three MSI-X vectors */
#define IGBVF_MBX_WORDS		16	/* VMBMEM */
#define IGBVF_STATS		9
#define IGBVF_VLANS		32	/* VLAN ids a state may carry */
#define IGBVF_RING_MAX		(1024u * 1024u)	/* bytes of one descriptor ring */

/* Mailbox messages of the e1000 VF<->PF protocol (word 0, low 16 bits). */
#define IGBVF_MSG_RESET		0x01
#define IGBVF_MSG_SET_MAC	0x02
#define IGBVF_MSG_SET_MC	0x03
#define IGBVF_MSG_SET_VLAN	0x04
#define IGBVF_MSG_SET_LPE	0x05
#define IGBVF_MSG_SET_PROMISC	0x06
#define IGBVF_MSG_TYPE(w)	((w) & 0xffff)
#define IGBVF_MSG_ACK		0x80000000u
#define IGBVF_MSG_NACK		0x40000000u
#define IGBVF_MSG_CTS		0x20000000u
#define IGBVF_VLAN_ADD		BIT(16)

/* V2PMAILBOX bits. */
#define IGBVF_MBX_REQ		BIT(0)
#define IGBVF_MBX_ACK		BIT(1)
#define IGBVF_MBX_VFU		BIT(2)
#define IGBVF_MBX_PFU		BIT(3)
#define IGBVF_MBX_PFSTS		BIT(4)
#define IGBVF_MBX_PFACK		BIT(5)
#define IGBVF_MBX_RSTI		BIT(6)
#define IGBVF_MBX_RSTD		BIT(7)
/* The bits a read clears: kept for the guest when the engine reads them. */
#define IGBVF_MBX_R2C		(IGBVF_MBX_PFSTS | IGBVF_MBX_PFACK | \
				 IGBVF_MBX_RSTD)

#define IGBVF_QUEUE_ENABLE	BIT(25)	/* RXDCTL, TXDCTL */

/**
 * struct igbvf_msg - one mailbox message the guest sent
 * @len: words in @w, 0 when there is none
 * @w: the message
 */
struct igbvf_msg {
	u32 len;
	u32 w[IGBVF_MBX_WORDS];
};

/**
 * struct igbvf_queue - one queue pair's registers
 * @rdbal: RX ring base (low), and so on down to @rxctl, as the device holds
 *	them, except @rxdctl: the value the guest last wrote (the engine
 *	keeps RX disabled while quiesced)
 * @rdbah: RX ring base (high)
 * @rdlen: RX ring length in bytes
 * @srrctl: RX buffer sizes and descriptor type
 * @rdh: RX head
 * @rdt: RX tail
 * @rxdctl: RX queue control as the guest set it
 * @rxctl: RX DCA control
 * @tdbal: TX ring base (low)
 * @tdbah: TX ring base (high)
 * @tdlen: TX ring length in bytes
 * @tdh: TX head
 * @tdt: TX tail as the device holds it (equal to @tdh while the queue
 *	is enabled: the device transmits inside the tail write)
 * @tdt_guest: TX tail as the guest wrote it; differs from @tdt when the
 *	engine held a tail write while quiesced
 * @txdctl: TX queue control as the guest set it
 * @txctl: TX DCA control
 * @tdwbal: TX head write-back address (low)
 * @tdwbah: TX head write-back address (high)
 */
struct igbvf_queue {
	u32 rdbal, rdbah, rdlen, srrctl, rdh, rdt, rxdctl, rxctl;
	u32 tdbal, tdbah, tdlen, tdh, tdt, tdt_guest, txdctl, txctl;
	u32 tdwbal, tdwbah;
};

/**
 * struct igbvf_state - what travels for one VF
 * @q: the queue pairs
 * @eitr: interrupt throttling per vector
 * @ivar0: queue-to-vector mapping (as last written)
 * @ivar_misc: mailbox-to-vector mapping (as last written)
 * @eims: enabled interrupt vectors (the engine's shadow: EIMS/EIMC writes)
 * @eiac: auto-clear vectors (as last written)
 * @eiam: auto-mask vectors (as last written)
 * @psrtype: packet split receive type
 * @mbx_pending: read-to-clear mailbox bits the guest has not read yet
 * @mbmem: the mailbox memory
 * @stats: the statistics counters as the guest reads them
 * @mac: the MAC address the PF gave the VF, if @mac_valid
 * @mac_valid: the guest read the PF's reply to VF_RESET
 * @inflight: a request the guest sent and the PF has not acked yet
 * @set_mac: the last SET_MAC_ADDR the guest sent
 * @set_mc: the last SET_MULTICAST
 * @set_lpe: the last SET_LPE
 * @set_promisc: the last SET_PROMISC
 * @nvlan: VLAN ids in @vlan
 * @vlan: the VLAN ids the guest added and did not remove
 */
struct igbvf_state {
	struct igbvf_queue q[IGBVF_QUEUES];
	u32 eitr[IGBVF_VECTORS];
	u32 ivar0, ivar_misc, eims, eiac, eiam, psrtype;
	u32 mbx_pending;
	u32 mbmem[IGBVF_MBX_WORDS];
	u32 stats[IGBVF_STATS];
	u8 mac[6];
	bool mac_valid;
	struct igbvf_msg inflight, set_mac, set_mc, set_lpe, set_promisc;
	u32 nvlan;
	u32 vlan[IGBVF_VLANS];
};

/* Bytes of the STATE payload (see igbvf_state_encode()). */
#define IGBVF_QUEUE_WORDS	18
#define IGBVF_MSG_BYTES		(4 + 4 * IGBVF_MBX_WORDS)
#define IGBVF_STATE_LEN							\
	(4 * (IGBVF_QUEUES * IGBVF_QUEUE_WORDS + IGBVF_VECTORS + 7 +	\
	      IGBVF_MBX_WORDS + IGBVF_STATS) +				\
	 8 + 5 * IGBVF_MSG_BYTES + 4 + 4 * IGBVF_VLANS + 8)

u32 igbvf_msg_words(u32 w0);
void igbvf_state_encode(u8 *p, const struct igbvf_state *s);
int igbvf_state_decode(const u8 *p, u32 len, struct igbvf_state *s);
int igbvf_state_check(const struct igbvf_state *s);

#endif /* LIVEMIG_IGBVF_REC_H */
