/*
 * The agent's local HTTP/JSON API (SPEC §7, docs/API.md), served by
 * libmicrohttpd on 127.0.0.1 with one thread per connection, behind a gate
 * (below) that reads the head of each new connection's first request and
 * lets through only whole, well-formed heads carrying the token.
 *
 * Every request is authenticated before anything else is looked at: the
 * bearer token is hashed and compared with the configured token's hash in
 * constant time. Bodies are collected up to a limit and parsed with jansson;
 * anything wrong gets the error object of docs/API.md, never a crash. These
 * threads only commit to LMDB and wake the main loop; they never touch
 * ZeroMQ.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "agent.h"
#include "request.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "hv_words.h"

/* Per-request state, from the first call of the handler to completion. */
struct req {
	char *buf;
	size_t len, cap;
	int too_large;
	int64_t body_by_ms; /* monotonic: the body must be in by then */
};

/* An SSE stream's position in the bus and its unsent bytes. */
struct sse {
	struct agent *a;
	int (*alive)(void *); /* optional: 0 ends the stream */
	void *alive_cls; /* freed with the stream */
	uint64_t cursor;
	char *out;
	size_t out_len, out_off;
};

static size_t
body_limit(const struct agent *a)
{
	return 4 * a->cfg.max_message_bytes + 65536;
}

/* ---- replies ----------------------------------------------------------- */

static enum MHD_Result
reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL) {
		static const char oom[] =
		    "{\"error\":{\"code\":\"NO_MEMORY\","
		    "\"field\":null,\"message\":\"The agent is out of "
		    "memory.\"}}";

		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r = MHD_create_response_from_buffer(sizeof(oom) - 1,
		    (void *)oom, MHD_RESPMEM_PERSISTENT);
	} else
		r = MHD_create_response_from_buffer(strlen(text), text,
		    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static unsigned
http_status(hv_err e)
{
	switch (e) {
	case HV_EBADREQUEST:
	case HV_EBADSUBJECT:
	case HV_EBASIS:
	case HV_EPOLICY:
	case HV_EUNKNOWNRECIPIENT:
	case HV_EREVOKEDRECIPIENT:
	case HV_EMALFORMED:
	case HV_ESENDERREVOKED:
	case HV_ETOOLARGE: /* the payload (SPEC §4.4); 413 is the body */
		return MHD_HTTP_BAD_REQUEST;
	case HV_EUNAUTHORIZED:
		return MHD_HTTP_UNAUTHORIZED;
	case HV_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case HV_ESTORAGEFULL:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status,
    const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result
reply_error(struct MHD_Connection *c, unsigned status, const char *code,
    const char *field, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:{s:s, s:s?, s:s}}", "error", "code", code, "field",
	    field, "message", msg);
	return reply_json(c, status, j);
}

static enum MHD_Result
reply_err(struct MHD_Connection *c, hv_err e, const struct hv_errdetail *d)
{
	const char *field = d && d->field[0] ? d->field : NULL;
	unsigned status = http_status(e);

	/* The client is told to see this agent's log for a 5xx: say it here. */
	if (status >= 500)
		hv_log_warnx("answered %u %s: %s", status, hv_errname(e),
		    hv_errmsg(e, d));
	return reply_error(c, status, hv_errname(e), field, "%s",
	    hv_errmsg(e, d));
}

static enum MHD_Result
reply_method(struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	json_t *j;
	char *text;

	j = json_pack("{s:{s:s, s:n, s:s}}", "error", "code",
	    "METHOD_NOT_ALLOWED", "field", "message",
	    "This path does not take that method; see the Allow header.");
	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Allow", allow);
	ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_not_found(struct MHD_Connection *c)
{
	return reply_error(c, MHD_HTTP_NOT_FOUND, "NOT_FOUND", NULL,
	    "No such message or path; see docs/API.md.");
}

/* ---- authentication ---------------------------------------------------- */

/*
 * 1 when the request carries the agent's bearer token. The gate checked
 * the first request of each connection already; this checks every later
 * one on a kept-alive connection, by the value's full length.
 */
static int
authorized(struct agent *a, struct MHD_Connection *c)
{
	const char *h = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND,
	        MHD_HTTP_HEADER_AUTHORIZATION,
	        strlen(MHD_HTTP_HEADER_AUTHORIZATION), &h, &len) != MHD_YES ||
	    h == NULL)
		return 0;
	return gate_token_ok(a, h, len);
}

