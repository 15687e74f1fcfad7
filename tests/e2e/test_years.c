/*
 * End-to-end tests of SPEC §13 "Over the years" through the real binaries:
 * one writer per data_dir, backups of running stores, store format
 * versions, protocol versions in Hello, one session per node, agents with
 * several broker endpoints, and the mistakes the tools name.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>

#include "agent_kit.h"
#include "client.h"
#include "harness.h"
#include "hv_store.h"
#include "hv_wire.h"

#define WAIT_MS 15000

static struct h_partnership P;
static pid_t standby_pid = -1; /* a second broker a test started */

static void
teardown(void)
{
	if (standby_pid > 0) {
		kill(standby_pid, SIGKILL);
		h_wait_pid(standby_pid, 20000);
		standby_pid = -1;
	}
	h_partnership_destroy(&P);
}

static void
broker_up(void)
{
	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0,
	    "cannot create a partnership");
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not start; see %s",
	    P.broker_log);
}

static struct h_agent *
agent_up(const char *id, const char *extra)
{
	struct h_agent *a = h_agent_add(&P, id, extra);

	cr_assert_not_null(a);
	cr_assert_eq(h_agent_start(&P, a), 0, "agent %s did not start; see %s",
	    id, a->log);
	return a;
}

/*
 * Sets the format stamp of the store in dir with raw LMDB, as a release
 * before stamps (format 0: no stamp) or a newer release would leave it.
 */
static void
store_stamp_set(const char *dir, uint64_t format)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint8_t buf[8];

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, HV_STORE_MAX_DBS + 2), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "haven", MDB_CREATE, &dbi), 0);
	if (format == 0) {
		cr_assert_eq(mdb_drop(txn, dbi, 1), 0);
	} else {
		hv_be64_put(buf, format);
		v.mv_size = 8;
		v.mv_data = buf;
		cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The stamp of the store in dir: 0 when it has none. */
static uint64_t
store_stamp_get(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint64_t f = 0;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, HV_STORE_MAX_DBS + 2), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	if (mdb_dbi_open(txn, "haven", 0, &dbi) == 0 &&
	    mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
		f = hv_be64_get(v.mv_data);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return f;
}

/* ---- one writer per data_dir ------------------------------------------- */

Test(years,
    refuses_a_second_broker_on_one_data_dir_naming_the_pid_that_holds_it,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, want[64];
	int rc;

	broker_up();
	/* Without --foreground: the reason must still reach stderr. */
	rc = h_sh(&out, 30, "'%s' --config '%s'", h_bin("haven-broker"),
	    P.broker_conf);
	cr_assert_eq(rc, 1, "the second broker exited %d: %s", rc,
	    out ? out : "");
	snprintf(want, sizeof(want), "is in use by haven-broker pid %ld",
	    (long)P.broker_pid);
	cr_assert_not_null(strstr(out, want), "%s", out);
	cr_assert_not_null(strstr(out, P.broker_data), "%s", out);
	cr_assert_not_null(strstr(out, "give this daemon its own data_dir"),
	    "no remedy given: %s", out);
	free(out);
	cr_assert(h_alive(P.broker_pid), "the first broker died");
	/* Once the first has stopped, the store is free again. */
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(h_broker_start(&P), 0, "restart refused; see %s",
	    P.broker_log);
}

Test(years, refuses_a_second_agent_on_one_data_dir_naming_the_pid_that_holds_it,
    .fini = teardown, .timeout = 120)
{
	struct h_agent *a;
	char *out = NULL, want[64];
	int rc;

	broker_up();
	a = agent_up("police.avon", NULL);
	rc =
	    h_sh(&out, 30, "'%s' --config '%s'", h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "the second agent exited %d: %s", rc,
	    out ? out : "");
	snprintf(want, sizeof(want), "is in use by haven-agent pid %ld",
	    (long)a->pid);
	cr_assert_not_null(strstr(out, want), "%s", out);
	free(out);
	cr_assert(h_alive(a->pid), "the first agent died");
}

/* ---- backups ----------------------------------------------------------- */

#define STREAM 500

/*
 * 500 messages stream into the broker; the backup is taken half-way, while
 * receipts are still being written. The copy verifies with the broker's
 * .pub, and a second backup into the same folder is refused.
 */
Test(years,
    backs_up_a_running_broker_while_messages_stream_and_the_copy_verifies,
    .fini = teardown, .timeout = 240)
{
	static const char *const to[] = { "social-care.bristol" };
	struct hc_client *c;
	char dest[H_PATH], *out = NULL;
	struct stat st;
	int accepted = 0, rc;

	broker_up();
	c = hc_connect(&P, "police.avon");
	cr_assert_not_null(c);
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS), "no handshake");
	snprintf(dest, sizeof(dest), "%s/backup/broker-1", P.dir);
	for (int i = 0; i < STREAM; i++) {
		uint8_t *buf, id[HV_ID_LEN];
		size_t len;

		cr_assert_eq(hc_make(c, to, 1, "REFERRAL", "routine note", id,
		                 &buf, &len),
		    0);
		cr_assert_eq(hc_submit(c, buf, len), 0);
		free(buf);
		if (i == STREAM / 2) {
			rc = h_sh(&out, 60, "'%s' backup --db '%s' --out '%s'",
			    h_bin("haven"), P.broker_data, dest);
			cr_assert_eq(rc, 0, "backup exited %d: %s", rc,
			    out ? out : "");
			free(out);
			out = NULL;
		}
	}
	while (accepted < STREAM) {
		Haven__Frame *f = hc_recv(c, WAIT_MS);

		cr_assert_not_null(f, "only %d of %d receipts", accepted,
		    STREAM);
		if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT &&
		    strcmp(hc_status(f), "ACCEPTED") == 0)
			accepted++;
		hv_frame_free(&f);
	}
	hc_close(&c);

	cr_assert_eq(stat(dest, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "the copy is not private");
	rc = h_sh(&out, 60,
	    "'%s' audit verify --db '%s' --broker-pub "
	    "'%s/keys/broker.bristol.pub'",
	    h_bin("haven"), dest, P.dir);
	cr_assert_eq(rc, 0, "the copy does not verify (%d): %s", rc,
	    out ? out : "");
	cr_assert_not_null(strstr(out, "audit log OK"), "%s", out);
	free(out);
	out = NULL;

	rc = h_sh(&out, 60, "'%s' backup --db '%s' --out '%s'", h_bin("haven"),
	    P.broker_data, dest);
	cr_assert_eq(rc, 1, "a second backup into %s exited %d: %s", dest, rc,
	    out ? out : "");
	cr_assert_not_null(strstr(out, "is not empty"), "%s", out);
	free(out);
}

