/*
 * hv_auditlog — the broker's audit log: record encoding, the append path,
 * indexes, the stored tree and signed tree heads (SPEC §9).
 *
 * The append path keeps the Merkle frontier in "meta", so appending and
 * reading the current root cost O(log n). This file owns everything that
 * writes the store; verification (hv_auditverify.c) and queries
 * (hv_auditquery.c) only read it, through the layout in hv_auditlog_int.h.
 *
 * Nothing here logs, and no record field can carry a payload or child
 * details.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_auditlog_int.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "hv_wire.h"

const char *const hv_auditlog_dbnames[HV_AUDITLOG_NDBS] = {
	"audit",
	"leaves",
	"heads",
	"ix_subject",
	"ix_sender",
	"ix_recipient",
	"ix_time",
	"ix_message",
	"meta",
};

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
	if (r->has_basis &&
	    (!str_ok(r->basis.consent, sizeof(r->basis.consent)) ||
	        !str_ok(r->basis.art6, sizeof(r->basis.art6)) ||
	        !str_ok(r->basis.art9, sizeof(r->basis.art9)) ||
	        !str_ok(r->basis.justification,
	            sizeof(r->basis.justification)) ||
	        !str_ok(r->basis.decided_by, sizeof(r->basis.decided_by)) ||
	        r->basis.n_sealed_for > HV_SEALED_FOR_MAX ||
	        r->basis.sealed_len > sizeof(r->basis.sealed)))
		return 0;
	for (size_t i = 0; r->has_basis && i < r->basis.n_sealed_for; i++)
		if (!str_ok(r->basis.sealed_for[i],
		        sizeof(r->basis.sealed_for[i])))
			return 0;
	return r->time_ms >= 0 && str_ok(r->event, sizeof(r->event)) &&
	    str_ok(r->sender, sizeof(r->sender)) &&
	    str_ok(r->type, sizeof(r->type)) &&
	    str_ok(r->priority, sizeof(r->priority)) &&
	    str_ok(r->reason, sizeof(r->reason)) &&
	    str_ok(r->actor, sizeof(r->actor)) &&
	    str_ok(r->detail, sizeof(r->detail)) &&
	    str_ok(r->outcome, sizeof(r->outcome)) &&
	    str_ok(r->at, sizeof(r->at));
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
	struct hv_basis_pb b;
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
		hv_basis_to_pb(&rec->basis, &b);
		m.basis = &b.pb;
	}
	m.subject = bin(rec->has_subject, rec->subject, 32);
	m.ciphertext_digest = bin(rec->has_digest, rec->digest, HV_DIGEST_LEN);
	m.signature = bin(rec->has_signature, rec->signature, HV_SIGNATURE_LEN);
	m.reason = (char *)rec->reason;
	m.actor = (char *)rec->actor;
	m.detail = (char *)rec->detail;
	m.prev_hash = bin(1, rec->prev_hash, CHAIN_LEN);
	m.directory_version = rec->directory_version;
	m.reply_to = bin(rec->has_reply_to, rec->reply_to, HV_ID_LEN);
	m.outcome = (char *)rec->outcome;
	m.flags = rec->flags;
	m.created = rec->created;
	m.subject_key_id = bin(rec->has_subject_key_id, rec->subject_key_id,
	    sizeof(rec->subject_key_id));
	m.at = (char *)rec->at;

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
	/* buf may be NULL when len is 0: memcmp may not be given it. */
	ok = len == 0 || memcmp(again, buf, len) == 0;
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
		bad |= hv_basis_from_pb(m->basis, &r->basis, "record.basis",
		           NULL) != HV_OK;
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
	bad |= take_bin(r->reply_to, HV_ID_LEN, &m->reply_to, &r->has_reply_to);
	bad |= take_str(r->outcome, sizeof(r->outcome), m->outcome);
	r->flags = m->flags;
	r->created = m->created;
	bad |= take_bin(r->subject_key_id, sizeof(r->subject_key_id),
	    &m->subject_key_id, &r->has_subject_key_id);
	bad |= take_str(r->at, sizeof(r->at), m->at);
	/*
	 * Embedded NULs, unknown or repeated fields and non-minimal varints
	 * all decode to something; only the canonical bytes are a record.
	 * Fields from a newer schema are refused too: a reader that cannot
	 * show a field must not vouch for the record.
	 */
	bad |= m->base.n_unknown_fields != 0;
	bad |= m->basis != NULL && m->basis->base.n_unknown_fields != 0;
	bad |= canonical(m, buf, len);
	/* What hv_audit_rec_pack would refuse to write is no record either. */
	bad |= !rec_strings_ok(r);
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

