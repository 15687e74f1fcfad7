/*
 * haven-broker — the broker's side of the audit log (SPEC §9): building
 * records, signing tree heads at least every second while records arrive,
 * recording directory loads, and answering TreeHeadRequest and
 * HealthRequest. The record format, the Merkle tree and verification live
 * in lib/hv_auditlog so that `haven audit --db` reads the same code.
 *
 * Records never hold payloads or child details: ids, node names, the lawful
 * basis, the subject pseudonym, digests, codes and one sentence.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_merkle.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "hv_wire.h"

/* Copies src into dst[cap], cut back to a whole UTF-8 character. */
static void
copy_utf8(char *dst, size_t cap, const char *src)
{
	size_t n;

	snprintf(dst, cap, "%s", src ? src : "");
	n = strlen(dst);
	while (n > 0 && !hv_utf8_valid(dst, n))
		dst[--n] = '\0';
}

hv_err
audit_append(struct broker *b, MDB_txn *txn, struct hv_audit_rec *rec)
{
	hv_err e;

	rec->directory_version = hv_directory_version(b->dir);
	if ((e = hv_auditlog_append(&b->log, txn, rec)) == HV_OK) {
		b->audit_dirty = 1;
		/* Counted, so the store's use is measured again after the
		 * commit: refusals must see the store fill up as it does. */
		b->txn_bytes += BROKER_RECORD_BYTES;
	}
	return e;
}

hv_err
audit_reject(struct broker *b, MDB_txn *txn, const char *node,
    const hv_envelope *env, hv_err code, const char *detail, uint64_t *seq)
{
	struct hv_audit_rec rec;
	hv_err e;

	if (seq != NULL)
		*seq = 0;
	/* Refusals while full are counted, so they cannot eat the reserve. */
	if (store_full(b)) {
		if (b->txn_refused.total++ == 0)
			b->txn_refused.first_ms = hv_mono_ms();
		if ((size_t)code < HV_ERR_COUNT)
			b->txn_refused.by_code[code]++;
		return HV_OK;
	}
	if (env != NULL) {
		/*
		 * This drops a clear justification and a decided_by that is
		 * no staff identifier: either may be why it was refused.
		 */
		hv_audit_rec_from_envelope(&rec, env,
		    hv_event_name(HV_EV_REJECTED));
	} else {
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.event, sizeof(rec.event), "%s",
		    hv_event_name(HV_EV_REJECTED));
		snprintf(rec.sender, sizeof(rec.sender), "%s", node);
	}
	snprintf(rec.actor, sizeof(rec.actor), "%s", node);
	snprintf(rec.reason, sizeof(rec.reason), "%s", hv_errname(code));
	copy_utf8(rec.detail, sizeof(rec.detail), detail);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	if (seq != NULL)
		*seq = rec.seq;
	return HV_OK;
}

void
audit_refusals_flush(struct broker *b, int force)
{
	struct refusal_tally *t = &b->refused;
	struct hv_audit_rec rec;
	MDB_txn *txn;
	size_t n;
	hv_err e;

	if (t->total == 0 ||
	    (!force && hv_mono_ms() - t->first_ms < BROKER_REFUSALS_MS))
		return;
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.event, sizeof(rec.event), "%s",
	    hv_event_name(HV_EV_REJECTED));
	snprintf(rec.actor, sizeof(rec.actor), "%s", b->cfg.id);
	snprintf(rec.reason, sizeof(rec.reason), "%s",
	    hv_errname(HV_ESTORAGEFULL));
	n = (size_t)snprintf(rec.detail, sizeof(rec.detail),
	    "Refused %llu "
	    "frames while the store was full, counted rather than recorded "
	    "one by one:",
	    (unsigned long long)t->total);
	for (size_t i = 0; i < HV_ERR_COUNT && n < sizeof(rec.detail); i++)
		if (t->by_code[i] > 0)
			n += (size_t)snprintf(rec.detail + n,
			    sizeof(rec.detail) - n, " %s %llu,",
			    hv_errname((hv_err)i),
			    (unsigned long long)t->by_code[i]);
	if (n < sizeof(rec.detail) && rec.detail[n - 1] == ',')
		rec.detail[n - 1] = '.';
	if ((e = store_txn_begin(b, &txn)) != HV_OK)
		goto fail;
	if ((e = audit_append(b, txn, &rec)) != HV_OK ||
	    (e = audit_head_due(b, txn, 1)) != HV_OK) {
		store_txn_abort(b, txn);
		goto fail;
	}
	if ((e = store_txn_commit(b, txn)) != HV_OK) {
		if (e != HV_ESTORAGEFULL)
			hv_fatalx("cannot commit to the store: %s",
			    hv_strerror(e));
		goto fail;
	}
	b->audit_dirty = 0;
	hv_log_info("audited %llu refusals made while the store was full",
	    (unsigned long long)t->total);
	memset(t, 0, sizeof(*t));
	return;
