/*
 * test_merkle — RFC 6962 / RFC 9162 tree hashes, proofs and frontiers.
 *
 * Known answers are the certificate-transparency / trillian test vectors
 * (eight leaves, their roots, inclusion and consistency proofs). Generated
 * proofs are compared with a direct recursive transcription of the RFC's
 * definitions, and the verifiers are probed with the mutations the trillian
 * suite uses plus swapped siblings.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "hv_merkle.h"
#include "hv_util.h"

typedef uint8_t hash_t[HV_HASH_LEN];

/* ---- the published vectors ------------------------------------------- */

static const struct {
	const char *data;
	size_t len;
} ct_leaves[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
	    16 },
};

/* ct_roots[n] is the root of the first n leaves. */
static const char *ct_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const struct {
	uint64_t index, size;
	size_t len;
	const char *proof[3];
} ct_inclusion[] = {
	{ 0, 8, 3,
	    { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3,
	    { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1,
	    { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3,
	    { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 0, 1, 0, { NULL } },
};

static const struct {
	uint64_t m, n;
	size_t len;
	const char *proof[3];
} ct_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3,
	    { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3,
	    { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2,
	    { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3,
	    { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

/* ---- helpers --------------------------------------------------------- */

#define MAXLEAVES 256

struct tree {
	uint64_t n;
	hash_t leaf[MAXLEAVES];
	int fail_at; /* leaf index whose read fails, or -1 */
};

static int
tree_leaf(void *ctx, uint64_t i, uint8_t out[HV_HASH_LEN])
{
	struct tree *t = ctx;

	if (i >= t->n || (t->fail_at >= 0 && i == (uint64_t)t->fail_at))
		return -1;
	memcpy(out, t->leaf[i], HV_HASH_LEN);
	return 0;
}

static void
ct_tree(struct tree *t)
{
	memset(t, 0, sizeof(*t));
	t->fail_at = -1;
	t->n = 8;
	for (size_t i = 0; i < 8; i++)
		hv_merkle_leaf_hash((const uint8_t *)ct_leaves[i].data,
		    ct_leaves[i].len, t->leaf[i]);
}

static void
synthetic_tree(struct tree *t, uint64_t n)
{
	memset(t, 0, sizeof(*t));
	t->fail_at = -1;
	t->n = n;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t data[3] = { (uint8_t)i, (uint8_t)(i * 7),
			(uint8_t)(i >> 8) };

		hv_merkle_leaf_hash(data, sizeof(data), t->leaf[i]);
	}
}

static void
unhex32(const char *s, uint8_t out[HV_HASH_LEN])
{
	cr_assert_eq(hv_unhex(s, out, HV_HASH_LEN), 0, "bad vector %s", s);
}

static int
heq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, HV_HASH_LEN) == 0;
}

/* ---- a literal transcription of the RFC, for comparison -------------- */

static uint64_t
ref_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[lo:lo+n]) by the recursive definition of RFC 9162 §2.1.1. */
static void
ref_mth(const struct tree *t, uint64_t lo, uint64_t n, uint8_t out[32])
{
	hash_t l, r;
	uint64_t k;

	if (n == 0) {
		hv_merkle_empty_root(out);
		return;
	}
	if (n == 1) {
		memcpy(out, t->leaf[lo], 32);
		return;
	}
	k = ref_k(n);
	ref_mth(t, lo, k, l);
	ref_mth(t, lo + k, n - k, r);
	hv_merkle_node_hash(l, r, out);
}

/* PATH(m, D[lo:lo+n]) of RFC 9162 §2.1.3.1, appended to proof. */
static void
ref_path(const struct tree *t, uint64_t m, uint64_t lo, uint64_t n,
    hash_t *proof, size_t *len)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = ref_k(n);
	if (m < k) {
		ref_path(t, m, lo, k, proof, len);
		ref_mth(t, lo + k, n - k, proof[(*len)++]);
	} else {
		ref_path(t, m - k, lo + k, n - k, proof, len);
		ref_mth(t, lo, k, proof[(*len)++]);
	}
}

/* SUBPROOF(m, D[lo:lo+n], b) of RFC 9162 §2.1.4.1, appended to proof. */
static void
ref_subproof(const struct tree *t, uint64_t m, uint64_t lo, uint64_t n, int b,
    hash_t *proof, size_t *len)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			ref_mth(t, lo, n, proof[(*len)++]);
		return;
	}
	k = ref_k(n);
	if (m <= k) {
		ref_subproof(t, m, lo, k, b, proof, len);
		ref_mth(t, lo + k, n - k, proof[(*len)++]);
	} else {
		ref_subproof(t, m - k, lo + k, n - k, 0, proof, len);
		ref_mth(t, lo, k, proof[(*len)++]);
	}
}

/* ---- known answers --------------------------------------------------- */

Test(merkle, empty_root_is_sha256_of_nothing)
{
	hash_t got, want;

	hv_merkle_empty_root(got);
	unhex32(ct_roots[0], want);
	cr_assert(heq(got, want));
}

Test(merkle, roots_match_the_published_vectors_for_sizes_0_to_8)
{
	struct tree t;
	hash_t got, want;
	char hex[65];

	ct_tree(&t);
	for (uint64_t n = 0; n <= 8; n++) {
		cr_assert_eq(hv_merkle_root(tree_leaf, &t, n, got), HV_OK);
		unhex32(ct_roots[n], want);
		hv_hex(got, 32, hex);
		cr_assert(heq(got, want), "size %llu: got %s want %s",
		    (unsigned long long)n, hex, ct_roots[n]);
	}
}

Test(merkle, frontier_roots_match_the_published_vectors)
{
	struct tree t;
	struct hv_frontier f;
	hash_t got, want;

	ct_tree(&t);
	hv_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		if (n > 0)
			hv_frontier_append(&f, t.leaf[n - 1]);
		cr_assert_eq(f.size, n);
		cr_assert_eq(f.n, (size_t)__builtin_popcountll(n));
		hv_frontier_root(&f, got);
		unhex32(ct_roots[n], want);
		cr_assert(heq(got, want), "size %llu", (unsigned long long)n);
	}
}

