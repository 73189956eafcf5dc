/* Hostile clients against an x_proxy listener: memory bounded however bytes arrive (trickles, unfinished frames), frames above the buffer limit refused, stalled frames timed out. Runs on both I/O backends. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/uring.h"
#include "server/dp.h"
#include "server/worker.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"

#define H_CONNS 20

struct h_opts {
	uint32_t buffer_limit;       /* 0: the default */
	uint32_t frame_timeout_ms;   /* 0: none */
	uint32_t idle_timeout_ms;    /* 0: none */
	uint32_t max_duration_ms;    /* 0: none */
};

static struct xm_dp *h__dp(uint16_t upstream, const struct h_opts *ho)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT,
					    ua = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh = XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT;
	Xmesh__Dataplane__V1__XRoute rt = XMESH__DATAPLANE__V1__XROUTE__INIT;
	Xmesh__Dataplane__V1__Cluster c = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__Endpoint e = XMESH__DATAPLANE__V1__ENDPOINT__INIT;
	char *domains[] = { "*" }, *protos[] = { "bolt" };
	Xmesh__Dataplane__V1__XRoute *rts[] = { &rt };
	Xmesh__Dataplane__V1__XVirtualHost *vhs[] = { &vh };
	Xmesh__Dataplane__V1__Endpoint *eps[] = { &e };
	Xmesh__Dataplane__V1__Cluster *cls[] = { &c };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };
	struct t_chain ch;

	rt.cluster = "up";
	vh.name = "all", vh.n_domains = 1, vh.domains = domains, vh.n_routes = 1, vh.routes = rts;
	xp.stat_prefix = "h", xp.n_protocols = 1, xp.protocols = protos;
	xp.n_virtual_hosts = 1, xp.virtual_hosts = vhs;
	xp.frame_timeout_ms = ho->frame_timeout_ms;
	xp.idle_timeout_ms = ho->idle_timeout_ms;
	xp.max_connection_duration_ms = ho->max_duration_ms;

	la.address = "127.0.0.1";
	l.name = "h", l.address = &la, l.buffer_limit = ho->buffer_limit;
	t_chain_x(&l, &ch, &xp);
	ua.address = "127.0.0.1", ua.port = upstream;
	e.address = &ua, e.weight = 1, e.healthy = 1;
	c.name = "up", c.n_endpoints = 1, c.endpoints = eps;
	snap.version = 1, snap.n_listeners = 1, snap.listeners = ls, snap.n_clusters = 1, snap.clusters = cls;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 8u << 20 };
	char err[256];
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	int rc = xm_dp_apply(dp, buf, len, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	free(buf);
	return dp;
}

/* Bytes of chunks the worker holds for connections (the io_uring receive ring's buffers are
 * the worker's, not a connection's). */
static uint64_t h__held(struct xm_dp *dp)
{
	struct xm_worker *w = &dp->workers[0];
	return (w->loop.pool.allocated - xm_uring_ring_chunks(w->loop.ur)) * sizeof(struct xm_chunk);
}

/* A Bolt v1 request header announcing a body of body bytes (class and header map empty). */
static size_t h__bolt_head(uint8_t *b, uint32_t id, uint32_t body)
{
	b[0] = 1, b[1] = 1, b[2] = 0, b[3] = 1; /* proto v1, request, cmdcode 1 */
	b[4] = 1;                               /* version */
	uint32_t nid = htonl(id);
	memcpy(b + 5, &nid, 4);
	b[9] = 1;                               /* hessian2 */
	memset(b + 10, 0, 4);                   /* timeout */
	b[14] = 0, b[15] = 0;                   /* class len */
	b[16] = 0, b[17] = 0;                   /* header len */
	uint32_t nb = htonl(body);
	memcpy(b + 18, &nb, 4);
	return 22;
}

static void h__wait_quiet(void)
{
	struct timespec ts = { 0, 200 * 1000000L };
	nanosleep(&ts, NULL); /* the worker has read what the kernel holds */
}

/* 20 clients announce 64 KiB bodies and send 1,000 single bytes each, interleaved: the
 * worker holds about what they sent, not a buffer per byte. */
