/*
 * End-to-end tests of the messaging commands of `haven` (SPEC §8): a real
 * broker and real agents on 127.0.0.1, and bin/haven run as a duty team
 * or an agency's script would run it, with HAVEN_AGENT and
 * HAVEN_TOKEN_FILE in its environment. Every wait has a deadline.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

#define POLICE "police.avon"
#define SOCIAL "social-care.bristol"
#define HEALTH "health.bristol-royal"
#define NHS_OK "943 476 5919"
#define NHS_BAD "943 476 5918"
#define CHILD "Alfie Testchild"

static struct h_partnership P;
static struct h_agent *police, *social;

static void
start(const char *social_extra)
{
	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0,
	    "the partnership could not be created");
	cr_assert_eq(h_broker_start(&P), 0, "the broker did not start");
	police = h_agent_add(&P, POLICE, NULL);
	social = h_agent_add(&P, SOCIAL, social_extra);
	cr_assert(police != NULL && social != NULL);
	cr_assert_eq(h_agent_start(&P, police), 0, "police agent: see %s",
	    police->log);
	cr_assert_eq(h_agent_start(&P, social), 0, "social agent: see %s",
	    social->log);
}

static void
setup(void)
{
	start(NULL);
}

/* Social care escalates an unacknowledged IMMEDIATE message after 1 s. */
static void
setup_escalating(void)
{
	start("escalate_after = 1\n");
}

static void
teardown(void)
{
	h_partnership_destroy(&P);
}

/*
 * Runs `haven ARGS` against agent a (NULL: no HAVEN_* variables) and
 * returns its exit status; *out gets stdout and stderr together.
 */
static int
haven(struct h_agent *a, char **out, const char *fmt, ...)
{
	va_list ap;
	char *args;
	int rc;

	va_start(ap, fmt);
	cr_assert(vasprintf(&args, fmt, ap) >= 0);
	va_end(ap);
	if (a != NULL)
		rc = h_sh(out, 60,
		    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
		    "'%s' %s",
		    a->url, a->token_file, h_bin("haven"), args);
	else
		rc =
		    h_sh(out, 60, "unset HAVEN_AGENT HAVEN_TOKEN_FILE; '%s' %s",
		        h_bin("haven"), args);
	free(args);
	return rc;
}

/* The basis flags of a share the sample agreement allows. */
#define BASIS \
	" --consent NOT_SOUGHT --art6 PUBLIC_TASK --art9 SAFEGUARDING " \
	"--justification 'Operation Encompass: notifying before the school " \
	"day.' --decided-by ppu.sgt-khan"

/* Writes the child's details file and returns its path (static). */
static const char *
child_file(void)
{
	static char path[H_PATH + 16];

	snprintf(path, sizeof(path), "%s/child.json", P.dir);
	cr_assert_eq(h_write(path, 0600,
	                 "{\"name\": \"" CHILD "\", "
	                 "\"dob\": \"2016-03-02\"}"),
	    0);
	return path;
}

/* 1 when s (up to a newline) is a message id: 32 lowercase hex digits. */
static int
is_id_line(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 32 && (s[32] == '\n' || s[32] == '\0') &&
	    (s[32] == '\0' || s[33] == '\0');
}

/* police.avon sends a DO NOT CONTACT FAMILY notification to social care. */
static void
send_notification(char id[33])
{
	char *out = NULL;
	int rc;

	rc = haven(police, &out,
	    "send --to " SOCIAL " --type "
	    "DOMESTIC_ABUSE_NOTIFICATION --priority URGENT --subject-nhs '" NHS_OK
	    "'" BASIS " --child-file '%s' --body "
	    "'{\"incident\": \"Police attended at 02:10.\"}' --deadline RED "
	    "--do-not-contact-family",
	    child_file());
	cr_assert_eq(rc, 0, "haven send failed (%d): %s", rc, out);
	cr_assert(is_id_line(out),
	    "haven send printed more than an id: "
	    "'%s'",
	    out);
	memcpy(id, out, 32);
	id[32] = '\0';
	free(out);
}

struct poll_ctx {
	struct h_agent *a;
	const char *cmd;
	const char *needle;
	char *last;
};

static int
output_has(void *p)
{
	struct poll_ctx *c = p;

	free(c->last);
	c->last = NULL;
	return haven(c->a, &c->last, "%s", c->cmd) == 0 && c->last &&
	    strstr(c->last, c->needle) != NULL;
}

/* Polls `haven CMD` at a until its output holds needle (deadline 30 s). */
static void
await_output(struct h_agent *a, const char *cmd, const char *needle)
{
	struct poll_ctx c = { a, cmd, needle, NULL };
	int ok = h_wait_until(output_has, &c, 30000);

	cr_assert(ok, "'haven %s' never showed '%s'; last output: %s", cmd,
	    needle, c.last ? c.last : "(none)");
	free(c.last);
}

/* ---- the round trip ----------------------------------------------------- */

