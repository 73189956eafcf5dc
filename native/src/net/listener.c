/* Listener sockets: bind/adopt on the control side, accept loops on the workers. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/event.h"
#include "net/addr.h"
#include "stats/stats.h"

#define LISTENER__ACCEPT_BATCH 32
#define LISTENER__EMFILE_PAUSE_MS 100

static uint16_t listener__port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* The listener's own copy of its options, compared with the next snapshot's. */
static int listener__keep_opts(struct xm_listener *l, const struct xm_sockopts *opts)
{
	if (!opts || opts->n == 0)
		return 0;
	size_t sz = sizeof(*opts) + opts->n * sizeof(opts->v[0]);
	if (!(l->opts = malloc(sz)))
		return -ENOMEM;
	memcpy(l->opts, opts, sz);
	return 0;
}

/* Apply the options of one state; a failure names the listener and the option. */
static int listener__opts(struct xm_listener *l, int fd, const struct xm_sockopts *opts, int state, char *err, size_t errlen)
{
	char why[160];
	int rc = xm_sockopts_apply(fd, opts, state, why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", l->addr_str, why);
	return rc;
}

int xm_listener_open(struct xm_listener **out, const char *address, uint16_t port, int backlog, int inherited_fd,
		     const struct xm_sockopts *opts, unsigned nworkers, char *err, size_t errlen)
{
	int rc = 0, fd = -1, one = 1;
	struct xm_listener *l = calloc(1, sizeof(*l));

	if (!l || !(l->lw = calloc(nworkers, sizeof(*l->lw)))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	l->nworkers = nworkers;
	snprintf(l->addr_str, sizeof(l->addr_str), strchr(address, ':') ? "[%s]:%u" : "%s:%u", address, port);
	char canon[80];
	if (xm_addr_parse(address, port, &l->addr, &l->addrlen, canon, sizeof(canon)) < 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a numeric IP address", address);
		goto out;
	}
	if (inherited_fd > 0) {
		fd = inherited_fd;
		l->inherited = 1;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		/* The old process created it with the earlier states' options already. */
		if ((rc = listener__opts(l, fd, opts, XM_SOCKOPT_LISTENING, err, errlen)) < 0)
			goto out;
	} else {
		fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: socket: %s", l->addr_str, strerror(errno));
			goto out;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l->addr.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if ((rc = listener__opts(l, fd, opts, XM_SOCKOPT_PREBIND, err, errlen)) < 0)
			goto out;
		if (bind(fd, (struct sockaddr *)&l->addr, l->addrlen) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: bind: %s", l->addr_str, strerror(errno));
			goto out;
		}
		if ((rc = listener__opts(l, fd, opts, XM_SOCKOPT_BOUND, err, errlen)) < 0)
			goto out;
		xm_assert(backlog > 0);
		if (listen(fd, backlog) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: listen: %s", l->addr_str, strerror(errno));
			goto out;
		}
		if ((rc = listener__opts(l, fd, opts, XM_SOCKOPT_LISTENING, err, errlen)) < 0)
			goto out;
	}
	if ((rc = listener__keep_opts(l, opts)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	l->fd = fd;
	l->bound_port = listener__port_of(fd);
	*out = l;
	return 0;
out:
	if (fd >= 0 && !(l && l->inherited))
		close(fd);
	if (l)
		free(l->lw);
	free(l);
	return rc;
}

void xm_listener_close(struct xm_listener *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->opts);
	free(l->lw);
	free(l);
}

static void listener__resume(struct xm_timer *t)
{
	struct xm_listener_w *lw = xm_container_of(t, struct xm_listener_w, resume);
	if (lw->paused && lw->loop) {
		lw->paused = 0;
		xm_io_add_exclusive(lw->loop, &lw->io);
	}
}

/* EMFILE/ENFILE: accept with the reserve fd and close at once, so the client sees a
 * clean close instead of hanging in the backlog, then pause this listener briefly so a
 * level-triggered loop does not spin on a queue it cannot drain. */
static void listener__shed(struct xm_listener_w *lw)
{
	struct xm_loop *loop = lw->loop;

	if (loop->reserve_fd >= 0) {
		close(loop->reserve_fd);
		int fd = accept4(lw->l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			xm_stat_inc(lw->l->st->downstream_cx_overflow);
		}
		loop->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (!lw->paused) {
		lw->paused = 1;
		xm_io_del(loop, &lw->io);
		xm_timer_start(loop, &lw->resume, LISTENER__EMFILE_PAUSE_MS);
	}
}

static void listener__on_accept(struct xm_io *io, uint32_t revents)
{
	struct xm_listener_w *lw = xm_container_of(io, struct xm_listener_w, io);

	for (int i = 0; i < LISTENER__ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				listener__shed(lw);
				return;
			}
			/* ECONNABORTED and friends: that one connection is gone, keep going. */
			xm_stat_inc(lw->l->st->downstream_cx_accept_error);
			continue;
		}
		lw->cb(lw->loop, lw->ctx, fd, &peer, plen);
	}
}

int xm_listener_watch(struct xm_listener *l, struct xm_loop *loop, xm_accept_cb cb, void *ctx)
{
	struct xm_listener_w *lw = &l->lw[loop->id];

	lw->cb = cb;
	lw->ctx = ctx;
	if (lw->loop || l->drained)
		return 0; /* already watched (only the config pointer changes), or drained */
	lw->loop = loop;
	lw->l = l;
	lw->paused = 0;
	lw->io.fd = l->fd;
	lw->io.cb = listener__on_accept;
	lw->io.registered = 0;
	xm_timer_init(&lw->resume, listener__resume);
	int rc = xm_io_add_exclusive(loop, &lw->io);
	if (rc < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "worker %u: epoll_ctl: %s", loop->id, strerror(-rc));
		xm_event_post(l->events, XM_EV_LISTENER_ERROR, l->addr_str, msg);
	}
	return rc;
}

void xm_listener_unwatch(struct xm_listener *l, struct xm_loop *loop)
{
	struct xm_listener_w *lw = &l->lw[loop->id];

	if (!lw->loop)
		return;
	xm_timer_stop(loop, &lw->resume);
	xm_io_del(loop, &lw->io);
	lw->loop = NULL;
	lw->ctx = NULL;
}

struct xm_listener_stats *xm_listener_stats_new(struct xm_stats *s, const char *name)
{
	struct xm_listener_stats *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
#define L__C(f) st->f = xm_stats_counterf(s, "listener.{listener=%s}." #f, name)
	L__C(downstream_cx_total);
	L__C(downstream_cx_destroy);
	L__C(downstream_cx_overflow);
	L__C(downstream_cx_accept_error);
	L__C(no_filter_chain_match);
	L__C(downstream_global_cx_overflow);
	L__C(downstream_cx_overload_reject);
#undef L__C
	st->downstream_cx_active = xm_stats_gaugef(s, "listener.{listener=%s}.downstream_cx_active", name);
	st->downstream_cx_length_ms = xm_stats_histf(s, "listener.{listener=%s}.downstream_cx_length_ms", name);
	return st;
}

void xm_cx_end(struct xm_cx_acct *a)
{
	struct xm_listener_stats *st = a->lst;

	if (!st)
		return;
	a->lst = NULL;
	xm_gauge_add(st->downstream_cx_active, -1);
	xm_stat_inc(st->downstream_cx_destroy);
	xm_hist_record(st->downstream_cx_length_ms, xm_now_us() - a->accepted_us);
	for (uint32_t i = 0; i < a->nholds; i++)
		xm_gauge_add(a->holds[i], -1);
	a->nholds = 0;
}
