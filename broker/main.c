/*
 * haven-broker — the central daemon of a Haven partnership (SPEC §6, §10).
 *
 * main() reads as a checklist: configuration, keys, directory, signals,
 * store, ZAP handler, ROUTER, ready file, loop. Every start-up failure is
 * one sentence on stderr and exit status 1; once serving, bad input gets a
 * code and an audit record and the daemon lives on. The broker never forks.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "broker.h"
#include "hv_config.h"
#include "hv_envelope.h"
#include "hv_keys.h"
#include "hv_log.h"
#include "hv_notify.h"
#include "hv_util.h"
#include "hv_wire.h"

#define CFG(f) offsetof(struct broker_config, f)

static const struct hv_cfg_key config_keys[] = {
	{ "id", HV_CFG_NODE, CFG(id), 1, NULL, 0, 0 },
	{ "key", HV_CFG_PATH, CFG(key), 1, NULL, 0, 0 },
	{ "key_passphrase_file", HV_CFG_PATH, CFG(key_passphrase_file), 0, NULL,
	    0, 0 },
	{ "root_pub", HV_CFG_PATH, CFG(root_pub), 1, NULL, 0, 0 },
	{ "directory", HV_CFG_PATH, CFG(directory), 1, NULL, 0, 0 },
	{ "bind", HV_CFG_ZMQ_ENDPOINT, CFG(bind), 1, NULL, 0, 0 },
	{ "data_dir", HV_CFG_PATH, CFG(data_dir), 1, NULL, 0, 0 },
	{ "max_message_bytes", HV_CFG_U64, CFG(max_message_bytes), 0, "1048576",
	    1, 64u << 20 },
	{ "message_ttl", HV_CFG_U64, CFG(message_ttl), 0, "604800", 1,
	    10ull * 366 * 86400 },
	{ "map_size", HV_CFG_U64, CFG(map_size), 0, "1073741824", 1u << 20,
	    1ull << 40 },
	{ "group_commit", HV_CFG_STRING, CFG(group_commit), 0, "yes", 0, 0 },
	{ "revocation_grace_ms", HV_CFG_U64, CFG(revocation_grace_ms), 0,
	    "1000", 0, 4000 },
	{ "restore_notice", HV_CFG_PATH, CFG(restore_notice), 0, NULL, 0, 0 },
	{ NULL, 0, 0, 0, NULL, 0, 0 },
};

static const char help_text[] =
    "NAME\n"
    "     haven-broker - route signed, encrypted safeguarding messages between\n"
    "     the agencies of a Haven partnership\n"
    "\n"
    "SYNOPSIS\n"
    "     haven-broker --config FILE [--ready-file FILE] [--foreground]\n"
    "                  [--restore-notice FILE]\n"
    "     haven-broker --config FILE --check-config\n"
    "     haven-broker --help\n"
    "\n"
    "DESCRIPTION\n"
    "     The broker is the partnership's central daemon. Agency agents connect\n"
    "     to it over ZeroMQ with CURVE encryption; only nodes of the signed\n"
    "     directory that are not revoked complete the handshake. Every message\n"
    "     is checked in the order of the specification (sender, format,\n"
    "     signature, clock, replay, recipients, agreement, lawful basis, size),\n"
    "     written durably with its audit record, acknowledged with a signed\n"
    "     receipt, and delivered to each recipient when it is connected. The\n"
    "     broker never sees a payload in clear and never logs one. Every event\n"
    "     lands in a tamper-evident audit log (see haven audit).\n"
    "\n"
    "OPTIONS\n"
    "     --config FILE    the INI configuration (section [broker]); required.\n"
    "     --ready-file FILE\n"
    "                      once serving, write {\"pid\": N, \"bind\": ENDPOINT}\n"
    "                      there, naming the port actually bound.\n"
    "     --foreground     log to standard error (default: syslog).\n"
    "     --restore-notice FILE\n"
    "                      the root-signed notice of a store restored from a\n"
    "                      backup (haven audit restore-notice); as the\n"
    "                      restore_notice key, which it overrides.\n"
    "     --check-config   check the configuration, the keys, the directory\n"
    "                      and data_dir (it can be created and written; a\n"
    "                      store there has not seen a newer directory), print\n"
    "                      what is wrong as FILE:LINE: reason, and exit\n"
    "                      without serving. It runs beside a running broker.\n"
    "     -v, --verbose    also log debug lines.\n"
    "     --help           show this text.\n"
    "\n"
    "CONFIGURATION\n"
    "     Relative paths are relative to the configuration file's folder. An\n"
    "     unknown key or a bad value stops start-up with the file and line.\n"
    "\n"
    "     id = NODE                  the broker's node id (required)\n"
    "     key = FILE                 its secret key file, mode 0600 (required)\n"
    "     key_passphrase_file = FILE passphrase for a protected key file\n"
    "     root_pub = FILE            the partnership root's public key\n"
    "                                (required)\n"
    "     directory = FILE           the signed directory (required)\n"
    "     bind = tcp://HOST:PORT     where agents connect; PORT may be *\n"
    "                                (required)\n"
    "     data_dir = DIR             the store: queues and audit log (required)\n"
    "     max_message_bytes = N      largest payload, default 1048576\n"
    "     message_ttl = SECONDS      undelivered messages expire, default\n"
    "                                604800 (7 days)\n"
    "     map_size = BYTES           the store's size limit, default 1073741824.\n"
    "                                New messages get STORAGE_FULL once only a\n"
    "                                reserve is left (15% of the map and 2 KiB\n"
    "                                per queued delivery), so deliveries, acks\n"
    "                                and receipts go on; refusals made while\n"
    "                                full are audited as one count a minute\n"
    "     group_commit = yes|no      share one transaction among messages that\n"
    "                                arrive together, default yes\n"
    "     revocation_grace_ms = N    after a reload revokes a node, drop the\n"
    "                                live sessions this much later (0-4000),\n"
    "                                default 1000, so replies already queued\n"
    "                                for other nodes still leave\n"
    "     restore_notice = FILE      after the store was restored from a\n"
    "                                backup: the notice signed with the root\n"
    "                                key. The broker refuses to start unless\n"
    "                                it matches the store, records RESTORED\n"
    "                                once and serves it to the agents, who\n"
    "                                then accept the shorter log and send\n"
    "                                again what it lost\n"
    "\n"
    "SIGNALS\n"
    "     SIGHUP     reload the directory. An invalid directory, one signed by\n"
    "                another root or one older than the one in force is\n"
    "                refused and the old one kept. A node the new directory\n"
    "                revokes loses its connection within 5 seconds. Every load\n"
    "                and refusal is audited (DIRECTORY_LOADED).\n"
    "     SIGTERM, SIGINT\n"
    "                finish the work in progress and exit 0.\n"
    "\n"
    "FILES\n"
    "     DATA_DIR/data.mdb    queues, seen ids and the audit log (LMDB); read\n"
    "                          it with haven audit --db DATA_DIR; copy it\n"
    "                          while the broker runs with haven backup\n"
    "     DATA_DIR/haven.lock  names the broker using DATA_DIR; a second\n"
    "                          broker on the same folder exits 1\n"
    "\n"
    "EXIT STATUS\n"
    "     0 after SIGTERM or SIGINT, or when --check-config finds no fault;\n"
    "     1 when the broker cannot start (the reason is on standard error);\n"
    "     2 on a usage error.\n";

static void
usage_exit(void)
{
	fprintf(stderr,
	    "usage: haven-broker --config FILE [--ready-file FILE] "
	    "[--foreground] [--check-config]\n"
	    "Try 'haven-broker --help' for more information.\n");
	exit(2);
}

/* One sentence on stderr and exit 1: the broker cannot start. */
static void __attribute__((noreturn))
die(const char *what, hv_err e, const struct hv_errdetail *d)
{
	const char *msg = hv_errmsg(e, d);

	/* Most details already name the file; do not say it twice. */
	if (strstr(msg, what) != NULL)
		fprintf(stderr, "haven-broker: %s\n", msg);
	else
		fprintf(stderr, "haven-broker: %s: %s\n", what, msg);
	exit(1);
}

