/* Listening sockets (net/listener.c): bind or adopt, socket options by state, the accept loop on a worker's loop, watch/unwatch, shedding on fd exhaustion. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/event.h"
#include "core/loop.h"
#include "core/uring.h"
#include "net/listener.h"
#include "stats/stats.h"
#include "t.h"
#include "t_net.h"

static int ring_wanted;
static struct xm_loop L;
static struct xm_stats *S;
static struct xm_events *E;

static void env_open(void)
{
	T_CHECK_EQ(xm_loop_init(&L, 0), 0);
	if (ring_wanted)
		T_CHECK_EQ(xm_uring_new(&L.ur, &L.pool, NULL, 0), 0);
	T_CHECK_EQ(xm_stats_open(&S, NULL, 1u << 20), 0);
	T_CHECK_EQ(xm_events_new(&E, 64, NULL, NULL), 0);
}

static void env_close(void)
{
	if (L.ur) {
		xm_uring_free(L.ur);
		L.ur = NULL;
	}
	xm_loop_close(&L);
	xm_events_free(E);
	xm_stats_close(S);
}

#define RUN_UNTIL(cond, ms)                                                      \
	({                                                                       \
		uint64_t d__ = xm_now_ms() + (ms);                               \
		int ok__;                                                        \
		while (!(ok__ = !!(cond)) && xm_now_ms() < d__)                  \
			xm_loop_run_once(&L, 5);                                 \
		ok__;                                                            \
	})

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the directory's own fd */
}

/* A listener as the table builder leaves it: stats and events set. */
static int lopen(struct xm_listener **l, const char *addr, uint16_t port, int inherited, const struct xm_sockopts *o,
		 char *err, size_t errlen)
{
	int rc = xm_listener_open(l, addr, port, 128, inherited, o, 1, err, errlen);
	if (rc == 0) {
		(*l)->st = xm_listener_stats_new(S, "l");
		(*l)->events = E;
	}
	return rc;
}

static void lclose(struct xm_listener *l)
{
	if (!l)
		return;
	free(l->st);
	xm_listener_close(l);
}

static int gsoi(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	getsockopt(fd, level, name, &v, &len);
	return v;
}

static int blocking_connect(int fd, uint16_t port, int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6, a->sin6_port = htons(port), a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET, a->sin_port = htons(port), a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	return connect(fd, (struct sockaddr *)&ss, len);
}

static int have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ------------------------------------------------------------ open */

