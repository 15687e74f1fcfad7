/*
 * test_sar — information governance over the audit log (SPEC §15), with
 * the real broker, four agents and bin/haven: refusals made at an agent
 * reach the broker's audit (also when the broker was down at the time),
 * a query or report made with another subject key is refused with a
 * sentence, and `haven audit sar` writes a report of every share, refusal
 * and decision not to share about a child, naming the signed tree head
 * that `haven audit verify` checked.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "agent_kit.h"
#include "harness.h"

#define WAIT_MS 20000
#define NHS "9434765919" /* the child of ak_message */

static struct h_partnership P;

static void
teardown(void)
{
	char why[600];
	int rc = ak_stop_and_check(&P, why, sizeof(why));

	h_partnership_destroy(&P);
	cr_assert_eq(rc, 0, "%s", why);
}

static void
setup(void)
{
	cr_assert_eq(ak_setup(&P, NULL), 0, "partnership did not start");
}

/* A request the police agent refuses: police may not refer to a school. */
static void
refused_by_policy(struct h_agent *pol)
{
	char *body = ak_message("[\"" AK_SCHOOL "\"]", "REFERRAL", "URGENT",
	    "denied", "");

	cr_assert_eq(ak_post(pol, "/v1/messages", body, NULL), 400);
	free(body);
}

/* A request with a basis that has no Article 6 condition. */
static void
refused_for_basis(struct h_agent *pol)
{
	cr_assert_eq(
	    ak_post(pol, "/v1/messages",
	        "{\"to\":[\"" AK_SOCIAL
	        "\"],\"type\":\"REFERRAL\",\"priority\":\"URGENT\",\"subject\":"
	        "{\"nhs\":\"" NHS "\"},\"basis\":{\"consent\":\"OBTAINED\","
	        "\"decided_by\":\"pc.basis\"}}",
	        NULL),
	    400);
}

struct grep {
	const char *cmd;
	const char *needle[3];
};

/* 1 when the command's output holds every needle. */
static int
output_has(void *ctx)
{
	struct grep *g = ctx;
	char *out = NULL;
	int ok;

	ok = h_sh(&out, 30, "%s", g->cmd) == 0 && out != NULL;
	for (int i = 0; ok && i < 3 && g->needle[i] != NULL; i++)
		ok = strstr(out, g->needle[i]) != NULL;
	free(out);
	return ok;
}

static char *
query_cmd(const char *more)
{
	return h_fmt("'%s' audit query --db '%s' %s 2>&1", h_bin("haven"),
	    P.broker_data, more);
}

/*
 * POLICY_DENIED and BASIS_INVALID refused by the police agent itself are
 * in the broker's log as REJECTED at: agent, with the sender, recipients,
 * type, code and decided_by, and without the justification.
 */
