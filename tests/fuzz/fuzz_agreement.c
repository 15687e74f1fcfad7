/*
 * libFuzzer harness for the agreement parser (SPEC §5): the bytes become an
 * agreement file beside a keys/ folder holding broker.b.pub, police.a.pub and
 * ig.a.pub, so that inputs can get past broker and node lines. Whatever
 * parses must also sign and load back as a directory with the same counts:
 * the parser and the loader hold agreements to the same rules, and a
 * disagreement aborts.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Ilib -Ibuild/proto tests/fuzz/fuzz_agreement.c \
 *       lib/hv_directory.c lib/hv_agreement.c lib/hv_policy.c \
 *       lib/hv_keys.c lib/hv_err.c \
 *       lib/hv_config.c lib/hv_util.c lib/hv_log.c \
 *       build/proto/haven.pb-c.c \
 *       $(pkg-config --libs libsodium libprotobuf-c inih) -o fuzz_agreement
 *
 * A seed corpus: dist/agreement.example with its paths changed to keys/.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "hv_directory.h"
#include "hv_keys.h"
#include "hv_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[96];
static hv_keys *root;

static char dir[] = "/tmp/hv-fuzz-agreement-XXXXXX";

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes the folder and its files when the fuzzer exits. */
static void
cleanup(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes the folder, its key files and a root key, once per process. */
static int
prepare(void)
{
	static const char *const ids[] = { "broker.b", "police.a", "ig.a" };
	char keys[80];

	if (path[0] != '\0')
		return 0;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return -1;
	atexit(cleanup);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		hv_keys *k = NULL;

		if (hv_keys_generate(&k) != HV_OK ||
		    hv_keys_save(k, ids[i], keys, NULL, NULL) != HV_OK)
			return -1;
		hv_keys_destroy(&k);
	}
	if (hv_keys_generate(&root) != HV_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/agreement.txt", dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_errdetail d;
	hv_directory *dir = NULL, *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (prepare() != 0)
		abort();
	if (hv_write_file_atomic(path, data, size, 0600) != 0)
		abort();
	if (hv_agreement_parse(path, &dir, &d) != HV_OK)
		return 0;
	if (hv_directory_sign(dir, root, &buf, &len) != HV_OK)
		abort();
	if (hv_directory_load(buf, len, root->pub.sign, &back, &d) != HV_OK) {
		fprintf(stderr, "parsed agreement does not load: %s\n",
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
