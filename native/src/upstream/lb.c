/* Load balancing: host selection for every policy, panic mode, and the weighted round robin schedule. */
#include <stdlib.h>

#include "upstream/cluster_int.h"

/*
 * A pick never allocates and never takes a lock. The shared inputs are the immutable
 * cluster view and the hosts' atomic flags; the only writes go to the worker's own
 * cache-line padded slot c->lbw[worker].
 */

/* Weighted round robin keeps one full cycle of the schedule; weights whose (gcd-reduced)
 * sum exceeds this are scaled down, which is then only approximately proportional. */
#define LB__SCHED_MAX (1u << 16)
/* How far a policy searches for an acceptable host before the generic fallback scan. */
#define LB__RANDOM_TRIES 4u
#define LB__WALK_MAX 256u

static inline uint64_t lb__rand(struct xm_lb_worker *w)
{
	w->rng += 0x9e3779b97f4a7c15ull; /* splitmix64 */
	return xm__mix64(w->rng);
}

/* Uniform in [0, n) without a division (Lemire); the bias for n << 2^32 is negligible. */
static inline uint32_t lb__below(struct xm_lb_worker *w, uint32_t n)
{
	return (uint32_t)(((lb__rand(w) >> 32) * (uint64_t)n) >> 32);
}

/* ---- panic ---- */

/*
 * Panic needs the number of available hosts, which is O(n) to count, so each worker
 * caches it. The cache is valid while the cluster's health generation (bumped on every
 * flag change of any of its hosts) is unchanged and no ejection it saw has expired yet
 * (expiry is lifted lazily, so it does not bump the generation by itself).
 */
static int lb__panic(const struct xm_cluster *c, struct xm_lb_worker *w, uint64_t now_ms)
{
	uint64_t gen = xm_atomic_load(&c->st->health_gen), recheck = UINT64_MAX;
	uint32_t navail = 0;

	if (xm_likely(w->gen_seen == gen + 1 && now_ms < w->recheck_ms))
		return w->panic;
	for (uint32_t i = 0; i < c->nhosts; i++) {
		const struct xm_host *h = &c->hosts[i];
		if (xm_host_available(h, now_ms)) {
			navail++;
		} else if (xm_atomic_load(&h->st->flags) & XM_HOST_F_EJECTED) {
			uint64_t until = xm_atomic_load(&h->st->ejected_until_ms);
			if (until < recheck)
				recheck = until;
		}
	}
	w->gen_seen = gen + 1;
	w->recheck_ms = recheck;
	w->navail = navail;
	w->panic = (uint64_t)navail * 2 < c->nhosts;
	return w->panic;
}

/* Last resort after a policy found nothing acceptable: the first acceptable host from
 * start, then the excluded host if it may take traffic, then anything. Deterministic in
 * start, so hash policies stay consistent. */
static const struct xm_host *lb__fallback(const struct xm_cluster *c, uint32_t start, const struct xm_lb_pick *p)
{
	const struct xm_host *e = p->exclude;

	for (uint32_t i = 0, j = start % c->nhosts; i < c->nhosts; i++, j = j + 1 == c->nhosts ? 0 : j + 1)
		if (xm__lb_ok(p, &c->hosts[j]))
			return &c->hosts[j];
	if (e && e >= c->hosts && e < c->hosts + c->nhosts && (p->panic || xm_host_available(e, p->now_ms)))
		return e;
	return &c->hosts[start % c->nhosts];
}

/* ---- policies ---- */

static const struct xm_host *lb__round_robin(const struct xm_cluster *c, struct xm_lb_worker *w,
					     const struct xm_lb_pick *p)
{
	uint32_t i = w->pos, n = c->nhosts;

	for (uint32_t k = 0; k < n; k++) {
		if (i >= n)
			i = 0;
		const struct xm_host *h = &c->hosts[i++];
		if (xm__lb_ok(p, h)) {
			w->pos = i;
			return h;
		}
	}
	w->pos = i;
	return NULL;
}

static const struct xm_host *lb__random(const struct xm_cluster *c, struct xm_lb_worker *w, const struct xm_lb_pick *p,
					uint32_t *start)
{
	/* Re-draw rather than probe linearly: probing would hand an unavailable host's share
	 * to its neighbour. */
	for (uint32_t k = 0; k < LB__RANDOM_TRIES; k++) {
		const struct xm_host *h = &c->hosts[*start = lb__below(w, c->nhosts)];
		if (xm__lb_ok(p, h))
			return h;
	}
	return NULL;
}

