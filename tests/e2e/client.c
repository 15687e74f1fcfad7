/*
 * A small broker client for end-to-end tests (see client.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "client.h"
#include "hv_auditlog.h"
#include "hv_sealed.h"
#include "hv_util.h"
#include "hv_wire.h"

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hc_events(struct hc_client *c)
{
	for (;;) {
		zmq_msg_t m;
		uint16_t ev;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		if (zmq_msg_size(&m) >= 6) {
			memcpy(&ev, zmq_msg_data(&m), 2);
			if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
				c->handshakes++;
			else if (ev == ZMQ_EVENT_DISCONNECTED)
				c->disconnects++;
			else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
			    ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
			    ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
				c->auth_failures++;
		}
		/* The second part is the endpoint. */
		while (zmq_msg_more(&m)) {
			zmq_msg_close(&m);
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->mon, 0) < 0)
				break;
		}
		zmq_msg_close(&m);
	}
}

struct hc_client *
hc_connect_keys(const struct h_partnership *p, const char *node, hv_keys *keys)
{
	struct hc_client *c = calloc(1, sizeof(*c));
	struct hv_pubkeys root;
	const struct hv_node *bn;
	int one = 1, hb = 2000, hbt = 6000, linger = 0;
	int64_t max = 64 << 20;
	char mon[64];

	if (c == NULL) {
		hv_keys_destroy(&keys);
		return NULL;
	}
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->keys = keys;
	if (hv_pubkeys_load(p->root_pub, &root, NULL) != HV_OK ||
	    hv_directory_load_file(p->directory, root.sign, &c->dir, NULL) !=
	        HV_OK ||
	    (bn = hv_directory_broker(c->dir)) == NULL) {
		fprintf(stderr, "client: cannot load %s\n", p->directory);
		hc_close(&c);
		return NULL;
	}
	c->ctx = zmq_ctx_new();
	c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
	zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, bn->keys.curve, 32);
	zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, keys->pub.curve, 32);
	zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, keys->curve_secret, 32);
	zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb));
	zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt));
	zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	snprintf(mon, sizeof(mon), "inproc://hc-mon-%p", (void *)c);
	zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_ALL);
	c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
	zmq_setsockopt(c->mon, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(c->mon, mon) != 0 ||
	    zmq_connect(c->sock, p->endpoint) != 0) {
		fprintf(stderr, "client: cannot connect to %s\n", p->endpoint);
		hc_close(&c);
		return NULL;
	}
	return c;
}

struct hc_client *
hc_connect(const struct h_partnership *p, const char *node)
{
	char path[H_PATH + 80];
	hv_keys *k = NULL;
	struct hv_errdetail d;

	snprintf(path, sizeof(path), "%s/keys/%s.key", p->dir, node);
	if (hv_keys_load(path, NULL, &k, &d) != HV_OK) {
		fprintf(stderr, "client: cannot load %s: %s\n", path,
		    d.message);
		return NULL;
	}
	return hc_connect_keys(p, node, k);
}

void
hc_close(struct hc_client **cp)
{
	struct hc_client *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	if (c->sock != NULL) {
		zmq_socket_monitor(c->sock, NULL, 0);
		zmq_close(c->sock);
	}
	if (c->mon != NULL)
		zmq_close(c->mon);
	if (c->ctx != NULL)
		zmq_ctx_term(c->ctx);
	hv_keys_destroy(&c->keys);
	hv_directory_destroy(&c->dir);
	free(c);
	*cp = NULL;
}

void
hc_env_init(struct hc_client *c, hv_envelope *env, const char *const *to,
    size_t n, const char *type)
{
	memset(env, 0, sizeof(*env));
	hv_envelope_new_id(env->id);
	snprintf(env->sender, sizeof(env->sender), "%s", c->node);
	for (size_t i = 0; i < n && i < HV_MAX_RECIPIENTS; i++)
		snprintf(env->recipients[i], sizeof(env->recipients[i]), "%s",
		    to[i]);
	env->n_recipients = n;
	snprintf(env->type, sizeof(env->type), "%s", type);
	snprintf(env->priority, sizeof(env->priority), "ROUTINE");
	env->created = hv_now();
	snprintf(env->basis.consent, sizeof(env->basis.consent), "OBTAINED");
	snprintf(env->basis.art6, sizeof(env->basis.art6), "PUBLIC_TASK");
	snprintf(env->basis.art9, sizeof(env->basis.art9), "SAFEGUARDING");
	snprintf(env->basis.justification, sizeof(env->basis.justification),
	    "Shared under the partnership agreement for the child's safety.");
	snprintf(env->basis.decided_by, sizeof(env->basis.decided_by),
	    "duty.officer");
	randombytes_buf(env->subject, sizeof(env->subject));
}

