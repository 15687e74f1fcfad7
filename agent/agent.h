/*
 * haven-agent — one agency's daemon (SPEC §7): an outbox and an inbox in
 * LMDB, a CURVE DEALER link to the broker, and a local HTTP/JSON API on
 * 127.0.0.1 (docs/API.md).
 *
 * Threads: the main thread owns every ZeroMQ socket, the signalfd and the
 * alert hook's children; libmicrohttpd runs one thread per HTTP connection.
 * HTTP threads validate, seal and sign, commit to LMDB through a group
 * commit (commit.c: the writes waiting together share one transaction) and
 * then wake the main thread through an eventfd; they never touch ZeroMQ.
 * The main thread stores a burst of the broker's frames in one transaction
 * too, and acknowledges them after its commit.
 * The directory is swapped on SIGHUP under a read/write lock.
 *
 * The agent never stores or logs plaintext payloads, child details or NHS
 * numbers: the inbox keeps the envelope as received and decrypts on read.
 */
#ifndef HV_AGENT_H
#define HV_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "haven.pb-c.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_err.h"
#include "hv_config.h"
#include "hv_keys.h"
#include "hv_store.h"

#define AGENT_SOFTWARE "haven-agent/1.0"
#define AGENT_WINDOW 32
#define AGENT_HELLO_MS 10000
#define AGENT_RESEND_MS 30000
#define AGENT_FAILOVER_MS 3000 /* without a session, try the next broker */
#define AGENT_DUP_RETRY_MS 3000 /* Hello again after DUPLICATE_SESSION */
#define AGENT_HS_RETRY_MAX_MS 30000 /* longest wait after a refused handshake */
#define AGENT_FULL_RETRY_MS 60000 /* after the broker's STORAGE_FULL */
#define AGENT_FULL_RETRY_MAX_MS 1800000 /* doubling up to 30 minutes */
#define AGENT_RECV_PAYLOAD_MAX (64u << 20) /* largest payload received */
#define AGENT_SKEW_HOLD_S 240
#define AGENT_RECEIPT_HOLD_MS 10 /* receipts gathered into one commit */
#define AGENT_RECEIPT_HOLD_MAX 64
#define AGENT_HOOK_TIMEOUT_MS 10000
#define AGENT_HOOK_MAX 8
#define AGENT_SSE_RING 1024
#define AGENT_SSE_KEEPALIVE_MS 5000 /* well inside AGENT_HTTP_TIMEOUT_S */
#define AGENT_HTTP_TIMEOUT_S 15 /* idle HTTP connections are closed */
#define AGENT_HTTP_CONNECTIONS 512 /* past the gate; one thread each */
#define AGENT_HTTP_CONN_MEMORY 32768 /* headers and buffers per connection */
#define AGENT_HTTP_HEAD_MAX 16384 /* a request head the gate reads whole */
#define AGENT_HTTP_HEAD_MS 5000 /* to send it, from the connect */
#define AGENT_HTTP_PENDING 256 /* connections still sending a head */
#define AGENT_HTTP_BODY_MS 10000 /* a request body, from its head */

/* Configuration, filled by hv_config_load from the [agent] section. */
struct agent_config {
	char *id;
	char *key;
	char *key_passphrase_file;
	char *root_pub;
	char *directory;
	char *broker;
	char *data_dir;
	char *listen;
	char *token_file;
	char *subject_key;
	char *alert_command;
	uint64_t escalate_after;
	uint64_t max_message_bytes;
	uint64_t map_size;
	uint64_t tree_head_interval; /* seconds between tree head checks */
	char *console_listen; /* HOST:PORT; the console is off if NULL */
	char *console_cert;
	char *console_key;
	char *console_users;
	uint64_t console_idle_timeout;
	uint64_t message_ttl; /* the broker's: oldest delivery taken */
	uint64_t retention_days; /* SPEC §15, default 2190 */
	struct hv_cfg_u64_map retention_by_type; /* retention_days.TYPE */
	uint64_t retention_sweep_interval; /* seconds between sweeps */
};

