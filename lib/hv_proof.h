/*
 * hv_proof — the portable proofs of the audit log (SPEC §9): an inclusion
 * proof that one record is in the log a signed tree head commits to, and a
 * consistency proof that a later signed tree head extends an earlier one
 * (the history between them was only appended to, never rewritten).
 *
 * Proofs are made from a store (`haven audit prove`, `haven audit
 * consistency`, and the broker's remote answers), written as one JSON
 * document, and checked offline with nothing but the broker's public signing
 * key (`haven audit check-proof`). This is the only place that knows the
 * JSON formats; docs/AUDIT.md describes them for people.
 *
 * haven-inclusion-proof-v1, keys in this order:
 *   format        "haven-inclusion-proof-v1"
 *   message_id    32 lowercase hex, or null for a record without a message
 *   seq           the record's sequence number (leaf_index + 1)
 *   leaf_index    the record's position in the tree, from 0
 *   record        standard base64 of the record bytes (the Merkle leaf, a
 *                 packed haven.AuditRecord)
 *   leaf_hash     hex SHA-256(0x00 || record)
 *   tree_size, root_hash, head_time (ISO 8601 UTC, informative),
 *   head_time_ms (what the signature covers), head_signature (128 hex,
 *                 the broker's Ed25519 signature over
 *                 hv_auditlog_head_message(tree_size, root_hash, head_time_ms))
 *   proof         array of hex hashes, the RFC 9162 inclusion path
 *
 * haven-consistency-proof-v1:
 *   format        "haven-consistency-proof-v1"
 *   first, second objects {tree_size, root_hash, head_time, head_time_ms,
 *                 head_signature}: two signed tree heads, first no larger
 *   proof         array of hex hashes, the RFC 9162 consistency proof
 *
 * A proof never holds a payload or child details: the record is the audit
 * record itself, which holds none. This module never logs.
 */
#ifndef HV_PROOF_H
#define HV_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "hv_auditlog.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_merkle.h"

#define HV_PROOF_INCLUSION_FORMAT "haven-inclusion-proof-v1"
#define HV_PROOF_CONSISTENCY_FORMAT "haven-consistency-proof-v1"
#define HV_PROOF_JSON_MAX (1u << 20) /* a proof file larger is refused */
#define HV_PROOF_RECORD_MAX 65536 /* a record larger is refused */

enum hv_proof_kind {
	HV_PROOF_INCLUSION = 1,
	HV_PROOF_CONSISTENCY,
};

/* A signed tree head as a proof carries it. */
struct hv_proof_head {
	uint64_t size;
	uint8_t root[HV_HASH_LEN];
	int64_t time_ms;
	uint8_t signature[HV_SIGNATURE_LEN];
};

typedef struct hv_proof {
	enum hv_proof_kind kind;
	/* Inclusion: the record, where it sits, and the head it is proved in. */
	int has_id;
	uint8_t id[HV_ID_LEN];
	uint64_t leaf_index;
	uint8_t *record; /* malloc'd, owned by the proof */
	size_t record_len;
	uint8_t leaf_hash[HV_HASH_LEN];
	/* Consistency: first is the earlier head, head the later one. */
	struct hv_proof_head first;
	struct hv_proof_head head;
	size_t n;
	uint8_t path[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
} hv_proof;

/*
 * Makes the inclusion proof of record seq against the latest signed tree
 * head in txn. Checks as it goes that the stored leaf hash is the hash of
 * the stored record and that the path leads to the head's root, so it never
 * hands out a proof that cannot verify (the head's signature is left to
 * hv_proof_verify). *out is freed with hv_proof_destroy.
 * Errors: HV_ENOTFOUND (no record seq; no signed tree head yet; or the
 * record is newer than the latest head — the detail says which, field
 * "head" for the last two), HV_ETAMPERED (the store contradicts itself;
 * run hv_auditlog_verify), HV_EMALFORMED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_proof_inclusion(hv_auditlog *log, MDB_txn *txn, uint64_t seq,
    hv_proof **out, struct hv_errdetail *d);

/*
 * Picks the record of message id to prove: the first with `event` when
 * event is not NULL, else the first SUBMITTED or DECISION_RECORDED (the
 * share or decision itself), else the first record of any event; only
 * among records keep(keep_ctx, rec) accepts (keep NULL: all). *seq is 0
 * when there is none. Errors: as hv_auditlog_query.
 */
hv_err hv_proof_pick(hv_auditlog *log, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN], const char *event,
    int (*keep)(void *, const struct hv_audit_rec *), void *keep_ctx,
    uint64_t *seq);

/*
 * Makes the consistency proof between the signed tree heads stored at sizes
 * from and to (to 0: the latest head). *out is freed with hv_proof_destroy.
 * Errors: HV_EUSAGE (from is 0 or larger than to), HV_ENOTFOUND (no head at
 * that size; the detail names the nearest sizes that have one),
 * HV_ETAMPERED, HV_EMALFORMED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_proof_consistency(hv_auditlog *log, MDB_txn *txn, uint64_t from,
    uint64_t to, hv_proof **out, struct hv_errdetail *d);

/*
 * Writes p as its JSON document (indented, ending in a newline) into a new
 * malloc'd NUL-terminated string the caller frees. Errors: HV_ENOMEM.
 */
hv_err hv_proof_to_json(const hv_proof *p, char **out);

/*
 * Reads a proof document of either format. Every field is checked for type,
 * length and range, and the informative head_time must agree with
 * head_time_ms; unknown keys are ignored. *out is freed with
 * hv_proof_destroy. Nothing is verified here (see hv_proof_verify).
 * Errors: HV_EMALFORMED (the detail names the field and quotes what is
 * wrong), HV_ENOMEM.
 */
hv_err hv_proof_from_json(const char *text, size_t len, hv_proof **out,
    struct hv_errdetail *d);

/*
 * Verifies p with the broker's Ed25519 public key: every head's signature,
 * and for an inclusion proof that the leaf hash is the hash of the record,
 * that the record decodes and names the same sequence number and message id
 * as the proof, and that the path leads from the leaf to the signed root;
 * for a consistency proof, that the later tree extends the earlier one.
 * When rec is not NULL and p is an inclusion proof, *rec gets the decoded
 * record on success.
 * Errors: HV_EBADSIG (a head is not signed by that key), HV_ETAMPERED (the
 * proof does not hold; the detail says which step failed), HV_EMALFORMED.
 */
hv_err hv_proof_verify(const hv_proof *p,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN], struct hv_audit_rec *rec,
    struct hv_errdetail *d);

/*
 * hv_proof_verify, also accepting heads signed by a previous broker key
 * (prev, may be NULL) whose end is at or after the head's time, so that a
 * proof made before the broker rotated still verifies (SPEC §13).
 */
hv_err hv_proof_verify_at(const hv_proof *p,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, struct hv_audit_rec *rec,
    struct hv_errdetail *d);

/* Frees *p and its record; accepts NULL; sets *p = NULL. */
void hv_proof_destroy(hv_proof **p);

#endif
