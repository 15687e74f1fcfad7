/*
 * hv_directory_int — what hv_directory.c and hv_agreement.c share: the
 * directory's private structure and the checks both ways in (a parsed
 * agreement and a decoded directory) apply, so that they cannot drift
 * apart. Not for use outside those two files.
 */
#ifndef HV_DIRECTORY_INT_H
#define HV_DIRECTORY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hv_directory.h"
#include "hv_envelope.h"

#define HV_DIR_NODES_MAX 4096
#define HV_DIR_RULES_MAX 1024
#define HV_DIR_NAME_MAX 64
#define HV_DIR_ENDPOINT_MAX 255

struct hv_directory {
	char partnership[HV_DIR_NAME_MAX + 1];
	uint64_t version;
	int64_t built; /* unix seconds */
	char broker_id[HV_NODE_MAX + 1];
	struct hv_node *nodes;
	size_t n_nodes, cap_nodes;
	unsigned *node_lines; /* agreement line of each node, or 0 */
	struct hv_rule *rules;
	size_t n_rules, cap_rules;
	/*
	 * BLAKE2b-256 of the signed body, set by hv_directory_load; a
	 * directory parsed from an agreement has none (has_digest 0) and is
	 * digested from its canonical encoding when compared.
	 */
	uint8_t digest[HV_DIRECTORY_DIGEST_LEN];
	int has_digest;
	/* The new root's key when loaded through a root handover. */
	uint8_t handover_root[HV_SIGN_PUBLIC_LEN];
	int has_handover;
};

/* The lists of an allow rule, for messages and field names. */
enum hv_dir_list { HV_LIST_SENDERS, HV_LIST_RECIPIENTS, HV_LIST_TYPES };

/* 1 for a role name: 1..64 of [a-z0-9-]. */
int hv_dir_role_valid(const char *s);

/* 1 for a partnership name: 1..64 of [A-Za-z0-9._-]. */
int hv_dir_name_valid(const char *s);

/* 1 for tcp://HOST:PORT with a numeric port 1..65535 agents can dial. */
int hv_dir_endpoint_valid(const char *s);

/* 1 when role is a default role of SPEC §3 or the role of a node of dir. */
int hv_dir_role_known(const hv_directory *dir, const char *role);

/* A new empty directory (calloc), or NULL. */
hv_directory *hv_dir_new(void);

/*
 * Appends a zeroed node with id and its role, recording the agreement line
 * (0 for none). NULL when the directory already has HV_DIR_NODES_MAX nodes
 * or memory ran out.
 */
struct hv_node *hv_dir_add_node(hv_directory *dir, const char *id,
    unsigned line);

/* Appends a zeroed rule; NULL when full (HV_DIR_RULES_MAX) or out of memory. */
struct hv_rule *hv_dir_add_rule(hv_directory *dir);

/* The node with this id, or NULL. */
struct hv_node *hv_dir_find_node(const hv_directory *dir, const char *id);

/* 1 when any of the three public keys of a equals b's. */
int hv_dir_keys_overlap(const struct hv_pubkeys *a, const struct hv_pubkeys *b);

#endif
