/*
 * holds.c — legal holds at an agent (SPEC §15): a hold on one message or
 * on every message about a child (by pseudonym) stops its erasure, by the
 * retention sweep or by a retraction. Adding and removing a hold are
 * logged here and reported to the broker as a HoldNotice (metadata only;
 * the reason stays in this store), sent until the broker echoes it.
 *
 * DB_HOLDS: hold id -> JSON {id, message | subject, reason, added_at,
 * active, removed_at?, removed_reason?}; a removed hold is kept, inactive,
 * for the record. DB_HOLD_OUT: hold id || 'A'/'R' -> packed HoldNotice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"

#define REASON_MAX 1000

static hv_err
put_json(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t kl, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	hv_err e;

	if (text == NULL)
		return HV_ENOMEM;
	e = store_put(a, txn, db, k, kl, text, strlen(text));
	free(text);
	return e;
}

/* Queues the notice of hold h (added or removed) for the broker. */
static hv_err
queue_notice(struct agent *a, MDB_txn *txn, const uint8_t hid[HV_ID_LEN],
    const uint8_t *msg, const uint8_t *subject, int removed)
{
	Haven__HoldNotice n = HAVEN__HOLD_NOTICE__INIT;
	uint8_t k[HV_ID_LEN + 1], *buf;
	size_t len;
	hv_err e;

	n.hold_id.data = (uint8_t *)hid;
	n.hold_id.len = HV_ID_LEN;
	if (msg != NULL) {
		n.message_id.data = (uint8_t *)msg;
		n.message_id.len = HV_ID_LEN;
	} else {
		n.subject.data = (uint8_t *)subject;
		n.subject.len = 32;
	}
	n.removed = removed;
	n.at = hv_now_ms();
	len = haven__hold_notice__get_packed_size(&n);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return HV_ENOMEM;
	haven__hold_notice__pack(&n, buf);
	memcpy(k, hid, HV_ID_LEN);
	k[HV_ID_LEN] = removed ? 'R' : 'A';
	e = store_put(a, txn, DB_HOLD_OUT, k, sizeof(k), buf, len);
	free(buf);
	return e;
}

static const char *
reason_of(json_t *req, struct hv_errdetail *d)
{
	const char *r = json_string_value(json_object_get(req, "reason"));

	if (r == NULL || *r == '\0' || strlen(r) > REASON_MAX) {
		hv_errset(d, HV_EBADREQUEST, "reason",
		    "reason must say why, "
		    "in 1 to %d characters.",
		    REASON_MAX);
		return NULL;
	}
	return r;
}

/*
 * 1 when the request's optional subject_key_id is this agent's subject key's
 * id. A pseudonym made with another key matches no child here, so a hold
 * on it would keep nothing while looking in force: refuse it, naming both
 * ids (neither reveals the key). 0 with d set otherwise.
 */
static int
subject_key_is_ours(struct agent *a, json_t *req, struct hv_errdetail *d)
{
	const json_t *v = json_object_get(req, "subject_key_id");
	uint8_t want[HV_SUBJECT_KEY_ID_LEN], got[HV_SUBJECT_KEY_ID_LEN];
	char ours[2 * HV_SUBJECT_KEY_ID_LEN + 1];
	const char *s;

	if (v == NULL)
		return 1;
	s = json_string_value(v);
	if (s == NULL || strlen(s) != 2 * HV_SUBJECT_KEY_ID_LEN ||
	    hv_unhex(s, got, sizeof(got)) != 0) {
		hv_errset(d, HV_EBADREQUEST, "subject_key_id",
		    "subject_key_id must be %d hex digits (haven hold add "
		    "computes it from --subject-key).",
		    2 * HV_SUBJECT_KEY_ID_LEN);
		return 0;
	}
	hv_subject_key_id(a->subject_key, want);
	if (sodium_memcmp(want, got, sizeof(want)) == 0)
		return 1;
	hv_hex(want, sizeof(want), ours);
	hv_errset(d, HV_EBADREQUEST, "subject_key_id",
	    "The subject key given (id %.16s) is not this agent's (id %s): "
	    "its pseudonym matches no child here, so the hold would keep "
	    "nothing; use the partnership's subject key.",
	    s, ours);
	return 0;
}

/*
 * A hold keeps what this agency holds: a message it sent (its outbox) or
 * received (its inbox). A hold on any other id would hold nothing while
 * the log and `haven hold list` said otherwise, so it is refused, and a
 * message already erased under retention is named as such.
 */
