/*
 * Unit tests of hv_keys: key files, passphrases, secret-file checks and the
 * subject key. Every test works in its own mkdtemp folder.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "hv_keys.h"
#include "fixture.h"

static char tmp[64];

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	fixture_tmpdir(tmp, sizeof(tmp), "keys");
}

static void
teardown(void)
{
	fixture_rmtree(tmp);
}

TestSuite(keys, .init = setup, .fini = teardown);

/* tmp/name into a static buffer (one at a time per call site). */
static char *
at(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmp, name);
	return buf;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert(fd >= 0, "cannot create %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* Reads a whole small file into a malloc'd string. */
static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 16384);
	size_t n;

	cr_assert_not_null(fp, "cannot open %s", path);
	n = fread(buf, 1, 16383, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Replaces the first occurrence of `from` with `to` in the file at path. */
static void
edit_file(const char *path, const char *from, const char *to)
{
	char *text = slurp(path), *p, out[16384];

	p = strstr(text, from);
	cr_assert_not_null(p, "'%s' not in %s", from, path);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - text), text, to,
	    p + strlen(from));
	write_file(path, out, 0600);
	free(text);
}

static void
append_file(const char *path, const char *line)
{
	char *text = slurp(path), out[16384];

	snprintf(out, sizeof(out), "%s%s", text, line);
	write_file(path, out, 0600);
	free(text);
}

/* The value of the line "name = value" of a file, into buf. */
static char *
field_of(const char *path, const char *name, char *buf, size_t cap)
{
	char *text = slurp(path), key[64], *p, *e;

	snprintf(key, sizeof(key), "\n%s = ", name);
	p = strstr(text, key);
	cr_assert_not_null(p, "no %s in %s", name, path);
	p += strlen(key);
	e = strchr(p, '\n');
	snprintf(buf, cap, "%.*s", (int)(e - p), p);
	free(text);
	return buf;
}

static hv_keys *
make_saved(const char *node, const char *pass)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL;

	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, node, tmp, pass, &d), HV_OK, "%s",
	    d.message);
	return k;
}

static int
same_keys(const hv_keys *a, const hv_keys *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- save and load ------------------------------------------------------ */

Test(keys, round_trip_save_then_load_gives_the_same_keys)
{
	struct hv_errdetail d = { 0 };
	struct hv_pubkeys pub;
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128];

	cr_assert_eq(hv_keys_load(at(p, sizeof(p), "police.avon.key"), NULL, &l,
	                 &d),
	    HV_OK, "%s", d.message);
	cr_assert(same_keys(k, l));
	cr_assert_eq(hv_pubkeys_load(at(p, sizeof(p), "police.avon.pub"), &pub,
	                 &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(memcmp(&pub, &k->pub, sizeof(pub)), 0);
	hv_keys_destroy(&k);
	hv_keys_destroy(&l);
	cr_assert_null(l);
	hv_keys_destroy(&l);
	hv_keys_destroy(NULL);
}

Test(keys, writes_the_secret_file_0600_in_the_documented_format)
{
	hv_keys *k = make_saved("health.bristol-royal", NULL);
	struct stat st;
	char p[128], *text;

	cr_assert_eq(stat(at(p, sizeof(p), "health.bristol-royal.key"), &st),
	    0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	text = slurp(p);
	cr_assert(strncmp(text, "# Haven node key for health.bristol-royal",
	              41) == 0);
	cr_assert_not_null(strstr(text, "\nnode = health.bristol-royal\n"));
	cr_assert_not_null(strstr(text, "\nsign_secret = "));
	cr_assert_not_null(strstr(text, "\nbox_secret = "));
	cr_assert_not_null(strstr(text, "\ncurve_secret = "));
	free(text);
	text = slurp(at(p, sizeof(p), "health.bristol-royal.pub"));
	cr_assert(strncmp(text, "# Haven public keys for health.bristol-royal",
	              44) == 0);
	cr_assert_not_null(strstr(text, "\nsign_public = "));
	cr_assert_not_null(strstr(text, "\nbox_public = "));
	cr_assert_not_null(strstr(text, "\ncurve_public = "));
	cr_assert_null(strstr(text, "secret ="));
	free(text);
	hv_keys_destroy(&k);
}

Test(keys, save_creates_a_missing_folder)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL, *l = NULL;
	char dir[128], p[160];

	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	at(dir, sizeof(dir), "a/b");
	cr_assert_eq(hv_keys_save(k, "ig.bristol", dir, NULL, &d), HV_OK, "%s",
	    d.message);
	snprintf(p, sizeof(p), "%s/ig.bristol.key", dir);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_OK, "%s", d.message);
	cr_assert(same_keys(k, l));
	hv_keys_destroy(&k);
	hv_keys_destroy(&l);
}

Test(keys, save_refuses_to_overwrite_and_leaves_the_existing_file_unchanged)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *k2 = NULL;
	char p[128], *before, *after;

	before = slurp(at(p, sizeof(p), "police.avon.key"));
	cr_assert_eq(hv_keys_generate(&k2), HV_OK);
	cr_assert_eq(hv_keys_save(k2, "police.avon", tmp, NULL, &d),
	    HV_EEXISTS);
	cr_assert_not_null(strstr(d.message, "police.avon.key"));
	after = slurp(p);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	hv_keys_destroy(&k);
	hv_keys_destroy(&k2);
}

