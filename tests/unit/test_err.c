/*
 * Unit tests of hv_err: the table of wire names, sentences and CLI exit
 * codes (SPEC §8), and the error detail helpers.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "hv_err.h"

Test(err, gives_every_code_a_distinct_non_empty_wire_name)
{
	for (int i = 0; i < HV_ERR_COUNT; i++) {
		const char *a = hv_errname((hv_err)i);

		cr_assert_not_null(a);
		cr_assert_neq(a[0], '\0', "code %d has an empty name", i);
		for (const char *p = a; *p; p++)
			cr_assert((*p >= 'A' && *p <= 'Z') || *p == '_',
			    "name %s is not UPPER_SNAKE", a);
		for (int j = i + 1; j < HV_ERR_COUNT; j++)
			cr_assert_str_neq(a, hv_errname((hv_err)j),
			    "codes %d and %d share the name %s", i, j, a);
	}
}

Test(err, gives_every_code_a_sentence_ending_in_a_full_stop)
{
	for (int i = 0; i < HV_ERR_COUNT; i++) {
		const char *s = hv_strerror((hv_err)i);
		size_t n;

		cr_assert_not_null(s);
		n = strlen(s);
		cr_assert_gt(n, 1, "code %d has no sentence", i);
		cr_assert(s[0] >= 'A' && s[0] <= 'Z',
		    "sentence for %s does not start with a capital: %s",
		    hv_errname((hv_err)i), s);
		cr_assert_eq(s[n - 1], '.',
		    "sentence for %s does not end "
		    "in '.': %s",
		    hv_errname((hv_err)i), s);
	}
}

Test(err, round_trips_every_wire_name)
{
	for (int i = 0; i < HV_ERR_COUNT; i++)
		cr_assert_eq(hv_errfromname(hv_errname((hv_err)i)), (hv_err)i,
		    "%s does not parse back", hv_errname((hv_err)i));
}

Test(err, maps_an_unknown_or_null_name_to_internal)
{
	cr_assert_eq(hv_errfromname("NO_SUCH_CODE"), HV_ESYS);
	cr_assert_eq(hv_errfromname("policy_denied"), HV_ESYS);
	cr_assert_eq(hv_errfromname(""), HV_ESYS);
	cr_assert_eq(hv_errfromname(NULL), HV_ESYS);
}

Test(err, uses_the_spec_wire_names_of_the_submit_checks)
{
	cr_assert_str_eq(hv_errname(HV_OK), "OK");
	cr_assert_str_eq(hv_errname(HV_ESENDERMISMATCH), "SENDER_MISMATCH");
	cr_assert_str_eq(hv_errname(HV_EMALFORMED), "MALFORMED");
	cr_assert_str_eq(hv_errname(HV_EBADSIG), "BAD_SIGNATURE");
	cr_assert_str_eq(hv_errname(HV_ECLOCKSKEW), "CLOCK_SKEW");
	cr_assert_str_eq(hv_errname(HV_EREPLAY), "REPLAY");
	cr_assert_str_eq(hv_errname(HV_EUNKNOWNRECIPIENT), "UNKNOWN_RECIPIENT");
	cr_assert_str_eq(hv_errname(HV_EREVOKEDRECIPIENT), "REVOKED_RECIPIENT");
	cr_assert_str_eq(hv_errname(HV_EPOLICY), "POLICY_DENIED");
	cr_assert_str_eq(hv_errname(HV_EBASIS), "BASIS_INVALID");
	cr_assert_str_eq(hv_errname(HV_ETOOLARGE), "TOO_LARGE");
	cr_assert_str_eq(hv_errname(HV_ESTORAGEFULL), "STORAGE_FULL");
	cr_assert_str_eq(hv_errname(HV_EUNAUTHORIZED), "UNAUTHORIZED");
}

Test(err, names_an_out_of_range_code_internal_with_exit_code_three)
{
	cr_assert_str_eq(hv_errname(HV_ERR_COUNT), "INTERNAL");
	cr_assert_str_eq(hv_errname((hv_err)-1), "INTERNAL");
	cr_assert_str_eq(hv_strerror(HV_ERR_COUNT), hv_strerror(HV_ESYS));
	cr_assert_eq(hv_exit_code(HV_ERR_COUNT), 3);
	cr_assert_eq(hv_exit_code((hv_err)-1), 3);
}

/* SPEC §8: 0 success, 1 refused, 2 usage, 3 cannot reach / I/O. */
Test(err, gives_the_exit_codes_of_spec_section_8)
{
	static const hv_err refused[] = {
		HV_ESENDERMISMATCH,
		HV_EMALFORMED,
		HV_EBADSIG,
		HV_ECLOCKSKEW,
		HV_EREPLAY,
		HV_EUNKNOWNRECIPIENT,
		HV_EREVOKEDRECIPIENT,
		HV_EPOLICY,
		HV_EBASIS,
		HV_ETOOLARGE,
		HV_ESTORAGEFULL,
		HV_ESENDERREVOKED,
		HV_EUNAUTHORIZED,
		HV_EBADSUBJECT,
		HV_ENOTFOUND,
		HV_ENOTRECIPIENT,
		HV_EDECRYPT,
		HV_EEXISTS,
		HV_EINSECURE,
		HV_EPASSPHRASE,
		HV_EROLLBACK,
		HV_EBADDIRECTORY,
		HV_EBADAGREEMENT,
		HV_ETAMPERED,
		HV_EEXPIRED,
		HV_EINUSE,
		HV_EFORMAT,
		HV_EPROTOCOL,
		HV_EDUPSESSION,
	};
	static const hv_err usage[] = {
		HV_EUSAGE,
		HV_EBADREQUEST,
		HV_EBADCONFIG,
	};
	static const hv_err unreachable[] = {
		HV_EUNREACHABLE,
		HV_EIO,
		HV_ENOMEM,
		HV_ESYS,
	};
	size_t counted = 1;

	cr_assert_eq(hv_exit_code(HV_OK), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert_eq(hv_exit_code(refused[i]), 1, "%s should exit 1",
		    hv_errname(refused[i]));
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++)
		cr_assert_eq(hv_exit_code(usage[i]), 2, "%s should exit 2",
		    hv_errname(usage[i]));
	for (size_t i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]);
	     i++)
		cr_assert_eq(hv_exit_code(unreachable[i]), 3,
		    "%s should "
		    "exit 3",
		    hv_errname(unreachable[i]));
	counted += sizeof(refused) / sizeof(refused[0]) +
	    sizeof(usage) / sizeof(usage[0]) +
	    sizeof(unreachable) / sizeof(unreachable[0]);
	/* A code added to the enum must be placed in one of the lists. */
	cr_assert_eq(counted, (size_t)HV_ERR_COUNT,
	    "%zu codes classified, %d exist", counted, HV_ERR_COUNT);
}

