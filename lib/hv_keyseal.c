/*
 * hv_keyseal — passphrases (SPEC §3): reading one from its file, and sealing
 * a node's secrets with it in a .key file and opening them again.
 *
 * A sealed .key file holds the three secret keys encrypted with
 * XChaCha20-Poly1305 under a key derived from the passphrase by Argon2id,
 * with the node id bound as associated data so that a sealed blob cannot be
 * moved to another node's file. The KDF cost read back from a file is
 * bounded, so a tampered file cannot make a load take forever. Passphrases,
 * derived keys and opened secrets live in sodium_malloc'd memory and are
 * wiped when freed. This module never logs and never prints a passphrase or
 * a secret; the rest of the key file is hv_keys.c's and hv_secret.c's.
 */
#include <string.h>

#include <sodium.h>

#include "hv_keys_int.h"

#define PASSFILE_MAX 4096
#define SECRETS_LEN (HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN + HV_CURVE_KEY_LEN)
#define SEALED_LEN (SECRETS_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define OPSLIMIT_MAX 32ULL /* refuse absurd KDF costs in a tampered file */
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
/* A previous payload secret: its own nonce, then the sealed 32 bytes. */
#define PREV_SEALED_LEN \
	(NONCE_LEN + HV_BOX_KEY_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
/* Bound with the node id to a previous secret, so it cannot pass as current. */
static const char prev_tag[] = "previous_box";

_Static_assert(SEALED_LEN <= HV_KV_DECODE_MAX &&
        PREV_SEALED_LEN <= HV_KV_DECODE_MAX,
    "hv_kv_b64 must be able to decode the sealed secrets");

/* The associated data of a previous secret: node id, NUL, prev_tag. */
static size_t
prev_ad(const char *node_id, uint8_t *ad, size_t cap)
{
	size_t n = strlen(node_id);

	if (n + 1 + sizeof(prev_tag) > cap)
		return 0;
	memcpy(ad, node_id, n + 1);
	memcpy(ad + n + 1, prev_tag, sizeof(prev_tag));
	return n + 1 + sizeof(prev_tag);
}

/* ---- the passphrase file ------------------------------------------------ */

hv_err
hv_passphrase_read(const char *path, char **out, struct hv_errdetail *d)
{
	char *buf = NULL, *nl;
	size_t len;
	hv_err err;

	if ((err = hv_secret_file_read(path, PASSFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		hv_secret_free(buf);
		return hv_errset(d, HV_EPASSPHRASE, "passphrase_file",
		    "%s "
		    "holds no passphrase on its first line.",
		    path);
	}
	*out = buf;
	return HV_OK;
}

/* ---- sealing and opening ------------------------------------------------ */

hv_err
hv_keys_seal_text(const hv_keys *k, const char *node_id, const char *passphrase,
    char *buf, size_t cap, size_t *len, struct hv_errdetail *d)
{
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t sealed[SEALED_LEN];
	uint8_t *plain = NULL, *key = NULL;
	unsigned long long sealed_len = 0;
	hv_err err = HV_OK;
	int bad = 0;

	plain = sodium_malloc(SECRETS_LEN);
	key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	if (plain == NULL || key == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	        passphrase, strlen(passphrase), salt,
	        crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		err = hv_errset(d, HV_ENOMEM, "passphrase",
		    "Not enough memory "
		    "to derive a key from the passphrase.");
		goto out;
	}
	memcpy(plain, k->sign_secret, HV_SIGN_SECRET_LEN);
	memcpy(plain + HV_SIGN_SECRET_LEN, k->box_secret, HV_BOX_KEY_LEN);
	memcpy(plain + HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN, k->curve_secret,
	    HV_CURVE_KEY_LEN);
	/* The node id is bound as associated data: it cannot be swapped. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sealed_len, plain,
	    SECRETS_LEN, (const uint8_t *)node_id, strlen(node_id), NULL, nonce,
	    key);
	bad |= hv_keyfile_add(buf, cap, len,
	    "# The secrets are sealed with a "
	    "passphrase (Argon2id, XChaCha20-Poly1305).\n");
	bad |= hv_keyfile_add(buf, cap, len, "node = %s\n", node_id);
	bad |= hv_keyfile_add(buf, cap, len, "kdf = argon2id\n");
	bad |=
	    hv_keyfile_add_b64(buf, cap, len, "kdf_salt", salt, sizeof(salt));
	bad |= hv_keyfile_add(buf, cap, len, "kdf_opslimit = %llu\n",
	    (unsigned long long)crypto_pwhash_OPSLIMIT_INTERACTIVE);
	bad |= hv_keyfile_add(buf, cap, len, "kdf_memlimit = %llu\n",
	    (unsigned long long)crypto_pwhash_MEMLIMIT_INTERACTIVE);
	bad |= hv_keyfile_add_b64(buf, cap, len, "nonce", nonce, sizeof(nonce));
	bad |= hv_keyfile_add_b64(buf, cap, len, "sealed", sealed,
	    (size_t)sealed_len);
	for (size_t i = 0; i < k->n_prev_box && !bad; i++) {
		uint8_t one[PREV_SEALED_LEN], ad[128];
		size_t adlen = prev_ad(node_id, ad, sizeof(ad));

		randombytes_buf(one, NONCE_LEN);
		crypto_aead_xchacha20poly1305_ietf_encrypt(one + NONCE_LEN,
		    NULL, k->prev_box_secret[i], HV_BOX_KEY_LEN, ad, adlen,
		    NULL, one, key);
		bad |= adlen == 0 ||
		    hv_keyfile_add_b64(buf, cap, len, "previous_box_sealed",
		        one, sizeof(one));
	}
	if (bad)
		err = HV_ESYS;
out:
	hv_secret_free(plain);
	hv_secret_free(key);
	return err;
}

hv_err
hv_keys_unseal(const struct hv_kv *kv, const char *path, const char *passphrase,
    hv_keys *k, struct hv_errdetail *d)
{
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t sealed[SEALED_LEN];
	uint8_t *plain = NULL, *key = NULL;
	unsigned long long ops, mem, plain_len = 0;
	const char *node = kv[HV_KF_NODE].value;
	hv_err err;

	for (int i = HV_KF_SIGN_S; i < HV_KF_PREV_SEALED; i++)
		if ((i <= HV_KF_CURVE_S || i >= HV_KF_PREV_BOX) &&
		    kv[i].value != NULL)
			return hv_errset(d, HV_EMALFORMED, kv[i].name,
			    "%s:%d: "
			    "a passphrase-protected key file must not also "
			    "hold a plain %s.",
			    path, kv[i].line, kv[i].name);
	if ((err = hv_kv_require(&kv[HV_KF_KDF], path, d)) != HV_OK)
		return err;
	if (strcmp(kv[HV_KF_KDF].value, "argon2id") != 0)
		return hv_errset(d, HV_EMALFORMED, "kdf",
		    "%s:%d: kdf must be "
		    "argon2id.",
		    path, kv[HV_KF_KDF].line);
	if ((err = hv_kv_b64(&kv[HV_KF_SALT], path, salt, sizeof(salt), d)) !=
	        HV_OK ||
	    (err = hv_kv_u64(&kv[HV_KF_OPS], path, crypto_pwhash_OPSLIMIT_MIN,
	         OPSLIMIT_MAX, &ops, d)) != HV_OK ||
	    (err = hv_kv_u64(&kv[HV_KF_MEM], path, crypto_pwhash_MEMLIMIT_MIN,
	         crypto_pwhash_MEMLIMIT_SENSITIVE, &mem, d)) != HV_OK ||
	    (err = hv_kv_b64(&kv[HV_KF_NONCE], path, nonce, sizeof(nonce),
	         d)) != HV_OK ||
	    (err = hv_kv_b64(&kv[HV_KF_SEALED], path, sealed, sizeof(sealed),
	         d)) != HV_OK)
		return err;
	if (passphrase == NULL)
		return hv_errset(d, HV_EPASSPHRASE, "passphrase",
		    "%s is "
		    "protected by a passphrase; give the file that holds it.",
		    path);
	plain = sodium_malloc(SECRETS_LEN);
	key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	if (plain == NULL || key == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	        passphrase, strlen(passphrase), salt, ops, (size_t)mem,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		err = hv_errset(d, HV_ENOMEM, "passphrase",
		    "Not enough memory "
		    "to derive the key of %s from its passphrase.",
		    path);
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL,
	        sealed, sizeof(sealed), (const uint8_t *)node, strlen(node),
	        nonce, key) != 0 ||
	    plain_len != SECRETS_LEN) {
		err = hv_errset(d, HV_EPASSPHRASE, "passphrase",
		    "The "
		    "passphrase does not open %s (or the file was altered).",
		    path);
		goto out;
	}
	memcpy(k->sign_secret, plain, HV_SIGN_SECRET_LEN);
	memcpy(k->box_secret, plain + HV_SIGN_SECRET_LEN, HV_BOX_KEY_LEN);
	memcpy(k->curve_secret, plain + HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN,
	    HV_CURVE_KEY_LEN);
	k->n_prev_box = 0;
	for (int i = 0; i < HV_PREV_KEYS_MAX; i++) {
		const struct hv_kv *f = &kv[HV_KF_PREV_SEALED + i];
		uint8_t one[PREV_SEALED_LEN], ad[128];
		size_t adlen = prev_ad(node, ad, sizeof(ad));
		unsigned long long n = 0;

		if (f->value == NULL)
			break;
		if ((err = hv_kv_b64(f, path, one, sizeof(one), d)) != HV_OK)
			goto out;
		if (adlen == 0 ||
		    crypto_aead_xchacha20poly1305_ietf_decrypt(
		        k->prev_box_secret[i], &n, NULL, one + NONCE_LEN,
		        sizeof(one) - NONCE_LEN, ad, adlen, one, key) != 0 ||
		    n != HV_BOX_KEY_LEN) {
			err = hv_errset(d, HV_EPASSPHRASE, "passphrase",
			    "%s:%d: the passphrase does not open this "
			    "previous_box_sealed (or the file was altered).",
			    path, f->line);
			goto out;
		}
		k->n_prev_box++;
	}
out:
	hv_secret_free(plain);
	hv_secret_free(key);
	return err;
}
