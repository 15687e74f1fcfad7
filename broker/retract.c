/*
 * retract.c — a sender takes a message back (SPEC §15).
 *
 * The broker checks that the connection's node sent the message and signed
 * the retraction, then, in the batch's transaction: copies still queued are
 * withdrawn (queue entry and, with the last, the ciphertext removed;
 * WITHDRAWN audited per recipient and told to the sender); each recipient
 * that has the message gets a RETRACTED receipt carrying the sender's
 * signed retraction, which its agent verifies and applies, and whose ack
 * is audited RETRACTION_DELIVERED. RETRACTED itself is audited with who
 * decided it and the reason code; the reason is never free text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_events.h"
#include "hv_log.h"
#include "hv_receipt.h"
#include "hv_retract.h"
#include "hv_util.h"

#define KEY_MAX (HV_NODE_MAX + 1 + HV_ID_LEN + 8 + 1)

/* One recipient of the message retracted. */
struct rtarget {
	char node[HV_NODE_MAX + 1];
	struct addr_info ai;
};

/* Refuses the retraction: a REJECTED record and an Error reply. */
static hv_err
refuse(struct broker *b, MDB_txn *txn, const struct conn *c, hv_err code,
    const char *msg, struct outbox *o)
{
	hv_err e;

	if ((e = audit_reject(b, txn, c->node, NULL, code, msg, NULL)) != HV_OK)
		return e;
	hv_log_info("refused a retraction from %s: %s", c->node,
	    hv_errname(code));
	return reply_error(o, c, hv_errname(code), msg);
}

/*
 * The recipients of id with their DB_ADDR facts (at most
 * HV_MAX_RECIPIENTS). *n is 0 for a message the broker never accepted.
 */
static hv_err
targets(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    struct rtarget *t, size_t *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	hv_err e = HV_OK;
	int rc;

	*n = 0;
	if (mdb_cursor_open(txn, b->db[DB_ADDR], &cur) != 0)
		return HV_EIO;
	k.mv_data = (void *)id;
	k.mv_size = HV_ID_LEN;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && *n < HV_MAX_RECIPIENTS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t nl = k.mv_size - HV_ID_LEN;

		if (k.mv_size <= HV_ID_LEN ||
		    memcmp(k.mv_data, id, HV_ID_LEN) != 0)
			break;
		if (nl > HV_NODE_MAX)
			continue;
		memcpy(t[*n].node, (uint8_t *)k.mv_data + HV_ID_LEN, nl);
		t[*n].node[nl] = '\0';
		if ((e = addr_get(b, txn, id, t[*n].node, &t[*n].ai)) != HV_OK)
			break;
		(*n)++;
	}
	mdb_cursor_close(cur);
	return e;
}

/* 1 when node has id in flight (sent, not yet acknowledged). */
static int
in_flight(struct broker *b, const char *node, const uint8_t id[HV_ID_LEN])
{
	struct session *s = session_find(b, node);

	for (size_t i = 0; s != NULL && i < s->n_inflight; i++)
		if (memcmp(s->inflight[i].id, id, HV_ID_LEN) == 0)
			return 1;
	return 0;
}

