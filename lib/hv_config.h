/*
 * hv_config — INI configuration files (SPEC §10), read with inih.
 *
 * A daemon describes its section with a table of hv_cfg_key and gets a filled
 * struct back. An unknown key, a bad value, a duplicate key or a missing
 * required key is refused with "FILE:LINE: reason" in the detail's message
 * (the detail's field is the key name). Relative paths are resolved against
 * the config file's folder.
 */
#ifndef HV_CONFIG_H
#define HV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

enum hv_cfg_type {
	HV_CFG_STRING, /* char *, any non-empty text */
	HV_CFG_PATH, /* char *, resolved against the file's folder */
	HV_CFG_U64, /* uint64_t, decimal, within [min, max] */
	HV_CFG_NODE, /* char *, a node id ROLE.NAME (SPEC §3) */
	HV_CFG_ZMQ_ENDPOINT, /* char *, tcp://HOST:PORT or tcp://HOST:* */
	HV_CFG_LISTEN, /* char *, 127.0.0.1:PORT (port may be 0) */
	HV_CFG_ZMQ_ENDPOINTS, /* char *, 1..HV_CFG_ENDPOINTS_MAX endpoints
				 * separated by spaces (hv_endpoint_next) */
	HV_CFG_U64_BY_NAME, /* struct hv_cfg_u64_map: the key's name is a
				 * prefix "NAME." and each key NAME.SUFFIX,
				 * SUFFIX one of the map's `names` (set by
				 * the caller before loading), sets one value
				 * in [min, max] (retention_days.REFERRAL) */
};

#define HV_CFG_MAP_MAX 32

/* The values set by the keys of one HV_CFG_U64_BY_NAME entry. */
struct hv_cfg_u64_map {
	const char *const *names; /* the suffixes taken, then NULL */
	size_t n;
	char name[HV_CFG_MAP_MAX][48];
	uint64_t value[HV_CFG_MAP_MAX];
};

/* The value of map for name into *v: 1, or 0 when name was not set. */
int hv_cfg_map_get(const struct hv_cfg_u64_map *map, const char *name,
    uint64_t *v);

#define HV_CFG_ENDPOINTS_MAX 8

/*
 * Copies the next endpoint of a space-separated list at *p into buf (cap
 * bytes) and moves *p past it. Returns 1, or 0 when the list is done or the
 * endpoint does not fit.
 */
int hv_endpoint_next(const char **p, char *buf, size_t cap);

struct hv_cfg_key {
	const char *name;
	enum hv_cfg_type type;
	size_t offset; /* offsetof() into the caller's struct */
	int required;
	const char *def; /* default as text, or NULL */
	uint64_t min, max; /* HV_CFG_U64 and HV_CFG_U64_BY_NAME */
};

/*
 * Reads `section` of the INI file at path into out using keys (terminated by
 * an entry with name NULL). Keys of other sections are errors too, since a
 * file is for one daemon. On error, everything already stored in out is
 * freed.
 * Errors: HV_EBADCONFIG (detail says file:line and why), HV_EIO, HV_ENOMEM.
 */
hv_err hv_config_load(const char *path, const char *section,
    const struct hv_cfg_key *keys, void *out, struct hv_errdetail *d);

/* Frees every string that hv_config_load stored in out. */
void hv_config_free(const struct hv_cfg_key *keys, void *out);

/*
 * Joins a relative path onto base_dir (an absolute path is copied). Returns a
 * malloc'd string the caller frees, or NULL when out of memory.
 */
char *hv_path_resolve(const char *base_dir, const char *path);

/* The folder of path as a malloc'd string ("." when there is none). */
char *hv_path_dirname(const char *path);

/* 1 when s is a node id: ROLE.NAME, [a-z0-9-] and dots, at most 64 chars. */
int hv_node_id_valid(const char *s);

/* The role of a node id (the part before the first dot) into buf. */
void hv_node_role(const char *node_id, char *buf, size_t cap);

#endif
