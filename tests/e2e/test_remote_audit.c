/*
 * test_remote_audit — IG officers asking a running broker over the network
 * (`haven audit query|prove|consistency --broker`) and the administrator's
 * `haven health --broker`: a real broker with a partnership of two ig
 * nodes (ig.bristol with scope=*, ig.avon-police with scope=police),
 * records put in by test clients (client.c), and the real bin/haven.
 *
 * The log the tests build, about two children:
 *   A  police -> school, social care  DOMESTIC_ABUSE_NOTIFICATION  child S
 *   B  health -> social care          UNSCHEDULED_CARE_ATTENDANCE  child S
 *   C  health, not shared             CASE_UPDATE (decision)       child S
 *   D  school -> social care          REFERRAL                     child T
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "client.h"
#include "harness.h"
#include "hv_auditlog.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"

#define WAIT_MS 10000
#define POLICE_IG "ig.avon-police"

static struct h_partnership P;

struct fx {
	char nhs_s[11];
	uint8_t subj_s[32], subj_t[32];
	uint8_t id[4][HV_ID_LEN]; /* A, B, C, D */
	char hex[4][HV_ID_HEX_LEN + 1];
};

static void
stop(void)
{
	h_partnership_destroy(&P);
}

/* A valid NHS number starting with the nine digits of prefix. */
static void
nhs_number(const char *prefix, char out[11])
{
	for (char c = '0'; c <= '9'; c++) {
		snprintf(out, 11, "%.9s%c", prefix, c);
		if (hv_nhs_check_digit_ok(out))
			return;
	}
	cr_assert_fail("no check digit for %s", prefix);
}

static void
pseudonym(const char *nhs, uint8_t out[32])
{
	char norm[HV_SUBJECT_MAX];
	uint8_t *key;

	cr_assert_eq(hv_subject_nhs(nhs, norm, sizeof(norm), NULL), HV_OK);
	cr_assert_eq(hv_subject_key_load(P.subject_key, &key, NULL), HV_OK);
	hv_subject_pseudonym(key, norm, out);
	hv_secret_free(key);
}

/* The partnership, with a second ig node whose scope is police only. */
static void
start(void)
{
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	rc = h_sh(&out, 60, "'%s' keygen --id %s --out '%s/keys'",
	    h_bin("haven"), POLICE_IG, P.dir);
	cr_assert_eq(rc, 0, "keygen: %s", out ? out : "");
	free(out);
	cr_assert_eq(h_partnership_resign(&P, 1,
	                 "node " POLICE_IG " keys/" POLICE_IG
	                 ".pub scope=police\n"),
	    0);
	cr_assert_eq(h_broker_start(&P), 0,
	    "the broker did not start; see "
	    "%s",
	    P.broker_log);
}

static struct hc_client *
connect_node(const char *node)
{
	struct hc_client *c = hc_connect(&P, node);

	cr_assert_not_null(c, "cannot connect as %s", node);
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS),
	    "%s never completed the "
	    "handshake",
	    node);
	return c;
}

/* Seals env (about subj) and asserts the broker accepts it. */
static void
accept_env(struct hc_client *c, hv_envelope *env, const uint8_t subj[32],
    uint8_t id[HV_ID_LEN])
{
	Haven__Frame *f;
	uint8_t *buf;
	size_t len;

	memcpy(env->subject, subj, 32);
	cr_assert_eq(hc_env_seal(c, env, "{}", 2), 0);
	cr_assert_eq(hc_env_pack(env, &buf, &len), 0);
	memcpy(id, env->id, HV_ID_LEN);
	hv_envelope_clear(env);
	cr_assert_eq(hc_submit(c, buf, len), 0);
	f = hc_wait_receipt(c, id, WAIT_MS);
	cr_assert_not_null(f, "no receipt within %d ms", WAIT_MS);
	cr_assert_str_eq(hc_status(f), "ACCEPTED", "%s: %s", hc_code(f),
	    f->receipt->message);
	hv_frame_free(&f);
	free(buf);
}