/* Databases of the agent's store, in the order of store_dbnames. */
enum agent_db {
	DB_META, /* "seq" -> be64 counter */
	DB_OUTBOX, /* id -> outbox header + packed envelope */
	DB_PENDING, /* be64 seq -> id: outbox entries without a verdict */
	DB_TIMELINE, /* id || be64 seq -> JSON timeline entry */
	DB_RSEEN, /* BLAKE2b(receipt identity) -> "" (repeat filter) */
	DB_INBOX, /* id -> inbox header + packed envelope */
	DB_INORDER, /* be64 seq -> id, in order of arrival */
	DB_UNACKED, /* id -> "": no person acknowledged it yet */
	DB_ESC, /* be64 due_ms || id -> "": escalation timers */
	DB_ACKS, /* id || be64 seq -> JSON {by, note, at} */
	DB_HACK, /* be64 seq -> HumanAck (flag, id, by) until echoed */
	DB_CHILD_FLAGS, /* pseudonym -> JSON flags (children.c) */
	DB_CHILD_INDEX, /* pseudonym || be64 seq -> direction || id */
	DB_HOOKQ, /* class || be64 seq -> alert hook run (alerts.c) */
	DB_RETRACT_OUT, /* id -> packed Retraction until the broker confirms */
	DB_RETRACTED, /* id -> JSON: what is kept of a retracted message */
	DB_TOMBSTONES, /* id -> JSON: what the retention rule kept */
	DB_HOLDS, /* hold id -> JSON hold (holds.c) */
	DB_HOLD_OUT, /* hold id || 'A'/'R' -> HoldNotice until echoed */
	DB_REFUSALS, /* attempt id -> packed AgentRefusal until echoed */
	DB_OUTORDER, /* be64 queued_ms || id -> "": the outbox, by age */
	DB_COUNT
};

/* Outbox entry kinds. */
#define OB_MESSAGE 0
#define OB_DECISION 1

/* Fixed headers in front of the packed envelope. */
#define OB_HDR_LEN 32
#define IN_HDR_LEN 32
#define IN_ACKED 0x1
#define IN_ESCALATED 0x2

struct ob_hdr {
	uint8_t kind;
	uint8_t final; /* 1 after ACCEPTED or REJECTED */
	uint8_t reskewed; /* 1 after a CLOCK_SKEW re-sign */
	int64_t queued_ms;
	uint64_t pending_seq;
	int64_t retry_at_ms; /* after STORAGE_FULL: not resent before */
	uint8_t full_tries; /* STORAGE_FULL answers so far (backoff) */
};

struct in_hdr {
	uint8_t flags; /* IN_ACKED, IN_ESCALATED */
	int64_t received_ms;
	uint64_t order_seq;
	int64_t escalate_at_ms; /* 0 when not IMMEDIATE */
};

/* One Server-Sent Event in the in-memory ring. */
struct sse_event {
	uint64_t seq;
	char type[24]; /* "delivery_refused" is the longest */
	char *data; /* one line of JSON */
};

/* The SSE bus: HTTP stream threads wait on cond for seq to move. */
struct alert_bus {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t seq; /* last event published */
	struct sse_event ring[AGENT_SSE_RING];
	int stopping;
};

/* Kinds of alert hook run, queued in DB_HOOKQ. */
#define HOOK_MESSAGE 1 /* a message arrived */
#define HOOK_ESCALATION 2 /* an IMMEDIATE message was escalated */
#define HOOK_INTEGRITY 3 /* the broker's audit history failed */
#define HOOK_RETRACTION \
	4 /* a received message was retracted; its
				 * run carries its JSON, as INTEGRITY's */
#define HOOK_KEY_LEN 9 /* class byte || be64 seq */

/* A running alert hook and the queue entry it works off. */
struct hook_child {
	int pid;
	int64_t deadline_ms;
	uint8_t key[HOOK_KEY_LEN];
	char id_hex[HV_ID_HEX_LEN + 1];
};

/* commit.c: the HTTP threads' group commit (one write transaction). */
struct gc_item;
struct group_commit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct gc_item *head, **tail; /* writes waiting for a leader */
	int leading; /* a thread is committing a batch */
	uint64_t batches; /* transactions committed so far */
	uint64_t writes; /* writes in them */
};

/* commit.c, main thread only: a burst of the broker's frames. */
struct after_commit;
struct burst {
	int open; /* frames join one transaction */
	MDB_txn *txn; /* the burst's, once a frame writes */
	struct after_commit *after; /* what runs after its commit */
	size_t n, cap;
	uint64_t bursts; /* committed so far */
	uint64_t frames; /* frames that queued work in them */
};

/*
 * Receipts from the broker not yet stored (link.c): they are gathered for
 * up to AGENT_RECEIPT_HOLD_MS, or AGENT_RECEIPT_HOLD_MAX of them, and then
 * stored in one burst, so that a sender stores its receipts many to a
 * commit even when they come one at a time. Nothing is acknowledged
 * before that commit: held receipts the agent never stores (a crash, a
 * stop) are sent again by the broker. Any other frame from the broker
 * stores the held receipts first, so frames are handled in their order.
 */
struct receipt_hold {
	Haven__Frame *f[AGENT_RECEIPT_HOLD_MAX];
	size_t n;
	int64_t since_ms; /* monotonic time the first was held */
};

struct agent {
	struct agent_config cfg;
	const char *config_path;
	const char *ready_file;
	int check_only;
	int foreground;

