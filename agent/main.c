/*
 * haven-agent: one agency's daemon (SPEC §7, §10).
 *
 * main() reads as a checklist: configuration, keys and token, store,
 * directory, signals, the local API, the broker link, the ready file, the
 * loop. Any failure before the loop is one sentence on stderr and exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_policy.h"
#include "hv_config.h"
#include "hv_log.h"
#include "hv_notify.h"
#include "hv_util.h"

#define CFG(field) offsetof(struct agent_config, field)

static const struct hv_cfg_key agent_keys[] = {
	{ "id", HV_CFG_NODE, CFG(id), 1, NULL, 0, 0 },
	{ "key", HV_CFG_PATH, CFG(key), 1, NULL, 0, 0 },
	{ "key_passphrase_file", HV_CFG_PATH, CFG(key_passphrase_file), 0, NULL,
	    0, 0 },
	{ "root_pub", HV_CFG_PATH, CFG(root_pub), 1, NULL, 0, 0 },
	{ "directory", HV_CFG_PATH, CFG(directory), 1, NULL, 0, 0 },
	{ "broker", HV_CFG_ZMQ_ENDPOINTS, CFG(broker), 1, NULL, 0, 0 },
	{ "data_dir", HV_CFG_PATH, CFG(data_dir), 1, NULL, 0, 0 },
	{ "listen", HV_CFG_LISTEN, CFG(listen), 1, NULL, 0, 0 },
	{ "token_file", HV_CFG_PATH, CFG(token_file), 1, NULL, 0, 0 },
	{ "subject_key", HV_CFG_PATH, CFG(subject_key), 1, NULL, 0, 0 },
	{ "alert_command", HV_CFG_STRING, CFG(alert_command), 0, NULL, 0, 0 },
	{ "escalate_after", HV_CFG_U64, CFG(escalate_after), 0, "900", 1,
	    30 * 86400 },
	{ "max_message_bytes", HV_CFG_U64, CFG(max_message_bytes), 0, "1048576",
	    1024, 64 * 1024 * 1024 },
	{ "map_size", HV_CFG_U64, CFG(map_size), 0, "4294967296",
	    16 * 1024 * 1024, (uint64_t)1 << 40 },
	{ "tree_head_interval", HV_CFG_U64, CFG(tree_head_interval), 0, "10", 1,
	    86400 },
	{ "console_listen", HV_CFG_STRING, CFG(console_listen), 0, NULL, 0, 0 },
	{ "console_cert", HV_CFG_PATH, CFG(console_cert), 0, NULL, 0, 0 },
	{ "console_key", HV_CFG_PATH, CFG(console_key), 0, NULL, 0, 0 },
	{ "console_users", HV_CFG_PATH, CFG(console_users), 0, NULL, 0, 0 },
	{ "console_idle_timeout", HV_CFG_U64, CFG(console_idle_timeout), 0,
	    "900", 1, 12 * 3600 },
	{ "message_ttl", HV_CFG_U64, CFG(message_ttl), 0, "604800", 1,
	    10ull * 366 * 86400 },
	/* 0 days keeps a payload only until the next sweep. */
	{ "retention_days", HV_CFG_U64, CFG(retention_days), 0, "2190", 0,
	    36500 },
	{ "retention_days.", HV_CFG_U64_BY_NAME, CFG(retention_by_type), 0,
	    NULL, 0, 36500 },
	{ "retention_sweep_interval", HV_CFG_U64, CFG(retention_sweep_interval),
	    0, "86400", 1, 7 * 86400 },
	{ NULL, 0, 0, 0, NULL, 0, 0 },
};

static const char usage_text[] =
    "usage: haven-agent --config FILE [--ready-file FILE] [--check-config]\n"
    "                   [--foreground] [-v]\n"
    "       haven-agent --config FILE --forget-tree-head\n";

