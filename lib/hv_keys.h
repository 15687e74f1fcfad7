/*
 * hv_keys — a node's three key pairs and their files (SPEC §3).
 *
 * Each node has an Ed25519 signing pair, an X25519 pair for payload
 * encryption and a CURVE (X25519) pair for ZeroMQ transport. The .pub file
 * holds sign_public, box_public, curve_public; the .key file the matching
 * *_secret values; both are `name = value` lines in standard base64 under a
 * comment header. A .key file may be passphrase-protected (Argon2id via
 * crypto_pwhash, then XChaCha20-Poly1305), marked by `kdf_salt`/`sealed`
 * lines instead of plain secrets.
 *
 * Secret files are created with mode 0600 and O_EXCL (never overwritten) and
 * refused at load when readable by group or others. Secrets live in
 * sodium_malloc'd memory and are wiped on destroy. This module never logs.
 *
 * A rotation (SPEC §13) writes new files that keep the past readable: the
 * .key carries every earlier payload secret (`previous_box_secret`, or
 * `previous_box_sealed` under a passphrase), the .pub every earlier signing
 * key with the time it stopped signing (`previous_sign_public = KEY TIME`).
 * Earlier signing secrets are never kept: a rotated-out key signs nothing.
 */
#ifndef HV_KEYS_H
#define HV_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

#define HV_SIGN_PUBLIC_LEN 32
#define HV_SIGN_SECRET_LEN 64
#define HV_BOX_KEY_LEN 32
#define HV_CURVE_KEY_LEN 32
#define HV_SUBJECT_KEY_LEN 32
#define HV_PREV_KEYS_MAX 16 /* earlier key pairs a node's files carry */

/*
 * A signing key a node used before a rotation and the time it stopped
 * signing (unix milliseconds). A signature by it is good for anything made
 * at or before until_ms, never after: a rotated-out key must not sign anew.
 */
struct hv_prev_sign {
	uint8_t sign[HV_SIGN_PUBLIC_LEN];
	int64_t until_ms;
};

/* A node's previous signing keys, newest first. */
struct hv_prev_signs {
	size_t n;
	struct hv_prev_sign k[HV_PREV_KEYS_MAX];
};

struct hv_pubkeys {
	uint8_t sign[HV_SIGN_PUBLIC_LEN];
	uint8_t box[HV_BOX_KEY_LEN];
	uint8_t curve[HV_CURVE_KEY_LEN];
};

/* A node's secret and public keys, held in sodium_malloc'd memory. */
typedef struct hv_keys {
	struct hv_pubkeys pub;
	uint8_t sign_secret[HV_SIGN_SECRET_LEN];
	uint8_t box_secret[HV_BOX_KEY_LEN];
	uint8_t curve_secret[HV_CURVE_KEY_LEN];
	/*
	 * Payload secret keys of earlier rotations, newest first, so that a
	 * message sealed to an older key still opens; their public halves
	 * are derived at load.
	 */
	size_t n_prev_box;
	uint8_t prev_box_secret[HV_PREV_KEYS_MAX][HV_BOX_KEY_LEN];
	uint8_t prev_box_public[HV_PREV_KEYS_MAX][HV_BOX_KEY_LEN];
	/* Written to the .pub by hv_keys_save; hv_keys_load leaves it empty. */
	struct hv_prev_signs prev_sign;
} hv_keys;

/* New random key pairs. *out is freed with hv_keys_destroy. Errors: HV_ENOMEM. */
hv_err hv_keys_generate(hv_keys **out);

/*
 * Writes DIR/NODE_ID.key (0600, O_EXCL) and DIR/NODE_ID.pub, creating DIR
 * (0755) when missing. With a non-NULL passphrase the secrets are sealed.
 * Neither file is written if either exists.
 * Errors: HV_EEXISTS, HV_EIO (detail names the path), HV_ENOMEM.
 */
hv_err hv_keys_save(const hv_keys *k, const char *node_id, const char *dir,
    const char *passphrase, struct hv_errdetail *d);

/*
 * Loads a .key file. passphrase may be NULL for an unprotected file.
 * The public halves are derived from the secrets.
 * Errors: HV_EINSECURE (group/other may read), HV_EPASSPHRASE (missing or
 * wrong for a protected file), HV_EMALFORMED (detail names the line),
 * HV_EIO, HV_ENOMEM.
 */
hv_err hv_keys_load(const char *path, const char *passphrase, hv_keys **out,
    struct hv_errdetail *d);

/* Loads a .pub file. Errors: HV_EMALFORMED (detail names the line), HV_EIO. */
hv_err hv_pubkeys_load(const char *path, struct hv_pubkeys *out,
    struct hv_errdetail *d);

