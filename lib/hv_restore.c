/*
 * hv_restore — signing, parsing and checking restore notices (SPEC §13).
 * See hv_restore.h for the format. Never logs; the reason is the only
 * free text and is checked to be one short line.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "haven.pb-c.h"
#include "hv_directory_int.h"
#include "hv_restore.h"
#include "hv_util.h"

#define MSG_MAX (sizeof(HV_RESTORE_DOMAIN) + HV_RESTORE_FILE_MAX)

hv_err
hv_restore_reason_check(const char *reason, struct hv_errdetail *d)
{
	size_t n = strlen(reason);

	if (n == 0)
		return hv_errset(d, HV_EMALFORMED, "reason",
		    "The reason is "
		    "empty; say in a few words why the store was restored.");
	if (n > HV_RESTORE_REASON_MAX)
		return hv_errset(d, HV_EMALFORMED, "reason",
		    "The reason is "
		    "%zu bytes; keep it to %d.",
		    n, HV_RESTORE_REASON_MAX);
	if (!hv_utf8_valid(reason, n))
		return hv_errset(d, HV_EMALFORMED, "reason",
		    "The reason is "
		    "not UTF-8 text.");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return hv_errset(d, HV_EMALFORMED, "reason",
			    "The "
			    "reason holds a control character at byte %zu; "
			    "write one line.",
			    i + 1);
	return HV_OK;
}

/* The signed bytes: domain with its NUL, then the body. */
static size_t
signed_message(const uint8_t *body, size_t blen, uint8_t *out)
{
	memcpy(out, HV_RESTORE_DOMAIN, sizeof(HV_RESTORE_DOMAIN));
	memcpy(out + sizeof(HV_RESTORE_DOMAIN), body, blen);
	return sizeof(HV_RESTORE_DOMAIN) + blen;
}

hv_err
hv_restore_sign(const struct hv_restore_notice *n, const hv_keys *root,
    uint8_t **out, size_t *len, struct hv_errdetail *d)
{
	Haven__RestoreNoticeBody b = HAVEN__RESTORE_NOTICE_BODY__INIT;
	Haven__RestoreNotice m = HAVEN__RESTORE_NOTICE__INIT;
	uint8_t body[HV_RESTORE_FILE_MAX], msg[MSG_MAX];
	uint8_t sig[crypto_sign_BYTES], *buf;
	size_t blen, mlen, flen;
	hv_err e;

	if (!hv_dir_name_valid(n->partnership))
		return hv_errset(d, HV_EMALFORMED, "partnership",
		    "'%.64s' is "
		    "not a partnership name.",
		    n->partnership);
	if ((e = hv_restore_reason_check(n->reason, d)) != HV_OK)
		return e;
	if (n->time_ms < 0)
		return hv_errset(d, HV_EMALFORMED, "time",
		    "The notice's time "
		    "is before 1970.");
	b.partnership = (char *)n->partnership;
	b.size = n->size;
	b.root.data = (uint8_t *)n->root;
	b.root.len = HV_HASH_LEN;
	b.time = n->time_ms;
	b.reason = (char *)n->reason;
	if ((blen = haven__restore_notice_body__get_packed_size(&b)) >
	    HV_RESTORE_FILE_MAX - 128)
		return hv_errset(d, HV_EMALFORMED, NULL,
		    "The notice would be "
		    "too long.");
	haven__restore_notice_body__pack(&b, body);
	mlen = signed_message(body, blen, msg);
	crypto_sign_detached(sig, NULL, msg, mlen, root->sign_secret);
	m.body.data = body;
	m.body.len = blen;
	m.signature.data = sig;
	m.signature.len = sizeof(sig);
	flen = haven__restore_notice__get_packed_size(&m);
	if ((buf = malloc(flen)) == NULL)
		return HV_ENOMEM;
	haven__restore_notice__pack(&m, buf);
	*out = buf;
	*len = flen;
	return HV_OK;
}

static hv_err
bad(struct hv_errdetail *d, const char *field, const char *what)
{
	return hv_errset(d, HV_EMALFORMED, field,
	    "This is not a restore "
	    "notice: %s.",
	    what);
}

hv_err
hv_restore_parse(const uint8_t *buf, size_t len, struct hv_restore_notice *out,
    struct hv_errdetail *d)
{
	Haven__RestoreNotice *m = NULL;
	Haven__RestoreNoticeBody *b = NULL;
	struct hv_restore_notice n;
	uint8_t re[HV_RESTORE_FILE_MAX];
	hv_err e = HV_OK;

