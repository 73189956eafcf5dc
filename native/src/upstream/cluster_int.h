/* Private glue of the upstream layer: cluster.c (views), breaker.c, outlier.c, registry.c (persistent states), lb.c and lb_hash.c; nothing outside them includes it. */
#ifndef XM_CLUSTER_INT_H
#define XM_CLUSTER_INT_H

#include "net/addr.h"
#include "upstream/cluster.h"
#include "upstream/hash.h"
#include "xm.h"

/* ---- registry (registry.c) ---- */

struct xm_registry {
	pthread_mutex_t lock;      /* tables and the final unref; control side + rare worker frees */
	struct xm_stats *stats;
	struct xm_events *events;
	struct xm_cluster_state **clusters; /* chained hash, by name */
	size_t ncluster_buckets, nclusters;
	struct xm_host_state **hosts;       /* chained hash, by cluster name + host name */
	size_t nhost_buckets, nhosts;
};

/* Find or create the state for a cluster / a host of cs, returning it with a reference.
 * A host created here starts healthy or not per `healthy`; a known one keeps its state. */
int xm__registry_cluster_get(struct xm_registry *r, const char *name, struct xm_cluster_state **out);
int xm__registry_host_get(struct xm_registry *r, struct xm_cluster_state *cs, const char *name, int healthy,
			  struct xm_host_state **out);

/* Atomically set / clear XM_HOST_F_* bits; keeps the healthy gauges and the cluster's
 * health generation in step. Returns the flags as they were before. */
uint32_t xm__host_flags_update(struct xm_host_state *hs, uint32_t set, uint32_t clear);


/* ---- load balancer internals (lb.c, lb_hash.c) ---- */

struct xm_lb_ring_entry {
	uint64_t hash;
	uint32_t host;
};

struct xm_lb {
	enum xm_lb_policy policy;
	int equal_weights;            /* least request: plain P2C when every weight is equal */
	uint32_t size;                /* entries in sched / ring / maglev */
	uint32_t *sched;              /* weighted round robin: one cycle of host indexes */
	struct xm_lb_ring_entry *ring; /* ring hash: sorted by hash */
	uint32_t *maglev;             /* maglev: host index per slot */
};

struct xm_lb_worker {
	uint64_t rng;        /* splitmix64 state */
	uint64_t gen_seen;   /* cluster health_gen + 1 the panic cache was computed at (0 = never) */
	uint64_t recheck_ms; /* earliest ejection expiry seen: the cache is stale after it */
	uint32_t pos;        /* round robin index / weighted schedule position */
	uint32_t navail;
	int panic;
} __attribute__((aligned(XM_CACHELINE)));

/* What a pick may return: available (or anything, in panic), and not the excluded host. */
struct xm_lb_pick {
	const struct xm_host *exclude;
	uint64_t now_ms;
	int panic;
};

static inline int xm__lb_ok(const struct xm_lb_pick *p, const struct xm_host *h)
{
	return h != p->exclude && (p->panic || xm_host_available(h, p->now_ms));
}

int xm__lb_build(struct xm_cluster *c, const struct xm_cluster_cfg *cfg);
void xm__lb_free(struct xm_lb *lb);
int xm__lb_ring_build(struct xm_lb *lb, const struct xm_cluster *c, uint32_t min_size);
int xm__lb_maglev_build(struct xm_lb *lb, const struct xm_cluster *c, uint32_t table_size);
/* Hash policies: NULL when no acceptable host was found quickly (caller falls back). */
const struct xm_host *xm__lb_ring_pick(const struct xm_cluster *c, uint64_t hash, const struct xm_lb_pick *p);
const struct xm_host *xm__lb_maglev_pick(const struct xm_cluster *c, uint64_t hash, const struct xm_lb_pick *p);

/* splitmix64 finaliser: a cheap full-avalanche mix, also the per-worker PRNG step. */
static inline uint64_t xm__mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