static void test_trickle(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { 0 };
	int fds[H_CONNS];
	uint8_t head[32];

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint16_t port = t_listener_port(dp, "h");
	uint64_t before = h__held(dp);
	for (int i = 0; i < H_CONNS; i++) {
		fds[i] = t_connect(port);
		size_t n = h__bolt_head(head, (uint32_t)i + 1, 65536);
		T_CHECK_EQ(write(fds[i], head, n), (ssize_t)n);
	}
	for (int b = 0; b < 1000; b++) {
		for (int i = 0; i < H_CONNS; i++)
			T_CHECK_EQ(write(fds[i], "x", 1), 1);
		if (b % 100 == 0)
			h__wait_quiet(); /* let the worker read them one by one */
	}
	h__wait_quiet();
	uint64_t held = h__held(dp) - before;
	uint64_t sent = H_CONNS * (22 + 1000);
	fprintf(stderr, "  %llu bytes sent, %llu bytes of chunks held (%s%s)\n", (unsigned long long)sent,
		(unsigned long long)held, xm_io_backend_name(dp->io_backend),
		dp->workers[0].loop.ur && xm_uring_incremental(dp->workers[0].loop.ur) ? ", incremental buffers" : "");
	/* At most a chunk per connection (epoll: each reads into its own; io_uring: shared,
	 * incremental buffers), never one per read. */
	T_CHECK(held <= (uint64_t)H_CONNS * 2 * sizeof(struct xm_chunk));
	for (int i = 0; i < H_CONNS; i++)
		close(fds[i]);
	for (int t = 0; t < 100 && t_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_active") > 0; t++)
		h__wait_quiet();
	T_CHECK(h__held(dp) <= before + 4 * sizeof(struct xm_chunk)); /* given back once they close */
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* Wait (bounded) until the proxy closes fd: 1 when it did (EOF or reset), 0 on timeout. */
static int h__closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];
	for (int waited = 0; waited < ms; waited += 50) {
		if (poll(&p, 1, 50) > 0) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return 1;
		}
	}
	return 0;
}

static int64_t h__wait_stat(struct xm_dp *dp, const char *key, int64_t want)
{
	int64_t v = 0;
	for (int i = 0; i < 100 && (v = t_stat(dp, key)) != want; i++)
		h__wait_quiet();
	return v;
}

/* A frame announcing more than the listener's buffer limit is refused as soon as its length
 * is readable: a multiplexed upstream never waits on it, and nothing is held for it. */