/* Counts the entries of database name in the store in dir (read-only). */
static size_t
db_count(const char *dir, const char *name)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st = { 0 };

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, HV_STORE_MAX_DBS + 2), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, name, 0, &dbi), 0, "no %s in %s", name,
	    dir);
	cr_assert_eq(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

Test(years, backs_up_a_running_agent_with_its_outbox, .fini = teardown,
    .timeout = 120)
{
	struct h_agent *a;
	char data[H_PATH], dest[H_PATH], *out = NULL, *body, id[33];
	int rc, st;

	broker_up();
	a = agent_up("police.avon", NULL);
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "b1", "");
	st = ak_post(a, "/v1/messages", body, id);
	free(body);
	cr_assert_eq(st, 202, "POST answered %d", st);
	snprintf(data, sizeof(data), "%s/data/police.avon", P.dir);
	snprintf(dest, sizeof(dest), "%s/agent-copy", P.dir);
	rc = h_sh(&out, 60, "'%s' backup --db '%s' --out '%s'", h_bin("haven"),
	    data, dest);
	cr_assert_eq(rc, 0, "backup exited %d: %s", rc, out ? out : "");
	free(out);
	cr_assert_eq(db_count(dest, "outbox"), 1);
	cr_assert_eq(store_stamp_get(dest), HV_STORE_FORMAT);
}

