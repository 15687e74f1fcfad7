/*
 * haven-broker — one Submit, checked in the order of SPEC §6:
 *
 *   SENDER_MISMATCH  the Submit's sender is not the connection's node
 *   MALFORMED        the envelope does not decode
 *   BAD_SIGNATURE    the sender's Ed25519 signature does not verify
 *   (a byte-identical resubmission gets the original receipt here)
 *   CLOCK_SKEW       created is more than 300 s from the broker's clock
 *   REPLAY           a different envelope with an id already seen
 *   SENDER_REVOKED, UNKNOWN_RECIPIENT, REVOKED_RECIPIENT, POLICY_DENIED,
 *   BASIS_INVALID    hv_policy_check_envelope, the one copy of the policy
 *   POLICY_DENIED    an INFO_RESPONSE whose reply_to is not a request that
 *                    was addressed to its sender
 *   TOO_LARGE        ciphertext beyond max_message_bytes' padded size
 *   STORAGE_FULL     the map is too full to take it safely
 *
 * Every refusal is a signed REJECTED receipt with the code and one
 * sentence, and a REJECTED audit record; the connection stays up. An
 * accepted message (audit record, seen id, envelope, queue entries) is
 * written in the caller's transaction, and its ACCEPTED receipt waits in the
 * outbox until that transaction has committed.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_receipt.h"
#include "hv_util.h"
#include "hv_wire.h"

hv_err
receipt_make(struct broker *b, const uint8_t *id, const char *status,
    const char *code, const char *message, const char *node, const char *by,
    int64_t at_ms, uint64_t audit_seq, uint64_t receipt_seq, uint8_t **out,
    size_t *len)
{
	Haven__Receipt r = HAVEN__RECEIPT__INIT;
	uint8_t *buf;
	size_t n;
	hv_err e;

	r.id.data = (uint8_t *)id;
	r.id.len = id != NULL ? HV_ID_LEN : 0;
	r.status = (char *)status;
	r.code = (char *)(code ? code : "");
	r.message = (char *)(message ? message : "");
	r.node = (char *)(node ? node : "");
	r.by = (char *)(by ? by : "");
	r.at = at_ms;
	r.audit_seq = audit_seq;
	if ((e = hv_receipt_sign(&r, b->keys)) != HV_OK)
		return e;
	r.receipt_seq = receipt_seq;
	n = haven__receipt__get_packed_size(&r);
	if ((buf = malloc(n)) == NULL) {
		free(r.signature.data);
		return HV_ENOMEM;
	}
	haven__receipt__pack(&r, buf);
	free(r.signature.data);
	*out = buf;
	*len = n;
	return HV_OK;
}

/*
 * The reply_to rule of lib/hv_policy, with what this broker knows of the
 * request: DB_ADDR holds id || recipient for every message accepted, so a
 * hit means reply_to was addressed to the responding sender. Returns HV_OK,
 * HV_EPOLICY (d set) or a store error.
 */
static hv_err
check_reply_to(struct broker *b, MDB_txn *txn, const hv_envelope *env,
    struct hv_errdetail *d)
{
	uint8_t key[HV_ID_LEN + HV_NODE_MAX];
	size_t sl = strlen(env->sender);
	struct hv_policy_request req = { 0, 0, "" };
	MDB_val v;
	hv_err e;

	memcpy(key, env->reply_to, HV_ID_LEN);
	memcpy(key + HV_ID_LEN, env->sender, sl);
	e = store_get(txn, b->db[DB_ADDR], key, HV_ID_LEN + sl, &v);
	if (e != HV_OK && e != HV_ENOTFOUND)
		return e;
	if (e == HV_OK) {
		req.found = req.to_responder = 1;
		/* The value is 32 bytes, then the type with its NUL. */
		if (v.mv_size > 32 &&
		    memchr((uint8_t *)v.mv_data + 32, '\0', v.mv_size - 32) !=
		        NULL)
			req.type = (const char *)v.mv_data + 32;
	}
	return hv_policy_check_reply_to(env, &req, d);
}

/*
 * Remembers id's verdict: the hash of the envelope bytes and the receipt,
 * so a byte-identical resubmission gets the same receipt back.
 */
static hv_err
seen_put(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const uint8_t hash[32], const uint8_t *rb, size_t rl)
{
	uint8_t *sv = malloc(32 + rl);
	hv_err e;

	if (sv == NULL)
		return HV_ENOMEM;
	memcpy(sv, hash, 32);
	memcpy(sv + 32, rb, rl);
	e = store_put(txn, b->db[DB_SEEN], id, HV_ID_LEN, sv, 32 + rl);
	free(sv);
	return e;
}

/*
 * Answers a refused Submit: REJECTED audit record, signed receipt, and when
 * remember is set the id is recorded as seen with this receipt, so that a
 * byte-identical resubmission gets the same answer.
 */
