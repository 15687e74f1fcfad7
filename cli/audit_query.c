/*
 * haven audit query / export — who shared what about a child, with whom,
 * when and on what basis; and every record of a period.
 *
 * Both read one LMDB snapshot through hv_auditlog_query (which walks the
 * narrowest index the filter allows) and write a table for a person, one
 * JSON document, or CSV with a header row (RFC 4180). Output streams record
 * by record, so an export of a year needs no more memory than one of a day;
 * the table is measured in a first pass over the same snapshot so that its
 * columns line up.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "hv_util.h"

/* ---- one record as JSON ---------------------------------------------- */

static json_t *
str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *
hex_or_null(int has, const uint8_t *b, size_t len)
{
	char buf[2 * HV_SIGNATURE_LEN + 1];

	if (!has)
		return json_null();
	hv_hex(b, len, buf);
	return json_string(buf);
}

/*
 * Every SPEC §9 field of rec, the justification opened with --key or
 * "(sealed)", and its length; NULL when out of memory.
 */
static json_t *
rec_json(const struct audit_args *a, const struct hv_audit_rec *r, char *jbuf,
    size_t jcap)
{
	json_t *o = json_object(), *rc = json_array(), *b = NULL;
	char iso[32];
	int bad = (o == NULL || rc == NULL);

	for (size_t i = 0; !bad && i < r->n_recipients; i++)
		bad |= json_array_append_new(rc, json_string(r->recipients[i]));
	if (!bad && r->has_basis) {
		if ((b = json_object()) == NULL)
			bad = 1;
		else
			bad |= json_object_set_new(b, "consent",
			           str_or_null(r->basis.consent)) |
			    json_object_set_new(b, "art6",
			        str_or_null(r->basis.art6)) |
			    json_object_set_new(b, "art9",
			        str_or_null(r->basis.art9)) |
			    json_object_set_new(b, "justification",
			        str_or_null(audit_justification(a, r, jbuf,
			            jcap, NULL))) |
			    json_object_set_new(b, "decided_by",
			        str_or_null(r->basis.decided_by));
		if (!bad && r->basis.sealed_len > 0)
			bad |= json_object_set_new(b, "justification_length",
			    json_integer(r->basis.justification_len));
	}
	if (bad) {
		json_decref(b);
		json_decref(rc);
		json_decref(o);
		return NULL;
	}
	hv_time_iso_ms(r->time_ms, iso, sizeof(iso));
	bad |= json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
	bad |= json_object_set_new(o, "time", json_string(iso));
	bad |= json_object_set_new(o, "time_ms", json_integer(r->time_ms));
	bad |= json_object_set_new(o, "event", json_string(r->event));
	bad |= json_object_set_new(o, "message_id",
	    hex_or_null(r->has_id, r->id, HV_ID_LEN));
	bad |= json_object_set_new(o, "sender", str_or_null(r->sender));
	bad |= json_object_set_new(o, "recipients", rc);
	bad |= json_object_set_new(o, "type", str_or_null(r->type));
	bad |= json_object_set_new(o, "priority", str_or_null(r->priority));
	bad |= json_object_set_new(o, "basis", b != NULL ? b : json_null());
	bad |= json_object_set_new(o, "outcome", str_or_null(r->outcome));
	bad |= json_object_set_new(o, "subject",
	    hex_or_null(r->has_subject, r->subject, 32));
	bad |= json_object_set_new(o, "reply_to",
	    hex_or_null(r->has_reply_to, r->reply_to, HV_ID_LEN));
	bad |= json_object_set_new(o, "do_not_contact_family",
	    json_boolean(r->flags & HV_FLAG_DO_NOT_CONTACT_FAMILY));
	bad |= json_object_set_new(o, "flags", json_integer(r->flags));
	if (r->created > 0)
		hv_time_iso_ms(r->created * 1000, iso, sizeof(iso));
	bad |= json_object_set_new(o, "created",
	    r->created > 0 ? json_string(iso) : json_null());
	bad |= json_object_set_new(o, "reason", str_or_null(r->reason));
	bad |= json_object_set_new(o, "actor", str_or_null(r->actor));
	bad |= json_object_set_new(o, "at", str_or_null(r->at));
	bad |= json_object_set_new(o, "subject_key_id",
	    hex_or_null(r->has_subject_key_id, r->subject_key_id, 8));
	bad |= json_object_set_new(o, "detail", str_or_null(r->detail));
	bad |= json_object_set_new(o, "directory_version",
	    json_integer((json_int_t)r->directory_version));
	bad |= json_object_set_new(o, "ciphertext_digest",
	    hex_or_null(r->has_digest, r->digest, HV_DIGEST_LEN));
	bad |= json_object_set_new(o, "signature",
	    hex_or_null(r->has_signature, r->signature, HV_SIGNATURE_LEN));
	bad |= json_object_set_new(o, "prev_hash",
	    hex_or_null(1, r->prev_hash, 32));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- CSV ------------------------------------------------------------- */

static const char *const csv_header[] = {
	"seq",
	"time",
	"event",
	"message_id",
	"sender",
	"recipients",
	"type",
	"priority",
	"consent",
	"art6",
	"art9",
	"justification",
	"decided_by",
	"outcome",
	"subject",
	"reply_to",
	"do_not_contact_family",
	"reason",
	"actor",
	"detail",
	"created",
	"directory_version",
	"ciphertext_digest",
	"signature",
	"prev_hash",
	"at",
	"subject_key_id",
	NULL,
};

/*
 * One RFC 4180 field. A field a spreadsheet would run as a formula (it
 * starts with = + - @ or a control character) gets a leading apostrophe,
 * so that opening an export cannot execute text a practitioner typed.
 */
static void
csv_field(FILE *fp, const char *s, int last)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' ||
	    (s[0] != '\0' && s[strlen(s) - 1] == ' ');
	int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';

	if (quote || formula)
		fputc('"', fp);
	if (formula)
		fputc('\'', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	if (quote || formula)
		fputc('"', fp);
	fputs(last ? "\r\n" : ",", fp);
}

static void
csv_hex(FILE *fp, int has, const uint8_t *b, size_t len)
{
	char buf[2 * HV_SIGNATURE_LEN + 1];

	buf[0] = '\0';
	if (has)
		hv_hex(b, len, buf);
	csv_field(fp, buf, 0);
}

static void
csv_row(FILE *fp, const struct audit_args *a, const struct hv_audit_rec *r,
    char *jbuf, size_t jcap)
{
	char buf[HV_MAX_RECIPIENTS * (HV_NODE_MAX + 1) + 1];
	size_t o = 0;

	snprintf(buf, sizeof(buf), "%" PRIu64, r->seq);
	csv_field(fp, buf, 0);
	hv_time_iso_ms(r->time_ms, buf, sizeof(buf));
	csv_field(fp, buf, 0);
	csv_field(fp, r->event, 0);
	csv_hex(fp, r->has_id, r->id, HV_ID_LEN);
	csv_field(fp, r->sender, 0);
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_recipients; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
		    i > 0 ? ";" : "", r->recipients[i]);
	csv_field(fp, buf, 0);
	csv_field(fp, r->type, 0);
	csv_field(fp, r->priority, 0);
	csv_field(fp, r->basis.consent, 0);
	csv_field(fp, r->basis.art6, 0);
	csv_field(fp, r->basis.art9, 0);
	csv_field(fp, audit_justification(a, r, jbuf, jcap, NULL), 0);
	csv_field(fp, r->basis.decided_by, 0);
	csv_field(fp, r->outcome, 0);
	csv_hex(fp, r->has_subject, r->subject, 32);
	csv_hex(fp, r->has_reply_to, r->reply_to, HV_ID_LEN);
	csv_field(fp, r->flags & HV_FLAG_DO_NOT_CONTACT_FAMILY ? "yes" : "no",
	    0);
	csv_field(fp, r->reason, 0);
	csv_field(fp, r->actor, 0);
	csv_field(fp, r->detail, 0);
	buf[0] = '\0';
	if (r->created > 0)
		hv_time_iso_ms(r->created * 1000, buf, sizeof(buf));
	csv_field(fp, buf, 0);
	snprintf(buf, sizeof(buf), "%" PRIu64, r->directory_version);
	csv_field(fp, buf, 0);
	csv_hex(fp, r->has_digest, r->digest, HV_DIGEST_LEN);
	csv_hex(fp, r->has_signature, r->signature, HV_SIGNATURE_LEN);
	hv_hex(r->prev_hash, 32, buf);
	csv_field(fp, buf, 0);
	csv_field(fp, r->at, 0);
	buf[0] = '\0';
	if (r->has_subject_key_id)
		hv_hex(r->subject_key_id, 8, buf);
	csv_field(fp, buf, 1);
}

