/*
 * Unit tests of hv_config: table-driven INI loading (SPEC §10), refusals
 * with "FILE:LINE: reason", path resolution and node ids (SPEC §3). Every
 * test writes its files into its own mkdtemp folder.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_config.h"
#include "fixture.h"

static char tmp[64];

static void
setup(void)
{
	fixture_tmpdir(tmp, sizeof(tmp), "config");
}

static void
teardown(void)
{
	fixture_rmtree(tmp);
}

TestSuite(config, .init = setup, .fini = teardown);

/* ---- an [agent]-like table ---------------------------------------------- */

struct cfg {
	char *id;
	char *key;
	char *data_dir;
	char *broker;
	char *listen;
	char *alert_command;
	uint64_t escalate_after;
	uint64_t max_message_bytes;
	uint64_t quota; /* the whole range of uint64_t */
};

#define OFF(f) offsetof(struct cfg, f)

static const struct hv_cfg_key keys[] = {
	{ "id", HV_CFG_NODE, OFF(id), 1, NULL, 0, 0 },
	{ "key", HV_CFG_PATH, OFF(key), 1, NULL, 0, 0 },
	{ "data_dir", HV_CFG_PATH, OFF(data_dir), 0, "data", 0, 0 },
	{ "broker", HV_CFG_ZMQ_ENDPOINT, OFF(broker), 1, NULL, 0, 0 },
	{ "listen", HV_CFG_LISTEN, OFF(listen), 1, NULL, 0, 0 },
	{ "alert_command", HV_CFG_STRING, OFF(alert_command), 0, NULL, 0, 0 },
	{ "escalate_after", HV_CFG_U64, OFF(escalate_after), 0, "900", 1,
	    30 * 86400 },
	{ "max_message_bytes", HV_CFG_U64, OFF(max_message_bytes), 0, "1048576",
	    1024, 64 * 1024 * 1024 },
	{ "quota", HV_CFG_U64, OFF(quota), 0, NULL, 0, UINT64_MAX },
	{ NULL, 0, 0, 0, NULL, 0, 0 },
};

/* Writes text to tmp/name and returns the path in a static buffer. */
static const char *
write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fputs(text, fp) >= 0, 1);
	cr_assert_eq(fclose(fp), 0);
	return path;
}

static void
assert_all_freed(const struct cfg *c)
{
	cr_assert_null(c->id);
	cr_assert_null(c->key);
	cr_assert_null(c->data_dir);
	cr_assert_null(c->broker);
	cr_assert_null(c->listen);
	cr_assert_null(c->alert_command);
}

/*
 * Loads text and checks it is refused as BAD_CONFIG with a message that is
 * exactly "PATH:LINE: ..." containing reason, the detail's field set to
 * field, and nothing left allocated in the output.
 */
static void
expect_refused(const char *text, int line, const char *field,
    const char *reason)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf", text);
	char prefix[320];
	hv_err err;

	memset(&c, 0, sizeof(c));
	hv_errclear(&d);
	err = hv_config_load(path, "agent", keys, &c, &d);
	cr_assert_eq(err, HV_EBADCONFIG, "got %s for:\n%s", hv_errname(err),
	    text);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	cr_assert(strncmp(d.message, prefix, strlen(prefix)) == 0,
	    "message '%s' does not start with '%s'", d.message, prefix);
	cr_assert_not_null(strstr(d.message, reason),
	    "message '%s' does not say '%s'", d.message, reason);
	cr_assert_str_eq(d.field, field, "field '%s', wanted '%s' (%s)",
	    d.field, field, d.message);
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

#define HEAD \
	"; Avon and Somerset Police's agent\n" /* 1 */ \
	"\n" /* 2 */ \
	"[agent]\n" /* 3 */ \
	"id = police.avon\n" /* 4 */ \
	"key = keys/police.avon.key\n" /* 5 */
#define TAIL \
	"broker = tcp://127.0.0.1:7400\n" \
	"listen = 127.0.0.1:7501\n"

/* ---- loading -------------------------------------------------------- */

Test(config, loads_an_agent_file_and_fills_defaults)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf",
	    HEAD TAIL
	    "alert_command = /usr/local/bin/page-duty-team --urgent\n");
	char want[256];

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_str_eq(c.id, "police.avon");
	snprintf(want, sizeof(want), "%s/keys/police.avon.key", tmp);
	cr_assert_str_eq(c.key, want);
	snprintf(want, sizeof(want), "%s/data", tmp);
	cr_assert_str_eq(c.data_dir, want);
	cr_assert_str_eq(c.broker, "tcp://127.0.0.1:7400");
	cr_assert_str_eq(c.listen, "127.0.0.1:7501");
	cr_assert_str_eq(c.alert_command,
	    "/usr/local/bin/page-duty-team --urgent");
	cr_assert_eq(c.escalate_after, 900);
	cr_assert_eq(c.max_message_bytes, 1048576);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

