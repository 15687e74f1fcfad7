/*
 * haven audit sar — a subject access report (SPEC §15): every record about
 * one child, in time order, with the parties, the type, the basis and, in
 * plain language, what happened, and a line naming the signed tree head
 * the log was checked against. For a person to read and print (HTML, with
 * print CSS), to read at a terminal (text) or for another program (JSON).
 *
 * The child's reference is the identifier the officer typed: it is their
 * report, so it is written into the file, but it never leaves this process
 * otherwise (the broker only ever sees the pseudonym). With --db the whole
 * store is verified first, as `haven audit verify` does; with --broker the
 * answer's signed tree head is checked and the request is audited at the
 * broker as AUDIT_QUERY, with the IG node's scope applied. Everything taken
 * from a record is HTML-escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "hv_util.h"
#include "hv_words.h"

/* ---- collecting ------------------------------------------------------ */

struct recs {
	struct hv_audit_rec *v;
	size_t n, cap;
	int nomem;
};

static int
on_rec(void *ctx, const struct hv_audit_rec *r)
{
	struct recs *rs = ctx;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct hv_audit_rec *nv = realloc(rs->v, cap * sizeof(*nv));

		if (nv == NULL) {
			rs->nomem = 1;
			return 1;
		}
		rs->v = nv;
		rs->cap = cap;
	}
	rs->v[rs->n++] = *r;
	return 0;
}

/* Time order; the sequence number breaks ties. */
static int
by_time(const void *x, const void *y)
{
	const struct hv_audit_rec *a = x, *b = y;

	if (a->time_ms != b->time_ms)
		return a->time_ms < b->time_ms ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ---- plain language -------------------------------------------------- */

/* "Police (police.avon)": the agency kind from the role, then the node. */
static void
party(const char *node, char *out, size_t cap)
{
	static const struct {
		const char *role, *word;
	} kinds[] = {
		{ "police", "Police" },
		{ "health", "Health" },
		{ "education", "Education" },
		{ "social-care", "Social care" },
		{ "ig", "Information governance" },
		{ "broker", "The broker" },
	};
	size_t rl = strcspn(node, ".");

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].role) == rl &&
		    strncmp(node, kinds[i].role, rl) == 0) {
			snprintf(out, cap, "%s (%s)", kinds[i].word, node);
			return;
		}
	snprintf(out, cap, "%s", node[0] ? node : "an unnamed node");
}

/* A message type in a sentence: hv_words' noun, "a referral". */
static void
type_words(const char *type, int article, char *out, size_t cap)
{
	hv_words_type_noun(type, article, out, cap);
}

/* "St Mary's (x), Social care (y) and Health (z)". */
static void
parties(const struct hv_audit_rec *r, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < r->n_recipients && o < cap; i++) {
		char p[HV_NODE_MAX + 40];

		party(r->recipients[i], p, sizeof(p));
		o += (size_t)snprintf(out + o, cap - o, "%s%s",
		    i == 0                       ? "" :
		        i + 1 == r->n_recipients ? " and " :
		                                   ", ",
		    p);
	}
	if (r->n_recipients == 0)
		snprintf(out, cap, "no one");
}

