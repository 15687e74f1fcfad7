/*
 * End-to-end tests of the child look-up (SPEC §15 "Flags and chronology"):
 * GET /v1/children and `haven child` on real agents behind a real broker.
 * START and END messages set and clear flags at the agencies that received
 * them; the chronology lists what each agency sent and received about a
 * child, oldest first, with statuses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_keys.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"

/* Two children with valid NHS numbers, and one that fails the check. */
#define CHILD_A "943 476 5919"
#define CHILD_A_DIGITS "9434765919"
#define CHILD_B "401 023 2137"
#define BAD_NHS "9434765918"

/* The flows the sample agreement lacks: looked after, case updates. */
#define EXTRA_RULES \
	"allow social-care -> health, education : LOOKED_AFTER_START, " \
	"LOOKED_AFTER_END\n" \
	"allow police, health, education, social-care -> police, health, " \
	"education, social-care : CASE_UPDATE\n"

static const char *const agency_ids[4] = { AK_POLICE, AK_HEALTH, AK_SCHOOL,
	AK_SOCIAL };

static struct h_partnership P;

static void
setup(void)
{
	cr_assert_eq(h_partnership_create(&P, EXTRA_RULES, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not start");
	for (int i = 0; i < 4; i++) {
		struct h_agent *a = h_agent_add(&P, agency_ids[i], NULL);

		cr_assert(a != NULL);
		cr_assert_eq(h_agent_start(&P, a), 0, "%s did not start",
		    agency_ids[i]);
	}
}

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/*
 * Sends a message about child nhs from one agency to others (to: a JSON
 * array text) with body (a JSON object text), waits until every recipient
 * holds it, and copies its id.
 */
static void
send_about(const char *from, const char *to, const char *type, const char *nhs,
    const char *body, const char *more, char id[33])
{
	char *req =
	    h_fmt("{\"to\":%s,\"type\":\"%s\",\"priority\":"
	          "\"ROUTINE\",\"subject\":{\"nhs\":\"%s\"}," AK_BASIS ","
	          "\"child\":{\"name\":\"Child %s\"},\"body\":%s%s}",
	        to, type, nhs, type, body, more ? more : "");
	json_t *recips = json_loads(to, 0, NULL), *r;
	size_t i;

	cr_assert_eq(ak_post(ak_agent(&P, from), "/v1/messages", req, id), 202,
	    "%s could not send %s", from, type);
	free(req);
	cr_assert(recips != NULL);
	json_array_foreach (recips, i, r)
		cr_assert_eq(ak_wait_inbox(ak_agent(&P, json_string_value(r)),
		                 id, 30000, NULL),
		    1, "%s never received %s", json_string_value(r), type);
	json_decref(recips);
}

/* GET /v1/children?QUERY at agency id; asserts 200 and returns the body. */
static json_t *
lookup(const char *id, const char *query)
{
	char *path = h_fmt("/v1/children?%s", query);
	json_t *j = NULL;
	int st = ak_get(ak_agent(&P, id), path, &j);

	cr_assert_eq(st, 200, "%s answered %d to %s", id, st, path);
	free(path);
	cr_assert(j != NULL);
	return j;
}

/* The flag `name` of a look-up. */
static json_t *
flag(json_t *j, const char *name)
{
	json_t *f = json_object_get(json_object_get(j, "flags"), name);

	cr_assert(f != NULL, "no flag %s", name);
	return f;
}

static int
active(json_t *j, const char *name)
{
	return json_is_true(json_object_get(flag(j, name), "active"));
}

static const char *
member(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

#define Q_A "nhs=943%20476%205919"
#define Q_B "nhs=4010232137"

/*
 * Social care starts a child protection plan for child A with health and
 * a looked-after episode for child B with health and the school: each
 * flag is set for its own child, only at the agencies that received the
 * START, and the END clears it there while the other child's flag stays.
 */
Test(children,
    start_sets_and_end_clears_a_flag_per_child_at_the_receiving_agency_only,
    .init = setup, .fini = teardown, .timeout = 180)
{
	char plan[33], la[33], end[33];
	json_t *j;

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "CP_PLAN_START", CHILD_A,
	    "{}", NULL, plan);
	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\",\"" AK_SCHOOL "\"]",
	    "LOOKED_AFTER_START", CHILD_B, "{}", NULL, la);

	j = lookup(AK_HEALTH, Q_A);
	cr_assert(active(j, "cp_plan"), "health sees no plan for child A");
	cr_assert_str_eq(member(flag(j, "cp_plan"), "from"), AK_SOCIAL);
	cr_assert_str_eq(member(flag(j, "cp_plan"), "message"), plan);
	cr_assert(json_is_string(json_object_get(flag(j, "cp_plan"), "since")));
	cr_assert(!active(j, "looked_after"), "child A is not looked after");
	cr_assert(!active(j, "missing"));
	cr_assert_str_eq(member(j, "subject"), "nhs:" CHILD_A_DIGITS);
	json_decref(j);

	j = lookup(AK_HEALTH, Q_B);
	cr_assert(active(j, "looked_after"));
	cr_assert(!active(j, "cp_plan"), "child B has no plan");
	json_decref(j);
	j = lookup(AK_SCHOOL, Q_B);
	cr_assert(active(j, "looked_after"));
	json_decref(j);

	/* The school, the police and the sender received no plan for A. */
	j = lookup(AK_SCHOOL, Q_A);
	cr_assert(!active(j, "cp_plan"));
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 0);
	json_decref(j);
	j = lookup(AK_POLICE, Q_A);
	cr_assert(!active(j, "cp_plan"));
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 0);
	json_decref(j);
	j = lookup(AK_SOCIAL, Q_A);
	cr_assert(!active(j, "cp_plan"),
	    "the sender's own START sets no "
	    "flag at the sender");
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 1);
	json_decref(j);

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "CP_PLAN_END", CHILD_A,
	    "{}", NULL, end);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert(!active(j, "cp_plan"), "the END did not clear the plan");
	cr_assert_str_eq(member(flag(j, "cp_plan"), "ended_by"), AK_SOCIAL);
	cr_assert(json_is_string(json_object_get(flag(j, "cp_plan"), "ended")));
	json_decref(j);
	j = lookup(AK_HEALTH, Q_B);
	cr_assert(active(j, "looked_after"), "A's END touched child B");
	json_decref(j);

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\",\"" AK_SCHOOL "\"]",
	    "LOOKED_AFTER_END", CHILD_B, "{}", NULL, end);
	j = lookup(AK_SCHOOL, Q_B);
	cr_assert(!active(j, "looked_after"));
	json_decref(j);
	(void)la;
}

