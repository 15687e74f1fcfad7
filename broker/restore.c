/*
 * haven-broker — the restore notice at start-up (SPEC §13).
 *
 * After the store was restored from a backup, the administrator signs a
 * notice with the root key (`haven audit restore-notice`). The broker
 * checks it before anything else is written: the root's signature, this
 * partnership, and that the store's log is exactly the restored log the
 * notice names (size and root); anything else stops start-up with one
 * sentence naming the file. It then records RESTORED once (restored size,
 * reason), keeps the notice in the audit meta ("restore_notice") and hands
 * it, with a consistency proof from the restored log, to every agent that
 * asks for a tree head, so that agents which saw the lost records accept
 * the shorter history and send again what the broker lost.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_restore.h"
#include "hv_util.h"

#define META_NOTICE "restore_notice"

/* One sentence naming the notice file on stderr, and exit 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
refuse(const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "haven-broker: restore notice %s ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* 1 when the meta holds exactly these notice bytes (already applied). */
static int
applied(struct broker *b, MDB_txn *txn, const uint8_t *buf, size_t len)
{
	MDB_val k = { strlen(META_NOTICE), META_NOTICE }, v;

	return mdb_get(txn, b->db_audit_meta, &k, &v) == 0 &&
	    v.mv_size == len && memcmp(v.mv_data, buf, len) == 0;
}

/* The RESTORED record and the notice in the meta, in txn. */
static hv_err
record(struct broker *b, MDB_txn *txn, const struct hv_restore_notice *n,
    const uint8_t *buf, size_t len)
{
	MDB_val k = { strlen(META_NOTICE), META_NOTICE };
	MDB_val v = { len, (void *)buf };
	struct hv_audit_rec rec;
	char when[40];
	size_t cut;
	hv_err e;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.event, sizeof(rec.event), "%s",
	    hv_event_name(HV_EV_RESTORED));
	snprintf(rec.actor, sizeof(rec.actor), "%s", b->cfg.id);
	hv_time_iso(n->time_ms, when, sizeof(when));
	snprintf(rec.detail, sizeof(rec.detail),
	    "Store restored to %llu "
	    "records (notice signed %s): %s",
	    (unsigned long long)n->size, when, n->reason);
	/* The reason is whole UTF-8; a cut must not split a character. */
	for (cut = strlen(rec.detail);
	     cut > 0 && !hv_utf8_valid(rec.detail, cut);)
		rec.detail[--cut] = '\0';
	if ((e = audit_append(b, txn, &rec)) != HV_OK ||
	    (e = hv_store_err(mdb_put(txn, b->db_audit_meta, &k, &v, 0))) !=
	        HV_OK)
		return e;
	return audit_head_due(b, txn, 1);
}

void
restore_start(struct broker *b, const char *path)
{
	struct hv_restore_notice n;
	struct hv_errdetail d;
	uint8_t *buf = NULL;
	size_t len = 0;
	MDB_txn *txn;
	hv_err e;

	if (path == NULL)
		return;
	hv_errclear(&d);
	if (hv_read_file(path, HV_RESTORE_FILE_MAX + 1, &buf, &len) != 0)
		refuse(path,
		    "cannot be read: give the file `haven audit "
		    "restore-notice` wrote.");
	if ((e = hv_restore_verify(buf, len, b->root_sign,
	         hv_directory_partnership(b->dir), &n, &d)) != HV_OK)
		refuse(path, "is refused: %s", hv_errmsg(e, &d));
	if ((e = store_txn_begin(b, &txn)) != HV_OK)
		refuse(path, "cannot be applied: %s", hv_strerror(e));
	if (applied(b, txn, buf, len)) {
		/* Started again after the restore: the log has grown since,
		 * and must still begin with the restored log. */
		e = hv_restore_check_log(&n, &b->log, txn, 0, &d);
		store_txn_abort(b, txn);
		free(buf);
		if (e != HV_OK)
			refuse(path, "does not match this store: %s",
			    hv_errmsg(e, &d));
		hv_log_info("restore notice %s was applied before", path);
		return;
	}
	if ((e = hv_restore_check_log(&n, &b->log, txn, 1, &d)) != HV_OK) {
		store_txn_abort(b, txn);
		refuse(path,
		    "does not match this store: %s Sign a notice over "
		    "this store as it is now (haven audit restore-notice --db "
		    "%s) and start the broker with that one.",
		    hv_errmsg(e, &d), b->cfg.data_dir);
	}
	if ((e = record(b, txn, &n, buf, len)) != HV_OK) {
		store_txn_abort(b, txn);
		refuse(path, "cannot be recorded: %s", hv_strerror(e));
	}
	if ((e = store_txn_commit(b, txn)) != HV_OK)
		refuse(path, "cannot be recorded: %s", hv_strerror(e));
	b->audit_dirty = 0;
	free(buf);
	hv_log_warnx("the store was restored to %llu records; RESTORED is "
	             "recorded and the notice is served to the agents",
	    (unsigned long long)n.size);
}

hv_err
restore_served(struct broker *b, MDB_txn *txn, uint64_t head_size,
    uint8_t **notice, size_t *nlen,
    uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN], size_t *plen)
{
	MDB_val k = { strlen(META_NOTICE), META_NOTICE }, v;
	struct hv_auditlog_leaves lv = { &b->log, txn };
	struct hv_restore_notice n;
	hv_err e;

	*plen = 0;
	if (mdb_get(txn, b->db_audit_meta, &k, &v) != 0)
		return HV_ENOTFOUND;
	if ((e = hv_restore_parse(v.mv_data, v.mv_size, &n, NULL)) != HV_OK)
		return e;
	/*
	 * Building the proof reads the leaves, and every agent asks every
	 * few seconds: it is made once per head size and kept.
	 */
	if (n.size > 0 && n.size < head_size && b->rn_for != head_size) {
		b->rn_for = 0;
		if ((e = hv_merkle_consistency_proof(hv_auditlog_leaf_fn, &lv,
		         n.size, head_size, b->rn_proof, &b->rn_plen)) != HV_OK)
			return e;
		b->rn_for = head_size;
	}
	if (n.size > 0 && n.size < head_size) {
		memcpy(proof, b->rn_proof, b->rn_plen * HV_HASH_LEN);
		*plen = b->rn_plen;
	}
	if ((*notice = malloc(v.mv_size)) == NULL)
		return HV_ENOMEM;
	memcpy(*notice, v.mv_data, v.mv_size);
	*nlen = v.mv_size;
	return HV_OK;
}
