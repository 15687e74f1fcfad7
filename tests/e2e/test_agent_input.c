/*
 * End-to-end tests of what the agent's local API and the broker refuse at
 * their edges: child identifiers in the lawful basis (SPEC §4.2), at the
 * agent and, sent directly, at the broker; and the agent's own checks on
 * request bodies. Real broker, real agents, requests over 127.0.0.1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_util.h"
#include "hv_wire.h"

#define WAIT_MS 10000

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

/* POSTs body to path and checks status, code and field (NULL: null). */
static json_t *
post_expect(struct h_agent *a, const char *path, const char *body, int want_st,
    const char *code, const char *field)
{
	char *url = h_fmt("%s%s", a->url, path), *resp = NULL;
	int st = h_http("POST", url, a->token, body, &resp);
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	json_t *e = json_object_get(j, "error");

	cr_assert_eq(st, want_st, "status %d, wanted %d: %s", st, want_st,
	    resp ? resp : "");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code,
	    "%s", resp);
	if (field == NULL)
		cr_assert(json_is_null(json_object_get(e, "field")), "%s",
		    resp);
	else
		cr_assert_str_eq(json_string_value(json_object_get(e, "field")),
		    field, "%s", resp);
	cr_assert(json_string_length(json_object_get(e, "message")) > 10);
	free(resp);
	free(url);
	return j;
}

/* The error message of a reply made by post_expect (borrowed). */
static const char *
message_of(json_t *j)
{
	return json_string_value(
	    json_object_get(json_object_get(j, "error"), "message"));
}

/* A REFERRAL from police to social care with the given basis text. */
static char *
referral(const char *justification, const char *decided_by, const char *child)
{
	return h_fmt(
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"9434765919\"},"
	    "\"basis\":{\"consent\":\"NOT_SOUGHT\",\"art6\":\"PUBLIC_TASK\","
	    "\"art9\":\"SAFEGUARDING\",\"justification\":\"%s\","
	    "\"decided_by\":\"%s\"},\"child\":%s,\"body\":{\"x\":1}}",
	    justification, decided_by, child);
}

/*
 * SPEC §4.2: decided_by is audited in clear, so it is a staff identifier;
 * a name, capitals, spaces or an NHS number are refused with BASIS_INVALID
 * naming basis.decided_by, for shares and decisions alike, the sentence
 * never repeating the value, and nothing is queued. The justification
 * travels sealed, so the agent no longer hunts it for identifiers.
 */
Test(agent_input, refuses_a_decided_by_that_is_not_a_staff_identifier,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	static const char *const bad[] = { "Zebedee Marker", "zebedee marker",
		"Duty.Officer", "DS Jane Smith", "943 476 5919",
		"dsl for 9434765919", NULL };
	char *body, *dec, id[33];
	json_t *j;

	for (size_t i = 0; bad[i] != NULL; i++) {
		body = referral("Seeking consent would place the child at "
		                "risk.",
		    bad[i], "{}");
		j = post_expect(pol, "/v1/messages", body, 400, "BASIS_INVALID",
		    "basis.decided_by");
		cr_assert_not_null(strstr(message_of(j), "staff identifier"),
		    "%s", message_of(j));
		cr_assert_null(strstr(message_of(j), bad[i]), "%s",
		    message_of(j));
		json_decref(j);
		free(body);
		dec = h_fmt(
		    "{\"type\":\"REFERRAL\",\"subject\":{\"nhs\":"
		    "\"9434765919\"},\"basis\":{\"consent\":\"REFUSED\","
		    "\"art6\":\"PUBLIC_TASK\",\"justification\":\"Threshold "
		    "not met after discussion with the DSL.\",\"decided_by\":"
		    "\"%s\"}}",
		    bad[i]);
		json_decref(post_expect(pol, "/v1/decisions", dec, 400,
		    "BASIS_INVALID", "basis.decided_by"));
		free(dec);
	}
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 1000));

	/* A staff identifier passes, whatever the sealed text says. */
	body = referral("Seeking consent would place the child at increased "
	                "risk of harm.",
	    "ppu.sgt-khan", "{}");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_status(pol, id, "accepted", NULL, WAIT_MS));
}

