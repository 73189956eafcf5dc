/* The access-log queue (core/logq.c): lines from several workers reach their files whole and in per-worker order, a full ring drops and counts, and freeing the queue writes everything left. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "core/logq.h"
#include "t.h"

#define LQ_WORKERS 4
#define LQ_LINES 20000

struct lq_arg {
	struct xm_logq *q;
	unsigned worker;
	int fd;
	int sent, dropped;
};

static void *lq__worker(void *p)
{
	struct lq_arg *a = p;
	char line[128];
	for (int i = 0; i < LQ_LINES; i++) {
		int n = snprintf(line, sizeof(line), "{\"worker\":%u,\"seq\":%d,\"pad\":\"%040d\"}\n", a->worker, i, i);
		if (xm_logq_put(a->q, a->worker, a->fd, line, (uint32_t)n) == 0)
			a->sent++;
		else
			a->dropped++;
	}
	return NULL;
}

static char *lq__slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	char *b = malloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, b, (size_t)st.st_size);
	close(fd);
	*len = n > 0 ? (size_t)n : 0;
	b[*len] = 0;
	return b;
}

/* Every line whole, and each worker's lines in the order it queued them. */
static void test_whole_lines(void)
{
	char path[] = "/tmp/xmesh-logq-XXXXXX";
	int fd = mkstemp(path);
	uint64_t dropped = 0;
	struct xm_logq *q = NULL;
	struct lq_arg a[LQ_WORKERS];
	pthread_t th[LQ_WORKERS];

	close(fd);
	fd = open(path, O_WRONLY | O_APPEND);
	T_CHECK_EQ(xm_logq_new(&q, LQ_WORKERS, 1u << 20, &dropped), 0);
	for (unsigned i = 0; i < LQ_WORKERS; i++) {
		a[i] = (struct lq_arg){ .q = q, .worker = i, .fd = fd };
		pthread_create(&th[i], NULL, lq__worker, &a[i]);
	}
	for (unsigned i = 0; i < LQ_WORKERS; i++)
		pthread_join(th[i], NULL);
	xm_logq_free(q); /* writes what is left */
	close(fd);

	size_t len;
	char *b = lq__slurp(path, &len);
	int next[LQ_WORKERS] = { 0 }, lines = 0, bad = 0, sent = 0;
	for (char *l = b; *l;) {
		char *nl = strchr(l, '\n');
		if (!nl) {
			bad++;
			break;
		}
		unsigned w;
		int seq, pad;
		if (sscanf(l, "{\"worker\":%u,\"seq\":%d,\"pad\":\"%d\"}", &w, &seq, &pad) != 3 || w >= LQ_WORKERS || seq != pad ||
		    seq < next[w])
			bad++;
		else
			next[w] = seq + 1;
		lines++;
		l = nl + 1;
	}
	for (unsigned i = 0; i < LQ_WORKERS; i++)
		sent += a[i].sent;
	if (bad || lines != sent)
		fprintf(stderr, "  %d lines, %d sent, %d bad, %llu dropped\n", lines, sent, bad, (unsigned long long)dropped);
	T_CHECK_EQ(bad, 0);
	T_CHECK_EQ(lines, sent);
	T_CHECK_EQ((int)dropped, LQ_WORKERS * LQ_LINES - sent);
	free(b);
	unlink(path);
}

/* A ring the writer cannot empty (its file is a pipe nobody reads) fills: later lines are
 * dropped and counted, and the producer never blocks. */
static void test_full_ring_drops(void)
{
	int p[2];
	uint64_t dropped = 0;
	struct xm_logq *q = NULL;
	char line[200];

	T_CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	T_CHECK_EQ(xm_logq_new(&q, 1, 8192, &dropped), 0);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	int ok = 0, full = 0;
	for (int i = 0; i < 1000; i++) {
		if (xm_logq_put(q, 0, p[1], line, sizeof(line)) == 0)
			ok++;
		else
			full++;
	}
	T_CHECK(full > 0);
	T_CHECK_EQ((int)dropped, full);
	T_CHECK(ok > 0);
	close(p[0]); /* the writer's writes now fail (EPIPE is ignored by the test's SIGPIPE setting) */
	xm_logq_free(q);
	close(p[1]);
}

T_MAIN_BEGIN
signal(SIGPIPE, SIG_IGN);
T_RUN("lines from several workers arrive whole, in each worker's order, none lost at free", test_whole_lines);
T_RUN("a full ring drops lines and counts them; the worker never waits", test_full_ring_drops);
T_MAIN_END
