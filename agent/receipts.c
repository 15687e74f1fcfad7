/*
 * Receipts: what the broker said about each message this agent sent. A
 * verified receipt (link.c checks the broker's signature) is recorded once
 * in the message's timeline and published on the alert bus; the status
 * documents of GET /v1/messages/ID are read from that timeline.
 *
 * Recording a receipt is a few named steps in one transaction: find the
 * message and drop a repeat; hold it for a retry when the broker's store
 * was full; re-sign and resend once after a CLOCK_SKEW caused by holding
 * it; settle a verdict (ACCEPTED or REJECTED) so it is no longer pending;
 * then add the timeline entry. Never logs a payload: receipts hold none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_events.h"
#include "hv_log.h"
#include "hv_util.h"
#include "hv_wire.h"

/* ---- status ------------------------------------------------------------ */

/* How far a status has got; a later entry of the same rank wins. */
static int
status_rank(const char *s)
{
	static const char *const order[] = { "queued", "accepted", "delivered",
		"expired", "acknowledged", "escalated", "rejected", "withdrawn",
		"retraction_delivered", "retracted", NULL };
	static const int rank[] = { 0, 1, 2, 2, 3, 3, 9, 4, 4, 5 };

	for (int i = 0; s != NULL && order[i] != NULL; i++)
		if (strcmp(s, order[i]) == 0)
			return rank[i];
	return -1;
}

/*
 * The message's status: the most advanced one in the timeline, so that a
 * late ACCEPTED receipt does not hide a DELIVERED that overtook it.
 */
static const char *
overall_status(json_t *tl)
{
	const char *best = "queued";
	int best_rank = status_rank(best), r;
	json_t *e;
	size_t i;

	json_array_foreach (tl, i, e) {
		const char *s = json_string_value(json_object_get(e, "status"));
		const char *code =
		    json_string_value(json_object_get(e, "code"));

		/* STORAGE_FULL is no verdict: the message is still queued. */
		if (code != NULL && strcmp(code, "STORAGE_FULL") == 0)
			continue;
		/*
		 * One recipient refusing it ranks as that recipient's expiry
		 * would: the others may still have had it.
		 */
		r = status_rank(s);
		if (s != NULL && strcmp(s, "rejected") == 0 &&
		    json_object_get(e, "to") != NULL)
			r = status_rank("expired");
		if (r >= best_rank) {
			best = s;
			best_rank = r;
		}
	}
	return best;
}

json_t *
outbox_status(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn = NULL;
	MDB_val v;
	struct ob_hdr h;
	hv_envelope env;
	json_t *j = NULL, *to, *tl;
	char hex[HV_ID_HEX_LEN + 1];

	memset(&env, 0, sizeof(env));
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return NULL;
	if (store_get(a, txn, DB_OUTBOX, id, HV_ID_LEN, &v) != HV_OK ||
	    v.mv_size < OB_HDR_LEN)
		goto out;
	ob_hdr_get(v.mv_data, &h);
	if (hv_envelope_unpack((uint8_t *)v.mv_data + OB_HDR_LEN,
	        v.mv_size - OB_HDR_LEN, v.mv_size, &env, NULL) != HV_OK)
		goto out;
	to = json_array();
	for (size_t i = 0; i < env.n_recipients; i++)
		json_array_append_new(to, json_string(env.recipients[i]));
	tl = store_timeline(a, txn, id);
	hv_hex(id, HV_ID_LEN, hex);
	j = json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s, s:o}", "id", hex,
	    "kind", h.kind == OB_DECISION ? "decision" : "message", "to", to,
	    "type", env.type, "priority", env.priority, "created",
	    json_time(env.created * 1000), "status", overall_status(tl),
	    "timeline", tl);
	/* Retracted here: what was decided and where each copy stands. */
	if (j != NULL) {
		json_t *rv = retract_sender_view(a, txn, id, to, tl);

		json_object_set_new(j, "retraction", rv ? rv : json_null());
	}
out:
	mdb_txn_abort(txn);
	hv_envelope_clear(&env);
	return j;
}

/* ---- the list, newest first ------------------------------------------- */

void
outbox_order_key(uint8_t k[OB_ORDER_KEY_LEN], int64_t queued_ms,
    const uint8_t id[HV_ID_LEN])
{
	hv_be64_put(k, (uint64_t)queued_ms);
	memcpy(k + 8, id, HV_ID_LEN);
}

