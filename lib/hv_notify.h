/*
 * hv_notify — readiness and state notifications to systemd (sd_notify).
 *
 * A no-op when the daemon was not started by systemd (NOTIFY_SOCKET unset),
 * so daemons call these unconditionally.
 */
#ifndef HV_NOTIFY_H
#define HV_NOTIFY_H

/* The daemon serves: READY=1 with a one-line STATUS. */
void hv_notify_ready(const char *status);

/* A SIGHUP reload starts / ends. */
void hv_notify_reloading(void);

/* The daemon is stopping. */
void hv_notify_stopping(void);

#endif
