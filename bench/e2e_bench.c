/*
 * e2e_bench — accepted messages per second end to end, agent API ->
 * haven-broker -> recipient agent, durable at every hop (SPEC §11).
 *
 * Builds the harness's Bristol partnership in a temporary folder (real
 * `haven keygen` and `haven directory build`), starts haven-broker and four
 * haven-agent processes on 127.0.0.1 with port 0 / `*` and ready files.
 * Three sender agents (police, health, education) each get SENDER_THREADS
 * HTTP client threads; each thread POSTs REFERRALs to social-care.bristol
 * over one keep-alive libcurl connection. Every 202 is an outbox commit at
 * the sender, every ACCEPTED receipt a broker commit, every arrival an
 * inbox commit at the recipient: nothing is relaxed for the bench.
 *
 * Arrivals are timed on the recipient's SSE stream (GET /v1/alerts/stream,
 * one `message` event per stored message, carrying its id); the recipient's
 * /v1/health inbox_unacked counts them independently at the end.
 *
 * Three phases on the same daemons:
 *   1. one sender: the police agent's threads alone, as fast as it
 *      answers, to show what one agency's agent sustains;
 *   2. saturation: all three senders as fast as the agents answer, with at
 *      most MAX_IN_FLIGHT messages between 202 and arrival (so the figure
 *      is a rate the whole path sustains, not an outbox filling up);
 *   3. half load: the same senders paced at half the rate phase 2
 *      reached, for latency without a queue.
 * Latency is from the sender's 202 to the arrival event at the recipient.
 * Broker memory is VmHWM (peak) and VmRSS (end) from /proc/PID/status; the
 * CPU each daemon used in each phase comes from /proc/PID/stat, and the
 * whole machine's from /proc/stat, since other work may share the cores.
 *
 *   e2e_bench [SECONDS_SATURATION [SECONDS_HALF [SECONDS_ONE_SENDER]]]
 *                                                (default 15, 8 and 6)
 * Binaries come from $HAVEN_BIN, else ./bin. Not run by `make test`.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../tests/e2e/harness.h"
#include "bench.h"
#include "hv_envelope.h"

#define N_SENDERS 3
#define SENDER_THREADS 3
#define N_THREADS (N_SENDERS * SENDER_THREADS)
#define MAX_IN_FLIGHT 100
#define MAX_MESSAGES 60000 /* per phase; bounds the table */
#define TABLE_CAP 131072 /* power of two, > 2 * MAX_MESSAGES */
#define DRAIN_S 60
#define PAYLOAD (HV_PAD_MIN - 1)

static const char *const senders[N_SENDERS] = { "police.avon",
	"health.bristol-royal", "education.st-marys-primary" };
static const char recipient[] = "social-care.bristol";

/* ---- the id table: 202 and arrival time per message ------------------- */

struct slot {
	char id[HV_ID_HEX_LEN + 1];
	int64_t t202, tarr;
};

struct table {
	pthread_mutex_t lock;
	struct slot *s;
	long n202, narr, matched;
	int64_t first_arr, last_arr;
};

static struct table tab = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct h_partnership part;
static int part_made;

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "e2e_bench: %s\n", what);
	if (part_made)
		h_partnership_destroy(&part);
	exit(1);
}

static struct slot *
slot_of(const char *id)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < HV_ID_HEX_LEN; i++)
		h = (h ^ (uint8_t)id[i]) * 16777619u;
	for (i = h & (TABLE_CAP - 1);; i = (i + 1) & (TABLE_CAP - 1)) {
		struct slot *s = &tab.s[i];

		if (s->id[0] == '\0') {
			memcpy(s->id, id, HV_ID_HEX_LEN);
			return s;
		}
		if (memcmp(s->id, id, HV_ID_HEX_LEN) == 0)
			return s;
	}
}

