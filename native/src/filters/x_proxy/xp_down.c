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
static void xp__down_arm(struct xp_down *d, const struct xp_cfg *cfg);

/* A client's codec is known when x_proxy takes it (a listener filter detected it, or the
 * filter speaks one protocol), it is never handed over nor spliced: it may live on the
 * io_uring ring. Its read pause (xp_pause_on) then takes effect after the bytes already
 * received, which are framed and forwarded like any others: a paused client overshoots its
 * upstream's cap by at most what one receive delivered, as a tcp_proxy connection does. */
static const struct xm_conn_ops xp__down_ops = {
	.on_read = xp__down_read,
	.on_eof = xp__down_eof,
	.on_error = xp__down_error,
	.on_drained = xp__down_drained,
	.on_connected = xp__nop_connected,
	.uring = 1,
};

/* ---------------------------------------------------------------- helpers */

static struct iovec *xp__scratch(struct xp_worker *xw)
{
	if (!xw->scratch)
		xw->scratch = malloc(sizeof(struct iovec) * XP__MAX_IOV);
	return xw->scratch;
}

/* A view over the unconsumed input of a connection. */
int xp_view(struct xp_worker *xw, struct xm_iovq *in, struct xm_iview *v)
{
	struct iovec *iov = xp__scratch(xw);
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
int xp_send_generated(struct xm_loop *l, struct xm_conn *c, const uint8_t *buf, size_t n)
{
	struct xm_chunk *ch = xm_chunk_get(&l->pool);
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
	if (xm_link_linked(&d->pause_link))
		xm_link_del(&d->pause_link);
	xm_timer_stop(d->loop, &d->timer);
	xm_conn_close(&d->conn, mode);
	xm_iovq_clear(&d->in);
	xm_gauge_add(d->st->downstream_cx_active, -1);
	xm_cx_end(&d->acct);
	xm_fworker_del(d->fw, &d->base);
	xm_loop_defer(d->loop, &d->defer, xp__down_free);
}

static void xp__down_abort(struct xm_session *s)
{
	xp_down_close(xm_container_of(s, struct xp_down, base), XM_CLOSE_FIN);
}

/* The listener drains (xmesh stops): keep answering, and close the first moment nothing is
 * in flight (an idle connection closes now). The drain time bounds a busy one. */
static void xp__down_drain_session(struct xm_session *s)
{
	struct xp_down *d = xm_container_of(s, struct xp_down, base);
	d->shutting = 1;
	xp_down_maybe_finish(d);
}

/* Memory pressure: a client holding at least min_bytes of an unfinished frame is reset. */
static int xp__down_shed(struct xm_session *s, uint64_t min_bytes)
{
	struct xp_down *d = xm_container_of(s, struct xp_down, base);

	if (d->closed || d->in.bytes < min_bytes)
		return 0;
	xm_stat_inc(d->st->downstream_cx_overload_reset);
	xp_down_close(d, XM_CLOSE_RESET);
	return 1;
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
		xp_send_generated(d->loop, &d->conn, out, (size_t)n);
}

const struct xp_cfg *xp_down_cfg(struct xp_down *d)
{
	uint64_t gen = d->fw->epoch ? d->fw->epoch->gen : 0;
	/* By generation, not address: the table d->cfg points into may be freed and a later
	 * one allocated at the same address. */
	if (gen != d->cfg_gen) {
		d->cfg = gen ? d->fw->lookup(d->fw, d->listener_id, d->chain_key, &xm_x_proxy_filter) : NULL;
		d->cfg_gen = gen;
	}
	return d->cfg;
}

/* Answer request f with st in its protocol's terms and drop its bytes (ms: its method's
 * stats, or NULL before routing). */
static void xp__refuse(struct xp_down *d, const struct xm_iview *v, const struct xm_frame *f, enum xm_status st,
		       struct xm_xmethod_stats *ms, const char *detail)
{
	xp__hijack(d, v, f, st, ms, detail);
	xm_iovq_consume(&d->in, f->len);
}

/* The route of request f (its routing keys in *ri), or NULL when it was answered already
 * (undecodable, no route). */
static const struct xm_xroute *xp__route(struct xp_down *d, const struct xp_cfg *cfg, const struct xm_iview *v,
					 const struct xm_frame *f, struct xm_route_info *ri, const struct xm_xvhost **vh)
{
	ri->used = 0;
	ri->nmetas = 0;
	int rc = d->codec->ops->route_info(d->codec, v, f, ri);
	if (rc < 0) {
		xm_stat_inc(d->st->decode_error[-rc < XM_CODEC_E__COUNT ? -rc : 0]);
		xp__refuse(d, v, f, XM_STATUS_CODEC_ERROR, NULL, "the request could not be decoded");
		return NULL;
	}
	const struct xm_xroute *rt = xm_xroute_find(cfg, ri, vh);
	if (!rt) {
		char msg[300];
		snprintf(msg, sizeof(msg), "service %.*s method %.*s", (int)ri->service_len, ri->service, (int)ri->method_len,
			 ri->method);
		xm_stat_inc(d->st->downstream_rq_no_route);
		xp__refuse(d, v, f, XM_STATUS_NO_ROUTE, NULL, msg);
	}
	return rt;
}

/* A request in flight on up: indexed under a fresh id there, timed, held for retries; the
 * frame's id is rewritten in place. 0 or -ENOMEM (the caller's breaker slot is released). */
static int xp__track(struct xp_down *d, const struct xp_cfg *cfg, const struct xm_iview *v, const struct xm_frame *f,
		     const struct xm_xroute *rt, const struct xm_xvhost *vh, struct xm_xmethod_stats *ms,
		     struct xp_up *up, struct xm_cluster *c, const struct xm_host *h)
{
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
	if (xp_rq_attach(rq, up, c, h, 0) < 0) {
		xm_cluster_rq_release(c->st);
		xp_rq_free(d, rq);
		return -ENOMEM;
	}
	const struct xm_route_action *a = &rt->action;
	xm_timer_start(d->loop, &rq->timer, a->timeout_ms); /* every route has one (the control core's default) */
	if (a->retry.num_retries && xp_rq_hold(&d->in, f->len, &rq->frame) == 0) {
		rq->retries_left = a->retry.num_retries;
		rq->retry_on_connect_failure = a->retry.on_connect_failure;
		rq->retry_on_reset = a->retry.on_reset;
	}
	xp_put_id(v, f, rq->up_id);
	if (d->codec->ops->id_rewritten)
		d->codec->ops->id_rewritten(d->codec, v, f);
	return 0;
}

/* Handle one complete request frame at the front of d->in: route it, take a slot of its
 * cluster's request breaker, pick a host and a pooled connection, track it (requests, not
 * oneways) and forward its bytes by reference. Returns 0, or <0 when d must be closed. */
static int xp__request(struct xp_down *d, const struct xp_cfg *cfg, const struct xm_iview *v,
		       const struct xm_frame *f)
{
	struct xm_route_info ri;
	const struct xm_xvhost *vh = NULL;

	xm_stat_inc(d->st->downstream_rq_total);
	xm_stat_inc(d->pst->rq_total);
	if (f->kind == XM_FRAME_ONEWAY)
		xm_stat_inc(d->st->downstream_rq_oneway);
	const struct xm_xroute *rt = xp__route(d, cfg, v, f, &ri, &vh);
	if (!rt)
		return 0;
	struct xm_xmethod_stats *ms = xm_xmethod_stats_get(vh->st, ri.method, ri.method_len);
	if (ms)
		xm_stat_inc(ms->rq_total);
	struct xm_cluster *c = xm_route_cluster(d->loop, &rt->action);
	if (xm_cluster_rq_acquire(c) < 0) {
		xm_stat_inc(d->st->downstream_rq_overflow);
		xp__refuse(d, v, f, XM_STATUS_OVERFLOW, ms, "circuit breaker");
		return 0;
	}
	const struct xm_host *h;
	struct xp_up *up = xp_pick(d, cfg, c, xp_rq_hash(d, rt, &ri), NULL, &h);
	if (!up) {
		xm_cluster_rq_release(c->st);
		xm_stat_inc(d->st->downstream_rq_unavailable);
		xm_stat_inc(c->st->st.upstream_cx_none_healthy);
		xp__refuse(d, v, f, XM_STATUS_UNAVAILABLE, ms, "no healthy host");
		return 0;
	}
	xm_stat_inc(c->st->st.upstream_rq_total);
	xm_stat_inc(vh->st->rq_total);
	if (f->kind == XM_FRAME_REQUEST) {
		if (xp__track(d, cfg, v, f, rt, vh, ms, up, c, h) < 0)
			return -ENOMEM;
	} else {
		/* oneway: no response, no pending entry, the breaker slot is released now */
		xm_cluster_rq_release(c->st);
	}
	xp_pause_on(d, up, xp_forward(&d->in, f->len, &up->conn));
	return 0;
}

void xp_down_process(struct xp_down *d)
{
	const struct xp_cfg *cfg = xp_down_cfg(d);
	struct xm_iview v;
	struct xm_frame f;

	if (!cfg) {
		/* The listener left the configuration: finish this connection. */
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	while (!d->closed && !xm_iovq_empty(&d->in)) {
		if (xp_view(d->xw, &d->in, &v) < 0) {
			xp_down_close(d, XM_CLOSE_RESET);
			return;
		}
		memset(&f, 0, sizeof(f));
		ssize_t n = d->codec->ops->split(d->codec, &v, d->max_frame, &f);
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
				xp_send_generated(d->loop, &d->conn, out, (size_t)r);
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

	if (xm_unlikely(xm_conn_rx_copied(c)))
		xm_stat_add(d->st->bytes_copied, len);
	d->last_io_ms = d->loop->now_ms;
	int began = xm_iovq_empty(&d->in);
	if (xm_iovq_push(&d->in, ch, off, len) < 0) {
		xp_down_close(d, XM_CLOSE_RESET);
		return;
	}
	xp_down_process(d);
	xm_conn_rx_partial(c, !xm_iovq_empty(&d->in));
	/* Bytes left over are an unfinished frame: time how long it takes to arrive whole. */
	if (!d->closed && !xm_iovq_empty(&d->in) && d->cfg && d->cfg->frame_timeout_ms) {
		if (began)
			d->frame_start_ms = d->loop->now_ms;
		xp__down_arm(d, d->cfg);
	}
}

void xp_down_maybe_finish(struct xp_down *d)
{
	/* Client sent FIN, or the connection is draining: answer what is in flight, then close
	 * once it is written. */
	/* A draining listener's connection also waits for a frame it is still receiving. */
	if ((d->eof || d->draining || (d->shutting && xm_iovq_empty(&d->in))) && !d->closed && d->npending == 0 &&
	    xm_conn_queued(&d->conn) == 0) {
		if (d->shutting && !d->eof)
			xm_stat_inc(d->st->downstream_cx_drain_close);
		xp_down_close(d, XM_CLOSE_FIN);
	}
}

void xp_down_drain(struct xp_down *d)
{
	if (d->closed || d->draining)
		return;
	d->draining = 1;
	xm_conn_read_stop(&d->conn);
	xp_down_maybe_finish(d);
}

/* The earliest time the connection's timer must look again (0: nothing to watch). */
static uint64_t xp__down_deadline(const struct xp_down *d, const struct xp_cfg *cfg)
{
	uint64_t at = d->expires_ms && !d->draining ? d->expires_ms : 0;
	uint64_t t = 0;
	if (!xm_iovq_empty(&d->in) && cfg->frame_timeout_ms)
		t = d->frame_start_ms + cfg->frame_timeout_ms;
	else if (cfg->idle_timeout_ms && d->npending == 0)
		t = d->last_io_ms + cfg->idle_timeout_ms;
	else if (cfg->idle_timeout_ms)
		t = d->loop->now_ms + cfg->idle_timeout_ms; /* busy: look again later */
	return !at || (t && t < at) ? t : at;
}

static void xp__down_arm(struct xp_down *d, const struct xp_cfg *cfg)
{
	uint64_t at = xp__down_deadline(d, cfg), now = d->loop->now_ms;
	if (!at)
		xm_timer_stop(d->loop, &d->timer);
	else if (!xm_timer_armed(&d->timer) || d->timer.deadline_ms > at)
		xm_timer_start(d->loop, &d->timer, at > now ? at - now : 0);
}

/* Idle, frame completion and duration limits, checked when the earliest is due (the timer
 * is not pushed on every byte). */
static void xp__down_timer(struct xm_timer *t)
{
	struct xp_down *d = xm_container_of(t, struct xp_down, timer);
	const struct xp_cfg *cfg = xp_down_cfg(d);
	uint64_t now = d->loop->now_ms;

	if (!cfg) {
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	if (d->expires_ms && now >= d->expires_ms && !d->draining) {
		xm_stat_inc(d->st->downstream_cx_max_duration_reached);
		xp_down_drain(d);
		if (d->closed)
			return;
	}
	if (!xm_iovq_empty(&d->in) && cfg->frame_timeout_ms && now - d->frame_start_ms >= cfg->frame_timeout_ms) {
		/* A frame began and stalled: its bytes are all this connection holds for it. */
		xm_stat_inc(d->st->downstream_cx_frame_timeout);
		xp_down_close(d, XM_CLOSE_RESET);
		return;
	}
	if (cfg->idle_timeout_ms && d->npending == 0 && xm_iovq_empty(&d->in) && now - d->last_io_ms >= cfg->idle_timeout_ms) {
		xm_stat_inc(d->st->downstream_cx_idle_timeout);
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	xp__down_arm(d, cfg);
}

static void xp__down_eof(struct xm_conn *c)
{
	struct xp_down *d = xm_container_of(c, struct xp_down, conn);
	d->eof = 1;
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

/* The codec of a connection: the application protocol a listener filter detected (one of
 * the filter's), or the filter's only one. */
static int xp__codec_of(const struct xp_cfg *cfg, const struct xm_fconn *fc)
{
	if (!fc->facts.app_proto)
		return cfg->ncodecs == 1 ? 0 : -1;
	for (uint32_t i = 0; i < cfg->ncodecs; i++)
		if (strcmp(cfg->codecs[i]->name, fc->facts.app_proto) == 0)
			return (int)i;
	return -1;
}

static void xp__accept(struct xm_fworker *fw, void *cfgp, struct xm_fconn *fc)
{
	const struct xp_cfg *cfg = cfgp;
	int ci = xp__codec_of(cfg, fc);
	struct xp_down *d = ci < 0 ? NULL : calloc(1, sizeof(*d));

	if (!d) {
		/* No memory, or a chain that sends a protocol this filter does not speak (the
		 * control core validates chains against it): nothing to serve. */
		close(fc->fd);
		xm_iovq_clear(&fc->pre);
		xm_cx_end(&fc->acct);
		return;
	}
	d->base.abort = xp__down_abort;
	d->base.drain = xp__down_drain_session;
	d->base.shed = xp__down_shed;
	d->base.listener_id = fc->listener_id;
	d->peer_hash = xm_hash_peer(&fc->facts.peer, 0);
	d->acct = fc->acct;
	d->fw = fw;
	d->loop = fw->loop;
	d->xw = xm_fworker_state(fw, &xm_x_proxy_filter);
	d->listener_id = fc->listener_id;
	d->chain_key = fc->chain_key;
	d->cfg = cfg;
	d->cfg_gen = fc->epoch->gen;
	d->codec = cfg->codecs[ci];
	d->pst = cfg->pst[ci];
	d->st = cfg->st;
	/* Bytes a listener filter already read are the stream's first, by reference. */
	d->in = fc->pre;
	xm_iovq_init(&fc->pre);
	d->eof = fc->eof;
	/* Bytes held for an unfinished frame count against the listener's buffer limit: a frame
	 * that cannot fit is refused as soon as its length is readable (decode_error too_large). */
	d->max_frame = cfg->max_frame < fc->buffer_limit ? cfg->max_frame : fc->buffer_limit;
	d->last_io_ms = d->frame_start_ms = d->loop->now_ms;
	d->expires_ms = cfg->max_duration_ms ? d->loop->now_ms + cfg->max_duration_ms : 0;
	xm_timer_init(&d->timer, xp__down_timer);
	xm_link_init(&d->pending);
	xm_link_init(&d->pause_link);
	xm_fworker_add(fw, &d->base);
	xm_stat_inc(d->st->downstream_cx_total);
	xm_gauge_add(d->st->downstream_cx_active, 1);
	xm_stat_inc(d->pst->downstream_cx_protocol);
	if (xm_conn_accept(&d->conn, d->loop, fc->fd, &xp__down_ops, fc->buffer_limit) < 0) {
		close(fc->fd);
		d->conn.flags = XM_CONN_F_CLOSED;
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	xm_conn_set_keepalive(&d->conn, &fc->keepalive);
	if (d->eof)
		d->conn.flags |= XM_CONN_F_EOF;
	if (!xm_iovq_empty(&d->in))
		xp_down_process(d);
	if (d->closed)
		return;
	if (d->eof)
		xp_down_maybe_finish(d);
	else
		xm_conn_read_start(&d->conn);
	if (!d->closed)
		xp__down_arm(d, cfg);
}

const struct xm_filter_ops xm_x_proxy_filter = {
	.name = "xmesh.x_proxy",
	.terminal = 1,
	.build = xp_build,
	.free = xp_free,
	.accept = xp__accept,
	.worker_init = xp_worker_init,
	.worker_free = xp_worker_free,
};
