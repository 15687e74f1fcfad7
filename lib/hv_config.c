/*
 * hv_config — table-driven INI loading with file:line errors.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "hv_config.h"

struct load_ctx {
	const char *path;
	const char *section;
	const struct hv_cfg_key *keys;
	void *out;
	char *base;
	FILE *fp;
	int lineno; /* lines read so far */
	int errline; /* line of the first bad key, or 0 */
	unsigned char seen[64];
	char reason[256]; /* why errline is bad */
	char field[64]; /* the key on errline */
	int nomem;
};

char *
hv_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

char *
hv_path_resolve(const char *base_dir, const char *path)
{
	char *out;

	if (path[0] == '/' || base_dir == NULL || strcmp(base_dir, ".") == 0)
		return strdup(path);
	if (asprintf(&out, "%s/%s", base_dir, path) < 0)
		return NULL;
	return out;
}

int
hv_node_id_valid(const char *s)
{
	size_t n = strlen(s);
	const char *dot = strchr(s, '.');

	if (n == 0 || n > 64 || dot == NULL || dot == s || dot[1] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '.'))
			return 0;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return 0;
	}
	return s[n - 1] != '.';
}

void
hv_node_role(const char *node_id, char *buf, size_t cap)
{
	const char *dot = strchr(node_id, '.');
	size_t n = dot ? (size_t)(dot - node_id) : strlen(node_id);

	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, node_id, n);
	buf[n] = '\0';
}

static int
valid_endpoint(const char *v)
{
	const char *colon;

	if (strncmp(v, "tcp://", 6) != 0)
		return 0;
	colon = strrchr(v + 6, ':');
	if (colon == NULL || colon == v + 6 || colon[1] == '\0')
		return 0;
	if (strcmp(colon + 1, "*") == 0)
		return 1;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return atol(colon + 1) <= 65535;
}

int
hv_endpoint_next(const char **p, char *buf, size_t cap)
{
	const char *s = *p;
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strcspn(s, " \t");
	if (n == 0 || n >= cap)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*p = s + n;
	return 1;
}

/*
 * One or more endpoints separated by spaces, each valid, at most
 * HV_CFG_ENDPOINTS_MAX. 1, or 0 with the endpoint at fault in bad.
 */
static int
valid_endpoints(const char *v, char *bad, size_t cap)
{
	char ep[256];
	const char *p = v;
	size_t n = 0;

	snprintf(bad, cap, "%s", v);
	while (hv_endpoint_next(&p, ep, sizeof(ep))) {
		if (!valid_endpoint(ep) || ++n > HV_CFG_ENDPOINTS_MAX) {
			snprintf(bad, cap, "%s", ep);
			return 0;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	return n > 0 && *p == '\0';
}

/*
 * The agent's API carries a bearer token in clear, so it may only listen on
 * the loopback network: 127.0.0.0/8 or "localhost".
 */
static int
valid_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hl;

	if (colon == NULL || colon == v || colon[1] == '\0')
		return 0;
	hl = (size_t)(colon - v);
	if (!(hl == 9 && strncmp(v, "localhost", 9) == 0) &&
	    strncmp(v, "127.", 4) != 0)
		return 0;
	for (const char *p = v + 4; hl != 9 && p < colon; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return 0;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return atol(colon + 1) <= 65535;
}

int
hv_cfg_map_get(const struct hv_cfg_u64_map *map, const char *name, uint64_t *v)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->name[i], name) == 0) {
			*v = map->value[i];
			return 1;
		}
	return 0;
}

/* One key PREFIX.SUFFIX of an HV_CFG_U64_BY_NAME entry k. */
static int
check_map_key(struct load_ctx *c, const struct hv_cfg_key *k, const char *name,
    const char *value)
{
	struct hv_cfg_u64_map *map =
	    (struct hv_cfg_u64_map *)((char *)c->out + k->offset);
	const char *suffix = name + strlen(k->name);
	unsigned long long v;
	uint64_t old;
	char *end;
	size_t i;

	for (i = 0; map->names != NULL && map->names[i] != NULL; i++)
		if (strcmp(map->names[i], suffix) == 0)
			break;
	if (map->names == NULL || map->names[i] == NULL ||
	    strlen(suffix) >= sizeof(map->name[0])) {
		snprintf(c->reason, sizeof(c->reason),
		    "unknown key '%s': "
		    "'%.48s' is not one of the names %s takes (a message type "
		    "such as REFERRAL)",
		    name, suffix, k->name);
		return 0;
	}
	if (hv_cfg_map_get(map, suffix, &old)) {
		snprintf(c->reason, sizeof(c->reason), "key '%s' is set twice",
		    name);
		return 0;
	}
	errno = 0;
	v = strtoull(value, &end, 10);
	if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 ||
	    v < k->min || v > k->max) {
		snprintf(c->reason, sizeof(c->reason),
		    "'%s' for %s is not a "
		    "whole number from %llu to %llu",
		    value, name, (unsigned long long)k->min,
		    (unsigned long long)k->max);
		return 0;
	}
	if (map->n >= HV_CFG_MAP_MAX) {
		snprintf(c->reason, sizeof(c->reason), "too many %s keys",
		    k->name);
		return 0;
	}
	snprintf(map->name[map->n], sizeof(map->name[0]), "%s", suffix);
	map->value[map->n++] = v;
	return 1;
}

