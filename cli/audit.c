/*
 * haven audit — the information-governance officer's view of the broker's
 * audit trail (SPEC §9): dispatch, options shared by the subcommands,
 * opening the store read-only, and `haven audit verify`.
 *
 * `--db DIR` opens the broker's data_dir with MDB_RDONLY: an LMDB reader
 * sees one consistent snapshot and never blocks the broker, so every
 * subcommand is safe while the broker runs, and none can change the log.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "hv_config.h"
#include "hv_directory.h"
#include "hv_keys.h"
#include "hv_policy.h"
#include "hv_sealed.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "remote.h"

/* ---- options --------------------------------------------------------- */

static const struct option longopts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "broker", required_argument, NULL, 'B' },
	{ "key", required_argument, NULL, 'K' },
	{ "directory", required_argument, NULL, 'D' },
	{ "broker-pub", required_argument, NULL, 'P' },
	{ "subject-nhs", required_argument, NULL, 'n' },
	{ "subject-key", required_argument, NULL, 'k' },
	{ "subject", required_argument, NULL, 's' },
	{ "subject-local", required_argument, NULL, 'l' },
	{ "message", required_argument, NULL, 'm' },
	{ "sender", required_argument, NULL, 'S' },
	{ "recipient", required_argument, NULL, 'R' },
	{ "role", required_argument, NULL, 'r' },
	{ "event", required_argument, NULL, 'e' },
	{ "type", required_argument, NULL, 't' },
	{ "since", required_argument, NULL, 'a' },
	{ "until", required_argument, NULL, 'u' },
	{ "limit", required_argument, NULL, 'L' },
	{ "format", required_argument, NULL, 'f' },
	{ "from", required_argument, NULL, 'F' },
	{ "to", required_argument, NULL, 'T' },
	{ "passphrase-file", required_argument, NULL, 'p' },
	{ "root-pub", required_argument, NULL, 'X' },
	{ "timeout", required_argument, NULL, 'w' },
	{ "output", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

/*
 * "A, B and C": every event name of lib's one list, so that the sentence
 * refusing a mistyped --event never falls behind the events the log holds.
 */
static void
event_list(char *out, size_t cap)
{
	size_t n = 0, used = 0;

	while (hv_event_names[n] != NULL)
		n++;
	out[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++) {
		int w = snprintf(out + used, cap - used, "%s%s",
		    i == 0 ? "" : (i + 1 == n ? " and " : ", "),
		    hv_event_names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The AO_* bit of each option, in longopts order. */
static const unsigned optbits[] = {
	AO_DB,
	AO_BROKER,
	AO_KEY,
	AO_DIRECTORY,
	AO_BROKER_PUB,
	AO_SUBJECT_NHS,
	AO_SUBJECT_KEY,
	AO_SUBJECT,
	AO_SUBJECT_LOCAL,
	AO_MESSAGE,
	AO_SENDER,
	AO_RECIPIENT,
	AO_ROLE,
	AO_EVENT,
	AO_TYPE,
	AO_SINCE,
	AO_UNTIL,
	AO_LIMIT,
	AO_FORMAT,
	AO_FROM,
	AO_TO,
	AO_PASSPHRASE_FILE,
	AO_ROOT_PUB,
	AO_TIMEOUT,
	AO_OUTPUT,
};

static int
word_in(const char *w, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(w, *list) == 0)
			return 1;
	return 0;
}

/* Upper-cases an enum word into buf; -1 when too long or not a word. */
static int
upper_word(const char *in, char *buf, size_t cap)
{
	size_t n = strlen(in);

	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c != '\0' && !isalnum(c) && c != '_')
			return -1;
		buf[i] = (char)toupper(c);
	}
	return 0;
}

static int
role_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		        *s == '-'))
			return 0;
	return 1;
}

static int
parse_u64(const char *s, uint64_t min, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < min)
		return -1;
	*out = v;
	return 0;
}

/*
 * An --until names the end of the period it spells: a day, a minute or a
 * second is included whole, so "--until 2026-11-22" takes in that day.
 */
