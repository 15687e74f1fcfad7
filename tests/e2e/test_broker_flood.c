/*
 * End-to-end tests of haven-broker under an unauthenticated flood (SPEC §6,
 * §10): bare TCP connections that say nothing or garbage, and CURVE
 * clients whose keys the directory does not hold, while an agency's client
 * connects and asks for the broker's health.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "client.h"
#include "harness.h"
#include "hv_util.h"
#include "hv_wire.h"

#define WAIT_MS 10000
#define FLOOD_N 1100 /* more than a 1,024 descriptor limit */
#define FLOOD_HEADROOM 300 /* the test's own descriptors */
#define STRANGERS 16

static struct h_partnership P;
static int bare[FLOOD_N];
static int n_bare;

static void
stop(void)
{
	for (int i = 0; i < n_bare; i++)
		if (bare[i] >= 0)
			close(bare[i]);
	n_bare = 0;
	h_partnership_destroy(&P);
}

/* The port of tcp://127.0.0.1:PORT. */
static int
endpoint_port(const char *ep)
{
	const char *c = strrchr(ep, ':');

	return c != NULL ? atoi(c + 1) : -1;
}

/* A non-blocking TCP connection to 127.0.0.1:port, or -1. */
static int
bare_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads what the broker sent on every open bare connection; closes and
 * counts those it hung up. Returns how many are still open. */
static int
bare_drain(int *closed)
{
	int open = 0;

	for (int i = 0; i < n_bare; i++) {
		char buf[256];
		ssize_t r;

		if (bare[i] < 0)
			continue;
		while ((r = read(bare[i], buf, sizeof(buf))) > 0)
			;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			close(bare[i]);
			bare[i] = -1;
			(*closed)++;
			continue;
		}
		open++;
	}
	return open;
}

/* 1 when the agent's /v1/health says it holds a session with the broker. */
static int
agent_connected(void *p)
{
	struct h_agent *a = p;
	char *body = NULL, *url = h_fmt("%s/v1/health", a->url);
	json_t *j = NULL;
	int ok = 0;

	if (h_http("GET", url, a->token, NULL, &body) == 200 &&
	    (j = json_loads(body, 0, NULL)) != NULL)
		ok = json_is_true(json_object_get(j, "broker_connected"));
	json_decref(j);
	free(body);
	free(url);
	return ok;
}

