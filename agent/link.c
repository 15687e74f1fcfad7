/*
 * The link to the broker and the main loop (docs/PROTOCOL.md).
 *
 * One CURVE DEALER, watched through a socket monitor: after every
 * successful handshake the agent says Hello and sends its whole outbox of
 * entries without a verdict again; while connected it sends new entries as
 * the HTTP threads commit them (they wake this loop through an eventfd),
 * repeats Hello every 10 s and resends every 30 s. Deliveries are stored
 * and committed before they are acknowledged; receipts are checked against
 * the broker's key before they are recorded.
 *
 * `broker =` may list several endpoints (an active/passive pair, SPEC §13).
 * The DEALER is connected to one at a time, never to two: a DEALER spreads
 * its sends over every connected peer, and one message must not reach two
 * brokers. Without a session for AGENT_FAILOVER_MS the agent moves to the
 * next endpoint; the outbox stays in the store and goes to whichever broker
 * answers, as after any reconnection.
 *
 * Only the main thread touches ZeroMQ.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <zmq.h>

#include "agent.h"
#include "hv_log.h"
#include "hv_notify.h"
#include "hv_receipt.h"
#include "hv_util.h"
#include "hv_wire.h"

#define MONITOR_EP "inproc://haven-agent-monitor"
#define SEND_BURST 256
#define BURST_MAX 64 /* frames from the broker per transaction */

void
agent_wake(struct agent *a)
{
	uint64_t one = 1;

	if (write(a->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		hv_log_warn("eventfd");
}

/* Packs and sends one frame without blocking; 0, or -1 (not sent). */
static int
send_frame(struct agent *a, const Haven__Frame *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (hv_frame_pack(f, &buf, &len) != HV_OK)
		return -1;
	rc = zmq_send(a->dealer, buf, len, ZMQ_DONTWAIT);
	free(buf);
	return rc < 0 ? -1 : 0;
}

int
link_send(struct agent *a, const Haven__Frame *f)
{
	return send_frame(a, f);
}

static void
send_hello(struct agent *a)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Hello h = HAVEN__HELLO__INIT;

	h.node = a->cfg.id;
	h.directory_version = hv_directory_version(a->dir);
	h.software = AGENT_SOFTWARE;
	h.window = AGENT_WINDOW;
	h.protocol = HV_PROTOCOL_VERSION;
	f.kind_case = HAVEN__FRAME__KIND_HELLO;
	f.hello = &h;
	if (send_frame(a, &f) == 0 && a->hello_ms == INT64_MAX)
		a->hello_ms = hv_mono_ms();
}

static void
send_ack(struct agent *a, const uint8_t *id, size_t idlen, uint64_t rseq)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Ack ack = HAVEN__ACK__INIT;

	ack.id.data = (uint8_t *)id;
	ack.id.len = idlen;
	ack.receipt_seq = rseq;
	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &ack;
	send_frame(a, &f);
}

/*
 * Acknowledges a delivery this agent refused, saying why (the code and the
 * sentence, never payload): the broker stops offering it and tells the
 * sender it was refused here, not delivered.
 */
static void
send_refusal(struct agent *a, const uint8_t id[HV_ID_LEN], hv_err code,
    const char *sentence)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Ack ack = HAVEN__ACK__INIT;
	char buf[HV_ACK_MESSAGE_MAX + 1];

	ack.id.data = (uint8_t *)id;
	ack.id.len = HV_ID_LEN;
	hv_ack_set_refusal(&ack, code, sentence, buf);
	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &ack;
	send_frame(a, &f);
}