static void
config_load(struct broker *b)
{
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	if ((e = hv_config_load(b->config_path, "broker", config_keys, &b->cfg,
	         &d)) != HV_OK) {
		fprintf(stderr, "haven-broker: %s\n", hv_errmsg(e, &d));
		exit(1);
	}
	if (strcmp(b->cfg.group_commit, "yes") == 0)
		b->group_commit = 1;
	else if (strcmp(b->cfg.group_commit, "no") == 0)
		b->group_commit = 0;
	else {
		fprintf(stderr,
		    "haven-broker: %s: group_commit is '%s'; write "
		    "yes or no\n",
		    b->config_path, b->cfg.group_commit);
		exit(1);
	}
	b->frame_max = hv_wire_frame_max(b->cfg.max_message_bytes);
	b->envelope_max = hv_wire_envelope_max(b->cfg.max_message_bytes);
	/* The bucket of a max_message_bytes payload; see submit.c. */
	b->ciphertext_max = hv_envelope_padded_len(b->cfg.max_message_bytes) +
	    crypto_aead_xchacha20poly1305_ietf_ABYTES;
}

/* The broker's secret keys and the root's public key. */
static void
keys_load(struct broker *b)
{
	struct hv_errdetail d;
	struct hv_pubkeys root;
	char *pass = NULL, opt[PATH_MAX + 16];
	hv_err e;

	hv_errclear(&d);
	if (b->cfg.key_passphrase_file != NULL &&
	    (e = hv_passphrase_read(b->cfg.key_passphrase_file, &pass, &d)) !=
	        HV_OK)
		die(b->cfg.key_passphrase_file, e, &d);
	snprintf(opt, sizeof(opt), "key in %s", b->config_path);
	if ((e = hv_keys_secret_check(b->cfg.key, opt, &d)) == HV_OK)
		e = hv_keys_load(b->cfg.key, pass, &b->keys, &d);
	hv_secret_free(pass);
	if (e != HV_OK)
		die(b->cfg.key, e, &d);
	if ((e = hv_pubkeys_load(b->cfg.root_pub, &root, &d)) != HV_OK)
		die(b->cfg.root_pub, e, &d);
	memcpy(b->root_sign, root.sign, HV_SIGN_PUBLIC_LEN);
}