/* Starts the broker and puts records A to D in its log. */
static void
fill(struct fx *fx)
{
	static const char *const to_ps[] = { "education.st-marys-primary",
		"social-care.bristol" };
	static const char *const to_sc[] = { "social-care.bristol" };
	struct hc_client *police, *health, *school;
	char nhs_t[11];
	hv_envelope env;

	start();
	nhs_number("943476591", fx->nhs_s);
	nhs_number("401023213", nhs_t);
	pseudonym(fx->nhs_s, fx->subj_s);
	pseudonym(nhs_t, fx->subj_t);
	police = connect_node("police.avon");
	health = connect_node("health.bristol-royal");
	school = connect_node("education.st-marys-primary");

	hc_env_init(police, &env, to_ps, 2, "DOMESTIC_ABUSE_NOTIFICATION");
	accept_env(police, &env, fx->subj_s, fx->id[0]);
	hc_env_init(health, &env, to_sc, 1, "UNSCHEDULED_CARE_ATTENDANCE");
	accept_env(health, &env, fx->subj_s, fx->id[1]);
	hc_env_init(health, &env, NULL, 0, "CASE_UPDATE");
	snprintf(env.outcome, sizeof(env.outcome), "NOT_SHARED");
	snprintf(env.basis.consent, sizeof(env.basis.consent), "REFUSED");
	accept_env(health, &env, fx->subj_s, fx->id[2]);
	hc_env_init(school, &env, to_sc, 1, "REFERRAL");
	accept_env(school, &env, fx->subj_t, fx->id[3]);
	for (int i = 0; i < 4; i++)
		hv_hex(fx->id[i], HV_ID_LEN, fx->hex[i]);
	hc_close(&police);
	hc_close(&health);
	hc_close(&school);
}

/* The remote options for node's key, with the directory checked (one of
 * four static buffers, so a call may use two). */
static const char *
remote(const char *node)
{
	static char buf[4][4 * H_PATH];
	static int slot;
	char *b = buf[slot++ % 4];

	snprintf(b, sizeof(buf[0]),
	    "--broker %s --key '%s/keys/%s.key' "
	    "--directory '%s' --root-pub '%s'",
	    P.endpoint, P.dir, node, P.directory, P.root_pub);
	return b;
}

/* Runs `haven audit ARGS` (stderr dropped) and parses its JSON output. */
static json_t *
audit_json(const char *args)
{
	json_error_t jerr;
	char *out = NULL;
	json_t *j;
	int rc;

	rc = h_sh(&out, 60, "'%s' audit %s 2>/dev/null", h_bin("haven"), args);
	cr_assert_eq(rc, 0, "haven audit %s exited %d: %s", args, rc,
	    out ? out : "");
	j = json_loads(out, 0, &jerr);
	cr_assert_not_null(j, "not JSON (%s): %s", jerr.text, out);
	free(out);
	return j;
}

/* 1 when any record of the document has message id hex and event. */
static int
has_record(const json_t *doc, const char *hex, const char *event)
{
	const json_t *r;
	size_t i;

	json_array_foreach (json_object_get(doc, "records"), i, r) {
		const char *id =
		    json_string_value(json_object_get(r, "message_id"));
		const char *ev = json_string_value(json_object_get(r, "event"));

		if (id != NULL && strcmp(id, hex) == 0 &&
		    (event == NULL || strcmp(ev, event) == 0))
			return 1;
	}
	return 0;
}

static int
role_is(const char *node, const char *role)
{
	size_t n = strlen(role);

	return node != NULL && strncmp(node, role, n) == 0 && node[n] == '.';
}