/* Sends outbox entries without a verdict whose seq is past the cursor. */
static void
send_pending(struct agent *a)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v, ev;
	struct ob_hdr h;
	uint8_t key[8];
	int64_t now = hv_now_ms();
	int rc, n = 0;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_PENDING), &cur) != 0)
		goto out;
	hv_be64_put(key, a->send_cursor + 1);
	k.mv_size = 8;
	k.mv_data = key;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && n < SEND_BURST;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		Haven__Frame f = HAVEN__FRAME__INIT;
		Haven__Submit s = HAVEN__SUBMIT__INIT;

		if (k.mv_size != 8 || v.mv_size != HV_ID_LEN)
			continue;
		if (store_get(a, txn, DB_OUTBOX, v.mv_data, HV_ID_LEN, &ev) !=
		        HV_OK ||
		    ev.mv_size <= OB_HDR_LEN) {
			a->send_cursor = hv_be64_get(k.mv_data);
			continue;
		}
		ob_hdr_get(ev.mv_data, &h);
		/* A wait beyond the longest backoff means the clock stepped. */
		if (h.retry_at_ms > now && !a->retry_all &&
		    h.retry_at_ms - now <= AGENT_FULL_RETRY_MAX_MS) {
			/* STORAGE_FULL at the broker: wait until it is due. */
			int64_t due = hv_mono_ms() + (h.retry_at_ms - now);

			if (a->full_retry_ms == 0 || due < a->full_retry_ms)
				a->full_retry_ms = due;
			a->send_cursor = hv_be64_get(k.mv_data);
			continue;
		}
		s.sender = a->cfg.id;
		s.envelope.data = (uint8_t *)ev.mv_data + OB_HDR_LEN;
		s.envelope.len = ev.mv_size - OB_HDR_LEN;
		f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
		f.submit = &s;
		if (send_frame(a, &f) != 0)
			break; /* high-water mark or gone: try again later */
		a->send_cursor = hv_be64_get(k.mv_data);
	}
	if (rc == MDB_NOTFOUND)
		a->retry_all = 0; /* the round reached the end */
	mdb_cursor_close(cur);
out:
	mdb_txn_abort(txn);
	if (n == SEND_BURST)
		agent_wake(a); /* more to send on the next turn */
}

/*
 * Sends the queued HumanAcks past hack_cursor. Each stays queued until the
 * broker echoes it (on_human_ack_done): a frame sent while the broker is
 * stopped or dying is lost with its connection, so the cursor goes back to
 * 0 after every new session and every 30 s and they are all sent again.
 */
static void
send_human_acks(struct agent *a)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t key[8];
	int rc, n = 0;

	if (hv_store_begin(a->store, 1, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_HACK), &cur) != 0)
		goto out;
	hv_be64_put(key, a->hack_cursor + 1);
	k.mv_size = 8;
	k.mv_data = key;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && n < SEND_BURST;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		Haven__Frame f = HAVEN__FRAME__INIT;
		Haven__HumanAck h = HAVEN__HUMAN_ACK__INIT;
		char by[HV_DECIDED_BY_MAX + 1];
		const uint8_t *p = v.mv_data;

		if (k.mv_size == 8 && v.mv_size >= 1 + HV_ID_LEN &&
		    v.mv_size <= 1 + HV_ID_LEN + HV_DECIDED_BY_MAX) {
			memcpy(by, p + 1 + HV_ID_LEN,
			    v.mv_size - 1 - HV_ID_LEN);
			by[v.mv_size - 1 - HV_ID_LEN] = '\0';
			h.id.data = (uint8_t *)p + 1;
			h.id.len = HV_ID_LEN;
			h.by = by;
			h.escalated = p[0] != 0;
			f.kind_case = HAVEN__FRAME__KIND_HUMAN_ACK;
			f.human_ack = &h;
			if (send_frame(a, &f) != 0)
				break; /* high-water mark or gone: later */
		}
		if (k.mv_size == 8)
			a->hack_cursor = hv_be64_get(k.mv_data);
	}
	mdb_cursor_close(cur);
out:
	mdb_txn_abort(txn);
	if (n == SEND_BURST)
		agent_wake(a); /* more to send on the next turn */
}

/*
 * The broker echoed a HumanAck: it has recorded it (or had it already, or
 * refused it for good), after its commit. Drops every queued copy of it.
 */
