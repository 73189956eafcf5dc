/* The immutable routing table built from one snapshot: listeners with their filters, and clusters. */
#ifndef XM_TABLE_H
#define XM_TABLE_H

#include <stdint.h>

#include "upstream/cluster.h"
#include "net/conn.h"
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
	XM_MATCH_REGEX,       /* whole-string PCRE2 match */
};

struct xm_str_match {
	enum xm_str_match_kind kind;
	char *s;
	uint16_t len;
	void *re;             /* XM_MATCH_REGEX: compiled pcre2_code (JIT when available) */
};

/* Compile pattern into m (kind XM_MATCH_REGEX). 0, or -EINVAL with the reason in err. */
int xm_str_match_regex(struct xm_str_match *m, const char *pattern, char *err, size_t errlen);
void xm_str_match_free(struct xm_str_match *m);
/* 1 if s (len bytes, not NUL-terminated) matches. */
int xm_str_match(const struct xm_str_match *m, const char *s, size_t len);

struct xm_xmeta_match {
	char *name;
	uint16_t name_len;
	struct xm_str_match m;
};

/* Retries of an x_proxy route. A request is re-routed from its own bytes (held by reference,
 * never copied) and goes to another host when the cluster has one. */
struct xm_xretry {
	uint32_t num_retries;       /* 0 = none */
	uint8_t on_connect_failure; /* the request never reached the upstream: always safe */
	uint8_t on_reset;           /* lost in flight: only set for idempotent routes */
};

/* One x_proxy route: method and meta matchers, then a cluster (or weighted clusters).
 * With metadata_match the clusters are subset views (table-owned, see xm_table.subsets). */
struct xm_xroute {
	struct xm_str_match method;
	struct xm_xmeta_match *metas;
	uint32_t nmetas;
	struct xm_cluster *cluster;
	struct xm_cluster **wclusters;
	uint32_t *wcum;
	uint32_t nwclusters;
	uint32_t timeout_ms;
	struct xm_xretry retry;
	/* LB key for ring hash / maglev: none (random per request), a meta's value, or the
	 * client's address. */
	enum { XM_XHASH_NONE = 0, XM_XHASH_META, XM_XHASH_SOURCE_IP } hash_kind;
	char *hash_meta;
	uint16_t hash_meta_len;
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

/* Codecs one x_proxy listener may detect. */
#define XM_XPROXY_MAX_CODECS 8

struct xm_xproxy_cfg {
	/* The connection's codec when it is known at accept (one protocol, no fallback: the
	 * fast path); NULL when every connection is detected from its first bytes. */
	const struct xm_codec *codec;
	const struct xm_codec *codecs[XM_XPROXY_MAX_CODECS]; /* detection order = config order */
	struct xm_xproto_stats *pst[XM_XPROXY_MAX_CODECS];   /* persistent stats per codec */
	uint32_t ncodecs;
	uint32_t detect_timeout_ms;
	uint8_t fallback;                /* 1: the listener's tcp (xm_listener_cfg.tcp) takes unknown protocols */
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
	struct xm_tcp_proxy_cfg tcp;     /* tcp_proxy, or an x_proxy's fallback_tcp_proxy (x.fallback) */
	struct xm_xproxy_cfg x;
};

/* A cluster restricted to the endpoints whose metadata has every pair of key (a canonical
 * "k=v\n..." string of the sorted pairs); shares the base cluster's persistent state. */
struct xm_table_subset {
	char *base;
	char *key;
	struct xm_cluster *c;
};

/* Per-worker count of sessions still using this table (connect in progress), padded. */
struct xm_table_wref {
	int64_t n;
	char pad[XM_CACHELINE - sizeof(int64_t)];
};

struct xm_table {
	uint64_t version;
	uint64_t gen;                    /* unique per data plane (1, 2, ...): a freed table's address may come back, its gen never does */
	struct xm_listener_cfg *listeners;
	uint32_t nlisteners;
	struct xm_cluster **clusters;    /* sorted by name */
	uint32_t nclusters;
	struct xm_table_subset *subsets; /* subset views built for routes' metadata_match */
	uint32_t nsubsets;
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
