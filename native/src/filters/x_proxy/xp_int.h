/* x_proxy internals shared by the downstream side (xp_down.c), requests (xp_rq.c), the upstream side (xp_up.c) and the pending map (xp_pmap.c). */
#ifndef XM_XP_INT_H
#define XM_XP_INT_H

#include "filters/x_proxy/x_proxy.h"

#include "net/conn.h"
#include "net/listener.h"
#include "router/router.h"
#include "stats/stats.h"
#include "upstream/cluster.h"

/*
 * Ownership, all on one worker:
 *  - xp_down: a client connection. Its unconsumed input is a queue of slices of the chunks
 *    it read; a complete request frame is forwarded by *moving those slices* to an upstream
 *    connection's output queue after its request id was rewritten in place.
 *  - xp_up: a multiplexed upstream connection in the router's per-worker pool, keyed by (host, codec).
 *    It owns a map from the ids it handed out to the requests in flight on it.
 *  - xp_rq: one request in flight: linked from its down (to cancel on close) and indexed
 *    in its up's map (to match the response). It holds the cluster state for breakers/stats.
 * Only persistent state (cluster/host states, stats) outlives a table swap; a client's config
 * is looked up again (xm_fworker.lookup) once the worker's table has changed, so new routes
 * apply to open connections, as Envoy's RDS updates do.
 */

#define XP__MAX_IOV 1100 /* 16 MiB max frame / 16 KiB chunks, plus slack */
#define XP__GEN_MAX 4096 /* generated frames (hijack, heartbeat replies) */
_Static_assert(XP__GEN_MAX >= XM_DESC_HEADER_MAX, "descriptor codecs reply with header-only frames");

struct xp_up;

struct xp_rq {
	struct xm_link down_link;
	struct xp_down *down;
	struct xp_up *up;
	uint64_t up_id;
	uint64_t down_id;
	struct xm_frame f;           /* split facts of the request, for a later hijack (timeout, lost upstream) */
	struct xm_timer timer;
	uint64_t start_us;
	struct xm_attempt at;        /* breaker slots and references on the upstream (router) */
	struct xm_xvhost_stats *vst; /* kept */
	struct xm_xmethod_stats *mst;/* kept */
	/* Retries: the request's own bytes, held by reference (never copied) while a
	 * retry may still need them. */
	struct xm_iovq frame;
	uint32_t retries_left;
	uint8_t retry_on_connect_failure, retry_on_reset;
};

/* Per worker: the upstream pools and a scratch iovec array for views over a connection's input. */
struct xp_worker {
	struct xm_pools *pools;
	struct iovec *scratch;
};

struct xp_down {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_fworker *fw;
	struct xm_loop *loop;
	struct xp_worker *xw;
	uint64_t listener_id, chain_key;   /* to find this connection's config after a swap */
	const struct xp_cfg *cfg;          /* valid while the worker's table has gen cfg_gen */
	uint64_t cfg_gen;
	const struct xm_codec *codec;      /* fixed for the connection's life */
	struct xm_xproto_stats *pst;       /* stats of codec */
	uint64_t peer_hash;                /* the client's address, for source_ip hash policies */
	struct xm_cx_acct acct;            /* the listener's counts and limits it is in */
	struct xm_xproxy_stats *st;
	struct xm_iovq in;
	struct xm_link pending;            /* xp_rq.down_link */
	struct xm_link pause_link;         /* in an up's paused list while backpressured */
	uint32_t npending;
	uint32_t max_frame;                /* the filter's, capped by the listener's buffer limit */
	struct xm_timer timer;             /* idle, frame completion and connection duration */
	uint64_t last_io_ms;               /* last bytes in or out */
	uint64_t frame_start_ms;           /* first byte of the frame d->in holds (when not empty) */
	uint64_t expires_ms;               /* max_connection_duration: 0 = never */
	uint8_t closed, eof;
	uint8_t draining;                  /* reads stopped: close once nothing is in flight */
	uint8_t shutting;                  /* the listener drains: close the first moment nothing is in flight */
};