/* Asserts every record involves police, or was made by the node itself. */
static void
assert_police_scope(const json_t *doc)
{
	const json_t *r, *rc;
	size_t i, k;

	json_array_foreach (json_object_get(doc, "records"), i, r) {
		int ok =
		    role_is(json_string_value(json_object_get(r, "sender")),
		        "police");
		const char *actor =
		    json_string_value(json_object_get(r, "actor"));

		json_array_foreach (json_object_get(r, "recipients"), k, rc)
			ok |= role_is(json_string_value(rc), "police");
		ok |= actor != NULL && strcmp(actor, POLICE_IG) == 0;
		cr_assert(ok, "record %lld (%s) is outside the police scope",
		    (long long)json_integer_value(json_object_get(r, "seq")),
		    json_string_value(json_object_get(r, "event")));
	}
}

/* The AUDIT_QUERY records of the store, read with --db. */
static json_t *
audit_queries(void)
{
	char *args = h_fmt("query --db '%s' --event AUDIT_QUERY --format json",
	    P.broker_data);
	json_t *j = audit_json(args);

	free(args);
	return j;
}

/* ---- scope ----------------------------------------------------------- */

Test(remote_audit, a_police_scope_sees_only_records_involving_police,
    .fini = stop, .timeout = 180)
{
	struct fx fx;
	json_t *doc, *q, *r;
	const char *opts;
	char *args;
	size_t i;
	int found = 0;

	fill(&fx);
	opts = remote(POLICE_IG);
	args = h_fmt("query %s --format json", opts);
	doc = audit_json(args);
	free(args);
	cr_assert(has_record(doc, fx.hex[0], "SUBMITTED"),
	    "the police "
	    "share is missing");
	cr_assert(!has_record(doc, fx.hex[1], NULL), "health's share leaked");
	cr_assert(!has_record(doc, fx.hex[2], NULL),
	    "health's decision "
	    "leaked");
	cr_assert(!has_record(doc, fx.hex[3], NULL),
	    "the school's referral "
	    "leaked");
	json_array_foreach (json_object_get(doc, "records"), i, r)
		cr_assert_str_neq(json_string_value(
		                      json_object_get(r, "event")),
		    "DIRECTORY_LOADED");
	assert_police_scope(doc);
	cr_assert_gt(json_integer_value(json_object_get(doc, "tree_size")),
	    json_integer_value(json_object_get(doc, "count")));
	json_decref(doc);

	/* The query is in the log, naming who asked and with what scope. */
	q = audit_queries();
	json_array_foreach (json_object_get(q, "records"), i, r) {
		const char *actor =
		    json_string_value(json_object_get(r, "actor"));
		const char *detail =
		    json_string_value(json_object_get(r, "detail"));

		if (actor == NULL || strcmp(actor, POLICE_IG) != 0)
			continue;
		found = 1;
		cr_assert_not_null(strstr(detail, "scope police"), "%s",
		    detail);
	}
	cr_assert(found, "no AUDIT_QUERY record by %s", POLICE_IG);
	json_decref(q);

	/* Another node's query is outside the police scope; its own is in. */
	args = h_fmt("query %s --format json", remote("ig.bristol"));
	json_decref(audit_json(args));
	free(args);
	args = h_fmt("query %s --event AUDIT_QUERY --format json", opts);
	doc = audit_json(args);
	free(args);
	cr_assert_geq(json_array_size(json_object_get(doc, "records")), 1);
	json_array_foreach (json_object_get(doc, "records"), i, r)
		cr_assert_str_eq(json_string_value(json_object_get(r, "actor")),
		    POLICE_IG);
	json_decref(doc);

	/* Asked about child S, police see the police share only. */
	args = h_fmt("query %s --subject-nhs %s --subject-key '%s' "
	             "--format json",
	    opts, fx.nhs_s, P.subject_key);
	doc = audit_json(args);
	free(args);
	cr_assert(has_record(doc, fx.hex[0], "SUBMITTED"));
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 1,
	    "police scope about child S: %lld records",
	    (long long)json_integer_value(json_object_get(doc, "count")));
	json_decref(doc);
}

