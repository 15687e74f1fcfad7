/*
 * End-to-end durability tests of haven-agent (SPEC §7, §11): store and
 * forward while the broker is away, and kill -9 of the sending or the
 * receiving agent in the middle of a stream. Every 202 must arrive exactly
 * once.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>

#include "agent_kit.h"
#include "harness.h"
#include "hv_util.h"

#define STREAM 300

static struct h_partnership P;
static char ids[STREAM][33];

static void
setup(void)
{
	cr_assert_eq(ak_setup(&P, NULL), 0, "partnership did not start");
}

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

/* Submits message i from police to social care; returns the status. */
static int
submit(int i)
{
	char tag[16], *body;
	int st;

	snprintf(tag, sizeof(tag), "m%d", i);
	body =
	    ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE", tag, "");
	st = ak_post(ak_agent(&P, AK_POLICE), "/v1/messages", body, ids[i]);
	free(body);
	return st;
}

/*
 * Checks that every id in ids[0..n) with a 202 is in the recipient's inbox
 * exactly once, and that the inbox lists no id twice. Waits (bounded) for
 * the inbox to hold at least `want` messages first.
 */
static void
expect_exactly_once(int n, int want)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	json_t *j = NULL, *msgs, *m;
	size_t i;

	cr_assert(ak_wait_health(soc, "inbox_unacked", want, 90000),
	    "the recipient did not receive %d messages", want);
	cr_assert_eq(ak_get(soc, "/v1/inbox?limit=1000", &j), 200);
	msgs = json_object_get(j, "messages");
	cr_assert_eq(json_array_size(msgs), (size_t)want,
	    "inbox lists %zu messages, wanted %d", json_array_size(msgs), want);
	json_array_foreach (msgs, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));

		cr_assert_not_null(id);
		cr_assert_not_null(json_object_get(m, "child"),
		    "message %s was not decrypted", id);
		for (size_t k = 0; k < i; k++)
			cr_assert_str_neq(id,
			    json_string_value(
			        json_object_get(json_array_get(msgs, k), "id")),
			    "message %s is listed twice", id);
	}
	for (int k = 0; k < n; k++) {
		int seen = 0;

		if (ids[k][0] == '\0')
			continue;
		json_array_foreach (msgs, i, m)
			seen +=
			    strcmp(json_string_value(json_object_get(m, "id")),
			        ids[k]) == 0;
		cr_assert_eq(seen, 1, "message %d (%s) arrived %d times", k,
		    ids[k], seen);
	}
	json_decref(j);
}

static int
disconnected(void *ctx)
{
	json_t *h = NULL;
	int ok = ak_get(ctx, "/v1/health", &h) == 200 &&
	    json_is_false(json_object_get(h, "broker_connected"));

	json_decref(h);
	return ok;
}

/*
 * With the broker stopped, 20 messages are accepted (202) and held in the
 * outbox; when the broker starts again all 20 arrive.
 */
Test(agent_durability,
    forwards_twenty_messages_submitted_while_the_broker_is_down, .init = setup,
    .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	json_t *h = NULL;

	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert(h_wait_until(disconnected, pol, 20000),
	    "the agent still reports the stopped broker as connected");
	for (int i = 0; i < 20; i++)
		cr_assert_eq(submit(i), 202, "message %d was refused", i);
	cr_assert_eq(ak_get(pol, "/v1/health", &h), 200);
	cr_assert_eq(json_integer_value(json_object_get(h, "outbox_depth")),
	    20);
	json_decref(h);
	cr_assert_eq(h_broker_start(&P), 0);
	expect_exactly_once(20, 20);
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 20000));
	for (int i = 0; i < 20; i++)
		cr_assert(ak_wait_status(pol, ids[i], "delivered", AK_SOCIAL,
		              20000),
		    "message %d never shown delivered", i);
}

/*
 * kill -9 of the sending agent in the middle of a 300-message stream (with
 * messages still in its outbox): after its restart, every message it
 * answered 202 arrives exactly once.
 */
