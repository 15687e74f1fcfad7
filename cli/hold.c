/*
 * haven hold add (--subject-nhs N --subject-key F | --message ID) --reason T
 * haven hold list
 * haven hold remove ID --reason T
 *
 * Legal holds at an agent (SPEC §15): a held message is never erased. The
 * child is named to the agent by pseudonym, computed here with the
 * partnership's subject key, so the NHS number never leaves this process.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "hv_keys.h"
#include "hv_subject.h"
#include "hv_util.h"
#include "messaging.h"

enum { H_NHS = 1300, H_KEY, H_MESSAGE, H_REASON };

static int
hold_help(void)
{
	printf(
	    "SYNOPSIS\n"
	    "    haven hold add (--subject-nhs N --subject-key F | --message "
	    "ID) --reason T\n"
	    "    haven hold list\n"
	    "    haven hold remove HOLD_ID --reason T\n"
	    "        [--agent URL] [--token-file F] [--json]\n\n"
	    "DESCRIPTION\n"
	    "    A legal hold stops the agent erasing a message (retention or\n"
	    "    retraction): one message, or every message about a child. "
	    "Adding and\n    removing a hold are reported to the broker's "
	    "audit (HOLD_ADDED,\n    HOLD_REMOVED) without the reason, "
	    "which stays at the agent. The NHS\n    number is turned into "
	    "the child's pseudonym here and never sent.\n\n"
	    "EXIT STATUS\n"
	    "    0 done; 1 no such hold, or no such message at this agency\n"
	    "    (a hold keeps only a message the agency sent or received, "
	    "and not\n    one already erased); 2 usage, or refused (removed "
	    "already);\n    3 the agent could not be reached.\n\n"
	    "EXAMPLE\n"
	    "    haven hold add --subject-nhs \"943 476 5919\" --subject-key "
	    "subject.key \\\n        --reason \"Care proceedings ZX-99\"\n");
	return 0;
}

/* A member's string, or "-". */
static const char *
member(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

/* A reason as shown: 1,000 bytes at the agent, a space for each control. */
#define HOLD_TEXT_MAX 1100

/* `haven hold list` for a person: each hold, what it covers and why. */
static void
print_holds(const json_t *resp)
{
	const json_t *holds = json_object_get(resp, "holds"), *h;
	char text[HOLD_TEXT_MAX];
	size_t i;

	if (json_array_size(holds) == 0) {
		printf("No legal holds at this agent.\n");
		return;
	}
	json_array_foreach (holds, i, h) {
		int active = json_is_true(json_object_get(h, "active"));

		printf("%s%s  %s since %s\n", i ? "\n" : "", member(h, "id"),
		    active ? "ACTIVE" : "removed", member(h, "added_at"));
		if (json_is_string(json_object_get(h, "message")))
			printf("  on:      message %s\n", member(h, "message"));
		else
			printf("  on:      every message about one child "
			       "(pseudonym %.16s…)\n",
			    member(h, "subject_pseudonym"));
		/* Typed by a person: no control character reaches the tty. */
		audit_clean(member(h, "reason"), text, sizeof(text), 0);
		printf("  reason:  %s\n", text);
		if (!active) {
			audit_clean(member(h, "removed_reason"), text,
			    sizeof(text), 0);
			printf("  removed: %s: %s\n", member(h, "removed_at"),
			    text);
		}
	}
}

/*
 * The pseudonym of an NHS number under the subject key file, as hex, and
 * the key's id, which the agent checks against its own subject key so that
 * a hold made with the wrong key is refused instead of holding nothing.
 */
static int
pseudonym_hex(const char *cmd, const char *nhs, const char *keyf, char out[65],
    char kid[2 * HV_SUBJECT_KEY_ID_LEN + 1])
{
	struct hv_errdetail d;
	char norm[64];
	uint8_t *key = NULL, ps[32], id[HV_SUBJECT_KEY_ID_LEN];
	hv_err e;

	hv_errclear(&d);
	if (hv_subject_nhs(nhs, norm, sizeof(norm), &d) != HV_OK)
		return cli_usage(cmd, "--subject-nhs: %s", d.message);
	if ((e = hv_subject_key_load(keyf, &key, &d)) != HV_OK) {
		fprintf(stderr, "haven hold: cannot load the subject key: %s\n",
		    hv_errmsg(e, &d));
		return e == HV_EIO ? 3 : 1;
	}
	hv_subject_pseudonym(key, norm, ps);
	hv_subject_key_id(key, id);
	hv_secret_free(key);
	hv_hex(ps, 32, out);
	hv_hex(id, sizeof(id), kid);
	return 0;
}

int
cmd_hold(int argc, char **argv)
{
	static const struct option lo[] = { { "subject-nhs", required_argument,
		                                NULL, H_NHS },
		{ "subject-key", required_argument, NULL, H_KEY },
		{ "message", required_argument, NULL, H_MESSAGE },
		{ "reason", required_argument, NULL, H_REASON },
		MSG_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	const char *cmd = "hold", *nhs = NULL, *keyf = NULL, *msg = NULL;
	const char *reason = NULL, *sub;
	struct msg_common co = { 0 };
	struct hv_errdetail d;
	char path[120], ps[65], mid[33], kid[2 * HV_SUBJECT_KEY_ID_LEN + 1];
	json_t *req = NULL, *resp = NULL;
	api_t *api = NULL;
	int c, idx, rc;
	hv_err e;

	if (argc < 2 || cli_wants_help(argc, argv))
		return argc < 2 ? cli_usage(cmd, "say add, list or remove.") :
		                  hold_help();
	sub = argv[1];
	optind = 2;
	while ((c = msg_getopt(argc, argv, lo, &idx, cmd, "hold", &co)) != -1) {
		if (c == MSG_OPT_USAGE)
			return 2;
		if (c == H_NHS)
			nhs = optarg;
		else if (c == H_KEY)
			keyf = optarg;
		else if (c == H_MESSAGE)
			msg = optarg;
		else if (c == H_REASON)
			reason = optarg;
	}
	if (strcmp(sub, "list") == 0) {
		snprintf(path, sizeof(path), "/v1/holds");
	} else if (strcmp(sub, "add") == 0) {
		if (reason == NULL || *reason == '\0')
			return cli_usage(cmd,
			    "--reason is required: why the "
			    "records must be kept.");
		if ((msg != NULL) == (nhs != NULL))
			return cli_usage(cmd,
			    "hold one message (--message ID) "
			    "or one child (--subject-nhs N --subject-key F).");
		if (msg != NULL) {
			if (!msg_is_id(msg))
				return cli_usage(cmd,
				    "'%s' is not a message "
				    "id (32 hex digits).",
				    msg);
			for (int i = 0; i < 33; i++)
				mid[i] = (char)tolower((unsigned char)msg[i]);
			req = json_pack("{s:s, s:s}", "message", mid, "reason",
			    reason);
		} else {
			if (keyf == NULL)
				return cli_usage(cmd,
				    "--subject-nhs needs "
				    "--subject-key F, the partnership's "
				    "subject key.");
			if ((rc = pseudonym_hex(cmd, nhs, keyf, ps, kid)) != 0)
				return rc;
			req = json_pack("{s:s, s:s, s:s}", "subject_pseudonym",
			    ps, "subject_key_id", kid, "reason", reason);
		}
		snprintf(path, sizeof(path), "/v1/holds");
	} else if (strcmp(sub, "remove") == 0) {
		if (optind != argc - 1 || !msg_is_id(argv[optind]))
			return cli_usage(cmd,
			    "which hold? Give its id (32 hex "
			    "digits, from haven hold list).");
		if (reason == NULL || *reason == '\0')
			return cli_usage(cmd,
			    "--reason is required: why the "
			    "hold ends.");
		for (int i = 0; i < 33; i++)
			mid[i] = (char)tolower((unsigned char)argv[optind][i]);
		snprintf(path, sizeof(path), "/v1/holds/%s/remove", mid);
		req = json_pack("{s:s}", "reason", reason);
	} else {
		return cli_usage(cmd,
		    "'%s' is not a hold command; say add, "
		    "list or remove.",
		    sub);
	}
	if ((rc = msg_connect(cmd, &co, &api)) != 0)
		goto out;
	hv_errclear(&d);
	if ((e = api_call(api, req ? "POST" : "GET", path, req, &resp, &d)) !=
	    HV_OK) {
		rc = msg_fail(e, &d);
		goto out;
	}
	if (co.json)
		fmt_json(stdout, resp, 0);
	else if (strcmp(sub, "list") == 0)
		print_holds(resp);
	else
		printf("Hold %s %s.\n",
		    json_string_value(json_object_get(resp, "id")),
		    strcmp(sub, "add") == 0 ? "added" : "removed");
	rc = fflush(stdout) == 0 ? 0 : 3;
out:
	json_decref(req);
	json_decref(resp);
	api_destroy(&api);
	return rc;
}