Test(merkle, node_hash_prefixes_one_and_leaf_hash_prefixes_zero)
{
	uint8_t buf[65], a[32], b[32], got[32], want[32];

	memset(a, 0xaa, 32);
	memset(b, 0xbb, 32);
	buf[0] = 0x01;
	memcpy(buf + 1, a, 32);
	memcpy(buf + 33, b, 32);
	crypto_hash_sha256(want, buf, 65);
	hv_merkle_node_hash(a, b, got);
	cr_assert(heq(got, want));
	buf[0] = 0x00;
	crypto_hash_sha256(want, buf, 33);
	hv_merkle_leaf_hash(a, 32, got);
	cr_assert(heq(got, want));
}

Test(merkle, generates_and_verifies_the_published_inclusion_proofs)
{
	struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF], want, root;
	size_t len;

	ct_tree(&t);
	for (size_t v = 0; v < sizeof(ct_inclusion) / sizeof(ct_inclusion[0]);
	     v++) {
		uint64_t idx = ct_inclusion[v].index, n = ct_inclusion[v].size;

		cr_assert_eq(hv_merkle_inclusion_proof(tree_leaf, &t, idx, n,
		                 proof, &len),
		    HV_OK);
		cr_assert_eq(len, ct_inclusion[v].len, "vector %zu", v);
		for (size_t i = 0; i < len; i++) {
			unhex32(ct_inclusion[v].proof[i], want);
			cr_assert(heq(proof[i], want), "vector %zu hash %zu", v,
			    i);
		}
		unhex32(ct_roots[n], root);
		cr_assert_eq(hv_merkle_verify_inclusion(t.leaf[idx], idx, n,
		                 (const uint8_t(*)[32])proof, len, root),
		    HV_OK, "vector %zu", v);
	}
}

