/* Epochs of a published object (the routing table): which workers still use it, so the control side frees it only once none does. */
#ifndef XM_EPOCH_H
#define XM_EPOCH_H

#include <stdint.h>

#include "xm.h"

/*
 * A worker moves to a new table at once, but a session may keep using what it started on
 * (a tcp_proxy connect in progress holds its cluster view): it takes a reference in its
 * worker's slot. Each slot is written by its worker only (plain stores, no read-modify-write
 * between threads) and padded to a cache line.
 */
struct xm_epoch_wref {
	int64_t n;
	char pad[XM_CACHELINE - sizeof(int64_t)];
};

struct xm_epoch {
	uint64_t gen;                 /* unique per data plane: a freed object's address may come back, its gen never does */
	unsigned nworkers;
	struct xm_epoch_wref *wrefs;  /* nworkers slots */
};

static inline void xm_epoch_ref(struct xm_epoch *e, unsigned worker)
{
	xm_atomic_store(&e->wrefs[worker].n, e->wrefs[worker].n + 1);
}
static inline void xm_epoch_unref(struct xm_epoch *e, unsigned worker)
{
	xm_atomic_store(&e->wrefs[worker].n, e->wrefs[worker].n - 1);
}
/* Does any worker's session still hold it? (Control side; the worker itself has moved on.) */
static inline int xm_epoch_held(const struct xm_epoch *e)
{
	for (unsigned i = 0; i < e->nworkers; i++)
		if (xm_atomic_load(&e->wrefs[i].n) != 0)
			return 1;
	return 0;
}

#endif