static int
parse_time(const char *s, int is_until, int64_t *ms)
{
	size_t n = strlen(s);
	int64_t span = 1000;

	if (hv_time_parse(s, ms) != 0)
		return -1;
	if (!is_until)
		return 0;
	if (n == 10 && s[4] == '-' && s[7] == '-')
		span = 86400000;
	else if ((n == 16 || (n == 17 && s[16] == 'Z')) && s[10] == 'T' &&
	    s[13] == ':')
		span = 60000;
	*ms += span - 1;
	return 0;
}

/* Checks one option's value into a. Returns 0 or 2 after a message. */
static int
take(struct audit_args *a, int c, const char *v)
{
	const char *sub = a->sub;
	uint64_t n;

	switch (c) {
	case 'd':
		a->db = v;
		break;
	case 'B':
		a->broker = v;
		break;
	case 'K':
		a->key = v;
		break;
	case 'D':
		a->directory = v;
		break;
	case 'P':
		a->broker_pub = v;
		break;
	case 'p':
		a->passphrase_file = v;
		break;
	case 'X':
		a->root_pub = v;
		break;
	case 'o':
		if (v[0] == '\0')
			return cli_usage(sub, "--output needs a file name.");
		a->output = v;
		break;
	case 'w':
		if ((a->timeout_ms = remote_timeout(v)) < 0)
			return cli_usage(sub,
			    "--timeout '%.80s' is not a number "
			    "of seconds from 1 to 3600.",
			    v);
		break;
	case 'n':
		a->subject_nhs = v;
		break;
	case 'k':
		a->subject_key = v;
		break;
	case 'l':
		a->subject_local = v;
		break;
	case 's':
		a->subject_hex = v;
		if (strlen(v) != 64 || hv_unhex(v, (uint8_t[32]){ 0 }, 32) != 0)
			return cli_usage(sub,
			    "--subject '%.80s' is not a "
			    "pseudonym of 64 hex digits.",
			    v);
		break;
	case 'm':
		if (strlen(v) != 32 || hv_unhex(v, a->message, 16) != 0)
			return cli_usage(sub,
			    "--message '%.80s' is not a "
			    "message id of 32 hex digits.",
			    v);
		break;
	case 'S':
	case 'R':
		if (!hv_node_id_valid(v))
			return cli_usage(sub,
			    "--%s '%.80s' is not a node id "
			    "(ROLE.NAME, for example police.avon).",
			    c == 'S' ? "sender" : "recipient", v);
		if (c == 'S')
			a->sender = v;
		else
			a->recipient = v;
		break;
	case 'r':
		if (!role_valid(v))
			return cli_usage(sub,
			    "--role '%.80s' is not a role "
			    "(lowercase letters, digits and dashes, for "
			    "example social-care).",
			    v);
		a->role = v;
		break;
	case 'e':
		if (upper_word(v, a->event, sizeof(a->event)) != 0 ||
		    !word_in(a->event, hv_event_names)) {
			char all[400];

			event_list(all, sizeof(all));
			return cli_usage(sub,
			    "--event '%.80s' is not an audit "
			    "event; events are %s.",
			    v, all);
		}
		break;
	case 't':
		if (upper_word(v, a->type, sizeof(a->type)) != 0 ||
		    !hv_policy_type_valid(a->type))
			return cli_usage(sub,
			    "--type '%.80s' is not a message "
			    "type of the partnership (for example REFERRAL, "
			    "INFO_REQUEST).",
			    v);
		break;
	case 'a':
	case 'u':
		if (parse_time(v, c == 'u',
		        c == 'a' ? &a->since_ms : &a->until_ms) != 0)
			return cli_usage(sub,
			    "--%s '%.80s' is not a time; give "
			    "ISO 8601 UTC (2026-11-22, 2026-11-22T09:14:03Z) "
			    "or unix seconds.",
			    c == 'a' ? "since" : "until", v);
		break;
	case 'L':
		if (parse_u64(v, 1, &n) != 0 || n > 100000000)
			return cli_usage(sub,
			    "--limit '%.80s' is not a number "
			    "of records from 1 to 100000000.",
			    v);
		a->limit = (size_t)n;
		break;
	case 'f': {
		/* A report is html, json or text; a listing table, json or csv. */
		int sar = strcmp(sub, "audit sar") == 0;

		if (!sar && strcmp(v, "table") == 0)
			a->format = AF_TABLE;
		else if (strcmp(v, "json") == 0)
			a->format = AF_JSON;
		else if (!sar && strcmp(v, "csv") == 0)
			a->format = AF_CSV;
		else if (sar && strcmp(v, "html") == 0)
			a->format = AF_HTML;
		else if (sar && strcmp(v, "text") == 0)
			a->format = AF_TEXT;
		else if (sar)
			return cli_usage(sub,
			    "--format '%.80s' is not html, json "
			    "or text.",
			    v);
		else
			return cli_usage(sub,
			    "--format '%.80s' is not table, "
			    "json or csv.",
			    v);
		break;
	}
	case 'F':
	case 'T':
		if (parse_u64(v, 1, c == 'F' ? &a->from : &a->to) != 0)
			return cli_usage(sub,
			    "--%s '%.80s' is not a tree size "
			    "(a whole number of records, at least 1).",
			    c == 'F' ? "from" : "to", v);
		break;
	}
	return 0;
}

