/*
 * End-to-end tests of the duty-team console (SPEC §14) through the real
 * agent: a partnership whose social-care agent serves the console over
 * HTTPS with a certificate made by openssl and users made by `haven
 * console-user`; a raw HTTPS client (libcurl, certificate not verified)
 * logs in, reads alerts, acknowledges, and is refused where it must be.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"

#define PASSWORD "correct horse battery"

static struct h_partnership P;
static char console_url[128];

/* One HTTPS exchange's answer. */
struct ans {
	long status;
	char *body;
	char *head;
	size_t blen, hlen;
};

static size_t
grow(char **buf, size_t *len, const char *p, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + *len, p, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return n;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *cls)
{
	struct ans *a = cls;

	return grow(&a->body, &a->blen, p, sz * n);
}

static size_t
on_head(char *p, size_t sz, size_t n, void *cls)
{
	struct ans *a = cls;

	return grow(&a->head, &a->hlen, p, sz * n);
}

/*
 * A request to the console: cookie is the session id or NULL, extra a
 * header line or NULL, body NULL for a GET. Redirects are not followed.
 */
static struct ans
req(const char *method, const char *path, const char *cookie, const char *extra,
    const char *body)
{
	struct ans a = { 0 };
	struct curl_slist *h = NULL;
	char *url = h_fmt("%s%s", console_url, path), *c = NULL;
	CURL *k = curl_easy_init();

	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, &a);
	if (cookie != NULL) {
		c = h_fmt("__Host-haven=%s", cookie);
		curl_easy_setopt(k, CURLOPT_COOKIE, c);
	}
	if (extra != NULL)
		h = curl_slist_append(h, extra);
	if (body != NULL)
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(k) == CURLE_OK)
		curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &a.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(k);
	free(url);
	free(c);
	if (a.body == NULL)
		a.body = strdup("");
	if (a.head == NULL)
		a.head = strdup("");
	return a;
}

static void
ans_free(struct ans *a)
{
	free(a->body);
	free(a->head);
}

/* The value of header name (case-insensitive) in a head, malloc'd. */
static char *
header(const struct ans *a, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = a->head; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			return strndup(v, strcspn(v, "\r\n"));
		}
	return NULL;
}

/* Logs in; returns the session id (malloc'd) or NULL. */
static char *
login(const char *name, const char *pw, long *status)
{
	char *body = h_fmt("name=%s&password=%s", name, pw), *sc, *sid = NULL;
	struct ans a = req("POST", "/login", NULL, NULL, body);

	*status = a.status;
	if ((sc = header(&a, "Set-Cookie")) != NULL &&
	    strncmp(sc, "__Host-haven=", 13) == 0)
		sid = strndup(sc + 13, strcspn(sc + 13, ";"));
	free(sc);
	free(body);
	ans_free(&a);
	return sid;
}

/* The session's CSRF token from /api/session, malloc'd. */
static char *
csrf_of(const char *sid)
{
	struct ans a = req("GET", "/api/session", sid, NULL, NULL);
	json_t *j = json_loads(a.body, 0, NULL);
	const char *t = json_string_value(json_object_get(j, "csrf"));
	char *out = t ? strdup(t) : NULL;

	json_decref(j);
	ans_free(&a);
	return out;
}

/*
 * A partnership whose social-care agent serves the console with the
 * given idle timeout; users asha (duty) and ben (viewer).
 */
