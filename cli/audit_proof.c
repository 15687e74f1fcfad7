/*
 * haven audit prove / consistency / check-proof — proofs an IG officer can
 * hand to someone who does not trust the broker's host.
 *
 * `prove` and `consistency` read the store and print a JSON proof (format
 * in lib/hv_proof.h and docs/AUDIT.md); `check-proof` needs no store, only
 * the proof and the broker's .pub file, and says in words what was proved.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "hv_proof.h"
#include "hv_util.h"

/* ---- prove ----------------------------------------------------------- */

/*
 * The proof's JSON with, for a record whose basis has a justification, a
 * "justification" member beside the record: opened with --key, else
 * "(sealed)". It is outside what the proof proves (the record's bytes
 * carry the ciphertext) and check-proof ignores it. NULL when out of
 * memory.
 */
static char *
proof_text(const struct audit_args *a, const hv_proof *p)
{
	struct hv_audit_rec *r = NULL;
	char *text = NULL, *out = NULL, buf[HV_JUSTIFICATION_MAX + 1];
	const char *just;
	json_t *o = NULL;

	if (hv_proof_to_json(p, &text) != HV_OK)
		return NULL;
	if (p->kind != HV_PROOF_INCLUSION || (r = malloc(sizeof(*r))) == NULL ||
	    hv_audit_rec_unpack(p->record, p->record_len, r) != HV_OK ||
	    *(just = audit_justification(a, r, buf, sizeof(buf), NULL)) == '\0')
		goto out;
	if ((o = json_loads(text, 0, NULL)) == NULL ||
	    json_object_set_new(o, "justification", json_string(just)) != 0 ||
	    (out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	        NULL) {
		free(text);
		text = NULL;
		goto out;
	}
	free(text);
	if ((text = malloc(strlen(out) + 2)) != NULL)
		snprintf(text, strlen(out) + 2, "%s\n", out);
out:
	sodium_memzero(buf, sizeof(buf));
	free(out);
	json_decref(o);
	free(r);
	return text;
}

int
audit_print_proof(const struct audit_args *a, const hv_proof *p)
{
	char *text;

	if ((text = proof_text(a, p)) == NULL)
		return cli_fail(HV_ENOMEM, NULL);
	fputs(text, stdout);
	free(text);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "haven %s: cannot write the proof.\n", a->sub);
		return 3;
	}
	return 0;
}

int
audit_cmd_prove(int argc, char **argv)
{
	static const char *const pos[] = { "the message ID" };
	struct audit_args a;
	struct hv_audit_filter f;
	struct hv_errdetail d;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	hv_proof *p = NULL;
	const char *event;
	uint64_t seq;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = audit_parse("audit prove", argc, argv,
	         AO_DB | AO_REMOTE_OPTS | AO_EVENT, 1, pos, &a)) != 0)
		return rc;
	memset(&f, 0, sizeof(f));
	if (strlen(a.pos[0]) != HV_ID_HEX_LEN ||
	    hv_unhex(a.pos[0], f.id, HV_ID_LEN) != 0)
		return cli_usage(a.sub,
		    "'%.80s' is not a message id of 32 hex "
		    "digits.",
		    a.pos[0]);
	f.has_id = 1;
	if ((rc = audit_need_db(&a)) >= 0)
		return rc;
	if (rc == AUDIT_REMOTE) {
		rc = audit_remote_prove(&a, f.id);
		audit_args_free(&a);
		return rc;
	}
	if ((rc = audit_open(a.db, &s, &log)) != 0) {
		audit_args_free(&a);
		return rc;
	}
	event = a.event[0] ? a.event : NULL;
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK ||
	    (e = hv_proof_pick(&log, txn, f.id, event, NULL, NULL, &seq)) !=
	        HV_OK) {
		fprintf(stderr, "haven %s: cannot read the audit log: %s\n",
		    a.sub, hv_strerror(e));
		rc = hv_exit_code(e);
		goto out;
	}
	if (seq == 0) {
		fprintf(stderr,
		    "haven %s: the audit log has no %s%srecord of "
		    "message %s.\n",
		    a.sub, event ? event : "", event ? " " : "", a.pos[0]);
		rc = 1;
		goto out;
	}
	if ((e = hv_proof_inclusion(&log, txn, seq, &p, &d)) != HV_OK) {
		fprintf(stderr, "haven %s: %s\n", a.sub, hv_errmsg(e, &d));
		rc = hv_exit_code(e);
		goto out;
	}
	rc = audit_print_proof(&a, p);
out:
	hv_proof_destroy(&p);
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	audit_args_free(&a);
	return rc;
}

/* ---- consistency ----------------------------------------------------- */

int
audit_cmd_consistency(int argc, char **argv)
{
	struct audit_args a;
	struct hv_errdetail d;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	hv_proof *p = NULL;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = audit_parse("audit consistency", argc, argv,
	         AO_DB | AO_REMOTE_OPTS | AO_FROM | AO_TO, 0, NULL, &a)) != 0)
		return rc;
	if ((a.seen & AO_FROM) == 0)
		return cli_usage(a.sub,
		    "--from SIZE (the size of the earlier "
		    "signed tree head) is required.");
	if ((rc = audit_need_db(&a)) >= 0)
		return rc;
	if (rc == AUDIT_REMOTE) {
		rc = audit_remote_consistency(&a);
		audit_args_free(&a);
		return rc;
	}
	if ((rc = audit_open(a.db, &s, &log)) != 0) {
		audit_args_free(&a);
		return rc;
	}
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK) {
		rc = cli_fail(e, NULL);
		goto out;
	}
	e = hv_proof_consistency(&log, txn, a.from, a.to, &p, &d);
	if (e == HV_EUSAGE) {
		rc = cli_usage(a.sub, "%s", hv_errmsg(e, &d));
		goto out;
	}
	if (e != HV_OK) {
		fprintf(stderr, "haven %s: %s\n", a.sub, hv_errmsg(e, &d));
		rc = hv_exit_code(e);
		goto out;
	}
	rc = audit_print_proof(&a, p);
