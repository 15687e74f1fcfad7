/*
 * test_retract — signed retractions: the reason codes, the staff
 * identifier rule, signing and verification by the sender's key only.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "hv_keys.h"
#include "hv_retract.h"

static uint8_t ID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16 };

static void
fill(Haven__Retraction *r)
{
	haven__retraction__init(r);
	r->id.data = ID;
	r->id.len = sizeof(ID);
	r->sender = "police.avon";
	r->reason = "MISDIRECTED";
	r->decided_by = "j.smith";
	r->created = 1767225600000;
}

static void
node_of(const hv_keys *k, struct hv_node *n)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "police.avon");
	n->keys = k->pub;
	n->has_keys = 1;
}

Test(retract, takes_only_the_listed_reason_codes)
{
	cr_assert(hv_retract_reason_ok("WRONG_CHILD"));
	cr_assert(hv_retract_reason_ok("OTHER"));
	cr_assert_not(hv_retract_reason_ok("misdirected"));
	cr_assert_not(hv_retract_reason_ok("Sent about Jane Doe by mistake"));
	cr_assert_not(hv_retract_reason_ok(NULL));
}

Test(retract, takes_a_staff_identifier_of_1_to_64_safe_characters)
{
	char long_id[66];

	cr_assert(hv_retract_decided_by_ok("j.smith"));
	cr_assert(hv_retract_decided_by_ok("duty_officer-2"));
	cr_assert_not(hv_retract_decided_by_ok(""));
	cr_assert_not(hv_retract_decided_by_ok("J Smith"));
	cr_assert_not(hv_retract_decided_by_ok("9434765919 case"));
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	cr_assert_not(hv_retract_decided_by_ok(long_id));
	long_id[64] = '\0';
	cr_assert(hv_retract_decided_by_ok(long_id));
}

Test(retract, verifies_with_the_senders_key_and_no_other)
{
	Haven__Retraction r;
	hv_keys *k = NULL, *other = NULL;
	struct hv_node n, on;
	uint8_t *buf;
	size_t len;
	Haven__Retraction *back = NULL;

	cr_assert_eq(sodium_init() >= 0, 1);
	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_generate(&other), HV_OK);
	fill(&r);
	cr_assert_eq(hv_retract_sign(&r, k), HV_OK);
	node_of(k, &n);
	node_of(other, &on);
	cr_assert_eq(hv_retract_verify(&r, &n), HV_OK);
	cr_assert_eq(hv_retract_verify(&r, &on), HV_EBADSIG);

	cr_assert_eq(hv_retract_pack(&r, &buf, &len), HV_OK);
	cr_assert_eq(hv_retract_unpack(buf, len, &back), HV_OK);
	cr_assert_eq(hv_retract_verify(back, &n), HV_OK);
	/* Another reason under the same signature is refused. */
	{
		char *was = back->reason;

		back->reason = "DUPLICATE";
		cr_assert_eq(hv_retract_verify(back, &n), HV_EBADSIG);
		back->reason = was;
	}
	hv_retract_free(&back);
	cr_assert_null(back);
	free(buf);
	free(r.signature.data);
	hv_keys_destroy(&k);
	hv_keys_destroy(&other);
}

Test(retract, refuses_to_unpack_a_free_text_reason)
{
	Haven__Retraction r;
	uint8_t buf[512];
	size_t len;
	Haven__Retraction *back = NULL;

	fill(&r);
	r.reason = "The child was named wrongly";
	len = haven__retraction__pack(&r, buf);
	cr_assert_eq(hv_retract_unpack(buf, len, &back), HV_EMALFORMED);
	cr_assert_null(back);
}
