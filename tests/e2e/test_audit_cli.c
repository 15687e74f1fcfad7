/*
 * test_audit_cli — `haven audit` against a broker store built in a fresh
 * mkdtemp folder with libhaven: two children, shares, a delivery, a
 * decision not to share, a refusal, signed tree heads and the broker key in
 * meta, as the broker leaves them. Every test runs the real bin/haven and
 * checks its output and exit status; the tamper tests change the store
 * through LMDB the way someone with the files could.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "harness.h"
#include "hv_auditlog.h"
#include "hv_events.h"
#include "hv_keys.h"
#include "hv_subject.h"
#include "hv_util.h"

#define DAY1 1795338000000LL /* 2026-11-22T09:00:00Z */
#define DAY2 (DAY1 + 86400000LL) /* 2026-11-23T09:00:00Z */

struct fx {
	char dir[PATH_MAX];
	char db[PATH_MAX + 16];
	char pub[PATH_MAX + 32]; /* the broker's .pub */
	char other_pub[PATH_MAX + 32]; /* another broker's */
	char skey[PATH_MAX + 16]; /* the subject key */
	char nhs_a[11], nhs_b[11];
	uint8_t subj_a[32], subj_b[32];
	uint8_t id[8][16]; /* message ids by record */
	hv_keys *broker;
	hv_store *s;
	hv_auditlog log;
};

/* A valid NHS number starting with the nine digits of prefix. */
static void
nhs_number(const char *prefix, char out[11])
{
	for (char c = '0'; c <= '9'; c++) {
		snprintf(out, 11, "%.9s%c", prefix, c);
		if (hv_nhs_check_digit_ok(out))
			return;
	}
	cr_assert_fail("no check digit for %s", prefix);
}

static void
pseudonym(struct fx *fx, const char *nhs, uint8_t out[32])
{
	char norm[HV_SUBJECT_MAX];
	uint8_t *key;

	cr_assert_eq(hv_subject_nhs(nhs, norm, sizeof(norm), NULL), HV_OK);
	cr_assert_eq(hv_subject_key_load(fx->skey, &key, NULL), HV_OK);
	hv_subject_pseudonym(key, norm, out);
	hv_secret_free(key);
}

static void
basis(struct hv_audit_rec *r, const char *consent, const char *art6,
    const char *art9, const char *why, const char *who)
{
	r->has_basis = 1;
	snprintf(r->basis.consent, sizeof(r->basis.consent), "%s", consent);
	snprintf(r->basis.art6, sizeof(r->basis.art6), "%s", art6);
	snprintf(r->basis.art9, sizeof(r->basis.art9), "%s", art9);
	snprintf(r->basis.justification, sizeof(r->basis.justification), "%s",
	    why);
	snprintf(r->basis.decided_by, sizeof(r->basis.decided_by), "%s", who);
}

static void
message(struct fx *fx, struct hv_audit_rec *r, int k, const char *event,
    int64_t t, const char *sender, const char *to1, const char *to2,
    const char *type, const uint8_t subj[32])
{
	memset(r, 0, sizeof(*r));
	r->time_ms = t;
	snprintf(r->event, sizeof(r->event), "%s", event);
	r->has_id = 1;
	memcpy(r->id, fx->id[k], 16);
	snprintf(r->sender, sizeof(r->sender), "%s", sender);
	if (to1 != NULL)
		snprintf(r->recipients[r->n_recipients++], HV_NODE_MAX + 1,
		    "%s", to1);
	if (to2 != NULL)
		snprintf(r->recipients[r->n_recipients++], HV_NODE_MAX + 1,
		    "%s", to2);
	snprintf(r->type, sizeof(r->type), "%s", type);
	snprintf(r->priority, sizeof(r->priority), "URGENT");
	r->has_subject = 1;
	memcpy(r->subject, subj, 32);
	r->has_signature = 1;
	randombytes_buf(r->signature, sizeof(r->signature));
	r->created = t / 1000;
}