static const char help_text[] =
    "NAME\n"
    "     haven-agent - an agency's Haven daemon: outbox, inbox and local API\n"
    "\n"
    "SYNOPSIS\n"
    "     haven-agent --config FILE [--ready-file FILE] [--check-config]\n"
    "                 [--foreground] [-v]\n"
    "     haven-agent --config FILE --forget-tree-head\n"
    "\n"
    "DESCRIPTION\n"
    "     haven-agent is run by each agency of a safeguarding partnership (a\n"
    "     police force, a health trust, a school, children's social care). It\n"
    "     keeps an outbox and an inbox on disk, holds a CURVE-secured\n"
    "     connection to the partnership's broker, and serves an HTTP/JSON API\n"
    "     on 127.0.0.1 for the agency's own systems and the haven command.\n"
    "\n"
    "     Messages submitted to the API are checked against the partnership's\n"
    "     information-sharing agreement and lawful-basis rules, encrypted to\n"
    "     each recipient, signed, and committed to the outbox before the API\n"
    "     answers 202; they are sent whenever the broker is reachable.\n"
    "     Received messages are verified against the sender's key from the\n"
    "     directory and stored encrypted; they are decrypted only when read.\n"
    "     The API is described in docs/API.md.\n"
    "\n"
    "     The agent never forks and never logs payloads or child details.\n"
    "\n"
    "OPTIONS\n"
    "     --config FILE      The configuration file (INI, section [agent]).\n"
    "     --ready-file FILE  Once serving, write {\"pid\": N, \"listen\":\n"
    "                        \"127.0.0.1:PORT\"} to FILE, naming the port\n"
    "                        actually bound (listen port 0 picks one).\n"
    "     --check-config     Load the configuration, keys, token and\n"
    "                        directory, check that data_dir can be created\n"
    "                        and written and that its store has not seen a\n"
    "                        newer directory, report any error, and exit.\n"
    "     --foreground       Log to standard error; without it the agent logs\n"
    "                        to syslog. It never forks either way.\n"
    "     --forget-tree-head Delete the stored audit tree head and the\n"
    "                        recorded integrity failure, so that the agent\n"
    "                        accepts the broker's current history on its\n"
    "                        next check; then exit. Only for an operator who\n"
    "                        has investigated a TAMPERED alert, with the\n"
    "                        agent stopped.\n"
    "     -v, --verbose      Log debug lines too.\n"
    "     -h, --help         Show this page.\n"
    "\n"
    "CONFIGURATION\n"
    "     Relative paths are relative to the configuration file's folder. An\n"
    "     unknown key or a bad value stops start-up with the file and line.\n"
    "\n"
    "     id = NODE                 This agency's node id, e.g. police.avon.\n"
    "     key = FILE                Its secret key file (mode 0600).\n"
    "     key_passphrase_file = F   Passphrase for a protected key (optional).\n"
    "     root_pub = FILE           The partnership root's public key.\n"
    "     directory = FILE          The signed directory (reloaded on SIGHUP).\n"
    "     broker = tcp://HOST:PORT [tcp://HOST:PORT ...]\n"
    "                               The broker's endpoint, or up to 8 separated\n"
    "                               by spaces (an active/passive pair): the\n"
    "                               agent uses one at a time and moves to the\n"
    "                               next after 3 s without a session, keeping\n"
    "                               its outbox.\n"
    "     data_dir = DIR            Outbox and inbox (created, mode 0700).\n"
    "     listen = 127.0.0.1:PORT   The local API's address (loopback only).\n"
    "     token_file = FILE         The API's bearer token (mode 0600).\n"
    "     subject_key = FILE        The partnership subject key (mode 0600).\n"
    "     alert_command = COMMAND   Run by /bin/sh for each received message\n"
    "                               and escalation, with a JSON summary on\n"
    "                               standard input (no child details); killed\n"
    "                               after 10 seconds; queued in the store and\n"
    "                               retried until it exits 0 (optional).\n"
    "     escalate_after = SECONDS  Escalate an IMMEDIATE message nobody\n"
    "                               acknowledged (default 900).\n"
    "     max_message_bytes = N     Largest payload this agent sends (default\n"
    "                               1048576); it receives up to 64 MiB, or N\n"
    "                               if larger, whatever the broker accepted.\n"
    "     map_size = BYTES          Largest size of the store (default 4 GiB).\n"
    "     tree_head_interval = S    Seconds between checks of the broker's\n"
    "                               audit history (default 10, at least 1).\n"
    "     console_listen = H:PORT   Serve the duty-team console over HTTPS on\n"
    "                               this address (off when unset).\n"
    "     console_cert = FILE       The console's TLS certificate (PEM).\n"
    "     console_key = FILE        Its private key (PEM, mode 0600).\n"
    "     console_users = FILE      Made by haven console-user (mode 0600).\n"
    "     console_idle_timeout = S  A session ends after S idle seconds\n"
    "                               (default 900) and after 12 hours at most.\n"
    "     message_ttl = SECONDS     The broker's message_ttl (default 604800):\n"
    "                               a delivery created longer ago than this\n"
    "                               and 300 s more is refused as stale.\n"
    "     retention_days = N        Erase payloads older than N days, leaving a\n"
    "                               tombstone (default 2190; held ones kept).\n"
    "     retention_days.TYPE = N   The same for one message type.\n"
    "     retention_sweep_interval = S  Seconds between sweeps (default 86400).\n"
    "\n"
    "AUDIT INTEGRITY\n"
    "     Every tree_head_interval seconds, and after each reconnection, the\n"
    "     agent fetches the broker's signed audit tree head and checks it\n"
    "     against the last head it stored: the broker's signature, never a\n"
    "     smaller tree, the same root at the same size, and a consistency\n"
    "     proof for a larger tree. A failure means the broker's history was\n"
    "     rewritten: the agent keeps the old head, logs it, sends an\n"
    "     integrity event, runs alert_command, and shows integrity.ok false\n"
    "     in /v1/health. The failure is kept across restarts until an\n"
    "     operator runs --forget-tree-head. A broker restored from a backup\n"
    "     serves a notice signed by the partnership root: with it, a shorter\n"
    "     log is accepted, integrity shows state \"restored\" (an integrity\n"
    "     event and alert_command too), and the outbox messages the broker\n"
    "     lost are sent again.\n"
    "\n"
    "SIGNALS\n"
    "     SIGHUP             Reload the directory; an invalid, wrongly signed\n"
    "                        or older one is refused and the old one kept.\n"
    "     SIGTERM, SIGINT    Finish in-flight requests, close the store, exit 0.\n"
    "\n"
    "EXIT STATUS\n"
    "     0 after SIGTERM or SIGINT or a good --check-config; 1 when the agent\n"
    "     cannot start (the reason is one sentence on standard error); 2 for\n"
    "     a usage error.\n"
    "\n"
    "SEE ALSO\n"
    "     haven(1), haven-broker(8), docs/API.md, docs/PROTOCOL.md\n";

