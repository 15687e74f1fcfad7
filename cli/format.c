/*
 * Human-readable output of the messaging commands, written for a duty
 * team reading it at 2 a.m.: the handling flag before anything else,
 * acknowledgement and deadlines in plain words, the lawful basis spelled
 * out, the child's details and the body as an indented tree.
 *
 * Everything here writes to the stream it is given (standard output);
 * nothing is logged. Member names follow docs/API.md; a member the agent
 * leaves out prints as "-" rather than failing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "hv_util.h"
#include "messaging.h"

#define DNCF_MARK "!! DO NOT CONTACT FAMILY"
#define DNCF_BANNER \
	"!! DO NOT CONTACT THE FAMILY — police enquiry / " \
	"Operation Encompass"

/* ---- small helpers ------------------------------------------------------ */

void
fmt_json(FILE *fp, const json_t *j, int compact)
{
	json_dumpf(j, fp, compact ? JSON_COMPACT : JSON_INDENT(2));
	fputc('\n', fp);
}

/*
 * A string member as a terminal may show it: control characters and
 * bidirectional overrides from an agent's answer (free text a person
 * typed: notes, reasons, names) become spaces, as audit_clean makes them.
 * The copy lives in a small ring, so one printf may take several.
 */
static const char *
str(const json_t *o, const char *key)
{
	static char ring[16][4096];
	static unsigned next;
	const char *s = json_string_value(json_object_get(o, key));
	char *out;

	if (s == NULL)
		return "-";
	out = ring[next++ % 16];
	audit_clean(s, out, sizeof(ring[0]), 0);
	return out;
}

const char *
fmt_time(const char *iso, char *buf, size_t cap)
{
	char *t;

	if (iso == NULL || *iso == '\0')
		return "-";
	snprintf(buf, cap, "%s", iso);
	if ((t = strchr(buf, 'T')) != NULL)
		*t = ' ';
	return buf;
}

/* 1 when the message or event carries the do-not-contact-family flag. */
static int
dncf(const json_t *o)
{
	const json_t *flags = json_object_get(o, "flags"), *f;
	size_t i;

	if (json_is_true(json_object_get(o, "do_not_contact_family")))
		return 1;
	json_array_foreach (flags, i, f)
		if (json_is_string(f) &&
		    strcmp(json_string_value(f), "do_not_contact_family") == 0)
			return 1;
	return 0;
}

const char *
fmt_deadline(const json_t *dl, char *buf, size_t cap)
{
	const char *rag, *due;
	char when[48];
	int64_t ms;
	int overdue;

	if (json_is_string(dl)) {
		snprintf(buf, cap, "%s", json_string_value(dl));
		return buf;
	}
	if (!json_is_object(dl))
		return "-";
	rag = json_string_value(json_object_get(dl, "rag"));
	due = json_string_value(json_object_get(dl, "due"));
	overdue =
	    due != NULL && hv_time_parse(due, &ms) == 0 && ms < hv_now_ms();
	snprintf(buf, cap, "%s%sdue %s%s", rag ? rag : "", rag ? ", " : "",
	    fmt_time(due, when, sizeof(when)), overdue ? " OVERDUE" : "");
	return buf;
}

const char *
fmt_child_name(const json_t *msg)
{
	const json_t *child = json_object_get(msg, "child");
	const char *name;

	if (json_object_get(msg, "error") != NULL)
		return "(child details could not be decrypted)";
	if ((name = json_string_value(json_object_get(child, "name"))) ||
	    (name = json_string_value(json_object_get(child, "full_name"))))
		return name;
	return "(no name given)";
}

/* Who acknowledged, in a few words: "dsl.jones", "a.b +1", "UNACKNOWLEDGED". */
static const char *
ack_words(const json_t *m, char *buf, size_t cap)
{
	const json_t *acks = json_object_get(m, "acks");
	size_t n = json_array_size(acks);
	int esc = json_is_true(json_object_get(m, "escalated"));

	if (n == 0 && !json_is_true(json_object_get(m, "acknowledged"))) {
		snprintf(buf, cap, "UNACKNOWLEDGED%s",
		    esc ? ", ESCALATED" : "");
		return buf;
	}
	if (n == 0)
		snprintf(buf, cap, "yes");
	else if (n == 1)
		snprintf(buf, cap, "%s", str(json_array_get(acks, 0), "by"));
	else
		snprintf(buf, cap, "%s +%zu",
		    str(json_array_get(acks, 0), "by"), n - 1);
	return buf;
}

