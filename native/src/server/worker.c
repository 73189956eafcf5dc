/* Worker threads: run the loop, follow the published table, close everything on stop. */
#include "server/worker.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/table.h"
#include "core/uring.h"
#include "net/conn.h"
#include "net/listener.h"
#include "server/accept.h"
#include "server/dp.h"

/* Accepted fd on a listener whose config in this worker's table is ctx. */
static void worker__accept(struct xm_loop *loop, void *ctx, int fd, const struct sockaddr_storage *peer,
			   socklen_t plen)
{
	xm_accept(xm_container_of(loop, struct xm_worker, loop), ctx, fd, peer, plen);
}

/* Adopt the published table: stop watching listeners that left, watch the new ones (a
 * listener that stays keeps its epoll registration; only its config pointer moves). */
static void worker__sync_table(struct xm_worker *w)
{
	struct xm_table *nt = __atomic_load_n(&w->dp->table, __ATOMIC_ACQUIRE);
	struct xm_table *ot = w->table;

	if (nt == ot)
		return;
	if (ot) {
		for (uint32_t i = 0; i < ot->nlisteners; i++) {
			struct xm_listener *l = ot->listeners[i].l;
			if (!nt || !xm_table_listener_for(nt, l))
				xm_listener_unwatch(l, &w->loop);
		}
	}
	if (nt && !w->accept_stopped) {
		for (uint32_t i = 0; i < nt->nlisteners; i++)
			xm_listener_watch(nt->listeners[i].l, &w->loop, worker__accept, &nt->listeners[i]);
	}
	w->fw.epoch = nt ? &nt->epoch : NULL;
	/* Release: the reclaimer reads this to know we no longer look at ot. */
	__atomic_store_n(&w->table, nt, __ATOMIC_RELEASE);
}

/* A drain request: stop watching its listeners, ask their sessions to finish. */
static void worker__drain(struct xm_worker *w)
{
	const struct xm_drain_req *r = __atomic_load_n(&w->dp->drain, __ATOMIC_ACQUIRE);
	struct xm_link *n, *next;

	if (!r || r->gen == w->drain_seen)
		return;
	for (uint32_t i = 0; w->table && i < w->table->nlisteners; i++) {
		struct xm_listener *l = w->table->listeners[i].l;
		if (xm_drain_req_has(r, l->id))
			xm_listener_unwatch(l, &w->loop);
	}
	for (n = w->fw.sessions.next; r->graceful && n != &w->fw.sessions; n = next) {
		struct xm_session *s = xm_container_of(n, struct xm_session, link);
		next = n->next; /* a drain may end the session (it then leaves the list) */
		if (s->drain && s->listener_id && xm_drain_req_has(r, s->listener_id))
			s->drain(s);
	}
	__atomic_store_n(&w->drain_seen, r->gen, __ATOMIC_RELEASE);
}

/* The overload manager's stop_accepting_connections: stop or resume watching every listener
 * of the table (a drained one stays unwatched). */
static void worker__overload(struct xm_worker *w)
{
	int stop = (__atomic_load_n(&w->dp->overload, __ATOMIC_ACQUIRE) & XM_OVERLOAD_STOP_ACCEPT) != 0;
	struct xm_table *t = w->table;

	if (stop == w->accept_stopped)
		return;
	w->accept_stopped = stop;
	for (uint32_t i = 0; t && i < t->nlisteners; i++) {
		if (stop)
			xm_listener_unwatch(t->listeners[i].l, &w->loop);
		else
			xm_listener_watch(t->listeners[i].l, &w->loop, worker__accept, &t->listeners[i]);
	}
}

/* A shed request (memory pressure): reset the sessions holding large unfinished input. */
static void worker__shed(struct xm_worker *w)
{
	uint64_t gen = __atomic_load_n(&w->dp->shed_gen, __ATOMIC_ACQUIRE);
	struct xm_link *n, *next;

	if (gen == w->shed_seen)
		return;
	w->shed_seen = gen;
	uint64_t min = __atomic_load_n(&w->dp->shed_min, __ATOMIC_RELAXED);
	for (n = w->fw.sessions.next; n != &w->fw.sessions; n = next) {
		struct xm_session *s = xm_container_of(n, struct xm_session, link);
		next = n->next; /* a shed session leaves the list; it frees later (deferred) */
		if (s->shed)
			s->shed(s, min);
	}
}