static void
die(hv_err e, const struct hv_errdetail *d)
{
	hv_fatalx("%s", hv_errmsg(e, d));
}

static int
parse_args(struct agent *a, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(help_text, stdout);
			exit(0);
		} else if (strcmp(s, "--config") == 0 && i + 1 < argc)
			a->config_path = argv[++i];
		else if (strcmp(s, "--ready-file") == 0 && i + 1 < argc)
			a->ready_file = argv[++i];
		else if (strcmp(s, "--check-config") == 0) {
			a->check_only = 1;
			hv_log_verbosity(
			    0); /* the verdict alone, and warnings */
		} else if (strcmp(s, "--forget-tree-head") == 0)
			a->forget_tree_head = 1;
		else if (strcmp(s, "--foreground") == 0)
			a->foreground = 1;
		else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0)
			hv_log_verbosity(2);
		else {
			fprintf(stderr,
			    "haven-agent: unknown or incomplete "
			    "option '%s'.\n%sTry 'haven-agent --help'.\n",
			    s, usage_text);
			return -1;
		}
	}
	if (a->config_path == NULL) {
		fprintf(stderr,
		    "haven-agent: --config FILE is required.\n%s"
		    "Try 'haven-agent --help'.\n",
		    usage_text);
		return -1;
	}
	return 0;
}

