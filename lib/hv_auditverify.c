/*
 * hv_auditverify — hv_auditlog_verify: checks a whole audit store (SPEC §9)
 * in one ordered walk over the records, recomputing the hash chain, the
 * leaf hashes, the index entries and the Merkle tree, and checking each
 * stored tree head when the walk reaches its size.
 *
 * It owns the sentences that name the first bad item ("record 42 is
 * missing") and nothing else: it only reads, in the caller's transaction,
 * and takes the store's layout from hv_auditlog_int.h so that it checks
 * exactly what hv_auditlog.c writes. It must never write or repair the
 * store, and never logs; a sentence names a record or database, never a
 * field's value.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_auditlog_int.h"
#include "hv_util.h"

/* ---- verification ---------------------------------------------------- */

struct verify {
	hv_auditlog *log;
	MDB_txn *txn;
	const uint8_t *broker_sign;
	const struct hv_prev_signs *prev; /* the broker's earlier keys */
	struct hv_errdetail *d;
	struct hv_frontier f;
	MDB_cursor *heads;
	int heads_done;
	MDB_val hk, hv; /* the next head not yet checked */
	size_t ix_count[N_IX];
};

#define TAMPERED(vf, db, ...) \
	hv_errset((vf)->d, HV_ETAMPERED, hv_auditlog_dbnames[db], __VA_ARGS__)

static unsigned long long
ull(uint64_t v)
{
	return (unsigned long long)v;
}

/* Reads an optional 8-byte integer from meta; HV_ENOTFOUND when absent. */
static hv_err
meta_u64(hv_auditlog *log, MDB_txn *txn, const char *name, uint64_t *out)
{
	MDB_val k = val(name, strlen(name)), v;
	int rc;

	if ((rc = mdb_get(txn, dbi(log, DB_META), &k, &v)) != 0)
		return hv_store_err(rc);
	if (v.mv_size != 8)
		return HV_ETAMPERED;
	*out = hv_be64_get(v.mv_data);
	return HV_OK;
}

/* The last key of db as an integer; 0 when empty. */
static hv_err
last_key(hv_auditlog *log, MDB_txn *txn, int db, uint64_t *out, int *bad)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*bad = 0;
	if ((rc = mdb_cursor_open(txn, dbi(log, db), &c)) != 0)
		return hv_store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return HV_OK;
	}
	if (rc != 0)
		return hv_store_err(rc);
	if (k.mv_size != 8)
		*bad = 1;
	else
		*out = hv_be64_get(k.mv_data);
	return HV_OK;
}

/* Checks the heads whose size the walk has reached (vf->f.size). */
static hv_err
verify_heads(struct verify *vf)
{
	uint8_t root[HV_HASH_LEN];
	Haven__SignedTreeHead *h;
	uint64_t size;
	hv_err err;
	int rc;

	while (!vf->heads_done) {
		if (vf->hk.mv_size != 8)
			return TAMPERED(vf, DB_HEADS,
			    "the heads database "
			    "holds an entry with a malformed key");
		size = hv_be64_get(vf->hk.mv_data);
		if (size > vf->f.size)
			return HV_OK;
		if ((h = haven__signed_tree_head__unpack(NULL, vf->hv.mv_size,
		         vf->hv.mv_data)) == NULL)
			return TAMPERED(vf, DB_HEADS,
			    "tree head at size %llu "
			    "cannot be decoded",
			    ull(size));
		hv_frontier_root(&vf->f, root);
		if (h->size != size)
			err = TAMPERED(vf, DB_HEADS,
			    "tree head at size %llu: "
			    "its size field says %llu",
			    ull(size), ull(h->size));
		else if (h->root.len != HV_HASH_LEN ||
		    h->signature.len != crypto_sign_BYTES)
			err = TAMPERED(vf, DB_HEADS,
			    "tree head at size %llu "
			    "is malformed",
			    ull(size));
		else if (vf->broker_sign != NULL &&
		    hv_auditlog_head_verify_at(h, vf->broker_sign, vf->prev) !=
		        HV_OK)
			err = TAMPERED(vf, DB_HEADS,
			    "tree head at size %llu: "
			    "signature does not verify",
			    ull(size));
		else if (sodium_memcmp(h->root.data, root, HV_HASH_LEN) != 0)
			err = TAMPERED(vf, DB_HEADS,
			    "tree head at size %llu: "
			    "root does not match the records",
			    ull(size));
		else
			err = HV_OK;
		haven__signed_tree_head__free_unpacked(h, NULL);
		if (err != HV_OK)
			return err;
		rc = mdb_cursor_get(vf->heads, &vf->hk, &vf->hv, MDB_NEXT);
		if (rc == MDB_NOTFOUND)
			vf->heads_done = 1;
		else if (rc != 0)
			return hv_store_err(rc);
	}
	return HV_OK;
}

