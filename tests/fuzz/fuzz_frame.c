/*
 * libFuzzer harness for the wire parsers: every input is offered to
 * hv_frame_unpack and hv_envelope_unpack, exactly as bytes arrive from a
 * ZeroMQ peer. Anything accepted is packed again, so that the packers run
 * on whatever the unpackers let through, and an accepted envelope is run
 * through signature verification (which must not crash on any field).
 *
 * Build (not part of `make test`), for instance:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ibuild/proto \
 *       tests/fuzz/fuzz_frame.c lib/hv_wire.c lib/hv_envelope.c \
 *       lib/hv_util.c lib/hv_err.c lib/hv_config.c build/proto/haven.pb-c.c \
 *       $(pkg-config --cflags --libs libprotobuf-c libsodium inih)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "hv_envelope.h"
#include "hv_wire.h"

/* Large enough that the size cap never hides a parser path. */
#define FUZZ_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_key[HV_SIGN_PUBLIC_LEN];
	struct hv_errdetail d;
	Haven__Frame *f = NULL;
	hv_envelope env;
	uint8_t *out;
	size_t len;

	if (sodium_init() < 0)
		abort();
	if (hv_frame_unpack(data, size, FUZZ_MAX, &f, &d) == HV_OK) {
		if (hv_frame_pack(f, &out, &len) == HV_OK) {
			/* Only canonical encodings are accepted. */
			if (len != size)
				abort();
			free(out);
		}
		hv_frame_free(&f);
	}
	if (hv_envelope_unpack(data, size, FUZZ_MAX, &env, &d) == HV_OK) {
		if (hv_envelope_pack(&env, &out, &len) == HV_OK)
			free(out);
		(void)hv_envelope_verify(&env, zero_key);
		hv_envelope_clear(&env);
	}
	return 0;
}