static hv_err
reject(struct broker *b, MDB_txn *txn, const struct conn *c,
    const hv_envelope *env, const uint8_t hash[32], int remember, hv_err code,
    const struct hv_errdetail *d, struct outbox *o)
{
	const char *msg = hv_errmsg(code, d);
	uint8_t *rb = NULL;
	size_t rl = 0;
	uint64_t seq = 0;
	char hex[HV_ID_HEX_LEN + 1];
	hv_err e;

	if ((e = audit_reject(b, txn, c->node, env, code, msg, &seq)) != HV_OK)
		return e;
	if ((e = receipt_make(b, env ? env->id : NULL,
	         hv_status_name(HV_ST_REJECTED), hv_errname(code), msg, NULL,
	         NULL, hv_now_ms(), seq, 0, &rb, &rl)) != HV_OK)
		return e;
	/* A refusal counted while the store is full (seq 0) writes nothing. */
	if (remember && env != NULL && seq != 0 &&
	    (e = seen_put(b, txn, env->id, hash, rb, rl)) != HV_OK)
		goto out;
	if (env != NULL)
		hv_hex(env->id, HV_ID_LEN, hex);
	else
		snprintf(hex, sizeof(hex), "-");
	if (seq == 0)
		hv_log_info_limited(&b->full_log,
		    "rejected %s from %s: %s "
		    "(counted while the store is full)",
		    hex, c->node, hv_errname(code));
	else
		hv_log_info("rejected %s from %s: %s", hex, c->node,
		    hv_errname(code));
	e = reply_receipt_bytes(o, c, rb, rl);
out:
	free(rb);
	return e;
}

/* Writes an accepted message and queues its ACCEPTED receipt. */
static hv_err
accept(struct broker *b, MDB_txn *txn, const struct conn *c,
    const hv_envelope *env, const uint8_t *packed, size_t packed_len,
    const uint8_t hash[32], struct outbox *o)
{
	int decision = env->n_recipients == 0;
	struct hv_audit_rec rec;
	uint8_t *rb = NULL;
	size_t rl = 0;
	char hex[HV_ID_HEX_LEN + 1];
	hv_err e;

	hv_audit_rec_from_envelope(&rec, env,
	    hv_event_name(
	        decision ? HV_EV_DECISION_RECORDED : HV_EV_SUBMITTED));
	snprintf(rec.actor, sizeof(rec.actor), "%s", c->node);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	if ((e = receipt_make(b, env->id, hv_status_name(HV_ST_ACCEPTED), NULL,
	         NULL, NULL, NULL, rec.time_ms, rec.seq, 0, &rb, &rl)) != HV_OK)
		return e;
	if ((e = seen_put(b, txn, env->id, hash, rb, rl)) != HV_OK)
		goto out;
	if (!decision &&
	    (e = deliver_enqueue(b, txn, env, packed, packed_len,
	         rec.time_ms)) != HV_OK)
		goto out;
	/* The envelope, its audit record, indexes and page overhead. */
	b->txn_bytes += 2 * packed_len + 4096;
	hv_hex(env->id, HV_ID_LEN, hex);
	if (decision)
		hv_log_info("recorded decision %s from %s (%s, %s)", hex,
		    c->node, env->type, env->outcome);
	else
		hv_log_info("accepted %s from %s: %s %s to %zu recipient(s)",
		    hex, c->node, env->priority, env->type, env->n_recipients);
	e = reply_receipt_bytes(o, c, rb, rl);
out:
	free(rb);
	return e;
}

