/*
 * End-to-end tests of the retention rule and legal holds (SPEC §15): real
 * broker and agents. Police and social care keep REFERRAL payloads 0
 * days (retention_days.REFERRAL = 0: only until the next sweep, which runs
 * at start), so restarting one sweeps; a held message survives the sweep, and
 * adding and removing the hold are audited at the broker.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>

#include "agent_kit.h"
#include "harness.h"
#include "hv_util.h"

#define WAIT_MS 30000
#define CANARY_LEN 48

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
	const char *extra[4] = { "retention_days.REFERRAL = 0\n", NULL, NULL,
		"retention_days.REFERRAL = 0\n"
		"retention_sweep_interval = 86400\n" };

	cr_assert_eq(ak_setup(&P, extra), 0, "partnership did not start");
}

static char *
referral(const char *text)
{
	char fill[6001];

	memset(fill, 'x', 6000);
	fill[6000] = '\0';
	return h_fmt(
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"943 476 5919\"}," AK_BASIS
	    ",\"child\":{\"name\":\"Child %s\",\"dob\":"
	    "\"2016-03-02\"},\"body\":{\"summary\":\"%s\",\"notes\":\"%s\"}}",
	    text, text, fill);
}

/* CANARY_LEN ciphertext bytes of the stored inbox record of hex. */
static int
canary_of(const char *node, const char *hex, uint8_t out[CANARY_LEN])
{
	char *dir = h_fmt("%s/data/%s", P.dir, node);
	int rc = h_store_slice(dir, "inbox", hex, out, CANARY_LEN);

	free(dir);
	return rc;
}

/* 1 when a file directly under the node's data_dir holds needle. */
static int
in_store_files(const char *node, const void *needle, size_t n)
{
	char *dir = h_fmt("%s/data/%s", P.dir, node);
	int found = h_dir_holds(dir, needle, n, NULL, 0);

	cr_assert_geq(found, 0, "cannot list %s", dir);
	free(dir);
	return found;
}

/* `haven hold ARGS` at social care; stdout into *out (may be NULL). */
static int
hold(char **out, const char *args)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);

	return h_sh(out, 30,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' "
	    "hold %s",
	    soc->url, soc->token_file, h_bin("haven"), args);
}

/* Waits until the broker's log holds a record of event (and needle). */
struct audit_want {
	const char *event;
	const char *needle;
};

static int
audit_has(void *ctx)
{
	const struct audit_want *w = ctx;
	char *out = NULL;
	int ok;

	ok = h_sh(&out, 60,
	         "'%s' audit query --db '%s' --event %s --format "
	         "json",
	         h_bin("haven"), P.broker_data, w->event) == 0 &&
	    out != NULL && strstr(out, w->needle) != NULL;
	free(out);
	return ok;
}

static int
erased(void *ctx)
{
	char *path = h_fmt("/v1/inbox/%s", (const char *)ctx);
	json_t *m = NULL;
	int ok = ak_get(ak_agent(&P, AK_SOCIAL), path, &m) == 200 &&
	    json_is_true(json_object_get(m, "erased"));

	json_decref(m);
	free(path);
	return ok;
}

/* For h_wait_until: the canary has left every file of the node's store. */
struct gone_ctx {
	const char *node;
	const uint8_t *canary;
};

static int
canary_gone(void *ctx)
{
	const struct gone_ctx *g = ctx;

	return !in_store_files(g->node, g->canary, CANARY_LEN);
}

static int
sent_erased(void *ctx)
{
	char *path = h_fmt("/v1/messages/%s", (const char *)ctx);
	json_t *m = NULL;
	int ok = ak_get(ak_agent(&P, AK_POLICE), path, &m) == 200 &&
	    json_is_true(json_object_get(m, "erased"));

	json_decref(m);
	free(path);
	return ok;
}

/*
 * The sweep erases the expired REFERRAL at the recipient and at the
 * sender (its canary leaves every store file; a tombstone says when and
 * why), keeps the held one whole at the recipient, and the
 * hold's adding and removal reach the broker's audit as HOLD_ADDED and
 * HOLD_REMOVED, without the reason.
 */
