/*
 * hv_keys — a node's key pairs, their files, passphrases and the
 * partnership's subject key (SPEC §3, §4.3).
 *
 * Key files are short `name = value` texts under a comment header, values in
 * standard base64. Secret files are created 0600 with O_EXCL and fsync'd, and
 * refused at load when group or others may touch them; the check is made on
 * the opened descriptor (O_NOFOLLOW, fstat) before a byte is read, so a file
 * cannot be swapped between check and read. Every buffer that holds secret
 * bytes, including the raw file text, lives in sodium_malloc'd memory and is
 * wiped when freed. This module never logs and never prints a secret; error
 * sentences name the file, the line and the field, never the value.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "hv_config.h"
#include "hv_keys.h"
#include "hv_util.h"

#define KEYFILE_MAX 8192	/* bytes; a real key file is about 400 */
#define PASSFILE_MAX 4096
#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define SECRETS_LEN (HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN + HV_CURVE_KEY_LEN)
#define SEALED_LEN (SECRETS_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define DECODE_MAX 160		/* largest value we decode: sealed, 144 */
#define OPSLIMIT_MAX 32ULL	/* refuse absurd KDF costs in a tampered file */

/* ---- small helpers ------------------------------------------------------ */

static hv_err
sodium_ready(void)
{
	return sodium_init() < 0 ? HV_ESYS : HV_OK;
}

void
hv_secret_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

/* 1 when s is short and plain enough to quote in an error sentence. */
static int
quotable(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 40)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '.'))
			return 0;
	}
	return 1;
}

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

/* Creates dir and its missing parents (0755), like mkdir -p. */
static hv_err
mkdir_p(const char *dir, struct hv_errdetail *d)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t n;

	if (hv_strlcpy_checked(buf, dir, sizeof(buf)) != 0)
		return hv_errset(d, HV_EIO, "out", "The folder name %.64s... "
		    "is too long.", dir);
	n = strlen(buf);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return hv_errset(d, HV_EIO, "out", "Cannot create "
			    "folder %s: %s.", buf, strerror(errno));
		if (i < n)
			buf[i] = '/';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return hv_errset(d, HV_EIO, "out", "%s is not a folder.", dir);
	return HV_OK;
}

/* HV_OK when nothing (not even a dangling link) is at path. */
static hv_err
must_not_exist(const char *path, struct hv_errdetail *d)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return hv_errset(d, HV_EEXISTS, "out", "%s already exists; "
		    "Haven never overwrites a key, so move it away or choose "
		    "another path.", path);
	if (errno != ENOENT)
		return hv_errset(d, HV_EIO, "out", "Cannot check %s: %s.",
		    path, strerror(errno));
	return HV_OK;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Creates path (O_EXCL, never following a link), writes data and fsyncs it.
 * A secret file gets exactly 0600 whatever the umask. On failure nothing is
 * left behind.
 */
static hv_err
write_new_file(const char *path, const char *data, size_t len, int secret,
    struct hv_errdetail *d)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    secret ? 0600 : 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return must_not_exist(path, d);
		return hv_errset(d, HV_EIO, "out", "Cannot create %s: %s.",
		    path, strerror(errno));
	}
	if ((secret && fchmod(fd, 0600) != 0) || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return hv_errset(d, HV_EIO, "out", "Cannot write %s: %s.", path,
		    strerror(saved));
	}
	if (close(fd) != 0) {
		saved = errno;
		unlink(path);
		return hv_errset(d, HV_EIO, "out", "Cannot write %s: %s.", path,
		    strerror(saved));
	}
	return HV_OK;
}

/*
 * Makes the new directory entries durable. Some file systems refuse fsync on
 * a folder; the files themselves are already synced, so that is not an error.
 */
