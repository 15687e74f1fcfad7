/*
 * The --help pages of the messaging commands, written like short manual
 * pages for the people who run them: a duty manager, a designated
 * safeguarding lead, a MASH social worker, an agency's system
 * administrator. Each page: synopsis, description, options, environment,
 * exit status, an example.
 */
#include <stdio.h>
#include <string.h>

#include "messaging.h"

static const char agent_opts[] =
    "  --agent URL        the agent's local API, e.g. http://127.0.0.1:7501\n"
    "                     (default: $HAVEN_AGENT)\n"
    "  --token-file F     file holding the agent's API token (default:\n"
    "                     $HAVEN_TOKEN_FILE); both may come anywhere after\n"
    "                     the command name\n"
    "  -h, --help         show this page and exit 0\n";

static const char environment[] =
    "\nENVIRONMENT\n"
    "  HAVEN_AGENT        the agent's URL when --agent is not given\n"
    "  HAVEN_TOKEN_FILE   the token file when --token-file is not given\n";

/* The EXIT STATUS section of send and decide: they create a record. */
static const char exit_status[] =
    "\nEXIT STATUS\n"
    "  0  success\n"
    "  1  refused: denied by the information-sharing agreement, lawful\n"
    "     basis invalid, bad NHS number, no such message, wrong token\n"
    "  2  usage error: a flag missing or malformed (nothing was sent)\n"
    "  3  cannot reach the agent, or an I/O error\n"
    "  Errors are one sentence on standard error naming what was wrong.\n";

/* The EXIT STATUS sections of the commands that take no lawful basis. */
#define STATUS_HEAD "\nEXIT STATUS\n  0  success\n"
#define STATUS_TAIL \
	"  3  cannot reach the agent, or an I/O error\n" \
	"  Errors are one sentence on standard error naming what was wrong.\n"

static const char exit_inbox[] = STATUS_HEAD
    "  1  refused: the agent refused the API token\n"
    "  2  usage error: an option missing its value or malformed, e.g.\n"
    "     --limit 0, or a --cursor from another listing\n" STATUS_TAIL;

static const char exit_show[] = STATUS_HEAD
    "  1  refused: no received message has that id, the message failed\n"
    "     its signature or decryption check, or the agent refused the\n"
    "     API token\n"
    "  2  usage error: no ID, or an ID that is not 32 hex digits\n" STATUS_TAIL;

static const char exit_ack[] = STATUS_HEAD
    "  1  refused: no received message has that id, or the agent\n"
    "     refused the API token (nothing was recorded)\n"
    "  2  usage error: no ID, an ID that is not 32 hex digits, or no\n"
    "     --by (nothing was recorded)\n" STATUS_TAIL;

static const char exit_status_cmd[] = STATUS_HEAD
    "  1  refused: this agency sent no message with that id, or the\n"
    "     agent refused the API token\n"
    "  2  usage error: no ID, or an ID that is not 32 hex digits\n" STATUS_TAIL;

static const char exit_watch[] =
    "\nEXIT STATUS\n"
    "  0  stopped by Ctrl-C, SIGTERM, --count or --timeout\n"
    "  1  refused: the agent refused the API token\n"
    "  2  usage error: --count or --timeout is not a whole number above 0\n"
    "  3  the first connection to the agent failed (later drops are\n"
    "     retried, not fatal)\n"
    "  Errors are one sentence on standard error naming what was wrong.\n";

