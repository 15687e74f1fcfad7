/*
 * nats_bench — the peer figure for NATS JetStream: a nats-server started
 * here on 127.0.0.1 with JetStream on file storage (-js -sd TMP), one
 * stream, acked asynchronous publishes of 1 KiB with at most 100 awaiting
 * their ack (libnats, Debian's libnats-dev). Prints acked messages/s and
 * the server's CPU per message (utime + stime from /proc/PID/stat).
 *
 * JetStream's file store writes each message to its block file before the
 * ack but fsyncs on its own timer (sync_interval, 2 minutes by default),
 * not per message, so an ack is not durable against power loss the way
 * Haven's ACCEPTED is.
 *
 *   nats_bench NATS_SERVER [MESSAGES [SECONDS]]   (default 200000, 20)
 * Not run by `make test`.
 */
#include <nats/nats.h>
#include <stdatomic.h>

#include "peer.h"

#define MSG_LEN 1024
#define IN_FLIGHT 100

static atomic_long acked, failed;

static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *u)
{
	(void)js;
	(void)pa;
	(void)u;
	if (pae == NULL)
		acked++;
	else
		failed++;
	natsMsg_Destroy(msg);
}

static void __attribute__((noreturn))
die(const char *what, natsStatus s, pid_t server)
{
	fprintf(stderr, "nats_bench: %s%s%s\n", what, s != NATS_OK ? ": " : "",
	    s != NATS_OK ? natsStatus_GetText(s) : "");
	peer_stop(server);
	exit(1);
}

int
main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 200000;
	double limit = argc > 3 ? atof(argv[3]) : 20;
	char dir[] = "/tmp/haven-nats-bench-XXXXXX", log[128], url[64];
	char ports[16], cmd[256], payload[MSG_LEN];
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int64_t t0, t1, c0, c1, end;
	long sent = 0;
	int port = peer_free_port();
	pid_t server;

	if (argc < 2 || n <= 0 || limit <= 0 || port <= 0)
		die("usage: nats_bench NATS_SERVER [MESSAGES [SECONDS]]",
		    NATS_OK, 0);
	if (mkdtemp(dir) == NULL)
		die("cannot make a temporary folder", NATS_OK, 0);
	snprintf(log, sizeof(log), "%s/nats-server.log", dir);
	snprintf(ports, sizeof(ports), "%d", port);
	{
		char *av[] = { argv[1], "-a", "127.0.0.1", "-p", ports, "-js",
			"-sd", dir, NULL };

		if ((server = peer_start(av, log, port)) < 0)
			die("nats-server did not start (see its log)", NATS_OK,
			    0);
	}
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
	if ((s = natsConnection_ConnectTo(&nc, url)) != NATS_OK)
		die("cannot connect", s, server);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = IN_FLIGHT;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.StallWait = 10000;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		die("no JetStream context", s, server);
	jsStreamConfig_Init(&sc);
	sc.Name = "BENCH";
	sc.Subjects = (const char *[]){ "bench" };
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	if ((s = js_AddStream(&si, js, &sc, NULL, &jerr)) != NATS_OK)
		die("cannot create the stream", s, server);
	jsStreamInfo_Destroy(si);
	memset(payload, 'n', sizeof(payload));

	c0 = bench_cpu_us(server);
	t0 = bench_now_us();
	end = t0 + (int64_t)(limit * 1e6);
	for (; sent < n && ((sent & 255) != 0 || bench_now_us() < end); sent++)
		if ((s = js_PublishAsync(js, "bench", payload, MSG_LEN,
		         NULL)) != NATS_OK)
			die("js_PublishAsync failed", s, server);
	{
		jsPubOptions po;

		jsPubOptions_Init(&po);
		po.MaxWait = 30000;
		if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
			die("not every publish acked", s, server);
	}
	t1 = bench_now_us();
	c1 = bench_cpu_us(server);
	{
		double secs = (t1 - t0) / 1e6, rate = acked / secs;
		double cpu = acked > 0 ? (c1 - c0) / (double)acked : 0;
		char value[64];

		printf("NATS JetStream %s: file storage, acked async publish, "
		       "%d-byte messages, %d in flight\n",
		    argv[1], MSG_LEN, IN_FLIGHT);
		printf("  %ld published, %ld acked, %ld failed in %.2f s: "
		       "%.0f acked msgs/s; server CPU %.1f µs/msg\n\n",
		    sent, (long)acked, (long)failed, secs, rate, cpu);
		bench_figure("nats_rate", rate);
		bench_figure("nats_cpu_us", cpu);
		snprintf(value, sizeof(value), "%.0f /s", rate);
		bench_summary("Peer: NATS JetStream, file storage, acked "
		              "publish",
		    value,
		    "%ld acked, %d in flight, 1 KiB; server "
		    "CPU %.1f µs/msg; fsync on a timer, not per message",
		    (long)acked, IN_FLIGHT, cpu);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	peer_stop(server);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "nats_bench: cannot remove %s\n", dir);
	return failed == 0 && acked == sent ? 0 : 1;
}
