/* Log-linear latency histogram living in the shared stats block: lock-free record, exact merge. */
#ifndef XM_HIST_H
#define XM_HIST_H

#include <stdint.h>

/* Values are microseconds. Bucket layout: values 0..XM_HIST_SUB-1 map 1:1; above that,
 * each power of two is split into XM_HIST_SUB linear sub-buckets (relative error
 * <= 1/XM_HIST_SUB). Values >= 2^XM_HIST_MAX_EXP us land in the last bucket. */
#define XM_HIST_SUB_BITS 3
#define XM_HIST_SUB (1u << XM_HIST_SUB_BITS)
#define XM_HIST_MAX_EXP 36 /* ~19 hours */
#define XM_HIST_NBUCKETS ((XM_HIST_MAX_EXP - XM_HIST_SUB_BITS + 1) * XM_HIST_SUB)

struct xm_hist {
	uint64_t count;
	uint64_t sum;                      /* sum of recorded values, us */
	uint64_t buckets[XM_HIST_NBUCKETS];
};

/* Record one value. Safe from any thread (relaxed atomics). */
void xm_hist_record(struct xm_hist *h, uint64_t value_us);
/* Bucket index for a value, and the inclusive upper bound (us) of a bucket. */
unsigned xm_hist_bucket(uint64_t value_us);
uint64_t xm_hist_bucket_upper(unsigned idx);
/* Quantile q in [0,1] estimated from a snapshot of the buckets (upper bound of the bucket
 * holding the q-th value). Returns 0 for an empty histogram. */
uint64_t xm_hist_quantile(const struct xm_hist *h, double q);

#endif