/* ---- table ----------------------------------------------------------- */

enum {
	C_SEQ,
	C_TIME,
	C_EVENT,
	C_MESSAGE,
	C_ROUTE,
	C_TYPE,
	C_PRIORITY,
	C_CONSENT,
	C_ART6,
	C_ART9,
	C_DECIDED,
	C_JUSTIFICATION,
	C_REASON,
	C_ACTOR,
	NCOL
};

static const char *const col_name[NCOL] = {
	"SEQ",
	"TIME",
	"EVENT",
	"MESSAGE",
	"FROM -> TO",
	"TYPE",
	"PRIORITY",
	"CONSENT",
	"ART6",
	"ART9",
	"DECIDED BY",
	"JUSTIFICATION",
	"REASON",
	"ACTOR",
};

/* Widest a column may grow, in characters (0: as wide as its text). */
static const size_t col_max[NCOL] = {
	0,
	0,
	0,
	0,
	80,
	0,
	0,
	0,
	0,
	0,
	24,
	40,
	32,
	30,
};

#define RAW_CELL (HV_MAX_RECIPIENTS * (HV_NODE_MAX + 2) + 160)
#define TXT_CELL (RAW_CELL + 8)

struct cells {
	char txt[NCOL][TXT_CELL];
	size_t w[NCOL];
};

