/*
 * Unit tests of hv_policy: the lawful-basis rules of SPEC §4.2, the
 * agreement's allow rules (default deny, '*' senders, art9), and the
 * envelope checks the agent and broker share, including decisions not to
 * share (SPEC §4.5). The directory comes from a small agreement written in
 * a fresh mkdtemp folder with freshly generated keys.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_keys.h"
#include "hv_policy.h"
#include "hv_sealed.h"
#include "hv_util.h"
#include "fixture.h"

static char tmp[64];
static hv_directory *dir;

static const char *const nodes[] = { "broker.bristol", "police.avon",
	"health.bristol-royal", "education.st-marys-primary",
	"social-care.bristol", "ig.bristol", "education.old-school",
	"police.gone", NULL };

static const char agreement[] =
    "partnership bristol\n"
    "version 7\n"
    "broker broker.bristol tcp://127.0.0.1:7400 keys/broker.bristol.pub\n"
    "node police.avon            keys/police.avon.pub\n"
    "node health.bristol-royal   keys/health.bristol-royal.pub\n"
    "node education.st-marys-primary keys/education.st-marys-primary.pub\n"
    "node education.old-school   keys/education.old-school.pub\n"
    "node social-care.bristol    keys/social-care.bristol.pub\n"
    "node ig.bristol             keys/ig.bristol.pub   scope=*\n"
    "allow police -> education, social-care : DOMESTIC_ABUSE_NOTIFICATION\n"
    "allow health -> social-care : UNSCHEDULED_CARE_ATTENDANCE art9\n"
    "allow * -> social-care : REFERRAL\n"
    "allow social-care -> police, health, education : INFO_REQUEST\n"
    "allow police, health, education -> social-care : INFO_RESPONSE\n"
    "node police.gone            keys/police.gone.pub\n"
    "revoke education.old-school\n"
    "revoke police.gone\n";

static void
setup(void)
{
	char keys[128], path[128];
	struct hv_errdetail d;
	FILE *fp;

	cr_assert(sodium_init() >= 0);
	fixture_tmpdir(tmp, sizeof(tmp), "policy");
	snprintf(keys, sizeof(keys), "%s/keys", tmp);
	for (size_t i = 0; nodes[i] != NULL; i++) {
		hv_keys *k = NULL;

		cr_assert_eq(hv_keys_generate(&k), HV_OK);
		cr_assert_eq(hv_keys_save(k, nodes[i], keys, NULL, &d), HV_OK,
		    "%s", d.message);
		hv_keys_destroy(&k);
	}
	snprintf(path, sizeof(path), "%s/agreement.txt", tmp);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(agreement, fp);
	cr_assert_eq(fclose(fp), 0);
	dir = NULL;
	cr_assert_eq(hv_agreement_parse(path, &dir, &d), HV_OK, "%s",
	    d.message);
}

static void
teardown(void)
{
	hv_directory_destroy(&dir);
	fixture_rmtree(tmp);
}

TestSuite(policy, .init = setup, .fini = teardown);

/* A complete, lawful basis that each test then spoils in one way. */
static struct hv_basis
good_basis(void)
{
	struct hv_basis b;

	memset(&b, 0, sizeof(b));
	strcpy(b.consent, "NOT_SOUGHT");
	strcpy(b.art6, "PUBLIC_TASK");
	strcpy(b.art9, "SAFEGUARDING");
	strcpy(b.justification,
	    "Seeking consent would place the child at "
	    "increased risk of harm.");
	strcpy(b.decided_by, "ppu.ds-smith");
	return b;
}

static void
basis_fails(const struct hv_basis *b, int art9, const char *field,
    const char *word)
{
	struct hv_errdetail d;

	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_basis(b, art9, &d), HV_EBASIS,
	    "expected BASIS_INVALID on %s", field);
	cr_assert_str_eq(d.field, field, "field %s, message %s", d.field,
	    d.message);
	cr_assert_not_null(strstr(d.message, word), "'%s' lacks '%s'",
	    d.message, word);
}

