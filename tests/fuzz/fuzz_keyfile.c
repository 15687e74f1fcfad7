/*
 * libFuzzer harness for the key file parsers: the bytes become a 0600 file
 * that is loaded as a node's secret key file, as a public key file and as a
 * subject key file. No passphrase is given, so a sealed file is parsed and
 * checked but the (deliberately slow) Argon2id step is never reached.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Ilib tests/fuzz/fuzz_keyfile.c lib/hv_keys.c lib/hv_err.c \
 *       lib/hv_config.c lib/hv_util.c lib/hv_log.c \
 *       $(pkg-config --libs libsodium inih) -o fuzz_keyfile
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "hv_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static char dir[] = "/tmp/hv-fuzz-keyfile-XXXXXX";

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

/* Creates the folder the input file lives in, once per process. */
static int
prepare(void)
{
	if (path[0] != '\0')
		return 0;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return -1;
	atexit(cleanup);
	/* Not named *.key, so no neighbouring .pub file is consulted. */
	snprintf(path, sizeof(path), "%s/input", dir);
	return 0;
}

static int
write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_errdetail d;
	struct hv_pubkeys pub;
	struct hv_prev_signs prev;
	hv_keys *k = NULL;
	uint8_t *subject = NULL;

	if (prepare() != 0 || write_input(data, size) != 0)
		return 0;
	if (hv_keys_load(path, NULL, &k, &d) == HV_OK && k == NULL)
		abort();
	hv_keys_destroy(&k);
	(void)hv_pubkeys_load(path, &pub, &d);
	/* The previous signing keys must come newest first, within bounds. */
	if (hv_pubkeys_load_prev(path, &pub, &prev, &d) == HV_OK) {
		if (prev.n > HV_PREV_KEYS_MAX)
			abort();
		for (size_t i = 1; i < prev.n; i++)
			if (prev.k[i].until_ms > prev.k[i - 1].until_ms)
				abort();
	}
	if (hv_subject_key_load(path, &subject, &d) == HV_OK && subject == NULL)
		abort();
	hv_secret_free(subject);
	return 0;
}