/* Waits until the chronology entry `idx` at agency id has status. */
static json_t *
wait_entry_status(const char *id, const char *query, size_t idx,
    const char *status)
{
	for (int i = 0; i < 1500; i++) {
		json_t *j = lookup(id, query), *e;

		e = json_array_get(json_object_get(j, "chronology"), idx);
		if (e != NULL && strcmp(member(e, "status"), status) == 0)
			return j;
		json_decref(j);
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	}
	cr_assert_fail("entry %zu at %s never became %s", idx, id, status);
	return NULL;
}

/*
 * Social care asks health about child A, health acknowledges and answers:
 * each side's chronology lists both messages oldest first, in the right
 * direction, with the other party, the status and (for what it received)
 * the child and body.
 */
Test(children, lists_the_chronology_oldest_first_with_statuses_and_content,
    .init = setup, .fini = teardown, .timeout = 180)
{
	char req[33], resp[33], more[80], *path;
	json_t *j, *e0, *e1;

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "INFO_REQUEST", CHILD_A,
	    "{\"summary\":\"Attendances in the last year?\"}",
	    ",\"deadline\":\"GREEN\"", req);
	path = h_fmt("/v1/inbox/%s/ack", req);
	cr_assert_eq(ak_post(ak_agent(&P, AK_HEALTH), path,
	                 "{\"by\":\"named.nurse\"}", NULL),
	    200);
	free(path);
	snprintf(more, sizeof(more), ",\"reply_to\":\"%s\"", req);
	send_about(AK_HEALTH, "[\"" AK_SOCIAL "\"]", "INFO_RESPONSE", CHILD_A,
	    "{\"summary\":\"Two A&E attendances.\"}", more, resp);
	/* Another child's message must not appear in A's chronology. */
	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "CP_PLAN_START", CHILD_B,
	    "{}", NULL, more);

	j = wait_entry_status(AK_HEALTH, Q_A, 1, "delivered");
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 2);
	e0 = json_array_get(json_object_get(j, "chronology"), 0);
	e1 = json_array_get(json_object_get(j, "chronology"), 1);
	cr_assert_str_eq(member(e0, "id"), req);
	cr_assert_str_eq(member(e0, "direction"), "received");
	cr_assert_str_eq(member(e0, "type"), "INFO_REQUEST");
	cr_assert_str_eq(member(e0, "other_party"), AK_SOCIAL);
	cr_assert_str_eq(member(e0, "status"), "acknowledged");
	cr_assert_str_eq(member(json_object_get(e0, "body"), "summary"),
	    "Attendances in the last year?");
	cr_assert_str_eq(member(json_object_get(e0, "child"), "name"),
	    "Child INFO_REQUEST");
	cr_assert_str_eq(member(e1, "id"), resp);
	cr_assert_str_eq(member(e1, "direction"), "sent");
	cr_assert_str_eq(member(e1, "type"), "INFO_RESPONSE");
	cr_assert_str_eq(member(e1, "other_party"), AK_SOCIAL);
	cr_assert(json_object_get(e1, "body") == NULL,
	    "a sent message's "
	    "content is sealed to its recipients");
	cr_assert(strcmp(member(e0, "at"), member(e1, "at")) <= 0);
	json_decref(j);

	j = wait_entry_status(AK_SOCIAL, Q_A, 0, "acknowledged");
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 2);
	e0 = json_array_get(json_object_get(j, "chronology"), 0);
	e1 = json_array_get(json_object_get(j, "chronology"), 1);
	cr_assert_str_eq(member(e0, "id"), req);
	cr_assert_str_eq(member(e0, "direction"), "sent");
	cr_assert_str_eq(member(e0, "other_party"), AK_HEALTH);
	cr_assert_str_eq(member(e1, "id"), resp);
	cr_assert_str_eq(member(e1, "direction"), "received");
	cr_assert_str_eq(member(e1, "status"), "received");
	cr_assert_str_eq(member(json_object_get(e1, "body"), "summary"),
	    "Two A&E attendances.");
	json_decref(j);
}

