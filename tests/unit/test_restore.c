/*
 * Unit tests of lib/hv_restore: a notice round-trips and verifies only
 * with the root that signed it and for its partnership; any changed bit,
 * a non-canonical encoding or a bad reason is refused; it matches only the
 * store it was made from; and a later head must extend the restored log.
 * The seed corpus of tests/fuzz/corpus/restore/ is written from here when
 * HV_WRITE_CORPUS names a folder.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "hv_restore.h"
#include "hv_util.h"

static hv_keys root, other;

static void
keys(void)
{
	cr_assert_geq(sodium_init(), 0);
	crypto_sign_keypair(root.pub.sign, root.sign_secret);
	crypto_sign_keypair(other.pub.sign, other.sign_secret);
}

static void
notice_fill(struct hv_restore_notice *n, uint64_t size)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->partnership, sizeof(n->partnership), "bristol");
	n->size = size;
	memset(n->root, 0xab, sizeof(n->root));
	n->time_ms = 1790000000000LL;
	snprintf(n->reason, sizeof(n->reason),
	    "disk failure, restored from "
	    "the 02:00 copy");
}

static void
sign(const struct hv_restore_notice *n, const hv_keys *k, uint8_t **buf,
    size_t *len)
{
	cr_assert_eq(hv_restore_sign(n, k, buf, len, NULL), HV_OK);
}

Test(restore, a_signed_notice_round_trips_and_verifies_with_its_root,
    .init = keys)
{
	struct hv_restore_notice n, got;
	uint8_t *buf;
	size_t len;

	notice_fill(&n, 42);
	sign(&n, &root, &buf, &len);
	cr_assert_eq(hv_restore_verify(buf, len, root.pub.sign, "bristol", &got,
	                 NULL),
	    HV_OK);
	cr_assert_eq(got.size, 42);
	cr_assert_eq(memcmp(got.root, n.root, 32), 0);
	cr_assert_eq(got.time_ms, n.time_ms);
	cr_assert_str_eq(got.reason, n.reason);
	cr_assert_str_eq(got.partnership, "bristol");
	if (getenv("HV_WRITE_CORPUS") != NULL) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/valid",
		    getenv("HV_WRITE_CORPUS"));
		cr_assert_eq(hv_write_file_atomic(path, buf, len, 0644), 0);
	}
	free(buf);
}

Test(restore, refuses_a_notice_signed_by_another_key, .init = keys)
{
	struct hv_restore_notice n, got;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	notice_fill(&n, 42);
	sign(&n, &other, &buf, &len);
	cr_assert_eq(hv_restore_verify(buf, len, root.pub.sign, "bristol", &got,
	                 &d),
	    HV_EBADSIG);
	cr_assert_not_null(strstr(d.message, "root key"));
	free(buf);
}

Test(restore, refuses_another_partnerships_notice, .init = keys)
{
	struct hv_restore_notice n, got;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	notice_fill(&n, 42);
	sign(&n, &root, &buf, &len);
	cr_assert_eq(hv_restore_verify(buf, len, root.pub.sign, "somerset",
	                 &got, &d),
	    HV_EPOLICY);
	cr_assert_not_null(strstr(d.message, "bristol"));
	free(buf);
}

Test(restore, refuses_every_single_flipped_bit, .init = keys)
{
	struct hv_restore_notice n, got;
	uint8_t *buf;
	size_t len;

	notice_fill(&n, 7);
	sign(&n, &root, &buf, &len);
	for (size_t i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert_neq(hv_restore_verify(buf, len, root.pub.sign,
		                  "bristol", &got, NULL),
		    HV_OK, "bit %zu", i);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	free(buf);
}

Test(restore, refuses_a_truncated_or_padded_notice, .init = keys)
{
	struct hv_restore_notice n, got;
	uint8_t *buf, big[HV_RESTORE_FILE_MAX + 2];
	size_t len;

	notice_fill(&n, 7);
	sign(&n, &root, &buf, &len);
	for (size_t l = 0; l < len; l++)
		cr_assert_eq(hv_restore_parse(buf, l, &got, NULL),
		    HV_EMALFORMED, "length %zu", l);
	/* A repeated field decodes, but is not the canonical encoding. */
	memcpy(big, buf, len);
	memcpy(big + len, buf, len < 40 ? len : 40);
	cr_assert_eq(hv_restore_parse(big, len + (len < 40 ? len : 40), &got,
	                 NULL),
	    HV_EMALFORMED);
	memset(big, 0, sizeof(big));
	cr_assert_eq(hv_restore_parse(big, sizeof(big), &got, NULL),
	    HV_EMALFORMED);
	free(buf);
}

