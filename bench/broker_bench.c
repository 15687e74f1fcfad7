/*
 * broker_bench — accepted messages per second at haven-broker, with group
 * commit and with one LMDB commit per message (SPEC §11).
 *
 * Builds a small partnership with the real `haven` command in a temporary
 * folder, starts haven-broker twice (group_commit = yes, then no), and
 * drives it from two CURVE clients (police and health, 1 KiB payloads,
 * a window of outstanding submits each) until every message has its
 * ACCEPTED receipt. Prints throughput, submit-to-receipt latency and the
 * broker's peak RSS. Envelopes are sealed before the clock starts, so the
 * figure is the broker's: unpack, verify, policy, one durable commit per
 * batch (or per message), signed receipts.
 *
 * Then, with group commit, it queues QUEUED messages (two clients) for
 * social-care.bench, which never connects, and reports the broker's
 * RssAnon and RssFile (SPEC §16: RssAnon < 64 MiB with 100,000 queued),
 * stopping at SECONDS if the broker has not accepted them all by then.
 *
 *   broker_bench [MESSAGES_PER_CLIENT [QUEUED [SECONDS]]]
 *       (defaults 6000, at most 1000 without group commit; 100000;
 *       150)
 * Binaries come from $HAVEN_BIN, else ./bin. Not run by `make test`.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "bench.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_keys.h"
#include "hv_util.h"
#include "hv_wire.h"

#define WINDOW 64
/* One 1 KiB padding bucket, as e2e_bench and crypto_bench. */
#define PAYLOAD (HV_PAD_MIN - 1)

struct msg {
	uint8_t id[HV_ID_LEN];
	uint8_t *frame;
	size_t len;
	int64_t sent_us, done_us;
};

struct client {
	const char *node;
	void *sock;
	hv_keys *keys;
	const uint8_t (*box)[HV_BOX_KEY_LEN]; /* the recipient's */
	int lazy;
	struct msg *m;
	int n, next, done, outstanding;
	int lo; /* lowest message without a receipt */
};

static char dir[64];
static pid_t broker_pid; /* the running broker, killed on failure */
static const char *bindir;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "broker_bench: %s\n", what);
	if (broker_pid > 0) {
		kill(broker_pid, SIGKILL);
		waitpid(broker_pid, NULL, 0);
	}
	if (dir[0] != '\0')
		fprintf(stderr, "broker_bench: files left in %s\n", dir);
	exit(1);
}

static void
keygen(const char *node)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "'%s/haven' keygen --id %s --out "
	    "'%s/keys' >/dev/null",
	    bindir, node, dir);
	if (system(cmd) != 0)
		die(cmd);
}

