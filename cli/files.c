/*
 * The sentences `haven` prints about files it cannot use (SPEC §8).
 *
 * Every command that reads a file the user named checks it here first, so
 * that a missing file, a folder or an unreadable file is always exit
 * status 3 with one sentence naming the file and the reason, and a public
 * key file given where a secret key file is wanted is named as such.
 * Nothing here prints a file's contents; the key file scan keeps what it
 * reads in sodium_malloc'd memory and wipes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "hv_keys.h"

int
cli_file_error(const char *cmd, const char *what, const char *path, int err)
{
	if (err == EISDIR)
		fprintf(stderr,
		    "haven %s: %s %s is a folder, not a file; name "
		    "the file itself.\n",
		    cmd, what, path);
	else if (err == ENOENT)
		fprintf(stderr,
		    "haven %s: cannot read %s %s: there is no such "
		    "file; check the path.\n",
		    cmd, what, path);
	else if (err == EFBIG)
		fprintf(stderr,
		    "haven %s: cannot read %s %s: it is not a "
		    "regular file or is too large; name the right file.\n",
		    cmd, what, path);
	else
		fprintf(stderr,
		    "haven %s: cannot read %s %s: %s; check the "
		    "path and its permissions.\n",
		    cmd, what, path, strerror(err));
	return 3;
}

int
cli_file_check(const char *cmd, const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return cli_file_error(cmd, what, path, errno);
	if (S_ISDIR(st.st_mode))
		return cli_file_error(cmd, what, path, EISDIR);
	if (!S_ISREG(st.st_mode))
		return cli_file_error(cmd, what, path, EFBIG);
	if (access(path, R_OK) != 0)
		return cli_file_error(cmd, what, path, errno);
	return 0;
}

int
cli_secret_key_check(const char *cmd, const char *opt, const char *path,
    const char *wanted)
{
	int rc;

	if ((rc = cli_file_check(cmd, "the secret key file", path)) != 0)
		return rc;
	if (hv_keys_is_public_file(path))
		return cli_usage(cmd, "%s is a public key file; %s needs %s.",
		    path, opt, wanted);
	return 0;
}