/* Refuses a listen address that is not on the loopback interface. */
static void
config_load(struct agent *a)
{
	struct hv_errdetail d;
	char host[64];
	const char *colon;
	struct in_addr in;
	hv_err e;

	hv_errclear(&d);
	a->cfg.retention_by_type.names = hv_message_types;
	if ((e = hv_config_load(a->config_path, "agent", agent_keys, &a->cfg,
	         &d)) != HV_OK)
		die(e, &d);
	colon = strrchr(a->cfg.listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - a->cfg.listen),
	    a->cfg.listen);
	if (inet_pton(AF_INET, host, &in) != 1 ||
	    (ntohl(in.s_addr) >> 24) != 127)
		hv_fatalx("%s: listen = %s is not a loopback address; the "
		          "local API serves 127.0.0.1 only.",
		    a->config_path, a->cfg.listen);
}

/* Loads the node's keys, the bearer token and the subject key. */
static void
keys_load(struct agent *a)
{
	struct hv_errdetail d;
	char *pass = NULL, *token = NULL, opt[PATH_MAX + 16];
	size_t len = 0;
	hv_err e;

	hv_errclear(&d);
	if (a->cfg.key_passphrase_file != NULL &&
	    (e = hv_passphrase_read(a->cfg.key_passphrase_file, &pass, &d)) !=
	        HV_OK)
		die(e, &d);
	snprintf(opt, sizeof(opt), "key in %s", a->config_path);
	if ((e = hv_keys_secret_check(a->cfg.key, opt, &d)) == HV_OK)
		e = hv_keys_load(a->cfg.key, pass, &a->keys, &d);
	hv_secret_free(pass);
	if (e != HV_OK)
		die(e, &d);
	if ((e = hv_secret_file_read(a->cfg.token_file, 4096, &token, &len,
	         &d)) == HV_EIO)
		hv_fatalx("token_file in %s: %s Write the API token there "
		          "(at least 16 characters, mode 0600).",
		    a->config_path, d.message);
	if (e != HV_OK)
		die(e, &d);
	while (len > 0 &&
	    (token[len - 1] == '\n' || token[len - 1] == '\r' ||
	        token[len - 1] == ' ' || token[len - 1] == '\t'))
		token[--len] = '\0';
	if (len < 16) {
		hv_secret_free(token);
		hv_fatalx("%s: the bearer token must be at least 16 "
		          "characters.",
		    a->cfg.token_file);
	}
	crypto_generichash(a->token_hash, sizeof(a->token_hash),
	    (const uint8_t *)token, len, NULL, 0);
	hv_secret_free(token);
	if ((e = hv_subject_key_load(a->cfg.subject_key, &a->subject_key,
	         &d)) != HV_OK)
		die(e, &d);
}

/* The sentence for a key that is not the directory's key for id. */
static hv_err
key_mismatch(struct agent *a, const hv_directory *dir, struct hv_errdetail *d)
{
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);

		if (n->has_keys &&
		    memcmp(n->keys.sign, a->keys->pub.sign,
		        HV_SIGN_PUBLIC_LEN) == 0)
			return hv_errset(d, HV_EBADCONFIG, "key",
			    "%s: key = "
			    "%s is node %s's key in the directory, but id = "
			    "%s; give this agent %s's key file or set id = "
			    "%s.",
			    a->config_path, a->cfg.key, n->id, a->cfg.id,
			    a->cfg.id, n->id);
	}
	return hv_errset(d, HV_EBADCONFIG, "key",
	    "%s: key = %s is not node "
	    "%s's key in the directory %s; use the key file made for %s.",
	    a->config_path, a->cfg.key, a->cfg.id, a->cfg.directory, a->cfg.id);
}