/* Queues for node a RETRACTED receipt carrying the signed retraction. */
static hv_err
queue_retraction(struct broker *b, MDB_txn *txn, const Haven__Retraction *r,
    const char *node, uint64_t audit_seq)
{
	Haven__Receipt rc = HAVEN__RECEIPT__INIT;
	uint8_t k[KEY_MAX], *rb = NULL, *buf = NULL;
	size_t rl, n, kl;
	hv_err e;

	if ((e = hv_retract_pack(r, &rb, &rl)) != HV_OK)
		return e;
	rc.id = r->id;
	rc.status = (char *)hv_status_name(HV_ST_RETRACTED);
	rc.code = r->reason;
	rc.message = "";
	rc.node = (char *)node;
	rc.by = r->decided_by;
	rc.at = hv_now_ms();
	rc.audit_seq = audit_seq;
	if ((e = hv_receipt_sign(&rc, b->keys)) != HV_OK)
		goto out;
	rc.receipt_seq = ++b->txn_rseq;
	rc.retraction.data = rb;
	rc.retraction.len = rl;
	n = haven__receipt__get_packed_size(&rc);
	if ((buf = malloc(n)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	haven__receipt__pack(&rc, buf);
	kl = key_node_seq(k, node, rc.receipt_seq);
	e = store_put(txn, b->db[DB_RCPTQ], k, kl, buf, n);
out:
	free(rc.signature.data);
	free(buf);
	free(rb);
	return e;
}

/* Withdraws node's queued copy, or sends it the retraction. */
static hv_err
apply_to(struct broker *b, MDB_txn *txn, const Haven__Retraction *r,
    const struct rtarget *t, uint64_t retracted_seq)
{
	struct hv_audit_rec rec;
	int found = 0;
	hv_err e;

	if (!in_flight(b, t->node, r->id.data) &&
	    (e = dequeue(b, txn, t->node, r->id.data, &found)) != HV_OK)
		return e;
	if (!found)
		return queue_retraction(b, txn, r, t->node, retracted_seq);
	b->scrub_due = 1;
	rec_for(&rec, hv_event_name(HV_EV_WITHDRAWN), r->id.data, &t->ai,
	    t->node);
	rec.reason[0] = '\0';
	snprintf(rec.reason, sizeof(rec.reason), "%.31s", r->reason);
	snprintf(rec.detail, sizeof(rec.detail),
	    "Withdrawn before delivery "
	    "to %.64s: retracted by the sender.",
	    t->node);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	return receipt_queue_why(b, txn, r->id.data, t->ai.sender,
	    hv_status_name(HV_ST_WITHDRAWN), r->reason, NULL, t->node, NULL,
	    rec.seq);
}

hv_err
retract_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Retraction *r, struct outbox *o)
{
	struct rtarget t[HV_MAX_RECIPIENTS];
	struct hv_audit_rec rec;
	struct hv_errdetail d;
	uint8_t mk[HV_ID_LEN + HV_NODE_MAX + 1];
	size_t n, ml;
	char hex[HV_ID_HEX_LEN + 1], msg[320];
	MDB_val v;
	hv_err e;

	hv_errclear(&d);
	if (hv_retract_check(r, &d) != HV_OK) {
		snprintf(msg, sizeof(msg), "The retraction is malformed: %s",
		    hv_errmsg(HV_EMALFORMED, &d));
		return refuse(b, txn, c, HV_EMALFORMED, msg, o);
	}
	if ((e = targets(b, txn, r->id.data, t, &n)) != HV_OK)
		return e;
	if (n == 0)
		return refuse(b, txn, c, HV_ENOTFOUND,
		    "The broker accepted "
		    "no message with the id this retraction names.",
		    o);
	if (strcmp(t[0].ai.sender, c->node) != 0 ||
	    strcmp(r->sender, c->node) != 0) {
		snprintf(msg, sizeof(msg),
		    "Only the sender of a message may "
		    "retract it, and %s did not send it.",
		    c->node);
		return refuse(b, txn, c, HV_ESENDERMISMATCH, msg, o);
	}
	if (hv_retract_verify(r, hv_directory_node(b->dir, c->node)) != HV_OK)
		return refuse(b, txn, c, HV_EBADSIG,
		    "The retraction's "
		    "signature does not verify with its sender's key.",
		    o);

	/* A repeat (the agent resends until it hears back): nothing new. */
	memcpy(mk, r->id.data, HV_ID_LEN);
	ml = HV_ID_LEN +
	    (size_t)snprintf((char *)mk + HV_ID_LEN, sizeof(mk) - HV_ID_LEN,
	        "%s", c->node);
	mk[ml++] = 'R';
	if ((e = store_get(txn, b->db[DB_HACKS], mk, ml, &v)) == HV_OK)
		return HV_OK;
	if (e != HV_ENOTFOUND)
		return e;

	rec_for(&rec, hv_event_name(HV_EV_RETRACTED), r->id.data, &t[0].ai,
	    r->decided_by);
	rec.n_recipients = n;
	for (size_t i = 0; i < n; i++)
		snprintf(rec.recipients[i], sizeof(rec.recipients[i]), "%.64s",
		    t[i].node);
	snprintf(rec.reason, sizeof(rec.reason), "%.31s", r->reason);
	snprintf(rec.detail, sizeof(rec.detail),
	    "Retracted by its sender %s, "
	    "decided by %.64s: %.64s.",
	    c->node, r->decided_by, r->reason);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		if ((e = apply_to(b, txn, r, &t[i], rec.seq)) != HV_OK)
			return e;
	if ((e = receipt_queue_why(b, txn, r->id.data, c->node,
	         hv_status_name(HV_ST_RETRACTED), r->reason, NULL, c->node,
	         r->decided_by, rec.seq)) != HV_OK)
		return e;
	if ((e = store_put(txn, b->db[DB_HACKS], mk, ml, "", 0)) != HV_OK)
		return e;
	hv_hex(r->id.data, HV_ID_LEN, hex);
	hv_log_info("retracted %s by %s (%s)", hex, c->node, r->reason);
	return HV_OK;
}

hv_err
retract_acked(struct broker *b, MDB_txn *txn, const struct conn *c,
    const uint8_t *rb, size_t rl)
{
	Haven__Receipt *rc = haven__receipt__unpack(NULL, rl, rb);
	struct hv_audit_rec rec;
	struct addr_info ai;
	hv_err e = HV_OK;

	if (rc == NULL)
		return HV_OK;
	if (!hv_status_is(rc->status, HV_ST_RETRACTED) ||
	    rc->retraction.len == 0 || rc->id.len != HV_ID_LEN)
		goto out;
	if ((e = addr_get(b, txn, rc->id.data, c->node, &ai)) != HV_OK) {
		e = e == HV_ENOTFOUND ? HV_OK : e;
		goto out;
	}
	rec_for(&rec, hv_event_name(HV_EV_RETRACTION_DELIVERED), rc->id.data,
	    &ai, c->node);
	snprintf(rec.reason, sizeof(rec.reason), "%s", rc->code);
	snprintf(rec.detail, sizeof(rec.detail),
	    "%s has applied the "
	    "retraction (its copy erased, or kept whole under a legal hold).",
	    c->node);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		goto out;
	e = receipt_queue_why(b, txn, rc->id.data, ai.sender,
	    hv_status_name(HV_ST_RETRACTION_DELIVERED), rc->code, NULL, c->node,
	    NULL, rec.seq);
out:
	haven__receipt__free_unpacked(rc, NULL);
	return e;
}