Test(cli, sends_lists_shows_acknowledges_and_tracks_a_message, .init = setup,
    .fini = teardown, .timeout = 180)
{
	char id[33], cmd[128], *out = NULL, *row;
	json_t *inbox, *m;
	size_t i;
	int found = 0;

	send_notification(id);

	/* The recipient's inbox --json holds it, flag first. */
	await_output(social, "inbox --json", id);
	cr_assert_eq(haven(social, &out, "inbox --json"), 0);
	inbox = json_loads(out, 0, NULL);
	cr_assert(inbox != NULL, "inbox --json is not one JSON document: %s",
	    out);
	json_array_foreach (json_object_get(inbox, "messages"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "id")), id) ==
		    0)
			found = 1;
	cr_assert(found, "the message is not in the JSON inbox");
	json_decref(inbox);
	free(out);

	/* The table shows the marker first on the row, and UNACKNOWLEDGED. */
	cr_assert_eq(haven(social, &out, "inbox --unacked"), 0);
	row = strstr(out, id);
	cr_assert(row != NULL, "the table lacks the id: %s", out);
	while (row > out && row[-1] != '\n')
		row--;
	cr_assert(strncmp(row, "!! DO NOT CONTACT FAMILY", 24) == 0,
	    "the row does not start with the flag: %s", out);
	cr_assert(strstr(row, "UNACKNOWLEDGED") != NULL, "%s", out);
	cr_assert(strstr(row, "DOMESTIC_ABUSE_NOTIFICATION") != NULL);
	cr_assert(strstr(row, POLICE) != NULL);
	cr_assert(strstr(row, "RED") != NULL, "no deadline: %s", out);
	free(out);

	/* show: the flag comes before anything else, then the child. */
	cr_assert_eq(haven(social, &out, "show %s", id), 0, "%s", out);
	cr_assert(strncmp(out, "!! DO NOT CONTACT THE FAMILY", 28) == 0,
	    "show does not start with the flag: %s", out);
	cr_assert(strstr(out, CHILD) != NULL, "no child name: %s", out);
	cr_assert(strstr(out, "2016-03-02") != NULL, "%s", out);
	cr_assert(strstr(out, "Police attended at 02:10.") != NULL, "%s", out);
	cr_assert(strstr(out, "PUBLIC_TASK") != NULL, "%s", out);
	cr_assert(strstr(out, "ppu.sgt-khan") != NULL, "%s", out);
	/* The justification is for the IG office only (SPEC §4.2). */
	cr_assert(strstr(out, "(sealed to ig.bristol;") != NULL, "%s", out);
	cr_assert(strstr(out, "notifying before the school") == NULL, "%s",
	    out);
	free(out);

	/* show --json is the agent's document, the flag its first member. */
	cr_assert_eq(haven(social, &out, "show --json %s", id), 0);
	m = json_loads(out, 0, NULL);
	cr_assert(m != NULL &&
	        json_is_true(json_object_get(m, "do_not_contact_family")),
	    "%s", out);
	json_decref(m);
	free(out);

	/* `by` is a staff identifier: a person's name is refused (usage). */
	cr_assert_eq(haven(social, &out, "ack %s --by 'duty social worker'",
	                 id),
	    2, "%s", out);
	cr_assert(strstr(out, "staff identifier") != NULL, "%s", out);
	free(out);
	/* ack, then the sender sees accepted, delivered and acknowledged. */
	cr_assert_eq(haven(social, &out,
	                 "ack %s --by duty.sw-patel "
	                 "--note 'Strategy discussion booked.'",
	                 id),
	    0, "%s", out);
	cr_assert(strstr(out, "duty.sw-patel") != NULL, "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "status %s", id);
	await_output(police, cmd, "acknowledged");
	cr_assert_eq(haven(police, &out, "status %s", id), 0);
	cr_assert(strstr(out, "queued") != NULL, "%s", out);
	cr_assert(strstr(out, "accepted") != NULL, "%s", out);
	cr_assert(strstr(out, "delivered") != NULL && strstr(out, SOCIAL), "%s",
	    out);
	cr_assert(strstr(out, "duty.sw-patel") != NULL, "%s", out);
	cr_assert(strstr(out, CHILD) == NULL, "status shows child details");
	free(out);

	/* The acknowledged message leaves the --unacked list. */
	cr_assert_eq(haven(social, &out, "inbox --unacked"), 0);
	cr_assert(strstr(out, id) == NULL, "still unacked: %s", out);
	free(out);
}

Test(cli, send_json_prints_one_document_with_the_id_and_status, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL;
	json_t *j;

	cr_assert_eq(haven(police, &out,
	                 "send --json --to " SOCIAL
	                 " --type REFERRAL --priority ROUTINE --subject-local "
	                 "police:PND-4471" BASIS " --body '[1, 2]'"),
	    0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "not one JSON document: %s", out);
	cr_assert(is_id_line(json_string_value(json_object_get(j, "id"))));
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
	    "queued");
	json_decref(j);
	free(out);
}

/* ---- exit codes --------------------------------------------------------- */

Test(cli, a_missing_recipient_is_a_usage_error, .init = setup, .fini = teardown,
    .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(haven(police, &out,
	                 "send --type REFERRAL --priority "
	                 "URGENT --subject-nhs '" NHS_OK "'" BASIS),
	    2, "%s", out);
	cr_assert(strstr(out, "--to") != NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(police, &out,
	                 "send --to " SOCIAL " --type "
	                 "REFERRAL --priority URGENT --subject-nhs '" NHS_OK
	                 "'" BASIS " --body '{not json'"),
	    2, "%s", out);
	cr_assert(strstr(out, "--body") != NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(police, &out,
	                 "send --to " SOCIAL " --type "
	                 "REFERRAL --priority URGENT --subject-nhs '" NHS_OK
	                 "'" BASIS " --body '{}' --body-file /dev/null"),
	    2, "%s", out);
	free(out);
	/* A word the agent does not know is its BAD_REQUEST: usage too. */
	cr_assert_eq(haven(police, &out,
	                 "send --to " SOCIAL " --type "
	                 "REFERRAL --priority SOONISH --subject-nhs '" NHS_OK
	                 "'" BASIS),
	    2, "%s", out);
	cr_assert(strstr(out, "priority") != NULL, "%s", out);
	free(out);
}