Test(restore, refuses_an_empty_or_multi_line_reason, .init = keys)
{
	struct hv_restore_notice n;
	struct hv_errdetail d;
	uint8_t *buf = NULL;
	size_t len;

	notice_fill(&n, 7);
	n.reason[0] = '\0';
	cr_assert_eq(hv_restore_sign(&n, &root, &buf, &len, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "reason");
	snprintf(n.reason, sizeof(n.reason), "line one\nline two");
	cr_assert_eq(hv_restore_sign(&n, &root, &buf, &len, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "control character"));
	cr_assert_null(buf);
}

/* ---- against a log --------------------------------------------------- */

struct fx {
	char dir[PATH_MAX];
	hv_store *s;
	hv_auditlog log;
};

static void
fx_open(struct fx *fx, int records)
{
	MDB_txn *txn;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/hv-restore-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir));
	cr_assert_eq(hv_store_open(fx->dir, 1ULL << 24, 0, hv_auditlog_dbnames,
	                 HV_AUDITLOG_NDBS, &fx->s, NULL),
	    HV_OK);
	fx->log.store = fx->s;
	fx->log.base = 0;
	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	for (int i = 0; i < records; i++) {
		struct hv_audit_rec rec;

		memset(&rec, 0, sizeof(rec));
		snprintf(rec.event, sizeof(rec.event), "DIRECTORY_LOADED");
		snprintf(rec.detail, sizeof(rec.detail), "record %d", i);
		rec.time_ms = 1790000000000LL + i;
		cr_assert_eq(hv_auditlog_append(&fx->log, txn, &rec), HV_OK);
	}
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

static void
fx_close(struct fx *fx)
{
	char path[PATH_MAX + 16];

	hv_store_close(&fx->s);
	snprintf(path, sizeof(path), "%s/data.mdb", fx->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", fx->dir);
	unlink(path);
	rmdir(fx->dir);
}

/* The notice of fx's log at its current size. */
static void
notice_of(struct fx *fx, struct hv_restore_notice *n)
{
	MDB_txn *txn;

	notice_fill(n, 0);
	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&fx->log, txn, &n->size, n->root), HV_OK);
	mdb_txn_abort(txn);
}

static hv_err
check(struct fx *fx, const struct hv_restore_notice *n, int exact,
    struct hv_errdetail *d)
{
	MDB_txn *txn;
	hv_err e;

	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	e = hv_restore_check_log(n, &fx->log, txn, exact, d);
	mdb_txn_abort(txn);
	return e;
}

Test(restore, matches_only_the_store_it_was_made_from, .init = keys)
{
	struct hv_restore_notice n, bad;
	struct hv_errdetail d;
	struct fx fx;

	fx_open(&fx, 10);
	notice_of(&fx, &n);
	cr_assert_eq(check(&fx, &n, 1, &d), HV_OK);
	bad = n;
	bad.root[0] ^= 1;
	cr_assert_eq(check(&fx, &bad, 1, &d), HV_ETAMPERED);
	cr_assert_not_null(strstr(d.message, "another copy"));
	bad = n;
	bad.size = 11;
	cr_assert_eq(check(&fx, &bad, 1, &d), HV_ETAMPERED);
	cr_assert_not_null(strstr(d.message, "10"));
	fx_close(&fx);
}

Test(restore, a_grown_log_still_begins_with_the_restored_one, .init = keys)
{
	struct hv_restore_notice n, bad;
	struct hv_errdetail d;
	struct fx fx, more;
	MDB_txn *txn;
	uint8_t root[HV_HASH_LEN];
	uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	uint64_t size;
	size_t plen;

	fx_open(&fx, 10);
	notice_of(&fx, &n);
	fx_close(&fx);
	/* The same ten records and seven more. */
	fx_open(&more, 17);
	cr_assert_eq(check(&more, &n, 1, &d), HV_ETAMPERED, "exact");
	cr_assert_eq(check(&more, &n, 0, &d), HV_OK);
	bad = n;
	bad.root[31] ^= 0x80;
	cr_assert_eq(check(&more, &bad, 0, &d), HV_ETAMPERED);

	/* And a head of the grown log extends the notice, with its proof. */
	cr_assert_eq(hv_store_begin(more.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&more.log, txn, &size, root), HV_OK);
	{
		struct hv_auditlog_leaves lv = { &more.log, txn };

		cr_assert_eq(hv_merkle_consistency_proof(hv_auditlog_leaf_fn,
		                 &lv, n.size, size, proof, &plen),
		    HV_OK);
	}
	mdb_txn_abort(txn);
	cr_assert_eq(hv_restore_check_head(&n, size, root,
	                 (const uint8_t(*)[HV_HASH_LEN])proof, plen),
	    HV_OK);
	cr_assert_eq(hv_restore_check_head(&bad, size, root,
	                 (const uint8_t(*)[HV_HASH_LEN])proof, plen),
	    HV_ETAMPERED);
	cr_assert_eq(hv_restore_check_head(&n, n.size - 1, root,
	                 (const uint8_t(*)[HV_HASH_LEN])proof, plen),
	    HV_ETAMPERED);
	cr_assert_eq(hv_restore_check_head(&n, n.size, n.root, NULL, 0), HV_OK);
	fx_close(&more);
}

/*
 * Found by fuzz_restore: a notice whose body field is present but empty
 * reached memcmp with a null pointer. It is refused, naming the body.
 */
Test(restore, refuses_a_notice_with_an_empty_body)
{
	const char *src = getenv("HAVEN_SRC");
	char path[512];
	uint8_t buf[1024];
	struct hv_restore_notice n;
	struct hv_errdetail d;
	size_t len;
	FILE *fp;

	snprintf(path, sizeof(path),
	    "%s/tests/fuzz/corpus/restore/"
	    "regress-empty-body",
	    src ? src : ".");
	cr_assert_not_null(fp = fopen(path, "rb"), "cannot open %s", path);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	cr_assert_gt(len, 0);
	hv_errclear(&d);
	cr_assert_neq(hv_restore_parse(buf, len, &n, &d), HV_OK);
	cr_assert_str_eq(d.field, "body");
}
