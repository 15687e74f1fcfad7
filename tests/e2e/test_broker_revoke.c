/*
 * End-to-end tests of haven-broker's authentication and directory
 * life-cycle: the ZAP handler, revocation by SIGHUP, a refused older
 * directory, and expiry (SPEC §5, §6).
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

static const char *const to_sc[] = { "social-care.bristol" };

/* Submits a fresh REFERRAL until a receipt comes (bounded). */
static Haven__Frame *
submit_fresh(struct hc_client *c, int tries, int wait_ms)
{
	for (int i = 0; i < tries; i++) {
		uint8_t id[HV_ID_LEN], *buf;
		size_t len;
		Haven__Frame *f = NULL;

		cr_assert_eq(hc_make(c, to_sc, 1, "REFERRAL", "{}", id, &buf,
		                 &len),
		    0);
		if (hc_submit(c, buf, len) == 0)
			f = hc_wait_receipt(c, id, wait_ms);
		free(buf);
		if (f != NULL)
			return f;
		if (i + 1 < tries) {
			f = hc_recv(c, 100);
			hv_frame_free(&f);
		}
	}
	return NULL;
}

/* The directory version the broker reports in its HealthReply, or -1. */
static long long
health_version(struct hc_client *c)
{
	Haven__Frame *f;
	long long v = -1;

	for (int i = 0; i < 5 && v < 0; i++) {
		json_t *j;

		if (hc_health_request(c) != 0) {
			f = hc_recv(c, 200);
			hv_frame_free(&f);
			continue;
		}
		f = hc_wait_kind(c, HAVEN__FRAME__KIND_HEALTH_REPLY, 2000);
		if (f == NULL)
			continue;
		j = json_loads(f->health_reply->json, 0, NULL);
		if (j != NULL)
			v = json_integer_value(
			    json_object_get(j, "directory_version"));
		json_decref(j);
		hv_frame_free(&f);
	}
	return v;
}

Test(broker_auth, never_admits_an_unknown_or_a_revoked_key, .fini = stop,
    .timeout = 120)
{
	struct hc_client *stranger, *revoked, *health;
	hv_keys *k;
	Haven__Frame *f;

	start("revoke police.avon\n", NULL);
	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	/* A key the directory does not know, claiming a known node id. */
	stranger = hc_connect_keys(&P, "health.bristol-royal", k);
	cr_assert_not_null(stranger);
	/* A node with keys on record but revoked. */
	revoked = hc_connect(&P, "police.avon");
	cr_assert_not_null(revoked);

	cr_expect_not(hc_wait_handshakes(stranger, 1, 1500),
	    "an unknown key completed a handshake");
	cr_expect_not(hc_wait_handshakes(revoked, 1, 500),
	    "a revoked key completed a handshake");
	f = submit_fresh(stranger, 3, 500);
	cr_expect_null(f, "an unknown key got a receipt");
	hv_frame_free(&f);
	f = submit_fresh(revoked, 3, 500);
	cr_expect_null(f, "a revoked key got a receipt");
	hv_frame_free(&f);
	hc_events(stranger);
	hc_events(revoked);
	cr_expect_gt(stranger->auth_failures, 0, "no failed handshake seen");
	cr_expect_gt(revoked->auth_failures, 0, "no failed handshake seen");

	/* The broker serves everyone else. */
	health = connect_node("health.bristol-royal");
	f = submit_fresh(health, 3, WAIT_MS);
	cr_assert_not_null(f);
	cr_expect_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);
	hc_close(&stranger);
	hc_close(&revoked);
	hc_close(&health);
}

Test(broker_auth, a_sighup_revocation_cuts_the_live_session, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police, *health;
	Haven__Frame *f;
	int64_t end;
	int cut = 0;
	int revoked_code = 0, hs;

	start(NULL, "revocation_grace_ms = 2000\n");
	police = connect_node("police.avon");
	health = connect_node("health.bristol-royal");
	f = submit_fresh(police, 3, WAIT_MS);
	cr_assert_not_null(f);
	cr_assert_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);

	cr_assert_eq(h_partnership_resign(&P, 2, "revoke police.avon\n"), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);

	/* Until the session drops, what police send is SENDER_REVOKED. */
	for (end = hv_mono_ms() + 30000; hv_mono_ms() < end;) {
		hc_events(police);
		if (police->disconnects > 0) {
			cut = 1;
			break;
		}
		f = submit_fresh(police, 1, 100);
		if (f != NULL && strcmp(hc_code(f), "SENDER_REVOKED") == 0)
			revoked_code = 1;
		else if (f != NULL)
			cr_expect_str_eq(hc_status(f), "ACCEPTED", "%s",
			    hc_code(f));
		hv_frame_free(&f);
	}
	cr_assert(cut, "the revoked node's session was not cut");
	cr_expect(revoked_code, "no SENDER_REVOKED before the cut");

	/* It never comes back; the others do. */
	hs = police->handshakes;
	f = submit_fresh(police, 3, 500);
	cr_expect_null(f, "a revoked node got a receipt after the cut");
	hv_frame_free(&f);
	hc_events(police);
	cr_expect_eq(police->handshakes, hs, "the revoked node reconnected");
	f = submit_fresh(health, 20, 1000);
	cr_assert_not_null(f, "health got no receipt after the re-bind");
	cr_expect_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);
	hc_close(&police);
	hc_close(&health);
}