Test(keys, save_writes_neither_file_when_only_the_public_one_exists)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL;
	struct stat st;
	char p[128];

	write_file(at(p, sizeof(p), "school.x.pub"), "# old\n", 0644);
	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, "school.x", tmp, NULL, &d), HV_EEXISTS);
	cr_assert_neq(stat(at(p, sizeof(p), "school.x.key"), &st), 0);
	hv_keys_destroy(&k);
}

Test(keys, save_refuses_a_bad_node_id)
{
	hv_keys *k = NULL;

	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, "Police/avon", tmp, NULL, NULL),
	    HV_EUSAGE);
	hv_keys_destroy(&k);
}

/* ---- secret file checks ------------------------------------------------- */

Test(keys, refuses_a_world_readable_secret_file)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128];

	cr_assert_eq(chmod(at(p, sizeof(p), "police.avon.key"), 0604), 0);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EINSECURE);
	cr_assert_null(l);
	cr_assert_not_null(strstr(d.message, "chmod 600"));
	hv_keys_destroy(&k);
}

/* A .pub where a secret key is wanted is named as such, never chmod. */
Test(keys, names_a_public_key_file_given_where_a_secret_one_is_wanted)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL);
	char p[128];

	cr_assert(hv_keys_is_public_file(at(p, sizeof(p), "police.avon.pub")));
	cr_assert_eq(hv_keys_secret_check(p, "--key", &d), HV_EUSAGE);
	cr_assert_not_null(strstr(d.message,
	                       "police.avon.pub is a public key "
	                       "file; --key needs the node's secret key file"),
	    "%s", d.message);
	cr_assert_null(strstr(d.message, "chmod"), "%s", d.message);
	cr_assert_not(
	    hv_keys_is_public_file(at(p, sizeof(p), "police.avon.key")));
	cr_assert_eq(hv_keys_secret_check(p, "--key", &d), HV_OK);
	cr_assert_not(hv_keys_is_public_file(at(p, sizeof(p), "missing")));
	hv_keys_destroy(&k);
}

Test(keys, refuses_a_group_readable_secret_file)
{
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128];

	cr_assert_eq(chmod(at(p, sizeof(p), "police.avon.key"), 0640), 0);
	cr_assert_eq(hv_keys_load(p, NULL, &l, NULL), HV_EINSECURE);
	cr_assert_eq(hv_secret_file_check(p, NULL), HV_EINSECURE);
	cr_assert_null(l);
	cr_assert_eq(chmod(p, 0600), 0);
	cr_assert_eq(hv_secret_file_check(p, NULL), HV_OK);
	hv_keys_destroy(&k);
}

