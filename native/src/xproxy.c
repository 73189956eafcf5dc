/* The x_proxy stream layer, downstream side: split client frames, route them, forward them onto pooled upstream connections. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "xproxy_int.h"

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
	struct xm_chunk *ch = xm_chunk_get(&w->pool);
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

/* Drop what attach took: the request's breaker slot (and retry slot), the host and cluster
 * references and the in-flight gauges. The pending entry is the caller's. */
static void xp__rq_detach(struct xp_rq *rq)
{
	if (rq->hs) {
		xm_atomic_sub(&rq->hs->active_rq, 1);
		xm_gauge_add(rq->hs->st.rq_active, -1);
		xm_host_state_unref(rq->hs);
		rq->hs = NULL;
	}
	if (rq->cs) {
		if (rq->retry_slot)
			xm_cluster_retry_release(rq->cs);
		rq->retry_slot = 0;
		xm_gauge_add(rq->cs->st.upstream_rq_active, -1);
		xm_cluster_rq_release(rq->cs);
		xm_cluster_state_unref(rq->cs);
		rq->cs = NULL;
	}
}

/* Give rq a fresh id on up and index it there; rq takes over the request breaker slot the
 * caller acquired on c, and references on c's and h's states. 0 or -ENOMEM. */
static int xp__rq_attach(struct xp_rq *rq, struct xp_up *up, struct xm_cluster *c, const struct xm_host *h)
{
	/* 4-byte ids stay positive (Bolt int). */
	uint64_t mask = rq->f.id_size >= 8 ? ~0ull : (1ull << (8 * rq->f.id_size - 1)) - 1;
	do {
		up->next_id = (up->next_id + 1) & mask;
	} while (up->next_id == 0 || xp_pmap_get(&up->pending, up->next_id));
	if (xp_pmap_put(&up->pending, up->next_id, rq) < 0)
		return -ENOMEM;
	rq->up_id = up->next_id;
	rq->up = up;
	rq->cs = c->st;
	rq->hs = h->st;
	xm_cluster_state_ref(rq->cs);
	xm_host_state_ref(rq->hs);
	xm_atomic_add(&rq->hs->active_rq, 1);
	xm_gauge_add(rq->hs->st.rq_active, 1);
	xm_gauge_add(rq->cs->st.upstream_rq_active, 1);
	return 0;
}

