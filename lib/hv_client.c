/*
 * hv_client — a synchronous CURVE DEALER for command-line requests to the
 * broker (see hv_client.h).
 *
 * A socket monitor tells a refused key (the broker's ZAP handler said no)
 * from a broker that does not answer, so that an IG officer whose node was
 * revoked is told so instead of "unreachable".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "hv_client.h"
#include "hv_util.h"
#include "hv_wire.h"

#define ENDPOINT_MAX 256

struct hv_client {
	void *ctx;
	void *sock;
	void *mon;
	size_t max_frame;
	int auth_refused; /* ZMQ_EVENT_HANDSHAKE_FAILED_AUTH seen */
	int handshake_failed; /* another handshake failure seen */
	char endpoint[ENDPOINT_MAX];
};

/* Reads every pending monitor event and notes handshake failures. */
static void
drain_monitor(hv_client *c)
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
			memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
			if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				c->auth_refused = 1;
			else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
			    ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
				c->handshake_failed = 1;
		}
		/* The event's second part names the endpoint. */
		while (zmq_msg_more(&m)) {
			zmq_msg_close(&m);
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->mon, 0) < 0)
				break;
		}
		zmq_msg_close(&m);
	}
}

hv_err
hv_client_open(const char *endpoint, const hv_keys *me,
    const uint8_t broker_curve[HV_CURVE_KEY_LEN], size_t max_frame,
    hv_client **out, struct hv_errdetail *d)
{
	hv_client *c;
	int one = 1, linger = 0, hb = 2000, hbt = 6000;
	int64_t max = (int64_t)max_frame;
	char mon[64];
	hv_err e = HV_EIO;

	if (endpoint == NULL || strlen(endpoint) >= ENDPOINT_MAX ||
	    strncmp(endpoint, "tcp://", 6) != 0)
		return hv_errset(d, HV_EUSAGE, "broker",
		    "'%.80s' is not a "
		    "broker endpoint; write tcp://HOST:PORT, for example "
		    "tcp://127.0.0.1:7400",
		    endpoint ? endpoint : "");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return HV_ENOMEM;
	snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint);
	c->max_frame = max_frame;
	if ((c->ctx = zmq_ctx_new()) == NULL ||
	    (c->sock = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL ||
	    (c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) == NULL) {
		hv_errset(d, HV_EIO, "broker",
		    "cannot create a ZeroMQ socket: "
		    "%s",
		    zmq_strerror(errno));
		goto fail;
	}
	if (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, broker_curve,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, me->pub.curve,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, me->curve_secret,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) !=
	        0 ||
	    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
	    zmq_setsockopt(c->mon, ZMQ_LINGER, &linger, sizeof(linger)) != 0) {
		hv_errset(d, HV_EIO, "broker",
		    "cannot set up the ZeroMQ "
		    "socket: %s",
		    zmq_strerror(errno));
		goto fail;
	}
	snprintf(mon, sizeof(mon), "inproc://hv-client-mon-%p", (void *)c);
	if (zmq_socket_monitor(c->sock, mon,
	        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
	    zmq_connect(c->mon, mon) != 0) {
		hv_errset(d, HV_EIO, "broker",
		    "cannot monitor the ZeroMQ "
		    "socket: %s",
		    zmq_strerror(errno));
		goto fail;
	}
	if (zmq_connect(c->sock, endpoint) != 0) {
		e = hv_errset(d, HV_EUSAGE, "broker",
		    "cannot connect to "
		    "'%.80s': %s; write tcp://HOST:PORT",
		    endpoint, zmq_strerror(errno));
		goto fail;
	}
	*out = c;
	return HV_OK;
fail:
	hv_client_close(&c);
	return e;
}

