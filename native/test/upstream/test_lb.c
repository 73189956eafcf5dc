/* Tests for host selection: every policy's distribution, consistency of hash policies, skipping, panic, exclude. */
#include "upstream/cluster_int.h"
#include "core/event.h"
#include "t.h"

static struct xm_registry *reg;
static struct xm_endpoint_cfg eps[64];
static char addrs[64][32];

/* n hosts 10.0.0.1..n:80 with the given weights (NULL = all 1). */
static struct xm_cluster *mk(const char *name, enum xm_lb_policy pol, unsigned n, const uint32_t *w, unsigned nworkers)
{
	struct xm_cluster *c = NULL;
	for (unsigned i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%u", i + 1);
		eps[i] = (struct xm_endpoint_cfg){ .address = addrs[i], .port = 80, .weight = w ? w[i] : 1, .healthy = 1 };
	}
	struct xm_cluster_cfg cfg = { .name = name, .lb_policy = pol, .endpoints = eps, .nendpoints = n,
				      .maglev_table_size = 65537, .outlier_enabled = 1, .od_max_ejection_percent = 100,
				      .od_consecutive_gateway_failure = 5, .od_consecutive_5xx = 5,
				      .od_base_ejection_time_ms = 30000, .od_max_ejection_time_ms = 300000,
				      .least_request_choices = 2, T_CLUSTER_REQUIRED };
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, reg, nworkers), 0);
	return c;
}

/* Same, from an explicit list of host indexes (1-based last octet). */
static struct xm_cluster *mk_subset(const char *name, enum xm_lb_policy pol, const unsigned *octets, unsigned n)
{
	struct xm_cluster *c = NULL;
	for (unsigned i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%u", octets[i]);
		eps[i] = (struct xm_endpoint_cfg){ .address = addrs[i], .port = 80, .weight = 1, .healthy = 1 };
	}
	struct xm_cluster_cfg cfg = { .name = name, .lb_policy = pol, .endpoints = eps, .nendpoints = n,
				      .maglev_table_size = 65537, .least_request_choices = 2, T_CLUSTER_REQUIRED };
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, reg, 1), 0);
	return c;
}

static unsigned idx(const struct xm_cluster *c, const struct xm_host *h) { return (unsigned)(h - c->hosts); }

static void set_health(const struct xm_cluster *c, unsigned i, int healthy)
{
	xm_registry_set_health(reg, c->name, c->hosts[i].st->name, healthy);
}

static uint64_t key_hash(uint64_t k) { return xm_hash64(&k, sizeof(k)); }

static void test_round_robin(void)
{
	struct xm_cluster *c = mk("rr", XM_LB_ROUND_ROBIN, 4, NULL, 2);
	if (!c)
		return;
	unsigned cnt[4] = { 0 }, prev = idx(c, xm_lb_pick(c, 0, 0, NULL, 0)), cycle_ok = 1;
	for (int i = 0; i < 4000; i++) {
		unsigned h = idx(c, xm_lb_pick(c, 0, 0, NULL, 0));
		cycle_ok &= h == (prev + 1) % 4;
		prev = h;
		cnt[h]++;
	}
	T_CHECK(cycle_ok);
	for (int h = 0; h < 4; h++)
		T_CHECK_EQ(cnt[h], 1000);
	/* Workers start at different hosts. */
	T_CHECK(xm_lb_pick(c, 0, 0, NULL, 0) != xm_lb_pick(c, 1, 0, NULL, 0));
	/* An unhealthy host is skipped and the others still share equally. */
	set_health(c, 2, 0);
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < 3000; i++)
		cnt[idx(c, xm_lb_pick(c, 0, 0, NULL, 0))]++;
	T_CHECK(cnt[0] == 1000 && cnt[1] == 1000 && cnt[2] == 0 && cnt[3] == 1000);
	xm_cluster_free(c);
}

static void test_random(void)
{
	struct xm_cluster *c = mk("rnd", XM_LB_RANDOM, 5, NULL, 2);
	if (!c)
		return;
	unsigned cnt[5] = { 0 };
	const int n = 50000;
	for (int i = 0; i < n; i++)
		cnt[idx(c, xm_lb_pick(c, 0, 0, NULL, 0))]++;
	double chi = 0, e = n / 5.0;
	for (int h = 0; h < 5; h++)
		chi += (cnt[h] - e) * (cnt[h] - e) / e;
	T_CHECK(chi < 18.5); /* 4 degrees of freedom: p < 0.001 */
	/* Two workers draw different sequences. */
	int same = 0;
	for (int i = 0; i < 100; i++)
		same += xm_lb_pick(c, 0, 0, NULL, 0) == xm_lb_pick(c, 1, 0, NULL, 0);
	T_CHECK(same < 50);
	xm_cluster_free(c);
}

