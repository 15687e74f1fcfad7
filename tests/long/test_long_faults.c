/*
 * The long fault test of `make test-long` (SPEC §11, §16): four sender
 * agents stream HAVEN_LONG_MESSAGES (default 10,000) messages through the
 * agents' API while the broker is killed -9 twenty times, then the
 * recipient agent ten times, then a sender ten times. Afterwards every
 * message that got a 202 is in its recipient's inbox exactly once, every
 * outbox is empty (each message got its ACCEPTED and DELIVERED), and the
 * broker's audit log verifies.
 *
 * It takes minutes, so `make test` does not run it; `make test-long` does.
 * The batched paths (the HTTP threads' group commit, the agents' bursts,
 * the broker's group commit) are the ones under test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>

#include "../e2e/agent_kit.h"
#include "../e2e/harness.h"
#include "hv_envelope.h"
#include "hv_util.h"

#define SENDERS 4
#define THREADS 2 /* HTTP clients per sender */
#define BROKER_KILLS 20
#define RECIPIENT_KILLS 10
#define SENDER_KILLS 10
#define KILLS (BROKER_KILLS + RECIPIENT_KILLS + SENDER_KILLS)

static struct h_partnership P;

/* Who sends what to whom: three agencies refer to social care, which
 * sends strategy discussions to the police. */
static const struct flow {
	const char *from, *to, *type;
} flows[SENDERS] = {
	{ AK_POLICE, AK_SOCIAL, "REFERRAL" },
	{ AK_HEALTH, AK_SOCIAL, "REFERRAL" },
	{ AK_SCHOOL, AK_SOCIAL, "REFERRAL" },
	{ AK_SOCIAL, AK_POLICE, "STRATEGY_DISCUSSION" },
};

struct sent {
	char id[33];
	int to; /* index into the partnership's agents */
};

