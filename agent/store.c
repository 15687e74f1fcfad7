/*
 * The agent's LMDB store: the outbox, the inbox, their indexes and the
 * per-message timelines (see enum agent_db in agent.h).
 *
 * Everything is keyed by the 16-byte message id or by an 8-byte big-endian
 * sequence number taken from one counter, so that iteration order is the
 * order in which things were committed. The store never holds a decrypted
 * payload: inbox entries are the envelopes exactly as received.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_util.h"

static const char *const store_dbnames[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_OUTBOX] = "outbox",
	[DB_PENDING] = "pending",
	[DB_TIMELINE] = "timeline",
	[DB_RSEEN] = "receipts_seen",
	[DB_INBOX] = "inbox",
	[DB_INORDER] = "inbox_order",
	[DB_UNACKED] = "unacked",
	[DB_ESC] = "escalations",
	[DB_ACKS] = "acks",
	[DB_HACK] = "human_acks",
	[DB_CHILD_FLAGS] = "child_flags",
	[DB_CHILD_INDEX] = "child_index",
	[DB_HOOKQ] = "hook_queue",
	[DB_RETRACT_OUT] = "retract_out",
	[DB_RETRACTED] = "retracted",
	[DB_TOMBSTONES] = "tombstones",
	[DB_HOLDS] = "holds",
	[DB_HOLD_OUT] = "hold_out",
	[DB_REFUSALS] = "refusals",
	[DB_OUTORDER] = "outbox_order",
};

/*
 * Opens (creating) the store in data_dir. Errors: HV_EIO, HV_ENOMEM with
 * the detail naming the folder.
 */
hv_err
store_open(struct agent *a, struct hv_errdetail *d)
{
	char *p = strdup(a->cfg.data_dir);

	if (p == NULL)
		return HV_ENOMEM;
	/* Create missing parents too (mode 0700); the store makes the leaf. */
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			hv_errset(d, HV_EIO, "data_dir",
			    "cannot create %s: %s.", p, strerror(errno));
			free(p);
			return HV_EIO;
		}
		*s = '/';
	}
	free(p);
	return hv_store_open(a->cfg.data_dir, a->cfg.map_size, 0, store_dbnames,
	    DB_COUNT, &a->store, d);
}

hv_err
store_check(struct agent *a, struct hv_errdetail *d)
{
	char mdb[4200];
	hv_err e;

	if ((e = hv_store_check_dir(a->cfg.data_dir, d)) != HV_OK)
		return e;
	snprintf(mdb, sizeof(mdb), "%s/data.mdb", a->cfg.data_dir);
	if (access(mdb, F_OK) != 0)
		return HV_OK;
	/* Read-only and unlocked: the agent may be running. */
	e = hv_store_open(a->cfg.data_dir, 0, 1, store_dbnames, DB_COUNT,
	    &a->store, d);
	if (e == HV_ENOTFOUND)
		return HV_OK; /* made by a release with fewer databases */
	if (e != HV_OK)
		return e;
	e = store_directory_check(a, a->dir, d);
	hv_store_close(&a->store);
	return e;
}

void
store_close(struct agent *a)
{
	hv_store_close(&a->store);
}

MDB_dbi
store_db(struct agent *a, enum agent_db db)
{
	return a->store->dbi[db];
}

hv_err
store_next_seq(struct agent *a, MDB_txn *txn, uint64_t *seq)
{
	MDB_val k = { 3, (void *)"seq" }, v;
	uint8_t buf[8];
	uint64_t n = 0;
	int rc;

	rc = mdb_get(txn, store_db(a, DB_META), &k, &v);
	if (rc == 0 && v.mv_size == 8)
		n = hv_be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return hv_store_err(rc);
	n++;
	hv_be64_put(buf, n);
	v.mv_size = 8;
	v.mv_data = buf;
	if ((rc = mdb_put(txn, store_db(a, DB_META), &k, &v, 0)) != 0)
		return hv_store_err(rc);
	*seq = n;
	return HV_OK;
}

