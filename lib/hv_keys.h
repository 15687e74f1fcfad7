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
 * Reads a whole file of at most max bytes into a sodium_malloc'd,
 * NUL-terminated buffer, after hv_secret_file_check. Used for key files and
 * bearer tokens. Errors: HV_EINSECURE, HV_EIO, HV_ETOOLARGE, HV_ENOMEM.
 */
hv_err hv_secret_file_read(const char *path, size_t max, char **out,
    size_t *len, struct hv_errdetail *d);

#endif
