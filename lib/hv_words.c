/*
 * hv_words — the one list of plain words for SPEC §4's codes (hv_words.h).
 * tests/unit/test_words.c checks that every code hv_policy accepts has its
 * words here.
 */
#include <stdio.h>
#include <string.h>

#include "hv_words.h"

static const struct hv_word types[] = {
	{ "REFERRAL", "Referral", "referral" },
	{ "INFO_REQUEST", "Request for information", "information request" },
	{ "INFO_RESPONSE", "Answer to a request for information",
	    "information response" },
	{ "STRATEGY_DISCUSSION", "Strategy discussion", "strategy discussion" },
	{ "CP_CONFERENCE_INVITATION", "Child protection conference invitation",
	    "child protection conference invitation" },
	{ "CP_PLAN_START", "Child protection plan started",
	    "child protection plan start notice" },
	{ "CP_PLAN_END", "Child protection plan ended",
	    "child protection plan end notice" },
	{ "LOOKED_AFTER_START", "Became looked after", "looked after start" },
	{ "LOOKED_AFTER_END", "Stopped being looked after",
	    "looked after end" },
	{ "UNSCHEDULED_CARE_ATTENDANCE", "Unscheduled care attendance",
	    "unscheduled care attendance" },
	{ "DOMESTIC_ABUSE_NOTIFICATION", "Domestic abuse notification",
	    "domestic abuse notification" },
	{ "MISSING_CHILD_ALERT", "Missing child alert", "missing child alert" },
	{ "CASE_UPDATE", "Case update", "case update" },
	{ NULL, NULL, NULL },
};

static const struct hv_word priorities[] = {
	{ "IMMEDIATE", "Immediate", NULL },
	{ "URGENT", "Urgent", NULL },
	{ "ROUTINE", "Routine", NULL },
	{ NULL, NULL, NULL },
};

static const struct hv_word consents[] = {
	{ "OBTAINED", "Obtained", NULL },
	{ "NOT_SOUGHT", "Not sought", NULL },
	{ "REFUSED", "Refused", NULL },
	{ "NOT_POSSIBLE", "Not possible", NULL },
	{ NULL, NULL, NULL },
};

static const struct hv_word art6[] = {
	{ "PUBLIC_TASK", "Public task, 6(1)(e)", NULL },
	{ "LEGAL_OBLIGATION", "Legal obligation, 6(1)(c)", NULL },
	{ "VITAL_INTERESTS", "Vital interests, 6(1)(d)", NULL },
	{ "CONSENT", "Consent, 6(1)(a)", NULL },
	{ "LEGITIMATE_INTERESTS", "Legitimate interests, 6(1)(f)", NULL },
	{ NULL, NULL, NULL },
};

static const struct hv_word art9[] = {
	{ "NONE", "None: no health information", NULL },
	{ "SAFEGUARDING", "Safeguarding of children, DPA 2018 Sch. 1 para 18",
	    NULL },
	{ "HEALTH_SOCIAL_CARE", "Health or social care, 9(2)(h)", NULL },
	{ "EXPLICIT_CONSENT", "Explicit consent, 9(2)(a)", NULL },
	{ "VITAL_INTERESTS", "Vital interests, 9(2)(c)", NULL },
	{ "LEGAL_CLAIMS", "Legal claims, 9(2)(f)", NULL },
	{ NULL, NULL, NULL },
};

static const struct hv_word none[] = { { NULL, NULL, NULL } };

static const struct {
	const char *name;
	const struct hv_word *words;
} kinds[HV_WORDS_KINDS] = {
	[HV_WORDS_TYPE] = { "type", types },
	[HV_WORDS_PRIORITY] = { "priority", priorities },
	[HV_WORDS_CONSENT] = { "consent", consents },
	[HV_WORDS_ART6] = { "art6", art6 },
	[HV_WORDS_ART9] = { "art9", art9 },
};

const struct hv_word *
hv_words(enum hv_word_kind kind)
{
	return (unsigned)kind < HV_WORDS_KINDS ? kinds[kind].words : none;
}

const char *
hv_words_kind_name(enum hv_word_kind kind)
{
	return (unsigned)kind < HV_WORDS_KINDS ? kinds[kind].name : "";
}

static const struct hv_word *
find(enum hv_word_kind kind, const char *code)
{
	if (code == NULL)
		return NULL;
	for (const struct hv_word *w = hv_words(kind); w->code != NULL; w++)
		if (strcmp(w->code, code) == 0)
			return w;
	return NULL;
}

const char *
hv_words_label(enum hv_word_kind kind, const char *code)
{
	const struct hv_word *w = find(kind, code);

	return w != NULL ? w->label : NULL;
}

void
hv_words_type_noun(const char *type, int article, char *out, size_t cap)
{
	const struct hv_word *w = find(HV_WORDS_TYPE, type);
	const char *noun;
	size_t o = 0;

	if (cap == 0)
		return;
	if (type == NULL || type[0] == '\0') {
		snprintf(out, cap, article ? "a message" : "message");
		return;
	}
	noun = w != NULL ? w->noun : type;
	if (article)
		o = (size_t)snprintf(out, cap, "%s ",
		    strchr("aeiouAEIOU", noun[0]) != NULL ? "an" : "a");
	if (o >= cap)
		o = cap - 1;
	/* A code outside the list reads as words: "NEW_KIND" -> "new kind". */
	for (const char *p = noun; *p != '\0' && o + 1 < cap; p++)
		out[o++] = *p == '_'         ? ' ' :
		    (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') :
		                               *p;
	out[o] = '\0';
}
