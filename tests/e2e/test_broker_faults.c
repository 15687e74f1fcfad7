/*
 * End-to-end tests of haven-broker under faults: kill -9 in the middle of
 * a stream, hostile frames from an authenticated client, and a store that
 * fills up (SPEC §6, §11).
 */
#include <signal.h>
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

/* ---- the stream under kill -9 --------------------------------------------- */

#define STREAM_N 150 /* per sender */
#define STREAM_WINDOW 24

struct outmsg {
	uint8_t id[HV_ID_LEN];
	uint8_t *buf;
	size_t len;
	int accepted;
	int64_t sent_ms;
};

struct inbox {
	uint8_t ids[2 * STREAM_N][HV_ID_LEN];
	int n;
	int dups;
	int strangers;
};

static int
find_out(struct outmsg *m, int n, const uint8_t *id)
{
	for (int i = 0; i < n; i++)
		if (memcmp(m[i].id, id, HV_ID_LEN) == 0)
			return i;
	return -1;
}

/*
 * When f delivers one of m[0..n) to sc, acks it and marks it delivered.
 * Returns 1 the first time a message is delivered, else 0; a message the
 * broker refused must never be delivered.
 */
static int
take_delivery(struct hc_client *sc, const Haven__Frame *f, struct outmsg *m,
    int n)
{
	uint8_t id[HV_ID_LEN];
	int i, first = 0;

	if (hc_deliver_id(f, id) != 0)
		return 0;
	i = find_out(m, n, id);
	cr_assert_geq(i, 0);
	cr_expect(m[i].accepted, "a refused message was delivered");
	if (m[i].accepted == 1) {
		m[i].accepted = 2;
		first = 1;
	}
	hc_ack(sc, id);
	return first;
}

/* Sends what has no receipt yet, a window at a time, again after 1 s. */
static void
sender_push(struct hc_client *c, struct outmsg *m, int n)
{
	int64_t now = hv_mono_ms();
	int out = 0;

	for (int i = 0; i < n; i++)
		if (!m[i].accepted && m[i].sent_ms != 0 &&
		    now - m[i].sent_ms < 1000)
			out++;
	for (int i = 0; i < n && out < STREAM_WINDOW; i++) {
		if (m[i].accepted ||
		    (m[i].sent_ms != 0 && now - m[i].sent_ms < 1000))
			continue;
		if (hc_submit(c, m[i].buf, m[i].len) != 0)
			return; /* not connected: later */
		m[i].sent_ms = now;
		out++;
	}
}

static int
sender_pull(struct hc_client *c, struct outmsg *m, int n)
{
	int got = 0;
	Haven__Frame *f;

	while ((f = hc_recv(c, 0)) != NULL) {
		if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT) {
			Haven__Receipt *r = f->receipt;
			int i = r->id.len == HV_ID_LEN ?
			    find_out(m, n, r->id.data) :
			    -1;

			if (r->receipt_seq != 0)
				hc_ack_receipt(c, r->receipt_seq);
			cr_expect_str_neq(r->status, "REJECTED",
			    "rejected: %s "
			    "%s",
			    r->code, r->message);
			if (i >= 0 && strcmp(r->status, "ACCEPTED") == 0 &&
			    !m[i].accepted) {
				m[i].accepted = 1;
				got++;
			}
		}
		hv_frame_free(&f);
	}
	return got;
}

static void
recipient_pull(struct hc_client *c, struct inbox *in, struct outmsg *a,
    struct outmsg *b)
{
	Haven__Frame *f;

	while ((f = hc_recv(c, 0)) != NULL) {
		uint8_t id[HV_ID_LEN];
		int seen = 0;

		if (hc_deliver_id(f, id) == 0) {
			for (int i = 0; i < in->n && !seen; i++)
				seen = memcmp(in->ids[i], id, HV_ID_LEN) == 0;
			if (seen)
				in->dups++;
			else if (find_out(a, STREAM_N, id) < 0 &&
			    find_out(b, STREAM_N, id) < 0)
				in->strangers++;
			else
				memcpy(in->ids[in->n++], id, HV_ID_LEN);
			hc_ack(c, id);
		}
		hv_frame_free(&f);
	}
}

