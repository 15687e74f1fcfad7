/*
 * hv_merkle — RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256:
 * leaf hash H(0x00 || leaf), node hash H(0x01 || left || right), tree heads,
 * inclusion and consistency proofs and their verification.
 *
 * Trees are read through a callback that yields the leaf hash at an index,
 * so the same code serves LMDB-backed logs and in-memory test vectors. A
 * "frontier" (the roots of the perfect subtrees making up the tree, at most
 * 64) gives the root of a growing log in O(log n) per append.
 */
#ifndef HV_MERKLE_H
#define HV_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

#define HV_HASH_LEN 32
#define HV_MERKLE_MAX_PROOF 64

void hv_merkle_leaf_hash(const uint8_t *leaf, size_t len,
    uint8_t out[HV_HASH_LEN]);
void hv_merkle_node_hash(const uint8_t left[HV_HASH_LEN],
    const uint8_t right[HV_HASH_LEN], uint8_t out[HV_HASH_LEN]);
/* Root of the empty tree: SHA-256 of the empty string. */
void hv_merkle_empty_root(uint8_t out[HV_HASH_LEN]);

/* Yields the leaf hash of leaf i into out; 0 on success, -1 on failure. */
typedef int (*hv_leaf_fn)(void *ctx, uint64_t i, uint8_t out[HV_HASH_LEN]);

/* Root of the first n leaves. Errors: HV_EIO (callback failed). */
hv_err hv_merkle_root(hv_leaf_fn leaf, void *ctx, uint64_t n,
    uint8_t out[HV_HASH_LEN]);

/*
 * Inclusion proof of leaf index in a tree of size n (RFC 9162 §2.1.3.1).
 * proof holds *len hashes. Errors: HV_ENOTFOUND (index >= n), HV_EIO.
 */
hv_err hv_merkle_inclusion_proof(hv_leaf_fn leaf, void *ctx, uint64_t index,
    uint64_t n, uint8_t proof[][HV_HASH_LEN], size_t *len);

/* Verifies an inclusion proof (RFC 9162 §2.1.3.2). Errors: HV_ETAMPERED. */
hv_err hv_merkle_verify_inclusion(const uint8_t leaf_hash[HV_HASH_LEN],
    uint64_t index, uint64_t n, const uint8_t proof[][HV_HASH_LEN], size_t len,
    const uint8_t root[HV_HASH_LEN]);

/*
 * Consistency proof between sizes m and n, 0 < m <= n (RFC 9162 §2.1.4.1).
 * Errors: HV_EUSAGE (bad sizes), HV_EIO.
 */
hv_err hv_merkle_consistency_proof(hv_leaf_fn leaf, void *ctx, uint64_t m,
    uint64_t n, uint8_t proof[][HV_HASH_LEN], size_t *len);

/* Verifies a consistency proof (RFC 9162 §2.1.4.2). Errors: HV_ETAMPERED. */
hv_err hv_merkle_verify_consistency(uint64_t m, uint64_t n,
    const uint8_t root_m[HV_HASH_LEN], const uint8_t root_n[HV_HASH_LEN],
    const uint8_t proof[][HV_HASH_LEN], size_t len);

/* The compact range of a growing log. */
struct hv_frontier {
	uint64_t size;
	size_t n; /* number of subtree roots */
	uint8_t hash[64][HV_HASH_LEN]; /* largest subtree first */
};

void hv_frontier_init(struct hv_frontier *f);
void hv_frontier_append(struct hv_frontier *f,
    const uint8_t leaf_hash[HV_HASH_LEN]);
void hv_frontier_root(const struct hv_frontier *f, uint8_t out[HV_HASH_LEN]);

#endif