static void worker__on_wake(struct xm_io *io, uint32_t revents)
{
	struct xm_worker *w = xm_container_of(io, struct xm_worker, wake);
	uint64_t v;

	if (read(io->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	worker__overload(w); /* first: a new table is then watched (or not) as it should */
	worker__sync_table(w);
	worker__drain(w);
	worker__shed(w);
}

/* After many chunks went back to malloc (connections holding big frames closed), give the
 * freed pages back to the kernel: glibc keeps them in the thread's arena otherwise, and a
 * burst of hostile clients would leave the process hundreds of MB larger for good. At most
 * four times a second per worker; a cheap compare on every other turn. */
#define WORKER__TRIM_CHUNKS 512 /* 8 MiB */
#define WORKER__TRIM_EVERY_MS 250

static void worker__trim(struct xm_worker *w)
{
	malloc_trim(0);
	w->loop.pool.released = 0;
	w->trimmed_ms = w->loop.now_ms;
	xm_stat_inc(w->dp->malloc_trims);
}

/* A trim that was due too soon after the last one: done when its time comes (the frees
 * that called for it may have been the last for a long time). */
static void worker__trim_later(struct xm_timer *t)
{
	worker__trim(xm_container_of(t, struct xm_worker, trim_timer));
}

static void worker__turn_end(struct xm_loop *l)
{
	xm_conn_flush_batched(l);
	if (l->pool.released >= WORKER__TRIM_CHUNKS) {
		struct xm_worker *w = xm_container_of(l, struct xm_worker, loop);
		uint64_t since = l->now_ms - w->trimmed_ms;
		if (since >= WORKER__TRIM_EVERY_MS)
			worker__trim(w);
		else if (!xm_timer_armed(&w->trim_timer))
			xm_timer_start(l, &w->trim_timer, WORKER__TRIM_EVERY_MS - since);
	}
}

int xm_worker_init(struct xm_worker *w, struct xm_dp *dp, unsigned id)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->dp = dp;
	w->wake.fd = -1;
	rc = xm_loop_init(&w->loop, id);
	xm_link_init(&w->fw.sessions);
	w->fw.loop = &w->loop;
	w->fw.lookup = xm_accept_lookup;
	w->fw.events = dp->events;
	w->fw.logq = dp->logq;
	w->fw.splice_disabled = dp->splice_disabled;
	if (rc < 0)
		return rc;
	w->loop.turn_end = worker__turn_end;
	xm_timer_init(&w->trim_timer, worker__trim_later);
	/* Envoy's dispatcher.loop_duration_us (recorded in us like every histogram here, shown
	 * in ms): how long a turn keeps the worker from its next wait; a tail here delays every
	 * connection of the worker. */
	w->loop.loop_duration = xm_stats_histf(dp->stats, "dataplane.worker.{worker=%u}.loop_duration_ms", id);
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd < 0)
		return -errno;
	w->wake.cb = worker__on_wake;
	rc = xm_io_add(&w->loop, &w->wake, EPOLLIN);
	if (rc < 0)
		return rc;
	return 0;
}

static void *worker__main(void *arg)
{
	struct xm_worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "xmesh-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	/* Optional: let workers win the CPU over the control core sharing it (V8 GC, parsing a
	 * large config). Measured trade-off (bench/RESULTS.md): nice -10 cuts the p99 during a
	 * 100k-endpoint swap 3x and helps bulk, but a worker that preempts a co-located
	 * upstream on every response stops batching and costs ~1.7x the CPU per request under
	 * closed-loop load, so it is off by default. Needs CAP_SYS_NICE to go below 0. */
	if (w->dp->worker_nice)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w->dp->worker_nice);
	/* The ring is made here: only the thread that submits may own it (SINGLE_ISSUER). */
	if (w->dp->io_backend == XM_IO_URING) {
		const struct xm_uring_report rep = { .events = w->dp->events,
						     .recv_nobufs_total = w->dp->io_uring_recv_nobufs,
						     .enter_errors_total = w->dp->io_uring_enter_errors,
						     .connections = w->dp->io_uring_connections };
		int rc = xm_uring_new(&w->loop.ur, &w->loop.pool, &rep, w->dp->uring_no_inc ? XM_URING_NO_INCREMENTAL : 0);
		if (rc < 0) {
			w->loop.ur = NULL;
			char why[96];
			snprintf(why, sizeof(why), "io_uring unavailable (%s): this worker uses epoll", strerror(-rc));
			xm_event_post(w->dp->events, XM_EV_LOG, "worker", why);
		} else {
			xm_gauge_add(w->dp->io_uring_workers, 1);
		}
	}
	/* Each filter kind's per-worker state, made in the thread that uses it. */
	for (unsigned i = 0; xm_filter_at(i); i++) {
		const struct xm_filter_ops *ops = xm_filter_at(i);
		if (ops->worker_init && ops->worker_init(&w->fw, &w->fw.state[i]) < 0) {
			char why[96];
			snprintf(why, sizeof(why), "%s: no memory for its worker state", ops->name);
			xm_event_post(w->dp->events, XM_EV_LOG, "worker", why);
		}
	}
	worker__sync_table(w);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		if (xm_loop_run_once(&w->loop, -1) < 0)
			break;
		w->turns++;
	}
	/* Shutdown: stop accepting, close every connection, let go of the table. */
	struct xm_table *t = w->table;
	if (t)
		for (uint32_t i = 0; i < t->nlisteners; i++)
			xm_listener_unwatch(t->listeners[i].l, &w->loop);
	while (!xm_link_empty(&w->fw.sessions)) {
		struct xm_session *s = xm_container_of(w->fw.sessions.next, struct xm_session, link);
		s->abort(s);
	}
	xm_loop_run_deferred(&w->loop);
	for (unsigned i = 0; xm_filter_at(i); i++)
		if (xm_filter_at(i)->worker_free)
			xm_filter_at(i)->worker_free(&w->fw, w->fw.state[i]);
	if (w->loop.ur) {
		xm_uring_free(w->loop.ur);
		w->loop.ur = NULL;
		xm_gauge_add(w->dp->io_uring_workers, -1);
	}
	__atomic_store_n(&w->table, NULL, __ATOMIC_RELEASE);
	return NULL;
}

int xm_worker_start(struct xm_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker__main, w);
	if (rc)
		return -rc;
	w->started = 1;
	return 0;
}

void xm_worker_wake(struct xm_worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wake.fd, &one, sizeof(one));
	(void)n;
}

void xm_worker_stop_join(struct xm_worker *w)
{
	if (!w->started)
		return;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	xm_worker_wake(w);
	pthread_join(w->thread, NULL);
	w->started = 0;
}

void xm_worker_destroy(struct xm_worker *w)
{
	xm_worker_stop_join(w);
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	xm_loop_close(&w->loop);
	w->wake.fd = -1;
}
