/*
 * Unit tests for hv_envelope: sealing and opening, padding buckets,
 * signature coverage of every part of the envelope, decisions, and the
 * fixed-key vector that pins the canonical encoding (tests/vectors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "hv_envelope.h"
#include "hv_util.h"
#include "hv_wire.h"

/* ---- helpers ------------------------------------------------------------ */

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
}

/* Keys from fixed seeds: seed bytes are tag, tag+1, ... */
static hv_keys *
keys_from_seed(uint8_t sign_tag, uint8_t box_tag)
{
	hv_keys *k = sodium_malloc(sizeof(*k));
	uint8_t seed[32];

	cr_assert(k != NULL);
	memset(k, 0, sizeof(*k));
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(sign_tag + i);
	crypto_sign_seed_keypair(k->pub.sign, k->sign_secret, seed);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(box_tag + i);
	crypto_box_seed_keypair(k->pub.box, k->box_secret, seed);
	memset(k->pub.curve, 0, sizeof(k->pub.curve));
	memset(k->curve_secret, 0, sizeof(k->curve_secret));
	return k;
}

static hv_keys *
keys_random(void)
{
	hv_keys *k = sodium_malloc(sizeof(*k));

	cr_assert(k != NULL);
	memset(k, 0, sizeof(*k));
	crypto_sign_keypair(k->pub.sign, k->sign_secret);
	crypto_box_keypair(k->pub.box, k->box_secret);
	memset(k->pub.curve, 0, sizeof(k->pub.curve));
	memset(k->curve_secret, 0, sizeof(k->curve_secret));
	return k;
}

/*
 * A justification as hv_justification_seal leaves it: clear text gone,
 * sealed bytes, the ig node and its sealed key. Patterns, not a real
 * encryption: this module signs them and never opens them.
 */
static void
sealed_basis(struct hv_basis *b)
{
	b->justification[0] = '\0';
	b->justification_len = 61;
	b->sealed_len = HV_NONCE_LEN + 61 + HV_AEAD_TAG_LEN;
	for (size_t i = 0; i < b->sealed_len; i++)
		b->sealed[i] = (uint8_t)(0x11 + 3 * i);
	b->n_sealed_for = 1;
	strcpy(b->sealed_for[0], "ig.bristol");
	for (int i = 0; i < HV_SEALED_KEY_LEN; i++)
		b->sealed_keys[0][i] = (uint8_t)(0x90 + i);
}

/* A header as an agent would fill it before sealing. */
static void
header(hv_envelope *env, const char *sender)
{
	memset(env, 0, sizeof(*env));
	hv_envelope_new_id(env->id);
	strcpy(env->sender, sender);
	strcpy(env->type, "DOMESTIC_ABUSE_NOTIFICATION");
	strcpy(env->priority, "URGENT");
	env->created = 1767225600;
	strcpy(env->basis.consent, "NOT_SOUGHT");
	strcpy(env->basis.art6, "PUBLIC_TASK");
	strcpy(env->basis.art9, "SAFEGUARDING");
	sealed_basis(&env->basis);
	strcpy(env->basis.decided_by, "ds.jones");
	memset(env->subject, 0xa5, sizeof(env->subject));
	env->flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
}

static const char *names[3] = {
	"education.st-marys-primary",
	"social-care.bristol",
	"health.bristol-royal",
};

struct fixture {
	hv_keys *sender;
	hv_keys *rcpt[3];
	hv_envelope env;
};

static const char payload[] = "{\"body\":\"A domestic abuse incident was "
                              "attended overnight.\"}";

/* Seals payload from police.avon to the first n of names[]. */
static void
seal_to(struct fixture *fx, size_t n)
{
	uint8_t boxes[3][HV_BOX_KEY_LEN];

	fx->sender = keys_random();
	header(&fx->env, "police.avon");
	for (size_t i = 0; i < 3; i++)
		fx->rcpt[i] = keys_random();
	for (size_t i = 0; i < n; i++) {
		strcpy(fx->env.recipients[i], names[i]);
		memcpy(boxes[i], fx->rcpt[i]->pub.box, HV_BOX_KEY_LEN);
	}
	fx->env.n_recipients = n;
	cr_assert_eq(hv_envelope_seal(&fx->env, (const uint8_t *)payload,
	                 strlen(payload),
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])boxes, fx->sender),
	    HV_OK);
}

