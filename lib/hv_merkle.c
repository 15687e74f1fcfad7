/*
 * hv_merkle — RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256.
 *
 * Every root is computed by streaming leaves into a frontier (a stack of
 * perfect-subtree roots), so the root of n leaves costs n leaf reads, n - 1
 * node hashes and O(log n) memory. Proofs are made of the roots of
 * disjoint leaf ranges, each computed the same way, so a proof over a tree
 * of n leaves reads each leaf at most once. Verification follows the
 * algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
 */
#include <string.h>

#include <sodium.h>

#include "hv_merkle.h"

/* ---- hashing --------------------------------------------------------- */

void
hv_merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[HV_HASH_LEN])
{
	crypto_hash_sha256_state st;
	static const uint8_t prefix = 0x00;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, leaf, len);
	crypto_hash_sha256_final(&st, out);
}

void
hv_merkle_node_hash(const uint8_t left[HV_HASH_LEN],
    const uint8_t right[HV_HASH_LEN], uint8_t out[HV_HASH_LEN])
{
	crypto_hash_sha256_state st;
	static const uint8_t prefix = 0x01;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	crypto_hash_sha256_update(&st, left, HV_HASH_LEN);
	crypto_hash_sha256_update(&st, right, HV_HASH_LEN);
	/* out may alias left or right: the state already holds both. */
	crypto_hash_sha256_final(&st, out);
}

void
hv_merkle_empty_root(uint8_t out[HV_HASH_LEN])
{
	crypto_hash_sha256(out, (const unsigned char *)"", 0);
}

/* ---- frontier -------------------------------------------------------- */

void
hv_frontier_init(struct hv_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

/*
 * Pushes the leaf as a subtree of one leaf, then merges equal-sized
 * neighbours: each trailing 1 bit of the old size is a subtree that the new
 * leaf completes, exactly as a binary counter carries.
 */
void
hv_frontier_append(struct hv_frontier *f, const uint8_t leaf_hash[HV_HASH_LEN])
{
	uint64_t carry = f->size;

	memcpy(f->hash[f->n], leaf_hash, HV_HASH_LEN);
	f->n++;
	while (carry & 1) {
		hv_merkle_node_hash(f->hash[f->n - 2], f->hash[f->n - 1],
		    f->hash[f->n - 2]);
		f->n--;
		carry >>= 1;
	}
	f->size++;
}

/*
 * RFC 6962 splits an unbalanced tree at the largest power of two, so its
 * root is the perfect subtrees folded from the smallest (rightmost) up.
 */
void
hv_frontier_root(const struct hv_frontier *f, uint8_t out[HV_HASH_LEN])
{
	uint8_t r[HV_HASH_LEN];

	if (f->n == 0) {
		hv_merkle_empty_root(out);
		return;
	}
	memcpy(r, f->hash[f->n - 1], HV_HASH_LEN);
	for (size_t i = f->n - 1; i > 0; i--)
		hv_merkle_node_hash(f->hash[i - 1], r, r);
	memcpy(out, r, HV_HASH_LEN);
}

/* ---- roots and proofs ------------------------------------------------ */

/* Largest power of two strictly less than n; n >= 2. */
static uint64_t
split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[lo:hi]), hi > lo, by streaming the range into a frontier. */
static hv_err
range_root(hv_leaf_fn leaf, void *ctx, uint64_t lo, uint64_t hi,
    uint8_t out[HV_HASH_LEN])
{
	struct hv_frontier f;
	uint8_t h[HV_HASH_LEN];

	hv_frontier_init(&f);
	for (uint64_t i = lo; i < hi; i++) {
		if (leaf(ctx, i, h) != 0)
			return HV_EIO;
		hv_frontier_append(&f, h);
	}
	hv_frontier_root(&f, out);
	return HV_OK;
}

hv_err
hv_merkle_root(hv_leaf_fn leaf, void *ctx, uint64_t n, uint8_t out[HV_HASH_LEN])
{
	if (n == 0) {
		hv_merkle_empty_root(out);
		return HV_OK;
	}
	return range_root(leaf, ctx, 0, n, out);
}

/* Reverses hashes [0, len) of proof in place. */
static void
reverse_hashes(uint8_t proof[][HV_HASH_LEN], size_t len)
{
	uint8_t tmp[HV_HASH_LEN];

	for (size_t i = 0; i < len / 2; i++) {
		memcpy(tmp, proof[i], HV_HASH_LEN);
		memcpy(proof[i], proof[len - 1 - i], HV_HASH_LEN);
		memcpy(proof[len - 1 - i], tmp, HV_HASH_LEN);
	}
}

/*
 * PATH(m, D[n]) of RFC 9162 §2.1.3.1, unrolled: walking down from the root,
 * each level contributes the root of the half the leaf is not in. The
 * recursion emits the deepest sibling first, so the list is reversed.
 */
