/*
 * haven-broker — remote audit queries by IG officers (SPEC §9): AuditQuery
 * from an `ig.*` node, limited to the node's `scope` in the agreement,
 * answered with records, an inclusion proof or a consistency proof under a
 * freshly signed tree head, and itself audited as AUDIT_QUERY.
 *
 * A query runs inside the batch's write transaction, so what it reads, the
 * AUDIT_QUERY record that says it was asked, and the tree head that covers
 * both are one atomic step; the answer leaves only after the commit, like
 * every other reply. Proofs are made by lib/hv_proof, the same code as
 * `haven audit prove --db`, so a remote proof is the same JSON file.
 *
 * Nothing here logs a record's content; the AUDIT_QUERY record names the
 * filter in words (pseudonyms, ids, node names, times — never an NHS
 * number, which the broker never sees).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_config.h"
#include "hv_log.h"
#include "hv_proof.h"
#include "hv_util.h"
#include "hv_wire.h"

#define QUERY_MARGIN 2048 /* head, code, message and framing */

/* ---- scope ------------------------------------------------------------- */

static int
scope_all(const struct hv_node *ig)
{
	for (size_t i = 0; i < ig->n_scope; i++)
		if (strcmp(ig->scope[i], "*") == 0)
			return 1;
	return 0;
}

static int
node_in_scope(const struct hv_node *ig, const char *node)
{
	char role[HV_ROLE_MAX + 1];

	if (node[0] == '\0')
		return 0;
	hv_node_role(node, role, sizeof(role));
	return hv_directory_scope_allows(ig, role);
}

/*
 * A record is in an IG node's scope when the scope is `*`; when the node
 * itself is its actor (its own queries and refusals); or, for a record
 * about a message, when its sender or one of its recipients has a role of
 * the scope. Directory loads and other nodes' queries belong to nobody's
 * partial scope.
 */
static int
in_scope(const struct hv_node *ig, int all, const struct hv_audit_rec *r)
{
	if (all || strcmp(r->actor, ig->id) == 0)
		return 1;
	if (hv_event_is(r->event, HV_EV_AUDIT_QUERY) ||
	    hv_event_is(r->event, HV_EV_DIRECTORY_LOADED))
		return 0;
	if (node_in_scope(ig, r->sender))
		return 1;
	for (size_t i = 0; i < r->n_recipients; i++)
		if (node_in_scope(ig, r->recipients[i]))
			return 1;
	return 0;
}

/* ---- collecting records ------------------------------------------------ */

struct collect {
	const struct hv_node *ig;
	int all;
	size_t cap; /* records to return at most */
	int user_limit; /* cap is the query's own limit */
	size_t budget; /* bytes of records at most */
	size_t bytes;
	size_t n;
	ProtobufCBinaryData *v;
	int truncated;
	hv_err err;
};

static int
on_collect(void *ctx, const struct hv_audit_rec *r)
{
	struct collect *q = ctx;
	uint8_t *buf;
	size_t len;

	if (!in_scope(q->ig, q->all, r))
		return 0;
	if (q->n == q->cap) {
		q->truncated = !q->user_limit;
		return 1;
	}
	/* The stored encoding is canonical, so packing gives its bytes. */
	if ((q->err = hv_audit_rec_pack(r, &buf, &len)) != HV_OK)
		return 1;
	if (q->bytes + len + 8 > q->budget) {
		free(buf);
		q->truncated = 1;
		return 1;
	}
	q->v[q->n].data = buf;
	q->v[q->n].len = len;
	q->bytes += len + 8;
	q->n++;
	return 0;
}

static void
collect_free(struct collect *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->v[i].data);
	free(q->v);
	q->v = NULL;
	q->n = 0;
}

struct scope {
	const struct hv_node *ig;
	int all;
};

/* hv_proof_pick's filter: only records within the IG node's scope. */
static int
keep_in_scope(void *ctx, const struct hv_audit_rec *r)
{
	const struct scope *sc = ctx;

	return in_scope(sc->ig, sc->all, r);
}

/* ---- the AUDIT_QUERY record ------------------------------------------- */