/* Records the 202 (arrival 0) or the arrival (arrival 1) of id at t. */
static void
table_note(const char *id, int arrival, int64_t t)
{
	struct slot *s;

	pthread_mutex_lock(&tab.lock);
	s = slot_of(id);
	if (arrival && s->tarr == 0) {
		s->tarr = t;
		tab.narr++;
		if (tab.first_arr == 0)
			tab.first_arr = t;
		tab.last_arr = t;
		if (s->t202 != 0)
			tab.matched++;
	} else if (!arrival && s->t202 == 0) {
		s->t202 = t;
		tab.n202++;
		if (s->tarr != 0)
			tab.matched++;
	}
	pthread_mutex_unlock(&tab.lock);
}

static void
table_reset(void)
{
	pthread_mutex_lock(&tab.lock);
	memset(tab.s, 0, TABLE_CAP * sizeof(*tab.s));
	tab.n202 = tab.narr = tab.matched = 0;
	tab.first_arr = tab.last_arr = 0;
	pthread_mutex_unlock(&tab.lock);
}

static long
in_flight(void)
{
	long n;

	pthread_mutex_lock(&tab.lock);
	n = tab.n202 - tab.matched;
	pthread_mutex_unlock(&tab.lock);
	return n;
}

/* ---- the recipient's SSE stream --------------------------------------- */

struct sse {
	CURL *c;
	char *buf;
	size_t len, cap;
	atomic_int connected, stop, done;
	long skipped; /* message events without an id */
};

/* Takes each complete event ("...\n\n") off the front of the buffer. */
static void
sse_events(struct sse *s, int64_t now)
{
	char *start = s->buf, *end;

	while ((end = strstr(start, "\n\n")) != NULL) {
		*end = '\0';
		if (strncmp(start, ": connected", 11) == 0)
			atomic_store(&s->connected, 1);
		else if (strncmp(start, "event: message\n", 15) == 0) {
			const char *p = strstr(start, "\"id\":\"");

			if (p != NULL && strlen(p + 6) >= HV_ID_HEX_LEN)
				table_note(p + 6, 1, now);
			else
				s->skipped++;
		}
		start = end + 2;
	}
	s->len -= (size_t)(start - s->buf);
	memmove(s->buf, start, s->len);
	s->buf[s->len] = '\0';
}

static size_t
sse_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct sse *s = ud;
	size_t add = size * n;

	if (s->len + add + 1 > s->cap) {
		size_t cap = (s->len + add + 1) * 2;
		char *nb = realloc(s->buf, cap);

		if (nb == NULL)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, add);
	s->len += add;
	s->buf[s->len] = '\0';
	sse_events(s, bench_now_us());
	return add;
}

static int
sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct sse *s = ud;

	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&s->stop) ? 1 : 0;
}

static void *
sse_run(void *arg)
{
	struct sse *s = arg;

	curl_easy_perform(s->c);
	atomic_store(&s->done, 1);
	return NULL;
}

/* ---- senders ---------------------------------------------------------- */

struct sender {
	struct h_agent *a;
	CURL *c;
	struct curl_slist *hdr;
	char *body;
	char resp[512];
	size_t resp_len;
	pthread_t th;
	int64_t interval_us; /* 0: as fast as the agent answers */
	long posted, failed;
	int64_t *lat202; /* POST -> 202, per message */
	long n_lat;
	char last_error[256];
};

static atomic_int stop_posting;
static atomic_long budget_left;

static size_t
resp_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct sender *s = ud;
	size_t add = size * n, room = sizeof(s->resp) - 1 - s->resp_len;

	memcpy(s->resp + s->resp_len, ptr, add < room ? add : room);
	s->resp_len += add < room ? add : room;
	s->resp[s->resp_len] = '\0';
	return add;
}

/*
 * A REFERRAL whose payload document as the agent encrypts it,
 * {"subject":…,"child":…,"body":…} in compact JSON, is exactly PAYLOAD
 * bytes, so it fills one 1 KiB padding bucket.
 */