Test(cli, a_share_the_agreement_forbids_is_refused_with_status_1, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	/* The sample agreement lets police notify education, not health. */
	cr_assert_eq(
	    haven(police, &out,
	        "send --to " HEALTH " --type "
	        "DOMESTIC_ABUSE_NOTIFICATION --priority URGENT --subject-nhs '" NHS_OK
	        "'" BASIS),
	    1, "%s", out);
	cr_assert(strstr(out, "POLICY_DENIED") != NULL, "%s", out);
	/* In a person's words: the recipient by id, not the API's to[0]. */
	cr_assert(strstr(out, HEALTH) != NULL, "no recipient named: %s", out);
	cr_assert(strstr(out, "to[0]") == NULL, "API field path: %s", out);
	cr_assert(strchr(out, '\n') == out + strlen(out) - 1,
	    "not one line: %s", out);
	free(out);
}

Test(cli, a_mistyped_recipient_is_refused_by_its_id_not_the_api_field,
    .init = setup, .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(
	    haven(police, &out,
	        "send --to " SOCIAL ",social-care."
	        "bristl --type REFERRAL --priority URGENT --subject-nhs '" NHS_OK
	        "'" BASIS),
	    1, "%s", out);
	cr_assert(strstr(out, "social-care.bristl ") != NULL, "%s", out);
	cr_assert(strstr(out, "to[") == NULL, "API field path: %s", out);
	cr_assert(strncmp(out, "haven: social-care.bristl", 25) == 0 ||
	        strncmp(out, "haven: recipient 2", 18) == 0,
	    "%s", out);
	free(out);
}

Test(cli, a_bad_nhs_number_is_refused_naming_the_nhs_number, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(haven(police, &out,
	                 "send --to " SOCIAL " --type "
	                 "REFERRAL --priority URGENT --subject-nhs '" NHS_BAD
	                 "'" BASIS),
	    1, "%s", out);
	cr_assert(strstr(out, "NHS number") != NULL, "%s", out);
	cr_assert(strstr(out, "subject.nhs") == NULL, "%s", out);
	free(out);
}

Test(cli, a_weak_justification_is_refused_naming_the_basis_field, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(
	    haven(police, &out,
	        "send --to " SOCIAL " --type "
	        "REFERRAL --priority URGENT --subject-nhs '" NHS_OK
	        "' --consent "
	        "REFUSED --art6 PUBLIC_TASK --justification short --decided-by "
	        "ppu.sgt-khan"),
	    1, "%s", out);
	cr_assert(strstr(out, "--justification") != NULL, "%s", out);
	cr_assert(strstr(out, "basis.") == NULL, "%s", out);
	cr_assert(strstr(out, "BASIS_INVALID") != NULL, "%s", out);
	free(out);
}

/* SPEC §4.2: --decided-by is a staff identifier, checked before sending. */
Test(cli, refuses_a_name_as_decided_by_before_sending_because_it_is_audited,
    .init = setup, .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(
	    haven(police, &out,
	        "send --to " SOCIAL " --type "
	        "REFERRAL --priority URGENT --subject-nhs '" NHS_OK
	        "' --consent "
	        "NOT_SOUGHT --art6 PUBLIC_TASK --justification 'Seeking consent "
	        "would place the child at risk.' --decided-by 'Jane Smith'"),
	    2, "%s", out);
	cr_assert(strstr(out, "staff identifier") != NULL, "%s", out);
	cr_assert(strstr(out, "Jane") == NULL, "%s", out);
	free(out);
}

Test(cli, a_wrong_token_is_refused_naming_the_token_file, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char path[H_PATH + 16], *out = NULL;

	snprintf(path, sizeof(path), "%s/wrong.token", P.dir);
	cr_assert_eq(h_write(path, 0600, "not-the-token\n"), 0);
	cr_assert_eq(h_sh(&out, 60,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' inbox",
	                 police->url, path, h_bin("haven")),
	    1, "%s", out);
	cr_assert(strstr(out, "token") != NULL && strstr(out, path) != NULL,
	    "%s", out);
	free(out);
	/* --token-file after the command name beats the environment. */
	cr_assert_eq(h_sh(&out, 60,
	                 "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	                 "'%s' health --token-file '%s'",
	                 police->url, path, h_bin("haven"), police->token_file),
	    0, "%s", out);
	free(out);
}

Test(cli,
    an_unknown_message_is_refused_with_status_1_naming_the_id_and_what_to_run,
    .init = setup, .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert_eq(haven(social, &out,
	                 "show "
	                 "0123456789abcdef0123456789abcdef"),
	    1, "%s", out);
	cr_assert_not_null(strstr(out,
	                       "received no message "
	                       "0123456789abcdef0123456789abcdef"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "'haven status "), "%s", out);
	free(out);
	cr_assert_eq(haven(police, &out,
	                 "status "
	                 "0123456789ABCDEF0123456789ABCDEF"),
	    1, "%s", out);
	cr_assert_not_null(strstr(out, "sent no message "), "%s", out);
	cr_assert_not_null(strstr(out, "'haven show "), "%s", out);
	free(out);
	cr_assert_eq(haven(social, &out,
	                 "ack "
	                 "0123456789abcdef0123456789abcdef --by someone"),
	    1, "%s", out);
	cr_assert_not_null(strstr(out, "'haven inbox'"), "%s", out);
	free(out);
}

/* A loopback port nobody listens on: bound, then closed. */
static int
closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

Test(cli, an_agent_that_is_not_running_gives_status_3, .timeout = 60)
{
	char tok[] = "/tmp/haven-cli-tok-XXXXXX", *out = NULL;
	int fd = mkstemp(tok), port = closed_port();

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "abc\n", 4), 4);
	close(fd);
	for (int i = 0; i < 3; i++) {
		static const char *const cmds[] = { "health", "inbox",
			"watch --count 1 --timeout 5" };

		cr_assert_eq(h_sh(&out, 30,
		                 "HAVEN_AGENT=http://127.0.0.1:%d "
		                 "HAVEN_TOKEN_FILE=%s '%s' %s",
		                 port, tok, h_bin("haven"), cmds[i]),
		    3, "%s: %s", cmds[i], out);
		cr_assert(strstr(out, "cannot reach the agent") != NULL, "%s",
		    out);
		free(out);
	}
	unlink(tok);
}

