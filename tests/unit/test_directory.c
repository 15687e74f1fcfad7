/*
 * Unit tests of hv_directory: the agreement's syntax and its errors, the
 * signed directory's round trip, refusals of altered, foreign and older
 * directories, revocation and look-ups. Every test works in its own
 * mkdtemp folder with keys made by hv_keys_generate.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "haven.pb-c.h"
#include "hv_directory.h"
#include "hv_keys.h"
#include "hv_util.h"
#include "fixture.h"

static char tmp[64];

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	fixture_tmpdir(tmp, sizeof(tmp), "dir");
}

static void
teardown(void)
{
	fixture_rmtree(tmp);
}

TestSuite(directory, .init = setup, .fini = teardown);

static const char *const spec_nodes[] = { "broker.bristol", "police.avon",
	"health.bristol-royal", "education.st-marys-primary",
	"social-care.bristol", "ig.bristol", "education.old-school", NULL };

/* The agreement of SPEC §5, word for word. */
static const char spec_agreement[] =
    "partnership bristol\n"
    "version 7\n"
    "broker broker.bristol tcp://127.0.0.1:7400 keys/broker.bristol.pub\n"
    "node police.avon            keys/police.avon.pub\n"
    "node health.bristol-royal   keys/health.bristol-royal.pub\n"
    "node education.st-marys-primary keys/education.st-marys-primary.pub\n"
    "node social-care.bristol    keys/social-care.bristol.pub\n"
    "node ig.bristol             keys/ig.bristol.pub   scope=*\n"
    "# allow SENDER_ROLES -> RECIPIENT_ROLES : TYPES [art9]\n"
    "allow police -> education, social-care : DOMESTIC_ABUSE_NOTIFICATION\n"
    "allow health -> social-care : UNSCHEDULED_CARE_ATTENDANCE art9\n"
    "allow * -> social-care : REFERRAL\n"
    "allow social-care -> police, health, education : INFO_REQUEST, "
    "STRATEGY_DISCUSSION, CP_CONFERENCE_INVITATION, CP_PLAN_START, "
    "CP_PLAN_END\n"
    "allow police, health, education -> social-care : INFO_RESPONSE\n"
    "allow police, health, education, social-care -> police, health, "
    "education, social-care : MISSING_CHILD_ALERT\n"
    "node education.old-school   keys/education.old-school.pub\n"
    "revoke education.old-school\n";

/* Makes tmp/keys/ID.{key,pub} and returns the keys (caller destroys). */
static hv_keys *
make_keys(const char *id)
{
	char dir[128];
	struct hv_errdetail d;
	hv_keys *k = NULL;

	snprintf(dir, sizeof(dir), "%s/keys", tmp);
	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, id, dir, NULL, &d), HV_OK, "%s",
	    d.message);
	return k;
}

static void
make_spec_keys(void)
{
	for (size_t i = 0; spec_nodes[i] != NULL; i++) {
		hv_keys *k = make_keys(spec_nodes[i]);

		hv_keys_destroy(&k);
	}
}

static char *
write_agreement(const char *text)
{
	static char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/agreement.txt", tmp);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fputs(text, fp) >= 0, 1);
	cr_assert_eq(fclose(fp), 0);
	return path;
}

static hv_directory *
parse_ok(const char *text)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	hv_err e;

	hv_errclear(&d);
	e = hv_agreement_parse(write_agreement(text), &dir, &d);
	cr_assert_eq(e, HV_OK, "parse failed: %s", d.message);
	cr_assert_not_null(dir);
	return dir;
}

/* Parses text expecting BAD_AGREEMENT at line, with want in the message. */
static void
parse_fails(const char *text, unsigned line, const char *want)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	char field[32], prefix[160];
	hv_err e;

	hv_errclear(&d);
	e = hv_agreement_parse(write_agreement(text), &dir, &d);
	cr_assert_eq(e, HV_EBADAGREEMENT,
	    "expected BAD_AGREEMENT for:\n%s"
	    "got %s (%s)",
	    text, hv_errname(e), d.message);
	cr_assert_null(dir);
	snprintf(field, sizeof(field), "line %u", line);
	cr_assert_str_eq(d.field, field, "wrong line for '%s': %s", want,
	    d.message);
	snprintf(prefix, sizeof(prefix), "%s/agreement.txt:%u: ", tmp, line);
	cr_assert(strncmp(d.message, prefix, strlen(prefix)) == 0,
	    "message does not start with FILE:LINE: %s", d.message);
	cr_assert_not_null(strstr(d.message, want),
	    "message '%s' does not mention '%s'", d.message, want);
}

static const char head[] =
    "partnership bristol\n"
    "version 7\n"
    "broker broker.bristol tcp://127.0.0.1:7400 keys/broker.bristol.pub\n"
    "node police.avon keys/police.avon.pub\n";

/* head followed by one more line, which is line 5. */
static void
line5_fails(const char *line, const char *want)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s\n", head, line);
	parse_fails(text, 5, want);
}

