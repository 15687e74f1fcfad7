/*
 * Unit tests of hv_headwatch, the console's head deadline: which
 * connections a sweep at a chosen time shuts down (a socketpair stands for
 * each connection, so "shut down" is seen as the far end reading 0), and
 * that the watchdog thread does it by itself.
 */
#include <criterion/criterion.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv_headwatch.h"
#include "hv_util.h"

#define LIMIT 5000
#define BODY 10000

struct pair {
	int near, far;
};

static struct pair
pair_new(void)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	return (struct pair){ sv[0], sv[1] };
}

static void
pair_close(struct pair *p)
{
	close(p->near);
	close(p->far);
}

/* 1 when the far end sees the near end shut down within wait_ms. */
static int
was_cut(const struct pair *p, int wait_ms)
{
	struct pollfd pf = { .fd = p->far, .events = POLLIN };
	char c;

	if (poll(&pf, 1, wait_ms) != 1)
		return 0;
	return recv(p->far, &c, 1, MSG_DONTWAIT) == 0;
}

Test(headwatch, cuts_a_connection_that_waits_for_its_head_past_the_limit)
{
	hv_headwatch *w = hv_headwatch_new(LIMIT, BODY);
	struct pair p = pair_new();
	hv_headwatch_conn *c = hv_headwatch_open(w, p.near, 1000);

	cr_assert_not_null(c);
	cr_assert_eq(hv_headwatch_sweep(w, 1000 + LIMIT), 0);
	cr_assert_eq(was_cut(&p, 0), 0);
	cr_assert_eq(hv_headwatch_sweep(w, 1001 + LIMIT), 1);
	cr_assert_eq(was_cut(&p, 0), 1);
	/* Cut once: a later sweep leaves it to the server to close. */
	cr_assert_eq(hv_headwatch_sweep(w, 9 * LIMIT), 0);
	hv_headwatch_close(w, &c);
	cr_assert_null(c);
	hv_headwatch_destroy(&w);
	cr_assert_null(w);
	pair_close(&p);
}

Test(headwatch, never_cuts_a_request_being_answered_however_long)
{
	hv_headwatch *w = hv_headwatch_new(LIMIT, BODY);
	struct pair p = pair_new();
	hv_headwatch_conn *c = hv_headwatch_open(w, p.near, 0);

	hv_headwatch_head(w, c, 10);
	hv_headwatch_answering(w, c);
	cr_assert_eq(hv_headwatch_sweep(w, 1000 * LIMIT), 0);
	cr_assert_eq(was_cut(&p, 0), 0);
	hv_headwatch_close(w, &c);
	hv_headwatch_destroy(&w);
	pair_close(&p);
}

Test(headwatch, restarts_the_deadline_when_a_request_is_answered)
{
	hv_headwatch *w = hv_headwatch_new(LIMIT, BODY);
	struct pair p = pair_new();
	hv_headwatch_conn *c = hv_headwatch_open(w, p.near, 0);

	hv_headwatch_head(w, c, 10);
	hv_headwatch_answering(w, c);
	hv_headwatch_idle(w, c, 3 * LIMIT);
	cr_assert_eq(hv_headwatch_sweep(w, 4 * LIMIT), 0);
	cr_assert_eq(hv_headwatch_sweep(w, 4 * LIMIT + 1), 1);
	cr_assert_eq(was_cut(&p, 0), 1);
	hv_headwatch_close(w, &c);
	hv_headwatch_destroy(&w);
	pair_close(&p);
}

Test(headwatch, cuts_a_request_whose_body_is_late_counting_from_its_head)
{
	hv_headwatch *w = hv_headwatch_new(LIMIT, BODY);
	struct pair p = pair_new();
	hv_headwatch_conn *c = hv_headwatch_open(w, p.near, 0);

	hv_headwatch_head(w, c, LIMIT);
	/* Past the head's limit, but the body has its own. */
	cr_assert_eq(hv_headwatch_sweep(w, LIMIT + BODY), 0);
	cr_assert_eq(was_cut(&p, 0), 0);
	cr_assert_eq(hv_headwatch_sweep(w, LIMIT + BODY + 1), 1);
	cr_assert_eq(was_cut(&p, 0), 1);
	hv_headwatch_close(w, &c);
	hv_headwatch_destroy(&w);
	pair_close(&p);
}

Test(headwatch, never_touches_a_connection_once_told_it_is_closing)
{
	hv_headwatch *w = hv_headwatch_new(LIMIT, BODY);
	struct pair p = pair_new(), q = pair_new();
	hv_headwatch_conn *c = hv_headwatch_open(w, p.near, 0);
	hv_headwatch_conn *d = hv_headwatch_open(w, q.near, 0);

	hv_headwatch_close(w, &c);
	cr_assert_eq(hv_headwatch_sweep(w, 2 * LIMIT), 1);
	cr_assert_eq(was_cut(&p, 0), 0);
	cr_assert_eq(was_cut(&q, 0), 1);
	hv_headwatch_close(w, &d);
	hv_headwatch_destroy(&w);
	pair_close(&p);
	pair_close(&q);
}

Test(headwatch, its_watchdog_thread_cuts_a_late_connection_by_itself)
{
	hv_headwatch *w = hv_headwatch_new(50, 50);
	struct pair p = pair_new();
	hv_headwatch_conn *c;

	cr_assert_eq(hv_headwatch_start(w), HV_OK);
	c = hv_headwatch_open(w, p.near, hv_mono_ms());
	cr_assert_eq(was_cut(&p, 10000), 1, "not cut within 10 s");
	hv_headwatch_close(w, &c);
	hv_headwatch_destroy(&w);
	pair_close(&p);
}
