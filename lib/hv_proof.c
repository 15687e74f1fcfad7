/*
 * hv_proof — inclusion and consistency proofs of the audit log: made from
 * a store, written and read as JSON, verified offline. See hv_proof.h for
 * the formats.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "hv_proof.h"
#include "hv_store.h"
#include "hv_util.h"

#define ISO_MS_LEN 32 /* hv_time_iso_ms */

/* ---- helpers --------------------------------------------------------- */

static MDB_dbi
heads_dbi(const hv_auditlog *log)
{
	size_t k;

	for (k = 0; k < HV_AUDITLOG_NDBS; k++)
		if (strcmp(hv_auditlog_dbnames[k], "heads") == 0)
			break;
	return log->store->dbi[log->base + k];
}

/* Copies a stored SignedTreeHead into h, checking its shape. */
static hv_err
head_from_msg(const Haven__SignedTreeHead *m, struct hv_proof_head *h)
{
	if (m->root.len != HV_HASH_LEN ||
	    m->signature.len != HV_SIGNATURE_LEN || m->size == 0)
		return HV_EMALFORMED;
	h->size = m->size;
	memcpy(h->root, m->root.data, HV_HASH_LEN);
	h->time_ms = m->time;
	memcpy(h->signature, m->signature.data, HV_SIGNATURE_LEN);
	return HV_OK;
}

/*
 * Reads the head stored at exactly size into h. On HV_ENOTFOUND the detail
 * names the nearest sizes that do have a head.
 */
static hv_err
head_at(hv_auditlog *log, MDB_txn *txn, uint64_t size, struct hv_proof_head *h,
    struct hv_errdetail *d)
{
	Haven__SignedTreeHead *m;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint8_t key[8];
	uint64_t below = 0, above = 0;
	hv_err err;
	int rc;

	hv_be64_put(key, size);
	k.mv_size = 8;
	k.mv_data = key;
	rc = mdb_get(txn, heads_dbi(log), &k, &v);
	if (rc == 0) {
		if ((m = haven__signed_tree_head__unpack(NULL, v.mv_size,
		         v.mv_data)) == NULL)
			return hv_errset(d, HV_ETAMPERED, "heads",
			    "The tree "
			    "head at size %" PRIu64 " does not decode; run "
			    "haven audit verify.",
			    size);
		err = head_from_msg(m, h);
		if (err == HV_OK && m->size != size)
			err = HV_EMALFORMED;
		haven__signed_tree_head__free_unpacked(m, NULL);
		if (err != HV_OK)
			return hv_errset(d, HV_ETAMPERED, "heads",
			    "The tree "
			    "head at size %" PRIu64 " is malformed; run haven "
			    "audit verify.",
			    size);
		return HV_OK;
	}
	if (rc != MDB_NOTFOUND)
		return hv_store_err(rc);

	/* Name the neighbours so that the officer can pick a real size. */
	if ((rc = mdb_cursor_open(txn, heads_dbi(log), &c)) != 0)
		return hv_store_err(rc);
	k.mv_size = 8;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == 8)
		above = hv_be64_get(k.mv_data);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		below = hv_be64_get(k.mv_data);
	mdb_cursor_close(c);
	if (below == 0 && above == 0)
		return hv_errset(d, HV_ENOTFOUND, "head",
		    "The broker has not "
		    "signed any tree head yet.");
	if (below == 0)
		return hv_errset(d, HV_ENOTFOUND, "head",
		    "There is no signed "
		    "tree head at size %" PRIu64 "; the smallest is at size "
		    "%" PRIu64 ".",
		    size, above);
	if (above == 0)
		return hv_errset(d, HV_ENOTFOUND, "head",
		    "There is no signed "
		    "tree head at size %" PRIu64 "; the largest is at size "
		    "%" PRIu64 ".",
		    size, below);
	return hv_errset(d, HV_ENOTFOUND, "head",
	    "There is no signed tree "
	    "head at size %" PRIu64 "; the nearest are at sizes %" PRIu64
	    " and %" PRIu64 ".",
	    size, below, above);
}

