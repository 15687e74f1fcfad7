/*
 * The `haven` command: a table of subcommands, one file per command group.
 *
 *   keys/keygen.c      haven keygen
 *   keys/directory.c   haven directory build|show|verify
 *   cli/messaging.c    haven send|inbox|show|ack|status|watch|health|decide
 *   cli/audit.c        haven audit query|verify|prove|check-proof|export
 *   cli/child.c        haven child
 *
 * Every command returns its exit status (SPEC §8): 0 success, 1 refused,
 * 2 usage, 3 cannot reach agent/broker or I/O error. Errors go to stderr as
 * one sentence through cli_fail/cli_usage.
 */
#ifndef HV_CLI_H
#define HV_CLI_H

#include "hv_err.h"

int cmd_keygen(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_retract(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_decide(int argc, char **argv);
int cmd_child(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_console_user(int argc, char **argv);
int cmd_backup(int argc, char **argv);

/*
 * Prints "haven: SENTENCE" to stderr, where the sentence is the detail's
 * message when set, else hv_strerror(e); returns hv_exit_code(e).
 */
int cli_fail(hv_err e, const struct hv_errdetail *d);

/* Prints "haven CMD: printf-sentence" and "Try 'haven CMD --help'."; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 1 when argv holds --help or -h (so commands answer it before anything). */
int cli_wants_help(int argc, char **argv);

/*
 * Takes the value of option `name` at argv[*i], given as "--name VALUE" or
 * "--name=VALUE" (advancing *i past VALUE). Returns 1 and sets *val when
 * argv[*i] is that option, 0 when it is another argument, -1 when its value
 * is missing (*val untouched).
 */
int cli_opt_value(int argc, char **argv, int *i, const char *name,
    const char **val);

/* ---- files.c: files the user named --------------------------------- */

/*
 * Prints why `what` (e.g. "the token file") at path cannot be read, as one
 * sentence: "… is a folder, not a file" for EISDIR, else "cannot read …"
 * with the reason for err (an errno). Returns 3, the I/O exit status.
 */
int cli_file_error(const char *cmd, const char *what, const char *path,
    int err);

/*
 * Checks that path is a regular file this user may read. Returns 0, or
 * prints one sentence (cli_file_error) and returns 3.
 */
int cli_file_check(const char *cmd, const char *what, const char *path);

/*
 * Checks the file given to option opt as a secret key file: 3 when it
 * cannot be read (cli_file_check), 2 when it is a public key file, with
 * "PATH is a public key file; OPT needs WANTED." Returns 0 otherwise.
 */
int cli_secret_key_check(const char *cmd, const char *opt, const char *path,
    const char *wanted);

#endif
