/*
 * End-to-end tests of haven-broker: a real broker process on 127.0.0.1,
 * test clients built from lib/ (client.c). Acceptance, delivery, receipts,
 * and every refusal of SPEC §6 reached through the real broker.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "client.h"
#include "harness.h"
#include "hv_auditlog.h"
#include "hv_receipt.h"
#include "hv_util.h"
#include "hv_wire.h"

#define WAIT_MS 10000

static struct h_partnership P;

static void
start(const char *extra, const char *broker_extra)
{
	cr_assert_eq(h_partnership_create(&P, extra, broker_extra), 0,
	    "cannot create a partnership");
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not start; see %s",
	    P.broker_log);
}

static void
stop(void)
{
	h_partnership_destroy(&P);
}

static struct hc_client *
connect_node(const char *node)
{
	struct hc_client *c = hc_connect(&P, node);

	cr_assert_not_null(c, "cannot connect as %s", node);
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS),
	    "%s never completed "
	    "the handshake",
	    node);
	return c;
}

/* Submits buf and returns its first receipt (asserting one arrives). */
static Haven__Frame *
submit_wait(struct hc_client *c, const uint8_t *buf, size_t len,
    const uint8_t *id)
{
	Haven__Frame *f;

	cr_assert_eq(hc_submit(c, buf, len), 0, "cannot send the Submit");
	f = hc_wait_receipt(c, id, WAIT_MS);
	cr_assert_not_null(f, "no receipt within %d ms", WAIT_MS);
	return f;
}

/* Seals and submits env; asserts the first receipt's status and code. */
static void
expect(struct hc_client *c, hv_envelope *env, const char *payload,
    const char *status, const char *code)
{
	uint8_t *buf;
	size_t len;
	Haven__Frame *f;

	cr_assert_eq(hc_env_seal(c, env, payload, strlen(payload)), 0);
	cr_assert_eq(hc_env_pack(env, &buf, &len), 0);
	f = submit_wait(c, buf, len, env->id);
	cr_expect_str_eq(hc_status(f), status,
	    "status %s (%s: %s), wanted "
	    "%s %s",
	    hc_status(f), hc_code(f), f->receipt->message, status, code);
	cr_expect_str_eq(hc_code(f), code, "code %s (%s), wanted %s",
	    hc_code(f), f->receipt->message, code);
	if (strcmp(status, "REJECTED") == 0)
		cr_expect(strlen(f->receipt->message) > 10,
		    "a REJECTED "
		    "receipt carries a sentence");
	hv_frame_free(&f);
	free(buf);
	hv_envelope_clear(env);
}

static const char *const to_sc[] = { "social-care.bristol" };

struct events {
	char seen[8][24];
	int n;
};

static int
collect_event(void *ctx, const struct hv_audit_rec *rec)
{
	struct events *ev = ctx;

	if (ev->n < 8)
		snprintf(ev->seen[ev->n++], sizeof(ev->seen[0]), "%s",
		    rec->event);
	return 0;
}

static int
has_event(const struct events *ev, const char *e)
{
	for (int i = 0; i < ev->n; i++)
		if (strcmp(ev->seen[i], e) == 0)
			return 1;
	return 0;
}

/*
 * Opens the stopped broker's store (as `haven audit --db` does), verifies the whole log with the broker's key, checks the events about
 * message id and the directory and key the store recorded.
 */