Test(agent_durability, kill_9_of_the_sender_loses_and_duplicates_nothing,
    .init = setup, .fini = teardown, .timeout = 200)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	int accepted = 0;

	for (int i = 0; i < STREAM; i++) {
		if (i == STREAM / 2) {
			h_agent_kill(pol);
			cr_assert_eq(h_agent_start(&P, pol), 0,
			    "the sender did not restart");
		}
		cr_assert_eq(submit(i), 202, "message %d was refused", i);
		accepted++;
	}
	expect_exactly_once(STREAM, accepted);
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 30000));
}

/* Timeline entries of sent message id at the agent with this status. */
static int
timeline_count(struct h_agent *a, const char *id, const char *status)
{
	char *path = h_fmt("/v1/messages/%s", id);
	json_t *doc = NULL, *e;
	size_t i;
	int n = 0;

	if (ak_get(a, path, &doc) == 200)
		json_array_foreach (json_object_get(doc, "timeline"), i, e) {
			const char *st =
			    json_string_value(json_object_get(e, "status"));

			n += st != NULL && strcmp(st, status) == 0;
		}
	json_decref(doc);
	free(path);
	return n;
}

/*
 * A sender gathers the broker's receipts for a few milliseconds before it
 * stores them, and acknowledges none before: a kill -9 in the middle of a
 * stream, while receipts are arriving, loses none of them. The restarted
 * agent sends again what it has no verdict for, and the broker sends the
 * unacknowledged receipts again at once on the new session (well before
 * its 30 s resend), so every message shows ACCEPTED and DELIVERED once.
 */
Test(agent_durability, a_receipt_gathered_when_the_sender_dies_comes_again,
    .init = setup, .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	int n = 100;

	for (int i = 0; i < n; i++) {
		if (i == n / 2) {
			h_agent_kill(pol);
			cr_assert_eq(h_agent_start(&P, pol), 0,
			    "the sender did not restart");
		}
		cr_assert_eq(submit(i), 202, "message %d was refused", i);
	}
	cr_assert(ak_wait_health(soc, "inbox_unacked", n, 60000),
	    "the recipient did not receive %d messages", n);
	for (int i = 0; i < n; i++) {
		cr_assert(ak_wait_status(pol, ids[i], "delivered", AK_SOCIAL,
		              20000),
		    "message %d not shown delivered within 20 s", i);
		cr_assert_eq(timeline_count(pol, ids[i], "accepted"), 1,
		    "message %d", i);
		cr_assert_eq(timeline_count(pol, ids[i], "delivered"), 1,
		    "message %d", i);
	}
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 30000));
	expect_exactly_once(n, n);
}

/*
 * kill -9 of the receiving agent in the middle of a 300-message stream:
 * after its restart it holds every message exactly once (the broker
 * redelivers what it had not acknowledged; the agent stores each id once).
 */
Test(agent_durability, kill_9_of_the_recipient_loses_and_duplicates_nothing,
    .init = setup, .fini = teardown, .timeout = 200)
{
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);

	for (int i = 0; i < STREAM; i++) {
		if (i == STREAM / 3)
			h_agent_kill(soc);
		if (i == 2 * STREAM / 3)
			cr_assert_eq(h_agent_start(&P, soc), 0,
			    "the recipient did not restart");
		cr_assert_eq(submit(i), 202, "message %d was refused", i);
	}
	expect_exactly_once(STREAM, STREAM);
}

/* ---- concurrent submissions and kill -9 -------------------------------- */

#define CLIENTS 4
#define CONC_KILL_AT 60 /* 202s before the kill */
#define CONC_STOP_AT 160 /* 202s before the clients stop */

/* The clients' shared state; the url changes when the agent restarts. */
static struct {
	pthread_mutex_t lock;
	char url[160];
	char token[128];
	int n; /* ids[0..n) got a 202 */
	int odd; /* a status other than 202 or no answer */
	int stop;
} conc = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * One HTTP client: posts messages to police until told to stop, recording
 * the id of each 202. A request cut by the kill gets no answer (0) and is
 * not counted.
 */