static void
on_human_ack_done(struct agent *a, const Haven__HumanAck *h)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t blen = strlen(h->by);
	int rc, dropped = 0;

	if (h->id.len != HV_ID_LEN || blen > HV_DECIDED_BY_MAX ||
	    hv_store_begin(a->store, 0, &txn) != HV_OK)
		return;
	if (mdb_cursor_open(txn, store_db(a, DB_HACK), &cur) != 0) {
		mdb_txn_abort(txn);
		return;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;

		if (v.mv_size != 1 + HV_ID_LEN + blen ||
		    (p[0] != 0) != (h->escalated != 0) ||
		    memcmp(p + 1, h->id.data, HV_ID_LEN) != 0 ||
		    memcmp(p + 1 + HV_ID_LEN, h->by, blen) != 0)
			continue;
		if (mdb_cursor_del(cur, 0) != 0)
			break;
		dropped++;
	}
	mdb_cursor_close(cur);
	if (dropped == 0)
		mdb_txn_abort(txn);
	else if (hv_store_commit(txn) != HV_OK)
		hv_log_warnx("cannot drop a confirmed HumanAck; it will be "
		             "sent again");
}

/* ---- inbound frames ---------------------------------------------------- */

/* A delivery's verdict, acknowledged and announced after its commit. */
struct delivered {
	struct inbox_verdict vd;
	hv_err e;
};

/*
 * Acknowledges a stored delivery (its alert hook run committed with it),
 * or one this agent's own directory refused, so that the broker stops
 * offering it: a refusal's Ack carries its code and sentence, so that the
 * sender hears it was refused here; it is not stored, and gets one log
 * line without payload, a delivery_refused event and the health counter
 * deliveries_refused. Runs after the commit of the burst that holds it.
 */
static void
deliver_done(struct agent *a, void *arg, int committed)
{
	struct delivered *dv = arg;
	struct inbox_verdict *vd = &dv->vd;
	char hex[HV_ID_HEX_LEN + 1];
	json_t *s;

	if (!committed)
		goto out;
	hv_hex(vd->id, HV_ID_LEN, hex);
	if (vd->refused) {
		hv_log_warnx("refused delivery %s from %s (%s): %s: %s", hex,
		    vd->sender, vd->type, hv_errname(dv->e),
		    hv_errmsg(dv->e, &vd->d));
		atomic_fetch_add(&a->deliveries_refused, 1);
		if ((s = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "id", hex,
		         "sender", vd->sender, "type", vd->type, "code",
		         hv_errname(dv->e), "field",
		         vd->d.field[0] ? vd->d.field : NULL, "message",
		         hv_errmsg(dv->e, &vd->d))) != NULL) {
			bus_publish(&a->bus, "delivery_refused", s);
			json_decref(s);
		}
		send_refusal(a, vd->id, dv->e, hv_errmsg(dv->e, &vd->d));
		goto out;
	}
	send_ack(a, vd->id, HV_ID_LEN, 0);
	if (vd->dup) {
		hv_log_debug("message %s delivered again; acknowledged", hex);
		goto out;
	}
	hv_log_info("received message %s", hex);
	if ((s = inbox_summary(a, vd->id, 0)) != NULL) {
		bus_publish(&a->bus, "message", s);
		json_decref(s);
	}
out:
	free(dv);
}

static void
on_deliver(struct agent *a, const Haven__Deliver *dl)
{
	struct delivered *dv = calloc(1, sizeof(*dv));

	if (dv == NULL)
		return; /* not acknowledged: sent again */
	dv->e = inbox_store(a, dl->envelope.data, dl->envelope.len, &dv->vd);
	if (dv->e != HV_OK && !dv->vd.refused) {
		/* Not acknowledged: the broker keeps it and tries again. */
		hv_log_warnx("delivery not stored: %s: %s", hv_errname(dv->e),
		    hv_errmsg(dv->e, &dv->vd.d));
		free(dv);
		return;
	}
	agent_after_commit(a, deliver_done, dv);
}

/*
 * The broker authenticated this connection as another node than ours (our
 * key is another node's in its directory): nothing we send is taken, so
 * the session does not count as connected until the next handshake.
 */
static void
sender_mismatch(struct agent *a)
{
	if (atomic_exchange(&a->connected, 0) || !a->refused_warned)
		hv_log_warnx(
		    "the broker refuses this agent's frames "
		    "(SENDER_MISMATCH): its directory gives %s another key "
		    "than %s",
		    a->cfg.id, a->cfg.key);
	a->refused_warned = 1;
}

/* A recorded receipt, acknowledged after its commit. */
struct receipt_ack {
	uint8_t id[HV_ID_LEN];
	size_t id_len;
	uint64_t seq;
};

