/*
 * End-to-end tests of the restore notice (SPEC §13): a broker whose store
 * is put back to a backup copy, started with a notice signed by the
 * partnership root. The sender agent, which witnessed the lost records,
 * reports integrity "restored" (not TAMPERED) and sends again the messages
 * the broker lost; they reach the recipient exactly once; the restored log
 * verifies and holds one RESTORED record. Without the notice the same
 * rollback stays TAMPERED, and a notice signed by another key stops the
 * broker with a sentence naming the file. Every wait has a deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"

#define LOST 3

static struct h_partnership P;
static struct ak_sse SSE;
static int sse_on;
static char copy[H_PATH + 16], notice[H_PATH + 16];
static char lost_ids[LOST][33];
static char kept_id[33]; /* queued at the broker before the copy */

/* A broker, police (sender) and social care (recipient), checking heads
 * every second; police's alert_command appends to alerts.log. */
static void
setup(void)
{
	char *extra;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	extra = h_fmt("tree_head_interval = 1\nalert_command = cat >> "
	              "%s/alerts.log\n",
	    P.dir);
	cr_assert_not_null(h_agent_add(&P, AK_POLICE, extra));
	free(extra);
	cr_assert_not_null(
	    h_agent_add(&P, AK_SOCIAL, "tree_head_interval = 1\n"));
	for (int i = 0; i < P.n_agents; i++)
		cr_assert_eq(h_agent_start(&P, &P.agents[i]), 0);
	snprintf(copy, sizeof(copy), "%s/broker-copy", P.dir);
	snprintf(notice, sizeof(notice), "%s/restore.notice", P.dir);
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

/* 1 when /v1/health's integrity.state is the string ctx->want. */
struct state_wait {
	struct h_agent *a;
	const char *want;
};

static int
state_is(void *ctx)
{
	struct state_wait *w = ctx;
	json_t *h = ak_health(w->a);
	const char *s = json_string_value(
	    json_object_get(json_object_get(h, "integrity"), "state"));
	int ok = s != NULL && strcmp(s, w->want) == 0;

	json_decref(h);
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

/* Posts one message police -> social care; its id in id[33]. */
static void
post(const char *tag, char id[33])
{
	char *body =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE", tag, "");

	cr_assert_eq(ak_post(ak_agent(&P, AK_POLICE), "/v1/messages", body, id),
	    202);
	free(body);
}

/* How many times social care's log says it received message id. */
static int
received_count(const char *id)
{
	char *log = h_read(ak_agent(&P, AK_SOCIAL)->log), *needle;
	int n = 0;

	needle = h_fmt("received message %s", id);
	for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL;
	     p++)
		n++;
	free(needle);
	free(log);
	return n;
}

/*
 * The common story: two messages delivered, then social care goes away
 * and one more is accepted and queued (kept_id); the broker is stopped and
 * its store copied (the backup); LOST more messages are accepted, and
 * police verifies a tree head covering them; the broker is stopped and the
 * copy put back. Returns the copy's size.
 */
static long
restore_from_copy(void)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33];
	long copied;

	for (int i = 0; i < 2; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "before%d", i);
		post(tag, id);
		cr_assert(ak_wait_status(pol, id, "delivered", AK_SOCIAL,
		              20000),
		    "message %s was not delivered", tag);
	}
	/* One more is accepted and queued for social care, who is away. */
	cr_assert_eq(h_agent_stop(soc), 0);
	post("kept", kept_id);
	cr_assert(ak_wait_status(pol, kept_id, "accepted", NULL, 20000));
	cr_assert(ak_wait_tree_head_above(pol, 0, 20000));

	/* The backup: the broker stopped, its data_dir copied. */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(h_sh(NULL, 30, "cp -a '%s' '%s'", P.broker_data, copy), 0);
	cr_assert_gt(copied = store_records(copy), 0);

	/* Work goes on with the recipient away: accepted, queued. */
	cr_assert_eq(h_broker_start(&P), 0);
	for (int i = 0; i < LOST; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "after%d", i);
		post(tag, lost_ids[i]);
		cr_assert(ak_wait_status(pol, lost_ids[i], "accepted", NULL,
		              20000),
		    "message %s was not accepted", tag);
	}
	cr_assert(ak_wait_tree_head_above(pol, copied + LOST, 20000),
	    "police never "
	    "verified a head past the lost records (it has %ld)",
	    ak_tree_head_size(pol));

	/* The disk is lost; the copy is put back. */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s' && cp -a '%s' '%s'",
	                 P.broker_data, copy, P.broker_data),
	    0);
	return copied;
}