Test(remote_audit, a_star_scope_sees_shares_and_decisions_about_a_child,
    .fini = stop, .timeout = 180)
{
	struct fx fx;
	json_t *doc, *q, *r;
	char *out = NULL, subj[65];
	size_t i;
	int found = 0, rc;

	fill(&fx);
	hv_hex(fx.subj_s, 32, subj);
	/* The NHS number comes on standard input, as the manual advises. */
	rc = h_sh(&out, 60,
	    "echo %s | '%s' audit query %s --subject-nhs - "
	    "--subject-key '%s' --format json 2>/dev/null",
	    fx.nhs_s, h_bin("haven"), remote("ig.bristol"), P.subject_key);
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	doc = json_loads(out, 0, NULL);
	cr_assert_not_null(doc, "%s", out);
	free(out);
	cr_assert(has_record(doc, fx.hex[0], "SUBMITTED"), "police share");
	cr_assert(has_record(doc, fx.hex[1], "SUBMITTED"), "health share");
	cr_assert(has_record(doc, fx.hex[2], "DECISION_RECORDED"),
	    "health's "
	    "decision not to share");
	cr_assert(!has_record(doc, fx.hex[3], NULL), "the other child");
	json_decref(doc);

	/* The table shows the decision beside the shares. */
	rc = h_sh(&out, 60, "'%s' audit query %s --subject %s", h_bin("haven"),
	    remote("ig.bristol"), subj);
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "health.bristol-royal (not shared)"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "AUDIT_QUERY"), "%s", out);
	free(out);

	/* Audited with the pseudonym, never the NHS number. */
	q = audit_queries();
	json_array_foreach (json_object_get(q, "records"), i, r) {
		const char *s =
		    json_string_value(json_object_get(r, "subject"));
		const char *actor =
		    json_string_value(json_object_get(r, "actor"));
		char *text = json_dumps(r, 0);

		cr_assert_null(strstr(text, fx.nhs_s),
		    "the NHS number is in "
		    "the log: %s",
		    text);
		free(text);
		if (s != NULL && strcmp(s, subj) == 0 && actor != NULL &&
		    strcmp(actor, "ig.bristol") == 0)
			found++;
	}
	cr_assert_eq(found, 2, "AUDIT_QUERY records about child S: %d", found);
	json_decref(q);
}

/* ---- refusals ------------------------------------------------------- */

Test(remote_audit, a_node_that_is_not_ig_is_refused_and_the_refusal_audited,
    .fini = stop, .timeout = 180)
{
	Haven__Frame f = HAVEN__FRAME__INIT, *reply;
	Haven__AuditQuery aq = HAVEN__AUDIT_QUERY__INIT;
	struct hc_client *police;
	struct fx fx;
	json_t *doc, *r;
	char *out = NULL, *args;
	size_t i;
	int rc, found = 0;

	fill(&fx);
	police = connect_node("police.avon");
	f.kind_case = HAVEN__FRAME__KIND_AUDIT_QUERY;
	f.audit_query = &aq;
	cr_assert_eq(hc_send_frame(police, &f), 0);
	reply = hc_wait_kind(police, HAVEN__FRAME__KIND_ERROR, WAIT_MS);
	cr_assert_not_null(reply, "no Error frame");
	cr_assert_str_eq(reply->error->code, "POLICY_DENIED");
	hv_frame_free(&reply);
	hc_close(&police);

	/* The CLI says so, with exit status 1. */
	rc = h_sh(&out, 60, "'%s' audit query %s", h_bin("haven"),
	    remote("police.avon"));
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "POLICY_DENIED"), "%s", out);
	free(out);

	args = h_fmt("query --db '%s' --event REJECTED --format json",
	    P.broker_data);
	doc = audit_json(args);
	free(args);
	json_array_foreach (json_object_get(doc, "records"), i, r) {
		const char *reason =
		    json_string_value(json_object_get(r, "reason"));
		const char *actor =
		    json_string_value(json_object_get(r, "actor"));

		if (reason != NULL && actor != NULL &&
		    strcmp(reason, "POLICY_DENIED") == 0 &&
		    strcmp(actor, "police.avon") == 0)
			found++;
	}
	cr_assert_eq(found, 2,
	    "REJECTED records of police.avon's queries: "
	    "%d",
	    found);
	json_decref(doc);

	/* A key that is no node of the directory never reaches the broker. */
	rc = h_sh(&out, 60,
	    "'%s' keygen --id ig.stranger --out '%s/other' && "
	    "'%s' audit query --broker %s --key '%s/other/ig.stranger.key' "
	    "--directory '%s'",
	    h_bin("haven"), P.dir, h_bin("haven"), P.endpoint, P.dir,
	    P.directory);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "belongs to no node"), "%s", out);
	free(out);
}

