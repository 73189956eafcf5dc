/* Fault and lifecycle tests of the data plane: swaps under load, fd exhaustion, outlier ejection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
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

/* A server that accepts, reads the first bytes, then resets the connection: a reset after
 * connect, which must count as a gateway failure for outlier detection even though the
 * tcp_proxy session no longer holds the snapshot it started on. */
struct t_resetter {
	int fd;
	uint16_t port;
	int stop;
	unsigned long accepted;
	pthread_t th;
};

static void *t__resetter_main(void *arg)
{
	struct t_resetter *r = arg;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(r->fd, NULL, NULL);
		if (c < 0)
			continue;
		__atomic_add_fetch(&r->accepted, 1, __ATOMIC_RELAXED);
		char b[256];
		struct pollfd pc = { .fd = c, .events = POLLIN };
		if (poll(&pc, 1, 2000) > 0)
			(void)read(c, b, sizeof(b));
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
	}
	return NULL;
}

static void test_outlier_reset_after_connect(void)
{
	struct t_server live;
	struct t_resetter rs = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct xm_dp *dp = t__dp(1);

	rs.fd = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(bind(rs.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	T_CHECK_EQ(listen(rs.fd, 64), 0);
	getsockname(rs.fd, (struct sockaddr *)&sa, &sl);
	rs.port = ntohs(sa.sin_port);
	T_CHECK_EQ(pthread_create(&rs.th, NULL, t__resetter_main, &rs), 0);
	T_CHECK_EQ(t_echo_start(&live), 0);
	uint16_t ports[2] = { live.port, rs.port };
	struct t_snap_opts o = { .version = 1, .ports = ports, .nports = 2, .outlier = 1, .od_consecutive = 2,
				 .od_base_ms = 30000, .od_max_percent = 50 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	int fails = 0;
	for (int i = 0; i < 30; i++) {
		int intact = 0;
		if (t_roundtrip(port, 100, 3000, &intact) != 100 || !intact)
			fails++;
	}
	unsigned long got = __atomic_load_n(&rs.accepted, __ATOMIC_RELAXED);
	fprintf(stderr, "  %d of 30 failed; the resetting host accepted %lu\n", fails, got);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.outlier_detection_ejections_total"), 1);
	T_CHECK_EQ(got, 2);
	T_CHECK_EQ(fails, 2);
	xm_dp_free(dp);
	__atomic_store_n(&rs.stop, 1, __ATOMIC_RELAXED);
	pthread_join(rs.th, NULL);
	close(rs.fd);
	t_echo_stop(&live);
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

/* A reset on one side is propagated as a reset, not a FIN, to the other side. */
static void test_reset_propagation(void)
{
	uint16_t port0;
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t ll = sizeof(la);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&la, sizeof(la));
	listen(lfd, 8);
	getsockname(lfd, (struct sockaddr *)&la, &ll);
	port0 = ntohs(la.sin_port);
	struct xm_dp *dp = t__dp(1);
	struct t_snap_opts o = { .version = 1, .ports = &port0, .nports = 1 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");

	/* Upstream resets: the client must see ECONNRESET. */
	struct sockaddr_in ca = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(connect(c, (struct sockaddr *)&ca, sizeof(ca)), 0);
	int u = accept(lfd, NULL, NULL); /* the proxied upstream connection of c */
	char b[8];
	/* Exchange a byte first: a reset before the proxy saw the connect complete would
	 * (rightly) count as a failed connect, not a reset mid-stream. */
	T_CHECK_EQ(write(c, "x", 1), 1);
	T_CHECK_EQ(read(u, b, 1), 1);
	struct linger lg = { 1, 0 };
	setsockopt(u, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(u);
	struct pollfd p = { .fd = c, .events = POLLIN };
	poll(&p, 1, 2000);
	errno = 0;
	ssize_t r = read(c, b, sizeof(b));
	T_CHECK(r < 0 && errno == ECONNRESET);
	close(c);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=upstream_reset}"), 1);

	/* Client resets: the upstream must see ECONNRESET. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(connect(c, (struct sockaddr *)&ca, sizeof(ca)), 0);
	u = accept(lfd, NULL, NULL);
	T_CHECK_EQ(write(u, "y", 1), 1);
	T_CHECK_EQ(read(c, b, 1), 1);
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c);
	p.fd = u;
	poll(&p, 1, 2000);
	errno = 0;
	r = read(u, b, sizeof(b));
	T_CHECK(r < 0 && errno == ECONNRESET);
	close(u);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=downstream_reset}"), 1);
	xm_dp_free(dp);
	close(lfd);
}

/* An upstream that never completes the handshake (its accept queue is full, so SYNs are
 * dropped) ends in connect_timeout after the cluster's connect timeout. */
static void test_connect_timeout(void)
{
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t ll = sizeof(la);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&la, sizeof(la));
	listen(lfd, 0);
	getsockname(lfd, (struct sockaddr *)&la, &ll);
	/* Fill the accept queue (backlog 0 admits one) and never accept. */
	int fill[2];
	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&la, sizeof(la));
	}
	usleep(50000);
	uint16_t up = ntohs(la.sin_port);
	struct xm_dp *dp = t__dp(1);
	struct t_snap_opts o = { .version = 1, .ports = &up, .nports = 1, .connect_timeout_ms = 200 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint64_t t0 = xm_now_ms();
	T_CHECK_EQ(t_connect_expect_close(t_listener_port(dp, "l"), 3000), 0);
	uint64_t took = xm_now_ms() - t0;
	fprintf(stderr, "  closed after %llu ms\n", (unsigned long long)took);
	T_CHECK(took >= 190 && took < 1500);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=connect_timeout}"), 1);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_connect_timeout"), 1);
	xm_dp_free(dp);
	for (int i = 0; i < 2; i++)
		close(fill[i]);
	close(lfd);
}

