/*
 * hv_directory — the partnership's agreement and its signed directory
 * (SPEC §5).
 *
 * The agreement is the text file an administrator edits; hv_agreement_parse
 * reads it (and the .pub files it names, relative to its own folder) and
 * refuses any error with the line number in the detail. The directory is
 * that agreement compiled into a protobuf Directory, wrapped in a
 * SignedDirectory whose signature is the root's Ed25519 signature over
 * "haven-directory-v1\0" || body.
 *
 * A loaded directory is immutable; a reload builds a new one, and the caller
 * swaps pointers after hv_directory_check_newer. This module never logs.
 */
#ifndef HV_DIRECTORY_H
#define HV_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"
#include "hv_keys.h"

#define HV_ROLE_MAX 64
#define HV_SCOPE_MAX 16
#define HV_RULE_LIST_MAX 32

struct hv_node {
	char id[65];
	char role[HV_ROLE_MAX + 1];
	struct hv_pubkeys keys;
	int has_keys; /* 0 for a node that appears only in `revoke` */
	int revoked;
	size_t n_scope; /* ig nodes: "*" or role names */
	char scope[HV_SCOPE_MAX][HV_ROLE_MAX + 1];
	char endpoint[256]; /* the broker's, empty for others */
	struct hv_prev_signs prev_sign; /* earlier signing keys, newest first */
};

struct hv_rule {
	size_t n_senders, n_recipients, n_types;
	char senders[HV_RULE_LIST_MAX][HV_ROLE_MAX + 1]; /* "*" = any */
	char recipients[HV_RULE_LIST_MAX][HV_ROLE_MAX + 1];
	char types[HV_RULE_LIST_MAX][40];
	int art9_required;
	unsigned line;
};

typedef struct hv_directory hv_directory;

/*
 * Parses the agreement at path. Errors: HV_EBADAGREEMENT with the detail's
 * message "FILE:LINE: reason" and field "line N"; HV_EIO; HV_ENOMEM.
 * A .pub file that cannot be read is an error naming the line.
 */
hv_err hv_agreement_parse(const char *path, hv_directory **out,
    struct hv_errdetail *d);

/*
 * Signs dir with the root key into a packed SignedDirectory (*out malloc'd).
 * Errors: HV_ENOMEM.
 */
hv_err hv_directory_sign(const hv_directory *dir, const hv_keys *root,
    uint8_t **out, size_t *len);

/*
 * Like hv_directory_sign, but by a new root, carrying a handover signed by
 * the current root (old_root), so that nodes which trust old_root accept
 * it (SPEC §13). Errors: HV_ENOMEM.
 */
hv_err hv_directory_sign_handover(const hv_directory *dir,
    const hv_keys *new_root, const hv_keys *old_root, uint8_t **out,
    size_t *len);

/*
 * Verifies and decodes a packed SignedDirectory: signature by root_sign,
 * or by a new root that a handover signed by root_sign names; then every
 * field (node ids, key lengths, roles, types). A directory signed by any
 * other key is refused like one signed by another root.
 * Errors: HV_EBADDIRECTORY (detail names the field), HV_ENOMEM.
 */
hv_err hv_directory_load(const uint8_t *buf, size_t len,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], hv_directory **out,
    struct hv_errdetail *d);

/* Reads and loads a directory file. Errors: as above, plus HV_EIO. */
hv_err hv_directory_load_file(const char *path,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], hv_directory **out,
    struct hv_errdetail *d);

/*
 * Decodes and checks a packed SignedDirectory like hv_directory_load but
 * WITHOUT verifying its signature: only for showing a file to a person,
 * who must be told so. Never use it for a directory that is put in force.
 * Errors: HV_EBADDIRECTORY (detail names the field), HV_ENOMEM.
 */
hv_err hv_directory_decode_unverified(const uint8_t *buf, size_t len,
    hv_directory **out, struct hv_errdetail *d);

/*
 * Reads a directory file of at most 16 MiB into a malloc'd buffer.
 * Errors: HV_EBADDIRECTORY (too large, not a regular file), HV_EIO, HV_ENOMEM.
 */
hv_err hv_directory_read_file(const char *path, uint8_t **out, size_t *len,
    struct hv_errdetail *d);

/*
 * Refuses next when its version is lower than current's (rollback), when
 * its version equals current's but its content differs (an older signed
 * copy of the same version number, which could undo a revocation re-signed
 * under that number), or when its partnership differs. current may be
 * NULL. Equal version with identical content (a reload of the same file)
 * is accepted. Errors: HV_EROLLBACK (field "version"), HV_EBADDIRECTORY,
 * HV_ENOMEM.
 */
hv_err hv_directory_check_newer(const hv_directory *current,
    const hv_directory *next, struct hv_errdetail *d);

#define HV_DIRECTORY_DIGEST_LEN 32

/*
 * The directory's content digest: BLAKE2b-256 of the signed body of a
 * loaded directory, or of the canonical encoding of one parsed from an
 * agreement. Two directories with the same digest have the same content.
 * Errors: HV_ENOMEM.
 */
hv_err hv_directory_digest(const hv_directory *dir,
    uint8_t out[HV_DIRECTORY_DIGEST_LEN]);

void hv_directory_destroy(hv_directory **dir);

const char *hv_directory_partnership(const hv_directory *dir);
uint64_t hv_directory_version(const hv_directory *dir);
/* When the directory was built, unix seconds. */
int64_t hv_directory_built(const hv_directory *dir);
/* The broker's node (id, endpoint, keys) or NULL. */
const struct hv_node *hv_directory_broker(const hv_directory *dir);

/* Look-ups; NULL when absent. Revoked nodes are returned (check ->revoked). */
const struct hv_node *hv_directory_node(const hv_directory *dir,
    const char *id);
const struct hv_node *hv_directory_node_by_curve(const hv_directory *dir,
    const uint8_t curve[HV_CURVE_KEY_LEN]);

size_t hv_directory_node_count(const hv_directory *dir);
const struct hv_node *hv_directory_node_at(const hv_directory *dir, size_t i);
size_t hv_directory_rule_count(const hv_directory *dir);
const struct hv_rule *hv_directory_rule_at(const hv_directory *dir, size_t i);

/*
 * The new root's key when the directory came with a root handover (into
 * out, returning 1), else 0. For showing; the handover was checked at load.
 */
int hv_directory_handover(const hv_directory *dir,
    uint8_t out[HV_SIGN_PUBLIC_LEN]);

/*
 * Verifies a signature by node n over msg made at at_ms: with n's current
 * signing key, or a previous one whose end is at or after at_ms.
 * Errors: HV_EBADSIG.
 */
hv_err hv_node_verify_at(const struct hv_node *n, const uint8_t *msg,
    size_t len, const uint8_t sig[64], int64_t at_ms);

/* 1 when the ig node `ig` may see records involving role. */
int hv_directory_scope_allows(const struct hv_node *ig, const char *role);

#endif
