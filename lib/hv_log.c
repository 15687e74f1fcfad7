/*
 * hv_log — stderr or syslog, one line per event, never payloads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "hv_log.h"

static const char *log_ident = "haven";
static int log_syslog;
static int log_level = 1;

void
hv_log_init(const char *ident, int to_syslog)
{
	log_ident = ident;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
hv_log_verbosity(int level)
{
	log_level = level;
}

__attribute__((format(printf, 3, 0))) static void
vlog(int pri, const char *tag, const char *fmt, va_list ap, int with_errno)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (log_syslog) {
		syslog(pri, "%s", msg);
	} else {
		char ts[32];
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts,
		    now.tv_nsec / 1000000, log_ident, tag, msg);
	}
	errno = saved;
}

#define LOGFN(name, pri, tag, lvl, with_errno) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		if (log_level < (lvl)) \
			return; \
		va_start(ap, fmt); \
		vlog(pri, tag, fmt, ap, with_errno); \
		va_end(ap); \
	}

LOGFN(hv_log_info, LOG_INFO, "info", 1, 0)
LOGFN(hv_log_debug, LOG_DEBUG, "debug", 2, 0)
LOGFN(hv_log_warn, LOG_WARNING, "warning", 0, 1)
LOGFN(hv_log_warnx, LOG_WARNING, "warning", 0, 0)

void
hv_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal", fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
hv_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/* ---- rate-limited lines ------------------------------------------------ */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hv_log_info_limited(struct hv_log_limit *l, const char *fmt, ...)
{
	va_list ap;
	char msg[900];
	int64_t now = mono_ms();

	if (l->last_ms != 0 && now - l->last_ms < l->interval_ms) {
		l->suppressed++;
		return;
	}
	if (log_level >= 1) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (l->suppressed > 0)
			hv_log_info("%s (and %llu more like it in the last "
			            "%lld s, not logged one by one)",
			    msg, (unsigned long long)l->suppressed,
			    (long long)((now - l->last_ms) / 1000));
		else
			hv_log_info("%s", msg);
	}
	l->last_ms = now;
	l->suppressed = 0;
}

void
hv_log_limit_flush(struct hv_log_limit *l, const char *what, int force)
{
	int64_t now = mono_ms();

	if (l->suppressed == 0 || (!force && now - l->last_ms < l->interval_ms))
		return;
	hv_log_info("%s: %llu more in the last %lld s, not logged one by one",
	    what, (unsigned long long)l->suppressed,
	    (long long)((now - l->last_ms) / 1000));
	l->last_ms = now;
	l->suppressed = 0;
}
