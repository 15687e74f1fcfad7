/*
 * Unit tests of hv_receipt: the broker's signed receipts (SPEC §6). Every
 * signed field is covered by the signature; receipt_seq, transport
 * bookkeeping, is not.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_receipt.h"

static hv_keys *broker, *other;
static uint8_t id[16] = {
	0x01,
	0x8f,
	0x3a,
	0x00,
	0x11,
	0x22,
	0x33,
	0x44,
	0x55,
	0x66,
	0x77,
	0x88,
	0x99,
	0xaa,
	0xbb,
	0xcc,
};

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	cr_assert_eq(hv_keys_generate(&broker), HV_OK);
	cr_assert_eq(hv_keys_generate(&other), HV_OK);
}

static void
teardown(void)
{
	hv_keys_destroy(&broker);
	hv_keys_destroy(&other);
}

TestSuite(receipt, .init = setup, .fini = teardown);

/* An ACKNOWLEDGED receipt as the broker would send it, signed. */
static void
make_signed(Haven__Receipt *r)
{
	haven__receipt__init(r);
	r->id.data = id;
	r->id.len = sizeof(id);
	r->status = "ACKNOWLEDGED";
	r->code = "";
	r->message = "Read by the duty social worker.";
	r->node = "social-care.bristol";
	r->by = "J. Okafor";
	r->at = 1795338843123LL;
	r->audit_seq = 4242;
	r->receipt_seq = 17;
	cr_assert_eq(hv_receipt_sign(r, broker), HV_OK);
	cr_assert_not_null(r->signature.data);
	cr_assert_eq(r->signature.len, crypto_sign_BYTES);
}

static void
assert_verifies(const Haven__Receipt *r)
{
	cr_assert_eq(hv_receipt_verify(r, broker->pub.sign), HV_OK);
}

static void
assert_refused(const Haven__Receipt *r, const char *what)
{
	cr_assert_eq(hv_receipt_verify(r, broker->pub.sign), HV_EBADSIG,
	    "a receipt with %s still verifies", what);
}

Test(receipt, verifies_what_the_broker_signed)
{
	Haven__Receipt r;

	make_signed(&r);
	assert_verifies(&r);
	free(r.signature.data);
}

Test(receipt, verifies_a_rejection_with_its_code)
{
	Haven__Receipt r;

	haven__receipt__init(&r);
	r.id.data = id;
	r.id.len = sizeof(id);
	r.status = "REJECTED";
	r.code = "POLICY_DENIED";
	r.message = "The information-sharing agreement does not allow this "
	            "share.";
	r.at = 1795338843000LL;
	r.audit_seq = 1;
	cr_assert_eq(hv_receipt_sign(&r, broker), HV_OK);
	assert_verifies(&r);
	r.code = "BASIS_INVALID";
	assert_refused(&r, "another code");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_message_id)
{
	Haven__Receipt r;
	uint8_t other_id[sizeof(id)];

	make_signed(&r);
	memcpy(other_id, id, sizeof(id));
	other_id[15] ^= 0x01;
	r.id.data = other_id;
	assert_refused(&r, "a flipped id bit");
	r.id.data = id;
	r.id.len = sizeof(id) - 1;
	assert_refused(&r, "a shortened id");
	r.id.len = 0;
	assert_refused(&r, "no id");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_status)
{
	Haven__Receipt r;

	make_signed(&r);
	r.status = "DELIVERED";
	assert_refused(&r, "another status");
	r.status = "";
	assert_refused(&r, "no status");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_code)
{
	Haven__Receipt r;

	make_signed(&r);
	r.code = "REPLAY";
	assert_refused(&r, "a code added");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_message)
{
	Haven__Receipt r;

	make_signed(&r);
	r.message = "Read by the duty social worker!";
	assert_refused(&r, "another message");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_node)
{
	Haven__Receipt r;

	make_signed(&r);
	r.node = "police.avon";
	assert_refused(&r, "another node");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_acknowledger)
{
	Haven__Receipt r;

	make_signed(&r);
	r.by = "Someone Else";
	assert_refused(&r, "another person");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_time)
{
	Haven__Receipt r;

	make_signed(&r);
	r.at += 1;
	assert_refused(&r, "a time one millisecond later");
	r.at = -r.at;
	assert_refused(&r, "a negated time");
	free(r.signature.data);
}

