/*
 * audit_bench — the audit log at scale (SPEC §16): `haven audit verify` of
 * 10^6 records in under 30 s, and a query by child over 10^6 records in
 * under 50 ms.
 *
 *   audit_bench [RECORDS [QUERIES [SECONDS]]]
 *
 * Writes a broker-style audit store of RECORDS records (default 1000000)
 * over 10000 children (bench/audit_store.h, the generator audit_gen uses)
 * in a fresh folder /tmp/haven-bench-audit-XXXXXX (under $TMPDIR when
 * set). Then runs the real `$HAVEN_BIN/haven audit verify --db ...
 * --broker-pub ...` once, and `haven audit query --db ... --subject-key
 * ... --subject-nhs ... --format json` for QUERIES different children
 * (default 20, stopping early once SECONDS, default 60, have passed). Each
 * is timed as a whole process, fork to reap, so the figure includes
 * start-up, opening the store read-only and writing the output, as an
 * administrator would see it. Verify must exit 0 and print "audit log OK:
 * RECORDS records"; each query must exit 0 and return exactly the child's
 * records, each with the child's pseudonym. The store was just written, so
 * its pages are likely in the page cache: these are warm-cache figures.
 *
 * Removes its folder afterwards unless HAVEN_KEEP_TMP=1. Not run by
 * `make test`; a ~0.9 GB store for 10^6 records.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "audit_store.h"
#include "bench.h"

#define CHILDREN 10000
#define MAX_RECORDS 10000000ul
#define MAX_QUERIES 1000
/* The most one haven process may run before it is killed (SIGALRM). */
#define VERIFY_LIMIT_S 600
#define QUERY_LIMIT_S 10

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: audit_bench [RECORDS [QUERIES [SECONDS]]] "
	    "(RECORDS 1..%lu, QUERIES 1..%d, SECONDS 1..3600)\n",
	    MAX_RECORDS, MAX_QUERIES);
	exit(2);
}

/*
 * Runs `$HAVEN_BIN/haven ARGS...` with stdout into out and stderr into err
 * (both truncated), killed by SIGALRM after limit_s seconds (an alarm
 * survives execve, and haven leaves SIGALRM at its default). Returns its
 * exit status, or -1 when it could not start or ended on a signal; *us is
 * the wall time from fork to reap.
 */