static void
directory_load(struct broker *b)
{
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	if ((e = directory_read(b, &b->dir, &b->dir_bytes, &b->dir_len, &d)) !=
	    HV_OK)
		die(b->cfg.directory, e, &d);
}

/* Refuses a directory older than the one the store last put in force. */
static void
directory_check_stored(struct broker *b)
{
	struct hv_errdetail d;
	hv_directory *old = NULL;
	MDB_txn *txn;
	MDB_val k = { strlen("directory"), "directory" }, v;
	hv_err e;

	if (hv_store_begin(b->store, 1, &txn) != HV_OK)
		return;
	if (mdb_get(txn, b->db_audit_meta, &k, &v) == 0 &&
	    hv_directory_load(v.mv_data, v.mv_size, b->root_sign, &old, NULL) ==
	        HV_OK) {
		hv_errclear(&d);
		e = hv_directory_check_newer(old, b->dir, &d);
		if (e == HV_EROLLBACK &&
		    hv_directory_version(b->dir) < hv_directory_version(old))
			hv_errset(&d, e, "version",
			    "%s is directory version "
			    "%llu, older than version %llu that this broker "
			    "last had in force; refusing the rollback: copy in "
			    "the current directory, or build one with a version "
			    "above %llu.",
			    b->cfg.directory,
			    (unsigned long long)hv_directory_version(b->dir),
			    (unsigned long long)hv_directory_version(old),
			    (unsigned long long)hv_directory_version(old));
		hv_directory_destroy(&old);
		mdb_txn_abort(txn);
		if (e != HV_OK)
			die(b->cfg.directory, e, &d);
		return;
	}
	mdb_txn_abort(txn);
}

