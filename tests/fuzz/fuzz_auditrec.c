/*
 * libFuzzer harness for audit records (lib/hv_auditlog): the bytes are a
 * packed haven.AuditRecord as `haven audit --db`, `audit verify` and a
 * proof read it from a store or a file someone may have edited. A record
 * that decodes must pack back to exactly the same bytes (one record, one
 * encoding), or the harness aborts.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/auditrec/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_auditlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_audit_rec rec;
	uint8_t *out = NULL;
	size_t len = 0;

	if (hv_audit_rec_unpack(data, size, &rec) != HV_OK)
		return 0;
	if (hv_audit_rec_pack(&rec, &out, &len) != HV_OK) {
		fprintf(stderr, "a record that decodes does not encode\n");
		abort();
	}
	if (len != size || memcmp(out, data, size) != 0) {
		fprintf(stderr, "a record re-encodes differently\n");
		abort();
	}
	free(out);
	return 0;
}
