/* Fault and lifecycle tests of the data plane: swaps under load, fd exhaustion, outlier ejection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dp.h"
#include "t.h"
#include "t_net.h"

static struct xm_dp *t__dp(unsigned workers)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = workers, .stats_capacity = 8u << 20 };
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	return dp;
}

static int t__apply(struct xm_dp *dp, const struct t_snap_opts *o)
{
	uint8_t *buf;
	size_t len;
	char err[256];
	t_snapshot_opts(o, &buf, &len);
	int rc = xm_dp_apply(dp, buf, len, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "  apply: %s\n", err);
	free(buf);
	return rc;
}

struct t_load {
	uint16_t port;
	int stop;
	long ok, failed;
};

static void *t__load(void *arg)
{
	struct t_load *l = arg;
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		int intact = 0;
		long got = t_roundtrip(l->port, 2000, 3000, &intact);
		if (got == 2000 && intact)
			l->ok++;
		else
			l->failed++;
	}
	return NULL;
}

/* Constant load from two client threads while 100 snapshots (alternating LB policies and
 * endpoint sets) are swapped in: not one connection may fail. */
static void test_swap_under_load(void)
{
	struct t_server a, b;
	struct xm_dp *dp = t__dp(2);
	struct t_load load[2];
	pthread_t th[2];

	T_CHECK_EQ(t_echo_start(&a), 0);
	T_CHECK_EQ(t_echo_start(&b), 0);
	uint16_t both[2] = { a.port, b.port };
	struct t_snap_opts o = { .version = 1, .ports = both, .nports = 2 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	for (int i = 0; i < 2; i++) {
		load[i] = (struct t_load){ .port = t_listener_port(dp, "l") };
		pthread_create(&th[i], NULL, t__load, &load[i]);
	}
	for (int v = 2; v < 102; v++) {
		o.version = (uint64_t)v;
		o.lb_policy = v % 6;
		o.nports = 1 + (v % 2);
		o.ports = (v % 4 == 0) ? &both[1] : both;
		if (o.ports == &both[1])
			o.nports = 1;
		T_CHECK_EQ(t__apply(dp, &o), 0);
		usleep(5000);
	}
	for (int i = 0; i < 2; i++) {
		__atomic_store_n(&load[i].stop, 1, __ATOMIC_RELEASE);
		pthread_join(th[i], NULL);
	}
	long ok = load[0].ok + load[1].ok, failed = load[0].failed + load[1].failed;
	fprintf(stderr, "  %ld connections ok, %ld failed across 100 swaps\n", ok, failed);
	T_CHECK(ok >= 100);
	T_CHECK_EQ(failed, 0);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0);
	T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_swaps_total"), 101);
	xm_dp_free(dp);
	t_echo_stop(&a);
	t_echo_stop(&b);
}

static double t__cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

/* Out of file descriptors: the listener sheds connections (counted) without spinning, and
 * recovers as soon as descriptors are free again. */
static void test_fd_exhaustion(void)
{
	struct t_server up;
	struct xm_dp *dp = t__dp(1);
	struct rlimit old, low;
	int clients[64];

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct t_snap_opts o = { .version = 1, .ports = &up.port, .nports = 1 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	getrlimit(RLIMIT_NOFILE, &old);
	int maxfd = 0;
	for (int i = 0; i < 64; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (clients[i] > maxfd)
			maxfd = clients[i];
	}
	/* No descriptor above the highest one in use: accept4 now fails with EMFILE. The
	 * clients' connects need no new descriptors and complete in the kernel backlog. */
	low = old;
	low.rlim_cur = (rlim_t)maxfd + 1;
	setrlimit(RLIMIT_NOFILE, &low);
	for (int i = 0; i < 64; i++)
		connect(clients[i], (struct sockaddr *)&sa, sizeof(sa));
	double c0 = t__cpu_ms();
	usleep(400000);
	double spent = t__cpu_ms() - c0;
	long long shed = t_stat(dp, "listener.{listener=l}.downstream_cx_overflow");
	fprintf(stderr, "  shed %lld connections, %.1f ms CPU in 400 ms\n", shed, spent);
	T_CHECK(shed > 0);
	T_CHECK(spent < 250); /* paused, not spinning on EMFILE (generous for sanitizer builds) */
	for (int i = 0; i < 64; i++)
		close(clients[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	usleep(200000); /* the listener resumes after its pause */
	int intact = 0;
	T_CHECK_EQ(t_roundtrip(port, 1000, 3000, &intact), 1000);
	T_CHECK(intact);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

/* A dead host is ejected after a failure and gets nothing while ejected; once the
 * ejection time is over (and it is alive again) it receives traffic again. */
static void test_outlier_ejection(void)
{
	struct t_server live, back;
	uint16_t dead = t_closed_port();
	struct xm_dp *dp = t__dp(1);

	T_CHECK_EQ(t_echo_start(&live), 0);
	uint16_t ports[2] = { live.port, dead };
	struct t_snap_opts o = { .version = 1, .ports = ports, .nports = 2, .outlier = 1, .od_consecutive = 1,
				 .od_base_ms = 600, .od_max_percent = 50 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	char key[128];
	snprintf(key, sizeof(key), "cluster.{cluster=c}.host.{host=127.0.0.1:%u}.cx_total", dead);
	int fails = 0;
	for (int i = 0; i < 30; i++) {
		int intact = 0;
		if (t_roundtrip(port, 100, 3000, &intact) != 100)
			fails++;
	}
	long long to_dead = t_stat(dp, key);
	fprintf(stderr, "  %d of 30 failed; dead host got %lld attempts\n", fails, to_dead);
	T_CHECK(fails == 1);
	T_CHECK_EQ(to_dead, 1);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.outlier_detection_ejections_total"), 1);
	/* The host comes back; after the ejection time it is picked again. */
	T_CHECK_EQ(t_echo_start_on(&back, dead), 0);
	usleep(800000);
	for (int i = 0; i < 10; i++) {
		int intact = 0;
		T_CHECK_EQ(t_roundtrip(port, 100, 3000, &intact), 100);
	}
	T_CHECK(t_stat(dp, key) > 1);
	T_CHECK(__atomic_load_n(&back.accepted, __ATOMIC_RELAXED) >= 1);
	xm_dp_free(dp);
	t_echo_stop(&live);
	t_echo_stop(&back);
}

/* The max_connections breaker refuses new sessions beyond the limit, counted as overflow. */
static void test_circuit_breaker(void)
{
	struct t_server up;
	struct xm_dp *dp = t__dp(1);
	int held[3];

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct t_snap_opts o = { .version = 1, .ports = &up.port, .nports = 1, .max_connections = 2 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (int i = 0; i < 2; i++) {
		held[i] = socket(AF_INET, SOCK_STREAM, 0);
		T_CHECK_EQ(connect(held[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		char b[2];
		T_CHECK_EQ(write(held[i], "hi", 2), 2);
		T_CHECK_EQ(read(held[i], b, 2), 2);
	}
	T_CHECK_EQ(t_connect_expect_close(port, 3000), 0);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=overflow}"), 1);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_overflow"), 1);
	for (int i = 0; i < 2; i++)
		close(held[i]);
	(void)held[2];
	xm_dp_free(dp);
	t_echo_stop(&up);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("100 snapshot swaps under constant load lose no connection", test_swap_under_load);
	T_RUN("fd exhaustion sheds connections without spinning and recovers", test_fd_exhaustion);
	T_RUN("an ejected host receives nothing until its ejection ends", test_outlier_ejection);
	T_RUN("max_connections breaker refuses and counts overflow", test_circuit_breaker);
T_MAIN_END
