/*
 * haven-broker — the main loop: zmq_poll over the ROUTER, the ZAP socket
 * and a signalfd, timers, and group commit (SPEC §6).
 *
 * Frames that are ready together (up to BROKER_BATCH_MAX) are read at once,
 * processed into ONE LMDB write transaction, committed once, and only then
 * are their receipts sent: an ACCEPTED receipt always follows a durable
 * commit. When the map fills up in the middle of a batch, the transaction
 * is aborted and the batch is done again one frame per transaction, so the
 * frames that fit still go through and only the others get STORAGE_FULL.
 * Read-only requests (tree heads, health) are answered after the commit.
 *
 * Signals arrive through a signalfd: SIGTERM and SIGINT stop the loop
 * between batches (nothing is ever left half-written), SIGHUP reloads the
 * directory.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_notify.h"
#include "hv_util.h"
#include "hv_wire.h"

/*
 * ZMQ_ZAP_ENFORCE_DOMAIN is a draft option in libzmq 4.3's header but the
 * library honours it; without it a missing ZAP handler would let every
 * CURVE client in.
 */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define POLL_MS 100
#define EXPIRE_EVERY_MS 500
#define REBIND_TRIES 200 /* 10 ms apart */

/* One frame read from the ROUTER. */
struct inframe {
	struct conn c;
	zmq_msg_t msg;
	int parts; /* data parts after the routing id */
	int later; /* read-only request, answered after commit */
	Haven__Frame *f; /* decoded, for later */
};

/* ---- signals --------------------------------------------------------------- */