static void
start(unsigned idle)
{
	static const char *const ids[] = { AK_POLICE, AK_HEALTH, AK_SCHOOL,
		AK_SOCIAL };
	char *out = NULL, *extra, *ready;
	json_t *j;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	rc = h_sh(&out, 60,
	    "cd %s && openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout console.key "
	    "-out console.crt -days 2 -subj /CN=localhost 2>&1 && "
	    "chmod 600 console.key && printf '%%s\\n' '" PASSWORD "' >pw && "
	    "chmod 600 pw && %s console-user add asha --role duty --users "
	    "console.users --password-file pw && %s console-user add ben "
	    "--role viewer --users console.users --password-file pw",
	    P.dir, h_bin("haven"), h_bin("haven"));
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	free(out);
	cr_assert_eq(h_broker_start(&P), 0);
	extra = h_fmt("console_listen = 127.0.0.1:0\nconsole_cert = "
	              "console.crt\nconsole_key = console.key\nconsole_users = "
	              "console.users\nconsole_idle_timeout = %u\n",
	    idle);
	for (int i = 0; i < 4; i++) {
		struct h_agent *a =
		    h_agent_add(&P, ids[i], i == 3 ? extra : NULL);

		cr_assert_not_null(a);
		cr_assert_eq(h_agent_start(&P, a), 0, "%s did not start",
		    ids[i]);
	}
	free(extra);
	ready = h_read(ak_agent(&P, AK_SOCIAL)->ready);
	j = json_loads(ready ? ready : "", 0, NULL);
	cr_assert_not_null(json_object_get(j, "console"), "ready file: %s",
	    ready);
	snprintf(console_url, sizeof(console_url), "https://%s",
	    json_string_value(json_object_get(j, "console")));
	json_decref(j);
	free(ready);
}

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	start(900);
}

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	if (getenv("KEEP") == NULL)
		h_partnership_destroy(&P);
	else
		fprintf(stderr, "kept %s\n", P.dir);
	curl_global_cleanup();
	cr_assert_eq(rc, 0, "%s", why);
}

TestSuite(console, .init = setup, .fini = teardown, .timeout = 240);

Test(console, logs_in_with_a_host_only_secure_httponly_strict_cookie)
{
	char *body = h_fmt("name=asha&password=%s", "correct+horse+battery");
	struct ans a = req("POST", "/login", NULL, NULL, body);
	char *sc = header(&a, "Set-Cookie"), *loc = header(&a, "Location");

	cr_assert_eq(a.status, 303, "%ld %s", a.status, a.body);
	cr_assert_not_null(sc);
	cr_assert(strncmp(sc, "__Host-haven=", 13) == 0, "%s", sc);
	cr_assert_eq(strcspn(sc + 13, ";"), 64, "%s", sc);
	cr_assert_not_null(strstr(sc, "; Secure"), "%s", sc);
	cr_assert_not_null(strstr(sc, "; HttpOnly"), "%s", sc);
	cr_assert_not_null(strstr(sc, "; SameSite=Strict"), "%s", sc);
	cr_assert_not_null(strstr(sc, "; Path=/"), "%s", sc);
	cr_assert_null(strstr(sc, "Domain"), "%s", sc);
	cr_assert_str_eq(loc, "/");
	free(sc);
	free(loc);
	free(body);
	ans_free(&a);
}

Test(console, sends_the_content_security_policy_and_no_sniffing_with_every_page)
{
	static const char *const paths[] = { "/login", "/assets/app.js",
		"/assets/app.css", "/api/alerts", NULL };

	for (int i = 0; paths[i] != NULL; i++) {
		struct ans a = req("GET", paths[i], NULL, NULL, NULL);
		char *c = header(&a, "Content-Security-Policy");
		char *n = header(&a, "X-Content-Type-Options");

		cr_assert_not_null(c, "%s has no CSP", paths[i]);
		cr_assert_not_null(strstr(c, "default-src 'self'"));
		cr_assert_not_null(strstr(c, "script-src 'self';"));
		cr_assert_not_null(strstr(c, "frame-ancestors 'none'"));
		cr_assert_null(strstr(c, "unsafe"));
		cr_assert_str_eq(n, "nosniff");
		free(c);
		free(n);
		ans_free(&a);
	}
}

Test(console, refuses_a_wrong_password_and_an_unknown_name)
{
	long st = 0;
	char *sid = login("asha", "not+the+password", &st);

	cr_assert_null(sid);
	cr_assert_eq(st, 401);
	sid = login("nobody", "correct+horse+battery", &st);
	cr_assert_null(sid);
	cr_assert_eq(st, 401);
}

Test(console,
    slows_down_log_ins_after_repeated_failures_even_with_the_right_password)
{
	long st = 0;
	char *sid;

	for (int i = 0; i < 4; i++) {
		sid = login("asha", "wrong+password+here", &st);
		cr_assert_null(sid);
		cr_assert_eq(st, 401);
	}
	sid = login("asha", "correct+horse+battery", &st);
	cr_assert_null(sid);
	cr_assert_eq(st, 429, "the fifth try is refused unchecked: %ld", st);
	/* Another person is not held up. */
	sid = login("ben", "correct+horse+battery", &st);
	cr_assert_not_null(sid);
	free(sid);
}

