/*
 * hv_envelope — sealing, signing, verifying and opening Haven envelopes
 * (SPEC §4.4, §4.5).
 *
 * Canonical signing bytes (hv_envelope_canonical), version 2:
 *
 *	"haven-envelope-v2\0"			18-byte domain tag
 *	then, in this order, each field as a u32 big-endian length and its
 *	bytes; integers are 8-byte big-endian values inside such a field,
 *	except flags and justification_len, 4-byte big-endian values; counts
 *	are bare u32 BE:
 *	id, sender, u32 count + each recipient, type, priority, created,
 *	basis.consent, basis.art6, basis.art9, basis.justification_len,
 *	basis.justification_sealed, u32 count + each (sealed_for node, its
 *	sealed key), basis.decided_by, subject, reply_to (empty when none),
 *	flags, outcome, nonce, BLAKE2b-256(nonce || ciphertext), u32 count +
 *	each sealed key, and, only when the envelope has one, the 8-byte
 *	subject-key id (SPEC §15) as a last field, so that envelopes signed
 *	before it existed still verify.
 *
 * Version 1 signed the justification in clear; version 2 signs what
 * travels instead, the justification sealed to the ig.* nodes (SPEC §4.2).
 *
 * The digest stands for the ciphertext so that an audit record, which keeps
 * only the digest and the signature, can still be checked against the
 * sender's key. The AEAD's associated data uses the same encoding over
 * "haven-ad-v1\0", id, sender and the recipients.
 *
 * Changing either encoding breaks every stored signature: the fixed-key
 * vector in tests/vectors/envelope-v2.hex pins it.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_envelope.h"

static const char envelope_tag[] = "haven-envelope-v2"; /* + its NUL */
static const char ad_tag[] = "haven-ad-v1";

#define NOT_SHARED "NOT_SHARED"

/* ---- canonical encoding ----------------------------------------------- */

/*
 * A growable byte buffer. Writers record allocation failure in `failed`
 * so that a whole encoding can be written and checked once at the end.
 */
struct canon {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int failed;
};