static void *
conc_client(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (int k = 0;; k++) {
		char url[200], token[128], tag[32], id[33], *body;
		int st;

		pthread_mutex_lock(&conc.lock);
		if (conc.stop) {
			pthread_mutex_unlock(&conc.lock);
			break;
		}
		snprintf(url, sizeof(url), "%s/v1/messages", conc.url);
		snprintf(token, sizeof(token), "%s", conc.token);
		pthread_mutex_unlock(&conc.lock);

		snprintf(tag, sizeof(tag), "c%d-%d", me, k);
		body = ak_message("[\"" AK_SOCIAL "\"]", "REFERRAL", "ROUTINE",
		    tag, "");
		{
			char *resp = NULL;
			json_t *j;

			st = h_http("POST", url, token, body, &resp);
			j = json_loads(resp ? resp : "", 0, NULL);
			snprintf(id, sizeof(id), "%s",
			    st == 202 &&
			            json_string_value(
			                json_object_get(j, "id")) ?
			        json_string_value(json_object_get(j, "id")) :
			        "");
			json_decref(j);
			free(resp);
		}
		free(body);
		pthread_mutex_lock(&conc.lock);
		if (st == 202 && id[0] != '\0' && conc.n < STREAM)
			snprintf(ids[conc.n++], sizeof(ids[0]), "%s", id);
		else if (st != 0)
			conc.odd = st;
		if (conc.n >= CONC_STOP_AT)
			conc.stop = 1;
		pthread_mutex_unlock(&conc.lock);
	}
	return NULL;
}

static int
conc_reached(void *ctx)
{
	int want = (int)(intptr_t)ctx, n;

	pthread_mutex_lock(&conc.lock);
	n = conc.n;
	pthread_mutex_unlock(&conc.lock);
	return n >= want;
}

static void
conc_set_url(struct h_agent *a)
{
	snprintf(conc.url, sizeof(conc.url), "%s", a->url);
	snprintf(conc.token, sizeof(conc.token), "%s", a->token);
}

/*
 * kill -9 of the sending agent while four HTTP clients submit at once (so
 * their messages share the agent's commits): after the restart every id
 * that got a 202 is in the outbox, and each reaches the recipient exactly
 * once. A request the kill cut off may or may not have been kept; if it
 * was, it too arrives once.
 */
Test(agent_durability, kill_9_during_concurrent_submissions_keeps_every_202,
    .init = setup, .fini = teardown, .timeout = 240)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	pthread_t t[CLIENTS];
	json_t *j = NULL, *msgs, *m;
	size_t i;
	int n;

	cr_assert_eq(ak_get(pol, "/v1/health", NULL), 200);
	conc_set_url(pol);
	for (int c = 0; c < CLIENTS; c++)
		cr_assert_eq(pthread_create(&t[c], NULL, conc_client,
		                 (void *)(intptr_t)c),
		    0);
	cr_assert(h_wait_until(conc_reached, (void *)(intptr_t)CONC_KILL_AT,
	              90000),
	    "the clients got too few 202s before the kill");
	/* The clients wait on the lock while the agent is replaced. */
	pthread_mutex_lock(&conc.lock);
	h_agent_kill(pol);
	n = h_agent_start(&P, pol);
	conc_set_url(pol);
	pthread_mutex_unlock(&conc.lock);
	cr_assert_eq(n, 0, "the sender did not restart");
	cr_assert(h_wait_until(conc_reached, (void *)(intptr_t)CONC_STOP_AT,
	              120000),
	    "the clients got too few 202s after the restart");
	for (int c = 0; c < CLIENTS; c++)
		pthread_join(t[c], NULL);
	cr_assert_eq(conc.odd, 0, "a request was answered %d", conc.odd);
	n = conc.n;

	/* Every 202 is in the restarted sender's outbox... */
	for (int k = 0; k < n; k++) {
		char *path = h_fmt("/v1/messages/%s", ids[k]);

		cr_assert_eq(ak_get(pol, path, NULL), 200,
		    "message %d (%s) "
		    "got a 202 but is not in the outbox",
		    k, ids[k]);
		free(path);
	}
	/* ...and reaches the recipient exactly once. */
	for (int k = 0; k < n; k++)
		cr_assert(ak_wait_inbox(soc, ids[k], 90000, NULL),
		    "message %d (%s) never arrived", k, ids[k]);
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 60000));
	cr_assert_eq(ak_get(soc, "/v1/inbox?limit=1000", &j), 200);
	msgs = json_object_get(j, "messages");
	cr_assert_geq(json_array_size(msgs), (size_t)n);
	json_array_foreach (msgs, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));

		cr_assert_not_null(id);
		for (size_t k = 0; k < i; k++)
			cr_assert_str_neq(id,
			    json_string_value(
			        json_object_get(json_array_get(msgs, k), "id")),
			    "message %s is listed twice", id);
	}
	json_decref(j);
}