static void
check_audit(const uint8_t id[HV_ID_LEN], const uint8_t sign[32])
{
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn;
	struct hv_errdetail d;
	struct hv_audit_filter flt;
	struct events ev = { .n = 0 };
	size_t meta = 0;
	MDB_val k, v;

	/*
	 * Opened writable (the broker has stopped): hv_store_open's read-only
	 * path aborts the transaction that opened the databases, and LMDB
	 * closes handles opened in an aborted transaction.
	 */
	cr_assert_eq(hv_store_open(P.broker_data, 0, 0, hv_auditlog_dbnames,
	                 HV_AUDITLOG_NDBS, &s, &d),
	    HV_OK, "%s", d.message);
	log.store = s;
	log.base = 0;
	cr_assert_eq(hv_store_begin(s, 1, &txn), HV_OK);
	cr_expect_eq(hv_auditlog_verify(&log, txn, sign, &d), HV_OK, "%s",
	    d.message);
	memset(&flt, 0, sizeof(flt));
	flt.has_id = 1;
	memcpy(flt.id, id, HV_ID_LEN);
	cr_expect_eq(hv_auditlog_query(&log, txn, &flt, collect_event, &ev),
	    HV_OK);
	cr_expect(has_event(&ev, "SUBMITTED"));
	cr_expect(has_event(&ev, "DELIVERED"));
	cr_expect(has_event(&ev, "ACKNOWLEDGED"));
	cr_expect(has_event(&ev, "ESCALATED"));
	for (size_t i = 0; i < HV_AUDITLOG_NDBS; i++)
		if (strcmp(hv_auditlog_dbnames[i], "meta") == 0)
			meta = i;
	k.mv_data = "broker_sign_public";
	k.mv_size = strlen("broker_sign_public");
	cr_expect(mdb_get(txn, s->dbi[meta], &k, &v) == 0 && v.mv_size == 32 &&
	        memcmp(v.mv_data, sign, 32) == 0,
	    "the store records the "
	    "broker's key");
	k.mv_data = "directory";
	k.mv_size = strlen("directory");
	cr_expect(mdb_get(txn, s->dbi[meta], &k, &v) == 0 && v.mv_size > 100,
	    "the store records the directory");
	mdb_txn_abort(txn);
	hv_store_close(&s);
}
static const char payload[] = "{\"child\":{\"name\":\"test\"},"
                              "\"body\":{\"text\":\"concern\"}}";

