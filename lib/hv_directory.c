/*
 * hv_directory — the partnership's signed directory (SPEC §5).
 *
 * Signs a directory with the root key into a protobuf SignedDirectory,
 * loads one back (signature first, then every field, refused with the
 * field at fault), and answers the look-ups the broker and agents make.
 * The agreement's parser is hv_agreement.c; both share the checks of
 * hv_directory_int.h, so a directory that loads is one the parser could
 * have produced: valid node ids, 32-byte keys, no key shared by two nodes,
 * roles that some node has or that the default agreement knows, SPEC §4.1
 * types. A loaded directory is immutable. This module never logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "haven.pb-c.h"
#include "hv_config.h"
#include "hv_directory.h"
#include "hv_directory_int.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_policy.h"
#include "hv_util.h"

#define DIRECTORY_MAX (16 * 1024 * 1024) /* bytes of SignedDirectory */

/* The root signs this tag, with its NUL, followed by the body. */
static const char sig_tag[] = "haven-directory-v1";
/* A root hands over by signing this tag, with its NUL, and the new key. */
static const char handover_tag[] = "haven-root-handover-v1";

static const char *const default_roles[] = { "police", "health", "education",
	"social-care", "ig", "broker", "root", NULL };

/* ---- checks shared with hv_agreement.c ----------------------------------- */