Test(console, answers_an_address_with_no_page_with_a_page_saying_so)
{
	long st = 0;
	char *sid = login("asha", "correct+horse+battery", &st);
	char *type;
	struct ans a;

	cr_assert_not_null(sid, "log-in answered %ld", st);
	/* 32 characters, not an id: the person gets a page, not JSON. */
	a = req("GET", "/message/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", sid, NULL,
	    NULL);
	type = header(&a, "Content-Type");
	cr_assert_eq(a.status, 404);
	cr_assert_not_null(type);
	cr_assert_not_null(strstr(type, "text/html"), "%s", type);
	cr_assert_not_null(strstr(a.body, "No such page"), "%s", a.body);
	free(type);
	ans_free(&a);
	/* An id in capitals is the same message's page. */
	a = req("GET", "/message/00112233445566778899AABBCCDDEEFF", sid, NULL,
	    NULL);
	cr_assert_eq(a.status, 200);
	ans_free(&a);
	/* A script asking the console's API still gets JSON. */
	a = req("GET", "/api/nothing-here", sid, NULL, NULL);
	type = header(&a, "Content-Type");
	cr_assert_eq(a.status, 404);
	cr_assert_not_null(strstr(type, "json"), "%s", type);
	free(type);
	ans_free(&a);
	free(sid);
}

Test(console,
    sends_a_page_without_a_session_to_the_log_in_and_api_calls_get_401)
{
	struct ans a = req("GET", "/", NULL, NULL, NULL);
	char *loc = header(&a, "Location");

	cr_assert_eq(a.status, 303);
	cr_assert_str_eq(loc, "/login");
	free(loc);
	ans_free(&a);
	a = req("GET", "/api/alerts", "00", NULL, NULL);
	cr_assert_eq(a.status, 401);
	ans_free(&a);
}

Test(console,
    lists_a_received_message_and_acknowledges_it_as_the_logged_in_person)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	struct h_agent *social = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *csrf, *hdr, *path, *sid;
	struct ans a;
	json_t *j, *m;
	long st;

	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT",
	    "console", "");
	cr_assert_eq(ak_post(police, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(social, id, 20000, NULL), 1);
	sid = login("asha", "correct+horse+battery", &st);
	cr_assert_not_null(sid, "log-in answered %ld", st);
	a = req("GET", "/api/alerts", sid, NULL, NULL);
	cr_assert_eq(a.status, 200, "%s", a.body);
	j = json_loads(a.body, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 1, "%s",
	    a.body);
	m = json_array_get(json_object_get(j, "messages"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "id")), id);
	json_decref(j);
	ans_free(&a);

	/* Without the token: refused, and nothing acknowledged. */
	path = h_fmt("/api/inbox/%s/ack", id);
	a = req("POST", path, sid, "Content-Type: application/json",
	    "{\"note\":\"x\"}");
	cr_assert_eq(a.status, 403, "%ld %s", a.status, a.body);
	ans_free(&a);
	csrf = csrf_of(sid);
	cr_assert_not_null(csrf);
	hdr = h_fmt("X-CSRF-Token: %s",
	    "0000000000000000000000000000000000"
	    "000000000000000000000000000000");
	a = req("POST", path, sid, hdr, "{}");
	cr_assert_eq(a.status, 403);
	ans_free(&a);
	free(hdr);

	/* A name the browser sends is ignored: the ack is by asha. */
	hdr = h_fmt("X-CSRF-Token: %s", csrf);
	a = req("POST", path, sid, hdr,
	    "{\"note\":\"Seen by MASH\","
	    "\"by\":\"mallory\"}");
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_not_null(strstr(a.body, "\"by\":\"asha\""), "%s", a.body);
	ans_free(&a);
	cr_assert_eq(ak_wait_status(police, id, "acknowledged", NULL, 20000),
	    1);
	free(path);
	path = h_fmt("/v1/messages/%s", id);
	cr_assert_eq(ak_get(police, path, &j), 200);
	body = json_dumps(j, 0);
	cr_assert_not_null(strstr(body, "\"asha\""), "%s", body);
	cr_assert_null(strstr(body, "mallory"), "%s", body);
	free(body);
	json_decref(j);
	a = req("GET", "/api/alerts", sid, NULL, NULL);
	cr_assert_not_null(strstr(a.body, "\"total\":0"), "%s", a.body);
	ans_free(&a);
	free(hdr);
	free(csrf);
	free(path);
	free(sid);
}

