/* The x_proxy stream layer, upstream side: multiplexed connections in the router's per-worker pools, responses mapped back to their clients. */
#include <stdlib.h>

#include "filters/x_proxy/xp_int.h"

static void xp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void xp__up_eof(struct xm_conn *c);
static void xp__up_error(struct xm_conn *c, int err);
static void xp__up_drained(struct xm_conn *c);
static void xp__up_connected(struct xm_conn *c, int err);

static const struct xm_conn_ops xp__up_ops = {
	.on_read = xp__up_read,
	.on_eof = xp__up_eof,
	.on_error = xp__up_error,
	.on_drained = xp__up_drained,
	.on_connected = xp__up_connected,
	/* Upstream connections are never paused (no late bytes to expect), never handed over
	 * and never spliced: they can live on the io_uring ring. */
	.uring = 1,
};

static void xp__up_free(struct xm_defer *d)
{
	free(xm_container_of(d, struct xp_up, defer));
}

/* Close an upstream connection: it leaves its pool, and every request in flight on it is
 * retried where its route allows, else fails with UNAVAILABLE (a protocol-correct error
 * to its client). */
static void xp__up_close(struct xp_up *up, int failed)
{
	struct xm_loop *loop = up->loop;

	if (up->closed)
		return;
	up->closed = 1;
	xm_timer_stop(loop, &up->timer);
	xm_pool_remove(up->hp, up);
	/* Its queued output goes first: a retry rewrites the request id in the very bytes
	 * this connection may still have queued. */
	xm_conn_close(&up->conn, failed ? XM_CLOSE_RESET : XM_CLOSE_FIN);
	if (failed && up->cs)
		xm_host_report(up->cs, up->hs, NULL, up->connected ? XM_HOST_RESET : XM_HOST_CONNECT_FAIL, loop->now_ms);
	struct xp_pmap pm = up->pending;
	up->pending = (struct xp_pmap){ 0 };
	for (uint32_t i = 0; i < pm.cap; i++) {
		struct xp_rq *rq = pm.vals[i];
		if (!rq)
			continue;
		struct xp_down *d = rq->down;
		rq->up = NULL; /* this map is private now */
		if (failed && xp_rq_retry(rq, up->connected))
			continue;
		uint8_t out[XP__GEN_MAX];
		struct xm_iview empty = { 0 };
		ssize_t n = d->codec->ops->hijack(d->codec, &empty, &rq->f, XM_STATUS_UNAVAILABLE,
						  up->connected ? "connection lost" : "connect failed", out, sizeof(out));
		xm_stat_inc(d->st->downstream_rq_unavailable);
		xm_stat_inc(rq->vst->rq_unavailable);
		xm_xproxy_count_rs(d->st, d->pst, rq->mst, XM_STATUS_UNAVAILABLE);
		xp_rq_free(d, rq);
		if (n > 0 && !d->closed)
			xp_send_generated(loop, &d->conn, out, (size_t)n);
		xp_down_maybe_finish(d);
	}
	free(pm.keys);
	free(pm.vals);
	/* Clients paused on this connection may go on (their next request picks another). */
	while (up->paused.next != &up->paused) {
		struct xp_down *d = xm_container_of(up->paused.next, struct xp_down, pause_link);
		xm_link_del(&d->pause_link);
		if (!d->closed)
			xm_conn_read_start(&d->conn);
	}
	xm_iovq_clear(&up->in);
	if (up->connected)
		xm_hist_record(up->cs->st.upstream_cx_length_ms, xm_now_us() - up->connected_us);
	if (failed && up->connected)
		xm_stat_inc(up->cs->st.upstream_cx_destroy_remote);
	else
		xm_stat_inc(up->cs->st.upstream_cx_destroy_local);
	xm_gauge_add(up->cs->st.upstream_cx_active, -1);
	xm_gauge_add(up->hs->st.cx_active, -1);
	xm_cluster_cx_release(up->cs);
	xm_host_state_unref(up->hs);
	xm_cluster_state_unref(up->cs);
	xm_fworker_del(up->fw, &up->base);
	xm_loop_defer(loop, &up->defer, xp__up_free);
}