Test(broker_faults, delivers_every_accepted_message_once_across_ten_kill_9s,
    .fini = stop, .timeout = 170)
{
	struct outmsg *ma = calloc(STREAM_N, sizeof(*ma));
	struct outmsg *mb = calloc(STREAM_N, sizeof(*mb));
	struct inbox *in = calloc(1, sizeof(*in));
	struct hc_client *police, *health, *sc;
	int accepted = 0, kills = 0, next_kill = 25, hs = 0;
	int64_t end, last_hello = 0;
	char body[200];

	cr_assert(ma && mb && in);
	start(NULL, NULL);
	police = connect_node("police.avon");
	health = connect_node("health.bristol-royal");
	sc = connect_node("social-care.bristol");
	for (int i = 0; i < STREAM_N; i++) {
		snprintf(body, sizeof(body), "{\"body\":{\"n\":%d}}", i);
		cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", body,
		                 ma[i].id, &ma[i].buf, &ma[i].len),
		    0);
		cr_assert_eq(hc_make(health, to_sc, 1, "REFERRAL", body,
		                 mb[i].id, &mb[i].buf, &mb[i].len),
		    0);
	}

	end = hv_mono_ms() + 140000;
	while (hv_mono_ms() < end &&
	    (accepted < 2 * STREAM_N || in->n < 2 * STREAM_N)) {
		zmq_pollitem_t pi[3] = {
			{ police->sock, 0, ZMQ_POLLIN, 0 },
			{ health->sock, 0, ZMQ_POLLIN, 0 },
			{ sc->sock, 0, ZMQ_POLLIN, 0 },
		};

		hc_events(sc);
		/* A new session must say Hello before the broker can route
		 * to it; again every 2 s in case that Hello was lost. */
		if (sc->handshakes != hs || hv_mono_ms() - last_hello > 2000) {
			if (hc_hello(sc, 32) == 0) {
				hs = sc->handshakes;
				last_hello = hv_mono_ms();
			}
		}
		sender_push(police, ma, STREAM_N);
		sender_push(health, mb, STREAM_N);
		zmq_poll(pi, 3, 20);
		accepted += sender_pull(police, ma, STREAM_N);
		accepted += sender_pull(health, mb, STREAM_N);
		recipient_pull(sc, in, ma, mb);
		if (kills < 10 && accepted >= next_kill) {
			h_broker_kill(&P);
			cr_assert_eq(h_broker_start(&P), 0, "restart %d failed",
			    kills + 1);
			kills++;
			next_kill += 25;
		}
	}
	cr_expect_eq(kills, 10, "the broker was killed %d times", kills);
	cr_expect_eq(accepted, 2 * STREAM_N, "%d of %d accepted", accepted,
	    2 * STREAM_N);
	cr_expect_eq(in->n, 2 * STREAM_N, "%d of %d delivered", in->n,
	    2 * STREAM_N);
	cr_expect_eq(in->strangers, 0, "ids nobody sent were delivered");
	/* Ten kill -9s later the audit log still verifies. */
	cr_expect_eq(h_broker_stop(&P), 0);
	{
		uint8_t sign[32];
		char why[400];

		cr_assert_eq(hc_broker_sign_key(&P, sign), 0);
		cr_expect_eq(hc_audit_verify(P.broker_data, sign, why,
		                 sizeof(why)),
		    HV_OK, "the audit log does not verify: %s", why);
	}
	for (int i = 0; i < STREAM_N; i++) {
		free(ma[i].buf);
		free(mb[i].buf);
	}
	free(ma);
	free(mb);
	free(in);
	hc_close(&police);
	hc_close(&health);
	hc_close(&sc);
}

/* ---- hostile frames --------------------------------------------------------- */

