/*
 * test_auditlog — the audit log's append path, tree heads, verification
 * and queries, each test in a fresh mkdtemp store.
 *
 * The tamper tests build a 10,000-record log, check that it verifies, then
 * change the store directly through LMDB the way someone with the files
 * could, and expect hv_auditlog_verify to name the first bad item.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "hv_auditlog.h"
#include "hv_util.h"
#include "fixture.h"

#define BASE_MS 1790000000000LL
#define NSUBJ 37
#define BIG 10000

static const char *nodes[] = {
	"police.avon",
	"health.bristol-royal",
	"education.st-marys-primary",
	"social-care.bristol",
};
static const char *events[] = {
	"SUBMITTED",
	"DELIVERED",
	"ACKNOWLEDGED",
	"REJECTED",
	"AUDIT_QUERY",
};
static const char *types[] = {
	"REFERRAL",
	"INFO_REQUEST",
	"MISSING_CHILD_ALERT",
};

/* ---- fixture --------------------------------------------------------- */

struct fx {
	char dir[PATH_MAX];
	hv_store *s;
	hv_auditlog log;
	hv_keys broker;
};

static void
fx_open(struct fx *fx)
{
	fixture_tmpdir(fx->dir, sizeof(fx->dir), "auditlog");
	cr_assert_eq(hv_store_open(fx->dir, 1ULL << 28, 0, hv_auditlog_dbnames,
	                 HV_AUDITLOG_NDBS, &fx->s, NULL),
	    HV_OK);
	fx->log.store = fx->s;
	fx->log.base = 0;
	memset(&fx->broker, 0, sizeof(fx->broker));
	crypto_sign_keypair(fx->broker.pub.sign, fx->broker.sign_secret);
}

static void
fx_close(struct fx *fx)
{
	hv_store_close(&fx->s);
	fixture_rmtree(fx->dir);
	sodium_memzero(&fx->broker, sizeof(fx->broker));
}

static MDB_dbi
db(struct fx *fx, const char *name)
{
	for (size_t i = 0; i < HV_AUDITLOG_NDBS; i++)
		if (strcmp(hv_auditlog_dbnames[i], name) == 0)
			return fx->s->dbi[i];
	cr_assert_fail("no database %s", name);
	return 0;
}

/* ---- generated records ----------------------------------------------- */

static void
msg_id(uint64_t i, uint8_t id[HV_ID_LEN])
{
	hv_be64_put(id, i / 2 + 1); /* two records per message */
	memset(id + 8, 0xab, 8);
}

static void
subject_of(uint64_t i, uint8_t subj[32])
{
	memset(subj, 0x11, 32);
	subj[0] = (uint8_t)(i % NSUBJ);
}

static int64_t
time_of(uint64_t i)
{
	/* Every seventh record's clock is behind: time order != seq order. */
	return BASE_MS + (int64_t)i * 1000 - (i % 7 == 0 ? 4500 : 0);
}

/* The record the generator appends as seq i. */
static void
make_rec(uint64_t i, struct hv_audit_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->time_ms = time_of(i);
	snprintf(r->event, sizeof(r->event), "%s", events[i % 5]);
	r->has_id = 1;
	msg_id(i, r->id);
	snprintf(r->sender, sizeof(r->sender), "%s", nodes[i % 4]);
	r->n_recipients = 1 + i % 2;
	snprintf(r->recipients[0], sizeof(r->recipients[0]), "%s",
	    nodes[(i + 1) % 4]);
	snprintf(r->recipients[1], sizeof(r->recipients[1]), "%s",
	    nodes[(i + 2) % 4]);
	snprintf(r->type, sizeof(r->type), "%s", types[i % 3]);
	snprintf(r->priority, sizeof(r->priority), "ROUTINE");
	r->has_basis = 1;
	snprintf(r->basis.consent, sizeof(r->basis.consent), "NOT_SOUGHT");
	snprintf(r->basis.art6, sizeof(r->basis.art6), "PUBLIC_TASK");
	snprintf(r->basis.art9, sizeof(r->basis.art9), "SAFEGUARDING");
	snprintf(r->basis.justification, sizeof(r->basis.justification),
	    "Risk of significant harm; seeking consent would increase it.");
	snprintf(r->basis.decided_by, sizeof(r->basis.decided_by), "DS 4410");
	r->has_subject = i % 10 != 0;
	subject_of(i, r->subject);
	r->has_digest = 1;
	memset(r->digest, (int)(i & 0xff), sizeof(r->digest));
	r->has_signature = 1;
	memset(r->signature, 0x5c, sizeof(r->signature));
	if (i % 4 == 3)
		snprintf(r->reason, sizeof(r->reason), "POLICY_DENIED");
	snprintf(r->detail, sizeof(r->detail), "generated record %llu",
	    (unsigned long long)i);
	r->directory_version = 7;
	r->created = BASE_MS / 1000;
}

/*
 * Appends records from+1..to, committing every `per_txn` and signing a
 * head every `head_every` records.
 */
static void
append_range(struct fx *fx, uint64_t from, uint64_t to, uint64_t per_txn,
    uint64_t head_every)
{
	struct hv_audit_rec r;
	MDB_txn *txn = NULL;

	for (uint64_t i = from + 1; i <= to; i++) {
		if (txn == NULL)
			cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
		make_rec(i, &r);
		cr_assert_eq(hv_auditlog_append(&fx->log, txn, &r), HV_OK);
		cr_assert_eq(r.seq, i);
		if (i % head_every == 0)
			cr_assert_eq(hv_auditlog_sign_head(&fx->log, txn,
			                 &fx->broker,
			                 BASE_MS + (int64_t)i * 1000 + 1),
			    HV_OK);
		if (i % per_txn == 0 || i == to) {
			cr_assert_eq(hv_store_commit(txn), HV_OK);
			txn = NULL;
		}
	}
}

/* Runs verify in a read transaction; returns its code and fills d. */
static hv_err
verify(struct fx *fx, const uint8_t *key, struct hv_errdetail *d)
{
	MDB_txn *txn;
	hv_err err;

	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	err = hv_auditlog_verify(&fx->log, txn, key, d);
	mdb_txn_abort(txn);
	return err;
}

static void
assert_verifies(struct fx *fx)
{
	struct hv_errdetail d;
	hv_err err = verify(fx, fx->broker.pub.sign, &d);

	cr_assert_eq(err, HV_OK, "verify: %s", hv_errmsg(err, &d));
}