static void
append(struct fx *fx, struct hv_audit_rec *r, int sign)
{
	MDB_txn *txn;

	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	cr_assert_eq(hv_auditlog_append(&fx->log, txn, r), HV_OK);
	if (sign)
		cr_assert_eq(hv_auditlog_sign_head(&fx->log, txn, fx->broker,
		                 r->time_ms + 500),
		    HV_OK);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

static void
put_meta(struct fx *fx, const char *key, const void *v, size_t len)
{
	MDB_txn *txn;
	MDB_val k = { strlen(key), (void *)key }, d = { len, (void *)v };

	cr_assert_eq(hv_store_begin(fx->s, 0, &txn), HV_OK);
	cr_assert_eq(mdb_put(txn, fx->s->dbi[HV_AUDITLOG_NDBS - 1], &k, &d, 0),
	    0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
}

/*
 * The log, by sequence number:
 *  1 DIRECTORY_LOADED (no subject)                         day 1
 *  2 SUBMITTED  A police.avon -> school, social care       day 1
 *  3 DELIVERED  A to the school                            day 1
 *  4 DECISION_RECORDED A by health, not shared             day 1
 *  5 SUBMITTED  B school -> social care, consent REFUSED   day 1
 *  6 REJECTED   B police -> health, POLICY_DENIED          day 1
 *  7 SUBMITTED  A health -> social care                    day 2
 * with signed heads at sizes 4 and 7.
 */
static void
fx_build(struct fx *fx, int with_key)
{
	struct hv_audit_rec r;
	hv_keys *other;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/hv-auditcli-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir));
	snprintf(fx->db, sizeof(fx->db), "%s/broker", fx->dir);
	snprintf(fx->pub, sizeof(fx->pub), "%s/broker.bristol.pub", fx->dir);
	snprintf(fx->other_pub, sizeof(fx->other_pub), "%s/broker.other.pub",
	    fx->dir);
	snprintf(fx->skey, sizeof(fx->skey), "%s/subject.key", fx->dir);
	cr_assert_eq(hv_keys_generate(&fx->broker), HV_OK);
	cr_assert_eq(hv_keys_save(fx->broker, "broker.bristol", fx->dir, NULL,
	                 NULL),
	    HV_OK);
	cr_assert_eq(hv_keys_generate(&other), HV_OK);
	cr_assert_eq(hv_keys_save(other, "broker.other", fx->dir, NULL, NULL),
	    HV_OK);
	hv_keys_destroy(&other);
	cr_assert_eq(hv_subject_key_generate(fx->skey, NULL), HV_OK);
	nhs_number("943476591", fx->nhs_a);
	nhs_number("401023213", fx->nhs_b);
	pseudonym(fx, fx->nhs_a, fx->subj_a);
	pseudonym(fx, fx->nhs_b, fx->subj_b);
	for (int i = 0; i < 8; i++)
		randombytes_buf(fx->id[i], 16);

	cr_assert_eq(hv_store_open(fx->db, 1ULL << 24, 0, hv_auditlog_dbnames,
	                 HV_AUDITLOG_NDBS, &fx->s, NULL),
	    HV_OK);
	fx->log.store = fx->s;
	fx->log.base = 0;

	memset(&r, 0, sizeof(r));
	r.time_ms = DAY1;
	snprintf(r.event, sizeof(r.event), "DIRECTORY_LOADED");
	snprintf(r.actor, sizeof(r.actor), "broker.bristol");
	r.directory_version = 1;
	append(fx, &r, 0);

	message(fx, &r, 2, "SUBMITTED", DAY1 + 60000, "police.avon",
	    "education.st-marys-primary", "social-care.bristol",
	    "DOMESTIC_ABUSE_NOTIFICATION", fx->subj_a);
	basis(&r, "NOT_SOUGHT", "PUBLIC_TASK", "SAFEGUARDING",
	    "Operation Encompass: telling the family would put the child at "
	    "risk.",
	    "PC 1234 Avon");
	r.flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
	append(fx, &r, 0);

	message(fx, &r, 2, "DELIVERED", DAY1 + 61000, "police.avon",
	    "education.st-marys-primary", "social-care.bristol",
	    "DOMESTIC_ABUSE_NOTIFICATION", fx->subj_a);
	snprintf(r.actor, sizeof(r.actor), "education.st-marys-primary");
	append(fx, &r, 0);

	message(fx, &r, 4, "DECISION_RECORDED", DAY1 + 120000,
	    "health.bristol-royal", NULL, NULL, "CASE_UPDATE", fx->subj_a);
	basis(&r, "REFUSED", "PUBLIC_TASK", "HEALTH_SOCIAL_CARE",
	    "Mother refused; no risk of significant harm found at triage.",
	    "named nurse");
	snprintf(r.outcome, sizeof(r.outcome), "NOT_SHARED");
	append(fx, &r, 1);

	message(fx, &r, 5, "SUBMITTED", DAY1 + 180000,
	    "education.st-marys-primary", "social-care.bristol", NULL,
	    "REFERRAL", fx->subj_b);
	basis(&r, "REFUSED", "PUBLIC_TASK", "SAFEGUARDING",
	    "=Parent said \"no\", but bruising, on two days, needs a referral.",
	    "DSL J. Smith");
	append(fx, &r, 0);

	message(fx, &r, 6, "REJECTED", DAY1 + 240000, "police.avon",
	    "health.bristol-royal", NULL, "CASE_UPDATE", fx->subj_b);
	snprintf(r.reason, sizeof(r.reason), "POLICY_DENIED");
	append(fx, &r, 0);

	message(fx, &r, 7, "SUBMITTED", DAY2, "health.bristol-royal",
	    "social-care.bristol", NULL, "UNSCHEDULED_CARE_ATTENDANCE",
	    fx->subj_a);
	basis(&r, "OBTAINED", "CONSENT", "HEALTH_SOCIAL_CARE", "", "Dr Patel");
	append(fx, &r, 1);

	if (with_key)
		put_meta(fx, "broker_sign_public", fx->broker->pub.sign, 32);
}

static void
fx_close(struct fx *fx)
{
	hv_store_close(&fx->s);
	hv_keys_destroy(&fx->broker);
}

static void
fx_destroy(struct fx *fx)
{
	fx_close(fx);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx->dir), 0);
}

/* Runs `haven audit ARGS`; *out gets stdout and stderr together. */
#define AUDIT(out, ...) h_sh(out, 60, "'%s' audit " __VA_ARGS__)

static json_t *
load_json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	cr_assert_not_null(j, "not JSON (%s): %s", e.text, text);
	return j;
}

/* The seq numbers of a query document's records, as "2,3,4,7". */
static void
seqs(json_t *doc, char *buf, size_t cap)
{
	json_t *recs = json_object_get(doc, "records"), *r;
	size_t i, o = 0;

	buf[0] = '\0';
	cr_assert(json_is_array(recs));
	json_array_foreach (recs, i, r)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "",
		    json_integer_value(json_object_get(r, "seq")));
}

