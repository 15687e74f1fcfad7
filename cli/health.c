/*
 * haven health --broker — the broker's health over the network, for the
 * partnership administrator (SPEC §10): which nodes are connected, how
 * many messages wait for each recipient, the oldest of them, the
 * directory version in force and the size of the audit log.
 *
 * Any node of the directory that is not revoked may ask, with its own key;
 * the question does not disturb that node's agent (the broker answers on
 * the asking connection and leaves the agent's session alone). The
 * broker's document holds node ids, counts and times, never a message.
 * `haven health` without --broker asks the agent (cli/messaging.c); the
 * --help page here covers both.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "hv_config.h"
#include "hv_wire.h"
#include "messaging.h"
#include "remote.h"

enum {
	H_BROKER = 1200,
	H_KEY,
	H_DIRECTORY,
	H_ROOT_PUB,
	H_PASSPHRASE_FILE,
	H_TIMEOUT,
	H_JSON,
};

int
health_wants_broker(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--broker") == 0 ||
		    strncmp(argv[i], "--broker=", 9) == 0)
			return 1;
	return 0;
}

/* A node id from the broker's document, or "?" for anything else. */
static const char *
node_or_mark(const char *s)
{
	return s != NULL && hv_node_id_valid(s) ? s : "?";
}

static int
is_connected(const json_t *conn, const char *id)
{
	size_t i;
	const json_t *v;

	json_array_foreach (conn, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

/* The broker's document, for a person. dir gives the nodes not connected. */
static void
show(const json_t *h, const struct remote *r, const char *endpoint)
{
	const json_t *conn = json_object_get(h, "connected");
	const json_t *q = json_object_get(h, "queue_depth"), *v;
	const char *key, *oldest;
	size_t i, n = 0, width = 0;
	char t[48];
	int first = 1;

	printf("%-19s%s at %s\n", "Broker",
	    node_or_mark(json_string_value(json_object_get(h, "broker"))),
	    endpoint);
	printf("%-19sversion %lld\n", "Directory",
	    (long long)json_integer_value(
	        json_object_get(h, "directory_version")));
	printf("%-19s%zu node%s", "Connected", json_array_size(conn),
	    json_array_size(conn) == 1 ? "" : "s");
	json_array_foreach (conn, i, v)
		printf("%s%s", i == 0 ? ": " : ", ",
		    node_or_mark(json_string_value(v)));
	putchar('\n');
	for (i = 0; i < hv_directory_node_count(r->dir); i++) {
		const struct hv_node *nd = hv_directory_node_at(r->dir, i);

		if (nd->revoked || !nd->has_keys ||
		    strcmp(nd->id, r->broker_id) == 0 ||
		    is_connected(conn, nd->id))
			continue;
		printf("%s%s", first ? "Not connected      " : ", ", nd->id);
		first = 0;
	}
	if (!first)
		putchar('\n');
	json_object_foreach ((json_t *)q, key, v) {
		n++;
		if (strlen(node_or_mark(key)) > width)
			width = strlen(node_or_mark(key));
	}
	printf("%-19s%lld message%s waiting", "Queued",
	    (long long)json_integer_value(json_object_get(h, "queued_total")),
	    json_integer_value(json_object_get(h, "queued_total")) == 1 ? "" :
	                                                                  "s");
	if (n > 0)
		printf(" for %zu recipient%s", n, n == 1 ? "" : "s");
	putchar('\n');
	json_object_foreach ((json_t *)q, key, v)
		printf("  %-*s  %lld\n", (int)width, node_or_mark(key),
		    (long long)json_integer_value(v));
	oldest = json_string_value(json_object_get(h, "oldest_undelivered"));
	printf("%-19s%s\n", "Oldest undelivered",
	    oldest != NULL ? fmt_time(oldest, t, sizeof(t)) : "none");
	printf("%-19s%lld records\n", "Audit log",
	    (long long)json_integer_value(json_object_get(h, "tree_size")));
	if (json_is_integer(json_object_get(h, "store_used_percent")))
		printf("%-19s%lld%% of the map in use\n", "Store",
		    (long long)json_integer_value(
		        json_object_get(h, "store_used_percent")));
}

int
cmd_health_broker(int argc, char **argv)
{
	static const struct option lo[] = { { "broker", required_argument, NULL,
		                                H_BROKER },
		{ "key", required_argument, NULL, H_KEY },
		{ "directory", required_argument, NULL, H_DIRECTORY },
		{ "root-pub", required_argument, NULL, H_ROOT_PUB },
		{ "passphrase-file", required_argument, NULL,
		    H_PASSPHRASE_FILE },
		{ "timeout", required_argument, NULL, H_TIMEOUT },
		{ "json", no_argument, NULL, H_JSON }, { NULL, 0, NULL, 0 } };
	Haven__Frame req = HAVEN__FRAME__INIT;
	Haven__HealthRequest hr = HAVEN__HEALTH_REQUEST__INIT;
	struct remote_opts o;
	struct remote r;
	Haven__Frame *reply = NULL;
	json_error_t jerr;
	json_t *j = NULL;
	int c, idx, json = 0, rc;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, &idx)) != -1) {
		switch (c) {
		case H_BROKER:
			o.endpoint = optarg;
			break;
		case H_KEY:
			o.key = optarg;
			break;
		case H_DIRECTORY:
			o.directory = optarg;
			break;
		case H_ROOT_PUB:
			o.root_pub = optarg;
			break;
		case H_PASSPHRASE_FILE:
			o.passphrase_file = optarg;
			break;
		case H_JSON:
			json = 1;
			break;
		case H_TIMEOUT:
			if ((o.timeout_ms = remote_timeout(optarg)) < 0)
				return cli_usage("health",
				    "--timeout '%.80s' "
				    "is not a number of seconds from 1 to "
				    "3600.",
				    optarg);
			break;
		case ':':
			return cli_usage("health", "%.80s needs a value.",
			    argv[optind - 1]);
		default:
			return cli_usage("health",
			    "'%.80s' is not an option "
			    "of haven health --broker (--agent and "
			    "--token-file ask the agent instead).",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("health",
		    "'%.80s' is not expected here; "
		    "every value goes with its option.",
		    argv[optind]);
	if (o.key == NULL || o.directory == NULL)
		return cli_usage("health",
		    "asking the broker needs --key "
		    "NODE.key (any node of the partnership that is not "
		    "revoked) and --directory FILE (the signed directory, "
		    "which names the broker's keys).");
	if ((rc = remote_open("health", &o, &r)) != 0)
		return rc;
	req.kind_case = HAVEN__FRAME__KIND_HEALTH_REQUEST;
	req.health_request = &hr;
	if ((rc = remote_ask(&r, &req, HAVEN__FRAME__KIND_HEALTH_REPLY,
	         &reply)) != 0)
		goto out;
	j = json_loads(reply->health_reply->json, 0, &jerr);
	if (!json_is_object(j)) {
		fprintf(stderr,
		    "haven health: the broker's health document "
		    "is not a JSON object.\n");
		rc = 3;
		goto out;
	}
	if (json)
		fmt_json(stdout, j, 0);
	else
		show(j, &r, o.endpoint);
	rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 3;
out:
	json_decref(j);
	hv_frame_free(&reply);
	remote_close(&r);
	return rc;
}

void
health_help(void)
{
	fputs(
	    "NAME\n"
	    "  haven health - show the health of this agency's agent, or of the broker\n"
	    "\n"
	    "SYNOPSIS\n"
	    "  haven health [--json] [--agent URL] [--token-file F]\n"
	    "  haven health --broker ENDPOINT --key NODE.key --directory FILE\n"
	    "               [--root-pub F] [--passphrase-file F] [--timeout S] [--json]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "  Without --broker, shows this agency's agent: its node id, whether it is\n"
	    "  connected to the broker (while it is not, messages wait safely in the\n"
	    "  outbox), how many sent messages await the broker's verdict, how many\n"
	    "  received messages nobody has acknowledged, the directory version and\n"
	    "  the audit tree head. Exits 0 whenever the agent answered, connected to\n"
	    "  the broker or not; use --json to test the fields.\n"
	    "\n"
	    "  With --broker, asks the partnership's broker itself, for its\n"
	    "  administrator: the nodes connected now (and the directory's nodes that\n"
	    "  are not), how many messages wait for each recipient, when the oldest\n"
	    "  undelivered one was accepted, the directory version in force, the\n"
	    "  number of records in the audit log and how full the store is. Any node\n"
	    "  of the directory that is not revoked may ask with its own key (an ig\n"
	    "  node, or an administrator's node); asking does not disturb that node's\n"
	    "  agent. The broker is trusted only with the keys the directory names\n"
	    "  for it.\n"
	    "\n"
	    "OPTIONS\n"
	    "  --json             print the JSON document as it came: with --broker,\n"
	    "                     {broker, directory_version, connected, queue_depth,\n"
	    "                     queued_total, oldest_undelivered, tree_size,\n"
	    "                     store_used_percent}\n"
	    "  --agent URL        the agent's local API (default: $HAVEN_AGENT)\n"
	    "  --token-file F     the agent's API token file (default:\n"
	    "                     $HAVEN_TOKEN_FILE)\n"
	    "  --broker ENDPOINT  the broker's address, tcp://HOST:PORT\n"
	    "  --key NODE.key     this node's secret key file (mode 0600)\n"
	    "  --passphrase-file F  the passphrase of a protected key file\n"
	    "  --directory FILE   the partnership's signed directory (directory.hd)\n"
	    "  --root-pub F       the partnership root's .pub file: check the\n"
	    "                     directory's signature first (recommended; without it\n"
	    "                     the directory is taken as it is, and a note says so)\n"
	    "  --timeout S        give up after S seconds (default 10)\n"
	    "  -h, --help         show this page and exit 0\n"
	    "\n"
	    "ENVIRONMENT\n"
	    "  HAVEN_AGENT        the agent's URL when --agent is not given\n"
	    "  HAVEN_TOKEN_FILE   the token file when --token-file is not given\n"
	    "\n"
	    "EXIT STATUS\n"
	    "  0  the agent or broker answered\n"
	    "  1  refused: the key is not a node of the directory, is revoked, or the\n"
	    "     broker refused it\n"
	    "  2  usage error: a flag missing or malformed (nothing was sent)\n"
	    "  3  cannot reach the agent or broker within the time-out, or an I/O\n"
	    "     error\n"
	    "  Errors are one sentence on standard error naming what was wrong.\n"
	    "\n"
	    "EXAMPLE\n"
	    "  haven health\n"
	    "  haven health --broker tcp://broker.bristol.example:7400 \\\n"
	    "      --key keys/ig.bristol.key --directory directory.hd \\\n"
	    "      --root-pub keys/root.bristol.pub\n",
	    stdout);
}