static void
assert_tampered(struct fx *fx, const uint8_t *key, const char *want)
{
	struct hv_errdetail d;
	hv_err err = verify(fx, key, &d);

	cr_assert_eq(err, HV_ETAMPERED,
	    "verify returned %s, wanted TAMPERED "
	    "(%s)",
	    hv_errname(err), want);
	cr_assert_str_eq(d.message, want);
}

static void
big_log(struct fx *fx)
{
	fx_open(fx);
	append_range(fx, 0, BIG, 2500, 100);
	assert_verifies(fx);
}

static void
seq_key(uint64_t seq, uint8_t key[8])
{
	hv_be64_put(key, seq);
}

/* Replaces the value of key in database name, in its own transaction. */
static void
poke(struct fx *fx, const char *name, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v = { dlen, (void *)data };

	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	cr_assert_eq(mdb_put(txn, db(fx, name), &k, &v, 0), 0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

static void
drop(struct fx *fx, const char *name, const void *key, size_t klen)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key };

	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	cr_assert_eq(mdb_del(txn, db(fx, name), &k, NULL), 0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

/* Copies the stored value of key into a malloc'd buffer. */
static uint8_t *
peek(struct fx *fx, const char *name, const void *key, size_t klen, size_t *len)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v;
	uint8_t *buf;

	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	cr_assert_eq(mdb_get(txn, db(fx, name), &k, &v), 0);
	buf = malloc(v.mv_size + 1);
	cr_assert_not_null(buf);
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	mdb_txn_abort(txn);
	return buf;
}

/* ---- append, heads and the tree -------------------------------------- */

Test(auditlog, appends_records_that_verify_and_chain)
{
	struct fx fx;
	struct hv_audit_rec r, want;
	struct hv_auditlog_leaves lv;
	Haven__SignedTreeHead *h;
	MDB_txn *txn;
	uint8_t root[32], mroot[32], chain[32], zero[32] = { 0 }, *raw;
	uint64_t size;
	size_t len;

	fx_open(&fx);
	append_range(&fx, 0, 57, 20, 10);
	assert_verifies(&fx);

	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&fx.log, txn, &size, root), HV_OK);
	cr_assert_eq(size, 57);
	lv.log = &fx.log;
	lv.txn = txn;
	cr_assert_eq(hv_merkle_root(hv_auditlog_leaf_fn, &lv, 57, mroot),
	    HV_OK);
	cr_assert_eq(memcmp(root, mroot, 32), 0);

	memset(chain, 0, 32);
	for (uint64_t i = 1; i <= 57; i++) {
		cr_assert_eq(hv_auditlog_get(&fx.log, txn, i, &r), HV_OK);
		make_rec(i, &want);
		cr_assert_eq(r.seq, i);
		cr_assert_eq(r.time_ms, want.time_ms);
		cr_assert_str_eq(r.sender, want.sender);
		cr_assert_str_eq(r.detail, want.detail);
		cr_assert_eq(memcmp(r.prev_hash, chain, 32), 0,
		    "record %llu "
		    "does not chain",
		    (unsigned long long)i);
		cr_assert_eq(hv_auditlog_get_raw(&fx.log, txn, i, &raw, &len),
		    HV_OK);
		crypto_generichash(chain, 32, raw, len, NULL, 0);
		free(raw);
	}
	cr_assert_eq(hv_auditlog_get(&fx.log, txn, 1, &r), HV_OK);
	cr_assert_eq(memcmp(r.prev_hash, zero, 32), 0);
	cr_assert_eq(hv_auditlog_get(&fx.log, txn, 58, &r), HV_ENOTFOUND);

	/* The last head is at 50 (a head every 10), signed by the broker. */
	cr_assert_eq(hv_auditlog_latest_head(&fx.log, txn, &h), HV_OK);
	cr_assert_eq(h->size, 50);
	cr_assert_eq(hv_merkle_root(hv_auditlog_leaf_fn, &lv, 50, mroot),
	    HV_OK);
	cr_assert_eq(h->root.len, 32);
	cr_assert_eq(memcmp(h->root.data, mroot, 32), 0);
	cr_assert_eq(hv_auditlog_head_verify(h, fx.broker.pub.sign), HV_OK);
	h->time++;
	cr_assert_eq(hv_auditlog_head_verify(h, fx.broker.pub.sign),
	    HV_EBADSIG);
	h->time--;
	h->root.len = 31;
	cr_assert_eq(hv_auditlog_head_verify(h, fx.broker.pub.sign),
	    HV_EMALFORMED);
	h->root.len = 32;
	haven__signed_tree_head__free_unpacked(h, NULL);
	mdb_txn_abort(txn);
	fx_close(&fx);
}

Test(auditlog, an_empty_log_has_the_empty_root_and_no_head)
{
	struct fx fx;
	MDB_txn *txn;
	Haven__SignedTreeHead *h = NULL;
	uint8_t root[32], empty[32];
	uint64_t size = 99;

	fx_open(&fx);
	assert_verifies(&fx);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&fx.log, txn, &size, root), HV_OK);
	hv_merkle_empty_root(empty);
	cr_assert_eq(size, 0);
	cr_assert_eq(memcmp(root, empty, 32), 0);
	cr_assert_eq(hv_auditlog_sign_head(&fx.log, txn, &fx.broker, BASE_MS),
	    HV_OK);
	cr_assert_eq(hv_auditlog_latest_head(&fx.log, txn, &h), HV_ENOTFOUND);
	cr_assert_null(h);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	fx_close(&fx);
}

Test(auditlog, signs_a_head_only_when_the_log_grew)
{
	struct fx fx;
	MDB_txn *txn;
	MDB_stat st;
	Haven__SignedTreeHead *h;

	fx_open(&fx);
	append_range(&fx, 0, 5, 5, 1000);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_sign_head(&fx.log, txn, &fx.broker,
	                 BASE_MS + 1),
	    HV_OK);
	cr_assert_eq(hv_auditlog_sign_head(&fx.log, txn, &fx.broker,
	                 BASE_MS + 2),
	    HV_OK);
	cr_assert_eq(mdb_stat(txn, db(&fx, "heads"), &st), 0);
	cr_assert_eq(st.ms_entries, 1);
	cr_assert_eq(hv_auditlog_latest_head(&fx.log, txn, &h), HV_OK);
	cr_assert_eq(h->size, 5);
	cr_assert_eq(h->time, BASE_MS + 1);
	haven__signed_tree_head__free_unpacked(h, NULL);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	append_range(&fx, 5, 6, 5, 1000);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_sign_head(&fx.log, txn, &fx.broker,
	                 BASE_MS + 3),
	    HV_OK);
	cr_assert_eq(mdb_stat(txn, db(&fx, "heads"), &st), 0);
	cr_assert_eq(st.ms_entries, 2);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	assert_verifies(&fx);
	fx_close(&fx);
}