/* Submits until ACCEPTED (the connection may be coming back). */
static int
submit_until_accepted(struct hc_client *c, const uint8_t *buf, size_t len,
    const uint8_t *id)
{
	for (int tries = 0; tries < 10; tries++) {
		Haven__Frame *f;
		int ok;

		if (hc_submit(c, buf, len) != 0) {
			f = hc_recv(c, 500);
			hv_frame_free(&f);
			continue;
		}
		f = hc_wait_receipt(c, id, 2000);
		ok = f != NULL && strcmp(hc_status(f), "ACCEPTED") == 0;
		hv_frame_free(&f);
		if (ok)
			return 1;
	}
	return 0;
}

Test(broker_faults, survives_random_truncated_empty_and_oversized_frames,
    .fini = stop, .timeout = 120)
{
	struct hc_client *police, *sc;
	uint8_t junk[512], *buf, *fb, id[HV_ID_LEN];
	size_t len, fl;
	Haven__Frame *f;
	Haven__Frame fr = HAVEN__FRAME__INIT;
	Haven__Deliver dl = HAVEN__DELIVER__INIT;
	int errors = 0;
	char *big;

	start(NULL, "max_message_bytes = 4096\n");
	police = connect_node("police.avon");
	sc = connect_node("social-care.bristol");

	/* Random frames of many lengths. */
	for (int i = 0; i < 40; i++) {
		size_t n = 1 + (size_t)randombytes_uniform(sizeof(junk));

		randombytes_buf(junk, n);
		cr_assert_eq(hc_send_raw(police, junk, n), 0);
	}
	/* Empty, truncated, and a broker-only frame. */
	cr_assert_eq(hc_send_raw(police, "", 0), 0);
	cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", "{}", id, &buf,
	                 &len),
	    0);
	{
		Haven__Submit s = HAVEN__SUBMIT__INIT;

		s.sender = police->node;
		s.envelope.data = buf;
		s.envelope.len = len;
		fr.kind_case = HAVEN__FRAME__KIND_SUBMIT;
		fr.submit = &s;
		cr_assert_eq(hv_frame_pack(&fr, &fb, &fl), HV_OK);
		for (size_t cut = 1; cut < fl; cut += fl / 7 + 1)
			cr_assert_eq(hc_send_raw(police, fb, cut), 0);
		free(fb);
	}
	dl.envelope.data = buf;
	dl.envelope.len = len;
	fr.kind_case = HAVEN__FRAME__KIND_DELIVER;
	fr.deliver = &dl;
	cr_assert_eq(hc_send_frame(police, &fr), 0);
	/* Two parts in one ZeroMQ message. */
	cr_assert(zmq_send(police->sock, "ab", 2, ZMQ_SNDMORE) == 2);
	cr_assert(zmq_send(police->sock, "cd", 2, 0) == 2);

	/* Every bad frame is answered (Error or a REJECTED receipt). */
	while ((f = hc_recv(police, 1500)) != NULL) {
		if (f->kind_case == HAVEN__FRAME__KIND_ERROR ||
		    strcmp(hc_status(f), "REJECTED") == 0)
			errors++;
		hv_frame_free(&f);
	}
	cr_expect_geq(errors, 35, "only %d refusals came back", errors);
	cr_assert(h_alive(P.broker_pid), "the broker died");

	/* Larger than ZMQ_MAXMSGSIZE: ZeroMQ drops the connection. */
	big = calloc(1, 200000);
	cr_assert_not_null(big);
	cr_assert_eq(hc_send_raw(police, big, 200000), 0);
	free(big);

	/* The broker lives and routes a normal message. */
	cr_assert(submit_until_accepted(police, buf, len, id),
	    "no ACCEPTED after the bad frames");
	cr_assert(h_alive(P.broker_pid), "the broker died");
	cr_assert_eq(hc_hello(sc, 4), 0);
	f = hc_wait_kind(sc, HAVEN__FRAME__KIND_DELIVER, WAIT_MS);
	cr_assert_not_null(f, "the message was not delivered");
	{
		uint8_t got[HV_ID_LEN];

		cr_assert_eq(hc_deliver_id(f, got), 0);
		cr_expect(memcmp(got, id, HV_ID_LEN) == 0);
	}
	hv_frame_free(&f);
	free(buf);
	hc_close(&police);
	hc_close(&sc);
	cr_expect_eq(h_broker_stop(&P), 0);
}

