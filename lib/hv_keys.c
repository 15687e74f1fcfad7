/*
 * hv_keys — a node's three key pairs and their files (SPEC §3): generating
 * them, writing NODE.key and NODE.pub, and loading them back with every
 * check a load makes (the secrets' public halves, listed public keys, the
 * .pub beside the .key).
 *
 * Writing goes through hv_secret.c (0600, O_EXCL, fsync'd, never
 * overwriting) and reading through its descriptor-checked secret reader;
 * passphrase sealing is hv_keyseal.c's. Secrets live in sodium_malloc'd
 * memory and are wiped on destroy. This module never logs and never prints
 * a secret; error sentences name the file, the line and the field, never
 * the value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "hv_config.h"
#include "hv_keys_int.h"
#include "hv_util.h"

/* Joins dir and name into a malloc'd path, without doubling a slash. */
static char *
path_join(const char *dir, const char *name, const char *suffix)
{
	char *out;
	size_t n = strlen(dir);
	const char *sep = (n > 0 && dir[n - 1] == '/') ? "" : "/";

	if (asprintf(&out, "%s%s%s%s", dir, sep, name, suffix) < 0)
		return NULL;
	return out;
}

/* ---- key pairs ---------------------------------------------------------- */

void
hv_keyfile_fields(struct hv_kv *kv)
{
	static const char *const names[HV_KF_PREV_BOX] = {
		[HV_KF_NODE] = "node",
		[HV_KF_SIGN_S] = "sign_secret",
		[HV_KF_BOX_S] = "box_secret",
		[HV_KF_CURVE_S] = "curve_secret",
		[HV_KF_SIGN_P] = "sign_public",
		[HV_KF_BOX_P] = "box_public",
		[HV_KF_CURVE_P] = "curve_public",
		[HV_KF_KDF] = "kdf",
		[HV_KF_SALT] = "kdf_salt",
		[HV_KF_OPS] = "kdf_opslimit",
		[HV_KF_MEM] = "kdf_memlimit",
		[HV_KF_NONCE] = "nonce",
		[HV_KF_SEALED] = "sealed",
	};

	for (int i = 0; i < HV_KF_COUNT; i++) {
		kv[i].name = i < HV_KF_PREV_BOX ? names[i] :
		    i < HV_KF_PREV_SEALED       ? "previous_box_secret" :
		                                  "previous_box_sealed";
		kv[i].value = NULL;
		kv[i].line = 0;
	}
}

hv_err
hv_sign_verify_at(const uint8_t current[HV_SIGN_PUBLIC_LEN],
    const struct hv_prev_signs *prev, const uint8_t *msg, size_t len,
    const uint8_t sig[64], int64_t at_ms)
{
	if (crypto_sign_verify_detached(sig, msg, len, current) == 0)
		return HV_OK;
	for (size_t i = 0; prev != NULL && i < prev->n; i++)
		if (prev->k[i].until_ms >= at_ms &&
		    crypto_sign_verify_detached(sig, msg, len,
		        prev->k[i].sign) == 0)
			return HV_OK;
	return HV_EBADSIG;
}

static hv_keys *
keys_alloc(void)
{
	hv_keys *k;

	if (hv_sodium_ready() != HV_OK)
		return NULL;
	if ((k = sodium_malloc(sizeof(*k))) != NULL)
		memset(k, 0, sizeof(*k));
	return k;
}

void
hv_keys_destroy(hv_keys **k)
{
	if (k == NULL || *k == NULL)
		return;
	sodium_free(*k);
	*k = NULL;
}

hv_err
hv_keys_generate(hv_keys **out)
{
	hv_keys *k;

	if ((k = keys_alloc()) == NULL)
		return HV_ENOMEM;
	if (crypto_sign_keypair(k->pub.sign, k->sign_secret) != 0 ||
	    crypto_box_keypair(k->pub.box, k->box_secret) != 0 ||
	    crypto_box_keypair(k->pub.curve, k->curve_secret) != 0) {
		hv_keys_destroy(&k);
		return HV_ESYS;
	}
	*out = k;
	return HV_OK;
}

