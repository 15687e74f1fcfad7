/*
 * End-to-end tests of haven-agent's local API (SPEC §7, docs/API.md): real
 * broker, four real agents, requests over HTTP on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"
#include "hv_auditlog.h"
#include "hv_store.h"
#include "hv_util.h"

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

struct flow {
	const char *from;
	const char *to[3];
	const char *type;
	const char *priority;
	const char *more;
};

/*
 * Every flow of SPEC §4.1 that the sample agreement allows reaches each
 * recipient, verified and decrypted there, and the sender's timeline shows
 * it delivered to each.
 */
Test(agent, delivers_every_allowed_flow_decrypted_at_the_recipient,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct flow flows[] = {
		{ AK_POLICE, { AK_SCHOOL, AK_SOCIAL },
		    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT",
		    ",\"flags\":[\"do_not_contact_family\"]" },
		{ AK_HEALTH, { AK_SOCIAL }, "UNSCHEDULED_CARE_ATTENDANCE",
		    "URGENT", "" },
		{ AK_SCHOOL, { AK_SOCIAL }, "REFERRAL", "URGENT", "" },
		{ AK_POLICE, { AK_SOCIAL }, "REFERRAL", "ROUTINE", "" },
		{ AK_SOCIAL, { AK_POLICE, AK_HEALTH, AK_SCHOOL },
		    "INFO_REQUEST", "URGENT", ",\"deadline\":\"RED\"" },
		{ AK_SOCIAL, { AK_POLICE, AK_HEALTH, AK_SCHOOL },
		    "STRATEGY_DISCUSSION", "URGENT", "" },
		{ AK_SOCIAL, { AK_POLICE, AK_HEALTH, AK_SCHOOL },
		    "CP_CONFERENCE_INVITATION", "ROUTINE", "" },
		{ AK_SOCIAL, { AK_HEALTH, AK_SCHOOL, AK_POLICE },
		    "CP_PLAN_START", "ROUTINE", "" },
		{ AK_SOCIAL, { AK_HEALTH, AK_SCHOOL, AK_POLICE }, "CP_PLAN_END",
		    "ROUTINE", "" },
		{ AK_HEALTH, { AK_POLICE, AK_SCHOOL, AK_SOCIAL },
		    "MISSING_CHILD_ALERT", "IMMEDIATE", "" },
	};
	size_t nf = sizeof(flows) / sizeof(flows[0]);
	char ids[16][33], req_id[33] = "";

	for (size_t i = 0; i < nf; i++) {
		char to[256] = "[", tag[16];
		char *body;

		for (int k = 0; k < 3 && flows[i].to[k]; k++)
			snprintf(to + strlen(to), sizeof(to) - strlen(to),
			    "%s\"%s\"", k ? "," : "", flows[i].to[k]);
		strcat(to, "]");
		snprintf(tag, sizeof(tag), "f%zu", i);
		body = ak_message(to, flows[i].type, flows[i].priority, tag,
		    flows[i].more);
		cr_assert_eq(ak_post(ak_agent(&P, flows[i].from),
		                 "/v1/messages", body, ids[i]),
		    202,
		    "%s %s was not "
		    "accepted",
		    flows[i].from, flows[i].type);
		free(body);
		if (strcmp(flows[i].type, "INFO_REQUEST") == 0)
			snprintf(req_id, sizeof(req_id), "%s", ids[i]);
	}

	/*
	 * Police answer the request once they have it: INFO_RESPONSE naming it
	 * in reply_to (an agent refuses to answer a request it never got).
	 */
	{
		char more[80], *body;

		cr_assert(ak_wait_inbox(ak_agent(&P, AK_POLICE), req_id, 20000,
		              NULL),
		    "the INFO_REQUEST never reached the police");

		snprintf(more, sizeof(more), ",\"reply_to\":\"%s\"", req_id);
		body = ak_message("[\"" AK_SOCIAL "\"]", "INFO_RESPONSE",
		    "URGENT", "resp", more);
		cr_assert_eq(ak_post(ak_agent(&P, AK_POLICE), "/v1/messages",
		                 body, ids[nf]),
		    202);
		free(body);
	}

	for (size_t i = 0; i <= nf; i++) {
		const struct flow *f = i < nf ?
		    &flows[i] :
		    &(struct flow){ AK_POLICE, { AK_SOCIAL }, "INFO_RESPONSE",
			    "URGENT", "" };
		char tag[16];

		snprintf(tag, sizeof(tag), i < nf ? "f%zu" : "resp", i);
		for (int k = 0; k < 3 && f->to[k]; k++) {
			json_t *m = NULL;
			char want[32];

			cr_assert(ak_wait_inbox(ak_agent(&P, f->to[k]), ids[i],
			              20000, &m),
			    "%s %s never reached %s", f->from, f->type,
			    f->to[k]);
			snprintf(want, sizeof(want), "Child %s", tag);
			cr_assert_str_eq(json_string_value(
			                     json_object_get(json_object_get(m,
			                                         "child"),
			                         "name")),
			    want);
			snprintf(want, sizeof(want), "Body %s", tag);
			cr_assert_str_eq(json_string_value(
			                     json_object_get(json_object_get(m,
			                                         "body"),
			                         "summary")),
			    want);
			cr_assert_str_eq(json_string_value(
			                     json_object_get(m, "sender")),
			    f->from);
			cr_assert_str_eq(json_string_value(
			                     json_object_get(m, "type")),
			    f->type);
			cr_assert_str_eq(json_string_value(
			                     json_object_get(m, "subject")),
			    "nhs:9434765919");
			/* The handling flag comes before anything else. */
			cr_assert_str_eq(json_object_iter_key(
			                     json_object_iter(m)),
			    "do_not_contact_family");
			cr_assert_eq(json_is_true(json_object_get(m,
			                 "do_not_contact_family")),
			    i == 0);
			if (strcmp(f->type, "INFO_REQUEST") == 0)
				cr_assert_str_eq(
				    json_string_value(
				        json_object_get(json_object_get(m,
				                            "deadline"),
				            "rag")),
				    "RED");
			if (i == nf)
				cr_assert_str_eq(json_string_value(
				                     json_object_get(m,
				                         "reply_to")),
				    req_id);
			json_decref(m);
			cr_assert(ak_wait_status(ak_agent(&P, f->from), ids[i],
			              "delivered", f->to[k], 20000),
			    "%s never saw %s "
			    "delivered to %s",
			    f->from, f->type, f->to[k]);
		}
	}
	cr_assert(ak_wait_status(ak_agent(&P, AK_POLICE), ids[0], "accepted",
	    NULL, 1000));
}

