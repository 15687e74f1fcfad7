/*
 * haven-broker — the central daemon's state and the interfaces between its
 * files (SPEC §5, §6, §9, §10, §11).
 *
 * Everything the broker knows hangs off one struct broker, created by main
 * and passed by pointer: there are no mutable globals beyond the logger's
 * settings. One thread owns the sockets and the store: loop.c polls the
 * ROUTER, the ZAP socket and a signalfd; each batch of frames that arrives
 * together is processed inside one LMDB write transaction (group commit)
 * and every reply the batch produced is sent only after that transaction
 * has committed. Only the batch's signature checks run beside it, on one
 * worker per further core (verify.c), overlapped with the commit before.
 *
 * Files: main.c (start-up checklist, --help), loop.c (poll, signals,
 * timers, batches, dispatch), zap.c (CURVE authentication against the
 * directory), submit.c (the checks of SPEC §6 in order), verify.c (a
 * batch's signatures on every core), deliver.c
 * (sessions, queues, windows, acks, receipts to senders, expiry), audit.c
 * (audit records, tree heads, health), query.c (remote audit queries by
 * ig nodes), store.c (databases).
 *
 * The broker never sees a payload in clear and never logs one: it logs node
 * ids, message ids in hex, codes and counts.
 */
#ifndef BROKER_H
#define BROKER_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "haven.pb-c.h"
#include "hv_auditlog.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_log.h"
#include "hv_store.h"

#define BROKER_BATCH_MAX 256 /* frames per group commit */
#define BROKER_BATCH_BYTES (32u << 20) /* bytes held by the two batches */
#define BROKER_PIPELINE 8 /* batches in a row before the timers' turn */
#define BROKER_WINDOW_DEFAULT 32 /* unacknowledged deliveries */
#define BROKER_WINDOW_MAX 1024
#define BROKER_RESEND_MS 30000 /* redeliver what was not acked */
#define BROKER_IDLE_MS 30000 /* a silent node is disconnected */
#define BROKER_SKEW_S 300 /* SPEC §6 clock window */
#define BROKER_HEAD_MS 1000 /* sign a tree head this often */
/*
 * A full store must not stop deliveries (SPEC §6): new messages are refused
 * STORAGE_FULL while the map is within a reserve of its end. The reserve is
 * BROKER_RESERVE_PERCENT of the map (transaction overhead, tree heads, the
 * refusal summaries) plus BROKER_DELIVERY_RESERVE bytes for every queued
 * delivery: its DELIVERED and ACKNOWLEDGED (or EXPIRED) records and the
 * receipts to its sender, written later while the envelope is freed.
 */
#define BROKER_RESERVE_PERCENT 15
#define BROKER_DELIVERY_RESERVE 2048
#define BROKER_REFUSALS_MS 60000 /* one summary of refusals while full */
#define BROKER_RECORD_BYTES 1024 /* a record, its leaf and indexes */
#define BROKER_RID_MAX 256
#define BROKER_VERIFY_THREADS_MAX 8 /* signature checks in parallel */
/*
 * An unauthenticated TCP flood (SPEC §6, §10): a connection that has not
 * finished its CURVE handshake within BROKER_HANDSHAKE_MS is closed, which
 * bounds the file descriptors silent connections can hold (ZeroMQ's
 * default is 30 s); lines an outsider can cause (refused or failed
 * handshakes) are logged at most once per BROKER_REFUSAL_LOG_MS, with a
 * count of those held back. Agents on a slow link complete a handshake in
 * well under a second, so 5 s leaves a wide margin.
 */
#define BROKER_HANDSHAKE_MS 5000
#define BROKER_REFUSAL_LOG_MS 10000
/* Connections the kernel holds for the broker to accept: ZeroMQ's 100
 * would drop an agent's SYN behind a burst of bare connections. */
#define BROKER_BACKLOG 1024
#define BROKER_QUERY_MAX 1000 /* audit records per AuditReply */

/* The [broker] section of the config file (SPEC §10). */
struct broker_config {
	char *id;
	char *key;
	char *key_passphrase_file;
	char *root_pub;
	char *directory;
	char *bind;
	char *data_dir;
	uint64_t max_message_bytes;
	uint64_t message_ttl;
	uint64_t map_size;
	char *group_commit; /* "yes" or "no" */
	uint64_t revocation_grace_ms;
	char *restore_notice; /* after a restore from a backup */
};