Test(config, leaves_an_optional_key_without_default_unset)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf", HEAD TAIL);

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_null(c.alert_command);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, takes_given_numbers_at_the_edges_of_their_range)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf",
	    HEAD TAIL "escalate_after = 1\n"
	              "max_message_bytes = 67108864\n");

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(c.escalate_after, 1);
	cr_assert_eq(c.max_message_bytes, 64 * 1024 * 1024);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, accepts_a_wildcard_port_and_port_zero)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf",
	    HEAD "broker = tcp://127.0.0.1:*\n"
	         "listen = 127.0.0.1:0\n");

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_str_eq(c.broker, "tcp://127.0.0.1:*");
	cr_assert_str_eq(c.listen, "127.0.0.1:0");
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, keeps_an_absolute_path_as_it_is)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf",
	    "[agent]\n"
	    "id = police.avon\n"
	    "key = /etc/haven/keys/police.avon.key\n"
	    "data_dir = /var/lib/haven/police.avon\n" TAIL);

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_str_eq(c.key, "/etc/haven/keys/police.avon.key");
	cr_assert_str_eq(c.data_dir, "/var/lib/haven/police.avon");
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, resolves_relative_paths_against_the_config_folder)
{
	struct cfg c;
	struct hv_errdetail d;
	char sub[128], path[192], want[256];
	FILE *fp;

	snprintf(sub, sizeof(sub), "%s/etc", tmp);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/agent.conf", sub);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs("[agent]\nid = police.avon\nkey = ../keys/p.key\n"
	      "data_dir = data/police.avon\n" TAIL,
	    fp);
	fclose(fp);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	snprintf(want, sizeof(want), "%s/../keys/p.key", sub);
	cr_assert_str_eq(c.key, want);
	snprintf(want, sizeof(want), "%s/data/police.avon", sub);
	cr_assert_str_eq(c.data_dir, want);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, reports_a_missing_file_as_an_io_error)
{
	struct cfg c;
	struct hv_errdetail d;
	char path[128];

	snprintf(path, sizeof(path), "%s/absent.conf", tmp);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_EIO);
	cr_assert_not_null(strstr(d.message, path), "%s", d.message);
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

Test(config, free_accepts_a_struct_that_holds_nothing)
{
	struct cfg c;

	memset(&c, 0, sizeof(c));
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

/* ---- refusals ----------------------------------------------------------- */

Test(config, refuses_an_unknown_key_naming_its_line)
{
	expect_refused(HEAD "colour = blue\n" TAIL, 6, "colour",
	    "unknown key 'colour'");
}

Test(config, refuses_a_key_of_another_section)
{
	expect_refused(HEAD TAIL "\n[broker]\nbind = tcp://127.0.0.1:7400\n",
	    10, "bind", "section [broker]");
}

Test(config, refuses_a_key_before_any_section)
{
	expect_refused("id = police.avon\n[agent]\nkey = k\n" TAIL, 1, "id",
	    "section []");
}

Test(config, refuses_a_duplicate_key_at_its_second_line)
{
	expect_refused(HEAD TAIL "id = police.avon\n", 8, "id", "set twice");
}

Test(config, refuses_an_empty_value)
{
	expect_refused(HEAD "alert_command =\n" TAIL, 6, "alert_command",
	    "empty value");
}

Test(config, refuses_a_negative_number)
{
	expect_refused(HEAD "escalate_after = -5\n" TAIL, 6, "escalate_after",
	    "'-5' for escalate_after is not a whole number from 1 to 2592000");
}

/* strtoull takes "-1" as 2^64 - 1: the sign must be refused by itself. */
Test(config, refuses_a_negative_number_where_any_uint64_is_allowed)
{
	expect_refused(HEAD "quota = -1\n" TAIL, 6, "quota", "'-1'");
}

Test(config, refuses_a_number_of_2_to_the_64_where_any_uint64_is_allowed)
{
	expect_refused(HEAD "quota = 18446744073709551616\n" TAIL, 6, "quota",
	    "'18446744073709551616'");
}

Test(config, takes_the_largest_uint64)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf",
	    HEAD TAIL "quota = 18446744073709551615\n");

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(c.quota, UINT64_MAX);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, refuses_a_number_below_its_minimum)
{
	expect_refused(HEAD "escalate_after = 0\n" TAIL, 6, "escalate_after",
	    "'0'");
	expect_refused(HEAD "max_message_bytes = 1023\n" TAIL, 6,
	    "max_message_bytes", "'1023'");
}

