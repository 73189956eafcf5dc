/* The x_proxy network filter: RPC frames of any codec routed by service/method/metas and multiplexed onto pooled upstream connections. */
#ifndef XM_X_PROXY_H
#define XM_X_PROXY_H

#include <pthread.h>
#include <stdint.h>

#include "filters/filter.h"
#include "protocol/codec.h"
#include "router/match.h"
#include "router/router.h"
#include "stats/hist.h"

struct xm_keep;
struct xm_stats;

extern const struct xm_filter_ops xm_x_proxy_filter;

#define XM_XSTATUS__COUNT 7 /* enum xm_status values, for responses counted by status */
const char *xm_xstatus_name(enum xm_status st); /* "ok", "no_route", ... */

/* ---- config ---- */

struct xm_xmeta_match {
	char *name;
	uint16_t name_len;
	struct xm_str_match m;
};

/* One x_proxy route: method and meta matchers, then the shared router's action. With
 * metadata_match the action's clusters are subset views (table-owned). */
struct xm_xroute {
	struct xm_str_match method;
	struct xm_xmeta_match *metas;
	uint32_t nmetas;
	struct xm_route_action action;   /* hash key: a meta's name */
};

struct xm_xvhost_stats;

struct xm_xvhost {
	char *name;
	struct xm_xvhost_stats *st;      /* kept */
	struct xm_str_match *domains;    /* service names */
	uint32_t ndomains;
	struct xm_xroute *routes;
	uint32_t nroutes;
};

/* Codecs one x_proxy filter may speak (one per connection). */
#define XM_XPROXY_MAX_CODECS 8

struct xm_xproto_stats;
struct xm_xproxy_stats;

struct xp_cfg {
	const struct xm_codec *codecs[XM_XPROXY_MAX_CODECS]; /* config order; interned, never freed before the dp */
	struct xm_xproto_stats *pst[XM_XPROXY_MAX_CODECS];   /* kept, per codec */
	uint32_t ncodecs;
	struct xm_xvhost *vhosts;
	uint32_t nvhosts;
	uint32_t max_frame;
	uint32_t conns_per_host;
	uint32_t timeout_ms;
	uint32_t idle_timeout_ms;        /* 0 = never */
	uint32_t frame_timeout_ms;       /* 0 = no limit */
	uint32_t max_duration_ms;        /* 0 = no limit */
	struct xm_xproxy_stats *st;      /* kept */
};

/* Route a request: first virtual host whose domains match the service, then the first
 * route whose matchers all match. NULL = no route; *vhost (if non-NULL) gets the host. */
const struct xm_xroute *xm_xroute_find(const struct xp_cfg *cfg, const struct xm_route_info *ri,
				       const struct xm_xvhost **vhost);

/* ---- stats, kept per stat_prefix / virtual host / method / protocol ---- */

struct xm_xproxy_stats {
	uint64_t *downstream_cx_total;
	uint64_t *downstream_rq_total;        /* requests and oneways from clients */
	uint64_t *downstream_rq_oneway;
	uint64_t *downstream_rq_heartbeat;    /* answered by the sidecar itself */
	uint64_t *downstream_rq_no_route;
	uint64_t *downstream_rq_timeout;
	uint64_t *downstream_rq_overflow;     /* circuit breaker */
	uint64_t *downstream_rq_unavailable;  /* no host / upstream connection lost */
	uint64_t *upstream_rs_total;
	uint64_t *upstream_rs_error;          /* responses mapped to a server error */
	uint64_t *upstream_rs_dropped;        /* late responses (after a timeout) or unknown ids */
	uint64_t *upstream_rq_retry;          /* requests sent again (retry_policy) */
	uint64_t *downstream_rs[XM_XSTATUS__COUNT]; /* responses to clients by status (forwarded or generated) */
	uint64_t *bytes_copied;               /* payload bytes copied: stays 0 */
	uint64_t *decode_error[XM_CODEC_E__COUNT];          /* from clients */
	uint64_t *upstream_decode_error[XM_CODEC_E__COUNT]; /* from upstream servers */
	uint64_t *downstream_cx_idle_timeout;   /* closed: nothing in flight and no bytes for idle_timeout */
	uint64_t *downstream_cx_frame_timeout;  /* closed: a frame began and did not arrive whole in time */
	uint64_t *downstream_cx_max_duration_reached;
	uint64_t *downstream_cx_drain_close;   /* closed because its listener drained */
	uint64_t *downstream_cx_overload_reset; /* reset under memory pressure: it held a large unfinished frame */
	int64_t *downstream_cx_active;
	int64_t *downstream_rq_active;
	struct xm_hist *rq_time_ms;           /* request -> response as seen by the sidecar; values in us like every histogram */
};

/* Per method of a virtual host, created on the first request that names it. */
struct xm_xmethod_stats {
	char *name;
	uint16_t len;
	uint64_t *rq_total;
	uint64_t *rs[XM_XSTATUS__COUNT];      /* responses to clients by status */
	struct xm_hist *rq_time_ms;           /* values in us */
};

/* Methods are counted one by one up to this many per virtual host (names come from the
 * wire, so the set must be bounded); the rest share the method "_other". */
#define XM_XMETHODS_MAX 64
#define XM_XMETHOD_SLOTS 128

struct xm_xvhost_stats {
	char *prefix, *vhost;
	struct xm_stats *stats;
	/* Method table: open addressing, slots published with release stores and read
	 * lock-free; inserts (once per method) take mlock. */
	struct xm_xmethod_stats *mslots[XM_XMETHOD_SLOTS];
	uint32_t nmethods;
	struct xm_xmethod_stats *mother;
	pthread_mutex_t mlock;
	uint64_t *rq_total;
	uint64_t *rs_error;
	uint64_t *rq_timeout;
	uint64_t *rq_unavailable;
	int64_t *rq_active;
	struct xm_hist *rq_time_ms;           /* values in us */
};

/* Per protocol of an x_proxy stat_prefix (several on a detecting listener). */
struct xm_xproto_stats {
	uint64_t *downstream_cx_protocol;     /* connections of this protocol */
	uint64_t *rq_total;
	uint64_t *rs[XM_XSTATUS__COUNT];      /* responses to clients by status */
	struct xm_hist *rq_time_ms;           /* values in us */
};

/* Control side (table build): the kept stats of a prefix, a virtual host, a protocol. */
struct xm_xproxy_stats *xm_xproxy_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix);
struct xm_xvhost_stats *xm_xvhost_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix, const char *vhost);
struct xm_xproto_stats *xm_xproto_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix, const char *protocol);
/* Stats of method (len bytes, from the wire) in vst; NULL only when out of memory. */
struct xm_xmethod_stats *xm_xmethod_stats_get(struct xm_xvhost_stats *vst, const char *method, size_t len);
/* Count one response to a client with status st (ms may be NULL). */
void xm_xproxy_count_rs(struct xm_xproxy_stats *st, struct xm_xproto_stats *ps, struct xm_xmethod_stats *ms,
			enum xm_status status);

/* xp_build.c */
int xp_build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **cfg, char *err, size_t errlen);
void xp_free(void *cfg);

#endif
