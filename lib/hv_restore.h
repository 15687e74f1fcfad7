/*
 * hv_restore — the restore notice (SPEC §13): what the partnership root
 * signs after a broker's store was restored from a backup, so that agents
 * which witnessed a longer history accept the shorter one instead of
 * reporting it TAMPERED.
 *
 * A notice is a packed haven.RestoreNotice: a packed RestoreNoticeBody
 * (partnership, size and root of the restored log, time in unix ms, and a
 * short administrator's reason) and the root's Ed25519 signature over
 * "haven-restore-v1\0" || body. The file is exactly those bytes. Its
 * identity is the BLAKE2b-256 of the whole file, so that a broker applies
 * and an agent accepts each notice once.
 *
 * One parser, used by the CLI, the broker and the agent, and fuzzed by
 * tests/fuzz/fuzz_restore.c. The reason is administrator text: it never
 * holds child data, and this module never logs.
 */
#ifndef HV_RESTORE_H
#define HV_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_auditlog.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_merkle.h"

#define HV_RESTORE_DOMAIN "haven-restore-v1" /* signed with its NUL */
#define HV_RESTORE_REASON_MAX 200 /* bytes of UTF-8 */
#define HV_RESTORE_PARTNERSHIP_MAX 64
#define HV_RESTORE_FILE_MAX 1024 /* a notice is ~400 bytes */

struct hv_restore_notice {
	char partnership[HV_RESTORE_PARTNERSHIP_MAX + 1];
	uint64_t size; /* records in the restored log */
	uint8_t root[HV_HASH_LEN]; /* its root at that size */
	int64_t time_ms; /* when the root signed it */
	char reason[HV_RESTORE_REASON_MAX + 1];
	uint8_t digest[32]; /* BLAKE2b-256 of the notice bytes */
};

/*
 * Checks a reason: 1..HV_RESTORE_REASON_MAX bytes of UTF-8 without control
 * characters. Errors: HV_EMALFORMED (d says what is wrong, field "reason").
 */
hv_err hv_restore_reason_check(const char *reason, struct hv_errdetail *d);

/*
 * Signs n (partnership, size, root, time_ms, reason; digest is ignored)
 * with the root's key. On success *out (*len bytes) is a new malloc'd
 * notice the caller frees.
 * Errors: HV_EMALFORMED (a bad partnership or reason), HV_ENOMEM.
 */
hv_err hv_restore_sign(const struct hv_restore_notice *n, const hv_keys *root,
    uint8_t **out, size_t *len, struct hv_errdetail *d);

/*
 * Decodes a notice without checking its signature: refuses anything the
 * signer would not have written (wrong field lengths, a bad partnership
 * name or reason, a negative time, a non-canonical encoding, more than
 * HV_RESTORE_FILE_MAX bytes). Fills *out (digest included) on success.
 * Errors: HV_EMALFORMED.
 */
hv_err hv_restore_parse(const uint8_t *buf, size_t len,
    struct hv_restore_notice *out, struct hv_errdetail *d);

/*
 * hv_restore_parse, then the root signature with root_sign and, when
 * partnership is not NULL, that the notice names that partnership.
 * Errors: HV_EMALFORMED, HV_EBADSIG (not signed by this root),
 * HV_EPOLICY (another partnership's notice).
 */
hv_err hv_restore_verify(const uint8_t *buf, size_t len,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], const char *partnership,
    struct hv_restore_notice *out, struct hv_errdetail *d);

/*
 * Checks the notice against the log in txn: the log holds at least
 * n->size records and its Merkle root at that size is n->root. With
 * exact set, the log must hold exactly n->size records (a notice is
 * applied to the store it was made from, before anything is appended).
 * Reads n->size leaf hashes.
 * Errors: HV_ETAMPERED (d says which of size and root differs), HV_EIO.
 */
hv_err hv_restore_check_log(const struct hv_restore_notice *n, hv_auditlog *log,
    MDB_txn *txn, int exact, struct hv_errdetail *d);

/*
 * Checks that the log of head (size, root) extends the notice's restored
 * log, with the consistency proof from n->size to size (proof may be empty
 * when the sizes are equal; then the roots must be).
 * Errors: HV_ETAMPERED, HV_EMALFORMED (a proof hash of the wrong length).
 */
hv_err hv_restore_check_head(const struct hv_restore_notice *n, uint64_t size,
    const uint8_t root[HV_HASH_LEN], const uint8_t (*proof)[HV_HASH_LEN],
    size_t plen);

#endif
