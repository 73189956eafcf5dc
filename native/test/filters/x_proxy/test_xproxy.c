/* x_proxy end to end with real Bolt frames: routing, hijacked errors, heartbeats, multiplexing, timeouts. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/codec.h"
#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"
#include "core/uring.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/* ------------------------------------------------------------ snapshot */

typedef Xmesh__Dataplane__V1__XStringMatch pb_sm;

/* Listener "rpc" (bolt) -> virtual hosts:
 *   "com.acme.A:1.0"          : method "slow" -> cluster b, else -> cluster a
 *   "com.acme.B*"             : -> cluster b (timeout 200 ms)
 *   (anything else: no route) */
static struct xm_dp *t__xdp(struct t_rpc_srv *a, struct t_rpc_srv *b, uint32_t conns_per_host)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh[2] = { XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT,
						      XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT };
	Xmesh__Dataplane__V1__XRoute r_slow = XMESH__DATAPLANE__V1__XROUTE__INIT, r_a = XMESH__DATAPLANE__V1__XROUTE__INIT,
				     r_b = XMESH__DATAPLANE__V1__XROUTE__INIT;
	pb_sm m_slow = XMESH__DATAPLANE__V1__XSTRING_MATCH__INIT;
	Xmesh__Dataplane__V1__Cluster ca = XMESH__DATAPLANE__V1__CLUSTER__INIT, cb = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__Endpoint ea = XMESH__DATAPLANE__V1__ENDPOINT__INIT, eb = XMESH__DATAPLANE__V1__ENDPOINT__INIT;
	Xmesh__Dataplane__V1__SocketAddress aa = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT,
					    ab = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	char *d0[] = { "com.acme.A:1.0" }, *d1[] = { "com.acme.B*" };
	Xmesh__Dataplane__V1__XRoute *rs0[] = { &r_slow, &r_a }, *rs1[] = { &r_b };
	Xmesh__Dataplane__V1__XVirtualHost *vhs[] = { &vh[0], &vh[1] };
	Xmesh__Dataplane__V1__Endpoint *epa[] = { &ea }, *epb[] = { &eb };
	Xmesh__Dataplane__V1__Cluster *cls[] = { &ca, &cb };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };

	m_slow.kind_case = XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_EXACT;
	m_slow.exact = "slow";
	r_slow.method = &m_slow;
	r_slow.cluster = "b";
	r_a.cluster = "a";
	r_b.cluster = "b";
	r_b.timeout_ms = 200;
	vh[0].name = "A";
	vh[0].n_domains = 1, vh[0].domains = d0;
	vh[0].n_routes = 2, vh[0].routes = rs0;
	vh[1].name = "B";
	vh[1].n_domains = 1, vh[1].domains = d1;
	vh[1].n_routes = 1, vh[1].routes = rs1;
	xp.stat_prefix = "rpc";
	static char *bolt_only[] = { "bolt" };
	xp.n_protocols = 1, xp.protocols = bolt_only;
	xp.n_virtual_hosts = 2, xp.virtual_hosts = vhs;
	xp.upstream_connections_per_host = conns_per_host;
	la.address = "127.0.0.1";
	l.name = "rpc";
	l.address = &la;
	struct t_chain ch;
	t_chain_x(&l, &ch, &xp);
	aa.address = ab.address = "127.0.0.1";
	aa.port = a->port;
	ab.port = b->port;
	ea.address = &aa, ea.weight = 1, ea.healthy = 1;
	eb.address = &ab, eb.weight = 1, eb.healthy = 1;
	ca.name = "a", ca.n_endpoints = 1, ca.endpoints = epa, ca.connect_timeout_ms = 1000;
	cb.name = "b", cb.n_endpoints = 1, cb.endpoints = epb, cb.connect_timeout_ms = 1000;
	snap.version = 1;
	snap.n_listeners = 1, snap.listeners = ls;
	snap.n_clusters = 2, snap.clusters = cls;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 2, .stats_capacity = 8u << 20 };
	char err[256];
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	int rc = xm_dp_apply(dp, buf, len, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	free(buf);
	return dp;
}

/* ------------------------------------------------------------ tests */