/* Signs dir with root and returns the packed bytes (caller frees). */
static uint8_t *
sign(const hv_directory *dir, const hv_keys *root, size_t *len)
{
	uint8_t *buf = NULL;

	cr_assert_eq(hv_directory_sign(dir, root, &buf, len), HV_OK);
	cr_assert_not_null(buf);
	return buf;
}

Test(directory, parses_the_whole_spec_sample_agreement)
{
	hv_directory *dir;
	const struct hv_node *n;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	cr_assert_str_eq(hv_directory_partnership(dir), "bristol");
	cr_assert_eq(hv_directory_version(dir), 7);
	cr_assert_eq(hv_directory_node_count(dir), 7);
	cr_assert_eq(hv_directory_rule_count(dir), 6);
	cr_assert_not_null(n = hv_directory_broker(dir));
	cr_assert_str_eq(n->id, "broker.bristol");
	cr_assert_str_eq(n->endpoint, "tcp://127.0.0.1:7400");
	cr_assert_not_null(n = hv_directory_node(dir, "ig.bristol"));
	cr_assert_eq(n->n_scope, 1);
	cr_assert_str_eq(n->scope[0], "*");
	cr_assert_not_null(n = hv_directory_node(dir, "social-care.bristol"));
	cr_assert_str_eq(n->role, "social-care");
	cr_assert(n->has_keys && !n->revoked);
	cr_assert_not_null(n = hv_directory_node(dir, "education.old-school"));
	cr_assert(n->revoked && n->has_keys);

	const struct hv_rule *r = hv_directory_rule_at(dir, 3);
	cr_assert_eq(r->n_senders, 1);
	cr_assert_str_eq(r->senders[0], "social-care");
	cr_assert_eq(r->n_recipients, 3);
	cr_assert_str_eq(r->recipients[2], "education");
	cr_assert_eq(r->n_types, 5);
	cr_assert_str_eq(r->types[4], "CP_PLAN_END");
	cr_assert_eq(r->line, 13);
	cr_assert(!r->art9_required);
	r = hv_directory_rule_at(dir, 1);
	cr_assert(r->art9_required);
	cr_assert_str_eq(r->types[0], "UNSCHEDULED_CARE_ATTENDANCE");
	cr_assert_str_eq(hv_directory_rule_at(dir, 2)->senders[0], "*");
	hv_directory_destroy(&dir);
	cr_assert_null(dir);
}

Test(directory, names_the_line_of_an_unknown_keyword)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("permit police -> education : REFERRAL", "'permit'");
}

Test(directory, names_the_line_of_a_bad_node_id)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("node Police.Avon keys/police.avon.pub", "'Police.Avon'");
	line5_fails("node policeavon keys/police.avon.pub", "'policeavon'");
	line5_fails("revoke bad..id", "'bad..id'");
}

Test(directory, refuses_a_revoke_of_an_id_with_no_node_line_naming_the_line)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("revoke police.avn", "revoke police.avn names no node");
}

Test(directory, names_the_line_of_a_missing_pub_file)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("node health.x keys/health.x.pub", "'keys/health.x.pub'");
	parse_fails("partnership p\nversion 1\n\nbroker broker.bristol "
	            "tcp://127.0.0.1:7400 keys/nope.pub\n",
	    4, "'keys/nope.pub'");
}

Test(directory, names_the_line_of_a_malformed_pub_file)
{
	char path[160];
	FILE *fp;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	snprintf(path, sizeof(path), "%s/keys/junk.pub", tmp);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs("sign_public = not base64 at all\n", fp);
	fclose(fp);
	line5_fails("node health.x keys/junk.pub", "'keys/junk.pub'");
}

Test(directory, names_the_line_of_a_bad_type_in_an_allow_line)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("allow police -> social-care : REFERRAL, GOSSIP",
	    "'GOSSIP'");
	line5_fails("allow police -> social-care : referral", "'referral'");
}

Test(directory, names_the_line_of_an_allow_line_without_its_arrow)
{
	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	line5_fails("allow police social-care : REFERRAL", "'->'");
	line5_fails("allow police -> social-care REFERRAL", "':'");
	line5_fails("allow police -> social-care health : REFERRAL", "comma");
	line5_fails("allow police -> social-care : REFERRAL art10", "'art10'");
	line5_fails("allow police -> * : REFERRAL", "'*'");
	line5_fails("allow -> social-care : REFERRAL", "sender roles");
	line5_fails("allow police -> social-care : REFERRAL,", "empty");
	line5_fails("allow police, police -> social-care : REFERRAL", "twice");
}

