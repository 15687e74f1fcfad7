/*
 * haven child — what this agency knows about one child (SPEC §15 "Flags and
 * chronology"): the child protection plan, looked-after and missing flags
 * that partners' messages set, then every message this agency sent or
 * received about the child, oldest first. It asks the agent's
 * GET /v1/children; the agent keeps the index and logs a look-up that finds
 * an active flag.
 *
 * The child's identifier travels to the local agent only, in the query, and
 * is printed to standard output only; never to standard error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "messaging.h"

enum { O_NHS = 2000, O_LOCAL };

static int
help(void)
{
	printf(
	    "NAME\n"
	    "  haven child - is this child on a plan, looked after or\n"
	    "  missing?\n"
	    "\n"
	    "SYNOPSIS\n"
	    "  haven child --subject-nhs N | --subject-local AGENCY:ID\n"
	    "              [--json]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "  Shows what this agency holds about one child, as CP-IS does\n"
	    "  for A&E. First the flags, in plain words: whether the child\n"
	    "  has a child protection plan, is looked after, or is missing,\n"
	    "  since when and which agency said so. A flag is set and ended\n"
	    "  by the messages this agency RECEIVED (CP_PLAN_START and _END,\n"
	    "  LOOKED_AFTER_START and _END, MISSING_CHILD_ALERT until a\n"
	    "  CASE_UPDATE saying the child is found). Then the chronology:\n"
	    "  every message this agency sent, received or recorded about\n"
	    "  the child, oldest first, with its type, the other agency, its\n"
	    "  time and status. Read a received one with 'haven show ID'.\n"
	    "  A look-up that finds an active flag is noted in the agent's\n"
	    "  log (without the child's identifier).\n"
	    "\n"
	    "OPTIONS\n"
	    "  --subject-nhs N    the child's NHS number (10 digits; spaces\n"
	    "                     and dashes are allowed)\n"
	    "  --subject-local A:ID  an agency's own identifier instead\n"
	    "  --json             print the agent's JSON document\n"
	    "  --agent URL        the agent's local API (default:\n"
	    "                     $HAVEN_AGENT)\n"
	    "  --token-file F     the agent's API token (default:\n"
	    "                     $HAVEN_TOKEN_FILE)\n"
	    "  -h, --help         show this page and exit 0\n"
	    "\n"
	    "EXIT STATUS\n"
	    "  0 shown (also when nothing is known about the child), 1 a bad\n"
	    "  NHS number or identifier, 2 usage error, 3 cannot reach the\n"
	    "  agent or an I/O error.\n"
	    "\n"
	    "EXAMPLE\n"
	    "  haven child --subject-nhs \"943 476 5919\"\n");
	return 0;
}

/* Percent-encodes s for a query string into a new string (or NULL). */
static char *
query_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			*p++ = (char)c;
			continue;
		}
		*p++ = '%';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 15];
	}
	*p = '\0';
	return out;
}

static const char *
str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

/* One flag as words: "Child protection plan: YES, since … (from …)". */
static void
flag_line(FILE *fp, const char *label, const json_t *f)
{
	char t[48];

	if (json_is_true(json_object_get(f, "active"))) {
		fprintf(fp, "  %-23s YES, since %s (from %s)\n", label,
		    fmt_time(json_string_value(json_object_get(f, "since")), t,
		        sizeof(t)),
		    str(f, "from"));
		return;
	}
	if (json_object_get(f, "ended") != NULL) {
		fprintf(fp, "  %-23s no; the last one ended %s (%s)\n", label,
		    fmt_time(json_string_value(json_object_get(f, "ended")), t,
		        sizeof(t)),
		    str(f, "ended_by"));
		return;
	}
	fprintf(fp, "  %-23s no\n", label);
}

static void
print_child(FILE *fp, const json_t *c)
{
	const json_t *flags = json_object_get(c, "flags"), *e;
	const json_t *chron = json_object_get(c, "chronology");
	char t[48];
	size_t i;
	int marked = 0;

	fprintf(fp, "Child %s\n\nFlags (as partners told this agency)\n",
	    str(c, "subject"));
	flag_line(fp,
	    "Child protection plan:", json_object_get(flags, "cp_plan"));
	flag_line(fp, "Looked after:", json_object_get(flags, "looked_after"));
	flag_line(fp, "Missing:", json_object_get(flags, "missing"));
	if (json_array_size(chron) == 0) {
		fprintf(fp,
		    "\nNo message about this child was sent or "
		    "received here.\n");
		return;
	}
	fprintf(fp, "\nChronology, oldest first (%zu message%s)\n",
	    json_array_size(chron), json_array_size(chron) == 1 ? "" : "s");
	fprintf(fp, "  %-21s %-9s %-27s %-30s %-13s %s\n", "WHEN", "WAY",
	    "TYPE", "OTHER PARTY", "STATUS", "ID");
	json_array_foreach (chron, i, e) {
		int dncf =
		    json_is_true(json_object_get(e, "do_not_contact_family"));

		marked |= dncf;
		fprintf(fp, "%s%-21s %-9s %-27s %-30s %-13s %s\n",
		    dncf ? "!!" : "  ",
		    fmt_time(json_string_value(json_object_get(e, "at")), t,
		        sizeof(t)),
		    str(e, "direction"), str(e, "type"), str(e, "other_party"),
		    str(e, "status"), str(e, "id"));
	}
	if (marked)
		fprintf(fp,
		    "\n!! marks a message the sender flagged DO NOT "
		    "CONTACT THE FAMILY.\n");
}

int
cmd_child(int argc, char **argv)
{
	static const struct option lo[] = { { "subject-nhs", required_argument,
		                                NULL, O_NHS },
		{ "subject-local", required_argument, NULL, O_LOCAL },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0], *nhs = NULL, *local = NULL;
	struct msg_common co = { NULL, NULL, 0 };
	struct hv_errdetail d;
	char *q = NULL, *path = NULL;
	json_t *resp = NULL;
	api_t *api = NULL;
	int c, rc;
	hv_err e;

	if (cli_wants_help(argc, argv))
		return help();
	optind = 0;
	while (
	    (c = msg_getopt(argc, argv, lo, NULL, cmd, "child", &co)) != -1) {
		if (c == MSG_OPT_USAGE)
			return 2;
		if (c == O_NHS)
			nhs = optarg;
		else if (c == O_LOCAL)
			local = optarg;
	}
	if (optind < argc)
		return cli_usage(cmd,
		    "'%s' is not expected here; haven child "
		    "takes options only.",
		    argv[optind]);
	if ((nhs == NULL) == (local == NULL))
		return cli_usage(cmd,
		    "name the child with exactly one of "
		    "--subject-nhs N or --subject-local AGENCY:ID.");
	if ((rc = msg_connect(cmd, &co, &api)) != 0)
		return rc;
	if ((q = query_escape(nhs != NULL ? nhs : local)) == NULL ||
	    (path = malloc(strlen(q) + 32)) == NULL) {
		rc = msg_fail(HV_ENOMEM, NULL);
		goto out;
	}
	sprintf(path, "/v1/children?%s=%s", nhs != NULL ? "nhs" : "local", q);
	hv_errclear(&d);
	if ((e = api_call(api, "GET", path, NULL, &resp, &d)) != HV_OK) {
		rc = msg_fail(e, &d);
		goto out;
	}
	if (co.json)
		fmt_json(stdout, resp, 0);
	else
		print_child(stdout, resp);
	rc = fflush(stdout) == 0 ? 0 : 3;
out:
	json_decref(resp);
	api_destroy(&api);
	free(path);
	free(q);
	return rc;
}