hv_err
submit_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Submit *s, struct outbox *o)
{
	hv_envelope env;
	struct hv_errdetail d;
	const struct hv_node *node;
	uint8_t hash[32] = { 0 };
	int have_env = 0, replay = 0, remember = 0;
	hv_err code, e;
	MDB_val seen;

	memset(&env, 0, sizeof(env));
	hv_errclear(&d);

	/* SENDER_MISMATCH: nothing is decoded for a connection that lies. */
	if (strcmp(s->sender, c->node) != 0) {
		code = hv_errset(&d, HV_ESENDERMISMATCH, "sender",
		    "The Submit "
		    "names sender %.64s but the connection is authenticated as "
		    "%s.",
		    s->sender, c->node);
		goto refuse;
	}
	/* MALFORMED */
	e = hv_envelope_unpack(s->envelope.data, s->envelope.len,
	    b->envelope_max, &env, &d);
	if (e == HV_ENOMEM)
		return e;
	if (e != HV_OK) {
		code = e == HV_ETOOLARGE ? HV_ETOOLARGE : HV_EMALFORMED;
		goto refuse;
	}
	have_env = 1;
	if (strcmp(env.sender, c->node) != 0) {
		code = hv_errset(&d, HV_ESENDERMISMATCH, "sender",
		    "The "
		    "envelope names sender %.64s but the connection is "
		    "authenticated as %s.",
		    env.sender, c->node);
		goto refuse;
	}
	/*
	 * BAD_SIGNATURE, with the key the directory holds for the sender:
	 * its current key only, never a previous one, even for an envelope
	 * whose `created` is before that key's end. `created` is the
	 * signer's word, so accepting an old key for "old" envelopes would
	 * let whoever holds a rotated-out key (often rotated because it may
	 * be compromised) inject messages by backdating them. Nothing is
	 * lost: what was signed before the rotation was accepted before it,
	 * and an agent signs again, with its new key, a message its outbox
	 * still held when it rotated (agent/outbox.c). Recipients check
	 * accepted messages against the key of their time (SPEC §13).
	 */
	node = hv_directory_node(b->dir, env.sender);
	if (node == NULL || !node->has_keys) {
		code = hv_errset(&d, HV_ESENDERREVOKED, "sender",
		    "The sender "
		    "%s has no keys in the directory in force.",
		    env.sender);
		goto refuse;
	}
	if (verify_envelope(b, s, &env, node->keys.sign) != HV_OK) {
		code = hv_errset(&d, HV_EBADSIG, "signature",
		    "The envelope's "
		    "signature does not verify with %s's key.",
		    env.sender);
		goto refuse;
	}
	/* A byte-identical resubmission gets the original receipt. */
	crypto_generichash(hash, sizeof(hash), s->envelope.data,
	    s->envelope.len, NULL, 0);
	e = store_get(txn, b->db[DB_SEEN], env.id, HV_ID_LEN, &seen);
	if (e == HV_OK) {
		if (seen.mv_size > 32 && memcmp(seen.mv_data, hash, 32) == 0) {
			e = reply_receipt_bytes(o, c,
			    (uint8_t *)seen.mv_data + 32, seen.mv_size - 32);
			goto out;
		}
		replay = 1;
	} else if (e != HV_ENOTFOUND)
		goto out;
	/* CLOCK_SKEW */
	if ((code = hv_policy_check_created(env.created, hv_now(),
	         BROKER_SKEW_S, BROKER_SKEW_S, "the broker's clock", &d)) !=
	    HV_OK)
		goto refuse;
	/* REPLAY */
	if (replay) {
		code = hv_errset(&d, HV_EREPLAY, "id",
		    "A different envelope "
		    "with this message id was already submitted.");
		goto refuse;
	}
	remember = 1;
	/* The directory and the agreement: one copy, in lib/hv_policy. */
	if ((code = hv_policy_check_envelope(b->dir, &env, &d)) != HV_OK)
		goto refuse;
	if (strcmp(env.type, "INFO_RESPONSE") == 0 && env.has_reply_to) {
		code = check_reply_to(b, txn, &env, &d);
		if (code == HV_EPOLICY)
			goto refuse;
		if ((e = code) != HV_OK)
			goto out;
	}
	/*
	 * TOO_LARGE. max_message_bytes bounds the payload before padding, but
	 * the broker sees only the padded ciphertext: every payload of a
	 * bucket looks the same, which is the point of padding. So it can
	 * refuse a ciphertext beyond the bucket of a max_message_bytes payload
	 * (padding adds at least one byte, so with the default 1 MiB that
	 * bucket is 2 MiB) and cannot refuse a larger payload inside that
	 * bucket: up to twice the limit, less a byte, from a sender that
	 * skips its agent's check. The exact check is the sending agent's,
	 * the one place that knows the unpadded size.
	 */
	if (env.ciphertext_len > b->ciphertext_max) {
		code = hv_errset(&d, HV_ETOOLARGE, "ciphertext",
		    "The payload "
		    "is larger than this broker's limit of %llu bytes.",
		    (unsigned long long)b->cfg.max_message_bytes);
		goto refuse;
	}
	/* STORAGE_FULL: keep the reserve deliveries need (broker.h). */
	if (!store_admits(b,
	        2 * s->envelope.len + 4096 +
	            (uint64_t)env.n_recipients * BROKER_DELIVERY_RESERVE)) {
		remember = 0;
		code = hv_errset(&d, HV_ESTORAGEFULL, NULL,
		    "The broker's "
		    "store is full; the message was not accepted, try again "
		    "later.");
		goto refuse;
	}
	e = accept(b, txn, c, &env, s->envelope.data, s->envelope.len, hash, o);
	goto out;
refuse:
	e = reject(b, txn, c, have_env ? &env : NULL, hash, remember, code, &d,
	    o);
out:
	hv_envelope_clear(&env);
	return e;
}

void
submit_reject_unaudited(struct broker *b, const struct conn *c,
    const Haven__Submit *s, hv_err code, struct outbox *o)
{
	hv_envelope env;
	uint8_t *rb = NULL;
	size_t rl = 0;
	int have = 0;

	memset(&env, 0, sizeof(env));
	if (hv_envelope_unpack(s->envelope.data, s->envelope.len,
	        b->envelope_max, &env, NULL) == HV_OK)
		have = 1;
	if (receipt_make(b, have ? env.id : NULL,
	        hv_status_name(HV_ST_REJECTED), hv_errname(code),
	        hv_strerror(code), NULL, NULL, hv_now_ms(), 0, 0, &rb,
	        &rl) == HV_OK) {
		reply_receipt_bytes(o, c, rb, rl);
		free(rb);
	}
	hv_log_warnx("refused a submit from %s without an audit record: %s",
	    c->node, hv_errname(code));
	hv_envelope_clear(&env);
}
