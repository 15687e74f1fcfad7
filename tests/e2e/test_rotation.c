/*
 * End-to-end tests of key rotation (SPEC §13): real broker and agents,
 * real `haven keygen --rotate`, `haven directory build` and `haven audit`.
 * A node's keys are rotated the way the README says: stop the node, rotate,
 * put the new files in place (the old ones kept aside), build a higher
 * directory version, SIGHUP, start the node again.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_keys.h"

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

/*
 * Rotates node id's keys in the partnership's keys/ folder: the new files
 * take the old names (which configs and the agreement use), the old ones
 * move to old/. Exits the test on failure.
 */
static void
rotate_node(const char *id)
{
	char *out = NULL;
	int rc;

	rc = h_sh(&out, 60,
	    "cd '%s' && '%s' keygen --rotate keys/%s.key "
	    "--out rot-%s && mkdir -p old && mv keys/%s.key keys/%s.pub old/ "
	    "&& mv rot-%s/%s.key rot-%s/%s.pub keys/",
	    P.dir, h_bin("haven"), id, id, id, id, id, id, id, id);
	cr_assert_eq(rc, 0, "rotating %s failed: %s", id, out ? out : "");
	cr_assert_not_null(strstr(out, "earlier payload keys kept"), "%s", out);
	free(out);
}

/* The inbox entry id at a, as JSON text (malloc'd), or NULL. */
static char *
inbox_text(struct h_agent *a, const char *id, int timeout_ms)
{
	json_t *j = NULL;
	char *s;

	if (!ak_wait_inbox(a, id, timeout_ms, &j))
		return NULL;
	s = json_dumps(j, 0);
	json_decref(j);
	return s;
}

static void
expect_opens(struct h_agent *a, const char *id, const char *tag, int timeout_ms)
{
	char *s = inbox_text(a, id, timeout_ms), *want = h_fmt("Body %s", tag);

	cr_assert_not_null(s, "message %s did not reach %s", id, a->id);
	cr_expect_null(strstr(s, "DECRYPT_FAILED"), "%s", s);
	cr_expect_not_null(strstr(s, want), "%s does not open at %s: %s", id,
	    a->id, s);
	free(s);
	free(want);
}

/*
 * The recipient (social care) and the sender (police) both rotate while a
 * message from police waits at the broker for the offline recipient. After
 * the new directory is loaded on SIGHUP and both restart with their new
 * keys, the queued message arrives, verifies and opens; a message received
 * before the rotation still opens; new messages flow under the new keys;
 * the rotated-out CURVE key no longer completes a handshake.
 */
Test(rotation,
    a_message_queued_during_the_recipients_rotation_arrives_and_opens,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char *m1 = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
	    "before", "");
	char *m2 = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
	    "queued", "");
	char *m3 = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
	    "after", "");
	char id1[33], id2[33], id3[33], *path, *out = NULL;
	struct hc_client *stale, *fresh;
	hv_keys *old = NULL;

	cr_assert_eq(ak_post(pol, "/v1/messages", m1, id1), 202);
	expect_opens(soc, id1, "before", 30000);

	/* The recipient goes offline; a message waits for it at the broker. */
	cr_assert_eq(h_agent_stop(soc), 0);
	cr_assert_eq(ak_post(pol, "/v1/messages", m2, id2), 202);
	cr_assert(ak_wait_status(pol, id2, "accepted", NULL, 20000),
	    "the broker did not accept the queued message");
	cr_assert_eq(h_agent_stop(pol), 0);

	rotate_node(AK_SOCIAL);
	rotate_node(AK_POLICE);
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	/* The directory carries police's old signing key with its end. */
	cr_assert_eq(h_sh(&out, 30, "'%s' directory show '%s' --json",
	                 h_bin("haven"), P.directory),
	    0, "%s", out);
	cr_expect_not_null(strstr(out, "\"previous_sign\""), "%s", out);
	cr_expect_not_null(strstr(out, "\"until\""), "%s", out);
	free(out);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert(h_wait_file_has(P.broker_log, "Loaded directory version 2",
	              10000),
	    "the broker did not load the new directory");

	/* The rotated-out CURVE key no longer authenticates. */
	path = h_fmt("%s/old/%s.key", P.dir, AK_POLICE);
	cr_assert_eq(hv_keys_load(path, NULL, &old, NULL), HV_OK);
	free(path);
	stale = hc_connect_keys(&P, AK_POLICE, old);
	cr_assert_not_null(stale);
	fresh = hc_connect(&P, AK_HEALTH);
	cr_assert_not_null(fresh);
	cr_assert(hc_wait_handshakes(fresh, 1, 10000),
	    "a current key did not complete a handshake");
	cr_expect_not(hc_wait_handshakes(stale, 1, 1500),
	    "a rotated-out CURVE key completed a handshake");
	hc_close(&stale);
	hc_close(&fresh);

	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert_eq(h_agent_start(&P, pol), 0);
	expect_opens(soc, id2, "queued", 30000);
	cr_assert(ak_wait_status(pol, id2, "delivered", AK_SOCIAL, 20000),
	    "the sender's timeline does not show the queued message "
	    "delivered");
	/* Received before either rotation, and still readable. */
	expect_opens(soc, id1, "before", 5000);
	/* New messages are signed and sealed with the new keys. */
	cr_assert_eq(ak_post(pol, "/v1/messages", m3, id3), 202);
	expect_opens(soc, id3, "after", 30000);
	free(m1);
	free(m2);
	free(m3);
}

