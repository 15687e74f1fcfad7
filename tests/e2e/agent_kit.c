/*
 * Helpers for the agent's end-to-end tests (see agent_kit.h). Every wait
 * polls with a deadline; nothing sleeps and then asserts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent_kit.h"

static const char *const ak_ids[4] = { AK_POLICE, AK_HEALTH, AK_SCHOOL,
	AK_SOCIAL };

static long
ak_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void
ak_nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
ak_setup(struct h_partnership *p, const char *const *extra)
{
	if (h_partnership_create(p, NULL, NULL) != 0 || h_broker_start(p) != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		struct h_agent *a =
		    h_agent_add(p, ak_ids[i], extra ? extra[i] : NULL);

		if (a == NULL || h_agent_start(p, a) != 0)
			return -1;
	}
	return 0;
}

static int
log_clean(const char *path, char *why, size_t cap)
{
	static const char *const bad[] = { "Sanitizer",
		"runtime error:", "fatal:", NULL };
	char *text = h_read(path);
	int ok = 1;

	for (int i = 0; text != NULL && bad[i] != NULL && ok; i++)
		if (strstr(text, bad[i]) != NULL) {
			snprintf(why, cap, "%s holds \"%s\"", path, bad[i]);
			ok = 0;
		}
	free(text);
	return ok;
}

int
ak_stop_and_check(struct h_partnership *p, char *why, size_t cap)
{
	int rc = 0;

	why[0] = '\0';
	for (int i = 0; i < p->n_agents; i++) {
		struct h_agent *a = &p->agents[i];
		int st;

		if (a->pid <= 0)
			continue;
		if ((st = h_agent_stop(a)) != 0 && rc == 0) {
			snprintf(why, cap, "%s exited with %d on SIGTERM",
			    a->id, st);
			rc = -1;
		}
	}
	h_broker_stop(p);
	for (int i = 0; i < p->n_agents && rc == 0; i++)
		if (!log_clean(p->agents[i].log, why, cap))
			rc = -1;
	if (rc == 0 && !log_clean(p->broker_log, why, cap))
		rc = -1;
	return rc;
}

struct h_agent *
ak_agent(struct h_partnership *p, const char *id)
{
	for (int i = 0; i < p->n_agents; i++)
		if (strcmp(p->agents[i].id, id) == 0)
			return &p->agents[i];
	return NULL;
}

char *
ak_message(const char *to, const char *type, const char *priority,
    const char *tag, const char *more)
{
	return h_fmt("{\"to\":%s,\"type\":\"%s\",\"priority\":\"%s\","
	             "\"subject\":{\"nhs\":\"943 476 5919\"}," AK_BASIS ","
	             "\"child\":{\"name\":\"Child %s\",\"dob\":\"2016-03-02\"},"
	             "\"body\":{\"summary\":\"Body %s\"}%s}",
	    to, type, priority, tag, tag, more ? more : "");
}

int
ak_post(struct h_agent *a, const char *path, const char *body, char id[33])
{
	char *url = h_fmt("%s%s", a->url, path), *resp = NULL;
	int st = h_http("POST", url, a->token, body, &resp);

	if (id != NULL) {
		json_t *j = json_loads(resp ? resp : "", 0, NULL);
		const char *s = json_string_value(json_object_get(j, "id"));

		id[0] = '\0';
		if (st == 202 && s != NULL)
			snprintf(id, 33, "%s", s);
		json_decref(j);
	}
	free(resp);
	free(url);
	return st;
}

int
ak_get(struct h_agent *a, const char *path, json_t **out)
{
	char *url = h_fmt("%s%s", a->url, path), *resp = NULL;
	int st = h_http("GET", url, a->token, NULL, &resp);

	if (out != NULL)
		*out = json_loads(resp ? resp : "", 0, NULL);
	free(resp);
	free(url);
	return st;
}

int
ak_wait_inbox(struct h_agent *a, const char *id, int timeout_ms, json_t **out)
{
	char *path = h_fmt("/v1/inbox/%s", id);
	long end = ak_mono_ms() + timeout_ms;
	int ok = 0;

	if (out != NULL)
		*out = NULL;
	while (!ok && ak_mono_ms() < end) {
		json_t *j = NULL;

		if (ak_get(a, path, &j) == 200) {
			ok = 1;
			if (out != NULL)
				*out = j;
			else
				json_decref(j);
		} else {
			json_decref(j);
			ak_nap(50);
		}
	}
	free(path);
	return ok;
}

static int
has_status(json_t *doc, const char *status, const char *peer)
{
	json_t *tl = json_object_get(doc, "timeline"), *e;
	size_t i;

	json_array_foreach (tl, i, e) {
		const char *st =
		    json_string_value(json_object_get(e, "status"));
		const char *to = json_string_value(json_object_get(e, "to"));
		const char *node =
		    json_string_value(json_object_get(e, "node"));

		if (st == NULL || strcmp(st, status) != 0)
			continue;
		if (peer == NULL || (to && strcmp(to, peer) == 0) ||
		    (node && strcmp(node, peer) == 0))
			return 1;
	}
	return 0;
}

int
ak_wait_status(struct h_agent *a, const char *id, const char *status,
    const char *peer, int timeout_ms)
{
	char *path = h_fmt("/v1/messages/%s", id);
	long end = ak_mono_ms() + timeout_ms;
	int ok = 0;

	while (!ok && ak_mono_ms() < end) {
		json_t *j = NULL;

		if (ak_get(a, path, &j) == 200 && has_status(j, status, peer))
			ok = 1;
		json_decref(j);
		if (!ok)
			ak_nap(50);
	}
	free(path);
	return ok;
}

int
ak_wait_health(struct h_agent *a, const char *field, long want, int timeout_ms)
{
	long end = ak_mono_ms() + timeout_ms;

	while (ak_mono_ms() < end) {
		json_t *j = NULL;
		int ok = ak_get(a, "/v1/health", &j) == 200 &&
		    json_integer_value(json_object_get(j, field)) == want;

		json_decref(j);
		if (ok)
			return 1;
		ak_nap(50);
	}
	return 0;
}

/* ---- SSE client -------------------------------------------------------- */