	hv_keys *keys;
	uint8_t *subject_key; /* sodium_malloc'd, 32 bytes */
	uint8_t token_hash[32]; /* BLAKE2b of the bearer token */

	pthread_rwlock_t dir_lock;
	hv_directory *dir; /* under dir_lock */

	hv_store *store;
	struct group_commit gc;
	struct burst burst;
	struct receipt_hold rhold;

	int sigfd;
	int wakefd; /* eventfd: HTTP threads -> main */
	int listen_fd;
	char listen_addr[64]; /* 127.0.0.1:PORT actually bound */
	struct MHD_Daemon *httpd;
	struct api_gate *gate; /* gate.c: heads before libmicrohttpd */
	struct console *console; /* console.c, or NULL when off */
	char console_addr[64]; /* HOST:PORT bound, "" when off */

	void *zctx;
	void *dealer;
	void *monitor;
	atomic_int connected;
	int refused_warned; /* handshake refusal already logged */
	int hs_backoff_ms; /* wait after a refused handshake, or 0 */
	int64_t hs_retry_at_ms; /* mono: reconnect then, or 0 */
	int session_said; /* "connected" logged for this session */
	int64_t hello_ms; /* mono: last Hello not refused, or max */
	uint64_t send_cursor; /* pending seqs <= this were sent */
	uint64_t hack_cursor; /* queued HumanAcks <= this were sent */
	int refusals_due; /* refusals.c: send the stored reports */
	int retry_all; /* this round sends entries not yet due */
	int64_t full_retry_ms; /* next STORAGE_FULL retry (mono), or 0 */
	int64_t next_hello_ms;
	int64_t next_resend_ms;
	/* The broker endpoints of `broker =` and the one the DEALER uses. */
	char endpoints[HV_CFG_ENDPOINTS_MAX][256];
	size_t n_endpoints, cur_endpoint;
	int64_t down_since_ms; /* mono: without a session since, or 0 */
	int dup_warned; /* DUPLICATE_SESSION already logged */
	uint8_t broker_sign[HV_SIGN_PUBLIC_LEN];
	uint8_t broker_curve[HV_CURVE_KEY_LEN];

	struct alert_bus bus;
	struct hook_child hooks[AGENT_HOOK_MAX];
	int hook_scan; /* DB_HOOKQ may hold a run to start */
	int64_t hook_next_ms; /* wall time the next retry is due */
	int64_t hook_boot_ms; /* wall time this process started */
	atomic_ulong deliveries_refused; /* since start (inbox.c) */

	atomic_int stopping;

	/* integrity.c, main thread only: the tree head check (SPEC §9) */
	int forget_tree_head; /* --forget-tree-head */
	int th_started;
	int th_pending; /* a TreeHeadRequest awaits its answer */
	uint64_t th_asked; /* its since_size */
	int64_t th_sent_ms;
	int64_t th_next_ms;
	char th_alerted[48]; /* the failure last raised (kind:size) */
	int th_error_warned; /* a broker Error answer already logged */
	uint8_t rn_refused[32]; /* the notice last refused */

	/* retract.c: retractions to send (main thread, API sets due) */
	atomic_int retract_due;
	int64_t retract_next_ms; /* mono: send them all again */
	int scrub_due; /* erased pages still to overwrite */
	int64_t scrub_next_ms; /* mono: the next try (retention.c) */
	int64_t retention_next_ms; /* mono: the next retention sweep */
};

/* ---- store.c ----------------------------------------------------------- */

hv_err store_open(struct agent *a, struct hv_errdetail *d);
/*
 * --check-config: data_dir can be created and written, and a store already
 * there (opened read-only, unlocked) is of a readable format and has not
 * recorded a newer directory than a->dir. Errors: HV_EIO, HV_EFORMAT,
 * HV_EROLLBACK.
 */
hv_err store_check(struct agent *a, struct hv_errdetail *d);
void store_close(struct agent *a);
MDB_dbi store_db(struct agent *a, enum agent_db db);
/* Next value of the store's sequence counter, inside a write txn. */
hv_err store_next_seq(struct agent *a, MDB_txn *txn, uint64_t *seq);
/* Puts key/value into db. Errors: HV_ESTORAGEFULL, HV_EIO. */
hv_err store_put(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen, const void *v, size_t vlen);
/* Reads key; *v points into the txn. Errors: HV_ENOTFOUND, HV_EIO. */
hv_err store_get(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen, MDB_val *v);
hv_err store_del(struct agent *a, MDB_txn *txn, enum agent_db db, const void *k,
    size_t klen);