static const struct xm_host *lb__weighted_rr(const struct xm_cluster *c, struct xm_lb_worker *w,
					     const struct xm_lb_pick *p, uint32_t *start)
{
	const struct xm_lb *lb = c->lb;
	uint32_t pos = w->pos, walk = lb->size < LB__WALK_MAX ? lb->size : LB__WALK_MAX;

	/* Unacceptable slots are skipped, so over a cycle every acceptable host still gets
	 * exactly its weight's share. */
	for (uint32_t k = 0; k < walk; k++) {
		const struct xm_host *h = &c->hosts[lb->sched[pos]];
		pos = pos + 1 == lb->size ? 0 : pos + 1;
		if (xm__lb_ok(p, h)) {
			w->pos = pos;
			return h;
		}
	}
	w->pos = pos;
	*start = lb->sched[pos];
	return NULL;
}

/* 1 if a is less loaded than b: fewer requests, or per unit of weight when weights differ
 * ((active + 1) / weight, so an idle heavy host beats an idle light one). */
static inline int lb__less_loaded(const struct xm_lb *lb, const struct xm_host *a, const struct xm_host *b)
{
	uint64_t ra = (uint32_t)xm_atomic_load(&a->st->active_rq), rb = (uint32_t)xm_atomic_load(&b->st->active_rq);

	if (lb->equal_weights)
		return ra < rb;
	return (ra + 1) * b->weight < (rb + 1) * a->weight;
}

static const struct xm_host *lb__least_request(const struct xm_cluster *c, struct xm_lb_worker *w,
					       const struct xm_lb_pick *p, uint32_t *start)
{
	const struct xm_host *best = NULL;

	/* Power of d choices: draw with replacement, as Envoy does; a round where no draw was
	 * acceptable is retried a few times before the fallback scan. */
	for (uint32_t round = 0; round < LB__RANDOM_TRIES && !best; round++) {
		for (uint32_t k = 0; k < c->least_request_choices; k++) {
			const struct xm_host *h = &c->hosts[*start = lb__below(w, c->nhosts)];
			if (xm__lb_ok(p, h) && (!best || lb__less_loaded(c->lb, h, best)))
				best = h;
		}
	}
	return best;
}

const struct xm_host *xm_lb_pick(struct xm_cluster *c, unsigned worker, uint64_t hash, const struct xm_host *exclude,
				 uint64_t now_ms)
{
	struct xm_lb_worker *w;
	const struct xm_host *h = NULL;
	struct xm_lb_pick p;
	uint32_t start = 0;

	if (xm_unlikely(c->nhosts == 0))
		return NULL;
	xm_assert(worker < c->nworkers);
	w = &c->lbw[worker];
	if (c->nhosts == 1)
		return &c->hosts[0]; /* nothing to choose, and excluding it would leave nothing */
	p.exclude = exclude;
	p.now_ms = now_ms;
	p.panic = lb__panic(c, w, now_ms);
	switch (c->lb_policy) {
	case XM_LB_ROUND_ROBIN:
		h = lb__round_robin(c, w, &p);
		break;
	case XM_LB_RANDOM:
		h = lb__random(c, w, &p, &start);
		break;
	case XM_LB_WEIGHTED_ROUND_ROBIN:
		h = lb__weighted_rr(c, w, &p, &start);
		break;
	case XM_LB_LEAST_REQUEST:
		h = lb__least_request(c, w, &p, &start);
		break;
	case XM_LB_RING_HASH:
		h = xm__lb_ring_pick(c, hash, &p);
		start = (uint32_t)(hash % c->nhosts);
		break;
	case XM_LB_MAGLEV:
		h = xm__lb_maglev_pick(c, hash, &p);
		start = (uint32_t)(hash % c->nhosts);
		break;
	}
	return h ? h : lb__fallback(c, start, &p);
}

/* ---- build ---- */

static uint64_t lb__gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* EDF heap entry: host i's k-th turn is due at (2k + 1) / (2 w_i), i.e. in the middle of
 * its k-th share of the cycle, which interleaves hosts smoothly. */
struct lb__edf {
	uint32_t host, k, w;
};