/*
 * The police report child A missing to health: the flag is set there and
 * the look-up is noted in health's log by pseudonym, never by NHS number.
 * A CASE_UPDATE that does not say "found" leaves it set; one whose body
 * says missing_status "found" ends it.
 */
Test(children,
    missing_is_set_by_an_alert_and_closed_by_a_case_update_saying_found,
    .init = setup, .fini = teardown, .timeout = 180)
{
	char alert[33], upd[33];
	json_t *j;
	char *log;

	send_about(AK_POLICE, "[\"" AK_HEALTH "\"]", "MISSING_CHILD_ALERT",
	    CHILD_A, "{\"summary\":\"Not seen since 07:00.\"}", NULL, alert);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert(active(j, "missing"));
	cr_assert_str_eq(member(flag(j, "missing"), "from"), AK_POLICE);
	json_decref(j);
	log = h_read(ak_agent(&P, AK_HEALTH)->log);
	cr_assert(log != NULL);
	cr_assert(strstr(log, "child look-up found active flags (missing)") !=
	        NULL,
	    "the look-up of a flagged child was not logged");
	cr_assert(strstr(log, CHILD_A_DIGITS) == NULL &&
	        strstr(log, CHILD_A) == NULL,
	    "the agent's log holds the NHS number");
	free(log);

	send_about(AK_POLICE, "[\"" AK_HEALTH "\"]", "CASE_UPDATE", CHILD_A,
	    "{\"missing_status\":\"still missing\"}", NULL, upd);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert(active(j, "missing"),
	    "an update not saying found "
	    "closed the alert");
	json_decref(j);

	send_about(AK_POLICE, "[\"" AK_HEALTH "\"]", "CASE_UPDATE", CHILD_A,
	    "{\"missing_status\":\"found\",\"summary\":\"Home, safe.\"}", NULL,
	    upd);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert(!active(j, "missing"), "the found update did not close it");
	cr_assert_str_eq(member(flag(j, "missing"), "ended_by"), AK_POLICE);
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 3);
	json_decref(j);
}