static void xp__up_abort(struct xm_session *s)
{
	xp__up_close(xm_container_of(s, struct xp_up, base), 0);
}

static void xp__up_timer(struct xm_timer *t)
{
	struct xp_up *up = xm_container_of(t, struct xp_up, timer);
	/* As tcp_proxy counts it: a timed-out connect is a failed one too. */
	xm_stat_inc(up->cs->st.upstream_cx_connect_fail);
	xm_stat_inc(up->cs->st.upstream_cx_connect_timeout);
	xp__up_close(up, 1);
}

/* The router's pool asks for one more connection to h (a slot of c's connection breaker is
 * ours from here on: xp__up_close releases it). */
static void *xp__up_open(void *ctx, struct xm_hostpool *hp, struct xm_cluster *c, const struct xm_host *h)
{
	struct xp_down *d = ctx;
	struct xp_up *up = calloc(1, sizeof(*up));

	if (!up) {
		xm_cluster_cx_release(c->st);
		return NULL;
	}
	up->base.abort = xp__up_abort;
	up->fw = d->fw;
	up->loop = d->loop;
	up->xw = d->xw;
	up->hp = hp;
	up->codec = d->codec;
	up->st = d->st;
	up->hs = h->st;
	up->cs = c->st;
	up->start_us = xm_now_us();
	xm_host_state_ref(up->hs);
	xm_cluster_state_ref(up->cs);
	xm_iovq_init(&up->in);
	xm_link_init(&up->paused);
	xm_timer_init(&up->timer, xp__up_timer);
	xm_fworker_add(up->fw, &up->base);
	/* Counted under the cluster only: the pool is the worker's, shared by every x_proxy
	 * listener, so no listener owns the connection. */
	xm_stat_inc(up->cs->st.upstream_cx_total);
	xm_gauge_add(up->cs->st.upstream_cx_active, 1);
	xm_gauge_add(up->hs->st.cx_active, 1);
	if (xm_conn_connect(&up->conn, up->loop, (const struct sockaddr *)&h->addr, h->addrlen, c->sockopts, &xp__up_ops,
			    c->buffer_limit) < 0) {
		xm_stat_inc(up->cs->st.upstream_cx_connect_fail);
		up->hp = NULL; /* never in the pool */
		xp__up_close(up, 1);
		return NULL;
	}
	xm_conn_set_keepalive(&up->conn, &c->keepalive);
	xm_timer_start(up->loop, &up->timer, c->connect_timeout_ms);
	return up;
}

struct xp_up *xp_up_get(struct xp_down *d, const struct xp_cfg *cfg, struct xm_cluster *c, const struct xm_host *h)
{
	return xm_pool_get(d->xw->pools, c, h, d->codec, cfg->conns_per_host, xp__up_open, d);
}

static void xp__up_connected(struct xm_conn *c, int err)
{
	struct xp_up *up = xm_container_of(c, struct xp_up, conn);

	xm_timer_stop(up->loop, &up->timer);
	if (err) {
		xm_stat_inc(up->cs->st.upstream_cx_connect_fail);
		xp__up_close(up, 1);
		return;
	}
	up->connected = 1;
	up->connected_us = xm_now_us();
	xm_hist_record(up->cs->st.upstream_cx_connect_ms, up->connected_us - up->start_us);
	xm_host_report(up->cs, up->hs, NULL, XM_HOST_CONNECT_OK, up->loop->now_ms);
	xm_conn_read_start(&up->conn);
}

