/*
 * End-to-end tests of what a receiving haven-agent takes from its broker
 * (SPEC §5, §6): the recipient applies its own directory before it stores
 * a delivery, so a compromised broker cannot inject. A fake broker — a
 * ROUTER with the real broker's CURVE keys, bound on 127.0.0.1:* — hands
 * the agent hand-built Deliver frames; a refused one is acknowledged (so a
 * real broker would stop offering it) but never stored or shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_keys.h"
#include "hv_util.h"
#include "hv_wire.h"

static struct h_partnership P;

struct fake_broker {
	void *ctx;
	void *sock;
	uint8_t rid[256]; /* the agent's routing id, once it spoke */
	size_t rid_len;
	char endpoint[128];
};

static struct fake_broker F;

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	if (F.sock != NULL)
		zmq_close(F.sock);
	if (F.ctx != NULL)
		zmq_ctx_term(F.ctx);
	memset(&F, 0, sizeof(F));
	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/* Binds a ROUTER with the partnership's broker keys; 0 or -1. */
static int
fake_start(struct fake_broker *f)
{
	char path[H_PATH + 64];
	hv_keys *bk = NULL;
	size_t elen = sizeof(f->endpoint);
	int one = 1, linger = 0;

	snprintf(path, sizeof(path), "%s/keys/broker.bristol.key", P.dir);
	if (hv_keys_load(path, NULL, &bk, NULL) != HV_OK)
		return -1;
	f->ctx = zmq_ctx_new();
	f->sock = zmq_socket(f->ctx, ZMQ_ROUTER);
	zmq_setsockopt(f->sock, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(f->sock, ZMQ_CURVE_SECRETKEY, bk->curve_secret, 32);
	zmq_setsockopt(f->sock, ZMQ_LINGER, &linger, sizeof(linger));
	hv_keys_destroy(&bk);
	if (zmq_bind(f->sock, "tcp://127.0.0.1:*") != 0)
		return -1;
	zmq_getsockopt(f->sock, ZMQ_LAST_ENDPOINT, f->endpoint, &elen);
	return 0;
}

/*
 * Receives one frame from the agent within timeout_ms (remembering its
 * routing id); NULL at the deadline. The caller frees it.
 */
static Haven__Frame *
fake_recv(struct fake_broker *f, int timeout_ms)
{
	zmq_pollitem_t pi = { f->sock, 0, ZMQ_POLLIN, 0 };
	Haven__Frame *fr = NULL;
	zmq_msg_t rid, body;

	if (zmq_poll(&pi, 1, timeout_ms) != 1)
		return NULL;
	zmq_msg_init(&rid);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&rid, f->sock, 0) >= 0 &&
	    zmq_msg_recv(&body, f->sock, 0) >= 0 &&
	    zmq_msg_size(&rid) <= sizeof(f->rid)) {
		memcpy(f->rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
		f->rid_len = zmq_msg_size(&rid);
		hv_frame_unpack(zmq_msg_data(&body), zmq_msg_size(&body),
		    64 << 20, &fr, NULL);
	}
	zmq_msg_close(&rid);
	zmq_msg_close(&body);
	return fr;
}

/* Sends Deliver{envelope} to the agent; 0 or -1. */
static int
fake_deliver(struct fake_broker *f, const uint8_t *env, size_t len)
{
	Haven__Frame fr = HAVEN__FRAME__INIT;
	Haven__Deliver dl = HAVEN__DELIVER__INIT;
	uint8_t *buf = NULL;
	size_t blen = 0;
	int rc;

	dl.envelope.data = (uint8_t *)env;
	dl.envelope.len = len;
	dl.accepted_at = hv_now_ms();
	fr.kind_case = HAVEN__FRAME__KIND_DELIVER;
	fr.deliver = &dl;
	if (hv_frame_pack(&fr, &buf, &blen) != HV_OK)
		return -1;
	rc = zmq_send(f->sock, f->rid, f->rid_len, ZMQ_SNDMORE) < 0 ||
	        zmq_send(f->sock, buf, blen, 0) < 0 ?
	    -1 :
	    0;
	free(buf);
	return rc;
}

/* A signer for node with its real keys and the partnership's directory. */
static struct hc_client *
signer(const char *node)
{
	struct hc_client *c = calloc(1, sizeof(*c));
	struct hv_pubkeys root;
	char path[H_PATH + 80];

	cr_assert_not_null(c);
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(path, sizeof(path), "%s/keys/%s.key", P.dir, node);
	cr_assert_eq(hv_keys_load(path, NULL, &c->keys, NULL), HV_OK);
	cr_assert_eq(hv_pubkeys_load(P.root_pub, &root, NULL), HV_OK);
	cr_assert_eq(hv_directory_load_file(P.directory, root.sign, &c->dir,
	                 NULL),
	    HV_OK);
	return c;
}

