/*
 * crypto_bench — the libsodium ceiling of one core: envelopes sealed and
 * signed, verified, and verified and opened per second, for a 1 KiB payload
 * to one recipient (SPEC §11).
 *
 * These are the exact calls the daemons make per message: the sending agent
 * seals and signs (hv_envelope_seal), the broker verifies
 * (hv_envelope_verify), the receiving agent verifies and opens
 * (hv_envelope_open). Keys are generated in memory; nothing touches disk.
 *
 *   crypto_bench [SECONDS_PER_FIGURE]        (default 2)
 * Not run by `make test`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "hv_envelope.h"
#include "hv_keys.h"
#include "hv_receipt.h"
#include "hv_util.h"

/* One 1 KiB padding bucket, as e2e_bench and broker_bench. */
#define PAYLOAD (HV_PAD_MIN - 1)
#define MAX_OPS 2000000

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "crypto_bench: %s\n", what);
	exit(1);
}

/* A sealed envelope from police.bench to social-care.bench. */
static void
seal_one(hv_envelope *env, const uint8_t *payload, const hv_keys *from,
    const hv_keys *to)
{
	const uint8_t(*box)[HV_BOX_KEY_LEN] =
	    (const uint8_t(*)[HV_BOX_KEY_LEN])to->pub.box;

	memset(env, 0, sizeof(*env));
	hv_envelope_new_id(env->id);
	snprintf(env->sender, sizeof(env->sender), "police.bench");
	snprintf(env->recipients[0], HV_NODE_MAX + 1, "social-care.bench");
	env->n_recipients = 1;
	snprintf(env->type, sizeof(env->type), "REFERRAL");
	snprintf(env->priority, sizeof(env->priority), "ROUTINE");
	env->created = hv_now();
	snprintf(env->basis.consent, sizeof(env->basis.consent), "OBTAINED");
	snprintf(env->basis.art6, sizeof(env->basis.art6), "PUBLIC_TASK");
	snprintf(env->basis.art9, sizeof(env->basis.art9), "NONE");
	snprintf(env->basis.decided_by, sizeof(env->basis.decided_by), "bench");
	randombytes_buf(env->subject, sizeof(env->subject));
	if (hv_envelope_seal(env, payload, PAYLOAD, box, from) != HV_OK)
		die("hv_envelope_seal failed");
}

/* Prints and records one figure: n operations in us microseconds. */
static void
report(const char *figure, const char *key, const char *what, long n,
    int64_t us)
{
	double rate = n / (us / 1e6);
	char value[64];

	printf("| %-26s | %9ld | %7.2f | %10.0f | %8.1f |\n", what, n, us / 1e6,
	    rate, us / (double)n);
	snprintf(value, sizeof(value), "%.0f /s", rate);
	bench_figure(key, us / (double)n);
	bench_summary(figure, value,
	    "%.1f µs each, one core, %d-byte "
	    "payload",
	    us / (double)n, PAYLOAD);
}

/*
 * The rest of the crypto on a message's path, which the three figures above
 * leave out: the sending agent seals the justification to the partnership's
 * ig.* node (as hv_justification_seal: a fresh key sealed with
 * crypto_box_seal, the text with XChaCha20-Poly1305; one ig node, as in
 * the benches' partnerships), and each message gets two receipts from the
 * broker (ACCEPTED and DELIVERED), each signed there (hv_receipt_sign) and
 * verified by the sending agent (hv_receipt_verify).
 */
static void
path_crypto(const hv_keys *broker, const hv_keys *ig, int64_t budget)
{
	static const char text[] =
	    "Seeking consent would place the child at increased risk.";
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t sealed_key[crypto_box_SEALBYTES + sizeof(key)];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t ct[sizeof(text) + crypto_aead_xchacha20poly1305_ietf_ABYTES];
	uint8_t id[HV_ID_LEN];
	Haven__Receipt r = HAVEN__RECEIPT__INIT;
	int64_t t0, t;
	long n;

	randombytes_buf(id, sizeof(id));
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		if (crypto_box_seal(sealed_key, key, sizeof(key),
		        ig->pub.box) != 0)
			die("crypto_box_seal failed");
		randombytes_buf(nonce, sizeof(nonce));
		crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL,
		    (const uint8_t *)text, sizeof(text), id, sizeof(id), NULL,
		    nonce, key);
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: justification sealed to one ig node", "just_seal_us",
	    "justification seal", n, t - t0);
	r.id.data = id;
	r.id.len = sizeof(id);
	r.status = "ACCEPTED";
	r.at = hv_now_ms();
	r.audit_seq = 1;
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		if (hv_receipt_sign(&r, broker) != HV_OK)
			die("hv_receipt_sign failed");
		free(r.signature.data);
		r.signature.data = NULL;
		r.signature.len = 0;
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: receipt sign (broker)", "rcpt_sign_us",
	    "receipt sign", n, t - t0);
	if (hv_receipt_sign(&r, broker) != HV_OK)
		die("hv_receipt_sign failed");
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		if (hv_receipt_verify(&r, broker->pub.sign) != HV_OK)
			die("hv_receipt_verify failed");
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: receipt verify (sender)", "rcpt_verify_us",
	    "receipt verify", n, t - t0);
	free(r.signature.data);
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	int64_t budget, t0, t;
	uint8_t payload[PAYLOAD];
	hv_keys *police = NULL, *social = NULL;
	hv_envelope env;
	long n;

	if (secs <= 0 || secs > 60 || sodium_init() < 0)
		die("usage: crypto_bench [SECONDS_PER_FIGURE]");
	budget = (int64_t)(secs * 1e6);
	if (hv_keys_generate(&police) != HV_OK ||
	    hv_keys_generate(&social) != HV_OK)
		die("cannot generate keys");
	randombytes_buf(payload, sizeof(payload));

	printf("libsodium: envelope operations, %d-byte payload, one "
	       "recipient, one thread\n\n",
	    PAYLOAD);
	printf(
	    "| operation                  | ops       | seconds | ops/s      "
	    "| µs/op    |\n");
	printf("|----------------------------|-----------|---------|"
	       "------------|----------|\n");

	/* Seal and sign: what the sending agent does for each 202. */
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		seal_one(&env, payload, police, social);
		hv_envelope_clear(&env);
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: envelope seal + sign (1 KiB)", "seal_us",
	    "seal + sign", n, t - t0);

	/* Verify only: what the broker does for each Submit. */
	seal_one(&env, payload, police, social);
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		if (hv_envelope_verify(&env, police->pub.sign) != HV_OK)
			die("hv_envelope_verify failed");
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: envelope verify (broker)", "verify_us", "verify", n,
	    t - t0);

	/* Verify and open: what the receiving agent does per delivery. */
	t0 = bench_now_us();
	for (n = 0, t = t0; n < MAX_OPS && t - t0 < budget; n++) {
		uint8_t *out = NULL;
		size_t len = 0;

		if (hv_envelope_open(&env, "social-care.bench", social,
		        police->pub.sign, &out, &len) != HV_OK ||
		    len != PAYLOAD)
			die("hv_envelope_open failed");
		hv_payload_free(out, len);
		if ((n & 15) == 0)
			t = bench_now_us();
	}
	t = bench_now_us();
	report("libsodium: envelope verify + open (1 KiB)", "open_us",
	    "verify + open", n, t - t0);
	path_crypto(police, social, budget);
	printf("\n");

	hv_envelope_clear(&env);
	hv_keys_destroy(&police);
	hv_keys_destroy(&social);
	return 0;
}
