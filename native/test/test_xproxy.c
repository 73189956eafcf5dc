/* x_proxy end to end with real Bolt frames: routing, hijacked errors, heartbeats, multiplexing, timeouts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec.h"
#include "dp.h"
#include "t.h"
#include "t_net.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/* ------------------------------------------------------------ Bolt v1 frames */

static size_t t__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
	return 4;
}

static const char t__class[] = "com.alipay.sofa.rpc.core.request.SofaRequest";

/* A v1 request (cmdcode 1) or heartbeat (cmdcode 0) with header map {service, sofa_head_method_name}. */
static size_t t__bolt_req(uint8_t *out, uint32_t id, int heartbeat, const char *service, const char *method,
			  const char *content)
{
	uint8_t hdr[512];
	size_t hl = 0, cl = heartbeat ? 0 : strlen(content), kl = heartbeat ? 0 : strlen(t__class);
	if (!heartbeat) {
		const char *kv[4] = { "service", service, "sofa_head_method_name", method };
		for (int i = 0; i < 4; i++) {
			hl += t__put32(hdr + hl, (uint32_t)strlen(kv[i]));
			memcpy(hdr + hl, kv[i], strlen(kv[i]));
			hl += strlen(kv[i]);
		}
	}
	uint8_t *p = out;
	*p++ = 1;                        /* proto v1 */
	*p++ = 1;                        /* type request */
	*p++ = 0, *p++ = heartbeat ? 0 : 1; /* cmdcode */
	*p++ = 1;                        /* ver2 */
	p += t__put32(p, id);
	*p++ = 1;                        /* codec hessian2 */
	p += t__put32(p, 3000);          /* timeout */
	*p++ = (uint8_t)(kl >> 8), *p++ = (uint8_t)kl;
	*p++ = (uint8_t)(hl >> 8), *p++ = (uint8_t)hl;
	p += t__put32(p, (uint32_t)cl);
	memcpy(p, t__class, kl), p += kl;
	memcpy(p, hdr, hl), p += hl;
	if (cl)
		memcpy(p, content, cl), p += cl;
	return (size_t)(p - out);
}

struct t_resp {
	uint32_t id;
	uint16_t cmd;
	uint16_t status;
	char content[256];
};

/* Read exactly one Bolt v1 response from fd (blocking, bounded). 0 or -1. */
static int t__read_resp(int fd, struct t_resp *r, int timeout_ms)
{
	uint8_t h[20], body[4096];
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got < 20) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, h + got, 20 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	/* v1 response: proto type cmdcode(2) ver2 id(4) codec status(2) classLen(2) headerLen(2) contentLen(4) */
	r->cmd = (uint16_t)(h[2] << 8 | h[3]);
	r->id = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
	r->status = (uint16_t)(h[10] << 8 | h[11]);
	uint32_t kl = (uint32_t)(h[12] << 8 | h[13]);
	uint32_t hl = (uint32_t)(h[14] << 8 | h[15]);
	uint32_t clen = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
	size_t rest = kl + hl + clen;
	if (rest > sizeof(body))
		return -1;
	got = 0;
	while (got < rest) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, body + got, rest - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	size_t cn = clen < sizeof(r->content) - 1 ? clen : sizeof(r->content) - 1;
	memcpy(r->content, body + kl + hl, cn);
	r->content[cn] = 0;
	return 0;
}

/* ------------------------------------------------------------ a Bolt server */

struct t_bolt_srv {
	int lfd;
	uint16_t port;
	char tag;
	int stop;
	unsigned long accepted, requests;
	pthread_t th;
};

/* One thread serves every connection with poll(): requests are answered with a response
 * whose content is "<tag>:<request content>", except method "hang" (never answered). */