/* ---- haven inbox -------------------------------------------------------- */

enum { C_FLAG, C_PRIO, C_TYPE, C_FROM, C_RECV, C_ACK, C_DEADLINE, C_ID, NCOL };

/*
 * The inbox's last line: how many are shown of how many the agent holds
 * (its `total` and `unacked`, so that a page never passes for the whole
 * inbox), and the cursor of the next page when there is one.
 */
static void
inbox_footer(FILE *fp, const json_t *inbox, size_t shown, size_t page_unacked,
    int unacked_only)
{
	const json_t *t = json_object_get(inbox, "total");
	const json_t *u = json_object_get(inbox, "unacked");
	const char *cursor =
	    json_string_value(json_object_get(inbox, "cursor"));
	size_t total =
	    json_is_integer(t) ? (size_t)json_integer_value(t) : shown;
	size_t unacked =
	    json_is_integer(u) ? (size_t)json_integer_value(u) : page_unacked;

	if (unacked_only)
		fprintf(fp, "%zu of %zu unacknowledged shown.\n", shown, total);
	else
		fprintf(fp, "%zu of %zu message%s shown; %zu unacknowledged.\n",
		    shown, total, total == 1 ? "" : "s", unacked);
	if (cursor != NULL)
		fprintf(fp, "More follow: add --cursor %s for the next page.\n",
		    cursor);
}

void
fmt_inbox(FILE *fp, const json_t *inbox, int unacked_only)
{
	static const char *const head[NCOL] = { "HANDLING", "PRIORITY", "TYPE",
		"FROM", "RECEIVED", "ACKNOWLEDGED", "DEADLINE", "ID" };
	const json_t *list = json_object_get(inbox, "messages"), *m;
	size_t n = json_array_size(list), i, unacked = 0;
	size_t w[NCOL];
	char(*cell)[NCOL][96];
	int any_flag = 0;

	if (n == 0) {
		fprintf(fp, "No %smessages%s.\n",
		    unacked_only ? "unacknowledged " : "",
		    json_is_string(json_object_get(inbox, "cursor")) ?
		        " on this page" :
		        "");
		return;
	}
	if ((cell = calloc(n, sizeof(*cell))) == NULL) {
		fprintf(fp, "(out of memory; use --json)\n");
		return;
	}
	for (int c = 0; c < NCOL; c++)
		w[c] = strlen(head[c]);
	json_array_foreach (list, i, m) {
		char tmp[96];

		if (dncf(m))
			any_flag = 1;
		if (!json_is_true(json_object_get(m, "acknowledged")))
			unacked++;
		snprintf(cell[i][C_FLAG], 96, "%s", dncf(m) ? DNCF_MARK : "");
		snprintf(cell[i][C_PRIO], 96, "%s", str(m, "priority"));
		snprintf(cell[i][C_TYPE], 96, "%s", str(m, "type"));
		snprintf(cell[i][C_FROM], 96, "%s", str(m, "sender"));
		snprintf(cell[i][C_RECV], 96, "%s",
		    fmt_time(json_string_value(
		                 json_object_get(m, "received_at")),
		        tmp, sizeof(tmp)));
		snprintf(cell[i][C_ACK], 96, "%s",
		    ack_words(m, tmp, sizeof(tmp)));
		snprintf(cell[i][C_DEADLINE], 96, "%s",
		    fmt_deadline(json_object_get(m, "deadline"), tmp,
		        sizeof(tmp)));
		snprintf(cell[i][C_ID], 96, "%s", str(m, "id"));
		for (int c = 0; c < NCOL; c++)
			if (strlen(cell[i][c]) > w[c])
				w[c] = strlen(cell[i][c]);
	}
	for (int c = any_flag ? 0 : 1; c < NCOL; c++) {
		if (c == C_ID)
			fprintf(fp, "%s\n", head[c]);
		else
			fprintf(fp, "%-*s  ", (int)w[c], head[c]);
	}
	for (i = 0; i < n; i++)
		for (int c = any_flag ? 0 : 1; c < NCOL; c++) {
			if (c == C_ID)
				fprintf(fp, "%s\n", cell[i][c]);
			else
				fprintf(fp, "%-*s  ", (int)w[c], cell[i][c]);
		}
	inbox_footer(fp, inbox, n, unacked, unacked_only);
	free(cell);
}

