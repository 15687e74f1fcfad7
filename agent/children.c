/*
 * The per-child index and flags (SPEC §15 "Flags and chronology"): what
 * CP-IS does for an A&E department, for every agency of the partnership.
 *
 * Two databases, both keyed by the child's pseudonym (never an NHS number
 * or a name, which the store must not hold):
 *
 *   child_flags   pseudonym -> JSON {cp_plan, looked_after, missing}, each
 *                 {active, at, since, from, message, ended_by} as the
 *                 last START or END received about the child left it
 *   child_index   pseudonym || be64 seq -> direction byte || message id,
 *                 every message this agency received, sent or recorded
 *                 about the child, in the order the store committed them
 *
 * Both are written inside the transaction that stores the message itself
 * (inbox_store, the outbox's commit), so a message is never stored without
 * its index entry or the other way round. A look-up reads one range of
 * child_index and fetches each message by id: it never scans the inbox.
 *
 * Flags come from messages this agency RECEIVED: they record what partners
 * told it (a health agency learns of a plan from social care's
 * CP_PLAN_START). A message this agency sent is in the chronology but sets
 * no flag here, since the broker may still refuse it. A flag changes only
 * for a message created no earlier than the one that last changed it, so a
 * START delivered after its END (held by an offline link) does not set
 * the flag again.
 *
 * MISSING_CHILD_ALERT sets "missing"; a CASE_UPDATE whose body holds
 * "missing_status": "found" clears it (docs/API.md). Reading that body means
 * decrypting the CASE_UPDATE in memory while it is stored; only the flag's
 * state is kept.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "hv_wire.h"

#define DIR_RECEIVED 'r'
#define DIR_SENT 's'
#define DIR_DECISION 'd'
#define IDX_KEY_LEN (HV_PSEUDONYM_LEN + 8)
#define IDX_VAL_LEN (1 + HV_ID_LEN)

/* Meta key whose presence says the index was built for older messages. */
#define MIGRATED_KEY "child_index_v1"

static const char *const flag_names[] = { "cp_plan", "looked_after", "missing",
	NULL };

/* ---- which message changes which flag ---------------------------------- */

/*
 * The flag a received message changes and whether it sets (1) or clears
 * (0) it; NULL when it changes none. payload is needed (and decrypted by
 * the caller) only for a CASE_UPDATE.
 */
static const char *
flag_effect(const char *type, json_t *payload, int *set)
{
	static const struct {
		const char *type, *flag;
		int set;
	} map[] = {
		{ "CP_PLAN_START", "cp_plan", 1 },
		{ "CP_PLAN_END", "cp_plan", 0 },
		{ "LOOKED_AFTER_START", "looked_after", 1 },
		{ "LOOKED_AFTER_END", "looked_after", 0 },
		{ "MISSING_CHILD_ALERT", "missing", 1 },
	};
	const char *st;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0) {
			*set = map[i].set;
			return map[i].flag;
		}
	if (strcmp(type, "CASE_UPDATE") != 0 || payload == NULL)
		return NULL;
	st = json_string_value(json_object_get(json_object_get(payload, "body"),
	    "missing_status"));
	if (st == NULL || strcmp(st, "found") != 0)
		return NULL;
	*set = 0;
	return "missing";
}

/* ---- writing ----------------------------------------------------------- */

/* Appends (direction, id) to the child's index inside txn. */
static hv_err
index_add(struct agent *a, MDB_txn *txn, const uint8_t pseudonym[32],
    char direction, const uint8_t id[HV_ID_LEN])
{
	uint8_t k[IDX_KEY_LEN], v[IDX_VAL_LEN];
	uint64_t seq;
	hv_err e;

	if ((e = store_next_seq(a, txn, &seq)) != HV_OK)
		return e;
	memcpy(k, pseudonym, HV_PSEUDONYM_LEN);
	hv_be64_put(k + HV_PSEUDONYM_LEN, seq);
	v[0] = (uint8_t)direction;
	memcpy(v + 1, id, HV_ID_LEN);
	return store_put(a, txn, DB_CHILD_INDEX, k, sizeof(k), v, sizeof(v));
}