int
hc_env_seal(struct hc_client *c, hv_envelope *env, const char *payload,
    size_t len)
{
	uint8_t box[HV_MAX_RECIPIENTS][HV_BOX_KEY_LEN];

	/* As an agent does: the justification travels sealed (SPEC §4.2). */
	if (hv_justification_seal(&env->basis, env->id, c->dir, NULL) != HV_OK)
		return -1;
	if (env->n_recipients == 0)
		return hv_envelope_sign_decision(env, c->keys) == HV_OK ? 0 :
		                                                          -1;
	for (size_t i = 0; i < env->n_recipients; i++) {
		const struct hv_node *n =
		    hv_directory_node(c->dir, env->recipients[i]);

		if (n != NULL && n->has_keys)
			memcpy(box[i], n->keys.box, HV_BOX_KEY_LEN);
		else
			randombytes_buf(box[i], HV_BOX_KEY_LEN);
	}
	return hv_envelope_seal(env, (const uint8_t *)payload, len,
	           (const uint8_t(*)[HV_BOX_KEY_LEN])box, c->keys) == HV_OK ?
	    0 :
	    -1;
}

int
hc_env_pack(const hv_envelope *env, uint8_t **out, size_t *len)
{
	return hv_envelope_pack(env, out, len) == HV_OK ? 0 : -1;
}

int
hc_make(struct hc_client *c, const char *const *to, size_t n, const char *type,
    const char *payload, uint8_t id[HV_ID_LEN], uint8_t **out, size_t *len)
{
	hv_envelope env;
	int rc;

	hc_env_init(c, &env, to, n, type);
	rc = hc_env_seal(c, &env, payload, strlen(payload));
	if (rc == 0)
		rc = hc_env_pack(&env, out, len);
	if (rc == 0 && id != NULL)
		memcpy(id, env.id, HV_ID_LEN);
	hv_envelope_clear(&env);
	return rc;
}

int
hc_send_raw(struct hc_client *c, const void *buf, size_t len)
{
	return zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int
hc_send_frame(struct hc_client *c, const Haven__Frame *f)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (hv_frame_pack(f, &buf, &len) != HV_OK)
		return -1;
	rc = hc_send_raw(c, buf, len);
	free(buf);
	return rc;
}

int
hc_submit_as(struct hc_client *c, const char *sender, const uint8_t *env,
    size_t len)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Submit s = HAVEN__SUBMIT__INIT;

	s.sender = (char *)sender;
	s.envelope.data = (uint8_t *)env;
	s.envelope.len = len;
	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &s;
	return hc_send_frame(c, &f);
}

int
hc_submit(struct hc_client *c, const uint8_t *env, size_t len)
{
	return hc_submit_as(c, c->node, env, len);
}

int
hc_hello(struct hc_client *c, uint32_t window)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Hello h = HAVEN__HELLO__INIT;

	h.node = c->node;
	h.software = "haven-e2e-client";
	h.window = window;
	f.kind_case = HAVEN__FRAME__KIND_HELLO;
	f.hello = &h;
	return hc_send_frame(c, &f);
}

int
hc_ack(struct hc_client *c, const uint8_t id[HV_ID_LEN])
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Ack a = HAVEN__ACK__INIT;

	a.id.data = (uint8_t *)id;
	a.id.len = HV_ID_LEN;
	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &a;
	return hc_send_frame(c, &f);
}

int
hc_ack_receipt(struct hc_client *c, uint64_t receipt_seq)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Ack a = HAVEN__ACK__INIT;

	a.receipt_seq = receipt_seq;
	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &a;
	return hc_send_frame(c, &f);
}

int
hc_human_ack(struct hc_client *c, const uint8_t id[HV_ID_LEN], const char *by,
    int escalated)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__HumanAck h = HAVEN__HUMAN_ACK__INIT;

	h.id.data = (uint8_t *)id;
	h.id.len = HV_ID_LEN;
	h.by = (char *)(by ? by : "");
	h.escalated = escalated;
	f.kind_case = HAVEN__FRAME__KIND_HUMAN_ACK;
	f.human_ack = &h;
	return hc_send_frame(c, &f);
}

int
hc_tree_head_request(struct hc_client *c, uint64_t since)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__TreeHeadRequest r = HAVEN__TREE_HEAD_REQUEST__INIT;

	r.since_size = since;
	f.kind_case = HAVEN__FRAME__KIND_TREE_HEAD_REQUEST;
	f.tree_head_request = &r;
	return hc_send_frame(c, &f);
}