static void
receipt_done(struct agent *a, void *arg, int committed)
{
	struct receipt_ack *ra = arg;

	if (committed)
		send_ack(a, ra->id, ra->id_len, ra->seq);
	free(ra);
}

/* Stores a receipt whose signature was checked (on_frame). */
static void
on_receipt(struct agent *a, const Haven__Receipt *r)
{
	struct receipt_ack *ra;
	int rc;

	if (hv_status_is(r->status, HV_ST_REJECTED) &&
	    strcmp(r->code, "SENDER_MISMATCH") == 0)
		sender_mismatch(a);
	/*
	 * A retraction of a message we received (SPEC §15). It erases in a
	 * transaction of its own and then scrubs the freed pages, so the
	 * burst's transaction (LMDB has one writer) is committed first.
	 */
	if (hv_status_is(r->status, HV_ST_RETRACTED) && r->retraction.len > 0) {
		if (a->burst.open) {
			agent_batch_end(a);
			agent_batch_begin(a);
		}
		rc = retract_receive(a, r);
	} else
		rc = outbox_receipt(a, r);
	if (rc == 0 && hv_status_is(r->status, HV_ST_RETRACTED) &&
	    r->retraction.len == 0 && r->id.len == HV_ID_LEN)
		retract_confirmed(a, r->id.data);
	if (rc < 0)
		return;
	if (rc == 1)
		a->send_cursor = 0;
	if (r->receipt_seq != 0 && r->id.len <= HV_ID_LEN &&
	    (ra = calloc(1, sizeof(*ra))) != NULL) {
		memcpy(ra->id, r->id.data, r->id.len);
		ra->id_len = r->id.len;
		ra->seq = r->receipt_seq;
		agent_after_commit(a, receipt_done, ra);
	}
}

/*
 * The broker holds a live session of this node on another connection: a
 * second agent with this node id, or this agent's previous connection not
 * yet seen closed (ZMTP heartbeats close it within 6 s). Say so once, say
 * Hello again soon and resend the outbox after it, since the frames sent
 * meanwhile were refused.
 */
static void
session_refused(struct agent *a, const char *msg)
{
	int64_t now = hv_mono_ms();

	a->hello_ms = INT64_MAX; /* refused: wait for the next Hello */
	if (!a->dup_warned) {
		hv_log_warnx("the broker refused this session: %s", msg);
		a->dup_warned = 1;
	}
	if (a->next_hello_ms > now + AGENT_DUP_RETRY_MS)
		a->next_hello_ms = now + AGENT_DUP_RETRY_MS;
	if (a->next_resend_ms > now + AGENT_DUP_RETRY_MS + 500)
		a->next_resend_ms = now + AGENT_DUP_RETRY_MS + 500;
}

/*
 * 1 when frame f shows the broker took this connection as the node's
 * session. The broker does not answer Hello, and refuses it with
 * DUPLICATE_SESSION when another connection holds the session; it
 * answers one connection's frames in order. So a delivery or receipt
 * (only a session gets those) shows it, and so does a tree head asked for
 * after the last Hello that was not refused: a refusal would have come
 * first.
 */
static int
session_taken(const struct agent *a, const Haven__Frame *f)
{
	switch (f->kind_case) {
	case HAVEN__FRAME__KIND_DELIVER:
	case HAVEN__FRAME__KIND_RECEIPT:
	case HAVEN__FRAME__KIND_HUMAN_ACK:
		return 1;
	case HAVEN__FRAME__KIND_TREE_HEAD:
		return a->th_sent_ms >= a->hello_ms;
	default:
		return 0;
	}
}

/*
 * Stores the held receipts in the burst that is open, in the order they
 * came; their Acks follow its commit.
 */
static void
receipts_release(struct agent *a)
{
	struct receipt_hold *h = &a->rhold;

	for (size_t i = 0; i < h->n; i++) {
		on_receipt(a, h->f[i]->receipt);
		hv_frame_free(&h->f[i]);
	}
	h->n = 0;
}

/* Stores the held receipts in a burst of their own once they are due. */
static void
receipts_tick(struct agent *a, int64_t now)
{
	if (a->rhold.n == 0 || now - a->rhold.since_ms < AGENT_RECEIPT_HOLD_MS)
		return;
	agent_batch_begin(a);
	receipts_release(a);
	agent_batch_end(a);
}

