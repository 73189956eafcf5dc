/* The x_proxy stream layer: split, route, multiplex onto pooled upstream connections, map responses back. */
#include "xproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "dp.h"
#include "listener.h"
#include "session.h"
#include "table.h"
#include "worker.h"

/*
 * Ownership, all on one worker:
 *  - xp_down: a client connection. Its unconsumed input is a queue of slices of the chunks
 *    it read; a complete request frame is forwarded by *moving those slices* to an upstream
 *    connection's output queue after its request id was rewritten in place.
 *  - xp_up: a multiplexed upstream connection in a per-worker pool keyed by (host, codec).
 *    It owns a map from the ids it handed out to the requests in flight on it.
 *  - xp_rq: one request in flight: linked from its down (to cancel on close) and indexed
 *    in its up's map (to match the response). It holds the cluster state for breakers/stats.
 * Only persistent state (cluster/host states, stats) outlives a table swap; the route config
 * is looked up in the worker's current table at each request.
 */

#define XP__MAX_IOV 1100 /* 16 MiB max frame / 16 KiB chunks, plus slack */
#define XP__GEN_MAX 4096 /* generated frames (hijack, heartbeat replies) */

struct xp_up;

struct xp_rq {
	struct xm_link down_link;
	struct xp_down *down;
	struct xp_up *up;
	uint64_t up_id;
	uint64_t down_id;
	struct xm_frame f;           /* split facts of the request, for a later hijack (timeout, lost upstream) */
	struct xm_timer timer;
	uint64_t start_us;
	struct xm_cluster_state *cs; /* reference held */
	struct xm_host_state *hs;    /* reference held */
	struct xm_xvhost_stats *vst; /* persistent */
};

struct xp_down {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_worker *w;
	struct xm_listener *l;
	const struct xm_listener_cfg *lcfg; /* valid for lcfg_table */
	struct xm_table *lcfg_table;
	const struct xm_codec *codec;
	struct xm_xproxy_stats *st;
	struct xm_iovq in;
	struct xm_link pending;            /* xp_rq.down_link */
	struct xm_link pause_link;         /* in an up's paused list while backpressured */
	uint32_t npending;
	uint8_t closed, eof;
};

/* Open addressing map: request id on the upstream connection -> request. */
struct xp_pmap {
	uint64_t *keys;
	struct xp_rq **vals;
	uint32_t cap, n;
};

struct xp_hostpool;

struct xp_up {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_worker *w;
	struct xp_hostpool *hp;
	const struct xm_codec *codec;
	struct xm_xproxy_stats *st;
	struct xm_host_state *hs;          /* reference held */
	struct xm_cluster_state *cs;       /* reference held */
	struct xm_iovq in;
	struct xp_pmap pending;
	struct xm_link paused;             /* downs waiting for this connection to drain */
	struct xm_timer timer;             /* connect timeout */
	uint64_t next_id;
	uint8_t connected, closed;
};

#define XP__POOL_MAX 16
struct xp_hostpool {
	struct xp_hostpool *next;
	struct xm_host_state *hs;          /* reference held */
	const struct xm_codec *codec;
	struct xp_up *ups[XP__POOL_MAX];
	uint32_t n, rr;
};

#define XP__POOL_BUCKETS 1024
struct xp_pools {
	struct xp_hostpool *b[XP__POOL_BUCKETS];
};

static void xp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void xp__down_eof(struct xm_conn *c);
static void xp__down_error(struct xm_conn *c, int err);
static void xp__down_drained(struct xm_conn *c);
static void xp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void xp__up_eof(struct xm_conn *c);
static void xp__up_error(struct xm_conn *c, int err);
static void xp__up_drained(struct xm_conn *c);
static void xp__up_connected(struct xm_conn *c, int err);
static void xp__nop_connected(struct xm_conn *c, int err) { (void)c, (void)err; }

static const struct xm_conn_ops xp__down_ops = {
	.on_read = xp__down_read,
	.on_eof = xp__down_eof,
	.on_error = xp__down_error,
	.on_drained = xp__down_drained,
	.on_connected = xp__nop_connected,
};
static const struct xm_conn_ops xp__up_ops = {
	.on_read = xp__up_read,
	.on_eof = xp__up_eof,
	.on_error = xp__up_error,
	.on_drained = xp__up_drained,
	.on_connected = xp__up_connected,
};