static const char basis[] =
    "\nLAWFUL BASIS (the consent basis)\n"
    "  Every share, and every decision not to share, records why it is\n"
    "  lawful. The agent checks these and refuses an incomplete basis with\n"
    "  the field at fault named.\n"
    "  --consent C        what happened about consent:\n"
    "                       OBTAINED      the person (or parent) agreed\n"
    "                       NOT_SOUGHT    you chose not to ask, e.g. asking\n"
    "                                     would put the child at risk\n"
    "                       REFUSED       they said no, and you share anyway\n"
    "                                     (or record not sharing)\n"
    "                       NOT_POSSIBLE  they could not be asked in time\n"
    "  --art6 B           the UK GDPR Article 6 basis: PUBLIC_TASK (your\n"
    "                     statutory duties; usual for public bodies),\n"
    "                     LEGAL_OBLIGATION, VITAL_INTERESTS (risk to life),\n"
    "                     CONSENT (only with --consent OBTAINED),\n"
    "                     LEGITIMATE_INTERESTS\n"
    "  --art9 C           the Article 9 condition for special-category data\n"
    "                     (health, ethnicity, sexual life …): NONE (default),\n"
    "                     SAFEGUARDING (DPA 2018 Sch 1 para 18),\n"
    "                     HEALTH_SOCIAL_CARE (Art 9(2)(h)), EXPLICIT_CONSENT,\n"
    "                     VITAL_INTERESTS, LEGAL_CLAIMS; some types (health to\n"
    "                     social care) require one other than NONE\n"
    "  --justification T  why sharing without consent is necessary and\n"
    "                     proportionate; at least 20 characters whenever\n"
    "                     consent is not OBTAINED, so the record shows the\n"
    "                     decision was thought through. It is sealed to the\n"
    "                     partnership's ig.* keys: the broker keeps only\n"
    "                     ciphertext and length; IG opens it with haven audit\n"
    "  --decided-by WHO   the staff identifier of who made the decision:\n"
    "                     a-z 0-9 . _ - only, a letter first, at most 64,\n"
    "                     e.g. dsl.jones\n";

static const char subject[] =
    "  --subject-nhs N    the child's NHS number (ten digits; spaces and\n"
    "                     dashes allowed); checked by the agent\n"
    "  --subject-local AGENCY:ID\n"
    "                     the agency's own case number instead, e.g.\n"
    "                     police.avon:CR-88213 (give exactly one of the\n"
    "                     two). It is keyed as local:AGENCY:ID, so the\n"
    "                     broker only ever sees a pseudonym of it.\n";

static void
send_page(void)
{
	printf(
	    "NAME\n"
	    "  haven send - send a safeguarding message through the agent\n"
	    "\nSYNOPSIS\n"
	    "  haven send --to NODE[,NODE] --type T --priority P\n"
	    "             --subject-nhs N | --subject-local AGENCY:ID\n"
	    "             --consent C --art6 B [--art9 C] [--justification TEXT]\n"
	    "             --decided-by WHO [--child-file F]\n"
	    "             [--body-file F | --body JSON] [--reply-to ID]\n"
	    "             [--deadline RED|AMBER|GREEN] [--do-not-contact-family]\n"
	    "             [--json] [--agent URL] [--token-file F]\n"
	    "\nDESCRIPTION\n"
	    "  Hands a message about a child to this agency's agent, which\n"
	    "  checks it against the partnership's information-sharing\n"
	    "  agreement and the lawful basis, encrypts it to each recipient,\n"
	    "  signs it and keeps it in its outbox until the broker has it. On\n"
	    "  success the new message id (32 hex digits) is printed alone;\n"
	    "  follow delivery with 'haven status ID'.\n"
	    "\nOPTIONS\n"
	    "  --to NODE[,NODE]   recipients, by node id, e.g. social-care.bristol\n"
	    "  --type T           REFERRAL, INFO_REQUEST, INFO_RESPONSE,\n"
	    "                     STRATEGY_DISCUSSION, CP_CONFERENCE_INVITATION,\n"
	    "                     CP_PLAN_START, CP_PLAN_END, LOOKED_AFTER_START,\n"
	    "                     LOOKED_AFTER_END, UNSCHEDULED_CARE_ATTENDANCE,\n"
	    "                     DOMESTIC_ABUSE_NOTIFICATION, MISSING_CHILD_ALERT,\n"
	    "                     CASE_UPDATE\n"
	    "  --priority P       IMMEDIATE (risk to life), URGENT (same day),\n"
	    "                     ROUTINE\n"
	    "%s"
	    "  --child-file F     a JSON object with the child's details, e.g.\n"
	    "                     {\"name\": \"…\", \"dob\": \"2016-03-02\"}\n"
	    "  --body JSON        the message itself, as JSON\n"
	    "  --body-file F      the message, from a JSON file\n"
	    "  --reply-to ID      the request this answers (INFO_RESPONSE)\n"
	    "  --deadline D       RED (4 hours), AMBER (24 h), GREEN (72 h), or\n"
	    "                     an ISO 8601 UTC time\n"
	    "  --do-not-contact-family\n"
	    "                     the family must not be told (police enquiry,\n"
	    "                     Operation Encompass); recipients see this first\n"
	    "  --json             print {\"id\": …, \"status\": \"queued\"}\n"
	    "%s%s%s%s"
	    "\nEXAMPLE\n"
	    "  haven send --to education.st-marys-primary,social-care.bristol \\\n"
	    "    --type DOMESTIC_ABUSE_NOTIFICATION --priority URGENT \\\n"
	    "    --subject-nhs '943 476 5919' --consent NOT_SOUGHT \\\n"
	    "    --art6 PUBLIC_TASK --art9 SAFEGUARDING \\\n"
	    "    --justification 'Operation Encompass: notifying before the "
	    "school day.' \\\n"
	    "    --decided-by ppu.sgt-khan --child-file child.json \\\n"
	    "    --body '{\"incident\": \"Police attended at 02:10.\"}' \\\n"
	    "    --do-not-contact-family\n",
	    subject, agent_opts, basis, environment, exit_status);
}

