/*
 * Fixed keys shared by the libFuzzer harnesses and the seed corpus
 * generator (corpus.c): a seed signed or sealed by the generator verifies
 * and opens inside a harness, so mutations start from inputs that reach
 * the deepest checks instead of stopping at the first signature.
 *
 * These keys are derived from constant seeds and protect nothing: they
 * exist only for fuzzing.
 */
#ifndef HV_FUZZ_KEYS_H
#define HV_FUZZ_KEYS_H

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_keys.h"

#define FUZZ_SENDER "police.avon"
#define FUZZ_RECIPIENT "social-care.bristol"

enum fuzz_key {
	FUZZ_KEY_SENDER = 1,
	FUZZ_KEY_RECIPIENT,
	FUZZ_KEY_ROOT,
	FUZZ_KEY_BROKER
};

/*
 * The key pairs of `which`, made once per process in sodium_malloc'd
 * memory that lives until exit. Aborts if libsodium cannot start.
 */
static inline const hv_keys *
fuzz_keys(enum fuzz_key which)
{
	static hv_keys *k[FUZZ_KEY_BROKER + 1];
	uint8_t seed[32];

	if (k[which] != NULL)
		return k[which];
	if (sodium_init() < 0 ||
	    (k[which] = sodium_malloc(sizeof(hv_keys))) == NULL)
		abort();
	memset(k[which], 0, sizeof(hv_keys)); /* no previous keys */
	memset(seed, 0x40 + (int)which, sizeof(seed));
	crypto_sign_seed_keypair(k[which]->pub.sign, k[which]->sign_secret,
	    seed);
	seed[0] ^= 0x01;
	crypto_box_seed_keypair(k[which]->pub.box, k[which]->box_secret, seed);
	seed[0] ^= 0x03;
	crypto_box_seed_keypair(k[which]->pub.curve, k[which]->curve_secret,
	    seed);
	return k[which];
}

#endif