Test(config, refuses_a_number_above_its_maximum)
{
	expect_refused(HEAD "escalate_after = 2592001\n" TAIL, 6,
	    "escalate_after", "'2592001'");
}

Test(config, refuses_a_number_too_large_for_64_bits)
{
	expect_refused(HEAD "escalate_after = 99999999999999999999999\n" TAIL,
	    6, "escalate_after", "not a whole number");
}

Test(config, refuses_a_number_with_trailing_text)
{
	expect_refused(HEAD "escalate_after = 900s\n" TAIL, 6, "escalate_after",
	    "'900s'");
	expect_refused(HEAD "escalate_after = 9 00\n" TAIL, 6, "escalate_after",
	    "'9 00'");
	expect_refused(HEAD "escalate_after = 0x10\n" TAIL, 6, "escalate_after",
	    "'0x10'");
}

Test(config, refuses_a_bad_node_id)
{
	expect_refused("[agent]\nid = Police.Avon\nkey = k\n" TAIL, 2, "id",
	    "'Police.Avon' for id is not a node id");
	expect_refused("[agent]\nkey = k\nid = police\n" TAIL, 3, "id",
	    "not a node id");
}

Test(config, refuses_a_bad_broker_endpoint)
{
	static const char *bad[] = {
		"127.0.0.1:7400",
		"tcp://127.0.0.1",
		"tcp://127.0.0.1:",
		"tcp://:7400",
		"tcp://127.0.0.1:74a0",
		"tcp://127.0.0.1:65536",
		"ipc:///tmp/haven",
		"tcp://127.0.0.1:-1",
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    HEAD "broker = %s\n"
		         "listen = 127.0.0.1:7501\n",
		    bad[i]);
		expect_refused(text, 6, "broker", "is not an endpoint like");
	}
}

Test(config, refuses_a_bad_listen_address)
{
	static const char *bad[] = {
		"7501",
		"127.0.0.1:",
		":7501",
		"127.0.0.1:x",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		/* SPEC §7: the API is served on the loopback network only. */
		"0.0.0.0:7501",
		"10.1.2.3:7501",
		"192.168.0.127:7501",
		"[::]:7501",
		"example.org:7501",
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    HEAD "listen = %s\n"
		         "broker = tcp://127.0.0.1:7400\n",
		    bad[i]);
		expect_refused(text, 6, "listen", "for listen is not a");
	}
}

Test(config, refuses_a_line_that_is_not_a_key_or_section)
{
	expect_refused(HEAD "this line has no equals sign\n" TAIL, 6, "config",
	    "syntax error");
}

Test(config, refuses_an_unclosed_section_header)
{
	expect_refused("; x\n[agent\nid = police.avon\n", 2, "config",
	    "syntax error");
}

Test(config, refuses_a_missing_required_key_naming_it)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path =
	    write_conf("agent.conf", HEAD "broker = tcp://127.0.0.1:7400\n");
	char want[320];

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d),
	    HV_EBADCONFIG);
	snprintf(want, sizeof(want),
	    "%s: required key 'listen' is missing "
	    "from [agent]",
	    path);
	cr_assert_str_eq(d.message, want);
	cr_assert_str_eq(d.field, "listen");
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

Test(config, refuses_a_file_without_its_section)
{
	struct cfg c;
	struct hv_errdetail d;
	const char *path = write_conf("agent.conf", "; empty\n");

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d),
	    HV_EBADCONFIG);
	cr_assert_str_eq(d.field, "id");
	assert_all_freed(&c);
	fixture_assert_no_leaks();
}

/*
 * inih goes on parsing after a bad line; the reason and field reported must
 * still be those of the first bad line, not of a later one.
 */
Test(config, reports_the_first_bad_line_when_valid_keys_follow_it)
{
	expect_refused(HEAD "escalate_after = soon\n" TAIL
	                    "alert_command = /bin/true\n",
	    6, "escalate_after", "'soon'");
}

Test(config, reports_the_first_of_two_bad_keys)
{
	expect_refused(HEAD "colour = blue\n" TAIL "escalate_after = -1\n", 6,
	    "colour", "unknown key 'colour'");
}