Test(merkle, generates_and_verifies_the_published_consistency_proofs)
{
	struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF], want, r1, r2;
	size_t len;

	ct_tree(&t);
	for (size_t v = 0;
	     v < sizeof(ct_consistency) / sizeof(ct_consistency[0]); v++) {
		uint64_t m = ct_consistency[v].m, n = ct_consistency[v].n;

		cr_assert_eq(hv_merkle_consistency_proof(tree_leaf, &t, m, n,
		                 proof, &len),
		    HV_OK);
		cr_assert_eq(len, ct_consistency[v].len, "vector %zu", v);
		for (size_t i = 0; i < len; i++) {
			unhex32(ct_consistency[v].proof[i], want);
			cr_assert(heq(proof[i], want), "vector %zu hash %zu", v,
			    i);
		}
		unhex32(ct_roots[m], r1);
		unhex32(ct_roots[n], r2);
		cr_assert_eq(hv_merkle_verify_consistency(m, n, r1, r2,
		                 (const uint8_t(*)[32])proof, len),
		    HV_OK, "vector %zu", v);
	}
}

/* ---- mutations ------------------------------------------------------- */

static int
incl_ok(const uint8_t *leaf, uint64_t idx, uint64_t n, hash_t *p, size_t len,
    const uint8_t *root)
{
	return hv_merkle_verify_inclusion(leaf, idx, n, (const uint8_t(*)[32])p,
	           len, root) == HV_OK;
}

static int
cons_ok(uint64_t m, uint64_t n, const uint8_t *r1, const uint8_t *r2, hash_t *p,
    size_t len)
{
	return hv_merkle_verify_consistency(m, n, r1, r2,
	           (const uint8_t(*)[32])p, len) == HV_OK;
}

Test(merkle, rejects_mutated_inclusion_proofs)
{
	struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF + 1], p[HV_MERKLE_MAX_PROOF + 2];
	hash_t root, other, empty;
	size_t len;

	ct_tree(&t);
	hv_merkle_empty_root(empty);
	memset(other, 0x5a, 32);
	for (size_t v = 0; v < 4; v++) {
		uint64_t idx = ct_inclusion[v].index, n = ct_inclusion[v].size;
		const uint8_t *leaf = t.leaf[idx];

		for (size_t i = 0; i < ct_inclusion[v].len; i++)
			unhex32(ct_inclusion[v].proof[i], proof[i]);
		len = ct_inclusion[v].len;
		unhex32(ct_roots[n], root);
		cr_assert(incl_ok(leaf, idx, n, proof, len, root));

		/* Wrong index. */
		if (idx > 0)
			cr_assert(!incl_ok(leaf, idx - 1, n, proof, len, root),
			    "vector %zu: index - 1", v);
		cr_assert(!incl_ok(leaf, idx + 1, n, proof, len, root),
		    "vector %zu: index + 1", v);
		cr_assert(!incl_ok(leaf, idx ^ 2, n, proof, len, root),
		    "vector %zu: index ^ 2", v);
		/* Wrong size, hence wrong height. */
		cr_assert(!incl_ok(leaf, idx, n * 2, proof, len, root),
		    "vector %zu: size * 2", v);
		cr_assert(!incl_ok(leaf, idx, n / 2, proof, len, root),
		    "vector %zu: size / 2", v);
		/* Wrong leaf or root. */
		cr_assert(!incl_ok(other, idx, n, proof, len, root));
		cr_assert(!incl_ok(leaf, idx, n, proof, len, empty));
		cr_assert(!incl_ok(leaf, idx, n, proof, len, other));
		/* An extra hash at the end or the front. */
		memcpy(p, proof, len * 32);
		memcpy(p[len], root, 32);
		cr_assert(!incl_ok(leaf, idx, n, p, len + 1, root),
		    "vector %zu: trailing root", v);
		memset(p[len], 0, 32);
		cr_assert(!incl_ok(leaf, idx, n, p, len + 1, root),
		    "vector %zu: trailing zeros", v);
		memcpy(p[0], root, 32);
		memcpy(p + 1, proof, len * 32);
		cr_assert(!incl_ok(leaf, idx, n, p, len + 1, root),
		    "vector %zu: preceding root", v);
		/* A missing hash. */
		cr_assert(!incl_ok(leaf, idx, n, proof, len - 1, root),
		    "vector %zu: removed hash", v);
		/* An inserted hash. */
		memcpy(p[0], proof[0], 32);
		memcpy(p[1], other, 32);
		memcpy(p + 2, proof + 1, (len - 1) * 32);
		cr_assert(!incl_ok(leaf, idx, n, p, len + 1, root),
		    "vector %zu: inserted hash", v);
		/* Swapped siblings. */
		for (size_t i = 0; i + 1 < len; i++) {
			memcpy(p, proof, len * 32);
			memcpy(p[i], proof[i + 1], 32);
			memcpy(p[i + 1], proof[i], 32);
			cr_assert(!incl_ok(leaf, idx, n, p, len, root),
			    "vector %zu: swapped %zu and %zu", v, i, i + 1);
		}
		/* Every single flipped bit. */
		for (size_t i = 0; i < len; i++)
			for (size_t bit = 0; bit < 256; bit++) {
				memcpy(p, proof, len * 32);
				p[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert(!incl_ok(leaf, idx, n, p, len, root),
				    "vector %zu: hash %zu bit %zu", v, i, bit);
			}
	}
}

