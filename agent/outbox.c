/*
 * The outbox: POST /v1/messages and /v1/decisions build, check, seal and
 * sign an envelope and commit it before the API answers 202, where link.c
 * finds it to send. What the broker answers is receipts.c's.
 *
 * The checks are the shared ones of lib/hv_policy, so the agent refuses
 * exactly what the broker would refuse, with the request member at fault
 * named for the caller. The plaintext payload and the clear justification
 * exist only in memory between validation and sealing, and are wiped.
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_config.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_sealed.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"
#include "request.h"

static const char *const message_members[] = { "to", "type", "priority",
	"subject", "basis", "child", "body", "reply_to", "deadline", "flags",
	"do_not_contact_family", NULL };
static const char *const decision_members[] = { "type", "subject", "basis",
	"outcome", "priority", NULL };
static const char *const basis_members[] = { "consent", "art6", "art9",
	"justification", "decided_by", NULL };

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static hv_err
check_members(json_t *obj, const char *const *allowed, const char *prefix,
    struct hv_errdetail *d)
{
	const char *k;
	json_t *v;

	json_object_foreach (obj, k, v) {
		char field[64];

		if (in_list(k, allowed))
			continue;
		if (k[0] == '\0')
			return hv_errset(d, HV_EBADREQUEST, prefix,
			    "%s%s has a "
			    "member with an empty name (\"\"); remove it.",
			    prefix ? prefix : "The request", prefix ? "" : "");
		snprintf(field, sizeof(field), "%s%s%.40s",
		    prefix ? prefix : "", prefix ? "." : "", k);
		return hv_errset(d, HV_EBADREQUEST, field,
		    "%s is not a "
		    "member this request takes; see docs/API.md.",
		    field);
	}
	return HV_OK;
}

/* A required or optional string member; NULL when absent. */
static hv_err
get_string(json_t *obj, const char *name, const char *field, int required,
    size_t max, const char **out, struct hv_errdetail *d)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return hv_errset(d, HV_EBADREQUEST, field,
			    "%s is "
			    "required.",
			    field);
		return HV_OK;
	}
	if (!json_is_string(v))
		return hv_errset(d, HV_EBADREQUEST, field,
		    "%s must be a "
		    "string.",
		    field);
	if (json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return hv_errset(d, HV_EBADREQUEST, field,
		    "%s must be at most "
		    "%zu characters.",
		    field, max);
	*out = json_string_value(v);
	return HV_OK;
}

/* Longest subject text passed on to hv_subject_* (the body is bounded). */
#define SUBJECT_TEXT_MAX (1024 * 1024)

static hv_err
parse_subject(struct agent *a, json_t *req, char *norm, size_t cap,
    uint8_t pseudonym[HV_PSEUDONYM_LEN], struct hv_errdetail *d)
{
	json_t *s = json_object_get(req, "subject");
	const char *nhs, *local;
	static const char *const members[] = { "nhs", "local", NULL };
	hv_err e;

	if (s == NULL || !json_is_object(s))
		return hv_errset(d, HV_EBADREQUEST, "subject",
		    "subject must "
		    "be an object with nhs or local.");
	/*
	 * No length limit here: hv_subject_* refuse a long identifier as
	 * INVALID_SUBJECT with the limit, as for any other bad identifier.
	 */
	if ((e = check_members(s, members, "subject", d)) != HV_OK ||
	    (e = get_string(s, "nhs", "subject.nhs", 0, SUBJECT_TEXT_MAX, &nhs,
	         d)) != HV_OK ||
	    (e = get_string(s, "local", "subject.local", 0, SUBJECT_TEXT_MAX,
	         &local, d)) != HV_OK)
		return e;
	if ((nhs == NULL) == (local == NULL))
		return hv_errset(d, HV_EBADREQUEST, "subject",
		    "subject must "
		    "hold exactly one of nhs or local.");
	if (nhs != NULL)
		e = hv_subject_nhs(nhs, norm, cap, d);
	else
		e = hv_subject_local(local, NULL, norm, cap, d);
	if (e != HV_OK)
		return e;
	hv_subject_pseudonym(a->subject_key, norm, pseudonym);
	return HV_OK;
}

/* The envelope names which subject key made its pseudonym (SPEC §15). */
static void
set_subject_key_id(struct agent *a, hv_envelope *env)
{
	hv_subject_key_id(a->subject_key, env->subject_key_id);
	env->has_subject_key_id = 1;
}

