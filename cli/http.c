/*
 * The messaging commands' HTTP client of the local agent (docs/API.md).
 *
 * One rule, one place: the CLI checks only the shape of its own command
 * line, and the agent decides policy and lawful basis. This file turns the
 * agent's refusals into one sentence naming the field and the code, and
 * into the exit status of SPEC §8 through hv_err.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "http.h"
#include "hv_util.h"

#define API_TOKEN_MAX 4096
#define API_BODY_MAX (64u << 20) /* larger answers are refused */

struct api {
	char url[512];
	char token_file[1024];
	char *auth; /* "Authorization: Bearer …", sodium_malloc */
	struct curl_slist *hdr;
	CURL *curl;
	int global; /* curl_global_init() was called */
};

struct buf {
	char *data;
	size_t len;
};

static size_t
collect(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t add = size * n;
	char *nd;

	if (b->len + add > API_BODY_MAX)
		return 0;
	if ((nd = realloc(b->data, b->len + add + 1)) == NULL)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* Reads the token file into a new sodium_malloc'd header line. */
static hv_err
load_token(api_t *a, const char *path, struct hv_errdetail *d)
{
	static const char prefix[] = "Authorization: Bearer ";
	uint8_t *raw = NULL;
	size_t len = 0, s = 0, e;
	hv_err err = HV_OK;

	errno = 0;
	if (hv_read_file(path, API_TOKEN_MAX, &raw, &len) != 0 &&
	    errno == EFBIG)
		return hv_errset(d, HV_EUSAGE, "token_file",
		    "the token file %s is too large or not a regular file; set "
		    "--token-file or $HAVEN_TOKEN_FILE to the agent's "
		    "token_file",
		    path);
	if (raw == NULL)
		return hv_errset(d, HV_EIO, "token_file",
		    "cannot read the token file %s: %s; set --token-file or "
		    "$HAVEN_TOKEN_FILE to the agent's token_file.",
		    path,
		    errno == EISDIR ? "it is a folder, not a file" :
		                      strerror(errno != 0 ? errno : EIO));
	e = len;
	while (s < e && isspace(raw[s]))
		s++;
	while (e > s && isspace(raw[e - 1]))
		e--;
	if (s == e) {
		err = hv_errset(d, HV_EUSAGE, "token_file",
		    "the token file %s is empty; set --token-file or "
		    "$HAVEN_TOKEN_FILE to the agent's token_file",
		    path);
		goto out;
	}
	for (size_t i = s; i < e; i++)
		if (raw[i] < 0x21 || raw[i] > 0x7e) {
			err = hv_errset(d, HV_EUSAGE, "token_file",
			    "the token file %s holds more than one token; it "
			    "must hold the agent's token on one line",
			    path);
			goto out;
		}
	if ((a->auth = sodium_malloc(sizeof(prefix) + (e - s))) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	memcpy(a->auth, prefix, sizeof(prefix) - 1);
	memcpy(a->auth + sizeof(prefix) - 1, raw + s, e - s);
	a->auth[sizeof(prefix) - 1 + (e - s)] = '\0';
out:
	sodium_memzero(raw, len);
	free(raw);
	return err;
}

hv_err
api_new(const char *url, const char *token_file, api_t **out,
    struct hv_errdetail *d)
{
	api_t *a;
	size_t n;
	hv_err err;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return hv_errset(d, HV_EUSAGE, "agent",
		    "the agent URL '%s' does not start with http://; give it "
		    "as http://127.0.0.1:PORT",
		    url);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return HV_ENOMEM;
	if (hv_strlcpy_checked(a->url, url, sizeof(a->url)) != 0 ||
	    hv_strlcpy_checked(a->token_file, token_file,
	        sizeof(a->token_file)) != 0) {
		free(a);
		return hv_errset(d, HV_EUSAGE, NULL,
		    "the agent URL or token file name is too long");
	}
	n = strlen(a->url);
	while (n > 0 && a->url[n - 1] == '/')
		a->url[--n] = '\0';
	if ((err = load_token(a, token_file, d)) != HV_OK) {
		free(a);
		return err;
	}
	/* Counted by libcurl: api_destroy() balances it. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		sodium_free(a->auth);
		free(a);
		return HV_ENOMEM;
	}
	a->global = 1;
	a->hdr = curl_slist_append(NULL, a->auth);
	if (a->hdr != NULL)
		a->hdr =
		    curl_slist_append(a->hdr, "Content-Type: application/json");
	if (a->hdr == NULL || (a->curl = curl_easy_init()) == NULL) {
		api_destroy(&a);
		return HV_ENOMEM;
	}
	*out = a;
	return HV_OK;
}

void
api_destroy(api_t **ap)
{
	api_t *a;

	if (ap == NULL || (a = *ap) == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	curl_slist_free_all(a->hdr);
	sodium_free(a->auth); /* wipes */
	if (a->global)
		curl_global_cleanup();
	free(a);
	*ap = NULL;
}

const char *
api_url(const api_t *a)
{
	return a->url;
}

/* Options every request to the agent has. */
static void
common_opts(api_t *a, CURL *c, const char *path, char *errbuf)
{
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", a->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->hdr);
	/* The agent listens on loopback: a proxy would only get in the way. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = '\0';
}

/*
 * The words a person at the command line knows for an API field: the
 * option they typed, or "recipient N (ID)" for to[N-1] with the id from
 * req (the request sent; may be NULL). *names is set to a phrase that,
 * found in the agent's sentence, shows it already names the thing (NULL
 * when none). Returns 0, or -1 when the field has no plainer name.
 */
static int
field_label(const char *field, const json_t *req, char *out, size_t cap,
    const char **names)
{
	static const struct {
		const char *field, *label, *names;
	} map[] = {
		{ "to", "--to", NULL },
		{ "type", "--type", NULL },
		{ "priority", "--priority", NULL },
		{ "subject", "the child's identifier", NULL },
		{ "subject.nhs", "--subject-nhs", "NHS number" },
		{ "subject.local", "--subject-local", "local id" },
		{ "basis.consent", "--consent", NULL },
		{ "basis.art6", "--art6", NULL },
		{ "basis.art9", "--art9", NULL },
		{ "basis.justification", "--justification", NULL },
		{ "basis.decided_by", "--decided-by", NULL },
		{ "reply_to", "--reply-to", NULL },
		{ "deadline", "--deadline", NULL },
		{ "do_not_contact_family", "--do-not-contact-family", NULL },
		{ "outcome", "--outcome", NULL },
		{ "by", "--by", NULL },
		{ "note", "--note", NULL },
		{ "child", "--child-file", NULL },
		{ "body", "--body", NULL },
	};
	const char *id;
	char *end;
	unsigned long i;

	*names = NULL;
	if (strncmp(field, "to[", 3) == 0) {
		i = strtoul(field + 3, &end, 10);
		if (end == field + 3 || strcmp(end, "]") != 0)
			return -1;
		id = json_string_value(
		    json_array_get(json_object_get(req, "to"), i));
		if (id != NULL) {
			snprintf(out, cap, "recipient %lu (%.64s)", i + 1, id);
			*names = id;
		} else
			snprintf(out, cap, "recipient %lu", i + 1);
		return 0;
	}
	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (strcmp(field, map[k].field) == 0) {
			snprintf(out, cap, "%s", map[k].label);
			*names = map[k].names;
			return 0;
		}
	return -1;
}

/*
 * Copies the agent's sentence msg into the detail's message, ending it
 * with " (CODE).". The API's field path (to[0], basis.art6) means nothing
 * to a person, so the sentence says it in the words of the command line:
 * a leading "to[0]" becomes "recipient 1 (ID)"; a sentence that already
 * names the thing is left alone; any other is prefixed with the label.
 * d->field keeps the API's path for --json and scripts.
 */
static hv_err
refusal(struct hv_errdetail *d, hv_err e, const char *code, const char *field,
    const char *msg, const json_t *req)
{
	char m[320], label[96];
	const char *rest, *names = NULL;
	size_t n, fl;

	snprintf(m, sizeof(m), "%s",
	    msg != NULL && *msg ? msg : hv_strerror(e));
	n = strlen(m);
	while (n > 0 && (m[n - 1] == '.' || m[n - 1] == ' '))
		m[--n] = '\0';
	if (field == NULL || *field == '\0')
		return hv_errset(d, e, field, "%s (%s).", m, code);
	fl = strlen(field);
	if (field_label(field, req, label, sizeof(label), &names) != 0)
		snprintf(label, sizeof(label), "%s", field);
	rest = m;
	if (strncmp(m, field, fl) == 0 && m[fl] == ' ')
		return hv_errset(d, e, field, "%s%s (%s).", label, m + fl,
		    code);
	if (strncmp(m, field, fl) == 0 && m[fl] == ':')
		for (rest = m + fl + 1; *rest == ' '; rest++)
			;
	if (names != NULL && strstr(rest, names) != NULL)
		return hv_errset(d, e, field, "%s (%s).", rest, code);
	return hv_errset(d, e, field, "%s: %s (%s).", label, rest, code);
}

/* api_outcome() for a request whose JSON body was req (may be NULL). */
static hv_err
outcome(api_t *a, CURLcode cres, long status, const char *body,
    const char *errbuf, const json_t *req, struct hv_errdetail *d)
{
	json_t *j = NULL, *err;
	const char *code = NULL, *field = NULL, *msg = NULL;
	hv_err e;

	if (cres != CURLE_OK)
		return hv_errset(d, HV_EUNREACHABLE, NULL,
		    "cannot reach the agent at %s: %s; is haven-agent "
		    "running, and is --agent or $HAVEN_AGENT its listen "
		    "address?",
		    a->url,
		    errbuf != NULL && *errbuf ? errbuf :
		                                curl_easy_strerror(cres));
	if (status >= 200 && status < 300)
		return HV_OK;
	if (body != NULL)
		j = json_loads(body, 0, NULL);
	err = json_object_get(j, "error");
	code = json_string_value(json_object_get(err, "code"));
	field = json_string_value(json_object_get(err, "field"));
	msg = json_string_value(json_object_get(err, "message"));
	if (status == 401) {
		e = hv_errset(d, HV_EUNAUTHORIZED, NULL,
		    "the agent at %s refused the API token from %s "
		    "(UNAUTHORIZED); point --token-file or $HAVEN_TOKEN_FILE "
		    "at this agent's token_file",
		    a->url, a->token_file);
		goto out;
	}
	e = code != NULL ? hv_errfromname(code) : HV_ESYS;
	if (status >= 500 && e != HV_ESTORAGEFULL) {
		e = hv_errset(d, HV_EIO, NULL,
		    "the agent at %s could not complete the request (HTTP %ld "
		    "%s: %s); nothing was changed, see the agent's log",
		    a->url, status, code ? code : "", msg ? msg : "no detail");
		goto out;
	}
	if (e == HV_ESYS || e == HV_EUSAGE)
		e = status == 404 ? HV_ENOTFOUND : HV_EBADREQUEST;
	e = refusal(d, e, code ? code : hv_errname(e), field, msg, req);
out:
	json_decref(j);
	return e;
}

hv_err
api_outcome(api_t *a, CURLcode cres, long status, const char *body,
    const char *errbuf, struct hv_errdetail *d)
{
	return outcome(a, cres, status, body, errbuf, NULL, d);
}

hv_err
api_call(api_t *a, const char *method, const char *path, const json_t *body,
    json_t **resp, struct hv_errdetail *d)
{
	char errbuf[CURL_ERROR_SIZE + 1];
	struct buf b = { NULL, 0 };
	char *text = NULL;
	long status = 0;
	CURLcode cres;
	json_t *j;
	hv_err e;

	curl_easy_reset(a->curl);
	common_opts(a, a->curl, path, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &b);
	if (body != NULL) {
		if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
			return HV_ENOMEM;
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(text));
	}
	cres = curl_easy_perform(a->curl);
	if (cres == CURLE_OK)
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if ((e = outcome(a, cres, status, b.data, errbuf, body, d)) != HV_OK)
		goto out;
	if (b.data == NULL ||
	    (j = json_loadb(b.data, b.len, 0, NULL)) == NULL) {
		e = hv_errset(d, HV_EIO, NULL,
		    "the agent at %s answered %s %s with something that is "
		    "not JSON; is that address really haven-agent?",
		    a->url, method, path);
		goto out;
	}
	*resp = j;
out:
	if (text != NULL) {
		/* A request may carry child details: do not leave them. */
		sodium_memzero(text, strlen(text));
		free(text);
	}
	if (b.data != NULL) {
		sodium_memzero(b.data, b.len);
		free(b.data);
	}
	return e;
}

CURL *
api_stream_new(api_t *a, const char *path)
{
	/* libcurl keeps a pointer to the error buffer: give it its own. */
	char *errbuf = calloc(1, CURL_ERROR_SIZE + 1);
	CURL *c;

	if (errbuf == NULL)
		return NULL;
	if ((c = curl_easy_init()) == NULL) {
		free(errbuf);
		return NULL;
	}
	common_opts(a, c, path, errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 45L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	return c;
}

void
api_stream_free(CURL **h)
{
	char *errbuf = NULL;

	if (h == NULL || *h == NULL)
		return;
	curl_easy_getinfo(*h, CURLINFO_PRIVATE, &errbuf);
	curl_easy_cleanup(*h);
	free(errbuf);
	*h = NULL;
}
