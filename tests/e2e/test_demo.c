/*
 * make demo, run as a test: the whole morning of SPEC §12 through the real
 * binaries must finish, print what each party sees, and stop everything it
 * started.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static char *
demo_path(void)
{
	const char *src = getenv("HAVEN_SRC");

	return h_fmt("%s/demo/run", src && *src ? src : ".");
}

/*
 * Processes the demo left behind: as a child subreaper this test process
 * inherits every orphaned descendant, so any child still here after the
 * demo's shell has been reaped is one the demo failed to stop. They are
 * killed and counted.
 */
static int
leftover_processes(void)
{
	char path[64], buf[4096];
	FILE *fp;
	size_t n;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
	    (int)getpid());
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n")) {
		pid_t pid = (pid_t)atoi(tok);

		fprintf(stderr, "demo left process %d running\n", (int)pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		count++;
	}
	return count;
}

Test(demo, plays_the_whole_morning_and_exits_cleanly, .timeout = 240)
{
	char *out = NULL, *path = demo_path();
	int rc;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	rc = h_sh(&out, 200, "'%s'", path);
	const char *expect[] = {
		"1. Police send an Operation Encompass notification",
		"!! DO NOT CONTACT THE FAMILY",
		"2. Health report an A&E attendance",
		"Child protection plan:  YES, since",
		"3. The school makes a referral without consent",
		"4. Social care ask police and health for information",
		"RED, due",
		"POLICY_DENIED",
		"decision ",
		"escalated",
		"DECISION_RECORDED",
		/* Opened with the IG key; sealed in the plain export. */
		"Asking the parents for consent could place the child at "
		"greater risk of harm.",
		"justifications show as (sealed)",
		"proof OK",
		"audit log OK:",
		"stopping the broker and the agents",
	};

	cr_assert_not_null(out);
	cr_assert_eq(rc, 0, "demo exited %d:\n%s", rc, out);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		cr_expect(strstr(out, expect[i]) != NULL,
		    "demo output lacks \"%s\":\n%s", expect[i], out);
	/* Give orphans a moment to be reparented, then look for them. */
	for (int i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) > 0; i++)
		;
	cr_expect_eq(leftover_processes(), 0,
	    "the demo did not stop every process it started");
	/* The NHS number never appears in the IG officer's output. */
	cr_expect(strstr(out, "943 476 5919") == NULL);
	free(out);
	free(path);
}
