/* x_proxy internals shared by the downstream side (xproxy.c), the upstream pools (xproxy_up.c) and the pending map (xproxy_pmap.c). */
#ifndef XM_XPROXY_INT_H
#define XM_XPROXY_INT_H

#include "filters/x_proxy/x_proxy.h"

#include "upstream/cluster.h"
#include "net/conn.h"
#include "server/dp.h"
#include "net/listener.h"
#include "filters/session.h"
#include "config/table.h"
#include "server/worker.h"

/*
 * Ownership, all on one worker:
 *  - xp_down: a client connection. Its unconsumed input is a queue of slices of the chunks
 *    it read; a complete request frame is forwarded by *moving those slices* to an upstream
 *    connection's output queue after its request id was rewritten in place.
 *  - xp_up: a multiplexed upstream connection in a per-worker pool keyed by (host, codec).
 *    It owns a map from the ids it handed out to the requests in flight on it.
 *  - xp_rq: one request in flight: linked from its down (to cancel on close) and indexed
 *    in its up's map (to match the response). It holds the cluster state for breakers/stats.
 * Only persistent state (cluster/host states, stats) outlives a table swap; the route config
 * is looked up in the worker's current table at each request.
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
	struct xm_cluster_state *cs; /* reference held, with one slot of its request breaker */
	struct xm_host_state *hs;    /* reference held */
	struct xm_xvhost_stats *vst; /* persistent */
	struct xm_xmethod_stats *mst;/* persistent */
	/* Retries: the request's own bytes, held by reference (never copied) while a
	 * retry may still need them. */
	struct xm_iovq frame;
	uint32_t retries_left;
	uint8_t retry_on_connect_failure, retry_on_reset;
	uint8_t retry_slot;          /* holds a slot of cs's retry breaker */
};

struct xp_down {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_worker *w;
	struct xm_listener *l;
	const struct xm_listener_cfg *lcfg; /* valid while the worker's table has gen lcfg_gen */
	uint64_t lcfg_gen;
	const struct xm_codec *codec;      /* NULL while the protocol is being detected */
	struct xm_xproto_stats *pst;       /* stats of codec (set with it) */
	uint64_t peer_hash;                /* the client's address, for source_ip hash policies */
	uint64_t start_us;                 /* accepted at (listener connection length) */
	struct xm_xproxy_stats *st;
	struct xm_iovq in;
	struct xm_timer detect_timer;      /* detection only: gives up after detect_timeout_ms */
	struct xm_link pending;            /* xp_rq.down_link */
	struct xm_link pause_link;         /* in an up's paused list while backpressured */
	uint32_t npending;
	uint8_t closed, eof;
	uint8_t handed_off;                /* the fd went to a fallback tcp_proxy session, which counts it from here */
};

/* Open addressing map: request id on the upstream connection -> request. */
struct xp_pmap {
	uint64_t *keys;
	struct xp_rq **vals;
	uint32_t cap, n;
};

struct xp_hostpool;

struct xp_up {
	struct xm_session base;
	struct xm_conn conn;
	struct xm_defer defer;
	struct xm_worker *w;
	struct xp_hostpool *hp;
	const struct xm_codec *codec;
	struct xm_xproxy_stats *st;
	struct xm_host_state *hs;          /* reference held */
	struct xm_cluster_state *cs;       /* reference held */
	struct xm_iovq in;
	struct xp_pmap pending;
	struct xm_link paused;             /* downs waiting for this connection to drain */
	struct xm_timer timer;             /* connect timeout */
	uint64_t next_id;
	uint8_t connected, closed;
};

#define XP__POOL_MAX 16
struct xp_hostpool {
	struct xp_hostpool *next;
	struct xm_host_state *hs;          /* reference held */
	const struct xm_codec *codec;
	struct xp_up *ups[XP__POOL_MAX];
	uint32_t n, rr;
};

