/*
 * Unit tests of hv_store: LMDB environments with named databases, durable
 * commits, read-only opens, the mapping of MDB_* codes to hv_err and
 * big-endian integer keys. Every test has its own mkdtemp folder.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_store.h"
#include "fixture.h"

static char tmp[64];
static char dir[128];

/* Creates an empty file. 0 or -1. */
static int
h_touch(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	return fclose(fp);
}

static const char *const dbs[] = { "messages", "outbox", "meta" };
#define N_DBS (sizeof(dbs) / sizeof(dbs[0]))

static void
setup(void)
{
	fixture_tmpdir(tmp, sizeof(tmp), "store");
	snprintf(dir, sizeof(dir), "%s/data", tmp);
}

static void
teardown(void)
{
	fixture_rmtree(tmp);
}

TestSuite(store, .init = setup, .fini = teardown);

static hv_store *
open_ok(int readonly, uint64_t map_size)
{
	hv_store *s = NULL;
	struct hv_errdetail d;
	hv_err err;

	hv_errclear(&d);
	err = hv_store_open(dir, map_size, readonly, dbs, N_DBS, &s, &d);
	cr_assert_eq(err, HV_OK, "%s: %s", hv_errname(err), d.message);
	cr_assert_not_null(s);
	return s;
}

static void
put(hv_store *s, size_t db, const char *key, const char *value)
{
	MDB_txn *txn;
	MDB_val k = { strlen(key), (void *)key };
	MDB_val v = { strlen(value), (void *)value };

	cr_assert_eq(hv_store_begin(s, 0, &txn), HV_OK);
	cr_assert_eq(mdb_put(txn, s->dbi[db], &k, &v, 0), 0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

/* The value of key in db, or NULL: a copy, since MDB_val dies with txn. */
static char *
get(hv_store *s, size_t db, const char *key)
{
	MDB_txn *txn;
	MDB_val k = { strlen(key), (void *)key }, v;
	char *out = NULL;
	int rc;

	cr_assert_eq(hv_store_begin(s, 1, &txn), HV_OK);
	rc = mdb_get(txn, s->dbi[db], &k, &v);
	cr_assert(rc == 0 || rc == MDB_NOTFOUND, "mdb_get: %s",
	    mdb_strerror(rc));
	if (rc == 0)
		out = strndup(v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return out;
}

static void
assert_value(hv_store *s, size_t db, const char *key, const char *want)
{
	char *got = get(s, db, key);

	cr_assert_not_null(got, "%s missing from %s", key, dbs[db]);
	cr_assert_str_eq(got, want);
	free(got);
}

/* Writes one record to every database, then closes the store. */
static void
seed(void)
{
	hv_store *s = open_ok(0, 0);

	put(s, 0, "m-1", "ciphertext one");
	put(s, 1, "m-1", "queued");
	put(s, 2, "version", "7");
	hv_store_close(&s);
}

/* ---- opening ------------------------------------------------------------ */

Test(store, creates_a_private_folder_with_its_named_databases)
{
	hv_store *s = open_ok(0, 0);
	struct stat st;

	cr_assert_eq(stat(dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(s->n_dbs, N_DBS);
	cr_assert_eq(s->readonly, 0);
	cr_assert_neq(s->dbi[0], s->dbi[1]);
	cr_assert_neq(s->dbi[1], s->dbi[2]);
	cr_assert_neq(s->dbi[0], s->dbi[2]);
	hv_store_close(&s);
	cr_assert_null(s);
}

Test(store, opens_without_nosync_so_a_commit_is_on_disk)
{
	hv_store *s = open_ok(0, 0);
	unsigned int flags = 0;

	cr_assert_eq(mdb_env_get_flags(s->env, &flags), 0);
	cr_assert_eq(flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC), 0,
	    "flags %#x", flags);
	cr_assert_neq(flags & MDB_NOTLS, 0);
	hv_store_close(&s);
}

Test(store, keeps_committed_records_across_a_reopen)
{
	hv_store *s;

	seed();
	s = open_ok(0, 0);
	assert_value(s, 0, "m-1", "ciphertext one");
	assert_value(s, 1, "m-1", "queued");
	assert_value(s, 2, "version", "7");
	hv_store_close(&s);
}

Test(store, keeps_databases_apart)
{
	hv_store *s = open_ok(0, 0);
	char *v;

	put(s, 0, "k", "in messages");
	cr_assert_null(v = get(s, 1, "k"));
	cr_assert_null(v = get(s, 2, "k"));
	assert_value(s, 0, "k", "in messages");
	hv_store_close(&s);
}

Test(store, forgets_an_aborted_transaction)
{
	hv_store *s = open_ok(0, 0);
	MDB_txn *txn;
	MDB_val k = { 1, "k" }, v = { 1, "v" };

	cr_assert_eq(hv_store_begin(s, 0, &txn), HV_OK);
	cr_assert_eq(mdb_put(txn, s->dbi[0], &k, &v, 0), 0);
	mdb_txn_abort(txn);
	hv_store_close(&s);
	s = open_ok(0, 0);
	cr_assert_null(get(s, 0, "k"));
	hv_store_close(&s);
}

/*
 * Regression: hv_store_open used to abort its read-only set-up transaction,
 * and LMDB closes the database handles opened in an aborted transaction,
 * so every read of a read-only store (haven audit --db) failed.
 */
Test(store, reads_through_the_handles_of_a_read_only_open)
{
	hv_store *s;

	seed();
	s = open_ok(1, 0);
	cr_assert_eq(s->readonly, 1);
	assert_value(s, 0, "m-1", "ciphertext one");
	assert_value(s, 1, "m-1", "queued");
	assert_value(s, 2, "version", "7");
	/* Still usable for a second and third transaction. */
	assert_value(s, 0, "m-1", "ciphertext one");
	hv_store_close(&s);
}

Test(store, walks_a_read_only_database_with_a_cursor)
{
	hv_store *s;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int n = 0;

	seed();
	s = open_ok(1, 0);
	cr_assert_eq(hv_store_begin(s, 1, &txn), HV_OK);
	cr_assert_eq(mdb_cursor_open(txn, s->dbi[0], &cur), 0);
	while (n < 10 && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
		n++;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	cr_assert_eq(n, 1);
	hv_store_close(&s);
}

Test(store, refuses_to_write_through_a_read_only_open)
{
	hv_store *s;
	MDB_txn *txn = NULL;

	seed();
	s = open_ok(1, 0);
	cr_assert_eq(hv_store_begin(s, 0, &txn), HV_EIO);
	hv_store_close(&s);
}

Test(store, reports_a_database_missing_from_a_read_only_store_as_not_found)
{
	static const char *const more[] = { "messages", "audit" };
	hv_store *s = NULL;
	struct hv_errdetail d;

	seed();
	hv_errclear(&d);
	cr_assert_eq(hv_store_open(dir, 0, 1, more, 2, &s, &d), HV_ENOTFOUND);
	cr_assert_null(s);
	cr_assert_not_null(strstr(d.message, "'audit'"), "%s", d.message);
	cr_assert_str_eq(d.field, "data_dir");
	fixture_assert_no_leaks();
}

Test(store, creates_a_database_missing_from_a_writable_store)
{
	static const char *const more[] = { "messages", "audit" };
	hv_store *s = NULL;
	struct hv_errdetail d;

	seed();
	cr_assert_eq(hv_store_open(dir, 0, 0, more, 2, &s, &d), HV_OK, "%s",
	    d.message);
	assert_value(s, 0, "m-1", "ciphertext one");
	cr_assert_null(get(s, 1, "m-1"));
	hv_store_close(&s);
}

Test(store, refuses_a_read_only_open_of_a_missing_folder)
{
	hv_store *s = NULL;
	struct hv_errdetail d;

	hv_errclear(&d);
	cr_assert_eq(hv_store_open(dir, 0, 1, dbs, N_DBS, &s, &d), HV_EIO);
	cr_assert_null(s);
	cr_assert_not_null(strstr(d.message, dir), "%s", d.message);
	cr_assert_eq(access(dir, F_OK), -1, "a read-only open made %s", dir);
	fixture_assert_no_leaks();
}

Test(store, creates_missing_parent_folders_privately)
{
	hv_store *s = NULL;
	struct hv_errdetail d;
	char deep[256], parent[160];
	struct stat st;

	snprintf(parent, sizeof(parent), "%s/data/agents", tmp);
	snprintf(deep, sizeof(deep), "%s/police.avon", parent);
	cr_assert_eq(hv_store_open(deep, 0, 0, dbs, N_DBS, &s, &d), HV_OK, "%s",
	    d.message);
	hv_store_close(&s);
	cr_assert_eq(stat(parent, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(stat(deep, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
}

Test(store, refuses_a_folder_it_cannot_create)
{
	hv_store *s = NULL;
	struct hv_errdetail d;
	char file[160], deep[256];
	FILE *fp;

	snprintf(file, sizeof(file), "%s/a-file", tmp);
	cr_assert_not_null(fp = fopen(file, "w"));
	fclose(fp);
	snprintf(deep, sizeof(deep), "%s/data", file);
	hv_errclear(&d);
	cr_assert_eq(hv_store_open(deep, 0, 0, dbs, N_DBS, &s, &d), HV_EIO);
	cr_assert_null(s);
	cr_assert_not_null(strstr(d.message, deep), "%s", d.message);
}

Test(store, refuses_more_databases_than_it_can_hold)
{
	const char *names[HV_STORE_MAX_DBS + 1];
	hv_store *s = NULL;

	for (size_t i = 0; i <= HV_STORE_MAX_DBS; i++)
		names[i] = "db";
	cr_assert_eq(hv_store_open(dir, 0, 0, names, HV_STORE_MAX_DBS + 1, &s,
	                 NULL),
	    HV_ESYS);
	cr_assert_null(s);
}

Test(store, opens_as_many_databases_as_it_can_hold)
{
	const char *names[HV_STORE_MAX_DBS];
	char text[HV_STORE_MAX_DBS][8];
	hv_store *s = NULL;

	for (size_t i = 0; i < HV_STORE_MAX_DBS; i++) {
		snprintf(text[i], sizeof(text[i]), "db%zu", i);
		names[i] = text[i];
	}
	cr_assert_eq(hv_store_open(dir, 0, 0, names, HV_STORE_MAX_DBS, &s,
	                 NULL),
	    HV_OK);
	hv_store_close(&s);
	cr_assert_eq(hv_store_open(dir, 0, 1, names, HV_STORE_MAX_DBS, &s,
	                 NULL),
	    HV_OK);
	hv_store_close(&s);
}

Test(store, close_accepts_null)
{
	hv_store *s = NULL;

	hv_store_close(&s);
	hv_store_close(NULL);
	cr_assert_null(s);
}

Test(store, close_frees_everything_open_allocated)
{
	hv_store *s;

	seed();
	s = open_ok(1, 0);
	assert_value(s, 0, "m-1", "ciphertext one");
	hv_store_close(&s);
	cr_assert_null(s);
	fixture_assert_no_leaks();
}

/* ---- errors ------------------------------------------------------------- */

Test(store, maps_lmdb_codes_to_haven_codes)
{
	cr_assert_eq(hv_store_err(0), HV_OK);
	cr_assert_eq(hv_store_err(MDB_MAP_FULL), HV_ESTORAGEFULL);
	cr_assert_eq(hv_store_err(MDB_NOTFOUND), HV_ENOTFOUND);
	cr_assert_eq(hv_store_err(ENOMEM), HV_ENOMEM);
	cr_assert_eq(hv_store_err(MDB_CORRUPTED), HV_EIO);
	cr_assert_eq(hv_store_err(MDB_PANIC), HV_EIO);
	cr_assert_eq(hv_store_err(EACCES), HV_EIO);
	cr_assert_eq(hv_store_err(EIO), HV_EIO);
}

Test(store, reports_a_missing_key_as_not_found)
{
	hv_store *s = open_ok(0, 0);
	MDB_txn *txn;
	MDB_val k = { 6, "absent" }, v;

	cr_assert_eq(hv_store_begin(s, 1, &txn), HV_OK);
	cr_assert_eq(hv_store_err(mdb_get(txn, s->dbi[0], &k, &v)),
	    HV_ENOTFOUND);
	mdb_txn_abort(txn);
	hv_store_close(&s);
}

/*
 * A full map is STORAGE_FULL (the broker refuses new messages with it), and
 * what was committed before stays readable.
 */
Test(store, reports_a_full_map_as_storage_full)
{
	hv_store *s = open_ok(0, 64 * 1024);
	static char value[1024];
	uint8_t key[8];
	MDB_txn *txn;
	hv_err err = HV_OK;
	int i;

	put(s, 2, "version", "7");
	memset(value, 'c', sizeof(value));
	for (i = 0; i < 1000 && err == HV_OK; i++) {
		MDB_val k = { sizeof(key), key }, v = { sizeof(value), value };

		hv_be64_put(key, (uint64_t)i);
		cr_assert_eq(hv_store_begin(s, 0, &txn), HV_OK);
		err = hv_store_err(mdb_put(txn, s->dbi[0], &k, &v, 0));
		if (err == HV_OK)
			err = hv_store_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	cr_assert_eq(err, HV_ESTORAGEFULL, "after %d records: %s", i,
	    hv_errname(err));
	/* 64 KiB holds fewer than 64 records of 1 KiB: map_size applied. */
	cr_assert(i > 1 && i < 64, "full after %d records", i);
	assert_value(s, 2, "version", "7");
	hv_store_close(&s);
}

/* ---- big-endian keys ---------------------------------------------------- */

Test(store, writes_integers_big_endian)
{
	uint8_t b[8];
	static const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	hv_be64_put(b, 0x0102030405060708ULL);
	cr_assert_arr_eq(b, want, 8);
	cr_assert_eq(hv_be64_get(want), 0x0102030405060708ULL);
}

Test(store, round_trips_integers_at_every_byte_boundary)
{
	uint8_t b[8];

	for (int shift = 0; shift < 64; shift++) {
		uint64_t v = (uint64_t)1 << shift;

		hv_be64_put(b, v);
		cr_assert_eq(hv_be64_get(b), v);
		hv_be64_put(b, v - 1);
		cr_assert_eq(hv_be64_get(b), v - 1);
	}
	hv_be64_put(b, UINT64_MAX);
	cr_assert_eq(hv_be64_get(b), UINT64_MAX);
}

Test(store, orders_big_endian_keys_as_numbers)
{
	static const uint64_t v[] = {
		0,
		1,
		255,
		256,
		65535,
		65536,
		4294967295ULL,
		4294967296ULL,
		(uint64_t)1 << 63,
		UINT64_MAX - 1,
		UINT64_MAX,
	};
	uint8_t a[8], b[8];
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int c;

			hv_be64_put(a, v[i]);
			hv_be64_put(b, v[j]);
			c = memcmp(a, b, 8);
			cr_assert_eq(c < 0, v[i] < v[j], "%llu vs %llu",
			    (unsigned long long)v[i], (unsigned long long)v[j]);
			cr_assert_eq(c == 0, v[i] == v[j]);
		}
}

Test(store, lists_big_endian_keys_in_numeric_order)
{
	static const uint64_t order[] = { 300, 2, 70000, 1, 256, 255, 0 };
	static const uint64_t sorted[] = { 0, 1, 2, 255, 256, 300, 70000 };
	hv_store *s = open_ok(0, 0);
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v = { 1, "x" };
	uint8_t key[8];
	size_t n = 0;

	cr_assert_eq(hv_store_begin(s, 0, &txn), HV_OK);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		hv_be64_put(key, order[i]);
		k.mv_size = 8;
		k.mv_data = key;
		cr_assert_eq(mdb_put(txn, s->dbi[0], &k, &v, 0), 0);
	}
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	cr_assert_eq(hv_store_begin(s, 1, &txn), HV_OK);
	cr_assert_eq(mdb_cursor_open(txn, s->dbi[0], &cur), 0);
	while (n < 16 && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		cr_assert_eq(k.mv_size, 8);
		cr_assert_lt(n, sizeof(sorted) / sizeof(sorted[0]));
		cr_assert_eq(hv_be64_get(k.mv_data), sorted[n]);
		n++;
	}
	cr_assert_eq(n, sizeof(sorted) / sizeof(sorted[0]));
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	hv_store_close(&s);
}

/* ---- the data_dir lock --------------------------------------------------- */

Test(store, refuses_a_second_writer_naming_the_program_and_pid_that_hold_it)
{
	hv_store *a = open_ok(0, 0), *b = NULL;
	struct hv_errdetail d;
	char want[64];

	hv_errclear(&d);
	cr_assert_eq(hv_store_open(dir, 0, 0, dbs, N_DBS, &b, &d), HV_EINUSE);
	cr_assert_null(b);
	snprintf(want, sizeof(want), "pid %ld", (long)getpid());
	cr_assert_not_null(strstr(d.message, want), "%s", d.message);
	cr_assert_not_null(strstr(d.message, "is in use by"), "%s", d.message);
	cr_assert_not_null(strstr(d.message, dir), "%s", d.message);
	hv_store_close(&a);
	/* Closing lets the next writer in. */
	b = open_ok(0, 0);
	hv_store_close(&b);
	fixture_assert_no_leaks();
}

Test(store, lets_a_reader_open_beside_the_writer)
{
	hv_store *w = open_ok(0, 0), *r;

	put(w, 0, "m-1", "ciphertext one");
	r = open_ok(1, 0);
	assert_value(r, 0, "m-1", "ciphertext one");
	hv_store_close(&r);
	hv_store_close(&w);
}

/* ---- format versions ----------------------------------------------------- */

/* Writes `format` (or removes the stamp when format is 0) with raw LMDB. */
static void
raw_stamp(uint64_t format)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint8_t buf[8];

	mkdir(dir, 0700);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "haven", MDB_CREATE, &dbi), 0);
	if (format == 0) {
		cr_assert_eq(mdb_drop(txn, dbi, 1), 0);
	} else {
		hv_be64_put(buf, format);
		v.mv_size = 8;
		v.mv_data = buf;
		cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(store, stamps_a_store_made_before_format_versions_with_format_1)
{
	hv_store *s;

	seed();
	raw_stamp(0);
	s = open_ok(1, 0);
	cr_assert_eq(s->format, 0, "the raw store should have no stamp");
	hv_store_close(&s);
	s = open_ok(0, 0);
	cr_assert_eq(s->format, 0, "the format found before migrating");
	assert_value(s, 0, "m-1", "ciphertext one");
	hv_store_close(&s);
	s = open_ok(1, 0);
	cr_assert_eq(s->format, HV_STORE_FORMAT);
	hv_store_close(&s);
}

Test(store, refuses_a_store_of_a_newer_format_naming_both_versions)
{
	hv_store *s = NULL;
	struct hv_errdetail d;

	seed();
	raw_stamp(HV_STORE_FORMAT + 1);
	for (int ro = 0; ro <= 1; ro++) {
		hv_errclear(&d);
		cr_assert_eq(hv_store_open(dir, 0, ro, dbs, N_DBS, &s, &d),
		    HV_EFORMAT);
		cr_assert_null(s);
		cr_assert_not_null(strstr(d.message,
		                       "is format 2, newer than "
		                       "format 1"),
		    "%s", d.message);
	}
	fixture_assert_no_leaks();
}

/* ---- backup -------------------------------------------------------------- */

Test(store, copies_a_live_store_into_a_new_private_folder)
{
	hv_store *w = open_ok(0, 0), *c = NULL;
	struct hv_errdetail d;
	char dest[160], file[200];
	struct stat st;

	put(w, 0, "m-1", "ciphertext one");
	put(w, 2, "version", "7");
	snprintf(dest, sizeof(dest), "%s/copy", tmp);
	hv_errclear(&d);
	cr_assert_eq(hv_store_backup(dir, dest, &d), HV_OK, "%s", d.message);
	hv_store_close(&w);
	cr_assert_eq(stat(dest, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/data.mdb", dest);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(hv_store_open(dest, 0, 1, dbs, N_DBS, &c, &d), HV_OK, "%s",
	    d.message);
	assert_value(c, 0, "m-1", "ciphertext one");
	assert_value(c, 2, "version", "7");
	cr_assert_eq(c->format, HV_STORE_FORMAT);
	hv_store_close(&c);
	fixture_assert_no_leaks();
}

Test(store, refuses_to_back_up_into_a_folder_that_is_not_empty)
{
	struct hv_errdetail d;
	char dest[160], file[200];

	seed();
	snprintf(dest, sizeof(dest), "%s/copy", tmp);
	cr_assert_eq(mkdir(dest, 0700), 0);
	snprintf(file, sizeof(file), "%s/keep-me", dest);
	cr_assert_eq(h_touch(file), 0);
	hv_errclear(&d);
	cr_assert_eq(hv_store_backup(dir, dest, &d), HV_EEXISTS);
	cr_assert_not_null(strstr(d.message, "is not empty"), "%s", d.message);
	cr_assert_eq(access(file, F_OK), 0);
}

Test(store, refuses_to_back_up_a_folder_with_no_store)
{
	struct hv_errdetail d;
	char dest[160];

	snprintf(dest, sizeof(dest), "%s/copy", tmp);
	hv_errclear(&d);
	cr_assert_eq(hv_store_backup(tmp, dest, &d), HV_ENOTFOUND);
	cr_assert_not_null(strstr(d.message, "holds no Haven store"), "%s",
	    d.message);
	cr_assert_eq(access(dest, F_OK), -1);
}

/* ---- --check-config ------------------------------------------------------- */

Test(store, checks_a_data_dir_that_does_not_exist_yet_without_creating_it)
{
	struct hv_errdetail d;
	char deep[200];

	snprintf(deep, sizeof(deep), "%s/not/yet/there", tmp);
	hv_errclear(&d);
	cr_assert_eq(hv_store_check_dir(deep, &d), HV_OK, "%s", d.message);
	cr_assert_eq(access(deep, F_OK), -1, "the check created %s", deep);
}

Test(store, check_refuses_a_data_dir_under_a_file_naming_both)
{
	struct hv_errdetail d;
	char file[160], deep[200];

	snprintf(file, sizeof(file), "%s/a-file", tmp);
	cr_assert_eq(h_touch(file), 0);
	snprintf(deep, sizeof(deep), "%s/broker", file);
	hv_errclear(&d);
	cr_assert_eq(hv_store_check_dir(deep, &d), HV_EIO);
	cr_assert_not_null(strstr(d.message, "cannot be created"), "%s",
	    d.message);
	cr_assert_not_null(strstr(d.message, file), "%s", d.message);
}

Test(store, check_passes_a_live_store_and_refuses_a_newer_format)
{
	hv_store *w = open_ok(0, 0);
	struct hv_errdetail d;

	hv_errclear(&d);
	cr_assert_eq(hv_store_check_dir(dir, &d), HV_OK, "%s", d.message);
	hv_store_close(&w);
	raw_stamp(HV_STORE_FORMAT + 1);
	cr_assert_eq(hv_store_check_dir(dir, &d), HV_EFORMAT);
}

/* 1 when the store's data.mdb holds needle anywhere in its bytes. */
static int
file_holds(const char *needle)
{
	char path[200], *buf;
	FILE *fp;
	long n;
	int found;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	cr_assert_not_null(fp = fopen(path, "rb"));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	cr_assert_not_null(buf = malloc((size_t)n));
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	found = memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

/*
 * Erasure (SPEC §15): after wipe_del and a scrub, neither a small value
 * (inside a leaf page) nor a large one (overflow pages) leaves its bytes
 * anywhere in data.mdb, though LMDB's copy-on-write left the old pages
 * holding them after the delete alone.
 */
Test(store, leaves_no_bytes_of_an_erased_value_in_the_file)
{
	hv_store *s = open_ok(0, 0);
	char big[9000];
	size_t scrubbed = 0, left = 1;
	MDB_txn *txn;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + 4000, "CANARY-BIG-51d3", 15);
	put(s, 0, "big", big);
	put(s, 0, "small", "CANARY-SMALL-8e21");
	put(s, 0, "other", "kept");
	cr_assert(file_holds("CANARY-BIG-51d3"));
	cr_assert(file_holds("CANARY-SMALL-8e21"));

	cr_assert_eq(hv_store_begin(s, 0, &txn), HV_OK);
	cr_assert_eq(hv_store_wipe_del(txn, s->dbi[0], "big", 3), HV_OK);
	cr_assert_eq(hv_store_wipe_del(txn, s->dbi[0], "small", 5), HV_OK);
	cr_assert_eq(hv_store_wipe_del(txn, s->dbi[0], "absent", 6), HV_OK);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	/* Deleted, but the old pages still hold the bytes. */
	cr_assert(file_holds("CANARY-BIG-51d3"));

	cr_assert_eq(hv_store_scrub_free(s, s->dbi[2], &scrubbed, &left),
	    HV_OK);
	cr_assert_gt(scrubbed, 0);
	cr_assert_eq(left, 0);
	cr_assert_not(file_holds("CANARY-BIG-51d3"));
	cr_assert_not(file_holds("CANARY-SMALL-8e21"));
	cr_assert(file_holds("kept"));
	hv_store_close(&s);
}