/* Checks one record (key seq, bytes v) against its chain link and leaf. */
static hv_err
verify_record(struct verify *vf, uint64_t seq, const MDB_val *v,
    const uint8_t chain[CHAIN_LEN], struct hv_audit_rec *r)
{
	uint8_t key[8], leaf[HV_HASH_LEN];
	struct ixkeys ks;
	MDB_val k = val(key, 8), lv;
	hv_err err;
	int rc;

	if ((err = hv_audit_rec_unpack(v->mv_data, v->mv_size, r)) != HV_OK)
		return err == HV_ENOMEM ?
		    err :
		    TAMPERED(vf, DB_AUDIT, "record %llu cannot be decoded",
		        ull(seq));
	if (r->seq != seq)
		return TAMPERED(vf, DB_AUDIT,
		    "record %llu: its sequence "
		    "number field says %llu",
		    ull(seq), ull(r->seq));
	if (sodium_memcmp(r->prev_hash, chain, CHAIN_LEN) != 0)
		return seq == 1 ? TAMPERED(vf, DB_AUDIT,
		                      "record 1: its "
		                      "previous-record hash is not zero") :
		                  TAMPERED(vf, DB_AUDIT,
		                      "record %llu: its previous-record "
		                      "hash does not match record %llu",
		                      ull(seq), ull(seq - 1));
	hv_merkle_leaf_hash(v->mv_data, v->mv_size, leaf);
	hv_be64_put(key, seq);
	rc = mdb_get(vf->txn, dbi(vf->log, DB_LEAVES), &k, &lv);
	if (rc == MDB_NOTFOUND)
		return TAMPERED(vf, DB_LEAVES,
		    "record %llu has no stored "
		    "leaf hash",
		    ull(seq));
	if (rc != 0)
		return hv_store_err(rc);
	if (lv.mv_size != HV_HASH_LEN ||
	    sodium_memcmp(lv.mv_data, leaf, HV_HASH_LEN) != 0)
		return TAMPERED(vf, DB_LEAVES,
		    "record %llu: stored leaf hash "
		    "does not match the record",
		    ull(seq));
	hv_auditlog_index_keys(r, &ks);
	for (size_t i = 0; i < ks.n; i++) {
		MDB_val ik = val(ks.k[i].key, ks.k[i].len), iv;
		int db = ks.k[i].db;

		rc = mdb_get(vf->txn, dbi(vf->log, db), &ik, &iv);
		if (rc == MDB_NOTFOUND)
			return TAMPERED(vf, db,
			    "record %llu: its %s entry is "
			    "missing",
			    ull(seq), hv_auditlog_dbnames[db]);
		if (rc != 0)
			return hv_store_err(rc);
		if (iv.mv_size != 0)
			return TAMPERED(vf, db,
			    "record %llu: its %s entry "
			    "has been altered",
			    ull(seq), hv_auditlog_dbnames[db]);
		vf->ix_count[db - DB_IX_SUBJECT]++;
	}
	hv_frontier_append(&vf->f, leaf);
	return HV_OK;
}

/*
 * Finds the entry of index db that matches no record. Runs only when the
 * index holds more entries than the records account for, so its cost
 * (decoding the record each entry names) is paid only on a tampered store.
 */
static hv_err
verify_index_extra(struct verify *vf, int db, uint64_t n)
{
	const char *name = hv_auditlog_dbnames[db];
	struct hv_audit_rec *r;
	struct ixkeys ks;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t seq;
	hv_err err = HV_OK;
	int rc, found;

	if ((r = malloc(sizeof(*r))) == NULL)
		return HV_ENOMEM;
	if ((rc = mdb_cursor_open(vf->txn, dbi(vf->log, db), &c)) != 0) {
		free(r);
		return hv_store_err(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 9) {
			err =
			    TAMPERED(vf, db, "%s: an entry is malformed", name);
			break;
		}
		seq = hv_be64_get((const uint8_t *)k.mv_data + k.mv_size - 8);
		if (seq == 0 || seq > n) {
			err = TAMPERED(vf, db,
			    "%s: an entry names record %llu, "
			    "which does not exist",
			    name, ull(seq));
			break;
		}
		if ((err = hv_auditlog_get(vf->log, vf->txn, seq, r)) != HV_OK)
			break;
		hv_auditlog_index_keys(r, &ks);
		found = 0;
		for (size_t i = 0; i < ks.n && !found; i++)
			found = ks.k[i].db == db && ks.k[i].len == k.mv_size &&
			    memcmp(ks.k[i].key, k.mv_data, k.mv_size) == 0;
		if (!found) {
			err = TAMPERED(vf, db,
			    "%s: an entry for record %llu "
			    "does not match the record",
			    name, ull(seq));
			break;
		}
	}
	if (err == HV_OK)
		err = rc == MDB_NOTFOUND ? TAMPERED(vf, db,
		                               "%s holds entries "
		                               "that match no record",
		                               name) :
		                           hv_store_err(rc);
	mdb_cursor_close(c);
	free(r);
	return err;
}