/*
 * Puts the cursor on the entry to list first: the newest (MDB_LAST) or the
 * newest older than key. Returns the mdb_cursor_get code (MDB_NOTFOUND:
 * nothing older).
 */
static int
order_start(MDB_cursor *cur, const uint8_t *key, MDB_val *k)
{
	MDB_val v;
	int rc;

	if (key == NULL)
		return mdb_cursor_get(cur, k, &v, MDB_LAST);
	k->mv_data = (void *)key;
	k->mv_size = OB_ORDER_KEY_LEN;
	rc = mdb_cursor_get(cur, k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND) /* all are older than the cursor */
		return mdb_cursor_get(cur, k, &v, MDB_LAST);
	if (rc != 0)
		return rc;
	return mdb_cursor_get(cur, k, &v, MDB_PREV); /* the first key < key */
}

hv_err
outbox_list(struct agent *a, size_t offset, const char *before, size_t limit,
    json_t **out, struct hv_errdetail *d)
{
	uint8_t(*ids)[HV_ID_LEN] = NULL, from[OB_ORDER_KEY_LEN];
	uint8_t last[OB_ORDER_KEY_LEN] = { 0 };
	char hex[2 * OB_ORDER_KEY_LEN + 1];
	size_t n = 0, total = 0, skipped = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	json_t *arr = NULL, *page;
	int rc, more = 0;
	hv_err e;

	if (before != NULL &&
	    (offset > 0 || strlen(before) != 2 * OB_ORDER_KEY_LEN ||
	        hv_unhex(before, from, OB_ORDER_KEY_LEN) != 0))
		return hv_errset(d, HV_EBADREQUEST, "before",
		    offset > 0 ? "before and offset cannot be used together." :
		                 "before must be the \"before\" of an earlier "
		                 "page of this list.");
	if ((ids = calloc(limit ? limit : 1, HV_ID_LEN)) == NULL)
		return HV_ENOMEM;
	if ((e = hv_store_begin(a->store, 1, &txn)) != HV_OK)
		goto out;
	total = store_count(a, txn, DB_OUTBOX);
	if (mdb_cursor_open(txn, store_db(a, DB_OUTORDER), &cur) != 0) {
		e = HV_EIO;
		goto out;
	}
	/* A walk of offset + limit + 1 entries at most, never the outbox. */
	for (rc = order_start(cur, before ? from : NULL, &k); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (k.mv_size != OB_ORDER_KEY_LEN)
			continue;
		if (skipped < offset) {
			skipped++;
			continue;
		}
		if (n == limit) {
			more = 1;
			break;
		}
		memcpy(ids[n++], (uint8_t *)k.mv_data + 8, HV_ID_LEN);
		memcpy(last, k.mv_data, OB_ORDER_KEY_LEN);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		e = HV_EIO;
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	mdb_txn_abort(txn);
	txn = NULL;
	if ((arr = json_array()) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *m = outbox_status(a, ids[i]);

		if (m != NULL)
			json_array_append_new(arr, m);
	}
	page = json_pack("{s:I, s:o}", "total", (json_int_t)total, "messages",
	    arr);
	arr = NULL;
	if (page == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	if (more && before == NULL)
		json_object_set_new(page, "next_offset",
		    json_integer((json_int_t)(offset + limit)));
	if (more && n > 0) { /* a page of none has no cursor to give */
		hv_hex(last, OB_ORDER_KEY_LEN, hex);
		json_object_set_new(page, "before", json_string(hex));
	}
	*out = page;
	e = HV_OK;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	json_decref(arr);
	free(ids);
	return e;
}

/*
 * The index is one key per outbox entry, so equal counts mean it is whole;
 * a store from before it existed (or one a crash could not leave half
 * done, since both are written in one transaction) is rebuilt in one.
 */
hv_err
outbox_order_migrate(struct agent *a, struct hv_errdetail *d)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	hv_err e;
	int rc;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if (store_count(a, txn, DB_OUTORDER) == store_count(a, txn, DB_OUTBOX))
		goto out;
	if (mdb_drop(txn, store_db(a, DB_OUTORDER), 0) != 0 ||
	    mdb_cursor_open(txn, store_db(a, DB_OUTBOX), &cur) != 0) {
		e = HV_EIO;
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint8_t key[OB_ORDER_KEY_LEN];
		struct ob_hdr h;

		if (k.mv_size != HV_ID_LEN || v.mv_size < OB_HDR_LEN)
			continue;
		ob_hdr_get(v.mv_data, &h);
		outbox_order_key(key, h.queued_ms, k.mv_data);
		if ((e = store_put(a, txn, DB_OUTORDER, key, sizeof(key), "",
		         0)) != HV_OK)
			goto out;
		n++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e == HV_OK)
		hv_log_info("indexed %zu sent messages by age", n);
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (e != HV_OK)
		hv_errset(d, e, "data_dir",
		    "cannot build the sent messages' index in %s (%s).",
		    a->cfg.data_dir, hv_errname(e));
	return e;
}

/* ---- receipts ---------------------------------------------------------- */

/*
 * 1 when r is about one recipient (it names a node): a REJECTED naming one
 * is that recipient refusing the delivery, not the broker refusing the
 * submission, so it settles nothing and asks for no resend.
 */
static int
receipt_for_recipient(const Haven__Receipt *r)
{
	return r->node != NULL && r->node[0] != '\0';
}

/* The timeline entry a receipt adds, or NULL for an unknown status. */
static json_t *
receipt_entry(const Haven__Receipt *r)
{
	const char *st = r->status;
	json_t *at = json_time(r->at);

	if (hv_status_is(st, HV_ST_ACCEPTED))
		return json_pack("{s:s, s:o, s:I}", "status", "accepted", "at",
		    at, "audit_seq", (json_int_t)r->audit_seq);
	/* A recipient refused it at its own checks: that recipient only. */
	if (hv_status_is(st, HV_ST_REJECTED) && receipt_for_recipient(r))
		return json_pack("{s:s, s:o, s:s, s:s, s:s}", "status",
		    "rejected", "at", at, "to", r->node, "code", r->code,
		    "message", r->message);
	if (hv_status_is(st, HV_ST_REJECTED))
		return json_pack("{s:s, s:o, s:s, s:s}", "status", "rejected",
		    "at", at, "code", r->code, "message", r->message);
	if (hv_status_is(st, HV_ST_DELIVERED))
		return json_pack("{s:s, s:o, s:s}", "status", "delivered", "at",
		    at, "to", r->node);
	if (hv_status_is(st, HV_ST_ACKNOWLEDGED))
		return json_pack("{s:s, s:o, s:s, s:s}", "status",
		    "acknowledged", "at", at, "node", r->node, "by", r->by);
	if (hv_status_is(st, HV_ST_ESCALATED))
		return json_pack("{s:s, s:o, s:s}", "status", "escalated", "at",
		    at, "node", r->node);
	/* A retraction (SPEC §15): recorded, then per recipient. */
	if (hv_status_is(st, HV_ST_RETRACTED))
		return json_pack("{s:s, s:o, s:s, s:s}", "status", "retracted",
		    "at", at, "reason", r->code, "decided_by", r->by);
	if (hv_status_is(st, HV_ST_WITHDRAWN))
		return json_pack("{s:s, s:o, s:s}", "status", "withdrawn", "at",
		    at, "to", r->node);
	if (hv_status_is(st, HV_ST_RETRACTION_DELIVERED))
		return json_pack("{s:s, s:o, s:s}", "status",
		    "retraction_delivered", "at", at, "to", r->node);
	/* A withdrawal (the recipient or the sender revoked) says why. */
	if (hv_status_is(st, HV_ST_EXPIRED) && r->code != NULL && r->code[0])
		return json_pack("{s:s, s:o, s:s, s:s, s:s}", "status",
		    "expired", "at", at, "to", r->node, "code", r->code,
		    "message", r->message ? r->message : "");
	if (hv_status_is(st, HV_ST_EXPIRED))
		return json_pack("{s:s, s:o, s:s}", "status", "expired", "at",
		    at, "to", r->node);
	json_decref(at);
	return NULL;
}

/*
 * Stamps a new created time and signs again (CLOCK_SKEW after a hold, or
 * a message signed before this node's key was rotated).
 */
static hv_err
resign(struct agent *a, hv_envelope *env)
{
	env->created = hv_now();
	return hv_envelope_sign(env, a->keys);
}

/* The identity of a receipt, to record each one once. */
static void
receipt_key(const Haven__Receipt *r, uint8_t out[32])
{
	crypto_generichash_state st;
	uint8_t at[8];

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, r->id.data, r->id.len);
	hv_be64_put(at, (uint64_t)r->at);
	crypto_generichash_update(&st, at, 8);
	crypto_generichash_update(&st, (const uint8_t *)r->status,
	    strlen(r->status) + 1);
	crypto_generichash_update(&st, (const uint8_t *)r->node,
	    strlen(r->node) + 1);
	crypto_generichash_update(&st, (const uint8_t *)r->by,
	    strlen(r->by) + 1);
	crypto_generichash_update(&st, (const uint8_t *)r->code,
	    strlen(r->code) + 1);
	crypto_generichash_final(&st, out, 32);
}

