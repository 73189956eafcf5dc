/* Common definitions for the xmesh native data plane: branch hints, time, errors, logging hooks. */
#ifndef XM_H
#define XM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define xm_likely(x) __builtin_expect(!!(x), 1)
#define xm_unlikely(x) __builtin_expect(!!(x), 0)
#define xm_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define XM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define XM_CACHELINE 64

/* Invariant violations are programming errors: abort loudly, in every build. */
#define xm_assert(cond)                                                                    \
	do {                                                                               \
		if (xm_unlikely(!(cond)))                                                  \
			xm__assert_fail(#cond, __FILE__, __LINE__);                        \
	} while (0)
void xm__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Relaxed atomics for statistics and shared host state: single instructions, no ordering. */
#define xm_atomic_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define xm_atomic_sub(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define xm_atomic_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define xm_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Monotonic clock in ms / us. CLOCK_MONOTONIC_COARSE is enough for timers (4 ms tick). */
static inline uint64_t xm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t xm_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wall clock in ms, for access logs. */
static inline uint64_t xm_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Rare events (listener failed, host ejected, ...) go to the control core through one
 * queue drained by a single threadsafe function. Never call on a per-request path. */
enum xm_event_kind {
	XM_EV_LOG = 0,         /* free-form warning from a worker */
	XM_EV_LISTENER_ERROR,  /* a listener stopped accepting: subject = listener name */
	XM_EV_HOST_EJECTED,    /* outlier detection ejected a host: subject = cluster/host */
	XM_EV_HOST_UNEJECTED,
	XM_EV_TABLE_RELEASED,  /* a worker let go of a retired table: the control side may free it (xm_dp_reclaim) */
};
struct xm_events;
void xm_event_post(struct xm_events *q, enum xm_event_kind kind, const char *subject, const char *detail);

#endif