static hv_err
parse_basis(json_t *req, struct hv_basis *b, struct hv_errdetail *d)
{
	json_t *j = json_object_get(req, "basis");
	const char *s;
	hv_err e;
	struct {
		const char *name, *field;
		char *dst;
		size_t cap;
	} f[] = {
		{ "consent", "basis.consent", b->consent, sizeof(b->consent) },
		{ "art6", "basis.art6", b->art6, sizeof(b->art6) },
		{ "art9", "basis.art9", b->art9, sizeof(b->art9) },
		{ "justification", "basis.justification", b->justification,
		    sizeof(b->justification) },
		{ "decided_by", "basis.decided_by", b->decided_by,
		    sizeof(b->decided_by) },
	};

	memset(b, 0, sizeof(*b));
	if (j == NULL || !json_is_object(j))
		return hv_errset(d, HV_EBASIS, "basis",
		    "basis is required: "
		    "an object with consent, art6, art9, justification and "
		    "decided_by.");
	if ((e = check_members(j, basis_members, "basis", d)) != HV_OK)
		return e;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if ((e = get_string(j, f[i].name, f[i].field, 0, f[i].cap - 1,
		         &s, d)) != HV_OK)
			return e;
		if (s != NULL)
			memcpy(f[i].dst, s, strlen(s) + 1);
	}
	if (b->art9[0] == '\0')
		snprintf(b->art9, sizeof(b->art9), "NONE");
	return HV_OK;
}

/* to: 1..16 unique node ids. */
static hv_err
parse_to(json_t *req, hv_envelope *env, struct hv_errdetail *d)
{
	json_t *to = json_object_get(req, "to"), *v;
	size_t i;

	if (to == NULL || !json_is_array(to) || json_array_size(to) == 0)
		return hv_errset(d, HV_EBADREQUEST, "to",
		    "to must be a "
		    "non-empty array of node ids.");
	if (json_array_size(to) > HV_MAX_RECIPIENTS)
		return hv_errset(d, HV_EBADREQUEST, "to",
		    "to may name at most "
		    "%d recipients.",
		    HV_MAX_RECIPIENTS);
	json_array_foreach (to, i, v) {
		const char *s = json_string_value(v);
		char field[32];

		snprintf(field, sizeof(field), "to[%zu]", i);
		if (s == NULL || !hv_node_id_valid(s))
			return hv_errset(d, HV_EBADREQUEST, field,
			    "%s is not "
			    "a node id like social-care.bristol.",
			    field);
		for (size_t j = 0; j < i; j++)
			if (strcmp(env->recipients[j], s) == 0)
				return hv_errset(d, HV_EBADREQUEST, field,
				    "%s names %s twice.", field, s);
		snprintf(env->recipients[i], sizeof(env->recipients[i]), "%s",
		    s);
	}
	env->n_recipients = json_array_size(to);
	return HV_OK;
}

static hv_err
parse_flags(json_t *req, uint32_t *flags, struct hv_errdetail *d)
{
	json_t *f = json_object_get(req, "flags"), *v;
	size_t i;

	*flags = 0;
	if (f != NULL && !json_is_null(f)) {
		if (!json_is_array(f))
			return hv_errset(d, HV_EBADREQUEST, "flags",
			    "flags "
			    "must be an array of strings.");
		json_array_foreach (f, i, v) {
			const char *s = json_string_value(v);
			char field[32];

			snprintf(field, sizeof(field), "flags[%zu]", i);
			if (s == NULL ||
			    strcmp(s, "do_not_contact_family") != 0)
				return hv_errset(d, HV_EBADREQUEST, field,
				    "%s is not a known flag; the only flag is "
				    "do_not_contact_family.",
				    field);
			*flags |= HV_FLAG_DO_NOT_CONTACT_FAMILY;
		}
	}
	v = json_object_get(req, "do_not_contact_family");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return hv_errset(d, HV_EBADREQUEST,
			    "do_not_contact_family",
			    "do_not_contact_family "
			    "must be true or false.");
		if (json_is_true(v))
			*flags |= HV_FLAG_DO_NOT_CONTACT_FAMILY;
	}
	return HV_OK;
}