Test(cli, no_agent_or_token_in_the_environment_is_a_usage_error, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(haven(NULL, &out, "inbox"), 2, "%s", out);
	cr_assert(strstr(out, "HAVEN_AGENT") != NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out, "health --agent http://127.0.0.1:9"), 2,
	    "%s", out);
	cr_assert(strstr(out, "HAVEN_TOKEN_FILE") != NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out,
	                 "show not-an-id --agent "
	                 "http://127.0.0.1:9 --token-file /dev/null"),
	    2, "%s", out);
	free(out);
}

Test(cli, every_messaging_command_answers_help_with_status_0, .timeout = 60)
{
	static const char *const cmds[] = { "send", "inbox", "show", "ack",
		"status", "watch", "health", "decide", "retract", "hold" };
	char *out = NULL;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(haven(NULL, &out, "%s --help", cmds[i]), 0,
		    "%s: %s", cmds[i], out);
		cr_assert(strstr(out, "SYNOPSIS") != NULL &&
		        strstr(out, "EXIT STATUS") != NULL &&
		        strstr(out, "EXAMPLE") != NULL,
		    "%s: %s", cmds[i], out);
		free(out);
	}
	cr_assert_eq(haven(NULL, &out, "watch --help"), 0);
	cr_assert(strstr(out, "--count") && strstr(out, "--timeout"));
	free(out);
	cr_assert_eq(haven(NULL, &out, "send --help"), 0);
	cr_assert(strstr(out, "NOT_SOUGHT") && strstr(out, "SAFEGUARDING"));
	free(out);
}

/*
 * haven --help lists the commands in one column: every summary starts at
 * the same column, two spaces at least after the longest name, and a
 * summary too long for 79 columns goes on under itself.
 */
Test(cli, help_lists_every_command_in_one_column_within_79_columns,
    .timeout = 60)
{
	char *out = NULL, *p, *line, *save = NULL;
	int col = -1, names = 0;

	cr_assert_eq(haven(NULL, &out, "--help"), 0);
	cr_assert_not_null(p = strstr(out, "Commands:\n"));
	p = strchr(p, '\n') + 1;
	for (line = strtok_r(p, "\n", &save);
	     line != NULL && strncmp(line, "  ", 2) == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		int at = (int)strspn(line, " ");

		cr_assert_leq(strlen(line), 79, "too wide: %s", line);
		if (at == 2) { /* a name, then its summary */
			size_t n = strcspn(line + 2, " ");

			at = 2 + (int)n + (int)strspn(line + 2 + n, " ");
			cr_assert_geq(at - 2 - (int)n, 2,
			    "one space after the name: %s", line);
			names++;
		}
		if (col < 0)
			col = at;
		cr_assert_eq(at, col, "not in the column at %d: %s", col, line);
	}
	cr_assert_geq(names, 16);
	free(out);
}

Test(cli, only_send_and_decide_help_speaks_of_a_lawful_basis_in_exit_status,
    .timeout = 60)
{
	static const char *const cmds[] = { "inbox", "show", "ack", "status",
		"watch" };
	char *out = NULL, *st;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(haven(NULL, &out, "%s --help", cmds[i]), 0,
		    "%s: %s", cmds[i], out);
		st = strstr(out, "EXIT STATUS");
		cr_assert(st != NULL, "%s: %s", cmds[i], out);
		cr_assert(strstr(st, "lawful") == NULL &&
		        strstr(st, "NHS number") == NULL &&
		        strstr(st, "nothing was sent") == NULL,
		    "%s's exit status is send's: %s", cmds[i], st);
		cr_assert(strstr(st, "API token") != NULL, "%s: %s", cmds[i],
		    st);
		free(out);
	}
	cr_assert_eq(haven(NULL, &out, "send --help"), 0);
	cr_assert(strstr(strstr(out, "EXIT STATUS"), "lawful") != NULL, "%s",
	    out);
	free(out);
}

Test(cli, the_help_example_of_a_local_id_is_the_one_the_readme_uses,
    .timeout = 60)
{
	const char *src = getenv("HAVEN_SRC");
	char *out = NULL, *readme = NULL;

	if (src == NULL || *src == '\0')
		src = ".";
	cr_assert_eq(haven(NULL, &out, "send --help"), 0);
	cr_assert(strstr(out, "police.avon:CR-88213") != NULL, "%s", out);
	cr_assert(strstr(out, "local:AGENCY:ID") != NULL, "%s", out);
	free(out);
	cr_assert_eq(h_sh(&readme, 30, "cat '%s/README.md'", src), 0);
	cr_assert(strstr(readme, "police.avon:CR-88213") != NULL);
	free(readme);
}

/* ---- health, decide ----------------------------------------------------- */

static int
broker_connected(void *p)
{
	char *out = NULL;
	json_t *j;
	int ok;

	(void)p;
	if (haven(police, &out, "health --json") != 0) {
		free(out);
		return 0;
	}
	j = json_loads(out, 0, NULL);
	ok = j != NULL && json_is_true(json_object_get(j, "broker_connected"));
	json_decref(j);
	free(out);
	return ok;
}

Test(cli, health_shows_the_agent_connected_to_the_broker, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL;

	cr_assert(h_wait_until(broker_connected, NULL, 30000),
	    "health --json never showed broker_connected");
	cr_assert_eq(haven(police, &out, "health"), 0, "%s", out);
	cr_assert(strstr(out, POLICE) != NULL, "%s", out);
	cr_assert(strstr(out, "connected") != NULL, "%s", out);
	cr_assert(strstr(out, "NOT CONNECTED") == NULL, "%s", out);
	free(out);
}