static void
canon_put(struct canon *c, const void *p, size_t n)
{
	if (c->failed)
		return;
	if (c->cap - c->len < n) {
		size_t cap = c->cap ? c->cap : 512;
		uint8_t *nb;

		while (cap - c->len < n)
			cap *= 2;
		if ((nb = realloc(c->buf, cap)) == NULL) {
			c->failed = 1;
			return;
		}
		c->buf = nb;
		c->cap = cap;
	}
	if (n > 0)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void
canon_u32(struct canon *c, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

	canon_put(c, b, sizeof(b));
}

static void
canon_field(struct canon *c, const void *p, size_t n)
{
	canon_u32(c, (uint32_t)n);
	canon_put(c, p, n);
}

/* A string field of a fixed array; never reads past the array. */
static void
canon_str(struct canon *c, const char *s, size_t cap)
{
	canon_field(c, s, strnlen(s, cap));
}

static void
canon_i64(struct canon *c, int64_t v)
{
	uint64_t u = (uint64_t)v;
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(u >> (56 - 8 * i));
	canon_field(c, b, sizeof(b));
}

/* The AEAD's associated data: id, sender and recipients. */
static hv_err
ad_bytes(const hv_envelope *env, struct canon *c)
{
	canon_put(c, ad_tag, sizeof(ad_tag));
	canon_field(c, env->id, HV_ID_LEN);
	canon_str(c, env->sender, sizeof(env->sender));
	canon_u32(c, (uint32_t)env->n_recipients);
	for (size_t i = 0; i < env->n_recipients; i++)
		canon_str(c, env->recipients[i], sizeof(env->recipients[i]));
	if (c->failed) {
		free(c->buf);
		c->buf = NULL;
		return HV_ENOMEM;
	}
	return HV_OK;
}

/*
 * Canonical signing bytes, as described at the top of this file. Also
 * returns HV_EMALFORMED for more than HV_MAX_RECIPIENTS recipients, a
 * broken invariant that would otherwise read past the arrays.
 */
hv_err
hv_envelope_canonical(const hv_envelope *env, uint8_t **out, size_t *len)
{
	struct canon c = { 0 };
	uint8_t digest[HV_DIGEST_LEN];
	uint8_t flags[4];

	if (env->n_recipients > HV_MAX_RECIPIENTS ||
	    env->basis.n_sealed_for > HV_SEALED_FOR_MAX ||
	    env->basis.sealed_len > sizeof(env->basis.sealed))
		return HV_EMALFORMED;
	hv_envelope_digest(env, digest);
	flags[0] = env->flags >> 24;
	flags[1] = env->flags >> 16;
	flags[2] = env->flags >> 8;
	flags[3] = env->flags;

	canon_put(&c, envelope_tag, sizeof(envelope_tag));
	canon_field(&c, env->id, HV_ID_LEN);
	canon_str(&c, env->sender, sizeof(env->sender));
	canon_u32(&c, (uint32_t)env->n_recipients);
	for (size_t i = 0; i < env->n_recipients; i++)
		canon_str(&c, env->recipients[i], sizeof(env->recipients[i]));
	canon_str(&c, env->type, sizeof(env->type));
	canon_str(&c, env->priority, sizeof(env->priority));
	canon_i64(&c, env->created);
	canon_str(&c, env->basis.consent, sizeof(env->basis.consent));
	canon_str(&c, env->basis.art6, sizeof(env->basis.art6));
	canon_str(&c, env->basis.art9, sizeof(env->basis.art9));
	canon_u32(&c, 4);
	canon_u32(&c, env->basis.justification_len);
	canon_field(&c, env->basis.sealed, env->basis.sealed_len);
	canon_u32(&c, (uint32_t)env->basis.n_sealed_for);
	for (size_t i = 0; i < env->basis.n_sealed_for; i++) {
		canon_str(&c, env->basis.sealed_for[i],
		    sizeof(env->basis.sealed_for[i]));
		canon_field(&c, env->basis.sealed_keys[i], HV_SEALED_KEY_LEN);
	}
	canon_str(&c, env->basis.decided_by, sizeof(env->basis.decided_by));
	canon_field(&c, env->subject, sizeof(env->subject));
	canon_field(&c, env->reply_to, env->has_reply_to ? HV_ID_LEN : 0);
	canon_field(&c, flags, sizeof(flags));
	canon_str(&c, env->outcome, sizeof(env->outcome));
	canon_field(&c, env->nonce, HV_NONCE_LEN);
	canon_field(&c, digest, sizeof(digest));
	canon_u32(&c, (uint32_t)env->n_recipients);
	for (size_t i = 0; i < env->n_recipients; i++)
		canon_field(&c, env->sealed[i], HV_SEALED_KEY_LEN);
	if (env->has_subject_key_id)
		canon_field(&c, env->subject_key_id,
		    sizeof(env->subject_key_id));
	if (c.failed) {
		free(c.buf);
		return HV_ENOMEM;
	}
	*out = c.buf;
	*len = c.len;
	return HV_OK;
}

void
hv_envelope_digest(const hv_envelope *env, uint8_t out[HV_DIGEST_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, HV_DIGEST_LEN);
	crypto_generichash_update(&st, env->nonce, HV_NONCE_LEN);
	if (env->ciphertext_len > 0)
		crypto_generichash_update(&st, env->ciphertext,
		    env->ciphertext_len);
	crypto_generichash_final(&st, out, HV_DIGEST_LEN);
}

/* ---- identifiers and sizes -------------------------------------------- */

void
hv_envelope_new_id(uint8_t id[HV_ID_LEN])
{
	if (sodium_init() < 0)
		abort(); /* no randomness: nothing safe to return */
	randombytes_buf(id, HV_ID_LEN);
}

/*
 * Smallest power of two >= max(HV_PAD_MIN, len + 1): sodium_pad always
 * writes at least one padding byte. Returns 0 when no bucket fits in a
 * size_t.
 */
size_t
hv_envelope_padded_len(size_t len)
{
	size_t b = HV_PAD_MIN;

	if (len >= SIZE_MAX / 2)
		return 0;
	while (b < len + 1)
		b *= 2;
	return b;
}

static int
is_bucket(size_t n)
{
	return n >= HV_PAD_MIN && (n & (n - 1)) == 0;
}

int
hv_envelope_recipient_index(const hv_envelope *env, const char *node)
{
	size_t n = env->n_recipients;

	if (n > HV_MAX_RECIPIENTS)
		n = HV_MAX_RECIPIENTS;
	for (size_t i = 0; i < n; i++)
		if (strncmp(env->recipients[i], node, HV_NODE_MAX + 1) == 0)
			return (int)i;
	return -1;
}

/* ---- signing ---------------------------------------------------------- */

static hv_err
sign(const hv_envelope *env, const hv_keys *sender,
    uint8_t sig[HV_SIGNATURE_LEN])
{
	uint8_t *canon;
	size_t len;
	hv_err e;

	if ((e = hv_envelope_canonical(env, &canon, &len)) != HV_OK)
		return e;
	crypto_sign_detached(sig, NULL, canon, len, sender->sign_secret);
	free(canon);
	return HV_OK;
}

hv_err
hv_envelope_sign(hv_envelope *env, const hv_keys *sender)
{
	return sign(env, sender, env->signature);
}

hv_err
hv_envelope_verify(const hv_envelope *env,
    const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN])
{
	uint8_t *canon;
	size_t len;
	hv_err e;
	int rc;

	if ((e = hv_envelope_canonical(env, &canon, &len)) != HV_OK)
		return e;
	rc = crypto_sign_verify_detached(env->signature, canon, len,
	    sender_sign);
	free(canon);
	return rc == 0 ? HV_OK : HV_EBADSIG;
}