/* ---- picking the record of a message ------------------------------- */

struct pick {
	const char *event;
	int (*keep)(void *, const struct hv_audit_rec *);
	void *keep_ctx;
	uint64_t want, main, any;
};

static int
on_pick(void *ctx, const struct hv_audit_rec *r)
{
	struct pick *p = ctx;

	if (p->keep != NULL && !p->keep(p->keep_ctx, r))
		return 0;
	if (p->any == 0)
		p->any = r->seq;
	if (p->event != NULL) {
		if (strcmp(r->event, p->event) == 0) {
			p->want = r->seq;
			return 1;
		}
		return 0;
	}
	if (hv_event_is(r->event, HV_EV_SUBMITTED) ||
	    hv_event_is(r->event, HV_EV_DECISION_RECORDED)) {
		p->main = r->seq;
		return 1;
	}
	return 0;
}

hv_err
hv_proof_pick(hv_auditlog *log, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *event, int (*keep)(void *, const struct hv_audit_rec *),
    void *keep_ctx, uint64_t *seq)
{
	struct hv_audit_filter f;
	struct pick pk;
	hv_err e;

	memset(&f, 0, sizeof(f));
	f.has_id = 1;
	memcpy(f.id, id, HV_ID_LEN);
	memset(&pk, 0, sizeof(pk));
	pk.event = event;
	pk.keep = keep;
	pk.keep_ctx = keep_ctx;
	if ((e = hv_auditlog_query(log, txn, &f, on_pick, &pk)) != HV_OK)
		return e;
	*seq = event != NULL ? pk.want : pk.main != 0 ? pk.main : pk.any;
	return HV_OK;
}

/* ---- making proofs --------------------------------------------------- */

