/* x_proxy requests in flight (xp_rq.c) and their multiplexed upstream connections (xp_up.c), against an upstream the test itself plays:
 * timeouts answered with each codec's hijack, late and unknown responses dropped, connections lost with requests in flight (retried where the
 * route allows, else UNAVAILABLE), connect timeouts, pool reuse up to conns_per_host, heartbeats from the upstream. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/* ------------------------------------------------------------ codecs as a client sees them */

struct codec {
	const char *name;
	int dubbo;
	uint16_t ok, timeout, unavailable; /* response statuses: OK and the hijacks */
};
static const struct codec BOLT = { "bolt", 0, 0, 7 /* TIMEOUT */, 5 /* ERROR_COMM */ };
static const struct codec DUBBO = { "dubbo", 1, 20 /* OK */, 31 /* SERVER_TIMEOUT */, 80 /* SERVER_ERROR */ };

static int send_req(int fd, const struct codec *k, uint64_t id, const char *method)
{
	uint8_t buf[512];
	size_t n = k->dubbo ? t_dubbo_req(buf, id, "com.acme.S", method) : t_bolt_req(buf, (uint32_t)id, 0, "com.acme.S:1.0", method, "x");
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

static int read_resp(int fd, const struct codec *k, struct t_resp *r)
{
	memset(r, 0, sizeof(*r));
	return k->dubbo ? t_dubbo_read_resp(fd, r, 3000) : t_bolt_read_resp(fd, r, 3000);
}

/* Does the response's content hold s? (A hijacked Dubbo answer is a hessian string whose
 * length prefix may hold a NUL: search all of it.) */
static int has(const struct t_resp *r, const char *s)
{
	return memmem(r->content, sizeof(r->content), s, strlen(s)) != NULL;
}

/* ------------------------------------------------------------ the upstream, played by the test */

struct mu {
	int lfd, fd;
	uint16_t port;
};

static void mu_open(struct mu *m)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	m->fd = -1;
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bind(m->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(m->lfd, 16);
	getsockname(m->lfd, (struct sockaddr *)&a, &len);
	m->port = ntohs(a.sin_port);
}

/* Take the data plane's next connection; 0 or -1 (none within ms). */
static int mu_accept(struct mu *m, int ms)
{
	struct pollfd p = { .fd = m->lfd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return -1;
	m->fd = accept(m->lfd, NULL, NULL);
	return m->fd >= 0 ? 0 : -1;
}

/* The next request's id on the upstream connection, or UINT64_MAX. */
static uint64_t mu_req(struct mu *m, const struct codec *k)
{
	uint8_t buf[4096];
	uint64_t id = UINT64_MAX;
	return t_rpc_read_req(m->fd, k->dubbo, buf, sizeof(buf), &id, 3000) > 0 ? id : UINT64_MAX;
}

static void mu_answer(struct mu *m, const struct codec *k, uint64_t id, const char *content)
{
	uint8_t buf[512];
	size_t n = k->dubbo ? t_dubbo_resp(buf, id, (uint8_t)k->ok, content) : t_bolt_resp(buf, (uint32_t)id, k->ok, content);
	T_CHECK_EQ(write(m->fd, buf, n), (ssize_t)n);
}

/* Drop the connection: with RST (reset) or FIN. */
static void mu_drop(struct mu *m, int reset)
{
	if (m->fd < 0)
		return;
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(m->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(m->fd);
	m->fd = -1;
}

static void mu_close(struct mu *m)
{
	mu_drop(m, 0);
	close(m->lfd);
}

/* ------------------------------------------------------------ snapshots */

struct xs {
	const struct codec *codec;
	uint16_t ports[2];
	int nports;
	uint32_t timeout_ms;          /* routes' */
	uint32_t cph;                 /* upstream_connections_per_host */
	uint32_t connect_timeout_ms;
	int retry_route;              /* method "idem": idempotent, one retry on reset or connect failure */
	unsigned nworkers;
};

/* Listener "rpc" speaking one codec, one virtual host for every service, cluster "c". */
static struct xm_dp *xs_dp(const struct xs *x)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT, *lp[1] = { &l };
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh = XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT, *vhp[1] = { &vh };
	Xmesh__Dataplane__V1__XRoute ri = XMESH__DATAPLANE__V1__XROUTE__INIT, ra = XMESH__DATAPLANE__V1__XROUTE__INIT, *rp[2];
	Xmesh__Dataplane__V1__XStringMatch mi = XMESH__DATAPLANE__V1__XSTRING_MATCH__INIT;
	Xmesh__Dataplane__V1__XRetryPolicy rpol = XMESH__DATAPLANE__V1__XRETRY_POLICY__INIT;
	Xmesh__Dataplane__V1__Cluster c = XMESH__DATAPLANE__V1__CLUSTER__INIT, *cp[1] = { &c };
	Xmesh__Dataplane__V1__Endpoint e[2], *ep[2];
	Xmesh__Dataplane__V1__SocketAddress ea[2];
	char *dom[] = { "*" }, *protos[] = { (char *)x->codec->name };
	struct t_chain ch;
	size_t nr = 0;

	if (x->retry_route) {
		mi.kind_case = XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_EXACT;
		mi.exact = "idem";
		ri.method = &mi;
		ri.cluster = "c";
		ri.timeout_ms = x->timeout_ms;
		rpol.num_retries = 1, rpol.on_connect_failure = 1, rpol.on_reset = 1;
		ri.retry_policy = &rpol;
		ri.idempotent = 1;
		rp[nr++] = &ri;
	}
	ra.cluster = "c";
	ra.timeout_ms = x->timeout_ms;
	rp[nr++] = &ra;
	vh.name = "svc";
	vh.n_domains = 1, vh.domains = dom;
	vh.n_routes = nr, vh.routes = rp;
	xp.stat_prefix = "rpc";
	xp.n_protocols = 1, xp.protocols = protos;
	xp.n_virtual_hosts = 1, xp.virtual_hosts = vhp;
	xp.max_frame_size = 16u << 20;
	xp.upstream_connections_per_host = x->cph ? x->cph : 1;
	xp.request_timeout_ms = 15000;
	la.address = "127.0.0.1";
	l.name = "rpc";
	l.address = &la;
	l.buffer_limit = 1u << 20;
	l.backlog = 128;
	t_chain_x(&l, &ch, &xp);
	for (int i = 0; i < x->nports; i++) {
		xmesh__dataplane__v1__endpoint__init(&e[i]);
		xmesh__dataplane__v1__socket_address__init(&ea[i]);
		ea[i].address = "127.0.0.1";
		ea[i].port = x->ports[i];
		e[i].address = &ea[i], e[i].weight = 1, e[i].healthy = 1;
		ep[i] = &e[i];
	}
	c.name = "c";
	c.connect_timeout_ms = x->connect_timeout_ms ? x->connect_timeout_ms : 1000;
	c.per_connection_buffer_limit = 1u << 20;
	c.n_endpoints = (size_t)x->nports, c.endpoints = ep;
	snap.version = 1;
	snap.n_listeners = 1, snap.listeners = lp;
	snap.n_clusters = 1, snap.clusters = cp;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = x->nworkers ? x->nworkers : 1, .stats_capacity = 8u << 20 };
	char err[256];
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	int rc = dp ? xm_dp_apply(dp, buf, len, err, sizeof(err)) : -1;
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	free(buf);
	if (rc && dp) {
		xm_dp_free(dp);
		dp = NULL;
	}
	return dp;
}

/* Wait (bounded) for a stat to reach want; its last value. */
static long long stat_wait(struct xm_dp *dp, const char *key, long long want)
{
	long long v = t_stat(dp, key);
	for (uint64_t end = xm_now_ms() + 3000; v != want && xm_now_ms() < end; v = t_stat(dp, key))
		usleep(1000);
	return v;
}

#define XS(what) "xproxy.{stat_prefix=rpc}." what

/* Everything a request holds is given back once it is answered, whichever way. */
static void check_nothing_in_flight(struct xm_dp *dp)
{
	T_CHECK_EQ(stat_wait(dp, XS("downstream_rq_active"), 0), 0);
	T_CHECK_EQ(stat_wait(dp, XS("vhost.{vhost=svc}.rq_active"), 0), 0);
	T_CHECK_EQ(stat_wait(dp, "cluster.{cluster=c}.upstream_rq_active", 0), 0);
}

/* ------------------------------------------------------------ tests */

/* Per codec: a request the upstream never answers gets the codec's timeout answer with the
 * client's id; the upstream's late answer, and an answer to an id never sent, are dropped
 * and counted, never forwarded; the connection stays in use throughout. */
static void test_timeout_late_unknown(void)
{
	const struct codec *cases[] = { &BOLT, &DUBBO };
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		const struct codec *k = cases[i];
		int failed = t__case_failed;
		struct mu m;
		struct t_resp r;

		t__case_failed = 0;
		mu_open(&m);
		struct xs x = { .codec = k, .ports = { m.port }, .nports = 1, .timeout_ms = 150 };
		struct xm_dp *dp = xs_dp(&x);
		if (!dp) {
			mu_close(&m);
			continue;
		}
		int fd = t_connect(t_listener_port(dp, "rpc"));
		T_CHECK_EQ(send_req(fd, k, 7, "get"), 0);
		T_CHECK_EQ(mu_accept(&m, 3000), 0);
		uint64_t late = mu_req(&m, k);
		T_CHECK(late != UINT64_MAX);
		uint64_t t0 = xm_now_ms();
		T_CHECK_EQ(read_resp(fd, k, &r), 0);
		uint64_t took = xm_now_ms() - t0;
		T_CHECK_EQ(r.id, 7);
		T_CHECK_EQ(r.status, k->timeout);
		T_CHECK(took < 1500);
		T_CHECK(has(&r, "timeout"));
		/* The answer comes after all: dropped. The next request is answered normally. */
		mu_answer(&m, k, late, "late");
		T_CHECK_EQ(send_req(fd, k, 8, "get"), 0);
		uint64_t id2 = mu_req(&m, k);
		T_CHECK(id2 != late);
		mu_answer(&m, k, id2, "two");
		T_CHECK_EQ(read_resp(fd, k, &r), 0);
		T_CHECK_EQ(r.id, 8);
		T_CHECK_EQ(r.status, k->ok);
		T_CHECK(has(&r, "two"));
		/* An id this connection never sent: dropped. */
		mu_answer(&m, k, id2 + 1000, "ghost");
		T_CHECK_EQ(send_req(fd, k, 9, "get"), 0);
		uint64_t id3 = mu_req(&m, k);
		mu_answer(&m, k, id3, "three");
		T_CHECK_EQ(read_resp(fd, k, &r), 0);
		T_CHECK_EQ(r.id, 9);
		T_CHECK(has(&r, "three"));
		T_CHECK_EQ(stat_wait(dp, XS("upstream_rs_total"), 4), 4);
		T_CHECK_EQ(t_stat(dp, XS("upstream_rs_dropped")), 2);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rq_timeout")), 1);
		T_CHECK_EQ(t_stat(dp, XS("vhost.{vhost=svc}.rq_timeout")), 1);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rs.{status=timeout}")), 1);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rs.{status=ok}")), 2);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_total"), 1);
		check_nothing_in_flight(dp);
		close(fd);
		xm_dp_free(dp);
		mu_close(&m);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", k->name);
		t__case_failed |= failed;
	}
}