static int
message_is_held_here(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *hex, hv_err *err, struct hv_errdetail *d)
{
	MDB_val v;

	if (store_get(a, txn, DB_OUTBOX, id, HV_ID_LEN, &v) == HV_OK ||
	    store_get(a, txn, DB_INBOX, id, HV_ID_LEN, &v) == HV_OK)
		return 1;
	if (store_get(a, txn, DB_TOMBSTONES, id, HV_ID_LEN, &v) == HV_OK)
		*err = hv_errset(d, HV_ENOTFOUND, "message",
		    "Message %s was already erased here under the retention "
		    "rule; only its tombstone is left, and a hold cannot "
		    "bring it back.",
		    hex);
	else if (store_get(a, txn, DB_RETRACTED, id, HV_ID_LEN, &v) == HV_OK)
		*err = hv_errset(d, HV_ENOTFOUND, "message",
		    "Message %s was retracted by its sender and erased here; "
		    "only its header is left, and a hold cannot bring it "
		    "back.",
		    hex);
	else
		*err = hv_errset(d, HV_ENOTFOUND, "message",
		    "This agency neither sent nor received a message with id "
		    "%s, so a hold here would keep nothing; place it at an "
		    "agency that holds the message.",
		    hex);
	return 0;
}

json_t *
holds_add(struct agent *a, json_t *req, hv_err *err, struct hv_errdetail *d)
{
	const char *msg = json_string_value(json_object_get(req, "message"));
	const char *sub =
	    json_string_value(json_object_get(req, "subject_pseudonym"));
	const char *reason, *k;
	uint8_t hid[HV_ID_LEN], mid[HV_ID_LEN], ps[32];
	char hex[HV_ID_HEX_LEN + 1];
	json_t *h = NULL, *v;
	MDB_txn *txn = NULL;
	hv_err e;

	json_object_foreach (req, k, v) {
		if (strcmp(k, "message") != 0 && strcmp(k, "reason") != 0 &&
		    strcmp(k, "subject_pseudonym") != 0 &&
		    strcmp(k, "subject_key_id") != 0) {
			*err = hv_errset(d, HV_EBADREQUEST, k,
			    "%.40s is not a member "
			    "of a hold; it takes message or subject_pseudonym "
			    "(with subject_key_id), and reason.",
			    k);
			return NULL;
		}
	}
	if ((reason = reason_of(req, d)) == NULL) {
		*err = HV_EBADREQUEST;
		return NULL;
	}
	if ((msg == NULL) == (sub == NULL)) {
		*err = hv_errset(d, HV_EBADREQUEST, NULL,
		    "A hold is on one message "
		    "(message: its id) or on a child (subject_pseudonym), not "
		    "both or neither.");
		return NULL;
	}
	if (msg != NULL &&
	    (strlen(msg) != HV_ID_HEX_LEN ||
	        hv_unhex(msg, mid, HV_ID_LEN) != 0)) {
		*err = hv_errset(d, HV_EBADREQUEST, "message",
		    "message must be a "
		    "message id of 32 hex digits.");
		return NULL;
	}
	if (sub != NULL && (strlen(sub) != 64 || hv_unhex(sub, ps, 32) != 0)) {
		*err = hv_errset(d, HV_EBADREQUEST, "subject_pseudonym",
		    "subject_"
		    "pseudonym must be 64 hex digits (haven hold add computes "
		    "it from --subject-nhs and --subject-key).");
		return NULL;
	}
	if (sub != NULL && !subject_key_is_ours(a, req, d)) {
		*err = HV_EBADREQUEST;
		return NULL;
	}
	randombytes_buf(hid, HV_ID_LEN);
	hv_hex(hid, HV_ID_LEN, hex);
	h = json_pack("{s:s, s:s?, s:s?, s:s, s:o, s:b}", "id", hex, "message",
	    msg, "subject_pseudonym", sub, "reason", reason, "added_at",
	    json_time(hv_now_ms()), "active", 1);
	/* Looked for in the transaction that adds the hold: no sweep or
	 * retraction can erase the message in between. */
	if (h != NULL && msg != NULL &&
	    hv_store_begin(a->store, 0, &txn) == HV_OK &&
	    !message_is_held_here(a, txn, mid, msg, err, d)) {
		mdb_txn_abort(txn);
		json_decref(h);
		return NULL;
	}
	if (h == NULL ||
	    (txn == NULL && (e = hv_store_begin(a->store, 0, &txn)) != HV_OK) ||
	    (e = put_json(a, txn, DB_HOLDS, hid, HV_ID_LEN, h)) != HV_OK ||
	    (e = queue_notice(a, txn, hid, msg ? mid : NULL, ps, 0)) != HV_OK ||
	    (e = hv_store_commit(txn)) != HV_OK) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		*err =
		    hv_errset(d, HV_EIO, NULL, "The hold could not be stored.");
		json_decref(h);
		return NULL;
	}
	hv_log_info("hold %s added on %s", hex, msg ? "a message" : "a child");
	atomic_store(&a->retract_due, 1);
	agent_wake(a);
	return h;
}

