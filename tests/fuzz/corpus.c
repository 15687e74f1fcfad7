/*
 * Writes the seed corpus of every fuzz harness into tests/fuzz/corpus/NAME/
 * (run once by `make fuzz-corpus`; the output is committed). Seeds are
 * small valid inputs and a few edge cases, signed and sealed with the fixed
 * keys of fuzz_keys.h so that the harnesses' verify and open paths accept
 * them. Regression inputs found by fuzzing are committed beside them by
 * hand, named regress-*, and never overwritten here.
 *
 *   corpus OUTDIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_keys.h"
#include "haven.pb-c.h"
#include "hv_auditlog.h"
#include "hv_directory.h"
#include "hv_envelope.h"
#include "hv_proof.h"
#include "hv_store.h"
#include "hv_util.h"
#include "hv_wire.h"

static const char *outdir;

static void
die(const char *what)
{
	fprintf(stderr, "corpus: %s\n", what);
	exit(1);
}

/* Removes a scratch folder this program made under /tmp. */
static void
rm_tree(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die(cmd);
}

/* Writes one seed, tests/fuzz/corpus/NAME/FILE. */
static void
seed(const char *name, const char *file, const void *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, name, file);
	if (hv_write_file_atomic(path, buf, len, 0644) != 0)
		die(path);
}

static void
seed_text(const char *name, const char *file, const char *text)
{
	seed(name, file, text, strlen(text));
}

/* ---- envelopes, frames, audit records --------------------------------- */

static void
header(hv_envelope *env, uint8_t n)
{
	memset(env, 0, sizeof(*env));
	memset(env->id, n, sizeof(env->id));
	strcpy(env->sender, FUZZ_SENDER);
	strcpy(env->type, "REFERRAL");
	strcpy(env->priority, "URGENT");
	env->created = 1767225600;
	strcpy(env->basis.consent, "NOT_SOUGHT");
	strcpy(env->basis.art6, "PUBLIC_TASK");
	strcpy(env->basis.art9, "SAFEGUARDING");
	strcpy(env->basis.justification,
	    "Risk of significant harm; the family would obstruct enquiries.");
	strcpy(env->basis.decided_by, "ds.jones");
	memset(env->subject, 0x5a, sizeof(env->subject));
}

static void
pack_frame(const char *file, const Haven__Frame *f)
{
	uint8_t *buf;
	size_t len;

	if (hv_frame_pack(f, &buf, &len) != HV_OK)
		die("frame");
	seed("frame", file, buf, len);
	free(buf);
}

static void
pack_record(const char *file, const struct hv_audit_rec *r)
{
	uint8_t *buf;
	size_t len;

	if (hv_audit_rec_pack(r, &buf, &len) != HV_OK)
		die("record");
	seed("auditrec", file, buf, len);
	free(buf);
}