static void
expect_error(int st, int want_st, const char *resp, const char *code,
    const char *field)
{
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	json_t *e = json_object_get(j, "error");

	cr_assert_eq(st, want_st, "status %d, wanted %d: %s", st, want_st,
	    resp ? resp : "");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
	if (field == NULL)
		cr_assert(json_is_null(json_object_get(e, "field")));
	else
		cr_assert_str_eq(json_string_value(json_object_get(e, "field")),
		    field);
	cr_assert(json_string_length(json_object_get(e, "message")) > 10);
	json_decref(j);
}

static void
post_expect(struct h_agent *a, const char *body, int want_st, const char *code,
    const char *field)
{
	char *url = h_fmt("%s/v1/messages", a->url), *resp = NULL;
	int st = h_http("POST", url, a->token, body, &resp);

	expect_error(st, want_st, resp, code, field);
	free(resp);
	free(url);
}

static void
setup_small(void)
{
	const char *extra[4] = { "max_message_bytes = 4096\n", NULL, NULL,
		NULL };

	cr_assert_eq(ak_setup(&P, extra), 0, "partnership did not start");
}

/*
 * Requests without the token, bad JSON, a missing or incomplete basis, a
 * bad NHS number, an oversize payload and a share the agreement forbids
 * are refused by the agent with the code and the field; nothing is queued.
 */