/* Deletes the named table of the store in dir, as a release without it. */
static void
db_delete(const char *dir, const char *name)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, HV_STORE_MAX_DBS + 2), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, name, 0, &dbi), 0, "no %s in %s", name,
	    dir);
	cr_assert_eq(mdb_drop(txn, dbi, 1), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(years,
    lists_every_sent_message_after_an_upgrade_from_a_store_without_the_age_index,
    .fini = teardown, .timeout = 120)
{
	struct h_agent *a;
	char data[H_PATH], ids[3][33], *body;
	int seen[3] = { 0 }, listed = 0;
	json_t *j, *m;
	size_t i;

	broker_up();
	a = agent_up("police.avon", NULL);
	for (int n = 0; n < 3; n++) {
		body = ak_message("[\"social-care.bristol\"]", "REFERRAL",
		    "ROUTINE", "u", "");
		cr_assert_eq(ak_post(a, "/v1/messages", body, ids[n]), 202);
		free(body);
	}
	cr_assert_eq(h_agent_stop(a), 0);
	snprintf(data, sizeof(data), "%s/data/police.avon", P.dir);
	db_delete(data, "outbox_order");
	cr_assert_eq(h_agent_start(&P, a), 0,
	    "the agent refused a store "
	    "without the index; see %s",
	    a->log);
	cr_assert_eq(db_count(data, "outbox_order"), 3);
	cr_assert_eq(ak_get(a, "/v1/messages?limit=10", &j), 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 3);
	json_array_foreach (json_object_get(j, "messages"), i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));

		for (int k = 0; k < 3; k++)
			if (id != NULL && strcmp(ids[k], id) == 0 &&
			    seen[k]++ == 0)
				listed++;
	}
	json_decref(j);
	cr_assert_eq(listed, 3, "the index lists %d of the 3 sent messages",
	    listed);
	cr_assert(h_file_has(a->log, "indexed 3 sent messages by age"),
	    "the rebuild is not in %s", a->log);
}

/* ---- store format versions ------------------------------------------- */

Test(years, opens_and_stamps_a_store_made_before_format_versions,
    .fini = teardown, .timeout = 120)
{
	broker_up();
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(store_stamp_get(P.broker_data), HV_STORE_FORMAT);
	store_stamp_set(P.broker_data, 0);
	cr_assert_eq(store_stamp_get(P.broker_data), 0);
	cr_assert_eq(h_broker_start(&P), 0,
	    "the broker refused an unstamped "
	    "store; see %s",
	    P.broker_log);
	cr_assert_eq(h_broker_stop(&P), 0);
	cr_assert_eq(store_stamp_get(P.broker_data), HV_STORE_FORMAT);
}

Test(years, refuses_a_store_of_a_newer_format_with_a_sentence_naming_both,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, dest[H_PATH];
	int rc;

	broker_up();
	cr_assert_eq(h_broker_stop(&P), 0);
	store_stamp_set(P.broker_data, HV_STORE_FORMAT + 1);
	rc = h_sh(&out, 30, "'%s' --config '%s'", h_bin("haven-broker"),
	    P.broker_conf);
	cr_assert_eq(rc, 1, "the broker exited %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "is format 2, newer than format 1"),
	    "%s", out);
	free(out);
	out = NULL;
	snprintf(dest, sizeof(dest), "%s/copy", P.dir);
	rc = h_sh(&out, 30, "'%s' backup --db '%s' --out '%s'", h_bin("haven"),
	    P.broker_data, dest);
	cr_assert_eq(rc, 1, "backup exited %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "is format 2, newer than format 1"),
	    "%s", out);
	free(out);
	/* The refusal changed nothing. */
	cr_assert_eq(store_stamp_get(P.broker_data), HV_STORE_FORMAT + 1);
}

/* ---- protocol versions and sessions ------------------------------------ */

static int
hello_v(struct hc_client *c, uint32_t protocol)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Hello h = HAVEN__HELLO__INIT;

	h.node = c->node;
	h.software = "haven-e2e-client";
	h.window = 16;
	h.protocol = protocol;
	f.kind_case = HAVEN__FRAME__KIND_HELLO;
	f.hello = &h;
	return hc_send_frame(c, &f);
}

static struct hc_client *
client_up(const char *node)
{
	struct hc_client *c = hc_connect(&P, node);

	cr_assert_not_null(c, "cannot connect as %s", node);
	cr_assert(hc_wait_handshakes(c, 1, WAIT_MS), "%s: no handshake", node);
	return c;
}

/* How many REJECTED records of the broker's log carry code. */
static int
rejections(const char *code)
{
	char *out = NULL;
	int n = 0, rc;

	rc = h_sh(&out, 60,
	    "'%s' audit query --db '%s' --event REJECTED "
	    "--format json",
	    h_bin("haven"), P.broker_data);
	cr_assert_eq(rc, 0, "audit query exited %d: %s", rc, out ? out : "");
	for (const char *p = out; (p = strstr(p, code)) != NULL;
	     p += strlen(code))
		n++;
	free(out);
	return n;
}

