/*
 * hv_wire — protobuf-c packing and unpacking of envelopes and frames, with
 * size caps and field checks (SPEC §6).
 *
 * Every unpack refuses input over its byte limit before decoding, decodes
 * with protobuf-c's default allocator, then walks the decoded message
 * generically through its descriptor so that no string field, however deep
 * or repeated, escapes the UTF-8 and length checks.
 *
 * A packed envelope or frame must also be exactly the bytes protobuf-c
 * itself produces for the decoded message. This makes equal envelopes equal
 * bytes (the broker's byte-identical resubmission check), and it catches a
 * string with an embedded NUL, which protobuf-c would otherwise truncate
 * silently when it NUL-terminates the copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "haven.pb-c.h"
#include "hv_config.h"
#include "hv_util.h"
#include "hv_wire.h"

/*
 * Generous room for everything in an envelope but the ciphertext: the
 * recipients and their sealed keys, the justification sealed to the ig.*
 * nodes with their keys (SPEC §4.2), and 8 KiB for the rest.
 */
#define ENVELOPE_OVERHEAD \
	(HV_MAX_RECIPIENTS * (HV_NODE_MAX + HV_SEALED_KEY_LEN + 4) + \
	    HV_SEALED_FOR_MAX * (HV_NODE_MAX + HV_SEALED_KEY_LEN + 8) + \
	    HV_JUSTIFICATION_SEALED_MAX + 8192)
/* Frame and Submit/Deliver tags, a 64-byte sender, varint lengths. */
#define FRAME_OVERHEAD 128
#define WALK_DEPTH_MAX 8 /* the schema nests three deep */

size_t
hv_wire_envelope_max(size_t max_payload)
{
	size_t padded = hv_envelope_padded_len(max_payload);

	if (padded == 0 || padded > SIZE_MAX / 2)
		return SIZE_MAX / 2;
	return padded + crypto_aead_xchacha20poly1305_ietf_ABYTES +
	    ENVELOPE_OVERHEAD;
}

size_t
hv_wire_frame_max(size_t max_payload)
{
	return hv_wire_envelope_max(max_payload) + FRAME_OVERHEAD;
}

/* ---- generic checks --------------------------------------------------- */

static void
field_path(char *buf, size_t cap, const char *path, const char *name,
    long index)
{
	int n;

	if (path[0] == '\0')
		n = snprintf(buf, cap, "%s", name);
	else
		n = snprintf(buf, cap, "%s.%s", path, name);
	if (index >= 0 && n >= 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "[%ld]", index);
}

/* Fields that carry a whole envelope or ciphertext, bounded by max_len. */
static int
bytes_unbounded(const char *name)
{
	return strcmp(name, "envelope") == 0 || strcmp(name, "ciphertext") == 0;
}