/*
 * How far back hv_auditlog_subject_key_id looks. Every share and decision
 * made since §15 carries an id, so a log in use has one near its end; the
 * bound keeps a query on a large log written before ids existed from
 * reading all of it each time.
 */
#define KEY_ID_SCAN_MAX 100000

hv_err
hv_auditlog_subject_key_id(hv_auditlog *log, MDB_txn *txn, uint8_t out[8])
{
	struct hv_audit_rec *rec;
	uint8_t root[HV_HASH_LEN];
	uint64_t size;
	hv_err e;

	if ((e = hv_auditlog_tree(log, txn, &size, root)) != HV_OK)
		return e;
	if ((rec = malloc(sizeof(*rec))) == NULL)
		return HV_ENOMEM;
	e = HV_ENOTFOUND;
	for (uint64_t seq = size; seq > 0 && size - seq < KEY_ID_SCAN_MAX;
	     seq--) {
		hv_err ge = hv_auditlog_get(log, txn, seq, rec);

		if (ge != HV_OK) {
			e = ge;
			break;
		}
		if (rec->has_subject_key_id) {
			memcpy(out, rec->subject_key_id, 8);
			e = HV_OK;
			break;
		}
	}
	free(rec);
	return e;
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
	    env->n_recipients :
	    HV_MAX_RECIPIENTS;
	for (size_t i = 0; i < rec->n_recipients; i++)
		snprintf(rec->recipients[i], sizeof(rec->recipients[i]), "%s",
		    env->recipients[i]);
	snprintf(rec->type, sizeof(rec->type), "%s", env->type);
	snprintf(rec->priority, sizeof(rec->priority), "%s", env->priority);
	rec->has_basis = 1;
	rec->basis = env->basis;
	/*
	 * SPEC §9: no free text in clear. A well-formed envelope carries its
	 * justification sealed and a staff identifier as decided_by; one the
	 * broker refuses may carry either in clear, and that must not reach
	 * the record (it could name the child).
	 */
	memset(rec->basis.justification, 0, sizeof(rec->basis.justification));
	if (!hv_policy_staff_id_valid(rec->basis.decided_by))
		memset(rec->basis.decided_by, 0, sizeof(rec->basis.decided_by));
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
	rec->has_subject_key_id = env->has_subject_key_id;
	memcpy(rec->subject_key_id, env->subject_key_id,
	    sizeof(rec->subject_key_id));
}

/* ---- index keys ------------------------------------------------------ */

static void
ix_add(struct ixkeys *ks, int db, const void *prefix, size_t plen, int nul,
    uint64_t seq)
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

void
hv_auditlog_index_keys(const struct hv_audit_rec *rec, struct ixkeys *ks)
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
			dup =
			    strcmp(rec->recipients[i], rec->recipients[j]) == 0;
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

static const char meta_frontier[] = HV_AUDITLOG_META_FRONTIER;
static const char meta_size[] = HV_AUDITLOG_META_SIZE;

hv_err
hv_auditlog_frontier_load(hv_auditlog *log, MDB_txn *txn, struct hv_frontier *f)
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
		crypto_generichash(chain, CHAIN_LEN, v.mv_data, v.mv_size, NULL,
		    0);
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
	    (err = hv_auditlog_frontier_load(log, txn, &f)) != HV_OK)
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
	hv_auditlog_index_keys(r, &ks);
	for (size_t i = 0; i < ks.n; i++) {
		MDB_val ik = val(ks.k[i].key, ks.k[i].len);

		if ((rc = mdb_put(txn, dbi(log, ks.k[i].db), &ik, &empty, 0)) !=
		    0)
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

	if ((err = hv_auditlog_frontier_load(log, txn, &f)) != HV_OK)
		return err;
	*size = f.size;
	hv_frontier_root(&f, root);
	return HV_OK;
}

