// SPDX-License-Identifier: GPL-2.0
/*
 * igbvf's STATE record, encoded, decoded and checked without the device.
 *
 * Payload (IGBVF_STATE_LEN bytes, little-endian u32 unless said): for each
 * queue pair the eighteen registers of struct igbvf_queue in its order;
 * EITR0..2, IVAR0, IVAR_MISC, EIMS, EIAC, EIAM, PSRTYPE, the pending
 * mailbox bits; the sixteen mailbox words; the nine statistics counters;
 * the MAC (6 bytes), a byte 1 if it is known, a zero byte; five messages
 * (in flight, SET_MAC, SET_MULTICAST, SET_LPE, SET_PROMISC), each a word
 * count and sixteen words; the VLAN count and 32 VLAN ids; eight zero bytes.
 */
#include "igbvf_rec.h"

struct igbvf_cur {
	u8 *w;
	const u8 *r;
};

static void put(struct igbvf_cur *c, u32 v)
{
	lm_put32(c->w, v);
	c->w += 4;
}

static u32 get(struct igbvf_cur *c)
{
	u32 v = lm_get32(c->r);

	c->r += 4;
	return v;
}

static void put_msg(struct igbvf_cur *c, const struct igbvf_msg *m)
{
	u32 i;

	put(c, m->len);
	for (i = 0; i < IGBVF_MBX_WORDS; i++)
		put(c, i < m->len ? m->w[i] : 0);
}

static void get_msg(struct igbvf_cur *c, struct igbvf_msg *m)
{
	int i;

	m->len = get(c);
	for (i = 0; i < IGBVF_MBX_WORDS; i++)
		m->w[i] = get(c);
}

/**
 * igbvf_msg_words() - how long a request is
 * @w0: its first word
 *
 * Return: the words the e1000 VF protocol sends for the request that
 * starts with @w0 (at most IGBVF_MBX_WORDS), or 0 for a type the engine
 * does not log.
 */
u32 igbvf_msg_words(u32 w0)
{
	u32 n;

	switch (IGBVF_MSG_TYPE(w0)) {
	case IGBVF_MSG_RESET:
		return 1;
	case IGBVF_MSG_SET_MAC:
		return 3;
	case IGBVF_MSG_SET_MC:
		/* the count of 16-bit hashes is in bits 16..23 */
		n = 1 + (((w0 >> 16) & 0xff) + 1) / 2;
		return n > IGBVF_MBX_WORDS ? IGBVF_MBX_WORDS : n;
	case IGBVF_MSG_SET_VLAN:
	case IGBVF_MSG_SET_LPE:
	case IGBVF_MSG_SET_PROMISC:
		return 2;
	default:
		return 0;
	}
}

/**
 * igbvf_state_encode() - the STATE payload of a snapshot
 * @p: IGBVF_STATE_LEN bytes
 * @s: the snapshot
 */
void igbvf_state_encode(u8 *p, const struct igbvf_state *s)
{
	struct igbvf_cur c = { .w = p };
	u32 i;

	for (i = 0; i < IGBVF_QUEUES; i++) {
		const struct igbvf_queue *q = &s->q[i];

		put(&c, q->rdbal);
		put(&c, q->rdbah);
		put(&c, q->rdlen);
		put(&c, q->srrctl);
		put(&c, q->rdh);
		put(&c, q->rdt);
		put(&c, q->rxdctl);
		put(&c, q->rxctl);
		put(&c, q->tdbal);
		put(&c, q->tdbah);
		put(&c, q->tdlen);
		put(&c, q->tdh);
		put(&c, q->tdt);
		put(&c, q->tdt_guest);
		put(&c, q->txdctl);
		put(&c, q->txctl);
		put(&c, q->tdwbal);
		put(&c, q->tdwbah);
	}
	for (i = 0; i < IGBVF_VECTORS; i++)
		put(&c, s->eitr[i]);
	put(&c, s->ivar0);
	put(&c, s->ivar_misc);
	put(&c, s->eims);
	put(&c, s->eiac);
	put(&c, s->eiam);
	put(&c, s->psrtype);
	put(&c, s->mbx_pending);
	for (i = 0; i < IGBVF_MBX_WORDS; i++)
		put(&c, s->mbmem[i]);
	for (i = 0; i < IGBVF_STATS; i++)
		put(&c, s->stats[i]);
	for (i = 0; i < 6; i++)
		*c.w++ = s->mac[i];
	*c.w++ = s->mac_valid;
	*c.w++ = 0;
	put_msg(&c, &s->inflight);
	put_msg(&c, &s->set_mac);
	put_msg(&c, &s->set_mc);
	put_msg(&c, &s->set_lpe);
	put_msg(&c, &s->set_promisc);
	put(&c, s->nvlan);
	for (i = 0; i < IGBVF_VLANS; i++)
		put(&c, i < s->nvlan ? s->vlan[i] : 0);
	put(&c, 0);
	put(&c, 0);
}

/**
 * igbvf_state_decode() - read a STATE payload
 * @p: the payload
 * @len: its length
 * @s: the state it holds
 *
 * Structural checks only; igbvf_state_check() says whether a VF can be
 * put in the state.
 *
 * Return: 0, or -LM_ECORRUPT for another length or reserved bytes that
 * are not zero.
 */
