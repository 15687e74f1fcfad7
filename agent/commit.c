/*
 * Group commit for the HTTP threads (SPEC §16): every write an HTTP thread
 * makes before its answer (a new outbox entry for POST /v1/messages and
 * /v1/decisions) goes through agent_commit(), which puts the writes of all
 * the threads waiting at that moment into one LMDB write transaction and
 * one fsync, then wakes each thread to answer.
 *
 * There is no committer thread: the first thread to find no commit running
 * leads. It takes the whole queue (its own write included), applies and
 * commits it outside the lock, marks every write done and wakes the rest;
 * a write queued meanwhile waits for the next leader, so while one fsync
 * runs the next batch gathers. Nothing is answered before the commit that
 * holds it returned: the durable step is the same as one transaction per
 * request, only shared.
 *
 * A write that fails (a full map, a full disk) must not fail the writes
 * beside it, and LMDB's transaction is unusable after a failed put: so a
 * batch that fails is aborted whole and each of its writes is then applied
 * and committed on its own, which gives every request its own exact answer.
 */
#include <stdlib.h>

#include "agent.h"
#include "hv_log.h"

struct gc_item {
	gc_apply_fn apply;
	void *arg;
	hv_err result;
	int done;
	struct gc_item *next;
};

void
group_commit_init(struct group_commit *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->head = NULL;
	g->tail = &g->head;
	g->leading = 0;
	g->batches = 0;
	g->writes = 0;
}

void
group_commit_destroy(struct group_commit *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

/* One write in its own transaction. */
static hv_err
commit_one(struct agent *a, struct gc_item *it)
{
	MDB_txn *txn = NULL;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return e;
	if ((e = it->apply(a, txn, it->arg)) != HV_OK) {
		mdb_txn_abort(txn);
		return e;
	}
	return hv_store_commit(txn);
}

/* Applies and commits the batch from `first`; sets each item's result. */
static void
commit_batch(struct agent *a, struct gc_item *first)
{
	MDB_txn *txn = NULL;
	struct gc_item *it;
	hv_err e;

	if (first->next == NULL) {
		first->result = commit_one(a, first);
		return;
	}
	if ((e = hv_store_begin(a->store, 0, &txn)) == HV_OK) {
		for (it = first; it != NULL && e == HV_OK; it = it->next)
			e = it->apply(a, txn, it->arg);
		if (e == HV_OK)
			e = hv_store_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (e == HV_OK) {
		for (it = first; it != NULL; it = it->next)
			it->result = HV_OK;
		return;
	}
	/* Nothing of the batch was kept: each write again, on its own. */
	for (it = first; it != NULL; it = it->next)
		it->result = commit_one(a, it);
}

hv_err
agent_commit(struct agent *a, gc_apply_fn apply, void *arg)
{
	struct group_commit *g = &a->gc;
	struct gc_item me = { apply, arg, HV_OK, 0, NULL }, *batch, *it, *next;
	size_t n;

	pthread_mutex_lock(&g->lock);
	*g->tail = &me;
	g->tail = &me.next;
	while (!me.done) {
		if (g->leading) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		g->leading = 1;
		batch = g->head;
		g->head = NULL;
		g->tail = &g->head;
		pthread_mutex_unlock(&g->lock);

		commit_batch(a, batch);

		pthread_mutex_lock(&g->lock);
		/* An item's owner reads it only after this lock is released. */
		for (n = 0, it = batch; it != NULL; it = next, n++) {
			next = it->next;
			it->done = 1;
		}
		g->batches++;
		g->writes += n;
		g->leading = 0;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
	return me.result;
}

/* ---- the main thread's bursts ------------------------------------------ */

/*
 * A burst of frames from the broker (Deliver, Receipt) is stored in one
 * transaction: each frame's writes are a nested transaction of the burst's
 * (so a frame that fails or has nothing to write is undone alone, exactly
 * as its own transaction was), and what must follow the durable commit
 * (the Acks, the events, the alert hook) is queued and run after it. When
 * the burst's commit fails, nothing of it was kept and nothing queued
 * runs: no Ack is sent, so the broker sends every frame again.
 */
struct after_commit {
	after_fn fn;
	void *arg;
};

void
agent_batch_begin(struct agent *a)
{
	a->burst.open = 1;
}

hv_err
agent_txn_begin(struct agent *a, MDB_txn **txn)
{
	struct burst *b = &a->burst;
	hv_err e;

	if (!b->open)
		return hv_store_begin(a->store, 0, txn);
	if (b->txn == NULL &&
	    (e = hv_store_begin(a->store, 0, &b->txn)) != HV_OK)
		return e;
	return hv_store_err(mdb_txn_begin(a->store->env, b->txn, 0, txn));
}

void
agent_after_commit(struct agent *a, after_fn fn, void *arg)
{
	struct burst *b = &a->burst;

	if (!b->open || b->txn == NULL) {
		fn(a, arg, 1);
		return;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct after_commit *v = realloc(b->after, cap * sizeof(*v));

		if (v == NULL) {
			/* Not acknowledged: the broker sends it again. */
			fn(a, arg, 0);
			return;
		}
		b->after = v;
		b->cap = cap;
	}
	b->after[b->n].fn = fn;
	b->after[b->n].arg = arg;
	b->n++;
}

hv_err
agent_batch_end(struct agent *a)
{
	struct burst *b = &a->burst;
	hv_err e = HV_OK;
	size_t n = b->n;

	b->open = 0;
	if (b->txn != NULL) {
		e = hv_store_commit(b->txn);
		b->txn = NULL;
		if (e != HV_OK)
			hv_log_warnx(
			    "a burst of %zu frames from the broker was "
			    "not stored (%s); the broker will send them again",
			    n, hv_errname(e));
		else if (n > 0) {
			b->bursts++;
			b->frames += n;
		}
	}
	b->n = 0;
	for (size_t i = 0; i < n; i++)
		b->after[i].fn(a, b->after[i].arg, e == HV_OK);
	return e;
}
