/* Clusters and hosts: immutable per-snapshot views over persistent, atomically shared state. */
#ifndef XM_CLUSTER_H
#define XM_CLUSTER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/sockopt.h"
#include "stats/hist.h"
#include "stats/stats.h"
#include "net/conn.h"
#include "upstream/hash.h"
#include "xm.h"

/*
 * Two lifetimes meet here:
 *  - struct xm_cluster / struct xm_host are built from a snapshot by the control side and
 *    never change; they are freed with the table that owns them (after every worker has
 *    passed an epoch). Per-worker mutable LB state hangs off the cluster, one cache-line
 *    padded slot per worker, written only by that worker.
 *  - struct xm_cluster_state / struct xm_host_state persist across snapshots (keyed by
 *    cluster name, and by cluster name + "ip:port"): circuit-breaker counters, health,
 *    outlier-detection state and stats pointers. They are shared by all workers and
 *    updated with relaxed atomics. A snapshot and any live session hold a reference.
 */

/* Numbering matches xmesh.dataplane.v1.Cluster.LbPolicy. */
enum xm_lb_policy {
	XM_LB_ROUND_ROBIN = 0,
	XM_LB_RANDOM = 1,
	XM_LB_WEIGHTED_ROUND_ROBIN = 2,
	XM_LB_LEAST_REQUEST = 3,
	XM_LB_RING_HASH = 4,
	XM_LB_MAGLEV = 5,
};

/* What a session tells the cluster about a host, for outlier detection and stats. */
enum xm_host_result {
	XM_HOST_CONNECT_OK = 0, /* counted; does not end a failure streak (a reset may follow) */
	XM_HOST_CONNECT_FAIL,   /* refused / unreachable / connect timeout: a gateway failure */
	XM_HOST_RESET,          /* reset mid-stream: a gateway failure */
	XM_HOST_RESPONSE_OK,    /* L7: a successful response (resets 5xx streak) */
	XM_HOST_RESPONSE_ERROR, /* L7: a 5xx-equivalent response */
	XM_HOST_SESSION_OK,     /* L4: a connection that ended without a reset (ends the gateway streak) */
};

#define XM_HOST_F_UNHEALTHY 0x1u /* failed active health check / set by the control core */
#define XM_HOST_F_EJECTED 0x2u   /* ejected by outlier detection until ejected_until_ms */

struct xm_kv {
	char *key;
	char *value;
};

/* ---- configuration (plain C; snapshot.c fills it from the protobuf message) ---- */

struct xm_endpoint_cfg {
	const char *address; /* numeric IPv4/IPv6 literal */
	uint16_t port;
	uint32_t weight;     /* >= 1 */
	uint32_t priority;
	int healthy;         /* initial health for a host seen for the first time */
	uint32_t nmeta;
	const char *const *meta_keys;
	const char *const *meta_values;
};

struct xm_cluster_cfg {
	const char *name;
	enum xm_lb_policy lb_policy;
	uint32_t connect_timeout_ms;          /* 0 -> 5000 */
	const struct xm_endpoint_cfg *endpoints;
	uint32_t nendpoints;
	uint32_t max_connections;             /* 0 -> 1024 */
	uint32_t max_pending_requests;        /* 0 -> 1024 */
	uint32_t max_requests;                /* 0 -> 1024 */
	uint32_t max_retries;                 /* 0 -> 3 */
	int outlier_enabled;
	uint32_t od_consecutive_gateway_failure; /* 0 -> 5 */
	uint32_t od_consecutive_5xx;          /* 0 -> 5 */
	uint32_t od_base_ejection_time_ms;    /* 0 -> 30000 */
	uint32_t od_max_ejection_time_ms;     /* 0 -> 300000 */
	uint32_t od_max_ejection_percent;     /* 0 -> 10 */
	uint32_t ring_hash_min_size;          /* 0 -> 1024 */
	uint32_t maglev_table_size;           /* 0 -> 65537; must be prime */
	uint32_t per_connection_buffer_limit; /* 0 -> 1 MiB */
	uint32_t least_request_choices;       /* 0 -> 2 */
	int subset;                           /* a subset view (route metadata_match) of the cluster of the same
					       * name: shares its state and leaves its persistent settings alone */
};

