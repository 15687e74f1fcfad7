/*
 * hv_headwatch — the head deadline of a server whose request heads it
 * cannot read itself (the console is TLS, so libmicrohttpd decrypts them).
 *
 * A connection is "waiting for a head" from its start (the TLS handshake
 * included) and again after each of its requests completes, until the
 * server has the head of its next request; it is then "waiting for a body"
 * until the server has the whole request. One that waits longer than the
 * head or the body limit — a slow-loris trickling a byte now and then,
 * which an idle time-out alone never ends — has its socket shut down
 * (shutdown(2), SHUT_RDWR), so the server's own read sees the end and
 * closes it. A request being answered, however long (an event stream), is
 * never cut.
 *
 * It owns its list and its watchdog thread, never the sockets: it only
 * shuts down an fd it was given and not yet told is closing, under the one
 * mutex the close takes too, so no fd is touched once the server may have
 * closed it. It reads and logs nothing a client sent.
 */
#ifndef HV_HEADWATCH_H
#define HV_HEADWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "hv_err.h"

typedef struct hv_headwatch hv_headwatch;
typedef struct hv_headwatch_conn hv_headwatch_conn;

/*
 * A watch that cuts connections waiting for a head more than head_ms, or
 * for the rest of a request more than body_ms after its head (times are
 * hv_mono_ms()). No thread runs until hv_headwatch_start. Returns NULL
 * when out of memory; the caller frees it with hv_headwatch_destroy.
 */
hv_headwatch *hv_headwatch_new(int64_t head_ms, int64_t body_ms);

/*
 * Starts the watchdog thread, which sweeps several times per limit.
 * Errors: HV_ESYS (no thread).
 */
hv_err hv_headwatch_start(hv_headwatch *w);

/*
 * Stops the thread (if started) and frees the watch and any connection
 * still on it, without touching their sockets; accepts NULL and sets *w to
 * NULL.
 */
void hv_headwatch_destroy(hv_headwatch **w);

/*
 * A new connection on socket fd, waiting for its head from now_ms.
 * Returns its entry, or NULL when out of memory — then fd has been shut
 * down already: a connection that cannot be watched is not served.
 */
hv_headwatch_conn *hv_headwatch_open(hv_headwatch *w, int fd, int64_t now_ms);

/* The server has the head of c's next request at now_ms: its body next. */
void hv_headwatch_head(hv_headwatch *w, hv_headwatch_conn *c, int64_t now_ms);

/* The server has c's whole request: it is not cut until answered. */
void hv_headwatch_answering(hv_headwatch *w, hv_headwatch_conn *c);

/* c's request is answered: it waits for a head again from now_ms. */
void hv_headwatch_idle(hv_headwatch *w, hv_headwatch_conn *c, int64_t now_ms);

/*
 * The server is closing c's socket: c is forgotten (and freed) before the
 * call returns, so its fd is never touched again. Accepts NULL and sets *c
 * to NULL.
 */
void hv_headwatch_close(hv_headwatch *w, hv_headwatch_conn **c);

/*
 * Shuts down every connection that has waited for a head or a body more
 * than its limit at now_ms (each once). Returns how many it cut. The thread calls
 * this; tests call it with a chosen now_ms.
 */
size_t hv_headwatch_sweep(hv_headwatch *w, int64_t now_ms);

#endif
