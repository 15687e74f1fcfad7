/*
 * Unit tests of lib/hv_console: the users file, sessions, CSRF, the
 * log-in slow-down, form decoding and HTML escaping (SPEC §14).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "hv_console.h"

static char dir[64];
static char users[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hv-console-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(users, sizeof(users), "%s/console.users", dir);
}

static void
teardown(void)
{
	unlink(users);
	rmdir(dir);
}

TestSuite(console, .init = setup, .fini = teardown);

static void
count_user(const char *name, int role, void *cls)
{
	(void)name;
	(void)role;
	(*(int *)cls)++;
}

Test(console, stores_an_argon2id_hash_in_a_private_file_and_checks_it)
{
	struct hv_errdetail d;
	struct stat st;
	char buf[512];
	FILE *f;
	int role = -1;

	hv_errclear(&d);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_DUTY,
	                 "correct horse battery", 0, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(stat(users, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	f = fopen(users, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert(strncmp(buf, "asha:duty:$argon2id$", 20) == 0, "%s", buf);
	cr_assert_null(strstr(buf, "correct horse"));
	cr_assert_eq(hv_console_user_check(users, "asha",
	                 "correct horse battery", &role, &d),
	    HV_OK);
	cr_assert_eq(role, HV_ROLE_DUTY);
}

Test(console, refuses_a_wrong_password_and_an_unknown_name_alike)
{
	struct hv_errdetail d, d2;
	int role = -1;

	hv_errclear(&d);
	hv_errclear(&d2);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_VIEWER,
	                 "correct horse battery", 0, &d),
	    HV_OK);
	cr_assert_eq(hv_console_user_check(users, "asha", "wrong password!",
	                 &role, &d),
	    HV_EUNAUTHORIZED);
	cr_assert_eq(hv_console_user_check(users, "nobody",
	                 "correct horse battery", &role, &d2),
	    HV_EUNAUTHORIZED);
	cr_assert_str_eq(d.message, d2.message);
	cr_assert_eq(role, -1);
}

Test(console, refuses_a_users_file_others_can_read_because_it_holds_hashes)
{
	struct hv_errdetail d;
	int role;

	hv_errclear(&d);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_DUTY,
	                 "correct horse battery", 0, &d),
	    HV_OK);
	cr_assert_eq(chmod(users, 0644), 0);
	cr_assert_eq(hv_console_user_check(users, "asha",
	                 "correct horse battery", &role, &d),
	    HV_EINSECURE);
}

Test(console, refuses_a_short_password_a_bad_name_and_a_duplicate)
{
	struct hv_errdetail d;
	int n = 0;

	hv_errclear(&d);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_DUTY, "short",
	                 0, &d),
	    HV_EUSAGE);
	cr_assert_eq(hv_console_user_add(users, "a:b", HV_ROLE_DUTY,
	                 "long enough password", 0, &d),
	    HV_EUSAGE);
	cr_assert_eq(hv_console_user_add(users, "9434765919", HV_ROLE_DUTY,
	                 "long enough password", 0, &d),
	    HV_EUSAGE);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_DUTY,
	                 "long enough password", 0, &d),
	    HV_OK);
	cr_assert_eq(hv_console_user_add(users, "asha", HV_ROLE_DUTY,
	                 "long enough password", 0, &d),
	    HV_EEXISTS);
	cr_assert_eq(hv_console_user_add(users, "ben", HV_ROLE_VIEWER,
	                 "long enough password", 0, &d),
	    HV_OK);
	cr_assert_eq(hv_console_user_remove(users, "asha", &d), HV_OK);
	cr_assert_eq(hv_console_user_remove(users, "asha", &d), HV_ENOTFOUND);
	cr_assert_eq(hv_console_user_list(users, count_user, &n, &d), HV_OK);
	cr_assert_eq(n, 1);
}

Test(console, tells_a_users_role_and_that_a_removed_user_is_gone)
{
	struct hv_errdetail d;
	int role = -1;

	hv_errclear(&d);
	cr_assert_eq(hv_console_user_add(users, "ben", HV_ROLE_VIEWER,
	                 "long enough password", 0, &d),
	    HV_OK);
	cr_assert_eq(hv_console_user_role(users, "ben", &role, &d), HV_OK);
	cr_assert_eq(role, HV_ROLE_VIEWER);
	cr_assert_eq(hv_console_user_add(users, "ben", HV_ROLE_DUTY,
	                 "long enough password", 1, &d),
	    HV_OK);
	cr_assert_eq(hv_console_user_role(users, "ben", &role, &d), HV_OK);
	cr_assert_eq(role, HV_ROLE_DUTY);
	cr_assert_eq(hv_console_user_remove(users, "ben", &d), HV_OK);
	cr_assert_eq(hv_console_user_role(users, "ben", &role, &d),
	    HV_ENOTFOUND);
}

Test(console, opens_a_session_whose_id_is_not_kept_and_ends_it_when_idle)
{
	hv_console_sessions *s = hv_console_sessions_new(2);
	struct hv_console_who who;
	char sid[HV_CONSOLE_TOKEN_HEX + 1];

	cr_assert_not_null(s);
	cr_assert_eq(hv_console_session_open(s, "asha", HV_ROLE_DUTY, 1000,
	                 sid),
	    HV_OK);
	cr_assert_eq(strlen(sid), HV_CONSOLE_TOKEN_HEX);
	cr_assert_eq(hv_console_session_get(s, sid, 2500, 1, &who), HV_OK);
	cr_assert_str_eq(who.name, "asha");
	cr_assert_eq(who.role, HV_ROLE_DUTY);
	/* Touched at 2.5 s: still alive at 4 s, gone at 4.5 s. */
	cr_assert_eq(hv_console_session_get(s, sid, 4000, 0, &who), HV_OK);
	cr_assert_eq(hv_console_session_get(s, sid, 4500, 0, &who),
	    HV_EUNAUTHORIZED);
	/* Ended sessions stay ended, even if asked for earlier again. */
	cr_assert_eq(hv_console_session_get(s, sid, 3000, 0, &who),
	    HV_EUNAUTHORIZED);
	hv_console_sessions_destroy(&s);
	cr_assert_null(s);
}

