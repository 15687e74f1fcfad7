/*
 * The end-to-end test harness: real binaries on 127.0.0.1.
 *
 * A test builds a partnership in a fresh temporary folder (keys, agreement,
 * signed directory, configs) with the real `haven` command, starts
 * haven-broker and haven-agent processes with `--ready-file` and port 0 /
 * `*`, and kills only the processes it started, by pid. Every wait has a
 * deadline; nothing sleeps and then asserts.
 *
 * Binaries come from $HAVEN_BIN (set by `make check`), else ./bin.
 */
#ifndef HV_HARNESS_H
#define HV_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_AGENTS 8
#define H_PATH 512

struct h_agent {
	char id[65];
	char conf[H_PATH];
	char ready[H_PATH];
	char log[H_PATH];
	char token_file[H_PATH];
	char token[128];
	char url[160]; /* http://127.0.0.1:PORT once started */
	pid_t pid;
};

struct h_partnership {
	char dir[256];
	char agreement[H_PATH];
	char directory[H_PATH];
	char root_key[H_PATH];
	char root_pub[H_PATH];
	char subject_key[H_PATH];
	char broker_conf[H_PATH];
	char broker_ready[H_PATH];
	char broker_log[H_PATH];
	char broker_data[H_PATH];
	char endpoint[128]; /* tcp://127.0.0.1:PORT once started */
	char broker_extra[2048];
	pid_t broker_pid;
	int n_agents;
	struct h_agent agents[H_MAX_AGENTS];
};

/* Path of a Haven binary ("haven", "haven-broker", "haven-agent"). */
const char *h_bin(const char *name);

/* printf into a static-per-call malloc'd string the caller frees. */
char *h_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Runs a shell command with a time limit (seconds); stdout and stderr go to
 * *out (malloc'd, may be NULL). Returns the exit status, or -1 on a signal
 * or time-out.
 */
int h_sh(char **out, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes text to path with mode. Returns 0 or -1. */
int h_write(const char *path, int mode, const char *text);

/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *h_read(const char *path);

/*
 * Creates a partnership in a new temporary folder: keys for root,
 * broker.bristol, police.avon, health.bristol-royal,
 * education.st-marys-primary, social-care.bristol, ig.bristol and the
 * subject key; the SPEC §5 sample agreement (plus `extra` lines, may be
 * NULL) at version 1; the signed directory; a broker config binding
 * tcp://127.0.0.1:* with `broker_extra` config lines (may be NULL).
 * Returns 0, or -1 (with the reason on stderr).
 */
int h_partnership_create(struct h_partnership *p, const char *extra,
    const char *broker_extra);

/*
 * Rewrites the agreement with `version` and `extra` lines and re-signs the
 * directory in place. Returns 0 or -1.
 */
int h_partnership_resign(struct h_partnership *p, unsigned version,
    const char *extra);

/*
 * Starts the broker and waits (deadline 20 s) for its ready file; fills
 * p->endpoint. After the first start the broker's config is rewritten to
 * bind that same port, so a restart keeps the address agents use.
 * Returns 0 or -1.
 */
int h_broker_start(struct h_partnership *p);

/* SIGKILL the broker and reap it. */
void h_broker_kill(struct h_partnership *p);

/* SIGTERM the broker and wait (deadline 20 s); returns its exit status or -1. */
int h_broker_stop(struct h_partnership *p);

/*
 * Adds an agent for node `id` (config in the partnership folder, listen
 * 127.0.0.1:0, a 0600 token file, `extra` config lines, may be NULL) and
 * returns it, without starting it.
 */
struct h_agent *h_agent_add(struct h_partnership *p, const char *id,
    const char *extra);

/* Starts the agent, waits for its ready file, fills a->url. 0 or -1. */
int h_agent_start(struct h_partnership *p, struct h_agent *a);
void h_agent_kill(struct h_agent *a);
int h_agent_stop(struct h_agent *a);

/* Sends sig to every process the partnership started and reaps them. */
void h_partnership_stop(struct h_partnership *p);

/* Removes the partnership's folder (after stopping). */
void h_partnership_destroy(struct h_partnership *p);

/* Waits for pid to exit (deadline ms). Returns exit status, or -1. */
int h_wait_pid(pid_t pid, int timeout_ms);

/* 1 while pid is running (not reaped, not a zombie). */
int h_alive(pid_t pid);

/*
 * Polls cond(ctx) every 20 ms until it returns non-zero or timeout_ms passes.
 * Returns 1 when the condition held, 0 on time-out.
 */
int h_wait_until(int (*cond)(void *), void *ctx, int timeout_ms);

/* 1 when the file at path exists and contains text. */
int h_file_has(const char *path, const char *text);

/*
 * Waits, as h_wait_until, until the file at path contains text (a log
 * line, a hook's output). Returns 1 when it did, 0 on time-out.
 */
int h_wait_file_has(const char *path, const char *text, int timeout_ms);

/*
 * An HTTP request to an agent (libcurl). body may be NULL. token NULL means
 * no Authorization header. Returns the HTTP status (0 on connection
 * failure); *resp gets the body (malloc'd) when not NULL.
 */
int h_http(const char *method, const char *url, const char *token,
    const char *body, char **resp);

/*
 * n bytes from the middle of the record keyed by id (32 hex digits) in
 * database dbname of the LMDB store in dir, read-only beside a running
 * daemon; only a record above 4000 bytes (a ciphertext) counts. 0 or -1.
 */
int h_store_slice(const char *dir, const char *dbname, const char *hex,
    uint8_t *out, size_t n);

/*
 * 1 when a file directly under dir holds needle (where, may be NULL, then
 * names the file and the offset), 0 when none does, -1 when dir cannot be
 * listed.
 */
int h_dir_holds(const char *dir, const void *needle, size_t n, char *where,
    size_t cap);

#endif