/* ---- haven show --------------------------------------------------------- */

/* A JSON scalar as text: strings bare, null as "-". */
static void
scalar(FILE *fp, const json_t *v, int indent)
{
	char *s;

	if (json_is_string(v)) {
		/* Continuation lines of a multi-line string stay indented. */
		for (const char *p = json_string_value(v); *p; p++) {
			fputc(*p, fp);
			if (*p == '\n' && p[1] != '\0')
				fprintf(fp, "%*s", indent, "");
		}
	} else if (json_is_null(v))
		fputs("-", fp);
	else if ((s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
		fputs(s, fp);
		free(s);
	}
	fputc('\n', fp);
}

static int
compound(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) > 0) ||
	    (json_is_array(v) && json_array_size(v) > 0);
}

/* Prints any JSON value as an indented tree: "key: value", "- item". */
static void
tree(FILE *fp, const json_t *v, int indent)
{
	const char *key;
	const json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, x) {
			fprintf(fp, "%*s%s:", indent, "", key);
			if (compound(x)) {
				fputc('\n', fp);
				tree(fp, x, indent + 2);
			} else {
				fputc(' ', fp);
				scalar(fp, x, indent + 2);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, x) {
			fprintf(fp, "%*s-", indent, "");
			if (compound(x)) {
				fputc('\n', fp);
				tree(fp, x, indent + 2);
			} else {
				fputc(' ', fp);
				scalar(fp, x, indent + 2);
			}
		}
	} else {
		fprintf(fp, "%*s", indent, "");
		scalar(fp, v, indent);
	}
}

/* Plain words for the lawful-basis values (SPEC §4.2). */
static const char *
basis_words(const char *v)
{
	static const struct {
		const char *value, *words;
	} w[] = {
		{ "OBTAINED", "consent was obtained" },
		{ "NOT_SOUGHT", "consent was not sought" },
		{ "REFUSED", "consent was refused" },
		{ "NOT_POSSIBLE", "consent could not be obtained" },
		{ "PUBLIC_TASK", "a public task or statutory duty" },
		{ "LEGAL_OBLIGATION", "a legal obligation" },
		{ "VITAL_INTERESTS", "to protect someone's life" },
		{ "CONSENT", "the person's consent" },
		{ "LEGITIMATE_INTERESTS", "legitimate interests" },
		{ "NONE", "no special-category data" },
		{ "SAFEGUARDING",
		    "safeguarding of children and individuals "
		    "at risk, DPA 2018 Sch 1 para 18" },
		{ "HEALTH_SOCIAL_CARE", "health or social care, Art 9(2)(h)" },
		{ "EXPLICIT_CONSENT", "explicit consent" },
		{ "LEGAL_CLAIMS", "legal claims" },
	};

	for (size_t i = 0; v != NULL && i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(v, w[i].value) == 0)
			return w[i].words;
	return NULL;
}

static void
basis_line(FILE *fp, const char *label, const char *v)
{
	const char *words = basis_words(v);

	if (words != NULL)
		fprintf(fp, "  %-15s%s (%s)\n", label, v, words);
	else
		fprintf(fp, "  %-15s%s\n", label, v);
}

/*
 * The justification travels sealed to the ig.* nodes (SPEC §4.2): say so,
 * with its length, rather than show text nobody here can read.
 */
static void
justification_line(FILE *fp, const json_t *basis)
{
	const json_t *sealed = json_object_get(basis, "justification_sealed");
	const json_t *to = json_object_get(sealed, "to");
	size_t i;
	json_t *v;

	if (sealed == NULL) {
		fprintf(fp, "  %-15s%s\n", "Justification",
		    *str(basis, "justification") ? str(basis, "justification") :
		                                   "-");
		return;
	}
	fprintf(fp, "  %-15s(sealed to", "Justification");
	json_array_foreach (to, i, v)
		fprintf(fp, "%s %s", i ? "," : "",
		    json_string_value(v) ? json_string_value(v) : "?");
	fprintf(fp, "; %lld characters)\n",
	    (long long)json_integer_value(json_object_get(sealed, "length")));
}

