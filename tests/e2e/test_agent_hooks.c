/*
 * End-to-end tests of the alert hook's durability (SPEC §7): every run of
 * alert_command is queued in the agent's store with what it alerts about,
 * IMMEDIATE runs go first, and a run is removed only after the hook exits
 * 0 — so no alert is dropped by a backlog, a failing hook or kill -9.
 *
 * The hooks here wait for a gate file the test creates, so the test, not
 * the clock, decides when they may finish; each appends its summary line
 * to hook.out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"

#define BACKLOG 600
#define KILLED 20
#define HOOKS_AT_ONCE 8 /* AGENT_HOOK_MAX */

static struct h_partnership P;
static char ids[BACKLOG][33];

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/* Lines of the file at path (0 when it does not exist). */
static int
count_lines(const char *path)
{
	char *text = h_read(path);
	int n = 0;

	for (char *p = text; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	free(text);
	return n;
}

struct lines_want {
	const char *path;
	int n;
};

static int
has_lines(void *ctx)
{
	struct lines_want *w = ctx;

	return count_lines(w->path) >= w->n;
}

/* The 0-based line of path holding id, or -1. */
static int
line_of(const char *text, const char *id)
{
	const char *hit = strstr(text, id);
	int n = 0;

	if (hit == NULL)
		return -1;
	for (const char *p = text; p < hit; p++)
		n += *p == '\n';
	return n;
}

struct ids_want {
	const char *path;
	int n;
};

/* 1 when every ids[0..n) appears in the file. */
static int
has_all_ids(void *ctx)
{
	struct ids_want *w = ctx;
	char *text = h_read(w->path);
	int ok = text != NULL;

	for (int i = 0; ok && i < w->n; i++)
		ok = strstr(text, ids[i]) != NULL;
	free(text);
	return ok;
}

/* Police post n messages to social care, the last one IMMEDIATE. */
static void
post_backlog(int n)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);

	for (int i = 0; i < n; i++) {
		char tag[16], *body;
		int last = i == n - 1;

		snprintf(tag, sizeof(tag), "h%d", i);
		body = ak_message("[\"" AK_SOCIAL "\"]",
		    last ? "MISSING_CHILD_ALERT" : "REFERRAL",
		    last ? "IMMEDIATE" : "ROUTINE", tag, "");
		cr_assert_eq(ak_post(pol, "/v1/messages", body, ids[i]), 202,
		    "message %d was not queued", i);
		free(body);
	}
}

/*
 * Social care is away while police send 599 ROUTINE referrals and then one
 * IMMEDIATE missing-child alert. When social care comes back, the broker
 * delivers the backlog while the hook is held up (it waits for the gate),
 * so the runs pile up in the store. Once the gate opens, every one of the
 * 600 ids reaches the hook, and the IMMEDIATE one — delivered last — is
 * among the first to run, not the last.
 */
Test(agent_hooks,
    runs_the_hook_for_all_600_messages_of_a_backlog_immediate_first,
    .fini = teardown, .timeout = 600)
{
	struct h_agent *pol, *soc;
	struct ids_want all = { NULL, BACKLOG };
	char *extra, *gate, *out, *text;
	int at;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	pol = h_agent_add(&P, AK_POLICE, NULL);
	cr_assert_not_null(pol);
	cr_assert_eq(h_agent_start(&P, pol), 0);
	gate = h_fmt("%s/gate", P.dir);
	out = h_fmt("%s/hook.out", P.dir);
	extra = h_fmt("alert_command = while [ ! -e '%s' ]; do sleep 0.05; "
	              "done; cat >> '%s'\n",
	    gate, out);
	soc = h_agent_add(&P, AK_SOCIAL, extra);
	free(extra);
	cr_assert_not_null(soc);

	post_backlog(BACKLOG);
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 300000),
	    "the broker did not take the backlog");
	cr_assert_eq(h_agent_start(&P, soc), 0, "see %s", soc->log);
	cr_assert(ak_wait_health(soc, "inbox_unacked", BACKLOG, 300000),
	    "social care did not receive the backlog");
	cr_assert_eq(h_write(gate, 0644, ""), 0);

	all.path = out;
	cr_assert(h_wait_until(has_all_ids, &all, 300000),
	    "some of the %d ids never reached the hook (%d lines)", BACKLOG,
	    count_lines(out));
	text = h_read(out);
	cr_assert_not_null(text);
	at = line_of(text, ids[BACKLOG - 1]);
	/*
	 * The hooks that were waiting at the gate were started before the
	 * IMMEDIATE alert arrived; it goes next, ahead of the ~590 queued
	 * before it. Twice the hooks at once leaves room for a batch killed
	 * by the 10-second limit and retried.
	 */
	cr_assert(at >= 0 && at < 4 * HOOKS_AT_ONCE,
	    "the IMMEDIATE alert "
	    "was run %d of %d",
	    at + 1, count_lines(out));
	cr_log_info("the IMMEDIATE alert ran %d of %d hook runs", at + 1,
	    count_lines(out));
	cr_assert_not_null(strstr(text, "\"priority\":\"IMMEDIATE\""));
	cr_assert_null(strstr(text, "Child h"), "the hook got child details");
	cr_assert_geq(count_lines(out), BACKLOG);
	free(text);
	free(gate);
	free(out);
}

/*
 * kill -9 of the agent while hook runs are pending — eight running (held
 * at the gate) and twelve waiting for a free slot — loses
 * none: after the restart every one of the 20 runs, IMMEDIATE first.
 */