static void
sync_dir_of(const char *path)
{
	char *dir = hv_path_dirname(path);
	int fd;

	if (dir == NULL)
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Appends printf output to a fixed buffer; returns -1 when it would not fit. */
static int
buf_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
buf_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* Appends "name = BASE64\n". */
static int
buf_add_b64(char *buf, size_t cap, size_t *len, const char *name,
    const uint8_t *bin, size_t bin_len)
{
	size_t need = sodium_base64_ENCODED_LEN(bin_len, B64_VARIANT);

	if (buf_add(buf, cap, len, "%s = ", name) != 0 ||
	    cap - *len < need + 1)
		return -1;
	sodium_bin2base64(buf + *len, need, bin, bin_len, B64_VARIANT);
	*len += need - 1;
	return buf_add(buf, cap, len, "\n");
}

/* ---- secret files ------------------------------------------------------- */

/*
 * Opens path for reading without following a link and refuses it unless it
 * is a regular file that only its owner may read or write. *fdp is the open
 * descriptor on success.
 */
static hv_err
secret_open(const char *path, int *fdp, struct hv_errdetail *d)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return hv_errset(d, HV_EINSECURE, "key_file", "%s is a "
			    "symbolic link; point Haven at the secret file "
			    "itself.", path);
		return hv_errset(d, HV_EIO, "key_file", "Cannot open %s: %s.",
		    path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		return hv_errset(d, HV_EIO, "key_file", "Cannot check %s: %s.",
		    path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return hv_errset(d, HV_EINSECURE, "key_file", "%s is not a "
		    "regular file.", path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return hv_errset(d, HV_EINSECURE, "key_file", "%s has mode "
		    "%04o and may be read by group or others; run chmod 600 "
		    "%s.", path, (unsigned)(st.st_mode & 07777), path);
	}
	*fdp = fd;
	return HV_OK;
}

hv_err
hv_secret_file_check(const char *path, struct hv_errdetail *d)
{
	hv_err err;
	int fd;

	if ((err = secret_open(path, &fd, d)) != HV_OK)
		return err;
	close(fd);
	return HV_OK;
}

hv_err
hv_secret_file_read(const char *path, size_t max, char **out, size_t *len,
    struct hv_errdetail *d)
{
	char *buf = NULL;
	size_t n = 0;
	hv_err err;
	int fd = -1;

	if ((err = sodium_ready()) != HV_OK)
		return err;
	if ((err = secret_open(path, &fd, d)) != HV_OK)
		return err;
	if ((buf = sodium_malloc(max + 2)) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	/* Read one byte past max so that an oversized file is noticed. */
	while (n < max + 1) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = hv_errset(d, HV_EIO, "key_file", "Cannot read "
			    "%s: %s.", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		err = hv_errset(d, HV_ETOOLARGE, "key_file", "%s is larger "
		    "than %zu bytes; it is not a Haven secret file.", path,
		    max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	buf = NULL;
out:
	hv_secret_free(buf);
	close(fd);
	return err;
}

hv_err
hv_passphrase_read(const char *path, char **out, struct hv_errdetail *d)
{
	char *buf = NULL, *nl;
	size_t len;
	hv_err err;

	if ((err = hv_secret_file_read(path, PASSFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		hv_secret_free(buf);
		return hv_errset(d, HV_EPASSPHRASE, "passphrase_file", "%s "
		    "holds no passphrase on its first line.", path);
	}
	*out = buf;
	return HV_OK;
}

/* ---- key file parsing --------------------------------------------------- */

struct kv {
	const char *name;
	char *value;		/* into the parsed buffer; NULL when absent */
	int line;
};

static struct kv *
kv_find(struct kv *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].name, name) == 0)
			return &kv[i];
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * Splits buf (len bytes, buf[len] == '\0') into the known `name = value`
 * lines of kv, in place. Blank lines and '#' comments are skipped; an
 * unknown name, a repeated name or a line without '=' is refused with its
 * line number.
 */
static hv_err
kv_parse(char *buf, size_t len, const char *path, struct kv *kv, size_t n,
    struct hv_errdetail *d)
{
	char *p = buf, *end = buf + len;
	const char *nul;
	int line = 0;

	if ((nul = memchr(buf, '\0', len)) != NULL) {
		for (const char *q = buf; q <= nul; q++)
			if (*q == '\n' || q == buf)
				line++;
		return hv_errset(d, HV_EMALFORMED, "key_file", "%s:%d: the "
		    "line holds a NUL byte; this is not a Haven key file.",
		    path, line);
	}
	while (p <= end && line < INT_MAX) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		char *s, *eq, *name, *value;
		struct kv *f;

		if (eol == NULL)
			eol = end;
		*eol = '\0';
		line++;
		s = trim(p);
		p = eol + 1;
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL)
			return hv_errset(d, HV_EMALFORMED, "key_file", "%s:%d: "
			    "expected a 'name = value' line.", path, line);
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		if ((f = kv_find(kv, n, name)) == NULL) {
			if (quotable(name))
				return hv_errset(d, HV_EMALFORMED, name,
				    "%s:%d: unknown field '%s'.", path, line,
				    name);
			return hv_errset(d, HV_EMALFORMED, "key_file", "%s:%d: "
			    "unknown field.", path, line);
		}
		if (f->value != NULL)
			return hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: "
			    "'%s' appears twice (first on line %d).", path, line,
			    f->name, f->line);
		f->value = value;
		f->line = line;
	}
	return HV_OK;
}

static hv_err
kv_require(const struct kv *f, const char *path, struct hv_errdetail *d)
{
	if (f->value == NULL)
		return hv_errset(d, HV_EMALFORMED, f->name, "%s: the '%s' line "
		    "is missing.", path, f->name);
	return HV_OK;
}

/*
 * Decodes the base64 value of f into out, which must receive exactly want
 * bytes. The scratch buffer is wiped because the value may be a secret.
 */
static hv_err
kv_b64(const struct kv *f, const char *path, uint8_t *out, size_t want,
    struct hv_errdetail *d)
{
	uint8_t tmp[DECODE_MAX];
	const char *b64_end;
	size_t bin_len = 0, n;
	hv_err err = HV_OK;

	if ((err = kv_require(f, path, d)) != HV_OK)
		return err;
	n = strlen(f->value);
	if (n > sodium_base64_ENCODED_LEN(DECODE_MAX, B64_VARIANT)) {
		err = hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: %s is too "
		    "long; it must hold %zu bytes.", path, f->line, f->name,
		    want);
		goto out;
	}
	if (sodium_base642bin(tmp, sizeof(tmp), f->value, n, NULL, &bin_len,
	    &b64_end, B64_VARIANT) != 0 || b64_end != f->value + n) {
		err = hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: %s is not "
		    "valid base64.", path, f->line, f->name);
		goto out;
	}
	if (bin_len != want) {
		err = hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: %s must hold "
		    "%zu bytes, not %zu.", path, f->line, f->name, want,
		    bin_len);
		goto out;
	}
	memcpy(out, tmp, want);
