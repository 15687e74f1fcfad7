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
 * broker_size).
 *
 * A broker restored from a backup (SPEC §13) serves a restore notice
 * signed by the partnership root with its tree heads. A shorter or
 * different log is accepted only with such a notice (restore_consider);
 * the agent then keeps the notice's digest ("restore_notice", so that each
 * notice is taken once) and the state "restored" (JSON, shown in
 * /v1/health, not a failure), and sends again what the broker lost.
 *
 * The main thread does the checking and writing; HTTP threads only read,
 * in their own transactions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "agent.h"
#include "hv_auditlog.h"
#include "hv_log.h"
#include "hv_merkle.h"
#include "hv_restore.h"
#include "hv_util.h"
#include "hv_wire.h"

#define TH_KEY "tree_head"
#define IG_KEY "integrity"
#define RN_KEY "restore_notice" /* digest of the notice accepted */
#define RS_KEY "restored" /* the restored state, JSON */
#define TH_REC_LEN (8 + HV_HASH_LEN + 8 + HV_SIGNATURE_LEN)
#define TH_ANSWER_MS 15000 /* an unanswered request may be repeated */

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
static void fail(struct agent *a, const char *kind, uint64_t stored,
    int64_t broker, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

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
	    (json_int_t)stored, "broker_size",
	    broker < 0 ? json_null() : json_integer(broker));
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
	hook = json_pack("{s:s, s:n, s:s, s:s, s:I, s:o}", "event", "integrity",
	    "id", "code", "TAMPERED", "message", msg, "stored_size",
	    (json_int_t)stored, "broker_size",
	    broker < 0 ? json_null() : json_integer(broker));
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
			hv_log_warnx(
			    "integrity: TAMPERED since the last run: "
			    "%s (after investigating, stop the agent and run "
			    "haven-agent --config FILE --forget-tree-head)",
			    json_string_value(json_object_get(f, "message")) ?
			        json_string_value(
			            json_object_get(f, "message")) :
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
		a->th_next_ms = now + 1000; /* the link is busy or down */
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
 * after raising the failure (only when raise is set: a restore notice may
 * still explain it); 1 when the proof is from an older head this agent has
 * since moved past (a stale answer: ask again).
 */
static int
check_extends(struct agent *a, const struct th *st, const struct th *next,
    const Haven__TreeHead *t, int raise)
{
	uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	unsigned long long s = st->size, n = next->size;

	if (n < s) {
		if (raise)
			fail(a, "smaller", s, (int64_t)n,
			    "The broker's audit "
			    "log has %llu records, fewer than the %llu of the "
			    "tree head this agent verified before: its history "
			    "was rolled back or rewritten.",
			    n, s);
		return -1;
	}
	if (n == s) {
		if (memcmp(next->root, st->root, HV_HASH_LEN) == 0)
			return 0;
		if (raise)
			fail(a, "root", s, (int64_t)n,
			    "The broker's tree head "
			    "of size %llu has a different root from the one "
			    "this agent verified at that size: its history was "
			    "rewritten.",
			    n);
		return -1;
	}
	if (t->from_size != s) {
		if (t->from_size != 0 && t->from_size < s)
			return 1;
		if (raise)
			fail(a, "noproof", s, (int64_t)n,
			    "The broker sent a "
			    "tree head of size %llu without a consistency "
			    "proof from the %llu records this agent verified "
			    "before.",
			    n, s);
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
	        next->root, (const uint8_t(*)[HV_HASH_LEN])proof,
	        t->n_consistency) == HV_OK)
		return 0;
bad:
	if (raise)
		fail(a, "proof", s, (int64_t)n,
		    "The broker's audit log of "
		    "%llu records is not an extension of the %llu records "
		    "this agent verified before (the consistency proof does "
		    "not verify): its history was rewritten.",
		    n, s);
	return -1;
}

/* ---- a restored broker (SPEC §13) -------------------------------------- */

/* 1 when the notice with this digest was accepted before. */
static int
notice_seen(struct agent *a, const uint8_t digest[32])
{
	MDB_txn *txn;
	MDB_val v;
	int seen = 0;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return 1; /* cannot tell: do not act twice */
	if (store_get(a, txn, DB_META, RN_KEY, strlen(RN_KEY), &v) == HV_OK &&
	    v.mv_size == 32 && memcmp(v.mv_data, digest, 32) == 0)
		seen = 1;
	mdb_txn_abort(txn);
	return seen;
}