Test(auditlog, an_aborted_transaction_leaves_the_log_as_it_was)
{
	struct fx fx;
	struct hv_audit_rec r;
	MDB_txn *txn;
	uint8_t before[32], after[32];
	uint64_t size;

	fx_open(&fx);
	append_range(&fx, 0, 9, 9, 3);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&fx.log, txn, &size, before), HV_OK);
	mdb_txn_abort(txn);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	for (uint64_t i = 10; i < 15; i++) {
		make_rec(i, &r);
		cr_assert_eq(hv_auditlog_append(&fx.log, txn, &r), HV_OK);
	}
	mdb_txn_abort(txn);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_tree(&fx.log, txn, &size, after), HV_OK);
	mdb_txn_abort(txn);
	cr_assert_eq(size, 9);
	cr_assert_eq(memcmp(before, after, 32), 0);
	append_range(&fx, 9, 12, 9, 3);
	assert_verifies(&fx);
	fx_close(&fx);
}

Test(auditlog, stamps_the_time_when_the_caller_leaves_it_zero)
{
	struct fx fx;
	struct hv_audit_rec r;
	MDB_txn *txn;
	int64_t t0 = hv_now_ms();

	fx_open(&fx);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	make_rec(1, &r);
	r.time_ms = 0;
	cr_assert_eq(hv_auditlog_append(&fx.log, txn, &r), HV_OK);
	cr_assert_geq(r.time_ms, t0);
	cr_assert_leq(r.time_ms, hv_now_ms());
	make_rec(2, &r);
	r.time_ms = -5;
	cr_assert_eq(hv_auditlog_append(&fx.log, txn, &r), HV_EMALFORMED);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	assert_verifies(&fx);
	fx_close(&fx);
}

Test(auditlog, inclusion_and_consistency_proofs_from_the_store_verify)
{
	struct fx fx;
	struct hv_auditlog_leaves lv;
	MDB_txn *txn;
	uint8_t proof[HV_MERKLE_MAX_PROOF][32], leaf[32], r1[32], r2[32];
	uint8_t *raw;
	uint64_t size;
	size_t len, plen;

	fx_open(&fx);
	append_range(&fx, 0, 300, 100, 50);
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	lv.log = &fx.log;
	lv.txn = txn;
	cr_assert_eq(hv_auditlog_tree(&fx.log, txn, &size, r2), HV_OK);
	cr_assert_eq(hv_auditlog_get_raw(&fx.log, txn, 123, &raw, &len), HV_OK);
	hv_merkle_leaf_hash(raw, len, leaf);
	free(raw);
	cr_assert_eq(hv_merkle_inclusion_proof(hv_auditlog_leaf_fn, &lv, 122,
	                 size, proof, &plen),
	    HV_OK);
	cr_assert_eq(hv_merkle_verify_inclusion(leaf, 122, size,
	                 (const uint8_t(*)[32])proof, plen, r2),
	    HV_OK);
	cr_assert_eq(hv_merkle_root(hv_auditlog_leaf_fn, &lv, 150, r1), HV_OK);
	cr_assert_eq(hv_merkle_consistency_proof(hv_auditlog_leaf_fn, &lv, 150,
	                 size, proof, &plen),
	    HV_OK);
	cr_assert_eq(hv_merkle_verify_consistency(150, size, r1, r2,
	                 (const uint8_t(*)[32])proof, plen),
	    HV_OK);
	/* A leaf beyond the log cannot be read. */
	cr_assert_eq(hv_auditlog_leaf_fn(&lv, 300, leaf), -1);
	mdb_txn_abort(txn);
	fx_close(&fx);
}

/* ---- record encoding ------------------------------------------------- */

Test(auditlog, records_round_trip_through_pack_and_unpack)
{
	struct hv_audit_rec r, back;
	uint8_t *buf;
	size_t len;

	make_rec(77, &r);
	r.seq = 77;
	r.has_reply_to = 1;
	memset(r.reply_to, 0x42, HV_ID_LEN);
	snprintf(r.actor, sizeof(r.actor), "ig.bristol");
	snprintf(r.outcome, sizeof(r.outcome), "NOT_SHARED");
	r.flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
	r.has_subject_key_id = 1;
	memset(r.subject_key_id, 0x5a, 8);
	snprintf(r.at, sizeof(r.at), "agent");
	memset(r.prev_hash, 0x99, 32);
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_OK);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &back), HV_OK);
	cr_assert_eq(memcmp(&r, &back, sizeof(r)), 0);
	free(buf);
}

