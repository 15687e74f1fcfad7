/*
 * The broker never sees a payload, a child's name, an NHS number or a
 * justification in clear (SPEC §4.2, §9, §11): after real messages have
 * gone through, no canary of them is in the broker's store files, its log,
 * or `haven audit export` without the IG key; the agents' stores and logs
 * hold none either (their stores keep envelopes, which are ciphertext).
 * The IG officer's key does open the justification, locally and remotely.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent_kit.h"

#define CANARY_JUST "Canary-Justification-Kx7"
#define CANARY_NAME "Zebedee-Marker"

/* What must never be found, with what it stands for. */
static const char *const secrets[] = {
	CANARY_NAME, /* in the child's name and the justification */
	"Body " CANARY_NAME, /* in the body */
	CANARY_JUST, /* the justification */
	"9434765919", /* the NHS number, normalised */
	"943 476 5919", /* as typed into the subject */
	"943-476-5919", /* with dashes, in the body */
	"943.476.5919", /* with dots, in the justification */
	"943\t476\t5919", /* with tabs, in the justification */
	"628 1948 211", /* another child, grouped oddly */
};

/* The justification: the canary and the identifiers SPEC §4.2 keeps out. */
#define JUSTIFICATION \
	CANARY_JUST \
	": " CANARY_NAME " (NHS 943.476.5919, " \
	"943\\t476\\t5919, sibling 628 1948 211); seeking consent would " \
	"place the child at risk."

/* Reads a whole binary file; *len its size. NULL when unreadable. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (fp == NULL)
		return NULL;
	for (;;) {
		if (*len + 65536 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);
			cr_assert_not_null(nb);
			buf = nb;
		}
		size_t n = fread(buf + *len, 1, 65536, fp);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(fp);
	return buf;
}

/* Asserts that no secret occurs in buf; what names it in a failure. */
static void
assert_buf_clean(const char *buf, size_t len, const char *what)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		cr_expect(memmem(buf, len, secrets[i], strlen(secrets[i])) ==
		        NULL,
		    "\"%s\" found in %s", secrets[i], what);
}

/* Asserts that no secret occurs in the file at path, which must exist. */
static void
assert_clean(const char *path)
{
	size_t len;
	char *buf = slurp(path, &len);

	cr_assert_not_null(buf, "cannot read %s: nothing was checked", path);
	cr_assert_gt(len, 0, "%s is empty: nothing was checked", path);
	assert_buf_clean(buf, len, path);
	free(buf);
}

/* Asserts no file directly in dir holds a secret; returns how many. */
static int
assert_dir_clean(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *p = h_fmt("%s/%s", dir, e->d_name);
		size_t len;
		char *buf = slurp(p, &len);

		if (buf != NULL) {
			assert_buf_clean(buf, len, p);
			n++;
		}
		free(buf);
		free(p);
	}
	closedir(d);
	return n;
}

/* Runs `haven ARGS`; returns its output (stdout and stderr), exit 0. */
static char *
haven_ok(const char *args)
{
	char *out = NULL;
	int rc = h_sh(&out, 60, "'%s' %s", h_bin("haven"), args);

	cr_assert_eq(rc, 0, "haven %s exited %d: %s", args, rc, out ? out : "");
	return out;
}