Test(console, refuses_an_acknowledgement_by_a_viewer)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	struct h_agent *social = ak_agent(&P, AK_SOCIAL);
	char id[33], *body, *csrf, *hdr, *path, *sid;
	struct ans a;
	long st;

	body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "v", "");
	cr_assert_eq(ak_post(police, "/v1/messages", body, id), 202);
	free(body);
	cr_assert_eq(ak_wait_inbox(social, id, 20000, NULL), 1);
	sid = login("ben", "correct+horse+battery", &st);
	cr_assert_not_null(sid);
	csrf = csrf_of(sid);
	hdr = h_fmt("X-CSRF-Token: %s", csrf);
	path = h_fmt("/api/inbox/%s/ack", id);
	a = req("POST", path, sid, hdr, "{}");
	cr_assert_eq(a.status, 403, "%ld %s", a.status, a.body);
	ans_free(&a);
	cr_assert_eq(ak_wait_health(social, "inbox_unacked", 1, 5000), 1);
	free(hdr);
	free(csrf);
	free(path);
	free(sid);
}

Test(console, logs_out_only_with_the_csrf_token_and_the_session_then_ends)
{
	long st;
	char *sid = login("asha", "correct+horse+battery", &st), *csrf, *body;
	struct ans a;

	cr_assert_not_null(sid);
	a = req("POST", "/logout", sid, NULL, "csrf=wrong");
	cr_assert_eq(a.status, 403);
	ans_free(&a);
	csrf = csrf_of(sid);
	body = h_fmt("csrf=%s", csrf);
	a = req("POST", "/logout", sid, NULL, body);
	cr_assert_eq(a.status, 303);
	ans_free(&a);
	a = req("GET", "/api/session", sid, NULL, NULL);
	cr_assert_eq(a.status, 401);
	ans_free(&a);
	free(body);
	free(csrf);
	free(sid);
}

Test(console, refuses_a_post_from_another_sites_page)
{
	struct ans a =
	    req("POST", "/login", NULL, "Origin: https://evil.example",
	        "name=asha&password=correct+horse+battery");

	cr_assert_eq(a.status, 403);
	cr_assert_null(strstr(a.head, "Set-Cookie"));
	ans_free(&a);
	a = req("POST", "/login", NULL, "Sec-Fetch-Site: cross-site",
	    "name=asha&password=correct+horse+battery");
	cr_assert_eq(a.status, 403);
	cr_assert_null(strstr(a.head, "Set-Cookie"));
	ans_free(&a);
}

static void
setup_short(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	start(2);
}

struct idle_ctx {
	const char *sid;
};

static int
session_gone(void *cls)
{
	struct idle_ctx *c = cls;
	struct ans a =
	    req("GET", "/api/session", c->sid, "X-Haven-Passive: 1", NULL);
	int gone = a.status == 401;

	ans_free(&a);
	return gone;
}

Test(console_idle, ends_a_session_left_idle_past_the_timeout,
    .init = setup_short, .fini = teardown, .timeout = 240)
{
	struct idle_ctx c;
	long st;
	char *sid = login("asha", "correct+horse+battery", &st);

	cr_assert_not_null(sid);
	c.sid = sid;
	cr_assert_eq(session_gone(&c), 0);
	cr_assert_eq(h_wait_until(session_gone, &c, 20000), 1);
	free(sid);
}