static void
store_start(struct broker *b)
{
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	if ((e = store_open(b, &d)) != HV_OK)
		die(b->cfg.data_dir, e, &d);
	directory_check_stored(b);
}

/*
 * Every connection, authenticated or not, holds a file descriptor until
 * its handshake ends; a soft limit of 1,024 lets a bare TCP flood shut the
 * broker to new sessions. Raises the soft limit to the hard one (the
 * systemd unit sets LimitNOFILE). Not fatal: the broker can serve with
 * what it has.
 */
static void
nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		hv_log_warn("cannot read the open file limit");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			hv_log_warn("cannot raise the open file limit");
			return;
		}
	}
	hv_log_info("open file limit %llu", (unsigned long long)rl.rlim_cur);
}

/*
 * --check-config: data_dir can be created and written, and, when the store
 * is there, its format is readable and the directory is not older than the
 * one it last put in force; the store is read, never locked or changed.
 */
static void
store_check(struct broker *b)
{
	struct hv_errdetail d;
	char mdb[4200];
	size_t meta = HV_AUDITLOG_NDBS;
	hv_err e;

	hv_errclear(&d);
	if ((e = hv_store_check_dir(b->cfg.data_dir, &d)) != HV_OK)
		die(b->cfg.data_dir, e, &d);
	snprintf(mdb, sizeof(mdb), "%s/data.mdb", b->cfg.data_dir);
	if (access(mdb, F_OK) != 0)
		return;
	for (size_t i = 0; i < HV_AUDITLOG_NDBS; i++)
		if (strcmp(hv_auditlog_dbnames[i], "meta") == 0)
			meta = i;
	e = hv_store_open(b->cfg.data_dir, 0, 1, hv_auditlog_dbnames,
	    HV_AUDITLOG_NDBS, &b->store, &d);
	if (e == HV_ENOTFOUND)
		return; /* no audit log yet: nothing recorded */
	if (e != HV_OK)
		die(b->cfg.data_dir, e, &d);
	if (meta < HV_AUDITLOG_NDBS) {
		b->db_audit_meta = b->store->dbi[meta];
		directory_check_stored(b);
	}
	hv_store_close(&b->store);
}

static void
zmq_start(struct broker *b)
{
	if ((b->zctx = zmq_ctx_new()) == NULL)
		hv_fatal("cannot create a ZeroMQ context");
	/* Fail closed: the handler answers before any client can connect. */
	if (zap_start(b) != 0)
		hv_fatalx("cannot start the ZAP handler: %s",
		    zmq_strerror(errno));
	if (router_bind(b, b->cfg.bind) != 0)
		hv_fatalx("cannot bind %s: %s", b->cfg.bind,
		    zmq_strerror(errno));
}

static void
directory_audit_start(struct broker *b)
{
	char detail[200];

	snprintf(detail, sizeof(detail),
	    "Loaded directory version %llu of "
	    "partnership %s at start-up.",
	    (unsigned long long)hv_directory_version(b->dir),
	    hv_directory_partnership(b->dir));
	audit_directory(b, NULL, detail);
	/* A node revoked while the broker was stopped. */
	deliver_withdraw_revoked(b);
}

static void
ready_file_write(struct broker *b)
{
	json_t *j;
	char *text;
	char status[320];

	snprintf(status, sizeof(status),
	    "serving on %s, directory version "
	    "%llu",
	    b->endpoint, (unsigned long long)hv_directory_version(b->dir));
	hv_log_info("%s", status);
	if (b->ready_file != NULL) {
		j = json_pack("{s:I, s:s}", "pid", (json_int_t)getpid(), "bind",
		    b->endpoint);
		text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (text == NULL ||
		    hv_write_file_atomic(b->ready_file, text, strlen(text),
		        0644) != 0)
			hv_fatal("cannot write the ready file %s",
			    b->ready_file);
		free(text);
	}
	hv_notify_ready(status);
}