Test(retention, sweeps_expired_payloads_to_tombstones_but_keeps_held_ones,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	uint8_t canary[CANARY_LEN];
	char gone[33], kept[33], hid[33], *body, *out = NULL, *path, *args;
	struct audit_want w;
	struct gone_ctx g;
	json_t *m = NULL, *j;
	const char *s;

	body = referral("Swept-1");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, gone), 202);
	free(body);
	body = referral("Held-2");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, kept), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, gone, WAIT_MS, NULL), 1);
	cr_assert_eq(ak_wait_inbox(soc, kept, WAIT_MS, NULL), 1);
	cr_assert_eq(canary_of(AK_SOCIAL, gone, canary), 0);
	cr_assert(in_store_files(AK_SOCIAL, canary, CANARY_LEN),
	    "the canary is not in the store before the sweep");

	/* Hold the second message; the broker audits it, reason unsaid. */
	args = h_fmt("add --message %s --reason 'Care proceedings, case "
	             "ZX-99' --json",
	    kept);
	cr_assert_eq(hold(&out, args), 0, "%s", out ? out : "");
	free(args);
	cr_assert_not_null(j = json_loads(out, 0, NULL), "%s", out);
	snprintf(hid, sizeof(hid), "%s",
	    json_string_value(json_object_get(j, "id")));
	json_decref(j);
	free(out);
	w.event = "HOLD_ADDED";
	w.needle = kept;
	cr_assert_eq(h_wait_until(audit_has, &w, WAIT_MS), 1,
	    "HOLD_ADDED never reached the broker's audit");
	w.needle = "ZX-99";
	cr_assert_not(audit_has(&w), "the hold's reason reached the broker");
	cr_assert_eq(hold(&out, "list"), 0);
	cr_assert_not_null(strstr(out, hid), "%s", out);
	cr_assert_not_null(strstr(out, "  ACTIVE since "), "%s", out);
	cr_assert_not_null(strstr(out,
	                       "  reason:  Care proceedings, case ZX-99"),
	    "%s", out);
	free(out);
	cr_assert_eq(hold(&out, "list --json"), 0);
	cr_assert_not_null(j = json_loads(out, 0, NULL), "%s", out);
	json_decref(j);
	free(out);

	/* Restarting sweeps (at start): the expired one goes. */
	cr_assert_eq(h_agent_stop(soc), 0);
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert_eq(h_wait_until(erased, gone, WAIT_MS), 1,
	    "the REFERRAL was not erased by the sweep");

	path = h_fmt("/v1/inbox/%s", gone);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	free(path);
	s = json_string_value(json_object_get(m, "status"));
	cr_assert(s != NULL && strncmp(s, "erased on ", 10) == 0 &&
	        strstr(s, "under the retention rule") != NULL,
	    "%s", s ? s : "");
	cr_assert_str_eq(json_string_value(json_object_get(m, "sender")),
	    AK_POLICE);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")),
	    "REFERRAL");
	cr_assert(json_is_null(json_object_get(m, "body")));
	json_decref(m);
	/* The child's chronology shows the tombstone, not "not held". */
	cr_assert_eq(ak_get(soc, "/v1/children?nhs=9434765919", &m), 200);
	j = json_array_get(json_object_get(m, "chronology"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), gone);
	s = json_string_value(json_object_get(j, "status"));
	cr_assert(s != NULL && strncmp(s, "erased on ", 10) == 0, "%s",
	    s ? s : "");
	cr_assert(json_is_true(json_object_get(j, "erased")));
	cr_assert_null(json_object_get(j, "child"));
	json_decref(m);
	/* An erased message cannot be held: the hold would keep nothing. */
	args = h_fmt("add --message %s --reason 'Care proceedings' 2>&1", gone);
	cr_assert_neq(hold(&out, args), 0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "was already erased here under the "
	                       "retention rule"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "(NOT_FOUND)"), "%s", out);
	free(args);
	free(out);
	g.node = AK_SOCIAL;
	g.canary = canary;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the swept message's ciphertext is still in the store files");
	cr_assert_not(in_store_files(AK_SOCIAL, "Swept-1", 7));

	/* The held one is whole. */
	path = h_fmt("/v1/inbox/%s", kept);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	free(path);
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(m, "body"),
	                         "summary")),
	    "Held-2");
	json_decref(m);

	/*
	 * The sender's copy goes at police's next sweep (its restart): a
	 * tombstone with the timeline, and the envelope's bytes (the same
	 * ciphertext) gone from police's store too. The held message's
	 * sent copy follows police's rule: the hold is social care's.
	 */
	cr_assert(in_store_files(AK_POLICE, canary, CANARY_LEN));
	cr_assert_eq(h_agent_stop(pol), 0);
	cr_assert_eq(h_agent_start(&P, pol), 0);
	cr_assert_eq(h_wait_until(sent_erased, gone, WAIT_MS), 1,
	    "police's sent copy was not erased by its sweep");
	path = h_fmt("/v1/messages/%s", gone);
	cr_assert_eq(ak_get(pol, path, &m), 200);
	free(path);
	cr_assert(json_is_true(json_object_get(m, "erased")));
	cr_assert_str_eq(json_string_value(json_object_get(m, "direction")),
	    "sent");
	cr_assert(json_array_size(json_object_get(m, "timeline")) >= 2);
	json_decref(m);
	/* Police's chronology of the child shows the sent tombstone too. */
	cr_assert_eq(ak_get(pol, "/v1/children?nhs=9434765919", &m), 200);
	j = json_array_get(json_object_get(m, "chronology"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), gone);
	cr_assert_str_eq(json_string_value(json_object_get(j, "direction")),
	    "sent");
	cr_assert(json_is_true(json_object_get(j, "erased")));
	s = json_string_value(json_object_get(j, "status"));
	cr_assert(s != NULL && strncmp(s, "erased on ", 10) == 0, "%s",
	    s ? s : "");
	json_decref(m);
	g.node = AK_POLICE;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the sent envelope's bytes are still in police's store");
	/*
	 * The sent list drops it with its entry in the outbox's age index:
	 * one at a time, every page holds a message (a stale index entry
	 * would make an empty one) and there are `total` pages.
	 */
	path = h_fmt("/v1/messages?limit=1");
	for (int pages = 0;; pages++) {
		const char *next;

		cr_assert_eq(ak_get(pol, path, &j), 200);
		free(path);
		body = json_dumps(j, JSON_COMPACT);
		cr_assert_null(strstr(body, gone), "%s", body);
		next = json_string_value(json_object_get(j, "before"));
		cr_assert_eq(json_array_size(json_object_get(j, "messages")),
		    json_integer_value(json_object_get(j, "total")) > 0 ? 1 : 0,
		    "%s", body);
		if (next == NULL) {
			cr_assert_eq(pages +
			        (json_integer_value(
			             json_object_get(j, "total")) > 0 ?
			                1 :
			                0),
			    json_integer_value(json_object_get(j, "total")));
			free(body);
			json_decref(j);
			break;
		}
		path = h_fmt("/v1/messages?limit=1&before=%s", next);
		free(body);
		json_decref(j);
	}

	/* Removing the hold is audited too. */
	args = h_fmt("remove %s --reason 'Proceedings closed'", hid);
	cr_assert_eq(hold(&out, args), 0, "%s", out ? out : "");
	free(args);
	free(out);
	w.event = "HOLD_REMOVED";
	w.needle = AK_SOCIAL;
	cr_assert_eq(h_wait_until(audit_has, &w, WAIT_MS), 1,
	    "HOLD_REMOVED never reached the broker's audit");
}

