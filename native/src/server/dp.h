/* The data plane: N workers, the published table, persistent state, and the snapshot swap. */
#ifndef XM_DP_H
#define XM_DP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config/table.h"
#include "core/event.h"
#include "stats/stats.h"
#include "upstream/cluster.h"

struct xm_table;
struct xm_listener;
struct xm_worker;

struct xm_dp_opts {
	unsigned nworkers;
	const char *stats_path;       /* NULL = anonymous memfd */
	size_t stats_capacity;        /* 0 = 256 MiB (sparse) */
	xm_event_notify_fn notify;
	void *notify_ctx;
	/* enum xm_io_backend + 1 (0 = not set: XMESH_IO_BACKEND, else epoll). */
	int io_backend;
};

/* One drain request: the listeners it names (nids 0 = every listener), numbered. */
struct xm_drain_req {
	struct xm_drain_req *prev;
	uint64_t gen;
	int graceful;      /* also ask their sessions to finish (else they run on untouched) */
	uint32_t nids;
	uint64_t ids[];
};

static inline int xm_drain_req_has(const struct xm_drain_req *r, uint64_t listener_id)
{
	if (r->nids == 0)
		return 1;
	for (uint32_t i = 0; i < r->nids; i++)
		if (r->ids[i] == listener_id)
			return 1;
	return 0;
}

struct xm_dp {
	unsigned nworkers;
	struct xm_worker *workers;
	struct xm_table *table;       /* published: atomic store-release / load-acquire */
	struct xm_table *retired;     /* waiting for every worker to let go */
	struct xm_tables tables;      /* what table builds use and what outlives a table (under lock) */
	pthread_mutex_t lock;         /* control side: apply, reclaim (held for a whole build) */
	pthread_mutex_t info_lock;    /* the published listener summary, so info() never waits for a build */
	struct xm_dp_listener_info *info;
	uint32_t ninfo;
	uint64_t info_version;
	struct xm_stats *stats;
	struct xm_registry *reg;
	struct xm_events *events;
	struct xm_logq *logq;         /* access-log lines from the workers, written by one thread */
	uint64_t *swaps_total, *swap_failed_total;
	int64_t *snapshot_version;
	/* Downstream connections open on every listener (atomic; the global limit's count) and
	 * its gauge (a full stats block hands out a shared dummy: the count is not the gauge). */
	int overload;                 /* atomic: XM_OVERLOAD_* actions in force */
	uint64_t shed_gen, shed_min;  /* atomic: xm_dp_shed requests (numbered) and their threshold */
	uint64_t *malloc_trims;       /* dataplane.malloc_trim_total: freed memory given back to the kernel */
	int64_t downstream_cx;
	int64_t *downstream_cx_gauge;
	struct xm_hist *swap_duration;  /* us, build + publish */
	int stopped;
	/* Drains (xm_dp_drain): the latest request (atomic pointer); each is immutable and
	 * kept until xm_dp_free, so a worker late to read one never reads freed memory. */
	struct xm_drain_req *drain;
	int splice_disabled;          /* XMESH_DISABLE_SPLICE=1: bulk stays in copy mode (diagnostics) */
	int uring_no_inc;             /* XMESH_URING_NO_INCREMENTAL=1: whole-buffer receives, as before 6.12 (tests) */
	int worker_nice;              /* XMESH_WORKER_NICE: nice value for worker threads (default 0 = unchanged) */
	int io_backend;               /* enum xm_io_backend, resolved: XM_IO_EPOLL or XM_IO_URING */
	int64_t *io_uring_workers;    /* gauge: workers running the io_uring backend */
	uint64_t *io_uring_recv_nobufs; /* counter: receives that found a worker's buffer ring empty (re-armed) */
	uint64_t *io_uring_enter_errors; /* counter: failed io_uring_enter calls (reported, retried) */
	int64_t *io_uring_connections;   /* gauge: connections on the workers' rings */
};

int xm_dp_new(struct xm_dp **out, const struct xm_dp_opts *o);
/* Decode, build and publish a snapshot; blocks until every worker uses it (bounded).
 * On failure nothing changes and err says why (names the listener/cluster). */
int xm_dp_apply(struct xm_dp *dp, const void *buf, size_t len, char *err, size_t errlen);
/* Stop accepting on the listeners named (NULL, 0: every listener) for good: each worker stops
 * watching them, then their sockets are closed so new connections are refused. graceful:
 * the workers also ask those listeners' sessions to finish (x_proxy: answer what is in
 * flight, then close; idle ones close now; tcp_proxy pairs run on). Blocks until every
 * worker did it (bounded). Returns how many listeners this call drained. */
int xm_dp_drain(struct xm_dp *dp, const char *const *names, unsigned nnames, int graceful);

/* Overload actions in force (Envoy's overload manager; the control core measures the
 * resources and decides): STOP_ACCEPT: workers stop watching their listeners (new
 * connections wait in the kernel's backlog); REJECT: a connection accepted is closed at
 * once and counted (listener.downstream_cx_overload_reject). Applied by each worker at its
 * next wake; returns at once. */
enum { XM_OVERLOAD_STOP_ACCEPT = 1, XM_OVERLOAD_REJECT = 2 };
void xm_dp_set_overload(struct xm_dp *dp, int flags);
/* The overload manager's reset_high_memory_stream, once: every worker resets the client
 * connections holding at least min_bytes of unfinished input (xm_session.shed). The control
 * core calls it at each measurement while the action is in force. Returns at once. */
void xm_dp_shed(struct xm_dp *dp, uint64_t min_bytes);
/* Free retired tables no worker uses any more; returns how many remain. */
unsigned xm_dp_reclaim(struct xm_dp *dp);
/* The same when the data plane's lock is free now (the control thread must never wait for a
 * build in progress, which reclaims at its end); -EBUSY otherwise. */
int xm_dp_try_reclaim(struct xm_dp *dp);
/* Stop and join the workers (closing their connections), idempotent. */
void xm_dp_stop(struct xm_dp *dp);
void xm_dp_free(struct xm_dp *dp);
int xm_dp_set_health(struct xm_dp *dp, const char *cluster, const char *host, int healthy);

struct xm_dp_listener_info {
	const char *name;
	const char *address;
	uint16_t port;
	int fd;                 /* -1 once drained */
	int drained;            /* xm_dp_drain stopped it */
	const int64_t *active;  /* its downstream_cx_active gauge (in the stats block) */
};
/* The listeners in force (a summary published at each swap: never waits for a build in
 * progress); returns the snapshot version. */
typedef void (*xm_dp_listener_fn)(void *ctx, const struct xm_dp_listener_info *li);
uint64_t xm_dp_listeners(struct xm_dp *dp, xm_dp_listener_fn fn, void *ctx);

#endif
