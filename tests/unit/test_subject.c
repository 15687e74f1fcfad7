/*
 * Unit tests of hv_subject: NHS number checks, local ids and pseudonyms.
 */
#include <criterion/criterion.h>

#include <string.h>

#include <sodium.h>

#include "hv_subject.h"
#include "hv_util.h"

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(subject, .init = setup);

static uint8_t key_a[32], key_b[32];

static void
keys_init(void)
{
	for (int i = 0; i < 32; i++) {
		key_a[i] = (uint8_t)i;
		key_b[i] = (uint8_t)(i + 1);
	}
}

/* The pseudonym of an NHS number under key, as lowercase hex. */
static void
nhs_pseudonym_hex(const uint8_t key[32], const char *nhs, char hex[65])
{
	char norm[HV_SUBJECT_MAX];
	uint8_t ps[HV_PSEUDONYM_LEN];
	struct hv_errdetail d = { 0 };

	cr_assert_eq(hv_subject_nhs(nhs, norm, sizeof(norm), &d), HV_OK, "%s",
	    d.message);
	hv_subject_pseudonym(key, norm, ps);
	hv_hex(ps, sizeof(ps), hex);
}

/* Runs hv_subject_nhs on a bad number; returns the detail message. */
static void
expect_bad_nhs(const char *nhs, const char *why)
{
	struct hv_errdetail d = { 0 };
	char norm[HV_SUBJECT_MAX] = "untouched";

	cr_assert_eq(hv_subject_nhs(nhs, norm, sizeof(norm), &d),
	    HV_EBADSUBJECT, "'%s' was accepted", nhs);
	cr_assert_str_eq(norm, "untouched");
	cr_assert_str_eq(d.field, "subject.nhs");
	cr_assert_not_null(strstr(d.message, why), "'%s': %s", nhs, d.message);
}

Test(subject, accepts_known_valid_nhs_numbers)
{
	static const char *valid[] = {
		"9434765919",
		"4010232137",
		"9990000018",
		"4505577104",
		"9876543210",
		"1234567881",
		"9449306184",
		"9449310114",
	};
	char norm[HV_SUBJECT_MAX], want[HV_SUBJECT_MAX];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		cr_assert(hv_nhs_check_digit_ok(valid[i]), "%s", valid[i]);
		cr_assert_eq(hv_subject_nhs(valid[i], norm, sizeof(norm), NULL),
		    HV_OK, "%s", valid[i]);
		snprintf(want, sizeof(want), "nhs:%s", valid[i]);
		cr_assert_str_eq(norm, want);
	}
}