/* Logs why a notice is not taken, once per notice. Returns 0. */
static int
notice_refused(struct agent *a, const uint8_t digest[32], const char *why)
{
	if (memcmp(a->rn_refused, digest, 32) != 0)
		hv_log_warnx("integrity: the broker's restore notice is not "
		             "accepted: %s",
		    why);
	memcpy(a->rn_refused, digest, 32);
	return 0;
}

/*
 * Stores the head, the accepted notice's digest and, when a verified head
 * was set aside, the "restored" state and its alert_command run, in one
 * transaction.
 */
static hv_err
notice_save(struct agent *a, const struct th *next, const uint8_t digest[32],
    json_t *state)
{
	uint8_t rec[TH_REC_LEN];
	MDB_txn *txn;
	char *text = NULL, *hook = NULL;
	json_t *h;
	hv_err e;

	hv_be64_put(rec, next->size);
	memcpy(rec + 8, next->root, HV_HASH_LEN);
	hv_be64_put(rec + 8 + HV_HASH_LEN, (uint64_t)next->time_ms);
	memcpy(rec + 16 + HV_HASH_LEN, next->sig, HV_SIGNATURE_LEN);
	e = HV_ENOMEM;
	if (state != NULL) {
		if ((text = json_dumps(state,
		         JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
		    (h = json_pack("{s:s, s:n, s:s}", "event", "integrity",
		         "id", "state", "restored")) == NULL)
			goto out;
		json_object_update(h, state);
		hook = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(h);
		if (hook == NULL)
			goto out;
	}
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if ((e = store_put(a, txn, DB_META, TH_KEY, strlen(TH_KEY), rec,
	         sizeof(rec))) != HV_OK ||
	    (e = store_put(a, txn, DB_META, RN_KEY, strlen(RN_KEY), digest,
	         32)) != HV_OK ||
	    (text != NULL &&
	        (e = store_put(a, txn, DB_META, RS_KEY, strlen(RS_KEY), text,
	             strlen(text))) != HV_OK) ||
	    (hook != NULL &&
	        (e = hook_queue(a, txn, HOOK_INTEGRITY, 1, NULL, hook)) !=
	            HV_OK)) {
		mdb_txn_abort(txn);
		goto out;
	}
	e = hv_store_commit(txn);
out:
	free(hook);
	free(text);
	return e;
}

/* The log line and SSE event of a restored broker (the hook is queued). */
static void
restored_raise(struct agent *a, json_t *state)
{
	json_t *ev;

	hv_log_warnx("integrity: restored: %s",
	    json_string_value(json_object_get(state, "message")));
	if ((ev = json_pack("{s:n, s:s}", "id", "state", "restored")) != NULL) {
		json_object_update(ev, state);
		bus_publish(&a->bus, "integrity", ev);
		json_decref(ev);
	}
}

/*
 * A tree head that carries a restore notice. The notice is taken once,
 * when the root signed it for this partnership, the new head extends the
 * restored log it names (with the answer's restore_consistency proof),
 * and, when this agent's verified head does not extend to the new one,
 * the notice is at most that head's size (with its root at that size),
 * and was signed after it. Taking it stores the new head, puts back every
 * outbox message the broker may have lost (resubmit.c) and, when a
 * verified head was set aside, records the state "restored" and raises an
 * `integrity` event. Returns 1 when taken, 0 when the ordinary check must
 * decide (the notice seen before, not valid, or not needed).
 */
static int
restore_consider(struct agent *a, const struct th *st, const struct th *next,
    const Haven__TreeHead *t)
{
	uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	char partnership[HV_RESTORE_PARTNERSHIP_MAX + 1], why[400];
	struct hv_restore_notice n;
	struct hv_pubkeys root;
	struct hv_errdetail d;
	json_t *state = NULL;
	size_t count = 0;
	int aside = 0;
	hv_err e;

	hv_errclear(&d);
	if (hv_restore_parse(t->restore_notice.data, t->restore_notice.len, &n,
	        &d) != HV_OK ||
	    notice_seen(a, n.digest))
		return 0;
	if ((e = hv_pubkeys_load(a->cfg.root_pub, &root, &d)) != HV_OK)
		return notice_refused(a, n.digest, hv_errmsg(e, &d));
	pthread_rwlock_rdlock(&a->dir_lock);
	snprintf(partnership, sizeof(partnership), "%s",
	    hv_directory_partnership(a->dir));
	pthread_rwlock_unlock(&a->dir_lock);
	if ((e = hv_restore_verify(t->restore_notice.data,
	         t->restore_notice.len, root.sign, partnership, &n, &d)) !=
	    HV_OK)
		return notice_refused(a, n.digest, hv_errmsg(e, &d));
	if (t->n_restore_consistency > HV_MERKLE_MAX_PROOF)
		return notice_refused(a, n.digest, "its proof is too long.");
	for (size_t i = 0; i < t->n_restore_consistency; i++) {
		if (t->restore_consistency[i].len != HV_HASH_LEN)
			return notice_refused(a, n.digest,
			    "its proof is "
			    "malformed.");
		memcpy(proof[i], t->restore_consistency[i].data, HV_HASH_LEN);
	}
	if (hv_restore_check_head(&n, next->size, next->root,
	        (const uint8_t(*)[HV_HASH_LEN])proof,
	        t->n_restore_consistency) != HV_OK)
		return notice_refused(a, n.digest,
		    "the broker's log does not "
		    "extend the restored log the notice names.");
	if (st != NULL) {
		int rc = check_extends(a, st, next, t, 0);

		if (rc == 1)
			return 0; /* a stale answer; asked again */
		aside = rc < 0;
	}
	if (aside) {
		if (n.size > st->size)
			return notice_refused(a, n.digest,
			    "it restores more "
			    "records than this agent verified, so it cannot "
			    "explain a shorter or different log.");
		if (n.size == st->size &&
		    sodium_memcmp(n.root, st->root, HV_HASH_LEN) != 0)
			return notice_refused(a, n.digest,
			    "its root differs "
			    "from the one this agent verified at that size.");
		if (n.time_ms <= st->time_ms)
			return notice_refused(a, n.digest,
			    "it was signed "
			    "before the tree head it would set aside.");
	}
	if ((e = outbox_resubmit_lost(a, n.size, &count)) != HV_OK) {
		hv_log_warnx("integrity: cannot put back the messages the "
		             "restored broker lost: %s; trying again",
		    hv_errname(e));
		return 1;
	}
	if (aside) {
		snprintf(why, sizeof(why),
		    "The broker's store was restored "
		    "from a backup to %llu records (this agent had verified "
		    "%llu); the partnership root signed the notice: %s. %zu "
		    "message%s sent again.",
		    (unsigned long long)n.size, (unsigned long long)st->size,
		    n.reason, count, count == 1 ? " was" : "s were");
		state = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I}",
		    "code", "RESTORED", "message", why, "since",
		    (json_int_t)hv_now_ms(), "restored_size",
		    (json_int_t)n.size, "stored_size", (json_int_t)st->size,
		    "reason", n.reason, "broker_size", (json_int_t)next->size,
		    "resubmitted", (json_int_t)count);
	}
	if ((e = notice_save(a, next, n.digest, state)) != HV_OK) {
		hv_log_warnx("integrity: cannot store the restored tree head: "
		             "%s",
		    hv_errname(e));
		json_decref(state);
		return 1;
	}
	if (state != NULL)
		restored_raise(a, state);
	else
		hv_log_info("integrity: the broker was restored to %llu "
		            "records; %zu message%s sent again",
		    (unsigned long long)n.size, count, count == 1 ? "" : "s");
	json_decref(state);
	a->th_error_warned = 0;
	a->send_cursor = 0;
	agent_wake(a);
	return 1;
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
		fail(a, "signature", have ? st.size : 0,
		    t->head ? (int64_t)t->head->size : -1,
		    "The broker's tree head%s is "
		    "not signed by the broker's key in the directory.",
		    t->head ? "" : " is missing and");
		return;
	}
	if (t->restore_notice.len > 0 &&
	    restore_consider(a, have ? &st : NULL, &next, t))
		return;
	if (have) {
		if ((rc = check_extends(a, &st, &next, t, 1)) < 0)
			return;
		if (rc == 1) {
			hv_log_debug("integrity: a proof from size %llu is "
			             "stale; asking again",
			    (unsigned long long)t->from_size);
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
			return; /* the same head, perhaps re-signed */
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
			             "the tree head request: %s",
			    er->message ? er->message : "no detail");
		a->th_error_warned = 1;
		return 1;
	}
	if (strcmp(er->code, hv_errname(HV_ENOTFOUND)) != 0)
		return 0;
	if (head_stored(a, &st) != 1) {
		hv_log_debug("integrity: the broker has no tree head yet");
		return 1;
	}
	fail(a, "missing", st.size, -1,
	    "The broker says it has no signed "
	    "tree head, but this agent verified one of %llu records before: "
	    "its audit log was lost or replaced.",
	    (unsigned long long)st.size);
	return 1;
}

