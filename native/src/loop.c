/* The per-worker epoll loop and its timer wheel. */
#include "loop.h"

#include <string.h>
#include <unistd.h>

#include "uring.h"

#define LOOP__MAX_EVENTS 256

int xm_loop_init(struct xm_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->now_ms = xm_now_ms();
	l->wheel_tick = l->now_ms / XM_WHEEL_TICK_MS;
	l->ntimers = 0;
	l->deferred = NULL;
	l->turn_end = NULL;
	l->ur = NULL;
	for (unsigned i = 0; i < XM_WHEEL_SLOTS; i++) {
		l->wheel[i].next = l->wheel[i].prev = &l->wheel[i];
	}
	memset(l->occupied, 0, sizeof(l->occupied));
	return 0;
}

void xm_loop_close(struct xm_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
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

static void timer__link(struct xm_loop *l, struct xm_timer *t)
{
	uint64_t tick = (t->deadline_ms + XM_WHEEL_TICK_MS - 1) / XM_WHEEL_TICK_MS;
	if (tick <= l->wheel_tick)
		tick = l->wheel_tick + 1;
	unsigned slot = tick & (XM_WHEEL_SLOTS - 1);
	struct xm_timer *head = &l->wheel[slot];
	l->occupied[slot / 64] |= 1ull << (slot % 64);
	t->next = head->next;
	t->prev = head;
	head->next->prev = t;
	head->next = t;
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

/* Run every slot between the last processed tick and now. A timer whose deadline lies
 * further than one revolution stays in its slot until a later pass. */
static void loop__run_timers(struct xm_loop *l)
{
	uint64_t now_tick = l->now_ms / XM_WHEEL_TICK_MS;
	uint64_t last = l->wheel_tick;
	if (now_tick - last > XM_WHEEL_SLOTS)
		last = now_tick - XM_WHEEL_SLOTS;
	for (uint64_t tick = last + 1; tick <= now_tick; tick++) {
		struct xm_timer *head = &l->wheel[tick & (XM_WHEEL_SLOTS - 1)];
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

/* Milliseconds until the first occupied slot after the last processed tick is due, or -1
 * with no timer armed. A slot holding only timers a revolution or more away (deadlines past
 * XM_WHEEL_SLOTS * XM_WHEEL_TICK_MS) still wakes the loop once per revolution. */
int xm_loop_timer_timeout(struct xm_loop *l)
{
	if (l->ntimers == 0)
		return -1;
	uint64_t first = l->wheel_tick + 1;
	for (unsigned k = 0; k < XM_WHEEL_SLOTS;) {
		unsigned slot = (unsigned)((first + k) & (XM_WHEEL_SLOTS - 1));
		uint64_t word = l->occupied[slot / 64] >> (slot % 64);
		if (!word) {
			k += 64 - slot % 64; /* rest of this word is empty */
			continue;
		}
		unsigned skip = (unsigned)__builtin_ctzll(word);
		k += skip;
		if (k >= XM_WHEEL_SLOTS)
			break;
		slot += skip;
		struct xm_timer *head = &l->wheel[slot];
		if (head->next == head) {
			l->occupied[slot / 64] &= ~(1ull << (slot % 64)); /* emptied by xm_timer_stop */
			k++;
			continue;
		}
		uint64_t due_ms = (first + k) * XM_WHEEL_TICK_MS;
		if (due_ms <= l->now_ms)
			return 0;
		uint64_t wait = due_ms - l->now_ms;
		return wait > INT32_MAX ? INT32_MAX : (int)wait;
	}
	return -1; /* unreachable while ntimers > 0: every armed timer sits in an occupied slot */
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
		loop__run_timers(l);
	else
		l->wheel_tick = l->now_ms / XM_WHEEL_TICK_MS;
	if (l->turn_end)
		l->turn_end(l);
	xm_loop_run_deferred(l);
	return n;
}