/* ---- helpers ----------------------------------------------------------- */

static json_t *
parse_body(struct req *r, struct hv_errdetail *d)
{
	return request_body_parse(r->buf, r->len, d);
}

/* ---- endpoints --------------------------------------------------------- */

static enum MHD_Result
do_submit(struct agent *a, struct MHD_Connection *c, struct req *r,
    int decision)
{
	struct hv_errdetail d;
	uint8_t id[HV_ID_LEN];
	char hex[HV_ID_HEX_LEN + 1];
	json_t *j;
	hv_err e;

	hv_errclear(&d);
	if ((j = parse_body(r, &d)) == NULL)
		return reply_err(c, HV_EBADREQUEST, &d);
	e = outbox_submit(a, j, decision, id, &d);
	json_decref(j);
	if (e != HV_OK)
		return reply_err(c, e, &d);
	hv_hex(id, HV_ID_LEN, hex);
	return reply_json(c, MHD_HTTP_ACCEPTED,
	    json_pack("{s:s, s:s}", "id", hex, "status", "queued"));
}

json_t *
api_health(struct agent *a)
{
	uint64_t version;
	json_t *h;

	pthread_rwlock_rdlock(&a->dir_lock);
	version = hv_directory_version(a->dir);
	pthread_rwlock_unlock(&a->dir_lock);
	h = json_pack("{s:s, s:b, s:I, s:I, s:I}", "node", a->cfg.id,
	    "broker_connected", atomic_load(&a->connected) != 0, "outbox_depth",
	    (json_int_t)outbox_depth(a), "inbox_unacked",
	    (json_int_t)inbox_unacked(a), "directory_version",
	    (json_int_t)version);
	if (h != NULL) {
		integrity_health(a, h); /* tree_head, integrity */
		json_object_set_new(h, "deliveries_refused",
		    json_integer(
		        (json_int_t)atomic_load(&a->deliveries_refused)));
	}
	return h;
}

/* A JSON array of a NULL-terminated list of words. */
static json_t *
words_json(const char *const *w)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && w[i] != NULL; i++)
		json_array_append_new(arr, json_string(w[i]));
	return arr;
}

json_t *
api_words(void)
{
	json_t *out = json_object();

	for (int k = 0; out != NULL && k < HV_WORDS_KINDS; k++) {
		json_t *o = json_object();

		for (const struct hv_word *w = hv_words((enum hv_word_kind)k);
		     o != NULL && w->code != NULL; w++)
			json_object_set_new(o, w->code, json_string(w->label));
		if (o == NULL ||
		    json_object_set_new(out,
		        hv_words_kind_name((enum hv_word_kind)k), o) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

json_t *
api_allowed(struct agent *a)
{
	json_t *types = json_array(), *out;
	uint64_t version;

	if (types == NULL)
		return NULL;
	pthread_rwlock_rdlock(&a->dir_lock);
	version = hv_directory_version(a->dir);
	for (size_t t = 0; hv_message_types[t] != NULL; t++) {
		json_t *to = json_array();
		int art9 = 0;

		for (size_t i = 0;
		     to != NULL && i < hv_directory_node_count(a->dir); i++) {
			const struct hv_node *n =
			    hv_directory_node_at(a->dir, i);
			int req = 0;

			if (n->revoked || strcmp(n->id, a->cfg.id) == 0)
				continue;
			if (hv_policy_check_allowed(a->dir, a->cfg.id, n->id,
			        hv_message_types[t], &req, NULL) == HV_OK) {
				json_array_append_new(to, json_string(n->id));
				art9 |= req;
			}
		}
		if (json_array_size(to) > 0)
			json_array_append_new(types,
			    json_pack("{s:s, s:b, "
			              "s:o}",
			        "type", hv_message_types[t], "art9_required",
			        art9, "to", to));
		else
			json_decref(to);
	}
	pthread_rwlock_unlock(&a->dir_lock);
	out = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "node",
	    a->cfg.id, "directory_version", (json_int_t)version, "types", types,
	    "priorities", words_json(hv_priorities), "consent",
	    words_json(hv_consents), "art6", words_json(hv_art6_bases), "art9",
	    words_json(hv_art9_conditions));
	return out;
}

static enum MHD_Result
do_health(struct agent *a, struct MHD_Connection *c)
{
	return reply_json(c, MHD_HTTP_OK, api_health(a));
}

/* ---- query parameters ------------------------------------------------- */

struct query_check {
	const char *const *allowed;
	const char *unknown; /* the first parameter not in allowed */
};

static enum MHD_Result
query_check_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct query_check *q = cls;

	(void)kind;
	(void)value;
	for (const char *const *p = q->allowed; *p != NULL; p++)
		if (strcmp(key, *p) == 0)
			return MHD_YES;
	q->unknown = key;
	return MHD_NO;
}

/* 1 when s is short printable ASCII, safe to quote in a JSON answer. */
static int
quotable_param(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= 40 || s[n] < 0x21 || s[n] > 0x7e || s[n] == '"' ||
		    s[n] == '\\')
			return 0;
	return n > 0;
}

