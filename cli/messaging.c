/*
 * haven send|inbox|show|ack|status|health|decide — the messaging commands
 * of SPEC §8, each a thin client of the agent's local API (docs/API.md).
 *
 * The command line is checked for its shape only (required flags present,
 * JSON that parses, one id where one is needed); whether a share is
 * allowed and whether its lawful basis holds is the agent's decision, so
 * the rule lives in one place and the CLI prints the agent's sentence.
 * `haven watch` lives in watch.c.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "hv_config.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "messaging.h"
#include "remote.h"

#define JSON_FILE_MAX (16u << 20)

/* Every option of the group; each command accepts the ones it lists. */
enum {
	O_TO = 1100,
	O_TYPE,
	O_PRIORITY,
	O_NHS,
	O_LOCAL,
	O_CONSENT,
	O_ART6,
	O_ART9,
	O_JUSTIFICATION,
	O_DECIDED_BY,
	O_CHILD_FILE,
	O_BODY_FILE,
	O_BODY,
	O_REPLY_TO,
	O_DEADLINE,
	O_DNCF,
	O_OUTCOME,
	O_UNACKED,
	O_LIMIT,
	O_SINCE,
	O_BY,
	O_NOTE,
	O_ORDER,
	O_CURSOR,
	O_END
};
#define NOPT (O_END - O_TO)

struct args {
	struct msg_common co;
	const char *v[NOPT]; /* value of each option, NULL when absent */
	char *pos[2]; /* positional arguments */
	int npos;
};

#define V(a, o) ((a)->v[(o)-O_TO])

/* ---- shared by the commands -------------------------------------------- */

int
msg_common_opt(struct msg_common *o, int c, const char *arg)
{
	switch (c) {
	case MSG_OPT_AGENT:
		o->agent = arg;
		return 1;
	case MSG_OPT_TOKEN_FILE:
		o->token_file = arg;
		return 1;
	case MSG_OPT_JSON:
		o->json = 1;
		return 1;
	}
	return 0;
}

int
msg_getopt(int argc, char **argv, const struct option *lo, int *idx,
    const char *cmd, const char *name, struct msg_common *co)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, idx)) != -1) {
		if (c == '?') {
			cli_usage(cmd, "'%s' is not an option of haven %s.",
			    argv[optind - 1], name);
			return MSG_OPT_USAGE;
		}
		if (c == ':') {
			cli_usage(cmd, "%s needs a value.", argv[optind - 1]);
			return MSG_OPT_USAGE;
		}
		if (!msg_common_opt(co, c, optarg))
			return c;
	}
	return -1;
}

int
msg_fail(hv_err e, const struct hv_errdetail *d)
{
	return cli_fail(e, d);
}

int
msg_connect(const char *cmd, struct msg_common *o, api_t **out)
{
	struct hv_errdetail d;
	const char *url = o->agent, *tf = o->token_file;
	hv_err e;
	int rc;

	hv_errclear(&d);
	if (url == NULL || *url == '\0')
		url = getenv("HAVEN_AGENT");
	if (tf == NULL || *tf == '\0')
		tf = getenv("HAVEN_TOKEN_FILE");
	if (url == NULL || *url == '\0')
		return cli_usage(cmd,
		    "no agent to talk to: set $HAVEN_AGENT or "
		    "pass --agent URL (the agent's listen address, e.g. "
		    "http://127.0.0.1:7501).");
	if (tf == NULL || *tf == '\0')
		return cli_usage(cmd,
		    "no API token: set $HAVEN_TOKEN_FILE or "
		    "pass --token-file F (the agent's token_file).");
	if ((rc = cli_file_check(cmd, "the token file", tf)) != 0)
		return rc;
	if ((e = api_new(url, tf, out, &d)) == HV_EUSAGE)
		return cli_usage(cmd, "%s.", d.message);
	if (e != HV_OK)
		return cli_fail(e, &d);
	return 0;
}

