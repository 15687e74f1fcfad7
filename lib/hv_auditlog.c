/*
 * hv_auditlog — the broker's audit log: record encoding, the append path,
 * indexes, signed tree heads, verification and queries (SPEC §9).
 *
 * The append path keeps the Merkle frontier in "meta", so appending and
 * reading the current root cost O(log n). Verification walks the records
 * once, in order, recomputing the hash chain, the leaf hashes, the index
 * entries and the tree, and checks each stored head when the walk reaches
 * its size. Queries walk one index and read only the records it names.
 *
 * Nothing here logs, and no record field can carry a payload or child
 * details.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_auditlog.h"
#include "hv_util.h"

const char *const hv_auditlog_dbnames[HV_AUDITLOG_NDBS] = {
	"audit", "leaves", "heads", "ix_subject", "ix_sender",
	"ix_recipient", "ix_time", "ix_message", "meta",
};

enum {
	DB_AUDIT, DB_LEAVES, DB_HEADS, DB_IX_SUBJECT, DB_IX_SENDER,
	DB_IX_RECIPIENT, DB_IX_TIME, DB_IX_MESSAGE, DB_META,
};

#define CHAIN_LEN 32		/* BLAKE2b-256 of the previous record */
#define IXKEY_MAX (HV_NODE_MAX + 1 + 8)
#define N_IX 5			/* ix_subject .. ix_message */

static MDB_dbi
dbi(const hv_auditlog *log, int k)
{
	return log->store->dbi[log->base + (size_t)k];
}

static MDB_val
val(const void *p, size_t len)
{
	MDB_val v = { len, (void *)p };

	return v;
}

/* ---- record encoding ------------------------------------------------- */

/* A NUL-terminated, valid UTF-8 string within cap bytes. */
static int
str_ok(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);

	return nul != NULL && hv_utf8_valid(s, (size_t)(nul - s));
}

static int
rec_strings_ok(const struct hv_audit_rec *r)
{
	if (r->n_recipients > HV_MAX_RECIPIENTS)
		return 0;
	for (size_t i = 0; i < r->n_recipients; i++)
		if (!str_ok(r->recipients[i], sizeof(r->recipients[i])))
			return 0;
	if (r->has_basis && (!str_ok(r->basis.consent,
	    sizeof(r->basis.consent)) ||
	    !str_ok(r->basis.art6, sizeof(r->basis.art6)) ||
	    !str_ok(r->basis.art9, sizeof(r->basis.art9)) ||
	    !str_ok(r->basis.justification, sizeof(r->basis.justification)) ||
	    !str_ok(r->basis.decided_by, sizeof(r->basis.decided_by))))
		return 0;
	return r->time_ms >= 0 &&
	    str_ok(r->event, sizeof(r->event)) &&
	    str_ok(r->sender, sizeof(r->sender)) &&
	    str_ok(r->type, sizeof(r->type)) &&
	    str_ok(r->priority, sizeof(r->priority)) &&
	    str_ok(r->reason, sizeof(r->reason)) &&
	    str_ok(r->actor, sizeof(r->actor)) &&
	    str_ok(r->detail, sizeof(r->detail)) &&
	    str_ok(r->outcome, sizeof(r->outcome));
}

static ProtobufCBinaryData
bin(int present, const uint8_t *p, size_t len)
{
	ProtobufCBinaryData b = { 0, NULL };

	if (present) {
		b.len = len;
		b.data = (uint8_t *)p;
	}
	return b;
}

hv_err
hv_audit_rec_pack(const struct hv_audit_rec *rec, uint8_t **out, size_t *len)
{
	Haven__AuditRecord m = HAVEN__AUDIT_RECORD__INIT;
	Haven__Basis b = HAVEN__BASIS__INIT;
	char *rcpt[HV_MAX_RECIPIENTS];
	uint8_t *buf;
	size_t n;

	if (!rec_strings_ok(rec))
		return HV_EMALFORMED;
	m.seq = rec->seq;
	m.time = rec->time_ms;
	m.event = (char *)rec->event;
	m.message_id = bin(rec->has_id, rec->id, HV_ID_LEN);
	m.sender = (char *)rec->sender;
	for (size_t i = 0; i < rec->n_recipients; i++)
		rcpt[i] = (char *)rec->recipients[i];
	m.n_recipients = rec->n_recipients;
	m.recipients = rcpt;
	m.type = (char *)rec->type;
	m.priority = (char *)rec->priority;
	if (rec->has_basis) {
		b.consent = (char *)rec->basis.consent;
		b.art6 = (char *)rec->basis.art6;
		b.art9 = (char *)rec->basis.art9;
		b.justification = (char *)rec->basis.justification;
		b.decided_by = (char *)rec->basis.decided_by;
		m.basis = &b;
	}
	m.subject = bin(rec->has_subject, rec->subject, 32);
	m.ciphertext_digest = bin(rec->has_digest, rec->digest, HV_DIGEST_LEN);
	m.signature = bin(rec->has_signature, rec->signature,
	    HV_SIGNATURE_LEN);
	m.reason = (char *)rec->reason;
	m.actor = (char *)rec->actor;
	m.detail = (char *)rec->detail;
	m.prev_hash = bin(1, rec->prev_hash, CHAIN_LEN);
	m.directory_version = rec->directory_version;
	m.reply_to = bin(rec->has_reply_to, rec->reply_to, HV_ID_LEN);
	m.outcome = (char *)rec->outcome;
	m.flags = rec->flags;
	m.created = rec->created;

	n = haven__audit_record__get_packed_size(&m);
	if ((buf = malloc(n)) == NULL)
		return HV_ENOMEM;
	haven__audit_record__pack(&m, buf);
	*out = buf;
	*len = n;
	return HV_OK;
}