/* ---- persistent state ---- */

struct xm_cluster_stats {
	uint64_t *upstream_cx_total;
	uint64_t *upstream_cx_connect_fail;
	uint64_t *upstream_cx_connect_timeout;
	uint64_t *upstream_cx_overflow;       /* max_connections breaker tripped */
	uint64_t *upstream_cx_none_healthy;   /* no host could be picked */
	uint64_t *upstream_cx_destroy_remote; /* upstream closed/reset first */
	uint64_t *upstream_cx_destroy_local;
	uint64_t *upstream_cx_rx_bytes_total;
	uint64_t *upstream_cx_tx_bytes_total;
	uint64_t *upstream_rq_total;
	uint64_t *upstream_rq_pending_overflow;
	uint64_t *upstream_rq_retry_overflow;
	uint64_t *outlier_detection_ejections_total;
	int64_t *upstream_cx_active;
	int64_t *upstream_rq_active;
	int64_t *outlier_detection_ejections_active;
	int64_t *membership_total;
	int64_t *membership_healthy;
	struct xm_hist *upstream_cx_connect_ms;   /* microseconds despite the Envoy name */
	struct xm_hist *upstream_cx_length_ms;    /* microseconds */
};

/* Outlier detection settings, defaults applied. A copy lives in the persistent cluster state
 * so that reports arriving after the snapshot that started a session (a reset long after
 * connect, an x_proxy response) are judged by the current settings. */
struct xm_od_params {
	uint32_t enabled;
	uint32_t consecutive_gateway_failure, consecutive_5xx;
	uint32_t base_ejection_time_ms, max_ejection_time_ms, max_ejection_percent;
	uint32_t nhosts;                  /* for max_ejection_percent */
};

struct xm_cluster_state {
	char *name;
	int refcnt;                /* atomic */
	/* circuit breakers: open counts, atomics */
	int32_t cx_open;
	int32_t rq_open;
	int32_t pending_open;
	int32_t retries_open;
	int32_t ejected_hosts;     /* atomic: hosts currently ejected (for max_ejection_percent) */
	struct xm_cluster_stats st;
	/* private to cluster.c / registry.c / lb.c */
	struct xm_registry *reg;   /* owner: unref at zero removes the state under its mutex */
	struct xm_cluster_state *reg_next; /* registry hash chain (registry mutex) */
	uint64_t reg_hash;
	uint64_t health_gen;       /* atomic: bumped on every host availability change (LB panic cache) */
	struct xm_od_params od;    /* each field atomic: written by the latest (non-subset) build */
};

struct xm_host_stats {
	uint64_t *cx_total;
	uint64_t *cx_connect_fail;
	uint64_t *rq_total;
	uint64_t *rq_error;
	int64_t *cx_active;
	int64_t *rq_active;
	int64_t *healthy;          /* 1/0 gauge */
};

struct xm_host_state {
	char *name;                /* "ip:port" or "[v6]:port" */
	struct xm_cluster_state *cluster; /* reference held */
	int refcnt;                /* atomic */
	uint32_t flags;            /* atomic: XM_HOST_F_* */
	uint64_t ejected_until_ms; /* atomic; valid while XM_HOST_F_EJECTED */
	uint32_t consecutive_gateway_fail; /* atomic */
	uint32_t consecutive_5xx;  /* atomic */
	uint32_t ejections;        /* atomic: consecutive ejections, for backoff */
	int32_t active_rq;         /* atomic: in-flight requests / connections (least request) */
	struct xm_host_stats st;
	/* private to cluster.c / registry.c */
	struct xm_host_state *reg_next; /* registry hash chain (registry mutex) */
	uint64_t reg_hash;
	uint64_t unejected_ms;     /* atomic: when the last ejection was lifted (backoff decay) */
};

/* Keeps the persistent states by key. Control side only (mutex inside). */
struct xm_registry;
/* events (may be NULL) receives host ejected / unejected events. */
int xm_registry_new(struct xm_registry **out, struct xm_stats *stats, struct xm_events *events);
void xm_registry_free(struct xm_registry *r); /* all states must be released first */
/* Set host health from the control core (active health checks). Returns 0 or -ENOENT. */
int xm_registry_set_health(struct xm_registry *r, const char *cluster, const char *host, int healthy);

