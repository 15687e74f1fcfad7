/*
 * hv_log — one line per event on stderr or syslog.
 *
 * The logger's settings are the only process-wide state in Haven. Callers
 * must never pass payloads, child names or NHS numbers: log node ids, message
 * ids (hex), codes and counts only.
 *
 * hv_fatal/hv_fatalx exit(1) and are for start-up failures, broken
 * invariants and lost durability only; lib/ never calls them.
 */
#ifndef HV_LOG_H
#define HV_LOG_H

#include <stdint.h>

/* ident: program name; to_syslog: 0 = stderr. Safe to call again. */
void hv_log_init(const char *ident, int to_syslog);

/* Set verbosity: 0 = warnings only, 1 = info (default), 2 = debug. */
void hv_log_verbosity(int level);

void hv_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hv_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* hv_log_warn appends ": strerror(errno)"; hv_log_warnx does not. */
void hv_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hv_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hv_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void hv_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * A rate limit for lines an outsider can cause at will (refused
 * handshakes, say), so that a flood cannot fill the disk or drown the
 * other lines: at most one line per interval_ms; the lines held back in
 * between are counted and reported with the next line that goes out, or by
 * hv_log_limit_flush. The caller owns the struct (zeroed, interval_ms
 * set), so this adds no process-wide state.
 */
struct hv_log_limit {
	int64_t interval_ms;
	int64_t last_ms; /* monotonic; 0 = nothing logged yet */
	uint64_t suppressed; /* lines held back since last_ms */
};

/* An info line through limit l. */
void hv_log_info_limited(struct hv_log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * When lines were held back and interval_ms has passed since the last one
 * (or at once when force, say at exit), logs "<what>: N more in the last
 * S s, not logged one by one" and starts a new interval. For a timer, so a
 * count is never left unsaid.
 */
void hv_log_limit_flush(struct hv_log_limit *l, const char *what, int force);

#endif
