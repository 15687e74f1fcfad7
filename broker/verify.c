/*
 * haven-broker — the signatures of a batch, verified on every core while
 * the batch before it commits (SPEC §16).
 *
 * Verifying a sender's Ed25519 signature is the largest share of the
 * broker's work per Submit, and it needs nothing from the store: only the
 * envelope's bytes and the directory in force. So router_drain reads the
 * next batch and hands it to the workers (verify_start) before it
 * processes the current one: they decode its frames and check its Submits'
 * signatures while the main thread runs the current batch's checks and
 * waits for its fsync. Each verdict is noted with the exact key it was
 * checked against. Then the main thread runs SPEC §6's checks one message
 * at a time, in order, as before: at the BAD_SIGNATURE step,
 * verify_envelope() takes the noted verdict when it was reached for these
 * bytes with the key the directory now gives, and verifies there and then
 * otherwise. No check is skipped or reordered, and no frame is dispatched
 * before the batch ahead of it has committed and its replies are sent; a
 * frame that no worker decoded is decoded by dispatch.
 *
 * The workers only read: the frames (each worker writes only the items it
 * took) and the directory, which changes only on the main thread between
 * router_drain calls, when no batch is in the workers' hands.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_wire.h"

/*
 * The workers and the one batch in their hands. The lock guards every
 * field; an item itself is written only by the thread that took it.
 */
struct verify_pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a batch was handed over, or stop */
	pthread_cond_t done; /* the batch's last item is done */
	pthread_t t[BROKER_VERIFY_THREADS_MAX];
	size_t n_threads;
	struct broker *b;
	struct batch_frame *items;
	size_t n, next, finished;
	int stop;
};

/* Decodes item i and, for a Submit whose sender has keys, verifies it. */
static void
verify_one(struct broker *b, struct batch_frame *it)
{
	const struct hv_node *node;
	hv_envelope env;
	const Haven__Submit *s;

	it->sig = SIG_UNKNOWN;
	if (it->parts != 1 || it->f != NULL)
		return;
	if (hv_frame_unpack(it->data, it->len, b->frame_max, &it->f, NULL) !=
	    HV_OK)
		return;
	if (it->f->kind_case != HAVEN__FRAME__KIND_SUBMIT)
		return;
	s = it->f->submit;
	memset(&env, 0, sizeof(env));
	if (hv_envelope_unpack(s->envelope.data, s->envelope.len,
	        b->envelope_max, &env, NULL) != HV_OK)
		return;
	node = hv_directory_node(b->dir, env.sender);
	if (node != NULL && node->has_keys) {
		memcpy(it->sig_key, node->keys.sign, HV_SIGN_PUBLIC_LEN);
		it->sig = hv_envelope_verify(&env, node->keys.sign) == HV_OK ?
		    SIG_GOOD :
		    SIG_BAD;
	}
	hv_envelope_clear(&env);
}

/*
 * Takes items until none is left; called with the lock held, returns with
 * it held. Returns 0 when there was nothing to take.
 */
static int
take_items(struct verify_pool *p)
{
	int took = 0;

	while (p->items != NULL && p->next < p->n) {
		struct batch_frame *it = &p->items[p->next++];

		took = 1;
		pthread_mutex_unlock(&p->lock);
		verify_one(p->b, it);
		pthread_mutex_lock(&p->lock);
		if (++p->finished == p->n)
			pthread_cond_broadcast(&p->done);
	}
	return took;
}

static void *
verify_worker(void *arg)
{
	struct verify_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop)
		if (!take_items(p))
			pthread_cond_wait(&p->work, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void
verify_pool_start(struct broker *b)
{
	struct verify_pool *p = calloc(1, sizeof(*p));
	/* One worker per core beyond the main thread's, and at least one. */
	size_t want = b->verify_threads > 1 ? b->verify_threads - 1 : 1;

	if (p == NULL)
		hv_fatalx("out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->b = b;
	if (want > BROKER_VERIFY_THREADS_MAX)
		want = BROKER_VERIFY_THREADS_MAX;
	for (; p->n_threads < want; p->n_threads++)
		if (pthread_create(&p->t[p->n_threads], NULL, verify_worker,
		        p) != 0)
			break;
	if (p->n_threads == 0)
		hv_log_warnx("no thread for signature checks; the main thread "
		             "checks them alone");
	b->vpool = p;
}

void
verify_pool_stop(struct broker *b)
{
	struct verify_pool *p = b->vpool;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->t[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	b->vpool = NULL;
}

void
verify_start(struct broker *b, struct batch_frame *items, size_t n)
{
	struct verify_pool *p = b->vpool;

	for (size_t i = 0; i < n; i++) {
		items[i].f = NULL;
		items[i].sig = SIG_UNKNOWN;
	}
	pthread_mutex_lock(&p->lock);
	p->items = items;
	p->n = n;
	p->next = 0;
	p->finished = 0;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void
verify_wait(struct broker *b)
{
	struct verify_pool *p = b->vpool;

	pthread_mutex_lock(&p->lock);
	take_items(p);
	while (p->items != NULL && p->finished < p->n)
		pthread_cond_wait(&p->done, &p->lock);
	p->items = NULL;
	p->n = p->next = p->finished = 0;
	pthread_mutex_unlock(&p->lock);
}

void
verify_use(struct broker *b, const struct batch_frame *items, size_t n)
{
	b->verdicts = items;
	b->n_verdicts = n;
}

void
verify_batch_end(struct broker *b)
{
	b->verdicts = NULL;
	b->n_verdicts = 0;
}

hv_err
verify_envelope(struct broker *b, const Haven__Submit *s,
    const hv_envelope *env, const uint8_t key[HV_SIGN_PUBLIC_LEN])
{
	for (size_t i = 0; i < b->n_verdicts; i++) {
		const struct batch_frame *it = &b->verdicts[i];

		if (it->sig == SIG_UNKNOWN || it->f == NULL ||
		    it->f->kind_case != HAVEN__FRAME__KIND_SUBMIT ||
		    it->f->submit != s)
			continue;
		if (memcmp(it->sig_key, key, HV_SIGN_PUBLIC_LEN) != 0)
			break;
		return it->sig == SIG_GOOD ? HV_OK : HV_EBADSIG;
	}
	return hv_envelope_verify(env, key);
}
