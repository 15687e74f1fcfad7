/*
 * libFuzzer harness for envelopes as a recipient or the broker meets them
 * (SPEC §4.4, §6): the bytes are a packed Envelope. Whatever hv_envelope_
 * unpack accepts must pack to an envelope that unpacks with the same
 * signed bytes, have its signature checked with the fixed sender key
 * (fuzz_keys.h), be opened as the fixed recipient when it verifies, be
 * copied, and become an audit record that packs and unpacks: the broker
 * audits every envelope it accepts, so an accepted envelope the audit log
 * cannot hold aborts.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/envelope/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_keys.h"
#include "hv_auditlog.h"
#include "hv_envelope.h"
#include "hv_wire.h"

#define FUZZ_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const hv_keys *snd = fuzz_keys(FUZZ_KEY_SENDER);
	const hv_keys *rcpt = fuzz_keys(FUZZ_KEY_RECIPIENT);
	struct hv_audit_rec rec, back;
	struct hv_errdetail d;
	hv_envelope env, copy;
	uint8_t *out = NULL, *payload = NULL, *canon = NULL;
	size_t len = 0, plen = 0, clen = 0;

	if (hv_envelope_unpack(data, size, FUZZ_MAX, &env, &d) != HV_OK)
		return 0;
	if (hv_envelope_pack(&env, &out, &len) != HV_OK ||
	    hv_envelope_canonical(&env, &canon, &clen) != HV_OK)
		abort();
	/*
	 * An absent basis or decision nonce packs back as an empty one, so
	 * the bytes may differ; what is signed may not.
	 */
	if (len != size || memcmp(out, data, size) != 0) {
		uint8_t *canon2 = NULL;
		size_t clen2 = 0;

		if (hv_envelope_unpack(out, len, FUZZ_MAX, &copy, &d) !=
		        HV_OK ||
		    hv_envelope_canonical(&copy, &canon2, &clen2) != HV_OK ||
		    clen2 != clen || memcmp(canon2, canon, clen) != 0) {
			fprintf(stderr,
			    "an accepted envelope packs to one "
			    "that signs differently\n");
			abort();
		}
		free(canon2);
		hv_envelope_clear(&copy);
	}
	free(out);
	free(canon);
	if (hv_envelope_verify(&env, snd->pub.sign) == HV_OK &&
	    hv_envelope_open(&env, FUZZ_RECIPIENT, rcpt, snd->pub.sign,
	        &payload, &plen) == HV_OK)
		hv_payload_free(payload, plen);
	(void)hv_envelope_recipient_index(&env, FUZZ_RECIPIENT);
	if (hv_envelope_copy(&copy, &env) != HV_OK)
		abort();
	hv_envelope_clear(&copy);

	hv_audit_rec_from_envelope(&rec, &env, "SUBMITTED");
	rec.seq = 1;
	rec.time_ms = 1767225600000LL;
	if (hv_audit_rec_pack(&rec, &out, &len) != HV_OK) {
		fprintf(stderr, "an accepted envelope cannot be audited\n");
		abort();
	}
	if (hv_audit_rec_unpack(out, len, &back) != HV_OK) {
		fprintf(stderr,
		    "an audited envelope's record does not read "
		    "back\n");
		abort();
	}
	free(out);
	hv_envelope_clear(&env);
	return 0;
}