/* The console is off unless console_listen is set: no "console" key. */
Test(console_off, is_not_served_when_console_listen_is_unset, .timeout = 240)
{
	char why[600], *ready;
	int rc;

	cr_assert_eq(ak_setup(&P, NULL), 0);
	ready = h_read(ak_agent(&P, AK_SOCIAL)->ready);
	cr_assert_not_null(ready);
	cr_assert_null(strstr(ready, "console"), "%s", ready);
	free(ready);
	rc = ak_stop_and_check(&P, why, sizeof(why));
	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/* A console_key others may read is refused at start-up. */
Test(console_off, refuses_to_start_with_a_console_key_others_can_read,
    .timeout = 240)
{
	char *out = NULL, *extra;
	struct h_agent *a;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	rc = h_sh(&out, 60,
	    "cd %s && openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout console.key "
	    "-out console.crt -days 2 -subj /CN=localhost 2>&1 && "
	    "chmod 644 console.key",
	    P.dir);
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	free(out);
	extra = h_fmt("console_listen = 127.0.0.1:0\nconsole_cert = "
	              "console.crt\nconsole_key = console.key\nconsole_users = "
	              "console.users\n");
	a = h_agent_add(&P, AK_SOCIAL, extra);
	free(extra);
	out = NULL;
	rc = h_sh(&out, 60,
	    "%s --config %s --check-config >/dev/null && "
	    "timeout 20 %s --config %s --foreground",
	    h_bin("haven-agent"), a->conf, h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "%d %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "console.key"), "%s", out);
	free(out);
	h_partnership_destroy(&P);
}

Test(console, gives_the_partnerships_words_for_every_code_people_read)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	json_t *j;

	cr_assert_eq(ak_get(police, "/v1/words", &j), 200);
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(j, "type"),
	                         "CP_PLAN_START")),
	    "Child protection plan started");
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(j, "consent"),
	                         "NOT_SOUGHT")),
	    "Not sought");
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(j, "art9"),
	                         "SAFEGUARDING")),
	    "Safeguarding of children, DPA 2018 Sch. 1 para 18");
	cr_assert_eq(json_object_size(json_object_get(j, "art6")), 5);
	cr_assert_eq(json_object_size(json_object_get(j, "priority")), 3);
	json_decref(j);
	cr_assert_eq(ak_post(police, "/v1/words", "{}", NULL), 405);
}

Test(console, lists_what_the_agreement_lets_the_agency_send_and_to_whom)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	json_t *j, *t;
	size_t i;
	int seen = 0;

	cr_assert_eq(ak_get(police, "/v1/allowed", &j), 200);
	json_array_foreach (json_object_get(j, "types"), i, t) {
		const char *type =
		    json_string_value(json_object_get(t, "type"));
		char *to = json_dumps(json_object_get(t, "to"), JSON_COMPACT);

		cr_assert_null(strstr(to, AK_POLICE), "never to itself: %s",
		    to);
		cr_assert_null(strstr(to, "ig.bristol"), "%s: %s", type, to);
		if (strcmp(type, "DOMESTIC_ABUSE_NOTIFICATION") == 0) {
			cr_assert_str_eq(to,
			    "[\"" AK_SCHOOL "\",\"" AK_SOCIAL "\"]");
			seen = 1;
		}
		cr_assert_str_neq(type, "INFO_REQUEST",
		    "police may not send "
		    "an INFO_REQUEST under the sample agreement");
		free(to);
	}
	cr_assert(seen);
	json_decref(j);
}

Test(console, refuses_a_send_by_a_viewer_and_shows_a_duty_users_field_error)
{
	static const char msg[] =
	    "{\"to\":[\"" AK_POLICE "\"],\"type\":"
	    "\"INFO_REQUEST\",\"priority\":\"URGENT\",\"subject\":{\"nhs\":"
	    "\"943 476 5919\"},\"basis\":{\"consent\":\"NOT_SOUGHT\","
	    "\"art6\":\"PUBLIC_TASK\",\"art9\":\"SAFEGUARDING\","
	    "\"justification\":\"short\",\"decided_by\":\"asha\"},\"child\":"
	    "{\"name\":\"A\"},\"body\":{\"text\":\"x\"}}";
	char *sid, *csrf, *hdr;
	struct ans a;
	long st;

	sid = login("ben", "correct+horse+battery", &st);
	csrf = csrf_of(sid);
	hdr = h_fmt("X-CSRF-Token: %s", csrf);
	a = req("POST", "/api/messages", sid, hdr, msg);
	cr_assert_eq(a.status, 403, "%ld %s", a.status, a.body);
	ans_free(&a);
	free(hdr);
	free(csrf);
	free(sid);
	sid = login("asha", "correct+horse+battery", &st);
	csrf = csrf_of(sid);
	hdr = h_fmt("X-CSRF-Token: %s", csrf);
	a = req("POST", "/api/messages", sid, hdr, msg);
	cr_assert_eq(a.status, 400, "%ld %s", a.status, a.body);
	cr_assert_not_null(strstr(a.body, "\"field\":\"basis.justification\""),
	    "%s", a.body);
	ans_free(&a);
	free(hdr);
	free(csrf);
	free(sid);
}

