/*
 * haven audit — what the audit subcommands share: their options, opening
 * the broker's store read-only, the broker key for tree heads, and making
 * record text safe to show on a terminal.
 *
 *   cli/audit.c        dispatch, options, verify
 *   cli/audit_query.c  query and export (table, JSON, CSV)
 *   cli/audit_proof.c  prove, consistency, check-proof
 *   cli/audit_remote.c the same questions asked of the broker (--broker)
 *   cli/audit_help.c   the manual pages
 *
 * Nothing here ever writes to the store, prints an NHS number, or prints
 * record text unsanitised to a terminal.
 */
#ifndef HV_CLI_AUDIT_H
#define HV_CLI_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hv_auditlog.h"
#include "hv_keys.h"
#include "hv_store.h"

struct hv_proof;
struct audit_source;

/* Options, one bit each, so that each subcommand names what it accepts. */
enum {
	AO_DB = 1u << 0,
	AO_BROKER = 1u << 1,
	AO_KEY = 1u << 2,
	AO_DIRECTORY = 1u << 3,
	AO_BROKER_PUB = 1u << 4,
	AO_SUBJECT_NHS = 1u << 5,
	AO_SUBJECT_KEY = 1u << 6,
	AO_SUBJECT = 1u << 7,
	AO_SUBJECT_LOCAL = 1u << 8,
	AO_MESSAGE = 1u << 9,
	AO_SENDER = 1u << 10,
	AO_RECIPIENT = 1u << 11,
	AO_ROLE = 1u << 12,
	AO_EVENT = 1u << 13,
	AO_TYPE = 1u << 14,
	AO_SINCE = 1u << 15,
	AO_UNTIL = 1u << 16,
	AO_LIMIT = 1u << 17,
	AO_FORMAT = 1u << 18,
	AO_FROM = 1u << 19,
	AO_TO = 1u << 20,
	AO_PASSPHRASE_FILE = 1u << 21,
	AO_ROOT_PUB = 1u << 22,
	AO_TIMEOUT = 1u << 23,
	AO_OUTPUT = 1u << 24,
};

/* The three options that make a remote query, and all it accepts. */
#define AO_REMOTE (AO_BROKER | AO_KEY | AO_DIRECTORY)
#define AO_REMOTE_OPTS \
	(AO_REMOTE | AO_PASSPHRASE_FILE | AO_ROOT_PUB | AO_TIMEOUT)

/* audit_need_db's answer for a remote query. */
#define AUDIT_REMOTE (-2)

enum audit_format { AF_TABLE, AF_JSON, AF_CSV, AF_HTML, AF_TEXT };

/* A subcommand's parsed and checked options. */
struct audit_args {
	const char *sub; /* "query", "verify", ... */
	unsigned seen; /* AO_* given */
	const char *db, *broker, *key, *directory, *broker_pub;
	const char *passphrase_file, *root_pub;
	int timeout_ms; /* --timeout, 0 when not given */
	const char *subject_nhs, *subject_key, *subject_hex, *subject_local;
	int has_key_id; /* set by audit_subject from --subject-key */
	uint8_t key_id[8];
	char subject_ref[168]; /* the normalised identifier; wiped */
	const char *output; /* --output FILE */
	const char *sender, *recipient, *role;
	char event[24], type[40];
	uint8_t message[16];
	int64_t since_ms, until_ms;
	size_t limit;
	enum audit_format format;
	uint64_t from, to;
	int npos;
	const char *pos[2];
	hv_keys *ig; /* --key, to open justifications */
};

/*
 * Parses argv (argv[0] is the subcommand) allowing only the options in
 * `allowed` and exactly npos positional arguments, each named in
 * pos_names. Checks every value (ids, events, types, times, sizes) and
 * quotes a bad one. Returns 0, or 2 after a usage message.
 */
int audit_parse(const char *sub, int argc, char **argv, unsigned allowed,
    int npos, const char *const *pos_names, struct audit_args *a);

/*
 * Handles --db / --broker: returns -1 when the caller should go on with
 * --db, AUDIT_REMOTE when it should ask the broker (--broker, --key and
 * --directory all given), else 2 after a usage message (neither, both, or
 * a remote option without the others). --key (and --passphrase-file) may
 * go with --db too: there it only opens justifications. On -1, a->ig
 * holds the loaded --key (or NULL without one); a remote query loads it
 * when it connects. Free it with audit_args_free.
 */
int audit_need_db(struct audit_args *a);

/* Frees what audit_need_db loaded; safe to call twice. */
void audit_args_free(struct audit_args *a);