/* deadline: a RAG word (due from now) or an ISO time; *out new or NULL. */
static hv_err
parse_deadline(json_t *req, json_t **out, struct hv_errdetail *d)
{
	const char *s;
	int64_t due, secs;
	hv_err e;

	*out = NULL;
	if ((e = get_string(req, "deadline", "deadline", 0, 40, &s, d)) !=
	        HV_OK ||
	    s == NULL)
		return e;
	if ((secs = hv_policy_rag_seconds(s)) >= 0) {
		due = hv_now_ms() + secs * 1000;
		*out = json_pack("{s:s, s:o}", "rag", s, "due", json_time(due));
	} else if (hv_time_parse(s, &due) == 0) {
		if (due <= hv_now_ms())
			return hv_errset(d, HV_EBADREQUEST, "deadline",
			    "deadline %.40s is in the past; give a time to "
			    "come, or RED, AMBER or GREEN.",
			    s);
		*out = json_pack("{s:n, s:o}", "rag", "due", json_time(due));
	} else
		return hv_errset(d, HV_EBADREQUEST, "deadline",
		    "deadline must "
		    "be RED, AMBER, GREEN or an ISO 8601 UTC time.");
	return *out ? HV_OK : HV_ENOMEM;
}

/*
 * Directory checks with the request's own field names, then the shared
 * envelope checks. Copies the recipients' box keys. Caller holds dir_lock.
 */
static hv_err
check_policy(struct agent *a, const hv_envelope *env,
    uint8_t (*box)[HV_BOX_KEY_LEN], struct hv_errdetail *d)
{
	int need;
	hv_err e;

	for (size_t i = 0; i < env->n_recipients; i++) {
		const struct hv_node *n =
		    hv_directory_node(a->dir, env->recipients[i]);
		char field[32];

		snprintf(field, sizeof(field), "to[%zu]", i);
		if (n == NULL)
			return hv_errset(d, HV_EUNKNOWNRECIPIENT, field,
			    "%s: %s is not a node of the partnership's "
			    "directory; check the id ('haven directory show' "
			    "lists the nodes).",
			    field, env->recipients[i]);
		if (n->revoked || !n->has_keys)
			return hv_errset(d, HV_EREVOKEDRECIPIENT, field,
			    "%s: %s has been revoked from the partnership; "
			    "choose another recipient, or ask the partnership "
			    "administrator.",
			    field, env->recipients[i]);
		if ((e = hv_policy_check_allowed(a->dir, env->sender,
		         env->recipients[i], env->type, &need, d)) != HV_OK) {
			if (d != NULL)
				snprintf(d->field, sizeof(d->field), "%s",
				    field);
			return e;
		}
		memcpy(box[i], n->keys.box, HV_BOX_KEY_LEN);
	}
	if ((e = hv_policy_check_envelope(a->dir, env, d)) != HV_OK) {
		if (d != NULL && strcmp(d->field, "recipients") == 0)
			snprintf(d->field, sizeof(d->field), "to");
		return e;
	}
	return HV_OK;
}

/* Builds the envelope header from a request (not yet sealed). */
hv_err
outbox_parse_request(struct agent *a, json_t *req, int decision,
    hv_envelope *env, char *norm, size_t ncap, json_t **deadline,
    struct hv_errdetail *d)
{
	const char *type, *prio, *outcome, *reply;
	hv_err e;