size_t store_count(struct agent *a, MDB_txn *txn, enum agent_db db);
void ob_hdr_put(uint8_t out[OB_HDR_LEN], const struct ob_hdr *h);
void ob_hdr_get(const uint8_t in[OB_HDR_LEN], struct ob_hdr *h);
void in_hdr_put(uint8_t out[IN_HDR_LEN], const struct in_hdr *h);
void in_hdr_get(const uint8_t in[IN_HDR_LEN], struct in_hdr *h);
/* Appends a timeline entry (takes a reference-stealing json object). */
hv_err store_timeline_add(struct agent *a, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN], json_t *entry);
/* Timeline entries of id, oldest first (new reference). */
json_t *store_timeline(struct agent *a, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN]);
/* ISO 8601 text of unix milliseconds as a new json string. */
json_t *json_time(int64_t ms);
/*
 * Refuses dir when the store recorded a directory in force with a higher
 * version, or with the same version and other content (a rollback across
 * restarts). Errors: HV_EROLLBACK (detail names the versions), HV_EIO,
 * HV_ENOMEM.
 */
hv_err store_directory_check(struct agent *a, const hv_directory *dir,
    struct hv_errdetail *d);
/* Records dir as the directory in force. Errors: HV_ESTORAGEFULL, HV_EIO. */
hv_err store_directory_record(struct agent *a, const hv_directory *dir);

/* ---- commit.c --------------------------------------------------------- */

/* One write of a group commit: puts into txn; an error aborts the batch. */
typedef hv_err (*gc_apply_fn)(struct agent *a, MDB_txn *txn, void *arg);

void group_commit_init(struct group_commit *g);
void group_commit_destroy(struct group_commit *g);
/*
 * Applies apply(a, txn, arg) in a write transaction shared with the other
 * threads' writes waiting at the same time, and returns once that
 * transaction is committed (fsync'd) or has failed. A failing write is
 * retried alone so that it fails only itself. Called from any thread but
 * never while the caller holds a write transaction. Returns apply's error,
 * or the commit's: HV_ESTORAGEFULL, HV_EIO.
 */
hv_err agent_commit(struct agent *a, gc_apply_fn apply, void *arg);

/*
 * What must follow a frame's durable commit (its Ack, its events): called
 * once with committed = 1 after the commit, or committed = 0 when nothing
 * was kept (it must then only free arg).
 */
typedef void (*after_fn)(struct agent *a, void *arg, int committed);

/*
 * Main thread only. Between agent_batch_begin and agent_batch_end, each
 * agent_txn_begin gives a transaction nested in the burst's one (commit
 * or abort it as usual: that keeps or undoes this frame's writes only),
 * and agent_after_commit queues fn until the burst's commit; outside a
 * burst agent_txn_begin is a plain write transaction and fn runs at once.
 * No write transaction of one's own may begin inside a burst.
 * agent_batch_end commits and runs what was queued; it returns the
 * commit's error (HV_ESTORAGEFULL, HV_EIO), when queued work is told
 * nothing was kept.
 */
void agent_batch_begin(struct agent *a);
hv_err agent_txn_begin(struct agent *a, MDB_txn **txn);
void agent_after_commit(struct agent *a, after_fn fn, void *arg);
hv_err agent_batch_end(struct agent *a);

/* ---- outbox.c ---------------------------------------------------------- */

/*
 * Validates a POST /v1/messages (decision = 0) or /v1/decisions
 * (decision = 1) request, builds, seals and signs the envelope, commits it to
 * the outbox with a "queued" timeline entry and wakes the main loop. On
 * success id is the new message id; on failure nothing was stored. req is
 * the caller's. Called from HTTP threads; takes dir_lock itself.
 * Errors: HV_EBADREQUEST, HV_EBADSUBJECT, HV_EBASIS, HV_EPOLICY,
 * HV_EUNKNOWNRECIPIENT, HV_EREVOKEDRECIPIENT, HV_ESENDERREVOKED,
 * HV_EMALFORMED, HV_ETOOLARGE (d names the request member at fault where
 * there is one); HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM (the store or memory:
 * d says nothing was queued, and hv_store logs the cause).
 */
/* ---- refusals.c (SPEC §15) ---------------------------------------------- */

/* 1 when a submission refused with code is reported to the broker. */
int refusals_reported(hv_err code);
/*
 * Stores a metadata-only report of a submission refused here (env's
 * recipients, type, basis.decided_by and, when has_subject, its subject)
 * and wakes the link to send it. Errors: HV_ESTORAGEFULL, HV_EIO,
 * HV_ENOMEM.
 */
hv_err refusals_record(struct agent *a, const hv_envelope *env, int has_subject,
    hv_err code);
/* Main thread, connected: sends the stored reports when due. */
void refusals_send(struct agent *a);
/* The broker recorded r: drops it from the store. */
void refusals_on_echo(struct agent *a, const Haven__AgentRefusal *r);