static void test_weighted_rr(void)
{
	static const struct {
		const char *desc;
		unsigned n;
		uint32_t w[5];
		unsigned cycle, unhealthy; /* unhealthy: index + 1, 0 = none */
	} cases[] = {
		{ "weights 1:2:3:4", 4, { 1, 2, 3, 4 }, 10, 0 },
		{ "common factor reduced: 100:200", 2, { 100, 200 }, 3, 0 },
		{ "equal weights behave like round robin", 3, { 7, 7, 7 }, 3, 0 },
		{ "unhealthy host skipped, others keep their weights", 4, { 1, 2, 3, 4 }, 10, 3 },
		{ "heavy 1000:1 still exact", 2, { 1000, 1 }, 1001, 0 },
	};
	for (size_t k = 0; k < XM_ARRAY_SIZE(cases); k++) {
		struct xm_cluster *c = mk("wrr", XM_LB_WEIGHTED_ROUND_ROBIN, cases[k].n, cases[k].w, 1);
		if (!c)
			continue;
		if (cases[k].unhealthy)
			set_health(c, cases[k].unhealthy - 1, 0);
		/* cycle: the gcd-reduced weight sum of the hosts still available */
		unsigned cycle = cases[k].cycle - (cases[k].unhealthy ? cases[k].w[cases[k].unhealthy - 1] : 0);
		int ok = 1;
		/* Any window of one cycle has exactly the weights' proportions. */
		for (int rep = 0; rep < 50; rep++) {
			unsigned cnt[5] = { 0 };
			for (unsigned i = 0; i < cycle; i++)
				cnt[idx(c, xm_lb_pick(c, 0, 0, NULL, 0))]++;
			uint32_t sumw = 0;
			for (unsigned h = 0; h < cases[k].n; h++)
				sumw += h + 1 == cases[k].unhealthy ? 0 : cases[k].w[h];
			for (unsigned h = 0; h < cases[k].n; h++) {
				uint32_t wh = h + 1 == cases[k].unhealthy ? 0 : cases[k].w[h];
				ok &= (uint64_t)cnt[h] * sumw == (uint64_t)wh * cycle;
			}
		}
		if (!ok)
			fprintf(stderr, "  case: %s\n", cases[k].desc);
		T_CHECK(ok);
		xm_cluster_free(c);
	}
	/* Smoothness: with 1:2:3:4 the heaviest host is never picked 3 times in a row. */
	uint32_t w[4] = { 1, 2, 3, 4 };
	struct xm_cluster *c = mk("wrr", XM_LB_WEIGHTED_ROUND_ROBIN, 4, w, 1);
	if (c) {
		int run = 0, maxrun = 0;
		const struct xm_host *prev = NULL;
		for (int i = 0; i < 100; i++) {
			const struct xm_host *h = xm_lb_pick(c, 0, 0, NULL, 0);
			run = h == prev ? run + 1 : 1;
			maxrun = run > maxrun ? run : maxrun;
			prev = h;
		}
		T_CHECK(maxrun <= 2);
		xm_cluster_free(c);
	}
}