/*
 * Refuses a query parameter the path does not take, as unknown members of
 * a body are refused: `?unack=1` or `?page=2` silently ignored would hand a
 * case system every message, or the first page again, as if it had asked
 * for them. Returns MHD_YES with *answered = 0 when every parameter is in
 * allowed (NULL-terminated); otherwise answers 400 and sets *answered.
 */
static enum MHD_Result
query_only(struct MHD_Connection *c, const char *const *allowed,
    const char *takes, int *answered)
{
	struct query_check q = { allowed, NULL };

	*answered = 0;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_check_one,
	    &q);
	if (q.unknown == NULL)
		return MHD_YES;
	*answered = 1;
	if (quotable_param(q.unknown))
		return reply_error(c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
		    q.unknown,
		    "%s is not a query parameter of this path; it takes %s "
		    "(see docs/API.md).",
		    q.unknown, takes);
	return reply_error(c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", NULL,
	    "A query parameter is not one this path takes; it takes %s "
	    "(see docs/API.md).",
	    takes);
}

/* A whole number from min to max in query argument name, or -1. */
static long
query_number(struct MHD_Connection *c, const char *name, long def, long min,
    long max)
{
	const char *s =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	char *end;
	long n;

	if (s == NULL)
		return def;
	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
		return -1;
	return n;
}

/*
 * GET /v1/messages?limit=&offset=|before= — sent messages, newest first,
 * read back through the outbox's age index (never a scan of the outbox).
 */
static enum MHD_Result
do_sent(struct agent *a, struct MHD_Connection *c)
{
	long limit = query_number(c, "limit", 50, 1, 1000);
	long offset = query_number(c, "offset", 0, 0, 1L << 40);
	const char *before =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "before");
	static const char *const params[] = { "limit", "offset", "before",
		NULL };
	struct hv_errdetail d;
	json_t *page = NULL;
	enum MHD_Result ret;
	int answered;
	hv_err e;

	ret = query_only(c, params, "limit, offset and before", &answered);
	if (answered)
		return ret;
	if (limit < 0)
		return reply_error(c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
		    "limit", "limit must be a whole number from 1 to 1000.");
	if (offset < 0)
		return reply_error(c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
		    "offset", "offset must be a whole number, 0 or more.");
	hv_errclear(&d);
	if ((e = outbox_list(a, (size_t)offset, before, (size_t)limit, &page,
	         &d)) != HV_OK)
		return reply_err(c, e, &d);
	return reply_json(c, MHD_HTTP_OK, page);
}

/*
 * GET /v1/inbox?unacked=&since=&limit=&order=&cursor= — one page; the
 * same unacked, since and order go with each page's cursor.
 */
