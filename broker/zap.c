/*
 * haven-broker — the ZAP handler (RFC 27): who may complete a CURVE
 * handshake (SPEC §6).
 *
 * The handler is a REP socket on inproc://zeromq.zap.01 in the broker's own
 * context, bound before the ROUTER binds and polled by the main loop, so a
 * client is never admitted without being asked about. A client is accepted
 * only when its CURVE public key belongs to a node of the directory in
 * force that has keys, is not revoked and is not the broker itself; the
 * reply's User-Id is that node id, and it is the only identity the broker
 * trusts for the frames of that connection.
 */
#include <errno.h>
#include <string.h>

#include <zmq.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_util.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "haven"
#define ZAP_PARTS 7

/*
 * Binds the ZAP socket. Returns 0, or -1 with errno set.
 */
int
zap_start(struct broker *b)
{
	int linger = 0;

	if ((b->zap = zmq_socket(b->zctx, ZMQ_REP)) == NULL)
		return -1;
	zmq_setsockopt(b->zap, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(b->zap, ZAP_ENDPOINT) != 0)
		return -1;
	return 0;
}

/* Sends the six reply frames of RFC 27. */
static void
zap_reply(struct broker *b, const zmq_msg_t *reqid, const char *code,
    const char *text, const char *user)
{
	zmq_msg_t id;

	zmq_send(b->zap, "1.0", 3, ZMQ_SNDMORE);
	zmq_msg_init(&id);
	zmq_msg_copy(&id, (zmq_msg_t *)reqid);
	zmq_msg_send(&id, b->zap, ZMQ_SNDMORE);
	zmq_msg_close(&id);
	zmq_send(b->zap, code, strlen(code), ZMQ_SNDMORE);
	zmq_send(b->zap, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(b->zap, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(b->zap, "", 0, 0);
}

static int
part_is(const zmq_msg_t *m, const char *s)
{
	size_t n = strlen(s);

	return zmq_msg_size((zmq_msg_t *)m) == n &&
	    memcmp(zmq_msg_data((zmq_msg_t *)m), s, n) == 0;
}

/*
 * Logs a refusal through the broker's limit (BROKER_REFUSAL_LOG_MS): anyone
 * can make a CURVE handshake with a fresh key, so a line per refusal would
 * let a flood fill the disk and drown every other line.
 */
static void
zap_log_refusal(struct broker *b, const zmq_msg_t *addr, const uint8_t *key,
    const char *why)
{
	char hex[2 * HV_CURVE_KEY_LEN + 1], ip[64];
	size_t n = zmq_msg_size((zmq_msg_t *)addr);

	if (key != NULL)
		hv_hex(key, 8, hex);
	else
		snprintf(hex, sizeof(hex), "none");
	if (n >= sizeof(ip))
		n = sizeof(ip) - 1;
	memcpy(ip, zmq_msg_data((zmq_msg_t *)addr), n);
	ip[n] = '\0';
	if (!hv_utf8_valid(ip, n))
		snprintf(ip, sizeof(ip), "?");
	hv_log_info_limited(&b->zap_log,
	    "refused a handshake from %s (key "
	    "%s...): %s",
	    ip, hex, why);
}

/* Decides one request whose frames are in parts[0..n). */
static void
zap_decide(struct broker *b, zmq_msg_t *parts, int n)
{
	const struct hv_node *node, *self;
	const uint8_t *key;

	if (n < 2)
		return; /* no request id to answer */
	if (n != ZAP_PARTS || !part_is(&parts[0], "1.0")) {
		zap_reply(b, &parts[1], "500", "bad ZAP request", "");
		return;
	}
	if (!part_is(&parts[2], ZAP_DOMAIN) || !part_is(&parts[5], "CURVE") ||
	    zmq_msg_size(&parts[6]) != HV_CURVE_KEY_LEN) {
		zap_log_refusal(b, &parts[3], NULL,
		    "not a CURVE client of "
		    "the haven domain");
		zap_reply(b, &parts[1], "400", "not allowed", "");
		return;
	}
	key = zmq_msg_data(&parts[6]);
	node = hv_directory_node_by_curve(b->dir, key);
	self = hv_directory_broker(b->dir);
	if (node == NULL) {
		zap_log_refusal(b, &parts[3], key, "key not in the directory");
		zap_reply(b, &parts[1], "400", "unknown key", "");
	} else if (node->revoked || !node->has_keys) {
		zap_log_refusal(b, &parts[3], key, "node revoked");
		zap_reply(b, &parts[1], "400", "revoked", "");
	} else if ((self != NULL && strcmp(self->id, node->id) == 0) ||
	    strcmp(node->id, b->cfg.id) == 0) {
		zap_log_refusal(b, &parts[3], key, "the broker's own key");
		zap_reply(b, &parts[1], "400", "not a client", "");
	} else {
		hv_log_debug("admitted %s", node->id);
		zap_reply(b, &parts[1], "200", "OK", node->id);
	}
}

/*
 * Answers every ZAP request waiting on the socket, without blocking.
 */
void
zap_handle(struct broker *b)
{
	for (int guard = 0; guard < 1024; guard++) {
		zmq_msg_t parts[ZAP_PARTS];
		int n = 0, more = 1, ok = 1;

		while (more) {
			zmq_msg_t m;
			int rc;
			size_t sz = sizeof(more);

			zmq_msg_init(&m);
			rc =
			    zmq_msg_recv(&m, b->zap, n == 0 ? ZMQ_DONTWAIT : 0);
			if (rc < 0) {
				zmq_msg_close(&m);
				if (n == 0)
					return; /* nothing waiting */
				ok = 0;
				break;
			}
			zmq_getsockopt(b->zap, ZMQ_RCVMORE, &more, &sz);
			if (n < ZAP_PARTS)
				parts[n] = m;
			else
				zmq_msg_close(&m);
			n++;
		}
		if (ok)
			zap_decide(b, parts, n);
		for (int i = 0; i < n && i < ZAP_PARTS; i++)
			zmq_msg_close(&parts[i]);
	}
}