int
msg_is_id(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!isxdigit((unsigned char)s[n]))
			return 0;
	return n == 32;
}

/*
 * Parses argv with the command's options. Returns 0, or prints a usage
 * sentence and returns 2. Every option may be given once.
 */
static int
parse(int argc, char **argv, const struct option *lo, int maxpos,
    struct args *a)
{
	const char *cmd = argv[0];
	int c, idx;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((c = msg_getopt(argc, argv, lo, &idx, cmd, cmd, &a->co)) != -1) {
		if (c == MSG_OPT_USAGE)
			return 2;
		if (c < O_TO || c >= O_END)
			continue;
		if (a->v[c - O_TO] != NULL)
			return cli_usage(cmd,
			    "--%s is given twice; give it "
			    "once.",
			    lo[idx].name);
		a->v[c - O_TO] = optarg != NULL ? optarg : "";
	}
	for (; optind < argc; optind++) {
		if (a->npos >= maxpos)
			return cli_usage(cmd,
			    maxpos ?
			        "only one message id, "
			        "please; '%s' is one too many." :
			        "'%s' is not "
			        "expected here; every value goes with its option.",
			    argv[optind]);
		a->pos[a->npos++] = argv[optind];
	}
	return 0;
}

/* The single message id argument of show, ack and status, lowercased. */
static int
want_id(const char *cmd, struct args *a, char id[33])
{
	if (a->npos != 1)
		return cli_usage(cmd,
		    "which message? Give its id (32 hex "
		    "digits), e.g. haven %s 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15.",
		    cmd);
	if (!msg_is_id(a->pos[0]))
		return cli_usage(cmd,
		    "'%s' is not a message id; an id is 32 "
		    "hex digits, as printed by haven send and haven inbox.",
		    a->pos[0]);
	for (int i = 0; i < 32; i++)
		id[i] = (char)tolower((unsigned char)a->pos[0][i]);
	id[32] = '\0';
	return 0;
}

/* A JSON string of s in upper case (the agent's enumerated words). */
static json_t *
upper(const char *s)
{
	char *u = strdup(s);
	json_t *j;

	if (u == NULL)
		return NULL;
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	j = json_string(u);
	free(u);
	return j;
}

/*
 * Parses a JSON document from --body TEXT or the file of --child-file /
 * --body-file. Prints a usage sentence (never quoting the content, which
 * may hold child details) and returns 2 when it does not parse or, with
 * want_object, is not an object; 3 when the file cannot be read.
 */
static int
load_json(const char *cmd, const char *opt, const char *text, const char *path,
    int want_object, json_t **out)
{
	json_error_t jerr;
	uint8_t *raw = NULL;
	size_t len = 0;
	json_t *j;

	if (path != NULL) {
		errno = 0;
		if (hv_read_file(path, JSON_FILE_MAX, &raw, &len) != 0)
			return errno == EFBIG ?
			    cli_usage(cmd,
			        "%s %s is "
			        "larger than %u KiB or not a regular file; name "
			        "a JSON file.",
			        opt, path, JSON_FILE_MAX / 1024) :
			    cli_file_error(cmd, opt, path,
			        errno != 0 ? errno : EIO);
		j = json_loadb((const char *)raw, len, JSON_DECODE_ANY, &jerr);
		sodium_memzero(raw, len);
		free(raw);
	} else
		j = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return cli_usage(cmd,
		    "%s%s%s is not valid JSON (line %d, "
		    "column %d); write it as a JSON document, e.g. %s.",
		    opt, path ? " " : "", path ? path : "", jerr.line,
		    jerr.column,
		    strstr(opt, "child") != NULL ? "{\"name\": \"…\", "
		                                   "\"dob\": \"2016-03-02\"}" :
		                                   "'{\"summary\": \"…\"}'");
	if (want_object && !json_is_object(j)) {
		json_decref(j);
		return cli_usage(cmd,
		    "%s%s%s must hold a JSON object, e.g. "
		    "{\"name\": \"…\", \"dob\": \"2016-03-02\"}.",
		    opt, path ? " " : "", path ? path : "");
	}
	*out = j;
	return 0;
}