Test(agent_hooks, runs_every_pending_hook_after_the_agent_is_killed,
    .fini = teardown, .timeout = 300)
{
	struct h_agent *soc;
	struct lines_want started = { NULL, HOOKS_AT_ONCE };
	struct lines_want stopped = { NULL, HOOKS_AT_ONCE };
	struct ids_want all = { NULL, KILLED };
	const char *extra[4] = { NULL, NULL, NULL, NULL };
	char *gate, *stop, *out, *run_log, *stop_log, *script, *text;
	int at;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	gate = h_fmt("%s/gate", P.dir);
	stop = h_fmt("%s/stop", P.dir);
	out = h_fmt("%s/hook.out", P.dir);
	run_log = h_fmt("%s/started.log", P.dir);
	stop_log = h_fmt("%s/stopped.log", P.dir);
	/*
	 * Orphaned by kill -9, a hook still waiting leaves when the test
	 * creates `stop` (before the gate), so only the restarted agent's
	 * runs can reach hook.out.
	 */
	script = h_fmt("%s/hook.sh", P.dir);
	text = h_fmt(
	    "#!/bin/sh\necho started >> '%s'\n"
	    "while [ ! -e '%s' ] && [ ! -e '%s' ]; do sleep 0.05; done\n"
	    "if [ -e '%s' ]; then cat >> '%s'; else echo stopped >> '%s'; "
	    "exit 3; fi\n",
	    run_log, gate, stop, gate, out, stop_log);
	cr_assert_eq(h_write(script, 0755, text), 0);
	free(text);
	extra[3] = h_fmt("alert_command = '%s'\n", script);
	free(script);
	cr_assert_eq(h_broker_start(&P), 0);
	for (int i = 0; i < 4; i++) {
		static const char *const who[4] = { AK_POLICE, AK_HEALTH,
			AK_SCHOOL, AK_SOCIAL };
		struct h_agent *a = h_agent_add(&P, who[i], extra[i]);

		cr_assert_not_null(a);
		cr_assert_eq(h_agent_start(&P, a), 0);
	}
	free((char *)extra[3]);
	soc = ak_agent(&P, AK_SOCIAL);

	post_backlog(KILLED);
	cr_assert(ak_wait_health(soc, "inbox_unacked", KILLED, 60000));
	started.path = run_log;
	cr_assert(h_wait_until(has_lines, &started, 30000),
	    "the hooks never started");
	h_agent_kill(soc);
	cr_assert_eq(count_lines(out), 0, "a hook finished before the kill");

	cr_assert_eq(h_write(stop, 0644, ""), 0);
	stopped.path = stop_log;
	cr_assert(h_wait_until(has_lines, &stopped, 30000),
	    "the orphaned hooks did not leave");
	cr_assert_eq(h_write(gate, 0644, ""), 0);
	cr_assert_eq(h_agent_start(&P, soc), 0, "see %s", soc->log);

	all.path = out;
	cr_assert(h_wait_until(has_all_ids, &all, 120000),
	    "pending hook runs were lost with the kill (%d of %d ran)",
	    count_lines(out), KILLED);
	text = h_read(out);
	at = line_of(text, ids[KILLED - 1]);
	cr_assert(at >= 0 && at < 2 * HOOKS_AT_ONCE,
	    "the IMMEDIATE alert was run %d of %d after the restart", at + 1,
	    count_lines(out));
	free(text);
	free(gate);
	free(stop);
	free(out);
	free(run_log);
	free(stop_log);
}

struct log_want {
	const char *path;
	const char *needle;
};

static int
log_has(void *ctx)
{
	struct log_want *w = ctx;
	char *text = h_read(w->path);
	int ok = text != NULL && strstr(text, w->needle) != NULL;

	free(text);
	return ok;
}

/*
 * A hook that fails (the pager is down) is logged and tried again with
 * backoff, never dropped: once it works, every alert it missed is run.
 */
Test(agent_hooks, retries_a_failing_hook_until_it_succeeds, .fini = teardown,
    .timeout = 180)
{
	struct h_agent *soc;
	struct log_want retried = { NULL, "(attempt 2)" };
	struct ids_want all = { NULL, 3 };
	const char *extra[4] = { NULL, NULL, NULL, NULL };
	char *gate, *out, *text;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	gate = h_fmt("%s/gate", P.dir);
	out = h_fmt("%s/hook.out", P.dir);
	extra[3] = h_fmt("alert_command = [ -e '%s' ] || exit 3; "
	                 "cat >> '%s'\n",
	    gate, out);
	cr_assert_eq(h_broker_start(&P), 0);
	for (int i = 0; i < 4; i++) {
		static const char *const who[4] = { AK_POLICE, AK_HEALTH,
			AK_SCHOOL, AK_SOCIAL };
		struct h_agent *a = h_agent_add(&P, who[i], extra[i]);

		cr_assert_not_null(a);
		cr_assert_eq(h_agent_start(&P, a), 0);
	}
	free((char *)extra[3]);
	soc = ak_agent(&P, AK_SOCIAL);

	post_backlog(3);
	retried.path = soc->log;
	cr_assert(h_wait_until(log_has, &retried, 60000),
	    "the failing hook was not tried a second time");
	cr_assert_eq(count_lines(out), 0);
	cr_assert_eq(h_write(gate, 0644, ""), 0);
	all.path = out;
	cr_assert(h_wait_until(has_all_ids, &all, 60000),
	    "alerts missed while the hook failed were never run");
	text = h_read(soc->log);
	cr_assert_not_null(strstr(text, "exited with status 3"), "%s", text);
	cr_assert_null(strstr(text, "Child h"), "%s", text);
	free(text);
	free(gate);
	free(out);
}