/* 1 when any regular file directly in dir holds needle. */
static int
dir_holds(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	cr_assert_not_null(d, "cannot open %s", dir);
	while (!found && (e = readdir(d)) != NULL) {
		char *p, *buf;
		size_t len = 0, cap = 0, n;
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		p = h_fmt("%s/%s", dir, e->d_name);
		fp = fopen(p, "rb");
		free(p);
		if (fp == NULL)
			continue;
		buf = NULL;
		for (;;) {
			if (len + 65536 > cap) {
				cap = cap * 2 + 65536;
				cr_assert_not_null(buf = realloc(buf, cap));
			}
			if ((n = fread(buf + len, 1, 65536, fp)) == 0)
				break;
			len += n;
		}
		fclose(fp);
		found = memmem(buf, len, needle, strlen(needle)) != NULL;
		free(buf);
	}
	closedir(d);
	return found;
}

/*
 * Submits env (already sealed and signed) as c and returns its receipt's
 * code, REJECTED expected; *msg gets a copy of the receipt's sentence.
 */
static char *
submit_rejected(struct hc_client *c, hv_envelope *env, char **msg)
{
	Haven__Frame *f;
	uint8_t *buf;
	size_t len;
	char *code;

	cr_assert_eq(hc_env_pack(env, &buf, &len), 0);
	cr_assert_eq(hc_submit(c, buf, len), 0);
	f = hc_wait_receipt(c, env->id, WAIT_MS);
	cr_assert_not_null(f, "no receipt");
	cr_assert_str_eq(hc_status(f), "REJECTED");
	code = strdup(hc_code(f));
	*msg = strdup(f->receipt->message);
	hv_frame_free(&f);
	free(buf);
	return code;
}

/*
 * The broker trusts no agent (SPEC §4.2): an envelope built by hand and
 * signed properly, whose decided_by is a child's name or whose
 * justification travels in clear, is REJECTED with BASIS_INVALID naming
 * the field; a HumanAck whose `by` is a name is refused too; and neither
 * the names nor the clear text are written to the broker's store (its
 * audit log included) or its log.
 */
Test(agent_input, broker_refuses_names_as_who_and_clear_justifications,
    .timeout = 60)
{
	static const char *const to[] = { AK_SOCIAL };
	static const char *const names[] = { "Zebedee Marker", "zebedee marker",
		"Zebedee", NULL };
	struct hc_client *c;
	hv_envelope env;
	char *code, *msg;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0, "see %s", P.broker_log);
	cr_assert_not_null(c = hc_connect(&P, AK_POLICE));
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS));
	for (size_t i = 0; names[i] != NULL; i++) {
		hc_env_init(c, &env, to, 1, "REFERRAL");
		snprintf(env.basis.decided_by, sizeof(env.basis.decided_by),
		    "%s", names[i]);
		cr_assert_eq(hc_env_seal(c, &env, "{}", 2), 0);
		code = submit_rejected(c, &env, &msg);
		cr_expect_str_eq(code, "BASIS_INVALID", "%s", msg);
		cr_expect_not_null(strstr(msg, "basis.decided_by"), "%s", msg);
		cr_expect_null(strstr(msg, "Zebedee"), "%s", msg);
		free(code);
		free(msg);
		hv_envelope_clear(&env);
	}

	/* A clear justification, signed with the rest, is refused too. */
	hc_env_init(c, &env, to, 1, "REFERRAL");
	cr_assert_eq(hc_env_seal(c, &env, "{}", 2), 0);
	snprintf(env.basis.justification, sizeof(env.basis.justification),
	    "Canary-Clear-Justification about 943-476-5919.");
	cr_assert_eq(hv_envelope_sign(&env, c->keys), HV_OK);
	code = submit_rejected(c, &env, &msg);
	cr_expect_str_eq(code, "BASIS_INVALID", "%s", msg);
	cr_expect_not_null(strstr(msg, "basis.justification"), "%s", msg);
	free(code);
	free(msg);
	hv_envelope_clear(&env);

	/* A HumanAck whose `by` is a name is refused (MALFORMED) too. */
	{
		uint8_t any[HV_ID_LEN];
		Haven__Frame *f;

		memset(any, 0x42, sizeof(any));
		cr_assert_eq(hc_human_ack(c, any, "Jane Smith", 0), 0);
		f = hc_wait_kind(c, HAVEN__FRAME__KIND_ERROR, WAIT_MS);
		cr_assert_not_null(f, "no answer to the HumanAck");
		cr_expect_str_eq(f->error->code, "MALFORMED");
		cr_expect_not_null(strstr(f->error->message,
		                       "staff identifier"),
		    "%s", f->error->message);
		cr_expect_null(strstr(f->error->message, "Jane"), "%s",
		    f->error->message);
		hv_frame_free(&f);
	}
	hc_close(&c);

	cr_assert_eq(h_broker_stop(&P), 0);
	cr_expect_not(dir_holds(P.broker_data, "Jane Smith"),
	    "an ack's by "
	    "reached the broker's store");
	cr_expect_not(dir_holds(P.broker_data, "Zebedee"),
	    "a name given as "
	    "decided_by reached the broker's store");
	cr_expect_not(dir_holds(P.broker_data, "zebedee"));
	cr_expect_not(dir_holds(P.broker_data, "Canary-Clear"),
	    "a clear "
	    "justification reached the broker's store");
	cr_expect_not(dir_holds(P.broker_data, "943-476-5919"));
	{
		char *log = h_read(P.broker_log);

		cr_expect(log == NULL ||
		        (strstr(log, "ebedee") == NULL &&
		            strstr(log, "Canary") == NULL &&
		            strstr(log, "5919") == NULL),
		    "a name or clear text reached the broker's log");
		free(log);
	}
	h_partnership_destroy(&P);
}

