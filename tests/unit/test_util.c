/*
 * Unit tests of hv_util: hex, times given on a command line, UTF-8
 * validation and whole-file helpers. File tests work in their own mkdtemp
 * folder.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv_util.h"
#include "fixture.h"

static char tmp[64];

static void
setup(void)
{
	fixture_tmpdir(tmp, sizeof(tmp), "util");
}

static void
teardown(void)
{
	fixture_rmtree(tmp);
}

TestSuite(files, .init = setup, .fini = teardown);

/* ---- hex ---------------------------------------------------------------- */

Test(hex, writes_lowercase_digits_and_a_nul)
{
	static const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(in) + 2];

	memset(out, 'z', sizeof(out));
	hv_hex(in, sizeof(in), out);
	cr_assert_str_eq(out, "00017f80abff");
	hv_hex(in, 0, out);
	cr_assert_str_eq(out, "");
}

Test(hex, round_trips_every_byte_value)
{
	uint8_t in[256], back[256];
	char text[513];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	hv_hex(in, sizeof(in), text);
	cr_assert_eq(strlen(text), 512);
	memset(back, 0, sizeof(back));
	cr_assert_eq(hv_unhex(text, back, sizeof(back)), 0);
	cr_assert_arr_eq(in, back, sizeof(in));
}

Test(hex, reads_either_case)
{
	uint8_t out[4];

	cr_assert_eq(hv_unhex("DeadBEEF", out, sizeof(out)), 0);
	cr_assert_eq(out[0], 0xde);
	cr_assert_eq(out[1], 0xad);
	cr_assert_eq(out[2], 0xbe);
	cr_assert_eq(out[3], 0xef);
}

Test(hex, refuses_an_odd_or_wrong_length)
{
	uint8_t out[4];

	cr_assert_eq(hv_unhex("deadbee", out, 4), -1);
	cr_assert_eq(hv_unhex("deadbeef0", out, 4), -1);
	cr_assert_eq(hv_unhex("deadbeef00", out, 4), -1);
	cr_assert_eq(hv_unhex("dead", out, 4), -1);
	cr_assert_eq(hv_unhex("", out, 4), -1);
	cr_assert_eq(hv_unhex("abc", out, 1), -1);
}

Test(hex, refuses_a_bad_digit_anywhere)
{
	static const char *bad[] = {
		"g0000000",
		"0000000g",
		"dead bee",
		"0x000000",
		"deadbe-f",
		"DEADBEEG",
		"deadbe\xc3\xa9",
	};
	uint8_t out[4];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(hv_unhex(bad[i], out, 4), -1, "'%s' accepted",
		    bad[i]);
}

/* ---- time --------------------------------------------------------------- */

static int64_t
parse_ok(const char *s)
{
	int64_t ms = -42;

	cr_assert_eq(hv_time_parse(s, &ms), 0, "'%s' refused", s);
	return ms;
}

Test(time, parses_a_date_as_its_midnight_utc)
{
	cr_assert_eq(parse_ok("2026-11-22"), 1795305600000LL);
	cr_assert_eq(parse_ok("2024-02-29"), 1709164800000LL);
	cr_assert_eq(parse_ok("1970-01-01"), 0);
}

Test(time, parses_hours_and_minutes)
{
	cr_assert_eq(parse_ok("2026-11-22T09:14"), 1795338840000LL);
	cr_assert_eq(parse_ok("2026-11-22T09:14Z"), 1795338840000LL);
}

Test(time, parses_seconds_with_and_without_z)
{
	cr_assert_eq(parse_ok("2026-11-22T09:14:03Z"), 1795338843000LL);
	cr_assert_eq(parse_ok("2026-11-22T09:14:03"), 1795338843000LL);
	cr_assert_eq(parse_ok("2026-11-22T23:59:59Z"),
	    1795305600000LL + 86399000LL);
}

Test(time, parses_unix_seconds)
{
	cr_assert_eq(parse_ok("1795338843"), 1795338843000LL);
	cr_assert_eq(parse_ok("0"), 0);
	cr_assert_eq(parse_ok("86400"), 86400000LL);
}

Test(time, writes_nothing_when_it_refuses)
{
	int64_t ms = 7;

	cr_assert_eq(hv_time_parse("tomorrow", &ms), -1);
	cr_assert_eq(ms, 7);
}