Test(directory, names_the_line_of_other_mistakes)
{
	hv_keys *a = make_keys("broker.bristol");
	hv_keys *b = make_keys("police.avon");
	char dir[160], path[200];

	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("health.x") });
	line5_fails("node ig.bristol keys/ig.bristol.pub", "scope");
	line5_fails("node health.x keys/health.x.pub scope=*", "scope");
	line5_fails("node ig.bristol keys/ig.bristol.pub scope=nobody",
	    "'nobody'");
	line5_fails("node police.avon keys/police.avon.pub", "line 4");
	line5_fails("version 8", "line 2");
	line5_fails("partnership other", "line 1");
	line5_fails("broker broker.two tcp://127.0.0.1:1 keys/x.pub", "line 3");
	line5_fails("allow probation -> police : REFERRAL", "'probation'");
	line5_fails("revoke broker.bristol", "broker");
	line5_fails("node broker.other keys/broker.bristol.pub", "broker");

	/* The same keys under a second name. */
	snprintf(dir, sizeof(dir), "%s/copy", tmp);
	cr_assert_eq(hv_keys_save(b, "police.copy", dir, NULL, NULL), HV_OK);
	snprintf(path, sizeof(path), "node police.copy copy/police.copy.pub");
	line5_fails(path, "same key");

	parse_fails("partnership p\nversion 0\n", 2, "'0'");
	parse_fails("partnership p\nversion -3\n", 2, "'-3'");
	parse_fails("partnership p\nversion 1\nbroker broker.bristol "
	            "127.0.0.1:7400 keys/broker.bristol.pub\n",
	    3, "'127.0.0.1:7400'");
	parse_fails("partnership p\nversion 1\nbroker police.avon "
	            "tcp://127.0.0.1:7400 keys/police.avon.pub\n",
	    3, "broker");
	parse_fails("partnership p\nrevoke a.b\nrevoke a.b\n", 3, "twice");
	hv_keys_destroy(&a);
	hv_keys_destroy(&b);
}

/* Writes tmp/keys/ID.pub holding fresh keys except for the given CURVE key. */
static void
write_pub_with_curve(const char *id, const uint8_t curve[32])
{
	char path[160], b64[3][64];
	uint8_t fresh[2][32];
	FILE *fp;

	randombytes_buf(fresh, sizeof(fresh));
	sodium_bin2base64(b64[0], sizeof(b64[0]), fresh[0], 32,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64[1], sizeof(b64[1]), fresh[1], 32,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64[2], sizeof(b64[2]), curve, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	snprintf(path, sizeof(path), "%s/keys/%s.pub", tmp, id);
	cr_assert_not_null(fp = fopen(path, "w"));
	fprintf(fp,
	    "# Haven public keys for %s\nnode = %s\nsign_public = %s\n"
	    "box_public = %s\ncurve_public = %s\n",
	    id, id, b64[0], b64[1], b64[2]);
	cr_assert_eq(fclose(fp), 0);
}

Test(directory, refuses_one_curve_key_on_two_nodes)
{
	hv_keys *police;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	police = make_keys("police.avon");
	write_pub_with_curve("health.x", police->pub.curve);
	line5_fails("node health.x keys/health.x.pub",
	    "same key as police.avon");
	hv_keys_destroy(&police);
}

Test(directory, refuses_an_agreement_missing_a_required_line)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	cr_assert_eq(
	    hv_agreement_parse(write_agreement(
	                           "partnership p\n"
	                           "broker broker.bristol tcp://127.0.0.1:7400 "
	                           "keys/broker.bristol.pub\n"),
	        &dir, &d),
	    HV_EBADAGREEMENT);
	cr_assert_not_null(strstr(d.message, "version"));
	cr_assert_eq(
	    hv_agreement_parse(write_agreement(
	                           "version 2\n"
	                           "broker broker.bristol tcp://127.0.0.1:7400 "
	                           "keys/broker.bristol.pub\n"),
	        &dir, &d),
	    HV_EBADAGREEMENT);
	cr_assert_not_null(strstr(d.message, "partnership"));
	cr_assert_eq(hv_agreement_parse(write_agreement("partnership p\n"
	                                                "version 2\n"),
	                 &dir, &d),
	    HV_EBADAGREEMENT);
	cr_assert_not_null(strstr(d.message, "broker"));
	cr_assert_null(dir);
}

Test(directory, reports_an_unreadable_agreement_as_io)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	char path[128];

	snprintf(path, sizeof(path), "%s/absent.txt", tmp);
	cr_assert_eq(hv_agreement_parse(path, &dir, &d), HV_EIO);
	cr_assert_null(dir);
}

Test(directory, accepts_comments_blank_lines_and_crlf)
{
	hv_directory *dir;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	dir = parse_ok(
	    "# Bristol\r\n\r\n  partnership bristol  # name\r\n"
	    "version 3\r\n\tbroker broker.bristol tcp://127.0.0.1:7400 "
	    "keys/broker.bristol.pub\r\nnode police.avon "
	    "keys/police.avon.pub\r\nnode ig.bristol keys/ig.bristol.pub "
	    "scope=*\r\nallow police->social-care:REFERRAL\r\n");
	cr_assert_eq(hv_directory_version(dir), 3);
	cr_assert_eq(hv_directory_rule_count(dir), 1);
	cr_assert_str_eq(hv_directory_rule_at(dir, 0)->recipients[0],
	    "social-care");
	hv_directory_destroy(&dir);
}

