/*
 * End-to-end tests of retraction (SPEC §15): real broker and agents.
 * Police send to social care, then take the message back.
 *
 * Erasure is shown with a canary: the inbox keeps a message as its
 * envelope (the payload encrypted), so the canary is a run of the stored
 * envelope's ciphertext bytes, read from the recipient's store before the
 * retraction; it must be found in data.mdb before, and in no file under
 * the recipient's data_dir after.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_events.h"
#include "hv_retract.h"
#include "hv_util.h"
#include "hv_wire.h"

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

/*
 * Social care's alert hook appends each summary to P.dir/hook.out; the
 * broker takes broker_extra config lines (may be NULL).
 */
static void
start(const char *broker_extra)
{
	char *hook;
	const char *extra[4] = { NULL, NULL, NULL, NULL };

	hook = h_fmt("alert_command = cat >> '%s/hook.out'\n", P.dir);
	cr_assert_eq(h_partnership_create(&P, NULL, broker_extra), 0);
	free(hook);
	hook = h_fmt("alert_command = cat >> '%s/hook.out'\n", P.dir);
	extra[3] = hook;
	cr_assert_eq(h_broker_start(&P), 0);
	for (int i = 0; i < 4; i++) {
		static const char *ids[4] = { AK_POLICE, AK_HEALTH, AK_SCHOOL,
			AK_SOCIAL };
		struct h_agent *a = h_agent_add(&P, ids[i], extra[i]);

		cr_assert_not_null(a);
		cr_assert_eq(h_agent_start(&P, a), 0);
	}
	free(hook);
}

static void
setup(void)
{
	start(NULL);
}

/*
 * A queued copy outlives its broker deadline within seconds; long enough
 * that a loaded machine still finds the canary before it expires.
 */
static void
setup_ttl(void)
{
	start("message_ttl = 15\n");
}

/* A REFERRAL to social care whose body holds text and ~6 KB of filler. */
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

static char *
data_dir(const char *node)
{
	return h_fmt("%s/data/%s", P.dir, node);
}

static int
canary_of(const char *node, const char *hex, uint8_t out[CANARY_LEN])
{
	char *dir = data_dir(node);
	int rc = h_store_slice(dir, "inbox", hex, out, CANARY_LEN);

	free(dir);
	return rc;
}

/* h_dir_holds, failing the test when dir cannot be listed. */
static int
found_in_files(const char *dir, const void *needle, size_t n, char *where,
    size_t cap)
{
	int r = h_dir_holds(dir, needle, n, where, cap);

	cr_assert_geq(r, 0, "cannot list %s", dir);
	return r;
}

/* For h_wait_until: the canary has left every file of a folder. */
struct gone_ctx {
	const char *dir;
	const uint8_t *canary;
};

static int
canary_gone(void *ctx)
{
	const struct gone_ctx *g = ctx;
	char where[256];

	return !found_in_files(g->dir, g->canary, CANARY_LEN, where,
	    sizeof(where));
}

/* Retracts id at police through `haven retract`; returns the exit status. */
static int
haven_retract(const char *id, const char *reason)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);

	return h_sh(NULL, 30,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' "
	    "retract %s --reason %s --decided-by j.smith --note 'sent to the "
	    "wrong team'",
	    pol->url, pol->token_file, h_bin("haven"), id, reason);
}

/* The broker's audit records of message id, as `haven audit query` text. */
static char *
audit_of(const char *id)
{
	char *out = NULL;

	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit query --db '%s' --message %s "
	                 "--format json",
	                 h_bin("haven"), P.broker_data, id),
	    0, "haven audit query failed: %s", out ? out : "");
	return out;
}

static int
hook_says_retracted(void *ctx)
{
	char *path = h_fmt("%s/hook.out", P.dir), *text = h_read(path);
	const char *line = text ? strstr(text, (const char *)ctx) : NULL;
	int ok = line != NULL && strstr(text, "\"retracted\"") != NULL;

	free(text);
	free(path);
	return ok;
}

/*
 * After delivery: the recipient verifies the retraction, erases the child
 * and body (the canary is gone from every file of its data_dir), keeps the
 * header marked retracted, raises the SSE event and the alert hook and
 * confirms; the sender's timeline shows retracted then
 * retraction_delivered, and the broker audits both.
 */