Test(sar, refusals_made_at_an_agent_are_audited_rejected_at_agent,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *cmd = query_cmd("--event REJECTED --format json");
	struct grep g = { cmd,
		{ "\"reason\":\"POLICY_DENIED\"",
		    "\"reason\":\"BASIS_INVALID\"", NULL } };
	char *out = NULL;
	json_t *doc;
	size_t i, n = 0;
	json_t *r;

	refused_by_policy(pol);
	refused_for_basis(pol);
	cr_assert(h_wait_until(output_has, &g, WAIT_MS),
	    "the agent's "
	    "refusals did not reach the broker's log within %d ms",
	    WAIT_MS);
	cr_assert_eq(h_sh(&out, 30, "%s", cmd), 0);
	doc = json_loads(strstr(out, "{"), 0, NULL);
	cr_assert_not_null(doc, "not JSON: %s", out);
	json_array_foreach (json_object_get(doc, "records"), i, r) {
		const char *reason =
		    json_string_value(json_object_get(r, "reason"));
		json_t *b = json_object_get(r, "basis");

		cr_assert_str_eq(json_string_value(json_object_get(r, "at")),
		    "agent");
		cr_assert_str_eq(json_string_value(
		                     json_object_get(r, "sender")),
		    AK_POLICE);
		cr_assert_str_eq(json_string_value(json_object_get(r, "type")),
		    "REFERRAL");
		cr_assert_not_null(json_string_value(
		                       json_object_get(r, "subject_key_id")),
		    "no subject-key id in %s", out);
		cr_assert(json_string_value(
		              json_object_get(b, "justification")) == NULL,
		    "a refusal report carried a "
		    "justification: %s",
		    out);
		if (strcmp(reason, "POLICY_DENIED") == 0)
			cr_assert_str_eq(json_string_value(
			                     json_array_get(json_object_get(r,
			                                        "recipients"),
			                         0)),
			    AK_SCHOOL);
		else
			cr_assert_str_eq(json_string_value(
			                     json_object_get(b, "decided_by")),
			    "pc.basis");
		n++;
	}
	cr_assert_eq(n, 2,
	    "expected exactly the two refusals, once each: "
	    "%s",
	    out);
	json_decref(doc);
	free(out);
	free(cmd);
	/* The table says where the refusal was made. */
	cmd = query_cmd("--event REJECTED");
	g.cmd = cmd;
	g.needle[0] = "POLICY_DENIED, at: agent";
	g.needle[1] = "BASIS_INVALID, at: agent";
	cr_assert(output_has(&g), "the table does not show at: agent");
	free(cmd);
}

/*
 * A refusal made while the broker is stopped waits in the agent's store,
 * across a kill -9 of the agent, and is audited once the broker is back.
 */
Test(sar, a_refusal_made_while_the_broker_is_down_is_audited_when_it_returns,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *cmd = query_cmd("--event REJECTED --sender " AK_POLICE);
	struct grep g = { cmd,
		{ "BASIS_INVALID, at: agent", "POLICY_DENIED, at: agent",
		    NULL } };

	cr_assert_eq(h_broker_stop(&P), 0);
	refused_for_basis(pol);
	refused_by_policy(pol);
	h_agent_kill(pol);
	cr_assert_eq(h_agent_start(&P, pol), 0, "the agent did not restart");
	cr_assert(!output_has(&g), "recorded while the broker was down?");
	cr_assert_eq(h_broker_start(&P), 0);
	cr_assert(h_wait_until(output_has, &g, WAIT_MS),
	    "the refusals made "
	    "while the broker was down were not audited within %d ms",
	    WAIT_MS);
	free(cmd);
}

/* Another subject key: exit 1 and a sentence, never "No records match". */
Test(sar, a_query_with_another_subject_key_is_refused_with_a_sentence,
    .init = setup, .fini = teardown, .timeout = 120)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *body = ak_message("[\"" AK_SCHOOL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "k", "");
	char *other = h_fmt("%s/other.subject", P.dir), *out = NULL, *cmd,
	     *more;
	char id[33], *html;
	struct grep g;

	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SCHOOL, WAIT_MS));
	cr_assert_eq(h_sh(&out, 30, "'%s' keygen --subject-key --out '%s'",
	                 h_bin("haven"), other),
	    0, "%s", out);
	free(out);
	out = NULL;

	cr_assert_eq(h_sh(&out, 30,
	                 "'%s' audit query --db '%s' "
	                 "--subject-nhs %s --subject-key '%s'",
	                 h_bin("haven"), P.broker_data, NHS, other),
	    1, "%s", out);
	cr_assert(strstr(out, "is not the partnership's: its id is ") != NULL &&
	        strstr(out, ", the log's records use ") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "No records") == NULL, "%s", out);
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 30,
	                 "'%s' audit sar --db '%s' --subject-nhs "
	                 "%s --subject-key '%s' -o '%s/r.html'",
	                 h_bin("haven"), P.broker_data, NHS, other, P.dir),
	    1, "%s", out);
	cr_assert(strstr(out, "is not the partnership's") != NULL, "%s", out);
	free(out);
	out = h_fmt("%s/r.html", P.dir);
	html = h_read(out);
	cr_assert_null(html, "a report was written with the wrong key");
	free(out);

	/* The partnership's own key finds the share. */
	more = h_fmt("--subject-nhs %s --subject-key '%s'", NHS, P.subject_key);
	cmd = query_cmd(more);
	free(more);
	g.cmd = cmd;
	g.needle[0] = "DOMESTIC_ABUSE_NOTIFICATION";
	g.needle[1] = id;
	g.needle[2] = NULL;
	cr_assert(output_has(&g), "the right key did not find the share");
	free(cmd);
	free(other);
	free(body);
}

