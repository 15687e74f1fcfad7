/*
 * Unit tests for hv_wire: envelope packing round trips, every truncation
 * and every malformed field refused with the field named, frames with bad
 * strings, oversize input and garbage refused without a crash, and the
 * size bound the broker gives ZeroMQ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "haven.pb-c.h"
#include "hv_envelope.h"
#include "hv_wire.h"

#define BIG (1u << 24)

/* ---- helpers ------------------------------------------------------------ */

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
}

static hv_keys *
keys_random(void)
{
	hv_keys *k = sodium_malloc(sizeof(*k));

	cr_assert(k != NULL);
	memset(k, 0, sizeof(*k));
	crypto_sign_keypair(k->pub.sign, k->sign_secret);
	crypto_box_keypair(k->pub.box, k->box_secret);
	return k;
}

static void
header(hv_envelope *env)
{
	memset(env, 0, sizeof(*env));
	hv_envelope_new_id(env->id);
	strcpy(env->sender, "police.avon");
	strcpy(env->type, "DOMESTIC_ABUSE_NOTIFICATION");
	strcpy(env->priority, "URGENT");
	env->created = 1767225600;
	strcpy(env->basis.consent, "NOT_SOUGHT");
	strcpy(env->basis.art6, "PUBLIC_TASK");
	strcpy(env->basis.art9, "SAFEGUARDING");
	strcpy(env->basis.justification,
	    "Operation Encompass: the school must know before the next day.");
	strcpy(env->basis.decided_by, "ds.jones");
	memset(env->subject, 0x5a, sizeof(env->subject));
	env->has_reply_to = 1;
	memset(env->reply_to, 0x11, sizeof(env->reply_to));
	env->flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
}

static const char *names[2] = {
	"education.st-marys-primary",
	"social-care.bristol",
};

static const char payload[] = "{\"body\":\"wire test\"}";

/* A sealed envelope to names[0..n), with its keys. */
struct sealed {
	hv_keys *sender;
	hv_keys *rcpt[2];
	hv_envelope env;
	uint8_t *packed;
	size_t len;
};

static void
sealed_make(struct sealed *s, size_t n)
{
	uint8_t boxes[2][HV_BOX_KEY_LEN];

	s->sender = keys_random();
	header(&s->env);
	for (size_t i = 0; i < 2; i++) {
		s->rcpt[i] = keys_random();
		memcpy(boxes[i], s->rcpt[i]->pub.box, HV_BOX_KEY_LEN);
	}
	for (size_t i = 0; i < n; i++)
		strcpy(s->env.recipients[i], names[i]);
	s->env.n_recipients = n;
	cr_assert_eq(hv_envelope_seal(&s->env, (const uint8_t *)payload,
	                 strlen(payload),
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])boxes, s->sender),
	    HV_OK);
	cr_assert_eq(hv_envelope_pack(&s->env, &s->packed, &s->len), HV_OK);
}

static void
sealed_free(struct sealed *s)
{
	hv_envelope_clear(&s->env);
	free(s->packed);
	sodium_free(s->sender);
	for (size_t i = 0; i < 2; i++)
		sodium_free(s->rcpt[i]);
}

/*
 * Packs a (mutated) protobuf envelope and asserts hv_envelope_unpack
 * refuses it as MALFORMED naming `field`.
 */
static void
expect_refused(const Haven__Envelope *pe, const char *field)
{
	size_t n = haven__envelope__get_packed_size(pe);
	uint8_t *buf = malloc(n + 1);
	struct hv_errdetail d = { { 0 }, { 0 } };
	hv_envelope env;
	hv_err e;

	haven__envelope__pack(pe, buf);
	memset(&env, 0xee, sizeof(env));
	e = hv_envelope_unpack(buf, n, BIG, &env, &d);
	cr_assert_eq(e, HV_EMALFORMED, "%s: got %s", field, hv_errname(e));
	cr_assert_str_eq(d.field, field, "expected %s, detail named %s (%s)",
	    field, d.field, d.message);
	cr_assert_neq(d.message[0], '\0');
	cr_assert_eq(env.n_recipients, (size_t)0xeeeeeeeeeeeeeeeeull,
	    "*out was written on failure");
	free(buf);
}

static Haven__Envelope *
decode(const struct sealed *s)
{
	Haven__Envelope *pe = haven__envelope__unpack(NULL, s->len, s->packed);

	cr_assert_not_null(pe);
	return pe;
}

/* ---- envelopes ---------------------------------------------------------- */

TestSuite(wire, .init = setup);