Test(policy, accepts_a_complete_basis)
{
	struct hv_basis b = good_basis();
	struct hv_errdetail d;

	cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK, "%s", d.message);
	cr_assert_eq(hv_policy_check_basis(&b, 1, &d), HV_OK, "%s", d.message);
	/* Consent obtained needs no justification; art9 may be left out. */
	strcpy(b.consent, "OBTAINED");
	strcpy(b.art6, "CONSENT");
	b.justification[0] = '\0';
	b.art9[0] = '\0';
	cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK, "%s", d.message);
	strcpy(b.art9, "NONE");
	cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK, "%s", d.message);
}

Test(policy, requires_art6)
{
	struct hv_basis b = good_basis();

	b.art6[0] = '\0';
	basis_fails(&b, 0, "basis.art6", "required");
	strcpy(b.art6, "BECAUSE");
	basis_fails(&b, 0, "basis.art6", "BECAUSE");
}

Test(policy, requires_decided_by)
{
	struct hv_basis b = good_basis();

	b.decided_by[0] = '\0';
	basis_fails(&b, 0, "basis.decided_by", "required");
	strcpy(b.decided_by, "   ");
	basis_fails(&b, 0, "basis.decided_by", "staff identifier");
}

Test(policy, requires_consent_to_be_stated)
{
	struct hv_basis b = good_basis();

	b.consent[0] = '\0';
	basis_fails(&b, 0, "basis.consent", "required");
	strcpy(b.consent, "MAYBE");
	basis_fails(&b, 0, "basis.consent", "MAYBE");
}

Test(policy, refuses_art6_consent_without_consent_obtained)
{
	static const char *const others[] = { "NOT_SOUGHT", "REFUSED",
		"NOT_POSSIBLE" };
	struct hv_basis b = good_basis();

	strcpy(b.art6, "CONSENT");
	for (size_t i = 0; i < 3; i++) {
		strcpy(b.consent, others[i]);
		basis_fails(&b, 0, "basis.consent", others[i]);
	}
}

Test(policy, requires_a_justification_unless_consent_was_obtained)
{
	static const char *const others[] = { "NOT_SOUGHT", "REFUSED",
		"NOT_POSSIBLE" };
	struct hv_basis b = good_basis();
	struct hv_errdetail d;

	for (size_t i = 0; i < 3; i++) {
		strcpy(b.consent, others[i]);
		strcpy(b.justification, "risk to child");
		basis_fails(&b, 0, "basis.justification", others[i]);
		b.justification[0] = '\0';
		basis_fails(&b, 0, "basis.justification", "20 characters");
		/* Blanks do not count towards the twenty characters. */
		strcpy(b.justification, "    too short to count     ");
		basis_fails(&b, 0, "basis.justification", "20");
		strcpy(b.justification, "exactly twenty chars");
		cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK, "%s",
		    d.message);
	}
	strcpy(b.consent, "REFUSED");
	strcpy(b.justification, "short");
	basis_fails(&b, 0, "basis.justification",
	    "must explain in at least 20 characters why consent was REFUSED");
}

Test(policy, requires_art9_when_the_rule_demands_it)
{
	struct hv_basis b = good_basis();
	struct hv_errdetail d;

	strcpy(b.art9, "NONE");
	basis_fails(&b, 1, "basis.art9", "NONE");
	b.art9[0] = '\0';
	basis_fails(&b, 1, "basis.art9", "NONE");
	cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK);
	strcpy(b.art9, "HEALTH_SOCIAL_CARE");
	cr_assert_eq(hv_policy_check_basis(&b, 1, &d), HV_OK);
	strcpy(b.art9, "SPECIAL");
	basis_fails(&b, 0, "basis.art9", "SPECIAL");
}

