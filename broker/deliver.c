/*
 * haven-broker — sessions, queues, delivery windows, acknowledgements,
 * receipts to senders and expiry (SPEC §6, docs/PROTOCOL.md).
 *
 * Each accepted message has one queue entry per recipient, ordered by a
 * broker-wide queue sequence. A connected node gets at most `window`
 * unacknowledged Deliver frames; a delivery not acknowledged within 30 s is
 * sent again, and a new session (a new ROUTER routing id) starts again from
 * the head of the queue, so delivery is at least once and agents
 * de-duplicate by id. The agent's Ack removes the entry, is audited
 * DELIVERED, and queues a DELIVERED receipt for the sender. Every receipt
 * after the first waits in a per-sender queue until the sender acknowledges
 * it with Ack{receipt_seq}. An entry past its deadline (message_ttl) is
 * audited EXPIRED and the sender is told.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "broker.h"
#include "hv_log.h"
#include "hv_policy.h"
#include "hv_util.h"
#include "hv_wire.h"

#define KEY_MAX (HV_NODE_MAX + 1 + HV_ID_LEN + 8 + 1)
#define RECEIPTS_PER_PUMP 256
#define EXPIRE_PER_TXN 256

/* ---- sessions ------------------------------------------------------------- */

struct session *
session_find(struct broker *b, const char *node)
{
	for (size_t i = 0; i < b->n_sessions; i++)
		if (strcmp(b->sessions[i].node, node) == 0)
			return &b->sessions[i];
	return NULL;
}

static void
session_restart(struct session *s)
{
	s->n_inflight = 0;
	s->dl_cursor = 0;
	s->rc_cursor = 0;
	s->rc_epoch_ms = hv_mono_ms();
}

struct session *
session_touch(struct broker *b, const char *node, const uint8_t *rid,
    size_t rid_len)
{
	struct session *s = session_find(b, node);

	if (rid_len > BROKER_RID_MAX)
		return NULL;
	if (s == NULL) {
		if (b->n_sessions == b->cap_sessions) {
			size_t cap = b->cap_sessions ? b->cap_sessions * 2 : 8;
			struct session *ns =
			    realloc(b->sessions, cap * sizeof(*ns));

			if (ns == NULL)
				return NULL;
			b->sessions = ns;
			b->cap_sessions = cap;
		}
		s = &b->sessions[b->n_sessions++];
		memset(s, 0, sizeof(*s));
		snprintf(s->node, sizeof(s->node), "%s", node);
		s->window = BROKER_WINDOW_DEFAULT;
		s->inflight = calloc(BROKER_WINDOW_MAX, sizeof(*s->inflight));
		if (s->inflight == NULL) {
			b->n_sessions--;
			return NULL;
		}
	}
	if (!s->connected || s->rid_len != rid_len ||
	    memcmp(s->rid, rid, rid_len) != 0) {
		memcpy(s->rid, rid, rid_len);
		s->rid_len = rid_len;
		session_restart(s);
		hv_log_info("%s connected", node);
	}
	s->connected = 1;
	s->last_rx_ms = hv_mono_ms();
	return s;
}

/*
 * 1 when the session's connection is still open at the broker: a frame
 * can be queued to its routing id. A crashed agent's connection closes with
 * its process, and ZMTP heartbeats close one whose machine vanished within
 * 6 s; with ROUTER_MANDATORY a send to a closed one fails at once. The
 * probe is an empty HealthReply, which agents ignore when they did not ask.
 */
static int
session_alive(struct broker *b, const struct session *s)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__HealthReply hr = HAVEN__HEALTH_REPLY__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	hr.json = "";
	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REPLY;
	f.health_reply = &hr;
	if (hv_frame_pack(&f, &buf, &len) != HV_OK)
		return 1; /* when unsure, keep the session there is */
	rc = router_send(b, s->rid, s->rid_len, buf, len);
	free(buf);
	return rc == 0 || errno != EHOSTUNREACH;
}

/* Queues an Error; audits the refusal the first time for this connection. */
static hv_err
session_refuse(struct broker *b, MDB_txn *txn, const struct conn *c,
    hv_err code, const char *msg, struct outbox *o)
{
	hv_err e;

	if (b->refused_code != code || b->refused_rid_len != c->rid_len ||
	    memcmp(b->refused_rid, c->rid, c->rid_len) != 0) {
		if ((e = audit_reject(b, txn, c->node, NULL, code, msg,
		         NULL)) != HV_OK)
			return e;
		hv_log_warnx("refused a session of %s: %s", c->node, msg);
		memcpy(b->refused_rid, c->rid, c->rid_len);
		b->refused_rid_len = c->rid_len;
		b->refused_code = code;
	}
	return reply_error(o, c, hv_errname(code), msg);
}