/* What a refusal code means, for a reader who does not know the codes. */
static const char *
code_words(const char *code)
{
	static const struct {
		const char *code, *words;
	} m[] = {
		{ "POLICY_DENIED",
		    "the information-sharing agreement does not "
		    "allow it" },
		{ "BASIS_INVALID",
		    "the lawful basis given was not complete or "
		    "not valid" },
		{ "UNKNOWN_RECIPIENT",
		    "a recipient is not in the partnership" },
		{ "REVOKED_RECIPIENT",
		    "a recipient has been removed from the "
		    "partnership" },
		{ "SENDER_REVOKED",
		    "the sender has been removed from the "
		    "partnership" },
		{ "BAD_SIGNATURE", "its signature did not verify" },
		{ "REPLAY", "it had been sent before" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(code, m[i].code) == 0)
			return m[i].words;
	return "it could not be accepted";
}

/* Why a message was retracted, from the reason code (lib/hv_retract). */
static const char *
retract_words(const char *code)
{
	static const struct {
		const char *code, *words;
	} m[] = {
		{ "MISDIRECTED", "it was sent to the wrong recipient" },
		{ "WRONG_CHILD", "it was about the wrong child" },
		{ "INACCURATE", "it was inaccurate" },
		{ "DUPLICATE", "it was a duplicate" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(code, m[i].code) == 0)
			return m[i].words;
	return "of another reason";
}

/* One sentence saying what the record means. */
static void
sentence(const struct hv_audit_rec *r, char *out, size_t cap)
{
	char s[HV_NODE_MAX + 40], who[HV_NODE_MAX + 40], t[80], ta[80];
	char to[HV_MAX_RECIPIENTS * (HV_NODE_MAX + 48)];
	const char *e = r->event;

	party(r->sender, s, sizeof(s));
	party(r->actor, who, sizeof(who));
	type_words(r->type, 0, t, sizeof(t));
	type_words(r->type, 1, ta, sizeof(ta));
	parties(r, to, sizeof(to));
	if (strcmp(e, "SUBMITTED") == 0)
		snprintf(out, cap, "%s shared %s with %s.", s, ta, to);
	else if (strcmp(e, "DECISION_RECORDED") == 0)
		snprintf(out, cap,
		    "%s decided not to share %s, and recorded "
		    "why.",
		    s, ta);
	else if (strcmp(e, "REJECTED") == 0 && strcmp(r->at, "agent") == 0)
		snprintf(out, cap,
		    "%s tried to send %s to %s; its own agent "
		    "refused it because %s (%s). Nothing was shared.",
		    s, ta, to, code_words(r->reason), r->reason);
	else if (strcmp(e, "REJECTED") == 0)
		snprintf(out, cap,
		    "The broker refused %s from %s to %s "
		    "because %s (%s). Nothing was shared.",
		    ta, s, to, code_words(r->reason), r->reason);
	else if (strcmp(e, "DELIVERED") == 0)
		snprintf(out, cap, "%s received the %s from %s.", who, t, s);
	else if (strcmp(e, "ACKNOWLEDGED") == 0)
		snprintf(out, cap, "%s acknowledged the %s from %s.", who, t,
		    s);
	else if (strcmp(e, "ESCALATED") == 0)
		snprintf(out, cap,
		    "The %s from %s was not acknowledged in time "
		    "at %s and was raised with the duty team again.",
		    t, s, who);
	else if (strcmp(e, "EXPIRED") == 0)
		snprintf(out, cap,
		    "The %s from %s to %s expired before it was "
		    "delivered.",
		    t, s, to);
	else if (strcmp(e, "RETRACTED") == 0)
		snprintf(out, cap,
		    "%s retracted the %s it had sent to %s, because %s (%s); "
		    "decided by %s.",
		    s, t, to, retract_words(r->reason), r->reason,
		    r->actor[0] ? r->actor : "-");
	else if (strcmp(e, "WITHDRAWN") == 0)
		snprintf(out, cap,
		    "The %s from %s was withdrawn before %s "
		    "received it.",
		    t, s, who);
	else if (strcmp(e, "RETRACTION_DELIVERED") == 0)
		snprintf(out, cap,
		    "%s erased the %s from %s after its "
		    "retraction.",
		    who, t, s);
	else if (strcmp(e, "HOLD_ADDED") == 0 && r->has_id && r->type[0])
		snprintf(out, cap,
		    "%s placed a legal hold on the %s: it is kept until "
		    "the hold is removed.",
		    s, t);
	else if (strcmp(e, "HOLD_ADDED") == 0)
		snprintf(out, cap,
		    "%s placed a legal hold: records about the "
		    "child are kept until it is removed.",
		    s);
	else if (strcmp(e, "HOLD_REMOVED") == 0)
		snprintf(out, cap, "%s removed a legal hold.", s);
	else
		snprintf(out, cap, "%s: %s, %s.", e, s, t);
}

/* ---- HTML ------------------------------------------------------------ */

static void
esc(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++)
		switch (*s) {
		case '&':
			fputs("&amp;", fp);
			break;
		case '<':
			fputs("&lt;", fp);
			break;
		case '>':
			fputs("&gt;", fp);
			break;
		case '"':
			fputs("&quot;", fp);
			break;
		case '\'':
			fputs("&#39;", fp);
			break;
		default:
			fputc(*s, fp);
			break;
		}
}

/* "NHS number 943 476 5919" or "Local identifier AGENCY:ID". */
static void
reference(const char *norm, char *out, size_t cap)
{
	if (strncmp(norm, "nhs:", 4) == 0 && strlen(norm) == 14)
		snprintf(out, cap, "NHS number %.3s %.3s %.4s", norm + 4,
		    norm + 7, norm + 10);
	else if (strncmp(norm, "local:", 6) == 0)
		snprintf(out, cap, "Local identifier %s", norm + 6);
	else
		snprintf(out, cap, "%s", norm);
}

static const char css[] =
    "body{font-family:Arial,Helvetica,sans-serif;margin:2em;color:#0b0c0c}"
    "h1{font-size:1.6em;margin-bottom:.2em}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}"
    "th,td{border:1px solid #b1b4b6;padding:.4em;text-align:left;"
    "vertical-align:top}"
    "th{background:#f3f2f1}"
    ".verify{border-left:5px solid #00703c;padding:.5em 1em;"
    "background:#f3f2f1;margin:1em 0}"
    ".meta{color:#505a5f}"
    "code{font-size:.85em;word-break:break-all}"
    "@media print{body{margin:0;font-size:10pt}"
    "tr{page-break-inside:avoid}thead{display:table-header-group}"
    ".verify{border:1px solid #000}}"
    "@page{size:A4 landscape;margin:1.5cm}";

/* "Child protection plan started (CP_PLAN_START)": the words, then the
 * code an IG officer searches the log by. */
static void
type_label(const char *type, char *out, size_t cap)
{
	const char *w = hv_words_label(HV_WORDS_TYPE, type);

	if (type[0] == '\0')
		snprintf(out, cap, "-");
	else if (w != NULL)
		snprintf(out, cap, "%s (%s)", w, type);
	else
		snprintf(out, cap, "%s", type);
}

/* A basis code in hv_words' plain words; a code outside the list as is. */
static const char *
basis_words(enum hv_word_kind kind, const char *code)
{
	const char *w = hv_words_label(kind, code);

	return w != NULL ? w : code[0] ? code : "-";
}

static void
basis_text(const struct hv_audit_rec *r, char *out, size_t cap)
{
	if (!r->has_basis) {
		snprintf(out, cap, "-");
		return;
	}
	/* A refusal reported by an agent carries only who decided. */
	if (!r->basis.consent[0] && !r->basis.art6[0] && !r->basis.art9[0]) {
		snprintf(out, cap, "decided by %s",
		    r->basis.decided_by[0] ? r->basis.decided_by : "-");
		return;
	}
	snprintf(out, cap,
	    "Consent: %s; Article 6: %s; Article 9: %s; decided "
	    "by %s",
	    basis_words(HV_WORDS_CONSENT, r->basis.consent),
	    basis_words(HV_WORDS_ART6, r->basis.art6),
	    basis_words(HV_WORDS_ART9, r->basis.art9),
	    r->basis.decided_by[0] ? r->basis.decided_by : "-");
}

/* The verification line, the same words in HTML and JSON. */
static void
verify_line(const struct audit_source *src, char *out, size_t cap)
{
	char root[2 * HV_HASH_LEN + 1], when[40];
	size_t o;

	hv_hex(src->head_root, HV_HASH_LEN, root);
	hv_time_iso(src->head_time_ms, when, sizeof(when));
	o = (size_t)snprintf(out, cap,
	    "Verified against the signed tree "
	    "head of size %" PRIu64 ", root %s, signed at %s. %s",
	    src->head_size, root, when, src->checked ? src->checked : "");
	if (src->size > src->head_size && o < cap)
		o += (size_t)snprintf(out + o, cap - o,
		    " The %" PRIu64
		    " record%s after it passed the chain check but %s not yet "
		    "under a signed head.",
		    src->size - src->head_size,
		    src->size - src->head_size == 1 ? "" : "s",
		    src->size - src->head_size == 1 ? "is" : "are");
	/* A broker answer holds at most 1000 records: say it is partial. */
	if (src->truncated && o < cap)
		snprintf(out + o, cap - o,
		    " The broker sent only the first "
		    "matching records, so this report is INCOMPLETE; ask the "
		    "partnership administrator for a report made with --db.");
}

static void
write_html(FILE *fp, const struct audit_args *a, const struct recs *rs,
    const struct audit_source *src)
{
	char ref[200], now[40], line[700], buf[2048], hex[HV_ID_HEX_LEN + 1];
	const char *just;

	reference(a->subject_ref, ref, sizeof(ref));
	hv_time_iso(hv_now_ms(), now, sizeof(now));
	verify_line(src, line, sizeof(line));
	fputs("<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta "
	      "charset=\"utf-8\">\n<title>Subject access report</title>\n"
	      "<style>",
	    fp);
	fputs(css, fp);
	fputs("</style></head><body>\n<h1>Subject access report</h1>\n"
	      "<p><strong>Child's reference:</strong> ",
	    fp);
	esc(fp, ref);
	fputs("</p>\n<p class=\"meta\">Every share, refusal, decision not to "
	      "share, retraction and hold recorded about this child in the "
	      "partnership's audit log, oldest first. Produced ",
	    fp);
	esc(fp, now);
	fprintf(fp, " by haven audit sar: %zu record%s.</p>\n", rs->n,
	    rs->n == 1 ? "" : "s");
	fputs("<p class=\"verify\">", fp);
	esc(fp, line);
	fputs("</p>\n", fp);
	if (src->note != NULL) {
		fputs("<p class=\"meta\">", fp);
		esc(fp, src->note);
		fputs("</p>\n", fp);
	}
	if (rs->n == 0) {
		fputs("<p>No records about this child were found.</p>\n", fp);
	} else {
		fputs("<table><thead><tr><th>#</th><th>Time (UTC)</th>"
		      "<th>What happened</th><th>Event</th><th>Type</th>"
		      "<th>Lawful basis</th><th>Justification</th>"
		      "<th>Record</th></tr></thead><tbody>\n",
		    fp);
		for (size_t i = 0; i < rs->n; i++) {
			const struct hv_audit_rec *r = &rs->v[i];

			fprintf(fp, "<tr><td>%zu</td><td>", i + 1);
			hv_time_iso(r->time_ms, buf, sizeof(buf));
			esc(fp, buf);
			fputs("</td><td>", fp);
			sentence(r, buf, sizeof(buf));
			esc(fp, buf);
			fputs("</td><td>", fp);
			esc(fp, r->event);
			if (r->at[0] != '\0') {
				fputs(" (at ", fp);
				esc(fp, r->at);
				fputs(")", fp);
			}
			fputs("</td><td>", fp);
			type_label(r->type, buf, sizeof(buf));
			esc(fp, buf);
			fputs("</td><td>", fp);
			basis_text(r, buf, sizeof(buf));
			esc(fp, buf);
			fputs("</td><td>", fp);
			just =
			    audit_justification(a, r, buf, sizeof(buf), NULL);
			esc(fp, just[0] ? just : "-");
			fprintf(fp, "</td><td>seq %" PRIu64, r->seq);
			if (r->has_id) {
				hv_hex(r->id, HV_ID_LEN, hex);
				fprintf(fp, "<br><code>%s</code>", hex);
			}
			fputs("</td></tr>\n", fp);
		}
		fputs("</tbody></table>\n", fp);
	}
	fputs("</body></html>\n", fp);
}

/* ---- text ------------------------------------------------------------ */

#define TEXT_WIDTH 78

/*
 * Writes s wrapped at TEXT_WIDTH, each line after the first indented by
 * indent spaces (the first is already at col). A control character (a
 * practitioner's text could hold a terminal escape) is shown as '?'.
 */
static void
wrap(FILE *fp, const char *s, size_t col, size_t indent)
{
	while (*s != '\0') {
		size_t word = strcspn(s, " "), lead = col > indent ? 1 : 0;

		if (col > indent && col + 1 + word > TEXT_WIDTH) {
			fprintf(fp, "\n%*s", (int)indent, "");
			col = indent;
			lead = 0;
		}
		if (lead) {
			fputc(' ', fp);
			col++;
		}
		for (size_t i = 0; i < word; i++)
			fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
			                                                   s[i],
			    fp);
		col += word;
		s += word;
		s += strspn(s, " ");
	}
	fputc('\n', fp);
}