static void
fixture_free(struct fixture *fx)
{
	hv_envelope_clear(&fx->env);
	sodium_free(fx->sender);
	for (size_t i = 0; i < 3; i++)
		sodium_free(fx->rcpt[i]);
}

/* Opens fx->env as recipient i; returns the error. */
static hv_err
open_as(struct fixture *fx, const char *me, const hv_keys *k)
{
	uint8_t *p = NULL;
	size_t len = 0;
	hv_err e;

	e = hv_envelope_open(&fx->env, me, k, fx->sender->pub.sign, &p, &len);
	if (e == HV_OK) {
		cr_assert_eq(len, strlen(payload));
		cr_assert(memcmp(p, payload, len) == 0);
		cr_assert_eq(p[len], '\0');
		hv_payload_free(p, len);
	}
	return e;
}

/* ---- sealing and opening ---------------------------------------------- */

TestSuite(envelope, .init = setup);

Test(envelope, seals_and_opens_for_one_recipient)
{
	struct fixture fx;

	seal_to(&fx, 1);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_OK);
	fixture_free(&fx);
}

Test(envelope, seals_and_opens_for_three_recipients)
{
	struct fixture fx;

	seal_to(&fx, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(open_as(&fx, names[i], fx.rcpt[i]), HV_OK,
		    "recipient %zu could not open", i);
	fixture_free(&fx);
}

Test(envelope, seals_and_opens_an_empty_payload)
{
	hv_keys *s = keys_random(), *r = keys_random();
	hv_envelope env;
	uint8_t *p = NULL;
	size_t len = 99;

	header(&env, "police.avon");
	strcpy(env.recipients[0], "social-care.bristol");
	env.n_recipients = 1;
	cr_assert_eq(hv_envelope_seal(&env, (const uint8_t *)"", 0,
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])r->pub.box, s),
	    HV_OK);
	cr_assert_eq(env.ciphertext_len, 1024 + 16);
	cr_assert_eq(hv_envelope_open(&env, "social-care.bristol", r,
	                 s->pub.sign, &p, &len),
	    HV_OK);
	cr_assert_eq(len, 0);
	cr_assert_eq(p[0], '\0');
	hv_payload_free(p, len);
	hv_envelope_clear(&env);
	sodium_free(s);
	sodium_free(r);
}

Test(envelope, refuses_to_seal_without_recipients_or_with_too_many)
{
	hv_keys *s = keys_random();
	uint8_t boxes[HV_MAX_RECIPIENTS + 1][HV_BOX_KEY_LEN] = { { 0 } };
	hv_envelope env;

	header(&env, "police.avon");
	cr_assert_eq(hv_envelope_seal(&env, (const uint8_t *)"x", 1,
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])boxes, s),
	    HV_EMALFORMED);
	env.n_recipients = HV_MAX_RECIPIENTS + 1;
	cr_assert_eq(hv_envelope_seal(&env, (const uint8_t *)"x", 1,
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])boxes, s),
	    HV_EMALFORMED);
	cr_assert_null(env.ciphertext);
	sodium_free(s);
}

Test(envelope, pads_payloads_to_power_of_two_buckets_from_1_kib)
{
	static const size_t cases[][2] = {
		{ 0, 1024 },
		{ 1, 1024 },
		{ 1023, 1024 },
		{ 1024, 2048 },
		{ 3000, 4096 },
		{ 4095, 4096 },
		{ 4096, 8192 },
		{ 1048576, 2097152 },
	};
	hv_keys *s = keys_random(), *r = keys_random();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(hv_envelope_padded_len(cases[i][0]), cases[i][1],
		    "%zu bytes padded to %zu", cases[i][0],
		    hv_envelope_padded_len(cases[i][0]));
	cr_assert_eq(hv_envelope_padded_len(SIZE_MAX - 1), 0);

	/* The ciphertext really is the bucket plus the 16-byte tag. */
	for (size_t i = 0; i < 5; i++) {
		size_t n = cases[i][0];
		uint8_t *in = calloc(1, n + 1), *p = NULL;
		size_t len;
		hv_envelope env;

		memset(in, 'a', n);
		header(&env, "police.avon");
		strcpy(env.recipients[0], "social-care.bristol");
		env.n_recipients = 1;
		cr_assert_eq(hv_envelope_seal(&env, in, n,
		                 (const uint8_t(*)[HV_BOX_KEY_LEN])r->pub.box,
		                 s),
		    HV_OK);
		cr_assert_eq(env.ciphertext_len, cases[i][1] + 16);
		cr_assert_eq(hv_envelope_open(&env, "social-care.bristol", r,
		                 s->pub.sign, &p, &len),
		    HV_OK);
		cr_assert_eq(len, n);
		cr_assert(memcmp(p, in, n) == 0);
		hv_payload_free(p, len);
		hv_envelope_clear(&env);
		free(in);
	}
	sodium_free(s);
	sodium_free(r);
}

