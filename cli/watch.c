/*
 * haven watch — prints the agent's alerts as they arrive, for a duty team.
 *
 * Reads GET /v1/alerts/stream (Server-Sent Events) with libcurl's multi
 * interface, so that one poll waits on the stream and on a signalfd for
 * SIGINT/SIGTERM: the signal handler is the kernel's, and Ctrl-C ends the
 * command with status 0 between two lines, never in the middle of one.
 * Events are handled outside libcurl's callbacks, where fetching a
 * message's child details with a second request is allowed.
 *
 * If the stream drops after it was up, watch reconnects with a backoff of
 * 1, 2, 4 … 30 seconds and says on stderr that alerts raised meanwhile are
 * not replayed. The child's name goes to standard output only.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "hv_util.h"
#include "messaging.h"

#define STREAM_PATH "/v1/alerts/stream"
#define STREAM_MAX (4u << 20) /* bytes of one pending event */
#define BACKOFF_MAX_S 30

enum { O_COUNT = 1200, O_TIMEOUT };

/* How one connection to the stream ended. */
enum round {
	R_STOP, /* signal, --count or --timeout: exit 0 */
	R_DROPPED, /* was up, then dropped: reconnect */
	R_FAILED, /* could not connect (or 5xx): reconnect if ever up */
	R_REFUSED, /* 401, 404 …: exit with the refusal */
};

struct watch {
	const char *cmd;
	api_t *api;
	int json;
	long count; /* stop after this many events; 0 = never */
	long seen;
	int64_t deadline; /* monotonic ms; 0 = none */
	int sfd; /* signalfd for SIGINT and SIGTERM */
	int up; /* this round got a 200 */
	int stop;
	char *in; /* bytes received, not yet parsed */
	size_t len;
	char event[64]; /* event: of the event being read */
	char *data; /* data: lines of the event being read */
	size_t dlen;
};

static size_t
on_bytes(char *ptr, size_t size, size_t n, void *ud)
{
	struct watch *w = ud;
	size_t add = size * n;
	char *nb;

	if (w->len + add > STREAM_MAX ||
	    (nb = realloc(w->in, w->len + add + 1)) == NULL)
		return 0; /* the transfer fails and is reconnected */
	w->in = nb;
	memcpy(w->in + w->len, ptr, add);
	w->len += add;
	w->in[w->len] = '\0';
	return add;
}

/* Prints one event and counts it. */
static void
dispatch(struct watch *w)
{
	struct hv_errdetail d;
	json_t *data, *msg = NULL;
	const char *ev = w->event[0] ? w->event : "message";
	const char *id;
	char path[64];
	hv_err e;

	data = json_loadb(w->data, w->dlen, 0, NULL);
	if (data == NULL || !json_is_object(data)) {
		fprintf(stderr,
		    "haven watch: the agent sent a '%s' event whose "
		    "data is not a JSON object; skipped it.\n",
		    ev);
		json_decref(data);
		return;
	}
	if (w->json)
		fmt_json(stdout, data, 1);
	else {
		id = json_string_value(json_object_get(data, "id"));
		if ((strcmp(ev, "message") == 0 ||
		        strcmp(ev, "escalation") == 0) &&
		    id != NULL && msg_is_id(id) &&
		    json_object_get(data, "child") == NULL) {
			/* Events carry no child details: fetch them. */
			hv_errclear(&d);
			snprintf(path, sizeof(path), "/v1/inbox/%s", id);
			e = api_call(w->api, "GET", path, NULL, &msg, &d);
			if (e != HV_OK) {
				fprintf(stderr,
				    "haven watch: cannot fetch "
				    "message %s: %s\n",
				    id, hv_errmsg(e, &d));
				msg = NULL;
			}
		}
		fmt_event(stdout, ev, data,
		    json_object_get(data, "child") ? data : msg);
	}
	fflush(stdout);
	json_decref(msg);
	json_decref(data);
	if (w->count > 0 && ++w->seen >= w->count)
		w->stop = 1;
}