void xp_rq_free(struct xp_down *down, struct xp_rq *rq)
{
	struct xm_worker *w = down->w;

	xm_timer_stop(&w->loop, &rq->timer);
	xm_link_del(&rq->down_link);
	down->npending--;
	if (rq->up)
		xp_pmap_del(&rq->up->pending, rq->up_id);
	xm_gauge_add(down->st->downstream_rq_active, -1);
	xm_gauge_add(rq->vst->rq_active, -1);
	xp__rq_detach(rq);
	xm_iovq_clear(&rq->frame);
	free(rq);
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

static struct xm_cluster *xp__route_cluster(struct xp_down *d, const struct xm_xroute *rt)
{
	if (rt->cluster)
		return rt->cluster;
	uint32_t r = (uint32_t)(xm_worker_rand(d->w) % rt->wcum[rt->nwclusters - 1]);
	return rt->wclusters[xm_pick_weighted(rt->wcum, rt->nwclusters, r)];
}

static void xp__rq_timeout(struct xm_timer *t)
{
	struct xp_rq *rq = xm_container_of(t, struct xp_rq, timer);
	struct xp_down *d = rq->down;
	uint8_t out[XP__GEN_MAX];
	struct xm_iview empty = { 0 };

	xm_stat_inc(d->st->downstream_rq_timeout);
	xm_stat_inc(rq->vst->rq_timeout);
	xm_xproxy_count_rs(d->st, d->pst, rq->mst, XM_STATUS_TIMEOUT);
	/* The frame itself went upstream; hijack works from the facts split recorded. */
	ssize_t n = d->codec->ops->hijack(d->codec, &empty, &rq->f, XM_STATUS_TIMEOUT, "xmesh: upstream timeout", out,
					  sizeof(out));
	xp_rq_free(d, rq);
	if (n > 0)
		xp_send_generated(d->w, &d->conn, out, (size_t)n);
}

/* The LB key of a request on route rt (used by ring hash / maglev clusters). */
static uint64_t xp__hash(struct xp_down *d, const struct xm_xroute *rt, const struct xm_route_info *ri)
{
	if (rt->hash_kind == XM_XHASH_SOURCE_IP)
		return d->peer_hash;
	if (rt->hash_kind == XM_XHASH_META) {
		uint16_t vlen;
		const char *v = xm_route_info_get(ri, rt->hash_meta, rt->hash_meta_len, &vlen);
		if (v)
			return xm_hash64(v, vlen);
	}
	return xm_worker_rand(d->w);
}

/* A host of c for LB key hash (avoiding exclude when another is available) and a pooled
 * connection to it. */
static struct xp_up *xp__pick(struct xp_down *d, const struct xm_xproxy_cfg *cfg, struct xm_cluster *c, uint64_t hash,
			      const struct xm_host *exclude, const struct xm_host **h)
{
	*h = xm_lb_pick(c, d->w->id, hash, exclude, d->w->loop.now_ms);
	return *h ? xp_up_get(d->w, cfg, c, *h, d->codec) : NULL;
}

/* Keep references to the first len bytes of in (a request that may be retried). */
static int xp__hold(const struct xm_iovq *in, uint32_t len, struct xm_iovq *dst)
{
	uint64_t left = len;
	for (uint32_t i = 0; left > 0 && i < in->n; i++) {
		const struct xm_slice *s = &in->s[(in->head + i) & (in->cap - 1)];
		uint32_t piece = s->len < left ? s->len : (uint32_t)left;
		if (xm_iovq_push(dst, s->c, s->off, piece) < 0) {
			xm_iovq_clear(dst);
			return -ENOMEM;
		}
		left -= piece;
	}
	return 0;
}

static void xp__pause_on(struct xp_down *d, struct xp_up *up, int wrc)
{
	if (wrc == XM_WRITE_PAUSE && d->pause_link.next == &d->pause_link) {
		/* The shared upstream connection is backed up: stop reading this client until
		 * it drains (other clients keep going until they add to it too). */
		xm_conn_read_stop(&d->conn);
		xm_link_add(&up->paused, &d->pause_link);
	}
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
	struct xm_cluster *c = xp__route_cluster(d, rt);
	if (xm_cluster_rq_acquire(c) < 0) {
		xm_stat_inc(d->st->downstream_rq_overflow);
		xp__hijack(d, v, f, XM_STATUS_OVERFLOW, ms, "xmesh: upstream overflow (circuit breaker)");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	const struct xm_host *h;
	struct xp_up *up = xp__pick(d, cfg, c, xp__hash(d, rt, &ri), NULL, &h);
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
		xm_timer_init(&rq->timer, xp__rq_timeout);
		if (xp__rq_attach(rq, up, c, h) < 0) {
			xm_cluster_rq_release(c->st);
			xp_rq_free(d, rq);
			return -ENOMEM;
		}
		xm_timer_start(&w->loop, &rq->timer, rt->timeout_ms ? rt->timeout_ms : cfg->timeout_ms);
		if (rt->retry.num_retries && xp__hold(&d->in, f->len, &rq->frame) == 0) {
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
	xp__pause_on(d, up, xp_forward(&d->in, f->len, &up->conn));
	return 0;
}

int xp_rq_retry(struct xp_rq *rq, int connected)
{
	struct xp_down *d = rq->down;
	const struct xm_xproxy_cfg *cfg;
	struct xm_route_info ri;
	struct xm_iview v;
	int done = 0;

	if (d->closed || rq->retries_left == 0 || xm_iovq_empty(&rq->frame) ||
	    !(connected ? rq->retry_on_reset : rq->retry_on_connect_failure) || !(cfg = xp_down_cfg(d)))
		return 0;
	/* A view of its own: the worker's scratch iovecs may be in use by our caller. */
	v.iov = malloc(sizeof(*v.iov) * rq->frame.n);
	if (!v.iov)
		return 0;
	v.niov = (unsigned)xm_iovq_iov(&rq->frame, v.iov, (int)rq->frame.n);
	v.len = rq->frame.bytes;
	/* Route again from the request's own bytes, in the current table. */
	ri.used = 0;
	ri.nmetas = 0;
	const struct xm_xroute *rt = NULL;
	if (d->codec->ops->route_info(d->codec, &v, &rq->f, &ri) == 0)
		rt = xm_xroute_find(cfg, &ri, NULL);
	if (!rt)
		goto out;
	struct xm_cluster *c = xp__route_cluster(d, rt);
	const struct xm_host *exclude = NULL, *h;
	for (uint32_t i = 0; i < c->nhosts && !exclude; i++)
		if (c->hosts[i].st == rq->hs)
			exclude = &c->hosts[i];
	if (xm_cluster_rq_acquire(c) < 0)
		goto out;
	if (xm_cluster_retry_acquire(c) < 0) {
		xm_cluster_rq_release(c->st);
		goto out;
	}
	struct xp_up *up = xp__pick(d, cfg, c, xp__hash(d, rt, &ri), exclude, &h);
	if (!up) {
		xm_cluster_retry_release(c->st);
		xm_cluster_rq_release(c->st);
		goto out;
	}
	xp__rq_detach(rq);
	if (xp__rq_attach(rq, up, c, h) < 0) {
		xm_cluster_retry_release(c->st);
		xm_cluster_rq_release(c->st);
		goto out;
	}
	rq->retry_slot = 1;
	rq->retries_left--;
	xm_stat_inc(d->st->upstream_rq_retry);
	xm_stat_inc(c->st->st.upstream_rq_total);
	xp_put_id(&v, &rq->f, rq->up_id);
	if (d->codec->ops->id_rewritten)
		d->codec->ops->id_rewritten(d->codec, &v, &rq->f);
	/* Send the held slices again, keeping them for a further retry. */
	int wrc = XM_WRITE_OK;
	for (uint32_t i = 0; i < rq->frame.n && wrc >= 0; i++) {
		const struct xm_slice *s = &rq->frame.s[(rq->frame.head + i) & (rq->frame.cap - 1)];
		int r = xm_conn_write_batched(&up->conn, s->c, s->off, s->len);
		if (r != XM_WRITE_OK)
			wrc = r;
	}
	if (wrc >= 0)
		xp__pause_on(d, up, wrc);
	done = 1;
out:
	free(v.iov);
	return done;
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
	if (xm_conn_accept(&d->conn, w, fd, &xp__down_ops, lcfg->buffer_limit) < 0) {
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