void
signals_block(struct broker *b)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		hv_fatal("cannot block signals");
	sigdelset(&set, SIGPIPE);
	if ((b->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		hv_fatal("cannot open a signalfd");
}

static void
signals_read(struct broker *b)
{
	struct signalfd_siginfo si;

	while (read(b->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			directory_reload(b);
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			hv_log_info("stopping on %s",
			    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			b->stop = 1;
		}
	}
}

/* ---- the ROUTER ----------------------------------------------------------- */

/*
 * Watches the ROUTER for what never reaches the ZAP handler: connections
 * that fail the handshake (garbage, silence past BROKER_HANDSHAKE_MS) and
 * connections the kernel would not let it accept (no file descriptors
 * left). A PAIR socket in b->monitor, new for every bind (each ROUTER gets
 * its own inproc endpoint, so a re-bind never races the old one's close).
 * Returns 0 or -1 (errno set).
 */
static int
monitor_start(struct broker *b, void *router)
{
	static const int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
	    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_ACCEPT_FAILED;
	char ep[64];
	int linger = 0;

	if (b->monitor != NULL) {
		zmq_close(b->monitor);
		b->monitor = NULL;
	}
	snprintf(ep, sizeof(ep), "inproc://haven.router.monitor.%u",
	    ++b->monitor_gen);
	if (zmq_socket_monitor(router, ep, events) != 0 ||
	    (b->monitor = zmq_socket(b->zctx, ZMQ_PAIR)) == NULL)
		return -1;
	zmq_setsockopt(b->monitor, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(b->monitor, ep) != 0) {
		zmq_close(b->monitor);
		b->monitor = NULL;
		return -1;
	}
	return 0;
}

/* Logs what the monitor reports, through the limit on such lines. */
static void
monitor_read(struct broker *b)
{
	for (int guard = 0; guard < 1024; guard++) {
		zmq_msg_t ev, addr;
		uint16_t event = 0;
		uint32_t value = 0;
		int more = 0;
		size_t sz = sizeof(more);

		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, b->monitor, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			return;
		}
		if (zmq_msg_size(&ev) >= 6) {
			memcpy(&event, zmq_msg_data(&ev), 2);
			memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
		}
		zmq_msg_close(&ev);
		zmq_getsockopt(b->monitor, ZMQ_RCVMORE, &more, &sz);
		if (more) {
			zmq_msg_init(&addr);
			zmq_msg_recv(&addr, b->monitor, 0);
			zmq_msg_close(&addr);
		}
		if (event == ZMQ_EVENT_ACCEPT_FAILED)
			hv_log_info_limited(&b->hs_log,
			    "cannot accept a "
			    "connection: %s",
			    zmq_strerror((int)value));
		else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
			hv_log_info_limited(&b->hs_log,
			    "a connection failed "
			    "the handshake: not ZeroMQ CURVE (protocol error "
			    "0x%x)",
			    value);
		else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
			hv_log_info_limited(&b->hs_log,
			    "a connection failed "
			    "the handshake: closed or silent for %d s",
			    BROKER_HANDSHAKE_MS / 1000);
	}
}

int
router_bind(struct broker *b, const char *endpoint)
{
	int one = 1, hb = 2000, hbt = 6000, hwm = 100000, linger = 0;
	int handshake = BROKER_HANDSHAKE_MS, backlog = BROKER_BACKLOG;
	int64_t max = (int64_t)b->frame_max;
	size_t n = sizeof(b->endpoint);
	void *r;

	if ((r = zmq_socket(b->zctx, ZMQ_ROUTER)) == NULL)
		return -1;
	if (zmq_setsockopt(r, ZMQ_ZAP_DOMAIN, "haven", 5) != 0 ||
	    zmq_setsockopt(r, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, b->keys->curve_secret,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(r, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
	    zmq_setsockopt(r, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) != 0 ||
	    zmq_setsockopt(r, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) != 0 ||
	    zmq_setsockopt(r, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) != 0 ||
	    zmq_setsockopt(r, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(r, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(r, ZMQ_HANDSHAKE_IVL, &handshake,
	        sizeof(handshake)) != 0 ||
	    zmq_setsockopt(r, ZMQ_BACKLOG, &backlog, sizeof(backlog)) != 0 ||
	    monitor_start(b, r) != 0 || zmq_bind(r, endpoint) != 0) {
		int saved = errno;

		zmq_close(r);
		errno = saved;
		return -1;
	}
	if (zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, b->endpoint, &n) != 0)
		snprintf(b->endpoint, sizeof(b->endpoint), "%s", endpoint);
	b->router = r;
	return 0;
}

/*
 * Drops every session by closing the ROUTER and binding it again on the
 * same endpoint: ZAP runs only at the handshake, so this is how a node
 * revoked by a reload loses its live connection (docs/PROTOCOL.md). The
 * other nodes reconnect and pass ZAP again.
 */
static void
router_rebind(struct broker *b)
{
	char ep[sizeof(b->endpoint)];
	struct timespec ts = { 0, 10 * 1000000L };

	snprintf(ep, sizeof(ep), "%s", b->endpoint);
	zmq_close(b->router);
	b->router = NULL;
	sessions_reset(b);
	for (int i = 0; i < REBIND_TRIES; i++) {
		if (router_bind(b, ep) == 0) {
			hv_log_info("dropped every session and listen again "
			            "on %s",
			    b->endpoint);
			return;
		}
		if (errno != EADDRINUSE)
			break;
		nanosleep(&ts, NULL);
	}
	hv_fatal("cannot bind %s again after a revocation", ep);
}

int
router_send(struct broker *b, const uint8_t *rid, size_t rid_len,
    const uint8_t *buf, size_t len)
{
	if (b->router == NULL) {
		errno = EHOSTUNREACH;
		return -1;
	}
	if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return -1;
	if (zmq_send(b->router, buf, len, ZMQ_DONTWAIT) < 0)
		return -1;
	return 0;
}

/* ---- outbox --------------------------------------------------------------- */

static hv_err
outbox_grow(struct outbox *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct out_item *nv = realloc(o->v, cap * sizeof(*nv));

		if (nv == NULL)
			return HV_ENOMEM;
		o->v = nv;
		o->cap = cap;
	}
	memset(&o->v[o->n], 0, sizeof(o->v[o->n]));
	return HV_OK;
}

hv_err
outbox_send(struct outbox *o, const uint8_t *rid, size_t rid_len, uint8_t *buf,
    size_t len)
{
	struct out_item *it;

	if (outbox_grow(o) != HV_OK || rid_len > BROKER_RID_MAX) {
		free(buf);
		return HV_ENOMEM;
	}
	it = &o->v[o->n++];
	it->kind = OUT_SEND;
	memcpy(it->rid, rid, rid_len);
	it->rid_len = rid_len;
	it->buf = buf;
	it->len = len;
	return HV_OK;
}

hv_err
outbox_unflight(struct outbox *o, const char *node, const uint8_t id[HV_ID_LEN])
{
	struct out_item *it;

	if (outbox_grow(o) != HV_OK)
		return HV_ENOMEM;
	it = &o->v[o->n++];
	it->kind = OUT_UNFLIGHT;
	snprintf(it->node, sizeof(it->node), "%s", node);
	memcpy(it->id, id, HV_ID_LEN);
	return HV_OK;
}

void
outbox_clear(struct outbox *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].buf);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* Sends and applies everything in o, after the commit. */
static void
outbox_flush(struct broker *b, struct outbox *o)
{
	for (size_t i = 0; i < o->n; i++) {
		struct out_item *it = &o->v[i];

		if (it->kind == OUT_UNFLIGHT) {
			deliver_unflight(b, it->node, it->id);
			continue;
		}
		if (router_send(b, it->rid, it->rid_len, it->buf, it->len) !=
		        0 &&
		    errno != EHOSTUNREACH)
			hv_log_warn("cannot send a reply");
	}
	outbox_clear(o);
}

hv_err
reply_frame(struct outbox *o, const struct conn *c, const Haven__Frame *f)
{
	uint8_t *buf;
	size_t len;
	hv_err e;

	if ((e = hv_frame_pack(f, &buf, &len)) != HV_OK)
		return e;
	return outbox_send(o, c->rid, c->rid_len, buf, len);
}

hv_err
reply_error(struct outbox *o, const struct conn *c, const char *code,
    const char *message)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Error er = HAVEN__ERROR__INIT;

	er.code = (char *)code;
	er.message = (char *)message;
	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &er;
	return reply_frame(o, c, &f);
}

/*
 * A stored receipt is kept packed (it is signed); it goes out through the
 * one frame encoder, hv_frame_pack, like every other frame, so the wire
 * format has a single definition.
 */
hv_err
frame_wrap_receipt(const uint8_t *rc, size_t len, uint8_t **out,
    size_t *out_len)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Receipt *r;
	hv_err e;

	if ((r = haven__receipt__unpack(NULL, len, rc)) == NULL)
		return HV_EIO;
	f.kind_case = HAVEN__FRAME__KIND_RECEIPT;
	f.receipt = r;
	e = hv_frame_pack(&f, out, out_len);
	haven__receipt__free_unpacked(r, NULL);
	return e;
}