/* Copies a decoded string into dst[cap]: fits, UTF-8. 0 or -1. */
static int
take_str(char *dst, size_t cap, const char *src)
{
	size_t n;

	if (src == NULL)
		src = "";
	n = strlen(src);
	if (n >= cap || !hv_utf8_valid(src, n))
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Copies a decoded bytes field that must be absent or exactly len long. */
static int
take_bin(uint8_t *dst, size_t len, const ProtobufCBinaryData *b, int *has)
{
	if (b->len == 0) {
		*has = 0;
		return 0;
	}
	if (b->len != len)
		return -1;
	memcpy(dst, b->data, len);
	*has = 1;
	return 0;
}

/* Fails unless m re-encodes to exactly buf[0..len). */
static int
canonical(const Haven__AuditRecord *m, const uint8_t *buf, size_t len)
{
	uint8_t *again;
	int ok;

	if (haven__audit_record__get_packed_size(m) != len)
		return -1;
	if ((again = malloc(len > 0 ? len : 1)) == NULL)
		return -1;
	haven__audit_record__pack(m, again);
	ok = memcmp(again, buf, len) == 0;
	free(again);
	return ok ? 0 : -1;
}

hv_err
hv_audit_rec_unpack(const uint8_t *buf, size_t len, struct hv_audit_rec *rec)
{
	Haven__AuditRecord *m;
	struct hv_audit_rec *r;
	int has_prev = 0, bad = 0;
	hv_err err = HV_EMALFORMED;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return HV_ENOMEM;
	if ((m = haven__audit_record__unpack(NULL, len, buf)) == NULL)
		goto out;
	r->seq = m->seq;
	r->time_ms = m->time;
	bad |= m->time < 0;
	bad |= take_str(r->event, sizeof(r->event), m->event);
	bad |= take_bin(r->id, HV_ID_LEN, &m->message_id, &r->has_id);
	bad |= take_str(r->sender, sizeof(r->sender), m->sender);
	if (m->n_recipients > HV_MAX_RECIPIENTS)
		goto out;
	r->n_recipients = m->n_recipients;
	for (size_t i = 0; i < m->n_recipients; i++)
		bad |= take_str(r->recipients[i], sizeof(r->recipients[i]),
		    m->recipients[i]);
	bad |= take_str(r->type, sizeof(r->type), m->type);
	bad |= take_str(r->priority, sizeof(r->priority), m->priority);
	if (m->basis != NULL) {
		r->has_basis = 1;
		bad |= take_str(r->basis.consent, sizeof(r->basis.consent),
		    m->basis->consent);
		bad |= take_str(r->basis.art6, sizeof(r->basis.art6),
		    m->basis->art6);
		bad |= take_str(r->basis.art9, sizeof(r->basis.art9),
		    m->basis->art9);
		bad |= take_str(r->basis.justification,
		    sizeof(r->basis.justification), m->basis->justification);
		bad |= take_str(r->basis.decided_by,
		    sizeof(r->basis.decided_by), m->basis->decided_by);
	}
	bad |= take_bin(r->subject, 32, &m->subject, &r->has_subject);
	bad |= take_bin(r->digest, HV_DIGEST_LEN, &m->ciphertext_digest,
	    &r->has_digest);
	bad |= take_bin(r->signature, HV_SIGNATURE_LEN, &m->signature,
	    &r->has_signature);
	bad |= take_str(r->reason, sizeof(r->reason), m->reason);
	bad |= take_str(r->actor, sizeof(r->actor), m->actor);
	bad |= take_str(r->detail, sizeof(r->detail), m->detail);
	bad |= take_bin(r->prev_hash, CHAIN_LEN, &m->prev_hash, &has_prev);
	bad |= !has_prev;
	r->directory_version = m->directory_version;
	bad |= take_bin(r->reply_to, HV_ID_LEN, &m->reply_to,
	    &r->has_reply_to);
	bad |= take_str(r->outcome, sizeof(r->outcome), m->outcome);
	r->flags = m->flags;
	r->created = m->created;
	/*
	 * Embedded NULs, unknown or repeated fields and non-minimal varints
	 * all decode to something; only the canonical bytes are a record.
	 * Fields from a newer schema are refused too: a reader that cannot
	 * show a field must not vouch for the record.
	 */
	bad |= m->base.n_unknown_fields != 0;
	bad |= canonical(m, buf, len);
	if (bad)
		goto out;
	memcpy(rec, r, sizeof(*r));
	err = HV_OK;
out:
	if (m != NULL)
		haven__audit_record__free_unpacked(m, NULL);
	free(r);
	return err;
}

void
hv_audit_rec_from_envelope(struct hv_audit_rec *rec, const hv_envelope *env,
    const char *event)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->event, sizeof(rec->event), "%s", event);
	rec->has_id = 1;
	memcpy(rec->id, env->id, HV_ID_LEN);
	snprintf(rec->sender, sizeof(rec->sender), "%s", env->sender);
	rec->n_recipients = env->n_recipients <= HV_MAX_RECIPIENTS ?
	    env->n_recipients : HV_MAX_RECIPIENTS;
	for (size_t i = 0; i < rec->n_recipients; i++)
		snprintf(rec->recipients[i], sizeof(rec->recipients[i]), "%s",
		    env->recipients[i]);
	snprintf(rec->type, sizeof(rec->type), "%s", env->type);
	snprintf(rec->priority, sizeof(rec->priority), "%s", env->priority);
	rec->has_basis = 1;
	rec->basis = env->basis;
	rec->has_subject = 1;
	memcpy(rec->subject, env->subject, 32);
	if (env->ciphertext_len > 0) {
		rec->has_digest = 1;
		hv_envelope_digest(env, rec->digest);
	}
	rec->has_signature = 1;
	memcpy(rec->signature, env->signature, HV_SIGNATURE_LEN);
	rec->has_reply_to = env->has_reply_to;
	if (env->has_reply_to)
		memcpy(rec->reply_to, env->reply_to, HV_ID_LEN);
	snprintf(rec->outcome, sizeof(rec->outcome), "%s", env->outcome);
	rec->flags = env->flags;
	rec->created = env->created;
}

/* ---- index keys ------------------------------------------------------ */