Test(keys, refuses_a_secret_file_reached_through_a_symbolic_link)
{
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128], link[128];

	cr_assert_eq(symlink(at(p, sizeof(p), "police.avon.key"),
	                 at(link, sizeof(link), "link.key")),
	    0);
	cr_assert_eq(hv_keys_load(link, NULL, &l, NULL), HV_EINSECURE);
	hv_keys_destroy(&k);
}

Test(keys, refuses_a_folder_as_a_secret_file)
{
	char p[128];

	cr_assert_eq(mkdir(at(p, sizeof(p), "dir"), 0700), 0);
	cr_assert_eq(hv_secret_file_check(p, NULL), HV_EINSECURE);
}

Test(keys, a_missing_secret_file_is_an_io_error)
{
	hv_keys *l = NULL;
	char p[128];

	cr_assert_eq(hv_keys_load(at(p, sizeof(p), "none.key"), NULL, &l, NULL),
	    HV_EIO);
}

Test(keys, secret_file_read_refuses_a_file_larger_than_its_limit)
{
	char p[128], *buf = NULL;
	size_t len = 0;

	write_file(at(p, sizeof(p), "token"), "0123456789abcdef", 0600);
	cr_assert_eq(hv_secret_file_read(p, 15, &buf, &len, NULL),
	    HV_ETOOLARGE);
	cr_assert_null(buf);
	cr_assert_eq(hv_secret_file_read(p, 16, &buf, &len, NULL), HV_OK);
	cr_assert_eq(len, 16);
	cr_assert_str_eq(buf, "0123456789abcdef");
	hv_secret_free(buf);
}

/* ---- passphrases -------------------------------------------------------- */

Test(keys, passphrase_protected_file_round_trips)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("ig.bristol", "correct horse"), *l = NULL;
	char p[128];

	cr_assert_eq(hv_keys_load(at(p, sizeof(p), "ig.bristol.key"),
	                 "correct horse", &l, &d),
	    HV_OK, "%s", d.message);
	cr_assert(same_keys(k, l));
	hv_keys_destroy(&k);
	hv_keys_destroy(&l);
}