Test(wire, packs_and_unpacks_an_envelope_unchanged)
{
	struct sealed s;
	hv_envelope back;
	uint8_t *again, *p;
	size_t alen, plen;

	sealed_make(&s, 2);
	cr_assert_eq(hv_envelope_unpack(s.packed, s.len, s.len, &back, NULL),
	    HV_OK);
	cr_assert(memcmp(back.id, s.env.id, HV_ID_LEN) == 0);
	cr_assert_str_eq(back.sender, "police.avon");
	cr_assert_eq(back.n_recipients, 2);
	cr_assert_str_eq(back.recipients[1], names[1]);
	cr_assert_str_eq(back.type, s.env.type);
	cr_assert_str_eq(back.basis.justification, s.env.basis.justification);
	cr_assert_eq(back.created, s.env.created);
	cr_assert_eq(back.flags, s.env.flags);
	cr_assert_eq(back.has_reply_to, 1);
	cr_assert_eq(back.ciphertext_len, s.env.ciphertext_len);
	cr_assert_neq(back.ciphertext, s.env.ciphertext);
	cr_assert(memcmp(back.sealed[1], s.env.sealed[1], 80) == 0);
	cr_assert_eq(hv_envelope_pack(&back, &again, &alen), HV_OK);
	cr_assert_eq(alen, s.len);
	cr_assert(memcmp(again, s.packed, alen) == 0);
	cr_assert_eq(hv_envelope_open(&back, names[1], s.rcpt[1],
	                 s.sender->pub.sign, &p, &plen),
	    HV_OK);
	cr_assert_eq(plen, strlen(payload));
	hv_payload_free(p, plen);
	free(again);
	hv_envelope_clear(&back);
	sealed_free(&s);
}

Test(wire, rejects_every_truncation_of_a_packed_envelope)
{
	struct sealed s;
	size_t decoded = 0;

	sealed_make(&s, 2);
	for (size_t l = 0; l < s.len; l++) {
		uint8_t *cut = malloc(l ? l : 1); /* exact, for ASan */
		hv_envelope env;

		memcpy(cut, s.packed, l);
		if (hv_envelope_unpack(cut, l, BIG, &env, NULL) == HV_OK) {
			decoded++;
			cr_assert_neq(hv_envelope_verify(&env,
			                  s.sender->pub.sign),
			    HV_OK, "a truncation to %zu of %zu bytes verified",
			    l, s.len);
			hv_envelope_clear(&env);
		}
		free(cut);
	}
	/* Unpack alone refuses them all: every field is required. */
	cr_assert_eq(decoded, 0);
	sealed_free(&s);
}

Test(wire, refuses_an_envelope_over_the_limit)
{
	struct sealed s;
	struct hv_errdetail d;
	hv_envelope env;

	sealed_make(&s, 1);
	cr_assert_eq(hv_envelope_unpack(s.packed, s.len, s.len - 1, &env, &d),
	    HV_ETOOLARGE);
	cr_assert_str_eq(d.field, "envelope");
	cr_assert_eq(hv_envelope_unpack(s.packed, s.len, s.len, &env, &d),
	    HV_OK);
	hv_envelope_clear(&env);
	sealed_free(&s);
}