static void
on_frame(struct agent *a, const uint8_t *buf, size_t len)
{
	struct hv_errdetail d;
	Haven__Frame *f = NULL;

	hv_errclear(&d);
	if (hv_frame_unpack(buf, len,
	        hv_wire_frame_max(agent_recv_payload_max(a)), &f,
	        &d) != HV_OK) {
		hv_log_warnx("undecodable frame from the broker: %s",
		    d.message);
		return;
	}
	if (!a->session_said && session_taken(a, f)) {
		hv_log_info("connected to the broker at %s",
		    a->endpoints[a->cur_endpoint]);
		a->session_said = 1;
	}
	/* A receipt waits to be stored with the next ones (struct
	 * receipt_hold); any other frame first lets the held ones go. */
	if (f->kind_case == HAVEN__FRAME__KIND_RECEIPT) {
		/* Checked as it comes, so that storing the held is quick. */
		if (hv_receipt_verify(f->receipt, a->broker_sign) != HV_OK) {
			hv_log_warnx("dropping a receipt whose signature does "
			             "not verify with the broker's key");
			hv_frame_free(&f);
			return;
		}
		if (a->rhold.n == 0)
			a->rhold.since_ms = hv_mono_ms();
		a->rhold.f[a->rhold.n++] = f;
		if (a->rhold.n == AGENT_RECEIPT_HOLD_MAX)
			receipts_release(a);
		return;
	}
	receipts_release(a);
	/* Only Deliver (and receipts) join a burst; the rest commit alone. */
	if (f->kind_case != HAVEN__FRAME__KIND_DELIVER && a->burst.open) {
		agent_batch_end(a);
		agent_batch_begin(a);
	}
	switch (f->kind_case) {
	case HAVEN__FRAME__KIND_DELIVER:
		on_deliver(a, f->deliver);
		break;
	case HAVEN__FRAME__KIND_HUMAN_ACK:
		on_human_ack_done(a, f->human_ack);
		break;
	case HAVEN__FRAME__KIND_HOLD_NOTICE:
		holds_on_echo(a, f->hold_notice);
		break;
	case HAVEN__FRAME__KIND_AGENT_REFUSAL:
		refusals_on_echo(a, f->agent_refusal);
		break;
	case HAVEN__FRAME__KIND_TREE_HEAD:
		integrity_on_head(a, f->tree_head);
		break;
	case HAVEN__FRAME__KIND_ERROR:
		if (integrity_on_error(a, f->error))
			break;
		if (strcmp(f->error->code, "SENDER_MISMATCH") == 0) {
			sender_mismatch(a);
			break;
		}
		if (strcmp(f->error->code, "DUPLICATE_SESSION") == 0) {
			session_refused(a, f->error->message);
			break;
		}
		hv_log_warnx("broker error %s: %s", f->error->code,
		    f->error->message);
		break;
	default:
		hv_log_debug("ignoring frame kind %d", (int)f->kind_case);
		break;
	}
	hv_frame_free(&f);
}

/*
 * Reads what the broker sent, in bursts of up to BURST_MAX frames: each
 * burst's deliveries and receipts are stored in one transaction and
 * acknowledged together after its commit.
 */
static void
drain_dealer(struct agent *a)
{
	int i = 0, more = 1;

	while (more && i < 512) {
		agent_batch_begin(a);
		for (int k = 0; k < BURST_MAX && i < 512; k++, i++) {
			zmq_msg_t m;

			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, a->dealer, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&m);
				more = 0;
				break;
			}
			on_frame(a, zmq_msg_data(&m), zmq_msg_size(&m));
			zmq_msg_close(&m);
		}
		agent_batch_end(a);
	}
}

/*
 * The broker refused the CURVE handshake: most often its transport key
 * changed (a rotation) and this agent still holds the old one, or this
 * node is revoked. libzmq would retry every 100 ms for ever, so leave the
 * endpoint and come back after 1, 2, 4 ... up to 30 s; say why once per
 * outage, and each longer wait until the longest.
 */