static void
envelopes(void)
{
	static const char payload[] =
	    "{\"subject\":\"nhs:9434765919\","
	    "\"child\":{},\"body\":{\"concern\":\"seed\"}}";
	const hv_keys *snd = fuzz_keys(FUZZ_KEY_SENDER);
	const hv_keys *rcpt = fuzz_keys(FUZZ_KEY_RECIPIENT);
	uint8_t box[2][HV_BOX_KEY_LEN];
	hv_envelope env, dec;
	struct hv_audit_rec rec;
	uint8_t *buf;
	size_t len;

	/* A message to one recipient, with reply_to and a flag. */
	header(&env, 1);
	strcpy(env.recipients[0], FUZZ_RECIPIENT);
	env.n_recipients = 1;
	env.has_reply_to = 1;
	memset(env.reply_to, 0x11, sizeof(env.reply_to));
	env.flags = HV_FLAG_DO_NOT_CONTACT_FAMILY;
	memcpy(box[0], rcpt->pub.box, HV_BOX_KEY_LEN);
	memcpy(box[1], snd->pub.box, HV_BOX_KEY_LEN);
	if (hv_envelope_seal(&env, (const uint8_t *)payload,
	        sizeof(payload) - 1, (const uint8_t(*)[HV_BOX_KEY_LEN])box,
	        snd) != HV_OK ||
	    hv_envelope_pack(&env, &buf, &len) != HV_OK)
		die("seal");
	seed("envelope", "message", buf, len);

	{
		Haven__Frame f = HAVEN__FRAME__INIT;
		Haven__Submit s = HAVEN__SUBMIT__INIT;
		Haven__Deliver dl = HAVEN__DELIVER__INIT;

		s.sender = FUZZ_SENDER;
		s.envelope.data = buf;
		s.envelope.len = len;
		f.kind_case = HAVEN__FRAME__KIND_SUBMIT;
		f.submit = &s;
		pack_frame("submit", &f);
		dl.envelope = s.envelope;
		dl.accepted_at = 1767225600123LL;
		f.kind_case = HAVEN__FRAME__KIND_DELIVER;
		f.deliver = &dl;
		pack_frame("deliver", &f);
	}
	free(buf);

	hv_audit_rec_from_envelope(&rec, &env, "SUBMITTED");
	rec.seq = 1;
	rec.time_ms = 1767225600123LL;
	pack_record("submitted", &rec);
	hv_audit_rec_from_envelope(&rec, &env, "DELIVERED");
	rec.seq = 2;
	rec.time_ms = 1767225601123LL;
	strcpy(rec.actor, FUZZ_RECIPIENT);
	rec.directory_version = 7;
	memset(rec.prev_hash, 0x33, sizeof(rec.prev_hash));
	pack_record("delivered", &rec);
	hv_envelope_clear(&env);

	/* Two recipients, a ROUTINE information request. */
	header(&env, 2);
	strcpy(env.type, "INFO_REQUEST");
	strcpy(env.priority, "ROUTINE");
	strcpy(env.recipients[0], FUZZ_RECIPIENT);
	strcpy(env.recipients[1], "health.bristol-royal");
	env.n_recipients = 2;
	if (hv_envelope_seal(&env, (const uint8_t *)"{}", 2,
	        (const uint8_t(*)[HV_BOX_KEY_LEN])box, snd) != HV_OK ||
	    hv_envelope_pack(&env, &buf, &len) != HV_OK)
		die("seal");
	seed("envelope", "two-recipients", buf, len);
	free(buf);
	hv_envelope_clear(&env);

	/* A decision not to share: no recipients, no payload. */
	header(&dec, 3);
	strcpy(dec.outcome, "NOT_SHARED");
	if (hv_envelope_sign_decision(&dec, snd) != HV_OK ||
	    hv_envelope_pack(&dec, &buf, &len) != HV_OK)
		die("decision");
	seed("envelope", "decision", buf, len);
	free(buf);
	hv_audit_rec_from_envelope(&rec, &dec, "DECISION_RECORDED");
	rec.seq = 3;
	rec.time_ms = 1767225602123LL;
	pack_record("decision", &rec);

	/* The two-byte envelope that once reached memcmp with NULL. */
	seed("envelope", "regress-empty-sealed-key", "\x72\x00", 2);
	seed("frame", "regress-empty-audit-record", "\x42\x02\x0a\x00", 4);
}

