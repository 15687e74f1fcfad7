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

static void __attribute__((noreturn))
die(const char *what)
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
	hv_store_close(&s);

	{
		double rate = n / ((t1 - t0) / 1e6);
		int64_t p50 = bench_percentile(lat, (size_t)n, 50);
		int64_t p99 = bench_percentile(lat, (size_t)n, 99);

		printf("LMDB: durable commits, one %d-byte put each, one "
		    "thread\n\n", VALUE_LEN);
		printf("| commits | seconds | commits/s | p50 ms | p99 ms |\n");
		printf("|---------|---------|-----------|--------|--------|\n");
		printf("| %7ld | %7.2f | %9.0f | %6.2f | %6.2f |\n\n", n,
		    (t1 - t0) / 1e6, rate, p50 / 1000.0, p99 / 1000.0);
		snprintf(value2, sizeof(value2), "%.0f /s", rate);
		snprintf(figure, sizeof(figure), "LMDB: durable commits (one "
		    "put each)%s%s", label ? ", " : "", label ? label : "");
		bench_summary(figure, value2,
		    "commit p50 %.2f ms, p99 %.2f ms (fsync)", p50 / 1000.0,
		    p99 / 1000.0);
	}

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	if (rmdir(dir) != 0)
		fprintf(stderr, "lmdb_bench: cannot remove %s\n", dir);
	return 0;
}
