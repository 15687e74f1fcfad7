/*
 * haven console-user add|remove|list — the people who may log in to an
 * agent's duty-team console (SPEC §14). The file holds Argon2id hashes
 * (lib/hv_console); the agent reads it at each log-in, so a change takes
 * effect without a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "hv_console.h"
#include "hv_keys.h"

static const char help[] =
    "usage: haven console-user add NAME --role duty|viewer --users FILE\n"
    "                              [--password-file F] [--replace]\n"
    "       haven console-user remove NAME --users FILE\n"
    "       haven console-user list --users FILE\n"
    "\n"
    "Manages the console_users file of an agent's web console. A duty user\n"
    "may acknowledge messages; a viewer may only read them. Without\n"
    "--password-file the password is asked for twice on the terminal. A\n"
    "password has 10 to 256 characters; the file keeps only its Argon2id\n"
    "hash and is created with mode 0600.\n";

/* Reads one line from the terminal without echo into buf[cap]. */
static int
tty_read(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int ok = -1;

	if (tty == NULL)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
		if (fgets(buf, (int)cap, tty) != NULL) {
			buf[strcspn(buf, "\r\n")] = '\0';
			ok = 0;
		}
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputs("\n", tty);
	}
	fclose(tty);
	return ok;
}

static int
password_get(const char *file, char **out)
{
	struct hv_errdetail d;
	char *a, *b;
	hv_err e;

	hv_errclear(&d);
	if (file != NULL) {
		if ((e = hv_passphrase_read(file, out, &d)) != HV_OK)
			return cli_fail(e, &d);
		return 0;
	}
	a = sodium_malloc(HV_CONSOLE_PASSWORD_MAX + 2);
	b = sodium_malloc(HV_CONSOLE_PASSWORD_MAX + 2);
	if (a == NULL || b == NULL) {
		hv_secret_free(a);
		hv_secret_free(b);
		return cli_fail(HV_ENOMEM, NULL);
	}
	if (tty_read("Password: ", a, HV_CONSOLE_PASSWORD_MAX + 2) != 0 ||
	    tty_read("Password again: ", b, HV_CONSOLE_PASSWORD_MAX + 2) != 0) {
		hv_secret_free(a);
		hv_secret_free(b);
		fprintf(stderr,
		    "haven console-user: no terminal to ask for "
		    "the password; give --password-file FILE.\n");
		return 2;
	}
	if (strcmp(a, b) != 0) {
		hv_secret_free(a);
		hv_secret_free(b);
		fprintf(stderr,
		    "haven console-user: the two passwords "
		    "differ; nothing was changed.\n");
		return 1;
	}
	hv_secret_free(b);
	*out = a;
	return 0;
}

static void
print_user(const char *name, int role, void *cls)
{
	(void)cls;
	printf("%-32s %s\n", name, hv_console_role_name(role));
}

int
cmd_console_user(int argc, char **argv)
{
	const char *verb, *name = NULL, *users = NULL, *role_s = NULL;
	const char *pwfile = NULL, *v;
	struct hv_errdetail d;
	char *pw = NULL;
	int replace = 0, role, rc;
	hv_err e;

	if (cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return 0;
	}
	if (argc < 2)
		return cli_usage("console-user", "give add, remove or list.");
	verb = argv[1];
	for (int i = 2; i < argc; i++) {
		int r;

		if ((r = cli_opt_value(argc, argv, &i, "--users", &v)) != 0) {
			if (r < 0)
				return cli_usage("console-user",
				    "--users "
				    "needs a FILE.");
			users = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--role", &v)) !=
		    0) {
			if (r < 0)
				return cli_usage("console-user",
				    "--role "
				    "needs duty or viewer.");
			role_s = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--password-file",
		                &v)) != 0) {
			if (r < 0)
				return cli_usage("console-user",
				    "--password-"
				    "file needs a FILE.");
			pwfile = v;
		} else if (strcmp(argv[i], "--replace") == 0)
			replace = 1;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			return cli_usage("console-user",
			    "unknown argument "
			    "'%s'.",
			    argv[i]);
	}
	if (users == NULL)
		return cli_usage("console-user", "--users FILE is required.");
	hv_errclear(&d);
	if (strcmp(verb, "list") == 0) {
		if ((e = hv_console_user_list(users, print_user, NULL, &d)) !=
		    HV_OK)
			return cli_fail(e, &d);
		return 0;
	}
	if (name == NULL)
		return cli_usage("console-user", "%s needs a NAME.", verb);
	if (strcmp(verb, "remove") == 0) {
		if ((e = hv_console_user_remove(users, name, &d)) != HV_OK)
			return cli_fail(e, &d);
		printf("removed %s from %s\n", name, users);
		return 0;
	}
	if (strcmp(verb, "add") != 0)
		return cli_usage("console-user",
		    "'%s' is not add, remove or "
		    "list.",
		    verb);
	if ((role = hv_console_role_parse(role_s)) < 0)
		return cli_usage("console-user",
		    "--role must be duty or "
		    "viewer.");
	if (!hv_console_name_valid(name))
		return cli_usage("console-user",
		    "'%.64s' is not a user name: "
		    "use 1 to %d letters, digits and . _ @ -.",
		    name, HV_CONSOLE_NAME_MAX);
	if ((rc = password_get(pwfile, &pw)) != 0)
		return rc;
	e = hv_console_user_add(users, name, role, pw, replace, &d);
	hv_secret_free(pw);
	if (e != HV_OK)
		return cli_fail(e, &d);
	printf("added %s (%s) to %s\n", name, hv_console_role_name(role),
	    users);
	return 0;
}