static void test_open(void)
{
	uint16_t busy_port = 0;
	int busy = -1;
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);
		busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		T_CHECK(bind(busy, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(busy, 1) == 0);
		getsockname(busy, (struct sockaddr *)&a, &len);
		busy_port = ntohs(a.sin_port);
	}
	const struct {
		const char *desc, *addr;
		uint16_t port;
		int rc;
		const char *addr_str, *err_has;
		int family;
	} cases[] = {
		{ "IPv4 loopback, port 0: an ephemeral port", "127.0.0.1", 0, 0, "127.0.0.1:0", NULL, AF_INET },
		{ "IPv6 loopback", "::1", 0, 0, "[::1]:0", NULL, AF_INET6 },
		{ "a host name is refused", "localhost", 0, -EINVAL, NULL, "localhost: not a numeric IP address", 0 },
		{ "a port another socket listens on is refused", "127.0.0.1", busy_port, -EADDRINUSE, NULL, "bind:", 0 },
	};
	env_open();
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct xm_listener *l = NULL;
		char err[256] = "";

		t__case_failed = 0;
		if (cases[i].family == AF_INET6 && !have_ipv6()) {
			fprintf(stderr, "  skipped (no IPv6 loopback): %s\n", cases[i].desc);
			continue;
		}
		int fds = open_fds();
		int rc = lopen(&l, cases[i].addr, cases[i].port, 0, NULL, err, sizeof(err));
		T_CHECK_EQ(rc, cases[i].rc);
		if (rc == 0 && l) {
			T_CHECK(strcmp(l->addr_str, cases[i].addr_str) == 0);
			T_CHECK_EQ(l->addr.ss_family, cases[i].family);
			T_CHECK(l->bound_port != 0);
			T_CHECK_EQ(gsoi(l->fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
			T_CHECK(fcntl(l->fd, F_GETFL) & O_NONBLOCK);
			T_CHECK(fcntl(l->fd, F_GETFD) & FD_CLOEXEC);
			T_CHECK(!l->inherited);
			T_CHECK(l->opts == NULL);
			int c = socket(cases[i].family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			T_CHECK_EQ(blocking_connect(c, l->bound_port, cases[i].family), 0);
			close(c);
			lclose(l);
		} else {
			T_CHECK(cases[i].err_has && strstr(err, cases[i].err_has) != NULL);
		}
		T_CHECK_EQ(open_fds(), fds); /* nothing leaked, and close closes */
		if (t__case_failed)
			fprintf(stderr, "  case: %s (err: %s)\n", cases[i].desc, err);
		t__case_failed |= failed;
	}
	close(busy);
	env_close();
}

/* ------------------------------------------------------------ socket options by state */

static struct xm_sockopts *opts3(int prebind_name, int prebind_level, int prebind_val)
{
	struct xm_sockopts *o = calloc(1, sizeof(*o) + 3 * sizeof(o->v[0]));
	o->n = 3;
	o->v[0] = (struct xm_sockopt){ .level = prebind_level, .name = prebind_name, .state = XM_SOCKOPT_PREBIND, .ival = prebind_val };
	o->v[1] = (struct xm_sockopt){ .level = SOL_SOCKET, .name = SO_PRIORITY, .state = XM_SOCKOPT_BOUND, .ival = 3 };
	o->v[2] = (struct xm_sockopt){ .level = SOL_SOCKET, .name = SO_KEEPALIVE, .state = XM_SOCKOPT_LISTENING, .ival = 1 };
	return o;
}

/* Each state's options go on at their moment: a new socket gets all of them, an inherited
 * one (its creator applied the earlier states) only STATE_LISTENING's; the listener keeps
 * its own copy. A refused option fails the open naming the socket and the option, and
 * closes a socket it made but never an inherited one. */
static void test_sockopts_by_state(void)
{
	static const struct {
		const char *desc;
		int inherited;
		int tos, prio, keepalive;
	} cases[] = {
		{ "a new socket: PREBIND, BOUND and LISTENING options", 0, 0x10, 3, 1 },
		{ "an inherited socket: only the LISTENING options", 1, 0, 0, 1 },
	};
	env_open();
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct xm_listener *l = NULL;
		char err[256] = "";
		int ifd = -1;

		t__case_failed = 0;
		struct xm_sockopts *o = opts3(IP_TOS, IPPROTO_IP, 0x10);
		if (cases[i].inherited) {
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			ifd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			T_CHECK(bind(ifd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(ifd, 8) == 0);
		}
		T_CHECK_EQ(lopen(&l, "127.0.0.1", 0, ifd, o, err, sizeof(err)), 0);
		if (l) {
			T_CHECK_EQ(l->inherited, cases[i].inherited);
			if (cases[i].inherited)
				T_CHECK_EQ(l->fd, ifd);
			T_CHECK_EQ(gsoi(l->fd, IPPROTO_IP, IP_TOS), cases[i].tos);
			T_CHECK_EQ(gsoi(l->fd, SOL_SOCKET, SO_PRIORITY), cases[i].prio);
			T_CHECK_EQ(gsoi(l->fd, SOL_SOCKET, SO_KEEPALIVE), cases[i].keepalive);
			T_CHECK(l->opts != NULL && l->opts != o && xm_sockopts_equal(l->opts, o));
			if (cases[i].inherited)
				T_CHECK(fcntl(ifd, F_GETFL) & O_NONBLOCK); /* made non-blocking for the accept loop */
			lclose(l);
		}
		free(o);
		if (t__case_failed)
			fprintf(stderr, "  case: %s (err: %s)\n", cases[i].desc, err);
		t__case_failed |= failed;
	}

	/* PREBIND really is before bind(): SO_REUSEPORT there lets a second socket share the
	 * port of a first one that set it too. */
	struct xm_listener *l1 = NULL, *l2 = NULL;
	char err[256] = "";
	struct xm_sockopts *o = opts3(SO_REUSEPORT, SOL_SOCKET, 1);
	T_CHECK_EQ(lopen(&l1, "127.0.0.1", 0, 0, o, err, sizeof(err)), 0);
	if (l1) {
		T_CHECK_EQ(lopen(&l2, "127.0.0.1", l1->bound_port, 0, o, err, sizeof(err)), 0);
		if (l2)
			T_CHECK_EQ(l2->bound_port, l1->bound_port);
		lclose(l2);
		lclose(l1);
	}
	free(o);

	/* A refused option, in each state: the error names the address and the option. */
	for (int state = XM_SOCKOPT_PREBIND; state <= XM_SOCKOPT_LISTENING; state++) {
		struct xm_sockopts *bad = calloc(1, sizeof(*bad) + sizeof(bad->v[0]));
		struct xm_listener *l = NULL;
		bad->n = 1;
		bad->v[0] = (struct xm_sockopt){ .level = IPPROTO_TCP, .name = 9999, .state = (uint8_t)state, .ival = 1 };
		int fds = open_fds();
		int rc = lopen(&l, "127.0.0.1", 0, 0, bad, err, sizeof(err));
		T_CHECK(rc < 0);
		T_CHECK(l == NULL);
		T_CHECK(strstr(err, "127.0.0.1:0: socket_options[0]") != NULL);
		T_CHECK_EQ(open_fds(), fds);
		/* Inherited: only a LISTENING option is applied, and the fd stays the caller's. */
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int ifd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		T_CHECK(bind(ifd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(ifd, 8) == 0);
		rc = lopen(&l, "127.0.0.1", 0, ifd, bad, err, sizeof(err));
		T_CHECK_EQ(rc < 0, state == XM_SOCKOPT_LISTENING);
		T_CHECK(fcntl(ifd, F_GETFD) >= 0);
		if (rc == 0)
			lclose(l); /* closes ifd */
		else
			close(ifd);
		free(bad);
	}
	env_close();
}

/* ------------------------------------------------------------ the accept loop */

struct acc {
	int n;
	int fds[64];
	struct sockaddr_storage peer[64];
	socklen_t plen[64];
	void *ctx[64];
};

static void on_accept(struct xm_loop *loop, void *ctx, int fd, const struct sockaddr_storage *peer, socklen_t plen)
{
	struct acc *a = *(struct acc **)ctx;
	(void)loop;
	if (a->n < 64) {
		a->fds[a->n] = fd;
		a->peer[a->n] = *peer;
		a->plen[a->n] = plen;
		a->ctx[a->n] = ctx;
		a->n++;
	} else {
		close(fd);
	}
}

static void acc_close(struct acc *a)
{
	for (int i = 0; i < a->n; i++)
		close(a->fds[i]);
	a->n = 0;
}

/* Accepted fds reach the callback with the peer's address, non-blocking and close-on-exec,
 * more than one accept batch's worth in a burst. */
static void test_accept(void)
{
	struct xm_listener *l = NULL;
	struct acc acc = { 0 }, *accp = &acc;
	char err[256];
	enum { N = 40 };
	int c[N];
	uint16_t cport[N];

	env_open();
	T_CHECK_EQ(lopen(&l, "127.0.0.1", 0, 0, NULL, err, sizeof(err)), 0);
	if (!l) {
		env_close();
		return;
	}
	T_CHECK_EQ(xm_listener_watch(l, &L, on_accept, &accp), 0);
	for (int i = 0; i < N; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		T_CHECK_EQ(blocking_connect(c[i], l->bound_port, AF_INET), 0);
		getsockname(c[i], (struct sockaddr *)&a, &len);
		cport[i] = ntohs(a.sin_port);
	}
	T_CHECK(RUN_UNTIL(acc.n == N, 3000));
	T_CHECK_EQ(acc.n, N);
	int good = 0;
	for (int i = 0; i < acc.n; i++) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)&acc.peer[i];
		int j;
		for (j = 0; j < N && cport[j] != ntohs(p->sin_port); j++)
			;
		good += j < N && acc.plen[i] == sizeof(struct sockaddr_in) && p->sin_family == AF_INET &&
			p->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && (fcntl(acc.fds[i], F_GETFL) & O_NONBLOCK) &&
			(fcntl(acc.fds[i], F_GETFD) & FD_CLOEXEC) && acc.ctx[i] == &accp;
		/* It is the client's connection: what the client sends is there. */
		if (j < N) {
			char b = 0;
			struct pollfd pf = { .fd = acc.fds[i], .events = POLLIN };
			good -= !(write(c[j], "k", 1) == 1 && poll(&pf, 1, 3000) == 1 && read(acc.fds[i], &b, 1) == 1 && b == 'k');
		}
	}
	T_CHECK_EQ(good, N);
	T_CHECK_EQ(*l->st->downstream_cx_accept_error, 0);
	for (int i = 0; i < N; i++)
		close(c[i]);
	acc_close(&acc);
	xm_listener_unwatch(l, &L);
	lclose(l);
	env_close();
}