Test(retract, erases_a_delivered_copy_so_its_bytes_leave_the_store_files,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	uint8_t canary[CANARY_LEN];
	char id[33], where[256], *body, *dir, *path, *audit;
	struct ak_sse sse;
	struct gone_ctx g;
	json_t *m = NULL;
	const char *status;

	body = referral("Canary-7f3a9e2c");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, &m), 1);
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(m, "body"),
	                         "summary")),
	    "Canary-7f3a9e2c");
	json_decref(m);
	cr_assert_eq(ak_wait_status(pol, id, "delivered", AK_SOCIAL, WAIT_MS),
	    1);

	/* The canary is there before: the check below can fail. */
	cr_assert_eq(canary_of(AK_SOCIAL, id, canary), 0);
	dir = data_dir(AK_SOCIAL);
	cr_assert(found_in_files(dir, canary, CANARY_LEN, where, sizeof(where)),
	    "the canary is not in the store before");

	cr_assert_eq(ak_sse_start(&sse, soc), 0);
	cr_assert_eq(haven_retract(id, "MISDIRECTED"), 0);
	cr_assert_eq(ak_wait_status(pol, id, "retracted", NULL, WAIT_MS), 1);
	cr_assert_eq(ak_wait_status(pol, id, "retraction_delivered", AK_SOCIAL,
	                 WAIT_MS),
	    1, "social care never confirmed");
	cr_assert(ak_sse_wait(&sse, "retracted", id, WAIT_MS),
	    "no retracted event on the recipient's stream");
	ak_sse_stop(&sse);
	cr_assert_eq(h_wait_until(hook_says_retracted, id, WAIT_MS), 1,
	    "the alert hook did not run for the retraction");

	/* Erased: the bytes leave every file of the store. */
	g.dir = dir;
	g.canary = canary;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the ciphertext canary is still in the store files");
	cr_assert_not(found_in_files(dir, "Canary-7f3a9e2c", 15, where,
	                  sizeof(where)),
	    "the body text is in %s", where);
	free(dir);

	/* The header is kept, marked, without child or body. */
	path = h_fmt("/v1/inbox/%s", id);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	free(path);
	cr_assert_str_eq(json_string_value(json_object_get(m, "sender")),
	    AK_POLICE);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")),
	    "REFERRAL");
	cr_assert_str_eq(json_string_value(json_object_get(m, "status")),
	    "retracted by the sender: MISDIRECTED");
	cr_assert(json_is_null(json_object_get(m, "child")));
	cr_assert(json_is_null(json_object_get(m, "body")));
	json_decref(m);

	/* The sender's timeline: retracted, then retraction_delivered. */
	path = h_fmt("/v1/messages/%s", id);
	cr_assert_eq(ak_get(pol, path, &m), 200);
	free(path);
	status = json_string_value(json_object_get(m, "status"));
	cr_assert_str_eq(status, "retracted");
	json_decref(m);

	audit = audit_of(id);
	cr_assert_not_null(strstr(audit, "\"RETRACTED\""), "%s", audit);
	cr_assert_not_null(strstr(audit, "\"RETRACTION_DELIVERED\""), "%s",
	    audit);
	cr_assert_null(strstr(audit, "wrong team"),
	    "the sender's note reached the broker: %s", audit);
	free(audit);
}

/*
 * Before delivery: social care is offline, so its copy is withdrawn at the
 * broker (WITHDRAWN audited, the sender's timeline says withdrawn; the
 * queued ciphertext leaves the broker's store files) and is never
 * delivered when social care comes back; a later message is.
 */
Test(retract, withdraws_a_copy_not_yet_delivered_so_it_never_arrives,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33], later[33], where[256], *body, *path, *audit;
	uint8_t canary[CANARY_LEN];
	struct gone_ctx g;
	json_t *m = NULL;

	cr_assert_eq(h_agent_stop(soc), 0);
	body = referral("Withdrawn-1");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_status(pol, id, "accepted", NULL, WAIT_MS), 1);
	cr_assert_eq(h_store_slice(P.broker_data, "msgs", id, canary,
	                 CANARY_LEN),
	    0, "the queued envelope is not in the broker's store");
	cr_assert(found_in_files(P.broker_data, canary, CANARY_LEN, where,
	    sizeof(where)));
	cr_assert_eq(haven_retract(id, "WRONG_CHILD"), 0);
	cr_assert_eq(ak_wait_status(pol, id, "withdrawn", AK_SOCIAL, WAIT_MS),
	    1);
	cr_assert_eq(ak_wait_status(pol, id, "retracted", NULL, WAIT_MS), 1);
	g.dir = P.broker_data;
	g.canary = canary;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the withdrawn ciphertext is still in the broker's store");

	/* Back online: the later message arrives, the withdrawn one never. */
	body = referral("Later-2");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, later), 202);
	free(body);
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert_eq(ak_wait_inbox(soc, later, WAIT_MS, &m), 1);
	json_decref(m);
	path = h_fmt("/v1/inbox/%s", id);
	cr_assert_eq(ak_get(soc, path, &m), 404);
	free(path);
	json_decref(m);

	audit = audit_of(id);
	cr_assert_not_null(strstr(audit, "\"WITHDRAWN\""), "%s", audit);
	cr_assert_not_null(strstr(audit, "\"RETRACTED\""), "%s", audit);
	cr_assert_null(strstr(audit, "\"DELIVERED\""), "%s", audit);
	free(audit);
}

