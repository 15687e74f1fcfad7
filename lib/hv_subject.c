/*
 * hv_subject — normalising a child's identifier and turning it into the
 * pseudonym the broker sees (SPEC §4.3).
 *
 * Error sentences say what is wrong with an identifier (its length, a bad
 * character, the check digit) but never repeat the identifier itself, so
 * that they can be shown, returned over HTTP or logged without leaking an
 * NHS number or a case reference.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "hv_subject.h"

#define NHS_DIGITS 10
#define LOCAL_PART_MAX 64

int
hv_nhs_check_digit_ok(const char digits[10])
{
	int sum = 0, check;

	for (int i = 0; i < NHS_DIGITS; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return 0;
	for (int i = 0; i < 9; i++)
		sum += (digits[i] - '0') * (10 - i);
	check = 11 - sum % 11;
	if (check == 11)
		check = 0;
	/* A remainder giving 10 means no valid number has these nine digits. */
	return check != 10 && check == digits[9] - '0';
}

hv_err
hv_subject_nhs(const char *in, char *out, size_t cap, struct hv_errdetail *d)
{
	char digits[NHS_DIGITS];
	size_t n = 0;

	if (cap < sizeof("nhs:") + NHS_DIGITS)
		return HV_ESYS;
	if (in == NULL || *in == '\0')
		return hv_errset(d, HV_EBADSUBJECT, "subject.nhs",
		    "The NHS "
		    "number is empty; an NHS number has 10 digits.");
	for (const char *p = in; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' || c == '-')
			continue;
		if (c < '0' || c > '9') {
			if (c > ' ' && c < 0x7f)
				return hv_errset(d, HV_EBADSUBJECT,
				    "subject.nhs",
				    "The NHS number contains "
				    "'%c'; it may hold only digits, spaces and "
				    "dashes.",
				    c);
			return hv_errset(d, HV_EBADSUBJECT, "subject.nhs",
			    "The NHS number contains a character that is not "
			    "a digit, space or dash.");
		}
		if (n < NHS_DIGITS)
			digits[n] = (char)c;
		if (n < 1000)
			n++;
	}
	if (n != NHS_DIGITS)
		return hv_errset(d, HV_EBADSUBJECT, "subject.nhs",
		    "The NHS "
		    "number has %s%zu digit%s; an NHS number has 10.",
		    n >= 1000 ? "over " : "", n, n == 1 ? "" : "s");
	if (!hv_nhs_check_digit_ok(digits))
		return hv_errset(d, HV_EBADSUBJECT, "subject.nhs",
		    "The NHS "
		    "number fails the NHS check digit; check that it was "
		    "copied correctly.");
	snprintf(out, cap, "nhs:%.10s", digits);
	return HV_OK;
}

/* Removes surrounding spaces and tabs: [*s, *e) is what is left. */
static void
trim_span(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

hv_err
hv_subject_local(const char *agency, const char *id, char *out, size_t cap,
    struct hv_errdetail *d)
{
	char norm[sizeof("local:") + LOCAL_PART_MAX + 1 + LOCAL_PART_MAX];
	const char *as, *ae, *is, *ie;
	size_t an, in, len = 0;

	if (agency == NULL)
		return hv_errset(d, HV_EBADSUBJECT, "subject.local",
		    "The local "
		    "id names no agency; give it as AGENCY:ID.");
	if (strncmp(agency, "local:", 6) == 0)
		agency += 6;
	as = agency;
	if (id == NULL) {
		const char *colon = strchr(agency, ':');
		if (colon == NULL)
			return hv_errset(d, HV_EBADSUBJECT, "subject.local",
			    "The local id has no ':'; give it as AGENCY:ID, "
			    "for example police.avon:CR-12345.");
		ae = colon;
		is = colon + 1;
	} else {
		ae = agency + strlen(agency);
		is = id;
	}
	ie = is + strlen(is);
	trim_span(&as, &ae);
	trim_span(&is, &ie);
	an = (size_t)(ae - as);
	in = (size_t)(ie - is);

	if (an == 0 || an > LOCAL_PART_MAX)
		return hv_errset(d, HV_EBADSUBJECT, "subject.local",
		    "The local "
		    "id's agency must be 1 to %d characters long.",
		    LOCAL_PART_MAX);
	for (const char *p = as; p < ae; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return hv_errset(d, HV_EBADSUBJECT, "subject.local",
			    "The local id's agency may use only letters, "
			    "digits, dots and dashes.");
	}
	if (in == 0)
		return hv_errset(d, HV_EBADSUBJECT, "subject.local",
		    "The local "
		    "id is empty after the agency.");
	if (in > LOCAL_PART_MAX)
		return hv_errset(d, HV_EBADSUBJECT, "subject.local",
		    "The local "
		    "id is longer than %d characters.",
		    LOCAL_PART_MAX);
	for (const char *p = is; p < ie; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' || c == '\t')
			return hv_errset(d, HV_EBADSUBJECT, "subject.local",
			    "The local id contains a space.");
		if (c == ':')
			return hv_errset(d, HV_EBADSUBJECT, "subject.local",
			    "The local id contains ':', which separates the "
			    "agency from the id.");
		if (c <= ' ' || c >= 0x7f)
			return hv_errset(d, HV_EBADSUBJECT, "subject.local",
			    "The local id may use only printable ASCII "
			    "characters.");
	}

	/* Agencies are node ids or roles, which are lowercase; ids keep case. */
	memcpy(norm, "local:", 6);
	len = 6;
	for (const char *p = as; p < ae; p++) {
		char c = *p;
		norm[len++] =
		    (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	norm[len++] = ':';
	memcpy(norm + len, is, in);
	len += in;
	norm[len] = '\0';
	if (len + 1 > cap)
		return HV_ESYS;
	memcpy(out, norm, len + 1);
	return HV_OK;
}

void
hv_subject_key_id(const uint8_t key[32], uint8_t out[HV_SUBJECT_KEY_ID_LEN])
{
	static const char tag[] = "haven subject-key id";
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), key, 32, (const unsigned char *)tag,
	    sizeof(tag) - 1);
	memcpy(out, h, HV_SUBJECT_KEY_ID_LEN);
}

void
hv_subject_pseudonym(const uint8_t key[32], const char *normalised,
    uint8_t out[HV_PSEUDONYM_LEN])
{
	crypto_generichash(out, HV_PSEUDONYM_LEN,
	    (const unsigned char *)normalised, strlen(normalised), key, 32);
}