static hv_err
check_message(const ProtobufCMessage *m, const char *path, int depth,
    struct hv_errdetail *d)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const char *base = (const char *)m;
	char name[96];
	hv_err e;

	if (depth > WALK_DEPTH_MAX)
		return hv_errset(d, HV_EMALFORMED, path,
		    "%s is nested too deeply", path);
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const void *member = base + f->offset;
		int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
		size_t n = 1;

		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_BYTES &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (repeated) {
			n = *(const size_t *)(base + f->quantifier_offset);
			member = *(const void *const *)member;
			if (n > 0 && member == NULL)
				return hv_errset(d, HV_EMALFORMED, path,
				    "%s has a missing array", path);
		}
		for (size_t k = 0; k < n; k++) {
			field_path(name, sizeof(name), path, f->name,
			    repeated ? (long)k : -1);
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				const char *s = repeated ?
				    ((const char *const *)member)[k] :
				    *(const char *const *)member;
				size_t len;

				if (s == NULL)
					continue;
				/*
				 * A health report lists every node of the
				 * partnership, so it may outgrow the limit
				 * for names and sentences.
				 */
				size_t cap = strcmp(f->name, "json") == 0 ?
				    HV_WIRE_JSON_MAX :
				    HV_WIRE_STRING_MAX;

				len = strnlen(s, cap + 1);
				if (len > cap)
					return hv_errset(d, HV_EMALFORMED, name,
					    "%s is longer than %zu bytes", name,
					    cap);
				if (!hv_utf8_valid(s, len))
					return hv_errset(d, HV_EMALFORMED, name,
					    "%s is not valid UTF-8", name);
			} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
				const ProtobufCBinaryData *b = repeated ?
				    &((const ProtobufCBinaryData *)member)[k] :
				    (const ProtobufCBinaryData *)member;

				if (b->len > HV_WIRE_BYTES_MAX &&
				    !bytes_unbounded(f->name))
					return hv_errset(d, HV_EMALFORMED, name,
					    "%s is %zu bytes, over %d", name,
					    b->len, HV_WIRE_BYTES_MAX);
			} else {
				const ProtobufCMessage *sub = repeated ?
				    ((const ProtobufCMessage *const *)
				            member)[k] :
				    *(const ProtobufCMessage *const *)member;

				if (sub == NULL)
					continue;
				if ((e = check_message(sub, name, depth + 1,
				         d)) != HV_OK)
					return e;
			}
		}
	}
	return HV_OK;
}

/*
 * Checks every string (UTF-8, no NUL, at most HV_WIRE_STRING_MAX bytes) and
 * every bytes field (at most HV_WIRE_BYTES_MAX, except envelope and
 * ciphertext fields) of m and its sub-messages. Field names in the detail
 * are paths from m, e.g. "submit.sender" for a Frame.
 */
hv_err
hv_wire_check_strings(const ProtobufCMessage *m, struct hv_errdetail *d)
{
	return check_message(m, "", 0, d);
}

/* Compares protobuf-c's packing of a message with the bytes received. */
struct cmpbuf {
	ProtobufCBuffer base;
	const uint8_t *want;
	size_t len;
	size_t off;
	int differ;
};

static void
cmp_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
	struct cmpbuf *c = (struct cmpbuf *)b;

	/*
	 * protobuf-c appends zero bytes with a NULL pointer for an empty
	 * element of a repeated bytes field; memcmp with NULL is undefined
	 * even for a length of zero.
	 */
	if (c->differ || n == 0)
		return;
	if (n > c->len - c->off || memcmp(c->want + c->off, data, n) != 0) {
		c->differ = 1;
		return;
	}
	c->off += n;
}

static int
same_encoding(const ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
	struct cmpbuf c = { { cmp_append }, buf, len, 0, 0 };

	if (protobuf_c_message_get_packed_size(m) != len)
		return 0;
	protobuf_c_message_pack_to_buffer(m, &c.base);
	return !c.differ && c.off == len;
}

/* ---- the lawful basis ------------------------------------------------- */

void
hv_basis_to_pb(const struct hv_basis *b, struct hv_basis_pb *out)
{
	Haven__Basis init = HAVEN__BASIS__INIT;
	size_t n = b->n_sealed_for;

	if (n > HV_SEALED_FOR_MAX)
		n = HV_SEALED_FOR_MAX;
	out->pb = init;
	out->pb.consent = (char *)b->consent;
	out->pb.art6 = (char *)b->art6;
	out->pb.art9 = (char *)b->art9;
	out->pb.justification = (char *)b->justification;
	out->pb.decided_by = (char *)b->decided_by;
	out->pb.justification_len = b->justification_len;
	out->pb.justification_sealed.len = b->sealed_len;
	out->pb.justification_sealed.data = (uint8_t *)b->sealed;
	for (size_t i = 0; i < n; i++) {
		out->sealed_for[i] = (char *)b->sealed_for[i];
		out->keys[i].len = HV_SEALED_KEY_LEN;
		out->keys[i].data = (uint8_t *)b->sealed_keys[i];
	}
	out->pb.n_sealed_for = n;
	out->pb.sealed_for = out->sealed_for;
	out->pb.n_sealed_keys = n;
	out->pb.sealed_keys = out->keys;
}

