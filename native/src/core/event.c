/* The rare-event queue: a bounded ring under a mutex, never touched on a per-request path. */
#include "core/event.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct xm_events {
	pthread_mutex_t lock;
	unsigned head, len, cap;
	uint64_t dropped;
	xm_event_notify_fn notify;
	void *notify_ctx;
	struct xm_event ring[];
};

void xm__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "xmesh: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

int xm_events_new(struct xm_events **out, unsigned capacity, xm_event_notify_fn fn, void *ctx)
{
	struct xm_events *q = calloc(1, sizeof(*q) + (size_t)capacity * sizeof(q->ring[0]));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	q->cap = capacity;
	q->notify = fn;
	q->notify_ctx = ctx;
	*out = q;
	return 0;
}

void xm_events_free(struct xm_events *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q);
}

void xm_events_set_notify(struct xm_events *q, xm_event_notify_fn fn, void *ctx)
{
	pthread_mutex_lock(&q->lock);
	q->notify = fn;
	q->notify_ctx = ctx;
	pthread_mutex_unlock(&q->lock);
}

void xm_event_post(struct xm_events *q, enum xm_event_kind kind, const char *subject, const char *detail)
{
	xm_event_notify_fn fn = NULL;
	void *ctx = NULL;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	if (q->len == q->cap) {
		q->dropped++;
	} else {
		struct xm_event *e = &q->ring[(q->head + q->len) % q->cap];
		e->kind = kind;
		snprintf(e->subject, sizeof(e->subject), "%s", subject ? subject : "");
		snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
		if (q->len++ == 0) {
			fn = q->notify;
			ctx = q->notify_ctx;
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (fn)
		fn(ctx);
}

unsigned xm_events_drain(struct xm_events *q, struct xm_event *out, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&q->lock);
	while (n < max && q->len > 0) {
		out[n++] = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t xm_events_dropped(struct xm_events *q)
{
	pthread_mutex_lock(&q->lock);
	uint64_t d = q->dropped;
	pthread_mutex_unlock(&q->lock);
	return d;
}