static void test_routing(void)
{
	struct t_rpc_srv a, b;
	struct t_resp r;

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	T_CHECK_EQ(t_bolt_call(fd, 7, "com.acme.A:1.0", "get", "hello", &r), 0);
	T_CHECK_EQ(r.id, 7);
	T_CHECK_EQ(r.status, 0);
	T_CHECK(strcmp(r.content, "A:hello") == 0);
	T_CHECK_EQ(t_bolt_call(fd, 8, "com.acme.A:1.0", "slow", "m", &r), 0);
	T_CHECK(strcmp(r.content, "B:m") == 0); /* routed by method */
	T_CHECK_EQ(t_bolt_call(fd, 9, "com.acme.Bravo:2.0", "x", "s", &r), 0);
	T_CHECK(strcmp(r.content, "B:s") == 0); /* routed by service prefix */
	/* No route: a Bolt NO_PROCESSOR (6) response with the client's id, connection kept. */
	T_CHECK_EQ(t_bolt_call(fd, 10, "com.other.Svc:1.0", "x", "s", &r), 0);
	T_CHECK_EQ(r.id, 10);
	T_CHECK_EQ(r.status, 6);
	T_CHECK_EQ(t_bolt_call(fd, 11, "com.acme.A:1.0", "get", "again", &r), 0);
	T_CHECK(strcmp(r.content, "A:again") == 0);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_no_route"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_total"), 5);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.bytes_copied"), 0);
	/* One protocol: the codec is known at accept and counted there. */
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_cx_protocol.{protocol=bolt}"), 1);
	/* Per service (virtual host) stats. */
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_total"), 3);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=B}.rq_total"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_active"), 0);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

static void test_heartbeat_local(void)
{
	struct t_rpc_srv a, b;
	struct t_resp r;
	uint8_t hb[64];

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	size_t n = t_bolt_req(hb, 42, 1, NULL, NULL, NULL);
	T_CHECK_EQ(write(fd, hb, n), (ssize_t)n);
	T_CHECK_EQ(t_bolt_read_resp(fd, &r, 3000), 0);
	T_CHECK_EQ(r.id, 42);
	T_CHECK_EQ(r.cmd, 0);
	T_CHECK_EQ(r.status, 0);
	T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED) + __atomic_load_n(&b.accepted, __ATOMIC_RELAXED), 0);
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

/* 20 clients x 50 requests in flight, every client using ids 1..50: all answers come back
 * to the right client with the right id and payload over at most 2 upstream connections
 * per worker. */
static void test_multiplexing(void)
{
	struct t_rpc_srv a, b;
	enum { NC = 20, NR = 50 };
	int fds[NC];

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 2);
	uint16_t port = t_listener_port(dp, "rpc");
	for (int c = 0; c < NC; c++) {
		fds[c] = t_connect(port);
		uint8_t req[64 * 1024];
		size_t off = 0;
		char content[32];
		for (int i = 1; i <= NR; i++) {
			snprintf(content, sizeof(content), "c%d-r%d", c, i);
			off += t_bolt_req(req + off, (uint32_t)i, 0, "com.acme.A:1.0", "get", content);
		}
		T_CHECK_EQ(write(fds[c], req, off), (ssize_t)off); /* pipelined: all 50 in flight */
	}
	int good = 0;
	for (int c = 0; c < NC; c++) {
		int seen[NR + 1] = { 0 };
		for (int i = 0; i < NR; i++) {
			struct t_resp r;
			char want[40];
			if (t_bolt_read_resp(fds[c], &r, 5000) < 0)
				break;
			snprintf(want, sizeof(want), "A:c%d-r%llu", c, (unsigned long long)r.id);
			if (r.id >= 1 && r.id <= NR && !seen[r.id] && strcmp(r.content, want) == 0) {
				seen[r.id] = 1;
				good++;
			}
		}
		close(fds[c]);
	}
	unsigned long up = __atomic_load_n(&a.accepted, __ATOMIC_RELAXED);
	fprintf(stderr, "  %d of %d answers correct over %lu upstream connections\n", good, NC * NR, up);
	T_CHECK_EQ(good, NC * NR);
	T_CHECK(up >= 1 && up <= 4); /* 2 per worker, 2 workers */
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