/* Copies a decoded string into a fixed array, naming the field on failure. */
static hv_err take_str(char *dst, size_t cap, const char *src,
    const char *field, struct hv_errdetail *d);

hv_err
hv_basis_from_pb(const Haven__Basis *pb, struct hv_basis *b, const char *prefix,
    struct hv_errdetail *d)
{
	char field[96];
	hv_err e;
	struct {
		const char *name;
		char *dst;
		size_t cap;
		const char *src;
	} f[] = {
		{ "consent", b->consent, sizeof(b->consent), pb->consent },
		{ "art6", b->art6, sizeof(b->art6), pb->art6 },
		{ "art9", b->art9, sizeof(b->art9), pb->art9 },
		{ "justification", b->justification, sizeof(b->justification),
		    pb->justification },
		{ "decided_by", b->decided_by, sizeof(b->decided_by),
		    pb->decided_by },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(field, sizeof(field), "%s.%s", prefix, f[i].name);
		if ((e = take_str(f[i].dst, f[i].cap, f[i].src, field, d)) !=
		    HV_OK)
			return e;
	}
	if (pb->justification_sealed.len > sizeof(b->sealed))
		return hv_errset(d, HV_EMALFORMED, "basis.justification",
		    "%s.justification_sealed is longer than %zu bytes", prefix,
		    sizeof(b->sealed));
	if (pb->n_sealed_for > HV_SEALED_FOR_MAX ||
	    pb->n_sealed_keys != pb->n_sealed_for)
		return hv_errset(d, HV_EMALFORMED, "basis.justification",
		    "%s has %zu sealed keys for %zu ig nodes (at most %d)",
		    prefix, pb->n_sealed_keys, pb->n_sealed_for,
		    HV_SEALED_FOR_MAX);
	for (size_t i = 0; i < pb->n_sealed_for; i++) {
		snprintf(field, sizeof(field), "%s.sealed_for[%zu]", prefix, i);
		if ((e = take_str(b->sealed_for[i], sizeof(b->sealed_for[i]),
		         pb->sealed_for[i], field, d)) != HV_OK)
			return e;
		if (pb->sealed_keys[i].len != HV_SEALED_KEY_LEN)
			return hv_errset(d, HV_EMALFORMED,
			    "basis.justification",
			    "%s.sealed_keys[%zu] must "
			    "be %d bytes",
			    prefix, i, HV_SEALED_KEY_LEN);
		memcpy(b->sealed_keys[i], pb->sealed_keys[i].data,
		    HV_SEALED_KEY_LEN);
	}
	b->n_sealed_for = pb->n_sealed_for;
	b->justification_len = pb->justification_len;
	b->sealed_len = pb->justification_sealed.len;
	if (b->sealed_len > 0)
		memcpy(b->sealed, pb->justification_sealed.data, b->sealed_len);
	return HV_OK;
}

/* ---- envelopes -------------------------------------------------------- */

