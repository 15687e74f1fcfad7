/*
 * hv_auditquery — hv_auditlog_query: finds the audit records matching a
 * filter (SPEC §9, `haven audit`). It picks the most selective index the
 * filter allows (message id, subject, sender, recipient, time range), reads
 * only the records that index names and checks every condition on each,
 * and scans the whole log only when no indexed condition is given.
 *
 * It owns the matching rules of struct hv_audit_filter and the choice of
 * index; the index layout comes from hv_auditlog_int.h. It only reads, in
 * the caller's transaction: it must never write the store, never log, and
 * never hand a record to the caller that does not match every condition.
 */
#include <stdlib.h>
#include <string.h>

#include "hv_auditlog_int.h"
#include "hv_util.h"

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
	if (f->has_subject &&
	    (!r->has_subject || memcmp(r->subject, f->subject, 32) != 0))
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
		ok =
		    has_role(r->sender, f->role) || has_role(r->actor, f->role);
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
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !q->stop;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size != plen + 8) {
			err = HV_ETAMPERED;
			break;
		}
		err = query_one(q,
		    hv_be64_get((const uint8_t *)k.mv_data + plen));
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
	hv_be64_put(start, (uint64_t)(q->f->since_ms > 0 ? q->f->since_ms : 0));
	if ((rc = mdb_cursor_open(q->txn, dbi(q->log, DB_IX_TIME), &c)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			err = HV_ETAMPERED;
			goto out;
		}
		if (q->f->until_ms != 0 &&
		    hv_be64_get(k.mv_data) > (uint64_t)q->f->until_ms)
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
		err = query_prefix(q,
		    set(f->sender) ? DB_IX_SENDER : DB_IX_RECIPIENT, prefix,
		    n + 1);
	} else if (f->since_ms != 0 || f->until_ms != 0) {
		err = query_time(q);
	} else {
		err = query_scan(q);
	}
out:
	free(q);
	return err;
}
