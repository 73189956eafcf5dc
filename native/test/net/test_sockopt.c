/* Configured socket options: states on listeners, inheritance by accepted sockets, upstream
 * options seen by the peer, and bad or changed options rejected with a reason. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "net/listener.h"
#include "net/sockopt.h"
#include "t.h"
#include "t_net.h"
#include "t_rpc.h"

static struct xm_sockopts *t__opts(unsigned n)
{
	return calloc(1, sizeof(struct xm_sockopts) + n * sizeof(struct xm_sockopt));
}

static void t__int(struct xm_sockopt *s, int level, int name, int v, int state)
{
	s->level = level;
	s->name = name;
	s->ival = v;
	s->state = (uint8_t)state;
}

static void t__buf(struct xm_sockopt *s, int level, int name, const char *v, int state)
{
	s->level = level;
	s->name = name;
	s->is_buf = 1;
	s->len = (uint16_t)strlen(v);
	memcpy(s->buf, v, s->len);
	s->state = (uint8_t)state;
}

static int t__int_of(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	getsockopt(fd, level, name, &v, &len);
	return v;
}

static int t__cc_is(int fd, const char *want)
{
	char cc[32] = { 0 };
	socklen_t len = sizeof(cc) - 1;
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len) < 0)
		return 0;
	return strcmp(cc, want) == 0;
}

static int t__accept(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

static void test_states_and_inheritance(void)
{
	struct xm_sockopts *o = t__opts(3);
	struct xm_listener *l = NULL;
	char err[256] = "";

	o->n = 3;
	t__int(&o->v[0], SOL_SOCKET, SO_RCVBUF, 32768, XM_SOCKOPT_PREBIND);
	t__int(&o->v[1], SOL_SOCKET, SO_KEEPALIVE, 1, XM_SOCKOPT_BOUND);
	t__buf(&o->v[2], IPPROTO_TCP, TCP_CONGESTION, "reno", XM_SOCKOPT_LISTENING);
	T_CHECK_EQ(xm_listener_open(&l, "127.0.0.1", 0, 16, -1, o, 1, err, sizeof(err)), 0);
	if (!l) {
		fprintf(stderr, "  open: %s\n", err);
		free(o);
		return;
	}
	T_CHECK_EQ(t__int_of(l->fd, SOL_SOCKET, SO_RCVBUF), 2 * 32768); /* the kernel doubles it */
	T_CHECK_EQ(t__int_of(l->fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	T_CHECK(t__cc_is(l->fd, "reno"));
	T_CHECK(xm_sockopts_equal(l->opts, o));

	/* The kernel copies the congestion control to accepted sockets. */
	int cfd = t_connect(l->bound_port);
	int afd = t__accept(l->fd);
	T_CHECK(afd >= 0);
	T_CHECK(t__cc_is(afd, "reno"));
	close(afd);
	close(cfd);
	xm_listener_close(l);
	free(o);
}

static void test_bad_option_names_it(void)
{
	struct xm_sockopts *o = t__opts(2);
	struct xm_listener *l = NULL;
	char err[256] = "";

	o->n = 2;
	t__int(&o->v[0], SOL_SOCKET, SO_KEEPALIVE, 1, XM_SOCKOPT_PREBIND);
	t__buf(&o->v[1], IPPROTO_TCP, TCP_CONGESTION, "no-such-cc", XM_SOCKOPT_LISTENING);
	T_CHECK(xm_listener_open(&l, "127.0.0.1", 0, 16, -1, o, 1, err, sizeof(err)) < 0);
	T_CHECK(l == NULL);
	T_CHECK(strstr(err, "socket_options[1] (level 6, name 13)") != NULL);
	T_CHECK(strstr(err, "127.0.0.1:0") != NULL);

	char why[160] = "";
	T_CHECK_EQ(xm_sockopts_check_upstream(o, AF_INET, why, sizeof(why)), -ENOENT);
	T_CHECK(strstr(why, "socket_options[1]") != NULL);
	free(o);
}

static void test_inherited_gets_listening_only(void)
{
	struct xm_sockopts *o = t__opts(2);
	struct xm_listener *l = NULL;
	char err[256] = "";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	T_CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	T_CHECK_EQ(listen(fd, 4), 0);
	o->n = 2;
	t__int(&o->v[0], SOL_SOCKET, SO_KEEPALIVE, 1, XM_SOCKOPT_PREBIND);
	t__buf(&o->v[1], IPPROTO_TCP, TCP_CONGESTION, "reno", XM_SOCKOPT_LISTENING);
	T_CHECK_EQ(xm_listener_open(&l, "127.0.0.1", 0, 16, fd, o, 1, err, sizeof(err)), 0);
	T_CHECK_EQ(t__int_of(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	T_CHECK(t__cc_is(fd, "reno"));
	xm_listener_close(l); /* closes the adopted fd */
	free(o);
}

static void test_equal(void)
{
	struct xm_sockopts *a = t__opts(1), *b = t__opts(1);

	a->n = b->n = 1;
	t__buf(&a->v[0], IPPROTO_TCP, TCP_CONGESTION, "reno", 0);
	t__buf(&b->v[0], IPPROTO_TCP, TCP_CONGESTION, "reno", 0);
	T_CHECK(xm_sockopts_equal(a, b));
	t__buf(&b->v[0], IPPROTO_TCP, TCP_CONGESTION, "cubic", 0);
	T_CHECK(!xm_sockopts_equal(a, b));
	t__buf(&b->v[0], IPPROTO_TCP, TCP_CONGESTION, "reno", XM_SOCKOPT_LISTENING);
	T_CHECK(!xm_sockopts_equal(a, b));
	T_CHECK(xm_sockopts_equal(NULL, NULL));
	a->n = 0;
	T_CHECK(xm_sockopts_equal(a, NULL));
	T_CHECK(!xm_sockopts_equal(NULL, b));
	free(a);
	free(b);
}

static int t__apply(struct xm_dp *dp, struct t_snap_opts *so, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	t_snapshot_opts(so, &buf, &len);
	int rc = xm_dp_apply(dp, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* Upstream options reach the wire: TCP_MAXSEG set before connect() is the MSS the proxy
 * advertises in its SYN, so the upstream's accepted socket sees it. */
static void test_upstream_options_and_swaps(void)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts dopts = { .nworkers = 1, .stats_capacity = 8u << 20 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char err[256] = "";
	int ufd = socket(AF_INET, SOCK_STREAM, 0);

	T_CHECK_EQ(bind(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
	T_CHECK_EQ(listen(ufd, 4), 0);
	getsockname(ufd, (struct sockaddr *)&a, &alen);
	uint16_t uport = ntohs(a.sin_port);
	T_CHECK_EQ(xm_dp_new(&dp, &dopts), 0);

	struct t_snap_opts so = { .version = 1, .ports = &uport, .nports = 1, .listener_cc = "reno",
				  .upstream_cc = "reno", .upstream_maxseg = 600 };
	T_CHECK_EQ(t__apply(dp, &so, err, sizeof(err)), 0);
	uint16_t port = t_listener_port(dp, "l");
	int cfd = t_connect(port);
	T_CHECK(write(cfd, "x", 1) == 1);
	int afd = t__accept(ufd);
	T_CHECK(afd >= 0);
	int mss = t__int_of(afd, IPPROTO_TCP, TCP_MAXSEG);
	T_CHECK(mss > 0 && mss <= 600);
	char b;
	T_CHECK_EQ(read(afd, &b, 1), 1);
	close(afd);
	close(cfd);

	/* A bad upstream option rejects the snapshot and names the cluster and the option. */
	so.version = 2;
	so.upstream_cc = "no-such-cc";
	T_CHECK(t__apply(dp, &so, err, sizeof(err)) < 0);
	T_CHECK(strstr(err, "cluster 'c': upstream socket_options[0] (level 6, name 13)") != NULL);

	/* The kept listener keeps its options: the same ones pass, others are refused. */
	so.upstream_cc = "reno";
	T_CHECK_EQ(t__apply(dp, &so, err, sizeof(err)), 0);
	so.version = 3;
	so.listener_cc = "cubic";
	T_CHECK(t__apply(dp, &so, err, sizeof(err)) < 0);
	T_CHECK(strstr(err, "socket_options differ") != NULL);
	T_CHECK_EQ(t_listener_port(dp, "l"), port); /* still serving on the same socket */
	cfd = t_connect(port);
	T_CHECK(cfd >= 0 && write(cfd, "y", 1) == 1);
	afd = t__accept(ufd);
	T_CHECK(afd >= 0);
	if (afd >= 0)
		close(afd);
	close(cfd);
	xm_dp_free(dp);
	close(ufd);
}

T_MAIN_BEGIN
T_RUN("listener options apply in their states; accepted sockets inherit TCP_CONGESTION", test_states_and_inheritance);
T_RUN("a refused option fails the listener and names the option", test_bad_option_names_it);
T_RUN("an inherited listener gets only the STATE_LISTENING options", test_inherited_gets_listening_only);
T_RUN("option lists compare by level, name, value and state", test_equal);
T_RUN("upstream options reach the wire; bad or changed options reject the snapshot", test_upstream_options_and_swaps);
T_MAIN_END