/* A received message's first lines: priority, type and sender. */
static void
header_top(FILE *fp, const json_t *m)
{
	fprintf(fp, "%-14s%s\n", "Priority", str(m, "priority"));
	fprintf(fp, "%-14s%s\n", "Type", str(m, "type"));
	fprintf(fp, "%-14s%s\n", "From", str(m, "sender"));
}

/* When it was sent and when this agency received it. */
static void
header_times(FILE *fp, const json_t *m)
{
	char t[48];

	fprintf(fp, "%-14s%s\n", "Sent",
	    fmt_time(json_string_value(json_object_get(m, "created")), t,
	        sizeof(t)));
	fprintf(fp, "%-14s%s\n", "Received",
	    fmt_time(json_string_value(json_object_get(m, "received_at")), t,
	        sizeof(t)));
}

/*
 * A message retracted by its sender, or erased under the retention rule,
 * is only its header (API: GET /v1/inbox/{id}): say so first and print what
 * remains, rather than "UNACKNOWLEDGED" over a lawful basis of dashes,
 * which a duty worker would read as a message still to act on. 1 when it
 * printed the message.
 */
static int
gone_banner(FILE *fp, const json_t *m)
{
	const json_t *r = json_object_get(m, "retraction");
	char t[48];

	if (json_is_true(json_object_get(m, "retracted")))
		fprintf(fp,
		    "!! RETRACTED BY THE SENDER: %s, decided by %s at %s.\n"
		    "!! The sender has taken it back; the child's details "
		    "and the body are no longer shown here.\n\n",
		    str(r, "reason"), str(r, "decided_by"),
		    fmt_time(json_string_value(json_object_get(r, "at")), t,
		        sizeof(t)));
	else if (json_is_true(json_object_get(m, "erased")))
		fprintf(fp, "!! ERASED: %s; only its header is kept.\n\n",
		    str(m, "status"));
	else
		return 0;
	header_top(fp, m);
	header_times(fp, m);
	fprintf(fp, "%-14s%s\n", "Message id", str(m, "id"));
	return 1;
}

void
fmt_message(FILE *fp, const json_t *m)
{
	const json_t *basis = json_object_get(m, "basis"), *to, *acks, *x;
	const json_t *err = json_object_get(m, "error");
	char t[48], dl[96];
	size_t i;

	if (gone_banner(fp, m))
		return;
	if (dncf(m))
		fprintf(fp,
		    "%s\n!! Do not tell the child's parents or carers "
		    "about this message, and do nothing that would alert "
		    "them.\n\n",
		    DNCF_BANNER);
	header_top(fp, m);
	to = json_object_get(m, "to");
	fprintf(fp, "%-14s", "To");
	json_array_foreach (to, i, x)
		fprintf(fp, "%s%s", i ? ", " : "",
		    json_string_value(x) ? json_string_value(x) : "?");
	fprintf(fp, "%s\n", json_array_size(to) ? "" : "-");
	header_times(fp, m);
	fprintf(fp, "%-14s%s\n", "Deadline",
	    err ? "(not readable)" :
	          fmt_deadline(json_object_get(m, "deadline"), dl, sizeof(dl)));
	if (json_is_string(json_object_get(m, "reply_to")))
		fprintf(fp, "%-14s%s\n", "In reply to", str(m, "reply_to"));
	acks = json_object_get(m, "acks");
	if (json_array_size(acks) == 0)
		fprintf(fp, "%-14s%s\n", "Acknowledged", "UNACKNOWLEDGED");
	json_array_foreach (acks, i, x) {
		int has_note = json_is_string(json_object_get(x, "note"));

		fprintf(fp, "%-14sby %s at %s%s%s\n", i ? "" : "Acknowledged",
		    str(x, "by"),
		    fmt_time(json_string_value(json_object_get(x, "at")), t,
		        sizeof(t)),
		    has_note ? ": " : "", has_note ? str(x, "note") : "");
	}
	if (json_is_true(json_object_get(m, "escalated")))
		fprintf(fp, "%-14s%s\n", "Escalated",
		    "yes: not acknowledged in time");
	fprintf(fp, "%-14s%s\n", "Message id", str(m, "id"));

	fprintf(fp, "\nLawful basis\n");
	basis_line(fp, "Consent", str(basis, "consent"));
	basis_line(fp, "Article 6", str(basis, "art6"));
	basis_line(fp, "Article 9", str(basis, "art9"));
	justification_line(fp, basis);
	fprintf(fp, "  %-15s%s\n", "Decided by", str(basis, "decided_by"));

	if (err != NULL) {
		fprintf(fp,
		    "\n!! The child's details and the body could not be "
		    "decrypted: %s (%s)\n",
		    str(err, "message"), str(err, "code"));
		return;
	}
	fprintf(fp, "\nChild\n  subject: %s\n", str(m, "subject"));
	x = json_object_get(m, "child");
	if (compound(x))
		tree(fp, x, 2);
	fprintf(fp, "\nBody\n");
	x = json_object_get(m, "body");
	if (x == NULL || (json_is_object(x) && json_object_size(x) == 0))
		fprintf(fp, "  (empty)\n");
	else
		tree(fp, x, 2);
}