struct head_match {
	char sar[4096];
	const char *path;
	char verify[2048];
	char root[65];
	long size;
};

/*
 * 1 when `audit verify` passes and the SAR (JSON) names a tree head of
 * the size and root verify reports; heads are signed within a second of
 * the records, so the caller polls.
 */
static int
head_matches(void *ctx)
{
	struct head_match *m = ctx;
	char *out = NULL, *s;
	json_t *doc = NULL, *v;
	int ok = 0;

	if (h_sh(&out, 30, "%s", m->verify) != 0 || out == NULL ||
	    (s = strstr(out, "audit log OK: ")) == NULL ||
	    sscanf(s, "audit log OK: %ld records", &m->size) != 1 ||
	    (s = strstr(s, "root ")) == NULL ||
	    sscanf(s, "root %64s", m->root) != 1)
		goto out;
	free(out);
	out = NULL;
	if (h_sh(&out, 30, "%s", m->sar) != 0)
		goto out;
	free(out);
	out = h_read(m->path);
	if (out == NULL || (doc = json_loads(out, 0, NULL)) == NULL)
		goto out;
	v = json_object_get(doc, "verification");
	ok = json_integer_value(json_object_get(v, "size")) == m->size &&
	    strcmp(json_string_value(json_object_get(v, "root")), m->root) == 0;
out:
	json_decref(doc);
	free(out);
	return ok;
}

/*
 * A child with a share, a refusal at the agent, a decision not to share,
 * the share's retraction and a legal hold: the SAR lists each in time
 * order in plain language, escapes what practitioners typed, and names the
 * signed tree head whose size and root are those `haven audit verify`
 * checked.
 */