static void
partnership(void)
{
	static const char *const nodes[] = { "root.bench", "broker.bench",
		"police.bench", "health.bench", "social-care.bench", "ig.bench",
		NULL };
	char path[256], cmd[1024];
	FILE *fp;

	snprintf(dir, sizeof(dir), "/tmp/haven-bench-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("cannot make a temporary folder");
	for (int i = 0; nodes[i] != NULL; i++)
		keygen(nodes[i]);
	snprintf(path, sizeof(path), "%s/agreement.txt", dir);
	if ((fp = fopen(path, "w")) == NULL)
		die("cannot write the agreement");
	fprintf(fp,
	    "partnership bench\nversion 1\n"
	    "broker broker.bench tcp://127.0.0.1:7400 keys/broker.bench.pub\n"
	    "node police.bench keys/police.bench.pub\n"
	    "node health.bench keys/health.bench.pub\n"
	    "node social-care.bench keys/social-care.bench.pub\n"
	    "node ig.bench keys/ig.bench.pub scope=*\n"
	    "allow * -> social-care : REFERRAL\n");
	fclose(fp);
	snprintf(cmd, sizeof(cmd),
	    "'%s/haven' directory build '%s' --root "
	    "'%s/keys/root.bench.key' -o '%s/directory.hd' >/dev/null",
	    bindir, path, dir, dir);
	if (system(cmd) != 0)
		die("haven directory build failed");
}

/* Starts the broker; returns its pid and fills endpoint. */
static pid_t
broker_start(const char *mode, const char *gc, char *endpoint, size_t cap)
{
	char conf[256], ready[256], log[256], exe[256], text[1024];
	int64_t end = now_us() + 20000000;
	pid_t pid;
	FILE *fp;

	snprintf(conf, sizeof(conf), "%s/broker-%s.conf", dir, mode);
	snprintf(ready, sizeof(ready), "%s/broker-%s.ready", dir, mode);
	snprintf(log, sizeof(log), "%s/broker-%s.log", dir, mode);
	snprintf(exe, sizeof(exe), "%s/haven-broker", bindir);
	snprintf(text, sizeof(text),
	    "[broker]\nid = broker.bench\n"
	    "key = keys/broker.bench.key\nroot_pub = keys/root.bench.pub\n"
	    "directory = directory.hd\nbind = tcp://127.0.0.1:*\n"
	    "data_dir = data-%s\ngroup_commit = %s\nmap_size = %s\n",
	    mode, gc,
	    strcmp(mode, "queued") == 0 ? "4294967296" : "1073741824");
	if ((fp = fopen(conf, "w")) == NULL)
		die("cannot write the broker config");
	fputs(text, fp);
	fclose(fp);
	if ((pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(exe, exe, "--config", conf, "--ready-file", ready,
		    "--foreground", (char *)NULL);
		_exit(127);
	}
	broker_pid = pid;
	while (now_us() < end) {
		json_t *j = json_load_file(ready, 0, NULL);
		const char *b =
		    j ? json_string_value(json_object_get(j, "bind")) : NULL;

		if (b != NULL) {
			snprintf(endpoint, cap, "%s", b);
			json_decref(j);
			return pid;
		}
		json_decref(j);
		usleep(20000);
	}
	die("the broker did not start");
}

/* Seals, signs and packs message i of c (a Submit frame). */
static void
frame_build(struct client *c, int i)
{
	static char payload[PAYLOAD];
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Submit s = HAVEN__SUBMIT__INIT;
	hv_envelope env;
	uint8_t *eb;
	size_t el;

	memset(payload, 'x', PAYLOAD);
	memset(&env, 0, sizeof(env));
	hv_envelope_new_id(env.id);
	snprintf(env.sender, sizeof(env.sender), "%s", c->node);
	snprintf(env.recipients[0], HV_NODE_MAX + 1, "social-care.bench");
	env.n_recipients = 1;
	snprintf(env.type, sizeof(env.type), "REFERRAL");
	snprintf(env.priority, sizeof(env.priority), "ROUTINE");
	env.created = hv_now();
	snprintf(env.basis.consent, 24, "OBTAINED");
	snprintf(env.basis.art6, 24, "PUBLIC_TASK");
	snprintf(env.basis.art9, 24, "NONE");
	snprintf(env.basis.decided_by, 32, "bench");
	randombytes_buf(env.subject, 32);
	if (hv_envelope_seal(&env, (uint8_t *)payload, PAYLOAD, c->box,
	        c->keys) != HV_OK ||
	    hv_envelope_pack(&env, &eb, &el) != HV_OK)
		die("cannot build an envelope");
	memcpy(c->m[i].id, env.id, HV_ID_LEN);
	s.sender = (char *)c->node;
	s.envelope.data = eb;
	s.envelope.len = el;
	f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
	f.submit = &s;
	if (hv_frame_pack(&f, &c->m[i].frame, &c->m[i].len) != HV_OK)
		die("cannot pack a frame");
	free(eb);
	hv_envelope_clear(&env);
}

/*
 * Connects client c and gives it n messages. Sealed before the clock
 * starts unless lazy, when each is sealed just before it is sent and its
 * frame freed after (the queued run: 100,000 frames need not sit in the
 * bench's own memory).
 */
static void
client_open(struct client *c, void *ctx, const char *endpoint,
    const hv_directory *d, int n, int lazy)
{
	const struct hv_node *sc = hv_directory_node(d, "social-care.bench");
	char path[256];
	int one = 1, hwm = 100000;

	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, c->node);
	if (hv_keys_load(path, NULL, &c->keys, NULL) != HV_OK || sc == NULL)
		die("cannot load a client's keys");
	c->box = (const uint8_t(*)[HV_BOX_KEY_LEN])sc->keys.box;
	c->lazy = lazy;
	c->n = n;
	c->next = c->done = c->outstanding = c->lo = 0;
	if ((c->m = calloc((size_t)n, sizeof(*c->m))) == NULL)
		die("out of memory");
	for (int i = 0; !lazy && i < n; i++)
		frame_build(c, i);
	c->sock = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY,
	    hv_directory_broker(d)->keys.curve, 32);
	zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->keys->pub.curve, 32);
	zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->keys->curve_secret, 32);
	zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	if (zmq_connect(c->sock, endpoint) != 0)
		die("cannot connect");
}