/* After the walk: extra leaves and index entries, and the stored tree. */
static hv_err
verify_tail(struct verify *vf, uint64_t n)
{
	struct hv_frontier stored;
	MDB_stat st;
	uint64_t msize;
	hv_err err;
	int rc;

	if ((rc = mdb_stat(vf->txn, dbi(vf->log, DB_LEAVES), &st)) != 0)
		return hv_store_err(rc);
	if (st.ms_entries != n)
		return TAMPERED(vf, DB_LEAVES,
		    "the leaves database holds "
		    "%llu leaf hashes for %llu records",
		    ull(st.ms_entries), ull(n));
	for (int db = DB_IX_SUBJECT; db <= DB_IX_MESSAGE; db++) {
		if ((rc = mdb_stat(vf->txn, dbi(vf->log, db), &st)) != 0)
			return hv_store_err(rc);
		if (st.ms_entries != vf->ix_count[db - DB_IX_SUBJECT])
			return verify_index_extra(vf, db, n);
	}
	err = hv_auditlog_frontier_load(vf->log, vf->txn, &stored);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META, "the stored tree is malformed");
	if (err != HV_OK)
		return err;
	if (stored.size != vf->f.size || stored.n != vf->f.n ||
	    memcmp(stored.hash, vf->f.hash, stored.n * HV_HASH_LEN) != 0)
		return TAMPERED(vf, DB_META,
		    "the stored tree does not match "
		    "the %llu records",
		    ull(n));
	err = meta_u64(vf->log, vf->txn, HV_AUDITLOG_META_SIZE, &msize);
	if (err == HV_ENOTFOUND && n == 0)
		return HV_OK;
	if (err == HV_ETAMPERED || err == HV_ENOTFOUND ||
	    (err == HV_OK && msize != n))
		return TAMPERED(vf, DB_META,
		    "the stored log size does not "
		    "match the %llu records",
		    ull(n));
	return err;
}

/*
 * The heads against their numbering: head 1..count each numbered with a
 * growing size and present in heads, and heads holding no others. Only
 * their count and sizes are checked here; verify_heads checked each one.
 */
static hv_err
verify_head_numbers(struct verify *vf)
{
	static const char count_key[] = HV_AUDITLOG_META_HEADS;
	uint8_t nk[HV_AUDITLOG_HEADKEY_LEN], sk[8];
	MDB_val k = val(count_key, sizeof(count_key) - 1), v, hk, hv;
	uint64_t count, size, last = 0;
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(vf->txn, dbi(vf->log, DB_HEADS), &st)) != 0)
		return hv_store_err(rc);
	rc = mdb_get(vf->txn, dbi(vf->log, DB_META), &k, &v);
	if (rc == MDB_NOTFOUND && st.ms_entries == 0)
		return HV_OK;
	if (rc == MDB_NOTFOUND)
		return TAMPERED(vf, DB_META,
		    "the store holds %llu tree heads "
		    "but no record of how many it signed",
		    ull(st.ms_entries));
	if (rc != 0)
		return hv_store_err(rc);
	if (v.mv_size != 8)
		return TAMPERED(vf, DB_META,
		    "the stored count of tree heads "
		    "is malformed");
	count = hv_be64_get(v.mv_data);
	for (uint64_t i = 1; i <= count; i++) {
		hv_auditlog_headkey(i, nk);
		k = val(nk, sizeof(nk));
		rc = mdb_get(vf->txn, dbi(vf->log, DB_META), &k, &v);
		if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 8))
			return TAMPERED(vf, DB_META,
			    "the store signed %llu "
			    "tree heads but the size of head %llu is %s",
			    ull(count), ull(i),
			    rc == 0 ? "malformed" : "not recorded");
		if (rc != 0)
			return hv_store_err(rc);
		size = hv_be64_get(v.mv_data);
		if (size <= last)
			return TAMPERED(vf, DB_META,
			    "tree head %llu of %llu "
			    "is recorded at size %llu, not after head %llu",
			    ull(i), ull(count), ull(size), ull(i - 1));
		last = size;
		hv_be64_put(sk, size);
		hk = val(sk, 8);
		rc = mdb_get(vf->txn, dbi(vf->log, DB_HEADS), &hk, &hv);
		if (rc == MDB_NOTFOUND)
			return TAMPERED(vf, DB_HEADS,
			    "tree head %llu of %llu, "
			    "at size %llu, is missing",
			    ull(i), ull(count), ull(size));
		if (rc != 0)
			return hv_store_err(rc);
	}
	if (st.ms_entries != count)
		return TAMPERED(vf, DB_HEADS,
		    "the heads database holds %llu "
		    "tree heads; the store signed %llu",
		    ull(st.ms_entries), ull(count));
	return HV_OK;
}