/* Handles one line of the stream (without its end of line). */
static void
line(struct watch *w, char *s, size_t n)
{
	char *nd;

	if (n == 0) {
		if (w->data != NULL)
			dispatch(w);
		free(w->data);
		w->data = NULL;
		w->dlen = 0;
		w->event[0] = '\0';
		return;
	}
	if (s[0] == ':')
		return; /* a comment: ": connected", ": keep-alive" */
	if (strncmp(s, "event:", 6) == 0) {
		s += 6 + (s[6] == ' ');
		snprintf(w->event, sizeof(w->event), "%s", s);
	} else if (strncmp(s, "data:", 5) == 0) {
		s += 5 + (s[5] == ' ');
		n = strlen(s);
		if ((nd = realloc(w->data, w->dlen + n + 2)) == NULL)
			return;
		w->data = nd;
		if (w->dlen > 0)
			w->data[w->dlen++] = '\n';
		memcpy(w->data + w->dlen, s, n);
		w->dlen += n;
		w->data[w->dlen] = '\0';
	}
}

/* Handles every complete line received so far. */
static void
parse_lines(struct watch *w)
{
	size_t start = 0;
	char *nl;

	if (w->in == NULL)
		return;
	while (!w->stop && start < w->len &&
	    (nl = memchr(w->in + start, '\n', w->len - start)) != NULL) {
		size_t n = (size_t)(nl - (w->in + start));

		*nl = '\0';
		if (n > 0 && w->in[start + n - 1] == '\r')
			w->in[start + --n] = '\0';
		line(w, w->in + start, n);
		start += (size_t)(nl - (w->in + start)) + 1;
	}
	memmove(w->in, w->in + start, w->len - start);
	w->len -= start;
}

/* 1 when SIGINT or SIGTERM arrived (and consumes it). */
static int
signalled(struct watch *w)
{
	struct signalfd_siginfo si;

	return read(w->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si);
}

/* Milliseconds to wait at most, bounded by --timeout; -1 when it passed. */
static long
wait_ms(struct watch *w, long most)
{
	int64_t left;

	if (w->deadline == 0)
		return most;
	if ((left = w->deadline - hv_mono_ms()) <= 0)
		return -1;
	return left < most ? (long)left : most;
}

/* One connection to the stream, until it ends or we stop. */
static enum round
stream_once(struct watch *w, hv_err *err, struct hv_errdetail *d)
{
	CURLM *m = curl_multi_init();
	CURL *h = api_stream_new(w->api, STREAM_PATH);
	CURLcode res = CURLE_OK;
	enum round r = R_STOP;
	char *errbuf = NULL;
	long status = 0, ms;
	int running = 1, done = 0, q;
	CURLMsg *cm;

	w->up = 0;
	w->len = 0;
	if (m == NULL || h == NULL) {
		*err = HV_ENOMEM;
		r = R_REFUSED;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_PRIVATE, &errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_bytes);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_multi_add_handle(m, h);
	for (;;) {
		struct curl_waitfd wfd = { w->sfd, CURL_WAIT_POLLIN, 0 };

		curl_multi_perform(m, &running);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 && !w->up) {
			w->up = 1;
			fprintf(stderr,
			    "haven watch: connected to the agent at "
			    "%s; waiting for alerts (Ctrl-C to stop).\n",
			    api_url(w->api));
		}
		if (status == 200)
			parse_lines(w);
		if (w->stop)
			goto out;
		while ((cm = curl_multi_info_read(m, &q)) != NULL)
			if (cm->msg == CURLMSG_DONE) {
				res = cm->data.result;
				done = 1;
			}
		if (done || !running)
			break;
		if ((ms = wait_ms(w, 1000)) < 0)
			goto out;
		curl_multi_poll(m, &wfd, 1, (int)ms, NULL);
		if ((wfd.revents & CURL_WAIT_POLLIN) && signalled(w))
			goto out;
	}
	if (w->up) {
		*err = hv_errset(d, HV_EUNREACHABLE, NULL,
		    "the alert stream "
		    "from %s dropped (%s)",
		    api_url(w->api),
		    res == CURLE_OK       ? "the agent closed it" :
		        errbuf && *errbuf ? errbuf :
		                            curl_easy_strerror(res));
		r = R_DROPPED;
		goto out;
	}
	*err = api_outcome(w->api, res, status, w->in, errbuf, d);
	if (*err == HV_OK) /* a 2xx other than 200: not a stream */
		*err = hv_errset(d, HV_EIO, NULL,
		    "the agent at %s answered "
		    "HTTP %ld instead of an event stream",
		    api_url(w->api), status);
	r = res != CURLE_OK || status >= 500 ? R_FAILED : R_REFUSED;