/* Lines of the broker's log holding needle. */
static int
log_lines(const char *needle)
{
	char *log = h_read(P.broker_log), *p;
	int n = 0;

	cr_assert_not_null(log, "cannot read %s", P.broker_log);
	for (p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(log);
	return n;
}

Test(broker_flood,
    admits_an_agency_while_bare_connections_and_unknown_keys_flood_it,
    .fini = stop, .timeout = 150)
{
	struct hc_client *strangers[STRANGERS], *police;
	struct h_agent *social;
	struct rlimit rl, low;
	const char garbage[] = "GET / HTTP/1.1\r\nHost: broker\r\n\r\n\x01\xff";
	int port, want, closed = 0, knocked;
	Haven__Frame *f;
	int64_t end;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0,
	    "cannot create a partnership");
	/* The broker starts with the soft limit a plain service gets; it is
	 * the broker's own job to raise it. */
	low = rl;
	if (low.rlim_cur > 1024)
		low.rlim_cur = 1024;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not start; see %s",
	    P.broker_log);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	want = FLOOD_N;
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)FLOOD_N + FLOOD_HEADROOM)
		want = (int)rl.rlim_cur - FLOOD_HEADROOM;
	cr_assert_gt(want, 0,
	    "the descriptor limit leaves no room for a "
	    "flood");
	port = endpoint_port(P.endpoint);

	/* The flood: bare connections, a hundred at a time (each hundred
	 * given a moment to connect), one in twenty sending garbage, the rest
	 * silent. */
	for (n_bare = 0; n_bare < want;) {
		int first = n_bare;

		for (; n_bare < want && n_bare - first < 100; n_bare++) {
			bare[n_bare] = bare_connect(port);
			cr_assert_geq(bare[n_bare], 0, "connection %d: %s",
			    n_bare, strerror(errno));
		}
		for (int i = first; i < n_bare; i++) {
			struct pollfd pf = { bare[i], POLLOUT, 0 };

			if (poll(&pf, 1, 2000) == 1 && (pf.revents & POLLOUT) &&
			    i % 20 == 0)
				(void)!write(bare[i], garbage,
				    sizeof(garbage) - 1);
		}
	}
	/* Clients with keys no directory holds, retrying all the while. */
	for (int i = 0; i < STRANGERS; i++) {
		hv_keys *k;

		cr_assert_eq(hv_keys_generate(&k), HV_OK);
		strangers[i] = hc_connect_keys(&P, "police.avon", k);
		cr_assert_not_null(strangers[i]);
	}

	/*
	 * A real agent starts during the flood, with the bare connections
	 * still held, and gets its session: the broker's handshake timeout
	 * and raised descriptor limit leave room for it.
	 */
	social = h_agent_add(&P, "social-care.bristol", NULL);
	cr_assert_not_null(social);
	cr_assert_eq(h_agent_start(&P, social), 0,
	    "the agent did not start; "
	    "see %s",
	    social->log);
	cr_assert(h_wait_until(agent_connected, social, 60000),
	    "the agent "
	    "never held a session with the broker during the flood; see %s "
	    "and %s",
	    social->log, P.broker_log);

	/* An agency connects during the flood and is answered. */
	police = hc_connect(&P, "police.avon");
	cr_assert_not_null(police);
	cr_assert(hc_wait_handshakes(police, 1, WAIT_MS),
	    "police.avon "
	    "never completed the handshake during the flood; see %s",
	    P.broker_log);
	cr_assert_eq(hc_health_request(police), 0);
	f = hc_wait_kind(police, HAVEN__FRAME__KIND_HEALTH_REPLY, WAIT_MS);
	cr_assert_not_null(f, "no health reply during the flood");
	hv_frame_free(&f);
	cr_assert(h_alive(P.broker_pid), "the broker died");

	/* Every stranger is refused. */
	end = hv_mono_ms() + 30000;
	do {
		knocked = 0;
		for (int i = 0; i < STRANGERS; i++) {
			hc_events(strangers[i]);
			knocked += strangers[i]->auth_failures >= 1;
		}
	} while (knocked < STRANGERS && hv_mono_ms() < end &&
	    poll(NULL, 0, 20) == 0);
	cr_expect_eq(knocked, STRANGERS, "%d of %d unknown keys were refused",
	    knocked, STRANGERS);
	for (int i = 0; i < STRANGERS; i++)
		hc_close(&strangers[i]);

	/* The broker hangs up on connections that never finish a handshake
	 * rather than hold their descriptors for ZeroMQ's default 30 s. */
	end = hv_mono_ms() + 20000;
	while (bare_drain(&closed) > 0 && hv_mono_ms() < end)
		poll(NULL, 0, 50);
	cr_expect_eq(closed, want,
	    "the broker closed %d of %d connections "
	    "that never finished a handshake",
	    closed, want);

	/* Thousands of refusals and failed handshakes, a few lines each. */
	cr_expect_eq(h_broker_stop(&P), 0);
	cr_expect_leq(log_lines("refused a handshake"), 4,
	    "refused "
	    "handshakes are logged one by one; see %s",
	    P.broker_log);
	cr_expect_leq(log_lines("failed the handshake"), 4,
	    "failed "
	    "handshakes are logged one by one; see %s",
	    P.broker_log);
	cr_expect_geq(log_lines("not logged one by one"), 1,
	    "the count of "
	    "held-back lines was never logged; see %s",
	    P.broker_log);
	cr_log_info("flood: %d bare connections, %d closed by the broker, %d "
	            "unknown keys refused; log lines: %d refused, %d failed "
	            "handshakes",
	    want, closed, knocked, log_lines("refused a handshake"),
	    log_lines("failed the handshake"));
	hc_close(&police);
}