/* ---- haven status ------------------------------------------------------- */

static void
timeline_line(FILE *fp, const json_t *ev)
{
	const char *s = str(ev, "status");
	char t[48];

	/* A status as wide as its column still gets a space after it. */
	fprintf(fp, "%-22s%-14s%s",
	    fmt_time(json_string_value(json_object_get(ev, "at")), t,
	        sizeof(t)),
	    s, strlen(s) >= 14 ? " " : "");
	if (strcmp(s, "queued") == 0)
		fprintf(fp, "in this agent's outbox");
	else if (strcmp(s, "accepted") == 0)
		fprintf(fp, "by the broker, audit record %lld",
		    (long long)json_integer_value(
		        json_object_get(ev, "audit_seq")));
	else if (strcmp(s, "rejected") == 0 && json_object_get(ev, "to"))
		fprintf(fp, "by the recipient %s: %s: %s", str(ev, "to"),
		    str(ev, "code"), str(ev, "message"));
	else if (strcmp(s, "rejected") == 0)
		fprintf(fp, "by the broker: %s: %s", str(ev, "code"),
		    str(ev, "message"));
	else if (strcmp(s, "delivered") == 0)
		fprintf(fp, "to %s", str(ev, "to"));
	else if (strcmp(s, "acknowledged") == 0)
		fprintf(fp, "at %s by %s", str(ev, "node"), str(ev, "by"));
	else if (strcmp(s, "escalated") == 0)
		fprintf(fp, "at %s: not acknowledged in time", str(ev, "node"));
	else if (strcmp(s, "expired") == 0)
		fprintf(fp, "not delivered to %s in time", str(ev, "to"));
	else if (strcmp(s, "resubmitted") == 0)
		fprintf(fp, "%s", str(ev, "message"));
	else if (strcmp(s, "retracted") == 0)
		fprintf(fp, "recorded by the broker: %s, decided by %s",
		    str(ev, "reason"), str(ev, "decided_by"));
	else if (strcmp(s, "withdrawn") == 0)
		fprintf(fp, "before delivery to %s: never delivered",
		    str(ev, "to"));
	else if (strcmp(s, "retraction_delivered") == 0)
		fprintf(fp, "%s confirmed it applied the retraction",
		    str(ev, "to"));
	fputc('\n', fp);
}

/* The retraction of a sent message, and where each copy stands. */
static void
retraction_lines(FILE *fp, const json_t *r)
{
	const json_t *x;
	char t[48];
	size_t i;

	fprintf(fp, "%-14s%s, decided by %s\n", "Retracted", str(r, "reason"),
	    str(r, "decided_by"));
	fprintf(fp, "%-14s%s at this agent\n", "Asked",
	    fmt_time(json_string_value(json_object_get(r, "requested_at")), t,
	        sizeof(t)));
	if (json_is_string(json_object_get(r, "recorded_at")))
		fprintf(fp, "%-14s%s by the broker\n", "Recorded",
		    fmt_time(json_string_value(
		                 json_object_get(r, "recorded_at")),
		        t, sizeof(t)));
	else
		fprintf(fp,
		    "%-14snot yet by the broker (it is sent when the "
		    "broker is reachable)\n",
		    "Recorded");
	if (json_is_string(json_object_get(r, "note"))) {
		char note[1100]; /* 1,000 bytes at the agent */

		/* Typed by a person: no control character reaches the tty. */
		audit_clean(str(r, "note"), note, sizeof(note), 0);
		fprintf(fp, "%-14s%s\n", "Note", note);
	}
	json_array_foreach (json_object_get(r, "recipients"), i, x) {
		const char *o = str(x, "outcome");
		const char *at =
		    fmt_time(json_string_value(json_object_get(x, "at")), t,
		        sizeof(t));

		fprintf(fp, "%-14s%s: ", i ? "" : "Recipients", str(x, "to"));
		if (strcmp(o, "confirmed") == 0)
			fprintf(fp,
			    "confirmed %s: its copy erased, or kept "
			    "only under a legal hold there\n",
			    at);
		else if (strcmp(o, "withdrawn") == 0)
			fprintf(fp,
			    "withdrawn %s before delivery: never "
			    "received\n",
			    at);
		else
			fprintf(fp,
			    "not confirmed yet: the recipient applies "
			    "it when it next connects\n");
	}
}

