/*
 * Unit tests of hv_httphead: finding the end of a request head, finding a
 * field by name (NULs and all) and the shape rules the agent's API applies
 * before libmicrohttpd sees a request.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "hv_httphead.h"

#define HEAD(s) (s), (sizeof(s) - 1)

static hv_err
check(const char *h, size_t n, unsigned *status)
{
	struct hv_errdetail d;

	hv_errclear(&d);
	return hv_httphead_check(h, n, status, &d);
}

Test(httphead, finds_the_end_only_once_the_blank_line_arrived)
{
	cr_assert_eq(hv_httphead_end(HEAD("GET / HTTP/1.1\r\nHost: x\r\n")), 0);
	cr_assert_eq(hv_httphead_end(HEAD("GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	                                  "{}")),
	    27);
	cr_assert_eq(hv_httphead_end(HEAD("GET / HTTP/1.1\nHost: x\n\n")), 24);
}

Test(httphead, reads_a_value_whole_including_a_nul_and_what_follows)
{
	static const char h[] = "GET / HTTP/1.1\r\nauthorization:  Bearer "
	                        "T\0junk \r\n\r\n";
	const char *v = NULL;
	size_t n = 0;

	cr_assert_eq(hv_httphead_field(h, sizeof(h) - 1, "Authorization", &v,
	                 &n),
	    1);
	cr_assert_eq(n, 13);
	cr_assert_eq(memcmp(v, "Bearer T\0junk", 13), 0);
}

Test(httphead, says_a_field_given_twice_is_ambiguous)
{
	const char *v = NULL;
	size_t n = 0;

	cr_assert_eq(hv_httphead_field(HEAD("GET / HTTP/1.1\r\nA: 1\r\n"
	                                    "a: 1\r\n\r\n"),
	                 "A", &v, &n),
	    -1);
	cr_assert_eq(hv_httphead_field(HEAD("GET / HTTP/1.1\r\nB: 1\r\n\r\n"),
	                 "A", &v, &n),
	    0);
}

Test(httphead, takes_a_plain_request)
{
	unsigned st = 0;

	cr_assert_eq(
	    check(HEAD("POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	               "Content-Length: 12\r\nAuthorization: Bearer t\r\n\r\n"),
	        &st),
	    HV_OK);
}

Test(httphead, refuses_a_negative_content_length_because_it_is_not_digits)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nContent-Length: -5\r\n"
	                        "\r\n"),
	                 &st),
	    HV_EBADREQUEST);
	cr_assert_eq(st, 400);
	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nContent-Length: 1 2\r\n"
	                        "\r\n"),
	                 &st),
	    HV_EBADREQUEST);
}

Test(httphead, refuses_content_length_given_twice_even_when_equal)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nContent-Length: 2\r\n"
	                        "content-length: 3\r\n\r\n"),
	                 &st),
	    HV_EBADREQUEST);
	cr_assert_eq(st, 400);
	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nContent-Length: 2\r\n"
	                        "Content-Length: 2\r\n\r\n"),
	                 &st),
	    HV_EBADREQUEST);
}

Test(httphead, refuses_a_content_length_beyond_any_body_as_too_large)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nContent-Length: "
	                        "99999999999999999999999\r\n\r\n"),
	                 &st),
	    HV_ETOOLARGE);
	cr_assert_eq(st, 413);
}

Test(httphead, refuses_transfer_encoding_because_bodies_carry_a_length)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("POST / HTTP/1.1\r\nTransfer-Encoding: "
	                        "chunked\r\n\r\n"),
	                 &st),
	    HV_EBADREQUEST);
	cr_assert_eq(st, 411);
}

Test(httphead, refuses_bad_request_lines_and_other_http_versions)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("GARBAGE\r\n\r\n"), &st), HV_EBADREQUEST);
	cr_assert_eq(st, 400);
	cr_assert_eq(check(HEAD("GET /a b HTTP/1.1\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(check(HEAD("GET / HTTP/9.9\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(st, 505);
}

Test(httphead, refuses_folded_nameless_and_control_character_lines)
{
	unsigned st = 0;

	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nA b: 1\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(check(HEAD("GET / HTTP/1.1\r\nA: 1\0002\r\n\r\n"), &st),
	    HV_EBADREQUEST);
	cr_assert_eq(st, 400);
}