/* ---- proofs ---------------------------------------------------------- */

Test(remote_audit, a_remote_proof_passes_check_proof_offline, .fini = stop,
    .timeout = 180)
{
	struct fx fx;
	json_t *doc, *pf;
	char *out = NULL, *args;
	int64_t size;
	int rc;

	fill(&fx);
	/* The tree size of a first answer is a signed head to extend. */
	args = h_fmt("query %s --format json", remote("ig.bristol"));
	doc = audit_json(args);
	free(args);
	size = json_integer_value(json_object_get(doc, "tree_size"));
	cr_assert_gt(size, 0);
	json_decref(doc);

	rc = h_sh(&out, 60,
	    "'%s' audit prove %s %s > '%s/proof.json' && "
	    "'%s' audit check-proof '%s/proof.json' --broker-pub "
	    "'%s/keys/broker.bristol.pub'",
	    h_bin("haven"), fx.hex[0], remote("ig.bristol"), P.dir,
	    h_bin("haven"), P.dir, P.dir);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "proof OK"), "%s", out);
	cr_assert_not_null(strstr(out, "SUBMITTED"), "%s", out);
	free(out);
	args = h_fmt("%s/proof.json", P.dir);
	pf = json_load_file(args, 0, NULL);
	free(args);
	cr_assert_not_null(pf);
	cr_assert_str_eq(json_string_value(json_object_get(pf, "format")),
	    "haven-inclusion-proof-v1");
	cr_assert_str_eq(json_string_value(json_object_get(pf, "message_id")),
	    fx.hex[0]);
	json_decref(pf);

	/* The decision, proved the same way. */
	rc = h_sh(&out, 60,
	    "'%s' audit prove %s %s | '%s' audit check-proof "
	    "- --broker-pub '%s/keys/broker.bristol.pub'",
	    h_bin("haven"), fx.hex[2], remote("ig.bristol"), h_bin("haven"),
	    P.dir);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "DECISION_RECORDED"), "%s", out);
	free(out);

	/* The later log extends the earlier head. */
	rc = h_sh(&out, 60,
	    "'%s' audit consistency --from %lld %s | '%s' "
	    "audit check-proof - --broker-pub '%s/keys/broker.bristol.pub'",
	    h_bin("haven"), (long long)size, remote("ig.bristol"),
	    h_bin("haven"), P.dir);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "extends the log of"), "%s", out);
	free(out);

	/* Outside the scope there is nothing to prove. */
	rc = h_sh(&out, 60, "'%s' audit prove %s %s", h_bin("haven"), fx.hex[1],
	    remote(POLICE_IG));
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "NOT_FOUND"), "%s", out);
	free(out);
}

/*
 * A stand-in for the broker: it holds the broker's CURVE key (so the
 * transport trusts it) but signs its tree head with another key. The CLI
 * must refuse its answer.
 */