Test(years, serves_the_protocol_version_before_its_own_and_refuses_a_newer_one,
    .fini = teardown, .timeout = 120)
{
	static const char *const to[] = { "social-care.bristol" };
	struct hc_client *old, *newer, *sender;
	Haven__Frame *f;
	uint8_t id[HV_ID_LEN], got[HV_ID_LEN], *buf;
	size_t len;
	char want[80];

	broker_up();
	newer = client_up("health.bristol-royal");
	cr_assert_eq(hello_v(newer, HV_PROTOCOL_VERSION + 1), 0);
	f = hc_wait_kind(newer, HAVEN__FRAME__KIND_ERROR, WAIT_MS);
	cr_assert_not_null(f, "no Error for a Hello of a newer protocol");
	cr_assert_str_eq(f->error->code, "PROTOCOL_VERSION");
	snprintf(want, sizeof(want),
	    "protocol version %d; this broker serves "
	    "versions %d and %d",
	    HV_PROTOCOL_VERSION + 1, HV_PROTOCOL_OLDEST, HV_PROTOCOL_VERSION);
	cr_assert_not_null(strstr(f->error->message, want), "%s",
	    f->error->message);
	hv_frame_free(&f);

	/* An agent of the release before: its Hello has no version. */
	old = client_up("social-care.bristol");
	cr_assert_eq(hello_v(old, HV_PROTOCOL_OLDEST), 0);
	sender = client_up("police.avon");
	cr_assert_eq(hello_v(sender, HV_PROTOCOL_VERSION), 0);
	cr_assert_eq(hc_make(sender, to, 1, "REFERRAL", "note", id, &buf, &len),
	    0);
	cr_assert_eq(hc_submit(sender, buf, len), 0);
	free(buf);
	f = hc_wait_kind(old, HAVEN__FRAME__KIND_DELIVER, WAIT_MS);
	cr_assert_not_null(f, "the older agent got no delivery");
	cr_assert_eq(hc_deliver_id(f, got), 0);
	cr_assert_eq(memcmp(got, id, HV_ID_LEN), 0);
	hv_frame_free(&f);
	hc_close(&old);
	hc_close(&sender);
	hc_close(&newer);
	cr_assert_eq(rejections("PROTOCOL_VERSION"), 1);
}

Test(years,
    refuses_and_audits_a_second_session_of_one_node_while_the_first_keeps_working,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol, *soc;
	struct hc_client *dup;
	Haven__Frame *f;
	char *body, id[33];

	broker_up();
	pol = agent_up("police.avon", NULL);
	soc = agent_up("social-care.bristol", NULL);
	dup = client_up("police.avon");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(hello_v(dup, HV_PROTOCOL_VERSION), 0);
		f = hc_wait_kind(dup, HAVEN__FRAME__KIND_ERROR, WAIT_MS);
		cr_assert_not_null(f, "no Error for a second session");
		cr_assert_str_eq(f->error->code, "DUPLICATE_SESSION");
		cr_assert_not_null(strstr(f->error->message,
		                       "police.avon is "
		                       "already connected"),
		    "%s", f->error->message);
		hv_frame_free(&f);
	}
	/* The first session still sends and the broker still delivers. */
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "d1", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, id, WAIT_MS, NULL),
	    "the message of the "
	    "first session never arrived");
	hc_close(&dup);
	/* Audited once for the connection, not once per frame. */
	cr_assert_eq(rejections("DUPLICATE_SESSION"), 1);
}

/*
 * The rule for a legitimate reconnection: a crashed agent's connection
 * closes with its process, so the restarted agent is the node's session at
 * once, without waiting for the broker's 30 s idle time-out.
 */
Test(years, accepts_a_restarted_agent_after_a_crash_as_the_session,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol, *soc;
	char *body, id[33];

	broker_up();
	pol = agent_up("police.avon", NULL);
	soc = agent_up("social-care.bristol", NULL);
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "c1", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, id, WAIT_MS, NULL));
	h_agent_kill(pol);
	cr_assert_eq(h_agent_start(&P, pol), 0, "restart failed; see %s",
	    pol->log);
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "c2", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, id, WAIT_MS, NULL),
	    "the restarted "
	    "agent's message never arrived");
	cr_assert_eq(rejections("DUPLICATE_SESSION"), 0);
}

/* ---- several broker endpoints ------------------------------------------- */

/* 1 when the ready file ctx exists and names the bound endpoint. */
static int
ready_written(void *ctx)
{
	char *text = h_read(ctx);
	int ok = text != NULL && strstr(text, "\"bind\"") != NULL;

	free(text);
	return ok;
}

/*
 * Starts a second broker with the partnership's keys and directory on its
 * own data_dir and port; *ep gets its endpoint. Its pid is standby_pid.
 */