/* Four requests in flight on one upstream connection, two on a route that may be retried
 * (idempotent, on reset), when the upstream drops the connection: the two are sent again to
 * the other host and answered, the other two fail with UNAVAILABLE, each client id
 * answered once; if the other host drops them too, the retry budget is spent and they fail. */
static void test_loss_in_flight(void)
{
	static const struct {
		const char *desc;
		int reset;         /* the first host's drop: RST, else FIN */
		int second_drops;  /* the second host drops the retried requests too */
	} cases[] = {
		{ "reset: retried ones answered by the other host, the rest UNAVAILABLE", 1, 0 },
		{ "FIN: the same", 0, 0 },
		{ "the other host drops the retries too: all UNAVAILABLE", 1, 1 },
	};
	const struct codec *k = &BOLT;
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct mu m1, m2;
		char host2[64];

		t__case_failed = 0;
		mu_open(&m1);
		mu_open(&m2);
		struct xs x = { .codec = k, .ports = { m1.port, m2.port }, .nports = 2, .timeout_ms = 5000, .retry_route = 1 };
		struct xm_dp *dp = xs_dp(&x);
		if (!dp) {
			mu_close(&m1);
			mu_close(&m2);
			continue;
		}
		/* Only the first host takes the requests at first. */
		snprintf(host2, sizeof(host2), "127.0.0.1:%u", m2.port);
		T_CHECK_EQ(xm_dp_set_health(dp, "c", host2, 0), 0);
		int fd = t_connect(t_listener_port(dp, "rpc"));
		const char *methods[4] = { "idem", "put", "idem", "put" };
		for (int r = 0; r < 4; r++)
			T_CHECK_EQ(send_req(fd, k, (uint64_t)r + 1, methods[r]), 0);
		T_CHECK_EQ(mu_accept(&m1, 3000), 0);
		for (int r = 0; r < 4; r++)
			T_CHECK(mu_req(&m1, k) != UINT64_MAX); /* all four in flight */
		T_CHECK_EQ(xm_dp_set_health(dp, "c", host2, 1), 0);
		mu_drop(&m1, cases[i].reset);
		T_CHECK_EQ(mu_accept(&m2, 3000), 0);
		uint64_t up1 = mu_req(&m2, k), up2 = mu_req(&m2, k);
		T_CHECK(up1 != UINT64_MAX && up2 != UINT64_MAX && up1 != up2);
		if (cases[i].second_drops) {
			mu_drop(&m2, 1);
		} else {
			mu_answer(&m2, k, up1, "retried");
			mu_answer(&m2, k, up2, "retried");
		}
		int seen[5] = { 0 }, ok = 0, unavailable = 0;
		for (int r = 0; r < 4; r++) {
			struct t_resp resp;
			if (read_resp(fd, k, &resp) < 0)
				break;
			if (resp.id >= 1 && resp.id <= 4)
				seen[resp.id]++;
			int idem = resp.id == 1 || resp.id == 3;
			if (resp.status == k->ok && idem && !cases[i].second_drops && has(&resp, "retried"))
				ok++;
			if (resp.status == k->unavailable && (!idem || cases[i].second_drops))
				unavailable++;
		}
		T_CHECK(seen[1] == 1 && seen[2] == 1 && seen[3] == 1 && seen[4] == 1);
		T_CHECK_EQ(ok, cases[i].second_drops ? 0 : 2);
		T_CHECK_EQ(unavailable, cases[i].second_drops ? 4 : 2);
		T_CHECK_EQ(stat_wait(dp, XS("upstream_rq_retry"), 2), 2);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rq_unavailable")), unavailable);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rs.{status=unavailable}")), unavailable);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_total"), 2);
		check_nothing_in_flight(dp);
		close(fd);
		xm_dp_free(dp);
		mu_close(&m1);
		mu_close(&m2);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* An upstream whose handshake never completes: the connect timeout fails the requests
 * queued on that connection with UNAVAILABLE (no retry policy), counted; the pool forgets
 * the connection, so the next request tries a new one. */
