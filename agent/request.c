/*
 * The pure parsing of the agent API's request bodies (SPEC §7, docs/API.md):
 * a JSON body read into an object, and an ack's members checked. Nothing
 * here touches the HTTP server, the store or the directory, so the API and
 * the request fuzzer (tests/fuzz/fuzz_request.c) share one copy. Messages
 * and decisions are checked by outbox_parse_request in outbox.c.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "hv_policy.h"
#include "request.h"

/*
 * jansson's reason ("too big integer", "duplicate object key", "maximum
 * parsing depth reached") without the " near 'TOKEN'" it appends: the
 * token is the client's text, which may be a child's details.
 */
static void
json_error_why(const json_error_t *jerr, char *out, size_t cap)
{
	const char *near = strstr(jerr->text, " near ");
	size_t n = near ? (size_t)(near - jerr->text) : strlen(jerr->text);

	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)jerr->text[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, cap, "unreadable");
}

json_t *
request_body_parse(const char *buf, size_t len, struct hv_errdetail *d)
{
	json_error_t jerr;
	json_t *j;

	if (len == 0) {
		hv_errset(d, HV_EBADREQUEST, NULL,
		    "The request needs a JSON "
		    "object as its body.");
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		char why[sizeof(jerr.text)];

		json_error_why(&jerr, why, sizeof(why));
		hv_errset(d, HV_EBADREQUEST, NULL,
		    "The body is not valid "
		    "JSON (line %d, column %d: %s); send one JSON object.",
		    jerr.line, jerr.column, why);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		hv_errset(d, HV_EBADREQUEST, NULL,
		    "The body must be a JSON "
		    "object.");
		return NULL;
	}
	return j;
}

hv_err
request_ack_parse(json_t *j, const char **byp, const char **notep,
    struct hv_errdetail *d)
{
	const char *by, *note = NULL, *k;
	json_t *v;
	hv_err e;

	json_object_foreach (j, k, v) {
		if (k[0] == '\0') {
			e = hv_errset(d, HV_EBADREQUEST, NULL,
			    "The ack has a "
			    "member with an empty name (\"\"); it takes by "
			    "and note.");
			goto fail;
		}
		if (strcmp(k, "by") != 0 && strcmp(k, "note") != 0) {
			e = hv_errset(d, HV_EBADREQUEST, k,
			    "%.40s is not a "
			    "member of an ack; it takes by and note.",
			    k);
			goto fail;
		}
	}
	/*
	 * `by` reaches the broker's audit log, which never names a child, so
	 * it is a staff identifier like decided_by (SPEC §4.2).
	 */
	by = json_string_value(json_object_get(j, "by"));
	if ((e = hv_policy_check_staff_id(by, "by", HV_EBADREQUEST, d)) !=
	    HV_OK)
		goto fail;
	v = json_object_get(j, "note");
	if (v != NULL && !json_is_null(v)) {
		note = json_string_value(v);
		if (note == NULL || strlen(note) > 1000) {
			e = hv_errset(d, HV_EBADREQUEST, "note",
			    "note must be "
			    "a string of at most 1000 characters.");
			goto fail;
		}
	}
	*byp = by;
	*notep = note;
	return HV_OK;
fail:
	return e;
}