static char *
referral(void)
{
	static const char doc[] =
	    "{\"subject\":\"nhs:9434765919\","
	    "\"child\":{\"name\":\"Bench Child\",\"dob\":\"2016-03-02\"},"
	    "\"body\":{\"summary\":\"\"}}";
	size_t fill = PAYLOAD - (sizeof(doc) - 1);
	char *pad = malloc(fill + 1);
	char *out;

	if (pad == NULL)
		die("out of memory");
	memset(pad, 'x', fill);
	pad[fill] = '\0';
	out = h_fmt(
	    "{\"to\":[\"%s\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"ROUTINE\",\"subject\":{\"nhs\":\"943 476 5919\"},"
	    "\"basis\":{\"consent\":\"NOT_SOUGHT\",\"art6\":\"PUBLIC_TASK\","
	    "\"art9\":\"SAFEGUARDING\",\"justification\":\"Seeking consent "
	    "would place the child at increased risk.\",\"decided_by\":"
	    "\"bench.duty\"},\"child\":{\"name\":\"Bench Child\",\"dob\":"
	    "\"2016-03-02\"},\"body\":{\"summary\":\"%s\"}}",
	    recipient, pad);
	free(pad);
	if (out == NULL)
		die("out of memory");
	return out;
}

static void
sleep_us(int64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *
sender_run(void *arg)
{
	struct sender *s = arg;
	int64_t next = bench_now_us();

	while (!atomic_load(&stop_posting)) {
		long code = 0;
		int64_t t0, t1;
		const char *id;

		if (s->interval_us > 0) {
			int64_t now = bench_now_us();

			if (now < next) {
				sleep_us(next - now < 5000 ? next - now : 5000);
				continue;
			}
			next += s->interval_us;
		} else if (in_flight() >= MAX_IN_FLIGHT) {
			sleep_us(500);
			continue;
		}
		if (atomic_fetch_sub(&budget_left, 1) <= 0)
			break;
		s->resp_len = 0;
		s->resp[0] = '\0';
		t0 = bench_now_us();
		if (curl_easy_perform(s->c) == CURLE_OK)
			curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
		t1 = bench_now_us();
		id = strstr(s->resp, "\"id\":\"");
		if (code == 202 && id != NULL &&
		    strlen(id + 6) >= HV_ID_HEX_LEN) {
			table_note(id + 6, 0, t1);
			s->lat202[s->n_lat++] = t1 - t0;
			s->posted++;
		} else {
			snprintf(s->last_error, sizeof(s->last_error),
			    "HTTP %ld: %.200s", code, s->resp);
			if (++s->failed > 50)
				break;
		}
	}
	return NULL;
}

static void
sender_open(struct sender *s, struct h_agent *a)
{
	char *url = h_fmt("%s/v1/messages", a->url);
	char *auth = h_fmt("Authorization: Bearer %s", a->token);

	memset(s, 0, sizeof(*s));
	s->a = a;
	s->body = referral();
	if ((s->c = curl_easy_init()) == NULL || url == NULL || auth == NULL)
		die("cannot make an HTTP client");
	if ((s->lat202 = calloc(MAX_MESSAGES, sizeof(*s->lat202))) == NULL)
		die("out of memory");
	s->hdr = curl_slist_append(s->hdr, auth);
	s->hdr = curl_slist_append(s->hdr, "Content-Type: application/json");
	/* No 100-continue round trip: the agent reads the body at once. */
	s->hdr = curl_slist_append(s->hdr, "Expect:");
	curl_easy_setopt(s->c, CURLOPT_URL, url);
	curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->hdr);
	curl_easy_setopt(s->c, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->c, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
	curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, resp_write);
	curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
	free(url);
	free(auth);
}

static void
sender_close(struct sender *s)
{
	curl_easy_cleanup(s->c);
	curl_slist_free_all(s->hdr);
	free(s->body);
	free(s->lat202);
}

/* ---- measurements ----------------------------------------------------- */

/* The recipient's inbox_unacked from /v1/health, or -1. */
static long
inbox_count(struct h_agent *a)
{
	char *url = h_fmt("%s/v1/health", a->url), *resp = NULL;
	long n = -1;

	if (h_http("GET", url, a->token, NULL, &resp) == 200) {
		json_t *j = json_loads(resp, 0, NULL);

		if (json_is_integer(json_object_get(j, "inbox_unacked")))
			n = (long)json_integer_value(
			    json_object_get(j, "inbox_unacked"));
		json_decref(j);
	}
	free(resp);
	free(url);
	return n;
}