Test(receipt, refuses_a_changed_audit_sequence)
{
	Haven__Receipt r;

	make_signed(&r);
	r.audit_seq += 1;
	assert_refused(&r, "the next audit sequence");
	r.audit_seq = 4242 + ((uint64_t)1 << 32);
	assert_refused(&r, "a high bit set in the audit sequence");
	free(r.signature.data);
}

/* Length prefixes keep one field's bytes from sliding into the next. */
Test(receipt, refuses_text_moved_between_fields)
{
	Haven__Receipt r;

	make_signed(&r);
	r.node = "social-care.bristolJ. Okafor";
	r.by = "";
	assert_refused(&r, "by moved into node");
	r.node = "social-care.bristo";
	r.by = "lJ. Okafor";
	assert_refused(&r, "a byte moved from node to by");
	free(r.signature.data);
}

Test(receipt, does_not_sign_the_receipt_sequence)
{
	Haven__Receipt r;

	make_signed(&r);
	r.receipt_seq = 18;
	assert_verifies(&r);
	r.receipt_seq = 0;
	assert_verifies(&r);
	r.receipt_seq = UINT64_MAX;
	assert_verifies(&r);
	free(r.signature.data);
}

Test(receipt, refuses_another_brokers_key)
{
	Haven__Receipt r;

	make_signed(&r);
	cr_assert_eq(hv_receipt_verify(&r, other->pub.sign), HV_EBADSIG);
	free(r.signature.data);
}

Test(receipt, refuses_a_receipt_signed_by_another_key)
{
	Haven__Receipt r;

	haven__receipt__init(&r);
	r.id.data = id;
	r.id.len = sizeof(id);
	r.status = "DELIVERED";
	cr_assert_eq(hv_receipt_sign(&r, other), HV_OK);
	assert_refused(&r, "a signature by a node that is not the broker");
	free(r.signature.data);
}

Test(receipt, refuses_a_damaged_or_missing_signature)
{
	Haven__Receipt r;

	make_signed(&r);
	for (size_t i = 0; i < r.signature.len; i += 7) {
		r.signature.data[i] ^= 0x40;
		assert_refused(&r, "a flipped signature bit");
		r.signature.data[i] ^= 0x40;
	}
	assert_verifies(&r);
	r.signature.len = crypto_sign_BYTES - 1;
	assert_refused(&r, "a short signature");
	r.signature.len = 0;
	assert_refused(&r, "no signature");
	free(r.signature.data);
}

Test(receipt, verifies_after_a_trip_over_the_wire)
{
	Haven__Receipt r, *back;
	uint8_t *buf;
	size_t len;

	make_signed(&r);
	len = haven__receipt__get_packed_size(&r);
	cr_assert_not_null(buf = malloc(len));
	cr_assert_eq(haven__receipt__pack(&r, buf), len);
	cr_assert_not_null(back = haven__receipt__unpack(NULL, len, buf));
	cr_assert_eq(back->receipt_seq, 17);
	cr_assert_eq(hv_receipt_verify(back, broker->pub.sign), HV_OK);
	back->audit_seq++;
	cr_assert_eq(hv_receipt_verify(back, broker->pub.sign), HV_EBADSIG);
	haven__receipt__free_unpacked(back, NULL);
	free(buf);
	free(r.signature.data);
}

/*
 * A receipt whose optional strings were never set (NULL, as a broker may
 * build it) verifies once unpacked, where they arrive as empty strings.
 */
Test(receipt, treats_unset_strings_as_empty)
{
	Haven__Receipt r, *back;
	uint8_t *buf;
	size_t len;

	haven__receipt__init(&r);
	r.id.data = id;
	r.id.len = sizeof(id);
	r.status = "ACCEPTED";
	r.code = NULL;
	r.message = NULL;
	r.node = NULL;
	r.by = NULL;
	r.at = 1795338843000LL;
	r.audit_seq = 9;
	cr_assert_eq(hv_receipt_sign(&r, broker), HV_OK);
	assert_verifies(&r);
	len = haven__receipt__get_packed_size(&r);
	cr_assert_not_null(buf = malloc(len));
	haven__receipt__pack(&r, buf);
	cr_assert_not_null(back = haven__receipt__unpack(NULL, len, buf));
	cr_assert_eq(hv_receipt_verify(back, broker->pub.sign), HV_OK);
	haven__receipt__free_unpacked(back, NULL);
	free(buf);
	free(r.signature.data);
}
