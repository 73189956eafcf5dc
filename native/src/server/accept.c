/* The listener stage of a connection (Envoy's active socket): facts at accept, listener filters, chain selection, the chain's filters. */
#include "server/accept.h"

#include <stdlib.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/listener.h"
#include "server/dp.h"
#include "stats/stats.h"

/*
 * A listener whose filters need no bytes (the fast path: a tcp_proxy or single-protocol
 * x_proxy listener) hands an accepted fd to its chain at once, with nothing allocated here.
 * Otherwise the connection waits in this stage: its first bytes are read (on epoll, so the
 * fd can be handed on) into fc.pre while the listener filters judge them, bounded by their
 * timeout, and the terminal filter receives the fd with the bytes already read. A waiting
 * connection does not hold its table (a slow client must not keep old tables alive): after
 * a swap it finds its listener again by id and is judged afresh by the current filters, or
 * is closed when its listener is gone.
 */

struct srv_lsock {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_timer timer;
	struct xm_defer defer;
	struct xm_worker *w;
	const struct xm_listener_cfg *lc; /* valid while fc.epoch is the worker's current table's */
	struct xm_fconn fc;
	uint32_t next;                    /* listener filter judging now */
	uint8_t done;
};

static void srv__close_fd(int fd, int reset)
{
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* The chain's filters in order; the terminal one owns the connection. */
static void srv__run_chain(struct xm_worker *w, const struct xm_chain *ch, struct xm_fconn *fc)
{
	fc->chain_key = ch->key;
	for (uint32_t i = 0; i + 1 < ch->nfilters; i++)
		if (ch->filters[i].ops->on_accept(&w->fw, ch->filters[i].cfg, fc) == XM_FILTER_STOP) {
			xm_iovq_clear(&fc->pre);
			xm_cx_end(&fc->acct);
			return;
		}
	const struct xm_chain_filter *t = &ch->filters[ch->nfilters - 1];
	t->ops->accept(&w->fw, t->cfg, fc);
}

/* Listener filters are done (end: why the last one stopped waiting): pick the chain. */
static void srv__dispatch(struct xm_worker *w, const struct xm_listener_cfg *lc, struct xm_fconn *fc, uint32_t ran,
			  enum xm_lfilter_end end)
{
	/* A client that closed without a byte: nothing to proxy, whatever the chains say. */
	const struct xm_chain *ch = fc->eof && xm_iovq_empty(&fc->pre) && lc->nlfilters ? NULL : xm_chain_select(lc, &fc->facts);

	for (uint32_t i = 0; i < ran && i < lc->nlfilters; i++)
		lc->lfilters[i].ops->done(lc->lfilters[i].cfg, fc, i + 1 == ran ? end : XM_LFILTER_END_DONE, ch != NULL);
	if (!ch) {
		xm_stat_inc(fc->acct.lst->no_filter_chain_match);
		srv__close_fd(fc->fd, !xm_iovq_empty(&fc->pre) && !fc->eof);
		xm_iovq_clear(&fc->pre);
		xm_cx_end(&fc->acct);
		return;
	}
	srv__run_chain(w, ch, fc);
}

/* ---- connections waiting for their listener filters ---- */

static void srv__lsock_free(struct xm_defer *d)
{
	free(xm_container_of(d, struct srv_lsock, defer));
}

/* Leave the stage: end the session (its fd was released or closed), let the table go. */
static void srv__lsock_end(struct srv_lsock *ls)
{
	ls->done = 1;
	xm_timer_stop(&ls->w->loop, &ls->timer);
	xm_fworker_del(&ls->w->fw, &ls->base);
	xm_loop_defer(&ls->w->loop, &ls->defer, srv__lsock_free);
}

/* Drop a waiting connection (closed, or failed): its bytes and its listener accounting. */
static void srv__lsock_drop(struct srv_lsock *ls, enum xm_close_mode mode)
{
	xm_conn_close(&ls->conn, mode);
	srv__lsock_end(ls);
	xm_iovq_clear(&ls->fc.pre);
	xm_cx_end(&ls->fc.acct);
}

/* The listener's config in the worker's current table (refreshed after a swap, when the
 * filters judge again from the first), or NULL when the listener is gone. */
static const struct xm_listener_cfg *srv__lsock_cfg(struct srv_lsock *ls)
{
	struct xm_worker *w = ls->w;
	if (ls->fc.epoch != w->fw.epoch) {
		ls->lc = w->table ? xm_table_listener_by_id(w->table, ls->fc.listener_id) : NULL;
		ls->fc.epoch = w->fw.epoch;
		if (ls->lc) {
			ls->fc.buffer_limit = ls->lc->buffer_limit;
			ls->fc.keepalive = ls->lc->keepalive;
		}
		ls->fc.facts.app_proto = NULL;
		ls->next = 0;
	}
	return ls->lc;
}

static void srv__lsock_finish(struct srv_lsock *ls, enum xm_lfilter_end end)
{
	const struct xm_listener_cfg *lc = srv__lsock_cfg(ls);
	if (!lc) {
		srv__lsock_drop(ls, XM_CLOSE_FIN);
		return;
	}
	int fd = xm_conn_release_fd(&ls->conn);
	srv__lsock_end(ls);
	if (fd < 0) {
		xm_iovq_clear(&ls->fc.pre);
		xm_cx_end(&ls->fc.acct);
		return;
	}
	ls->fc.fd = fd;
	srv__dispatch(ls->w, lc, &ls->fc, lc->nlfilters ? ls->next + 1 : 0, end);
}

/* Run the listener filters from ls->next on the bytes so far. */
static void srv__lsock_judge(struct srv_lsock *ls)
{
	const struct xm_listener_cfg *lc = srv__lsock_cfg(ls);
	struct xm_iview v;

	if (!lc) {
		srv__lsock_drop(ls, XM_CLOSE_FIN);
		return;
	}
	struct iovec iov[64];

	for (; ls->next < lc->nlfilters; ls->next++) {
		const struct xm_lfilter *lf = &lc->lfilters[ls->next];
		v.iov = iov;
		v.niov = (unsigned)xm_iovq_iov(&ls->fc.pre, iov, 64);
		v.len = 0;
		for (unsigned i = 0; i < v.niov; i++)
			v.len += iov[i].iov_len;
		if (lf->ops->on_data(lf->cfg, &ls->fc, &v) == XM_LFILTER_MORE)
			return;
	}
	ls->next = lc->nlfilters ? lc->nlfilters - 1 : 0;
	srv__lsock_finish(ls, XM_LFILTER_END_DONE);
}

static void srv__lsock_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct srv_lsock *ls = xm_container_of(c, struct srv_lsock, conn);
	if (xm_iovq_push(&ls->fc.pre, ch, off, len) < 0) {
		srv__lsock_drop(ls, XM_CLOSE_RESET);
		return;
	}
	srv__lsock_judge(ls);
}

