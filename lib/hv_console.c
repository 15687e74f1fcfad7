/*
 * hv_console — users file, sessions, CSRF, log-in slow-down, forms and
 * HTML escaping for the duty-team console (SPEC §14). See hv_console.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "hv_console.h"
#include "hv_keys.h"
#include "hv_policy.h"
#include "hv_util.h"

#define USERS_FILE_MAX (1u << 20)
#define THROTTLE_NAMES 1024

/* ---- names and roles --------------------------------------------------- */

int
hv_console_name_valid(const char *name)
{
	/*
	 * The name is who acknowledges (SPEC §14), and an ack's by reaches
	 * the broker's audit log, so it is a staff identifier (SPEC §4.2):
	 * the same rule as decided_by, never a person's name in free text.
	 */
	return name != NULL && strlen(name) <= HV_CONSOLE_NAME_MAX &&
	    hv_policy_staff_id_valid(name);
}

int
hv_console_role_parse(const char *s)
{
	if (s != NULL && strcmp(s, "duty") == 0)
		return HV_ROLE_DUTY;
	if (s != NULL && strcmp(s, "viewer") == 0)
		return HV_ROLE_VIEWER;
	return -1;
}

const char *
hv_console_role_name(int role)
{
	return role == HV_ROLE_DUTY ? "duty" : "viewer";
}

/* ---- users file -------------------------------------------------------- */

/* One parsed line; pointers into the file's buffer. */
struct uline {
	char *name, *role, *hash;
};

/*
 * Reads the users file into *buf (sodium_malloc'd: it holds hashes) and
 * splits it into at most cap lines. A missing file is empty.
 */
static hv_err
users_read(const char *path, char **buf, struct uline *lines, size_t cap,
    size_t *n, struct hv_errdetail *d)
{
	size_t len = 0, lineno = 0;
	char *p, *nl;
	hv_err e;

	*buf = NULL;
	*n = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return HV_OK;
	if ((e = hv_secret_file_read(path, USERS_FILE_MAX, buf, &len, d)) !=
	    HV_OK)
		return e;
	for (p = *buf; *p != '\0'; p = nl) {
		char *c1, *c2;

		lineno++;
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		else
			nl = p + strlen(p);
		if (*p == '\0' || *p == '#')
			continue;
		c1 = strchr(p, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c1 == NULL || c2 == NULL || *n >= cap)
			goto bad;
		*c1 = *c2 = '\0';
		if (!hv_console_name_valid(p) ||
		    hv_console_role_parse(c1 + 1) < 0 ||
		    strncmp(c2 + 1, crypto_pwhash_argon2id_STRPREFIX,
		        strlen(crypto_pwhash_argon2id_STRPREFIX)) != 0)
			goto bad;
		lines[*n].name = p;
		lines[*n].role = c1 + 1;
		lines[*n].hash = c2 + 1;
		(*n)++;
	}
	return HV_OK;
bad:
	hv_secret_free(*buf);
	*buf = NULL;
	return hv_errset(d, HV_EMALFORMED, NULL,
	    "%s:%zu is not a line "
	    "NAME:ROLE:ARGON2ID-HASH; manage the file with haven "
	    "console-user.",
	    path, lineno);
}

#define USERS_MAX 4096

static hv_err
users_write(const char *path, const struct uline *lines, size_t n,
    struct hv_errdetail *d)
{
	size_t len = 0, off = 0;
	char *out;
	int rc;

	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i].name) + strlen(lines[i].role) +
		    strlen(lines[i].hash) + 3;
	if ((out = sodium_malloc(len + 1)) == NULL)
		return HV_ENOMEM;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len + 1 - off, "%s:%s:%s\n",
		    lines[i].name, lines[i].role, lines[i].hash);
	rc = hv_write_file_atomic(path, out, off, 0600);
	sodium_free(out);
	if (rc != 0)
		return hv_errset(d, HV_EIO, NULL, "cannot write %s: %s.", path,
		    strerror(errno));
	return HV_OK;
}

