/* A data-plane worker thread: its loop, its view of the published table, and the filters' per-worker side (sessions, state). */
#ifndef XM_WORKER_H
#define XM_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/loop.h"
#include "filters/filter.h"

struct xm_dp;
struct xm_table;

struct xm_worker {
	unsigned id;
	struct xm_dp *dp;
	pthread_t thread;
	int started;
	struct xm_loop loop;
	struct xm_io wake;            /* eventfd: table swap or stop */
	struct xm_table *table;       /* the table this worker uses; stored with release for the reclaimer */
	int stop;                     /* atomic */
	struct xm_fworker fw;         /* what filters see: sessions, per-filter state, the table's epoch */
	uint64_t turns;               /* loop turns, published for diagnostics */
	uint64_t shed_seen;           /* last dp shed request applied */
	int accept_stopped;           /* the overload manager's stop_accepting_connections is applied */
	uint64_t trimmed_ms;          /* last malloc_trim (loop clock) */
	struct xm_timer trim_timer;   /* a trim due within a second of the last one */
	uint64_t drain_seen;          /* last dp drain request applied (atomic store: the dp waits for it) */
};

int xm_worker_init(struct xm_worker *w, struct xm_dp *dp, unsigned id);
int xm_worker_start(struct xm_worker *w);
/* Ask the worker to re-read the published table (or stop): one eventfd write. */
void xm_worker_wake(struct xm_worker *w);
/* Set stop, wake, join, then release everything the worker owns. */
void xm_worker_stop_join(struct xm_worker *w);
void xm_worker_destroy(struct xm_worker *w);


#endif