/* One labelled field: "   Label:   value", the value wrapped under it. */
static void
field(FILE *fp, const char *label, const char *value)
{
	fprintf(fp, "     %-15s", label);
	wrap(fp, value, 20, 20);
}

static void
write_text(FILE *fp, const struct audit_args *a, const struct recs *rs,
    const struct audit_source *src)
{
	char ref[200], now[40], line[700], buf[2048], hex[HV_ID_HEX_LEN + 1];
	char t[48];
	const char *just;

	reference(a->subject_ref, ref, sizeof(ref));
	hv_time_iso(hv_now_ms(), now, sizeof(now));
	verify_line(src, line, sizeof(line));
	fprintf(fp, "SUBJECT ACCESS REPORT\n\nChild's reference: %s\n", ref);
	snprintf(buf, sizeof(buf),
	    "Every share, refusal, decision not to share, retraction and hold "
	    "recorded about this child in the partnership's audit log, oldest "
	    "first. Produced %s by haven audit sar: %zu record%s.",
	    now, rs->n, rs->n == 1 ? "" : "s");
	wrap(fp, buf, 0, 0);
	fputc('\n', fp);
	wrap(fp, line, 0, 0);
	if (src->note != NULL) {
		fputc('\n', fp);
		wrap(fp, src->note, 0, 0);
	}
	fputc('\n', fp);
	if (rs->n == 0) {
		fprintf(fp, "No records about this child were found.\n");
		return;
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct hv_audit_rec *r = &rs->v[i];

		hv_time_iso(r->time_ms, t, sizeof(t));
		fprintf(fp, "%3zu. %s  %s%s%s%s\n", i + 1, t, r->event,
		    r->at[0] ? " (at " : "", r->at, r->at[0] ? ")" : "");
		sentence(r, buf, sizeof(buf));
		fprintf(fp, "     ");
		wrap(fp, buf, 5, 5);
		if (r->type[0]) {
			type_label(r->type, buf, sizeof(buf));
			field(fp, "Type:", buf);
		}
		if (r->has_basis) {
			basis_text(r, buf, sizeof(buf));
			field(fp, "Lawful basis:", buf);
		}
		just = audit_justification(a, r, buf, sizeof(buf), NULL);
		if (just[0])
			field(fp, "Justification:", just);
		snprintf(line, sizeof(line), "seq %" PRIu64, r->seq);
		if (r->has_id) {
			hv_hex(r->id, HV_ID_LEN, hex);
			snprintf(line + strlen(line),
			    sizeof(line) - strlen(line), ", message %s", hex);
		}
		field(fp, "Record:", line);
		fputc('\n', fp);
	}
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *
json_report(const struct audit_args *a, const struct recs *rs,
    const struct audit_source *src)
{
	char ref[200], now[40], line[700], buf[2048], root[2 * HV_HASH_LEN + 1];
	char jbuf[HV_JUSTIFICATION_MAX + 1];
	json_t *doc, *ev;

	reference(a->subject_ref, ref, sizeof(ref));
	hv_time_iso(hv_now_ms(), now, sizeof(now));
	verify_line(src, line, sizeof(line));
	hv_hex(src->head_root, HV_HASH_LEN, root);
	hv_time_iso(src->head_time_ms, buf, sizeof(buf));
	if ((ev = json_array()) == NULL)
		return NULL;
	doc = json_pack("{s:s, s:s, s:s, s:{s:I, s:s, s:s, s:s}, s:o}", "title",
	    "Subject access report", "reference", ref, "produced", now,
	    "verification", "size", (json_int_t)src->head_size, "root", root,
	    "time", buf, "line", line, "events", ev);
	if (doc == NULL)
		return NULL;
	for (size_t i = 0; i < rs->n; i++) {
		const struct hv_audit_rec *r = &rs->v[i];
		json_t *e, *to = json_array();
		char t[40], hex[HV_ID_HEX_LEN + 1] = "";

		for (size_t k = 0; to != NULL && k < r->n_recipients; k++)
			json_array_append_new(to,
			    json_string(r->recipients[k]));
		hv_time_iso(r->time_ms, t, sizeof(t));
		sentence(r, buf, sizeof(buf));
		if (r->has_id)
			hv_hex(r->id, HV_ID_LEN, hex);
		e = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o*, s:s, s:s, s:s, "
		              "s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
		    "seq", (json_int_t)r->seq, "time", t, "event", r->event,
		    "at", r->at, "sentence", buf, "recipients", to, "sender",
		    r->sender, "type", r->type, "reason", r->reason,
		    "message_id", hex, "basis", "consent", r->basis.consent,
		    "art6", r->basis.art6, "art9", r->basis.art9,
		    "justification",
		    audit_justification(a, r, jbuf, sizeof(jbuf), NULL),
		    "decided_by", r->basis.decided_by);
		if (e == NULL || json_array_append_new(ev, e) != 0) {
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}

/* ---- writing --------------------------------------------------------- */

int
audit_sar_write(const struct audit_args *a, const struct hv_audit_filter *f,
    const struct audit_source *src)
{
	struct recs rs = { 0 };
	struct hv_audit_filter all = *f;
	json_t *doc = NULL;
	char *tmp = NULL;
	FILE *fp = NULL;
	int rc = 0, fd = -1;
	hv_err e;

	if (audit_key_check(a, src) != 0)
		return 1;
	all.limit = 0;
	if ((e = src->each(src->src, &all, on_rec, &rs)) != HV_OK || rs.nomem) {
		fprintf(stderr, "haven %s: cannot read the audit log: %s\n",
		    a->sub, hv_strerror(rs.nomem ? HV_ENOMEM : e));
		rc = hv_exit_code(rs.nomem ? HV_ENOMEM : e);
		goto out;
	}
	if (rs.n > 1)
		qsort(rs.v, rs.n, sizeof(*rs.v), by_time);
	/* "-o -": to standard output, for a terminal or a pipe. */
	if (strcmp(a->output, "-") == 0) {
		fp = stdout;
		goto write;
	}
	/*
	 * Written beside the target and renamed: never half a report. Mode
	 * 0600, since it names the child.
	 */
	if ((tmp = malloc(strlen(a->output) + 32)) == NULL) {
		rc = cli_fail(HV_ENOMEM, NULL);
		goto out;
	}
	sprintf(tmp, "%s.tmp%ld", a->output, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	        0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		fprintf(stderr, "haven %s: cannot write %s: %s\n", a->sub,
		    a->output, strerror(errno));
		rc = 3;
		goto out;
	}
write:
	if (a->format == AF_JSON) {
		if ((doc = json_report(a, &rs, src)) == NULL ||
		    json_dumpf(doc, fp, JSON_INDENT(2)) != 0) {
			rc = cli_fail(HV_ENOMEM, NULL);
			goto out;
		}
		fputc('\n', fp);
	} else if (a->format == AF_TEXT)
		write_text(fp, a, &rs, src);
	else
		write_html(fp, a, &rs, src);
	if (fp == stdout) {
		fp = NULL;
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "haven %s: cannot write the report.\n",
			    a->sub);
			rc = 3;
		}
		goto out;
	}
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0) {
		fprintf(stderr, "haven %s: cannot write %s.\n", a->sub,
		    a->output);
		rc = 3;
		goto out;
	}
	fclose(fp);
	fp = NULL;
	if (rename(tmp, a->output) != 0) {
		fprintf(stderr, "haven %s: cannot write %s: %s\n", a->sub,
		    a->output, strerror(errno));
		rc = 3;
		goto out;
	}
	printf("Wrote the subject access report (%zu record%s) to %s.\n", rs.n,
	    rs.n == 1 ? "" : "s", a->output);