Test(keys, passphrase_protected_file_holds_no_plain_secret)
{
	hv_keys *k = make_saved("ig.bristol", "correct horse");
	char p[128], *text, b64[128];

	text = slurp(at(p, sizeof(p), "ig.bristol.key"));
	cr_assert_null(strstr(text, "_secret"));
	cr_assert_not_null(strstr(text, "\nkdf = argon2id\n"));
	cr_assert_not_null(strstr(text, "\nkdf_salt = "));
	cr_assert_not_null(strstr(text, "\nkdf_opslimit = "));
	cr_assert_not_null(strstr(text, "\nkdf_memlimit = "));
	cr_assert_not_null(strstr(text, "\nnonce = "));
	cr_assert_not_null(strstr(text, "\nsealed = "));
	sodium_bin2base64(b64, sizeof(b64), k->box_secret, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	cr_assert_null(strstr(text, b64));
	free(text);
	hv_keys_destroy(&k);
}

Test(keys, a_wrong_passphrase_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("ig.bristol", "correct horse"), *l = NULL;
	char p[128];

	cr_assert_eq(hv_keys_load(at(p, sizeof(p), "ig.bristol.key"),
	                 "battery staple", &l, &d),
	    HV_EPASSPHRASE);
	cr_assert_null(l);
	hv_keys_destroy(&k);
}

Test(keys, a_missing_passphrase_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("ig.bristol", "correct horse"), *l = NULL;
	char p[128];

	cr_assert_eq(hv_keys_load(at(p, sizeof(p), "ig.bristol.key"), NULL, &l,
	                 &d),
	    HV_EPASSPHRASE);
	cr_assert_null(l);
	cr_assert_not_null(strstr(d.message, "passphrase"));
	hv_keys_destroy(&k);
}

Test(keys, a_sealed_file_moved_to_another_node_name_is_refused)
{
	hv_keys *k = make_saved("ig.bristol", "pw"), *l = NULL;
	char p[128];

	edit_file(at(p, sizeof(p), "ig.bristol.key"), "node = ig.bristol",
	    "node = ig.avon");
	cr_assert_eq(hv_keys_load(p, "pw", &l, NULL), HV_EPASSPHRASE);
	hv_keys_destroy(&k);
}

Test(keys, passphrase_read_takes_the_first_line_without_its_newline)
{
	char p[128], *pass = NULL;

	write_file(at(p, sizeof(p), "pass"), "s3cret words\r\nsecond\n", 0600);
	cr_assert_eq(hv_passphrase_read(p, &pass, NULL), HV_OK);
	cr_assert_str_eq(pass, "s3cret words");
	hv_secret_free(pass);
}

Test(keys, passphrase_read_refuses_an_empty_first_line)
{
	struct hv_errdetail d = { 0 };
	char p[128], *pass = NULL;

	write_file(at(p, sizeof(p), "pass"), "\nsecond\n", 0600);
	cr_assert_eq(hv_passphrase_read(p, &pass, &d), HV_EPASSPHRASE);
	cr_assert_null(pass);
	write_file(p, "", 0600);
	cr_assert_eq(hv_passphrase_read(p, &pass, &d), HV_EPASSPHRASE);
	cr_assert_null(pass);
}

Test(keys, passphrase_read_refuses_a_file_others_may_read)
{
	char p[128], *pass = NULL;

	write_file(at(p, sizeof(p), "pass"), "words\n", 0644);
	cr_assert_eq(hv_passphrase_read(p, &pass, NULL), HV_EINSECURE);
	cr_assert_null(pass);
}

/* ---- malformed files ---------------------------------------------------- */

Test(keys, tampered_base64_is_refused_with_its_line_number)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128], v[160], bad[160];

	field_of(at(p, sizeof(p), "police.avon.key"), "box_secret", v,
	    sizeof(v));
	snprintf(bad, sizeof(bad), "%s", v);
	bad[5] = '*';
	edit_file(p, v, bad);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_null(l);
	/* Header on line 1, node 2, sign_secret 3, box_secret 4. */
	cr_assert_not_null(strstr(d.message, "police.avon.key:4:"), "%s",
	    d.message);
	cr_assert_not_null(strstr(d.message, "box_secret"), "%s", d.message);
	cr_assert_null(strstr(d.message, v));
	hv_keys_destroy(&k);
}

Test(keys, a_secret_of_the_wrong_length_is_refused_with_its_line_number)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128], v[160], shorter[160];

	field_of(at(p, sizeof(p), "police.avon.key"), "curve_secret", v,
	    sizeof(v));
	/* 24 base64 characters: 18 bytes instead of 32. */
	snprintf(shorter, sizeof(shorter), "%.24s", v);
	edit_file(p, v, shorter);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "police.avon.key:5:"), "%s",
	    d.message);
	cr_assert_not_null(strstr(d.message, "32 bytes, not 18"), "%s",
	    d.message);
	hv_keys_destroy(&k);
}

Test(keys, a_signing_secret_whose_halves_disagree_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL, *other = NULL, *l = NULL;
	uint8_t mixed[64];
	char p[128], v[160], b64[160];

	cr_assert_eq(hv_keys_generate(&other), HV_OK);
	k = make_saved("police.avon", NULL);
	/* The seed of one key with the public half of another. */
	memcpy(mixed, k->sign_secret, 32);
	memcpy(mixed + 32, other->pub.sign, 32);
	sodium_bin2base64(b64, sizeof(b64), mixed, 64,
	    sodium_base64_VARIANT_ORIGINAL);
	field_of(at(p, sizeof(p), "police.avon.key"), "sign_secret", v,
	    sizeof(v));
	edit_file(p, v, b64);
	unlink(at(v, sizeof(v), "police.avon.pub"));
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, ":3:"), "%s", d.message);
	hv_keys_destroy(&k);
	hv_keys_destroy(&other);
}

