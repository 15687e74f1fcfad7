/*
 * End-to-end tests of the agent's HTTP edge, with a raw socket client: a
 * slow-loris of more connections than the API serves does not keep a
 * valid request out, malformed HTTP gets Haven's JSON error (never
 * libmicrohttpd's HTML, never a doubled status line), and the bearer
 * token is compared over the whole header value. Real broker and agents
 * on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"
#include "hv_util.h"

#ifndef LORIS_N
#define LORIS_N 520 /* more than the API's 512 connections */
#endif
#define ANSWER_MS 20000 /* a valid request must be answered by then */

static struct h_partnership P;

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

static void
setup(void)
{
	cr_assert_eq(ak_setup(&P, NULL), 0, "partnership did not start");
}

static void
api_addr(struct h_agent *a, struct sockaddr_in *sin)
{
	const char *colon = strrchr(a->url, ':');

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A blocking TCP connection to the agent's API port, or -1. */
static int
connect_api(struct h_agent *a)
{
	struct sockaddr_in sin;
	int fd;

	api_addr(a, &sin);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Sends req[0..len) on a new connection and reads until the agent closes
 * it or end_ms (monotonic) passes. The answer is malloc'd ("" for none).
 */
static char *
exchange_until(struct h_agent *a, const char *req, size_t len, int64_t end_ms)
{
	size_t cap = 65536, n = 0;
	char *out = calloc(1, cap);
	int fd = connect_api(a);

	cr_assert_not_null(out);
	if (fd < 0)
		return out;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return out;
	}
	while (hv_mono_ms() < end_ms && n + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((k = recv(fd, out + n, cap - 1 - n, 0)) <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	return out;
}

static char *
exchange(struct h_agent *a, const char *req, size_t len)
{
	return exchange_until(a, req, len, hv_mono_ms() + 10000);
}

/* The status of an answer's first line, or 0. */
static int
status_of(const char *resp)
{
	int st = 0;

	if (sscanf(resp, "HTTP/1.1 %d ", &st) != 1)
		return 0;
	return st;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * Asserts that resp is one HTTP answer with status st whose body is
 * Haven's JSON error with code and a null field.
 */
static void
expect_json_error(const char *resp, int st, const char *code)
{
	const char *body = strstr(resp, "\r\n\r\n");
	json_t *j, *e;

	cr_assert_eq(status_of(resp), st, "wanted %d, got: %s", st, resp);
	cr_assert_eq(count_of(resp, "\nHTTP/1."), 0,
	    "more than one status "
	    "line: %s",
	    resp);
	cr_assert_null(strstr(resp, "<html"), "an HTML answer: %s", resp);
	cr_assert_not_null(strstr(resp, "Content-Type: application/json"), "%s",
	    resp);
	cr_assert_not_null(body, "no body: %s", resp);
	j = json_loads(body + 4, 0, NULL);
	cr_assert_not_null(j, "body is not JSON: %s", resp);
	e = json_object_get(j, "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code,
	    "%s", resp);
	cr_assert(json_is_null(json_object_get(e, "field")), "%s", resp);
	cr_assert_gt(strlen(json_string_value(json_object_get(e, "message"))),
	    10, "%s", resp);
	json_decref(j);
}

/* A GET /v1/health request with the given Authorization value. */
static char *
health_request(const char *auth, size_t auth_len, size_t *len)
{
	static const char a[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n"
	                        "Authorization: ";
	static const char b[] = "\r\nConnection: close\r\n\r\n";
	char *req = malloc(sizeof(a) + auth_len + sizeof(b));

	cr_assert_not_null(req);
	memcpy(req, a, sizeof(a) - 1);
	memcpy(req + sizeof(a) - 1, auth, auth_len);
	memcpy(req + sizeof(a) - 1 + auth_len, b, sizeof(b));
	*len = sizeof(a) - 1 + auth_len + sizeof(b) - 1;
	return req;
}

/* ---- slow-loris -------------------------------------------------------- */

/*
 * The attacker: LORIS_N connections, each sending a request line and then
 * a header value one byte per round, never ending the head. A connection the agent
 * closes is opened again at once, so the attack goes on for as long as
 * the test runs.
 */
struct loris {
	struct sockaddr_in addr;
	int fds[LORIS_N];
	size_t sent[LORIS_N];
	atomic_int stop;
	atomic_int rounds;
	atomic_long reopened;
	pthread_t thread;
};

static const char loris_part[] = "GET /v1/health HTTP/1.1\r\nHost: 1234567";

static int
loris_open(struct loris *l)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&l->addr, sizeof(l->addr)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *
loris_run(void *arg)
{
	struct loris *l = arg;

	while (!atomic_load(&l->stop)) {
		for (size_t i = 0; i < LORIS_N; i++) {
			struct pollfd p = { .fd = l->fds[i], .events = POLLIN };

			/* Any answer (a refusal) or a close: open again. */
			if (l->fds[i] >= 0 && poll(&p, 1, 0) > 0) {
				close(l->fds[i]);
				l->fds[i] = -1;
			}
			if (l->fds[i] < 0) {
				l->fds[i] = loris_open(l);
				l->sent[i] = 0;
				atomic_fetch_add(&l->reopened, 1);
				continue;
			}
			/* The request line, then a header value without end. */
			if (send(l->fds[i],
			        l->sent[i] < sizeof(loris_part) - 1 ?
			            loris_part + l->sent[i] :
			            "7",
			        1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
				l->sent[i]++;
		}
		atomic_fetch_add(&l->rounds, 1);
		poll(NULL, 0, 100);
	}
	for (size_t i = 0; i < LORIS_N; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	return NULL;
}

/*
 * 520 connections trickle a request line a byte at a time and never finish
 * it, and every one the agent closes is opened again; meanwhile a request
 * with the token, retried while the deadline allows, must be answered 200.
 */
Test(agent_http, answers_a_valid_request_while_520_connections_trickle_headers,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct loris *l = calloc(1, sizeof(*l));
	char *auth = h_fmt("Bearer %s", pol->token), *req, *resp = NULL;
	size_t len;
	int64_t t0, end;
	int st = 0, tries = 0;

	cr_assert_not_null(l);
	api_addr(pol, &l->addr);
	for (size_t i = 0; i < LORIS_N; i++) {
		l->fds[i] = connect_api(pol);
		cr_assert_geq(l->fds[i], 0, "cannot open connection %zu", i);
		cr_assert_eq(fcntl(l->fds[i], F_SETFL, O_NONBLOCK), 0);
	}
	cr_assert_eq(pthread_create(&l->thread, NULL, loris_run, l), 0);
	/* The attack is under way: every connection sent some bytes. */
	end = hv_mono_ms() + 10000;
	while (atomic_load(&l->rounds) < 3 && hv_mono_ms() < end)
		poll(NULL, 0, 20);
	cr_assert_geq(atomic_load(&l->rounds), 3);

	req = health_request(auth, strlen(auth), &len);
	t0 = hv_mono_ms();
	end = t0 + ANSWER_MS;
	while (st != 200 && hv_mono_ms() < end) {
		free(resp);
		resp = exchange_until(pol, req, len, end);
		st = status_of(resp);
		if (st != 200 && tries++ > 0)
			poll(NULL, 0, 50); /* turned away: try again */
	}
	atomic_store(&l->stop, 1);
	pthread_join(l->thread, NULL);
	cr_assert_eq(st, 200,
	    "no answer to a valid request within %d ms "
	    "during the attack (%d tries; last: %s)",
	    ANSWER_MS, tries, resp ? resp : "");
	cr_assert_not_null(strstr(resp, "\"node\":\"police.avon\""), "%s",
	    resp);
	cr_log_info("answered in %lld ms after %d turned-away tries; the "
	            "attacker reopened %ld connections",
	    (long long)(hv_mono_ms() - t0), tries, atomic_load(&l->reopened));
	free(resp);
	free(req);
	free(auth);
	free(l);
}

/*
 * A connection that never finishes its request head is answered 408 with
 * Haven's error object and closed, however steadily it trickles.
 */
Test(agent_http, closes_a_connection_whose_head_never_completes_with_408,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	int fd = connect_api(pol);
	char buf[4096];
	size_t n = 0, sent = 0;
	int64_t end = hv_mono_ms() + ANSWER_MS;
	int closed = 0;

	cr_assert_geq(fd, 0);
	while (!closed && hv_mono_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (sent < sizeof(loris_part) - 1 &&
		    send(fd, loris_part + sent, 1, MSG_NOSIGNAL) == 1)
			sent++;
		if (poll(&p, 1, 200) <= 0)
			continue;
		k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (k <= 0)
			closed = 1;
		else
			n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	cr_assert(closed, "the agent kept a half-sent request open");
	expect_json_error(buf, 408, "BAD_REQUEST");
}

/*
 * A client that sends part of a head and then shuts its side is closed at
 * once, without the 408 the head deadline would bring: the agent does not
 * wait (spinning on the bytes that stay readable) for a head that cannot
 * come.
 */
Test(agent_http, closes_a_half_sent_head_whose_client_stopped_sending,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	int fd = connect_api(pol);
	char buf[1024];
	ssize_t k;
	size_t n = 0;
	int64_t end = hv_mono_ms() + ANSWER_MS;

	cr_assert_geq(fd, 0);
	cr_assert_eq(send(fd, loris_part, sizeof(loris_part) - 1, MSG_NOSIGNAL),
	    (ssize_t)(sizeof(loris_part) - 1));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	for (k = 1; k > 0 && hv_mono_ms() < end;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
			n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	cr_assert_leq(k, 0, "still open after %d ms", ANSWER_MS);
	cr_assert_eq(n, 0, "answered instead of closing: %s", buf);
}

/*
 * A client with the token that trickles its body a byte at a time (never
 * idle long enough for the idle time-out) is cut off by the body deadline.
 */
Test(agent_http, closes_a_connection_whose_body_trickles_past_its_deadline,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *head =
	    h_fmt("POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	          "Authorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n",
	        pol->token);
	int fd = connect_api(pol), closed = 0;
	int64_t end = hv_mono_ms() + 40000;
	size_t sent = 0;

	cr_assert_geq(fd, 0);
	cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL),
	    (ssize_t)strlen(head));
	while (!closed && sent < 1000 && hv_mono_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[512];

		if (send(fd, " ", 1, MSG_NOSIGNAL) == 1)
			sent++;
		if (poll(&p, 1, 250) > 0 &&
		    recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			closed = 1;
	}
	close(fd);
	free(head);
	cr_assert(closed,
	    "a trickled body kept its connection (%zu bytes "
	    "sent)",
	    sent);
	cr_assert_lt(sent, 1000);
}

/* ---- malformed HTTP ---------------------------------------------------- */

Test(agent_http, refuses_a_negative_content_length_with_one_status_line,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *req = h_fmt("POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	                  "Authorization: Bearer %s\r\nContent-Length: -5\r\n"
	                  "Connection: close\r\n\r\n",
	    pol->token);
	char *resp = exchange(pol, req, strlen(req));

	expect_json_error(resp, 400, "BAD_REQUEST");
	cr_assert_not_null(strstr(resp, "Content-Length"), "%s", resp);
	free(resp);
	free(req);
}

Test(agent_http, refuses_two_different_content_lengths_with_400, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *req = h_fmt("POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	                  "Authorization: Bearer %s\r\nContent-Length: 2\r\n"
	                  "Content-Length: 3\r\nConnection: close\r\n\r\n{}x",
	    pol->token);
	char *resp = exchange(pol, req, strlen(req));

	expect_json_error(resp, 400, "BAD_REQUEST");
	cr_assert_not_null(strstr(resp, "more than once"), "%s", resp);
	free(resp);
	free(req);
}

/*
 * What libmicrohttpd answered with its own HTML page — a header line
 * without a colon, another HTTP version, a chunked body it cannot decode —
 * now gets Haven's error object.
 */
Test(agent_http, answers_malformed_http_with_haven_json_not_html, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	static const struct {
		const char *fmt;
		int status;
	} cases[] = {
		{ "GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n"
		  "Authorization: Bearer %s\r\n\r\n",
		    400 },
		{ "GET /v1/health HTTP/9.9\r\nHost: x\r\n"
		  "Authorization: Bearer %s\r\n\r\n",
		    505 },
		{ "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
		  "Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n"
		  "\r\nzz\r\n",
		    411 },
		{ "GET /v1/health HTTP/1.1\r\nHost: x\r\n"
		  "Authorization: Bearer %s\r\nX-A: 1\r\n\tfolded\r\n\r\n",
		    400 },
		{ "GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: "
		  "99999999999999999999999\r\nAuthorization: Bearer %s\r\n\r\n",
		    413 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *req, *resp;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		req = h_fmt(cases[i].fmt, pol->token);
#pragma GCC diagnostic pop
		resp = exchange(pol, req, strlen(req));
		expect_json_error(resp, cases[i].status,
		    cases[i].status == 413 ? "TOO_LARGE" : "BAD_REQUEST");
		free(resp);
		free(req);
	}
}

/*
 * The token is compared over the header value's full length: a NUL and
 * anything after it, or any other trailing junk, is not the token.
 */
Test(agent_http, refuses_a_token_with_anything_after_it_with_401, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	const char *const tails[] = { "\0junk", "\0", " junk", "x", ";",
		"\t\t.", NULL };
	size_t tlen[] = { 5, 1, 5, 1, 1, 3 };
	char auth[256], *req, *resp;
	size_t base, len;

	base = (size_t)snprintf(auth, sizeof(auth), "Bearer %s", pol->token);
	req = health_request(auth, base, &len);
	resp = exchange(pol, req, len);
	cr_assert_eq(status_of(resp), 200, "the token itself: %s", resp);
	free(resp);
	free(req);
	for (size_t i = 0; tails[i] != NULL; i++) {
		memcpy(auth + base, tails[i], tlen[i]);
		req = health_request(auth, base + tlen[i], &len);
		resp = exchange(pol, req, len);
		expect_json_error(resp, 401, "UNAUTHORIZED");
		free(resp);
		free(req);
	}
}

/*
 * A connection handed on by the gate keeps everything the client sent: a
 * body that came with the head is read, and a second request on the same
 * connection is answered too.
 */
Test(agent_http, keeps_the_body_and_the_connection_after_checking_the_head,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *req = h_fmt(
	    "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\nContent-Length: 8\r\n\r\n"
	    "{\"to\":1}"
	    "GET /v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
	    "Connection: close\r\n\r\n",
	    pol->token, pol->token);
	char *resp = exchange(pol, req, strlen(req));

	cr_assert_eq(status_of(resp), 400, "%s", resp);
	cr_assert_not_null(strstr(resp, "\"field\":\"to\""),
	    "the body was "
	    "not read: %s",
	    resp);
	cr_assert_not_null(strstr(resp, "HTTP/1.1 200 OK"),
	    "no second "
	    "answer: %s",
	    resp);
	cr_assert_not_null(strstr(resp, "\"node\":\"police.avon\""), "%s",
	    resp);
	free(resp);
	free(req);
}