/* Seals, signs and packs env from c with a small payload. */
static void
seal_pack(struct hc_client *c, hv_envelope *env, uint8_t **out, size_t *len)
{
	static const char payload[] = "{\"child\":{\"name\":\"Child inject\"},"
	                              "\"body\":{\"note\":\"Body inject\"}}";

	cr_assert_eq(hc_env_seal(c, env, payload, strlen(payload)), 0);
	cr_assert_eq(hc_env_pack(env, out, len), 0);
}

/* 1 when GET /v1/inbox lists id. */
static int
inbox_lists(struct h_agent *a, const char *id)
{
	json_t *j = NULL, *m;
	size_t i;
	int found = 0;

	cr_assert_eq(ak_get(a, "/v1/inbox?limit=1000", &j), 200);
	json_array_foreach (json_object_get(j, "messages"), i, m)
		found |= strcmp(json_string_value(json_object_get(m, "id")),
		             id) == 0;
	json_decref(j);
	return found;
}

enum { GOOD_NOW, GOOD_OLD, REVOKED, NO_RULE, IN_2001, BAD_REPLY, N_CASES };

/*
 * A broker that delivers what the partnership's agreement forbids: a
 * message from a revoked sender (police.avon, revoked by the directory), a
 * type no allow rule lets health send to social care, one created in 2001
 * and an INFO_RESPONSE answering no request social care sent. None is
 * stored or listed; each is acknowledged, its Ack carrying the refusal's
 * code and sentence, and counted. Two lawful ones, one
 * created now and one that waited three days at the broker (within the
 * 7-day TTL), are stored: the checks are not refusing everything.
 */
Test(agent_receive,
    refuses_deliveries_its_own_directory_forbids_though_the_broker_sent_them,
    .fini = teardown, .timeout = 120)
{
	static const char *const to_sc[] = { AK_SOCIAL };
	struct hc_client *police, *health;
	struct ak_sse sse;
	struct h_agent *soc;
	hv_envelope env;
	uint8_t ids[N_CASES][HV_ID_LEN], *buf;
	char hex[N_CASES][HV_ID_HEX_LEN + 1], *text;
	int acked[N_CASES] = { 0 }, n_acked = 0;
	char code[N_CASES][HV_ACK_CODE_MAX + 1];
	char why[N_CASES][HV_ACK_MESSAGE_MAX + 1];
	static const char *const want[N_CASES] = { "", "", "SENDER_REVOKED",
		"POLICY_DENIED", "CLOCK_SKEW", "POLICY_DENIED" };
	Haven__Frame *fr;
	size_t len;
	int64_t end;

	cr_assert_eq(h_partnership_create(&P, "revoke police.avon\n", NULL), 0);
	cr_assert_eq(fake_start(&F), 0);
	snprintf(P.endpoint, sizeof(P.endpoint), "%s", F.endpoint);
	soc = h_agent_add(&P, AK_SOCIAL, NULL);
	cr_assert_not_null(soc);
	cr_assert_eq(h_agent_start(&P, soc), 0, "see %s", soc->log);
	/* The agent says Hello once its CURVE session with us is up. */
	end = hv_mono_ms() + 30000;
	while (F.rid_len == 0 && hv_mono_ms() < end) {
		fr = fake_recv(&F, 1000);
		hv_frame_free(&fr);
	}
	cr_assert_gt(F.rid_len, 0, "the agent never spoke to the broker");

	cr_assert_eq(ak_sse_start(&sse, soc), 0);
	police = signer(AK_POLICE);
	health = signer(AK_HEALTH);
	for (int i = 0; i < N_CASES; i++) {
		struct hc_client *c = i == REVOKED ? police : health;

		hc_env_init(c, &env, to_sc, 1,
		    i == NO_RULE       ? "CP_PLAN_START" :
		        i == BAD_REPLY ? "INFO_RESPONSE" :
		                         "REFERRAL");
		if (i == GOOD_OLD)
			env.created = hv_now() - 3 * 86400;
		if (i == IN_2001)
			env.created = 978307200; /* 2001-01-01 */
		if (i == BAD_REPLY) {
			env.has_reply_to = 1;
			randombytes_buf(env.reply_to, HV_ID_LEN);
		}
		seal_pack(c, &env, &buf, &len);
		memcpy(ids[i], env.id, HV_ID_LEN);
		hv_hex(env.id, HV_ID_LEN, hex[i]);
		cr_assert_eq(fake_deliver(&F, buf, len), 0);
		free(buf);
		hv_envelope_clear(&env);
	}
	hc_close(&police);
	hc_close(&health);

	/* Every delivery is acknowledged, the refused ones too. */
	end = hv_mono_ms() + 30000;
	while (n_acked < N_CASES && hv_mono_ms() < end) {
		if ((fr = fake_recv(&F, 1000)) == NULL)
			continue;
		if (fr->kind_case == HAVEN__FRAME__KIND_ACK &&
		    fr->ack->id.len == HV_ID_LEN)
			for (int i = 0; i < N_CASES; i++)
				if (!acked[i] &&
				    memcmp(fr->ack->id.data, ids[i],
				        HV_ID_LEN) == 0) {
					acked[i] = 1;
					n_acked++;
					snprintf(code[i], sizeof(code[i]), "%s",
					    fr->ack->refused_code);
					snprintf(why[i], sizeof(why[i]), "%s",
					    fr->ack->refused_message);
				}
		hv_frame_free(&fr);
	}
	/*
	 * A refused one's Ack says so, with the code and the sentence, so
	 * that the broker does not report it delivered; a stored one's Ack
	 * carries no refusal.
	 */
	for (int i = 0; i < N_CASES; i++) {
		cr_assert(acked[i], "delivery %d was never acknowledged", i);
		cr_assert_str_eq(code[i], want[i],
		    "delivery %d: Ack code "
		    "'%s' (%s)",
		    i, code[i], why[i]);
		cr_assert_eq(want[i][0] == '\0', why[i][0] == '\0',
		    "delivery %d: Ack sentence '%s'", i, why[i]);
	}
	cr_assert_not_null(strstr(why[IN_2001], "clock"), "%s", why[IN_2001]);

	cr_assert(ak_wait_health(soc, "deliveries_refused", 4, 10000),
	    "/v1/health does not count four refused deliveries");
	/* The duty team's stream hears of each, with the code. */
	cr_assert(ak_sse_wait(&sse, "delivery_refused", hex[REVOKED], 10000),
	    "no delivery_refused event for the revoked sender's message");
	cr_assert(
	    ak_sse_wait(&sse, "delivery_refused", "\"CLOCK_SKEW\"", 10000));
	cr_assert(!ak_sse_wait(&sse, "message", hex[IN_2001], 100),
	    "a refused delivery was announced as a message");
	ak_sse_stop(&sse);
	cr_assert(inbox_lists(soc, hex[GOOD_NOW]));
	cr_assert(inbox_lists(soc, hex[GOOD_OLD]),
	    "a message that waited three days at the broker was refused");
	for (int i = REVOKED; i < N_CASES; i++) {
		char *path = h_fmt("/v1/inbox/%s", hex[i]);

		cr_assert(!inbox_lists(soc, hex[i]), "case %d is listed", i);
		cr_assert_eq(ak_get(soc, path, NULL), 404,
		    "case %d is "
		    "stored",
		    i);
		free(path);
	}
	cr_assert(ak_wait_health(soc, "inbox_unacked", 2, 1000));

	/* One line each, naming the code; never the payload. */
	text = h_read(soc->log);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "SENDER_REVOKED"), "%s", text);
	cr_assert_not_null(strstr(text, "POLICY_DENIED"), "%s", text);
	cr_assert_not_null(strstr(text, "CLOCK_SKEW"), "%s", text);
	cr_assert_null(strstr(text, "inject"), "%s", text);
	free(text);
}

