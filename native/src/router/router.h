/* The L7 router every L7 filter shares: a route's action (cluster or weighted clusters, subsets, timeout, retries, LB key), the host choice with its breakers and references, and per-worker upstream pools. */
#ifndef XM_ROUTER_H
#define XM_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "upstream/cluster.h"

/*
 * A filter matches a request with its own protocol's matchers (x_proxy: service, method,
 * metas; HTTP: authority, path, headers), then everything after the match is here and is
 * the same for every protocol: which cluster (weighted, subset views built by the table),
 * which host (the cluster's LB with the route's hash key, avoiding the host a retry left),
 * the request breaker, the retry budget, the references a request in flight holds, and the
 * per-worker pool of upstream connections to that host. Only the pool's connections are
 * the protocol's own (multiplexed by id, keep-alive, h2 streams): the pool holds them as
 * opaque pointers and asks the filter to open one.
 */

struct xm_retry_policy {
	uint32_t num_retries;       /* 0 = none */
	uint8_t on_connect_failure; /* the request never reached the upstream: always safe */
	uint8_t on_reset;           /* lost in flight: only set for idempotent routes */
};

enum xm_hash_kind {
	XM_HASH_NONE = 0,           /* random per request */
	XM_HASH_KEY,                /* a request key's value (an RPC meta, later an HTTP header); absent = random */
	XM_HASH_SOURCE_IP,          /* the client's address: one client sticks to one host */
};

struct xm_route_action {
	struct xm_cluster *cluster;      /* or NULL when weighted */
	struct xm_cluster **wclusters;
	uint32_t *wcum;
	uint32_t nwclusters;
	uint32_t timeout_ms;             /* 0 = the filter's default */
	struct xm_retry_policy retry;
	enum xm_hash_kind hash_kind;
	char *hash_key;
	uint16_t hash_key_len;
};

/* Cluster of a weighted entry, or a subset view: resolved by the caller's table builder. */
typedef int (*xm_cluster_resolve_fn)(void *ctx, const char *name, struct xm_cluster **out, char *err, size_t errlen);

/* Weighted clusters (names[i], weights[i] >= 1) into a->wclusters/wcum. */
int xm_route_action_weighted(struct xm_route_action *a, const char *const *names, const uint32_t *weights, size_t n,
			     xm_cluster_resolve_fn resolve, void *ctx, char *err, size_t errlen);
void xm_route_action_free(struct xm_route_action *a);

/* The cluster of a request on action a (a weighted pick when it has several). */
struct xm_cluster *xm_route_cluster(struct xm_loop *l, const struct xm_route_action *a);

/* The LB key of a request on action a: key_value (may be NULL: absent) for XM_HASH_KEY,
 * peer_hash for XM_HASH_SOURCE_IP, else random. */
uint64_t xm_route_hash(struct xm_loop *l, const struct xm_route_action *a, const char *key_value, size_t vlen,
		       uint64_t peer_hash);

/* What a request in flight holds on its upstream: a slot of the cluster's request breaker
 * (and of its retry budget while retrying), references on the cluster and host states and
 * the in-flight gauges. */
struct xm_attempt {
	struct xm_cluster_state *cs;
	struct xm_host_state *hs;
	uint8_t retry_slot;
};
/* Take a: the caller acquired c's request breaker (and the retry budget when retry); a now
 * holds them with references on c's and h's states. */
void xm_attempt_take(struct xm_attempt *a, struct xm_cluster *c, const struct xm_host *h, int retry);
/* Let go of everything take held (idempotent). */
void xm_attempt_drop(struct xm_attempt *a);
/* The host of c whose state is hs, or NULL (the host a retry should avoid). */
const struct xm_host *xm_cluster_host_of(const struct xm_cluster *c, const struct xm_host_state *hs);

/* ---- per-worker upstream pools, keyed by (host state, protocol tag) ---- */

#define XM_POOL_MAX 16              /* connections per host and tag per worker */

struct xm_hostpool {
	struct xm_hostpool *next;
	struct xm_host_state *hs;        /* reference held */
	const void *tag;                 /* the protocol (a codec): connections speak one */
	void *conns[XM_POOL_MAX];
	uint32_t n, rr;
};

struct xm_pools;

/* A new connection for pool hp to host h of c, or NULL (the filter counts its failure). It
 * owns a slot of c's connection breaker from the call on: released when it fails here or,
 * later, when the connection closes. */
typedef void *(*xm_pool_open_fn)(void *ctx, struct xm_hostpool *hp, struct xm_cluster *c, const struct xm_host *h);

int xm_pools_new(struct xm_pools **out);
/* Free the index (every connection was closed first). */
void xm_pools_free(struct xm_pools *p);
/* A connection to h for tag: round robin over up to want connections, a new one (through
 * open, under c's connection breaker) while there are fewer. NULL: none could be had. */
void *xm_pool_get(struct xm_pools *p, struct xm_cluster *c, const struct xm_host *h, const void *tag, uint32_t want,
		  xm_pool_open_fn open, void *ctx);
/* A connection leaves its pool (closed). */
void xm_pool_remove(struct xm_hostpool *hp, void *conn);

#endif
