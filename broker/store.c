/*
 * haven-broker — the broker's LMDB store: its own databases (messages, seen
 * ids, queues, expiry, receipts to senders) and the audit log's, in one
 * environment so that an accepted message and its audit record commit in
 * one transaction (SPEC §6).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_util.h"

#define STORE_MEASURE_MS 250 /* how stale the measured use may be */

static const char *const broker_dbnames[DB_COUNT] = {
	[DB_MSGS] = "msgs",
	[DB_SEEN] = "seen",
	[DB_QUEUE] = "queue",
	[DB_QIDX] = "qidx",
	[DB_EXPIRY] = "expiry",
	[DB_RCPTQ] = "rcptq",
	[DB_ADDR] = "addr",
	[DB_REFS] = "refs",
	[DB_HACKS] = "hacks",
	[DB_BMETA] = "bmeta",
};

/* Reads an 8-byte counter from bmeta (0 when absent). */
static hv_err
counter_get(struct broker *b, MDB_txn *txn, const char *name, uint64_t *v)
{
	MDB_val val;
	hv_err e = store_get(txn, b->db[DB_BMETA], name, strlen(name), &val);

	if (e == HV_ENOTFOUND) {
		*v = 0;
		return HV_OK;
	}
	if (e != HV_OK)
		return e;
	if (val.mv_size != 8)
		return HV_EIO;
	*v = hv_be64_get(val.mv_data);
	return HV_OK;
}

static hv_err
counter_put(struct broker *b, MDB_txn *txn, const char *name, uint64_t v)
{
	uint8_t buf[8];

	hv_be64_put(buf, v);
	return store_put(txn, b->db[DB_BMETA], name, strlen(name), buf, 8);
}

/*
 * Opens data_dir with map_size bytes and every database; reads the queue and
 * receipt counters. Errors: as hv_store_open, HV_EIO.
 */
hv_err
store_open(struct broker *b, struct hv_errdetail *d)
{
	const char *names[HV_STORE_MAX_DBS];
	size_t n = 0, meta = HV_AUDITLOG_NDBS;
	MDB_txn *txn = NULL;
	hv_err e;

	for (size_t i = 0; i < DB_COUNT; i++)
		names[n++] = broker_dbnames[i];
	for (size_t i = 0; i < HV_AUDITLOG_NDBS; i++) {
		if (strcmp(hv_auditlog_dbnames[i], "meta") == 0)
			meta = i;
		names[n++] = hv_auditlog_dbnames[i];
	}
	if (meta == HV_AUDITLOG_NDBS)
		return hv_errset(d, HV_ESYS, "data_dir",
		    "the audit log has "
		    "no meta database");
	e = hv_store_open(b->cfg.data_dir, b->cfg.map_size, 0, names, n,
	    &b->store, d);
	if (e != HV_OK)
		return e;
	for (size_t i = 0; i < DB_COUNT; i++)
		b->db[i] = b->store->dbi[i];
	b->log.store = b->store;
	b->log.base = DB_COUNT;
	b->db_audit_meta = b->store->dbi[DB_COUNT + meta];

	if ((e = hv_store_begin(b->store, 1, &txn)) != HV_OK)
		goto out;
	if ((e = counter_get(b, txn, "qseq", &b->qseq)) != HV_OK ||
	    (e = counter_get(b, txn, "rseq", &b->rseq)) != HV_OK)
		goto out;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (e != HV_OK) {
		hv_errset(d, e, "data_dir",
		    "cannot read the broker's "
		    "counters in %s: %s",
		    b->cfg.data_dir, hv_strerror(e));
		hv_store_close(&b->store);
	}
	return e;
}

void
store_close(struct broker *b)
{
	hv_store_close(&b->store);
}

/*
 * Pages in use: the highest page ever used minus the pages on LMDB's free
 * list (database 0, whose values start with a count of page numbers, as
 * mdb_stat -f reads them). The high-water mark alone never shrinks, so it
 * would keep refusing submits after deliveries had freed the space. Also
 * counts the deliveries still queued (entries of qidx). 0, or -1 when the
 * store cannot be read.
 */