/* VmHWM and VmRSS of pid in KiB (0 when unknown). */
static void
memory_of(pid_t pid, long *hwm, long *rss)
{
	char path[64], line[256];
	FILE *fp;

	*hwm = *rss = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		sscanf(line, "VmHWM: %ld kB", hwm);
		sscanf(line, "VmRSS: %ld kB", rss);
	}
	fclose(fp);
}

/* User + system CPU of pid so far, in clock ticks (0 when unknown). */
static long long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: 14, 15. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	        &st) != 2)
		return 0;
	return (long long)(ut + st);
}

/* Busy and total ticks of the whole machine, from /proc/stat. */
static void
machine_ticks(long long *busy, long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *fp = fopen("/proc/stat", "r");

	*busy = *total = 0;
	if (fp == NULL)
		return;
	if (fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	        &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += (long long)v[i];
		*busy = *total - (long long)(v[3] + v[4]);
	}
	fclose(fp);
}

/* The processes whose CPU a phase reports: broker, agents, this bench. */
#define N_CPU (2 + N_SENDERS + 1)

static void
cpu_snapshot(long long t[N_CPU], long long *busy, long long *total)
{
	t[0] = cpu_ticks(part.broker_pid);
	for (int i = 0; i < part.n_agents && i < N_SENDERS + 1; i++)
		t[1 + i] = cpu_ticks(part.agents[i].pid);
	t[N_CPU - 1] = cpu_ticks(getpid());
	machine_ticks(busy, total);
}

struct result {
	long posted, arrived, inbox, failed;
	double seconds, intake_rate, e2e_rate;
	int64_t p50, p99, max, p50_202, p99_202;
	double cpu[N_CPU]; /* % of one core while posting and draining */
	double machine_busy; /* % of all cores, every process included */
};

/*
 * Runs one phase: posting for `secs` (paced at `rate` messages per second
 * in all, or as fast as allowed when rate is 0), then waits (bounded) for
 * every 202'd message to arrive.
 */
static void
phase(struct sender *snd, int nthr, struct h_agent *rcv, double secs,
    double rate, struct result *r)
{
	long inbox0 = inbox_count(rcv), k = 0;
	long long c0[N_CPU] = { 0 }, c1[N_CPU] = { 0 };
	long long busy0, busy1, tot0, tot1;
	int64_t t0, t_stop, end, *lat;

	memset(r, 0, sizeof(*r));
	table_reset();
	atomic_store(&stop_posting, 0);
	atomic_store(&budget_left, MAX_MESSAGES);
	for (int i = 0; i < N_THREADS; i++) {
		snd[i].posted = snd[i].failed = snd[i].n_lat = 0;
		snd[i].interval_us =
		    rate > 0 ? (int64_t)(1e6 * nthr / rate) : 0;
	}
	cpu_snapshot(c0, &busy0, &tot0);
	t0 = bench_now_us();
	for (int i = 0; i < nthr; i++)
		if (pthread_create(&snd[i].th, NULL, sender_run, &snd[i]) != 0)
			die("cannot start a sender thread");
	while (bench_now_us() - t0 < (int64_t)(secs * 1e6) &&
	    atomic_load(&budget_left) > 0)
		sleep_us(20000);
	atomic_store(&stop_posting, 1);
	for (int i = 0; i < nthr; i++) {
		pthread_join(snd[i].th, NULL);
		r->posted += snd[i].posted;
		r->failed += snd[i].failed;
		if (snd[i].failed > 0)
			fprintf(stderr, "e2e_bench: %s: %ld refused, last %s\n",
			    snd[i].a->id, snd[i].failed, snd[i].last_error);
	}
	t_stop = bench_now_us();
	end = t_stop + DRAIN_S * 1000000LL;
	while (in_flight() > 0 && bench_now_us() < end)
		sleep_us(10000);
	cpu_snapshot(c1, &busy1, &tot1);
	for (int i = 0; i < N_CPU; i++)
		r->cpu[i] = 100.0 * (double)(c1[i] - c0[i]) /
		    (double)sysconf(_SC_CLK_TCK) /
		    ((bench_now_us() - t0) / 1e6);
	r->machine_busy = tot1 > tot0 ?
	    100.0 * (double)(busy1 - busy0) / (double)(tot1 - tot0) :
	    0;
	r->inbox = inbox_count(rcv) - inbox0;

	pthread_mutex_lock(&tab.lock);
	r->arrived = tab.matched;
	r->seconds =
	    ((tab.last_arr > t_stop ? tab.last_arr : t_stop) - t0) / 1e6;
	r->intake_rate = r->posted / ((t_stop - t0) / 1e6);
	r->e2e_rate = r->arrived / r->seconds;
	if ((lat = calloc((size_t)tab.matched + 1, sizeof(*lat))) == NULL)
		die("out of memory");
	for (size_t i = 0; i < TABLE_CAP; i++)
		if (tab.s[i].t202 != 0 && tab.s[i].tarr != 0)
			lat[k++] = tab.s[i].tarr > tab.s[i].t202 ?
			    tab.s[i].tarr - tab.s[i].t202 :
			    0;
	pthread_mutex_unlock(&tab.lock);
	r->p50 = bench_percentile(lat, (size_t)k, 50);
	r->p99 = bench_percentile(lat, (size_t)k, 99);
	r->max = k > 0 ? lat[k - 1] : 0;
	free(lat);

	{
		long n = 0;

		for (int i = 0; i < N_THREADS; i++)
			n += snd[i].n_lat;
		if ((lat = calloc((size_t)n + 1, sizeof(*lat))) == NULL)
			die("out of memory");
		n = 0;
		for (int i = 0; i < N_THREADS; i++)
			for (long j = 0; j < snd[i].n_lat; j++)
				lat[n++] = snd[i].lat202[j];
		r->p50_202 = bench_percentile(lat, (size_t)n, 50);
		r->p99_202 = bench_percentile(lat, (size_t)n, 99);
		free(lat);
	}
}

