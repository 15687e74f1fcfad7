/*
 * haven keygen — makes a node's key files or the partnership's subject key
 * (SPEC §3, §4.3, §8).
 *
 * Never overwrites a key: an existing file is refused with exit status 1 and
 * left untouched. Prints the paths it wrote; never prints a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "hv_config.h"
#include "hv_keys.h"
#include "hv_util.h"

static const char *const help_text =
    "NAME\n"
    "    haven keygen - make a node's key files or the partnership's "
    "subject key\n"
    "\n"
    "SYNOPSIS\n"
    "    haven keygen --id NODE [--out DIR] [--passphrase-file FILE]\n"
    "    haven keygen --subject-key --out FILE\n"
    "    haven keygen --rotate OLD.key [--out DIR] [--passphrase-file FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "    The partnership administrator runs keygen once for every node of\n"
    "    the partnership: each agency's agent (police.avon,\n"
    "    health.bristol-royal, ...), the broker, every IG officer and the\n"
    "    root that signs the directory. It makes three key pairs: Ed25519\n"
    "    for signing, X25519 for encrypting payloads, and a CURVE pair for\n"
    "    the ZeroMQ transport. The secret file stays on the node's own\n"
    "    machine; the public file goes to the administrator, who lists it\n"
    "    in the agreement from which the directory is built.\n"
    "\n"
    "    With --subject-key it makes the partnership's 32-byte subject key,\n"
    "    which turns children's NHS numbers and local ids into pseudonyms.\n"
    "    Every agency's agent and the IG officers hold a copy; the broker\n"
    "    must never hold it.\n"
    "\n"
    "    With --rotate it makes three new key pairs for the node of\n"
    "    OLD.key (and OLD.pub beside it). The new .key keeps every earlier\n"
    "    payload secret key (previous_box_secret, newest first), so that\n"
    "    messages sealed to an older key still open; the new .pub lists\n"
    "    every earlier signing key with the time it stopped signing\n"
    "    (previous_sign_public), so that earlier signatures, tree heads\n"
    "    and proofs still verify. Stop the node's daemon first: its old\n"
    "    key must not sign after that time. A protected OLD.key needs its\n"
    "    --passphrase-file, and the new .key is sealed with the same one.\n"
    "    The old files are left where they are.\n"
    "\n"
    "    keygen never overwrites a file: if a file it would write already\n"
    "    exists, it writes nothing and exits 1.\n"
    "\n"
    "OPTIONS\n"
    "    --id NODE\n"
    "        The node id, ROLE.NAME in lowercase letters, digits and\n"
    "        dashes, at most 64 characters: police.avon, social-care.bristol,\n"
    "        broker.bristol. The role is the part before the first dot.\n"
    "    --out DIR\n"
    "        The folder to write the node's files in (created if missing);\n"
    "        the current folder by default. With --subject-key, the file to\n"
    "        write (required). With --rotate, a new folder\n"
    "        rotated-YYYYMMDDTHHMMSSZ beside OLD.key by default.\n"
    "    --rotate OLD.key\n"
    "        Rotate the keys of the node whose secret key file is OLD.key.\n"
    "    --passphrase-file FILE\n"
    "        Seal the secret keys with the passphrase on the first line of\n"
    "        FILE (Argon2id, then XChaCha20-Poly1305). FILE must be readable\n"
    "        only by its owner. The daemons then need the same passphrase\n"
    "        file to start.\n"
    "    --subject-key\n"
    "        Make the partnership subject key instead of a node's keys.\n"
    "    -h, --help\n"
    "        Show this text.\n"
    "\n"
    "FILES\n"
    "    DIR/NODE.key    the secret keys, mode 0600: sign_secret,\n"
    "                    box_secret, curve_secret (or, with a passphrase,\n"
    "                    kdf_salt, nonce and sealed)\n"
    "    DIR/NODE.pub    the public keys, mode 0644 (less any umask):\n"
    "                    sign_public, box_public, curve_public\n"
    "    After --rotate, the .key also holds previous_box_secret lines\n"
    "    (previous_box_sealed with a passphrase), and the .pub\n"
    "    previous_sign_public = KEY TIME lines, newest first.\n"
    "    FILE            with --subject-key, the subject key, mode 0600\n"
    "    All are text, 'name = value' lines in base64 under a comment.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 the files were written; 1 a file already exists, or the\n"
    "    passphrase file is unsafe or empty; 2 usage error; 3 a file\n"
    "    could not be read (the passphrase file is missing or a folder)\n"
    "    or a file or folder could not be written.\n"
    "\n"
    "EXAMPLES\n"
    "    haven keygen --id police.avon --out /etc/haven/keys\n"
    "    haven keygen --id ig.bristol --out keys --passphrase-file "
    "ig.pass\n"
    "    haven keygen --subject-key --out /etc/haven/subject.key\n"
    "    haven keygen --rotate keys/police.avon.key --out keys/2027\n";

static int
node_keys(const char *id, const char *dir, const char *pass_file)
{
	struct hv_errdetail d;
	hv_keys *k = NULL;
	char *pass = NULL;
	hv_err err;
	int rc = 0;

	if (pass_file != NULL &&
	    (rc = cli_file_check("keygen", "the passphrase file", pass_file)) !=
	        0)
		return rc;
	hv_errclear(&d);
	if (pass_file != NULL &&
	    (err = hv_passphrase_read(pass_file, &pass, &d)) != HV_OK) {
		rc = cli_fail(err, &d);
		goto out;
	}
	if ((err = hv_keys_generate(&k)) != HV_OK ||
	    (err = hv_keys_save(k, id, dir, pass, &d)) != HV_OK) {
		rc = cli_fail(err, &d);
		goto out;
	}
	printf("wrote %s%s%s.key (secret%s, mode 0600)\n", dir,
	    dir[strlen(dir) - 1] == '/' ? "" : "/", id,
	    pass != NULL ? ", passphrase-protected" : "");
	printf("wrote %s%s%s.pub (public keys)\n", dir,
	    dir[strlen(dir) - 1] == '/' ? "" : "/", id);
out:
	hv_keys_destroy(&k);
	hv_secret_free(pass);
	return rc;
}

/*
 * Rotates OLD.key into DIR (by default a new rotated-STAMP folder beside
 * it) and says where the new files went and what to do next.
 */
