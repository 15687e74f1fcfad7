/*
 * mqtt_bench — the peer figure for Mosquitto: QoS 1 with persistence on,
 * one publisher -> one subscriber through a mosquitto started here on
 * 127.0.0.1, 1 KiB messages, at most 100 unacknowledged at the publisher
 * (and max_inflight_messages 100 from the server to the subscriber).
 * Prints messages/s delivered to the subscriber and the server's CPU per
 * message (utime + stime from /proc/PID/stat, before and after).
 *
 * "Persistence on" for Mosquitto means the whole in-memory store is
 * written to mosquitto.db every autosave_interval seconds (1 s here) and
 * at exit; a PUBACK does not wait for the disk and nothing is fsync'd per
 * message, so it is not durable in the sense of Haven's ACCEPTED.
 *
 *   mqtt_bench MOSQUITTO [MESSAGES [SECONDS]]   (default 100000, 20)
 * Not run by `make test`.
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>

#include "peer.h"

#define MSG_LEN 1024
#define IN_FLIGHT 100

static atomic_long acked, received;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int subscribed;

static void
on_publish(struct mosquitto *m, void *u, int mid)
{
	(void)m;
	(void)u;
	(void)mid;
	pthread_mutex_lock(&mu);
	acked++;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

static void
on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg)
{
	(void)m;
	(void)u;
	if (msg->payloadlen == MSG_LEN)
		received++;
}

static void
on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *qos)
{
	(void)m;
	(void)u;
	(void)mid;
	(void)n;
	(void)qos;
	subscribed = 1;
}

static void __attribute__((noreturn)) die(const char *what, pid_t server)
{
	fprintf(stderr, "mqtt_bench: %s\n", what);
	peer_stop(server);
	exit(1);
}

int
main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 100000;
	double limit = argc > 3 ? atof(argv[3]) : 20;
	char dir[] = "/tmp/haven-mqtt-bench-XXXXXX", conf[128], log[128];
	char cmd[256], payload[MSG_LEN];
	struct mosquitto *pub, *sub;
	int64_t t0, t1, c0, c1, end;
	long sent = 0;
	int port = peer_free_port();
	pid_t server;
	FILE *fp;

	if (argc < 2 || n <= 0 || limit <= 0 || port <= 0)
		die("usage: mqtt_bench MOSQUITTO [MESSAGES [SECONDS]]", 0);
	if (mkdtemp(dir) == NULL)
		die("cannot make a temporary folder", 0);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	snprintf(log, sizeof(log), "%s/mosquitto.log", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		die("cannot write mosquitto.conf", 0);
	fprintf(fp,
	    "listener %d 127.0.0.1\nallow_anonymous true\n"
	    "persistence true\npersistence_location %s/\n"
	    "autosave_interval 1\nmax_inflight_messages %d\n"
	    "max_queued_messages 0\n",
	    port, dir, IN_FLIGHT);
	fclose(fp);
	{
		char *av[] = { argv[1], "-c", conf, NULL };

		if ((server = peer_start(av, log, port)) < 0)
			die("mosquitto did not start (see its log)", 0);
	}
	mosquitto_lib_init();
	pub = mosquitto_new("haven-bench-pub", true, NULL);
	sub = mosquitto_new("haven-bench-sub", false, NULL);
	if (pub == NULL || sub == NULL)
		die("mosquitto_new failed", server);
	mosquitto_int_option(pub, MOSQ_OPT_SEND_MAXIMUM, IN_FLIGHT);
	mosquitto_publish_callback_set(pub, on_publish);
	mosquitto_message_callback_set(sub, on_message);
	mosquitto_subscribe_callback_set(sub, on_subscribe);
	if (mosquitto_connect(sub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
	    mosquitto_connect(pub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(sub) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(pub) != MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(sub, NULL, "bench", 1) != MOSQ_ERR_SUCCESS)
		die("cannot connect to mosquitto", server);
	end = bench_now_us() + 5000000;
	while (!subscribed && bench_now_us() < end)
		usleep(1000);
	if (!subscribed)
		die("no SUBACK from mosquitto", server);
	memset(payload, 'm', sizeof(payload));

	c0 = bench_cpu_us(server);
	t0 = bench_now_us();
	end = t0 + (int64_t)(limit * 1e6);
	while (sent < n && bench_now_us() < end) {
		pthread_mutex_lock(&mu);
		while (sent - acked >= IN_FLIGHT) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cv, &mu, &ts);
			if (bench_now_us() >= end)
				break;
		}
		pthread_mutex_unlock(&mu);
		if (sent - acked >= IN_FLIGHT)
			break;
		if (mosquitto_publish(pub, NULL, "bench", MSG_LEN, payload, 1,
		        false) != MOSQ_ERR_SUCCESS)
			die("mosquitto_publish failed", server);
		sent++;
	}
	/* Every message sent must reach the subscriber (or the time runs out). */
	while (received < sent && bench_now_us() < end + 5000000)
		usleep(1000);
	t1 = bench_now_us();
	c1 = bench_cpu_us(server);
	{
		double secs = (t1 - t0) / 1e6, rate = received / secs;
		double cpu = received > 0 ? (c1 - c0) / (double)received : 0;
		char value[64];

		printf(
		    "Mosquitto %s: QoS 1, persistence on (autosave 1 s, no "
		    "fsync per message), 1 publisher -> 1 subscriber, %d-byte "
		    "messages, %d in flight\n",
		    argv[1], MSG_LEN, IN_FLIGHT);
		printf("  %ld sent, %ld PUBACKed, %ld delivered in %.2f s: "
		       "%.0f msgs/s; server CPU %.1f µs/msg\n\n",
		    sent, (long)acked, (long)received, secs, rate, cpu);
		bench_figure("mqtt_rate", rate);
		bench_figure("mqtt_cpu_us", cpu);
		snprintf(value, sizeof(value), "%.0f /s", rate);
		bench_summary("Peer: Mosquitto QoS 1, persistence on, pub -> "
		              "sub",
		    value,
		    "%ld delivered, %d in flight, 1 KiB; server "
		    "CPU %.1f µs/msg; autosave every 1 s, no fsync per message",
		    (long)received, IN_FLIGHT, cpu);
	}
	mosquitto_disconnect(pub);
	mosquitto_disconnect(sub);
	mosquitto_loop_stop(pub, false);
	mosquitto_loop_stop(sub, false);
	mosquitto_destroy(pub);
	mosquitto_destroy(sub);
	mosquitto_lib_cleanup();
	peer_stop(server);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "mqtt_bench: cannot remove %s\n", dir);
	return received == sent && sent > 0 ? 0 : 1;
}
