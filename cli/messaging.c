/*
 * haven send|inbox|show|ack|status|watch|health|decide — placeholder until
 * the messaging commands land: each says so and exits 3.
 */
#include <stdio.h>

#include "cli.h"

static int
unavailable(const char *name)
{
	fprintf(stderr, "haven %s: this build has no messaging commands yet.\n",
	    name);
	return 3;
}

int cmd_send(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_inbox(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_show(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_ack(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_status(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_watch(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_health(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
int cmd_decide(int argc, char **argv) { (void)argc; return unavailable(argv[0]); }
