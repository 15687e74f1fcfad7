/*
 * haven audit — the manual pages, written for an information-governance
 * officer rather than a developer: what each command answers, what the
 * lawful-basis fields mean, what a signed tree head proves, and the exit
 * status.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"

static const char overview[] =
"usage: haven audit COMMAND [OPTIONS]\n"
"\n"
"The audit trail answers an information-governance officer's questions:\n"
"who shared what about a child, with whom, when and on what basis; which\n"
"decisions not to share were recorded, and why; and whether anyone has\n"
"altered the record since. It never holds a message's content or a\n"
"child's details: a child appears only as a pseudonym.\n"
"\n"
"Commands:\n"
"  query        records about a child, a message, a node, a role or a "
"period\n"
"  export       every record of a period, as JSON or CSV\n"
"  verify       check every record, index and signed tree head of the log\n"
"  prove ID     an inclusion proof for one message, as JSON\n"
"  check-proof  check a proof offline with the broker's public key\n"
"  consistency  a proof that a later signed tree head extends an earlier "
"one\n"
"  sar          a subject access report about one child, HTML or JSON\n"
"\n"
"Run 'haven audit COMMAND --help' for each command's options.\n"
"\n"
"WHERE THE LOG IS\n"
"  --db DIR is the broker's data_dir. It is opened read-only: the commands\n"
"  read one consistent snapshot, never change the log, and are safe while\n"
"  the broker runs. Run them on the broker host as a user who may read\n"
"  DIR/data.mdb and write DIR/lock.mdb (LMDB's reader table). Queries made\n"
"  with --db are not themselves recorded in the log.\n"
"\n"
"  --broker ENDPOINT --key IG.key --directory FILE asks the broker over\n"
"  the network instead (query, prove, consistency), as an ig.* node of the\n"
"  agreement. The broker answers only with records within that node's\n"
"  scope (scope=* sees everything; scope=police sees the records whose\n"
"  sender or a recipient is a police node, and the node's own queries),\n"
"  and records every question in the log as AUDIT_QUERY: who asked, and\n"
"  the filter in words. The directory names the broker's keys: the\n"
"  connection is encrypted to the broker's key, and every answer carries\n"
"  a tree head that must be signed by the broker's key or the answer is\n"
"  refused. Remote options:\n"
"    --broker ENDPOINT    the broker's address, tcp://HOST:PORT\n"
"    --key IG.key         the ig node's secret key file (mode 0600)\n"
"    --passphrase-file F  the passphrase of a protected key file\n"
"    --directory FILE     the partnership's signed directory\n"
"    --root-pub F         the root's .pub file: check the directory's\n"
"                         signature first (recommended; without it the\n"
"                         file is taken as it is, and a note says so)\n"
"    --timeout S          give up after S seconds (default 10; exit 3)\n"
"  One answer holds at most 1000 records; when more match, the output\n"
"  says so and the filter should be narrowed (--since, --until).\n";

static const char basis[] =
"\n"
"WHAT A RECORD SAYS ABOUT THE LAWFUL BASIS\n"
"  The seven golden rules of information sharing ask practitioners to\n"
"  share with consent where appropriate, to record why when consent is\n"
"  not sought or is refused, to share only what is necessary and\n"
"  proportionate, and to keep a record of every decision, including a\n"
"  decision not to share. Every share and every such decision carries:\n"
"  consent        OBTAINED      the child or family agreed to this share\n"
"                 NOT_SOUGHT    consent was not asked for (for example,\n"
"                               asking would put the child at risk or\n"
"                               warn a suspect)\n"
"                 REFUSED       consent was refused and the practitioner\n"
"                               shared anyway, judging the risk of harm\n"
"                               to outweigh it\n"
"                 NOT_POSSIBLE  consent could not be sought (no one could\n"
"                               be reached, or lacks capacity)\n"
"  art6           the UK GDPR Article 6 lawful basis: PUBLIC_TASK,\n"
"                 LEGAL_OBLIGATION, VITAL_INTERESTS, CONSENT (only with\n"
"                 consent OBTAINED) or LEGITIMATE_INTERESTS\n"
"  art9           the Article 9 condition for special category data such\n"
"                 as health: NONE, SAFEGUARDING (DPA 2018 Sch 1 para 18),\n"
"                 HEALTH_SOCIAL_CARE (Art 9(2)(h)), EXPLICIT_CONSENT,\n"
"                 VITAL_INTERESTS or LEGAL_CLAIMS\n"
"  justification  in the practitioner's words, why sharing was necessary\n"
"                 and proportionate; required (20 characters or more)\n"
"                 whenever consent is not OBTAINED\n"
"  decided_by     who made the decision (a practitioner or a role)\n"
"  The broker refuses a share whose basis breaks these rules, and records\n"
"  the refusal (REJECTED, reason BASIS_INVALID).\n"
"\n"
"EVENTS\n"
"  SUBMITTED          the broker accepted a share for delivery\n"
"  REJECTED           the broker refused a message; reason gives the code\n"
"                     (POLICY_DENIED: the agreement does not allow it)\n"
"  DELIVERED          a recipient agency's system received it (actor)\n"
"  ACKNOWLEDGED       a person at the recipient acknowledged it (actor)\n"
"  ESCALATED          an alert was not acknowledged in time\n"
"  EXPIRED            a message could not be delivered before its time-out\n"
"  DECISION_RECORDED  a decision NOT to share, with its basis and reasons\n"
"  DIRECTORY_LOADED   the broker put an agreement version in force\n"
"  AUDIT_QUERY        someone queried the log over the network\n";

static const char trust[] =
"\n"
"WHAT A SIGNED TREE HEAD PROVES\n"
"  Records are the leaves of a Merkle tree (RFC 6962, as in Certificate\n"
"  Transparency). At least every second while records arrive, the broker\n"
"  signs a tree head: the number of records, the tree's root hash and the\n"
"  time. A signed head commits the broker to every record up to that\n"
"  size: changing, removing or reordering any of them changes the root,\n"
"  and the signature no longer matches. An inclusion proof shows that one\n"
"  record is under a signed root; a consistency proof shows that a later\n"
"  head extends an earlier one, so that history was only added to. Anyone\n"
"  holding the broker's public key can check either, offline.\n"
"\n"
"TIMES AND IDS\n"
"  Times are ISO 8601 UTC (2026-11-22, 2026-11-22T09:14, \n"
"  2026-11-22T09:14:03Z) or unix seconds, and are shown in UTC. --until\n"
"  includes the whole day, minute or second it names. Message ids are 32\n"
"  hex digits; a child's pseudonym is 64.\n";

static const char status[] =
"\n"
"EXIT STATUS\n"
"  0  success\n"
"  1  refused: the log is tampered with, a proof does not verify, there\n"
"     is nothing to prove, or tree heads could not be checked\n"
"  2  usage error (the message names the option)\n"
"  3  the store, a key or a file cannot be read, or the broker did not\n"
"     answer in time\n"
"  A remote question the broker refuses (a node that is not ig, or no\n"
"  such record within the node's scope) exits 1 with the broker's\n"
"  sentence and code.\n";

static const char query[] =
"usage: haven audit query (--db DIR | --broker ENDPOINT --key IG.key\n"
"                         --directory FILE [--root-pub F]\n"
"                         [--passphrase-file F] [--timeout S])\n"
"         [--subject-nhs N --subject-key F | --subject-local AGENCY:ID\n"
"          --subject-key F | --subject HEX] [--message ID] [--sender NODE]\n"
"         [--recipient NODE] [--role ROLE] [--event E] [--type T]\n"
"         [--since T] [--until T] [--limit N] [--format table|json|csv]\n"
"\n"
"Answers \"who shared what about this child, with whom, when and on what\n"
"basis\": every record matching all the conditions given, oldest first.\n"
"Asked about a child, it returns the shares about that child from every\n"
"agency, beside the decisions not to share (DECISION_RECORDED), and what\n"
"became of each message (delivered, acknowledged, escalated).\n"
"\n"
"  --db DIR            the broker's data_dir, opened read-only\n"
"  --broker ENDPOINT --key IG.key --directory FILE\n"
"                      ask the broker over the network as an ig node:\n"
"                      only records within its scope come back, and the\n"
"                      question is itself recorded (AUDIT_QUERY); see\n"
"                      'haven audit --help'\n"
"  --subject-nhs N     the child's NHS number; the pseudonym is computed\n"
"                      here with --subject-key and the number is never\n"
"                      printed. Give - to read it from standard input and\n"
"                      keep it out of the shell history.\n"
"  --subject-local AGENCY:ID  an agency's local identifier instead\n"
"  --subject-key F     the partnership's subject key (a 0600 file)\n"
"  --subject HEX       the child's pseudonym, 64 hex digits\n"
"  --message ID        every record of one message (32 hex digits)\n"
"  --sender NODE       sent by this node (police.avon)\n"
"  --recipient NODE    addressed to this node\n"
"  --role ROLE         the sender, a recipient or the actor has this role\n"
"  --event E           one event (see 'haven audit --help')\n"
"  --type T            one message type (REFERRAL, INFO_REQUEST, ...)\n"
"  --since T, --until T  the period, both ends included\n"
"  --limit N           at most N records\n"
"  A --subject-key that is not the key the log's records were made with\n"
"  is refused (exit 1) with a sentence naming both keys' ids: it could\n"
"  never find anything, and \"No records match\" would mislead.\n"
"  --format F          table (default, for reading; justifications cut),\n"
"                      json (one document {records, count, tree_size,\n"
"                      root_hash}, every field) or csv (a header row,\n"
"                      then one row per record; RFC 4180)\n"
"\n"
"Examples:\n"
"  haven audit query --db /var/lib/haven/broker --subject-nhs - \\\n"
"      --subject-key subject.key --format csv > child.csv\n"
"  haven audit query --broker tcp://broker.bristol.example:7400 \\\n"
"      --key ig.bristol.key --directory directory.hd \\\n"
"      --root-pub root.bristol.pub --subject-nhs - --subject-key subject.key\n";

static const char export_[] =
"usage: haven audit export --db DIR --since T --until T --format json|csv\n"
"\n"
"Every record of a period, for a subject access request, an annual\n"
"review or an inspection. JSON is one document {records, count,\n"
"tree_size, root_hash, since, until}; CSV has a header row. In CSV, a\n"
"field that a spreadsheet would read as a formula (it starts with =, +,\n"
"-, @) is written with a leading apostrophe.\n"
"\n"
"Example:\n"
"  haven audit export --db /var/lib/haven/broker --since 2026-04-01 \\\n"
"      --until 2027-03-31 --format csv > year.csv\n";

static const char verify[] =
"usage: haven audit verify --db DIR [--broker-pub F]\n"
"\n"
"Checks that no byte of the log was altered: every record, its link to\n"
"the record before it, its Merkle leaf and its index entries, the tree\n"
"itself, and every signed tree head, including its signature.\n"
"\n"
"  --broker-pub F   the broker's .pub file, from the partnership\n"
"                   administrator. Without it, the broker key that the\n"
"                   store itself recorded is used, which whoever can\n"
"                   change the store could also replace: pass the file for\n"
"                   a check that does not rely on the store.\n"
"\n"
"Prints \"audit log OK: N records, M signed tree heads, root HEX\" and\n"
"exits 0; or prints \"audit log TAMPERED: ...\" naming the first altered\n"
"record, index entry or head and exits 1. When no broker key is known,\n"
"it checks the records and tree, says that the heads were not checked,\n"
"and exits 1.\n";

static const char prove[] =
"usage: haven audit prove ID (--db DIR | --broker ENDPOINT --key IG.key\n"
"                            --directory FILE [--root-pub F]\n"
"                            [--passphrase-file F] [--timeout S])\n"
"                            [--event E]\n"
"\n"
"Prints, as JSON, a proof that message ID's record is in the log the\n"
"broker signed: by default the record of the share (SUBMITTED) or of the\n"
"decision (DECISION_RECORDED); --event picks another of its records, such\n"
"as ACKNOWLEDGED. The proof is against the latest signed tree head; a\n"
"record newer than that head cannot be proved yet (exit 1: try again in a\n"
"second). Asked with --broker, the broker signs a new head first, so any\n"
"record can be proved at once; it proves only records within the ig\n"
"node's scope, and the proof is checked here before it is printed.\n"
"Check it anywhere with 'haven audit check-proof'.\n"
"\n"
"The proof (format haven-inclusion-proof-v1) is one JSON object:\n"
"  format          \"haven-inclusion-proof-v1\"\n"
"  message_id      32 hex digits (null for a record without a message)\n"
"  seq, leaf_index the record's number, and its place in the tree (seq-1)\n"
"  record          the record's bytes (a haven.AuditRecord), base64\n"
"  leaf_hash       SHA-256(0x00 || record), hex\n"
"  tree_size, root_hash, head_time, head_time_ms, head_signature\n"
"                  the signed tree head: the broker's Ed25519 signature\n"
"                  over \"haven-sth-v1\\0\" || size || root || time_ms\n"
"                  (64-bit big-endian integers); head_time is the same\n"
"                  time in ISO 8601 for people\n"
"  proof           the inclusion path of RFC 9162 §2.1.3, hex hashes\n"
"See docs/AUDIT.md.\n";

static const char check[] =
"usage: haven audit check-proof FILE --broker-pub F\n"
"\n"
"Checks an inclusion or consistency proof offline, with no access to the\n"
"broker or its store: that the tree head is signed by the broker key in\n"
"F, that the record hashes to the leaf, and that the path leads to the\n"
"signed root (or that the later tree extends the earlier one). Then says\n"
"what the record shows (event, time, sender, recipients, type, basis) and\n"
"prints \"proof OK\". FILE may be - for standard input.\n"
"\n"
"Exits 0 when the proof holds, and 1 with \"proof does not verify: ...\"\n"
"naming the step that failed.\n";

static const char consistency[] =
"usage: haven audit consistency (--db DIR [--to SIZE] | --broker ENDPOINT\n"
"                               --key IG.key --directory FILE\n"
"                               [--root-pub F] [--passphrase-file F]\n"
"                               [--timeout S]) --from SIZE\n"
"\n"
"Prints, as JSON, a proof that the signed tree head at size --to (default:\n"
"the latest) extends the one at size --from: the log then held the same\n"
"first --from records, unchanged. Both sizes must be ones the broker\n"
"signed a head at; the message names the nearest when one is not.\n"
"Agents check such proofs all the time; keep one from each audit to show\n"
"the next auditor that nothing earlier was rewritten. Asked with\n"
"--broker, the proof runs to the broker's latest head; the tree_size of\n"
"an earlier query's JSON answer is a size the broker signed.\n"
"\n"
"The proof (format haven-consistency-proof-v1) is one JSON object:\n"
"  format          \"haven-consistency-proof-v1\"\n"
"  first, second   signed tree heads {tree_size, root_hash, head_time,\n"
"                  head_time_ms, head_signature}\n"
"  proof           the consistency proof of RFC 9162 §2.1.4, hex hashes\n";

static const char sar[] =
"usage: haven audit sar --subject-nhs N --subject-key F\n"
"         (--db DIR [--broker-pub F] | --broker ENDPOINT --key IG.key\n"
"          --directory FILE [--root-pub F] [--passphrase-file F]\n"
"          [--timeout S]) -o REPORT.html [--format html|json]\n"
"\n"
"Writes a subject access report about one child: every share, refusal\n"
"(at the broker or at the sender's own agent), decision not to share,\n"
"retraction and legal hold recorded about the child, oldest first, each\n"
"with its parties, type, lawful basis and justification and one sentence\n"
"in plain language saying what happened. The report is for a person to\n"
"read and print: a title, the child's reference (the identifier typed\n"
"here, which never leaves this computer), a table, and a line naming the\n"
"signed tree head (size, root, time) the log was checked against.\n"
"\n"
"With --db the whole log is verified first, exactly as 'haven audit\n"
"verify' does, and no report is written if it fails. With --broker the\n"
"broker's signed tree head is checked with the directory's broker key,\n"
"only records within the ig node's scope come back, and the request is\n"
"itself recorded as AUDIT_QUERY.\n"
"\n"
"  --subject-nhs N     the child's NHS number (- reads it from standard\n"
"                      input); --subject-local AGENCY:ID for a local id\n"
"  --subject-key F     the partnership's subject key; another key is\n"
"                      refused with a sentence (exit 1)\n"
"  -o, --output FILE   the report, written whole or not at all, mode 0600\n"
"                      (it names the child)\n"
"  --format F          html (default) or json\n";

void
audit_help(const char *sub, FILE *fp)
{
	static const struct {
		const char *name, *text;
	} pages[] = {
		{ "query", query }, { "export", export_ }, { "verify", verify },
		{ "prove", prove }, { "check-proof", check },
		{ "consistency", consistency }, { "sar", sar },
	};

	if (sub == NULL) {
		fputs(overview, fp);
		fputs(basis, fp);
		fputs(trust, fp);
		fputs(status, fp);
		return;
	}
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		if (strcmp(pages[i].name, sub) == 0)
			fputs(pages[i].text, fp);
	fputs("\nSee 'haven audit --help' for what the fields and events mean "
	    "and what a signed tree head proves.\n", fp);
	fputs(status, fp);
}