	if ((e = check_members(req,
	         decision ? decision_members : message_members, NULL, d)) !=
	    HV_OK)
		return e;
	if (!decision && (e = parse_to(req, env, d)) != HV_OK)
		return e;
	if ((e = get_string(req, "type", "type", 1, 39, &type, d)) != HV_OK)
		return e;
	if (!hv_policy_type_valid(type))
		return hv_errset(d, HV_EBADREQUEST, "type",
		    "type %.39s is not "
		    "a message type (for example REFERRAL or INFO_REQUEST).",
		    type);
	if ((e = get_string(req, "priority", "priority", !decision, 15, &prio,
	         d)) != HV_OK)
		return e;
	if (prio == NULL)
		prio = "ROUTINE";
	if (!hv_policy_priority_valid(prio))
		return hv_errset(d, HV_EBADREQUEST, "priority",
		    "priority must "
		    "be IMMEDIATE, URGENT or ROUTINE.");
	if (decision) {
		if ((e = get_string(req, "outcome", "outcome", 0, 15, &outcome,
		         d)) != HV_OK)
			return e;
		if (outcome != NULL && strcmp(outcome, "NOT_SHARED") != 0)
			return hv_errset(d, HV_EBADREQUEST, "outcome",
			    "outcome "
			    "must be NOT_SHARED.");
		snprintf(env->outcome, sizeof(env->outcome), "NOT_SHARED");
	}
	snprintf(env->type, sizeof(env->type), "%s", type);
	snprintf(env->priority, sizeof(env->priority), "%s", prio);
	if ((e = parse_subject(a, req, norm, ncap, env->subject, d)) != HV_OK)
		return e;
	set_subject_key_id(a, env);
	if ((e = parse_basis(req, &env->basis, d)) != HV_OK)
		return e;
	if (!decision) {
		if ((e = get_string(req, "reply_to", "reply_to", 0, 32, &reply,
		         d)) != HV_OK)
			return e;
		if (reply != NULL) {
			if (strlen(reply) != HV_ID_HEX_LEN ||
			    hv_unhex(reply, env->reply_to, HV_ID_LEN) != 0)
				return hv_errset(d, HV_EBADREQUEST, "reply_to",
				    "reply_to must be a message id of 32 hex "
				    "digits.");
			env->has_reply_to = 1;
		}
		if ((e = parse_flags(req, &env->flags, d)) != HV_OK)
			return e;
		if ((e = parse_deadline(req, deadline, d)) != HV_OK)
			return e;
		json_t *child = json_object_get(req, "child");
		if (child != NULL && !json_is_object(child))
			return hv_errset(d, HV_EBADREQUEST, "child",
			    "child "
			    "must be a JSON object.");
	}
	hv_envelope_new_id(env->id);
	snprintf(env->sender, sizeof(env->sender), "%s", a->cfg.id);
	env->created = hv_now();
	return HV_OK;
}

/* The payload document as text (malloc'd) for sealing. */
static char *
payload_text(json_t *req, const char *norm, json_t *deadline)
{
	json_t *p, *child = json_object_get(req, "child"),
	           *body = json_object_get(req, "body");
	char *text;

	if ((p = json_pack("{s:s}", "subject", norm)) == NULL)
		return NULL;
	json_object_set_new(p, "child",
	    child ? json_incref(child) : json_object());
	json_object_set_new(p, "body",
	    body ? json_incref(body) : json_object());
	if (deadline != NULL)
		json_object_set(p, "deadline", deadline);
	text = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(p);
	return text;
}

/*
 * A new outbox entry, its pending index, its "queued" timeline entry and
 * the per-child index.
 */
struct new_entry {
	const hv_envelope *env;
	int kind;
	uint8_t *val; /* OB_HDR_LEN + packed envelope */
	size_t len;
};

static hv_err
put_new(struct agent *a, MDB_txn *txn, void *arg)
{
	struct new_entry *n = arg;
	struct ob_hdr h = { 0 };
	uint8_t seqk[8], orderk[OB_ORDER_KEY_LEN];
	hv_err e;

	ob_hdr_get(n->val, &h);
	if ((e = store_next_seq(a, txn, &h.pending_seq)) != HV_OK)
		return e;
	ob_hdr_put(n->val, &h);
	hv_be64_put(seqk, h.pending_seq);
	outbox_order_key(orderk, h.queued_ms, n->env->id);
	if ((e = store_put(a, txn, DB_OUTBOX, n->env->id, HV_ID_LEN, n->val,
	         n->len)) != HV_OK ||
	    (e = store_put(a, txn, DB_PENDING, seqk, 8, n->env->id,
	         HV_ID_LEN)) != HV_OK ||
	    (e = store_put(a, txn, DB_OUTORDER, orderk, sizeof(orderk), "",
	         0)) != HV_OK ||
	    (e = store_timeline_add(a, txn, n->env->id,
	         json_pack("{s:s, s:o}", "status", "queued", "at",
	             json_time(h.queued_ms)))) != HV_OK)
		return e;
	return children_note_sent(a, txn, n->env, n->kind == OB_DECISION);
}