/* Appends printf text to buf[cap] at *o, never past the end. */
static void words(char *buf, size_t cap, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
words(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o = *o + (size_t)n < cap ? *o + (size_t)n : cap;
}

/* Cuts buf back to whole UTF-8 characters (a record must be UTF-8). */
static void
utf8_trim(char *buf)
{
	size_t n = strlen(buf);

	while (n > 0 && !hv_utf8_valid(buf, n))
		buf[--n] = '\0';
}

/* "ig.bristol (scope *)" or "ig.avon-police (scope police, health)". */
static void
who(const struct hv_node *ig, char *buf, size_t cap, size_t *o)
{
	words(buf, cap, o, "%s (scope ", ig->id);
	for (size_t i = 0; i < ig->n_scope; i++)
		words(buf, cap, o, "%s%s", i ? ", " : "", ig->scope[i]);
	words(buf, cap, o, ")");
}

/* The filter of q in words. */
static void
filter_words(const Haven__AuditQuery *q, char *buf, size_t cap, size_t *o)
{
	char hex[2 * HV_HASH_LEN + 1], iso[40];
	size_t start = *o;

	if (q->subject.len == 32) {
		hv_hex(q->subject.data, 32, hex);
		words(buf, cap, o, ", subject %.16s...", hex);
	}
	if (q->message_id.len == HV_ID_LEN) {
		hv_hex(q->message_id.data, HV_ID_LEN, hex);
		words(buf, cap, o, ", message %s", hex);
	}
	if (q->sender[0] != '\0')
		words(buf, cap, o, ", sender %.64s", q->sender);
	if (q->recipient[0] != '\0')
		words(buf, cap, o, ", recipient %.64s", q->recipient);
	if (q->role[0] != '\0')
		words(buf, cap, o, ", role %.64s", q->role);
	if (q->event[0] != '\0')
		words(buf, cap, o, ", event %.24s", q->event);
	if (q->type[0] != '\0')
		words(buf, cap, o, ", type %.40s", q->type);
	if (q->since > 0) {
		hv_time_iso(q->since, iso, sizeof(iso));
		words(buf, cap, o, ", since %s", iso);
	}
	if (q->until > 0) {
		hv_time_iso(q->until, iso, sizeof(iso));
		words(buf, cap, o, ", until %s", iso);
	}
	if (q->limit > 0)
		words(buf, cap, o, ", limit %" PRIu32, q->limit);
	if (*o == start)
		words(buf, cap, o, ", everything in scope");
}

/* Appends the AUDIT_QUERY record: actor the IG node, detail the words. */
static hv_err
audit_query_record(struct broker *b, MDB_txn *txn, const struct hv_node *ig,
    const Haven__AuditQuery *q, const char *detail)
{
	struct hv_audit_rec rec;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.event, sizeof(rec.event), "%s",
	    hv_event_name(HV_EV_AUDIT_QUERY));
	snprintf(rec.actor, sizeof(rec.actor), "%s", ig->id);
	/* Indexed, so "who looked at this child / message" is a query. */
	if (q->subject.len == 32) {
		rec.has_subject = 1;
		memcpy(rec.subject, q->subject.data, 32);
	}
	if (q->prove_id.len == HV_ID_LEN) {
		rec.has_id = 1;
		memcpy(rec.id, q->prove_id.data, HV_ID_LEN);
	} else if (q->message_id.len == HV_ID_LEN) {
		rec.has_id = 1;
		memcpy(rec.id, q->message_id.data, HV_ID_LEN);
	}
	snprintf(rec.detail, sizeof(rec.detail), "%s", detail);
	utf8_trim(rec.detail);
	return audit_append(b, txn, &rec);
}

/* ---- refusals ------------------------------------------------------------ */

static hv_err
refuse(struct broker *b, MDB_txn *txn, const struct conn *c, hv_err code,
    const char *msg, struct outbox *o)
{
	hv_err e;

	if ((e = audit_reject(b, txn, c->node, NULL, code, msg, NULL)) != HV_OK)
		return e;
	hv_log_info("refused an audit query from %s: %s", c->node,
	    hv_errname(code));
	return reply_error(o, c, hv_errname(code), msg);
}

