/*
 * libFuzzer harness for proof documents (lib/hv_proof, SPEC §9): the bytes
 * are the JSON file `haven audit check-proof` reads, of either format.
 * Whatever parses is verified with the fixed broker key (fuzz_keys.h; the
 * seeds are signed by it, so mutations of them reach the Merkle and record
 * checks) and written back as JSON, which must parse again.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/proof/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_keys.h"
#include "hv_proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const hv_keys *broker = fuzz_keys(FUZZ_KEY_BROKER);
	struct hv_audit_rec rec;
	struct hv_errdetail d;
	hv_proof *p = NULL, *again = NULL;
	char *text = NULL;

	if (hv_proof_from_json((const char *)data, size, &p, &d) != HV_OK)
		return 0;
	(void)hv_proof_verify(p, broker->pub.sign, &rec, &d);
	if (hv_proof_to_json(p, &text) != HV_OK)
		abort();
	if (hv_proof_from_json(text, strlen(text), &again, &d) != HV_OK) {
		fprintf(stderr,
		    "a proof written by hv_proof_to_json does not "
		    "read back: %s\n",
		    d.message);
		abort();
	}
	hv_proof_destroy(&again);
	hv_proof_destroy(&p);
	free(text);
	return 0;
}
