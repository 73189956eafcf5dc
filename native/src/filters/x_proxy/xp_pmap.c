/* The pending map of a multiplexed upstream connection: request id on that connection -> request in flight.
 * Open addressing with linear probing and backward-shift deletion; ids are spread by a Fibonacci hash. */
#include <errno.h>
#include <stdlib.h>

#include "filters/x_proxy/xp_int.h"

static uint32_t xp__slot(const struct xp_pmap *m, uint64_t id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

struct xp_rq *xp_pmap_get(const struct xp_pmap *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (uint32_t i = xp__slot(m, id);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == id)
			return m->vals[i];
	}
}


static int xp__pmap_grow(struct xp_pmap *m)
{
	struct xp_pmap nm = { .cap = m->cap ? m->cap * 2 : 64 };
	nm.keys = calloc(nm.cap, sizeof(*nm.keys));
	nm.vals = calloc(nm.cap, sizeof(*nm.vals));
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->vals[i])
			xp_pmap_put(&nm, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

int xp_pmap_put(struct xp_pmap *m, uint64_t id, struct xp_rq *rq)
{
	if ((m->n + 1) * 2 > m->cap && xp__pmap_grow(m) < 0)
		return -ENOMEM;
	uint32_t i = xp__slot(m, id);
	while (m->vals[i])
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = id;
	m->vals[i] = rq;
	m->n++;
	return 0;
}

/* Remove with backward-shift deletion (no tombstones). */
void xp_pmap_del(struct xp_pmap *m, uint64_t id)
{
	if (!m->cap)
		return; /* never used (or detached by a closing connection): no table to probe */
	uint32_t i = xp__slot(m, id);
	while (m->vals[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	if (!m->vals[i])
		return;
	m->vals[i] = NULL;
	m->n--;
	for (uint32_t j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
		uint32_t home = xp__slot(m, m->keys[j]);
		/* Move j back to i if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = NULL;
			i = j;
		}
	}
}