static void srv__lsock_eof(struct xm_conn *c)
{
	struct srv_lsock *ls = xm_container_of(c, struct srv_lsock, conn);
	ls->fc.eof = 1;
	srv__lsock_judge(ls);
}

static void srv__lsock_error(struct xm_conn *c, int err)
{
	srv__lsock_drop(xm_container_of(c, struct srv_lsock, conn), XM_CLOSE_FIN);
}

static void srv__lsock_nop(struct xm_conn *c) { (void)c; }
static void srv__lsock_nop_connected(struct xm_conn *c, int err) { (void)c, (void)err; }

/* On epoll (.uring 0): the fd is handed on with xm_conn_release_fd. */
static const struct xm_conn_ops srv__lsock_ops = {
	.on_read = srv__lsock_read,
	.on_eof = srv__lsock_eof,
	.on_error = srv__lsock_error,
	.on_drained = srv__lsock_nop,
	.on_connected = srv__lsock_nop_connected,
};

static void srv__lsock_timeout(struct xm_timer *t)
{
	struct srv_lsock *ls = xm_container_of(t, struct srv_lsock, timer);
	srv__lsock_finish(ls, XM_LFILTER_END_TIMEOUT);
}

static void srv__lsock_abort(struct xm_session *s)
{
	struct srv_lsock *ls = xm_container_of(s, struct srv_lsock, base);
	srv__lsock_error(&ls->conn, 0);
}