Test(wire, refuses_each_malformed_field_naming_it)
{
	struct sealed s;
	Haven__Envelope *pe;
	char *saved, longtype[41], longjust[HV_JUSTIFICATION_MAX + 2];
	char *bad_utf8 = "police.\xc3\x28";

	sealed_make(&s, 2);
	memset(longtype, 'A', sizeof(longtype) - 1);
	longtype[sizeof(longtype) - 1] = '\0';
	memset(longjust, 'j', sizeof(longjust) - 1);
	longjust[sizeof(longjust) - 1] = '\0';

	pe = decode(&s);
	pe->id.len = 15;
	expect_refused(pe, "envelope.id");
	pe->id.len = 16;
	pe->sender[0] = 'P';
	expect_refused(pe, "envelope.sender");
	pe->sender[0] = 'p';
	saved = pe->sender;
	pe->sender = bad_utf8;
	expect_refused(pe, "envelope.sender");
	pe->sender = saved;
	saved = pe->recipients[1];
	pe->recipients[1] = pe->recipients[0];
	expect_refused(pe, "envelope.recipients[1]");
	pe->recipients[1] = "police.avon";
	expect_refused(pe, "envelope.recipients[1]");
	pe->recipients[1] = "nodot";
	expect_refused(pe, "envelope.recipients[1]");
	pe->recipients[1] = saved;
	saved = pe->type;
	pe->type = longtype;
	expect_refused(pe, "envelope.type");
	pe->type = saved;
	saved = pe->priority;
	pe->priority = "IMMEDIATELY-NOW!"; /* 16 bytes: one too many */
	expect_refused(pe, "envelope.priority");
	pe->priority = saved;
	saved = pe->basis->justification;
	pe->basis->justification = longjust;
	expect_refused(pe, "envelope.basis.justification");
	pe->basis->justification = saved;
	saved = pe->outcome;
	pe->outcome = "NOT_SHARED_AT_ALL";
	expect_refused(pe, "envelope.outcome");
	pe->outcome = saved;
	pe->subject.len = 31;
	expect_refused(pe, "envelope.subject");
	pe->subject.len = 32;
	pe->reply_to.len = 5;
	expect_refused(pe, "envelope.reply_to");
	pe->reply_to.len = 16;
	pe->nonce.len = 23;
	expect_refused(pe, "envelope.nonce");
	pe->nonce.len = 0;
	expect_refused(pe, "envelope.nonce");
	pe->nonce.len = 24;
	pe->n_sealed_keys = 1;
	expect_refused(pe, "envelope.sealed_keys");
	pe->n_sealed_keys = 2;
	pe->sealed_keys[1].len = 79;
	expect_refused(pe, "envelope.sealed_keys[1]");
	pe->sealed_keys[1].len = 80;
	pe->signature.len = 63;
	expect_refused(pe, "envelope.signature");
	pe->signature.len = 64;
	pe->ciphertext.len = 0;
	expect_refused(pe, "envelope.ciphertext");
	haven__envelope__free_unpacked(pe, NULL);
	sealed_free(&s);
}

Test(wire, refuses_more_than_sixteen_recipients)
{
	Haven__Envelope pe = HAVEN__ENVELOPE__INIT;
	char names17[HV_MAX_RECIPIENTS + 1][32], *rp[HV_MAX_RECIPIENTS + 1];
	ProtobufCBinaryData keys[HV_MAX_RECIPIENTS + 1];
	uint8_t id[16] = { 1 }, subject[32] = { 0 }, nonce[24] = { 0 };
	uint8_t sig[64] = { 0 }, key[80] = { 0 }, ct[32] = { 0 };

	for (int i = 0; i <= HV_MAX_RECIPIENTS; i++) {
		snprintf(names17[i], sizeof(names17[i]), "education.school-%d",
		    i);
		rp[i] = names17[i];
		keys[i].len = sizeof(key);
		keys[i].data = key;
	}
	pe.id = (ProtobufCBinaryData){ 16, id };
	pe.sender = "police.avon";
	pe.n_recipients = HV_MAX_RECIPIENTS + 1;
	pe.recipients = rp;
	pe.subject = (ProtobufCBinaryData){ 32, subject };
	pe.nonce = (ProtobufCBinaryData){ 24, nonce };
	pe.ciphertext = (ProtobufCBinaryData){ 32, ct };
	pe.n_sealed_keys = HV_MAX_RECIPIENTS + 1;
	pe.sealed_keys = keys;
	pe.signature = (ProtobufCBinaryData){ 64, sig };
	expect_refused(&pe, "envelope.recipients");
}

Test(wire, refuses_an_envelope_not_in_canonical_encoding)
{
	struct sealed s;
	uint8_t *buf;
	hv_envelope env;
	struct hv_errdetail d;

	sealed_make(&s, 1);
	/* A second flags field (10, varint 1) decodes to the same envelope. */
	buf = malloc(s.len + 2);
	memcpy(buf, s.packed, s.len);
	buf[s.len] = 0x50;
	buf[s.len + 1] = 0x01;
	cr_assert_eq(hv_envelope_unpack(buf, s.len + 2, BIG, &env, &d),
	    HV_EMALFORMED);
	cr_assert_str_eq(d.field, "envelope");
	free(buf);
	sealed_free(&s);
}

/*
 * The signature covers the known fields only: a field this version does
 * not know, at the top or inside the basis, would travel unsigned and be
 * stored by the broker as it came (it could carry anything in clear).
 */
