/*
 * hv_policy — the agreement's allow rules and the lawful-basis rules
 * (SPEC §4.1, §4.2, §4.5, §5). ONE copy, used by the agent before it answers
 * 202 and by the broker for every Submit, so both enforce the same thing.
 *
 * Anything not allowed by a rule is denied. Every refusal comes with the
 * field at fault and one sentence.
 */
#ifndef HV_POLICY_H
#define HV_POLICY_H

#include <stdint.h>

#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_err.h"

/* 1 when s is a message type of SPEC §4.1. */
int hv_policy_type_valid(const char *s);
/* 1 for IMMEDIATE, URGENT, ROUTINE. */
int hv_policy_priority_valid(const char *s);
int hv_policy_consent_valid(const char *s);
int hv_policy_art6_valid(const char *s);
int hv_policy_art9_valid(const char *s);

/* The SPEC §4.1 lists, NULL-terminated, for help texts and validation. */
extern const char *const hv_message_types[];
extern const char *const hv_priorities[];
extern const char *const hv_consents[];
extern const char *const hv_art6_bases[];
extern const char *const hv_art9_conditions[];

/*
 * The lawful-basis rules of SPEC §4.2: every word valid; art6 and
 * decided_by required; art6 CONSENT requires consent OBTAINED; consent other
 * than OBTAINED requires a justification of at least 20 characters;
 * art9_required demands art9 other than NONE; justification and
 * decided_by hold no NHS number (the sentence never repeats it).
 * Errors: HV_EBASIS (field "basis.FIELD").
 */
hv_err hv_policy_check_basis(const struct hv_basis *b, int art9_required,
    struct hv_errdetail *d);

/*
 * 1 when text holds an NHS number: ten digits, each pair optionally
 * separated by one space or dash, passing the modulus-11 check. Used by
 * hv_policy_check_basis on justification and decided_by (SPEC §4.2: no
 * child identifiers in the basis, which is audited in clear).
 */
int hv_policy_text_has_nhs(const char *text);

/*
 * Replaces justification or decided_by with a fixed sentence when it holds
 * an NHS number, so a refused envelope's basis can be written to audit
 * (SPEC §9) without the identifier. Leaves clean fields alone.
 */
void hv_policy_basis_redact(struct hv_basis *b);

/*
 * The allow rules: sender's role may send type to every recipient's role.
 * Returns HV_OK with *art9_required set when some rule allows it (and any
 * allowing rule demands art9), else HV_EPOLICY naming the recipient.
 */
hv_err hv_policy_check_allowed(const hv_directory *dir, const char *sender,
    const char *recipient, const char *type, int *art9_required,
    struct hv_errdetail *d);

/*
 * Every check of SPEC §6 that needs only the envelope and the directory, in
 * SPEC order after the signature/clock/replay checks: type and priority
 * valid (MALFORMED), sender known and not revoked (SENDER_REVOKED),
 * recipients exist (UNKNOWN_RECIPIENT) and are not revoked
 * (REVOKED_RECIPIENT), the agreement (POLICY_DENIED), the basis
 * (BASIS_INVALID), INFO_RESPONSE carrying reply_to (BASIS_INVALID would be
 * wrong: MALFORMED, field reply_to). A decision (outcome NOT_SHARED, no
 * recipients) needs no allow rule.
 */
hv_err hv_policy_check_envelope(const hv_directory *dir,
    const hv_envelope *env, struct hv_errdetail *d);

/* Seconds for a RAG deadline: RED 4 h, AMBER 24 h, GREEN 72 h; -1 if bad. */
int64_t hv_policy_rag_seconds(const char *rag);

#endif
