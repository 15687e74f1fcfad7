/*
 * The broker-style audit store that audit_gen and audit_bench write: N
 * audit records spread over CHILDREN child pseudonyms and the four
 * agencies, in the pattern a partnership produces (SUBMITTED, DELIVERED,
 * ACKNOWLEDGED, a DECISION_RECORDED now and then), with a signed tree head
 * every 1000 records and the broker's public key in meta, as haven-broker
 * writes them. Every record carries the subject key's id, as every record
 * the broker has written since SPEC §15 does (it takes it from the
 * envelope), so `haven audit query --subject-nhs` finds the log's key id
 * in its last record, as it does on a real log.
 *
 * Record i is about child (i / 4) % CHILDREN; child c's NHS number is
 * audit_store_nhs(c). The payloads are never involved: digests and
 * signatures are random bytes, which verify does not check (the senders'
 * keys are not in the store).
 *
 * Header-only (static functions) because the Makefile builds every
 * bench/NAME.c into a program of its own.
 */
#ifndef HV_BENCH_AUDIT_STORE_H
#define HV_BENCH_AUDIT_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_auditlog.h"
#include "hv_keys.h"
#include "hv_store.h"
#include "hv_subject.h"
#include "hv_util.h"

#define AUDIT_STORE_PATH 4096

/* What audit_store_write made, under the folder it was given. */
struct audit_store {
	char store[AUDIT_STORE_PATH]; /* DIR/broker, for --db */
	char subject_key[AUDIT_STORE_PATH]; /* DIR/subject.key */
	char broker_pub[AUDIT_STORE_PATH]; /* DIR/keys/broker.bench.pub */
	unsigned long n, children;
};

static const char *const audit_store_agencies[] = {
	"police.avon",
	"health.bristol-royal",
	"education.st-marys-primary",
	"social-care.bristol",
};
static const char *const audit_store_types[] = {
	"DOMESTIC_ABUSE_NOTIFICATION",
	"UNSCHEDULED_CARE_ATTENDANCE",
	"REFERRAL",
	"INFO_REQUEST",
};

/* A valid NHS number for child c (check digit computed, 10 never used). */
static inline void
audit_store_nhs(unsigned long c, char out[11])
{
	for (unsigned base = (unsigned)c * 7;; base++) {
		unsigned sum = 0, check;

		snprintf(out, 11, "4%08u", base % 100000000u);
		for (int k = 0; k < 9; k++)
			sum += (unsigned)(out[k] - '0') * (unsigned)(10 - k);
		check = 11 - sum % 11;
		if (check == 11)
			check = 0;
		if (check == 10)
			continue;
		out[9] = (char)('0' + check);
		out[10] = '\0';
		return;
	}
}

/* How many of the n records written over `children` are about child c. */
static inline unsigned long
audit_store_count(unsigned long n, unsigned long children, unsigned long c)
{
	unsigned long msgs = n / 4, full = msgs / children, count;

	count = 4 * (full + (c < msgs % children ? 1 : 0));
	/* The last, partial message's records. */
	if (n % 4 != 0 && msgs % children == c)
		count += n % 4;
	return count;
}

/* Fills record i of the log (all but seq, hashes and the subject). */
static inline void
audit_store_record(struct hv_audit_rec *r, unsigned long i, int64_t t0)
{
	const char *sender = audit_store_agencies[(i / 4) % 4];
	const char *to = audit_store_agencies[((i / 4) + 1 + (i / 16) % 3) % 4];

	memset(r, 0, sizeof(*r));
	r->time_ms = t0 + (int64_t)i * 1000;
	switch (i % 4) {
	case 0:
		snprintf(r->event, sizeof(r->event), "SUBMITTED");
		break;
	case 1:
		snprintf(r->event, sizeof(r->event), "DELIVERED");
		snprintf(r->actor, sizeof(r->actor), "%s", to);
		break;
	case 2:
		snprintf(r->event, sizeof(r->event), "ACKNOWLEDGED");
		snprintf(r->actor, sizeof(r->actor), "%s", to);
		break;
	default:
		snprintf(r->event, sizeof(r->event),
		    i % 40 == 3 ? "DECISION_RECORDED" : "DELIVERED");
		snprintf(r->actor, sizeof(r->actor), "%s", to);
		break;
	}
	r->has_id = 1;
	randombytes_buf(r->id, sizeof(r->id));
	snprintf(r->sender, sizeof(r->sender), "%s", sender);
	if (strcmp(r->event, "DECISION_RECORDED") != 0) {
		r->n_recipients = 1;
		snprintf(r->recipients[0], sizeof(r->recipients[0]), "%s", to);
	} else {
		snprintf(r->outcome, sizeof(r->outcome), "NOT_SHARED");
	}
	snprintf(r->type, sizeof(r->type), "%s",
	    audit_store_types[(i / 4) % 4]);
	snprintf(r->priority, sizeof(r->priority), "URGENT");
	r->has_basis = 1;
	snprintf(r->basis.consent, sizeof(r->basis.consent), "NOT_SOUGHT");
	snprintf(r->basis.art6, sizeof(r->basis.art6), "PUBLIC_TASK");
	snprintf(r->basis.art9, sizeof(r->basis.art9), "SAFEGUARDING");
	snprintf(r->basis.justification, sizeof(r->basis.justification),
	    "Seeking consent would place the child at increased risk.");
	snprintf(r->basis.decided_by, sizeof(r->basis.decided_by),
	    "duty.officer");
	r->has_digest = r->has_signature = 1;
	randombytes_buf(r->digest, sizeof(r->digest));
	randombytes_buf(r->signature, sizeof(r->signature));
	r->created = r->time_ms / 1000;
}