/* The stream's shared state; urls change when an agent restarts. */
static struct {
	pthread_mutex_t lock;
	char url[SENDERS][200];
	char token[SENDERS][128];
	struct sent *sent;
	int n, want, cap;
	int cut; /* requests the kills left unanswered */
	int odd; /* an answer other than 202 */
	int odd_status;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
agent_index(const char *id)
{
	for (int i = 0; i < P.n_agents; i++)
		if (strcmp(P.agents[i].id, id) == 0)
			return i;
	return -1;
}

static void
snapshot(int s)
{
	struct h_agent *a = ak_agent(&P, flows[s].from);

	snprintf(S.url[s], sizeof(S.url[s]), "%s/v1/messages", a->url);
	snprintf(S.token[s], sizeof(S.token[s]), "%s", a->token);
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One HTTP client of sender s: posts until the stream is complete. */
static void *
client(void *arg)
{
	int s = (int)((intptr_t)arg / THREADS);
	int to = agent_index(flows[s].to);
	char to_json[96];

	snprintf(to_json, sizeof(to_json), "[\"%s\"]", flows[s].to);
	for (int k = 0;; k++) {
		char url[220], token[128], tag[48], id[33] = "", *body, *resp;
		json_t *j;
		int st;

		pthread_mutex_lock(&S.lock);
		if (S.n >= S.want) {
			pthread_mutex_unlock(&S.lock);
			break;
		}
		snprintf(url, sizeof(url), "%s", S.url[s]);
		snprintf(token, sizeof(token), "%s", S.token[s]);
		pthread_mutex_unlock(&S.lock);

		snprintf(tag, sizeof(tag), "long-%d-%d", (int)(intptr_t)arg, k);
		body = ak_message(to_json, flows[s].type, "ROUTINE", tag, "");
		resp = NULL;
		st = h_http("POST", url, token, body, &resp);
		j = json_loads(resp ? resp : "", 0, NULL);
		if (st == 202 && json_string_value(json_object_get(j, "id")))
			snprintf(id, sizeof(id), "%s",
			    json_string_value(json_object_get(j, "id")));
		json_decref(j);
		free(resp);
		free(body);

		pthread_mutex_lock(&S.lock);
		/* The last clients' 202s may overshoot want: all count. */
		if (st == 202 && id[0] != '\0' && S.n < S.cap) {
			snprintf(S.sent[S.n].id, sizeof(S.sent[0].id), "%s",
			    id);
			S.sent[S.n].to = to;
			S.n++;
		} else if (st == 0)
			S.cut++;
		else if (st != 202) {
			S.odd++;
			S.odd_status = st;
		}
		pthread_mutex_unlock(&S.lock);
		if (st == 0)
			pause_ms(20); /* the agent is restarting */
	}
	return NULL;
}

static int
reached(void *ctx)
{
	int want = (int)(intptr_t)ctx, n;

	pthread_mutex_lock(&S.lock);
	n = S.n;
	pthread_mutex_unlock(&S.lock);
	return n >= want;
}

/* Kills agent `id` -9 and starts it again, the clients held meanwhile. */
static void
agent_bounce(const char *id)
{
	struct h_agent *a = ak_agent(&P, id);
	int rc;

	pthread_mutex_lock(&S.lock);
	h_agent_kill(a);
	rc = h_agent_start(&P, a);
	for (int s = 0; s < SENDERS; s++)
		if (strcmp(flows[s].from, id) == 0)
			snapshot(s);
	pthread_mutex_unlock(&S.lock);
	cr_assert_eq(rc, 0, "%s did not restart; see %s", id, a->log);
}

/* ---- the checks ----------------------------------------------------------- */

struct store_view {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi inbox, order;
};

static int
view_open(struct store_view *v, struct h_agent *a)
{
	char *dir = h_fmt("%s/data/%s", P.dir, a->id);
	int ok;

	memset(v, 0, sizeof(*v));
	ok = mdb_env_create(&v->env) == 0 &&
	    mdb_env_set_maxdbs(v->env, 32) == 0 &&
	    mdb_env_open(v->env, dir, MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
	    mdb_txn_begin(v->env, NULL, MDB_RDONLY, &v->txn) == 0 &&
	    mdb_dbi_open(v->txn, "inbox", 0, &v->inbox) == 0 &&
	    mdb_dbi_open(v->txn, "inbox_order", 0, &v->order) == 0;
	free(dir);
	return ok;
}

static void
view_close(struct store_view *v)
{
	if (v->txn != NULL)
		mdb_txn_abort(v->txn);
	if (v->env != NULL)
		mdb_env_close(v->env);
}

/* 1 when every id with a 202 is in its recipient's inbox. */
static int
all_arrived(void *ctx)
{
	struct store_view v[2];
	int idx[2] = { agent_index(AK_SOCIAL), agent_index(AK_POLICE) };
	int ok = 1, missing = 0;

	(void)ctx;
	for (int r = 0; r < 2; r++)
		if (!view_open(&v[r], &P.agents[idx[r]]))
			ok = 0;
	for (int i = 0; ok && i < S.n; i++) {
		struct store_view *w = &v[S.sent[i].to == idx[0] ? 0 : 1];
		uint8_t id[HV_ID_LEN];
		MDB_val k = { HV_ID_LEN, id }, d;

		if (hv_unhex(S.sent[i].id, id, HV_ID_LEN) != 0 ||
		    mdb_get(w->txn, w->inbox, &k, &d) != 0)
			missing++;
	}
	for (int r = 0; r < 2; r++)
		view_close(&v[r]);
	return ok && missing == 0;
}

/* Inbox entries and arrivals at agent id: equal when none came twice. */
static void
inbox_counts(const char *id, size_t *entries, size_t *arrivals)
{
	struct store_view v;
	MDB_stat st;

	*entries = *arrivals = 0;
	cr_assert(view_open(&v, ak_agent(&P, id)), "cannot read %s's store",
	    id);
	if (mdb_stat(v.txn, v.inbox, &st) == 0)
		*entries = st.ms_entries;
	if (mdb_stat(v.txn, v.order, &st) == 0)
		*arrivals = st.ms_entries;
	view_close(&v);
}

static void
setup(void)
{
	const char *n = getenv("HAVEN_LONG_MESSAGES");

	S.want = n != NULL && atoi(n) > 0 ? atoi(n) : 10000;
	S.cap = S.want + SENDERS * THREADS;
	cr_assert_not_null(S.sent = calloc((size_t)S.cap, sizeof(*S.sent)));
	cr_assert_eq(ak_setup(&P, NULL), 0, "partnership did not start");
}

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	free(S.sent);
	cr_assert_eq(rc, 0, "%s", why);
}

Test(long_faults,
    every_202_arrives_once_across_forty_kill_9s_of_broker_recipient_and_sender,
    .init = setup, .fini = teardown, .timeout = 3600)
{
	pthread_t t[SENDERS * THREADS];
	int64_t t0 = hv_mono_ms(), t_stream, t_done;
	size_t entries[2], arrivals[2];
	char *out = NULL;
	int rc, expected[2] = { 0, 0 };

	cr_assert_eq(ak_get(ak_agent(&P, AK_POLICE), "/v1/health", NULL), 200);
	for (int s = 0; s < SENDERS; s++)
		snapshot(s);
	for (int c = 0; c < SENDERS * THREADS; c++)
		cr_assert_eq(pthread_create(&t[c], NULL, client,
		                 (void *)(intptr_t)c),
		    0);
	/* The kills, spread evenly over the stream: broker, then the
	 * recipient (social care), then a sender (police). */
	for (int k = 0; k < KILLS; k++) {
		int at = (int)((long)(k + 1) * S.want / (KILLS + 1));

		cr_assert(h_wait_until(reached, (void *)(intptr_t)at, 600000),
		    "the stream stalled before %d 202s (kill %d)", at, k);
		if (k < BROKER_KILLS) {
			h_broker_kill(&P);
			cr_assert_eq(h_broker_start(&P), 0,
			    "the broker did "
			    "not restart; see %s",
			    P.broker_log);
		} else if (k < BROKER_KILLS + RECIPIENT_KILLS)
			agent_bounce(AK_SOCIAL);
		else
			agent_bounce(AK_POLICE);
	}
	for (int c = 0; c < SENDERS * THREADS; c++)
		pthread_join(t[c], NULL);
	t_stream = hv_mono_ms();
	cr_assert_eq(S.odd, 0, "%d requests were answered %d", S.odd,
	    S.odd_status);
	cr_assert_geq(S.n, S.want);

	/* Every 202 arrives; every outbox empties (ACCEPTED survived). */
	cr_assert(h_wait_until(all_arrived, NULL, 900000),
	    "messages with a 202 never reached their recipient");
	for (int s = 0; s < SENDERS; s++)
		cr_assert(ak_wait_health(ak_agent(&P, flows[s].from),
		              "outbox_depth", 0, 300000),
		    "%s's outbox never emptied", flows[s].from);
	t_done = hv_mono_ms();

	/* Exactly once: no id arrived twice, and nothing but the stream's
	 * messages (and requests a kill cut off after their commit). */
	for (int i = 0; i < S.n; i++)
		expected[S.sent[i].to == agent_index(AK_SOCIAL) ? 0 : 1]++;
	inbox_counts(AK_SOCIAL, &entries[0], &arrivals[0]);
	inbox_counts(AK_POLICE, &entries[1], &arrivals[1]);
	for (int r = 0; r < 2; r++) {
		cr_expect_eq(entries[r], arrivals[r],
		    "%s: %zu messages "
		    "stored %zu times",
		    r ? AK_POLICE : AK_SOCIAL, entries[r], arrivals[r]);
		cr_expect(entries[r] >= (size_t)expected[r] &&
		        entries[r] <= (size_t)(expected[r] + S.cut),
		    "%s holds %zu messages for %d with a 202 and %d cut off",
		    r ? AK_POLICE : AK_SOCIAL, entries[r], expected[r], S.cut);
	}

	/* The broker's audit log verifies after all of it. */
	cr_assert_eq(h_broker_stop(&P), 0);
	rc = h_sh(&out, 600, "'%s' audit verify --db '%s'", h_bin("haven"),
	    P.broker_data);
	cr_expect_eq(rc, 0, "audit verify failed: %s", out ? out : "");
	cr_expect(out != NULL && strstr(out, "OK: ") != NULL, "%s",
	    out ? out : "");
	fprintf(stderr,
	    "long_faults: %d messages with a 202 (%d requests cut "
	    "off by kills) from %d sender agents; %d kill -9s (%d broker, "
	    "%d recipient, %d sender); stream %.1f s, all delivered and "
	    "settled %.1f s later; inboxes %zu + %zu; audit: %s",
	    S.n, S.cut, SENDERS, KILLS, BROKER_KILLS, RECIPIENT_KILLS,
	    SENDER_KILLS, (t_stream - t0) / 1000.0,
	    (t_done - t_stream) / 1000.0, entries[0], entries[1],
	    out ? out : "(none)\n");
	free(out);
	cr_assert_eq(h_broker_start(&P), 0);
}