Test(console, lists_sent_messages_newest_first_with_their_timelines)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	char id1[33], id2[33], *body, *path;
	json_t *j, *m;

	body =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT", "s1", "");
	cr_assert_eq(ak_post(police, "/v1/messages", body, id1), 202);
	free(body);
	body =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE", "s2", "");
	cr_assert_eq(ak_post(police, "/v1/messages", body, id2), 202);
	free(body);
	cr_assert_eq(ak_wait_status(police, id2, "delivered", AK_SOCIAL, 20000),
	    1);
	cr_assert_eq(ak_get(police, "/v1/messages?limit=1", &j), 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 2);
	m = json_array_get(json_object_get(j, "messages"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "id")), id2);
	cr_assert_gt(json_array_size(json_object_get(m, "timeline")), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "next_offset")), 1);
	json_decref(j);
	cr_assert_eq(ak_get(police, "/v1/messages?limit=1&offset=1", &j), 200);
	m = json_array_get(json_object_get(j, "messages"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "id")), id1);
	cr_assert_null(json_object_get(j, "next_offset"));
	json_decref(j);
	path = h_fmt("/v1/messages?limit=0");
	cr_assert_eq(ak_get(police, path, NULL), 400);
	free(path);
}

Test(console, ends_the_sessions_of_a_user_removed_from_the_users_file)
{
	long st;
	char *sid = login("ben", "correct+horse+battery", &st), *out = NULL;
	struct ans a;

	cr_assert_not_null(sid);
	a = req("GET", "/api/session", sid, NULL, NULL);
	cr_assert_eq(a.status, 200);
	ans_free(&a);
	cr_assert_eq(h_sh(&out, 30,
	                 "%s console-user remove ben --users "
	                 "%s/console.users",
	                 h_bin("haven"), P.dir),
	    0, "%s", out);
	free(out);
	a = req("GET", "/api/session", sid, NULL, NULL);
	cr_assert_eq(a.status, 401, "%ld %s", a.status, a.body);
	ans_free(&a);
	free(sid);
}

/* ---- slow-loris --------------------------------------------------------- */

