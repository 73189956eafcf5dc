/* The shared L7 router: route actions, host choice with breakers and references, and per-worker upstream pools. */
#include "router/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/weighted.h"
#include "stats/stats.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

_Static_assert(XM_POOL_MAX == XMESH__DATAPLANE__V1__LIMITS__MAX_UPSTREAM_CONNECTIONS_PER_HOST, "one limit, two spellings");

int xm_route_action_weighted(struct xm_route_action *a, const char *const *names, const uint32_t *weights, size_t n,
			     xm_cluster_resolve_fn resolve, void *ctx, char *err, size_t errlen)
{
	a->wclusters = calloc(n, sizeof(*a->wclusters));
	a->wcum = calloc(n, sizeof(*a->wcum));
	if (!a->wclusters || !a->wcum)
		return -ENOMEM;
	uint32_t cum = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = resolve(ctx, names[i], &a->wclusters[i], err, errlen);
		if (rc < 0)
			return rc;
		xm_assert(weights[i] >= 1); /* the filters' builds refuse weight 0 */
		cum += weights[i];
		a->wcum[i] = cum;
	}
	a->nwclusters = (uint32_t)n;
	return 0;
}

void xm_route_action_free(struct xm_route_action *a)
{
	free(a->wclusters);
	free(a->wcum);
	free(a->hash_key);
	memset(a, 0, sizeof(*a));
}

struct xm_cluster *xm_route_cluster(struct xm_loop *l, const struct xm_route_action *a)
{
	if (a->cluster)
		return a->cluster;
	return a->wclusters[xm_weighted_pick(l, a->wcum, a->nwclusters)];
}

uint64_t xm_route_hash(struct xm_loop *l, const struct xm_route_action *a, const char *key_value, size_t vlen,
		       uint64_t peer_hash)
{
	if (a->hash_kind == XM_HASH_SOURCE_IP)
		return peer_hash;
	if (a->hash_kind == XM_HASH_KEY && key_value)
		return xm_hash64(key_value, vlen);
	return xm_loop_rand(l);
}

void xm_attempt_take(struct xm_attempt *a, struct xm_cluster *c, const struct xm_host *h, int retry)
{
	a->cs = c->st;
	a->hs = h->st;
	a->retry_slot = (uint8_t)(retry != 0);
	xm_cluster_state_ref(a->cs);
	xm_host_state_ref(a->hs);
	xm_atomic_add(&a->hs->active_rq, 1);
	xm_gauge_add(a->hs->st.rq_active, 1);
	xm_gauge_add(a->cs->st.upstream_rq_active, 1);
}

void xm_attempt_drop(struct xm_attempt *a)
{
	if (a->hs) {
		xm_atomic_sub(&a->hs->active_rq, 1);
		xm_gauge_add(a->hs->st.rq_active, -1);
		xm_host_state_unref(a->hs);
		a->hs = NULL;
	}
	if (a->cs) {
		if (a->retry_slot)
			xm_cluster_retry_release(a->cs);
		a->retry_slot = 0;
		xm_gauge_add(a->cs->st.upstream_rq_active, -1);
		xm_cluster_rq_release(a->cs);
		xm_cluster_state_unref(a->cs);
		a->cs = NULL;
	}
}

const struct xm_host *xm_cluster_host_of(const struct xm_cluster *c, const struct xm_host_state *hs)
{
	for (uint32_t i = 0; i < c->nhosts; i++)
		if (c->hosts[i].st == hs)
			return &c->hosts[i];
	return NULL;
}

/* ---- pools ---- */

#define POOL__BUCKETS 1024

struct xm_pools {
	struct xm_hostpool *b[POOL__BUCKETS];
};

static uint32_t pool__hash(const struct xm_host_state *hs, const void *tag)
{
	uintptr_t k = (uintptr_t)hs ^ ((uintptr_t)tag << 7);
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 40) & (POOL__BUCKETS - 1);
}

int xm_pools_new(struct xm_pools **out)
{
	return (*out = calloc(1, sizeof(**out))) ? 0 : -ENOMEM;
}

void xm_pools_free(struct xm_pools *p)
{
	if (!p)
		return;
	for (uint32_t b = 0; b < POOL__BUCKETS; b++) {
		while (p->b[b]) {
			struct xm_hostpool *hp = p->b[b];
			p->b[b] = hp->next;
			xm_host_state_unref(hp->hs);
			free(hp);
		}
	}
	free(p);
}

void *xm_pool_get(struct xm_pools *p, struct xm_cluster *c, const struct xm_host *h, const void *tag, uint32_t want,
		  xm_pool_open_fn open, void *ctx)
{
	uint32_t b = pool__hash(h->st, tag);
	struct xm_hostpool *hp;

	for (hp = p->b[b]; hp; hp = hp->next)
		if (hp->hs == h->st && hp->tag == tag)
			break;
	if (!hp) {
		if (!(hp = calloc(1, sizeof(*hp))))
			return NULL;
		hp->hs = h->st;
		hp->tag = tag;
		xm_host_state_ref(hp->hs);
		hp->next = p->b[b];
		p->b[b] = hp;
	}
	xm_assert(want >= 1 && want <= XM_POOL_MAX);
	if (hp->n >= want && hp->n > 0)
		return hp->conns[hp->rr++ % hp->n];
	/* One more connection to this host, under the cluster's connection breaker. */
	if (xm_cluster_cx_acquire(c) < 0)
		return hp->n ? hp->conns[hp->rr++ % hp->n] : NULL;
	void *conn = open(ctx, hp, c, h);
	if (!conn)
		return NULL; /* open released the breaker slot with what it made */
	hp->conns[hp->n++] = conn;
	return conn;
}

void xm_pool_remove(struct xm_hostpool *hp, void *conn)
{
	for (uint32_t i = 0; hp && i < hp->n; i++)
		if (hp->conns[i] == conn) {
			hp->conns[i] = hp->conns[--hp->n];
			return;
		}
}