static int
rotate_keys(const char *old_key, const char *dir, const char *pass_file)
{
	struct hv_errdetail d;
	char *pass = NULL, *key_path = NULL, *def = NULL, *parent = NULL;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	hv_err err;
	int rc = 0;

	if ((rc = cli_file_check("keygen", "the old key file", old_key)) != 0)
		return rc;
	if (pass_file != NULL &&
	    (rc = cli_file_check("keygen", "the passphrase file", pass_file)) !=
	        0)
		return rc;
	hv_errclear(&d);
	if (pass_file != NULL &&
	    (err = hv_passphrase_read(pass_file, &pass, &d)) != HV_OK) {
		rc = cli_fail(err, &d);
		goto out;
	}
	if (dir == NULL) {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		if ((parent = hv_path_dirname(old_key)) == NULL ||
		    asprintf(&def, "%s/rotated-%s", parent, stamp) < 0) {
			def = NULL;
			rc = cli_fail(HV_ENOMEM, NULL);
			goto out;
		}
		dir = def;
	}
	if ((err = hv_keys_rotate(old_key, dir, pass, hv_now_ms(), &key_path,
	         &d)) != HV_OK) {
		rc = cli_fail(err, &d);
		goto out;
	}
	printf("wrote %s (new secret keys%s, mode 0600; earlier payload keys "
	       "kept)\n",
	    key_path, pass != NULL ? ", passphrase-protected" : "");
	memcpy(key_path + strlen(key_path) - 4, ".pub", 4);
	printf("wrote %s (new public keys; earlier signing keys listed)\n",
	    key_path);
	printf("%s and its .pub are unchanged. Next: put the new .pub in the "
	       "agreement, build a higher directory version, send it out with "
	       "SIGHUP, and start the node with the new .key.\n",
	    old_key);
out:
	free(key_path);
	free(def);
	free(parent);
	hv_secret_free(pass);
	return rc;
}

int
cmd_keygen(int argc, char **argv)
{
	const char *id = NULL, *out = NULL, *pass_file = NULL, *old = NULL;
	const char *v;
	struct hv_errdetail d;
	int subject = 0;
	hv_err err;

	if (cli_wants_help(argc, argv)) {
		fputs(help_text, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL;
		const char *name = NULL;

		v = NULL; /* stays NULL when the option lacks its value */
		if (strcmp(argv[i], "--subject-key") == 0) {
			subject = 1;
			continue;
		}
		if (cli_opt_value(argc, argv, &i, "--id", &v)) {
			slot = &id;
			name = "--id";
		} else if (cli_opt_value(argc, argv, &i, "--out", &v)) {
			slot = &out;
			name = "--out";
		} else if (cli_opt_value(argc, argv, &i, "--rotate", &v)) {
			slot = &old;
			name = "--rotate";
		} else if (cli_opt_value(argc, argv, &i, "--passphrase-file",
		               &v)) {
			slot = &pass_file;
			name = "--passphrase-file";
		} else if (argv[i][0] == '-') {
			return cli_usage("keygen",
			    "'%s' is not an option of "
			    "keygen.",
			    argv[i]);
		} else {
			return cli_usage("keygen", "unexpected argument '%s'.",
			    argv[i]);
		}
		if (v == NULL || *v == '\0')
			return cli_usage("keygen", "%s needs a value.", name);
		if (*slot != NULL)
			return cli_usage("keygen", "%s is given twice.", name);
		*slot = v;
	}

	if (old != NULL) {
		if (subject || id != NULL)
			return cli_usage("keygen",
			    "--rotate takes the node "
			    "from OLD.key; give neither --id nor "
			    "--subject-key.");
		return rotate_keys(old, out, pass_file);
	}
	if (subject) {
		if (id != NULL || pass_file != NULL)
			return cli_usage("keygen",
			    "--subject-key takes only "
			    "--out FILE, not --id or --passphrase-file.");
		if (out == NULL)
			return cli_usage("keygen",
			    "--subject-key needs --out "
			    "FILE, the file to write.");
		hv_errclear(&d);
		if ((err = hv_subject_key_generate(out, &d)) != HV_OK)
			return cli_fail(err, &d);
		printf("wrote %s (partnership subject key, mode 0600)\n", out);
		return 0;
	}
	if (id == NULL)
		return cli_usage("keygen",
		    "give the node id with --id NODE "
		    "(for example --id police.avon), or --subject-key.");
	if (!hv_node_id_valid(id))
		return cli_usage("keygen",
		    "'%s' is not a node id: use "
		    "ROLE.NAME in lowercase letters, digits and dashes, at most "
		    "64 characters, like police.avon.",
		    id);
	return node_keys(id, out != NULL ? out : ".", pass_file);
}