hv_err
session_admit(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Frame *f, struct outbox *o, int *admitted)
{
	struct session *s = session_find(b, c->node);
	struct hv_errdetail d;
	char msg[320];
	hv_err e;

	*admitted = 0;
	hv_errclear(&d);
	if (f->kind_case == HAVEN__FRAME__KIND_HELLO &&
	    hv_wire_protocol_check(f->hello->protocol, c->node, &d) != HV_OK)
		return session_refuse(b, txn, c, HV_EPROTOCOL, d.message, o);
	if (s != NULL && s->connected &&
	    (s->rid_len != c->rid_len ||
	        memcmp(s->rid, c->rid, c->rid_len) != 0) &&
	    session_alive(b, s)) {
		snprintf(msg, sizeof(msg),
		    "%s is already connected and was "
		    "heard from %lld s ago; a second session of one node is "
		    "refused: two agents must not share a node id and key",
		    c->node,
		    (long long)((hv_mono_ms() - s->last_rx_ms) / 1000));
		e = session_refuse(b, txn, c, HV_EDUPSESSION, msg, o);
		return e;
	}
	*admitted = 1;
	return HV_OK;
}

void
sessions_reset(struct broker *b)
{
	for (size_t i = 0; i < b->n_sessions; i++) {
		b->sessions[i].connected = 0;
		session_restart(&b->sessions[i]);
	}
}

void
sessions_expire(struct broker *b)
{
	int64_t now = hv_mono_ms();

	for (size_t i = 0; i < b->n_sessions; i++) {
		struct session *s = &b->sessions[i];

		if (s->connected && now - s->last_rx_ms > BROKER_IDLE_MS) {
			s->connected = 0;
			hv_log_info("%s disconnected (silent for %d s)",
			    s->node, BROKER_IDLE_MS / 1000);
		}
	}
}

void
sessions_free(struct broker *b)
{
	for (size_t i = 0; i < b->n_sessions; i++)
		free(b->sessions[i].inflight);
	free(b->sessions);
	b->sessions = NULL;
	b->n_sessions = b->cap_sessions = 0;
}

hv_err
session_hello(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Hello *h, struct outbox *o)
{
	struct session *s = session_find(b, c->node);
	char msg[200];
	hv_err e;

	if (h->node[0] != '\0' && strcmp(h->node, c->node) != 0) {
		snprintf(msg, sizeof(msg),
		    "Hello names node %.64s but the "
		    "connection is authenticated as %s.",
		    h->node, c->node);
		if ((e = audit_reject(b, txn, c->node, NULL, HV_ESENDERMISMATCH,
		         msg, NULL)) != HV_OK)
			return e;
		return reply_error(o, c, hv_errname(HV_ESENDERMISMATCH), msg);
	}
	if (s != NULL) {
		uint32_t w = h->window ? h->window : BROKER_WINDOW_DEFAULT;

		s->window = w > BROKER_WINDOW_MAX ? BROKER_WINDOW_MAX : w;
		if (s->n_inflight > s->window)
			s->n_inflight = s->window;
	}
	hv_log_debug("hello from %s (directory version %llu, window %u)",
	    c->node, (unsigned long long)h->directory_version, h->window);
	return HV_OK;
}

/* ---- keys ------------------------------------------------------------------- */

/* node \0 be64(n) */
size_t
key_node_seq(uint8_t *k, const char *node, uint64_t n)
{
	size_t l = strlen(node);

	memcpy(k, node, l);
	k[l] = 0;
	hv_be64_put(k + l + 1, n);
	return l + 9;
}

/* node \0 id */
static size_t
key_node_id(uint8_t *k, const char *node, const uint8_t id[HV_ID_LEN])
{
	size_t l = strlen(node);

	memcpy(k, node, l);
	k[l] = 0;
	memcpy(k + l + 1, id, HV_ID_LEN);
	return l + 1 + HV_ID_LEN;
}

/* id || node */
static size_t
key_id_node(uint8_t *k, const uint8_t id[HV_ID_LEN], const char *node)
{
	size_t l = strlen(node);

	memcpy(k, id, HV_ID_LEN);
	memcpy(k + HV_ID_LEN, node, l);
	return HV_ID_LEN + l;
}

/* deadline || id || node */
static size_t
key_expiry(uint8_t *k, int64_t deadline, const uint8_t id[HV_ID_LEN],
    const char *node)
{
	hv_be64_put(k, (uint64_t)deadline);
	return 8 + key_id_node(k + 8, id, node);
}

/* ---- enqueue ------------------------------------------------------------------ */

