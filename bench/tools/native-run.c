/* The data plane without Node: applies an encoded snapshot to a fresh data plane (1 worker;
 * XMESH_IO_BACKEND picks the backend as for `xmesh run`) and serves it until SIGTERM or
 * SIGINT. For experiments that need to tell the native core's behaviour from the Node
 * process hosting it. Built and run by rate-probe.sh (--path xmesh-native). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/dp.h"
#include "core/uring.h"

int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
	char err[256];
	struct xm_dp *dp;
	sigset_t set;
	int sig;

	if (!f) {
		fprintf(stderr, "usage: %s SNAPSHOT.bin\n", argv[0]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		return 1;
	fclose(f);
	/* Block the stop signals before the workers start, so only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct xm_dp_opts o = { .nworkers = 1 };
	if (xm_dp_new(&dp, &o) < 0)
		return 1;
	if (xm_dp_apply(dp, buf, (size_t)n, err, sizeof(err)) < 0) {
		fprintf(stderr, "apply: %s\n", err);
		return 1;
	}
	free(buf);
	printf("{\"ready\":true,\"ioBackend\":\"%s\"}\n", xm_io_backend_name(dp->io_backend));
	fflush(stdout);
	sigwait(&set, &sig);
	xm_dp_free(dp);
	return 0;
}