/* ---- a full store ------------------------------------------------------------ */

#define FULL_N 400

/*
 * Submits m[0..n) in windows of 16 until the broker has answered
 * STORAGE_FULL five times; marks what was ACCEPTED. Returns how many were
 * accepted; *full and *answered get the counts of refusals and answers.
 */
static int
fill_store(struct hc_client *police, struct outmsg *m, int n, int *full,
    int *answered)
{
	int accepted = 0;
	int64_t end = hv_mono_ms() + 60000;

	*full = *answered = 0;
	for (int next = 0; next < n && *full < 5 && hv_mono_ms() < end;) {
		int batch = 0;

		for (; next < n && batch < 16; next++, batch++)
			cr_assert_eq(hc_submit(police, m[next].buf,
			                 m[next].len),
			    0);
		while (batch > 0) {
			Haven__Frame *f = hc_wait_kind(police,
			    HAVEN__FRAME__KIND_RECEIPT, WAIT_MS);

			cr_assert_not_null(f, "a submit got no receipt");
			if (strcmp(hc_status(f), "ACCEPTED") == 0) {
				int i = find_out(m, n, f->receipt->id.data);

				cr_assert_geq(i, 0);
				m[i].accepted = 1;
				accepted++;
			} else {
				cr_expect_str_eq(hc_code(f), "STORAGE_FULL",
				    "%s: %s", hc_code(f), f->receipt->message);
				(*full)++;
			}
			(*answered)++;
			batch--;
			hv_frame_free(&f);
		}
	}
	return accepted;
}

Test(broker_faults, refuses_with_storage_full_and_still_delivers, .fini = stop,
    .timeout = 150)
{
	struct outmsg *m = calloc(FULL_N, sizeof(*m));
	struct hc_client *police, *sc;
	char *body = malloc(3001);
	int accepted = 0, full = 0, answered = 0, delivered = 0, hs = 0;
	int64_t end;

	cr_assert(m && body);
	memset(body, 'x', 3000);
	body[3000] = '\0';
	start(NULL, "map_size = 4194304\n");
	police = connect_node("police.avon");
	for (int i = 0; i < FULL_N; i++)
		cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", body,
		                 m[i].id, &m[i].buf, &m[i].len),
		    0);

	accepted = fill_store(police, m, FULL_N, &full, &answered);
	cr_assert_gt(accepted, 10, "only %d accepted before the map filled",
	    accepted);
	cr_assert_gt(full, 0, "no STORAGE_FULL after %d messages", answered);
	cr_assert(h_alive(P.broker_pid), "the broker died");

	/* Deliveries drain: every accepted message reaches social care. */
	sc = connect_node("social-care.bristol");
	end = hv_mono_ms() + 60000;
	while (delivered < accepted && hv_mono_ms() < end) {
		Haven__Frame *f;

		hc_events(sc);
		if (hs != sc->handshakes && hc_hello(sc, 32) == 0)
			hs = sc->handshakes;
		if ((f = hc_recv(sc, 200)) == NULL)
			continue;
		delivered += take_delivery(sc, f, m, FULL_N);
		hv_frame_free(&f);
	}
	cr_expect_eq(delivered, accepted, "%d of %d accepted were delivered",
	    delivered, accepted);
	cr_assert(h_alive(P.broker_pid), "the broker died");
	cr_expect_eq(h_broker_stop(&P), 0);
	{
		uint8_t sign[32];
		char why[400];

		cr_assert_eq(hc_broker_sign_key(&P, sign), 0);
		cr_expect_eq(hc_audit_verify(P.broker_data, sign, why,
		                 sizeof(why)),
		    HV_OK, "the audit log does not verify: %s", why);
	}
	for (int i = 0; i < FULL_N; i++)
		free(m[i].buf);
	free(m);
	free(body);
	hc_close(&police);
	hc_close(&sc);
}

