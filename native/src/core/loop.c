/* The per-worker epoll loop and its timer wheel. */
#include "core/loop.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/uring.h"

#define LOOP__MAX_EVENTS 256

static void wheel__init(struct xm_wheel *wh);

int xm_loop_init(struct xm_loop *l, unsigned id)
{
	l->id = id;
	l->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(id + 1) * 0xBF58476D1CE4E5B9ull) ^ xm_now_us();
	/* Keep a few chunks warm; more come and go with load. */
	xm_pool_init(&l->pool, 64);
	xm_link_init(&l->batched);
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->now_ms = xm_now_ms();
	l->wheel_tick = l->now_ms / XM_WHEEL_TICK_MS;
	l->ntimers = 0;
	l->deferred = NULL;
	l->turn_end = NULL;
	l->ur = NULL;
	l->woke_us = 0;
	l->loop_duration = NULL;
	wheel__init(&l->near);
	wheel__init(&l->far);
	return 0;
}

void xm_loop_close(struct xm_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	l->epfd = l->reserve_fd = -1;
	xm_pool_destroy(&l->pool);
}

static int loop__ctl(struct xm_loop *l, int op, struct xm_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

int xm_io_add(struct xm_loop *l, struct xm_io *io, uint32_t events)
{
	int rc = loop__ctl(l, EPOLL_CTL_ADD, io, events);
	if (rc == 0) {
		io->mask = events;
		io->registered = 1;
	}
	return rc;
}

int xm_io_add_exclusive(struct xm_loop *l, struct xm_io *io)
{
	int rc = loop__ctl(l, EPOLL_CTL_ADD, io, EPOLLIN | EPOLLEXCLUSIVE);
	if (rc == 0) {
		io->mask = EPOLLIN;
		io->registered = 1;
	}
	return rc;
}

int xm_io_set(struct xm_loop *l, struct xm_io *io, uint32_t events)
{
	if (!io->registered)
		return xm_io_add(l, io, events);
	if (io->mask == events)
		return 0;
	int rc = loop__ctl(l, EPOLL_CTL_MOD, io, events);
	if (rc == 0)
		io->mask = events;
	return rc;
}

int xm_io_del(struct xm_loop *l, struct xm_io *io)
{
	if (!io->registered)
		return 0;
	io->registered = 0;
	io->mask = 0;
	return loop__ctl(l, EPOLL_CTL_DEL, io, 0);
}

static void wheel__init(struct xm_wheel *wh)
{
	for (unsigned i = 0; i < XM_WHEEL_SLOTS; i++)
		wh->slot[i].next = wh->slot[i].prev = &wh->slot[i];
	memset(wh->occupied, 0, sizeof(wh->occupied));
}

static void wheel__push(struct xm_wheel *wh, unsigned slot, struct xm_timer *t)
{
	struct xm_timer *head = &wh->slot[slot];
	wh->occupied[slot / 64] |= 1ull << (slot % 64);
	t->next = head->next;
	t->prev = head;
	head->next->prev = t;
	head->next = t;
}

/* Place t relative to wheel_tick (the last tick processed): in the near wheel when its tick
 * comes within one revolution, else in the far slot of its span, at most XM_WHEEL_SLOTS - 1
 * spans on (a later deadline is placed again when that slot cascades). */
static void timer__link(struct xm_loop *l, struct xm_timer *t)
{
	uint64_t tick = (t->deadline_ms + XM_WHEEL_TICK_MS - 1) / XM_WHEEL_TICK_MS;
	if (tick <= l->wheel_tick)
		tick = l->wheel_tick + 1;
	if (tick - l->wheel_tick <= XM_WHEEL_SLOTS) {
		wheel__push(&l->near, tick & (XM_WHEEL_SLOTS - 1), t);
		return;
	}
	uint64_t cur = (l->wheel_tick + 1) >> XM_WHEEL_BITS, span = tick >> XM_WHEEL_BITS;
	if (span - cur >= XM_WHEEL_SLOTS)
		span = cur + XM_WHEEL_SLOTS - 1;
	wheel__push(&l->far, span & (XM_WHEEL_SLOTS - 1), t);
}

void xm_timer_start(struct xm_loop *l, struct xm_timer *t, uint64_t after_ms)
{
	if (xm_timer_armed(t))
		xm_timer_stop(l, t);
	t->deadline_ms = l->now_ms + after_ms;
	timer__link(l, t);
	l->ntimers++;
}

void xm_timer_stop(struct xm_loop *l, struct xm_timer *t)
{
	if (!xm_timer_armed(t))
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = NULL;
	l->ntimers--;
}

/* Move every timer of list head (a slot) onto out, emptying the slot. */
static void timer__take(struct xm_timer *head, struct xm_timer *out)
{
	if (head->next == head)
		return;
	head->next->prev = out->prev;
	out->prev->next = head->next;
	head->prev->next = out;
	out->prev = head->prev;
	head->next = head->prev = head;
}

static void timer__relink_all(struct xm_loop *l, struct xm_timer *list)
{
	while (list->next != list) {
		struct xm_timer *t = list->next;
		list->next = t->next;
		t->next->prev = list;
		timer__link(l, t);
	}
}

/* The worker did not turn for more than a revolution (a stopped process, a long stall):
 * instead of walking every tick missed, place every timer again from now; the overdue land
 * in the next slot and fire in this pass. */
static void loop__rebase(struct xm_loop *l, uint64_t last)
{
	struct xm_timer all;
	all.next = all.prev = &all;
	for (unsigned i = 0; i < XM_WHEEL_SLOTS; i++) {
		timer__take(&l->near.slot[i], &all);
		timer__take(&l->far.slot[i], &all);
	}
	memset(l->near.occupied, 0, sizeof(l->near.occupied));
	memset(l->far.occupied, 0, sizeof(l->far.occupied));
	l->wheel_tick = last;
	timer__relink_all(l, &all);
}

/* Run every near slot between the last processed tick and now; at each span's first tick,
 * first cascade that span's far slot into the near wheel. */
void xm_loop_run_timers(struct xm_loop *l)
{
	uint64_t now_tick = l->now_ms / XM_WHEEL_TICK_MS;
	if (now_tick - l->wheel_tick > XM_WHEEL_SLOTS)
		loop__rebase(l, now_tick - 1);
	for (uint64_t tick = l->wheel_tick + 1; tick <= now_tick; tick++) {
		l->wheel_tick = tick - 1; /* timers started from here on are placed from this tick */
		if ((tick & (XM_WHEEL_SLOTS - 1)) == 0) {
			struct xm_timer moving;
			moving.next = moving.prev = &moving;
			timer__take(&l->far.slot[(tick >> XM_WHEEL_BITS) & (XM_WHEEL_SLOTS - 1)], &moving);
			timer__relink_all(l, &moving);
		}
		struct xm_timer *head = &l->near.slot[tick & (XM_WHEEL_SLOTS - 1)];
		struct xm_timer *t = head->next;
		while (t != head) {
			struct xm_timer *next = t->next;
			if (t->deadline_ms <= l->now_ms) {
				xm_timer_stop(l, t);
				/* The callback may stop/start other timers, including next: restart
				 * the scan of this slot from the head to stay safe. */
				t->cb(t);
				next = head->next;
			}
			t = next;
		}
	}
	l->wheel_tick = now_tick;
}

/* The first occupied slot of wh at or after position from (circular), clearing the bits of
 * slots found empty; its distance from `from`, or -1 when every slot is empty. */
static int wheel__next(struct xm_wheel *wh, uint64_t from)
{
	for (unsigned k = 0; k < XM_WHEEL_SLOTS;) {
		unsigned slot = (unsigned)((from + k) & (XM_WHEEL_SLOTS - 1));
		uint64_t word = wh->occupied[slot / 64] >> (slot % 64);
		if (!word) {
			k += 64 - slot % 64; /* rest of this word is empty */
			continue;
		}
		unsigned skip = (unsigned)__builtin_ctzll(word);
		k += skip;
		if (k >= XM_WHEEL_SLOTS)
			break;
		slot += skip;
		if (wh->slot[slot].next == &wh->slot[slot]) {
			wh->occupied[slot / 64] &= ~(1ull << (slot % 64)); /* emptied by xm_timer_stop */
			k++;
			continue;
		}
		return (int)k;
	}
	return -1;
}

/* Milliseconds until the next occupied near slot is due or the next occupied far slot
 * cascades, whichever comes first; -1 with no timer armed. */
int xm_loop_timer_timeout(struct xm_loop *l)
{
	if (l->ntimers == 0)
		return -1;
	uint64_t due_tick = UINT64_MAX;
	uint64_t first = l->wheel_tick + 1;
	int k = wheel__next(&l->near, first);
	if (k >= 0)
		due_tick = first + (uint64_t)k;
	/* A span's far slot cascades at the span's first tick: look from the first span that
	 * begins at or after the next tick (earlier ones have cascaded). */
	uint64_t span = (first + XM_WHEEL_SLOTS - 1) >> XM_WHEEL_BITS;
	k = wheel__next(&l->far, span);
	if (k >= 0 && ((span + (uint64_t)k) << XM_WHEEL_BITS) < due_tick)
		due_tick = (span + (uint64_t)k) << XM_WHEEL_BITS;
	if (due_tick == UINT64_MAX)
		return -1; /* unreachable while ntimers > 0: every armed timer sits in an occupied slot */
	uint64_t due_ms = due_tick * XM_WHEEL_TICK_MS;
	if (due_ms <= l->now_ms)
		return 0;
	uint64_t wait = due_ms - l->now_ms;
	return wait > INT32_MAX ? INT32_MAX : (int)wait;
}

void xm_loop_run_deferred(struct xm_loop *l)
{
	while (l->deferred) {
		struct xm_defer *d = l->deferred;
		l->deferred = d->next;
		d->cb(d);
	}
}

int xm_loop_epoll_dispatch(struct xm_loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP__MAX_EVENTS];

	int n = epoll_wait(l->epfd, evs, LOOP__MAX_EVENTS, timeout_ms);
	int err = errno;
	l->now_ms = xm_now_ms();
	l->woke_us = xm_now_us();
	if (n < 0)
		return err == EINTR ? 0 : -err;
	for (int i = 0; i < n; i++) {
		struct xm_io *io = evs[i].data.ptr;
		io->cb(io, evs[i].events);
	}
	return n;
}

