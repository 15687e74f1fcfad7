/*
 * hv_keys_int — what hv_keys.c, hv_keyseal.c and hv_secret.c share: the
 * key-file text format (`name = value` lines, standard base64 values) both
 * ways, the careful creation of key files, and the fields of a .key file.
 * One copy of each, so that the node key files, the sealed secrets and the
 * subject key are written and read by the same rules. Not for use outside
 * those three files; everyone else includes hv_keys.h.
 *
 * Nothing declared here logs or prints a secret: error sentences name the
 * file, the line and the field, never the value.
 */
#ifndef HV_KEYS_INT_H
#define HV_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"
#include "hv_keys.h"

#define HV_KEYFILE_MAX 8192 /* bytes; a real key file is about 400 */
#define HV_KV_DECODE_MAX 160 /* largest value we decode: sealed, 144 */

/* sodium_init(); HV_ESYS when libsodium cannot start. */
hv_err hv_sodium_ready(void);

/* ---- creating key files ------------------------------------------------- */

/*
 * Creates dir and its missing parents (0755), like mkdir -p.
 * Errors: HV_EIO (detail names the folder).
 */
hv_err hv_keyfile_mkdir_p(const char *dir, struct hv_errdetail *d);

/*
 * HV_OK when nothing (not even a dangling link) is at path.
 * Errors: HV_EEXISTS, HV_EIO.
 */
hv_err hv_keyfile_absent(const char *path, struct hv_errdetail *d);

/*
 * Creates path (O_EXCL, never following a link), writes data and fsyncs it.
 * A secret file gets exactly 0600 whatever the umask, any other 0644. On
 * failure nothing is left behind. Errors: HV_EEXISTS, HV_EIO.
 */
hv_err hv_keyfile_create(const char *path, const char *data, size_t len,
    int secret, struct hv_errdetail *d);

/*
 * Makes the new directory entries beside path durable; a file system that
 * refuses fsync on a folder is not an error (the files are synced).
 */
void hv_keyfile_sync_dir(const char *path);

/* Appends printf output to buf[cap] at *len; -1 when it would not fit. */
int hv_keyfile_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends "name = BASE64\n" of bin[bin_len]; -1 when it would not fit. */
int hv_keyfile_add_b64(char *buf, size_t cap, size_t *len, const char *name,
    const uint8_t *bin, size_t bin_len);

/* ---- reading key files -------------------------------------------------- */

/* One known field of a key file, filled in by hv_kv_parse. */
struct hv_kv {
	const char *name;
	char *value; /* into the parsed buffer; NULL when absent */
	int line;
};

/*
 * Splits buf (len bytes, buf[len] == '\0') into the known `name = value`
 * lines of kv[n], in place. Blank lines and '#' comments are skipped; a NUL
 * byte, an unknown name, a repeated name or a line without '=' is refused
 * with its line number. A field that may repeat is listed in kv as many
 * times as it may appear; its lines fill those entries in file order.
 * Errors: HV_EMALFORMED.
 */
hv_err hv_kv_parse(char *buf, size_t len, const char *path, struct hv_kv *kv,
    size_t n, struct hv_errdetail *d);

/* HV_EMALFORMED naming the field when f is absent, else HV_OK. */
hv_err hv_kv_require(const struct hv_kv *f, const char *path,
    struct hv_errdetail *d);

/*
 * Decodes the base64 value of f (required) into out, which must receive
 * exactly want (at most HV_KV_DECODE_MAX) bytes; scratch is wiped.
 * Errors: HV_EMALFORMED.
 */
hv_err hv_kv_b64(const struct hv_kv *f, const char *path, uint8_t *out,
    size_t want, struct hv_errdetail *d);

/*
 * Reads the value of f (required) as a decimal number from lo to hi.
 * Errors: HV_EMALFORMED.
 */
hv_err hv_kv_u64(const struct hv_kv *f, const char *path, unsigned long long lo,
    unsigned long long hi, unsigned long long *out, struct hv_errdetail *d);

/* Requires f to hold a node id (ROLE.NAME). Errors: HV_EMALFORMED. */
hv_err hv_kv_node(const struct hv_kv *f, const char *path,
    struct hv_errdetail *d);

/* ---- the .key file ------------------------------------------------------ */

/* The fields of a .key file, as indexes into its struct hv_kv array. */
enum hv_keyfield {
	HV_KF_NODE,
	HV_KF_SIGN_S,
	HV_KF_BOX_S,
	HV_KF_CURVE_S,
	HV_KF_SIGN_P,
	HV_KF_BOX_P,
	HV_KF_CURVE_P,
	HV_KF_KDF,
	HV_KF_SALT,
	HV_KF_OPS,
	HV_KF_MEM,
	HV_KF_NONCE,
	HV_KF_SEALED,
	/* HV_PREV_KEYS_MAX entries each, newest first */
	HV_KF_PREV_BOX,
	HV_KF_PREV_SEALED = HV_KF_PREV_BOX + HV_PREV_KEYS_MAX,
	HV_KF_COUNT = HV_KF_PREV_SEALED + HV_PREV_KEYS_MAX
};

/* Fills kv[HV_KF_COUNT] with the names of a .key file's fields. */
void hv_keyfile_fields(struct hv_kv *kv);

/*
 * Appends the passphrase-sealed lines of k's .key file (node, kdf
 * parameters, nonce, sealed secrets, then one `previous_box_sealed` line
 * per previous payload secret) to buf, a secret buffer. The node id
 * is bound to the seal. Errors: HV_ENOMEM (detail names the passphrase when
 * the KDF lacks memory), HV_ESYS (buf too small).
 */
hv_err hv_keys_seal_text(const hv_keys *k, const char *node_id,
    const char *passphrase, char *buf, size_t cap, size_t *len,
    struct hv_errdetail *d);

/*
 * Opens the sealed secrets of a parsed, passphrase-protected .key file
 * (kv[HV_KF_COUNT], node already checked) into k's secret fields, with the
 * previous payload secrets (`previous_box_sealed` lines) into
 * k->prev_box_secret and k->n_prev_box.
 * Errors: HV_EMALFORMED (a plain secret beside the seal, a bad kdf line),
 * HV_EPASSPHRASE (none given, or it does not open the seal), HV_ENOMEM.
 */
hv_err hv_keys_unseal(const struct hv_kv *kv, const char *path,
    const char *passphrase, hv_keys *k, struct hv_errdetail *d);

#endif
