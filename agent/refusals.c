/*
 * Refusals made here, reported to the broker (SPEC §15). When the agent
 * refuses a submission itself (POLICY_DENIED, BASIS_INVALID,
 * UNKNOWN_RECIPIENT, REVOKED_RECIPIENT), the attempt is stored as a packed
 * AgentRefusal — sender, recipients, type, code, decided_by, subject
 * pseudonym and key id, time; never the justification or anything of the
 * child — and sent to the broker like an outbox message: it stays in the
 * store until the broker echoes it, after the broker's commit, and is sent
 * again on every new session and every AGENT_RESEND_MS, so a refusal made
 * while the broker is unreachable reaches the audit log when it is back.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"

/* Reports sent per turn of the loop; the rest go on the next turn. */
#define REFUSAL_BURST 64

int
refusals_reported(hv_err code)
{
	return code == HV_EPOLICY || code == HV_EBASIS ||
	    code == HV_EUNKNOWNRECIPIENT || code == HV_EREVOKEDRECIPIENT;
}

hv_err
refusals_record(struct agent *a, const hv_envelope *env, int has_subject,
    hv_err code)
{
	Haven__AgentRefusal r = HAVEN__AGENT_REFUSAL__INIT;
	char *rcpt[HV_MAX_RECIPIENTS];
	uint8_t id[HV_ID_LEN], kid[HV_SUBJECT_KEY_ID_LEN], *buf = NULL;
	char hex[HV_ID_HEX_LEN + 1];
	MDB_txn *txn = NULL;
	size_t len;
	hv_err e;

	hv_envelope_new_id(id);
	hv_subject_key_id(a->subject_key, kid);
	r.id.data = id;
	r.id.len = HV_ID_LEN;
	for (size_t i = 0; i < env->n_recipients && i < HV_MAX_RECIPIENTS; i++)
		rcpt[i] = (char *)env->recipients[i];
	r.n_recipients = env->n_recipients <= HV_MAX_RECIPIENTS ?
	    env->n_recipients :
	    HV_MAX_RECIPIENTS;
	r.recipients = rcpt;
	r.type = (char *)env->type;
	r.code = (char *)hv_errname(code);
	r.decided_by = (char *)env->basis.decided_by;
	if (has_subject) {
		r.subject.data = (uint8_t *)env->subject;
		r.subject.len = sizeof(env->subject);
	}
	r.subject_key_id.data = kid;
	r.subject_key_id.len = sizeof(kid);
	r.at = hv_now_ms();
	len = haven__agent_refusal__get_packed_size(&r);
	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		return HV_ENOMEM;
	haven__agent_refusal__pack(&r, buf);
	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if ((e = store_put(a, txn, DB_REFUSALS, id, HV_ID_LEN, buf, len)) !=
	    HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e != HV_OK)
		goto out;
	hv_hex(id, HV_ID_LEN, hex);
	hv_log_info("refused a %s submission (%s); reporting it to the "
	            "broker as %s",
	    env->type, hv_errname(code), hex);
	a->refusals_due = 1;
	agent_wake(a);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(buf);
	return e;
}

void
refusals_send(struct agent *a)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, n = 0;

	if (!a->refusals_due || hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	a->refusals_due = 0;
	if (mdb_cursor_open(txn, store_db(a, DB_REFUSALS), &cur) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && n < REFUSAL_BURST;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		Haven__Frame f = HAVEN__FRAME__INIT;
		Haven__AgentRefusal *r;

		r = haven__agent_refusal__unpack(NULL, v.mv_size, v.mv_data);
		if (r == NULL)
			continue;
		f.kind_case = HAVEN__FRAME__KIND_AGENT_REFUSAL;
		f.agent_refusal = r;
		rc = link_send(a, &f);
		haven__agent_refusal__free_unpacked(r, NULL);
		if (rc != 0) {
			a->refusals_due = 1; /* high-water mark: later */
			break;
		}
	}
	mdb_cursor_close(cur);
out:
	mdb_txn_abort(txn);
}

void
refusals_on_echo(struct agent *a, const Haven__AgentRefusal *r)
{
	MDB_txn *txn;

	if (r->id.len != HV_ID_LEN ||
	    hv_store_begin(a->store, 0, &txn) != HV_OK)
		return;
	/* Not found: an echo of a repeat already dropped. */
	if (store_del(a, txn, DB_REFUSALS, r->id.data, HV_ID_LEN) != HV_OK) {
		mdb_txn_abort(txn);
		return;
	}
	if (hv_store_commit(txn) != HV_OK)
		hv_log_warnx(
		    "could not drop a refusal report the broker "
		    "recorded; it will be sent again and recorded once");
}