struct ixkey {
	int db;
	size_t len;
	uint8_t key[IXKEY_MAX];
};

struct ixkeys {
	size_t n;
	struct ixkey k[4 + HV_MAX_RECIPIENTS];
};

static void
ix_add(struct ixkeys *ks, int db, const void *prefix, size_t plen,
    int nul, uint64_t seq)
{
	struct ixkey *k = &ks->k[ks->n++];

	k->db = db;
	memcpy(k->key, prefix, plen);
	k->len = plen;
	if (nul)
		k->key[k->len++] = 0;
	hv_be64_put(k->key + k->len, seq);
	k->len += 8;
}

/* Every index key of rec, each distinct, in database order. */
static void
index_keys(const struct hv_audit_rec *rec, struct ixkeys *ks)
{
	uint8_t t[8];

	ks->n = 0;
	if (rec->has_subject)
		ix_add(ks, DB_IX_SUBJECT, rec->subject, 32, 0, rec->seq);
	if (rec->sender[0] != '\0')
		ix_add(ks, DB_IX_SENDER, rec->sender, strlen(rec->sender), 1,
		    rec->seq);
	for (size_t i = 0; i < rec->n_recipients; i++) {
		int dup = rec->recipients[i][0] == '\0';

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(rec->recipients[i],
			    rec->recipients[j]) == 0;
		if (!dup)
			ix_add(ks, DB_IX_RECIPIENT, rec->recipients[i],
			    strlen(rec->recipients[i]), 1, rec->seq);
	}
	hv_be64_put(t, (uint64_t)rec->time_ms);
	ix_add(ks, DB_IX_TIME, t, 8, 0, rec->seq);
	if (rec->has_id)
		ix_add(ks, DB_IX_MESSAGE, rec->id, HV_ID_LEN, 0, rec->seq);
}

/* ---- frontier in meta ------------------------------------------------ */

static const char meta_frontier[] = "frontier";
static const char meta_size[] = "size";

/*
 * Reads the stored frontier; an absent one is the empty tree.
 * Errors: HV_ETAMPERED (malformed), HV_EIO.
 */
static hv_err
frontier_load(hv_auditlog *log, MDB_txn *txn, struct hv_frontier *f)
{
	MDB_val k = val(meta_frontier, sizeof(meta_frontier) - 1), v;
	uint64_t size;
	size_t n;
	int rc;

	hv_frontier_init(f);
	rc = mdb_get(txn, dbi(log, DB_META), &k, &v);
	if (rc == MDB_NOTFOUND)
		return HV_OK;
	if (rc != 0)
		return hv_store_err(rc);
	if (v.mv_size < 8)
		return HV_ETAMPERED;
	size = hv_be64_get(v.mv_data);
	n = (size_t)__builtin_popcountll(size);
	if (v.mv_size != 8 + n * HV_HASH_LEN)
		return HV_ETAMPERED;
	f->size = size;
	f->n = n;
	memcpy(f->hash, (const uint8_t *)v.mv_data + 8, n * HV_HASH_LEN);
	return HV_OK;
}

static hv_err
frontier_store(hv_auditlog *log, MDB_txn *txn, const struct hv_frontier *f)
{
	uint8_t buf[8 + 64 * HV_HASH_LEN], sz[8];
	MDB_val k = val(meta_frontier, sizeof(meta_frontier) - 1);
	MDB_val v = val(buf, 8 + f->n * HV_HASH_LEN);
	MDB_val ks = val(meta_size, sizeof(meta_size) - 1), vs = val(sz, 8);
	int rc;

	hv_be64_put(buf, f->size);
	memcpy(buf + 8, f->hash, f->n * HV_HASH_LEN);
	hv_be64_put(sz, f->size);
	if ((rc = mdb_put(txn, dbi(log, DB_META), &k, &v, 0)) != 0 ||
	    (rc = mdb_put(txn, dbi(log, DB_META), &ks, &vs, 0)) != 0)
		return hv_store_err(rc);
	return HV_OK;
}

/* ---- append ---------------------------------------------------------- */

/*
 * The last record's seq and the chain hash over its bytes; seq 0 and zeros
 * for an empty log.
 */
static hv_err
last_record(hv_auditlog *log, MDB_txn *txn, uint64_t *seq,
    uint8_t chain[CHAIN_LEN])
{
	MDB_cursor *c;
	MDB_val k, v;
	hv_err err = HV_OK;
	int rc;

	if ((rc = mdb_cursor_open(txn, dbi(log, DB_AUDIT), &c)) != 0)
		return hv_store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		*seq = 0;
		memset(chain, 0, CHAIN_LEN);
	} else if (rc != 0) {
		err = hv_store_err(rc);
	} else if (k.mv_size != 8) {
		err = HV_ETAMPERED;
	} else {
		*seq = hv_be64_get(k.mv_data);
		crypto_generichash(chain, CHAIN_LEN, v.mv_data, v.mv_size,
		    NULL, 0);
	}
	mdb_cursor_close(c);
	return err;
}

