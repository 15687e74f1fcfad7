/*
 * The inbox: envelopes delivered by the broker, verified against the
 * sender's key from this agent's own directory (never the broker's word),
 * stored once per id exactly as received, and decrypted only when read.
 *
 * Before storing, the agent applies its own directory (lib/hv_policy, the
 * broker's rules): sender known and not revoked, an allow rule to this
 * node, the basis, the created time and the reply_to rule. A refused
 * delivery is acknowledged so that the broker stops offering it, but never
 * stored.
 *
 * Also the human side: acknowledgements by a person (recorded here, sent to
 * the broker as HumanAck by the main loop) and the escalation of IMMEDIATE
 * messages nobody acknowledged within escalate_after.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "hv_wire.h"

/* ---- storing ----------------------------------------------------------- */

/*
 * Fills req (and type, which req->type points at) with what this agent
 * knows of env's reply_to: a request it sent (outbox) or one it received
 * (inbox), and whether that request was addressed to env's sender.
 */
static hv_err
request_lookup(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    struct hv_policy_request *req, char type[HV_TYPE_BUF])
{
	static const struct {
		enum agent_db db;
		size_t hdr;
	} where[] = { { DB_OUTBOX, OB_HDR_LEN }, { DB_INBOX, IN_HDR_LEN } };

	memset(req, 0, sizeof(*req));
	type[0] = '\0';
	req->type = type;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		hv_envelope r;
		MDB_val v;
		hv_err e;

		e = store_get(a, txn, where[i].db, env->reply_to, HV_ID_LEN,
		    &v);
		if (e == HV_ENOTFOUND)
			continue;
		if (e != HV_OK)
			return e;
		if (v.mv_size <= where[i].hdr)
			continue;
		memset(&r, 0, sizeof(r));
		if (hv_envelope_unpack((uint8_t *)v.mv_data + where[i].hdr,
		        v.mv_size - where[i].hdr, v.mv_size, &r,
		        NULL) == HV_OK) {
			req->found = 1;
			req->to_responder =
			    hv_envelope_recipient_index(&r, env->sender) >= 0;
			snprintf(type, HV_TYPE_BUF, "%s", r.type);
		}
		hv_envelope_clear(&r);
		if (req->found)
			break;
	}
	return HV_OK;
}

hv_err
inbox_check_reply_to(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    struct hv_errdetail *d)
{
	struct hv_policy_request req;
	char type[HV_TYPE_BUF];
	MDB_txn *own = NULL;
	hv_err e;

	if (strcmp(env->type, "INFO_RESPONSE") != 0 || !env->has_reply_to)
		return HV_OK;
	if (txn == NULL) {
		if ((e = hv_store_begin(a->store, 1, &own)) != HV_OK)
			return hv_errset(d, e, NULL,
			    "The agent could not read "
			    "its store (%s).",
			    hv_errname(e));
		txn = own;
	}
	if ((e = request_lookup(a, txn, env, &req, type)) == HV_OK)
		e = hv_policy_check_reply_to(env, &req, d);
	else
		hv_errset(d, e, NULL,
		    "The agent could not read its store "
		    "(%s).",
		    hv_errname(e));
	if (own != NULL)
		mdb_txn_abort(own);
	return e;
}

/* 1 for the errors that refuse a delivery for good (the rest are ours). */
static int
is_refusal(hv_err e)
{
	return e != HV_OK && e != HV_ESTORAGEFULL && e != HV_EIO &&
	    e != HV_ENOMEM && e != HV_ESYS;
}

hv_err
inbox_store(struct agent *a, const uint8_t *buf, size_t len,
    struct inbox_verdict *vd)
{
	hv_envelope env;
	const struct hv_node *n;
	struct in_hdr h = { 0 };
	uint8_t *val = NULL, seqk[8], esck[8 + HV_ID_LEN];
	MDB_txn *txn = NULL;
	MDB_val v;
	int immediate;
	hv_err e;

	memset(&env, 0, sizeof(env));
	memset(vd, 0, sizeof(*vd));
	hv_errclear(&vd->d);
	if ((e = hv_envelope_unpack(buf, len,
	         hv_wire_envelope_max(agent_recv_payload_max(a)), &env,
	         &vd->d)) != HV_OK)
		goto out;
	memcpy(vd->id, env.id, HV_ID_LEN);
	vd->have_id = 1;
	snprintf(vd->sender, sizeof(vd->sender), "%s", env.sender);
	snprintf(vd->type, sizeof(vd->type), "%s", env.type);