/*
 * Stops social care, sends it a referral from police and waits for the
 * broker to accept it: id gets the message, canary bytes of its queued
 * ciphertext, which must be in the broker's store files now.
 */
static void
queue_for_offline_social_care(struct h_agent *pol, struct h_agent *soc,
    const char *tag, char id[33], uint8_t canary[CANARY_LEN])
{
	char where[256], *body;

	cr_assert_eq(h_agent_stop(soc), 0);
	body = referral(tag);
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_status(pol, id, "accepted", NULL, WAIT_MS), 1);
	cr_assert_eq(h_store_slice(P.broker_data, "msgs", id, canary,
	                 CANARY_LEN),
	    0, "the queued envelope is not in the broker's store");
	cr_assert(found_in_files(P.broker_data, canary, CANARY_LEN, where,
	              sizeof(where)),
	    "the canary is not in the broker's files before");
}

/*
 * SPEC §15, the broker keeps ciphertext only until delivered: social care
 * is offline, so the envelope waits in the broker's store (the canary is
 * in data.mdb); once social care comes back and acknowledges it, the
 * canary is in no file under the broker's data_dir.
 */
Test(retract, erases_the_broker_copy_once_the_recipient_acknowledges_it,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33];
	uint8_t canary[CANARY_LEN];
	struct gone_ctx g;
	json_t *m = NULL;

	queue_for_offline_social_care(pol, soc, "Delivered-1", id, canary);

	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, &m), 1);
	json_decref(m);
	cr_assert_eq(ak_wait_status(pol, id, "delivered", AK_SOCIAL, WAIT_MS),
	    1);
	g.dir = P.broker_data;
	g.canary = canary;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the delivered ciphertext is still in the broker's store files");
}

/*
 * SPEC §15, or until expired: a copy social care (offline) never collects
 * passes its message_ttl; the sender is told expired, and the canary is in
 * no file under the broker's data_dir.
 */
Test(retract, erases_the_broker_copy_once_it_expires_undelivered,
    .init = setup_ttl, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33];
	uint8_t canary[CANARY_LEN];
	struct gone_ctx g;

	queue_for_offline_social_care(pol, soc, "Expired-1", id, canary);

	cr_assert_eq(ak_wait_status(pol, id, "expired", AK_SOCIAL, 4 * WAIT_MS),
	    1);
	g.dir = P.broker_data;
	g.canary = canary;
	cr_assert_eq(h_wait_until(canary_gone, &g, WAIT_MS), 1,
	    "the expired ciphertext is still in the broker's store files");
}

/*
 * Only the sender may retract: health, holding a valid key, sends the
 * broker a retraction of police's message, signed by itself, and is
 * refused SENDER_MISMATCH and audited; social care keeps the message. The
 * agent refuses a retraction of a message it did not send, and a reason
 * outside the list.
 */
