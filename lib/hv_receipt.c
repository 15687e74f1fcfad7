/*
 * hv_receipt — canonical bytes, signing and verification of receipts.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hv_receipt.h"
#include "hv_store.h"

static const char tag[] = "haven-receipt-v1";

/* u32 length + bytes, into buf at *off when buf is not NULL. */
static void
put(uint8_t *buf, size_t *off, const void *p, size_t n)
{
	if (buf != NULL) {
		buf[*off] = (uint8_t)(n >> 24);
		buf[*off + 1] = (uint8_t)(n >> 16);
		buf[*off + 2] = (uint8_t)(n >> 8);
		buf[*off + 3] = (uint8_t)n;
		if (n > 0)
			memcpy(buf + *off + 4, p, n);
	}
	*off += 4 + n;
}

static size_t
canonical(const Haven__Receipt *r, uint8_t *buf)
{
	size_t off = 0;
	uint8_t num[8];
	const char *s[] = { r->status, r->code, r->message, r->node, r->by };

	put(buf, &off, tag, sizeof(tag));
	put(buf, &off, r->id.data, r->id.len);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put(buf, &off, s[i] ? s[i] : "", s[i] ? strlen(s[i]) : 0);
	hv_be64_put(num, (uint64_t)r->at);
	put(buf, &off, num, 8);
	hv_be64_put(num, r->audit_seq);
	put(buf, &off, num, 8);
	return off;
}

hv_err
hv_receipt_sign(Haven__Receipt *r, const hv_keys *broker)
{
	size_t len = canonical(r, NULL);
	uint8_t *buf = malloc(len), *sig = malloc(crypto_sign_BYTES);

	if (buf == NULL || sig == NULL) {
		free(buf);
		free(sig);
		return HV_ENOMEM;
	}
	canonical(r, buf);
	crypto_sign_detached(sig, NULL, buf, len, broker->sign_secret);
	free(buf);
	r->signature.data = sig;
	r->signature.len = crypto_sign_BYTES;
	return HV_OK;
}

hv_err
hv_receipt_verify(const Haven__Receipt *r,
    const uint8_t broker_sign[HV_SIGN_PUBLIC_LEN])
{
	size_t len;
	uint8_t *buf;
	int ok;

	if (r->signature.len != crypto_sign_BYTES)
		return HV_EBADSIG;
	len = canonical(r, NULL);
	if ((buf = malloc(len)) == NULL)
		return HV_ENOMEM;
	canonical(r, buf);
	ok = crypto_sign_verify_detached(r->signature.data, buf, len,
	         broker_sign) == 0;
	free(buf);
	return ok ? HV_OK : HV_EBADSIG;
}
