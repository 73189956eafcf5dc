/* The snapshot swap of the data plane (server/dp.c, server/worker.c): listeners that stay keep their socket under traffic, those that go are closed,
 * retired tables are freed once no worker and no connecting session holds them, the listener summary follows, and a failed apply changes nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/* ------------------------------------------------------------ snapshots */

struct sw_l {
	const char *name;
	uint16_t port;          /* 0: ephemeral (the socket is kept by name) */
	const char *cluster;    /* NULL: "c" */
	int tos;                /* >0: a STATE_LISTENING IP_TOS socket option */
};

/* Listeners ls, each one tcp_proxy chain (stat_prefix = its name) to its cluster; cluster "c"
 * has one endpoint, 127.0.0.1:up. */
static size_t sw_snapshot(uint64_t version, const struct sw_l *ls, size_t n, uint16_t up, uint32_t connect_timeout_ms,
			  uint8_t **out)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l[8], *lp[8];
	Xmesh__Dataplane__V1__SocketAddress la[8];
	Xmesh__Dataplane__V1__TcpProxy tp[8];
	Xmesh__Dataplane__V1__SocketOption so[8], *sop[8];
	struct t_chain ch[8];
	Xmesh__Dataplane__V1__Cluster c = XMESH__DATAPLANE__V1__CLUSTER__INIT, *cp[1] = { &c };
	Xmesh__Dataplane__V1__Endpoint e = XMESH__DATAPLANE__V1__ENDPOINT__INIT, *ep[1] = { &e };
	Xmesh__Dataplane__V1__SocketAddress ea = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;

	for (size_t i = 0; i < n && i < 8; i++) {
		xmesh__dataplane__v1__listener__init(&l[i]);
		xmesh__dataplane__v1__socket_address__init(&la[i]);
		xmesh__dataplane__v1__tcp_proxy__init(&tp[i]);
		la[i].address = "127.0.0.1";
		la[i].port = ls[i].port;
		l[i].name = (char *)ls[i].name;
		l[i].address = &la[i];
		l[i].buffer_limit = 1u << 20;
		l[i].backlog = 128;
		tp[i].stat_prefix = (char *)ls[i].name;
		tp[i].cluster = (char *)(ls[i].cluster ? ls[i].cluster : "c");
		tp[i].max_connect_attempts = 1;
		tp[i].access_log_path = "";
		t_chain_tcp(&l[i], &ch[i], &tp[i]);
		if (ls[i].tos) {
			xmesh__dataplane__v1__socket_option__init(&so[i]);
			so[i].level = IPPROTO_IP;
			so[i].name = IP_TOS;
			so[i].state = XMESH__DATAPLANE__V1__SOCKET_OPTION__STATE__STATE_LISTENING;
			so[i].value_case = XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_INT_VALUE;
			so[i].int_value = ls[i].tos;
			sop[i] = &so[i];
			l[i].n_socket_options = 1, l[i].socket_options = &sop[i];
		}
		lp[i] = &l[i];
	}
	ea.address = "127.0.0.1";
	ea.port = up;
	e.address = &ea, e.weight = 1, e.healthy = 1;
	c.name = "c";
	c.connect_timeout_ms = connect_timeout_ms;
	c.per_connection_buffer_limit = 1u << 20;
	c.n_endpoints = 1, c.endpoints = ep;
	snap.version = version;
	snap.n_listeners = n, snap.listeners = lp;
	snap.n_clusters = 1, snap.clusters = cp;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	*out = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, *out);
	return len;
}

static int sw_apply(struct xm_dp *dp, uint64_t version, const struct sw_l *ls, size_t n, uint16_t up,
		    uint32_t connect_timeout_ms, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len = sw_snapshot(version, ls, n, up, connect_timeout_ms, &buf);
	int rc = xm_dp_apply(dp, buf, len, err, errlen);
	free(buf);
	return rc;
}

static struct xm_dp *sw_dp(unsigned nworkers)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = nworkers, .stats_capacity = 8u << 20 };
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	return dp;
}

/* The listener summary, copied. */
struct sw_info {
	int n;
	char name[8][16], address[8][32];
	uint16_t port[8];
	int fd[8];
};
static void sw_info_cb(void *ctx, const struct xm_dp_listener_info *li)
{
	struct sw_info *x = ctx;
	if (x->n < 8) {
		snprintf(x->name[x->n], sizeof(x->name[0]), "%s", li->name);
		snprintf(x->address[x->n], sizeof(x->address[0]), "%s", li->address);
		x->port[x->n] = li->port;
		x->fd[x->n] = li->fd;
		x->n++;
	}
}
static uint64_t sw_info(struct xm_dp *dp, struct sw_info *x)
{
	memset(x, 0, sizeof(*x));
	return xm_dp_listeners(dp, sw_info_cb, x);
}
static int sw_find(const struct sw_info *x, const char *name)
{
	for (int i = 0; i < x->n; i++)
		if (strcmp(x->name[i], name) == 0)
			return i;
	return -1;
}