out:
	sodium_memzero(tmp, sizeof(tmp));
	return err;
}

static hv_err
kv_u64(const struct kv *f, const char *path, unsigned long long lo,
    unsigned long long hi, unsigned long long *out, struct hv_errdetail *d)
{
	unsigned long long v = 0;
	const char *s;
	hv_err err;

	if ((err = kv_require(f, path, d)) != HV_OK)
		return err;
	s = f->value;
	if (*s == '\0')
		goto bad;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (ULLONG_MAX - 9) / 10)
			goto bad;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (v < lo || v > hi)
		goto bad;
	*out = v;
	return HV_OK;
bad:
	return hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: %s must be a "
	    "whole number from %llu to %llu.", path, f->line, f->name, lo, hi);
}

static hv_err
kv_node(const struct kv *f, const char *path, struct hv_errdetail *d)
{
	hv_err err;

	if ((err = kv_require(f, path, d)) != HV_OK)
		return err;
	if (!hv_node_id_valid(f->value)) {
		if (quotable(f->value))
			return hv_errset(d, HV_EMALFORMED, "node", "%s:%d: '%s' "
			    "is not a node id (ROLE.NAME).", path, f->line,
			    f->value);
		return hv_errset(d, HV_EMALFORMED, "node", "%s:%d: the node "
		    "is not a node id (ROLE.NAME).", path, f->line);
	}
	return HV_OK;
}

/* ---- key pairs ---------------------------------------------------------- */