/* One delivery sent to a node and not yet acknowledged. */
struct inflight {
	uint8_t id[HV_ID_LEN];
	uint64_t qseq;
	int64_t sent_ms;
};

/* What the broker knows about one node's connection. */
struct session {
	char node[HV_NODE_MAX + 1];
	uint8_t rid[BROKER_RID_MAX]; /* ROUTER routing id */
	size_t rid_len;
	int connected;
	int64_t last_rx_ms; /* monotonic */
	uint32_t window;
	uint64_t dl_cursor; /* last queue sequence sent */
	struct inflight *inflight; /* window entries */
	size_t n_inflight;
	uint64_t rc_cursor; /* last receipt sequence sent */
	int64_t rc_epoch_ms; /* when rc_cursor was last rewound */
};

/* Something to do once the batch's transaction has committed. */
enum out_kind {
	OUT_SEND, /* send buf to routing id rid */
	OUT_UNFLIGHT, /* node acknowledged delivery of id */
};

struct out_item {
	enum out_kind kind;
	uint8_t rid[BROKER_RID_MAX];
	size_t rid_len;
	uint8_t *buf;
	size_t len;
	char node[HV_NODE_MAX + 1];
	uint8_t id[HV_ID_LEN];
};

struct outbox {
	struct out_item *v;
	size_t n, cap;
};

/*
 * A frame of the batch as verify.c sees it: its bytes, decoded there, and
 * for a Submit the verdict on its signature with the key it was checked
 * against (SIG_UNKNOWN when none was reached).
 */
enum { SIG_UNKNOWN, SIG_GOOD, SIG_BAD };
struct batch_frame {
	const uint8_t *data;
	size_t len;
	int parts;
	Haven__Frame *f; /* owned by the caller after the call */
	int sig;
	uint8_t sig_key[HV_SIGN_PUBLIC_LEN];
};

/* The connection a frame came from. */
struct conn {
	char node[HV_NODE_MAX + 1]; /* the ZAP User-Id */
	uint8_t rid[BROKER_RID_MAX];
	size_t rid_len;
};

/*
 * Refusals made while the store is full are not each written (they would
 * eat the reserve kept for deliveries): they are counted by code and
 * audited as one REJECTED record per BROKER_REFUSALS_MS.
 */
struct refusal_tally {
	uint64_t total;
	uint64_t by_code[HV_ERR_COUNT];
	int64_t first_ms; /* monotonic, of the oldest counted */
};

/* The broker's own databases, after which come the audit log's. */
enum broker_db {
	DB_MSGS, /* id -> accepted_at(8) || packed envelope */
	DB_SEEN, /* id -> BLAKE2b(envelope)(32) || packed first receipt */
	DB_QUEUE, /* recipient \0 qseq(8) -> id */
	DB_QIDX, /* recipient \0 id -> qseq(8) || deadline_ms(8) */
	DB_EXPIRY, /* deadline_ms(8) || id || recipient -> "" */
	DB_RCPTQ, /* sender \0 rseq(8) -> packed signed Receipt */
	DB_ADDR, /* id || recipient -> subject(32) type\0 priority\0 sender\0 */
	DB_REFS, /* id -> recipients still queued (4) */
	DB_HACKS, /* id || recipient || kind -> "" (human acks seen) */
	DB_BMETA, /* "qseq", "rseq" -> counter(8) */
	DB_COUNT
};

struct broker {
	struct broker_config cfg;
	char *config_path;
	const char *ready_file;
	const char *restore_flag; /* --restore-notice FILE */
	int foreground;
	int group_commit;

	hv_keys *keys;
	uint8_t root_sign[HV_SIGN_PUBLIC_LEN];
	hv_directory *dir;
	uint8_t *dir_bytes; /* the signed directory in force */
	size_t dir_len;

	hv_store *store;
	hv_auditlog log;
	MDB_dbi db[DB_COUNT];
	MDB_dbi db_audit_meta;

	/* Counters: committed values and the open transaction's. */
	uint64_t qseq, rseq;
	uint64_t txn_qseq, txn_rseq;

	void *zctx;
	void *router;
	void *zap;
	int sigfd;
	char endpoint[256]; /* what the ROUTER is bound to */
	size_t frame_max; /* ZMQ_MAXMSGSIZE */
	size_t envelope_max;
	size_t ciphertext_max; /* padded max_message_bytes + tag */