static void
frames(void)
{
	Haven__Frame f = HAVEN__FRAME__INIT;
	Haven__Hello h = HAVEN__HELLO__INIT;
	Haven__Receipt r = HAVEN__RECEIPT__INIT;
	Haven__Ack a = HAVEN__ACK__INIT;
	Haven__HumanAck ha = HAVEN__HUMAN_ACK__INIT;
	Haven__AuditQuery q = HAVEN__AUDIT_QUERY__INIT;
	Haven__AuditReply ar = HAVEN__AUDIT_REPLY__INIT;
	Haven__SignedTreeHead sth = HAVEN__SIGNED_TREE_HEAD__INIT;
	Haven__TreeHead th = HAVEN__TREE_HEAD__INIT;
	Haven__Error er = HAVEN__ERROR__INIT;
	Haven__HealthRequest hr = HAVEN__HEALTH_REQUEST__INIT;
	Haven__HealthReply hp = HAVEN__HEALTH_REPLY__INIT;
	Haven__AgentRefusal rf = HAVEN__AGENT_REFUSAL__INIT;
	char *rf_to[1] = { FUZZ_RECIPIENT };
	uint8_t id[16], root[32], sig[64], hash[32], kid[8];
	ProtobufCBinaryData recs[1], proof[1];

	memset(id, 0x21, sizeof(id));
	memset(root, 0x22, sizeof(root));
	memset(sig, 0x23, sizeof(sig));
	memset(hash, 0x24, sizeof(hash));

	h.node = FUZZ_SENDER;
	h.directory_version = 7;
	h.software = "haven-agent 1.0";
	h.window = 64;
	f.kind_case = HAVEN__FRAME__KIND_HELLO;
	f.hello = &h;
	pack_frame("hello", &f);

	r.id = (ProtobufCBinaryData){ sizeof(id), id };
	r.status = "REJECTED";
	r.code = "POLICY_DENIED";
	r.message = "No allow rule lets police send REFERRAL to health.";
	r.node = FUZZ_RECIPIENT;
	r.at = 1767225600123LL;
	r.audit_seq = 12;
	r.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	r.receipt_seq = 5;
	f.kind_case = HAVEN__FRAME__KIND_RECEIPT;
	f.receipt = &r;
	pack_frame("receipt", &f);

	a.id = r.id;
	a.receipt_seq = 5;
	f.kind_case = HAVEN__FRAME__KIND_ACK;
	f.ack = &a;
	pack_frame("ack", &f);

	ha.id = r.id;
	ha.by = "duty.social-worker";
	ha.escalated = 1;
	f.kind_case = HAVEN__FRAME__KIND_HUMAN_ACK;
	f.human_ack = &ha;
	pack_frame("human-ack", &f);

	memset(kid, 0x25, sizeof(kid));
	rf.id = r.id;
	rf.n_recipients = 1;
	rf.recipients = rf_to;
	rf.type = "REFERRAL";
	rf.code = "POLICY_DENIED";
	rf.decided_by = "duty.officer";
	rf.subject = (ProtobufCBinaryData){ sizeof(hash), hash };
	rf.subject_key_id = (ProtobufCBinaryData){ sizeof(kid), kid };
	rf.at = 1767225600123LL;
	f.kind_case = HAVEN__FRAME__KIND_AGENT_REFUSAL;
	f.agent_refusal = &rf;
	pack_frame("agent-refusal", &f);

	q.message_id = r.id;
	q.sender = FUZZ_SENDER;
	q.role = "health";
	q.event = "DELIVERED";
	q.since = 1767225600000LL;
	q.limit = 100;
	q.consistency_from = 4;
	f.kind_case = HAVEN__FRAME__KIND_AUDIT_QUERY;
	f.audit_query = &q;
	pack_frame("audit-query", &f);

	sth.size = 9;
	sth.root = (ProtobufCBinaryData){ sizeof(root), root };
	sth.time = 1767225600123LL;
	sth.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	recs[0] = (ProtobufCBinaryData){ 4, (uint8_t *)"\x08\x01\x10\x02" };
	proof[0] = (ProtobufCBinaryData){ sizeof(hash), hash };
	ar.n_records = 1;
	ar.records = recs;
	ar.head = &sth;
	ar.n_proof = 1;
	ar.proof = proof;
	ar.leaf_index = 3;
	f.kind_case = HAVEN__FRAME__KIND_AUDIT_REPLY;
	f.audit_reply = &ar;
	pack_frame("audit-reply", &f);

	th.head = &sth;
	th.n_consistency = 1;
	th.consistency = proof;
	th.from_size = 4;
	f.kind_case = HAVEN__FRAME__KIND_TREE_HEAD;
	f.tree_head = &th;
	pack_frame("tree-head", &f);

	er.code = "MALFORMED";
	er.message = "envelope.id must be 16 bytes, not 3";
	f.kind_case = HAVEN__FRAME__KIND_ERROR;
	f.error = &er;
	pack_frame("error", &f);

	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REQUEST;
	f.health_request = &hr;
	pack_frame("health-request", &f);

	hp.json = "{\"node\":\"broker.bristol\",\"agents\":3}";
	f.kind_case = HAVEN__FRAME__KIND_HEALTH_REPLY;
	f.health_reply = &hp;
	pack_frame("health-reply", &f);
}

/* ---- agreements, directories, key files ------------------------------- */

static const char agreement[] =
    "# A small partnership for fuzzing (SPEC §5).\n"
    "partnership bristol\n"
    "version 7\n"
    "broker broker.b tcp://127.0.0.1:7400 keys/broker.b.pub\n"
    "node police.a keys/police.a.pub\n"
    "node ig.a keys/ig.a.pub scope=police,health\n"
    "allow police -> police : REFERRAL, INFO_REQUEST art9\n"
    "allow * -> police : CP_PLAN_START\n";