/*
 * The justification of r as haven audit shows it (SPEC §4.2, §9): "" when
 * the record has none; opened with a->ig when that is the key of an ig.*
 * node it was sealed to; else "(sealed)". Returns buf (cap at least
 * HV_JUSTIFICATION_MAX + 1) or a constant. *opened (may be NULL) is 1 when
 * the text was opened.
 */
const char *audit_justification(const struct audit_args *a,
    const struct hv_audit_rec *r, char *buf, size_t cap, int *opened);

/*
 * Opens the broker's data_dir read-only with the audit databases at base 0.
 * Returns 0, or the exit status after one sentence on stderr.
 */
int audit_open(const char *db, hv_store **s, hv_auditlog *log);

/*
 * The pseudonym the filter asks for (--subject, or --subject-nhs /
 * --subject-local with --subject-key). Returns 0 with *has set (0 when no
 * subject was asked for), or the exit status after a message. Never prints
 * the identifier.
 */
int audit_subject(struct audit_args *a, int *has, uint8_t out[32]);

/*
 * SPEC §15: when a's --subject-key is not the key the log's records were
 * made with (src's log_key_id), says so in one sentence and returns 1;
 * else 0. A log none of whose records carries a key id passes.
 */
int audit_key_check(const struct audit_args *a, const struct audit_source *src);

/*
 * Loads the Ed25519 key of a .pub file and, into prev, the earlier keys it
 * lists with their ends. Returns 0 or the exit status.
 */
int audit_broker_pub(const char *path, uint8_t out[32],
    struct hv_prev_signs *prev);

/*
 * Copies UTF-8 text into out[cap] for a terminal: control characters,
 * C1 controls and bidirectional overrides become spaces, and text wider
 * than maxcols code points (0: no limit) is cut with "...". Returns the
 * width in code points of what was written.
 */
size_t audit_clean(const char *in, char *out, size_t cap, size_t maxcols);

/* ---- printing records (audit_query.c) -------------------------------- */

/* Where the records of a query come from: a store snapshot, or an answer
 * of the broker. */
struct audit_source {
	/* Calls fn for each record matching f, in sequence order. */
	hv_err (*each)(void *src, const struct hv_audit_filter *f,
	    hv_audit_query_fn fn, void *ctx);
	void *src;
	uint64_t size; /* the log's size and root */
	uint8_t root[32];
	int truncated; /* the broker sent only some */
	const char *note; /* a last line for the table, or NULL */
	uint64_t head_size; /* the signed tree head checked against */
	uint8_t head_root[32];
	int64_t head_time_ms;
	const char *checked; /* how it was checked, a sentence */
	int has_log_key_id; /* the log's subject-key id (SPEC §15) */
	uint8_t log_key_id[8];
};

/*
 * Writes the records of src matching f in a's format (table, JSON, CSV;
 * period 1 for an export, whose document names its period). Returns 0 or
 * the exit status after one sentence.
 */
int audit_print(const struct audit_args *a, const struct hv_audit_filter *f,
    int period, const struct audit_source *src);

/*
 * Writes a proof's JSON to stdout, with the record's justification beside
 * it (opened with a->ig, else "(sealed)"). Returns 0 or the exit status.
 */
int audit_print_proof(const struct audit_args *a, const struct hv_proof *p);

/* ---- remote queries (audit_remote.c) -------------------------------- */

/* query, prove and consistency against the broker named by a. Each
 * returns its exit status. */
int audit_remote_query(struct audit_args *a, const struct hv_audit_filter *f);
int audit_remote_prove(struct audit_args *a, const uint8_t id[16]);
int audit_remote_consistency(struct audit_args *a);

/*
 * The broker key recorded in a store (see cli/audit.c). Returns 1 with key,
 * prev and a description of where it came from, or 0.
 */
int audit_stored_broker_key(hv_auditlog *log, MDB_txn *txn, uint8_t key[32],
    struct hv_prev_signs *prev, const char **how);

/* ---- subject access reports (audit_sar.c) --------------------------- */

/*
 * Writes the subject access report of the records in src matching f to
 * a->output, in a's format (html or json). Returns 0 or the exit status.
 */
int audit_sar_write(const struct audit_args *a, const struct hv_audit_filter *f,
    const struct audit_source *src);

/* Subcommands: argv[0] is the subcommand; each returns its exit status. */
int audit_cmd_query(int argc, char **argv);
int audit_cmd_export(int argc, char **argv);
int audit_cmd_prove(int argc, char **argv);
int audit_cmd_consistency(int argc, char **argv);
int audit_cmd_check_proof(int argc, char **argv);
int audit_cmd_sar(int argc, char **argv);
int audit_cmd_restore_notice(int argc, char **argv);

/* The manual page of `haven audit` (sub NULL) or of a subcommand. */
void audit_help(const char *sub, FILE *fp);

#endif
