/* The immutable routing table built from one snapshot: listeners with their filters, and clusters. */
#ifndef XM_TABLE_H
#define XM_TABLE_H

#include <stdint.h>

#include "cluster.h"
#include "conn.h"
#include "xm.h"

struct xm_listener;
struct xm_tcp_stats;
struct xm_alog;

enum xm_filter_kind {
	XM_FILTER_TCP_PROXY = 1,
	XM_FILTER_X_PROXY = 2,
};

struct xm_codec;
struct xm_xproxy_stats;

enum xm_str_match_kind {
	XM_MATCH_ANY = 0,
	XM_MATCH_EXACT,
	XM_MATCH_PREFIX,
	XM_MATCH_SUFFIX,      /* domains only: "*suffix" */
	XM_MATCH_PRESENT,
};

struct xm_str_match {
	enum xm_str_match_kind kind;
	char *s;
	uint16_t len;
};

struct xm_xmeta_match {
	char *name;
	uint16_t name_len;
	struct xm_str_match m;
};

/* One x_proxy route: method and meta matchers, then a cluster (or weighted clusters). */
struct xm_xroute {
	struct xm_str_match method;
	struct xm_xmeta_match *metas;
	uint32_t nmetas;
	struct xm_cluster *cluster;
	struct xm_cluster **wclusters;
	uint32_t *wcum;
	uint32_t nwclusters;
	uint32_t timeout_ms;
};

struct xm_xvhost_stats;

struct xm_xvhost {
	char *name;
	struct xm_xvhost_stats *st;      /* persistent (dp lifetime) */
	struct xm_str_match *domains;
	uint32_t ndomains;
	struct xm_xroute *routes;
	uint32_t nroutes;
};

struct xm_xproxy_cfg {
	const struct xm_codec *codec;
	const struct xm_codec **descs;   /* the filter's descriptor codecs (interned in the dp, not owned) */
	uint32_t ndescs;
	struct xm_xvhost *vhosts;
	uint32_t nvhosts;
	uint32_t max_frame;
	uint32_t conns_per_host;
	uint32_t timeout_ms;
	struct xm_xproxy_stats *st;      /* persistent (dp lifetime) */
};

enum xm_hash_key {
	XM_HASH_SOURCE_IP = 0,
	XM_HASH_SOURCE_ADDRESS_PORT = 1,
};

struct xm_tcp_proxy_cfg {
	struct xm_cluster *cluster;      /* single cluster, or NULL when weighted */
	struct xm_cluster **wclusters;   /* weighted clusters */
	uint32_t *wcum;                  /* cumulative weights, same length */
	uint32_t nwclusters;
	uint32_t idle_timeout_ms;
	uint32_t max_connect_attempts;
	enum xm_hash_key hash_key;
	struct xm_tcp_stats *st;         /* persistent (dp lifetime) */
	struct xm_alog *alog;            /* NULL = no access log; reference held */
};

struct xm_listener_cfg {
	char *name;
	struct xm_listener *l;           /* persistent socket; reference held */
	uint32_t buffer_limit;
	struct xm_keepalive keepalive;   /* accepted sockets */
	enum xm_filter_kind filter;
	struct xm_tcp_proxy_cfg tcp;
	struct xm_xproxy_cfg x;
};

/* Per-worker count of sessions still using this table (connect in progress), padded. */
struct xm_table_wref {
	int64_t n;
	char pad[XM_CACHELINE - sizeof(int64_t)];
};

struct xm_table {
	uint64_t version;
	struct xm_listener_cfg *listeners;
	uint32_t nlisteners;
	struct xm_cluster **clusters;    /* sorted by name */
	uint32_t nclusters;
	unsigned nworkers;
	struct xm_table_wref *wrefs;
	struct xm_table *retired_next;   /* dp's list of tables waiting to be freed */
};

/* Index of the weighted entry for r in [0, wcum[n-1]) (binary search over cumulative
 * weights): tcp_proxy weighted clusters and x_proxy weighted routes. */
static inline uint32_t xm_pick_weighted(const uint32_t *wcum, uint32_t n, uint32_t r)
{
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (r < wcum[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Cluster by name (binary search), or NULL. */
struct xm_cluster *xm_table_cluster(const struct xm_table *t, const char *name);
/* Listener config in t that uses socket l, or NULL. */
const struct xm_listener_cfg *xm_table_listener_for(const struct xm_table *t, const struct xm_listener *l);

static inline void xm_table_ref(struct xm_table *t, unsigned worker)
{
	xm_atomic_store(&t->wrefs[worker].n, t->wrefs[worker].n + 1);
}
static inline void xm_table_unref(struct xm_table *t, unsigned worker)
{
	xm_atomic_store(&t->wrefs[worker].n, t->wrefs[worker].n - 1);
}

#endif