static hv_keys *
keys_alloc(void)
{
	hv_keys *k;

	if (sodium_ready() != HV_OK)
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
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t sealed[SEALED_LEN];
	uint8_t *plain = NULL, *key = NULL;
	unsigned long long sealed_len = 0;
	hv_err err = HV_OK;
	int bad = 0;

	*len = 0;
	bad |= buf_add(buf, cap, len, "# Haven node key for %s \xe2\x80\x94 "
	    "secret, keep mode 0600\n", node_id);
	if (passphrase == NULL) {
		bad |= buf_add(buf, cap, len, "node = %s\n", node_id);
		bad |= buf_add_b64(buf, cap, len, "sign_secret",
		    k->sign_secret, sizeof(k->sign_secret));
		bad |= buf_add_b64(buf, cap, len, "box_secret", k->box_secret,
		    sizeof(k->box_secret));
		bad |= buf_add_b64(buf, cap, len, "curve_secret",
		    k->curve_secret, sizeof(k->curve_secret));
		return bad ? HV_ESYS : HV_OK;
	}

	plain = sodium_malloc(SECRETS_LEN);
	key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	if (plain == NULL || key == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	    passphrase, strlen(passphrase), salt,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		err = hv_errset(d, HV_ENOMEM, "passphrase", "Not enough memory "
		    "to derive a key from the passphrase.");
		goto out;
	}
	memcpy(plain, k->sign_secret, HV_SIGN_SECRET_LEN);
	memcpy(plain + HV_SIGN_SECRET_LEN, k->box_secret, HV_BOX_KEY_LEN);
	memcpy(plain + HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN, k->curve_secret,
	    HV_CURVE_KEY_LEN);
	/* The node id is bound as associated data: it cannot be swapped. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sealed_len, plain,
	    SECRETS_LEN, (const uint8_t *)node_id, strlen(node_id), NULL,
	    nonce, key);
	bad |= buf_add(buf, cap, len, "# The secrets are sealed with a "
	    "passphrase (Argon2id, XChaCha20-Poly1305).\n");
	bad |= buf_add(buf, cap, len, "node = %s\n", node_id);
	bad |= buf_add(buf, cap, len, "kdf = argon2id\n");
	bad |= buf_add_b64(buf, cap, len, "kdf_salt", salt, sizeof(salt));
	bad |= buf_add(buf, cap, len, "kdf_opslimit = %llu\n",
	    (unsigned long long)crypto_pwhash_OPSLIMIT_INTERACTIVE);
	bad |= buf_add(buf, cap, len, "kdf_memlimit = %llu\n",
	    (unsigned long long)crypto_pwhash_MEMLIMIT_INTERACTIVE);
	bad |= buf_add_b64(buf, cap, len, "nonce", nonce, sizeof(nonce));
	bad |= buf_add_b64(buf, cap, len, "sealed", sealed,
	    (size_t)sealed_len);
	if (bad)
		err = HV_ESYS;
out:
	hv_secret_free(plain);
	hv_secret_free(key);
	return err;
}

static hv_err
pub_text(const struct hv_pubkeys *pub, const char *node_id, char *buf,
    size_t cap, size_t *len)
{
	int bad = 0;

	*len = 0;
	bad |= buf_add(buf, cap, len, "# Haven public keys for %s\n", node_id);
	bad |= buf_add(buf, cap, len, "node = %s\n", node_id);
	bad |= buf_add_b64(buf, cap, len, "sign_public", pub->sign,
	    sizeof(pub->sign));
	bad |= buf_add_b64(buf, cap, len, "box_public", pub->box,
	    sizeof(pub->box));
	bad |= buf_add_b64(buf, cap, len, "curve_public", pub->curve,
	    sizeof(pub->curve));
	return bad ? HV_ESYS : HV_OK;
}

hv_err
hv_keys_save(const hv_keys *k, const char *node_id, const char *dir,
    const char *passphrase, struct hv_errdetail *d)
{
	char *key_path = NULL, *pub_path = NULL, *text = NULL;
	char pub[1024];
	size_t text_len, pub_len;
	hv_err err;

	if ((err = sodium_ready()) != HV_OK)
		return err;
	if (node_id == NULL || !hv_node_id_valid(node_id))
		return hv_errset(d, HV_EUSAGE, "id", "The node id is not "
		    "ROLE.NAME in lowercase a-z, 0-9 and dashes.");
	if (dir == NULL || *dir == '\0')
		dir = ".";
	key_path = path_join(dir, node_id, ".key");
	pub_path = path_join(dir, node_id, ".pub");
	text = sodium_malloc(KEYFILE_MAX);
	if (key_path == NULL || pub_path == NULL || text == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if ((err = mkdir_p(dir, d)) != HV_OK ||
	    (err = must_not_exist(key_path, d)) != HV_OK ||
	    (err = must_not_exist(pub_path, d)) != HV_OK)
		goto out;
	if ((err = key_text(k, node_id, passphrase, text, KEYFILE_MAX,
	    &text_len, d)) != HV_OK ||
	    (err = pub_text(&k->pub, node_id, pub, sizeof(pub), &pub_len)) !=
	    HV_OK)
		goto out;
	if ((err = write_new_file(key_path, text, text_len, 1, d)) != HV_OK)
		goto out;
	if ((err = write_new_file(pub_path, pub, pub_len, 0, d)) != HV_OK) {
		/* Never leave half a pair behind. */
		unlink(key_path);
		goto out;
	}
	sync_dir_of(key_path);
