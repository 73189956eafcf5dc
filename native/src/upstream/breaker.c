/* Circuit breakers: open connections, requests, pending requests and retries per cluster, counted with atomics shared by every worker. */
#include "upstream/cluster_int.h"

/* ---- circuit breakers ---- */

static int cluster__acquire(int32_t *open, uint32_t limit, uint64_t *overflow)
{
	/* Optimistic add then undo: one atomic in the common case. A burst may briefly read
	 * above the limit, but never admits more than limit at once. */
	if (xm_unlikely((uint32_t)xm_atomic_add(open, 1) >= limit)) {
		xm_atomic_sub(open, 1);
		xm_stat_inc(overflow);
		return -EBUSY;
	}
	return 0;
}

static void cluster__release(int32_t *open)
{
	int32_t old = xm_atomic_sub(open, 1);
	xm_assert(old > 0);
}

int xm_cluster_cx_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->cx_open, c->max_connections, c->st->st.upstream_cx_overflow);
}
void xm_cluster_cx_release(struct xm_cluster_state *cs) { cluster__release(&cs->cx_open); }

/* Envoy counts both the pending and the request breaker in upstream_rq_pending_overflow. */
int xm_cluster_rq_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->rq_open, c->max_requests, c->st->st.upstream_rq_pending_overflow);
}
void xm_cluster_rq_release(struct xm_cluster_state *cs) { cluster__release(&cs->rq_open); }

int xm_cluster_pending_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->pending_open, c->max_pending_requests, c->st->st.upstream_rq_pending_overflow);
}
void xm_cluster_pending_release(struct xm_cluster_state *cs) { cluster__release(&cs->pending_open); }

int xm_cluster_retry_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->retries_open, c->max_retries, c->st->st.upstream_rq_retry_overflow);
}
void xm_cluster_retry_release(struct xm_cluster_state *cs) { cluster__release(&cs->retries_open); }