/* Saves k as node id under dir/keys (for the agreement parser). */
static void
save_keys(const hv_keys *k, const char *id, const char *dir)
{
	char keys[300];

	snprintf(keys, sizeof(keys), "%s/keys", dir);
	if (hv_keys_save(k, id, keys, NULL, NULL) != HV_OK)
		die("keys");
}

static void
read_seed(const char *name, const char *file, const char *path)
{
	uint8_t *buf;
	size_t len;

	if (hv_read_file(path, 1 << 20, &buf, &len) != 0)
		die(path);
	seed(name, file, buf, len);
	free(buf);
}

static void
directories(void)
{
	char dir[] = "/tmp/hv-corpus-XXXXXX", path[400];
	const hv_keys *root = fuzz_keys(FUZZ_KEY_ROOT);
	struct hv_errdetail d;
	hv_directory *dr = NULL;
	uint8_t *buf;
	size_t len;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	save_keys(fuzz_keys(FUZZ_KEY_BROKER), "broker.b", dir);
	save_keys(fuzz_keys(FUZZ_KEY_SENDER), "police.a", dir);
	save_keys(fuzz_keys(FUZZ_KEY_RECIPIENT), "ig.a", dir);

	seed_text("agreement", "small", agreement);
	seed_text("agreement", "edge-empty", "");
	seed_text("agreement", "edge-comments",
	    "# only a comment\n\n   \t\n# another\n");
	snprintf(path, sizeof(path), "%s/agreement.txt", dir);
	if (hv_write_file_atomic(path, agreement, sizeof(agreement) - 1,
	        0600) != 0 ||
	    hv_agreement_parse(path, &dr, &d) != HV_OK)
		die(d.message);
	if (hv_directory_sign(dr, root, &buf, &len) != HV_OK)
		die("sign");
	seed("directory", "signed", buf, len);
	free(buf);
	hv_directory_destroy(&dr);

	seed_text("keyfile", "edge-empty", "");
	snprintf(path, sizeof(path), "%s/keys/police.a.key", dir);
	read_seed("keyfile", "secret-key", path);
	snprintf(path, sizeof(path), "%s/keys/police.a.pub", dir);
	read_seed("keyfile", "public-key", path);
	snprintf(path, sizeof(path), "%s/subject.key", dir);
	if (hv_subject_key_generate(path, &d) != HV_OK)
		die(d.message);
	read_seed("keyfile", "subject-key", path);
	rm_tree(dir);
}

/* ---- proofs ----------------------------------------------------------- */

static void
proofs(void)
{
	char dir[] = "/tmp/hv-corpus-proof-XXXXXX";
	const hv_keys *broker = fuzz_keys(FUZZ_KEY_BROKER);
	hv_store *s = NULL;
	hv_auditlog log;
	hv_proof *p = NULL;
	MDB_txn *txn;
	char *text;

	if (mkdtemp(dir) == NULL ||
	    hv_store_open(dir, 1ULL << 22, 0, hv_auditlog_dbnames,
	        HV_AUDITLOG_NDBS, &s, NULL) != HV_OK)
		die("store");
	log.store = s;
	log.base = 0;
	for (uint64_t i = 1; i <= 5; i++) {
		struct hv_audit_rec r;

		memset(&r, 0, sizeof(r));
		r.time_ms = 1767225600000LL + (int64_t)i * 1000;
		strcpy(r.event, "SUBMITTED");
		r.has_id = 1;
		memset(r.id, (int)i, sizeof(r.id));
		strcpy(r.sender, FUZZ_SENDER);
		r.n_recipients = 1;
		strcpy(r.recipients[0], FUZZ_RECIPIENT);
		strcpy(r.type, "REFERRAL");
		if (hv_store_begin(s, 0, &txn) != HV_OK ||
		    hv_auditlog_append(&log, txn, &r) != HV_OK ||
		    ((i == 2 || i == 5) &&
		        hv_auditlog_sign_head(&log, txn, broker,
		            r.time_ms + 7) != HV_OK) ||
		    hv_store_commit(txn) != HV_OK)
			die("append");
	}
	if (hv_store_begin(s, MDB_RDONLY, &txn) != HV_OK)
		die("begin");
	if (hv_proof_inclusion(&log, txn, 3, &p, NULL) != HV_OK ||
	    hv_proof_to_json(p, &text) != HV_OK)
		die("inclusion");
	seed_text("proof", "inclusion", text);
	free(text);
	hv_proof_destroy(&p);
	if (hv_proof_consistency(&log, txn, 2, 0, &p, NULL) != HV_OK ||
	    hv_proof_to_json(p, &text) != HV_OK)
		die("consistency");
	seed_text("proof", "consistency", text);
	free(text);
	hv_proof_destroy(&p);
	mdb_txn_abort(txn);
	hv_store_close(&s);
	seed_text("proof", "edge-empty-object", "{}");
	rm_tree(dir);
}