out:
	hv_secret_free(text);
	free(key_path);
	free(pub_path);
	return err;
}

/* ---- loading ------------------------------------------------------------ */

enum {
	F_NODE, F_SIGN_S, F_BOX_S, F_CURVE_S, F_SIGN_P, F_BOX_P, F_CURVE_P,
	F_KDF, F_SALT, F_OPS, F_MEM, F_NONCE, F_SEALED, F_COUNT
};

/* Opens the sealed secrets of a passphrase-protected file into k. */
static hv_err
unseal(struct kv *kv, const char *path, const char *passphrase, hv_keys *k,
    struct hv_errdetail *d)
{
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t sealed[SEALED_LEN];
	uint8_t *plain = NULL, *key = NULL;
	unsigned long long ops, mem, plain_len = 0;
	const char *node = kv[F_NODE].value;
	hv_err err;

	for (int i = F_SIGN_S; i <= F_CURVE_S; i++)
		if (kv[i].value != NULL)
			return hv_errset(d, HV_EMALFORMED, kv[i].name, "%s:%d: "
			    "a passphrase-protected key file must not also "
			    "hold a plain %s.", path, kv[i].line, kv[i].name);
	if ((err = kv_require(&kv[F_KDF], path, d)) != HV_OK)
		return err;
	if (strcmp(kv[F_KDF].value, "argon2id") != 0)
		return hv_errset(d, HV_EMALFORMED, "kdf", "%s:%d: kdf must be "
		    "argon2id.", path, kv[F_KDF].line);
	if ((err = kv_b64(&kv[F_SALT], path, salt, sizeof(salt), d)) !=
	    HV_OK ||
	    (err = kv_u64(&kv[F_OPS], path, crypto_pwhash_OPSLIMIT_MIN,
	    OPSLIMIT_MAX, &ops, d)) != HV_OK ||
	    (err = kv_u64(&kv[F_MEM], path, crypto_pwhash_MEMLIMIT_MIN,
	    crypto_pwhash_MEMLIMIT_SENSITIVE, &mem, d)) != HV_OK ||
	    (err = kv_b64(&kv[F_NONCE], path, nonce, sizeof(nonce), d)) !=
	    HV_OK ||
	    (err = kv_b64(&kv[F_SEALED], path, sealed, sizeof(sealed), d)) !=
	    HV_OK)
		return err;
	if (passphrase == NULL)
		return hv_errset(d, HV_EPASSPHRASE, "passphrase", "%s is "
		    "protected by a passphrase; give the file that holds it.",
		    path);
	plain = sodium_malloc(SECRETS_LEN);
	key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	if (plain == NULL || key == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	    passphrase, strlen(passphrase), salt, ops, (size_t)mem,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		err = hv_errset(d, HV_ENOMEM, "passphrase", "Not enough memory "
		    "to derive the key of %s from its passphrase.", path);
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len,
	    NULL, sealed, sizeof(sealed), (const uint8_t *)node, strlen(node),
	    nonce, key) != 0 || plain_len != SECRETS_LEN) {
		err = hv_errset(d, HV_EPASSPHRASE, "passphrase", "The "
		    "passphrase does not open %s (or the file was altered).",
		    path);
		goto out;
	}
	memcpy(k->sign_secret, plain, HV_SIGN_SECRET_LEN);
	memcpy(k->box_secret, plain + HV_SIGN_SECRET_LEN, HV_BOX_KEY_LEN);
	memcpy(k->curve_secret, plain + HV_SIGN_SECRET_LEN + HV_BOX_KEY_LEN,
	    HV_CURVE_KEY_LEN);
out:
	hv_secret_free(plain);
	hv_secret_free(key);
	return err;
}