/* ---------------------------------------------------------------- routing */

static int xp__str_match(const struct xm_str_match *m, const char *s, size_t len)
{
	switch (m->kind) {
	case XM_MATCH_ANY:
	case XM_MATCH_PRESENT:
		return 1;
	case XM_MATCH_EXACT:
		return len == m->len && memcmp(s, m->s, len) == 0;
	case XM_MATCH_PREFIX:
		return len >= m->len && memcmp(s, m->s, m->len) == 0;
	case XM_MATCH_SUFFIX:
		return len >= m->len && memcmp(s + len - m->len, m->s, m->len) == 0;
	}
	return 0;
}

const struct xm_xroute *xm_xroute_find(const struct xm_xproxy_cfg *cfg, const struct xm_route_info *ri,
				       const struct xm_xvhost **vhost)
{
	for (uint32_t v = 0; v < cfg->nvhosts; v++) {
		const struct xm_xvhost *vh = &cfg->vhosts[v];
		uint32_t d;
		for (d = 0; d < vh->ndomains; d++)
			if (xp__str_match(&vh->domains[d], ri->service, ri->service_len))
				break;
		if (d == vh->ndomains)
			continue;
		for (uint32_t r = 0; r < vh->nroutes; r++) {
			const struct xm_xroute *rt = &vh->routes[r];
			if (rt->method.kind != XM_MATCH_ANY && !xp__str_match(&rt->method, ri->method, ri->method_len))
				continue;
			uint32_t m;
			for (m = 0; m < rt->nmetas; m++) {
				uint16_t vlen;
				const char *v = xm_route_info_get(ri, rt->metas[m].name, rt->metas[m].name_len, &vlen);
				if (!v || !xp__str_match(&rt->metas[m].m, v, vlen))
					break;
			}
			if (m == rt->nmetas) {
				if (vhost)
					*vhost = vh;
				return rt;
			}
		}
		return NULL; /* the first matching virtual host decides, as in Envoy */
	}
	return NULL;
}

/* ---------------------------------------------------------------- pending map */

static uint32_t xp__slot(const struct xp_pmap *m, uint64_t id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

static struct xp_rq *xp__pmap_get(const struct xp_pmap *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (uint32_t i = xp__slot(m, id);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == id)
			return m->vals[i];
	}
}

static int xp__pmap_put(struct xp_pmap *m, uint64_t id, struct xp_rq *rq);