/* ---- a full store under a hammer of refusals ------------------------- */

#define HAMMER_N 1200 /* offered until the store is full */
#define HAMMER_ROUNDS 400 /* each: 4 frames the broker must refuse */

/* One round of refusals: a junk envelope, a badly signed one, one to a
 * node nobody knows, and a frame that is not a Frame. */
static void
hammer_round(struct hc_client *c)
{
	static const char *const nobody[] = { "nobody.bristol" };
	hv_envelope env;
	uint8_t junk[48], *buf;
	size_t len;

	memset(junk, 0xa5, sizeof(junk));
	cr_assert_eq(hc_submit(c, junk, sizeof(junk)), 0);
	hc_env_init(c, &env, to_sc, 1, "REFERRAL");
	cr_assert_eq(hc_env_seal(c, &env, "{}", 2), 0);
	env.signature[7] ^= 0x01;
	cr_assert_eq(hc_env_pack(&env, &buf, &len), 0);
	cr_assert_eq(hc_submit(c, buf, len), 0);
	free(buf);
	hv_envelope_clear(&env);
	cr_assert_eq(hc_make(c, nobody, 1, "REFERRAL", "{}", NULL, &buf, &len),
	    0);
	cr_assert_eq(hc_submit(c, buf, len), 0);
	free(buf);
	cr_assert_eq(hc_send_raw(c, junk, sizeof(junk)), 0);
}

/* Sums the counts of the REJECTED summary records ("Refused N ...") and
 * counts every REJECTED record, read with `haven audit query --db`. */
static void
refusal_records(const char *data_dir, long *summed, long *records)
{
	json_t *all, *recs, *r;
	json_error_t err;
	char *out = NULL;
	size_t i;

	*summed = *records = 0;
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit query --db '%s' --event "
	                 "REJECTED --format json",
	                 h_bin("haven"), data_dir),
	    0, "audit query failed: %s", out ? out : "");
	all = json_loads(out, 0, &err);
	cr_assert_not_null(all, "audit query printed no JSON: %s", err.text);
	recs = json_object_get(all, "records");
	cr_assert(json_is_array(recs), "audit query printed no records: %s",
	    out);
	json_array_foreach (recs, i, r) {
		const char *d = json_string_value(json_object_get(r, "detail"));
		long n;

		(*records)++;
		if (d != NULL && sscanf(d, "Refused %ld ", &n) == 1)
			*summed += n;
	}
	json_decref(all);
	free(out);
}