Test(cli, decide_records_a_decision_not_to_share, .init = setup,
    .fini = teardown, .timeout = 120)
{
	char *out = NULL, id[33], cmd[128];

	cr_assert_eq(
	    haven(police, &out,
	        "decide --type REFERRAL "
	        "--subject-nhs '" NHS_OK
	        "' --consent REFUSED --art6 PUBLIC_TASK "
	        "--justification 'Threshold not met after discussion with the "
	        "DSL.' --decided-by dsl.jones --outcome NOT_SHARED"),
	    0, "%s", out);
	cr_assert(is_id_line(out), "decide printed more than an id: %s", out);
	memcpy(id, out, 32);
	id[32] = '\0';
	free(out);
	snprintf(cmd, sizeof(cmd), "status %s", id);
	await_output(police, cmd, "accepted");
	cr_assert_eq(haven(police, &out, "status %s", id), 0);
	cr_assert(strstr(out, "Decision not to share") != NULL, "%s", out);
	free(out);
	/* --outcome is required: recording is deliberate. */
	cr_assert_eq(haven(police, &out,
	                 "decide --type REFERRAL "
	                 "--subject-nhs '" NHS_OK
	                 "' --consent REFUSED --art6 PUBLIC_TASK "
	                 "--decided-by dsl.jones"),
	    2, "%s", out);
	free(out);
}

/* ---- watch -------------------------------------------------------------- */

struct watcher {
	pid_t pid;
	char out[H_PATH + 16];
	char err[H_PATH + 16];
};