	struct session *sessions;
	size_t n_sessions, cap_sessions;
	int scrub_due; /* withdrawn ciphertext to overwrite */
	int64_t scrub_next_ms; /* mono: not tried again before */

	size_t verify_threads; /* cores for signature checks */
	struct verify_pool *vpool; /* verify.c's workers, while the loop runs */
	const struct batch_frame *verdicts; /* the open batch's, or NULL */
	size_t n_verdicts;

	int stop;
	int64_t rebind_at_ms; /* monotonic; 0 = none pending */
	int64_t last_head_ms; /* monotonic */
	int audit_dirty; /* records since the last head */
	/* restore.c: the proof from the restored log, per head size */
	uint64_t rn_for; /* head size it was made for, 0: none */
	size_t rn_plen;
	uint8_t rn_proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN];
	int64_t next_expiry_ms; /* monotonic */
	int64_t usage_at_ms; /* when the map use was last measured */
	uint64_t used_bytes; /* pages in use, measured */
	uint64_t queued; /* deliveries queued, measured */
	uint64_t txn_bytes; /* estimate of what the txn adds */
	struct refusal_tally refused; /* committed, not yet audited */
	struct refusal_tally txn_refused; /* counted in the open txn */
	struct hv_log_limit full_log; /* refusals counted while full */
	struct hv_log_limit zap_log; /* refused handshakes */
	struct hv_log_limit hs_log; /* failed handshakes and accepts */
	void *monitor; /* the ROUTER's event monitor */
	unsigned monitor_gen; /* its endpoint, one per bind */
	/* The last connection refused a session, audited once, not per frame. */
	uint8_t refused_rid[BROKER_RID_MAX];
	size_t refused_rid_len;
	hv_err refused_code;
};

/* ---- main.c / store.c --------------------------------------------------- */

/* Opens the store with the broker's and the audit log's databases; loads
 * the counters. Errors: as hv_store_open. */
hv_err store_open(struct broker *b, struct hv_errdetail *d);
void store_close(struct broker *b);

/* Percentage of the map in use (pages not on the free list). */
int store_usage_percent(struct broker *b);

/*
 * 1 when `bytes` more of new messages (beyond what the open transaction
 * has added) still leave the reserve free: the map less
 * BROKER_RESERVE_PERCENT, less BROKER_DELIVERY_RESERVE per queued delivery.
 * The use is measured at most every 250 ms and after each commit that
 * wrote a message or an audit record. A store that cannot be measured
 * admits nothing.
 */
int store_admits(struct broker *b, uint64_t bytes);

/* 1 while new messages are refused: refusals are then counted, not
 * written (see struct refusal_tally). */
int store_full(struct broker *b);

/* Begins the batch's write transaction (counters copied) and commits it
 * (counters written first). Commit errors: HV_ESTORAGEFULL, HV_EIO. */
hv_err store_txn_begin(struct broker *b, MDB_txn **txn);
hv_err store_txn_commit(struct broker *b, MDB_txn *txn);
void store_txn_abort(struct broker *b, MDB_txn *txn);

/* mdb_put / mdb_get / mdb_del mapped to hv_err. */
hv_err store_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    const void *v, size_t vlen);
hv_err store_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    MDB_val *out);
hv_err store_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);

/* ---- loop.c --------------------------------------------------------------- */

/* Blocks SIGTERM, SIGINT, SIGHUP, SIGPIPE and opens the signalfd. Must run
 * before the ZeroMQ context exists so its threads inherit the mask. */
void signals_block(struct broker *b);

/* Creates and binds the ROUTER with CURVE, ZAP domain and options; fills
 * b->endpoint from ZMQ_LAST_ENDPOINT. Returns 0 or -1 (errno set). */
int router_bind(struct broker *b, const char *endpoint);

/* Runs until SIGTERM/SIGINT. */
void loop_run(struct broker *b);

/* Reads and verifies the directory file (root signature, the broker's own
 * entry matching its keys). *bytes is the signed file, malloc'd.
 * Errors: HV_EBADDIRECTORY, HV_EIO, HV_ENOMEM (detail says why). */
hv_err directory_read(const struct broker *b, hv_directory **out,
    uint8_t **bytes, size_t *len, struct hv_errdetail *d);

/* Reloads the directory on SIGHUP (audited either way). */
void directory_reload(struct broker *b);

/* ---- outbox ---------------------------------------------------------------- */

/* Queues a packed frame for a routing id; takes ownership of buf. */
hv_err outbox_send(struct outbox *o, const uint8_t *rid, size_t rid_len,
    uint8_t *buf, size_t len);