out:
	if (fp != NULL)
		fclose(fp);
	if (rc != 0 && tmp != NULL && fd >= 0)
		unlink(tmp);
	free(tmp);
	json_decref(doc);
	free(rs.v);
	return rc;
}

/* ---- the command ----------------------------------------------------- */

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

/* --db: verify the whole store, then report under its latest head. */
static int
sar_local(const struct audit_args *a, const struct hv_audit_filter *f)
{
	struct audit_source src;
	struct hv_errdetail d;
	struct hv_prev_signs prev;
	Haven__SignedTreeHead *h = NULL;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	uint8_t key[32];
	const char *how = NULL;
	char checked[400];
	int rc;
	hv_err e;

	hv_errclear(&d);
	memset(&src, 0, sizeof(src));
	memset(&prev, 0, sizeof(prev));
	if (a->broker_pub != NULL) {
		if ((rc = audit_broker_pub(a->broker_pub, key, &prev)) != 0)
			return rc;
		how = "the broker key in --broker-pub";
	}
	if ((rc = audit_open(a->db, &s, &log)) != 0)
		return rc;
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK) {
		rc = cli_fail(e, NULL);
		goto out;
	}
	if (how == NULL &&
	    !audit_stored_broker_key(&log, txn, key, &prev, &how)) {
		fprintf(stderr,
		    "haven %s: the store records no broker key, so "
		    "its signed tree heads cannot be checked; pass "
		    "--broker-pub FILE (the broker's .pub file).\n",
		    a->sub);
		rc = 1;
		goto out;
	}
	e = hv_auditlog_verify_at(&log, txn, key, &prev, &d);
	if (e == HV_ETAMPERED) {
		fprintf(stderr,
		    "haven %s: the audit log does not verify, so no "
		    "report was written: %s\n",
		    a->sub, d.message);
		rc = 1;
		goto out;
	}
	if (e != HV_OK ||
	    (e = hv_auditlog_tree(&log, txn, &src.size, src.root)) != HV_OK)
		goto fail;
	e = hv_auditlog_latest_head(&log, txn, &h);
	if (e == HV_ENOTFOUND) {
		fprintf(stderr,
		    "haven %s: the broker has not signed a tree "
		    "head yet; try again in a second.\n",
		    a->sub);
		rc = 1;
		goto out;
	}
	if (e != HV_OK)
		goto fail;
	src.head_size = h->size;
	memcpy(src.head_root, h->root.data, HV_HASH_LEN);
	src.head_time_ms = h->time;
	snprintf(checked, sizeof(checked),
	    "Every record, link and signed "
	    "tree head of the log (%" PRIu64 " records) was checked, as "
	    "haven audit verify does; the heads' signatures with %s.",
	    src.size, how);
	src.checked = checked;
	e = hv_auditlog_subject_key_id(&log, txn, src.log_key_id);
	if (e != HV_OK && e != HV_ENOTFOUND)
		goto fail;
	src.has_log_key_id = e == HV_OK;
	src.each = store_each;
	{
		struct store_src ss = { &log, txn };

		src.src = &ss;
		rc = audit_sar_write(a, f, &src);
	}
	goto out;
