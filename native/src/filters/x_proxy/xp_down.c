/* The x_proxy stream layer, downstream side: split client frames, route them, forward them onto pooled upstream connections. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "filters/x_proxy/xp_int.h"

static void xp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void xp__down_eof(struct xm_conn *c);
static void xp__down_error(struct xm_conn *c, int err);
static void xp__down_drained(struct xm_conn *c);
static void xp__nop_connected(struct xm_conn *c, int err) { (void)c, (void)err; }

static const struct xm_conn_ops xp__down_ops = {
	.on_read = xp__down_read,
	.on_eof = xp__down_eof,
	.on_error = xp__down_error,
	.on_drained = xp__down_drained,
	.on_connected = xp__nop_connected,
};

/* A client of a listener with one protocol is never handed over (no detection, so no
 * fallback takes its fd) and never spliced: it may live on the io_uring ring; so may a
 * client whose codec detection has fixed (it moves there, xm_conn_uring_enter). Its read
 * pause (xp_pause_on) then takes effect after the bytes already received, which are framed
 * and forwarded like any others: a paused client overshoots its upstream's cap by at most
 * what one receive delivered, as a tcp_proxy connection does. */
const struct xm_conn_ops xp_down_ops_ring = {
	.on_read = xp__down_read,
	.on_eof = xp__down_eof,
	.on_error = xp__down_error,
	.on_drained = xp__down_drained,
	.on_connected = xp__nop_connected,
	.uring = 1,
};

/* ---------------------------------------------------------------- helpers */

static struct iovec *xp__scratch(struct xm_worker *w)
{
	if (!w->scratch_iov)
		w->scratch_iov = malloc(sizeof(struct iovec) * XP__MAX_IOV);
	return w->scratch_iov;
}

/* A view over the unconsumed input of a connection. */
int xp_view(struct xm_worker *w, struct xm_iovq *in, struct xm_iview *v)
{
	struct iovec *iov = xp__scratch(w);
	if (!iov)
		return -ENOMEM;
	v->iov = iov;
	v->niov = (unsigned)xm_iovq_iov(in, iov, XP__MAX_IOV);
	v->len = 0;
	for (unsigned i = 0; i < v->niov; i++)
		v->len += iov[i].iov_len;
	return 0;
}

void xp_put_id(const struct xm_iview *v, const struct xm_frame *f, uint64_t id)
{
	uint8_t b[8];
	for (int i = 0; i < f->id_size; i++) {
		int shift = f->id_le ? 8 * i : 8 * (f->id_size - 1 - i);
		b[i] = (uint8_t)(id >> shift);
	}
	xm_iview_write(v, f->id_off, b, f->id_size);
}

/* Move the first len bytes of in to dst by reference (no copy), batched: the frames of a
 * whole read (and of every connection that fed dst this turn) leave in one writev at the
 * end of the loop turn. Returns the write status. */
int xp_forward(struct xm_iovq *in, uint32_t len, struct xm_conn *dst)
{
	int status = XM_WRITE_OK;
	uint64_t left = len;

	for (uint32_t i = 0; left > 0 && i < in->n; i++) {
		struct xm_slice *s = &in->s[(in->head + i) & (in->cap - 1)];
		uint32_t piece = s->len < left ? s->len : (uint32_t)left;
		int rc = xm_conn_write_batched(dst, s->c, s->off, piece);
		if (rc < 0) {
			status = rc;
			break;
		}
		if (rc == XM_WRITE_PAUSE)
			status = XM_WRITE_PAUSE;
		left -= piece;
	}
	xm_iovq_consume(in, len);
	return status;
}

/* Send a frame the sidecar generated (heartbeat reply, hijacked error). These few bytes
 * are built, not forwarded, so copying them into a chunk copies no payload. */
int xp_send_generated(struct xm_worker *w, struct xm_conn *c, const uint8_t *buf, size_t n)
{
	struct xm_chunk *ch = xm_chunk_get(&w->loop.pool);
	if (!ch)
		return -ENOMEM;
	memcpy(ch->data, buf, n);
	ch->len = (uint32_t)n;
	int rc = xm_conn_write(c, ch, 0, (uint32_t)n);
	xm_chunk_unref(ch);
	return rc;
}