/* 1 when the broker's audit holds an `event` record for message id. */
static int
broker_audited(const char *id, const char *event)
{
	char *out = NULL;
	int rc = h_sh(&out, 30,
	    "'%s' audit query --db '%s' --message %s "
	    "--event %s --format csv",
	    h_bin("haven"), P.broker_data, id, event);
	int ok = rc == 0 && out != NULL && strstr(out, event) != NULL;

	free(out);
	return ok;
}

/*
 * 1 when the agent's store (opened read-only beside the running agent)
 * holds no HumanAck waiting for the broker's confirmation.
 */
static int
no_human_ack_queued(void *ctx)
{
	struct h_agent *a = ctx;
	char *dir = h_fmt("%s/data/%s", P.dir, a->id);
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_stat st;
	int ok = 0;

	if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 32) == 0 &&
	    mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0 &&
	    mdb_dbi_open(txn, "human_acks", 0, &dbi) == 0 &&
	    mdb_stat(txn, dbi, &st) == 0)
		ok = st.ms_entries == 0;
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	free(dir);
	return ok;
}

/*
 * A person acknowledges a message while the broker is frozen (SIGSTOP) and
 * then killed (SIGKILL): the HumanAck the recipient sent into the dead
 * connection is not lost. It stays queued at the recipient until the
 * restarted broker confirms it, so the sender's timeline shows the message
 * acknowledged and the broker's audit has ACKNOWLEDGED.
 */
Test(agent_durability, an_ack_made_while_the_broker_dies_reaches_the_sender,
    .init = setup, .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *soc = ak_agent(&P, AK_SOCIAL);
	char *path;
	int st;

	cr_assert_eq(submit(0), 202);
	cr_assert(ak_wait_inbox(soc, ids[0], 20000, NULL),
	    "the message did not arrive");
	cr_assert(ak_wait_status(pol, ids[0], "delivered", AK_SOCIAL, 20000));

	cr_assert_eq(kill(P.broker_pid, SIGSTOP), 0);
	path = h_fmt("/v1/inbox/%s/ack", ids[0]);
	st = ak_post(soc, path, "{\"by\":\"mash.duty-sw\"}", NULL);
	free(path);
	cr_assert_eq(st, 200, "the ack was refused (%d)", st);
	/*
	 * The recipient sends the HumanAck into the frozen broker's socket at
	 * once; its session ends when heartbeats time out (6 s).
	 */
	cr_assert(h_wait_until(disconnected, soc, 30000),
	    "the recipient still reports the frozen broker as connected");
	h_broker_kill(&P);
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not restart");

	cr_assert(ak_wait_status(pol, ids[0], "acknowledged", AK_SOCIAL, 45000),
	    "the sender never saw the acknowledgement");
	cr_assert(broker_audited(ids[0], "ACKNOWLEDGED"),
	    "the broker's audit has no ACKNOWLEDGED record");
	cr_assert(h_wait_until(no_human_ack_queued, soc, 20000),
	    "the recipient still holds the HumanAck the broker confirmed");
}