static void test_least_request(void)
{
	static const struct {
		const char *desc;
		uint32_t choices, w[2];
		int32_t active[2];
		unsigned min_pct_host1; /* share of host index 1, percent */
	} cases[] = {
		{ "P2C prefers the idle host (3/4 of picks)", 2, { 1, 1 }, { 10, 0 }, 70 },
		{ "more choices: almost always the idle host", 8, { 1, 1 }, { 10, 0 }, 99 },
		{ "weights: idle heavy host preferred over idle light one", 2, { 1, 3 }, { 0, 0 }, 70 },
		{ "weights: heavy host with 2 in flight still beats light with 1", 2, { 1, 4 }, { 1, 2 }, 70 },
	};
	for (size_t k = 0; k < XM_ARRAY_SIZE(cases); k++) {
		for (unsigned i = 0; i < 2; i++) {
			snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%u", i + 1);
			eps[i] = (struct xm_endpoint_cfg){ .address = addrs[i], .port = 80, .weight = cases[k].w[i], .healthy = 1 };
		}
		struct xm_cluster_cfg cfg = { .name = "lr", .lb_policy = XM_LB_LEAST_REQUEST, .endpoints = eps,
					      .nendpoints = 2, .least_request_choices = cases[k].choices, T_CLUSTER_REQUIRED };
		struct xm_cluster *c;
		T_CHECK_EQ(xm_cluster_build(&c, &cfg, reg, 1), 0);
		if (!c)
			continue;
		c->hosts[0].st->active_rq = cases[k].active[0];
		c->hosts[1].st->active_rq = cases[k].active[1];
		unsigned h1 = 0;
		for (int i = 0; i < 10000; i++)
			h1 += idx(c, xm_lb_pick(c, 0, 0, NULL, 0)) == 1;
		if (h1 < cases[k].min_pct_host1 * 100)
			fprintf(stderr, "  case: %s (%u/10000)\n", cases[k].desc, h1);
		T_CHECK(h1 >= cases[k].min_pct_host1 * 100);
		c->hosts[0].st->active_rq = c->hosts[1].st->active_rq = 0;
		xm_cluster_free(c);
	}
}

/* Hash policies share these checks. */
static void hash_policy_checks(enum xm_lb_policy pol, const char *name)
{
	enum { N = 10, KEYS = 100000 };
	struct xm_cluster *c = mk(name, pol, N, NULL, 2);
	if (!c)
		return;
	static unsigned owner[KEYS];
	unsigned cnt[N] = { 0 };
	int stable = 1;
	for (uint64_t k = 0; k < KEYS; k++) {
		owner[k] = idx(c, xm_lb_pick(c, 0, key_hash(k), NULL, 0));
		stable &= owner[k] == idx(c, xm_lb_pick(c, 1, key_hash(k), NULL, 0));
		cnt[owner[k]]++;
	}
	T_CHECK(stable); /* same key -> same host, on any worker */
	unsigned lo = KEYS, hi = 0;
	for (int h = 0; h < N; h++) {
		lo = cnt[h] < lo ? cnt[h] : lo;
		hi = cnt[h] > hi ? cnt[h] : hi;
	}
	/* Maglev is near perfectly balanced; a ring of 128 points per host within ~25%. */
	double tol = pol == XM_LB_MAGLEV ? 0.05 : 0.25;
	T_CHECK(lo >= (1.0 - tol) * KEYS / N && hi <= (1.0 + tol) * KEYS / N);

	/* An unhealthy host's keys move; nobody else's do (the walk / probe is per key). */
	set_health(c, 3, 0);
	int moved_other = 0, still_on_3 = 0;
	for (uint64_t k = 0; k < KEYS; k++) {
		unsigned h = idx(c, xm_lb_pick(c, 0, key_hash(k), NULL, 0));
		still_on_3 += h == 3;
		moved_other += owner[k] != 3 && h != owner[k];
	}
	T_CHECK_EQ(still_on_3, 0);
	T_CHECK_EQ(moved_other, 0);
	set_health(c, 3, 1);

	/* A new view without host 10.0.0.4 (index 3). */
	static const unsigned octets[N - 1] = { 1, 2, 3, 5, 6, 7, 8, 9, 10 };
	struct xm_cluster *d = mk_subset(name, pol, octets, N - 1);
	if (d) {
		unsigned remapped = 0, remapped_other = 0;
		for (uint64_t k = 0; k < KEYS; k++) {
			const struct xm_host *h = xm_lb_pick(d, 0, key_hash(k), NULL, 0);
			if (h->st != c->hosts[owner[k]].st) {
				remapped++;
				remapped_other += owner[k] != 3;
			}
		}
		if (pol == XM_LB_RING_HASH) {
			T_CHECK_EQ(remapped_other, 0); /* only the removed host's own keys */
		} else {
			/* Maglev: about 1/n of keys (the removed host's) plus a small disruption. */
			T_CHECK(remapped >= KEYS / N * 9 / 10 && remapped <= KEYS / N * 3 / 2);
		}
		xm_cluster_free(d);
	}
	xm_cluster_free(c);

	/* Weights: 1:3 gets about a quarter / three quarters of the keys. */
	uint32_t w[2] = { 1, 3 };
	c = mk(name, pol, 2, w, 1);
	if (c) {
		unsigned heavy = 0;
		for (uint64_t k = 0; k < KEYS; k++)
			heavy += idx(c, xm_lb_pick(c, 0, key_hash(k), NULL, 0)) == 1;
		T_CHECK(heavy > KEYS * 70 / 100 && heavy < KEYS * 80 / 100);
		xm_cluster_free(c);
	}
}