hv_err
hv_auditlog_append(hv_auditlog *log, MDB_txn *txn, struct hv_audit_rec *rec)
{
	struct hv_frontier f;
	struct hv_audit_rec *r = NULL;
	struct ixkeys ks;
	uint8_t key[8], leaf[HV_HASH_LEN], *buf = NULL;
	size_t len;
	uint64_t last = 0;
	MDB_val k, v, empty = val("", 0);
	hv_err err;
	int rc;

	if ((r = malloc(sizeof(*r))) == NULL)
		return HV_ENOMEM;
	memcpy(r, rec, sizeof(*r));
	if ((err = last_record(log, txn, &last, r->prev_hash)) != HV_OK ||
	    (err = frontier_load(log, txn, &f)) != HV_OK)
		goto out;
	if (f.size != last) {
		err = HV_ETAMPERED;
		goto out;
	}
	r->seq = last + 1;
	if (r->time_ms == 0)
		r->time_ms = hv_now_ms();
	if ((err = hv_audit_rec_pack(r, &buf, &len)) != HV_OK)
		goto out;
	hv_merkle_leaf_hash(buf, len, leaf);

	hv_be64_put(key, r->seq);
	k = val(key, 8);
	v = val(buf, len);
	if ((rc = mdb_put(txn, dbi(log, DB_AUDIT), &k, &v, MDB_APPEND)) != 0)
		goto lmdb;
	v = val(leaf, HV_HASH_LEN);
	if ((rc = mdb_put(txn, dbi(log, DB_LEAVES), &k, &v, MDB_APPEND)) != 0)
		goto lmdb;
	index_keys(r, &ks);
	for (size_t i = 0; i < ks.n; i++) {
		MDB_val ik = val(ks.k[i].key, ks.k[i].len);

		if ((rc = mdb_put(txn, dbi(log, ks.k[i].db), &ik, &empty,
		    0)) != 0)
			goto lmdb;
	}
	hv_frontier_append(&f, leaf);
	if ((err = frontier_store(log, txn, &f)) != HV_OK)
		goto out;
	rec->seq = r->seq;
	rec->time_ms = r->time_ms;
	memcpy(rec->prev_hash, r->prev_hash, CHAIN_LEN);
	err = HV_OK;
	goto out;
lmdb:
	err = hv_store_err(rc);
out:
	free(buf);
	free(r);
	return err;
}

hv_err
hv_auditlog_tree(hv_auditlog *log, MDB_txn *txn, uint64_t *size,
    uint8_t root[HV_HASH_LEN])
{
	struct hv_frontier f;
	hv_err err;

	if ((err = frontier_load(log, txn, &f)) != HV_OK)
		return err;
	*size = f.size;
	hv_frontier_root(&f, root);
	return HV_OK;
}

/* ---- reading records and leaves -------------------------------------- */

hv_err
hv_auditlog_get_raw(hv_auditlog *log, MDB_txn *txn, uint64_t seq,
    uint8_t **out, size_t *len)
{
	uint8_t key[8], *buf;
	MDB_val k = val(key, 8), v;
	int rc;

	hv_be64_put(key, seq);
	if ((rc = mdb_get(txn, dbi(log, DB_AUDIT), &k, &v)) != 0)
		return hv_store_err(rc);
	if ((buf = malloc(v.mv_size > 0 ? v.mv_size : 1)) == NULL)
		return HV_ENOMEM;
	memcpy(buf, v.mv_data, v.mv_size);
	*out = buf;
	*len = v.mv_size;
	return HV_OK;
}

hv_err
hv_auditlog_get(hv_auditlog *log, MDB_txn *txn, uint64_t seq,
    struct hv_audit_rec *rec)
{
	uint8_t key[8];
	MDB_val k = val(key, 8), v;
	int rc;

	hv_be64_put(key, seq);
	if ((rc = mdb_get(txn, dbi(log, DB_AUDIT), &k, &v)) != 0)
		return hv_store_err(rc);
	return hv_audit_rec_unpack(v.mv_data, v.mv_size, rec);
}

int
hv_auditlog_leaf_fn(void *ctx, uint64_t i, uint8_t out[HV_HASH_LEN])
{
	struct hv_auditlog_leaves *lv = ctx;
	uint8_t key[8];
	MDB_val k = val(key, 8), v;

	hv_be64_put(key, i + 1);
	if (mdb_get(lv->txn, dbi(lv->log, DB_LEAVES), &k, &v) != 0 ||
	    v.mv_size != HV_HASH_LEN)
		return -1;
	memcpy(out, v.mv_data, HV_HASH_LEN);
	return 0;
}

/* ---- signed tree heads ----------------------------------------------- */

void
hv_auditlog_head_message(uint64_t size, const uint8_t root[HV_HASH_LEN],
    int64_t time_ms, uint8_t out[HV_STH_MESSAGE_LEN])
{
	size_t off = sizeof(HV_STH_DOMAIN);

	memcpy(out, HV_STH_DOMAIN, sizeof(HV_STH_DOMAIN));
	hv_be64_put(out + off, size);
	memcpy(out + off + 8, root, HV_HASH_LEN);
	hv_be64_put(out + off + 8 + HV_HASH_LEN, (uint64_t)time_ms);
}

hv_err
hv_auditlog_head_verify(const Haven__SignedTreeHead *h,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN])
{
	uint8_t msg[HV_STH_MESSAGE_LEN];

	if (h->root.len != HV_HASH_LEN ||
	    h->signature.len != crypto_sign_BYTES)
		return HV_EMALFORMED;
	hv_auditlog_head_message(h->size, h->root.data, h->time, msg);
	if (crypto_sign_verify_detached(h->signature.data, msg, sizeof(msg),
	    broker_sign) != 0)
		return HV_EBADSIG;
	return HV_OK;
}

/* The largest stored head size, 0 when there is none. */
static hv_err
last_head_size(hv_auditlog *log, MDB_txn *txn, uint64_t *size, MDB_val *data)
{
	MDB_cursor *c;
	MDB_val k, v;
	hv_err err = HV_OK;
	int rc;

	if ((rc = mdb_cursor_open(txn, dbi(log, DB_HEADS), &c)) != 0)
		return hv_store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		*size = 0;
		err = HV_ENOTFOUND;
	} else if (rc != 0) {
		err = hv_store_err(rc);
	} else if (k.mv_size != 8) {
		err = HV_EMALFORMED;
	} else {
		*size = hv_be64_get(k.mv_data);
		if (data != NULL)
			*data = v;
	}
	mdb_cursor_close(c);
	return err;
}