int xm_loop_run_once(struct xm_loop *l, int max_wait_ms)
{
	int timeout = max_wait_ms;

	int due = xm_loop_timer_timeout(l);
	if (l->ur && xm_uring_retry_pending(l->ur) && (due < 0 || due > (int)XM_WHEEL_TICK_MS))
		due = XM_WHEEL_TICK_MS;
	if (due >= 0 && (timeout < 0 || timeout > due))
		timeout = due;
	int n = l->ur && xm_uring_busy(l->ur) ? xm_uring_run(l->ur, l, timeout) : xm_loop_epoll_dispatch(l, timeout);
	if (n < 0)
		return n;
	/* Timers before the turn's end: what their callbacks write (a timeout answer, a retry)
	 * is batched like any other output and must go out in this turn, not whenever the loop
	 * next wakes. Objects closed so far are freed after both (deferred). */
	if (l->ntimers > 0)
		xm_loop_run_timers(l);
	else
		l->wheel_tick = l->now_ms / XM_WHEEL_TICK_MS;
	if (l->turn_end)
		l->turn_end(l);
	xm_loop_run_deferred(l);
	/* Atomic adds, not a single writer's stores: during a hot restart the old and the new
	 * process's worker N record into the same histogram of the shared stats block. */
	if (l->loop_duration)
		xm_hist_record(l->loop_duration, xm_now_us() - l->woke_us);
	return n;
}
