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

/* A key file is about 400 bytes; anything over this is not one. */
#define KEYFILE_SCAN_MAX 8192

int
cli_file_error(const char *cmd, const char *what, const char *path, int err)
{
	if (err == EISDIR)
		fprintf(stderr, "haven %s: %s %s is a folder, not a file; name "
		    "the file itself.\n", cmd, what, path);
	else if (err == ENOENT)
		fprintf(stderr, "haven %s: cannot read %s %s: there is no such "
		    "file; check the path.\n", cmd, what, path);
	else if (err == EFBIG)
		fprintf(stderr, "haven %s: cannot read %s %s: it is not a "
		    "regular file or is too large; name the right file.\n", cmd,
		    what, path);
	else
		fprintf(stderr, "haven %s: cannot read %s %s: %s; check the "
		    "path and its permissions.\n", cmd, what, path,
		    strerror(err));
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

/* 1 when the line at p (up to end) names the key `name` before its '='. */
static int
line_names(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < n || memcmp(p, name, n) != 0)
		return 0;
	p += n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p < end && *p == '=';
}

int
cli_is_pub_file(const char *path)
{
	char *buf;
	size_t n = 0;
	int fd, pub = 0, secret = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0)
		return 0;
	if ((buf = sodium_malloc(KEYFILE_SCAN_MAX)) == NULL) {
		close(fd);
		return 0;
	}
	while (n < KEYFILE_SCAN_MAX) {
		ssize_t r = read(fd, buf + n, KEYFILE_SCAN_MAX - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	for (const char *p = buf, *end = buf + n; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		pub |= line_names(p, eol, "sign_public");
		secret |= line_names(p, eol, "sign_secret") ||
		    line_names(p, eol, "sealed");
		p = eol + 1;
	}
	sodium_free(buf);
	return pub && !secret;
}

int
cli_secret_key_check(const char *cmd, const char *opt, const char *path,
    const char *wanted)
{
	int rc;

	if ((rc = cli_file_check(cmd, "the secret key file", path)) != 0)
		return rc;
	if (cli_is_pub_file(path))
		return cli_usage(cmd, "%s is a public key file; %s needs %s.",
		    path, opt, wanted);
	return 0;
}
