/*
 * The end-to-end test harness: partnerships of real Haven processes on
 * 127.0.0.1, started and killed by pid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lmdb.h>
#include <jansson.h>

#include "harness.h"

static const char *const h_nodes[] = {
	"broker.bristol",
	"police.avon",
	"health.bristol-royal",
	"education.st-marys-primary",
	"social-care.bristol",
	"ig.bristol",
	NULL,
};

const char *
h_bin(const char *name)
{
	static char buf[4][H_PATH];
	static int slot;
	const char *dir = getenv("HAVEN_BIN");
	char *b = buf[slot++ % 4];

	snprintf(b, H_PATH, "%s/%s", dir && *dir ? dir : "bin", name);
	return b;
}

char *
h_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
h_wait_pid(pid_t pid, int timeout_ms)
{
	long end = mono_ms() + timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0)
			return -1;
		if (mono_ms() > end)
			return -1;
		nap_ms(10);
	}
}

int
h_alive(pid_t pid)
{
	int st;

	if (pid <= 0)
		return 0;
	return waitpid(pid, &st, WNOHANG) == 0;
}

int
h_wait_until(int (*cond)(void *), void *ctx, int timeout_ms)
{
	long end = mono_ms() + timeout_ms;

	for (;;) {
		if (cond(ctx))
			return 1;
		if (mono_ms() > end)
			return 0;
		nap_ms(20);
	}
}

int
h_file_has(const char *path, const char *text)
{
	char *all = h_read(path);
	int yes = all != NULL && strstr(all, text) != NULL;

	free(all);
	return yes;
}

static int
file_has_cond(void *ctx)
{
	const char *const *c = ctx;

	return h_file_has(c[0], c[1]);
}

int
h_wait_file_has(const char *path, const char *text, int timeout_ms)
{
	const char *c[2] = { path, text };

	return h_wait_until(file_has_cond, (void *)c, timeout_ms);
}

int
h_write(const char *path, int mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	fchmod(fd, (mode_t)mode);
	return close(fd);
}

char *
h_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);
			if (nb == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, 4096, fp);
		len += n;
		if (n == 0)
			break;
	}
	fclose(fp);
	buf[len] = '\0';
	return buf;
}

int
h_sh(char **out, int timeout_s, const char *fmt, ...)
{
	char *cmd, *full, tmpl[] = "/tmp/haven-sh-XXXXXX";
	va_list ap;
	int fd, st = -1;
	pid_t pid;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0) {
		va_end(ap);
		return -1;
	}
	va_end(ap);
	if ((fd = mkstemp(tmpl)) < 0) {
		free(cmd);
		return -1;
	}
	full = h_fmt("timeout -s KILL %d sh -c '%s' >%s 2>&1 </dev/null",
	    timeout_s, "eval \"$HV_CMD\"", tmpl);
	setenv("HV_CMD", cmd, 1);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", full, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		st = h_wait_pid(pid, (timeout_s + 5) * 1000);
	unsetenv("HV_CMD");
	close(fd);
	if (out != NULL)
		*out = h_read(tmpl);
	unlink(tmpl);
	free(full);
	free(cmd);
	return st;
}

static pid_t
spawn(const char *log, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Waits for a ready file holding JSON with `key`; copies its value. */
static int
wait_ready(const char *path, const char *key, pid_t pid, char *val, size_t cap)
{
	long end = mono_ms() + 20000;

	while (mono_ms() < end) {
		json_t *j = json_load_file(path, 0, NULL);
		if (j != NULL) {
			const char *v =
			    json_string_value(json_object_get(j, key));
			if (v != NULL) {
				snprintf(val, cap, "%s", v);
				json_decref(j);
				return 0;
			}
			json_decref(j);
		}
		if (!h_alive(pid)) {
			fprintf(stderr,
			    "harness: process %d exited before "
			    "writing %s\n",
			    (int)pid, path);
			return -1;
		}
		nap_ms(20);
	}
	fprintf(stderr, "harness: no ready file %s within 20 s\n", path);
	return -1;
}

/* Copies the last lines of a daemon's log to stderr, to explain a failure. */
static void
show_log(const char *path)
{
	char *text = h_read(path);
	size_t len = text ? strlen(text) : 0;

	fprintf(stderr, "harness: %s:\n%s\n", path,
	    text == NULL   ? "(none)" :
	        len > 4000 ? text + len - 4000 :
	                     text);
	free(text);
}