Test(sar,
    a_report_lists_each_share_refusal_and_decision_under_the_verified_head,
    .init = setup, .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *hea = ak_agent(&P, AK_HEALTH);
	char *body = ak_message("[\"" AK_SCHOOL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "sar", "");
	char *html_path = h_fmt("%s/sar.html", P.dir);
	char *json_path = h_fmt("%s/sar.json", P.dir);
	char *cmd = query_cmd("--event REJECTED");
	struct grep g = { cmd, { "POLICY_DENIED, at: agent", NULL, NULL } };
	struct head_match m;
	char id[33], did[33], *out = NULL, *html, *line, *path;
	const char *share, *refusal, *decision, *retraction, *hold;

	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SCHOOL, WAIT_MS));

	/* The share is retracted. */
	path = h_fmt("/v1/messages/%s/retract", id);
	cr_assert_eq(ak_post(pol, path,
	                 "{\"reason\":\"MISDIRECTED\","
	                 "\"decided_by\":\"pc.sar\"}",
	                 NULL),
	    202);
	free(path);
	cr_assert(ak_wait_status(pol, id, "retracted", NULL, WAIT_MS));
	refused_by_policy(pol);
	cr_assert(h_wait_until(output_has, &g, WAIT_MS));
	cr_assert_eq(
	    ak_post(hea, "/v1/decisions",
	        "{\"type\":\"REFERRAL\","
	        "\"subject\":{\"nhs\":\"" NHS "\"},\"basis\":{\"consent\":"
	        "\"REFUSED\",\"art6\":\"PUBLIC_TASK\",\"art9\":\"NONE\","
	        "\"justification\":\"Threshold <b>not</b> met & discussed with "
	        "the named nurse.\",\"decided_by\":\"nurse.lee\"},"
	        "\"outcome\":\"NOT_SHARED\"}",
	        did),
	    202);
	cr_assert(ak_wait_status(hea, did, "accepted", NULL, WAIT_MS));

	/* Health puts the child's records on hold. */
	cr_assert_eq(
	    h_sh(&out, 30,
	        "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' "
	        "'%s' hold add --subject-nhs %s --subject-key '%s' --reason "
	        "'Care proceedings'",
	        hea->url, hea->token_file, h_bin("haven"), NHS, P.subject_key),
	    0, "%s", out ? out : "");
	free(out);
	out = NULL;
	free(cmd);
	cmd = query_cmd("--event HOLD_ADDED");
	g.cmd = cmd;
	g.needle[0] = "HOLD_ADDED";
	cr_assert(h_wait_until(output_has, &g, WAIT_MS));

	memset(&m, 0, sizeof(m));
	m.path = json_path;
	snprintf(m.verify, sizeof(m.verify),
	    "'%s' audit verify --db '%s' "
	    "2>&1",
	    h_bin("haven"), P.broker_data);
	snprintf(m.sar, sizeof(m.sar),
	    "'%s' audit sar --db '%s' "
	    "--subject-nhs %s --subject-key '%s' --format json -o '%s'",
	    h_bin("haven"), P.broker_data, NHS, P.subject_key, json_path);
	cr_assert(h_wait_until(head_matches, &m, WAIT_MS),
	    "the report never "
	    "named the head audit verify checked (verify: %ld records, root "
	    "%s)",
	    m.size, m.root);

	/* --key opens the justifications sealed to the ig node. */
	cr_assert_eq(
	    h_sh(&out, 30,
	        "'%s' audit sar --db '%s' --subject-nhs "
	        "%s --subject-key '%s' --key '%s/keys/ig.bristol.key' -o '%s'",
	        h_bin("haven"), P.broker_data, NHS, P.subject_key, P.dir,
	        html_path),
	    0, "%s", out);
	free(out);
	html = h_read(html_path);
	cr_assert_not_null(html);
	cr_assert(strstr(html, "<title>Subject access report</title>"));
	cr_assert(strstr(html, "NHS number 943 476 5919"), "%s", html);
	cr_assert(strstr(html, "@media print"));
	share = strstr(html,
	    "Police (police.avon) shared a domestic abuse "
	    "notification with Education (education.st-marys-primary).");
	refusal = strstr(html,
	    "Police (police.avon) tried to send a "
	    "referral to Education (education.st-marys-primary); its own "
	    "agent refused it");
	decision = strstr(html,
	    "Health (health.bristol-royal) decided not "
	    "to share a referral");
	retraction = strstr(html,
	    "Police (police.avon) retracted the "
	    "domestic abuse notification it had sent to Education "
	    "(education.st-marys-primary), because it was sent to the wrong "
	    "recipient (MISDIRECTED); decided by pc.sar.");
	hold = strstr(html,
	    "Health (health.bristol-royal) placed a legal "
	    "hold: records about the child are kept until it is removed.");
	cr_assert(share && refusal && decision && retraction && hold,
	    "missing an event: %s", html);
	cr_assert(share < retraction && retraction < refusal &&
	        refusal < decision && decision < hold,
	    "not in time order");
	cr_assert(strstr(html,
	              "Threshold &lt;b&gt;not&lt;/b&gt; met &amp; "
	              "discussed") != NULL,
	    "the justification is not escaped: %s", html);
	cr_assert(strstr(html, "<b>not</b>") == NULL);
	line = h_fmt("Verified against the signed tree head of size %ld, "
	             "root %s, signed at ",
	    m.size, m.root);
	cr_assert(strstr(html, line) != NULL,
	    "the HTML does "
	    "not name the verified head (%s): %s",
	    line, html);
	free(line);
	free(html);
	free(html_path);
	free(json_path);
	free(body);
	free(cmd);
}

/* s with each run of white space made one space, in place. */
static char *
squeeze(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; r++)
		if (!(*r == ' ' || *r == '\n') || (w > s && w[-1] != ' '))
			*w++ = *r == '\n' ? ' ' : *r;
	*w = '\0';
	return s;
}

