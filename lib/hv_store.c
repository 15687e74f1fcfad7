/*
 * hv_store — LMDB environments with named databases and hv_err mapping.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv_log.h"
#include "hv_store.h"

hv_err
hv_store_err(int rc)
{
	switch (rc) {
	case 0:
		return HV_OK;
	case MDB_MAP_FULL:
		return HV_ESTORAGEFULL;
	case MDB_NOTFOUND:
		return HV_ENOTFOUND;
	case ENOMEM:
		return HV_ENOMEM;
	default:
		return HV_EIO;
	}
}

/* mkdir -p with mode 0700 for every folder it creates. 0 or -1 (errno). */
static int
mkdirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* ---- the data_dir lock ------------------------------------------------------ */

/*
 * Takes an exclusive flock on dir/haven.lock and writes "PROGRAM PID" in it.
 * The lock goes with the process: a daemon killed by SIGKILL or a power cut
 * leaves a file that the next start simply locks again. *fd is the open file
 * on success. Errors: HV_EINUSE naming the holder, HV_EIO.
 */
static hv_err
store_lock(const char *dir, int *fd, struct hv_errdetail *d)
{
	char path[4096], held[128], mine[128];
	ssize_t n;
	int f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	        HV_STORE_LOCK_FILE) >= sizeof(path))
		return hv_errset(d, HV_EIO, "data_dir",
		    "the path of data_dir "
		    "%s is too long",
		    dir);
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0)
		return hv_errset(d, HV_EIO, "data_dir",
		    "cannot open the lock "
		    "file %s: %s",
		    path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;

		if (saved != EWOULDBLOCK) {
			close(f);
			return hv_errset(d, HV_EIO, "data_dir",
			    "cannot lock "
			    "%s: %s",
			    path, strerror(saved));
		}
		n = pread(f, held, sizeof(held) - 1, 0);
		close(f);
		held[n > 0 ? n : 0] = '\0';
		held[strcspn(held, "\n")] = '\0';
		if (held[0] == '\0')
			snprintf(held, sizeof(held), "another process");
		{
			char prog[64];
			long pid;

			if (sscanf(held, "%63s %ld", prog, &pid) == 2)
				return hv_errset(d, HV_EINUSE, "data_dir",
				    "data_dir %s is in use by %s pid %ld; stop "
				    "it, or give this daemon its own data_dir.",
				    dir, prog, pid);
		}
		return hv_errset(d, HV_EINUSE, "data_dir",
		    "data_dir %s is in "
		    "use by %s; stop it, or give this daemon its own "
		    "data_dir.",
		    dir, held);
	}
	snprintf(mine, sizeof(mine), "%s %ld\n", program_invocation_short_name,
	    (long)getpid());
	if (ftruncate(f, 0) != 0 ||
	    pwrite(f, mine, strlen(mine), 0) != (ssize_t)strlen(mine)) {
		int saved = errno;

		close(f);
		return hv_errset(d, HV_EIO, "data_dir",
		    "cannot write the lock "
		    "file %s: %s",
		    path, strerror(saved));
	}
	*fd = f;
	return HV_OK;
}

/* ---- format versions -------------------------------------------------------- */

/*
 * The table of migrations: migrations[v] turns a store of format v into
 * format v + 1 inside the caller's write transaction, so a store is either
 * wholly migrated or untouched. Format 0 is a store made before stamps,
 * whose layout is format 1's: stamping it is the whole migration.
 */
typedef hv_err (*store_migration)(hv_store *s, MDB_txn *txn);

static hv_err
migrate_0_to_1(hv_store *s, MDB_txn *txn)
{
	(void)s;
	(void)txn;
	return HV_OK;
}

static const store_migration migrations[HV_STORE_FORMAT] = {
	[0] = migrate_0_to_1,
};

#define FORMAT_DB "haven"
#define FORMAT_KEY "format"

/* Reads the stamp: *v = 0 when the store has none. Errors: HV_EIO. */
static hv_err
format_read(MDB_txn *txn, MDB_dbi dbi, int have_db, uint64_t *v)
{
	MDB_val k = { strlen(FORMAT_KEY), FORMAT_KEY }, val;
	int rc;

	*v = 0;
	if (!have_db)
		return HV_OK;
	rc = mdb_get(txn, dbi, &k, &val);
	if (rc == MDB_NOTFOUND)
		return HV_OK;
	if (rc != 0 || val.mv_size != 8)
		return HV_EIO;
	*v = hv_be64_get(val.mv_data);
	return HV_OK;
}

