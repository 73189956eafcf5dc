/* The registry of persistent cluster and host states: lookup by name, reference counting, health flags. */
#include <stdlib.h>

#include "upstream/cluster_int.h"
#include "stats/stats.h"

/*
 * States are found or created under the registry mutex by the control side (snapshot
 * build, health checks). References are dropped from anywhere, including workers when a
 * session that outlived its snapshot ends: the drop that may reach zero takes the mutex
 * first (like the kernel's refcount_dec_and_mutex_lock), so a lookup can never revive a
 * state that is being freed.
 */

#define REGISTRY__MIN_BUCKETS 64u

/* Decrement unless that would reach zero; 1 if done. */
static int registry__dec_not_last(int *ref)
{
	int old = xm_atomic_load(ref);
	while (old > 1)
		if (__atomic_compare_exchange_n(ref, &old, old - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return 1;
	xm_assert(old >= 1);
	return 0;
}

int xm_registry_new(struct xm_registry **out, struct xm_stats *stats, struct xm_events *events)
{
	struct xm_registry *r = calloc(1, sizeof(*r));
	int err = 0;

	if (!r) {
		err = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->stats = stats;
	r->events = events;
	r->ncluster_buckets = r->nhost_buckets = REGISTRY__MIN_BUCKETS;
	r->clusters = calloc(r->ncluster_buckets, sizeof(*r->clusters));
	r->hosts = calloc(r->nhost_buckets, sizeof(*r->hosts));
	if (!r->clusters || !r->hosts) {
		err = -ENOMEM;
		xm_registry_free(r);
		r = NULL;
	}
out:
	*out = r;
	return err;
}

void xm_registry_free(struct xm_registry *r)
{
	if (!r)
		return;
	/* A state outliving its registry would later lock a freed mutex. */
	xm_assert(r->nclusters == 0 && r->nhosts == 0);
	pthread_mutex_destroy(&r->lock);
	free(r->clusters);
	free(r->hosts);
	free(r);
}

/* ---- hash chains (registry mutex held) ---- */

static uint64_t registry__host_hash(const struct xm_cluster_state *cs, const char *name)
{
	return xm_hash64_seed(name, strlen(name), cs->reg_hash);
}

static struct xm_cluster_state *registry__cluster_find(struct xm_registry *r, const char *name, uint64_t h)
{
	struct xm_cluster_state *cs = r->clusters[h & (r->ncluster_buckets - 1)];
	while (cs && !(cs->reg_hash == h && strcmp(cs->name, name) == 0))
		cs = cs->reg_next;
	return cs;
}

static struct xm_host_state *registry__host_find(struct xm_registry *r, const struct xm_cluster_state *cs,
						 const char *name, uint64_t h)
{
	struct xm_host_state *hs = r->hosts[h & (r->nhost_buckets - 1)];
	while (hs && !(hs->reg_hash == h && hs->cluster == cs && strcmp(hs->name, name) == 0))
		hs = hs->reg_next;
	return hs;
}

/* Double the bucket arrays when chains average more than one entry. Failure to grow is
 * harmless (longer chains), so it is not reported. */
static void registry__maybe_grow_clusters(struct xm_registry *r)
{
	size_t n = r->ncluster_buckets * 2;
	struct xm_cluster_state **b;

	if (r->nclusters <= r->ncluster_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < r->ncluster_buckets; i++) {
		struct xm_cluster_state *cs = r->clusters[i], *next;
		for (; cs; cs = next) {
			next = cs->reg_next;
			cs->reg_next = b[cs->reg_hash & (n - 1)];
			b[cs->reg_hash & (n - 1)] = cs;
		}
	}
	free(r->clusters);
	r->clusters = b;
	r->ncluster_buckets = n;
}

static void registry__maybe_grow_hosts(struct xm_registry *r)
{
	size_t n = r->nhost_buckets * 2;
	struct xm_host_state **b;

	if (r->nhosts <= r->nhost_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < r->nhost_buckets; i++) {
		struct xm_host_state *hs = r->hosts[i], *next;
		for (; hs; hs = next) {
			next = hs->reg_next;
			hs->reg_next = b[hs->reg_hash & (n - 1)];
			b[hs->reg_hash & (n - 1)] = hs;
		}
	}
	free(r->hosts);
	r->hosts = b;
	r->nhost_buckets = n;
}

/* ---- stats registration ---- */

/* Without a stats block (unit tests of other modules) every pointer goes to one scratch
 * slot per state; nothing reads them. */
struct registry__scratch {
	uint64_t c;
	int64_t g;
	struct xm_hist h;
};

/* sc is the scratch area when the registry has no stats block. */
static void registry__cluster_stats(struct xm_registry *r, struct xm_cluster_state *cs, struct registry__scratch *sc)
{
	struct xm_cluster_stats *st = &cs->st;
	struct xm_stats *s = r->stats;
	const char *n = cs->name;

#define RC(f) st->f = s ? xm_stats_counterf(s, "cluster.{cluster=%s}." #f, n) : &sc->c
#define RG(f) st->f = s ? xm_stats_gaugef(s, "cluster.{cluster=%s}." #f, n) : &sc->g
#define RH(f) st->f = s ? xm_stats_histf(s, "cluster.{cluster=%s}." #f, n) : &sc->h
	RC(upstream_cx_total);
	RC(upstream_cx_connect_fail);
	RC(upstream_cx_connect_timeout);
	RC(upstream_cx_overflow);
	RC(upstream_cx_none_healthy);
	RC(upstream_cx_destroy_remote);
	RC(upstream_cx_destroy_local);
	RC(upstream_cx_rx_bytes_total);
	RC(upstream_cx_tx_bytes_total);
	RC(upstream_rq_total);
	RC(upstream_rq_pending_overflow);
	RC(upstream_rq_retry_overflow);
	RC(outlier_detection_ejections_total);
	RG(upstream_cx_active);
	RG(upstream_rq_active);
	RG(outlier_detection_ejections_active);
	RG(membership_total);
	RG(membership_healthy);
	RH(upstream_cx_connect_ms);
	RH(upstream_cx_length_ms);
#undef RC
#undef RG
#undef RH
}

static void registry__host_stats(struct xm_registry *r, struct xm_host_state *hs, struct registry__scratch *sc)
{
	struct xm_host_stats *st = &hs->st;
	struct xm_stats *s = r->stats;
	const char *c = hs->cluster->name, *h = hs->name;

#define HC(f) st->f = s ? xm_stats_counterf(s, "cluster.{cluster=%s}.host.{host=%s}." #f, c, h) : &sc->c
#define HG(f) st->f = s ? xm_stats_gaugef(s, "cluster.{cluster=%s}.host.{host=%s}." #f, c, h) : &sc->g
	HC(cx_total);
	HC(cx_connect_fail);
	HC(rq_total);
	HC(rq_error);
	HG(cx_active);
	HG(rq_active);
	HG(healthy);
#undef HC
#undef HG
}

/* ---- find or create ---- */

int xm__registry_cluster_get(struct xm_registry *r, const char *name, struct xm_cluster_state **out)
{
	uint64_t h = xm_hash64(name, strlen(name));
	struct xm_cluster_state *cs;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	cs = registry__cluster_find(r, name, h);
	if (cs) {
		xm_atomic_add(&cs->refcnt, 1);
		goto out;
	}
	/* The scratch area for a stats-less registry is allocated with the state. */
	cs = calloc(1, sizeof(*cs) + (r->stats ? 0 : sizeof(struct registry__scratch)));
	if (!cs || !(cs->name = strdup(name))) {
		free(cs);
		cs = NULL;
		err = -ENOMEM;
		goto out;
	}
	cs->refcnt = 1;
	cs->reg = r;
	cs->reg_hash = h;
	registry__cluster_stats(r, cs, (struct registry__scratch *)(cs + 1));
	cs->reg_next = r->clusters[h & (r->ncluster_buckets - 1)];
	r->clusters[h & (r->ncluster_buckets - 1)] = cs;
	r->nclusters++;
	registry__maybe_grow_clusters(r);
out:
	pthread_mutex_unlock(&r->lock);
	*out = cs;
	return err;
}

int xm__registry_host_get(struct xm_registry *r, struct xm_cluster_state *cs, const char *name, int healthy,
			  struct xm_host_state **out)
{
	uint64_t h = registry__host_hash(cs, name);
	struct xm_host_state *hs;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	hs = registry__host_find(r, cs, name, h);
	if (hs) {
		xm_atomic_add(&hs->refcnt, 1);
		goto out;
	}
	hs = calloc(1, sizeof(*hs) + (r->stats ? 0 : sizeof(struct registry__scratch)));
	if (!hs || !(hs->name = strdup(name))) {
		free(hs);
		hs = NULL;
		err = -ENOMEM;
		goto out;
	}
	hs->refcnt = 1;
	hs->cluster = cs;
	xm_atomic_add(&cs->refcnt, 1); /* the caller's reference keeps cs alive meanwhile */
	hs->reg_hash = h;
	hs->flags = healthy ? 0 : XM_HOST_F_UNHEALTHY;
	registry__host_stats(r, hs, (struct registry__scratch *)(hs + 1));
	xm_gauge_set(hs->st.healthy, hs->flags == 0);
	xm_gauge_add(cs->st.membership_total, 1);
	if (hs->flags == 0)
		xm_gauge_add(cs->st.membership_healthy, 1);
	xm_atomic_add(&cs->health_gen, 1);
	hs->reg_next = r->hosts[h & (r->nhost_buckets - 1)];
	r->hosts[h & (r->nhost_buckets - 1)] = hs;
	r->nhosts++;
	registry__maybe_grow_hosts(r);
out:
	pthread_mutex_unlock(&r->lock);
	*out = hs;
	return err;
}

/* ---- references ---- */

void xm_cluster_state_ref(struct xm_cluster_state *cs) { xm_atomic_add(&cs->refcnt, 1); }
void xm_host_state_ref(struct xm_host_state *hs) { xm_atomic_add(&hs->refcnt, 1); }

void xm_cluster_state_unref(struct xm_cluster_state *cs)
{
	struct xm_registry *r;
	struct xm_cluster_state **pp;

	if (!cs || registry__dec_not_last(&cs->refcnt))
		return;
	r = cs->reg;
	pthread_mutex_lock(&r->lock);
	if (__atomic_sub_fetch(&cs->refcnt, 1, __ATOMIC_ACQ_REL) != 0) {
		pthread_mutex_unlock(&r->lock); /* found again by a lookup meanwhile */
		return;
	}
	for (pp = &r->clusters[cs->reg_hash & (r->ncluster_buckets - 1)]; *pp != cs; pp = &(*pp)->reg_next)
		xm_assert(*pp);
	*pp = cs->reg_next;
	r->nclusters--;
	pthread_mutex_unlock(&r->lock);
	/* Its stats entries stay in the block: a cluster coming back continues them. */
	free(cs->name);
	free(cs);
}

void xm_host_state_unref(struct xm_host_state *hs)
{
	struct xm_cluster_state *cs;
	struct xm_registry *r;
	struct xm_host_state **pp;
	uint32_t flags;

	if (!hs || registry__dec_not_last(&hs->refcnt))
		return;
	cs = hs->cluster;
	r = cs->reg;
	pthread_mutex_lock(&r->lock);
	if (__atomic_sub_fetch(&hs->refcnt, 1, __ATOMIC_ACQ_REL) != 0) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	for (pp = &r->hosts[hs->reg_hash & (r->nhost_buckets - 1)]; *pp != hs; pp = &(*pp)->reg_next)
		xm_assert(*pp);
	*pp = hs->reg_next;
	r->nhosts--;
	pthread_mutex_unlock(&r->lock);
	/* Nobody else can see hs now: take its contribution out of the cluster's numbers. */
	flags = xm_atomic_load(&hs->flags);
	xm_gauge_add(cs->st.membership_total, -1);
	if (flags == 0)
		xm_gauge_add(cs->st.membership_healthy, -1);
	if (flags & XM_HOST_F_EJECTED) {
		xm_atomic_sub(&cs->ejected_hosts, 1);
		xm_gauge_add(cs->st.outlier_detection_ejections_active, -1);
	}
	xm_gauge_set(hs->st.healthy, 0);
	xm_atomic_add(&cs->health_gen, 1);
	free(hs->name);
	free(hs);
	xm_cluster_state_unref(cs);
}

/* ---- health ---- */

uint32_t xm__host_flags_update(struct xm_host_state *hs, uint32_t set, uint32_t clear)
{
	uint32_t old = xm_atomic_load(&hs->flags), nflags;

	do {
		nflags = (old | set) & ~clear;
		if (nflags == old)
			return old;
		/* Release: an ejector stores ejected_until_ms before publishing the flag. */
	} while (!__atomic_compare_exchange_n(&hs->flags, &old, nflags, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	if ((old == 0) != (nflags == 0)) {
		xm_gauge_add(hs->cluster->st.membership_healthy, nflags == 0 ? 1 : -1);
		xm_gauge_set(hs->st.healthy, nflags == 0);
	}
	xm_atomic_add(&hs->cluster->health_gen, 1);
	return old;
}

int xm_registry_set_health(struct xm_registry *r, const char *cluster, const char *host, int healthy)
{
	char canon[128];
	struct xm_cluster_state *cs;
	struct xm_host_state *hs = NULL;
	int err = -ENOENT;

	/* Accept any spelling of the address ("::1" / "0::1"): states are keyed canonically. */
	if (xm_addr_canonical(host, canon, sizeof(canon)) == 0)
		host = canon;
	pthread_mutex_lock(&r->lock);
	cs = registry__cluster_find(r, cluster, xm_hash64(cluster, strlen(cluster)));
	if (cs)
		hs = registry__host_find(r, cs, host, registry__host_hash(cs, host));
	if (hs) {
		xm__host_flags_update(hs, healthy ? 0 : XM_HOST_F_UNHEALTHY, healthy ? XM_HOST_F_UNHEALTHY : 0);
		err = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}