/* `haven hold add --message ID` at agent ag; 0 on success. */
static int
hold_message(struct h_agent *ag, const char *id)
{
	char *out = NULL;
	int rc = h_sh(&out, 30,
	    "HAVEN_AGENT='%s' HAVEN_TOKEN_FILE='%s' '%s' hold add --message "
	    "%s --reason 'Care proceedings, case ZX-41'",
	    ag->url, ag->token_file, h_bin("haven"), id);

	if (rc != 0)
		cr_log_info("hold add at %s: %s", ag->id, out ? out : "");
	free(out);
	return rc;
}

/*
 * A hold on one message carries no pseudonym from the agent, yet the
 * child's report lists it: the broker audits HOLD_ADDED with the
 * pseudonym it recorded for that message, for its sender and for its
 * recipient. A node that was no party to the message holds none of it:
 * its agent refuses the hold, so no record of it reaches the log or the
 * report. The text format tells a terminal the same, and a listing's
 * format is refused for a report.
 */
Test(sar, a_hold_on_one_message_is_in_the_report_for_that_child, .init = setup,
    .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	struct h_agent *sch = ak_agent(&P, AK_SCHOOL);
	struct h_agent *hea = ak_agent(&P, AK_HEALTH);
	char *body = ak_message("[\"" AK_SCHOOL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "held", "");
	char *path = h_fmt("%s/held.html", P.dir);
	char *all = query_cmd("--event HOLD_ADDED --format json");
	char *child, *out = NULL, *html, *mine;
	struct grep g = { all, { AK_POLICE, AK_SCHOOL, NULL } };
	const char *p;
	char id[33];
	int n = 0;

	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SCHOOL, WAIT_MS));
	cr_assert_eq(hold_message(sch, id), 0);
	cr_assert_eq(hold_message(pol, id), 0);
	cr_assert_neq(hold_message(hea, id), 0,
	    "health held a message it neither sent nor received");
	cr_assert(h_wait_until(output_has, &g, WAIT_MS),
	    "the two holds never reached the broker's audit");

	/* The query by the child finds the recipient's and sender's holds. */
	child = h_fmt("--event HOLD_ADDED --subject-nhs %s --subject-key '%s' "
	              "--format json",
	    NHS, P.subject_key);
	free(all);
	all = query_cmd(child);
	free(child);
	cr_assert_eq(h_sh(&out, 30, "%s", all), 0, "%s", out ? out : "");
	cr_assert(strstr(out, id) != NULL, "%s", out);
	cr_assert(strstr(out, "\"" AK_SCHOOL "\"") != NULL, "%s", out);
	cr_assert(strstr(out, "\"" AK_HEALTH "\"") == NULL,
	    "a hold by a node that was no party names the child: %s", out);
	cr_assert(strstr(out, "ZX-41") == NULL, "the reason left the agent");
	free(out);
	out = NULL;

	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit sar --db '%s' --subject-nhs %s "
	                 "--subject-key '%s' -o '%s'",
	                 h_bin("haven"), P.broker_data, NHS, P.subject_key,
	                 path),
	    0, "%s", out ? out : "");
	free(out);
	html = h_read(path);
	cr_assert_not_null(html);
	mine = h_fmt("Education (" AK_SCHOOL ") placed a legal hold on the "
	             "domestic abuse notification: it is kept until the hold "
	             "is removed.");
	cr_assert(strstr(html, mine) != NULL, "%s", html);
	free(mine);
	cr_assert(strstr(html, "Police (" AK_POLICE ") placed a legal hold") !=
	        NULL,
	    "%s", html);
	for (p = html; (p = strstr(p, "placed a legal hold")) != NULL; p++)
		n++;
	cr_assert_eq(n, 2, "%d holds in the report: %s", n, html);
	free(html);

	/* The same report as text, to standard output, for a terminal. */
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit sar --db '%s' --subject-nhs %s "
	                 "--subject-key '%s' --format text -o -",
	                 h_bin("haven"), P.broker_data, NHS, P.subject_key),
	    0, "%s", out ? out : "");
	cr_assert(strncmp(out, "SUBJECT ACCESS REPORT\n", 22) == 0, "%s", out);
	for (char *l = out; (l = strchr(l, '\n')) != NULL; l++)
		cr_assert(strcspn(l + 1, "\n") <= 78, "a line is too wide: %s",
		    out);
	squeeze(out);
	cr_assert(strstr(out, "Child's reference: NHS number 943 476 5919") !=
	        NULL,
	    "%s", out);
	cr_assert(strstr(out,
	              "Education (" AK_SCHOOL ") placed a legal hold "
	              "on the domestic abuse notification") != NULL,
	    "%s", out);
	cr_assert(strstr(out,
	              "Verified against the signed tree head of size ") != NULL,
	    "%s", out);
	cr_assert(strstr(out, id) != NULL, "%s", out);
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 30,
	                 "'%s' audit sar --db '%s' --subject-nhs %s "
	                 "--subject-key '%s' --format csv -o - 2>&1",
	                 h_bin("haven"), P.broker_data, NHS, P.subject_key),
	    2, "%s", out ? out : "");
	cr_assert(strstr(out, "is not html, json or text") != NULL, "%s", out);
	free(out);
	free(path);
	free(all);
	free(body);
}

