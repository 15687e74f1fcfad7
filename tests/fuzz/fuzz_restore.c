/*
 * libFuzzer harness for the restore notice parser (lib/hv_restore): the
 * bytes are offered to hv_restore_parse and hv_restore_verify exactly as a
 * notice file or a TreeHead's restore_notice field arrives. An accepted
 * notice must hold a NUL-terminated partnership and reason within their
 * bounds, and verifying (against a fixed key that signed none of the
 * inputs) must never succeed.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ibuild/proto \
 *       tests/fuzz/fuzz_restore.c build/fuzz/libhaven.a \
 *       $(pkg-config --cflags --libs libprotobuf-c libsodium lmdb inih)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_restore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t key[HV_SIGN_PUBLIC_LEN] = { 0x5a };
	struct hv_restore_notice n;
	struct hv_errdetail d;

	if (sodium_init() < 0)
		return 0;
	if (hv_restore_parse(data, size, &n, &d) == HV_OK &&
	    (strlen(n.partnership) == 0 ||
	        strlen(n.partnership) > HV_RESTORE_PARTNERSHIP_MAX ||
	        strlen(n.reason) == 0 ||
	        strlen(n.reason) > HV_RESTORE_REASON_MAX))
		abort();
	if (hv_restore_verify(data, size, key, "fuzz", &n, &d) == HV_OK)
		abort();
	return 0;
}
