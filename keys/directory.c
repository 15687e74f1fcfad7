/*
 * haven directory — builds, shows and verifies the partnership's signed
 * directory (SPEC §5, §8).
 *
 * build compiles the administrator's agreement into a directory signed by
 * the root key and writes it atomically; show prints a directory for a
 * person without checking its signature (and says so); verify checks the
 * signature against the root's public key and every field. Nothing here
 * prints a secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "hv_directory.h"
#include "hv_err.h"
#include "hv_keys.h"
#include "hv_util.h"

static const char *const help_directory =
    "NAME\n"
    "    haven directory - build, show or verify the signed partnership "
    "directory\n"
    "\n"
    "SYNOPSIS\n"
    "    haven directory build AGREEMENT --root ROOT.key -o FILE\n"
    "                          [--passphrase-file FILE]\n"
    "                          [--handover-from OLD.key\n"
    "                           [--handover-passphrase-file FILE]]\n"
    "    haven directory show FILE [--json]\n"
    "    haven directory verify FILE --root-pub ROOT.pub\n"
    "\n"
    "DESCRIPTION\n"
    "    The directory tells the broker and every agent who belongs to the\n"
    "    partnership, which keys they hold, and which flows of which\n"
    "    message types the information-sharing agreement allows. The\n"
    "    partnership administrator writes the agreement as a text file,\n"
    "    builds it into a directory signed with the partnership's root\n"
    "    key, and copies the directory to the broker and every agent. They\n"
    "    load it at start and again on SIGHUP, refusing a directory that\n"
    "    is not signed by the root, is malformed, or has a lower version\n"
    "    than the one they hold. Anything the agreement does not allow is\n"
    "    denied.\n"
    "\n"
    "    Run 'haven directory build --help' for the agreement's syntax.\n"
    "\n"
    "COMMANDS\n"
    "    build    compile and sign an agreement into a directory file\n"
    "    show     print a directory (its signature is not checked)\n"
    "    verify   check a directory's signature and contents\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 the agreement or directory was refused (an error in\n"
    "    the agreement, a bad signature, a malformed file, an unsafe key\n"
    "    file); 2 usage error; 3 a file could not be read or written.\n";

static const char *const help_build =
    "NAME\n"
    "    haven directory build - compile and sign the information-sharing\n"
    "    agreement\n"
    "\n"
    "SYNOPSIS\n"
    "    haven directory build AGREEMENT --root ROOT.key -o FILE\n"
    "                          [--passphrase-file FILE]\n"
    "                          [--handover-from OLD.key\n"
    "                           [--handover-passphrase-file FILE]]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads the agreement AGREEMENT and the public key files it names,\n"
    "    checks every line, signs the result with the root's secret key\n"
    "    and writes the directory to FILE (replacing it atomically, mode\n"
    "    0644). Any error is reported as AGREEMENT:LINE and a sentence\n"
    "    quoting what was wrong; nothing is written then.\n"
    "\n"
    "    Raise the version line every time you change the agreement: the\n"
    "    broker and agents refuse a directory older than the one they hold.\n"
    "\n"
    "THE AGREEMENT\n"
    "    One statement per line; '#' starts a comment. Paths are relative\n"
    "    to the agreement's own folder.\n"
    "\n"
    "    partnership NAME\n"
    "        The partnership's name, once.\n"
    "    version N\n"
    "        A positive whole number, once; raise it with every change.\n"
    "    broker NODE ENDPOINT PUBFILE\n"
    "        The broker (role broker), the tcp://HOST:PORT agents connect\n"
    "        to, and its public key file; once.\n"
    "    node NODE PUBFILE [scope=*|scope=ROLE,ROLE]\n"
    "        A member node and its public key file from 'haven keygen'.\n"
    "        IG officers' nodes (role ig) must say whose records they may\n"
    "        query: scope=* for all, or a list of roles. Other nodes take\n"
    "        no scope.\n"
    "    allow SENDER_ROLES -> RECIPIENT_ROLES : TYPES [art9]\n"
    "        Nodes of the sender roles may send these message types to\n"
    "        nodes of the recipient roles. Lists are comma-separated; '*'\n"
    "        as the sender role means any role. With art9 every such\n"
    "        message must name an Article 9 condition (special category\n"
    "        data, such as health). Roles are police, health, education,\n"
    "        social-care, ig, broker, root, and any role a node has.\n"
    "        Types: REFERRAL, INFO_REQUEST, INFO_RESPONSE,\n"
    "        STRATEGY_DISCUSSION, CP_CONFERENCE_INVITATION, CP_PLAN_START,\n"
    "        CP_PLAN_END, LOOKED_AFTER_START, LOOKED_AFTER_END,\n"
    "        UNSCHEDULED_CARE_ATTENDANCE, DOMESTIC_ABUSE_NOTIFICATION,\n"
    "        MISSING_CHILD_ALERT, CASE_UPDATE.\n"
    "    revoke NODE\n"
    "        The node may no longer send or receive; it loses its\n"
    "        connection within 5 seconds of the new directory's load. The\n"
    "        node may also have a node line (its key stays on record).\n"
    "\n"
    "    Node ids are ROLE.NAME: lowercase letters, digits and dashes, at\n"
    "    most 64 characters. Two nodes may not share a key.\n"
    "\n"
    "EXAMPLE AGREEMENT\n"
    "    partnership bristol\n"
    "    version 7\n"
    "    broker broker.bristol tcp://127.0.0.1:7400 "
    "keys/broker.bristol.pub\n"
    "    node police.avon            keys/police.avon.pub\n"
    "    node health.bristol-royal   keys/health.bristol-royal.pub\n"
    "    node education.st-marys-primary "
    "keys/education.st-marys-primary.pub\n"
    "    node social-care.bristol    keys/social-care.bristol.pub\n"
    "    node ig.bristol             keys/ig.bristol.pub   scope=*\n"
    "    allow police -> education, social-care : "
    "DOMESTIC_ABUSE_NOTIFICATION\n"
    "    allow health -> social-care : UNSCHEDULED_CARE_ATTENDANCE art9\n"
    "    allow * -> social-care : REFERRAL\n"
    "    allow social-care -> police, health, education : INFO_REQUEST\n"
    "    allow police, health, education -> social-care : INFO_RESPONSE\n"
    "    revoke education.old-school\n"
    "\n"
    "OPTIONS\n"
    "    --root ROOT.key\n"
    "        The root's secret key file (from 'haven keygen --id\n"
    "        root.NAME'), readable only by its owner.\n"
    "    -o FILE, --output FILE\n"
    "        Where to write the signed directory.\n"
    "    --passphrase-file FILE\n"
    "        The passphrase of a protected root key, on the first line of\n"
    "        FILE (readable only by its owner).\n"
    "    --handover-from OLD.key\n"
    "        Root rotation: --root is a new root key, and OLD.key the root\n"
    "        the broker and agents trust today. The directory carries a\n"
    "        handover, the new root's public key signed by OLD.key, so\n"
    "        that nodes whose root_pub is still the old root accept it.\n"
    "        Without a handover a directory signed by a new root is\n"
    "        refused like any other wrong root. Once every node's root_pub\n"
    "        names the new root, build without it.\n"
    "    --handover-passphrase-file FILE\n"
    "        The passphrase of a protected OLD.key.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 written; 1 the agreement has an error or the root key file is\n"
    "    unsafe or its passphrase wrong; 2 usage error (such as a .pub\n"
    "    file given as --root); 3 a file could not be read or written.\n"
    "\n"
    "EXAMPLE\n"
    "    haven directory build agreement.txt --root keys/root.bristol.key "
    "\\\n"
    "        -o directory.hd\n";

static const char *const help_show =
    "NAME\n"
    "    haven directory show - print a directory\n"
    "\n"
    "SYNOPSIS\n"
    "    haven directory show FILE [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints the directory FILE: partnership, version, when it was\n"
    "    built, the broker's endpoint, every node with its role, whether\n"
    "    it is revoked, an IG node's scope and the fingerprint of its\n"
    "    signing key (the first 16 hex digits), the signing keys it used\n"
    "    before a rotation with the time each stopped signing, the allow\n"
    "    rules, and any root handover the directory carries.\n"
    "\n"
    "    show does NOT check the signature, so it can show a file whose\n"
    "    root you do not have; use 'haven directory verify' before you\n"
    "    trust what it says.\n"
    "\n"
    "OPTIONS\n"
    "    --json\n"
    "        Print one JSON document instead, with the full public keys\n"
    "        in base64 and \"signature_checked\": false.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 shown; 1 the file is not a well-formed directory; 2 usage\n"
    "    error; 3 the file could not be read.\n";

static const char *const help_verify =
    "NAME\n"
    "    haven directory verify - check a directory's signature and "
    "contents\n"
    "\n"
    "SYNOPSIS\n"
    "    haven directory verify FILE --root-pub ROOT.pub\n"
    "\n"
    "DESCRIPTION\n"
    "    Checks that FILE is signed by the root whose public key file is\n"
    "    ROOT.pub and that every field is well formed, as the broker and\n"
    "    agents will when they load it. Prints\n"
    "    'directory OK: partnership P version N, K nodes, R rules'.\n"
    "\n"
    "OPTIONS\n"
    "    --root-pub ROOT.pub\n"
    "        The root's public key file.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 the directory is good; 1 its signature does not verify (altered,\n"
    "    or signed by another root) or it is malformed; 2 usage error;\n"
    "    3 a file could not be read.\n";

/* The first 16 hex digits of a key, as show prints it. */
static void
fingerprint(const uint8_t *key, char out[17])
{
	char hex[2 * HV_SIGN_PUBLIC_LEN + 1];

	hv_hex(key, HV_SIGN_PUBLIC_LEN, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

static int
dir_build(int argc, char **argv)
{
	const char *agreement = NULL, *root = NULL, *output = NULL;
	const char *ppfile = NULL, *old_root = NULL, *old_ppfile = NULL;
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	hv_keys *keys = NULL, *old_keys = NULL;
	char *pass = NULL, *old_pass = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, revoked = 0;
	char fpr[17];
	int rc = 0, r;
	hv_err e;

	if (cli_wants_help(argc, argv)) {
		fputs(help_build, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--root", &root)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "--output", &output)) !=
		        0 ||
		    (r = cli_opt_value(argc, argv, &i, "-o", &output)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "--passphrase-file",
		         &ppfile)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "--handover-from",
		         &old_root)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i,
		         "--handover-passphrase-file", &old_ppfile)) != 0) {
			if (r < 0)
				return cli_usage("directory build",
				    "%s needs "
				    "a value.",
				    argv[i]);
		} else if (argv[i][0] == '-')
			return cli_usage("directory build",
			    "unknown option "
			    "'%s'.",
			    argv[i]);
		else if (agreement == NULL)
			agreement = argv[i];
		else
			return cli_usage("directory build",
			    "unexpected "
			    "argument '%s'; give one agreement file.",
			    argv[i]);
	}
	if (agreement == NULL)
		return cli_usage("directory build",
		    "name the agreement "
		    "file to build.");
	if (root == NULL)
		return cli_usage("directory build",
		    "--root ROOT.key is "
		    "required: the root's secret key signs the directory.");
	if (output == NULL)
		return cli_usage("directory build",
		    "-o FILE is required: "
		    "where to write the directory.");
	if (old_ppfile != NULL && old_root == NULL)
		return cli_usage("directory build",
		    "--handover-passphrase-file "
		    "goes with --handover-from OLD.key.");
	if (old_root != NULL &&
	    ((rc = cli_secret_key_check("directory build", "--handover-from",
	          old_root,
	          "the current root's secret key file "
	          "(OLD.key)")) != 0 ||
	        (old_ppfile != NULL &&
	            (rc = cli_file_check("directory build",
	                 "the passphrase file", old_ppfile)) != 0)))
		return rc;

	if ((rc = cli_file_check("directory build", "the agreement",
	         agreement)) != 0 ||
	    (rc = cli_secret_key_check("directory build", "--root", root,
	         "the root's secret key file (ROOT.key)")) != 0 ||
	    (ppfile != NULL &&
	        (rc = cli_file_check("directory build", "the passphrase file",
	             ppfile)) != 0))
		return rc;
	hv_errclear(&d);
	if ((e = hv_agreement_parse(agreement, &dir, &d)) != HV_OK) {
		rc = cli_fail(e, &d);
		goto out;
	}
	if (ppfile != NULL &&
	    (e = hv_passphrase_read(ppfile, &pass, &d)) != HV_OK) {
		rc = cli_fail(e, &d);
		goto out;
	}
	if ((e = hv_keys_load(root, pass, &keys, &d)) != HV_OK) {
		rc = cli_fail(e, &d);
		goto out;
	}
	if (old_root != NULL) {
		if (old_ppfile != NULL &&
		    (e = hv_passphrase_read(old_ppfile, &old_pass, &d)) !=
		        HV_OK) {
			rc = cli_fail(e, &d);
			goto out;
		}
		if ((e = hv_keys_load(old_root, old_pass, &old_keys, &d)) !=
		    HV_OK) {
			rc = cli_fail(e, &d);
			goto out;
		}
		if (memcmp(old_keys->pub.sign, keys->pub.sign,
		        HV_SIGN_PUBLIC_LEN) == 0) {
			rc = cli_usage("directory build",
			    "--handover-from "
			    "names the same root key as --root; a handover "
			    "is from the current root to a new one.");
			goto out;
		}
		e = hv_directory_sign_handover(dir, keys, old_keys, &buf, &len);
	} else
		e = hv_directory_sign(dir, keys, &buf, &len);
	if (e != HV_OK) {
		rc = cli_fail(e, NULL);
		goto out;
	}
	if (hv_write_file_atomic(output, buf, len, 0644) != 0) {
		fprintf(stderr,
		    "haven: cannot write the directory %s: %s; "
		    "check that its folder exists and is writable.\n",
		    output, strerror(errno));
		rc = 3;
		goto out;
	}
	for (size_t i = 0; i < hv_directory_node_count(dir); i++)
		revoked += hv_directory_node_at(dir, i)->revoked != 0;
	fingerprint(keys->pub.sign, fpr);
	printf("wrote %s: partnership %s version %llu, %zu nodes (%zu "
	       "revoked), %zu rules, signed by root key %s\n",
	    output, hv_directory_partnership(dir),
	    (unsigned long long)hv_directory_version(dir),
	    hv_directory_node_count(dir), revoked, hv_directory_rule_count(dir),
	    fpr);
	if (old_keys != NULL) {
		fingerprint(old_keys->pub.sign, fpr);
		printf("with a handover from root key %s: nodes that trust it "
		       "accept this directory\n",
		    fpr);
	}