int
audit_parse(const char *sub, int argc, char **argv, unsigned allowed, int npos,
    const char *const *pos_names, struct audit_args *a)
{
	int c, idx, rc;

	memset(a, 0, sizeof(*a));
	a->sub = sub;
	optind = 0; /* GNU: start afresh, argv[0] is not parsed */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:", longopts, &idx)) != -1) {
		if (c == '?')
			return cli_usage(sub,
			    "'%.80s' is not an option of "
			    "this command.",
			    argv[optind - 1]);
		if (c == ':')
			return cli_usage(sub, "%.80s needs a value.",
			    argv[optind - 1]);
		for (idx = 0; longopts[idx].val != c; idx++)
			;
		if ((allowed & optbits[idx]) == 0)
			return cli_usage(sub,
			    "--%s is not an option of this "
			    "command.",
			    longopts[idx].name);
		if ((a->seen & optbits[idx]) != 0)
			return cli_usage(sub, "--%s is given twice.",
			    longopts[idx].name);
		a->seen |= optbits[idx];
		if ((rc = take(a, c, optarg)) != 0)
			return rc;
	}
	for (; optind < argc; optind++) {
		if (a->npos >= npos)
			return cli_usage(sub,
			    "'%.80s' is one argument too "
			    "many.",
			    argv[optind]);
		a->pos[a->npos++] = argv[optind];
	}
	if (a->npos < npos)
		return cli_usage(sub, "%s is missing.", pos_names[a->npos]);
	if ((a->seen & (AO_SINCE | AO_UNTIL)) == (AO_SINCE | AO_UNTIL) &&
	    a->since_ms > a->until_ms)
		return cli_usage(sub, "--since is after --until.");
	if ((a->seen & AO_FROM) && (a->seen & AO_TO) && a->from > a->to)
		return cli_usage(sub, "--from is larger than --to.");
	return 0;
}

/* Loads --key into a->ig when given. Returns 0 or the exit status. */
static int
load_ig_key(struct audit_args *a)
{
	if (a->key == NULL)
		return 0;
	return remote_load_key(a->sub, a->key, a->passphrase_file, &a->ig);
}

int
audit_need_db(struct audit_args *a)
{
	/* --key and its passphrase also open justifications from --db. */
	unsigned only_remote = AO_REMOTE_OPTS & ~(AO_KEY | AO_PASSPHRASE_FILE);
	int rc;

	a->ig = NULL;
	if (a->db != NULL && (a->seen & only_remote) != 0)
		return cli_usage(a->sub,
		    "give either --db DIR or --broker "
		    "ENDPOINT, not both (--directory, --root-pub and "
		    "--timeout go with --broker).");
	if (a->db == NULL && (a->seen & AO_REMOTE_OPTS) != 0) {
		if (a->broker == NULL || a->key == NULL || a->directory == NULL)
			return cli_usage(a->sub,
			    "a remote query needs "
			    "--broker ENDPOINT, --key IG.key and --directory "
			    "FILE together.");
		return AUDIT_REMOTE;
	}
	if (a->db == NULL)
		return cli_usage(a->sub,
		    "--db DIR (the broker's data_dir) "
		    "is required.");
	if ((a->seen & AO_PASSPHRASE_FILE) && a->key == NULL)
		return cli_usage(a->sub,
		    "--passphrase-file goes with --key "
		    "IG.key.");
	if ((rc = load_ig_key(a)) != 0)
		return rc;
	return -1;
}

