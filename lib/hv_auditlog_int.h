/*
 * hv_auditlog_int — what hv_auditlog.c (the writer), hv_auditverify.c and
 * hv_auditquery.c share: the order of the audit databases, the keys of
 * "meta", the index keys a record owns and the reading of the stored Merkle
 * frontier. One copy of each, so that what the append path writes and what
 * verification and queries expect cannot drift apart. Not for use outside
 * those three files; everyone else includes hv_auditlog.h.
 */
#ifndef HV_AUDITLOG_INT_H
#define HV_AUDITLOG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "hv_auditlog.h"
#include "hv_merkle.h"
#include "hv_store.h"

/* Indexes into hv_auditlog_dbnames, in the same order. */
enum {
	DB_AUDIT,
	DB_LEAVES,
	DB_HEADS,
	DB_IX_SUBJECT,
	DB_IX_SENDER,
	DB_IX_RECIPIENT,
	DB_IX_TIME,
	DB_IX_MESSAGE,
	DB_META,
};

#define CHAIN_LEN 32 /* BLAKE2b-256 of the previous record */
#define IXKEY_MAX (HV_NODE_MAX + 1 + 8)
#define N_IX 5 /* ix_subject .. ix_message */

/* Keys of "meta" (see hv_auditlog.h for their values). */
#define HV_AUDITLOG_META_FRONTIER "frontier"
#define HV_AUDITLOG_META_SIZE "size"
#define HV_AUDITLOG_META_HEADS "heads" /* how many heads were signed */
#define HV_AUDITLOG_META_HEAD "head#" /* || n(8): the size of head n */
#define HV_AUDITLOG_HEADKEY_LEN (sizeof(HV_AUDITLOG_META_HEAD) - 1 + 8)

/* The meta key numbering head n (from 1): "head#" || n, big-endian. */
static inline void
hv_auditlog_headkey(uint64_t n, uint8_t out[HV_AUDITLOG_HEADKEY_LEN])
{
	memcpy(out, HV_AUDITLOG_META_HEAD, sizeof(HV_AUDITLOG_META_HEAD) - 1);
	hv_be64_put(out + sizeof(HV_AUDITLOG_META_HEAD) - 1, n);
}

/* The handle of audit database k (DB_*) in the caller's store. */
static inline MDB_dbi
dbi(const hv_auditlog *log, int k)
{
	return log->store->dbi[log->base + (size_t)k];
}

/* An MDB_val over len bytes at p; LMDB does not write through it. */
static inline MDB_val
val(const void *p, size_t len)
{
	MDB_val v = { len, (void *)p };

	return v;
}

/* One index entry: the database (DB_IX_*) and its key. */
struct ixkey {
	int db;
	size_t len;
	uint8_t key[IXKEY_MAX];
};

/* All index entries of one record. */
struct ixkeys {
	size_t n;
	struct ixkey k[4 + HV_MAX_RECIPIENTS];
};

/*
 * Every index key of rec, each distinct, in database order: what append
 * writes, what verification expects and what a query walks.
 */
void hv_auditlog_index_keys(const struct hv_audit_rec *rec, struct ixkeys *ks);

/*
 * Reads the stored frontier from "meta" in txn; an absent one is the empty
 * tree. Errors: HV_ETAMPERED (malformed), HV_EIO.
 */
hv_err hv_auditlog_frontier_load(hv_auditlog *log, MDB_txn *txn,
    struct hv_frontier *f);

#endif
