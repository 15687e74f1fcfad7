/*
 * The messaging commands' client of the agent's local HTTP/JSON API
 * (docs/API.md): one libcurl handle, the bearer token, and the mapping of
 * the agent's answers to hv_err and one sentence for a person.
 *
 * The token is a secret: it lives in sodium_malloc'd memory and is wiped
 * when the client is destroyed. Nothing here prints child details; the
 * error sentences come from the agent, whose messages never contain them.
 */
#ifndef HV_CLI_HTTP_H
#define HV_CLI_HTTP_H

#include <curl/curl.h>
#include <jansson.h>

#include "hv_err.h"

typedef struct api api_t;

/*
 * Reads the token from token_file (surrounding whitespace stripped) and
 * prepares a client of the agent at url ("http://127.0.0.1:7501", a
 * trailing slash is ignored). On success *out is a new client the caller
 * frees with api_destroy().
 * Errors: HV_EUSAGE (url is not http(s)://, token file too large or
 * empty; d says which and what to do), HV_EIO (the token file cannot be
 * read), HV_ENOMEM.
 */
hv_err api_new(const char *url, const char *token_file, api_t **out,
    struct hv_errdetail *d);

/* Wipes the token and frees the client; accepts NULL and NULLs *a. */
void api_destroy(api_t **a);

/* The agent's base URL as given (without a trailing slash). */
const char *api_url(const api_t *a);

/*
 * Sends METHOD base+path with body (may be NULL) as JSON and waits at most
 * 30 s. On a 2xx answer *resp is the parsed JSON the caller decrefs.
 * Errors, each with one sentence in d (naming the field when the agent
 * did, and the agent's code): HV_EUNREACHABLE (connection failed),
 * HV_EUNAUTHORIZED (401: the token was refused), HV_EBADREQUEST (400
 * BAD_REQUEST, a usage problem), the hv_err of the agent's code for other
 * refusals (POLICY_DENIED, BASIS_INVALID, INVALID_SUBJECT, NOT_FOUND,
 * TOO_LARGE, …), HV_EIO (5xx or an answer that is not JSON), HV_ENOMEM.
 */
hv_err api_call(api_t *a, const char *method, const char *path,
    const json_t *body, json_t **resp, struct hv_errdetail *d);

/*
 * A new easy handle for a long-lived GET of base+path (the SSE stream):
 * token header, no overall time-out, a stall of more than 45 s without a
 * byte (the agent sends a keep-alive every 15 s) counts as a drop. The
 * caller sets the write callback and frees the handle with
 * api_stream_free(). NULL when out of memory.
 */
CURL *api_stream_new(api_t *a, const char *path);
void api_stream_free(CURL **h);

/*
 * Maps a finished request's outcome to hv_err and a sentence in d, as
 * api_call does: cres the transfer result, status the HTTP status, body
 * the (possibly NULL) answer, errbuf libcurl's error text (may be "").
 */
hv_err api_outcome(api_t *a, CURLcode cres, long status, const char *body,
    const char *errbuf, struct hv_errdetail *d);

#endif