hv_err
deliver_enqueue(struct broker *b, MDB_txn *txn, const hv_envelope *env,
    const uint8_t *packed, size_t packed_len, int64_t accepted_at)
{
	int64_t deadline = accepted_at + (int64_t)b->cfg.message_ttl * 1000;
	uint8_t k[KEY_MAX], v[16], *m;
	uint8_t addr[32 + 40 + 16 + HV_NODE_MAX + 3];
	size_t al = 0, kl;
	hv_err e;

	if (env->n_recipients == 0)
		return HV_OK;
	if ((m = malloc(8 + packed_len)) == NULL)
		return HV_ENOMEM;
	hv_be64_put(m, (uint64_t)accepted_at);
	memcpy(m + 8, packed, packed_len);
	e = store_put(txn, b->db[DB_MSGS], env->id, HV_ID_LEN, m,
	    8 + packed_len);
	free(m);
	if (e != HV_OK)
		return e;
	v[0] = v[1] = v[2] = 0;
	v[3] = (uint8_t)env->n_recipients;
	if ((e = store_put(txn, b->db[DB_REFS], env->id, HV_ID_LEN, v, 4)) !=
	    HV_OK)
		return e;

	memcpy(addr, env->subject, 32);
	al = 32;
	al += (size_t)snprintf((char *)addr + al, sizeof(addr) - al, "%s",
	          env->type) +
	    1;
	al += (size_t)snprintf((char *)addr + al, sizeof(addr) - al, "%s",
	          env->priority) +
	    1;
	al += (size_t)snprintf((char *)addr + al, sizeof(addr) - al, "%s",
	          env->sender) +
	    1;

	for (size_t i = 0; i < env->n_recipients; i++) {
		const char *r = env->recipients[i];
		uint64_t q = ++b->txn_qseq;

		kl = key_node_seq(k, r, q);
		if ((e = store_put(txn, b->db[DB_QUEUE], k, kl, env->id,
		         HV_ID_LEN)) != HV_OK)
			return e;
		kl = key_node_id(k, r, env->id);
		hv_be64_put(v, q);
		hv_be64_put(v + 8, (uint64_t)deadline);
		if ((e = store_put(txn, b->db[DB_QIDX], k, kl, v, 16)) != HV_OK)
			return e;
		kl = key_expiry(k, deadline, env->id, r);
		if ((e = store_put(txn, b->db[DB_EXPIRY], k, kl, "", 0)) !=
		    HV_OK)
			return e;
		kl = key_id_node(k, env->id, r);
		if ((e = store_put(txn, b->db[DB_ADDR], k, kl, addr, al)) !=
		    HV_OK)
			return e;
	}
	return HV_OK;
}

/* ---- the facts kept per (message, recipient) ------------------------------ */

hv_err
addr_get(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *node, struct addr_info *a)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_id_node(k, id, node), off = 32;
	const char *f[3];
	MDB_val v;
	hv_err e;

	if ((e = store_get(txn, b->db[DB_ADDR], k, kl, &v)) != HV_OK)
		return e;
	if (v.mv_size < 35 || ((char *)v.mv_data)[v.mv_size - 1] != '\0')
		return HV_EIO;
	memcpy(a->subject, v.mv_data, 32);
	for (int i = 0; i < 3; i++) {
		if (off >= v.mv_size)
			return HV_EIO;
		f[i] = (const char *)v.mv_data + off;
		off += strlen(f[i]) + 1;
	}
	snprintf(a->type, sizeof(a->type), "%s", f[0]);
	snprintf(a->priority, sizeof(a->priority), "%s", f[1]);
	snprintf(a->sender, sizeof(a->sender), "%s", f[2]);
	return HV_OK;
}

/* An audit record about one recipient of a message. */
void
rec_for(struct hv_audit_rec *rec, const char *event,
    const uint8_t id[HV_ID_LEN], const struct addr_info *a, const char *node)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->event, sizeof(rec->event), "%s", event);
	rec->has_id = 1;
	memcpy(rec->id, id, HV_ID_LEN);
	snprintf(rec->sender, sizeof(rec->sender), "%s", a->sender);
	rec->n_recipients = 1;
	snprintf(rec->recipients[0], sizeof(rec->recipients[0]), "%s", node);
	snprintf(rec->type, sizeof(rec->type), "%s", a->type);
	snprintf(rec->priority, sizeof(rec->priority), "%s", a->priority);
	rec->has_subject = 1;
	memcpy(rec->subject, a->subject, 32);
	snprintf(rec->actor, sizeof(rec->actor), "%s", node);
}

/*
 * Signs a receipt and stores it in the sender's receipt queue; code and
 * message (NULL for none) say why, for a receipt that is not good news.
 */
hv_err
receipt_queue_why(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *sender, const char *status, const char *code,
    const char *message, const char *node, const char *by, uint64_t audit_seq)
{
	uint64_t rseq = ++b->txn_rseq;
	uint8_t k[KEY_MAX], *rb = NULL;
	size_t kl, rl;
	hv_err e;

	if ((e = receipt_make(b, id, status, code, message, node, by,
	         hv_now_ms(), audit_seq, rseq, &rb, &rl)) != HV_OK)
		return e;
	kl = key_node_seq(k, sender, rseq);
	e = store_put(txn, b->db[DB_RCPTQ], k, kl, rb, rl);
	free(rb);
	return e;
}

/* Signs a receipt and stores it in the sender's receipt queue. */
static hv_err
receipt_queue(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *sender, const char *status, const char *node, const char *by,
    uint64_t audit_seq)
{
	return receipt_queue_why(b, txn, id, sender, status, NULL, NULL, node,
	    by, audit_seq);
}

