/*
 * hv_err — Haven's error codes.
 *
 * One enum member per error code of the SPEC. Every function of libhaven that
 * can fail returns an hv_err and writes its outputs only on success. Where a
 * caller needs to know which field was at fault (HTTP 400 bodies, agreement
 * line numbers, config file:line) the function also takes an optional
 * struct hv_errdetail, filled with the field name and one sentence.
 *
 * hv_errname() is the code as it appears on the wire, in JSON and in audit
 * records ("POLICY_DENIED"); hv_strerror() a generic sentence; hv_exit_code()
 * the CLI exit status of SPEC §8 (1 refused, 2 usage, 3 unreachable or I/O).
 */
#ifndef HV_ERR_H
#define HV_ERR_H

#include <stddef.h>

typedef enum hv_err {
	HV_OK = 0,
	/* Submit checks of SPEC §6, in the order the broker applies them. */
	HV_ESENDERMISMATCH, /* SENDER_MISMATCH */
	HV_EMALFORMED, /* MALFORMED */
	HV_EBADSIG, /* BAD_SIGNATURE */
	HV_ECLOCKSKEW, /* CLOCK_SKEW */
	HV_EREPLAY, /* REPLAY */
	HV_EUNKNOWNRECIPIENT, /* UNKNOWN_RECIPIENT */
	HV_EREVOKEDRECIPIENT, /* REVOKED_RECIPIENT */
	HV_EPOLICY, /* POLICY_DENIED */
	HV_EBASIS, /* BASIS_INVALID */
	HV_ETOOLARGE, /* TOO_LARGE */
	HV_ESTORAGEFULL, /* STORAGE_FULL */
	HV_ESENDERREVOKED, /* SENDER_REVOKED */
	/* Agent API and local checks. */
	HV_EUNAUTHORIZED, /* UNAUTHORIZED */
	HV_EBADSUBJECT, /* INVALID_SUBJECT: bad NHS number or local id */
	HV_EBADREQUEST, /* BAD_REQUEST: bad JSON or a bad field */
	HV_ENOTFOUND, /* NOT_FOUND */
	HV_ENOTRECIPIENT, /* NOT_RECIPIENT: envelope not addressed to us */
	HV_EDECRYPT, /* DECRYPT_FAILED */
	/* Keys, directory, config, audit. */
	HV_EEXISTS, /* EXISTS: refusing to overwrite */
	HV_EINSECURE, /* INSECURE_KEY_FILE: readable by group/others */
	HV_EPASSPHRASE, /* BAD_PASSPHRASE */
	HV_EROLLBACK, /* DIRECTORY_ROLLBACK */
	HV_EBADDIRECTORY, /* BAD_DIRECTORY */
	HV_EBADAGREEMENT, /* BAD_AGREEMENT */
	HV_EBADCONFIG, /* BAD_CONFIG */
	HV_ETAMPERED, /* TAMPERED: audit log or proof does not verify */
	HV_EUSAGE, /* USAGE */
	HV_EUNREACHABLE, /* UNREACHABLE: agent or broker did not answer */
	HV_EEXPIRED, /* EXPIRED */
	/* Stores, sessions and versions over the years (SPEC §13). */
	HV_EINUSE, /* IN_USE: data_dir locked by another process */
	HV_EFORMAT, /* STORE_FORMAT: a store newer than this binary */
	HV_EPROTOCOL, /* PROTOCOL_VERSION: Hello from an unserved version */
	HV_EDUPSESSION, /* DUPLICATE_SESSION: node already connected */
	HV_ENOMEM, /* NO_MEMORY */
	HV_EIO, /* IO_ERROR */
	HV_ESYS, /* INTERNAL */
	HV_ERR_COUNT
} hv_err;

/* The field at fault and one sentence naming what was wrong. */
struct hv_errdetail {
	char field[64];
	char message[320];
};

/* Wire/JSON code, e.g. "POLICY_DENIED". Never NULL. */
const char *hv_errname(hv_err e);

/* A generic sentence for the code. Never NULL. */
const char *hv_strerror(hv_err e);

/* CLI exit status for the code: 0, 1 refused, 2 usage, 3 unreachable/I/O. */
int hv_exit_code(hv_err e);

/* Parses a wire code back into hv_err; HV_ESYS when unknown. */
hv_err hv_errfromname(const char *name);

/*
 * Fills d (when not NULL) with field and a printf-formatted sentence and
 * returns e, so that callers can write `return hv_errset(d, HV_EBASIS,
 * "basis.art6", "...")`. field may be NULL for "no particular field".
 */
hv_err hv_errset(struct hv_errdetail *d, hv_err e, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Clears d (when not NULL). */
void hv_errclear(struct hv_errdetail *d);

/* The detail's sentence when set, else hv_strerror(e). */
const char *hv_errmsg(hv_err e, const struct hv_errdetail *d);

#endif
