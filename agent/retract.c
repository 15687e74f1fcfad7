/*
 * retract.c — retraction at the agent (SPEC §15): the sender's request,
 * its sending until the broker records it, and, at a recipient, erasure.
 *
 * Erasure means the bytes are gone from the store's file, not hidden: the
 * inbox record (header and envelope), its acknowledgement notes and its
 * index entries are overwritten with zeros in place and deleted in one
 * transaction, and then the pages LMDB freed, which still hold the old
 * bytes, are overwritten in the file (hv_store_scrub_free). What is kept
 * is the header: who sent what type when, marked "retracted by the sender:
 * REASON", under DB_RETRACTED.
 *
 * The reason is a code from a fixed list (lib/hv_retract); the sender's
 * optional free-text note stays in the sender's store and never travels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "hv_events.h"
#include "hv_log.h"
#include "hv_retract.h"
#include "hv_util.h"
#include "hv_wire.h"

#define NOTE_MAX 1000

/* ---- the sender's request ---------------------------------------------- */

/* Refuses members other than reason, decided_by and note. */
static hv_err
members_ok(json_t *req, struct hv_errdetail *d)
{
	const char *k;
	json_t *v;

	json_object_foreach (req, k, v) {
		if (strcmp(k, "reason") != 0 && strcmp(k, "decided_by") != 0 &&
		    strcmp(k, "note") != 0)
			return hv_errset(d, HV_EBADREQUEST, k,
			    "%.40s is not a "
			    "member of a retraction; it takes reason, "
			    "decided_by and note.",
			    k);
	}
	return HV_OK;
}

/* HV_OK when id is a message this agent sent and the broker accepted. */
static hv_err
retractable(struct agent *a, const uint8_t id[HV_ID_LEN],
    struct hv_errdetail *d)
{
	json_t *st = outbox_status(a, id), *e;
	const char *kind, *status;
	hv_err err = HV_OK;
	size_t i;

	if (st == NULL)
		return hv_errset(d, HV_ENOTFOUND, NULL,
		    "This agent sent no "
		    "message with this id; only its sender may retract it.");
	kind = json_string_value(json_object_get(st, "kind"));
	status = json_string_value(json_object_get(st, "status"));
	if (kind == NULL || strcmp(kind, "message") != 0)
		err = hv_errset(d, HV_EBADREQUEST, NULL,
		    "A decision not to "
		    "share is not a message and cannot be retracted.");
	else if (status != NULL &&
	    (strcmp(status, "queued") == 0 || strcmp(status, "rejected") == 0))
		err = hv_errset(d, HV_EBADREQUEST, NULL,
		    "The message is %s, "
		    "not accepted by the broker: there is nothing to "
		    "retract yet.",
		    status);
	json_array_foreach (json_object_get(st, "timeline"), i, e) {
		const char *s = json_string_value(json_object_get(e, "status"));

		if (err == HV_OK && s != NULL && strcmp(s, "retracted") == 0)
			err = hv_errset(d, HV_EBADREQUEST, NULL,
			    "The message "
			    "has already been retracted.");
	}
	json_decref(st);
	return err;
}

hv_err
retract_submit(struct agent *a, json_t *req, const uint8_t id[HV_ID_LEN],
    struct hv_errdetail *d)
{
	Haven__Retraction r = HAVEN__RETRACTION__INIT;
	const char *note = NULL;
	json_t *v, *kept = NULL;
	uint8_t *buf = NULL;
	size_t len;
	MDB_txn *txn = NULL;
	MDB_val mv;
	hv_err e;

	if ((e = members_ok(req, d)) != HV_OK)
		return e;
	r.id.data = (uint8_t *)id;
	r.id.len = HV_ID_LEN;
	r.sender = a->cfg.id;
	r.reason = (char *)json_string_value(json_object_get(req, "reason"));
	r.decided_by =
	    (char *)json_string_value(json_object_get(req, "decided_by"));
	r.created = hv_now_ms();
	if (hv_retract_check(&r, d) != HV_OK)
		return HV_EBADREQUEST;
	v = json_object_get(req, "note");
	if (v != NULL && !json_is_null(v) &&
	    ((note = json_string_value(v)) == NULL || strlen(note) > NOTE_MAX))
		return hv_errset(d, HV_EBADREQUEST, "note",
		    "note must be a "
		    "string of at most %d characters.",
		    NOTE_MAX);
	if ((e = retractable(a, id, d)) != HV_OK)
		return e;
	if ((e = hv_retract_sign(&r, a->keys)) != HV_OK ||
	    (e = hv_retract_pack(&r, &buf, &len)) != HV_OK)
		goto out;
	kept =
	    json_pack("{s:s, s:s, s:s?, s:o}", "reason", r.reason, "decided_by",
	        r.decided_by, "note", note, "at", json_time(r.created));
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if (store_get(a, txn, DB_RETRACT_OUT, id, HV_ID_LEN, &mv) == HV_OK) {
		e = hv_errset(d, HV_EBADREQUEST, NULL,
		    "A retraction of this "
		    "message is already on its way to the broker.");
		goto out;
	}
	{
		char *text = json_dumps(kept, JSON_COMPACT);

		e = text == NULL ? HV_ENOMEM :
		                   store_put(a, txn, DB_RETRACTED, id,
		                       HV_ID_LEN, text, strlen(text));
		free(text);
	}
	if (e != HV_OK ||
	    (e = store_put(a, txn, DB_RETRACT_OUT, id, HV_ID_LEN, buf, len)) !=
	        HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e == HV_OK) {
		atomic_store(&a->retract_due, 1);
		agent_wake(a);
	}
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (e != HV_OK && d->message[0] == '\0')
		hv_errset(d, e, NULL, "The retraction could not be stored.");
	json_decref(kept);
	free(r.signature.data);
	free(buf);
	return e;
}