/* Sets key to a new value, taking the reference; 0 or -1 (no memory). */
static int
put(json_t *o, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/*
 * The members send and decide share: type, priority, subject and basis.
 * Returns 0, 2 after a usage sentence, or 3 when out of memory.
 */
static int
build_common(const char *cmd, struct args *a, json_t *req)
{
	json_t *subject, *basis;
	static const struct {
		int opt;
		const char *flag;
	} need[] = {
		{ O_TYPE, "--type" },
		{ O_CONSENT, "--consent" },
		{ O_ART6, "--art6" },
		{ O_DECIDED_BY, "--decided-by" },
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (V(a, need[i].opt) == NULL || *V(a, need[i].opt) == '\0')
			return cli_usage(cmd,
			    "%s is required; the lawful basis "
			    "and type are recorded with every share and every "
			    "decision.",
			    need[i].flag);
	if (!hv_policy_staff_id_valid(V(a, O_DECIDED_BY)))
		return cli_usage(cmd,
		    "--decided-by must be a staff identifier "
		    "([a-z0-9._-], a letter first, at most 64, e.g. "
		    "ppu.sgt-khan), not a name.");
	if ((V(a, O_NHS) == NULL) == (V(a, O_LOCAL) == NULL))
		return cli_usage(cmd,
		    "name the child with exactly one of "
		    "--subject-nhs NHS_NUMBER or --subject-local AGENCY:ID.");
	if (put(req, "type", upper(V(a, O_TYPE))) != 0)
		return 3;
	if (V(a, O_PRIORITY) != NULL &&
	    put(req, "priority", upper(V(a, O_PRIORITY))) != 0)
		return 3;
	if ((subject = json_object()) == NULL ||
	    put(req, "subject", subject) != 0)
		return 3;
	if (put(subject, V(a, O_NHS) ? "nhs" : "local",
	        json_string(V(a, O_NHS) ? V(a, O_NHS) : V(a, O_LOCAL))) != 0)
		return 3;
	if ((basis = json_object()) == NULL || put(req, "basis", basis) != 0)
		return 3;
	if (put(basis, "consent", upper(V(a, O_CONSENT))) != 0 ||
	    put(basis, "art6", upper(V(a, O_ART6))) != 0 ||
	    (V(a, O_ART9) && put(basis, "art9", upper(V(a, O_ART9))) != 0) ||
	    (V(a, O_JUSTIFICATION) &&
	        put(basis, "justification",
	            json_string(V(a, O_JUSTIFICATION))) != 0) ||
	    put(basis, "decided_by", json_string(V(a, O_DECIDED_BY))) != 0)
		return 3;
	return 0;
}

/*
 * Recipients of --to a,b,c as a JSON array; 0, 2 or 3 as above. Spaces
 * around a name are dropped; an empty name (a stray comma), a name that is
 * not a node id and a name given twice are usage errors.
 */
static int
build_to(const char *cmd, const char *list, json_t *req)
{
	json_t *to = json_array();
	const char *p = list, *end;
	char name[64 + 2]; /* a node id is at most 64 characters */
	size_t n, i;

	if (to == NULL || put(req, "to", to) != 0)
		return 3;
	for (;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		for (n = (size_t)(end - p);
		     n > 0 && isspace((unsigned char)p[n - 1]); n--)
			;
		if (n == 0)
			return cli_usage(cmd,
			    "--to '%s' has an empty name (a "
			    "stray comma); list node ids separated by single "
			    "commas, e.g. --to social-care.bristol,police.avon.",
			    list);
		memcpy(name, p, n < sizeof(name) ? n : sizeof(name) - 1);
		name[n < sizeof(name) ? n : sizeof(name) - 1] = '\0';
		if (n >= sizeof(name) || !hv_node_id_valid(name))
			return cli_usage(cmd,
			    "--to: '%.*s' is not a node id; "
			    "use ROLE.NAME in lowercase letters, digits and "
			    "dashes, like social-care.bristol.",
			    (int)n, p);
		for (i = 0; i < json_array_size(to); i++)
			if (strcmp(json_string_value(json_array_get(to, i)),
			        name) == 0)
				return cli_usage(cmd,
				    "--to names %s twice; "
				    "give each recipient once.",
				    name);
		if (json_array_append_new(to, json_string(name)) != 0)
			return 3;
		if (*end == '\0')
			break;
	}
	return 0;
}

/* POSTs req and prints the new id (or the answer with --json). */
static int
submit(const char *cmd, struct args *a, const char *path, json_t *req)
{
	struct hv_errdetail d;
	json_t *resp = NULL;
	const char *id;
	api_t *api = NULL;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = msg_connect(cmd, &a->co, &api)) != 0)
		return rc;
	if ((e = api_call(api, "POST", path, req, &resp, &d)) != HV_OK) {
		rc = msg_fail(e, &d);
		goto out;
	}
	id = json_string_value(json_object_get(resp, "id"));
	if (id == NULL) {
		rc = msg_fail(
		    hv_errset(&d, HV_EIO, NULL,
		        "the agent accepted "
		        "the request but its answer has no id; see the agent's "
		        "log"),
		    &d);
		goto out;
	}
	if (a->co.json)
		fmt_json(stdout, resp, 0);
	else
		printf("%s\n", id);
	rc = fflush(stdout) == 0 ? 0 : 3;
out:
	json_decref(resp);
	api_destroy(&api);
	return rc;
}

