/*
 * Helpers for the agent's end-to-end tests: a partnership with the broker
 * and the four agencies' agents, JSON requests to the local API, bounded
 * waits on inboxes and timelines, and a Server-Sent Events client that runs
 * libcurl in a thread.
 */
#ifndef HV_AGENT_KIT_H
#define HV_AGENT_KIT_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "harness.h"

#define AK_POLICE "police.avon"
#define AK_HEALTH "health.bristol-royal"
#define AK_SCHOOL "education.st-marys-primary"
#define AK_SOCIAL "social-care.bristol"

/* A lawful basis that satisfies every rule of SPEC §4.2, art9 included. */
#define AK_BASIS \
	"\"basis\":{\"consent\":\"NOT_SOUGHT\",\"art6\":" \
	"\"PUBLIC_TASK\",\"art9\":\"SAFEGUARDING\",\"justification\":" \
	"\"Seeking consent would place the child at increased risk.\"," \
	"\"decided_by\":\"duty.officer\"}"

/*
 * Creates a partnership, starts the broker and one agent for each of the
 * four agencies (police, health, education, social care) with extra config
 * lines per agent (array of 4 in that order, or NULL). Returns 0 or -1.
 */
int ak_setup(struct h_partnership *p, const char *const *extra);

/*
 * Stops every agent and the broker with SIGTERM, then checks that each
 * agent exited 0 and that no daemon's log holds a sanitizer report. Returns
 * 0, or -1 with the reason in why.
 */
int ak_stop_and_check(struct h_partnership *p, char *why, size_t cap);

/* The agent of node id, or NULL. */
struct h_agent *ak_agent(struct h_partnership *p, const char *id);

/*
 * A message request: to is a JSON array text ("[\"a\",\"b\"]"), tag names
 * the child and body so a test can check them at the recipient, more is
 * extra members (",\"deadline\":\"RED\"") or "". Malloc'd.
 */
char *ak_message(const char *to, const char *type, const char *priority,
    const char *tag, const char *more);

/* POSTs body to path; returns the status and copies the id of a 202. */
int ak_post(struct h_agent *a, const char *path, const char *body, char id[33]);

/* GETs path; returns the status, *out the parsed body (or NULL). */
int ak_get(struct h_agent *a, const char *path, json_t **out);

/* Waits until GET /v1/inbox/ID answers 200; *out the message (or NULL). */
int ak_wait_inbox(struct h_agent *a, const char *id, int timeout_ms,
    json_t **out);

/*
 * Waits until id's timeline at the sender holds an entry with status (and,
 * when peer is not NULL, with "to" or "node" equal to peer).
 */
int ak_wait_status(struct h_agent *a, const char *id, const char *status,
    const char *peer, int timeout_ms);

/* The agent's /v1/health (a new reference), or NULL. */
json_t *ak_health(struct h_agent *a);

/* The size of the tree head the agent stored, or -1 when it has none. */
long ak_tree_head_size(struct h_agent *a);

/* Waits until the agent stores a tree head larger than above; 1 when it
 * did, 0 on time-out. */
int ak_wait_tree_head_above(struct h_agent *a, long above, int timeout_ms);

/* Waits until the agent's /v1/health number `field` equals want. */
int ak_wait_health(struct h_agent *a, const char *field, long want,
    int timeout_ms);

/* An SSE client on one agent's /v1/alerts/stream. */
struct ak_sse {
	char url[256];
	char token[160];
	pthread_t thread;
	pthread_mutex_t lock;
	char *buf;
	size_t len;
	atomic_int stop;
	atomic_int done;
};

/* Connects and waits (bounded) for the stream's opening comment. 0 or -1. */
int ak_sse_start(struct ak_sse *s, struct h_agent *a);

/* Waits for an event of type whose data holds needle. 1, or 0 on time-out. */
int ak_sse_wait(struct ak_sse *s, const char *type, const char *needle,
    int timeout_ms);

/* Stops the client thread and frees the buffer. */
void ak_sse_stop(struct ak_sse *s);

#endif