static void
decide_page(void)
{
	printf(
	    "NAME\n"
	    "  haven decide - record a decision not to share\n"
	    "\nSYNOPSIS\n"
	    "  haven decide --type T --subject-nhs N | --subject-local AGENCY:ID\n"
	    "               --consent C --art6 B [--art9 C] [--justification T]\n"
	    "               --decided-by WHO --outcome NOT_SHARED\n"
	    "               [--priority P] [--json] [--agent URL] "
	    "[--token-file F]\n"
	    "\nDESCRIPTION\n"
	    "  The seventh golden rule of information sharing: keep a record of\n"
	    "  every decision, including a decision not to share. This records\n"
	    "  that you considered sending a message of type T about a child and\n"
	    "  decided not to, with your reasons. Nothing is sent to anyone: the\n"
	    "  decision is signed and written to the partnership's audit trail,\n"
	    "  where an IG officer sees it beside the shares about the same\n"
	    "  child. Prints the decision's id; 'haven status ID' shows when the\n"
	    "  broker has recorded it.\n"
	    "\nOPTIONS\n"
	    "  --type T           the type of message you decided not to send\n"
	    "  --outcome NOT_SHARED\n"
	    "                     required, to make the record deliberate\n"
	    "  --priority P       as for haven send (default ROUTINE)\n"
	    "%s"
	    "  --json             print {\"id\": …, \"status\": \"queued\"}\n"
	    "%s%s%s%s"
	    "\nEXAMPLE\n"
	    "  haven decide --type REFERRAL --subject-nhs 9434765919 \\\n"
	    "    --consent REFUSED --art6 PUBLIC_TASK \\\n"
	    "    --justification 'Threshold not met after discussion with the "
	    "DSL.' \\\n"
	    "    --decided-by dsl.jones --outcome NOT_SHARED\n",
	    subject, agent_opts, basis, environment, exit_status);
}

/* A page for a command that takes no lawful basis; status is its own. */
static void
simple_page(const char *name, const char *synopsis, const char *desc,
    const char *opts, const char *status, const char *example)
{
	printf("NAME\n  haven %s\n\nSYNOPSIS\n  %s\n\nDESCRIPTION\n%s\n"
	       "OPTIONS\n%s%s%s%s\nEXAMPLE\n%s",
	    name, synopsis, desc, opts, agent_opts, environment, status,
	    example);
}