struct fake {
	void *ctx, *sock;
	char endpoint[128];
};

static void *
fake_serve(void *arg)
{
	struct fake *fk = arg;
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead h = HAVEN__SIGNED_TREE_HEAD__INIT;
	uint8_t pk[32], sk[64], root[32], sig[64], msg[HV_STH_MESSAGE_LEN];
	uint8_t *buf;
	size_t len;
	zmq_pollitem_t pi = { fk->sock, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t rid, req;

	if (zmq_poll(&pi, 1, 30000) != 1)
		return NULL;
	zmq_msg_init(&rid);
	zmq_msg_init(&req);
	zmq_msg_recv(&rid, fk->sock, 0);
	zmq_msg_recv(&req, fk->sock, 0);
	crypto_sign_keypair(pk, sk);
	randombytes_buf(root, sizeof(root));
	h.size = 5;
	h.time = hv_now_ms();
	hv_auditlog_head_message(h.size, root, h.time, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	h.root.data = root;
	h.root.len = 32;
	h.signature.data = sig;
	h.signature.len = 64;
	ar.head = &h;
	f.kind_case = HAVEN__FRAME__KIND_AUDIT_REPLY;
	f.audit_reply = &ar;
	if (hv_frame_pack(&f, &buf, &len) == HV_OK) {
		zmq_send(fk->sock, zmq_msg_data(&rid), zmq_msg_size(&rid),
		    ZMQ_SNDMORE);
		zmq_send(fk->sock, buf, len, 0);
		free(buf);
	}
	zmq_msg_close(&rid);
	zmq_msg_close(&req);
	return NULL;
}

Test(remote_audit, an_answer_whose_head_the_broker_key_did_not_sign_is_refused,
    .fini = stop, .timeout = 120)
{
	struct fake fk;
	hv_keys *bk = NULL;
	pthread_t th;
	char path[H_PATH + 64], *out = NULL;
	size_t elen;
	int one = 1, linger = 0, rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	snprintf(path, sizeof(path), "%s/keys/broker.bristol.key", P.dir);
	cr_assert_eq(hv_keys_load(path, NULL, &bk, NULL), HV_OK);
	fk.ctx = zmq_ctx_new();
	fk.sock = zmq_socket(fk.ctx, ZMQ_ROUTER);
	zmq_setsockopt(fk.sock, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(fk.sock, ZMQ_CURVE_SECRETKEY, bk->curve_secret, 32);
	zmq_setsockopt(fk.sock, ZMQ_LINGER, &linger, sizeof(linger));
	hv_keys_destroy(&bk);
	cr_assert_eq(zmq_bind(fk.sock, "tcp://127.0.0.1:*"), 0);
	elen = sizeof(fk.endpoint);
	zmq_getsockopt(fk.sock, ZMQ_LAST_ENDPOINT, fk.endpoint, &elen);
	cr_assert_eq(pthread_create(&th, NULL, fake_serve, &fk), 0);

	rc = h_sh(&out, 60,
	    "'%s' audit query --broker %s --key "
	    "'%s/keys/ig.bristol.key' --directory '%s' --timeout 20",
	    h_bin("haven"), fk.endpoint, P.dir, P.directory);
	pthread_join(th, NULL);
	zmq_close(fk.sock);
	zmq_ctx_term(fk.ctx);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "not signed by broker.bristol"), "%s",
	    out);
	/* Without --root-pub the command says the directory was unchecked. */
	cr_assert_not_null(strstr(out, "not checked"), "%s", out);
	free(out);
}

/* ---- health ---------------------------------------------------------- */

Test(remote_audit, health_over_the_network_shows_nodes_and_the_log_size,
    .fini = stop, .timeout = 180)
{
	static const char *const to_police[] = { "police.avon" };
	struct hc_client *police, *sc;
	Haven__Frame *f;
	hv_envelope env;
	uint8_t id[HV_ID_LEN], got[HV_ID_LEN], subj[32];
	json_t *j;
	char *out = NULL;
	int rc, in = 0;
	size_t i;
	json_t *v;

	start();
	police = connect_node("police.avon");
	cr_assert_eq(hc_hello(police, 32), 0);
	/* The broker sees police.avon once its Hello is in. */
	for (int tries = 0; tries < 100 && !in; tries++) {
		rc = h_sh(&out, 60, "'%s' health %s --json 2>/dev/null",
		    h_bin("haven"), remote("ig.bristol"));
		cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
		j = json_loads(out, 0, NULL);
		cr_assert_not_null(j, "%s", out);
		free(out);
		json_array_foreach (json_object_get(j, "connected"), i, v)
			in |= strcmp(json_string_value(v), "police.avon") == 0;
		cr_assert_gt(json_integer_value(
		                 json_object_get(j, "tree_size")),
		    0);
		cr_assert_eq(json_integer_value(
		                 json_object_get(j, "directory_version")),
		    1);
		json_decref(j);
	}
	cr_assert(in, "police.avon never shown as connected");

	rc = h_sh(&out, 60, "'%s' health %s", h_bin("haven"),
	    remote("ig.bristol"));
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "police.avon"), "%s", out);
	cr_assert_not_null(strstr(out, "Audit log"), "%s", out);
	cr_assert_not_null(strstr(out, "Not connected"), "%s", out);
	free(out);

	/*
	 * Asking with police.avon's own key must not take the police
	 * agent's session: a message for police still reaches its client.
	 */
	rc = h_sh(&out, 60, "'%s' health %s", h_bin("haven"),
	    remote("police.avon"));
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	free(out);
	sc = connect_node("social-care.bristol");
	hc_env_init(sc, &env, to_police, 1, "INFO_REQUEST");
	memcpy(subj, env.subject, sizeof(subj));
	accept_env(sc, &env, subj, id);
	f = hc_wait_kind(police, HAVEN__FRAME__KIND_DELIVER, 5000);
	cr_assert_not_null(f,
	    "the police client lost its deliveries to "
	    "haven health");
	cr_assert_eq(hc_deliver_id(f, got), 0);
	cr_assert_eq(memcmp(got, id, HV_ID_LEN), 0);
	hv_frame_free(&f);
	hc_close(&sc);
	hc_close(&police);
}

