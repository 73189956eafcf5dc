/* The x_proxy filter: RPC frames routed by service/method/metas and multiplexed upstream. */
#ifndef XM_XPROXY_H
#define XM_XPROXY_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "protocol/codec.h"
#include "stats/hist.h"

struct xm_dp;
struct xm_worker;
struct xm_listener_cfg;
struct xm_xproxy_cfg;
struct xm_route_info;
struct xm_xproto_stats;

#define XM_XSTATUS__COUNT 7 /* enum xm_status values, for responses counted by status */
/* Why protocol detection gave up on a connection: it then goes to the fallback tcp_proxy,
 * or is closed; counted per reason either way. */
enum xm_detect_end {
	XM_DETECT_UNKNOWN = 0,       /* no codec recognises the first bytes (or none decided within the sniff limit) */
	XM_DETECT_TIMEOUT,           /* the client sent too little before detect_timeout_ms */
	XM_DETECT_CLIENT_CLOSE,      /* the client closed (FIN) before a codec was recognised */
	XM_DETECT__COUNT
};
const char *xm_detect_end_name(enum xm_detect_end r); /* "unknown_protocol", ... */

/* Per x_proxy stat_prefix, persistent for the data plane's lifetime. */
struct xm_xproxy_stats {
	char *prefix;
	struct xm_xproxy_stats *next;
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
	uint64_t *upstream_cx_total;          /* multiplexed upstream connections opened */
	uint64_t *upstream_rq_retry;          /* requests sent again (retry_policy) */
	uint64_t *downstream_rs[XM_XSTATUS__COUNT]; /* responses to clients by status (forwarded or generated) */
	uint64_t *bytes_copied;               /* payload bytes copied: stays 0 */
	uint64_t *decode_error[XM_CODEC_E__COUNT];
	uint64_t *downstream_cx_fallback[XM_DETECT__COUNT];       /* handed to the fallback tcp_proxy */
	uint64_t *downstream_cx_detect_failed[XM_DETECT__COUNT];  /* closed: no codec and no fallback */
	int64_t *downstream_cx_active;
	int64_t *downstream_rq_active;
	int64_t *upstream_cx_active;
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

/* Per virtual host (= per service) of an x_proxy, persistent like the above. */
struct xm_xvhost_stats {
	char *key;                            /* prefix \0-joined with the virtual host name */
	struct xm_xvhost_stats *next;
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

struct xm_xproxy_stats *xm_xproxy_stats_get(struct xm_dp *dp, const char *prefix);
struct xm_xvhost_stats *xm_xvhost_stats_get(struct xm_dp *dp, const char *prefix, const char *vhost);
void xm_xproxy_stats_free_all(struct xm_dp *dp);
/* Stats of method (len bytes, from the wire) in vst; NULL only when out of memory. */
struct xm_xmethod_stats *xm_xmethod_stats_get(struct xm_xvhost_stats *vst, const char *method, size_t len);
/* Count one response to a client with status st (ms may be NULL). */
void xm_xproxy_count_rs(struct xm_xproxy_stats *st, struct xm_xproto_stats *ps, struct xm_xmethod_stats *ms,
			enum xm_status status);

/* Route a request: first virtual host whose domains match the service, then the first
 * route whose matchers all match. NULL = no route; *vhost (if non-NULL) gets the host. */
struct xm_xvhost;
const struct xm_xroute *xm_xroute_find(const struct xm_xproxy_cfg *cfg, const struct xm_route_info *ri,
				       const struct xm_xvhost **vhost);

void xm_xproxy_accept(struct xm_worker *w, const struct xm_listener_cfg *lcfg, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen);
/* Persistent counter of connections of codec `protocol` on x_proxy `prefix` (control side,
 * table build). */
/* Per protocol of an x_proxy stat_prefix (several on a detecting listener), persistent. */
struct xm_xproto_stats {
	char *key;                            /* prefix \0-joined with the protocol name */
	struct xm_xproto_stats *next;
	uint64_t *downstream_cx_protocol;     /* connections of this protocol */
	uint64_t *rq_total;
	uint64_t *rs[XM_XSTATUS__COUNT];      /* responses to clients by status */
	struct xm_hist *rq_time_ms;           /* values in us */
};
struct xm_xproto_stats *xm_xproto_stats_get(struct xm_dp *dp, const char *prefix, const char *protocol);
/* Worker teardown: free the worker's upstream pool index (sessions are closed already). */
void xm_xproxy_worker_free(struct xm_worker *w);

#endif
