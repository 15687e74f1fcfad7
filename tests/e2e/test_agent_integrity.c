/*
 * End-to-end tests of the agent's audit-log integrity check (SPEC §9): a
 * real broker and real agents checking the broker's signed tree heads with
 * consistency proofs. A broker whose store is swapped for an older copy, or
 * wiped, must be caught: integrity.ok false in /v1/health, an `integrity`
 * event on the SSE stream, alert_command run, and the good head kept.
 * Every wait has a deadline.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"

static struct h_partnership P;
static struct ak_sse SSE;
static int sse_on;

/*
 * A broker, police and social care agents checking tree heads every
 * second; social care's alert_command appends each summary to alerts.log.
 */
static void
setup(void)
{
	char *extra;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert_not_null(
	    h_agent_add(&P, AK_POLICE, "tree_head_interval = 1\n"));
	extra = h_fmt("tree_head_interval = 1\nalert_command = cat >> "
	              "%s/alerts.log\n",
	    P.dir);
	cr_assert_not_null(h_agent_add(&P, AK_SOCIAL, extra));
	free(extra);
	for (int i = 0; i < P.n_agents; i++)
		cr_assert_eq(h_agent_start(&P, &P.agents[i]), 0);
}

static void
teardown(void)
{
	char why[600];
	int rc;

	if (sse_on)
		ak_sse_stop(&SSE);
	sse_on = 0;
	rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/* 1 when integrity.ok is true, 0 when false, -1 when absent. */
static int
integrity_ok(struct h_agent *a)
{
	json_t *h = ak_health(a);
	json_t *ok = json_object_get(json_object_get(h, "integrity"), "ok");
	int rc = json_is_boolean(ok) ? json_is_true(ok) : -1;

	json_decref(h);
	return rc;
}

static int
tampered(void *ctx)
{
	return integrity_ok(ctx) == 0;
}

static int
untampered(void *ctx)
{
	return integrity_ok(ctx) == 1 && ak_tree_head_size(ctx) > 0;
}

/* Waits until a's stored head is larger than above; fails the test. */
static void
wait_size_above(struct h_agent *a, long above)
{
	cr_assert(ak_wait_tree_head_above(a, above, 20000),
	    "%s never stored a "
	    "tree head larger than %ld (it has %ld)",
	    a->id, above, ak_tree_head_size(a));
}

/* Sends n messages from police to social care and waits for delivery. */
static void
send_delivered(int n, const char *tag)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);

	for (int i = 0; i < n; i++) {
		char id[33], t[32], *body;

		snprintf(t, sizeof(t), "%s%d", tag, i);
		body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
		    t, "");
		cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
		free(body);
		cr_assert(ak_wait_status(pol, id, "delivered", AK_SOCIAL,
		              20000),
		    "message %s was not delivered", t);
	}
}

/* 1 when the alert log at path holds a TAMPERED integrity summary. */
static int
hook_alerted(void *path)
{
	char *text = h_read(path);
	int ok = text != NULL &&
	    strstr(text, "\"event\":\"integrity\"") != NULL &&
	    strstr(text, "\"code\":\"TAMPERED\"") != NULL;

	free(text);
	return ok;
}

/* The number of records in the broker store at dir (haven audit verify). */
static long
store_records(const char *dir)
{
	char *out = NULL, *p;
	long n = -1;

	h_sh(&out, 30, "'%s' audit verify --db '%s'", h_bin("haven"), dir);
	if (out != NULL && (p = strstr(out, "OK: ")) != NULL)
		n = strtol(p + 4, NULL, 10);
	free(out);
	return n;
}

/*
 * While messages flow, the agents' verified tree head grows, carries the
 * documented members, and integrity stays ok.
 */
Test(agent_integrity, verified_tree_head_grows_with_the_broker_log,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	json_t *h, *th;
	long s1;

	send_delivered(2, "a");
	wait_size_above(soc, 0);
	s1 = ak_tree_head_size(soc);
	send_delivered(2, "b");
	wait_size_above(soc, s1);
	wait_size_above(pol, s1);
	cr_assert_not_null(h = ak_health(soc));
	th = json_object_get(h, "tree_head");
	cr_assert(json_is_true(json_object_get(th, "verified")));
	cr_assert_eq(strlen(json_string_value(json_object_get(th, "root"))),
	    64);
	cr_assert_not_null(json_string_value(json_object_get(th, "time")));
	cr_assert(json_is_true(
	    json_object_get(json_object_get(h, "integrity"), "ok")));
	json_decref(h);
	cr_assert_eq(integrity_ok(pol), 1);
}

/*
 * The broker's store is put back to an older copy while the agents run
 * (history after the copy lost, then a different history grown on it):
 * both agents raise TAMPERED, social care's SSE client sees an integrity
 * event and its alert_command runs, and the head they verified before the
 * rollback is kept.
 */