/* The key under which the first STORAGE_FULL of id is remembered. */
static void
full_key(const uint8_t id[HV_ID_LEN], uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"storage-full", 13);
	crypto_generichash_update(&st, id, HV_ID_LEN);
	crypto_generichash_final(&st, out, 32);
}

/* What recording one receipt needs across its steps. */
struct rcpt {
	const Haven__Receipt *r;
	char hex[HV_ID_HEX_LEN + 1];
	struct ob_hdr h;
	uint8_t rk[32]; /* receipt_key */
	int final; /* ACCEPTED or REJECTED: a verdict */
	int transient; /* STORAGE_FULL: no verdict, retry */
	int record; /* add a timeline entry */
};

/* Rewrites the outbox entry's header to rc->h, keeping the envelope. */
static hv_err
hdr_update(struct agent *a, MDB_txn *txn, const struct rcpt *rc)
{
	uint8_t *val;
	MDB_val v;
	hv_err e;

	if ((e = store_get(a, txn, DB_OUTBOX, rc->r->id.data, HV_ID_LEN, &v)) !=
	    HV_OK)
		return e;
	if ((val = malloc(v.mv_size)) == NULL)
		return HV_ENOMEM;
	memcpy(val, v.mv_data, v.mv_size);
	ob_hdr_put(val, &rc->h);
	e = store_put(a, txn, DB_OUTBOX, rc->r->id.data, HV_ID_LEN, val,
	    v.mv_size);
	free(val);
	return e;
}

