/*
 * The messaging command group (haven send|inbox|show|ack|status|watch|
 * health|decide): what its files share.
 *
 *   messaging.c   the commands and their flags
 *   watch.c       haven watch: the SSE alert stream
 *   format.c      human-readable output for a duty team
 *   msghelp.c     the --help pages
 *   http.c        the agent's API (http.h)
 *
 * Child details and message bodies are printed to standard output only,
 * when a person asked for them; never to standard error or a log.
 */
#ifndef HV_CLI_MESSAGING_H
#define HV_CLI_MESSAGING_H

#include <stdio.h>

#include <jansson.h>

#include "http.h"

/* Long options every messaging command accepts, anywhere after its name. */
#define MSG_OPT_AGENT 1000
#define MSG_OPT_TOKEN_FILE 1001
#define MSG_OPT_JSON 1002
#define MSG_OPT_HELP 'h'
#define MSG_COMMON_OPTIONS \
	{ "agent", required_argument, NULL, MSG_OPT_AGENT }, \
	    { "token-file", required_argument, NULL, MSG_OPT_TOKEN_FILE }, \
	    { "json", no_argument, NULL, MSG_OPT_JSON }, \
	{ \
		"help", no_argument, NULL, MSG_OPT_HELP \
	}

/* What the common options set. */
struct msg_common {
	const char *agent; /* --agent, else $HAVEN_AGENT */
	const char *token_file; /* --token-file, else $HAVEN_TOKEN_FILE */
	int json;
};

/*
 * Handles a common option (agent, token-file, json) for getopt_long's
 * answer c. Returns 1 when c was one of them, else 0.
 */
int msg_common_opt(struct msg_common *o, int c, const char *arg);

struct option;
/* msg_getopt's answer after it printed a usage sentence (exit status 2). */
#define MSG_OPT_USAGE (-2)
/*
 * getopt_long (optstring ":h") over a messaging command's argv from the
 * caller's optind: takes the common options into *co itself and returns
 * the next other option (its index in *idx when idx is not NULL), -1 at
 * the end, or MSG_OPT_USAGE after printing "'X' is not an option of haven
 * NAME." or "X needs a value.".
 */
int msg_getopt(int argc, char **argv, const struct option *lo, int *idx,
    const char *cmd, const char *name, struct msg_common *co);

/*
 * Opens the client of the agent named by o (falling back to $HAVEN_AGENT
 * and $HAVEN_TOKEN_FILE). Returns 0 and sets *out, or prints one sentence
 * and returns the exit status (2 when either is not set or unusable, 3
 * when the token file is missing, a folder or unreadable).
 */
int msg_connect(const char *cmd, struct msg_common *o, api_t **out);

/* Prints "haven: SENTENCE" and returns the exit status of e. */
int msg_fail(hv_err e, const struct hv_errdetail *d);

/* 1 when s is a message id: 32 hex digits (either case). */
int msg_is_id(const char *s);

/* Prints the --help page of a messaging command to stdout; returns 0. */
int msg_help(const char *cmd);

/* ---- format.c ----------------------------------------------------------- */

/* One JSON document on its own line(s): indented, or compact when asked. */
void fmt_json(FILE *fp, const json_t *j, int compact);

/* "2026-11-22T09:14:03Z" as "2026-11-22 09:14:03Z" into buf; "-" for NULL. */
const char *fmt_time(const char *iso, char *buf, size_t cap);

/* A message's deadline ({rag, due} or null) as words, "-" when none. */
const char *fmt_deadline(const json_t *deadline, char *buf, size_t cap);

/* The child's name from a received message, or a placeholder. */
const char *fmt_child_name(const json_t *msg);

/* `haven inbox`: a table of {"messages": […]}, newest first. */
void fmt_inbox(FILE *fp, const json_t *inbox, int unacked_only);

/* `haven show`: one received message, the handling flag first. */
void fmt_message(FILE *fp, const json_t *msg);

/* `haven status`: a sent message's or decision's timeline. */
void fmt_status(FILE *fp, const json_t *st);

/* `haven health`. */
void fmt_health(FILE *fp, const json_t *h);

/*
 * `haven watch`: one line for an SSE event. msg is the received message
 * (GET /v1/inbox/{id}) for message and escalation events when it could be
 * fetched, else NULL.
 */
void fmt_event(FILE *fp, const char *event, const json_t *data,
    const json_t *msg);

#endif