void
fmt_status(FILE *fp, const json_t *st)
{
	const json_t *to = json_object_get(st, "to"), *x;
	int decision = strcmp(str(st, "kind"), "decision") == 0;
	char t[48];
	size_t i;

	if (decision)
		fprintf(fp, "Decision not to share %s (%s)\n", str(st, "id"),
		    str(st, "type"));
	else {
		fprintf(fp, "Message %s (%s, %s) to ", str(st, "id"),
		    str(st, "type"), str(st, "priority"));
		json_array_foreach (to, i, x)
			fprintf(fp, "%s%s", i ? ", " : "",
			    json_string_value(x) ? json_string_value(x) : "?");
		fputc('\n', fp);
	}
	fprintf(fp, "Created %s; status now: %s\n\n",
	    fmt_time(json_string_value(json_object_get(st, "created")), t,
	        sizeof(t)),
	    str(st, "status"));
	if (json_is_object(json_object_get(st, "retraction"))) {
		retraction_lines(fp, json_object_get(st, "retraction"));
		fputc('\n', fp);
	}
	json_array_foreach (json_object_get(st, "timeline"), i, x)
		timeline_line(fp, x);
}

/* ---- haven health ------------------------------------------------------- */

void
fmt_health(FILE *fp, const json_t *h)
{
	const json_t *th = json_object_get(h, "tree_head");
	const char *key;
	const json_t *v;
	char t[48];

	fprintf(fp, "%-18s%s\n", "Agent", str(h, "node"));
	fprintf(fp, "%-18s%s\n", "Broker",
	    json_is_true(json_object_get(h, "broker_connected")) ?
	        "connected" :
	        "NOT CONNECTED: messages wait in the outbox until "
	        "it is back");
	fprintf(fp, "%-18s%lld waiting for the broker's verdict\n", "Outbox",
	    (long long)json_integer_value(json_object_get(h, "outbox_depth")));
	fprintf(fp, "%-18s%lld unacknowledged\n", "Inbox",
	    (long long)json_integer_value(json_object_get(h, "inbox_unacked")));
	fprintf(fp, "%-18sversion %lld\n", "Directory",
	    (long long)json_integer_value(
	        json_object_get(h, "directory_version")));
	if (json_is_object(th))
		fprintf(fp, "%-18ssize %lld, root %s, at %s\n",
		    "Audit tree head",
		    (long long)json_integer_value(json_object_get(th, "size")),
		    str(th, "root"),
		    fmt_time(json_string_value(json_object_get(th, "time")), t,
		        sizeof(t)));
	else
		fprintf(fp, "%-18snone verified yet\n", "Audit tree head");
	{
		const json_t *in = json_object_get(h, "integrity");

		if (json_is_object(in) &&
		    json_is_true(json_object_get(in, "ok")) &&
		    strcmp(str(in, "state"), "restored") == 0)
			fprintf(fp, "%-18sRESTORED since %s: %s\n",
			    "Audit integrity",
			    fmt_time(json_string_value(
			                 json_object_get(in, "since")),
			        t, sizeof(t)),
			    str(in, "message"));
		else if (json_is_object(in) &&
		    json_is_true(json_object_get(in, "ok")))
			fprintf(fp,
			    "%-18sOK: the broker's audit history only "
			    "grew\n",
			    "Audit integrity");
		else if (json_is_object(in))
			fprintf(fp,
			    "%-18s!! %s since %s: %s Tell the "
			    "partnership administrator and the IG officer.\n",
			    "Audit integrity", str(in, "code"),
			    fmt_time(json_string_value(
			                 json_object_get(in, "since")),
			        t, sizeof(t)),
			    str(in, "message"));
	}
	if (json_is_integer(json_object_get(h, "deliveries_refused")))
		fprintf(fp, "%-18s%lld deliveries since the agent started%s\n",
		    "Refused here",
		    (long long)json_integer_value(
		        json_object_get(h, "deliveries_refused")),
		    json_integer_value(
		        json_object_get(h, "deliveries_refused")) > 0 ?
		        " (each one is in the "
		        "agent's log)" :
		        "");
	/* Members a newer agent adds are shown rather than hidden. */
	json_object_foreach ((json_t *)h, key, v) {
		static const char *const known[] = { "node", "broker_connected",
			"outbox_depth", "inbox_unacked", "directory_version",
			"tree_head", "integrity", "deliveries_refused" };
		int seen = 0;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			seen |= strcmp(key, known[i]) == 0;
		if (!seen) {
			fprintf(fp, "%-17s ", key);
			scalar(fp, v, 18);
		}
	}
}