hv_err
hv_merkle_inclusion_proof(hv_leaf_fn leaf, void *ctx, uint64_t index,
    uint64_t n, uint8_t proof[][HV_HASH_LEN], size_t *len)
{
	uint64_t lo = 0, hi = n, k;
	size_t count = 0;
	hv_err err;

	if (index >= n)
		return HV_ENOTFOUND;
	while (hi - lo > 1) {
		k = split_point(hi - lo);
		if (index < lo + k) {
			err = range_root(leaf, ctx, lo + k, hi, proof[count]);
			hi = lo + k;
		} else {
			err = range_root(leaf, ctx, lo, lo + k, proof[count]);
			lo += k;
		}
		if (err != HV_OK)
			return err;
		count++;
	}
	reverse_hashes(proof, count);
	*len = count;
	return HV_OK;
}

/*
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1, unrolled.
 * Walking down, each level contributes the sibling of the side holding the
 * old tree's edge; where the walk ends on a subtree that is a whole
 * subtree of the old tree, that subtree's root comes first unless it is the
 * old tree itself (b still true). Output order is innermost first, then the
 * siblings from the deepest up.
 */
hv_err
hv_merkle_consistency_proof(hv_leaf_fn leaf, void *ctx, uint64_t m, uint64_t n,
    uint8_t proof[][HV_HASH_LEN], size_t *len)
{
	uint8_t sib[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	uint64_t lo = 0, hi = n, mm = m, k;
	size_t nsib = 0, count = 0;
	int whole = 1;
	hv_err err;

	if (m == 0 || m > n)
		return HV_EUSAGE;
	while (mm != hi - lo) {
		k = split_point(hi - lo);
		if (mm <= k) {
			err = range_root(leaf, ctx, lo + k, hi, sib[nsib]);
			hi = lo + k;
		} else {
			err = range_root(leaf, ctx, lo, lo + k, sib[nsib]);
			lo += k;
			mm -= k;
			whole = 0;
		}
		if (err != HV_OK)
			return err;
		nsib++;
	}
	if (!whole) {
		if ((err = range_root(leaf, ctx, lo, hi, proof[count])) !=
		    HV_OK)
			return err;
		count++;
	}
	for (size_t i = nsib; i > 0; i--)
		memcpy(proof[count++], sib[i - 1], HV_HASH_LEN);
	*len = count;
	return HV_OK;
}

/* ---- verification ---------------------------------------------------- */

/* RFC 9162 §2.1.3.2. */
hv_err
hv_merkle_verify_inclusion(const uint8_t leaf_hash[HV_HASH_LEN], uint64_t index,
    uint64_t n, const uint8_t proof[][HV_HASH_LEN], size_t len,
    const uint8_t root[HV_HASH_LEN])
{
	uint8_t r[HV_HASH_LEN];
	uint64_t fn, sn;

	if (index >= n || len > HV_MERKLE_MAX_PROOF)
		return HV_ETAMPERED;
	fn = index;
	sn = n - 1;
	memcpy(r, leaf_hash, HV_HASH_LEN);
	for (size_t i = 0; i < len; i++) {
		if (sn == 0)
			return HV_ETAMPERED;
		if ((fn & 1) || fn == sn) {
			hv_merkle_node_hash(proof[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			hv_merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(r, root, HV_HASH_LEN) != 0)
		return HV_ETAMPERED;
	return HV_OK;
}

/*
 * RFC 9162 §2.1.4.2. m == n is consistent with an empty proof when the
 * roots are equal; m == 0 (nothing seen yet) with an empty proof.
 */
hv_err
hv_merkle_verify_consistency(uint64_t m, uint64_t n,
    const uint8_t root_m[HV_HASH_LEN], const uint8_t root_n[HV_HASH_LEN],
    const uint8_t proof[][HV_HASH_LEN], size_t len)
{
	const uint8_t *first;
	uint8_t fr[HV_HASH_LEN], sr[HV_HASH_LEN];
	uint64_t fn, sn;
	size_t start;

	if (m > n || len > HV_MERKLE_MAX_PROOF)
		return HV_ETAMPERED;
	if (m == 0)
		return len == 0 ? HV_OK : HV_ETAMPERED;
	if (m == n)
		return len == 0 &&
		        sodium_memcmp(root_m, root_n, HV_HASH_LEN) == 0 ?
		    HV_OK :
		    HV_ETAMPERED;
	if (len == 0)
		return HV_ETAMPERED;
	/* When m is a power of two the old root is the path's first node. */
	if ((m & (m - 1)) == 0) {
		first = root_m;
		start = 0;
	} else {
		first = proof[0];
		start = 1;
	}
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, first, HV_HASH_LEN);
	memcpy(sr, first, HV_HASH_LEN);
	for (size_t i = start; i < len; i++) {
		if (sn == 0)
			return HV_ETAMPERED;
		if ((fn & 1) || fn == sn) {
			hv_merkle_node_hash(proof[i], fr, fr);
			hv_merkle_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			hv_merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(fr, root_m, HV_HASH_LEN) != 0 ||
	    sodium_memcmp(sr, root_n, HV_HASH_LEN) != 0)
		return HV_ETAMPERED;
	return HV_OK;
}