/*
 * An agent that had directory version 2 in force refuses, when restarted,
 * to start with version 1 (exit 1, one sentence naming the versions), and
 * starts with version 3.
 */
Test(agent_durability, refuses_an_older_directory_after_a_restart,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cr_assert_eq(kill(pol->pid, SIGHUP), 0);
	cr_assert(ak_wait_health(pol, "directory_version", 2, 5000),
	    "the agent did not load version 2");
	cr_assert_eq(h_agent_stop(pol), 0);

	cr_assert_eq(h_partnership_resign(&P, 1, NULL), 0);
	rc = h_sh(&out, 20, "'%s' --config '%s' --foreground",
	    h_bin("haven-agent"), pol->conf);
	cr_assert_eq(rc, 1,
	    "the agent started (%d) with an older "
	    "directory: %s",
	    rc, out ? out : "");
	{
		const char *fatal = strstr(out, "fatal: ");

		cr_assert_not_null(fatal, "no reason given: %s", out);
		cr_assert(strstr(fatal, "version 1,") != NULL &&
		        strstr(fatal, "version 2 ") != NULL &&
		        strstr(fatal, "rollback") != NULL,
		    "%s", out);
	}
	free(out);

	cr_assert_eq(h_partnership_resign(&P, 3, NULL), 0);
	cr_assert_eq(h_agent_start(&P, pol), 0, "version 3 was refused");
	cr_assert(ak_wait_health(pol, "directory_version", 3, 5000));
}

/* ---- the broker's store full ------------------------------------------- */

#define FULL_MAX 200