hv_err
hv_envelope_pack(const hv_envelope *env, uint8_t **out, size_t *len)
{
	Haven__Envelope pe = HAVEN__ENVELOPE__INIT;
	struct hv_basis_pb pb;
	char *recipients[HV_MAX_RECIPIENTS];
	ProtobufCBinaryData sealed[HV_MAX_RECIPIENTS];
	uint8_t *buf;
	size_t n;

	if (env->n_recipients > HV_MAX_RECIPIENTS ||
	    env->basis.n_sealed_for > HV_SEALED_FOR_MAX ||
	    env->basis.sealed_len > sizeof(env->basis.sealed))
		return HV_EMALFORMED;
	hv_basis_to_pb(&env->basis, &pb);
	for (size_t i = 0; i < env->n_recipients; i++) {
		recipients[i] = (char *)env->recipients[i];
		sealed[i].len = HV_SEALED_KEY_LEN;
		sealed[i].data = (uint8_t *)env->sealed[i];
	}
	pe.id.len = HV_ID_LEN;
	pe.id.data = (uint8_t *)env->id;
	pe.sender = (char *)env->sender;
	pe.n_recipients = env->n_recipients;
	pe.recipients = recipients;
	pe.type = (char *)env->type;
	pe.priority = (char *)env->priority;
	pe.created = env->created;
	pe.basis = &pb.pb;
	pe.subject.len = sizeof(env->subject);
	pe.subject.data = (uint8_t *)env->subject;
	if (env->has_reply_to) {
		pe.reply_to.len = HV_ID_LEN;
		pe.reply_to.data = (uint8_t *)env->reply_to;
	}
	pe.flags = env->flags;
	pe.outcome = (char *)env->outcome;
	pe.nonce.len = HV_NONCE_LEN;
	pe.nonce.data = (uint8_t *)env->nonce;
	pe.ciphertext.len = env->ciphertext_len;
	pe.ciphertext.data = env->ciphertext;
	pe.n_sealed_keys = env->n_recipients;
	pe.sealed_keys = sealed;
	pe.signature.len = HV_SIGNATURE_LEN;
	pe.signature.data = (uint8_t *)env->signature;
	if (env->has_subject_key_id) {
		pe.subject_key_id.len = sizeof(env->subject_key_id);
		pe.subject_key_id.data = (uint8_t *)env->subject_key_id;
	}

	n = haven__envelope__get_packed_size(&pe);
	if ((buf = malloc(n > 0 ? n : 1)) == NULL)
		return HV_ENOMEM;
	haven__envelope__pack(&pe, buf);
	*out = buf;
	*len = n;
	return HV_OK;
}

/* Copies a decoded string into a fixed array, naming the field on failure. */
static hv_err
take_str(char *dst, size_t cap, const char *src, const char *field,
    struct hv_errdetail *d)
{
	if (hv_strlcpy_checked(dst, src ? src : "", cap) != 0)
		return hv_errset(d, HV_EMALFORMED, field,
		    "%s is longer than %zu bytes", field, cap - 1);
	return HV_OK;
}

static hv_err
take_bytes(uint8_t *dst, size_t want, const ProtobufCBinaryData *b,
    const char *field, struct hv_errdetail *d)
{
	if (b->len != want)
		return hv_errset(d, HV_EMALFORMED, field,
		    "%s must be %zu bytes, not %zu", field, want, b->len);
	memcpy(dst, b->data, want);
	return HV_OK;
}

/* The strict per-field checks of hv_envelope_unpack; fills *env. */
static hv_err
envelope_from_pb(const Haven__Envelope *pe, hv_envelope *env,
    struct hv_errdetail *d)
{
	static const Haven__Basis nobasis = HAVEN__BASIS__INIT;
	const Haven__Basis *pb = pe->basis ? pe->basis : &nobasis;
	char field[64];
	hv_err e;

	/*
	 * The signature covers only the fields below: bytes in a field this
	 * version does not know would travel unsigned, and the broker would
	 * store them as they came.
	 */
	if (pe->base.n_unknown_fields != 0)
		return hv_errset(d, HV_EMALFORMED, "envelope",
		    "the envelope "
		    "holds field %u, which this version does not know",
		    (unsigned)pe->base.unknown_fields[0].tag);
	if (pe->basis != NULL && pe->basis->base.n_unknown_fields != 0)
		return hv_errset(d, HV_EMALFORMED, "envelope.basis",
		    "the "
		    "envelope's basis holds field %u, which this version does "
		    "not know",
		    (unsigned)pe->basis->base.unknown_fields[0].tag);
	if ((e = take_bytes(env->id, HV_ID_LEN, &pe->id, "envelope.id", d)) !=
	    HV_OK)
		return e;
	if ((e = take_str(env->sender, sizeof(env->sender), pe->sender,
	         "envelope.sender", d)) != HV_OK)
		return e;
	if (!hv_node_id_valid(env->sender))
		return hv_errset(d, HV_EMALFORMED, "envelope.sender",
		    "envelope.sender '%s' is not a node id", env->sender);