static void test_connect_timeout(void)
{
	const struct codec *k = &BOLT;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fill = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct t_resp r;

	bind(lfd, (struct sockaddr *)&a, sizeof(a));
	listen(lfd, 0); /* one connection fits, taken by fill: later SYNs are dropped */
	getsockname(lfd, (struct sockaddr *)&a, &alen);
	T_CHECK_EQ(connect(fill, (struct sockaddr *)&a, sizeof(a)), 0);
	struct xs x = { .codec = k, .ports = { ntohs(a.sin_port) }, .nports = 1, .timeout_ms = 5000, .connect_timeout_ms = 200 };
	struct xm_dp *dp = xs_dp(&x);
	if (dp) {
		int fd = t_connect(t_listener_port(dp, "rpc"));
		for (uint64_t id = 1; id <= 2; id++) {
			uint64_t t0 = xm_now_ms();
			T_CHECK_EQ(send_req(fd, k, id, "get"), 0);
			T_CHECK_EQ(read_resp(fd, k, &r), 0);
			uint64_t took = xm_now_ms() - t0;
			T_CHECK_EQ(r.id, id);
			T_CHECK_EQ(r.status, k->unavailable);
			T_CHECK(took >= 150 && took < 2000);
		}
		T_CHECK_EQ(stat_wait(dp, "cluster.{cluster=c}.upstream_cx_connect_timeout", 2), 2);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_total"), 2);
		T_CHECK_EQ(t_stat(dp, XS("downstream_rq_unavailable")), 2);
		T_CHECK_EQ(stat_wait(dp, "cluster.{cluster=c}.upstream_cx_active", 0), 0);
		check_nothing_in_flight(dp);
		close(fd);
		xm_dp_free(dp);
	}
	close(fill);
	close(lfd);
}