static const char sample_agreement[] =
    "partnership bristol\n"
    "version %u\n"
    "broker broker.bristol tcp://127.0.0.1:7400 keys/broker.bristol.pub\n"
    "node police.avon            keys/police.avon.pub\n"
    "node health.bristol-royal   keys/health.bristol-royal.pub\n"
    "node education.st-marys-primary keys/education.st-marys-primary.pub\n"
    "node social-care.bristol    keys/social-care.bristol.pub\n"
    "node ig.bristol             keys/ig.bristol.pub   scope=*\n"
    "allow police -> education, social-care : DOMESTIC_ABUSE_NOTIFICATION\n"
    "allow health -> social-care : UNSCHEDULED_CARE_ATTENDANCE art9\n"
    "allow * -> social-care : REFERRAL\n"
    "allow social-care -> police, health, education : INFO_REQUEST, "
    "STRATEGY_DISCUSSION, CP_CONFERENCE_INVITATION, CP_PLAN_START, "
    "CP_PLAN_END\n"
    "allow police, health, education -> social-care : INFO_RESPONSE\n"
    "allow police, health, education, social-care -> police, health, "
    "education, social-care : MISSING_CHILD_ALERT\n"
    "%s";

int
h_partnership_resign(struct h_partnership *p, unsigned version,
    const char *extra)
{
	char *text = h_fmt(sample_agreement, version, extra ? extra : "");
	char *out = NULL;
	int rc;

	if (text == NULL || h_write(p->agreement, 0644, text) != 0) {
		free(text);
		return -1;
	}
	free(text);
	rc = h_sh(&out, 60, "'%s' directory build '%s' --root '%s' -o '%s'",
	    h_bin("haven"), p->agreement, p->root_key, p->directory);
	if (rc != 0)
		fprintf(stderr, "harness: directory build failed (%d): %s\n",
		    rc, out ? out : "");
	free(out);
	return rc == 0 ? 0 : -1;
}

static int
write_broker_conf(struct h_partnership *p, const char *bind, const char *extra)
{
	char *text = h_fmt("[broker]\n"
	                   "id = broker.bristol\n"
	                   "key = keys/broker.bristol.key\n"
	                   "root_pub = keys/root.bristol.pub\n"
	                   "directory = directory.hd\n"
	                   "bind = %s\n"
	                   "data_dir = data/broker\n"
	                   "%s",
	    bind, extra ? extra : "");
	int rc = text ? h_write(p->broker_conf, 0644, text) : -1;

	free(text);
	return rc;
}

