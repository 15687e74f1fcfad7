/*
 * test_words — the one list of plain words for SPEC §4's codes.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "hv_policy.h"
#include "hv_words.h"

static void
every_code_has_words(enum hv_word_kind kind, const char *const *codes)
{
	size_t n = 0;

	for (size_t i = 0; codes[i] != NULL; i++) {
		const char *w = hv_words_label(kind, codes[i]);

		cr_assert_not_null(w, "%s %s has no words",
		    hv_words_kind_name(kind), codes[i]);
		cr_assert_gt(strlen(w), 0);
		cr_assert_neq(strcmp(w, codes[i]), 0, "%s is its own word", w);
		n++;
	}
	/* And nothing more: no words for a code the policy does not know. */
	for (const struct hv_word *w = hv_words(kind); w->code != NULL; w++)
		n--;
	cr_assert_eq(n, 0, "%s: the words and the policy's codes differ",
	    hv_words_kind_name(kind));
}

Test(words, has_words_for_exactly_the_codes_the_policy_accepts)
{
	every_code_has_words(HV_WORDS_TYPE, hv_message_types);
	every_code_has_words(HV_WORDS_PRIORITY, hv_priorities);
	every_code_has_words(HV_WORDS_CONSENT, hv_consents);
	every_code_has_words(HV_WORDS_ART6, hv_art6_bases);
	every_code_has_words(HV_WORDS_ART9, hv_art9_conditions);
	for (const struct hv_word *w = hv_words(HV_WORDS_TYPE); w->code; w++)
		cr_assert_not_null(w->noun, "%s has no noun", w->code);
}

Test(words, says_a_type_in_a_sentence_with_its_article)
{
	char out[80];

	hv_words_type_noun("INFO_REQUEST", 1, out, sizeof(out));
	cr_assert_str_eq(out, "an information request");
	hv_words_type_noun("CP_PLAN_START", 0, out, sizeof(out));
	cr_assert_str_eq(out, "child protection plan start notice");
	hv_words_type_noun("REFERRAL", 1, out, sizeof(out));
	cr_assert_str_eq(out, "a referral");
	hv_words_type_noun("UNSCHEDULED_CARE_ATTENDANCE", 1, out, sizeof(out));
	cr_assert_str_eq(out, "an unscheduled care attendance");
	hv_words_type_noun("NEW_KIND", 1, out, sizeof(out));
	cr_assert_str_eq(out, "a new kind");
	hv_words_type_noun("", 1, out, sizeof(out));
	cr_assert_str_eq(out, "a message");
	hv_words_type_noun("REFERRAL", 1, out, 4);
	cr_assert_str_eq(out, "a r");
}

Test(words, knows_nothing_of_a_code_or_a_kind_outside_its_lists)
{
	cr_assert_null(hv_words_label(HV_WORDS_CONSENT, "MAYBE"));
	cr_assert_null(hv_words_label(HV_WORDS_CONSENT, NULL));
	cr_assert_null(hv_words_label(HV_WORDS_KINDS, "REFERRAL"));
	cr_assert_null(hv_words(HV_WORDS_KINDS)->code);
	cr_assert_str_eq(hv_words_kind_name(HV_WORDS_ART6), "art6");
}