hv_err
hv_proof_inclusion(hv_auditlog *log, MDB_txn *txn, uint64_t seq, hv_proof **out,
    struct hv_errdetail *d)
{
	Haven__SignedTreeHead *m = NULL;
	struct hv_auditlog_leaves lv = { log, txn };
	struct hv_audit_rec *rec = NULL;
	uint8_t stored[HV_HASH_LEN];
	hv_proof *p = NULL;
	hv_err err;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (rec = malloc(sizeof(*rec))) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	p->kind = HV_PROOF_INCLUSION;
	err = hv_auditlog_latest_head(log, txn, &m);
	if (err == HV_ENOTFOUND) {
		err = hv_errset(d, err, "head",
		    "The broker has not signed any "
		    "tree head yet; try again in a second.");
		goto out;
	}
	if (err != HV_OK) {
		err = hv_errset(d, err == HV_EMALFORMED ? HV_ETAMPERED : err,
		    "heads", "The latest tree head cannot be read: %s",
		    hv_strerror(err));
		goto out;
	}
	if (head_from_msg(m, &p->head) != HV_OK) {
		err = hv_errset(d, HV_ETAMPERED, "heads",
		    "The latest tree "
		    "head is malformed; run haven audit verify.");
		goto out;
	}
	err = hv_auditlog_get_raw(log, txn, seq, &p->record, &p->record_len);
	if (err == HV_ENOTFOUND) {
		err = hv_errset(d, err, "seq",
		    "The audit log has no record "
		    "%" PRIu64 ".",
		    seq);
		goto out;
	}
	if (err != HV_OK)
		goto out;
	if (seq > p->head.size) {
		err = hv_errset(d, HV_ENOTFOUND, "head",
		    "Record %" PRIu64
		    " is not yet covered by a signed tree head (the latest "
		    "covers records 1 to %" PRIu64 "); try again in a second.",
		    seq, p->head.size);
		goto out;
	}
	if (p->record_len > HV_PROOF_RECORD_MAX ||
	    hv_audit_rec_unpack(p->record, p->record_len, rec) != HV_OK ||
	    rec->seq != seq) {
		err = hv_errset(d, HV_ETAMPERED, "audit",
		    "Record %" PRIu64
		    " does not decode as the record it should be; run haven "
		    "audit verify.",
		    seq);
		goto out;
	}
	p->has_id = rec->has_id;
	memcpy(p->id, rec->id, HV_ID_LEN);
	p->leaf_index = seq - 1;
	hv_merkle_leaf_hash(p->record, p->record_len, p->leaf_hash);
	if (hv_auditlog_leaf_fn(&lv, p->leaf_index, stored) != 0 ||
	    sodium_memcmp(stored, p->leaf_hash, HV_HASH_LEN) != 0) {
		err = hv_errset(d, HV_ETAMPERED, "leaves",
		    "The stored leaf "
		    "hash of record %" PRIu64 " does not match the record; run "
		    "haven audit verify.",
		    seq);
		goto out;
	}
	err = hv_merkle_inclusion_proof(hv_auditlog_leaf_fn, &lv, p->leaf_index,
	    p->head.size, p->path, &p->n);
	if (err != HV_OK) {
		err = hv_errset(d, HV_ETAMPERED, "leaves",
		    "The tree up to "
		    "size %" PRIu64 " cannot be read; run haven audit verify.",
		    p->head.size);
		goto out;
	}
	if (hv_merkle_verify_inclusion(p->leaf_hash, p->leaf_index,
	        p->head.size, (const uint8_t(*)[HV_HASH_LEN])p->path, p->n,
	        p->head.root) != HV_OK) {
		err = hv_errset(d, HV_ETAMPERED, "heads",
		    "The signed tree "
		    "head at size %" PRIu64 " does not match the stored tree; "
		    "run haven audit verify.",
		    p->head.size);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	if (m != NULL)
		haven__signed_tree_head__free_unpacked(m, NULL);
	free(rec);
	hv_proof_destroy(&p);
	return err;
}

hv_err
hv_proof_consistency(hv_auditlog *log, MDB_txn *txn, uint64_t from, uint64_t to,
    hv_proof **out, struct hv_errdetail *d)
{
	Haven__SignedTreeHead *m = NULL;
	struct hv_auditlog_leaves lv = { log, txn };
	hv_proof *p = NULL;
	hv_err err;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return HV_ENOMEM;
	p->kind = HV_PROOF_CONSISTENCY;
	if (to == 0) {
		err = hv_auditlog_latest_head(log, txn, &m);
		if (err == HV_ENOTFOUND)
			err = hv_errset(d, err, "head",
			    "The broker has not "
			    "signed any tree head yet.");
		else if (err == HV_OK && head_from_msg(m, &p->head) != HV_OK)
			err = HV_EMALFORMED;
		if (err == HV_EMALFORMED)
			err = hv_errset(d, HV_ETAMPERED, "heads",
			    "The latest "
			    "tree head is malformed; run haven audit verify.");
		if (err != HV_OK)
			goto out;
		to = p->head.size;
	}
	if (from == 0 || from > to) {
		err = hv_errset(d, HV_EUSAGE, "from",
		    "The first size (%" PRIu64
		    ") must be at least 1 and at most the second (%" PRIu64
		    ").",
		    from, to);
		goto out;
	}
	if ((err = head_at(log, txn, from, &p->first, d)) != HV_OK)
		goto out;
	if (m == NULL && (err = head_at(log, txn, to, &p->head, d)) != HV_OK)
		goto out;
	err = hv_merkle_consistency_proof(hv_auditlog_leaf_fn, &lv, from, to,
	    p->path, &p->n);
	if (err != HV_OK) {
		err = hv_errset(d, HV_ETAMPERED, "leaves",
		    "The tree up to "
		    "size %" PRIu64 " cannot be read; run haven audit verify.",
		    to);
		goto out;
	}
	if (hv_merkle_verify_consistency(from, to, p->first.root, p->head.root,
	        (const uint8_t(*)[HV_HASH_LEN])p->path, p->n) != HV_OK) {
		err = hv_errset(d, HV_ETAMPERED, "heads",
		    "The signed tree "
		    "heads at sizes %" PRIu64 " and %" PRIu64 " do not match "
		    "the stored tree; run haven audit verify.",
		    from, to);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	if (m != NULL)
		haven__signed_tree_head__free_unpacked(m, NULL);
	hv_proof_destroy(&p);
	return err;
}

/* ---- JSON out -------------------------------------------------------- */

static json_t *
hex_json(const uint8_t *b, size_t len)
{
	char buf[2 * HV_SIGNATURE_LEN + 1];

	hv_hex(b, len, buf);
	return json_string(buf);
}

/* Adds tree_size .. head_signature of h to o; 0 or -1. */
static int
head_json(json_t *o, const struct hv_proof_head *h)
{
	char iso[ISO_MS_LEN];

	hv_time_iso_ms(h->time_ms, iso, sizeof(iso));
	return json_object_set_new(o, "tree_size",
	           json_integer((json_int_t)h->size)) |
	    json_object_set_new(o, "root_hash",
	        hex_json(h->root, HV_HASH_LEN)) |
	    json_object_set_new(o, "head_time", json_string(iso)) |
	    json_object_set_new(o, "head_time_ms",
	        json_integer((json_int_t)h->time_ms)) |
	    json_object_set_new(o, "head_signature",
	        hex_json(h->signature, HV_SIGNATURE_LEN));
}

hv_err
hv_proof_to_json(const hv_proof *p, char **out)
{
	json_t *o = NULL, *a = NULL, *f = NULL, *s = NULL;
	char idhex[HV_ID_HEX_LEN + 1], *b64 = NULL, *text = NULL;
	size_t b64len;
	int bad = 0;
	hv_err err = HV_ENOMEM;

	if ((o = json_object()) == NULL || (a = json_array()) == NULL)
		goto out;
	for (size_t i = 0; i < p->n; i++)
		bad |=
		    json_array_append_new(a, hex_json(p->path[i], HV_HASH_LEN));
	if (p->kind == HV_PROOF_INCLUSION) {
		b64len = sodium_base64_encoded_len(p->record_len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(b64len)) == NULL)
			goto out;
		sodium_bin2base64(b64, b64len, p->record, p->record_len,
		    sodium_base64_VARIANT_ORIGINAL);
		hv_hex(p->id, HV_ID_LEN, idhex);
		bad |= json_object_set_new(o, "format",
		    json_string(HV_PROOF_INCLUSION_FORMAT));
		bad |= json_object_set_new(o, "message_id",
		    p->has_id ? json_string(idhex) : json_null());
		bad |= json_object_set_new(o, "seq",
		    json_integer((json_int_t)p->leaf_index + 1));
		bad |= json_object_set_new(o, "leaf_index",
		    json_integer((json_int_t)p->leaf_index));
		bad |= json_object_set_new(o, "record", json_string(b64));
		bad |= json_object_set_new(o, "leaf_hash",
		    hex_json(p->leaf_hash, HV_HASH_LEN));
		bad |= head_json(o, &p->head);
	} else {
		if ((f = json_object()) == NULL || (s = json_object()) == NULL)
			goto out;
		bad |= head_json(f, &p->first) | head_json(s, &p->head);
		bad |= json_object_set_new(o, "format",
		    json_string(HV_PROOF_CONSISTENCY_FORMAT));
		bad |= json_object_set(o, "first", f);
		bad |= json_object_set(o, "second", s);
	}
	bad |= json_object_set(o, "proof", a);
	if (bad != 0 ||
	    (text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	        NULL)
		goto out;
	/* json_dumps leaves no final newline; a file should end in one. */
	if ((*out = malloc(strlen(text) + 2)) == NULL)
		goto out;
	snprintf(*out, strlen(text) + 2, "%s\n", text);
	err = HV_OK;
out:
	free(text);
	free(b64);
	json_decref(f);
	json_decref(s);
	json_decref(a);
	json_decref(o);
	return err;
}

/* ---- JSON in --------------------------------------------------------- */

#define BAD(d, field, ...) hv_errset(d, HV_EMALFORMED, field, __VA_ARGS__)

static hv_err
get_u64(json_t *o, const char *key, const char *where, uint64_t *v,
    struct hv_errdetail *d)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return BAD(d, key,
		    "The proof's %s%s is missing or not a "
		    "whole number of at least 0.",
		    where, key);
	*v = (uint64_t)json_integer_value(j);
	return HV_OK;
}

static hv_err
get_hex(json_t *o, const char *key, const char *where, uint8_t *out, size_t len,
    struct hv_errdetail *d)
{
	json_t *j = json_object_get(o, key);
	const char *s = json_string_value(j);