	/* The sender's key from our own directory, never the broker's word. */
	pthread_rwlock_rdlock(&a->dir_lock);
	n = hv_directory_node(a->dir, env.sender);
	/*
	 * A message the sender signed before its rotation, delivered after
	 * this agent loaded the new directory, verifies with the key valid
	 * when it was made (the broker admitted it under that key).
	 */
	if (n == NULL || !n->has_keys)
		e = hv_errset(&vd->d, HV_ESENDERREVOKED, "sender",
		    "The "
		    "sender %.64s is not a node of this agent's directory.",
		    env.sender);
	else if ((e = hv_envelope_verify_at(&env, n->keys.sign,
	              &n->prev_sign)) != HV_OK)
		hv_errset(&vd->d, e, "signature",
		    "The sender's signature "
		    "does not verify with its key in this agent's directory.");
	pthread_rwlock_unlock(&a->dir_lock);
	if (e != HV_OK)
		goto out;

	/* Part of the burst's transaction when the link stores a burst. */
	if ((e = agent_txn_begin(a, &txn)) != HV_OK)
		goto out;
	/* A delivery stored before is acknowledged again, whatever changed. */
	if (store_get(a, txn, DB_INBOX, env.id, HV_ID_LEN, &v) == HV_OK) {
		vd->dup = 1;
		goto out;
	}

	/*
	 * The agreement as this agent's directory has it (SPEC §5): a broker
	 * that is compromised or behind on revocations must not be able to
	 * put into the inbox what the sender could not lawfully send here.
	 */
	pthread_rwlock_rdlock(&a->dir_lock);
	e = hv_policy_check_delivery(a->dir, &env, a->cfg.id, &vd->d);
	pthread_rwlock_unlock(&a->dir_lock);
	if (e != HV_OK)
		goto out;
	/*
	 * The clock window is not the broker's ±300 s: a message may wait at
	 * the broker for its whole TTL (message_ttl, default 7 days) while
	 * this agent is away, so it is legitimately that old. Refused: one
	 * created more than 300 s ahead of our clock, or older than the TTL
	 * plus those 300 s of skew (created in 2001, say).
	 */
	if ((e = hv_policy_check_created(env.created, hv_now(),
	         HV_POLICY_SKEW_S,
	         (int64_t)a->cfg.message_ttl + HV_POLICY_SKEW_S,
	         "this agent's clock", &vd->d)) != HV_OK ||
	    (e = inbox_check_reply_to(a, txn, &env, &vd->d)) != HV_OK)
		goto out;

