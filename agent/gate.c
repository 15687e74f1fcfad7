/*
 * The gate in front of the agent's HTTP server (docs/API.md,
 * "Connections" and "HTTP"): it owns the listening socket, reads the head
 * of the first request on each new connection without consuming it, and
 * hands libmicrohttpd only connections whose head arrived whole, in time,
 * well formed and with the bearer token. Everything else is answered here
 * with Haven's JSON error. It never logs what a client sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "agent.h"
#include "hv_httphead.h"
#include "hv_log.h"
#include "hv_util.h"

/* ---- the token ------------------------------------------------------- */

/*
 * 1 when an Authorization value (v[0..len), NULs and all) is "Bearer" and
 * the agent's token, nothing more. Hashing the whole rest first makes the
 * comparison constant-time and independent of its length, so a value with
 * anything after the token ("TOKEN\0junk", "TOKEN x") never matches.
 */
int
gate_token_ok(const struct agent *a, const char *v, size_t len)
{
	uint8_t hash[32];
	size_t i = 7;

	if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	while (i < len && v[i] == ' ')
		i++;
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)v + i, len - i,
	    NULL, 0);
	return sodium_memcmp(hash, a->token_hash, sizeof(hash)) == 0;
}

/* ---- the gate --------------------------------------------------------- */

/*
 * The gate owns the listening socket and reads the head of the first
 * request on each new connection — with MSG_PEEK, so that nothing is
 * consumed — before libmicrohttpd sees the connection at all:
 *
 * - A head must arrive whole within AGENT_HTTP_HEAD_MS of the connect.
 *   Idle time-outs alone let a client that trickles a byte now and then
 *   hold a connection for ever; this deadline does not reset.
 * - At most AGENT_HTTP_PENDING connections wait for their heads; one more
 *   pushes out the oldest. A slow-loris therefore holds gate slots only,
 *   never libmicrohttpd's threads, and a client that sends its request at
 *   once is read on the next turn of the loop, whatever the flood.
 * - Only a head with the agent's token (compared over the value's full
 *   length, NULs included) and a sound shape is handed to libmicrohttpd;
 *   anything else gets Haven's JSON error here. libmicrohttpd's own HTML
 *   answers (and the doubled status line it sends for a negative
 *   Content-Length) are thus never reached on a first request; later
 *   requests on a kept-alive connection come from a client that showed
 *   the token, and libmicrohttpd parses them alone.
 *
 * No per-address cap: the API listens on 127.0.0.1, where every client —
 * the agency's case system, the CLI, an attacker on the same host — has
 * the same address, so a per-address cap is the total cap under another
 * name and would let one local process lock out the rest. The deadline,
 * the push-out of the oldest and the token check before a thread is spent
 * are what keep the API answering.
 */

struct gate_conn {
	int fd;
	int64_t deadline_ms; /* monotonic */
	int lowat; /* SO_RCVLOWAT set (bytes seen + 1) */
	struct sockaddr_in addr;
	socklen_t addr_len;
};

struct api_gate {
	pthread_t thread;
	int stop_pipe[2];
	size_t n;
	struct gate_conn conns[AGENT_HTTP_PENDING];
	char head[AGENT_HTTP_HEAD_MAX];
	int emfile_warned;
};