out:
	free(buf);
	hv_keys_destroy(&keys);
	hv_keys_destroy(&old_keys);
	hv_secret_free(pass);
	hv_secret_free(old_pass);
	hv_directory_destroy(&dir);
	return rc;
}

/* Joins a list of names with ", " into buf. */
static void
join(char *buf, size_t cap, const char *first, size_t width, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < cap; i++) {
		int w = snprintf(buf + off, cap - off, "%s%s", i ? ", " : "",
		    first + i * width);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static void
show_text(const hv_directory *dir)
{
	const struct hv_node *b = hv_directory_broker(dir);
	char when[40], list[3][HV_RULE_LIST_MAX * (HV_ROLE_MAX + 2) + 1];
	uint8_t key[HV_SIGN_PUBLIC_LEN];
	char fpr[17];

	hv_time_iso(hv_directory_built(dir) * 1000, when, sizeof(when));
	printf("Signature NOT checked: run 'haven directory verify' with the "
	       "root's public key before trusting this.\n\n");
	printf("partnership  %s\n", hv_directory_partnership(dir));
	printf("version      %llu\n",
	    (unsigned long long)hv_directory_version(dir));
	printf("built        %s\n", when);
	printf("broker       %s at %s\n", b->id, b->endpoint);

	printf("\nnodes (%zu):\n", hv_directory_node_count(dir));
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);
		char fpr[17] = "(no keys)";

		if (n->has_keys)
			fingerprint(n->keys.sign, fpr);
		printf("  %-34s %-12s sign %-16s%s", n->id, n->role, fpr,
		    n->revoked ? "  REVOKED" : "");
		if (n->n_scope > 0) {
			join(list[0], sizeof(list[0]), n->scope[0],
			    sizeof(n->scope[0]), n->n_scope);
			printf("  scope %s", list[0]);
		}
		printf("\n");
		for (size_t j = 0; j < n->prev_sign.n; j++) {
			fingerprint(n->prev_sign.k[j].sign, fpr);
			hv_time_iso(n->prev_sign.k[j].until_ms, when,
			    sizeof(when));
			printf("  %-34s %-12s previous sign %s until %s\n", "",
			    "", fpr, when);
		}
	}

	printf("\nrules (%zu):\n", hv_directory_rule_count(dir));
	for (size_t i = 0; i < hv_directory_rule_count(dir); i++) {
		const struct hv_rule *r = hv_directory_rule_at(dir, i);

		join(list[0], sizeof(list[0]), r->senders[0],
		    sizeof(r->senders[0]), r->n_senders);
		join(list[1], sizeof(list[1]), r->recipients[0],
		    sizeof(r->recipients[0]), r->n_recipients);
		join(list[2], sizeof(list[2]), r->types[0], sizeof(r->types[0]),
		    r->n_types);
		printf("  line %-4u %s -> %s : %s%s\n", r->line, list[0],
		    list[1], list[2],
		    r->art9_required ? " (art9 required)" : "");
	}
	if (hv_directory_handover(dir, key)) {
		fingerprint(key, fpr);
		printf(
		    "\nroot handover: signed by new root key %s, handed over "
		    "by the previous root\n",
		    fpr);
	}
}

