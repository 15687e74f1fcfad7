/*
 * The CLI's connection to the broker: key, directory and one request at a
 * time (see remote.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hv_auditlog.h"
#include "hv_wire.h"
#include "remote.h"

/* Loads and, with a root key, verifies the directory. 0 or exit status. */
static int
load_directory(struct remote *r, const struct remote_opts *o)
{
	struct hv_errdetail d;
	struct hv_pubkeys root;
	uint8_t *buf = NULL;
	size_t len = 0;
	hv_err e;
	int rc;

	if ((o->root_pub != NULL &&
	        (rc = cli_file_check(r->cmd, "the root's public key file",
	             o->root_pub)) != 0) ||
	    (rc = cli_file_check(r->cmd, "the directory file", o->directory)) !=
	        0)
		return rc;
	hv_errclear(&d);
	if (o->root_pub != NULL &&
	    (e = hv_pubkeys_load(o->root_pub, &root, &d)) != HV_OK) {
		fprintf(stderr,
		    "haven %s: cannot read the root's public key "
		    "file %s: %s\n",
		    r->cmd, o->root_pub, hv_errmsg(e, &d));
		return e == HV_EIO ? 3 : 1;
	}
	if ((e = hv_directory_read_file(o->directory, &buf, &len, &d)) !=
	    HV_OK) {
		fprintf(stderr, "haven %s: cannot read the directory %s: %s\n",
		    r->cmd, o->directory, hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	if (o->root_pub != NULL)
		e = hv_directory_load(buf, len, root.sign, &r->dir, &d);
	else
		e = hv_directory_decode_unverified(buf, len, &r->dir, &d);
	free(buf);
	if (e != HV_OK) {
		fprintf(stderr, "haven %s: the directory %s is refused: %s\n",
		    r->cmd, o->directory, hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	r->dir_verified = o->root_pub != NULL;
	if (!r->dir_verified)
		fprintf(stderr,
		    "haven %s: note: the directory's signature was "
		    "not checked (no --root-pub); the broker's keys are taken "
		    "from %s as it is.\n",
		    r->cmd, o->directory);
	return 0;
}

int
remote_load_key(const char *cmd, const char *key, const char *passphrase_file,
    hv_keys **k)
{
	struct hv_errdetail d;
	char *pw = NULL;
	hv_err e;
	int rc;

	if ((rc = cli_secret_key_check(cmd, "--key", key,
	         "the IG officer's secret key file (NODE.key)")) != 0 ||
	    (passphrase_file != NULL &&
	        (rc = cli_file_check(cmd, "the passphrase file",
	             passphrase_file)) != 0))
		return rc;
	hv_errclear(&d);
	if (passphrase_file != NULL &&
	    (e = hv_passphrase_read(passphrase_file, &pw, &d)) != HV_OK) {
		fprintf(stderr,
		    "haven %s: cannot read the passphrase file %s: "
		    "%s\n",
		    cmd, passphrase_file, hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	e = hv_keys_load(key, pw, k, &d);
	hv_secret_free(pw);
	if (e == HV_EPASSPHRASE && passphrase_file == NULL) {
		fprintf(stderr,
		    "haven %s: the key file %s is protected by a "
		    "passphrase; give --passphrase-file F.\n",
		    cmd, key);
		return 1;
	}
	if (e != HV_OK) {
		fprintf(stderr, "haven %s: cannot load the key %s: %s\n", cmd,
		    key, hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	return 0;
}

int
remote_open(const char *cmd, const struct remote_opts *o, struct remote *r)
{
	const struct hv_node *n, *bn;
	struct hv_errdetail d;
	hv_keys *k = NULL;
	int rc;
	hv_err e;

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : REMOTE_TIMEOUT_MS;
	hv_errclear(&d);
	if ((rc = load_directory(r, o)) != 0)
		goto fail;
	if ((bn = hv_directory_broker(r->dir)) == NULL || !bn->has_keys) {
		fprintf(stderr,
		    "haven %s: the directory %s names no broker "
		    "with keys.\n",
		    cmd, o->directory);
		rc = 1;
		goto fail;
	}
	snprintf(r->broker_id, sizeof(r->broker_id), "%s", bn->id);
	memcpy(r->broker_sign, bn->keys.sign, HV_SIGN_PUBLIC_LEN);
	if ((rc = remote_load_key(cmd, o->key, o->passphrase_file, &k)) != 0)
		goto fail;
	n = hv_directory_node_by_curve(r->dir, k->pub.curve);
	if (n == NULL || !n->has_keys) {
		fprintf(stderr,
		    "haven %s: the key %s belongs to no node of "
		    "the directory %s, so the broker would refuse it; use the "
		    "key of a node the agreement lists.\n",
		    cmd, o->key, o->directory);
		rc = 1;
		goto fail;
	}
	if (n->revoked) {
		fprintf(stderr,
		    "haven %s: %s is revoked in the directory %s; "
		    "the broker refuses a revoked node.\n",
		    cmd, n->id, o->directory);
		rc = 1;
		goto fail;
	}
	snprintf(r->node, sizeof(r->node), "%s", n->id);
	if ((e = hv_client_open(o->endpoint, k, bn->keys.curve,
	         REMOTE_FRAME_MAX, &r->client, &d)) != HV_OK) {
		if (e == HV_EUSAGE)
			rc = cli_usage(cmd, "--broker: %s.", d.message);
		else
			rc = cli_fail(e, &d);
		goto fail;
	}
	hv_keys_destroy(&k);
	return 0;
fail:
	hv_keys_destroy(&k);
	remote_close(r);
	return rc;
}

int
remote_ask(struct remote *r, const Haven__Frame *req,
    Haven__Frame__KindCase want, Haven__Frame **reply)
{
	struct hv_errdetail d;
	Haven__Frame *f = NULL;
	hv_err e, code;

	hv_errclear(&d);
	if ((e = hv_client_request(r->client, req, r->timeout_ms, &f, &d)) !=
	    HV_OK) {
		fprintf(stderr, "haven %s: %s\n", r->cmd, hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	if (f->kind_case == want) {
		*reply = f;
		return 0;
	}
	if (f->kind_case == HAVEN__FRAME__KIND_ERROR) {
		code = hv_errfromname(f->error->code);
		fprintf(stderr, "haven %s: the broker refused: %s (%s)\n",
		    r->cmd,
		    f->error->message[0] ? f->error->message :
		                           hv_strerror(code),
		    f->error->code);
		hv_frame_free(&f);
		/* A code this CLI does not know is still a refusal. */
		return code == HV_ESYS ? 1 : hv_exit_code(code);
	}
	fprintf(stderr,
	    "haven %s: the broker at %s answered with an "
	    "unexpected frame; is it a Haven broker of this version?\n",
	    r->cmd, hv_client_endpoint(r->client));
	hv_frame_free(&f);
	return 3;
}

int
remote_check_head(const struct remote *r, const Haven__SignedTreeHead *h)
{
	if (h == NULL) {
		fprintf(stderr,
		    "haven %s: the broker's answer carries no "
		    "signed tree head; it is refused.\n",
		    r->cmd);
		return 1;
	}
	if (hv_auditlog_head_verify(h, r->broker_sign) != HV_OK) {
		fprintf(stderr,
		    "haven %s: the tree head in the broker's "
		    "answer is not signed by %s's key in the directory; the "
		    "answer is refused. Tell the partnership administrator.\n",
		    r->cmd, r->broker_id);
		return 1;
	}
	return 0;
}

void
remote_close(struct remote *r)
{
	hv_client_close(&r->client);
	hv_directory_destroy(&r->dir);
}

int
remote_timeout(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < 1 || v > 3600)
		return -1;
	return (int)v * 1000;
}