/* 1 for a role name: 1..64 of [a-z0-9-]. */
int
hv_dir_role_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HV_ROLE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* 1 for a partnership name: 1..64 of [A-Za-z0-9._-]. */
int
hv_dir_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HV_DIR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		        s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* 1 for tcp://HOST:PORT with a numeric port 1..65535 agents can dial. */
int
hv_dir_endpoint_valid(const char *s)
{
	const char *host, *colon;
	size_t n = strlen(s);
	unsigned long port = 0;

	if (n > HV_DIR_ENDPOINT_MAX || strncmp(s, "tcp://", 6) != 0)
		return 0;
	host = s + 6;
	colon = strrchr(host, ':');
	if (colon == NULL || colon == host || colon[1] == '\0' ||
	    strlen(colon + 1) > 5)
		return 0;
	for (const char *p = host; p < colon; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/')
			return 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

/* 1 when role is a default role or the role of some node of dir. */
int
hv_dir_role_known(const hv_directory *dir, const char *role)
{
	for (size_t i = 0; default_roles[i] != NULL; i++)
		if (strcmp(default_roles[i], role) == 0)
			return 1;
	for (size_t i = 0; i < dir->n_nodes; i++)
		if (strcmp(dir->nodes[i].role, role) == 0)
			return 1;
	return 0;
}

hv_directory *
hv_dir_new(void)
{
	return calloc(1, sizeof(hv_directory));
}

/* Appends a zeroed node and returns it, or NULL when full or out of memory. */
struct hv_node *
hv_dir_add_node(hv_directory *dir, const char *id, unsigned line)
{
	struct hv_node *n;

	if (dir->n_nodes >= HV_DIR_NODES_MAX)
		return NULL;
	if (dir->n_nodes == dir->cap_nodes) {
		size_t cap = dir->cap_nodes ? dir->cap_nodes * 2 : 16;
		struct hv_node *nn;
		unsigned *nl;

		if ((nn = realloc(dir->nodes, cap * sizeof(*nn))) == NULL)
			return NULL;
		dir->nodes = nn;
		if ((nl = realloc(dir->node_lines, cap * sizeof(*nl))) == NULL)
			return NULL;
		dir->node_lines = nl;
		dir->cap_nodes = cap;
	}
	n = &dir->nodes[dir->n_nodes];
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	hv_node_role(id, n->role, sizeof(n->role));
	dir->node_lines[dir->n_nodes] = line;
	dir->n_nodes++;
	return n;
}

struct hv_rule *
hv_dir_add_rule(hv_directory *dir)
{
	struct hv_rule *r;

	if (dir->n_rules >= HV_DIR_RULES_MAX)
		return NULL;
	if (dir->n_rules == dir->cap_rules) {
		size_t cap = dir->cap_rules ? dir->cap_rules * 2 : 8;
		struct hv_rule *nr;

		if ((nr = realloc(dir->rules, cap * sizeof(*nr))) == NULL)
			return NULL;
		dir->rules = nr;
		dir->cap_rules = cap;
	}
	r = &dir->rules[dir->n_rules++];
	memset(r, 0, sizeof(*r));
	return r;
}

struct hv_node *
hv_dir_find_node(const hv_directory *dir, const char *id)
{
	for (size_t i = 0; i < dir->n_nodes; i++)
		if (strcmp(dir->nodes[i].id, id) == 0)
			return &dir->nodes[i];
	return NULL;
}

int
hv_dir_keys_overlap(const struct hv_pubkeys *a, const struct hv_pubkeys *b)
{
	return memcmp(a->curve, b->curve, HV_CURVE_KEY_LEN) == 0 ||
	    memcmp(a->sign, b->sign, HV_SIGN_PUBLIC_LEN) == 0 ||
	    memcmp(a->box, b->box, HV_BOX_KEY_LEN) == 0;
}

/* ---- signing ------------------------------------------------------------- */

/* The bytes the root signs: the tag with its NUL, then the body. */
static uint8_t *
signed_message(const uint8_t *body, size_t len, size_t *mlen)
{
	uint8_t *m;

	if ((m = malloc(sizeof(sig_tag) + len)) == NULL)
		return NULL;
	memcpy(m, sig_tag, sizeof(sig_tag));
	if (len > 0)
		memcpy(m + sizeof(sig_tag), body, len);
	*mlen = sizeof(sig_tag) + len;
	return m;
}

/* A protobuf view of dir; every pointer points into dir or `store`. */
struct proto_view {
	Haven__Directory pd;
	Haven__DirNode *nodes, **node_ptrs;
	Haven__DirRule *rules, **rule_ptrs;
	Haven__PreviousSignKey *prevs, **prev_ptrs;
	char **strs; /* one array of char * per list */
};

static void
proto_view_free(struct proto_view *v)
{
	free(v->nodes);
	free(v->node_ptrs);
	free(v->rules);
	free(v->rule_ptrs);
	free(v->prevs);
	free(v->prev_ptrs);
	free(v->strs);
}

static hv_err
proto_view_fill(struct proto_view *v, const hv_directory *dir)
{
	size_t nstr = 0, k = 0, nprev = 0, kp = 0;

	memset(v, 0, sizeof(*v));
	haven__directory__init(&v->pd);
	for (size_t i = 0; i < dir->n_nodes; i++) {
		nstr += dir->nodes[i].n_scope;
		nprev += dir->nodes[i].prev_sign.n;
	}
	for (size_t i = 0; i < dir->n_rules; i++)
		nstr += dir->rules[i].n_senders + dir->rules[i].n_recipients +
		    dir->rules[i].n_types;
	v->nodes = calloc(dir->n_nodes + 1, sizeof(*v->nodes));
	v->node_ptrs = calloc(dir->n_nodes + 1, sizeof(*v->node_ptrs));
	v->rules = calloc(dir->n_rules + 1, sizeof(*v->rules));
	v->rule_ptrs = calloc(dir->n_rules + 1, sizeof(*v->rule_ptrs));
	v->strs = calloc(nstr + 1, sizeof(*v->strs));
	v->prevs = calloc(nprev + 1, sizeof(*v->prevs));
	v->prev_ptrs = calloc(nprev + 1, sizeof(*v->prev_ptrs));
	if (!v->nodes || !v->node_ptrs || !v->rules || !v->rule_ptrs ||
	    !v->strs || !v->prevs || !v->prev_ptrs)
		return HV_ENOMEM;

	v->pd.partnership = (char *)dir->partnership;
	v->pd.version = dir->version;
	v->pd.built = dir->built;
	v->pd.broker_id = (char *)dir->broker_id;
	for (size_t i = 0; i < dir->n_nodes; i++) {
		const struct hv_node *n = &dir->nodes[i];
		Haven__DirNode *pn = &v->nodes[i];

		haven__dir_node__init(pn);
		pn->id = (char *)n->id;
		pn->revoked = n->revoked != 0;
		pn->has_keys = n->has_keys != 0;
		if (n->has_keys) {
			pn->sign_public.data = (uint8_t *)n->keys.sign;
			pn->sign_public.len = HV_SIGN_PUBLIC_LEN;
			pn->box_public.data = (uint8_t *)n->keys.box;
			pn->box_public.len = HV_BOX_KEY_LEN;
			pn->curve_public.data = (uint8_t *)n->keys.curve;
			pn->curve_public.len = HV_CURVE_KEY_LEN;
		}
		pn->n_scope = n->n_scope;
		pn->scope = &v->strs[k];
		for (size_t j = 0; j < n->n_scope; j++)
			v->strs[k++] = (char *)n->scope[j];
		pn->endpoint = (char *)n->endpoint;
		pn->n_previous_sign = n->prev_sign.n;
		pn->previous_sign = &v->prev_ptrs[kp];
		for (size_t j = 0; j < n->prev_sign.n; j++, kp++) {
			Haven__PreviousSignKey *pk = &v->prevs[kp];

			haven__previous_sign_key__init(pk);
			pk->sign_public.data =
			    (uint8_t *)n->prev_sign.k[j].sign;
			pk->sign_public.len = HV_SIGN_PUBLIC_LEN;
			pk->until = n->prev_sign.k[j].until_ms;
			v->prev_ptrs[kp] = pk;
		}
		v->node_ptrs[i] = pn;
	}
	v->pd.n_nodes = dir->n_nodes;
	v->pd.nodes = v->node_ptrs;
	for (size_t i = 0; i < dir->n_rules; i++) {
		const struct hv_rule *r = &dir->rules[i];
		Haven__DirRule *pr = &v->rules[i];

		haven__dir_rule__init(pr);
		pr->n_sender_roles = r->n_senders;
		pr->sender_roles = &v->strs[k];
		for (size_t j = 0; j < r->n_senders; j++)
			v->strs[k++] = (char *)r->senders[j];
		pr->n_recipient_roles = r->n_recipients;
		pr->recipient_roles = &v->strs[k];
		for (size_t j = 0; j < r->n_recipients; j++)
			v->strs[k++] = (char *)r->recipients[j];
		pr->n_types = r->n_types;
		pr->types = &v->strs[k];
		for (size_t j = 0; j < r->n_types; j++)
			v->strs[k++] = (char *)r->types[j];
		pr->art9_required = r->art9_required != 0;
		pr->line = r->line;
		v->rule_ptrs[i] = pr;
	}
	v->pd.n_rules = dir->n_rules;
	v->pd.rules = v->rule_ptrs;
	return HV_OK;
}

/* The bytes of a root handover's signature: the tag, then the new key. */
static void
handover_message(const uint8_t new_root[HV_SIGN_PUBLIC_LEN],
    uint8_t out[sizeof(handover_tag) + HV_SIGN_PUBLIC_LEN])
{
	memcpy(out, handover_tag, sizeof(handover_tag));
	memcpy(out + sizeof(handover_tag), new_root, HV_SIGN_PUBLIC_LEN);
}

static hv_err
sign_dir(const hv_directory *dir, const hv_keys *root, const hv_keys *old,
    uint8_t **out, size_t *len)
{
	struct proto_view v;
	Haven__SignedDirectory sd = HAVEN__SIGNED_DIRECTORY__INIT;
	Haven__RootHandover ho = HAVEN__ROOT_HANDOVER__INIT;
	uint8_t hmsg[sizeof(handover_tag) + HV_SIGN_PUBLIC_LEN];
	uint8_t hsig[crypto_sign_BYTES];
	uint8_t *body = NULL, *msg = NULL, *packed = NULL;
	uint8_t sig[crypto_sign_BYTES];
	size_t blen, mlen, plen;
	hv_err e;

	if ((e = proto_view_fill(&v, dir)) != HV_OK)
		goto out;
	blen = haven__directory__get_packed_size(&v.pd);
	if ((body = malloc(blen ? blen : 1)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	haven__directory__pack(&v.pd, body);
	if ((msg = signed_message(body, blen, &mlen)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	crypto_sign_detached(sig, NULL, msg, mlen, root->sign_secret);
	sd.body.data = body;
	sd.body.len = blen;
	sd.signature.data = sig;
	sd.signature.len = sizeof(sig);
	if (old != NULL) {
		handover_message(root->pub.sign, hmsg);
		crypto_sign_detached(hsig, NULL, hmsg, sizeof(hmsg),
		    old->sign_secret);
		ho.new_root.data = (uint8_t *)root->pub.sign;
		ho.new_root.len = HV_SIGN_PUBLIC_LEN;
		ho.old_root.data = (uint8_t *)old->pub.sign;
		ho.old_root.len = HV_SIGN_PUBLIC_LEN;
		ho.signature.data = hsig;
		ho.signature.len = sizeof(hsig);
		sd.handover = &ho;
	}
	plen = haven__signed_directory__get_packed_size(&sd);
	if ((packed = malloc(plen)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	haven__signed_directory__pack(&sd, packed);
	*out = packed;
	*len = plen;
	packed = NULL;
	e = HV_OK;
out:
	proto_view_free(&v);
	free(packed);
	free(msg);
	free(body);
	return e;
}

hv_err
hv_directory_sign(const hv_directory *dir, const hv_keys *root, uint8_t **out,
    size_t *len)
{
	return sign_dir(dir, root, NULL, out, len);
}

hv_err
hv_directory_sign_handover(const hv_directory *dir, const hv_keys *new_root,
    const hv_keys *old_root, uint8_t **out, size_t *len)
{
	return sign_dir(dir, new_root, old_root, out, len);
}

/* ---- loading ------------------------------------------------------------- */

/* Refuses the directory naming the field ("nodes[3].id"). */
static hv_err __attribute__((format(printf, 3, 4)))
derr(struct hv_errdetail *d, const char *field, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hv_errset(d, HV_EBADDIRECTORY, field, "%s", msg);
}

/* Copies a checked string into a fixed field; 0 when it did not fit. */
static int
copy_str(char *dst, size_t cap, const char *src)
{
	return src != NULL && hv_strlcpy_checked(dst, src, cap) == 0;
}

static hv_err
decode_node(hv_directory *dir, const Haven__DirNode *pn, size_t i,
    struct hv_errdetail *d)
{
	char f[64];
	struct hv_node *n;

	snprintf(f, sizeof(f), "nodes[%zu].id", i);
	if (pn->id == NULL || !hv_node_id_valid(pn->id))
		return derr(d, f, "Directory node %zu has an invalid id.", i);
	if (hv_dir_find_node(dir, pn->id) != NULL)
		return derr(d, f, "Directory node %.64s appears twice.",
		    pn->id);
	if ((n = hv_dir_add_node(dir, pn->id, 0)) == NULL)
		return dir->n_nodes >= HV_DIR_NODES_MAX ?
		    derr(d, "nodes", "The directory has more than %d nodes.",
		        HV_DIR_NODES_MAX) :
		    HV_ENOMEM;
	n->revoked = pn->revoked;
	n->has_keys = pn->has_keys;
	if (pn->has_keys) {
		if (pn->sign_public.len != HV_SIGN_PUBLIC_LEN) {
			snprintf(f, sizeof(f), "nodes[%zu].sign_public", i);
			return derr(d, f,
			    "Node %.64s's signing key is not "
			    "32 bytes.",
			    n->id);
		}
		if (pn->box_public.len != HV_BOX_KEY_LEN) {
			snprintf(f, sizeof(f), "nodes[%zu].box_public", i);
			return derr(d, f,
			    "Node %.64s's encryption key is not "
			    "32 bytes.",
			    n->id);
		}
		if (pn->curve_public.len != HV_CURVE_KEY_LEN) {
			snprintf(f, sizeof(f), "nodes[%zu].curve_public", i);
			return derr(d, f,
			    "Node %.64s's CURVE key is not 32 "
			    "bytes.",
			    n->id);
		}
		memcpy(n->keys.sign, pn->sign_public.data, HV_SIGN_PUBLIC_LEN);
		memcpy(n->keys.box, pn->box_public.data, HV_BOX_KEY_LEN);
		memcpy(n->keys.curve, pn->curve_public.data, HV_CURVE_KEY_LEN);
		snprintf(f, sizeof(f), "nodes[%zu].previous_sign", i);
		if (pn->n_previous_sign > HV_PREV_KEYS_MAX)
			return derr(d, f,
			    "Node %.64s lists more than %d "
			    "previous signing keys.",
			    n->id, HV_PREV_KEYS_MAX);
		for (size_t j = 0; j < pn->n_previous_sign; j++) {
			const Haven__PreviousSignKey *pk = pn->previous_sign[j];

			if (pk->sign_public.len != HV_SIGN_PUBLIC_LEN ||
			    pk->until <= 0 ||
			    (j > 0 &&
			        pk->until > n->prev_sign.k[j - 1].until_ms))
				return derr(d, f,
				    "Node %.64s's previous "
				    "signing key %zu is not 32 bytes with a "
				    "positive end time, newest first.",
				    n->id, j + 1);
			memcpy(n->prev_sign.k[j].sign, pk->sign_public.data,
			    HV_SIGN_PUBLIC_LEN);
			n->prev_sign.k[j].until_ms = pk->until;
		}
		n->prev_sign.n = pn->n_previous_sign;
		for (size_t j = 0; j + 1 < dir->n_nodes; j++) {
			const struct hv_node *o = &dir->nodes[j];

			if (o->has_keys &&
			    hv_dir_keys_overlap(&o->keys, &n->keys)) {
				snprintf(f, sizeof(f), "nodes[%zu].keys", i);
				return derr(d, f,
				    "Nodes %.64s and %.64s share "
				    "a key.",
				    o->id, n->id);
			}
		}
	} else {
		snprintf(f, sizeof(f), "nodes[%zu].has_keys", i);
		if (!pn->revoked || pn->sign_public.len || pn->box_public.len ||
		    pn->curve_public.len)
			return derr(d, f,
			    "Node %.64s has no keys, so it must "
			    "be revoked and carry no key fields.",
			    n->id);
	}

	snprintf(f, sizeof(f), "nodes[%zu].scope", i);
	if (pn->n_scope > 0 && strcmp(n->role, "ig") != 0)
		return derr(d, f,
		    "Node %.64s has a scope but only ig nodes "
		    "may.",
		    n->id);
	if (pn->n_scope == 0 && strcmp(n->role, "ig") == 0 && pn->has_keys)
		return derr(d, f, "The ig node %.64s has no scope.", n->id);
	if (pn->n_scope > HV_SCOPE_MAX)
		return derr(d, f,
		    "Node %.64s's scope lists more than %d "
		    "roles.",
		    n->id, HV_SCOPE_MAX);
	for (size_t j = 0; j < pn->n_scope; j++) {
		const char *s = pn->scope[j];

		if (s == NULL ||
		    (strcmp(s, "*") != 0 && !hv_dir_role_valid(s)) ||
		    (strcmp(s, "*") == 0 && pn->n_scope != 1))
			return derr(d, f,
			    "Node %.64s's scope entry %zu is "
			    "not '*' alone or a role.",
			    n->id, j);
		snprintf(n->scope[j], sizeof(n->scope[j]), "%s", s);
	}
	n->n_scope = pn->n_scope;

	snprintf(f, sizeof(f), "nodes[%zu].endpoint", i);
	if (pn->endpoint != NULL && pn->endpoint[0] != '\0') {
		if (strcmp(n->id, dir->broker_id) != 0)
			return derr(d, f,
			    "Node %.64s has an endpoint but is "
			    "not the broker.",
			    n->id);
		if (!hv_dir_endpoint_valid(pn->endpoint))
			return derr(d, f,
			    "The broker's endpoint is not "
			    "tcp://HOST:PORT.");
		snprintf(n->endpoint, sizeof(n->endpoint), "%s", pn->endpoint);
	}
	return HV_OK;
}

/* Copies one role or type list of a rule, checking each entry. */
static hv_err
decode_list(const hv_directory *dir, char **src, size_t n, char *out,
    size_t width, size_t *nout, enum hv_dir_list kind, size_t ri,
    struct hv_errdetail *d)
{
	static const char *const names[] = { "sender_roles", "recipient_roles",
		"types" };
	char f[64];

	snprintf(f, sizeof(f), "rules[%zu].%s", ri, names[kind]);
	if (n == 0 || n > HV_RULE_LIST_MAX)
		return derr(d, f, "Rule %zu must list between 1 and %d %s.", ri,
		    HV_RULE_LIST_MAX, names[kind]);
	for (size_t i = 0; i < n; i++) {
		const char *s = src[i];
		int ok;

		if (s == NULL)
			ok = 0;
		else if (kind == HV_LIST_TYPES)
			ok = hv_policy_type_valid(s);
		else if (kind == HV_LIST_SENDERS && strcmp(s, "*") == 0)
			ok = 1;
		else
			ok = hv_dir_role_valid(s) && hv_dir_role_known(dir, s);
		if (!ok)
			return derr(d, f,
			    "Rule %zu has an entry %zu in %s "
			    "that is not a %s.",
			    ri, i, names[kind],
			    kind == HV_LIST_TYPES ? "message type" :
			                            "role of the directory");
		snprintf(out + i * width, width, "%s", s);
	}
	*nout = n;
	return HV_OK;
}

/* Decodes and checks a packed Directory body. */
static hv_err
decode_body(const uint8_t *body, size_t len, hv_directory **out,
    struct hv_errdetail *d)
{
	Haven__Directory *pd;
	hv_directory *dir = NULL;
	const struct hv_node *broker;
	hv_err e;

	if ((pd = haven__directory__unpack(NULL, len, body)) == NULL)
		return derr(d, "body",
		    "The directory's body cannot be "
		    "decoded.");
	if ((dir = hv_dir_new()) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	if (!hv_dir_name_valid(pd->partnership) ||
	    !copy_str(dir->partnership, sizeof(dir->partnership),
	        pd->partnership)) {
		e = derr(d, "partnership",
		    "The directory's partnership name "
		    "is not valid.");
		goto out;
	}
	if (pd->version == 0) {
		e = derr(d, "version",
		    "The directory's version is 0; "
		    "versions start at 1.");
		goto out;
	}
	dir->version = pd->version;
	if (pd->built < 0) {
		e = derr(d, "built",
		    "The directory's build time is "
		    "negative.");
		goto out;
	}
	dir->built = pd->built;
	if (pd->broker_id == NULL || !hv_node_id_valid(pd->broker_id) ||
	    strncmp(pd->broker_id, "broker.", 7) != 0) {
		e = derr(d, "broker_id",
		    "The directory's broker_id is not a "
		    "broker node id.");
		goto out;
	}
	snprintf(dir->broker_id, sizeof(dir->broker_id), "%s", pd->broker_id);
	if (pd->n_nodes > HV_DIR_NODES_MAX) {
		e = derr(d, "nodes", "The directory has more than %d nodes.",
		    HV_DIR_NODES_MAX);
		goto out;
	}
	for (size_t i = 0; i < pd->n_nodes; i++)
		if ((e = decode_node(dir, pd->nodes[i], i, d)) != HV_OK)
			goto out;
	broker = hv_directory_broker(dir);
	if (broker == NULL || !broker->has_keys || broker->revoked ||
	    broker->endpoint[0] == '\0') {
		e = derr(d, "broker_id",
		    "The directory's broker %.64s is "
		    "missing, revoked, or has no keys or endpoint.",
		    dir->broker_id);
		goto out;
	}
	/* Scopes name roles, which are known only once every node is in. */
	for (size_t i = 0; i < dir->n_nodes; i++)
		for (size_t j = 0; j < dir->nodes[i].n_scope; j++)
			if (strcmp(dir->nodes[i].scope[j], "*") != 0 &&
			    !hv_dir_role_known(dir, dir->nodes[i].scope[j])) {
				char f[64];

				snprintf(f, sizeof(f), "nodes[%zu].scope", i);
				e = derr(d, f,
				    "Node %.64s's scope names a "
				    "role no node has.",
				    dir->nodes[i].id);
				goto out;
			}
	if (pd->n_rules > HV_DIR_RULES_MAX) {
		e = derr(d, "rules", "The directory has more than %d rules.",
		    HV_DIR_RULES_MAX);
		goto out;
	}
	for (size_t i = 0; i < pd->n_rules; i++) {
		const Haven__DirRule *pr = pd->rules[i];
		struct hv_rule *r;

		if ((r = hv_dir_add_rule(dir)) == NULL) {
			e = HV_ENOMEM;
			goto out;
		}
		r->line = pr->line;
		r->art9_required = pr->art9_required;
		if ((e = decode_list(dir, pr->sender_roles, pr->n_sender_roles,
		         &r->senders[0][0], sizeof(r->senders[0]),
		         &r->n_senders, HV_LIST_SENDERS, i, d)) != HV_OK ||
		    (e = decode_list(dir, pr->recipient_roles,
		         pr->n_recipient_roles, &r->recipients[0][0],
		         sizeof(r->recipients[0]), &r->n_recipients,
		         HV_LIST_RECIPIENTS, i, d)) != HV_OK ||
		    (e = decode_list(dir, pr->types, pr->n_types,
		         &r->types[0][0], sizeof(r->types[0]), &r->n_types,
		         HV_LIST_TYPES, i, d)) != HV_OK)
			goto out;
	}
	*out = dir;
	dir = NULL;
	e = HV_OK;
out:
	if (e == HV_ENOMEM)
		hv_errset(d, HV_ENOMEM, NULL,
		    "Out of memory while loading "
		    "the directory.");
	hv_directory_destroy(&dir);
	haven__directory__free_unpacked(pd, NULL);
	return e;
}

/*
 * A handover, when present, must be well formed and signed by the old root
 * it names; whether that old root is the one this node trusts is load's
 * question.
 */
static hv_err
handover_check(const Haven__RootHandover *h, struct hv_errdetail *d)
{
	uint8_t msg[sizeof(handover_tag) + HV_SIGN_PUBLIC_LEN];

	if (h == NULL)
		return HV_OK;
	if (h->new_root.len != HV_SIGN_PUBLIC_LEN ||
	    h->old_root.len != HV_SIGN_PUBLIC_LEN ||
	    h->signature.len != crypto_sign_BYTES)
		return derr(d, "handover",
		    "The directory's root handover is "
		    "malformed: its keys must be 32 bytes and its signature "
		    "64.");
	handover_message(h->new_root.data, msg);
	if (crypto_sign_verify_detached(h->signature.data, msg, sizeof(msg),
	        h->old_root.data) != 0)
		return derr(d, "handover",
		    "The directory's root handover is "
		    "not signed by the root it names.");
	return HV_OK;
}

/* Unpacks the SignedDirectory wrapper; verifies it when root_sign is set. */
static hv_err
load(const uint8_t *buf, size_t len, const uint8_t *root_sign,
    hv_directory **out, struct hv_errdetail *d)
{
	Haven__SignedDirectory *sd;
	uint8_t *msg = NULL;
	size_t mlen;
	hv_err e;

	if (len > DIRECTORY_MAX)
		return derr(d, "directory",
		    "The directory is larger than "
		    "16 MiB.");
	if ((sd = haven__signed_directory__unpack(NULL, len, buf)) == NULL)
		return derr(d, "directory",
		    "The file is not a signed Haven "
		    "directory (it cannot be decoded).");
	if (sd->signature.len != crypto_sign_BYTES) {
		e = derr(d, "signature",
		    "The directory's signature is "
		    "missing or not 64 bytes.");
		goto out;
	}
	if ((e = handover_check(sd->handover, d)) != HV_OK)
		goto out;
	if (root_sign != NULL) {
		const uint8_t *signer = root_sign;

		if ((msg = signed_message(sd->body.data, sd->body.len,
		         &mlen)) == NULL) {
			e = hv_errset(d, HV_ENOMEM, NULL, "Out of memory.");
			goto out;
		}
		/*
		 * A directory signed by a new root is accepted only when the
		 * root this node trusts signed the handover to that key; a
		 * handover from any other key counts for nothing.
		 */
		if (sd->handover != NULL &&
		    memcmp(sd->handover->old_root.data, root_sign,
		        HV_SIGN_PUBLIC_LEN) == 0)
			signer = sd->handover->new_root.data;
		if (crypto_sign_verify_detached(sd->signature.data, msg, mlen,
		        signer) != 0) {
			e = derr(d, "signature",
			    "The directory's signature "
			    "does not verify with the partnership's root key "
			    "(nor with a new root it handed over to): it was "
			    "altered or signed by another root; check that "
			    "the root .pub given is the partnership's, or "
			    "rebuild the directory with its root key.");
			goto out;
		}
	}
	e = decode_body(sd->body.data, sd->body.len, out, d);
	if (e == HV_OK) {
		crypto_generichash((*out)->digest, sizeof((*out)->digest),
		    sd->body.data, sd->body.len, NULL, 0);
		(*out)->has_digest = 1;
		if (sd->handover != NULL) {
			memcpy((*out)->handover_root,
			    sd->handover->new_root.data, HV_SIGN_PUBLIC_LEN);
			(*out)->has_handover = 1;
		}
	}
out:
	free(msg);
	haven__signed_directory__free_unpacked(sd, NULL);
	return e;
}

hv_err
hv_directory_load(const uint8_t *buf, size_t len,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], hv_directory **out,
    struct hv_errdetail *d)
{
	return load(buf, len, root_sign, out, d);
}

hv_err
hv_directory_decode_unverified(const uint8_t *buf, size_t len,
    hv_directory **out, struct hv_errdetail *d)
{
	return load(buf, len, NULL, out, d);
}

hv_err
hv_directory_read_file(const char *path, uint8_t **out, size_t *len,
    struct hv_errdetail *d)
{
	if (hv_read_file(path, DIRECTORY_MAX, out, len) == 0)
		return HV_OK;
	if (errno == EFBIG)
		return derr(d, "directory",
		    "%.120s is not a regular file of "
		    "at most 16 MiB, so it is not a directory.",
		    path);
	if (errno == ENOMEM)
		return hv_errset(d, HV_ENOMEM, NULL, "Out of memory.");
	return hv_errset(d, HV_EIO, "directory",
	    "Cannot read the directory "
	    "%.120s: %s.",
	    path, strerror(errno));
}

hv_err
hv_directory_load_file(const char *path,
    const uint8_t root_sign[HV_SIGN_PUBLIC_LEN], hv_directory **out,
    struct hv_errdetail *d)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	hv_err e;

	if ((e = hv_directory_read_file(path, &buf, &len, d)) != HV_OK)
		return e;
	e = hv_directory_load(buf, len, root_sign, out, d);
	free(buf);
	return e;
}

hv_err
hv_directory_check_newer(const hv_directory *current, const hv_directory *next,
    struct hv_errdetail *d)
{
	if (current == NULL)
		return HV_OK;
	if (strcmp(current->partnership, next->partnership) != 0)
		return derr(d, "partnership",
		    "The directory is for the "
		    "partnership %.64s, not the loaded partnership %.64s.",
		    next->partnership, current->partnership);
	if (next->version < current->version)
		return hv_errset(d, HV_EROLLBACK, "version",
		    "directory "
		    "version %llu is older than the loaded version %llu",
		    (unsigned long long)next->version,
		    (unsigned long long)current->version);
	if (next->version == current->version && current != next) {
		uint8_t a[HV_DIRECTORY_DIGEST_LEN], b[HV_DIRECTORY_DIGEST_LEN];

		if (hv_directory_digest(current, a) != HV_OK ||
		    hv_directory_digest(next, b) != HV_OK)
			return hv_errset(d, HV_ENOMEM, NULL, "Out of memory.");
		if (sodium_memcmp(a, b, sizeof(a)) != 0)
			return hv_errset(d, HV_EROLLBACK, "version",
			    "directory "
			    "version %llu differs from the loaded directory of "
			    "the same version; a changed directory needs a "
			    "higher version",
			    (unsigned long long)next->version);
	}
	return HV_OK;
}

hv_err
hv_directory_digest(const hv_directory *dir,
    uint8_t out[HV_DIRECTORY_DIGEST_LEN])
{
	struct proto_view v;
	uint8_t *body = NULL;
	size_t blen;
	hv_err e;

	if (dir->has_digest) {
		memcpy(out, dir->digest, HV_DIRECTORY_DIGEST_LEN);
		return HV_OK;
	}
	/* Parsed from an agreement: the bytes hv_directory_sign would sign. */
	if ((e = proto_view_fill(&v, dir)) != HV_OK)
		goto out;
	blen = haven__directory__get_packed_size(&v.pd);
	if ((body = malloc(blen ? blen : 1)) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	haven__directory__pack(&v.pd, body);
	crypto_generichash(out, HV_DIRECTORY_DIGEST_LEN, body, blen, NULL, 0);
	e = HV_OK;
out:
	free(body);
	proto_view_free(&v);
	return e;
}

void
hv_directory_destroy(hv_directory **dir)
{
	if (dir == NULL || *dir == NULL)
		return;
	free((*dir)->nodes);
	free((*dir)->node_lines);
	free((*dir)->rules);
	free(*dir);
	*dir = NULL;
}

/* ---- look-ups ------------------------------------------------------------ */

const char *
hv_directory_partnership(const hv_directory *dir)
{
	return dir->partnership;
}

uint64_t
hv_directory_version(const hv_directory *dir)
{
	return dir->version;
}

int64_t
hv_directory_built(const hv_directory *dir)
{
	return dir->built;
}

const struct hv_node *
hv_directory_broker(const hv_directory *dir)
{
	if (dir->broker_id[0] == '\0')
		return NULL;
	return hv_dir_find_node(dir, dir->broker_id);
}

const struct hv_node *
hv_directory_node(const hv_directory *dir, const char *id)
{
	if (id == NULL)
		return NULL;
	return hv_dir_find_node(dir, id);
}

const struct hv_node *
hv_directory_node_by_curve(const hv_directory *dir,
    const uint8_t curve[HV_CURVE_KEY_LEN])
{
	for (size_t i = 0; i < dir->n_nodes; i++)
		if (dir->nodes[i].has_keys &&
		    memcmp(dir->nodes[i].keys.curve, curve, HV_CURVE_KEY_LEN) ==
		        0)
			return &dir->nodes[i];
	return NULL;
}

size_t
hv_directory_node_count(const hv_directory *dir)
{
	return dir->n_nodes;
}

const struct hv_node *
hv_directory_node_at(const hv_directory *dir, size_t i)
{
	return i < dir->n_nodes ? &dir->nodes[i] : NULL;
}

size_t
hv_directory_rule_count(const hv_directory *dir)
{
	return dir->n_rules;
}

const struct hv_rule *
hv_directory_rule_at(const hv_directory *dir, size_t i)
{
	return i < dir->n_rules ? &dir->rules[i] : NULL;
}

int
hv_directory_handover(const hv_directory *dir, uint8_t out[HV_SIGN_PUBLIC_LEN])
{
	if (!dir->has_handover)
		return 0;
	memcpy(out, dir->handover_root, HV_SIGN_PUBLIC_LEN);
	return 1;
}

hv_err
hv_node_verify_at(const struct hv_node *n, const uint8_t *msg, size_t len,
    const uint8_t sig[64], int64_t at_ms)
{
	if (n == NULL || !n->has_keys)
		return HV_EBADSIG;
	return hv_sign_verify_at(n->keys.sign, &n->prev_sign, msg, len, sig,
	    at_ms);
}

int
hv_directory_scope_allows(const struct hv_node *ig, const char *role)
{
	if (ig == NULL || role == NULL || ig->revoked)
		return 0;
	for (size_t i = 0; i < ig->n_scope; i++)
		if (strcmp(ig->scope[i], "*") == 0 ||
		    strcmp(ig->scope[i], role) == 0)
			return 1;
	return 0;
}