/*
 * Checks the store's format, and when writable migrates it to
 * HV_STORE_FORMAT and stamps it, in txn. Errors: HV_EFORMAT, HV_EIO and
 * the migrations' errors.
 */
static hv_err
format_check(hv_store *s, MDB_txn *txn, const char *dir, struct hv_errdetail *d)
{
	MDB_val k = { strlen(FORMAT_KEY), FORMAT_KEY }, val;
	MDB_dbi dbi;
	uint8_t buf[8];
	uint64_t v;
	int rc, have;
	hv_err e;

	rc = mdb_dbi_open(txn, FORMAT_DB, s->readonly ? 0 : MDB_CREATE, &dbi);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return hv_errset(d, HV_EIO, "data_dir",
		    "cannot read the format "
		    "of store %s: %s",
		    dir, mdb_strerror(rc));
	have = rc == 0;
	if (format_read(txn, dbi, have, &v) != HV_OK)
		return hv_errset(d, HV_EIO, "data_dir",
		    "store %s has a "
		    "damaged format stamp",
		    dir);
	s->format = v;
	if (v > HV_STORE_FORMAT)
		return hv_errset(d, HV_EFORMAT, "data_dir",
		    "store %s is format "
		    "%llu, newer than format %d that this release of Haven "
		    "reads; run the release that wrote it or a newer one",
		    dir, (unsigned long long)v, HV_STORE_FORMAT);
	if (s->readonly || v == HV_STORE_FORMAT)
		return HV_OK;
	for (; v < HV_STORE_FORMAT; v++)
		if ((e = migrations[v](s, txn)) != HV_OK)
			return hv_errset(d, e, "data_dir",
			    "cannot migrate "
			    "store %s from format %llu to %llu: %s",
			    dir, (unsigned long long)v,
			    (unsigned long long)v + 1, hv_strerror(e));
	hv_be64_put(buf, HV_STORE_FORMAT);
	val.mv_size = sizeof(buf);
	val.mv_data = buf;
	if ((rc = mdb_put(txn, dbi, &k, &val, 0)) != 0)
		return hv_errset(d, hv_store_err(rc), "data_dir",
		    "cannot stamp "
		    "store %s with its format: %s",
		    dir, mdb_strerror(rc));
	return HV_OK;
}

/* ---- open and close --------------------------------------------------------- */

hv_err
hv_store_open(const char *dir, uint64_t map_size, int readonly,
    const char *const *dbnames, size_t n_dbs, hv_store **out,
    struct hv_errdetail *d)
{
	hv_store *s;
	MDB_txn *txn = NULL;
	hv_err err = HV_OK;
	int rc;

	if (n_dbs > HV_STORE_MAX_DBS)
		return HV_ESYS;
	if (!readonly && mkdirs(dir) != 0)
		return hv_errset(d, HV_EIO, "data_dir",
		    "cannot create store "
		    "folder %s: %s",
		    dir, strerror(errno));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return HV_ENOMEM;
	s->readonly = readonly;
	s->n_dbs = n_dbs;
	s->lock_fd = -1;
	if (!readonly && (err = store_lock(dir, &s->lock_fd, d)) != HV_OK) {
		free(s);
		return err;
	}
	/* The named databases, the format stamp's and one spare. */
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, (MDB_dbi)n_dbs + 2)) != 0 ||
	    (map_size > 0 &&
	        (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) != 0) ||
	    (rc = mdb_env_set_maxreaders(s->env, 126)) != 0) {
		err = hv_errset(d, HV_EIO, "data_dir",
		    "cannot set up the "
		    "store: %s",
		    mdb_strerror(rc));
		goto out;
	}
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0),
	    0600);
	if (rc != 0) {
		err = hv_errset(d, HV_EIO, "data_dir",
		    "cannot open store %s: "
		    "%s",
		    dir, mdb_strerror(rc));
		goto out;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0,
	         &txn)) != 0) {
		err = hv_errset(d, HV_EIO, "data_dir",
		    "cannot read store %s: "
		    "%s",
		    dir, mdb_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n_dbs; i++) {
		rc = mdb_dbi_open(txn, dbnames[i], readonly ? 0 : MDB_CREATE,
		    &s->dbi[i]);
		if (rc != 0) {
			err = hv_errset(d,
			    rc == MDB_NOTFOUND ? HV_ENOTFOUND : HV_EIO,
			    "data_dir",
			    "store %s has no '%s' "
			    "database: %s",
			    dir, dbnames[i], mdb_strerror(rc));
			goto out;
		}
	}
	if ((err = format_check(s, txn, dir, d)) != HV_OK)
		goto out;
	/*
	 * Commit even a read-only transaction: LMDB closes database handles
	 * opened in a transaction that is aborted.
	 */
	if ((rc = mdb_txn_commit(txn)) != 0)
		err = hv_errset(d, hv_store_err(rc), "data_dir",
		    "cannot "
		    "initialise store %s: %s",
		    dir, mdb_strerror(rc));
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (err != HV_OK) {
		mdb_env_close(s->env);
		if (s->lock_fd >= 0)
			close(s->lock_fd);
		free(s);
		return err;
	}
	*out = s;
	return HV_OK;
}

