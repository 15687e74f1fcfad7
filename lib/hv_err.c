/*
 * hv_err — the table of Haven's error codes: wire name, sentence, exit code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hv_err.h"

static const struct {
	const char *name;
	const char *sentence;
	int exit_code;
} table[HV_ERR_COUNT] = {
	[HV_OK] = { "OK", "Success.", 0 },
	[HV_ESENDERMISMATCH] = { "SENDER_MISMATCH",
	    "The envelope's sender is not the node that sent it.", 1 },
	[HV_EMALFORMED] = { "MALFORMED",
	    "The frame or envelope could not be decoded.", 1 },
	[HV_EBADSIG] = { "BAD_SIGNATURE",
	    "The signature does not verify against the sender's key.", 1 },
	[HV_ECLOCKSKEW] = { "CLOCK_SKEW",
	    "The message's creation time is more than 300 seconds from the "
	    "broker's clock; check the sender's clock.",
	    1 },
	[HV_EREPLAY] = { "REPLAY",
	    "A different message with this id was already accepted.", 1 },
	[HV_EUNKNOWNRECIPIENT] = { "UNKNOWN_RECIPIENT",
	    "A recipient is not a node of the partnership's directory.", 1 },
	[HV_EREVOKEDRECIPIENT] = { "REVOKED_RECIPIENT",
	    "A recipient has been revoked from the partnership.", 1 },
	[HV_EPOLICY] = { "POLICY_DENIED",
	    "The information-sharing agreement does not allow this share.", 1 },
	[HV_EBASIS] = { "BASIS_INVALID",
	    "The lawful basis of the share is incomplete or inconsistent.", 1 },
	[HV_ETOOLARGE] = { "TOO_LARGE",
	    "The message is larger than the configured maximum.", 1 },
	[HV_ESTORAGEFULL] = { "STORAGE_FULL",
	    "The broker's store is full; new messages are refused until an "
	    "administrator enlarges map_size.",
	    1 },
	[HV_ESENDERREVOKED] = { "SENDER_REVOKED",
	    "The sending node has been revoked from the partnership.", 1 },
	[HV_EUNAUTHORIZED] = { "UNAUTHORIZED",
	    "A valid bearer token is required.", 1 },
	[HV_EBADSUBJECT] = { "INVALID_SUBJECT",
	    "The child's identifier is not a valid NHS number or local id.",
	    1 },
	[HV_EBADREQUEST] = { "BAD_REQUEST", "The request is not valid.", 2 },
	[HV_ENOTFOUND] = { "NOT_FOUND", "No such item.", 1 },
	[HV_ENOTRECIPIENT] = { "NOT_RECIPIENT",
	    "The message is not addressed to this node.", 1 },
	[HV_EDECRYPT] = { "DECRYPT_FAILED",
	    "The message could not be decrypted with this node's key.", 1 },
	[HV_EEXISTS] = { "EXISTS",
	    "The file already exists; Haven never overwrites a key.", 1 },
	[HV_EINSECURE] = { "INSECURE_KEY_FILE",
	    "The secret file is readable by group or others; "
	    "run chmod 600 on it.",
	    1 },
	[HV_EPASSPHRASE] = { "BAD_PASSPHRASE",
	    "The passphrase does not open the secret key file.", 1 },
	[HV_EROLLBACK] = { "DIRECTORY_ROLLBACK",
	    "The directory's version is lower than the one already loaded.",
	    1 },
	[HV_EBADDIRECTORY] = { "BAD_DIRECTORY",
	    "The directory is malformed or its signature does not verify.", 1 },
	[HV_EBADAGREEMENT] = { "BAD_AGREEMENT",
	    "The information-sharing agreement has an error.", 1 },
	[HV_EBADCONFIG] = { "BAD_CONFIG",
	    "The configuration file has an error.", 2 },
	[HV_ETAMPERED] = { "TAMPERED",
	    "The audit log or proof does not verify.", 1 },
	[HV_EUSAGE] = { "USAGE", "Wrong usage; see --help.", 2 },
	[HV_EUNREACHABLE] = { "UNREACHABLE",
	    "The agent or broker could not be reached.", 3 },
	[HV_EEXPIRED] = { "EXPIRED",
	    "The message was not delivered within its time to live.", 1 },
	[HV_EINUSE] = { "IN_USE",
	    "The data folder is in use by another running daemon.", 1 },
	[HV_EFORMAT] = { "STORE_FORMAT",
	    "The store was written by a newer release of Haven; run that "
	    "release or a newer one.",
	    1 },
	[HV_EPROTOCOL] = { "PROTOCOL_VERSION",
	    "The agent speaks a protocol version the broker does not serve; "
	    "upgrade the older of the two.",
	    1 },
	[HV_EDUPSESSION] = { "DUPLICATE_SESSION",
	    "Another session of this node is connected and alive; two agents "
	    "must not share one node id.",
	    1 },
	[HV_ENOMEM] = { "NO_MEMORY", "Out of memory.", 3 },
	[HV_EIO] = { "IO_ERROR", "A file or network operation failed.", 3 },
	[HV_ESYS] = { "INTERNAL", "An internal error occurred.", 3 },
};

const char *
hv_errname(hv_err e)
{
	if ((unsigned)e >= HV_ERR_COUNT)
		return "INTERNAL";
	return table[e].name;
}

const char *
hv_strerror(hv_err e)
{
	if ((unsigned)e >= HV_ERR_COUNT)
		return table[HV_ESYS].sentence;
	return table[e].sentence;
}

int
hv_exit_code(hv_err e)
{
	if ((unsigned)e >= HV_ERR_COUNT)
		return 3;
	return table[e].exit_code;
}

hv_err
hv_errfromname(const char *name)
{
	if (name == NULL)
		return HV_ESYS;
	for (int i = 0; i < HV_ERR_COUNT; i++)
		if (strcmp(table[i].name, name) == 0)
			return (hv_err)i;
	return HV_ESYS;
}

hv_err
hv_errset(struct hv_errdetail *d, hv_err e, const char *field, const char *fmt,
    ...)
{
	va_list ap;

	if (d == NULL)
		return e;
	snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	return e;
}

void
hv_errclear(struct hv_errdetail *d)
{
	if (d != NULL) {
		d->field[0] = '\0';
		d->message[0] = '\0';
	}
}

const char *
hv_errmsg(hv_err e, const struct hv_errdetail *d)
{
	if (d != NULL && d->message[0] != '\0')
		return d->message;
	return hv_strerror(e);
}