Test(console, ends_a_busy_session_after_twelve_hours)
{
	hv_console_sessions *s = hv_console_sessions_new(900);
	struct hv_console_who who;
	char sid[HV_CONSOLE_TOKEN_HEX + 1];
	int64_t t;

	cr_assert_eq(hv_console_session_open(s, "asha", HV_ROLE_DUTY, 0, sid),
	    HV_OK);
	for (t = 600000; t < (int64_t)12 * 3600 * 1000; t += 600000)
		cr_assert_eq(hv_console_session_get(s, sid, t, 1, &who), HV_OK);
	cr_assert_eq(hv_console_session_get(s, sid, t, 1, &who),
	    HV_EUNAUTHORIZED);
	hv_console_sessions_destroy(&s);
}

Test(console, refuses_a_forged_a_malformed_and_a_closed_session_id)
{
	hv_console_sessions *s = hv_console_sessions_new(900);
	struct hv_console_who who;
	char sid[HV_CONSOLE_TOKEN_HEX + 1], forged[HV_CONSOLE_TOKEN_HEX + 1];

	cr_assert_eq(hv_console_session_open(s, "asha", HV_ROLE_DUTY, 0, sid),
	    HV_OK);
	memcpy(forged, sid, sizeof(forged));
	forged[0] = forged[0] == 'a' ? 'b' : 'a';
	cr_assert_eq(hv_console_session_get(s, forged, 1, 1, &who),
	    HV_EUNAUTHORIZED);
	cr_assert_eq(hv_console_session_get(s, "zz", 1, 1, &who),
	    HV_EUNAUTHORIZED);
	cr_assert_eq(hv_console_session_get(s, NULL, 1, 1, &who),
	    HV_EUNAUTHORIZED);
	hv_console_session_close(s, sid);
	cr_assert_eq(hv_console_session_get(s, sid, 1, 1, &who),
	    HV_EUNAUTHORIZED);
	hv_console_sessions_destroy(&s);
}