/* Starts `haven watch ARGS` at a, stdout and stderr to files tagged tag. */
static void
watch_start(struct watcher *w, struct h_agent *a, const char *tag,
    const char *args)
{
	snprintf(w->out, sizeof(w->out), "%s/watch-%s.out", P.dir, tag);
	snprintf(w->err, sizeof(w->err), "%s/watch-%s.err", P.dir, tag);
	w->pid = fork();
	cr_assert(w->pid >= 0);
	if (w->pid == 0) {
		char *cmd = h_fmt("exec '%s' watch %s >'%s' 2>'%s' </dev/null",
		    h_bin("haven"), args, w->out, w->err);

		setenv("HAVEN_AGENT", a->url, 1);
		setenv("HAVEN_TOKEN_FILE", a->token_file, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
}

static int
watch_connected(void *p)
{
	struct watcher *w = p;
	char *err = h_read(w->err);
	int ok = err != NULL && strstr(err, "connected") != NULL;

	free(err);
	return ok || !h_alive(w->pid);
}

/* Waits for the watcher to connect; its stderr says so. */
static void
watch_await_connected(struct watcher *w)
{
	cr_assert(h_wait_until(watch_connected, w, 20000),
	    "haven watch did not connect within 20 s");
	cr_assert(h_alive(w->pid), "haven watch exited: %s", h_read(w->err));
}

/* Waits for the watcher to exit by itself; returns its status. */
static int
watch_finish(struct watcher *w)
{
	int st = h_wait_pid(w->pid, 60000);

	if (st == -1 && h_alive(w->pid)) {
		kill(w->pid, SIGKILL);
		h_wait_pid(w->pid, 5000);
	}
	return st;
}

Test(cli, watch_json_prints_a_new_message_as_one_json_line, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct watcher w;
	char id[33], *out;
	json_t *j;

	watch_start(&w, social, "s", "--json --count 1 --timeout 90");
	watch_await_connected(&w);
	send_notification(id);
	cr_assert_eq(watch_finish(&w), 0, "watch did not exit 0: %s",
	    h_read(w.err));
	out = h_read(w.out);
	cr_assert(out != NULL);
	cr_assert(strchr(out, '\n') == out + strlen(out) - 1,
	    "not exactly one line: %s", out);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "not JSON: %s", out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
	cr_assert_str_eq(json_string_value(json_object_get(j, "sender")),
	    POLICE);
	json_decref(j);
	free(out);
}

Test(cli, watch_prints_the_flag_first_and_the_childs_name, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct watcher w;
	char id[33], *out, *err;

	watch_start(&w, social, "s", "--count 1 --timeout 90");
	watch_await_connected(&w);
	send_notification(id);
	cr_assert_eq(watch_finish(&w), 0, "watch did not exit 0: %s",
	    h_read(w.err));
	out = h_read(w.out);
	cr_assert(out != NULL);
	cr_assert(strncmp(out, "!! DO NOT CONTACT FAMILY", 24) == 0, "%s", out);
	cr_assert(strstr(out, "URGENT") &&
	        strstr(out, "DOMESTIC_ABUSE_NOTIFICATION") &&
	        strstr(out, POLICE),
	    "%s", out);
	cr_assert(strstr(out, CHILD) != NULL, "no child name: %s", out);
	cr_assert(strstr(out, "RED") != NULL, "no deadline: %s", out);
	cr_assert(strstr(out, id) != NULL, "%s", out);
	err = h_read(w.err);
	cr_assert(err != NULL && strstr(err, CHILD) == NULL,
	    "the child's name reached stderr");
	free(err);
	free(out);
}

Test(cli, watch_shows_receipts_and_stops_cleanly_on_sigterm, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct watcher w;
	char id[33], *out = NULL;

	watch_start(&w, police, "p", "--timeout 120");
	watch_await_connected(&w);
	send_notification(id);
	/* The sender's own watch shows the receipts as they come. */
	for (int i = 0; i < 1500; i++) {
		out = h_read(w.out);
		if (out != NULL && strstr(out, "DELIVERED to " SOCIAL))
			break;
		free(out);
		out = NULL;
		usleep(20000);
	}
	cr_assert(out != NULL, "no DELIVERED receipt within 30 s: %s",
	    h_read(w.out));
	cr_assert(strstr(out, id) != NULL, "%s", out);
	free(out);
	kill(w.pid, SIGTERM);
	cr_assert_eq(h_wait_pid(w.pid, 10000), 0,
	    "watch did not exit 0 on "
	    "SIGTERM");
}

Test(cli, watch_shows_an_escalation_to_both_sides, .init = setup_escalating,
    .fini = teardown, .timeout = 180)
{
	struct watcher wp, ws;
	char *out = NULL;

	watch_start(&wp, police, "p", "--count 3 --timeout 90");
	watch_start(&ws, social, "s", "--count 2 --timeout 90");
	watch_await_connected(&wp);
	watch_await_connected(&ws);
	cr_assert_eq(
	    haven(police, &out,
	        "send --to " SOCIAL " --type "
	        "MISSING_CHILD_ALERT --priority IMMEDIATE --subject-nhs '" NHS_OK
	        "'" BASIS " --child-file '%s'",
	        child_file()),
	    0, "%s", out);
	free(out);

	/* The recipient's duty team: NEW, then ESCALATED with the child. */
	cr_assert_eq(watch_finish(&ws), 0, "%s", h_read(ws.err));
	out = h_read(ws.out);
	cr_assert(out != NULL && strstr(out, "NEW") != NULL, "%s", out);
	cr_assert(strstr(out, "ESCALATED") > strstr(out, "NEW"), "%s", out);
	cr_assert(strstr(strstr(out, "ESCALATED"), CHILD) != NULL, "%s", out);
	free(out);

	/* The sender: accepted, delivered, escalated receipts. */
	cr_assert_eq(watch_finish(&wp), 0, "%s", h_read(wp.err));
	out = h_read(wp.out);
	cr_assert(out != NULL && strstr(out, "DELIVERED to " SOCIAL), "%s",
	    out);
	cr_assert(strstr(out, "ESCALATED at " SOCIAL) != NULL, "%s", out);
	cr_assert(strstr(out, CHILD) == NULL, "%s", out);
	free(out);
}

static int
watch_reconnected(void *p)
{
	struct watcher *w = p;
	char *err = h_read(w->err), *first;
	int ok = err != NULL && (first = strstr(err, "connected to")) &&
	    strstr(first + 1, "connected to") != NULL;

	free(err);
	return ok || !h_alive(w->pid);
}

Test(cli, watch_reconnects_when_the_agent_restarts, .init = setup,
    .fini = teardown, .timeout = 180)
{
	struct watcher w;
	char id[33], *conf, *at, *out, *err, *text;
	const char *port;

	watch_start(&w, social, "s", "--count 1 --timeout 120");
	watch_await_connected(&w);

	/* Restart the agent on the same port, as systemd would. */
	port = strrchr(social->url, ':') + 1;
	cr_assert_eq(h_agent_stop(social), 0);
	conf = h_read(social->conf);
	cr_assert(conf != NULL && (at = strstr(conf, "127.0.0.1:0\n")));
	*at = '\0';
	text = h_fmt("%s127.0.0.1:%s\n%s", conf, port,
	    at + strlen("127.0.0.1:0\n"));
	cr_assert_eq(h_write(social->conf, 0644, text), 0);
	free(text);
	free(conf);
	cr_assert_eq(h_agent_start(&P, social), 0, "see %s", social->log);

	cr_assert(h_wait_until(watch_reconnected, &w, 60000),
	    "watch did not reconnect within 60 s");
	cr_assert(h_alive(w.pid), "watch exited: %s", h_read(w.err));
	err = h_read(w.err);
	cr_assert(strstr(err, "reconnecting") != NULL, "%s", err);
	cr_assert(strstr(err, "haven inbox --unacked") != NULL, "%s", err);
	free(err);

	send_notification(id);
	cr_assert_eq(watch_finish(&w), 0, "%s", h_read(w.err));
	out = h_read(w.out);
	cr_assert(out != NULL && strstr(out, id) != NULL, "%s", out);
	free(out);
}

/* ---- files and arguments the user got wrong (SPEC §8 exit codes) ------ */

static char TOKEN[H_PATH + 16]; /* a token file for no running agent */

/* The partnership's files only: keys, agreement, directory, a token. */
static void
setup_files(void)
{
	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0,
	    "the partnership could not be created");
	snprintf(TOKEN, sizeof(TOKEN), "%s/token", P.dir);
	cr_assert_eq(h_write(TOKEN, 0600, "abc\n"), 0);
}

/* A send with everything but the recipients and the body right. */
#define SEND_BUT_TO \
	" --type REFERRAL --priority ROUTINE --subject-nhs '" NHS_OK "'" BASIS \
	" --agent http://127.0.0.1:9 --token-file '%s'"

Test(cli, a_folder_given_as_a_file_is_named_as_a_folder_with_status_3,
    .init = setup_files, .fini = teardown, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(haven(NULL, &out,
	                 "send --to " SOCIAL SEND_BUT_TO " --body-file '%s'",
	                 TOKEN, P.dir),
	    3, "%s", out);
	cr_assert(strstr(out, "is a folder, not a file") != NULL &&
	        strstr(out, P.dir) != NULL,
	    "%s", out);
	cr_assert(strstr(out, "File too large") == NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out,
	                 "health --agent http://127.0.0.1:9 "
	                 "--token-file '%s'",
	                 P.dir),
	    3, "%s", out);
	cr_assert(strstr(out, "the token file") != NULL &&
	        strstr(out, "is a folder, not a file") != NULL,
	    "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out, "directory show '%s'", P.dir), 3, "%s",
	    out);
	cr_assert(strstr(out, "is a folder, not a file") != NULL, "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out,
	                 "keygen --id x.y --out '%s/k' "
	                 "--passphrase-file '%s'",
	                 P.dir, P.dir),
	    3, "%s", out);
	cr_assert(strstr(out, "the passphrase file") != NULL &&
	        strstr(out, "is a folder, not a file") != NULL,
	    "%s", out);
	free(out);
}