/* ---- immutable per-snapshot view ---- */

struct xm_host {
	struct xm_host_state *st;  /* reference held by the owning cluster */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t weight;
	uint32_t priority;
	uint32_t nmeta;
	struct xm_kv *meta;
};

struct xm_lb;                  /* policy-specific immutable data (ring, maglev table, ...) */
struct xm_lb_worker;           /* policy-specific per-worker mutable data */

struct xm_cluster {
	char *name;
	struct xm_cluster_state *st; /* reference held */
	enum xm_lb_policy lb_policy;
	uint32_t connect_timeout_ms;
	uint32_t buffer_limit;
	uint32_t max_connections, max_pending_requests, max_requests, max_retries;
	int outlier_enabled;
	uint32_t od_consecutive_gateway_failure, od_consecutive_5xx;
	uint32_t od_base_ejection_time_ms, od_max_ejection_time_ms, od_max_ejection_percent;
	uint32_t least_request_choices;
	struct xm_keepalive keepalive;   /* upstream sockets (set by the table builder) */
	struct xm_sockopts *sockopts;    /* upstream sockets, before connect (owned; NULL = none) */
	struct xm_host *hosts;
	uint32_t nhosts;
	struct xm_lb *lb;
	unsigned nworkers;
	struct xm_lb_worker *lbw;  /* nworkers slots, each cache-line aligned */
};

/* Build an immutable cluster from cfg, taking (or creating) persistent states from reg.
 * nworkers sizes the per-worker LB state. Returns 0 or -errno (-EINVAL for a bad
 * address: validation belongs to the control core, so this is a defensive check). */
int xm_cluster_build(struct xm_cluster **out, const struct xm_cluster_cfg *cfg, struct xm_registry *reg,
		     unsigned nworkers);
/* Free the view and drop its references. */
void xm_cluster_free(struct xm_cluster *c);

/* ---- data path (any worker) ---- */

/* Pick a host with the cluster's policy, skipping unavailable (unhealthy / ejected) hosts.
 * If fewer than half the hosts are available the cluster is in panic and picks among all
 * hosts (Envoy's default panic threshold). hash is used by ring hash / maglev only.
 * exclude (may be NULL) is avoided if any other host is available (retries).
 * Returns NULL only if the cluster has no hosts. */
const struct xm_host *xm_lb_pick(struct xm_cluster *c, unsigned worker, uint64_t hash,
				 const struct xm_host *exclude, uint64_t now_ms);

/* 1 if the host may receive traffic now (healthy and not ejected). An expired ejection
 * is lifted here (posting XM_EV_HOST_UNEJECTED once). */
int xm_host_available(const struct xm_host *h, uint64_t now_ms);

/* Feed outlier detection and host stats (cx_total / cx_connect_fail on connect results,
 * rq_total / rq_error on responses); cluster-level counters are the caller's. cfg may be
 * NULL: the settings of the latest snapshot (kept in cs) apply. */
void xm_host_report(struct xm_cluster_state *cs, struct xm_host_state *hs, const struct xm_cluster *cfg,
		    enum xm_host_result r, uint64_t now_ms);

/* Circuit breakers: 0 on success, -EBUSY when the limit is reached (overflow counted). */
int xm_cluster_cx_acquire(const struct xm_cluster *c);
void xm_cluster_cx_release(struct xm_cluster_state *cs);
int xm_cluster_rq_acquire(const struct xm_cluster *c);
void xm_cluster_rq_release(struct xm_cluster_state *cs);
int xm_cluster_pending_acquire(const struct xm_cluster *c);
void xm_cluster_pending_release(struct xm_cluster_state *cs);
int xm_cluster_retry_acquire(const struct xm_cluster *c);
void xm_cluster_retry_release(struct xm_cluster_state *cs);

/* References for sessions that outlive the snapshot they started on. */
void xm_host_state_ref(struct xm_host_state *hs);
void xm_host_state_unref(struct xm_host_state *hs);   /* frees at zero (drops cluster ref) */
void xm_cluster_state_ref(struct xm_cluster_state *cs);
void xm_cluster_state_unref(struct xm_cluster_state *cs);


#endif