#define PER_IP 32 /* the console's per-address connection cap */

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A raw TCP connection to the console's port, or -1. */
static int
raw_connect(void)
{
	const char *port = strrchr(console_url, ':');
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_port = htons((uint16_t)atoi(port + 1));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * 1 once the server has ended fd: a read gives 0 (its FIN) or an error
 * (its RST), whatever bytes came first.
 */
static int
ended_by_server(int fd, long deadline)
{
	char buf[512];
	ssize_t n;

	for (;;) {
		long left = deadline - mono_ms();
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (left <= 0 || poll(&pf, 1, (int)left) != 1)
			return 0;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}

/*
 * Slow-loris: every connection this address may hold sends part of a TLS
 * ClientHello and then one byte a second, which an idle time-out alone
 * never ends. The console shuts them down when their head is late, so a
 * real HTTPS request is answered (tried until a deadline: while they hold
 * every slot it is refused) and each trickling socket reads its end, all
 * before libmicrohttpd's own connection time-out could have acted.
 */
Test(console, cuts_connections_that_trickle_their_head_and_answers_a_real_one)
{
	/* A record header promising a 256-byte ClientHello, and its type. */
	static const char hello[] = "\x16\x03\x01\x01\x00\x01";
	int fds[PER_IP];
	long deadline, last = 0;
	int answered = 0, tries = 0;

	for (int i = 0; i < PER_IP; i++) {
		cr_assert_geq(fds[i] = raw_connect(), 0, "connect %d: %s", i,
		    strerror(errno));
		cr_assert_eq(send(fds[i], hello, sizeof(hello) - 1,
		                 MSG_NOSIGNAL),
		    (ssize_t)sizeof(hello) - 1);
	}
	/*
	 * Well inside the console's 30 s connection time-out, so only the head
	 * deadline can have ended them.
	 */
	deadline = mono_ms() + 20000;
	while (!answered && mono_ms() < deadline) {
		struct ans a;

		if (mono_ms() - last >= 1000) {
			for (int i = 0; i < PER_IP; i++)
				(void)send(fds[i], "", 1,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
			last = mono_ms();
		}
		a = req("GET", "/login", NULL, NULL, NULL);
		answered = a.status == 200;
		tries++;
		ans_free(&a);
		if (!answered)
			poll(NULL, 0, 100);
	}
	cr_assert(answered,
	    "no answer in %d tries while %d connections "
	    "trickled",
	    tries, PER_IP);
	cr_log_info("answered at try %d", tries);
	for (int i = 0; i < PER_IP; i++) {
		cr_assert(ended_by_server(fds[i], deadline),
		    "trickling connection %d is still open", i);
		close(fds[i]);
	}
}

/* A long request (the event stream) is answered past the head deadline. */
struct stream {
	int keepalives;
	char tail[16];
};

static size_t
on_stream(char *p, size_t sz, size_t n, void *cls)
{
	struct stream *s = cls;

	for (size_t i = 0; i < sz * n; i++)
		if (p[i] == ':' &&
		    (i == 0 ? s->tail[0] == '\n' : p[i - 1] == '\n'))
			s->keepalives++;
	if (sz * n > 0)
		s->tail[0] = p[sz * n - 1];
	/* Two keep-alives: the stream outlived its head's deadline. */
	return s->keepalives >= 2 ? 0 : sz * n;
}

Test(console, keeps_an_event_stream_open_past_the_head_deadline)
{
	struct stream s = { .tail = "\n" };
	long st;
	char *sid = login("asha", "correct+horse+battery", &st), *url, *c;
	CURL *k = curl_easy_init();
	CURLcode rc;

	cr_assert_not_null(sid);
	url = h_fmt("%s/api/events", console_url);
	c = h_fmt("__Host-haven=%s", sid);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(k, CURLOPT_COOKIE, c);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(k);
	cr_assert_eq(rc, CURLE_WRITE_ERROR,
	    "the stream ended before two keep-alives (%d: %s, %d seen)", rc,
	    curl_easy_strerror(rc), s.keepalives);
	curl_easy_cleanup(k);
	free(url);
	free(c);
	free(sid);
}

/*
 * GET /v1/messages pages with the cursor `before`: walking from the first
 * page to the one without `before` gives every sent message once, newest
 * first, while `total` counts them all; a cursor the agent did not give
 * is refused naming the field.
 */
Test(console, pages_through_sent_messages_with_the_before_cursor)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	char ids[5][33], *body, *path, prev_at[64] = "";
	int seen[5] = { 0 }, pages = 0, listed = 0;
	char *before = NULL;
	json_t *j, *m;
	size_t i;

	for (int n = 0; n < 5; n++) {
		char tag[8];

		snprintf(tag, sizeof(tag), "p%d", n);
		body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
		    tag, "");
		cr_assert_eq(ak_post(police, "/v1/messages", body, ids[n]),
		    202);
		free(body);
	}
	do {
		path = before ?
		    h_fmt("/v1/messages?limit=2&before=%s", before) :
		    h_fmt("/v1/messages?limit=2");
		free(before);
		before = NULL;
		cr_assert_eq(ak_get(police, path, &j), 200, "%s", path);
		free(path);
		cr_assert_eq(json_integer_value(json_object_get(j, "total")),
		    5);
		cr_assert_leq(json_array_size(json_object_get(j, "messages")),
		    2);
		json_array_foreach (json_object_get(j, "messages"), i, m) {
			const char *id =
			    json_string_value(json_object_get(m, "id"));
			const char *at = json_string_value(
			    json_object_get(json_array_get(json_object_get(m,
			                                       "timeline"),
			                        0),
			        "at"));
			int k;

			for (k = 0; k < 5 && strcmp(ids[k], id) != 0; k++)
				;
			cr_assert_lt(k, 5, "%s was not sent here", id);
			cr_assert_eq(seen[k]++, 0, "%s listed twice", id);
			cr_assert_not_null(at);
			cr_assert(prev_at[0] == '\0' ||
			        strcmp(at, prev_at) <= 0,
			    "%s queued at %s after %s: not newest first", id,
			    at, prev_at);
			snprintf(prev_at, sizeof(prev_at), "%s", at);
			listed++;
		}
		if (json_string_value(json_object_get(j, "before")) != NULL)
			before = strdup(
			    json_string_value(json_object_get(j, "before")));
		/* next_offset is for offset paging, the first page's alone. */
		cr_assert((pages == 0) ==
		    (json_object_get(j, "next_offset") != NULL));
		json_decref(j);
		pages++;
	} while (before != NULL && pages < 10);
	cr_assert_eq(listed, 5);
	cr_assert_eq(pages, 3);

	cr_assert_eq(ak_get(police, "/v1/messages?before=00ff", &j), 400);
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(j, "error"),
	                         "field")),
	    "before");
	json_decref(j);
	cr_assert_eq(ak_get(police,
	                 "/v1/messages?offset=1&before="
	                 "000000000000000000000000000000000000000000"
	                 "000000",
	                 NULL),
	    400);
}