Test(directory, signs_and_loads_the_same_directory)
{
	hv_keys *root = make_keys("root.bristol");
	hv_directory *dir, *back = NULL;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	buf = sign(dir, root, &len);
	hv_errclear(&d);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	cr_assert_str_eq(hv_directory_partnership(back), "bristol");
	cr_assert_eq(hv_directory_version(back), 7);
	cr_assert_eq(hv_directory_built(back), hv_directory_built(dir));
	cr_assert(hv_directory_built(back) > 1600000000);
	cr_assert_eq(hv_directory_node_count(back),
	    hv_directory_node_count(dir));
	cr_assert_eq(hv_directory_rule_count(back),
	    hv_directory_rule_count(dir));
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *a = hv_directory_node_at(dir, i);
		const struct hv_node *b = hv_directory_node_at(back, i);

		cr_assert_str_eq(a->id, b->id);
		cr_assert_str_eq(a->role, b->role);
		cr_assert_eq(a->has_keys, b->has_keys);
		cr_assert_eq(a->revoked, b->revoked);
		cr_assert_eq(memcmp(&a->keys, &b->keys, sizeof(a->keys)), 0);
		cr_assert_eq(a->n_scope, b->n_scope);
		cr_assert_str_eq(a->endpoint, b->endpoint);
	}
	for (size_t i = 0; i < hv_directory_rule_count(dir); i++) {
		const struct hv_rule *a = hv_directory_rule_at(dir, i);
		const struct hv_rule *b = hv_directory_rule_at(back, i);

		cr_assert_eq(a->n_senders, b->n_senders);
		cr_assert_eq(a->n_recipients, b->n_recipients);
		cr_assert_eq(a->n_types, b->n_types);
		cr_assert_eq(a->art9_required, b->art9_required);
		cr_assert_eq(a->line, b->line);
		for (size_t j = 0; j < a->n_types; j++)
			cr_assert_str_eq(a->types[j], b->types[j]);
	}
	cr_assert_str_eq(hv_directory_broker(back)->endpoint,
	    "tcp://127.0.0.1:7400");
	free(buf);
	hv_directory_destroy(&back);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
}

Test(directory, loads_a_directory_file_and_reports_a_missing_one)
{
	hv_keys *root = make_keys("root.bristol");
	hv_directory *dir, *back = NULL;
	struct hv_errdetail d;
	char path[128];
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	buf = sign(dir, root, &len);
	snprintf(path, sizeof(path), "%s/directory.hd", tmp);
	cr_assert_eq(hv_write_file_atomic(path, buf, len, 0644), 0);
	cr_assert_eq(hv_directory_load_file(path, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	hv_directory_destroy(&back);
	snprintf(path, sizeof(path), "%s/absent.hd", tmp);
	cr_assert_eq(hv_directory_load_file(path, root->pub.sign, &back, &d),
	    HV_EIO);
	cr_assert_null(back);
	free(buf);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
}

Test(directory, refuses_a_directory_signed_by_another_root)
{
	hv_keys *root = make_keys("root.bristol");
	hv_keys *other = make_keys("root.other");
	hv_directory *dir, *back = NULL;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	buf = sign(dir, other, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "signature");
	cr_assert_null(back);
	/* The same bytes are good under the root that signed them. */
	cr_assert_eq(hv_directory_load(buf, len, other->pub.sign, &back, &d),
	    HV_OK);
	hv_directory_destroy(&back);
	free(buf);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
	hv_keys_destroy(&other);
}

Test(directory, refuses_a_flipped_byte_anywhere)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	hv_keys *root = make_keys("root.bristol");
	hv_directory *dir, *back;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	buf = sign(dir, root, &len);
	cr_assert(len > 300);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			hv_err e;

			back = NULL;
			buf[i] ^= masks[m];
			e = hv_directory_load(buf, len, root->pub.sign, &back,
			    &d);
			buf[i] ^= masks[m];
			cr_assert_eq(e, HV_EBADDIRECTORY,
			    "byte %zu ^ 0x%02x was accepted (%s)", i, masks[m],
			    hv_errname(e));
			cr_assert_null(back);
		}
	}
	/* Truncations are refused too. */
	for (size_t cut = 0; cut < len; cut += 7) {
		back = NULL;
		cr_assert_eq(hv_directory_load(buf, cut, root->pub.sign, &back,
		                 &d),
		    HV_EBADDIRECTORY, "a cut at %zu was accepted", cut);
	}
	back = NULL;
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK);
	hv_directory_destroy(&back);
	free(buf);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
}

