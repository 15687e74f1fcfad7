/*
 * haven audit query / prove / consistency --broker — the IG officer's
 * questions asked of the broker over the network, as an ig.* node (SPEC
 * §9). The broker answers only within the node's `scope` in the agreement
 * and records every question as AUDIT_QUERY.
 *
 * Nothing the broker sends is taken on trust beyond its transport key:
 * every answer carries a tree head, which must be signed by the broker key
 * the directory names, or the answer is refused; records must decode
 * exactly and lie within that head; proofs are checked with lib/hv_proof
 * before they are printed, so a proof this command prints always passes
 * `haven audit check-proof`. The output is the same as with --db.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "hv_proof.h"
#include "hv_util.h"
#include "hv_wire.h"
#include "remote.h"

/*
 * Connects as --key's node, then keeps that key in a->ig to open
 * justifications (SPEC §4.2), once the directory and the key have passed
 * remote_open's checks.
 */
static int
open_remote(struct audit_args *a, struct remote *r)
{
	struct remote_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.endpoint = a->broker;
	o.key = a->key;
	o.passphrase_file = a->passphrase_file;
	o.directory = a->directory;
	o.root_pub = a->root_pub;
	o.timeout_ms = a->timeout_ms;
	if ((rc = remote_open(a->sub, &o, r)) != 0)
		return rc;
	if (a->ig == NULL &&
	    (rc = remote_load_key(a->sub, a->key, a->passphrase_file,
	         &a->ig)) != 0)
		remote_close(r);
	return rc;
}

/*
 * Sends q and checks the answer's tree head. Returns 0 with *f holding an
 * AuditReply whose code is "" or "TRUNCATED", else the exit status after a
 * sentence (the broker's own when it could not answer).
 */
static int
ask(struct remote *r, Haven__AuditQuery *q, Haven__Frame **f)
{
	Haven__Frame req = HAVEN__FRAME__INIT;
	const Haven__AuditReply *ar;
	hv_err code;
	int rc;

	req.kind_case = HAVEN__FRAME__KIND_AUDIT_QUERY;
	req.audit_query = q;
	if ((rc = remote_ask(r, &req, HAVEN__FRAME__KIND_AUDIT_REPLY, f)) != 0)
		return rc;
	ar = (*f)->audit_reply;
	if (ar->code[0] != '\0' && strcmp(ar->code, "TRUNCATED") != 0) {
		code = hv_errfromname(ar->code);
		fprintf(stderr, "haven %s: %s (%s)\n", r->cmd,
		    ar->message[0] ? ar->message : hv_strerror(code), ar->code);
		hv_frame_free(f);
		return code == HV_ESYS ? 1 : hv_exit_code(code);
	}
	if ((rc = remote_check_head(r, ar->head)) != 0)
		hv_frame_free(f);
	return rc;
}

static void
head_from(const Haven__SignedTreeHead *h, struct hv_proof_head *out)
{
	out->size = h->size;
	memcpy(out->root, h->root.data, HV_HASH_LEN);
	out->time_ms = h->time;
	memcpy(out->signature, h->signature.data, HV_SIGNATURE_LEN);
}

/* Copies a proof path; -1 when it is too long or a hash is not 32 bytes. */
static int
path_from(const Haven__AuditReply *ar, hv_proof *p)
{
	if (ar->n_proof > HV_MERKLE_MAX_PROOF)
		return -1;
	for (size_t i = 0; i < ar->n_proof; i++) {
		if (ar->proof[i].len != HV_HASH_LEN)
			return -1;
		memcpy(p->path[i], ar->proof[i].data, HV_HASH_LEN);
	}
	p->n = ar->n_proof;
	return 0;
}

/* The broker's sentence for an answer that is not what it should be. */
static int
bad_answer(const struct remote *r, const char *what)
{
	fprintf(stderr,
	    "haven %s: the broker's answer is refused: %s. Tell "
	    "the partnership administrator.\n",
	    r->cmd, what);
	return 1;
}

/* ---- query ----------------------------------------------------------- */

struct answer {
	struct hv_audit_rec *v;
	size_t n;
};

static hv_err
answer_each(void *src, const struct hv_audit_filter *f, hv_audit_query_fn fn,
    void *ctx)
{
	const struct answer *ans = src;

	(void)f; /* the broker applied it */
	for (size_t i = 0; i < ans->n; i++)
		if (fn(ctx, &ans->v[i]) != 0)
			break;
	return HV_OK;
}

