/*
 * hv_sealed — the lawful basis's justification sealed to the partnership's
 * information-governance nodes (SPEC §4.2, §9).
 *
 * A practitioner's justification is free text, and free text can name a
 * child whatever a pattern looks for. So it never travels in clear: the
 * sending agent encrypts it once with a random key under
 * XChaCha20-Poly1305 (associated data "haven-justification-v1\0" || message
 * id, so a sealed justification cannot be moved onto another message) and
 * seals that key (crypto_box_seal) to every non-revoked `ig.*` node of its
 * directory. The envelope carries the ciphertext, the sealed keys, the
 * node ids they are sealed to and the clear length in characters; all of it
 * is signed. The broker checks and stores only those; `haven audit --key
 * IG.key` opens them.
 *
 * One copy, used by agent, broker and CLI. This module never logs, and the
 * clear text exists only in the caller's buffers, wiped after sealing.
 */
#ifndef HV_SEALED_H
#define HV_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_keys.h"

/* 1 when node is an information-governance node ("ig." prefix). */
int hv_node_is_ig(const char *node);

/*
 * Seals b->justification for message id to every non-revoked ig.* node of
 * dir: sets justification_len (characters once trimmed), sealed,
 * sealed_len, sealed_for and sealed_keys, then wipes the clear text. A
 * justification that is empty or only white space seals to nothing (all
 * sealed fields zero). On failure b's sealed fields are zero and the clear
 * text is left as it was.
 * Errors: HV_EBASIS (field basis.justification: the directory has no ig.*
 * node to seal to, or more than HV_SEALED_FOR_MAX), HV_EMALFORMED (an ig
 * node's X25519 key is unusable), HV_ESYS (no randomness).
 */
hv_err hv_justification_seal(struct hv_basis *b, const uint8_t id[HV_ID_LEN],
    const hv_directory *dir, struct hv_errdetail *d);

/*
 * Opens b's sealed justification for message id with an ig.* node's keys,
 * trying each sealed key with the node's current payload key and then each
 * earlier one its key file keeps (§13 rotation). On success out holds the clear text,
 * NUL-terminated (cap must be at least HV_JUSTIFICATION_MAX + 1).
 * Errors: HV_ENOTFOUND (nothing is sealed), HV_ENOTRECIPIENT (not sealed
 * to these keys), HV_EDECRYPT (the ciphertext or its binding to the id is
 * broken), HV_EMALFORMED (cap too small, lengths out of range).
 */
hv_err hv_justification_open(const struct hv_basis *b,
    const uint8_t id[HV_ID_LEN], const hv_keys *ig, char *out, size_t cap);

/*
 * The checks a broker can make without the key (SPEC §4.2): a non-zero
 * length has a ciphertext at least that long (plus nonce and tag) sealed
 * to at least one ig.* node, each a known, non-revoked node of dir, none
 * twice; a zero length has nothing sealed; a clear justification is never
 * present. dir may be NULL to check the shape alone.
 * Errors: HV_EBASIS with field basis.justification.
 */
hv_err hv_justification_check(const struct hv_basis *b, const hv_directory *dir,
    struct hv_errdetail *d);

#endif