/* The route of a record: who sent it to whom, or that it was not shared. */
static void
route(const struct hv_audit_rec *r, char *buf, size_t cap)
{
	size_t o;

	o = (size_t)snprintf(buf, cap, "%s", r->sender[0] ? r->sender : "-");
	if (r->n_recipients == 0) {
		if (hv_event_is(r->event, HV_EV_DECISION_RECORDED))
			snprintf(buf + o, cap - o, " (not shared)");
		return;
	}
	o += (size_t)snprintf(buf + o, cap - o, " -> ");
	for (size_t i = 0; i < r->n_recipients && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
		    r->recipients[i]);
}

static void
fill_cells(const struct audit_args *a, const struct hv_audit_rec *r,
    struct cells *c, char *jbuf, size_t jcap)
{
	char raw[NCOL][RAW_CELL];
	const char *src[NCOL];

	snprintf(raw[C_SEQ], RAW_CELL, "%" PRIu64, r->seq);
	hv_time_iso(r->time_ms, raw[C_TIME], RAW_CELL);
	raw[C_MESSAGE][0] = '\0';
	if (r->has_id)
		hv_hex(r->id, HV_ID_LEN, raw[C_MESSAGE]);
	route(r, raw[C_ROUTE], RAW_CELL);
	/* A refusal made at the sender's agent says so (SPEC §15). */
	snprintf(raw[C_REASON], RAW_CELL, "%s%s%s", r->reason,
	    r->at[0] != '\0' ? ", at: " : "", r->at);
	src[C_SEQ] = raw[C_SEQ];
	src[C_TIME] = raw[C_TIME];
	src[C_EVENT] = r->event;
	src[C_MESSAGE] = raw[C_MESSAGE];
	src[C_ROUTE] = raw[C_ROUTE];
	src[C_TYPE] = r->type;
	src[C_PRIORITY] = r->priority;
	src[C_CONSENT] = r->basis.consent;
	src[C_ART6] = r->basis.art6;
	src[C_ART9] = r->basis.art9;
	src[C_DECIDED] = r->basis.decided_by;
	src[C_JUSTIFICATION] = audit_justification(a, r, jbuf, jcap, NULL);
	src[C_REASON] = raw[C_REASON];
	src[C_ACTOR] = r->actor;
	for (int i = 0; i < NCOL; i++)
		c->w[i] = audit_clean(src[i][0] != '\0' ? src[i] : "-",
		    c->txt[i], TXT_CELL, col_max[i]);
}

/* ---- the query itself ------------------------------------------------ */

struct run {
	const struct audit_args *a;
	char just[HV_JUSTIFICATION_MAX + 1]; /* an opened justification */
	enum audit_format fmt;
	int measuring; /* table: first pass */
	size_t count;
	size_t w[NCOL];
	struct cells *cells;
	int nomem;
};

static int
on_record(void *ctx, const struct hv_audit_rec *r)
{
	struct run *q = ctx;
	json_t *o;
	char *text;

	switch (q->fmt) {
	case AF_HTML: /* only `audit sar` takes html and text */
	case AF_TEXT:
	case AF_TABLE:
		fill_cells(q->a, r, q->cells, q->just, sizeof(q->just));
		for (int i = 0; i < NCOL; i++) {
			if (q->measuring) {
				if (q->cells->w[i] > q->w[i])
					q->w[i] = q->cells->w[i];
				continue;
			}
			fputs(q->cells->txt[i], stdout);
			if (i + 1 < NCOL)
				printf("%*s",
				    (int)(q->w[i] - q->cells->w[i] + 2), "");
		}
		if (!q->measuring)
			putchar('\n');
		break;
	case AF_JSON:
		if ((o = rec_json(q->a, r, q->just, sizeof(q->just))) == NULL ||
		    (text = json_dumps(o,
		         JSON_PRESERVE_ORDER | JSON_COMPACT)) == NULL) {
			json_decref(o);
			q->nomem = 1;
			return 1;
		}
		printf("%s\n  %s", q->count > 0 ? "," : "", text);
		free(text);
		json_decref(o);
		break;
	case AF_CSV:
		csv_row(stdout, q->a, r, q->just, sizeof(q->just));
		break;
	}
	q->count++;
	return ferror(stdout) ? 1 : 0;
}

