/* The filter interface: the ops table each network and listener filter kind implements, and what a connection carries into its chain. */
#ifndef XM_FILTER_H
#define XM_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/epoch.h"
#include "core/event.h"
#include "core/list.h"
#include "core/loop.h"
#include "net/conn.h"
#include "net/listener.h"
#include "protocol/codec.h"

/*
 * Envoy's model, in C. A listener accepts a connection; its listener filters run first and
 * record facts about it (xm_conn_facts: the protocol they detected, ...); the filter chain
 * whose match fits those facts best takes it; the chain's network filters see it in order,
 * the last one (terminal: tcp_proxy, x_proxy, later http) owns it from then on.
 *
 * Every filter kind is one module behind one ops table, listed once in filters/registry.c;
 * the table builder (config/) and the worker (server/) reach a filter only through its ops
 * and never switch on kinds. A filter builds its own immutable config from its own protobuf
 * message, keeps its own per-worker state, and owns its sessions. Nothing here knows the
 * routing table: what a filter needs from layers above it comes through the callbacks of
 * struct xm_filter_build (control side) and struct xm_fworker (worker side).
 */

struct xm_cluster;
struct xm_events;
struct xm_keep;
struct xm_logq;
struct xm_listener;
struct xm_listener_stats;
struct xm_stats;
struct xm_keepalive;
struct ProtobufCMessage;
struct Xmesh__Dataplane__V1__XCodecDescriptor;
struct Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry;

/* ---- what a connection carries ---- */

/* Facts a chain is matched on (Envoy's FilterChainMatch inputs), recorded at accept and by
 * listener filters. */
struct xm_conn_facts {
	struct sockaddr_storage local;   /* destination (ss_family 0 when no chain asks for it) */
	struct sockaddr_storage peer;    /* source */
	socklen_t peer_len;
	const char *app_proto;           /* detected by a listener filter (a string that lives as long as the data plane), or NULL */
};

/* A connection on its way into a chain, accepted and counted by its listener. pre holds
 * bytes already read (a listener filter sniffed them, later: a hot restart handed the
 * connection over): the terminal filter takes them as the first bytes of the stream, by
 * reference. */
struct xm_fconn {
	int fd;
	struct xm_conn_facts facts;
	struct xm_iovq pre;
	uint8_t eof;                     /* the client's FIN came with pre */
	uint8_t lfilter_note;            /* a listener filter's note to itself, for its done() */
	/* Which listener and chain took it: what an L7 filter keeps to find its config again
	 * after a swap (xm_fworker.lookup). Ids, not pointers: a removed listener's memory is
	 * reused, its id never is. */
	uint64_t listener_id;
	uint64_t chain_key;
	/* The table the chain's configs belong to: a filter that keeps using its config (a
	 * cluster view while connecting) references it, as long as it does. */
	struct xm_epoch *epoch;
	/* What it counts in until it closes (the listener's stats, kept for the data plane's
	 * life; limits): the owner ends it with xm_cx_end. */
	struct xm_cx_acct acct;
	/* The listener's settings. */
	uint32_t buffer_limit;
	struct xm_keepalive keepalive;
};

/* Named results of a non-terminal filter's look at a new connection. */
enum xm_filter_status {
	XM_FILTER_CONTINUE = 0,          /* pass it on to the next filter */
	XM_FILTER_STOP = 1,              /* the filter closed (refused) it: fd closed, counted by the filter */
};

/* ---- the worker as filters see it ---- */

/* Every session kind embeds this, so a worker can close them all on shutdown and drain
 * those of a listener. */
struct xm_session {
	struct xm_link link;
	void (*abort)(struct xm_session *s); /* close now (shutdown) */
	/* Finish gracefully (the listener drains: xmesh is stopping): answer what is in flight,
	 * then close. NULL: nothing to do before the drain time ends (a tcp_proxy pair). */
	void (*drain)(struct xm_session *s);
	/* The overload manager's reset_high_memory_stream: close (reset) the connection if it
	 * holds at least min_bytes of its client's unfinished input, counted by the filter;
	 * 1 when it did. NULL: it holds nothing of the kind (a tcp_proxy pair forwards as it
	 * reads, within its buffer limit). */
	int (*shed)(struct xm_session *s, uint64_t min_bytes);
	uint64_t listener_id;                /* the listener that accepted it (0: an upstream session) */
};

#define XM_FILTER_KINDS_MAX 16

struct xm_filter_ops;

struct xm_fworker {
	struct xm_loop *loop;            /* id, rng, pool, timers */
	struct xm_link sessions;         /* every live session (struct xm_session.link) */
	uint64_t nsessions;
	void *state[XM_FILTER_KINDS_MAX];/* per filter kind (registry index): its worker_init result */
	/* The worker's current table: a session that must use what it started with (a cluster
	 * view while connecting) takes a reference; its gen tells a cached lookup is stale. */
	struct xm_epoch *epoch;
	/* The config of filter kind ops in the chain chain_key of listener listener_id in the
	 * current table, or NULL when that listener or chain is gone or no longer has such a
	 * filter. Supplied by the worker. */
	void *(*lookup)(struct xm_fworker *fw, uint64_t listener_id, uint64_t chain_key, const struct xm_filter_ops *ops);
	struct xm_events *events;
	struct xm_logq *logq;            /* access-log lines go here, never to a file from the worker */
	int splice_disabled;             /* XMESH_DISABLE_SPLICE: bulk stays in copy mode (diagnostics) */
};