hv_err
hv_auditlog_sign_head(hv_auditlog *log, MDB_txn *txn, const hv_keys *broker,
    int64_t now_ms)
{
	Haven__SignedTreeHead h = HAVEN__SIGNED_TREE_HEAD__INIT;
	uint8_t root[HV_HASH_LEN], msg[HV_STH_MESSAGE_LEN];
	uint8_t sig[crypto_sign_BYTES], key[8], *buf;
	uint64_t size, last;
	MDB_val k, v;
	hv_err err;
	int rc;

	if ((err = hv_auditlog_tree(log, txn, &size, root)) != HV_OK)
		return err;
	err = last_head_size(log, txn, &last, NULL);
	if (err == HV_EMALFORMED)
		return HV_ETAMPERED;
	if (err != HV_OK && err != HV_ENOTFOUND)
		return err;
	if (size == 0 || size <= last)
		return HV_OK;
	hv_auditlog_head_message(size, root, now_ms, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), broker->sign_secret);
	h.size = size;
	h.root = bin(1, root, HV_HASH_LEN);
	h.time = now_ms;
	h.signature = bin(1, sig, sizeof(sig));
	if ((buf = malloc(haven__signed_tree_head__get_packed_size(&h))) ==
	    NULL)
		return HV_ENOMEM;
	v = val(buf, haven__signed_tree_head__pack(&h, buf));
	hv_be64_put(key, size);
	k = val(key, 8);
	rc = mdb_put(txn, dbi(log, DB_HEADS), &k, &v, MDB_APPEND);
	free(buf);
	return hv_store_err(rc);
}

hv_err
hv_auditlog_latest_head(hv_auditlog *log, MDB_txn *txn,
    Haven__SignedTreeHead **out)
{
	Haven__SignedTreeHead *h;
	uint64_t size;
	MDB_val v;
	hv_err err;

	if ((err = last_head_size(log, txn, &size, &v)) != HV_OK)
		return err;
	if ((h = haven__signed_tree_head__unpack(NULL, v.mv_size,
	    v.mv_data)) == NULL)
		return HV_EMALFORMED;
	if (h->size != size || h->root.len != HV_HASH_LEN) {
		haven__signed_tree_head__free_unpacked(h, NULL);
		return HV_EMALFORMED;
	}
	*out = h;
	return HV_OK;
}

/* ---- verification ---------------------------------------------------- */

struct verify {
	hv_auditlog *log;
	MDB_txn *txn;
	const uint8_t *broker_sign;
	struct hv_errdetail *d;
	struct hv_frontier f;
	MDB_cursor *heads;
	int heads_done;
	MDB_val hk, hv;			/* the next head not yet checked */
	size_t ix_count[N_IX];
};

#define TAMPERED(vf, db, ...) \
	hv_errset((vf)->d, HV_ETAMPERED, hv_auditlog_dbnames[db], __VA_ARGS__)

static unsigned long long
ull(uint64_t v)
{
	return (unsigned long long)v;
}

/* Reads an optional 8-byte integer from meta; HV_ENOTFOUND when absent. */
static hv_err
meta_u64(hv_auditlog *log, MDB_txn *txn, const char *name, uint64_t *out)
{
	MDB_val k = val(name, strlen(name)), v;
	int rc;

	if ((rc = mdb_get(txn, dbi(log, DB_META), &k, &v)) != 0)
		return hv_store_err(rc);
	if (v.mv_size != 8)
		return HV_ETAMPERED;
	*out = hv_be64_get(v.mv_data);
	return HV_OK;
}

/* The last key of db as an integer; 0 when empty. */
static hv_err
last_key(hv_auditlog *log, MDB_txn *txn, int db, uint64_t *out, int *bad)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*bad = 0;
	if ((rc = mdb_cursor_open(txn, dbi(log, db), &c)) != 0)
		return hv_store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return HV_OK;
	}
	if (rc != 0)
		return hv_store_err(rc);
	if (k.mv_size != 8)
		*bad = 1;
	else
		*out = hv_be64_get(k.mv_data);
	return HV_OK;
}

/* Checks the heads whose size the walk has reached (vf->f.size). */
static hv_err
verify_heads(struct verify *vf)
{
	uint8_t root[HV_HASH_LEN];
	Haven__SignedTreeHead *h;
	uint64_t size;
	hv_err err;
	int rc;

	while (!vf->heads_done) {
		if (vf->hk.mv_size != 8)
			return TAMPERED(vf, DB_HEADS, "the heads database "
			    "holds an entry with a malformed key");
		size = hv_be64_get(vf->hk.mv_data);
		if (size > vf->f.size)
			return HV_OK;
		if ((h = haven__signed_tree_head__unpack(NULL,
		    vf->hv.mv_size, vf->hv.mv_data)) == NULL)
			return TAMPERED(vf, DB_HEADS, "tree head at size %llu "
			    "cannot be decoded", ull(size));
		hv_frontier_root(&vf->f, root);
		if (h->size != size)
			err = TAMPERED(vf, DB_HEADS, "tree head at size %llu: "
			    "its size field says %llu", ull(size),
			    ull(h->size));
		else if (h->root.len != HV_HASH_LEN ||
		    h->signature.len != crypto_sign_BYTES)
			err = TAMPERED(vf, DB_HEADS, "tree head at size %llu "
			    "is malformed", ull(size));
		else if (vf->broker_sign != NULL &&
		    hv_auditlog_head_verify(h, vf->broker_sign) != HV_OK)
			err = TAMPERED(vf, DB_HEADS, "tree head at size %llu: "
			    "signature does not verify", ull(size));
		else if (sodium_memcmp(h->root.data, root, HV_HASH_LEN) != 0)
			err = TAMPERED(vf, DB_HEADS, "tree head at size %llu: "
			    "root does not match the records", ull(size));
		else
			err = HV_OK;
		haven__signed_tree_head__free_unpacked(h, NULL);
		if (err != HV_OK)
			return err;
		rc = mdb_cursor_get(vf->heads, &vf->hk, &vf->hv, MDB_NEXT);
		if (rc == MDB_NOTFOUND)
			vf->heads_done = 1;
		else if (rc != 0)
			return hv_store_err(rc);
	}
	return HV_OK;
}