static void
standby_start(char *ep, size_t cap)
{
	char conf[H_PATH], ready[H_PATH], log[H_PATH], *text, *b, *e;

	snprintf(conf, sizeof(conf), "%s/broker2.conf", P.dir);
	snprintf(ready, sizeof(ready), "%s/broker2.ready", P.dir);
	snprintf(log, sizeof(log), "%s/broker2.log", P.dir);
	cr_assert_eq(
	    h_sh(NULL, 30,
	        "sed -e 's|^data_dir = .*|data_dir = "
	        "data/broker2|' -e 's|^bind = .*|bind = tcp://127.0.0.1:*|' "
	        "'%s' > '%s'",
	        P.broker_conf, conf),
	    0);
	standby_pid = fork();
	cr_assert_geq(standby_pid, 0);
	if (standby_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(h_bin("haven-broker"), "haven-broker", "--config", conf,
		    "--ready-file", ready, "--foreground", (char *)NULL);
		_exit(127);
	}
	cr_assert(h_wait_until(ready_written, ready, 20000),
	    "the second "
	    "broker did not start; see %s",
	    log);
	text = h_read(ready);
	cr_assert_not_null(b = strstr(text, "tcp://"));
	cr_assert_not_null(e = strchr(b, '"'));
	*e = '\0';
	snprintf(ep, cap, "%s", b);
	free(text);
}

/* An agent whose `broker =` lists both endpoints. */
static struct h_agent *
agent_two_brokers(const char *id, const char *ep1, const char *ep2)
{
	char saved[sizeof(P.endpoint)], both[2 * sizeof(P.endpoint) + 2];
	struct h_agent *a;

	snprintf(saved, sizeof(saved), "%s", P.endpoint);
	snprintf(both, sizeof(both), "%s %s", ep1, ep2);
	cr_assert_lt(strlen(both), sizeof(P.endpoint));
	memcpy(P.endpoint, both, strlen(both) + 1);
	a = h_agent_add(&P, id, NULL);
	snprintf(P.endpoint, sizeof(P.endpoint), "%s", saved);
	cr_assert_not_null(a);
	cr_assert_eq(h_agent_start(&P, a), 0, "agent %s did not start; see %s",
	    id, a->log);
	return a;
}

/* How many times id is listed in the agent's inbox. */
static int
inbox_count(struct h_agent *a, const char *id)
{
	json_t *j = NULL, *m;
	size_t i;
	int n = 0;

	cr_assert_eq(ak_get(a, "/v1/inbox?limit=1000", &j), 200);
	json_array_foreach (json_object_get(j, "messages"), i, m)
		n += strcmp(json_string_value(json_object_get(m, "id")), id) ==
		    0;
	json_decref(j);
	return n;
}

/*
 * Two brokers on separate data_dirs (a real standby shares its storage,
 * see dist/; separate stores are enough to show the agents' failover). The
 * agents list both; when the first is killed they move to the second, and
 * a message posted while no broker answered is kept in the outbox and
 * delivered through the second, once.
 */
Test(years, fails_over_to_the_next_broker_endpoint_keeping_the_outbox,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol, *soc;
	char ep2[128], id1[33], id2[33], *body;

	broker_up();
	standby_start(ep2, sizeof(ep2));
	char ep1[sizeof(P.endpoint)];

	snprintf(ep1, sizeof(ep1), "%s", P.endpoint);
	pol = agent_two_brokers("police.avon", ep1, ep2);
	soc = agent_two_brokers("social-care.bristol", ep1, ep2);

	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "f1", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id1), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, id1, WAIT_MS, NULL),
	    "no delivery "
	    "through the first broker");

	h_broker_kill(&P);
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "f2", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id2), 202);
	free(body);
	cr_assert(ak_wait_inbox(soc, id2, 60000, NULL),
	    "the message posted "
	    "while the first broker was down never arrived; see %s and %s",
	    pol->log, soc->log);
	cr_assert(ak_wait_status(pol, id2, "delivered", NULL, WAIT_MS),
	    "the sender never heard of the delivery");
	cr_assert_eq(inbox_count(soc, id1), 1);
	cr_assert_eq(inbox_count(soc, id2), 1);
	cr_assert(h_alive(standby_pid));
}

Test(years, refuses_a_broker_list_with_a_bad_endpoint_naming_it,
    .fini = teardown, .timeout = 60)
{
	struct h_agent *a;
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	snprintf(P.endpoint, sizeof(P.endpoint),
	    "tcp://127.0.0.1:7400 "
	    "udp://127.0.0.1:7401");
	a = h_agent_add(&P, "police.avon", NULL);
	cr_assert_not_null(a);
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "'udp://127.0.0.1:7401' for broker is "
	                       "not an endpoint"),
	    "%s", out);
	free(out);
}

