/*
 * hv_auditlog — the broker's tamper-evident audit log (SPEC §9): the record
 * format, the append path, indexes, signed tree heads, and reading and
 * verifying a store. The broker appends through here, and `haven audit --db`
 * reads through here, so the CLI never reaches into broker/.
 *
 * A record is a packed haven.AuditRecord. It never holds a payload or child
 * details: only ids, node names, the lawful basis (its justification
 * sealed to the ig.* nodes, decided_by a staff identifier), the subject
 * pseudonym, the ciphertext digest and the sender's signature. Each record
 * carries the BLAKE2b-256 hash of the previous record's bytes, and is a leaf
 * of an RFC 6962 Merkle tree (leaf hash stored alongside); signed tree heads
 * (broker Ed25519 over "haven-sth-v1\0" || size || root || time) are kept.
 *
 * Databases (opened in the caller's hv_store, names from
 * hv_auditlog_dbnames): audit (seq -> record), leaves (seq -> leaf hash),
 * heads (size -> SignedTreeHead), ix_subject, ix_sender, ix_recipient,
 * ix_time, ix_message (composite keys ending with the 8-byte seq), meta.
 *
 * Index keys, all with empty values: ix_subject = subject(32) || seq,
 * ix_sender = sender || 0x00 || seq, ix_recipient = recipient || 0x00 || seq
 * (one per distinct recipient), ix_time = time_ms(8) || seq, ix_message =
 * message id(16) || seq; absent fields (no subject, no id, empty sender) have
 * no entry. Integers are big-endian so that LMDB order is numeric order. meta
 * holds "frontier" (size(8) || the frontier's subtree roots, largest first)
 * and "size" (8), and numbers the signed tree heads so that a deleted one is
 * noticed: "heads" (8, how many were signed) and "head#" || n(8) -> the size
 * (8) of head n, n from 1.
 *
 * This module never logs, and a record has no field that could hold a
 * payload or child details; keep it that way.
 */
#ifndef HV_AUDITLOG_H
#define HV_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "haven.pb-c.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_events.h"
#include "hv_keys.h"
#include "hv_merkle.h"
#include "hv_store.h"

/* Database names the audit log needs, in order, and how many. */
extern const char *const hv_auditlog_dbnames[];
#define HV_AUDITLOG_NDBS 9

/* Index of the first audit database inside the caller's hv_store. */
typedef struct hv_auditlog {
	hv_store *store;
	size_t base; /* s->dbi[base + k] is hv_auditlog_dbnames[k] */
} hv_auditlog;

struct hv_audit_rec {
	uint64_t seq; /* set by append, from 1 */
	int64_t time_ms; /* set by append when 0 */
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
	char
	    actor[HV_NODE_MAX + 1]; /* delivered to / acknowledged by / asked */
	char detail[320]; /* one sentence; never payload or child */
	uint64_t directory_version;
	int has_reply_to;
	uint8_t reply_to[HV_ID_LEN];
	char outcome[16];
	uint32_t flags;
	int64_t created;
	int has_subject_key_id;
	uint8_t subject_key_id[8]; /* hv_subject_key_id of the sender's key */
	char at[8]; /* "agent": refused at the sender's agent */
	uint8_t prev_hash[32]; /* set by append */
};

/*
 * Zeroes rec, then fills its message fields from an envelope (id, sender,
 * recipients, type, priority, basis, subject, ciphertext digest when there
 * is a ciphertext, signature, reply_to, outcome, flags, created) and sets
 * event. The caller adds reason, actor, detail and directory_version.
 */
void hv_audit_rec_from_envelope(struct hv_audit_rec *rec,
    const hv_envelope *env, const char *event);

/*
 * Appends rec inside the caller's write transaction: assigns seq, prev_hash
 * (BLAKE2b-256 of the last record's bytes, zeros for the first) and time_ms
 * when 0, writes the record, its leaf hash and index entries, and advances
 * the stored Merkle frontier. On success rec->seq, rec->time_ms and
 * rec->prev_hash hold what was written. Nothing is visible until the caller
 * commits; an aborted transaction leaves the log as it was. Several appends
 * may share one transaction.
 * Errors: HV_EMALFORMED (a string not NUL-terminated or not UTF-8, too many
 * recipients, a negative time), HV_ETAMPERED (the stored tree does not match
 * the last record), HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_append(hv_auditlog *log, MDB_txn *txn,
    struct hv_audit_rec *rec);

/*
 * Current size (records) and root, read in txn from the stored frontier in
 * O(log n). An empty log has size 0 and the empty root.
 * Errors: HV_ETAMPERED (the stored frontier is malformed), HV_EIO.
 */