static void test_ring_hash(void)
{
	hash_policy_checks(XM_LB_RING_HASH, "ring");
	/* The ring reaches its minimum size, rounded up to a power-of-two scale. */
	struct xm_cluster *c = mk("ring", XM_LB_RING_HASH, 10, NULL, 1);
	if (c) {
		T_CHECK(c->lb->size >= 1024 && c->lb->size < 2048);
		int sorted = 1;
		for (uint32_t i = 1; i < c->lb->size; i++)
			sorted &= c->lb->ring[i - 1].hash <= c->lb->ring[i].hash;
		T_CHECK(sorted);
		xm_cluster_free(c);
	}
}

static void test_maglev(void)
{
	hash_policy_checks(XM_LB_MAGLEV, "maglev");
	/* Every slot is filled, equal weights get equal slot counts (within one). */
	struct xm_cluster *c = mk("maglev", XM_LB_MAGLEV, 7, NULL, 1);
	if (c) {
		unsigned cnt[7] = { 0 };
		int filled = 1;
		for (uint32_t i = 0; i < c->lb->size; i++) {
			filled &= c->lb->maglev[i] < 7;
			if (c->lb->maglev[i] < 7)
				cnt[c->lb->maglev[i]]++;
		}
		T_CHECK(filled);
		for (int h = 0; h < 7; h++)
			T_CHECK(cnt[h] == 65537 / 7 || cnt[h] == 65537 / 7 + 1);
		xm_cluster_free(c);
	}
}

static const enum xm_lb_policy all_policies[] = { XM_LB_ROUND_ROBIN, XM_LB_RANDOM, XM_LB_WEIGHTED_ROUND_ROBIN,
						  XM_LB_LEAST_REQUEST, XM_LB_RING_HASH, XM_LB_MAGLEV };
static const char *const policy_names[] = { "round robin", "random", "weighted rr", "least request", "ring hash", "maglev" };

static void test_unavailable_never_picked(void)
{
	for (size_t p = 0; p < XM_ARRAY_SIZE(all_policies); p++) {
		struct xm_cluster *c = mk("skip", all_policies[p], 10, NULL, 1);
		if (!c)
			continue;
		set_health(c, 1, 0);
		set_health(c, 5, 0);
		/* Host 7 is ejected by outlier detection. */
		for (int i = 0; i < 5; i++)
			xm_host_report(c->st, c->hosts[7].st, c, XM_HOST_CONNECT_FAIL, 1000);
		unsigned cnt[10] = { 0 };
		for (uint64_t i = 0; i < 20000; i++)
			cnt[idx(c, xm_lb_pick(c, 0, key_hash(i), NULL, 1000))]++;
		int ok = cnt[1] == 0 && cnt[5] == 0 && cnt[7] == 0;
		for (int h = 0; h < 10; h++)
			ok &= h == 1 || h == 5 || h == 7 || cnt[h] > 0;
		/* After the ejection time the host comes back without anyone else asking. */
		unsigned back = 0;
		for (uint64_t i = 0; i < 20000; i++)
			back += idx(c, xm_lb_pick(c, 0, key_hash(i), NULL, 1000 + 30000)) == 7;
		ok &= back > 0;
		if (!ok)
			fprintf(stderr, "  case: %s\n", policy_names[p]);
		T_CHECK(ok);
		xm_cluster_free(c);
	}
}

static void test_panic(void)
{
	for (size_t p = 0; p < XM_ARRAY_SIZE(all_policies); p++) {
		struct xm_cluster *c = mk("panic", all_policies[p], 10, NULL, 1);
		if (!c)
			continue;
		/* 5 of 10 available: not panic (not fewer than half). */
		for (unsigned h = 0; h < 5; h++)
			set_health(c, h, 0);
		unsigned to_unhealthy = 0;
		for (uint64_t i = 0; i < 5000; i++)
			to_unhealthy += idx(c, xm_lb_pick(c, 0, key_hash(i), NULL, 0)) < 5;
		int ok = to_unhealthy == 0;
		/* 4 of 10: panic, traffic goes to all hosts. */
		set_health(c, 5, 0);
		unsigned cnt[10] = { 0 };
		for (uint64_t i = 0; i < 20000; i++)
			cnt[idx(c, xm_lb_pick(c, 0, key_hash(i), NULL, 0))]++;
		for (int h = 0; h < 10; h++)
			ok &= cnt[h] > 20000 / 10 / 3;
		/* Nothing available at all: still a host. */
		for (unsigned h = 0; h < 10; h++)
			set_health(c, h, 0);
		ok &= xm_lb_pick(c, 0, 1, NULL, 0) != NULL;
		if (!ok)
			fprintf(stderr, "  case: %s\n", policy_names[p]);
		T_CHECK(ok);
		xm_cluster_free(c);
	}
}

