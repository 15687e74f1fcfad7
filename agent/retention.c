/*
 * retention.c — the retention rule (SPEC §15): received and sent payloads
 * older than retention_days (or retention_days.TYPE for their type) are
 * erased, leaving a tombstone: id, sender, recipients, type, dates and
 * "erased on DATE under the retention rule". A held message is never
 * erased, nor one still waiting for the broker's verdict.
 *
 * The sweep runs at start and every retention_sweep_interval seconds (a
 * day by default); erasure is as for a retraction: zeros in place, delete,
 * then the freed pages overwritten in the file. DB_TOMBSTONES: id -> JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_util.h"
#include "hv_wire.h"

#define SWEEP_MAX 256 /* erasures per transaction */
#define SCRUB_RETRY_MS 200

/* The fixed header in front of the envelope in db. */
static size_t
hdr_len(enum agent_db db)
{
	return db == DB_INBOX ? IN_HDR_LEN : OB_HDR_LEN;
}

/* retention_days for a message type, in milliseconds. */
static int64_t
keep_ms(const struct agent *a, const char *type)
{
	uint64_t days = a->cfg.retention_days;

	hv_cfg_map_get(&a->cfg.retention_by_type, type, &days);
	return (int64_t)days * 86400 * 1000;
}

static json_t *
tombstone(const hv_envelope *env, const char *dir, int64_t at_ms, int64_t now)
{
	char hex[HV_ID_HEX_LEN + 1], day[32], note[96];
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	json_t *to = json_array();

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(note, sizeof(note), "erased on %s under the retention rule",
	    day);
	hv_hex(env->id, HV_ID_LEN, hex);
	for (size_t i = 0; i < env->n_recipients; i++)
		json_array_append_new(to, json_string(env->recipients[i]));
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:b, s:s, "
	                 "s:n, s:n}",
	    "id", hex, "direction", dir, "sender", env->sender, "to", to,
	    "type", env->type, "created", json_time(env->created * 1000),
	    strcmp(dir, "received") == 0 ? "received_at" : "sent_at",
	    json_time(at_ms), "erased_at", json_time(now), "erased", 1,
	    "status", note, "child", "body");
}

/* One message to erase, found by the scan. */
struct victim {
	uint8_t id[HV_ID_LEN];
	int sent;
};

/* Lists up to SWEEP_MAX expired, unheld messages of db. */
static size_t
scan(struct agent *a, MDB_txn *txn, enum agent_db db, int64_t now,
    struct victim *out, size_t n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (mdb_cursor_open(txn, store_db(a, db), &cur) != 0)
		return n;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && n < SWEEP_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		hv_envelope env;
		int64_t at;
		MDB_val rv;

		if (k.mv_size != HV_ID_LEN || v.mv_size < IN_HDR_LEN ||
		    v.mv_size < OB_HDR_LEN)
			continue;
		if (db == DB_INBOX) {
			struct in_hdr h;

			in_hdr_get(v.mv_data, &h);
			at = h.received_ms;
		} else {
			struct ob_hdr h;

			ob_hdr_get(v.mv_data, &h);
			/* Still waiting for the broker, or being retracted. */
			if (!h.final || h.kind != OB_MESSAGE ||
			    store_get(a, txn, DB_RETRACT_OUT, k.mv_data,
			        HV_ID_LEN, &rv) == HV_OK)
				continue;
			at = h.queued_ms;
		}
		memset(&env, 0, sizeof(env));
		if (hv_envelope_unpack((uint8_t *)v.mv_data + hdr_len(db),
		        v.mv_size - hdr_len(db), v.mv_size, &env,
		        NULL) != HV_OK)
			continue;
		if (now - at >= keep_ms(a, env.type) &&
		    !holds_cover(a, txn, env.id, env.subject)) {
			memcpy(out[n].id, env.id, HV_ID_LEN);
			out[n++].sent = db == DB_OUTBOX;
		}
		hv_envelope_clear(&env);
	}
	mdb_cursor_close(cur);
	return n;
}

/*
 * Erases one message inside txn and writes its tombstone; *erased is
 * counted when it did. A hold added since the scan (by another thread) is
 * seen here, in the transaction that erases, and keeps the message.
 */