	if (s == NULL || strlen(s) != 2 * len || hv_unhex(s, out, len) != 0)
		return BAD(d, key,
		    "The proof's %s%s is missing or not %zu "
		    "hex digits%s%.70s%s.",
		    where, key, 2 * len, s != NULL ? " ('" : "",
		    s != NULL ? s : "", s != NULL ? "')" : "");
	return HV_OK;
}

static hv_err
get_head(json_t *o, const char *where, struct hv_proof_head *h,
    struct hv_errdetail *d)
{
	json_t *j;
	char iso[ISO_MS_LEN];
	hv_err err;

	if (!json_is_object(o))
		return BAD(d, where,
		    "The proof's %s is missing or not an "
		    "object.",
		    where);
	if ((err = get_u64(o, "tree_size", where, &h->size, d)) != HV_OK ||
	    (err = get_hex(o, "root_hash", where, h->root, HV_HASH_LEN, d)) !=
	        HV_OK ||
	    (err = get_hex(o, "head_signature", where, h->signature,
	         HV_SIGNATURE_LEN, d)) != HV_OK)
		return err;
	if (h->size == 0)
		return BAD(d, "tree_size",
		    "The proof's %stree_size is 0; a "
		    "signed tree head covers at least one record.",
		    where);
	j = json_object_get(o, "head_time_ms");
	if (!json_is_integer(j))
		return BAD(d, "head_time_ms",
		    "The proof's %shead_time_ms is "
		    "missing or not a whole number.",
		    where);
	h->time_ms = (int64_t)json_integer_value(j);
	/* head_time is for people; it must not say something else. */
	if ((j = json_object_get(o, "head_time")) != NULL) {
		hv_time_iso_ms(h->time_ms, iso, sizeof(iso));
		if (!json_is_string(j) ||
		    strcmp(json_string_value(j), iso) != 0)
			return BAD(d, "head_time",
			    "The proof's %shead_time "
			    "does not agree with its head_time_ms (%s).",
			    where, iso);
	}
	return HV_OK;
}

static hv_err
get_path(json_t *o, hv_proof *p, struct hv_errdetail *d)
{
	json_t *a = json_object_get(o, "proof");
	const char *s;

	if (!json_is_array(a) || json_array_size(a) > HV_MERKLE_MAX_PROOF)
		return BAD(d, "proof",
		    "The proof's proof is missing, not an "
		    "array, or longer than %d hashes.",
		    HV_MERKLE_MAX_PROOF);
	p->n = json_array_size(a);
	for (size_t i = 0; i < p->n; i++) {
		s = json_string_value(json_array_get(a, i));
		if (s == NULL || strlen(s) != 2 * HV_HASH_LEN ||
		    hv_unhex(s, p->path[i], HV_HASH_LEN) != 0)
			return BAD(d, "proof",
			    "Hash %zu of the proof's proof "
			    "is not 64 hex digits.",
			    i + 1);
	}
	return HV_OK;
}

static hv_err
get_inclusion(json_t *o, hv_proof *p, struct hv_errdetail *d)
{
	json_t *j;
	const char *s;
	uint64_t seq;
	size_t cap, len;
	hv_err err;

	j = json_object_get(o, "message_id");
	if (j != NULL && !json_is_null(j)) {
		if ((err = get_hex(o, "message_id", "", p->id, HV_ID_LEN, d)) !=
		    HV_OK)
			return err;
		p->has_id = 1;
	}
	if ((err = get_u64(o, "leaf_index", "", &p->leaf_index, d)) != HV_OK)
		return err;
	if (json_object_get(o, "seq") != NULL) {
		if ((err = get_u64(o, "seq", "", &seq, d)) != HV_OK)
			return err;
		if (seq != p->leaf_index + 1)
			return BAD(d, "seq",
			    "The proof's seq (%" PRIu64 ") is "
			    "not leaf_index + 1 (%" PRIu64 ").",
			    seq, p->leaf_index + 1);
	}
	if ((err = get_hex(o, "leaf_hash", "", p->leaf_hash, HV_HASH_LEN, d)) !=
	    HV_OK)
		return err;
	s = json_string_value(json_object_get(o, "record"));
	if (s == NULL || (len = strlen(s)) == 0 ||
	    len > sodium_base64_ENCODED_LEN(HV_PROOF_RECORD_MAX,
	              sodium_base64_VARIANT_ORIGINAL))
		return BAD(d, "record",
		    "The proof's record is missing, empty "
		    "or larger than %d bytes.",
		    HV_PROOF_RECORD_MAX);
	cap = len / 4 * 3 + 3;
	if ((p->record = malloc(cap)) == NULL)
		return HV_ENOMEM;
	if (sodium_base642bin(p->record, cap, s, len, NULL, &p->record_len,
	        NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    p->record_len == 0)
		return BAD(d, "record",
		    "The proof's record is not standard "
		    "base64.");
	return get_head(o, "", &p->head, d);
}

hv_err
hv_proof_from_json(const char *text, size_t len, hv_proof **out,
    struct hv_errdetail *d)
{
	json_error_t je;
	json_t *o = NULL;
	const char *fmt;
	hv_proof *p = NULL;
	hv_err err;

	if (len > HV_PROOF_JSON_MAX)
		return BAD(d, "proof", "The proof is larger than %u bytes.",
		    HV_PROOF_JSON_MAX);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return HV_ENOMEM;
	if ((o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		err =
		    BAD(d, "proof", "The proof is not JSON (line %d: %.120s).",
		        je.line, je.text);
		goto out;
	}
	fmt = json_string_value(json_object_get(o, "format"));
	if (fmt != NULL && strcmp(fmt, HV_PROOF_INCLUSION_FORMAT) == 0) {
		p->kind = HV_PROOF_INCLUSION;
		err = get_inclusion(o, p, d);
	} else if (fmt != NULL &&
	    strcmp(fmt, HV_PROOF_CONSISTENCY_FORMAT) == 0) {
		p->kind = HV_PROOF_CONSISTENCY;
		if ((err = get_head(json_object_get(o, "first"), "first.",
		         &p->first, d)) == HV_OK)
			err = get_head(json_object_get(o, "second"), "second.",
			    &p->head, d);
	} else {
		err = BAD(d, "format",
		    "The file is not a Haven proof: its "
		    "format is not %s or %s.",
		    HV_PROOF_INCLUSION_FORMAT, HV_PROOF_CONSISTENCY_FORMAT);
	}
	if (err == HV_OK)
		err = get_path(o, p, d);
	if (err == HV_OK) {
		*out = p;
		p = NULL;
	}
out:
	json_decref(o);
	hv_proof_destroy(&p);
	return err;
}

/* ---- verification ---------------------------------------------------- */

static hv_err
head_check(const struct hv_proof_head *h, const uint8_t key[32],
    const struct hv_prev_signs *prev, const char *which, struct hv_errdetail *d)
{
	uint8_t msg[HV_STH_MESSAGE_LEN];

	hv_auditlog_head_message(h->size, h->root, h->time_ms, msg);
	if (hv_sign_verify_at(key, prev, msg, sizeof(msg), h->signature,
	        h->time_ms) != HV_OK)
		return hv_errset(d, HV_EBADSIG, "head_signature",
		    "The %stree "
		    "head (size %" PRIu64 ") is not signed by this broker key.",
		    which, h->size);
	return HV_OK;
}

#define FAIL(d, field, ...) hv_errset(d, HV_ETAMPERED, field, __VA_ARGS__)

static hv_err
verify_inclusion(const hv_proof *p, const uint8_t key[32],
    const struct hv_prev_signs *prev, struct hv_audit_rec *rec,
    struct hv_errdetail *d)
{
	uint8_t lh[HV_HASH_LEN];
	hv_err err;

	if ((err = head_check(&p->head, key, prev, "signed ", d)) != HV_OK)
		return err;
	if (p->leaf_index >= p->head.size)
		return FAIL(d, "leaf_index",
		    "The proof places the record at "
		    "leaf index %" PRIu64
		    ", outside the signed tree of %" PRIu64 " records.",
		    p->leaf_index, p->head.size);
	hv_merkle_leaf_hash(p->record, p->record_len, lh);
	if (sodium_memcmp(lh, p->leaf_hash, HV_HASH_LEN) != 0)
		return FAIL(d, "leaf_hash",
		    "The leaf_hash is not the hash of "
		    "the record bytes.");
	if (hv_audit_rec_unpack(p->record, p->record_len, rec) != HV_OK)
		return BAD(d, "record",
		    "The record does not decode as a "
		    "Haven audit record.");
	if (rec->seq != p->leaf_index + 1)
		return FAIL(d, "leaf_index",
		    "The record is number %" PRIu64
		    " but the proof places it at leaf index %" PRIu64 ".",
		    rec->seq, p->leaf_index);
	if (p->has_id != rec->has_id ||
	    (p->has_id && memcmp(p->id, rec->id, HV_ID_LEN) != 0))
		return FAIL(d, "message_id",
		    "The proof's message_id is not "
		    "the message id in the record.");
	if (hv_merkle_verify_inclusion(p->leaf_hash, p->leaf_index,
	        p->head.size, (const uint8_t(*)[HV_HASH_LEN])p->path, p->n,
	        p->head.root) != HV_OK)
		return FAIL(d, "proof",
		    "The inclusion path does not lead from "
		    "the record to the signed root of the tree of %" PRIu64
		    " records.",
		    p->head.size);
	return HV_OK;
}

hv_err
hv_proof_verify(const hv_proof *p,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN], struct hv_audit_rec *rec,
    struct hv_errdetail *d)
{
	return hv_proof_verify_at(p, broker_sign, NULL, rec, d);
}

hv_err
hv_proof_verify_at(const hv_proof *p,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, struct hv_audit_rec *rec,
    struct hv_errdetail *d)
{
	struct hv_audit_rec *r;
	hv_err err;

	if (p->kind == HV_PROOF_INCLUSION) {
		if ((r = malloc(sizeof(*r))) == NULL)
			return HV_ENOMEM;
		err = verify_inclusion(p, broker_sign, prev, r, d);
		if (err == HV_OK && rec != NULL)
			memcpy(rec, r, sizeof(*r));
		free(r);
		return err;
	}
	if ((err = head_check(&p->first, broker_sign, prev, "first ", d)) !=
	        HV_OK ||
	    (err = head_check(&p->head, broker_sign, prev, "second ", d)) !=
	        HV_OK)
		return err;
	if (p->first.size == 0 || p->first.size > p->head.size)
		return FAIL(d, "tree_size",
		    "The first tree head (size %" PRIu64
		    ") is larger than the second (size %" PRIu64 ").",
		    p->first.size, p->head.size);
	if (hv_merkle_verify_consistency(p->first.size, p->head.size,
	        p->first.root, p->head.root,
	        (const uint8_t(*)[HV_HASH_LEN])p->path, p->n) != HV_OK)
		return FAIL(d, "proof",
		    "The tree of %" PRIu64 " records does "
		    "not extend the tree of %" PRIu64 " records: the log's "
		    "history was rewritten, or the proof was altered.",
		    p->head.size, p->first.size);
	return HV_OK;
}

void
hv_proof_destroy(hv_proof **p)
{
	if (p == NULL || *p == NULL)
		return;
	free((*p)->record);
	free(*p);
	*p = NULL;
}