/*
 * Step 1: the message this receipt is about, and whether it is news.
 * Returns 1 to go on, 0 when there is nothing to record (a message this
 * agent does not hold, a repeat, a verdict after the verdict).
 */
static int
receipt_is_news(struct agent *a, MDB_txn *txn, struct rcpt *rc)
{
	const Haven__Receipt *r = rc->r;
	MDB_val v;

	if (store_get(a, txn, DB_OUTBOX, r->id.data, HV_ID_LEN, &v) != HV_OK ||
	    v.mv_size < OB_HDR_LEN) {
		hv_log_warnx("receipt %s %s for a message this agent does not "
		             "hold",
		    r->status, rc->hex);
		return 0;
	}
	ob_hdr_get(v.mv_data, &rc->h);
	receipt_key(r, rc->rk);
	rc->transient = hv_status_is(r->status, HV_ST_REJECTED) &&
	    !receipt_for_recipient(r) && strcmp(r->code, "STORAGE_FULL") == 0;
	rc->final = !rc->transient && !receipt_for_recipient(r) &&
	    (hv_status_is(r->status, HV_ST_ACCEPTED) ||
	        hv_status_is(r->status, HV_ST_REJECTED));
	if (store_get(a, txn, DB_RSEEN, rc->rk, 32, &v) == HV_OK) {
		/*
		 * A verdict heard before, for an entry sent again after a
		 * broker restore (resubmit.c): the broker still held it and
		 * answered a byte-identical resubmission with its first
		 * receipt. Settle it again; the timeline has it already.
		 */
		if (!rc->final || rc->h.final)
			return 0;
		rc->record = 0;
		return 1;
	}
	return !((rc->final || rc->transient) && rc->h.final);
}

/*
 * Step 2: the broker's store is full, which is not a verdict. The entry
 * stays pending and is sent again later (link.c). The hold is the
 * broker's doing, so a CLOCK_SKEW after it may be re-signed once more.
 * The timeline shows the first STORAGE_FULL only.
 */
