/*
 * The broker never sees a payload in clear (SPEC §11): after real messages
 * have gone through, no byte of a child's name, a message body or an NHS
 * number is in the broker's store or in any daemon's log, and the agents'
 * stores hold only ciphertext too.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent_kit.h"

static const char *const secrets[] = {
	"Zebedee-Marker",	/* in the child's name */
	"Body Zebedee",		/* in the body */
	"9434765919",		/* the NHS number, normalised */
	"943 476 5919",		/* and as typed */
};

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

/* Asserts that no secret occurs in the file at path. */
static void
assert_clean(const char *path)
{
	size_t len;
	char *buf = slurp(path, &len);

	if (buf == NULL)
		return;
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		cr_expect(memmem(buf, len, secrets[i], strlen(secrets[i])) ==
		    NULL, "\"%s\" found in %s", secrets[i], path);
	free(buf);
}

/* Asserts that no file directly in dir holds a secret. */
static int
assert_dir_clean(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *p = h_fmt("%s/%s", dir, e->d_name);
		assert_clean(p);
		free(p);
		n++;
	}
	closedir(d);
	return n;
}

Test(privacy, no_child_detail_reaches_any_store_or_log, .timeout = 180)
{
	struct h_partnership P;
	struct h_agent *police, *school, *social;
	char id1[33], id2[33];
	char *msg;

	cr_assert_eq(ak_setup(&P, NULL), 0);
	police = ak_agent(&P, AK_POLICE);
	school = ak_agent(&P, AK_SCHOOL);
	social = ak_agent(&P, AK_SOCIAL);

	msg = ak_message("[\"" AK_SCHOOL "\",\"" AK_SOCIAL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "Zebedee-Marker",
	    ",\"flags\":[\"do_not_contact_family\"]");
	cr_assert_eq(ak_post(police, "/v1/messages", msg, id1), 202);
	free(msg);
	msg = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "URGENT",
	    "Zebedee-Marker", "");
	cr_assert_eq(ak_post(school, "/v1/messages", msg, id2), 202);
	free(msg);

	/* The recipients can read it: the markers really were in the payload. */
	json_t *got = NULL;
	cr_assert_eq(ak_wait_inbox(social, id1, 30000, &got), 1);
	cr_assert(strstr(json_string_value(json_object_get(json_object_get(
	    got, "child"), "name")), "Zebedee-Marker") != NULL);
	json_decref(got);
	cr_assert_eq(ak_wait_inbox(social, id2, 30000, NULL), 1);
	cr_assert_eq(ak_wait_status(police, id1, "delivered", AK_SCHOOL,
	    30000), 1);

	/* Stop everything so every store is flushed and every log complete. */
	h_partnership_stop(&P);

	cr_assert_gt(assert_dir_clean(P.broker_data), 0,
	    "the broker's store is empty: nothing was checked");
	assert_clean(P.broker_log);
	for (int i = 0; i < P.n_agents; i++) {
		char *data = h_fmt("%s/data/%s", P.dir, P.agents[i].id);
		assert_dir_clean(data);
		assert_clean(P.agents[i].log);
		free(data);
	}
	h_partnership_destroy(&P);
}