Test(auditlog, fills_a_record_from_an_envelope_without_its_payload)
{
	hv_envelope env;
	struct hv_audit_rec r, back;
	uint8_t ct[64], digest[HV_DIGEST_LEN], *buf;
	size_t len;

	memset(&env, 0, sizeof(env));
	memset(env.id, 0x31, HV_ID_LEN);
	snprintf(env.sender, sizeof(env.sender), "police.avon");
	env.n_recipients = 2;
	snprintf(env.recipients[0], sizeof(env.recipients[0]),
	    "education.st-marys-primary");
	snprintf(env.recipients[1], sizeof(env.recipients[1]),
	    "social-care.bristol");
	snprintf(env.type, sizeof(env.type), "DOMESTIC_ABUSE_NOTIFICATION");
	snprintf(env.priority, sizeof(env.priority), "URGENT");
	env.created = 1790000000;
	snprintf(env.basis.art6, sizeof(env.basis.art6), "PUBLIC_TASK");
	snprintf(env.basis.decided_by, sizeof(env.basis.decided_by), "ds.1");
	memset(env.subject, 0x44, 32);
	env.has_reply_to = 1;
	memset(env.reply_to, 0x55, HV_ID_LEN);
	env.flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
	memset(env.nonce, 0x66, HV_NONCE_LEN);
	memset(ct, 0x77, sizeof(ct));
	env.ciphertext = ct;
	env.ciphertext_len = sizeof(ct);
	memset(env.signature, 0x88, HV_SIGNATURE_LEN);

	memset(&r, 0xff, sizeof(r));
	hv_audit_rec_from_envelope(&r, &env, "SUBMITTED");
	cr_assert_str_eq(r.event, "SUBMITTED");
	cr_assert(r.has_id && memcmp(r.id, env.id, HV_ID_LEN) == 0);
	cr_assert_str_eq(r.sender, "police.avon");
	cr_assert_eq(r.n_recipients, 2);
	cr_assert_str_eq(r.recipients[1], "social-care.bristol");
	cr_assert_str_eq(r.type, "DOMESTIC_ABUSE_NOTIFICATION");
	cr_assert(r.has_basis);
	cr_assert_str_eq(r.basis.decided_by, "ds.1");
	cr_assert(r.has_subject && r.subject[31] == 0x44);
	hv_envelope_digest(&env, digest);
	cr_assert(r.has_digest);
	cr_assert_eq(memcmp(r.digest, digest, HV_DIGEST_LEN), 0);
	cr_assert(r.has_signature && r.signature[0] == 0x88);
	cr_assert(r.has_reply_to && r.reply_to[0] == 0x55);
	cr_assert_eq(r.flags, HV_FLAG_DO_NOT_CONTACT_FAMILY);
	cr_assert_eq(r.created, 1790000000);
	cr_assert_eq(r.seq, 0);
	cr_assert_str_eq(r.reason, "");

	/* The encoding holds no byte of the ciphertext. */
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_OK);
	cr_assert_null(memmem(buf, len, ct, 8));
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &back), HV_OK);
	cr_assert_eq(memcmp(&r, &back, sizeof(r)), 0);
	free(buf);

	/* A decision has no ciphertext, so no digest. */
	env.n_recipients = 0;
	env.ciphertext = NULL;
	env.ciphertext_len = 0;
	snprintf(env.outcome, sizeof(env.outcome), "NOT_SHARED");
	hv_audit_rec_from_envelope(&r, &env, "DECISION_RECORDED");
	cr_assert(!r.has_digest);
	cr_assert_eq(r.n_recipients, 0);
	cr_assert_str_eq(r.outcome, "NOT_SHARED");
}

/* Packs r, appends tail, drops the last cut bytes; returns unpack's verdict. */
static hv_err
unpack_edited(const struct hv_audit_rec *r, const uint8_t *tail,
    size_t tail_len, size_t cut)
{
	struct hv_audit_rec back;
	uint8_t *buf, *edited;
	size_t len;
	hv_err err;

	cr_assert_eq(hv_audit_rec_pack(r, &buf, &len), HV_OK);
	edited = malloc(len + tail_len);
	cr_assert_not_null(edited);
	memcpy(edited, buf, len);
	if (tail_len > 0)
		memcpy(edited + len, tail, tail_len);
	err = hv_audit_rec_unpack(edited, len + tail_len - cut, &back);
	free(edited);
	free(buf);
	return err;
}

Test(auditlog, unpack_refuses_anything_it_would_not_have_written)
{
	struct hv_audit_rec r;
	Haven__AuditRecord m = HAVEN__AUDIT_RECORD__INIT;
	uint8_t prev[32] = { 0 }, id15[15] = { 0 }, buf[512];
	size_t len;
	/* event repeated with an embedded NUL; decodes as "A". */
	static const uint8_t nul_event[] = { 0x1a, 0x03, 'A', 0x00, 'B' };
	/* field 99, unknown to this schema. */
	static const uint8_t unknown[] = { 0x98, 0x06, 0x01 };
	/* sender repeated with bytes that are not UTF-8. */
	static const uint8_t bad_utf8[] = { 0x2a, 0x02, 0xc3, 0x28 };
	/* event repeated, valid: the last one wins, so not canonical. */
	static const uint8_t repeated[] = { 0x1a, 0x01, 'X' };

	make_rec(3, &r);
	cr_assert_eq(unpack_edited(&r, NULL, 0, 0), HV_OK);
	cr_assert_eq(unpack_edited(&r, NULL, 0, 1), HV_EMALFORMED, "truncated");
	cr_assert_eq(unpack_edited(&r, nul_event, sizeof(nul_event), 0),
	    HV_EMALFORMED, "embedded NUL");
	cr_assert_eq(unpack_edited(&r, unknown, sizeof(unknown), 0),
	    HV_EMALFORMED, "unknown field");
	cr_assert_eq(unpack_edited(&r, bad_utf8, sizeof(bad_utf8), 0),
	    HV_EMALFORMED, "not UTF-8");
	cr_assert_eq(unpack_edited(&r, repeated, sizeof(repeated), 0),
	    HV_EMALFORMED, "repeated field");

	/* Bytes fields of the wrong length; prev_hash required. */
	m.prev_hash.len = 32;
	m.prev_hash.data = prev;
	len = haven__audit_record__pack(&m, buf);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &r), HV_OK);
	m.message_id.len = 15;
	m.message_id.data = id15;
	len = haven__audit_record__pack(&m, buf);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &r), HV_EMALFORMED);
	m.message_id.len = 0;
	m.prev_hash.len = 0;
	len = haven__audit_record__pack(&m, buf);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &r), HV_EMALFORMED);
	m.prev_hash.len = 32;
	m.sender = "a-node-id-far-longer-than-the-sixty-four-characters-that-"
	           "fit-in-a-record";
	len = haven__audit_record__pack(&m, buf);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &r), HV_EMALFORMED);
	m.sender = "";
	m.time = -1;
	len = haven__audit_record__pack(&m, buf);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &r), HV_EMALFORMED);
}

/*
 * protobuf-c keeps unknown fields and packs them again, so the canonical
 * check alone let one through inside the basis: the record read back
 * without it, and `audit verify` vouched for bytes no reader can show.
 */
Test(auditlog, refuses_a_record_with_an_unknown_field_inside_its_basis)
{
	uint8_t buf[64] = {
		0x4a, 0x02, 0x38, 0x01, /* basis { field 7: 1 } */
		0x82, 0x01, 0x20, /* prev_hash, 32 zero bytes */
	};
	struct hv_audit_rec r;

	cr_assert_eq(hv_audit_rec_unpack(buf, 7 + 32, &r), HV_EMALFORMED);
	/* The same record with an empty, known basis reads. */
	buf[1] = 0x00;
	memmove(buf + 2, buf + 4, 3 + 32);
	cr_assert_eq(hv_audit_rec_unpack(buf, 5 + 32, &r), HV_OK);
	cr_assert(r.has_basis);
}