/*
 * Loads a .pub file with its `previous_sign_public = BASE64 ISO-TIME` lines
 * (newest first) into prev, which may be NULL. Errors: as hv_pubkeys_load.
 */
hv_err hv_pubkeys_load_prev(const char *path, struct hv_pubkeys *out,
    struct hv_prev_signs *prev, struct hv_errdetail *d);

/*
 * Rotates a node's keys (SPEC §13): loads old_key (with passphrase when it
 * is protected) and the .pub beside it, makes three new key pairs and
 * writes DIR/NODE.key and DIR/NODE.pub, sealed with the same passphrase.
 * The new .key carries the old payload secret first, then every earlier
 * one; the new .pub carries the old signing key with until_ms = now_ms
 * rounded up to the whole second (never before an earlier rotation's end),
 * then every earlier one. Never overwrites: the old files stay where they
 * are. *key_path (malloc'd, the caller frees) names the new .key.
 * Errors: HV_EEXISTS; HV_EMALFORMED when the old files already carry
 * HV_PREV_KEYS_MAX earlier keys (dropping one would make messages sealed
 * to it unreadable); those of hv_keys_load and hv_keys_save.
 */
hv_err hv_keys_rotate(const char *old_key, const char *dir,
    const char *passphrase, int64_t now_ms, char **key_path,
    struct hv_errdetail *d);

/*
 * Verifies an Ed25519 signature over msg by `current`, or by a previous key
 * of prev (may be NULL) whose until_ms is at or after at_ms, the time the
 * signed thing claims to have been made. Errors: HV_EBADSIG.
 */
hv_err hv_sign_verify_at(const uint8_t current[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, const uint8_t *msg, size_t len,
    const uint8_t sig[64], int64_t at_ms);

/*
 * hv_pubkeys_load for a .pub that must belong to a node of `role` (the
 * part of the node id before the dot: "broker"), so that another node's
 * .pub given in its place is named instead of failing later as a bad
 * signature. Errors: HV_EUSAGE ("FILE: this is police.avon's key, not the
 * broker's"), and those of hv_pubkeys_load.
 */
hv_err hv_pubkeys_load_role(const char *path, const char *role,
    struct hv_pubkeys *out, struct hv_errdetail *d);

/* Wipes and frees *k; accepts NULL; sets *k = NULL. */
void hv_keys_destroy(hv_keys **k);

/*
 * Reads a passphrase from the first line of a file (which must not be
 * readable by group/others). *out is sodium_malloc'd; free with
 * hv_secret_free(). Errors: HV_EINSECURE, HV_EIO, HV_ENOMEM.
 */
hv_err hv_passphrase_read(const char *path, char **out, struct hv_errdetail *d);

/*
 * Writes a new random 32-byte partnership subject key (SPEC §4.3) as a
 * base64 line in a 0600 file, never overwriting.
 * Errors: HV_EEXISTS, HV_EIO.
 */
hv_err hv_subject_key_generate(const char *path, struct hv_errdetail *d);

/*
 * Loads the subject key into sodium_malloc'd memory (*out, 32 bytes); free
 * with hv_secret_free. Errors: HV_EINSECURE, HV_EMALFORMED, HV_EIO, HV_ENOMEM.
 */
hv_err hv_subject_key_load(const char *path, uint8_t **out,
    struct hv_errdetail *d);

/* sodium_free for secrets handed out by this module; accepts NULL. */
void hv_secret_free(void *p);

/*
 * Refuses a secret file readable or writable by group or others, or not a
 * regular file. Errors: HV_EINSECURE, HV_EIO.
 */
hv_err hv_secret_file_check(const char *path, struct hv_errdetail *d);

/*
 * 1 when path is a public key file: it lists sign_public and neither
 * sign_secret nor a sealed secret. 0 otherwise, also when it cannot be read
 * (the secret file checks then say why). What it reads is wiped.
 */
int hv_keys_is_public_file(const char *path);

/*
 * Refuses a public key file given where a secret key is wanted, naming
 * opt, the option or config key that wanted it ("--key", "key in
 * agent.ini"), so the sentence is not a misleading "run chmod 600".
 * Errors: HV_EUSAGE.
 */
hv_err hv_keys_secret_check(const char *path, const char *opt,
    struct hv_errdetail *d);

/*
 * Reads a whole file of at most max bytes into a sodium_malloc'd,
 * NUL-terminated buffer, after hv_secret_file_check. Used for key files and
 * bearer tokens. Errors: HV_EINSECURE, HV_EIO, HV_ETOOLARGE, HV_ENOMEM.
 */
hv_err hv_secret_file_read(const char *path, size_t max, char **out,
    size_t *len, struct hv_errdetail *d);

#endif
