/*
 * hv_retract — the signed retraction of a message by its sender (SPEC §15):
 * the reason codes, the staff identifier rule, the canonical bytes, and
 * signing and verification.
 *
 * A retraction's reason is a code from a fixed list, never free text: the
 * retraction passes through the broker, whose log is kept for life, and
 * free text there could carry a child's details. Any fuller note is kept
 * by the sending agent alone. The one copy of these rules is here; the
 * agent, the broker and the CLI call it. Holds no state and never logs.
 */
#ifndef HV_RETRACT_H
#define HV_RETRACT_H

#include <stddef.h>
#include <stdint.h>

#include "haven.pb-c.h"
#include "hv_directory.h"
#include "hv_err.h"
#include "hv_keys.h"

#define HV_RETRACT_DECIDED_BY_MAX 64

/* The reason codes, then NULL. */
extern const char *const hv_retract_reasons[];

/* 1 when s (may be NULL) is one of hv_retract_reasons. */
int hv_retract_reason_ok(const char *s);

/* 1 when s (may be NULL) is a staff identifier: [a-z0-9._-]{1,64}. */
int hv_retract_decided_by_ok(const char *s);

/*
 * Checks the fields of r (id 16 bytes, reason, decided_by, sender set).
 * Errors: HV_EMALFORMED; *d names the field and says what was wrong.
 */
hv_err hv_retract_check(const Haven__Retraction *r, struct hv_errdetail *d);

/*
 * Signs r in place with the sender's keys: r->signature points to a new
 * 64-byte buffer the caller frees. Errors: HV_EMALFORMED, HV_ENOMEM.
 */
hv_err hv_retract_sign(Haven__Retraction *r, const hv_keys *sender);

/*
 * Verifies r's signature by node n (its current signing key, or a previous
 * one in force at r->created). Errors: HV_EMALFORMED, HV_EBADSIG,
 * HV_ENOMEM.
 */
hv_err hv_retract_verify(const Haven__Retraction *r, const struct hv_node *n);

/*
 * Packs r into a new buffer (*out, the caller frees). Errors: HV_ENOMEM.
 */
hv_err hv_retract_pack(const Haven__Retraction *r, uint8_t **out, size_t *len);

/*
 * Unpacks and checks a packed retraction; *out is freed with
 * hv_retract_free. Errors: HV_EMALFORMED.
 */
hv_err hv_retract_unpack(const uint8_t *buf, size_t len,
    Haven__Retraction **out);

/* Frees an unpacked retraction; accepts NULL; sets *r = NULL. */
void hv_retract_free(Haven__Retraction **r);

#endif