/* Requests from many clients share upstream connections: exactly conns_per_host of them per
 * worker, used in turn; a connection the upstream drops leaves the pool and the next
 * request opens one in its place. */
static void test_pool_reuse(void)
{
	static const struct {
		const char *desc;
		uint32_t cph;
	} cases[] = {
		{ "one connection per host", 1 },
		{ "two", 2 },
		{ "four", 4 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct t_rpc_srv a;
		struct t_resp r;
		int fds[8], good = 0;

		t__case_failed = 0;
		t_rpc_srv_start(&a, 'A');
		struct xs x = { .codec = &BOLT, .ports = { a.port }, .nports = 1, .timeout_ms = 3000, .cph = cases[i].cph };
		struct xm_dp *dp = xs_dp(&x);
		if (!dp) {
			t_rpc_srv_stop(&a);
			continue;
		}
		uint16_t port = t_listener_port(dp, "rpc");
		for (int c = 0; c < 8; c++)
			fds[c] = t_connect(port);
		for (int round = 0; round < 2; round++)
			for (int c = 0; c < 8; c++) {
				uint32_t id = (uint32_t)(round * 8 + c + 1);
				good += t_bolt_call(fds[c], id, "com.acme.S:1.0", "get", "p", &r) == 0 && r.id == id && r.status == 0 &&
					strcmp(r.content, "A:p") == 0;
			}
		T_CHECK_EQ(good, 16);
		T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED), cases[i].cph);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_total"), cases[i].cph);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_active"), cases[i].cph);
		/* The upstream drops one connection (with the request on it). */
		T_CHECK_EQ(t_bolt_call(fds[0], 100, "com.acme.S:1.0", "die", "p", &r), 0);
		T_CHECK_EQ(r.status, BOLT.unavailable);
		T_CHECK_EQ(stat_wait(dp, "cluster.{cluster=c}.upstream_cx_active", cases[i].cph - 1), cases[i].cph - 1);
		good = 0;
		for (int c = 0; c < 8; c++)
			good += t_bolt_call(fds[c], 200 + (uint32_t)c, "com.acme.S:1.0", "get", "q", &r) == 0 && r.status == 0;
		T_CHECK_EQ(good, 8);
		T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED), cases[i].cph + 1);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_total"), cases[i].cph + 1);
		T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.upstream_cx_active"), cases[i].cph);
		check_nothing_in_flight(dp);
		for (int c = 0; c < 8; c++)
			close(fds[c]);
		xm_dp_free(dp);
		t_rpc_srv_stop(&a);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* A heartbeat the upstream sends on its connection is answered by the sidecar on that
 * connection (same id) and reaches no client. */