static void
handshake_refused(struct agent *a)
{
	int prev = a->hs_backoff_ms;

	atomic_store(&a->connected, 0);
	if (a->hs_retry_at_ms != 0)
		return; /* already waiting: a queued event */
	if (zmq_disconnect(a->dealer, a->endpoints[a->cur_endpoint]) != 0 &&
	    errno != ENOENT)
		hv_log_warn("cannot leave %s", a->endpoints[a->cur_endpoint]);
	a->hs_backoff_ms = prev == 0 ? 1000 : prev * 2;
	if (a->hs_backoff_ms > AGENT_HS_RETRY_MAX_MS)
		a->hs_backoff_ms = AGENT_HS_RETRY_MAX_MS;
	a->hs_retry_at_ms = hv_mono_ms() + a->hs_backoff_ms;
	if (!a->refused_warned) {
		a->refused_warned = 1;
		hv_log_warnx(
		    "the broker at %s refused the handshake: its "
		    "transport key may have changed (a broker key rotation) "
		    "or this node may be revoked; install the partnership's "
		    "new directory and restart this agent. Retrying in 1, 2, "
		    "4 ... up to %d s",
		    a->endpoints[a->cur_endpoint],
		    AGENT_HS_RETRY_MAX_MS / 1000);
	} else if (a->hs_backoff_ms != prev)
		hv_log_info("the broker refused the handshake again; next "
		            "try in %d s",
		    a->hs_backoff_ms / 1000);
}

/* Comes back to the endpoint once the wait after a refusal is over. */
static void
handshake_retry(struct agent *a, int64_t now)
{
	if (a->hs_retry_at_ms == 0 || now < a->hs_retry_at_ms)
		return;
	a->hs_retry_at_ms = 0;
	if (zmq_connect(a->dealer, a->endpoints[a->cur_endpoint]) != 0) {
		hv_log_warn("cannot connect to %s",
		    a->endpoints[a->cur_endpoint]);
		a->hs_retry_at_ms = now + a->hs_backoff_ms;
	}
}

static void
drain_monitor(struct agent *a)
{
	for (;;) {
		zmq_msg_t m;
		uint16_t ev;
		int more;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, a->monitor, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		if (zmq_msg_size(&m) < 6) {
			zmq_msg_close(&m);
			continue;
		}
		memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		while (more) { /* the endpoint frame */
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, a->monitor, 0) < 0)
				more = 0;
			else
				more = zmq_msg_more(&m);
			zmq_msg_close(&m);
		}
		if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			/* "connected" waits for the broker's first answer:
			 * it may yet refuse the session (DUPLICATE_SESSION). */
			hv_log_info("connecting to the broker at %s: handshake "
			            "done, saying Hello",
			    a->endpoints[a->cur_endpoint]);
			a->session_said = 0;
			a->hello_ms = INT64_MAX;
			a->hs_backoff_ms = 0;
			a->down_since_ms = 0;
			a->dup_warned = 0;
			a->refused_warned = 0;
			atomic_store(&a->connected, 1);
			send_hello(a);
			a->next_hello_ms = hv_mono_ms() + AGENT_HELLO_MS;
			a->next_resend_ms = hv_mono_ms() + AGENT_RESEND_MS;
			a->retract_next_ms = 0;
			a->send_cursor = 0; /* a new session: resend all, */
			a->retry_all = 1; /* STORAGE_FULL ones too */
			a->hack_cursor = 0;
			a->refusals_due = 1;
			integrity_session(a); /* and check its history */
		} else if (ev == ZMQ_EVENT_DISCONNECTED) {
			if (atomic_exchange(&a->connected, 0)) {
				hv_log_info("disconnected from the broker");
				a->down_since_ms = hv_mono_ms();
			}
		} else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
		    ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
		    ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
			handshake_refused(a);
	}
}

/* ---- signals ----------------------------------------------------------- */

static void
on_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
		struct hv_errdetail d;

		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			atomic_store(&a->stopping, 1);
			break;
		case SIGHUP:
			hv_notify_reloading();
			hv_errclear(&d);
			if (agent_directory_load(a, &d) != HV_OK)
				hv_log_warnx(
				    "directory reload refused, keeping "
				    "version %llu: %s",
				    (unsigned long long)hv_directory_version(
				        a->dir),
				    hv_errmsg(HV_EBADDIRECTORY, &d));
			hv_notify_ready(a->listen_addr);
			break;
		case SIGCHLD:
			hook_tick(a);
			break;
		}
	}
}