/*
 * Removes the queue entry of (node, id) and, with the last recipient, the
 * envelope. *found is 0 when there was no entry. The envelope's ciphertext
 * is overwritten before it goes and its old pages scrubbed after the commit
 * (SPEC §15: kept only until delivered, expired or withdrawn).
 */
hv_err
dequeue(struct broker *b, MDB_txn *txn, const char *node,
    const uint8_t id[HV_ID_LEN], int *found)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_node_id(k, node, id);
	uint64_t q, refs;
	int64_t deadline;
	MDB_val v;
	hv_err e;

	*found = 0;
	e = store_get(txn, b->db[DB_QIDX], k, kl, &v);
	if (e == HV_ENOTFOUND)
		return HV_OK;
	if (e != HV_OK)
		return e;
	if (v.mv_size != 16)
		return HV_EIO;
	q = hv_be64_get(v.mv_data);
	deadline = (int64_t)hv_be64_get((uint8_t *)v.mv_data + 8);
	if ((e = store_del(txn, b->db[DB_QIDX], k, kl)) != HV_OK)
		return e;
	kl = key_node_seq(k, node, q);
	if ((e = store_del(txn, b->db[DB_QUEUE], k, kl)) != HV_OK &&
	    e != HV_ENOTFOUND)
		return e;
	kl = key_expiry(k, deadline, id, node);
	if ((e = store_del(txn, b->db[DB_EXPIRY], k, kl)) != HV_OK &&
	    e != HV_ENOTFOUND)
		return e;
	*found = 1;
	e = store_get(txn, b->db[DB_REFS], id, HV_ID_LEN, &v);
	if (e == HV_ENOTFOUND)
		return HV_OK;
	if (e != HV_OK || v.mv_size != 4)
		return e != HV_OK ? e : HV_EIO;
	refs = (uint64_t)((uint8_t *)v.mv_data)[0] << 24 |
	    (uint64_t)((uint8_t *)v.mv_data)[1] << 16 |
	    (uint64_t)((uint8_t *)v.mv_data)[2] << 8 |
	    ((uint8_t *)v.mv_data)[3];
	if (refs <= 1) {
		if ((e = store_del(txn, b->db[DB_REFS], id, HV_ID_LEN)) !=
		    HV_OK)
			return e;
		if ((e = hv_store_wipe_del(txn, b->db[DB_MSGS], id,
		         HV_ID_LEN)) != HV_OK)
			return e;
		b->scrub_due = 1;
		return HV_OK;
	} else {
		uint8_t r[4] = { 0, 0, (uint8_t)((refs - 1) >> 8),
			(uint8_t)(refs - 1) };

		return store_put(txn, b->db[DB_REFS], id, HV_ID_LEN, r, 4);
	}
}

/* ---- acks ------------------------------------------------------------------ */

/*
 * The recipient acknowledged a delivery its own checks refused (its
 * directory revokes the sender or has no allow rule, the created time is
 * outside its window, ...): the queue entry is gone as for a delivery, but
 * it is audited REJECTED, reason the recipient's code and actor the
 * recipient, and the sender gets a REJECTED receipt naming the recipient,
 * the code and the recipient's sentence. Never DELIVERED.
 */
static hv_err
refused_at_recipient(struct broker *b, MDB_txn *txn, const Haven__Ack *a,
    hv_err code, const struct addr_info *ai, const char *node)
{
	struct hv_audit_rec rec;
	char hex[HV_ID_HEX_LEN + 1];
	hv_err e;

	rec_for(&rec, hv_event_name(HV_EV_REJECTED), a->id.data, ai, node);
	snprintf(rec.reason, sizeof(rec.reason), "%s", hv_errname(code));
	snprintf(rec.detail, sizeof(rec.detail),
	    "Refused at the recipient "
	    "%s: %s",
	    node, a->refused_message);
	/* Cut at a character boundary if the sentence did not fit. */
	for (size_t n = strlen(rec.detail);
	     n > 0 && !hv_utf8_valid(rec.detail, n);)
		rec.detail[--n] = '\0';
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	if ((e = receipt_queue_why(b, txn, a->id.data, ai->sender,
	         hv_status_name(HV_ST_REJECTED), hv_errname(code),
	         a->refused_message, node, NULL, rec.seq)) != HV_OK)
		return e;
	hv_hex(a->id.data, HV_ID_LEN, hex);
	hv_log_info("%s refused %s at its own checks: %s", node, hex,
	    hv_errname(code));
	return HV_OK;
}