/* A second watch only changes the context (one registration: each connection accepted
 * once); unwatch leaves connections in the kernel's queue until the socket is watched
 * again; unwatch twice is harmless. */
static void test_watch_unwatch(void)
{
	struct xm_listener *l = NULL;
	struct acc a1 = { 0 }, a2 = { 0 }, *p1 = &a1, *p2 = &a2;
	char err[256];
	int c[3];

	env_open();
	T_CHECK_EQ(lopen(&l, "127.0.0.1", 0, 0, NULL, err, sizeof(err)), 0);
	if (!l) {
		env_close();
		return;
	}
	T_CHECK_EQ(xm_listener_watch(l, &L, on_accept, &p1), 0);
	c[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK_EQ(blocking_connect(c[0], l->bound_port, AF_INET), 0);
	T_CHECK(RUN_UNTIL(a1.n == 1, 3000));
	/* A table swap: same socket, new config. */
	T_CHECK_EQ(xm_listener_watch(l, &L, on_accept, &p2), 0);
	c[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK_EQ(blocking_connect(c[1], l->bound_port, AF_INET), 0);
	T_CHECK(RUN_UNTIL(a2.n == 1, 3000));
	T_CHECK_EQ(a1.n, 1);
	T_CHECK(a2.ctx[0] == &p2);
	/* Unwatched: the connection waits in the backlog. */
	xm_listener_unwatch(l, &L);
	T_CHECK(l->lw[0].loop == NULL);
	c[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK_EQ(blocking_connect(c[2], l->bound_port, AF_INET), 0);
	for (int i = 0; i < 5; i++)
		xm_loop_run_once(&L, 10);
	T_CHECK_EQ(a1.n + a2.n, 2);
	xm_listener_unwatch(l, &L);
	T_CHECK_EQ(xm_listener_watch(l, &L, on_accept, &p1), 0);
	T_CHECK(RUN_UNTIL(a1.n == 2, 3000));
	T_CHECK_EQ(a2.n, 1);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	acc_close(&a1);
	acc_close(&a2);
	xm_listener_unwatch(l, &L);
	lclose(l);
	env_close();
}

/* Out of descriptors: the listener accepts with its loop's reserve fd and closes at once
 * (the client sees a clean end, not a hang), counts downstream_cx_overflow, and pauses
 * instead of spinning on a queue it cannot drain; once descriptors are back it accepts
 * again by itself. */
static void test_emfile(void)
{
	struct xm_listener *l = NULL;
	struct acc acc = { 0 }, *accp = &acc;
	struct rlimit old, low;
	char err[256], b;
	int c[2];

	env_open();
	T_CHECK_EQ(lopen(&l, "127.0.0.1", 0, 0, NULL, err, sizeof(err)), 0);
	if (!l) {
		env_close();
		return;
	}
	T_CHECK_EQ(xm_listener_watch(l, &L, on_accept, &accp), 0);
	for (int i = 0; i < 2; i++)
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* No descriptor number left below the limit: accept4 fails with EMFILE, while the
	 * clients' connects need none. */
	int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(probe);
	T_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	T_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	T_CHECK(open("/dev/null", O_RDONLY) < 0 && errno == EMFILE);
	int conn0 = blocking_connect(c[0], l->bound_port, AF_INET);
	int shed = RUN_UNTIL(*l->st->downstream_cx_overflow == 1, 3000);
	int paused = l->lw[0].paused;
	/* While paused, a second client waits in the backlog: not accepted, not shed again. */
	int conn1 = blocking_connect(c[1], l->bound_port, AF_INET);
	for (int i = 0; i < 3; i++)
		xm_loop_run_once(&L, 5);
	uint64_t overflow = *l->st->downstream_cx_overflow;
	int accepted = acc.n;
	T_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	T_CHECK_EQ(conn0, 0);
	T_CHECK_EQ(conn1, 0);
	T_CHECK(shed);
	T_CHECK(paused);
	T_CHECK_EQ(overflow, 1);
	T_CHECK_EQ(accepted, 0);
	T_CHECK(L.reserve_fd >= 0); /* taken back after shedding */
	struct pollfd pf = { .fd = c[0], .events = POLLIN };
	T_CHECK_EQ(poll(&pf, 1, 3000), 1);
	T_CHECK_EQ(read(c[0], &b, 1), 0); /* a clean close */
	/* Descriptors are back: the listener resumes after its pause and takes the second. */
	T_CHECK(RUN_UNTIL(acc.n == 1, 3000));
	T_CHECK(!l->lw[0].paused);
	T_CHECK_EQ(*l->st->downstream_cx_overflow, 1);
	for (int i = 0; i < 2; i++)
		close(c[i]);
	acc_close(&acc);
	xm_listener_unwatch(l, &L);
	lclose(l);
	env_close();
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	ring_wanted = xm_io_backend_parse(getenv("XMESH_IO_BACKEND")) == XM_IO_URING;
	T_RUN("open: bind and listen by address; bad addresses and busy ports refused, nothing leaked", test_open);
	T_RUN("socket options applied by state; inherited sockets get the LISTENING ones only", test_sockopts_by_state);
	T_RUN("accept: 40 connections reach the callback with their peer address", test_accept);
	T_RUN("watch again changes only the context; unwatch leaves connections queued", test_watch_unwatch);
	T_RUN("EMFILE: shed with the reserve fd, counted, paused, then accepting again", test_emfile);
T_MAIN_END