fail:
	/* Kept, and tried again an interval later. */
	t->first_ms = hv_mono_ms();
	hv_log_warnx("cannot audit %llu refusals made while the store was "
	             "full: %s",
	    (unsigned long long)t->total, hv_strerror(e));
}

hv_err
audit_head_due(struct broker *b, MDB_txn *txn, int force)
{
	int64_t now = hv_mono_ms();
	hv_err e;

	if (!b->audit_dirty)
		return HV_OK;
	if (!force && now - b->last_head_ms < BROKER_HEAD_MS)
		return HV_OK;
	if ((e = hv_auditlog_sign_head(&b->log, txn, b->keys, hv_now_ms())) !=
	    HV_OK)
		return e;
	b->last_head_ms = now;
	return HV_OK;
}

void
audit_head_tick(struct broker *b)
{
	MDB_txn *txn;
	hv_err e;

	if (!b->audit_dirty || hv_mono_ms() - b->last_head_ms < BROKER_HEAD_MS)
		return;
	if (store_txn_begin(b, &txn) != HV_OK)
		return;
	if ((e = audit_head_due(b, txn, 1)) != HV_OK) {
		store_txn_abort(b, txn);
		hv_log_warnx("cannot sign a tree head: %s", hv_strerror(e));
		return;
	}
	if ((e = store_txn_commit(b, txn)) != HV_OK) {
		if (e != HV_ESTORAGEFULL)
			hv_fatalx("cannot commit to the store: %s",
			    hv_strerror(e));
		hv_log_warnx("cannot sign a tree head: %s", hv_strerror(e));
		return;
	}
	b->audit_dirty = 0;
}

void
audit_directory(struct broker *b, const char *refused, const char *detail)
{
	struct hv_audit_rec rec;
	MDB_txn *txn;
	MDB_val k, v;
	hv_err e;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.event, sizeof(rec.event), "%s",
	    hv_event_name(HV_EV_DIRECTORY_LOADED));
	snprintf(rec.actor, sizeof(rec.actor), "%s", b->cfg.id);
	if (refused != NULL)
		snprintf(rec.reason, sizeof(rec.reason), "%s", refused);
	copy_utf8(rec.detail, sizeof(rec.detail), detail);
	if ((e = store_txn_begin(b, &txn)) != HV_OK)
		goto fail;
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		goto abort;
	if (refused == NULL) {
		k.mv_data = "directory";
		k.mv_size = strlen("directory");
		v.mv_data = b->dir_bytes;
		v.mv_size = b->dir_len;
		if ((e = hv_store_err(
		         mdb_put(txn, b->db_audit_meta, &k, &v, 0))) != HV_OK)
			goto abort;
		k.mv_data = "broker_sign_public";
		k.mv_size = strlen("broker_sign_public");
		v.mv_data = b->keys->pub.sign;
		v.mv_size = HV_SIGN_PUBLIC_LEN;
		if ((e = hv_store_err(
		         mdb_put(txn, b->db_audit_meta, &k, &v, 0))) != HV_OK)
			goto abort;
	}
	if ((e = audit_head_due(b, txn, 1)) != HV_OK)
		goto abort;
	if ((e = store_txn_commit(b, txn)) != HV_OK) {
		if (e != HV_ESTORAGEFULL)
			hv_fatalx("cannot commit to the store: %s",
			    hv_strerror(e));
		goto fail;
	}
	b->audit_dirty = 0;
	return;
abort:
	store_txn_abort(b, txn);
fail:
	hv_log_warnx("cannot audit the directory load: %s", hv_strerror(e));
}

/* ---- answers ------------------------------------------------------------ */

static void
send_frame(struct broker *b, const struct conn *c, const Haven__Frame *f)
{
	uint8_t *buf;
	size_t len;

	if (hv_frame_pack(f, &buf, &len) != HV_OK)
		return;
	router_send(b, c->rid, c->rid_len, buf, len);
	free(buf);
}

static void
send_error(struct broker *b, const struct conn *c, const char *code,
    const char *msg)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Error er = HAVEN__ERROR__INIT;

	er.code = (char *)code;
	er.message = (char *)msg;
	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &er;
	send_frame(b, c, &f);
}