/*
 * Writes the keys and a store of n records over `children` children into
 * dir, an existing empty folder, and fills *out. Returns 0, or -1 after
 * printing one sentence prefixed by prog on stderr. Needs sodium_init().
 */
static inline int
audit_store_write(const char *prog, const char *dir, unsigned long n,
    unsigned long children, struct audit_store *out)
{
	static const char meta_key[] = "broker_sign_public";
	struct hv_audit_rec *r = NULL;
	struct hv_errdetail d;
	hv_store *s = NULL;
	hv_keys *broker = NULL;
	uint8_t *skey = NULL, kid[HV_SUBJECT_KEY_ID_LEN];
	hv_auditlog log;
	MDB_txn *txn = NULL;
	char keys[AUDIT_STORE_PATH];
	const char *what = NULL;
	int64_t t0 = 1767225600000; /* 2026-01-01 */
	int rc = -1;
	hv_err e = HV_OK;

	hv_errclear(&d);
	memset(out, 0, sizeof(*out));
	if (strlen(dir) > AUDIT_STORE_PATH / 2) {
		fprintf(stderr, "%s: the folder name %.40s... is too long.\n",
		    prog, dir);
		return -1;
	}
	out->n = n;
	out->children = children;
	snprintf(out->subject_key, sizeof(out->subject_key), "%s/subject.key",
	    dir);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(out->broker_pub, sizeof(out->broker_pub),
	    "%s/keys/broker.bench.pub", dir);
	snprintf(out->store, sizeof(out->store), "%s/broker", dir);
	what = "cannot make the keys";
	if ((e = hv_subject_key_generate(out->subject_key, &d)) != HV_OK ||
	    (e = hv_subject_key_load(out->subject_key, &skey, &d)) != HV_OK ||
	    (e = hv_keys_generate(&broker)) != HV_OK ||
	    (e = hv_keys_save(broker, "broker.bench", keys, NULL, &d)) != HV_OK)
		goto fail;
	hv_subject_key_id(skey, kid);
	what = "cannot open the store";
	if ((e = hv_store_open(out->store, (uint64_t)n * 2048 + (64u << 20), 0,
	         hv_auditlog_dbnames, HV_AUDITLOG_NDBS, &s, &d)) != HV_OK)
		goto fail;
	if ((r = malloc(sizeof(*r))) == NULL) {
		e = HV_ENOMEM;
		goto fail;
	}
	log.store = s;
	log.base = 0;
	what = "cannot write the log";
	for (unsigned long i = 0; i < n; i++) {
		char nhs[11], norm[HV_SUBJECT_MAX];

		if (txn == NULL && (e = hv_store_begin(s, 0, &txn)) != HV_OK)
			goto fail;
		audit_store_record(r, i, t0);
		audit_store_nhs((i / 4) % children, nhs);
		if ((e = hv_subject_nhs(nhs, norm, sizeof(norm), &d)) != HV_OK)
			goto fail;
		r->has_subject = 1;
		hv_subject_pseudonym(skey, norm, r->subject);
		r->has_subject_key_id = 1;
		memcpy(r->subject_key_id, kid, sizeof(r->subject_key_id));
		if ((e = hv_auditlog_append(&log, txn, r)) != HV_OK)
			goto fail;
		if (((i + 1) % 1000 == 0 || i + 1 == n) &&
		    (e = hv_auditlog_sign_head(&log, txn, broker,
		         r->time_ms)) != HV_OK)
			goto fail;
		if ((i + 1) % 20000 != 0 && i + 1 != n)
			continue;
		if (i + 1 == n) {
			MDB_val k = { strlen(meta_key), (void *)meta_key };
			MDB_val v = { 32, broker->pub.sign };

			if ((e = hv_store_err(mdb_put(txn,
			         s->dbi[HV_AUDITLOG_NDBS - 1], &k, &v, 0))) !=
			    HV_OK)
				goto fail;
		}
		e = hv_store_commit(txn);
		txn = NULL;
		if (e != HV_OK)
			goto fail;
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "%s: %s in %s: %s\n", prog, what, dir,
	    hv_errmsg(e, &d));
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(r);
	hv_store_close(&s);
	hv_keys_destroy(&broker);
	hv_secret_free(skey);
	return rc;
}

#endif