hv_err
reply_receipt_bytes(struct outbox *o, const struct conn *c, const uint8_t *rc,
    size_t len)
{
	uint8_t *buf;
	size_t n;
	hv_err e;

	if ((e = frame_wrap_receipt(rc, len, &buf, &n)) != HV_OK)
		return e;
	return outbox_send(o, c->rid, c->rid_len, buf, n);
}

/* ---- dispatch -------------------------------------------------------------- */

static const char *
kind_name(Haven__Frame__KindCase k)
{
	switch (k) {
	case HAVEN__FRAME__KIND_RECEIPT:
		return "Receipt";
	case HAVEN__FRAME__KIND_DELIVER:
		return "Deliver";
	case HAVEN__FRAME__KIND_AUDIT_REPLY:
		return "AuditReply";
	case HAVEN__FRAME__KIND_TREE_HEAD:
		return "TreeHead";
	case HAVEN__FRAME__KIND_ERROR:
		return "Error";
	case HAVEN__FRAME__KIND_HEALTH_REPLY:
		return "HealthReply";
	default:
		return "unknown";
	}
}

/* 1 for the frames a client sends only to ask something. */
static int
asks_only(Haven__Frame__KindCase k)
{
	return k == HAVEN__FRAME__KIND_HEALTH_REQUEST ||
	    k == HAVEN__FRAME__KIND_TREE_HEAD_REQUEST ||
	    k == HAVEN__FRAME__KIND_AUDIT_QUERY;
}

