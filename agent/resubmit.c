/*
 * After a broker restore (SPEC §13): the outbox messages the broker lost
 * are put back in the queue to be sent again.
 *
 * A restored broker has lost everything written after its backup: the
 * messages it accepted since (and their seen ids), their queue entries and
 * their audit records. So every outbox entry that has its ACCEPTED verdict
 * and was not delivered to every recipient, or whose ACCEPTED receipt
 * names an audit record beyond the restored log, goes back to pending with
 * a "resubmitted" timeline entry. The broker takes a lost one as new, and
 * answers a byte-identical one it still holds with its first receipt
 * (receipts.c settles it); recipients drop a second copy by id. Never
 * logs a payload: only ids and counts.
 */
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_util.h"
#include "hv_wire.h"

/*
 * 1 when the timeline tl of a message to env's recipients says the broker
 * may have lost it: accepted, not rejected, and either some recipient has
 * no delivery (or expiry) yet or the acceptance's audit record is beyond
 * restored_size.
 */
static int
lost(json_t *tl, const hv_envelope *env, uint64_t restored_size)
{
	int accepted = 0, beyond = 0;
	size_t done = 0, i;
	json_t *e;

	json_array_foreach (tl, i, e) {
		const char *s = json_string_value(json_object_get(e, "status"));

		if (s == NULL)
			continue;
		if (strcmp(s, "rejected") == 0) {
			const char *code =
			    json_string_value(json_object_get(e, "code"));

			/* STORAGE_FULL is no verdict; any other refusal is. */
			if (code == NULL || strcmp(code, "STORAGE_FULL") != 0)
				return 0;
		}
		if (strcmp(s, "accepted") == 0) {
			accepted = 1;
			if ((uint64_t)json_integer_value(json_object_get(e,
			        "audit_seq")) > restored_size)
				beyond = 1;
		}
	}
	if (!accepted)
		return 0;
	for (size_t r = 0; r < env->n_recipients; r++) {
		json_array_foreach (tl, i, e) {
			const char *s =
			    json_string_value(json_object_get(e, "status"));
			const char *to =
			    json_string_value(json_object_get(e, "to"));
			const char *node =
			    json_string_value(json_object_get(e, "node"));

			if (s == NULL)
				continue;
			if ((strcmp(s, "delivered") == 0 ||
			        strcmp(s, "expired") == 0) &&
			    to != NULL && strcmp(to, env->recipients[r]) == 0)
				break;
			if (strcmp(s, "acknowledged") == 0 && node != NULL &&
			    strcmp(node, env->recipients[r]) == 0)
				break;
		}
		if (i < json_array_size(tl))
			done++;
	}
	return beyond || done < env->n_recipients;
}

/* Puts entry id (value v, a copy) back to pending in txn. */
static hv_err
requeue(struct agent *a, MDB_txn *txn, const uint8_t *id, uint8_t *val,
    size_t vlen)
{
	struct ob_hdr h;
	uint8_t seqk[8];
	hv_err e;

	ob_hdr_get(val, &h);
	h.final = 0;
	h.reskewed = 0;
	h.retry_at_ms = 0;
	h.full_tries = 0;
	if ((e = store_next_seq(a, txn, &h.pending_seq)) != HV_OK)
		return e;
	ob_hdr_put(val, &h);
	hv_be64_put(seqk, h.pending_seq);
	if ((e = store_put(a, txn, DB_OUTBOX, id, HV_ID_LEN, val, vlen)) !=
	        HV_OK ||
	    (e = store_put(a, txn, DB_PENDING, seqk, 8, id, HV_ID_LEN)) !=
	        HV_OK)
		return e;
	return store_timeline_add(a, txn, id,
	    json_pack("{s:s, s:o, s:s}", "status", "resubmitted", "at",
	        json_time(hv_now_ms()), "message",
	        "The broker's store was restored from a backup; sent again."));
}

hv_err
outbox_resubmit_lost(struct agent *a, uint64_t restored_size, size_t *count)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t(*ids)[HV_ID_LEN] = NULL;
	size_t n = 0, cap = 0;
	hv_err e;
	int rc;

	*count = 0;
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return e;
	if ((e = hv_store_err(
	         mdb_cursor_open(txn, store_db(a, DB_OUTBOX), &cur))) != HV_OK)
		goto out;
	/* Gathered first: the entries are rewritten after the walk. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ob_hdr h;
		hv_envelope env;
		json_t *tl;
		int is_lost;

		if (k.mv_size != HV_ID_LEN || v.mv_size <= OB_HDR_LEN)
			continue;
		ob_hdr_get(v.mv_data, &h);
		if (!h.final)
			continue; /* still pending: it is sent anyway */
		memset(&env, 0, sizeof(env));
		if (hv_envelope_unpack((uint8_t *)v.mv_data + OB_HDR_LEN,
		        v.mv_size - OB_HDR_LEN, v.mv_size, &env, NULL) != HV_OK)
			continue;
		tl = store_timeline(a, txn, k.mv_data);
		is_lost = tl != NULL && lost(tl, &env, restored_size);
		json_decref(tl);
		hv_envelope_clear(&env);
		if (!is_lost)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *p = realloc(ids, nc * HV_ID_LEN);

			if (p == NULL) {
				e = HV_ENOMEM;
				goto out;
			}
			ids = p;
			cap = nc;
		}
		memcpy(ids[n++], k.mv_data, HV_ID_LEN);
	}
	if (rc != MDB_NOTFOUND) {
		e = hv_store_err(rc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t *val;
		size_t vlen;

		if ((e = store_get(a, txn, DB_OUTBOX, ids[i], HV_ID_LEN, &v)) !=
		    HV_OK)
			goto out;
		vlen = v.mv_size;
		if ((val = malloc(vlen)) == NULL) {
			e = HV_ENOMEM;
			goto out;
		}
		memcpy(val, v.mv_data, vlen);
		e = requeue(a, txn, ids[i], val, vlen);
		free(val);
		if (e != HV_OK)
			goto out;
	}
	e = hv_store_commit(txn);
	txn = NULL;
	if (e == HV_OK)
		*count = n;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(ids);
	return e;
}
