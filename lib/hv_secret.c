/*
 * hv_secret — files that hold secrets, and the key-file text they hold
 * (SPEC §3, §4.3): creating key files, reading secret files, the
 * `name = value` format both ways, and the partnership's subject key, which
 * is one such file and nothing more.
 *
 * Key files are short `name = value` texts under a comment header, values in
 * standard base64. Secret files are created 0600 with O_EXCL and fsync'd, and
 * refused at load when group or others may touch them; the check is made on
 * the opened descriptor (O_NOFOLLOW, fstat) before a byte is read, so a file
 * cannot be swapped between check and read. Every buffer that holds secret
 * bytes, including the raw file text, lives in sodium_malloc'd memory and is
 * wiped when freed. This module never logs and never prints a secret; error
 * sentences name the file, the line and the field, never the value. Node key
 * pairs are hv_keys.c's; passphrases are hv_keyseal.c's.
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
#include "hv_keys_int.h"
#include "hv_util.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

/* ---- small helpers ------------------------------------------------------ */

hv_err
hv_sodium_ready(void)
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

/* ---- creating key files ------------------------------------------------ */

/* Creates dir and its missing parents (0755), like mkdir -p. */
hv_err
hv_keyfile_mkdir_p(const char *dir, struct hv_errdetail *d)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t n;

	if (hv_strlcpy_checked(buf, dir, sizeof(buf)) != 0)
		return hv_errset(d, HV_EIO, "out",
		    "The folder name %.64s... "
		    "is too long.",
		    dir);
	n = strlen(buf);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return hv_errset(d, HV_EIO, "out",
			    "Cannot create "
			    "folder %s: %s.",
			    buf, strerror(errno));
		if (i < n)
			buf[i] = '/';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return hv_errset(d, HV_EIO, "out", "%s is not a folder.", dir);
	return HV_OK;
}