/* ---- configs and requests --------------------------------------------- */

static void
texts(void)
{
	seed_text("config", "agent",
	    "# agent\n[agent]\nid = police.avon\nkey = keys/police.avon.key\n"
	    "broker = tcp://127.0.0.1:7400\nlisten = 127.0.0.1:7501\n"
	    "data_dir = data\nescalate_after = 900\n");
	seed_text("config", "edge-unknown-key",
	    "[agent]\nid = police.avon\nkey = k\ncolour = blue\n");
	seed_text("config", "edge-no-section", "id = police.avon\n");

	seed_text("request", "message",
	    "{\"to\":[\"social-care.bristol\"],\"type\":\"REFERRAL\","
	    "\"priority\":\"URGENT\",\"subject\":{\"nhs\":\"943 476 5919\"},"
	    "\"basis\":{\"consent\":\"NOT_SOUGHT\",\"art6\":\"PUBLIC_TASK\","
	    "\"art9\":\"SAFEGUARDING\",\"justification\":\"Seeking consent "
	    "would place the child at risk of harm.\",\"decided_by\":"
	    "\"ds.jones\"},\"child\":{\"name\":\"Alex Example\"},\"body\":"
	    "{\"concern\":\"seed\"},\"reply_to\":"
	    "\"00112233445566778899aabbccddeeff\",\"deadline\":\"AMBER\","
	    "\"flags\":[\"do_not_contact_family\"],"
	    "\"do_not_contact_family\":true}");
	seed_text("request", "message-local-subject",
	    "{\"to\":[\"education.st-marys-primary\",\"social-care.bristol\"],"
	    "\"type\":\"DOMESTIC_ABUSE_NOTIFICATION\",\"priority\":\"ROUTINE\","
	    "\"subject\":{\"local\":\"police.avon:CRN-2026-0042\"},"
	    "\"basis\":{\"consent\":\"OBTAINED\",\"art6\":\"PUBLIC_TASK\"},"
	    "\"deadline\":\"2099-01-01T09:00:00Z\"}");
	seed_text("request", "decision",
	    "{\"type\":\"INFO_REQUEST\",\"subject\":{\"nhs\":\"9434765919\"},"
	    "\"basis\":{\"consent\":\"REFUSED\",\"art6\":\"PUBLIC_TASK\","
	    "\"justification\":\"Sharing was considered and not "
	    "proportionate.\",\"decided_by\":\"dsl.smith\"},"
	    "\"outcome\":\"NOT_SHARED\",\"priority\":\"ROUTINE\"}");
	seed_text("request", "ack",
	    "{\"by\":\"duty.social-worker\",\"note\":\"seen, strategy "
	    "discussion booked\"}");
	seed_text("request", "edge-duplicate-key",
	    "{\"by\":\"a\",\"by\":\"b\"}");
	seed_text("request", "edge-not-object", "[1,2,3]");

	seed_text("httphead", "post",
	    "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:7501\r\n"
	    "Authorization: Bearer 0123456789abcdef\r\n"
	    "Content-Type: application/json\r\nContent-Length: 42\r\n\r\n");
	seed_text("httphead", "get-lax", "GET /v1/health HTTP/1.0\n\n");
	seed("httphead", "edge-nul-in-token",
	    "GET /v1/inbox HTTP/1.1\r\n"
	    "Authorization: Bearer TOKEN\0junk\r\n\r\n",
	    60);
	seed_text("httphead", "edge-chunked-two-lengths",
	    "POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\nContent-Length: 6\r\n\r\n");
	seed_text("httphead", "edge-folded",
	    "GET / HTTP/2.0\r\nX: a\r\n folded\r\n\r\n");
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		die("usage: corpus OUTDIR");
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		die(outdir);
	envelopes();
	frames();
	directories();
	proofs();
	texts();
	return 0;
}
