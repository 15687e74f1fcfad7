/*
 * hv_agreement — the parser of the partnership's information-sharing
 * agreement (SPEC §5), the text file the administrator edits.
 *
 * It reads the agreement and the .pub files it names (relative to the
 * agreement's folder) into a directory, and refuses any mistake with
 * "FILE:LINE: sentence quoting the bad token" and the field "line N", so an
 * administrator can fix it without guessing. Checks that need the whole
 * file (required lines, revokes, roles that no node has) run at the end.
 * Signing and loading the result live in hv_directory.c; both files share
 * the checks of hv_directory_int.h. This module never logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_config.h"
#include "hv_sealed.h"
#include "hv_directory.h"
#include "hv_directory_int.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_policy.h"
#include "hv_util.h"

#define AGREEMENT_MAX (1024 * 1024) /* bytes of agreement text */
#define LINE_MAX_LEN 4096
#define WORDS_MAX 8

struct parse {
	const char *path; /* as the caller named it, for messages */
	char *base; /* its folder, for relative .pub paths */
	unsigned line;
	hv_directory *dir;
	unsigned partnership_line, version_line, broker_line;
	struct revoke {
		char id[HV_NODE_MAX + 1];
		unsigned line;
	} * revokes;
	size_t n_revokes, cap_revokes;
	int nomem;
	struct hv_errdetail *d;
};