/*
 * The sender rotates while a message it accepted (202) is still in its
 * outbox, the broker being away: the outbox holds it signed with the old
 * key, which the broker no longer admits for new messages. On its first
 * submission after the rotation the agent signs it again with its new key,
 * and it is delivered once and opens.
 */
Test(rotation, a_message_in_the_senders_outbox_during_its_rotation_is_delivered,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char *m = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
	    "outbox", "");
	char id[33], *log;

	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(ak_post(pol, "/v1/messages", m, id), 202);
	cr_assert_eq(h_agent_stop(pol), 0);
	rotate_node(AK_POLICE);
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cr_assert_eq(kill(soc->pid, SIGHUP), 0);
	cr_assert(ak_wait_health(soc, "directory_version", 2, 10000));
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert_eq(h_agent_start(&P, pol), 0);
	expect_opens(soc, id, "outbox", 30000);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SOCIAL, 20000),
	    "the sender's timeline does not show the message delivered");
	cr_expect(!ak_wait_status(pol, id, "rejected", NULL, 10),
	    "the timeline shows the refusal of the old signature");
	log = h_read(pol->log);
	cr_expect(log != NULL && strstr(log, "re-signed after BAD_SIGNATURE"),
	    "the agent did not say it signed the message again");
	free(log);
	free(m);
}

static int
run(char **out, const char *cmd)
{
	return h_sh(out, 60, "cd '%s' && %s", P.dir, cmd);
}

static int
proves(void *cmd)
{
	char *out = NULL;
	int rc = run(&out, cmd);

	free(out);
	return rc == 0;
}

/*
 * The broker rotates: every tree head signed before stays verifiable
 * (`haven audit verify --db` with the keys the store recorded, and with the
 * new .pub, which lists the old key), and a proof made before the rotation
 * still checks against the new .pub.
 */