Test(keys, a_key_file_that_disagrees_with_its_public_file_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char key[128], pub[128], v[160], other[160];

	/* Give the .pub file another valid box key. */
	at(pub, sizeof(pub), "police.avon.pub");
	field_of(pub, "box_public", v, sizeof(v));
	field_of(pub, "curve_public", other, sizeof(other));
	edit_file(pub, v, other);
	cr_assert_eq(hv_keys_load(at(key, sizeof(key), "police.avon.key"), NULL,
	                 &l, &d),
	    HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "not a pair"), "%s", d.message);
	hv_keys_destroy(&k);
}

Test(keys, unknown_and_repeated_fields_are_refused_with_line_numbers)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = make_saved("police.avon", NULL), *l = NULL;
	char p[128], v[160], line[256];

	at(p, sizeof(p), "police.avon.key");
	edit_file(p, "node = police.avon\n",
	    "node = police.avon\ncolour = "
	    "blue\n");
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, ":3: unknown field 'colour'"),
	    "%s", d.message);
	edit_file(p, "colour = blue\n", "");
	field_of(p, "box_secret", v, sizeof(v));
	snprintf(line, sizeof(line), "box_secret = %s\n", v);
	append_file(p, line);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "appears twice (first on line 4)"),
	    "%s", d.message);
	hv_keys_destroy(&k);
}

Test(keys, a_file_without_name_value_lines_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *l = NULL;
	char p[128];

	write_file(at(p, sizeof(p), "x.key"), "# comment\n\njust text\n", 0600);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "x.key:3:"), "%s", d.message);
	write_file(p, "# only a comment\n", 0600);
	cr_assert_eq(hv_keys_load(p, NULL, &l, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "'node'"), "%s", d.message);
	cr_assert_null(l);
}

Test(keys, a_public_file_with_a_bad_key_is_refused_with_its_line_number)
{
	struct hv_errdetail d = { 0 };
	struct hv_pubkeys pub;
	char p[128];

	write_file(at(p, sizeof(p), "x.pub"),
	    "# Haven public keys\nnode = "
	    "police.avon\nsign_public = AAAA\nbox_public = AAAA\n"
	    "curve_public = AAAA\n",
	    0644);
	cr_assert_eq(hv_pubkeys_load(p, &pub, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "x.pub:3:"), "%s", d.message);
}

/* ---- subject key -------------------------------------------------------- */

