/*
 * hv_retract — signed retractions (SPEC §15).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_envelope.h"
#include "hv_retract.h"
#include "hv_store.h"
#include "hv_wire.h"

#define DOMAIN "haven-retract-v1"

const char *const hv_retract_reasons[] = { "MISDIRECTED", "WRONG_CHILD",
	"INACCURATE", "DUPLICATE", "OTHER", NULL };

int
hv_retract_reason_ok(const char *s)
{
	for (size_t i = 0; s != NULL && hv_retract_reasons[i] != NULL; i++)
		if (strcmp(s, hv_retract_reasons[i]) == 0)
			return 1;
	return 0;
}

int
hv_retract_decided_by_ok(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > HV_RETRACT_DECIDED_BY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		        s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

hv_err
hv_retract_check(const Haven__Retraction *r, struct hv_errdetail *d)
{
	if (r->id.len != HV_ID_LEN)
		return hv_errset(d, HV_EMALFORMED, "id",
		    "A retraction names a 16-byte message id.");
	if (r->sender == NULL || r->sender[0] == '\0' ||
	    strlen(r->sender) > HV_NODE_MAX)
		return hv_errset(d, HV_EMALFORMED, "sender",
		    "A retraction names its sender's node id.");
	if (!hv_retract_reason_ok(r->reason))
		return hv_errset(d, HV_EMALFORMED, "reason",
		    "reason must be one of MISDIRECTED, WRONG_CHILD, "
		    "INACCURATE, DUPLICATE or OTHER.");
	if (!hv_retract_decided_by_ok(r->decided_by))
		return hv_errset(d, HV_EMALFORMED, "decided_by",
		    "decided_by must be a staff identifier of 1 to 64 of "
		    "a-z, 0-9, '.', '_' and '-'.");
	return HV_OK;
}

/* The bytes signed: domain, id, sender, reason, decided_by, created. */
static size_t
canonical(const Haven__Retraction *r, uint8_t *buf)
{
	const char *f[3] = { r->sender, r->reason, r->decided_by };
	size_t off = 0;
	uint8_t num[8];

	if (buf != NULL)
		memcpy(buf + off, DOMAIN, sizeof(DOMAIN));
	off += sizeof(DOMAIN);
	if (buf != NULL)
		memcpy(buf + off, r->id.data, r->id.len);
	off += r->id.len;
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(f[i]) + 1;

		if (buf != NULL)
			memcpy(buf + off, f[i], n);
		off += n;
	}
	hv_be64_put(num, (uint64_t)r->created);
	if (buf != NULL)
		memcpy(buf + off, num, 8);
	return off + 8;
}

hv_err
hv_retract_sign(Haven__Retraction *r, const hv_keys *sender)
{
	size_t len;
	uint8_t *buf, *sig;

	if (hv_retract_check(r, NULL) != HV_OK)
		return HV_EMALFORMED;
	len = canonical(r, NULL);
	buf = malloc(len);
	sig = malloc(crypto_sign_BYTES);
	if (buf == NULL || sig == NULL) {
		free(buf);
		free(sig);
		return HV_ENOMEM;
	}
	canonical(r, buf);
	crypto_sign_detached(sig, NULL, buf, len, sender->sign_secret);
	free(buf);
	r->signature.data = sig;
	r->signature.len = crypto_sign_BYTES;
	return HV_OK;
}

hv_err
hv_retract_verify(const Haven__Retraction *r, const struct hv_node *n)
{
	size_t len;
	uint8_t *buf;
	hv_err e;

	if (hv_retract_check(r, NULL) != HV_OK)
		return HV_EMALFORMED;
	if (r->signature.len != crypto_sign_BYTES || n == NULL ||
	    !n->has_keys || strcmp(n->id, r->sender) != 0)
		return HV_EBADSIG;
	len = canonical(r, NULL);
	if ((buf = malloc(len)) == NULL)
		return HV_ENOMEM;
	canonical(r, buf);
	e = hv_node_verify_at(n, buf, len, r->signature.data, r->created);
	free(buf);
	return e;
}

hv_err
hv_retract_pack(const Haven__Retraction *r, uint8_t **out, size_t *len)
{
	size_t n = haven__retraction__get_packed_size(r);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf == NULL)
		return HV_ENOMEM;
	haven__retraction__pack(r, buf);
	*out = buf;
	*len = n;
	return HV_OK;
}

hv_err
hv_retract_unpack(const uint8_t *buf, size_t len, Haven__Retraction **out)
{
	Haven__Retraction *r;

	if (len > 4096 ||
	    (r = haven__retraction__unpack(NULL, len, buf)) == NULL)
		return HV_EMALFORMED;
	if (hv_wire_check_strings(&r->base, NULL) != HV_OK ||
	    hv_retract_check(r, NULL) != HV_OK) {
		haven__retraction__free_unpacked(r, NULL);
		return HV_EMALFORMED;
	}
	*out = r;
	return HV_OK;
}

void
hv_retract_free(Haven__Retraction **r)
{
	if (r == NULL || *r == NULL)
		return;
	haven__retraction__free_unpacked(*r, NULL);
	*r = NULL;
}