void
retract_send(struct agent *a, int64_t now)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (!atomic_exchange(&a->retract_due, 0) && now < a->retract_next_ms)
		return;
	a->retract_next_ms = now + AGENT_RESEND_MS;
	holds_send(a); /* hold notices go on the same rounds */
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_RETRACT_OUT), &cur) != 0) {
		mdb_txn_abort(txn);
		return;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Haven__Frame f = HAVEN__FRAME__INIT;
		Haven__Retraction *r;

		if (hv_retract_unpack(v.mv_data, v.mv_size, &r) != HV_OK)
			continue;
		f.kind_case = HAVEN__FRAME__KIND_RETRACTION;
		f.retraction = r;
		rc = link_send(a, &f);
		hv_retract_free(&r);
		if (rc != 0)
			break; /* the next round sends it */
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}

void
retract_confirmed(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn;

	/*
	 * Part of the link's burst: a write transaction of its own would wait
	 * on the burst's, held by this same thread, for ever.
	 */
	if (agent_txn_begin(a, &txn) != HV_OK)
		return;
	if (store_del(a, txn, DB_RETRACT_OUT, id, HV_ID_LEN) == HV_OK)
		hv_store_commit(txn);
	else
		mdb_txn_abort(txn);
}

/* ---- at a recipient ---------------------------------------------------- */

/* What is kept of a received message after its erasure. */
static json_t *
kept_header(const hv_envelope *env, const struct in_hdr *h,
    const Haven__Retraction *r)
{
	char hex[HV_ID_HEX_LEN + 1], note[160];
	json_t *to = json_array();

	hv_hex(env->id, HV_ID_LEN, hex);
	for (size_t i = 0; i < env->n_recipients; i++)
		json_array_append_new(to, json_string(env->recipients[i]));
	snprintf(note, sizeof(note), "retracted by the sender: %s", r->reason);
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:b, s:s, "
	                 "s:{s:s, s:s, s:o}, s:n, s:n}",
	    "id", hex, "sender", env->sender, "to", to, "type", env->type,
	    "priority", env->priority, "created",
	    json_time(env->created * 1000), "received_at",
	    json_time(h->received_ms), "retracted", 1, "status", note,
	    "retraction", "reason", r->reason, "decided_by", r->decided_by,
	    "at", json_time(r->created), "child", "body");
}

/* Zeroes and deletes the acknowledgement notes of id. */
static hv_err
wipe_acks(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN])
{
	uint8_t keys[64][HV_ID_LEN + 8];
	size_t n = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	hv_err e = HV_OK;
	int rc;

	if (mdb_cursor_open(txn, store_db(a, DB_ACKS), &cur) != 0)
		return HV_EIO;
	k.mv_data = (void *)id;
	k.mv_size = HV_ID_LEN;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < 64;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != HV_ID_LEN + 8 ||
		    memcmp(k.mv_data, id, HV_ID_LEN) != 0)
			break;
		memcpy(keys[n++], k.mv_data, HV_ID_LEN + 8);
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < n && e == HV_OK; i++)
		e = hv_store_wipe_del(txn, store_db(a, DB_ACKS), keys[i],
		    HV_ID_LEN + 8);
	return e;
}