Test(agent, refuses_bad_requests_naming_the_code_and_field, .init = setup_small,
    .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	const char *paths[][2] = {
		{ "GET", "/v1/health" },
		{ "GET", "/v1/inbox" },
		{ "GET", "/v1/alerts/stream" },
		{ "POST", "/v1/messages" },
		{ "POST", "/v1/decisions" },
		{ "GET", "/v1/messages/00112233445566778899aabbccddeeff" },
		{ "POST", "/v1/inbox/00112233445566778899aabbccddeeff/ack" },
		{ "GET", "/v1/nowhere" },
	};
	char *url, *resp = NULL, *body;
	int st;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		url = h_fmt("%s%s", pol->url, paths[i][1]);
		st = h_http(paths[i][0], url, NULL, "{}", &resp);
		expect_error(st, 401, resp, "UNAUTHORIZED", NULL);
		free(resp);
		st = h_http(paths[i][0], url, "not-the-token-at-all", "{}",
		    &resp);
		expect_error(st, 401, resp, "UNAUTHORIZED", NULL);
		free(resp);
		free(url);
	}

	post_expect(pol, "{\"to\": [", 400, "BAD_REQUEST", NULL);
	post_expect(pol, "[1,2]", 400, "BAD_REQUEST", NULL);
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"9434765919\"}}",
	    400, "BASIS_INVALID", "basis");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"9434765919\"},"
	    "\"basis\":{\"consent\":\"OBTAINED\",\"decided_by\":\"pc.x\"}}",
	    400, "BASIS_INVALID", "basis.art6");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"9434765919\"},"
	    "\"basis\":{\"consent\":\"REFUSED\",\"art6\":\"PUBLIC_TASK\","
	    "\"justification\":\"short\",\"decided_by\":\"pc.x\"}}",
	    400, "BASIS_INVALID", "basis.justification");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"943 476 5918\"}," AK_BASIS
	    "}",
	    400, "INVALID_SUBJECT", "subject.nhs");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\",\"nobody.here\"],"
	    "\"type\":\"REFERRAL\",\"priority\":\"URGENT\",\"subject\":"
	    "{\"nhs\":\"9434765919\"}," AK_BASIS "}",
	    400, "UNKNOWN_RECIPIENT", "to[1]");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\",\"Bad Id\"],"
	    "\"type\":\"REFERRAL\",\"priority\":\"URGENT\",\"subject\":"
	    "{\"nhs\":\"9434765919\"}," AK_BASIS "}",
	    400, "BAD_REQUEST", "to[1]");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"SOON\",\"subject\":{\"nhs\":\"9434765919\"}," AK_BASIS
	    "}",
	    400, "BAD_REQUEST", "priority");
	post_expect(pol,
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"9434765919\"}," AK_BASIS
	    ",\"colour\":\"red\"}",
	    400, "BAD_REQUEST", "colour");
	/* Police may not send a REFERRAL to a school. */
	body = ak_message("[\"" AK_SCHOOL "\"]", "REFERRAL", "URGENT", "x", "");
	post_expect(pol, body, 400, "POLICY_DENIED", "to[0]");
	free(body);
	/* A payload over max_message_bytes (4096 here). */
	{
		char *big = malloc(6001);

		memset(big, 'a', 6000);
		big[6000] = '\0';
		body = h_fmt("{\"to\":[\"" AK_SOCIAL "\"],\"type\":"
		             "\"REFERRAL\",\"priority\":\"URGENT\",\"subject\":"
		             "{\"nhs\":\"9434765919\"}," AK_BASIS ",\"body\":"
		             "{\"text\":\"%s\"}}",
		    big);
		post_expect(pol, body, 400, "TOO_LARGE", NULL);
		free(body);
		free(big);
		/* A request body far over the limit is refused unparsed. */
		big = malloc(200001);
		memset(big, ' ', 200000);
		big[0] = '{';
		big[200000] = '\0';
		post_expect(pol, big, 413, "TOO_LARGE", NULL);
		free(big);
	}
	/* Unknown ids and methods. */
	url = h_fmt("%s/v1/inbox/00112233445566778899aabbccddeeff", pol->url);
	st = h_http("GET", url, pol->token, NULL, &resp);
	expect_error(st, 404, resp, "NOT_FOUND", NULL);
	free(resp);
	free(url);
	url = h_fmt("%s/v1/health", pol->url);
	st = h_http("DELETE", url, pol->token, NULL, &resp);
	expect_error(st, 405, resp, "METHOD_NOT_ALLOWED", NULL);
	free(resp);
	free(url);

	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 1000));
	{
		json_t *h = NULL;

		cr_assert_eq(ak_get(pol, "/v1/health", &h), 200);
		cr_assert_eq(json_integer_value(
		                 json_object_get(h, "directory_version")),
		    1);
		/* null until the first audit tree head is verified. */
		cr_assert(json_is_null(json_object_get(h, "tree_head")) ||
		    json_is_true(
		        json_object_get(json_object_get(h, "tree_head"),
		            "verified")));
		cr_assert(json_is_true(
		    json_object_get(json_object_get(h, "integrity"), "ok")));
		json_decref(h);
	}
	cr_assert(h_alive(pol->pid), "the agent crashed on bad input");
}