/*
 * Derives the public halves from the secrets. An Ed25519 secret carries its
 * public key in its second half; it must be the one its seed gives, or the
 * file was altered.
 */
static hv_err
derive_publics(hv_keys *k, const struct kv *kv, const char *path,
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
		if (kv[F_SIGN_S].value != NULL)
			return hv_errset(d, HV_EMALFORMED, "sign_secret",
			    "%s:%d: sign_secret is inconsistent: its public "
			    "half does not match its seed.", path,
			    kv[F_SIGN_S].line);
		return hv_errset(d, HV_EMALFORMED, "sign_secret", "%s: the "
		    "sealed sign_secret is inconsistent.", path);
	}
	crypto_sign_ed25519_sk_to_pk(k->pub.sign, k->sign_secret);
	if (crypto_scalarmult_base(k->pub.box, k->box_secret) != 0 ||
	    crypto_scalarmult_base(k->pub.curve, k->curve_secret) != 0)
		return hv_errset(d, HV_EMALFORMED, "box_secret", "%s: a secret "
		    "key is not usable.", path);
	return HV_OK;
}

/* Optional *_public lines in a .key file must match the derived keys. */
static hv_err
check_listed_publics(const hv_keys *k, const struct kv *kv, const char *path,
    struct hv_errdetail *d)
{
	const uint8_t *have[3] = { k->pub.sign, k->pub.box, k->pub.curve };
	uint8_t listed[32];
	hv_err err;

	for (int i = 0; i < 3; i++) {
		const struct kv *f = &kv[F_SIGN_P + i];
		if (f->value == NULL)
			continue;
		if ((err = kv_b64(f, path, listed, 32, d)) != HV_OK)
			return err;
		if (sodium_memcmp(listed, have[i], 32) != 0)
			return hv_errset(d, HV_EMALFORMED, f->name, "%s:%d: %s "
			    "does not match the secret key.", path, f->line,
			    f->name);
	}
	return HV_OK;
}

/* Reads a .pub file into pub; node (65 bytes) receives its node id. */
static hv_err
pub_parse(const char *path, struct hv_pubkeys *pub, char *node,
    struct hv_errdetail *d)
{
	struct kv kv[] = {
		{ "node", NULL, 0 }, { "sign_public", NULL, 0 },
		{ "box_public", NULL, 0 }, { "curve_public", NULL, 0 },
	};
	struct hv_pubkeys tmp;
	uint8_t *buf = NULL;
	size_t len;
	hv_err err;

	if (hv_read_file(path, KEYFILE_MAX, &buf, &len) != 0)
		return hv_errset(d, errno == EFBIG ? HV_EMALFORMED : HV_EIO,
		    "pub_file", "Cannot read %s: %s.", path,
		    errno == EFBIG ? "not a regular file of at most 8 KiB" :
		    strerror(errno));
	if ((err = kv_parse((char *)buf, len, path, kv, 4, d)) != HV_OK ||
	    (err = kv_node(&kv[0], path, d)) != HV_OK ||
	    (err = kv_b64(&kv[1], path, tmp.sign, sizeof(tmp.sign), d)) !=
	    HV_OK ||
	    (err = kv_b64(&kv[2], path, tmp.box, sizeof(tmp.box), d)) !=
	    HV_OK ||
	    (err = kv_b64(&kv[3], path, tmp.curve, sizeof(tmp.curve), d)) !=
	    HV_OK)
		goto out;
	*pub = tmp;
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
	return pub_parse(path, out, NULL, d);
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
	if (pub_parse(pub_path, &pub, pub_node, NULL) == HV_OK &&
	    (strcmp(pub_node, node) != 0 ||
	    sodium_memcmp(&pub, &k->pub, sizeof(pub)) != 0))
		err = hv_errset(d, HV_EMALFORMED, "key_file", "%s and %s are "
		    "not a pair: their node or public keys disagree.", path,
		    pub_path);
	free(pub_path);
	return err;
}