/*
 * Asked of the broker by the IG node (scope *): the report lists the
 * share, names the head the broker signed for the answer, and the request
 * is itself audited as AUDIT_QUERY; another subject key is refused there
 * too.
 */
Test(sar, a_remote_report_is_audited_and_refuses_another_subject_key,
    .init = setup, .fini = teardown, .timeout = 150)
{
	struct h_agent *pol = ak_agent(&P, AK_POLICE);
	char *body = ak_message("[\"" AK_SCHOOL "\"]",
	    "DOMESTIC_ABUSE_NOTIFICATION", "URGENT", "remote", "");
	char *path = h_fmt("%s/remote.html", P.dir);
	char *other = h_fmt("%s/other.subject", P.dir);
	char *remote = h_fmt("--broker %s --key '%s/keys/ig.bristol.key' "
	                     "--directory '%s' --root-pub '%s'",
	    P.endpoint, P.dir, P.directory, P.root_pub);
	char *cmd = query_cmd("--event AUDIT_QUERY");
	struct grep g = { cmd, { "ig.bristol", NULL, NULL } };
	char id[33], *out = NULL, *html;

	cr_assert_eq(ak_post(pol, "/v1/messages", body, id), 202);
	cr_assert(ak_wait_status(pol, id, "delivered", AK_SCHOOL, WAIT_MS));
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit sar %s --subject-nhs %s "
	                 "--subject-key '%s' -o '%s'",
	                 h_bin("haven"), remote, NHS, P.subject_key, path),
	    0, "%s", out);
	free(out);
	out = NULL;
	html = h_read(path);
	cr_assert_not_null(html);
	cr_assert(
	    strstr(html,
	        "Police (police.avon) shared a domestic abuse "
	        "notification with Education (education.st-marys-primary).") !=
	        NULL,
	    "%s", html);
	cr_assert(strstr(html,
	              "Verified against the signed tree head of "
	              "size ") != NULL,
	    "%s", html);
	cr_assert(strstr(html, id) != NULL, "the message id is missing");
	free(html);
	cr_assert(output_has(&g),
	    "the remote report was not audited as "
	    "AUDIT_QUERY by ig.bristol");

	cr_assert_eq(h_sh(&out, 30, "'%s' keygen --subject-key --out '%s'",
	                 h_bin("haven"), other),
	    0, "%s", out);
	free(out);
	out = NULL;
	cr_assert_eq(h_sh(&out, 60,
	                 "'%s' audit sar %s --subject-nhs %s "
	                 "--subject-key '%s' -o '%s/other.html'",
	                 h_bin("haven"), remote, NHS, other, P.dir),
	    1, "%s", out);
	cr_assert(strstr(out, "is not the partnership's") != NULL, "%s", out);
	free(out);
	free(cmd);
	free(remote);
	free(other);
	free(path);
	free(body);
}
