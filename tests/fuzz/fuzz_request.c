/*
 * libFuzzer harness for the agent API's request bodies (SPEC §7): the bytes
 * are the body of a POST, read as JSON by request_body_parse exactly as the
 * API does, then checked as a message (POST /v1/messages), as a decision
 * (POST /v1/decisions) and as an ack (POST /v1/inbox/ID/ack). A request
 * that passes must name a node id as its sender and hold NUL-terminated
 * header fields, or the harness aborts. No HTTP server runs; the agent is
 * a bare struct holding only the node id and subject key these read.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/request/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_config.h"
#include "hv_subject.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct agent *
fuzz_agent(void)
{
	static struct agent a;
	static char id[] = "police.avon";

	if (a.subject_key != NULL)
		return &a;
	if (sodium_init() < 0 || (a.subject_key = sodium_malloc(32)) == NULL)
		abort();
	memset(a.subject_key, 0x5a, 32);
	a.cfg.id = id;
	return &a;
}

static void
check(const hv_envelope *env)
{
	if (!hv_node_id_valid(env->sender) ||
	    memchr(env->type, '\0', sizeof(env->type)) == NULL ||
	    memchr(env->priority, '\0', sizeof(env->priority)) == NULL ||
	    memchr(env->basis.justification, '\0',
	        sizeof(env->basis.justification)) == NULL ||
	    memchr(env->basis.decided_by, '\0',
	        sizeof(env->basis.decided_by)) == NULL)
		abort();
	for (size_t i = 0; i < env->n_recipients; i++)
		if (!hv_node_id_valid(env->recipients[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent *a = fuzz_agent();
	char norm[HV_SUBJECT_MAX + 1];
	struct hv_errdetail d;
	const char *by, *note;
	json_t *j, *deadline;
	hv_envelope env;

	hv_errclear(&d);
	if ((j = request_body_parse((const char *)data, size, &d)) == NULL)
		return 0;
	for (int decision = 0; decision <= 1; decision++) {
		memset(&env, 0, sizeof(env));
		deadline = NULL;
		if (outbox_parse_request(a, j, decision, &env, norm,
		        sizeof(norm), &deadline, &d) == HV_OK)
			check(&env);
		json_decref(deadline);
		hv_envelope_clear(&env);
	}
	if (request_ack_parse(j, &by, &note, &d) == HV_OK &&
	    (by == NULL || *by == '\0'))
		abort();
	json_decref(j);
	return 0;
}