hv_err hv_auditlog_tree(hv_auditlog *log, MDB_txn *txn, uint64_t *size,
    uint8_t root[HV_HASH_LEN]);

/*
 * Signs a tree head over the current size and root with the broker's key
 * and stores it in txn when the size grew since the last head (an empty log
 * gets no head). The signed bytes are hv_auditlog_head_message().
 * Errors: HV_ETAMPERED, HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_sign_head(hv_auditlog *log, MDB_txn *txn,
    const hv_keys *broker, int64_t now_ms);

/*
 * Encodes a record as a packed haven.AuditRecord into a new malloc'd buffer
 * (*out, *len) the caller frees. Errors: HV_EMALFORMED (see append),
 * HV_ENOMEM.
 */
hv_err hv_audit_rec_pack(const struct hv_audit_rec *rec, uint8_t **out,
    size_t *len);

/*
 * Decodes a packed record. Refuses (HV_EMALFORMED) anything this module
 * would not have written: bytes fields of the wrong length (id, reply_to 16;
 * subject, digest 32; signature 64; prev_hash exactly 32), strings too long
 * for the struct or not UTF-8, more than HV_MAX_RECIPIENTS recipients, a
 * negative time, and any encoding other than the canonical one (the bytes
 * must re-encode identically), so one record has exactly one encoding.
 * Errors: HV_EMALFORMED, HV_ENOMEM.
 */
hv_err hv_audit_rec_unpack(const uint8_t *buf, size_t len,
    struct hv_audit_rec *rec);

/*
 * Reads record seq (from 1) in txn into *rec.
 * Errors: HV_ENOTFOUND, HV_EMALFORMED (the stored bytes do not decode),
 * HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_get(hv_auditlog *log, MDB_txn *txn, uint64_t seq,
    struct hv_audit_rec *rec);

/*
 * Copies the stored bytes of record seq (the Merkle leaf) into a new
 * malloc'd buffer (*out, *len) the caller frees.
 * Errors: HV_ENOTFOUND, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_get_raw(hv_auditlog *log, MDB_txn *txn, uint64_t seq,
    uint8_t **out, size_t *len);

/* ---- Merkle leaves, for hv_merkle_* ---------------------------------- */

/*
 * Context for hv_auditlog_leaf_fn: leaf index i is record seq i + 1, read
 * from "leaves" in txn. The txn must outlive the hv_merkle_* call.
 */
struct hv_auditlog_leaves {
	hv_auditlog *log;
	MDB_txn *txn;
};

/*
 * hv_leaf_fn over a struct hv_auditlog_leaves: copies the stored leaf hash
 * of leaf i into out. Returns 0, or -1 when it is missing or malformed.
 * Example: hv_merkle_inclusion_proof(hv_auditlog_leaf_fn, &lv, seq - 1,
 * size, proof, &len).
 */
int hv_auditlog_leaf_fn(void *ctx, uint64_t i, uint8_t out[HV_HASH_LEN]);

/* ---- signed tree heads ----------------------------------------------- */

#define HV_STH_DOMAIN "haven-sth-v1" /* signed with its NUL byte */
#define HV_STH_MESSAGE_LEN (sizeof(HV_STH_DOMAIN) + 8 + HV_HASH_LEN + 8)

/*
 * The bytes a tree head's signature covers: "haven-sth-v1\0" || size (8,
 * big-endian) || root (32) || time_ms (8, big-endian, two's complement).
 */
void hv_auditlog_head_message(uint64_t size, const uint8_t root[HV_HASH_LEN],
    int64_t time_ms, uint8_t out[HV_STH_MESSAGE_LEN]);

/*
 * Checks a signed tree head (from the store or the wire): a 32-byte root,
 * a 64-byte signature, and the broker's Ed25519 signature over
 * hv_auditlog_head_message(). Errors: HV_EMALFORMED (wrong lengths),
 * HV_EBADSIG.
 */
hv_err hv_auditlog_head_verify(const Haven__SignedTreeHead *h,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN]);

