/*
 * Small helpers shared by the `make bench` programs: a monotonic clock in
 * microseconds, percentiles, and the summary rows that bench/run gathers
 * into one table.
 *
 * Each program prints its own detailed figures on stdout. When
 * $HAVEN_BENCH_SUMMARY names a file, it also appends one Markdown row per
 * headline figure there (`| figure | value | detail |`), which bench/run
 * prints at the end, so every figure of one run sits in one table.
 * When $HAVEN_BENCH_FIGURES names a file, bench_figure appends one
 * `KEY VALUE` line there, the raw numbers bench/run divides to print each
 * Haven figure beside the ceiling that bounds it.
 *
 * Header-only (static functions) because the Makefile builds every
 * bench/NAME.c into a program of its own.
 */
#ifndef HV_BENCH_H
#define HV_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline int64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int
bench_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The q-th percentile (0..100) of n samples, which it sorts in place.
 * Returns 0 for no samples.
 */
static inline int64_t
bench_percentile(int64_t *v, size_t n, int q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp64);
	i = n * (size_t)q / 100;
	return v[i < n ? i : n - 1];
}

/* Appends one summary row (figure, value, detail) to $HAVEN_BENCH_SUMMARY. */
static inline void __attribute__((format(printf, 3, 4)))
bench_summary(const char *figure, const char *value, const char *fmt, ...)
{
	const char *path = getenv("HAVEN_BENCH_SUMMARY");
	va_list ap;
	FILE *fp;

	if (path == NULL || *path == '\0' || (fp = fopen(path, "a")) == NULL)
		return;
	fprintf(fp, "| %s | %s | ", figure, value);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fprintf(fp, " |\n");
	fclose(fp);
}

/* The process's user + system CPU time so far, in microseconds. */
static inline int64_t
bench_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields 14 and 15 (utime, stime), counted after the ")" of comm. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d "
	        "%*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	        &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st) * 1000000 / sysconf(_SC_CLK_TCK);
}

/* Appends `key value` to $HAVEN_BENCH_FIGURES (raw numbers for ratios). */
static inline void
bench_figure(const char *key, double value)
{
	const char *path = getenv("HAVEN_BENCH_FIGURES");
	FILE *fp;

	if (path == NULL || *path == '\0' || (fp = fopen(path, "a")) == NULL)
		return;
	fprintf(fp, "%s %.6g\n", key, value);
	fclose(fp);
}

#endif