static int
check_key(struct load_ctx *c, const char *section, const char *name,
    const char *value)
{
	const struct hv_cfg_key *k;
	size_t i;
	char *s;

	snprintf(c->field, sizeof(c->field), "%s", name);
	if (strcmp(section, c->section) != 0) {
		snprintf(c->reason, sizeof(c->reason),
		    "key '%s' is in section [%s], but this file is read for "
		    "section [%s]",
		    name, section, c->section);
		return 0;
	}
	for (i = 0, k = c->keys; k->name != NULL; k++, i++)
		if (strcmp(k->name, name) == 0 ||
		    (k->type == HV_CFG_U64_BY_NAME &&
		        strncmp(k->name, name, strlen(k->name)) == 0))
			break;
	if (k != NULL && k->name != NULL && k->type == HV_CFG_U64_BY_NAME)
		return check_map_key(c, k, name, value);
	if (k->name == NULL) {
		snprintf(c->reason, sizeof(c->reason),
		    "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (i < sizeof(c->seen) && c->seen[i]) {
		snprintf(c->reason, sizeof(c->reason), "key '%s' is set twice",
		    name);
		return 0;
	}
	if (value[0] == '\0') {
		snprintf(c->reason, sizeof(c->reason),
		    "key '%s' has an empty value", name);
		return 0;
	}
	switch (k->type) {
	case HV_CFG_U64: {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 10);
		if (value[0] == '-' || *end != '\0' || errno != 0 ||
		    v < k->min || v > k->max) {
			snprintf(c->reason, sizeof(c->reason),
			    "'%s' for %s is not a whole number from %llu to "
			    "%llu",
			    value, name, (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return 0;
		}
		*(uint64_t *)((char *)c->out + k->offset) = v;
		break;
	}
	case HV_CFG_NODE:
		if (!hv_node_id_valid(value)) {
			snprintf(c->reason, sizeof(c->reason),
			    "'%s' for %s is not a node id like police.avon "
			    "(lowercase letters, digits, dashes)",
			    value, name);
			return 0;
		}
		goto string;
	case HV_CFG_ZMQ_ENDPOINT:
		if (!valid_endpoint(value)) {
			snprintf(c->reason, sizeof(c->reason),
			    "'%s' for %s is not an endpoint like "
			    "tcp://127.0.0.1:7400",
			    value, name);
			return 0;
		}
		goto string;
	case HV_CFG_ZMQ_ENDPOINTS: {
		char bad[256];

		if (!valid_endpoints(value, bad, sizeof(bad))) {
			snprintf(c->reason, sizeof(c->reason),
			    "'%.100s' for %s is not an endpoint like "
			    "tcp://127.0.0.1:7400 (give up to %d, separated "
			    "by spaces)",
			    bad, name, HV_CFG_ENDPOINTS_MAX);
			return 0;
		}
		goto string;
	}
	case HV_CFG_LISTEN:
		if (!valid_listen(value)) {
			snprintf(c->reason, sizeof(c->reason),
			    "'%s' for %s is not a loopback address like "
			    "127.0.0.1:7501 (the API is never served to the "
			    "network)",
			    value, name);
			return 0;
		}
		goto string;
	case HV_CFG_U64_BY_NAME: /* check_map_key took it */
		return 0;
	case HV_CFG_PATH:
		s = hv_path_resolve(c->base, value);
		goto store;
	case HV_CFG_STRING:
	string:
		s = strdup(value);
	store:
		if (s == NULL) {
			c->nomem = 1;
			return 0;
		}
		free(*(char **)((char *)c->out + k->offset));
		*(char **)((char *)c->out + k->offset) = s;
		break;
	}
	if (i < sizeof(c->seen))
		c->seen[i] = 1;
	return 1;
}

/*
 * inih goes on parsing after a bad line and reports the first bad line's
 * number, so only the first bad key may fill reason and field: the lines
 * after it are skipped.
 */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;

	if (c->errline != 0 || c->nomem)
		return 0;
	if (check_key(c, section, name, value))
		return 1;
	if (!c->nomem)
		c->errline = c->lineno;
	return 0;
}

/*
 * fgets for inih that counts lines, so the handler knows its line, and
 * stops at a line longer than inih's buffer: inih would otherwise cut it
 * and parse the rest as a line of its own, silently truncating a value.
 */
static char *
read_line(char *buf, int cap, void *stream)
{
	struct load_ctx *c = stream;
	size_t n;
	int ch;

	if (fgets(buf, cap, c->fp) == NULL)
		return NULL;
	c->lineno++;
	n = strlen(buf);
	if (n == 0 || buf[n - 1] == '\n')
		return buf;
	if ((ch = getc(c->fp)) == EOF || ch == '\n')
		return buf;
	if (c->errline == 0) {
		c->errline = c->lineno;
		snprintf(c->field, sizeof(c->field), "config");
		snprintf(c->reason, sizeof(c->reason),
		    "line is longer than "
		    "%d characters",
		    cap - 1);
	}
	return NULL;
}

static int
apply_default(struct load_ctx *c, const struct hv_cfg_key *k)
{
	char *s;

	if (k->type == HV_CFG_U64) {
		*(uint64_t *)((char *)c->out + k->offset) =
		    strtoull(k->def, NULL, 10);
		return 0;
	}
	s = k->type == HV_CFG_PATH ? hv_path_resolve(c->base, k->def) :
	                             strdup(k->def);
	if (s == NULL)
		return -1;
	*(char **)((char *)c->out + k->offset) = s;
	return 0;
}

hv_err
hv_config_load(const char *path, const char *section,
    const struct hv_cfg_key *keys, void *out, struct hv_errdetail *d)
{
	struct load_ctx c;
	struct stat st;
	hv_err err = HV_OK;
	int line;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.path = path;
	c.section = section;
	c.keys = keys;
	c.out = out;
	if ((c.base = hv_path_dirname(path)) == NULL)
		return HV_ENOMEM;
	if ((c.fp = fopen(path, "r")) == NULL) {
		err = hv_errset(d, HV_EIO, "config",
		    "cannot open config file "
		    "%s: %s",
		    path, strerror(errno));
		goto out;
	}
	/*
	 * fopen opens a folder for reading and inih takes its failed read
	 * for an empty file. (A pipe stays allowed: --config <(...).)
	 */
	if (fstat(fileno(c.fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		err = hv_errset(d, HV_EIO, "config",
		    "cannot read config file "
		    "%s: it is a folder",
		    path);
		fclose(c.fp);
		goto out;
	}
	line = ini_parse_stream(read_line, &c, handler, &c);
	fclose(c.fp);
	if (c.nomem) {
		err = HV_ENOMEM;
		goto out;
	}
	/* A bad line inih found itself has no reason of ours. */
	if (line > 0 && line != c.errline) {
		err = hv_errset(d, HV_EBADCONFIG, "config",
		    "%s:%d: syntax "
		    "error (expected 'key = value' or '[section]')",
		    path, line);
		goto out;
	}
	if (c.errline > 0) {
		err = hv_errset(d, HV_EBADCONFIG, c.field, "%s:%d: %s", path,
		    c.errline, c.reason);
		goto out;
	}
	if (line < 0) {
		err = hv_errset(d, HV_EIO, "config", "cannot read %s", path);
		goto out;
	}
	for (i = 0; keys[i].name != NULL; i++) {
		if (i < sizeof(c.seen) && c.seen[i])
			continue;
		if (keys[i].required) {
			err = hv_errset(d, HV_EBADCONFIG, keys[i].name,
			    "%s: required key '%s' is missing from [%s]", path,
			    keys[i].name, section);
			goto out;
		}
		if (keys[i].def != NULL && apply_default(&c, &keys[i]) != 0) {
			err = HV_ENOMEM;
			goto out;
		}
	}
out:
	if (err != HV_OK)
		hv_config_free(keys, out);
	free(c.base);
	return err;
}

void
hv_config_free(const struct hv_cfg_key *keys, void *out)
{
	for (const struct hv_cfg_key *k = keys; k->name != NULL; k++) {
		if (k->type == HV_CFG_U64 || k->type == HV_CFG_U64_BY_NAME)
			continue;
		char **p = (char **)((char *)out + k->offset);
		free(*p);
		*p = NULL;
	}
}