/* The sentence for a request that got no answer by its deadline. */
static hv_err
no_answer(hv_client *c, int timeout_ms, struct hv_errdetail *d)
{
	drain_monitor(c);
	if (c->auth_refused)
		return hv_errset(d, HV_EUNAUTHORIZED, "key",
		    "The broker at %s "
		    "refused this node's key: the node is not in the "
		    "broker's directory, or it has been revoked.",
		    c->endpoint);
	if (c->handshake_failed)
		return hv_errset(d, HV_EUNREACHABLE, "broker",
		    "The secure "
		    "handshake with %s failed: the broker there does not "
		    "hold the key the directory names for it. Check the "
		    "endpoint and the directory file.",
		    c->endpoint);
	return hv_errset(d, HV_EUNREACHABLE, "broker",
	    "The broker at %s did "
	    "not answer within %d.%d s; check that it is running and that "
	    "the endpoint is right.",
	    c->endpoint, timeout_ms / 1000, (timeout_ms % 1000) / 100);
}

/* Waits for events on the socket (or a refused handshake) until the
 * deadline. Returns 1 when ready, 0 at the deadline or on refusal. */
static int
wait_for(hv_client *c, short events, int64_t deadline)
{
	for (;;) {
		zmq_pollitem_t pi[2] = {
			{ c->sock, 0, events, 0 },
			{ c->mon, 0, ZMQ_POLLIN, 0 },
		};
		int64_t left = deadline - hv_mono_ms();

		if (left <= 0)
			return 0;
		if (zmq_poll(pi, 2, (long)left) < 0 && errno != EINTR)
			return 0;
		if (pi[1].revents & ZMQ_POLLIN) {
			drain_monitor(c);
			if (c->auth_refused)
				return 0;
		}
		if (pi[0].revents & events)
			return 1;
	}
}

/* Receives one message; 1 with *out set, 0 when none, -1 to skip it. */
static int
recv_frame(hv_client *c, Haven__Frame **out, hv_err *err,
    struct hv_errdetail *d)
{
	zmq_msg_t m;
	int parts = 0, rc = -1;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return 0;
	}
	parts = zmq_msg_more(&m) ? 2 : 1;
	if (parts == 1) {
		*err = hv_frame_unpack(zmq_msg_data(&m), zmq_msg_size(&m),
		    c->max_frame, out, d);
		rc = 1;
	}
	/* A multi-part message is not a Haven frame: drop all of it. */
	while (zmq_msg_more(&m)) {
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->sock, 0) < 0)
			break;
	}
	zmq_msg_close(&m);
	return rc;
}

hv_err
hv_client_request(hv_client *c, const Haven__Frame *req, int timeout_ms,
    Haven__Frame **reply, struct hv_errdetail *d)
{
	int64_t deadline = hv_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	Haven__Frame *f = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	hv_err e;

	if ((e = hv_frame_pack(req, &buf, &len)) != HV_OK)
		return e;
	/* With ZMQ_IMMEDIATE the socket is writable once a handshake with
	 * the broker has completed. */
	if (!wait_for(c, ZMQ_POLLOUT, deadline) ||
	    zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0) {
		free(buf);
		return no_answer(c, timeout_ms, d);
	}
	free(buf);
	for (;;) {
		int rc;

		if (!wait_for(c, ZMQ_POLLIN, deadline))
			return no_answer(c, timeout_ms, d);
		while ((rc = recv_frame(c, &f, &e, d)) != 0) {
			if (rc < 0)
				continue;
			if (e != HV_OK) {
				char why[sizeof(d->message)];

				snprintf(why, sizeof(why), "%s",
				    hv_errmsg(e, d));
				if (e != HV_ENOMEM)
					hv_errset(d, e, "reply",
					    "The broker "
					    "at %s sent an answer that does "
					    "not decode: %s",
					    c->endpoint, why);
				return e;
			}
			/* Session traffic for the node's agent, not ours. */
			if (f->kind_case == HAVEN__FRAME__KIND_DELIVER ||
			    f->kind_case == HAVEN__FRAME__KIND_RECEIPT) {
				hv_frame_free(&f);
				continue;
			}
			*reply = f;
			return HV_OK;
		}
	}
}

const char *
hv_client_endpoint(const hv_client *c)
{
	return c->endpoint;
}

void
hv_client_close(hv_client **cp)
{
	hv_client *c;

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
	free(c);
	*cp = NULL;
}