/* HV_OK when nothing (not even a dangling link) is at path. */
hv_err
hv_keyfile_absent(const char *path, struct hv_errdetail *d)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return hv_errset(d, HV_EEXISTS, "out",
		    "%s already exists; "
		    "Haven never overwrites a key, so move it away or choose "
		    "another path.",
		    path);
	if (errno != ENOENT)
		return hv_errset(d, HV_EIO, "out", "Cannot check %s: %s.", path,
		    strerror(errno));
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
hv_err
hv_keyfile_create(const char *path, const char *data, size_t len, int secret,
    struct hv_errdetail *d)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    secret ? 0600 : 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return hv_keyfile_absent(path, d);
		return hv_errset(d, HV_EIO, "out", "Cannot create %s: %s.",
		    path, strerror(errno));
	}
	if ((secret && fchmod(fd, 0600) != 0) ||
	    write_all(fd, data, len) != 0 || fsync(fd) != 0) {
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
void
hv_keyfile_sync_dir(const char *path)
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
int
hv_keyfile_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
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
int
hv_keyfile_add_b64(char *buf, size_t cap, size_t *len, const char *name,
    const uint8_t *bin, size_t bin_len)
{
	size_t need = sodium_base64_ENCODED_LEN(bin_len, B64_VARIANT);

	if (hv_keyfile_add(buf, cap, len, "%s = ", name) != 0 ||
	    cap - *len < need + 1)
		return -1;
	sodium_bin2base64(buf + *len, need, bin, bin_len, B64_VARIANT);
	*len += need - 1;
	return hv_keyfile_add(buf, cap, len, "\n");
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

	fd = open(path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return hv_errset(d, HV_EINSECURE, "key_file",
			    "%s is a "
			    "symbolic link; point Haven at the secret file "
			    "itself.",
			    path);
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
		return hv_errset(d, HV_EINSECURE, "key_file",
		    "%s is not a "
		    "regular file.",
		    path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return hv_errset(d, HV_EINSECURE, "key_file",
		    "%s has mode "
		    "%04o and may be read by group or others; run chmod 600 "
		    "%s.",
		    path, (unsigned)(st.st_mode & 07777), path);
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

	if ((err = hv_sodium_ready()) != HV_OK)
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
			err = hv_errset(d, HV_EIO, "key_file",
			    "Cannot read "
			    "%s: %s.",
			    path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		err = hv_errset(d, HV_ETOOLARGE, "key_file",
		    "%s is larger "
		    "than %zu bytes; it is not a Haven secret file.",
		    path, max);
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

/* 1 when the line at p (up to end) names the key `name` before its '='. */
static int
line_names(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < n || memcmp(p, name, n) != 0)
		return 0;
	p += n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p < end && *p == '=';
}

int
hv_keys_is_public_file(const char *path)
{
	char *buf;
	size_t n = 0;
	int fd, pub = 0, secret = 0;

	fd = open(path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	if ((buf = sodium_malloc(HV_KEYFILE_MAX)) == NULL) {
		close(fd);
		return 0;
	}
	while (n < HV_KEYFILE_MAX) {
		ssize_t r = read(fd, buf + n, HV_KEYFILE_MAX - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	for (const char *p = buf, *end = buf + n; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		pub |= line_names(p, eol, "sign_public");
		secret |= line_names(p, eol, "sign_secret") ||
		    line_names(p, eol, "sealed");
		p = eol + 1;
	}
	sodium_free(buf);
	return pub && !secret;
}

hv_err
hv_keys_secret_check(const char *path, const char *opt, struct hv_errdetail *d)
{
	if (!hv_keys_is_public_file(path))
		return HV_OK;
	return hv_errset(d, HV_EUSAGE, "key_file",
	    "%s is a public key file; "
	    "%s needs the node's secret key file (NODE.key).",
	    path, opt);
}

/* ---- key file parsing --------------------------------------------------- */

/*
 * The first entry named name that is still free, or else the first one so
 * named (which the caller reports as repeated); *slots counts the entries
 * of that name. NULL for an unknown name.
 */
static struct hv_kv *
kv_find(struct hv_kv *kv, size_t n, const char *name, int *slots)
{
	struct hv_kv *first = NULL;

	*slots = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].name, name) != 0)
			continue;
		(*slots)++;
		if (first == NULL)
			first = &kv[i];
		if (kv[i].value == NULL)
			return &kv[i];
	}
	return first;
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
hv_err
hv_kv_parse(char *buf, size_t len, const char *path, struct hv_kv *kv, size_t n,
    struct hv_errdetail *d)
{
	char *p = buf, *end = buf + len;
	const char *nul;
	int line = 0;

	if ((nul = memchr(buf, '\0', len)) != NULL) {
		for (const char *q = buf; q <= nul; q++)
			if (*q == '\n' || q == buf)
				line++;
		return hv_errset(d, HV_EMALFORMED, "key_file",
		    "%s:%d: the "
		    "line holds a NUL byte; this is not a Haven key file.",
		    path, line);
	}
	while (p <= end && line < INT_MAX) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		char *s, *eq, *name, *value;
		struct hv_kv *f;
		int slots;

		if (eol == NULL)
			eol = end;
		*eol = '\0';
		line++;
		s = trim(p);
		p = eol + 1;
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL)
			return hv_errset(d, HV_EMALFORMED, "key_file",
			    "%s:%d: "
			    "expected a 'name = value' line.",
			    path, line);
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		if ((f = kv_find(kv, n, name, &slots)) == NULL) {
			if (quotable(name))
				return hv_errset(d, HV_EMALFORMED, name,
				    "%s:%d: unknown field '%s'.", path, line,
				    name);
			return hv_errset(d, HV_EMALFORMED, "key_file",
			    "%s:%d: "
			    "unknown field.",
			    path, line);
		}
		if (f->value != NULL && slots > 1)
			return hv_errset(d, HV_EMALFORMED, f->name,
			    "%s:%d: "
			    "'%s' appears more than %d times.",
			    path, line, f->name, slots);
		if (f->value != NULL)
			return hv_errset(d, HV_EMALFORMED, f->name,
			    "%s:%d: "
			    "'%s' appears twice (first on line %d).",
			    path, line, f->name, f->line);
		f->value = value;
		f->line = line;
	}
	return HV_OK;
}

hv_err
hv_kv_require(const struct hv_kv *f, const char *path, struct hv_errdetail *d)
{
	if (f->value == NULL)
		return hv_errset(d, HV_EMALFORMED, f->name,
		    "%s: the '%s' line "
		    "is missing.",
		    path, f->name);
	return HV_OK;
}

/*
 * Decodes the base64 value of f into out, which must receive exactly want
 * bytes. The scratch buffer is wiped because the value may be a secret.
 */
hv_err
hv_kv_b64(const struct hv_kv *f, const char *path, uint8_t *out, size_t want,
    struct hv_errdetail *d)
{
	uint8_t tmp[HV_KV_DECODE_MAX];
	const char *b64_end;
	size_t bin_len = 0, n;
	hv_err err = HV_OK;

	if ((err = hv_kv_require(f, path, d)) != HV_OK)
		return err;
	n = strlen(f->value);
	if (n > sodium_base64_ENCODED_LEN(HV_KV_DECODE_MAX, B64_VARIANT)) {
		err = hv_errset(d, HV_EMALFORMED, f->name,
		    "%s:%d: %s is too "
		    "long; it must hold %zu bytes.",
		    path, f->line, f->name, want);
		goto out;
	}
	if (sodium_base642bin(tmp, sizeof(tmp), f->value, n, NULL, &bin_len,
	        &b64_end, B64_VARIANT) != 0 ||
	    b64_end != f->value + n) {
		err = hv_errset(d, HV_EMALFORMED, f->name,
		    "%s:%d: %s is not "
		    "valid base64.",
		    path, f->line, f->name);
		goto out;
	}
	if (bin_len != want) {
		err = hv_errset(d, HV_EMALFORMED, f->name,
		    "%s:%d: %s must hold "
		    "%zu bytes, not %zu.",
		    path, f->line, f->name, want, bin_len);
		goto out;
	}
	memcpy(out, tmp, want);
out:
	sodium_memzero(tmp, sizeof(tmp));
	return err;
}

hv_err
hv_kv_u64(const struct hv_kv *f, const char *path, unsigned long long lo,
    unsigned long long hi, unsigned long long *out, struct hv_errdetail *d)
{
	unsigned long long v = 0;
	const char *s;
	hv_err err;

	if ((err = hv_kv_require(f, path, d)) != HV_OK)
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
	return hv_errset(d, HV_EMALFORMED, f->name,
	    "%s:%d: %s must be a "
	    "whole number from %llu to %llu.",
	    path, f->line, f->name, lo, hi);
}

hv_err
hv_kv_node(const struct hv_kv *f, const char *path, struct hv_errdetail *d)
{
	hv_err err;

	if ((err = hv_kv_require(f, path, d)) != HV_OK)
		return err;
	if (!hv_node_id_valid(f->value)) {
		if (quotable(f->value))
			return hv_errset(d, HV_EMALFORMED, "node",
			    "%s:%d: '%s' "
			    "is not a node id (ROLE.NAME).",
			    path, f->line, f->value);
		return hv_errset(d, HV_EMALFORMED, "node",
		    "%s:%d: the node "
		    "is not a node id (ROLE.NAME).",
		    path, f->line);
	}
	return HV_OK;
}

/* ---- the partnership subject key ---------------------------------------- */

hv_err
hv_subject_key_generate(const char *path, struct hv_errdetail *d)
{
	uint8_t *key = NULL;
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	hv_err err;

	if ((err = hv_sodium_ready()) != HV_OK)
		return err;
	if ((dir = hv_path_dirname(path)) == NULL)
		return HV_ENOMEM;
	if ((err = hv_keyfile_mkdir_p(dir, d)) != HV_OK ||
	    (err = hv_keyfile_absent(path, d)) != HV_OK)
		goto out;
	key = sodium_malloc(HV_SUBJECT_KEY_LEN);
	text = sodium_malloc(1024);
	if (key == NULL || text == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	randombytes_buf(key, HV_SUBJECT_KEY_LEN);
	if (hv_keyfile_add(text, 1024, &len,
	        "# Haven partnership subject key "
	        "\xe2\x80\x94 secret, keep mode 0600\n# It turns children's NHS "
	        "numbers and local ids into pseudonyms.\n# Agencies and IG "
	        "officers hold it; the broker never does.\n") != 0 ||
	    hv_keyfile_add_b64(text, 1024, &len, "subject_key", key,
	        HV_SUBJECT_KEY_LEN) != 0) {
		err = HV_ESYS;
		goto out;
	}
	if ((err = hv_keyfile_create(path, text, len, 1, d)) == HV_OK)
		hv_keyfile_sync_dir(path);
out:
	hv_secret_free(key);
	hv_secret_free(text);
	free(dir);
	return err;
}

hv_err
hv_subject_key_load(const char *path, uint8_t **out, struct hv_errdetail *d)
{
	struct hv_kv kv[] = { { "subject_key", NULL, 0 } };
	uint8_t *key = NULL;
	char *buf = NULL;
	size_t len;
	hv_err err;

	if ((err = hv_secret_file_read(path, HV_KEYFILE_MAX, &buf, &len, d)) !=
	    HV_OK)
		return err;
	if ((key = sodium_malloc(HV_SUBJECT_KEY_LEN)) == NULL) {
		err = HV_ENOMEM;
		goto out;
	}
	if ((err = hv_kv_parse(buf, len, path, kv, 1, d)) != HV_OK ||
	    (err = hv_kv_b64(&kv[0], path, key, HV_SUBJECT_KEY_LEN, d)) !=
	        HV_OK) {
		/*
		 * A node's .key or .pub is the file most often given by
		 * mistake; "unknown field 'node'" would not tell an IG
		 * officer what to give instead.
		 */
		if (d != NULL && strcmp(d->field, "node") == 0)
			hv_errset(d, HV_EMALFORMED, "subject_key",
			    "%s is a node's key file, not the partnership's "
			    "subject key; give the file made by 'haven keygen "
			    "--subject-key' (subject.key).",
			    path);
		goto out;
	}
	*out = key;
	key = NULL;
out:
	hv_secret_free(key);
	hv_secret_free(buf);
	return err;
}