#define XP__POOL_BUCKETS 1024
struct xp_pools {
	struct xp_hostpool *b[XP__POOL_BUCKETS];
};

/* Pending map (xproxy_pmap.c). */
struct xp_rq *xp_pmap_get(const struct xp_pmap *m, uint64_t id);
int xp_pmap_put(struct xp_pmap *m, uint64_t id, struct xp_rq *rq);
void xp_pmap_del(struct xp_pmap *m, uint64_t id);

/* Frame plumbing (xproxy.c). */
int xp_view(struct xm_worker *w, struct xm_iovq *in, struct xm_iview *v);
/* Callbacks of a client connection on the io_uring ring (xproxy.c). */
extern const struct xm_conn_ops xp_down_ops_ring;
void xp_put_id(const struct xm_iview *v, const struct xm_frame *f, uint64_t id);
int xp_forward(struct xm_iovq *in, uint32_t len, struct xm_conn *dst);
int xp_send_generated(struct xm_worker *w, struct xm_conn *c, const uint8_t *buf, size_t n);

/* Downstream side (xproxy.c). */
/* The connection's x_proxy config in the worker's current table (d->lcfg refreshed), or
 * NULL when its listener left the configuration. */
const struct xm_xproxy_cfg *xp_down_cfg(struct xp_down *d);
void xp_rq_free(struct xp_down *down, struct xp_rq *rq);
void xp_down_close(struct xp_down *d, enum xm_close_mode mode);
void xp_down_maybe_finish(struct xp_down *d);
void xp_down_process(struct xp_down *d);
/* Requests (xproxy_rq.c). attach: a fresh id on up, indexed there; rq takes over the request
 * breaker slot the caller acquired on c and references on c's and h's states. */
int xp_rq_attach(struct xp_rq *rq, struct xp_up *up, struct xm_cluster *c, const struct xm_host *h);
void xp_rq_timeout(struct xm_timer *t);
/* The cluster of route rt for this request (a weighted pick when it has several). */
struct xm_cluster *xp_route_cluster(struct xp_down *d, const struct xm_xroute *rt);
/* The LB key of a request on route rt (ring hash / maglev). */
uint64_t xp_rq_hash(struct xp_down *d, const struct xm_xroute *rt, const struct xm_route_info *ri);
/* A host of c for hash (avoiding exclude when another is available) and a pooled connection to it. */
struct xp_up *xp_pick(struct xp_down *d, const struct xm_xproxy_cfg *cfg, struct xm_cluster *c, uint64_t hash,
		      const struct xm_host *exclude, const struct xm_host **h);
/* Keep references to the first len bytes of in (a request that may be retried). */
int xp_rq_hold(const struct xm_iovq *in, uint32_t len, struct xm_iovq *dst);
/* After a write of d's frames to up returned wrc: stop reading d while up is backed up. */
void xp_pause_on(struct xp_down *d, struct xp_up *up, int wrc);
/* rq's upstream connection was lost (connected: after the request may have been sent).
 * Sends it again on another connection if its route's retry policy allows; 1 if it did,
 * 0 if the caller must fail it. rq->up must already be detached. */
int xp_rq_retry(struct xp_rq *rq, int connected);

/* Protocol detection (xproxy_detect.c), for connections accepted with d->codec NULL. */
void xp_detect_start(struct xp_down *d, const struct xm_xproxy_cfg *cfg);
/* New bytes (or the client's FIN, d->eof) arrived while detecting: pick the codec and go on
 * with xp_down_process, wait for more, or give up (fallback tcp_proxy, else close). */
void xp_detect_input(struct xp_down *d);

/* Upstream pools (xproxy_up.c): a multiplexed connection to host h of cluster c. */
struct xp_up *xp_up_get(struct xm_worker *w, const struct xm_xproxy_cfg *cfg, struct xm_cluster *c,
			const struct xm_host *h, const struct xm_codec *codec);

#endif
