/*
 * libFuzzer harness for the agent API's HTTP head reader (lib/hv_httphead):
 * the bytes are what a client sent on the socket, NUL bytes included. The
 * end of the head must lie inside the input; a complete head is checked
 * and its fields looked up, and every value found must lie inside the
 * head, or the harness aborts.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/httphead/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hv_httphead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "authorization", "Content-Length",
		"HOST", "transfer-encoding", "" };
	const char *head = (const char *)data, *val;
	struct hv_errdetail d;
	unsigned status = 0;
	size_t end, vlen;

	if ((end = hv_httphead_end(head, size)) == 0)
		return 0;
	if (end > size)
		abort();
	if (hv_httphead_check(head, end, &status, &d) != HV_OK &&
	    (status < 400 || status > 599))
		abort();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		val = NULL;
		vlen = 0;
		if (hv_httphead_field(head, end, names[i], &val, &vlen) == 1 &&
		    (val < head || val + vlen > head + end))
			abort();
	}
	return 0;
}