/* Signs a hand-made body with the directory's domain tag, as the root would. */
static uint8_t *
sign_body(Haven__Directory *pd, const hv_keys *root, size_t *len)
{
	static const char tag[] = "haven-directory-v1";
	Haven__SignedDirectory sd = HAVEN__SIGNED_DIRECTORY__INIT;
	size_t blen = haven__directory__get_packed_size(pd);
	uint8_t *msg = malloc(sizeof(tag) + blen), sig[64], *out;

	cr_assert_not_null(msg);
	memcpy(msg, tag, sizeof(tag));
	haven__directory__pack(pd, msg + sizeof(tag));
	crypto_sign_detached(sig, NULL, msg, sizeof(tag) + blen,
	    root->sign_secret);
	sd.body.data = msg + sizeof(tag);
	sd.body.len = blen;
	sd.signature.data = sig;
	sd.signature.len = 64;
	*len = haven__signed_directory__get_packed_size(&sd);
	cr_assert_not_null(out = malloc(*len));
	haven__signed_directory__pack(&sd, out);
	free(msg);
	return out;
}

Test(directory, refuses_a_signed_directory_with_a_bad_field_naming_it)
{
	hv_keys *root = make_keys("root.bristol");
	Haven__Directory pd = HAVEN__DIRECTORY__INIT;
	Haven__DirNode nb = HAVEN__DIR_NODE__INIT, np = HAVEN__DIR_NODE__INIT;
	Haven__DirNode *nodes[] = { &nb, &np };
	Haven__DirRule rule = HAVEN__DIR_RULE__INIT, *rules[] = { &rule };
	char *senders[] = { "police" }, *recips[] = { "social-care" };
	char *types[] = { "REFERRAL" }, *bad_types[] = { "GOSSIP" };
	uint8_t k1[32], k2[32], k3[32], k4[32];
	struct hv_errdetail d;
	hv_directory *back = NULL;
	uint8_t *buf;
	size_t len;

	randombytes_buf(k1, 32);
	randombytes_buf(k2, 32);
	randombytes_buf(k3, 32);
	randombytes_buf(k4, 32);
	pd.partnership = "bristol";
	pd.version = 2;
	pd.broker_id = "broker.bristol";
	nb.id = "broker.bristol";
	nb.has_keys = 1;
	nb.sign_public = (ProtobufCBinaryData){ 32, k1 };
	nb.box_public = (ProtobufCBinaryData){ 32, k2 };
	nb.curve_public = (ProtobufCBinaryData){ 32, k3 };
	nb.endpoint = "tcp://127.0.0.1:7400";
	np.id = "police.avon";
	np.has_keys = 1;
	np.sign_public = (ProtobufCBinaryData){ 32, k4 };
	np.box_public = (ProtobufCBinaryData){ 32, k4 };
	np.curve_public = (ProtobufCBinaryData){ 31, k4 };
	pd.n_nodes = 2;
	pd.nodes = nodes;
	rule.n_sender_roles = 1;
	rule.sender_roles = senders;
	rule.n_recipient_roles = 1;
	rule.recipient_roles = recips;
	rule.n_types = 1;
	rule.types = types;
	pd.n_rules = 1;
	pd.rules = rules;

	buf = sign_body(&pd, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "nodes[1].curve_public");
	free(buf);

	np.curve_public.len = 32;
	np.id = "Police.Avon";
	buf = sign_body(&pd, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "nodes[1].id");
	free(buf);

	np.id = "police.avon";
	rule.types = bad_types;
	buf = sign_body(&pd, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "rules[0].types");
	free(buf);

	rule.types = types;
	pd.version = 0;
	buf = sign_body(&pd, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "version");
	free(buf);

	/* With every field fixed, the same directory loads. */
	pd.version = 2;
	buf = sign_body(&pd, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(hv_directory_node_count(back), 2);
	hv_directory_destroy(&back);
	free(buf);
	hv_keys_destroy(&root);
}

Test(directory, refuses_an_older_version_and_accepts_an_equal_one)
{
	char text[sizeof(spec_agreement) + 16];
	hv_directory *v7, *v6, *v8, *other;
	struct hv_errdetail d;

	make_spec_keys();
	v7 = parse_ok(spec_agreement);
	snprintf(text, sizeof(text), "%s", spec_agreement);
	text[strlen("partnership bristol\nversion ")] = '6';
	v6 = parse_ok(text);
	text[strlen("partnership bristol\nversion ")] = '8';
	v8 = parse_ok(text);
	memcpy(text, "partnership bristle", 19);
	other = parse_ok(text);

	cr_assert_eq(hv_directory_check_newer(NULL, v6, &d), HV_OK);
	cr_assert_eq(hv_directory_check_newer(v7, v7, &d), HV_OK);
	cr_assert_eq(hv_directory_check_newer(v7, v8, &d), HV_OK);
	cr_assert_eq(hv_directory_check_newer(v7, v6, &d), HV_EROLLBACK);
	cr_assert_str_eq(d.message,
	    "directory version 6 is older than the loaded version 7");
	cr_assert_eq(hv_directory_check_newer(v7, other, &d), HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "partnership");
	hv_directory_destroy(&v6);
	hv_directory_destroy(&v7);
	hv_directory_destroy(&v8);
	hv_directory_destroy(&other);
}

Test(directory, revokes_nodes_with_and_without_a_node_line)
{
	hv_keys *root = make_keys("root.bristol");
	hv_directory *dir, *back = NULL;
	const struct hv_node *n;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	hv_keys_destroy(&(hv_keys *){ make_keys("education.old") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	/* A revoke may come before the node line it revokes. */
	dir = parse_ok("partnership bristol\nversion 2\n"
	               "revoke education.old\n"
	               "node ig.bristol keys/ig.bristol.pub scope=*\n"
	               "broker broker.bristol tcp://127.0.0.1:7400 "
	               "keys/broker.bristol.pub\n"
	               "node police.avon keys/police.avon.pub\n"
	               "node education.old keys/education.old.pub\n");
	buf = sign(dir, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	cr_assert_not_null(n = hv_directory_node(back, "education.old"));
	cr_assert(n->revoked && n->has_keys);
	cr_assert_not_null(n = hv_directory_node(back, "police.avon"));
	cr_assert(!n->revoked && n->has_keys);
	cr_assert_null(hv_directory_node(back, "police.other"));
	free(buf);
	hv_directory_destroy(&back);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
}

Test(directory, finds_a_node_by_its_curve_key)
{
	hv_keys *police, *health;
	hv_directory *dir;
	const struct hv_node *n;
	uint8_t stranger[HV_CURVE_KEY_LEN];

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	police = make_keys("police.avon");
	health = make_keys("health.x");
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	dir = parse_ok("partnership bristol\nversion 2\n"
	               "node ig.bristol keys/ig.bristol.pub scope=*\n"
	               "broker broker.bristol tcp://127.0.0.1:7400 "
	               "keys/broker.bristol.pub\n"
	               "node police.avon keys/police.avon.pub\n"
	               "node health.x keys/health.x.pub\n");
	cr_assert_not_null(
	    n = hv_directory_node_by_curve(dir, police->pub.curve));
	cr_assert_str_eq(n->id, "police.avon");
	cr_assert_not_null(
	    n = hv_directory_node_by_curve(dir, health->pub.curve));
	cr_assert_str_eq(n->id, "health.x");
	randombytes_buf(stranger, sizeof(stranger));
	cr_assert_null(hv_directory_node_by_curve(dir, stranger));
	/* A signing key is not a CURVE key. */
	cr_assert_null(hv_directory_node_by_curve(dir, police->pub.sign));
	hv_directory_destroy(&dir);
	hv_keys_destroy(&police);
	hv_keys_destroy(&health);
}

Test(directory, limits_an_ig_node_to_its_scope)
{
	hv_directory *dir;
	const struct hv_node *all, *some;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.all") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.some") });
	dir = parse_ok("partnership bristol\nversion 2\n"
	               "broker broker.bristol tcp://127.0.0.1:7400 "
	               "keys/broker.bristol.pub\n"
	               "node police.avon keys/police.avon.pub\n"
	               "node ig.all keys/ig.all.pub scope=*\n"
	               "node ig.some keys/ig.some.pub scope=police,health\n");
	all = hv_directory_node(dir, "ig.all");
	some = hv_directory_node(dir, "ig.some");
	cr_assert(hv_directory_scope_allows(all, "education"));
	cr_assert(hv_directory_scope_allows(some, "police"));
	cr_assert(hv_directory_scope_allows(some, "health"));
	cr_assert(!hv_directory_scope_allows(some, "education"));
	cr_assert(
	    !hv_directory_scope_allows(hv_directory_node(dir, "police.avon"),
	        "police"));
	cr_assert(!hv_directory_scope_allows(NULL, "police"));
	hv_directory_destroy(&dir);
}

Test(directory, adds_roles_that_its_nodes_have)
{
	hv_directory *dir;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("probation.avon") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	dir = parse_ok("partnership bristol\nversion 2\n"
	               "node ig.bristol keys/ig.bristol.pub scope=*\n"
	               "allow probation -> social-care : CASE_UPDATE\n"
	               "broker broker.bristol tcp://127.0.0.1:7400 "
	               "keys/broker.bristol.pub\n"
	               "node probation.avon keys/probation.avon.pub\n");
	cr_assert_str_eq(hv_directory_rule_at(dir, 0)->senders[0], "probation");
	hv_directory_destroy(&dir);
}

/*
 * SPEC §4.2: justifications are sealed to the ig.* nodes, so an agreement
 * without a current one is refused with a sentence saying so.
 */
Test(directory, refuses_an_agreement_without_an_ig_node)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	hv_err e;

	hv_keys_destroy(&(hv_keys *){ make_keys("broker.bristol") });
	hv_keys_destroy(&(hv_keys *){ make_keys("police.avon") });
	hv_keys_destroy(&(hv_keys *){ make_keys("ig.bristol") });
	hv_errclear(&d);
	e = hv_agreement_parse(write_agreement(head), &dir, &d);
	cr_assert_eq(e, HV_EBADAGREEMENT, "%s", d.message);
	cr_assert_null(dir);
	cr_assert_not_null(strstr(d.message, "no ig.* node"), "%s", d.message);
	/* A revoked ig node does not count. */
	hv_errclear(&d);
	e = hv_agreement_parse(
	    write_agreement(
	        "partnership bristol\n"
	        "version 7\nbroker broker.bristol tcp://127.0.0.1:7400 "
	        "keys/broker.bristol.pub\nnode police.avon keys/police.avon.pub\n"
	        "node ig.bristol keys/ig.bristol.pub scope=*\n"
	        "revoke ig.bristol\n"),
	    &dir, &d);
	cr_assert_eq(e, HV_EBADAGREEMENT, "%s", d.message);
	cr_assert_null(dir);
}