static int xp__pmap_grow(struct xp_pmap *m)
{
	struct xp_pmap nm = { .cap = m->cap ? m->cap * 2 : 64 };
	nm.keys = calloc(nm.cap, sizeof(*nm.keys));
	nm.vals = calloc(nm.cap, sizeof(*nm.vals));
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->vals[i])
			xp__pmap_put(&nm, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

static int xp__pmap_put(struct xp_pmap *m, uint64_t id, struct xp_rq *rq)
{
	if ((m->n + 1) * 2 > m->cap && xp__pmap_grow(m) < 0)
		return -ENOMEM;
	uint32_t i = xp__slot(m, id);
	while (m->vals[i])
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = id;
	m->vals[i] = rq;
	m->n++;
	return 0;
}

/* Remove with backward-shift deletion (no tombstones). */
static void xp__pmap_del(struct xp_pmap *m, uint64_t id)
{
	uint32_t i = xp__slot(m, id);
	while (m->vals[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	if (!m->vals[i])
		return;
	m->vals[i] = NULL;
	m->n--;
	for (uint32_t j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
		uint32_t home = xp__slot(m, m->keys[j]);
		/* Move j back to i if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = NULL;
			i = j;
		}
	}
}

/* ---------------------------------------------------------------- helpers */

static struct iovec *xp__scratch(struct xm_worker *w)
{
	if (!w->scratch_iov)
		w->scratch_iov = malloc(sizeof(struct iovec) * XP__MAX_IOV);
	return w->scratch_iov;
}

/* A view over the unconsumed input of a connection. */
static int xp__view(struct xm_worker *w, struct xm_iovq *in, struct xm_iview *v)
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

static void xp__put_id(const struct xm_iview *v, const struct xm_frame *f, uint64_t id)
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
static int xp__forward(struct xm_iovq *in, uint32_t len, struct xm_conn *dst)
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
static int xp__send_generated(struct xm_worker *w, struct xm_conn *c, const uint8_t *buf, size_t n)
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

static void xp__rq_free(struct xp_down *down, struct xp_rq *rq)
{
	struct xm_worker *w = down->w;

	xm_timer_stop(&w->loop, &rq->timer);
	xm_link_del(&rq->down_link);
	down->npending--;
	if (rq->up)
		xp__pmap_del(&rq->up->pending, rq->up_id);
	xm_gauge_add(down->st->downstream_rq_active, -1);
	xm_gauge_add(rq->vst->rq_active, -1);
	xm_gauge_add(rq->cs->st.upstream_rq_active, -1);
	xm_cluster_rq_release(rq->cs);
	xm_atomic_sub(&rq->hs->active_rq, 1);
	xm_gauge_add(rq->hs->st.rq_active, -1);
	xm_host_state_unref(rq->hs);
	xm_cluster_state_unref(rq->cs);
	free(rq);
}

static void xp__down_close(struct xp_down *d, enum xm_close_mode mode)
{
	if (d->closed)
		return;
	d->closed = 1;
	while (d->pending.next != &d->pending) {
		struct xp_rq *rq = xm_container_of(d->pending.next, struct xp_rq, down_link);
		xp__rq_free(d, rq);
	}
	if (d->pause_link.next != &d->pause_link)
		xm_link_del(&d->pause_link);
	xm_conn_close(&d->conn, mode);
	xm_iovq_clear(&d->in);
	xm_gauge_add(d->st->downstream_cx_active, -1);
	xm_link_del(&d->base.link);
	d->w->nsessions--;
	xm_loop_defer(&d->w->loop, &d->defer, xp__down_free);
}

static void xp__down_abort(struct xm_session *s, enum xm_end_reason why)
{
	(void)why;
	xp__down_close(xm_container_of(s, struct xp_down, base), XM_CLOSE_FIN);
}

/* Answer request f of d with an error in the protocol's own terms. */
static void xp__hijack(struct xp_down *d, const struct xm_iview *v, const struct xm_frame *f, enum xm_status st,
		       const char *msg)
{
	uint8_t out[XP__GEN_MAX];

	if (f->kind != XM_FRAME_REQUEST)
		return; /* oneway: nobody waits for an answer */
	ssize_t n = d->codec->ops->hijack(d->codec, v, f, st, msg, out, sizeof(out));
	if (n > 0)
		xp__send_generated(d->w, &d->conn, out, (size_t)n);
}

static const struct xm_xproxy_cfg *xp__cfg(struct xp_down *d)
{
	struct xm_table *t = d->w->table;
	if (t != d->lcfg_table) {
		d->lcfg = t ? xm_table_listener_for(t, d->l) : NULL;
		d->lcfg_table = t;
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

static struct xp_up *xp__up_get(struct xm_worker *w, const struct xm_xproxy_cfg *cfg, struct xm_cluster *c,
				const struct xm_host *h, const struct xm_codec *codec);

static void xp__rq_timeout(struct xm_timer *t)
{
	struct xp_rq *rq = xm_container_of(t, struct xp_rq, timer);
	struct xp_down *d = rq->down;
	uint8_t out[XP__GEN_MAX];
	struct xm_iview empty = { 0 };

	xm_stat_inc(d->st->downstream_rq_timeout);
	xm_stat_inc(rq->vst->rq_timeout);
	/* The frame itself went upstream; hijack works from the facts split recorded. */
	ssize_t n = d->codec->ops->hijack(d->codec, &empty, &rq->f, XM_STATUS_TIMEOUT, "xmesh: upstream timeout", out,
					  sizeof(out));
	xp__rq_free(d, rq);
	if (n > 0)
		xp__send_generated(d->w, &d->conn, out, (size_t)n);
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
	if (f->kind == XM_FRAME_ONEWAY)
		xm_stat_inc(d->st->downstream_rq_oneway);
	ri.used = 0;
	ri.nmetas = 0;
	rc = d->codec->ops->route_info(d->codec, v, f, &ri);
	if (rc < 0) {
		xm_stat_inc(d->st->decode_error[-rc < XM_CODEC_E__COUNT ? -rc : 0]);
		xp__hijack(d, v, f, XM_STATUS_CODEC_ERROR, "xmesh: request could not be decoded");
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
		xp__hijack(d, v, f, XM_STATUS_NO_ROUTE, msg);
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	struct xm_cluster *c = xp__route_cluster(d, rt);
	if (xm_cluster_rq_acquire(c) < 0) {
		xm_stat_inc(d->st->downstream_rq_overflow);
		xp__hijack(d, v, f, XM_STATUS_OVERFLOW, "xmesh: upstream overflow (circuit breaker)");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	const struct xm_host *h = xm_lb_pick(c, w->id, 0, NULL, w->loop.now_ms);
	struct xp_up *up = h ? xp__up_get(w, cfg, c, h, d->codec) : NULL;
	if (!up) {
		xm_cluster_rq_release(c->st);
		xm_stat_inc(d->st->downstream_rq_unavailable);
		xm_stat_inc(c->st->st.upstream_cx_none_healthy);
		xp__hijack(d, v, f, XM_STATUS_UNAVAILABLE, "xmesh: no healthy upstream");
		xm_iovq_consume(&d->in, f->len);
		return 0;
	}
	xm_stat_inc(c->st->st.upstream_rq_total);
	xm_stat_inc(vh->st->rq_total);
	struct xp_rq *rq = NULL;
	if (f->kind == XM_FRAME_REQUEST) {
		rq = calloc(1, sizeof(*rq));
		if (!rq) {
			xm_cluster_rq_release(c->st);
			return -ENOMEM;
		}
		/* A fresh id on this upstream connection; 4-byte ids stay positive (Bolt int). */
		uint64_t mask = f->id_size >= 8 ? ~0ull : (1ull << (8 * f->id_size - 1)) - 1;
		do {
			up->next_id = (up->next_id + 1) & mask;
		} while (up->next_id == 0 || xp__pmap_get(&up->pending, up->next_id));
		rq->up_id = up->next_id;
		rq->down_id = f->id;
		rq->f = *f;
		rq->down = d;
		rq->up = up;
		rq->cs = c->st;
		rq->hs = h->st;
		rq->vst = vh->st;
		rq->start_us = xm_now_us();
		xm_gauge_add(rq->vst->rq_active, 1);
		xm_cluster_state_ref(rq->cs);
		xm_host_state_ref(rq->hs);
		xm_atomic_add(&rq->hs->active_rq, 1);
		xm_gauge_add(rq->hs->st.rq_active, 1);
		xm_gauge_add(rq->cs->st.upstream_rq_active, 1);
		xm_gauge_add(d->st->downstream_rq_active, 1);
		if (xp__pmap_put(&up->pending, rq->up_id, rq) < 0) {
			rq->up = NULL;
			xm_link_init(&rq->down_link);
			xm_link_add(&d->pending, &rq->down_link);
			d->npending++;
			xp__rq_free(d, rq);
			return -ENOMEM;
		}
		xm_link_add(&d->pending, &rq->down_link);
		d->npending++;
		xm_timer_init(&rq->timer, xp__rq_timeout);
		xm_timer_start(&w->loop, &rq->timer, rt->timeout_ms ? rt->timeout_ms : cfg->timeout_ms);
		xp__put_id(v, f, rq->up_id);
		if (d->codec->ops->id_rewritten)
			d->codec->ops->id_rewritten(d->codec, v, f);
	} else {
		/* oneway: no response, no pending entry, the breaker slot is released now */
		xm_cluster_rq_release(c->st);
	}
	rc = xp__forward(&d->in, f->len, &up->conn);
	if (rc == XM_WRITE_PAUSE && d->pause_link.next == &d->pause_link) {
		/* The shared upstream connection is backed up: stop reading this client until
		 * it drains (other clients keep going until they add to it too). */
		xm_conn_read_stop(&d->conn);
		xm_link_add(&up->paused, &d->pause_link);
	}
	return 0;
}

static void xp__down_process(struct xp_down *d)
{
	const struct xm_xproxy_cfg *cfg = xp__cfg(d);
	struct xm_iview v;
	struct xm_frame f;

	if (!cfg) {
		/* The listener left the configuration: finish this connection. */
		xp__down_close(d, XM_CLOSE_FIN);
		return;
	}
	while (!d->closed && !xm_iovq_empty(&d->in)) {
		if (xp__view(d->w, &d->in, &v) < 0) {
			xp__down_close(d, XM_CLOSE_RESET);
			return;
		}
		memset(&f, 0, sizeof(f));
		ssize_t n = d->codec->ops->split(d->codec, &v, cfg->max_frame, &f);
		if (n == 0)
			return;
		if (n < 0) {
			/* Malformed input ends only this connection, counted by reason. */
			xm_stat_inc(d->st->decode_error[-n < XM_CODEC_E__COUNT ? -n : 0]);
			xp__down_close(d, XM_CLOSE_RESET);
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
				xp__send_generated(d->w, &d->conn, out, (size_t)r);
			break;
		}
		default:
			/* Responses / acks / goaway from a client: nothing to route. */
			xm_iovq_consume(&d->in, f.len);
		}
		if (rc < 0) {
			xp__down_close(d, XM_CLOSE_RESET);
			return;
		}
	}
}

static void xp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xp_down *d = xm_container_of(c, struct xp_down, conn);

	if (xm_iovq_push(&d->in, ch, off, len) < 0) {
		xp__down_close(d, XM_CLOSE_RESET);
		return;
	}
	xp__down_process(d);
}

static void xp__down_maybe_finish(struct xp_down *d)
{
	/* Client sent FIN: answer what is in flight, then close once it is written. */
	if (d->eof && !d->closed && d->npending == 0 && xm_conn_queued(&d->conn) == 0)
		xp__down_close(d, XM_CLOSE_FIN);
}

static void xp__down_eof(struct xm_conn *c)
{
	struct xp_down *d = xm_container_of(c, struct xp_down, conn);
	d->eof = 1;
	xp__down_maybe_finish(d);
}

static void xp__down_error(struct xm_conn *c, int err)
{
	(void)err;
	xp__down_close(xm_container_of(c, struct xp_down, conn), XM_CLOSE_FIN);
}

static void xp__down_drained(struct xm_conn *c)
{
	xp__down_maybe_finish(xm_container_of(c, struct xp_down, conn));
}

void xm_xproxy_accept(struct xm_worker *w, const struct xm_listener_cfg *lcfg, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen)
{
	struct xp_down *d = calloc(1, sizeof(*d));
	(void)peer;
	(void)plen;

	xm_stat_inc(lcfg->l->st.downstream_cx_total);
	if (!d) {
		close(fd);
		return;
	}
	d->base.abort = xp__down_abort;
	d->w = w;
	d->l = lcfg->l;
	d->lcfg = lcfg;
	d->lcfg_table = w->table;
	d->codec = lcfg->x.codec;
	d->st = lcfg->x.st;
	xm_iovq_init(&d->in);
	xm_link_init(&d->pending);
	xm_link_init(&d->pause_link);
	xm_link_add(&w->sessions, &d->base.link);
	w->nsessions++;
	xm_stat_inc(d->st->downstream_cx_total);
	xm_gauge_add(d->st->downstream_cx_active, 1);
	if (xm_conn_accept(&d->conn, w, fd, &xp__down_ops, lcfg->buffer_limit) < 0) {
		close(fd);
		d->conn.flags = XM_CONN_F_CLOSED;
		xp__down_close(d, XM_CLOSE_FIN);
		return;
	}
	xm_conn_set_keepalive(&d->conn, &lcfg->keepalive);
	xm_conn_read_start(&d->conn);
}

/* ---------------------------------------------------------------- upstream side */

static uint32_t xp__pool_hash(const struct xm_host_state *hs, const struct xm_codec *codec)
{
	uintptr_t k = (uintptr_t)hs ^ ((uintptr_t)codec << 7);
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 40) & (XP__POOL_BUCKETS - 1);
}

static void xp__up_free(struct xm_defer *d)
{
	free(xm_container_of(d, struct xp_up, defer));
}

/* Close an upstream connection: every request in flight on it fails with UNAVAILABLE
 * (a protocol-correct error to its client), and it leaves its pool. */
static void xp__up_close(struct xp_up *up, int failed)
{
	struct xm_worker *w = up->w;

	if (up->closed)
		return;
	up->closed = 1;
	xm_timer_stop(&w->loop, &up->timer);
	for (uint32_t i = 0; i < up->pending.cap; i++) {
		struct xp_rq *rq = up->pending.vals[i];
		if (!rq)
			continue;
		struct xp_down *d = rq->down;
		uint8_t out[XP__GEN_MAX];
		struct xm_iview empty = { 0 };
		ssize_t n = d->codec->ops->hijack(d->codec, &empty, &rq->f, XM_STATUS_UNAVAILABLE,
						  "xmesh: upstream connection lost", out, sizeof(out));
		xm_stat_inc(d->st->downstream_rq_unavailable);
		xm_stat_inc(rq->vst->rq_unavailable);
		rq->up = NULL; /* the map is being torn down below */
		xp__rq_free(d, rq);
		if (n > 0 && !d->closed)
			xp__send_generated(w, &d->conn, out, (size_t)n);
		xp__down_maybe_finish(d);
	}
	free(up->pending.keys);
	free(up->pending.vals);
	up->pending = (struct xp_pmap){ 0 };
	/* Clients paused on this connection may go on (their next request picks another). */
	while (up->paused.next != &up->paused) {
		struct xp_down *d = xm_container_of(up->paused.next, struct xp_down, pause_link);
		xm_link_del(&d->pause_link);
		if (!d->closed)
			xm_conn_read_start(&d->conn);
	}
	if (failed && up->cs)
		xm_host_report(up->cs, up->hs, NULL, up->connected ? XM_HOST_RESET : XM_HOST_CONNECT_FAIL, w->loop.now_ms);
	struct xp_hostpool *hp = up->hp;
	for (uint32_t i = 0; hp && i < hp->n; i++)
		if (hp->ups[i] == up) {
			hp->ups[i] = hp->ups[--hp->n];
			break;
		}
	xm_conn_close(&up->conn, failed ? XM_CLOSE_RESET : XM_CLOSE_FIN);
	xm_iovq_clear(&up->in);
	xm_gauge_add(up->st->upstream_cx_active, -1);
	xm_gauge_add(up->cs->st.upstream_cx_active, -1);
	xm_gauge_add(up->hs->st.cx_active, -1);
	xm_cluster_cx_release(up->cs);
	xm_host_state_unref(up->hs);
	xm_cluster_state_unref(up->cs);
	xm_link_del(&up->base.link);
	w->nsessions--;
	xm_loop_defer(&w->loop, &up->defer, xp__up_free);
}

static void xp__up_abort(struct xm_session *s, enum xm_end_reason why)
{
	(void)why;
	xp__up_close(xm_container_of(s, struct xp_up, base), 0);
}

static void xp__up_timer(struct xm_timer *t)
{
	struct xp_up *up = xm_container_of(t, struct xp_up, timer);
	xm_stat_inc(up->cs->st.upstream_cx_connect_timeout);
	xp__up_close(up, 1);
}

static struct xp_up *xp__up_get(struct xm_worker *w, const struct xm_xproxy_cfg *cfg, struct xm_cluster *c,
				const struct xm_host *h, const struct xm_codec *codec)
{
	if (!w->xpools && !(w->xpools = calloc(1, sizeof(*w->xpools))))
		return NULL;
	uint32_t b = xp__pool_hash(h->st, codec);
	struct xp_hostpool *hp;
	for (hp = w->xpools->b[b]; hp; hp = hp->next)
		if (hp->hs == h->st && hp->codec == codec)
			break;
	if (!hp) {
		hp = calloc(1, sizeof(*hp));
		if (!hp)
			return NULL;
		hp->hs = h->st;
		hp->codec = codec;
		xm_host_state_ref(hp->hs);
		hp->next = w->xpools->b[b];
		w->xpools->b[b] = hp;
	}
	uint32_t want = cfg->conns_per_host < XP__POOL_MAX ? cfg->conns_per_host : XP__POOL_MAX;
	if (hp->n >= want && hp->n > 0)
		return hp->ups[hp->rr++ % hp->n];
	/* Open one more multiplexed connection to this host. */
	if (xm_cluster_cx_acquire(c) < 0)
		return hp->n ? hp->ups[hp->rr++ % hp->n] : NULL;
	struct xp_up *up = calloc(1, sizeof(*up));
	if (!up) {
		xm_cluster_cx_release(c->st);
		return NULL;
	}
	up->base.abort = xp__up_abort;
	up->w = w;
	up->hp = hp;
	up->codec = codec;
	up->st = cfg->st;
	up->hs = h->st;
	up->cs = c->st;
	xm_host_state_ref(up->hs);
	xm_cluster_state_ref(up->cs);
	xm_iovq_init(&up->in);
	xm_link_init(&up->paused);
	xm_timer_init(&up->timer, xp__up_timer);
	xm_link_add(&w->sessions, &up->base.link);
	w->nsessions++;
	xm_stat_inc(up->st->upstream_cx_total);
	xm_gauge_add(up->st->upstream_cx_active, 1);
	xm_stat_inc(up->cs->st.upstream_cx_total);
	xm_gauge_add(up->cs->st.upstream_cx_active, 1);
	xm_gauge_add(up->hs->st.cx_active, 1);
	hp->ups[hp->n++] = up;
	if (xm_conn_connect(&up->conn, w, (const struct sockaddr *)&h->addr, h->addrlen, &xp__up_ops, c->buffer_limit) < 0) {
		xm_stat_inc(up->cs->st.upstream_cx_connect_fail);
		xp__up_close(up, 1);
		return NULL;
	}
	xm_conn_set_keepalive(&up->conn, &c->keepalive);
	xm_timer_start(&w->loop, &up->timer, c->connect_timeout_ms);
	return up;
}

static void xp__up_connected(struct xm_conn *c, int err)
{
	struct xp_up *up = xm_container_of(c, struct xp_up, conn);

	xm_timer_stop(&up->w->loop, &up->timer);
	if (err) {
		xm_stat_inc(up->cs->st.upstream_cx_connect_fail);
		xp__up_close(up, 1);
		return;
	}
	up->connected = 1;
	xm_host_report(up->cs, up->hs, NULL, XM_HOST_CONNECT_OK, up->w->loop.now_ms);
	xm_conn_read_start(&up->conn);
}

static void xp__up_response(struct xp_up *up, const struct xm_iview *v, const struct xm_frame *f)
{
	struct xp_rq *rq = xp__pmap_get(&up->pending, f->id);

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
	xm_host_report(rq->cs, rq->hs, NULL,
		       f->status == XM_STATUS_OK ? XM_HOST_RESPONSE_OK : XM_HOST_RESPONSE_ERROR, up->w->loop.now_ms);
	uint64_t took = xm_now_us() - rq->start_us;
	xm_hist_record(up->st->rq_time_ms, took);
	xm_hist_record(rq->vst->rq_time_ms, took);
	xp__put_id(v, f, rq->down_id);
	if (up->codec->ops->id_rewritten)
		up->codec->ops->id_rewritten(up->codec, v, f);
	xp__rq_free(d, rq);
	int rc = xp__forward(&up->in, f->len, &d->conn);
	if (rc < 0)
		xp__down_close(d, XM_CLOSE_FIN);
	else
		xp__down_maybe_finish(d);
}

static void xp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xp_up *up = xm_container_of(c, struct xp_up, conn);
	struct xm_iview v;
	struct xm_frame f;

	if (xm_iovq_push(&up->in, ch, off, len) < 0) {
		xp__up_close(up, 1);
		return;
	}
	while (!up->closed && !xm_iovq_empty(&up->in)) {
		if (xp__view(up->w, &up->in, &v) < 0) {
			xp__up_close(up, 1);
			return;
		}
		memset(&f, 0, sizeof(f));
		ssize_t n = up->codec->ops->split(up->codec, &v, 16u << 20, &f);
		if (n == 0)
			return;
		if (n < 0) {
			xm_stat_inc(up->st->decode_error[-n < XM_CODEC_E__COUNT ? -n : 0]);
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
				xp__send_generated(up->w, &up->conn, out, (size_t)r);
		} else {
			/* Server-initiated requests and goaway: nothing to route yet. */
			xm_iovq_consume(&up->in, f.len);
		}
	}
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
			xp__down_process(d);
		}
	}
}

void xm_xproxy_worker_free(struct xm_worker *w)
{
	if (w->xpools) {
		for (uint32_t b = 0; b < XP__POOL_BUCKETS; b++) {
			while (w->xpools->b[b]) {
				struct xp_hostpool *hp = w->xpools->b[b];
				w->xpools->b[b] = hp->next;
				xm_host_state_unref(hp->hs);
				free(hp);
			}
		}
		free(w->xpools);
		w->xpools = NULL;
	}
	free(w->scratch_iov);
	w->scratch_iov = NULL;
}
