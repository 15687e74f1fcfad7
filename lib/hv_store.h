/*
 * hv_store — a thin layer over LMDB shared by the broker, the agent and
 * `haven audit --db`.
 *
 * Opens an environment with named databases and maps LMDB's return codes to
 * hv_err: MDB_MAP_FULL -> HV_ESTORAGEFULL, MDB_NOTFOUND -> HV_ENOTFOUND,
 * everything else -> HV_EIO. Environments are opened without MDB_NOSYNC or
 * MDB_NOMETASYNC, so mdb_txn_commit returning 0 means the data is on disk;
 * MDB_NOTLS lets read transactions move between threads.
 *
 * Keys that hold integers are 8-byte big-endian so LMDB's byte order is
 * numeric order (hv_be64_put/get).
 *
 * One store never has two writers (SPEC §13): a writable open takes an
 * exclusive flock on DIR/haven.lock, which holds the program name and pid of
 * the holder, and keeps it until hv_store_close. Read-only opens (haven
 * audit --db, haven backup) take no lock: LMDB lets them read beside a
 * running daemon.
 *
 * Every store records its format version in the "haven" database. A writable
 * open stamps an unstamped store and migrates an older format, in the same
 * transaction that creates the named databases; any open refuses a newer
 * format with a sentence naming both versions.
 */
#ifndef HV_STORE_H
#define HV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "hv_err.h"

#define HV_STORE_MAX_DBS 24

/* The store format this release writes; 0 is a store made before stamps. */
#define HV_STORE_FORMAT 1

/* The lock file in a writable store's folder. */
#define HV_STORE_LOCK_FILE "haven.lock"

typedef struct hv_store {
	MDB_env *env;
	size_t n_dbs;
	MDB_dbi dbi[HV_STORE_MAX_DBS];
	int readonly;
	int lock_fd; /* the flock on haven.lock, -1 when read-only */
	uint64_t format; /* the format found on disk before any migration */
} hv_store;

/*
 * Opens the environment in folder dir (creating it and any missing parents,
 * mode 0700, when writable) with map_size bytes and the named databases, in
 * order, so s->dbi[i] is dbnames[i]. readonly opens with MDB_RDONLY and
 * requires the databases to exist. A writable open first locks the folder
 * and then stamps or migrates the store's format (see above).
 * Errors: HV_EINUSE (another process holds the lock; the detail names its
 * program and pid), HV_EFORMAT (the store's format is newer than
 * HV_STORE_FORMAT), HV_EIO (detail names dir and LMDB's reason),
 * HV_ENOTFOUND (a database missing in a read-only store), HV_ENOMEM.
 */
hv_err hv_store_open(const char *dir, uint64_t map_size, int readonly,
    const char *const *dbnames, size_t n_dbs, hv_store **out,
    struct hv_errdetail *d);

/*
 * Makes a consistent, compact copy of the store in folder dir into folder
 * dest while a daemon may be writing it: LMDB copies from one read
 * transaction (mdb_env_copy2 with MDB_CP_COMPACT). dest is created mode 0700
 * when missing; an existing dest must be an empty folder. The copy's
 * data.mdb is mode 0600. The copy keeps the source's format stamp.
 * Errors: HV_EEXISTS (dest is not an empty folder), HV_EFORMAT (dir holds a
 * newer format), HV_ENOTFOUND (dir holds no store), HV_EIO.
 */
hv_err hv_store_backup(const char *dir, const char *dest,
    struct hv_errdetail *d);

/*
 * For --check-config, without changing anything lasting: checks that dir
 * can be written (a file is created in it and removed) or, when it does not
 * exist yet, that its nearest existing parent is a folder the daemon can
 * create it in; and, when a store is there, that this release reads its
 * format. Never takes the lock, so it runs beside the daemon.
 * Errors: HV_EIO (the detail names the folder and the reason), HV_EFORMAT.
 */
hv_err hv_store_check_dir(const char *dir, struct hv_errdetail *d);

/* Closes the environment; accepts NULL; sets *s = NULL. */
void hv_store_close(hv_store **s);

/* Maps an LMDB return code to hv_err. */
hv_err hv_store_err(int rc);

/* Begins a transaction. Errors: HV_EIO. */
hv_err hv_store_begin(hv_store *s, int readonly, MDB_txn **txn);

/*
 * Commits (durably). Errors: HV_ESTORAGEFULL, HV_EIO; the LMDB reason for
 * an HV_EIO (a full disk, say) is logged with the store's path, since the
 * code alone does not say it. The txn is gone.
 */
hv_err hv_store_commit(MDB_txn *txn);

/*
 * Erasure (SPEC §15): LMDB copies a page before changing it and puts the
 * old copy on its free list, where the old bytes stay until the page is
 * reused. This overwrites with zeros, in the file, every free page that no
 * reader can still see, inside a write transaction (so no writer reuses one
 * meanwhile), then syncs. Like LMDB, it leaves the pages the last commit
 * freed (the previous snapshot, kept for a crash): so it first commits a
 * small write of its own, the key "scrub" in dbi `scratch`. A caller that has just deleted a record (after
 * overwriting its value with zeros in place, see hv_store_wipe_del) and
 * committed calls this to make the old bytes gone from the file. *skipped
 * (may be NULL) counts free pages left because an older reader may see
 * them; call again later. Errors: HV_EIO.
 */
hv_err hv_store_scrub_free(hv_store *s, MDB_dbi scratch, size_t *scrubbed,
    size_t *skipped);

/*
 * Overwrites the value under key k in dbi with zeros in place (same size,
 * MDB_RESERVE) and then deletes it, inside txn, so that the live page
 * written at commit holds no trace of it. HV_OK when there was no value.
 * Errors: HV_ESTORAGEFULL, HV_EIO.
 */
hv_err hv_store_wipe_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);

void hv_be64_put(uint8_t out[8], uint64_t v);
uint64_t hv_be64_get(const uint8_t in[8]);

#endif
