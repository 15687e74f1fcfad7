/*
 * End-to-end tests of GET /v1/inbox in pages: `total` and `unacked` count
 * the whole inbox, a `cursor` leads to the next page until every message
 * was listed exactly once, `order=priority` puts IMMEDIATE first, then the
 * earliest deadline, and `haven inbox` says how many of how many it shows.
 * Real broker and agents; police send to social care.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"
#include "hv_util.h"

#define WAIT_MS 30000
#define MAX_MSGS 1100

static struct h_partnership P;

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

static void
setup(void)
{
	cr_assert_eq(ak_setup(&P, NULL), 0, "partnership did not start");
}

/* Police send n messages to social care (type, priority, extra); ids. */
static void
send_n(size_t n, const char *type, const char *priority, const char *more,
    char ids[][33])
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);

	for (size_t i = 0; i < n; i++) {
		char tag[16], *body;

		snprintf(tag, sizeof(tag), "m%zu", i);
		body = ak_message("[\"" AK_SOCIAL "\"]", type, priority, tag,
		    more);
		cr_assert_eq(ak_post(pol, "/v1/messages", body, ids[i]), 202,
		    "message %zu was not queued", i);
		free(body);
	}
}

/* GET path at social care; asserts 200 and returns the page. */
static json_t *get_page(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static json_t *
get_page(const char *fmt, ...)
{
	va_list ap;
	char *path;
	json_t *j = NULL;
	int st;

	va_start(ap, fmt);
	cr_assert(vasprintf(&path, fmt, ap) >= 0);
	va_end(ap);
	st = ak_get(ak_agent(&P, AK_SOCIAL), path, &j);
	cr_assert_eq(st, 200, "GET %s answered %d", path, st);
	free(path);
	return j;
}

static json_int_t
int_of(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	cr_assert(json_is_integer(v), "%s is not an integer", k);
	return json_integer_value(v);
}

/* Waits until social care's inbox holds n messages. */
static void
wait_total(json_int_t n)
{
	int64_t end = hv_mono_ms() + WAIT_MS;
	json_int_t got = -1;

	while (hv_mono_ms() < end) {
		json_t *j = get_page("/v1/inbox?limit=1");

		got = int_of(j, "total");
		json_decref(j);
		if (got == n)
			return;
		poll(NULL, 0, 100);
	}
	cr_assert_fail("the inbox holds %lld messages, wanted %lld",
	    (long long)got, (long long)n);
}

/*
 * Pages through /v1/inbox with query q (may be "") and limit, asserting
 * total on every page; fills ids[] in the order listed and returns how
 * many. Each page but the last is full and has a cursor.
 */
static size_t
page_all(const char *q, int limit, json_int_t total, char ids[][33],
    json_t **msgs_out)
{
	char cursor[128] = "";
	size_t n = 0;
	json_t *all = json_array();

	for (int pages = 0; pages < 200; pages++) {
		json_t *j, *msgs, *m;
		const char *next;
		size_t i;

		j = cursor[0] ? get_page("/v1/inbox?limit=%d%s&cursor=%s",
		                    limit, q, cursor) :
		                get_page("/v1/inbox?limit=%d%s", limit, q);
		cr_assert_eq(int_of(j, "total"), total,
		    "total changed on "
		    "page %d",
		    pages);
		msgs = json_object_get(j, "messages");
		json_array_foreach (msgs, i, m) {
			cr_assert_lt(n, MAX_MSGS);
			snprintf(ids[n++], 33, "%s",
			    json_string_value(json_object_get(m, "id")));
			json_array_append(all, m);
		}
		next = json_string_value(json_object_get(j, "cursor"));
		if (next == NULL) {
			cr_assert(json_is_null(json_object_get(j, "cursor")),
			    "the last page's cursor is not null");
			json_decref(j);
			break;
		}
		cr_assert_eq(json_array_size(msgs), (size_t)limit,
		    "a page "
		    "with a cursor is not full");
		snprintf(cursor, sizeof(cursor), "%s", next);
		json_decref(j);
	}
	if (msgs_out != NULL)
		*msgs_out = all;
	else
		json_decref(all);
	return n;
}

/* Asserts that got[0..n) holds each of want[0..n) exactly once. */
static void
same_set(char got[][33], size_t n_got, char want[][33], size_t n_want)
{
	cr_assert_eq(n_got, n_want, "listed %zu messages, sent %zu", n_got,
	    n_want);
	for (size_t i = 0; i < n_want; i++) {
		size_t seen = 0;

		for (size_t k = 0; k < n_got; k++)
			if (strcmp(got[k], want[i]) == 0)
				seen++;
		cr_assert_eq(seen, 1, "message %s listed %zu times", want[i],
		    seen);
	}
}

/*
 * 35 messages in pages of 10: four pages (10, 10, 10, 5) reach every
 * message exactly once, newest first, each page giving total 35, and the
 * last page's cursor is null.
 */
Test(inbox, pages_35_messages_by_cursor_reaching_each_exactly_once,
    .init = setup, .fini = teardown, .timeout = 180)
{
	char sent[MAX_MSGS][33], got[MAX_MSGS][33];
	json_t *msgs, *j;
	size_t n;
	const char *prev = NULL;

	send_n(35, "REFERRAL", "ROUTINE", "", sent);
	wait_total(35);
	n = page_all("", 10, 35, got, &msgs);
	same_set(got, n, sent, 35);
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		const char *at = json_string_value(
		    json_object_get(json_array_get(msgs, i), "received_at"));

		cr_assert(prev == NULL || strcmp(prev, at) >= 0,
		    "not newest "
		    "first: %s after %s",
		    at, prev);
		prev = at;
	}
	json_decref(msgs);

	j = get_page("/v1/inbox?limit=10");
	cr_assert_eq(int_of(j, "unacked"), 35);
	json_decref(j);
}