Test(cli, a_missing_file_is_an_io_error_naming_the_file, .init = setup_files,
    .fini = teardown, .timeout = 60)
{
	char *cmds[] = {
		h_fmt("directory show /nonexistent/d.hd"),
		h_fmt("directory verify /nonexistent/d.hd --root-pub '%s'",
		    P.root_pub),
		h_fmt("directory build /nonexistent/d.hd --root '%s' -o "
		      "'%s/new.hd'",
		    P.root_key, P.dir),
		h_fmt("keygen --id x.y --out '%s/k' --passphrase-file "
		      "/nonexistent/d.hd",
		    P.dir),
		h_fmt("audit check-proof /nonexistent/d.hd --broker-pub "
		      "'%s/keys/broker.bristol.pub'",
		    P.dir),
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(haven(NULL, &out, "%s", cmds[i]), 3, "%s: %s",
		    cmds[i], out);
		cr_assert(strstr(out, "cannot read") != NULL &&
		        strstr(out, "/nonexistent/d.hd") != NULL,
		    "%s: %s", cmds[i], out);
		free(out);
		free(cmds[i]);
	}
	cr_assert_eq(haven(NULL, &out,
	                 "send --to " SOCIAL SEND_BUT_TO
	                 " --body-file /nonexistent/d.hd",
	                 TOKEN),
	    3, "%s", out);
	cr_assert(strstr(out, "cannot read --body-file /nonexistent/d.hd") !=
	        NULL,
	    "%s", out);
	free(out);
	cr_assert_eq(haven(NULL, &out, "send --to " SOCIAL SEND_BUT_TO,
	                 "/nonexistent/tok"),
	    3, "%s", out);
	cr_assert(strstr(out, "cannot read the token file /nonexistent/tok") !=
	        NULL,
	    "%s", out);
	free(out);
}

Test(cli, a_public_key_given_as_a_secret_key_is_named_as_such,
    .init = setup_files, .fini = teardown, .timeout = 60)
{
	char *out = NULL, *pub = h_fmt("%s/keys/police.avon.pub", P.dir);

	cr_assert_eq(haven(NULL, &out,
	                 "directory build '%s' --root '%s' "
	                 "-o '%s/new.hd'",
	                 P.agreement, pub, P.dir),
	    2, "%s", out);
	cr_assert(strstr(out,
	              "police.avon.pub is a public key file; --root "
	              "needs the root's secret key file (ROOT.key)") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "chmod") == NULL, "%s", out);
	free(out);
	cr_assert_eq(h_sh(NULL, 10, "test -e '%s/new.hd'", P.dir), 1,
	    "a directory was written");
	cr_assert_eq(
	    haven(NULL, &out,
	        "audit query --broker "
	        "tcp://127.0.0.1:9 --key '%s/keys/ig.bristol.pub' --directory "
	        "'%s' --event SUBMITTED",
	        P.dir, P.directory),
	    2, "%s", out);
	cr_assert(strstr(out,
	              "ig.bristol.pub is a public key file; --key "
	              "needs") != NULL,
	    "%s", out);
	free(out);
	/* The real secret key still builds. */
	cr_assert_eq(haven(NULL, &out,
	                 "directory build '%s' --root '%s' "
	                 "-o '%s/new.hd'",
	                 P.agreement, P.root_key, P.dir),
	    0, "%s", out);
	free(out);
	free(pub);
}

Test(cli, a_secret_key_given_as_a_public_key_is_named_as_such,
    .init = setup_files, .fini = teardown, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(haven(NULL, &out, "directory verify '%s' --root-pub '%s'",
	                 P.directory, P.root_key),
	    1, "%s", out);
	cr_assert(strstr(out,
	              "is a secret key file; give the node's public "
	              "key file (NODE.pub)") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "unknown field") == NULL, "%s", out);
	free(out);
}

Test(cli, a_recipient_list_with_an_empty_or_repeated_name_is_a_usage_error,
    .init = setup_files, .fini = teardown, .timeout = 60)
{
	static const struct {
		const char *to, *says;
	} bad[] = {
		{ SOCIAL ",", "empty name" },
		{ "," SOCIAL, "empty name" },
		{ SOCIAL ",," POLICE, "empty name" },
		{ SOCIAL "," SOCIAL, "names " SOCIAL " twice" },
		{ SOCIAL ", " POLICE ", " SOCIAL, "names " SOCIAL " twice" },
		{ "Social-Care.Bristol", "is not a node id" },
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(haven(NULL, &out, "send --to '%s'" SEND_BUT_TO,
		                 bad[i].to, TOKEN),
		    2, "--to %s: %s", bad[i].to, out);
		cr_assert(strstr(out, bad[i].says) != NULL, "--to %s: %s",
		    bad[i].to, out);
		free(out);
	}
	/* A good list gets past the checks to the (absent) agent. */
	cr_assert_eq(haven(NULL, &out,
	                 "send --to '" SOCIAL ", " POLICE "'" SEND_BUT_TO,
	                 TOKEN),
	    3, "%s", out);
	cr_assert(strstr(out, "cannot reach the agent") != NULL, "%s", out);
	free(out);
}

Test(cli, an_agent_given_a_folder_as_its_config_says_so, .timeout = 60)
{
	char dir[] = "/tmp/haven-cli-conf-XXXXXX", *out = NULL, *want;

	cr_assert_not_null(mkdtemp(dir));
	want = h_fmt("cannot read config file %s: it is a folder", dir);
	cr_assert_neq(h_sh(&out, 30, "'%s' --config '%s' --check-config",
	                  h_bin("haven-agent"), dir),
	    0, "%s", out);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "required key") == NULL, "%s", out);
	free(out);
	free(want);
	rmdir(dir);
}

