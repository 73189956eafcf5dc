/* The connection_limit filter, the data plane's global connection limit and the overload actions, over real loopback sockets: connections beyond a limit are closed at once and counted; their places come back when connections end; stop_accepting leaves new ones in the backlog until it ends, reject closes them. */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"

/* Listener "l" with [connection_limit "cl" (max_cl; 0 = no such filter), tcp_proxy -> c];
 * the snapshot's global limit max_global (0 = none). */
static struct xm_dp *c__dp(uint16_t upstream, uint64_t max_cl, uint64_t max_global)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT,
					    ua = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__TcpProxy tp = XMESH__DATAPLANE__V1__TCP_PROXY__INIT;
	Xmesh__Dataplane__V1__ConnectionLimit cl = XMESH__DATAPLANE__V1__CONNECTION_LIMIT__INIT;
	Xmesh__Dataplane__V1__NetworkFilter limit = XMESH__DATAPLANE__V1__NETWORK_FILTER__INIT;
	Xmesh__Dataplane__V1__Cluster c = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__Endpoint e = XMESH__DATAPLANE__V1__ENDPOINT__INIT;
	Xmesh__Dataplane__V1__Endpoint *eps[] = { &e };
	Xmesh__Dataplane__V1__Cluster *cls[] = { &c };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };
	Xmesh__Dataplane__V1__NetworkFilter *filters[2];
	struct t_chain ch;

	tp.stat_prefix = "l", tp.cluster = "c";
	la.address = "127.0.0.1";
	l.name = "l", l.address = &la;
	t_chain_tcp(&l, &ch, &tp);
	if (max_cl) {
		cl.stat_prefix = "cl", cl.max_connections = max_cl;
		limit.name = "envoy.filters.network.connection_limit";
		limit.config_case = XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_CONNECTION_LIMIT;
		limit.connection_limit = &cl;
		filters[0] = &limit, filters[1] = ch.nfp[0];
		ch.fc.n_filters = 2, ch.fc.filters = filters;
	}
	ua.address = "127.0.0.1", ua.port = upstream;
	e.address = &ua, e.weight = 1, e.healthy = 1;
	c.name = "c", c.n_endpoints = 1, c.endpoints = eps;
	snap.version = 1, snap.n_listeners = 1, snap.listeners = ls, snap.n_clusters = 1, snap.clusters = cls;
	snap.max_downstream_connections = max_global;
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