hv_err outbox_submit(struct agent *a, json_t *req, int decision,
    uint8_t id[HV_ID_LEN], struct hv_errdetail *d);
/*
 * After a broker restore to restored_size records: puts back to pending,
 * in one transaction, every outbox entry with an ACCEPTED verdict that is
 * not delivered to every recipient or whose acceptance's audit record is
 * beyond restored_size, each with a "resubmitted" timeline entry. The
 * caller wakes the sender. *count says how many.
 * Errors: HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM.
 */
hv_err outbox_resubmit_lost(struct agent *a, uint64_t restored_size,
    size_t *count);

/* How many outbox entries are still waiting for the broker's verdict. */
size_t outbox_depth(struct agent *a);

/* ---- receipts.c -------------------------------------------------------- */

/*
 * The status document of a sent id: its recipients, type and timeline,
 * and the most advanced status in that timeline. A new reference the
 * caller releases, or NULL when this agent sent no such message (or the
 * store cannot be read). Any thread.
 */
json_t *outbox_status(struct agent *a, const uint8_t id[HV_ID_LEN]);
/*
 * This agent's sent messages and decisions, newest first: *out is a new
 * object {total, messages, next_offset?, before?} holding the status
 * documents of at most limit entries, walked back through DB_OUTORDER:
 * from the newest when before is NULL, skipping offset entries; or from
 * the entry just older than the cursor before (hex, from an earlier page's
 * "before"; offset must be 0 then). total is the outbox's entry count, not
 * a scan. Any thread.
 * Errors: HV_EBADREQUEST (before is not a cursor this agent gives, in d),
 * HV_EIO, HV_ENOMEM.
 */
hv_err outbox_list(struct agent *a, size_t offset, const char *before,
    size_t limit, json_t **out, struct hv_errdetail *d);
/* The DB_OUTORDER key of an outbox entry queued at queued_ms. */
#define OB_ORDER_KEY_LEN (8 + HV_ID_LEN)
void outbox_order_key(uint8_t k[OB_ORDER_KEY_LEN], int64_t queued_ms,
    const uint8_t id[HV_ID_LEN]);
/*
 * Stores written before DB_OUTORDER existed (or whose count differs from
 * the outbox's) get it rebuilt from the outbox, once, at start-up.
 * Errors: HV_EIO, HV_ENOMEM, HV_ESTORAGEFULL, with d naming data_dir.
 */
hv_err outbox_order_migrate(struct agent *a, struct hv_errdetail *d);
/*
 * Records a receipt whose signature the caller (link.c) has verified: once
 * in the message's timeline, published on the bus. Returns 0 when it is
 * recorded, a repeat, or about nothing this agent holds (the caller may
 * acknowledge it); 1 when the entry was re-signed after a CLOCK_SKEW and
 * must be sent again; -1 when nothing could be committed (do not
 * acknowledge: the broker sends it again).
 */
int outbox_receipt(struct agent *a, const Haven__Receipt *r);

/* ---- retract.c --------------------------------------------------------- */

/*
 * POST /v1/messages/{id}/retract: checks req {reason, decided_by, note?}
 * and that this agent sent id and the broker accepted it, then stores the
 * signed retraction to send (and the note, kept here only) and commits.
 * Errors: HV_EBADREQUEST, HV_ENOTFOUND, HV_EEXISTS (already retracted),
 * HV_EEXPIRED (not accepted yet), HV_EIO, HV_ESTORAGEFULL; d says which.
 */
hv_err retract_submit(struct agent *a, json_t *req, const uint8_t id[HV_ID_LEN],
    struct hv_errdetail *d);
/* Main thread, connected: sends the retractions and hold notices waiting
 * for the broker (holds_send), when due or every AGENT_RESEND_MS. */
void retract_send(struct agent *a, int64_t now_mono_ms);
/*
 * A RETRACTED receipt carrying a retraction: verifies it is the original
 * sender's, erases the message (bytes gone from the store file), keeps its
 * header marked retracted and raises the alert. 0: acknowledge it; -1:
 * not applied (do not acknowledge; the broker sends it again).
 */
int retract_receive(struct agent *a, const Haven__Receipt *r);
/* The broker recorded our retraction of id: stop sending it. */
void retract_confirmed(struct agent *a, const uint8_t id[HV_ID_LEN]);
/* What is kept of a retracted received message (new reference) or NULL. */
json_t *retract_header(struct agent *a, const uint8_t id[HV_ID_LEN]);
/*
 * The sender's view of its retraction of id, inside the caller's read
 * transaction: {reason, decided_by, note, requested_at, recorded_at,
 * recipients: [{to, outcome, at, text}]}, from the request kept here and
 * the receipts in timeline tl; outcome is "confirmed" (the recipient
 * applied it), "withdrawn" (never delivered) or "pending". NULL when this
 * agent did not retract id. New reference.
 */