hv_err outbox_unflight(struct outbox *o, const char *node,
    const uint8_t id[HV_ID_LEN]);
void outbox_clear(struct outbox *o);

/* Packs a frame holding one message for conn into the outbox. */
hv_err reply_frame(struct outbox *o, const struct conn *c,
    const Haven__Frame *f);
/* An Error{code, message} frame for conn. */
hv_err reply_error(struct outbox *o, const struct conn *c, const char *code,
    const char *message);
/* Wraps an already packed Receipt into a Frame for conn. */
hv_err reply_receipt_bytes(struct outbox *o, const struct conn *c,
    const uint8_t *rc, size_t len);

/* A Frame{receipt} around an already packed Receipt (*out malloc'd), by
 * hv_frame_pack. Errors: HV_EIO (rc is not a Receipt), HV_ENOMEM. */
hv_err frame_wrap_receipt(const uint8_t *rc, size_t len, uint8_t **out,
    size_t *out_len);

/* Sends one packed frame now (ROUTER_MANDATORY, non-blocking). Returns 0,
 * or -1 with errno (EHOSTUNREACH: peer gone, EAGAIN: peer is full). */
int router_send(struct broker *b, const uint8_t *rid, size_t rid_len,
    const uint8_t *buf, size_t len);

/* ---- verify.c ------------------------------------------------------------ */

/*
 * Signature checks on every core, overlapped with the commit (SPEC §16).
 * verify_pool_start() starts the workers (at least one, so that a batch's
 * checks can run while the main thread waits for the previous batch's
 * fsync, even on one core); verify_pool_stop() joins them.
 *
 * verify_start() hands the workers items[0..n) and returns at once: they
 * decode each item (its f, left NULL when it does not decode) and verify
 * the signatures of its Submits with the directory in force, noting each
 * verdict. verify_wait() takes a share of what is left on the calling
 * thread and returns when every item is done; one batch is in the workers'
 * hands at a time, and the directory must not change until verify_wait()
 * returned. verify_use() puts a finished batch's verdicts in force for
 * verify_envelope, until verify_batch_end. Nothing here fails: what the
 * workers cannot decide is decided again, in order, by dispatch and
 * submit_handle. Only the main thread calls these.
 */
void verify_pool_start(struct broker *b);
void verify_pool_stop(struct broker *b);
void verify_start(struct broker *b, struct batch_frame *items, size_t n);
void verify_wait(struct broker *b);
void verify_use(struct broker *b, const struct batch_frame *items, size_t n);
void verify_batch_end(struct broker *b);

/*
 * The BAD_SIGNATURE check of submit_handle: HV_OK when env, carried by s,
 * verifies with key. Uses the batch's verdict for s when it was reached
 * with this very key, and verifies now otherwise. Errors: HV_EBADSIG, and
 * hv_envelope_verify's.
 */
hv_err verify_envelope(struct broker *b, const Haven__Submit *s,
    const hv_envelope *env, const uint8_t key[HV_SIGN_PUBLIC_LEN]);

/* ---- zap.c ------------------------------------------------------------------ */

/* Binds the ZAP handler (inproc://zeromq.zap.01). Returns 0 or -1. */
int zap_start(struct broker *b);
/* Answers every pending ZAP request. */
void zap_handle(struct broker *b);

/* ---- submit.c --------------------------------------------------------------- */

/*
 * Runs the checks of SPEC §6 on one Submit inside txn and queues the
 * receipt in o. Returns HV_OK (accepted or rejected: either way answered),
 * or HV_ESTORAGEFULL / HV_EIO / HV_ENOMEM when txn must be aborted.
 */
hv_err submit_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Submit *s, struct outbox *o);

/* Queues a signed REJECTED receipt with no audit record (last resort when
 * the store cannot take even that). */
void submit_reject_unaudited(struct broker *b, const struct conn *c,
    const Haven__Submit *s, hv_err code, struct outbox *o);

/* Builds, signs and packs a receipt. *out is malloc'd. */
hv_err receipt_make(struct broker *b, const uint8_t *id, const char *status,
    const char *code, const char *message, const char *node, const char *by,
    int64_t at_ms, uint64_t audit_seq, uint64_t receipt_seq, uint8_t **out,
    size_t *len);

/* ---- deliver.c -------------------------------------------------------------- */