/* Replaces the first `from` in the file at path with `to`. */
static void
file_replace(const char *path, const char *from, const char *to)
{
	char *text = h_read(path), *at, *next;

	cr_assert_not_null(text, "cannot read %s", path);
	cr_assert_not_null(at = strstr(text, from), "%s lacks %s", path, from);
	*at = '\0';
	next = h_fmt("%s%s%s", text, to, at + strlen(from));
	cr_assert_eq(h_write(path, 0644, next), 0);
	free(next);
	free(text);
}

/*
 * An agent whose key is another node's (or no node's) in the directory
 * does not start: --check-config and a normal start both exit 1 with one
 * sentence naming the config file and both node ids.
 */
Test(agent_input, refuses_to_start_with_another_nodes_key, .timeout = 90)
{
	struct h_agent *a;
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_not_null(a = h_agent_add(&P, AK_POLICE, NULL));
	file_replace(a->conf, "keys/" AK_POLICE ".key",
	    "keys/" AK_HEALTH ".key");
	rc = h_sh(&out, 30, "%s --config %s --check-config",
	    h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, a->conf), "%s", out);
	cr_assert_not_null(strstr(out, AK_POLICE), "%s", out);
	cr_assert_not_null(strstr(out, AK_HEALTH), "%s", out);
	free(out);
	out = NULL;
	rc = h_sh(&out, 30, "%s --config %s --foreground", h_bin("haven-agent"),
	    a->conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, AK_HEALTH), "%s", out);
	free(out);
	out = NULL;

	/* A key the directory does not know at all. */
	rc = h_sh(&out, 30, "%s keygen --id stranger.x --out %s/stray",
	    h_bin("haven"), P.dir);
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	free(out);
	out = NULL;
	{
		char *stray = h_fmt("%s/stray/stranger.x.key", P.dir);

		file_replace(a->conf, "keys/" AK_HEALTH ".key", stray);
		free(stray);
	}
	rc = h_sh(&out, 30, "%s --config %s --check-config",
	    h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, AK_POLICE), "%s", out);
	cr_assert_not_null(strstr(out, "stranger.x.key"), "%s", out);
	free(out);
	h_partnership_destroy(&P);
}

