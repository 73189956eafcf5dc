/* End-to-end tests of the tcp_proxy data path over real loopback sockets (runs under ASan too). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "core/uring.h"
#include "server/worker.h"

static struct xm_dp *t__dp(unsigned workers)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = workers, .stats_capacity = 8u << 20 };
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	return dp;
}

static int t__apply_tcp(struct xm_dp *dp, uint64_t v, const uint16_t *ports, size_t n, int lb, uint32_t idle, uint32_t limit)
{
	uint8_t *buf;
	size_t len;
	char err[256];
	t_snapshot_tcp(v, "l", "c", ports, n, lb, idle, limit, &buf, &len);
	int rc = xm_dp_apply(dp, buf, len, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "  apply: %s\n", err);
	free(buf);
	return rc;
}

static void test_sizes(void)
{
	static const size_t sizes[] = { 0, 1, 1000, 16384, 65536 + 7, 1u << 20, 64u << 20 };
	struct t_server up;
	struct xm_dp *dp = t__dp(2);

	T_CHECK_EQ(t_echo_start(&up), 0);
	T_CHECK_EQ(t__apply_tcp(dp, 1, &up.port, 1, 0, 0, 0), 0);
	uint16_t port = t_listener_port(dp, "l");
	T_CHECK(port != 0);
	for (size_t i = 0; i < XM_ARRAY_SIZE(sizes); i++) {
		int intact = 0;
		long got = t_roundtrip(port, sizes[i], 10000, &intact);
		if (got != (long)sizes[i] || !intact)
			fprintf(stderr, "  size %zu: got %ld intact %d\n", sizes[i], got, intact);
		T_CHECK_EQ(got, (long)sizes[i]);
		T_CHECK(intact);
	}
	/* Bulk transfers switched to splice() (both directions of the 64 MiB one at least;
	 * with io_uring after the pair moved back to epoll). */
	T_CHECK(t_stat(dp, "tcp.{stat_prefix=l}.splice_started_total") >= 2);
	if (dp->io_backend == XM_IO_URING)
		T_CHECK_EQ(t_stat(dp, "dataplane.io_uring_workers"), 2); /* really on the ring */
	/* Zero copy on epoll; io_uring copies small writes only (the 1 B and 1000 B ones at
	 * least, both ways), never a whole chunk. */
	if (dp->io_backend == XM_IO_URING)
		T_CHECK(t_stat(dp, "tcp.{stat_prefix=l}.bytes_copied") >= 2 * 1001);
	else
		T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.bytes_copied"), 0);
	/* The client always sends its FIN first (the echo server answers FIN with FIN). */
	usleep(20000);
	/* Every turn of each worker is in its loop-duration histogram (give or take the turn
	 * in progress). */
	for (unsigned i = 0; i < 2; i++) {
		char key[64];
		snprintf(key, sizeof(key), "dataplane.worker.{worker=%u}.loop_duration_ms", i);
		long long n = t_stat(dp, key), turns = (long long)__atomic_load_n(&dp->workers[i].turns, __ATOMIC_RELAXED);
		T_CHECK(n > 0 && n >= turns - 1 && n <= turns + 1);
	}
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=downstream_close}"), (long long)XM_ARRAY_SIZE(sizes));
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_destroy_local"), (long long)XM_ARRAY_SIZE(sizes));
	xm_dp_free(dp);
	t_echo_stop(&up);
}

static void test_refused(void)
{
	uint16_t dead = t_closed_port();
	struct xm_dp *dp = t__dp(1);

	T_CHECK_EQ(t__apply_tcp(dp, 1, &dead, 1, 0, 0, 0), 0);
	uint16_t port = t_listener_port(dp, "l");
	T_CHECK_EQ(t_connect_expect_close(port, 3000), 0);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=connect_failed}"), 1);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_connect_fail"), 1);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.downstream_cx_active"), 0);
	xm_dp_free(dp);
}

