/*
 * hv_store — LMDB environments with named databases and hv_err mapping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
		return hv_errset(d, HV_EIO, "data_dir", "cannot create store "
		    "folder %s: %s", dir, strerror(errno));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return HV_ENOMEM;
	s->readonly = readonly;
	s->n_dbs = n_dbs;
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, (MDB_dbi)n_dbs + 1)) != 0 ||
	    (map_size > 0 &&
	    (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) != 0) ||
	    (rc = mdb_env_set_maxreaders(s->env, 126)) != 0) {
		err = hv_errset(d, HV_EIO, "data_dir", "cannot set up the "
		    "store: %s", mdb_strerror(rc));
		goto out;
	}
	rc = mdb_env_open(s->env, dir,
	    MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0600);
	if (rc != 0) {
		err = hv_errset(d, HV_EIO, "data_dir", "cannot open store %s: "
		    "%s", dir, mdb_strerror(rc));
		goto out;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0,
	    &txn)) != 0) {
		err = hv_errset(d, HV_EIO, "data_dir", "cannot read store %s: "
		    "%s", dir, mdb_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n_dbs; i++) {
		rc = mdb_dbi_open(txn, dbnames[i], readonly ? 0 : MDB_CREATE,
		    &s->dbi[i]);
		if (rc != 0) {
			err = hv_errset(d, rc == MDB_NOTFOUND ? HV_ENOTFOUND :
			    HV_EIO, "data_dir", "store %s has no '%s' "
			    "database: %s", dir, dbnames[i], mdb_strerror(rc));
			goto out;
		}
	}
	/*
	 * Commit even a read-only transaction: LMDB closes database handles
	 * opened in a transaction that is aborted.
	 */
	if ((rc = mdb_txn_commit(txn)) != 0)
		err = hv_errset(d, hv_store_err(rc), "data_dir", "cannot "
		    "initialise store %s: %s", dir, mdb_strerror(rc));
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (err != HV_OK) {
		mdb_env_close(s->env);
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
	free(*s);
	*s = NULL;
}

hv_err
hv_store_begin(hv_store *s, int readonly, MDB_txn **txn)
{
	return hv_store_err(mdb_txn_begin(s->env, NULL,
	    readonly ? MDB_RDONLY : 0, txn));
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
		hv_log_warnx("store %s: a write failed and nothing of it was "
		    "kept: %s; check that the disk holding it has free space "
		    "and no errors", path, mdb_strerror(rc));
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