static const char *
reason_phrase(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/*
 * Answers fd with Haven's error object and closes it. What the client
 * sent is read and dropped first, so that closing does not reset the
 * connection before the client reads the answer.
 */
static void
gate_refuse(struct api_gate *g, int fd, unsigned status, const char *code,
    const char *msg)
{
	char hdr[256], *body;
	json_t *j;
	int n;

	j = json_pack("{s:{s:s, s:n, s:s}}", "error", "code", code, "field",
	    "message", msg);
	body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	for (int i = 0; i < 64; i++)
		if (recv(fd, g->head, sizeof(g->head), MSG_DONTWAIT) <= 0)
			break;
	n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 %u %s\r\nContent-Type: "
	    "application/json\r\nCache-Control: no-store\r\nConnection: "
	    "close\r\nContent-Length: %zu\r\n\r\n",
	    status, reason_phrase(status), body ? strlen(body) : 0);
	if (n > 0 && (size_t)n < sizeof(hdr) &&
	    send(fd, hdr, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n &&
	    body != NULL)
		(void)send(fd, body, strlen(body), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(body);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/*
 * Decides on a complete head: refuse it, or hand the connection to
 * libmicrohttpd (which then owns fd).
 */
static void
gate_admit(struct agent *a, struct gate_conn *gc, size_t head_len)
{
	struct api_gate *g = a->gate;
	struct hv_errdetail d;
	const union MHD_DaemonInfo *info;
	const char *v = NULL;
	size_t vlen = 0;
	unsigned status;
	int one = 1;
	hv_err e;

	hv_errclear(&d);
	if (hv_httphead_field(g->head, head_len, "Authorization", &v, &vlen) !=
	        1 ||
	    !gate_token_ok(a, v, vlen)) {
		gate_refuse(g, gc->fd, 401, "UNAUTHORIZED",
		    "A valid bearer "
		    "token is required: send 'Authorization: Bearer TOKEN' "
		    "with the agent's token.");
		return;
	}
	if ((e = hv_httphead_check(g->head, head_len, &status, &d)) != HV_OK) {
		gate_refuse(g, gc->fd, status, hv_errname(e), d.message);
		return;
	}
	info =
	    MHD_get_daemon_info(a->httpd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	if (info != NULL &&
	    info->num_connections >= (unsigned)AGENT_HTTP_CONNECTIONS) {
		gate_refuse(g, gc->fd, 503, "UNAVAILABLE",
		    "The agent is "
		    "serving as many requests as it can; try again shortly.");
		return;
	}
	/* libmicrohttpd reads as usual from here: no low-water mark. */
	setsockopt(gc->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	if (MHD_add_connection(a->httpd, gc->fd, (struct sockaddr *)&gc->addr,
	        gc->addr_len) != MHD_YES)
		hv_log_warnx("the HTTP server refused a connection (%s)",
		    strerror(errno)); /* and closed it */
}

/*
 * Looks at what a waiting connection sent so far (revents: what poll
 * said). Returns 1 while it still waits for its head, 0 once it was
 * handed on or closed.
 */
static int
gate_peek(struct agent *a, struct gate_conn *gc, short revents)
{
	struct api_gate *g = a->gate;
	ssize_t n;
	size_t end;
	int want;

	n = recv(gc->fd, g->head, sizeof(g->head), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 1;
	if (n <= 0) {
		close(gc->fd); /* the client went away */
		return 0;
	}
	if ((end = hv_httphead_end(g->head, (size_t)n)) > 0) {
		gate_admit(a, gc, end);
		return 0;
	}
	if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
		/*
		 * The client stopped sending before its head was whole: the
		 * bytes it sent stay readable, so waiting would spin.
		 */
		close(gc->fd);
		return 0;
	}
	if ((size_t)n == sizeof(g->head)) {
		gate_refuse(g, gc->fd, 431, "TOO_LARGE",
		    "The request head "
		    "(request line and headers) is larger than the agent "
		    "takes.");
		return 0;
	}
	/*
	 * Peeked bytes stay queued, so the socket would poll readable for
	 * ever: wake only when more than what was seen has arrived.
	 */
	want = (int)n + 1;
	if (want != gc->lowat &&
	    setsockopt(gc->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) ==
	        0)
		gc->lowat = want;
	return 1;
}

/* Accepts what the listening socket holds, up to a batch per turn. */
static void
gate_accept(struct agent *a, int64_t now)
{
	struct api_gate *g = a->gate;

	for (int i = 0; i < 64; i++) {
		struct gate_conn gc = { .addr_len = sizeof(gc.addr) };

		gc.fd = accept4(a->listen_fd, (struct sockaddr *)&gc.addr,
		    &gc.addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (gc.fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && g->n > 0) {
				/* Out of descriptors: drop the oldest wait. */
				if (!g->emfile_warned++)
					hv_log_warnx(
					    "out of file descriptors "
					    "for API connections; closing the "
					    "slowest");
				close(g->conns[0].fd);
				memmove(g->conns, g->conns + 1,
				    --g->n * sizeof(g->conns[0]));
				continue;
			}
			return;
		}
		if (g->n == AGENT_HTTP_PENDING) {
			/* The oldest has had longest to send its head. */
			gate_refuse(g, g->conns[0].fd, 408, "BAD_REQUEST",
			    "The request head did not arrive in time.");
			memmove(g->conns, g->conns + 1,
			    --g->n * sizeof(g->conns[0]));
		}
		gc.deadline_ms = now + AGENT_HTTP_HEAD_MS;
		g->conns[g->n++] = gc;
	}
}

static void *
gate_run(void *arg)
{
	struct agent *a = arg;
	struct api_gate *g = a->gate;
	struct pollfd pfd[2 + AGENT_HTTP_PENDING];
	int emfile_pause = 0;
	char late[128];

	snprintf(late, sizeof(late),
	    "The request head did not arrive within "
	    "%d seconds of connecting.",
	    AGENT_HTTP_HEAD_MS / 1000);

	for (;;) {
		int64_t now = hv_mono_ms(), wait = 1000;
		size_t i, kept;
		nfds_t np = 2;

		pfd[0] =
		    (struct pollfd){ .fd = g->stop_pipe[0], .events = POLLIN };
		/* Without descriptors to spare, accepting would spin. */
		pfd[1] =
		    (struct pollfd){ .fd = emfile_pause ? -1 : a->listen_fd,
			    .events = POLLIN };
		for (i = 0; i < g->n; i++) {
			pfd[np++] = (struct pollfd){ .fd = g->conns[i].fd,
				.events = POLLIN | POLLRDHUP };
			if (g->conns[i].deadline_ms - now < wait)
				wait = g->conns[i].deadline_ms - now;
		}
		if (emfile_pause)
			wait = wait < 100 ? wait : 100;
		if (poll(pfd, np, wait < 0 ? 0 : (int)wait) < 0 &&
		    errno != EINTR) {
			hv_log_warn("poll on the API's connections");
			continue;
		}
		if (pfd[0].revents != 0)
			break;
		now = hv_mono_ms();
		/* Heads first: a client that sent at once never waits. */
		for (i = 0, kept = 0; i < g->n; i++) {
			struct gate_conn *gc = &g->conns[i];
			int keep = 1;

			if (pfd[2 + i].revents != 0)
				keep = gate_peek(a, gc, pfd[2 + i].revents);
			if (keep && now >= gc->deadline_ms) {
				gate_refuse(g, gc->fd, 408, "BAD_REQUEST",
				    late);
				keep = 0;
			}
			if (keep)
				g->conns[kept++] = *gc;
		}
		g->n = kept;
		emfile_pause = 0;
		if (pfd[1].revents != 0) {
			gate_accept(a, now);
			emfile_pause =
			    g->n == 0 && (errno == EMFILE || errno == ENFILE);
		}
	}
	for (size_t i = 0; i < g->n; i++)
		close(g->conns[i].fd);
	g->n = 0;
	return NULL;
}

/*
 * Starts the gate's thread on a->listen_fd (bound and listening) for
 * a->httpd (started with MHD_USE_NO_LISTEN_SOCKET).
 * Errors: HV_ENOMEM, HV_EIO (detail names the address).
 */
hv_err
gate_start(struct agent *a, struct hv_errdetail *d)
{
	if ((a->gate = calloc(1, sizeof(*a->gate))) == NULL)
		return hv_errset(d, HV_ENOMEM, NULL, "out of memory.");
	a->gate->stop_pipe[0] = a->gate->stop_pipe[1] = -1;
	if (pipe2(a->gate->stop_pipe, O_CLOEXEC) != 0 ||
	    pthread_create(&a->gate->thread, NULL, gate_run, a) != 0) {
		if (a->gate->stop_pipe[0] >= 0) {
			close(a->gate->stop_pipe[0]);
			close(a->gate->stop_pipe[1]);
		}
		free(a->gate);
		a->gate = NULL;
		return hv_errset(d, HV_EIO, "listen",
		    "cannot start the HTTP "
		    "server on %s: %s.",
		    a->listen_addr, strerror(errno));
	}
	return HV_OK;
}

/* Stops the thread and closes the connections still sending heads. */
void
gate_stop(struct agent *a)
{
	if (a->gate == NULL)
		return;
	(void)write(a->gate->stop_pipe[1], "x", 1);
	pthread_join(a->gate->thread, NULL);
	close(a->gate->stop_pipe[0]);
	close(a->gate->stop_pipe[1]);
	free(a->gate);
	a->gate = NULL;
}
