/* The immutable routing table built from one snapshot: listeners with their listener filters and filter chains, and clusters. */
#ifndef XM_TABLE_H
#define XM_TABLE_H

#include <netinet/in.h>
#include <stdint.h>

#include "core/epoch.h"
#include "filters/filter.h"
#include "net/sockopt.h"
#include "upstream/cluster.h"
#include "xm.h"

struct xm_listener;

/* An address range of FilterChainMatch (prefix_ranges, source_prefix_ranges). */
struct xm_cidr {
	sa_family_t family;
	uint8_t len;                     /* prefix length in bits */
	uint8_t addr[16];
};

/* FilterChainMatch, parsed (empty lists and 0 = any). */
struct xm_chain_match {
	uint16_t dport;
	struct xm_cidr *dst;
	uint32_t ndst;
	char **server_names;
	uint32_t nserver_names;
	char *transport;                 /* NULL = any */
	char **app_protos;
	uint32_t napp_protos;
	struct xm_cidr *src;
	uint32_t nsrc;
	uint16_t *sports;
	uint32_t nsports;
};

struct xm_chain_filter {
	const struct xm_filter_ops *ops;
	void *cfg;
};

struct xm_chain {
	char *name;
	uint64_t key;                    /* hash of name: what a connection keeps (xm_fconn.chain_key) */
	struct xm_chain_match m;
	struct xm_chain_filter *filters; /* the last is terminal */
	uint32_t nfilters;
};

struct xm_lfilter {
	const struct xm_lfilter_ops *ops;
	void *cfg;
};

struct xm_listener_cfg {
	char *name;
	struct xm_listener *l;           /* persistent socket; reference held */
	uint32_t buffer_limit;
	struct xm_keepalive keepalive;   /* accepted sockets */
	struct xm_lfilter *lfilters;
	uint32_t nlfilters;
	uint8_t need_data;               /* a listener filter reads the first bytes */
	uint8_t need_local;              /* a chain matches on the destination: getsockname() at accept */
	struct xm_chain *chains;
	uint32_t nchains;
	struct xm_chain *dflt;           /* default_filter_chain, or NULL */
};

/* A cluster restricted to the endpoints whose metadata has every pair of key (a canonical
 * "k=v\n..." string of the sorted pairs); shares the base cluster's persistent state. */
struct xm_table_subset {
	char *base;
	char *key;
	struct xm_cluster *c;
};

struct xm_table {
	struct xm_epoch epoch;           /* gen + per-worker references of sessions still using it */
	uint64_t version;
	uint64_t max_downstream_cx;      /* downstream connections of all listeners together; 0 = no limit */
	struct xm_listener_cfg *listeners;
	uint32_t nlisteners;
	struct xm_cluster **clusters;    /* sorted by name */
	uint32_t nclusters;
	struct xm_table_subset *subsets; /* subset views built for routes' metadata_match */
	uint32_t nsubsets;
	struct xm_table *retired_next;   /* dp's list of tables waiting to be freed */
};

/* What building tables needs from the data plane and what outlives a table: owned by the
 * data plane, used under its lock (builds are serialised). */
struct xm_registry;
struct xm_keep;
struct xm_tables {
	unsigned nworkers;
	struct xm_stats *stats;
	struct xm_registry *reg;         /* persistent cluster and host states */
	struct xm_events *events;
	struct xm_keep *keep;            /* kept objects: stats groups, log sinks, codecs */
	struct xm_listener *listeners;   /* every open listener socket (shared by tables) */
	uint64_t gen;                    /* last table gen handed out */
	uint64_t listener_ids;           /* last listener id handed out */
};

/* Decode an encoded snapshot and build its table. On failure *out is NULL, every resource
 * taken is released and err names the culprit (listener, cluster, field). */
int xm_table_build(struct xm_tables *ts, const void *buf, size_t len, struct xm_table **out, char *err, size_t errlen);
/* Free a table no worker uses any more (its listener sockets close with their last table). */
void xm_table_free(struct xm_tables *ts, struct xm_table *t);

/* Cluster by name (binary search), or NULL. */
struct xm_cluster *xm_table_cluster(const struct xm_table *t, const char *name);
/* Listener config in t that uses socket l, or NULL. */
const struct xm_listener_cfg *xm_table_listener_for(const struct xm_table *t, const struct xm_listener *l);
/* Listener config in t whose socket has id, or NULL. */
const struct xm_listener_cfg *xm_table_listener_by_id(const struct xm_table *t, uint64_t id);

/* The chain of lc that takes a connection with facts f (Envoy's FilterChainMatch order and
 * specificity), its default chain, or NULL (config/chain_match.c). */
const struct xm_chain *xm_chain_select(const struct xm_listener_cfg *lc, const struct xm_conn_facts *f);
/* The chain of lc with key, or NULL. */
const struct xm_chain *xm_chain_by_key(const struct xm_listener_cfg *lc, uint64_t key);

#endif
