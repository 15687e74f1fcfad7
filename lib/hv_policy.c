/*
 * hv_policy — the agreement's allow rules and the lawful-basis rules
 * (SPEC §4.1, §4.2, §4.5, §5).
 *
 * This is the one copy of the sharing policy: the agent runs it before it
 * answers 202, the broker runs it on every Submit and the recipient's agent
 * runs it again before it stores a delivery, so a share the agent accepts
 * is a share the broker accepts, and a broker cannot inject one the
 * recipient's directory forbids. Anything no rule allows is denied.
 * Every refusal names the field at fault in one sentence a practitioner can
 * act on. This module never logs and never sees payloads.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hv_config.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_policy.h"
#include "hv_sealed.h"
#include "hv_subject.h"

/* Shortest justification SPEC §4.2 accepts when consent was not obtained. */
#define JUSTIFICATION_MIN 20

const char *const hv_message_types[] = { "REFERRAL", "INFO_REQUEST",
	"INFO_RESPONSE", "STRATEGY_DISCUSSION", "CP_CONFERENCE_INVITATION",
	"CP_PLAN_START", "CP_PLAN_END", "LOOKED_AFTER_START",
	"LOOKED_AFTER_END", "UNSCHEDULED_CARE_ATTENDANCE",
	"DOMESTIC_ABUSE_NOTIFICATION", "MISSING_CHILD_ALERT", "CASE_UPDATE",
	NULL };

const char *const hv_priorities[] = { "IMMEDIATE", "URGENT", "ROUTINE", NULL };

const char *const hv_consents[] = { "OBTAINED", "NOT_SOUGHT", "REFUSED",
	"NOT_POSSIBLE", NULL };

const char *const hv_art6_bases[] = { "PUBLIC_TASK", "LEGAL_OBLIGATION",
	"VITAL_INTERESTS", "CONSENT", "LEGITIMATE_INTERESTS", NULL };

const char *const hv_art9_conditions[] = { "NONE", "SAFEGUARDING",
	"HEALTH_SOCIAL_CARE", "EXPLICIT_CONSENT", "VITAL_INTERESTS",
	"LEGAL_CLAIMS", NULL };