/* 1 when the alert log at path holds a restored integrity summary. */
static int
hook_restored(void *path)
{
	char *text = h_read(path);
	int ok = text != NULL &&
	    strstr(text, "\"event\":\"integrity\"") != NULL &&
	    strstr(text, "\"state\":\"restored\"") != NULL;

	free(text);
	return ok;
}

/* Signs the notice over the restored store with the partnership root. */
static void
sign_notice(void)
{
	char *out = NULL;

	cr_assert_eq(
	    h_sh(&out, 30,
	        "'%s' audit restore-notice --db '%s' "
	        "--root-key '%s' --reason 'disk failure, restored from the "
	        "nightly copy' -o '%s'",
	        h_bin("haven"), P.broker_data, P.root_key, notice),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "restore notice written"), "%s", out);
	free(out);
}

/* Adds `restore_notice = FILE` to the broker's configuration. */
static void
config_notice(void)
{
	char *line = h_fmt("restore_notice = %s\n", notice);

	strncat(P.broker_extra, line,
	    sizeof(P.broker_extra) - strlen(P.broker_extra) - 1);
	cr_assert_eq(h_sh(NULL, 30, "printf '%%s' '%s' >> '%s'", line,
	                 P.broker_conf),
	    0);
	free(line);
}

/*
 * The restore procedure as the README gives it: the sender reports
 * "restored", its lost messages are sent again and reach the recipient
 * exactly once, the log verifies and records RESTORED once.
 */
Test(restore,
    a_restored_broker_with_a_notice_is_reported_restored_and_loses_nothing,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	struct state_wait restored = { pol, "restored" };
	char *out = NULL, *p, *alerts;
	json_t *h, *ig;
	long copied;
	int n;

	cr_assert_eq(ak_sse_start(&SSE, pol), 0);
	sse_on = 1;
	copied = restore_from_copy();
	sign_notice();
	config_notice();
	cr_assert_eq(h_broker_start(&P), 0);

	cr_assert(h_wait_until(state_is, &restored, 20000),
	    "police did not "
	    "report the restore");
	cr_assert(ak_sse_wait(&SSE, "integrity", "\"state\":\"restored\"",
	              10000),
	    "no integrity event with state restored");
	cr_assert_not_null(h = ak_health(pol));
	ig = json_object_get(h, "integrity");
	cr_assert(json_is_true(json_object_get(ig, "ok")));
	cr_assert_str_eq(json_string_value(json_object_get(ig, "code")),
	    "RESTORED");
	cr_assert_eq(json_integer_value(json_object_get(ig, "restored_size")),
	    copied);
	cr_assert_not_null(
	    strstr(json_string_value(json_object_get(ig, "reason")),
	        "disk failure"));
	json_decref(h);

	/* The duty team's hook is told too. */
	alerts = h_fmt("%s/alerts.log", P.dir);
	cr_assert(h_wait_until(hook_restored, alerts, 15000),
	    "alert_command never got the restored alert");
	free(alerts);

	/* What the agency's operator sees with the CLI. */
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' health",
	                 pol->url, pol->token_file, h_bin("haven")),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "Audit integrity   RESTORED since"),
	    "%s", out);
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' status %s",
	                 pol->url, pol->token_file, h_bin("haven"),
	                 lost_ids[0]),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "resubmitted"), "%s", out);
	free(out);
	out = NULL;

	/* The recipient comes back: every lost message, exactly once. */
	cr_assert_eq(h_agent_start(&P, soc), 0);
	for (int i = 0; i < LOST; i++) {
		cr_assert(ak_wait_status(pol, lost_ids[i], "delivered",
		              AK_SOCIAL, 30000),
		    "lost message %d never delivered", i);
		cr_assert(ak_wait_inbox(soc, lost_ids[i], 10000, NULL));
	}
	/*
	 * The one the copy still held is sent again too (it was not yet
	 * delivered); the broker answers with its first receipt, and it
	 * settles: nothing is left waiting for a verdict.
	 */
	cr_assert(ak_wait_status(pol, kept_id, "delivered", AK_SOCIAL, 30000),
	    "the queued message was not delivered");
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 10000));
	for (int i = 0; i < LOST; i++)
		cr_assert_eq(n = received_count(lost_ids[i]), 1,
		    "message %d received %d times", i, n);
	cr_assert_eq(n = received_count(kept_id), 1,
	    "the queued message "
	    "was received %d times",
	    n);

	/* The restored log verifies and says RESTORED, once. */
	cr_assert_eq(h_sh(&out, 30, "'%s' audit verify --db '%s'",
	                 h_bin("haven"), P.broker_data),
	    0, "%s", out ? out : "");
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 30,
	                 "'%s' audit query --db '%s' --event "
	                 "RESTORED --format json",
	                 h_bin("haven"), P.broker_data),
	    0, "%s", out ? out : "");
	n = 0;
	for (p = out; (p = strstr(p, "\"RESTORED\"")) != NULL; p++)
		n++;
	cr_assert_eq(n, 1, "RESTORED %d times: %s", n, out);
	cr_assert_not_null(strstr(out, "disk failure"), "%s", out);
	free(out);

	/* A restart with the same notice records nothing more. */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	out = NULL;
	cr_assert_eq(h_sh(&out, 30,
	                 "'%s' audit query --db '%s' --event "
	                 "RESTORED --format json",
	                 h_bin("haven"), P.broker_data),
	    0);
	n = 0;
	for (p = out; (p = strstr(p, "\"RESTORED\"")) != NULL; p++)
		n++;
	free(out);
	cr_assert_eq(n, 1, "RESTORED recorded again on restart");
}