Test(directory, parses_the_shipped_example_agreement)
{
	const char *src = getenv("HAVEN_SRC");
	char path[512];
	uint8_t *text;
	size_t len;
	hv_directory *dir;

	make_spec_keys();
	snprintf(path, sizeof(path), "%s/dist/agreement.example",
	    src ? src : ".");
	cr_assert_eq(hv_read_file(path, 1 << 20, &text, &len), 0,
	    "cannot read %s (run from the source tree or set HAVEN_SRC)", path);
	dir = parse_ok((const char *)text);
	cr_assert_eq(hv_directory_version(dir), 7);
	cr_assert_eq(hv_directory_rule_count(dir), 6);
	cr_assert_eq(hv_directory_node_count(dir), 7);
	free(text);
	hv_directory_destroy(&dir);
}

/* Signs text with root and loads it back (caller destroys). */
static hv_directory *
signed_copy(const char *text, const hv_keys *root)
{
	hv_directory *dir = parse_ok(text), *back = NULL;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	buf = sign(dir, root, &len);
	hv_errclear(&d);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	free(buf);
	hv_directory_destroy(&dir);
	return back;
}

/*
 * An older signed copy of version 7 (without a revocation) must not undo
 * the revocation re-signed as version 7, nor the other way round; the very
 * same signed file loaded twice is a reload and stays accepted.
 */