static hv_err
erase_one(struct agent *a, MDB_txn *txn, const struct victim *x, int64_t now,
    size_t *erased)
{
	enum agent_db db = x->sent ? DB_OUTBOX : DB_INBOX;
	hv_envelope env;
	json_t *t;
	char *text;
	MDB_val v;
	int64_t at;
	hv_err e;

	if ((e = store_get(a, txn, db, x->id, HV_ID_LEN, &v)) != HV_OK)
		return e == HV_ENOTFOUND ? HV_OK : e;
	memset(&env, 0, sizeof(env));
	if (v.mv_size < hdr_len(db) ||
	    hv_envelope_unpack((uint8_t *)v.mv_data + hdr_len(db),
	        v.mv_size - hdr_len(db), v.mv_size, &env, NULL) != HV_OK)
		return HV_OK;
	if (holds_cover(a, txn, env.id, env.subject)) {
		hv_envelope_clear(&env);
		return HV_OK;
	}
	if (x->sent) {
		struct ob_hdr h;

		ob_hdr_get(v.mv_data, &h);
		at = h.queued_ms;
		t = tombstone(&env, "sent", at, now);
		if (t != NULL)
			json_object_set_new(t, "timeline",
			    store_timeline(a, txn, x->id));
		e = hv_store_wipe_del(txn, store_db(a, DB_OUTBOX), x->id,
		    HV_ID_LEN);
		if (e == HV_OK) {
			uint8_t orderk[OB_ORDER_KEY_LEN];

			outbox_order_key(orderk, h.queued_ms, x->id);
			e = store_del(a, txn, DB_OUTORDER, orderk,
			    sizeof(orderk));
		}
	} else {
		struct in_hdr h;
		uint8_t seqk[8], esck[8 + HV_ID_LEN];

		in_hdr_get(v.mv_data, &h);
		t = tombstone(&env, "received", h.received_ms, now);
		hv_be64_put(seqk, h.order_seq);
		hv_be64_put(esck, (uint64_t)h.escalate_at_ms);
		memcpy(esck + 8, x->id, HV_ID_LEN);
		if ((e = hv_store_wipe_del(txn, store_db(a, DB_INBOX), x->id,
		         HV_ID_LEN)) == HV_OK &&
		    (e = hv_store_wipe_del(txn, store_db(a, DB_INORDER), seqk,
		         8)) == HV_OK &&
		    (e = hv_store_wipe_del(txn, store_db(a, DB_UNACKED), x->id,
		         HV_ID_LEN)) == HV_OK)
			e = hv_store_wipe_del(txn, store_db(a, DB_ESC), esck,
			    sizeof(esck));
	}
	hv_envelope_clear(&env);
	if (e != HV_OK || t == NULL) {
		json_decref(t);
		return e != HV_OK ? e : HV_ENOMEM;
	}
	text = json_dumps(t, JSON_COMPACT);
	json_decref(t);
	if (text == NULL)
		return HV_ENOMEM;
	e = store_put(a, txn, DB_TOMBSTONES, x->id, HV_ID_LEN, text,
	    strlen(text));
	free(text);
	if (e == HV_OK)
		(*erased)++;
	return e;
}

size_t
retention_sweep(struct agent *a)
{
	struct victim *v = calloc(SWEEP_MAX, sizeof(*v));
	int64_t now = hv_now_ms();
	MDB_txn *txn = NULL;
	size_t n = 0, left = 0, erased = 0;
	hv_err e = HV_OK;

	if (v == NULL)
		return 0;
	if (hv_store_begin(a->store, 1, &txn) == HV_OK) {
		n = scan(a, txn, DB_INBOX, now, v, 0);
		n = scan(a, txn, DB_OUTBOX, now, v, n);
		mdb_txn_abort(txn);
		txn = NULL;
	}
	if (n == 0)
		goto out;
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	for (size_t i = 0; i < n && e == HV_OK; i++)
		e = erase_one(a, txn, &v[i], now, &erased);
	if (e == HV_OK)
		e = hv_store_commit(txn);
	else
		mdb_txn_abort(txn);
	if (e != HV_OK) {
		hv_log_warnx("retention: the sweep could not erase: %s",
		    hv_strerror(e));
		n = 0;
		goto out;
	}
	if ((n = erased) == 0)
		goto out;
	if (hv_store_scrub_free(a->store, store_db(a, DB_META), NULL, &left) !=
	        HV_OK ||
	    left != 0)
		a->scrub_due = 1;
	hv_log_info("retention: erased %zu payloads under the retention rule",
	    n);
out:
	free(v);
	return n;
}

void
retention_tick(struct agent *a, int64_t now_mono)
{
	/*
	 * Free pages an HTTP reader still saw at the last erasure (its read
	 * transactions are short): tried again every SCRUB_RETRY_MS.
	 */
	if (a->scrub_due && now_mono >= a->scrub_next_ms) {
		size_t left = 0;

		a->scrub_due =
		    hv_store_scrub_free(a->store, store_db(a, DB_META), NULL,
		        &left) != HV_OK ||
		    left != 0;
		a->scrub_next_ms = now_mono + SCRUB_RETRY_MS;
	}
	if (now_mono < a->retention_next_ms)
		return;
	a->retention_next_ms =
	    now_mono + (int64_t)a->cfg.retention_sweep_interval * 1000;
	/* A full batch: more may be waiting, so sweep again soon. */
	if (retention_sweep(a) == SWEEP_MAX)
		a->retention_next_ms = now_mono;
}

json_t *
retention_tombstone(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn;
	MDB_val v;
	json_t *j = NULL;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return NULL;
	if (store_get(a, txn, DB_TOMBSTONES, id, HV_ID_LEN, &v) == HV_OK)
		j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	mdb_txn_abort(txn);
	return j;
}