/* Checks one record (key seq, bytes v) against its chain link and leaf. */
static hv_err
verify_record(struct verify *vf, uint64_t seq, const MDB_val *v,
    const uint8_t chain[CHAIN_LEN], struct hv_audit_rec *r)
{
	uint8_t key[8], leaf[HV_HASH_LEN];
	struct ixkeys ks;
	MDB_val k = val(key, 8), lv;
	hv_err err;
	int rc;

	if ((err = hv_audit_rec_unpack(v->mv_data, v->mv_size, r)) != HV_OK)
		return err == HV_ENOMEM ? err : TAMPERED(vf, DB_AUDIT,
		    "record %llu cannot be decoded", ull(seq));
	if (r->seq != seq)
		return TAMPERED(vf, DB_AUDIT, "record %llu: its sequence "
		    "number field says %llu", ull(seq), ull(r->seq));
	if (sodium_memcmp(r->prev_hash, chain, CHAIN_LEN) != 0)
		return seq == 1 ? TAMPERED(vf, DB_AUDIT, "record 1: its "
		    "previous-record hash is not zero") :
		    TAMPERED(vf, DB_AUDIT, "record %llu: its previous-record "
		    "hash does not match record %llu", ull(seq),
		    ull(seq - 1));
	hv_merkle_leaf_hash(v->mv_data, v->mv_size, leaf);
	hv_be64_put(key, seq);
	rc = mdb_get(vf->txn, dbi(vf->log, DB_LEAVES), &k, &lv);
	if (rc == MDB_NOTFOUND)
		return TAMPERED(vf, DB_LEAVES, "record %llu has no stored "
		    "leaf hash", ull(seq));
	if (rc != 0)
		return hv_store_err(rc);
	if (lv.mv_size != HV_HASH_LEN ||
	    sodium_memcmp(lv.mv_data, leaf, HV_HASH_LEN) != 0)
		return TAMPERED(vf, DB_LEAVES, "record %llu: stored leaf hash "
		    "does not match the record", ull(seq));
	index_keys(r, &ks);
	for (size_t i = 0; i < ks.n; i++) {
		MDB_val ik = val(ks.k[i].key, ks.k[i].len), iv;
		int db = ks.k[i].db;

		rc = mdb_get(vf->txn, dbi(vf->log, db), &ik, &iv);
		if (rc == MDB_NOTFOUND)
			return TAMPERED(vf, db, "record %llu: its %s entry is "
			    "missing", ull(seq), hv_auditlog_dbnames[db]);
		if (rc != 0)
			return hv_store_err(rc);
		if (iv.mv_size != 0)
			return TAMPERED(vf, db, "record %llu: its %s entry "
			    "has been altered", ull(seq),
			    hv_auditlog_dbnames[db]);
		vf->ix_count[db - DB_IX_SUBJECT]++;
	}
	hv_frontier_append(&vf->f, leaf);
	return HV_OK;
}

/*
 * Finds the entry of index db that matches no record. Runs only when the
 * index holds more entries than the records account for, so its cost
 * (decoding the record each entry names) is paid only on a tampered store.
 */
static hv_err
verify_index_extra(struct verify *vf, int db, uint64_t n)
{
	const char *name = hv_auditlog_dbnames[db];
	struct hv_audit_rec *r;
	struct ixkeys ks;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t seq;
	hv_err err = HV_OK;
	int rc, found;

	if ((r = malloc(sizeof(*r))) == NULL)
		return HV_ENOMEM;
	if ((rc = mdb_cursor_open(vf->txn, dbi(vf->log, db), &c)) != 0) {
		free(r);
		return hv_store_err(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 9) {
			err = TAMPERED(vf, db, "%s: an entry is malformed",
			    name);
			break;
		}
		seq = hv_be64_get((const uint8_t *)k.mv_data + k.mv_size - 8);
		if (seq == 0 || seq > n) {
			err = TAMPERED(vf, db, "%s: an entry names record %llu, "
			    "which does not exist", name, ull(seq));
			break;
		}
		if ((err = hv_auditlog_get(vf->log, vf->txn, seq, r)) !=
		    HV_OK)
			break;
		index_keys(r, &ks);
		found = 0;
		for (size_t i = 0; i < ks.n && !found; i++)
			found = ks.k[i].db == db && ks.k[i].len == k.mv_size &&
			    memcmp(ks.k[i].key, k.mv_data, k.mv_size) == 0;
		if (!found) {
			err = TAMPERED(vf, db, "%s: an entry for record %llu "
			    "does not match the record", name, ull(seq));
			break;
		}
	}
	if (err == HV_OK)
		err = rc == MDB_NOTFOUND ? TAMPERED(vf, db, "%s holds entries "
		    "that match no record", name) : hv_store_err(rc);
	mdb_cursor_close(c);
	free(r);
	return err;
}

/* After the walk: extra leaves and index entries, and the stored tree. */
static hv_err
verify_tail(struct verify *vf, uint64_t n)
{
	struct hv_frontier stored;
	MDB_stat st;
	uint64_t msize;
	hv_err err;
	int rc;

	if ((rc = mdb_stat(vf->txn, dbi(vf->log, DB_LEAVES), &st)) != 0)
		return hv_store_err(rc);
	if (st.ms_entries != n)
		return TAMPERED(vf, DB_LEAVES, "the leaves database holds "
		    "%llu leaf hashes for %llu records",
		    ull(st.ms_entries), ull(n));
	for (int db = DB_IX_SUBJECT; db <= DB_IX_MESSAGE; db++) {
		if ((rc = mdb_stat(vf->txn, dbi(vf->log, db), &st)) != 0)
			return hv_store_err(rc);
		if (st.ms_entries != vf->ix_count[db - DB_IX_SUBJECT])
			return verify_index_extra(vf, db, n);
	}
	err = frontier_load(vf->log, vf->txn, &stored);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META, "the stored tree is malformed");
	if (err != HV_OK)
		return err;
	if (stored.size != vf->f.size || stored.n != vf->f.n ||
	    memcmp(stored.hash, vf->f.hash, stored.n * HV_HASH_LEN) != 0)
		return TAMPERED(vf, DB_META, "the stored tree does not match "
		    "the %llu records", ull(n));
	err = meta_u64(vf->log, vf->txn, meta_size, &msize);
	if (err == HV_ENOTFOUND && n == 0)
		return HV_OK;
	if (err == HV_ETAMPERED || err == HV_ENOTFOUND ||
	    (err == HV_OK && msize != n))
		return TAMPERED(vf, DB_META, "the stored log size does not "
		    "match the %llu records", ull(n));
	return err;
}