static int
run_haven(char **args, const char *out, const char *err, unsigned limit_s,
    int64_t *us)
{
	const char *bin = getenv("HAVEN_BIN");
	char haven[AUDIT_STORE_PATH];
	int64_t t0;
	pid_t pid;
	int st;

	snprintf(haven, sizeof(haven), "%s/haven",
	    bin != NULL && *bin != '\0' ? bin : "bin");
	args[0] = haven;
	t0 = bench_now_us();
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		close(o);
		close(e);
		alarm(limit_s);
		execv(haven, args);
		fprintf(stderr, "cannot run %s: %s\n", haven, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	*us = bench_now_us() - t0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Prints a file's first lines on stderr (a failed run's stderr). */
static void
show(const char *label, const char *path)
{
	char line[512];
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return;
	for (int i = 0; i < 5 && fgets(line, sizeof(line), fp) != NULL; i++)
		fprintf(stderr, "  %s: %s", label, line);
	fclose(fp);
}

/*
 * Checks a query's JSON output: exactly `want` records, every one with the
 * child's pseudonym and the log's subject key id, and a tree of n. Returns
 * 0, or -1 after one sentence on stderr.
 */
static int
check_query(const char *path, const char *nhs, const char *subject_hex,
    const char *kid_hex, unsigned long want, unsigned long n)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je), *recs, *r;
	size_t i;
	int rc = -1;

	if (doc == NULL) {
		fprintf(stderr,
		    "audit_bench: the query for %s printed no JSON "
		    "(%s, line %d).\n",
		    nhs, je.text, je.line);
		return -1;
	}
	recs = json_object_get(doc, "records");
	if (!json_is_array(recs) || json_array_size(recs) != want ||
	    json_integer_value(json_object_get(doc, "count")) !=
	        (json_int_t)want ||
	    json_integer_value(json_object_get(doc, "tree_size")) !=
	        (json_int_t)n) {
		fprintf(stderr,
		    "audit_bench: the query for %s returned %zu "
		    "records of a tree of %lld; expected %lu of %lu.\n",
		    nhs, json_array_size(recs),
		    (long long)json_integer_value(
		        json_object_get(doc, "tree_size")),
		    want, n);
		goto out;
	}
	json_array_foreach (recs, i, r) {
		const char *s =
		    json_string_value(json_object_get(r, "subject"));
		const char *k =
		    json_string_value(json_object_get(r, "subject_key_id"));

		if (s == NULL || strcmp(s, subject_hex) != 0 || k == NULL ||
		    strcmp(k, kid_hex) != 0) {
			fprintf(stderr,
			    "audit_bench: the query for %s returned "
			    "record %zu with another subject or key id.\n",
			    nhs, i);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* "10^6" for a power of ten, else the number. */
static const char *
records_label(unsigned long n, char *buf, size_t cap)
{
	unsigned long p = 1;
	int k = 0;

	while (p < n && k < 19) {
		p *= 10;
		k++;
	}
	if (p == n && k >= 3)
		snprintf(buf, cap, "10^%d", k);
	else
		snprintf(buf, cap, "%lu", n);
	return buf;
}

int
main(int argc, char **argv)
{
	static int64_t lat[MAX_QUERIES];
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	long queries = argc > 2 ? atol(argv[2]) : 20;
	long secs = argc > 3 ? atol(argv[3]) : 60;
	const char *tmp = getenv("TMPDIR"), *keep = getenv("HAVEN_KEEP_TMP");
	struct audit_store st;
	struct stat sb;
	uint8_t *skey = NULL, kid[HV_SUBJECT_KEY_ID_LEN];
	char dir[512], out[600], err[600], data[AUDIT_STORE_PATH + 16];
	char label[32], value[64], figure[128], kid_hex[32], want_ok[96];
	int64_t t0, gen_us, verify_us = 0, q0, p50, max;
	unsigned long got = 0, per_child_min = 0, per_child_max = 0, active;
	double store_mib = 0;
	long done = 0;
	int rc = 1, status;

	if (argc > 4 || n == 0 || n > MAX_RECORDS || queries < 1 ||
	    queries > MAX_QUERIES || secs < 1 || secs > 3600)
		usage();
	if (sodium_init() < 0) {
		fprintf(stderr, "audit_bench: libsodium did not start.\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/haven-bench-audit-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "audit_bench: cannot make a folder %s: %s\n",
		    dir, strerror(errno));
		return 1;
	}
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	records_label(n, label, sizeof(label));

	/* The store, written as the broker writes it. */
	t0 = bench_now_us();
	if (audit_store_write("audit_bench", dir, n, CHILDREN, &st) != 0)
		goto out;
	gen_us = bench_now_us() - t0;
	snprintf(data, sizeof(data), "%s/data.mdb", st.store);
	if (stat(data, &sb) == 0)
		store_mib = (double)sb.st_blocks * 512 / (1 << 20);
	if (hv_subject_key_load(st.subject_key, &skey, NULL) != HV_OK) {
		fprintf(stderr, "audit_bench: cannot load %s\n",
		    st.subject_key);
		goto out;
	}
	hv_subject_key_id(skey, kid);
	hv_hex(kid, sizeof(kid), kid_hex);

	/* haven audit verify: every record, link, index entry and head. */
	{
		char *args[] = { NULL, "audit", "verify", "--db", st.store,
			"--broker-pub", st.broker_pub, NULL };
		char line[256] = "";
		FILE *fp;

		status = run_haven(args, out, err, VERIFY_LIMIT_S, &verify_us);
		snprintf(want_ok, sizeof(want_ok), "audit log OK: %lu records,",
		    n);
		if ((fp = fopen(out, "r")) != NULL) {
			if (fgets(line, sizeof(line), fp) == NULL)
				line[0] = '\0';
			fclose(fp);
		}
		if (status != 0 ||
		    strncmp(line, want_ok, strlen(want_ok)) != 0) {
			fprintf(stderr,
			    "audit_bench: haven audit verify exited "
			    "%d without \"%s\":\n",
			    status, want_ok);
			show("stdout", out);
			show("stderr", err);
			goto out;
		}
	}

	/*
	 * haven audit query --subject-nhs: QUERIES children spread over those
	 * the log mentions (all of them from 4 x CHILDREN records on).
	 */
	active = n / 4 + (n % 4 != 0);
	if (active > CHILDREN)
		active = CHILDREN;
	q0 = bench_now_us();
	for (done = 0; done < queries &&
	     (done == 0 || bench_now_us() - q0 < (int64_t)secs * 1000000);
	     done++) {
		unsigned long c = ((unsigned long)done * 7919ul + 17) % active;
		unsigned long want = audit_store_count(n, CHILDREN, c);
		char nhs[11], norm[HV_SUBJECT_MAX];
		char subject_hex[2 * HV_PSEUDONYM_LEN + 1];
		uint8_t ps[HV_PSEUDONYM_LEN];
		char *args[] = { NULL, "audit", "query", "--db", st.store,
			"--subject-key", st.subject_key, "--subject-nhs", nhs,
			"--format", "json", NULL };

		audit_store_nhs(c, nhs);
		if (hv_subject_nhs(nhs, norm, sizeof(norm), NULL) != HV_OK)
			goto out;
		hv_subject_pseudonym(skey, norm, ps);
		hv_hex(ps, sizeof(ps), subject_hex);
		status = run_haven(args, out, err, QUERY_LIMIT_S, &lat[done]);
		if (status != 0) {
			fprintf(stderr,
			    "audit_bench: haven audit query for %s "
			    "exited %d:\n",
			    nhs, status);
			show("stderr", err);
			goto out;
		}
		if (check_query(out, nhs, subject_hex, kid_hex, want, n) != 0)
			goto out;
		got += want;
		if (done == 0 || want < per_child_min)
			per_child_min = want;
		if (want > per_child_max)
			per_child_max = want;
	}
	max = 0;
	for (long i = 0; i < done; i++)
		if (lat[i] > max)
			max = lat[i];
	p50 = bench_percentile(lat, (size_t)done, 50);

	printf("Audit at scale: %lu records over %d children, store %.0f MiB "
	       "(written in %.1f s); each figure a whole haven process on a "
	       "read-only snapshot\n\n",
	    n, CHILDREN, store_mib, gen_us / 1e6);
	printf("| operation | runs | p50 | max | records | target |\n");
	printf("|-----------|------|-----|-----|---------|--------|\n");
	printf("| haven audit verify --broker-pub | 1 | %.2f s | %.2f s | "
	       "%lu | < 30 s |\n",
	    verify_us / 1e6, verify_us / 1e6, n);
	printf("| haven audit query --subject-nhs --format json | %ld | "
	       "%.1f ms | %.1f ms | %lu..%lu a child | < 50 ms |\n\n",
	    done, p50 / 1000.0, max / 1000.0, per_child_min, per_child_max);

	snprintf(figure, sizeof(figure),
	    "Audit: haven audit verify, %s "
	    "records",
	    label);
	snprintf(value, sizeof(value), "%.2f s", verify_us / 1e6);
	bench_summary(figure, value,
	    "whole process on a read-only snapshot: "
	    "every record, chain link, leaf, index entry and %lu signed tree "
	    "heads; target < 30 s",
	    (n + 999) / 1000);
	snprintf(figure, sizeof(figure), "Audit: query by child, %s records",
	    label);
	snprintf(value, sizeof(value), "%.1f ms", p50 / 1000.0);
	bench_summary(figure, value,
	    "p50 of %ld children, max %.1f ms; "
	    "haven audit query --subject-nhs --format json, %lu..%lu records "
	    "each; target < 50 ms",
	    done, max / 1000.0, per_child_min, per_child_max);
	bench_figure("audit_records", (double)n);
	bench_figure("audit_verify_s", verify_us / 1e6);
	bench_figure("audit_query_p50_ms", p50 / 1000.0);
	bench_figure("audit_query_max_ms", max / 1000.0);
	bench_figure("audit_query_runs", (double)done);
	bench_figure("audit_query_records", (double)got / (double)done);
	rc = 0;
out:
	hv_secret_free(skey);
	if (keep != NULL && strcmp(keep, "1") == 0)
		fprintf(stderr, "audit_bench: kept %s\n", dir);
	else
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