/* Error reply and REJECTED audit record for a frame the broker refuses. */
static hv_err
refuse_frame(struct broker *b, MDB_txn *txn, const struct conn *c, hv_err code,
    const char *msg, struct outbox *o)
{
	uint64_t seq;
	hv_err e;

	if ((e = audit_reject(b, txn, c->node, NULL, code, msg, &seq)) != HV_OK)
		return e;
	if (seq == 0)
		hv_log_info_limited(&b->full_log,
		    "refused a frame from %s: %s "
		    "(counted while the store is full)",
		    c->node, hv_errname(code));
	else
		hv_log_info("refused a frame from %s: %s", c->node,
		    hv_errname(code));
	return reply_error(o, c, hv_errname(code), msg);
}

/*
 * Processes one frame inside txn. Returns HV_OK when it was answered (or
 * left for after the commit), or a store error that aborts the batch.
 */
static hv_err
dispatch(struct broker *b, MDB_txn *txn, struct inframe *in, struct outbox *o)
{
	const struct conn *c = &in->c;
	const struct hv_node *n;
	struct hv_errdetail d;
	char msg[400];
	hv_err e;

	in->later = 0;
	hv_errclear(&d);
	if (in->parts != 1) {
		if (session_touch(b, c->node, c->rid, c->rid_len) == NULL)
			return HV_ENOMEM;
		return refuse_frame(b, txn, c, HV_EMALFORMED,
		    "A Haven frame "
		    "is exactly one ZeroMQ message part.",
		    o);
	}
	/* Decoded already by verify.c's workers, or (again) here for the error. */
	e = in->f != NULL ?
	    HV_OK :
	    hv_frame_unpack(zmq_msg_data(&in->msg), zmq_msg_size(&in->msg),
	        b->frame_max, &in->f, &d);
	if (e == HV_ENOMEM)
		return e;
	/*
	 * Requests that only ask (health, tree heads, audit queries) are
	 * answered on the connection they came from and do not make it the
	 * node's session: `haven health --broker` run with an agent's key
	 * must not take that agent's deliveries.
	 */
	if (e == HV_OK && !asks_only(in->f->kind_case)) {
		int admitted;
		hv_err ae = session_admit(b, txn, c, in->f, o, &admitted);

		if (ae != HV_OK || !admitted)
			return ae;
	}
	if ((e != HV_OK || !asks_only(in->f->kind_case)) &&
	    session_touch(b, c->node, c->rid, c->rid_len) == NULL)
		return HV_ENOMEM;
	if (e != HV_OK) {
		snprintf(msg, sizeof(msg), "The frame does not decode: %s",
		    hv_errmsg(e, &d));
		return refuse_frame(b, txn, c, HV_EMALFORMED, msg, o);
	}
	n = hv_directory_node(b->dir, c->node);
	if (in->f->kind_case == HAVEN__FRAME__KIND_SUBMIT)
		return submit_handle(b, txn, c, in->f->submit, o);
	if (n == NULL || n->revoked || !n->has_keys)
		return refuse_frame(b, txn, c, HV_ESENDERREVOKED,
		    "This node "
		    "has been revoked from the partnership.",
		    o);
	switch (in->f->kind_case) {
	case HAVEN__FRAME__KIND_HELLO:
		return session_hello(b, txn, c, in->f->hello, o);
	case HAVEN__FRAME__KIND_ACK:
		return deliver_ack(b, txn, c, in->f->ack, o);
	case HAVEN__FRAME__KIND_HUMAN_ACK:
		return deliver_human_ack(b, txn, c, in->f->human_ack, o);
	case HAVEN__FRAME__KIND_HOLD_NOTICE:
		return holds_handle(b, txn, c, in->f->hold_notice, o);
	case HAVEN__FRAME__KIND_RETRACTION:
		return retract_handle(b, txn, c, in->f->retraction, o);
	case HAVEN__FRAME__KIND_AUDIT_QUERY:
		return query_handle(b, txn, c, in->f->audit_query, o);
	case HAVEN__FRAME__KIND_AGENT_REFUSAL:
		return refusal_handle(b, txn, c, in->f->agent_refusal, o);
	case HAVEN__FRAME__KIND_TREE_HEAD_REQUEST:
	case HAVEN__FRAME__KIND_HEALTH_REQUEST:
		in->later = 1;
		return HV_OK;
	default:
		snprintf(msg, sizeof(msg),
		    "A %s frame is sent by the broker, "
		    "never to it.",
		    kind_name(in->f->kind_case));
		return refuse_frame(b, txn, c, HV_EMALFORMED, msg, o);
	}
}

