/*
 * hv_subject — how a child is named to the broker (SPEC §4.3).
 *
 * An identifier is normalised to `nhs:` + ten digits (NHS number with a
 * valid modulus-11 check digit; spaces and dashes removed) or
 * `local:AGENCY:ID`, then turned into a pseudonym: BLAKE2b-256 keyed with the
 * partnership's subject key. The broker only ever sees the pseudonym. This
 * module never logs; callers must not log identifiers either.
 */
#ifndef HV_SUBJECT_H
#define HV_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

#define HV_PSEUDONYM_LEN 32
#define HV_SUBJECT_KEY_ID_LEN 8
#define HV_SUBJECT_KEY_ID_HEX_LEN 16
#define HV_SUBJECT_MAX 160

/* 1 when the ten digits pass the NHS modulus-11 check. */
int hv_nhs_check_digit_ok(const char digits[10]);

/*
 * Normalises an NHS number ("943 476 5919", "943-476-5919") into
 * out = "nhs:9434765919". Errors: HV_EBADSUBJECT (detail: field "subject.nhs"
 * and what is wrong — length, non-digit, check digit).
 */
hv_err hv_subject_nhs(const char *in, char *out, size_t cap,
    struct hv_errdetail *d);

/*
 * Normalises a local identifier: agency a node id or role ([a-z0-9.-]),
 * id printable ASCII without spaces or colons, at most 64 chars each, into
 * "local:AGENCY:ID". Also accepts "AGENCY:ID" in agency_id with id NULL.
 * Errors: HV_EBADSUBJECT (field "subject.local").
 */
hv_err hv_subject_local(const char *agency, const char *id, char *out,
    size_t cap, struct hv_errdetail *d);

/* out = BLAKE2b-256 keyed with key over the normalised identifier. */
void hv_subject_pseudonym(const uint8_t key[32], const char *normalised,
    uint8_t out[HV_PSEUDONYM_LEN]);

/*
 * out = the subject key's id (SPEC §15): the first 8 bytes of BLAKE2b keyed
 * with "haven subject-key id" over the key. Records carry it so that a
 * query made with another partnership's key is told so rather than
 * answered "no records"; it reveals nothing of the key.
 */
void hv_subject_key_id(const uint8_t key[32],
    uint8_t out[HV_SUBJECT_KEY_ID_LEN]);

#endif