Test(keys, subject_key_is_written_0600_and_loads_as_32_bytes)
{
	struct hv_errdetail d = { 0 };
	struct stat st;
	uint8_t *key = NULL, *again = NULL;
	char p[128], v[160], b64[64];

	cr_assert_eq(hv_subject_key_generate(at(p, sizeof(p), "subject.key"),
	                 &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(hv_subject_key_load(p, &key, &d), HV_OK, "%s", d.message);
	sodium_bin2base64(b64, sizeof(b64), key, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	cr_assert_str_eq(field_of(p, "subject_key", v, sizeof(v)), b64);
	cr_assert_eq(hv_subject_key_load(p, &again, &d), HV_OK);
	cr_assert_eq(memcmp(key, again, 32), 0);
	hv_secret_free(key);
	hv_secret_free(again);
}

Test(keys, subject_key_generate_refuses_to_overwrite)
{
	char p[128], *before, *after;

	cr_assert_eq(hv_subject_key_generate(at(p, sizeof(p), "subject.key"),
	                 NULL),
	    HV_OK);
	before = slurp(p);
	cr_assert_eq(hv_subject_key_generate(p, NULL), HV_EEXISTS);
	after = slurp(p);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
}

Test(keys, two_subject_keys_differ)
{
	uint8_t *a = NULL, *b = NULL;
	char p[128], q[128];

	cr_assert_eq(hv_subject_key_generate(at(p, sizeof(p), "a.key"), NULL),
	    HV_OK);
	cr_assert_eq(hv_subject_key_generate(at(q, sizeof(q), "b.key"), NULL),
	    HV_OK);
	cr_assert_eq(hv_subject_key_load(p, &a, NULL), HV_OK);
	cr_assert_eq(hv_subject_key_load(q, &b, NULL), HV_OK);
	cr_assert_neq(memcmp(a, b, 32), 0);
	hv_secret_free(a);
	hv_secret_free(b);
}

Test(keys, a_subject_key_of_the_wrong_length_is_refused)
{
	struct hv_errdetail d = { 0 };
	uint8_t *key = NULL;
	char p[128];

	write_file(at(p, sizeof(p), "subject.key"),
	    "# x\nsubject_key = "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	    0600);
	cr_assert_eq(hv_subject_key_load(p, &key, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "subject.key:2:"), "%s",
	    d.message);
	cr_assert_null(key);
	cr_assert_eq(chmod(p, 0644), 0);
	cr_assert_eq(hv_subject_key_load(p, &key, &d), HV_EINSECURE);
}

Test(keys, names_the_node_of_a_pub_given_where_another_role_is_expected)
{
	struct hv_errdetail d = { 0 };
	struct hv_pubkeys pub, untouched;
	hv_keys *b = make_saved("broker.bristol", NULL);
	hv_keys *p = make_saved("police.avon", NULL);
	char path[128];

	cr_assert_eq(hv_pubkeys_load_role(at(path, sizeof(path),
	                                      "broker.bristol.pub"),
	                 "broker", &pub, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(memcmp(&pub, &b->pub, sizeof(pub)), 0);
	memset(&untouched, 0x5a, sizeof(untouched));
	pub = untouched;
	cr_assert_eq(hv_pubkeys_load_role(at(path, sizeof(path),
	                                      "police.avon.pub"),
	                 "broker", &pub, &d),
	    HV_EUSAGE);
	cr_assert_not_null(strstr(d.message,
	                       "this is police.avon's key, not "
	                       "the broker's"),
	    "%s", d.message);
	cr_assert_eq(memcmp(&pub, &untouched, sizeof(pub)), 0,
	    "the output was written on failure");
	hv_keys_destroy(&b);
	hv_keys_destroy(&p);
}

/* ---- rotation ----------------------------------------------------------- */

/* Rotates tmp/OLD_DIR/NODE.key into tmp/NEW_DIR at now_ms. */
static void
rotate(const char *node, const char *old_dir, const char *new_dir,
    const char *pass, int64_t now_ms)
{
	struct hv_errdetail d = { 0 };
	char old[192], dir[160], *key_path = NULL;

	snprintf(old, sizeof(old), "%s/%s/%s.key", tmp, old_dir, node);
	snprintf(dir, sizeof(dir), "%s/%s", tmp, new_dir);
	cr_assert_eq(hv_keys_rotate(old, dir, pass, now_ms, &key_path, &d),
	    HV_OK, "%s", d.message);
	cr_assert_str_eq(key_path + strlen(dir) + 1, "police.avon.key");
	free(key_path);
}

static hv_keys *
load_in(const char *dir, const char *pass)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL;
	char p[192];

	snprintf(p, sizeof(p), "%s/%s/police.avon.key", tmp, dir);
	cr_assert_eq(hv_keys_load(p, pass, &k, &d), HV_OK, "%s", d.message);
	return k;
}

/* Saves police.avon's first keys in tmp/v1. */
static hv_keys *
first_keys(const char *pass)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = NULL;
	char dir[128];

	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, "police.avon", at(dir, sizeof(dir), "v1"),
	                 pass, &d),
	    HV_OK, "%s", d.message);
	return k;
}

static void
rotation_keeps_every_earlier_key(const char *pass)
{
	struct hv_errdetail d = { 0 };
	struct hv_prev_signs prev;
	struct hv_pubkeys pub;
	hv_keys *k1 = first_keys(pass), *k2, *k3;
	char p[160];

	rotate("police.avon", "v1", "v2", pass, 1800000000000LL);
	rotate("police.avon", "v2", "v3", pass, 1800000500500LL);
	k2 = load_in("v2", pass);
	k3 = load_in("v3", pass);
	cr_assert_neq(memcmp(k3->box_secret, k2->box_secret, 32), 0);
	cr_assert_eq(k3->n_prev_box, 2);
	cr_assert_eq(memcmp(k3->prev_box_secret[0], k2->box_secret, 32), 0);
	cr_assert_eq(memcmp(k3->prev_box_secret[1], k1->box_secret, 32), 0);
	cr_assert_eq(memcmp(k3->prev_box_public[1], k1->pub.box, 32), 0);
	cr_assert_eq(hv_pubkeys_load_prev(at(p, sizeof(p),
	                                      "v3/police.avon.pub"),
	                 &pub, &prev, &d),
	    HV_OK, "%s", d.message);
	cr_assert_eq(memcmp(&pub, &k3->pub, sizeof(pub)), 0);
	cr_assert_eq(prev.n, 2);
	cr_assert_eq(memcmp(prev.k[0].sign, k2->pub.sign, 32), 0);
	/* Rounded up to the second the file can say. */
	cr_assert_eq(prev.k[0].until_ms, 1800000501000LL);
	cr_assert_eq(memcmp(prev.k[1].sign, k1->pub.sign, 32), 0);
	cr_assert_eq(prev.k[1].until_ms, 1800000000000LL);
	/* The old files are left as they were. */
	hv_keys_destroy(&k2);
	k2 = load_in("v1", pass);
	cr_assert(same_keys(k1, k2));
	hv_keys_destroy(&k1);
	hv_keys_destroy(&k2);
	hv_keys_destroy(&k3);
}

Test(keys,
    rotation_keeps_every_earlier_payload_key_and_signing_key_newest_first)
{
	rotation_keeps_every_earlier_key(NULL);
}

Test(keys, rotation_of_a_passphrase_protected_file_seals_the_earlier_keys_too)
{
	char p[160], *text;

	rotation_keeps_every_earlier_key("correct horse");
	text = slurp(at(p, sizeof(p), "v3/police.avon.key"));
	cr_assert_null(strstr(text, "previous_box_secret"));
	cr_assert_not_null(strstr(text, "previous_box_sealed"));
	free(text);
}

Test(keys, rotation_refuses_to_overwrite_the_old_files)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = first_keys(NULL);
	char old[160], dir[128], *kp = NULL;

	cr_assert_eq(hv_keys_rotate(at(old, sizeof(old), "v1/police.avon.key"),
	                 at(dir, sizeof(dir), "v1"), NULL, 1800000000000LL, &kp,
	                 &d),
	    HV_EEXISTS);
	cr_assert_null(kp);
	hv_keys_destroy(&k);
}