/* Refuses the agreement at line `line` with "FILE:LINE: sentence". */
static hv_err __attribute__((format(printf, 3, 4)))
perr_at(struct parse *p, unsigned line, const char *fmt, ...)
{
	char msg[320], field[32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(field, sizeof(field), "line %u", line);
	return hv_errset(p->d, HV_EBADAGREEMENT, field, "%.120s:%u: %s.",
	    p->path, line, msg);
}

#define perr(p, ...) perr_at((p), (p)->line, __VA_ARGS__)

static hv_err
nomem(struct parse *p)
{
	return hv_errset(p->d, HV_ENOMEM, NULL,
	    "Out of memory while reading the agreement %.120s.", p->path);
}

/* Splits s at blanks into at most WORDS_MAX words; returns the count. */
static int
split_words(char *s, char **w)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return n;
		if (n == WORDS_MAX)
			return n + 1;
		w[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* Reads the .pub file named on the current line into keys. */
static hv_err
load_pub(struct parse *p, const char *node, const char *file,
    struct hv_pubkeys *keys, struct hv_prev_signs *prev)
{
	struct hv_errdetail kd;
	char *path;
	hv_err e;

	if ((path = hv_path_resolve(p->base, file)) == NULL)
		return nomem(p);
	hv_errclear(&kd);
	e = hv_pubkeys_load_prev(path, keys, prev, &kd);
	free(path);
	if (e == HV_ENOMEM)
		return nomem(p);
	if (e != HV_OK) {
		char why[160];
		size_t n;

		/* perr ends the sentence itself. */
		snprintf(why, sizeof(why), "%s", hv_errmsg(e, &kd));
		n = strlen(why);
		if (n > 0 && why[n - 1] == '.')
			why[n - 1] = '\0';
		return perr(p,
		    "cannot use the public key file '%.80s' of "
		    "%.64s: %s",
		    file, node, why);
	}
	return HV_OK;
}

/* Refuses a key that another node already holds: it would be two names
 * for one holder, and look-ups by CURVE key would be ambiguous. */
static hv_err
check_unique_keys(struct parse *p, const char *id, const struct hv_pubkeys *k)
{
	for (size_t i = 0; i < p->dir->n_nodes; i++) {
		const struct hv_node *o = &p->dir->nodes[i];

		if (!o->has_keys)
			continue;
		if (hv_dir_keys_overlap(&o->keys, k))
			return perr(p,
			    "%.64s has the same key as %.64s "
			    "(line %u); every node needs its own keys from "
			    "'haven keygen'",
			    id, o->id, p->dir->node_lines[i]);
	}
	return HV_OK;
}

/* Common part of `broker` and `node` lines: id checks, keys, the node. */
static hv_err
add_keyed_node(struct parse *p, const char *id, const char *file,
    struct hv_node **out)
{
	struct hv_prev_signs prev;
	struct hv_pubkeys keys;
	struct hv_node *n;
	size_t idx;
	hv_err e;

	if (!hv_node_id_valid(id))
		return perr(p,
		    "'%.64s' is not a node id like police.avon "
		    "(ROLE.NAME, lowercase letters, digits and dashes, at "
		    "most 64 characters)",
		    id);
	if ((n = hv_dir_find_node(p->dir, id)) != NULL)
		return perr(p,
		    "node %.64s is declared twice (first on line "
		    "%u)",
		    id, p->dir->node_lines[n - p->dir->nodes]);
	if ((e = load_pub(p, id, file, &keys, &prev)) != HV_OK)
		return e;
	if ((e = check_unique_keys(p, id, &keys)) != HV_OK)
		return e;
	idx = p->dir->n_nodes;
	if ((n = hv_dir_add_node(p->dir, id, p->line)) == NULL) {
		if (idx >= HV_DIR_NODES_MAX)
			return perr(p, "the agreement has more than %d nodes",
			    HV_DIR_NODES_MAX);
		return nomem(p);
	}
	n->keys = keys;
	n->prev_sign = prev;
	n->has_keys = 1;
	*out = n;
	return HV_OK;
}

static hv_err
parse_partnership(struct parse *p, char **w, int nw)
{
	if (p->partnership_line)
		return perr(p,
		    "a second partnership line (the first is on "
		    "line %u)",
		    p->partnership_line);
	if (nw != 2)
		return perr(p,
		    "a partnership line is 'partnership NAME', "
		    "one word");
	if (!hv_dir_name_valid(w[1]))
		return perr(p,
		    "'%.64s' is not a partnership name (letters, "
		    "digits, dots, dashes, at most 64)",
		    w[1]);
	snprintf(p->dir->partnership, sizeof(p->dir->partnership), "%s", w[1]);
	p->partnership_line = p->line;
	return HV_OK;
}

static hv_err
parse_version(struct parse *p, char **w, int nw)
{
	uint64_t v = 0;
	size_t n;

	if (p->version_line)
		return perr(p,
		    "a second version line (the first is on line "
		    "%u)",
		    p->version_line);
	if (nw != 2)
		return perr(p,
		    "a version line is 'version N' with N a "
		    "positive whole number");
	n = strlen(w[1]);
	for (size_t i = 0; i < n; i++) {
		if (w[1][i] < '0' || w[1][i] > '9' || n > 18)
			return perr(p,
			    "version '%.24s' is not a positive "
			    "whole number",
			    w[1]);
		v = v * 10 + (uint64_t)(w[1][i] - '0');
	}
	if (v == 0)
		return perr(p,
		    "version '%.24s' is not a positive whole "
		    "number; versions start at 1",
		    w[1]);
	p->dir->version = v;
	p->version_line = p->line;
	return HV_OK;
}

static hv_err
parse_broker(struct parse *p, char **w, int nw)
{
	char role[HV_ROLE_MAX + 1];
	struct hv_node *n;
	hv_err e;

	if (p->broker_line)
		return perr(p,
		    "a second broker line (the first is on line "
		    "%u); a partnership has one broker",
		    p->broker_line);
	if (nw != 4)
		return perr(p,
		    "a broker line is 'broker NODE ENDPOINT "
		    "PUBFILE', for example 'broker broker.bristol "
		    "tcp://127.0.0.1:7400 keys/broker.bristol.pub'");
	hv_node_role(w[1], role, sizeof(role));
	if (hv_node_id_valid(w[1]) && strcmp(role, "broker") != 0)
		return perr(p,
		    "the broker's id '%.64s' must have the role "
		    "broker, like broker.bristol",
		    w[1]);
	if (!hv_dir_endpoint_valid(w[2]))
		return perr(p,
		    "'%.80s' is not an endpoint agents can connect "
		    "to, like tcp://127.0.0.1:7400",
		    w[2]);
	if ((e = add_keyed_node(p, w[1], w[3], &n)) != HV_OK)
		return e;
	snprintf(n->endpoint, sizeof(n->endpoint), "%s", w[2]);
	snprintf(p->dir->broker_id, sizeof(p->dir->broker_id), "%s", w[1]);
	p->broker_line = p->line;
	return HV_OK;
}

/* Parses "scope=*" or "scope=role,role" into the ig node n. */
static hv_err
parse_scope(struct parse *p, struct hv_node *n, char *spec)
{
	char *save = NULL, *tok;

	if (*spec == '\0')
		return perr(p,
		    "'scope=' is empty; write scope=* or a list "
		    "of roles like scope=police,health");
	if (strcmp(spec, "*") == 0) {
		strcpy(n->scope[0], "*");
		n->n_scope = 1;
		return HV_OK;
	}
	for (tok = strtok_r(spec, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "*") == 0)
			return perr(p,
			    "scope '*' already means every role; "
			    "do not list it with other roles");
		if (!hv_dir_role_valid(tok))
			return perr(p,
			    "'%.64s' in scope= is not a role like "
			    "social-care",
			    tok);
		for (size_t i = 0; i < n->n_scope; i++)
			if (strcmp(n->scope[i], tok) == 0)
				return perr(p,
				    "scope= lists the role '%.64s' "
				    "twice",
				    tok);
		if (n->n_scope == HV_SCOPE_MAX)
			return perr(p,
			    "scope= lists more than %d roles; use "
			    "scope=* for all of them",
			    HV_SCOPE_MAX);
		snprintf(n->scope[n->n_scope++], HV_ROLE_MAX + 1, "%s", tok);
	}
	if (n->n_scope == 0)
		return perr(p, "'scope=%.64s' names no role", spec);
	return HV_OK;
}

static hv_err
parse_node(struct parse *p, char **w, int nw)
{
	char role[HV_ROLE_MAX + 1];
	struct hv_node *n;
	hv_err e;

	if (nw < 3 || nw > 4)
		return perr(p,
		    "a node line is 'node NODE PUBFILE "
		    "[scope=...]', for example 'node police.avon "
		    "keys/police.avon.pub'");
	hv_node_role(w[1], role, sizeof(role));
	if (hv_node_id_valid(w[1]) && strcmp(role, "broker") == 0)
		return perr(p,
		    "'%.64s' has the role broker; declare the "
		    "partnership's broker with a broker line",
		    w[1]);
	if (nw == 4 && strncmp(w[3], "scope=", 6) != 0)
		return perr(p,
		    "unexpected '%.64s' after the public key file; "
		    "the only option of a node line is scope= (ig nodes)",
		    w[3]);
	if (nw == 4 && strcmp(role, "ig") != 0 && hv_node_id_valid(w[1]))
		return perr(p,
		    "'%.64s' is not an ig node; only ig nodes "
		    "take scope=",
		    w[1]);
	if (nw == 3 && strcmp(role, "ig") == 0)
		return perr(p,
		    "the ig node '%.64s' needs scope=* or "
		    "scope=ROLE,ROLE saying whose records it may query",
		    w[1]);
	if ((e = add_keyed_node(p, w[1], w[2], &n)) != HV_OK)
		return e;
	if (nw == 4)
		return parse_scope(p, n, w[3] + 6);
	return HV_OK;
}

static hv_err
parse_revoke(struct parse *p, char **w, int nw)
{
	struct revoke *r;

	if (nw != 2)
		return perr(p, "a revoke line is 'revoke NODE'");
	if (!hv_node_id_valid(w[1]))
		return perr(p, "'%.64s' is not a node id like police.avon",
		    w[1]);
	for (size_t i = 0; i < p->n_revokes; i++)
		if (strcmp(p->revokes[i].id, w[1]) == 0)
			return perr(p,
			    "%.64s is revoked twice (first on "
			    "line %u)",
			    w[1], p->revokes[i].line);
	if (p->n_revokes >= HV_DIR_NODES_MAX)
		return perr(p, "the agreement has more than %d revoke lines",
		    HV_DIR_NODES_MAX);
	if (p->n_revokes == p->cap_revokes) {
		size_t cap = p->cap_revokes ? p->cap_revokes * 2 : 8;

		if ((r = realloc(p->revokes, cap * sizeof(*r))) == NULL)
			return nomem(p);
		p->revokes = r;
		p->cap_revokes = cap;
	}
	r = &p->revokes[p->n_revokes++];
	snprintf(r->id, sizeof(r->id), "%s", w[1]);
	r->line = p->line;
	return HV_OK;
}

/* Strips blanks from both ends of s in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/*
 * Parses one comma-separated list of an allow line into out. The types list
 * may end with the flag word art9, which sets *art9.
 */
static hv_err
parse_list(struct parse *p, char *text, enum hv_dir_list kind, char *out,
    size_t width, size_t *n, int *art9)
{
	static const char *const what[] = { "sender roles", "recipient roles",
		"message types" };
	char *item = text, *next;
	int last = 0;

	if (*trim(text) == '\0')
		return perr(p, "the allow line has no %s%s", what[kind],
		    kind == HV_LIST_SENDERS        ? " before '->'" :
		        kind == HV_LIST_RECIPIENTS ? " between '->' and ':'" :
		                                     " after ':'");
	while (!last) {
		char *sp;

		if ((next = strchr(item, ',')) != NULL)
			*next = '\0';
		else
			last = 1;
		item = trim(item);
		if (*item == '\0')
			return perr(p,
			    "the %s of the allow line have an empty "
			    "entry (two commas, or a comma at an end)",
			    what[kind]);
		if ((sp = strpbrk(item, " \t")) != NULL) {
			char *flag = trim(sp);

			*sp = '\0';
			if (kind == HV_LIST_TYPES && last &&
			    strcmp(flag, "art9") == 0)
				*art9 = 1;
			else if (kind == HV_LIST_TYPES && last)
				return perr(p,
				    "unexpected '%.64s' after the "
				    "message types; the only flag is art9",
				    flag);
			else
				return perr(p,
				    "'%.40s' and '%.40s' need a "
				    "comma between them",
				    item, flag);
		}
		if (kind == HV_LIST_TYPES && !hv_policy_type_valid(item))
			return perr(p,
			    "'%.40s' is not a message type (such as "
			    "REFERRAL, INFO_REQUEST, INFO_RESPONSE or "
			    "CASE_UPDATE)",
			    item);
		if (kind == HV_LIST_RECIPIENTS && strcmp(item, "*") == 0)
			return perr(p,
			    "'*' may stand for any sender role, not "
			    "for recipients; list the recipient roles");
		if (kind != HV_LIST_TYPES && strcmp(item, "*") != 0 &&
		    !hv_dir_role_valid(item))
			return perr(p,
			    "'%.64s' is not a role (lowercase "
			    "letters, digits and dashes, like social-care)",
			    item);
		for (size_t i = 0; i < *n; i++)
			if (strcmp(out + i * width, item) == 0)
				return perr(p,
				    "the allow line lists '%.64s' "
				    "twice",
				    item);
		if (*n == HV_RULE_LIST_MAX)
			return perr(p, "the allow line lists more than %d %s",
			    HV_RULE_LIST_MAX, what[kind]);
		snprintf(out + (*n)++ * width, width, "%s", item);
		/* next is NULL after the last item: no arithmetic on it. */
		if (!last)
			item = next + 1;
	}
	return HV_OK;
}

/* allow SENDER_ROLES -> RECIPIENT_ROLES : TYPES [art9] */
static hv_err
parse_allow(struct parse *p, char *rest)
{
	char *arrow, *colon;
	struct hv_rule *r;
	hv_err e;

	if ((arrow = strstr(rest, "->")) == NULL)
		return perr(p,
		    "the allow line has no '->'; write 'allow "
		    "SENDER_ROLES -> RECIPIENT_ROLES : TYPES [art9]'");
	if ((colon = strchr(rest, ':')) == NULL)
		return perr(p,
		    "the allow line has no ':' before its message "
		    "types; write 'allow SENDER_ROLES -> RECIPIENT_ROLES : "
		    "TYPES [art9]'");
	if (colon < arrow)
		return perr(p,
		    "the allow line has ':' before '->'; the "
		    "senders come first, then '->', the recipients, ':' and "
		    "the types");
	if (strstr(arrow + 2, "->") != NULL)
		return perr(p, "the allow line has more than one '->'");
	if (strchr(colon + 1, ':') != NULL)
		return perr(p, "the allow line has more than one ':'");
	*arrow = '\0';
	*colon = '\0';
	if ((r = hv_dir_add_rule(p->dir)) == NULL) {
		if (p->dir->n_rules >= HV_DIR_RULES_MAX)
			return perr(p,
			    "the agreement has more than %d allow "
			    "lines",
			    HV_DIR_RULES_MAX);
		return nomem(p);
	}
	r->line = p->line;
	if ((e = parse_list(p, rest, HV_LIST_SENDERS, &r->senders[0][0],
	         sizeof(r->senders[0]), &r->n_senders, NULL)) != HV_OK ||
	    (e = parse_list(p, arrow + 2, HV_LIST_RECIPIENTS,
	         &r->recipients[0][0], sizeof(r->recipients[0]),
	         &r->n_recipients, NULL)) != HV_OK ||
	    (e = parse_list(p, colon + 1, HV_LIST_TYPES, &r->types[0][0],
	         sizeof(r->types[0]), &r->n_types, &r->art9_required)) != HV_OK)
		return e;
	return HV_OK;
}

/* One line of the agreement, already without its end of line. */
static hv_err
parse_line(struct parse *p, char *line, size_t len)
{
	char copy[LINE_MAX_LEN + 1], *w[WORDS_MAX], *kw;
	int nw;

	if (len > LINE_MAX_LEN)
		return perr(p, "the line is longer than %d characters",
		    LINE_MAX_LEN);
	if (!hv_utf8_valid(line, len))
		return perr(p, "the line is not valid UTF-8 text");
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f)
			return perr(p,
			    "the line contains a control character "
			    "at column %zu",
			    i + 1);
	/* A comment runs from '#' at the start or after a blank. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '#' &&
		    (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
			len = i;
			break;
		}
	memcpy(copy, line, len);
	copy[len] = '\0';
	kw = trim(copy);
	if (*kw == '\0')
		return HV_OK;
	if (strncmp(kw, "allow", 5) == 0 && (kw[5] == ' ' || kw[5] == '\t'))
		return parse_allow(p, kw + 6);
	nw = split_words(kw, w);
	if (nw > WORDS_MAX)
		return perr(p, "the %.16s line has too many words", w[0]);
	if (strcmp(w[0], "partnership") == 0)
		return parse_partnership(p, w, nw);
	if (strcmp(w[0], "version") == 0)
		return parse_version(p, w, nw);
	if (strcmp(w[0], "broker") == 0)
		return parse_broker(p, w, nw);
	if (strcmp(w[0], "node") == 0)
		return parse_node(p, w, nw);
	if (strcmp(w[0], "revoke") == 0)
		return parse_revoke(p, w, nw);
	if (strcmp(w[0], "allow") == 0)
		return perr(p,
		    "the allow line is empty; write 'allow "
		    "SENDER_ROLES -> RECIPIENT_ROLES : TYPES [art9]'");
	return perr(p,
	    "unknown keyword '%.40s'; a line starts with "
	    "partnership, version, broker, node, allow or revoke",
	    w[0]);
}

/* Checks that need the whole file: required lines, revokes, roles. */
static hv_err
parse_finish(struct parse *p)
{
	hv_directory *dir = p->dir;

	if (!p->partnership_line)
		return hv_errset(p->d, HV_EBADAGREEMENT, "partnership",
		    "%.120s: the agreement has no 'partnership NAME' line.",
		    p->path);
	if (!p->version_line)
		return hv_errset(p->d, HV_EBADAGREEMENT, "version",
		    "%.120s: the agreement has no 'version N' line.", p->path);
	if (!p->broker_line)
		return hv_errset(p->d, HV_EBADAGREEMENT, "broker",
		    "%.120s: the agreement has no 'broker NODE ENDPOINT "
		    "PUBFILE' line.",
		    p->path);

	for (size_t i = 0; i < p->n_revokes; i++) {
		struct revoke *r = &p->revokes[i];
		struct hv_node *n;

		if (strcmp(r->id, dir->broker_id) == 0)
			return perr_at(p, r->line,
			    "the broker %.64s cannot be "
			    "revoked; give the partnership a new broker line "
			    "instead",
			    r->id);
		/*
		 * A revoked node keeps its node line, so its keys stay on
		 * record and are refused under any name (SPEC §5); a revoke
		 * of an id with no node line is most likely a typo that would
		 * leave the node it meant active.
		 */
		if ((n = hv_dir_find_node(dir, r->id)) == NULL)
			return perr_at(p, r->line,
			    "revoke %.64s names no node "
			    "of this agreement; correct the id, or keep the "
			    "node's 'node' line beside its revoke",
			    r->id);
		n->revoked = 1;
	}

	for (size_t i = 0; i < dir->n_rules; i++) {
		const struct hv_rule *r = &dir->rules[i];
		const char *bad = NULL;

		for (size_t j = 0; j < r->n_senders && !bad; j++)
			if (strcmp(r->senders[j], "*") != 0 &&
			    !hv_dir_role_known(dir, r->senders[j]))
				bad = r->senders[j];
		for (size_t j = 0; j < r->n_recipients && !bad; j++)
			if (!hv_dir_role_known(dir, r->recipients[j]))
				bad = r->recipients[j];
		if (bad)
			return perr_at(p, r->line,
			    "'%.64s' is not a role of "
			    "this agreement: no node has it and it is not one "
			    "of police, health, education, social-care, ig, "
			    "broker, root",
			    bad);
	}
	/*
	 * SPEC §4.2: justifications travel sealed to the ig.* nodes, so a
	 * partnership without one could not share anything that needs one.
	 */
	size_t n_ig = 0;
	for (size_t i = 0; i < dir->n_nodes; i++)
		if (hv_node_is_ig(dir->nodes[i].id) && !dir->nodes[i].revoked &&
		    dir->nodes[i].has_keys)
			n_ig++;
	if (n_ig == 0)
		return hv_errset(p->d, HV_EBADAGREEMENT, "node",
		    "%.120s: the agreement lists no ig.* node; justifications "
		    "are sealed to the partnership's ig.* nodes, so add one "
		    "such as 'node ig.bristol keys/ig.bristol.pub scope=*'.",
		    p->path);
	if (n_ig > HV_SEALED_FOR_MAX)
		return hv_errset(p->d, HV_EBADAGREEMENT, "node",
		    "%.120s: the agreement lists %zu ig.* nodes; a "
		    "justification is sealed to at most %d.",
		    p->path, n_ig, HV_SEALED_FOR_MAX);
	for (size_t i = 0; i < dir->n_nodes; i++) {
		const struct hv_node *n = &dir->nodes[i];

		for (size_t j = 0; j < n->n_scope; j++)
			if (strcmp(n->scope[j], "*") != 0 &&
			    !hv_dir_role_known(dir, n->scope[j]))
				return perr_at(p, dir->node_lines[i],
				    "'%.64s' "
				    "in scope= is not a role of this "
				    "agreement",
				    n->scope[j]);
	}
	return HV_OK;
}

hv_err
hv_agreement_parse(const char *path, hv_directory **out, struct hv_errdetail *d)
{
	struct parse p;
	uint8_t *buf = NULL;
	size_t len = 0, pos = 0;
	hv_err e = HV_OK;

	memset(&p, 0, sizeof(p));
	p.path = path;
	p.d = d;
	if (hv_read_file(path, AGREEMENT_MAX, &buf, &len) != 0) {
		if (errno == EFBIG)
			e = hv_errset(d, HV_EBADAGREEMENT, "agreement",
			    "%.120s is not a regular file of at most 1 MiB; "
			    "is it the agreement?",
			    path);
		else if (errno == ENOMEM)
			e = hv_errset(d, HV_ENOMEM, NULL, "Out of memory.");
		else
			e = hv_errset(d, HV_EIO, "agreement",
			    "Cannot read the agreement %.120s: %s.", path,
			    strerror(errno));
		goto out;
	}
	if ((p.base = hv_path_dirname(path)) == NULL ||
	    (p.dir = hv_dir_new()) == NULL) {
		e = nomem(&p);
		goto out;
	}
	p.dir->built = hv_now();
	while (pos < len) {
		char *line = (char *)buf + pos;
		char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		p.line++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if ((e = parse_line(&p, line, n)) != HV_OK)
			goto out;
	}
	if ((e = parse_finish(&p)) != HV_OK)
		goto out;
	*out = p.dir;
	p.dir = NULL;
out:
	hv_directory_destroy(&p.dir);
	free(p.revokes);
	free(p.base);
	free(buf);
	return e;
}
