/*
 * test_auditproof — inclusion and consistency proofs of the audit log
 * (lib/hv_proof): made from a store in a fresh mkdtemp folder, written as
 * JSON and read back, verified with the broker key, and refused when any
 * part of them is changed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "hv_auditlog.h"
#include "hv_proof.h"
#include "hv_util.h"
#include "fixture.h"

#define BASE_MS 1795338000000LL
#define N 37

struct fx {
	char dir[PATH_MAX];
	hv_store *s;
	hv_auditlog log;
	hv_keys broker, other;
	uint8_t id[N + 1][16];
};

static void
add(struct fx *fx, uint64_t seq)
{
	struct hv_audit_rec r;
	MDB_txn *txn;

	memset(&r, 0, sizeof(r));
	r.time_ms = BASE_MS + (int64_t)seq * 1000;
	snprintf(r.event, sizeof(r.event),
	    seq % 5 ? "SUBMITTED" : "DECISION_RECORDED");
	r.has_id = 1;
	memcpy(r.id, fx->id[seq], 16);
	snprintf(r.sender, sizeof(r.sender), "police.avon");
	if (seq % 5) {
		r.n_recipients = 1;
		snprintf(r.recipients[0], sizeof(r.recipients[0]),
		    "social-care.bristol");
	}
	snprintf(r.type, sizeof(r.type), "REFERRAL");
	r.has_basis = 1;
	snprintf(r.basis.art6, sizeof(r.basis.art6), "PUBLIC_TASK");
	snprintf(r.basis.decided_by, sizeof(r.basis.decided_by), "PC %llu",
	    (unsigned long long)seq);
	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_append(&fx->log, txn, &r), HV_OK);
	cr_assert_eq(r.seq, seq);
	/* A head at sizes 1, 2, 4, 8, 16, 32 and 37. */
	if ((seq & (seq - 1)) == 0 || seq == N)
		cr_assert_eq(hv_auditlog_sign_head(&fx->log, txn, &fx->broker,
		                 r.time_ms + 7),
		    HV_OK);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

static void
fx_open(struct fx *fx, uint64_t n)
{
	fixture_tmpdir(fx->dir, sizeof(fx->dir), "auditproof");
	cr_assert_eq(hv_store_open(fx->dir, 1ULL << 24, 0, hv_auditlog_dbnames,
	                 HV_AUDITLOG_NDBS, &fx->s, NULL),
	    HV_OK);
	fx->log.store = fx->s;
	fx->log.base = 0;
	crypto_sign_keypair(fx->broker.pub.sign, fx->broker.sign_secret);
	crypto_sign_keypair(fx->other.pub.sign, fx->other.sign_secret);
	randombytes_buf(fx->id, sizeof(fx->id));
	for (uint64_t i = 1; i <= n; i++)
		add(fx, i);
}

static void
fx_close(struct fx *fx)
{
	hv_store_close(&fx->s);
	fixture_rmtree(fx->dir);
	sodium_memzero(&fx->broker, sizeof(fx->broker));
}

static hv_proof *
inclusion(struct fx *fx, uint64_t seq)
{
	hv_proof *p = NULL;
	MDB_txn *txn;

	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	cr_assert_eq(hv_proof_inclusion(&fx->log, txn, seq, &p, NULL), HV_OK,
	    "record %llu", (unsigned long long)seq);
	mdb_txn_abort(txn);
	return p;
}

/* p written as JSON and read back. */
static hv_proof *
round_trip(const hv_proof *p)
{
	hv_proof *q = NULL;
	char *text = NULL;
	struct hv_errdetail d;

	cr_assert_eq(hv_proof_to_json(p, &text), HV_OK);
	cr_assert_eq(hv_proof_from_json(text, strlen(text), &q, &d), HV_OK,
	    "%s: %s", d.message, text);
	free(text);
	return q;
}