Test(keys, a_previous_payload_key_sealed_under_another_passphrase_is_refused)
{
	struct hv_errdetail d = { 0 };
	hv_keys *k = first_keys("one"), *l = NULL;
	char p[160], other[200];

	rotate("police.avon", "v1", "v2", "one", 1800000000000LL);
	/* A previous secret of another file, sealed by another passphrase. */
	hv_keys_destroy(&k);
	cr_assert_eq(hv_keys_generate(&k), HV_OK);
	cr_assert_eq(hv_keys_save(k, "police.avon", at(p, sizeof(p), "w1"),
	                 "two", &d),
	    HV_OK);
	rotate("police.avon", "w1", "w2", "two", 1800000000000LL);
	field_of(at(p, sizeof(p), "w2/police.avon.key"), "previous_box_sealed",
	    other, sizeof(other));
	at(p, sizeof(p), "v2/police.avon.key");
	{
		char mine[200];

		field_of(p, "previous_box_sealed", mine, sizeof(mine));
		edit_file(p, mine, other);
	}
	cr_assert_eq(hv_keys_load(p, "one", &l, &d), HV_EPASSPHRASE);
	cr_assert_not_null(strstr(d.message, "previous_box_sealed"), "%s",
	    d.message);
	hv_keys_destroy(&k);
}

