/*
 * hv_policy — the agreement's allow rules and the lawful-basis rules
 * (SPEC §4.1, §4.2, §4.5, §5). ONE copy, used by the agent before it answers
 * 202, by the broker for every Submit and by the receiving agent before it
 * stores a delivery, so all three enforce the same thing.
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
 * The lawful-basis rules of SPEC §4.2: every word valid; art6 required;
 * decided_by a staff identifier; art6 CONSENT requires consent OBTAINED;
 * consent other than OBTAINED requires a justification of at least 20
 * characters — counted in the clear text when b holds it (the sending
 * agent), else the sealed length b->justification_len (the broker);
 * art9_required demands art9 other than NONE. The sealed form itself is
 * checked by hv_justification_check (hv_sealed.h).
 * Errors: HV_EBASIS (field "basis.FIELD").
 */
hv_err hv_policy_check_basis(const struct hv_basis *b, int art9_required,
    struct hv_errdetail *d);

/*
 * 1 when s is a staff identifier (SPEC §4.2): 1 to HV_DECIDED_BY_MAX
 * characters from a-z, 0-9, '.', '_' and '-', the first a letter. Such a
 * string cannot hold a child's name as people write it, an NHS number in
 * any of its written forms, or a sentence; it is how decided_by and an
 * acknowledgement's `by` are kept free of child identifiers.
 */
int hv_policy_staff_id_valid(const char *s);

/*
 * HV_OK when s is a staff identifier, else `code` with `field` and one
 * sentence that never repeats s (it may be someone's name).
 */
hv_err hv_policy_check_staff_id(const char *s, const char *field, hv_err code,
    struct hv_errdetail *d);

/*
 * Characters (UTF-8 code points) in s once leading and trailing white
 * space is ignored, so that twenty spaces do not pass for a reason.
 */
size_t hv_policy_trimmed_chars(const char *s);

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
 * (REVOKED_RECIPIENT), the agreement (POLICY_DENIED), the basis and its
 * sealed justification (BASIS_INVALID), INFO_RESPONSE carrying reply_to (BASIS_INVALID would be
 * wrong: MALFORMED, field reply_to). A decision (outcome NOT_SHARED, no
 * recipients) needs no allow rule.
 */
hv_err hv_policy_check_envelope(const hv_directory *dir, const hv_envelope *env,
    struct hv_errdetail *d);

/*
 * What a checker knows of the message an INFO_RESPONSE's reply_to names,
 * from its own records: the broker from its address index, a responding
 * agent from its inbox, a receiving agent from its outbox or inbox.
 */
struct hv_policy_request {
	int found; /* a message with that id is known */
	int to_responder; /* it was addressed to the responder (sender) */
	const char *type; /* its type ("" when not found) */
};

/*
 * The reply_to rule (SPEC §4.1): an INFO_RESPONSE answers an INFO_REQUEST
 * that was addressed to the response's sender. Other types pass; a missing
 * reply_to is hv_policy_check_envelope's (MALFORMED). One copy, used by the
 * broker for every Submit, by the agent before it answers 202 and by the
 * agent again before it stores a delivery.
 * Errors: HV_EPOLICY (field "reply_to").
 */
hv_err hv_policy_check_reply_to(const hv_envelope *env,
    const struct hv_policy_request *req, struct hv_errdetail *d);

/* How far created may lie from a checker's clock at submit (SPEC §6). */
#define HV_POLICY_SKEW_S 300

/*
 * The clock rule: created (unix seconds) at most ahead_s after now and at
 * most behind_s before it. The broker uses HV_POLICY_SKEW_S both ways at
 * submit; a recipient allows a message the age of the broker's TTL more
 * (it may have waited at the broker that long). clock names the clock in
 * the sentence ("the broker's clock").
 * Errors: HV_ECLOCKSKEW (field "created").
 */
hv_err hv_policy_check_created(int64_t created, int64_t now, int64_t ahead_s,
    int64_t behind_s, const char *clock, struct hv_errdetail *d);

/*
 * What a recipient checks with its own directory before it stores a
 * delivered envelope, so that a compromised broker cannot inject: a share
 * (not a decision) of a valid type and priority naming `me` as a recipient
 * (MALFORMED, NOT_RECIPIENT); the sender known and not revoked
 * (SENDER_REVOKED); an allow rule for the sender's role to me's role for
 * the type (POLICY_DENIED); the basis, with that rule's art9 demand
 * (BASIS_INVALID); an INFO_RESPONSE carrying reply_to (MALFORMED). The
 * signature, the created time and the reply_to rule are the caller's.
 */
hv_err hv_policy_check_delivery(const hv_directory *dir, const hv_envelope *env,
    const char *me, struct hv_errdetail *d);

/* Seconds for a RAG deadline: RED 4 h, AMBER 24 h, GREEN 72 h; -1 if bad. */
int64_t hv_policy_rag_seconds(const char *rag);

#endif