out:
	hv_proof_destroy(&p);
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	audit_args_free(&a);
	return rc;
}

/* ---- check-proof ----------------------------------------------------- */

/* Reads a proof from a file, or standard input for "-". 0 or -1. */
static int
read_proof(const char *path, char **out, size_t *len)
{
	uint8_t *buf;
	size_t n = 0, cap = HV_PROOF_JSON_MAX + 1, got;

	if (strcmp(path, "-") != 0)
		return hv_read_file(path, HV_PROOF_JSON_MAX + 1,
		    (uint8_t **)out, len);
	if ((buf = malloc(cap)) == NULL)
		return -1;
	while (n < cap && (got = fread(buf + n, 1, cap - n, stdin)) > 0)
		n += got;
	if (ferror(stdin)) {
		free(buf);
		return -1;
	}
	*out = (char *)buf;
	*len = n;
	return 0;
}

/* One labelled line of record text, made safe for the terminal. */
static void
line(const char *label, const char *text)
{
	char buf[1200];

	if (text[0] == '\0')
		return;
	audit_clean(text, buf, sizeof(buf), 0);
	printf("  %-14s %s\n", label, buf);
}

static void
show_head(const char *label, const struct hv_proof_head *h)
{
	char root[2 * HV_HASH_LEN + 1], iso[32];

	hv_hex(h->root, HV_HASH_LEN, root);
	hv_time_iso_ms(h->time_ms, iso, sizeof(iso));
	printf("%s: %" PRIu64 " records, root %s, signed %s\n", label, h->size,
	    root, iso);
}

static void
show_record(const hv_proof *p, const struct hv_audit_rec *r)
{
	char buf[HV_MAX_RECIPIENTS * (HV_NODE_MAX + 2) + 1], iso[32];
	size_t o = 0;

	printf("Record %" PRIu64 " is in the audit log the broker signed:\n",
	    r->seq);
	show_head("signed tree head", &p->head);
	line("event", r->event);
	hv_time_iso_ms(r->time_ms, iso, sizeof(iso));
	line("time", iso);
	if (r->has_id) {
		hv_hex(r->id, HV_ID_LEN, buf);
		line("message", buf);
	}
	line("sender", r->sender);
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_recipients; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
		    i ? ", " : "", r->recipients[i]);
	if (r->n_recipients == 0 &&
	    hv_event_is(r->event, HV_EV_DECISION_RECORDED))
		snprintf(buf, sizeof(buf), "none: a decision not to share");
	line("recipients", buf);
	line("type", r->type);
	line("priority", r->priority);
	line("outcome", r->outcome);
	if (r->has_basis) {
		snprintf(buf, sizeof(buf), "consent %s, art6 %s, art9 %s",
		    r->basis.consent[0] ? r->basis.consent : "-",
		    r->basis.art6[0] ? r->basis.art6 : "-",
		    r->basis.art9[0] ? r->basis.art9 : "-");
		line("basis", buf);
		line("decided by", r->basis.decided_by);
		line("justification",
		    r->basis.justification[0] ? r->basis.justification :
		        r->basis.sealed_len   ? "(sealed)" :
		                                "");
	}
	if (r->has_subject) {
		hv_hex(r->subject, 32, buf);
		line("subject", buf);
	}
	line("reason", r->reason);
	line("actor", r->actor);
}

int
audit_cmd_check_proof(int argc, char **argv)
{
	static const char *const pos[] = { "the proof FILE" };
	struct audit_args a;
	struct hv_audit_rec *r = NULL;
	struct hv_errdetail d;
	struct hv_prev_signs prev;
	uint8_t key[32];
	hv_proof *p = NULL;
	char *text = NULL;
	size_t len;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = audit_parse("audit check-proof", argc, argv, AO_BROKER_PUB, 1,
	         pos, &a)) != 0)
		return rc;
	if (a.broker_pub == NULL)
		return cli_usage(a.sub,
		    "--broker-pub FILE (the broker's .pub "
		    "file, from the partnership administrator) is required.");
	if ((rc = audit_broker_pub(a.broker_pub, key, &prev)) != 0)
		return rc;
	errno = 0;
	if (read_proof(a.pos[0], &text, &len) != 0)
		return cli_file_error(a.sub, "the proof", a.pos[0],
		    errno != 0 ? errno : EIO);
	if ((r = malloc(sizeof(*r))) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	if ((e = hv_proof_from_json(text, len, &p, &d)) != HV_OK ||
	    (e = hv_proof_verify_at(p, key, &prev, r, &d)) != HV_OK) {
		if (e == HV_ENOMEM) {
			rc = cli_fail(e, NULL);
			goto out;
		}
		fprintf(stderr, "proof does not verify: %s\n",
		    hv_errmsg(e, &d));
		rc = 1;
		goto out;
	}
	if (p->kind == HV_PROOF_INCLUSION) {
		show_record(p, r);
	} else {
		show_head("earlier signed tree head", &p->first);
		show_head("later signed tree head", &p->head);
		printf("The log of %" PRIu64
		       " records extends the log of %" PRIu64
		       " records: none of the first %" PRIu64 " records "
		       "was changed, removed or reordered.\n",
		    p->head.size, p->first.size, p->first.size);
	}
	printf("proof OK\n");
	rc = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = 3;
out:
	hv_proof_destroy(&p);
	free(text);
	free(r);
	return rc;
}