	if ((val = malloc(IN_HDR_LEN + len)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	immediate = strcmp(env.priority, "IMMEDIATE") == 0;
	h.received_ms = hv_now_ms();
	if (immediate)
		h.escalate_at_ms =
		    h.received_ms + (int64_t)a->cfg.escalate_after * 1000;
	if ((e = store_next_seq(a, txn, &h.order_seq)) != HV_OK)
		goto out;
	in_hdr_put(val, &h);
	memcpy(val + IN_HDR_LEN, buf, len);
	hv_be64_put(seqk, h.order_seq);
	if ((e = store_put(a, txn, DB_INBOX, env.id, HV_ID_LEN, val,
	         IN_HDR_LEN + len)) != HV_OK ||
	    (e = store_put(a, txn, DB_INORDER, seqk, 8, env.id, HV_ID_LEN)) !=
	        HV_OK ||
	    (e = store_put(a, txn, DB_UNACKED, env.id, HV_ID_LEN, "", 0)) !=
	        HV_OK)
		goto out;
	if ((e = children_note_received(a, txn, &env)) != HV_OK)
		goto out;
	if (h.escalate_at_ms != 0) {
		hv_be64_put(esck, (uint64_t)h.escalate_at_ms);
		memcpy(esck + 8, env.id, HV_ID_LEN);
		if ((e = store_put(a, txn, DB_ESC, esck, sizeof(esck), "",
		         0)) != HV_OK)
			goto out;
	}
	/* The alert hook's run commits with the message: none is lost. */
	if ((e = hook_queue(a, txn, HOOK_MESSAGE, immediate, env.id, NULL)) !=
	    HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	vd->refused = vd->have_id && is_refusal(e);
	free(val);
	hv_envelope_clear(&env);
	return e;
}

/* ---- reading ----------------------------------------------------------- */

/* Decrypts env's payload as a new JSON object, or NULL. */
static json_t *
open_payload(struct agent *a, const hv_envelope *env)
{
	const struct hv_node *n;
	struct hv_prev_signs prev;
	uint8_t sign[HV_SIGN_PUBLIC_LEN], *pt = NULL;
	size_t len = 0;
	json_t *j = NULL;
	int have = 0;

	pthread_rwlock_rdlock(&a->dir_lock);
	n = hv_directory_node(a->dir, env->sender);
	if (n != NULL && n->has_keys) {
		memcpy(sign, n->keys.sign, sizeof(sign));
		prev = n->prev_sign;
		have = 1;
	}
	pthread_rwlock_unlock(&a->dir_lock);
	/* Stored before either side rotated: the key of its time opens it. */
	if (!have ||
	    hv_envelope_open_at(env, a->cfg.id, a->keys, sign, &prev, &pt,
	        &len) != HV_OK)
		return NULL;
	j = json_loadb((const char *)pt, len, JSON_REJECT_DUPLICATES, NULL);
	hv_payload_free(pt, len);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

json_t *
inbox_open_payload(struct agent *a, const hv_envelope *env)
{
	return open_payload(a, env);
}

static json_t *
flags_json(uint32_t flags)
{
	json_t *f = json_array();

	if (f != NULL && (flags & HV_FLAG_DO_NOT_CONTACT_FAMILY))
		json_array_append_new(f, json_string("do_not_contact_family"));
	return f;
}

static json_t *
acks_json(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN])
{
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = { HV_ID_LEN, (void *)id }, v;
	int rc;

	if (arr == NULL ||
	    mdb_cursor_open(txn, store_db(a, DB_ACKS), &cur) != 0)
		return arr;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *j;

		if (k.mv_size != HV_ID_LEN + 8 ||
		    memcmp(k.mv_data, id, HV_ID_LEN) != 0)
			break;
		if ((j = json_loadb(v.mv_data, v.mv_size, 0, NULL)) != NULL)
			json_array_append_new(arr, j);
	}
	mdb_cursor_close(cur);
	return arr;
}

/* Reads and unpacks an inbox entry inside txn. */
static int
read_entry(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    struct in_hdr *h, hv_envelope *env)
{
	MDB_val v;

	if (store_get(a, txn, DB_INBOX, id, HV_ID_LEN, &v) != HV_OK ||
	    v.mv_size < IN_HDR_LEN)
		return -1;
	in_hdr_get(v.mv_data, h);
	return hv_envelope_unpack((uint8_t *)v.mv_data + IN_HDR_LEN,
	           v.mv_size - IN_HDR_LEN, v.mv_size, env, NULL) == HV_OK ?
	    0 :
	    -1;
}

/*
 * The basis as the API shows it. The justification travels sealed to the
 * partnership's ig.* nodes (SPEC §4.2), so a recipient sees only that it
 * exists, how long it is and to whom it is sealed.
 */
static json_t *
basis_json(const struct hv_basis *b)
{
	json_t *j, *to;

	j = json_pack("{s:s, s:s, s:s, s:n, s:s}", "consent", b->consent,
	    "art6", b->art6, "art9", b->art9, "justification", "decided_by",
	    b->decided_by);
	if (j == NULL || b->sealed_len == 0)
		return j;
	if ((to = json_array()) == NULL) {
		json_decref(j);
		return NULL;
	}
	for (size_t i = 0; i < b->n_sealed_for; i++)
		json_array_append_new(to, json_string(b->sealed_for[i]));
	json_object_set_new(j, "justification_sealed",
	    json_pack("{s:I, s:o}", "length", (json_int_t)b->justification_len,
	        "to", to));
	return j;
}

/* The API's message object; do_not_contact_family always comes first. */
static json_t *
message_json(struct agent *a, MDB_txn *txn, const struct in_hdr *h,
    const hv_envelope *env)
{
	char hex[HV_ID_HEX_LEN + 1], rhex[HV_ID_HEX_LEN + 1];
	json_t *j, *to, *p;

	hv_hex(env->id, HV_ID_LEN, hex);
	if (env->has_reply_to)
		hv_hex(env->reply_to, HV_ID_LEN, rhex);
	to = json_array();
	for (size_t i = 0; i < env->n_recipients; i++)
		json_array_append_new(to, json_string(env->recipients[i]));
	j = json_pack("{s:b, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:s?, "
	              "s:o, s:b, s:o, s:b}",
	    "do_not_contact_family",
	    (env->flags & HV_FLAG_DO_NOT_CONTACT_FAMILY) != 0, "id", hex,
	    "sender", env->sender, "to", to, "type", env->type, "priority",
	    env->priority, "flags", flags_json(env->flags), "created",
	    json_time(env->created * 1000), "received_at",
	    json_time(h->received_ms), "reply_to",
	    env->has_reply_to ? rhex : NULL, "basis", basis_json(&env->basis),
	    "acknowledged", (h->flags & IN_ACKED) != 0, "acks",
	    acks_json(a, txn, env->id), "escalated",
	    (h->flags & IN_ESCALATED) != 0);
	if (j == NULL)
		return NULL;
	if ((p = open_payload(a, env)) == NULL) {
		json_object_set_new(j, "error",
		    json_pack("{s:s, s:n, s:s}", "code", "DECRYPT_FAILED",
		        "field", "message",
		        "The message "
		        "could not be verified and decrypted with this node's "
		        "key."));
		return j;
	}
	json_object_set(j, "subject",
	    json_object_get(p, "subject") ? json_object_get(p, "subject") :
	                                    json_null());
	json_object_set(j, "child",
	    json_object_get(p, "child") ? json_object_get(p, "child") :
	                                  json_null());
	json_object_set(j, "body",
	    json_object_get(p, "body") ? json_object_get(p, "body") :
	                                 json_null());
	json_object_set(j, "deadline",
	    json_object_get(p, "deadline") ? json_object_get(p, "deadline") :
	                                     json_null());
	json_decref(p);
	return j;
}

json_t *
inbox_message(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn;
	struct in_hdr h;
	hv_envelope env;
	json_t *j = NULL;

	memset(&env, 0, sizeof(env));
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return NULL;
	if (read_entry(a, txn, id, &h, &env) == 0)
		j = message_json(a, txn, &h, &env);
	mdb_txn_abort(txn);
	hv_envelope_clear(&env);
	return j;
}

json_t *
inbox_view(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	json_t *j;

	/* Retracted (even if held), then held or live, then erased. */
	if ((j = retract_header(a, id)) == NULL &&
	    (j = inbox_message(a, id)) == NULL)
		j = retention_tombstone(a, id);
	return j;
}

/* ---- listing in pages -------------------------------------------------- */

/*
 * A page's cursor is the sort key of the last message it holds, as hex:
 * "n" + order_seq for newest first, "p" + rank + due + order_seq for
 * priority order. The next page starts after that key, so paging reaches
 * every message that was there when it began exactly once, whatever
 * arrives or is acknowledged meanwhile.
 */
#define CURSOR_N_LEN (1 + 16)
#define CURSOR_P_LEN (1 + 2 + 16 + 16)

/* One listed message: its sort key and id. */
struct listed {
	uint8_t rank; /* 0 IMMEDIATE, 1 the rest */
	int64_t due_ms; /* deadline, INT64_MAX without one */
	uint64_t seq; /* arrival order: larger is newer */
	uint8_t id[HV_ID_LEN];
};

/* Priority order: IMMEDIATE first, then the earliest deadline, newest. */
static int
listed_cmp(const struct listed *x, const struct listed *y)
{
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->due_ms != y->due_ms)
		return x->due_ms < y->due_ms ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq > y->seq ? -1 : 1;
	return 0;
}

static int
listed_qcmp(const void *x, const void *y)
{
	return listed_cmp(x, y);
}

static void
cursor_make(const struct listed *l, int by_priority, char *out, size_t cap)
{
	if (by_priority)
		snprintf(out, cap, "p%02x%016llx%016llx", l->rank,
		    (unsigned long long)l->due_ms, (unsigned long long)l->seq);
	else
		snprintf(out, cap, "n%016llx", (unsigned long long)l->seq);
}

static int
hex_u64(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
		    c >= 'a' && c <= 'f'     ? c - 'a' + 10 :
		                               -1;

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint64_t)d;
	}
	return 0;
}

