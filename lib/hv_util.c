/*
 * hv_util — hex, clocks, UTF-8 validation and whole-file helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv_util.h"

void
hv_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hv_unhex(const char *in, uint8_t *out, size_t len)
{
	return hv_unhex_n(in, strlen(in), out, len);
}

int
hv_unhex_n(const char *in, size_t n, uint8_t *out, size_t len)
{
	if (n != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int64_t
hv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
hv_now(void)
{
	return hv_now_ms() / 1000;
}

int64_t
hv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hv_time_iso(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
hv_time_iso_ms(int64_t ms, char *buf, size_t cap)
{
	int64_t s = ms / 1000, frac = ms % 1000;
	time_t t;
	struct tm tm;
	char day[24];

	if (frac < 0) {
		frac += 1000;
		s -= 1;
	}
	t = (time_t)s;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, cap, "invalid");
		return;
	}
	snprintf(buf, cap, "%s.%03dZ", day, (int)frac);
}

int
hv_time_parse(const char *s, int64_t *ms)
{
	struct tm tm, want;
	time_t t;
	const char *end;
	char *e;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &e, 10);
	if (*e == '\0' && errno == 0 && v >= 0 && strlen(s) != 8) {
		/* Milliseconds must not overflow: that would be undefined. */
		if (v > INT64_MAX / 1000)
			return -1;
		*ms = (int64_t)v * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, "%Y-%m-%dT%H:%M", &tm)) == NULL) {
			memset(&tm, 0, sizeof(tm));
			if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL)
				return -1;
		}
	}
	if (*end == 'Z')
		end++;
	if (*end != '\0')
		return -1;
	/*
	 * strptime takes any day from 1 to 31 and timegm would roll
	 * 2026-02-30 over into March: refuse a date that does not exist.
	 */
	want = tm;
	t = timegm(&tm);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year != want.tm_year ||
	    tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday ||
	    tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min ||
	    tm.tm_sec != want.tm_sec)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

int
hv_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

int
hv_strlcpy_checked(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int
hv_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[4096];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) <
	    0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	/* The rename itself is durable only once the folder is synced. */
	{
		char dir[4096];
		const char *slash = strrchr(path, '/');
		int dfd;

		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			    path);
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >=
		    0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}

int
hv_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	FILE *fp;
	uint8_t *buf;
	size_t n;
	struct stat st;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(fp), &st) != 0) {
		int saved = errno;

		fclose(fp);
		errno = saved;
		return -1;
	}
	/* EISDIR lets a caller say "is a folder"; EFBIG is any other misfit. */
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		fclose(fp);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EFBIG;
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, fp);
	fclose(fp);
	if (n != (size_t)st.st_size) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