int
msg_help(const char *cmd)
{
	if (strcmp(cmd, "send") == 0)
		send_page();
	else if (strcmp(cmd, "decide") == 0)
		decide_page();
	else if (strcmp(cmd, "inbox") == 0)
		simple_page("inbox - list the messages this agency received",
		    "haven inbox [--unacked] [--limit N] [--since T] "
		    "[--order newest|priority] [--cursor C] [--json]",
		    "  Lists received messages, newest first, one a line: the\n"
		    "  handling flag (!! DO NOT CONTACT FAMILY) first on any row\n"
		    "  that has it, then priority, type, the sending agency, when\n"
		    "  it arrived, who acknowledged it (or UNACKNOWLEDGED), its\n"
		    "  deadline (OVERDUE once past) and its id. Read one with\n"
		    "  'haven show ID'; acknowledge it with 'haven ack ID'.\n"
		    "  The last line says how many of how many are shown; when\n"
		    "  more follow it gives the --cursor for the next page.\n",
		    "  --unacked          only messages no person has acknowledged\n"
		    "  --limit N          at most N messages (1-1000, default 100)\n"
		    "  --since T          only messages received at or after T\n"
		    "                     (2026-11-22, 2026-11-22T09:00Z or unix\n"
		    "                     seconds)\n"
		    "  --order priority   IMMEDIATE first, then by deadline, then\n"
		    "                     newest (default: newest first)\n"
		    "  --cursor C         the next page after the one that gave C\n"
		    "                     (same --unacked, --since and --order)\n"
		    "  --json             print the agent's JSON document\n",
		    exit_inbox,
		    "  haven inbox --unacked\n"
		    "  haven inbox --unacked --order priority --limit 20\n");
	else if (strcmp(cmd, "show") == 0)
		simple_page("show - show one received message",
		    "haven show ID [--json]",
		    "  Shows a received message in full. When the sender marked\n"
		    "  it, the first line is\n"
		    "    !! DO NOT CONTACT THE FAMILY — police enquiry / "
		    "Operation Encompass\n"
		    "  and means what it says. Then: priority, type, sender,\n"
		    "  when it was sent and received, its deadline, who has\n"
		    "  acknowledged it, the lawful basis the sender recorded, the\n"
		    "  child's details and the body. The details are decrypted\n"
		    "  by the agent on each read and printed to standard output\n"
		    "  only.\n",
		    "  ID                 the message id (32 hex digits)\n"
		    "  --json             print the agent's JSON document\n",
		    exit_show,
		    "  haven show 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15\n");
	else if (strcmp(cmd, "ack") == 0)
		simple_page("ack - acknowledge a received message as a person",
		    "haven ack ID --by WHO [--note TEXT] [--json]",
		    "  Records that a person has read the message and taken it\n"
		    "  on. The sender is told (an ACKNOWLEDGED receipt naming\n"
		    "  WHO) and an IMMEDIATE message stops escalating. A second\n"
		    "  person may acknowledge too; both are recorded.\n",
		    "  ID                 the message id (32 hex digits)\n"
		    "  --by WHO           the staff identifier of who is\n"
		    "                     acknowledging (a-z 0-9 . _ -, a\n"
		    "                     letter first)\n"
		    "  --note TEXT        a note kept at this agency only\n"
		    "  --json             print the agent's JSON answer\n",
		    exit_ack,
		    "  haven ack 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15 --by "
		    "duty.sw-patel \\\n    --note \"Strategy discussion "
		    "booked.\"\n");
	else if (strcmp(cmd, "status") == 0)
		simple_page("status - show the delivery timeline of a sent "
		            "message",
		    "haven status ID [--json]",
		    "  Shows what happened to a message (or decision) this\n"
		    "  agency sent, one line per event, oldest first: queued (in\n"
		    "  the outbox), accepted (the broker checked and audited it),\n"
		    "  rejected (with the broker's reason, or a recipient's when\n"
		    "  its own checks refused it), delivered (to each\n"
		    "  recipient), acknowledged (by whom, at which agency),\n"
		    "  escalated, expired.\n",
		    "  ID                 the id haven send printed\n"
		    "  --json             print the agent's JSON document\n",
		    exit_status_cmd,
		    "  haven status 8c5e2f0a9b7d4c1e8f3a6b2d0c9e7f15\n");
	else if (strcmp(cmd, "watch") == 0)
		simple_page("watch - print alerts as they arrive (duty teams)",
		    "haven watch [--json] [--count N] [--timeout S]",
		    "  Stays connected to the agent and prints one line per\n"
		    "  alert as it arrives: new messages (handling flag first,\n"
		    "  then priority, type, sender, the child's name, deadline\n"
		    "  and id), escalations of IMMEDIATE messages nobody has\n"
		    "  acknowledged, and receipts for messages this agency sent\n"
		    "  (ACCEPTED, DELIVERED to …, ACKNOWLEDGED …, ESCALATED …).\n"
		    "  If the connection drops it reconnects, waiting 1, 2, 4 …\n"
		    "  up to 30 seconds; alerts raised while it was away are not\n"
		    "  replayed, so check 'haven inbox --unacked' then. Stops\n"
		    "  with status 0 on Ctrl-C (SIGINT) or SIGTERM. Status lines\n"
		    "  go to standard error; the child's name only to standard\n"
		    "  output.\n",
		    "  --json             print each event's data as one JSON line\n"
		    "  --count N          exit 0 after N events (for scripts and "
		    "tests)\n"
		    "  --timeout S        exit 0 after S seconds (for scripts and "
		    "tests)\n",
		    exit_watch,
		    "  haven watch\n  haven watch --json --count 1 --timeout 60\n");
	else
		printf("haven %s: no help page.\n", cmd);
	return 0;
}