/* 1 when s is one of the NULL-terminated words of list (exact case). */
static int
in_list(const char *const *list, const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

int
hv_policy_type_valid(const char *s)
{
	return in_list(hv_message_types, s);
}

int
hv_policy_priority_valid(const char *s)
{
	return in_list(hv_priorities, s);
}

int
hv_policy_consent_valid(const char *s)
{
	return in_list(hv_consents, s);
}

int
hv_policy_art6_valid(const char *s)
{
	return in_list(hv_art6_bases, s);
}

int
hv_policy_art9_valid(const char *s)
{
	return in_list(hv_art9_conditions, s);
}

/*
 * Number of characters (UTF-8 code points) in s once leading and trailing
 * white space is ignored, so that twenty spaces do not pass for a reason.
 */
size_t
hv_policy_trimmed_chars(const char *s)
{
	const char *end;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
	        end[-1] == '\r'))
		end--;
	for (; s < end; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* The consent word as a practitioner would read it in a sentence. */
static const char *
consent_phrase(const char *consent)
{
	if (strcmp(consent, "NOT_SOUGHT") == 0)
		return "consent was NOT_SOUGHT";
	if (strcmp(consent, "REFUSED") == 0)
		return "consent was REFUSED";
	return "consent was NOT_POSSIBLE";
}

int
hv_policy_staff_id_valid(const char *s)
{
	size_t n = 0;

	/*
	 * A letter first: digits with dots or dashes are within the alphabet
	 * but are how an NHS number is written ("628.194.8211").
	 */
	if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == HV_DECIDED_BY_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

hv_err
hv_policy_check_staff_id(const char *s, const char *field, hv_err code,
    struct hv_errdetail *d)
{
	if (hv_policy_staff_id_valid(s))
		return HV_OK;
	/*
	 * The value is never repeated: when it is not a staff identifier it
	 * may be a person's name, and replies end up in logs.
	 */
	if (s == NULL || *s == '\0')
		return hv_errset(d, code, field,
		    "%s is required: give a "
		    "staff identifier such as ppu.sgt-khan.",
		    field);
	return hv_errset(d, code, field,
	    "%s must be a staff identifier: a "
	    "letter a-z, then up to %d more of a-z, 0-9, '.', '_' and '-' "
	    "(such as ppu.sgt-khan), not a name or free text.",
	    field, HV_DECIDED_BY_MAX - 1);
}

hv_err
hv_policy_check_basis(const struct hv_basis *b, int art9_required,
    struct hv_errdetail *d)
{
	size_t just;
	hv_err e;

	if (b->art6[0] == '\0')
		return hv_errset(d, HV_EBASIS, "basis.art6",
		    "basis.art6 is required: give the Article 6 basis "
		    "(PUBLIC_TASK, LEGAL_OBLIGATION, VITAL_INTERESTS, CONSENT "
		    "or LEGITIMATE_INTERESTS).");
	if (!hv_policy_art6_valid(b->art6))
		return hv_errset(d, HV_EBASIS, "basis.art6",
		    "basis.art6 '%.24s' is not an Article 6 basis; use "
		    "PUBLIC_TASK, LEGAL_OBLIGATION, VITAL_INTERESTS, CONSENT "
		    "or LEGITIMATE_INTERESTS.",
		    b->art6);
	if (b->consent[0] == '\0')
		return hv_errset(d, HV_EBASIS, "basis.consent",
		    "basis.consent is required: say whether consent was "
		    "OBTAINED, NOT_SOUGHT, REFUSED or NOT_POSSIBLE.");
	if (!hv_policy_consent_valid(b->consent))
		return hv_errset(d, HV_EBASIS, "basis.consent",
		    "basis.consent '%.24s' is not one of OBTAINED, NOT_SOUGHT, "
		    "REFUSED or NOT_POSSIBLE.",
		    b->consent);
	if (b->art9[0] != '\0' && !hv_policy_art9_valid(b->art9))
		return hv_errset(d, HV_EBASIS, "basis.art9",
		    "basis.art9 '%.24s' is not an Article 9 condition; use "
		    "NONE, SAFEGUARDING, HEALTH_SOCIAL_CARE, EXPLICIT_CONSENT, "
		    "VITAL_INTERESTS or LEGAL_CLAIMS.",
		    b->art9);
	/*
	 * SPEC §4.2: decided_by is audited in clear, so it is a staff
	 * identifier by construction rather than free text searched for
	 * identifiers.
	 */
	if ((e = hv_policy_check_staff_id(b->decided_by, "basis.decided_by",
	         HV_EBASIS, d)) != HV_OK)
		return e;
	if (strcmp(b->art6, "CONSENT") == 0 &&
	    strcmp(b->consent, "OBTAINED") != 0)
		return hv_errset(d, HV_EBASIS, "basis.consent",
		    "basis.art6 CONSENT needs basis.consent OBTAINED, but %s; "
		    "choose another Article 6 basis or obtain consent.",
		    consent_phrase(b->consent));
	/*
	 * The sending agent counts the clear text; after sealing (and at the
	 * broker, which never sees it) the declared length stands for it.
	 */
	just = b->justification[0] != '\0' ?
	    hv_policy_trimmed_chars(b->justification) :
	    b->justification_len;
	if (strcmp(b->consent, "OBTAINED") != 0 && just < JUSTIFICATION_MIN)
		return hv_errset(d, HV_EBASIS, "basis.justification",
		    "basis.justification must explain in at least %d "
		    "characters why %s.",
		    JUSTIFICATION_MIN, consent_phrase(b->consent));
	if (art9_required &&
	    (b->art9[0] == '\0' || strcmp(b->art9, "NONE") == 0))
		return hv_errset(d, HV_EBASIS, "basis.art9",
		    "the agreement's rule for this share marks it as special "
		    "category data, so basis.art9 must name a condition other "
		    "than NONE, such as SAFEGUARDING or HEALTH_SOCIAL_CARE.");
	return HV_OK;
}

/* 1 when role is in a rule's role list ("*" matching any when allowed). */
static int
role_listed(const char (*list)[HV_ROLE_MAX + 1], size_t n, const char *role,
    int star)
{
	for (size_t i = 0; i < n; i++)
		if ((star && strcmp(list[i], "*") == 0) ||
		    strcmp(list[i], role) == 0)
			return 1;
	return 0;
}

hv_err
hv_policy_check_allowed(const hv_directory *dir, const char *sender,
    const char *recipient, const char *type, int *art9_required,
    struct hv_errdetail *d)
{
	char srole[HV_ROLE_MAX + 1], rrole[HV_ROLE_MAX + 1];
	int found = 0, art9 = 0;

	hv_node_role(sender, srole, sizeof(srole));
	hv_node_role(recipient, rrole, sizeof(rrole));
	for (size_t i = 0; i < hv_directory_rule_count(dir); i++) {
		const struct hv_rule *r = hv_directory_rule_at(dir, i);
		int typed = 0;

		for (size_t j = 0; j < r->n_types && !typed; j++)
			typed = strcmp(r->types[j], type) == 0;
		if (!typed ||
		    !role_listed(r->senders, r->n_senders, srole, 1) ||
		    !role_listed(r->recipients, r->n_recipients, rrole, 0))
			continue;
		found = 1;
		if (r->art9_required)
			art9 = 1;
	}
	if (!found)
		return hv_errset(d, HV_EPOLICY, "recipients",
		    "The agreement has no allow rule for %.64s (%s) to send "
		    "%.40s to %.64s (%s).",
		    sender, srole, type, recipient, rrole);
	if (art9_required != NULL)
		*art9_required = art9;
	return HV_OK;
}

/* The structural checks that come before anything touches the directory. */
static hv_err
check_shape(const hv_envelope *env, int decision, struct hv_errdetail *d)
{
	if (!hv_policy_type_valid(env->type))
		return hv_errset(d, HV_EMALFORMED, "type",
		    "type '%.40s' is not a message type of the partnership "
		    "(for example REFERRAL or INFO_REQUEST).",
		    env->type);
	/*
	 * A decision not to share is not sent anywhere, so it may leave the
	 * priority empty; a share must say how urgent it is.
	 */
	if (!(decision && env->priority[0] == '\0') &&
	    !hv_policy_priority_valid(env->priority))
		return hv_errset(d, HV_EMALFORMED, "priority",
		    "priority '%.16s' is not IMMEDIATE, URGENT or ROUTINE.",
		    env->priority);
	if (env->outcome[0] != '\0' && !decision)
		return hv_errset(d, HV_EMALFORMED, "outcome",
		    "outcome '%.16s' is not valid; the only outcome a message "
		    "may record is NOT_SHARED.",
		    env->outcome);
	if (decision && env->n_recipients != 0)
		return hv_errset(d, HV_EMALFORMED, "recipients",
		    "A decision not to share (outcome NOT_SHARED) must have "
		    "no recipients.");
	if (!decision && env->n_recipients == 0)
		return hv_errset(d, HV_EMALFORMED, "recipients",
		    "A message must have at least one recipient; record a "
		    "decision not to share with outcome NOT_SHARED instead.");
	if (env->n_recipients > HV_MAX_RECIPIENTS)
		return hv_errset(d, HV_EMALFORMED, "recipients",
		    "A message may have at most %d recipients.",
		    HV_MAX_RECIPIENTS);
	for (size_t i = 0; i < env->n_recipients; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(env->recipients[i], env->recipients[j]) == 0)
				return hv_errset(d, HV_EMALFORMED, "recipients",
				    "recipients names %.64s "
				    "twice.",
				    env->recipients[i]);
	return HV_OK;
}

/* SENDER_REVOKED unless the sender is a node of dir that is not revoked. */
static hv_err
check_sender(const hv_directory *dir, const hv_envelope *env,
    struct hv_errdetail *d)
{
	const struct hv_node *n = hv_directory_node(dir, env->sender);

	if (n == NULL)
		return hv_errset(d, HV_ESENDERREVOKED, "sender",
		    "The sender %.64s is not a node of the partnership's "
		    "directory.",
		    env->sender);
	if (n->revoked || !n->has_keys)
		return hv_errset(d, HV_ESENDERREVOKED, "sender",
		    "The sender %.64s has been revoked from the partnership.",
		    env->sender);
	return HV_OK;
}

/*
 * MALFORMED when an INFO_RESPONSE does not say which request it answers.
 * A decision not to send one is not a response: SPEC §4.5 gives a decision
 * no reply_to, so a decision not to share an INFO_RESPONSE is recorded.
 */
static hv_err
check_has_reply_to(const hv_envelope *env, struct hv_errdetail *d)
{
	if (strcmp(env->type, "INFO_RESPONSE") == 0 && !env->has_reply_to &&
	    strcmp(env->outcome, "NOT_SHARED") != 0)
		return hv_errset(d, HV_EMALFORMED, "reply_to",
		    "An INFO_RESPONSE must carry reply_to naming the "
		    "INFO_REQUEST it answers.");
	return HV_OK;
}

hv_err
hv_policy_check_envelope(const hv_directory *dir, const hv_envelope *env,
    struct hv_errdetail *d)
{
	const struct hv_node *n;
	int decision = strcmp(env->outcome, "NOT_SHARED") == 0;
	int art9 = 0;
	hv_err e;

	if ((e = check_shape(env, decision, d)) != HV_OK)
		return e;

	if ((e = check_sender(dir, env, d)) != HV_OK)
		return e;

	for (size_t i = 0; i < env->n_recipients; i++) {
		n = hv_directory_node(dir, env->recipients[i]);
		if (n == NULL)
			return hv_errset(d, HV_EUNKNOWNRECIPIENT, "recipients",
			    "The recipient %.64s is not a node of the "
			    "partnership's directory.",
			    env->recipients[i]);
		if (n->revoked || !n->has_keys)
			return hv_errset(d, HV_EREVOKEDRECIPIENT, "recipients",
			    "The recipient %.64s has been revoked from the "
			    "partnership.",
			    env->recipients[i]);
	}

	/* Recording a decision is always allowed (SPEC §4.5). */
	for (size_t i = 0; i < env->n_recipients; i++) {
		int need = 0;

		if ((e = hv_policy_check_allowed(dir, env->sender,
		         env->recipients[i], env->type, &need, d)) != HV_OK)
			return e;
		art9 |= need;
	}

	if ((e = hv_policy_check_basis(&env->basis, art9, d)) != HV_OK ||
	    (e = hv_justification_check(&env->basis, dir, d)) != HV_OK)
		return e;
	return check_has_reply_to(env, d);
}

hv_err
hv_policy_check_delivery(const hv_directory *dir, const hv_envelope *env,
    const char *me, struct hv_errdetail *d)
{
	int art9 = 0;
	hv_err e;

	/* A decision not to share is never delivered to anyone. */
	if ((e = check_shape(env, 0, d)) != HV_OK)
		return e;
	if (me == NULL || hv_envelope_recipient_index(env, me) < 0)
		return hv_errset(d, HV_ENOTRECIPIENT, "recipients",
		    "The envelope does not name %.64s as a recipient.",
		    me ? me : "this node");
	if ((e = check_sender(dir, env, d)) != HV_OK)
		return e;
	/*
	 * Only the rule for this node: another recipient's share is that
	 * recipient's to check, with its own directory.
	 */
	if ((e = hv_policy_check_allowed(dir, env->sender, me, env->type, &art9,
	         d)) != HV_OK ||
	    (e = hv_policy_check_basis(&env->basis, art9, d)) != HV_OK)
		return e;
	return check_has_reply_to(env, d);
}

hv_err
hv_policy_check_reply_to(const hv_envelope *env,
    const struct hv_policy_request *req, struct hv_errdetail *d)
{
	if (strcmp(env->type, "INFO_RESPONSE") != 0 || !env->has_reply_to)
		return HV_OK;
	if (req == NULL || !req->found || !req->to_responder)
		return hv_errset(d, HV_EPOLICY, "reply_to",
		    "An INFO_RESPONSE "
		    "must answer an INFO_REQUEST that was sent to %.64s; "
		    "reply_to names no such request.",
		    env->sender);
	if (req->type == NULL || strcmp(req->type, "INFO_REQUEST") != 0)
		return hv_errset(d, HV_EPOLICY, "reply_to",
		    "An INFO_RESPONSE "
		    "must answer an INFO_REQUEST; reply_to names a message of "
		    "another type.");
	return HV_OK;
}

hv_err
hv_policy_check_created(int64_t created, int64_t now, int64_t ahead_s,
    int64_t behind_s, const char *clock, struct hv_errdetail *d)
{
	int64_t skew = created - now;

	if (skew > ahead_s)
		return hv_errset(d, HV_ECLOCKSKEW, "created",
		    "The envelope "
		    "was created %lld s ahead of %s; at most %lld s is "
		    "allowed.",
		    (long long)skew, clock, (long long)ahead_s);
	if (skew < -behind_s)
		return hv_errset(d, HV_ECLOCKSKEW, "created",
		    "The envelope "
		    "was created %lld s behind %s; at most %lld s is "
		    "allowed.",
		    (long long)-skew, clock, (long long)behind_s);
	return HV_OK;
}

int64_t
hv_policy_rag_seconds(const char *rag)
{
	if (rag == NULL)
		return -1;
	if (strcmp(rag, "RED") == 0)
		return 4 * 3600;
	if (strcmp(rag, "AMBER") == 0)
		return 24 * 3600;
	if (strcmp(rag, "GREEN") == 0)
		return 72 * 3600;
	return -1;
}