/* The session of node (created when missing), marked live on routing id
 * rid; a new routing id starts a new session. NULL when out of memory. */
struct session *session_touch(struct broker *b, const char *node,
    const uint8_t *rid, size_t rid_len);
struct session *session_find(struct broker *b, const char *node);
/*
 * Decides whether frame f from connection c may be its node's session
 * (SPEC §13): a Hello of a protocol version not served is refused
 * (PROTOCOL_VERSION), and so is any frame from a second connection of a
 * node whose session is alive (DUPLICATE_SESSION). A refusal queues an
 * Error and is audited REJECTED once per connection. *admitted is 1 or 0.
 * Errors: the store's.
 */
hv_err session_admit(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Frame *f, struct outbox *o, int *admitted);
/* Forgets every session's connection (after the ROUTER was re-bound). */
void sessions_reset(struct broker *b);
/* Marks silent nodes disconnected. */
void sessions_expire(struct broker *b);
void sessions_free(struct broker *b);
/* Hello: window and node check. */
hv_err session_hello(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Hello *h, struct outbox *o);

/* Queues the message for each recipient (inside the accepting txn). */
hv_err deliver_enqueue(struct broker *b, MDB_txn *txn, const hv_envelope *env,
    const uint8_t *packed, size_t packed_len, int64_t accepted_at);

/* Ack{id} or Ack{receipt_seq} from a node, inside txn. */
hv_err deliver_ack(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Ack *a, struct outbox *o);

/* HumanAck from a recipient, inside txn. */
hv_err deliver_human_ack(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__HumanAck *h, struct outbox *o);

/* ---- refusal.c --------------------------------------------------------------- */

/* AgentRefusal from a node: audited REJECTED at: agent once, then echoed
 * (SPEC §15). Inside txn. */
hv_err refusal_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__AgentRefusal *r, struct outbox *o);

/* Removes an acknowledged delivery from the session's window. */
void deliver_unflight(struct broker *b, const char *node,
    const uint8_t id[HV_ID_LEN]);

/* Sends queued deliveries and receipts to every connected node. */
void deliver_pump(struct broker *b);

/* Expires queue entries past their deadline (own transaction). */
void deliver_expire(struct broker *b);

/*
 * Withdraws every queue entry whose recipient or sender the directory in
 * force no longer admits (revoked, removed or without keys): a message for
 * a node that can never connect again would otherwise wait for its TTL.
 * Each is audited EXPIRED with the reason and the sender gets an EXPIRED
 * receipt with code REVOKED_RECIPIENT or SENDER_REVOKED (the latter waits
 * in the queue of a sender that may never collect it, which is harmless).
 * Runs after a directory load, in transactions of its own.
 */
void deliver_withdraw_revoked(struct broker *b);

/*
 * Shared with retract.c. The facts kept per (message, recipient) in
 * DB_ADDR; addr_get fills them (HV_ENOTFOUND when there are none).
 */
struct addr_info {
	uint8_t subject[32];
	char type[40];
	char priority[16];
	char sender[HV_NODE_MAX + 1];
};
hv_err addr_get(struct broker *b, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const char *node, struct addr_info *a);
/* An audit record (event) about one recipient `node` of message id. */
void rec_for(struct hv_audit_rec *rec, const char *event,
    const uint8_t id[HV_ID_LEN], const struct addr_info *a, const char *node);
/* Signs a receipt and stores it in node `sender`'s receipt queue. */
hv_err receipt_queue_why(struct broker *b, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN], const char *sender, const char *status,
    const char *code, const char *message, const char *node, const char *by,
    uint64_t audit_seq);
/*
 * Removes (node, id) from the queue and, with the last, the envelope,
 * overwritten with zeros first; sets b->scrub_due for its old pages.
 */
hv_err dequeue(struct broker *b, MDB_txn *txn, const char *node,
    const uint8_t id[HV_ID_LEN], int *found);
/* node \0 be64(n), the key of DB_QUEUE and DB_RCPTQ; returns its length. */
size_t key_node_seq(uint8_t *k, const char *node, uint64_t n);

/* ---- retract.c --------------------------------------------------------------- */

/*
 * A Retraction frame from c (SPEC §15): refused unless c's node sent the
 * message and signed the retraction. Undelivered copies are withdrawn
 * (WITHDRAWN per recipient, a WITHDRAWN receipt to the sender), delivered
 * ones get a RETRACTED receipt carrying the signed retraction, RETRACTED is
 * audited and a RETRACTED receipt queued for the sender. A repeat is
 * answered with nothing new. Returns HV_OK or a store error.
 */