static void
client_close(struct client *c)
{
	int zero = 0;

	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_close(c->sock);
	for (int i = 0; i < c->n; i++)
		free(c->m[i].frame);
	free(c->m);
	hv_keys_destroy(&c->keys);
}

static void
client_push(struct client *c)
{
	while (c->next < c->n && c->outstanding < WINDOW) {
		struct msg *m = &c->m[c->next];

		if (m->frame == NULL)
			frame_build(c, c->next);
		if (zmq_send(c->sock, m->frame, m->len, ZMQ_DONTWAIT) < 0)
			return;
		m->sent_us = now_us();
		if (c->lazy) {
			free(m->frame);
			m->frame = NULL;
		}
		c->next++;
		c->outstanding++;
	}
}

static void
client_pull(struct client *c)
{
	for (;;) {
		zmq_msg_t z;
		Haven__Frame *f = NULL;

		zmq_msg_init(&z);
		if (zmq_msg_recv(&z, c->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&z);
			return;
		}
		if (hv_frame_unpack(zmq_msg_data(&z), zmq_msg_size(&z), 1 << 20,
		        &f, NULL) == HV_OK &&
		    f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
		    f->receipt->id.len == HV_ID_LEN) {
			if (strcmp(f->receipt->status, "ACCEPTED") != 0) {
				fprintf(stderr, "broker_bench: %s %s\n",
				    f->receipt->code, f->receipt->message);
				exit(1);
			}
			for (int i = c->lo; i < c->next; i++) {
				if (memcmp(c->m[i].id, f->receipt->id.data,
				        HV_ID_LEN) == 0 &&
				    c->m[i].done_us == 0) {
					c->m[i].done_us = now_us();
					c->done++;
					c->outstanding--;
					break;
				}
			}
			while (c->lo < c->next && c->m[c->lo].done_us != 0)
				c->lo++;
		}
		hv_frame_free(&f);
		zmq_msg_close(&z);
	}
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
bench(const char *mode, int n, const hv_directory *d)
{
	struct client cl[2] = { { .node = "police.bench" },
		{ .node = "health.bench" } };
	char endpoint[256];
	void *ctx = zmq_ctx_new();
	pid_t pid = broker_start(mode, mode, endpoint, sizeof(endpoint));
	int64_t t0, t1, c0, c1, *lat;
	int st, total = 2 * n, k = 0;
	long hwm = 0, rss = 0;
	char figure[96], value[64], line[256];
	FILE *fp;

	for (int i = 0; i < 2; i++)
		client_open(&cl[i], ctx, endpoint, d, n, 0);
	c0 = bench_cpu_us(pid);
	t0 = now_us();
	while (cl[0].done + cl[1].done < total) {
		zmq_pollitem_t pi[2] = { { cl[0].sock, 0, ZMQ_POLLIN, 0 },
			{ cl[1].sock, 0, ZMQ_POLLIN, 0 } };

		for (int i = 0; i < 2; i++)
			client_push(&cl[i]);
		zmq_poll(pi, 2, 100);
		for (int i = 0; i < 2; i++)
			client_pull(&cl[i]);
		if (now_us() - t0 > 120 * 1000000LL)
			die("not every receipt within 120 s");
	}
	t1 = now_us();
	c1 = bench_cpu_us(pid);
	if ((lat = calloc((size_t)total, sizeof(*lat))) == NULL)
		die("out of memory");
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < n; j++)
			lat[k++] = cl[i].m[j].done_us - cl[i].m[j].sent_us;
	qsort(lat, (size_t)total, sizeof(*lat), cmp64);
	snprintf(line, sizeof(line), "/proc/%d/status", (int)pid);
	if ((fp = fopen(line, "r")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			sscanf(line, "VmHWM: %ld kB", &hwm);
			sscanf(line, "VmRSS: %ld kB", &rss);
		}
		fclose(fp);
	}
	printf("| %-12s | %8d | %8.2f | %10.0f | %8.2f | %8.2f | %8.1f |\n",
	    mode, total, (double)(t1 - t0) / 1e6,
	    total / ((double)(t1 - t0) / 1e6), lat[total / 2] / 1000.0,
	    lat[total * 99 / 100] / 1000.0, hwm / 1024.0);
	fflush(stdout);
	snprintf(figure, sizeof(figure), "Broker alone: accepted msgs/s, %s",
	    strcmp(mode, "yes") == 0 ? "group commit" :
	                               "one commit per message");
	snprintf(value, sizeof(value), "%.0f /s",
	    total / ((double)(t1 - t0) / 1e6));
	if (strcmp(mode, "yes") == 0) {
		bench_figure("broker_rate", total / ((double)(t1 - t0) / 1e6));
		bench_figure("broker_cpu_us", (c1 - c0) / (double)total);
	}
	bench_summary(figure, value,
	    "%d msgs from 2 CURVE clients, window "
	    "%d; receipt p50 %.1f ms, p99 %.1f ms; peak RSS %.1f MiB; broker "
	    "CPU %.1f µs/msg",
	    total, WINDOW, lat[total / 2] / 1000.0,
	    lat[total * 99 / 100] / 1000.0, hwm / 1024.0,
	    (c1 - c0) / (double)total);
	free(lat);
	for (int i = 0; i < 2; i++)
		client_close(&cl[i]);
	zmq_ctx_term(ctx);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	broker_pid = 0;
}