static enum MHD_Result
do_inbox_list(struct agent *a, struct MHD_Connection *c)
{
	const char *unacked =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "unacked");
	const char *since =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
	const char *limit =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *order =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "order");
	static const char *const params[] = { "unacked", "since", "limit",
		"order", "cursor", NULL };
	struct inbox_query q = { .limit = 100 };
	struct hv_errdetail d;
	json_t *page = NULL;
	enum MHD_Result ret;
	int answered;
	hv_err e;

	ret = query_only(c, params, "unacked, since, limit, order and cursor",
	    &answered);
	if (answered)
		return ret;
	if (unacked != NULL) {
		if (strcmp(unacked, "1") == 0 || strcmp(unacked, "true") == 0)
			q.unacked = 1;
		else if (strcmp(unacked, "0") != 0 &&
		    strcmp(unacked, "false") != 0)
			return reply_error(c, MHD_HTTP_BAD_REQUEST,
			    "BAD_REQUEST", "unacked",
			    "unacked must be 1 or "
			    "0.");
	}
	if (since != NULL && hv_time_parse(since, &q.since_ms) != 0)
		return reply_error(c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
		    "since",
		    "since must be an ISO 8601 UTC time such as "
		    "2026-11-22T09:00:00Z, or unix seconds.");
	if (limit != NULL) {
		char *end;
		long n;

		errno = 0;
		n = strtol(limit, &end, 10);
		if (*limit == '\0' || *end != '\0' || errno != 0 || n < 1 ||
		    n > 1000)
			return reply_error(c, MHD_HTTP_BAD_REQUEST,
			    "BAD_REQUEST", "limit",
			    "limit must be a whole "
			    "number from 1 to 1000.");
		q.limit = (size_t)n;
	}
	if (order != NULL) {
		if (strcmp(order, "priority") == 0)
			q.by_priority = 1;
		else if (strcmp(order, "newest") != 0)
			return reply_error(c, MHD_HTTP_BAD_REQUEST,
			    "BAD_REQUEST", "order",
			    "order must be newest or "
			    "priority.");
	}
	q.cursor =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
	hv_errclear(&d);
	if ((e = inbox_page(a, &q, &page, &d)) != HV_OK)
		return reply_err(c, e, &d);
	return reply_json(c, MHD_HTTP_OK, page);
}

static enum MHD_Result
do_ack(struct agent *a, struct MHD_Connection *c, struct req *r,
    const uint8_t id[HV_ID_LEN])
{
	struct hv_errdetail d;
	const char *by, *note;
	char hex[HV_ID_HEX_LEN + 1];
	int64_t at = 0;
	json_t *j, *v;
	hv_err e;

	hv_errclear(&d);
	if ((j = parse_body(r, &d)) == NULL)
		return reply_err(c, HV_EBADREQUEST, &d);
	if ((e = request_ack_parse(j, &by, &note, &d)) != HV_OK)
		goto fail;
	if ((e = inbox_ack(a, id, by, note, &at)) != HV_OK) {
		if (e == HV_ENOTFOUND)
			hv_errset(&d, e, NULL,
			    "No received message has this "
			    "id.");
		goto fail;
	}
	hv_hex(id, HV_ID_LEN, hex);
	v = json_pack("{s:s, s:b, s:s, s:o}", "id", hex, "acknowledged", 1,
	    "by", by, "at", json_time(at));
	json_decref(j);
	return reply_json(c, MHD_HTTP_OK, v);
fail:
	json_decref(j);
	return reply_err(c, e, &d);
}

/* POST /v1/messages/{id}/retract (SPEC §15, retract.c). */
static enum MHD_Result
do_retract(struct agent *a, struct MHD_Connection *c, struct req *r,
    const uint8_t id[HV_ID_LEN])
{
	struct hv_errdetail d;
	char hex[HV_ID_HEX_LEN + 1];
	json_t *j;
	hv_err e;

	hv_errclear(&d);
	if ((j = parse_body(r, &d)) == NULL)
		return reply_err(c, HV_EBADREQUEST, &d);
	e = retract_submit(a, j, id, &d);
	json_decref(j);
	if (e != HV_OK)
		return reply_err(c, e, &d);
	hv_hex(id, HV_ID_LEN, hex);
	return reply_json(c, MHD_HTTP_ACCEPTED,
	    json_pack("{s:s, s:s}", "id", hex, "status", "retracting"));
}

/*
 * /v1/holds: GET lists, POST adds; POST /v1/holds/{id}/remove removes
 * (SPEC §15, holds.c).
 */
