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

#endif