/* A TCP connection to the agent's API port; asserts. */
static int
connect_api(struct h_agent *a)
{
	struct sockaddr_in sin;
	const char *colon = strrchr(a->url, ':');
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "cannot connect to %s", a->url);
	return fd;
}

/*
 * 1 once the peer has closed fd (EOF or reset), 0 if still open. Whatever
 * it answered before closing (a 408) is read and dropped.
 */
static int
closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[512];
	ssize_t n;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static size_t
count_keepalives(struct ak_sse *s)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (const char *p = s->buf; p && (p = strstr(p, ": keep-alive")); p++)
		n++;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/*
 * Slow-loris: 64 connections that each send part of a request line and
 * then nothing do not keep anyone else out — /v1/health still answers —
 * and the agent closes every one of them (the head deadline), while an
 * SSE stream, idle for longer than the idle time-out, stays open on its
 * keep-alives.
 */
Test(agent_input, stays_available_while_slow_clients_trickle_headers,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	static const char part[] = "GET /v1/health HTTP/1.1\r\nHost: 12";
	int fds[64], open_n;
	json_t *h = NULL;
	int64_t t0;
	struct ak_sse sse;

	for (size_t i = 0; i < 64; i++) {
		fds[i] = connect_api(pol);
		cr_assert_eq(send(fds[i], part, sizeof(part) - 1, MSG_NOSIGNAL),
		    (ssize_t)(sizeof(part) - 1));
	}
	cr_assert_eq(ak_get(pol, "/v1/health", &h), 200);
	/*
	 * Answered while every slow client still holds its connection: the
	 * answer did not wait for the agent to time them out.
	 */
	for (size_t i = 0; i < 64; i++)
		cr_assert(!closed_by_peer(fds[i]),
		    "slow connection %zu was "
		    "closed before /v1/health was answered",
		    i);
	cr_assert_str_eq(json_string_value(json_object_get(h, "node")),
	    AK_POLICE);
	json_decref(h);

	memset(&sse, 0, sizeof(sse));
	cr_assert_eq(ak_sse_start(&sse, pol), 0);

	t0 = hv_mono_ms();
	do {
		open_n = 0;
		for (size_t i = 0; i < 64; i++)
			if (fds[i] >= 0 && closed_by_peer(fds[i])) {
				close(fds[i]);
				fds[i] = -1;
			} else if (fds[i] >= 0)
				open_n++;
		if (open_n > 0)
			poll(NULL, 0, 200);
	} while (open_n > 0 && hv_mono_ms() - t0 < 25000);
	for (size_t i = 0; i < 64; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	cr_assert_eq(open_n, 0, "%d slow connections still open after 25 s",
	    open_n);

	/* Four keep-alives (5 s apart) outlast the 15 s idle time-out. */
	t0 = hv_mono_ms();
	while (count_keepalives(&sse) < 4 && !atomic_load(&sse.done) &&
	    hv_mono_ms() - t0 < 40000)
		poll(NULL, 0, 200);
	cr_assert(!atomic_load(&sse.done), "the idle SSE stream was closed");
	cr_assert_geq(count_keepalives(&sse), 4,
	    "too few keep-alives on the "
	    "SSE stream");
	ak_sse_stop(&sse);
}

/*
 * A body jansson refuses says why in the sentence — a number too large,
 * a member given twice, nesting too deep — without echoing the body.
 */
Test(agent_input, says_why_a_body_is_not_valid_json, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct {
		const char *body, *why;
	} cases[] = {
		{ "{\"to\":12345678901234567890}", "too big integer" },
		{ "{\"type\":\"REFERRAL\",\"type\":\"REFERRAL\"}",
		    "duplicate object key" },
		{ NULL, "depth" },
		{ "{\"child\":{\"name\":\"Amelia Hart}", "" },
	};
	char *deep = malloc(4 * 3000 + 8);

	cr_assert_not_null(deep);
	strcpy(deep, "{\"body\":");
	for (size_t i = 0; i < 3000; i++)
		strcat(deep, "[");
	cases[2].body = deep;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = post_expect(pol, "/v1/messages", cases[i].body, 400,
		    "BAD_REQUEST", NULL);
		const char *m = message_of(j);

		cr_assert_not_null(strstr(m, "not valid JSON"), "%s", m);
		cr_assert_not_null(strstr(m, cases[i].why), "%s", m);
		cr_assert_null(strstr(m, "1234567890"), "%s", m);
		cr_assert_null(strstr(m, "Amelia"), "%s", m);
		json_decref(j);
	}
	free(deep);
}