/* Reads "KEY: N kB" from /proc/PID/status; -1 when absent. */
static long
status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(fp);
	return v;
}

/*
 * The broker's memory with `total` messages queued for a recipient that
 * never connects (social-care.bench has no agent here): the two clients
 * submit until every message has its ACCEPTED receipt or `limit_s` runs
 * out, then RssAnon (the broker's own heap and stacks) is read beside
 * RssFile (LMDB's mapped pages, which are page cache) and compared with
 * SPEC §16's 64 MiB.
 */
static void
queued(int total, int limit_s, const hv_directory *d)
{
	struct client cl[2] = { { .node = "police.bench" },
		{ .node = "health.bench" } };
	char endpoint[256], value[64], figure[96];
	void *ctx = zmq_ctx_new();
	pid_t pid = broker_start("queued", "yes", endpoint, sizeof(endpoint));
	int64_t t0, t1;
	long anon, file, hwm;
	int st, done, timed_out = 0;

	for (int i = 0; i < 2; i++)
		client_open(&cl[i], ctx, endpoint, d, (total + 1 - i) / 2, 1);
	t0 = now_us();
	while (cl[0].done + cl[1].done < total) {
		zmq_pollitem_t pi[2] = { { cl[0].sock, 0, ZMQ_POLLIN, 0 },
			{ cl[1].sock, 0, ZMQ_POLLIN, 0 } };

		for (int i = 0; i < 2; i++)
			client_push(&cl[i]);
		zmq_poll(pi, 2, 100);
		for (int i = 0; i < 2; i++)
			client_pull(&cl[i]);
		if (now_us() - t0 > limit_s * 1000000LL) {
			timed_out = 1;
			break;
		}
	}
	t1 = now_us();
	done = cl[0].done + cl[1].done;
	anon = status_kib(pid, "RssAnon");
	file = status_kib(pid, "RssFile");
	hwm = status_kib(pid, "VmHWM");
	printf("haven-broker with %d messages queued for an offline "
	       "recipient%s (%.1f s to queue):\n  RssAnon %.1f MiB, RssFile "
	       "%.1f MiB (LMDB's mapped pages), peak RSS %.1f MiB; target "
	       "RssAnon < 64 MiB: %s\n\n",
	    done,
	    timed_out ? " (time limit "
	                "reached first)" :
	                "",
	    (t1 - t0) / 1e6, anon / 1024.0, file / 1024.0, hwm / 1024.0,
	    anon >= 0 && anon < 64 * 1024 ? "met" : "NOT met");
	fflush(stdout);
	bench_figure("queued_n", done);
	bench_figure("queued_rss_anon_mib", anon / 1024.0);
	bench_figure("queued_rss_file_mib", file / 1024.0);
	snprintf(value, sizeof(value), "%.1f MiB", anon / 1024.0);
	snprintf(figure, sizeof(figure), "Broker memory: RssAnon, %d queued",
	    total);
	bench_summary(figure, value,
	    "%d of %d queued for an offline recipient%s; RssFile %.1f MiB "
	    "beside it (LMDB's pages); peak RSS %.1f MiB",
	    done, total, timed_out ? " before the time limit" : "",
	    file / 1024.0, hwm / 1024.0);
	for (int i = 0; i < 2; i++)
		client_close(&cl[i]);
	zmq_ctx_term(ctx);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	broker_pid = 0;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 6000;
	int n_single = n < 1000 ? n : 1000;
	int n_queued = argc > 2 ? atoi(argv[2]) : 100000;
	int queue_s = argc > 3 ? atoi(argv[3]) : 150;
	struct hv_pubkeys root;
	hv_directory *d = NULL;
	char path[256], cmd[512];

	if (n <= 0 || n_queued <= 0 || queue_s <= 0 || sodium_init() < 0)
		die("usage: broker_bench [MESSAGES_PER_CLIENT [QUEUED "
		    "[SECONDS]]]");
	bindir = getenv("HAVEN_BIN");
	if (bindir == NULL || *bindir == '\0')
		bindir = "bin";
	partnership();
	snprintf(path, sizeof(path), "%s/keys/root.bench.pub", dir);
	if (hv_pubkeys_load(path, &root, NULL) != HV_OK)
		die("cannot read the root key");
	snprintf(path, sizeof(path), "%s/directory.hd", dir);
	if (hv_directory_load_file(path, root.sign, &d, NULL) != HV_OK)
		die("cannot load the directory");

	printf("haven-broker: accepted messages, 2 clients, %d-byte payloads, "
	       "window %d each\n\n",
	    PAYLOAD, WINDOW);
	printf("| group_commit | messages |  seconds |   msgs/s   | p50 ms   "
	       "| p99 ms   | peak MiB |\n");
	printf("|--------------|----------|----------|------------|----------"
	       "|----------|----------|\n");
	bench("yes", n, d);
	bench("no", n_single, d);
	printf("\n");
	queued(n_queued, queue_s, d);
	hv_directory_destroy(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (getenv("HAVEN_KEEP_TMP") == NULL && system(cmd) != 0)
		fprintf(stderr, "broker_bench: cannot remove %s\n", dir);
	return 0;
}
