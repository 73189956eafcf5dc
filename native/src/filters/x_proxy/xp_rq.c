/* x_proxy requests in flight: the references they hold, host choice, timeouts, and retries from their own bytes. */
#include <stdlib.h>

#include "filters/x_proxy/xp_int.h"

/* Give rq a fresh id on up and index it there; rq takes over the request breaker slot the
 * caller acquired on c (and the retry budget when retry), and references on c's and h's
 * states. 0 or -ENOMEM. */
int xp_rq_attach(struct xp_rq *rq, struct xp_up *up, struct xm_cluster *c, const struct xm_host *h, int retry)
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
	xm_attempt_take(&rq->at, c, h, retry);
	return 0;
}

void xp_rq_free(struct xp_down *down, struct xp_rq *rq)
{
	xm_timer_stop(down->loop, &rq->timer);
	down->last_io_ms = down->loop->now_ms; /* answered (or given up): the idle clock restarts */
	xm_link_del(&rq->down_link);
	down->npending--;
	if (rq->up)
		xp_pmap_del(&rq->up->pending, rq->up_id);
	xm_gauge_add(down->st->downstream_rq_active, -1);
	xm_gauge_add(rq->vst->rq_active, -1);
	xm_attempt_drop(&rq->at);
	xm_iovq_clear(&rq->frame);
	free(rq);
}

void xp_rq_timeout(struct xm_timer *t)
{
	struct xp_rq *rq = xm_container_of(t, struct xp_rq, timer);
	struct xp_down *d = rq->down;
	uint8_t out[XP__GEN_MAX];
	struct xm_iview empty = { 0 };

	xm_stat_inc(d->st->downstream_rq_timeout);
	xm_stat_inc(rq->vst->rq_timeout);
	xm_xproxy_count_rs(d->st, d->pst, rq->mst, XM_STATUS_TIMEOUT);
	/* The frame itself went upstream; hijack works from the facts split recorded. */
	ssize_t n = d->codec->ops->hijack(d->codec, &empty, &rq->f, XM_STATUS_TIMEOUT, NULL, out,
					  sizeof(out));
	xp_rq_free(d, rq);
	if (n > 0)
		xp_send_generated(d->loop, &d->conn, out, (size_t)n);
}

/* The LB key of a request on route rt (used by ring hash / maglev clusters). */
uint64_t xp_rq_hash(struct xp_down *d, const struct xm_xroute *rt, const struct xm_route_info *ri)
{
	const struct xm_route_action *a = &rt->action;
	uint16_t vlen = 0;
	const char *v = a->hash_kind == XM_HASH_KEY ? xm_route_info_get(ri, a->hash_key, a->hash_key_len, &vlen) : NULL;
	return xm_route_hash(d->loop, a, v, vlen, d->peer_hash);
}

/* A host of c for LB key hash (avoiding exclude when another is available) and a pooled
 * connection to it. */
struct xp_up *xp_pick(struct xp_down *d, const struct xp_cfg *cfg, struct xm_cluster *c, uint64_t hash,
		      const struct xm_host *exclude, const struct xm_host **h)
{
	*h = xm_lb_pick(c, d->loop->id, hash, exclude, d->loop->now_ms);
	return *h ? xp_up_get(d, cfg, c, *h) : NULL;
}

/* Keep references to the first len bytes of in (a request that may be retried). */
int xp_rq_hold(const struct xm_iovq *in, uint32_t len, struct xm_iovq *dst)
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

void xp_pause_on(struct xp_down *d, struct xp_up *up, int wrc)
{
	if (wrc == XM_WRITE_PAUSE && !xm_link_linked(&d->pause_link)) {
		/* The shared upstream connection is backed up: stop reading this client until
		 * it drains (other clients keep going until they add to it too). */
		xm_conn_read_stop(&d->conn);
		xm_link_add(&up->paused, &d->pause_link);
	}
}

int xp_rq_retry(struct xp_rq *rq, int connected)
{
	struct xp_down *d = rq->down;
	const struct xp_cfg *cfg;
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
	struct xm_cluster *c = xm_route_cluster(d->loop, &rt->action);
	const struct xm_host *exclude = xm_cluster_host_of(c, rq->at.hs), *h;
	if (xm_cluster_rq_acquire(c) < 0)
		goto out;
	if (xm_cluster_retry_acquire(c) < 0) {
		xm_cluster_rq_release(c->st);
		goto out;
	}
	struct xp_up *up = xp_pick(d, cfg, c, xp_rq_hash(d, rt, &ri), exclude, &h);
	if (!up) {
		xm_cluster_retry_release(c->st);
		xm_cluster_rq_release(c->st);
		goto out;
	}
	xm_attempt_drop(&rq->at);
	if (xp_rq_attach(rq, up, c, h, 1) < 0) {
		xm_cluster_retry_release(c->st);
		xm_cluster_rq_release(c->st);
		goto out;
	}
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
		xp_pause_on(d, up, wrc);
	done = 1;
out:
	free(v.iov);
	return done;
}
