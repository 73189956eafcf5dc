/* Protocol detection on one x_proxy listener: Bolt and Dubbo recognised from their first bytes (however split), anything else proxied intact by the fallback tcp_proxy, or closed and counted. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"
#include "core/uring.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

#define P "xproxy.{stat_prefix=mix}."

/* Listener "mix": x_proxy (stat_prefix mix) whose only virtual host sends every service to
 * cluster "rpc"; with fallback, unknown protocols go to cluster "raw" (stat_prefix raw). */
struct t_mix {
	const char *protocol;           /* single protocol, or NULL */
	const char *const *protocols;   /* else these (NULL: bolt, dubbo) */
	size_t nprotocols;
	uint16_t rpc_port, raw_port;
	int fallback;
	const char *fallback_cluster;   /* NULL = "raw" */
	uint32_t detect_timeout_ms;
	uint64_t version;
};

static int t__apply(struct xm_dp *dp, const struct t_mix *m, char *err, size_t errlen)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__TcpProxy fb = XMESH__DATAPLANE__V1__TCP_PROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh = XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT;
	Xmesh__Dataplane__V1__XRoute rt = XMESH__DATAPLANE__V1__XROUTE__INIT;
	Xmesh__Dataplane__V1__Cluster cr = XMESH__DATAPLANE__V1__CLUSTER__INIT, cw = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__Endpoint er = XMESH__DATAPLANE__V1__ENDPOINT__INIT, ew = XMESH__DATAPLANE__V1__ENDPOINT__INIT;
	Xmesh__Dataplane__V1__SocketAddress ar = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT,
					    aw = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	static const char *const both[] = { "bolt", "dubbo" };
	char *domains[] = { "*" };
	Xmesh__Dataplane__V1__XRoute *rts[] = { &rt };
	Xmesh__Dataplane__V1__XVirtualHost *vhs[] = { &vh };
	Xmesh__Dataplane__V1__Endpoint *epr[] = { &er }, *epw[] = { &ew };
	Xmesh__Dataplane__V1__Cluster *cls[] = { &cr, &cw };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };

	rt.cluster = "rpc";
	vh.name = "any";
	vh.n_domains = 1, vh.domains = domains;
	vh.n_routes = 1, vh.routes = rts;
	xp.stat_prefix = "mix";
	char *one[1] = { (char *)m->protocol };
	if (m->protocol) {
		xp.protocols = one;
		xp.n_protocols = 1;
	} else {
		xp.protocols = (char **)(m->protocols ? m->protocols : both);
		xp.n_protocols = m->protocols ? m->nprotocols : 2;
	}
	xp.n_virtual_hosts = 1, xp.virtual_hosts = vhs;
	if (m->fallback) {
		fb.stat_prefix = "raw";
		fb.cluster = (char *)(m->fallback_cluster ? m->fallback_cluster : "raw");
	}
	la.address = "127.0.0.1";
	l.name = "mix";
	l.address = &la;
	struct t_detect det;
	t_chain_detect(&l, &det, &xp, m->detect_timeout_ms, m->fallback ? &fb : NULL);
	ar.address = aw.address = "127.0.0.1";
	ar.port = m->rpc_port;
	aw.port = m->raw_port;
	er.address = &ar, er.weight = 1, er.healthy = 1;
	ew.address = &aw, ew.weight = 1, ew.healthy = 1;
	cr.name = "rpc", cr.n_endpoints = 1, cr.endpoints = epr, cr.connect_timeout_ms = 1000;
	cw.name = "raw", cw.n_endpoints = 1, cw.endpoints = epw, cw.connect_timeout_ms = 1000;
	snap.version = m->version ? m->version : 1;
	snap.n_listeners = 1, snap.listeners = ls;
	snap.n_clusters = 2, snap.clusters = cls;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	err[0] = 0;
	int rc = xm_dp_apply(dp, buf, len, err, errlen);
	free(buf);
	return rc;
}

