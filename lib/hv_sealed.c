/*
 * hv_sealed — sealing, opening and checking the justification of a lawful
 * basis (SPEC §4.2). See hv_sealed.h for the construction.
 */
#include <string.h>

#include <sodium.h>

#include "hv_policy.h"
#include "hv_sealed.h"

static const char just_ad_tag[] = "haven-justification-v1"; /* + its NUL */

#define AD_LEN (sizeof(just_ad_tag) + HV_ID_LEN)

/* The AEAD's associated data: the domain tag with its NUL, then the id. */
static void
just_ad(const uint8_t id[HV_ID_LEN], uint8_t ad[AD_LEN])
{
	memcpy(ad, just_ad_tag, sizeof(just_ad_tag));
	memcpy(ad + sizeof(just_ad_tag), id, HV_ID_LEN);
}

int
hv_node_is_ig(const char *node)
{
	return node != NULL && strncmp(node, "ig.", 3) == 0 && node[3] != '\0';
}

/* Clears every sealed field of b, leaving the clear text alone. */
static void
clear_sealed(struct hv_basis *b)
{
	b->justification_len = 0;
	b->sealed_len = 0;
	sodium_memzero(b->sealed, sizeof(b->sealed));
	b->n_sealed_for = 0;
	memset(b->sealed_for, 0, sizeof(b->sealed_for));
	memset(b->sealed_keys, 0, sizeof(b->sealed_keys));
}

hv_err
hv_justification_seal(struct hv_basis *b, const uint8_t id[HV_ID_LEN],
    const hv_directory *dir, struct hv_errdetail *d)
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t ad[AD_LEN];
	unsigned long long ctlen;
	size_t len = strnlen(b->justification, sizeof(b->justification));
	size_t chars = hv_policy_trimmed_chars(b->justification);
	hv_err e = HV_OK;

	clear_sealed(b);
	if (chars == 0) {
		sodium_memzero(b->justification, sizeof(b->justification));
		return HV_OK;
	}
	if (sodium_init() < 0)
		return HV_ESYS;
	if (len > HV_JUSTIFICATION_MAX)
		return hv_errset(d, HV_EBASIS, "basis.justification",
		    "basis.justification is longer than %d bytes.",
		    HV_JUSTIFICATION_MAX);
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);

		if (!hv_node_is_ig(n->id) || n->revoked || !n->has_keys)
			continue;
		if (b->n_sealed_for == HV_SEALED_FOR_MAX) {
			e = hv_errset(d, HV_EBASIS, "basis.justification",
			    "The directory has more than %d ig.* nodes to "
			    "seal basis.justification to.",
			    HV_SEALED_FOR_MAX);
			goto out;
		}
		snprintf(b->sealed_for[b->n_sealed_for],
		    sizeof(b->sealed_for[0]), "%s", n->id);
		/* The key is sealed below, once it exists. */
		memcpy(b->sealed_keys[b->n_sealed_for], n->keys.box,
		    HV_BOX_KEY_LEN);
		b->n_sealed_for++;
	}
	if (b->n_sealed_for == 0) {
		e = hv_errset(d, HV_EBASIS, "basis.justification",
		    "The directory has no ig.* node to seal "
		    "basis.justification to; the partnership's agreement must "
		    "list one.");
		goto out;
	}

	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	for (size_t i = 0; i < b->n_sealed_for; i++) {
		uint8_t pk[HV_BOX_KEY_LEN];

		memcpy(pk, b->sealed_keys[i], sizeof(pk));
		if (crypto_box_seal(b->sealed_keys[i], key, sizeof(key), pk) !=
		    0) {
			e = hv_errset(d, HV_EMALFORMED, "basis.justification",
			    "The X25519 key of %.64s in the directory cannot "
			    "be sealed to.",
			    b->sealed_for[i]);
			goto out;
		}
	}
	randombytes_buf(b->sealed, HV_NONCE_LEN);
	just_ad(id, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(b->sealed + HV_NONCE_LEN,
	    &ctlen, (const uint8_t *)b->justification, len, ad, sizeof(ad),
	    NULL, b->sealed, key);
	b->sealed_len = HV_NONCE_LEN + (size_t)ctlen;
	b->justification_len = (uint32_t)chars;
	sodium_memzero(b->justification, sizeof(b->justification));
out:
	sodium_memzero(key, sizeof(key));
	if (e != HV_OK)
		clear_sealed(b);
	return e;
}