static hv_err
cursor_parse(const char *s, int by_priority, struct listed *l,
    struct hv_errdetail *d)
{
	uint64_t rank, due;
	size_t n = strlen(s);

	if (by_priority && n == CURSOR_P_LEN && s[0] == 'p' &&
	    hex_u64(s + 1, 2, &rank) == 0 && rank <= 1 &&
	    hex_u64(s + 3, 16, &due) == 0 &&
	    hex_u64(s + 19, 16, &l->seq) == 0) {
		l->rank = (uint8_t)rank;
		l->due_ms = (int64_t)due;
		return HV_OK;
	}
	if (!by_priority && n == CURSOR_N_LEN && s[0] == 'n' &&
	    hex_u64(s + 1, 16, &l->seq) == 0)
		return HV_OK;
	return hv_errset(d, HV_EBADREQUEST, "cursor",
	    "cursor is not one "
	    "this agent gave for this order; give the cursor of the page "
	    "before, or none for the first page.");
}

/* The deadline's due time of a stored envelope, INT64_MAX without one. */
static int64_t
due_of(struct agent *a, const hv_envelope *env)
{
	json_t *p = open_payload(a, env);
	const char *due = json_string_value(
	    json_object_get(json_object_get(p, "deadline"), "due"));
	int64_t ms = INT64_MAX;

	if (due == NULL || hv_time_parse(due, &ms) != 0)
		ms = INT64_MAX;
	json_decref(p);
	return ms;
}