/* ---- what the signature covers ----------------------------------------- */

Test(envelope, rejects_a_flipped_signature_bit)
{
	struct fixture fx;

	seal_to(&fx, 2);
	for (size_t bit = 0; bit < HV_SIGNATURE_LEN * 8; bit += 37) {
		fx.env.signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
		    HV_EBADSIG, "bit %zu", bit);
		cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_EBADSIG);
		fx.env.signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	fixture_free(&fx);
}

/* Flips one bit of a field, checks verify and open refuse, flips it back. */
static void
flip_rejected(struct fixture *fx, void *field, size_t off, const char *what)
{
	uint8_t *b = (uint8_t *)field + off;

	*b ^= 0x01;
	cr_assert_eq(hv_envelope_verify(&fx->env, fx->sender->pub.sign),
	    HV_EBADSIG, "a flipped bit in %s verified", what);
	cr_assert_neq(open_as(fx, names[0], fx->rcpt[0]), HV_OK,
	    "a flipped bit in %s opened", what);
	*b ^= 0x01;
	cr_assert_eq(hv_envelope_verify(&fx->env, fx->sender->pub.sign), HV_OK);
}

Test(envelope, rejects_a_flipped_bit_in_any_header_field)
{
	struct fixture fx;

	seal_to(&fx, 2);
	flip_rejected(&fx, fx.env.id, 3, "id");
	flip_rejected(&fx, fx.env.sender, 0, "sender");
	flip_rejected(&fx, fx.env.recipients[0], 2, "recipients[0]");
	flip_rejected(&fx, fx.env.recipients[1], 5, "recipients[1]");
	flip_rejected(&fx, fx.env.type, 4, "type");
	flip_rejected(&fx, fx.env.priority, 0, "priority");
	flip_rejected(&fx, &fx.env.created, 0, "created");
	flip_rejected(&fx, fx.env.basis.consent, 1, "basis.consent");
	flip_rejected(&fx, fx.env.basis.art6, 1, "basis.art6");
	flip_rejected(&fx, fx.env.basis.art9, 1, "basis.art9");
	flip_rejected(&fx, &fx.env.basis.justification_len, 0,
	    "basis.justification_len");
	flip_rejected(&fx, fx.env.basis.sealed, 30, "basis.sealed");
	flip_rejected(&fx, fx.env.basis.sealed_for[0], 4,
	    "basis.sealed_for[0]");
	flip_rejected(&fx, fx.env.basis.sealed_keys[0], 50,
	    "basis.sealed_keys[0]");
	flip_rejected(&fx, fx.env.basis.decided_by, 3, "basis.decided_by");
	flip_rejected(&fx, fx.env.subject, 31, "subject");
	flip_rejected(&fx, &fx.env.has_reply_to, 0, "has_reply_to");
	flip_rejected(&fx, &fx.env.flags, 0, "flags");
	flip_rejected(&fx, fx.env.outcome, 0, "outcome");
	flip_rejected(&fx, fx.env.sealed[1], 40, "sealed[1]");
	fixture_free(&fx);
}

Test(envelope, rejects_a_flipped_nonce_bit)
{
	struct fixture fx;

	seal_to(&fx, 1);
	flip_rejected(&fx, fx.env.nonce, 0, "nonce");
	flip_rejected(&fx, fx.env.nonce, HV_NONCE_LEN - 1, "nonce");
	fixture_free(&fx);
}

Test(envelope, rejects_a_flipped_ciphertext_bit)
{
	struct fixture fx;

	seal_to(&fx, 1);
	flip_rejected(&fx, fx.env.ciphertext, 0, "ciphertext");
	flip_rejected(&fx, fx.env.ciphertext, fx.env.ciphertext_len / 2,
	    "ciphertext");
	flip_rejected(&fx, fx.env.ciphertext, fx.env.ciphertext_len - 1,
	    "ciphertext tag");
	fixture_free(&fx);
}