/* ---- query ----------------------------------------------------------- */

Test(audit_cli, a_query_by_nhs_number_returns_that_childs_shares_and_decision)
{
	struct fx fx;
	char *out = NULL, got[128];
	json_t *doc, *r;
	int rc;

	fx_build(&fx, 1);
	rc = AUDIT(&out,
	    "query --db '%s' --subject-nhs '%.3s %.3s %.4s' "
	    "--subject-key '%s' --format json 2>/dev/null",
	    h_bin("haven"), fx.db, fx.nhs_a, fx.nhs_a + 3, fx.nhs_a + 6,
	    fx.skey);
	cr_assert_eq(rc, 0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "2,3,4,7");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 4);
	cr_assert_eq(json_integer_value(json_object_get(doc, "tree_size")), 7);
	r = json_array_get(json_object_get(doc, "records"), 2);
	cr_assert_str_eq(json_string_value(json_object_get(r, "event")),
	    "DECISION_RECORDED");
	cr_assert_str_eq(json_string_value(json_object_get(r, "outcome")),
	    "NOT_SHARED");
	cr_assert_str_eq(json_string_value(
	                     json_object_get(json_object_get(r, "basis"),
	                         "consent")),
	    "REFUSED");
	cr_assert_null(strstr(out, fx.nhs_a), "the NHS number was printed");
	json_decref(doc);
	free(out);

	/* The other child, by the same key, gets only its own records. */
	rc = AUDIT(&out,
	    "query --db '%s' --subject-nhs '%s' --subject-key "
	    "'%s' --format json 2>/dev/null",
	    h_bin("haven"), fx.db, fx.nhs_b, fx.skey);
	cr_assert_eq(rc, 0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "5,6");
	json_decref(doc);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, the_nhs_number_can_come_from_standard_input)
{
	struct fx fx;
	char *out = NULL, got[128];
	json_t *doc;

	fx_build(&fx, 1);
	cr_assert_eq(
	    AUDIT(&out,
	        "query --db '%s' --subject-nhs - "
	        "--subject-key '%s' --format json 2>/dev/null <<EOF\n%s\nEOF\n",
	        h_bin("haven"), fx.db, fx.skey, fx.nhs_b),
	    0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "5,6");
	json_decref(doc);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, a_query_by_pseudonym_and_by_filters_returns_the_matches)
{
	static const struct {
		const char *args, *want;
	} cases[] = {
		{ "--sender police.avon", "2,3,6" },
		{ "--recipient social-care.bristol", "2,3,5,7" },
		{ "--role health", "4,6,7" },
		{ "--event decision_recorded", "4" },
		{ "--type REFERRAL", "5" },
		{ "--since 2026-11-23", "7" },
		{ "--until 2026-11-22", "1,2,3,4,5,6" },
		{ "--until 2026-11-22T09:01", "1,2,3" },
		{ "--limit 2", "1,2" },
		{ "--event SUBMITTED --sender health.bristol-royal", "7" },
		{ "--event ESCALATED", "" },
	};
	struct fx fx;
	char *out = NULL, got[128], hex[65];
	json_t *doc;

	fx_build(&fx, 1);
	hv_hex(fx.subj_b, 32, hex);
	cr_assert_eq(AUDIT(&out, "query --db '%s' --subject %s --format json",
	                 h_bin("haven"), fx.db, hex),
	    0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "5,6");
	json_decref(doc);
	free(out);

	hv_hex(fx.id[2], 16, hex);
	cr_assert_eq(AUDIT(&out, "query --db '%s' --message %s --format json",
	                 h_bin("haven"), fx.db, hex),
	    0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "2,3");
	json_decref(doc);
	free(out);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(AUDIT(&out, "query --db '%s' %s --format json",
		                 h_bin("haven"), fx.db, cases[i].args),
		    0, "%s: %s", cases[i].args, out);
		doc = load_json(out);
		seqs(doc, got, sizeof(got));
		cr_expect_str_eq(got, cases[i].want, "%s", cases[i].args);
		json_decref(doc);
		free(out);
	}
	fx_destroy(&fx);
}

Test(audit_cli, the_table_shows_shares_beside_the_decision_not_to_share)
{
	struct fx fx;
	char *out = NULL, hex[33];

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out,
	                 "query --db '%s' --subject-nhs '%s' "
	                 "--subject-key '%s'",
	                 h_bin("haven"), fx.db, fx.nhs_a, fx.skey),
	    0, "%s", out);
	cr_assert(strncmp(out, "SEQ", 3) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "JUSTIFICATION"));
	cr_assert_not_null(strstr(out, "health.bristol-royal (not shared)"));
	cr_assert_not_null(strstr(out,
	    "police.avon -> "
	    "education.st-marys-primary, social-care.bristol"));
	cr_assert_not_null(strstr(out, "2026-11-22T09:01:00Z"));
	hv_hex(fx.id[4], 16, hex);
	cr_assert_not_null(strstr(out, hex), "full message id: %s", out);
	cr_assert_not_null(strstr(out, "4 records of 7"), "%s", out);
	cr_assert_null(strstr(out, fx.nhs_a));
	free(out);

	cr_assert_eq(AUDIT(&out, "query --db '%s' --event EXPIRED",
	                 h_bin("haven"), fx.db),
	    0);
	cr_assert_not_null(strstr(out, "No records match"), "%s", out);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, csv_starts_with_a_header_row_and_quotes_fields)
{
	static const char header[] =
	    "seq,time,event,message_id,sender,"
	    "recipients,type,priority,consent,art6,art9,justification,"
	    "decided_by,";
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out,
	                 "query --db '%s' --type REFERRAL --format csv "
	                 "2>/dev/null",
	                 h_bin("haven"), fx.db),
	    0, "%s", out);
	cr_assert(strncmp(out, header, strlen(header)) == 0, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "\r\n5,2026-11-22T09:03:00.000Z,"
	                       "SUBMITTED,"),
	    "%s", out);
	/* Comma and quotes quoted; a leading '=' defused. */
	cr_assert_not_null(strstr(out,
	                       ",\"'=Parent said \"\"no\"\", but "
	                       "bruising, on two days, needs a referral.\","),
	    "%s", out);
	free(out);
	fx_destroy(&fx);
}