/*
 * The token is checked on the request's headers: a POST without it that
 * announces a large body, none of which is sent, is answered 401 at once
 * instead of the agent waiting to read (and hold) that body.
 */
Test(agent, refuses_a_request_without_the_token_before_reading_its_body,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	static const char req[] =
	    "POST /v1/messages HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Content-Length: 1000000\r\n\r\n{\"to\":";
	struct sockaddr_in sin;
	char buf[4096] = "";
	size_t got = 0;
	int64_t end;
	unsigned port = 0;
	int fd;

	cr_assert_eq(sscanf(pol->url, "http://127.0.0.1:%u", &port), 1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	/* Until the error object's end, end of file, or the deadline. */
	for (end = hv_mono_ms() + 5000;
	     got < sizeof(buf) - 1 && strstr(buf, "}}") == NULL;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int64_t left = end - hv_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
	buf[got] = '\0';
	close(fd);
	cr_assert(strncmp(buf, "HTTP/1.1 401", 12) == 0,
	    "no 401 within 5 s "
	    "of the headers; the agent answered: '%.80s'",
	    buf);
	cr_assert_not_null(strstr(buf, "UNAUTHORIZED"), "%s", buf);

	/* A client that does send a large body still reads the 401. */
	{
		char *big = malloc(200001), *url, *resp = NULL;
		int st;

		cr_assert_not_null(big);
		memset(big, ' ', 200000);
		big[0] = '{';
		big[200000] = '\0';
		url = h_fmt("%s/v1/messages", pol->url);
		st = h_http("POST", url, NULL, big, &resp);
		expect_error(st, 401, resp, "UNAUTHORIZED", NULL);
		free(resp);
		free(url);
		free(big);
	}
	cr_assert(h_alive(pol->pid));
}

/*
 * A stream client at the recipient sees the new message, and one at the
 * sender sees its receipts, within a bounded wait.
 */
Test(agent, streams_new_messages_and_receipts_as_server_sent_events,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct ak_sse rx, tx;
	char id[33], *body;

	cr_assert_eq(ak_sse_start(&rx, ak_agent(&P, AK_SOCIAL)), 0);
	cr_assert_eq(ak_sse_start(&tx, ak_agent(&P, AK_POLICE)), 0);
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "sse",
	    ",\"do_not_contact_family\":true");
	cr_assert_eq(ak_post(ak_agent(&P, AK_POLICE), "/v1/messages", body, id),
	    202);
	free(body);
	cr_assert(ak_sse_wait(&rx, "message", id, 15000),
	    "no message event at the recipient");
	cr_assert(ak_sse_wait(&rx, "message", "\"do_not_contact_family\":true",
	    1000));
	cr_assert(ak_sse_wait(&tx, "receipt", id, 15000),
	    "no receipt event at the sender");
	cr_assert(
	    ak_sse_wait(&tx, "receipt", "\"status\":\"delivered\"", 15000));
	/* Events carry no child details. */
	pthread_mutex_lock(&rx.lock);
	cr_assert_null(strstr(rx.buf, "Child sse"));
	pthread_mutex_unlock(&rx.lock);
	ak_sse_stop(&rx);
	ak_sse_stop(&tx);
}

static void
setup_escalation(void)
{
	char *extra_social;
	const char *extra[4] = { NULL, NULL, NULL, NULL };

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	extra_social = h_fmt("escalate_after = 2\n"
	                     "alert_command = cat >> '%s/hook.out'\n",
	    P.dir);
	extra[3] = extra_social;
	for (int i = 0; i < 4; i++) {
		static const char *ids[4] = { AK_POLICE, AK_HEALTH, AK_SCHOOL,
			AK_SOCIAL };
		struct h_agent *a = h_agent_add(&P, ids[i], extra[i]);

		cr_assert_not_null(a);
		cr_assert_eq(h_agent_start(&P, a), 0);
	}
	free(extra_social);
}

static int
hook_has(void *ctx)
{
	const char **want = ctx;
	char *path = h_fmt("%s/hook.out", P.dir), *text = h_read(path);
	int ok = 0;

	if (text != NULL) {
		char *line = strstr(text, want[0]);

		ok = line != NULL && strstr(line, want[1]) != NULL;
	}
	free(text);
	free(path);
	return ok;
}

/*
 * An IMMEDIATE message nobody acknowledges within escalate_after (2 s
 * here) is escalated: the sender's timeline shows it, the recipient marks
 * it, and the alert hook runs again with escalated true. An acknowledged
 * one is not escalated, and its sender sees who acknowledged it.
 */
Test(agent, escalates_an_unacknowledged_immediate_message,
    .init = setup_escalation, .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char acked[33], left[33], *body, *path, *url, *resp = NULL;
	json_t *m = NULL;

	body = ak_message("[\"" AK_SOCIAL "\"]", "MISSING_CHILD_ALERT",
	    "IMMEDIATE", "acked", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, acked), 202);
	free(body);
	body = ak_message("[\"" AK_SOCIAL "\"]", "MISSING_CHILD_ALERT",
	    "IMMEDIATE", "left", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, left), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, acked, 20000, NULL));
	url = h_fmt("%s/v1/inbox/%s/ack", soc->url, acked);
	cr_assert_eq(
	    h_http("POST", url, soc->token,
	        "{\"by\":\"mash.duty\",\"note\":\"Strategy meeting called.\"}",
	        &resp),
	    200, "%s", resp);
	free(resp);
	free(url);

	cr_assert(ak_wait_status(pol, left, "escalated", AK_SOCIAL, 20000),
	    "the sender never saw the escalation");
	cr_assert(ak_wait_status(pol, acked, "acknowledged", AK_SOCIAL, 10000));
	{
		const char *want[2] = { left, "\"escalated\":true" };

		char *hp = h_fmt("%s/hook.out", P.dir), *ht;
		int ok = h_wait_until(hook_has, want, 10000);

		ht = h_read(ok ? hp : soc->log);
		cr_assert(ok,
		    "the alert hook never ran for the escalation; "
		    "agent log: %s",
		    ht ? ht : "(none)");
		free(ht);
		free(hp);
		want[1] = "\"escalated\":false";
		cr_assert(h_wait_until(hook_has, want, 1000),
		    "the alert hook never ran for the arrival");
	}
	path = h_fmt("/v1/inbox/%s", left);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	cr_assert(json_is_true(json_object_get(m, "escalated")));
	cr_assert(json_is_false(json_object_get(m, "acknowledged")));
	json_decref(m);
	free(path);
	path = h_fmt("/v1/inbox/%s", acked);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	cr_assert(json_is_false(json_object_get(m, "escalated")),
	    "an acknowledged message was escalated");
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_array_get(json_object_get(m,
	                                                        "acks"),
	                                         0),
	                         "by")),
	    "mash.duty");
	json_decref(m);
	free(path);
	/* The hook sees metadata only. */
	path = h_fmt("%s/hook.out", P.dir);
	resp = h_read(path);
	cr_assert_not_null(resp);
	cr_assert_null(strstr(resp, "Child"));
	free(resp);
	free(path);
	cr_assert(ak_wait_health(soc, "inbox_unacked", 1, 1000));
}