static struct xm_dp *t__dp(const struct t_mix *m)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 2, .stats_capacity = 8u << 20 };
	char err[256];

	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	int rc = t__apply(dp, m, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	return dp;
}

/* Wait (bounded) until counter key reaches want; returns its last value. */
static long long t__wait_stat(struct xm_dp *dp, const char *key, long long want, int timeout_ms)
{
	long long v = t_stat(dp, key);
	for (int waited = 0; v != want && waited < timeout_ms; waited += 5) {
		usleep(5000);
		v = t_stat(dp, key);
	}
	return v;
}

/* Write n bytes one at a time, each in its own segment (TCP_NODELAY, a pause between). */
static int t__trickle(int fd, const uint8_t *b, size_t n)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (size_t i = 0; i < n; i++) {
		if (write(fd, b + i, 1) != 1)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* Read exactly n bytes (bounded). */
static int t__read_n(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	while (got < n) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* 0 when the peer closed (EOF or reset) within timeout_ms. */
static int t__wait_closed(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	return read(fd, &c, 1) <= 0 ? 0 : -1;
}

static void test_detect_each(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	struct t_resp r;
	uint8_t req[512];

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start(&raw);
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	int bolt = t_connect(port), dubbo = t_connect(port);
	T_CHECK_EQ(t_bolt_call(bolt, 7, "com.acme.A:1.0", "get", "hello", &r), 0);
	T_CHECK_EQ(r.id, 7);
	T_CHECK(strcmp(r.content, "R:hello") == 0);
	T_CHECK_EQ(t_bolt_call(bolt, 8, "com.acme.A:1.0", "get", "again", &r), 0);
	T_CHECK(strcmp(r.content, "R:again") == 0);
	for (uint64_t id = 1ull << 40; id < (1ull << 40) + 2; id++) {
		size_t n = t_dubbo_req(req, id, "com.acme.D", "find");
		T_CHECK_EQ(write(dubbo, req, n), (ssize_t)n);
		T_CHECK_EQ(t_dubbo_read_resp(dubbo, &r, 3000), 0);
		T_CHECK_EQ(r.id, id);
		T_CHECK_EQ(r.status, 20);
		T_CHECK(strcmp(r.content, "R:find") == 0);
	}
	/* Once detected, both clients moved onto the io_uring ring, next to the upstream
	 * connections (the server counts those). */
	long long up = (long long)__atomic_load_n(&rpc.accepted, __ATOMIC_RELAXED);
	T_CHECK_EQ(t_stat(dp, "dataplane.io_uring_connections"), dp->io_backend == XM_IO_URING ? 2 + up : 0);
	close(bolt);
	close(dubbo);
	T_CHECK_EQ(t__wait_stat(dp, P "downstream_cx_active", 0, 2000), 0);
	T_CHECK_EQ(t_stat(dp, "dataplane.io_uring_connections"), dp->io_backend == XM_IO_URING ? up : 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=bolt}"), 1);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=dubbo}"), 1);
	T_CHECK_EQ(t_stat(dp, P "downstream_rq_total"), 4);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=unknown_protocol}"), 0);
	T_CHECK_EQ(t_stat(dp, P "bytes_copied"), 0);
	T_CHECK_EQ(__atomic_load_n(&raw.accepted, __ATOMIC_RELAXED), 0);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* The first bytes arrive one per segment: no verdict before a codec can decide (Bolt: 4
 * bytes, Dubbo: 2), then the right codec, and the frame is answered. */