/* The child's stored flags as a new object ({} when none). */
static json_t *
flags_read(struct agent *a, MDB_txn *txn, const uint8_t pseudonym[32])
{
	MDB_val v;
	json_t *j = NULL;

	if (store_get(a, txn, DB_CHILD_FLAGS, pseudonym, HV_PSEUDONYM_LEN,
	        &v) == HV_OK)
		j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j != NULL ? j : json_object();
}

/*
 * Sets or clears flag for env's child inside txn, unless a message created
 * later already changed it. Errors: HV_ENOMEM, HV_ESTORAGEFULL, HV_EIO.
 */
static hv_err
flag_apply(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    const char *flag, int set)
{
	json_t *all, *f, *next;
	char hex[HV_ID_HEX_LEN + 1], *text = NULL;
	int64_t at = env->created * 1000;
	hv_err e = HV_ENOMEM;

	if ((all = flags_read(a, txn, env->subject)) == NULL)
		return HV_ENOMEM;
	f = json_object_get(all, flag);
	if (f != NULL && json_integer_value(json_object_get(f, "at")) > at) {
		json_decref(all);
		return HV_OK; /* a later message already decided it */
	}
	hv_hex(env->id, HV_ID_LEN, hex);
	next = json_pack("{s:b, s:I}", "active", set, "at", (json_int_t)at);
	if (next == NULL)
		goto out;
	if (set) {
		json_object_set_new(next, "since", json_integer(at));
		json_object_set_new(next, "from", json_string(env->sender));
		json_object_set_new(next, "message", json_string(hex));
	} else {
		/* An ended flag keeps its START's since, from and message. */
		if (f != NULL && json_object_get(f, "since") != NULL) {
			json_object_set(next, "since",
			    json_object_get(f, "since"));
			json_object_set(next, "from",
			    json_object_get(f, "from"));
			json_object_set(next, "message",
			    json_object_get(f, "message"));
		}
		json_object_set_new(next, "ended_by", json_string(env->sender));
	}
	json_object_set_new(all, flag, next);
	if ((text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	e = store_put(a, txn, DB_CHILD_FLAGS, env->subject, HV_PSEUDONYM_LEN,
	    text, strlen(text));
out:
	free(text);
	json_decref(all);
	return e;
}

/* Decrypts a received envelope's payload when its flag depends on it. */
static json_t *
payload_if_needed(struct agent *a, const hv_envelope *env)
{
	if (strcmp(env->type, "CASE_UPDATE") != 0)
		return NULL;
	return inbox_open_payload(a, env);
}

hv_err
children_note_received(struct agent *a, MDB_txn *txn, const hv_envelope *env)
{
	json_t *p = payload_if_needed(a, env);
	const char *flag;
	int set = 0;
	hv_err e;

	if ((e = index_add(a, txn, env->subject, DIR_RECEIVED, env->id)) ==
	        HV_OK &&
	    (flag = flag_effect(env->type, p, &set)) != NULL)
		e = flag_apply(a, txn, env, flag, set);
	json_decref(p);
	return e;
}

hv_err
children_note_sent(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    int decision)
{
	return index_add(a, txn, env->subject,
	    decision ? DIR_DECISION : DIR_SENT, env->id);
}

/* ---- the migration of older stores ------------------------------------- */

/* A message found in the store by the migration. */
struct old_msg {
	int64_t at_ms;
	char direction;
	uint8_t id[HV_ID_LEN];
};

static int
old_msg_cmp(const void *x, const void *y)
{
	const struct old_msg *p = x, *q = y;

	return p->at_ms < q->at_ms ? -1 : p->at_ms > q->at_ms;
}

/* Appends every entry of db (inbox or outbox) to *list. */
static hv_err
collect(struct agent *a, MDB_txn *txn, enum agent_db db, struct old_msg **list,
    size_t *n, size_t *cap)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, store_db(a, db), &cur)) != 0)
		return hv_store_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct old_msg *m;

		if (k.mv_size != HV_ID_LEN || v.mv_size < 32)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			struct old_msg *nl;

			nl = realloc(*list, nc * sizeof(**list));

			if (nl == NULL) {
				mdb_cursor_close(cur);
				return HV_ENOMEM;
			}
			*list = nl;
			*cap = nc;
		}
		m = &(*list)[(*n)++];
		memcpy(m->id, k.mv_data, HV_ID_LEN);
		if (db == DB_INBOX) {
			struct in_hdr h;

			in_hdr_get(v.mv_data, &h);
			m->at_ms = h.received_ms;
			m->direction = DIR_RECEIVED;
		} else {
			struct ob_hdr h;

			ob_hdr_get(v.mv_data, &h);
			m->at_ms = h.queued_ms;
			m->direction =
			    h.kind == OB_DECISION ? DIR_DECISION : DIR_SENT;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? HV_OK : hv_store_err(rc);
}