static void
print_cpu(const char *name, const struct result *r)
{
	printf("CPU, %s (%% of one core): broker %.0f, senders %.0f/%.0f/%.0f, "
	       "recipient %.0f, bench clients %.0f; machine %.0f%% busy "
	       "(all processes, both cores)\n",
	    name, r->cpu[0], r->cpu[1], r->cpu[2], r->cpu[3], r->cpu[4],
	    r->cpu[5], r->machine_busy);
}

/*
 * The CPU each part of the path spent per message arrived at saturation,
 * in µs: what bounds the end-to-end figure when the cores are busy.
 */
static void
cpu_figures(const struct result *r)
{
	double per;

	if (r->arrived <= 0 || r->e2e_rate <= 0)
		return;
	per = 1e6 / r->e2e_rate / 100.0; /* % of a core -> µs a message */
	bench_figure("e2e_cpu_broker_us", r->cpu[0] * per);
	bench_figure("e2e_cpu_senders_us",
	    (r->cpu[1] + r->cpu[2] + r->cpu[3]) * per);
	bench_figure("e2e_cpu_recipient_us", r->cpu[4] * per);
	bench_figure("e2e_cpu_clients_us", r->cpu[5] * per);
	bench_figure("e2e_machine_busy_pct", r->machine_busy);
}

static void
print_row(const char *name, const struct result *r)
{
	printf("| %-16s | %6ld | %6ld | %6.1f | %8.0f | %8.0f | %7.1f | "
	       "%7.1f | %7.1f | %6.1f |\n",
	    name, r->posted, r->arrived, r->seconds, r->intake_rate,
	    r->e2e_rate, r->p50 / 1000.0, r->p99 / 1000.0, r->max / 1000.0,
	    r->p99_202 / 1000.0);
}

/* ---- main ------------------------------------------------------------- */