/*
 * The size the store claims elsewhere than in "audit": the stored size and
 * frontier, the last leaf and the last head. A walk that ends before it has
 * lost records off the end.
 */
static hv_err
claimed_size(struct verify *vf, uint64_t *claim)
{
	struct hv_frontier f;
	uint64_t v;
	hv_err err;
	int bad;

	*claim = 0;
	err = meta_u64(vf->log, vf->txn, meta_size, &v);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META, "the stored log size is "
		    "malformed");
	if (err == HV_OK && v > *claim)
		*claim = v;
	else if (err != HV_OK && err != HV_ENOTFOUND)
		return err;
	err = frontier_load(vf->log, vf->txn, &f);
	if (err == HV_ETAMPERED)
		return TAMPERED(vf, DB_META, "the stored tree is malformed");
	if (err != HV_OK)
		return err;
	if (f.size > *claim)
		*claim = f.size;
	if ((err = last_key(vf->log, vf->txn, DB_LEAVES, &v, &bad)) != HV_OK)
		return err;
	if (bad)
		return TAMPERED(vf, DB_LEAVES, "the leaves database holds an "
		    "entry with a malformed key");
	if (v > *claim)
		*claim = v;
	if ((err = last_key(vf->log, vf->txn, DB_HEADS, &v, &bad)) != HV_OK)
		return err;
	if (bad)
		return TAMPERED(vf, DB_HEADS, "the heads database holds an "
		    "entry with a malformed key");
	if (v > *claim)
		*claim = v;
	return HV_OK;
}

hv_err
hv_auditlog_verify(hv_auditlog *log, MDB_txn *txn, const uint8_t *broker_sign,
    struct hv_errdetail *d)
{
	struct verify *vf;
	struct hv_audit_rec *r = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint8_t chain[CHAIN_LEN];
	uint64_t n = 0, seq, claim;
	hv_err err;
	int rc;

	hv_errclear(d);
	if ((vf = calloc(1, sizeof(*vf))) == NULL ||
	    (r = malloc(sizeof(*r))) == NULL) {
		free(vf);
		return HV_ENOMEM;
	}
	vf->log = log;
	vf->txn = txn;
	vf->broker_sign = broker_sign;
	vf->d = d;
	hv_frontier_init(&vf->f);
	if ((err = claimed_size(vf, &claim)) != HV_OK)
		goto out;
	if ((rc = mdb_cursor_open(txn, dbi(log, DB_HEADS), &vf->heads)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi(log, DB_AUDIT), &c)) != 0) {
		err = hv_store_err(rc);
		goto out;
	}
	rc = mdb_cursor_get(vf->heads, &vf->hk, &vf->hv, MDB_FIRST);
	if (rc == MDB_NOTFOUND)
		vf->heads_done = 1;
	else if (rc != 0) {
		err = hv_store_err(rc);
		goto out;
	}
	if ((err = verify_heads(vf)) != HV_OK)
		goto out;

	memset(chain, 0, sizeof(chain));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			err = TAMPERED(vf, DB_AUDIT, "the audit database "
			    "holds an entry with a malformed key");
			goto out;
		}
		seq = hv_be64_get(k.mv_data);
		if (seq != n + 1) {
			err = seq == 0 ? TAMPERED(vf, DB_AUDIT, "the audit "
			    "database holds a record numbered 0") :
			    TAMPERED(vf, DB_AUDIT, "record %llu is missing",
			    ull(n + 1));
			goto out;
		}
		if ((err = verify_record(vf, seq, &v, chain, r)) != HV_OK ||
		    (err = verify_heads(vf)) != HV_OK)
			goto out;
		crypto_generichash(chain, CHAIN_LEN, v.mv_data, v.mv_size,
		    NULL, 0);
		n = seq;
	}
	if (rc != MDB_NOTFOUND) {
		err = hv_store_err(rc);
		goto out;
	}
	if (n < claim) {
		err = TAMPERED(vf, DB_AUDIT, "record %llu is missing (the "
		    "store accounts for %llu records)", ull(n + 1),
		    ull(claim));
		goto out;
	}
	err = verify_tail(vf, n);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (vf->heads != NULL)
		mdb_cursor_close(vf->heads);
	free(r);
	free(vf);
	return err;
}

/* ---- queries --------------------------------------------------------- */

static int
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* 1 when node's role (the part before the first dot) is role. */
static int
has_role(const char *node, const char *role)
{
	const char *dot = strchr(node, '.');
	size_t n = dot != NULL ? (size_t)(dot - node) : strlen(node);

	return node[0] != '\0' && strlen(role) == n &&
	    strncmp(node, role, n) == 0;
}

static int
matches(const struct hv_audit_rec *r, const struct hv_audit_filter *f)
{
	int ok;

	if (f->has_id && (!r->has_id || memcmp(r->id, f->id, HV_ID_LEN) != 0))
		return 0;
	if (f->has_subject && (!r->has_subject ||
	    memcmp(r->subject, f->subject, 32) != 0))
		return 0;
	if (set(f->sender) && strcmp(r->sender, f->sender) != 0)
		return 0;
	if (set(f->recipient)) {
		ok = 0;
		for (size_t i = 0; i < r->n_recipients && !ok; i++)
			ok = strcmp(r->recipients[i], f->recipient) == 0;
		if (!ok)
			return 0;
	}
	if (set(f->role)) {
		ok = has_role(r->sender, f->role) ||
		    has_role(r->actor, f->role);
		for (size_t i = 0; i < r->n_recipients && !ok; i++)
			ok = has_role(r->recipients[i], f->role);
		if (!ok)
			return 0;
	}
	if (set(f->event) && strcmp(r->event, f->event) != 0)
		return 0;
	if (set(f->type) && strcmp(r->type, f->type) != 0)
		return 0;
	if (f->since_ms != 0 && r->time_ms < f->since_ms)
		return 0;
	if (f->until_ms != 0 && r->time_ms > f->until_ms)
		return 0;
	return 1;
}

