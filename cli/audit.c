/*
 * haven audit — placeholder until the audit commands land.
 */
#include <stdio.h>

#include "cli.h"

int
cmd_audit(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "haven %s: this build has no audit commands yet.\n",
	    argv[0]);
	return 3;
}
