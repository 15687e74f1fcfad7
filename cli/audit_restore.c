/*
 * haven audit restore-notice — the root-signed notice that a broker's
 * store was restored from a backup (SPEC §13).
 *
 * Reads the restored store read-only, verifies it whole first (a notice
 * vouches for the log it names, so it is never signed over a log that does
 * not verify), takes the partnership from the directory recorded in the
 * store (checked with the root key given, so a notice is never signed for
 * another partnership's store), and writes the notice hv_restore_sign
 * makes. The reason is administrator text: it must never hold child data.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "hv_directory.h"
#include "hv_keys.h"
#include "hv_restore.h"
#include "hv_util.h"

struct rn_args {
	const char *db, *root_key, *passphrase_file, *reason, *out;
};

static int
rn_parse(int argc, char **argv, struct rn_args *a)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "root-key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "reason", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = "audit restore-notice";
	int ch;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			a->db = optarg;
			break;
		case 'k':
			a->root_key = optarg;
			break;
		case 'p':
			a->passphrase_file = optarg;
			break;
		case 'r':
			a->reason = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case ':':
			return cli_usage(sub, "%s needs a value.",
			    argv[optind - 1]);
		default:
			return cli_usage(sub,
			    "'%.80s' is not an option of "
			    "this command.",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage(sub,
		    "'%.80s' is not an option of this "
		    "command.",
		    argv[optind]);
	if (a->db == NULL || a->root_key == NULL || a->reason == NULL ||
	    a->out == NULL)
		return cli_usage(sub,
		    "--db, --root-key, --reason and -o are "
		    "all required.");
	return 0;
}

/*
 * The directory recorded in the store, verified with root_sign. Returns 0
 * and *dir, or the exit status after one sentence.
 */
static int
stored_directory(hv_auditlog *log, MDB_txn *txn, const char *db,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], hv_directory **dir)
{
	MDB_dbi meta = log->store->dbi[log->base + HV_AUDITLOG_NDBS - 1];
	MDB_val k = { strlen("directory"), "directory" }, v;
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	if (mdb_get(txn, meta, &k, &v) != 0) {
		fprintf(stderr,
		    "haven audit restore-notice: %s records no "
		    "directory: it is not a broker store that has served.\n",
		    db);
		return 1;
	}
	e = hv_directory_load(v.mv_data, v.mv_size, root_sign, dir, &d);
	if (e == HV_EBADSIG || e == HV_EBADDIRECTORY) {
		fprintf(stderr,
		    "haven audit restore-notice: the directory "
		    "recorded in %s is not signed by the root key given in "
		    "--root-key: use this partnership's root key.\n",
		    db);
		return 1;
	}
	if (e != HV_OK)
		return cli_fail(e, &d);
	return 0;
}

int
audit_cmd_restore_notice(int argc, char **argv)
{
	struct rn_args a;
	struct hv_errdetail d;
	struct hv_restore_notice n;
	const struct hv_node *bn;
	hv_keys *root = NULL;
	hv_directory *dir = NULL;
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn = NULL;
	char *pass = NULL, hex[2 * HV_HASH_LEN + 1];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;
	hv_err e;

	hv_errclear(&d);
	memset(&n, 0, sizeof(n));
	if ((rc = rn_parse(argc, argv, &a)) != 0)
		return rc;
	if ((e = hv_restore_reason_check(a.reason, &d)) != HV_OK)
		return cli_usage("audit restore-notice", "--reason: %s",
		    d.message);
	if (a.passphrase_file != NULL &&
	    (e = hv_passphrase_read(a.passphrase_file, &pass, &d)) != HV_OK)
		return cli_fail(e, &d);
	if ((e = hv_keys_secret_check(a.root_key, "--root-key", &d)) == HV_OK)
		e = hv_keys_load(a.root_key, pass, &root, &d);
	hv_secret_free(pass);
	if (e != HV_OK)
		return cli_fail(e, &d);
	if ((rc = audit_open(a.db, &s, &log)) != 0)
		goto out;
	if ((e = hv_store_begin(s, 1, &txn)) != HV_OK) {
		rc = cli_fail(e, NULL);
		goto out;
	}
	if ((rc = stored_directory(&log, txn, a.db, root->pub.sign, &dir)) != 0)
		goto out;
	bn = hv_directory_broker(dir);
	/* The broker's previous keys signed the heads before its rotation. */
	e = hv_auditlog_verify_at(&log, txn,
	    bn != NULL && bn->has_keys ? bn->keys.sign : NULL,
	    bn != NULL && bn->has_keys ? &bn->prev_sign : NULL, &d);
	if (e == HV_ETAMPERED) {
		fprintf(stderr,
		    "haven audit restore-notice: the audit log in "
		    "%s does not verify (%s); restore another copy.\n",
		    a.db, d.message);
		rc = 1;
		goto out;
	}
	if (e != HV_OK ||
	    (e = hv_auditlog_tree(&log, txn, &n.size, n.root)) != HV_OK) {
		rc = cli_fail(e, &d);
		goto out;
	}
	snprintf(n.partnership, sizeof(n.partnership), "%s",
	    hv_directory_partnership(dir));
	snprintf(n.reason, sizeof(n.reason), "%s", a.reason);
	n.time_ms = hv_now_ms();
	if ((e = hv_restore_sign(&n, root, &buf, &len, &d)) != HV_OK) {
		rc = cli_fail(e, &d);
		goto out;
	}
	if (hv_write_file_atomic(a.out, buf, len, 0644) != 0) {
		fprintf(stderr,
		    "haven audit restore-notice: cannot write "
		    "%s.\n",
		    a.out);
		rc = 3;
		goto out;
	}
	hv_hex(n.root, HV_HASH_LEN, hex);
	printf("restore notice written to %s: partnership %s, %" PRIu64
	       " records, root %s\n",
	    a.out, n.partnership, n.size, hex);
	printf("Start the broker with restore_notice = %s (or "
	       "--restore-notice %s) before anything else writes to the "
	       "store.\n",
	    a.out, a.out);
	rc = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	hv_store_close(&s);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
	free(buf);
	return rc;
}