Test(remote_audit, a_dead_endpoint_exits_3_within_the_time_out, .fini = stop,
    .timeout = 120)
{
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	/*
	 * Without --timeout the command would wait for ever; h_sh gives it
	 * a deadline well past the 2 s asked for and returns -1 at it.
	 */
	rc = h_sh(&out, 15,
	    "'%s' health --broker tcp://127.0.0.1:1 --key "
	    "'%s/keys/ig.bristol.key' --directory '%s' --timeout 2",
	    h_bin("haven"), P.dir, P.directory);
	cr_assert_eq(rc, 3, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "tcp://127.0.0.1:1"), "%s", out);
	free(out);

	rc = h_sh(&out, 60,
	    "'%s' audit query --broker tcp://127.0.0.1:1 "
	    "--key '%s/keys/ig.bristol.key' --directory '%s' --timeout 1",
	    h_bin("haven"), P.dir, P.directory);
	cr_assert_eq(rc, 3, "exit %d: %s", rc, out ? out : "");
	free(out);

	/* Usage errors come before any connection. */
	rc = h_sh(&out, 60,
	    "'%s' audit query --broker tcp://127.0.0.1:1 "
	    "--directory '%s'",
	    h_bin("haven"), P.directory);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, out ? out : "");
	free(out);
	rc = h_sh(&out, 60, "'%s' health --help", h_bin("haven"));
	cr_assert_eq(rc, 0);
	cr_assert_not_null(strstr(out, "--broker ENDPOINT"), "%s", out);
	free(out);
}
