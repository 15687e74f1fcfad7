/*
 * hv_receipt — the broker's signed receipts (SPEC §6).
 *
 * Every Receipt the broker sends (ACCEPTED, REJECTED, DELIVERED,
 * ACKNOWLEDGED, ESCALATED, EXPIRED) is signed with the broker's Ed25519 key
 * over a canonical encoding, so an agent can show an agency proof that the
 * broker took responsibility for a message. receipt_seq is transport
 * bookkeeping and is not signed.
 */
#ifndef HV_RECEIPT_H
#define HV_RECEIPT_H

#include "haven.pb-c.h"
#include "hv_err.h"
#include "hv_keys.h"

/* Signs r in place (r->signature gets a malloc'd 64-byte buffer the caller
 * frees, or hv_receipt_clear). Errors: HV_ENOMEM. */
hv_err hv_receipt_sign(Haven__Receipt *r, const hv_keys *broker);

/* Verifies r's signature with the broker's key. Errors: HV_EBADSIG. */
hv_err hv_receipt_verify(const Haven__Receipt *r,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN]);

#endif
