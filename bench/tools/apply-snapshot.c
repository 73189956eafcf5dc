/* Applies an encoded snapshot to a fresh data plane (1 worker) three times and prints the ms of each apply: the
 * first creates every stats entry, the later ones find them. Built and run by apply-snapshot.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/dp.h"
#include "xm.h"

int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
	char path[64], err[256];
	struct xm_dp *dp;
	long n;

	if (!f) {
		fprintf(stderr, "usage: %s SNAPSHOT.bin [--stats-file]\n", argv[0]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		return 1;
	fclose(f);
	/* memfd by default (as `xmesh run` without --stats-path); --stats-file: a /dev/shm file */
	snprintf(path, sizeof(path), "/dev/shm/xmesh-apply-snapshot-%d.stats", (int)getpid());
	struct xm_dp_opts o = { .nworkers = 1, .stats_path = argc > 2 ? path : NULL };
	if (xm_dp_new(&dp, &o) < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = xm_now_us();
		int rc = xm_dp_apply(dp, buf, (size_t)n, err, sizeof(err));
		printf("%s%.0f", i ? " / " : "apply ms: ", (double)(xm_now_us() - t0) / 1000.0);
		if (rc)
			printf(" (failed: %s)", err);
	}
	printf("\n");
	xm_dp_free(dp);
	unlink(path);
	free(buf);
	return 0;
}