Test(wire, refuses_an_envelope_with_a_field_the_signature_does_not_cover)
{
	static uint8_t extra[] = { 0x01 };
	ProtobufCMessageUnknownField uf = { 99, PROTOBUF_C_WIRE_TYPE_VARINT,
		sizeof(extra), extra };
	struct sealed s;
	Haven__Envelope *pe;
	uint8_t *buf;
	hv_envelope env;
	struct hv_errdetail d;

	sealed_make(&s, 1);
	/* Field 99 (varint 1) after the last field is still canonical. */
	buf = malloc(s.len + 3);
	memcpy(buf, s.packed, s.len);
	memcpy(buf + s.len, "\x98\x06\x01", 3);
	cr_assert_eq(hv_envelope_unpack(buf, s.len + 3, BIG, &env, &d),
	    HV_EMALFORMED);
	cr_assert_str_eq(d.field, "envelope");
	cr_assert_not_null(strstr(d.message, "99"), "%s", d.message);
	free(buf);

	pe = decode(&s);
	pe->basis->base.n_unknown_fields = 1;
	pe->basis->base.unknown_fields = &uf;
	expect_refused(pe, "envelope.basis");
	pe->basis->base.n_unknown_fields = 0;
	pe->basis->base.unknown_fields = NULL;
	haven__envelope__free_unpacked(pe, NULL);
	sealed_free(&s);
}

Test(wire, unpacks_and_verifies_a_decision_envelope)
{
	hv_keys *k = keys_random();
	hv_envelope env, back;
	Haven__Envelope *pe;
	uint8_t *buf, *repacked, ct[4] = { 1, 2, 3, 4 };
	size_t len, n;

	header(&env);
	strcpy(env.sender, "health.bristol-royal");
	strcpy(env.outcome, "NOT_SHARED");
	cr_assert_eq(hv_envelope_sign_decision(&env, k), HV_OK);
	cr_assert_eq(hv_envelope_pack(&env, &buf, &len), HV_OK);
	cr_assert_eq(hv_envelope_unpack(buf, len, BIG, &back, NULL), HV_OK);
	cr_assert_eq(back.n_recipients, 0);
	cr_assert_null(back.ciphertext);
	cr_assert_str_eq(back.outcome, "NOT_SHARED");
	cr_assert_eq(hv_envelope_verify(&back, k->pub.sign), HV_OK);
	hv_envelope_clear(&back);

	/* A decision may leave the all-zero nonce out entirely. */
	pe = haven__envelope__unpack(NULL, len, buf);
	pe->nonce.len = 0;
	n = haven__envelope__get_packed_size(pe);
	repacked = malloc(n);
	haven__envelope__pack(pe, repacked);
	cr_assert_eq(hv_envelope_unpack(repacked, n, BIG, &back, NULL), HV_OK);
	cr_assert_eq(hv_envelope_verify(&back, k->pub.sign), HV_OK);
	hv_envelope_clear(&back);
	free(repacked);

	/* But it carries no ciphertext. */
	pe->ciphertext = (ProtobufCBinaryData){ sizeof(ct), ct };
	expect_refused(pe, "envelope.ciphertext");
	pe->ciphertext = (ProtobufCBinaryData){ 0, NULL };
	haven__envelope__free_unpacked(pe, NULL);
	free(buf);
	sodium_free(k);
}