/* No bytes at all (a NULL pointer) is refused, never compared. */
Test(auditlog, refuses_an_empty_record_given_as_a_null_pointer)
{
	struct hv_audit_rec r;

	cr_assert_eq(hv_audit_rec_unpack(NULL, 0, &r), HV_EMALFORMED);
}

/*
 * A record the fuzzer found: canonical bytes whose basis carries a clear
 * justification (with a byte that is not UTF-8). Unpacking must refuse
 * what packing would refuse to write, or a reader could vouch for it.
 */
Test(auditlog, unpack_refuses_what_pack_would_refuse_to_write)
{
	const char *src = getenv("HAVEN_SRC");
	char path[512];
	uint8_t buf[4096], *out = NULL;
	size_t n, len;
	struct hv_audit_rec r;
	FILE *fp;

	snprintf(path, sizeof(path),
	    "%s/tests/fuzz/corpus/auditrec/"
	    "regress-clear-justification",
	    src ? src : ".");
	cr_assert_not_null(fp = fopen(path, "rb"), "cannot open %s", path);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	cr_assert_gt(n, 0);
	if (hv_audit_rec_unpack(buf, n, &r) == HV_OK) {
		cr_assert_eq(hv_audit_rec_pack(&r, &out, &len), HV_OK,
		    "unpacked a record that pack refuses to write");
		free(out);
	}
}

Test(auditlog, pack_refuses_unterminated_or_invalid_strings)
{
	struct hv_audit_rec r;
	uint8_t *buf = NULL;
	size_t len;

	make_rec(4, &r);
	memset(r.sender, 'a', sizeof(r.sender));
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_EMALFORMED);
	make_rec(4, &r);
	r.detail[0] = (char)0xff;
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_EMALFORMED);
	make_rec(4, &r);
	r.n_recipients = HV_MAX_RECIPIENTS + 1;
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_EMALFORMED);
	cr_assert_null(buf);
}

/* ---- tampering ------------------------------------------------------- */

Test(auditlog, any_changed_byte_of_a_small_log_is_detected)
{
	struct fx fx;
	uint8_t key[8], *orig, *bad;
	size_t len, hlen;
	char want[64];
	struct hv_errdetail d;

	fx_open(&fx);
	append_range(&fx, 0, 20, 20, 5);
	assert_verifies(&fx);
	/* Every byte of record 10. */
	seq_key(10, key);
	orig = peek(&fx, "audit", key, 8, &len);
	bad = malloc(len);
	cr_assert_not_null(bad);
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, orig, len);
		bad[i] ^= 0x01;
		poke(&fx, "audit", key, 8, bad, len);
		cr_assert_eq(verify(&fx, NULL, &d), HV_ETAMPERED,
		    "byte %zu of record 10", i);
		snprintf(want, sizeof(want), "record 10");
		cr_assert_eq(strncmp(d.message, want, strlen(want)), 0,
		    "byte %zu: %s", i, d.message);
		cr_assert(d.message[9] == ' ' || d.message[9] == ':',
		    "byte %zu: %s", i, d.message);
	}
	poke(&fx, "audit", key, 8, orig, len);
	assert_verifies(&fx);
	free(bad);
	free(orig);
	/* Every byte of the head at size 15. */
	seq_key(15, key);
	orig = peek(&fx, "heads", key, 8, &hlen);
	bad = malloc(hlen);
	cr_assert_not_null(bad);
	for (size_t i = 0; i < hlen; i++) {
		memcpy(bad, orig, hlen);
		bad[i] ^= 0x01;
		poke(&fx, "heads", key, 8, bad, hlen);
		cr_assert_eq(verify(&fx, fx.broker.pub.sign, &d), HV_ETAMPERED,
		    "byte %zu of head 15", i);
		cr_assert_eq(strncmp(d.message, "tree head at size 15", 20), 0,
		    "byte %zu: %s", i, d.message);
	}
	poke(&fx, "heads", key, 8, orig, hlen);
	assert_verifies(&fx);
	free(bad);
	free(orig);
	fx_close(&fx);
}

Test(auditlog, detects_one_changed_byte_in_a_record, .timeout = 120)
{
	struct fx fx;
	uint8_t key[8], *buf;
	size_t len;
	char *p;

	big_log(&fx);
	seq_key(517, key);
	buf = peek(&fx, "audit", key, 8, &len);
	buf[len] = '\0';
	/* Change one character of the detail sentence: still decodes. */
	p = memmem(buf, len, "record 517", 10);
	cr_assert_not_null(p);
	p[9] = '8';
	poke(&fx, "audit", key, 8, buf, len);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "record 517: stored leaf hash does not match the record");
	free(buf);
	fx_close(&fx);
}

Test(auditlog, detects_a_changed_leaf_hash, .timeout = 120)
{
	struct fx fx;
	uint8_t key[8], leaf[32];

	big_log(&fx);
	seq_key(7000, key);
	memset(leaf, 0x77, sizeof(leaf));
	poke(&fx, "leaves", key, 8, leaf, sizeof(leaf));
	assert_tampered(&fx, NULL,
	    "record 7000: stored leaf hash does not match the record");
	fx_close(&fx);
}

Test(auditlog, detects_a_deleted_record, .timeout = 120)
{
	struct fx fx;
	uint8_t key[8];

	big_log(&fx);
	seq_key(42, key);
	drop(&fx, "audit", key, 8);
	assert_tampered(&fx, fx.broker.pub.sign, "record 42 is missing");
	fx_close(&fx);
}

Test(auditlog, detects_two_swapped_records, .timeout = 120)
{
	struct fx fx;
	uint8_t k1[8], k2[8], *a, *b;
	size_t alen, blen;

	big_log(&fx);
	seq_key(100, k1);
	seq_key(200, k2);
	a = peek(&fx, "audit", k1, 8, &alen);
	b = peek(&fx, "audit", k2, 8, &blen);
	poke(&fx, "audit", k1, 8, b, blen);
	poke(&fx, "audit", k2, 8, a, alen);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "record 100: its sequence number field says 200");
	free(a);
	free(b);
	fx_close(&fx);
}

/*
 * Cuts the last ten records and, to hide it, their leaves and the stored
 * tree too. The signed heads still remember the longer log.
 */