Test(policy, denies_a_flow_the_agreement_does_not_list)
{
	struct hv_errdetail d;
	int art9 = -1;

	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_allowed(dir, "police.avon",
	                 "education.st-marys-primary", "CASE_UPDATE", &art9,
	                 &d),
	    HV_EPOLICY);
	cr_assert_eq(art9, -1);
	cr_assert_not_null(strstr(d.message, "police.avon"));
	cr_assert_not_null(strstr(d.message, "education.st-marys-primary"));
	cr_assert_not_null(strstr(d.message, "CASE_UPDATE"));
	cr_assert_not_null(strstr(d.message, "no allow rule"));
	/* The type is allowed, but not in this direction. */
	cr_assert_eq(hv_policy_check_allowed(dir, "education.st-marys-primary",
	                 "police.avon", "DOMESTIC_ABUSE_NOTIFICATION", &art9,
	                 &d),
	    HV_EPOLICY);
	cr_assert_eq(hv_policy_check_allowed(dir, "police.avon",
	                 "education.st-marys-primary",
	                 "DOMESTIC_ABUSE_NOTIFICATION", &art9, &d),
	    HV_OK);
	cr_assert_eq(art9, 0);
}

Test(policy, lets_a_star_rule_match_any_sender_role)
{
	struct hv_errdetail d;
	int art9;

	for (size_t i = 0; nodes[i] != NULL; i++)
		cr_assert_eq(hv_policy_check_allowed(dir, nodes[i],
		                 "social-care.bristol", "REFERRAL", &art9, &d),
		    HV_OK, "%s -> social-care REFERRAL: %s", nodes[i],
		    d.message);
	/* '*' is about senders only: referrals still go to social care. */
	cr_assert_eq(hv_policy_check_allowed(dir, "social-care.bristol",
	                 "police.avon", "REFERRAL", &art9, &d),
	    HV_EPOLICY);
}

Test(policy, reports_that_a_rule_demands_art9)
{
	struct hv_errdetail d;
	int art9 = 0;

	cr_assert_eq(hv_policy_check_allowed(dir, "health.bristol-royal",
	                 "social-care.bristol", "UNSCHEDULED_CARE_ATTENDANCE",
	                 &art9, &d),
	    HV_OK);
	cr_assert_eq(art9, 1);
}

static hv_envelope
share(const char *sender, const char *recipient, const char *type)
{
	hv_envelope env;

	memset(&env, 0, sizeof(env));
	strcpy(env.sender, sender);
	if (recipient != NULL) {
		strcpy(env.recipients[0], recipient);
		env.n_recipients = 1;
	}
	strcpy(env.type, type);
	strcpy(env.priority, "URGENT");
	env.basis = good_basis();
	/* As the sending agent does: the justification travels sealed. */
	hv_envelope_new_id(env.id);
	cr_assert_eq(hv_justification_seal(&env.basis, env.id, dir, NULL),
	    HV_OK);
	return env;
}

static void
envelope_fails(const hv_envelope *env, hv_err want, const char *field)
{
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	e = hv_policy_check_envelope(dir, env, &d);
	cr_assert_eq(e, want, "expected %s, got %s (%s)", hv_errname(want),
	    hv_errname(e), d.message);
	cr_assert_str_eq(d.field, field, "field %s: %s", d.field, d.message);
	cr_assert_neq(d.message[0], '\0');
}

Test(policy, accepts_an_allowed_share_with_a_good_basis)
{
	hv_envelope env = share("police.avon", "education.st-marys-primary",
	    "DOMESTIC_ABUSE_NOTIFICATION");
	struct hv_errdetail d;

	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
	strcpy(env.recipients[1], "social-care.bristol");
	env.n_recipients = 2;
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
	/* One recipient the agreement does not cover spoils the share. */
	strcpy(env.recipients[2], "health.bristol-royal");
	env.n_recipients = 3;
	envelope_fails(&env, HV_EPOLICY, "recipients");
}