Test(wire, bounds_the_largest_envelope_a_payload_limit_allows)
{
	enum { MAXP = 4096 };
	hv_keys *s = keys_random(), *r = keys_random();
	uint8_t boxes[HV_MAX_RECIPIENTS][HV_BOX_KEY_LEN], *buf, *fbuf;
	uint8_t *in = malloc(MAXP);
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Submit sub = HAVEN__SUBMIT__INIT;
	hv_envelope env;
	size_t len, flen;

	/* Every string at its longest, every recipient used. */
	memset(in, 'x', MAXP);
	header(&env);
	memset(env.sender, 's', HV_NODE_MAX);
	env.sender[3] = '.';
	for (int i = 0; i < HV_MAX_RECIPIENTS; i++) {
		memset(env.recipients[i], 'a' + i, HV_NODE_MAX);
		env.recipients[i][4] = '.';
		memcpy(boxes[i], r->pub.box, HV_BOX_KEY_LEN);
	}
	env.n_recipients = HV_MAX_RECIPIENTS;
	memset(env.type, 'T', sizeof(env.type) - 1);
	memset(env.priority, 'P', sizeof(env.priority) - 1);
	memset(env.basis.consent, 'C', sizeof(env.basis.consent) - 1);
	memset(env.basis.art6, '6', sizeof(env.basis.art6) - 1);
	memset(env.basis.art9, '9', sizeof(env.basis.art9) - 1);
	memset(env.basis.justification, 'J', HV_JUSTIFICATION_MAX);
	memset(env.basis.decided_by, 'D', HV_DECIDED_BY_MAX);
	/* The justification sealed to as many ig nodes as there may be. */
	env.basis.justification_len = HV_JUSTIFICATION_MAX;
	env.basis.sealed_len = HV_JUSTIFICATION_SEALED_MAX;
	memset(env.basis.sealed, 0xee, HV_JUSTIFICATION_SEALED_MAX);
	env.basis.n_sealed_for = HV_SEALED_FOR_MAX;
	for (int i = 0; i < HV_SEALED_FOR_MAX; i++) {
		memset(env.basis.sealed_for[i], 'g' + i % 8, HV_NODE_MAX);
		memcpy(env.basis.sealed_for[i], "ig.", 3);
		memset(env.basis.sealed_keys[i], 0xdd, HV_SEALED_KEY_LEN);
	}
	memset(env.outcome, 'O', sizeof(env.outcome) - 1);
	env.created = INT64_MIN;
	env.flags = UINT32_MAX;
	cr_assert_eq(hv_envelope_seal(&env, in, MAXP,
	                 (const uint8_t(*)[HV_BOX_KEY_LEN])boxes, s),
	    HV_OK);
	cr_assert_eq(hv_envelope_pack(&env, &buf, &len), HV_OK);
	cr_assert_leq(len, hv_wire_envelope_max(MAXP), "%zu > %zu", len,
	    hv_wire_envelope_max(MAXP));
	cr_assert_gt(len, hv_envelope_padded_len(MAXP));

	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	sub.sender = env.sender;
	sub.envelope = (ProtobufCBinaryData){ len, buf };
	cr_assert_eq(hv_frame_pack(&f, &fbuf, &flen), HV_OK);
	cr_assert_leq(flen, hv_wire_frame_max(MAXP));

	/* The default 1 MiB limit: a 2 MiB bucket plus modest overhead. */
	cr_assert_gt(hv_wire_envelope_max(1 << 20), (size_t)2 << 20);
	cr_assert_lt(hv_wire_frame_max(1 << 20), ((size_t)2 << 20) + 65536);
	free(fbuf);
	free(buf);
	free(in);
	hv_envelope_clear(&env);
	sodium_free(s);
	sodium_free(r);
}

/* ---- frames ------------------------------------------------------------- */

/* Packs f, unpacks it with limit max, returns the error and detail. */
static hv_err
frame_roundtrip(const Haven__Frame *f, size_t max, struct hv_errdetail *d)
{
	Haven__Frame *out = NULL;
	uint8_t *buf;
	size_t len;
	hv_err e;

	cr_assert_eq(hv_frame_pack(f, &buf, &len), HV_OK);
	hv_errclear(d);
	e = hv_frame_unpack(buf, len, max, &out, d);
	cr_assert((e == HV_OK) == (out != NULL));
	hv_frame_free(&out);
	cr_assert_null(out);
	free(buf);
	return e;
}

Test(wire, packs_and_unpacks_a_submit_frame)
{
	Haven__Frame f = HAVEN__FRAME__INIT, *out = NULL;
	Haven__Submit sub = HAVEN__SUBMIT__INIT;
	uint8_t env[3] = { 1, 2, 3 }, *buf;
	size_t len;

	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	sub.sender = "police.avon";
	sub.envelope = (ProtobufCBinaryData){ sizeof(env), env };
	cr_assert_eq(hv_frame_pack(&f, &buf, &len), HV_OK);
	cr_assert_eq(hv_frame_unpack(buf, len, len, &out, NULL), HV_OK);
	cr_assert_eq(out->kind_case, HAVEN__FRAME__KIND_SUBMIT);
	cr_assert_str_eq(out->submit->sender, "police.avon");
	cr_assert_eq(out->submit->envelope.len, 3);
	cr_assert_eq(out->submit->envelope.data[2], 3);
	hv_frame_free(&out);
	hv_frame_free(&out); /* NULL is fine */
	hv_frame_free(NULL);
	free(buf);
}

Test(wire, refuses_frame_strings_with_invalid_utf8)
{
	static const char *bad[] = {
		"police.\xc3\x28", /* truncated sequence */
		"\xc0\xaf", /* overlong '/' */
		"\xed\xa0\x80", /* UTF-16 surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xff",
	};
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Submit sub = HAVEN__SUBMIT__INIT;
	Haven__Error err = HAVEN__ERROR__INIT;
	struct hv_errdetail d;

	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sub.sender = (char *)bad[i];
		cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED,
		    "bad string %zu accepted", i);
		cr_assert_str_eq(d.field, "submit.sender");
	}
	sub.sender = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"; /* valid */
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_OK);

	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &err;
	err.code = "BAD_SIGNATURE";
	err.message = "signature \xe2\x82";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "error.message");
}