static void srv__lsock_start(struct xm_worker *w, const struct xm_listener_cfg *lc, struct xm_fconn *fc)
{
	struct srv_lsock *ls = calloc(1, sizeof(*ls));
	uint32_t timeout = 0;

	if (!ls) {
		close(fc->fd);
		xm_cx_end(&fc->acct);
		return;
	}
	ls->w = w;
	ls->lc = lc;
	ls->fc = *fc;
	ls->base.abort = srv__lsock_abort;
	ls->base.drain = srv__lsock_abort; /* nothing proxied yet: a draining listener closes it */
	ls->base.listener_id = fc->listener_id;
	xm_fworker_add(&w->fw, &ls->base);
	xm_timer_init(&ls->timer, srv__lsock_timeout);
	for (uint32_t i = 0; i < lc->nlfilters; i++) {
		uint32_t t = lc->lfilters[i].ops->timeout_ms(lc->lfilters[i].cfg);
		if (t > timeout)
			timeout = t;
	}
	if (xm_conn_accept(&ls->conn, &w->loop, fc->fd, &srv__lsock_ops, lc->buffer_limit) < 0) {
		close(fc->fd);
		ls->conn.flags = XM_CONN_F_CLOSED;
		srv__lsock_drop(ls, XM_CLOSE_FIN);
		return;
	}
	xm_conn_set_keepalive(&ls->conn, &lc->keepalive);
	xm_timer_start(&w->loop, &ls->timer, timeout ? timeout : 15000);
	xm_conn_read_start(&ls->conn);
}

void xm_accept(struct xm_worker *w, const struct xm_listener_cfg *lc, int fd, const struct sockaddr_storage *peer,
	       socklen_t plen)
{
	struct xm_fconn fc;
	struct xm_dp *dp = w->dp;
	uint64_t max = w->table ? w->table->max_downstream_cx : 0;

	if (__atomic_load_n(&dp->overload, __ATOMIC_RELAXED) & XM_OVERLOAD_REJECT) {
		xm_stat_inc(lc->l->st->downstream_cx_overload_reject);
		close(fd);
		return;
	}
	/* The overload manager's global limit: counted always, so that a limit set by a later
	 * snapshot sees the connections already open. */
	int64_t n = __atomic_add_fetch(&dp->downstream_cx, 1, __ATOMIC_RELAXED);
	if (max && (uint64_t)n > max) {
		__atomic_sub_fetch(&dp->downstream_cx, 1, __ATOMIC_RELAXED);
		xm_stat_inc(lc->l->st->downstream_global_cx_overflow);
		close(fd);
		return;
	}
	xm_gauge_add(dp->downstream_cx_gauge, 1);
	fc.acct.holds[0] = &dp->downstream_cx;
	fc.acct.holds[1] = dp->downstream_cx_gauge;
	fc.acct.nholds = 2;
	fc.fd = fd;
	fc.facts.local.ss_family = 0;
	fc.facts.peer_len = plen <= sizeof(fc.facts.peer) ? plen : 0;
	if (fc.facts.peer_len)
		memcpy(&fc.facts.peer, peer, plen);
	else
		fc.facts.peer.ss_family = 0;
	fc.facts.app_proto = NULL;
	xm_iovq_init(&fc.pre);
	fc.eof = 0;
	fc.lfilter_note = 0;
	fc.acct.accepted_us = xm_now_us();
	fc.listener_id = lc->l->id;
	fc.chain_key = 0;
	fc.epoch = w->fw.epoch;
	fc.acct.lst = lc->l->st;
	fc.buffer_limit = lc->buffer_limit;
	fc.keepalive = lc->keepalive;
	xm_stat_inc(fc.acct.lst->downstream_cx_total);
	xm_gauge_add(fc.acct.lst->downstream_cx_active, 1);
	if (lc->need_local) {
		socklen_t len = sizeof(fc.facts.local);
		if (getsockname(fd, (struct sockaddr *)&fc.facts.local, &len) < 0)
			fc.facts.local.ss_family = 0;
	}
	if (lc->need_data) {
		srv__lsock_start(w, lc, &fc);
		return;
	}
	for (uint32_t i = 0; i < lc->nlfilters; i++) {
		struct xm_iview none = { 0 };
		lc->lfilters[i].ops->on_data(lc->lfilters[i].cfg, &fc, &none);
	}
	srv__dispatch(w, lc, &fc, lc->nlfilters, XM_LFILTER_END_DONE);
}

void *xm_accept_lookup(struct xm_fworker *fw, uint64_t listener_id, uint64_t chain_key, const struct xm_filter_ops *ops)
{
	struct xm_worker *w = xm_container_of(fw, struct xm_worker, fw);
	const struct xm_listener_cfg *lc = w->table ? xm_table_listener_by_id(w->table, listener_id) : NULL;
	const struct xm_chain *ch = lc ? xm_chain_by_key(lc, chain_key) : NULL;

	for (uint32_t i = 0; ch && i < ch->nfilters; i++)
		if (ch->filters[i].ops == ops)
			return ch->filters[i].cfg;
	return NULL;
}