Test(policy, refuses_bad_shapes_as_malformed)
{
	hv_envelope env =
	    share("police.avon", "social-care.bristol", "REFERRAL");

	strcpy(env.type, "GOSSIP");
	envelope_fails(&env, HV_EMALFORMED, "type");
	strcpy(env.type, "REFERRAL");
	strcpy(env.priority, "WHENEVER");
	envelope_fails(&env, HV_EMALFORMED, "priority");
	strcpy(env.priority, "ROUTINE");
	strcpy(env.outcome, "SHARED");
	envelope_fails(&env, HV_EMALFORMED, "outcome");
	env.outcome[0] = '\0';
	env.n_recipients = 0;
	envelope_fails(&env, HV_EMALFORMED, "recipients");
	strcpy(env.recipients[1], "social-care.bristol");
	env.n_recipients = 2;
	envelope_fails(&env, HV_EMALFORMED, "recipients");
}

Test(policy, refuses_unknown_and_revoked_senders_and_recipients)
{
	hv_envelope env =
	    share("police.nobody", "social-care.bristol", "REFERRAL");

	envelope_fails(&env, HV_ESENDERREVOKED, "sender");
	strcpy(env.sender, "police.gone");
	envelope_fails(&env, HV_ESENDERREVOKED, "sender");
	strcpy(env.sender, "education.old-school");
	envelope_fails(&env, HV_ESENDERREVOKED, "sender");
	env = share("social-care.bristol", "police.nobody", "INFO_REQUEST");
	envelope_fails(&env, HV_EUNKNOWNRECIPIENT, "recipients");
	strcpy(env.recipients[0], "education.old-school");
	envelope_fails(&env, HV_EREVOKEDRECIPIENT, "recipients");
	strcpy(env.recipients[0], "police.gone");
	envelope_fails(&env, HV_EREVOKEDRECIPIENT, "recipients");
}

Test(policy, applies_the_basis_rules_to_envelopes)
{
	hv_envelope env = share("health.bristol-royal", "social-care.bristol",
	    "UNSCHEDULED_CARE_ATTENDANCE");
	struct hv_errdetail d;

	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
	strcpy(env.basis.art9, "NONE");
	envelope_fails(&env, HV_EBASIS, "basis.art9");
	env = share("police.avon", "social-care.bristol", "REFERRAL");
	env.basis.art6[0] = '\0';
	envelope_fails(&env, HV_EBASIS, "basis.art6");
	/* The agreement is checked before the basis. */
	env = share("police.avon", "health.bristol-royal", "REFERRAL");
	env.basis.art6[0] = '\0';
	envelope_fails(&env, HV_EPOLICY, "recipients");
}

Test(policy, requires_reply_to_on_an_info_response)
{
	hv_envelope env =
	    share("police.avon", "social-care.bristol", "INFO_RESPONSE");
	struct hv_errdetail d;

	envelope_fails(&env, HV_EMALFORMED, "reply_to");
	env.has_reply_to = 1;
	memset(env.reply_to, 0xab, sizeof(env.reply_to));
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
}

Test(policy, records_a_decision_not_to_send_an_info_response_without_reply_to)
{
	hv_envelope env = share("health.bristol-royal", NULL, "INFO_RESPONSE");
	struct hv_errdetail d;

	strcpy(env.outcome, "NOT_SHARED");
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
}

Test(policy, records_a_decision_without_an_allow_rule_but_checks_its_basis)
{
	hv_envelope env = share("police.avon", NULL, "CASE_UPDATE");
	struct hv_errdetail d;

	strcpy(env.outcome, "NOT_SHARED");
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
	env.priority[0] = '\0';
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
	strcpy(env.basis.consent, "REFUSED");
	strcpy(env.basis.justification, "no");
	envelope_fails(&env, HV_EBASIS, "basis.justification");
	env = share("police.avon", "social-care.bristol", "CASE_UPDATE");
	strcpy(env.outcome, "NOT_SHARED");
	envelope_fails(&env, HV_EMALFORMED, "recipients");
	env = share("police.gone", NULL, "CASE_UPDATE");
	strcpy(env.outcome, "NOT_SHARED");
	envelope_fails(&env, HV_ESENDERREVOKED, "sender");
}