Test(rotation, the_brokers_rotation_keeps_earlier_heads_and_proofs_verifiable,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char *m1 =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE", "one", "");
	char *m2 =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE", "two", "");
	char id1[33], id2[33], *out = NULL, *cmd;
	/* h_bin's answer lasts until its next call: keep a copy. */
	char *haven = strdup(h_bin("haven"));

	cr_assert_eq(ak_post(pol, "/v1/messages", m1, id1), 202);
	expect_opens(soc, id1, "one", 30000);
	cr_assert(ak_wait_status(pol, id1, "delivered", AK_SOCIAL, 20000));
	/* A proof of the first message, once a signed head covers it. */
	cmd = h_fmt("'%s' audit prove %s --db '%s' > proof-before.json", haven,
	    id1, P.broker_data);
	cr_assert(h_wait_until(proves, cmd, 20000), "no proof of %s", id1);
	free(cmd);
	cr_assert_eq(h_broker_stop(&P), 0);

	rotate_node("broker.bristol");
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	for (int i = 0; i < P.n_agents; i++)
		cr_assert_eq(h_agent_stop(&P.agents[i]), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	/* Agents restart to connect with the broker's new transport key. */
	for (int i = 0; i < P.n_agents; i++)
		cr_assert_eq(h_agent_start(&P, &P.agents[i]), 0);
	cr_assert_eq(ak_post(pol, "/v1/messages", m2, id2), 202);
	expect_opens(soc, id2, "two", 30000);
	cr_assert(ak_wait_status(pol, id2, "delivered", AK_SOCIAL, 20000));

	cmd = h_fmt("'%s' audit verify --db '%s'", haven, P.broker_data);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	cr_expect_not_null(strstr(out, "audit log OK"), "%s", out);
	cr_expect_not_null(strstr(out, "current and previous"), "%s", out);
	free(cmd);
	free(out);
	cmd = h_fmt("'%s' audit verify --db '%s' --broker-pub "
	            "keys/broker.bristol.pub",
	    haven, P.broker_data);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	free(cmd);
	free(out);
	/* The old .pub alone does not vouch for heads signed after it. */
	cmd = h_fmt("'%s' audit verify --db '%s' --broker-pub "
	            "old/broker.bristol.pub",
	    haven, P.broker_data);
	cr_assert_eq(run(&out, cmd), 1, "%s", out);
	cr_expect_not_null(strstr(out, "TAMPERED"), "%s", out);
	free(cmd);
	free(out);
	cmd = h_fmt("'%s' audit check-proof proof-before.json --broker-pub "
	            "keys/broker.bristol.pub",
	    haven);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	free(cmd);
	free(out);
	free(m1);
	free(m2);
	free(haven);
}

/* How many times text occurs in the file at path. */
static int
log_count(const char *path, const char *text)
{
	char *all = h_read(path);
	int n = 0;

	for (char *p = all; p != NULL && (p = strstr(p, text)) != NULL;
	     p += strlen(text))
		n++;
	free(all);
	return n;
}

/* Lines saying the handshake was refused again before `until` in path. */
static int
refusals_before(const char *path, const char *until)
{
	char *all = h_read(path), *end;
	int n = 0;

	if (all != NULL && (end = strstr(all, until)) != NULL) {
		*end = '\0';
		for (char *p = all; (p = strstr(p,
		                         "refused the handshake "
		                         "again")) != NULL;
		     p++)
			n++;
	}
	free(all);
	return n;
}

/*
 * An agent left holding the broker's old transport key after the broker
 * rotated is refused at every handshake. It says once that the key may
 * have changed and what to do, and waits longer after each refusal
 * (1, 2, 4 ... s) instead of retrying ten times a second.
 */
Test(rotation, an_agent_with_the_brokers_old_key_backs_off_and_says_why,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	const char *logged[2] = { pol->log, "connected to the broker" };

	/* With nothing to deliver, the answer to its first question says so. */
	cr_assert(h_wait_file_has(logged[0], logged[1], 30000),
	    "the agent never said "
	    "it was connected; see %s",
	    pol->log);
	cr_assert_eq(h_broker_stop(&P), 0);
	rotate_node("broker.bristol");
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	logged[1] = "transport key may have changed";
	cr_assert(h_wait_file_has(logged[0], logged[1], 30000),
	    "the agent never said "
	    "why it is refused; see %s",
	    pol->log);
	logged[1] = "next try in 4 s";
	cr_assert(h_wait_file_has(logged[0], logged[1], 60000),
	    "the agent did not "
	    "back off; see %s",
	    pol->log);
	/* One warning, then one line per longer wait: 2 s, then 4 s. */
	cr_assert_eq(log_count(pol->log, "transport key may have changed"), 1,
	    "see %s", pol->log);
	cr_assert_eq(refusals_before(pol->log, "next try in 4 s"), 2, "see %s",
	    pol->log);
}

/*
 * A directory signed by a new root key is put in force by the broker and
 * agents (which still trust the old root) when it carries a handover signed
 * by the old root; one signed by the new root without it is refused and
 * the previous version stays in force.
 */
Test(rotation, a_new_root_is_accepted_with_a_handover_and_refused_without,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	/* h_bin's answer lasts until its next call: keep a copy. */
	char *haven = strdup(h_bin("haven"));
	char *out = NULL, *cmd;

	cmd = h_fmt("'%s' keygen --id root.bristol-2027 --out keys", haven);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	free(cmd);
	free(out);
	/* Version 2 by the new root, handed over by the old one. */
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cmd = h_fmt(
	    "'%s' directory build '%s' --root "
	    "keys/root.bristol-2027.key --handover-from keys/root.bristol.key "
	    "-o '%s'",
	    haven, P.agreement, P.directory);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	free(cmd);
	free(out);
	cmd = h_fmt("'%s' directory verify '%s' --root-pub "
	            "keys/root.bristol.pub",
	    haven, P.directory);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	cr_expect_not_null(strstr(out, "handed over"), "%s", out);
	free(cmd);
	free(out);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert_eq(kill(pol->pid, SIGHUP), 0);
	cr_assert(h_wait_file_has(P.broker_log, "Loaded directory version 2",
	              10000),
	    "the broker refused a directory handed over to a new root");
	cr_assert(ak_wait_health(pol, "directory_version", 2, 10000),
	    "the agent refused a directory handed over to a new root");

	/* Version 3 by the new root alone: any other wrong root. */
	cr_assert_eq(h_partnership_resign(&P, 3, NULL), 0);
	cmd = h_fmt("'%s' directory build '%s' --root "
	            "keys/root.bristol-2027.key -o '%s'",
	    haven, P.agreement, P.directory);
	cr_assert_eq(run(&out, cmd), 0, "%s", out);
	free(cmd);
	free(out);
	cmd = h_fmt("'%s' directory verify '%s' --root-pub "
	            "keys/root.bristol.pub",
	    haven, P.directory);
	cr_assert_eq(run(&out, cmd), 1, "%s", out);
	cr_expect_not_null(strstr(out, "signed by another root"), "%s", out);
	free(cmd);
	free(out);
	cr_assert_eq(kill(pol->pid, SIGHUP), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert(h_wait_file_has(P.broker_log, "version 2 stays in force",
	              10000),
	    "the broker did not refuse a new root without a handover");
	cr_assert(h_wait_file_has(pol->log, "directory reload refused", 10000),
	    "the agent did not refuse a new root without a handover");
	cr_assert(ak_wait_health(pol, "directory_version", 2, 1000));
	free(haven);
}
