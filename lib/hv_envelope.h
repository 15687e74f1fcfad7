/*
 * hv_envelope — the signed, end-to-end encrypted safeguarding message
 * (SPEC §4.4).
 *
 * The payload (the sender's JSON: child, body, deadline) is padded to a
 * power-of-two bucket of at least 1 KiB and encrypted once with a random key
 * under XChaCha20-Poly1305; that key is sealed (crypto_box_seal) to each
 * recipient's X25519 key. The AEAD's associated data binds the message id,
 * the sender and the recipients. The header, the ciphertext digest and the
 * sealed keys are signed with the sender's Ed25519 key over a canonical
 * encoding (hv_envelope_canonical), independent of protobuf's encoding.
 *
 * A decision not to share (SPEC §4.5) is an envelope with no recipients, no
 * payload and outcome "NOT_SHARED".
 *
 * This module never logs and never keeps plaintext beyond the caller's
 * buffers; opened payloads are freed with hv_payload_free, which wipes them.
 */
#ifndef HV_ENVELOPE_H
#define HV_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"
#include "hv_keys.h"

#define HV_ID_LEN 16
#define HV_ID_HEX_LEN 32
#define HV_NODE_MAX 64
#define HV_MAX_RECIPIENTS 16
#define HV_NONCE_LEN 24
#define HV_SEALED_KEY_LEN 80 /* crypto_box_SEALBYTES + 32-byte key */
#define HV_SIGNATURE_LEN 64
#define HV_DIGEST_LEN 32
#define HV_PAD_MIN 1024
#define HV_JUSTIFICATION_MAX 1000
#define HV_DECIDED_BY_MAX 64 /* a staff identifier (SPEC §4.2) */
#define HV_SEALED_FOR_MAX 16 /* ig.* nodes a justification is sealed to */
#define HV_AEAD_TAG_LEN 16
#define HV_JUSTIFICATION_SEALED_MAX \
	(HV_NONCE_LEN + HV_JUSTIFICATION_MAX + HV_AEAD_TAG_LEN)

#define HV_FLAG_DO_NOT_CONTACT_FAMILY 0x1u

/*
 * The lawful basis (SPEC §4.2). `justification` is the clear text: the
 * sending agent fills it and hv_justification_seal (hv_sealed.h) turns it
 * into the sealed fields and wipes it, so it never reaches the wire, the
 * broker or the agent's store. The sealed fields are signed with the rest.
 */
struct hv_basis {
	char consent[24]; /* OBTAINED | NOT_SOUGHT | REFUSED | NOT_POSSIBLE */
	char art6[24];
	char art9[24];
	char justification[HV_JUSTIFICATION_MAX + 1];
	char decided_by[HV_DECIDED_BY_MAX + 1];
	uint32_t justification_len; /* characters, trimmed, of the clear text */
	size_t sealed_len; /* 0, or nonce + ciphertext bytes */
	uint8_t sealed[HV_JUSTIFICATION_SEALED_MAX];
	size_t n_sealed_for;
	char sealed_for[HV_SEALED_FOR_MAX][HV_NODE_MAX + 1];
	uint8_t sealed_keys[HV_SEALED_FOR_MAX][HV_SEALED_KEY_LEN];
};

typedef struct hv_envelope {
	uint8_t id[HV_ID_LEN];
	char sender[HV_NODE_MAX + 1];
	size_t n_recipients;
	char recipients[HV_MAX_RECIPIENTS][HV_NODE_MAX + 1];
	char type[40];
	char priority[16];
	int64_t created; /* unix seconds */
	struct hv_basis basis;
	uint8_t subject[32];
	int has_reply_to;
	uint8_t reply_to[HV_ID_LEN];
	uint32_t flags;
	char outcome[16]; /* "" or "NOT_SHARED" */
	uint8_t nonce[HV_NONCE_LEN];
	uint8_t *ciphertext; /* malloc'd, owned by the envelope */
	size_t ciphertext_len;
	uint8_t sealed[HV_MAX_RECIPIENTS][HV_SEALED_KEY_LEN];
	uint8_t signature[HV_SIGNATURE_LEN];
	int has_subject_key_id; /* 0 in envelopes made before §15 */
	uint8_t subject_key_id[8]; /* hv_subject_key_id of the key */
} hv_envelope;

