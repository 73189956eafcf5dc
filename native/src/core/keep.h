/* Objects kept for the data plane's whole life by (kind, key): persistent stats groups, access-log sinks, interned codecs. */
#ifndef XM_KEEP_H
#define XM_KEEP_H

#include <stddef.h>

/*
 * Why: counters must outlive the tables that name them (a swap never resets a stat), so each
 * filter keeps its stats objects by stat_prefix, its access-log sinks by path, and so on.
 * This is the one find-or-create for all of them. Control side only: callers hold the data
 * plane's lock (table builds are serialised), so it takes none of its own.
 */
struct xm_keep;

struct xm_keep_kind {
	const char *name;                                    /* for diagnostics */
	/* Make the object for key (klen bytes, may hold NULs); NULL on failure, err set. */
	void *(*make)(void *ctx, const char *key, size_t klen, char *err, size_t errlen);
	void (*free)(void *obj);                             /* at xm_keep_free; may be NULL */
};

int xm_keep_new(struct xm_keep **out);
/* The object of kind under key: found, or made with kind->make(ctx, ...) and kept. NULL when
 * make failed (err says why) or on ENOMEM. */
void *xm_keep_get(struct xm_keep *k, const struct xm_keep_kind *kind, const char *key, size_t klen, void *ctx,
		  char *err, size_t errlen);
/* Free every object (each by its kind's free), then the store. */
void xm_keep_free(struct xm_keep *k);

#endif