static int
store_measure(struct broker *b, uint64_t *used_bytes, uint64_t *queued)
{
	MDB_envinfo info;
	MDB_stat st, qs;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t free_pages = 0, used;
	int rc;

	if (mdb_env_info(b->store->env, &info) != 0 ||
	    mdb_env_stat(b->store->env, &st) != 0 || st.ms_psize == 0)
		return -1;
	if (mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_stat(txn, b->db[DB_QIDX], &qs) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (mdb_cursor_open(txn, 0, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t cnt;

			if (v.mv_size < sizeof(size_t))
				continue;
			memcpy(&cnt, v.mv_data, sizeof(cnt));
			free_pages += cnt;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	used = info.me_last_pgno + 1;
	used = used > free_pages ? used - free_pages : 0;
	*used_bytes = (uint64_t)used * st.ms_psize;
	*queued = qs.ms_entries;
	return 0;
}

int
store_usage_percent(struct broker *b)
{
	uint64_t used, queued;

	if (b->cfg.map_size == 0 || store_measure(b, &used, &queued) != 0)
		return 100;
	return (int)(used * 100 / b->cfg.map_size);
}

int
store_admits(struct broker *b, uint64_t bytes)
{
	int64_t now = hv_mono_ms();
	uint64_t map = b->cfg.map_size, limit, need, queued;

	if (b->usage_at_ms == 0 || now - b->usage_at_ms >= STORE_MEASURE_MS) {
		if (store_measure(b, &b->used_bytes, &b->queued) != 0)
			b->used_bytes = map;
		b->usage_at_ms = now;
	}
	limit = map - map / 100 * BROKER_RESERVE_PERCENT;
	queued = b->queued + (b->txn_qseq - b->qseq);
	need = b->used_bytes + b->txn_bytes + bytes +
	    queued * BROKER_DELIVERY_RESERVE;
	return need <= limit;
}

/* Full means even the smallest message would be refused: its envelope,
 * record, indexes and page overhead, and one delivery's reserve. */
int
store_full(struct broker *b)
{
	return !store_admits(b, 8192 + BROKER_DELIVERY_RESERVE);
}

hv_err
store_txn_begin(struct broker *b, MDB_txn **txn)
{
	hv_err e = hv_store_begin(b->store, 0, txn);

	if (e == HV_OK) {
		b->txn_qseq = b->qseq;
		b->txn_rseq = b->rseq;
		b->txn_bytes = 0;
		memset(&b->txn_refused, 0, sizeof(b->txn_refused));
	}
	return e;
}

hv_err
store_txn_commit(struct broker *b, MDB_txn *txn)
{
	hv_err e = HV_OK;

	if ((b->txn_qseq != b->qseq &&
	        (e = counter_put(b, txn, "qseq", b->txn_qseq)) != HV_OK) ||
	    (b->txn_rseq != b->rseq &&
	        (e = counter_put(b, txn, "rseq", b->txn_rseq)) != HV_OK)) {
		mdb_txn_abort(txn);
		return e;
	}
	if ((e = hv_store_commit(txn)) != HV_OK)
		return e;
	/* What was added is now measurable: measure again next time. */
	if (b->txn_bytes > 0)
		b->usage_at_ms = 0;
	b->qseq = b->txn_qseq;
	b->rseq = b->txn_rseq;
	if (b->txn_refused.total > 0) {
		if (b->refused.total == 0)
			b->refused.first_ms = b->txn_refused.first_ms;
		b->refused.total += b->txn_refused.total;
		for (size_t i = 0; i < HV_ERR_COUNT; i++)
			b->refused.by_code[i] += b->txn_refused.by_code[i];
	}
	return HV_OK;
}

void
store_txn_abort(struct broker *b, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	b->txn_qseq = b->qseq;
	b->txn_rseq = b->rseq;
	b->txn_bytes = 0;
	memset(&b->txn_refused, 0, sizeof(b->txn_refused));
}

hv_err
store_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };

	return hv_store_err(mdb_put(txn, dbi, &key, &val, 0));
}

hv_err
store_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *out)
{
	MDB_val key = { klen, (void *)k };

	return hv_store_err(mdb_get(txn, dbi, &key, out));
}

hv_err
store_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_val key = { klen, (void *)k };

	return hv_store_err(mdb_del(txn, dbi, &key, NULL));
}