/* Erases the inbox record of env inside txn and keeps its header. */
static hv_err
erase(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    const struct in_hdr *h, const Haven__Retraction *r)
{
	uint8_t seqk[8], esck[8 + HV_ID_LEN];
	json_t *kept = kept_header(env, h, r);
	char *text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
	hv_err e;

	json_decref(kept);
	if (text == NULL)
		return HV_ENOMEM;
	hv_be64_put(seqk, h->order_seq);
	hv_be64_put(esck, (uint64_t)h->escalate_at_ms);
	memcpy(esck + 8, env->id, HV_ID_LEN);
	if ((e = hv_store_wipe_del(txn, store_db(a, DB_INBOX), env->id,
	         HV_ID_LEN)) != HV_OK ||
	    (e = hv_store_wipe_del(txn, store_db(a, DB_INORDER), seqk, 8)) !=
	        HV_OK ||
	    (e = hv_store_wipe_del(txn, store_db(a, DB_UNACKED), env->id,
	         HV_ID_LEN)) != HV_OK ||
	    (e = hv_store_wipe_del(txn, store_db(a, DB_ESC), esck,
	         sizeof(esck))) != HV_OK ||
	    (e = wipe_acks(a, txn, env->id)) != HV_OK)
		goto out;
	e = store_put(a, txn, DB_RETRACTED, env->id, HV_ID_LEN, text,
	    strlen(text));
out:
	free(text);
	return e;
}

/* The alert of a retraction (new reference): SSE data and hook summary. */
static json_t *
alert_json(const hv_envelope *env, const Haven__Retraction *r)
{
	char hex[HV_ID_HEX_LEN + 1], msg[160];

	hv_hex(env->id, HV_ID_LEN, hex);
	snprintf(msg, sizeof(msg), "retracted by the sender: %s", r->reason);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event",
	    "retracted", "id", hex, "sender", env->sender, "type", env->type,
	    "reason", r->reason, "decided_by", r->decided_by, "message", msg);
}

/*
 * Queues the alert hook's run inside txn, so that it is as durable as the
 * erasure it reports.
 */
static hv_err
queue_alert(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    const Haven__Retraction *r)
{
	json_t *ev = alert_json(env, r);
	char *text =
	    ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	hv_err e;

	json_decref(ev);
	if (text == NULL)
		return HV_ENOMEM;
	e = hook_queue(a, txn, HOOK_RETRACTION, 1, NULL, text);
	free(text);
	return e;
}

/* The SSE event, after the commit. */
static void
raise_alert(struct agent *a, const hv_envelope *env, const Haven__Retraction *r)
{
	json_t *ev = alert_json(env, r);

	if (ev == NULL)
		return;
	bus_publish(&a->bus, "retracted", ev);
	json_decref(ev);
}

int
retract_receive(struct agent *a, const Haven__Receipt *rc)
{
	Haven__Retraction *r = NULL;
	const struct hv_node *n;
	hv_envelope env;
	struct in_hdr h;
	MDB_txn *txn = NULL;
	MDB_val v;
	char hex[HV_ID_HEX_LEN + 1];
	size_t scrubbed = 0, left = 0;
	int ret = -1;
	hv_err e;

	memset(&env, 0, sizeof(env));
	if (hv_retract_unpack(rc->retraction.data, rc->retraction.len, &r) !=
	        HV_OK ||
	    rc->id.len != HV_ID_LEN ||
	    memcmp(r->id.data, rc->id.data, HV_ID_LEN) != 0) {
		hv_log_warnx("dropping a malformed retraction");
		ret = 0;
		goto out;
	}
	hv_hex(r->id.data, HV_ID_LEN, hex);
	if (hv_store_begin(a->store, 0, &txn) != HV_OK)
		goto out;
	if (store_get(a, txn, DB_INBOX, r->id.data, HV_ID_LEN, &v) != HV_OK ||
	    v.mv_size < IN_HDR_LEN) {
		/* Applied before, or never held: nothing here to erase. */
		hv_log_info("retraction of %s: no copy held here", hex);
		ret = 0;
		goto out;
	}
	in_hdr_get(v.mv_data, &h);
	if (hv_envelope_unpack((uint8_t *)v.mv_data + IN_HDR_LEN,
	        v.mv_size - IN_HDR_LEN, v.mv_size, &env, NULL) != HV_OK)
		goto out;
	/* Only the message's own sender may take it back. */
	pthread_rwlock_rdlock(&a->dir_lock);
	n = hv_directory_node(a->dir, env.sender);
	e = strcmp(env.sender, r->sender) == 0 ? hv_retract_verify(r, n) :
	                                         HV_ESENDERMISMATCH;
	pthread_rwlock_unlock(&a->dir_lock);
	if (e != HV_OK) {
		hv_log_warnx("refusing a retraction of %s: %s", hex,
		    hv_strerror(e));
		goto out;
	}
	/*
	 * A legal hold outranks the retraction: the record is kept whole
	 * (proceedings may need it) but shown only as its retracted header.
	 */
	if (holds_cover(a, txn, env.id, env.subject)) {
		json_t *kept = kept_header(&env, &h, r);
		char *text;

		json_object_set_new(kept, "held", json_true());
		text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
		json_decref(kept);
		e = text ? store_put(a, txn, DB_RETRACTED, env.id, HV_ID_LEN,
		               text, strlen(text)) :
		           HV_ENOMEM;
		free(text);
		if (e == HV_OK)
			e = queue_alert(a, txn, &env, r);
		if (e != HV_OK || (e = hv_store_commit(txn)) != HV_OK) {
			txn = e == HV_OK ? txn : NULL;
			goto out;
		}
		txn = NULL;
		ret = 0;
		hv_log_info("message %s retracted by its sender (%s): kept "
		            "under a legal hold",
		    hex, r->reason);
		raise_alert(a, &env, r);
		goto out;
	}
	if ((e = erase(a, txn, &env, &h, r)) != HV_OK ||
	    (e = queue_alert(a, txn, &env, r)) != HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e != HV_OK)
		goto out;
	ret = 0;
	if (hv_store_scrub_free(a->store, store_db(a, DB_META), &scrubbed,
	        &left) != HV_OK)
		hv_log_warnx("retraction of %s: the freed pages could not be "
		             "overwritten",
		    hex);
	hv_log_info("message %s retracted by its sender (%s): erased, %zu "
	            "free pages overwritten%s",
	    hex, r->reason, scrubbed, left ? ", some left for a reader" : "");
	if (left != 0)
		a->scrub_due = 1;
	raise_alert(a, &env, r);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_envelope_clear(&env);
	hv_retract_free(&r);
	return ret;
}