/* Commits env to the outbox, in a transaction shared with other threads. */
static hv_err
commit_new(struct agent *a, const hv_envelope *env, int kind)
{
	struct ob_hdr h = { 0 };
	struct new_entry n = { env, kind, NULL, 0 };
	uint8_t *packed = NULL;
	size_t plen = 0;
	hv_err e;

	if ((e = hv_envelope_pack(env, &packed, &plen)) != HV_OK)
		goto out;
	n.len = OB_HDR_LEN + plen;
	if ((n.val = malloc(n.len)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	h.kind = (uint8_t)kind;
	h.queued_ms = hv_now_ms();
	ob_hdr_put(n.val, &h);
	memcpy(n.val + OB_HDR_LEN, packed, plen);
	e = agent_commit(a, put_new, &n);
out:
	free(n.val);
	free(packed);
	return e;
}

hv_err
outbox_submit(struct agent *a, json_t *req, int decision, uint8_t id[HV_ID_LEN],
    struct hv_errdetail *d)
{
	hv_envelope env;
	uint8_t box[HV_MAX_RECIPIENTS][HV_BOX_KEY_LEN];
	char norm[HV_SUBJECT_MAX + 1], hex[HV_ID_HEX_LEN + 1];
	json_t *deadline = NULL;
	char *text = NULL;
	size_t tlen = 0;
	int locked = 0;
	hv_err e;

	memset(&env, 0, sizeof(env));
	if ((e = outbox_parse_request(a, req, decision, &env, norm,
	         sizeof(norm), &deadline, d)) != HV_OK)
		goto out;
	pthread_rwlock_rdlock(&a->dir_lock);
	locked = 1;
	/*
	 * SPEC §4.2: the justification leaves this function only sealed to
	 * the directory's ig.* nodes; the policy then counts its clear
	 * length, recorded by the seal, as the broker will.
	 */
	if ((e = hv_justification_seal(&env.basis, env.id, a->dir, d)) !=
	        HV_OK ||
	    (e = check_policy(a, &env, box, d)) != HV_OK)
		goto out;
	pthread_rwlock_unlock(&a->dir_lock);
	locked = 0;
	/* An answer to a request this agent received (the broker's rule). */
	if (!decision && (e = inbox_check_reply_to(a, NULL, &env, d)) != HV_OK)
		goto out;
	if (decision) {
		e = hv_envelope_sign_decision(&env, a->keys);
	} else {
		if ((text = payload_text(req, norm, deadline)) == NULL) {
			e = HV_ENOMEM;
			goto out;
		}
		tlen = strlen(text);
		if (tlen > a->cfg.max_message_bytes) {
			e = hv_errset(d, HV_ETOOLARGE, NULL,
			    "The message's "
			    "payload is %zu bytes; this agent's limit is %llu "
			    "(max_message_bytes).",
			    tlen, (unsigned long long)a->cfg.max_message_bytes);
			goto out;
		}
		e = hv_envelope_seal(&env, (const uint8_t *)text, tlen,
		    (const uint8_t(*)[HV_BOX_KEY_LEN])box, a->keys);
	}
	if (e != HV_OK)
		goto out;
	if ((e = commit_new(a, &env, decision ? OB_DECISION : OB_MESSAGE)) !=
	    HV_OK) {
		hv_errset(d, e, NULL,
		    "The agent could not store the message "
		    "(%s); nothing was queued.",
		    hv_errname(e));
		goto out;
	}
	memcpy(id, env.id, HV_ID_LEN);
	hv_hex(env.id, HV_ID_LEN, hex);
	hv_log_info("queued %s %s %s", decision ? "decision" : "message", hex,
	    env.type);
	agent_wake(a);
out:
	if (locked)
		pthread_rwlock_unlock(&a->dir_lock);
	/*
	 * A refusal made here is reported to the broker's audit (SPEC §15);
	 * the caller's answer does not wait for it and does not change if
	 * the report cannot be stored.
	 */
	if (refusals_reported(e) && env.type[0] != '\0' &&
	    refusals_record(a, &env, env.has_subject_key_id, e) != HV_OK)
		hv_log_warnx("could not store the report of a refused %s "
		             "submission for the broker",
		    env.type);
	if (text != NULL) {
		sodium_memzero(text, tlen);
		free(text);
	}
	json_decref(deadline);
	hv_envelope_clear(&env);
	return e;
}

/* ---- the queue --------------------------------------------------------- */

size_t
outbox_depth(struct agent *a)
{
	MDB_txn *txn;
	size_t n;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return 0;
	n = store_count(a, txn, DB_PENDING);
	mdb_txn_abort(txn);
	return n;
}