Test(envelope, rejects_a_removed_recipient)
{
	struct fixture fx;

	seal_to(&fx, 3);
	fx.env.n_recipients = 2;
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
	    HV_EBADSIG);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_EBADSIG);
	fixture_free(&fx);
}

Test(envelope, rejects_an_envelope_signed_by_another_node)
{
	struct fixture fx;
	hv_keys *other = keys_random();
	uint8_t *canon;
	size_t len;

	seal_to(&fx, 1);
	/* Checked against a key that did not sign it. */
	cr_assert_eq(hv_envelope_verify(&fx.env, other->pub.sign), HV_EBADSIG);
	/* Re-signed by another node while claiming police.avon. */
	cr_assert_eq(hv_envelope_canonical(&fx.env, &canon, &len), HV_OK);
	crypto_sign_detached(fx.env.signature, NULL, canon, len,
	    other->sign_secret);
	free(canon);
	cr_assert_eq(hv_envelope_verify(&fx.env, other->pub.sign), HV_OK);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
	    HV_EBADSIG);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_EBADSIG);
	sodium_free(other);
	fixture_free(&fx);
}

/* ---- recipients --------------------------------------------------------- */

Test(envelope, refuses_a_node_that_is_not_a_recipient)
{
	struct fixture fx;

	seal_to(&fx, 2);
	cr_assert_eq(open_as(&fx, names[2], fx.rcpt[2]), HV_ENOTRECIPIENT);
	cr_assert_eq(open_as(&fx, "police.avon", fx.sender), HV_ENOTRECIPIENT);
	cr_assert_eq(hv_envelope_recipient_index(&fx.env, names[1]), 1);
	cr_assert_eq(hv_envelope_recipient_index(&fx.env, names[2]), -1);
	fixture_free(&fx);
}

Test(envelope, fails_to_open_a_sealed_key_with_the_wrong_key)
{
	struct fixture fx;

	seal_to(&fx, 2);
	/* Recipient 0's name with recipient 1's keys, and a stranger's. */
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[1]), HV_EDECRYPT);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[2]), HV_EDECRYPT);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_OK);
	fixture_free(&fx);
}

/*
 * Builds a correctly signed envelope whose padded plaintext is `plain`
 * (plain_len bytes), so that open's own checks can be reached.
 */
static void
seal_raw(struct fixture *fx, const uint8_t *plain, size_t plain_len)
{
	uint8_t key[32], ad[256], *canon;
	size_t adlen = 0, len;
	unsigned long long ctlen;
	size_t n;

	fx->sender = keys_random();
	for (size_t i = 0; i < 3; i++)
		fx->rcpt[i] = keys_random();
	header(&fx->env, "police.avon");
	strcpy(fx->env.recipients[0], names[0]);
	fx->env.n_recipients = 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(fx->env.nonce, sizeof(fx->env.nonce));

	/* The associated data, as documented in lib/hv_envelope.c. */
	memcpy(ad, "haven-ad-v1", 12);
	adlen = 12;
	ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 16;
	memcpy(ad + adlen, fx->env.id, 16);
	adlen += 16;
	n = strlen(fx->env.sender);
	ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 0;
	ad[adlen++] = (uint8_t)n;
	memcpy(ad + adlen, fx->env.sender, n);
	adlen += n;
	ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 1;
	n = strlen(names[0]);
	ad[adlen++] = 0, ad[adlen++] = 0, ad[adlen++] = 0;
	ad[adlen++] = (uint8_t)n;
	memcpy(ad + adlen, names[0], n);
	adlen += n;

	fx->env.ciphertext = malloc(plain_len + 16);
	crypto_aead_xchacha20poly1305_ietf_encrypt(fx->env.ciphertext, &ctlen,
	    plain, plain_len, ad, adlen, NULL, fx->env.nonce, key);
	fx->env.ciphertext_len = (size_t)ctlen;
	crypto_box_seal(fx->env.sealed[0], key, sizeof(key),
	    fx->rcpt[0]->pub.box);
	cr_assert_eq(hv_envelope_canonical(&fx->env, &canon, &len), HV_OK);
	crypto_sign_detached(fx->env.signature, NULL, canon, len,
	    fx->sender->sign_secret);
	free(canon);
}