Test(auditlog, detects_a_truncated_log_from_its_heads, .timeout = 120)
{
	struct fx fx;
	struct hv_frontier f;
	struct hv_auditlog_leaves lv;
	MDB_txn *txn;
	uint8_t key[8], leaf[32], buf[8 + 64 * 32], sz[8];

	big_log(&fx);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	for (uint64_t i = BIG - 9; i <= BIG; i++) {
		MDB_val k = { 8, key };

		seq_key(i, key);
		cr_assert_eq(mdb_del(txn, db(&fx, "audit"), &k, NULL), 0);
		cr_assert_eq(mdb_del(txn, db(&fx, "leaves"), &k, NULL), 0);
	}
	hv_frontier_init(&f);
	lv.log = &fx.log;
	lv.txn = txn;
	for (uint64_t i = 0; i < BIG - 10; i++) {
		cr_assert_eq(hv_auditlog_leaf_fn(&lv, i, leaf), 0);
		hv_frontier_append(&f, leaf);
	}
	hv_be64_put(buf, f.size);
	memcpy(buf + 8, f.hash, f.n * 32);
	hv_be64_put(sz, f.size);
	{
		MDB_val k = { 8, "frontier" }, v = { 8 + f.n * 32, buf };
		MDB_val ks = { 4, "size" }, vs = { 8, sz };

		cr_assert_eq(mdb_put(txn, db(&fx, "meta"), &k, &v, 0), 0);
		cr_assert_eq(mdb_put(txn, db(&fx, "meta"), &ks, &vs, 0), 0);
	}
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	assert_tampered(&fx, NULL,
	    "record 9991 is missing (the store "
	    "accounts for 10000 records)");
	fx_close(&fx);
}

Test(auditlog, detects_an_altered_index_entry, .timeout = 120)
{
	struct fx fx;
	struct hv_audit_rec r;
	uint8_t key[80];
	size_t n;

	big_log(&fx);
	make_rec(517, &r);
	n = strlen(r.sender);
	memcpy(key, r.sender, n);
	key[n] = 0;
	seq_key(517, key + n + 1);
	drop(&fx, "ix_sender", key, n + 9);
	memcpy(key, "police.evil", 12);
	seq_key(517, key + 12);
	poke(&fx, "ix_sender", key, 20, "", 0);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "record 517: its ix_sender entry is missing");
	fx_close(&fx);
}

Test(auditlog, detects_an_index_entry_that_matches_no_record, .timeout = 120)
{
	struct fx fx;
	uint8_t key[40];

	big_log(&fx);
	memset(key, 0xee, 32);
	seq_key(300, key + 32);
	poke(&fx, "ix_subject", key, 40, "", 0);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "ix_subject: an entry for record 300 does not match the record");
	fx_close(&fx);
}

Test(auditlog, detects_an_altered_head, .timeout = 120)
{
	struct fx fx;
	Haven__SignedTreeHead *h;
	uint8_t key[8], *buf, out[256];
	size_t len;

	big_log(&fx);
	seq_key(900, key);
	buf = peek(&fx, "heads", key, 8, &len);
	h = haven__signed_tree_head__unpack(NULL, len, buf);
	cr_assert_not_null(h);
	h->root.data[5] ^= 0x20;
	len = haven__signed_tree_head__pack(h, out);
	poke(&fx, "heads", key, 8, out, len);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "tree head at size 900: signature does not verify");
	/* Without the broker's key the root still gives it away. */
	assert_tampered(&fx, NULL,
	    "tree head at size 900: root does not match the records");
	haven__signed_tree_head__free_unpacked(h, NULL);
	free(buf);
	fx_close(&fx);
}

/*
 * A deleted tree head leaves no hole in the records, so the store numbers
 * its heads as it signs them; verify names the one that is missing.
 */
Test(auditlog, detects_a_deleted_tree_head_from_the_heads_numbering,
    .timeout = 120)
{
	struct fx fx;
	uint8_t key[8];

	big_log(&fx);
	seq_key(900, key);
	drop(&fx, "heads", key, 8);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "tree head 9 of 100, at size 900, is missing");
	fx_close(&fx);
}

/* The newest head, which no record and no later head remembers. */
Test(auditlog, detects_the_newest_tree_head_deleted, .timeout = 120)
{
	struct fx fx;
	uint8_t key[8];

	big_log(&fx);
	seq_key(BIG, key);
	drop(&fx, "heads", key, 8);
	assert_tampered(&fx, fx.broker.pub.sign,
	    "tree head 100 of 100, at size 10000, is missing");
	fx_close(&fx);
}

/*
 * A store whose heads were signed before they were numbered does not verify
 * until the broker signs its next head, which numbers the old ones first.
 */
Test(auditlog, numbers_the_heads_of_an_older_store_at_its_next_head,
    .timeout = 120)
{
	struct fx fx;
	uint8_t key[16];

	fx_open(&fx);
	append_range(&fx, 0, 50, 50, 10);
	assert_verifies(&fx);
	drop(&fx, "meta", "heads", 5);
	for (uint64_t i = 1; i <= 5; i++) {
		memcpy(key, "head#", 5);
		hv_be64_put(key + 5, i);
		drop(&fx, "meta", key, 13);
	}
	assert_tampered(&fx, NULL,
	    "the store holds 5 tree heads but no record of how many it signed");
	append_range(&fx, 50, 60, 60, 10);
	assert_verifies(&fx);
	seq_key(20, key);
	drop(&fx, "heads", key, 8);
	assert_tampered(&fx, NULL, "tree head 2 of 6, at size 20, is missing");
	fx_close(&fx);
}

Test(auditlog, detects_heads_signed_by_another_key, .timeout = 120)
{
	struct fx fx;
	uint8_t pk[32], sk[64];

	big_log(&fx);
	crypto_sign_keypair(pk, sk);
	assert_tampered(&fx, pk,
	    "tree head at size 100: signature does not verify");
	fx_close(&fx);
}

/* ---- queries --------------------------------------------------------- */

struct got {
	size_t n;
	uint64_t seq[BIG];
	size_t stop_after; /* 0: never stop */
};

static int
collect(void *ctx, const struct hv_audit_rec *r)
{
	struct got *g = ctx;

	g->seq[g->n++] = r->seq;
	return g->stop_after != 0 && g->n >= g->stop_after;
}

