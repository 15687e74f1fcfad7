/*
 * zmq_bench — the transport's ceiling: ZeroMQ CURVE DEALER -> ROUTER on
 * 127.0.0.1 with 1.2 KiB messages and no persistence (SPEC §11).
 *
 * A ROUTER (CURVE server) in a thread echoes every message back to its
 * DEALER (CURVE client), the same socket pair and security the broker and
 * agents use. Two figures:
 *   - ping-pong: one message in flight, so round-trip latency;
 *   - pipelined: a window of WINDOW messages in flight, so round trips per
 *     second when the link is kept busy, as a sender's outbox keeps it.
 * Each round trip is two CURVE messages (there and back), so the one-way
 * message rate is twice the figure printed.
 *
 *   zmq_bench [SECONDS_PER_FIGURE]      (default 3)
 * Not run by `make test`.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "bench.h"

#define MSG_LEN 1229 /* 1.2 KiB */
#define WINDOW 256
#define MAX_PINGS 200000
#define MAX_PIPELINED 5000000L

struct server {
	void *sock;
};

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "zmq_bench: %s (%s)\n", what,
	    zmq_strerror(zmq_errno()));
	exit(1);
}

/* Echoes [identity, body] back until a zero-length body arrives. */
static void *
server_run(void *arg)
{
	struct server *sv = arg;

	for (;;) {
		zmq_msg_t id, body;
		int more;

		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, sv->sock, 0) < 0 ||
		    zmq_msg_recv(&body, sv->sock, 0) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			break;
		}
		more = zmq_msg_size(&body) > 0;
		if (zmq_msg_send(&id, sv->sock, ZMQ_SNDMORE) < 0 ||
		    zmq_msg_send(&body, sv->sock, 0) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			break;
		}
		if (!more)
			break;
	}
	return NULL;
}

static void
recv_one(void *sock)
{
	zmq_msg_t m;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, sock, 0) != MSG_LEN)
		die("short or failed receive");
	zmq_msg_close(&m);
}

int
main(int argc, char **argv)
{
	static int64_t lat[MAX_PINGS];
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	char spub[41], ssec[41], cpub[41], csec[41], ep[256], value[64];
	char msg[MSG_LEN];
	int one = 1, hwm = 100000, zero = 0, timeout = 10000;
	size_t eplen = sizeof(ep);
	struct server sv;
	pthread_t th;
	int64_t budget, t0, t1;
	long n, sent, got;
	void *ctx, *cl;

	if (secs <= 0 || secs > 60)
		die("usage: zmq_bench [SECONDS_PER_FIGURE]");
	budget = (int64_t)(secs * 1e6);
	memset(msg, 'm', sizeof(msg));
	if (zmq_curve_keypair(spub, ssec) != 0 ||
	    zmq_curve_keypair(cpub, csec) != 0)
		die("libzmq has no CURVE");
	ctx = zmq_ctx_new();

	sv.sock = zmq_socket(ctx, ZMQ_ROUTER);
	zmq_setsockopt(sv.sock, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(sv.sock, ZMQ_CURVE_SECRETKEY, ssec, 40);
	zmq_setsockopt(sv.sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(sv.sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sv.sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (zmq_bind(sv.sock, "tcp://127.0.0.1:*") != 0 ||
	    zmq_getsockopt(sv.sock, ZMQ_LAST_ENDPOINT, ep, &eplen) != 0)
		die("cannot bind the ROUTER");

	cl = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(cl, ZMQ_CURVE_SERVERKEY, spub, 40);
	zmq_setsockopt(cl, ZMQ_CURVE_PUBLICKEY, cpub, 40);
	zmq_setsockopt(cl, ZMQ_CURVE_SECRETKEY, csec, 40);
	zmq_setsockopt(cl, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(cl, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(cl, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (zmq_connect(cl, ep) != 0)
		die("cannot connect the DEALER");
	if (pthread_create(&th, NULL, server_run, &sv) != 0)
		die("cannot start the echo thread");

	/* The first round trip includes the CURVE handshake; not counted. */
	if (zmq_send(cl, msg, sizeof(msg), 0) < 0)
		die("send failed");
	recv_one(cl);

	printf("ZeroMQ CURVE DEALER -> ROUTER echo on 127.0.0.1, %d-byte "
	       "messages, no persistence\n\n",
	    MSG_LEN);
	printf("| mode                | round trips | seconds | round trips/s "
	       "| p50 µs | p99 µs |\n");
	printf("|---------------------|-------------|---------|---------------"
	       "|--------|--------|\n");

	/* Ping-pong: latency of one round trip. */
	t0 = t1 = bench_now_us();
	for (n = 0; n < MAX_PINGS && t1 - t0 < budget; n++) {
		int64_t a = t1;

		if (zmq_send(cl, msg, sizeof(msg), 0) < 0)
			die("send failed");
		recv_one(cl);
		t1 = bench_now_us();
		lat[n] = t1 - a;
	}
	{
		double rate = n / ((t1 - t0) / 1e6);
		int64_t p50 = bench_percentile(lat, (size_t)n, 50);
		int64_t p99 = bench_percentile(lat, (size_t)n, 99);

		printf("| ping-pong (1)       | %11ld | %7.2f | %13.0f | %6ld "
		       "| %6ld |\n",
		    n, (t1 - t0) / 1e6, rate, (long)p50, (long)p99);
		snprintf(value, sizeof(value), "%.0f /s", rate);
		bench_summary("ZeroMQ CURVE round trips, one in flight", value,
		    "1.2 KiB each way; p50 %ld µs, p99 %ld µs", (long)p50,
		    (long)p99);
	}

	/* Pipelined: a window of messages kept in flight. */
	sent = got = 0;
	t0 = t1 = bench_now_us();
	while (got < MAX_PIPELINED) {
		int stop = t1 - t0 >= budget;

		while (!stop && sent - got < WINDOW && sent < MAX_PIPELINED) {
			if (zmq_send(cl, msg, sizeof(msg), 0) < 0)
				die("send failed");
			sent++;
		}
		if (got == sent)
			break;
		recv_one(cl);
		got++;
		if ((got & 63) == 0)
			t1 = bench_now_us();
	}
	t1 = bench_now_us();
	{
		double rate = got / ((t1 - t0) / 1e6);

		printf("| pipelined (%4d)    | %11ld | %7.2f | %13.0f |      - "
		       "|      - |\n\n",
		    WINDOW, got, (t1 - t0) / 1e6, rate);
		snprintf(value, sizeof(value), "%.0f /s", rate);
		bench_summary("ZeroMQ CURVE round trips, pipelined", value,
		    "1.2 KiB each way, window %d; %.0f CURVE messages/s "
		    "one way",
		    WINDOW, 2 * rate);
	}

	/* A zero-length message stops the echo thread. */
	if (zmq_send(cl, "", 0, 0) < 0)
		die("send failed");
	{
		zmq_msg_t m;

		zmq_msg_init(&m);
		zmq_msg_recv(&m, cl, 0);
		zmq_msg_close(&m);
	}
	pthread_join(th, NULL);
	zmq_setsockopt(cl, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(sv.sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_close(cl);
	zmq_close(sv.sock);
	zmq_ctx_term(ctx);
	return 0;
}