void
audit_args_free(struct audit_args *a)
{
	hv_keys_destroy(&a->ig);
}

const char *
audit_justification(const struct audit_args *a, const struct hv_audit_rec *r,
    char *buf, size_t cap, int *opened)
{
	if (opened != NULL)
		*opened = 0;
	if (!r->has_basis)
		return "";
	/* Records written before justifications travelled sealed. */
	if (r->basis.justification[0] != '\0')
		return r->basis.justification;
	if (r->basis.sealed_len == 0)
		return "";
	if (a->ig == NULL || !r->has_id ||
	    hv_justification_open(&r->basis, r->id, a->ig, buf, cap) != HV_OK)
		return "(sealed)";
	if (opened != NULL)
		*opened = 1;
	return buf;
}

/* ---- store, keys and subjects ---------------------------------------- */

int
audit_open(const char *db, hv_store **s, hv_auditlog *log)
{
	struct hv_errdetail d;
	struct stat st;
	MDB_txn *txn;
	char mdb[4096];
	int rc = 0;
	hv_err e;

	hv_errclear(&d);
	if (stat(db, &st) != 0) {
		fprintf(stderr,
		    "haven audit: cannot open the audit store %s: "
		    "%s; --db takes the broker's data_dir.\n",
		    db, strerror(errno));
		return 3;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr,
		    "haven audit: cannot open the audit store: %s "
		    "is not a folder; --db takes the broker's data_dir.\n",
		    db);
		return 3;
	}
	/* LMDB would report an empty folder as "No such file or directory". */
	if ((size_t)snprintf(mdb, sizeof(mdb), "%s/data.mdb", db) >=
	        sizeof(mdb) ||
	    stat(mdb, &st) != 0) {
		fprintf(stderr,
		    "haven audit: the folder %s holds no Haven "
		    "broker store (no data.mdb); --db takes the broker's "
		    "data_dir.\n",
		    db);
		return 3;
	}
	e = hv_store_open(db, 0, 1, hv_auditlog_dbnames, HV_AUDITLOG_NDBS, s,
	    &d);
	if (e == HV_ENOTFOUND) {
		fprintf(stderr,
		    "haven audit: %s holds a store without an "
		    "audit log; --db takes the broker's data_dir, not an "
		    "agent's.\n",
		    db);
		return 3;
	}
	if (e != HV_OK) {
		fprintf(stderr,
		    "haven audit: cannot open the audit store: "
		    "%s\n",
		    hv_errmsg(e, &d));
		return 3;
	}
	/*
	 * LMDB closes the handles a transaction opened when that
	 * transaction is aborted, and hv_store_open aborts its read-only
	 * one; open them again here and commit, which keeps them.
	 */
	if ((e = hv_store_begin(*s, 1, &txn)) != HV_OK) {
		hv_store_close(s);
		fprintf(stderr,
		    "haven audit: cannot read the audit store %s: "
		    "%s\n",
		    db, hv_strerror(e));
		return 3;
	}
	for (size_t i = 0; i < HV_AUDITLOG_NDBS && rc == 0; i++)
		rc =
		    mdb_dbi_open(txn, hv_auditlog_dbnames[i], 0, &(*s)->dbi[i]);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0) {
		hv_store_close(s);
		fprintf(stderr,
		    "haven audit: cannot read the audit store %s: "
		    "%s\n",
		    db, mdb_strerror(rc));
		return 3;
	}
	log->store = *s;
	log->base = 0;
	return 0;
}

int
audit_broker_pub(const char *path, uint8_t out[32], struct hv_prev_signs *prev)
{
	struct hv_pubkeys pk;
	struct hv_errdetail d;
	hv_err e;

	if (cli_file_check("audit", "the broker's public key file", path) != 0)
		return 3;
	hv_errclear(&d);
	/* Another node's .pub is named, not reported as TAMPERED later. */
	if ((e = hv_pubkeys_load_role(path, "broker", &pk, &d)) == HV_EUSAGE) {
		fprintf(stderr, "haven audit: %s\n", d.message);
		return 2;
	}
	if (e == HV_OK)
		e = hv_pubkeys_load_prev(path, &pk, prev, &d);
	if (e != HV_OK) {
		fprintf(stderr,
		    "haven audit: cannot read the broker's public "
		    "key file %s: %s\n",
		    path, hv_errmsg(e, &d));
		return e == HV_EIO ? 3 : 1;
	}
	memcpy(out, pk.sign, 32);
	return 0;
}