static void test_timeout_and_garbage(void)
{
	struct t_rpc_srv a, b;
	struct t_resp r;

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	uint16_t port = t_listener_port(dp, "rpc");
	int fd = t_connect(port);
	uint64_t t0 = xm_now_ms();
	T_CHECK_EQ(t_bolt_call(fd, 5, "com.acme.Bee:1.0", "hang", "z", &r), 0);
	uint64_t took = xm_now_ms() - t0;
	T_CHECK_EQ(r.id, 5);
	T_CHECK_EQ(r.status, 7); /* Bolt TIMEOUT */
	T_CHECK(took >= 190 && took < 1500);
	/* Garbage closes only that connection, counted by reason. */
	int bad = t_connect(port);
	T_CHECK_EQ(write(bad, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	char c;
	struct pollfd p = { .fd = bad, .events = POLLIN };
	poll(&p, 1, 2000);
	T_CHECK(read(bad, &c, 1) <= 0);
	close(bad);
	T_CHECK_EQ(t_bolt_call(fd, 6, "com.acme.A:1.0", "get", "ok", &r), 0);
	T_CHECK(strcmp(r.content, "A:ok") == 0);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_timeout"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=B}.rq_timeout"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.decode_error.{reason=magic}"), 1);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

/* Losing an upstream connection fails exactly the requests in flight on it, with a
 * protocol-correct error (Bolt ERROR_COMM); the next request gets a new connection. */
static void test_upstream_loss(void)
{
	struct t_rpc_srv a, b;
	struct t_resp r1, r2, r3;
	uint8_t req[1024];

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	/* Warm the upstream connection, then park a request on it and kill it. */
	T_CHECK_EQ(t_bolt_call(fd, 1, "com.acme.A:1.0", "get", "w", &r1), 0);
	size_t n = t_bolt_req(req, 2, 0, "com.acme.A:1.0", "hang", "h");
	n += t_bolt_req(req + n, 3, 0, "com.acme.A:1.0", "die", "d");
	T_CHECK_EQ(write(fd, req, n), (ssize_t)n);
	T_CHECK_EQ(t_bolt_read_resp(fd, &r1, 3000), 0);
	T_CHECK_EQ(t_bolt_read_resp(fd, &r2, 3000), 0);
	T_CHECK(r1.id + r2.id == 5);
	T_CHECK_EQ(r1.status, 5); /* ERROR_COMM */
	T_CHECK_EQ(r2.status, 5);
	T_CHECK_EQ(t_bolt_call(fd, 4, "com.acme.A:1.0", "get", "after", &r3), 0);
	T_CHECK(strcmp(r3.content, "A:after") == 0);
	T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED), 2);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_unavailable"), 2);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_unavailable"), 2);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

/* An upstream that stops reading: its connection's output queue reaches the cluster's
 * buffer limit and the clients sending on it are paused, so the client's writes block
 * instead of xmesh buffering them. When it reads again, every request is answered exactly
 * once: on the io_uring backend the bytes a paused client's receive had already taken are
 * framed and forwarded too, none lost or doubled. */
static void test_paused_client(void)
{
	struct t_rpc_srv a, b;
	enum { NMAX = 1000, CONTENT = 60000 };
	static uint8_t req[CONTENT + 256];
	static char content[CONTENT + 1];
	static int seen[NMAX + 1];

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	__atomic_store_n(&a.stall, 1, __ATOMIC_RELEASE);
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	memset(content, 'x', CONTENT);
	memset(seen, 0, sizeof(seen));
	T_CHECK_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	/* Pipeline requests until the whole chain stops taking bytes (~60 KB each: at most a few
	 * hundred fit in the kernel's buffers and xmesh's limits, so NMAX (60 MB) is only
	 * reached if xmesh keeps reading, and no in-flight count reaches the cluster's
	 * max_requests of 1024). */
	uint32_t nreq = 0;
	size_t len = 0, off = 0, total = 0;
	for (int idle = 0; idle < 20;) {
		if (off == len) {
			if (nreq == NMAX)
				break;
			len = t_bolt_req(req, ++nreq, 0, "com.acme.A:1.0", "get", content);
			off = 0;
		}
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w, total += (size_t)w;
			idle = 0;
		} else {
			idle++;
			usleep(10000);
		}
	}
	fprintf(stderr, "  %u requests (%zu bytes) taken before backpressure (%s)\n", nreq, total,
		xm_io_backend_name(dp->io_backend));
	/* The chain blocked: kernel buffers plus xmesh's two 1 MiB limits. */
	T_CHECK(nreq < NMAX);
	/* The upstream reads again: finish the last request and read every answer. */
	__atomic_store_n(&a.stall, 0, __ATOMIC_RELEASE);
	T_CHECK_EQ(fcntl(fd, F_SETFL, 0), 0);
	if (off < len)
		T_CHECK_EQ(write(fd, req + off, len - off), (ssize_t)(len - off));
	int good = 0;
	for (uint32_t i = 0; i < nreq; i++) {
		struct t_resp r;
		if (t_bolt_read_resp(fd, &r, 5000) < 0)
			break;
		if (r.id >= 1 && r.id <= nreq && !seen[r.id] && r.status == 0 && strncmp(r.content, "A:xxx", 5) == 0) {
			seen[r.id] = 1;
			good++;
		}
	}
	T_CHECK_EQ(good, (int)nreq);
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("routes by service (exact, prefix) and method; no route is a Bolt NO_PROCESSOR", test_routing);
	T_RUN("heartbeats are answered by the sidecar without touching upstream", test_heartbeat_local);
	T_RUN("1,000 pipelined requests from 20 clients with colliding ids multiplex correctly", test_multiplexing);
	T_RUN("upstream timeout answers Bolt TIMEOUT; garbage closes only its connection", test_timeout_and_garbage);
	T_RUN("a lost upstream connection fails exactly its in-flight requests (ERROR_COMM)", test_upstream_loss);
	T_RUN("an upstream that stops reading pauses its clients; all answered once it reads", test_paused_client);
T_MAIN_END