Test(directory, refuses_the_same_version_with_other_content)
{
	char text[sizeof(spec_agreement) + 64];
	hv_keys *root = make_keys("root.bristol");
	hv_directory *before, *revoked, *again = NULL;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	before = signed_copy(spec_agreement, root);
	snprintf(text, sizeof(text), "%srevoke police.avon\n", spec_agreement);
	revoked = signed_copy(text, root);
	cr_assert_eq(hv_directory_version(before), 7);
	cr_assert_eq(hv_directory_version(revoked), 7);

	hv_errclear(&d);
	cr_assert_eq(hv_directory_check_newer(revoked, before, &d),
	    HV_EROLLBACK, "an older copy of version 7 undid a revocation");
	cr_assert_str_eq(d.field, "version");
	cr_assert_not_null(strstr(d.message, "version 7"), "%s", d.message);
	hv_errclear(&d);
	cr_assert_eq(hv_directory_check_newer(before, revoked, &d),
	    HV_EROLLBACK);

	/* The same bytes loaded again: a reload of the same file. */
	{
		hv_directory *p = parse_ok(text);

		buf = sign(p, root, &len);
		hv_directory_destroy(&p);
	}
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &again, &d),
	    HV_OK);
	{
		hv_directory *twice = NULL;

		cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &twice,
		                 &d),
		    HV_OK);
		cr_assert_eq(hv_directory_check_newer(again, twice, &d), HV_OK,
		    "%s", d.message);
		hv_directory_destroy(&twice);
	}
	free(buf);
	hv_directory_destroy(&again);
	hv_directory_destroy(&before);
	hv_directory_destroy(&revoked);
	hv_keys_destroy(&root);
}

/*
 * The digest of a loaded directory is that of its signed body, which is
 * the canonical encoding of the agreement it was built from; any change of
 * content changes it.
 */
Test(directory, digests_a_directory_by_its_content)
{
	char text[sizeof(spec_agreement) + 64];
	hv_keys *root = make_keys("root.bristol");
	hv_directory *parsed, *loaded, *other;
	uint8_t a[HV_DIRECTORY_DIGEST_LEN], b[HV_DIRECTORY_DIGEST_LEN];
	uint8_t c[HV_DIRECTORY_DIGEST_LEN], zero[HV_DIRECTORY_DIGEST_LEN];
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	make_spec_keys();
	parsed = parse_ok(spec_agreement);
	buf = sign(parsed, root, &len);
	loaded = NULL;
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &loaded, &d),
	    HV_OK);
	free(buf);
	snprintf(text, sizeof(text),
	    "%sallow police -> health : "
	    "CASE_UPDATE\n",
	    spec_agreement);
	other = signed_copy(text, root);

	cr_assert_eq(hv_directory_digest(parsed, a), HV_OK);
	cr_assert_eq(hv_directory_digest(loaded, b), HV_OK);
	cr_assert_eq(hv_directory_digest(other, c), HV_OK);
	memset(zero, 0, sizeof(zero));
	cr_assert_neq(memcmp(a, zero, sizeof(a)), 0);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0,
	    "a parsed agreement and its signed directory digest apart");
	cr_assert_neq(memcmp(b, c, sizeof(b)), 0,
	    "an added rule left the digest unchanged");
	cr_assert_eq(hv_directory_check_newer(parsed, loaded, &d), HV_OK);
	hv_directory_destroy(&parsed);
	hv_directory_destroy(&loaded);
	hv_directory_destroy(&other);
	hv_keys_destroy(&root);
}

