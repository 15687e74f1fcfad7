/*
 * Alerts for the duty team: the in-memory bus behind GET /v1/alerts/stream
 * and the alert hook (alert_command).
 *
 * The bus is a ring of the last AGENT_SSE_RING events; each stream thread
 * keeps its own position and waits on the condition variable. Events carry
 * metadata only, never child details or the body.
 *
 * The hook runs as `/bin/sh -c alert_command` in its own process group with
 * the summary JSON on standard input. At most AGENT_HOOK_MAX run at once
 * (more wait in a bounded queue); each gets 10 seconds before SIGKILL. A
 * failing hook is logged and otherwise ignored: the message is in the inbox
 * whatever the hook does. Only the main thread starts and reaps hooks.
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
	json_t *j;

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
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
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
	slot->id_hex[0] = '\0';
	if ((j = json_loads(text, 0, NULL)) != NULL) {
		snprintf(slot->id_hex, sizeof(slot->id_hex), "%s",
		    json_string_value(json_object_get(j, "id")) ?
		    json_string_value(json_object_get(j, "id")) : "");
		json_decref(j);
	}
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

void
hook_run(struct agent *a, json_t *summary)
{
	struct hook_child *slot;
	char *text, *line;

	if (a->cfg.alert_command == NULL)
		return;
	if ((text = json_dumps(summary, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		return;
	if (asprintf(&line, "%s\n", text) < 0) {
		free(text);
		return;
	}
	free(text);
	if ((slot = free_slot(a)) != NULL && a->n_hook_queue == 0) {
		hook_spawn(a, slot, line);
		free(line);
		return;
	}
	if (a->n_hook_queue == sizeof(a->hook_queue) / sizeof(a->hook_queue[0])) {
		hv_log_warnx("alert_command: %zu alerts waiting; dropping one "
		    "(the message is in the inbox)", a->n_hook_queue);
		free(line);
		return;
	}
	a->hook_queue[a->n_hook_queue++] = line;
}

static void
hook_reaped(struct hook_child *h, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		hv_log_warnx("alert_command for %s exited with status %d",
		    h->id_hex, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		hv_log_warnx("alert_command for %s was killed by signal %d",
		    h->id_hex, WTERMSIG(st));
	h->pid = 0;
}

void
hook_tick(struct agent *a)
{
	int64_t now = hv_mono_ms();
	struct hook_child *slot;

	for (size_t i = 0; i < AGENT_HOOK_MAX; i++) {
		struct hook_child *h = &a->hooks[i];
		int st;

		if (h->pid == 0)
			continue;
		if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
			hook_reaped(h, st);
			continue;
		}
		if (now >= h->deadline_ms) {
			hv_log_warnx("alert_command for %s ran for more than "
			    "%d s; killing it", h->id_hex,
			    AGENT_HOOK_TIMEOUT_MS / 1000);
			kill(-h->pid, SIGKILL);
			kill(h->pid, SIGKILL);
			if (waitpid(h->pid, &st, 0) == h->pid)
				hook_reaped(h, st);
			else
				h->pid = 0;
		}
	}
	while (a->n_hook_queue > 0 && (slot = free_slot(a)) != NULL) {
		char *line = a->hook_queue[0];

		memmove(a->hook_queue, a->hook_queue + 1,
		    (a->n_hook_queue - 1) * sizeof(a->hook_queue[0]));
		a->n_hook_queue--;
		hook_spawn(a, slot, line);
		free(line);
	}
}

/* 1 while some hook runs or waits (the loop then ticks more often). */
int
hook_busy(struct agent *a)
{
	if (a->n_hook_queue > 0)
		return 1;
	for (size_t i = 0; i < AGENT_HOOK_MAX; i++)
		if (a->hooks[i].pid != 0)
			return 1;
	return 0;
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
		h->pid = 0;
	}
	for (size_t i = 0; i < a->n_hook_queue; i++)
		free(a->hook_queue[i]);
	a->n_hook_queue = 0;
}