/* a due before b (ties: lower host index, for a deterministic schedule). Cross-multiplied
 * in 128 bits so the comparison is exact. */
static inline int lb__edf_before(const struct lb__edf *a, const struct lb__edf *b)
{
	unsigned __int128 x = (unsigned __int128)(2u * (uint64_t)a->k + 1) * b->w;
	unsigned __int128 y = (unsigned __int128)(2u * (uint64_t)b->k + 1) * a->w;
	return x < y || (x == y && a->host < b->host);
}

static void lb__edf_down(struct lb__edf *heap, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		if (l < n && lb__edf_before(&heap[l], &heap[m]))
			m = l;
		if (l + 1 < n && lb__edf_before(&heap[l + 1], &heap[m]))
			m = l + 1;
		if (m == i)
			return;
		struct lb__edf t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

/* One cycle of earliest-deadline-first turns: exactly w_i slots for host i, spread out. */
static int lb__sched_build(struct xm_lb *lb, const struct xm_cluster *c)
{
	uint64_t g = 0, sum = 0;
	uint32_t n = c->nhosts, len = 0;
	struct lb__edf *heap = NULL;
	int err = 0;

	for (uint32_t i = 0; i < n; i++)
		g = lb__gcd(g, c->hosts[i].weight);
	for (uint32_t i = 0; i < n; i++)
		sum += c->hosts[i].weight / g;
	heap = calloc(n, sizeof(*heap));
	if (!heap) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t w = c->hosts[i].weight / g;
		if (sum > LB__SCHED_MAX)
			w = w * LB__SCHED_MAX / sum ? w * LB__SCHED_MAX / sum : 1;
		heap[i] = (struct lb__edf){ .host = i, .k = 0, .w = (uint32_t)w };
		len += (uint32_t)w;
	}
	lb->sched = malloc((size_t)len * sizeof(*lb->sched));
	if (!lb->sched) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = n / 2; i-- > 0;)
		lb__edf_down(heap, n, i);
	for (uint32_t live = n, j = 0; live > 0; j++) {
		lb->sched[j] = heap[0].host;
		if (++heap[0].k == heap[0].w)
			heap[0] = heap[--live];
		lb__edf_down(heap, live, 0);
	}
	lb->size = len;
out:
	free(heap);
	return err;
}

int xm__lb_build(struct xm_cluster *c, const struct xm_cluster_cfg *cfg)
{
	struct xm_lb *lb;
	uint64_t seed = xm_hash64(c->name, strlen(c->name));
	int err = -ENOMEM;

	lb = c->lb = calloc(1, sizeof(*lb));
	c->lbw = aligned_alloc(XM_CACHELINE, (size_t)c->nworkers * sizeof(*c->lbw));
	if (!lb || !c->lbw)
		goto out;
	memset(c->lbw, 0, (size_t)c->nworkers * sizeof(*c->lbw));
	lb->policy = c->lb_policy;
	lb->equal_weights = 1;
	for (uint32_t i = 1; i < c->nhosts; i++)
		if (c->hosts[i].weight != c->hosts[0].weight)
			lb->equal_weights = 0;
	err = 0;
	if (c->nhosts > 0) {
		switch (c->lb_policy) {
		case XM_LB_WEIGHTED_ROUND_ROBIN:
			err = lb__sched_build(lb, c);
			break;
		case XM_LB_RING_HASH:
			err = xm__lb_ring_build(lb, c, cfg->ring_hash_min_size);
			break;
		case XM_LB_MAGLEV:
			err = xm__lb_maglev_build(lb, c, cfg->maglev_table_size);
			break;
		default:
			break;
		}
	}
	/* Workers start at different places and with different random streams, so they do
	 * not all send their first request to the same host. */
	for (unsigned i = 0; i < c->nworkers; i++) {
		struct xm_lb_worker *w = &c->lbw[i];
		w->rng = xm__mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ull);
		if (c->nhosts) {
			uint32_t span = lb->size ? lb->size : c->nhosts;
			w->pos = (uint32_t)((uint64_t)span * i / c->nworkers);
		}
	}
out:
	return err;
}

void xm__lb_free(struct xm_lb *lb)
{
	if (!lb)
		return;
	free(lb->sched);
	free(lb->ring);
	free(lb->maglev);
	free(lb);
}