Test(config, reports_a_syntax_error_before_a_bad_key)
{
	expect_refused(HEAD "no equals here\n" TAIL "colour = blue\n", 6,
	    "config", "syntax error");
}

Test(config, reports_a_bad_key_before_a_syntax_error)
{
	expect_refused(HEAD "colour = blue\n" TAIL "no equals here\n", 6,
	    "colour", "unknown key 'colour'");
}

/* A line of n characters (without its newline) "alert_command = xxx...". */
static void
long_line(char *buf, size_t n)
{
	static const char lead[] = "alert_command = ";

	memcpy(buf, lead, sizeof(lead) - 1);
	memset(buf + sizeof(lead) - 1, 'x', n - (sizeof(lead) - 1));
	buf[n] = '\0';
}

Test(config, takes_a_line_of_199_characters_whole)
{
	struct cfg c;
	struct hv_errdetail d;
	char line[256], text[1024];
	const char *path;

	long_line(line, 199);
	snprintf(text, sizeof(text), HEAD TAIL "%s\n", line);
	path = write_conf("agent.conf", text);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(strlen(c.alert_command), 199 - 16);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

Test(config, takes_a_line_of_199_characters_without_a_final_newline)
{
	struct cfg c;
	struct hv_errdetail d;
	char line[256], text[1024];
	const char *path;

	long_line(line, 199);
	snprintf(text, sizeof(text), HEAD TAIL "%s", line);
	path = write_conf("agent.conf", text);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(hv_config_load(path, "agent", keys, &c, &d), HV_OK, "%s",
	    d.message);
	cr_assert_eq(strlen(c.alert_command), 199 - 16);
	hv_config_free(keys, &c);
	fixture_assert_no_leaks();
}

/*
 * inih reads lines into a 200-byte buffer; a longer value must be refused
 * at its own line, never cut short, and later lines keep their numbers.
 */
Test(config, refuses_a_line_too_long_to_read_whole)
{
	char line[1024], text[2048];

	long_line(line, 200);
	snprintf(text, sizeof(text), HEAD "%s\n" TAIL, line);
	expect_refused(text, 6, "config", "longer than 199 characters");
	long_line(line, 1000);
	snprintf(text, sizeof(text), HEAD "%s\n" TAIL, line);
	expect_refused(text, 6, "config", "longer than 199 characters");
}

Test(config, refuses_a_long_value_whose_cut_off_end_looks_like_a_comment)
{
	char line[1024], text[2048];

	long_line(line, 300);
	line[199] = ';';
	snprintf(text, sizeof(text), HEAD TAIL "%s\n", line);
	expect_refused(text, 8, "config", "longer than 199 characters");
}

Test(config, reports_a_bad_line_before_a_long_one)
{
	char line[1024], text[2048];

	long_line(line, 400);
	snprintf(text, sizeof(text), HEAD "colour = blue\n%s\n" TAIL, line);
	expect_refused(text, 6, "colour", "unknown key 'colour'");
	snprintf(text, sizeof(text), HEAD "no equals\n%s\n" TAIL, line);
	expect_refused(text, 6, "config", "syntax error");
}

/* ---- paths -------------------------------------------------------------- */

Test(config, finds_the_folder_of_a_path)
{
	char *s;

	s = hv_path_dirname("/etc/haven/agent.conf");
	cr_assert_str_eq(s, "/etc/haven");
	free(s);
	s = hv_path_dirname("/agent.conf");
	cr_assert_str_eq(s, "/");
	free(s);
	s = hv_path_dirname("agent.conf");
	cr_assert_str_eq(s, ".");
	free(s);
	s = hv_path_dirname("conf/agent.conf");
	cr_assert_str_eq(s, "conf");
	free(s);
}

Test(config, joins_relative_paths_and_copies_absolute_ones)
{
	char *s;

	s = hv_path_resolve("/etc/haven", "keys/a.key");
	cr_assert_str_eq(s, "/etc/haven/keys/a.key");
	free(s);
	s = hv_path_resolve("/etc/haven", "/srv/a.key");
	cr_assert_str_eq(s, "/srv/a.key");
	free(s);
	s = hv_path_resolve(".", "keys/a.key");
	cr_assert_str_eq(s, "keys/a.key");
	free(s);
	s = hv_path_resolve(NULL, "keys/a.key");
	cr_assert_str_eq(s, "keys/a.key");
	free(s);
}

/* ---- node ids ----------------------------------------------------------- */

Test(config, accepts_the_node_ids_of_the_spec)
{
	static const char *good[] = {
		"police.avon",
		"health.bristol-royal",
		"social-care.bristol",
		"education.st-marys-primary",
		"ig.bristol",
		"broker.bristol",
		"root.bristol",
		"a.b",
		"police.avon.east",
		"p0.x9",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(hv_node_id_valid(good[i]), "%s refused", good[i]);
}

Test(config, refuses_malformed_node_ids)
{
	static const char *bad[] = {
		"",
		"Police.avon",
		"police.Avon",
		"police",
		".avon",
		"police.",
		"a..b",
		"police avon",
		"police. avon",
		" police.avon",
		"police.avon ",
		"police_avon.x",
		"police.avon/1",
		"police:avon",
		"poli\xc3\xa7"
		"e.avon",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!hv_node_id_valid(bad[i]), "'%s' accepted", bad[i]);
}

Test(config, accepts_64_characters_and_refuses_65)
{
	char id[80];

	memset(id, 'a', sizeof(id));
	id[6] = '.';
	id[64] = '\0';
	cr_assert(hv_node_id_valid(id), "64 characters refused");
	id[64] = 'a';
	id[65] = '\0';
	cr_assert(!hv_node_id_valid(id), "65 characters accepted");
}

Test(config, gives_the_role_before_the_first_dot)
{
	char buf[32];

	hv_node_role("police.avon", buf, sizeof(buf));
	cr_assert_str_eq(buf, "police");
	hv_node_role("social-care.bristol", buf, sizeof(buf));
	cr_assert_str_eq(buf, "social-care");
	hv_node_role("police.avon.east", buf, sizeof(buf));
	cr_assert_str_eq(buf, "police");
	hv_node_role("nodot", buf, sizeof(buf));
	cr_assert_str_eq(buf, "nodot");
}

Test(config, truncates_a_role_to_the_buffer)
{
	char buf[5];

	memset(buf, 'z', sizeof(buf));
	hv_node_role("social-care.bristol", buf, sizeof(buf));
	cr_assert_str_eq(buf, "soci");
	buf[0] = 'q';
	hv_node_role("police.avon", buf, 0);
	cr_assert_eq(buf[0], 'q');
}

/* retention_days.TYPE (SPEC §15): per-name values, unknown names refused. */
struct map_cfg {
	uint64_t days;
	struct hv_cfg_u64_map by_type;
};

static const struct hv_cfg_key map_keys[] = {
	{ "retention_days", HV_CFG_U64, offsetof(struct map_cfg, days), 0,
	    "2190", 0, 36500 },
	{ "retention_days.", HV_CFG_U64_BY_NAME,
	    offsetof(struct map_cfg, by_type), 0, NULL, 0, 36500 },
	{ NULL, 0, 0, 0, NULL, 0, 0 },
};

static const char *const map_names[] = { "REFERRAL", "CASE_UPDATE", NULL };

Test(config, reads_a_value_per_name_and_refuses_an_unknown_name_by_line)
{
	char dir[] = "/tmp/hv-cfgmap-XXXXXX", path[64];
	struct map_cfg c;
	struct hv_errdetail d;
	uint64_t v = 0;
	FILE *fp;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	fp = fopen(path, "w");
	fputs("[agent]\nretention_days.REFERRAL = 7\n", fp);
	fclose(fp);
	memset(&c, 0, sizeof(c));
	c.by_type.names = map_names;
	hv_errclear(&d);
	cr_assert_eq(hv_config_load(path, "agent", map_keys, &c, &d), HV_OK,
	    "%s", d.message);
	cr_assert_eq(c.days, 2190);
	cr_assert(hv_cfg_map_get(&c.by_type, "REFERRAL", &v));
	cr_assert_eq(v, 7);
	cr_assert_not(hv_cfg_map_get(&c.by_type, "CASE_UPDATE", &v));

	fp = fopen(path, "w");
	fputs("[agent]\nretention_days = 1\nretention_days.GOSSIP = 2\n", fp);
	fclose(fp);
	memset(&c, 0, sizeof(c));
	c.by_type.names = map_names;
	cr_assert_eq(hv_config_load(path, "agent", map_keys, &c, &d),
	    HV_EBADCONFIG);
	cr_assert(strstr(d.message, "a.conf:3:") != NULL, "%s", d.message);
	cr_assert(strstr(d.message, "GOSSIP") != NULL, "%s", d.message);
	unlink(path);
	rmdir(dir);
}
