/* The rare-event queue from workers to the control core, plus the assert hook. */
#ifndef XM_EVENT_H
#define XM_EVENT_H

#include "xm.h"

struct xm_event {
	enum xm_event_kind kind;
	char subject[160];
	char detail[160];
};

/* Called (from any thread, outside the queue lock) when the queue goes from empty to
 * non-empty; the N-API glue points it at a threadsafe-function call. May be NULL. */
typedef void (*xm_event_notify_fn)(void *ctx);

/* One queue per data plane. Bounded: a storm drops (and counts) instead of growing. */
int xm_events_new(struct xm_events **out, unsigned capacity, xm_event_notify_fn fn, void *ctx);
void xm_events_free(struct xm_events *q);
/* Detach the notify hook (before the threadsafe function is released). */
void xm_events_set_notify(struct xm_events *q, xm_event_notify_fn fn, void *ctx);
/* Move up to max queued events into out; returns how many. */
unsigned xm_events_drain(struct xm_events *q, struct xm_event *out, unsigned max);
uint64_t xm_events_dropped(struct xm_events *q);

#endif