Test(retract, refuses_a_retraction_by_a_node_that_did_not_send_the_message,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	struct h_agent *hea = ak_agent(&P, AK_HEALTH);
	Haven__Retraction r = HAVEN__RETRACTION__INIT;
	Haven__Frame f = HAVEN__FRAME__INIT, *got = NULL;
	struct hc_client *c;
	uint8_t bid[HV_ID_LEN];
	char id[33], *body, *path, *audit;
	json_t *m = NULL;
	int st;

	body = referral("Kept-3");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, &m), 1);
	json_decref(m);

	/* At an agent that did not send it: 404, nothing sent. */
	path = h_fmt("/v1/messages/%s/retract", id);
	st = ak_post(hea, path,
	    "{\"reason\":\"MISDIRECTED\","
	    "\"decided_by\":\"a.nurse\"}",
	    NULL);
	cr_assert_eq(st, 404);
	st = ak_post(pol, path,
	    "{\"reason\":\"Child was named wrongly\","
	    "\"decided_by\":\"j.smith\"}",
	    NULL);
	cr_assert_eq(st, 400, "a free-text reason was taken");
	free(path);

	/* At the broker, straight from health's own connection. */
	cr_assert_eq(h_agent_stop(hea), 0);
	cr_assert_not_null(c = hc_connect(&P, AK_HEALTH));
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS), "no handshake");
	for (int i = 0; i < HV_ID_LEN; i++)
		sscanf(id + 2 * i, "%2hhx", &bid[i]);
	r.id.data = bid;
	r.id.len = HV_ID_LEN;
	r.sender = AK_HEALTH;
	r.reason = "MISDIRECTED";
	r.decided_by = "a.nurse";
	r.created = hv_now_ms();
	cr_assert_eq(hv_retract_sign(&r, c->keys), HV_OK);
	f.kind_case = HAVEN__FRAME__KIND_RETRACTION;
	f.retraction = &r;
	cr_assert_eq(hc_send_frame(c, &f), 0);
	got = hc_wait_kind(c, HAVEN__FRAME__KIND_ERROR, WAIT_MS);
	cr_assert_not_null(got, "no answer to the retraction");
	cr_assert_str_eq(got->error->code, "SENDER_MISMATCH");
	hv_frame_free(&got);
	free(r.signature.data);
	hc_close(&c);
	cr_assert_eq(h_agent_start(&P, hea), 0);

	/* Social care still holds it, whole. */
	path = h_fmt("/v1/inbox/%s", id);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(m, "body"),
	                         "summary")),
	    "Kept-3");
	json_decref(m);
	free(path);

	/* The refusal is audited (REJECTED, SENDER_MISMATCH, by health). */
	cr_assert_eq(h_sh(&audit, 60,
	                 "'%s' audit query --db '%s' --event "
	                 "REJECTED --format json",
	                 h_bin("haven"), P.broker_data),
	    0);
	cr_assert_not_null(strstr(audit, "SENDER_MISMATCH"), "%s", audit);
	cr_assert_not_null(strstr(audit, AK_HEALTH), "%s", audit);
	free(audit);
}

/*
 * A legal hold outranks a retraction: social care holds every message
 * about the child (by NHS number, sent as a pseudonym); the retracted
 * message is kept (its canary still in the store) but shown only as its
 * retracted header, marked held, and the sender still hears it applied.
 */
Test(retract, keeps_a_held_message_but_shows_only_its_retracted_header,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	uint8_t canary[CANARY_LEN];
	char id[33], where[256], *body, *dir, *path, *out = NULL;
	json_t *m = NULL, *e;

	body = referral("Held-4");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, NULL), 1);
	cr_assert_eq(
	    h_sh(&out, 30,
	        "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	        "'%s' hold add --subject-nhs '943 476 5919' --subject-key '%s' "
	        "--reason 'Care proceedings'",
	        soc->url, soc->token_file, h_bin("haven"), P.subject_key),
	    0, "%s", out ? out : "");
	free(out);
	cr_assert_eq(canary_of(AK_SOCIAL, id, canary), 0);

	cr_assert_eq(haven_retract(id, "INACCURATE"), 0);
	cr_assert_eq(ak_wait_status(pol, id, "retraction_delivered", AK_SOCIAL,
	                 WAIT_MS),
	    1);

	path = h_fmt("/v1/inbox/%s", id);
	cr_assert_eq(ak_get(soc, path, &m), 200);
	free(path);
	cr_assert(json_is_true(json_object_get(m, "held")));
	cr_assert_str_eq(json_string_value(json_object_get(m, "status")),
	    "retracted by the sender: INACCURATE");
	cr_assert(json_is_null(json_object_get(m, "body")));
	json_decref(m);
	/* The child's chronology shows the same header, not the content. */
	cr_assert_eq(ak_get(soc, "/v1/children?nhs=9434765919", &m), 200);
	e = json_array_get(json_object_get(m, "chronology"), 0);
	cr_assert_not_null(e, "the held message left the chronology");
	cr_assert_str_eq(json_string_value(json_object_get(e, "id")), id);
	cr_assert_str_eq(json_string_value(json_object_get(e, "status")),
	    "retracted by the sender: INACCURATE");
	cr_assert(json_is_true(json_object_get(e, "retracted")));
	cr_assert_null(json_object_get(e, "child"),
	    "the chronology shows the child of a retracted message");
	cr_assert_null(json_object_get(e, "body"),
	    "the chronology shows the body of a retracted message");
	json_decref(m);
	dir = data_dir(AK_SOCIAL);
	cr_assert(found_in_files(dir, canary, CANARY_LEN, where, sizeof(where)),
	    "the held message was erased");
	free(dir);
}