Test(agent_integrity, a_broker_store_rolled_back_to_an_older_copy_is_detected,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char copy[H_PATH + 16], *alerts, *log;
	long copied, s2, warned = 0;
	json_t *h, *ig;

	snprintf(copy, sizeof(copy), "%s/broker-copy", P.dir);
	cr_assert_eq(ak_sse_start(&SSE, soc), 0);
	sse_on = 1;
	send_delivered(2, "a");
	wait_size_above(soc, 0);

	/* An administrator keeps a copy of the store... */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(h_sh(NULL, 30, "cp -a '%s' '%s'", P.broker_data, copy), 0);
	cr_assert_gt(copied = store_records(copy), 0);

	/* ...the partnership works on, and the agents see it... */
	cr_assert_eq(h_broker_start(&P), 0);
	send_delivered(3, "b");
	wait_size_above(soc, copied);
	wait_size_above(pol, copied);
	cr_assert_eq(integrity_ok(soc), 1);
	cr_assert_eq(h_broker_stop(&P), 0);
	s2 = ak_tree_head_size(soc);

	/* ...then the store is put back and grows a different history. */
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s' && cp -a '%s' '%s'",
	                 P.broker_data, copy, P.broker_data),
	    0);
	cr_assert_eq(h_broker_start(&P), 0);
	send_delivered(1, "c");

	cr_assert(h_wait_until(tampered, soc, 20000),
	    "social care did not detect the rolled-back store");
	cr_assert(h_wait_until(tampered, pol, 20000),
	    "police did not detect the rolled-back store");
	cr_assert(ak_sse_wait(&SSE, "integrity", "\"code\":\"TAMPERED\"",
	              10000),
	    "no integrity event on the stream");
	cr_assert(ak_sse_wait(&SSE, "integrity", "\"id\":null", 1000));

	cr_assert_not_null(h = ak_health(soc));
	ig = json_object_get(h, "integrity");
	cr_assert(json_is_false(json_object_get(ig, "ok")));
	cr_assert_str_eq(json_string_value(json_object_get(ig, "code")),
	    "TAMPERED");
	cr_assert_not_null(json_string_value(json_object_get(ig, "message")));
	cr_assert_not_null(json_string_value(json_object_get(ig, "since")));
	cr_assert_eq(json_integer_value(
	                 json_object_get(json_object_get(h, "tree_head"),
	                     "size")),
	    s2, "the verified head was replaced");
	json_decref(h);

	/* The duty team's hook got the alert too. */
	alerts = h_fmt("%s/alerts.log", P.dir);
	cr_assert(h_wait_until(hook_alerted, alerts, 15000),
	    "alert_command never got the integrity alert");
	free(alerts);

	/* More traffic changes nothing: the old head stays. */
	send_delivered(1, "d");
	cr_assert_eq(integrity_ok(soc), 0);
	cr_assert_eq(ak_tree_head_size(soc), s2);

	/*
	 * Logged once per kind of failure (smaller, different root, bad
	 * proof), not on every one-second check.
	 */
	cr_assert_not_null(log = h_read(soc->log));
	for (const char *p = log;
	     (p = strstr(p, "integrity: TAMPERED")) != NULL; p++)
		warned++;
	free(log);
	cr_assert(warned >= 1 && warned <= 3, "TAMPERED logged %ld times",
	    warned);
}

/*
 * A wiped broker store is caught too, the failure survives the agent's
 * restart, and `haven-agent --forget-tree-head` (agent stopped) clears it:
 * the agent then accepts the broker's current history.
 */
Test(agent_integrity, forget_tree_head_accepts_the_current_history,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char *out = NULL;
	long before;

	send_delivered(3, "a");
	wait_size_above(soc, 2);
	cr_assert_eq(h_broker_stop(&P), 0);
	before = ak_tree_head_size(soc);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", P.broker_data), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert(h_wait_until(tampered, soc, 20000),
	    "social care did not detect the wiped store");
	cr_assert_eq(ak_tree_head_size(soc), before);

	/* Kept across a restart. */
	cr_assert_eq(h_agent_stop(soc), 0);
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert_eq(integrity_ok(soc), 0);
	cr_assert_eq(ak_tree_head_size(soc), before);

	cr_assert_eq(h_agent_stop(soc), 0);
	cr_assert_eq(h_sh(&out, 30, "'%s' --config '%s' --forget-tree-head",
	                 h_bin("haven-agent"), soc->conf),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "forgotten"));
	free(out);
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert(h_wait_until(untampered, soc, 20000),
	    "the agent did not accept the broker's current history");
	cr_assert_lt(ak_tree_head_size(soc), before);
	before = ak_tree_head_size(soc);
	send_delivered(1, "b");
	wait_size_above(soc, before);
	cr_assert_eq(integrity_ok(soc), 1);
}

/* --help documents the interval and the operator's way out. */
Test(agent_integrity, help_documents_the_check)
{
	char *out = NULL;

	cr_assert_eq(h_sh(&out, 30, "'%s' --help", h_bin("haven-agent")), 0);
	cr_assert_not_null(strstr(out, "tree_head_interval"));
	cr_assert_not_null(strstr(out, "--forget-tree-head"));
	free(out);
}