json_t *retract_sender_view(struct agent *a, MDB_txn *txn,
    const uint8_t id[HV_ID_LEN], const json_t *to, const json_t *tl);

/* ---- retention.c ------------------------------------------------------- */

/* Erases what the retention rule no longer keeps; returns how many. */
size_t retention_sweep(struct agent *a);
/* Main thread: sweeps at start and every retention_sweep_interval, and
 * retries an erasure's scrub that a reader held back. */
void retention_tick(struct agent *a, int64_t now_mono_ms);
/* The tombstone of an erased message (new reference) or NULL. */
json_t *retention_tombstone(struct agent *a, const uint8_t id[HV_ID_LEN]);

/* ---- holds.c ----------------------------------------------------------- */

/* POST /v1/holds {message | subject_pseudonym [, subject_key_id], reason}:
 * the new hold (new reference) or NULL with *err and d set (HV_EBADREQUEST,
 * also for a subject_key_id that is not this agent's subject key's;
 * HV_EIO). */
json_t *holds_add(struct agent *a, json_t *req, hv_err *err,
    struct hv_errdetail *d);
/* POST /v1/holds/{id}/remove {reason}: the hold as now, or NULL with *err
 * and d set (HV_ENOTFOUND, HV_EBADREQUEST, HV_EIO). */
json_t *holds_remove(struct agent *a, const uint8_t hid[HV_ID_LEN], json_t *req,
    hv_err *err, struct hv_errdetail *d);
/* GET /v1/holds: {holds:[…]} (new reference). */
json_t *holds_list(struct agent *a);
/* 1 when an active hold covers message id or its subject (inside txn). */
int holds_cover(struct agent *a, MDB_txn *txn, const uint8_t id[HV_ID_LEN],
    const uint8_t subject[32]);
/* Main thread, connected: sends the hold notices the broker has not
 * echoed. */
void holds_send(struct agent *a);
/* The broker echoed a notice: it is recorded there. */
void holds_on_echo(struct agent *a, const Haven__HoldNotice *n);

/* ---- inbox.c ----------------------------------------------------------- */

/* Room for a message type with its NUL. */
#define HV_TYPE_BUF 40

/* What inbox_store made of one delivery. */
struct inbox_verdict {
	uint8_t id[HV_ID_LEN];
	int have_id; /* the envelope decoded: id is its id */
	int dup; /* stored before (HV_OK) */
	int refused; /* refused for good: acknowledge, never store */
	char sender[HV_NODE_MAX + 1];
	char type[HV_TYPE_BUF];
	struct hv_errdetail d; /* the sentence of a refusal */
};

/*
 * Checks a delivered envelope with this agent's own directory — the
 * sender's key and signature, then lib/hv_policy's rules for a recipient
 * (hv_policy_check_delivery), the created time (not more than 300 s ahead,
 * not older than message_ttl + 300 s) and the reply_to rule — and stores it
 * once, with its alert hook run, in one commit. HV_OK with vd->dup when the
 * id was stored before. A refusal sets vd->refused (the caller acknowledges
 * it so that the broker stops offering it) and vd->d.
 * Errors: HV_EMALFORMED, HV_EBADSIG, HV_ENOTRECIPIENT, HV_ESENDERREVOKED,
 * HV_EPOLICY, HV_EBASIS, HV_ECLOCKSKEW (refusals); HV_ESTORAGEFULL,
 * HV_EIO, HV_ENOMEM (not refusals: the broker offers it again).
 */
hv_err inbox_store(struct agent *a, const uint8_t *buf, size_t len,
    struct inbox_verdict *vd);
/*
 * The reply_to rule (hv_policy_check_reply_to) with what this agent knows:
 * the request must be in its outbox or inbox, addressed to env's sender.
 * txn may be NULL (a read transaction is opened). Other types pass.
 * Errors: HV_EPOLICY (field reply_to), HV_EIO.
 */
hv_err inbox_check_reply_to(struct agent *a, MDB_txn *txn,
    const hv_envelope *env, struct hv_errdetail *d);
/* A received message, decrypted (new reference), or NULL if unknown. */
json_t *inbox_message(struct agent *a, const uint8_t id[HV_ID_LEN]);
/*
 * What a person may see of received message id, for the API and the
 * console alike (new reference): the retracted header when its sender
 * retracted it (even when a legal hold keeps it whole), else the message,
 * else its retention tombstone; NULL when unknown.
 */