/*
 * 1,050 messages: the newest 1,000 on the first page, the other 50 after
 * the cursor, none twice — the inbox no longer ends at 1,000. The
 * priority order pages through them all too.
 */
Test(inbox, pages_past_the_newest_thousand, .init = setup, .fini = teardown,
    .timeout = 600)
{
	static char sent[MAX_MSGS][33], got[MAX_MSGS][33];
	size_t n;
	int64_t t0;

	send_n(1050, "REFERRAL", "ROUTINE", "", sent);
	wait_total(1050);
	n = page_all("", 1000, 1050, got, NULL);
	same_set(got, n, sent, 1050);
	t0 = hv_mono_ms();
	n = page_all("&order=priority", 500, 1050, got, NULL);
	cr_log_info("priority order over 1,050 in pages of 500: %lld ms",
	    (long long)(hv_mono_ms() - t0));
	same_set(got, n, sent, 1050);
}

/*
 * Acknowledged messages leave unacked=1 paging and its total; the
 * unfiltered total stays, with its unacked count.
 */
Test(inbox, counts_unacknowledged_messages_across_every_page, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char sent[MAX_MSGS][33], got[MAX_MSGS][33];
	json_t *j;
	size_t n;

	send_n(23, "REFERRAL", "ROUTINE", "", sent);
	wait_total(23);
	for (size_t i = 0; i < 5; i++) {
		char *path = h_fmt("/v1/inbox/%s/ack", sent[i]);

		cr_assert_eq(ak_post(soc, path, "{\"by\":\"mash.duty\"}", NULL),
		    200);
		free(path);
	}
	n = page_all("&unacked=1", 4, 18, got, NULL);
	same_set(got, n, sent + 5, 18);
	j = get_page("/v1/inbox?limit=3");
	cr_assert_eq(int_of(j, "total"), 23);
	cr_assert_eq(int_of(j, "unacked"), 18);
	cr_assert_eq(json_array_size(json_object_get(j, "messages")), 3);
	json_decref(j);
}

/*
 * order=priority: IMMEDIATE first, then by deadline (RED before AMBER
 * before GREEN), then those without a deadline, newest first among
 * equals; paged in fours, every message once.
 */