static void test_detect_split(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	struct t_resp r;
	uint8_t req[512];

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start(&raw);
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	int fd = t_connect(port);
	size_t n = t_bolt_req(req, 9, 0, "com.acme.A:1.0", "get", "split");
	T_CHECK_EQ(t__trickle(fd, req, 3), 0);
	usleep(50000);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=bolt}"), 0); /* 3 bytes: undecided */
	T_CHECK_EQ(t__trickle(fd, req + 3, n - 3), 0);
	T_CHECK_EQ(t_bolt_read_resp(fd, &r, 3000), 0);
	T_CHECK_EQ(r.id, 9);
	T_CHECK(strcmp(r.content, "R:split") == 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=bolt}"), 1);
	close(fd);

	fd = t_connect(port);
	n = t_dubbo_req(req, 77, "com.acme.D", "split");
	T_CHECK_EQ(t__trickle(fd, req, 1), 0);
	usleep(50000);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=dubbo}"), 0); /* 0xda alone: undecided */
	T_CHECK_EQ(t__trickle(fd, req + 1, n - 1), 0);
	T_CHECK_EQ(t_dubbo_read_resp(fd, &r, 3000), 0);
	T_CHECK_EQ(r.id, 77);
	T_CHECK(strcmp(r.content, "R:split") == 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=dubbo}"), 1);
	close(fd);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=unknown_protocol}"), 0);
	T_CHECK_EQ(__atomic_load_n(&raw.accepted, __ATOMIC_RELAXED), 0);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* Unknown bytes go to the fallback tcp_proxy with what was already read sent first: 1 MiB
 * comes back intact through an echo server; an ambiguous first byte (0x01 could start a
 * Bolt v1 frame) read on its own is kept and forwarded too; so is one followed by FIN. */
static void test_fallback_intact(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	uint8_t msg[64] = { 0x01, 0x7f }, back[64];
	int intact = 0;

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start(&raw);
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	long got = t_roundtrip(port, 1u << 20, 5000, &intact);
	T_CHECK_EQ(got, 1 << 20);
	T_CHECK(intact);

	for (size_t i = 2; i < sizeof(msg); i++)
		msg[i] = (uint8_t)('a' + i % 26);
	int fd = t_connect(port);
	T_CHECK_EQ(t__trickle(fd, msg, 1), 0);
	usleep(50000);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=unknown_protocol}"), 1); /* only the roundtrip */
	T_CHECK_EQ(write(fd, msg + 1, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
	T_CHECK_EQ(t__read_n(fd, back, sizeof(back), 3000), 0);
	T_CHECK(memcmp(back, msg, sizeof(msg)) == 0);
	shutdown(fd, SHUT_WR);
	T_CHECK_EQ(t__wait_closed(fd, 3000), 0);
	close(fd);

	/* One ambiguous byte, then FIN: the byte and the FIN are passed on. */
	fd = t_connect(port);
	T_CHECK_EQ(write(fd, msg, 1), 1);
	shutdown(fd, SHUT_WR);
	T_CHECK_EQ(t__read_n(fd, back, 1, 3000), 0);
	T_CHECK_EQ(back[0], 0x01);
	T_CHECK_EQ(t__wait_closed(fd, 3000), 0);
	close(fd);

	T_CHECK_EQ(t__wait_stat(dp, "tcp.{stat_prefix=raw}.downstream_cx_active", 0, 2000), 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=unknown_protocol}"), 2);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=downstream_close}"), 1);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=raw}.downstream_cx_total"), 3);
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=raw}.downstream_cx_rx_bytes_total"), (1 << 20) + 64 + 1);
	/* Zero copy on epoll; io_uring copies only writes <= 2 KiB (the 64 B and 1 B
	 * replies, and a 1 MiB stream's reads that came short), never the bulk of it: that
	 * goes by reference and then by splice. */
	if (dp->io_backend == XM_IO_URING)
		T_CHECK(t_stat(dp, "tcp.{stat_prefix=raw}.bytes_copied") < (1 << 18));
	else
		T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=raw}.bytes_copied"), 0);
	T_CHECK_EQ(t_stat(dp, "listener.{listener=mix}.downstream_cx_total"), 3); /* not counted twice */
	T_CHECK_EQ(t_stat(dp, "listener.{listener=mix}.downstream_cx_active"), 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_active"), 0);
	T_CHECK_EQ(t_stat(dp, P "bytes_copied"), 0);
	T_CHECK_EQ(__atomic_load_n(&rpc.accepted, __ATOMIC_RELAXED), 0);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* One protocol plus a fallback: the protocol is detected, and another RPC protocol is just
 * unknown bytes (a Dubbo frame comes back from the echo server unchanged). */
static void test_single_protocol_with_fallback(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	struct t_resp r;
	uint8_t req[512], back[512];

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start(&raw);
	struct t_mix m = { .protocol = "bolt", .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	int fd = t_connect(port);
	T_CHECK_EQ(t_bolt_call(fd, 1, "com.acme.A:1.0", "get", "one", &r), 0);
	T_CHECK(strcmp(r.content, "R:one") == 0);
	close(fd);
	fd = t_connect(port);
	size_t n = t_dubbo_req(req, 5, "com.acme.D", "find");
	T_CHECK_EQ(write(fd, req, n), (ssize_t)n);
	T_CHECK_EQ(t__read_n(fd, back, n, 3000), 0);
	T_CHECK(memcmp(back, req, n) == 0);
	close(fd);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=bolt}"), 1);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=unknown_protocol}"), 1);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* Without a fallback, unknown bytes close only that connection, counted; so does a client
 * that closes before sending anything. The listener keeps serving both protocols. */
