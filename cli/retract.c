/*
 * haven retract ID --reason CODE --decided-by WHO [--note TEXT] (SPEC §15):
 * the sender takes a message back through its agent. The reason is a code
 * (MISDIRECTED, WRONG_CHILD, INACCURATE, DUPLICATE, OTHER) because it goes
 * to the recipients and the broker's log; a --note stays at this agency.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "hv_retract.h"
#include "messaging.h"

enum { R_REASON = 1200, R_DECIDED_BY, R_NOTE };

static int
retract_help(void)
{
	printf(
	    "SYNOPSIS\n"
	    "    haven retract ID --reason CODE --decided-by WHO [--note TEXT]\n"
	    "                  [--agent URL] [--token-file F] [--json]\n\n"
	    "DESCRIPTION\n"
	    "    Takes back a message this agency sent (SPEC 15). Copies not "
	    "yet\n    delivered are withdrawn at the broker; recipients that "
	    "have it erase\n    the child and body, keep the header marked "
	    "\"retracted by the sender:\n    CODE\" and confirm. `haven status "
	    "ID` shows retracted, withdrawn\n    and retraction_delivered.\n\n"
	    "    --reason CODE     MISDIRECTED | WRONG_CHILD | INACCURATE | "
	    "DUPLICATE | OTHER\n"
	    "    --decided-by WHO  staff identifier, [a-z0-9._-]{1,64}\n"
	    "    --note TEXT       kept at this agency only, never sent\n\n"
	    "EXIT STATUS\n"
	    "    0 the retraction is stored and on its way; 1 this agency "
	    "sent no\n    such message; 2 usage, or refused (not accepted "
	    "yet, already\n    retracted); 3 the agent could not be "
	    "reached.\n\n"
	    "EXAMPLE\n"
	    "    haven retract 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15 --reason "
	    "MISDIRECTED \\\n        --decided-by j.smith --note \"wrong "
	    "team; correct referral follows\"\n");
	return 0;
}

int
cmd_retract(int argc, char **argv)
{
	static const struct option lo[] = { { "reason", required_argument, NULL,
		                                R_REASON },
		{ "decided-by", required_argument, NULL, R_DECIDED_BY },
		{ "note", required_argument, NULL, R_NOTE }, MSG_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 } };
	const char *cmd = argv[0], *reason = NULL, *by = NULL, *note = NULL;
	struct msg_common co = { 0 };
	struct hv_errdetail d;
	char id[33], path[100];
	json_t *req = NULL, *resp = NULL;
	api_t *api = NULL;
	int c, idx, rc;
	hv_err e;

	if (cli_wants_help(argc, argv))
		return retract_help();
	optind = 0;
	while (
	    (c = msg_getopt(argc, argv, lo, &idx, cmd, "retract", &co)) != -1) {
		if (c == MSG_OPT_USAGE)
			return 2;
		if (c == R_REASON)
			reason = optarg;
		else if (c == R_DECIDED_BY)
			by = optarg;
		else if (c == R_NOTE)
			note = optarg;
	}
	if (optind != argc - 1 || !msg_is_id(argv[optind]))
		return cli_usage(cmd,
		    "which message? Give its id (32 hex "
		    "digits), e.g. haven retract 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15 "
		    "--reason MISDIRECTED --decided-by j.smith.");
	for (int i = 0; i < 32; i++)
		id[i] = (char)tolower((unsigned char)argv[optind][i]);
	id[32] = '\0';
	if (reason == NULL)
		return cli_usage(cmd,
		    "--reason is required: MISDIRECTED, WRONG_CHILD, "
		    "INACCURATE, DUPLICATE or OTHER.");
	/*
	 * The reason goes into the broker's audit log for the life of the
	 * partnership, so it is a code; words of one's own belong in --note,
	 * which stays at this agent. Say so, or the officer retypes prose.
	 */
	if (!hv_retract_reason_ok(reason))
		return cli_usage(cmd,
		    "--reason must be one of MISDIRECTED, "
		    "WRONG_CHILD, INACCURATE, DUPLICATE or OTHER; put your "
		    "own words in --note, which stays at this agent.");
	if (by == NULL)
		return cli_usage(cmd,
		    "--decided-by is required: the staff identifier of who "
		    "decided, e.g. j.smith.");
	if (!hv_retract_decided_by_ok(by))
		return cli_usage(cmd,
		    "--decided-by must be a staff identifier "
		    "of 1 to 64 of a-z, 0-9, '.', '_' and '-', e.g. j.smith.");
	req = json_pack("{s:s, s:s, s:s?}", "reason", reason, "decided_by", by,
	    "note", note);
	if (req == NULL)
		return 3;
	if ((rc = msg_connect(cmd, &co, &api)) != 0)
		goto out;
	snprintf(path, sizeof(path), "/v1/messages/%s/retract", id);
	hv_errclear(&d);
	if ((e = api_call(api, "POST", path, req, &resp, &d)) != HV_OK) {
		rc = msg_fail(e, &d);
		goto out;
	}
	if (co.json)
		fmt_json(stdout, resp, 0);
	else
		printf("Retracting %s (%s, decided by %s); haven status %s "
		       "shows each recipient.\n",
		    id, reason, by, id);
	rc = fflush(stdout) == 0 ? 0 : 3;
out:
	json_decref(req);
	json_decref(resp);
	api_destroy(&api);
	return rc;
}