static hv_err
hold_after_storage_full(struct agent *a, MDB_txn *txn, struct rcpt *rc)
{
	int64_t delay = AGENT_FULL_RETRY_MS;
	uint8_t fk[32];
	MDB_val v;
	hv_err e;

	/*
	 * Each refusal costs the broker an audit record in the room it keeps
	 * for deliveries, so retries back off: a minute, a minute, then
	 * doubling to thirty.
	 */
	for (unsigned i = 1;
	     i < rc->h.full_tries && delay < AGENT_FULL_RETRY_MAX_MS; i++)
		delay *= 2;
	if (delay > AGENT_FULL_RETRY_MAX_MS)
		delay = AGENT_FULL_RETRY_MAX_MS;
	if (rc->h.full_tries < 255)
		rc->h.full_tries++;
	rc->h.reskewed = 0;
	rc->h.retry_at_ms = hv_now_ms() + delay;
	if ((e = hdr_update(a, txn, rc)) != HV_OK)
		return e;
	full_key(rc->r->id.data, fk);
	if (store_get(a, txn, DB_RSEEN, fk, 32, &v) == HV_OK) {
		rc->record = 0;
		return HV_OK;
	}
	return store_put(a, txn, DB_RSEEN, fk, 32, "", 0);
}

/*
 * 1 when the outbox entry id was signed by a key this agent no longer
 * holds: it was queued before the node's rotation and never accepted, and
 * the broker admits new messages under the current key only.
 */
static int
signed_before_rotation(struct agent *a, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN])
{
	hv_envelope env;
	MDB_val v;
	int old;

	memset(&env, 0, sizeof(env));
	if (store_get(a, txn, DB_OUTBOX, id, HV_ID_LEN, &v) != HV_OK ||
	    v.mv_size < OB_HDR_LEN ||
	    hv_envelope_unpack((uint8_t *)v.mv_data + OB_HDR_LEN,
	        v.mv_size - OB_HDR_LEN, v.mv_size, &env, NULL) != HV_OK)
		return 0;
	old = hv_envelope_verify(&env, a->keys->pub.sign) != HV_OK;
	hv_envelope_clear(&env);
	return old;
}

/*
 * 1 when r asks for the message to be signed again: a CLOCK_SKEW the agent
 * caused by holding the message, or a BAD_SIGNATURE because it was signed
 * with the key this node has since rotated out.
 */
static int
needs_resign(struct agent *a, MDB_txn *txn, const struct rcpt *rc)
{
	if (!hv_status_is(rc->r->status, HV_ST_REJECTED) ||
	    receipt_for_recipient(rc->r))
		return 0;
	if (strcmp(rc->r->code, "CLOCK_SKEW") == 0)
		return !rc->h.reskewed &&
		    hv_now_ms() - rc->h.queued_ms > AGENT_SKEW_HOLD_S * 1000;
	return strcmp(rc->r->code, "BAD_SIGNATURE") == 0 &&
	    signed_before_rotation(a, txn, rc->r->id.data);
}

/*
 * Step 3: a message held while the broker was away, or signed with a
 * rotated-out key: stamp a new time, sign it again and keep it pending to
 * be sent once more.
 */