/*
 * A mistyped --event names every event the log can hold, the legal-hold and
 * retraction events included, so an IG officer looking for HOLD_ADDED is not
 * told the event does not exist.
 */
Test(audit_cli, refuses_a_mistyped_event_naming_every_event_the_log_holds)
{
	struct fx fx;
	char *out = NULL;
	const char *want[] = { "SUBMITTED", "DECISION_RECORDED", "RETRACTED",
		"WITHDRAWN", "RETRACTION_DELIVERED", "HOLD_ADDED",
		"HOLD_REMOVED" };

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out, "query --db '%s' --event HOLD_ADDDED 2>&1",
	                 h_bin("haven"), fx.db),
	    2, "%s", out);
	cr_assert_not_null(strstr(out, "'HOLD_ADDDED' is not an audit event"),
	    "%s", out);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(strstr(out, want[i]), "%s missing: %s",
		    want[i], out);
	free(out);
	cr_assert_eq(AUDIT(&out, "query --db '%s' --event hold_added 2>&1",
	                 h_bin("haven"), fx.db),
	    0, "%s", out);
	free(out);
	fx_destroy(&fx);
}

/* haven audit --help explains every event of lib's one list. */
Test(audit_cli, help_explains_every_event_the_log_holds)
{
	char *out = NULL, *events, want[40];

	cr_assert_eq(h_sh(&out, 30, "'%s' audit --help", h_bin("haven")), 0);
	events = strstr(out, "\nEVENTS\n");
	cr_assert_not_null(events, "%s", out);
	for (size_t i = 0; hv_event_names[i] != NULL; i++) {
		snprintf(want, sizeof(want), "\n  %s ", hv_event_names[i]);
		cr_expect_not_null(strstr(events, want), "%s is not explained",
		    hv_event_names[i]);
	}
	free(out);
}

/*
 * A node's secret key given as --subject-key is the likeliest slip (both
 * are .key files); the sentence says what it is and which file to give,
 * not the key file's first unknown line.
 */
Test(audit_cli, refuses_a_node_key_as_the_subject_key_naming_the_file_to_give)
{
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out,
	                 "query --db '%s' --subject-nhs '%s' --subject-key "
	                 "'%s/broker.bristol.key' 2>&1",
	                 h_bin("haven"), fx.db, fx.nhs_a, fx.dir),
	    1, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "haven audit query: cannot load the subject "
	                       "key: "),
	    "%s", out);
	cr_assert_not_null(strstr(out,
	                       "broker.bristol.key is a node's key "
	                       "file, not the partnership's subject "
	                       "key"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "haven keygen --subject-key"), "%s",
	    out);
	cr_assert_null(strstr(out, "unknown field"), "%s", out);
	free(out);
	fx_destroy(&fx);
}

/* ---- export ---------------------------------------------------------- */

Test(audit_cli,
    an_export_of_an_empty_period_says_so_and_still_writes_the_header)
{
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out,
	                 "export --db '%s' --since 2027-01-01 --until "
	                 "2027-01-31 --format csv 2>/dev/null",
	                 h_bin("haven"), fx.db),
	    0, "%s", out);
	cr_assert(strncmp(out, "seq,", 4) == 0, "%s", out);
	cr_assert_null(strstr(out, "No records"), "%s", out);
	free(out);
	cr_assert_eq(AUDIT(&out,
	                 "export --db '%s' --since 2027-01-01 --until "
	                 "2027-01-31 --format json 2>&1 >/dev/null",
	                 h_bin("haven"), fx.db),
	    0, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "No records between 2027-01-01T00:00:"
	                       "00.000Z and 2027-01-31"),
	    "%s", out);
	free(out);
	/* A period with records says nothing on standard error. */
	cr_assert_eq(AUDIT(&out,
	                 "export --db '%s' --since 2026-11-22 --until "
	                 "2026-11-23 --format csv 2>&1 >/dev/null",
	                 h_bin("haven"), fx.db),
	    0, "%s", out);
	cr_assert_str_eq(out, "");
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, an_export_returns_only_its_period)
{
	struct fx fx;
	char *out = NULL, got[128];
	json_t *doc;
	int lines = 0;

	fx_build(&fx, 1);
	cr_assert_eq(
	    AUDIT(&out,
	        "export --db '%s' --since "
	        "2026-11-22T09:01:00Z --until 2026-11-22T09:03:00Z --format json",
	        h_bin("haven"), fx.db),
	    0, "%s", out);
	doc = load_json(out);
	seqs(doc, got, sizeof(got));
	cr_assert_str_eq(got, "2,3,4,5");
	cr_assert_str_eq(json_string_value(json_object_get(doc, "since")),
	    "2026-11-22T09:01:00.000Z");
	json_decref(doc);
	free(out);

	cr_assert_eq(AUDIT(&out,
	                 "export --db '%s' --since %lld --until %lld "
	                 "--format csv",
	                 h_bin("haven"), fx.db, DAY2 / 1000, DAY2 / 1000),
	    0, "%s", out);
	cr_assert(strncmp(out, "seq,", 4) == 0);
	for (char *p = out; (p = strstr(p, "\r\n")) != NULL; p += 2)
		lines++;
	cr_assert_eq(lines, 2, "%s", out);
	cr_assert_not_null(strstr(out, "\r\n7,"));
	free(out);
	fx_destroy(&fx);
}