static json_t *
json_strings(const char *first, size_t width, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(first + i * width));
	return a;
}

static json_t *
json_key(const uint8_t *k)
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), k, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	return json_string(b64);
}

static int
show_json(const hv_directory *dir)
{
	const struct hv_node *b = hv_directory_broker(dir);
	json_t *doc, *nodes, *rules;
	uint8_t key[HV_SIGN_PUBLIC_LEN];
	char when[40];
	char *s;

	hv_time_iso(hv_directory_built(dir) * 1000, when, sizeof(when));
	nodes = json_array();
	rules = json_array();
	for (size_t i = 0; i < hv_directory_node_count(dir); i++) {
		const struct hv_node *n = hv_directory_node_at(dir, i);
		json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "id", n->id,
		    "role", n->role, "revoked", n->revoked, "has_keys",
		    n->has_keys);
		char fpr[17];

		if (o == NULL)
			continue;
		if (n->has_keys) {
			fingerprint(n->keys.sign, fpr);
			json_object_set_new(o, "sign_fingerprint",
			    json_string(fpr));
			json_object_set_new(o, "sign_public",
			    json_key(n->keys.sign));
			json_object_set_new(o, "box_public",
			    json_key(n->keys.box));
			json_object_set_new(o, "curve_public",
			    json_key(n->keys.curve));
		}
		if (n->prev_sign.n > 0) {
			json_t *prev = json_array();

			for (size_t j = 0; j < n->prev_sign.n; j++) {
				char until[40];

				fingerprint(n->prev_sign.k[j].sign, fpr);
				hv_time_iso(n->prev_sign.k[j].until_ms, until,
				    sizeof(until));
				json_array_append_new(prev,
				    json_pack("{s:o, s:s, s:s}", "sign_public",
				        json_key(n->prev_sign.k[j].sign),
				        "sign_fingerprint", fpr, "until",
				        until));
			}
			json_object_set_new(o, "previous_sign", prev);
		}
		if (n->n_scope > 0)
			json_object_set_new(o, "scope",
			    json_strings(n->scope[0], sizeof(n->scope[0]),
			        n->n_scope));
		if (n->endpoint[0] != '\0')
			json_object_set_new(o, "endpoint",
			    json_string(n->endpoint));
		json_array_append_new(nodes, o);
	}
	for (size_t i = 0; i < hv_directory_rule_count(dir); i++) {
		const struct hv_rule *r = hv_directory_rule_at(dir, i);

		json_array_append_new(rules,
		    json_pack("{s:o, s:o, s:o, s:b, "
		              "s:I}",
		        "senders",
		        json_strings(r->senders[0], sizeof(r->senders[0]),
		            r->n_senders),
		        "recipients",
		        json_strings(r->recipients[0], sizeof(r->recipients[0]),
		            r->n_recipients),
		        "types",
		        json_strings(r->types[0], sizeof(r->types[0]),
		            r->n_types),
		        "art9_required", r->art9_required, "line",
		        (json_int_t)r->line));
	}
	doc = json_pack("{s:b, s:s, s:I, s:s, s:I, s:{s:s, s:s}, s:o, s:o}",
	    "signature_checked", 0, "partnership",
	    hv_directory_partnership(dir), "version",
	    (json_int_t)hv_directory_version(dir), "built", when, "built_unix",
	    (json_int_t)hv_directory_built(dir), "broker", "id", b->id,
	    "endpoint", b->endpoint, "nodes", nodes, "rules", rules);
	if (doc != NULL && hv_directory_handover(dir, key))
		json_object_set_new(doc, "handover_root", json_key(key));
	if (doc == NULL ||
	    (s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	        NULL) {
		json_decref(doc);
		return cli_fail(HV_ENOMEM, NULL);
	}
	printf("%s\n", s);
	free(s);
	json_decref(doc);
	return 0;
}