Test(broker, accepts_a_share_delivers_it_and_relays_receipts, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police, *sc;
	uint8_t id[HV_ID_LEN], *buf;
	size_t len;
	Haven__Frame *f;
	struct hv_pubkeys bpub;
	char path[H_PATH + 40];
	int delivered = 0, acked = 0, escalated = 0;

	start(NULL, NULL);
	snprintf(path, sizeof(path), "%s/keys/broker.bristol.pub", P.dir);
	cr_assert_eq(hv_pubkeys_load(path, &bpub, NULL), HV_OK);
	police = connect_node("police.avon");
	cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", payload, id, &buf,
	                 &len),
	    0);
	f = submit_wait(police, buf, len, id);
	cr_assert_str_eq(hc_status(f), "ACCEPTED", "%s %s", hc_code(f),
	    f->receipt->message);
	cr_expect_eq(hv_receipt_verify(f->receipt, bpub.sign), HV_OK,
	    "the ACCEPTED receipt is signed by the broker");
	cr_expect_gt(f->receipt->audit_seq, 0);
	hv_frame_free(&f);

	/* A byte-identical resubmission gets the original receipt. */
	f = submit_wait(police, buf, len, id);
	cr_expect_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);

	/* The recipient connects, gets the exact bytes, and acks. */
	sc = connect_node("social-care.bristol");
	cr_assert_eq(hc_hello(sc, 8), 0);
	f = hc_wait_kind(sc, HAVEN__FRAME__KIND_DELIVER, WAIT_MS);
	cr_assert_not_null(f, "no delivery to social care");
	cr_expect_eq(f->deliver->envelope.len, len);
	cr_expect(memcmp(f->deliver->envelope.data, buf, len) == 0,
	    "the delivered envelope is the submitted bytes");
	hv_frame_free(&f);
	cr_assert_eq(hc_ack(sc, id), 0);
	cr_assert_eq(hc_human_ack(sc, id, "duty.worker", 0), 0);
	cr_assert_eq(hc_human_ack(sc, id, NULL, 1), 0);
	/* Each HumanAck is echoed once recorded; a repeat is echoed too. */
	cr_assert_eq(hc_human_ack(sc, id, "duty.worker", 0), 0);
	for (int i = 0; i < 3; i++) {
		f = hc_wait_kind(sc, HAVEN__FRAME__KIND_HUMAN_ACK, WAIT_MS);
		cr_assert_not_null(f, "HumanAck %d was not confirmed", i);
		cr_expect_eq(f->human_ack->id.len, HV_ID_LEN);
		cr_expect(memcmp(f->human_ack->id.data, id, HV_ID_LEN) == 0);
		cr_expect_eq(f->human_ack->escalated, i == 1);
		cr_expect_str_eq(f->human_ack->by, i == 1 ? "" : "duty.worker");
		hv_frame_free(&f);
	}

	/* The sender gets DELIVERED, ACKNOWLEDGED and ESCALATED receipts
	 * and acknowledges each. */
	for (int i = 0; i < 50 && !(delivered && acked && escalated); i++) {
		f = hc_wait_kind(police, HAVEN__FRAME__KIND_RECEIPT, WAIT_MS);
		cr_assert_not_null(f, "no receipt after delivery");
		cr_expect_eq(hv_receipt_verify(f->receipt, bpub.sign), HV_OK);
		if (strcmp(f->receipt->status, "DELIVERED") == 0) {
			cr_expect_str_eq(f->receipt->node,
			    "social-care.bristol");
			delivered = 1;
		} else if (strcmp(f->receipt->status, "ACKNOWLEDGED") == 0) {
			cr_expect_str_eq(f->receipt->by, "duty.worker");
			acked = 1;
		} else if (strcmp(f->receipt->status, "ESCALATED") == 0) {
			cr_expect_str_eq(f->receipt->node,
			    "social-care.bristol");
			escalated = 1;
		}
		if (f->receipt->receipt_seq != 0)
			hc_ack_receipt(police, f->receipt->receipt_seq);
		hv_frame_free(&f);
	}
	cr_expect(delivered && acked && escalated,
	    "DELIVERED %d "
	    "ACKNOWLEDGED %d ESCALATED %d",
	    delivered, acked, escalated);

	/* Health and tree heads answer. */
	cr_assert_eq(hc_health_request(police), 0);
	f = hc_wait_kind(police, HAVEN__FRAME__KIND_HEALTH_REPLY, WAIT_MS);
	cr_assert_not_null(f, "no HealthReply");
	{
		json_t *j = json_loads(f->health_reply->json, 0, NULL);

		cr_assert_not_null(j, "HealthReply is JSON");
		cr_expect_eq(json_integer_value(
		                 json_object_get(j, "directory_version")),
		    1);
		cr_expect_gt(json_integer_value(
		                 json_object_get(j, "tree_size")),
		    3);
		json_decref(j);
	}
	hv_frame_free(&f);
	/* A new head is signed within about a second of new records. */
	for (int i = 0; i < 40; i++) {
		uint64_t size;

		cr_assert_eq(hc_tree_head_request(police, 1), 0);
		f = hc_wait_kind(police, HAVEN__FRAME__KIND_TREE_HEAD, WAIT_MS);
		cr_assert_not_null(f, "no TreeHead");
		cr_assert_not_null(f->tree_head->head);
		size = f->tree_head->head->size;
		cr_expect_eq(f->tree_head->from_size, 1);
		if (size > 1) {
			cr_expect_gt(f->tree_head->n_consistency, 0,
			    "a consistency proof from size 1");
			cr_expect_eq(hv_auditlog_head_verify(f->tree_head->head,
			                 bpub.sign),
			    HV_OK);
			hv_frame_free(&f);
			break;
		}
		hv_frame_free(&f);
		cr_assert_lt(i, 39, "no tree head beyond size 1 within 4 s");
		f = hc_recv(police, 100);
		hv_frame_free(&f);
	}

	free(buf);
	hc_close(&police);
	hc_close(&sc);
	cr_expect_eq(h_broker_stop(&P), 0, "SIGTERM ends the broker with 0");
	check_audit(id, bpub.sign);
}