hv_err
inbox_page(struct agent *a, const struct inbox_query *q, json_t **out,
    struct hv_errdetail *d)
{
	struct listed after, *all = NULL;
	size_t n = 0, cap = 0, total = 0, unacked = 0, first = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	json_t *page = NULL, *arr = NULL;
	hv_err e;
	int rc;

	memset(&after, 0, sizeof(after));
	if (q->cursor != NULL &&
	    (e = cursor_parse(q->cursor, q->by_priority, &after, d)) != HV_OK)
		return e;
	if ((e = hv_store_begin(a->store, 1, &txn)) != HV_OK)
		return e;
	if (mdb_cursor_open(txn, store_db(a, DB_INORDER), &cur) != 0) {
		e = HV_EIO;
		goto out;
	}
	/*
	 * One pass, newest first, over the headers (no decryption): counts
	 * for the whole filter, and the candidates for this page — all of
	 * them in priority order, which needs each one's deadline.
	 */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		struct in_hdr h;
		MDB_val iv;
		struct listed l;

		if (k.mv_size != 8 || v.mv_size != HV_ID_LEN ||
		    store_get(a, txn, DB_INBOX, v.mv_data, HV_ID_LEN, &iv) !=
		        HV_OK ||
		    iv.mv_size < IN_HDR_LEN)
			continue;
		in_hdr_get(iv.mv_data, &h);
		if (h.received_ms < q->since_ms)
			break; /* arrival order: all older from here */
		if (!(h.flags & IN_ACKED))
			unacked++;
		if (q->unacked && (h.flags & IN_ACKED))
			continue;
		total++;
		memset(&l, 0, sizeof(l));
		l.seq = hv_be64_get(k.mv_data);
		memcpy(l.id, v.mv_data, HV_ID_LEN);
		if (!q->by_priority) {
			if (q->cursor != NULL && l.seq >= after.seq)
				continue;
			if (n > q->limit)
				continue; /* counting only */
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct listed *na = realloc(all, nc * sizeof(*na));

			if (na == NULL) {
				e = HV_ENOMEM;
				goto out;
			}
			all = na;
			cap = nc;
		}
		all[n++] = l;
	}
	if (q->by_priority) {
		for (size_t i = 0; i < n; i++) {
			hv_envelope env;
			struct in_hdr h;

			memset(&env, 0, sizeof(env));
			if (read_entry(a, txn, all[i].id, &h, &env) == 0) {
				all[i].rank =
				    strcmp(env.priority, "IMMEDIATE") == 0 ? 0 :
				                                             1;
				all[i].due_ms = due_of(a, &env);
			} else {
				all[i].rank = 1;
				all[i].due_ms = INT64_MAX;
			}
			hv_envelope_clear(&env);
		}
		if (n > 1) /* all is NULL when nothing matched */
			qsort(all, n, sizeof(*all), listed_qcmp);
		if (q->cursor != NULL)
			while (
			    first < n && listed_cmp(&all[first], &after) <= 0)
				first++;
	}
	if ((arr = json_array()) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	for (size_t i = first; i < n && i < first + q->limit; i++) {
		hv_envelope env;
		struct in_hdr h;
		json_t *m;

		memset(&env, 0, sizeof(env));
		if (read_entry(a, txn, all[i].id, &h, &env) == 0 &&
		    (m = message_json(a, txn, &h, &env)) != NULL)
			json_array_append_new(arr, m);
		hv_envelope_clear(&env);
	}
	page = json_pack("{s:I, s:I, s:n, s:o}", "total", (json_int_t)total,
	    "unacked", (json_int_t)unacked, "cursor", "messages", arr);
	arr = NULL;
	if (page == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	/* A cursor only when another message follows this page. */
	if (n > first + q->limit) {
		char c[CURSOR_P_LEN + 1];

		cursor_make(&all[first + q->limit - 1], q->by_priority, c,
		    sizeof(c));
		json_object_set_new(page, "cursor", json_string(c));
	}
	*out = page;
	page = NULL;
	e = HV_OK;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	json_decref(arr);
	json_decref(page);
	free(all);
	return e;
}

json_t *
inbox_summary(struct agent *a, const uint8_t id[HV_ID_LEN], int with_deadline)
{
	MDB_txn *txn;
	struct in_hdr h;
	hv_envelope env;
	char hex[HV_ID_HEX_LEN + 1];
	json_t *j = NULL;

	memset(&env, 0, sizeof(env));
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return NULL;
	if (read_entry(a, txn, id, &h, &env) != 0)
		goto out;
	hv_hex(env.id, HV_ID_LEN, hex);
	j = json_pack("{s:b, s:s, s:s, s:s, s:s, s:o}", "do_not_contact_family",
	    (env.flags & HV_FLAG_DO_NOT_CONTACT_FAMILY) != 0, "id", hex,
	    "sender", env.sender, "type", env.type, "priority", env.priority,
	    "flags", flags_json(env.flags));
	if (j == NULL)
		goto out;
	if (with_deadline) {
		json_t *p = open_payload(a, &env), *dl = NULL;

		if (p != NULL)
			dl = json_object_get(p, "deadline");
		json_object_set(j, "deadline", dl ? dl : json_null());
		json_decref(p);
	}
	json_object_set_new(j, "escalated",
	    json_boolean(h.flags & IN_ESCALATED));
	json_object_set_new(j, "received_at", json_time(h.received_ms));
out:
	mdb_txn_abort(txn);
	hv_envelope_clear(&env);
	return j;
}

size_t
inbox_unacked(struct agent *a)
{
	MDB_txn *txn;
	size_t n;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return 0;
	n = store_count(a, txn, DB_UNACKED);
	mdb_txn_abort(txn);
	return n;
}

/* ---- people and escalation --------------------------------------------- */

/* Queues HumanAck{id, by, escalated} for the main loop inside txn. */
static hv_err
queue_human_ack(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *by, int escalated)
{
	uint8_t k[8], v[1 + HV_ID_LEN + HV_DECIDED_BY_MAX];
	size_t blen = strlen(by);
	uint64_t seq;
	hv_err e;

	if (blen > HV_DECIDED_BY_MAX)
		blen = HV_DECIDED_BY_MAX;
	if ((e = store_next_seq(a, txn, &seq)) != HV_OK)
		return e;
	hv_be64_put(k, seq);
	v[0] = (uint8_t)escalated;
	memcpy(v + 1, id, HV_ID_LEN);
	memcpy(v + 1 + HV_ID_LEN, by, blen);
	return store_put(a, txn, DB_HACK, k, 8, v, 1 + HV_ID_LEN + blen);
}

/* Rewrites the flags byte of an inbox entry inside txn. */
static hv_err
set_flags(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    uint8_t add, struct in_hdr *h)
{
	MDB_val v;
	uint8_t *val;
	hv_err e;

	if ((e = store_get(a, txn, DB_INBOX, id, HV_ID_LEN, &v)) != HV_OK)
		return e;
	if (v.mv_size < IN_HDR_LEN)
		return HV_EIO;
	if ((val = malloc(v.mv_size)) == NULL)
		return HV_ENOMEM;
	memcpy(val, v.mv_data, v.mv_size);
	in_hdr_get(val, h);
	h->flags |= add;
	val[0] = h->flags;
	e = store_put(a, txn, DB_INBOX, id, HV_ID_LEN, val, v.mv_size);
	free(val);
	return e;
}

hv_err
inbox_ack(struct agent *a, const uint8_t id[HV_ID_LEN], const char *by,
    const char *note, int64_t *at_ms)
{
	MDB_txn *txn = NULL;
	struct in_hdr h;
	uint8_t k[HV_ID_LEN + 8], esck[8 + HV_ID_LEN];
	uint64_t seq;
	int64_t now = hv_now_ms();
	char *text = NULL, hex[HV_ID_HEX_LEN + 1];
	json_t *j;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if ((e = set_flags(a, txn, id, IN_ACKED, &h)) != HV_OK)
		goto out;
	j = json_pack("{s:s, s:s?, s:o}", "by", by, "note", note, "at",
	    json_time(now));
	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	if ((e = store_next_seq(a, txn, &seq)) != HV_OK)
		goto out;
	memcpy(k, id, HV_ID_LEN);
	hv_be64_put(k + HV_ID_LEN, seq);
	hv_be64_put(esck, (uint64_t)h.escalate_at_ms);
	memcpy(esck + 8, id, HV_ID_LEN);
	if ((e = store_put(a, txn, DB_ACKS, k, sizeof(k), text,
	         strlen(text))) != HV_OK ||
	    (e = store_del(a, txn, DB_UNACKED, id, HV_ID_LEN)) != HV_OK ||
	    (e = store_del(a, txn, DB_ESC, esck, sizeof(esck))) != HV_OK ||
	    (e = queue_human_ack(a, txn, id, by, 0)) != HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e == HV_OK) {
		*at_ms = now;
		hv_hex(id, HV_ID_LEN, hex);
		hv_log_info("message %s acknowledged", hex);
		agent_wake(a);
	}
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(text);
	return e;
}

/*
 * Marks due IMMEDIATE messages escalated (committed with the HumanAck to
 * send and the alert hook's run), then raises each again on the SSE bus.
 * Returns milliseconds until the next one is due (at most 1000).
 */
int64_t
inbox_escalate_due(struct agent *a)
{
	uint8_t ids[64][HV_ID_LEN];
	size_t n = 0;
	int64_t now = hv_now_ms(), next = 1000, first_due;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	/* Peek in a read transaction: most turns have nothing due. */
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return next;
	if (mdb_cursor_open(txn, store_db(a, DB_ESC), &cur) != 0)
		goto fail;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	first_due = rc == 0 && k.mv_size == 8 + HV_ID_LEN ?
	    (int64_t)hv_be64_get(k.mv_data) :
	    -1;
	mdb_cursor_close(cur);
	cur = NULL;
	mdb_txn_abort(txn);
	txn = NULL;
	if (first_due < 0)
		return next;
	if (first_due > now)
		return first_due - now < next ? first_due - now : next;

	if (hv_store_begin(a->store, 0, &txn) != HV_OK)
		return 1000;
	if (mdb_cursor_open(txn, store_db(a, DB_ESC), &cur) != 0)
		goto fail;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < 64;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct in_hdr h;
		int64_t due;

		if (k.mv_size != 8 + HV_ID_LEN)
			continue;
		due = (int64_t)hv_be64_get(k.mv_data);
		if (due > now) {
			next = due - now < next ? due - now : next;
			break;
		}
		memcpy(ids[n], (uint8_t *)k.mv_data + 8, HV_ID_LEN);
		if (mdb_cursor_del(cur, 0) != 0 ||
		    set_flags(a, txn, ids[n], IN_ESCALATED, &h) != HV_OK ||
		    queue_human_ack(a, txn, ids[n], "", 1) != HV_OK ||
		    hook_queue(a, txn, HOOK_ESCALATION, 1, ids[n], NULL) !=
		        HV_OK)
			goto fail;
		n++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (n == 0) {
		mdb_txn_abort(txn);
		return next;
	}
	if (hv_store_commit(txn) != HV_OK) {
		hv_log_warnx("cannot commit escalations; retrying");
		return 1000;
	}
	for (size_t i = 0; i < n; i++) {
		char hex[HV_ID_HEX_LEN + 1];
		json_t *s;

		hv_hex(ids[i], HV_ID_LEN, hex);
		hv_log_info("message %s escalated: not acknowledged within "
		            "%llu s",
		    hex, (unsigned long long)a->cfg.escalate_after);
		if ((s = inbox_summary(a, ids[i], 0)) != NULL) {
			json_object_set_new(s, "escalated_at", json_time(now));
			bus_publish(&a->bus, "escalation", s);
			json_decref(s);
		}
	}
	agent_wake(a);
	return n == 64 ? 0 : next;
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return 1000;
}