/*
 * GETs path. With --json prints the answer and returns 0 with *out NULL;
 * otherwise returns 0 with *out the answer for the caller to format and
 * decref. Any other return is the exit status, after one sentence.
 */
static int
fetch(const char *cmd, struct args *a, const char *path, json_t **out,
    const char *missing)
{
	struct hv_errdetail d;
	json_t *resp = NULL;
	api_t *api = NULL;
	int rc;
	hv_err e;

	hv_errclear(&d);
	if ((rc = msg_connect(cmd, &a->co, &api)) != 0)
		return rc;
	if ((e = api_call(api, "GET", path, NULL, &resp, &d)) != HV_OK) {
		if (e == HV_ENOTFOUND && missing != NULL)
			hv_errset(&d, e, NULL, "%s", missing);
		rc = msg_fail(e, &d);
		goto out;
	}
	if (a->co.json) {
		fmt_json(stdout, resp, 0);
		json_decref(resp);
		resp = NULL;
	}
	*out = resp;
out:
	api_destroy(&api);
	return rc;
}

/* Formats j (when not NULL) with show and frees it; the exit status. */
static int
finish(json_t *j, void (*show)(FILE *, const json_t *))
{
	if (j != NULL) {
		show(stdout, j);
		json_decref(j);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 3;
}

/* ---- haven send -------------------------------------------------------- */

#define BASIS_OPTIONS \
	{ "type", required_argument, NULL, O_TYPE }, \
	    { "priority", required_argument, NULL, O_PRIORITY }, \
	    { "subject-nhs", required_argument, NULL, O_NHS }, \
	    { "subject-local", required_argument, NULL, O_LOCAL }, \
	    { "consent", required_argument, NULL, O_CONSENT }, \
	    { "art6", required_argument, NULL, O_ART6 }, \
	    { "art9", required_argument, NULL, O_ART9 }, \
	    { "justification", required_argument, NULL, O_JUSTIFICATION }, \
	{ \
		"decided-by", required_argument, NULL, O_DECIDED_BY \
	}

int
cmd_send(int argc, char **argv)
{
	static const struct option lo[] = { BASIS_OPTIONS,
		{ "to", required_argument, NULL, O_TO },
		{ "child-file", required_argument, NULL, O_CHILD_FILE },
		{ "body-file", required_argument, NULL, O_BODY_FILE },
		{ "body", required_argument, NULL, O_BODY },
		{ "reply-to", required_argument, NULL, O_REPLY_TO },
		{ "deadline", required_argument, NULL, O_DEADLINE },
		{ "do-not-contact-family", no_argument, NULL, O_DNCF },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	struct args a;
	json_t *req = NULL, *child = NULL, *body = NULL;
	int rc;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	if ((rc = parse(argc, argv, lo, 0, &a)) != 0)
		return rc;
	if (V(&a, O_TO) == NULL)
		return cli_usage(cmd,
		    "--to is required: the node ids of the "
		    "recipients, e.g. --to social-care.bristol.");
	if (V(&a, O_PRIORITY) == NULL)
		return cli_usage(cmd,
		    "--priority is required: IMMEDIATE, "
		    "URGENT or ROUTINE.");
	if (V(&a, O_BODY) != NULL && V(&a, O_BODY_FILE) != NULL)
		return cli_usage(cmd,
		    "give the body once: --body JSON or "
		    "--body-file F, not both.");
	if ((req = json_object()) == NULL)
		return 3;
	if ((rc = build_to(cmd, V(&a, O_TO), req)) != 0 ||
	    (rc = build_common(cmd, &a, req)) != 0)
		goto out;
	if (V(&a, O_CHILD_FILE) != NULL) {
		if ((rc = load_json(cmd, "--child-file", NULL,
		         V(&a, O_CHILD_FILE), 1, &child)) != 0)
			goto out;
		if ((rc = put(req, "child", child) ? 3 : 0) != 0)
			goto out;
	}
	if (V(&a, O_BODY) != NULL || V(&a, O_BODY_FILE) != NULL) {
		if ((rc = load_json(cmd,
		         V(&a, O_BODY) ? "--body" : "--body-file",
		         V(&a, O_BODY), V(&a, O_BODY_FILE), 0, &body)) != 0)
			goto out;
		if ((rc = put(req, "body", body) ? 3 : 0) != 0)
			goto out;
	}
	if (V(&a, O_REPLY_TO) != NULL) {
		char id[33];

		if (!msg_is_id(V(&a, O_REPLY_TO))) {
			rc = cli_usage(cmd,
			    "--reply-to '%s' is not a message "
			    "id (32 hex digits).",
			    V(&a, O_REPLY_TO));
			goto out;
		}
		for (int i = 0; i < 33; i++)
			id[i] =
			    (char)tolower((unsigned char)V(&a, O_REPLY_TO)[i]);
		if ((rc = put(req, "reply_to", json_string(id)) ? 3 : 0) != 0)
			goto out;
	}
	if (V(&a, O_DEADLINE) != NULL &&
	    (rc = put(req, "deadline", upper(V(&a, O_DEADLINE))) ? 3 : 0) != 0)
		goto out;
	if (V(&a, O_DNCF) != NULL &&
	    (rc = put(req, "flags", json_pack("[s]", "do_not_contact_family")) ?
	            3 :
	            0) != 0)
		goto out;
	rc = submit(cmd, &a, "/v1/messages", req);
out:
	json_decref(req);
	return rc;
}

/* ---- haven decide ------------------------------------------------------ */

int
cmd_decide(int argc, char **argv)
{
	static const struct option lo[] = { BASIS_OPTIONS,
		{ "outcome", required_argument, NULL, O_OUTCOME },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	struct args a;
	json_t *req;
	int rc;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	if ((rc = parse(argc, argv, lo, 0, &a)) != 0)
		return rc;
	if (V(&a, O_OUTCOME) == NULL)
		return cli_usage(cmd,
		    "--outcome is required: --outcome "
		    "NOT_SHARED records that you decided not to share.");
	if ((req = json_object()) == NULL)
		return 3;
	if ((rc = build_common(cmd, &a, req)) == 0) {
		if (put(req, "outcome", upper(V(&a, O_OUTCOME))) != 0)
			rc = 3;
		else
			rc = submit(cmd, &a, "/v1/decisions", req);
	}
	json_decref(req);
	return rc;
}

/* ---- haven inbox, show, status, health --------------------------------- */

/* Percent-encodes s for a query string into out[cap]; -1 when too long. */
static int
query_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (n + 4 > cap)
			return -1;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~' || ch == ':')
			out[n++] = (char)ch;
		else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

int
cmd_inbox(int argc, char **argv)
{
	static const struct option lo[] = { { "unacked", no_argument, NULL,
		                                O_UNACKED },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "since", required_argument, NULL, O_SINCE },
		{ "order", required_argument, NULL, O_ORDER },
		{ "cursor", required_argument, NULL, O_CURSOR },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	char path[1024], since[256], cursor[256];
	json_t *j = NULL;
	struct args a;
	int rc;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	if ((rc = parse(argc, argv, lo, 0, &a)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/inbox?unacked=%d",
	    V(&a, O_UNACKED) != NULL);
	if (V(&a, O_LIMIT) != NULL) {
		char *end;
		long n = strtol(V(&a, O_LIMIT), &end, 10);

		if (*V(&a, O_LIMIT) == '\0' || *end != '\0' || n < 1 ||
		    n > 1000)
			return cli_usage(cmd,
			    "--limit '%s' is not a number "
			    "from 1 to 1000.",
			    V(&a, O_LIMIT));
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "&limit=%ld", n);
	}
	if (V(&a, O_SINCE) != NULL) {
		int64_t ms;

		if (hv_time_parse(V(&a, O_SINCE), &ms) != 0 ||
		    query_escape(V(&a, O_SINCE), since, sizeof(since)) != 0)
			return cli_usage(cmd,
			    "--since '%s' is not a time; give "
			    "2026-11-22, 2026-11-22T09:00Z or unix seconds.",
			    V(&a, O_SINCE));
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "&since=%s", since);
	}
	if (V(&a, O_ORDER) != NULL) {
		if (strcmp(V(&a, O_ORDER), "newest") != 0 &&
		    strcmp(V(&a, O_ORDER), "priority") != 0)
			return cli_usage(cmd,
			    "--order '%s' is not newest or "
			    "priority.",
			    V(&a, O_ORDER));
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "&order=%s", V(&a, O_ORDER));
	}
	if (V(&a, O_CURSOR) != NULL) {
		if (query_escape(V(&a, O_CURSOR), cursor, sizeof(cursor)) != 0)
			return cli_usage(cmd,
			    "--cursor is too long; give the "
			    "cursor the page before printed.");
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "&cursor=%s", cursor);
	}
	if ((rc = fetch(cmd, &a, path, &j, NULL)) != 0)
		return rc;
	if (j != NULL) {
		fmt_inbox(stdout, j, V(&a, O_UNACKED) != NULL);
		json_decref(j);
	}
	return finish(NULL, NULL);
}