/* Reads one line (an NHS number) from stdin into buf; 0 or -1. */
static int
read_stdin_line(char *buf, size_t cap)
{
	size_t n;

	if (fgets(buf, (int)cap, stdin) == NULL)
		return -1;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return 0;
}

int
audit_subject(struct audit_args *a, int *has, uint8_t out[32])
{
	struct hv_errdetail d;
	char norm[HV_SUBJECT_MAX], line[128];
	uint8_t *key = NULL;
	const char *what =
	    a->subject_nhs != NULL ? "--subject-nhs" : "--subject-local";
	int n = (a->subject_nhs != NULL) + (a->subject_hex != NULL) +
	    (a->subject_local != NULL),
	    rc = 0;
	hv_err e;

	hv_errclear(&d);
	*has = 0;
	if (n > 1)
		return cli_usage(a->sub,
		    "give one of --subject-nhs, "
		    "--subject-local and --subject.");
	if (n == 0 || a->subject_hex != NULL) {
		if (a->subject_key != NULL)
			return cli_usage(a->sub,
			    "--subject-key goes with "
			    "--subject-nhs or --subject-local.");
		if (a->subject_hex != NULL)
			hv_unhex(a->subject_hex, out, 32);
		*has = n;
		return 0;
	}
	if (a->subject_key == NULL)
		return cli_usage(a->sub,
		    "%s needs --subject-key FILE (the "
		    "partnership's subject key) to compute the child's "
		    "pseudonym.",
		    what);
	/* "-" keeps the NHS number out of the shell history and ps. */
	if (a->subject_nhs != NULL && strcmp(a->subject_nhs, "-") == 0) {
		if (read_stdin_line(line, sizeof(line)) != 0) {
			rc = cli_usage(a->sub,
			    "--subject-nhs - found no line "
			    "on standard input.");
			goto out;
		}
		e = hv_subject_nhs(line, norm, sizeof(norm), &d);
	} else if (a->subject_nhs != NULL) {
		e = hv_subject_nhs(a->subject_nhs, norm, sizeof(norm), &d);
	} else {
		e = hv_subject_local(a->subject_local, NULL, norm, sizeof(norm),
		    &d);
	}
	if (e != HV_OK) {
		/* The library's sentences never repeat the identifier. */
		rc = cli_usage(a->sub, "%s: %s", what, hv_errmsg(e, &d));
		goto out;
	}
	if ((rc = cli_file_check(a->sub, "the subject key file",
	         a->subject_key)) != 0)
		goto out;
	if (hv_keys_is_public_file(a->subject_key)) {
		rc = cli_usage(a->sub,
		    "%s is a node's public key file; "
		    "--subject-key needs the partnership subject key file.",
		    a->subject_key);
		goto out;
	}
	if ((e = hv_subject_key_load(a->subject_key, &key, &d)) != HV_OK) {
		fprintf(stderr, "haven %s: cannot load the subject key: %s\n",
		    a->sub, hv_errmsg(e, &d));
		rc = e == HV_EIO ? 3 : 1;
		goto out;
	}
	hv_subject_pseudonym(key, norm, out);
	snprintf(a->subject_ref, sizeof(a->subject_ref), "%s", norm);
	hv_subject_key_id(key, a->key_id);
	a->has_key_id = 1;
	*has = 1;
out:
	hv_secret_free(key);
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(line, sizeof(line));
	return rc;
}

int
audit_key_check(const struct audit_args *a, const struct audit_source *src)
{
	char mine[HV_SUBJECT_KEY_ID_HEX_LEN + 1];
	char theirs[HV_SUBJECT_KEY_ID_HEX_LEN + 1];

	if (!a->has_key_id || !src->has_log_key_id ||
	    memcmp(a->key_id, src->log_key_id, sizeof(a->key_id)) == 0)
		return 0;
	hv_hex(a->key_id, sizeof(a->key_id), mine);
	hv_hex(src->log_key_id, sizeof(src->log_key_id), theirs);
	fprintf(stderr,
	    "haven %s: the subject key %s is not the "
	    "partnership's: its id is %s, the log's records use %s; nothing "
	    "can be found about a child with it.\n",
	    a->sub, a->subject_key, mine, theirs);
	return 1;
}