/* Checks the shape of a query. Returns NULL or the sentence at fault. */
static const char *
query_malformed(const Haven__AuditQuery *q)
{
	if (q->subject.len != 0 && q->subject.len != 32)
		return "AuditQuery.subject must be a 32-byte pseudonym.";
	if (q->message_id.len != 0 && q->message_id.len != HV_ID_LEN)
		return "AuditQuery.message_id must be 16 bytes.";
	if (q->prove_id.len != 0 && q->prove_id.len != HV_ID_LEN)
		return "AuditQuery.prove_id must be 16 bytes.";
	if (q->since < 0 || q->until < 0)
		return "AuditQuery.since and until are unix milliseconds, "
		       "not negative.";
	if (q->prove_id.len != 0 && q->consistency_from != 0)
		return "An AuditQuery asks for an inclusion proof or a "
		       "consistency proof, not both.";
	if (strlen(q->sender) > HV_NODE_MAX ||
	    strlen(q->recipient) > HV_NODE_MAX ||
	    strlen(q->role) > HV_ROLE_MAX || strlen(q->event) > 23 ||
	    strlen(q->type) > 39)
		return "A node, role, event or type in the AuditQuery is "
		       "longer than any the partnership uses.";
	return NULL;
}

/* ---- answers ----------------------------------------------------------- */

static void
head_msg(const struct hv_proof_head *h, Haven__SignedTreeHead *m)
{
	haven__signed_tree_head__init(m);
	m->size = h->size;
	m->root.data = (uint8_t *)h->root;
	m->root.len = HV_HASH_LEN;
	m->time = h->time_ms;
	m->signature.data = (uint8_t *)h->signature;
	m->signature.len = HV_SIGNATURE_LEN;
}

/* The AuditReply frame for conn: head, and whatever the caller filled. */
static hv_err
send_reply(struct outbox *o, const struct conn *c, Haven__AuditReply *ar)
{
	Haven__Frame f = HAVEN__FRAME__INIT;

	f.kind_case = HAVEN__FRAME__KIND_AUDIT_REPLY;
	f.audit_reply = ar;
	return reply_frame(o, c, &f);
}

/* Records matching the filter, within scope, capped. */
static hv_err
answer_records(struct broker *b, MDB_txn *txn, const struct conn *c,
    const struct hv_node *ig, const Haven__AuditQuery *q, struct outbox *o)
{
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead *h = NULL;
	struct hv_audit_filter f;
	struct collect col;
	char detail[sizeof(((struct hv_audit_rec *)0)->detail)];
	char msg[300];
	uint8_t kid[8];
	size_t od = 0;
	hv_err e, qe;

	memset(&f, 0, sizeof(f));
	if (q->subject.len == 32) {
		f.has_subject = 1;
		memcpy(f.subject, q->subject.data, 32);
	}
	if (q->message_id.len == HV_ID_LEN) {
		f.has_id = 1;
		memcpy(f.id, q->message_id.data, HV_ID_LEN);
	}
	f.sender = q->sender[0] ? q->sender : NULL;
	f.recipient = q->recipient[0] ? q->recipient : NULL;
	f.role = q->role[0] ? q->role : NULL;
	f.event = q->event[0] ? q->event : NULL;
	f.type = q->type[0] ? q->type : NULL;
	f.since_ms = q->since;
	f.until_ms = q->until;

	memset(&col, 0, sizeof(col));
	col.ig = ig;
	col.all = scope_all(ig);
	col.cap = BROKER_QUERY_MAX;
	if (q->limit > 0 && q->limit <= BROKER_QUERY_MAX) {
		col.cap = q->limit;
		col.user_limit = 1;
	}
	col.budget =
	    b->frame_max > QUERY_MARGIN ? b->frame_max - QUERY_MARGIN : 0;
	if ((col.v = calloc(col.cap, sizeof(*col.v))) == NULL)
		return HV_ENOMEM;
	qe = hv_auditlog_query(&b->log, txn, &f, on_collect, &col);
	if (qe == HV_OK)
		qe = col.err;
	if (qe == HV_ENOMEM || qe == HV_EIO) {
		e = qe;
		goto out;
	}

	who(ig, detail, sizeof(detail), &od);
	words(detail, sizeof(detail), &od, " queried the audit log");
	filter_words(q, detail, sizeof(detail), &od);
	if (qe != HV_OK)
		words(detail, sizeof(detail), &od,
		    "; the log could not be "
		    "read (%s).",
		    hv_errname(qe));
	else
		words(detail, sizeof(detail), &od, "; %zu record%s returned%s.",
		    col.n, col.n == 1 ? "" : "s",
		    col.truncated ? " (truncated)" : "");
	if ((e = audit_query_record(b, txn, ig, q, detail)) != HV_OK ||
	    (e = audit_head_due(b, txn, 1)) != HV_OK ||
	    (e = hv_auditlog_latest_head(&b->log, txn, &h)) != HV_OK)
		goto out;

	ar.head = h;
	if (hv_auditlog_subject_key_id(&b->log, txn, kid) == HV_OK) {
		ar.subject_key_id.data = kid;
		ar.subject_key_id.len = sizeof(kid);
	}
	if (qe != HV_OK) {
		collect_free(&col);
		ar.code = (char *)hv_errname(qe);
		ar.message =
		    "The broker's audit log could not be read; the "
		    "partnership administrator should run haven audit verify "
		    "on the broker host.";
		hv_log_warnx("audit query by %s: %s", ig->id, hv_strerror(qe));
	} else {
		ar.records = col.v;
		ar.n_records = col.n;
		if (col.truncated) {
			snprintf(msg, sizeof(msg),
			    "Only the first %zu "
			    "matching records are in this answer; narrow the "
			    "filter (for example with --since and --until) to "
			    "see the rest.",
			    col.n);
			ar.code = "TRUNCATED";
			ar.message = msg;
		}
	}
	hv_log_info("audit query by %s: %zu records%s", ig->id, col.n,
	    col.truncated ? " (truncated)" : "");
	e = send_reply(o, c, &ar);
out:
	if (h != NULL)
		haven__signed_tree_head__free_unpacked(h, NULL);
	collect_free(&col);
	return e;
}