/* Read-only requests, after the batch committed. */
static void
answer_later(struct broker *b, struct inframe *in)
{
	switch (in->f->kind_case) {
	case HAVEN__FRAME__KIND_TREE_HEAD_REQUEST:
		audit_tree_head(b, &in->c, in->f->tree_head_request);
		break;
	case HAVEN__FRAME__KIND_HEALTH_REQUEST:
		audit_health(b, &in->c);
		break;
	default:
		break;
	}
}

/* ---- batches --------------------------------------------------------------- */

/*
 * A delivery, an expiry or a retraction let ciphertext go: its old pages
 * leave the file. Pages a reader (haven audit --db, a backup) still sees
 * are tried again a second later, not after every batch.
 */
static void
scrub_tick(struct broker *b)
{
	size_t left = 0;

	if (!b->scrub_due || hv_mono_ms() < b->scrub_next_ms)
		return;
	b->scrub_due = hv_store_scrub_free(b->store, b->db[DB_BMETA], NULL,
	                   &left) != HV_OK ||
	    left != 0;
	b->scrub_next_ms = hv_mono_ms() + 1000;
}

/* Processes items[0..n) in one transaction. */
static hv_err
batch_txn(struct broker *b, struct inframe *items, size_t n)
{
	struct outbox o = { 0 };
	MDB_txn *txn;
	int head = 0;
	hv_err e;

	if ((e = store_txn_begin(b, &txn)) != HV_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		if ((e = dispatch(b, txn, &items[i], &o)) != HV_OK)
			goto abort;
	if (b->audit_dirty &&
	    hv_mono_ms() - b->last_head_ms >= BROKER_HEAD_MS) {
		if ((e = audit_head_due(b, txn, 1)) != HV_OK)
			goto abort;
		head = 1;
	}
	if ((e = store_txn_commit(b, txn)) != HV_OK) {
		outbox_clear(&o);
		if (e != HV_ESTORAGEFULL)
			hv_fatalx("cannot commit to the store: %s; stopping "
			          "rather than answer without durability",
			    hv_strerror(e));
		return e;
	}
	if (head)
		b->audit_dirty = 0;
	outbox_flush(b, &o);
	scrub_tick(b);
	return HV_OK;
abort:
	store_txn_abort(b, txn);
	outbox_clear(&o);
	return e;
}

/* A frame that fits in no transaction: refuse it without audit. */
static void
batch_last_resort(struct broker *b, struct inframe *in, hv_err e)
{
	struct outbox o = { 0 };

	if (in->f != NULL && in->f->kind_case == HAVEN__FRAME__KIND_SUBMIT) {
		submit_reject_unaudited(b, &in->c, in->f->submit,
		    e == HV_ESTORAGEFULL ? HV_ESTORAGEFULL : HV_ESYS, &o);
		outbox_flush(b, &o);
	} else
		hv_log_warnx("dropped a frame from %s: %s", in->c.node,
		    hv_strerror(e));
	in->later = 0;
}

static void
batch_process(struct broker *b, struct inframe *items, size_t n)
{
	hv_err e = batch_txn(b, items, n);

	if (e != HV_OK && n > 1) {
		hv_log_info("a batch of %zu frames failed (%s); taking them "
		            "one at a time",
		    n, hv_errname(e));
		for (size_t i = 0; i < n; i++)
			if ((e = batch_txn(b, &items[i], 1)) != HV_OK)
				batch_last_resort(b, &items[i], e);
	} else if (e != HV_OK)
		batch_last_resort(b, &items[0], e);
	for (size_t i = 0; i < n; i++)
		if (items[i].later)
			answer_later(b, &items[i]);
}

/* Reads one routed message. Returns 1, 0 when none is waiting, -1 to skip. */
static int
read_one(struct broker *b, struct inframe *in)
{
	zmq_msg_t rid;
	const char *uid;
	int more = 0;
	size_t sz = sizeof(more);

	zmq_msg_init(&rid);
	if (zmq_msg_recv(&rid, b->router, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&rid);
		return 0;
	}
	memset(in, 0, sizeof(*in));
	zmq_msg_init(&in->msg);
	zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &sz);
	while (more) {
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, b->router, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		if (in->parts++ == 0)
			zmq_msg_move(&in->msg, &m);
		zmq_msg_close(&m);
		sz = sizeof(more);
		zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &sz);
	}
	/* The session is touched in dispatch, once the kind is known. */
	uid = in->parts > 0 ? zmq_msg_gets(&in->msg, "User-Id") : NULL;
	if (uid == NULL || zmq_msg_size(&rid) > BROKER_RID_MAX ||
	    strlen(uid) > HV_NODE_MAX) {
		zmq_msg_close(&rid);
		zmq_msg_close(&in->msg);
		return -1;
	}
	snprintf(in->c.node, sizeof(in->c.node), "%s", uid);
	memcpy(in->c.rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
	in->c.rid_len = zmq_msg_size(&rid);
	zmq_msg_close(&rid);
	return 1;
}