/*
 * A daemon whose `key` names the node's .pub (mode 0644) is told it holds a
 * public key and which setting wanted the secret one, not to run chmod.
 */
Test(cli, a_daemon_given_a_public_key_as_its_key_names_the_setting_not_chmod,
    .timeout = 60)
{
	struct h_agent *a;
	char *out = NULL, *conf;

	cr_assert_eq(h_partnership_create(&P, NULL, NULL), 0);
	conf = h_fmt("%s/pub-broker.ini", P.dir);
	cr_assert_eq(h_sh(NULL, 10,
	                 "sed 's#keys/broker.bristol.key#"
	                 "keys/broker.bristol.pub#' '%s' > '%s'",
	                 P.broker_conf, conf),
	    0);
	cr_assert_neq(h_sh(&out, 30, "'%s' --config '%s' --check-config",
	                  h_bin("haven-broker"), conf),
	    0, "%s", out);
	cr_assert(strstr(out,
	              "broker.bristol.pub is a public key file; key "
	              "in ") != NULL &&
	        strstr(out,
	            "pub-broker.ini needs the node's "
	            "secret key file") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "chmod") == NULL, "%s", out);
	free(out);
	free(conf);

	cr_assert_not_null(a = h_agent_add(&P, POLICE, NULL));
	conf = h_fmt("%s/pub-agent.ini", P.dir);
	cr_assert_eq(h_sh(NULL, 10,
	                 "sed 's#keys/%s.key#keys/%s.pub#' '%s' > "
	                 "'%s'",
	                 POLICE, POLICE, a->conf, conf),
	    0);
	cr_assert_neq(h_sh(&out, 30, "'%s' --config '%s' --check-config",
	                  h_bin("haven-agent"), conf),
	    0, "%s", out);
	cr_assert(strstr(out,
	              "police.avon.pub is a public key file; key in ") !=
	            NULL &&
	        strstr(out,
	            "pub-agent.ini needs the node's secret "
	            "key file") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "chmod") == NULL, "%s", out);
	free(out);
	free(conf);
	h_partnership_destroy(&P);
}

/* 1 when page has w with each '-' written as groff's "\\-". */
static int
groff_names(const char *page, const char *w)
{
	char g[160];
	size_t n = 0;

	for (; *w != '\0' && n + 3 < sizeof(g); w++) {
		if (*w == '-')
			g[n++] = '\\';
		g[n++] = *w;
	}
	g[n] = '\0';
	return strstr(page, g) != NULL;
}

/*
 * 1 when the text of --help from `from` on lists a word (a command, "  name
 * description", or a key, "name = ...") that page does not name.
 */
static int
page_misses(const char *page, char *help, const char *from, char *word,
    size_t cap)
{
	char *p = strstr(help, from), *line, *save = NULL, w[64], eq[2];

	if (p == NULL)
		return snprintf(word, cap, "(no %s in --help)", from), 1;
	for (line = strtok_r(p, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		int key = sscanf(line, " %63[a-z_] %1[=]", w, eq) == 2;
		int cmd = strncmp(line, "  ", 2) == 0 && line[2] != ' ' &&
		    sscanf(line, "  %63[a-z-]", w) == 1 &&
		    strstr(line + 2 + strlen(w), "  ") == line + 2 + strlen(w);

		if ((key || cmd) && strstr(page, w) == NULL &&
		    !groff_names(page, w)) {
			snprintf(word, cap, "%s", w);
			return 1;
		}
	}
	return 0;
}

/*
 * The manual pages --help points to render without a warning and name
 * every command haven lists and every key the daemons read; make install
 * puts them under MANDIR.
 */
Test(cli, the_manual_pages_render_and_name_every_command_and_key, .timeout = 60)
{
	static const struct {
		const char *page, *prog, *from;
	} pages[] = {
		{ "haven.1", "haven", "Commands:" },
		{ "haven-broker.8", "haven-broker", "CONFIGURATION" },
		{ "haven-agent.8", "haven-agent", "CONFIGURATION" },
	};
	const char *src = getenv("HAVEN_SRC");
	char *out = NULL, *help = NULL, *path, *text, word[80];

	if (src == NULL || *src == '\0')
		src = ".";
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		path = h_fmt("%s/docs/man/%s", src, pages[i].page);
		cr_assert_eq(h_sh(&out, 30,
		                 "groff -man -Tutf8 -ww -z '%s' "
		                 "2>&1",
		                 path),
		    0, "%s", out);
		cr_assert_eq(out[0], '\0', "%s: %s", pages[i].page, out);
		free(out);
		cr_assert_eq(h_sh(&out, 30, "man -l '%s' >/dev/null", path), 0,
		    "%s", out);
		free(out);
		cr_assert_not_null(text = h_read(path));
		cr_assert_eq(h_sh(&help, 30, "'%s' --help",
		                 h_bin(pages[i].prog)),
		    0);
		cr_assert_not(page_misses(text, help, pages[i].from, word,
		                  sizeof(word)),
		    "%s does not name %s", pages[i].page, word);
		free(help);
		free(text);
		free(path);
	}
	cr_assert_eq(h_sh(&out, 60,
	                 "make -s -n -C '%s' install DESTDIR=/x "
	                 "PREFIX=/usr 2>&1",
	                 src),
	    0, "%s", out);
	cr_assert(strstr(out, "docs/man/haven.1 /x/usr/share/man/man1/") !=
	            NULL &&
	        strstr(out, "haven-agent.8") != NULL &&
	        strstr(out, "/x/usr/share/man/man8/") != NULL,
	    "%s", out);
	free(out);
}