void
hv_store_close(hv_store **s)
{
	if (s == NULL || *s == NULL)
		return;
	mdb_env_close((*s)->env);
	/* After LMDB has let go of the files: the next writer may come in. */
	if ((*s)->lock_fd >= 0)
		close((*s)->lock_fd);
	free(*s);
	*s = NULL;
}

/* ---- --check-config ------------------------------------------------------ */

hv_err
hv_store_check_dir(const char *dir, struct hv_errdetail *d)
{
	char path[4096], probe[4200];
	struct stat st;
	hv_store *s = NULL;
	hv_err e;
	int fd;

	if (strlen(dir) == 0 || strlen(dir) >= sizeof(path))
		return hv_errset(d, HV_EIO, "data_dir",
		    "data_dir '%s' is not "
		    "a usable path",
		    dir);
	if (stat(dir, &st) != 0) {
		char *slash;

		if (errno != ENOENT && errno != ENOTDIR)
			return hv_errset(d, HV_EIO, "data_dir",
			    "data_dir %s "
			    "cannot be used: %s",
			    dir, strerror(errno));
		/* The nearest existing parent must let us create it. */
		snprintf(path, sizeof(path), "%s", dir);
		for (;;) {
			if ((slash = strrchr(path, '/')) == NULL) {
				snprintf(path, sizeof(path), ".");
			} else if (slash == path) {
				path[1] = '\0';
			} else {
				*slash = '\0';
			}
			if (stat(path, &st) == 0 ||
			    (errno != ENOENT && errno != ENOTDIR) ||
			    strcmp(path, ".") == 0 || strcmp(path, "/") == 0)
				break;
		}
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			return hv_errset(d, HV_EIO, "data_dir",
			    "data_dir %s "
			    "cannot be created: %s is not a folder",
			    dir, path);
		if (access(path, W_OK | X_OK) != 0)
			return hv_errset(d, HV_EIO, "data_dir",
			    "data_dir %s "
			    "cannot be created in %s: %s",
			    dir, path, strerror(errno));
		return HV_OK;
	}
	if (!S_ISDIR(st.st_mode))
		return hv_errset(d, HV_EIO, "data_dir",
		    "data_dir %s is not a "
		    "folder",
		    dir);
	snprintf(probe, sizeof(probe), "%s/.haven-check-XXXXXX", dir);
	if ((fd = mkstemp(probe)) < 0 || write(fd, "ok\n", 3) != 3) {
		int saved = errno;

		if (fd >= 0) {
			close(fd);
			unlink(probe);
		}
		return hv_errset(d, HV_EIO, "data_dir",
		    "data_dir %s cannot be "
		    "written: %s",
		    dir, strerror(saved));
	}
	close(fd);
	unlink(probe);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (access(path, F_OK) != 0)
		return HV_OK;
	if ((e = hv_store_open(dir, 0, 1, NULL, 0, &s, d)) != HV_OK)
		return e;
	hv_store_close(&s);
	return HV_OK;
}