hv_err
store_put(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen, const void *v, size_t vlen)
{
	MDB_val mk = { klen, (void *)k }, mv = { vlen, (void *)v };
	int rc;

	if ((rc = mdb_put(txn, store_db(a, db), &mk, &mv, 0)) != 0)
		return hv_store_err(rc);
	return HV_OK;
}

hv_err
store_get(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen, MDB_val *v)
{
	MDB_val mk = { klen, (void *)k };
	int rc;

	if ((rc = mdb_get(txn, store_db(a, db), &mk, v)) != 0)
		return hv_store_err(rc);
	return HV_OK;
}

/* Deletes key; a missing key is not an error. */
hv_err
store_del(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen)
{
	MDB_val mk = { klen, (void *)k };
	int rc;

	rc = mdb_del(txn, store_db(a, db), &mk, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return hv_store_err(rc);
	return HV_OK;
}

size_t
store_count(struct agent *a, MDB_txn *txn, enum agent_db db)
{
	MDB_stat st;

	if (mdb_stat(txn, store_db(a, db), &st) != 0)
		return 0;
	return st.ms_entries;
}

/* ---- fixed headers ----------------------------------------------------- */

void
ob_hdr_put(uint8_t out[OB_HDR_LEN], const struct ob_hdr *h)
{
	memset(out, 0, OB_HDR_LEN);
	out[0] = h->kind;
	out[1] = h->final;
	out[2] = h->reskewed;
	out[3] = h->full_tries; /* 0 in stores written before it was kept */
	hv_be64_put(out + 8, (uint64_t)h->queued_ms);
	hv_be64_put(out + 16, h->pending_seq);
	hv_be64_put(out + 24, (uint64_t)h->retry_at_ms);
}

void
ob_hdr_get(const uint8_t in[OB_HDR_LEN], struct ob_hdr *h)
{
	h->kind = in[0];
	h->final = in[1];
	h->reskewed = in[2];
	h->full_tries = in[3];
	h->queued_ms = (int64_t)hv_be64_get(in + 8);
	h->pending_seq = hv_be64_get(in + 16);
	h->retry_at_ms = (int64_t)hv_be64_get(in + 24);
}

void
in_hdr_put(uint8_t out[IN_HDR_LEN], const struct in_hdr *h)
{
	memset(out, 0, IN_HDR_LEN);
	out[0] = h->flags;
	hv_be64_put(out + 8, (uint64_t)h->received_ms);
	hv_be64_put(out + 16, h->order_seq);
	hv_be64_put(out + 24, (uint64_t)h->escalate_at_ms);
}

void
in_hdr_get(const uint8_t in[IN_HDR_LEN], struct in_hdr *h)
{
	h->flags = in[0];
	h->received_ms = (int64_t)hv_be64_get(in + 8);
	h->order_seq = hv_be64_get(in + 16);
	h->escalate_at_ms = (int64_t)hv_be64_get(in + 24);
}

/* ---- timelines --------------------------------------------------------- */

json_t *
json_time(int64_t ms)
{
	char buf[40];

	hv_time_iso(ms, buf, sizeof(buf));
	return json_string(buf);
}

/*
 * Appends entry (the reference is stolen) to id's timeline inside txn.
 * Errors: HV_ENOMEM, HV_ESTORAGEFULL, HV_EIO.
 */
hv_err
store_timeline_add(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    json_t *entry)
{
	uint8_t key[HV_ID_LEN + 8];
	uint64_t seq;
	char *text = NULL;
	hv_err e = HV_ENOMEM;

	if (entry == NULL)
		goto out;
	if ((text = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	if ((e = store_next_seq(a, txn, &seq)) != HV_OK)
		goto out;
	memcpy(key, id, HV_ID_LEN);
	hv_be64_put(key + HV_ID_LEN, seq);
	e = store_put(a, txn, DB_TIMELINE, key, sizeof(key), text,
	    strlen(text));
out:
	free(text);
	json_decref(entry);
	return e;
}

/* The timeline entries of id, oldest first, as a new JSON array. */
json_t *
store_timeline(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN])
{
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = { HV_ID_LEN, (void *)id }, v;
	int rc;

	if (arr == NULL ||
	    mdb_cursor_open(txn, store_db(a, DB_TIMELINE), &cur) != 0)
		return arr;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *j;

		if (k.mv_size != HV_ID_LEN + 8 ||
		    memcmp(k.mv_data, id, HV_ID_LEN) != 0)
			break;
		j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		if (j != NULL)
			json_array_append_new(arr, j);
	}
	mdb_cursor_close(cur);
	return arr;
}

/* ---- the directory in force -------------------------------------------- */

/*
 * Meta "directory" holds be64 version || BLAKE2b-256 content digest of the
 * directory this agent last put in force, so that a rollback is refused
 * across restarts too, not only by a reload (SPEC §5).
 */
#define DIR_KEY "directory"
#define DIR_REC_LEN (8 + HV_DIRECTORY_DIGEST_LEN)

hv_err
store_directory_check(struct agent *a, const hv_directory *dir,
    struct hv_errdetail *d)
{
	uint8_t digest[HV_DIRECTORY_DIGEST_LEN];
	unsigned long long had, next = hv_directory_version(dir);
	MDB_txn *txn;
	MDB_val v;
	hv_err e;

	if ((e = hv_directory_digest(dir, digest)) != HV_OK)
		return e;
	if ((e = hv_store_begin(a->store, 1, &txn)) != HV_OK)
		return hv_errset(d, e, "data_dir",
		    "cannot read the store in "
		    "%s.",
		    a->cfg.data_dir);
	e = store_get(a, txn, DB_META, DIR_KEY, strlen(DIR_KEY), &v);
	if (e == HV_ENOTFOUND || (e == HV_OK && v.mv_size != DIR_REC_LEN)) {
		mdb_txn_abort(txn);
		return HV_OK; /* nothing recorded yet */
	}
	if (e != HV_OK) {
		mdb_txn_abort(txn);
		return hv_errset(d, e, "data_dir",
		    "cannot read the store in "
		    "%s.",
		    a->cfg.data_dir);
	}
	had = (unsigned long long)hv_be64_get(v.mv_data);
	if (next < had)
		e = hv_errset(d, HV_EROLLBACK, "version",
		    "%s is directory "
		    "version %llu, older than version %llu that this agent "
		    "last had in force; refusing the rollback: copy in the "
		    "current directory, or build one with a version above "
		    "%llu.",
		    a->cfg.directory, next, had, had);
	else if (next == had &&
	    sodium_memcmp(digest, (uint8_t *)v.mv_data + 8,
	        HV_DIRECTORY_DIGEST_LEN) != 0)
		e = hv_errset(d, HV_EROLLBACK, "version",
		    "%s is directory "
		    "version %llu but not the version %llu this agent last "
		    "had in force; a changed directory needs a higher "
		    "version.",
		    a->cfg.directory, next, had);
	mdb_txn_abort(txn);
	return e;
}

hv_err
store_directory_record(struct agent *a, const hv_directory *dir)
{
	uint8_t rec[DIR_REC_LEN];
	MDB_txn *txn;
	hv_err e;

	hv_be64_put(rec, hv_directory_version(dir));
	if ((e = hv_directory_digest(dir, rec + 8)) != HV_OK ||
	    (e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		return e;
	if ((e = store_put(a, txn, DB_META, DIR_KEY, strlen(DIR_KEY), rec,
	         sizeof(rec))) != HV_OK) {
		mdb_txn_abort(txn);
		return e;
	}
	return hv_store_commit(txn);
}