Test(envelope, opens_a_hand_built_envelope_with_good_padding)
{
	struct fixture fx;
	uint8_t plain[1024] = { 0 };

	/* Guards the next tests: the hand-built AD and keys are right. */
	memcpy(plain, payload, strlen(payload));
	plain[strlen(payload)] = 0x80;
	seal_raw(&fx, plain, sizeof(plain));
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_OK);
	fixture_free(&fx);
}

Test(envelope, refuses_a_payload_with_bad_padding)
{
	struct fixture fx;
	uint8_t plain[1024];

	memset(plain, 'a', sizeof(plain)); /* no 0x80 marker */
	seal_raw(&fx, plain, sizeof(plain));
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_EMALFORMED);
	fixture_free(&fx);
}

Test(envelope, refuses_a_ciphertext_that_is_not_a_bucket)
{
	struct fixture fx;
	uint8_t plain[1000] = { 0 };

	plain[0] = 0x80;
	seal_raw(&fx, plain, sizeof(plain));
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_EMALFORMED);
	fixture_free(&fx);
}

/* ---- decisions (SPEC §4.5) --------------------------------------------- */

Test(envelope, signs_and_verifies_a_decision_not_to_share)
{
	hv_keys *s = keys_random();
	hv_envelope env;
	uint8_t *p = NULL;
	size_t len;

	header(&env, "health.bristol-royal");
	strcpy(env.type, "INFO_RESPONSE");
	strcpy(env.outcome, "NOT_SHARED");
	memset(env.nonce, 0x77, sizeof(env.nonce));
	cr_assert_eq(hv_envelope_sign_decision(&env, s), HV_OK);
	for (size_t i = 0; i < HV_NONCE_LEN; i++)
		cr_assert_eq(env.nonce[i], 0);
	cr_assert_null(env.ciphertext);
	cr_assert_eq(hv_envelope_verify(&env, s->pub.sign), HV_OK);
	cr_assert_eq(hv_envelope_open(&env, "social-care.bristol", s,
	                 s->pub.sign, &p, &len),
	    HV_ENOTRECIPIENT);

	env.basis.sealed[30] ^= 1;
	cr_assert_eq(hv_envelope_verify(&env, s->pub.sign), HV_EBADSIG);
	env.basis.sealed[30] ^= 1;
	env.outcome[0] = 'X';
	cr_assert_eq(hv_envelope_verify(&env, s->pub.sign), HV_EBADSIG);
	sodium_free(s);
}

Test(envelope, refuses_to_sign_a_decision_with_recipients_or_no_outcome)
{
	hv_keys *s = keys_random();
	hv_envelope env;

	header(&env, "health.bristol-royal");
	cr_assert_eq(hv_envelope_sign_decision(&env, s), HV_EMALFORMED);
	strcpy(env.outcome, "NOT_SHARED");
	strcpy(env.recipients[0], "social-care.bristol");
	env.n_recipients = 1;
	cr_assert_eq(hv_envelope_sign_decision(&env, s), HV_EMALFORMED);
	for (size_t i = 0; i < HV_SIGNATURE_LEN; i++)
		cr_assert_eq(env.signature[i], 0);
	sodium_free(s);
}

/* ---- ownership ---------------------------------------------------------- */

Test(envelope, copies_deeply_and_clears)
{
	struct fixture fx;
	hv_envelope copy;

	seal_to(&fx, 1);
	cr_assert_eq(hv_envelope_copy(&copy, &fx.env), HV_OK);
	cr_assert_neq(copy.ciphertext, fx.env.ciphertext);
	cr_assert(memcmp(copy.ciphertext, fx.env.ciphertext,
	              fx.env.ciphertext_len) == 0);
	hv_envelope_clear(&fx.env);
	cr_assert_null(fx.env.ciphertext);
	cr_assert_eq(fx.env.n_recipients, 0);
	fx.env = copy;
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_OK);
	fixture_free(&fx);
	hv_envelope_clear(NULL);
	hv_payload_free(NULL, 0);
}

Test(envelope, makes_distinct_random_ids)
{
	uint8_t a[HV_ID_LEN], b[HV_ID_LEN];

	hv_envelope_new_id(a);
	hv_envelope_new_id(b);
	cr_assert(memcmp(a, b, HV_ID_LEN) != 0);
}

/* ---- fixed-key vector (tests/vectors/envelope-v2.hex) ------------------ */