static enum MHD_Result
do_holds(struct agent *a, struct MHD_Connection *c, struct req *r,
    const char *rest, int get, int post)
{
	struct hv_errdetail d;
	uint8_t hid[HV_ID_LEN];
	json_t *j, *out;
	hv_err e = HV_EIO;

	hv_errclear(&d);
	if (rest[0] == '\0') {
		if (get)
			return reply_json(c, MHD_HTTP_OK, holds_list(a));
		if (!post)
			return reply_method(c, "GET, POST");
		if ((j = parse_body(r, &d)) == NULL)
			return reply_err(c, HV_EBADREQUEST, &d);
		out = holds_add(a, j, &e, &d);
		json_decref(j);
		if (out == NULL)
			return reply_err(c, e, &d);
		return reply_json(c, MHD_HTTP_CREATED, out);
	}
	if (strlen(rest) != 1 + HV_ID_HEX_LEN + 7 ||
	    strcmp(rest + 1 + HV_ID_HEX_LEN, "/remove") != 0 ||
	    hv_unhex_n(rest + 1, HV_ID_HEX_LEN, hid, HV_ID_LEN) != 0)
		return reply_not_found(c);
	if (!post)
		return reply_method(c, "POST");
	if ((j = parse_body(r, &d)) == NULL)
		return reply_err(c, HV_EBADREQUEST, &d);
	out = holds_remove(a, hid, j, &e, &d);
	json_decref(j);
	if (out == NULL)
		return reply_err(c, e, &d);
	return reply_json(c, MHD_HTTP_OK, out);
}

/* GET /v1/children?nhs=N | local=AGENCY:ID (SPEC §15, children.c). */
static enum MHD_Result
do_children(struct agent *a, struct MHD_Connection *c)
{
	static const char *const params[] = { "nhs", "local", NULL };
	struct hv_errdetail d;
	json_t *j = NULL;
	enum MHD_Result ret;
	int answered;
	hv_err e;

	ret = query_only(c, params, "nhs or local", &answered);
	if (answered)
		return ret;
	hv_errclear(&d);
	e = children_lookup(a,
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nhs"),
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "local"), &j,
	    &d);
	if (e != HV_OK)
		return reply_err(c, e, &d);
	return reply_json(c, MHD_HTTP_OK, j);
}

/* ---- Server-Sent Events ------------------------------------------------ */

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	struct alert_bus *b = &s->a->bus;
	size_t n;

	(void)pos;
	while (s->out == NULL) {
		struct timespec ts;
		int64_t end = hv_mono_ms() + AGENT_SSE_KEEPALIVE_MS;

		if (s->alive != NULL && !s->alive(s->alive_cls))
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&b->lock);
		for (;;) {
			if (b->stopping) {
				pthread_mutex_unlock(&b->lock);
				return MHD_CONTENT_READER_END_OF_STREAM;
			}
			if (b->seq != s->cursor || hv_mono_ms() >= end)
				break;
			if (s->alive != NULL && !s->alive(s->alive_cls)) {
				pthread_mutex_unlock(&b->lock);
				return MHD_CONTENT_READER_END_OF_STREAM;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += 500 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&b->cond, &b->lock, &ts);
		}
		if (b->seq == s->cursor) {
			s->out = strdup(": keep-alive\n\n");
		} else {
			/* A stream that fell a whole ring behind skips. */
			if (b->seq - s->cursor > AGENT_SSE_RING)
				s->cursor = b->seq - AGENT_SSE_RING;
			struct sse_event *ev =
			    &b->ring[(s->cursor + 1) % AGENT_SSE_RING];
			s->cursor++;
			if (asprintf(&s->out, "event: %s\ndata: %s\n\n",
			        ev->type, ev->data ? ev->data : "{}") < 0)
				s->out = NULL;
		}
		pthread_mutex_unlock(&b->lock);
		if (s->out == NULL)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		s->out_len = strlen(s->out);
		s->out_off = 0;
	}
	n = s->out_len - s->out_off;
	if (n > max)
		n = max;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	if (s->out_off == s->out_len) {
		free(s->out);
		s->out = NULL;
	}
	return (ssize_t)n;
}