/* One batch: the frames read together and verify.c's view of them. */
struct batch {
	struct inframe items[BROKER_BATCH_MAX];
	struct batch_frame bf[BROKER_BATCH_MAX];
	size_t n;
	size_t bytes; /* of the frames read */
};

/*
 * Reads what is waiting onto the end of bt, up to one batch. Returns the
 * frames added. Two batches can be held at once (one committing, one
 * being verified), so each gets half of BROKER_BATCH_BYTES: together they
 * hold no more than one batch did before the pipeline.
 */
static size_t
batch_read_more(struct broker *b, struct batch *bt)
{
	size_t max = b->group_commit ? BROKER_BATCH_MAX : 1, from = bt->n;

	while (bt->n < max && bt->bytes < BROKER_BATCH_BYTES / 2) {
		struct inframe *in = &bt->items[bt->n];
		int rc = read_one(b, in);

		if (rc == 0)
			break;
		if (rc < 0)
			continue;
		bt->bytes += zmq_msg_size(&in->msg);
		bt->bf[bt->n].data = zmq_msg_data(&in->msg);
		bt->bf[bt->n].len = zmq_msg_size(&in->msg);
		bt->bf[bt->n].parts = in->parts;
		bt->n++;
	}
	return bt->n - from;
}

/* Reads what is waiting into an empty batch. Returns the frames read. */
static size_t
batch_read(struct broker *b, struct batch *bt)
{
	bt->n = 0;
	bt->bytes = 0;
	return batch_read_more(b, bt);
}

/* Processes a batch whose signatures are checked, then lets it go. */
static void
batch_run(struct broker *b, struct batch *bt)
{
	for (size_t i = 0; i < bt->n; i++)
		bt->items[i].f = bt->bf[i].f;
	verify_use(b, bt->bf, bt->n);
	batch_process(b, bt->items, bt->n);
	verify_batch_end(b);
	for (size_t i = 0; i < bt->n; i++) {
		hv_frame_free(&bt->items[i].f);
		bt->bf[i].f = NULL;
		zmq_msg_close(&bt->items[i].msg);
	}
	bt->n = 0;
	deliver_pump(b);
}

