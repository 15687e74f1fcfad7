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