Test(auditproof, every_record_has_an_inclusion_proof_that_verifies)
{
	struct fx fx;
	struct hv_audit_rec rec;
	hv_proof *p, *q;

	fx_open(&fx, N);
	for (uint64_t seq = 1; seq <= N; seq++) {
		p = inclusion(&fx, seq);
		cr_assert_eq(p->head.size, N);
		cr_assert_eq(p->leaf_index, seq - 1);
		q = round_trip(p);
		cr_assert_eq(q->kind, HV_PROOF_INCLUSION);
		cr_assert_eq(q->record_len, p->record_len);
		cr_assert_eq(memcmp(q->record, p->record, p->record_len), 0);
		cr_assert_eq(q->n, p->n);
		cr_assert_eq(q->head.time_ms, p->head.time_ms);
		cr_assert_eq(hv_proof_verify(q, fx.broker.pub.sign, &rec, NULL),
		    HV_OK);
		cr_assert_eq(rec.seq, seq);
		cr_assert_eq(memcmp(rec.id, fx.id[seq], 16), 0);
		cr_assert_eq(hv_proof_verify(q, fx.other.pub.sign, NULL, NULL),
		    HV_EBADSIG);
		hv_proof_destroy(&p);
		hv_proof_destroy(&q);
		cr_assert_null(q);
	}
	fx_close(&fx);
}

Test(auditproof, any_changed_hash_index_size_or_record_byte_is_refused)
{
	struct fx fx;
	hv_proof *p, *q;

	fx_open(&fx, N);
	p = inclusion(&fx, 23);
	cr_assert_gt(p->n, 3);
	q = round_trip(p);
	for (size_t i = 0; i < p->n; i++) {
		q->path[i][i % HV_HASH_LEN] ^= 0x10;
		cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
		    HV_ETAMPERED, "path hash %zu", i);
		q->path[i][i % HV_HASH_LEN] ^= 0x10;
	}
	for (size_t i = 0; i < p->record_len; i++) {
		q->record[i] ^= 0x01;
		cr_expect_neq(hv_proof_verify(q, fx.broker.pub.sign, NULL,
		                  NULL),
		    HV_OK, "record byte %zu", i);
		q->record[i] ^= 0x01;
	}
	q->leaf_hash[0] ^= 1;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_ETAMPERED);
	q->leaf_hash[0] ^= 1;
	q->leaf_index++;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_ETAMPERED);
	q->leaf_index--;
	q->head.size--;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_EBADSIG);
	q->head.size++;
	q->head.root[5] ^= 4;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_EBADSIG);
	q->head.root[5] ^= 4;
	q->id[0] ^= 1;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_ETAMPERED);
	q->id[0] ^= 1;
	q->n--;
	cr_expect_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL),
	    HV_ETAMPERED);
	q->n++;
	cr_assert_eq(hv_proof_verify(q, fx.broker.pub.sign, NULL, NULL), HV_OK);
	hv_proof_destroy(&p);
	hv_proof_destroy(&q);
	fx_close(&fx);
}

Test(auditproof, a_record_newer_than_the_latest_head_is_not_yet_provable)
{
	struct fx fx;
	struct hv_errdetail d;
	hv_proof *p = NULL;
	MDB_txn *txn;

	fx_open(&fx, 5); /* heads at 1, 2 and 4 */
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_proof_inclusion(&fx.log, txn, 5, &p, &d), HV_ENOTFOUND);
	cr_assert_not_null(strstr(d.message, "not yet covered"));
	cr_assert_eq(hv_proof_inclusion(&fx.log, txn, 6, &p, &d), HV_ENOTFOUND);
	cr_assert_eq(hv_proof_inclusion(&fx.log, txn, 4, &p, &d), HV_OK);
	cr_assert_eq(p->head.size, 4);
	mdb_txn_abort(txn);
	hv_proof_destroy(&p);
	fx_close(&fx);
}