/* ---- text ------------------------------------------------------------ */

/* Length of the UTF-8 sequence starting with byte c (1 for a bad byte). */
static size_t
u8len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/* 1 for characters a terminal must not be handed from a record. */
static int
unsafe(const unsigned char *p, size_t n)
{
	if (n == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	if (n == 2)
		return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
	if (n == 3 && p[0] == 0xe2 && p[1] == 0x80)
		return p[2] == 0x8e || p[2] == 0x8f ||
		    (p[2] >= 0xa8 && p[2] <= 0xae);
	if (n == 3 && p[0] == 0xe2 && p[1] == 0x81)
		return p[2] >= 0xa6 && p[2] <= 0xa9;
	return 0;
}

/* Length of the UTF-8 sequence at p, never past a NUL. */
static size_t
seqlen(const unsigned char *p)
{
	size_t n = u8len(*p);

	for (size_t i = 1; i < n; i++)
		if (p[i] == '\0')
			return i;
	return n;
}

size_t
audit_clean(const char *in, char *out, size_t cap, size_t maxcols)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, cols = 0, total = 0, keep, n;

	if (cap == 0)
		return 0;
	for (const unsigned char *q = p; *q != '\0'; q += seqlen(q))
		total++;
	keep = total;
	if (maxcols > 0 && total > maxcols)
		keep = maxcols > 3 ? maxcols - 3 : 0;
	while (*p != '\0' && cols < keep) {
		n = seqlen(p);
		if (o + n + 4 > cap)
			break;
		if (unsafe(p, n)) {
			out[o++] = ' ';
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		cols++;
		p += n;
	}
	if (*p != '\0' && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
		cols += 3;
	}
	out[o] = '\0';
	return cols;
}

/* The dbi of the audit database called name. */
static MDB_dbi
dbi_named(const hv_auditlog *log, const char *name)
{
	size_t k;

	for (k = 0; k + 1 < HV_AUDITLOG_NDBS; k++)
		if (strcmp(hv_auditlog_dbnames[k], name) == 0)
			break;
	return log->store->dbi[log->base + k];
}

/* ---- verify ---------------------------------------------------------- */

/*
 * The broker key recorded in the store: "broker_sign_public" in meta, or
 * else the broker node of the directory the broker last loaded. The
 * broker's previous keys (prev) come from that directory when its broker
 * key is the recorded one: after the broker's rotation its earlier heads
 * are signed by them. Returns 1 and fills key, prev and a description, or
 * 0 when the store holds neither.
 */
int
audit_stored_broker_key(hv_auditlog *log, MDB_txn *txn, uint8_t key[32],
    struct hv_prev_signs *prev, const char **how)
{
	MDB_dbi meta = dbi_named(log, "meta");
	MDB_val k = { strlen("broker_sign_public"), "broker_sign_public" }, v;
	const struct hv_node *b = NULL;
	hv_directory *dir = NULL;
	int found = 0;

	memset(prev, 0, sizeof(*prev));
	k.mv_size = strlen("directory");
	k.mv_data = "directory";
	if (mdb_get(txn, meta, &k, &v) == 0 &&
	    hv_directory_decode_unverified(v.mv_data, v.mv_size, &dir, NULL) ==
	        HV_OK &&
	    (b = hv_directory_broker(dir)) != NULL && !b->has_keys)
		b = NULL;
	k.mv_size = strlen("broker_sign_public");
	k.mv_data = "broker_sign_public";
	if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 32) {
		memcpy(key, v.mv_data, 32);
		*how = "the broker key recorded in the store";
		found = 1;
		if (b != NULL && memcmp(b->keys.sign, key, 32) == 0)
			*prev = b->prev_sign;
	} else if (b != NULL) {
		memcpy(key, b->keys.sign, 32);
		*prev = b->prev_sign;
		*how = "the broker key of the directory recorded in the store";
		found = 1;
	}
	if (found && prev->n > 0)
		*how = "the broker keys (current and previous) recorded in "
		       "the store";
	hv_directory_destroy(&dir);
	return found;
}