hv_err
deliver_ack(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Ack *a, struct outbox *o)
{
	struct addr_info ai;
	struct hv_audit_rec rec;
	uint8_t k[KEY_MAX];
	char hex[HV_ID_HEX_LEN + 1];
	int found;
	hv_err e, refused;

	if (a->receipt_seq != 0) {
		size_t kl = key_node_seq(k, c->node, a->receipt_seq);
		MDB_val rv;

		/* A recipient confirming a retraction: RETRACTION_DELIVERED. */
		if (store_get(txn, b->db[DB_RCPTQ], k, kl, &rv) == HV_OK &&
		    (e = retract_acked(b, txn, c, rv.mv_data, rv.mv_size)) !=
		        HV_OK)
			return e;
		e = store_del(txn, b->db[DB_RCPTQ], k, kl);
		return e == HV_ENOTFOUND ? HV_OK : e;
	}
	if (a->id.len != HV_ID_LEN) {
		const char *msg = "Ack carries neither a 16-byte message id "
		                  "nor a receipt sequence.";

		if ((e = audit_reject(b, txn, c->node, NULL, HV_EMALFORMED, msg,
		         NULL)) != HV_OK)
			return e;
		return reply_error(o, c, hv_errname(HV_EMALFORMED), msg);
	}
	if ((e = dequeue(b, txn, c->node, a->id.data, &found)) != HV_OK)
		return e;
	if ((e = outbox_unflight(o, c->node, a->id.data)) != HV_OK)
		return e;
	if (!found)
		return HV_OK; /* a repeated ack */
	if ((e = addr_get(b, txn, a->id.data, c->node, &ai)) != HV_OK)
		return e == HV_ENOTFOUND ? HV_EIO : e;
	/* hv_frame_unpack has checked the refusal; this cannot fail. */
	if (hv_ack_refusal(a, &refused, NULL) != HV_OK)
		refused = HV_EMALFORMED;
	if (refused != HV_OK)
		return refused_at_recipient(b, txn, a, refused, &ai, c->node);
	rec_for(&rec, hv_event_name(HV_EV_DELIVERED), a->id.data, &ai, c->node);
	snprintf(rec.detail, sizeof(rec.detail), "Delivered to %s.", c->node);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	if ((e = receipt_queue(b, txn, a->id.data, ai.sender,
	         hv_status_name(HV_ST_DELIVERED), c->node, NULL, rec.seq)) !=
	    HV_OK)
		return e;
	hv_hex(a->id.data, HV_ID_LEN, hex);
	hv_log_info("delivered %s to %s", hex, c->node);
	return HV_OK;
}

/*
 * Echoes h back to its node: the broker has the last word on it (recorded,
 * already recorded, or refused), so the agent may stop repeating it. Sent
 * from o, that is only after the transaction holding the record commits.
 */
static hv_err
human_ack_done(struct outbox *o, const struct conn *c, const Haven__HumanAck *h)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__HumanAck echo = HAVEN__HUMAN_ACK__INIT;

	echo.id = h->id;
	echo.by = h->by;
	echo.escalated = h->escalated;
	f.kind_case = HAVEN__FRAME__KIND_HUMAN_ACK;
	f.human_ack = &echo;
	return reply_frame(o, c, &f);
}

hv_err
deliver_human_ack(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__HumanAck *h, struct outbox *o)
{
	const char *event =
	    hv_event_name(h->escalated ? HV_EV_ESCALATED : HV_EV_ACKNOWLEDGED);
	struct addr_info ai;
	struct hv_audit_rec rec;
	uint8_t k[KEY_MAX];
	size_t kl;
	char hex[HV_ID_HEX_LEN + 1];
	const char *msg;
	MDB_val v;
	hv_err e;

	/* `by` is audited and sent on in receipts: a staff id, never text. */
	if (h->id.len != HV_ID_LEN ||
	    (!(h->escalated && h->by[0] == '\0') &&
	        !hv_policy_staff_id_valid(h->by))) {
		msg = "HumanAck needs a 16-byte message id and, unless "
		      "escalated, the staff identifier of who acknowledged "
		      "([a-z0-9._-], a letter first, at most 64 characters).";
		if ((e = audit_reject(b, txn, c->node, NULL, HV_EMALFORMED, msg,
		         NULL)) != HV_OK ||
		    (e = reply_error(o, c, hv_errname(HV_EMALFORMED), msg)) !=
		        HV_OK)
			return e;
		return human_ack_done(o, c, h);
	}
	e = addr_get(b, txn, h->id.data, c->node, &ai);
	if (e == HV_ENOTFOUND) {
		msg = "HumanAck names a message that was not addressed to "
		      "this node.";
		if ((e = audit_reject(b, txn, c->node, NULL, HV_ENOTRECIPIENT,
		         msg, NULL)) != HV_OK ||
		    (e = reply_error(o, c, hv_errname(HV_ENOTRECIPIENT),
		         msg)) != HV_OK)
			return e;
		return human_ack_done(o, c, h);
	}
	if (e != HV_OK)
		return e;
	/* Agents repeat a HumanAck until it is echoed; it is recorded once. */
	kl = key_id_node(k, h->id.data, c->node);
	k[kl++] = h->escalated ? 'E' : 'A';
	e = store_get(txn, b->db[DB_HACKS], k, kl, &v);
	if (e == HV_OK)
		return human_ack_done(o, c, h);
	if (e != HV_ENOTFOUND)
		return e;
	if ((e = store_put(txn, b->db[DB_HACKS], k, kl, "", 0)) != HV_OK)
		return e;
	rec_for(&rec, event, h->id.data, &ai, c->node);
	if (h->escalated)
		snprintf(rec.detail, sizeof(rec.detail),
		    "Not acknowledged "
		    "at %s in time; raised again.",
		    c->node);
	else
		snprintf(rec.detail, sizeof(rec.detail),
		    "Acknowledged at %s "
		    "by %s.",
		    c->node, h->by);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	if ((e = receipt_queue(b, txn, h->id.data, ai.sender, event, c->node,
	         h->escalated ? NULL : h->by, rec.seq)) != HV_OK)
		return e;
	hv_hex(h->id.data, HV_ID_LEN, hex);
	hv_log_info("%s %s at %s", h->escalated ? "escalated" : "acknowledged",
	    hex, c->node);
	return human_ack_done(o, c, h);
}