Test(broker_auth, refuses_an_older_or_broken_directory_and_keeps_serving,
    .fini = stop, .timeout = 120)
{
	struct hc_client *health;
	Haven__Frame *f;
	int64_t end;
	long long v = -1;

	start(NULL, NULL);
	health = connect_node("health.bristol-royal");
	cr_assert_eq(health_version(health), 1);

	cr_assert_eq(h_partnership_resign(&P, 3, NULL), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	for (end = hv_mono_ms() + 5000; hv_mono_ms() < end && v != 3;)
		v = health_version(health);
	cr_assert_eq(v, 3, "version 3 not in force within 5 s");

	/* Version 2 is older: refused, version 3 stays. */
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert(h_wait_file_has(P.broker_log, "Refused", 5000),
	    "the broker did not log the refusal");
	cr_expect_eq(health_version(health), 3);

	/* A file that is not a directory at all. */
	cr_assert_eq(h_write(P.directory, 0644, "not a directory\n"), 0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	f = submit_fresh(health, 10, 1000);
	cr_assert_not_null(f);
	cr_expect_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);
	cr_expect_eq(health_version(health), 3);
	cr_assert(h_alive(P.broker_pid));
	hc_close(&health);
	cr_expect_eq(h_broker_stop(&P), 0);
}

Test(broker_expiry, tells_the_sender_when_a_message_expires, .fini = stop,
    .timeout = 120)
{
	struct hc_client *police, *sc;
	uint8_t id[HV_ID_LEN], *buf;
	size_t len;
	Haven__Frame *f;

	start(NULL, "message_ttl = 1\n");
	police = connect_node("police.avon");
	cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", "{}", id, &buf,
	                 &len),
	    0);
	cr_assert_eq(hc_submit(police, buf, len), 0);
	f = hc_wait_receipt(police, id, WAIT_MS);
	cr_assert_not_null(f);
	cr_assert_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);

	/* Nobody collects it: EXPIRED within a few seconds. */
	f = hc_wait_kind(police, HAVEN__FRAME__KIND_RECEIPT, WAIT_MS);
	cr_assert_not_null(f, "no EXPIRED receipt");
	cr_expect_str_eq(hc_status(f), "EXPIRED");
	cr_expect_str_eq(f->receipt->node, "social-care.bristol");
	cr_expect(f->receipt->id.len == HV_ID_LEN &&
	    memcmp(f->receipt->id.data, id, HV_ID_LEN) == 0);
	cr_assert_eq(hc_ack_receipt(police, f->receipt->receipt_seq), 0);
	hv_frame_free(&f);

	/* And it is no longer delivered. */
	sc = connect_node("social-care.bristol");
	cr_assert_eq(hc_hello(sc, 8), 0);
	f = hc_wait_kind(sc, HAVEN__FRAME__KIND_DELIVER, 1500);
	cr_expect_null(f, "an expired message was delivered");
	hv_frame_free(&f);
	free(buf);
	hc_close(&police);
	hc_close(&sc);
}

/*
 * Waits (bounded) for an EXPIRED receipt of id, asking for health now and
 * then so that a session re-made after a re-bind is known to the broker.
 */
static Haven__Frame *
wait_expired(struct hc_client *c, const uint8_t id[HV_ID_LEN], int wait_ms)
{
	int64_t end = hv_mono_ms() + wait_ms;

	while (hv_mono_ms() < end) {
		Haven__Frame *f;

		hc_health_request(c);
		while ((f = hc_recv(c, 300)) != NULL) {
			if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
			    strcmp(f->receipt->status, "EXPIRED") == 0 &&
			    f->receipt->id.len == HV_ID_LEN &&
			    memcmp(f->receipt->id.data, id, HV_ID_LEN) == 0)
				return f;
			hv_frame_free(&f);
		}
	}
	return NULL;
}

