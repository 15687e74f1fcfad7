/*
 * make demo, run as a test: the whole morning of SPEC §12 through the real
 * binaries must finish, print what each party sees, and stop everything it
 * started.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

static char *
demo_path(void)
{
	const char *src = getenv("HAVEN_SRC");

	return h_fmt("%s/demo/run", src && *src ? src : ".");
}

Test(demo, plays_the_whole_morning_and_exits_cleanly, .timeout = 240)
{
	char *out = NULL, *path = demo_path();
	int rc = h_sh(&out, 200, "'%s'", path);
	const char *expect[] = {
		"1. Police send an Operation Encompass notification",
		"!! DO NOT CONTACT THE FAMILY",
		"2. Health report an A&E attendance",
		"3. The school makes a referral without consent",
		"4. Social care ask police and health for information",
		"RED, due",
		"POLICY_DENIED",
		"decision ",
		"escalated",
		"DECISION_RECORDED",
		"proof OK",
		"audit log OK:",
		"stopping the broker and the agents",
	};

	cr_assert_not_null(out);
	cr_assert_eq(rc, 0, "demo exited %d:\n%s", rc, out);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		cr_expect(strstr(out, expect[i]) != NULL,
		    "demo output lacks \"%s\":\n%s", expect[i], out);
	/* The NHS number never appears in the IG officer's output. */
	cr_expect(strstr(out, "943 476 5919") == NULL);
	free(out);
	free(path);
}