Test(broker, refuses_a_submit_naming_another_sender, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police;
	hv_envelope env;
	uint8_t *buf;
	size_t len;
	Haven__Frame *f;

	start(NULL, NULL);
	police = connect_node("police.avon");

	/* The Submit's sender is not the connection's node. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	cr_assert_eq(hc_env_seal(police, &env, payload, strlen(payload)), 0);
	cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
	cr_assert_eq(hc_submit_as(police, "health.bristol-royal", buf, len), 0);
	f = hc_wait_receipt(police, NULL, WAIT_MS);
	cr_assert_not_null(f);
	cr_expect_str_eq(hc_code(f), "SENDER_MISMATCH");
	hv_frame_free(&f);
	free(buf);
	hv_envelope_clear(&env);

	/* The envelope's sender is not the connection's node. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	snprintf(env.sender, sizeof(env.sender), "health.bristol-royal");
	expect(police, &env, payload, "REJECTED", "SENDER_MISMATCH");
	hc_close(&police);
}

Test(broker, refuses_malformed_and_badly_signed_envelopes, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police;
	hv_envelope env;
	uint8_t *buf, junk[64];
	size_t len;
	Haven__Frame *f;

	start(NULL, NULL);
	police = connect_node("police.avon");

	memset(junk, 0xff, sizeof(junk));
	cr_assert_eq(hc_submit(police, junk, sizeof(junk)), 0);
	f = hc_wait_receipt(police, NULL, WAIT_MS);
	cr_assert_not_null(f);
	cr_expect_str_eq(hc_code(f), "MALFORMED");
	hv_frame_free(&f);

	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	cr_assert_eq(hc_env_seal(police, &env, payload, strlen(payload)), 0);
	env.signature[5] ^= 0x20;
	cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
	f = submit_wait(police, buf, len, env.id);
	cr_expect_str_eq(hc_code(f), "BAD_SIGNATURE");
	hv_frame_free(&f);
	free(buf);

	/* A changed header under the old signature is refused too. */
	env.signature[5] ^= 0x20;
	snprintf(env.priority, sizeof(env.priority), "IMMEDIATE");
	cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
	f = submit_wait(police, buf, len, env.id);
	cr_expect_str_eq(hc_code(f), "BAD_SIGNATURE");
	hv_frame_free(&f);
	free(buf);
	hv_envelope_clear(&env);
	hc_close(&police);
}

#define BURST 48

/* The receipts of one burst: id, what was sent, what came back. */
struct burst {
	uint8_t id[BURST][HV_ID_LEN];
	int bad[BURST]; /* 1: its signature was spoiled */
	char status[BURST][16];
	char code[BURST][32];
	int got;
};

/*
 * Sends BURST Submits from c without waiting (every sixth with a flipped
 * signature bit, the last a byte-identical copy of the first), so that they
 * reach the broker together and share batches.
 */
static void
burst_send(struct hc_client *c, struct burst *bu)
{
	uint8_t *first = NULL, *buf;
	size_t first_len = 0, len;

	memset(bu, 0, sizeof(*bu));
	for (int i = 0; i < BURST - 1; i++) {
		hv_envelope env;

		hc_env_init(c, &env, to_sc, 1, "REFERRAL");
		cr_assert_eq(hc_env_seal(c, &env, payload, strlen(payload)), 0);
		bu->bad[i] = i % 6 == 5;
		if (bu->bad[i])
			env.signature[i % HV_SIGNATURE_LEN] ^= 0x01;
		memcpy(bu->id[i], env.id, HV_ID_LEN);
		cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
		cr_assert_eq(hc_submit(c, buf, len), 0);
		if (i == 0) {
			first = buf;
			first_len = len;
		} else
			free(buf);
		hv_envelope_clear(&env);
	}
	memcpy(bu->id[BURST - 1], bu->id[0], HV_ID_LEN);
	cr_assert_eq(hc_submit(c, first, first_len), 0);
	free(first);
}

/* Reads receipts until every Submit of the burst has one (bounded). */
static void
burst_collect(struct hc_client *c, struct burst *bu)
{
	int64_t end = hv_mono_ms() + 60000;

	while (bu->got < BURST && hv_mono_ms() < end) {
		Haven__Frame *f = hc_recv(c, 1000);

		if (f == NULL)
			continue;
		if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
		    f->receipt->id.len == HV_ID_LEN)
			for (int i = 0; i < BURST; i++)
				if (bu->status[i][0] == '\0' &&
				    memcmp(bu->id[i], f->receipt->id.data,
				        HV_ID_LEN) == 0) {
					snprintf(bu->status[i],
					    sizeof(bu->status[i]), "%s",
					    hc_status(f));
					snprintf(bu->code[i],
					    sizeof(bu->code[i]), "%s",
					    hc_code(f));
					bu->got++;
					break;
				}
		hv_frame_free(&f);
	}
	cr_assert_eq(bu->got, BURST, "%d of %d receipts arrived", bu->got,
	    BURST);
}