/*
 * `haven show ID` and `haven status ID`: GET prefix + ID and print the
 * document with fmt; an unknown ID is named, with the command for a
 * message of the other direction.
 */
static int
get_one(int argc, char **argv, const char *prefix,
    void (*fmt)(FILE *, const json_t *), int received)
{
	static const struct option lo[] = { MSG_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	char id[33], path[64], nf[256];
	json_t *j = NULL;
	struct args a;
	int rc;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	if ((rc = parse(argc, argv, lo, 1, &a)) != 0 ||
	    (rc = want_id(cmd, &a, id)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s%s", prefix, id);
	if (received)
		snprintf(nf, sizeof(nf),
		    "this agency received no message %s "
		    "(NOT_FOUND); for one it sent, run 'haven status %s'.",
		    id, id);
	else
		snprintf(nf, sizeof(nf),
		    "this agency sent no message %s "
		    "(NOT_FOUND); for one it received, run 'haven show %s'.",
		    id, id);
	if ((rc = fetch(cmd, &a, path, &j, nf)) != 0)
		return rc;
	return finish(j, fmt);
}

int
cmd_show(int argc, char **argv)
{
	return get_one(argc, argv, "/v1/inbox/", fmt_message, 1);
}

int
cmd_status(int argc, char **argv)
{
	return get_one(argc, argv, "/v1/messages/", fmt_status, 0);
}

int
cmd_health(int argc, char **argv)
{
	static const struct option lo[] = { MSG_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 } };
	json_t *j = NULL;
	struct args a;
	int rc;

	if (cli_wants_help(argc, argv)) {
		health_help();
		return 0;
	}
	/* --broker asks the broker itself (cli/health.c). */
	if (health_wants_broker(argc, argv))
		return cmd_health_broker(argc, argv);
	if ((rc = parse(argc, argv, lo, 0, &a)) != 0)
		return rc;
	if ((rc = fetch(argv[0], &a, "/v1/health", &j, NULL)) != 0)
		return rc;
	return finish(j, fmt_health);
}

/* ---- haven ack --------------------------------------------------------- */

int
cmd_ack(int argc, char **argv)
{
	static const struct option lo[] = { { "by", required_argument, NULL,
		                                O_BY },
		{ "note", required_argument, NULL, O_NOTE }, MSG_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	struct hv_errdetail d;
	char id[33], path[80], at[40];
	json_t *req = NULL, *resp = NULL;
	api_t *api = NULL;
	struct args a;
	int rc;
	hv_err e;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	if ((rc = parse(argc, argv, lo, 1, &a)) != 0 ||
	    (rc = want_id(cmd, &a, id)) != 0)
		return rc;
	if (V(&a, O_BY) == NULL || *V(&a, O_BY) == '\0')
		return cli_usage(cmd,
		    "--by is required: the staff identifier "
		    "of who is acknowledging, e.g. --by duty.sw-patel.");
	if (!hv_policy_staff_id_valid(V(&a, O_BY)))
		return cli_usage(cmd,
		    "--by must be a staff identifier "
		    "([a-z0-9._-], a letter first, at most 64, e.g. "
		    "duty.sw-patel), not a name.");
	if ((req = json_pack("{s:s}", "by", V(&a, O_BY))) == NULL ||
	    (V(&a, O_NOTE) && put(req, "note", json_string(V(&a, O_NOTE))))) {
		rc = 3;
		goto out;
	}
	if ((rc = msg_connect(cmd, &a.co, &api)) != 0)
		goto out;
	snprintf(path, sizeof(path), "/v1/inbox/%s/ack", id);
	hv_errclear(&d);
	if ((e = api_call(api, "POST", path, req, &resp, &d)) != HV_OK) {
		if (e == HV_ENOTFOUND)
			hv_errset(&d, e, NULL,
			    "this agency received no "
			    "message %s (NOT_FOUND); check the id with 'haven "
			    "inbox'.",
			    id);
		rc = msg_fail(e, &d);
		goto out;
	}
	if (a.co.json)
		fmt_json(stdout, resp, 0);
	else
		printf("Acknowledged %s by %s at %s; the sender is told.\n", id,
		    V(&a, O_BY),
		    fmt_time(json_string_value(json_object_get(resp, "at")), at,
		        sizeof(at)));
	rc = fflush(stdout) == 0 ? 0 : 3;
out:
	json_decref(req);
	json_decref(resp);
	api_destroy(&api);
	return rc;
}
