/*
 * libFuzzer harness for the console's form decoding and HTML escaping
 * (lib/hv_console): any bytes as a log-in form body must decode or be
 * refused, never read past the body, write past the buffer or crash; and
 * escaped text must hold no markup character. Build with `make fuzz`; run
 * build/fuzz/fuzz_console_form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv_console.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "name", "password", "csrf", "" };
	char out[80], *copy, *esc;
	long n;

	/* An exact-size copy, so reading one byte past the body is caught. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = hv_form_get(copy, size, names[i], out, sizeof(out));
		if (n >= 0 &&
		    ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n))
			abort();
	}
	free(copy);
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if ((esc = hv_html_escape(copy)) != NULL &&
	    strpbrk(esc, "<>\"'") != NULL)
		abort();
	free(esc);
	free(copy);
	return 0;
}