	memset(&n, 0, sizeof(n));
	if (len == 0 || len > HV_RESTORE_FILE_MAX)
		return bad(d, NULL,
		    len == 0 ? "it is empty" : "it is too long");
	if ((m = haven__restore_notice__unpack(NULL, len, buf)) == NULL)
		return bad(d, NULL, "it does not decode");
	if (m->signature.len != crypto_sign_BYTES) {
		e = bad(d, "signature", "the signature is not 64 bytes");
		goto out;
	}
	/* One notice has one encoding, so its digest is its identity. */
	if (haven__restore_notice__get_packed_size(m) != len ||
	    (haven__restore_notice__pack(m, re), memcmp(re, buf, len)) != 0) {
		e = bad(d, NULL, "its encoding is not canonical");
		goto out;
	}
	if (m->body.len == 0 || m->body.data == NULL) {
		e = bad(d, "body", "its body is empty");
		goto out;
	}
	if ((b = haven__restore_notice_body__unpack(NULL, m->body.len,
	         m->body.data)) == NULL) {
		e = bad(d, "body", "its body does not decode");
		goto out;
	}
	if (haven__restore_notice_body__get_packed_size(b) != m->body.len ||
	    (haven__restore_notice_body__pack(b, re),
	        memcmp(re, m->body.data, m->body.len)) != 0) {
		e = bad(d, "body", "its body's encoding is not canonical");
		goto out;
	}
	if (b->root.len != HV_HASH_LEN) {
		e = bad(d, "root", "the root is not 32 bytes");
		goto out;
	}
	if (b->time < 0) {
		e = bad(d, "time", "its time is before 1970");
		goto out;
	}
	if (!hv_utf8_valid(b->partnership, strlen(b->partnership)) ||
	    !hv_dir_name_valid(b->partnership) ||
	    hv_strlcpy_checked(n.partnership, b->partnership,
	        sizeof(n.partnership)) != 0) {
		e = bad(d, "partnership", "the partnership name is not valid");
		goto out;
	}
	if (hv_restore_reason_check(b->reason, NULL) != HV_OK ||
	    hv_strlcpy_checked(n.reason, b->reason, sizeof(n.reason)) != 0) {
		e = bad(d, "reason", "the reason is not one line of text");
		goto out;
	}
	n.size = b->size;
	memcpy(n.root, b->root.data, HV_HASH_LEN);
	n.time_ms = b->time;
	crypto_generichash(n.digest, sizeof(n.digest), buf, len, NULL, 0);
	*out = n;
out:
	if (b != NULL)
		haven__restore_notice_body__free_unpacked(b, NULL);
	haven__restore_notice__free_unpacked(m, NULL);
	return e;
}

hv_err
hv_restore_verify(const uint8_t *buf, size_t len,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], const char *partnership,
    struct hv_restore_notice *out, struct hv_errdetail *d)
{
	Haven__RestoreNotice *m;
	struct hv_restore_notice n;
	uint8_t msg[MSG_MAX];
	size_t mlen;
	int ok;
	hv_err e;

	if ((e = hv_restore_parse(buf, len, &n, d)) != HV_OK)
		return e;
	if ((m = haven__restore_notice__unpack(NULL, len, buf)) == NULL)
		return bad(d, NULL, "it does not decode");
	mlen = signed_message(m->body.data, m->body.len, msg);
	ok = crypto_sign_verify_detached(m->signature.data, msg, mlen,
	         root_sign) == 0;
	haven__restore_notice__free_unpacked(m, NULL);
	if (!ok)
		return hv_errset(d, HV_EBADSIG, "signature",
		    "The restore "
		    "notice is not signed by the partnership's root key.");
	if (partnership != NULL && strcmp(partnership, n.partnership) != 0)
		return hv_errset(d, HV_EPOLICY, "partnership",
		    "The restore "
		    "notice is for partnership %s, not %.64s.",
		    n.partnership, partnership);
	*out = n;
	return HV_OK;
}

hv_err
hv_restore_check_log(const struct hv_restore_notice *n, hv_auditlog *log,
    MDB_txn *txn, int exact, struct hv_errdetail *d)
{
	struct hv_auditlog_leaves lv = { log, txn };
	uint8_t root[HV_HASH_LEN];
	uint64_t size;
	hv_err e;

	if ((e = hv_auditlog_tree(log, txn, &size, root)) != HV_OK)
		return hv_errset(d, e, NULL,
		    "The audit log's tree cannot be "
		    "read: %s",
		    hv_strerror(e));
	if (size < n->size || (exact && size != n->size))
		return hv_errset(d, HV_ETAMPERED, "size",
		    "The restore notice "
		    "is for a log of %llu records, but this store's log has "
		    "%llu.",
		    (unsigned long long)n->size, (unsigned long long)size);
	if (size != n->size &&
	    (e = hv_merkle_root(hv_auditlog_leaf_fn, &lv, n->size, root)) !=
	        HV_OK)
		return hv_errset(d, e == HV_EIO ? HV_EIO : HV_ETAMPERED, "root",
		    "The audit log's root at %llu records cannot be computed.",
		    (unsigned long long)n->size);
	if (sodium_memcmp(root, n->root, HV_HASH_LEN) != 0)
		return hv_errset(d, HV_ETAMPERED, "root",
		    "The restore "
		    "notice's root differs from this store's log at %llu "
		    "records: it was made from another copy.",
		    (unsigned long long)n->size);
	return HV_OK;
}

hv_err
hv_restore_check_head(const struct hv_restore_notice *n, uint64_t size,
    const uint8_t root[HV_HASH_LEN], const uint8_t (*proof)[HV_HASH_LEN],
    size_t plen)
{
	if (size < n->size)
		return HV_ETAMPERED;
	if (size == n->size)
		return sodium_memcmp(root, n->root, HV_HASH_LEN) == 0 ?
		    HV_OK :
		    HV_ETAMPERED;
	if (n->size == 0)
		return HV_OK; /* every log extends the empty one */
	return hv_merkle_verify_consistency(n->size, size, n->root, root, proof,
	    plen);
}