/* 1 when sealed opens with ig's current or an earlier payload key. */
static int
open_sealed_key(const uint8_t sealed[HV_SEALED_KEY_LEN], const hv_keys *ig,
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	size_t k;

	if (crypto_box_seal_open(key, sealed, HV_SEALED_KEY_LEN, ig->pub.box,
	        ig->box_secret) == 0)
		return 1;
	for (k = 0; k < ig->n_prev_box && k < HV_PREV_KEYS_MAX; k++)
		if (crypto_box_seal_open(key, sealed, HV_SEALED_KEY_LEN,
		        ig->prev_box_public[k], ig->prev_box_secret[k]) == 0)
			return 1;
	return 0;
}

hv_err
hv_justification_open(const struct hv_basis *b, const uint8_t id[HV_ID_LEN],
    const hv_keys *ig, char *out, size_t cap)
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t ad[AD_LEN];
	unsigned long long mlen;
	size_t i;

	if (b->sealed_len == 0)
		return HV_ENOTFOUND;
	if (b->sealed_len < HV_NONCE_LEN + HV_AEAD_TAG_LEN ||
	    b->sealed_len > sizeof(b->sealed) ||
	    b->n_sealed_for > HV_SEALED_FOR_MAX ||
	    cap < b->sealed_len - HV_NONCE_LEN - HV_AEAD_TAG_LEN + 1)
		return HV_EMALFORMED;
	if (sodium_init() < 0)
		return HV_ESYS;
	/*
	 * The current payload key first, then each one an earlier rotation
	 * kept (newest first), so what was sealed before the IG office
	 * rotated its key still opens with the new key file.
	 */
	for (i = 0; i < b->n_sealed_for; i++)
		if (open_sealed_key(b->sealed_keys[i], ig, key))
			break;
	if (i == b->n_sealed_for)
		return HV_ENOTRECIPIENT;
	just_ad(id, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out, &mlen,
	        NULL, b->sealed + HV_NONCE_LEN, b->sealed_len - HV_NONCE_LEN,
	        ad, sizeof(ad), b->sealed, key) != 0) {
		sodium_memzero(key, sizeof(key));
		return HV_EDECRYPT;
	}
	sodium_memzero(key, sizeof(key));
	out[mlen] = '\0';
	return HV_OK;
}

hv_err
hv_justification_check(const struct hv_basis *b, const hv_directory *dir,
    struct hv_errdetail *d)
{
	static const char field[] = "basis.justification";

	if (b->justification[0] != '\0')
		return hv_errset(d, HV_EBASIS, field,
		    "basis.justification "
		    "must travel sealed to the partnership's ig.* nodes, "
		    "never in clear.");
	if (b->justification_len == 0) {
		if (b->sealed_len != 0 || b->n_sealed_for != 0)
			return hv_errset(d, HV_EBASIS, field,
			    "basis."
			    "justification is sealed but its length is 0.");
		return HV_OK;
	}
	if (b->justification_len > HV_JUSTIFICATION_MAX ||
	    b->sealed_len > sizeof(b->sealed) ||
	    b->sealed_len <
	        HV_NONCE_LEN + HV_AEAD_TAG_LEN + (size_t)b->justification_len)
		return hv_errset(d, HV_EBASIS, field,
		    "basis.justification's "
		    "sealed text (%zu bytes) cannot hold the %u characters it "
		    "claims.",
		    b->sealed_len, (unsigned)b->justification_len);
	if (b->n_sealed_for == 0 || b->n_sealed_for > HV_SEALED_FOR_MAX)
		return hv_errset(d, HV_EBASIS, field,
		    "basis.justification "
		    "must be sealed to at least one and at most %d ig.* "
		    "nodes.",
		    HV_SEALED_FOR_MAX);
	for (size_t i = 0; i < b->n_sealed_for; i++) {
		const char *id = b->sealed_for[i];
		const struct hv_node *n;

		/*
		 * The sentences name the position, not the value: a refusal
		 * is audited, and a forged node id could be any text.
		 */
		if (!hv_node_is_ig(id))
			return hv_errset(d, HV_EBASIS, field,
			    "basis."
			    "justification's key %zu is sealed to a node that "
			    "is not an ig.* node.",
			    i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(id, b->sealed_for[j]) == 0)
				return hv_errset(d, HV_EBASIS, field,
				    "basis."
				    "justification is sealed to the same ig.* "
				    "node twice (keys %zu and %zu).",
				    j + 1, i + 1);
		if (dir == NULL)
			continue;
		n = hv_directory_node(dir, id);
		if (n == NULL || n->revoked || !n->has_keys)
			return hv_errset(d, HV_EBASIS, field,
			    "basis."
			    "justification's key %zu is sealed to an ig.* node "
			    "that is not a current node of the partnership's "
			    "directory.",
			    i + 1);
	}
	return HV_OK;
}