json_t *inbox_view(struct agent *a, const uint8_t id[HV_ID_LEN]);
/* What GET /v1/inbox asks for. */
struct inbox_query {
	int unacked; /* only messages nobody acknowledged */
	int64_t since_ms; /* only messages received at or after */
	size_t limit; /* at most this many (1 to 1000) */
	int by_priority; /* IMMEDIATE, deadline, newest; else newest */
	const char *cursor; /* the last page's cursor, or NULL */
};
/*
 * One page of received messages: *out is a new object {total, unacked,
 * cursor, messages} — total matching the filter over every page, unacked
 * among those received since since_ms, cursor for the next page (null on
 * the last). Errors: HV_EBADREQUEST (field "cursor": not one of ours for
 * this order), HV_EIO, HV_ENOMEM.
 */
hv_err inbox_page(struct agent *a, const struct inbox_query *q, json_t **out,
    struct hv_errdetail *d);
/* Records a person's ack and queues HumanAck. Errors: HV_ENOTFOUND, ... */
hv_err inbox_ack(struct agent *a, const uint8_t id[HV_ID_LEN], const char *by,
    const char *note, int64_t *at_ms);
/*
 * Decrypts a received envelope's payload (the sender's key from our
 * directory) as a new JSON object the caller releases and must not store
 * or log, or NULL when it cannot be verified and opened. Any thread.
 */
json_t *inbox_open_payload(struct agent *a, const hv_envelope *env);
/* The summary for SSE and the alert hook (new reference), or NULL. */
json_t *inbox_summary(struct agent *a, const uint8_t id[HV_ID_LEN],
    int with_deadline);
size_t inbox_unacked(struct agent *a);
/* Escalates every due IMMEDIATE message; returns ms until the next one. */
int64_t inbox_escalate_due(struct agent *a);

/* ---- children.c -------------------------------------------------------- */

/*
 * Indexes a received message under its child's pseudonym and applies the
 * flag it sets or clears, inside txn (the one storing the message). A
 * CASE_UPDATE is decrypted in memory to read body.missing_status.
 * Errors: HV_ENOMEM, HV_ESTORAGEFULL, HV_EIO.
 */
hv_err children_note_received(struct agent *a, MDB_txn *txn,
    const hv_envelope *env);
/* Indexes a sent message (decision = 1: a decision not to share) in txn. */
hv_err children_note_sent(struct agent *a, MDB_txn *txn, const hv_envelope *env,
    int decision);
/*
 * Builds the index and flags once for a store written before they existed
 * (start-up). Errors: HV_ENOMEM, HV_ESTORAGEFULL, HV_EIO (d names data_dir).
 */
hv_err children_migrate(struct agent *a, struct hv_errdetail *d);
/*
 * GET /v1/children: the flags and chronology of the child named by exactly
 * one of nhs or local, as a new object in *out; logs the pseudonym's prefix
 * when a flag is active. Errors: HV_EBADSUBJECT (d's field "nhs" or
 * "local"), HV_EBADREQUEST (neither or both given), HV_EIO, HV_ENOMEM.
 */
hv_err children_lookup(struct agent *a, const char *nhs, const char *local,
    json_t **out, struct hv_errdetail *d);

/* ---- link.c ------------------------------------------------------------ */

hv_err link_start(struct agent *a, struct hv_errdetail *d);
void link_stop(struct agent *a);
/* The main loop: until SIGTERM/SIGINT. */
void link_run(struct agent *a);
/* Sends one frame to the broker without blocking; 0, or -1 (not sent). */
int link_send(struct agent *a, const Haven__Frame *f);
/* Wakes the main loop (any thread). */
void agent_wake(struct agent *a);

/* ---- alerts.c ---------------------------------------------------------- */

void bus_init(struct alert_bus *b);
void bus_destroy(struct alert_bus *b);
/* Publishes an event (data is copied). Any thread. */
void bus_publish(struct alert_bus *b, const char *type, json_t *data);
/* Wakes every stream so that it ends. */
void bus_stop(struct alert_bus *b);
/*
 * Queues one run of alert_command inside txn, so that it is as durable as
 * what it alerts about (a no-op without alert_command). kind is a HOOK_*;
 * id names the message (HOOK_MESSAGE, HOOK_ESCALATION), json is the
 * summary of a HOOK_INTEGRITY run. Immediate runs go before the others.
 * Main thread. Errors: HV_ESTORAGEFULL, HV_EIO, HV_ENOMEM.
 */
hv_err hook_queue(struct agent *a, MDB_txn *txn, int kind, int immediate,
    const uint8_t id[HV_ID_LEN], const char *json);
/* Queues a HOOK_INTEGRITY run of summary in its own transaction. */
void hook_alert(struct agent *a, json_t *summary);
/* Start-up: queued runs from before a restart are due at once. */
void hook_init(struct agent *a);
/*
 * Reaps and time-limits hook children, removes the queue entry of a hook
 * that exited 0 (a failed one is retried with backoff) and starts due runs,
 * at most AGENT_HOOK_MAX at once (main thread).
 */