/*
 * The size the store claims elsewhere than in "audit": the stored size and
 * frontier, the last leaf and the last head. A walk that ends before it has
 * lost records off the end.
 */
static hv_err
claimed_size(struct verify *vf, uint64_t *claim)
{
	struct hv_frontier f;
	uint64_t v;
	hv_err err;
	int bad;

	*claim = 0;
	err = meta_u64(vf->log, vf->txn, HV_AUDITLOG_META_SIZE, &v);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META,
		    "the stored log size is "
		    "malformed");
	if (err == HV_OK && v > *claim)
		*claim = v;
	else if (err != HV_OK && err != HV_ENOTFOUND)
		return err;
	err = hv_auditlog_frontier_load(vf->log, vf->txn, &f);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META, "the stored tree is malformed");
	if (err != HV_OK)
		return err;
	if (f.size > *claim)
		*claim = f.size;
	if ((err = last_key(vf->log, vf->txn, DB_LEAVES, &v, &bad)) != HV_OK)
		return err;
	if (bad)
		return TAMPERED(vf, DB_LEAVES,
		    "the leaves database holds an "
		    "entry with a malformed key");
	if (v > *claim)
		*claim = v;
	if ((err = last_key(vf->log, vf->txn, DB_HEADS, &v, &bad)) != HV_OK)
		return err;
	if (bad)
		return TAMPERED(vf, DB_HEADS,
		    "the heads database holds an "
		    "entry with a malformed key");
	if (v > *claim)
		*claim = v;
	return HV_OK;
}

hv_err
hv_auditlog_verify(hv_auditlog *log, MDB_txn *txn, const uint8_t *broker_sign,
    struct hv_errdetail *d)
{
	return hv_auditlog_verify_at(log, txn, broker_sign, NULL, d);
}

hv_err
hv_auditlog_verify_at(hv_auditlog *log, MDB_txn *txn,
    const uint8_t *broker_sign, const struct hv_prev_signs *prev,
    struct hv_errdetail *d)
{
	struct verify *vf;
	struct hv_audit_rec *r = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint8_t chain[CHAIN_LEN];
	uint64_t n = 0, seq, claim;
	hv_err err;
	int rc;

	hv_errclear(d);
	if ((vf = calloc(1, sizeof(*vf))) == NULL ||
	    (r = malloc(sizeof(*r))) == NULL) {
		free(vf);
		return HV_ENOMEM;
	}
	vf->log = log;
	vf->txn = txn;
	vf->broker_sign = broker_sign;
	vf->prev = prev;
	vf->d = d;
	hv_frontier_init(&vf->f);
	if ((err = claimed_size(vf, &claim)) != HV_OK)
		goto out;
	if ((rc = mdb_cursor_open(txn, dbi(log, DB_HEADS), &vf->heads)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi(log, DB_AUDIT), &c)) != 0) {
		err = hv_store_err(rc);
		goto out;
	}
	rc = mdb_cursor_get(vf->heads, &vf->hk, &vf->hv, MDB_FIRST);
	if (rc == MDB_NOTFOUND)
		vf->heads_done = 1;
	else if (rc != 0) {
		err = hv_store_err(rc);
		goto out;
	}
	if ((err = verify_heads(vf)) != HV_OK)
		goto out;

	memset(chain, 0, sizeof(chain));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			err = TAMPERED(vf, DB_AUDIT,
			    "the audit database "
			    "holds an entry with a malformed key");
			goto out;
		}
		seq = hv_be64_get(k.mv_data);
		if (seq != n + 1) {
			err = seq == 0 ?
			    TAMPERED(vf, DB_AUDIT,
			        "the audit "
			        "database holds a record numbered 0") :
			    TAMPERED(vf, DB_AUDIT, "record %llu is missing",
			        ull(n + 1));
			goto out;
		}
		if ((err = verify_record(vf, seq, &v, chain, r)) != HV_OK ||
		    (err = verify_heads(vf)) != HV_OK)
			goto out;
		crypto_generichash(chain, CHAIN_LEN, v.mv_data, v.mv_size, NULL,
		    0);
		n = seq;
	}
	if (rc != MDB_NOTFOUND) {
		err = hv_store_err(rc);
		goto out;
	}
	if (n < claim) {
		err = TAMPERED(vf, DB_AUDIT,
		    "record %llu is missing (the "
		    "store accounts for %llu records)",
		    ull(n + 1), ull(claim));
		goto out;
	}
	if ((err = verify_tail(vf, n)) == HV_OK)
		err = verify_head_numbers(vf);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (vf->heads != NULL)
		mdb_cursor_close(vf->heads);
	free(r);
	free(vf);
	return err;
}