/* Indexes one older message (and its flag) inside txn. */
static hv_err
migrate_one(struct agent *a, MDB_txn *txn, const struct old_msg *m)
{
	enum agent_db db = m->direction == DIR_RECEIVED ? DB_INBOX : DB_OUTBOX;
	size_t hdr = db == DB_INBOX ? IN_HDR_LEN : OB_HDR_LEN;
	hv_envelope env;
	MDB_val v;
	hv_err e;

	memset(&env, 0, sizeof(env));
	if ((e = store_get(a, txn, db, m->id, HV_ID_LEN, &v)) != HV_OK)
		return e;
	/* An entry that no longer unpacks is left out, not fatal. */
	if (v.mv_size < hdr ||
	    hv_envelope_unpack((uint8_t *)v.mv_data + hdr, v.mv_size - hdr,
	        v.mv_size, &env, NULL) != HV_OK) {
		hv_envelope_clear(&env);
		return HV_OK;
	}
	if (m->direction == DIR_RECEIVED)
		e = children_note_received(a, txn, &env);
	else
		e = children_note_sent(a, txn, &env,
		    m->direction == DIR_DECISION);
	hv_envelope_clear(&env);
	return e;
}

/*
 * A migration: stores written before the child index existed hold
 * messages with no index entry. The first start with this version indexes
 * them all once, oldest first, in one transaction, and records that it did
 * so in the meta database; later starts find the mark and do nothing.
 */
hv_err
children_migrate(struct agent *a, struct hv_errdetail *d)
{
	struct old_msg *list = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn = NULL;
	MDB_val v;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if (store_get(a, txn, DB_META, MIGRATED_KEY, strlen(MIGRATED_KEY),
	        &v) == HV_OK)
		goto out; /* built already */
	if ((e = collect(a, txn, DB_INBOX, &list, &n, &cap)) != HV_OK ||
	    (e = collect(a, txn, DB_OUTBOX, &list, &n, &cap)) != HV_OK)
		goto out;
	if (n > 0)
		qsort(list, n, sizeof(*list), old_msg_cmp);
	for (size_t i = 0; i < n; i++)
		if ((e = migrate_one(a, txn, &list[i])) != HV_OK)
			goto out;
	if ((e = store_put(a, txn, DB_META, MIGRATED_KEY, strlen(MIGRATED_KEY),
	         "1", 1)) != HV_OK)
		goto out;
	e = hv_store_commit(txn);
	txn = NULL;
	if (e == HV_OK && n > 0)
		hv_log_info("indexed %zu stored messages by child", n);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(list);
	if (e != HV_OK)
		hv_errset(d, e, "data_dir",
		    "cannot build the child index in "
		    "%s (%s).",
		    a->cfg.data_dir, hv_errname(e));
	return e;
}

/* ---- the look-up ------------------------------------------------------- */

/* The API's flag object from a stored one (which may be NULL). */
static json_t *
flag_json(json_t *f)
{
	json_t *since = json_object_get(f, "since"), *j;

	j = json_pack("{s:b, s:o, s:O}", "active",
	    json_is_true(json_object_get(f, "active")), "since",
	    since != NULL ? json_time(json_integer_value(since)) : json_null(),
	    "from",
	    json_object_get(f, "from") ? json_object_get(f, "from") :
	                                 json_null());
	if (j == NULL || f == NULL)
		return j;
	json_object_set(j, "message",
	    json_object_get(f, "message") ? json_object_get(f, "message") :
	                                    json_null());
	if (!json_is_true(json_object_get(f, "active"))) {
		json_object_set_new(j, "ended",
		    json_time(json_integer_value(json_object_get(f, "at"))));
		json_object_set(j, "ended_by",
		    json_object_get(f, "ended_by") ?
		        json_object_get(f, "ended_by") :
		        json_null());
	}
	return j;
}