static int
cmd_verify(int argc, char **argv)
{
	struct audit_args a;
	struct hv_errdetail d;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	MDB_stat st;
	uint8_t key[32], root[HV_HASH_LEN];
	struct hv_prev_signs prev;
	char hex[2 * HV_HASH_LEN + 1];
	const char *how = NULL;
	uint64_t size;
	int rc, have_key = 0;
	hv_err e;

	hv_errclear(&d);
	if ((rc = audit_parse("audit verify", argc, argv, AO_DB | AO_BROKER_PUB,
	         0, NULL, &a)) != 0)
		return rc;
	if ((rc = audit_need_db(&a)) >= 0)
		return rc;
	if (a.broker_pub != NULL) {
		if ((rc = audit_broker_pub(a.broker_pub, key, &prev)) != 0)
			return rc;
		have_key = 1;
		how = "the broker key in --broker-pub";
	}
	if ((rc = audit_open(a.db, &s, &log)) != 0)
		return rc;
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK) {
		rc = cli_fail(e, NULL);
		goto out;
	}
	if (!have_key)
		have_key = audit_stored_broker_key(&log, txn, key, &prev, &how);
	e = hv_auditlog_verify_at(&log, txn, have_key ? key : NULL, &prev, &d);
	if (e == HV_ETAMPERED) {
		fprintf(stderr,
		    "audit log TAMPERED: %s\n"
		    "Keep a copy of %s as evidence and tell the partnership "
		    "administrator; records after this point cannot be "
		    "trusted.\n",
		    d.message, a.db);
		rc = 1;
		goto out;
	}
	if (e != HV_OK ||
	    (e = hv_auditlog_tree(&log, txn, &size, root)) != HV_OK ||
	    (e = hv_store_err(mdb_stat(txn, dbi_named(&log, "heads"), &st))) !=
	        HV_OK) {
		fprintf(stderr, "haven audit: cannot read the audit log: %s\n",
		    hv_errmsg(e, &d));
		rc = hv_exit_code(e);
		goto out;
	}
	hv_hex(root, HV_HASH_LEN, hex);
	if (!have_key) {
		printf("audit log chain and tree OK: %" PRIu64 " records, "
		       "%zu signed tree heads, root %s\n",
		    size, (size_t)st.ms_entries, hex);
		fprintf(stderr,
		    "haven audit: the signed tree heads were NOT "
		    "checked: the store records no broker key; pass "
		    "--broker-pub FILE (the broker's .pub file) to check "
		    "them.\n");
		rc = 1;
		goto out;
	}
	printf("audit log OK: %" PRIu64 " records, %zu signed tree heads, "
	       "root %s\n",
	    size, (size_t)st.ms_entries, hex);
	printf(
	    "Every record, its chain link, its leaf and index entries, and "
	    "every signed tree head were checked; the heads' signatures with "
	    "%s.\n",
	    how);
	if (a.broker_pub == NULL)
		printf("For a check independent of this store, pass "
		       "--broker-pub FILE.\n");
	rc = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "haven audit: cannot write the output.\n");
		rc = 3;
	}
	return rc;
}

/* ---- dispatch -------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
} subs[] = {
	{ "query", audit_cmd_query },
	{ "verify", cmd_verify },
	{ "prove", audit_cmd_prove },
	{ "check-proof", audit_cmd_check_proof },
	{ "consistency", audit_cmd_consistency },
	{ "export", audit_cmd_export },
	{ "sar", audit_cmd_sar },
	{ "restore-notice", audit_cmd_restore_notice },
};

int
cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		audit_help(NULL, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		audit_help(NULL, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		if (cli_wants_help(argc - 1, argv + 1)) {
			audit_help(subs[i].name, stdout);
			return 0;
		}
		return subs[i].fn(argc - 1, argv + 1);
	}
	return cli_usage("audit",
	    "'%.80s' is not an audit command; the "
	    "commands are query, verify, prove, check-proof, consistency, "
	    "export and restore-notice.",
	    argv[1]);
}