/* ---- rotation (SPEC §13) -------------------------------------------------- */

Test(directory, carries_a_rotated_nodes_previous_signing_keys_through_signing)
{
	hv_keys *root = make_keys("root.bristol"), *old, *cur = NULL;
	hv_directory *dir, *back = NULL;
	const struct hv_node *n;
	struct hv_errdetail d;
	char path[160], out[160], *kp = NULL;
	uint8_t *buf, sig[64];
	const uint8_t msg[] = "an envelope";
	size_t len;

	make_spec_keys();
	/* police.avon rotates: keys/police.avon.pub becomes the new one. */
	snprintf(path, sizeof(path), "%s/keys/police.avon.key", tmp);
	snprintf(out, sizeof(out), "%s/new", tmp);
	cr_assert_eq(hv_keys_load(path, NULL, &old, &d), HV_OK);
	cr_assert_eq(hv_keys_rotate(path, out, NULL, 1800000000000LL, &kp, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(hv_keys_load(kp, NULL, &cur, &d), HV_OK);
	snprintf(path, sizeof(path), "%s/keys/police.avon.pub", tmp);
	cr_assert_eq(remove(path), 0);
	memcpy(kp + strlen(kp) - 4, ".pub", 4);
	cr_assert_eq(rename(kp, path), 0);
	dir = parse_ok(spec_agreement);
	buf = sign(dir, root, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	n = hv_directory_node(back, "police.avon");
	cr_assert_eq(memcmp(n->keys.sign, cur->pub.sign, 32), 0);
	cr_assert_eq(n->prev_sign.n, 1);
	cr_assert_eq(memcmp(n->prev_sign.k[0].sign, old->pub.sign, 32), 0);
	cr_assert_eq(n->prev_sign.k[0].until_ms, 1800000000000LL);
	/* The old key signs for what was made up to its end, not after. */
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), old->sign_secret);
	cr_assert_eq(hv_node_verify_at(n, msg, sizeof(msg), sig,
	                 1800000000000LL),
	    HV_OK);
	cr_assert_eq(hv_node_verify_at(n, msg, sizeof(msg), sig,
	                 1800000000001LL),
	    HV_EBADSIG);
	free(kp);
	free(buf);
	hv_directory_destroy(&back);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
	hv_keys_destroy(&old);
	hv_keys_destroy(&cur);
}

Test(directory, accepts_a_new_root_only_with_a_handover_from_the_current_root)
{
	hv_keys *root = make_keys("root.bristol"),
	        *next = make_keys("root.new");
	hv_keys *stranger = make_keys("root.other");
	hv_directory *dir, *back = NULL;
	struct hv_errdetail d;
	uint8_t *buf, key[32];
	size_t len;

	make_spec_keys();
	dir = parse_ok(spec_agreement);
	cr_assert_eq(hv_directory_sign_handover(dir, next, root, &buf, &len),
	    HV_OK);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(hv_directory_handover(back, key), 1);
	cr_assert_eq(memcmp(key, next->pub.sign, 32), 0);
	hv_directory_destroy(&back);
	/* Nodes that already trust the new root accept it too. */
	cr_assert_eq(hv_directory_load(buf, len, next->pub.sign, &back, &d),
	    HV_OK, "%s", d.message);
	hv_directory_destroy(&back);
	/* A node trusting some other root refuses it. */
	cr_assert_eq(hv_directory_load(buf, len, stranger->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "signature");
	free(buf);
	/* A handover signed by anyone but the current root counts for nothing. */
	cr_assert_eq(hv_directory_sign_handover(dir, next, stranger, &buf,
	                 &len),
	    HV_OK);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "signature");
	cr_assert_null(back);
	free(buf);
	/* And without a handover the new root is any other wrong root. */
	buf = sign(dir, next, &len);
	cr_assert_eq(hv_directory_load(buf, len, root->pub.sign, &back, &d),
	    HV_EBADDIRECTORY);
	cr_assert_str_eq(d.field, "signature");
	free(buf);
	hv_directory_destroy(&dir);
	hv_keys_destroy(&root);
	hv_keys_destroy(&next);
	hv_keys_destroy(&stranger);
}