void hook_tick(struct agent *a);
/* 1 while some hook runs or a queued run is due. */
int hook_busy(struct agent *a);
/* Kills and reaps every hook child at shutdown; their runs stay queued. */
void hook_stop(struct agent *a);

/* ---- api.c ------------------------------------------------------------- */

hv_err api_start(struct agent *a, struct hv_errdetail *d);
void api_stop(struct agent *a);
/* The /v1/health object (new reference), or NULL when out of memory. */
json_t *api_health(struct agent *a);
/*
 * The /v1/allowed object (new reference; NULL when out of memory): each
 * message type the loaded agreement lets this node send, the recipients
 * it may go to, and whether an art9 condition is required; with the
 * lawful-basis words. Takes dir_lock itself.
 */
json_t *api_allowed(struct agent *a);
/*
 * The /v1/words object (new reference; NULL when out of memory): for each
 * kind of code ("type", "priority", "consent", "art6", "art9"), each code's
 * plain words from lib/hv_words, as people should read it.
 */
json_t *api_words(void);
/*
 * A Server-Sent Events response from the alert bus, as GET
 * /v1/alerts/stream sends it. When alive is given, the stream ends once
 * alive(alive_cls) returns 0 (checked at least twice a second); alive_cls
 * is malloc'd and is freed with the response, also on failure. NULL when
 * out of memory. The caller queues and destroys the response.
 */
struct MHD_Response;
struct MHD_Response *api_sse_response(struct agent *a, int (*alive)(void *),
    void *alive_cls);

/* ---- console.c --------------------------------------------------------- */

/*
 * The duty-team console (SPEC §14): HTTPS on console_listen when it is
 * set, else nothing. Errors: HV_EBADCONFIG (detail names the key),
 * HV_EINSECURE (console_key readable by others), HV_EIO, HV_ENOMEM.
 */
hv_err console_start(struct agent *a, struct hv_errdetail *d);
/* Stops it and waits for its requests; accepts a console never started. */
void console_stop(struct agent *a);

/* ---- gate.c ------------------------------------------------------------ */

/*
 * 1 when an Authorization value v[0..len) (NULs and all) is "Bearer", the
 * agent's token and nothing more; constant-time in the token.
 */
int gate_token_ok(const struct agent *a, const char *v, size_t len);
/*
 * Starts the thread that accepts on a->listen_fd and hands connections
 * with a whole, well-formed, authenticated head to a->httpd.
 * Errors: HV_ENOMEM, HV_EIO.
 */
hv_err gate_start(struct agent *a, struct hv_errdetail *d);
/* Stops it, closing connections still sending their heads; accepts none. */
void gate_stop(struct agent *a);

/* ---- integrity.c ------------------------------------------------------- */

/*
 * The audit-log integrity check (SPEC §9). integrity_session() after each
 * handshake asks for a head at once; integrity_tick() sends a
 * TreeHeadRequest every tree_head_interval seconds while connected;
 * integrity_on_head() checks an answer and stores it or raises TAMPERED;
 * integrity_on_error() takes a broker Error that answers the request and
 * returns 1 when it did (0: not ours). All on the main thread.
 */
void integrity_session(struct agent *a);
void integrity_tick(struct agent *a, int64_t now_mono_ms);
void integrity_on_head(struct agent *a, const Haven__TreeHead *t);
int integrity_on_error(struct agent *a, const Haven__Error *er);
/* Sets "tree_head" and "integrity" of a /v1/health object (any thread). */
void integrity_health(struct agent *a, json_t *health);
/*
 * Deletes the stored tree head and the recorded failure (the store must be
 * open), so the agent accepts the broker's current history on its next
 * check. Errors: HV_EIO, HV_ESTORAGEFULL (detail names data_dir).
 */
hv_err integrity_forget(struct agent *a, struct hv_errdetail *d);

/* ---- main.c ------------------------------------------------------------ */

/* Loads and swaps the directory (start-up and SIGHUP). */
hv_err agent_directory_load(struct agent *a, struct hv_errdetail *d);

/*
 * The largest payload this agent takes from the broker. max_message_bytes
 * bounds what the agent sends; what it receives was accepted under the
 * broker's own limit, which may be larger. Refusing such a delivery would
 * drop the session and hold up every message queued behind it, so the
 * agent takes payloads up to AGENT_RECV_PAYLOAD_MAX whatever its own limit.
 */
static inline size_t
agent_recv_payload_max(const struct agent *a)
{
	return a->cfg.max_message_bytes > AGENT_RECV_PAYLOAD_MAX ?
	    (size_t)a->cfg.max_message_bytes :
	    AGENT_RECV_PAYLOAD_MAX;
}

#endif