static void *t__bolt_srv_main(void *arg)
{
	struct t_bolt_srv *s = arg;
	struct pollfd fds[64];
	static __thread uint8_t bufs[64][65536];
	size_t lens[64];
	int n = 1;
	const struct xm_codec *bolt = xm_codec_builtin("bolt");

	fds[0].fd = s->lfd;
	fds[0].events = POLLIN;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (poll(fds, (nfds_t)n, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 64) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0) {
				__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
				fds[n].fd = fd;
				fds[n].events = POLLIN;
				lens[n] = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(fds[i].fd, bufs[i] + lens[i], sizeof(bufs[i]) - lens[i]);
			if (r <= 0) {
				close(fds[i].fd);
				fds[i] = fds[n - 1];
				lens[i] = lens[n - 1];
				memcpy(bufs[i], bufs[n - 1], lens[i]);
				n--, i--;
				continue;
			}
			lens[i] += (size_t)r;
			for (;;) {
				struct iovec iov;
				struct xm_iview v;
				struct xm_frame f;
				struct xm_route_info ri;
				xm_iview_flat(&v, &iov, bufs[i], lens[i]);
				memset(&f, 0, sizeof(f));
				ssize_t fl = bolt->ops->split(bolt, &v, 1u << 20, &f);
				if (fl <= 0)
					break;
				if (f.kind == XM_FRAME_REQUEST) {
					ri.used = ri.nmetas = 0;
					bolt->ops->route_info(bolt, &v, &f, &ri);
					__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
					if (ri.method_len == 3 && memcmp(ri.method, "die", 3) == 0) {
						/* Drop the connection with everything in flight on it. */
						close(fds[i].fd);
						fds[i] = fds[n - 1];
						lens[i] = lens[n - 1];
						memcpy(bufs[i], bufs[n - 1], lens[i]);
						n--, i--;
						break;
					}
					if (!(ri.method_len == 4 && memcmp(ri.method, "hang", 4) == 0)) {
						uint8_t out[1024], *p = out;
						size_t cl = f.len - f.body_off;
						*p++ = 1, *p++ = 0, *p++ = 0, *p++ = 2, *p++ = 1;
						p += t__put32(p, (uint32_t)f.id);
						*p++ = 1, *p++ = 0, *p++ = 0; /* codec, status 0 */
						*p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;
						p += t__put32(p, (uint32_t)(cl + 2));
						*p++ = (uint8_t)s->tag, *p++ = ':';
						memcpy(p, bufs[i] + f.body_off, cl), p += cl;
						ssize_t w = write(fds[i].fd, out, (size_t)(p - out));
						(void)w;
					}
				}
				memmove(bufs[i], bufs[i] + fl, lens[i] - (size_t)fl);
				lens[i] -= (size_t)fl;
			}
		}
	}
	for (int i = 1; i < n; i++)
		close(fds[i].fd);
	return NULL;
}

static void t__bolt_srv_start(struct t_bolt_srv *s, char tag)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->tag = tag;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(s->lfd, 128);
	getsockname(s->lfd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, t__bolt_srv_main, s);
}