/*
 * Small API points: an unknown ack member is named in field; an empty
 * member name gets its own sentence; a deadline in the past is refused; an
 * over-long subject.local is INVALID_SUBJECT like any bad identifier.
 */
/* GETs path and checks status, code and field (NULL: null). */
static json_t *
get_expect(struct h_agent *a, const char *path, int want_st, const char *code,
    const char *field)
{
	char *url = h_fmt("%s%s", a->url, path), *resp = NULL;
	int st = h_http("GET", url, a->token, NULL, &resp);
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	json_t *e = json_object_get(j, "error");

	cr_assert_eq(st, want_st, "%s: status %d, wanted %d: %s", path, st,
	    want_st, resp ? resp : "");
	if (code != NULL) {
		cr_assert_str_eq(json_string_value(json_object_get(e, "code")),
		    code, "%s", resp);
		if (field == NULL)
			cr_assert(json_is_null(json_object_get(e, "field")),
			    "%s", resp);
		else
			cr_assert_str_eq(json_string_value(
			                     json_object_get(e, "field")),
			    field, "%s", resp);
	}
	free(resp);
	free(url);
	return j;
}

/*
 * A mistyped query parameter is refused naming it, as a mistyped body
 * member is: `?unack=1` silently ignored would list every message as if
 * the unacknowledged ones had been asked for, and `?page=2` would give the
 * first page again. The parameters each path does take still work.
 */
Test(agent_input, refuses_a_query_parameter_the_path_does_not_take,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_agent *sc = ak_agent(&P, AK_SOCIAL);
	json_t *j;
	const char *msg;

	j = get_expect(sc, "/v1/inbox?unack=1", 400, "BAD_REQUEST", "unack");
	msg = json_string_value(
	    json_object_get(json_object_get(j, "error"), "message"));
	cr_assert_not_null(strstr(msg, "unack is not a query parameter"), "%s",
	    msg);
	cr_assert_not_null(strstr(msg,
	                       "unacked, since, limit, order and "
	                       "cursor"),
	    "%s", msg);
	json_decref(j);
	json_decref(get_expect(sc, "/v1/messages?limit=5&page=2", 400,
	    "BAD_REQUEST", "page"));
	json_decref(get_expect(sc, "/v1/children?nhs=9434765919&name=x", 400,
	    "BAD_REQUEST", "name"));
	/* A name that cannot be quoted is refused without being repeated. */
	json_decref(get_expect(sc, "/v1/inbox?%C3%A9t%22e=1", 400,
	    "BAD_REQUEST", NULL));
	json_decref(get_expect(sc,
	    "/v1/inbox?unacked=1&since=2026-01-01&limit=5&order=newest", 200,
	    NULL, NULL));
	json_decref(
	    get_expect(sc, "/v1/messages?limit=5&offset=0", 200, NULL, NULL));
	json_decref(
	    get_expect(sc, "/v1/children?nhs=9434765919", 200, NULL, NULL));
}