/*
 * A bad NHS number or local identifier is refused with 400 INVALID_SUBJECT
 * naming the query parameter; neither or both is a bad request; `haven
 * child` says so in a sentence and exits 1.
 */
Test(children, refuses_a_bad_nhs_number_naming_the_field, .init = setup,
    .fini = teardown, .timeout = 120)
{
	static const struct {
		const char *query, *code, *field;
	} bad[] = {
		{ "nhs=" BAD_NHS, "INVALID_SUBJECT", "nhs" },
		{ "nhs=12345", "INVALID_SUBJECT", "nhs" },
		{ "nhs=943476591x", "INVALID_SUBJECT", "nhs" },
		{ "local=no-colon", "INVALID_SUBJECT", "local" },
		{ "", "BAD_REQUEST", NULL },
		{ "nhs=9434765919&local=police:1", "BAD_REQUEST", NULL },
	};
	struct h_agent *h = ak_agent(&P, AK_HEALTH);
	char *out = NULL, *url;
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = h_fmt("/v1/children?%s", bad[i].query);
		json_t *j = NULL, *err;
		int st = ak_get(h, path, &j);

		cr_assert_eq(st, 400, "%s answered %d", path, st);
		err = json_object_get(j, "error");
		cr_assert_str_eq(member(err, "code"), bad[i].code, "%s", path);
		if (bad[i].field != NULL)
			cr_assert_str_eq(member(err, "field"), bad[i].field);
		else
			cr_assert(json_is_null(json_object_get(err, "field")));
		cr_assert(strstr(member(err, "message"), "9434765") == NULL,
		    "the error repeats the NHS number");
		json_decref(j);
		free(path);
	}
	url = h_fmt("%s/v1/children?%s", h->url, Q_A);
	cr_assert_eq(h_http("GET", url, NULL, NULL, NULL), 401);
	cr_assert_eq(h_http("POST", url, h->token, "{}", NULL), 405);
	free(url);

	rc = h_sh(&out, 60,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' child "
	    "--subject-nhs %s",
	    h->url, h->token_file, h_bin("haven"), BAD_NHS);
	cr_assert_eq(rc, 1, "haven child exited %d: %s", rc, out);
	cr_assert(strstr(out, "check digit") != NULL, "%s", out);
	free(out);
	rc = h_sh(&out, 60, "'%s' child --agent '%s' --token-file '%s'",
	    h_bin("haven"), h->url, h->token_file);
	cr_assert_eq(rc, 2, "%s", out);
	free(out);
}

/*
 * `haven child` prints the flags in plain words and then the chronology
 * table; --json prints the agent's document.
 */
Test(children, haven_child_prints_the_flags_in_words_then_the_chronology,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *h = ak_agent(&P, AK_HEALTH);
	char plan[33], *out = NULL;
	json_t *j;
	int rc;

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "CP_PLAN_START", CHILD_A,
	    "{}", NULL, plan);
	rc = h_sh(&out, 60,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' child "
	    "--subject-nhs '%s'",
	    h->url, h->token_file, h_bin("haven"), CHILD_A);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "Child protection plan:  YES, since") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "(from " AK_SOCIAL ")") != NULL, "%s", out);
	cr_assert(strstr(out, "Looked after:           no") != NULL, "%s", out);
	cr_assert(strstr(out, "Missing:                no") != NULL, "%s", out);
	cr_assert(strstr(out, "CP_PLAN_START") != NULL &&
	        strstr(out, plan) != NULL,
	    "%s", out);
	cr_assert(strstr(out, "Child protection") < strstr(out, "Chronology"),
	    "the flags come first: %s", out);
	free(out);

	rc = h_sh(&out, 60,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' child "
	    "--subject-nhs %s --json",
	    h->url, h->token_file, h_bin("haven"), CHILD_A_DIGITS);
	cr_assert_eq(rc, 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "%s", out);
	cr_assert(active(j, "cp_plan"));
	json_decref(j);
	free(out);
}