/*
 * The vector's envelope: every byte fixed by hand, keys from fixed seeds,
 * so that the canonical bytes, the Ed25519 signature (deterministic) and
 * the protobuf packing are reproducible. The ciphertext and sealed keys are
 * patterns, not real encryptions; the sealed_packed vector is a real one.
 */
static void
vector_envelope(hv_envelope *env)
{
	memset(env, 0, sizeof(*env));
	for (int i = 0; i < HV_ID_LEN; i++)
		env->id[i] = (uint8_t)i;
	strcpy(env->sender, "police.avon");
	strcpy(env->recipients[0], "education.st-marys-primary");
	strcpy(env->recipients[1], "social-care.bristol");
	env->n_recipients = 2;
	strcpy(env->type, "DOMESTIC_ABUSE_NOTIFICATION");
	strcpy(env->priority, "URGENT");
	env->created = 1767225600;
	strcpy(env->basis.consent, "NOT_SOUGHT");
	strcpy(env->basis.art6, "PUBLIC_TASK");
	strcpy(env->basis.art9, "SAFEGUARDING");
	sealed_basis(&env->basis);
	strcpy(env->basis.decided_by, "ds.jones");
	for (int i = 0; i < 32; i++)
		env->subject[i] = (uint8_t)(0xa0 + i);
	env->has_reply_to = 1;
	for (int i = 0; i < HV_ID_LEN; i++)
		env->reply_to[i] = (uint8_t)(0x50 + i);
	env->flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
	for (int i = 0; i < HV_NONCE_LEN; i++)
		env->nonce[i] = (uint8_t)(0x40 + i);
	env->ciphertext_len = 48;
	env->ciphertext = malloc(env->ciphertext_len);
	for (size_t i = 0; i < env->ciphertext_len; i++)
		env->ciphertext[i] = (uint8_t)(i * 7);
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < HV_SEALED_KEY_LEN; i++)
			env->sealed[r][i] = (uint8_t)(0xc0 + 16 * r + i);
}

/* Sender police.avon and recipient education.st-marys-primary. */
#define VEC_SENDER_SIGN 0x00
#define VEC_SENDER_BOX 0x20
#define VEC_RCPT_SIGN 0x60
#define VEC_RCPT_BOX 0x40

/* Reads `name = HEX` from the vector file into a malloc'd buffer. */
static uint8_t *
vector_get(const char *name, size_t *outlen)
{
	const char *src = getenv("HAVEN_SRC");
	char path[4096];
	uint8_t *file, *out = NULL;
	size_t flen, nlen = strlen(name);
	char *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/tests/vectors/envelope-v2.hex",
	    src && *src ? src : ".");
	cr_assert_eq(hv_read_file(path, 1 << 20, &file, &flen), 0,
	    "cannot read %s (run from the repository root or set HAVEN_SRC)",
	    path);
	file = realloc(file, flen + 1);
	file[flen] = '\0';
	for (line = strtok_r((char *)file, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *hex;
		size_t hlen;

		if (strncmp(line, name, nlen) != 0 ||
		    strncmp(line + nlen, " = ", 3) != 0)
			continue;
		hex = line + nlen + 3;
		hlen = strlen(hex);
		cr_assert(hlen % 2 == 0);
		out = malloc(hlen / 2 + 1);
		cr_assert_eq(hv_unhex(hex, out, hlen / 2), 0);
		*outlen = hlen / 2;
		break;
	}
	free(file);
	cr_assert_not_null(out, "no '%s' in the vector file", name);
	return out;
}

static void
assert_bytes_eq(const uint8_t *got, size_t glen, const uint8_t *want,
    size_t wlen, const char *what)
{
	cr_assert_eq(glen, wlen, "%s: %zu bytes, vector has %zu", what, glen,
	    wlen);
	for (size_t i = 0; i < glen; i++)
		cr_assert_eq(got[i], want[i], "%s differs at byte %zu", what,
		    i);
}

Test(envelope, canonical_bytes_match_the_fixed_key_vector)
{
	hv_envelope env;
	uint8_t *canon, *want;
	size_t len, wlen;

	vector_envelope(&env);
	cr_assert_eq(hv_envelope_canonical(&env, &canon, &len), HV_OK);
	want = vector_get("canonical", &wlen);
	assert_bytes_eq(canon, len, want, wlen, "canonical bytes");
	/* The domain tag and the first field, spelled out. */
	cr_assert(
	    memcmp(canon, "haven-envelope-v2\0\0\0\0\x10\x00\x01", 24) == 0);
	free(canon);
	free(want);
	hv_envelope_clear(&env);
}