/* Joins the recipients of a status document: "a, b". */
static json_t *
recipients_text(json_t *to)
{
	char buf[HV_MAX_RECIPIENTS * (HV_NODE_MAX + 2) + 1] = "";
	json_t *v;
	size_t i;

	json_array_foreach (to, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL)
			continue;
		if (buf[0] != '\0')
			strncat(buf, ", ", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, s, sizeof(buf) - strlen(buf) - 1);
	}
	return json_string(buf);
}

/* A received message's status: acknowledged, escalated or received. */
static const char *
received_status(json_t *m)
{
	if (json_is_true(json_object_get(m, "acknowledged")))
		return "acknowledged";
	if (json_is_true(json_object_get(m, "escalated")))
		return "escalated";
	return "received";
}

/*
 * A received message's chronology entry. A message its sender retracted
 * (kept whole only by a legal hold) or the retention rule erased shows as
 * the API shows it (inbox_view): its header and why, never its content.
 */
static json_t *
received_entry(struct agent *a, const uint8_t id[HV_ID_LEN], const char *hex)
{
	json_t *m, *j;

	if ((m = retract_header(a, id)) == NULL &&
	    (m = inbox_message(a, id)) != NULL) {
		j = json_pack("{s:s, s:s, s:O, s:O, s:O, s:s, s:O}", "id", hex,
		    "direction", "received", "type", json_object_get(m, "type"),
		    "other_party", json_object_get(m, "sender"), "at",
		    json_object_get(m, "received_at"), "status",
		    received_status(m), "do_not_contact_family",
		    json_object_get(m, "do_not_contact_family"));
		if (j != NULL && json_object_get(m, "child") != NULL) {
			json_object_set(j, "child",
			    json_object_get(m, "child"));
			json_object_set(j, "body", json_object_get(m, "body"));
		}
		json_decref(m);
		return j;
	}
	if (m == NULL && (m = retention_tombstone(a, id)) == NULL)
		return json_pack("{s:s, s:s, s:s}", "id", hex, "direction",
		    "received", "status", "not held");
	j = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:O?}", "id", hex,
	    "direction", "received", "type", json_object_get(m, "type"),
	    "other_party", json_object_get(m, "sender"), "at",
	    json_object_get(m, "received_at"), "status",
	    json_object_get(m, "status"));
	if (j != NULL && json_is_true(json_object_get(m, "retracted")))
		json_object_set_new(j, "retracted", json_true());
	if (j != NULL && json_is_true(json_object_get(m, "erased")))
		json_object_set_new(j, "erased", json_true());
	json_decref(m);
	return j;
}

/* One chronology entry, read by id; a message no longer held says so. */
static json_t *
entry_json(struct agent *a, char direction, const uint8_t id[HV_ID_LEN])
{
	char hex[HV_ID_HEX_LEN + 1];
	json_t *m, *j;

	hv_hex(id, HV_ID_LEN, hex);
	if (direction == DIR_RECEIVED)
		return received_entry(a, id, hex);
	/* Held, or else erased under the retention rule (its tombstone). */
	if ((m = outbox_status(a, id)) == NULL &&
	    (m = retention_tombstone(a, id)) == NULL)
		return json_pack("{s:s, s:s, s:s}", "id", hex, "direction",
		    direction == DIR_DECISION ? "decision" : "sent", "status",
		    "not held");
	/* What this agency sent is sealed to its recipients: no content. */
	j = json_pack("{s:s, s:s, s:O?, s:o, s:O?, s:O?}", "id", hex,
	    "direction", direction == DIR_DECISION ? "decision" : "sent",
	    "type", json_object_get(m, "type"), "other_party",
	    direction == DIR_DECISION ?
	        json_null() :
	        recipients_text(json_object_get(m, "to")),
	    "at", json_object_get(m, "created"), "status",
	    json_object_get(m, "status"));
	if (j != NULL && json_is_true(json_object_get(m, "erased")))
		json_object_set_new(j, "erased", json_true());
	json_decref(m);
	return j;
}