/* Empties the child index and its mark in agent id's store (stopped). */
static void
forget_index(const char *id)
{
	char *dir = h_fmt("%s/data/%s", P.dir, id);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen("child_index_v1"), "child_index_v1" };

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 32), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 1u << 30), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0, "%s", dir);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "child_index", 0, &dbi), 0);
	cr_assert_eq(mdb_drop(txn, dbi, 0), 0);
	cr_assert_eq(mdb_dbi_open(txn, "child_flags", 0, &dbi), 0);
	cr_assert_eq(mdb_drop(txn, dbi, 0), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	cr_assert_eq(mdb_del(txn, dbi, &k, NULL), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(dir);
}

/*
 * A store written before the index existed (its index emptied here) gets
 * the index and flags built once when the agent starts, so older messages
 * appear in the look-up.
 */
Test(children, builds_the_index_once_for_a_store_written_before_it,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *h = ak_agent(&P, AK_HEALTH);
	char plan[33], req[33];
	json_t *j;
	char *log;

	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "CP_PLAN_START", CHILD_A,
	    "{}", NULL, plan);
	send_about(AK_SOCIAL, "[\"" AK_HEALTH "\"]", "INFO_REQUEST", CHILD_A,
	    "{}", ",\"deadline\":\"GREEN\"", req);
	cr_assert_eq(h_agent_stop(h), 0);
	forget_index(AK_HEALTH);
	cr_assert_eq(h_agent_start(&P, h), 0);

	j = lookup(AK_HEALTH, Q_A);
	cr_assert(active(j, "cp_plan"), "the migration did not set the flag");
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 2);
	cr_assert_str_eq(member(json_array_get(json_object_get(j, "chronology"),
	                            0),
	                     "id"),
	    plan);
	cr_assert_str_eq(member(json_array_get(json_object_get(j, "chronology"),
	                            1),
	                     "id"),
	    req);
	json_decref(j);
	log = h_read(h->log);
	cr_assert(log != NULL &&
	        strstr(log,
	            "indexed 2 stored messages by "
	            "child") != NULL,
	    "%s", log ? log : "");
	free(log);

	/* The next start finds the mark and indexes nothing twice. */
	cr_assert_eq(h_agent_stop(h), 0);
	cr_assert_eq(h_agent_start(&P, h), 0);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 2);
	json_decref(j);
}

/*
 * Social care's END, then a START created before it, submitted straight to
 * the broker (as a START held up somewhere would arrive): the START is
 * stored and listed, but the flag stays ended, because the END is newer.
 */
