/*
 * hv_words — the plain words people read for the codes of SPEC §4: message
 * types, priorities, consent, Article 6 bases and Article 9 conditions.
 *
 * The codes are what travels and what forms send (hv_policy's lists); the
 * words are what a duty worker or an IG officer reads. This is the one
 * list of them: `haven audit sar` reads it, and the agent serves it to the
 * duty-team console and to agency systems (GET /v1/words), so a code reads
 * the same on every page and in every report. Pure data; thread-safe.
 */
#ifndef HV_WORDS_H
#define HV_WORDS_H

#include <stddef.h>

enum hv_word_kind {
	HV_WORDS_TYPE,
	HV_WORDS_PRIORITY,
	HV_WORDS_CONSENT,
	HV_WORDS_ART6,
	HV_WORDS_ART9,
	HV_WORDS_KINDS
};

/*
 * One code's words: label, for a field or a heading ("Child protection
 * plan started", "Not sought"); noun, for a sentence, without its article
 * ("child protection plan start notice"; NULL except for message types).
 */
struct hv_word {
	const char *code;
	const char *label;
	const char *noun;
};

/* The words of kind, ending with an entry whose code is NULL. */
const struct hv_word *hv_words(enum hv_word_kind kind);

/* kind's name as the API gives it: "type", "priority", "consent", "art6",
 * "art9". */
const char *hv_words_kind_name(enum hv_word_kind kind);

/* The label of code, or NULL when code is not one of kind's. */
const char *hv_words_label(enum hv_word_kind kind, const char *code);

/*
 * A message type as a noun for a sentence, into out[cap]: "a referral",
 * "an information request" with article, "referral" without; a type not
 * in the list is spelt from its code in lower case; an empty type is
 * "a message".
 */
void hv_words_type_noun(const char *type, int article, char *out, size_t cap);

#endif