hv_err
hv_envelope_verify_at(const hv_envelope *env,
    const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev)
{
	uint8_t *canon;
	size_t len;
	hv_err e;

	if ((e = hv_envelope_canonical(env, &canon, &len)) != HV_OK)
		return e;
	e = hv_sign_verify_at(sender_sign, prev, canon, len, env->signature,
	    env->created * 1000);
	free(canon);
	return e;
}

hv_err
hv_envelope_sign_decision(hv_envelope *env, const hv_keys *sender)
{
	hv_envelope tmp;
	hv_err e;

	if (sodium_init() < 0)
		return HV_ESYS;
	if (env->n_recipients != 0 || env->ciphertext_len != 0 ||
	    env->ciphertext != NULL)
		return HV_EMALFORMED;
	if (strncmp(env->outcome, NOT_SHARED, sizeof(env->outcome)) != 0)
		return HV_EMALFORMED;
	tmp = *env;
	memset(tmp.nonce, 0, sizeof(tmp.nonce));
	if ((e = sign(&tmp, sender, tmp.signature)) != HV_OK)
		return e;
	*env = tmp;
	return HV_OK;
}

/* ---- sealing and opening ---------------------------------------------- */

hv_err
hv_envelope_seal(hv_envelope *env, const uint8_t *payload, size_t len,
    const uint8_t (*recipient_box)[HV_BOX_KEY_LEN], const hv_keys *sender)
{
	hv_envelope tmp;
	struct canon ad = { 0 };
	/*
	 * The content key lives on the stack for the few microseconds of the
	 * call and is wiped on every way out, as crypto_box_seal does with its
	 * ephemeral key: sodium_malloc would cost an mmap, mlock, mprotect
	 * and munmap per message, and the TLB shootdowns those send to every
	 * other core of a threaded daemon. The payload beside it is in
	 * ordinary memory anyway.
	 */
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t *plain = NULL, *ct = NULL;
	size_t padlen, padded;
	unsigned long long ctlen;
	hv_err e;

	if (sodium_init() < 0)
		return HV_ESYS;
	if (env->n_recipients == 0 || env->n_recipients > HV_MAX_RECIPIENTS)
		return HV_EMALFORMED;
	if ((padlen = hv_envelope_padded_len(len)) == 0)
		return HV_ENOMEM;
	tmp = *env;
	if ((e = ad_bytes(&tmp, &ad)) != HV_OK)
		return e;
	e = HV_ENOMEM;
	if ((plain = malloc(padlen)) == NULL ||
	    (ct = malloc(padlen + crypto_aead_xchacha20poly1305_ietf_ABYTES)) ==
	        NULL)
		goto out;

	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	randombytes_buf(tmp.nonce, sizeof(tmp.nonce));
	if (len > 0)
		memcpy(plain, payload, len);
	if (sodium_pad(&padded, plain, len, padlen, padlen) != 0 ||
	    padded != padlen) {
		e = HV_ESYS; /* cannot happen: padlen > len */
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, plain, padded,
	    ad.buf, ad.len, NULL, tmp.nonce, key);
	for (size_t i = 0; i < tmp.n_recipients; i++) {
		if (crypto_box_seal(tmp.sealed[i], key,
		        crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
		        recipient_box[i]) != 0) {
			e = HV_EMALFORMED; /* not a usable X25519 key */
			goto out;
		}
	}
	tmp.ciphertext = ct;
	tmp.ciphertext_len = (size_t)ctlen;
	if ((e = sign(&tmp, sender, tmp.signature)) != HV_OK)
		goto out;
	*env = tmp;
	ct = NULL;
	e = HV_OK;
out:
	if (plain != NULL) {
		sodium_memzero(plain, padlen);
		free(plain);
	}
	free(ct);
	sodium_memzero(key, sizeof(key));
	free(ad.buf);
	return e;
}