int
audit_remote_query(struct audit_args *a, const struct hv_audit_filter *f)
{
	Haven__AuditQuery q = HAVEN__AUDIT_QUERY__INIT;
	const Haven__AuditReply *ar;
	const struct hv_node *me;
	struct audit_source src;
	struct answer ans = { NULL, 0 };
	struct remote r;
	Haven__Frame *reply = NULL;
	char note[400];
	size_t o = 0;
	int rc;

	if ((rc = open_remote(a, &r)) != 0)
		return rc;
	if (f->has_subject) {
		q.subject.data = (uint8_t *)f->subject;
		q.subject.len = 32;
	}
	if (f->has_id) {
		q.message_id.data = (uint8_t *)f->id;
		q.message_id.len = HV_ID_LEN;
	}
	q.sender = (char *)(f->sender ? f->sender : "");
	q.recipient = (char *)(f->recipient ? f->recipient : "");
	q.role = (char *)(f->role ? f->role : "");
	q.event = (char *)(f->event ? f->event : "");
	q.type = (char *)(f->type ? f->type : "");
	q.since = f->since_ms;
	q.until = f->until_ms;
	q.limit = f->limit > UINT32_MAX ? UINT32_MAX : (uint32_t)f->limit;
	if ((rc = ask(&r, &q, &reply)) != 0)
		goto out;
	ar = reply->audit_reply;
	if (ar->n_records > 0 &&
	    (ans.v = calloc(ar->n_records, sizeof(*ans.v))) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	for (size_t i = 0; i < ar->n_records; i++, ans.n++) {
		struct hv_audit_rec *rec = &ans.v[i];

		if (hv_audit_rec_unpack(ar->records[i].data, ar->records[i].len,
		        rec) != HV_OK) {
			rc = bad_answer(&r, "a record does not decode");
			goto out;
		}
		if (rec->seq == 0 || rec->seq > ar->head->size ||
		    (i > 0 && rec->seq <= ans.v[i - 1].seq)) {
			rc = bad_answer(&r,
			    "its records are out of order or "
			    "beyond its signed tree head");
			goto out;
		}
	}
	memset(&src, 0, sizeof(src));
	src.each = answer_each;
	src.src = &ans;
	src.size = ar->head->size;
	memcpy(src.root, ar->head->root.data, HV_HASH_LEN);
	src.truncated = strcmp(ar->code, "TRUNCATED") == 0;
	if (ar->subject_key_id.len == sizeof(src.log_key_id)) {
		src.has_log_key_id = 1;
		memcpy(src.log_key_id, ar->subject_key_id.data,
		    sizeof(src.log_key_id));
	}
	me = hv_directory_node(r.dir, r.node);
	o = (size_t)snprintf(note, sizeof(note), "Asked of %s as %s",
	    r.broker_id, r.node);
	if (me != NULL && me->n_scope > 0 && strcmp(me->scope[0], "*") != 0) {
		o += (size_t)snprintf(note + o, sizeof(note) - o,
		    "; only "
		    "records involving");
		for (size_t i = 0; i < me->n_scope && o < sizeof(note); i++)
			o += (size_t)snprintf(note + o, sizeof(note) - o,
			    "%s %s",
			    i == 0                   ? "" :
			        i + 1 == me->n_scope ? " or" :
			                               ",",
			    me->scope[i]);
		if (o < sizeof(note))
			snprintf(note + o, sizeof(note) - o, " are shown");
	}
	o = strlen(note);
	snprintf(note + o, sizeof(note) - o,
	    ". This query is itself in the "
	    "log as AUDIT_QUERY.");
	src.note = note;
	src.head_size = ar->head->size;
	memcpy(src.head_root, ar->head->root.data, HV_HASH_LEN);
	src.head_time_ms = ar->head->time;
	src.checked =
	    "The broker's signed tree head was checked with the "
	    "broker key of the partnership's directory; this request is "
	    "itself in the log as AUDIT_QUERY.";
	if (strcmp(a->sub, "audit sar") == 0)
		rc = audit_sar_write(a, f, &src);
	else
		rc = audit_print(a, f, 0, &src);
out:
	free(ans.v);
	hv_frame_free(&reply);
	remote_close(&r);
	return rc;
}

/* ---- prove ----------------------------------------------------------- */

int
audit_remote_prove(struct audit_args *a, const uint8_t id[16])
{
	Haven__AuditQuery q = HAVEN__AUDIT_QUERY__INIT;
	const Haven__AuditReply *ar;
	struct hv_errdetail d;
	struct hv_audit_rec *rec = NULL;
	struct remote r;
	Haven__Frame *reply = NULL;
	hv_proof *p = NULL;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = open_remote(a, &r)) != 0)
		return rc;
	q.prove_id.data = (uint8_t *)id;
	q.prove_id.len = HV_ID_LEN;
	q.event = (char *)(a->event[0] ? a->event : "");
	if ((rc = ask(&r, &q, &reply)) != 0)
		goto out;
	ar = reply->audit_reply;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (rec = malloc(sizeof(*rec))) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	if (ar->leaf.len == 0 || ar->leaf.len > HV_PROOF_RECORD_MAX ||
	    path_from(ar, p) != 0) {
		rc = bad_answer(&r, "it holds no record, or a malformed path");
		goto out;
	}
	p->kind = HV_PROOF_INCLUSION;
	if ((p->record = malloc(ar->leaf.len)) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	memcpy(p->record, ar->leaf.data, ar->leaf.len);
	p->record_len = ar->leaf.len;
	p->leaf_index = ar->leaf_index;
	hv_merkle_leaf_hash(p->record, p->record_len, p->leaf_hash);
	if (hv_audit_rec_unpack(p->record, p->record_len, rec) != HV_OK ||
	    !rec->has_id || memcmp(rec->id, id, HV_ID_LEN) != 0) {
		rc = bad_answer(&r,
		    "its record is not a record of the message "
		    "asked about");
		goto out;
	}
	p->has_id = 1;
	memcpy(p->id, rec->id, HV_ID_LEN);
	head_from(ar->head, &p->head);
	if ((e = hv_proof_verify(p, r.broker_sign, NULL, &d)) != HV_OK) {
		fprintf(stderr,
		    "haven %s: the broker's proof does not verify: "
		    "%s\n",
		    a->sub, hv_errmsg(e, &d));
		rc = 1;
		goto out;
	}
	rc = audit_print_proof(a, p);
out:
	free(rec);
	hv_proof_destroy(&p);
	hv_frame_free(&reply);
	remote_close(&r);
	return rc;
}

