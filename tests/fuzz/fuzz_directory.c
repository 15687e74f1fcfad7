/*
 * libFuzzer harness for the signed directory (lib/hv_directory, SPEC §5):
 * the bytes are a packed SignedDirectory as the broker and agents read it
 * at start and on SIGHUP. Each input is loaded with the fixed root key
 * (fuzz_keys.h), so that the seeds, signed by that key, reach the field
 * checks, and decoded without the signature check (as `haven directory
 * show` does), so that mutations reach them too. Whatever decodes must
 * sign, load back with the same counts, answer lookups for each of its
 * nodes, and be compared with itself as a reload.
 *
 * Build with `make fuzz`; seeds in tests/fuzz/corpus/directory/ (corpus.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_keys.h"
#include "hv_directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise(const hv_directory *dir)
{
	uint8_t digest[HV_DIRECTORY_DIGEST_LEN];

	if (hv_directory_digest(dir, digest) != HV_OK)
		abort();
	(void)hv_directory_partnership(dir);
	(void)hv_directory_version(dir);
	(void)hv_directory_broker(dir);
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);

		if (hv_directory_node(dir, n->id) == NULL)
			abort();
		(void)hv_directory_node_by_curve(dir, n->keys.curve);
		(void)hv_directory_scope_allows(n, "health");
	}
	for (size_t i = 0; i < hv_directory_rule_count(dir); i++)
		(void)hv_directory_rule_at(dir, i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const hv_keys *root = fuzz_keys(FUZZ_KEY_ROOT);
	struct hv_errdetail d;
	hv_directory *dir = NULL, *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (hv_directory_load(data, size, root->pub.sign, &dir, &d) == HV_OK) {
		exercise(dir);
		if (hv_directory_check_newer(dir, dir, &d) != HV_OK) {
			fprintf(stderr,
			    "a directory is a rollback of itself: "
			    "%s\n",
			    d.message);
			abort();
		}
		hv_directory_destroy(&dir);
	}
	if (hv_directory_decode_unverified(data, size, &dir, &d) != HV_OK)
		return 0;
	exercise(dir);
	if (hv_directory_sign(dir, root, &buf, &len) != HV_OK)
		abort();
	if (hv_directory_load(buf, len, root->pub.sign, &back, &d) != HV_OK) {
		fprintf(stderr,
		    "a decoded directory does not load once "
		    "signed: %s\n",
		    d.message);
		abort();
	}
	if (hv_directory_node_count(back) != hv_directory_node_count(dir) ||
	    hv_directory_rule_count(back) != hv_directory_rule_count(dir))
		abort();
	hv_directory_destroy(&back);
	hv_directory_destroy(&dir);
	free(buf);
	return 0;
}