Test(inbox, orders_by_priority_then_deadline_across_pages, .init = setup,
    .fini = teardown, .timeout = 180)
{
	char green[2][33], none[3][33], imm[2][33], red[2][33], amber[2][33];
	char all[MAX_MSGS][33], got[MAX_MSGS][33];
	json_t *msgs;
	size_t n, k = 0;

	send_n(2, "REFERRAL", "ROUTINE", ",\"deadline\":\"GREEN\"", green);
	send_n(3, "REFERRAL", "ROUTINE", "", none);
	send_n(2, "MISSING_CHILD_ALERT", "IMMEDIATE", "", imm);
	send_n(2, "REFERRAL", "URGENT", ",\"deadline\":\"RED\"", red);
	send_n(2, "REFERRAL", "ROUTINE", ",\"deadline\":\"AMBER\"", amber);
	wait_total(11);
	n = page_all("&order=priority", 4, 11, got, &msgs);

	/* The expected order, newest first within each group. */
	snprintf(all[k++], 33, "%s", imm[1]);
	snprintf(all[k++], 33, "%s", imm[0]);
	snprintf(all[k++], 33, "%s", red[0]);
	snprintf(all[k++], 33, "%s", red[1]);
	snprintf(all[k++], 33, "%s", amber[0]);
	snprintf(all[k++], 33, "%s", amber[1]);
	snprintf(all[k++], 33, "%s", green[0]);
	snprintf(all[k++], 33, "%s", green[1]);
	snprintf(all[k++], 33, "%s", none[2]);
	snprintf(all[k++], 33, "%s", none[1]);
	snprintf(all[k++], 33, "%s", none[0]);
	same_set(got, n, all, k);
	for (size_t i = 0; i < 2; i++)
		cr_assert_str_eq(json_string_value(
		                     json_object_get(json_array_get(msgs, i),
		                         "priority")),
		    "IMMEDIATE");
	/* Due times ascend after the IMMEDIATE ones, none-deadline last. */
	for (size_t i = 2; i < 11; i++) {
		const char *want = i < 4 ? "RED" :
		    i < 6                ? "AMBER" :
		    i < 8                ? "GREEN" :
		                           NULL;
		json_t *dl =
		    json_object_get(json_array_get(msgs, i), "deadline");

		if (want == NULL)
			cr_assert(json_is_null(dl), "entry %zu has a deadline",
			    i);
		else
			cr_assert_str_eq(json_string_value(
			                     json_object_get(dl, "rag")),
			    want, "entry %zu", i);
	}
	/* Ties on due time are rare (ms); the set is checked exactly. */
	for (size_t i = 8; i < 11; i++)
		cr_assert_str_eq(got[i], all[i],
		    "no-deadline entry %zu is not "
		    "newest first",
		    i);
	json_decref(msgs);
}

Test(inbox, refuses_a_cursor_it_did_not_give_and_an_unknown_order,
    .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	static const char *const bad[] = {
		"/v1/inbox?cursor=zzz",
		"/v1/inbox?cursor=n0000000000000001&order=priority",
		"/v1/inbox?order=oldest",
	};
	static const char *const field[] = { "cursor", "cursor", "order" };

	for (size_t i = 0; i < 3; i++) {
		json_t *j = NULL, *e;

		cr_assert_eq(ak_get(soc, bad[i], &j), 400, "%s", bad[i]);
		e = json_object_get(j, "error");
		cr_assert_str_eq(json_string_value(json_object_get(e, "code")),
		    "BAD_REQUEST");
		cr_assert_str_eq(json_string_value(json_object_get(e, "field")),
		    field[i], "%s", bad[i]);
		json_decref(j);
	}
}

/*
 * `haven inbox --unacked --limit 3` says how many of how many are shown
 * and gives the cursor; following it lists the next three.
 */
Test(inbox, cli_says_how_many_of_how_many_are_shown, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char sent[MAX_MSGS][33], *out = NULL, *more, cursor[128];

	send_n(8, "REFERRAL", "ROUTINE", "", sent);
	wait_total(8);
	cr_assert_eq(h_sh(&out, 60,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' inbox --unacked --limit 3",
	                 soc->url, soc->token_file, h_bin("haven")),
	    0, "%s", out);
	cr_assert_not_null(strstr(out, "3 of 8 unacknowledged shown."), "%s",
	    out);
	cr_assert_not_null(strstr(out, sent[7]), "newest not first: %s", out);
	more = strstr(out, "--cursor ");
	cr_assert_not_null(more, "no cursor for the next page: %s", out);
	cr_assert_eq(sscanf(more, "--cursor %127s", cursor), 1);
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 60,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' inbox --unacked --limit 3 --cursor '%s'",
	                 soc->url, soc->token_file, h_bin("haven"), cursor),
	    0, "%s", out);
	cr_assert_not_null(strstr(out, "3 of 8 unacknowledged shown."), "%s",
	    out);
	cr_assert_not_null(strstr(out, sent[4]), "%s", out);
	cr_assert_null(strstr(out, sent[7]), "page 1 again: %s", out);
	free(out);
}