Test(policy, knows_the_words_of_the_spec)
{
	size_t n = 0;

	for (; hv_message_types[n] != NULL; n++)
		cr_assert(hv_policy_type_valid(hv_message_types[n]));
	cr_assert_eq(n, 13);
	cr_assert(!hv_policy_type_valid("referral"));
	cr_assert(!hv_policy_type_valid(""));
	cr_assert(!hv_policy_type_valid(NULL));
	cr_assert(hv_policy_priority_valid("IMMEDIATE"));
	cr_assert(!hv_policy_priority_valid("LOW"));
	cr_assert(hv_policy_consent_valid("NOT_POSSIBLE"));
	cr_assert(hv_policy_art6_valid("LEGITIMATE_INTERESTS"));
	cr_assert(hv_policy_art9_valid("LEGAL_CLAIMS"));
	cr_assert(!hv_policy_art9_valid("PUBLIC_TASK"));
}

Test(policy, gives_rag_deadlines_in_seconds)
{
	cr_assert_eq(hv_policy_rag_seconds("RED"), 14400);
	cr_assert_eq(hv_policy_rag_seconds("AMBER"), 86400);
	cr_assert_eq(hv_policy_rag_seconds("GREEN"), 259200);
	cr_assert_eq(hv_policy_rag_seconds("BLUE"), -1);
	cr_assert_eq(hv_policy_rag_seconds("red"), -1);
	cr_assert_eq(hv_policy_rag_seconds(NULL), -1);
}

/*
 * SPEC §4.2: decided_by is a staff identifier, so a child's name, an NHS
 * number however written, or a sentence cannot be put there; the refusal
 * never repeats what was given.
 */
Test(policy, refuses_a_decided_by_that_is_not_a_staff_identifier)
{
	static const char *const bad[] = { "Zebedee Marker", "zebedee marker",
		"Zebedee", "DS Jane Smith", "943 476 5919", "943\t476\t5919",
		"dsl.jones re the child", "dsl.jones\n", "ppu/sgt", "sgt@ppu",
		"O'Brien", "élodie", "9434765919", "943-476-5919",
		"628.194.8211", "628_194_8211", ".hidden", "-x", NULL };
	char long_id[HV_DECIDED_BY_MAX + 2];
	struct hv_errdetail d;

	for (size_t i = 0; bad[i] != NULL; i++) {
		struct hv_basis b = good_basis();

		strcpy(b.decided_by, bad[i]);
		basis_fails(&b, 0, "basis.decided_by", "staff identifier");
		hv_errclear(&d);
		hv_policy_check_basis(&b, 0, &d);
		cr_assert_null(strstr(d.message, bad[i]),
		    "the sentence "
		    "repeats the value: %s",
		    d.message);
		cr_assert_not(hv_policy_staff_id_valid(bad[i]), "%s", bad[i]);
	}
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	cr_assert_not(hv_policy_staff_id_valid(long_id));
	long_id[HV_DECIDED_BY_MAX] = '\0';
	cr_assert(hv_policy_staff_id_valid(long_id));
	cr_assert_not(hv_policy_staff_id_valid(""));
	cr_assert_not(hv_policy_staff_id_valid(NULL));
}

Test(policy, accepts_staff_identifiers)
{
	static const char *const good[] = { "ppu.sgt-khan", "dsl.jones",
		"named_nurse.patel", "mash42", "caldicott.guardian", "a",
		"pc4521", "x.9434765918", NULL };
	struct hv_errdetail d;

	for (size_t i = 0; good[i] != NULL; i++) {
		struct hv_basis b = good_basis();

		strcpy(b.decided_by, good[i]);
		hv_errclear(&d);
		cr_assert_eq(hv_policy_check_basis(&b, 0, &d), HV_OK,
		    "'%s': %s", good[i], d.message);
	}
}