/* ---- mistakes it catches ---------------------------------------------- */

Test(years, names_another_nodes_pub_given_as_the_brokers_key, .fini = teardown,
    .timeout = 120)
{
	char *out = NULL;
	int rc;

	broker_up();
	cr_assert_eq(h_broker_stop(&P), 0);
	rc = h_sh(&out, 60,
	    "'%s' audit verify --db '%s' --broker-pub "
	    "'%s/keys/police.avon.pub'",
	    h_bin("haven"), P.broker_data, P.dir);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "this is police.avon's key, not the "
	                       "broker's"),
	    "%s", out);
	cr_assert_null(strstr(out, "TAMPERED"), "%s", out);
	free(out);
	out = NULL;
	/* The broker's own .pub still verifies. */
	rc = h_sh(&out, 60,
	    "'%s' audit verify --db '%s' --broker-pub "
	    "'%s/keys/broker.bristol.pub'",
	    h_bin("haven"), P.broker_data, P.dir);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	free(out);
}

Test(years, names_another_nodes_secret_key_given_as_the_brokers_key,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, conf[H_PATH];
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/broker-police-key.conf", P.dir);
	cr_assert_eq(h_sh(NULL, 30,
	                 "sed -e 's|^key = .*|key = "
	                 "keys/police.avon.key|' '%s' > '%s'",
	                 P.broker_conf, conf),
	    0);
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-broker"), conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out,
	                       "is police.avon's key in the "
	                       "directory, not the broker's"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "broker.bristol's key file"), "%s", out);
	free(out);
}

Test(years, refuses_a_revoke_of_a_node_not_in_the_agreement_naming_its_line,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, *text, agreement[H_PATH], want[64];
	int rc, lines = 0;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	text = h_read(P.agreement);
	cr_assert_not_null(text);
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	snprintf(agreement, sizeof(agreement), "%s/typo.txt", P.dir);
	cr_assert_eq(h_sh(NULL, 30,
	                 "cp '%s' '%s' && echo 'revoke police.avn' "
	                 ">> '%s'",
	                 P.agreement, agreement, agreement),
	    0);
	free(text);
	rc = h_sh(&out, 60,
	    "'%s' directory build '%s' --root '%s' -o "
	    "'%s/typo.hd'",
	    h_bin("haven"), agreement, P.root_key, P.dir);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	snprintf(want, sizeof(want),
	    "typo.txt:%d: revoke police.avn names no "
	    "node",
	    lines + 1);
	cr_assert_not_null(strstr(out, want), "%s", out);
	free(out);
}

/* Rewrites data_dir in a daemon's config file. */
static void
conf_data_dir(const char *conf, const char *data_dir)
{
	cr_assert_eq(h_sh(NULL, 30,
	                 "sed -i -e 's|^data_dir = .*|data_dir = "
	                 "%s|' '%s'",
	                 data_dir, conf),
	    0);
}

Test(years, check_config_refuses_a_data_dir_that_cannot_be_created,
    .fini = teardown, .timeout = 120)
{
	struct h_agent *a;
	char *out = NULL, file[H_PATH];
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	snprintf(file, sizeof(file), "%s/a-file", P.dir);
	cr_assert_eq(h_write(file, 0644, "not a folder\n"), 0);
	conf_data_dir(P.broker_conf, "a-file/broker");
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-broker"), P.broker_conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "a-file/broker cannot be created"), "%s",
	    out);
	free(out);
	out = NULL;

	a = h_agent_add(&P, "police.avon", NULL);
	cr_assert_not_null(a);
	conf_data_dir(a->conf, "a-file/police");
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "a-file/police cannot be created"), "%s",
	    out);
	free(out);
}

/*
 * The store remembers the directory last in force; --check-config used to
 * call an older one valid although the daemon would refuse to start.
 */
