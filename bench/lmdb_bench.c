/*
 * lmdb_bench — the disk's ceiling: durable LMDB commits per second, one
 * small put per write transaction (SPEC §11).
 *
 * The store is opened with hv_store_open, so with the daemons' own flags
 * (no MDB_NOSYNC, no MDB_NOMETASYNC): each commit returns only after
 * LMDB's fsync. Every hop of a message that is not batched pays at least
 * one such commit, so this bounds any path that commits once per message.
 * The store lives in a fresh folder under $TMPDIR (else /tmp), the same
 * file system the other benches' daemons use, and is removed afterwards.
 *
 *   lmdb_bench [SECONDS [LABEL]]   (default 3; at most 20000 commits)
 * LABEL names the run in the summary row (bench/run measures the disk
 * before and after the daemons' benches, since a shared disk varies).
 * Not run by `make test`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "bench.h"
#include "hv_store.h"

#define MAX_COMMITS 20000
#define VALUE_LEN 64
/*
 * The group-commit figure: durable commits of BATCH puts of about one
 * envelope each (a 1 KiB payload sealed and signed is about 1.4 KiB).
 * BATCH is what broker_bench keeps in flight (2 clients x window 64), so
 * the most one broker commit can hold in that run; keys are reused so the
 * map stays small.
 */
#define BATCH 128
#define ENVELOPE_LEN 1400
#define BATCH_KEYS 8192

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "lmdb_bench: %s\n", what);
	exit(1);
}

int
main(int argc, char **argv)
{
	static const char *const dbs[] = { "bench" };
	static int64_t lat[MAX_COMMITS];
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	const char *label = argc > 2 ? argv[2] : NULL;
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600], value[VALUE_LEN], value2[64], figure[128];
	hv_store *s = NULL;
	int64_t t0, t1, budget;
	long n;

	if (secs <= 0 || secs > 60)
		die("usage: lmdb_bench [SECONDS [LABEL]]");
	budget = (int64_t)(secs * 1e6);
	snprintf(dir, sizeof(dir), "%s/haven-lmdb-bench-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("cannot make a temporary folder");
	if (hv_store_open(dir, 64u << 20, 0, dbs, 1, &s, NULL) != HV_OK)
		die("cannot open the store");
	memset(value, 'v', sizeof(value));

	t0 = bench_now_us();
	for (n = 0, t1 = t0; n < MAX_COMMITS && t1 - t0 < budget; n++) {
		uint8_t key[8];
		MDB_val k = { sizeof(key), key }, v = { sizeof(value), value };
		MDB_txn *txn;
		int64_t a = t1;

		hv_be64_put(key, (uint64_t)n);
		if (hv_store_begin(s, 0, &txn) != HV_OK)
			die("cannot begin a transaction");
		if (mdb_put(txn, s->dbi[0], &k, &v, 0) != 0) {
			mdb_txn_abort(txn);
			die("mdb_put failed");
		}
		if (hv_store_commit(txn) != HV_OK)
			die("commit failed");
		t1 = bench_now_us();
		lat[n] = t1 - a;
	}

	/* Group commit: BATCH envelope-sized puts per durable commit. */
	{
		static char env[ENVELOPE_LEN];
		int64_t b0 = bench_now_us(), b1 = b0;
		long c = 0;

		memset(env, 'e', sizeof(env));
		for (; c < MAX_COMMITS && b1 - b0 < budget; c++) {
			MDB_txn *txn;

			if (hv_store_begin(s, 0, &txn) != HV_OK)
				die("cannot begin a transaction");
			for (int i = 0; i < BATCH; i++) {
				uint8_t key[8];
				MDB_val k = { sizeof(key), key };
				MDB_val v = { sizeof(env), env };

				hv_be64_put(key,
				    (uint64_t)((c * BATCH + i) % BATCH_KEYS) +
				        MAX_COMMITS);
				if (mdb_put(txn, s->dbi[0], &k, &v, 0) != 0) {
					mdb_txn_abort(txn);
					die("mdb_put failed");
				}
			}
			if (hv_store_commit(txn) != HV_OK)
				die("commit failed");
			b1 = bench_now_us();
		}
		printf("LMDB: group commit, %d puts of %d bytes per durable "
		       "commit: %ld commits in %.2f s, %.0f puts/s\n",
		    BATCH, ENVELOPE_LEN, c, (b1 - b0) / 1e6,
		    c * BATCH / ((b1 - b0) / 1e6));
		bench_figure("lmdb_group_rate", c * BATCH / ((b1 - b0) / 1e6));
		snprintf(value2, sizeof(value2), "%.0f /s",
		    c * BATCH / ((b1 - b0) / 1e6));
		snprintf(figure, sizeof(figure),
		    "LMDB: group commit, puts/s "
		    "(%d x %d B per commit)%s%s",
		    BATCH, ENVELOPE_LEN, label ? ", " : "", label ? label : "");
		bench_summary(figure, value2,
		    "%ld durable commits of %d "
		    "envelope-sized puts; %.2f ms each",
		    c, BATCH, (b1 - b0) / 1000.0 / (c > 0 ? c : 1));
	}
	hv_store_close(&s);

	{
		double rate = n / ((t1 - t0) / 1e6);
		int64_t p50 = bench_percentile(lat, (size_t)n, 50);
		int64_t p99 = bench_percentile(lat, (size_t)n, 99);

		printf("LMDB: durable commits, one %d-byte put each, one "
		       "thread\n\n",
		    VALUE_LEN);
		printf("| commits | seconds | commits/s | p50 ms | p99 ms |\n");
		printf("|---------|---------|-----------|--------|--------|\n");
		printf("| %7ld | %7.2f | %9.0f | %6.2f | %6.2f |\n\n", n,
		    (t1 - t0) / 1e6, rate, p50 / 1000.0, p99 / 1000.0);
		snprintf(value2, sizeof(value2), "%.0f /s", rate);
		bench_figure("lmdb_commit_rate", rate);
		snprintf(figure, sizeof(figure),
		    "LMDB: durable commits (one "
		    "put each)%s%s",
		    label ? ", " : "", label ? label : "");
		bench_summary(figure, value2,
		    "commit p50 %.2f ms, p99 %.2f ms (fsync)", p50 / 1000.0,
		    p99 / 1000.0);
	}

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/haven.lock", dir);
	unlink(path);
	if (rmdir(dir) != 0)
		fprintf(stderr, "lmdb_bench: cannot remove %s\n", dir);
	return 0;
}