/* The outcome of recipient node in the sender's retraction view m. */
static const char *
outcome_for(const json_t *m, const char *node)
{
	const json_t *r = json_object_get(json_object_get(m, "retraction"),
	                 "recipients"),
	             *x;
	size_t i;

	json_array_foreach (r, i, x)
		if (strcmp(json_string_value(json_object_get(x, "to")), node) ==
		    0)
			return json_string_value(json_object_get(x, "outcome"));
	return "";
}

/* GET /v1/messages/ID at police; fails the test unless 200. */
static json_t *
sent_view(const char *id)
{
	char *path = h_fmt("/v1/messages/%s", id);
	json_t *m = NULL;

	cr_assert_eq(ak_get(ak_agent(&P, AK_POLICE), path, &m), 200);
	free(path);
	return m;
}

/*
 * The sender's view of a retraction: GET /v1/messages/{id} and `haven
 * status` name the reason, the note, who decided and when, and per
 * recipient whether its copy was withdrawn undelivered (education was
 * offline), is waiting for the recipient (social care offline after
 * delivery) and then confirmed once social care is back.
 */
Test(retract, shows_the_sender_the_reason_and_each_recipients_outcome,
    .init = setup, .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	struct h_agent *sch = ak_agent(&P, AK_SCHOOL);
	char *body = ak_message("[\"" AK_SCHOOL "\",\"" AK_SOCIAL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "two", "");
	char id[33], *out = NULL;
	const json_t *r;
	json_t *m;

	cr_assert_eq(h_agent_stop(sch), 0);
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SOCIAL, WAIT_MS));
	m = sent_view(id);
	cr_assert(json_is_null(json_object_get(m, "retraction")),
	    "a message not retracted has a retraction");
	json_decref(m);
	cr_assert_eq(h_agent_stop(soc), 0);

	cr_assert_eq(haven_retract(id, "MISDIRECTED"), 0);
	cr_assert(ak_wait_status(pol, id, "retracted", NULL, WAIT_MS));
	cr_assert(ak_wait_status(pol, id, "withdrawn", AK_SCHOOL, WAIT_MS));
	m = sent_view(id);
	r = json_object_get(m, "retraction");
	cr_assert(json_is_object(r), "no retraction in the sender's view");
	cr_assert_str_eq(json_string_value(json_object_get(r, "reason")),
	    "MISDIRECTED");
	cr_assert_str_eq(json_string_value(json_object_get(r, "decided_by")),
	    "j.smith");
	cr_assert_str_eq(json_string_value(json_object_get(r, "note")),
	    "sent to the wrong team");
	cr_assert(json_is_string(json_object_get(r, "requested_at")));
	cr_assert(json_is_string(json_object_get(r, "recorded_at")));
	cr_assert_str_eq(outcome_for(m, AK_SCHOOL), "withdrawn");
	cr_assert_str_eq(outcome_for(m, AK_SOCIAL), "pending");
	json_decref(m);

	/* Social care comes back, applies it and confirms. */
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert(ak_wait_status(pol, id, "retraction_delivered", AK_SOCIAL,
	    WAIT_MS));
	m = sent_view(id);
	cr_assert_str_eq(outcome_for(m, AK_SOCIAL), "confirmed");
	cr_assert_str_eq(json_string_value(json_object_get(m, "status")),
	    "retracted");
	json_decref(m);

	/* `haven status` says the same to a person. */
	cr_assert_eq(
	    h_sh(&out, 30,
	        "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' status %s",
	        pol->url, pol->token_file, h_bin("haven"), id),
	    0, "%s", out ? out : "");
	cr_assert(strstr(out,
	              "Retracted     MISDIRECTED, decided by j.smith\n"
	              "Asked         ") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "Note          sent to the wrong team") != NULL,
	    "%s", out);
	cr_assert(strstr(out, AK_SCHOOL ": withdrawn ") != NULL, "%s", out);
	cr_assert(strstr(out, "before delivery: never received") != NULL, "%s",
	    out);
	cr_assert(strstr(out, AK_SOCIAL ": confirmed ") != NULL, "%s", out);
	cr_assert(strstr(out,
	              AK_SOCIAL " confirmed it applied the "
	                        "retraction") != NULL,
	    "the timeline line is missing: %s", out);
	free(out);
	cr_assert_eq(h_agent_start(&P, sch), 0);
}

