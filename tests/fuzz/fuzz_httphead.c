/*
 * libFuzzer harness for the agent API's request-head reader (hv_httphead):
 * the bytes are what a client sent on a new connection. Whatever they
 * are, the end found lies inside them, a field found lies inside the head,
 * and the check answers a status the gate knows, with a sentence.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Ilib tests/fuzz/fuzz_httphead.c lib/hv_httphead.c lib/hv_err.c \
 *       -o fuzz_httphead
 *
 * A seed: "GET /v1/health HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv_httphead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *v = NULL;
	struct hv_errdetail d;
	size_t end = hv_httphead_end(buf, size), vlen = 0;
	unsigned status = 0;
	hv_err e;

	if (end > size)
		abort();
	if (end == 0)
		return 0;
	if (hv_httphead_field(buf, end, "Authorization", &v, &vlen) == 1 &&
	    (v < buf || v + vlen > buf + end))
		abort();
	hv_errclear(&d);
	e = hv_httphead_check(buf, end, &status, &d);
	if (e != HV_OK && (d.message[0] == '\0' || (status != 400 &&
	    status != 411 && status != 413 && status != 505)))
		abort();
	return 0;
}