/* The filter's meaning, written out plainly over the generator. */
static int
expect_match(uint64_t i, const struct hv_audit_filter *f)
{
	struct hv_audit_rec r;
	int ok;

	make_rec(i, &r);
	if (f->has_id && memcmp(r.id, f->id, HV_ID_LEN) != 0)
		return 0;
	if (f->has_subject &&
	    (!r.has_subject || memcmp(r.subject, f->subject, 32) != 0))
		return 0;
	if (f->sender && strcmp(f->sender, r.sender) != 0)
		return 0;
	if (f->recipient) {
		ok = 0;
		for (size_t j = 0; j < r.n_recipients; j++)
			ok |= strcmp(f->recipient, r.recipients[j]) == 0;
		if (!ok)
			return 0;
	}
	if (f->role) {
		size_t n = strlen(f->role);

		ok = strncmp(r.sender, f->role, n) == 0 && r.sender[n] == '.';
		for (size_t j = 0; j < r.n_recipients; j++)
			ok |= strncmp(r.recipients[j], f->role, n) == 0 &&
			    r.recipients[j][n] == '.';
		if (!ok)
			return 0;
	}
	if (f->event && strcmp(f->event, r.event) != 0)
		return 0;
	if (f->type && strcmp(f->type, r.type) != 0)
		return 0;
	if (f->since_ms && r.time_ms < f->since_ms)
		return 0;
	if (f->until_ms && r.time_ms > f->until_ms)
		return 0;
	return 1;
}

static struct got *
run_query(struct fx *fx, const struct hv_audit_filter *f, hv_err want)
{
	struct got *g = calloc(1, sizeof(*g));
	MDB_txn *txn;

	cr_assert_not_null(g);
	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_query(&fx->log, txn, f, collect, g), want);
	mdb_txn_abort(txn);
	return g;
}

/* The query returns exactly the expected records, in seq order. */
static void
check_query(struct fx *fx, uint64_t n, const struct hv_audit_filter *f,
    const char *what)
{
	struct got *g = run_query(fx, f, HV_OK);
	size_t k = 0;

	for (uint64_t i = 1; i <= n; i++) {
		if (!expect_match(i, f))
			continue;
		if (f->limit && k == f->limit)
			break;
		cr_assert_lt(k, g->n, "%s: record %llu not returned", what,
		    (unsigned long long)i);
		cr_assert_eq(g->seq[k], i,
		    "%s: result %zu is %llu, wanted "
		    "%llu",
		    what, k, (unsigned long long)g->seq[k],
		    (unsigned long long)i);
		k++;
	}
	cr_assert_eq(g->n, k, "%s: %zu results, wanted %zu", what, g->n, k);
	cr_assert_gt(k, 0, "%s: a query that matches nothing tests nothing",
	    what);
	free(g);
}

#define QN 3000

Test(auditlog, queries_return_exactly_the_matching_records, .timeout = 120)
{
	struct fx fx;
	struct hv_audit_filter f;

	fx_open(&fx);
	append_range(&fx, 0, QN, 1000, 100);

	memset(&f, 0, sizeof(f));
	subject_of(5, f.subject);
	f.has_subject = 1;
	check_query(&fx, QN, &f, "subject");

	memset(&f, 0, sizeof(f));
	msg_id(1234, f.id);
	f.has_id = 1;
	check_query(&fx, QN, &f, "message id");

	memset(&f, 0, sizeof(f));
	f.sender = "health.bristol-royal";
	check_query(&fx, QN, &f, "sender");

	memset(&f, 0, sizeof(f));
	f.recipient = "police.avon";
	check_query(&fx, QN, &f, "recipient");

	memset(&f, 0, sizeof(f));
	f.role = "education";
	check_query(&fx, QN, &f, "role");

	memset(&f, 0, sizeof(f));
	f.event = "REJECTED";
	f.type = "REFERRAL";
	check_query(&fx, QN, &f, "event and type");

	memset(&f, 0, sizeof(f));
	f.sender = "police.avon";
	f.recipient = "health.bristol-royal";
	f.event = "SUBMITTED";
	check_query(&fx, QN, &f, "sender, recipient and event");

	memset(&f, 0, sizeof(f));
	subject_of(11, f.subject);
	f.has_subject = 1;
	f.since_ms = time_of(1000);
	f.until_ms = time_of(2001);
	check_query(&fx, QN, &f, "subject in a time range");

	/* Times step back every seventh record: still seq order. */
	memset(&f, 0, sizeof(f));
	f.since_ms = time_of(700) - 3000;
	f.until_ms = time_of(900);
	check_query(&fx, QN, &f, "time range");

	memset(&f, 0, sizeof(f));
	f.since_ms = time_of(2990);
	check_query(&fx, QN, &f, "since");

	memset(&f, 0, sizeof(f));
	f.sender = "police.avon";
	f.limit = 17;
	check_query(&fx, QN, &f, "sender with a limit");

	memset(&f, 0, sizeof(f));
	f.limit = 5;
	check_query(&fx, QN, &f, "everything with a limit");
	fx_close(&fx);
}

Test(auditlog, queries_that_match_nothing_return_nothing)
{
	struct fx fx;
	struct hv_audit_filter f;
	struct got *g;
	char longname[200];

	fx_open(&fx);
	append_range(&fx, 0, 100, 100, 100);
	memset(&f, 0, sizeof(f));
	f.sender = "police.unknown";
	g = run_query(&fx, &f, HV_OK);
	cr_assert_eq(g->n, 0);
	free(g);
	/* A prefix of a node id is not that node. */
	f.sender = "police.av";
	g = run_query(&fx, &f, HV_OK);
	cr_assert_eq(g->n, 0);
	free(g);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	f.sender = longname;
	g = run_query(&fx, &f, HV_OK);
	cr_assert_eq(g->n, 0);
	free(g);
	memset(&f, 0, sizeof(f));
	f.has_subject = 1;
	memset(f.subject, 0xee, 32);
	g = run_query(&fx, &f, HV_OK);
	cr_assert_eq(g->n, 0);
	free(g);
	memset(&f, 0, sizeof(f));
	f.until_ms = BASE_MS - 1;
	g = run_query(&fx, &f, HV_OK);
	cr_assert_eq(g->n, 0);
	free(g);
	fx_close(&fx);
}