/* Fills buf with the text of the .key file; buf is a secret buffer. */
static hv_err
key_text(const hv_keys *k, const char *node_id, const char *passphrase,
    char *buf, size_t cap, size_t *len, struct hv_errdetail *d)
{
	hv_err err;
	int bad = 0;

	*len = 0;
	bad |= hv_keyfile_add(buf, cap, len,
	    "# Haven node key for %s "
	    "\xe2\x80\x94 secret, keep mode 0600\n",
	    node_id);
	if (passphrase != NULL) {
		err =
		    hv_keys_seal_text(k, node_id, passphrase, buf, cap, len, d);
		return err == HV_OK && bad ? HV_ESYS : err;
	}
	bad |= hv_keyfile_add(buf, cap, len, "node = %s\n", node_id);
	bad |= hv_keyfile_add_b64(buf, cap, len, "sign_secret", k->sign_secret,
	    sizeof(k->sign_secret));
	bad |= hv_keyfile_add_b64(buf, cap, len, "box_secret", k->box_secret,
	    sizeof(k->box_secret));
	bad |= hv_keyfile_add_b64(buf, cap, len, "curve_secret",
	    k->curve_secret, sizeof(k->curve_secret));
	for (size_t i = 0; i < k->n_prev_box; i++)
		bad |= hv_keyfile_add_b64(buf, cap, len, "previous_box_secret",
		    k->prev_box_secret[i], HV_BOX_KEY_LEN);
	return bad ? HV_ESYS : HV_OK;
}

static hv_err
pub_text(const struct hv_pubkeys *pub, const struct hv_prev_signs *prev,
    const char *node_id, char *buf, size_t cap, size_t *len)
{
	char iso[32];

	int bad = 0;

	*len = 0;
	bad |= hv_keyfile_add(buf, cap, len, "# Haven public keys for %s\n",
	    node_id);
	bad |= hv_keyfile_add(buf, cap, len, "node = %s\n", node_id);
	bad |= hv_keyfile_add_b64(buf, cap, len, "sign_public", pub->sign,
	    sizeof(pub->sign));
	bad |= hv_keyfile_add_b64(buf, cap, len, "box_public", pub->box,
	    sizeof(pub->box));
	bad |= hv_keyfile_add_b64(buf, cap, len, "curve_public", pub->curve,
	    sizeof(pub->curve));
	if (prev->n > 0)
		bad |= hv_keyfile_add(buf, cap, len,
		    "# Signing keys of earlier "
		    "rotations, newest first, each with the time it stopped "
		    "signing.\n");
	for (size_t i = 0; i < prev->n; i++) {
		/* "name = BASE64" then " TIME" on the same line. */
		bad |= hv_keyfile_add_b64(buf, cap, len, "previous_sign_public",
		    prev->k[i].sign, HV_SIGN_PUBLIC_LEN);
		if (bad)
			break;
		(*len)--;
		hv_time_iso(prev->k[i].until_ms, iso, sizeof(iso));
		bad |= hv_keyfile_add(buf, cap, len, " %s\n", iso);
	}
	return bad ? HV_ESYS : HV_OK;
}

