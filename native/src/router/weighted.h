/* Weighted picks over cumulative weights: tcp_proxy weighted clusters and L7 routes' weighted clusters. */
#ifndef XM_WEIGHTED_H
#define XM_WEIGHTED_H

#include <stdint.h>

#include "core/loop.h"

/* Index of the weighted entry for r in [0, wcum[n-1]) (binary search over cumulative weights). */
static inline uint32_t xm_weighted_index(const uint32_t *wcum, uint32_t n, uint32_t r)
{
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (r < wcum[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* A random weighted index with the loop's generator. */
static inline uint32_t xm_weighted_pick(struct xm_loop *l, const uint32_t *wcum, uint32_t n)
{
	return xm_weighted_index(wcum, n, (uint32_t)(xm_loop_rand(l) % wcum[n - 1]));
}

#endif