/* ---- the justification sealed to the ig.* nodes (hv_sealed) ---------- */

static hv_keys *
load_node_key(const char *node)
{
	char path[160];
	struct hv_errdetail d;
	hv_keys *k = NULL;

	snprintf(path, sizeof(path), "%s/keys/%s.key", tmp, node);
	cr_assert_eq(hv_keys_load(path, NULL, &k, &d), HV_OK, "%s", d.message);
	return k;
}

/* A share from police to social care whose basis is sealed for id. */
static void
sealed_envelope(hv_envelope *env, const char *justification)
{
	struct hv_errdetail d;

	memset(env, 0, sizeof(*env));
	hv_envelope_new_id(env->id);
	strcpy(env->sender, "police.avon");
	strcpy(env->recipients[0], "social-care.bristol");
	env->n_recipients = 1;
	strcpy(env->type, "REFERRAL");
	strcpy(env->priority, "URGENT");
	env->basis = good_basis();
	strcpy(env->basis.justification, justification);
	cr_assert_eq(hv_justification_seal(&env->basis, env->id, dir, &d),
	    HV_OK, "%s", d.message);
}

Test(policy, seals_a_justification_that_only_an_ig_key_opens)
{
	static const char text[] = "Zebedee-Canary: seeking consent would "
	                           "place the child at risk.";
	hv_envelope env;
	hv_keys *ig = load_node_key("ig.bristol");
	hv_keys *police = load_node_key("police.avon");
	char out[HV_JUSTIFICATION_MAX + 1];
	struct hv_errdetail d;

	sealed_envelope(&env, text);
	/* The clear text is gone; only ciphertext and its length remain. */
	cr_assert_eq(env.basis.justification[0], '\0');
	cr_assert_eq(env.basis.justification_len, strlen(text));
	cr_assert_eq(env.basis.n_sealed_for, 1);
	cr_assert_str_eq(env.basis.sealed_for[0], "ig.bristol");
	cr_assert_null(
	    memmem(env.basis.sealed, env.basis.sealed_len, "Zebedee", 7));
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);

	cr_assert_eq(hv_justification_open(&env.basis, env.id, ig, out,
	                 sizeof(out)),
	    HV_OK);
	cr_assert_str_eq(out, text);
	cr_assert_eq(hv_justification_open(&env.basis, env.id, police, out,
	                 sizeof(out)),
	    HV_ENOTRECIPIENT);
	/* Bound to its message: moved onto another id it does not open. */
	env.id[0] ^= 1;
	cr_assert_eq(hv_justification_open(&env.basis, env.id, ig, out,
	                 sizeof(out)),
	    HV_EDECRYPT);
	hv_keys_destroy(&ig);
	hv_keys_destroy(&police);
}

