/*
 * The audit-log integrity check (SPEC §9): the agent's watch on the
 * broker's history.
 *
 * Every tree_head_interval seconds, and right after each new session, the
 * agent asks the broker for its latest signed tree head with a consistency
 * proof from the last head it stored (TreeHeadRequest{since_size}). An
 * answer is accepted only when the broker's key from the directory signed
 * it and it extends the stored head: never a smaller tree, the same root at
 * the same size, and a verifying consistency proof for a larger tree. An
 * accepted head replaces the stored one; anything else leaves the stored
 * head alone and records a persistent integrity failure (TAMPERED), which
 * is logged, sent to SSE streams as an `integrity` event, given to
 * alert_command and shown in /v1/health until an operator who has
 * investigated runs `haven-agent --forget-tree-head`. This is what stops a
 * broker administrator from rewriting history unseen.
 *
 * Both records live in the store's meta database: "tree_head" (size(8) ||
 * root(32) || time_ms(8) || signature(64), integers big-endian) and
 * "integrity" (one JSON object: code, message, since, stored_size,
 * broker_size). The main thread does the checking and writing; HTTP
 * threads only read, in their own transactions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "agent.h"
#include "hv_auditlog.h"
#include "hv_log.h"
#include "hv_merkle.h"
#include "hv_util.h"
#include "hv_wire.h"

#define TH_KEY "tree_head"
#define IG_KEY "integrity"
#define TH_REC_LEN (8 + HV_HASH_LEN + 8 + HV_SIGNATURE_LEN)
#define TH_ANSWER_MS 15000	/* an unanswered request may be repeated */

/* A verified tree head as stored. */
struct th {
	uint64_t size;
	uint8_t root[HV_HASH_LEN];
	int64_t time_ms;
	uint8_t sig[HV_SIGNATURE_LEN];
};

/* ---- the stored head and failure --------------------------------------- */

/*
 * Reads the stored head in txn into *out.
 * Errors: HV_ENOTFOUND (none stored), HV_EMALFORMED (a record of the wrong
 * length), HV_EIO.
 */
static hv_err
head_load(struct agent *a, MDB_txn *txn, struct th *out)
{
	const uint8_t *p;
	MDB_val v;
	hv_err e;

	if ((e = store_get(a, txn, DB_META, TH_KEY, strlen(TH_KEY), &v)) !=
	    HV_OK)
		return e;
	if (v.mv_size != TH_REC_LEN)
		return HV_EMALFORMED;
	p = v.mv_data;
	out->size = hv_be64_get(p);
	memcpy(out->root, p + 8, HV_HASH_LEN);
	out->time_ms = (int64_t)hv_be64_get(p + 8 + HV_HASH_LEN);
	memcpy(out->sig, p + 16 + HV_HASH_LEN, HV_SIGNATURE_LEN);
	return HV_OK;
}

/* Stores h as the last verified head and commits. Errors: as commit. */
static hv_err
head_save(struct agent *a, const struct th *h)
{
	uint8_t rec[TH_REC_LEN];
	MDB_txn *txn;
	hv_err e;

	hv_be64_put(rec, h->size);
	memcpy(rec + 8, h->root, HV_HASH_LEN);
	hv_be64_put(rec + 8 + HV_HASH_LEN, (uint64_t)h->time_ms);
	memcpy(rec + 16 + HV_HASH_LEN, h->sig, HV_SIGNATURE_LEN);
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return e;
	if ((e = store_put(a, txn, DB_META, TH_KEY, strlen(TH_KEY), rec,
	    sizeof(rec))) != HV_OK) {
		mdb_txn_abort(txn);
		return e;
	}
	return hv_store_commit(txn);
}

/*
 * The stored head: 1 and *out filled, 0 when none is stored, -1 when the
 * store cannot be read (the check is then skipped, never failed).
 */
static int
head_stored(struct agent *a, struct th *out)
{
	MDB_txn *txn;
	hv_err e;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return -1;
	e = head_load(a, txn, out);
	mdb_txn_abort(txn);
	if (e == HV_OK && out->size > 0)
		return 1;
	if (e == HV_ENOTFOUND || e == HV_OK)
		return 0;
	hv_log_warnx("integrity: cannot read the stored tree head: %s",
	    hv_errname(e));
	return -1;
}

/* The recorded failure (new reference), or NULL when there is none. */
static json_t *
failure_load(struct agent *a, MDB_txn *txn)
{
	MDB_val v;

	if (store_get(a, txn, DB_META, IG_KEY, strlen(IG_KEY), &v) != HV_OK)
		return NULL;
	return json_loadb(v.mv_data, v.mv_size, 0, NULL);
}