/* The same restore without a notice: the sender reports TAMPERED. */
Test(restore, a_restored_broker_without_a_notice_stays_tampered, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct state_wait tampered = { pol, "tampered" };
	json_t *h;

	restore_from_copy();
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert(h_wait_until(state_is, &tampered, 20000),
	    "police did not "
	    "report the rollback");
	cr_assert_not_null(h = ak_health(pol));
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(h, "integrity"),
	                         "code")),
	    "TAMPERED");
	json_decref(h);
}

/*
 * A notice signed by another key: the CLI will not sign with a key that
 * did not sign the store's directory, and the broker, given another
 * partnership's notice, refuses to start with a sentence naming the file;
 * so it does with this root's notice once the store has changed since.
 */
Test(restore, refuses_a_notice_signed_by_another_key_naming_the_file,
    .init = setup, .fini = teardown, .timeout = 120)
{
	static struct h_partnership other;
	char *out = NULL, *key;
	int rc;

	cr_assert_eq(h_broker_stop(&P), 0);
	key = h_fmt("%s/keys/%s.key", P.dir, AK_POLICE);
	rc = h_sh(&out, 30,
	    "'%s' audit restore-notice --db '%s' --root-key "
	    "'%s' --reason 'test' -o '%s'",
	    h_bin("haven"), P.broker_data, key, notice);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert_not_null(strstr(out, "not signed by the root key"), "%s",
	    out);
	free(out);
	free(key);

	/* Another partnership's broker store and root sign a notice... */
	cr_assert_eq(h_partnership_create(&other, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&other), 0);
	cr_assert_eq(h_broker_stop(&other), 0);
	out = NULL;
	rc = h_sh(&out, 30,
	    "'%s' audit restore-notice --db '%s' --root-key "
	    "'%s' --reason 'test' -o '%s'",
	    h_bin("haven"), other.broker_data, other.root_key, notice);
	h_partnership_destroy(&other);
	cr_assert_eq(rc, 0, "%s", out);
	free(out);

	/* ...which this broker refuses, naming the file. */
	out = NULL;
	rc = h_sh(&out, 30, "'%s' --config '%s' --restore-notice '%s'",
	    h_bin("haven-broker"), P.broker_conf, notice);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert_not_null(strstr(out, notice), "%s", out);
	cr_assert_not_null(strstr(out,
	                       "not signed by the partnership's root "
	                       "key"),
	    "%s", out);
	free(out);

	/* This root's notice, made before the store changed, is refused. */
	sign_notice();
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert_eq(h_broker_stop(&P), 0);
	out = NULL;
	rc = h_sh(&out, 30, "'%s' --config '%s' --restore-notice '%s'",
	    h_bin("haven-broker"), P.broker_conf, notice);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert_not_null(strstr(out, notice), "%s", out);
	cr_assert_not_null(strstr(out, "does not match this store"), "%s", out);
	free(out);

	/* Signed again over the store as it is now, it starts the broker. */
	sign_notice();
	config_notice();
	cr_assert_eq(h_broker_start(&P), 0);
}