Test(wire, refuses_a_frame_string_with_an_embedded_nul)
{
	/* Frame{hello: Hello{node: "ab\0cd"}} spelled out by hand. */
	static const uint8_t buf[] = {
		0x0a,
		0x07,
		0x0a,
		0x05,
		'a',
		'b',
		0x00,
		'c',
		'd',
	};
	static const uint8_t good[] = {
		0x0a,
		0x07,
		0x0a,
		0x05,
		'a',
		'b',
		'x',
		'c',
		'd',
	};
	Haven__Frame *f = NULL;
	struct hv_errdetail d;

	cr_assert_eq(hv_frame_unpack(buf, sizeof(buf), BIG, &f, &d),
	    HV_EMALFORMED);
	cr_assert_null(f);
	cr_assert_eq(hv_frame_unpack(good, sizeof(good), BIG, &f, &d), HV_OK);
	cr_assert_str_eq(f->hello->node, "abxcd");
	hv_frame_free(&f);
}

Test(wire, refuses_strings_and_bytes_over_their_limits)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Error err = HAVEN__ERROR__INIT;
	Haven__AuditReply rep = HAVEN__AUDIT_REPLY__INIT;
	Haven__Submit sub = HAVEN__SUBMIT__INIT;
	ProtobufCBinaryData recs[2];
	char *s = malloc(HV_WIRE_STRING_MAX + 2);
	uint8_t *big = calloc(1, HV_WIRE_BYTES_MAX + 1);
	struct hv_errdetail d;

	memset(s, 'a', HV_WIRE_STRING_MAX);
	s[HV_WIRE_STRING_MAX] = '\0';
	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &err;
	err.message = s;
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_OK);
	s[HV_WIRE_STRING_MAX] = 'a';
	s[HV_WIRE_STRING_MAX + 1] = '\0';
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "error.message");

	f.kind_case = HAVEN__FRAME__KIND_AUDIT_REPLY;
	f.audit_reply = &rep;
	recs[0] = (ProtobufCBinaryData){ 10, big };
	recs[1] = (ProtobufCBinaryData){ HV_WIRE_BYTES_MAX + 1, big };
	rep.n_records = 2;
	rep.records = recs;
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "audit_reply.records[1]");

	/* An envelope is bounded by the frame limit instead. */
	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	sub.sender = "police.avon";
	sub.envelope = recs[1];
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_OK);
	free(s);
	free(big);
}

/*
 * An Ack carries a recipient's refusal as a code and one sentence, within
 * their caps; an Ack without one is a delivery, as from older agents.
 */
Test(wire, carries_a_refusal_in_an_ack_and_refuses_one_out_of_bounds)
{
	Haven__Frame f = HAVEN__FRAME__INIT, *out = NULL;
	Haven__Ack ack = HAVEN__ACK__INIT;
	uint8_t id[16] = { 7 }, *buf;
	char sentence[HV_ACK_MESSAGE_MAX + 1], long_s[400];
	struct hv_errdetail d;
	size_t len;
	hv_err code;

	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &ack;
	ack.id = (ProtobufCBinaryData){ sizeof(id), id };
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_OK);
	cr_assert_eq(hv_ack_refusal(&ack, &code, &d), HV_OK);
	cr_assert_eq(code, HV_OK);

	hv_ack_set_refusal(&ack, HV_EPOLICY,
	    "No allow rule lets health "
	    "send CP_PLAN_START to social care.",
	    sentence);
	cr_assert_eq(hv_frame_pack(&f, &buf, &len), HV_OK);
	cr_assert_eq(hv_frame_unpack(buf, len, len, &out, NULL), HV_OK);
	cr_assert_str_eq(out->ack->refused_code, "POLICY_DENIED");
	cr_assert_str_eq(out->ack->refused_message, sentence);
	cr_assert_eq(hv_ack_refusal(out->ack, &code, NULL), HV_OK);
	cr_assert_eq(code, HV_EPOLICY);
	hv_frame_free(&out);
	free(buf);

	/* A long sentence is cut to the cap at a character boundary. */
	memset(long_s, 'a', sizeof(long_s));
	memcpy(long_s + HV_ACK_MESSAGE_MAX - 1, "\xc3\xa9", 2);
	long_s[sizeof(long_s) - 1] = '\0';
	hv_ack_set_refusal(&ack, HV_ECLOCKSKEW, long_s, sentence);
	cr_assert_eq(strlen(sentence), HV_ACK_MESSAGE_MAX - 1);
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_OK);

	/* Over the caps, a code that is no refusal, or half a refusal. */
	memset(long_s, 'a', HV_ACK_MESSAGE_MAX + 1);
	long_s[HV_ACK_MESSAGE_MAX + 1] = '\0';
	ack.refused_message = long_s;
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "ack.refused_message");
	ack.refused_message = "One sentence.";
	ack.refused_code = "STORAGE_FULL";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "ack.refused_code");
	ack.refused_code = "NOT_A_CODE";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	ack.refused_code = "POLICY_DENIED_POLICY_DENIED_POLICY";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	ack.refused_code = "";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	ack.refused_code = "POLICY_DENIED";
	ack.refused_message = "";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "ack.refused_message");
	ack.refused_message = "Two\nlines.";
	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
}