hv_err
agent_directory_load(struct agent *a, struct hv_errdetail *d)
{
	struct hv_pubkeys root;
	hv_directory *next = NULL;
	const struct hv_node *me;
	hv_err e;

	if ((e = hv_pubkeys_load(a->cfg.root_pub, &root, d)) != HV_OK)
		return e;
	if ((e = hv_directory_load_file(a->cfg.directory, root.sign, &next,
	         d)) != HV_OK)
		return e;
	/* Against the store too: a rollback across a restart (SPEC §5). */
	if (a->store != NULL &&
	    (e = store_directory_check(a, next, d)) != HV_OK) {
		hv_directory_destroy(&next);
		return e;
	}
	pthread_rwlock_wrlock(&a->dir_lock);
	if ((e = hv_directory_check_newer(a->dir, next, d)) != HV_OK) {
		pthread_rwlock_unlock(&a->dir_lock);
		hv_directory_destroy(&next);
		return e;
	}
	if (hv_directory_broker(next) == NULL) {
		pthread_rwlock_unlock(&a->dir_lock);
		hv_directory_destroy(&next);
		return hv_errset(d, HV_EBADDIRECTORY, "broker",
		    "%s names no "
		    "broker.",
		    a->cfg.directory);
	}
	me = hv_directory_node(next, a->cfg.id);
	if (me == NULL || !me->has_keys) {
		pthread_rwlock_unlock(&a->dir_lock);
		hv_directory_destroy(&next);
		return hv_errset(d, HV_EBADDIRECTORY, "id",
		    "%s does not "
		    "list this agent's node %s; check id in %s, or ask the "
		    "administrator to add a node line for it.",
		    a->cfg.directory, a->cfg.id, a->config_path);
	}
	/*
	 * At start-up a key that is not this node's is fatal: the broker
	 * would take every frame as another node's (or none), and the
	 * agent would sign envelopes recipients refuse.
	 */
	if (a->dir == NULL &&
	    memcmp(me->keys.sign, a->keys->pub.sign, HV_SIGN_PUBLIC_LEN) != 0) {
		e = key_mismatch(a, next, d);
		pthread_rwlock_unlock(&a->dir_lock);
		hv_directory_destroy(&next);
		return e;
	}
	if (memcmp(me->keys.sign, a->keys->pub.sign, HV_SIGN_PUBLIC_LEN) != 0)
		hv_log_warnx("directory: the signing key of %s differs from "
		             "%s",
		    a->cfg.id, a->cfg.key);
	if (me->revoked)
		hv_log_warnx("directory: this node %s is revoked", a->cfg.id);
	if (a->dir != NULL &&
	    memcmp(a->broker_curve, hv_directory_broker(next)->keys.curve,
	        HV_CURVE_KEY_LEN) != 0)
		hv_log_warnx("directory: the broker's transport key changed; "
		             "restart the agent to connect with the new key");
	memcpy(a->broker_sign, hv_directory_broker(next)->keys.sign,
	    HV_SIGN_PUBLIC_LEN);
	memcpy(a->broker_curve, hv_directory_broker(next)->keys.curve,
	    HV_CURVE_KEY_LEN);
	hv_directory_destroy(&a->dir);
	a->dir = next;
	pthread_rwlock_unlock(&a->dir_lock);
	hv_log_info("directory version %llu loaded",
	    (unsigned long long)hv_directory_version(next));
	if (a->store != NULL && store_directory_record(a, next) != HV_OK)
		hv_log_warnx("directory: cannot record version %llu in the "
		             "store; a restart would accept an older one",
		    (unsigned long long)hv_directory_version(next));
	return HV_OK;
}

/*
 * Blocks the daemon's signals in this thread before any other thread
 * exists, so that every thread inherits the mask and signals arrive only
 * through the signalfd polled by the main loop.
 */