/* 0 when a connection to 127.0.0.1:port is established, else -errno (ECONNREFUSED). */
static int sw_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Wait (bounded) until a stat reaches want; its last value. */
static long long sw_wait_stat(struct xm_dp *dp, const char *key, long long want, int ms)
{
	long long v = t_stat(dp, key);
	for (uint64_t end = xm_now_ms() + (uint64_t)ms; v != want && xm_now_ms() < end; v = t_stat(dp, key))
		usleep(1000);
	return v;
}

/* An upstream whose accept queue is full: a connect to it never completes (SYNs dropped). */
struct blackhole {
	int lfd, fill;
	uint16_t port;
};
static void blackhole_open(struct blackhole *b)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bind(b->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(b->lfd, 0); /* room for one connection, taken below and never accepted */
	getsockname(b->lfd, (struct sockaddr *)&a, &len);
	b->port = ntohs(a.sin_port);
	b->fill = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK_EQ(connect(b->fill, (struct sockaddr *)&a, sizeof(a)), 0);
}
static void blackhole_close(struct blackhole *b)
{
	close(b->fill);
	close(b->lfd);
}

/* ------------------------------------------------------------ traffic */

struct load {
	uint16_t port;
	int stop;
	long ok, failed;
};
static void *load_main(void *arg)
{
	struct load *ld = arg;
	while (!__atomic_load_n(&ld->stop, __ATOMIC_ACQUIRE)) {
		int intact = 0;
		if (t_roundtrip(ld->port, 2000, 3000, &intact) == 2000 && intact)
			__atomic_add_fetch(&ld->ok, 1, __ATOMIC_RELEASE);
		else
			__atomic_add_fetch(&ld->failed, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* ------------------------------------------------------------ tests */

/* Two workers, traffic on "keep" throughout: 20 swaps add and remove other listeners.
 * "keep" stays the same socket (same fd and port, no connection refused or broken), a
 * listener added accepts once apply returns, one removed refuses connections once its
 * last table is reclaimed, and the summary follows each swap. */
static void test_swap_under_traffic(void)
{
	struct t_server up;
	struct xm_dp *dp = sw_dp(2);
	struct sw_info info;
	char err[256];

	if (!dp)
		return;
	T_CHECK_EQ(t_echo_start(&up), 0);
	const struct sw_l v1[] = { { "keep" }, { "go" } };
	T_CHECK_EQ(sw_apply(dp, 1, v1, 2, up.port, 1000, err, sizeof(err)), 0);
	T_CHECK_EQ(sw_info(dp, &info), 1);
	T_CHECK_EQ(info.n, 2);
	int k = sw_find(&info, "keep"), g = sw_find(&info, "go");
	T_CHECK(k >= 0 && g >= 0);
	if (k < 0 || g < 0)
		goto out;
	T_CHECK(strcmp(info.address[k], "127.0.0.1:0") == 0);
	T_CHECK(info.port[k] != 0 && info.port[g] != 0 && info.port[k] != info.port[g]);
	T_CHECK(info.fd[k] >= 0 && info.fd[g] >= 0);
	uint16_t keep_port = info.port[k], go_port = info.port[g];
	int keep_fd = info.fd[k];

	struct load ld = { .port = keep_port };
	pthread_t th;
	pthread_create(&th, NULL, load_main, &ld);
	int same = 1, added_ok = 1, removed_refused = 1, summary_ok = 1;
	uint16_t last_extra = 0;
	for (uint64_t v = 2; v <= 21; v++) {
		/* Even versions: keep + an extra listener; odd: keep alone (the extra goes). */
		char extra[16];
		snprintf(extra, sizeof(extra), "x%llu", (unsigned long long)v);
		const struct sw_l even[] = { { "keep" }, { extra } }, odd[] = { { "keep" } };
		/* Traffic between any two swaps: two more connections first. */
		long seen = __atomic_load_n(&ld.ok, __ATOMIC_ACQUIRE);
		for (uint64_t end = xm_now_ms() + 3000; __atomic_load_n(&ld.ok, __ATOMIC_ACQUIRE) < seen + 2 && xm_now_ms() < end;)
			usleep(200);
		int rc = sw_apply(dp, v, v % 2 ? odd : even, v % 2 ? 1 : 2, up.port, 1000, err, sizeof(err));
		T_CHECK_EQ(rc, 0);
		uint64_t ver = sw_info(dp, &info);
		k = sw_find(&info, "keep");
		summary_ok &= ver == v && info.n == (v % 2 ? 1 : 2) && k >= 0 && sw_find(&info, "go") < 0;
		same &= k >= 0 && info.port[k] == keep_port && info.fd[k] == keep_fd;
		if (v % 2 == 0) {
			int x = sw_find(&info, extra);
			added_ok &= x >= 0 && sw_connect(info.port[x]) == 0;
			last_extra = x >= 0 ? info.port[x] : 0;
		} else {
			/* Sessions connecting on the old table may hold it a moment: reclaim, then
			 * the removed listener's socket is closed. */
			for (int i = 0; i < 1000 && xm_dp_reclaim(dp); i++)
				usleep(1000);
			removed_refused &= last_extra && sw_connect(last_extra) == -ECONNREFUSED;
		}
	}
	for (int i = 0; i < 1000 && xm_dp_reclaim(dp); i++)
		usleep(1000);
	T_CHECK_EQ(sw_connect(go_port), -ECONNREFUSED); /* removed in v2 */
	__atomic_store_n(&ld.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	fprintf(stderr, "  %ld connections through 20 swaps, %ld failed\n", ld.ok, ld.failed);
	T_CHECK(same);
	T_CHECK(added_ok);
	T_CHECK(removed_refused);
	T_CHECK(summary_ok);
	T_CHECK(ld.ok > 0);
	T_CHECK_EQ(ld.failed, 0);
	T_CHECK_EQ(t_stat(dp, "listener.{listener=keep}.downstream_cx_total"), ld.ok);
	T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_swaps_total"), 21);
	T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_version"), 21);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0);
out:
	xm_dp_free(dp);
	t_echo_stop(&up);
}

/* A tcp_proxy session still connecting holds the table it started on: the retired table
 * (and the socket of a listener only it still names) is freed only once that session
 * ends, and then by the next reclaim. */
static void test_reclaim_waits_for_session(void)
{
	struct blackhole bh;
	struct xm_dp *dp = sw_dp(1);
	struct sw_info info;
	char err[256];

	if (!dp)
		return;
	blackhole_open(&bh);
	const struct sw_l v1[] = { { "keep" }, { "go" } }, v2[] = { { "keep" } };
	T_CHECK_EQ(sw_apply(dp, 1, v1, 2, bh.port, 400, err, sizeof(err)), 0);
	sw_info(dp, &info);
	int g = sw_find(&info, "go");
	uint16_t go_port = g >= 0 ? info.port[g] : 0;
	/* Nothing holds v1: a swap frees it at once. */
	T_CHECK_EQ(sw_apply(dp, 2, v1, 2, bh.port, 400, err, sizeof(err)), 0);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0);
	/* A client whose upstream connect hangs: its session holds v2. */
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(t_listener_port(dp, "keep")),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	T_CHECK_EQ(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	T_CHECK_EQ(sw_wait_stat(dp, "tcp.{stat_prefix=keep}.downstream_cx_active", 1, 3000), 1);
	uint64_t t0 = xm_now_ms();
	T_CHECK_EQ(sw_apply(dp, 3, v2, 1, bh.port, 400, err, sizeof(err)), 0);
	T_CHECK_EQ(sw_info(dp, &info), 3);
	T_CHECK_EQ(info.n, 1);
	T_CHECK_EQ(xm_dp_reclaim(dp), 1); /* held by the connecting session */
	/* The session ends by its connect timeout; the table goes at the first reclaim after. */
	unsigned left = 1;
	long long ended = 0;
	while (left && xm_now_ms() < t0 + 5000) {
		left = xm_dp_reclaim(dp);
		if (left) {
			usleep(1000);
			continue;
		}
		ended = t_stat(dp, "tcp.{stat_prefix=keep}.cx_end.{reason=connect_timeout}");
	}
	uint64_t held_ms = xm_now_ms() - t0;
	fprintf(stderr, "  the retired table was held %llu ms (connect timeout 400 ms)\n", (unsigned long long)held_ms);
	T_CHECK_EQ(left, 0);
	T_CHECK_EQ(ended, 1); /* freed only after the session ended */
	T_CHECK(held_ms >= 300);
	T_CHECK_EQ(sw_connect(go_port), -ECONNREFUSED); /* its socket closed with it */
	close(cfd);

	/* A table retired while a session held it must go when that session ends, not at the
	 * next snapshot: the worker reports the release (XM_EV_TABLE_RELEASED) and the control
	 * side (the addon, when it drains events) reclaims. Here the test is the control side. */
	const struct sw_l v4[] = { { "keep" }, { "go2" } };
	T_CHECK_EQ(sw_apply(dp, 4, v4, 2, bh.port, 300, err, sizeof(err)), 0);
	uint16_t go2 = t_listener_port(dp, "go2");
	int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK_EQ(connect(c2, (struct sockaddr *)&a, sizeof(a)), 0);
	T_CHECK_EQ(sw_wait_stat(dp, "tcp.{stat_prefix=keep}.downstream_cx_active", 1, 3000), 1);
	T_CHECK_EQ(sw_apply(dp, 5, v2, 1, bh.port, 300, err, sizeof(err)), 0);
	T_CHECK_EQ(sw_wait_stat(dp, "tcp.{stat_prefix=keep}.cx_end.{reason=connect_timeout}", 2, 3000), 2);
	int released = 0;
	for (int i = 0; i < 300 && !released; i++) {
		struct xm_event evs[16];
		unsigned n = xm_events_drain(dp->events, evs, 16);
		for (unsigned k = 0; k < n; k++)
			released |= evs[k].kind == XM_EV_TABLE_RELEASED;
		if (!released)
			usleep(10000);
	}
	T_CHECK(released);
	T_CHECK_EQ(xm_dp_try_reclaim(dp), 0);
	T_CHECK_EQ(sw_connect(go2), -ECONNREFUSED);
	close(c2);
	xm_dp_free(dp);
	blackhole_close(&bh);
}

/* A snapshot that cannot be applied changes nothing: the error names the culprit, the
 * running listeners keep serving with the same sockets, the summary and version stay,
 * the failure is counted, and a socket the failed build had opened is closed again. */
static void test_apply_failure(void)
{
	struct t_server up;
	struct xm_dp *dp = sw_dp(1);
	struct sw_info before, after;
	char err[256];

	if (!dp)
		return;
	T_CHECK_EQ(t_echo_start(&up), 0);
	const struct sw_l v1[] = { { "keep" } };
	T_CHECK_EQ(sw_apply(dp, 1, v1, 1, up.port, 1000, err, sizeof(err)), 0);
	sw_info(dp, &before);
	uint16_t fixed = t_closed_port();
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
	const struct {
		const char *desc;
		struct sw_l ls[3];
		size_t n;
		int raw;          /* garbage bytes instead of a snapshot */
		const char *err;
	} cases[] = {
		{ "bytes that are no snapshot", { { 0 } }, 0, 1, "protobuf decode failed" },
		{ "a listener naming a cluster that does not exist (after a new socket was opened)",
		  { { "keep" }, { "extra", fixed }, { "bad", 0, "nope" } }, 3, 0, "listener 'bad': tcp_proxy cluster 'nope' not found" },
		{ "two listeners on one address",
		  { { "keep" }, { "extra", fixed }, { "twin", fixed } }, 3, 0, "same address as listener" },
		{ "other socket options for a socket that stays",
		  { { "keep", 0, NULL, 0x10 } }, 1, 0, "socket_options differ" },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed, rc;
		t__case_failed = 0;
		err[0] = 0;
		if (cases[i].raw)
			rc = xm_dp_apply(dp, garbage, sizeof(garbage), err, sizeof(err));
		else
			rc = sw_apply(dp, 2, cases[i].ls, cases[i].n, up.port, 1000, err, sizeof(err));
		T_CHECK(rc < 0);
		T_CHECK(strstr(err, cases[i].err) != NULL);
		T_CHECK_EQ(sw_info(dp, &after), 1);
		T_CHECK_EQ(after.n, 1);
		T_CHECK(strcmp(after.name[0], "keep") == 0 && after.port[0] == before.port[0] && after.fd[0] == before.fd[0]);
		T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_swap_failed_total"), (long long)i + 1);
		T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_version"), 1);
		T_CHECK_EQ(sw_connect(fixed), -ECONNREFUSED); /* the failed build's socket is closed */
		int intact = 0;
		T_CHECK_EQ(t_roundtrip(before.port[0], 1000, 3000, &intact), 1000);
		T_CHECK(intact);
		if (t__case_failed)
			fprintf(stderr, "  case: %s (err: %s)\n", cases[i].desc, err);
		t__case_failed |= failed;
	}
	T_CHECK_EQ(t_stat(dp, "dataplane.snapshot_swaps_total"), 1);
	/* And the data plane still takes a good snapshot, with the address the failures named. */
	const struct sw_l v2[] = { { "keep" }, { "extra", fixed } };
	T_CHECK_EQ(sw_apply(dp, 2, v2, 2, up.port, 1000, err, sizeof(err)), 0);
	T_CHECK_EQ(t_listener_port(dp, "extra"), fixed);
	int intact = 0;
	T_CHECK_EQ(t_roundtrip(fixed, 1000, 3000, &intact), 1000);
	xm_dp_free(dp);
	t_echo_stop(&up);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("20 swaps under traffic: the listener that stays keeps its socket, added ones accept, removed ones close", test_swap_under_traffic);
	T_RUN("a connecting session holds its table: reclaimed only once it ends", test_reclaim_waits_for_session);
	T_RUN("a failed apply changes nothing and closes what its build opened", test_apply_failure);
T_MAIN_END
