/* The data plane object: owns workers and persistent state, publishes tables, reclaims old ones. */
#include "server/dp.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/table.h"
#include "core/keep.h"
#include "core/logq.h"
#include "core/uring.h"
#include "net/listener.h"
#include "server/worker.h"

#define DP__SWAP_WAIT_MS 5000
#define DP__LOG_RING_BYTES (256u * 1024u) /* per worker: ~1,000 access-log lines in flight */

int xm_dp_new(struct xm_dp **out, const struct xm_dp_opts *o)
{
	struct xm_dp *dp = calloc(1, sizeof(*dp));
	int rc;

	if (!dp)
		return -ENOMEM;
	pthread_mutex_init(&dp->lock, NULL);
	pthread_mutex_init(&dp->info_lock, NULL);
	dp->nworkers = o->nworkers ? o->nworkers : 1;
	const char *ns = getenv("XMESH_DISABLE_SPLICE");
	dp->splice_disabled = ns && ns[0] == '1';
	const char *ni = getenv("XMESH_URING_NO_INCREMENTAL");
	dp->uring_no_inc = ni && ni[0] == '1';
	const char *nice = getenv("XMESH_WORKER_NICE");
	dp->worker_nice = nice ? atoi(nice) : 0;
	/* I/O backend: the option, else XMESH_IO_BACKEND, else epoll. "auto" takes io_uring
	 * when this kernel (and any seccomp policy) allows it; "io_uring" requires it. */
	int be = o->io_backend ? o->io_backend - 1 : xm_io_backend_parse(getenv("XMESH_IO_BACKEND"));
	if (be < 0) {
		rc = -EINVAL;
		goto out;
	}
	if (be != XM_IO_EPOLL) {
		int pr = xm_uring_probe();
		if (pr < 0 && be == XM_IO_URING) {
			rc = pr;
			goto out;
		}
		be = pr < 0 ? XM_IO_EPOLL : XM_IO_URING;
	}
	dp->io_backend = be;
	rc = xm_stats_open(&dp->stats, o->stats_path, o->stats_capacity ? o->stats_capacity : (256u << 20));
	if (rc < 0)
		goto out;
	rc = xm_events_new(&dp->events, 1024, o->notify, o->notify_ctx);
	if (rc < 0)
		goto out;
	rc = xm_registry_new(&dp->reg, dp->stats, dp->events);
	if (rc < 0)
		goto out;
	rc = xm_keep_new(&dp->tables.keep);
	if (rc < 0)
		goto out;
	rc = xm_logq_new(&dp->logq, dp->nworkers, DP__LOG_RING_BYTES,
			 xm_stats_counterf(dp->stats, "dataplane.access_log_dropped_total"));
	if (rc < 0)
		goto out;
	dp->tables.nworkers = dp->nworkers;
	dp->tables.stats = dp->stats;
	dp->tables.reg = dp->reg;
	dp->tables.events = dp->events;
	dp->swaps_total = xm_stats_counterf(dp->stats, "dataplane.snapshot_swaps_total");
	dp->swap_failed_total = xm_stats_counterf(dp->stats, "dataplane.snapshot_swap_failed_total");
	dp->snapshot_version = xm_stats_gaugef(dp->stats, "dataplane.snapshot_version");
	dp->downstream_cx_gauge = xm_stats_gaugef(dp->stats, "dataplane.downstream_cx_active");
	dp->malloc_trims = xm_stats_counterf(dp->stats, "dataplane.malloc_trim_total");
	dp->swap_duration = xm_stats_histf(dp->stats, "dataplane.snapshot_swap_duration_ms");
	xm_gauge_set(xm_stats_gaugef(dp->stats, "dataplane.workers"), dp->nworkers);
	dp->io_uring_workers = xm_stats_gaugef(dp->stats, "dataplane.io_uring_workers");
	dp->io_uring_recv_nobufs = xm_stats_counterf(dp->stats, "dataplane.io_uring_recv_nobufs_total");
	dp->io_uring_enter_errors = xm_stats_counterf(dp->stats, "dataplane.io_uring_enter_errors_total");
	dp->io_uring_connections = xm_stats_gaugef(dp->stats, "dataplane.io_uring_connections");
	dp->workers = calloc(dp->nworkers, sizeof(*dp->workers));
	if (!dp->workers) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < dp->nworkers; i++) {
		rc = xm_worker_init(&dp->workers[i], dp, i);
		if (rc < 0)
			goto out;
	}
	for (unsigned i = 0; i < dp->nworkers; i++) {
		rc = xm_worker_start(&dp->workers[i]);
		if (rc < 0)
			goto out;
	}
	*out = dp;
	return 0;
out:
	xm_dp_free(dp);
	return rc;
}