static void test_unknown_without_fallback(void)
{
	struct t_rpc_srv rpc;
	struct t_resp r;

	t_rpc_srv_start(&rpc, 'R');
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = t_closed_port() };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	int keep = t_connect(port);
	T_CHECK_EQ(t_bolt_call(keep, 1, "com.acme.A:1.0", "get", "before", &r), 0);
	int bad = t_connect(port);
	T_CHECK_EQ(write(bad, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	T_CHECK_EQ(t__wait_closed(bad, 3000), 0);
	close(bad);
	int quiet = t_connect(port);
	shutdown(quiet, SHUT_WR);
	T_CHECK_EQ(t__wait_closed(quiet, 3000), 0);
	close(quiet);
	T_CHECK_EQ(t_bolt_call(keep, 2, "com.acme.A:1.0", "get", "after", &r), 0);
	T_CHECK(strcmp(r.content, "R:after") == 0);
	close(keep);
	T_CHECK_EQ(t__wait_stat(dp, P "downstream_cx_active", 0, 2000), 0);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_detect_failed.{reason=unknown_protocol}"), 1);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_detect_failed.{reason=downstream_close}"), 1);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_protocol.{protocol=bolt}"), 1);
	xm_dp_free(dp);
	t_rpc_srv_stop(&rpc);
}

/* A client that stays silent (a server-speaks-first protocol) goes to the fallback after
 * detect_timeout_ms and gets the server's banner; one that sent an undecided byte has it
 * forwarded after the banner; without a fallback it is closed after the timeout. */