/* ---- verify ---------------------------------------------------------- */

Test(audit_cli, verify_passes_an_untouched_log)
{
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out, "verify --db '%s' --broker-pub '%s'",
	                 h_bin("haven"), fx.db, fx.pub),
	    0, "%s", out);
	cr_assert(strncmp(out,
	              "audit log OK: 7 records, 2 signed tree heads, "
	              "root ",
	              50) == 0,
	    "%s", out);
	cr_assert_not_null(strstr(out, "--broker-pub"));
	free(out);
	/* By default with the key the broker recorded. */
	cr_assert_eq(AUDIT(&out, "verify --db '%s'", h_bin("haven"), fx.db), 0,
	    "%s", out);
	cr_assert_not_null(strstr(out, "recorded in the store"), "%s", out);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, verify_refuses_heads_signed_by_another_key)
{
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out, "verify --db '%s' --broker-pub '%s'",
	                 h_bin("haven"), fx.db, fx.other_pub),
	    1, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "audit log TAMPERED: tree head at size "
	                       "4"),
	    "%s", out);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, verify_without_a_broker_key_says_heads_were_not_checked)
{
	struct fx fx;
	char *out = NULL;

	fx_build(&fx, 0);
	cr_assert_eq(AUDIT(&out, "verify --db '%s'", h_bin("haven"), fx.db), 1,
	    "%s", out);
	cr_assert_not_null(strstr(out, "NOT checked"), "%s", out);
	cr_assert_not_null(strstr(out, "--broker-pub"), "%s", out);
	free(out);
	fx_destroy(&fx);
}