static void
start_partnership(struct h_agent **snd_agents, struct h_agent **rcv)
{
	if (h_partnership_create(&part, NULL, NULL) != 0)
		die("cannot create the partnership (is $HAVEN_BIN right?)");
	part_made = 1;
	if (h_broker_start(&part) != 0)
		die("the broker did not start");
	for (int i = 0; i < N_SENDERS; i++) {
		snd_agents[i] = h_agent_add(&part, senders[i], NULL);
		if (snd_agents[i] == NULL ||
		    h_agent_start(&part, snd_agents[i]) != 0)
			die("a sender agent did not start");
	}
	*rcv = h_agent_add(&part, recipient, NULL);
	if (*rcv == NULL || h_agent_start(&part, *rcv) != 0)
		die("the recipient agent did not start");
}

static void
sse_open(struct sse *s, struct h_agent *rcv, pthread_t *th)
{
	char *url = h_fmt("%s/v1/alerts/stream", rcv->url);
	char *auth = h_fmt("Authorization: Bearer %s", rcv->token);
	struct curl_slist *hdr = NULL;
	int64_t end = bench_now_us() + 10000000;

	memset(s, 0, sizeof(*s));
	if (url == NULL || auth == NULL || (s->c = curl_easy_init()) == NULL)
		die("cannot make the SSE client");
	hdr = curl_slist_append(hdr, auth);
	curl_easy_setopt(s->c, CURLOPT_URL, url);
	curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, sse_write);
	curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->c, CURLOPT_XFERINFOFUNCTION, sse_progress);
	curl_easy_setopt(s->c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(s->c, CURLOPT_PRIVATE, hdr);
	free(url);
	free(auth);
	if (pthread_create(th, NULL, sse_run, s) != 0)
		die("cannot start the SSE thread");
	while (!atomic_load(&s->connected)) {
		if (atomic_load(&s->done) || bench_now_us() > end)
			die("the recipient's SSE stream did not open");
		sleep_us(10000);
	}
}

static void
sse_close(struct sse *s, pthread_t th)
{
	struct curl_slist *hdr = NULL;

	atomic_store(&s->stop, 1);
	pthread_join(th, NULL);
	curl_easy_getinfo(s->c, CURLINFO_PRIVATE, (char **)&hdr);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(s->c);
	free(s->buf);
}

/* Appends the summary rows of the three phases. */
static void
summarize(const struct result *one, const struct result *sat,
    const struct result *half, long hwm, long rss)
{
	char value[64];
	double ours = 0;

	for (int i = 0; i < N_CPU; i++)
		ours += sat->cpu[i];
	snprintf(value, sizeof(value), "%.0f /s", sat->e2e_rate);
	bench_figure("e2e_rate", sat->e2e_rate);
	bench_summary("End to end: accepted msgs/s (agent API -> broker -> "
	              "agent)",
	    value,
	    "%d senders x %d HTTP threads -> 1 agent, <= %d "
	    "in flight; %ld of %ld arrived in %.1f s; Haven + clients used "
	    "%.0f%% of one core, machine %.0f%% busy",
	    N_SENDERS, SENDER_THREADS, MAX_IN_FLIGHT, sat->arrived, sat->posted,
	    sat->seconds, ours, sat->machine_busy);
	snprintf(value, sizeof(value), "%.0f /s", one->e2e_rate);
	bench_summary("End to end, one sender agent alone", value,
	    "%s with %d HTTP threads; %ld of %ld arrived", senders[0],
	    SENDER_THREADS, one->arrived, one->posted);
	snprintf(value, sizeof(value), "%.0f / %.0f ms", sat->p50 / 1000.0,
	    sat->p99 / 1000.0);
	bench_summary("End to end latency p50 / p99, saturation", value,
	    "202 at the sender to the SSE event at the recipient; 202 itself "
	    "p99 %.0f ms",
	    sat->p99_202 / 1000.0);
	if (half != NULL) {
		snprintf(value, sizeof(value), "%.1f / %.1f ms",
		    half->p50 / 1000.0, half->p99 / 1000.0);
		bench_figure("half_p50_ms", half->p50 / 1000.0);
		bench_figure("half_p99_ms", half->p99 / 1000.0);
		bench_summary("End to end latency p50 / p99, half load", value,
		    "paced at %.0f /s; %ld of %ld arrived; 202 itself p99 "
		    "%.0f ms",
		    sat->e2e_rate / 2, half->arrived, half->posted,
		    half->p99_202 / 1000.0);
	}
	snprintf(value, sizeof(value), "%.1f / %.1f MiB", hwm / 1024.0,
	    rss / 1024.0);
	bench_summary("Broker memory: peak RSS / RSS at the end", value,
	    "VmHWM / VmRSS after %ld messages end to end",
	    one->arrived + sat->arrived + (half != NULL ? half->arrived : 0));
}

