/* The shared-memory statistics block: counters, gauges and histograms that survive hot restart. */
#ifndef XM_STATS_H
#define XM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "stats/hist.h"

/*
 * The block is a file (normally /dev/shm/xmesh-<instance>.stats) mapped MAP_SHARED, so a
 * later process (hot restart, or `xmesh stats` tooling) can map the same counters.
 * Layout: a header, then append-only variable-length records, each { header, key, value }.
 * Values are 8-byte aligned and updated with relaxed atomics by any worker.
 *
 * Keys are templates that carry their own Prometheus labels:
 *     "cluster.{cluster=backend}.upstream_cx_total"
 *     "cluster.{cluster=backend}.host.{host=127.0.0.1:8080}.cx_active"
 * Envoy-style name = the template with each {k=v} replaced by v; Prometheus family = the
 * template with {..} segments removed and '.' -> '_'; labels = the k=v pairs. A label
 * value must not contain '}' (callers replace it with '_').
 *
 * Creating entries (xm_stats_counter/gauge/hist) and iterating take an internal mutex
 * and are for the control side (snapshot build, admin export) only; workers only touch
 * the returned value pointers. Entries are never freed; asking again for a key returns
 * the same value (so a swapped-in snapshot continues the old counters).
 */

enum xm_stat_type {
	XM_STAT_COUNTER = 1,
	XM_STAT_GAUGE = 2,
	XM_STAT_HIST = 3,
};

struct xm_stats;

/* Open (create or re-map) the block at path with the given capacity in bytes (the file is
 * sparse; pages are touched as entries are added). If path is NULL an anonymous memfd
 * is used. An existing file with a matching magic/version is adopted with its entries.
 * Returns 0 or -errno. */
int xm_stats_open(struct xm_stats **out, const char *path, size_t capacity);
void xm_stats_close(struct xm_stats *s);

/* Find or create. Returns NULL only if the block is full (then a per-block overflow
 * counter is incremented and the caller must use a dummy slot: see xm_stats_dummy*). */
uint64_t *xm_stats_counter(struct xm_stats *s, const char *key);
/* Entries that did not fit (stats.overflow_total) and the first of their keys, copied into
 * key (empty when none did). */
uint64_t xm_stats_overflow(struct xm_stats *s, char *key, size_t keylen);
int64_t *xm_stats_gauge(struct xm_stats *s, const char *key);
struct xm_hist *xm_stats_hist(struct xm_stats *s, const char *key);

/* Batch creation (control side, e.g. around a snapshot build that registers thousands of
 * entries): between begin and end the block's file lock is taken once, at the first
 * append, and held until end, instead of one flock()/unlock pair per new entry. Each entry
 * is still published on its own (release store of `used`), so readers in this or another
 * process see it at once; another process that wants to *append* (or open the block) waits
 * for end. Calls nest; every begin needs its end. */
void xm_stats_batch_begin(struct xm_stats *s);
void xm_stats_batch_end(struct xm_stats *s);

/* Same, but formatted: xm_stats_counterf(s, "cluster.{cluster=%s}.cx_total", name). Label
 * values passed through %s are sanitised ('}' -> '_'). Never returns NULL: on overflow a
 * process-local dummy slot is returned so callers need no checks. */
uint64_t *xm_stats_counterf(struct xm_stats *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t *xm_stats_gaugef(struct xm_stats *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct xm_hist *xm_stats_histf(struct xm_stats *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Iterate every entry (control side). The callback gets a pointer to the live value:
 * uint64_t* for counters, int64_t* for gauges, struct xm_hist* for histograms. Return
 * non-zero from cb to stop. */
typedef int (*xm_stats_visit_fn)(void *ctx, enum xm_stat_type type, const char *key, const void *value);
int xm_stats_foreach(struct xm_stats *s, xm_stats_visit_fn cb, void *ctx);

/* Bytes used / capacity, and the path of the backing file ("" for memfd). */
size_t xm_stats_used(const struct xm_stats *s);
size_t xm_stats_capacity(const struct xm_stats *s);
const char *xm_stats_path(const struct xm_stats *s);

static inline void xm_stat_inc(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline void xm_stat_add(uint64_t *c, uint64_t v) { __atomic_fetch_add(c, v, __ATOMIC_RELAXED); }
static inline void xm_gauge_add(int64_t *g, int64_t v) { __atomic_fetch_add(g, v, __ATOMIC_RELAXED); }
static inline void xm_gauge_set(int64_t *g, int64_t v) { __atomic_store_n(g, v, __ATOMIC_RELAXED); }

#endif