/* ---- health and the operator ------------------------------------------- */

void
integrity_health(struct agent *a, json_t *health)
{
	json_t *th = json_null(), *ig = NULL, *f = NULL, *r = NULL;
	struct th st;
	MDB_txn *txn;
	MDB_val v;

	if (hv_store_begin(a->store, 1, &txn) == HV_OK) {
		if (head_load(a, txn, &st) == HV_OK && st.size > 0) {
			char hex[2 * HV_HASH_LEN + 1];

			hv_hex(st.root, HV_HASH_LEN, hex);
			th = json_pack("{s:I, s:s, s:o, s:b}", "size",
			    (json_int_t)st.size, "root", hex, "time",
			    json_time(st.time_ms), "verified", 1);
		}
		f = failure_load(a, txn);
		if (f == NULL &&
		    store_get(a, txn, DB_META, RS_KEY, strlen(RS_KEY), &v) ==
		        HV_OK)
			r = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		mdb_txn_abort(txn);
	}
	if (f != NULL) {
		json_t *code = json_object_get(f, "code");
		json_t *msg = json_object_get(f, "message");

		ig = json_pack("{s:b, s:s, s:s, s:s, s:o}", "ok", 0, "state",
		    "tampered", "code",
		    json_is_string(code) ? json_string_value(code) : "TAMPERED",
		    "message",
		    json_is_string(msg) ? json_string_value(msg) : "", "since",
		    json_time(json_integer_value(json_object_get(f, "since"))));
		json_decref(f);
	}
	if (ig == NULL && r != NULL) {
		/* Trusted again, on the root's word: shown, not a failure. */
		ig = json_pack("{s:b, s:s, s:s, s:s, s:o, s:O, s:O}", "ok", 1,
		    "state", "restored", "code", "RESTORED", "message",
		    json_string_value(json_object_get(r, "message")) ?
		        json_string_value(json_object_get(r, "message")) :
		        "",
		    "since",
		    json_time(json_integer_value(json_object_get(r, "since"))),
		    "restored_size",
		    json_object_get(r, "restored_size") ?
		        json_object_get(r, "restored_size") :
		        json_null(),
		    "reason",
		    json_object_get(r, "reason") ?
		        json_object_get(r, "reason") :
		        json_null());
	}
	json_decref(r);
	if (ig == NULL)
		ig = json_pack("{s:b, s:s}", "ok", 1, "state", "ok");
	json_object_set_new(health, "tree_head", th ? th : json_null());
	json_object_set_new(health, "integrity", ig);
}

hv_err
integrity_forget(struct agent *a, struct hv_errdetail *d)
{
	MDB_txn *txn;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return hv_errset(d, e, "data_dir",
		    "cannot write the store in "
		    "%s.",
		    a->cfg.data_dir);
	e = store_del(a, txn, DB_META, TH_KEY, strlen(TH_KEY));
	if (e == HV_OK || e == HV_ENOTFOUND)
		e = store_del(a, txn, DB_META, IG_KEY, strlen(IG_KEY));
	if (e == HV_OK || e == HV_ENOTFOUND)
		e = store_del(a, txn, DB_META, RS_KEY, strlen(RS_KEY));
	if (e != HV_OK && e != HV_ENOTFOUND) {
		mdb_txn_abort(txn);
		return hv_errset(d, e, "data_dir",
		    "cannot update the store "
		    "in %s: %s",
		    a->cfg.data_dir, hv_strerror(e));
	}
	if ((e = hv_store_commit(txn)) != HV_OK)
		return hv_errset(d, e, "data_dir",
		    "cannot commit to the store "
		    "in %s: %s",
		    a->cfg.data_dir, hv_strerror(e));
	return HV_OK;
}