/* A store snapshot as a source of records. */
struct store_src {
	hv_auditlog *log;
	MDB_txn *txn;
};

static hv_err
store_each(void *src, const struct hv_audit_filter *f, hv_audit_query_fn fn,
    void *ctx)
{
	struct store_src *s = src;

	return hv_auditlog_query(s->log, s->txn, f, fn, ctx);
}

int
audit_print(const struct audit_args *a, const struct hv_audit_filter *f,
    int period, const struct audit_source *src)
{
	struct run q;
	char hex[2 * HV_HASH_LEN + 1], since[32], until[32];
	int rc;
	hv_err e;

	if (audit_key_check(a, src) != 0)
		return 1;
	memset(&q, 0, sizeof(q));
	q.a = a;
	q.fmt = a->format;
	hv_hex(src->root, HV_HASH_LEN, hex);
	if (q.fmt == AF_TABLE) {
		if ((q.cells = malloc(sizeof(*q.cells))) == NULL) {
			e = HV_ENOMEM;
			goto fail;
		}
		for (int i = 0; i < NCOL; i++)
			q.w[i] = strlen(col_name[i]);
		q.measuring = 1;
		if ((e = src->each(src->src, f, on_record, &q)) != HV_OK)
			goto fail;
		if (q.count == 0) {
			printf("No records match (the log holds %" PRIu64
			       " records).\n",
			    src->size);
			if (src->note != NULL)
				printf("%s\n", src->note);
			goto done;
		}
		for (int i = 0; i < NCOL; i++)
			printf("%s%*s", col_name[i],
			    i + 1 < NCOL ?
			        (int)(q.w[i] - strlen(col_name[i]) + 2) :
			        0,
			    "");
		putchar('\n');
		q.measuring = 0;
		q.count = 0;
	} else if (q.fmt == AF_JSON) {
		printf("{\"records\": [");
	} else {
		for (size_t i = 0; csv_header[i] != NULL; i++)
			csv_field(stdout, csv_header[i],
			    csv_header[i + 1] == NULL);
	}
	if ((e = src->each(src->src, f, on_record, &q)) != HV_OK)
		goto fail;
	if (q.nomem) {
		e = HV_ENOMEM;
		goto fail;
	}
	if (q.fmt == AF_TABLE) {
		printf(
		    "\n%zu record%s of %" PRIu64 " in the log%s. "
		    "Justifications are cut to %zu characters here; --format "
		    "json shows them whole.\n",
		    q.count, q.count == 1 ? "" : "s", src->size,
		    src->truncated ?
		        " (the broker sent only "
		        "these; narrow the filter to see the rest)" :
		        "",
		    col_max[C_JUSTIFICATION]);
		if (src->note != NULL)
			printf("%s\n", src->note);
	} else if (q.fmt == AF_JSON) {
		printf("%s], \"count\": %zu, \"tree_size\": %" PRIu64
		       ", \"root_hash\": \"%s\"",
		    q.count > 0 ? "\n" : "", q.count, src->size, hex);
		if (period) {
			hv_time_iso_ms(f->since_ms, since, sizeof(since));
			hv_time_iso_ms(f->until_ms, until, sizeof(until));
			printf(", \"since\": \"%s\", \"until\": \"%s\"", since,
			    until);
		}
		if (src->truncated)
			printf(", \"truncated\": true");
		printf("}\n");
	}
	/* Like query's "No records match": an empty export is not silent. */
	if (period && q.count == 0) {
		hv_time_iso_ms(f->since_ms, since, sizeof(since));
		hv_time_iso_ms(f->until_ms, until, sizeof(until));
		fprintf(stderr,
		    "No records between %s and %s (the log holds %" PRIu64
		    " records).\n",
		    since, until, src->size);
	}
	if (src->truncated && q.fmt != AF_TABLE)
		fprintf(stderr,
		    "haven %s: the broker sent only the first %zu "
		    "matching records; narrow the filter (for example with "
		    "--since and --until) to see the rest.\n",
		    a->sub, q.count);
done:
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "haven %s: cannot read the audit log: %s\n", a->sub,
	    hv_strerror(e));
	rc = hv_exit_code(e);
	if (rc == 1 && e == HV_ETAMPERED && a->db != NULL)
		fprintf(stderr,
		    "Run 'haven audit verify --db %s' to find the "
		    "first altered record.\n",
		    a->db);