/* 1: the proxy echoes through fd (the connection was let in); 0: it closed fd. */
static int c__alive(int fd)
{
	char b[8];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (write(fd, "ping", 4) != 4)
		return 0;
	size_t got = 0;
	while (got < 4 && poll(&p, 1, 2000) > 0) {
		ssize_t n = read(fd, b + got, sizeof(b) - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return got == 4 && memcmp(b, "ping", 4) == 0;
}

static int64_t c__wait_stat(struct xm_dp *dp, const char *key, int64_t want)
{
	int64_t v = 0;
	for (int i = 0; i < 200 && (v = t_stat(dp, key)) != want; i++)
		usleep(10000);
	return v;
}

static void c__run(uint64_t max_cl, uint64_t max_global, const char *counter)
{
	struct t_server up;
	enum { LIMIT = 3, EXTRA = 4 };
	int fds[LIMIT + EXTRA];

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct xm_dp *dp = c__dp(up.port, max_cl, max_global);
	uint16_t port = t_listener_port(dp, "l");
	for (int i = 0; i < LIMIT; i++) {
		fds[i] = t_connect(port);
		T_CHECK(c__alive(fds[i]));
	}
	for (int i = LIMIT; i < LIMIT + EXTRA; i++) {
		fds[i] = t_connect(port);   /* the kernel accepts; the proxy closes it */
		T_CHECK(!c__alive(fds[i]));
	}
	T_CHECK_EQ(c__wait_stat(dp, counter, EXTRA), EXTRA);
	/* The refused one's count goes down just after its refusal is counted. */
	T_CHECK_EQ(c__wait_stat(dp, "listener.{listener=l}.downstream_cx_active", LIMIT), LIMIT);
	T_CHECK_EQ(c__wait_stat(dp, "dataplane.downstream_cx_active", LIMIT), LIMIT);
	if (max_cl)
		T_CHECK_EQ(t_stat(dp, "connection_limit.{stat_prefix=cl}.active_connections"), LIMIT);
	/* A place given back is taken again. */
	close(fds[0]);
	T_CHECK_EQ(c__wait_stat(dp, "listener.{listener=l}.downstream_cx_active", LIMIT - 1), LIMIT - 1);
	fds[0] = t_connect(port);
	T_CHECK(c__alive(fds[0]));
	for (int i = 0; i < LIMIT + EXTRA; i++)
		close(fds[i]);
	T_CHECK_EQ(c__wait_stat(dp, "dataplane.downstream_cx_active", 0), 0);
	if (max_cl)
		T_CHECK_EQ(c__wait_stat(dp, "connection_limit.{stat_prefix=cl}.active_connections", 0), 0);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

static void test_filter(void)
{
	c__run(3, 0, "connection_limit.{stat_prefix=cl}.limited_connections");
}

static void test_global(void)
{
	c__run(0, 3, "listener.{listener=l}.downstream_global_cx_overflow");
}

/* Under both limits, the tighter one refuses: the global one (checked at accept) first. */
static void test_both(void)
{
	c__run(10, 3, "listener.{listener=l}.downstream_global_cx_overflow");
}

/* The overload actions: REJECT closes what is accepted (counted), STOP_ACCEPT leaves new
 * connections in the kernel's backlog until it ends; open connections are not touched. */
static void test_overload_actions(void)
{
	struct t_server up;

	T_CHECK_EQ(t_echo_start(&up), 0);
	struct xm_dp *dp = c__dp(up.port, 0, 0);
	uint16_t port = t_listener_port(dp, "l");
	int open = t_connect(port);
	T_CHECK(c__alive(open));

	xm_dp_set_overload(dp, XM_OVERLOAD_REJECT);
	usleep(20000); /* the workers woke */
	int fd = t_connect(port);
	T_CHECK(!c__alive(fd));
	close(fd);
	T_CHECK_EQ(c__wait_stat(dp, "listener.{listener=l}.downstream_cx_overload_reject", 1), 1);
	T_CHECK(c__alive(open));

	xm_dp_set_overload(dp, XM_OVERLOAD_STOP_ACCEPT);
	usleep(20000);
	int waiting = t_connect(port); /* completes in the kernel: the backlog */
	T_CHECK(waiting >= 0);
	T_CHECK_EQ(write(waiting, "ping", 4), 4);
	struct pollfd p = { .fd = waiting, .events = POLLIN };
	T_CHECK_EQ(poll(&p, 1, 300), 0); /* nobody accepted it: no echo */
	T_CHECK_EQ(t_stat(dp, "listener.{listener=l}.downstream_cx_total"), 1);
	T_CHECK(c__alive(open));

	xm_dp_set_overload(dp, 0);
	char b[4];
	T_CHECK_EQ(poll(&p, 1, 2000), 1); /* accepted now, and its early bytes went through */
	T_CHECK_EQ(read(waiting, b, 4), 4);
	T_CHECK(memcmp(b, "ping", 4) == 0);
	T_CHECK_EQ(t_stat(dp, "listener.{listener=l}.downstream_cx_total"), 2);
	close(waiting);
	close(open);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

T_MAIN_BEGIN
T_RUN("connection_limit closes connections beyond max_connections and counts them", test_filter);
T_RUN("the global downstream limit closes connections beyond it, on any listener", test_global);
T_RUN("with both limits the tighter one refuses", test_both);
T_RUN("overload actions: reject closes new connections, stop_accepting leaves them in the backlog", test_overload_actions);
T_MAIN_END