Test(broker_faults,
    delivers_and_acks_everything_accepted_after_refusals_hammer_a_full_store,
    .fini = stop, .timeout = 240)
{
	struct outmsg *m = calloc(HAMMER_N, sizeof(*m));
	struct hc_client *police, *sc;
	char *body = malloc(1001), *out = NULL, *log;
	int accepted, full, answered, delivered = 0, receipts = 0, hs = 0;
	int refused = 0;
	long summed, records;
	int64_t end;

	cr_assert(m && body);
	memset(body, 'x', 1000);
	body[1000] = '\0';
	start(NULL, "map_size = 4194304\n");
	police = connect_node("police.avon");
	for (int i = 0; i < HAMMER_N; i++)
		cr_assert_eq(hc_make(police, to_sc, 1, "REFERRAL", body,
		                 m[i].id, &m[i].buf, &m[i].len),
		    0);
	accepted = fill_store(police, m, HAMMER_N, &full, &answered);
	cr_assert_gt(accepted, 10, "only %d accepted before the map filled",
	    accepted);
	cr_assert_gt(full, 0, "no STORAGE_FULL after %d messages", answered);

	/* The recipient is away; refusals keep coming, 16 rounds at a time,
	 * and every one is answered. */
	for (int round = 0; round < HAMMER_ROUNDS; round += 16) {
		int want = 0;

		for (int k = 0; k < 16; k++, want += 4)
			hammer_round(police);
		while (want > 0) {
			Haven__Frame *f = hc_recv(police, WAIT_MS);

			cr_assert_not_null(f,
			    "a refusal was not answered "
			    "(round %d); see %s",
			    round, P.broker_log);
			if (f->kind_case == HAVEN__FRAME__KIND_ERROR ||
			    (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
			        strcmp(hc_status(f), "REJECTED") == 0)) {
				refused++;
				want--;
			}
			hv_frame_free(&f);
		}
	}
	cr_assert(h_alive(P.broker_pid), "the broker died");

	/* The recipient connects: every accepted message is delivered and
	 * acknowledged, and the sender gets a DELIVERED receipt for each. */
	sc = connect_node("social-care.bristol");
	end = hv_mono_ms() + 120000;
	while ((delivered < accepted || receipts < accepted) &&
	    hv_mono_ms() < end) {
		Haven__Frame *f;

		hc_events(sc);
		if (hs != sc->handshakes && hc_hello(sc, 64) == 0)
			hs = sc->handshakes;
		while ((f = hc_recv(sc, 20)) != NULL) {
			delivered += take_delivery(sc, f, m, HAMMER_N);
			hv_frame_free(&f);
		}
		while ((f = hc_recv(police, 0)) != NULL) {
			Haven__Receipt *r = f->receipt;

			if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
			    strcmp(r->status, "DELIVERED") == 0) {
				int i = r->id.len == HV_ID_LEN ?
				    find_out(m, HAMMER_N, r->id.data) :
				    -1;

				cr_assert_geq(i, 0);
				if (m[i].sent_ms != -1) {
					m[i].sent_ms = -1;
					receipts++;
				}
				hc_ack_receipt(police, r->receipt_seq);
			}
			hv_frame_free(&f);
		}
	}
	cr_expect_eq(delivered, accepted,
	    "%d of %d accepted were delivered; "
	    "see %s",
	    delivered, accepted, P.broker_log);
	cr_expect_eq(receipts, accepted,
	    "%d of %d DELIVERED receipts reached "
	    "the sender; see %s",
	    receipts, accepted, P.broker_log);
	cr_assert(h_alive(P.broker_pid), "the broker died");
	cr_expect_eq(h_broker_stop(&P), 0);
	log = h_read(P.broker_log);
	cr_assert_not_null(log);
	cr_expect_null(strstr(log, "dropped a frame"),
	    "the broker dropped "
	    "frames; see %s",
	    P.broker_log);
	cr_expect_null(strstr(log, "without an audit record"),
	    "the broker "
	    "refused without auditing; see %s",
	    P.broker_log);
	cr_expect_not_null(strstr(log,
	                       "refusals made while the store was "
	                       "full"),
	    "no summary of the refusals was audited");
	{
		int lines = 0;

		for (char *p = log; (p = strstr(p,
		                         "counted while the store "
		                         "is full")) != NULL;
		     p++)
			lines++;
		cr_expect_leq(lines, 20,
		    "%d log lines for %d refusals made "
		    "while the store was full",
		    lines, refused);
	}
	free(log);

	/* The log verifies, and the refusals made while full are in it as
	 * counts, not one record each. */
	cr_expect_eq(h_sh(&out, 120, "'%s' audit verify --db '%s'",
	                 h_bin("haven"), P.broker_data),
	    0, "audit verify: %s", out ? out : "");
	free(out);
	refusal_records(P.broker_data, &summed, &records);
	cr_log_info("full store: %d accepted, %d refusals, %d delivered, %d "
	            "DELIVERED receipts, %ld REJECTED records, %ld counted in "
	            "summaries",
	    accepted, refused, delivered, receipts, records, summed);
	cr_expect_geq(summed + records, refused,
	    "the summaries count %ld "
	    "and %ld records show %d refusals",
	    summed, records, refused);
	cr_expect_lt(records, 100,
	    "%ld REJECTED records for %d refusals made "
	    "while the store was full",
	    records, refused);
	for (int i = 0; i < HAMMER_N; i++)
		free(m[i].buf);
	free(m);
	free(body);
	hc_close(&police);
	hc_close(&sc);
}