static hv_err
resign_after_skew(struct agent *a, MDB_txn *txn, struct rcpt *rc)
{
	hv_envelope env;
	uint8_t *packed = NULL, *val = NULL;
	size_t plen = 0;
	MDB_val v;
	hv_err e;

	memset(&env, 0, sizeof(env));
	if ((e = store_get(a, txn, DB_OUTBOX, rc->r->id.data, HV_ID_LEN, &v)) !=
	    HV_OK)
		goto out;
	if ((e = hv_envelope_unpack((uint8_t *)v.mv_data + OB_HDR_LEN,
	         v.mv_size - OB_HDR_LEN, v.mv_size, &env, NULL)) != HV_OK ||
	    (e = resign(a, &env)) != HV_OK ||
	    (e = hv_envelope_pack(&env, &packed, &plen)) != HV_OK)
		goto out;
	if ((val = malloc(OB_HDR_LEN + plen)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	rc->h.reskewed = 1;
	ob_hdr_put(val, &rc->h);
	memcpy(val + OB_HDR_LEN, packed, plen);
	e = store_put(a, txn, DB_OUTBOX, rc->r->id.data, HV_ID_LEN, val,
	    OB_HDR_LEN + plen);
out:
	free(val);
	free(packed);
	hv_envelope_clear(&env);
	return e;
}

/* Step 4: a verdict; the message is no longer pending. */
static hv_err
settle(struct agent *a, MDB_txn *txn, struct rcpt *rc)
{
	uint8_t seqk[8];
	hv_err e;

	rc->h.final = 1;
	if ((e = hdr_update(a, txn, rc)) != HV_OK)
		return e;
	hv_be64_put(seqk, rc->h.pending_seq);
	return store_del(a, txn, DB_PENDING, seqk, 8);
}

/*
 * Step 5: remember the receipt and add its timeline entry. A STORAGE_FULL
 * is not remembered by its own key: every retry gets a fresh one, and
 * full_key already keeps the timeline to one entry.
 */
static hv_err
record(struct agent *a, MDB_txn *txn, const struct rcpt *rc, json_t *entry)
{
	hv_err e;

	if (!rc->transient &&
	    (e = store_put(a, txn, DB_RSEEN, rc->rk, 32, "", 0)) != HV_OK)
		return e;
	if (rc->record)
		return store_timeline_add(a, txn, rc->r->id.data,
		    json_incref(entry));
	return HV_OK;
}

/* What is said of a recorded receipt once its commit is durable. */
struct recorded {
	char hex[HV_ID_HEX_LEN + 1];
	char status[24];
	char code[40];
	int transient;
	int resigned;
	json_t *ev; /* the "receipt" event, or NULL */
};

/* Logs the receipt and publishes its timeline entry as an event. */
static void
recorded_done(struct agent *a, void *arg, int committed)
{
	struct recorded *rd = arg;

	if (!committed)
		goto out;
	if (rd->resigned) {
		hv_log_info("message %s re-signed after %s", rd->hex, rd->code);
		goto out;
	}
	hv_log_info("message %s %s%s%s%s", rd->hex, rd->status,
	    rd->code[0] ? " " : "", rd->code,
	    rd->transient ? "; will retry" : "");
	if (rd->ev != NULL)
		bus_publish(&a->bus, "receipt", rd->ev);
out:
	json_decref(rd->ev);
	free(rd);
}

int
outbox_receipt(struct agent *a, const Haven__Receipt *r)
{
	struct rcpt rc = { .r = r, .record = 1 };
	struct recorded *rd = NULL;
	MDB_txn *txn = NULL;
	json_t *entry = NULL;
	int ret = -1, resigned = 0;

	if (r->id.len != HV_ID_LEN || r->status == NULL)
		return 0;
	hv_hex(r->id.data, HV_ID_LEN, rc.hex);
	if ((entry = receipt_entry(r)) == NULL) {
		hv_log_warnx("receipt %s: unknown status %.20s", rc.hex,
		    r->status);
		return 0;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		goto out;
	/* Part of the burst's transaction when the link stores a burst. */
	if (agent_txn_begin(a, &txn) != HV_OK)
		goto out;
	if (!receipt_is_news(a, txn, &rc)) {
		ret = 0;
		goto out;
	}
	if (rc.transient && hold_after_storage_full(a, txn, &rc) != HV_OK)
		goto out;
	if (needs_resign(a, txn, &rc)) {
		if (resign_after_skew(a, txn, &rc) != HV_OK)
			goto out;
		resigned = 1;
	} else if ((rc.final && settle(a, txn, &rc) != HV_OK) ||
	    record(a, txn, &rc, entry) != HV_OK)
		goto out;
	if (hv_store_commit(txn) != HV_OK) {
		txn = NULL;
		goto out;
	}
	txn = NULL;
	ret = resigned;
	/* Said once the commit is durable (at once outside a burst). */
	memcpy(rd->hex, rc.hex, sizeof(rd->hex));
	snprintf(rd->status, sizeof(rd->status), "%s", r->status);
	snprintf(rd->code, sizeof(rd->code), "%s", r->code ? r->code : "");
	rd->transient = rc.transient;
	rd->resigned = resigned;
	if (!resigned && rc.record &&
	    (rd->ev = json_pack("{s:s}", "id", rc.hex)) != NULL)
		json_object_update(rd->ev, entry);
	agent_after_commit(a, recorded_done, rd);
	rd = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(rd);
	json_decref(entry);
	return ret;
}
