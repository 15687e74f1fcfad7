/*
 * Refusals made at an agent (SPEC §15): an agent that refuses a submission
 * itself (POLICY_DENIED, BASIS_INVALID, UNKNOWN_RECIPIENT, ...) reports the
 * attempt here as an AgentRefusal frame, metadata only, and the broker
 * audits it as REJECTED with at = "agent".
 *
 * The agent repeats a report until the broker echoes it, so a report is
 * recorded once: a REJECTED record from the same node with the same attempt
 * id and at = "agent" already in the log means it is done. The echo goes
 * out only after the transaction holding the record commits.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "hv_config.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_util.h"

#define AT_AGENT "agent"

/* The agent may stop repeating r: it is recorded, or refused for good. */
static hv_err
refusal_echo(struct outbox *o, const struct conn *c,
    const Haven__AgentRefusal *r)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__AgentRefusal echo = HAVEN__AGENT_REFUSAL__INIT;

	echo.id = r->id;
	f.kind_case = HAVEN__FRAME__KIND_AGENT_REFUSAL;
	f.agent_refusal = &echo;
	return reply_frame(o, c, &f);
}

/* 1 when code is one of the error codes of SPEC §6. */
static int
known_code(const char *code)
{
	for (int e = 1; e < HV_ERR_COUNT; e++)
		if (strcmp(hv_errname((hv_err)e), code) == 0)
			return 1;
	return 0;
}

/* NULL when r is well formed, else a sentence naming what is wrong. */
static const char *
refusal_bad(const Haven__AgentRefusal *r)
{
	if (r->id.len != HV_ID_LEN)
		return "AgentRefusal needs a 16-byte attempt id.";
	if (r->n_recipients > HV_MAX_RECIPIENTS)
		return "AgentRefusal names more than 16 recipients.";
	for (size_t i = 0; i < r->n_recipients; i++)
		if (!hv_node_id_valid(r->recipients[i]))
			return "AgentRefusal names a recipient that is not a "
			       "node id.";
	if (!hv_policy_type_valid(r->type))
		return "AgentRefusal's type is not a message type.";
	if (!known_code(r->code))
		return "AgentRefusal's code is not a Haven error code.";
	if (strlen(r->decided_by) > HV_DECIDED_BY_MAX)
		return "AgentRefusal's decided_by is longer than 128 "
		       "characters.";
	if (r->subject.len != 0 && r->subject.len != 32)
		return "AgentRefusal's subject must be a 32-byte pseudonym.";
	if (r->subject_key_id.len != 0 && r->subject_key_id.len != 8)
		return "AgentRefusal's subject_key_id must be 8 bytes.";
	if (r->at < 0)
		return "AgentRefusal's time is negative.";
	return NULL;
}

struct seen {
	const char *node;
	int found;
};

static int
seen_fn(void *ctx, const struct hv_audit_rec *rec)
{
	struct seen *s = ctx;

	if (strcmp(rec->sender, s->node) == 0 &&
	    strcmp(rec->at, AT_AGENT) == 0) {
		s->found = 1;
		return 1;
	}
	return 0;
}

hv_err
refusal_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__AgentRefusal *r, struct outbox *o)
{
	struct hv_audit_filter f;
	struct hv_audit_rec rec;
	struct seen s = { c->node, 0 };
	char hex[HV_ID_HEX_LEN + 1], when[40];
	const char *bad;
	hv_err e;

	if ((bad = refusal_bad(r)) != NULL) {
		if ((e = audit_reject(b, txn, c->node, NULL, HV_EMALFORMED, bad,
		         NULL)) != HV_OK ||
		    (e = reply_error(o, c, hv_errname(HV_EMALFORMED), bad)) !=
		        HV_OK)
			return e;
		return refusal_echo(o, c, r);
	}
	/* Full: no echo, so the agent keeps the report and sends it later. */
	if (store_full(b))
		return HV_OK;
	memset(&f, 0, sizeof(f));
	f.has_id = 1;
	memcpy(f.id, r->id.data, HV_ID_LEN);
	f.event = hv_event_name(HV_EV_REJECTED);
	if ((e = hv_auditlog_query(&b->log, txn, &f, seen_fn, &s)) != HV_OK)
		return e;
	if (s.found)
		return refusal_echo(o, c, r);

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.event, sizeof(rec.event), "%s",
	    hv_event_name(HV_EV_REJECTED));
	rec.has_id = 1;
	memcpy(rec.id, r->id.data, HV_ID_LEN);
	snprintf(rec.sender, sizeof(rec.sender), "%s", c->node);
	rec.n_recipients = r->n_recipients;
	for (size_t i = 0; i < r->n_recipients; i++)
		snprintf(rec.recipients[i], sizeof(rec.recipients[i]), "%s",
		    r->recipients[i]);
	snprintf(rec.type, sizeof(rec.type), "%s", r->type);
	if (r->decided_by[0] != '\0') {
		rec.has_basis = 1;
		snprintf(rec.basis.decided_by, sizeof(rec.basis.decided_by),
		    "%s", r->decided_by);
	}
	if (r->subject.len == 32) {
		rec.has_subject = 1;
		memcpy(rec.subject, r->subject.data, 32);
	}
	if (r->subject_key_id.len == 8) {
		rec.has_subject_key_id = 1;
		memcpy(rec.subject_key_id, r->subject_key_id.data, 8);
	}
	snprintf(rec.reason, sizeof(rec.reason), "%s", r->code);
	snprintf(rec.actor, sizeof(rec.actor), "%s", c->node);
	snprintf(rec.at, sizeof(rec.at), AT_AGENT);
	rec.created = r->at / 1000;
	hv_time_iso(r->at, when, sizeof(when));
	snprintf(rec.detail, sizeof(rec.detail),
	    "Refused by %s's own agent "
	    "at %s: %s.",
	    c->node, when, r->code);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	hv_hex(r->id.data, HV_ID_LEN, hex);
	hv_log_info("recorded a refusal made at %s's agent: %s %s", c->node,
	    hex, r->code);
	return refusal_echo(o, c, r);
}
