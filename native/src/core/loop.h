/* One epoll event loop per worker thread, with a hashed timer wheel and an eventfd wakeup. */
#ifndef XM_LOOP_H
#define XM_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#include "core/buf.h"
#include "core/list.h"
#include "stats/hist.h"
#include "xm.h"

/*
 * Level-triggered epoll. Why not edge-triggered: with ET every readable event must be
 * drained until EAGAIN, which costs one extra read() per request on a request/response
 * connection (the read that returns EAGAIN). With LT a connection reads until a read
 * comes back short (usually the first; at most 4 chunks per event, see conn.c), never
 * waiting for EAGAIN, and only pays epoll_ctl when interest really changes (backpressure,
 * connect completion), which the connection layer tracks in xm_io.mask so no redundant
 * epoll_ctl is ever issued.
 */
struct xm_io;
typedef void (*xm_io_cb)(struct xm_io *io, uint32_t revents);

struct xm_io {
	int fd;
	uint32_t mask;     /* events currently registered (0 = registered with no interest) */
	int registered;
	xm_io_cb cb;
};

struct xm_timer;
typedef void (*xm_timer_cb)(struct xm_timer *t);

struct xm_timer {
	struct xm_timer *next, *prev; /* wheel slot list; prev == NULL when not armed */
	uint64_t deadline_ms;
	xm_timer_cb cb;
};

/* Objects closed while an epoll batch is being dispatched may still have events later in
 * the same batch: they are freed through a deferred list run after the batch. */
struct xm_defer;
typedef void (*xm_defer_cb)(struct xm_defer *d);
struct xm_defer {
	struct xm_defer *next;
	xm_defer_cb cb;
};

/* Timers sit in two hashed wheels of XM_WHEEL_SLOTS slots. The near wheel has one slot
 * per tick (8 ms: 4.096 s around); the far wheel one per near revolution (4.096 s: ~35 min
 * around). A far slot is moved into the near wheel (cascaded) when its span begins; a
 * deadline beyond the far wheel waits in its last slot and is placed again from there. */
#define XM_WHEEL_BITS 9
#define XM_WHEEL_SLOTS (1u << XM_WHEEL_BITS)
#define XM_WHEEL_TICK_MS 8u  /* resolution: timers fire within one tick after their deadline */
#define XM_WHEEL_WORDS (XM_WHEEL_SLOTS / 64)

/* One wheel: slot sentinels and a bit per slot, set when a timer is linked in and cleared
 * lazily once the slot is found empty, so the loop sleeps until the next occupied slot. */
struct xm_wheel {
	struct xm_timer slot[XM_WHEEL_SLOTS];
	uint64_t occupied[XM_WHEEL_WORDS];
};

/* One per worker thread: everything below the worker that is per-thread lives here (the
 * connection layer and filters reach it through their connection's loop, never through the
 * worker), so lower layers need not know what a worker is. */
struct xm_loop {
	int epfd;
	unsigned id;                   /* the worker's index: per-worker slots (LB state, table refs) */
	uint64_t rng;                  /* xorshift state (weighted picks, random LB keys) */
	struct xm_pool pool;           /* this thread's chunks */
	struct xm_link batched;        /* connections with batched output to flush at the turn's end */
	int reserve_fd;                /* spare fd a listener releases to shed a connection on EMFILE */
	uint64_t now_ms;               /* cached at the top of each turn */
	uint64_t wheel_tick;           /* last tick processed */
	uint32_t ntimers;
	struct xm_defer *deferred;
	/* Called once per turn after the I/O callbacks and the due timers, before deferred frees: the worker
	 * flushes connections whose output was batched during the turn. */
	void (*turn_end)(struct xm_loop *l);
	/* The io_uring backend (uring.h) when the worker runs one: the loop then sleeps in the
	 * ring, which watches epfd for the fds still on epoll. NULL: plain epoll. */
	struct xm_uring *ur;
	struct xm_wheel near, far;
	/* When the turn's wait returned (us), and where the turn's duration from there to the
	 * next wait is recorded (a worker's dataplane.worker.{worker=N}.loop_duration_ms;
	 * NULL: not recorded). */
	uint64_t woke_us;
	struct xm_hist *loop_duration;
};

/* id: the worker's index (also seeds rng). */
int xm_loop_init(struct xm_loop *l, unsigned id);
void xm_loop_close(struct xm_loop *l);

static inline uint64_t xm_loop_rand(struct xm_loop *l)
{
	uint64_t x = l->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return l->rng = x;
}

/* Register / change / remove interest. xm_io_set is a no-op when the mask is unchanged. */
int xm_io_add(struct xm_loop *l, struct xm_io *io, uint32_t events);
int xm_io_add_exclusive(struct xm_loop *l, struct xm_io *io); /* EPOLLIN|EPOLLEXCLUSIVE, for shared listeners */
int xm_io_set(struct xm_loop *l, struct xm_io *io, uint32_t events);
int xm_io_del(struct xm_loop *l, struct xm_io *io);

static inline void xm_timer_init(struct xm_timer *t, xm_timer_cb cb) { t->next = t->prev = NULL, t->cb = cb; }
static inline int xm_timer_armed(const struct xm_timer *t) { return t->prev != NULL; }
void xm_timer_start(struct xm_loop *l, struct xm_timer *t, uint64_t after_ms);
void xm_timer_stop(struct xm_loop *l, struct xm_timer *t);

static inline void xm_loop_defer(struct xm_loop *l, struct xm_defer *d, xm_defer_cb cb)
{
	d->cb = cb;
	d->next = l->deferred;
	l->deferred = d;
}
/* Run deferred callbacks now (also done at the end of every turn). */
void xm_loop_run_deferred(struct xm_loop *l);
/* Milliseconds until the timer wheels next need a turn (0: now), -1 with no timer armed. */
int xm_loop_timer_timeout(struct xm_loop *l);
/* Fire every timer due at l->now_ms (a turn does this; tests drive it with their own clock). */
void xm_loop_run_timers(struct xm_loop *l);

/* epoll_wait for at most timeout_ms and run the callbacks of what fired; returns how many
 * (the io_uring backend calls this when epfd is readable). */
int xm_loop_epoll_dispatch(struct xm_loop *l, int timeout_ms);

/* Wait for events (at most max_wait_ms, or until the next timer), dispatch them, run due
 * timers, then the turn's end (batched output) and deferred frees. Returns the number of
 * I/O events or -errno. */
int xm_loop_run_once(struct xm_loop *l, int max_wait_ms);

#endif