/*
 * The same, also accepting a head signed by a previous broker key (prev,
 * may be NULL) whose end is at or after the head's time: the broker's own
 * rotation leaves every earlier head verifiable (SPEC §13).
 */
hv_err hv_auditlog_head_verify_at(const Haven__SignedTreeHead *h,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev);

/*
 * Reads the latest stored tree head (largest size) in txn. On success *out
 * is a new message the caller frees with
 * haven__signed_tree_head__free_unpacked(*out, NULL). The signature is not
 * checked here (see hv_auditlog_head_verify).
 * Errors: HV_ENOTFOUND (no head yet), HV_EMALFORMED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_latest_head(hv_auditlog *log, MDB_txn *txn,
    Haven__SignedTreeHead **out);

/* ---- verification ---------------------------------------------------- */

/*
 * Checks the whole store in one pass over the records, in txn (read-only is
 * enough): sequence numbers 1..n with no gap, every record decodes and its
 * seq field matches its key, every prev_hash link, every stored leaf hash
 * against the record bytes, every record's index entries present (with
 * empty values) and no index entry that does not match a record, the stored
 * frontier and size against the recomputed tree, and every stored tree head:
 * well formed, its size not beyond the log, its root equal to the
 * recomputed root at that size and, when broker_sign is not NULL, its
 * signature; and that the heads are exactly those the store numbered as it
 * signed them, none missing ("tree head 3 of 7, at size 120, is missing").
 * A log shorter than its heads, leaves or stored size claim is reported as
 * its first missing record.
 * Stops at the first bad item, lowest sequence number first, with
 * HV_ETAMPERED and a sentence in d naming it ("record 517: stored leaf hash
 * does not match the record", "record 42 is missing", "tree head at size
 * 900: signature does not verify"); d->field is the database at fault.
 * Errors: HV_ETAMPERED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_verify(hv_auditlog *log, MDB_txn *txn,
    const uint8_t *broker_sign, struct hv_errdetail *d);

/*
 * hv_auditlog_verify, with each head's signature checked by
 * hv_auditlog_head_verify_at (the broker's previous keys in prev, which
 * may be NULL). Errors: as hv_auditlog_verify.
 */
hv_err hv_auditlog_verify_at(hv_auditlog *log, MDB_txn *txn,
    const uint8_t *broker_sign, const struct hv_prev_signs *prev,
    struct hv_errdetail *d);

/* ---- queries --------------------------------------------------------- */

/*
 * A query: every condition set must hold. Unset fields (0, NULL, "") match
 * anything. role matches when the sender, any recipient or the actor has
 * that role (the part of the node id before the first dot). since_ms and
 * until_ms bound the record time, both inclusive.
 */
struct hv_audit_filter {
	int has_subject;
	uint8_t subject[32];
	int has_id;
	uint8_t id[HV_ID_LEN];
	const char *sender;
	const char *recipient;
	const char *role;
	const char *event;
	const char *type;
	int64_t since_ms; /* 0: open */
	int64_t until_ms; /* 0: open */
	size_t limit; /* 0: no limit */
};

/*
 * Called once per matching record; rec is valid only during the call.
 * Return 0 to go on, non-zero to stop the query (which then returns HV_OK).
 */
typedef int (*hv_audit_query_fn)(void *ctx, const struct hv_audit_rec *rec);

/*
 * Calls fn for each record matching f, in sequence order, at most f->limit
 * times. Walks the most selective index the filter allows (message id, then
 * subject, then sender, then recipient, then time range) and only scans the
 * whole log when no indexed condition is given. A time-range walk gathers
 * the sequence numbers in range first (time order need not be sequence
 * order) and so holds one uint64_t per record in range.
 * Errors: HV_ETAMPERED (an index entry names a missing record),
 * HV_EMALFORMED (a stored record does not decode), HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_query(hv_auditlog *log, MDB_txn *txn,
    const struct hv_audit_filter *f, hv_audit_query_fn fn, void *ctx);

/*
 * The subject-key id of the latest record that carries one (SPEC §15),
 * walking back from the end of the log in txn (at most the last 100000
 * records): the id of the key the partnership uses now.
 * Errors: HV_ENOTFOUND (no record there carries one),
 * HV_EMALFORMED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_auditlog_subject_key_id(hv_auditlog *log, MDB_txn *txn,
    uint8_t out[8]);

#endif
