/*
 * The CLI's connection to the broker (`haven audit … --broker`, `haven
 * health --broker`): the node's key, the partnership's directory (which
 * names the broker's CURVE and signing keys), and one lib/hv_client.
 *
 * The broker is trusted only as the directory names it: the transport is
 * pinned to its CURVE key, and callers check every signed tree head it
 * sends with its signing key. With --root-pub the directory's own
 * signature is checked first; without it the file is taken as it is and
 * the command says so on standard error.
 *
 * Every function prints its own one-sentence error to stderr and returns
 * the SPEC §8 exit status (1 refused, 2 usage, 3 unreachable or I/O).
 */
#ifndef HV_CLI_REMOTE_H
#define HV_CLI_REMOTE_H

#include <stdint.h>

#include "haven.pb-c.h"
#include "hv_client.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_keys.h"

#define REMOTE_TIMEOUT_MS 10000 /* default bound on a request */
#define REMOTE_FRAME_MAX (64u << 20) /* largest answer accepted */

/* Where to connect and as whom; NULL members are absent options. */
struct remote_opts {
	const char *endpoint; /* --broker */
	const char *key; /* --key */
	const char *passphrase_file; /* --passphrase-file */
	const char *directory; /* --directory */
	const char *root_pub; /* --root-pub */
	int timeout_ms; /* 0: REMOTE_TIMEOUT_MS */
};

struct remote {
	const char *cmd; /* "audit query", "health" */
	hv_client *client;
	hv_directory *dir;
	int dir_verified; /* the root's signature was checked */
	char node[HV_NODE_MAX + 1]; /* the node the key belongs to */
	char broker_id[HV_NODE_MAX + 1];
	uint8_t broker_sign[HV_SIGN_PUBLIC_LEN];
	int timeout_ms;
};

/*
 * Loads a node's secret key file (with its passphrase file when given),
 * refusing one readable by others. Returns 0 with *k set (free with
 * hv_keys_destroy), or the exit status after one sentence.
 */
int remote_load_key(const char *cmd, const char *key,
    const char *passphrase_file, hv_keys **k);

/*
 * Loads the directory (verified with --root-pub when given), the key (with
 * its passphrase file when given), finds the key's node in the directory
 * and connects to the broker. Returns 0 with r filled (free with
 * remote_close), or the exit status after one sentence.
 */
int remote_open(const char *cmd, const struct remote_opts *o, struct remote *r);

/*
 * Sends req and waits for the answer. Returns 0 with *reply set (freed
 * with hv_frame_free) when the broker answered with a frame of kind
 * `want`; prints the broker's sentence and returns the exit status of its
 * code when it answered with an Error; 3 when it did not answer in time.
 */
int remote_ask(struct remote *r, const Haven__Frame *req,
    Haven__Frame__KindCase want, Haven__Frame **reply);

/*
 * Checks a signed tree head from the broker with the broker's signing key
 * from the directory. Returns 0, or 1 after a sentence saying the answer
 * is refused.
 */
int remote_check_head(const struct remote *r, const Haven__SignedTreeHead *h);

/* Closes the connection and frees what remote_open made; accepts a
 * zeroed r. */
void remote_close(struct remote *r);

/* ---- haven health --broker (cli/health.c) ----------------------------- */

/* 1 when argv asks the broker (--broker given) rather than the agent. */
int health_wants_broker(int argc, char **argv);

/* haven health --broker …: argv[0] is "health". Returns the exit status. */
int cmd_health_broker(int argc, char **argv);

/* The --help page of haven health, both forms, on stdout. */
void health_help(void);

/* Parses a --timeout value (seconds, 1-3600) into milliseconds; -1 when
 * it is not one. */
int remote_timeout(const char *s);

#endif