Test(wire, refuses_an_oversize_frame)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Hello h = HAVEN__HELLO__INIT;
	struct hv_errdetail d;
	uint8_t *buf;
	size_t len;

	f.kind_case = HAVEN__FRAME__KIND_HELLO;
	f.hello = &h;
	h.node = "police.avon";
	cr_assert_eq(hv_frame_pack(&f, &buf, &len), HV_OK);
	free(buf);
	cr_assert_eq(frame_roundtrip(&f, len - 1, &d), HV_ETOOLARGE);
	cr_assert_str_eq(d.field, "frame");
	cr_assert_eq(frame_roundtrip(&f, len, &d), HV_OK);
}

Test(wire, refuses_a_frame_with_no_message)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	struct hv_errdetail d;

	cr_assert_eq(frame_roundtrip(&f, BIG, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "frame");
}

Test(wire, refuses_garbage_without_crashing)
{
	static const struct {
		const char *b;
		size_t n;
	} junk[] = {
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11 },
		{ "\x0a\xff\xff\xff\xff\x0f", 6 }, /* huge length */
		{ "\x0a\x05\x01", 3 }, /* short field */
		{ "\x07", 1 }, /* bad wire type */
		{ "GET / HTTP/1.1\r\n\r\n", 18 },
	};
	uint8_t seed[randombytes_SEEDBYTES] = { 42 };
	uint8_t *rnd = malloc(1 << 16);
	Haven__Frame *f;
	hv_envelope env;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		uint8_t *b = malloc(junk[i].n);

		memcpy(b, junk[i].b, junk[i].n);
		f = NULL;
		cr_assert_neq(hv_frame_unpack(b, junk[i].n, BIG, &f, NULL),
		    HV_OK, "junk %zu accepted as a frame", i);
		cr_assert_null(f);
		cr_assert_neq(hv_envelope_unpack(b, junk[i].n, BIG, &env, NULL),
		    HV_OK, "junk %zu accepted as an envelope", i);
		free(b);
	}

	/* Random input, any length: never a crash, never a leak. */
	randombytes_buf_deterministic(rnd, 1 << 16, seed);
	for (size_t i = 0; i < 4000; i++) {
		size_t off = (i * 7919) % (1 << 15);
		size_t n = (rnd[i % 4096] * 131u + i) % 600;
		uint8_t *b = malloc(n ? n : 1);

		memcpy(b, rnd + off, n);
		f = NULL;
		if (hv_frame_unpack(b, n, BIG, &f, NULL) == HV_OK)
			hv_frame_free(&f);
		if (hv_envelope_unpack(b, n, BIG, &env, NULL) == HV_OK)
			hv_envelope_clear(&env);
		free(b);
	}
	free(rnd);
}

/*
 * An empty element of a repeated bytes field decodes with a NULL data
 * pointer; checking that the input is canonical re-packs it and once
 * compared those zero bytes with memcmp(..., NULL, 0), undefined behaviour
 * that aborts a sanitizer build. Each input here is refused cleanly.
 */
Test(wire, refuses_a_two_byte_envelope_of_one_empty_sealed_key_cleanly)
{
	static const struct {
		const char *b;
		size_t n;
	} tiny[] = {
		{ "\x72\x00", 2 }, /* sealed_keys: one empty */
		{ "\x1a\x00", 2 }, /* recipients: one empty */
		{ "\x72\x00\x72\x00", 4 }, /* two empty sealed keys */
	};
	struct hv_errdetail d;
	hv_envelope env;

	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
		uint8_t *b = malloc(tiny[i].n);

		memcpy(b, tiny[i].b, tiny[i].n);
		cr_assert_eq(hv_envelope_unpack(b, tiny[i].n, BIG, &env, &d),
		    HV_EMALFORMED, "tiny envelope %zu", i);
		free(b);
	}
}

