/*
 * hv_console — the rules of the duty-team console (SPEC §14) that do not
 * need a running agent: the users file with its Argon2id hashes, the
 * session table (random ids of which only a hash is kept, idle and absolute
 * limits, a CSRF token each), the slow-down after failed log-ins, form
 * decoding and HTML escaping. The agent's console (agent/console.c) and the
 * `haven console-user` command use it; neither keeps a second copy.
 *
 * Never stores a password or a session id in clear; never logs either.
 */
#ifndef HV_CONSOLE_H
#define HV_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

#define HV_CONSOLE_NAME_MAX 64
#define HV_CONSOLE_PASSWORD_MIN 10
#define HV_CONSOLE_PASSWORD_MAX 256
#define HV_CONSOLE_SESSIONS_MAX 256
#define HV_CONSOLE_SESSION_MAX_S (12 * 3600) /* absolute limit, SPEC §14 */
#define HV_CONSOLE_TOKEN_HEX 64 /* 32 random bytes in hex */
#define HV_CONSOLE_THROTTLE_FREE 3 /* failures before any delay */
#define HV_CONSOLE_THROTTLE_MAX_S 300

enum hv_console_role {
	HV_ROLE_VIEWER = 0, /* reads alerts and messages */
	HV_ROLE_DUTY = 1, /* also acknowledges */
};

/* ---- users file -------------------------------------------------------- */

/*
 * The users file holds one line per person, "NAME:ROLE:HASH", where HASH is
 * crypto_pwhash_str's Argon2id string. It is written 0600 and refused when
 * group or others may read it.
 */

/* 1 when name is a staff identifier (hv_policy_staff_id_valid). */
int hv_console_name_valid(const char *name);
/* "duty" or "viewer"; -1 for anything else. */
int hv_console_role_parse(const char *s);
const char *hv_console_role_name(int role);

/*
 * Adds name with role and password (replacing an existing entry of that
 * name only when replace is set), creating the file 0600 if need be.
 * Errors: HV_EUSAGE (bad name, password length), HV_EEXISTS,
 * HV_EINSECURE, HV_EMALFORMED (a line of the file is not NAME:ROLE:HASH),
 * HV_EIO, HV_ENOMEM.
 */
hv_err hv_console_user_add(const char *path, const char *name, int role,
    const char *password, int replace, struct hv_errdetail *d);
/* Removes name. Errors: HV_ENOTFOUND, HV_EINSECURE, HV_EMALFORMED, HV_EIO. */
hv_err hv_console_user_remove(const char *path, const char *name,
    struct hv_errdetail *d);
/*
 * Calls fn for each user in file order. Errors: HV_EINSECURE,
 * HV_EMALFORMED, HV_EIO (a missing file is an empty list).
 */
hv_err hv_console_user_list(const char *path,
    void (*fn)(const char *name, int role, void *cls), void *cls,
    struct hv_errdetail *d);
/*
 * Checks name's password against the file. *role is set on success.
 * Errors: HV_EUNAUTHORIZED (no such name or a wrong password: the same
 * answer, after the same work), HV_EINSECURE, HV_EMALFORMED, HV_EIO.
 */
hv_err hv_console_user_check(const char *path, const char *name,
    const char *password, int *role, struct hv_errdetail *d);

/*
 * name's role in the file, without a password: a session's holder is
 * checked against it so that a removed user (or a changed role) takes
 * effect at once. Errors: HV_ENOTFOUND, HV_EINSECURE, HV_EMALFORMED,
 * HV_EIO.
 */
hv_err hv_console_user_role(const char *path, const char *name, int *role,
    struct hv_errdetail *d);

/* ---- sessions ---------------------------------------------------------- */

typedef struct hv_console_sessions hv_console_sessions;

/* What a valid session says about its holder (copied out). */
struct hv_console_who {
	char name[HV_CONSOLE_NAME_MAX + 1];
	int role;
	char csrf[HV_CONSOLE_TOKEN_HEX + 1];
	int64_t expires_ms; /* the earlier of the idle and absolute ends */
};

/* A table with idle timeout idle_s; NULL when out of memory. */
hv_console_sessions *hv_console_sessions_new(uint64_t idle_s);
void hv_console_sessions_destroy(hv_console_sessions **s);

/*
 * Opens a session for name at now_ms; sid receives the cookie value (hex,
 * NUL-terminated), of which only the BLAKE2b hash is kept. When the table
 * is full, the session idle longest is closed. Errors: HV_EBADREQUEST
 * (name invalid).
 */
hv_err hv_console_session_open(hv_console_sessions *s, const char *name,
    int role, int64_t now_ms, char sid[HV_CONSOLE_TOKEN_HEX + 1]);
/*
 * Looks up the cookie value sid at now_ms. A session past its idle or
 * absolute end is closed. When touch is set, its idle clock restarts.
 * Errors: HV_EUNAUTHORIZED (unknown, malformed or ended).
 */
hv_err hv_console_session_get(hv_console_sessions *s, const char *sid,
    int64_t now_ms, int touch, struct hv_console_who *who);
/* Closes the session of sid, if any. */
void hv_console_session_close(hv_console_sessions *s, const char *sid);
/* 1 when token (len bytes, any content) is who's CSRF token; constant time. */
int hv_console_csrf_ok(const struct hv_console_who *who, const char *token,
    size_t len);

/* ---- slow-down after failed log-ins ------------------------------------ */

/*
 * Per user name: the first HV_CONSOLE_THROTTLE_FREE failures cost nothing,
 * then each one doubles a wait (1, 2, 4 … up to HV_CONSOLE_THROTTLE_MAX_S
 * seconds) during which log-ins for that name are refused unchecked. A
 * success clears the name. Names never tried are not stored.
 */
/* Seconds still to wait before name may try again (0: may try now). */
int64_t hv_console_throttle_wait(hv_console_sessions *s, const char *name,
    int64_t now_ms);
void hv_console_throttle_fail(hv_console_sessions *s, const char *name,
    int64_t now_ms);
void hv_console_throttle_clear(hv_console_sessions *s, const char *name);

/* ---- forms and HTML ---------------------------------------------------- */

/*
 * Finds field name in an application/x-www-form-urlencoded body and
 * percent-decodes it into out[cap]. Returns its length, -1 when absent,
 * -2 when malformed or longer than cap - 1 (out is then undefined).
 * A decoded NUL byte is malformed.
 */
long hv_form_get(const char *body, size_t len, const char *name, char *out,
    size_t cap);

/* A new string with & < > " ' escaped for HTML text and attributes. */
char *hv_html_escape(const char *s);

#endif