static void test_exclude(void)
{
	for (size_t p = 0; p < XM_ARRAY_SIZE(all_policies); p++) {
		struct xm_cluster *c = mk("excl", all_policies[p], 4, NULL, 1);
		if (!c)
			continue;
		int ok = 1;
		for (uint64_t i = 0; i < 2000; i++) {
			const struct xm_host *first = xm_lb_pick(c, 0, key_hash(i), NULL, 0);
			ok &= xm_lb_pick(c, 0, key_hash(i), first, 0) != first;
		}
		/* The excluded host is still chosen when it is the only available one... */
		set_health(c, 1, 0);
		set_health(c, 2, 0);
		set_health(c, 3, 0); /* panic now: any host but the excluded one */
		for (uint64_t i = 0; i < 200; i++)
			ok &= xm_lb_pick(c, 0, key_hash(i), &c->hosts[0], 0) != &c->hosts[0];
		xm_cluster_free(c);
		/* ...which, without panic, needs two hosts with one down. */
		c = mk("excl", all_policies[p], 2, NULL, 1);
		if (c) {
			set_health(c, 1, 0);
			for (uint64_t i = 0; i < 200; i++)
				ok &= xm_lb_pick(c, 0, key_hash(i), &c->hosts[0], 0) == &c->hosts[0];
			xm_cluster_free(c);
		}
		if (!ok)
			fprintf(stderr, "  case: %s\n", policy_names[p]);
		T_CHECK(ok);
	}
}

static void test_degenerate(void)
{
	for (size_t p = 0; p < XM_ARRAY_SIZE(all_policies); p++) {
		struct xm_cluster *c = mk("empty", all_policies[p], 0, NULL, 1);
		if (c) {
			T_CHECK(xm_lb_pick(c, 0, 5, NULL, 0) == NULL);
			xm_cluster_free(c);
		}
		c = mk("one", all_policies[p], 1, NULL, 1);
		if (c) {
			set_health(c, 0, 0);
			T_CHECK(xm_lb_pick(c, 0, 5, &c->hosts[0], 0) == &c->hosts[0]);
			xm_cluster_free(c);
		}
	}
}

static void test_per_worker_slots(void)
{
	struct xm_cluster *c = mk("slots", XM_LB_ROUND_ROBIN, 3, NULL, 4);
	if (!c)
		return;
	T_CHECK_EQ(sizeof(struct xm_lb_worker) % XM_CACHELINE, 0);
	for (unsigned w = 0; w < 4; w++)
		T_CHECK((((uintptr_t)&c->lbw[w]) & (XM_CACHELINE - 1)) == 0);
	xm_cluster_free(c);
}

T_MAIN_BEGIN
xm_registry_new(&reg, NULL, NULL);
T_RUN("round robin visits hosts equally and skips unhealthy ones", test_round_robin);
T_RUN("random is uniform (chi-square) and differs per worker", test_random);
T_RUN("weighted round robin follows weights exactly over a cycle", test_weighted_rr);
T_RUN("least request prefers the less loaded host", test_least_request);
T_RUN("ring hash: stable, balanced, weighted, minimal remapping", test_ring_hash);
T_RUN("maglev: stable, balanced, weighted, ~1/n remapping", test_maglev);
T_RUN("unhealthy and ejected hosts are never picked; unejected come back", test_unavailable_never_picked);
T_RUN("panic below half available uses all hosts", test_panic);
T_RUN("exclude is avoided unless it is the only choice", test_exclude);
T_RUN("empty cluster gives NULL; a single host is always returned", test_degenerate);
T_RUN("per-worker LB slots are cache-line aligned", test_per_worker_slots);
xm_registry_free(reg);
T_MAIN_END