/* Open addressing map: request id on the upstream connection -> request. */
struct xp_pmap {
	uint64_t *keys;
	struct xp_rq **vals;
	uint32_t cap, n;
};

struct xp_up {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_fworker *fw;
	struct xm_loop *loop;
	struct xp_worker *xw;
	struct xm_hostpool *hp;
	const struct xm_codec *codec;
	struct xm_xproxy_stats *st;
	struct xm_host_state *hs;          /* reference held */
	struct xm_cluster_state *cs;       /* reference held */
	struct xm_iovq in;
	struct xp_pmap pending;
	struct xm_link paused;             /* downs waiting for this connection to drain */
	struct xm_timer timer;             /* connect timeout */
	uint64_t start_us, connected_us;   /* upstream_cx_connect_ms / length_ms */
	uint64_t next_id;
	uint8_t connected, closed;
};

/* Pending map (xproxy_pmap.c). */
struct xp_rq *xp_pmap_get(const struct xp_pmap *m, uint64_t id);
int xp_pmap_put(struct xp_pmap *m, uint64_t id, struct xp_rq *rq);
void xp_pmap_del(struct xp_pmap *m, uint64_t id);

/* Frame plumbing (xp_down.c). */
int xp_view(struct xp_worker *xw, struct xm_iovq *in, struct xm_iview *v);
void xp_put_id(const struct xm_iview *v, const struct xm_frame *f, uint64_t id);
int xp_forward(struct xm_iovq *in, uint32_t len, struct xm_conn *dst);
int xp_send_generated(struct xm_loop *l, struct xm_conn *c, const uint8_t *buf, size_t n);

/* Downstream side (xp_down.c). */
/* The connection's x_proxy config in the worker's current table (refreshed after a swap),
 * or NULL when its listener or chain left the configuration. */
const struct xp_cfg *xp_down_cfg(struct xp_down *d);
void xp_rq_free(struct xp_down *down, struct xp_rq *rq);
void xp_down_close(struct xp_down *d, enum xm_close_mode mode);
void xp_down_maybe_finish(struct xp_down *d);
/* Stop reading; close once every request in flight is answered. */
void xp_down_drain(struct xp_down *d);
void xp_down_process(struct xp_down *d);
/* Requests (xp_rq.c). attach: a fresh id on up, indexed there; rq takes over the request
 * breaker slot the caller acquired on c (and the retry budget when retry) and references on
 * c's and h's states. */
int xp_rq_attach(struct xp_rq *rq, struct xp_up *up, struct xm_cluster *c, const struct xm_host *h, int retry);
void xp_rq_timeout(struct xm_timer *t);
/* The LB key of a request on route rt (ring hash / maglev). */
uint64_t xp_rq_hash(struct xp_down *d, const struct xm_xroute *rt, const struct xm_route_info *ri);
/* A host of c for hash (avoiding exclude when another is available) and a pooled connection to it. */
struct xp_up *xp_pick(struct xp_down *d, const struct xp_cfg *cfg, struct xm_cluster *c, uint64_t hash,
		      const struct xm_host *exclude, const struct xm_host **h);
/* Keep references to the first len bytes of in (a request that may be retried). */
int xp_rq_hold(const struct xm_iovq *in, uint32_t len, struct xm_iovq *dst);
/* After a write of d's frames to up returned wrc: stop reading d while up is backed up. */
void xp_pause_on(struct xp_down *d, struct xp_up *up, int wrc);
/* rq's upstream connection was lost (connected: after the request may have been sent).
 * Sends it again on another connection if its route's retry policy allows; 1 if it did,
 * 0 if the caller must fail it. rq->up must already be detached. */
int xp_rq_retry(struct xp_rq *rq, int connected);

/* Upstream side (xp_up.c): a pooled multiplexed connection to host h of cluster c. */
struct xp_up *xp_up_get(struct xp_down *d, const struct xp_cfg *cfg, struct xm_cluster *c, const struct xm_host *h);
/* Per-worker state (xm_filter_ops.worker_init / worker_free). */
int xp_worker_init(struct xm_fworker *fw, void **state);
void xp_worker_free(struct xm_fworker *fw, void *state);

#endif