/* An answer with only a head, a code and a sentence. */
static hv_err
answer_code(struct broker *b, MDB_txn *txn, const struct conn *c,
    const char *code, const char *message, struct outbox *o)
{
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead *h = NULL;
	hv_err e;

	/* Without a readable head the client refuses the answer, and says
	 * so; the broker still answers rather than drop the batch. */
	if ((e = hv_auditlog_latest_head(&b->log, txn, &h)) == HV_ENOMEM)
		return e;
	ar.head = h;
	ar.code = (char *)code;
	ar.message = (char *)message;
	e = send_reply(o, c, &ar);
	if (h != NULL)
		haven__signed_tree_head__free_unpacked(h, NULL);
	return e;
}

/* The inclusion proof of a message's record. */
static hv_err
answer_prove(struct broker *b, MDB_txn *txn, const struct conn *c,
    const struct hv_node *ig, const Haven__AuditQuery *q, struct outbox *o)
{
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead hm;
	ProtobufCBinaryData path[HV_MERKLE_MAX_PROOF], leaf;
	struct hv_audit_filter f;
	struct hv_errdetail d;
	struct scope sc;
	const char *event;
	hv_proof *p = NULL;
	char detail[sizeof(((struct hv_audit_rec *)0)->detail)];
	char hex[HV_ID_HEX_LEN + 1], msg[400];
	size_t od = 0;
	uint64_t seq;
	hv_err e, qe;

	hv_errclear(&d);
	memset(&f, 0, sizeof(f));
	f.has_id = 1;
	memcpy(f.id, q->prove_id.data, HV_ID_LEN);
	sc.ig = ig;
	sc.all = scope_all(ig);
	event = q->event[0] ? q->event : NULL;
	seq = 0;
	qe = hv_proof_pick(&b->log, txn, f.id, event, keep_in_scope, &sc, &seq);
	if (qe == HV_ENOMEM || qe == HV_EIO)
		return qe;
	hv_hex(q->prove_id.data, HV_ID_LEN, hex);

	who(ig, detail, sizeof(detail), &od);
	words(detail, sizeof(detail), &od,
	    " asked for an inclusion proof of "
	    "message %s",
	    hex);
	if (event != NULL)
		words(detail, sizeof(detail), &od, " (event %.24s)", event);
	if (qe != HV_OK || seq == 0)
		words(detail, sizeof(detail), &od, "; none in scope.");
	else
		words(detail, sizeof(detail), &od, "; record %" PRIu64 ".",
		    seq);
	if ((e = audit_query_record(b, txn, ig, q, detail)) != HV_OK ||
	    (e = audit_head_due(b, txn, 1)) != HV_OK)
		return e;
	if (qe != HV_OK)
		return answer_code(b, txn, c, hv_errname(qe),
		    "The broker's "
		    "audit log could not be read.",
		    o);
	if (seq == 0) {
		snprintf(msg, sizeof(msg),
		    "The audit log has no %s%srecord of "
		    "message %s within the scope of %s.",
		    event ? event : "", event ? " " : "", hex, ig->id);
		return answer_code(b, txn, c, hv_errname(HV_ENOTFOUND), msg, o);
	}
	e = hv_proof_inclusion(&b->log, txn, seq, &p, &d);
	if (e == HV_ENOMEM || e == HV_EIO)
		return e;
	if (e != HV_OK)
		return answer_code(b, txn, c, hv_errname(e), hv_errmsg(e, &d),
		    o);
	head_msg(&p->head, &hm);
	for (size_t i = 0; i < p->n; i++) {
		path[i].data = p->path[i];
		path[i].len = HV_HASH_LEN;
	}
	leaf.data = p->record;
	leaf.len = p->record_len;
	ar.head = &hm;
	ar.records = &leaf;
	ar.n_records = 1;
	ar.leaf = leaf;
	ar.leaf_index = p->leaf_index;
	ar.proof = path;
	ar.n_proof = p->n;
	e = send_reply(o, c, &ar);
	hv_proof_destroy(&p);
	return e;
}