/* A broker with a 4 MiB store and only the police agent. */
static void
setup_small_broker(void)
{
	cr_assert_eq(h_partnership_create(&P, NULL, "map_size = 4194304\n"), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert_not_null(h_agent_add(&P, AK_POLICE, NULL));
	cr_assert_eq(h_agent_start(&P, ak_agent(&P, AK_POLICE)), 0);
}

/*
 * id's verdict so far at the sender: 'a' accepted, 'f' a STORAGE_FULL
 * rejection, 'r' another rejection, 0 none yet.
 */
static int
verdict(struct h_agent *a, const char *id)
{
	char *path = h_fmt("/v1/messages/%s", id);
	json_t *j = NULL, *e;
	size_t i;
	int v = 0;

	if (ak_get(a, path, &j) == 200)
		json_array_foreach (json_object_get(j, "timeline"), i, e) {
			const char *s =
			    json_string_value(json_object_get(e, "status"));
			const char *c =
			    json_string_value(json_object_get(e, "code"));

			if (strcmp(s, "accepted") == 0)
				v = 'a';
			else if (strcmp(s, "rejected") == 0 && v != 'a')
				v = c && strcmp(c, "STORAGE_FULL") == 0 ? 'f' :
				                                          'r';
		}
	json_decref(j);
	free(path);
	return v;
}

/*
 * STORAGE_FULL from the broker is not a verdict: the agent shows it in the
 * timeline, keeps the message queued, and sends it again on the next
 * session; once the broker has room the message is accepted (its status
 * becomes accepted) and delivered.
 */
Test(agent_durability, retries_a_message_refused_with_storage_full,
    .init = setup_small_broker, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE), *soc;
	char *big = malloc(60001), *conf, *more;
	int n = 0, full = -1;

	cr_assert_not_null(big);
	memset(big, 'x', 60000);
	big[60000] = '\0';
	/* Nothing drains: the broker's store fills with queued messages. */
	while (full < 0 && n < FULL_MAX) {
		int k0 = n;
		int64_t end;

		for (; n < k0 + 8; n++) {
			char *body = ak_message("[\"" AK_SOCIAL "\"]",
			    "REFERRAL", "ROUTINE", big, "");

			cr_assert_eq(ak_post(pol, "/v1/messages", body, ids[n]),
			    202, "message %d was refused", n);
			free(body);
		}
		for (end = hv_mono_ms() + 20000; hv_mono_ms() < end;) {
			int k, v = 0;

			for (k = k0; k < n; k++) {
				if ((v = verdict(pol, ids[k])) == 0)
					break;
				cr_assert_neq(v, 'r',
				    "message %d was "
				    "rejected for another reason",
				    k);
				if (v == 'f' && full < 0)
					full = k;
			}
			if (k == n)
				break;
		}
	}
	free(big);
	cr_assert_geq(full, 0, "no STORAGE_FULL after %d messages", n);
	{
		json_t *j = NULL;
		char *path = h_fmt("/v1/messages/%s", ids[full]);

		cr_assert_eq(ak_get(pol, path, &j), 200);
		cr_assert_str_eq(json_string_value(
		                     json_object_get(j, "status")),
		    "queued", "a STORAGE_FULL refusal is final");
		json_decref(j);
		free(path);
	}

	/* The broker comes back with room. */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_not_null(conf = h_read(P.broker_conf));
	cr_assert_not_null(more = strstr(conf, "map_size = 4194304\n"));
	*more = '\0';
	more = h_fmt("%smap_size = 67108864\n%s", conf,
	    more + strlen("map_size = 4194304\n"));
	cr_assert_eq(h_write(P.broker_conf, 0644, more), 0);
	free(more);
	free(conf);
	cr_assert_eq(h_broker_start(&P), 0);

	cr_assert(ak_wait_status(pol, ids[full], "accepted", NULL, 30000),
	    "the message refused with STORAGE_FULL was never accepted");
	cr_assert(ak_wait_health(pol, "outbox_depth", 0, 60000),
	    "messages are still waiting in the outbox");
	cr_assert_not_null(soc = h_agent_add(&P, AK_SOCIAL, NULL));
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert(ak_wait_inbox(soc, ids[full], 60000, NULL),
	    "the message never reached the recipient");
	cr_assert(
	    ak_wait_status(pol, ids[full], "delivered", AK_SOCIAL, 30000));
}

/* The broker's time (ms) on the first `status` entry of id's timeline. */
static int64_t
timeline_at(struct h_agent *a, const char *id, const char *status)
{
	char *path = h_fmt("/v1/messages/%s", id);
	json_t *j = NULL, *e;
	int64_t ms = -1;
	size_t i;

	cr_assert_eq(ak_get(a, path, &j), 200);
	json_array_foreach (json_object_get(j, "timeline"), i, e) {
		const char *st =
		    json_string_value(json_object_get(e, "status"));

		if (st != NULL && strcmp(st, status) == 0) {
			cr_assert_eq(hv_time_parse(json_string_value(
			                               json_object_get(e,
			                                   "at")),
			                 &ms),
			    0);
			break;
		}
	}
	cr_assert_geq(ms, 0, "no %s entry in the timeline of %s", status, id);
	json_decref(j);
	free(path);
	return ms;
}

/*
 * Without a new session the agent sends a STORAGE_FULL message again a
 * minute later: here the recipient connects, deliveries free the broker's
 * store, and the waiting message is accepted by the retry.
 */