Test(auditproof, an_empty_log_has_nothing_to_prove)
{
	struct fx fx;
	hv_proof *p = NULL;
	MDB_txn *txn;

	fx_open(&fx, 0);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_proof_inclusion(&fx.log, txn, 1, &p, NULL),
	    HV_ENOTFOUND);
	cr_assert_eq(hv_proof_consistency(&fx.log, txn, 1, 0, &p, NULL),
	    HV_ENOTFOUND);
	cr_assert_null(p);
	mdb_txn_abort(txn);
	fx_close(&fx);
}

Test(auditproof, every_pair_of_heads_has_a_consistency_proof_that_verifies)
{
	static const uint64_t sizes[] = { 1, 2, 4, 8, 16, 32, N };
	const size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	struct fx fx;
	hv_proof *p, *q;
	MDB_txn *txn;

	fx_open(&fx, N);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	for (size_t i = 0; i < ns; i++)
		for (size_t j = i; j < ns; j++) {
			p = NULL;
			cr_assert_eq(hv_proof_consistency(&fx.log, txn,
			                 sizes[i], j + 1 == ns ? 0 : sizes[j],
			                 &p, NULL),
			    HV_OK);
			cr_assert_eq(p->first.size, sizes[i]);
			cr_assert_eq(p->head.size, sizes[j]);
			q = round_trip(p);
			cr_assert_eq(q->kind, HV_PROOF_CONSISTENCY);
			cr_assert_eq(hv_proof_verify(q, fx.broker.pub.sign,
			                 NULL, NULL),
			    HV_OK);
			cr_assert_eq(hv_proof_verify(q, fx.other.pub.sign, NULL,
			                 NULL),
			    HV_EBADSIG);
			if (q->n > 0) {
				q->path[q->n - 1][0] ^= 1;
				cr_assert_eq(hv_proof_verify(q,
				                 fx.broker.pub.sign, NULL,
				                 NULL),
				    HV_ETAMPERED);
			}
			hv_proof_destroy(&p);
			hv_proof_destroy(&q);
		}
	mdb_txn_abort(txn);
	fx_close(&fx);
}

Test(auditproof, a_size_without_a_head_names_the_nearest_ones)
{
	struct fx fx;
	struct hv_errdetail d;
	hv_proof *p = NULL;
	MDB_txn *txn;

	fx_open(&fx, N);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_proof_consistency(&fx.log, txn, 5, 0, &p, &d),
	    HV_ENOTFOUND);
	cr_assert_not_null(strstr(d.message, "sizes 4 and 8"), "%s", d.message);
	cr_assert_eq(hv_proof_consistency(&fx.log, txn, 8, 36, &p, &d),
	    HV_ENOTFOUND);
	cr_assert_not_null(strstr(d.message, "sizes 32 and 37"), "%s",
	    d.message);
	cr_assert_eq(hv_proof_consistency(&fx.log, txn, 9, 8, &p, &d),
	    HV_EUSAGE);
	cr_assert_null(p);
	mdb_txn_abort(txn);
	fx_close(&fx);
}

/* The JSON of an inclusion proof of record 3 with one key replaced. */
static char *
altered(struct fx *fx, const char *key, json_t *value)
{
	hv_proof *p = inclusion(fx, 3);
	char *text = NULL;
	json_t *j;

	cr_assert_eq(hv_proof_to_json(p, &text), HV_OK);
	hv_proof_destroy(&p);
	cr_assert_not_null(j = json_loads(text, 0, NULL));
	free(text);
	if (value == NULL)
		json_object_del(j, key);
	else
		json_object_set_new(j, key, value);
	text = json_dumps(j, 0);
	json_decref(j);
	return text;
}