/*
 * Opens recipient idx's sealed payload key with the current payload secret
 * or, after a rotation, an earlier one: a message sealed before the
 * recipient rotated (or queued while it did) still opens.
 */
static int
open_sealed_key(const hv_envelope *env, int idx, const hv_keys *k, uint8_t *key)
{
	if (crypto_box_seal_open(key, env->sealed[idx], HV_SEALED_KEY_LEN,
	        k->pub.box, k->box_secret) == 0)
		return 0;
	for (size_t i = 0; i < k->n_prev_box && i < HV_PREV_KEYS_MAX; i++)
		if (crypto_box_seal_open(key, env->sealed[idx],
		        HV_SEALED_KEY_LEN, k->prev_box_public[i],
		        k->prev_box_secret[i]) == 0)
			return 0;
	return -1;
}

hv_err
hv_envelope_open(const hv_envelope *env, const char *me, const hv_keys *me_keys,
    const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN], uint8_t **payload,
    size_t *len)
{
	return hv_envelope_open_at(env, me, me_keys, sender_sign, NULL, payload,
	    len);
}

hv_err
hv_envelope_open_at(const hv_envelope *env, const char *me,
    const hv_keys *me_keys, const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, uint8_t **payload, size_t *len)
{
	struct canon ad = { 0 };
	/* On the stack and wiped on every way out, as in hv_envelope_seal. */
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t *plain = NULL, *copy = NULL;
	size_t padlen = 0, unpadded;
	unsigned long long plen;
	int idx;
	hv_err e;

	if ((e = hv_envelope_verify_at(env, sender_sign, prev)) != HV_OK)
		return e;
	if ((idx = hv_envelope_recipient_index(env, me)) < 0)
		return HV_ENOTRECIPIENT;
	if (env->ciphertext == NULL ||
	    env->ciphertext_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return HV_EMALFORMED;
	padlen =
	    env->ciphertext_len - crypto_aead_xchacha20poly1305_ietf_ABYTES;
	if (!is_bucket(padlen))
		return HV_EMALFORMED;
	if ((e = ad_bytes(env, &ad)) != HV_OK)
		return e;
	e = HV_ENOMEM;
	if ((plain = malloc(padlen)) == NULL)
		goto out;
	if (open_sealed_key(env, idx, me_keys, key) != 0) {
		e = HV_EDECRYPT;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL,
	        env->ciphertext, env->ciphertext_len, ad.buf, ad.len,
	        env->nonce, key) != 0) {
		e = HV_EDECRYPT;
		goto out;
	}
	if (sodium_unpad(&unpadded, plain, (size_t)plen, (size_t)plen) != 0) {
		e = HV_EMALFORMED;
		goto out;
	}
	if ((copy = malloc(unpadded + 1)) == NULL)
		goto out;
	memcpy(copy, plain, unpadded);
	copy[unpadded] = '\0';
	*payload = copy;
	*len = unpadded;
	e = HV_OK;
out:
	if (plain != NULL) {
		sodium_memzero(plain, padlen);
		free(plain);
	}
	sodium_memzero(key, sizeof(key));
	free(ad.buf);
	return e;
}

void
hv_payload_free(uint8_t *payload, size_t len)
{
	if (payload == NULL)
		return;
	sodium_memzero(payload, len + 1);
	free(payload);
}

/* ---- ownership -------------------------------------------------------- */

void
hv_envelope_clear(hv_envelope *env)
{
	if (env == NULL)
		return;
	free(env->ciphertext);
	memset(env, 0, sizeof(*env));
}

hv_err
hv_envelope_copy(hv_envelope *dst, const hv_envelope *src)
{
	uint8_t *ct = NULL;

	if (src->ciphertext_len > 0) {
		if ((ct = malloc(src->ciphertext_len)) == NULL)
			return HV_ENOMEM;
		memcpy(ct, src->ciphertext, src->ciphertext_len);
	}
	*dst = *src;
	dst->ciphertext = ct;
	return HV_OK;
}