Test(console, accepts_only_the_sessions_own_csrf_token)
{
	hv_console_sessions *s = hv_console_sessions_new(900);
	struct hv_console_who a, b;
	char sa[HV_CONSOLE_TOKEN_HEX + 1], sb[HV_CONSOLE_TOKEN_HEX + 1];

	hv_console_session_open(s, "asha", HV_ROLE_DUTY, 0, sa);
	hv_console_session_open(s, "ben", HV_ROLE_VIEWER, 0, sb);
	cr_assert_eq(hv_console_session_get(s, sa, 1, 0, &a), HV_OK);
	cr_assert_eq(hv_console_session_get(s, sb, 1, 0, &b), HV_OK);
	cr_assert(hv_console_csrf_ok(&a, a.csrf, strlen(a.csrf)));
	cr_assert_not(hv_console_csrf_ok(&a, b.csrf, strlen(b.csrf)));
	cr_assert_not(hv_console_csrf_ok(&a, a.csrf, 10));
	cr_assert_not(hv_console_csrf_ok(&a, NULL, 0));
	cr_assert_not(hv_console_csrf_ok(&a, "", 0));
	hv_console_sessions_destroy(&s);
}

Test(console, slows_down_a_name_after_repeated_failures_and_forgets_on_success)
{
	hv_console_sessions *s = hv_console_sessions_new(900);
	int64_t w1, w2;

	for (int i = 0; i < HV_CONSOLE_THROTTLE_FREE; i++) {
		cr_assert_eq(hv_console_throttle_wait(s, "asha", 0), 0);
		hv_console_throttle_fail(s, "asha", 0);
	}
	cr_assert_eq(hv_console_throttle_wait(s, "asha", 0), 0);
	hv_console_throttle_fail(s, "asha", 0);
	w1 = hv_console_throttle_wait(s, "asha", 0);
	cr_assert_gt(w1, 0);
	hv_console_throttle_fail(s, "asha", 0);
	w2 = hv_console_throttle_wait(s, "asha", 0);
	cr_assert_gt(w2, w1, "the delay grows: %lld then %lld", (long long)w1,
	    (long long)w2);
	/* Another name is not slowed by asha's failures. */
	cr_assert_eq(hv_console_throttle_wait(s, "ben", 0), 0);
	for (int i = 0; i < 40; i++)
		hv_console_throttle_fail(s, "asha", 0);
	cr_assert_leq(hv_console_throttle_wait(s, "asha", 0),
	    HV_CONSOLE_THROTTLE_MAX_S);
	hv_console_throttle_clear(s, "asha");
	cr_assert_eq(hv_console_throttle_wait(s, "asha", 0), 0);
	hv_console_sessions_destroy(&s);
}

Test(console, decodes_form_fields_and_refuses_bad_escapes)
{
	const char *b = "name=asha&password=a%20b+c%26d&x=%zz&y=%4&z=%00";
	char out[32];

	cr_assert_eq(hv_form_get(b, strlen(b), "name", out, sizeof(out)), 4);
	cr_assert_str_eq(out, "asha");
	cr_assert_eq(hv_form_get(b, strlen(b), "password", out, sizeof(out)),
	    7);
	cr_assert_str_eq(out, "a b c&d");
	cr_assert_eq(hv_form_get(b, strlen(b), "nam", out, sizeof(out)), -1);
	cr_assert_eq(hv_form_get(b, strlen(b), "x", out, sizeof(out)), -2);
	cr_assert_eq(hv_form_get(b, strlen(b), "y", out, sizeof(out)), -2);
	cr_assert_eq(hv_form_get(b, strlen(b), "z", out, sizeof(out)), -2);
	cr_assert_eq(hv_form_get(b, strlen(b), "name", out, 4), -2);
}

Test(console, escapes_markup_for_html)
{
	char *e = hv_html_escape("<script>alert('1')</script> & \"x\"");

	cr_assert_str_eq(e,
	    "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; "
	    "&amp; &quot;x&quot;");
	free(e);
}
