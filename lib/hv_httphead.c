/*
 * A strict reader of HTTP/1.x request heads (RFC 9112 §2-§5): see
 * hv_httphead.h. Everything works on (pointer, length) pairs because the
 * bytes come straight from a socket and may hold NULs.
 */
#include <string.h>
#include <strings.h>

#include "hv_httphead.h"

/* Digits of a Content-Length that surely fit in 63 bits. */
#define CL_DIGITS_MAX 18

size_t
hv_httphead_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* RFC 9110 §5.6.2 tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * The next line of head[*pos..len): sets *line and *n (without its CRLF or
 * LF) and advances *pos. 0 at the end.
 */
static int
next_line(const char *head, size_t len, size_t *pos, const char **line,
    size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return 0;
	*line = head + *pos;
	nl = memchr(*line, '\n', len - *pos);
	if (nl == NULL) {
		*n = len - *pos;
		*pos = len;
	} else {
		*n = (size_t)(nl - *line);
		*pos += *n + 1;
	}
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	return 1;
}

/* Splits a header line at its colon; -1 when it has none. */
static int
split_field(const char *line, size_t n, size_t *name_len, const char **val,
    size_t *vlen)
{
	const char *colon = memchr(line, ':', n);
	size_t b, e;

	if (colon == NULL)
		return -1;
	*name_len = (size_t)(colon - line);
	b = *name_len + 1;
	e = n;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	*val = line + b;
	*vlen = e - b;
	return 0;
}

int
hv_httphead_field(const char *head, size_t len, const char *name,
    const char **val, size_t *vlen)
{
	size_t pos = 0, n, nl, want = strlen(name), found_len = 0;
	const char *line, *v, *found = NULL;
	int count = 0;

	if (!next_line(head, len, &pos, &line, &n)) /* request line */
		return 0;
	while (next_line(head, len, &pos, &line, &n) && n > 0) {
		if (split_field(line, n, &nl, &v, &found_len) != 0 ||
		    nl != want || strncasecmp(line, name, want) != 0)
			continue;
		if (++count > 1)
			return -1;
		found = v;
		*vlen = found_len;
	}
	if (count == 1)
		*val = found;
	return count;
}

static int
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/* Checks "METHOD SP TARGET SP HTTP/1.x". */
static hv_err
check_request_line(const char *line, size_t n, unsigned *status,
    struct hv_errdetail *d)
{
	size_t i = 0, t;

	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= n || line[i] != ' ')
		goto bad;
	t = ++i;
	while (i < n && (unsigned char)line[i] > 0x20 &&
	    (unsigned char)line[i] < 0x7f)
		i++;
	if (i == t || i >= n || line[i] != ' ')
		goto bad;
	i++;
	if (n - i == 8 && memcmp(line + i, "HTTP/1.", 7) == 0 &&
	    (line[i + 7] == '0' || line[i + 7] == '1'))
		return HV_OK;
	if (n - i == 8 && memcmp(line + i, "HTTP/", 5) == 0 &&
	    line[i + 5] >= '0' && line[i + 5] <= '9' && line[i + 6] == '.' &&
	    line[i + 7] >= '0' && line[i + 7] <= '9') {
		*status = 505;
		return hv_errset(d, HV_EBADREQUEST, NULL,
		    "The agent speaks "
		    "HTTP/1.1 (or 1.0) only.");
	}
bad:
	*status = 400;
	return hv_errset(d, HV_EBADREQUEST, NULL,
	    "The request line is not "
	    "'METHOD /path HTTP/1.1'.");
}

hv_err
hv_httphead_check(const char *head, size_t len, unsigned *status,
    struct hv_errdetail *d)
{
	size_t pos = 0, n, nl, vlen;
	const char *line, *v;
	int n_cl = 0, n_te = 0;
	hv_err e;

	*status = 400;
	if (!next_line(head, len, &pos, &line, &n))
		return hv_errset(d, HV_EBADREQUEST, NULL,
		    "The request is "
		    "empty.");
	if ((e = check_request_line(line, n, status, d)) != HV_OK)
		return e;
	while (next_line(head, len, &pos, &line, &n) && n > 0) {
		if (line[0] == ' ' || line[0] == '\t')
			return hv_errset(d, HV_EBADREQUEST, NULL,
			    "A header "
			    "line is folded onto the next; send each field "
			    "on one line.");
		if (split_field(line, n, &nl, &v, &vlen) != 0 || nl == 0)
			return hv_errset(d, HV_EBADREQUEST, NULL,
			    "A header "
			    "line has no 'name:' before its value.");
		for (size_t i = 0; i < nl; i++)
			if (!is_tchar((unsigned char)line[i]))
				return hv_errset(d, HV_EBADREQUEST, NULL,
				    "A "
				    "header name holds a character that is "
				    "not allowed in a name.");
		for (size_t i = nl + 1; i < n; i++) {
			unsigned char c = (unsigned char)line[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return hv_errset(d, HV_EBADREQUEST, NULL,
				    "The "
				    "%.*s header holds a control character.",
				    (int)(nl > 40 ? 40 : nl), line);
		}
		if (nl == 17 && strncasecmp(line, "Transfer-Encoding", nl) == 0)
			n_te++;
		if (nl != 14 || strncasecmp(line, "Content-Length", nl) != 0)
			continue;
		if (++n_cl > 1)
			return hv_errset(d, HV_EBADREQUEST, NULL,
			    "Content-Length "
			    "is given more than once; give it once.");
		if (!all_digits(v, vlen))
			return hv_errset(d, HV_EBADREQUEST, NULL,
			    "Content-Length "
			    "must be a whole number of bytes (digits only).");
		if (vlen > CL_DIGITS_MAX) {
			*status = 413;
			return hv_errset(d, HV_ETOOLARGE, NULL,
			    "Content-Length "
			    "is far larger than any request the agent takes.");
		}
	}
	if (n_te > 0) {
		*status = 411;
		return hv_errset(d, HV_EBADREQUEST, NULL,
		    "Send the body with "
		    "Content-Length; Transfer-Encoding is not taken.");
	}
	return HV_OK;
}