Test(envelope, signature_matches_the_fixed_key_vector)
{
	hv_keys *s = keys_from_seed(VEC_SENDER_SIGN, VEC_SENDER_BOX);
	hv_envelope env;
	uint8_t *canon, *want, *pub;
	size_t len, wlen, plen;

	vector_envelope(&env);
	pub = vector_get("sender_sign_public", &plen);
	assert_bytes_eq(s->pub.sign, HV_SIGN_PUBLIC_LEN, pub, plen,
	    "sender public key");
	cr_assert_eq(hv_envelope_canonical(&env, &canon, &len), HV_OK);
	crypto_sign_detached(env.signature, NULL, canon, len, s->sign_secret);
	want = vector_get("signature", &wlen);
	assert_bytes_eq(env.signature, HV_SIGNATURE_LEN, want, wlen,
	    "signature");
	cr_assert_eq(hv_envelope_verify(&env, pub), HV_OK);
	free(canon);
	free(want);
	free(pub);
	hv_envelope_clear(&env);
	sodium_free(s);
}

Test(envelope, packing_matches_the_fixed_key_vector)
{
	hv_keys *s = keys_from_seed(VEC_SENDER_SIGN, VEC_SENDER_BOX);
	hv_envelope env, back;
	uint8_t *packed, *want, *sig;
	size_t len, wlen, slen;

	vector_envelope(&env);
	sig = vector_get("signature", &slen);
	memcpy(env.signature, sig, HV_SIGNATURE_LEN);
	cr_assert_eq(hv_envelope_pack(&env, &packed, &len), HV_OK);
	want = vector_get("packed", &wlen);
	assert_bytes_eq(packed, len, want, wlen, "packed envelope");

	/* The stored packing decodes and verifies with the seeded key. */
	cr_assert_eq(hv_envelope_unpack(want, wlen, wlen, &back, NULL), HV_OK);
	cr_assert_eq(hv_envelope_verify(&back, s->pub.sign), HV_OK);
	cr_assert_eq(back.basis.justification_len, env.basis.justification_len);
	cr_assert_eq(back.basis.sealed_len, env.basis.sealed_len);
	cr_assert_eq(memcmp(back.basis.sealed, env.basis.sealed,
	                 env.basis.sealed_len),
	    0);
	cr_assert_str_eq(back.basis.sealed_for[0], "ig.bristol");
	cr_assert_eq(back.created, env.created);
	free(packed);
	free(want);
	free(sig);
	hv_envelope_clear(&back);
	hv_envelope_clear(&env);
	sodium_free(s);
}

Test(envelope, stored_sealed_envelope_unpacks_verifies_and_opens)
{
	hv_keys *s = keys_from_seed(VEC_SENDER_SIGN, VEC_SENDER_BOX);
	hv_keys *r = keys_from_seed(VEC_RCPT_SIGN, VEC_RCPT_BOX);
	hv_envelope env;
	uint8_t *packed, *want, *p = NULL;
	size_t len, wlen, plen;
	struct hv_errdetail d;

	packed = vector_get("sealed_packed", &len);
	want = vector_get("sealed_payload", &wlen);
	cr_assert_eq(hv_envelope_unpack(packed, len, len, &env, &d), HV_OK,
	    "%s", d.message);
	cr_assert_eq(hv_envelope_verify(&env, s->pub.sign), HV_OK);
	cr_assert_eq(hv_envelope_open(&env, "education.st-marys-primary", r,
	                 s->pub.sign, &p, &plen),
	    HV_OK);
	assert_bytes_eq(p, plen, want, wlen, "opened payload");
	hv_payload_free(p, plen);
	hv_envelope_clear(&env);
	free(packed);
	free(want);
	sodium_free(s);
	sodium_free(r);
}

/*
 * An agent re-stamps a message held while the broker was away: after
 * changing `created` the old signature no longer verifies, and
 * hv_envelope_sign makes one that does, with the payload still opening.
 */