/* A retired table can go once every worker has moved past it and no session still
 * connecting on it holds a reference. */
static int dp__table_idle(struct xm_dp *dp, struct xm_table *t)
{
	for (unsigned i = 0; i < dp->nworkers; i++) {
		if (__atomic_load_n(&dp->workers[i].table, __ATOMIC_ACQUIRE) == t)
			return 0;
	}
	return !xm_epoch_held(&t->epoch);
}

static unsigned dp__reclaim_locked(struct xm_dp *dp)
{
	unsigned left = 0;
	struct xm_table **pp = &dp->retired;

	while (*pp) {
		struct xm_table *t = *pp;
		if (dp__table_idle(dp, t)) {
			*pp = t->retired_next;
			xm_table_free(&dp->tables, t);
		} else {
			pp = &t->retired_next;
			left++;
		}
	}
	return left;
}

static void dp__publish_info(struct xm_dp *dp, const struct xm_table *t);

int xm_dp_drain(struct xm_dp *dp, const char *const *names, unsigned nnames, int graceful)
{
	int drained = 0;

	pthread_mutex_lock(&dp->lock);
	struct xm_table *t = dp->table;
	struct xm_drain_req *r = calloc(1, sizeof(*r) + (size_t)nnames * sizeof(uint64_t));
	if (!r)
		goto out;
	for (unsigned i = 0; t && i < nnames; i++)
		for (uint32_t j = 0; j < t->nlisteners; j++)
			if (strcmp(t->listeners[j].name, names[i]) == 0)
				r->ids[r->nids++] = t->listeners[j].l->id;
	if (nnames && !r->nids) {
		free(r); /* none of those listeners runs */
		goto out;
	}
	r->graceful = graceful;
	r->prev = dp->drain;
	r->gen = r->prev ? r->prev->gen + 1 : 1;
	__atomic_store_n(&dp->drain, r, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < dp->nworkers; i++)
		xm_worker_wake(&dp->workers[i]);
	for (int waited = 0; waited < DP__SWAP_WAIT_MS * 10; waited++) {
		unsigned seen = 0;
		for (unsigned i = 0; i < dp->nworkers; i++)
			seen += __atomic_load_n(&dp->workers[i].drain_seen, __ATOMIC_ACQUIRE) == r->gen ||
				!dp->workers[i].started;
		if (seen == dp->nworkers)
			break;
		usleep(100);
	}
	/* No worker watches them now: closing the sockets refuses new connections at once. */
	for (struct xm_listener *l = dp->tables.listeners; l; l = l->next) {
		if (!xm_drain_req_has(r, l->id) || l->drained)
			continue;
		l->drained = 1;
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		drained++;
	}
	if (drained && dp->table)
		dp__publish_info(dp, dp->table);
out:
	pthread_mutex_unlock(&dp->lock);
	return drained;
}

void xm_dp_set_overload(struct xm_dp *dp, int flags)
{
	if (__atomic_exchange_n(&dp->overload, flags, __ATOMIC_ACQ_REL) == flags)
		return;
	for (unsigned i = 0; i < dp->nworkers; i++)
		xm_worker_wake(&dp->workers[i]);
}

void xm_dp_shed(struct xm_dp *dp, uint64_t min_bytes)
{
	__atomic_store_n(&dp->shed_min, min_bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&dp->shed_gen, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < dp->nworkers; i++)
		xm_worker_wake(&dp->workers[i]);
}

int xm_dp_try_reclaim(struct xm_dp *dp)
{
	if (pthread_mutex_trylock(&dp->lock) != 0)
		return -EBUSY;
	int left = (int)dp__reclaim_locked(dp);
	pthread_mutex_unlock(&dp->lock);
	return left;
}

unsigned xm_dp_reclaim(struct xm_dp *dp)
{
	pthread_mutex_lock(&dp->lock);
	unsigned left = dp__reclaim_locked(dp);
	pthread_mutex_unlock(&dp->lock);
	return left;
}

static void dp__free_info(struct xm_dp_listener_info *info, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free((char *)info[i].name);
		free((char *)info[i].address);
	}
	free(info);
}

/* Publish the listener summary of table t (copies: the table may be freed later). */
static void dp__publish_info(struct xm_dp *dp, const struct xm_table *t)
{
	struct xm_dp_listener_info *info = calloc(t->nlisteners ? t->nlisteners : 1, sizeof(*info));
	struct xm_dp_listener_info *old;
	uint32_t nold;

	if (!info)
		return; /* keep the previous summary: only the admin view is stale */
	for (uint32_t i = 0; i < t->nlisteners; i++) {
		info[i].name = strdup(t->listeners[i].name);
		info[i].address = strdup(t->listeners[i].l->addr_str);
		info[i].port = t->listeners[i].l->bound_port;
		info[i].fd = t->listeners[i].l->fd;
		info[i].drained = t->listeners[i].l->drained;
		info[i].active = t->listeners[i].l->st ? t->listeners[i].l->st->downstream_cx_active : NULL;
	}
	pthread_mutex_lock(&dp->info_lock);
	old = dp->info;
	nold = dp->ninfo;
	dp->info = info;
	dp->ninfo = t->nlisteners;
	dp->info_version = t->version;
	pthread_mutex_unlock(&dp->info_lock);
	dp__free_info(old, nold);
}

