/*
 * haven — the command-line tool of a Haven partnership.
 *
 * A table of subcommands; each lives in its own file and returns its exit
 * status. Nothing here knows what a command does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "hv_log.h"

#ifndef HAVEN_VERSION
#define HAVEN_VERSION "0.1.0"
#endif

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "make a node's key files or the subject key" },
	{ "directory", cmd_directory,
	    "build, show or verify the signed partnership directory" },
	{ "send", cmd_send, "send a safeguarding message through the agent" },
	{ "inbox", cmd_inbox, "list received messages" },
	{ "show", cmd_show, "show one received message" },
	{ "ack", cmd_ack, "acknowledge a received message as a person" },
	{ "status", cmd_status,
	    "show the delivery timeline of a sent message" },
	{ "watch", cmd_watch, "print alerts as they arrive (duty teams)" },
	{ "health", cmd_health, "show the agent's or the broker's health" },
	{ "retract", cmd_retract, "take back a message this agency sent" },
	{ "hold", cmd_hold, "add, list or remove legal holds at an agent" },
	{ "decide", cmd_decide, "record a decision not to share" },
	{ "child", cmd_child,
	    "show a child's flags (plan, looked after, missing) and chronology" },
	{ "audit", cmd_audit,
	    "query, export, prove and verify the audit trail (IG officers)" },
	{ "console-user", cmd_console_user,
	    "add, remove or list the web console's users" },
	{ "backup", cmd_backup,
	    "copy a broker's or agent's store while it runs" },
};

#define HELP_COLUMNS 79

/*
 * One line of the command list: the names in a column as wide as the
 * longest plus two spaces, and the summary wrapped under itself so that
 * no line passes HELP_COLUMNS.
 */
static void
usage_command(FILE *fp, const struct command *c, int width)
{
	const char *w = c->summary;
	int col = fprintf(fp, "  %-*s", width + 2, c->name);
	int indent = col;

	while (*w != '\0') {
		int n = (int)strcspn(w, " ");

		if (w != c->summary && col + 1 + n > HELP_COLUMNS) {
			col = fprintf(fp, "\n%*s", indent, "") - 1;
		} else if (w != c->summary) {
			fputc(' ', fp);
			col++;
		}
		col += fprintf(fp, "%.*s", n, w);
		w += n;
		w += strspn(w, " ");
	}
	fputc('\n', fp);
}

static void
usage(FILE *fp)
{
	int width = 0;

	fprintf(fp,
	    "usage: haven COMMAND [OPTIONS]\n"
	    "\n"
	    "Haven routes signed, end-to-end encrypted safeguarding messages\n"
	    "between the agencies of a partnership and keeps a tamper-evident\n"
	    "audit trail of every share and every decision not to share.\n"
	    "\n"
	    "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if ((int)strlen(commands[i].name) > width)
			width = (int)strlen(commands[i].name);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		usage_command(fp, &commands[i], width);
	fprintf(fp,
	    "\n"
	    "Run 'haven COMMAND --help' for a command's options, and\n"
	    "'haven --version' for the release.\n"
	    "Messaging commands reach the local agent at --agent URL or\n"
	    "$HAVEN_AGENT, with the API token from --token-file or\n"
	    "$HAVEN_TOKEN_FILE.\n"
	    "\n"
	    "Exit status: 0 success, 1 refused (rejected, denied, tampered,\n"
	    "not found), 2 usage error, 3 agent or broker unreachable, or I/O "
	    "error.\n");
}

int
cli_fail(hv_err e, const struct hv_errdetail *d)
{
	fprintf(stderr, "haven: %s\n", hv_errmsg(e, d));
	return hv_exit_code(e);
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "haven %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'haven %s --help'.\n", cmd);
	return 2;
}

int
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int
cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

int
main(int argc, char **argv)
{
	hv_log_init("haven", 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("haven %s\n", HAVEN_VERSION);
		return 0;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "haven: cannot initialise libsodium.\n");
		return 3;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr,
	    "haven: '%s' is not a command; run 'haven --help' for "
	    "the list.\n",
	    argv[1]);
	return 2;
}