hv_err retract_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__Retraction *r, struct outbox *o);

/*
 * Before a receipt (packed rb) is taken off c's receipt queue: when it is
 * a retraction c has now applied, audits RETRACTION_DELIVERED and tells
 * the sender. Returns HV_OK or a store error.
 */
hv_err retract_acked(struct broker *b, MDB_txn *txn, const struct conn *c,
    const uint8_t *rb, size_t rl);

/* ---- holds.c ----------------------------------------------------------------- */

/*
 * A HoldNotice from c: audits HOLD_ADDED or HOLD_REMOVED once (metadata
 * only) and echoes the notice after the commit. Returns HV_OK or a store
 * error.
 */
hv_err holds_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__HoldNotice *h, struct outbox *o);

/* ---- audit.c ----------------------------------------------------------------- */

/* Appends rec (directory version filled in) and marks heads due. */
hv_err audit_append(struct broker *b, MDB_txn *txn, struct hv_audit_rec *rec);

/* A REJECTED record for a frame or envelope (env may be NULL). While the
 * store is full the refusal is only counted (in txn's tally, kept when txn
 * commits) and *seq is 0. */
hv_err audit_reject(struct broker *b, MDB_txn *txn, const char *node,
    const hv_envelope *env, hv_err code, const char *detail, uint64_t *seq);

/* Writes the refusals counted while full as one REJECTED record (reason
 * STORAGE_FULL, detail "Refused N ...: CODE n, ...") once
 * BROKER_REFUSALS_MS have passed since the first, or now when force; in
 * its own transaction, from the reserve. On failure the count is kept. */
void audit_refusals_flush(struct broker *b, int force);

/* Signs a tree head inside txn when records arrived and it is due (or
 * force). Errors: as hv_auditlog_sign_head. */
hv_err audit_head_due(struct broker *b, MDB_txn *txn, int force);
/* Signs a head in its own transaction when due (timer). */
void audit_head_tick(struct broker *b);

/* DIRECTORY_LOADED in its own transaction; on success (refused == NULL)
 * also stores the directory bytes and the broker key in the audit meta. */
void audit_directory(struct broker *b, const char *refused, const char *detail);

/* ---- restore.c -------------------------------------------------------------- */

/*
 * Applies the restore notice at path (NULL: nothing to do) before anything
 * else writes to the store: checks the root signature, the partnership and
 * the store's log, then records RESTORED and keeps the notice, once. On any
 * fault prints one sentence naming the file and exits 1.
 */
void restore_start(struct broker *b, const char *path);

/*
 * The notice kept after a restore, for a TreeHead: on success *notice
 * (*nlen bytes, malloc'd, the caller frees) and the consistency proof from
 * the restored size to head_size (*plen hashes; none when the sizes are
 * equal). Errors: HV_ENOTFOUND (no restore recorded), HV_EMALFORMED,
 * HV_EIO, HV_ENOMEM.
 */
hv_err restore_served(struct broker *b, MDB_txn *txn, uint64_t head_size,
    uint8_t **notice, size_t *nlen,
    uint8_t proof[HV_MERKLE_MAX_PROOF][HV_HASH_LEN], size_t *plen);

/* ---- query.c ------------------------------------------------------------------ */

/*
 * AuditQuery inside txn: refused (POLICY_DENIED, audited REJECTED) unless
 * the connection is an ig node with a scope; otherwise answered with the
 * records in scope (at most BROKER_QUERY_MAX, and under frame_max bytes;
 * code TRUNCATED when more matched), an inclusion proof (prove_id) or a
 * consistency proof (consistency_from), under a tree head signed in txn
 * after the AUDIT_QUERY record that names the filter. The reply goes into
 * o, sent after the commit. Returns HV_OK when answered, or a store error
 * (HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM) that aborts the batch: a query the
 * broker cannot audit is not answered.
 */
hv_err query_handle(struct broker *b, MDB_txn *txn, const struct conn *c,
    const Haven__AuditQuery *q, struct outbox *o);

/* ---- audit.c (answers) ------------------------------------------------------ */

/* TreeHeadRequest and HealthRequest answers (read transactions). */
void audit_tree_head(struct broker *b, const struct conn *c,
    const Haven__TreeHeadRequest *r);
void audit_health(struct broker *b, const struct conn *c);

#endif