json_t *
retract_header(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn;
	MDB_val v;
	json_t *j = NULL;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return NULL;
	if (store_get(a, txn, DB_RETRACTED, id, HV_ID_LEN, &v) == HV_OK)
		j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	mdb_txn_abort(txn);
	/* The sender's own note about its retraction is not a header. */
	if (j != NULL && json_object_get(j, "id") == NULL) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* ---- the sender's view --------------------------------------------------- */

/* The latest timeline entry of status st (about node, when not NULL). */
static const json_t *
tl_find(const json_t *tl, const char *st, const char *node)
{
	const json_t *e, *found = NULL;
	size_t i;

	json_array_foreach (tl, i, e) {
		const char *s = json_string_value(json_object_get(e, "status"));
		const char *to = json_string_value(json_object_get(e, "to"));

		if (s != NULL && strcmp(s, st) == 0 &&
		    (node == NULL || (to != NULL && strcmp(to, node) == 0)))
			found = e;
	}
	return found;
}

json_t *
retract_sender_view(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const json_t *to, const json_t *tl)
{
	const json_t *x, *rec;
	json_t *kept, *view = NULL, *rs;
	MDB_val v;
	size_t i;

	if (store_get(a, txn, DB_RETRACTED, id, HV_ID_LEN, &v) != HV_OK)
		return NULL;
	kept = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	/* A received message's kept header is not the sender's request. */
	if (kept == NULL || json_object_get(kept, "id") != NULL ||
	    (rs = json_array()) == NULL) {
		json_decref(kept);
		return NULL;
	}
	json_array_foreach (to, i, x) {
		const char *node = json_string_value(x);
		const json_t *e;
		const char *outcome, *text;

		if (node == NULL)
			continue;
		if ((e = tl_find(tl, "retraction_delivered", node)) != NULL) {
			outcome = "confirmed";
			text = "the recipient confirmed it applied the "
			       "retraction: its copy is erased, or kept whole "
			       "only under a legal hold";
		} else if ((e = tl_find(tl, "withdrawn", node)) != NULL) {
			outcome = "withdrawn";
			text = "withdrawn at the broker before delivery: the "
			       "recipient never received it";
		} else {
			outcome = "pending";
			text = "waiting for the recipient to confirm it "
			       "applied the retraction";
		}
		json_array_append_new(rs,
		    json_pack("{s:s, s:s, s:O, s:s}", "to", node, "outcome",
		        outcome, "at",
		        e != NULL ? json_object_get(e, "at") : json_null(),
		        "text", text));
	}
	rec = tl_find(tl, "retracted", NULL);
	view = json_pack("{s:O, s:O, s:O, s:O, s:O, s:o}", "reason",
	    json_object_get(kept, "reason"), "decided_by",
	    json_object_get(kept, "decided_by"), "note",
	    json_object_get(kept, "note") ? json_object_get(kept, "note") :
	                                    json_null(),
	    "requested_at", json_object_get(kept, "at"), "recorded_at",
	    rec != NULL ? json_object_get(rec, "at") : json_null(),
	    "recipients", rs);
	json_decref(kept);
	return view;
}