Test(merkle, rejects_mutated_consistency_proofs)
{
	hash_t proof[HV_MERKLE_MAX_PROOF], p[HV_MERKLE_MAX_PROOF + 2];
	hash_t r1, r2, other;
	size_t len;

	memset(other, 0x5a, 32);
	for (size_t v = 1; v < 5; v++) {
		uint64_t m = ct_consistency[v].m, n = ct_consistency[v].n;

		for (size_t i = 0; i < ct_consistency[v].len; i++)
			unhex32(ct_consistency[v].proof[i], proof[i]);
		len = ct_consistency[v].len;
		unhex32(ct_roots[m], r1);
		unhex32(ct_roots[n], r2);
		cr_assert(cons_ok(m, n, r1, r2, proof, len));

		/* Wrong old size. */
		cr_assert(!cons_ok(m - 1, n, r1, r2, proof, len),
		    "vector %zu: m - 1", v);
		cr_assert(!cons_ok(m + 1, n, r1, r2, proof, len),
		    "vector %zu: m + 1", v);
		cr_assert(!cons_ok(m ^ 2, n, r1, r2, proof, len),
		    "vector %zu: m ^ 2", v);
		/* Wrong new size, hence wrong height. */
		cr_assert(!cons_ok(m, n * 2, r1, r2, proof, len),
		    "vector %zu: n * 2", v);
		cr_assert(!cons_ok(m, n / 2, r1, r2, proof, len),
		    "vector %zu: n / 2", v);
		/* Wrong roots. */
		cr_assert(!cons_ok(m, n, other, r2, proof, len));
		cr_assert(!cons_ok(m, n, r1, other, proof, len));
		cr_assert(!cons_ok(m, n, r2, r1, proof, len));
		/* Empty proof. */
		cr_assert(!cons_ok(m, n, r1, r2, proof, 0));
		/* An extra hash at the end or the front. */
		memcpy(p, proof, len * 32);
		memcpy(p[len], r1, 32);
		cr_assert(!cons_ok(m, n, r1, r2, p, len + 1),
		    "vector %zu: trailing root1", v);
		memcpy(p[len], r2, 32);
		cr_assert(!cons_ok(m, n, r1, r2, p, len + 1),
		    "vector %zu: trailing root2", v);
		memcpy(p + 1, proof, len * 32);
		memcpy(p[0], r1, 32);
		cr_assert(!cons_ok(m, n, r1, r2, p, len + 1),
		    "vector %zu: preceding root1", v);
		memcpy(p[0], r2, 32);
		cr_assert(!cons_ok(m, n, r1, r2, p, len + 1),
		    "vector %zu: preceding root2", v);
		memcpy(p[0], proof[0], 32);
		cr_assert(!cons_ok(m, n, r1, r2, p, len + 1),
		    "vector %zu: preceding proof[0]", v);
		/* A missing hash. */
		cr_assert(!cons_ok(m, n, r1, r2, proof, len - 1),
		    "vector %zu: truncated", v);
		/* Swapped siblings. */
		for (size_t i = 0; i + 1 < len; i++) {
			memcpy(p, proof, len * 32);
			memcpy(p[i], proof[i + 1], 32);
			memcpy(p[i + 1], proof[i], 32);
			cr_assert(!cons_ok(m, n, r1, r2, p, len),
			    "vector %zu: swapped %zu and %zu", v, i, i + 1);
		}
		/* Every single flipped bit. */
		for (size_t i = 0; i < len; i++)
			for (size_t bit = 0; bit < 256; bit++) {
				memcpy(p, proof, len * 32);
				p[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert(!cons_ok(m, n, r1, r2, p, len),
				    "vector %zu: hash %zu bit %zu", v, i, bit);
			}
	}
}

Test(merkle, handles_trivial_consistency_cases)
{
	hash_t a, b, one[1];

	memset(a, 1, 32);
	memset(b, 2, 32);
	hv_merkle_empty_root(one[0]);
	/* Nothing seen yet: consistent with anything, with no proof. */
	cr_assert(cons_ok(0, 0, a, a, NULL, 0));
	cr_assert(cons_ok(0, 5, a, b, NULL, 0));
	cr_assert(!cons_ok(0, 5, a, b, one, 1));
	/* Same size: the roots must be equal and the proof empty. */
	cr_assert(cons_ok(3, 3, a, a, NULL, 0));
	cr_assert(!cons_ok(3, 3, a, b, NULL, 0));
	cr_assert(!cons_ok(3, 3, a, a, one, 1));
	/* The log shrinking is never consistent. */
	cr_assert(!cons_ok(2, 1, a, b, NULL, 0));
	cr_assert(!cons_ok(2, 1, a, b, one, 1));
}

Test(merkle, rejects_inclusion_outside_the_tree)
{
	hash_t a;

	memset(a, 1, 32);
	cr_assert(!incl_ok(a, 0, 0, NULL, 0, a));
	cr_assert(!incl_ok(a, 1, 1, NULL, 0, a));
	cr_assert(incl_ok(a, 0, 1, NULL, 0, a));
}

Test(merkle, refuses_bad_proof_requests_and_reports_failed_reads)
{
	struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF], root;
	size_t len = 99;

	synthetic_tree(&t, 20);
	cr_assert_eq(hv_merkle_inclusion_proof(tree_leaf, &t, 20, 20, proof,
	                 &len),
	    HV_ENOTFOUND);
	cr_assert_eq(len, 99, "output written on failure");
	cr_assert_eq(hv_merkle_consistency_proof(tree_leaf, &t, 0, 20, proof,
	                 &len),
	    HV_EUSAGE);
	cr_assert_eq(hv_merkle_consistency_proof(tree_leaf, &t, 21, 20, proof,
	                 &len),
	    HV_EUSAGE);
	cr_assert_eq(len, 99, "output written on failure");
	t.fail_at = 13;
	cr_assert_eq(hv_merkle_root(tree_leaf, &t, 20, root), HV_EIO);
	cr_assert_eq(hv_merkle_root(tree_leaf, &t, 13, root), HV_OK);
	cr_assert_eq(hv_merkle_inclusion_proof(tree_leaf, &t, 2, 20, proof,
	                 &len),
	    HV_EIO);
	cr_assert_eq(hv_merkle_consistency_proof(tree_leaf, &t, 5, 20, proof,
	                 &len),
	    HV_EIO);
	cr_assert_eq(len, 99, "output written on failure");
}