static void
sse_free(void *cls)
{
	struct sse *s = cls;

	free(s->out);
	free(s->alive_cls);
	free(s);
}

struct MHD_Response *
api_sse_response(struct agent *a, int (*alive)(void *), void *alive_cls)
{
	struct MHD_Response *r;
	struct sse *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->out = strdup(": connected\n\n")) == NULL) {
		free(s);
		free(alive_cls);
		return NULL;
	}
	s->a = a;
	s->alive = alive;
	s->alive_cls = alive_cls;
	s->out_len = strlen(s->out);
	pthread_mutex_lock(&a->bus.lock);
	s->cursor = a->bus.seq;
	pthread_mutex_unlock(&a->bus.lock);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read,
	    s, sse_free);
	if (r == NULL) {
		sse_free(s);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	return r;
}

static enum MHD_Result
do_stream(struct agent *a, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if ((r = api_sse_response(a, NULL, NULL)) == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- routing ----------------------------------------------------------- */

static enum MHD_Result
route(struct agent *a, struct MHD_Connection *c, const char *url,
    const char *method, struct req *r)
{
	int get = strcmp(method, "GET") == 0;
	int post = strcmp(method, "POST") == 0;
	uint8_t id[HV_ID_LEN];
	const char *rest;
	json_t *j;

	if (strcmp(url, "/v1/health") == 0)
		return get ? do_health(a, c) : reply_method(c, "GET");
	if (strcmp(url, "/v1/allowed") == 0)
		return get ? reply_json(c, MHD_HTTP_OK, api_allowed(a)) :
		             reply_method(c, "GET");
	if (strcmp(url, "/v1/words") == 0)
		return get ? reply_json(c, MHD_HTTP_OK, api_words()) :
		             reply_method(c, "GET");
	if (strcmp(url, "/v1/messages") == 0)
		return post ? do_submit(a, c, r, 0) :
		    get     ? do_sent(a, c) :
		              reply_method(c, "GET, POST");
	if (strcmp(url, "/v1/decisions") == 0)
		return post ? do_submit(a, c, r, 1) : reply_method(c, "POST");
	if (strcmp(url, "/v1/inbox") == 0)
		return get ? do_inbox_list(a, c) : reply_method(c, "GET");
	if (strcmp(url, "/v1/alerts/stream") == 0)
		return get ? do_stream(a, c) : reply_method(c, "GET");
	if (strcmp(url, "/v1/children") == 0)
		return get ? do_children(a, c) : reply_method(c, "GET");
	if (strncmp(url, "/v1/holds", 9) == 0 &&
	    (url[9] == '\0' || url[9] == '/'))
		return do_holds(a, c, r, url + 9, get, post);
	if (strncmp(url, "/v1/messages/", 13) == 0) {
		rest = url + 13;
		if (strlen(rest) == HV_ID_HEX_LEN + 8 &&
		    strcmp(rest + HV_ID_HEX_LEN, "/retract") == 0) {
			if (hv_unhex_n(rest, HV_ID_HEX_LEN, id, HV_ID_LEN) != 0)
				return reply_not_found(c);
			return post ? do_retract(a, c, r, id) :
			              reply_method(c, "POST");
		}
		if (hv_unhex_n(rest, strlen(rest), id, HV_ID_LEN) != 0)
			return reply_not_found(c);
		if (!get)
			return reply_method(c, "GET");
		if ((j = outbox_status(a, id)) == NULL &&
		    (j = retention_tombstone(a, id)) == NULL)
			return reply_not_found(c);
		return reply_json(c, MHD_HTTP_OK, j);
	}
	if (strncmp(url, "/v1/inbox/", 10) == 0) {
		size_t n;

		rest = url + 10;
		n = strcspn(rest, "/");
		if (hv_unhex_n(rest, n, id, HV_ID_LEN) != 0)
			return reply_not_found(c);
		if (rest[n] == '\0') {
			if (!get)
				return reply_method(c, "GET");
			if ((j = inbox_view(a, id)) == NULL)
				return reply_not_found(c);
			return reply_json(c, MHD_HTTP_OK, j);
		}
		if (strcmp(rest + n, "/ack") == 0)
			return post ? do_ack(a, c, r, id) :
			              reply_method(c, "POST");
	}
	return reply_not_found(c);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct agent *a = cls;
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		/*
		 * The first call has the headers only: a request without the
		 * token is answered now, so the agent never reads or holds
		 * its body (libmicrohttpd closes the connection after it).
		 */
		if (!authorized(a, c))
			return reply_error(c, MHD_HTTP_UNAUTHORIZED,
			    "UNAUTHORIZED", NULL,
			    "A valid bearer token is "
			    "required: send 'Authorization: Bearer TOKEN' "
			    "with the agent's token.");
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->body_by_ms = hv_mono_ms() + AGENT_HTTP_BODY_MS;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		/*
		 * A body trickled a few bytes at a time never meets the idle
		 * time-out; this deadline ends it (the connection is closed).
		 */
		if (hv_mono_ms() > r->body_by_ms)
			return MHD_NO;
		*upload_size = 0;
		if (r->too_large || r->len + n > body_limit(a)) {
			r->too_large = 1;
			free(r->buf);
			r->buf = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = (r->len + n) * 2;
			char *nb;

			if (cap > body_limit(a))
				cap = body_limit(a);
			if ((nb = realloc(r->buf, cap)) == NULL)
				return MHD_NO;
			r->buf = nb;
			r->cap = cap;
		}
		memcpy(r->buf + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->too_large)
		return reply_error(c, 413 /* Content Too Large */, "TOO_LARGE",
		    NULL, "The request body is larger than %zu bytes.",
		    body_limit(a));
	return route(a, c, url, method, r);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL) {
		free(r->buf);
		free(r);
		*con_cls = NULL;
	}
}

/* ---- start and stop ---------------------------------------------------- */

/*
 * Binds the configured loopback address ourselves so that the port actually
 * bound (listen port 0) can be written to the ready file; the gate accepts
 * on it and hands checked connections to libmicrohttpd.
 * Errors: HV_EIO (detail names the address).
 */
hv_err
api_start(struct agent *a, struct hv_errdetail *d)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	const char *colon = strrchr(a->cfg.listen, ':');
	char host[40];
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (colon - a->cfg.listen >= (ptrdiff_t)sizeof(host))
		return hv_errset(d, HV_EBADCONFIG, "listen",
		    "listen = %s is "
		    "not an IPv4 address and port.",
		    a->cfg.listen);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - a->cfg.listen),
	    a->cfg.listen);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return hv_errset(d, HV_EBADCONFIG, "listen",
		    "listen = %s is "
		    "not an IPv4 address and port.",
		    a->cfg.listen);
	if ((a->listen_fd = socket(AF_INET,
	         SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(a->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	        sizeof(one)) != 0 ||
	    bind(a->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(a->listen_fd, 512) != 0 ||
	    getsockname(a->listen_fd, (struct sockaddr *)&sin, &sl) != 0)
		return hv_errset(d, HV_EIO, "listen",
		    "cannot listen on %s: "
		    "%s.",
		    a->cfg.listen, strerror(errno));
	snprintf(a->listen_addr, sizeof(a->listen_addr), "%s:%u", host,
	    (unsigned)ntohs(sin.sin_port));
	a->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
	        MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
	    0, NULL, NULL, handler, a, MHD_OPTION_NOTIFY_COMPLETED, completed,
	    a,
	    /*
	     * Connections come through the gate with a whole, authenticated
	     * head. Each is still bounded: one idle for AGENT_HTTP_TIMEOUT_S
	     * is closed (SSE streams send a keep-alive more often).
	     */
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)AGENT_HTTP_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)AGENT_HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)AGENT_HTTP_CONN_MEMORY,
	    MHD_OPTION_END);
	if (a->httpd == NULL)
		return hv_errset(d, HV_EIO, "listen",
		    "cannot start the HTTP "
		    "server on %s.",
		    a->listen_addr);
	return gate_start(a, d);
}

/*
 * Stops the gate (closing connections still sending their heads) and the
 * listening socket, then waits for every request in flight.
 */
void
api_stop(struct agent *a)
{
	gate_stop(a);
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		a->listen_fd = -1;
	}
	if (a->httpd != NULL) {
		MHD_stop_daemon(a->httpd);
		a->httpd = NULL;
	}
}
