/*
 * audit_gen — writes a broker-style audit store of N records for measuring
 * `haven audit verify` and `haven audit query` at scale (issue figures, not
 * a test).
 *
 *   audit_gen DIR N [CHILDREN]
 *
 * Creates DIR (which must not exist) holding N audit records spread over
 * CHILDREN (default 10000) child pseudonyms and the four agencies, in the
 * pattern a partnership produces (SUBMITTED, DELIVERED, ACKNOWLEDGED, a
 * DECISION_RECORDED now and then), with a signed tree head every 1000
 * records and the broker's public key in meta, exactly as haven-broker
 * writes them. Prints the subject key file and broker .pub it made, so a
 * query by NHS number and a verify with --broker-pub can be timed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "hv_auditlog.h"
#include "hv_keys.h"
#include "hv_store.h"
#include "hv_subject.h"
#include "hv_util.h"

static const char *const agencies[] = {
	"police.avon", "health.bristol-royal", "education.st-marys-primary",
	"social-care.bristol",
};
static const char *const types[] = {
	"DOMESTIC_ABUSE_NOTIFICATION", "UNSCHEDULED_CARE_ATTENDANCE",
	"REFERRAL", "INFO_REQUEST",
};

/* A valid NHS number for child i (check digit computed, 10 never used). */
static void
nhs_for(unsigned i, char out[11])
{
	for (unsigned base = i * 7;; base++) {
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

int
main(int argc, char **argv)
{
	const char *dir;
	unsigned long n, children = 10000;
	hv_store *s = NULL;
	hv_keys *broker = NULL;
	uint8_t *skey;
	hv_auditlog log;
	struct hv_errdetail d;
	MDB_txn *txn = NULL;
	char path[4096];
	int64_t t0 = 1767225600000;	/* 2026-01-01 */

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: audit_gen DIR N [CHILDREN]\n");
		return 2;
	}
	dir = argv[1];
	n = strtoul(argv[2], NULL, 10);
	if (argc == 4)
		children = strtoul(argv[3], NULL, 10);
	if (sodium_init() < 0 || n == 0 || children == 0)
		return 2;
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "audit_gen: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/subject.key", dir);
	if (hv_subject_key_generate(path, &d) != HV_OK ||
	    hv_subject_key_load(path, &skey, &d) != HV_OK ||
	    hv_keys_generate(&broker) != HV_OK) {
		fprintf(stderr, "audit_gen: %s\n", d.message);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/keys", dir);
	if (hv_keys_save(broker, "broker.bench", path, NULL, &d) != HV_OK) {
		fprintf(stderr, "audit_gen: %s\n", d.message);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/broker", dir);
	if (hv_store_open(path, (uint64_t)n * 2048 + (64u << 20), 0,
	    hv_auditlog_dbnames, HV_AUDITLOG_NDBS, &s, &d) != HV_OK) {
		fprintf(stderr, "audit_gen: %s\n", d.message);
		return 1;
	}
	log.store = s;
	log.base = 0;
	for (unsigned long i = 0; i < n; i++) {
		struct hv_audit_rec r;
		unsigned long child = (i / 4) % children;
		char nhs[11], norm[HV_SUBJECT_MAX];
		const char *sender = agencies[(i / 4) % 4];
		const char *to = agencies[((i / 4) + 1 + (i / 16) % 3) % 4];

		if (txn == NULL && hv_store_begin(s, 0, &txn) != HV_OK)
			return 1;
		memset(&r, 0, sizeof(r));
		r.time_ms = t0 + (int64_t)i * 1000;
		switch (i % 4) {
		case 0:
			snprintf(r.event, sizeof(r.event), "SUBMITTED");
			break;
		case 1:
			snprintf(r.event, sizeof(r.event), "DELIVERED");
			snprintf(r.actor, sizeof(r.actor), "%s", to);
			break;
		case 2:
			snprintf(r.event, sizeof(r.event), "ACKNOWLEDGED");
			snprintf(r.actor, sizeof(r.actor), "%s", to);
			break;
		default:
			snprintf(r.event, sizeof(r.event), i % 40 == 3 ?
			    "DECISION_RECORDED" : "DELIVERED");
			snprintf(r.actor, sizeof(r.actor), "%s", to);
			break;
		}
		r.has_id = 1;
		randombytes_buf(r.id, sizeof(r.id));
		snprintf(r.sender, sizeof(r.sender), "%s", sender);
		if (strcmp(r.event, "DECISION_RECORDED") != 0) {
			r.n_recipients = 1;
			snprintf(r.recipients[0], sizeof(r.recipients[0]), "%s",
			    to);
		} else {
			snprintf(r.outcome, sizeof(r.outcome), "NOT_SHARED");
		}
		snprintf(r.type, sizeof(r.type), "%s", types[(i / 4) % 4]);
		snprintf(r.priority, sizeof(r.priority), "URGENT");
		r.has_basis = 1;
		snprintf(r.basis.consent, sizeof(r.basis.consent), "NOT_SOUGHT");
		snprintf(r.basis.art6, sizeof(r.basis.art6), "PUBLIC_TASK");
		snprintf(r.basis.art9, sizeof(r.basis.art9), "SAFEGUARDING");
		snprintf(r.basis.justification, sizeof(r.basis.justification),
		    "Seeking consent would place the child at increased risk.");
		snprintf(r.basis.decided_by, sizeof(r.basis.decided_by),
		    "duty.officer");
		nhs_for((unsigned)child, nhs);
		if (hv_subject_nhs(nhs, norm, sizeof(norm), NULL) != HV_OK)
			return 1;
		r.has_subject = 1;
		hv_subject_pseudonym(skey, norm, r.subject);
		r.has_digest = r.has_signature = 1;
		randombytes_buf(r.digest, sizeof(r.digest));
		randombytes_buf(r.signature, sizeof(r.signature));
		r.created = r.time_ms / 1000;
		if (hv_auditlog_append(&log, txn, &r) != HV_OK)
			return 1;
		if ((i + 1) % 1000 == 0 || i + 1 == n) {
			if (hv_auditlog_sign_head(&log, txn, broker,
			    r.time_ms) != HV_OK)
				return 1;
		}
		if ((i + 1) % 20000 == 0 || i + 1 == n) {
			if (i + 1 == n) {
				MDB_val k = { strlen("broker_sign_public"),
				    "broker_sign_public" };
				MDB_val v = { 32, broker->pub.sign };

				mdb_put(txn, s->dbi[HV_AUDITLOG_NDBS - 1], &k,
				    &v, 0);
			}
			if (hv_store_commit(txn) != HV_OK)
				return 1;
			txn = NULL;
		}
	}
	{
		char child0[11];

		nhs_for(0, child0);
		printf("store       %s/broker (%lu records, %lu children)\n",
		    dir, n, children);
		printf("subject key %s/subject.key\n", dir);
		printf("broker pub  %s/keys/broker.bench.pub\n", dir);
		printf("child 0     NHS number %s\n", child0);
	}
	hv_store_close(&s);
	hv_keys_destroy(&broker);
	hv_secret_free(skey);
	return 0;
}