hv_err
hv_console_user_add(const char *path, const char *name, int role,
    const char *password, int replace, struct hv_errdetail *d)
{
	char hash[crypto_pwhash_STRBYTES];
	struct uline *lines;
	char *buf = NULL;
	size_t n = 0, pl = password ? strlen(password) : 0, i;
	hv_err e;

	if (!hv_console_name_valid(name))
		return hv_errset(d, HV_EUSAGE, "name",
		    "'%.64s' is not a user "
		    "name: use 1 to %d letters, digits and . _ @ -.",
		    name ? name : "", HV_CONSOLE_NAME_MAX);
	if (pl < HV_CONSOLE_PASSWORD_MIN || pl > HV_CONSOLE_PASSWORD_MAX)
		return hv_errset(d, HV_EUSAGE, "password",
		    "a password must "
		    "have %d to %d characters.",
		    HV_CONSOLE_PASSWORD_MIN, HV_CONSOLE_PASSWORD_MAX);
	if (sodium_init() < 0)
		return HV_ESYS;
	if ((lines = calloc(USERS_MAX + 1, sizeof(*lines))) == NULL)
		return HV_ENOMEM;
	if ((e = users_read(path, &buf, lines, USERS_MAX, &n, d)) != HV_OK)
		goto out;
	for (i = 0; i < n && strcmp(lines[i].name, name) != 0; i++)
		;
	if (i < n && !replace) {
		e = hv_errset(d, HV_EEXISTS, "name",
		    "%s already has a user "
		    "%s; remove it first.",
		    path, name);
		goto out;
	}
	if (crypto_pwhash_str(hash, password, pl,
	        crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		e = HV_ENOMEM;
		goto out;
	}
	if (i == n)
		n++;
	lines[i].name = (char *)name;
	lines[i].role = (char *)hv_console_role_name(role);
	lines[i].hash = hash;
	e = users_write(path, lines, n, d);
out:
	sodium_memzero(hash, sizeof(hash));
	hv_secret_free(buf);
	free(lines);
	return e;
}

hv_err
hv_console_user_remove(const char *path, const char *name,
    struct hv_errdetail *d)
{
	struct uline *lines;
	char *buf = NULL;
	size_t n = 0, i;
	hv_err e;

	if ((lines = calloc(USERS_MAX, sizeof(*lines))) == NULL)
		return HV_ENOMEM;
	if ((e = users_read(path, &buf, lines, USERS_MAX, &n, d)) != HV_OK)
		goto out;
	for (i = 0; i < n && strcmp(lines[i].name, name) != 0; i++)
		;
	if (i == n) {
		e = hv_errset(d, HV_ENOTFOUND, "name",
		    "%s has no user "
		    "'%.64s'.",
		    path, name);
		goto out;
	}
	memmove(&lines[i], &lines[i + 1], (n - i - 1) * sizeof(*lines));
	e = users_write(path, lines, n - 1, d);
out:
	hv_secret_free(buf);
	free(lines);
	return e;
}

hv_err
hv_console_user_list(const char *path,
    void (*fn)(const char *name, int role, void *cls), void *cls,
    struct hv_errdetail *d)
{
	struct uline *lines;
	char *buf = NULL;
	size_t n = 0;
	hv_err e;

	if ((lines = calloc(USERS_MAX, sizeof(*lines))) == NULL)
		return HV_ENOMEM;
	if ((e = users_read(path, &buf, lines, USERS_MAX, &n, d)) == HV_OK)
		for (size_t i = 0; i < n; i++)
			fn(lines[i].name, hv_console_role_parse(lines[i].role),
			    cls);
	hv_secret_free(buf);
	free(lines);
	return e;
}

hv_err
hv_console_user_role(const char *path, const char *name, int *role,
    struct hv_errdetail *d)
{
	struct uline *lines;
	char *buf = NULL;
	size_t n = 0, i;
	hv_err e;

	if ((lines = calloc(USERS_MAX, sizeof(*lines))) == NULL)
		return HV_ENOMEM;
	if ((e = users_read(path, &buf, lines, USERS_MAX, &n, d)) == HV_OK) {
		for (i = 0; i < n && strcmp(lines[i].name, name) != 0; i++)
			;
		if (i < n)
			*role = hv_console_role_parse(lines[i].role);
		else
			e = hv_errset(d, HV_ENOTFOUND, "name",
			    "%s has no user "
			    "'%.64s'.",
			    path, name);
	}
	hv_secret_free(buf);
	free(lines);
	return e;
}

/*
 * A hash of a random password, checked when the name is unknown so that
 * an unknown name costs the same Argon2id work as a wrong password.
 */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_make(void)
{
	char pw[33];

	randombytes_buf(pw, sizeof(pw) - 1);
	pw[sizeof(pw) - 1] = '\0';
	if (crypto_pwhash_str(dummy_hash, pw, sizeof(pw) - 1,
	        crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
	sodium_memzero(pw, sizeof(pw));
}

hv_err
hv_console_user_check(const char *path, const char *name, const char *password,
    int *role, struct hv_errdetail *d)
{
	struct uline *lines;
	char *buf = NULL;
	size_t n = 0, i, pl = password ? strlen(password) : 0;
	int ok;
	hv_err e;

	if (sodium_init() < 0)
		return HV_ESYS;
	pthread_once(&dummy_once, dummy_make);
	if ((lines = calloc(USERS_MAX, sizeof(*lines))) == NULL)
		return HV_ENOMEM;
	if ((e = users_read(path, &buf, lines, USERS_MAX, &n, d)) != HV_OK)
		goto out;
	for (i = 0; i < n && strcmp(lines[i].name, name) != 0; i++)
		;
	if (pl > HV_CONSOLE_PASSWORD_MAX)
		pl = HV_CONSOLE_PASSWORD_MAX;
	ok = crypto_pwhash_str_verify(i < n ? lines[i].hash : dummy_hash,
	         password ? password : "", pl) == 0;
	if (i < n && ok) {
		*role = hv_console_role_parse(lines[i].role);
		e = HV_OK;
	} else
		e = hv_errset(d, HV_EUNAUTHORIZED, "password",
		    "The name or "
		    "the password is wrong.");
out:
	hv_secret_free(buf);
	free(lines);
	return e;
}

/* ---- sessions ---------------------------------------------------------- */

struct session {
	int used;
	uint8_t hash[32]; /* BLAKE2b of the cookie's 32 bytes */
	char name[HV_CONSOLE_NAME_MAX + 1];
	int role;
	char csrf[HV_CONSOLE_TOKEN_HEX + 1];
	int64_t opened_ms, last_ms;
};

struct throttle {
	char name[HV_CONSOLE_NAME_MAX + 1];
	unsigned fails;
	int64_t until_ms, last_ms;
};

struct hv_console_sessions {
	pthread_mutex_t lock;
	uint64_t idle_s;
	struct session s[HV_CONSOLE_SESSIONS_MAX];
	struct throttle t[THROTTLE_NAMES];
};

hv_console_sessions *
hv_console_sessions_new(uint64_t idle_s)
{
	hv_console_sessions *s;

	if (sodium_init() < 0)
		return NULL;
	if ((s = sodium_malloc(sizeof(*s))) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->idle_s = idle_s;
	return s;
}

void
hv_console_sessions_destroy(hv_console_sessions **s)
{
	if (s == NULL || *s == NULL)
		return;
	pthread_mutex_destroy(&(*s)->lock);
	sodium_free(*s); /* wipes */
	*s = NULL;
}

/* Decodes a cookie value into its 32 bytes; -1 when it is not one. */
static int
sid_decode(const char *sid, uint8_t raw[32])
{
	if (sid == NULL || strlen(sid) != HV_CONSOLE_TOKEN_HEX)
		return -1;
	return hv_unhex(sid, raw, 32);
}

static int64_t
session_end(const hv_console_sessions *s, const struct session *e)
{
	int64_t idle = e->last_ms + (int64_t)s->idle_s * 1000;
	int64_t abs = e->opened_ms + (int64_t)HV_CONSOLE_SESSION_MAX_S * 1000;

	return idle < abs ? idle : abs;
}

hv_err
hv_console_session_open(hv_console_sessions *s, const char *name, int role,
    int64_t now_ms, char sid[HV_CONSOLE_TOKEN_HEX + 1])
{
	uint8_t raw[32], tok[32];
	struct session *slot = NULL;

	if (!hv_console_name_valid(name))
		return HV_EBADREQUEST;
	randombytes_buf(raw, sizeof(raw));
	randombytes_buf(tok, sizeof(tok));
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < HV_CONSOLE_SESSIONS_MAX; i++) {
		struct session *e = &s->s[i];

		if (e->used && session_end(s, e) <= now_ms)
			sodium_memzero(e, sizeof(*e));
		if (!e->used) {
			if (slot == NULL)
				slot = e;
		}
	}
	if (slot == NULL) {
		slot = &s->s[0];
		for (size_t i = 1; i < HV_CONSOLE_SESSIONS_MAX; i++)
			if (s->s[i].last_ms < slot->last_ms)
				slot = &s->s[i];
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = 1;
	crypto_generichash(slot->hash, sizeof(slot->hash), raw, sizeof(raw),
	    NULL, 0);
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->role = role;
	hv_hex(tok, sizeof(tok), slot->csrf);
	slot->opened_ms = slot->last_ms = now_ms;
	pthread_mutex_unlock(&s->lock);
	hv_hex(raw, sizeof(raw), sid);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(tok, sizeof(tok));
	return HV_OK;
}

/* The live slot of hash, or NULL; under lock. */
static struct session *
session_find(hv_console_sessions *s, const uint8_t hash[32])
{
	for (size_t i = 0; i < HV_CONSOLE_SESSIONS_MAX; i++)
		if (s->s[i].used && sodium_memcmp(s->s[i].hash, hash, 32) == 0)
			return &s->s[i];
	return NULL;
}

hv_err
hv_console_session_get(hv_console_sessions *s, const char *sid, int64_t now_ms,
    int touch, struct hv_console_who *who)
{
	uint8_t raw[32], hash[32];
	struct session *e;
	hv_err err = HV_EUNAUTHORIZED;

	if (sid_decode(sid, raw) != 0)
		return HV_EUNAUTHORIZED;
	crypto_generichash(hash, sizeof(hash), raw, sizeof(raw), NULL, 0);
	sodium_memzero(raw, sizeof(raw));
	pthread_mutex_lock(&s->lock);
	if ((e = session_find(s, hash)) != NULL) {
		if (session_end(s, e) <= now_ms)
			sodium_memzero(e, sizeof(*e));
		else {
			if (touch)
				e->last_ms = now_ms;
			memset(who, 0, sizeof(*who));
			memcpy(who->name, e->name, sizeof(who->name));
			who->role = e->role;
			memcpy(who->csrf, e->csrf, sizeof(who->csrf));
			who->expires_ms = session_end(s, e);
			err = HV_OK;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

void
hv_console_session_close(hv_console_sessions *s, const char *sid)
{
	uint8_t raw[32], hash[32];
	struct session *e;

	if (sid_decode(sid, raw) != 0)
		return;
	crypto_generichash(hash, sizeof(hash), raw, sizeof(raw), NULL, 0);
	pthread_mutex_lock(&s->lock);
	if ((e = session_find(s, hash)) != NULL)
		sodium_memzero(e, sizeof(*e));
	pthread_mutex_unlock(&s->lock);
}

int
hv_console_csrf_ok(const struct hv_console_who *who, const char *token,
    size_t len)
{
	if (token == NULL || len != HV_CONSOLE_TOKEN_HEX)
		return 0;
	return sodium_memcmp(who->csrf, token, HV_CONSOLE_TOKEN_HEX) == 0;
}

/* ---- slow-down --------------------------------------------------------- */

static struct throttle *
throttle_find(hv_console_sessions *s, const char *name)
{
	for (size_t i = 0; i < THROTTLE_NAMES; i++)
		if (s->t[i].name[0] != '\0' && strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	return NULL;
}

int64_t
hv_console_throttle_wait(hv_console_sessions *s, const char *name,
    int64_t now_ms)
{
	struct throttle *t;
	int64_t w = 0;

	pthread_mutex_lock(&s->lock);
	if ((t = throttle_find(s, name)) != NULL && t->until_ms > now_ms)
		w = (t->until_ms - now_ms + 999) / 1000;
	pthread_mutex_unlock(&s->lock);
	return w;
}

void
hv_console_throttle_fail(hv_console_sessions *s, const char *name,
    int64_t now_ms)
{
	struct throttle *t;

	if (name == NULL || *name == '\0' || strlen(name) > HV_CONSOLE_NAME_MAX)
		return;
	pthread_mutex_lock(&s->lock);
	if ((t = throttle_find(s, name)) == NULL) {
		/* A free slot, else the one untouched longest. */
		t = &s->t[0];
		for (size_t i = 0; i < THROTTLE_NAMES; i++) {
			if (s->t[i].name[0] == '\0') {
				t = &s->t[i];
				break;
			}
			if (s->t[i].last_ms < t->last_ms)
				t = &s->t[i];
		}
		memset(t, 0, sizeof(*t));
		snprintf(t->name, sizeof(t->name), "%s", name);
	}
	t->fails++;
	t->last_ms = now_ms;
	if (t->fails > HV_CONSOLE_THROTTLE_FREE) {
		unsigned k = t->fails - HV_CONSOLE_THROTTLE_FREE - 1;
		int64_t w =
		    k >= 9 ? HV_CONSOLE_THROTTLE_MAX_S : ((int64_t)1 << k);

		if (w > HV_CONSOLE_THROTTLE_MAX_S)
			w = HV_CONSOLE_THROTTLE_MAX_S;
		t->until_ms = now_ms + w * 1000;
	}
	pthread_mutex_unlock(&s->lock);
}

void
hv_console_throttle_clear(hv_console_sessions *s, const char *name)
{
	struct throttle *t;

	pthread_mutex_lock(&s->lock);
	if ((t = throttle_find(s, name)) != NULL)
		memset(t, 0, sizeof(*t));
	pthread_mutex_unlock(&s->lock);
}

/* ---- forms and HTML ---------------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
hv_form_get(const char *body, size_t len, const char *name, char *out,
    size_t cap)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && body[end] != '&')
			end++;
		if (end - i > nl && memcmp(body + i, name, nl) == 0 &&
		    body[i + nl] == '=') {
			size_t o = 0;

			for (size_t k = i + nl + 1; k < end; k++) {
				int c = (unsigned char)body[k];

				if (c == '+')
					c = ' ';
				else if (c == '%') {
					int h, l;

					if (k + 2 >= end)
						return -2;
					h = hexval(body[k + 1]);
					l = hexval(body[k + 2]);
					if (h < 0 || l < 0)
						return -2;
					c = h * 16 + l;
					k += 2;
				}
				if (c == 0 || o + 1 >= cap)
					return -2;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return (long)o;
		}
		i = end + 1;
	}
	return -1;
}

char *
hv_html_escape(const char *s)
{
	size_t n = 0;
	char *out, *p;

	for (const char *q = s; *q; q++)
		n += strchr("&<>\"'", *q) ? 6 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (p = out; *s; s++) {
		const char *rep = NULL;

		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		}
		if (rep != NULL) {
			memcpy(p, rep, strlen(rep));
			p += strlen(rep);
		} else
			*p++ = *s;
	}
	*p = '\0';
	return out;
}