int igbvf_state_decode(const u8 *p, u32 len, struct igbvf_state *s)
{
	struct igbvf_cur c = { .r = p };
	int i;

	if (len != IGBVF_STATE_LEN || p[IGBVF_STATE_LEN - 9 - 4 * IGBVF_VLANS -
					  4 - 5 * IGBVF_MSG_BYTES] ||
	    lm_get64(p + IGBVF_STATE_LEN - 8))
		return -LM_ECORRUPT;
	for (i = 0; i < IGBVF_QUEUES; i++) {
		struct igbvf_queue *q = &s->q[i];

		q->rdbal = get(&c);
		q->rdbah = get(&c);
		q->rdlen = get(&c);
		q->srrctl = get(&c);
		q->rdh = get(&c);
		q->rdt = get(&c);
		q->rxdctl = get(&c);
		q->rxctl = get(&c);
		q->tdbal = get(&c);
		q->tdbah = get(&c);
		q->tdlen = get(&c);
		q->tdh = get(&c);
		q->tdt = get(&c);
		q->tdt_guest = get(&c);
		q->txdctl = get(&c);
		q->txctl = get(&c);
		q->tdwbal = get(&c);
		q->tdwbah = get(&c);
	}
	for (i = 0; i < IGBVF_VECTORS; i++)
		s->eitr[i] = get(&c);
	s->ivar0 = get(&c);
	s->ivar_misc = get(&c);
	s->eims = get(&c);
	s->eiac = get(&c);
	s->eiam = get(&c);
	s->psrtype = get(&c);
	s->mbx_pending = get(&c);
	for (i = 0; i < IGBVF_MBX_WORDS; i++)
		s->mbmem[i] = get(&c);
	for (i = 0; i < IGBVF_STATS; i++)
		s->stats[i] = get(&c);
	for (i = 0; i < 6; i++)
		s->mac[i] = *c.r++;
	if (*c.r > 1)
		return -LM_ECORRUPT;
	s->mac_valid = *c.r;
	c.r += 2;
	get_msg(&c, &s->inflight);
	get_msg(&c, &s->set_mac);
	get_msg(&c, &s->set_mc);
	get_msg(&c, &s->set_lpe);
	get_msg(&c, &s->set_promisc);
	s->nvlan = get(&c);
	for (i = 0; i < IGBVF_VLANS; i++)
		s->vlan[i] = get(&c);
	return 0;
}

/* A logged message of type @type: none, or one of its own length. */
static bool igbvf_msg_ok(const struct igbvf_msg *m, u32 type)
{
	int i;

	if (!m->len)
		goto rest;
	if (m->len > IGBVF_MBX_WORDS ||
	    (type && IGBVF_MSG_TYPE(m->w[0]) != type) ||
	    igbvf_msg_words(m->w[0]) != m->len)
		return false;
rest:
	for (i = m->len; i < IGBVF_MBX_WORDS; i++)
		if (m->w[i])
			return false;
	return true;
}

/* A ring: 128-byte aligned length within bounds, head and tail in it. */
static bool igbvf_ring_ok(u32 len, u32 head, u32 tail)
{
	u32 n = len / 16;

	if (len % 128 || len > IGBVF_RING_MAX)
		return false;
	if (!n)
		return !head && !tail;
	return head < n && tail < n;
}

/**
 * igbvf_state_check() - can a stopped VF be put in this state?
 * @s: the state a stream staged
 *
 * Rings of whole descriptor blocks with head and tail inside them, a
 * device TX tail equal to its head if the queue is enabled (the device
 * transmits inside the write; a tail written to a disabled queue stays
 * apart from the head, and load writes it with the queue disabled, so
 * nothing is sent), logged messages of their own type and length, at most
 * IGBVF_VLANS VLAN ids of 12 bits, pending mailbox bits only of those a
 * read clears.
 *
 * Return: 0 or -LM_ECORRUPT.
 */
int igbvf_state_check(const struct igbvf_state *s)
{
	u32 i;

	for (i = 0; i < IGBVF_QUEUES; i++) {
		const struct igbvf_queue *q = &s->q[i];

		if (!igbvf_ring_ok(q->rdlen, q->rdh, q->rdt) ||
		    !igbvf_ring_ok(q->tdlen, q->tdh, q->tdt) ||
		    !igbvf_ring_ok(q->tdlen, q->tdh, q->tdt_guest) ||
		    (q->tdt != q->tdh && q->txdctl & IGBVF_QUEUE_ENABLE))
			return -LM_ECORRUPT;
	}
	if (s->mbx_pending & ~IGBVF_MBX_R2C || s->nvlan > IGBVF_VLANS)
		return -LM_ECORRUPT;
	for (i = 0; i < IGBVF_VLANS; i++)
		if (s->vlan[i] > (i < s->nvlan ? 0xfff : 0))
			return -LM_ECORRUPT;
	if (!igbvf_msg_ok(&s->inflight, 0) ||
	    !igbvf_msg_ok(&s->set_mac, IGBVF_MSG_SET_MAC) ||
	    !igbvf_msg_ok(&s->set_mc, IGBVF_MSG_SET_MC) ||
	    !igbvf_msg_ok(&s->set_lpe, IGBVF_MSG_SET_LPE) ||
	    !igbvf_msg_ok(&s->set_promisc, IGBVF_MSG_SET_PROMISC))
		return -LM_ECORRUPT;
	return 0;
}