/*
 * The reply_to rule is the broker's, applied by the responding agent too:
 * an INFO_RESPONSE must answer an INFO_REQUEST this agent received. A
 * made-up reply_to gets 400 POLICY_DENIED naming reply_to; answering a
 * request the agent did receive gets 202 and reaches the requester.
 */
Test(agent_receive,
    refuses_to_send_an_info_response_to_a_request_it_never_received,
    .fini = teardown, .timeout = 120)
{
	struct h_agent *pol, *soc;
	char req[33], resp[33], *body, more[80], *out = NULL, *url;
	int st;

	cr_assert_eq(ak_setup(&P, NULL), 0);
	pol = ak_agent(&P, AK_POLICE);
	soc = ak_agent(&P, AK_SOCIAL);

	snprintf(more, sizeof(more),
	    ",\"reply_to\":\"0123456789abcdef0123456789abcdef\"");
	body = ak_message("[\"" AK_SOCIAL "\"]", "INFO_RESPONSE", "URGENT",
	    "fake", more);
	url = h_fmt("%s/v1/messages", pol->url);
	st = h_http("POST", url, pol->token, body, &out);
	free(url);
	free(body);
	cr_assert_eq(st, 400, "%s", out ? out : "");
	cr_assert_not_null(strstr(out, "POLICY_DENIED"), "%s", out);
	cr_assert_not_null(strstr(out, "\"reply_to\""), "%s", out);
	free(out);

	body = ak_message("[\"" AK_POLICE "\"]", "INFO_REQUEST", "URGENT",
	    "req", ",\"deadline\":\"RED\"");
	cr_assert_eq(ak_post(soc, "/v1/messages", body, req), 202);
	free(body);
	cr_assert(ak_wait_inbox(pol, req, 20000, NULL));
	snprintf(more, sizeof(more), ",\"reply_to\":\"%s\"", req);
	body = ak_message("[\"" AK_SOCIAL "\"]", "INFO_RESPONSE", "URGENT",
	    "resp", more);
	cr_assert_eq(ak_post(pol, "/v1/messages", body, resp), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, resp, 20000, NULL),
	    "the answer to a real request never reached social care");
}
