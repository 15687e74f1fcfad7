/*
 * haven backup — a consistent, compact copy of a broker's or an agent's
 * store while the daemon runs (SPEC §13). The copy is LMDB's, from one read
 * transaction (hv_store_backup); restoring is stopping the daemon, putting
 * the copy in place of DATA_DIR and starting it again.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hv_store.h"

static const char help_text[] =
    "usage: haven backup --db DATA_DIR --out DEST\n"
    "\n"
    "Copies the store in DATA_DIR (a broker's or an agent's data_dir) into\n"
    "the new folder DEST, consistently and compactly, while the daemon keeps\n"
    "running: the copy is the store as of one moment, with free pages left\n"
    "out. DEST is created mode 0700 (its data.mdb 0600) and must not exist or\n"
    "be an empty folder; a backup never overwrites.\n"
    "\n"
    "A broker's copy verifies with 'haven audit verify --db DEST'. To restore,\n"
    "stop the daemon, move DATA_DIR aside, put DEST in its place and start\n"
    "the daemon again (see the README).\n"
    "\n"
    "Exit status: 0 copied, 1 DEST not empty or a store of a newer release,\n"
    "2 usage error, 3 I/O error or no store in DATA_DIR.\n";

int
cmd_backup(int argc, char **argv)
{
	const char *db = NULL, *out = NULL;
	struct hv_errdetail d;
	hv_err e;
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(help_text, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--db", &db)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "--out", &out)) != 0) {
			if (r < 0)
				return cli_usage("backup", "%s needs a value",
				    argv[i]);
			continue;
		}
		return cli_usage("backup", "unknown option '%s'", argv[i]);
	}
	if (db == NULL || out == NULL)
		return cli_usage("backup", "give --db DATA_DIR and --out DEST");
	hv_errclear(&d);
	if ((e = hv_store_backup(db, out, &d)) != HV_OK) {
		cli_fail(e, &d);
		/* No store in DATA_DIR is an I/O matter, not a refusal. */
		return e == HV_ENOTFOUND ? 3 : hv_exit_code(e);
	}
	printf("backed up %s to %s\n", db, out);
	return 0;
}