/* ---- exhaustive small trees ------------------------------------------ */

Test(merkle, frontier_root_equals_tree_root_for_sizes_0_to_200)
{
	static struct tree t;
	struct hv_frontier f;
	hash_t a, b, c;

	synthetic_tree(&t, 200);
	hv_frontier_init(&f);
	for (uint64_t n = 0; n <= 200; n++) {
		if (n > 0)
			hv_frontier_append(&f, t.leaf[n - 1]);
		hv_frontier_root(&f, a);
		cr_assert_eq(hv_merkle_root(tree_leaf, &t, n, b), HV_OK);
		ref_mth(&t, 0, n, c);
		cr_assert(heq(a, c), "frontier root differs at size %llu",
		    (unsigned long long)n);
		cr_assert(heq(b, c), "tree root differs at size %llu",
		    (unsigned long long)n);
	}
}

Test(merkle, every_inclusion_proof_up_to_size_40_matches_the_rfc_and_verifies)
{
	static struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF], ref[HV_MERKLE_MAX_PROOF], root;
	size_t len, rlen;

	synthetic_tree(&t, 40);
	for (uint64_t n = 1; n <= 40; n++) {
		ref_mth(&t, 0, n, root);
		for (uint64_t i = 0; i < n; i++) {
			cr_assert_eq(hv_merkle_inclusion_proof(tree_leaf, &t, i,
			                 n, proof, &len),
			    HV_OK);
			rlen = 0;
			ref_path(&t, i, 0, n, ref, &rlen);
			cr_assert_eq(len, rlen, "leaf %llu of %llu",
			    (unsigned long long)i, (unsigned long long)n);
			cr_assert_eq(memcmp(proof, ref, len * 32), 0,
			    "leaf %llu of %llu", (unsigned long long)i,
			    (unsigned long long)n);
			cr_assert(incl_ok(t.leaf[i], i, n, proof, len, root),
			    "leaf %llu of %llu", (unsigned long long)i,
			    (unsigned long long)n);
			/* The proof of one leaf never proves another. */
			if (n > 1)
				cr_assert(!incl_ok(t.leaf[(i + 1) % n], i, n,
				    proof, len, root));
		}
	}
}