Test(children,
    a_start_created_before_the_end_it_arrives_after_leaves_the_flag_ended,
    .init = setup, .fini = teardown, .timeout = 180)
{
	static const char *const to[] = { AK_HEALTH };
	static const char payload[] =
	    "{\"subject\":\"nhs:" CHILD_A_DIGITS "\",\"child\":{},\"body\":{}}";
	const char *types[2] = { "CP_PLAN_END", "CP_PLAN_START" };
	char hex[2][33], *keyfile = h_fmt("%s/subject.key", P.dir);
	uint8_t *key = NULL, pseudonym[HV_PSEUDONYM_LEN];
	struct hc_client *c;
	json_t *j;

	/* The test speaks for social care, so its own agent stops. */
	cr_assert_eq(h_agent_stop(ak_agent(&P, AK_SOCIAL)), 0);
	cr_assert_eq(hv_subject_key_load(keyfile, &key, NULL), HV_OK);
	free(keyfile);
	hv_subject_pseudonym(key, "nhs:" CHILD_A_DIGITS, pseudonym);
	hv_secret_free(key);
	cr_assert_not_null(c = hc_connect(&P, AK_SOCIAL));
	cr_assert(hc_wait_handshakes(c, 1, 20000));
	for (int i = 0; i < 2; i++) {
		hv_envelope env;
		Haven__Frame *f;
		uint8_t *buf;
		size_t len;

		hc_env_init(c, &env, to, 1, types[i]);
		memcpy(env.subject, pseudonym, sizeof(pseudonym));
		env.created -= i == 0 ? 0 : 60; /* the START is older */
		cr_assert_eq(hc_env_seal(c, &env, payload, strlen(payload)), 0);
		cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
		cr_assert_eq(hc_submit(c, buf, len), 0);
		f = hc_wait_receipt(c, env.id, 20000);
		cr_assert_not_null(f);
		cr_assert_str_eq(hc_status(f), "ACCEPTED", "%s %s", types[i],
		    hc_code(f));
		hv_frame_free(&f);
		hv_hex(env.id, HV_ID_LEN, hex[i]);
		cr_assert_eq(ak_wait_inbox(ak_agent(&P, AK_HEALTH), hex[i],
		                 30000, NULL),
		    1);
		free(buf);
		hv_envelope_clear(&env);
	}
	hc_close(&c);

	j = lookup(AK_HEALTH, Q_A);
	cr_assert(!active(j, "cp_plan"), "an older START set the flag again");
	cr_assert_eq(json_array_size(json_object_get(j, "chronology")), 2);
	cr_assert_str_eq(member(json_array_get(json_object_get(j, "chronology"),
	                            1),
	                     "id"),
	    hex[1]);
	/* No START was ever applied: nothing to say since when. */
	cr_assert(json_is_null(json_object_get(flag(j, "cp_plan"), "since")));
	cr_assert_str_eq(member(flag(j, "cp_plan"), "ended_by"), AK_SOCIAL);
	json_decref(j);
}

Test(children, haven_child_answers_help_with_status_0, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(h_sh(&out, 30, "'%s' child --help", h_bin("haven")), 0);
	cr_assert(strstr(out, "SYNOPSIS") && strstr(out, "EXIT STATUS") &&
	        strstr(out, "EXAMPLE"),
	    "%s", out);
	free(out);
}

/*
 * A child known by an agency's own identifier is looked up by it, through
 * the API and `haven child --subject-local`, and not under an NHS number.
 */
Test(children, finds_a_child_named_by_a_local_identifier, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *h = ak_agent(&P, AK_HEALTH);
	char id[33], *out = NULL;
	json_t *j;
	int rc;

	cr_assert_eq(ak_post(ak_agent(&P, AK_SOCIAL), "/v1/messages",
	                 "{\"to\":[\"" AK_HEALTH
	                 "\"],\"type\":\"LOOKED_AFTER_START\","
	                 "\"priority\":\"ROUTINE\",\"subject\":{\"local\":"
	                 "\"social-care.bristol:LAC-0042\"}," AK_BASIS "}",
	                 id),
	    202);
	cr_assert_eq(ak_wait_inbox(h, id, 30000, NULL), 1);

	j = lookup(AK_HEALTH, "local=social-care.bristol%3ALAC-0042");
	cr_assert(active(j, "looked_after"));
	cr_assert_str_eq(member(j, "subject"),
	    "local:social-care.bristol:LAC-0042");
	json_decref(j);
	j = lookup(AK_HEALTH, Q_A);
	cr_assert(!active(j, "looked_after"));
	json_decref(j);

	rc = h_sh(&out, 60,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' child "
	    "--subject-local social-care.bristol:LAC-0042",
	    h->url, h->token_file, h_bin("haven"));
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "Looked after:           YES") != NULL, "%s",
	    out);
	cr_assert(strstr(out, id) != NULL, "%s", out);
	free(out);
}