int
hc_health_request(struct hc_client *c)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__HealthRequest r = HAVEN__HEALTH_REQUEST__INIT;

	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REQUEST;
	f.health_request = &r;
	return hc_send_frame(c, &f);
}

Haven__Frame *
hc_recv(struct hc_client *c, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		zmq_pollitem_t pi[2] = {
			{ c->sock, 0, ZMQ_POLLIN, 0 },
			{ c->mon, 0, ZMQ_POLLIN, 0 },
		};
		int64_t left = end - now_ms();

		if (left < 0)
			left = 0;
		if (zmq_poll(pi, 2, (long)left) < 0)
			return NULL;
		if (pi[1].revents & ZMQ_POLLIN)
			hc_events(c);
		if (pi[0].revents & ZMQ_POLLIN) {
			zmq_msg_t m;
			Haven__Frame *f = NULL;

			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0)
				hv_frame_unpack(zmq_msg_data(&m),
				    zmq_msg_size(&m), 64 << 20, &f, NULL);
			zmq_msg_close(&m);
			if (f != NULL)
				return f;
		}
		if (now_ms() >= end)
			return NULL;
	}
}

Haven__Frame *
hc_wait_receipt(struct hc_client *c, const uint8_t id[HV_ID_LEN],
    int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		Haven__Frame *f = hc_recv(c, (int)(end - now_ms()));

		if (f == NULL)
			return NULL;
		if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
		    (strcmp(f->receipt->status, "ACCEPTED") == 0 ||
		        strcmp(f->receipt->status, "REJECTED") == 0) &&
		    ((id == NULL && f->receipt->id.len == 0) ||
		        (id != NULL && f->receipt->id.len == HV_ID_LEN &&
		            memcmp(f->receipt->id.data, id, HV_ID_LEN) == 0)))
			return f;
		hv_frame_free(&f);
	}
	return NULL;
}

Haven__Frame *
hc_wait_kind(struct hc_client *c, Haven__Frame__KindCase k, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		Haven__Frame *f = hc_recv(c, (int)(end - now_ms()));

		if (f == NULL)
			return NULL;
		if (f->kind_case == k)
			return f;
		hv_frame_free(&f);
	}
	return NULL;
}

int
hc_wait_handshakes(struct hc_client *c, int n, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		zmq_pollitem_t pi = { c->mon, 0, ZMQ_POLLIN, 0 };

		hc_events(c);
		if (c->handshakes >= n)
			return 1;
		if (now_ms() >= end)
			return 0;
		zmq_poll(&pi, 1, 20);
	}
}

const char *
hc_code(const Haven__Frame *f)
{
	if (f == NULL || f->kind_case != HAVEN__FRAME__KIND_RECEIPT)
		return "";
	return f->receipt->code;
}

const char *
hc_status(const Haven__Frame *f)
{
	if (f == NULL || f->kind_case != HAVEN__FRAME__KIND_RECEIPT)
		return "";
	return f->receipt->status;
}

int
hc_deliver_id(const Haven__Frame *f, uint8_t id[HV_ID_LEN])
{
	hv_envelope env;

	if (f == NULL || f->kind_case != HAVEN__FRAME__KIND_DELIVER)
		return -1;
	if (hv_envelope_unpack(f->deliver->envelope.data,
	        f->deliver->envelope.len, f->deliver->envelope.len, &env,
	        NULL) != HV_OK)
		return -1;
	memcpy(id, env.id, HV_ID_LEN);
	hv_envelope_clear(&env);
	return 0;
}

hv_err
hc_audit_verify(const char *data_dir, const uint8_t sign[32], char *why,
    size_t cap)
{
	hv_store *s = NULL;
	hv_auditlog log;
	MDB_txn *txn;
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	/* Writable: the read-only open loses its database handles. */
	if ((e = hv_store_open(data_dir, 0, 0, hv_auditlog_dbnames,
	         HV_AUDITLOG_NDBS, &s, &d)) != HV_OK) {
		snprintf(why, cap, "%s", d.message);
		return e;
	}
	log.store = s;
	log.base = 0;
	if ((e = hv_store_begin(s, 1, &txn)) == HV_OK) {
		e = hv_auditlog_verify(&log, txn, sign, &d);
		mdb_txn_abort(txn);
	}
	snprintf(why, cap, "%s", d.message);
	hv_store_close(&s);
	return e;
}

int
hc_broker_sign_key(const struct h_partnership *p, uint8_t sign[32])
{
	char path[H_PATH + 40];
	struct hv_pubkeys pub;

	snprintf(path, sizeof(path), "%s/keys/broker.bristol.pub", p->dir);
	if (hv_pubkeys_load(path, &pub, NULL) != HV_OK)
		return -1;
	memcpy(sign, pub.sign, 32);
	return 0;
}