/*
 * A hold's reason and a retraction's note are typed by a person and kept
 * as typed; `haven hold list` and `haven status` show them at a terminal
 * with every control character (an escape that could retitle the window
 * or clear the screen) replaced, the words kept.
 */
Test(retract,
    shows_a_hold_reason_and_a_retraction_note_without_their_terminal_escapes,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *path, *out = NULL;

	body = referral("Esc-1");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, NULL), 1);

	body = h_fmt("{\"message\":\"%s\",\"reason\":\"Care\\u001b]0;owned"
	             "\\u0007\\u001b[2J proceedings\"}",
	    id);
	cr_assert_eq(ak_post(soc, "/v1/holds", body, NULL), 201);
	free(body);
	cr_assert_eq(
	    h_sh(&out, 30,
	        "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' hold list",
	        soc->url, soc->token_file, h_bin("haven")),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "Care"), "%s", out);
	cr_assert_not_null(strstr(out, "proceedings"), "%s", out);
	cr_assert_null(strchr(out, '\x1b'), "an escape reached the terminal");
	cr_assert_null(strchr(out, '\x07'), "a bell reached the terminal");
	free(out);

	path = h_fmt("/v1/messages/%s/retract", id);
	cr_assert_eq(
	    ak_post(pol, path,
	        "{\"reason\":\"INACCURATE\",\"decided_by\":\"j.smith\","
	        "\"note\":\"wrong\\u001b[2J\\u001b]0;owned\\u0007 "
	        "team\"}",
	        NULL),
	    202);
	free(path);
	out = NULL;
	cr_assert_eq(
	    h_sh(&out, 30,
	        "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' status %s",
	        pol->url, pol->token_file, h_bin("haven"), id),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "wrong"), "%s", out);
	cr_assert_not_null(strstr(out, "team"), "%s", out);
	cr_assert_null(strchr(out, '\x1b'), "an escape reached the terminal");
	cr_assert_null(strchr(out, '\x07'), "a bell reached the terminal");
	free(out);
}

Test(retract, shows_an_acknowledgement_note_without_its_terminal_escapes,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *path, *out = NULL;

	body = referral("Esc-2");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, NULL), 1);
	path = h_fmt("/v1/inbox/%s/ack", id);
	cr_assert_eq(ak_post(soc, path,
	                 "{\"by\":\"asha.duty\",\"note\":\"seen\\u001b]0;"
	                 "owned\\u0007\\u001b[2J by the MASH\"}",
	                 NULL),
	    200);
	free(path);
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' show %s",
	                 soc->url, soc->token_file, h_bin("haven"), id),
	    0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "seen"), "%s", out);
	cr_assert_not_null(strstr(out, "by the MASH"), "%s", out);
	cr_assert_null(strchr(out, '\x1b'), "an escape reached the terminal");
	cr_assert_null(strchr(out, '\x07'), "a bell reached the terminal");
	free(out);
}

/*
 * `haven show` of a retracted message says so first, with the reason and
 * who decided, and prints no "UNACKNOWLEDGED" or empty lawful basis that a
 * duty worker would take for a message still to act on.
 */
Test(retract, show_says_a_message_was_retracted_before_anything_else,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *out = NULL;
	json_t *m = NULL;

	body = referral("Shown-4b1d");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(soc, id, WAIT_MS, &m), 1);
	json_decref(m);
	cr_assert_eq(haven_retract(id, "WRONG_CHILD"), 0);
	cr_assert_eq(ak_wait_status(pol, id, "retraction_delivered", AK_SOCIAL,
	                 WAIT_MS),
	    1, "social care never confirmed");
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' show %s",
	                 soc->url, soc->token_file, h_bin("haven"), id),
	    0, "%s", out);
	cr_assert(strncmp(out,
	              "!! RETRACTED BY THE SENDER: WRONG_CHILD, decided by "
	              "j.smith at ",
	              63) == 0,
	    "%s", out);
	cr_assert_not_null(strstr(out, id), "%s", out);
	cr_assert_null(strstr(out, "UNACKNOWLEDGED"), "%s", out);
	cr_assert_null(strstr(out, "Lawful basis"), "%s", out);
	cr_assert_null(strstr(out, "Shown-4b1d"), "%s", out);
	free(out);
}

