/* Tests for the log-linear histogram: bucket mapping, error bound, quantiles, concurrent recording. */
#include <math.h>
#include <pthread.h>

#include "stats/hist.h"
#include "xm.h"
#include "t.h"

static void test_bucket_table(void)
{
	static const struct {
		const char *desc;
		uint64_t v;
		unsigned bucket;
	} cases[] = {
		{ "zero is its own bucket", 0, 0 },
		{ "small values map 1:1", 7, 7 },
		{ "first log bucket is still exact", 8, 8 },
		{ "15 is exact", 15, 15 },
		{ "16 starts the 16..31 power", 16, 16 },
		{ "17 shares 16's sub-bucket (width 2)", 17, 16 },
		{ "18 is the next sub-bucket", 18, 17 },
		{ "31 is the last sub-bucket of its power", 31, 23 },
		{ "32 starts the next power", 32, 24 },
		{ "2^36-1 is the last bucket", (1ull << 36) - 1, XM_HIST_NBUCKETS - 1 },
		{ "2^36 clamps to the last bucket", 1ull << 36, XM_HIST_NBUCKETS - 1 },
		{ "UINT64_MAX clamps to the last bucket", UINT64_MAX, XM_HIST_NBUCKETS - 1 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		if (xm_hist_bucket(cases[i].v) != cases[i].bucket)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK_EQ(xm_hist_bucket(cases[i].v), cases[i].bucket);
	}
}

static void test_bucket_bounds(void)
{
	/* Every bucket's upper bound maps back to it, the next value to the next bucket, and
	 * the bucket's width is within 1/XM_HIST_SUB of its values. */
	for (unsigned b = 0; b + 1 < XM_HIST_NBUCKETS; b++) {
		uint64_t up = xm_hist_bucket_upper(b);
		T_CHECK_EQ(xm_hist_bucket(up), b);
		T_CHECK_EQ(xm_hist_bucket(up + 1), b + 1);
	}
	T_CHECK(xm_hist_bucket_upper(XM_HIST_NBUCKETS - 1) == UINT64_MAX);
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t v = x >> (x % 40 + 24); /* spread over magnitudes */
		if (xm_hist_bucket(v) == XM_HIST_NBUCKETS - 1)
			continue; /* open-ended last bucket: upper bound is UINT64_MAX */
		uint64_t up = xm_hist_bucket_upper(xm_hist_bucket(v));
		T_CHECK(up >= v);
		T_CHECK(up - v <= v / XM_HIST_SUB);
	}
}

static void test_quantile_known(void)
{
	static const struct {
		const char *desc;
		int dist; /* 0 uniform 1..N, 1 exponential mean 1000 */
		double q, expect;
	} cases[] = {
		{ "uniform p50", 0, 0.50, 50000 },
		{ "uniform p90", 0, 0.90, 90000 },
		{ "uniform p99", 0, 0.99, 99000 },
		{ "uniform p100 is the max", 0, 1.0, 100000 },
		{ "exponential p50 = ln2 * mean", 1, 0.50, 693.1 },
		{ "exponential p90", 1, 0.90, 2302.6 },
		{ "exponential p99", 1, 0.99, 4605.2 },
	};
	static struct xm_hist h[2];
	const int n = 100000;

	memset(h, 0, sizeof(h));
	for (int i = 1; i <= n; i++) {
		xm_hist_record(&h[0], (uint64_t)i);
		/* Inverse CDF on evenly spaced probabilities: exact known quantiles. */
		xm_hist_record(&h[1], (uint64_t)llround(-1000.0 * log(1.0 - (i - 0.5) / n)));
	}
	T_CHECK_EQ(h[0].count, n);
	T_CHECK_EQ(h[0].sum, (uint64_t)n * (n + 1) / 2);
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		double got = (double)xm_hist_quantile(&h[cases[i].dist], cases[i].q);
		/* The estimate is the bucket's upper bound: >= the true value (minus rounding of
		 * the sample), and at most 1/SUB above it. */
		int ok = got >= cases[i].expect - 1.5 && got <= cases[i].expect * (1.0 + 1.0 / XM_HIST_SUB) + 1.5;
		if (!ok)
			fprintf(stderr, "  case: %s: got %.0f expect %.1f\n", cases[i].desc, got, cases[i].expect);
		T_CHECK(ok);
	}
}

static void test_quantile_edges(void)
{
	struct xm_hist h;
	memset(&h, 0, sizeof(h));
	T_CHECK_EQ(xm_hist_quantile(&h, 0.5), 0);
	xm_hist_record(&h, 3);
	T_CHECK_EQ(xm_hist_quantile(&h, 0.0), 3);
	T_CHECK_EQ(xm_hist_quantile(&h, 1.0), 3);
	T_CHECK_EQ(xm_hist_quantile(&h, -1.0), 3);
	T_CHECK_EQ(xm_hist_quantile(&h, 2.0), 3);
	T_CHECK_EQ(xm_hist_quantile(&h, NAN), 3);
	xm_hist_record(&h, 1ull << 40);
	T_CHECK(xm_hist_quantile(&h, 1.0) == UINT64_MAX);
}

static struct xm_hist conc_h;
static void *conc_thread(void *arg)
{
	for (uint64_t i = 0; i < 100000; i++)
		xm_hist_record(&conc_h, i % 1000);
	return arg;
}

static void test_concurrent(void)
{
	pthread_t t[4];
	memset(&conc_h, 0, sizeof(conc_h));
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, conc_thread, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	uint64_t total = 0;
	for (unsigned b = 0; b < XM_HIST_NBUCKETS; b++)
		total += conc_h.buckets[b];
	T_CHECK_EQ(conc_h.count, 400000);
	T_CHECK_EQ(total, 400000);
	T_CHECK_EQ(conc_h.sum, 4ull * 100 * (999 * 1000 / 2));
}

T_MAIN_BEGIN
T_RUN("bucket index of known values", test_bucket_table);
T_RUN("bucket bounds round-trip and relative error <= 1/SUB", test_bucket_bounds);
T_RUN("quantiles of uniform and exponential data within bucket error", test_quantile_known);
T_RUN("quantile of empty, single value, clamped q, overflow bucket", test_quantile_edges);
T_RUN("concurrent recording loses no samples", test_concurrent);
T_MAIN_END
