/*
 * hv_receipt — the broker's signed receipts (SPEC §6).
 *
 * Every Receipt the broker sends (ACCEPTED, REJECTED, DELIVERED,
 * ACKNOWLEDGED, ESCALATED, EXPIRED) is signed with the broker's Ed25519 key
 * over a canonical encoding ("haven-receipt-v1\0", then id, status, code,
 * message, node, by, at and audit_seq, each length-prefixed), so an agent
 * can show an agency proof that the broker took responsibility for a
 * message. receipt_seq is transport bookkeeping and is not signed. The
 * functions keep no state and may be called from any thread.
 */
#ifndef HV_RECEIPT_H
#define HV_RECEIPT_H

#include "haven.pb-c.h"
#include "hv_err.h"
#include "hv_events.h"
#include "hv_keys.h"

/*
 * Signs r in place: r->signature gets a new malloc'd 64-byte buffer, which
 * the caller frees (free(r->signature.data)). r must not hold a signature
 * already; it would be lost. NULL strings sign as empty ones.
 * Errors: HV_ENOMEM (r unchanged).
 */
hv_err hv_receipt_sign(Haven__Receipt *r, const hv_keys *broker);

/*
 * Verifies r's signature with the broker's public signing key.
 * Errors: HV_EBADSIG (wrong length or does not verify), HV_ENOMEM.
 */
hv_err hv_receipt_verify(const Haven__Receipt *r,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN]);

#endif
