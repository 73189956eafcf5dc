/* Log-linear latency histogram for the load generator (HDR-like: <1% relative error). */
#ifndef XB_HIST_H
#define XB_HIST_H

#include <stdint.h>
#include <string.h>

/* Values in ns. Below 2^SUB_BITS values map 1:1; each power of two above is split into
 * 2^SUB_BITS linear sub-buckets, so a bucket is at most 1/128 of its value wide. */
#define XB_HIST_SUB_BITS 7
#define XB_HIST_SUB (1u << XB_HIST_SUB_BITS)
#define XB_HIST_MAX_EXP 40 /* 2^40 ns ~ 18 minutes; larger values land in the last bucket */
#define XB_HIST_N ((XB_HIST_MAX_EXP - XB_HIST_SUB_BITS + 1) * XB_HIST_SUB)

struct xb_hist {
	uint64_t count, max;
	uint64_t b[XB_HIST_N];
};

static inline unsigned xb_hist_idx(uint64_t v)
{
	if (v < XB_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb >= XB_HIST_MAX_EXP)
		return XB_HIST_N - 1;
	unsigned shift = msb - XB_HIST_SUB_BITS;
	unsigned sub = (unsigned)(v >> shift) & (XB_HIST_SUB - 1);
	return (shift + 1) * XB_HIST_SUB + sub;
}

/* Midpoint of a bucket's value range (the estimate reported for a quantile).
 * bench/lib/loadgen.ts ports this and xb_hist_quantile to pool `xload --hist` output of
 * several runs: keep the two in step. */
static inline double xb_hist_value(unsigned idx)
{
	if (idx < XB_HIST_SUB)
		return idx;
	unsigned shift = idx / XB_HIST_SUB - 1;
	uint64_t sub = idx % XB_HIST_SUB;
	uint64_t lo = (XB_HIST_SUB + sub) << shift;
	uint64_t width = 1ull << shift;
	return (double)lo + (double)(width - 1) / 2.0;
}

static inline void xb_hist_record(struct xb_hist *h, uint64_t v)
{
	h->b[xb_hist_idx(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static inline double xb_hist_quantile(const struct xb_hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < XB_HIST_N; i++) {
		seen += h->b[i];
		if (seen > rank)
			return xb_hist_value(i) > (double)h->max ? (double)h->max : xb_hist_value(i);
	}
	return (double)h->max;
}

#endif