void
audit_tree_head(struct broker *b, const struct conn *c,
    const Haven__TreeHeadRequest *r)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__TreeHead th = HAVEN__TREE_HEAD__INIT;
	Haven__SignedTreeHead *h = NULL;
	ProtobufCBinaryData pb[HV_MERKLE_MAX_PROOF], rpb[HV_MERKLE_MAX_PROOF];
	uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	uint8_t rproof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN], *notice = NULL;
	size_t plen = 0, rlen = 0, nlen = 0;
	MDB_txn *txn;
	hv_err e;

	if (hv_store_begin(b->store, 1, &txn) != HV_OK)
		return;
	e = hv_auditlog_latest_head(&b->log, txn, &h);
	if (e != HV_OK) {
		mdb_txn_abort(txn);
		send_error(b, c,
		    hv_errname(e == HV_ENOTFOUND ? HV_ENOTFOUND : HV_EIO),
		    "The broker has no signed tree head yet.");
		return;
	}
	th.head = h;
	if (r->since_size > 0 && r->since_size <= h->size) {
		struct hv_auditlog_leaves lv = { &b->log, txn };

		if (r->since_size < h->size)
			e = hv_merkle_consistency_proof(hv_auditlog_leaf_fn,
			    &lv, r->since_size, h->size, proof, &plen);
		if (e != HV_OK) {
			mdb_txn_abort(txn);
			haven__signed_tree_head__free_unpacked(h, NULL);
			send_error(b, c, hv_errname(HV_EIO),
			    "The broker cannot "
			    "build the consistency proof.");
			return;
		}
		for (size_t i = 0; i < plen; i++) {
			pb[i].data = proof[i];
			pb[i].len = HV_HASH_LEN;
		}
		th.consistency = pb;
		th.n_consistency = plen;
		th.from_size = r->since_size;
	}
	/* After a restore, the notice lets agents accept the shorter log. */
	if (restore_served(b, txn, h->size, &notice, &nlen, rproof, &rlen) ==
	    HV_OK) {
		for (size_t i = 0; i < rlen; i++) {
			rpb[i].data = rproof[i];
			rpb[i].len = HV_HASH_LEN;
		}
		th.restore_notice.data = notice;
		th.restore_notice.len = nlen;
		th.restore_consistency = rpb;
		th.n_restore_consistency = rlen;
	}
	mdb_txn_abort(txn);
	f.kind_case = HAVEN__FRAME__KIND_TREE_HEAD;
	f.tree_head = &th;
	send_frame(b, c, &f);
	free(notice);
	haven__signed_tree_head__free_unpacked(h, NULL);
}

/* Queue depth per recipient and the oldest undelivered message. */
static void
health_queues(struct broker *b, MDB_txn *txn, json_t *j)
{
	json_t *q = json_object();
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t total = 0;
	int rc;

	if (mdb_cursor_open(txn, b->db[DB_QIDX], &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			char node[HV_NODE_MAX + 1];
			size_t nl = strnlen(k.mv_data, k.mv_size);

			if (nl > HV_NODE_MAX || nl == k.mv_size)
				continue;
			memcpy(node, k.mv_data, nl);
			node[nl] = '\0';
			json_object_set_new(q, node,
			    json_integer(
			        json_integer_value(json_object_get(q, node)) +
			        1));
			total++;
		}
		mdb_cursor_close(cur);
	}
	json_object_set_new(j, "queue_depth", q);
	json_object_set_new(j, "queued_total", json_integer((json_int_t)total));
	json_object_set_new(j, "oldest_undelivered", json_null());
	if (mdb_cursor_open(txn, b->db[DB_EXPIRY], &cur) == 0) {
		if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 &&
		    k.mv_size > 8) {
			int64_t at = (int64_t)hv_be64_get(k.mv_data) -
			    (int64_t)b->cfg.message_ttl * 1000;
			char iso[40];

			hv_time_iso(at, iso, sizeof(iso));
			json_object_set_new(j, "oldest_undelivered",
			    json_string(iso));
		}
		mdb_cursor_close(cur);
	}
}

void
audit_health(struct broker *b, const struct conn *c)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__HealthReply hr = HAVEN__HEALTH_REPLY__INIT;
	json_t *j = json_object(), *conn = json_array();
	uint8_t root[HV_HASH_LEN];
	uint64_t size = 0;
	MDB_txn *txn;
	char *text;

	json_object_set_new(j, "broker", json_string(b->cfg.id));
	json_object_set_new(j, "directory_version",
	    json_integer((json_int_t)hv_directory_version(b->dir)));
	for (size_t i = 0; i < b->n_sessions; i++)
		if (b->sessions[i].connected)
			json_array_append_new(conn,
			    json_string(b->sessions[i].node));
	json_object_set_new(j, "connected", conn);
	if (hv_store_begin(b->store, 1, &txn) == HV_OK) {
		health_queues(b, txn, j);
		if (hv_auditlog_tree(&b->log, txn, &size, root) == HV_OK)
			json_object_set_new(j, "tree_size",
			    json_integer((json_int_t)size));
		mdb_txn_abort(txn);
	}
	json_object_set_new(j, "store_used_percent",
	    json_integer(store_usage_percent(b)));
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		return;
	hr.json = text;
	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REPLY;
	f.health_reply = &hr;
	send_frame(b, c, &f);
	free(text);
}