Test(years, check_config_refuses_a_directory_older_than_the_stores,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *a;
	char *out = NULL;
	int rc;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	cr_assert_eq(h_partnership_resign(&P, 2, NULL), 0);
	cr_assert_eq(h_broker_start(&P), 0);
	a = agent_up("police.avon", NULL);
	/* Both check beside their running daemon: no lock is taken. */
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-broker"), P.broker_conf);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out ? out : "");
	free(out);
	out = NULL;
	cr_assert_eq(h_agent_stop(a), 0);
	cr_assert_eq(h_broker_stop(&P), 0);

	cr_assert_eq(h_partnership_resign(&P, 1, NULL), 0);
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-broker"), P.broker_conf);
	cr_assert_eq(rc, 1,
	    "the broker called an older directory valid (%d): "
	    "%s",
	    rc, out ? out : "");
	cr_assert_not_null(strstr(out, "version 1"), "%s", out);
	cr_assert_not_null(strstr(out, "with a version above 2"), "%s", out);
	free(out);
	out = NULL;
	rc = h_sh(&out, 30, "'%s' --config '%s' --check-config",
	    h_bin("haven-agent"), a->conf);
	cr_assert_eq(rc, 1,
	    "the agent called an older directory valid (%d): "
	    "%s",
	    rc, out ? out : "");
	cr_assert_not_null(strstr(out, "rollback"), "%s", out);
	cr_assert_not_null(strstr(out, "with a version above 2"), "%s", out);
	free(out);
}

/*
 * Without --foreground the broker logs to syslog once serving; a reason
 * for not starting must still reach stderr (here: the port is taken).
 */
Test(years, prints_why_the_broker_cannot_start_on_stderr_without_foreground,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, conf[H_PATH];
	int rc;

	broker_up();
	snprintf(conf, sizeof(conf), "%s/broker3.conf", P.dir);
	cr_assert_eq(h_sh(NULL, 30,
	                 "sed -e 's|^data_dir = .*|data_dir = "
	                 "data/broker3|' '%s' > '%s'",
	                 P.broker_conf, conf),
	    0);
	rc = h_sh(&out, 30, "'%s' --config '%s'", h_bin("haven-broker"), conf);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out ? out : "");
	cr_assert_not_null(strstr(out, "cannot bind"), "%s", out);
	free(out);
}

/* ---- restore and the standby set-up ----------------------------------- */

/*
 * The README's restore procedure, step by step: a message accepted before
 * the backup and not yet delivered is in the copy; after stop, move aside,
 * copy in and start, the copy verifies and the message is delivered.
 */
Test(years, restores_a_broker_from_its_backup_as_the_readme_says,
    .fini = teardown, .timeout = 180)
{
	static const char *const to[] = { "social-care.bristol" };
	struct hc_client *pol, *soc;
	Haven__Frame *f;
	uint8_t id[HV_ID_LEN], got[HV_ID_LEN], *buf;
	size_t len;
	char backup[H_PATH], *out = NULL;
	int rc;

	broker_up();
	pol = client_up("police.avon");
	cr_assert_eq(hc_make(pol, to, 1, "REFERRAL", "queued note", id, &buf,
	                 &len),
	    0);
	cr_assert_eq(hc_submit(pol, buf, len), 0);
	free(buf);
	f = hc_wait_receipt(pol, id, WAIT_MS);
	cr_assert_not_null(f);
	cr_assert_str_eq(hc_status(f), "ACCEPTED");
	hv_frame_free(&f);
	hc_close(&pol);

	snprintf(backup, sizeof(backup), "%s/backups/broker-1", P.dir);
	rc = h_sh(&out, 60, "'%s' backup --db '%s' --out '%s'", h_bin("haven"),
	    P.broker_data, backup);
	cr_assert_eq(rc, 0, "%s", out ? out : "");
	free(out);
	out = NULL;

	cr_assert_eq(h_broker_stop(&P), 0);
	rc = h_sh(&out, 60,
	    "mv '%s' '%s.before-restore' && cp -a '%s' '%s' && "
	    "'%s' audit verify --db '%s' --broker-pub "
	    "'%s/keys/broker.bristol.pub'",
	    P.broker_data, P.broker_data, backup, P.broker_data, h_bin("haven"),
	    P.broker_data, P.dir);
	cr_assert_eq(rc, 0, "the restore steps failed (%d): %s", rc,
	    out ? out : "");
	free(out);
	cr_assert_eq(h_broker_start(&P), 0,
	    "the restored broker did not "
	    "start; see %s",
	    P.broker_log);

	soc = client_up("social-care.bristol");
	cr_assert_eq(hello_v(soc, HV_PROTOCOL_VERSION), 0);
	f = hc_wait_kind(soc, HAVEN__FRAME__KIND_DELIVER, WAIT_MS);
	cr_assert_not_null(f, "the message in the backup was not delivered");
	cr_assert_eq(hc_deliver_id(f, got), 0);
	cr_assert_eq(memcmp(got, id, HV_ID_LEN), 0);
	hv_frame_free(&f);
	hc_close(&soc);
}