Test(audit_cli, verify_names_the_record_with_a_flipped_byte)
{
	struct fx fx;
	char *out = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t key[8], *copy;

	fx_build(&fx, 1);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	hv_be64_put(key, 5);
	k.mv_size = 8;
	k.mv_data = key;
	cr_assert_eq(mdb_get(txn, fx.s->dbi[0], &k, &v), 0);
	cr_assert_not_null(copy = malloc(v.mv_size));
	memcpy(copy, v.mv_data, v.mv_size);
	/* A letter of the justification: the record still decodes. */
	copy[v.mv_size / 2] ^= 0x01;
	v.mv_data = copy;
	cr_assert_eq(mdb_put(txn, fx.s->dbi[0], &k, &v, 0), 0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	free(copy);
	fx_close(&fx);

	cr_assert_eq(AUDIT(&out, "verify --db '%s' --broker-pub '%s'",
	                 h_bin("haven"), fx.db, fx.pub),
	    1, "%s", out);
	cr_assert_not_null(strstr(out, "audit log TAMPERED: record 5"), "%s",
	    out);
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

/* A signed head deleted from the store is named, though no record is. */
Test(audit_cli, verify_names_a_deleted_tree_head)
{
	struct fx fx;
	char *out = NULL;
	MDB_txn *txn;
	MDB_val k;
	uint8_t key[8];

	fx_build(&fx, 1);
	cr_assert_eq(hv_store_begin(fx.s, 0, &txn), HV_OK);
	hv_be64_put(key, 4);
	k.mv_size = 8;
	k.mv_data = key;
	cr_assert_eq(mdb_del(txn, fx.s->dbi[2], &k, NULL), 0);
	cr_assert_eq(hv_store_commit(txn), HV_OK);
	fx_close(&fx);

	cr_assert_eq(AUDIT(&out, "verify --db '%s' --broker-pub '%s'",
	                 h_bin("haven"), fx.db, fx.pub),
	    1, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "audit log TAMPERED: tree head 1 of 2, "
	                       "at size 4, is missing"),
	    "%s", out);
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

/* ---- proofs ---------------------------------------------------------- */

/* Writes `haven audit prove` of message k into dir/NAME; returns its JSON. */
static json_t *
prove(struct fx *fx, int k, const char *name, const char *extra)
{
	char hex[33], *out = NULL, *path;
	json_t *j;

	hv_hex(fx->id[k], 16, hex);
	cr_assert_eq(AUDIT(&out, "prove %s --db '%s' %s > '%s/%s'",
	                 h_bin("haven"), hex, fx->db, extra, fx->dir, name),
	    0, "%s", out);
	free(out);
	path = h_fmt("%s/%s", fx->dir, name);
	out = h_read(path);
	free(path);
	j = load_json(out);
	free(out);
	return j;
}

static int
check(struct fx *fx, const char *name, const char *pub, char **out)
{
	return AUDIT(out, "check-proof '%s/%s' --broker-pub '%s'",
	    h_bin("haven"), fx->dir, name, pub);
}

/* Saves j as dir/NAME. */
static void
save(struct fx *fx, json_t *j, const char *name)
{
	char *path = h_fmt("%s/%s", fx->dir, name);

	cr_assert_eq(json_dump_file(j, path, 0), 0);
	free(path);
}

Test(audit_cli, a_proof_of_a_share_checks_offline)
{
	struct fx fx;
	char *out = NULL, hex[33];
	json_t *j;

	fx_build(&fx, 1);
	j = prove(&fx, 2, "p.json", "");
	hv_hex(fx.id[2], 16, hex);
	cr_assert_str_eq(json_string_value(json_object_get(j, "format")),
	    "haven-inclusion-proof-v1");
	cr_assert_str_eq(json_string_value(json_object_get(j, "message_id")),
	    hex);
	cr_assert_eq(json_integer_value(json_object_get(j, "leaf_index")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "tree_size")), 7);
	json_decref(j);
	fx_close(&fx);

	cr_assert_eq(check(&fx, "p.json", fx.pub, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "proof OK"), "%s", out);
	cr_assert_not_null(strstr(out, "SUBMITTED"));
	cr_assert_not_null(strstr(out,
	                       "consent NOT_SOUGHT, art6 PUBLIC_TASK, "
	                       "art9 SAFEGUARDING"),
	    "%s", out);
	free(out);
	/* Not with someone else's key. */
	cr_assert_eq(check(&fx, "p.json", fx.other_pub, &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "proof does not verify"));
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

Test(audit_cli, a_decision_not_to_share_and_a_chosen_event_can_be_proved)
{
	struct fx fx;
	char *out = NULL;
	json_t *j;

	fx_build(&fx, 1);
	j = prove(&fx, 4, "d.json", "");
	cr_assert_eq(json_integer_value(json_object_get(j, "seq")), 4);
	json_decref(j);
	j = prove(&fx, 2, "e.json", "--event delivered");
	cr_assert_eq(json_integer_value(json_object_get(j, "seq")), 3);
	json_decref(j);
	cr_assert_eq(check(&fx, "d.json", fx.pub, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "DECISION_RECORDED"));
	cr_assert_not_null(strstr(out, "a decision not to share"));
	free(out);
	cr_assert_eq(check(&fx, "e.json", fx.pub, &out), 0, "%s", out);
	free(out);
	fx_destroy(&fx);
}

/* Each change to a good proof must make check-proof exit 1. */
Test(audit_cli, a_changed_proof_does_not_verify)
{
	struct fx fx;
	char *out = NULL, *s;
	json_t *good, *j, *a;

	fx_build(&fx, 1);
	good = prove(&fx, 5, "p.json", "");
	fx_close(&fx);

	/* A flipped proof hash. */
	j = json_deep_copy(good);
	a = json_object_get(j, "proof");
	cr_assert_gt(json_array_size(a), 0);
	s = strdup(json_string_value(json_array_get(a, 0)));
	s[0] = s[0] == '0' ? '1' : '0';
	json_array_set_new(a, 0, json_string(s));
	free(s);
	save(&fx, j, "m1.json");
	json_decref(j);
	/* Another leaf index. */
	j = json_deep_copy(good);
	json_object_set_new(j, "leaf_index", json_integer(5));
	json_object_set_new(j, "seq", json_integer(6));
	save(&fx, j, "m2.json");
	json_decref(j);
	/* Another tree size. */
	j = json_deep_copy(good);
	json_object_set_new(j, "tree_size", json_integer(6));
	save(&fx, j, "m3.json");
	json_decref(j);
	/* Another leaf hash. */
	j = json_deep_copy(good);
	s = strdup(json_string_value(json_object_get(j, "leaf_hash")));
	s[10] = s[10] == 'a' ? 'b' : 'a';
	json_object_set_new(j, "leaf_hash", json_string(s));
	free(s);
	save(&fx, j, "m4.json");
	json_decref(j);
	/* A changed record (its base64 text). */
	j = json_deep_copy(good);
	s = strdup(json_string_value(json_object_get(j, "record")));
	s[20] = s[20] == 'A' ? 'B' : 'A';
	json_object_set_new(j, "record", json_string(s));
	free(s);
	save(&fx, j, "m5.json");
	json_decref(j);
	/* Another head time. */
	j = json_deep_copy(good);
	json_object_set_new(j, "head_time_ms",
	    json_integer(
	        json_integer_value(json_object_get(good, "head_time_ms")) + 1));
	json_object_del(j, "head_time");
	save(&fx, j, "m6.json");
	json_decref(j);
	json_decref(good);

	cr_assert_eq(check(&fx, "p.json", fx.pub, &out), 0, "%s", out);
	free(out);
	for (int i = 1; i <= 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%d.json", i);
		cr_expect_eq(check(&fx, name, fx.pub, &out), 1, "%s: %s", name,
		    out);
		cr_expect_not_null(strstr(out, "proof does not verify"),
		    "%s: %s", name, out);
		free(out);
	}
	s = h_fmt("%s/junk.json", fx.dir);
	cr_assert_eq(h_write(s, 0644, "{\"format\": 3}"), 0);
	free(s);
	cr_assert_eq(check(&fx, "junk.json", fx.pub, &out), 1, "%s", out);
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

Test(audit_cli, a_record_newer_than_the_latest_head_cannot_be_proved_yet)
{
	struct fx fx;
	struct hv_audit_rec r;
	char *out = NULL, hex[33];

	fx_build(&fx, 1);
	message(&fx, &r, 1, "SUBMITTED", DAY2 + 1000, "police.avon",
	    "social-care.bristol", NULL, "CASE_UPDATE", fx.subj_b);
	basis(&r, "OBTAINED", "CONSENT", "NONE", "", "PC 9");
	append(&fx, &r, 0);
	fx_close(&fx);
	hv_hex(fx.id[1], 16, hex);
	cr_assert_eq(AUDIT(&out, "prove %s --db '%s'", h_bin("haven"), hex,
	                 fx.db),
	    1, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "not yet covered by a signed tree "
	                       "head"),
	    "%s", out);
	free(out);
	hv_hex(fx.id[0], 16, hex);
	cr_assert_eq(AUDIT(&out, "prove %s --db '%s'", h_bin("haven"), hex,
	                 fx.db),
	    1, "%s", out);
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

Test(audit_cli, a_consistency_proof_between_two_heads_checks_offline)
{
	struct fx fx;
	char *out = NULL, *path;
	json_t *j;

	fx_build(&fx, 1);
	fx_close(&fx);
	cr_assert_eq(AUDIT(&out, "consistency --db '%s' --from 4 > '%s/c.json'",
	                 h_bin("haven"), fx.db, fx.dir),
	    0, "%s", out);
	free(out);
	cr_assert_eq(check(&fx, "c.json", fx.pub, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "proof OK"));
	free(out);

	path = h_fmt("%s/c.json", fx.dir);
	out = h_read(path);
	free(path);
	j = load_json(out);
	free(out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "format")),
	    "haven-consistency-proof-v1");
	json_object_set_new(json_object_get(j, "first"), "tree_size",
	    json_integer(3));
	save(&fx, j, "c2.json");
	json_decref(j);
	cr_assert_eq(check(&fx, "c2.json", fx.pub, &out), 1, "%s", out);
	free(out);

	/* A size without a head is named, with the nearest ones. */
	cr_assert_eq(AUDIT(&out, "consistency --db '%s' --from 5",
	                 h_bin("haven"), fx.db),
	    1, "%s", out);
	cr_assert_not_null(strstr(out, "sizes 4 and 7"), "%s", out);
	free(out);
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

/* ---- usage, I/O and help --------------------------------------------- */

Test(audit_cli, bad_usage_exits_2)
{
	static const char *const bad[] = {
		"",
		"frobnicate --db DB",
		"query --db DB --bogus",
		"query --db DB --message 1234",
		"query --db DB --event SHARED",
		"query --db DB --type GOSSIP",
		"query --db DB --since tomorrow",
		"query --db DB --since 2026-11-23 --until 2026-11-22",
		"query --db DB --format xml",
		"query --db DB --limit 0",
		"query --db DB --sender Police",
		"query --db DB --subject abcd",
		"query --db DB --subject-nhs 9434765918 --subject-key SK",
		"query --db DB --subject-nhs 943476591",
		"query --db DB --subject-key SK",
		"query --db DB --db DB",
		"query",
		"query --db DB --broker tcp://127.0.0.1:1",
		"export --db DB --since 2026-11-22 --until 2026-11-23",
		"export --db DB --format json",
		"export --db DB --since 2026-11-22 --until 2026-11-23 "
		"--format table",
		"verify --db DB --subject-key SK",
		"prove --db DB",
		"prove nothex --db DB",
		"check-proof p.json",
		"consistency --db DB",
		"consistency --db DB --from 0",
		"consistency --db DB --from 7 --to 4",
	};
	struct fx fx;
	char *out = NULL, *cmd;

	fx_build(&fx, 1);
	fx_close(&fx);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* DB and SK stand for the real store and subject key. */
		cmd = h_fmt("%s", bad[i]);
		for (char *p; (p = strstr(cmd, "DB")) != NULL;) {
			char *n = h_fmt("%.*s'%s'%s", (int)(p - cmd), cmd,
			    fx.db, p + 2);
			free(cmd);
			cmd = n;
		}
		for (char *p; (p = strstr(cmd, "SK")) != NULL;) {
			char *n = h_fmt("%.*s'%s'%s", (int)(p - cmd), cmd,
			    fx.skey, p + 2);
			free(cmd);
			cmd = n;
		}
		cr_expect_eq(AUDIT(&out, "%s", h_bin("haven"), cmd), 2,
		    "'%s': %s", bad[i], out);
		cr_expect_null(strstr(out ? out : "", fx.nhs_a));
		free(out);
		free(cmd);
	}
	cr_assert_eq(h_sh(NULL, 30, "rm -rf '%s'", fx.dir), 0);
}

Test(audit_cli, a_missing_store_is_an_io_error)
{
	char *out = NULL, empty[] = "/tmp/hv-auditcli-empty-XXXXXX";

	cr_assert_eq(AUDIT(&out, "verify --db /nonexistent/haven-broker",
	                 h_bin("haven")),
	    3, "%s", out);
	cr_assert_not_null(strstr(out, "/nonexistent/haven-broker"));
	free(out);
	cr_assert_not_null(mkdtemp(empty));
	cr_assert_eq(AUDIT(&out, "query --db '%s' --event SUBMITTED",
	                 h_bin("haven"), empty),
	    3, "%s", out);
	free(out);
	rmdir(empty);
	cr_assert_eq(AUDIT(&out,
	                 "check-proof /nonexistent/p.json "
	                 "--broker-pub /nonexistent/b.pub",
	                 h_bin("haven")),
	    3, "%s", out);
	free(out);
}

Test(audit_cli, a_remote_query_without_its_directory_is_an_io_error)
{
	char *out = NULL;

	/* The directory is read before anything is sent (test_remote_audit
	 * covers queries to a running broker). */
	cr_assert_eq(
	    AUDIT(&out,
	        "query --broker tcp://127.0.0.1:7400 --key "
	        "/nonexistent/ig.key --directory /nonexistent/d.hd --event "
	        "SUBMITTED",
	        h_bin("haven")),
	    3, "%s", out);
	cr_assert_not_null(strstr(out, "/nonexistent/d.hd"), "%s", out);
	free(out);
}

Test(audit_cli, every_audit_command_has_a_manual_page)
{
	static const char *const subs[] = {
		"",
		"query",
		"export",
		"verify",
		"prove",
		"check-proof",
		"consistency",
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		cr_assert_eq(AUDIT(&out, "%s --help", h_bin("haven"), subs[i]),
		    0, "%s: %s", subs[i], out);
		cr_assert_not_null(strstr(out, "usage: haven audit"), "%s",
		    out);
		cr_assert_not_null(strstr(out, "EXIT STATUS"));
		free(out);
	}
	cr_assert_eq(AUDIT(&out, "--help", h_bin("haven")), 0);
	cr_assert_not_null(strstr(out, "NOT_SOUGHT"));
	cr_assert_not_null(strstr(out, "WHAT A SIGNED TREE HEAD PROVES"));
	free(out);
}

/* ---- a real broker --------------------------------------------------- */

/*
 * The broker's own store, read while the broker runs: its start-up record
 * (DIRECTORY_LOADED) is there under a signed head, verify passes with the
 * broker's .pub file and with the key the broker recorded, and the running
 * broker is not disturbed.
 */
Test(audit_cli, a_running_brokers_store_verifies_and_answers_queries,
    .timeout = 120)
{
	struct h_partnership p;
	char *out = NULL, *pub;
	int64_t deadline;
	int rc;

	cr_assert_eq(h_partnership_create(&p, NULL, NULL), 0);
	cr_assert_eq(h_broker_start(&p), 0);
	pub = h_fmt("%s/keys/broker.bristol.pub", p.dir);
	/* The first head is signed within a second of the first record. */
	deadline = hv_mono_ms() + 20000;
	do {
		free(out);
		rc = AUDIT(&out, "verify --db '%s' --broker-pub '%s'",
		    h_bin("haven"), p.broker_data, pub);
	} while (rc != 0 && hv_mono_ms() < deadline && usleep(100000) == 0);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strncmp(out, "audit log OK: ", 14) == 0, "%s", out);
	free(out);
	cr_assert_eq(AUDIT(&out, "verify --db '%s'", h_bin("haven"),
	                 p.broker_data),
	    0, "%s", out);
	free(out);
	cr_assert_eq(AUDIT(&out,
	                 "query --db '%s' --event DIRECTORY_LOADED "
	                 "--format json",
	                 h_bin("haven"), p.broker_data),
	    0, "%s", out);
	json_decref(load_json(out));
	cr_assert_not_null(strstr(out, "\"actor\":\"broker.bristol\""), "%s",
	    out);
	free(out);
	cr_assert(h_alive(p.broker_pid));
	cr_assert_eq(h_broker_stop(&p), 0);
	free(pub);
	h_partnership_destroy(&p);
}