Test(merkle, every_consistency_proof_up_to_size_40_matches_the_rfc_and_verifies)
{
	static struct tree t;
	hash_t proof[HV_MERKLE_MAX_PROOF], ref[HV_MERKLE_MAX_PROOF];
	hash_t r1, r2, bad;
	size_t len, rlen;

	synthetic_tree(&t, 40);
	for (uint64_t n = 1; n <= 40; n++) {
		ref_mth(&t, 0, n, r2);
		for (uint64_t m = 1; m <= n; m++) {
			ref_mth(&t, 0, m, r1);
			cr_assert_eq(hv_merkle_consistency_proof(tree_leaf, &t,
			                 m, n, proof, &len),
			    HV_OK);
			rlen = 0;
			ref_subproof(&t, m, 0, n, 1, ref, &rlen);
			cr_assert_eq(len, rlen, "%llu -> %llu",
			    (unsigned long long)m, (unsigned long long)n);
			cr_assert_eq(memcmp(proof, ref, len * 32), 0,
			    "%llu -> %llu", (unsigned long long)m,
			    (unsigned long long)n);
			cr_assert(cons_ok(m, n, r1, r2, proof, len),
			    "%llu -> %llu", (unsigned long long)m,
			    (unsigned long long)n);
			/* A rewritten old tree is caught. */
			memcpy(bad, r1, 32);
			bad[31] ^= 1;
			cr_assert(!cons_ok(m, n, bad, r2, proof, len));
		}
	}
}