int xm_dp_apply(struct xm_dp *dp, const void *buf, size_t len, char *err, size_t errlen)
{
	struct xm_table *nt = NULL, *ot;
	uint64_t t0 = xm_now_us();
	int rc;

	err[0] = 0;
	pthread_mutex_lock(&dp->lock);
	if (dp->stopped) {
		snprintf(err, errlen, "data plane is stopped");
		rc = -ESHUTDOWN;
		goto out;
	}
	/* One stats-file lock for the whole build instead of one per new entry. */
	xm_stats_batch_begin(dp->stats);
	rc = xm_table_build(&dp->tables, buf, len, &nt, err, errlen);
	xm_stats_batch_end(dp->stats);
	if (rc < 0) {
		xm_stat_inc(dp->swap_failed_total);
		goto out;
	}
	ot = dp->table;
	__atomic_store_n(&dp->table, nt, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < dp->nworkers; i++)
		xm_worker_wake(&dp->workers[i]);
	/* Wait (bounded) until every worker runs the new table, so the caller knows new
	 * listeners accept when this returns. Workers never block, so this is short. */
	for (int waited = 0; waited < DP__SWAP_WAIT_MS * 10; waited++) {
		unsigned seen = 0;
		for (unsigned i = 0; i < dp->nworkers; i++)
			seen += __atomic_load_n(&dp->workers[i].table, __ATOMIC_ACQUIRE) == nt;
		if (seen == dp->nworkers)
			break;
		usleep(100);
	}
	if (ot) {
		ot->retired_next = dp->retired;
		dp->retired = ot;
	}
	dp__reclaim_locked(dp);
	dp__publish_info(dp, nt);
	xm_stat_inc(dp->swaps_total);
	xm_gauge_set(dp->snapshot_version, (int64_t)nt->version);
	xm_hist_record(dp->swap_duration, xm_now_us() - t0);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

void xm_dp_stop(struct xm_dp *dp)
{
	pthread_mutex_lock(&dp->lock);
	dp->stopped = 1;
	pthread_mutex_unlock(&dp->lock);
	for (unsigned i = 0; dp->workers && i < dp->nworkers; i++)
		xm_worker_stop_join(&dp->workers[i]);
}

void xm_dp_free(struct xm_dp *dp)
{
	if (!dp)
		return;
	xm_dp_stop(dp);
	pthread_mutex_lock(&dp->lock);
	if (dp->table) {
		dp->table->retired_next = dp->retired;
		dp->retired = dp->table;
		dp->table = NULL;
	}
	while (dp->retired) {
		struct xm_table *t = dp->retired;
		dp->retired = t->retired_next;
		xm_table_free(&dp->tables, t);
	}
	pthread_mutex_unlock(&dp->lock);
	for (unsigned i = 0; dp->workers && i < dp->nworkers; i++)
		xm_worker_destroy(&dp->workers[i]);
	free(dp->workers);
	/* After the workers: every line they queued is written before the sinks close. */
	xm_logq_free(dp->logq);
	for (struct xm_drain_req *r = dp->drain, *prev; r; r = prev) {
		prev = r->prev;
		free(r);
	}
	/* After the workers: their connections and pools used kept stats and codecs. */
	xm_keep_free(dp->tables.keep);
	if (dp->reg)
		xm_registry_free(dp->reg);
	xm_events_free(dp->events);
	if (dp->stats)
		xm_stats_close(dp->stats);
	dp__free_info(dp->info, dp->ninfo);
	pthread_mutex_destroy(&dp->info_lock);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}

int xm_dp_set_health(struct xm_dp *dp, const char *cluster, const char *host, int healthy)
{
	return xm_registry_set_health(dp->reg, cluster, host, healthy);
}

uint64_t xm_dp_listeners(struct xm_dp *dp, xm_dp_listener_fn fn, void *ctx)
{
	uint64_t version;

	pthread_mutex_lock(&dp->info_lock);
	version = dp->info_version;
	for (uint32_t i = 0; i < dp->ninfo; i++)
		fn(ctx, &dp->info[i]);
	pthread_mutex_unlock(&dp->info_lock);
	return version;
}