Test(subject, spaces_and_dashes_are_removed)
{
	char norm[HV_SUBJECT_MAX];

	cr_assert_eq(hv_subject_nhs("943 476 5919", norm, sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "nhs:9434765919");
	cr_assert_eq(hv_subject_nhs("943-476-5919", norm, sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "nhs:9434765919");
}

Test(subject, refuses_a_wrong_check_digit)
{
	cr_assert_not(hv_nhs_check_digit_ok("9434765918"));
	expect_bad_nhs("9434765918", "fails the NHS check digit");
	expect_bad_nhs("4010232138", "fails the NHS check digit");
}

Test(subject, refuses_nine_digits_whose_check_would_be_ten)
{
	/* 100000001 gives a check value of 10: no number starts so. */
	for (char c = '0'; c <= '9'; c++) {
		char n[11] = "100000001";
		n[9] = c;
		n[10] = '\0';
		cr_assert_not(hv_nhs_check_digit_ok(n), "%s", n);
	}
	expect_bad_nhs("1000000010", "fails the NHS check digit");
}

Test(subject, refuses_the_wrong_number_of_digits)
{
	expect_bad_nhs("943476591", "has 9 digits; an NHS number has 10");
	expect_bad_nhs("94347659190", "has 11 digits; an NHS number has 10");
	expect_bad_nhs("   ", "has 0 digits");
	expect_bad_nhs("", "is empty");
	expect_bad_nhs(NULL, "is empty");
}

Test(subject, refuses_letters_and_other_characters)
{
	expect_bad_nhs("94347x5919", "contains 'x'");
	expect_bad_nhs("943.476.5919", "contains '.'");
	expect_bad_nhs("943\t476\t5919", "not a digit, space or dash");
}

Test(subject, error_sentences_never_repeat_the_number)
{
	struct hv_errdetail d = { 0 };
	char norm[HV_SUBJECT_MAX];

	cr_assert_eq(hv_subject_nhs("943 476 5918", norm, sizeof(norm), &d),
	    HV_EBADSUBJECT);
	cr_assert_null(strstr(d.message, "943"), "%s", d.message);
	cr_assert_eq(hv_subject_local("police.avon", "CR 99", norm,
	                 sizeof(norm), &d),
	    HV_EBADSUBJECT);
	cr_assert_null(strstr(d.message, "CR"), "%s", d.message);
}

Test(subject, every_spelling_of_a_number_gives_the_same_pseudonym)
{
	char a[65], b[65], c[65];

	keys_init();
	nhs_pseudonym_hex(key_a, "943 476 5919", a);
	nhs_pseudonym_hex(key_a, "943-476-5919", b);
	nhs_pseudonym_hex(key_a, "9434765919", c);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(a, c);
}

Test(subject, pseudonym_is_keyed_blake2b_256_of_the_normalised_id)
{
	char hex[65];

	/* Computed independently with Python's hashlib.blake2b. */
	keys_init();
	nhs_pseudonym_hex(key_a, "9434765919", hex);
	cr_assert_str_eq(hex,
	    "03854ce5e574c8890566a0cd7b106727da35e61f9b0928c2"
	    "3faa1dc74d213f61");
}

Test(subject, different_keys_give_different_pseudonyms)
{
	char a[65], b[65];

	keys_init();
	nhs_pseudonym_hex(key_a, "9434765919", a);
	nhs_pseudonym_hex(key_b, "9434765919", b);
	cr_assert_str_neq(a, b);
}

Test(subject, different_children_give_different_pseudonyms)
{
	char a[65], b[65];

	keys_init();
	nhs_pseudonym_hex(key_a, "9434765919", a);
	nhs_pseudonym_hex(key_a, "4010232137", b);
	cr_assert_str_neq(a, b);
}

Test(subject, local_ids_are_normalised)
{
	char norm[HV_SUBJECT_MAX];
	uint8_t ps[HV_PSEUDONYM_LEN];
	char hex[65];

	cr_assert_eq(hv_subject_local("police.avon", "CR-123", norm,
	                 sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "local:police.avon:CR-123");
	cr_assert_eq(hv_subject_local(" Police.Avon : CR-123 ", NULL, norm,
	                 sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "local:police.avon:CR-123");
	cr_assert_eq(hv_subject_local("local:police.avon:CR-123", NULL, norm,
	                 sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "local:police.avon:CR-123");
	cr_assert_eq(hv_subject_local("education", "pupil/42", norm,
	                 sizeof(norm), NULL),
	    HV_OK);
	cr_assert_str_eq(norm, "local:education:pupil/42");

	keys_init();
	hv_subject_pseudonym(key_a, "local:police.avon:CR-123", ps);
	hv_hex(ps, sizeof(ps), hex);
	cr_assert_str_eq(hex,
	    "04097ef82e2a00ec4c5d06dfa70fef3838bf1a3167d00bbe"
	    "1e91191bb38b9471");
}

Test(subject, local_ids_keep_the_case_of_the_id)
{
	char a[HV_SUBJECT_MAX], b[HV_SUBJECT_MAX];

	cr_assert_eq(hv_subject_local("police.avon", "cr-123", a, sizeof(a),
	                 NULL),
	    HV_OK);
	cr_assert_eq(hv_subject_local("police.avon", "CR-123", b, sizeof(b),
	                 NULL),
	    HV_OK);
	cr_assert_str_neq(a, b);
}

Test(subject, refuses_bad_local_ids)
{
	struct hv_errdetail d = { 0 };
	char norm[HV_SUBJECT_MAX] = "untouched", long_id[80];
	static const struct {
		const char *agency, *id, *why;
	} bad[] = {
		{ "police.avon", "", "empty" },
		{ "police.avon", "CR 123", "space" },
		{ "police.avon", "CR:123", "':'" },
		{ "police.avon", "CR\x01", "printable" },
		{ "police avon", "CR-1", "letters, digits, dots and dashes" },
		{ "", "CR-1", "1 to 64" },
		{ "police.avon", NULL, "no ':'" },
		{ NULL, "CR-1", "no agency" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(hv_subject_local(bad[i].agency, bad[i].id, norm,
		                 sizeof(norm), &d),
		    HV_EBADSUBJECT, "case %zu", i);
		cr_assert_str_eq(d.field, "subject.local");
		cr_assert_not_null(strstr(d.message, bad[i].why),
		    "case %zu: %s", i, d.message);
	}
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	cr_assert_eq(hv_subject_local("police.avon", long_id, norm,
	                 sizeof(norm), &d),
	    HV_EBADSUBJECT);
	cr_assert_str_eq(norm, "untouched");
	long_id[64] = '\0';
	cr_assert_eq(hv_subject_local("police.avon", long_id, norm,
	                 sizeof(norm), &d),
	    HV_OK);
}

/*
 * The subject-key id is the first 8 bytes of BLAKE2b keyed with "haven
 * subject-key id" over the key: the same for the same key, different for
 * another, and not the start of any pseudonym made with the key.
 */
Test(subject, a_subject_key_id_names_its_key_and_only_its_key)
{
	static const char tag[] = "haven subject-key id";
	uint8_t k1[32], k2[32], a[8], b[8], c[8], want[16], ps[32];

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x11, sizeof(k2));
	k2[31] ^= 1;
	hv_subject_key_id(k1, a);
	hv_subject_key_id(k1, b);
	hv_subject_key_id(k2, c);
	cr_assert_eq(memcmp(a, b, 8), 0);
	cr_assert_neq(memcmp(a, c, 8), 0);
	crypto_generichash(want, sizeof(want), k1, 32,
	    (const unsigned char *)tag, strlen(tag));
	cr_assert_eq(memcmp(a, want, 8), 0);
	hv_subject_pseudonym(k1, "nhs:9434765919", ps);
	cr_assert_neq(memcmp(a, ps, 8), 0);
}