static void t__bolt_srv_stop(struct t_bolt_srv *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* ------------------------------------------------------------ snapshot */

typedef Xmesh__Dataplane__V1__XStringMatch pb_sm;

/* Listener "rpc" (bolt) -> virtual hosts:
 *   "com.acme.A:1.0"          : method "slow" -> cluster b, else -> cluster a
 *   "com.acme.B*"             : -> cluster b (timeout 200 ms)
 *   (anything else: no route) */
static struct xm_dp *t__xdp(struct t_bolt_srv *a, struct t_bolt_srv *b, uint32_t conns_per_host)
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
	xp.protocol = "bolt";
	xp.n_virtual_hosts = 2, xp.virtual_hosts = vhs;
	xp.upstream_connections_per_host = conns_per_host;
	la.address = "127.0.0.1";
	l.name = "rpc";
	l.address = &la;
	l.filter_case = XMESH__DATAPLANE__V1__LISTENER__FILTER_X_PROXY;
	l.x_proxy = &xp;
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

static int t__connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int t__call(int fd, uint32_t id, const char *svc, const char *method, const char *content, struct t_resp *r)
{
	uint8_t req[2048];
	size_t n = t__bolt_req(req, id, 0, svc, method, content);
	if (write(fd, req, n) != (ssize_t)n)
		return -1;
	return t__read_resp(fd, r, 3000);
}

/* ------------------------------------------------------------ tests */

static void test_routing(void)
{
	struct t_bolt_srv a, b;
	struct t_resp r;

	t__bolt_srv_start(&a, 'A');
	t__bolt_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t__connect(t_listener_port(dp, "rpc"));
	T_CHECK_EQ(t__call(fd, 7, "com.acme.A:1.0", "get", "hello", &r), 0);
	T_CHECK_EQ(r.id, 7);
	T_CHECK_EQ(r.status, 0);
	T_CHECK(strcmp(r.content, "A:hello") == 0);
	T_CHECK_EQ(t__call(fd, 8, "com.acme.A:1.0", "slow", "m", &r), 0);
	T_CHECK(strcmp(r.content, "B:m") == 0); /* routed by method */
	T_CHECK_EQ(t__call(fd, 9, "com.acme.Bravo:2.0", "x", "s", &r), 0);
	T_CHECK(strcmp(r.content, "B:s") == 0); /* routed by service prefix */
	/* No route: a Bolt NO_PROCESSOR (6) response with the client's id, connection kept. */
	T_CHECK_EQ(t__call(fd, 10, "com.other.Svc:1.0", "x", "s", &r), 0);
	T_CHECK_EQ(r.id, 10);
	T_CHECK_EQ(r.status, 6);
	T_CHECK_EQ(t__call(fd, 11, "com.acme.A:1.0", "get", "again", &r), 0);
	T_CHECK(strcmp(r.content, "A:again") == 0);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_no_route"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_total"), 5);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.bytes_copied"), 0);
	/* Per service (virtual host) stats. */
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_total"), 3);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=B}.rq_total"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_active"), 0);
	xm_dp_free(dp);
	t__bolt_srv_stop(&a);
	t__bolt_srv_stop(&b);
}

static void test_heartbeat_local(void)
{
	struct t_bolt_srv a, b;
	struct t_resp r;
	uint8_t hb[64];

	t__bolt_srv_start(&a, 'A');
	t__bolt_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t__connect(t_listener_port(dp, "rpc"));
	size_t n = t__bolt_req(hb, 42, 1, NULL, NULL, NULL);
	T_CHECK_EQ(write(fd, hb, n), (ssize_t)n);
	T_CHECK_EQ(t__read_resp(fd, &r, 3000), 0);
	T_CHECK_EQ(r.id, 42);
	T_CHECK_EQ(r.cmd, 0);
	T_CHECK_EQ(r.status, 0);
	T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED) + __atomic_load_n(&b.accepted, __ATOMIC_RELAXED), 0);
	close(fd);
	xm_dp_free(dp);
	t__bolt_srv_stop(&a);
	t__bolt_srv_stop(&b);
}

/* 20 clients x 50 requests in flight, every client using ids 1..50: all answers come back
 * to the right client with the right id and payload over at most 2 upstream connections
 * per worker. */