static int
dir_show(int argc, char **argv)
{
	const char *file = NULL;
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int json = 0, rc;
	hv_err e;

	if (cli_wants_help(argc, argv)) {
		fputs(help_show, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-')
			return cli_usage("directory show",
			    "unknown option "
			    "'%s'.",
			    argv[i]);
		else if (file == NULL)
			file = argv[i];
		else
			return cli_usage("directory show",
			    "unexpected "
			    "argument '%s'; give one directory file.",
			    argv[i]);
	}
	if (file == NULL)
		return cli_usage("directory show",
		    "name the directory file "
		    "to show.");
	if ((rc = cli_file_check("directory show", "the directory file",
	         file)) != 0)
		return rc;
	hv_errclear(&d);
	if ((e = hv_directory_read_file(file, &buf, &len, &d)) != HV_OK)
		return cli_fail(e, &d);
	e = hv_directory_decode_unverified(buf, len, &dir, &d);
	free(buf);
	if (e == HV_EBADDIRECTORY) {
		fprintf(stderr, "haven: %s is not a good directory: %s\n", file,
		    hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	if (e != HV_OK)
		return cli_fail(e, &d);
	if (json)
		rc = show_json(dir);
	else {
		show_text(dir);
		rc = 0;
	}
	hv_directory_destroy(&dir);
	return rc;
}

static int
dir_verify(int argc, char **argv)
{
	const char *file = NULL, *rootpub = NULL;
	uint8_t key[HV_SIGN_PUBLIC_LEN];
	struct hv_pubkeys root;
	struct hv_errdetail d;
	hv_directory *dir = NULL;
	hv_err e;
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(help_verify, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--root-pub",
		         &rootpub)) != 0) {
			if (r < 0)
				return cli_usage("directory verify",
				    "%s needs "
				    "a value.",
				    argv[i]);
		} else if (argv[i][0] == '-')
			return cli_usage("directory verify",
			    "unknown option "
			    "'%s'.",
			    argv[i]);
		else if (file == NULL)
			file = argv[i];
		else
			return cli_usage("directory verify",
			    "unexpected "
			    "argument '%s'; give one directory file.",
			    argv[i]);
	}
	if (file == NULL)
		return cli_usage("directory verify",
		    "name the directory file "
		    "to verify.");
	if (rootpub == NULL)
		return cli_usage("directory verify",
		    "--root-pub ROOT.pub is "
		    "required: the root's public key checks the signature.");
	if ((r = cli_file_check("directory verify", "the directory file",
	         file)) != 0 ||
	    (r = cli_file_check("directory verify",
	         "the root's public key file", rootpub)) != 0)
		return r;
	hv_errclear(&d);
	if ((e = hv_pubkeys_load(rootpub, &root, &d)) != HV_OK)
		return cli_fail(e, &d);
	if ((e = hv_directory_load_file(file, root.sign, &dir, &d)) != HV_OK) {
		if (e == HV_EIO || e == HV_ENOMEM)
			return cli_fail(e, &d);
		fprintf(stderr, "haven: %s is not a good directory: %s\n", file,
		    hv_errmsg(e, &d));
		return hv_exit_code(e);
	}
	printf("directory OK: partnership %s version %llu, %zu nodes, %zu "
	       "rules\n",
	    hv_directory_partnership(dir),
	    (unsigned long long)hv_directory_version(dir),
	    hv_directory_node_count(dir), hv_directory_rule_count(dir));
	if (hv_directory_handover(dir, key) &&
	    memcmp(key, root.sign, HV_SIGN_PUBLIC_LEN) != 0) {
		char fpr[17];

		fingerprint(key, fpr);
		printf("signed by the new root key %s, which the root in %s "
		       "handed over to\n",
		    fpr, rootpub);
	}
	hv_directory_destroy(&dir);
	return 0;
}

int
cmd_directory(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("directory",
		    "name a command: build, show or "
		    "verify.");
	if (strcmp(argv[1], "build") == 0)
		return dir_build(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return dir_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return dir_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(help_directory, stdout);
		return 0;
	}
	return cli_usage("directory",
	    "'%s' is not a directory command; use "
	    "build, show or verify.",
	    argv[1]);
}
