/*
 * hv_httphead — a strict reader of the head of an HTTP/1.x request (the
 * request line and header fields, up to the blank line), for the agent's
 * local API to look at before any HTTP server code does.
 *
 * It reads raw bytes exactly as they came off the socket, NUL bytes
 * included, so a value such as "Bearer TOKEN\0junk" is seen whole. It owns
 * nothing and allocates nothing: results point into the caller's buffer.
 * Its sentences never quote a field's value (a header may carry a token).
 */
#ifndef HV_HTTPHEAD_H
#define HV_HTTPHEAD_H

#include <stddef.h>

#include "hv_err.h"

/*
 * The length of the head in buf[0..len), through the blank line that ends
 * it (CRLF CRLF, or LF LF from a lax client), or 0 when it has not all
 * arrived yet.
 */
size_t hv_httphead_end(const char *buf, size_t len);

/*
 * Finds header field `name` (any case) in the complete head[0..len).
 * Returns 1 and sets *val, *vlen to its value without the surrounding
 * spaces and tabs when it occurs exactly once, 0 when it is absent and -1
 * when it occurs more than once (val untouched then).
 */
int hv_httphead_field(const char *head, size_t len, const char *name,
    const char **val, size_t *vlen);

/*
 * Checks the shape of the complete head[0..len): a request line
 * "METHOD SP TARGET SP HTTP/1.0|HTTP/1.1", header lines "name: value" with
 * a token for a name and no control bytes but tab in a value, no folded
 * lines, Content-Length (if any) given once as plain digits, and no
 * Transfer-Encoding (a body is always sent with its length, so the
 * chunked decoder is never reached and request smuggling has no seam).
 * Returns HV_OK, or an error with *status the HTTP status to answer and
 * one sentence in d: HV_EBADREQUEST (400; 411 for Transfer-Encoding; 505
 * for an HTTP version other than 1.0 and 1.1) or HV_ETOOLARGE (413: a
 * Content-Length of more than 18 digits).
 */
hv_err hv_httphead_check(const char *head, size_t len, unsigned *status,
    struct hv_errdetail *d);

#endif