/*
 * Two senders' bursts of Submits arrive together, so their signatures are
 * checked side by side before each batch is committed: every spoiled
 * signature, and only those, is refused BAD_SIGNATURE, the rest are
 * accepted, and the copy of an accepted envelope gets ACCEPTED again.
 */
Test(broker, refuses_exactly_the_bad_signatures_of_a_burst_from_two_senders,
    .fini = stop, .timeout = 120)
{
	struct hc_client *c[2];
	static struct burst bu[2];

	start(NULL, NULL);
	c[0] = connect_node("police.avon");
	c[1] = connect_node("health.bristol-royal");
	burst_send(c[0], &bu[0]);
	burst_send(c[1], &bu[1]);
	for (int k = 0; k < 2; k++) {
		burst_collect(c[k], &bu[k]);
		for (int i = 0; i < BURST; i++)
			if (bu[k].bad[i])
				cr_expect_str_eq(bu[k].code[i], "BAD_SIGNATURE",
				    "sender %d message %d: "
				    "%s %s",
				    k, i, bu[k].status[i], bu[k].code[i]);
			else
				cr_expect_str_eq(bu[k].status[i], "ACCEPTED",
				    "sender %d message %d: %s %s", k, i,
				    bu[k].status[i], bu[k].code[i]);
		hc_close(&c[k]);
	}
}

Test(broker, refuses_clock_skew_and_replayed_ids, .fini = stop, .timeout = 120)
{
	struct hc_client *police;
	hv_envelope env;
	uint8_t id[HV_ID_LEN];

	start(NULL, NULL);
	police = connect_node("police.avon");

	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	env.created -= 400;
	memcpy(id, env.id, HV_ID_LEN);
	expect(police, &env, payload, "REJECTED", "CLOCK_SKEW");

	/* The same id re-stamped (as an agent does after CLOCK_SKEW) is
	 * accepted: a skewed envelope does not burn its id. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	memcpy(env.id, id, HV_ID_LEN);
	expect(police, &env, payload, "ACCEPTED", "");

	/* A different envelope with that id is a replay. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	memcpy(env.id, id, HV_ID_LEN);
	snprintf(env.priority, sizeof(env.priority), "URGENT");
	expect(police, &env, payload, "REJECTED", "REPLAY");

	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	env.created += 400;
	expect(police, &env, payload, "REJECTED", "CLOCK_SKEW");
	hc_close(&police);
}

Test(broker, refuses_unknown_and_revoked_recipients, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police;
	hv_envelope env;
	const char *const to_unknown[] = { "social-care.nowhere" };
	const char *const to_revoked[] = { "social-care.bristol",
		"health.bristol-royal" };

	start("revoke health.bristol-royal\n", NULL);
	police = connect_node("police.avon");

	hc_env_init(police, &env, to_unknown, 1, "REFERRAL");
	expect(police, &env, payload, "REJECTED", "UNKNOWN_RECIPIENT");
	hc_env_init(police, &env, to_revoked, 2, "REFERRAL");
	expect(police, &env, payload, "REJECTED", "REVOKED_RECIPIENT");
	hc_close(&police);
}

Test(broker, refuses_what_the_agreement_or_the_basis_does_not_allow,
    .fini = stop, .timeout = 120)
{
	struct hc_client *police, *health;
	hv_envelope env;
	const char *const to_edu[] = { "education.st-marys-primary" };

	start(NULL, NULL);
	police = connect_node("police.avon");
	health = connect_node("health.bristol-royal");

	/* No rule lets police send a CP_PLAN_START. */
	hc_env_init(police, &env, to_sc, 1, "CP_PLAN_START");
	expect(police, &env, payload, "REJECTED", "POLICY_DENIED");
	/* Police may notify the school of domestic abuse... */
	hc_env_init(police, &env, to_edu, 1, "DOMESTIC_ABUSE_NOTIFICATION");
	expect(police, &env, payload, "ACCEPTED", "");
	/* ...but not refer a child to it. */
	hc_env_init(police, &env, to_edu, 1, "REFERRAL");
	expect(police, &env, payload, "REJECTED", "POLICY_DENIED");

	/* art6 CONSENT without consent obtained. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	snprintf(env.basis.art6, sizeof(env.basis.art6), "CONSENT");
	snprintf(env.basis.consent, sizeof(env.basis.consent), "REFUSED");
	expect(police, &env, payload, "REJECTED", "BASIS_INVALID");
	/* Consent not sought needs a justification of 20 characters. */
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	snprintf(env.basis.consent, sizeof(env.basis.consent), "NOT_SOUGHT");
	snprintf(env.basis.justification, sizeof(env.basis.justification),
	    "risk");
	expect(police, &env, payload, "REJECTED", "BASIS_INVALID");
	/* The art9 rule: health data needs a special-category condition. */
	hc_env_init(health, &env, to_sc, 1, "UNSCHEDULED_CARE_ATTENDANCE");
	snprintf(env.basis.art9, sizeof(env.basis.art9), "NONE");
	expect(health, &env, payload, "REJECTED", "BASIS_INVALID");
	hc_env_init(health, &env, to_sc, 1, "UNSCHEDULED_CARE_ATTENDANCE");
	expect(health, &env, payload, "ACCEPTED", "");
	/* A decision not to share needs no rule. */
	hc_env_init(police, &env, NULL, 0, "REFERRAL");
	snprintf(env.outcome, sizeof(env.outcome), "NOT_SHARED");
	expect(police, &env, "", "ACCEPTED", "");
	hc_close(&police);
	hc_close(&health);
}