static void xp__up_response(struct xp_up *up, const struct xm_iview *v, const struct xm_frame *f)
{
	struct xp_rq *rq = xp_pmap_get(&up->pending, f->id);

	xm_stat_inc(up->st->upstream_rs_total);
	if (!rq) {
		/* Answered after its timeout, or an id we never sent: drop it. */
		xm_stat_inc(up->st->upstream_rs_dropped);
		xm_iovq_consume(&up->in, f->len);
		return;
	}
	struct xp_down *d = rq->down;
	if (f->status == XM_STATUS_SERVER_ERROR) {
		xm_stat_inc(up->st->upstream_rs_error);
		xm_stat_inc(rq->vst->rs_error);
	}
	xm_host_report(rq->at.cs, rq->at.hs, NULL,
		       f->status == XM_STATUS_OK ? XM_HOST_RESPONSE_OK : XM_HOST_RESPONSE_ERROR, up->loop->now_ms);
	uint64_t took = xm_now_us() - rq->start_us;
	xm_hist_record(d->st->rq_time_ms, took);
	xm_hist_record(rq->vst->rq_time_ms, took);
	if (rq->mst)
		xm_hist_record(rq->mst->rq_time_ms, took);
	xm_xproxy_count_rs(d->st, d->pst, rq->mst, f->status);
	xm_hist_record(d->pst->rq_time_ms, took);
	xp_put_id(v, f, rq->down_id);
	if (up->codec->ops->id_rewritten)
		up->codec->ops->id_rewritten(up->codec, v, f);
	xp_rq_free(d, rq);
	int rc = xp_forward(&up->in, f->len, &d->conn);
	if (rc < 0)
		xp_down_close(d, XM_CLOSE_FIN);
	else
		xp_down_maybe_finish(d);
}

static void xp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xp_up *up = xm_container_of(c, struct xp_up, conn);
	struct xm_iview v;
	struct xm_frame f;

	if (xm_unlikely(xm_conn_rx_copied(c)))
		xm_stat_add(up->st->bytes_copied, len);
	if (xm_iovq_push(&up->in, ch, off, len) < 0) {
		xp__up_close(up, 1);
		return;
	}
	while (!up->closed && !xm_iovq_empty(&up->in)) {
		if (xp_view(up->xw, &up->in, &v) < 0) {
			xp__up_close(up, 1);
			return;
		}
		memset(&f, 0, sizeof(f));
		ssize_t n = up->codec->ops->split(up->codec, &v, 16u << 20, &f);
		if (n == 0) {
			xm_conn_rx_partial(c, 1);
			return;
		}
		if (n < 0) {
			xm_stat_inc(up->st->upstream_decode_error[-n < XM_CODEC_E__COUNT ? -n : 0]);
			xp__up_close(up, 1);
			return;
		}
		if (f.kind == XM_FRAME_RESPONSE || f.kind == XM_FRAME_HEARTBEAT_ACK) {
			xp__up_response(up, &v, &f);
		} else if (f.kind == XM_FRAME_HEARTBEAT) {
			uint8_t out[XP__GEN_MAX];
			ssize_t r = up->codec->ops->heartbeat_reply(up->codec, &v, &f, out, sizeof(out));
			xm_iovq_consume(&up->in, f.len);
			if (r > 0)
				xp_send_generated(up->loop, &up->conn, out, (size_t)r);
		} else {
			/* Server-initiated requests and goaway: nothing to route yet. */
			xm_iovq_consume(&up->in, f.len);
		}
	}
	xm_conn_rx_partial(c, 0);
}

static void xp__up_eof(struct xm_conn *c)
{
	xp__up_close(xm_container_of(c, struct xp_up, conn), 1);
}

static void xp__up_error(struct xm_conn *c, int err)
{
	(void)err;
	xp__up_close(xm_container_of(c, struct xp_up, conn), 1);
}

static void xp__up_drained(struct xm_conn *c)
{
	struct xp_up *up = xm_container_of(c, struct xp_up, conn);

	if (c->flags & XM_CONN_F_ABOVE_HIGH)
		return;
	while (up->paused.next != &up->paused) {
		struct xp_down *d = xm_container_of(up->paused.next, struct xp_down, pause_link);
		xm_link_del(&d->pause_link);
		if (!d->closed) {
			xm_conn_read_start(&d->conn);
			xp_down_process(d);
		}
	}
}

int xp_worker_init(struct xm_fworker *fw, void **state)
{
	struct xp_worker *xw = calloc(1, sizeof(*xw));
	if (!xw || xm_pools_new(&xw->pools) < 0) {
		free(xw);
		return -ENOMEM;
	}
	*state = xw;
	return 0;
}

void xp_worker_free(struct xm_fworker *fw, void *state)
{
	struct xp_worker *xw = state;
	if (!xw)
		return;
	xm_pools_free(xw->pools);
	free(xw->scratch);
	free(xw);
}