static void
shutdown_all(struct broker *b)
{
	int linger = 200;

	hv_notify_stopping();
	/* Refusals counted while the store was full are audited before exit. */
	if (b->store != NULL)
		audit_refusals_flush(b, 1);
	hv_log_limit_flush(&b->zap_log, "refused handshakes", 1);
	hv_log_limit_flush(&b->hs_log, "failed handshakes", 1);
	hv_log_limit_flush(&b->full_log, "refusals while the store is full", 1);
	if (b->router != NULL) {
		zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(b->router);
	}
	if (b->monitor != NULL)
		zmq_close(b->monitor);
	if (b->zap != NULL)
		zmq_close(b->zap);
	if (b->zctx != NULL)
		zmq_ctx_term(b->zctx);
	store_close(b);
	sessions_free(b);
	hv_directory_destroy(&b->dir);
	free(b->dir_bytes);
	hv_keys_destroy(&b->keys);
	hv_config_free(config_keys, &b->cfg);
	if (b->sigfd >= 0)
		close(b->sigfd);
	hv_log_info("stopped");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "restore-notice", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct broker b;
	int ch, check = 0, verbose = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(&b, 0, sizeof(b));
	b.sigfd = -1;
	b.zap_log.interval_ms = BROKER_REFUSAL_LOG_MS;
	b.hs_log.interval_ms = BROKER_REFUSAL_LOG_MS;
	b.full_log.interval_ms = BROKER_REFUSAL_LOG_MS;
	while ((ch = getopt_long(argc, argv, "c:r:fCvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			b.config_path = optarg;
			break;
		case 'r':
			b.ready_file = optarg;
			break;
		case 'f':
			b.foreground = 1;
			break;
		case 'C':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'R':
			b.restore_flag = optarg;
			break;
		case 'h':
			fputs(help_text, stdout);
			return 0;
		default:
			usage_exit();
		}
	}
	if (optind != argc)
		fprintf(stderr,
		    "haven-broker: unexpected argument '%s'; "
		    "options only.\n",
		    argv[optind]);
	else if (b.config_path == NULL)
		fprintf(stderr, "haven-broker: --config FILE is required.\n");
	if (optind != argc || b.config_path == NULL)
		usage_exit();
	if (sodium_init() < 0)
		hv_fatalx("cannot initialise libsodium");
	/* Start-up errors always reach stderr; syslog only once serving. */
	hv_log_init("haven-broker", 0);
	hv_log_verbosity(verbose ? 2 : 1);

	config_load(&b); /* file:line and exit 1 on error */
	keys_load(&b); /* refuses a key file others can read */
	directory_load(&b); /* root signature, our own entry */
	if (check) {
		store_check(&b); /* data_dir usable, no rollback */
		printf("%s: configuration, keys, data_dir and directory "
		       "version %llu are valid\n",
		    b.config_path,
		    (unsigned long long)hv_directory_version(b.dir));
		hv_directory_destroy(&b.dir);
		free(b.dir_bytes);
		hv_keys_destroy(&b.keys);
		hv_config_free(config_keys, &b.cfg);
		return 0;
	}
	nofile_raise(); /* room for a TCP flood */
	/* Signatures are checked on every core (verify.c). */
	b.verify_threads = cores < 1          ? 1 :
	    cores > BROKER_VERIFY_THREADS_MAX ? BROKER_VERIFY_THREADS_MAX :
	                                        (size_t)cores;
	signals_block(&b); /* before ZeroMQ starts its threads */
	store_start(&b); /* refuses a directory rollback */
	restore_start(&b,
	    b.restore_flag ?
	        b.restore_flag :
	        b.cfg.restore_notice); /* before anything is appended */
	zmq_start(&b); /* ZAP first, then the ROUTER */
	directory_audit_start(&b);
	ready_file_write(&b);
	if (!b.foreground)
		hv_log_init("haven-broker", 1);
	loop_run(&b);
	shutdown_all(&b);
	return 0;
}