/* max_connect_attempts: a failed connect is retried on another host. */
static void test_retry_other_host(void)
{
	struct t_server live;
	uint16_t dead = t_closed_port();
	struct xm_dp *dp = t__dp(1);

	T_CHECK_EQ(t_echo_start(&live), 0);
	uint16_t ports[2] = { dead, live.port };
	struct t_snap_opts o = { .version = 1, .ports = ports, .nports = 2, .max_connect_attempts = 2 };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	for (int i = 0; i < 20; i++) {
		int intact = 0;
		T_CHECK_EQ(t_roundtrip(port, 100, 3000, &intact), 100);
	}
	/* Round robin hits the dead host on every other connection; each time the retry
	 * moves to the live one. */
	T_CHECK(t_stat(dp, "cluster.{cluster=c}.upstream_cx_connect_fail") >= 9);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=connect_failed}"), 0);
	xm_dp_free(dp);
	t_echo_stop(&live);
}

/* The access log gets one JSON line per connection with bytes, upstream and reason. */
static void test_access_log(void)
{
	struct t_server up;
	char path[] = "/tmp/xmesh-alog-XXXXXX";
	int afd = mkstemp(path);
	struct xm_dp *dp = t__dp(2);

	close(afd);
	T_CHECK_EQ(t_echo_start(&up), 0);
	struct t_snap_opts o = { .version = 1, .ports = &up.port, .nports = 1, .access_log_path = path };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	uint16_t port = t_listener_port(dp, "l");
	for (int i = 0; i < 5; i++) {
		int intact = 0;
		T_CHECK_EQ(t_roundtrip(port, 1234, 3000, &intact), 1234);
	}
	usleep(50000);
	xm_dp_free(dp);
	FILE *f = fopen(path, "r");
	char line[1024], want[64];
	int n = 0, good = 0;
	snprintf(want, sizeof(want), "\"upstream_host\":\"127.0.0.1:%u\"", up.port);
	while (f && fgets(line, sizeof(line), f)) {
		n++;
		good += strstr(line, "\"bytes_received\":1234,\"bytes_sent\":1234") && strstr(line, want) &&
			strstr(line, "\"termination\":\"downstream_close\"") && line[0] == '{';
	}
	if (f)
		fclose(f);
	T_CHECK_EQ(n, 5);
	T_CHECK_EQ(good, 5);
	unlink(path);
	t_echo_stop(&up);
}

/* A listening socket handed in by fd (hot restart) is adopted, not re-bound. */
static void test_inherited_listener(void)
{
	struct t_server up;
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t ll = sizeof(la);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&la, sizeof(la));
	listen(lfd, 64);
	getsockname(lfd, (struct sockaddr *)&la, &ll);
	/* A client already waiting in the backlog before the data plane exists. */
	struct sockaddr_in ca = la;
	int early = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(connect(early, (struct sockaddr *)&ca, sizeof(ca)), 0);

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct xm_dp *dp = t__dp(1);
	struct t_snap_opts o = { .version = 1, .ports = &up.port, .nports = 1, .inherited_fd = lfd };
	T_CHECK_EQ(t__apply(dp, &o), 0);
	T_CHECK_EQ(t_listener_port(dp, "l"), ntohs(la.sin_port));
	char b[4];
	T_CHECK_EQ(write(early, "old", 3), 3);
	T_CHECK_EQ(read(early, b, 3), 3);
	T_CHECK(memcmp(b, "old", 3) == 0);
	close(early);
	int intact = 0;
	T_CHECK_EQ(t_roundtrip(ntohs(la.sin_port), 500, 3000, &intact), 500);
	xm_dp_free(dp); /* closes lfd: the listener owns it now */
	t_echo_stop(&up);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("100 snapshot swaps under constant load lose no connection", test_swap_under_load);
	T_RUN("fd exhaustion sheds connections without spinning and recovers", test_fd_exhaustion);
	T_RUN("an ejected host receives nothing until its ejection ends", test_outlier_ejection);
	T_RUN("a reset after connect counts toward outlier ejection", test_outlier_reset_after_connect);
	T_RUN("max_connections breaker refuses and counts overflow", test_circuit_breaker);
	T_RUN("resets are propagated as resets in both directions", test_reset_propagation);
	T_RUN("an upstream that never answers the handshake ends in connect_timeout", test_connect_timeout);
	T_RUN("a failed connect is retried on another host (max_connect_attempts)", test_retry_other_host);
	T_RUN("access log: one JSON line per connection with bytes, upstream, reason", test_access_log);
	T_RUN("an inherited listening fd is adopted with its backlog", test_inherited_listener);
T_MAIN_END