struct found {
	int n;
	char event[32];
	char outcome[16];
	size_t n_recipients;
};

static int
on_record(void *ctx, const struct hv_audit_rec *rec)
{
	struct found *f = ctx;

	if (strcmp(rec->event, "DECISION_RECORDED") == 0) {
		f->n++;
		snprintf(f->event, sizeof(f->event), "%s", rec->event);
		snprintf(f->outcome, sizeof(f->outcome), "%s", rec->outcome);
		f->n_recipients = rec->n_recipients;
	}
	return 0;
}

/*
 * A decision not to share (SPEC §4.5) is accepted by the broker and lands
 * in its audit log as DECISION_RECORDED, read here from the broker's store
 * read-only.
 */
Test(agent, records_a_decision_not_to_share_in_the_broker_audit, .init = setup,
    .fini = teardown, .timeout = 90)
{
	struct h_agent *sch = ak_agent(&P, AK_SCHOOL);
	struct found f = { 0 };
	struct hv_audit_filter flt;
	hv_store st;
	hv_auditlog log;
	MDB_txn *txn;
	char id[33];
	hv_err e;

	memset(&st, 0, sizeof(st));

	cr_assert_eq(
	    ak_post(sch, "/v1/decisions",
	        "{\"type\":\"REFERRAL\","
	        "\"subject\":{\"nhs\":\"943-476-5919\"},\"basis\":{\"consent\":"
	        "\"REFUSED\",\"art6\":\"PUBLIC_TASK\",\"art9\":\"NONE\","
	        "\"justification\":\"Threshold not met after discussion with the "
	        "DSL.\",\"decided_by\":\"dsl.jones\"},\"outcome\":\"NOT_SHARED\"}",
	        id),
	    202);
	cr_assert(ak_wait_status(sch, id, "accepted", NULL, 20000));
	{
		json_t *j = NULL;
		char *path = h_fmt("/v1/messages/%s", id);

		cr_assert_eq(ak_get(sch, path, &j), 200);
		cr_assert_str_eq(json_string_value(json_object_get(j, "kind")),
		    "decision");
		json_decref(j);
		free(path);
	}
	/*
	 * The broker's store, opened read-only by hand: the audit log's
	 * databases in one read transaction that holds their handles.
	 */
	cr_assert_eq(mdb_env_create(&st.env), 0);
	mdb_env_set_maxdbs(st.env, 64);
	cr_assert_eq(mdb_env_open(st.env, P.broker_data, MDB_RDONLY | MDB_NOTLS,
	                 0600),
	    0);
	cr_assert_eq(mdb_txn_begin(st.env, NULL, MDB_RDONLY, &txn), 0);
	for (size_t i = 0; i < HV_AUDITLOG_NDBS; i++)
		cr_assert_eq(mdb_dbi_open(txn, hv_auditlog_dbnames[i], 0,
		                 &st.dbi[i]),
		    0, "broker store has no %s", hv_auditlog_dbnames[i]);
	st.n_dbs = HV_AUDITLOG_NDBS;
	st.readonly = 1;
	log.store = &st;
	log.base = 0;
	memset(&flt, 0, sizeof(flt));
	flt.has_id = 1;
	cr_assert_eq(hv_unhex(id, flt.id, HV_ID_LEN), 0);
	e = hv_auditlog_query(&log, txn, &flt, on_record, &f);
	mdb_txn_abort(txn);
	mdb_env_close(st.env);
	cr_assert_eq(e, HV_OK, "audit query: %s", hv_errname(e));
	cr_assert_eq(f.n, 1, "no DECISION_RECORDED record for %s", id);
	cr_assert_str_eq(f.outcome, "NOT_SHARED");
	cr_assert_eq(f.n_recipients, 0);

	/* A decision with an incomplete basis is refused by the agent. */
	{
		char *url = h_fmt("%s/v1/decisions", sch->url), *resp = NULL;
		int st = h_http("POST", url, sch->token,
		    "{\"type\":"
		    "\"REFERRAL\",\"subject\":{\"nhs\":\"9434765919\"},"
		    "\"basis\":{\"consent\":\"REFUSED\",\"art6\":"
		    "\"PUBLIC_TASK\",\"decided_by\":\"dsl\"}}",
		    &resp);

		expect_error(st, 400, resp, "BASIS_INVALID",
		    "basis.justification");
		free(resp);
		free(url);
	}
}