hv_err
hv_keys_load(const char *path, const char *passphrase, hv_keys **out,
    struct hv_errdetail *d)
{
	struct kv kv[F_COUNT] = {
		[F_NODE] = { "node", NULL, 0 },
		[F_SIGN_S] = { "sign_secret", NULL, 0 },
		[F_BOX_S] = { "box_secret", NULL, 0 },
		[F_CURVE_S] = { "curve_secret", NULL, 0 },
		[F_SIGN_P] = { "sign_public", NULL, 0 },
		[F_BOX_P] = { "box_public", NULL, 0 },
		[F_CURVE_P] = { "curve_public", NULL, 0 },
		[F_KDF] = { "kdf", NULL, 0 },
		[F_SALT] = { "kdf_salt", NULL, 0 },
		[F_OPS] = { "kdf_opslimit", NULL, 0 },
		[F_MEM] = { "kdf_memlimit", NULL, 0 },
		[F_NONCE] = { "nonce", NULL, 0 },
		[F_SEALED] = { "sealed", NULL, 0 },
	};
	hv_keys *k = NULL;
	char *buf = NULL;
	size_t len;
	hv_err err;
	int sealed = 0;

	if ((err = hv_secret_file_read(path, KEYFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((err = kv_parse(buf, len, path, kv, F_COUNT, d)) != HV_OK ||
	    (err = kv_node(&kv[F_NODE], path, d)) != HV_OK)
		goto out;
	if ((k = keys_alloc()) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	for (int i = F_KDF; i <= F_SEALED; i++)
		sealed |= kv[i].value != NULL;
	if (sealed)
		err = unseal(kv, path, passphrase, k, d);
	else if ((err = kv_b64(&kv[F_SIGN_S], path, k->sign_secret,
	    HV_SIGN_SECRET_LEN, d)) == HV_OK &&
	    (err = kv_b64(&kv[F_BOX_S], path, k->box_secret, HV_BOX_KEY_LEN,
	    d)) == HV_OK)
		err = kv_b64(&kv[F_CURVE_S], path, k->curve_secret,
		    HV_CURVE_KEY_LEN, d);
	if (err != HV_OK ||
	    (err = derive_publics(k, kv, path, d)) != HV_OK ||
	    (err = check_listed_publics(k, kv, path, d)) != HV_OK ||
	    (err = check_sibling_pub(k, kv[F_NODE].value, path, d)) != HV_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	hv_keys_destroy(&k);
	hv_secret_free(buf);
	return err;
}

/* ---- the partnership subject key ---------------------------------------- */

hv_err
hv_subject_key_generate(const char *path, struct hv_errdetail *d)
{
	uint8_t *key = NULL;
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	hv_err err;

	if ((err = sodium_ready()) != HV_OK)
		return err;
	if ((dir = hv_path_dirname(path)) == NULL)
		return HV_ENOMEM;
	if ((err = mkdir_p(dir, d)) != HV_OK ||
	    (err = must_not_exist(path, d)) != HV_OK)
		goto out;
	key = sodium_malloc(HV_SUBJECT_KEY_LEN);
	text = sodium_malloc(1024);
	if (key == NULL || text == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	randombytes_buf(key, HV_SUBJECT_KEY_LEN);
	if (buf_add(text, 1024, &len, "# Haven partnership subject key "
	    "\xe2\x80\x94 secret, keep mode 0600\n# It turns children's NHS "
	    "numbers and local ids into pseudonyms.\n# Agencies and IG "
	    "officers hold it; the broker never does.\n") != 0 ||
	    buf_add_b64(text, 1024, &len, "subject_key", key,
	    HV_SUBJECT_KEY_LEN) != 0) {
		err = HV_ESYS;
		goto out;
	}
	if ((err = write_new_file(path, text, len, 1, d)) == HV_OK)
		sync_dir_of(path);
out:
	hv_secret_free(key);
	hv_secret_free(text);
	free(dir);
	return err;
}

hv_err
hv_subject_key_load(const char *path, uint8_t **out, struct hv_errdetail *d)
{
	struct kv kv[] = { { "subject_key", NULL, 0 } };
	uint8_t *key = NULL;
	char *buf = NULL;
	size_t len;
	hv_err err;

	if ((err = hv_secret_file_read(path, KEYFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((key = sodium_malloc(HV_SUBJECT_KEY_LEN)) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if ((err = kv_parse(buf, len, path, kv, 1, d)) != HV_OK ||
	    (err = kv_b64(&kv[0], path, key, HV_SUBJECT_KEY_LEN, d)) != HV_OK)
		goto out;
	*out = key;
	key = NULL;
out:
	hv_secret_free(key);
	hv_secret_free(buf);
	return err;
}