/* ---------------------------------------------------------------- downstream side */

static void xp__down_free(struct xm_defer *d)
{
	free(xm_container_of(d, struct xp_down, defer));
}

void xp_down_close(struct xp_down *d, enum xm_close_mode mode)
{
	if (d->closed)
		return;
	d->closed = 1;
	while (d->pending.next != &d->pending) {
		struct xp_rq *rq = xm_container_of(d->pending.next, struct xp_rq, down_link);
		xp_rq_free(d, rq);
	}
	if (d->pause_link.next != &d->pause_link)
		xm_link_del(&d->pause_link);
	xm_timer_stop(&d->w->loop, &d->detect_timer);
	xm_conn_close(&d->conn, mode);
	xm_iovq_clear(&d->in);
	xm_gauge_add(d->st->downstream_cx_active, -1);
	xm_gauge_add(d->l->st.downstream_cx_active, -1); /* a fallback session counts itself again */
	if (!d->handed_off) {
		xm_stat_inc(d->l->st.downstream_cx_destroy);
		xm_hist_record(d->l->st.downstream_cx_length_ms, xm_now_us() - d->start_us);
	}
	xm_link_del(&d->base.link);
	d->w->nsessions--;
	xm_loop_defer(&d->w->loop, &d->defer, xp__down_free);
}

static void xp__down_abort(struct xm_session *s, enum xm_end_reason why)
{
	(void)why;
	xp_down_close(xm_container_of(s, struct xp_down, base), XM_CLOSE_FIN);
}

/* Answer request f of d with an error in the protocol's own terms (ms: its method's stats,
 * or NULL before routing). */
static void xp__hijack(struct xp_down *d, const struct xm_iview *v, const struct xm_frame *f, enum xm_status st,
		       struct xm_xmethod_stats *ms, const char *msg)
{
	uint8_t out[XP__GEN_MAX];

	if (f->kind != XM_FRAME_REQUEST)
		return; /* oneway: nobody waits for an answer */
	xm_xproxy_count_rs(d->st, d->pst, ms, st);
	ssize_t n = d->codec->ops->hijack(d->codec, v, f, st, msg, out, sizeof(out));
	if (n > 0)
		xp_send_generated(d->w, &d->conn, out, (size_t)n);
}

const struct xm_xproxy_cfg *xp_down_cfg(struct xp_down *d)
{
	struct xm_table *t = d->w->table;
	uint64_t gen = t ? t->gen : 0;
	/* By generation, not address: the table d->lcfg points into may be freed and a later
	 * one allocated at the same address. */
	if (gen != d->lcfg_gen) {
		d->lcfg = t ? xm_table_listener_for(t, d->l) : NULL;
		d->lcfg_gen = gen;
	}
	return d->lcfg && d->lcfg->filter == XM_FILTER_X_PROXY ? &d->lcfg->x : NULL;
}
/* Handle one complete request frame at the front of d->in. Returns 0, or <0 when d must
 * be closed. */