/* Reads the child's flags and index entries in one read transaction. */
static hv_err
read_child(struct agent *a, const uint8_t pseudonym[32], json_t **flags,
    uint8_t **entries, size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k = { HV_PSEUDONYM_LEN, (void *)pseudonym }, v;
	size_t cap = 0;
	hv_err e;
	int rc;

	*n = 0;
	*entries = NULL;
	if ((e = hv_store_begin(a->store, 1, &txn)) != HV_OK)
		return e;
	*flags = flags_read(a, txn, pseudonym);
	if ((rc = mdb_cursor_open(txn, store_db(a, DB_CHILD_INDEX), &cur)) !=
	    0) {
		e = hv_store_err(rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != IDX_KEY_LEN ||
		    memcmp(k.mv_data, pseudonym, HV_PSEUDONYM_LEN) != 0)
			break;
		if (v.mv_size != IDX_VAL_LEN)
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			uint8_t *ne = realloc(*entries, nc * IDX_VAL_LEN);

			if (ne == NULL) {
				e = HV_ENOMEM;
				goto out;
			}
			*entries = ne;
			cap = nc;
		}
		memcpy(*entries + (*n)++ * IDX_VAL_LEN, v.mv_data, IDX_VAL_LEN);
	}
	mdb_cursor_close(cur);
	cur = NULL;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (*flags == NULL && e == HV_OK)
		e = HV_ENOMEM;
	if (e != HV_OK) {
		json_decref(*flags);
		*flags = NULL;
		free(*entries);
		*entries = NULL;
	}
	return e;
}

/*
 * The query parameter names the child: its field is "nhs" or "local", not
 * the "subject.nhs" of a POST body, so the caller sees which parameter to
 * correct; hv_subject's sentence says what is wrong with it.
 */
static hv_err
normalise(const char *nhs, const char *local, char *norm, size_t cap,
    struct hv_errdetail *d)
{
	hv_err e;

	if ((nhs == NULL) == (local == NULL))
		return hv_errset(d, HV_EBADREQUEST, NULL,
		    "Name the child "
		    "with exactly one of nhs=NHS_NUMBER or "
		    "local=AGENCY:ID.");
	e = nhs != NULL ? hv_subject_nhs(nhs, norm, cap, d) :
	                  hv_subject_local(local, NULL, norm, cap, d);
	if (e != HV_OK && d != NULL)
		snprintf(d->field, sizeof(d->field), "%s",
		    nhs != NULL ? "nhs" : "local");
	return e;
}

hv_err
children_lookup(struct agent *a, const char *nhs, const char *local,
    json_t **out, struct hv_errdetail *d)
{
	char norm[HV_SUBJECT_MAX + 1], active[64] = "", prefix[17];
	uint8_t pseudonym[HV_PSEUDONYM_LEN], *entries = NULL;
	json_t *stored = NULL, *flags = NULL, *chron = NULL;
	size_t n = 0;
	hv_err e;

	if ((e = normalise(nhs, local, norm, sizeof(norm), d)) != HV_OK)
		return e;
	hv_subject_pseudonym(a->subject_key, norm, pseudonym);
	if ((e = read_child(a, pseudonym, &stored, &entries, &n)) != HV_OK)
		return hv_errset(d, e, NULL,
		    "The agent could not read its "
		    "store (%s).",
		    hv_errname(e));
	if ((flags = json_object()) == NULL || (chron = json_array()) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	for (int i = 0; flag_names[i] != NULL; i++) {
		json_t *f = json_object_get(stored, flag_names[i]);

		json_object_set_new(flags, flag_names[i], flag_json(f));
		if (f != NULL && json_is_true(json_object_get(f, "active")))
			snprintf(active + strlen(active),
			    sizeof(active) - strlen(active), "%s%s",
			    active[0] ? ", " : "", flag_names[i]);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *en = entry_json(a, (char)entries[i * IDX_VAL_LEN],
		    entries + i * IDX_VAL_LEN + 1);

		if (en != NULL)
			json_array_append_new(chron, en);
	}
	/* Who looked up a flagged child is worth knowing; never name it. */
	if (active[0] != '\0') {
		hv_hex(pseudonym, 8, prefix);
		hv_log_info("child look-up found active flags (%s) for "
		            "pseudonym %s…",
		    active, prefix);
	}
	if ((*out = json_pack("{s:s, s:O, s:O}", "subject", norm, "flags",
	         flags, "chronology", chron)) == NULL)
		e = HV_ENOMEM;
out:
	json_decref(stored);
	json_decref(flags);
	json_decref(chron);
	free(entries);
	sodium_memzero(norm, sizeof(norm));
	return e;
}