static void test_frame_above_limit(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .buffer_limit = 1024 };
	uint8_t head[32];

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	int fd = t_connect(t_listener_port(dp, "h"));
	size_t n = h__bolt_head(head, 1, 4096);
	T_CHECK_EQ(write(fd, head, n), (ssize_t)n);
	T_CHECK(h__closed_within(fd, 2000));
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.decode_error.{reason=too_large}", 1), 1);
	close(fd);
	/* One just under the limit still goes through. */
	struct t_resp r;
	char body[600];
	memset(body, 'b', sizeof(body) - 1);
	body[sizeof(body) - 1] = 0;
	fd = t_connect(t_listener_port(dp, "h"));
	T_CHECK_EQ(t_bolt_call(fd, 7, "com.acme.S", "get", body, &r), 0);
	T_CHECK_EQ(r.status, 0);
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* A frame that began and stalls is cut at frame_timeout; its bytes are given back. */
static void test_frame_timeout(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .frame_timeout_ms = 300 };
	uint8_t head[32];

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint64_t before = h__held(dp);
	int fd = t_connect(t_listener_port(dp, "h"));
	size_t n = h__bolt_head(head, 1, 4096);
	T_CHECK_EQ(write(fd, head, n), (ssize_t)n);
	T_CHECK_EQ(write(fd, "partial", 7), 7);
	T_CHECK(h__closed_within(fd, 3000));
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_frame_timeout", 1), 1);
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_active", 0), 0);
	T_CHECK(h__held(dp) <= before + sizeof(struct xm_chunk));
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* Silent connections are closed at idle_timeout; a busy one is not. */
static void test_idle_timeout(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .idle_timeout_ms = 400 };
	struct t_resp r;

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	int quiet = t_connect(t_listener_port(dp, "h")), busy = t_connect(t_listener_port(dp, "h"));
	for (int i = 0; i < 8; i++) { /* 8 x 100 ms of traffic: longer than the idle timeout */
		T_CHECK_EQ(t_bolt_call(busy, (uint32_t)i + 1, "com.acme.S", "get", "x", &r), 0);
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	T_CHECK(h__closed_within(quiet, 3000));
	T_CHECK_EQ(t_bolt_call(busy, 99, "com.acme.S", "get", "x", &r), 0); /* still open */
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_idle_timeout", 1), 1);
	close(quiet);
	close(busy);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* After max_connection_duration a connection stops reading and closes once answered. */
static void test_max_duration(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .max_duration_ms = 300 };
	struct t_resp r;

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	int fd = t_connect(t_listener_port(dp, "h"));
	T_CHECK_EQ(t_bolt_call(fd, 1, "com.acme.S", "get", "x", &r), 0);
	T_CHECK(h__closed_within(fd, 3000));
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_max_duration_reached", 1), 1);
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* 20 clients hold 900 KiB of an unfinished frame each (under a 1 MiB limit): the worker
 * holds about that; when they close, the chunks go back to malloc and the worker trims the
 * heap (the pages return to the kernel, not only to glibc's arena). */
static void test_big_frames_trimmed(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .buffer_limit = 1 << 20 };
	int fds[H_CONNS];
	static uint8_t body[900 * 1024];
	uint8_t head[32];

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint16_t port = t_listener_port(dp, "h");
	uint64_t before = h__held(dp);
	memset(body, 'b', sizeof(body));
	for (int i = 0; i < H_CONNS; i++) {
		fds[i] = t_connect(port);
		size_t n = h__bolt_head(head, (uint32_t)i + 1, sizeof(body) + 1000);
		T_CHECK_EQ(write(fds[i], head, n), (ssize_t)n);
		size_t off = 0;
		while (off < sizeof(body)) {
			struct pollfd p = { .fd = fds[i], .events = POLLOUT };
			T_CHECK(poll(&p, 1, 2000) == 1);
			ssize_t w = write(fds[i], body + off, sizeof(body) - off);
			T_CHECK(w > 0);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	h__wait_quiet();
	uint64_t held = h__held(dp) - before;
	fprintf(stderr, "  %d x %zu KiB unfinished: %llu KiB of chunks held\n", H_CONNS, sizeof(body) / 1024,
		(unsigned long long)held / 1024);
	T_CHECK(held >= (uint64_t)H_CONNS * sizeof(body) * 9 / 10);
	T_CHECK(held <= (uint64_t)H_CONNS * (1 << 20) + 64 * sizeof(struct xm_chunk));
	int64_t trims = t_stat(dp, "dataplane.malloc_trim_total");
	for (int i = 0; i < H_CONNS; i++)
		close(fds[i]);
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_active", 0), 0);
	/* The trim runs at the end of a worker turn: the closes' own turns. */
	T_CHECK(h__wait_stat(dp, "dataplane.malloc_trim_total", trims + 1) >= trims + 1);
	T_CHECK(h__held(dp) <= before + 4 * sizeof(struct xm_chunk));
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* Memory pressure (reset_high_memory_stream): the clients holding at least the threshold of
 * an unfinished frame are reset; a small one and a connection without one stay. */
static void test_shed(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { .buffer_limit = 1 << 20 };
	static uint8_t body[600 * 1024];
	uint8_t head[32];
	int big[2], small, idle;
	struct t_resp r;

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint16_t port = t_listener_port(dp, "h");
	memset(body, 'b', sizeof(body));
	for (int i = 0; i < 2; i++) {
		big[i] = t_connect(port);
		size_t n = h__bolt_head(head, (uint32_t)i + 1, sizeof(body) + 100);
		T_CHECK_EQ(write(big[i], head, n), (ssize_t)n);
		for (size_t off = 0; off < sizeof(body);) {
			struct pollfd p = { .fd = big[i], .events = POLLOUT };
			T_CHECK(poll(&p, 1, 2000) == 1);
			ssize_t w = write(big[i], body + off, sizeof(body) - off);
			T_CHECK(w > 0);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	small = t_connect(port);
	size_t n = h__bolt_head(head, 9, 20000);
	T_CHECK_EQ(write(small, head, n), (ssize_t)n);
	T_CHECK_EQ(write(small, body, 10000), 10000);
	idle = t_connect(port);
	T_CHECK_EQ(t_bolt_call(idle, 1, "com.acme.S", "get", "x", &r), 0);
	h__wait_quiet();
	xm_dp_shed(dp, 512 * 1024);
	T_CHECK(h__closed_within(big[0], 2000));
	T_CHECK(h__closed_within(big[1], 2000));
	T_CHECK(!h__closed_within(small, 200));
	T_CHECK_EQ(t_bolt_call(idle, 2, "com.acme.S", "get", "y", &r), 0);
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_overload_reset", 2), 2);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_active"), 2);
	for (int i = 0; i < 2; i++)
		close(big[i]);
	close(small);
	close(idle);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* Draining the listener (xmesh stops): new connections are refused, an idle one closes at
 * once, one with a request in flight or a frame half received is answered, then closed. */
static void test_drain(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { 0 };
	struct t_resp r;
	uint8_t req[256];

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint16_t port = t_listener_port(dp, "h");
	int idle = t_connect(port), busy = t_connect(port), half = t_connect(port);
	T_CHECK_EQ(t_bolt_call(idle, 1, "com.acme.S", "get", "x", &r), 0); /* the upstream is up */
	__atomic_store_n(&up.stall, 1, __ATOMIC_RELEASE);
	h__wait_quiet(); /* the server's current poll round (50 ms) is over */
	size_t n = t_bolt_req(req, 2, 0, "com.acme.S", "get", "in-flight");
	T_CHECK_EQ(write(busy, req, n), (ssize_t)n);
	size_t hn = t_bolt_req(req, 3, 0, "com.acme.S", "get", "halves");
	T_CHECK_EQ(write(half, req, hn / 2), (ssize_t)(hn / 2));
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_rq_active", 1), 1);
	h__wait_quiet(); /* the half frame is read too */

	const char *names[] = { "h" };
	T_CHECK_EQ(xm_dp_drain(dp, names, 1, 1), 1);
	T_CHECK_EQ(xm_dp_drain(dp, names, 1, 1), 0); /* once */
	T_CHECK(h__closed_within(idle, 1000));
	T_CHECK_EQ(t_connect(port), -1);           /* refused: the socket is closed */
	T_CHECK(!h__closed_within(busy, 300));     /* still waits for its answer */
	T_CHECK(!h__closed_within(half, 100));
	__atomic_store_n(&up.stall, 0, __ATOMIC_RELEASE);
	T_CHECK_EQ(t_bolt_read_resp(busy, &r, 2000), 0);
	T_CHECK_EQ(r.id, 2);
	T_CHECK(strcmp(r.content, "u:in-flight") == 0);
	T_CHECK(h__closed_within(busy, 2000));      /* answered, then closed */
	T_CHECK_EQ(write(half, req + hn / 2, hn - hn / 2), (ssize_t)(hn - hn / 2));
	T_CHECK_EQ(t_bolt_read_resp(half, &r, 2000), 0);
	T_CHECK_EQ(r.id, 3);
	T_CHECK(h__closed_within(half, 2000));
	T_CHECK_EQ(h__wait_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_active", 0), 0);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_drain_close"), 3);
	close(idle);
	close(busy);
	close(half);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

/* A drain that is not graceful only stops accepting: connections already open run on. */
static void test_drain_listen_only(void)
{
	struct t_rpc_srv up;
	struct h_opts ho = { 0 };
	struct t_resp r;

	t_rpc_srv_start(&up, 'u');
	struct xm_dp *dp = h__dp(up.port, &ho);
	uint16_t port = t_listener_port(dp, "h");
	int fd = t_connect(port);
	T_CHECK_EQ(t_bolt_call(fd, 1, "com.acme.S", "get", "x", &r), 0);
	T_CHECK_EQ(xm_dp_drain(dp, NULL, 0, 0), 1);
	T_CHECK_EQ(t_connect(port), -1);
	T_CHECK(!h__closed_within(fd, 300));
	T_CHECK_EQ(t_bolt_call(fd, 2, "com.acme.S", "get", "y", &r), 0);
	T_CHECK(strcmp(r.content, "u:y") == 0);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=h}.downstream_cx_drain_close"), 0);
	close(fd);
	xm_dp_free(dp);
	t_rpc_srv_stop(&up);
}

T_MAIN_BEGIN
T_RUN("a trickle of single bytes costs about what was sent, not a buffer per read", test_trickle);
T_RUN("a frame larger than the buffer limit is refused when its length is read", test_frame_above_limit);
T_RUN("a stalled frame is cut at frame_timeout and its bytes given back", test_frame_timeout);
T_RUN("a silent connection is closed at idle_timeout, a busy one is not", test_idle_timeout);
T_RUN("after max_connection_duration a connection closes once answered", test_max_duration);
T_RUN("big unfinished frames are held up to the limit and the heap is trimmed when they close", test_big_frames_trimmed);
T_RUN("under memory pressure the clients holding large unfinished frames are reset", test_shed);
T_RUN("a drained listener refuses new connections and closes old ones once answered", test_drain);
T_RUN("a drain that is not graceful only stops accepting", test_drain_listen_only);
T_MAIN_END