out:
	free(q.cells);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "haven %s: cannot write the output.\n", a->sub);
		rc = 3;
	}
	return rc;
}

/*
 * Runs f over the store at db and writes the records in a's format.
 * period is 1 for an export (the document names its period).
 */
static int
run_query(const struct audit_args *a, const struct hv_audit_filter *f,
    int period)
{
	struct audit_source src;
	struct store_src ss;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	int rc;
	hv_err e;

	memset(&src, 0, sizeof(src));
	if ((rc = audit_open(a->db, &s, &log)) != 0)
		return rc;
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK ||
	    (e = hv_auditlog_tree(&log, txn, &src.size, src.root)) != HV_OK) {
		fprintf(stderr, "haven %s: cannot read the audit log: %s\n",
		    a->sub, hv_strerror(e));
		rc = hv_exit_code(e);
		goto out;
	}
	e = hv_auditlog_subject_key_id(&log, txn, src.log_key_id);
	if (e != HV_OK && e != HV_ENOTFOUND) {
		fprintf(stderr, "haven %s: cannot read the audit log: %s\n",
		    a->sub, hv_strerror(e));
		rc = hv_exit_code(e);
		goto out;
	}
	src.has_log_key_id = e == HV_OK;
	ss.log = &log;
	ss.txn = txn;
	src.each = store_each;
	src.src = &ss;
	rc = audit_print(a, f, period, &src);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	return rc;
}

int
audit_cmd_query(int argc, char **argv)
{
	struct audit_args a;
	struct hv_audit_filter f;
	int rc, remote;

	if ((rc = audit_parse("audit query", argc, argv,
	         AO_DB | AO_REMOTE_OPTS | AO_SUBJECT_NHS | AO_SUBJECT_KEY |
	             AO_SUBJECT | AO_SUBJECT_LOCAL | AO_MESSAGE | AO_SENDER |
	             AO_RECIPIENT | AO_ROLE | AO_EVENT | AO_TYPE | AO_SINCE |
	             AO_UNTIL | AO_LIMIT | AO_FORMAT,
	         0, NULL, &a)) != 0)
		return rc;
	memset(&f, 0, sizeof(f));
	if ((rc = audit_subject(&a, &f.has_subject, f.subject)) != 0)
		return rc;
	if ((rc = audit_need_db(&a)) >= 0)
		return rc;
	remote = rc == AUDIT_REMOTE;
	if (a.seen & AO_MESSAGE) {
		f.has_id = 1;
		memcpy(f.id, a.message, HV_ID_LEN);
	}
	f.sender = a.sender;
	f.recipient = a.recipient;
	f.role = a.role;
	f.event = a.event[0] ? a.event : NULL;
	f.type = a.type[0] ? a.type : NULL;
	f.since_ms = a.since_ms;
	f.until_ms = a.until_ms;
	f.limit = a.limit;
	rc = remote ? audit_remote_query(&a, &f) : run_query(&a, &f, 0);
	audit_args_free(&a);
	return rc;
}

int
audit_cmd_export(int argc, char **argv)
{
	struct audit_args a;
	struct hv_audit_filter f;
	int rc;

	if ((rc = audit_parse("audit export", argc, argv,
	         AO_DB | AO_KEY | AO_PASSPHRASE_FILE | AO_SINCE | AO_UNTIL |
	             AO_FORMAT,
	         0, NULL, &a)) != 0)
		return rc;
	if ((a.seen & (AO_SINCE | AO_UNTIL)) != (AO_SINCE | AO_UNTIL))
		return cli_usage(a.sub,
		    "an export needs its period: --since "
		    "T and --until T.");
	if ((a.seen & AO_FORMAT) == 0 || a.format == AF_TABLE)
		return cli_usage(a.sub,
		    "an export needs --format json or "
		    "--format csv.");
	if ((rc = audit_need_db(&a)) >= 0)
		return rc;
	memset(&f, 0, sizeof(f));
	f.since_ms = a.since_ms;
	f.until_ms = a.until_ms;
	rc = run_query(&a, &f, 1);
	audit_args_free(&a);
	return rc;
}