/* ---- haven watch -------------------------------------------------------- */

static void
event_message(FILE *fp, const char *event, const json_t *data,
    const json_t *msg)
{
	int esc = strcmp(event, "escalation") == 0;
	char t[48], r[48], dl[96];
	const char *child = msg ? fmt_child_name(msg) :
	                          "(details not available: haven show ID)";

	if (dncf(data) || (msg != NULL && dncf(msg)))
		fprintf(fp, "%s  ", DNCF_MARK);
	fprintf(fp, "%s  %s  %s  %s  from %s",
	    fmt_time(json_string_value(json_object_get(data,
	                 esc ? "escalated_at" : "received_at")),
	        t, sizeof(t)),
	    esc ? "ESCALATED" : "NEW", str(data, "priority"), str(data, "type"),
	    str(data, "sender"));
	if (esc)
		fprintf(fp, ", not acknowledged since %s",
		    fmt_time(json_string_value(
		                 json_object_get(data, "received_at")),
		        r, sizeof(r)));
	fprintf(fp, "  child: %s  deadline: %s  id %s\n", child,
	    msg && json_object_get(msg, "error") == NULL ?
	        fmt_deadline(json_object_get(msg, "deadline"), dl, sizeof(dl)) :
	        fmt_deadline(json_object_get(data, "deadline"), dl, sizeof(dl)),
	    str(data, "id"));
}

static void
event_receipt(FILE *fp, const json_t *data)
{
	const char *s = str(data, "status");
	char t[48], up[32];
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < sizeof(up); i++)
		up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	up[i] = '\0';
	fprintf(fp, "%s  %s",
	    fmt_time(json_string_value(json_object_get(data, "at")), t,
	        sizeof(t)),
	    up);
	if (strcmp(s, "accepted") == 0)
		fprintf(fp, " by the broker");
	else if (strcmp(s, "rejected") == 0 && json_object_get(data, "to"))
		fprintf(fp, " by the recipient %s: %s: %s", str(data, "to"),
		    str(data, "code"), str(data, "message"));
	else if (strcmp(s, "rejected") == 0)
		fprintf(fp, " by the broker: %s: %s", str(data, "code"),
		    str(data, "message"));
	else if (strcmp(s, "delivered") == 0)
		fprintf(fp, " to %s", str(data, "to"));
	else if (strcmp(s, "acknowledged") == 0)
		fprintf(fp, " at %s by %s", str(data, "node"), str(data, "by"));
	else if (strcmp(s, "escalated") == 0)
		fprintf(fp, " at %s: not acknowledged in time",
		    str(data, "node"));
	else if (strcmp(s, "expired") == 0)
		fprintf(fp, ": not delivered to %s in time", str(data, "to"));
	fprintf(fp, "  your message %s\n", str(data, "id"));
}

void
fmt_event(FILE *fp, const char *event, const json_t *data, const json_t *msg)
{
	if (strcmp(event, "message") == 0 || strcmp(event, "escalation") == 0)
		event_message(fp, event, data, msg);
	else if (strcmp(event, "receipt") == 0)
		event_receipt(fp, data);
	else if (strcmp(event, "integrity") == 0)
		fprintf(fp, "!! INTEGRITY  %s: %s\n", str(data, "code"),
		    str(data, "message"));
	else
		fprintf(fp, "%s  id %s\n", event, str(data, "id"));
}