/* The same empty repeated bytes inside a frame (AuditReply.records). */
Test(wire, refuses_an_audit_reply_frame_holding_an_empty_record_cleanly)
{
	static const uint8_t in[] = { 0x42, 0x02, 0x0a, 0x00 };
	uint8_t *b = malloc(sizeof(in));
	Haven__Frame *f = NULL;
	hv_err e;

	memcpy(b, in, sizeof(in));
	e = hv_frame_unpack(b, sizeof(in), BIG, &f, NULL);
	/* An empty record is well-formed protobuf: accepted, not a crash. */
	cr_assert_eq(e, HV_OK);
	cr_assert_eq(f->kind_case, HAVEN__FRAME__KIND_AUDIT_REPLY);
	cr_assert_eq(f->audit_reply->n_records, 1);
	cr_assert_eq(f->audit_reply->records[0].len, 0);
	hv_frame_free(&f);
	free(b);
}

Test(wire, names_strings_deep_in_repeated_nested_messages)
{
	Haven__Directory dir = HAVEN__DIRECTORY__INIT;
	Haven__DirNode n0 = HAVEN__DIR_NODE__INIT, n1 = HAVEN__DIR_NODE__INIT;
	Haven__DirNode *nodes[2] = { &n0, &n1 };
	char *scope[2] = { "police", "heal\xe2\x28\xa1th" };
	struct hv_errdetail d;

	dir.partnership = "bristol";
	dir.n_nodes = 2;
	dir.nodes = nodes;
	n0.id = "police.avon";
	n1.id = "ig.bristol";
	n1.n_scope = 2;
	n1.scope = scope;
	cr_assert_eq(hv_wire_check_strings(&dir.base, &d), HV_EMALFORMED);
	cr_assert_str_eq(d.field, "nodes[1].scope[1]");
	scope[1] = "health";
	cr_assert_eq(hv_wire_check_strings(&dir.base, &d), HV_OK);
}

/*
 * A broker health report names every node of a large partnership, so its
 * JSON may pass the limit for names and sentences; other strings may not.
 */
Test(wire, accepts_a_large_health_report_but_no_other_long_string)
{
	Haven__Frame f = HAVEN__FRAME__INIT, *out = NULL;
	Haven__HealthReply hr = HAVEN__HEALTH_REPLY__INIT;
	Haven__Error er = HAVEN__ERROR__INIT;
	size_t big = 100000, len;
	char *s = malloc(big + 1);
	uint8_t *buf = NULL;

	cr_assert_not_null(s);
	memset(s, 'n', big);
	s[big] = '\0';
	hr.json = s;
	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REPLY;
	f.health_reply = &hr;
	cr_assert_eq(hv_frame_pack(&f, &buf, &len), HV_OK);
	cr_assert_eq(hv_frame_unpack(buf, len, 4 * big, &out, NULL), HV_OK);
	cr_assert_eq(strlen(out->health_reply->json), big);
	hv_frame_free(&out);
	free(buf);

	er.code = "MALFORMED";
	er.message = s;
	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &er;
	cr_assert_eq(hv_frame_pack(&f, &buf, &len), HV_OK);
	cr_assert_eq(hv_frame_unpack(buf, len, 4 * big, &out, NULL),
	    HV_EMALFORMED);
	free(buf);
	free(s);
}

Test(wire, serves_its_protocol_version_and_the_one_before_and_names_others)
{
	struct hv_errdetail d;

	for (uint32_t v = HV_PROTOCOL_OLDEST; v <= HV_PROTOCOL_VERSION; v++)
		cr_assert_eq(hv_wire_protocol_check(v, "police.avon", NULL),
		    HV_OK, "version %u refused", (unsigned)v);
	cr_assert_eq(HV_PROTOCOL_VERSION - HV_PROTOCOL_OLDEST, 1);
	hv_errclear(&d);
	cr_assert_eq(hv_wire_protocol_check(HV_PROTOCOL_VERSION + 1,
	                 "police.avon", &d),
	    HV_EPROTOCOL);
	cr_assert_not_null(
	    strstr(d.message,
	        "police.avon speaks protocol "
	        "version 2; this broker serves versions 0 and 1"),
	    "%s", d.message);
	cr_assert_not_null(strstr(d.message, "upgrade the broker"), "%s",
	    d.message);
	cr_assert_eq(hv_wire_protocol_check(UINT32_MAX, "police.avon", NULL),
	    HV_EPROTOCOL);
	if (HV_PROTOCOL_OLDEST > 0) {
		hv_errclear(&d);
		cr_assert_eq(hv_wire_protocol_check(HV_PROTOCOL_OLDEST - 1,
		                 "police.avon", &d),
		    HV_EPROTOCOL);
		cr_assert_not_null(strstr(d.message, "upgrade the agent"));
	}
}