Test(policy, opens_a_justification_sealed_before_the_ig_key_was_rotated)
{
	static const char text[] = "Sealed to the IG office before it "
	                           "rotated its key.";
	hv_envelope env;
	hv_keys *rotated = NULL;
	char old[160], outdir[160], *newkey = NULL;
	char out[HV_JUSTIFICATION_MAX + 1];
	struct hv_errdetail d;

	sealed_envelope(&env, text);
	snprintf(old, sizeof(old), "%s/keys/ig.bristol.key", tmp);
	snprintf(outdir, sizeof(outdir), "%s/rotated", tmp);
	cr_assert_eq(hv_keys_rotate(old, outdir, NULL, hv_now_ms(), &newkey,
	                 &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(hv_keys_load(newkey, NULL, &rotated, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(rotated->n_prev_box, 1);
	/* The new key file opens it through the payload key it kept. */
	cr_assert_eq(hv_justification_open(&env.basis, env.id, rotated, out,
	                 sizeof(out)),
	    HV_OK);
	cr_assert_str_eq(out, text);
	/* Without the kept key it would not: the current key alone fails. */
	rotated->n_prev_box = 0;
	cr_assert_eq(hv_justification_open(&env.basis, env.id, rotated, out,
	                 sizeof(out)),
	    HV_ENOTRECIPIENT);
	hv_keys_destroy(&rotated);
	free(newkey);
}

Test(policy, refuses_a_justification_in_clear_in_an_envelope)
{
	hv_envelope env;
	struct hv_errdetail d;

	sealed_envelope(&env,
	    "Seeking consent would place the child at "
	    "increased risk.");
	strcpy(env.basis.justification,
	    "Seeking consent would place the "
	    "child at increased risk.");
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.justification");
	cr_assert_not_null(strstr(d.message, "sealed"), "%s", d.message);
}

Test(policy, checks_the_sealed_length_of_a_justification)
{
	hv_envelope env;
	struct hv_errdetail d;

	sealed_envelope(&env, "too short");
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.justification");
	cr_assert_not_null(strstr(d.message, "20"), "%s", d.message);

	/* A length the ciphertext cannot hold is a lie. */
	sealed_envelope(&env,
	    "Seeking consent would place the child at "
	    "increased risk.");
	env.basis.justification_len = 900;
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.justification");
}

Test(policy, refuses_a_justification_sealed_to_anyone_but_ig_nodes)
{
	hv_envelope env;
	struct hv_errdetail d;

	sealed_envelope(&env,
	    "Seeking consent would place the child at "
	    "increased risk.");
	strcpy(env.basis.sealed_for[0], "broker.bristol");
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.justification");
	cr_assert_null(strstr(d.message, "broker.bristol"), "%s", d.message);

	strcpy(env.basis.sealed_for[0], "ig.nowhere");
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);

	sealed_envelope(&env,
	    "Seeking consent would place the child at "
	    "increased risk.");
	env.basis.n_sealed_for = 0;
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_EBASIS);
	cr_assert_str_eq(d.field, "basis.justification");
}

Test(policy, seals_nothing_for_an_empty_justification)
{
	hv_envelope env;
	struct hv_errdetail d;

	sealed_envelope(&env, "   ");
	cr_assert_eq(env.basis.justification_len, 0);
	cr_assert_eq(env.basis.sealed_len, 0);
	cr_assert_eq(env.basis.n_sealed_for, 0);
	strcpy(env.basis.consent, "OBTAINED");
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_envelope(dir, &env, &d), HV_OK, "%s",
	    d.message);
}

/* hv_policy_check_delivery's verdict on env at recipient me. */
static void
delivery_fails(const hv_envelope *env, const char *me, hv_err want,
    const char *field)
{
	struct hv_errdetail d;
	hv_err e;

	hv_errclear(&d);
	e = hv_policy_check_delivery(dir, env, me, &d);
	cr_assert_eq(e, want, "expected %s, got %s (%s)", hv_errname(want),
	    hv_errname(e), d.message);
	cr_assert_str_eq(d.field, field, "field %s: %s", d.field, d.message);
	cr_assert_neq(d.message[0], '\0');
}

Test(policy, checks_a_delivery_against_the_rule_for_this_recipient_only)
{
	hv_envelope env = share("police.avon", "education.st-marys-primary",
	    "DOMESTIC_ABUSE_NOTIFICATION");
	struct hv_errdetail d;

	cr_assert_eq(hv_policy_check_delivery(dir, &env,
	                 "education.st-marys-primary", &d),
	    HV_OK, "%s", d.message);
	/*
	 * A co-recipient the rules do not cover is that recipient's to
	 * refuse; the school's own rule is all the school checks.
	 */
	strcpy(env.recipients[1], "health.bristol-royal");
	env.n_recipients = 2;
	cr_assert_eq(hv_policy_check_delivery(dir, &env,
	                 "education.st-marys-primary", &d),
	    HV_OK, "%s", d.message);
	delivery_fails(&env, "health.bristol-royal", HV_EPOLICY, "recipients");
	delivery_fails(&env, "social-care.bristol", HV_ENOTRECIPIENT,
	    "recipients");
}

Test(policy, refuses_a_delivery_from_a_revoked_sender_or_without_a_rule)
{
	hv_envelope env =
	    share("education.old-school", "social-care.bristol", "REFERRAL");

	delivery_fails(&env, "social-care.bristol", HV_ESENDERREVOKED,
	    "sender");
	env = share("health.bristol-royal", "social-care.bristol",
	    "CP_PLAN_START");
	delivery_fails(&env, "social-care.bristol", HV_EPOLICY, "recipients");
	/* The rule's art9 demand and the basis rules apply as at submit. */
	env = share("health.bristol-royal", "social-care.bristol",
	    "UNSCHEDULED_CARE_ATTENDANCE");
	strcpy(env.basis.art9, "NONE");
	delivery_fails(&env, "social-care.bristol", HV_EBASIS, "basis.art9");
	/* A decision not to share is never delivered. */
	env = share("police.avon", NULL, "REFERRAL");
	strcpy(env.outcome, "NOT_SHARED");
	delivery_fails(&env, "social-care.bristol", HV_EMALFORMED, "outcome");
}

Test(policy, keeps_created_within_the_window_given)
{
	struct hv_errdetail d;
	int64_t now = 1800000000;

	cr_assert_eq(hv_policy_check_created(now + 300, now, 300, 300,
	                 "the broker's clock", &d),
	    HV_OK);
	cr_assert_eq(hv_policy_check_created(now - 300, now, 300, 300,
	                 "the broker's clock", &d),
	    HV_OK);
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_created(now + 301, now, 300, 300,
	                 "the broker's clock", &d),
	    HV_ECLOCKSKEW);
	cr_assert_str_eq(d.field, "created");
	cr_assert_not_null(strstr(d.message,
	                       "301 s ahead of the broker's "
	                       "clock"),
	    "%s", d.message);
	cr_assert_eq(hv_policy_check_created(now - 301, now, 300, 300,
	                 "the broker's clock", &d),
	    HV_ECLOCKSKEW);
	/* A recipient allows the TTL more behind, but not 2001. */
	cr_assert_eq(hv_policy_check_created(now - 3 * 86400, now, 300,
	                 604800 + 300, "this agent's clock", &d),
	    HV_OK);
	cr_assert_eq(hv_policy_check_created(978307200, now, 300, 604800 + 300,
	                 "this agent's clock", &d),
	    HV_ECLOCKSKEW);
}

