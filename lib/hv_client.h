/*
 * hv_client — a small synchronous client of the broker for command-line
 * use (`haven audit … --broker`, `haven health --broker`): one ZeroMQ
 * DEALER with CURVE, one request at a time, every wait bounded.
 *
 * The broker authenticates the connection by its CURVE key (ZAP, SPEC §6)
 * and answers a request on the connection it came from, so no Hello is
 * sent: a Hello would make the broker treat this connection as the node's
 * agent session and deliver the node's queue here. Deliver and Receipt
 * frames that arrive anyway are dropped unacknowledged (the broker sends
 * them again to the node's agent).
 *
 * The client owns its ZeroMQ context. It keeps no copy of the node's
 * secret key (ZeroMQ holds the CURVE secret for the socket's lifetime).
 * This module never logs.
 */
#ifndef HV_CLIENT_H
#define HV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "haven.pb-c.h"
#include "hv_err.h"
#include "hv_keys.h"

typedef struct hv_client hv_client;

/*
 * Connects a DEALER to endpoint (tcp://HOST:PORT) as the node whose keys
 * are `me`, trusting only a broker with the CURVE public key broker_curve.
 * Frames larger than max_frame bytes are dropped by ZeroMQ and refused by
 * hv_client_request. Connecting does not wait for the broker: an
 * unreachable broker shows as a time-out of the first request.
 * *out is freed with hv_client_close.
 * Errors: HV_EUSAGE (the endpoint is not one ZeroMQ can connect to; the
 * detail quotes it), HV_ENOMEM, HV_EIO.
 */
hv_err hv_client_open(const char *endpoint, const hv_keys *me,
    const uint8_t broker_curve[HV_CURVE_KEY_LEN], size_t max_frame,
    hv_client **out, struct hv_errdetail *d);

/*
 * Sends req and waits at most timeout_ms in all (handshake, send and
 * answer) for the broker's answer: the first frame that is not a Deliver
 * or a Receipt. On success *reply is a checked frame (hv_frame_unpack)
 * the caller frees with hv_frame_free; it may be an Error frame, which
 * the caller reads. On failure *reply is untouched.
 * Errors: HV_EUNREACHABLE (no answer in time; the detail names the
 * endpoint), HV_EUNAUTHORIZED (the broker refused this node's key at the
 * handshake: not in its directory, or revoked), HV_EMALFORMED /
 * HV_ETOOLARGE (the answer does not decode), HV_ENOMEM, HV_EIO.
 */
hv_err hv_client_request(hv_client *c, const Haven__Frame *req, int timeout_ms,
    Haven__Frame **reply, struct hv_errdetail *d);

/* The endpoint the client was opened with. */
const char *hv_client_endpoint(const hv_client *c);

/* Closes the socket without lingering and frees *c; accepts NULL; sets
 * *c = NULL. */
void hv_client_close(hv_client **c);

#endif