/*
 * SIGHUP loads a newer directory (a new allow rule takes effect at agent
 * and broker), and refuses an older one, keeping the newer in force.
 */
Test(agent, reloads_the_directory_on_sighup_and_refuses_a_rollback,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *body = ak_message("[\"" AK_HEALTH "\"]", "CASE_UPDATE", "ROUTINE",
	    "hup", "");
	char id[33];

	post_expect(pol, body, 400, "POLICY_DENIED", "to[0]");
	cr_assert_eq(h_partnership_resign(&P, 2,
	                 "allow police -> health : CASE_UPDATE\n"),
	    0);
	kill(P.broker_pid, SIGHUP);
	kill(pol->pid, SIGHUP);
	kill(ak_agent(&P, AK_HEALTH)->pid, SIGHUP);
	cr_assert(ak_wait_health(pol, "directory_version", 2, 5000),
	    "the agent did not load version 2 within 5 s");
	cr_assert(ak_wait_health(ak_agent(&P, AK_HEALTH), "directory_version",
	    2, 5000));
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	cr_assert(ak_wait_inbox(ak_agent(&P, AK_HEALTH), id, 20000, NULL),
	    "the newly allowed share did not arrive");
	free(body);

	cr_assert_eq(h_partnership_resign(&P, 1, NULL), 0);
	kill(pol->pid, SIGHUP);
	cr_assert(h_wait_file_has(pol->log, "directory reload refused", 5000),
	    "the agent did not report the refused reload");
	cr_assert(ak_wait_health(pol, "directory_version", 2, 1000),
	    "the agent rolled back to an older directory");
	cr_assert(h_alive(pol->pid));
}

