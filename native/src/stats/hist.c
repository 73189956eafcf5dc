/* Log-linear latency histogram: bucket mapping, lock-free recording and quantile estimates. */
#include "stats/hist.h"

#include "xm.h"

/* Index of the last bucket; it also absorbs every value >= 2^XM_HIST_MAX_EXP. */
#define HIST__LAST (XM_HIST_NBUCKETS - 1u)

unsigned xm_hist_bucket(uint64_t v)
{
	unsigned e, sub;

	if (v < XM_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* floor(log2 v) >= XM_HIST_SUB_BITS */
	if (e >= XM_HIST_MAX_EXP)
		return HIST__LAST;
	/* The XM_HIST_SUB_BITS bits below the leading one pick the linear sub-bucket. */
	sub = (unsigned)(v >> (e - XM_HIST_SUB_BITS)) & (XM_HIST_SUB - 1u);
	return (e - XM_HIST_SUB_BITS + 1u) * XM_HIST_SUB + sub;
}

uint64_t xm_hist_bucket_upper(unsigned idx)
{
	unsigned e, sub;
	uint64_t width;

	if (idx < XM_HIST_SUB)
		return idx;
	if (idx >= HIST__LAST)
		return UINT64_MAX; /* open-ended: holds everything that did not fit below */
	e = idx / XM_HIST_SUB + XM_HIST_SUB_BITS - 1u;
	sub = idx % XM_HIST_SUB;
	width = 1ull << (e - XM_HIST_SUB_BITS);
	return ((uint64_t)(XM_HIST_SUB + sub) << (e - XM_HIST_SUB_BITS)) + width - 1u;
}

void xm_hist_record(struct xm_hist *h, uint64_t value_us)
{
	xm_atomic_add(&h->buckets[xm_hist_bucket(value_us)], 1);
	xm_atomic_add(&h->count, 1);
	xm_atomic_add(&h->sum, value_us);
}

uint64_t xm_hist_quantile(const struct xm_hist *h, double q)
{
	uint64_t snap[XM_HIST_NBUCKETS];
	uint64_t total = 0, rank, seen = 0;
	unsigned i;

	/* Work on one snapshot of the buckets: writers keep recording meanwhile, and the rank
	 * must be computed against the same numbers that are walked. */
	for (i = 0; i < XM_HIST_NBUCKETS; i++) {
		snap[i] = xm_atomic_load(&h->buckets[i]);
		total += snap[i];
	}
	if (total == 0)
		return 0;
	if (!(q > 0.0))
		q = 0.0; /* also catches NaN */
	if (q > 1.0)
		q = 1.0;
	/* The q-th value is the ceil(q * total)-th smallest (at least the first). */
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > total)
		rank = total;
	for (i = 0; i < XM_HIST_NBUCKETS; i++) {
		seen += snap[i];
		if (seen >= rank)
			return xm_hist_bucket_upper(i);
	}
	return xm_hist_bucket_upper(HIST__LAST);
}
