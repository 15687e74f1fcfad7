/*
 * audit_gen — writes a broker-style audit store of N records for measuring
 * `haven audit verify` and `haven audit query` at scale by hand
 * (audit_bench times both for `make bench`; not a test).
 *
 *   audit_gen DIR N [CHILDREN]
 *
 * Creates DIR (which must not exist) holding N audit records spread over
 * CHILDREN (default 10000) child pseudonyms and the four agencies, as
 * bench/audit_store.h describes, exactly as haven-broker writes them.
 * Prints the subject key file and broker .pub it made, so a query by NHS
 * number and a verify with --broker-pub can be timed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit_store.h"

int
main(int argc, char **argv)
{
	struct audit_store st;
	const char *dir;
	unsigned long n, children = 10000;
	char child0[11];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: audit_gen DIR N [CHILDREN]\n");
		return 2;
	}
	dir = argv[1];
	n = strtoul(argv[2], NULL, 10);
	if (argc == 4)
		children = strtoul(argv[3], NULL, 10);
	if (sodium_init() < 0 || n == 0 || children == 0)
		return 2;
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "audit_gen: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (audit_store_write("audit_gen", dir, n, children, &st) != 0)
		return 1;
	audit_store_nhs(0, child0);
	printf("store       %s (%lu records, %lu children)\n", st.store, n,
	    children);
	printf("subject key %s\n", st.subject_key);
	printf("broker pub  %s\n", st.broker_pub);
	printf("child 0     NHS number %s\n", child0);
	return 0;
}