static size_t
sse_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct ak_sse *s = ud;
	size_t add = size * n;
	char *nb;

	pthread_mutex_lock(&s->lock);
	nb = realloc(s->buf, s->len + add + 1);
	if (nb == NULL) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	s->buf = nb;
	memcpy(s->buf + s->len, ptr, add);
	s->len += add;
	s->buf[s->len] = '\0';
	pthread_mutex_unlock(&s->lock);
	return add;
}

static int
sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct ak_sse *s = ud;

	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&s->stop) ? 1 : 0;
}

static void *
sse_thread(void *arg)
{
	struct ak_sse *s = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char auth[200];

	if (c != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    s->token);
		hdr = curl_slist_append(hdr, auth);
		curl_easy_setopt(c, CURLOPT_URL, s->url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
		curl_easy_perform(c);
		curl_slist_free_all(hdr);
		curl_easy_cleanup(c);
	}
	atomic_store(&s->done, 1);
	return NULL;
}

int
ak_sse_start(struct ak_sse *s, struct h_agent *a)
{
	long end = ak_mono_ms() + 10000;

	memset(s, 0, sizeof(*s));
	snprintf(s->url, sizeof(s->url), "%s/v1/alerts/stream", a->url);
	snprintf(s->token, sizeof(s->token), "%s", a->token);
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->thread, NULL, sse_thread, s) != 0)
		return -1;
	while (ak_mono_ms() < end && !atomic_load(&s->done)) {
		int ok;

		pthread_mutex_lock(&s->lock);
		ok = s->buf != NULL && strstr(s->buf, ": connected") != NULL;
		pthread_mutex_unlock(&s->lock);
		if (ok)
			return 0;
		ak_nap(20);
	}
	return -1;
}

/* 1 when some event "event: type" has a data line holding needle. */
static int
sse_find(const char *buf, const char *type, const char *needle)
{
	char head[64];
	const char *p = buf;

	snprintf(head, sizeof(head), "event: %s\ndata: ", type);
	while ((p = strstr(p, head)) != NULL) {
		const char *data = p + strlen(head);
		const char *eol = strchr(data, '\n');
		const char *hit = strstr(data, needle);

		if (eol != NULL && hit != NULL && hit < eol)
			return 1;
		p = data;
	}
	return 0;
}

int
ak_sse_wait(struct ak_sse *s, const char *type, const char *needle,
    int timeout_ms)
{
	long end = ak_mono_ms() + timeout_ms;

	while (ak_mono_ms() < end) {
		int ok;

		pthread_mutex_lock(&s->lock);
		ok = s->buf != NULL && sse_find(s->buf, type, needle);
		pthread_mutex_unlock(&s->lock);
		if (ok)
			return 1;
		ak_nap(20);
	}
	return 0;
}

void
ak_sse_stop(struct ak_sse *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	s->buf = NULL;
}

json_t *
ak_health(struct h_agent *a)
{
	json_t *h = NULL;

	if (ak_get(a, "/v1/health", &h) != 200) {
		json_decref(h);
		return NULL;
	}
	return h;
}

long
ak_tree_head_size(struct h_agent *a)
{
	json_t *h = ak_health(a), *th = json_object_get(h, "tree_head");
	long n = json_is_object(th) ?
	    (long)json_integer_value(json_object_get(th, "size")) :
	    -1;

	json_decref(h);
	return n;
}

struct head_wait {
	struct h_agent *a;
	long above;
};

static int
head_above(void *ctx)
{
	struct head_wait *w = ctx;

	return ak_tree_head_size(w->a) > w->above;
}

int
ak_wait_tree_head_above(struct h_agent *a, long above, int timeout_ms)
{
	struct head_wait w = { a, above };

	return h_wait_until(head_above, &w, timeout_ms);
}