/*
 * The reason is a code because it is audited for the life of the
 * partnership; a sentence typed as --reason is pointed at --note, and a
 * missing --reason or --decided-by is called missing, not malformed. These
 * are usage errors found before the agent is asked (status 2).
 */
Test(retract, points_a_sentence_given_as_the_reason_to_the_note)
{
	const char *id = "8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15";
	char *out = NULL;

	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT=http://127.0.0.1:9 "
	                 "HAVEN_TOKEN_FILE=/dev/null "
	                 "'%s' retract %s --reason 'sent to the wrong school' "
	                 "--decided-by j.smith 2>&1",
	                 h_bin("haven"), id),
	    2, "%s", out);
	cr_assert_not_null(strstr(out, "put your own words in --note"), "%s",
	    out);
	free(out);
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT=http://127.0.0.1:9 "
	                 "HAVEN_TOKEN_FILE=/dev/null "
	                 "'%s' retract %s --reason MISDIRECTED 2>&1",
	                 h_bin("haven"), id),
	    2, "%s", out);
	cr_assert_not_null(strstr(out, "--decided-by is required"), "%s", out);
	free(out);
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT=http://127.0.0.1:9 "
	                 "HAVEN_TOKEN_FILE=/dev/null "
	                 "'%s' retract %s --decided-by j.smith 2>&1",
	                 h_bin("haven"), id),
	    2, "%s", out);
	cr_assert_not_null(strstr(out, "--reason is required"), "%s", out);
	free(out);
}

/* Social care's messages to police, sent until told to stop. */
struct stream {
	struct h_agent *from;
	atomic_int stop;
	atomic_int posted;
};

static void *
stream_run(void *arg)
{
	struct stream *st = arg;
	char sid[33];

	for (int i = 0; i < 5000 && !atomic_load(&st->stop); i++) {
		char *b = ak_message("[\"" AK_POLICE "\"]",
		    "STRATEGY_DISCUSSION", "URGENT", "stream", "");

		if (ak_post(st->from, "/v1/messages", b, sid) == 202)
			atomic_fetch_add(&st->posted, 1);
		free(b);
	}
	return NULL;
}

static int
stream_flowing(void *ctx)
{
	return atomic_load(&((struct stream *)ctx)->posted) >= 50;
}

/*
 * Social care receives retractions from police while its own messages to
 * police stream out, so their receipts reach it around each retraction.
 * Applying a retraction writes in a transaction of its own: it must not
 * wait for the one that is storing those receipts, or the agent stops
 * (every retraction unconfirmed, SIGTERM unanswered).
 */
Test(retract,
    applies_retractions_that_arrive_amid_receipts_for_its_own_messages,
    .init = setup, .fini = teardown, .timeout = 200)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct stream st = { .from = ak_agent(&P, AK_SOCIAL) };
	char id[10][33], *body;
	pthread_t t;
	int k, ok = 1;

	for (k = 0; k < 10; k++) {
		body = referral("Amid");
		cr_assert_eq(ak_post(pol, "/v1/messages", body, id[k]), 202);
		free(body);
	}
	for (k = 0; k < 10; k++)
		cr_assert(ak_wait_status(pol, id[k], "delivered", AK_SOCIAL,
		    WAIT_MS));
	cr_assert_eq(pthread_create(&t, NULL, stream_run, &st), 0);
	ok = h_wait_until(stream_flowing, &st, WAIT_MS);
	for (k = 0; k < 10 && ok; k++)
		ok = haven_retract(id[k], "MISDIRECTED") == 0;
	for (k = 0; k < 10 && ok; k++)
		ok = ak_wait_status(pol, id[k], "retraction_delivered",
		    AK_SOCIAL, WAIT_MS);
	atomic_store(&st.stop, 1);
	pthread_join(t, NULL);
	cr_assert(ok,
	    "retraction %d was never confirmed by social care "
	    "(%d of its own messages were sent meanwhile)",
	    k - 1, atomic_load(&st.posted));
}