Test(broker, accepts_an_info_response_only_to_a_request_sent_to_its_sender,
    .fini = stop, .timeout = 120)
{
	struct hc_client *police, *health, *sc;
	hv_envelope env;
	uint8_t req[HV_ID_LEN];
	const char *const to_police[] = { "police.avon" };

	start(NULL, NULL);
	police = connect_node("police.avon");
	health = connect_node("health.bristol-royal");
	sc = connect_node("social-care.bristol");

	hc_env_init(sc, &env, to_police, 1, "INFO_REQUEST");
	memcpy(req, env.id, HV_ID_LEN);
	expect(sc, &env, payload, "ACCEPTED", "");

	/* Health was not asked. */
	hc_env_init(health, &env, to_sc, 1, "INFO_RESPONSE");
	env.has_reply_to = 1;
	memcpy(env.reply_to, req, HV_ID_LEN);
	expect(health, &env, payload, "REJECTED", "POLICY_DENIED");
	/* A reply_to naming nothing. */
	hc_env_init(police, &env, to_sc, 1, "INFO_RESPONSE");
	env.has_reply_to = 1;
	randombytes_buf(env.reply_to, HV_ID_LEN);
	expect(police, &env, payload, "REJECTED", "POLICY_DENIED");
	/* Police were asked. */
	hc_env_init(police, &env, to_sc, 1, "INFO_RESPONSE");
	env.has_reply_to = 1;
	memcpy(env.reply_to, req, HV_ID_LEN);
	expect(police, &env, payload, "ACCEPTED", "");
	hc_close(&police);
	hc_close(&health);
	hc_close(&sc);
}

Test(broker, refuses_a_payload_over_max_message_bytes, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police;
	hv_envelope env;
	char *big = malloc(5000);

	cr_assert_not_null(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	start(NULL, "max_message_bytes = 2000\n");
	police = connect_node("police.avon");
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	expect(police, &env, big, "REJECTED", "TOO_LARGE");
	hc_env_init(police, &env, to_sc, 1, "REFERRAL");
	big[1500] = '\0';
	expect(police, &env, big, "ACCEPTED", "");
	free(big);
	hc_close(&police);
}