void
deliver_unflight(struct broker *b, const char *node,
    const uint8_t id[HV_ID_LEN])
{
	struct session *s = session_find(b, node);

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_inflight; i++) {
		if (memcmp(s->inflight[i].id, id, HV_ID_LEN) == 0) {
			s->inflight[i] = s->inflight[--s->n_inflight];
			return;
		}
	}
}

/* ---- sending ------------------------------------------------------------- */

/* Sends one Deliver. Returns 0, or -1 with errno from router_send. */
static int
send_deliver(struct broker *b, struct session *s, const MDB_val *msg)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Deliver dl = HAVEN__DELIVER__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	if (msg->mv_size < 8) {
		errno = EINVAL;
		return -1;
	}
	dl.accepted_at = (int64_t)hv_be64_get(msg->mv_data);
	dl.envelope.data = (uint8_t *)msg->mv_data + 8;
	dl.envelope.len = msg->mv_size - 8;
	f.kind_case = HAVEN__FRAME__KIND_DELIVER;
	f.deliver = &dl;
	if (hv_frame_pack(&f, &buf, &len) != HV_OK) {
		errno = ENOMEM;
		return -1;
	}
	rc = router_send(b, s->rid, s->rid_len, buf, len);
	free(buf);
	return rc;
}

/* Deliveries: resend what timed out, then fill the window. */
static void
pump_deliveries(struct broker *b, struct session *s, MDB_txn *txn)
{
	int64_t now = hv_mono_ms();
	uint8_t k[KEY_MAX];
	size_t kl, nl = strlen(s->node);
	MDB_cursor *cur;
	MDB_val key, val, msg;
	int rc;

	for (size_t i = 0; i < s->n_inflight; i++) {
		struct inflight *f = &s->inflight[i];

		if (now - f->sent_ms < BROKER_RESEND_MS)
			continue;
		if (store_get(txn, b->db[DB_MSGS], f->id, HV_ID_LEN, &msg) !=
		    HV_OK) {
			s->inflight[i--] = s->inflight[--s->n_inflight];
			continue;
		}
		if (send_deliver(b, s, &msg) != 0) {
			if (errno == EHOSTUNREACH)
				s->connected = 0;
			return;
		}
		f->sent_ms = now;
	}
	if (s->n_inflight >= s->window)
		return;
	if (mdb_cursor_open(txn, b->db[DB_QUEUE], &cur) != 0)
		return;
	kl = key_node_seq(k, s->node, s->dl_cursor + 1);
	key.mv_data = k;
	key.mv_size = kl;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	     rc == 0 && s->n_inflight < s->window;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		uint64_t q;

		if (key.mv_size != nl + 9 ||
		    memcmp(key.mv_data, s->node, nl) != 0 ||
		    ((uint8_t *)key.mv_data)[nl] != 0 ||
		    val.mv_size != HV_ID_LEN)
			break;
		q = hv_be64_get((uint8_t *)key.mv_data + nl + 1);
		if (store_get(txn, b->db[DB_MSGS], val.mv_data, HV_ID_LEN,
		        &msg) != HV_OK) {
			s->dl_cursor = q;
			continue;
		}
		if (send_deliver(b, s, &msg) != 0) {
			if (errno == EHOSTUNREACH) {
				s->connected = 0;
				hv_log_info("%s disconnected", s->node);
			}
			break;
		}
		memcpy(s->inflight[s->n_inflight].id, val.mv_data, HV_ID_LEN);
		s->inflight[s->n_inflight].qseq = q;
		s->inflight[s->n_inflight].sent_ms = now;
		s->n_inflight++;
		s->dl_cursor = q;
	}
	mdb_cursor_close(cur);
}