Test(err, only_success_exits_zero)
{
	for (int i = 1; i < HV_ERR_COUNT; i++) {
		int c = hv_exit_code((hv_err)i);

		cr_assert(c >= 1 && c <= 3, "%s exits %d",
		    hv_errname((hv_err)i), c);
	}
}

Test(err, errset_fills_the_detail_and_returns_the_code)
{
	struct hv_errdetail d;

	memset(&d, 'x', sizeof(d));
	cr_assert_eq(hv_errset(&d, HV_EBASIS, "basis.art6",
	                 "'%s' is not an Article %d basis.", "vibes", 6),
	    HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.art6");
	cr_assert_str_eq(d.message, "'vibes' is not an Article 6 basis.");
	cr_assert_str_eq(hv_errmsg(HV_EBASIS, &d),
	    "'vibes' is not an Article 6 basis.");
}

Test(err, errset_accepts_a_null_detail_and_a_null_field)
{
	struct hv_errdetail d;

	cr_assert_eq(hv_errset(NULL, HV_EPOLICY, "to", "denied %d", 1),
	    HV_EPOLICY);
	memset(&d, 'x', sizeof(d));
	cr_assert_eq(hv_errset(&d, HV_EIO, NULL, "disk gone."), HV_EIO);
	cr_assert_str_eq(d.field, "");
	cr_assert_str_eq(d.message, "disk gone.");
}

Test(err, errset_truncates_a_long_field_and_message_safely)
{
	struct hv_errdetail d;
	char big[1024];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	hv_errset(&d, HV_EMALFORMED, big, "%s", big);
	cr_assert_eq(strlen(d.field), sizeof(d.field) - 1);
	cr_assert_eq(strlen(d.message), sizeof(d.message) - 1);
}

Test(err, errmsg_falls_back_to_the_sentence_when_no_detail_is_set)
{
	struct hv_errdetail d;

	cr_assert_str_eq(hv_errmsg(HV_EPOLICY, NULL), hv_strerror(HV_EPOLICY));
	hv_errset(&d, HV_EPOLICY, "to", "a sentence.");
	hv_errclear(&d);
	cr_assert_str_eq(d.field, "");
	cr_assert_str_eq(d.message, "");
	cr_assert_str_eq(hv_errmsg(HV_EPOLICY, &d), hv_strerror(HV_EPOLICY));
	hv_errclear(NULL);
}