Test(auditlog, a_callback_can_stop_a_query)
{
	struct fx fx;
	struct hv_audit_filter f;
	struct got *g = calloc(1, sizeof(*g));
	MDB_txn *txn;

	cr_assert_not_null(g);
	fx_open(&fx);
	append_range(&fx, 0, 100, 100, 100);
	memset(&f, 0, sizeof(f));
	f.role = "police";
	g->stop_after = 3;
	cr_assert_eq(hv_store_begin(fx.s, 1, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_query(&fx.log, txn, &f, collect, g), HV_OK);
	mdb_txn_abort(txn);
	cr_assert_eq(g->n, 3);
	free(g);
	fx_close(&fx);
}

/*
 * An indexed query reads only the records its index names: with another
 * record made unreadable it still answers, while a scan trips over it.
 */
Test(auditlog, indexed_queries_do_not_scan_the_log)
{
	struct fx fx;
	struct hv_audit_filter f;
	struct hv_audit_rec r;
	struct got *g;
	uint8_t key[8], junk[4] = { 0xff, 0xff, 0xff, 0xff };

	fx_open(&fx);
	append_range(&fx, 0, 400, 400, 100);
	/* Record 10: sender social-care, subject 10 % 37, has_subject 0. */
	make_rec(10, &r);
	seq_key(10, key);
	poke(&fx, "audit", key, 8, junk, sizeof(junk));

	memset(&f, 0, sizeof(f));
	f.sender = "police.avon";
	check_query(&fx, 400, &f, "sender, past a broken record");
	memset(&f, 0, sizeof(f));
	subject_of(3, f.subject);
	f.has_subject = 1;
	check_query(&fx, 400, &f, "subject, past a broken record");
	memset(&f, 0, sizeof(f));
	msg_id(200, f.id);
	f.has_id = 1;
	check_query(&fx, 400, &f, "message id, past a broken record");
	memset(&f, 0, sizeof(f));
	f.since_ms = time_of(300);
	check_query(&fx, 400, &f, "time range, past a broken record");

	memset(&f, 0, sizeof(f));
	f.event = "SUBMITTED";
	g = run_query(&fx, &f, HV_EMALFORMED);
	free(g);
	/* An index naming the broken record reports it. */
	memset(&f, 0, sizeof(f));
	f.sender = r.sender;
	g = run_query(&fx, &f, HV_EMALFORMED);
	free(g);
	fx_close(&fx);
}

/*
 * SPEC §9: a record holds no free text in clear. A refused envelope may
 * carry a clear justification or a name as decided_by; neither reaches
 * the record, while the sealed justification and a staff identifier do,
 * and survive the record's encoding.
 */
Test(auditlog, keeps_no_clear_justification_or_free_text_decided_by)
{
	hv_envelope env;
	struct hv_audit_rec r, back;
	uint8_t *buf;
	size_t len;

	memset(&env, 0, sizeof(env));
	memset(env.id, 0x31, HV_ID_LEN);
	snprintf(env.sender, sizeof(env.sender), "police.avon");
	snprintf(env.basis.art6, sizeof(env.basis.art6), "PUBLIC_TASK");
	snprintf(env.basis.justification, sizeof(env.basis.justification),
	    "Zebedee Marker was seen at A&E");
	snprintf(env.basis.decided_by, sizeof(env.basis.decided_by),
	    "Zebedee Marker");
	hv_audit_rec_from_envelope(&r, &env, "REJECTED");
	cr_assert_str_eq(r.basis.justification, "");
	cr_assert_str_eq(r.basis.decided_by, "");
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_OK);
	cr_assert_null(memmem(buf, len, "Zebedee", 7));
	free(buf);

	snprintf(env.basis.decided_by, sizeof(env.basis.decided_by),
	    "ppu.sgt-khan");
	env.basis.justification[0] = '\0';
	env.basis.justification_len = 30;
	env.basis.sealed_len = HV_NONCE_LEN + 30 + HV_AEAD_TAG_LEN;
	memset(env.basis.sealed, 0x5a, env.basis.sealed_len);
	env.basis.n_sealed_for = 1;
	snprintf(env.basis.sealed_for[0], sizeof(env.basis.sealed_for[0]),
	    "ig.bristol");
	memset(env.basis.sealed_keys[0], 0x6b, HV_SEALED_KEY_LEN);
	hv_audit_rec_from_envelope(&r, &env, "SUBMITTED");
	cr_assert_str_eq(r.basis.decided_by, "ppu.sgt-khan");
	cr_assert_eq(hv_audit_rec_pack(&r, &buf, &len), HV_OK);
	cr_assert_eq(hv_audit_rec_unpack(buf, len, &back), HV_OK);
	cr_assert_eq(back.basis.justification_len, 30);
	cr_assert_eq(back.basis.sealed_len, env.basis.sealed_len);
	cr_assert_eq(memcmp(back.basis.sealed, env.basis.sealed,
	                 env.basis.sealed_len),
	    0);
	cr_assert_str_eq(back.basis.sealed_for[0], "ig.bristol");
	cr_assert_eq(back.basis.sealed_keys[0][79], 0x6b);
	free(buf);
}

/* ---- the broker's rotation (SPEC §13) ---------------------------------- */

/* Runs verify_at with the current key and the previous ones. */
static hv_err
verify_at(struct fx *fx, const uint8_t *key, const struct hv_prev_signs *prev,
    struct hv_errdetail *d)
{
	MDB_txn *txn;
	hv_err err;

	cr_assert_eq(hv_store_begin(fx->s, 1, &txn), HV_OK);
	err = hv_auditlog_verify_at(&fx->log, txn, key, prev, d);
	mdb_txn_abort(txn);
	return err;
}

Test(auditlog,
    heads_signed_before_the_brokers_rotation_verify_with_its_previous_key)
{
	struct hv_prev_signs prev = { 0 };
	struct hv_errdetail d;
	struct fx fx;

	fx_open(&fx);
	/* Heads at sizes 5 and 10 by the old key, the last at BASE_MS+10001. */
	append_range(&fx, 0, 10, 5, 5);
	prev.n = 1;
	memcpy(prev.k[0].sign, fx.broker.pub.sign, 32);
	prev.k[0].until_ms = BASE_MS + 10001;
	crypto_sign_keypair(fx.broker.pub.sign, fx.broker.sign_secret);
	append_range(&fx, 10, 20, 5, 5);
	cr_assert_eq(verify_at(&fx, fx.broker.pub.sign, &prev, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(verify_at(&fx, fx.broker.pub.sign, NULL, &d),
	    HV_ETAMPERED);
	cr_assert_str_eq(d.message,
	    "tree head at size 5: signature does not "
	    "verify");
	/* The old key did not vouch for a head made after its end. */
	prev.k[0].until_ms = BASE_MS + 10000;
	cr_assert_eq(verify_at(&fx, fx.broker.pub.sign, &prev, &d),
	    HV_ETAMPERED);
	cr_assert_str_eq(d.message,
	    "tree head at size 10: signature does not "
	    "verify");
	fx_close(&fx);
}
