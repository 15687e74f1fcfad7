/*
 * Alerts for the duty team: the in-memory bus behind GET /v1/alerts/stream
 * and the alert hook (alert_command).
 *
 * The bus is a ring of the last AGENT_SSE_RING events; each stream thread
 * keeps its own position and waits on the condition variable. Events carry
 * metadata only, never child details or the body.
 *
 * The hook runs as `/bin/sh -c alert_command` in its own process group with
 * the summary JSON on standard input. Each run is queued in the store
 * (DB_HOOKQ) in the transaction that stores what it alerts about, so a
 * restart or kill -9 loses none; the entry is removed only after the hook
 * exits 0. A failing or timed-out hook (10 seconds, then SIGKILL) is logged
 * and tried again with backoff, never dropped. At most AGENT_HOOK_MAX run
 * at once, IMMEDIATE runs first and then the oldest. A run that was going
 * when the agent died runs again: at least once. Only the main thread
 * starts and reaps hooks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_util.h"

extern char **environ;

/* ---- the SSE bus ------------------------------------------------------- */

void
bus_init(struct alert_bus *b)
{
	pthread_condattr_t ca;

	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	/* Stream threads wait with monotonic deadlines. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
}

void
bus_destroy(struct alert_bus *b)
{
	for (size_t i = 0; i < AGENT_SSE_RING; i++)
		free(b->ring[i].data);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

void
bus_publish(struct alert_bus *b, const char *type, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct sse_event *ev;

	if (text == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->seq++;
	ev = &b->ring[b->seq % AGENT_SSE_RING];
	free(ev->data);
	ev->data = text;
	ev->seq = b->seq;
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void
bus_stop(struct alert_bus *b)
{
	pthread_mutex_lock(&b->lock);
	b->stopping = 1;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* ---- the alert hook ---------------------------------------------------- */

/*
 * DB_HOOKQ: key class (0 immediate, 1 other) || be64 seq, so that a cursor
 * walks IMMEDIATE runs first and each class oldest first. Value:
 *   [0] kind  [1] failed attempts  [8..16) last failure (wall ms)
 *   [16..24) next attempt (wall ms)  [24..40) message id  [40..) JSON
 * The JSON is only there for HOOK_INTEGRITY; a message's summary is built
 * from the inbox when the hook starts, so the store holds no decrypted
 * byte of it.
 */
#define HOOK_VAL_HDR 40
#define HOOK_RETRY_MIN_MS 1000
#define HOOK_RETRY_MAX_MS 300000 /* backoff doubles up to 5 minutes */

hv_err
hook_queue(struct agent *a, MDB_txn *txn, int kind, int immediate,
    const uint8_t id[HV_ID_LEN], const char *json)
{
	uint8_t key[HOOK_KEY_LEN], *val;
	size_t jlen = json != NULL ? strlen(json) : 0;
	uint64_t seq;
	hv_err e;

	if (a->cfg.alert_command == NULL)
		return HV_OK;
	if ((e = store_next_seq(a, txn, &seq)) != HV_OK)
		return e;
	if ((val = calloc(1, HOOK_VAL_HDR + jlen)) == NULL)
		return HV_ENOMEM;
	key[0] = immediate ? 0 : 1;
	hv_be64_put(key + 1, seq);
	val[0] = (uint8_t)kind;
	if (id != NULL)
		memcpy(val + 24, id, HV_ID_LEN);
	if (jlen > 0)
		memcpy(val + HOOK_VAL_HDR, json, jlen);
	e = store_put(a, txn, DB_HOOKQ, key, sizeof(key), val,
	    HOOK_VAL_HDR + jlen);
	free(val);
	if (e == HV_OK)
		a->hook_scan = 1;
	return e;
}

void
hook_alert(struct agent *a, json_t *summary)
{
	MDB_txn *txn;
	char *text;
	hv_err e;

	if (a->cfg.alert_command == NULL)
		return;
	if ((text = json_dumps(summary, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		hv_log_warnx("alert_command: out of memory; an alert is lost");
		return;
	}
	if ((e = hv_store_begin(a->store, 0, &txn)) == HV_OK) {
		if ((e = hook_queue(a, txn, HOOK_INTEGRITY, 1, NULL, text)) ==
		    HV_OK)
			e = hv_store_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (e != HV_OK)
		hv_log_warnx("alert_command: cannot queue an alert in the "
		             "store (%s)",
		    hv_errname(e));
	free(text);
}

void
hook_init(struct agent *a)
{
	MDB_txn *txn;
	size_t n;

	a->hook_boot_ms = hv_now_ms();
	a->hook_scan = 1;
	if (a->cfg.alert_command != NULL ||
	    hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	n = store_count(a, txn, DB_HOOKQ);
	mdb_txn_abort(txn);
	if (n > 0)
		hv_log_warnx("%zu alert hook runs are queued but alert_command "
		             "is not set; they wait until it is",
		    n);
}

/* Starts one hook with text on its standard input; 0 or -1. */
static int
hook_spawn(struct agent *a, struct hook_child *slot, const char *text)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char *argv[] = { "/bin/sh", "-c", a->cfg.alert_command, NULL };
	int p[2], rc;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		hv_log_warn("alert_command: pipe");
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawnattr_init(&at);
	/* The agent blocks and ignores signals the hook must not inherit. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	        POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0]);
	if (rc != 0) {
		close(p[1]);
		errno = rc;
		hv_log_warn("alert_command: cannot start /bin/sh");
		return -1;
	}
	/* The summary is far below a pipe's buffer: never blocks. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (write(p[1], text, strlen(text)) != (ssize_t)strlen(text))
		hv_log_warnx("alert_command: could not write the whole "
		             "summary to its standard input");
	close(p[1]);
	slot->pid = pid;
	slot->deadline_ms = hv_mono_ms() + AGENT_HOOK_TIMEOUT_MS;
	return 0;
}

static struct hook_child *
free_slot(struct agent *a)
{
	for (size_t i = 0; i < AGENT_HOOK_MAX; i++)
		if (a->hooks[i].pid == 0)
			return &a->hooks[i];
	return NULL;
}

/* 1 when a running hook works off the queue entry key. */
static int
running(struct agent *a, const uint8_t *key)
{
	for (size_t i = 0; i < AGENT_HOOK_MAX; i++)
		if (a->hooks[i].pid != 0 &&
		    memcmp(a->hooks[i].key, key, HOOK_KEY_LEN) == 0)
			return 1;
	return 0;
}

/* Milliseconds before attempt tries + 1: 1 s, 2 s, 4 s ... 5 minutes. */
static int64_t
backoff_ms(unsigned tries)
{
	int64_t ms = HOOK_RETRY_MIN_MS;

	while (tries-- > 1 && ms < HOOK_RETRY_MAX_MS)
		ms *= 2;
	return ms < HOOK_RETRY_MAX_MS ? ms : HOOK_RETRY_MAX_MS;
}

/*
 * Removes the queue entry (ok) or records a failed attempt and when to try
 * again. The entry is only ever removed after the hook exited 0.
 */
static void
hook_settle(struct agent *a, const uint8_t key[HOOK_KEY_LEN], const char *what,
    int ok, const char *why)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	uint8_t *val = NULL;
	int64_t now = hv_now_ms(), next = 0;
	unsigned tries = 0;
	hv_err e;

	if ((e = hv_store_begin(a->store, 0, &txn)) != HV_OK)
		goto out;
	if (ok) {
		e = store_del(a, txn, DB_HOOKQ, key, HOOK_KEY_LEN);
	} else if ((e = store_get(a, txn, DB_HOOKQ, key, HOOK_KEY_LEN, &v)) ==
	        HV_OK &&
	    v.mv_size >= HOOK_VAL_HDR) {
		if ((val = malloc(v.mv_size)) == NULL) {
			e = HV_ENOMEM;
			goto out;
		}
		memcpy(val, v.mv_data, v.mv_size);
		tries = val[1] < 255 ? val[1] + 1u : 255u;
		next = now + backoff_ms(tries);
		val[1] = (uint8_t)tries;
		hv_be64_put(val + 8, (uint64_t)now);
		hv_be64_put(val + 16, (uint64_t)next);
		e = store_put(a, txn, DB_HOOKQ, key, HOOK_KEY_LEN, val,
		    v.mv_size);
	}
	if (e == HV_OK || e == HV_ENOTFOUND) {
		e = hv_store_commit(txn);
		txn = NULL;
	}
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(val);
	if (!ok && next != 0) {
		hv_log_warnx("alert_command for %s %s (attempt %u); it runs "
		             "again in %lld s",
		    what, why, tries, (long long)((next - now) / 1000));
		if (a->hook_next_ms == 0 || next < a->hook_next_ms)
			a->hook_next_ms = next;
	}
	if (e != HV_OK)
		hv_log_warnx("alert_command for %s: cannot update its queue "
		             "entry (%s); it may run again",
		    what, hv_errname(e));
	a->hook_scan = 1;
}

static void
hook_reaped(struct agent *a, struct hook_child *h, int st)
{
	char why[64];

	h->pid = 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		hook_settle(a, h->key, h->id_hex, 1, NULL);
		return;
	}
	if (WIFEXITED(st))
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(st));
	else
		snprintf(why, sizeof(why), "was killed by signal %d",
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	hook_settle(a, h->key, h->id_hex, 0, why);
}

/* One due queue entry, copied out of the read transaction. */
struct hook_due {
	uint8_t key[HOOK_KEY_LEN];
	int kind;
	uint8_t id[HV_ID_LEN];
	char *json;
};

/* The line the hook reads for d, or NULL when its message is gone. */
static char *
hook_text(struct agent *a, const struct hook_due *d)
{
	json_t *s;
	char *text, *line = NULL;

	if (d->kind == HOOK_INTEGRITY || d->kind == HOOK_RETRACTION)
		return d->json != NULL &&
		        asprintf(&line, "%s\n", d->json) >= 0 ?
		    line :
		    NULL;
	if ((s = inbox_summary(a, d->id, 1)) == NULL)
		return NULL;
	/* The run's own event, whatever happened to the message since. */
	json_object_set_new(s, "escalated",
	    json_boolean(d->kind == HOOK_ESCALATION));
	text = json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(s);
	if (text != NULL && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

/* 1 unless the inbox surely lacks id (a read error counts as having it). */
static int
inbox_has(struct agent *a, const uint8_t id[HV_ID_LEN])
{
	MDB_txn *txn;
	MDB_val v;
	hv_err e;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return 1;
	e = store_get(a, txn, DB_INBOX, id, HV_ID_LEN, &v);
	mdb_txn_abort(txn);
	return e != HV_ENOTFOUND;
}

/*
 * Starts the due queue entries, immediate first then oldest first, into
 * the free slots. An entry whose last failure was before this process
 * started is due at once: a restart is a moment to try again.
 */
static void
hook_start_due(struct agent *a)
{
	struct hook_due due[AGENT_HOOK_MAX];
	size_t nfree = 0, n = 0;
	int64_t now = hv_now_ms(), next = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	for (size_t i = 0; i < AGENT_HOOK_MAX; i++)
		nfree += a->hooks[i].pid == 0;
	if (nfree == 0)
		return;
	a->hook_scan = 0;
	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_HOOKQ), &cur) != 0) {
		mdb_txn_abort(txn);
		return;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < nfree;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		int64_t failed, at;

		if (k.mv_size != HOOK_KEY_LEN || v.mv_size < HOOK_VAL_HDR ||
		    running(a, k.mv_data))
			continue;
		failed = (int64_t)hv_be64_get(p + 8);
		at = (int64_t)hv_be64_get(p + 16);
		/* A wait beyond the longest backoff means the clock moved. */
		if (at > now && failed >= a->hook_boot_ms &&
		    at - now <= HOOK_RETRY_MAX_MS) {
			if (next == 0 || at < next)
				next = at;
			continue;
		}
		memcpy(due[n].key, k.mv_data, HOOK_KEY_LEN);
		due[n].kind = p[0];
		memcpy(due[n].id, p + 24, HV_ID_LEN);
		due[n].json = v.mv_size > HOOK_VAL_HDR ?
		    strndup((const char *)p + HOOK_VAL_HDR,
		        v.mv_size - HOOK_VAL_HDR) :
		    NULL;
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (next != 0 && (a->hook_next_ms == 0 || next < a->hook_next_ms))
		a->hook_next_ms = next;

	for (size_t i = 0; i < n; i++) {
		struct hook_child *slot = free_slot(a);
		char *line = hook_text(a, &due[i]);

		if (due[i].kind == HOOK_INTEGRITY)
			snprintf(slot->id_hex, sizeof(slot->id_hex),
			    "the integrity alert");
		else if (due[i].kind == HOOK_RETRACTION)
			snprintf(slot->id_hex, sizeof(slot->id_hex),
			    "a retraction");
		else
			hv_hex(due[i].id, HV_ID_LEN, slot->id_hex);
		memcpy(slot->key, due[i].key, HOOK_KEY_LEN);
		if (line == NULL &&
		    (due[i].kind == HOOK_INTEGRITY ||
		        due[i].kind == HOOK_RETRACTION ||
		        inbox_has(a, due[i].id))) {
			hook_settle(a, due[i].key, slot->id_hex, 0,
			    "could not get its summary");
		} else if (line == NULL) {
			/* Nothing left to alert about: the message is gone. */
			hv_log_warnx("alert_command for %s: the message is no "
			             "longer in the inbox; its run is dropped",
			    slot->id_hex);
			hook_settle(a, due[i].key, slot->id_hex, 1, NULL);
		} else if (hook_spawn(a, slot, line) != 0) {
			hook_settle(a, due[i].key, slot->id_hex, 0,
			    "could not be started");
		}
		free(line);
		free(due[i].json);
	}
}

void
hook_tick(struct agent *a)
{
	int64_t now = hv_mono_ms();

	for (size_t i = 0; i < AGENT_HOOK_MAX; i++) {
		struct hook_child *h = &a->hooks[i];
		int st;

		if (h->pid == 0)
			continue;
		if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
			hook_reaped(a, h, st);
			continue;
		}
		if (now >= h->deadline_ms) {
			hv_log_warnx("alert_command for %s ran for more than "
			             "%d s; killing it",
			    h->id_hex, AGENT_HOOK_TIMEOUT_MS / 1000);
			kill(-h->pid, SIGKILL);
			kill(h->pid, SIGKILL);
			if (waitpid(h->pid, &st, 0) == h->pid)
				hook_reaped(a, h, st);
			else
				hook_settle(a, h->key, h->id_hex, 0,
				    "was lost");
			h->pid = 0;
		}
	}
	if (a->cfg.alert_command == NULL)
		return;
	if (a->hook_next_ms != 0 && hv_now_ms() >= a->hook_next_ms) {
		a->hook_next_ms = 0; /* a retry is due */
		a->hook_scan = 1;
	}
	if (a->hook_scan)
		hook_start_due(a);
}

/* 1 while some hook runs or a queued run may be due (the loop then ticks
 * more often). */
int
hook_busy(struct agent *a)
{
	for (size_t i = 0; i < AGENT_HOOK_MAX; i++)
		if (a->hooks[i].pid != 0)
			return 1;
	if (a->cfg.alert_command == NULL)
		return 0;
	return a->hook_scan ||
	    (a->hook_next_ms != 0 && hv_now_ms() >= a->hook_next_ms);
}

void
hook_stop(struct agent *a)
{
	for (size_t i = 0; i < AGENT_HOOK_MAX; i++) {
		struct hook_child *h = &a->hooks[i];
		int st;

		if (h->pid == 0)
			continue;
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &st, 0);
		h->pid = 0; /* its run stays queued for the next start */
	}
}