Test(keys, previous_signing_keys_must_carry_a_time_and_be_newest_first)
{
	struct hv_errdetail d = { 0 };
	struct hv_prev_signs prev;
	struct hv_pubkeys pub;
	hv_keys *k = first_keys(NULL);
	char p[160], key[80], line[200];

	rotate("police.avon", "v1", "v2", NULL, 1800000000000LL);
	at(p, sizeof(p), "v2/police.avon.pub");
	field_of(p, "previous_sign_public", key, sizeof(key));
	*strchr(key, ' ') = '\0';
	/* An older key listed after: fine. Listed before: refused. */
	snprintf(line, sizeof(line),
	    "previous_sign_public = %s "
	    "2020-01-01T00:00:00Z\n",
	    key);
	append_file(p, line);
	cr_assert_eq(hv_pubkeys_load_prev(p, &pub, &prev, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(prev.n, 2);
	snprintf(line, sizeof(line),
	    "previous_sign_public = %s "
	    "2030-01-01T00:00:00Z\n",
	    key);
	append_file(p, line);
	cr_assert_eq(hv_pubkeys_load_prev(p, &pub, &prev, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, ":9:"), "%s", d.message);
	cr_assert_not_null(strstr(d.message, "newest first"), "%s", d.message);
	edit_file(p, " 2030-01-01T00:00:00Z", "");
	cr_assert_eq(hv_pubkeys_load(p, &pub, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "stopped signing"), "%s",
	    d.message);
	edit_file(p, " 2020-01-01T00:00:00Z", " yesterday");
	cr_assert_eq(hv_pubkeys_load(p, &pub, &d), HV_EMALFORMED);
	cr_assert_not_null(strstr(d.message, "ISO 8601"), "%s", d.message);
	hv_keys_destroy(&k);
}

Test(keys, a_previous_signing_key_verifies_only_what_was_made_before_its_end)
{
	struct hv_prev_signs prev = { 0 };
	hv_keys *old = NULL, *cur = NULL;
	const uint8_t msg[] = "a tree head";
	uint8_t sig[64];

	cr_assert_eq(hv_keys_generate(&old), HV_OK);
	cr_assert_eq(hv_keys_generate(&cur), HV_OK);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), old->sign_secret);
	cr_assert_eq(hv_sign_verify_at(cur->pub.sign, NULL, msg, sizeof(msg),
	                 sig, 1000),
	    HV_EBADSIG);
	prev.n = 1;
	memcpy(prev.k[0].sign, old->pub.sign, 32);
	prev.k[0].until_ms = 5000;
	cr_assert_eq(hv_sign_verify_at(cur->pub.sign, &prev, msg, sizeof(msg),
	                 sig, 5000),
	    HV_OK);
	cr_assert_eq(hv_sign_verify_at(cur->pub.sign, &prev, msg, sizeof(msg),
	                 sig, 5001),
	    HV_EBADSIG);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), cur->sign_secret);
	cr_assert_eq(hv_sign_verify_at(cur->pub.sign, &prev, msg, sizeof(msg),
	                 sig, 9000),
	    HV_OK);
	hv_keys_destroy(&old);
	hv_keys_destroy(&cur);
}