struct query {
	hv_auditlog *log;
	MDB_txn *txn;
	const struct hv_audit_filter *f;
	hv_audit_query_fn fn;
	void *ctx;
	size_t emitted;
	int stop;
	struct hv_audit_rec rec;
};

/* Reads record seq, named by an index, and hands it on if it matches. */
static hv_err
query_one(struct query *q, uint64_t seq)
{
	hv_err err = hv_auditlog_get(q->log, q->txn, seq, &q->rec);

	if (err == HV_ENOTFOUND)
		return HV_ETAMPERED;
	if (err != HV_OK)
		return err;
	if (!matches(&q->rec, q->f))
		return HV_OK;
	if (q->fn(q->ctx, &q->rec) != 0)
		q->stop = 1;
	q->emitted++;
	if (q->f->limit != 0 && q->emitted >= q->f->limit)
		q->stop = 1;
	return HV_OK;
}

/* Walks the entries of index db that begin with prefix, in seq order. */
static hv_err
query_prefix(struct query *q, int db, const uint8_t *prefix, size_t plen)
{
	MDB_cursor *c;
	MDB_val k = val(prefix, plen), v;
	hv_err err = HV_OK;
	int rc;

	if ((rc = mdb_cursor_open(q->txn, dbi(q->log, db), &c)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	    rc == 0 && !q->stop;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size != plen + 8) {
			err = HV_ETAMPERED;
			break;
		}
		err = query_one(q, hv_be64_get((const uint8_t *)k.mv_data +
		    plen));
		if (err != HV_OK)
			break;
	}
	if (err == HV_OK && rc != 0 && rc != MDB_NOTFOUND)
		err = hv_store_err(rc);
	mdb_cursor_close(c);
	return err;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Walks ix_time over [since, until]. Clocks can step back, so time order
 * need not be seq order: gather the range, sort it, then read.
 */
static hv_err
query_time(struct query *q)
{
	uint8_t start[8];
	uint64_t *seqs = NULL, *grown;
	size_t n = 0, cap = 0;
	MDB_cursor *c;
	MDB_val k = val(start, 8), v;
	hv_err err = HV_OK;
	int rc;

	/* Records never have a negative time. */
	if (q->f->until_ms < 0)
		return HV_OK;
	hv_be64_put(start, (uint64_t)(q->f->since_ms > 0 ? q->f->since_ms :
	    0));
	if ((rc = mdb_cursor_open(q->txn, dbi(q->log, DB_IX_TIME), &c)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			err = HV_ETAMPERED;
			goto out;
		}
		if (q->f->until_ms != 0 && hv_be64_get(k.mv_data) >
		    (uint64_t)q->f->until_ms)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			if ((grown = realloc(seqs, cap * sizeof(*seqs))) ==
			    NULL) {
				err = HV_ENOMEM;
				goto out;
			}
			seqs = grown;
		}
		seqs[n++] = hv_be64_get((const uint8_t *)k.mv_data + 8);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		err = hv_store_err(rc);
		goto out;
	}
	mdb_cursor_close(c);
	c = NULL;
	if (n > 0)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	for (size_t i = 0; i < n && !q->stop && err == HV_OK; i++)
		err = query_one(q, seqs[i]);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	free(seqs);
	return err;
}

/* No indexed condition: every record, in order. */
static hv_err
query_scan(struct query *q)
{
	MDB_cursor *c;
	MDB_val k, v;
	hv_err err = HV_OK;
	int rc;

	if ((rc = mdb_cursor_open(q->txn, dbi(q->log, DB_AUDIT), &c)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !q->stop;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((err = hv_audit_rec_unpack(v.mv_data, v.mv_size,
		    &q->rec)) != HV_OK)
			break;
		if (!matches(&q->rec, q->f))
			continue;
		if (q->fn(q->ctx, &q->rec) != 0)
			q->stop = 1;
		q->emitted++;
		if (q->f->limit != 0 && q->emitted >= q->f->limit)
			q->stop = 1;
	}
	if (err == HV_OK && rc != 0 && rc != MDB_NOTFOUND)
		err = hv_store_err(rc);
	mdb_cursor_close(c);
	return err;
}

hv_err
hv_auditlog_query(hv_auditlog *log, MDB_txn *txn,
    const struct hv_audit_filter *f, hv_audit_query_fn fn, void *ctx)
{
	uint8_t prefix[HV_NODE_MAX + 1];
	struct query *q;
	size_t n;
	hv_err err;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return HV_ENOMEM;
	q->log = log;
	q->txn = txn;
	q->f = f;
	q->fn = fn;
	q->ctx = ctx;
	if (f->has_id) {
		err = query_prefix(q, DB_IX_MESSAGE, f->id, HV_ID_LEN);
	} else if (f->has_subject) {
		err = query_prefix(q, DB_IX_SUBJECT, f->subject, 32);
	} else if (set(f->sender) || set(f->recipient)) {
		const char *node = set(f->sender) ? f->sender : f->recipient;

		/* A name too long to be a node matches nothing. */
		if ((n = strlen(node)) > HV_NODE_MAX) {
			err = HV_OK;
			goto out;
		}
		memcpy(prefix, node, n);
		prefix[n] = 0;
		err = query_prefix(q, set(f->sender) ? DB_IX_SENDER :
		    DB_IX_RECIPIENT, prefix, n + 1);
	} else if (f->since_ms != 0 || f->until_ms != 0) {
		err = query_time(q);
	} else {
		err = query_scan(q);
	}
out:
	free(q);
	return err;
}
