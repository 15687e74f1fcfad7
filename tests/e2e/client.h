/*
 * A small broker client for end-to-end tests, built from lib/: a DEALER
 * with CURVE using a node's key files from a harness partnership, envelope
 * building (seal + sign), Submit, Ack, HumanAck and the other frames, and a
 * socket monitor that counts handshakes and disconnections.
 *
 * Every receive takes a deadline; nothing blocks for ever. Frames returned
 * by hc_recv are freed with hv_frame_free.
 */
#ifndef HV_TEST_CLIENT_H
#define HV_TEST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "haven.pb-c.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_keys.h"

struct hc_client {
	char node[HV_NODE_MAX + 1];
	void *ctx;
	void *sock;
	void *mon;
	hv_keys *keys;
	hv_directory *dir;
	/* Monitor counts, updated by hc_recv and hc_events. */
	int handshakes; /* ZMQ_EVENT_HANDSHAKE_SUCCEEDED */
	int disconnects; /* ZMQ_EVENT_DISCONNECTED */
	int auth_failures; /* ZMQ_EVENT_HANDSHAKE_FAILED_* */
};

/*
 * Connects as `node` with the keys in the partnership's keys/ folder to
 * p->endpoint, trusting the broker key of the partnership's directory.
 * NULL on failure (reason on stderr).
 */
struct hc_client *hc_connect(const struct h_partnership *p, const char *node);

/*
 * Connects as `node` with the given keys (taken over; freed by hc_close),
 * for clients the directory does not know.
 */
struct hc_client *hc_connect_keys(const struct h_partnership *p,
    const char *node, hv_keys *keys);

/* Closes the socket and frees everything; accepts NULL; sets *c = NULL. */
void hc_close(struct hc_client **c);

/*
 * Fills env with a share from c to recipients to[0..n) of `type`: random
 * id and subject, ROUTINE, created now, a valid basis (OBTAINED,
 * PUBLIC_TASK, SAFEGUARDING). The caller may change any header field before
 * hc_env_seal.
 */
void hc_env_init(struct hc_client *c, hv_envelope *env, const char *const *to,
    size_t n, const char *type);

/* Encrypts payload to the recipients' keys from the directory (a random
 * key for a node it does not know) and signs. 0 or -1. */
int hc_env_seal(struct hc_client *c, hv_envelope *env, const char *payload,
    size_t len);

/* Packs env (malloc'd *out). 0 or -1. */
int hc_env_pack(const hv_envelope *env, uint8_t **out, size_t *len);

/* Builds, seals and packs in one go (ids into id when not NULL). */
int hc_make(struct hc_client *c, const char *const *to, size_t n,
    const char *type, const char *payload, uint8_t id[HV_ID_LEN], uint8_t **out,
    size_t *len);

/* Sends one raw ZeroMQ message / a packed frame. 0 or -1. */
int hc_send_raw(struct hc_client *c, const void *buf, size_t len);
int hc_send_frame(struct hc_client *c, const Haven__Frame *f);

int hc_submit(struct hc_client *c, const uint8_t *env, size_t len);
int hc_submit_as(struct hc_client *c, const char *sender, const uint8_t *env,
    size_t len);
int hc_hello(struct hc_client *c, uint32_t window);
int hc_ack(struct hc_client *c, const uint8_t id[HV_ID_LEN]);
int hc_ack_receipt(struct hc_client *c, uint64_t receipt_seq);
int hc_human_ack(struct hc_client *c, const uint8_t id[HV_ID_LEN],
    const char *by, int escalated);
int hc_tree_head_request(struct hc_client *c, uint64_t since);
int hc_health_request(struct hc_client *c);

/* One frame within timeout_ms, or NULL. */
Haven__Frame *hc_recv(struct hc_client *c, int timeout_ms);

/*
 * Waits up to timeout_ms for the first receipt (ACCEPTED or REJECTED) of
 * id, dropping other frames. Returns the frame (receipt in ->receipt) or
 * NULL.
 */
Haven__Frame *hc_wait_receipt(struct hc_client *c, const uint8_t id[HV_ID_LEN],
    int timeout_ms);

/*
 * Waits for a frame of kind k (any id), acknowledging Delivers is left to
 * the caller. Returns it or NULL at the deadline.
 */
Haven__Frame *hc_wait_kind(struct hc_client *c, Haven__Frame__KindCase k,
    int timeout_ms);

/* Drains the monitor (without waiting). */
void hc_events(struct hc_client *c);

/* Waits until c->handshakes >= n. 1 or 0 at the deadline. */
int hc_wait_handshakes(struct hc_client *c, int n, int timeout_ms);

/* The message id of a Deliver frame's envelope into id. 0 or -1. */
int hc_deliver_id(const Haven__Frame *f, uint8_t id[HV_ID_LEN]);

/*
 * Verifies the whole audit log of a stopped broker's store (every record,
 * leaf, index and signed head) with the broker's signing key; why gets
 * hv_auditlog_verify's sentence. Returns HV_OK or its error.
 */
hv_err hc_audit_verify(const char *data_dir, const uint8_t sign[32], char *why,
    size_t cap);

/* The broker's signing key from the partnership's keys folder. 0 or -1. */
int hc_broker_sign_key(const struct h_partnership *p, uint8_t sign[32]);

/* The code of a REJECTED receipt frame, "" for others. */
const char *hc_code(const Haven__Frame *f);
/* The status of a receipt frame, "" for others. */
const char *hc_status(const Haven__Frame *f);

#endif