/*
 * A hold on a child made with another subject key names a pseudonym that
 * matches nothing at this agent: it would look in force and keep nothing.
 * The agent refuses it, naming both keys' ids; nothing is stored or sent
 * to the broker; the partnership's own key is accepted. A hold on a
 * message id this agency never sent nor received is refused the same way.
 */
Test(retention,
    refuses_a_hold_made_with_another_subject_key_or_on_a_message_not_held_here,
    .init = setup, .fini = teardown, .timeout = 120)
{
	char *other = h_fmt("%s/other-subject.key", P.dir), *out = NULL;
	char *args;

	cr_assert_eq(h_sh(&out, 30, "'%s' keygen --subject-key --out '%s'",
	                 h_bin("haven"), other),
	    0, "%s", out);
	free(out);
	args = h_fmt("add --subject-nhs '943 476 5919' --subject-key '%s' "
	             "--reason 'Care proceedings' 2>&1",
	    other);
	cr_assert_eq(hold(&out, args), 2, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "is not this agent's"), "%s", out);
	cr_assert_not_null(strstr(out, "(BAD_REQUEST)"), "%s", out);
	free(args);
	free(out);
	/* So is a hold on a message this agency never sent nor received. */
	cr_assert_eq(hold(&out,
	                 "add --message 0123456789abcdef0123456789abcdef "
	                 "--reason 'Care proceedings' 2>&1"),
	    1, "%s", out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "neither sent nor received a message "
	                       "with id 0123456789abcdef"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "(NOT_FOUND)"), "%s", out);
	free(out);
	cr_assert_eq(hold(&out, "list"), 0);
	cr_assert_not_null(strstr(out, "No legal holds"), "%s", out);
	free(out);

	/* A node's key file given as the subject key is named as such. */
	args = h_fmt("add --subject-nhs '943 476 5919' --subject-key "
	             "'%s/keys/" AK_SOCIAL ".key' --reason 'Care proceedings' "
	             "2>&1",
	    P.dir);
	cr_assert_eq(hold(&out, args), 1, "%s", out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "is a node's key file, not the "
	                       "partnership's subject key"),
	    "%s", out);
	free(args);
	free(out);

	args = h_fmt("add --subject-nhs '943 476 5919' --subject-key '%s' "
	             "--reason 'Care proceedings' 2>&1",
	    P.subject_key);
	cr_assert_eq(hold(&out, args), 0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "added"), "%s", out);
	free(args);
	free(out);
	free(other);
}

/* retention_days.TYPE takes message types only; the line is named. */
Test(retention, refuses_a_retention_key_for_an_unknown_message_type)
{
	char dir[] = "/tmp/haven-ret-XXXXXX", *conf, *out = NULL;
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	conf = h_fmt("%s/agent.conf", dir);
	cr_assert_eq(h_write(conf, 0600,
	                 "[agent]\nid = police.avon\n"
	                 "retention_days = 30\nretention_days.GOSSIP = 5\n"),
	    0);
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config 2>&1",
	    h_bin("haven-agent"), conf);
	cr_assert_neq(rc, 0);
	cr_assert_not_null(strstr(out, "agent.conf:4:"), "%s", out);
	cr_assert_not_null(strstr(out, "retention_days.GOSSIP"), "%s", out);
	free(out);
	h_sh(NULL, 30, "rm -rf '%s'", dir);
	free(conf);
}