Test(auditproof, reading_refuses_malformed_documents_naming_the_field)
{
	static const char *const raw[] = {
		"",
		"[]",
		"{}",
		"{\"format\": \"haven-inclusion-proof-v2\"}",
		"{\"format\": \"haven-consistency-proof-v1\", \"first\": 1}",
		"{\"format\": \"x\", \"format\": \"y\"}",
	};
	struct {
		const char *key, *field;
		json_t *value;
	} cases[] = {
		{ "leaf_index", "leaf_index", json_integer(-1) },
		{ "leaf_index", "leaf_index", NULL },
		{ "seq", "seq", json_integer(9) },
		{ "leaf_hash", "leaf_hash", json_string("abc") },
		{ "root_hash", "root_hash", json_string("zz") },
		{ "head_signature", "head_signature", json_integer(1) },
		{ "record", "record", json_string("!!!") },
		{ "record", "record", json_string("") },
		{ "message_id", "message_id", json_string("0123") },
		{ "tree_size", "tree_size", json_integer(0) },
		{ "head_time", "head_time",
		    json_string("2020-01-01T00:00:00Z") },
		{ "head_time_ms", "head_time_ms", json_string("1") },
		{ "proof", "proof", json_string("ab") },
		{ "proof", "proof", json_pack("[s]", "00") },
	};
	struct fx fx;
	struct hv_errdetail d;
	hv_proof *p = NULL;
	json_t *big;
	char *text;

	fx_open(&fx, 8);
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		cr_expect_eq(hv_proof_from_json(raw[i], strlen(raw[i]), &p, &d),
		    HV_EMALFORMED, "%s", raw[i]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = altered(&fx, cases[i].key, cases[i].value);
		hv_errclear(&d);
		cr_expect_eq(hv_proof_from_json(text, strlen(text), &p, &d),
		    HV_EMALFORMED, "%s", text);
		cr_expect_str_eq(d.field, cases[i].field, "%s", d.message);
		free(text);
	}
	big = json_array();
	for (int i = 0; i <= HV_MERKLE_MAX_PROOF; i++)
		json_array_append_new(big,
		    json_string(
		        "00000000000000000000"
		        "000000000000000000000000000000000000000000000"));
	text = altered(&fx, "proof", big);
	cr_expect_eq(hv_proof_from_json(text, strlen(text), &p, &d),
	    HV_EMALFORMED);
	free(text);
	/* Unknown keys are ignored; the unaltered proof still reads. */
	text = altered(&fx, "comment", json_string("for the inspection"));
	cr_assert_eq(hv_proof_from_json(text, strlen(text), &p, &d), HV_OK,
	    "%s", d.message);
	cr_assert_eq(hv_proof_verify(p, fx.broker.pub.sign, NULL, NULL), HV_OK);
	hv_proof_destroy(&p);
	free(text);
	fx_close(&fx);
}

/*
 * After the broker's rotation (SPEC §13) a proof signed by its previous key
 * verifies with the new key and the previous one listed with its end, as
 * long as that end is at or after the head's time.
 */
Test(auditproof, a_proof_signed_before_the_brokers_rotation_still_verifies)
{
	struct hv_prev_signs prev = { 0 };
	struct fx fx;
	hv_proof *p;

	fx_open(&fx, N);
	p = inclusion(&fx, 3);
	/* fx.other stands for the broker's new key, fx.broker for its old. */
	prev.n = 1;
	memcpy(prev.k[0].sign, fx.broker.pub.sign, 32);
	prev.k[0].until_ms = p->head.time_ms;
	cr_assert_eq(hv_proof_verify_at(p, fx.other.pub.sign, &prev, NULL,
	                 NULL),
	    HV_OK);
	cr_assert_eq(hv_proof_verify_at(p, fx.other.pub.sign, NULL, NULL, NULL),
	    HV_EBADSIG);
	/* A head made after the old key's end is not vouched for by it. */
	prev.k[0].until_ms = p->head.time_ms - 1;
	cr_assert_eq(hv_proof_verify_at(p, fx.other.pub.sign, &prev, NULL,
	                 NULL),
	    HV_EBADSIG);
	hv_proof_destroy(&p);
	fx_close(&fx);
}