static inline void xm_fworker_add(struct xm_fworker *fw, struct xm_session *s)
{
	xm_link_add(&fw->sessions, &s->link);
	fw->nsessions++;
}
static inline void xm_fworker_del(struct xm_fworker *fw, struct xm_session *s)
{
	xm_link_del(&s->link);
	fw->nsessions--;
}

/* A session lets go of the table it held (see xm_fworker.epoch). When that table is no
 * longer the worker's current one and the worker holds nothing more of it, the control side
 * is told it may free it: a table retired under a session is not kept until the next swap. */
static inline void xm_fworker_release(struct xm_fworker *fw, struct xm_epoch *e)
{
	unsigned w = fw->loop->id;
	xm_epoch_unref(e, w);
	if (e != fw->epoch && xm_atomic_load(&e->wrefs[w].n) == 0)
		xm_event_post(fw->events, XM_EV_TABLE_RELEASED, "table", "a retired table is free");
}

/* ---- build (control side) ---- */

typedef struct Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry xm_pb_kv;

/* What a filter's build may use, handed down by the table builder (data plane lock held). */
struct xm_filter_build {
	const char *listener;            /* the listener's name: errors and default stat prefixes */
	struct xm_stats *stats;
	struct xm_keep *keep;            /* persistent objects (stats groups, log sinks, codecs) */
	struct xm_events *events;
	unsigned nworkers;
	void *ctx;                       /* the builder's */
	/* The cluster view name in the table being built, or NULL. */
	struct xm_cluster *(*cluster)(const struct xm_filter_build *b, const char *name);
	/* The subset view of cluster name for endpoint metadata pairs kv (shared within the
	 * table). 0, -ENOENT (no such cluster) or -errno with err set. */
	int (*subset)(const struct xm_filter_build *b, const char *name, xm_pb_kv *const *kv, size_t nkv,
		      struct xm_cluster **out, char *err, size_t errlen);
	/* A codec by name: one of descs (descriptor messages the filter carries, interned for
	 * the data plane's life), else a built-in. 0, or -EINVAL/-ENOENT with err set. */
	int (*codec)(const struct xm_filter_build *b, const char *name,
		     struct Xmesh__Dataplane__V1__XCodecDescriptor *const *descs, size_t ndescs,
		     const struct xm_codec **out, char *err, size_t errlen);
};

/* ---- the ops tables ---- */

struct xm_filter_ops {
	const char *name;                /* the config's filter name: "envoy.filters.network.tcp_proxy" */
	uint8_t terminal;                /* owns the connection (ends a chain) */
	/* Build the filter's immutable config from its message (msg is the set field of
	 * NetworkFilter.config; the filter asserts its descriptor). 0 or -errno, err set. */
	int (*build)(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **cfg, char *err,
		     size_t errlen);
	void (*free)(void *cfg);
	/* Non-terminal filters: look at a new connection. */
	enum xm_filter_status (*on_accept)(struct xm_fworker *fw, void *cfg, struct xm_fconn *fc);
	/* Terminal filters: take the connection (fd, pre) for good; on any failure the filter
	 * closes the fd and counts it. */
	void (*accept)(struct xm_fworker *fw, void *cfg, struct xm_fconn *fc);
	/* Per-worker state (NULL ops: none), made when the worker starts and freed after every
	 * session of the worker was closed. */
	int (*worker_init)(struct xm_fworker *fw, void **state);
	void (*worker_free)(struct xm_fworker *fw, void *state);
};

/* Listener filters' verdicts on the bytes seen so far. */
enum xm_lfilter_status {
	XM_LFILTER_DONE = 0,             /* facts recorded (or nothing to record): next filter, then the chain */
	XM_LFILTER_MORE,                 /* needs more bytes (or the timeout) */
};

/* Why a listener filter ended without a verdict of its own; counted by the filter. */
enum xm_lfilter_end {
	XM_LFILTER_END_DONE = 0,         /* it decided */
	XM_LFILTER_END_TIMEOUT,          /* the client sent too little before the filter's timeout */
	XM_LFILTER_END_CLIENT_CLOSE,     /* the client closed (FIN) first */
};

struct xm_lfilter_ops {
	const char *name;                /* "xmesh.listener.protocol_detection" */
	int (*build)(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **cfg, char *err,
		     size_t errlen);
	void (*free)(void *cfg);
	/* 1 if the filter needs the connection's first bytes (the worker reads them into
	 * fc->pre first), 0 if facts from accept are enough. */
	int (*needs_data)(const void *cfg);
	uint32_t (*timeout_ms)(const void *cfg);
	/* The bytes so far (v over fc->pre; eof: the client closed): record facts in fc->facts. */
	enum xm_lfilter_status (*on_data)(void *cfg, struct xm_fconn *fc, const struct xm_iview *v);
	/* The connection leaves the listener stage: end says why the filter stopped waiting,
	 * matched whether a chain took the connection (for the filter's counters). */
	void (*done)(void *cfg, const struct xm_fconn *fc, enum xm_lfilter_end end, int matched);
};

/* ---- the registry (filters/registry.c): the one place that lists the kinds ---- */

const struct xm_filter_ops *xm_filter_find(const char *name);
const struct xm_lfilter_ops *xm_lfilter_find(const char *name);
/* Index of ops in the registry (its slot in xm_fworker.state). */
unsigned xm_filter_index(const struct xm_filter_ops *ops);
/* Registered network filter kinds, for per-worker init/free: NULL past the last. */
const struct xm_filter_ops *xm_filter_at(unsigned i);

static inline void *xm_fworker_state(struct xm_fworker *fw, const struct xm_filter_ops *ops)
{
	return fw->state[xm_filter_index(ops)];
}

#endif