	if (pe->n_recipients > HV_MAX_RECIPIENTS)
		return hv_errset(d, HV_EMALFORMED, "envelope.recipients",
		    "envelope has %zu recipients, more than %d",
		    pe->n_recipients, HV_MAX_RECIPIENTS);
	for (size_t i = 0; i < pe->n_recipients; i++) {
		snprintf(field, sizeof(field), "envelope.recipients[%zu]", i);
		if ((e = take_str(env->recipients[i],
		         sizeof(env->recipients[i]), pe->recipients[i], field,
		         d)) != HV_OK)
			return e;
		if (!hv_node_id_valid(env->recipients[i]))
			return hv_errset(d, HV_EMALFORMED, field,
			    "%s '%s' is not a node id", field,
			    env->recipients[i]);
		if (strcmp(env->recipients[i], env->sender) == 0)
			return hv_errset(d, HV_EMALFORMED, field,
			    "%s is the sender itself", field);
		for (size_t j = 0; j < i; j++)
			if (strcmp(env->recipients[i], env->recipients[j]) == 0)
				return hv_errset(d, HV_EMALFORMED, field,
				    "%s '%s' is named twice", field,
				    env->recipients[i]);
	}
	env->n_recipients = pe->n_recipients;

	if ((e = take_str(env->type, sizeof(env->type), pe->type,
	         "envelope.type", d)) != HV_OK ||
	    (e = take_str(env->priority, sizeof(env->priority), pe->priority,
	         "envelope.priority", d)) != HV_OK ||
	    (e = hv_basis_from_pb(pb, &env->basis, "envelope.basis", d)) !=
	        HV_OK ||
	    (e = take_str(env->outcome, sizeof(env->outcome), pe->outcome,
	         "envelope.outcome", d)) != HV_OK)
		return e;
	env->created = pe->created;
	env->flags = pe->flags;

	if ((e = take_bytes(env->subject, sizeof(env->subject), &pe->subject,
	         "envelope.subject", d)) != HV_OK)
		return e;
	if (pe->reply_to.len != 0) {
		if ((e = take_bytes(env->reply_to, HV_ID_LEN, &pe->reply_to,
		         "envelope.reply_to", d)) != HV_OK)
			return e;
		env->has_reply_to = 1;
	}
	if (pe->subject_key_id.len != 0) {
		if ((e = take_bytes(env->subject_key_id,
		         sizeof(env->subject_key_id), &pe->subject_key_id,
		         "envelope.subject_key_id", d)) != HV_OK)
			return e;
		env->has_subject_key_id = 1;
	}

	/* A decision (no recipients) may leave the all-zero nonce out. */
	if (!(pe->n_recipients == 0 && pe->nonce.len == 0) &&
	    (e = take_bytes(env->nonce, HV_NONCE_LEN, &pe->nonce,
	         "envelope.nonce", d)) != HV_OK)
		return e;
	if (pe->n_sealed_keys != pe->n_recipients)
		return hv_errset(d, HV_EMALFORMED, "envelope.sealed_keys",
		    "envelope has %zu sealed keys for %zu recipients",
		    pe->n_sealed_keys, pe->n_recipients);
	for (size_t i = 0; i < pe->n_sealed_keys; i++) {
		snprintf(field, sizeof(field), "envelope.sealed_keys[%zu]", i);
		if ((e = take_bytes(env->sealed[i], HV_SEALED_KEY_LEN,
		         &pe->sealed_keys[i], field, d)) != HV_OK)
			return e;
	}
	if ((e = take_bytes(env->signature, HV_SIGNATURE_LEN, &pe->signature,
	         "envelope.signature", d)) != HV_OK)
		return e;

