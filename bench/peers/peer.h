/*
 * Helpers shared by the peer benches (mqtt_bench, nats_bench): a free
 * loopback port, a server started in the background and its CPU time
 * from /proc/PID/stat (bench_cpu_us). Header-only, like bench/bench.h.
 */
#ifndef HV_PEER_H
#define HV_PEER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench.h"

/* A TCP port on 127.0.0.1 free right now (the kernel picks it). */
static inline int
peer_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. */
static inline int
peer_listening(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Starts argv (stderr and stdout to log) and waits up to 10 s for it to
 * listen on port. Returns its pid, or -1.
 */
static inline pid_t
peer_start(char *const argv[], const char *log, int port)
{
	int64_t end = bench_now_us() + 10000000;
	pid_t pid = fork();

	if (pid == 0) {
		if (freopen(log, "w", stderr) != NULL)
			dup2(2, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	while (bench_now_us() < end) {
		if (peer_listening(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static inline void
peer_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

#endif