int
h_partnership_create(struct h_partnership *p, const char *extra,
    const char *broker_extra)
{
	char tmpl[] = "/tmp/haven-e2e-XXXXXX";
	char *out = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(p->dir, sizeof(p->dir), "%s", tmpl);
	snprintf(p->agreement, H_PATH, "%s/agreement.txt", p->dir);
	snprintf(p->directory, H_PATH, "%s/directory.hd", p->dir);
	snprintf(p->root_key, H_PATH, "%s/keys/root.bristol.key", p->dir);
	snprintf(p->root_pub, H_PATH, "%s/keys/root.bristol.pub", p->dir);
	snprintf(p->subject_key, H_PATH, "%s/subject.key", p->dir);
	snprintf(p->broker_conf, H_PATH, "%s/broker.conf", p->dir);
	snprintf(p->broker_ready, H_PATH, "%s/broker.ready", p->dir);
	snprintf(p->broker_log, H_PATH, "%s/broker.log", p->dir);
	snprintf(p->broker_data, H_PATH, "%s/data/broker", p->dir);
	snprintf(p->broker_extra, sizeof(p->broker_extra), "%s",
	    broker_extra ? broker_extra : "");
	{
		char data[H_PATH + 8];

		snprintf(data, sizeof(data), "%s/data", p->dir);
		mkdir(data, 0700);
	}
	rc = h_sh(&out, 60, "'%s' keygen --id root.bristol --out '%s/keys'",
	    h_bin("haven"), p->dir);
	for (int i = 0; rc == 0 && h_nodes[i] != NULL; i++) {
		free(out);
		out = NULL;
		rc = h_sh(&out, 60, "'%s' keygen --id %s --out '%s/keys'",
		    h_bin("haven"), h_nodes[i], p->dir);
	}
	if (rc == 0) {
		free(out);
		out = NULL;
		rc = h_sh(&out, 60, "'%s' keygen --subject-key --out '%s'",
		    h_bin("haven"), p->subject_key);
	}
	if (rc != 0) {
		fprintf(stderr, "harness: keygen failed (%d): %s\n", rc,
		    out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	if (h_partnership_resign(p, 1, extra) != 0)
		return -1;
	return write_broker_conf(p, "tcp://127.0.0.1:*", p->broker_extra);
}

int
h_broker_start(struct h_partnership *p)
{
	char *argv[] = { (char *)h_bin("haven-broker"), "--config",
		p->broker_conf, "--ready-file", p->broker_ready, "--foreground",
		NULL };
	char bind[128];

	unlink(p->broker_ready);
	p->broker_pid = spawn(p->broker_log, argv);
	if (p->broker_pid < 0)
		return -1;
	if (wait_ready(p->broker_ready, "bind", p->broker_pid, bind,
	        sizeof(bind)) != 0) {
		show_log(p->broker_log);
		return -1;
	}
	if (strcmp(p->endpoint, bind) != 0) {
		snprintf(p->endpoint, sizeof(p->endpoint), "%s", bind);
		/* A restart must come back on the port agents know. */
		if (write_broker_conf(p, p->endpoint, p->broker_extra) != 0)
			return -1;
	}
	return 0;
}

void
h_broker_kill(struct h_partnership *p)
{
	if (p->broker_pid > 0) {
		kill(p->broker_pid, SIGKILL);
		h_wait_pid(p->broker_pid, 20000);
		p->broker_pid = 0;
	}
}

int
h_broker_stop(struct h_partnership *p)
{
	int st;

	if (p->broker_pid <= 0)
		return -1;
	kill(p->broker_pid, SIGTERM);
	st = h_wait_pid(p->broker_pid, 20000);
	if (st == -1 && h_alive(p->broker_pid)) {
		kill(p->broker_pid, SIGKILL);
		h_wait_pid(p->broker_pid, 20000);
	}
	p->broker_pid = 0;
	return st;
}

struct h_agent *
h_agent_add(struct h_partnership *p, const char *id, const char *extra)
{
	struct h_agent *a;
	unsigned char rnd[24];
	char *text;
	FILE *fp;

	if (p->n_agents >= H_MAX_AGENTS)
		return NULL;
	char dir[sizeof(p->dir)], nid[sizeof(a->id)];

	snprintf(nid, sizeof(nid), "%s", id);
	snprintf(dir, sizeof(dir), "%s", p->dir);
	id = nid;
	a = &p->agents[p->n_agents++];
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->conf, H_PATH, "%s/%s.conf", dir, id);
	snprintf(a->ready, H_PATH, "%s/%s.ready", dir, id);
	snprintf(a->log, H_PATH, "%s/%s.log", dir, id);
	snprintf(a->token_file, H_PATH, "%s/%s.token", dir, id);
	if ((fp = fopen("/dev/urandom", "r")) == NULL ||
	    fread(rnd, 1, sizeof(rnd), fp) != sizeof(rnd)) {
		if (fp)
			fclose(fp);
		return NULL;
	}
	fclose(fp);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(a->token + 2 * i, 3, "%02x", rnd[i]);
	if (h_write(a->token_file, 0600, a->token) != 0)
		return NULL;
	text = h_fmt("[agent]\n"
	             "id = %s\n"
	             "key = keys/%s.key\n"
	             "root_pub = keys/root.bristol.pub\n"
	             "directory = directory.hd\n"
	             "broker = %s\n"
	             "data_dir = data/%s\n"
	             "listen = 127.0.0.1:0\n"
	             "token_file = %s.token\n"
	             "subject_key = subject.key\n"
	             "%s",
	    id, id, p->endpoint[0] ? p->endpoint : "tcp://127.0.0.1:7400", id,
	    id, extra ? extra : "");
	if (text == NULL || h_write(a->conf, 0644, text) != 0) {
		free(text);
		return NULL;
	}
	free(text);
	return a;
}

int
h_agent_start(struct h_partnership *p, struct h_agent *a)
{
	char *argv[] = { (char *)h_bin("haven-agent"), "--config", a->conf,
		"--ready-file", a->ready, "--foreground", NULL };
	char listen[128];

	(void)p;
	unlink(a->ready);
	a->pid = spawn(a->log, argv);
	if (a->pid < 0)
		return -1;
	if (wait_ready(a->ready, "listen", a->pid, listen, sizeof(listen)) !=
	    0) {
		show_log(a->log);
		return -1;
	}
	snprintf(a->url, sizeof(a->url), "http://%s", listen);
	return 0;
}

void
h_agent_kill(struct h_agent *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		h_wait_pid(a->pid, 20000);
		a->pid = 0;
	}
}