static void test_idle_timeout(void)
{
	struct t_server up;
	struct xm_dp *dp = t__dp(1);

	T_CHECK_EQ(t_echo_start(&up), 0);
	T_CHECK_EQ(t__apply_tcp(dp, 1, &up.port, 1, 0, 100, 0), 0);
	uint16_t port = t_listener_port(dp, "l");
	T_CHECK_EQ(t_connect_expect_close(port, 3000), 0);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.cx_end.{reason=idle_timeout}"), 1);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

static void test_round_robin(void)
{
	struct t_server ups[3];
	uint16_t ports[3];
	struct xm_dp *dp = t__dp(2);

	for (int i = 0; i < 3; i++) {
		T_CHECK_EQ(t_echo_start(&ups[i]), 0);
		ports[i] = ups[i].port;
	}
	T_CHECK_EQ(t__apply_tcp(dp, 1, ports, 3, 0, 0, 0), 0);
	uint16_t port = t_listener_port(dp, "l");
	for (int i = 0; i < 60; i++) {
		int intact;
		T_CHECK_EQ(t_roundtrip(port, 10, 3000, &intact), 10);
	}
	/* Two workers each run their own round robin: every host still gets a fair share. */
	for (int i = 0; i < 3; i++) {
		unsigned long a = __atomic_load_n(&ups[i].accepted, __ATOMIC_RELAXED);
		if (a < 14 || a > 26)
			fprintf(stderr, "  host %d accepted %lu\n", i, a);
		T_CHECK(a >= 14 && a <= 26);
	}
	xm_dp_free(dp);
	for (int i = 0; i < 3; i++)
		t_echo_stop(&ups[i]);
}

/* A swap that keeps the listener must keep its socket (same port) and every live
 * connection; a swap with a bad snapshot must change nothing. */
static void test_swap_keeps_connections(void)
{
	struct t_server up;
	struct xm_dp *dp = t__dp(2);
	char err[256];

	T_CHECK_EQ(t_echo_start(&up), 0);
	T_CHECK_EQ(t__apply_tcp(dp, 1, &up.port, 1, 0, 0, 0), 0);
	uint16_t port = t_listener_port(dp, "l");
	/* A live connection across the swap. */
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	T_CHECK_EQ(write(fd, "ping", 4), 4);
	char b[8];
	T_CHECK_EQ(read(fd, b, 4), 4);
	for (uint64_t v = 2; v < 12; v++)
		T_CHECK_EQ(t__apply_tcp(dp, v, &up.port, 1, (int)(v % 6), 0, 0), 0);
	T_CHECK_EQ(t_listener_port(dp, "l"), port);
	T_CHECK_EQ(xm_dp_apply(dp, "\xff\xff\xff", 3, err, sizeof(err)) < 0, 1);
	T_CHECK(strstr(err, "decode") != NULL);
	T_CHECK_EQ(write(fd, "pong", 4), 4);
	T_CHECK_EQ(read(fd, b, 4), 4);
	T_CHECK(memcmp(b, "pong", 4) == 0);
	close(fd);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0);
	int intact;
	T_CHECK_EQ(t_roundtrip(port, 100, 3000, &intact), 100);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

/* A client that sends but never reads: xmesh must stop reading instead of buffering. With
 * copy_path the bulk never switches to splice (nor leaves the io_uring ring), so the cap is
 * enforced on the path request/response traffic takes. */
static void slow_reader(int copy_path)
{
	struct t_server up;
	if (copy_path)
		setenv("XMESH_DISABLE_SPLICE", "1", 1);
	struct xm_dp *dp = t__dp(1);
	unsetenv("XMESH_DISABLE_SPLICE");
	const uint32_t limit = 256 * 1024;

	T_CHECK_EQ(t_echo_start(&up), 0);
	T_CHECK_EQ(t__apply_tcp(dp, 1, &up.port, 1, 0, 0, limit), 0);
	uint16_t port = t_listener_port(dp, "l");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	poll(&p, 1, 1000);
	static char junk[65536];
	size_t sent = 0;
	/* Push until the whole chain (kernel buffers + xmesh) stops taking bytes. */
	for (int idle = 0; idle < 20 && sent < (512u << 20);) {
		ssize_t w = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			idle = 0;
		} else {
			idle++;
			usleep(10000);
		}
	}
	/* The io_uring backend's receive ring is the worker's, not this connection's. */
	struct xm_worker *w0 = &dp->workers[0];
	uint64_t held = (w0->loop.pool.allocated - xm_uring_ring_chunks(w0->loop.ur)) * sizeof(struct xm_chunk);
	fprintf(stderr, "  sent %zu bytes before backpressure, xmesh holds %llu bytes (%s)\n", sent,
		(unsigned long long)held, xm_io_backend_name(dp->io_backend));
	T_CHECK(sent < (512u << 20));
	/* Per direction at most the limit plus one chunk in flight. With io_uring, plus what
	 * the receive had taken when the first pause took effect: at most one turn's receive,
	 * which the worker's ring bounds (a multishot receive takes all the socket holds while
	 * buffers last); later pauses add one chunk. */
	uint64_t ring = w0->loop.ur ? xm_uring_ring_chunks(w0->loop.ur) : 0;
	T_CHECK(held <= 2 * (limit + 2 * sizeof(struct xm_chunk)) + 2 * ring * sizeof(struct xm_chunk));
	T_CHECK(t_stat(dp, "tcp.{stat_prefix=l}.upstream_flow_control_paused_reading_total") >= 1);
	T_CHECK(t_stat(dp, "tcp.{stat_prefix=l}.downstream_flow_control_paused_reading_total") >= 1);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.splice_started_total") > 0, !copy_path);
	close(fd);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

static void test_slow_reader_capped(void) { slow_reader(0); }
static void test_slow_reader_capped_copy(void) { slow_reader(1); }

/* tcp_keepalive reaches both proxied sockets. The data plane runs in this process, so the
 * test can look at every socket it holds. */
static void test_keepalive(void)
{
	struct t_server up;
	struct xm_dp *dp = t__dp(1);
	uint8_t *buf;
	size_t len;
	char err[256];

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct t_snap_opts o = { .version = 1, .ports = &up.port, .nports = 1, .keepalive_time_s = 4242 };
	t_snapshot_opts(&o, &buf, &len);
	T_CHECK_EQ(xm_dp_apply(dp, buf, len, err, sizeof(err)), 0);
	free(buf);
	uint16_t port = t_listener_port(dp, "l");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	T_CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char b[4];
	T_CHECK_EQ(write(fd, "ka", 2), 2);
	T_CHECK_EQ(read(fd, b, 2), 2);
	int found = 0;
	for (int i = 3; i < 4096; i++) {
		int on = 0, idle = 0, cnt = 0;
		socklen_t l1 = sizeof(on), l2 = sizeof(idle), l3 = sizeof(cnt);
		if (getsockopt(i, SOL_SOCKET, SO_KEEPALIVE, &on, &l1) < 0 || !on)
			continue;
		getsockopt(i, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &l2);
		getsockopt(i, IPPROTO_TCP, TCP_KEEPCNT, &cnt, &l3);
		if (idle == 4242 && cnt == 3)
			found++;
	}
	T_CHECK_EQ(found, 2); /* downstream and upstream */
	close(fd);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

struct t__load {
	uint16_t port;
	int n, bad;
};

static void *t__load_run(void *arg)
{
	struct t__load *l = arg;
	for (int i = 0; i < l->n; i++) {
		int intact = 0;
		if (t_roundtrip(l->port, 64, 5000, &intact) != 64 || !intact)
			l->bad++;
	}
	return NULL;
}

static long long t__turns(struct xm_dp *dp)
{
	return (long long)__atomic_load_n(&dp->workers[0].turns, __ATOMIC_RELAXED);
}

/* Hot restart: the old and the new process map one stats file, and each has a worker 0
 * recording into the same dataplane.worker.{worker=0} histogram while both carry traffic.
 * Every turn of both must be counted (no single-writer stores that lose the other's adds),
 * and so must every connection. */
static void test_shared_stats_block(void)
{
	char path[96];
	struct t_server up;
	struct xm_dp *dp[2] = { NULL, NULL };
	struct t__load load[2];
	pthread_t th[2];

	snprintf(path, sizeof(path), "/dev/shm/xmesh-test-%d-shared.stats", (int)getpid());
	unlink(path);
	T_CHECK_EQ(t_echo_start(&up), 0);
	for (int i = 0; i < 2; i++) {
		struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 8u << 20, .stats_path = path };
		T_CHECK_EQ(xm_dp_new(&dp[i], &o), 0);
		if (!dp[i])
			goto out;
		T_CHECK_EQ(t__apply_tcp(dp[i], 1, &up.port, 1, 0, 0, 0), 0);
		load[i] = (struct t__load){ .port = t_listener_port(dp[i], "l"), .n = 1500 };
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, t__load_run, &load[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	T_CHECK_EQ(load[0].bad + load[1].bad, 0);
	/* Both workers are idle now; read the turns before and after the histogram, so that a
	 * stray turn (a timer) cannot pass for a lost or extra count. A turn records itself
	 * just before it is counted, hence the +1 at most. */
	long long n = -1, turns = -2;
	for (int tries = 0; tries < 50; tries++) {
		usleep(20000);
		long long t0 = t__turns(dp[0]) + t__turns(dp[1]);
		n = t_stat(dp[0], "dataplane.worker.{worker=0}.loop_duration_ms");
		turns = t__turns(dp[0]) + t__turns(dp[1]);
		if (t0 == turns)
			break;
	}
	if (getenv("T_VERBOSE") || n < turns || n > turns + 1)
		fprintf(stderr, "  loop_duration count %lld, turns %lld\n", n, turns);
	T_CHECK(turns > 3000 && n >= turns && n <= turns + 1);
	T_CHECK_EQ(t_stat(dp[1], "tcp.{stat_prefix=l}.cx_end.{reason=downstream_close}"), 3000);
out:
	for (int i = 0; i < 2; i++)
		if (dp[i])
			xm_dp_free(dp[i]);
	t_echo_stop(&up);
	unlink(path);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("bytes arrive intact both ways for 0 B .. 64 MiB with half-close", test_sizes);
	T_RUN("refused upstream closes only that client and counts connect_failed", test_refused);
	T_RUN("idle timeout closes a silent connection and is counted", test_idle_timeout);
	T_RUN("round robin spreads connections evenly over 3 upstreams (2 workers)", test_round_robin);
	T_RUN("snapshot swaps keep the listener socket and live connections; bad snapshot is rejected", test_swap_keeps_connections);
	T_RUN("tcp_keepalive is set on the downstream and upstream sockets", test_keepalive);
	T_RUN("slow reader: xmesh pauses reading at the buffer cap instead of buffering", test_slow_reader_capped);
	T_RUN("slow reader on the copy path (no splice): held to the cap too", test_slow_reader_capped_copy);
	T_RUN("two data planes on one stats file (hot restart) lose no histogram or counter update", test_shared_stats_block);
T_MAIN_END
