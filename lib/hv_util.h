/*
 * hv_util — small helpers shared by every program: hex, time, UTF-8.
 */
#ifndef HV_UTIL_H
#define HV_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void hv_hex(const uint8_t *in, size_t len, char *out);

/* Parses exactly 2*len hex digits (either case). Returns 0, or -1. */
int hv_unhex(const char *in, uint8_t *out, size_t len);
/* The same over the n characters at in (no NUL needed): n must be 2*len. */
int hv_unhex_n(const char *in, size_t n, uint8_t *out, size_t len);

/* Wall clock, unix milliseconds / seconds. */
int64_t hv_now_ms(void);
int64_t hv_now(void);

/* Monotonic clock in milliseconds, for deadlines. */
int64_t hv_mono_ms(void);

/* ISO 8601 UTC ("2026-11-22T09:14:03Z") of unix milliseconds into buf. */
void hv_time_iso(int64_t ms, char *buf, size_t cap);

/*
 * The same with milliseconds ("2026-11-22T09:14:03.120Z"), as audit records
 * and proofs show times; "invalid" for a time gmtime cannot represent.
 * 32 bytes always suffice.
 */
void hv_time_iso_ms(int64_t ms, char *buf, size_t cap);

/*
 * Parses a time given on a command line or in a query: ISO 8601 UTC
 * (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z]) or unix seconds. Returns 0 and
 * sets *ms, or -1.
 */
int hv_time_parse(const char *s, int64_t *ms);

/* 1 when buf[0..len) is valid UTF-8 with no NUL byte. */
int hv_utf8_valid(const char *buf, size_t len);

/* Copies src into dst[cap] and returns 0, or -1 (dst untouched) if too long. */
int hv_strlcpy_checked(char *dst, const char *src, size_t cap);

/* Writes data to path atomically (temp file, fsync, rename). 0 or -1. */
int hv_write_file_atomic(const char *path, const void *data, size_t len,
    int mode);

/* Reads a whole file (at most max bytes) into a malloc'd buffer. 0 or -1. */
int hv_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
