/*
 * Unit tests of hv_log's rate limit: lines an outsider can cause at will
 * are logged at most once per interval, and the lines held back are
 * counted and reported, never lost without a trace.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv_log.h"

static char path[64];
static int saved_stderr = -1;

/* Sends stderr (the logger's output) to a fresh temporary file. */
static void
capture(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/hv-test-log-XXXXXX");
	cr_assert_geq(fd = mkstemp(path), 0);
	fflush(stderr);
	saved_stderr = dup(2);
	cr_assert_geq(dup2(fd, 2), 0);
	close(fd);
	hv_log_init("test", 0);
	hv_log_verbosity(1);
}

static void
release(void)
{
	if (saved_stderr >= 0) {
		fflush(stderr);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
	unlink(path);
}

/* Lines written so far that hold needle. */
static int
lines_with(const char *needle)
{
	char line[2048];
	int n = 0;
	FILE *fp;

	fflush(stderr);
	cr_assert_not_null(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

Test(log, logs_one_line_of_a_thousand_within_the_interval_and_counts_the_rest,
    .init = capture, .fini = release)
{
	struct hv_log_limit l = { .interval_ms = 60000 };

	for (int i = 0; i < 1000; i++)
		hv_log_info_limited(&l, "refused a handshake from peer %d", i);
	cr_expect_eq(lines_with("refused a handshake"), 1);
	cr_expect_eq(lines_with("peer 0"), 1);
	cr_expect_eq(l.suppressed, 999);
}

Test(log, reports_the_held_back_count_with_the_next_line_after_the_interval,
    .init = capture, .fini = release)
{
	struct hv_log_limit l = { .interval_ms = 10000 };

	for (int i = 0; i < 50; i++)
		hv_log_info_limited(&l, "refused %d", i);
	l.last_ms -= l.interval_ms; /* the interval has passed */
	hv_log_info_limited(&l, "refused again");
	cr_expect_eq(lines_with("refused again (and 49 more like it"), 1);
	cr_expect_eq(l.suppressed, 0);
}

Test(log, flushes_a_held_back_count_only_when_due_or_forced, .init = capture,
    .fini = release)
{
	struct hv_log_limit l = { .interval_ms = 10000 };

	hv_log_limit_flush(&l, "nothing held back", 1);
	cr_expect_eq(lines_with("nothing held back"), 0);
	for (int i = 0; i < 7; i++)
		hv_log_info_limited(&l, "failed %d", i);
	hv_log_limit_flush(&l, "failed handshakes", 0);
	cr_expect_eq(lines_with("failed handshakes"), 0, "flushed early");
	l.last_ms -= l.interval_ms;
	hv_log_limit_flush(&l, "failed handshakes", 0);
	cr_expect_eq(lines_with("failed handshakes: 6 more"), 1);
	hv_log_info_limited(&l, "failed 8");
	hv_log_info_limited(&l, "failed 9");
	hv_log_limit_flush(&l, "at exit", 1);
	cr_expect_eq(lines_with("at exit: 2 more"), 1);
}