/* Receipts waiting for this node as a sender. */
static void
pump_receipts(struct broker *b, struct session *s, MDB_txn *txn)
{
	int64_t now = hv_mono_ms();
	uint8_t k[KEY_MAX];
	size_t kl, nl = strlen(s->node);
	MDB_cursor *cur;
	MDB_val key, val;
	int rc, n = 0;

	if (now - s->rc_epoch_ms >= BROKER_RESEND_MS) {
		s->rc_cursor = 0;
		s->rc_epoch_ms = now;
	}
	if (mdb_cursor_open(txn, b->db[DB_RCPTQ], &cur) != 0)
		return;
	kl = key_node_seq(k, s->node, s->rc_cursor + 1);
	key.mv_data = k;
	key.mv_size = kl;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	     rc == 0 && n < RECEIPTS_PER_PUMP;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
		uint8_t *fb;
		size_t fl;

		if (key.mv_size != nl + 9 ||
		    memcmp(key.mv_data, s->node, nl) != 0 ||
		    ((uint8_t *)key.mv_data)[nl] != 0)
			break;
		if (frame_wrap_receipt(val.mv_data, val.mv_size, &fb, &fl) !=
		    HV_OK)
			break;
		rc = router_send(b, s->rid, s->rid_len, fb, fl);
		free(fb);
		if (rc != 0) {
			if (errno == EHOSTUNREACH)
				s->connected = 0;
			break;
		}
		s->rc_cursor = hv_be64_get((uint8_t *)key.mv_data + nl + 1);
	}
	mdb_cursor_close(cur);
}

void
deliver_pump(struct broker *b)
{
	MDB_txn *txn;

	if (hv_store_begin(b->store, 1, &txn) != HV_OK)
		return;
	for (size_t i = 0; i < b->n_sessions; i++) {
		struct session *s = &b->sessions[i];

		const struct hv_node *n;

		if (!s->connected)
			continue;
		/* A node revoked by a reload gets nothing more, even in the
		 * moments before its session is cut. */
		n = hv_directory_node(b->dir, s->node);
		if (n == NULL || n->revoked || !n->has_keys)
			continue;
		pump_deliveries(b, s, txn);
		if (s->connected)
			pump_receipts(b, s, txn);
	}
	mdb_txn_abort(txn);
}

/* ---- expiry and withdrawal ----------------------------------------------- */

struct expired {
	uint8_t id[HV_ID_LEN];
	char node[HV_NODE_MAX + 1];
};

/*
 * Takes the queue entry of (node, id) out undelivered: audited EXPIRED with
 * `why` as its detail, and an EXPIRED receipt for the sender carrying `code`
 * (NULL for a TTL, else why it can no longer be delivered). *done is 0 when
 * there was no entry any more.
 */
static hv_err
withdraw(struct broker *b, MDB_txn *txn, const struct expired *x,
    const char *code, const char *why, int *done)
{
	struct addr_info ai;
	struct hv_audit_rec rec;
	hv_err e;

	if ((e = dequeue(b, txn, x->node, x->id, done)) != HV_OK || !*done)
		return e;
	if ((e = addr_get(b, txn, x->id, x->node, &ai)) != HV_OK)
		return e;
	rec_for(&rec, hv_event_name(HV_EV_EXPIRED), x->id, &ai, x->node);
	snprintf(rec.detail, sizeof(rec.detail), "%s", why);
	if ((e = audit_append(b, txn, &rec)) != HV_OK)
		return e;
	return receipt_queue_why(b, txn, x->id, ai.sender,
	    hv_status_name(HV_ST_EXPIRED), code, code != NULL ? why : NULL,
	    x->node, NULL, rec.seq);
}

/* Commits a withdrawal batch of n entries, or says why it could not. */
static int
withdraw_commit(struct broker *b, MDB_txn *txn, const struct expired *ex,
    size_t n, hv_err e, const char *verb)
{
	if (n == 0) {
		store_txn_abort(b, txn);
		return 0;
	}
	if (e != HV_OK) {
		store_txn_abort(b, txn);
		hv_log_warnx("cannot %s %zu queue entries now: %s", verb, n,
		    hv_errname(e));
		return -1;
	}
	if ((e = store_txn_commit(b, txn)) != HV_OK) {
		if (e != HV_ESTORAGEFULL)
			hv_fatalx("cannot commit to the store: %s",
			    hv_strerror(e));
		hv_log_warnx("cannot %s %zu queue entries now: %s", verb, n,
		    hv_errname(e));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char hex[HV_ID_HEX_LEN + 1];

		hv_hex(ex[i].id, HV_ID_LEN, hex);
		hv_log_info("%s %s for %s",
		    verb[0] == 'e' ? "expired" : "withdrew", hex, ex[i].node);
		deliver_unflight(b, ex[i].node, ex[i].id);
	}
	return 0;
}

/* Reads the queue entry under an expiry key; 0 when it is malformed. */
static int
expiry_entry(const MDB_val *key, struct expired *x, int64_t *deadline)
{
	size_t nl;

	if (key->mv_size <= 8 + HV_ID_LEN)
		return 0;
	nl = key->mv_size - 8 - HV_ID_LEN;
	if (nl > HV_NODE_MAX)
		return 0;
	*deadline = (int64_t)hv_be64_get(key->mv_data);
	memcpy(x->id, (uint8_t *)key->mv_data + 8, HV_ID_LEN);
	memcpy(x->node, (uint8_t *)key->mv_data + 8 + HV_ID_LEN, nl);
	x->node[nl] = '\0';
	return 1;
}