/* ---- backup ------------------------------------------------------------------ */

/* 1 when path is an empty folder, 0 when not empty, -1 (errno) otherwise. */
static int
dir_is_empty(const char *path)
{
	DIR *dp = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (dp == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(dp);
	return empty;
}

hv_err
hv_store_backup(const char *dir, const char *dest, struct hv_errdetail *d)
{
	hv_store probe = { .readonly = 1, .lock_fd = -1 };
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	struct stat st;
	char path[4096];
	hv_err err = HV_OK;
	int rc, empty;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	    sizeof(path))
		return hv_errset(d, HV_EIO, "db", "the path %s is too long",
		    dir);
	if (stat(path, &st) != 0)
		return hv_errset(d, errno == ENOENT ? HV_ENOTFOUND : HV_EIO,
		    "db", "%s holds no Haven store (no data.mdb): %s", dir,
		    strerror(errno));
	if (lstat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return hv_errset(d, HV_EEXISTS, "out",
			    "%s exists and "
			    "is not a folder; give a new or empty folder",
			    dest);
		if ((empty = dir_is_empty(dest)) < 0)
			return hv_errset(d, HV_EIO, "out", "cannot read %s: %s",
			    dest, strerror(errno));
		if (!empty)
			return hv_errset(d, HV_EEXISTS, "out",
			    "%s is not "
			    "empty; a backup never overwrites, give a new or "
			    "empty folder",
			    dest);
		if (chmod(dest, 0700) != 0)
			return hv_errset(d, HV_EIO, "out",
			    "cannot make %s "
			    "private: %s",
			    dest, strerror(errno));
	} else if (mkdirs(dest) != 0) {
		return hv_errset(d, HV_EIO, "out", "cannot create %s: %s", dest,
		    strerror(errno));
	}
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, HV_STORE_MAX_DBS + 2)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0) {
		err = hv_errset(d, HV_EIO, "db", "cannot open store %s: %s",
		    dir, mdb_strerror(rc));
		goto out;
	}
	/* Never copy a store this release cannot read into an older one. */
	probe.env = env;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		err = hv_errset(d, HV_EIO, "db", "cannot read store %s: %s",
		    dir, mdb_strerror(rc));
		goto out;
	}
	if ((err = format_check(&probe, txn, dir, d)) != HV_OK)
		goto out;
	mdb_txn_abort(txn);
	txn = NULL;
	if ((rc = mdb_env_copy2(env, dest, MDB_CP_COMPACT)) != 0) {
		err = hv_errset(d, HV_EIO, "out",
		    "cannot copy store %s to "
		    "%s: %s",
		    dir, dest, mdb_strerror(rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", dest);
	if (chmod(path, 0600) != 0)
		err = hv_errset(d, HV_EIO, "out", "cannot make %s private: %s",
		    path, strerror(errno));
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return err;
}

hv_err
hv_store_begin(hv_store *s, int readonly, MDB_txn **txn)
{
	return hv_store_err(
	    mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, txn));
}

hv_err
hv_store_commit(MDB_txn *txn)
{
	MDB_env *env = mdb_txn_env(txn);
	const char *path = NULL;
	int rc;

	if ((rc = mdb_txn_commit(txn)) == 0)
		return HV_OK;
	/*
	 * A full map is the caller's to report (STORAGE_FULL, with what to
	 * do). Anything else (a full disk, a file size limit, an I/O error)
	 * reaches the user only as IO_ERROR, so the reason goes to the log
	 * here, the one place that still knows it.
	 */
	if (rc != MDB_MAP_FULL) {
		if (env == NULL || mdb_env_get_path(env, &path) != 0)
			path = "(unknown)";
		hv_log_warnx(
		    "store %s: a write failed and nothing of it was "
		    "kept: %s; check that the disk holding it has free space "
		    "and no errors",
		    path, mdb_strerror(rc));
	}
	return hv_store_err(rc);
}

void
hv_be64_put(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t
hv_be64_get(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

/* ---- erasure -------------------------------------------------------------- */

hv_err
hv_store_wipe_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_val key = { klen, (void *)k }, v;
	size_t n;
	int rc;

	rc = mdb_get(txn, dbi, &key, &v);
	if (rc == MDB_NOTFOUND)
		return HV_OK;
	if (rc != 0)
		return hv_store_err(rc);
	n = v.mv_size;
	v.mv_data = NULL;
	if ((rc = mdb_put(txn, dbi, &key, &v, MDB_RESERVE)) != 0)
		return hv_store_err(rc);
	if (n > 0)
		memset(v.mv_data, 0, n);
	rc = mdb_del(txn, dbi, &key, NULL);
	return rc == 0 || rc == MDB_NOTFOUND ? HV_OK : hv_store_err(rc);
}

/* mdb_reader_list's lines: "pid thread txnid", txnid "-" when idle. */
static int
oldest_reader(const char *msg, void *ctx)
{
	size_t *oldest = ctx, txnid;
	unsigned long thread;
	int pid;

	if (sscanf(msg, "%d %lx %zu", &pid, &thread, &txnid) == 3 &&
	    txnid < *oldest)
		*oldest = txnid;
	return 0;
}

hv_err
hv_store_scrub_free(hv_store *s, MDB_dbi scratch, size_t *scrubbed,
    size_t *skipped)
{
	size_t oldest = SIZE_MAX, last, n_done = 0, n_left = 0;
	char path[4200];
	const char *dir;
	uint8_t *zero = NULL;
	MDB_txn *txn = NULL, *rtxn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat st;
	hv_err e = HV_EIO;
	int fd = -1, rc;

	if (s->readonly || mdb_env_get_path(s->env, &dir) != 0 ||
	    mdb_env_stat(s->env, &st) != 0)
		return HV_EIO;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if ((zero = calloc(1, st.ms_psize)) == NULL)
		return HV_ENOMEM;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		goto out;
	/* Moves the last commit on past the one that freed the pages. */
	{
		uint64_t now = (uint64_t)time(NULL);
		MDB_val sk = { 5, "scrub" }, sv = { 8, &now };

		if (mdb_txn_begin(s->env, NULL, 0, &txn) != 0)
			goto out;
		rc = mdb_put(txn, scratch, &sk, &sv, 0);
		if (rc != 0 || mdb_txn_commit(txn) != 0) {
			if (rc != 0)
				mdb_txn_abort(txn);
			txn = NULL;
			goto out;
		}
	}
	/* The write transaction keeps every writer off the free pages. */
	if (mdb_txn_begin(s->env, NULL, 0, &txn) != 0)
		goto out;
	mdb_reader_list(s->env, oldest_reader, &oldest);
	last = mdb_txn_id(txn) - 1;
	if (last < oldest)
		oldest = last;
	/*
	 * dbi 0 is LMDB's free list, txnid -> [count, page numbers...],
	 * readable only in a read transaction: one of the snapshot the
	 * write transaction starts from (MDB_NOTLS allows both at once).
	 */
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rtxn) != 0 ||
	    mdb_cursor_open(rtxn, 0, &cur) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t freed_by, cnt;
		const size_t *idl = v.mv_data;

		if (k.mv_size != sizeof(size_t) || v.mv_size < sizeof(size_t))
			continue;
		memcpy(&freed_by, k.mv_data, sizeof(size_t));
		cnt = idl[0];
		if (cnt > v.mv_size / sizeof(size_t) - 1)
			continue;
		/*
		 * A snapshot before freed_by (a reader's, the last) sees them.
		 * The pages our own small write freed held nothing erased, so
		 * only those a reader holds back count as left.
		 */
		if (freed_by >= oldest) {
			if (freed_by < last)
				n_left += cnt;
			continue;
		}
		for (size_t i = 1; i <= cnt; i++) {
			if (pwrite(fd, zero, st.ms_psize,
			        (off_t)(idl[i] * st.ms_psize)) !=
			    (ssize_t)st.ms_psize)
				goto out;
			n_done++;
		}
	}
	if (rc != MDB_NOTFOUND || fdatasync(fd) != 0)
		goto out;
	e = HV_OK;
	if (scrubbed != NULL)
		*scrubbed = n_done;
	if (skipped != NULL)
		*skipped = n_left;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (rtxn != NULL)
		mdb_txn_abort(rtxn);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (fd >= 0)
		close(fd);
	free(zero);
	return e;
}