	if (pe->n_recipients > 0 && pe->ciphertext.len == 0)
		return hv_errset(d, HV_EMALFORMED, "envelope.ciphertext",
		    "envelope.ciphertext is empty");
	if (pe->n_recipients == 0 && pe->ciphertext.len != 0)
		return hv_errset(d, HV_EMALFORMED, "envelope.ciphertext",
		    "envelope.ciphertext must be empty without recipients");
	if (pe->ciphertext.len > 0) {
		if ((env->ciphertext = malloc(pe->ciphertext.len)) == NULL)
			return HV_ENOMEM;
		memcpy(env->ciphertext, pe->ciphertext.data,
		    pe->ciphertext.len);
		env->ciphertext_len = pe->ciphertext.len;
	}
	return HV_OK;
}

hv_err
hv_envelope_unpack(const uint8_t *buf, size_t len, size_t max_len,
    hv_envelope *out, struct hv_errdetail *d)
{
	Haven__Envelope *pe;
	hv_envelope *tmp;
	hv_err e;

	if (len > max_len)
		return hv_errset(d, HV_ETOOLARGE, "envelope",
		    "the envelope is %zu bytes, over the limit of %zu", len,
		    max_len);
	if ((pe = haven__envelope__unpack(NULL, len, buf)) == NULL)
		return hv_errset(d, HV_EMALFORMED, "envelope",
		    "the envelope is not a valid protobuf Envelope");
	/* Decoded into a scratch copy so that *out is written only on success. */
	if ((tmp = calloc(1, sizeof(*tmp))) == NULL) {
		e = HV_ENOMEM;
		goto out;
	}
	if ((e = check_message(&pe->base, "envelope", 0, d)) != HV_OK)
		goto out;
	if (!same_encoding(&pe->base, buf, len)) {
		e = hv_errset(d, HV_EMALFORMED, "envelope",
		    "the envelope is not in canonical protobuf encoding");
		goto out;
	}
	if ((e = envelope_from_pb(pe, tmp, d)) != HV_OK)
		goto out;
	*out = *tmp;
	tmp->ciphertext = NULL;
out:
	if (tmp != NULL)
		free(tmp->ciphertext);
	free(tmp);
	haven__envelope__free_unpacked(pe, NULL);
	return e;
}

/* ---- frames ----------------------------------------------------------- */

hv_err
hv_frame_unpack(const uint8_t *buf, size_t len, size_t max_len,
    Haven__Frame **out, struct hv_errdetail *d)
{
	Haven__Frame *f;
	hv_err e;

	if (len > max_len)
		return hv_errset(d, HV_ETOOLARGE, "frame",
		    "the frame is %zu bytes, over the limit of %zu", len,
		    max_len);
	if ((f = haven__frame__unpack(NULL, len, buf)) == NULL)
		return hv_errset(d, HV_EMALFORMED, "frame",
		    "the frame is not a valid protobuf Frame");
	if (f->kind_case == HAVEN__FRAME__KIND__NOT_SET) {
		e = hv_errset(d, HV_EMALFORMED, "frame",
		    "the frame carries no message");
		goto out;
	}
	if ((e = check_message(&f->base, "", 0, d)) != HV_OK)
		goto out;
	if (f->kind_case == HAVEN__FRAME__KIND_ACK) {
		hv_err code;

		if ((e = hv_ack_refusal(f->ack, &code, d)) != HV_OK)
			goto out;
	}
	if (!same_encoding(&f->base, buf, len)) {
		e = hv_errset(d, HV_EMALFORMED, "frame",
		    "the frame is not in canonical protobuf encoding");
		goto out;
	}
	*out = f;
	f = NULL;
out:
	if (f != NULL)
		haven__frame__free_unpacked(f, NULL);
	return e;
}

/* ---- a recipient's refusal in an Ack --------------------------------- */

