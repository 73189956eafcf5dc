/* A data-plane worker thread: one epoll loop, its chunk pool, its sessions and its view of the table. */
#ifndef XM_WORKER_H
#define XM_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"

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
	struct xm_link sessions;      /* sentinel */
	uint64_t nsessions;
	uint64_t turns;               /* loop turns, published for diagnostics */
	struct xp_pools *xpools;      /* x_proxy upstream connection pools of this worker (lazy) */
	struct iovec *scratch_iov;    /* x_proxy: views over a connection's input (lazy) */
};

int xm_worker_init(struct xm_worker *w, struct xm_dp *dp, unsigned id);
int xm_worker_start(struct xm_worker *w);
/* Ask the worker to re-read the published table (or stop): one eventfd write. */
void xm_worker_wake(struct xm_worker *w);
/* Set stop, wake, join, then release everything the worker owns. */
void xm_worker_stop_join(struct xm_worker *w);
void xm_worker_destroy(struct xm_worker *w);


static inline uint64_t xm_worker_rand(struct xm_worker *w) { return xm_loop_rand(&w->loop); }

#endif