/*
 * Reads and processes batches while frames keep coming, at most
 * BROKER_PIPELINE batches before the timers and the ZAP socket get their
 * turn. Batch k+1 is read and handed to the workers before batch k is
 * processed, so its signatures are checked while batch k commits; it is
 * dispatched only after batch k's commit and replies, so SPEC §6's order
 * per message is kept. What arrived during that commit joins batch k+1
 * (verified at once, on every core) rather than waiting for the commit
 * after it: a message waits for at most one commit ahead of its own.
 * Nothing is in the workers' hands on return.
 */
static void
router_drain(struct broker *b, struct batch *two)
{
	struct batch *cur = &two[0], *next = &two[1], *t;
	size_t from, added;

	if (batch_read(b, cur) == 0)
		return;
	verify_start(b, cur->bf, cur->n);
	verify_wait(b);
	for (int round = 1; cur->n > 0; round++) {
		if (round < BROKER_PIPELINE && batch_read(b, next) > 0)
			verify_start(b, next->bf, next->n);
		else
			next->n = 0;
		batch_run(b, cur);
		if (next->n > 0) {
			verify_wait(b);
			from = next->n;
			if ((added = batch_read_more(b, next)) > 0) {
				verify_start(b, next->bf + from, added);
				verify_wait(b);
			}
		}
		t = cur;
		cur = next;
		next = t;
	}
}

/* ---- directory reload -------------------------------------------------------- */

/* 1 when a node admitted by old is revoked, missing or re-keyed in next. */
static int
revokes_someone(const hv_directory *old, const hv_directory *next)
{
	for (size_t i = 0; i < hv_directory_node_count(old); i++) {
		const struct hv_node *o = hv_directory_node_at(old, i), *n;

		if (o->revoked || !o->has_keys)
			continue;
		n = hv_directory_node(next, o->id);
		if (n == NULL || n->revoked || !n->has_keys ||
		    memcmp(n->keys.curve, o->keys.curve, HV_CURVE_KEY_LEN) != 0)
			return 1;
	}
	return 0;
}

/* The broker's own entry must match its key file. */
static hv_err
check_self(const struct broker *b, const hv_directory *dir,
    struct hv_errdetail *d)
{
	const struct hv_node *self = hv_directory_broker(dir);

	if (self == NULL || strcmp(self->id, b->cfg.id) != 0)
		return hv_errset(d, HV_EBADDIRECTORY, "broker",
		    "the "
		    "directory's broker is %s, not %s",
		    self ? self->id : "missing", b->cfg.id);
	if (memcmp(self->keys.sign, b->keys->pub.sign, HV_SIGN_PUBLIC_LEN) ==
	        0 &&
	    memcmp(self->keys.curve, b->keys->pub.curve, HV_CURVE_KEY_LEN) == 0)
		return HV_OK;
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);

		if (n->has_keys &&
		    memcmp(n->keys.sign, b->keys->pub.sign,
		        HV_SIGN_PUBLIC_LEN) == 0)
			return hv_errset(d, HV_EBADDIRECTORY, "key",
			    "key = "
			    "%s is %s's key in the directory, not the "
			    "broker's; give the broker %s's key file.",
			    b->cfg.key, n->id, b->cfg.id);
	}
	return hv_errset(d, HV_EBADDIRECTORY, "key",
	    "the directory's keys "
	    "for %s are not the keys in %s; use the key file made for %s, "
	    "or rebuild the directory with its .pub.",
	    b->cfg.id, b->cfg.key, b->cfg.id);
}

hv_err
directory_read(const struct broker *b, hv_directory **out, uint8_t **bytes,
    size_t *len, struct hv_errdetail *d)
{
	hv_directory *dir = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	hv_err e;

	if ((e = hv_directory_read_file(b->cfg.directory, &buf, &n, d)) !=
	    HV_OK)
		return e;
	if ((e = hv_directory_load(buf, n, b->root_sign, &dir, d)) != HV_OK ||
	    (e = check_self(b, dir, d)) != HV_OK) {
		hv_directory_destroy(&dir);
		free(buf);
		return e;
	}
	*out = dir;
	*bytes = buf;
	*len = n;
	return HV_OK;
}