/* ---- start, loop, stop ------------------------------------------------- */

hv_err
link_start(struct agent *a, struct hv_errdetail *d)
{
	int one = 1, hb = 2000, hbt = 6000, hwm = 10000, linger = 0;
	int rivl = 100, rmax = 2000;
	int64_t maxmsg = (int64_t)hv_wire_frame_max(agent_recv_payload_max(a));

	if ((a->zctx = zmq_ctx_new()) == NULL ||
	    (a->dealer = zmq_socket(a->zctx, ZMQ_DEALER)) == NULL)
		return hv_errset(d, HV_ESYS, NULL,
		    "cannot create the ZeroMQ "
		    "socket: %s",
		    zmq_strerror(errno));
	if (zmq_setsockopt(a->dealer, ZMQ_CURVE_SERVERKEY, a->broker_curve,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_PUBLICKEY, a->keys->pub.curve,
	        HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_SECRETKEY,
	        a->keys->curve_secret, HV_CURVE_KEY_LEN) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) !=
	        0 ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TIMEOUT, &hbt,
	        sizeof(hbt)) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) !=
	        0 ||
	    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg,
	        sizeof(maxmsg)) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(a->dealer, ZMQ_LINGER, &linger, sizeof(linger)) !=
	        0 ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL, &rivl, sizeof(rivl)) !=
	        0 ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL_MAX, &rmax,
	        sizeof(rmax)) != 0)
		return hv_errset(d, HV_ESYS, NULL,
		    "cannot configure the "
		    "ZeroMQ socket: %s",
		    zmq_strerror(errno));
	if (zmq_socket_monitor(a->dealer, MONITOR_EP,
	        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
	            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
	    (a->monitor = zmq_socket(a->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(a->monitor, ZMQ_LINGER, &linger, sizeof(linger)) !=
	        0 ||
	    zmq_connect(a->monitor, MONITOR_EP) != 0)
		return hv_errset(d, HV_ESYS, NULL,
		    "cannot monitor the ZeroMQ "
		    "socket: %s",
		    zmq_strerror(errno));
	{
		const char *p = a->cfg.broker;

		a->n_endpoints = 0;
		while (a->n_endpoints < HV_CFG_ENDPOINTS_MAX &&
		    hv_endpoint_next(&p, a->endpoints[a->n_endpoints],
		        sizeof(a->endpoints[0])))
			a->n_endpoints++;
	}
	if (a->n_endpoints == 0)
		return hv_errset(d, HV_EBADCONFIG, "broker",
		    "broker = '%s' "
		    "names no endpoint",
		    a->cfg.broker);
	/* Each must be connectable before the agent calls itself ready. */
	for (size_t i = a->n_endpoints; i-- > 0;) {
		if (zmq_connect(a->dealer, a->endpoints[i]) != 0)
			return hv_errset(d, HV_EBADCONFIG, "broker",
			    "cannot "
			    "connect to %s: %s",
			    a->endpoints[i], zmq_strerror(errno));
		if (i > 0)
			zmq_disconnect(a->dealer, a->endpoints[i]);
	}
	a->cur_endpoint = 0;
	a->hello_ms = INT64_MAX;
	a->down_since_ms = hv_mono_ms();
	a->next_resend_ms = hv_mono_ms() + AGENT_RESEND_MS;
	return HV_OK;
}

/*
 * Moves the DEALER to the next endpoint of `broker =` when there has been
 * no session for AGENT_FAILOVER_MS. Frames queued for the old connection are
 * dropped with it (ZMQ_IMMEDIATE queues none while it is down); the outbox
 * is resent on the next session.
 */
static void
link_failover(struct agent *a, int64_t now)
{
	size_t next;

	if (a->n_endpoints < 2 || atomic_load(&a->connected) ||
	    a->hs_retry_at_ms != 0 || a->down_since_ms == 0 ||
	    now - a->down_since_ms < AGENT_FAILOVER_MS)
		return;
	next = (a->cur_endpoint + 1) % a->n_endpoints;
	if (zmq_disconnect(a->dealer, a->endpoints[a->cur_endpoint]) != 0 &&
	    errno != ENOENT)
		hv_log_warn("cannot leave %s", a->endpoints[a->cur_endpoint]);
	if (zmq_connect(a->dealer, a->endpoints[next]) != 0) {
		hv_log_warn("cannot connect to %s", a->endpoints[next]);
		zmq_connect(a->dealer, a->endpoints[a->cur_endpoint]);
	} else {
		hv_log_info("no broker session for %d s at %s; trying %s",
		    AGENT_FAILOVER_MS / 1000, a->endpoints[a->cur_endpoint],
		    a->endpoints[next]);
		a->cur_endpoint = next;
	}
	a->down_since_ms = now;
}

void
link_run(struct agent *a)
{
	int64_t esc_at = 0;

	while (!atomic_load(&a->stopping)) {
		zmq_pollitem_t it[4] = {
			{ a->dealer, 0, ZMQ_POLLIN, 0 },
			{ a->monitor, 0, ZMQ_POLLIN, 0 },
			{ NULL, a->sigfd, ZMQ_POLLIN, 0 },
			{ NULL, a->wakefd, ZMQ_POLLIN, 0 },
		};
		int64_t now = hv_mono_ms(), timeout = esc_at - now;

		if (timeout > 1000)
			timeout = 1000;
		if (timeout < 0)
			timeout = 0;
		if (hook_busy(a) && timeout > 200)
			timeout = 200;
		if (a->rhold.n > 0 &&
		    timeout > a->rhold.since_ms + AGENT_RECEIPT_HOLD_MS - now)
			timeout =
			    a->rhold.since_ms + AGENT_RECEIPT_HOLD_MS - now;
		if (timeout < 0)
			timeout = 0;
		if (zmq_poll(it, 4, (long)timeout) < 0 && errno != EINTR) {
			hv_log_warn("zmq_poll");
			continue;
		}
		if (it[2].revents & ZMQ_POLLIN)
			on_signals(a);
		if (it[3].revents & ZMQ_POLLIN) {
			uint64_t n;

			if (read(a->wakefd, &n, sizeof(n)) < 0 &&
			    errno != EAGAIN)
				hv_log_warn("eventfd");
		}
		if (it[1].revents & ZMQ_POLLIN)
			drain_monitor(a);
		/*
		 * New submissions go out before the broker's frames are
		 * stored: their 202 is sent, so their clock runs, while a
		 * burst of receipts would hold them for its commit.
		 */
		if ((it[3].revents & ZMQ_POLLIN) && atomic_load(&a->connected))
			send_pending(a);
		if (it[0].revents & ZMQ_POLLIN)
			drain_dealer(a);

		now = hv_mono_ms();
		receipts_tick(a, now);
		if (atomic_load(&a->connected)) {
			if (now >= a->next_hello_ms) {
				send_hello(a);
				a->next_hello_ms = now + AGENT_HELLO_MS;
			}
			if (a->full_retry_ms != 0 && now >= a->full_retry_ms) {
				a->full_retry_ms = 0; /* one is due */
				a->send_cursor = 0;
			}
			if (now >= a->next_resend_ms) {
				a->send_cursor = 0;
				a->hack_cursor = 0;
				a->refusals_due = 1;
				a->next_resend_ms = now + AGENT_RESEND_MS;
			}
			send_pending(a);
			send_human_acks(a);
			retract_send(a, now);
			refusals_send(a);
		}
		handshake_retry(a, now);
		link_failover(a, now);
		integrity_tick(a, now);
		retention_tick(a, now);
		if (now >= esc_at)
			esc_at = now + inbox_escalate_due(a);
		if (hook_busy(a))
			hook_tick(a);
	}
	/*
	 * Receipts still held are stored. Their Acks may not leave before
	 * the socket closes (no linger): the broker then sends them again
	 * and the agent knows them as repeats.
	 */
	receipts_tick(a, INT64_MAX);
}

void
link_stop(struct agent *a)
{
	if (a->monitor != NULL) {
		zmq_socket_monitor(a->dealer, NULL, 0);
		zmq_close(a->monitor);
		a->monitor = NULL;
	}
	if (a->dealer != NULL) {
		zmq_close(a->dealer);
		a->dealer = NULL;
	}
	if (a->zctx != NULL) {
		zmq_ctx_term(a->zctx);
		a->zctx = NULL;
	}
}