/* Fills id with 16 random bytes. */
void hv_envelope_new_id(uint8_t id[HV_ID_LEN]);

/* Size of the padded plaintext bucket for a payload of len bytes. */
size_t hv_envelope_padded_len(size_t len);

/*
 * Encrypts payload for env's recipients and signs the envelope. The caller
 * fills id, sender, recipients, type, priority, created, basis, subject,
 * reply_to, flags; recipient_box[i] is the X25519 key of recipients[i].
 * Sets nonce, ciphertext (owned by env), sealed keys and signature.
 * Errors: HV_EMALFORMED (no recipients, too many), HV_ENOMEM.
 */
hv_err hv_envelope_seal(hv_envelope *env, const uint8_t *payload, size_t len,
    const uint8_t (*recipient_box)[HV_BOX_KEY_LEN], const hv_keys *sender);

/*
 * Signs a decision envelope (no recipients, no payload). The caller fills the
 * header and outcome. Errors: HV_EMALFORMED.
 */
hv_err hv_envelope_sign_decision(hv_envelope *env, const hv_keys *sender);

/*
 * Canonical signing bytes: a domain tag, then each header field
 * length-prefixed in a fixed order, the BLAKE2b-256 digest of the
 * ciphertext and the sealed keys. Returns a malloc'd buffer in *out.
 * Errors: HV_ENOMEM.
 */
hv_err hv_envelope_canonical(const hv_envelope *env, uint8_t **out,
    size_t *len);

/* BLAKE2b-256 of nonce || ciphertext, as recorded in audit. */
void hv_envelope_digest(const hv_envelope *env, uint8_t out[HV_DIGEST_LEN]);

/*
 * Signs env again as it stands (after a header change such as a fresh
 * `created`), leaving nonce, ciphertext and sealed keys as they are.
 * Errors: HV_EMALFORMED, HV_ENOMEM.
 */
hv_err hv_envelope_sign(hv_envelope *env, const hv_keys *sender);

/* Verifies env's signature with the sender's Ed25519 key. Errors: HV_EBADSIG. */
hv_err hv_envelope_verify(const hv_envelope *env,
    const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN]);

/*
 * Verifies env's signature with the sender's key valid when env says it
 * was made: current, or a previous key (prev may be NULL) whose end is at
 * or after env->created (SPEC §13). For messages already accepted; the
 * broker admits new ones with the current key alone. Errors: HV_EBADSIG.
 */
hv_err hv_envelope_verify_at(const hv_envelope *env,
    const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev);

/*
 * Like hv_envelope_open, with the signature checked by
 * hv_envelope_verify_at; the payload key is opened with me_keys' current
 * payload secret or, failing that, each previous one, newest first.
 * Errors: as hv_envelope_open.
 */
hv_err hv_envelope_open_at(const hv_envelope *env, const char *me,
    const hv_keys *me_keys, const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, uint8_t **payload, size_t *len);

/*
 * Verifies the signature, then opens the payload as recipient `me`. On
 * success *payload is a new buffer of *len bytes (NUL-terminated for
 * convenience, not counted) freed with hv_payload_free.
 * Errors: HV_EBADSIG, HV_ENOTRECIPIENT, HV_EDECRYPT, HV_EMALFORMED (bad
 * padding), HV_ENOMEM.
 */
hv_err hv_envelope_open(const hv_envelope *env, const char *me,
    const hv_keys *me_keys, const uint8_t sender_sign[HV_SIGN_PUBLIC_LEN],
    uint8_t **payload, size_t *len);

/* Wipes and frees an opened payload; accepts NULL. */
void hv_payload_free(uint8_t *payload, size_t len);

/* Frees the ciphertext and zeroes *env. */
void hv_envelope_clear(hv_envelope *env);

/* Deep copy (ciphertext duplicated). Errors: HV_ENOMEM. */
hv_err hv_envelope_copy(hv_envelope *dst, const hv_envelope *src);

/* Index of node in env's recipients, or -1. */
int hv_envelope_recipient_index(const hv_envelope *env, const char *node);

#endif