static int xp__request(struct xp_down *d, const struct xm_xproxy_cfg *cfg, const struct xm_iview *v,
		       const struct xm_frame *f)
{
	struct xm_worker *w = d->w;
	struct xm_route_info ri;
	int rc;

	xm_stat_inc(d->st->downstream_rq_total);
	xm_stat_inc(d->pst->rq_total);
	if (f->kind == XM_FRAME_ONEWAY)
		xm_stat_inc(d->st->downstream_rq_oneway);
	ri.used = 0;
	ri.nmetas = 0;
	rc = d->codec->ops->route_info(d->codec, v, f, &ri);
	if (rc < 0) {
		xm_stat_inc(d->st->decode_error[-rc < XM_CODEC_E__COUNT ? -rc : 0]);
		xp__hijack(d, v, f, XM_STATUS_CODEC_ERROR, NULL, "xmesh: request could not be decoded");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	const struct xm_xvhost *vh = NULL;
	const struct xm_xroute *rt = xm_xroute_find(cfg, &ri, &vh);
	if (!rt) {
		char msg[300];
		snprintf(msg, sizeof(msg), "xmesh: no route for service %.*s method %.*s", (int)ri.service_len,
			 ri.service, (int)ri.method_len, ri.method);
		xm_stat_inc(d->st->downstream_rq_no_route);
		xp__hijack(d, v, f, XM_STATUS_NO_ROUTE, NULL, msg);
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	struct xm_xmethod_stats *ms = xm_xmethod_stats_get(vh->st, ri.method, ri.method_len);
	if (ms)
		xm_stat_inc(ms->rq_total);
	struct xm_cluster *c = xp_route_cluster(d, rt);
	if (xm_cluster_rq_acquire(c) < 0) {
		xm_stat_inc(d->st->downstream_rq_overflow);
		xp__hijack(d, v, f, XM_STATUS_OVERFLOW, ms, "xmesh: upstream overflow (circuit breaker)");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	const struct xm_host *h;
	struct xp_up *up = xp_pick(d, cfg, c, xp_rq_hash(d, rt, &ri), NULL, &h);
	if (!up) {
		xm_cluster_rq_release(c->st);
		xm_stat_inc(d->st->downstream_rq_unavailable);
		xm_stat_inc(c->st->st.upstream_cx_none_healthy);
		xp__hijack(d, v, f, XM_STATUS_UNAVAILABLE, ms, "xmesh: no healthy upstream");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	xm_stat_inc(c->st->st.upstream_rq_total);
	xm_stat_inc(vh->st->rq_total);
	if (f->kind == XM_FRAME_REQUEST) {
		struct xp_rq *rq = calloc(1, sizeof(*rq));
		if (!rq) {
			xm_cluster_rq_release(c->st);
			return -ENOMEM;
		}
		rq->down_id = f->id;
		rq->f = *f;
		rq->down = d;
		rq->vst = vh->st;
		rq->mst = ms;
		rq->start_us = xm_now_us();
		xm_iovq_init(&rq->frame);
		xm_link_add(&d->pending, &rq->down_link);
		d->npending++;
		xm_gauge_add(rq->vst->rq_active, 1);
		xm_gauge_add(d->st->downstream_rq_active, 1);
		xm_timer_init(&rq->timer, xp_rq_timeout);
		if (xp_rq_attach(rq, up, c, h) < 0) {
			xm_cluster_rq_release(c->st);
			xp_rq_free(d, rq);
			return -ENOMEM;
		}
		xm_timer_start(&w->loop, &rq->timer, rt->timeout_ms ? rt->timeout_ms : cfg->timeout_ms);
		if (rt->retry.num_retries && xp_rq_hold(&d->in, f->len, &rq->frame) == 0) {
			rq->retries_left = rt->retry.num_retries;
			rq->retry_on_connect_failure = rt->retry.on_connect_failure;
			rq->retry_on_reset = rt->retry.on_reset;
		}
		xp_put_id(v, f, rq->up_id);
		if (d->codec->ops->id_rewritten)
			d->codec->ops->id_rewritten(d->codec, v, f);
	} else {
		/* oneway: no response, no pending entry, the breaker slot is released now */
		xm_cluster_rq_release(c->st);
	}
	xp_pause_on(d, up, xp_forward(&d->in, f->len, &up->conn));
	return 0;
}

void xp_down_process(struct xp_down *d)
{
	const struct xm_xproxy_cfg *cfg = xp_down_cfg(d);
	struct xm_iview v;
	struct xm_frame f;

	if (!cfg) {
		/* The listener left the configuration: finish this connection. */
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	while (!d->closed && !xm_iovq_empty(&d->in)) {
		if (xp_view(d->w, &d->in, &v) < 0) {
			xp_down_close(d, XM_CLOSE_RESET);
			return;
		}
		memset(&f, 0, sizeof(f));
		ssize_t n = d->codec->ops->split(d->codec, &v, cfg->max_frame, &f);
		if (n == 0)
			return;
		if (n < 0) {
			/* Malformed input ends only this connection, counted by reason. */
			xm_stat_inc(d->st->decode_error[-n < XM_CODEC_E__COUNT ? -n : 0]);
			xp_down_close(d, XM_CLOSE_RESET);
			return;
		}
		int rc = 0;
		switch (f.kind) {
		case XM_FRAME_REQUEST:
		case XM_FRAME_ONEWAY:
			rc = xp__request(d, cfg, &v, &f);
			break;
		case XM_FRAME_HEARTBEAT: {
			uint8_t out[XP__GEN_MAX];
			ssize_t r = d->codec->ops->heartbeat_reply(d->codec, &v, &f, out, sizeof(out));
			xm_stat_inc(d->st->downstream_rq_heartbeat);
			xm_iovq_consume(&d->in, f.len);
			if (r > 0)
				xp_send_generated(d->w, &d->conn, out, (size_t)r);
			break;
		}
		default:
			/* Responses / acks / goaway from a client: nothing to route. */
			xm_iovq_consume(&d->in, f.len);
		}
		if (rc < 0) {
			xp_down_close(d, XM_CLOSE_RESET);
			return;
		}
	}
}

static void xp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xp_down *d = xm_container_of(c, struct xp_down, conn);

	if (xm_iovq_push(&d->in, ch, off, len) < 0) {
		xp_down_close(d, XM_CLOSE_RESET);
		return;
	}
	if (xm_unlikely(!d->codec))
		xp_detect_input(d);
	else
		xp_down_process(d);
}

void xp_down_maybe_finish(struct xp_down *d)
{
	/* Client sent FIN: answer what is in flight, then close once it is written. */
	if (d->eof && !d->closed && d->npending == 0 && xm_conn_queued(&d->conn) == 0)
		xp_down_close(d, XM_CLOSE_FIN);
}

static void xp__down_eof(struct xm_conn *c)
{
	struct xp_down *d = xm_container_of(c, struct xp_down, conn);
	d->eof = 1;
	if (xm_unlikely(!d->codec)) {
		xp_detect_input(d);
		return;
	}
	xp_down_maybe_finish(d);
}

static void xp__down_error(struct xm_conn *c, int err)
{
	(void)err;
	xp_down_close(xm_container_of(c, struct xp_down, conn), XM_CLOSE_FIN);
}

static void xp__down_drained(struct xm_conn *c)
{
	xp_down_maybe_finish(xm_container_of(c, struct xp_down, conn));
}

void xm_xproxy_accept(struct xm_worker *w, const struct xm_listener_cfg *lcfg, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen)
{
	struct xp_down *d = calloc(1, sizeof(*d));
	(void)plen;

	xm_stat_inc(lcfg->l->st.downstream_cx_total);
	if (!d) {
		close(fd);
		return;
	}
	d->base.abort = xp__down_abort;
	d->peer_hash = xm_hash_peer(peer, 0);
	d->start_us = xm_now_us();
	xm_gauge_add(lcfg->l->st.downstream_cx_active, 1);
	d->w = w;
	d->l = lcfg->l;
	d->lcfg = lcfg;
	d->lcfg_gen = w->table->gen;
	d->codec = lcfg->x.codec;
	d->st = lcfg->x.st;
	xm_iovq_init(&d->in);
	xm_link_init(&d->pending);
	xm_link_init(&d->pause_link);
	xm_timer_init(&d->detect_timer, NULL);
	xm_link_add(&w->sessions, &d->base.link);
	w->nsessions++;
	xm_stat_inc(d->st->downstream_cx_total);
	xm_gauge_add(d->st->downstream_cx_active, 1);
	if (xm_conn_accept(&d->conn, &w->loop, fd, d->codec ? &xp_down_ops_ring : &xp__down_ops, lcfg->buffer_limit) < 0) {
		close(fd);
		d->conn.flags = XM_CONN_F_CLOSED;
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	xm_conn_set_keepalive(&d->conn, &lcfg->keepalive);
	if (d->codec) {
		d->pst = lcfg->x.pst[0];
		xm_stat_inc(d->pst->downstream_cx_protocol); /* one protocol, known at accept: the fast path */
	} else
		xp_detect_start(d, &lcfg->x);
	xm_conn_read_start(&d->conn);
}