Test(agent_durability, retries_storage_full_a_minute_later,
    .init = setup_small_broker, .fini = teardown, .timeout = 240)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE), *soc;
	char *big = malloc(60001);
	int n = 0, full = -1;
	int64_t at_full, at_acc;

	cr_assert_not_null(big);
	memset(big, 'x', 60000);
	big[60000] = '\0';
	while (full < 0 && n < FULL_MAX) {
		int k0 = n;
		int64_t end;

		for (; n < k0 + 8; n++) {
			char *body = ak_message("[\"" AK_SOCIAL "\"]",
			    "REFERRAL", "ROUTINE", big, "");

			cr_assert_eq(ak_post(pol, "/v1/messages", body, ids[n]),
			    202, "message %d was refused", n);
			free(body);
		}
		for (end = hv_mono_ms() + 20000; hv_mono_ms() < end;) {
			int k, v = 0;

			for (k = k0; k < n; k++) {
				if ((v = verdict(pol, ids[k])) == 0)
					break;
				cr_assert_neq(v, 'r');
				if (v == 'f' && full < 0)
					full = k;
			}
			if (k == n)
				break;
		}
	}
	free(big);
	cr_assert_geq(full, 0, "no STORAGE_FULL after %d messages", n);
	cr_assert_not_null(soc = h_agent_add(&P, AK_SOCIAL, NULL));
	cr_assert_eq(h_agent_start(&P, soc), 0);
	cr_assert(ak_wait_status(pol, ids[full], "accepted", NULL, 150000),
	    "the message refused with STORAGE_FULL was never accepted");
	/*
	 * The broker stamps both receipts: the acceptance came from the
	 * scheduled retry a minute after the STORAGE_FULL, not from an
	 * immediate resend (a new session would resend at once). The
	 * stamps are whole milliseconds, hence the one second of slack.
	 */
	at_full = timeline_at(pol, ids[full], "rejected");
	at_acc = timeline_at(pol, ids[full], "accepted");
	cr_assert_geq(at_acc - at_full, 59000,
	    "accepted %lld ms after its "
	    "STORAGE_FULL, before the minute's retry was due",
	    (long long)(at_acc - at_full));
	cr_assert(ak_wait_inbox(soc, ids[full], 60000, NULL),
	    "the message never reached the recipient");
}

/*
 * A full disk at an agent (here a file size limit on its store, which fails
 * LMDB's writes as ENOSPC would) refuses the message with IO_ERROR, and the
 * agent's log, which the refusal tells the user to read, names the cause.
 */
Test(agent_durability, a_write_refused_by_a_full_disk_is_explained_in_the_log,
    .init = setup, .fini = teardown, .timeout = 180)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct rlimit old, lim;
	char *text, *body, *url, *resp = NULL, *log;
	int st;

	/* Restart police with a 2 MiB file size limit; SIGXFSZ ignored. */
	cr_assert_eq(h_agent_stop(pol), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 2u << 20;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	st = h_agent_start(&P, pol);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	cr_assert_eq(st, 0, "police did not restart; see %s", pol->log);

	cr_assert_not_null(text = malloc(300001));
	memset(text, 'a', 300000);
	text[300000] = '\0';
	body = h_fmt(
	    "{\"to\":[\"" AK_SOCIAL "\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"ROUTINE\",\"subject\":{\"nhs\":\"9434765919\"}," AK_BASIS
	    ",\"body\":{\"text\":\"%s\"}}",
	    text);
	url = h_fmt("%s/v1/messages", pol->url);
	st = 202;
	for (int i = 0; i < 40 && st == 202; i++) {
		free(resp);
		resp = NULL;
		st = h_http("POST", url, pol->token, body, &resp);
	}
	log = h_read(pol->log);
	cr_assert_eq(st, 500, "the limit was never reached (%d): %s; log: %s",
	    st, resp ? resp : "", log ? log : "");
	free(log);
	cr_assert(strstr(resp, "IO_ERROR") != NULL, "%s", resp);
	log = h_read(pol->log);
	cr_assert(log != NULL &&
	        strstr(log,
	            "a write failed and nothing of "
	            "it was kept: ") != NULL &&
	        strstr(log, "has free space") != NULL &&
	        strstr(log, "answered 500 IO_ERROR") != NULL,
	    "the log does not say why: %s", log ? log : "(none)");
	free(log);
	/* The agent is still up and answers. */
	cr_assert_eq(ak_get(pol, "/v1/health", NULL), 200);
	free(resp);
	free(url);
	free(body);
	free(text);
}