hv_err
hv_keys_save(const hv_keys *k, const char *node_id, const char *dir,
    const char *passphrase, struct hv_errdetail *d)
{
	char *key_path = NULL, *pub_path = NULL, *text = NULL;
	char pub[4096];
	size_t text_len, pub_len;
	hv_err err;

	if ((err = hv_sodium_ready()) != HV_OK)
		return err;
	if (node_id == NULL || !hv_node_id_valid(node_id))
		return hv_errset(d, HV_EUSAGE, "id",
		    "The node id is not "
		    "ROLE.NAME in lowercase a-z, 0-9 and dashes.");
	if (dir == NULL || *dir == '\0')
		dir = ".";
	key_path = path_join(dir, node_id, ".key");
	pub_path = path_join(dir, node_id, ".pub");
	text = sodium_malloc(HV_KEYFILE_MAX);
	if (key_path == NULL || pub_path == NULL || text == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if ((err = hv_keyfile_mkdir_p(dir, d)) != HV_OK ||
	    (err = hv_keyfile_absent(key_path, d)) != HV_OK ||
	    (err = hv_keyfile_absent(pub_path, d)) != HV_OK)
		goto out;
	if ((err = key_text(k, node_id, passphrase, text, HV_KEYFILE_MAX,
	         &text_len, d)) != HV_OK ||
	    (err = pub_text(&k->pub, &k->prev_sign, node_id, pub, sizeof(pub),
	         &pub_len)) != HV_OK)
		goto out;
	if ((err = hv_keyfile_create(key_path, text, text_len, 1, d)) != HV_OK)
		goto out;
	if ((err = hv_keyfile_create(pub_path, pub, pub_len, 0, d)) != HV_OK) {
		/* Never leave half a pair behind. */
		unlink(key_path);
		goto out;
	}
	hv_keyfile_sync_dir(key_path);
out:
	hv_secret_free(text);
	free(key_path);
	free(pub_path);
	return err;
}

/* ---- loading ------------------------------------------------------------ */

/*
 * Derives the public halves from the secrets. An Ed25519 secret carries its
 * public key in its second half; it must be the one its seed gives, or the
 * file was altered.
 */
static hv_err
derive_publics(hv_keys *k, const struct hv_kv *kv, const char *path,
    struct hv_errdetail *d)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t *sk;
	int same;

	if ((sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		return HV_ENOMEM;
	crypto_sign_ed25519_sk_to_seed(seed, k->sign_secret);
	crypto_sign_seed_keypair(pk, sk, seed);
	same = sodium_memcmp(sk, k->sign_secret, HV_SIGN_SECRET_LEN) == 0;
	sodium_memzero(seed, sizeof(seed));
	sodium_free(sk);
	if (!same) {
		if (kv[HV_KF_SIGN_S].value != NULL)
			return hv_errset(d, HV_EMALFORMED, "sign_secret",
			    "%s:%d: sign_secret is inconsistent: its public "
			    "half does not match its seed.",
			    path, kv[HV_KF_SIGN_S].line);
		return hv_errset(d, HV_EMALFORMED, "sign_secret",
		    "%s: the "
		    "sealed sign_secret is inconsistent.",
		    path);
	}
	crypto_sign_ed25519_sk_to_pk(k->pub.sign, k->sign_secret);
	if (crypto_scalarmult_base(k->pub.box, k->box_secret) != 0 ||
	    crypto_scalarmult_base(k->pub.curve, k->curve_secret) != 0)
		return hv_errset(d, HV_EMALFORMED, "box_secret",
		    "%s: a secret "
		    "key is not usable.",
		    path);
	for (size_t i = 0; i < k->n_prev_box; i++)
		if (crypto_scalarmult_base(k->prev_box_public[i],
		        k->prev_box_secret[i]) != 0)
			return hv_errset(d, HV_EMALFORMED,
			    "previous_box_secret",
			    "%s: previous payload key "
			    "%zu is not usable.",
			    path, i + 1);
	return HV_OK;
}

/* Optional *_public lines in a .key file must match the derived keys. */
static hv_err
check_listed_publics(const hv_keys *k, const struct hv_kv *kv, const char *path,
    struct hv_errdetail *d)
{
	const uint8_t *have[3] = { k->pub.sign, k->pub.box, k->pub.curve };
	uint8_t listed[32];
	hv_err err;

	for (int i = 0; i < 3; i++) {
		const struct hv_kv *f = &kv[HV_KF_SIGN_P + i];
		if (f->value == NULL)
			continue;
		if ((err = hv_kv_b64(f, path, listed, 32, d)) != HV_OK)
			return err;
		if (sodium_memcmp(listed, have[i], 32) != 0)
			return hv_errset(d, HV_EMALFORMED, f->name,
			    "%s:%d: %s "
			    "does not match the secret key.",
			    path, f->line, f->name);
	}
	return HV_OK;
}

/*
 * Reads one `previous_sign_public = BASE64 TIME` value (in place) into p.
 */
static hv_err
prev_sign_parse(struct hv_kv *f, const char *path, struct hv_prev_sign *p,
    struct hv_errdetail *d)
{
	char *sp = strchr(f->value, ' ');
	struct hv_kv key = *f;
	hv_err err;

	if (sp == NULL)
		return hv_errset(d, HV_EMALFORMED, f->name,
		    "%s:%d: %s must be "
		    "a key and the time it stopped signing, like 'BASE64 "
		    "2026-11-22T09:14:03Z'.",
		    path, f->line, f->name);
	*sp++ = '\0';
	while (*sp == ' ')
		sp++;
	if ((err = hv_kv_b64(&key, path, p->sign, HV_SIGN_PUBLIC_LEN, d)) !=
	    HV_OK)
		return err;
	if (hv_time_parse(sp, &p->until_ms) != 0 || p->until_ms <= 0)
		return hv_errset(d, HV_EMALFORMED, f->name,
		    "%s:%d: the time "
		    "after the key is not an ISO 8601 UTC time like "
		    "2026-11-22T09:14:03Z.",
		    path, f->line);
	return HV_OK;
}

/*
 * Reads a .pub file into pub and, when prev is not NULL, its previous
 * signing keys into prev; node (65 bytes) receives its node id.
 */
static hv_err
pub_parse(const char *path, struct hv_pubkeys *pub, struct hv_prev_signs *prev,
    char *node, struct hv_errdetail *d)
{
	struct hv_kv kv[4 + HV_PREV_KEYS_MAX] = {
		{ "node", NULL, 0 },
		{ "sign_public", NULL, 0 },
		{ "box_public", NULL, 0 },
		{ "curve_public", NULL, 0 },
	};
	struct hv_prev_signs ptmp;
	struct hv_pubkeys tmp;
	uint8_t *buf = NULL;
	size_t len;
	hv_err err;

	for (int i = 4; i < 4 + HV_PREV_KEYS_MAX; i++)
		kv[i].name = "previous_sign_public";
	memset(&ptmp, 0, sizeof(ptmp));

	if (hv_read_file(path, HV_KEYFILE_MAX, &buf, &len) != 0)
		return hv_errset(d, errno == EFBIG ? HV_EMALFORMED : HV_EIO,
		    "pub_file", "Cannot read %s: %s.", path,
		    errno == EFBIG ? "not a regular file of at most 8 KiB" :
		                     strerror(errno));
	if ((err = hv_kv_parse((char *)buf, len, path, kv, 4 + HV_PREV_KEYS_MAX,
	         d)) != HV_OK) {
		/* A .key given where a .pub belongs: say so, not "field". */
		if (strcmp(d->field, "sign_secret") == 0 ||
		    strcmp(d->field, "box_secret") == 0 ||
		    strcmp(d->field, "kdf_salt") == 0 ||
		    strcmp(d->field, "nonce") == 0 ||
		    strcmp(d->field, "sealed") == 0)
			hv_errset(d, err, "pub_file",
			    "%s is a secret key "
			    "file; give the node's public key file (NODE.pub) "
			    "instead.",
			    path);
		goto out;
	}
	if ((err = hv_kv_node(&kv[0], path, d)) != HV_OK ||
	    (err = hv_kv_b64(&kv[1], path, tmp.sign, sizeof(tmp.sign), d)) !=
	        HV_OK ||
	    (err = hv_kv_b64(&kv[2], path, tmp.box, sizeof(tmp.box), d)) !=
	        HV_OK ||
	    (err = hv_kv_b64(&kv[3], path, tmp.curve, sizeof(tmp.curve), d)) !=
	        HV_OK)
		goto out;
	for (int i = 4; i < 4 + HV_PREV_KEYS_MAX && kv[i].value != NULL; i++) {
		if ((err = prev_sign_parse(&kv[i], path, &ptmp.k[ptmp.n], d)) !=
		    HV_OK)
			goto out;
		if (ptmp.n > 0 &&
		    ptmp.k[ptmp.n].until_ms > ptmp.k[ptmp.n - 1].until_ms) {
			err = hv_errset(d, HV_EMALFORMED, kv[i].name,
			    "%s:%d: "
			    "previous signing keys must be listed newest "
			    "first.",
			    path, kv[i].line);
			goto out;
		}
		ptmp.n++;
	}
	*pub = tmp;
	if (prev != NULL)
		*prev = ptmp;
	if (node != NULL)
		snprintf(node, 65, "%s", kv[0].value);
out:
	free(buf);
	return err;
}

hv_err
hv_pubkeys_load(const char *path, struct hv_pubkeys *out,
    struct hv_errdetail *d)
{
	return pub_parse(path, out, NULL, NULL, d);
}

hv_err
hv_pubkeys_load_prev(const char *path, struct hv_pubkeys *out,
    struct hv_prev_signs *prev, struct hv_errdetail *d)
{
	return pub_parse(path, out, prev, NULL, d);
}

hv_err
hv_pubkeys_load_role(const char *path, const char *role, struct hv_pubkeys *out,
    struct hv_errdetail *d)
{
	struct hv_pubkeys pk;
	char node[65], got[65];
	hv_err e;

	if ((e = pub_parse(path, &pk, NULL, node, d)) != HV_OK)
		return e;
	hv_node_role(node, got, sizeof(got));
	if (strcmp(got, role) != 0)
		return hv_errset(d, HV_EUSAGE, "pub_file",
		    "%s: this is %s's "
		    "key, not the %s's; give the %s's .pub file (%s.NAME.pub)",
		    path, node, role, role, role);
	*out = pk;
	return HV_OK;
}

/*
 * When PATH.key has a PATH.pub beside it that parses, the two must be a
 * pair: the same node and the public keys the secrets give. A .pub that
 * cannot be read is left for whoever loads it to report.
 */
static hv_err
check_sibling_pub(const hv_keys *k, const char *node, const char *path,
    struct hv_errdetail *d)
{
	struct hv_pubkeys pub;
	char pub_node[65], *pub_path;
	size_t n = strlen(path);
	hv_err err = HV_OK;

	if (n < 5 || strcmp(path + n - 4, ".key") != 0)
		return HV_OK;
	if ((pub_path = strdup(path)) == NULL)
		return HV_ENOMEM;
	memcpy(pub_path + n - 4, ".pub", 4);
	if (pub_parse(pub_path, &pub, NULL, pub_node, NULL) == HV_OK &&
	    (strcmp(pub_node, node) != 0 ||
	        sodium_memcmp(&pub, &k->pub, sizeof(pub)) != 0))
		err = hv_errset(d, HV_EMALFORMED, "key_file",
		    "%s and %s are "
		    "not a pair: their node or public keys disagree.",
		    path, pub_path);
	free(pub_path);
	return err;
}

hv_err
hv_keys_load(const char *path, const char *passphrase, hv_keys **out,
    struct hv_errdetail *d)
{
	struct hv_kv kv[HV_KF_COUNT];
	hv_keys *k = NULL;
	char *buf = NULL;
	size_t len;
	hv_err err;
	int sealed = 0;

	hv_keyfile_fields(kv);
	if ((err = hv_secret_file_read(path, HV_KEYFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((err = hv_kv_parse(buf, len, path, kv, HV_KF_COUNT, d)) != HV_OK ||
	    (err = hv_kv_node(&kv[HV_KF_NODE], path, d)) != HV_OK)
		goto out;
	if ((k = keys_alloc()) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	for (int i = HV_KF_KDF; i <= HV_KF_SEALED; i++)
		sealed |= kv[i].value != NULL;
	sealed |= kv[HV_KF_PREV_SEALED].value != NULL;
	if (sealed)
		err = hv_keys_unseal(kv, path, passphrase, k, d);
	else if ((err = hv_kv_b64(&kv[HV_KF_SIGN_S], path, k->sign_secret,
	              HV_SIGN_SECRET_LEN, d)) == HV_OK &&
	    (err = hv_kv_b64(&kv[HV_KF_BOX_S], path, k->box_secret,
	         HV_BOX_KEY_LEN, d)) == HV_OK &&
	    (err = hv_kv_b64(&kv[HV_KF_CURVE_S], path, k->curve_secret,
	         HV_CURVE_KEY_LEN, d)) == HV_OK) {
		for (int i = 0; i < HV_PREV_KEYS_MAX && err == HV_OK &&
		     kv[HV_KF_PREV_BOX + i].value != NULL;
		     i++)
			if ((err = hv_kv_b64(&kv[HV_KF_PREV_BOX + i], path,
			         k->prev_box_secret[i], HV_BOX_KEY_LEN, d)) ==
			    HV_OK)
				k->n_prev_box++;
	}
	if (err != HV_OK || (err = derive_publics(k, kv, path, d)) != HV_OK ||
	    (err = check_listed_publics(k, kv, path, d)) != HV_OK ||
	    (err = check_sibling_pub(k, kv[HV_KF_NODE].value, path, d)) !=
	        HV_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	hv_keys_destroy(&k);
	hv_secret_free(buf);
	return err;
}

/* ---- rotation ----------------------------------------------------------- */

hv_err
hv_keys_rotate(const char *old_key, const char *dir, const char *passphrase,
    int64_t now_ms, char **key_path, struct hv_errdetail *d)
{
	struct hv_prev_signs prev;
	struct hv_pubkeys pub;
	hv_keys *old = NULL, *k = NULL;
	char node[65], *pub_path = NULL;
	size_t n = strlen(old_key);
	int64_t until;
	hv_err err;

	if (dir == NULL || *dir == '\0')
		dir = ".";
	if (n < 5 || strcmp(old_key + n - 4, ".key") != 0)
		return hv_errset(d, HV_EUSAGE, "key_file",
		    "%s does not end in "
		    ".key; give the node's secret key file.",
		    old_key);
	if ((pub_path = strdup(old_key)) == NULL)
		return HV_ENOMEM;
	memcpy(pub_path + n - 4, ".pub", 4);
	if ((err = hv_keys_load(old_key, passphrase, &old, d)) != HV_OK)
		goto out;
	/* The .pub beside it names the node and carries the earlier keys. */
	if ((err = pub_parse(pub_path, &pub, &prev, node, d)) != HV_OK)
		goto out;
	if (sodium_memcmp(&pub, &old->pub, sizeof(pub)) != 0) {
		err = hv_errset(d, HV_EMALFORMED, "pub_file",
		    "%s and %s are "
		    "not a pair: their public keys disagree.",
		    old_key, pub_path);
		goto out;
	}
	if (old->n_prev_box >= HV_PREV_KEYS_MAX || prev.n >= HV_PREV_KEYS_MAX) {
		err = hv_errset(d, HV_EMALFORMED, "key_file",
		    "%s already "
		    "carries %d earlier keys, the most a key file holds; "
		    "messages sealed to the oldest would become unreadable.",
		    old_key, HV_PREV_KEYS_MAX);
		goto out;
	}
	if ((err = hv_keys_generate(&k)) != HV_OK)
		goto out;
	memcpy(k->prev_box_secret[0], old->box_secret, HV_BOX_KEY_LEN);
	memcpy(k->prev_box_public[0], old->pub.box, HV_BOX_KEY_LEN);
	memcpy(k->prev_box_secret[1], old->prev_box_secret,
	    old->n_prev_box * HV_BOX_KEY_LEN);
	memcpy(k->prev_box_public[1], old->prev_box_public,
	    old->n_prev_box * HV_BOX_KEY_LEN);
	k->n_prev_box = old->n_prev_box + 1;
	/*
	 * The old signing key stops signing now; the time is rounded up to
	 * the whole second the .pub can say, and never before an earlier
	 * rotation's, so that the list stays newest first.
	 */
	until = (now_ms + 999) / 1000 * 1000;
	if (prev.n > 0 && until < prev.k[0].until_ms)
		until = prev.k[0].until_ms;
	memcpy(k->prev_sign.k[0].sign, old->pub.sign, HV_SIGN_PUBLIC_LEN);
	k->prev_sign.k[0].until_ms = until;
	memcpy(&k->prev_sign.k[1], prev.k, prev.n * sizeof(prev.k[0]));
	k->prev_sign.n = prev.n + 1;
	if ((err = hv_keys_save(k, node, dir, passphrase, d)) != HV_OK)
		goto out;
	if ((*key_path = path_join(dir, node, ".key")) == NULL)
		err = HV_ENOMEM;
out:
	hv_keys_destroy(&old);
	hv_keys_destroy(&k);
	free(pub_path);
	return err;
}