static void test_detect_timeout(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	uint8_t back[64];
	static const char banner[] = "220 banner\r\n";

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start_banner(&raw, banner);
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1, .detect_timeout_ms = 200 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	uint64_t t0 = xm_now_ms();
	int fd = t_connect(port);
	T_CHECK_EQ(t__read_n(fd, back, sizeof(banner) - 1, 3000), 0);
	uint64_t took = xm_now_ms() - t0;
	T_CHECK(memcmp(back, banner, sizeof(banner) - 1) == 0);
	T_CHECK(took >= 190 && took < 1500);
	T_CHECK_EQ(write(fd, "ping", 4), 4);
	T_CHECK_EQ(t__read_n(fd, back, 4, 3000), 0);
	T_CHECK(memcmp(back, "ping", 4) == 0);
	close(fd);

	fd = t_connect(port);
	T_CHECK_EQ(write(fd, "\x01", 1), 1);
	T_CHECK_EQ(t__read_n(fd, back, sizeof(banner), 3000), 0);
	T_CHECK(memcmp(back, banner, sizeof(banner) - 1) == 0);
	T_CHECK_EQ(back[sizeof(banner) - 1], 0x01);
	close(fd);
	T_CHECK_EQ(t_stat(dp, P "downstream_cx_fallback.{reason=detect_timeout}"), 2);
	xm_dp_free(dp);

	m.fallback = 0;
	dp = t__dp(&m);
	port = t_listener_port(dp, "mix");
	t0 = xm_now_ms();
	fd = t_connect(port);
	T_CHECK_EQ(t__wait_closed(fd, 3000), 0);
	took = xm_now_ms() - t0;
	T_CHECK(took >= 190 && took < 1500);
	close(fd);
	T_CHECK_EQ(t__wait_stat(dp, P "downstream_cx_detect_failed.{reason=detect_timeout}", 1, 2000), 1);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* A snapshot swap while a connection is half detected: detection goes on with the new
 * table, and the request is answered. */
static void test_swap_while_detecting(void)
{
	struct t_rpc_srv rpc;
	struct t_server raw;
	struct t_resp r;
	uint8_t req[512];
	char err[256];

	t_rpc_srv_start(&rpc, 'R');
	t_echo_start(&raw);
	struct t_mix m = { .rpc_port = rpc.port, .raw_port = raw.port, .fallback = 1 };
	struct xm_dp *dp = t__dp(&m);
	uint16_t port = t_listener_port(dp, "mix");

	int fd = t_connect(port);
	size_t n = t_bolt_req(req, 3, 0, "com.acme.A:1.0", "get", "swap");
	T_CHECK_EQ(t__trickle(fd, req, 2), 0);
	m.version = 2;
	T_CHECK_EQ(t__apply(dp, &m, err, sizeof(err)), 0);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0);
	T_CHECK_EQ(write(fd, req + 2, n - 2), (ssize_t)(n - 2));
	T_CHECK_EQ(t_bolt_read_resp(fd, &r, 3000), 0);
	T_CHECK(strcmp(r.content, "R:swap") == 0);
	close(fd);
	xm_dp_free(dp);
	t_echo_stop(&raw);
	t_rpc_srv_stop(&rpc);
}

/* The C side re-checks what the TypeScript validation guarantees, naming the listener. */
static void test_config_errors(void)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 4u << 20 };
	static const char *const unknown[] = { "bolt", "thrift" };
	char err[256];
	static const struct {
		const char *desc;
		struct t_mix m;
		const char *want;
	} cases[] = {
		{ "an unknown protocol", { .protocols = unknown, .nprotocols = 2 }, "protocol 'thrift' is not supported" },
		{ "no protocol at all", { .protocols = unknown, .nprotocols = 0 }, "protocol detection needs 1..8 protocols" },
		{ "a fallback to a missing cluster", { .fallback = 1, .fallback_cluster = "nope" },
		  "tcp_proxy cluster 'nope' not found" },
	};

	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_mix m = cases[i].m;
		m.rpc_port = m.raw_port = 1;
		int rc = t__apply(dp, &m, err, sizeof(err));
		if (rc == 0 || !strstr(err, cases[i].want) || !strstr(err, "listener 'mix'"))
			fprintf(stderr, "  %s: rc %d, err \"%s\"\n", cases[i].desc, rc, err);
		T_CHECK(rc < 0);
		T_CHECK(strstr(err, cases[i].want) != NULL);
		T_CHECK(strstr(err, "listener 'mix'") != NULL);
	}
	xm_dp_free(dp);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("Bolt and Dubbo clients on one listener are each detected and answered", test_detect_each);
	T_RUN("first bytes one per segment: no early verdict, then the right codec", test_detect_split);
	T_RUN("unknown bytes reach the fallback intact, including bytes read while detecting and a FIN", test_fallback_intact);
	T_RUN("one protocol plus a fallback: another protocol's frame is proxied as plain TCP", test_single_protocol_with_fallback);
	T_RUN("without a fallback, unknown bytes and early FIN close only that connection, counted", test_unknown_without_fallback);
	T_RUN("a silent client goes to the fallback after the detect timeout, or is closed without one", test_detect_timeout);
	T_RUN("a snapshot swap in the middle of detection", test_swap_while_detecting);
	T_RUN("bad detection config is refused naming the listener", test_config_errors);
T_MAIN_END
