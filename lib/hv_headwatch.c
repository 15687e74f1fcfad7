/*
 * hv_headwatch — the head deadline for connections the server reads
 * through TLS (see hv_headwatch.h). One mutex guards the list; the close
 * takes it too, which is what makes a shutdown of a closed fd impossible.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "hv_headwatch.h"
#include "hv_util.h"

/* Sweeps per head limit: a late head is cut within limit * (1 + 1/N). */
#define SWEEPS_PER_LIMIT 10
#define SWEEP_MIN_MS 20

enum conn_state {
	WAITING, /* for a head, since `since` */
	BODY, /* for the rest of the request, since its head at `since` */
	IN_REQUEST, /* the server has it all and is answering; never cut */
	CUT, /* shut down; waiting for the server to close it */
};

struct hv_headwatch_conn {
	int fd;
	enum conn_state state;
	int64_t since;
	struct hv_headwatch_conn *prev, *next;
};

struct hv_headwatch {
	int64_t head_ms, body_ms;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int started, stopping;
	struct hv_headwatch_conn *head;
};

hv_headwatch *
hv_headwatch_new(int64_t head_ms, int64_t body_ms)
{
	hv_headwatch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (w == NULL)
		return NULL;
	w->head_ms = head_ms;
	w->body_ms = body_ms;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	return w;
}

static void *
watchdog(void *cls)
{
	hv_headwatch *w = cls;
	int64_t step = w->head_ms / SWEEPS_PER_LIMIT;
	struct timespec at;

	if (step < SWEEP_MIN_MS)
		step = SWEEP_MIN_MS;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_nsec += (long)(step % 1000) * 1000000L;
		at.tv_sec += (time_t)(step / 1000) + at.tv_nsec / 1000000000L;
		at.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->wake, &w->lock, &at);
		if (w->stopping)
			break;
		pthread_mutex_unlock(&w->lock);
		hv_headwatch_sweep(w, hv_mono_ms());
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

hv_err
hv_headwatch_start(hv_headwatch *w)
{
	if (pthread_create(&w->thread, NULL, watchdog, w) != 0)
		return HV_ESYS;
	w->started = 1;
	return HV_OK;
}

void
hv_headwatch_destroy(hv_headwatch **wp)
{
	hv_headwatch *w = wp ? *wp : NULL;
	struct hv_headwatch_conn *c, *next;

	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	for (c = w->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	*wp = NULL;
}

hv_headwatch_conn *
hv_headwatch_open(hv_headwatch *w, int fd, int64_t now_ms)
{
	hv_headwatch_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		shutdown(fd, SHUT_RDWR);
		return NULL;
	}
	c->fd = fd;
	c->state = WAITING;
	c->since = now_ms;
	pthread_mutex_lock(&w->lock);
	c->next = w->head;
	if (w->head != NULL)
		w->head->prev = c;
	w->head = c;
	pthread_mutex_unlock(&w->lock);
	return c;
}

void
hv_headwatch_head(hv_headwatch *w, hv_headwatch_conn *c, int64_t now_ms)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->state == WAITING) {
		c->state = BODY;
		c->since = now_ms;
	}
	pthread_mutex_unlock(&w->lock);
}

void
hv_headwatch_answering(hv_headwatch *w, hv_headwatch_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->state == WAITING || c->state == BODY)
		c->state = IN_REQUEST;
	pthread_mutex_unlock(&w->lock);
}

void
hv_headwatch_idle(hv_headwatch *w, hv_headwatch_conn *c, int64_t now_ms)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->state == BODY || c->state == IN_REQUEST) {
		c->state = WAITING;
		c->since = now_ms;
	}
	pthread_mutex_unlock(&w->lock);
}

void
hv_headwatch_close(hv_headwatch *w, hv_headwatch_conn **cp)
{
	hv_headwatch_conn *c = cp ? *cp : NULL;

	if (c == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&w->lock);
	free(c);
	*cp = NULL;
}

size_t
hv_headwatch_sweep(hv_headwatch *w, int64_t now_ms)
{
	size_t cut = 0;

	pthread_mutex_lock(&w->lock);
	for (hv_headwatch_conn *c = w->head; c != NULL; c = c->next)
		if ((c->state == WAITING && now_ms - c->since > w->head_ms) ||
		    (c->state == BODY && now_ms - c->since > w->body_ms)) {
			/*
			 * Under the lock the close takes: the server has not
			 * closed this fd, so it is still this connection's.
			 */
			shutdown(c->fd, SHUT_RDWR);
			c->state = CUT;
			cut++;
		}
	pthread_mutex_unlock(&w->lock);
	return cut;
}