fail:
	fprintf(stderr, "haven %s: cannot read the audit log: %s\n", a->sub,
	    hv_errmsg(e, &d));
	rc = hv_exit_code(e);
out:
	if (h != NULL)
		haven__signed_tree_head__free_unpacked(h, NULL);
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	return rc;
}

int
audit_cmd_sar(int argc, char **argv)
{
	struct audit_args a;
	struct hv_audit_filter f;
	int rc;

	if ((rc = audit_parse("audit sar", argc, argv,
	         AO_DB | AO_REMOTE_OPTS | AO_BROKER_PUB | AO_SUBJECT_NHS |
	             AO_SUBJECT_KEY | AO_SUBJECT_LOCAL | AO_FORMAT | AO_OUTPUT,
	         0, NULL, &a)) != 0)
		return rc;
	if (a.subject_nhs == NULL && a.subject_local == NULL)
		return cli_usage(a.sub,
		    "a report is about one child: give "
		    "--subject-nhs N (or --subject-local AGENCY:ID) with "
		    "--subject-key FILE.");
	if (a.output == NULL)
		return cli_usage(a.sub,
		    "give the report's file with -o "
		    "REPORT.html (--output).");
	if ((rc = audit_need_db(&a)) >= 0)
		goto out;
	if (a.broker != NULL && a.broker_pub != NULL) {
		rc = cli_usage(a.sub,
		    "--broker-pub goes with --db; a remote "
		    "report checks heads with the directory's broker key.");
		goto out;
	}
	memset(&f, 0, sizeof(f));
	if ((rc = audit_subject(&a, &f.has_subject, f.subject)) != 0)
		goto out;
	if (a.broker != NULL)
		rc = audit_remote_query(&a, &f);
	else
		rc = sar_local(&a, &f);
out:
	sodium_memzero(a.subject_ref, sizeof(a.subject_ref));
	audit_args_free(&a);
	return rc;
}