Test(privacy, no_child_identifier_or_justification_reaches_the_broker,
    .timeout = 240)
{
	struct h_partnership P;
	struct h_agent *police, *school, *social;
	char id1[33], id2[33], id3[33];
	char *msg, *out, *args, *key;

	cr_assert_eq(ak_setup(&P, NULL), 0);
	police = ak_agent(&P, AK_POLICE);
	school = ak_agent(&P, AK_SCHOOL);
	social = ak_agent(&P, AK_SOCIAL);
	key = h_fmt("%s/keys/ig.bristol.key", P.dir);

	msg = h_fmt(
	    "{\"to\":[\"" AK_SCHOOL "\",\"" AK_SOCIAL "\"],"
	    "\"type\":\"DOMESTIC_ABUSE_NOTIFICATION\",\"priority\":\"URGENT\","
	    "\"subject\":{\"nhs\":\"943 476 5919\"},\"basis\":{\"consent\":"
	    "\"NOT_SOUGHT\",\"art6\":\"PUBLIC_TASK\",\"art9\":\"SAFEGUARDING\","
	    "\"justification\":\"" JUSTIFICATION "\",\"decided_by\":"
	    "\"ppu.sgt-khan\"},\"child\":{\"name\":\"Child " CANARY_NAME "\","
	    "\"dob\":\"2016-03-02\"},\"body\":{\"summary\":\"Body " CANARY_NAME
	    "\",\"nhs\":\"943-476-5919\"},"
	    "\"flags\":[\"do_not_contact_family\"]}");
	cr_assert_eq(ak_post(police, "/v1/messages", msg, id1), 202);
	free(msg);
	msg = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT",
	    CANARY_NAME, "");
	cr_assert_eq(ak_post(school, "/v1/messages", msg, id2), 202);
	free(msg);
	/* A decision not to share carries a sealed justification too. */
	cr_assert_eq(
	    ak_post(school, "/v1/decisions",
	        "{\"type\":"
	        "\"REFERRAL\",\"subject\":{\"nhs\":\"9434765919\"},\"basis\":"
	        "{\"consent\":\"REFUSED\",\"art6\":\"PUBLIC_TASK\","
	        "\"justification\":\"" JUSTIFICATION "\",\"decided_by\":"
	        "\"dsl.jones\"},\"outcome\":\"NOT_SHARED\"}",
	        id3),
	    202);

	/* The recipients can read it: the markers really were in the payload. */
	json_t *got = NULL;
	cr_assert_eq(ak_wait_inbox(social, id1, 30000, &got), 1);
	cr_assert(
	    strstr(json_string_value(
	               json_object_get(json_object_get(got, "child"), "name")),
	        CANARY_NAME) != NULL);
	/* ...but not the justification, sealed to the ig.* nodes only. */
	msg = json_dumps(got, 0);
	cr_assert_null(strstr(msg, CANARY_JUST), "%s", msg);
	cr_assert_not_null(strstr(msg, "ig.bristol"), "%s", msg);
	free(msg);
	json_decref(got);
	cr_assert_eq(ak_wait_inbox(social, id2, 30000, NULL), 1);
	cr_assert_eq(ak_wait_status(police, id1, "delivered", AK_SCHOOL, 30000),
	    1);
	cr_assert_eq(ak_wait_status(school, id3, "accepted", NULL, 30000), 1);
	args = h_fmt("/v1/inbox/%s/ack", id1);
	cr_assert_eq(ak_post(social, args, "{\"by\":\"mash.duty-sw\"}", NULL),
	    200);
	free(args);
	cr_assert_eq(ak_wait_status(police, id1, "acknowledged", NULL, 30000),
	    1);

	/* The IG key opens it remotely, from the running broker. */
	args = h_fmt("audit query --broker %s --key '%s' --directory '%s' "
	             "--message %s --format json",
	    P.endpoint, key, P.directory, id1);
	out = haven_ok(args);
	cr_assert_not_null(strstr(out, CANARY_JUST), "remote query: %s", out);
	free(out);
	free(args);

	/* Stop everything so every store is flushed and every log complete. */
	h_partnership_stop(&P);

	cr_assert_gt(assert_dir_clean(P.broker_data), 0,
	    "the broker's store is empty: nothing was checked");
	assert_clean(P.broker_log);
	for (int i = 0; i < P.n_agents; i++) {
		char *data = h_fmt("%s/data/%s", P.dir, P.agents[i].id);

		cr_assert_gt(assert_dir_clean(data), 0,
		    "%s holds no store: "
		    "nothing was checked",
		    data);
		assert_clean(P.agents[i].log);
		free(data);
	}

	/* Without the key, an export shows "(sealed)" and no identifier. */
	args = h_fmt("audit export --db '%s' --since 2020-01-01 --until "
	             "2099-12-31 --format json",
	    P.broker_data);
	out = haven_ok(args);
	assert_buf_clean(out, strlen(out), "audit export");
	cr_assert_not_null(strstr(out, "(sealed)"), "%s", out);
	cr_assert_not_null(strstr(out, id1), "the export lacks the share");
	free(out);
	free(args);
	args = h_fmt("audit export --db '%s' --since 2020-01-01 --until "
	             "2099-12-31 --format csv",
	    P.broker_data);
	out = haven_ok(args);
	assert_buf_clean(out, strlen(out), "audit export (csv)");
	free(out);
	free(args);

	/* With an ig.* key, query, export and prove open it. */
	args = h_fmt("audit query --db '%s' --key '%s' --message %s "
	             "--format json",
	    P.broker_data, key, id1);
	out = haven_ok(args);
	cr_assert_not_null(strstr(out, CANARY_JUST), "query --key: %s", out);
	free(out);
	free(args);
	args = h_fmt("audit query --db '%s' --key '%s' --message %s "
	             "--format json",
	    P.broker_data, key, id3);
	out = haven_ok(args);
	cr_assert_not_null(strstr(out, CANARY_JUST), "decision: %s", out);
	free(out);
	free(args);
	args = h_fmt("audit export --db '%s' --key '%s' --since 2020-01-01 "
	             "--until 2099-12-31 --format csv",
	    P.broker_data, key);
	out = haven_ok(args);
	cr_assert_not_null(strstr(out, CANARY_JUST), "export --key: %s", out);
	free(out);
	free(args);
	args = h_fmt("audit prove %s --db '%s' --key '%s'", id1, P.broker_data,
	    key);
	out = haven_ok(args);
	cr_assert_not_null(strstr(out, CANARY_JUST), "prove --key: %s", out);
	free(out);
	free(args);
	args = h_fmt("audit prove %s --db '%s'", id1, P.broker_data);
	out = haven_ok(args);
	assert_buf_clean(out, strlen(out), "audit prove");
	cr_assert_not_null(strstr(out, "(sealed)"), "%s", out);
	free(out);
	free(args);

	/* Another node's key opens nothing. */
	args = h_fmt("audit query --db '%s' --key '%s/keys/police.avon.key' "
	             "--message %s --format json",
	    P.broker_data, P.dir, id1);
	out = haven_ok(args);
	assert_buf_clean(out, strlen(out), "audit query with police's key");
	free(out);
	free(args);
	free(key);
	h_partnership_destroy(&P);
}