/* 1 for a code an agent may refuse a delivery with. */
static int
refusal_code(hv_err e)
{
	return e != HV_OK && e != HV_ESTORAGEFULL && e != HV_EIO &&
	    e != HV_ENOMEM && e != HV_ESYS && e < HV_ERR_COUNT;
}

hv_err
hv_ack_refusal(const Haven__Ack *a, hv_err *code, struct hv_errdetail *d)
{
	const char *c = a->refused_code != NULL ? a->refused_code : "";
	const char *m = a->refused_message != NULL ? a->refused_message : "";
	size_t cl = strnlen(c, HV_ACK_CODE_MAX + 1);
	size_t ml = strnlen(m, HV_ACK_MESSAGE_MAX + 1);
	hv_err e;

	if (cl == 0 && ml == 0) {
		*code = HV_OK;
		return HV_OK;
	}
	if (cl == 0 || cl > HV_ACK_CODE_MAX)
		return hv_errset(d, HV_EMALFORMED, "ack.refused_code",
		    "An Ack "
		    "with a refusal needs a code of 1 to %d bytes.",
		    HV_ACK_CODE_MAX);
	e = hv_errfromname(c);
	if (!refusal_code(e) || strcmp(hv_errname(e), c) != 0)
		return hv_errset(d, HV_EMALFORMED, "ack.refused_code",
		    "The "
		    "Ack's refusal code %.32s is not an error code a recipient "
		    "refuses a delivery with.",
		    c);
	if (ml == 0 || ml > HV_ACK_MESSAGE_MAX)
		return hv_errset(d, HV_EMALFORMED, "ack.refused_message",
		    "An "
		    "Ack's refusal needs a sentence of 1 to %d bytes.",
		    HV_ACK_MESSAGE_MAX);
	for (size_t i = 0; i < ml; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return hv_errset(d, HV_EMALFORMED,
			    "ack.refused_message",
			    "The Ack's refusal "
			    "sentence holds a control character.");
	*code = e;
	return HV_OK;
}

void
hv_ack_set_refusal(Haven__Ack *a, hv_err code, const char *sentence,
    char buf[HV_ACK_MESSAGE_MAX + 1])
{
	size_t n;

	snprintf(buf, HV_ACK_MESSAGE_MAX + 1, "%s",
	    sentence != NULL && sentence[0] ? sentence : hv_strerror(code));
	for (n = 0; buf[n] != '\0'; n++)
		if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
			buf[n] = ' ';
	while (n > 0 && !hv_utf8_valid(buf, n))
		buf[--n] = '\0';
	a->refused_code = (char *)hv_errname(code);
	a->refused_message = buf;
}

hv_err
hv_frame_pack(const Haven__Frame *f, uint8_t **out, size_t *len)
{
	size_t n = haven__frame__get_packed_size(f);
	uint8_t *buf;

	if ((buf = malloc(n > 0 ? n : 1)) == NULL)
		return HV_ENOMEM;
	haven__frame__pack(f, buf);
	*out = buf;
	*len = n;
	return HV_OK;
}

void
hv_frame_free(Haven__Frame **f)
{
	if (f == NULL || *f == NULL)
		return;
	haven__frame__free_unpacked(*f, NULL);
	*f = NULL;
}

hv_err
hv_wire_protocol_check(uint32_t version, const char *node,
    struct hv_errdetail *d)
{
	/* version >= OLDEST, written so that an OLDEST of 0 compiles. */
	if ((uint64_t)version + 1 > HV_PROTOCOL_OLDEST &&
	    version <= HV_PROTOCOL_VERSION)
		return HV_OK;
	return hv_errset(d, HV_EPROTOCOL, "protocol",
	    "%s speaks protocol "
	    "version %u; this broker serves versions %d and %d; upgrade %s",
	    node, (unsigned)version, HV_PROTOCOL_OLDEST, HV_PROTOCOL_VERSION,
	    version > HV_PROTOCOL_VERSION ? "the broker first" : "the agent");
}