/* ---- reading records and leaves -------------------------------------- */

hv_err
hv_auditlog_get_raw(hv_auditlog *log, MDB_txn *txn, uint64_t seq, uint8_t **out,
    size_t *len)
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
	return hv_auditlog_head_verify_at(h, broker_sign, NULL);
}

hv_err
hv_auditlog_head_verify_at(const Haven__SignedTreeHead *h,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev)
{
	uint8_t msg[HV_STH_MESSAGE_LEN];

	if (h->root.len != HV_HASH_LEN || h->signature.len != crypto_sign_BYTES)
		return HV_EMALFORMED;
	hv_auditlog_head_message(h->size, h->root.data, h->time, msg);
	return hv_sign_verify_at(broker_sign, prev, msg, sizeof(msg),
	    h->signature.data, h->time);
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

static hv_err
put_u64(hv_auditlog *log, MDB_txn *txn, const void *key, size_t klen,
    uint64_t n)
{
	uint8_t buf[8];
	MDB_val k = val(key, klen), v = val(buf, 8);

	hv_be64_put(buf, n);
	return hv_store_err(mdb_put(txn, dbi(log, DB_META), &k, &v, 0));
}

/*
 * Numbers the heads of a store written before heads were numbered, in the
 * order of their sizes, so that from now on a deleted one is noticed; *n
 * gets how many there are.
 */
static hv_err
heads_number_existing(hv_auditlog *log, MDB_txn *txn, uint64_t *n)
{
	uint8_t nk[HV_AUDITLOG_HEADKEY_LEN];
	MDB_cursor *c;
	MDB_val k, v;
	hv_err err = HV_OK;
	int rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, dbi(log, DB_HEADS), &c)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && err == HV_OK;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			err = HV_ETAMPERED;
			break;
		}
		hv_auditlog_headkey(++*n, nk);
		err = put_u64(log, txn, nk, sizeof(nk), hv_be64_get(k.mv_data));
	}
	mdb_cursor_close(c);
	if (err == HV_OK && rc != MDB_NOTFOUND && rc != 0)
		err = hv_store_err(rc);
	return err;
}

/* Records the head about to be stored at size as the next numbered one. */
static hv_err
head_number(hv_auditlog *log, MDB_txn *txn, uint64_t size)
{
	static const char count_key[] = HV_AUDITLOG_META_HEADS;
	uint8_t nk[HV_AUDITLOG_HEADKEY_LEN];
	MDB_val k = val(count_key, sizeof(count_key) - 1), v;
	uint64_t n = 0;
	hv_err err;
	int rc;

	rc = mdb_get(txn, dbi(log, DB_META), &k, &v);
	if (rc == 0 && v.mv_size != 8)
		return HV_ETAMPERED;
	if (rc == 0)
		n = hv_be64_get(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		return hv_store_err(rc);
	else if ((err = heads_number_existing(log, txn, &n)) != HV_OK)
		return err;
	hv_auditlog_headkey(++n, nk);
	if ((err = put_u64(log, txn, nk, sizeof(nk), size)) != HV_OK)
		return err;
	return put_u64(log, txn, count_key, sizeof(count_key) - 1, n);
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
	if ((err = head_number(log, txn, size)) != HV_OK)
		return err;
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
	if ((h = haven__signed_tree_head__unpack(NULL, v.mv_size, v.mv_data)) ==
	    NULL)
		return HV_EMALFORMED;
	if (h->size != size || h->root.len != HV_HASH_LEN) {
		haven__signed_tree_head__free_unpacked(h, NULL);
		return HV_EMALFORMED;
	}
	*out = h;
	return HV_OK;
}
