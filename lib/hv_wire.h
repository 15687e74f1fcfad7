/*
 * hv_wire — protobuf-c packing and unpacking with size caps and string
 * checks (SPEC §6).
 *
 * Nothing decoded from the network is used before it passes through here:
 * every unpack refuses input over its byte limit, and walks the decoded
 * message checking every string field (recursively) for valid UTF-8, no NUL
 * and at most HV_WIRE_STRING_MAX bytes, and every bytes field against
 * HV_WIRE_BYTES_MAX unless it is an envelope or ciphertext.
 *
 * Frames are handed out as the generated Haven__Frame type: callers read the
 * oneof directly and free with hv_frame_free.
 */
#ifndef HV_WIRE_H
#define HV_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "haven.pb-c.h"
#include "hv_envelope.h"
#include "hv_err.h"

#define HV_WIRE_STRING_MAX 4096
#define HV_WIRE_JSON_MAX (1024 * 1024) /* HealthReply.json */
#define HV_WIRE_BYTES_MAX \
	65536 /* bytes fields other than envelope/ciphertext */

/*
 * The protocol version an agent puts in Hello. A broker serves this version
 * and the one before it (SPEC §13), so agents can be upgraded after their
 * broker. Version 0 is a Hello without the field, from the release before
 * versions, whose frames are version 1's.
 */
#define HV_PROTOCOL_VERSION 1
#define HV_PROTOCOL_OLDEST (HV_PROTOCOL_VERSION - 1)

/*
 * Checks the version of a Hello from node. Errors: HV_EPROTOCOL with a
 * sentence naming the node, its version and the versions served.
 */
hv_err hv_wire_protocol_check(uint32_t version, const char *node,
    struct hv_errdetail *d);

/*
 * Largest packed envelope for a payload limit of max_payload bytes: the
 * padded ciphertext plus header, sealed keys and protobuf overhead. The
 * broker sets ZMQ_MAXMSGSIZE from this (plus frame overhead).
 */
size_t hv_wire_envelope_max(size_t max_payload);

/* Largest packed Frame carrying such an envelope. */
size_t hv_wire_frame_max(size_t max_payload);

/*
 * Packs env into a malloc'd buffer *out of *len bytes.
 * Errors: HV_ENOMEM.
 */
hv_err hv_envelope_pack(const hv_envelope *env, uint8_t **out, size_t *len);

/*
 * A lawful basis as a protobuf Basis (SPEC §4.2), for envelopes and audit
 * records alike. hv_basis_to_pb points pb's fields into b and the scratch
 * arrays, so the result lives as long as both.
 */
struct hv_basis_pb {
	Haven__Basis pb;
	char *sealed_for[HV_SEALED_FOR_MAX];
	ProtobufCBinaryData keys[HV_SEALED_FOR_MAX];
};
void hv_basis_to_pb(const struct hv_basis *b, struct hv_basis_pb *out);

/*
 * Fills b from a decoded Basis: every string fits its field, at most
 * HV_SEALED_FOR_MAX sealed keys of HV_SEALED_KEY_LEN bytes each, one per
 * sealed_for node, the sealed text at most HV_JUSTIFICATION_SEALED_MAX
 * bytes. prefix names the message in the detail ("envelope.basis").
 * Errors: HV_EMALFORMED.
 */
hv_err hv_basis_from_pb(const Haven__Basis *pb, struct hv_basis *b,
    const char *prefix, struct hv_errdetail *d);

/*
 * Decodes a packed envelope of at most max_len bytes into *out (ciphertext
 * malloc'd, owned by *out; free with hv_envelope_clear). Checks lengths of
 * id (16), subject (32), reply_to (0 or 16), nonce (24), sealed keys (one
 * per recipient, 80 bytes each), signature (64), node ids, recipients
 * (unique, at most HV_MAX_RECIPIENTS), and that every string fits its
 * field. Values (types, basis words) are checked by hv_policy, not here.
 * Errors: HV_EMALFORMED (detail names the field), HV_ETOOLARGE, HV_ENOMEM.
 */
hv_err hv_envelope_unpack(const uint8_t *buf, size_t len, size_t max_len,
    hv_envelope *out, struct hv_errdetail *d);

/*
 * Decodes one frame of at most max_len bytes and validates every string and
 * bytes field. *out is freed with hv_frame_free.
 * Errors: HV_EMALFORMED (detail names the field), HV_ETOOLARGE.
 */
hv_err hv_frame_unpack(const uint8_t *buf, size_t len, size_t max_len,
    Haven__Frame **out, struct hv_errdetail *d);

/*
 * A recipient's refusal in an Ack (SPEC §6): the error code's name and one
 * sentence, never payload. Both empty is a delivery (older agents).
 */
#define HV_ACK_CODE_MAX 32
#define HV_ACK_MESSAGE_MAX 256

/*
 * Checks an Ack's refusal: both fields empty, or a code naming a refusal
 * (an hv_err name other than the agent's own failures STORAGE_FULL,
 * IO_ERROR, NO_MEMORY and INTERNAL) of at most HV_ACK_CODE_MAX bytes with
 * a sentence of 1 to HV_ACK_MESSAGE_MAX bytes without control characters.
 * On success *code is the refusal's code, or HV_OK for a delivery.
 * hv_frame_unpack applies it to every Ack.
 * Errors: HV_EMALFORMED (detail names the field).
 */
hv_err hv_ack_refusal(const Haven__Ack *a, hv_err *code,
    struct hv_errdetail *d);

/*
 * Sets a's refusal to code and sentence, copying at most HV_ACK_MESSAGE_MAX
 * bytes of the sentence into buf (cut at a character boundary, control
 * characters made spaces); a's fields point into buf and hv_errname's
 * string, so a lives no longer than buf.
 */
void hv_ack_set_refusal(Haven__Ack *a, hv_err code, const char *sentence,
    char buf[HV_ACK_MESSAGE_MAX + 1]);

/* Packs a frame into a malloc'd buffer. Errors: HV_ENOMEM. */
hv_err hv_frame_pack(const Haven__Frame *f, uint8_t **out, size_t *len);

/* Frees a frame from hv_frame_unpack; accepts NULL; sets *f = NULL. */
void hv_frame_free(Haven__Frame **f);

/*
 * Validates every string field of any decoded protobuf-c message
 * (recursively): UTF-8, no NUL, at most HV_WIRE_STRING_MAX bytes.
 * Errors: HV_EMALFORMED (detail names the field).
 */
hv_err hv_wire_check_strings(const ProtobufCMessage *m, struct hv_errdetail *d);

#endif