/*
 * Records the failure unless one is already recorded (the first one is the
 * evidence an operator needs, and its time is when trust was lost).
 */
static void
failure_save(struct agent *a, json_t *rec)
{
	MDB_txn *txn;
	json_t *old;
	char *text;
	hv_err e;

	if (hv_store_begin(a->store, 0, &txn) != HV_OK)
		goto fail;
	if ((old = failure_load(a, txn)) != NULL) {
		json_decref(old);
		mdb_txn_abort(txn);
		return;
	}
	if ((text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		mdb_txn_abort(txn);
		goto fail;
	}
	e = store_put(a, txn, DB_META, IG_KEY, strlen(IG_KEY), text,
	    strlen(text));
	free(text);
	if (e != HV_OK) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if (hv_store_commit(txn) == HV_OK)
		return;
fail:
	hv_log_warnx("integrity: cannot record the failure in the store; "
	    "it is shown until the agent stops");
}

/*
 * Raises an integrity failure: records it, and the first time this kind of
 * failure is seen against this stored size (in this run) logs it, sends an
 * `integrity` event and runs alert_command. broker_size < 0 means unknown.
 * The stored head is never touched here.
 */
static void
fail(struct agent *a, const char *kind, uint64_t stored, int64_t broker,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
fail(struct agent *a, const char *kind, uint64_t stored, int64_t broker,
    const char *fmt, ...)
{
	char msg[400], key[sizeof(a->th_alerted)];
	json_t *rec, *ev, *hook;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(key, sizeof(key), "%s:%llu", kind, (unsigned long long)stored);
	rec = json_pack("{s:s, s:s, s:I, s:I, s:o}", "code", "TAMPERED",
	    "message", msg, "since", (json_int_t)hv_now_ms(), "stored_size",
	    (json_int_t)stored, "broker_size", broker < 0 ? json_null() :
	    json_integer(broker));
	if (rec != NULL)
		failure_save(a, rec);
	json_decref(rec);
	if (strcmp(key, a->th_alerted) == 0) {
		hv_log_debug("integrity: %s (already raised)", msg);
		return;
	}
	snprintf(a->th_alerted, sizeof(a->th_alerted), "%s", key);
	hv_log_warnx("integrity: TAMPERED: %s", msg);
	ev = json_pack("{s:n, s:s, s:s, s:I, s:o}", "id", "code", "TAMPERED",
	    "message", msg, "stored_size", (json_int_t)stored, "broker_size",
	    broker < 0 ? json_null() : json_integer(broker));
	if (ev != NULL) {
		bus_publish(&a->bus, "integrity", ev);
		json_decref(ev);
	}
	hook = json_pack("{s:s, s:n, s:s, s:s, s:I, s:o}", "event",
	    "integrity", "id", "code", "TAMPERED", "message", msg,
	    "stored_size", (json_int_t)stored, "broker_size", broker < 0 ?
	    json_null() : json_integer(broker));
	if (hook != NULL) {
		hook_alert(a, hook);
		json_decref(hook);
	}
}

/* ---- requests ---------------------------------------------------------- */

void
integrity_session(struct agent *a)
{
	a->th_pending = 0;
	a->th_next_ms = 0;
}

/* Sends TreeHeadRequest{since_size}; 0, or -1 (not sent). */
static int
send_request(struct agent *a, uint64_t since)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__TreeHeadRequest r = HAVEN__TREE_HEAD_REQUEST__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	r.since_size = since;
	f.kind_case = HAVEN__FRAME__KIND_TREE_HEAD_REQUEST;
	f.tree_head_request = &r;
	if (hv_frame_pack(&f, &buf, &len) != HV_OK)
		return -1;
	rc = zmq_send(a->dealer, buf, len, ZMQ_DONTWAIT);
	free(buf);
	return rc < 0 ? -1 : 0;
}

void
integrity_tick(struct agent *a, int64_t now)
{
	struct th st;
	int have;

	if (!a->th_started) {
		MDB_txn *txn;
		json_t *f = NULL;

		a->th_started = 1;
		if (hv_store_begin(a->store, 1, &txn) == HV_OK) {
			f = failure_load(a, txn);
			mdb_txn_abort(txn);
		}
		if (f != NULL)
			hv_log_warnx("integrity: TAMPERED since the last run: "
			    "%s (after investigating, stop the agent and run "
			    "haven-agent --config FILE --forget-tree-head)",
			    json_string_value(json_object_get(f, "message")) ?
			    json_string_value(json_object_get(f, "message")) :
			    "no detail recorded");
		json_decref(f);
	}
	if (!atomic_load(&a->connected) || now < a->th_next_ms ||
	    (a->th_pending && now - a->th_sent_ms < TH_ANSWER_MS))
		return;
	if ((have = head_stored(a, &st)) < 0) {
		a->th_next_ms = now + (int64_t)a->cfg.tree_head_interval * 1000;
		return;
	}
	a->th_asked = have ? st.size : 0;
	if (send_request(a, a->th_asked) != 0) {
		a->th_next_ms = now + 1000;	/* the link is busy or down */
		return;
	}
	a->th_pending = 1;
	a->th_sent_ms = now;
	a->th_next_ms = now + (int64_t)a->cfg.tree_head_interval * 1000;
}

/* ---- answers ----------------------------------------------------------- */

/* Copies a wire head into h; 0, or -1 when a field has the wrong length. */
static int
head_from_wire(const Haven__SignedTreeHead *w, struct th *h)
{
	if (w->root.len != HV_HASH_LEN || w->signature.len != HV_SIGNATURE_LEN)
		return -1;
	h->size = w->size;
	memcpy(h->root, w->root.data, HV_HASH_LEN);
	h->time_ms = w->time;
	memcpy(h->sig, w->signature.data, HV_SIGNATURE_LEN);
	return 0;
}

/*
 * Checks that `next` extends `st` with the answer's proof. Returns 0, or -1
 * after raising the failure; 1 when the proof is from an older head this
 * agent has since moved past (a stale answer: ask again).
 */
static int
check_extends(struct agent *a, const struct th *st, const struct th *next,
    const Haven__TreeHead *t)
{
	uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	unsigned long long s = st->size, n = next->size;

	if (n < s) {
		fail(a, "smaller", s, (int64_t)n, "The broker's audit log has "
		    "%llu records, fewer than the %llu of the tree head this "
		    "agent verified before: its history was rolled back or "
		    "rewritten.", n, s);
		return -1;
	}
	if (n == s) {
		if (memcmp(next->root, st->root, HV_HASH_LEN) == 0)
			return 0;
		fail(a, "root", s, (int64_t)n, "The broker's tree head of size "
		    "%llu has a different root from the one this agent "
		    "verified at that size: its history was rewritten.", n);
		return -1;
	}
	if (t->from_size != s) {
		if (t->from_size != 0 && t->from_size < s)
			return 1;
		fail(a, "noproof", s, (int64_t)n, "The broker sent a tree head "
		    "of size %llu without a consistency proof from the %llu "
		    "records this agent verified before.", n, s);
		return -1;
	}
	if (t->n_consistency > HV_MERKLE_MAX_PROOF)
		goto bad;
	for (size_t i = 0; i < t->n_consistency; i++) {
		if (t->consistency[i].len != HV_HASH_LEN)
			goto bad;
		memcpy(proof[i], t->consistency[i].data, HV_HASH_LEN);
	}
	if (hv_merkle_verify_consistency(st->size, next->size, st->root,
	    next->root, (const uint8_t (*)[HV_HASH_LEN])proof,
	    t->n_consistency) == HV_OK)
		return 0;
bad:
	fail(a, "proof", s, (int64_t)n, "The broker's audit log of %llu "
	    "records is not an extension of the %llu records this agent "
	    "verified before (the consistency proof does not verify): its "
	    "history was rewritten.", n, s);
	return -1;
}

void
integrity_on_head(struct agent *a, const Haven__TreeHead *t)
{
	struct th st, next;
	struct hv_prev_signs prev = { 0 };
	const struct hv_node *b;
	uint8_t sign[HV_SIGN_PUBLIC_LEN];
	int have, rc;
	hv_err e;

	a->th_pending = 0;
	if ((have = head_stored(a, &st)) < 0)
		return;
	pthread_rwlock_rdlock(&a->dir_lock);
	memcpy(sign, a->broker_sign, sizeof(sign));
	/* A head signed before the broker rotated, by its key of the time. */
	if (a->dir != NULL && (b = hv_directory_broker(a->dir)) != NULL)
		prev = b->prev_sign;
	pthread_rwlock_unlock(&a->dir_lock);
	if (t->head == NULL || head_from_wire(t->head, &next) != 0 ||
	    (e = hv_auditlog_head_verify_at(t->head, sign, &prev)) != HV_OK) {
		fail(a, "signature", have ? st.size : 0, t->head ?
		    (int64_t)t->head->size : -1, "The broker's tree head%s is "
		    "not signed by the broker's key in the directory.",
		    t->head ? "" : " is missing and");
		return;
	}
	if (have) {
		if ((rc = check_extends(a, &st, &next, t)) < 0)
			return;
		if (rc == 1) {
			hv_log_debug("integrity: a proof from size %llu is "
			    "stale; asking again", (unsigned long long)
			    t->from_size);
			/*
			 * Not at once: under load answers overtake each
			 * other, and asking at once would keep two requests
			 * chasing a growing log.
			 */
			a->th_next_ms = hv_mono_ms() + 1000;
			return;
		}
		if (next.size == st.size) {
			a->th_error_warned = 0;
			return;		/* the same head, perhaps re-signed */
		}
	}
	if ((e = head_save(a, &next)) != HV_OK) {
		hv_log_warnx("integrity: cannot store the tree head: %s",
		    hv_errname(e));
		return;
	}
	a->th_error_warned = 0;
	hv_log_debug("integrity: verified tree head of size %llu",
	    (unsigned long long)next.size);
}

int
integrity_on_error(struct agent *a, const Haven__Error *er)
{
	struct th st;

	if (!a->th_pending || er->code == NULL)
		return 0;
	a->th_pending = 0;
	if (strcmp(er->code, hv_errname(HV_EIO)) == 0) {
		/*
		 * The broker could not read its own log or build the proof:
		 * a fault on its side, not evidence of a rewrite. Logged once
		 * until a head is accepted again; the check goes on.
		 */
		if (!a->th_error_warned)
			hv_log_warnx("integrity: the broker could not answer "
			    "the tree head request: %s", er->message ?
			    er->message : "no detail");
		a->th_error_warned = 1;
		return 1;
	}
	if (strcmp(er->code, hv_errname(HV_ENOTFOUND)) != 0)
		return 0;
	if (head_stored(a, &st) != 1) {
		hv_log_debug("integrity: the broker has no tree head yet");
		return 1;
	}
	fail(a, "missing", st.size, -1, "The broker says it has no signed "
	    "tree head, but this agent verified one of %llu records before: "
	    "its audit log was lost or replaced.",
	    (unsigned long long)st.size);
	return 1;
}

/* ---- health and the operator ------------------------------------------- */

void
integrity_health(struct agent *a, json_t *health)
{
	json_t *th = json_null(), *ig = NULL, *f = NULL;
	struct th st;
	MDB_txn *txn;

	if (hv_store_begin(a->store, 1, &txn) == HV_OK) {
		if (head_load(a, txn, &st) == HV_OK && st.size > 0) {
			char hex[2 * HV_HASH_LEN + 1];

			hv_hex(st.root, HV_HASH_LEN, hex);
			th = json_pack("{s:I, s:s, s:o, s:b}", "size",
			    (json_int_t)st.size, "root", hex, "time",
			    json_time(st.time_ms), "verified", 1);
		}
		f = failure_load(a, txn);
		mdb_txn_abort(txn);
	}
	if (f != NULL) {
		json_t *code = json_object_get(f, "code");
		json_t *msg = json_object_get(f, "message");

		ig = json_pack("{s:b, s:s, s:s, s:o}", "ok", 0, "code",
		    json_is_string(code) ? json_string_value(code) :
		    "TAMPERED", "message", json_is_string(msg) ?
		    json_string_value(msg) : "", "since", json_time(
		    json_integer_value(json_object_get(f, "since"))));
		json_decref(f);
	}
	if (ig == NULL)
		ig = json_pack("{s:b}", "ok", 1);
	json_object_set_new(health, "tree_head", th ? th : json_null());
	json_object_set_new(health, "integrity", ig);
}

hv_err
integrity_forget(struct agent *a, struct hv_errdetail *d)
{
	MDB_txn *txn;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return hv_errset(d, e, "data_dir", "cannot write the store in "
		    "%s.", a->cfg.data_dir);
	e = store_del(a, txn, DB_META, TH_KEY, strlen(TH_KEY));
	if (e == HV_OK || e == HV_ENOTFOUND)
		e = store_del(a, txn, DB_META, IG_KEY, strlen(IG_KEY));
	if (e != HV_OK && e != HV_ENOTFOUND) {
		mdb_txn_abort(txn);
		return hv_errset(d, e, "data_dir", "cannot update the store "
		    "in %s: %s", a->cfg.data_dir, hv_strerror(e));
	}
	if ((e = hv_store_commit(txn)) != HV_OK)
		return hv_errset(d, e, "data_dir", "cannot commit to the store "
		    "in %s: %s", a->cfg.data_dir, hv_strerror(e));
	return HV_OK;
}