static void
signals_block(struct agent *a)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		hv_fatal("cannot block signals");
	if ((a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		hv_fatal("signalfd");
	if ((a->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		hv_fatal("eventfd");
}

static void
ready_file_write(struct agent *a)
{
	char *text;

	hv_notify_ready(a->listen_addr);
	if (a->ready_file == NULL)
		return;
	if (asprintf(&text, "{\"pid\": %d, \"listen\": \"%s\"%s%s%s}\n",
	        (int)getpid(), a->listen_addr,
	        a->console_addr[0] ? ", \"console\": \"" : "", a->console_addr,
	        a->console_addr[0] ? "\"" : "") < 0)
		hv_fatalx("out of memory");
	if (hv_write_file_atomic(a->ready_file, text, strlen(text), 0644) != 0)
		hv_fatal("cannot write ready file %s", a->ready_file);
	free(text);
}

/* Frees what main set up; accepts a partly started agent. */
static void
agent_free(struct agent *a)
{
	bus_destroy(&a->bus);
	hv_directory_destroy(&a->dir);
	hv_keys_destroy(&a->keys);
	hv_secret_free(a->subject_key);
	a->subject_key = NULL;
	hv_config_free(agent_keys, &a->cfg);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->wakefd >= 0)
		close(a->wakefd);
	a->sigfd = a->wakefd = -1;
	pthread_rwlock_destroy(&a->dir_lock);
	group_commit_destroy(&a->gc);
	free(a->burst.after);
	a->burst.after = NULL;
}

int
main(int argc, char **argv)
{
	struct agent a;
	struct hv_errdetail d;
	hv_err e;

	memset(&a, 0, sizeof(a));
	a.sigfd = a.wakefd = a.listen_fd = -1;
	hv_errclear(&d);
	if (parse_args(&a, argc, argv) != 0)
		return 2;
	/* Start-up errors always reach stderr; syslog only once serving. */
	hv_log_init("haven-agent", 0);
	if (sodium_init() < 0)
		hv_fatalx("libsodium failed to initialise");
	pthread_rwlock_init(&a.dir_lock, NULL);
	bus_init(&a.bus);
	group_commit_init(&a.gc);

	config_load(&a); /* one sentence and exit 1 on error */
	keys_load(&a); /* refuses secret files others can read */
	if ((e = agent_directory_load(&a, &d)) != HV_OK)
		die(e, &d);
	if (a.check_only) {
		/* data_dir usable; a stored directory must not be newer. */
		if ((e = store_check(&a, &d)) != HV_OK)
			die(e, &d);
		printf("%s: configuration is valid (node %s, directory "
		       "version %llu)\n",
		    a.config_path, a.cfg.id,
		    (unsigned long long)hv_directory_version(a.dir));
		fflush(stdout);
		agent_free(&a);
		return 0;
	}
	if (a.forget_tree_head) {
		if ((e = store_open(&a, &d)) != HV_OK ||
		    (e = integrity_forget(&a, &d)) != HV_OK)
			die(e, &d);
		store_close(&a);
		printf("%s: the stored audit tree head and any integrity "
		       "failure are forgotten; the agent will accept the "
		       "broker's current history on its next check\n",
		    a.cfg.id);
		fflush(stdout);
		agent_free(&a);
		return 0;
	}
	signals_block(&a); /* before any thread starts */
	if ((e = store_open(&a, &d)) != HV_OK)
		die(e, &d);
	/* Never older than the directory last in force here (rollback). */
	if ((e = store_directory_check(&a, a.dir, &d)) != HV_OK ||
	    (e = store_directory_record(&a, a.dir)) != HV_OK)
		die(e, &d);
	if ((e = children_migrate(&a, &d)) != HV_OK) /* once per store */
		die(e, &d);
	if ((e = outbox_order_migrate(&a, &d)) != HV_OK) /* once per store */
		die(e, &d);
	hook_init(&a); /* runs queued before a restart */
	if ((e = api_start(&a, &d)) != HV_OK)
		die(e, &d);
	if ((e = console_start(&a, &d)) != HV_OK) /* off unless set */
		die(e, &d);
	if ((e = link_start(&a, &d)) != HV_OK)
		die(e, &d);
	ready_file_write(&a);
	if (!a.foreground)
		hv_log_init("haven-agent", 1);
	hv_log_info("%s serving on %s, broker %s", a.cfg.id, a.listen_addr,
	    a.cfg.broker);

	link_run(&a); /* until SIGTERM or SIGINT */

	hv_log_info("stopping");
	hv_notify_stopping();
	bus_stop(&a.bus);
	api_stop(&a); /* waits for in-flight requests */
	console_stop(&a);
	if (a.gc.batches > 0)
		hv_log_info("%llu submissions committed in %llu transactions",
		    (unsigned long long)a.gc.writes,
		    (unsigned long long)a.gc.batches);
	if (a.burst.bursts > 0)
		hv_log_info("%llu frames from the broker stored in %llu "
		            "transactions",
		    (unsigned long long)a.burst.frames,
		    (unsigned long long)a.burst.bursts);
	hook_stop(&a);
	link_stop(&a);
	store_close(&a);
	agent_free(&a);
	hv_log_info("stopped");
	return 0;
}