out:
	if (m != NULL && h != NULL)
		curl_multi_remove_handle(m, h);
	api_stream_free(&h);
	if (m != NULL)
		curl_multi_cleanup(m);
	free(w->data);
	w->data = NULL;
	w->dlen = 0;
	w->event[0] = '\0';
	return r;
}

/* Sleeps s seconds unless a signal or --timeout comes first (then 1). */
static int
backoff_sleep(struct watch *w, int s)
{
	struct pollfd pfd = { w->sfd, POLLIN, 0 };
	int64_t end = hv_mono_ms() + s * 1000L;
	long ms;

	for (;;) {
		int64_t left = end - hv_mono_ms();

		if (left <= 0)
			return 0;
		if ((ms = wait_ms(w, (long)left)) < 0)
			return 1;
		if (poll(&pfd, 1, (int)ms) > 0 && signalled(w))
			return 1;
	}
}

/* Parses a positive whole number option; 0 on error. */
static long
positive(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 ||
	    v > 1000000000L)
		return 0;
	return v;
}

int
cmd_watch(int argc, char **argv)
{
	static const struct option lo[] = { { "count", required_argument, NULL,
		                                O_COUNT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0];
	struct msg_common co = { NULL, NULL, 0 };
	struct watch w;
	struct hv_errdetail d;
	sigset_t set, old;
	long timeout = 0;
	int c, rc = 0, backoff = 1, ever = 0;
	enum round r;
	hv_err e = HV_OK;

	if (cli_wants_help(argc, argv))
		return msg_help(cmd);
	memset(&w, 0, sizeof(w));
	w.cmd = cmd;
	w.sfd = -1;
	optind = 0;
	while (
	    (c = msg_getopt(argc, argv, lo, NULL, cmd, "watch", &co)) != -1) {
		if (c == MSG_OPT_USAGE)
			return 2;
		if (c == O_COUNT && (w.count = positive(optarg)) == 0)
			return cli_usage(cmd,
			    "--count '%s' is not a whole "
			    "number of events above 0.",
			    optarg);
		if (c == O_TIMEOUT && (timeout = positive(optarg)) == 0)
			return cli_usage(cmd,
			    "--timeout '%s' is not a whole "
			    "number of seconds above 0.",
			    optarg);
	}
	if (optind < argc)
		return cli_usage(cmd,
		    "'%s' is not expected here; haven watch "
		    "takes options only.",
		    argv[optind]);
	w.json = co.json;
	if ((rc = msg_connect(cmd, &co, &w.api)) != 0)
		return rc;
	if (timeout > 0)
		w.deadline = hv_mono_ms() + timeout * 1000;

	sigemptyset(&set);
	sigemptyset(&old);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, &old) != 0 ||
	    (w.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		rc = msg_fail(hv_errset(&d, HV_ESYS, NULL,
		                  "cannot watch for "
		                  "Ctrl-C: %s",
		                  strerror(errno)),
		    &d);
		goto out;
	}
	for (;;) {
		hv_errclear(&d);
		r = stream_once(&w, &e, &d);
		if (r == R_STOP)
			break;
		if (r == R_REFUSED || (r == R_FAILED && !ever)) {
			rc = msg_fail(e, &d);
			break;
		}
		if (w.up) {
			ever = 1;
			backoff = 1;
		}
		fprintf(stderr,
		    "haven watch: %s; reconnecting in %d s. Alerts "
		    "raised meanwhile are not replayed: check 'haven inbox "
		    "--unacked' once reconnected.\n",
		    d.message, backoff);
		if (backoff_sleep(&w, backoff))
			break;
		if ((backoff *= 2) > BACKOFF_MAX_S)
			backoff = BACKOFF_MAX_S;
	}
out:
	if (w.sfd >= 0)
		close(w.sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(w.in);
	api_destroy(&w.api);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 3;
	return rc;
}