int
main(int argc, char **argv)
{
	double secs_sat = argc > 1 ? atof(argv[1]) : 15.0;
	double secs_half = argc > 2 ? atof(argv[2]) : 8.0;
	double secs_one = argc > 3 ? atof(argv[3]) : 6.0;
	struct h_agent *snd_agents[N_SENDERS], *rcv;
	struct sender snd[N_THREADS];
	struct result one, sat, half;
	struct sse sse;
	pthread_t sse_th;
	long hwm, rss, ahwm, arss;
	int ok, do_half;

	if (secs_sat <= 0 || secs_sat > 120 || secs_half < 0 ||
	    secs_half > 120 || secs_one <= 0 || secs_one > 120)
		die("usage: e2e_bench [SECONDS_SATURATION [SECONDS_HALF "
		    "[SECONDS_ONE_SENDER]]]");
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_ALL) != 0)
		die("cannot initialise libcurl");
	if ((tab.s = calloc(TABLE_CAP, sizeof(*tab.s))) == NULL)
		die("out of memory");
	start_partnership(snd_agents, &rcv);
	sse_open(&sse, rcv, &sse_th);
	for (int i = 0; i < N_THREADS; i++)
		sender_open(&snd[i], snd_agents[i / SENDER_THREADS]);

	printf("End to end: agent API -> haven-broker -> recipient agent, "
	       "%d-byte payloads,\n%d sender agents x %d HTTP threads -> 1 "
	       "recipient agent, durable at every hop\n\n",
	    PAYLOAD, N_SENDERS, SENDER_THREADS);
	printf("| phase            | 202s   | arrived | secs  | 202/s    | "
	       "e2e/s    | p50 ms  | p99 ms  | max ms  | 202 p99 |\n");
	printf("|------------------|--------|--------|--------|----------|"
	       "----------|---------|---------|---------|--------|\n");
	fflush(stdout);
	/* The first sender's threads alone: what one agency's agent sends. */
	phase(snd, SENDER_THREADS, rcv, secs_one, 0, &one);
	print_row("one sender", &one);
	fflush(stdout);
	phase(snd, N_THREADS, rcv, secs_sat, 0, &sat);
	print_row("saturation", &sat);
	fflush(stdout);
	if ((do_half = secs_half > 0 && sat.e2e_rate > 0)) {
		phase(snd, N_THREADS, rcv, secs_half, sat.e2e_rate / 2, &half);
		print_row("half load", &half);
	}
	memory_of(part.broker_pid, &hwm, &rss);
	memory_of(rcv->pid, &ahwm, &arss);
	printf("\n");
	print_cpu("one sender", &one);
	print_cpu("saturation", &sat);
	cpu_figures(&sat);
	if (do_half)
		print_cpu("half load", &half);
	printf("broker memory: peak RSS (VmHWM) %.1f MiB, RSS at the end "
	       "%.1f MiB; recipient agent: peak %.1f MiB, end %.1f MiB\n",
	    hwm / 1024.0, rss / 1024.0, ahwm / 1024.0, arss / 1024.0);
	printf("recipient inbox grew by %ld, %ld and %ld; SSE events without "
	       "an id: %ld\n\n",
	    one.inbox, sat.inbox, do_half ? half.inbox : 0, sse.skipped);
	summarize(&one, &sat, do_half ? &half : NULL, hwm, rss);

	ok = sat.posted > 0 && sat.arrived == sat.posted &&
	    one.arrived == one.posted &&
	    (!do_half || half.arrived == half.posted);
	for (int i = 0; i < N_THREADS; i++)
		sender_close(&snd[i]);
	sse_close(&sse, sse_th);
	h_partnership_destroy(&part);
	free(tab.s);
	curl_global_cleanup();
	return ok ? 0 : 1;
}