Test(agent_input, names_the_member_at_fault_in_small_cases, .init = setup,
    .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *sc = ak_agent(&P, AK_SOCIAL);
	char *body, *path, *long_local, id[33];
	json_t *j;

	/* A message to social care, so there is something to ack. */
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "t", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_inbox(sc, id, WAIT_MS, NULL));
	path = h_fmt("/v1/inbox/%s/ack", id);
	j = post_expect(sc, path, "{\"by\":\"dsl.jones\",\"nite\":\"x\"}", 400,
	    "BAD_REQUEST", "nite");
	cr_assert_not_null(strstr(message_of(j), "nite"), "%s", message_of(j));
	json_decref(j);
	j = post_expect(sc, path, "{\"by\":\"dsl.jones\",\"\":1}", 400,
	    "BAD_REQUEST", NULL);
	cr_assert_not_null(strstr(message_of(j), "empty name"), "%s",
	    message_of(j));
	json_decref(j);
	/*
	 * `by` goes to the broker's audit log: a staff identifier, never a
	 * name or free text (SPEC §4.2).
	 */
	j = post_expect(sc, path, "{\"by\":\"re 943 476 5919\"}", 400,
	    "BAD_REQUEST", "by");
	cr_assert_null(strstr(message_of(j), "5919"), "%s", message_of(j));
	json_decref(j);
	j = post_expect(sc, path, "{\"by\":\"Jane Smith\"}", 400, "BAD_REQUEST",
	    "by");
	cr_assert_not_null(strstr(message_of(j), "staff identifier"), "%s",
	    message_of(j));
	cr_assert_null(strstr(message_of(j), "Jane"), "%s", message_of(j));
	json_decref(j);
	free(path);

	j = post_expect(pol, "/v1/messages", "{\"\":1}", 400, "BAD_REQUEST",
	    NULL);
	cr_assert_not_null(strstr(message_of(j), "empty name"), "%s",
	    message_of(j));
	json_decref(j);
	/* An empty-named member inside basis names basis. */
	{
		char *b2 =
		    h_fmt("{\"to\":[\"" AK_SOCIAL "\"],\"type\":"
		          "\"REFERRAL\",\"priority\":\"URGENT\",\"subject\":"
		          "{\"nhs\":\"9434765919\"},\"basis\":{\"\":\"x\","
		          "\"art6\":\"PUBLIC_TASK\",\"consent\":\"OBTAINED\","
		          "\"decided_by\":\"a.b\"}}");

		j = post_expect(pol, "/v1/messages", b2, 400, "BAD_REQUEST",
		    "basis");
		cr_assert_not_null(strstr(message_of(j), "empty name"), "%s",
		    message_of(j));
		json_decref(j);
		free(b2);
	}

	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "t",
	    ",\"deadline\":\"2020-01-01T00:00:00Z\"");
	j = post_expect(pol, "/v1/messages", body, 400, "BAD_REQUEST",
	    "deadline");
	cr_assert_not_null(strstr(message_of(j), "past"), "%s", message_of(j));
	json_decref(j);
	free(body);
	/* A deadline to come is taken. */
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "t",
	    ",\"deadline\":\"2099-01-01T00:00:00Z\"");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);

	long_local = malloc(400);
	cr_assert_not_null(long_local);
	strcpy(long_local, "police.avon:");
	memset(long_local + 12, 'x', 300);
	long_local[312] = '\0';
	body = h_fmt(
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"local\":\"%s\"}," AK_BASIS
	    "}",
	    long_local);
	json_decref(post_expect(pol, "/v1/messages", body, 400,
	    "INVALID_SUBJECT", "subject.local"));
	free(body);
	free(long_local);
	cr_assert(h_alive(pol->pid) && h_alive(sc->pid));
}

/*
 * max_message_bytes bounds what an agent sends, not what it receives: a
 * recipient configured with a small limit still takes a larger message the
 * broker accepted, instead of dropping the session on every delivery.
 */
static void
setup_small_recipient(void)
{
	const char *const extra[] = { NULL, NULL, NULL,
		"max_message_bytes = 2048\n" };

	cr_assert_eq(ak_setup(&P, extra), 0, "partnership did not start");
}

Test(agent_input, a_small_limit_at_the_recipient_does_not_block_delivery,
    .init = setup_small_recipient, .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *sc = ak_agent(&P, AK_SOCIAL);
	char *big = malloc(20001), *body, id[33], id2[33];

	cr_assert_not_null(big);
	memset(big, 'b', 20000);
	big[20000] = '\0';
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", big, "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	free(big);
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "small",
	    "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id2), 202);
	free(body);
	cr_assert(ak_wait_inbox(sc, id, 30000, NULL),
	    "the larger message never reached the recipient");
	cr_assert(ak_wait_inbox(sc, id2, 30000, NULL),
	    "the message behind it never reached the recipient");
}
