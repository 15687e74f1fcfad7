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
 */
#ifndef HV_STORE_H
#define HV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "hv_err.h"

#define HV_STORE_MAX_DBS 24

typedef struct hv_store {
	MDB_env *env;
	size_t n_dbs;
	MDB_dbi dbi[HV_STORE_MAX_DBS];
	int readonly;
} hv_store;

/*
 * Opens the environment in folder dir (creating it and any missing parents,
 * mode 0700, when writable) with map_size bytes and the named databases, in
 * order, so s->dbi[i] is dbnames[i]. readonly opens with MDB_RDONLY and
 * requires the databases to exist.
 * Errors: HV_EIO (detail names dir and LMDB's reason), HV_ENOTFOUND (a
 * database missing in a read-only store), HV_ENOMEM.
 */
hv_err hv_store_open(const char *dir, uint64_t map_size, int readonly,
    const char *const *dbnames, size_t n_dbs, hv_store **out,
    struct hv_errdetail *d);

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

void hv_be64_put(uint8_t out[8], uint64_t v);
uint64_t hv_be64_get(const uint8_t in[8]);

#endif