Test(time, refuses_what_is_not_a_time)
{
	static const char *bad[] = {
		"",
		"tomorrow",
		"2026-11",
		"2026-11-22T",
		"2026-11-22T09",
		"2026-11-22X09:14",
		"2026-11-22T09:14:03ZZ",
		"2026-11-22T09:14:03+01:00",
		"2026-11-22T09:14:03.5Z",
		"2026-11-22 extra",
		"2026/11/22",
		"22-11-2026",
		"-1",
		"-86400",
		"12abc",
		"1795338843s",
		"1.5",
		"2026-13-01",
		"2026-00-10",
		"2026-11-32",
		"2026-11-00",
		"2026-11-22T24:00",
		"2026-11-22T09:60",
	};
	int64_t ms;

	cr_assert_eq(hv_time_parse(NULL, &ms), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(hv_time_parse(bad[i], &ms), -1,
		    "'%s' accepted "
		    "as %lld",
		    bad[i], (long long)ms);
}

/* A day that does not exist must not roll over into the next month. */
Test(time, refuses_a_day_past_the_end_of_its_month)
{
	static const char *bad[] = {
		"2026-02-29",
		"2026-02-30",
		"2026-04-31",
		"2025-02-29",
		"2026-11-31T09:14",
		"2026-06-31T00:00:00Z",
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(hv_time_parse(bad[i], &ms), -1,
		    "'%s' accepted "
		    "as %lld",
		    bad[i], (long long)ms);
}

/* Seconds so large that milliseconds overflow int64 must be refused. */
Test(time, refuses_unix_seconds_that_overflow_milliseconds)
{
	int64_t ms;

	cr_assert_eq(hv_time_parse("9223372036854775807", &ms), -1);
	cr_assert_eq(hv_time_parse("9223372036854776", &ms), -1);
	cr_assert_eq(hv_time_parse("99999999999999999999", &ms), -1);
	cr_assert_eq(parse_ok("9223372036854775"), 9223372036854775000LL);
}

Test(time, writes_iso_8601_utc)
{
	char buf[32];

	hv_time_iso(1795338843000LL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-22T09:14:03Z");
	hv_time_iso(1795338843999LL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-22T09:14:03Z");
	hv_time_iso(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	hv_time_iso(1709164800000LL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2024-02-29T00:00:00Z");
}

Test(time, parses_what_it_writes)
{
	static const int64_t when[] = {
		0,
		1000,
		1709164800000LL,
		1795338843000LL,
		4102444799000LL,
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(when) / sizeof(when[0]); i++) {
		hv_time_iso(when[i], buf, sizeof(buf));
		cr_assert_eq(parse_ok(buf), when[i], "%s", buf);
	}
}

Test(time, reads_clocks_that_agree_and_move_forward)
{
	int64_t wall = hv_now_ms(), m1 = hv_mono_ms(), m2;
	int64_t t = (int64_t)time(NULL);

	cr_assert(wall / 1000 >= t - 2 && wall / 1000 <= t + 2);
	cr_assert(hv_now() >= t - 2 && hv_now() <= t + 2);
	m2 = hv_mono_ms();
	cr_assert_geq(m2, m1);
}

/* ---- UTF-8 -------------------------------------------------------------- */

static int
utf8(const char *s, size_t n)
{
	return hv_utf8_valid(s, n);
}

#define OK(lit) cr_assert_eq(utf8(lit, sizeof(lit) - 1), 1, "refused: %s", #lit)
#define BAD(lit) \
	cr_assert_eq(utf8(lit, sizeof(lit) - 1), 0, "accepted: %s", #lit)

Test(utf8, accepts_ascii_and_the_empty_string)
{
	OK("");
	OK("Child seen at A&E; referred to social care.");
	OK("\x01\x7f\t\n");
}

Test(utf8, accepts_two_three_and_four_byte_sequences)
{
	OK("caf\xc3\xa9"); /* U+00E9 */
	OK("\xc2\x80"); /* U+0080, the first of 2 bytes */
	OK("\xdf\xbf"); /* U+07FF, the last of 2 bytes */
	OK("\xe2\x82\xac 5"); /* U+20AC */
	OK("\xe0\xa0\x80"); /* U+0800 */
	OK("\xed\x9f\xbf"); /* U+D7FF, before the surrogates */
	OK("\xee\x80\x80"); /* U+E000, after them */
	OK("\xef\xbf\xbf"); /* U+FFFF */
	OK("\xf0\x9f\x98\x80"); /* U+1F600 */
	OK("\xf0\x90\x80\x80"); /* U+10000 */
	OK("\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last */
	OK("Ma\xc3\xaf"
	   "a \xe2\x80\x94 \xf0\x9f\x8f\xab ok");
}

Test(utf8, refuses_overlong_encodings)
{
	BAD("\xc0\x80"); /* NUL in two bytes */
	BAD("\xc0\xaf"); /* '/' in two bytes */
	BAD("\xc1\xbf");
	BAD("\xe0\x80\x80");
	BAD("\xe0\x9f\xbf"); /* U+07FF in three bytes */
	BAD("\xf0\x80\x80\x80");
	BAD("\xf0\x8f\xbf\xbf"); /* U+FFFF in four bytes */
}

Test(utf8, refuses_surrogates)
{
	BAD("\xed\xa0\x80"); /* U+D800 */
	BAD("\xed\xaf\xbf"); /* U+DBFF */
	BAD("\xed\xb0\x80"); /* U+DC00 */
	BAD("\xed\xbf\xbf"); /* U+DFFF */
	BAD("\xed\xa0\xbd\xed\xb8\x80"); /* a CESU-8 pair */
}

Test(utf8, refuses_code_points_past_u10ffff)
{
	BAD("\xf4\x90\x80\x80"); /* U+110000 */
	BAD("\xf5\x80\x80\x80");
	BAD("\xf7\xbf\xbf\xbf");
	BAD("\xf8\x88\x80\x80\x80"); /* five bytes */
	BAD("\xfc\x84\x80\x80\x80\x80"); /* six bytes */
	BAD("\xfe");
	BAD("\xff");
}

Test(utf8, refuses_truncated_sequences)
{
	BAD("\xc3");
	BAD("\xe2\x82");
	BAD("\xf0\x9f\x98");
	BAD("a\xc3");
	BAD("\xe2\x82"
	    "A");
	BAD("\xf0\x9f\x98"
	    "A");
	BAD("\xc3\xc3\xa9");
	/* A valid sequence cut short by the length given. */
	cr_assert_eq(utf8("caf\xc3\xa9", 4), 0);
	cr_assert_eq(utf8("\xf0\x9f\x98\x80", 3), 0);
	cr_assert_eq(utf8("\xf0\x9f\x98\x80", 4), 1);
}

Test(utf8, refuses_stray_continuation_bytes)
{
	BAD("\x80");
	BAD("\xbf");
	BAD("a\x80z");
	BAD("caf\xc3\xa9\xa9");
	BAD("\xe2\x82\xac\x82");
}

Test(utf8, refuses_a_nul_byte)
{
	BAD("\0");
	BAD("abc\0def");
	BAD("caf\xc3\xa9\0");
}

/* ---- strings ------------------------------------------------------------ */

Test(strings, copies_what_fits_and_leaves_dst_alone_otherwise)
{
	char dst[6];

	cr_assert_eq(hv_strlcpy_checked(dst, "avon", sizeof(dst)), 0);
	cr_assert_str_eq(dst, "avon");
	cr_assert_eq(hv_strlcpy_checked(dst, "bath!", sizeof(dst)), 0);
	cr_assert_str_eq(dst, "bath!");
	cr_assert_eq(hv_strlcpy_checked(dst, "bristol", sizeof(dst)), -1);
	cr_assert_eq(hv_strlcpy_checked(dst, "devon!", sizeof(dst)), -1);
	cr_assert_str_eq(dst, "bath!");
}

/* ---- files -------------------------------------------------------------- */

static char *
at(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmp, name);
	return buf;
}

static int
count_entries(void)
{
	char cmd[128];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", tmp);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

Test(files, round_trips_bytes_with_nuls)
{
	static const uint8_t data[] = { 'k', 0, 1, 2, 0xff, 0, 'z' };
	char path[128];
	uint8_t *buf = NULL;
	size_t len = 0;

	at(path, sizeof(path), "blob");
	cr_assert_eq(hv_write_file_atomic(path, data, sizeof(data), 0600), 0);
	cr_assert_eq(hv_read_file(path, 1024, &buf, &len), 0);
	cr_assert_eq(len, sizeof(data));
	cr_assert_arr_eq(buf, data, sizeof(data));
	cr_assert_eq(buf[len], 0, "the buffer is NUL-terminated");
	free(buf);
	cr_assert_eq(count_entries(), 1, "a temporary file was left behind");
}

Test(files, creates_the_file_with_the_mode_given)
{
	char path[128];
	struct stat st;

	at(path, sizeof(path), "secret");
	cr_assert_eq(hv_write_file_atomic(path, "s", 1, 0600), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(files, replaces_an_existing_file_whole)
{
	char path[128];
	uint8_t *buf = NULL;
	size_t len = 0;

	at(path, sizeof(path), "ready.json");
	cr_assert_eq(hv_write_file_atomic(path, "a much longer first text", 24,
	                 0644),
	    0);
	cr_assert_eq(hv_write_file_atomic(path, "short", 5, 0644), 0);
	cr_assert_eq(hv_read_file(path, 1024, &buf, &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_str_eq((char *)buf, "short");
	free(buf);
	cr_assert_eq(count_entries(), 1);
}

Test(files, fails_to_write_into_a_missing_folder)
{
	char path[128];

	at(path, sizeof(path), "absent/file");
	cr_assert_eq(hv_write_file_atomic(path, "x", 1, 0600), -1);
	cr_assert_eq(access(path, F_OK), -1);
}

Test(files, reads_an_empty_file)
{
	char path[128];
	uint8_t *buf = NULL;
	size_t len = 99;

	at(path, sizeof(path), "empty");
	cr_assert_eq(hv_write_file_atomic(path, "", 0, 0600), 0);
	cr_assert_eq(hv_read_file(path, 16, &buf, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_not_null(buf);
	cr_assert_eq(buf[0], 0);
	free(buf);
}

Test(files, reads_a_file_of_exactly_the_cap_and_refuses_one_byte_more)
{
	char path[128], data[65];
	uint8_t *buf = NULL;
	size_t len = 0;

	memset(data, 'q', sizeof(data));
	at(path, sizeof(path), "capped");
	cr_assert_eq(hv_write_file_atomic(path, data, 64, 0600), 0);
	cr_assert_eq(hv_read_file(path, 64, &buf, &len), 0);
	cr_assert_eq(len, 64);
	free(buf);
	cr_assert_eq(hv_write_file_atomic(path, data, 65, 0600), 0);
	buf = NULL;
	len = 7;
	errno = 0;
	cr_assert_eq(hv_read_file(path, 64, &buf, &len), -1);
	cr_assert_eq(errno, EFBIG);
	cr_assert_null(buf, "output written on failure");
	cr_assert_eq(len, 7, "output written on failure");
}

/*
 * A writer killed mid-write leaves NAME.tmp.PID behind, and a later writer
 * may get the same pid: the old bytes must not show through.
 */
Test(files, writes_over_a_stale_temporary_file)
{
	char path[128], stale[192];
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *fp;

	at(path, sizeof(path), "state");
	snprintf(stale, sizeof(stale), "%s.tmp.%ld", path, (long)getpid());
	cr_assert_not_null(fp = fopen(stale, "w"));
	fputs("left over from a writer that was killed", fp);
	fclose(fp);
	cr_assert_eq(hv_write_file_atomic(path, "new", 3, 0600), 0);
	cr_assert_eq(hv_read_file(path, 1024, &buf, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_str_eq((char *)buf, "new");
	free(buf);
}

Test(files, refuses_a_device_that_is_not_a_regular_file)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	cr_assert_eq(hv_read_file("/dev/null", 64, &buf, &len), -1);
	cr_assert_null(buf);
}

Test(files, refuses_a_missing_file_and_a_folder)
{
	char path[128];
	uint8_t *buf = NULL;
	size_t len = 0;

	at(path, sizeof(path), "absent");
	cr_assert_eq(hv_read_file(path, 64, &buf, &len), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(hv_read_file(tmp, 1 << 20, &buf, &len), -1);
	cr_assert_null(buf);
}

/* Audit records and proofs show times to the millisecond, in UTC. */
Test(util, formats_times_with_milliseconds_including_before_1970)
{
	char buf[32];

	hv_time_iso_ms(1795338843120LL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-22T09:14:03.120Z");
	hv_time_iso_ms(-1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	hv_time_iso_ms(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
}

Test(util, unhex_n_reads_only_its_n_characters)
{
	uint8_t out[2];

	/* An id inside a longer path: only the counted characters count. */
	cr_assert_eq(hv_unhex_n("abCD/ack", 4, out, 2), 0);
	cr_assert_eq(out[0], 0xab);
	cr_assert_eq(out[1], 0xcd);
	cr_assert_eq(hv_unhex_n("abc", 3, out, 2), -1);
	cr_assert_eq(hv_unhex_n("abzz", 4, out, 2), -1);
}