Test(policy, lets_an_info_response_answer_only_a_request_sent_to_its_sender)
{
	hv_envelope env =
	    share("police.avon", "social-care.bristol", "INFO_RESPONSE");
	struct hv_policy_request req = { 1, 1, "INFO_REQUEST" };
	struct hv_errdetail d;

	env.has_reply_to = 1;
	memset(env.reply_to, 0xab, sizeof(env.reply_to));
	cr_assert_eq(hv_policy_check_reply_to(&env, &req, &d), HV_OK, "%s",
	    d.message);
	req.to_responder = 0;
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_reply_to(&env, &req, &d), HV_EPOLICY);
	cr_assert_str_eq(d.field, "reply_to");
	req = (struct hv_policy_request){ 0, 0, "" };
	cr_assert_eq(hv_policy_check_reply_to(&env, &req, &d), HV_EPOLICY);
	req = (struct hv_policy_request){ 1, 1, "REFERRAL" };
	hv_errclear(&d);
	cr_assert_eq(hv_policy_check_reply_to(&env, &req, &d), HV_EPOLICY);
	cr_assert_not_null(strstr(d.message, "another type"), "%s", d.message);
	/* Other types are not answers. */
	strcpy(env.type, "REFERRAL");
	cr_assert_eq(hv_policy_check_reply_to(&env, NULL, &d), HV_OK);
}