void
directory_reload(struct broker *b)
{
	struct hv_errdetail d;
	hv_directory *next = NULL;
	uint8_t *bytes = NULL;
	size_t len = 0;
	char detail[400];
	hv_err e;

	hv_notify_reloading();
	hv_errclear(&d);
	if ((e = directory_read(b, &next, &bytes, &len, &d)) == HV_OK &&
	    (e = hv_directory_check_newer(b->dir, next, &d)) != HV_OK) {
		hv_directory_destroy(&next);
		free(bytes);
	}
	if (e != HV_OK) {
		snprintf(detail, sizeof(detail),
		    "Refused %s (%s); version "
		    "%llu stays in force.",
		    b->cfg.directory, hv_errmsg(e, &d),
		    (unsigned long long)hv_directory_version(b->dir));
		hv_log_warnx("%s", detail);
		audit_directory(b, hv_errname(e), detail);
		hv_notify_ready("serving; directory reload refused");
		return;
	}
	if (revokes_someone(b->dir, next) && b->rebind_at_ms == 0)
		b->rebind_at_ms =
		    hv_mono_ms() + (int64_t)b->cfg.revocation_grace_ms;
	hv_directory_destroy(&b->dir);
	free(b->dir_bytes);
	b->dir = next;
	b->dir_bytes = bytes;
	b->dir_len = len;
	snprintf(detail, sizeof(detail),
	    "Loaded directory version %llu of "
	    "partnership %s on SIGHUP.",
	    (unsigned long long)hv_directory_version(b->dir),
	    hv_directory_partnership(b->dir));
	hv_log_info("%s", detail);
	audit_directory(b, NULL, detail);
	deliver_withdraw_revoked(b);
	hv_notify_ready("serving; directory reloaded");
}

/* ---- the loop ------------------------------------------------------------------ */

static void
timers(struct broker *b)
{
	int64_t now = hv_mono_ms();

	if (b->rebind_at_ms != 0 && now >= b->rebind_at_ms) {
		b->rebind_at_ms = 0;
		router_rebind(b);
	}
	if (now >= b->next_expiry_ms) {
		b->next_expiry_ms = now + EXPIRE_EVERY_MS;
		deliver_expire(b);
	}
	audit_refusals_flush(b, 0);
	hv_log_limit_flush(&b->zap_log, "refused handshakes", 0);
	hv_log_limit_flush(&b->hs_log, "failed handshakes", 0);
	hv_log_limit_flush(&b->full_log, "refusals while the store is full", 0);
	audit_head_tick(b);
	sessions_expire(b);
	deliver_pump(b);
	scrub_tick(b);
}

void
loop_run(struct broker *b)
{
	struct batch *two = calloc(2, sizeof(*two));
	int64_t last_timers = 0;

	if (two == NULL)
		hv_fatalx("out of memory");
	verify_pool_start(b);
	while (!b->stop) {
		zmq_pollitem_t pi[4] = {
			{ b->router, 0, ZMQ_POLLIN, 0 },
			{ b->zap, 0, ZMQ_POLLIN, 0 },
			{ NULL, b->sigfd, ZMQ_POLLIN, 0 },
			{ b->monitor, 0, ZMQ_POLLIN, 0 },
		};
		if (zmq_poll(pi, b->monitor != NULL ? 4 : 3, POLL_MS) < 0 &&
		    errno != EINTR)
			hv_fatal("zmq_poll");
		if (pi[2].revents & ZMQ_POLLIN)
			signals_read(b);
		if (pi[3].revents & ZMQ_POLLIN)
			monitor_read(b);
		if (pi[1].revents & ZMQ_POLLIN)
			zap_handle(b);
		if (!b->stop && (pi[0].revents & ZMQ_POLLIN))
			router_drain(b, two);
		/* Timers run between batches even under constant load. */
		if (hv_mono_ms() - last_timers >= POLL_MS / 2) {
			timers(b);
			last_timers = hv_mono_ms();
		}
	}
	verify_pool_stop(b);
	free(two);
}