/* Gives the request body one byte a second, as a slow-body attack does. */
static size_t
trickle_body(char *buf, size_t sz, size_t n, void *cls)
{
	int *sent = cls;

	(void)sz;
	(void)n;
	if ((*sent)++ > 0)
		poll(NULL, 0, 1000);
	buf[0] = 'x';
	return 1;
}

/*
 * A request whose head came at once but whose body trickles a byte a
 * second is cut once the body is late (10 s from the head), long before
 * the client's 25 s limit or its 200-byte body would end it: libmicrohttpd's
 * own idle time-out is reset by every byte.
 */
Test(console, cuts_a_request_whose_body_trickles_in)
{
	char *url = h_fmt("%s/login", console_url);
	CURL *k = curl_easy_init();
	int sent = 0;
	CURLcode rc;

	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(k, CURLOPT_POST, 1L);
	curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE, 200L);
	curl_easy_setopt(k, CURLOPT_READFUNCTION, trickle_body);
	curl_easy_setopt(k, CURLOPT_READDATA, &sent);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, 25L);
	rc = curl_easy_perform(k);
	cr_assert(rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT,
	    "the trickling body was not cut: %d %s after %d bytes", rc,
	    curl_easy_strerror(rc), sent);
	cr_assert_lt(sent, 200);
	curl_easy_cleanup(k);
	free(url);
}

/*
 * A message its sender retracted is shown in the console as the API shows
 * it: its retracted header, never the child or the body — also when a
 * legal hold at social care keeps the message whole for proceedings — and
 * not "No received message has this id." for a message the duty team was
 * just alerted about.
 */
Test(console, shows_a_retracted_message_as_its_header_even_under_a_hold)
{
	struct h_agent *police = ak_agent(&P, AK_POLICE);
	struct h_agent *social = ak_agent(&P, AK_SOCIAL);
	char id[2][33], *body, *path, *sid, *out = NULL;
	struct ans a;
	json_t *j, *m;
	long st;

	for (int i = 0; i < 2; i++) {
		body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT",
		    i ? "Held-5c2e" : "Gone-9d4a", "");
		cr_assert_eq(ak_post(police, "/v1/messages", body, id[i]), 202);
		free(body);
		cr_assert_eq(ak_wait_inbox(social, id[i], 20000, NULL), 1);
	}
	cr_assert_eq(h_sh(&out, 30,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' hold add "
	                 "--message %s --reason 'Care proceedings'",
	                 social->url, social->token_file, h_bin("haven"),
	                 id[1]),
	    0, "%s", out);
	free(out);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(h_sh(&out, 30,
		                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' "
		                 "retract %s --reason MISDIRECTED --decided-by "
		                 "j.smith",
		                 police->url, police->token_file,
		                 h_bin("haven"), id[i]),
		    0, "%s", out);
		free(out);
		cr_assert_eq(ak_wait_status(police, id[i],
		                 "retraction_delivered", AK_SOCIAL, 20000),
		    1, "social care never applied the retraction");
	}
	sid = login("asha", "correct+horse+battery", &st);
	cr_assert_not_null(sid, "log-in answered %ld", st);
	for (int i = 0; i < 2; i++) {
		path = h_fmt("/api/inbox/%s", id[i]);
		a = req("GET", path, sid, NULL, NULL);
		cr_assert_eq(a.status, 200, "%ld %s", a.status, a.body);
		j = json_loads(a.body, 0, NULL);
		cr_assert(json_is_true(json_object_get(j, "retracted")), "%s",
		    a.body);
		m = json_object_get(j, "retraction");
		cr_assert_str_eq(json_string_value(
		                     json_object_get(m, "reason")),
		    "MISDIRECTED");
		cr_assert(json_is_null(json_object_get(j, "child")), "%s",
		    a.body);
		cr_assert(json_is_null(json_object_get(j, "body")), "%s",
		    a.body);
		cr_assert_null(strstr(a.body, i ? "Held-5c2e" : "Gone-9d4a"),
		    "%s", a.body);
		json_decref(j);
		ans_free(&a);
		free(path);
	}
	free(sid);
}