Test(audit_cli, a_folder_without_a_store_and_a_pub_as_subject_key_are_named)
{
	char *out = NULL, empty[] = "/tmp/hv-auditcli-nostore-XXXXXX";
	struct fx fx;

	cr_assert_not_null(mkdtemp(empty));
	cr_assert_eq(AUDIT(&out, "verify --db '%s'", h_bin("haven"), empty), 3,
	    "%s", out);
	cr_assert_not_null(strstr(out,
	                       "holds no Haven broker store (no "
	                       "data.mdb)"),
	    "%s", out);
	cr_assert_null(strstr(out, "No such file"), "%s", out);
	free(out);
	rmdir(empty);

	fx_build(&fx, 1);
	cr_assert_eq(AUDIT(&out,
	                 "query --db '%s' --subject-nhs '%s' "
	                 "--subject-key '%s'",
	                 h_bin("haven"), fx.db, fx.nhs_a, fx.pub),
	    2, "%s", out);
	cr_assert_not_null(
	    strstr(out,
	        "is a node's public key file; "
	        "--subject-key needs the partnership subject key file"),
	    "%s", out);
	cr_assert_null(strstr(out, fx.nhs_a), "the NHS number was printed");
	free(out);
	cr_assert_eq(AUDIT(&out, "check-proof '%s' --broker-pub '%s'",
	                 h_bin("haven"), fx.dir, fx.pub),
	    3, "%s", out);
	cr_assert_not_null(strstr(out, "is a folder, not a file"), "%s", out);
	free(out);
	fx_destroy(&fx);
}