int
h_agent_stop(struct h_agent *a)
{
	int st;

	if (a->pid <= 0)
		return -1;
	kill(a->pid, SIGTERM);
	st = h_wait_pid(a->pid, 20000);
	if (st == -1 && h_alive(a->pid)) {
		kill(a->pid, SIGKILL);
		h_wait_pid(a->pid, 20000);
	}
	a->pid = 0;
	return st;
}

void
h_partnership_stop(struct h_partnership *p)
{
	for (int i = 0; i < p->n_agents; i++)
		h_agent_stop(&p->agents[i]);
	h_broker_stop(p);
}

void
h_partnership_destroy(struct h_partnership *p)
{
	char *out = NULL;

	h_partnership_stop(p);
	if (p->dir[0] != '\0' && strncmp(p->dir, "/tmp/haven-e2e-", 15) == 0 &&
	    getenv("HAVEN_KEEP_TMP") == NULL)
		h_sh(&out, 60, "rm -rf '%s'", p->dir);
	free(out);
}

struct h_buf {
	char *data;
	size_t len;
};

static size_t
h_collect(char *ptr, size_t size, size_t n, void *ud)
{
	struct h_buf *b = ud;
	size_t add = size * n;
	char *nd = realloc(b->data, b->len + add + 1);

	if (nd == NULL)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

int
h_http(const char *method, const char *url, const char *token, const char *body,
    char **resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct h_buf b = { NULL, 0 };
	long status = 0;
	char *auth = NULL;

	if (c == NULL)
		return 0;
	if (token != NULL) {
		auth = h_fmt("Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, h_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(auth);
	if (resp != NULL)
		*resp = b.data ? b.data : strdup("");
	else
		free(b.data);
	return (int)status;
}

int
h_store_slice(const char *dir, const char *dbname, const char *hex,
    uint8_t *out, size_t n)
{
	uint8_t id[16];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = { sizeof(id), id }, v;
	int rc = -1;

	for (size_t i = 0; i < sizeof(id); i++)
		if (sscanf(hex + 2 * i, "%2hhx", &id[i]) != 1)
			return -1;
	if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 32) == 0 &&
	    mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0 &&
	    mdb_dbi_open(txn, dbname, 0, &dbi) == 0 &&
	    mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size > 4000 &&
	    v.mv_size / 2 + n <= v.mv_size) {
		memcpy(out, (uint8_t *)v.mv_data + v.mv_size / 2, n);
		rc = 0;
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return rc;
}

int
h_dir_holds(const char *dir, const void *needle, size_t n, char *where,
    size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (d == NULL)
		return -1;
	while (!found && (e = readdir(d)) != NULL) {
		char *path = h_fmt("%s/%s", dir, e->d_name);
		FILE *fp = e->d_name[0] == '.' ? NULL : fopen(path, "rb");
		char *buf = NULL, *at;
		size_t len = 0, r;
		char chunk[65536];

		if (fp != NULL) {
			FILE *mem = open_memstream(&buf, &len);

			while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
				fwrite(chunk, 1, r, mem);
			fclose(mem);
			fclose(fp);
			if ((at = memmem(buf, len, needle, n)) != NULL) {
				found = 1;
				if (where != NULL)
					snprintf(where, cap,
					    "%.100s at byte %td", e->d_name,
					    at - buf);
			}
			free(buf);
		}
		free(path);
	}
	closedir(d);
	return found;
}