json_t *
holds_remove(struct agent *a, const uint8_t hid[HV_ID_LEN], json_t *req,
    hv_err *err, struct hv_errdetail *d)
{
	const char *reason, *m, *sub;
	uint8_t mid[HV_ID_LEN], ps[32];
	char hex[HV_ID_HEX_LEN + 1];
	MDB_txn *txn = NULL;
	json_t *h = NULL;
	MDB_val v;
	hv_err e;

	if ((reason = reason_of(req, d)) == NULL) {
		*err = HV_EBADREQUEST;
		return NULL;
	}
	if (hv_store_begin(a->store, 0, &txn) != HV_OK)
		goto fail;
	if (store_get(a, txn, DB_HOLDS, hid, HV_ID_LEN, &v) != HV_OK ||
	    (h = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL) {
		mdb_txn_abort(txn);
		*err = hv_errset(d, HV_ENOTFOUND, NULL, "No hold has this id.");
		return NULL;
	}
	if (!json_is_true(json_object_get(h, "active"))) {
		mdb_txn_abort(txn);
		json_decref(h);
		*err = hv_errset(d, HV_EBADREQUEST, NULL,
		    "This hold was removed "
		    "already.");
		return NULL;
	}
	m = json_string_value(json_object_get(h, "message"));
	sub = json_string_value(json_object_get(h, "subject_pseudonym"));
	if (m != NULL)
		hv_unhex(m, mid, HV_ID_LEN);
	else if (sub != NULL)
		hv_unhex(sub, ps, 32);
	json_object_set_new(h, "active", json_false());
	json_object_set_new(h, "removed_at", json_time(hv_now_ms()));
	json_object_set_new(h, "removed_reason", json_string(reason));
	if ((e = put_json(a, txn, DB_HOLDS, hid, HV_ID_LEN, h)) != HV_OK ||
	    (e = queue_notice(a, txn, hid, m ? mid : NULL, ps, 1)) != HV_OK ||
	    (e = hv_store_commit(txn)) != HV_OK) {
		txn = e == HV_OK ? txn : NULL;
		goto fail;
	}
	hv_hex(hid, HV_ID_LEN, hex);
	hv_log_info("hold %s removed", hex);
	atomic_store(&a->retract_due, 1);
	agent_wake(a);
	return h;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	json_decref(h);
	*err = hv_errset(d, HV_EIO, NULL, "The hold could not be stored.");
	return NULL;
}

json_t *
holds_list(struct agent *a)
{
	json_t *list = json_array(), *h;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (list == NULL || hv_store_begin(a->store, 1, &txn) != HV_OK)
		return list;
	if (mdb_cursor_open(txn, store_db(a, DB_HOLDS), &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			if ((h = json_loadb(v.mv_data, v.mv_size, 0, NULL)) !=
			    NULL)
				json_array_append_new(list, h);
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	return json_pack("{s:o}", "holds", list);
}

int
holds_cover(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const uint8_t subject[32])
{
	char mhex[HV_ID_HEX_LEN + 1], shex[65];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, held = 0;

	hv_hex(id, HV_ID_LEN, mhex);
	hv_hex(subject, 32, shex);
	if (mdb_cursor_open(txn, store_db(a, DB_HOLDS), &cur) != 0)
		return 1; /* unsure: keep it */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !held;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *h = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		const char *m =
		    json_string_value(json_object_get(h, "message"));
		const char *s =
		    json_string_value(json_object_get(h, "subject_pseudonym"));

		held = json_is_true(json_object_get(h, "active")) &&
		    ((m != NULL && strcmp(m, mhex) == 0) ||
		        (s != NULL && strcmp(s, shex) == 0));
		json_decref(h);
	}
	mdb_cursor_close(cur);
	return held;
}

void
holds_send(struct agent *a)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_HOLD_OUT), &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			Haven__Frame f = HAVEN__FRAME__INIT;
			Haven__HoldNotice *n = haven__hold_notice__unpack(NULL,
			    v.mv_size, v.mv_data);

			if (n == NULL)
				continue;
			f.kind_case = HAVEN__FRAME__KIND_HOLD_NOTICE;
			f.hold_notice = n;
			rc = link_send(a, &f);
			haven__hold_notice__free_unpacked(n, NULL);
			if (rc != 0)
				break;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
}

void
holds_on_echo(struct agent *a, const Haven__HoldNotice *n)
{
	uint8_t k[HV_ID_LEN + 1];
	MDB_txn *txn;

	if (n->hold_id.len != HV_ID_LEN)
		return;
	memcpy(k, n->hold_id.data, HV_ID_LEN);
	k[HV_ID_LEN] = n->removed ? 'R' : 'A';
	if (hv_store_begin(a->store, 0, &txn) != HV_OK)
		return;
	if (store_del(a, txn, DB_HOLD_OUT, k, sizeof(k)) == HV_OK)
		hv_store_commit(txn);
	else
		mdb_txn_abort(txn);
}