/*
 * The consistency proof from the head at consistency_from to the latest.
 * The earlier head travels packed in `leaf` and its size in `leaf_index`.
 */
static hv_err
answer_consistency(struct broker *b, MDB_txn *txn, const struct conn *c,
    const struct hv_node *ig, const Haven__AuditQuery *q, struct outbox *o)
{
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead hm, fm;
	ProtobufCBinaryData path[HV_MERKLE_MAX_PROOF];
	struct hv_errdetail d;
	hv_proof *p = NULL;
	char detail[sizeof(((struct hv_audit_rec *)0)->detail)];
	uint8_t *first = NULL;
	size_t od = 0, flen;
	hv_err e;

	hv_errclear(&d);
	who(ig, detail, sizeof(detail), &od);
	words(detail, sizeof(detail), &od,
	    " asked for a consistency proof "
	    "from tree size %" PRIu64 ".",
	    q->consistency_from);
	if ((e = audit_query_record(b, txn, ig, q, detail)) != HV_OK ||
	    (e = audit_head_due(b, txn, 1)) != HV_OK)
		return e;
	e = hv_proof_consistency(&b->log, txn, q->consistency_from, 0, &p, &d);
	if (e == HV_ENOMEM || e == HV_EIO)
		return e;
	if (e != HV_OK)
		return answer_code(b, txn, c,
		    hv_errname(e == HV_EUSAGE ? HV_ENOTFOUND : e),
		    hv_errmsg(e, &d), o);
	head_msg(&p->head, &hm);
	head_msg(&p->first, &fm);
	flen = haven__signed_tree_head__get_packed_size(&fm);
	if ((first = malloc(flen)) == NULL) {
		hv_proof_destroy(&p);
		return HV_ENOMEM;
	}
	haven__signed_tree_head__pack(&fm, first);
	for (size_t i = 0; i < p->n; i++) {
		path[i].data = p->path[i];
		path[i].len = HV_HASH_LEN;
	}
	ar.head = &hm;
	ar.leaf.data = first;
	ar.leaf.len = flen;
	ar.leaf_index = p->first.size;
	ar.proof = path;
	ar.n_proof = p->n;
	e = send_reply(o, c, &ar);
	free(first);
	hv_proof_destroy(&p);
	return e;
}

hv_err
query_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__AuditQuery *q, struct outbox *o)
{
	const struct hv_node *ig = hv_directory_node(b->dir, c->node);
	char role[HV_ROLE_MAX + 1], msg[300];
	const char *bad;

	hv_node_role(c->node, role, sizeof(role));
	if (ig == NULL || strcmp(role, "ig") != 0 || ig->n_scope == 0) {
		snprintf(msg, sizeof(msg),
		    "Only ig nodes with a scope in the "
		    "agreement may query the audit log; %s is not one.",
		    c->node);
		return refuse(b, txn, c, HV_EPOLICY, msg, o);
	}
	if ((bad = query_malformed(q)) != NULL)
		return refuse(b, txn, c, HV_EMALFORMED, bad, o);
	/* Its AUDIT_QUERY record would come out of the deliveries' reserve. */
	if (store_full(b))
		return refuse(b, txn, c, HV_ESTORAGEFULL,
		    "The broker's store "
		    "is full; audit queries are answered again once "
		    "deliveries have freed space.",
		    o);
	if (q->prove_id.len == HV_ID_LEN)
		return answer_prove(b, txn, c, ig, q, o);
	if (q->consistency_from != 0)
		return answer_consistency(b, txn, c, ig, q, o);
	return answer_records(b, txn, c, ig, q, o);
}