/* The text of a file of the source tree (HAVEN_SRC, else .). */
static char *
src_file(const char *rel)
{
	const char *src = getenv("HAVEN_SRC");
	char path[H_PATH];
	char *text;

	snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
	text = h_read(path);
	cr_assert_not_null(text, "cannot read %s (set HAVEN_SRC)", path);
	return text;
}

/*
 * The standby set-up's files agree with each other and with what Haven
 * ships: the mount point holds the example broker's data_dir, the cluster
 * runs the shipped systemd unit, DRBD's device is the one mounted, and the
 * pcs script says what the crm file says.
 */
Test(years, ships_standby_resources_that_agree_with_the_shipped_broker,
    .timeout = 30)
{
	char *res = src_file("dist/ha/haven.res");
	char *crm = src_file("dist/ha/haven-broker.crm");
	char *pcs = src_file("dist/ha/haven-broker.pcs.sh");
	char *conf = src_file("dist/broker.conf.example");
	char *unit = src_file("dist/haven-broker.service.in");

	cr_assert_not_null(strstr(conf, "data_dir = /var/lib/haven/"), "%s",
	    conf);
	cr_assert_not_null(strstr(unit, "StateDirectory=haven"));
	for (int i = 0; i < 2; i++) {
		const char *t = i == 0 ? crm : pcs;

		cr_assert_not_null(strstr(t, "directory=/var/lib/haven "),
		    "the cluster does not mount /var/lib/haven");
		cr_assert_not_null(strstr(t, "device=/dev/drbd0"));
		cr_assert_not_null(strstr(t, "drbd_resource=haven"));
		cr_assert_not_null(strstr(t, "systemd:haven-broker"));
		cr_assert_not_null(strstr(t, "ocf:heartbeat:IPaddr2"));
		cr_assert_not_null(strstr(t, "stonith-enabled=true"));
	}
	cr_assert_not_null(strstr(res, "resource haven {"));
	cr_assert_not_null(strstr(res, "device /dev/drbd0;"));
	cr_assert_not_null(strstr(res, "protocol C;"));
	cr_assert_not_null(strstr(res, "fencing resource-only;"));
	free(res);
	free(crm);
	free(pcs);
	free(conf);
	free(unit);
}

/*
 * An agent refused as a duplicate (here because another connection holds
 * its node's session) keeps its outbox, says Hello again, and once the
 * other connection has gone is the session and sends what was refused.
 */
Test(years, an_agent_refused_as_a_duplicate_takes_over_when_the_other_goes,
    .fini = teardown, .timeout = 180)
{
	struct h_agent *pol, *soc;
	struct hc_client *other;
	Haven__Frame *f;
	char *body, id[33];
	const char *logged[2];

	broker_up();
	soc = agent_up("social-care.bristol", NULL);
	other = client_up("police.avon");
	cr_assert_eq(hello_v(other, HV_PROTOCOL_VERSION), 0);
	/* Frames of one connection are handled in order: Hello is done. */
	cr_assert_eq(hc_tree_head_request(other, 0), 0);
	f = hc_wait_kind(other, HAVEN__FRAME__KIND_TREE_HEAD, WAIT_MS);
	cr_assert_not_null(f);
	hv_frame_free(&f);

	pol = agent_up("police.avon", NULL);
	logged[0] = pol->log;
	logged[1] = "the broker refused this session";
	cr_assert(h_wait_file_has(logged[0], logged[1], WAIT_MS),
	    "the agent never "
	    "said it was refused; see %s",
	    pol->log);
	/* Refused, so never "connected": that waits for the broker's answer. */
	logged[1] = "connected to the broker";
	cr_assert_not(h_file_has(logged[0], logged[1]),
	    "the refused agent said it was "
	    "connected; see %s",
	    pol->log);
	body = ak_message("[\"social-care.bristol\"]", "REFERRAL", "ROUTINE",
	    "t1", "");
	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	free(body);

	hc_close(&other);
	cr_assert(ak_wait_inbox(soc, id, 60000, NULL),
	    "the refused agent "
	    "never took over; see %s",
	    pol->log);
	cr_assert(h_file_has(logged[0], logged[1]),
	    "the agent took over without saying it "
	    "was connected; see %s",
	    pol->log);
	cr_assert_eq(rejections("DUPLICATE_SESSION"), 1);
}