void
deliver_expire(struct broker *b)
{
	struct expired *ex;
	int64_t now = hv_now_ms(), deadline;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	size_t n = 0;
	char why[sizeof(((struct hv_audit_rec *)0)->detail)];
	hv_err e = HV_OK;
	int rc, done;

	if ((ex = calloc(EXPIRE_PER_TXN, sizeof(*ex))) == NULL)
		return;
	if (store_txn_begin(b, &txn) != HV_OK) {
		free(ex);
		return;
	}
	if (mdb_cursor_open(txn, b->db[DB_EXPIRY], &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
		     rc == 0 && n < EXPIRE_PER_TXN;
		     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
			if (key.mv_size <= 8 + HV_ID_LEN ||
			    (int64_t)hv_be64_get(key.mv_data) > now)
				break;
			if (expiry_entry(&key, &ex[n], &deadline))
				n++;
		}
		mdb_cursor_close(cur);
	}
	for (size_t i = 0; i < n && e == HV_OK; i++) {
		snprintf(why, sizeof(why),
		    "Not delivered to %s within %llu "
		    "s.",
		    ex[i].node, (unsigned long long)b->cfg.message_ttl);
		e = withdraw(b, txn, &ex[i], NULL, why, &done);
	}
	withdraw_commit(b, txn, ex, n, e, "expire");
	free(ex);
}

/* 1 when the directory in force no longer admits node. */
static int
node_gone(const struct broker *b, const char *node)
{
	const struct hv_node *n = hv_directory_node(b->dir, node);

	return n == NULL || n->revoked || !n->has_keys;
}

/*
 * Finds up to EXPIRE_PER_TXN queue entries, after the expiry key `from`
 * (empty: from the start), whose recipient or sender the directory no
 * longer admits; *more is 1 when the walk stopped early.
 */
static size_t
revoked_entries(struct broker *b, MDB_txn *txn, struct expired *ex,
    uint8_t *from, size_t *from_len, int *more)
{
	MDB_cursor *cur;
	MDB_val key, val;
	struct addr_info ai;
	int64_t deadline;
	size_t n = 0;
	int rc;

	*more = 0;
	if (mdb_cursor_open(txn, b->db[DB_EXPIRY], &cur) != 0)
		return 0;
	key.mv_data = from;
	key.mv_size = *from_len;
	rc = *from_len == 0 ? mdb_cursor_get(cur, &key, &val, MDB_FIRST) :
	                      mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (n == EXPIRE_PER_TXN) {
			*more = 1;
			break;
		}
		if (key.mv_size > KEY_MAX ||
		    !expiry_entry(&key, &ex[n], &deadline))
			continue;
		memcpy(from, key.mv_data, key.mv_size);
		*from_len = key.mv_size;
		if (node_gone(b, ex[n].node) ||
		    (addr_get(b, txn, ex[n].id, ex[n].node, &ai) == HV_OK &&
		        node_gone(b, ai.sender)))
			n++;
	}
	mdb_cursor_close(cur);
	return n;
}

void
deliver_withdraw_revoked(struct broker *b)
{
	struct expired *ex;
	struct addr_info ai;
	uint8_t from[KEY_MAX];
	size_t from_len = 0, n;
	char why[sizeof(((struct hv_audit_rec *)0)->detail)];
	const char *code;
	MDB_txn *txn;
	hv_err e;
	int more = 1, done;

	if ((ex = calloc(EXPIRE_PER_TXN, sizeof(*ex))) == NULL)
		return;
	while (more) {
		if (store_txn_begin(b, &txn) != HV_OK)
			break;
		n = revoked_entries(b, txn, ex, from, &from_len, &more);
		e = HV_OK;
		for (size_t i = 0; i < n && e == HV_OK; i++) {
			if (node_gone(b, ex[i].node)) {
				code = hv_errname(HV_EREVOKEDRECIPIENT);
				snprintf(why, sizeof(why),
				    "Withdrawn: %s was "
				    "revoked by directory version %llu before "
				    "it collected the message.",
				    ex[i].node,
				    (unsigned long long)hv_directory_version(
				        b->dir));
			} else {
				if ((e = addr_get(b, txn, ex[i].id, ex[i].node,
				         &ai)) != HV_OK)
					break;
				code = hv_errname(HV_ESENDERREVOKED);
				snprintf(why, sizeof(why),
				    "Withdrawn: its "
				    "sender %s was revoked by directory "
				    "version %llu before %s collected it.",
				    ai.sender,
				    (unsigned long long)hv_directory_version(
				        b->dir),
				    ex[i].node);
			}
			e = withdraw(b, txn, &ex[i], code, why, &done);
		}
		if (withdraw_commit(b, txn, ex, n, e, "withdraw") != 0)
			break;
	}
	free(ex);
}