static void test_multiplexing(void)
{
	struct t_bolt_srv a, b;
	enum { NC = 20, NR = 50 };
	int fds[NC];

	t__bolt_srv_start(&a, 'A');
	t__bolt_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 2);
	uint16_t port = t_listener_port(dp, "rpc");
	for (int c = 0; c < NC; c++) {
		fds[c] = t__connect(port);
		uint8_t req[64 * 1024];
		size_t off = 0;
		char content[32];
		for (int i = 1; i <= NR; i++) {
			snprintf(content, sizeof(content), "c%d-r%d", c, i);
			off += t__bolt_req(req + off, (uint32_t)i, 0, "com.acme.A:1.0", "get", content);
		}
		T_CHECK_EQ(write(fds[c], req, off), (ssize_t)off); /* pipelined: all 50 in flight */
	}
	int good = 0;
	for (int c = 0; c < NC; c++) {
		int seen[NR + 1] = { 0 };
		for (int i = 0; i < NR; i++) {
			struct t_resp r;
			char want[40];
			if (t__read_resp(fds[c], &r, 5000) < 0)
				break;
			snprintf(want, sizeof(want), "A:c%d-r%u", c, r.id);
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
	t__bolt_srv_stop(&a);
	t__bolt_srv_stop(&b);
}

static void test_timeout_and_garbage(void)
{
	struct t_bolt_srv a, b;
	struct t_resp r;

	t__bolt_srv_start(&a, 'A');
	t__bolt_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	uint16_t port = t_listener_port(dp, "rpc");
	int fd = t__connect(port);
	uint64_t t0 = xm_now_ms();
	T_CHECK_EQ(t__call(fd, 5, "com.acme.Bee:1.0", "hang", "z", &r), 0);
	uint64_t took = xm_now_ms() - t0;
	T_CHECK_EQ(r.id, 5);
	T_CHECK_EQ(r.status, 7); /* Bolt TIMEOUT */
	T_CHECK(took >= 190 && took < 1500);
	/* Garbage closes only that connection, counted by reason. */
	int bad = t__connect(port);
	T_CHECK_EQ(write(bad, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	char c;
	struct pollfd p = { .fd = bad, .events = POLLIN };
	poll(&p, 1, 2000);
	T_CHECK(read(bad, &c, 1) <= 0);
	close(bad);
	T_CHECK_EQ(t__call(fd, 6, "com.acme.A:1.0", "get", "ok", &r), 0);
	T_CHECK(strcmp(r.content, "A:ok") == 0);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_timeout"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=B}.rq_timeout"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.decode_error.{reason=magic}"), 1);
	xm_dp_free(dp);
	t__bolt_srv_stop(&a);
	t__bolt_srv_stop(&b);
}

/* Losing an upstream connection fails exactly the requests in flight on it, with a
 * protocol-correct error (Bolt ERROR_COMM); the next request gets a new connection. */
static void test_upstream_loss(void)
{
	struct t_bolt_srv a, b;
	struct t_resp r1, r2, r3;
	uint8_t req[1024];

	t__bolt_srv_start(&a, 'A');
	t__bolt_srv_start(&b, 'B');
	struct xm_dp *dp = t__xdp(&a, &b, 1);
	int fd = t__connect(t_listener_port(dp, "rpc"));
	/* Warm the upstream connection, then park a request on it and kill it. */
	T_CHECK_EQ(t__call(fd, 1, "com.acme.A:1.0", "get", "w", &r1), 0);
	size_t n = t__bolt_req(req, 2, 0, "com.acme.A:1.0", "hang", "h");
	n += t__bolt_req(req + n, 3, 0, "com.acme.A:1.0", "die", "d");
	T_CHECK_EQ(write(fd, req, n), (ssize_t)n);
	T_CHECK_EQ(t__read_resp(fd, &r1, 3000), 0);
	T_CHECK_EQ(t__read_resp(fd, &r2, 3000), 0);
	T_CHECK(r1.id + r2.id == 5);
	T_CHECK_EQ(r1.status, 5); /* ERROR_COMM */
	T_CHECK_EQ(r2.status, 5);
	T_CHECK_EQ(t__call(fd, 4, "com.acme.A:1.0", "get", "after", &r3), 0);
	T_CHECK(strcmp(r3.content, "A:after") == 0);
	T_CHECK_EQ(__atomic_load_n(&a.accepted, __ATOMIC_RELAXED), 2);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rq_unavailable"), 2);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.vhost.{vhost=A}.rq_unavailable"), 2);
	xm_dp_free(dp);
	t__bolt_srv_stop(&a);
	t__bolt_srv_stop(&b);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("routes by service (exact, prefix) and method; no route is a Bolt NO_PROCESSOR", test_routing);
	T_RUN("heartbeats are answered by the sidecar without touching upstream", test_heartbeat_local);
	T_RUN("1,000 pipelined requests from 20 clients with colliding ids multiplex correctly", test_multiplexing);
	T_RUN("upstream timeout answers Bolt TIMEOUT; garbage closes only its connection", test_timeout_and_garbage);
	T_RUN("a lost upstream connection fails exactly its in-flight requests (ERROR_COMM)", test_upstream_loss);
T_MAIN_END