static int
log_has_withdrawn_two(void *ctx)
{
	char *text = h_read(P.broker_log), *p;
	int n = 0;

	(void)ctx;
	for (p = text; p != NULL && (p = strstr(p, "withdrew ")) != NULL; p++)
		n++;
	free(text);
	return n >= 2;
}

/*
 * A message waiting for a node that a reload revokes can never be
 * collected: it is withdrawn at once, audited EXPIRED with the reason, and
 * the sender gets an EXPIRED receipt saying REVOKED_RECIPIENT. A message
 * from a sender revoked later is withdrawn the same way (SENDER_REVOKED).
 */
Test(broker_revoke, withdraws_the_queued_messages_of_a_revoked_node,
    .fini = stop, .timeout = 120)
{
	static const char *const to_school[] = { "education.st-marys-primary" };
	struct hc_client *police, *health, *school;
	uint8_t a[HV_ID_LEN], b[HV_ID_LEN], *buf;
	char *out = NULL, ahex[HV_ID_HEX_LEN + 1], bhex[HV_ID_HEX_LEN + 1];
	size_t len;
	Haven__Frame *f;

	start(NULL, "revocation_grace_ms = 200\n");
	health = connect_node("health.bristol-royal");
	police = connect_node("police.avon");
	/* a: health -> social care; b: police -> the school. Both offline. */
	cr_assert_eq(hc_make(health, to_sc, 1, "REFERRAL", "{}", a, &buf, &len),
	    0);
	cr_assert_eq(hc_submit(health, buf, len), 0);
	free(buf);
	cr_assert_not_null(f = hc_wait_receipt(health, a, WAIT_MS));
	cr_assert_str_eq(hc_status(f), "ACCEPTED", "%s", hc_code(f));
	hv_frame_free(&f);
	cr_assert_eq(hc_make(police, to_school, 1, "MISSING_CHILD_ALERT", "{}",
	                 b, &buf, &len),
	    0);
	cr_assert_eq(hc_submit(police, buf, len), 0);
	free(buf);
	cr_assert_not_null(f = hc_wait_receipt(police, b, WAIT_MS));
	cr_assert_str_eq(hc_status(f), "ACCEPTED", "%s", hc_code(f));
	hv_frame_free(&f);

	cr_assert_eq(h_partnership_resign(&P, 2,
	                 "revoke social-care.bristol\n"),
	    0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	f = wait_expired(health, a, 20000);
	cr_assert_not_null(f, "health was not told its message was withdrawn");
	cr_expect_str_eq(f->receipt->code, "REVOKED_RECIPIENT");
	cr_expect_str_eq(f->receipt->node, "social-care.bristol");
	cr_expect(strstr(f->receipt->message,
	              "revoked by directory version "
	              "2") != NULL,
	    "%s", f->receipt->message);
	hv_frame_free(&f);

	cr_assert_eq(h_partnership_resign(&P, 3,
	                 "revoke social-care.bristol\n"
	                 "revoke police.avon\n"),
	    0);
	cr_assert_eq(kill(P.broker_pid, SIGHUP), 0);
	cr_assert(h_wait_until(log_has_withdrawn_two, NULL, 20000),
	    "the revoked sender's message was not withdrawn");

	/* Both are in the audit log as EXPIRED, with the reason. */
	hv_hex(a, HV_ID_LEN, ahex);
	hv_hex(b, HV_ID_LEN, bhex);
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit query --db '%s' --event "
	                 "EXPIRED --format json",
	                 h_bin("haven"), P.broker_data),
	    0, "%s", out);
	cr_assert(strstr(out, ahex) != NULL &&
	        strstr(out,
	            "social-care."
	            "bristol was revoked by directory version 2") != NULL,
	    "%s", out);
	cr_assert(strstr(out, bhex) != NULL &&
	        strstr(out,
	            "its sender "
	            "police.avon was revoked by directory version 3") != NULL,
	    "%s", out);
	free(out);

	/* And the school, connecting now, is not given the message. */
	school = connect_node("education.st-marys-primary");
	cr_assert_eq(hc_hello(school, 8), 0);
	f = hc_wait_kind(school, HAVEN__FRAME__KIND_DELIVER, 1500);
	cr_expect_null(f, "a withdrawn message was delivered");
	hv_frame_free(&f);
	hc_close(&school);
	hc_close(&police);
	hc_close(&health);
}
