/*
 * haven-broker — the signatures of a batch, verified on every core before
 * its transaction opens (SPEC §16).
 *
 * Verifying a sender's Ed25519 signature is the largest share of the
 * broker's work per Submit, and it needs nothing from the store: only the
 * envelope's bytes and the directory in force. So once router_drain has
 * read a batch, verify_batch() decodes its frames and checks the Submits'
 * signatures on worker threads (the main thread takes a share too) and
 * notes each verdict with the exact key it was checked against. Then the
 * main thread runs SPEC §6's checks one message at a time, in order, as
 * before: at the BAD_SIGNATURE step, verify_envelope() takes the noted
 * verdict when it was reached for these bytes with the key the directory
 * now gives, and verifies there and then otherwise. No check is skipped or
 * reordered; a frame that no worker decoded is decoded by dispatch.
 *
 * The workers only read: the frames (each worker writes only its own
 * items' decoded frame and verdict) and the directory, which changes only
 * on the main thread between batches, never while workers run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_wire.h"

/* What one batch's workers share. */
struct verify_job {
	struct broker *b;
	struct batch_frame *items;
	size_t n;
	atomic_size_t next; /* the next item to take */
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

static void *
verify_worker(void *arg)
{
	struct verify_job *j = arg;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->n)
		verify_one(j->b, &j->items[i]);
	return NULL;
}

void
verify_batch(struct broker *b, struct batch_frame *items, size_t n)
{
	struct verify_job j = { b, items, n, 0 };
	pthread_t t[BROKER_VERIFY_THREADS_MAX];
	size_t started = 0, want;

	b->verdicts = items;
	b->n_verdicts = n;
	/* One worker per core beyond this one, and no more than there is. */
	want = b->verify_threads > 1 ? b->verify_threads - 1 : 0;
	if (want > n / 2)
		want = n / 2;
	for (; started < want; started++)
		if (pthread_create(&t[started], NULL, verify_worker, &j) != 0)
			break;
	verify_worker(&j);
	for (size_t k = 0; k < started; k++)
		pthread_join(t[k], NULL);
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