/*
 * --help reads like a manual page and exits 0; a configuration with an
 * unknown key stops start-up with exit 1 and one sentence naming the file
 * and line; --check-config accepts a good one.
 */
Test(agent, explains_its_usage_and_refuses_a_bad_config, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *out = NULL, *bad = h_fmt("%s/bad.conf", P.dir), *text;

	cr_assert_eq(h_sh(&out, 20, "'%s' --help", h_bin("haven-agent")), 0);
	cr_assert_not_null(strstr(out, "SYNOPSIS"));
	cr_assert_not_null(strstr(out, "escalate_after"));
	free(out);
	cr_assert_eq(h_sh(&out, 20, "'%s' --config '%s' --check-config",
	                 h_bin("haven-agent"), pol->conf),
	    0, "%s", out);
	free(out);
	text = h_read(pol->conf);
	cr_assert_not_null(text);
	{
		char *more = h_fmt("%scolour = red\n", text);

		cr_assert_eq(h_write(bad, 0644, more), 0);
		free(more);
	}
	free(text);
	cr_assert_eq(h_sh(&out, 20, "'%s' --config '%s' --check-config",
	                 h_bin("haven-agent"), bad),
	    1);
	cr_assert_not_null(strstr(out, "bad.conf:"), "%s", out);
	cr_assert_not_null(strstr(out, "colour"), "%s", out);
	free(out);
	cr_assert_eq(h_sh(&out, 20, "'%s' --frobnicate", h_bin("haven-agent")),
	    2);
	free(out);
	free(bad);
}

/*
 * A message waiting at the broker for an agency that the partnership then
 * revokes does not stay "accepted" for a week: the sender's timeline shows
 * it expired for that recipient, with REVOKED_RECIPIENT and the reason.
 */
Test(agent, shows_a_message_withdrawn_because_its_recipient_was_revoked,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char id[33], *body, *path;
	json_t *j = NULL, *tl, *e;
	size_t i;
	int found = 0;

	cr_assert_eq(h_agent_stop(ak_agent(&P, AK_SOCIAL)), 0);
	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "r", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_status(pol, id, "accepted", NULL, 20000));

	cr_assert_eq(h_partnership_resign(&P, 2, "revoke " AK_SOCIAL "\n"), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert(ak_wait_status(pol, id, "expired", AK_SOCIAL, 30000),
	    "the withdrawal never reached the sender's timeline");
	path = h_fmt("/v1/messages/%s", id);
	cr_assert_eq(ak_get(pol, path, &j), 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "status")),
	    "expired");
	tl = json_object_get(j, "timeline");
	json_array_foreach (tl, i, e) {
		const char *code =
		    json_string_value(json_object_get(e, "code"));
		const char *msg =
		    json_string_value(json_object_get(e, "message"));

		if (code != NULL && strcmp(code, "REVOKED_RECIPIENT") == 0 &&
		    msg != NULL &&
		    strstr(msg,
		        "revoked by directory version "
		        "2") != NULL)
			found = 1;
	}
	cr_assert(found, "no REVOKED_RECIPIENT entry: %s",
	    json_dumps(j, JSON_COMPACT));
	json_decref(j);
	free(path);
}