/* ---- consistency ----------------------------------------------------- */

int
audit_remote_consistency(struct audit_args *a)
{
	Haven__AuditQuery q = HAVEN__AUDIT_QUERY__INIT;
	Haven__SignedTreeHead *first = NULL;
	const Haven__AuditReply *ar;
	struct hv_errdetail d;
	struct remote r;
	Haven__Frame *reply = NULL;
	hv_proof *p = NULL;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if (a->seen & AO_TO)
		return cli_usage(a->sub,
		    "--to goes with --db; asked over the "
		    "network, the proof runs to the broker's latest signed "
		    "tree head.");
	if ((rc = open_remote(a, &r)) != 0)
		return rc;
	q.consistency_from = a->from;
	if ((rc = ask(&r, &q, &reply)) != 0)
		goto out;
	ar = reply->audit_reply;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	/* The earlier head travels packed in `leaf`. */
	first =
	    haven__signed_tree_head__unpack(NULL, ar->leaf.len, ar->leaf.data);
	if (first == NULL || path_from(ar, p) != 0) {
		rc = bad_answer(&r,
		    "its earlier tree head or its path is "
		    "malformed");
		goto out;
	}
	if ((rc = remote_check_head(&r, first)) != 0)
		goto out;
	if (first->size != a->from) {
		rc = bad_answer(&r,
		    "its earlier tree head is not at the size "
		    "asked for");
		goto out;
	}
	p->kind = HV_PROOF_CONSISTENCY;
	head_from(first, &p->first);
	head_from(ar->head, &p->head);
	if ((e = hv_proof_verify(p, r.broker_sign, NULL, &d)) != HV_OK) {
		fprintf(stderr,
		    "haven %s: the broker's proof does not verify: "
		    "%s\n",
		    a->sub, hv_errmsg(e, &d));
		rc = 1;
		goto out;
	}
	rc = audit_print_proof(a, p);
out:
	if (first != NULL)
		haven__signed_tree_head__free_unpacked(first, NULL);
	hv_proof_destroy(&p);
	hv_frame_free(&reply);
	remote_close(&r);
	return rc;
}
