/*
 * holds.c — legal holds reported by agents (SPEC §15): HOLD_ADDED and
 * HOLD_REMOVED audit records, metadata only (hold id, message id or
 * subject pseudonym, node, time). The reason for a hold stays at the
 * agent. The notice is echoed after the commit so the agent stops
 * repeating it; a repeat writes nothing new.
 *
 * A hold on one message is audited with the pseudonym, type and sender
 * the broker recorded when it accepted that message (DB_ADDR), so that
 * `haven audit sar` for the child finds it. The agent is not asked for
 * the pseudonym: a HoldNotice is unsigned metadata, and an agent that
 * named one could tie a hold on this message to another child's records.
 * The broker's own copy is the one every other record of the message
 * carries, and it is attached only when the holding node was a party to
 * the message (its sender or a recipient).
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "hv_events.h"
#include "hv_log.h"
#include "hv_util.h"

/*
 * The facts the broker recorded for message id when node is its sender
 * or one of its recipients. Returns HV_OK, HV_ENOTFOUND (the broker never
 * accepted id, or node was no party to it) or a store error.
 */
static hv_err
party_facts(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *node, struct addr_info *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	hv_err e = HV_ENOTFOUND;
	int rc;

	/* A recipient: its own (id, node) entry. */
	if ((e = addr_get(b, txn, id, node, out)) != HV_ENOTFOUND)
		return e;
	/* The sender: any recipient's entry names it. */
	if (mdb_cursor_open(txn, b->db[DB_ADDR], &cur) != 0)
		return HV_EIO;
	k.mv_data = (void *)id;
	k.mv_size = HV_ID_LEN;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size > HV_ID_LEN &&
	    k.mv_size - HV_ID_LEN <= HV_NODE_MAX &&
	    memcmp(k.mv_data, id, HV_ID_LEN) == 0) {
		char r[HV_NODE_MAX + 1];

		memcpy(r, (uint8_t *)k.mv_data + HV_ID_LEN,
		    k.mv_size - HV_ID_LEN);
		r[k.mv_size - HV_ID_LEN] = '\0';
		e = addr_get(b, txn, id, r, out);
		if (e == HV_OK && strcmp(out->sender, node) != 0)
			e = HV_ENOTFOUND;
	}
	mdb_cursor_close(cur);
	return e;
}

hv_err
holds_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__HoldNotice *h, struct outbox *o)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	struct hv_audit_rec rec;
	struct addr_info ai;
	uint8_t k[HV_ID_LEN + HV_NODE_MAX + 2];
	char hex[HV_ID_HEX_LEN + 1], what[HV_NODE_MAX + 64];
	size_t kl;
	MDB_val v;
	hv_err e;

	if (h->hold_id.len != HV_ID_LEN ||
	    (h->message_id.len != HV_ID_LEN && h->subject.len != 32) ||
	    (h->message_id.len != 0 && h->message_id.len != HV_ID_LEN) ||
	    (h->subject.len != 0 && h->subject.len != 32)) {
		const char *msg =
		    "A HoldNotice names a 16-byte hold id and a "
		    "16-byte message id or a 32-byte subject pseudonym.";

		if ((e = audit_reject(b, txn, c->node, NULL, HV_EMALFORMED, msg,
		         NULL)) != HV_OK)
			return e;
		return reply_error(o, c, hv_errname(HV_EMALFORMED), msg);
	}
	/* Seen: hold id || node || 'H' / 'h' (added / removed). */
	memcpy(k, h->hold_id.data, HV_ID_LEN);
	kl = HV_ID_LEN +
	    (size_t)snprintf((char *)k + HV_ID_LEN, sizeof(k) - HV_ID_LEN, "%s",
	        c->node);
	k[kl++] = h->removed ? 'h' : 'H';
	e = store_get(txn, b->db[DB_HACKS], k, kl, &v);
	if (e != HV_OK && e != HV_ENOTFOUND)
		return e;
	if (e == HV_ENOTFOUND) {
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.event, sizeof(rec.event), "%s",
		    hv_event_name(
		        h->removed ? HV_EV_HOLD_REMOVED : HV_EV_HOLD_ADDED));
		snprintf(rec.sender, sizeof(rec.sender), "%s", c->node);
		snprintf(rec.actor, sizeof(rec.actor), "%s", c->node);
		if (h->message_id.len == HV_ID_LEN) {
			rec.has_id = 1;
			memcpy(rec.id, h->message_id.data, HV_ID_LEN);
			snprintf(what, sizeof(what), "a message");
			e = party_facts(b, txn, rec.id, c->node, &ai);
			if (e != HV_OK && e != HV_ENOTFOUND)
				return e;
			if (e == HV_OK) {
				rec.has_subject = 1;
				memcpy(rec.subject, ai.subject, 32);
				snprintf(rec.type, sizeof(rec.type), "%s",
				    ai.type);
				snprintf(what, sizeof(what),
				    "a message from %s", ai.sender);
			} else
				snprintf(what, sizeof(what),
				    "a message the broker has no record "
				    "of it sending or receiving");
		} else {
			rec.has_subject = 1;
			memcpy(rec.subject, h->subject.data, 32);
			snprintf(what, sizeof(what), "a child's records");
		}
		hv_hex(h->hold_id.data, HV_ID_LEN, hex);
		snprintf(rec.reason, sizeof(rec.reason), "%.16s", hex);
		snprintf(rec.detail, sizeof(rec.detail),
		    "Legal hold %s on %s "
		    "%s at %s.",
		    hex, what, h->removed ? "removed" : "added", c->node);
		if ((e = audit_append(b, txn, &rec)) != HV_OK ||
		    (e = store_put(txn, b->db[DB_HACKS], k, kl, "", 0)) !=
		        HV_OK)
			return e;
		hv_log_info("hold %s %s at %s", hex,
		    h->removed ? "removed" : "added", c->node);
	}
	f.kind_case = HAVEN__FRAME__KIND_HOLD_NOTICE;
	f.hold_notice = (Haven__HoldNotice *)h;
	return reply_frame(o, c, &f);
}