Test(envelope, signs_again_after_a_header_change)
{
	struct fixture fx;

	seal_to(&fx, 1);
	fx.env.created += 600;
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
	    HV_EBADSIG);
	cr_assert_eq(hv_envelope_sign(&fx.env, fx.sender), HV_OK);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	cr_assert_eq(open_as(&fx, names[0], fx.rcpt[0]), HV_OK);
	fixture_free(&fx);
}

/* ---- rotation (SPEC §13) ------------------------------------------------ */

Test(envelope, opens_a_message_sealed_to_a_payload_key_rotated_out_since,
    .init = setup)
{
	struct fixture fx;
	hv_keys *now = keys_random();
	struct hv_prev_signs none = { 0 };
	uint8_t *p = NULL;
	size_t len = 0;

	seal_to(&fx, 2);
	/* social-care.bristol rotates: the old payload key becomes previous. */
	now->n_prev_box = 2;
	crypto_box_keypair(now->prev_box_public[0], now->prev_box_secret[0]);
	memcpy(now->prev_box_secret[1], fx.rcpt[1]->box_secret, 32);
	memcpy(now->prev_box_public[1], fx.rcpt[1]->pub.box, 32);
	cr_assert_eq(hv_envelope_open_at(&fx.env, names[1], now,
	                 fx.sender->pub.sign, &none, &p, &len),
	    HV_OK);
	cr_assert_eq(len, strlen(payload));
	hv_payload_free(p, len);
	/* Without the previous key it is unreadable, as before rotation. */
	now->n_prev_box = 1;
	cr_assert_eq(hv_envelope_open_at(&fx.env, names[1], now,
	                 fx.sender->pub.sign, &none, &p, &len),
	    HV_EDECRYPT);
	sodium_free(now);
	fixture_free(&fx);
}

Test(envelope, a_previous_sender_key_verifies_only_what_was_made_before_its_end,
    .init = setup)
{
	struct fixture fx;
	hv_keys *now = keys_random();
	struct hv_prev_signs prev = { 0 };

	seal_to(&fx, 1);
	prev.n = 1;
	memcpy(prev.k[0].sign, fx.sender->pub.sign, 32);
	prev.k[0].until_ms = fx.env.created * 1000;
	cr_assert_eq(hv_envelope_verify(&fx.env, now->pub.sign), HV_EBADSIG);
	cr_assert_eq(hv_envelope_verify_at(&fx.env, now->pub.sign, &prev),
	    HV_OK);
	/* Made after the old key stopped signing: refused. */
	prev.k[0].until_ms = fx.env.created * 1000 - 1;
	cr_assert_eq(hv_envelope_verify_at(&fx.env, now->pub.sign, &prev),
	    HV_EBADSIG);
	sodium_free(now);
	fixture_free(&fx);
}

/*
 * The subject-key id is signed: a flipped bit in it, or dropping it, fails
 * verification; packing keeps it. Without one the canonical bytes are
 * those of envelopes made before it existed (tests/vectors pins them).
 */
Test(envelope, signs_the_subject_key_id_when_there_is_one)
{
	struct fixture fx;
	hv_envelope back;
	uint8_t *buf;
	size_t len;

	seal_to(&fx, 1);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	fx.env.has_subject_key_id = 1;
	memset(fx.env.subject_key_id, 0x5a, 8);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
	    HV_EBADSIG, "adding a key id after signing verified");
	cr_assert_eq(hv_envelope_sign(&fx.env, fx.sender), HV_OK);
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign), HV_OK);
	flip_rejected(&fx, fx.env.subject_key_id, 7, "subject_key_id");
	fx.env.has_subject_key_id = 0;
	cr_assert_eq(hv_envelope_verify(&fx.env, fx.sender->pub.sign),
	    HV_EBADSIG, "dropping the key id verified");
	fx.env.has_subject_key_id = 1;

	cr_assert_eq(hv_envelope_pack(&fx.env, &buf, &len), HV_OK);
	memset(&back, 0, sizeof(back));
	cr_assert_eq(hv_envelope_unpack(buf, len, 1 << 20, &back, NULL), HV_OK);
	cr_assert(back.has_subject_key_id);
	cr_assert_eq(memcmp(back.subject_key_id, fx.env.subject_key_id, 8), 0);
	cr_assert_eq(hv_envelope_verify(&back, fx.sender->pub.sign), HV_OK);
	hv_envelope_clear(&back);
	free(buf);
	fixture_free(&fx);
}
