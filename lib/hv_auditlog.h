/*
 * hv_auditlog — the broker's tamper-evident audit log (SPEC §9): the record
 * format, the append path, indexes, signed tree heads, and reading and
 * verifying a store. The broker appends through here, and `haven audit --db`
 * reads through here, so the CLI never reaches into broker/.
 *
 * A record is a packed haven.AuditRecord. It never holds a payload or child
 * details: only ids, node names, the lawful basis, the subject pseudonym,
 * the ciphertext digest and the sender's signature. Each record carries the
 * BLAKE2b-256 hash of the previous record's bytes, and each record is a leaf
 * of an RFC 6962 Merkle tree (leaf hash stored alongside); signed tree heads
 * (broker Ed25519 over "haven-sth-v1\0" || size || root || time) are kept.
 *
 * Databases (opened in the caller's hv_store, names from
 * hv_auditlog_dbnames): audit (seq -> record), leaves (seq -> leaf hash),
 * heads (size -> SignedTreeHead), ix_subject, ix_sender, ix_recipient,
 * ix_time, ix_message (composite keys ending with the 8-byte seq), meta.
 */
#ifndef HV_AUDITLOG_H
#define HV_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_merkle.h"
#include "hv_store.h"

/* Database names the audit log needs, in order, and how many. */
extern const char *const hv_auditlog_dbnames[];
#define HV_AUDITLOG_NDBS 9

/* Index of the first audit database inside the caller's hv_store. */
typedef struct hv_auditlog {
	hv_store *store;
	size_t base;		/* s->dbi[base + k] is hv_auditlog_dbnames[k] */
} hv_auditlog;

struct hv_audit_rec {
	uint64_t seq;			/* set by append, from 1 */
	int64_t time_ms;		/* set by append when 0 */
	char event[24];
	int has_id;
	uint8_t id[HV_ID_LEN];
	char sender[HV_NODE_MAX + 1];
	size_t n_recipients;
	char recipients[HV_MAX_RECIPIENTS][HV_NODE_MAX + 1];
	char type[40];
	char priority[16];
	int has_basis;
	struct hv_basis basis;
	int has_subject;
	uint8_t subject[32];
	int has_digest;
	uint8_t digest[HV_DIGEST_LEN];
	int has_signature;
	uint8_t signature[HV_SIGNATURE_LEN];
	char reason[32];
	char actor[HV_NODE_MAX + 1];	/* delivered to / acknowledged by / asked */
	char detail[320];		/* one sentence; never payload or child */
	uint64_t directory_version;
	int has_reply_to;
	uint8_t reply_to[HV_ID_LEN];
	char outcome[16];
	uint32_t flags;
	int64_t created;
	uint8_t prev_hash[32];		/* set by append */
};

/* Fills rec's message fields from an envelope (event set by caller). */
void hv_audit_rec_from_envelope(struct hv_audit_rec *rec,
    const hv_envelope *env, const char *event);

/*
 * Appends rec inside the caller's write transaction: assigns seq and
 * prev_hash, writes the record, its leaf hash and index entries, and
 * advances the stored Merkle frontier. Nothing is visible until the caller
 * commits; an aborted transaction leaves the log as it was.
 * Errors: HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_append(hv_auditlog *log, MDB_txn *txn,
    struct hv_audit_rec *rec);

/* Current size (records) and root, read in txn. Errors: HV_EIO. */
hv_err hv_auditlog_tree(hv_auditlog *log, MDB_txn *txn, uint64_t *size,
    uint8_t root[HV_HASH_LEN]);

/*
 * Signs a tree head over the current size and root with the broker's key
 * and stores it in txn when the size grew since the last head.
 * Errors: HV_ESTORAGEFULL, HV_EIO.
 */
hv_err hv_auditlog_sign_head(hv_auditlog *log, MDB_txn *txn,
    const hv_keys *broker, int64_t now_ms);

/* Encodes / decodes a record. Errors: HV_EMALFORMED, HV_ENOMEM. */
hv_err hv_audit_rec_pack(const struct hv_audit_rec *rec, uint8_t **out,
    size_t *len);
hv_err hv_audit_rec_unpack(const uint8_t *buf, size_t len,
    struct hv_audit_rec *rec);

#endif
