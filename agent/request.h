/*
 * Request parsing of the agent's HTTP API, apart from the server so that a
 * fuzzer can link it without starting libmicrohttpd (request.c, and the
 * first step of outbox.c). These functions only read their input: no
 * store, no directory, no logging (a body may hold a child's details).
 */
#ifndef HAVEN_AGENT_REQUEST_H
#define HAVEN_AGENT_REQUEST_H

#include <stddef.h>

#include <jansson.h>

#include "hv_envelope.h"
#include "hv_err.h"

struct agent;

/*
 * Parses len bytes of a request body as one JSON object (duplicate keys
 * refused). Returns a new reference the caller releases, or NULL with the
 * detail set to a sentence that names the line and column but never quotes
 * the client's text. Errors (in d): HV_EBADREQUEST.
 */
json_t *request_body_parse(const char *buf, size_t len, struct hv_errdetail *d);

/*
 * Checks the body of POST /v1/inbox/ID/ack: only `by` (required) and `note`
 * (optional string or null). On success *by and *note (NULL when absent)
 * point into j and live as long as it does.
 * Errors: HV_EBADREQUEST (detail names the member).
 */
hv_err request_ack_parse(json_t *j, const char **by, const char **note,
    struct hv_errdetail *d);

/*
 * The first step of outbox_submit, which touches nothing but its
 * arguments: checks a POST /v1/messages (decision = 0) or /v1/decisions
 * (decision = 1) body and builds the envelope header into *env (id, sender
 * from a->cfg.id, created, recipients, type, priority, subject pseudonym
 * with a->subject_key, basis, reply_to, flags), the normalised subject
 * into norm (ncap bytes) and the deadline into *deadline (a new reference
 * or NULL, which the caller releases whatever is returned).
 * Errors: HV_EBADREQUEST, HV_EBADSUBJECT, HV_EBASIS, HV_ENOMEM (detail
 * names the member).
 */
hv_err outbox_parse_request(struct agent *a, json_t *req, int decision,
    hv_envelope *env, char *norm, size_t ncap, json_t **deadline,
    struct hv_errdetail *d);

#endif