/*
 * A recipient whose own directory is newer than the broker's (it revokes
 * the sender; the broker has not loaded it yet) refuses an IMMEDIATE
 * missing-child alert the broker routed to it. That is no delivery: the
 * sender's timeline shows it rejected by that recipient with the code and
 * sentence, beside the other recipient's delivery, and the broker's audit
 * log has a REJECTED record for it at the recipient and no DELIVERED.
 */
Test(agent, tells_the_sender_when_a_recipient_refuses_a_delivery, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *path, *out = NULL;
	json_t *j = NULL, *tl, *e;
	size_t i;
	int found = 0;

	cr_assert_eq(h_agent_stop(soc), 0);
	body = ak_message("[\"" AK_SCHOOL "\",\"" AK_SOCIAL "\"]",
	    "MISSING_CHILD_ALERT", "IMMEDIATE", "m", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_status(pol, id, "accepted", NULL, 20000));
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SCHOOL, 20000));

	/* Only social care loads version 2; the broker keeps version 1. */
	cr_assert_eq(h_partnership_resign(&P, 2, "revoke " AK_POLICE "\n"), 0);
	cr_assert_eq(h_agent_start(&P, soc), 0, "see %s", soc->log);
	cr_assert(ak_wait_status(pol, id, "rejected", AK_SOCIAL, 30000),
	    "the recipient's refusal never reached the sender's timeline");
	path = h_fmt("/v1/messages/%s", id);
	cr_assert_eq(ak_get(pol, path, &j), 200);
	tl = json_object_get(j, "timeline");
	json_array_foreach (tl, i, e) {
		const char *st =
		    json_string_value(json_object_get(e, "status"));
		const char *to = json_string_value(json_object_get(e, "to"));
		const char *code =
		    json_string_value(json_object_get(e, "code"));
		const char *msg =
		    json_string_value(json_object_get(e, "message"));

		cr_assert(!(strcmp(st, "delivered") == 0 && to != NULL &&
		              strcmp(to, AK_SOCIAL) == 0),
		    "reported delivered to the "
		    "recipient that refused it: %s",
		    json_dumps(j, JSON_COMPACT));
		if (strcmp(st, "rejected") == 0 && to != NULL &&
		    strcmp(to, AK_SOCIAL) == 0 && code != NULL &&
		    strcmp(code, "SENDER_REVOKED") == 0 && msg != NULL &&
		    msg[0] != '\0')
			found = 1;
	}
	cr_assert(found, "no rejected entry naming %s and SENDER_REVOKED: %s",
	    AK_SOCIAL, json_dumps(j, JSON_COMPACT));
	json_decref(j);
	free(path);
	/* `haven status` names the recipient that refused, not the broker. */
	cr_assert_eq(h_sh(&out, 60,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' status %s",
	                 pol->url, pol->token_file, h_bin("haven"), id),
	    0, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "rejected      by the recipient " AK_SOCIAL
	                       ": SENDER_REVOKED: "),
	    "%s", out);
	free(out);
	out = NULL;

	/* The refusal was made before it was acknowledged: never stored. */
	path = h_fmt("/v1/inbox/%s", id);
	cr_assert_eq(ak_get(soc, path, NULL), 404);
	free(path);

	/* The broker's audit log: REJECTED at the recipient, no DELIVERED. */
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit query --db '%s' --event "
	                 "REJECTED --message %s --format json",
	                 h_bin("haven"), P.broker_data, id),
	    0, "%s", out);
	cr_assert(strstr(out, "SENDER_REVOKED") != NULL &&
	        strstr(out, "Refused at the recipient " AK_SOCIAL) != NULL,
	    "%s", out);
	free(out);
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit query --db '%s' --event "
	                 "DELIVERED --message %s --format json",
	                 h_bin("haven"), P.broker_data, id),
	    0, "%s", out);
	cr_assert(strstr(out, AK_SCHOOL) != NULL, "%s", out);
	cr_assert_null(strstr(out, AK_SOCIAL), "%s", out);
	free(out);
}