static void test_upstream_heartbeat(void)
{
	const struct codec *k = &BOLT;
	struct mu m;
	struct t_resp r;
	uint8_t hb[64];

	mu_open(&m);
	struct xs x = { .codec = k, .ports = { m.port }, .nports = 1, .timeout_ms = 3000 };
	struct xm_dp *dp = xs_dp(&x);
	if (!dp) {
		mu_close(&m);
		return;
	}
	int fd = t_connect(t_listener_port(dp, "rpc"));
	T_CHECK_EQ(send_req(fd, k, 1, "get"), 0);
	T_CHECK_EQ(mu_accept(&m, 3000), 0);
	uint64_t id = mu_req(&m, k);
	size_t n = t_bolt_req(hb, 77, 1, NULL, NULL, NULL);
	T_CHECK_EQ(write(m.fd, hb, n), (ssize_t)n);
	T_CHECK_EQ(t_bolt_read_resp(m.fd, &r, 3000), 0);
	T_CHECK_EQ(r.id, 77);
	T_CHECK_EQ(r.cmd, 0); /* heartbeat */
	T_CHECK_EQ(r.status, 0);
	mu_answer(&m, k, id, "one");
	T_CHECK_EQ(read_resp(fd, k, &r), 0); /* the client's first frame is its own answer */
	T_CHECK_EQ(r.id, 1);
	T_CHECK(has(&r, "one"));
	T_CHECK_EQ(stat_wait(dp, XS("upstream_rs_total"), 1), 1);
	T_CHECK_EQ(t_stat(dp, XS("upstream_rs_dropped")), 0);
	close(fd);
	xm_dp_free(dp);
	mu_close(&m);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("timeout answered with the codec's hijack (Bolt, Dubbo); late and unknown responses dropped, counted", test_timeout_late_unknown);
	T_RUN("connection lost with 4 requests in flight: retried where the route allows, else UNAVAILABLE", test_loss_in_flight);
	T_RUN("connect timeout fails the queued request with UNAVAILABLE; the next one connects anew", test_connect_timeout);
	T_RUN("pool: conns_per_host connections shared by 8 clients; a dropped one is replaced", test_pool_reuse);
	T_RUN("a heartbeat from the upstream is answered on its connection, no client sees it", test_upstream_heartbeat);
T_MAIN_END
