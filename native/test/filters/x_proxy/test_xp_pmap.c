/* The pending map of an x_proxy upstream connection (xp_pmap.c) and the ids requests get on it (xp_rq_attach): put/get/del, backward-shift deletion
 * across the end of the table, growth under many ids, and id wraparound that skips 0 and ids still in flight. */
#include "core/event.h"
#include "filters/x_proxy/xp_int.h"
#include "stats/stats.h"
#include "t.h"

/* Requests are never dereferenced by the map: any distinct non-NULL pointers will do. */
static struct xp_rq *rq_of(uint64_t i) { return (struct xp_rq *)(uintptr_t)(16 * (i + 1)); }

static void pmap_free(struct xp_pmap *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct xp_pmap){ 0 };
}

/* Operations on one map, in order, each checked on the spot. */
static void test_put_get_del(void)
{
	enum { PUT, GET, DEL, COUNT };
	static const struct {
		const char *desc;
		int op;
		uint64_t id;
		long v; /* PUT: value index; GET: expected value index, -1 = absent; COUNT: n */
	} steps[] = {
		{ "get on a map never used", GET, 1, -1 },
		{ "del on a map never used is a no-op (was a NULL dereference)", DEL, 1, 0 },
		{ "put", PUT, 1, 1 },
		{ "get what was put", GET, 1, 1 },
		{ "get another id", GET, 2, -1 },
		{ "del an absent id changes nothing", DEL, 2, 0 },
		{ "still one entry", COUNT, 0, 1 },
		{ "id 0 is a key like any other", PUT, 0, 2 },
		{ "the largest 64-bit id", PUT, UINT64_MAX, 3 },
		{ "the largest positive 32-bit id", PUT, 0x7fffffff, 4 },
		{ "get id 0", GET, 0, 2 },
		{ "get the largest id", GET, UINT64_MAX, 3 },
		{ "del the first", DEL, 1, 0 },
		{ "the first is gone", GET, 1, -1 },
		{ "the others stay", GET, 0x7fffffff, 4 },
		{ "three entries", COUNT, 0, 3 },
		{ "put the first again", PUT, 1, 5 },
		{ "it maps to its new request", GET, 1, 5 },
	};
	struct xp_pmap m = { 0 };
	for (size_t i = 0; i < XM_ARRAY_SIZE(steps); i++) {
		int ok = 1;
		switch (steps[i].op) {
		case PUT:
			ok = xp_pmap_put(&m, steps[i].id, rq_of((uint64_t)steps[i].v)) == 0;
			break;
		case GET:
			ok = xp_pmap_get(&m, steps[i].id) == (steps[i].v < 0 ? NULL : rq_of((uint64_t)steps[i].v));
			break;
		case DEL:
			xp_pmap_del(&m, steps[i].id);
			break;
		case COUNT:
			ok = m.n == (uint32_t)steps[i].v;
			break;
		}
		if (!ok)
			fprintf(stderr, "  step %zu: %s\n", i, steps[i].desc);
		T_CHECK(ok);
	}
	pmap_free(&m);
}

/* The slot an id lands in when alone in a table of 64 slots (its home). */
static uint32_t home64(uint64_t id)
{
	struct xp_pmap m = { 0 };
	uint32_t h = UINT32_MAX;
	xp_pmap_put(&m, id, rq_of(0));
	for (uint32_t i = 0; i < m.cap; i++)
		if (m.vals[i] && m.keys[i] == id)
			h = i;
	xm_assert(m.cap == 64);
	pmap_free(&m);
	return h;
}

/* Runs of colliding ids at the end of the table and across it (layouts given as the home
 * slot of each id, put in order): deleting any one of them (backward shift, no tombstones)
 * leaves every other findable and no slot stale, and deleting the rest empties the table. */
static void test_collisions_across_the_end(void)
{
	static const struct {
		const char *desc;
		uint32_t homes[8];
		int n;
	} layouts[] = {
		{ "one run from slot 63 wrapping to slot 5", { 63, 63, 63, 63, 0, 0, 0 }, 7 },
		{ "a run ending in slot 63, then one of ids at home in slot 0", { 62, 62, 0, 0, 1 }, 5 },
		{ "runs meeting at the end of the table", { 61, 62, 62, 63, 0, 1, 1, 2 }, 8 },
	};
	for (size_t l = 0; l < XM_ARRAY_SIZE(layouts); l++) {
		uint64_t ids[8];
		int n = layouts[l].n, ok = 1;
		uint64_t next = 1;
		for (int i = 0; i < n; i++) {
			while (home64(next) != layouts[l].homes[i] && next < 10000000)
				next++;
			ids[i] = next++;
		}
		for (int del = 0; del < n; del++) {
			struct xp_pmap m = { 0 };
			for (int i = 0; i < n; i++)
				ok &= xp_pmap_put(&m, ids[i], rq_of((uint64_t)i)) == 0;
			ok &= m.cap == 64;
			xp_pmap_del(&m, ids[del]);
			int found = 0, used = 0;
			for (int i = 0; i < n; i++)
				found += xp_pmap_get(&m, ids[i]) == (i == del ? NULL : rq_of((uint64_t)i));
			for (uint32_t s = 0; s < m.cap; s++)
				used += m.vals[s] != NULL;
			if (found != n)
				fprintf(stderr, "  %s: deleting id %d lost another\n", layouts[l].desc, del);
			ok &= found == n && used == n - 1 && m.n == (uint32_t)n - 1;
			for (int i = n - 1; i >= 0; i--)
				xp_pmap_del(&m, ids[i]);
			used = 0;
			for (uint32_t s = 0; s < m.cap; s++)
				used += m.vals[s] != NULL;
			ok &= used == 0 && m.n == 0;
			pmap_free(&m);
		}
		if (!ok)
			fprintf(stderr, "  case: %s\n", layouts[l].desc);
		T_CHECK(ok);
	}
}

/* Many ids in flight and churn, checked against a plain array: the table grows (power of
 * two, at most half full), every live id maps to its request, deleted ones are gone. */
static void test_many_ids(void)
{
	enum { N = 20000 };
	static struct xp_rq *model[N + 1];
	struct xp_pmap m = { 0 };
	uint64_t rng = 0x1234567;
	uint32_t live = 0;
	int ok = 1;

	memset(model, 0, sizeof(model));
	/* Ids as a connection hands them out. */
	for (uint64_t id = 1; id <= N; id++) {
		ok &= xp_pmap_put(&m, id, rq_of(id)) == 0;
		model[id] = rq_of(id);
		live++;
	}
	T_CHECK(ok);
	T_CHECK_EQ(m.n, live);
	T_CHECK(m.cap >= 2 * m.n && (m.cap & (m.cap - 1)) == 0);
	/* Churn: random deletes and re-puts (a response, then a new request on that id). */
	for (int step = 0; step < 200000; step++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		uint64_t id = 1 + rng % N;
		if (model[id]) {
			xp_pmap_del(&m, id);
			model[id] = NULL;
			live--;
		} else {
			model[id] = rq_of(id + (uint64_t)step);
			ok &= xp_pmap_put(&m, id, model[id]) == 0;
			live++;
		}
	}
	T_CHECK(ok);
	int match = 1;
	for (uint64_t id = 0; id <= N + 10; id++)
		match &= xp_pmap_get(&m, id) == (id <= N ? model[id] : NULL);
	T_CHECK(match);
	T_CHECK_EQ(m.n, live);
	uint32_t used = 0;
	for (uint32_t s = 0; s < m.cap; s++)
		used += m.vals[s] != NULL;
	T_CHECK_EQ(used, live);
	pmap_free(&m);
}

/* ------------------------------------------------------------ ids on an upstream connection */

/* xp_rq_attach hands out the next id on the connection within the codec's id width
 * (4 bytes: positive int32, Bolt; 8 bytes: Dubbo), wrapping to 1, never 0, skipping ids
 * still in flight. */
static void test_id_wraparound(void)
{
	static const struct {
		const char *desc;
		uint8_t id_size;
		uint64_t next_id;          /* the last id handed out */
		uint64_t busy[3];          /* ids in flight (0 = none) */
		uint64_t want[3];
	} cases[] = {
		{ "4-byte ids: 0x7fffffff, then wrap to 1 (0 skipped)", 4, 0x7ffffffe, { 0 }, { 0x7fffffff, 1, 2 } },
		{ "4-byte ids skip ids in flight, across the wrap", 4, 0x7ffffffd, { 0x7fffffff, 1, 3 }, { 0x7ffffffe, 2, 4 } },
		{ "8-byte ids: the largest, then 1", 8, UINT64_MAX - 1, { 0 }, { UINT64_MAX, 1, 2 } },
		{ "8-byte ids skip ids in flight", 8, 10, { 11, 12, 0 }, { 13, 14, 15 } },
	};
	struct xm_stats *stats = NULL;
	struct xm_events *ev = NULL;
	struct xm_registry *reg = NULL;
	struct xm_cluster *c = NULL;
	struct xm_endpoint_cfg ep = { .address = "127.0.0.1", .port = 9, .weight = 1, .healthy = 1 };
	struct xm_cluster_cfg cfg = { .name = "c", .endpoints = &ep, .nendpoints = 1, T_CLUSTER_REQUIRED };

	T_CHECK_EQ(xm_stats_open(&stats, NULL, 1u << 20), 0);
	T_CHECK_EQ(xm_events_new(&ev, 16, NULL, NULL), 0);
	T_CHECK_EQ(xm_registry_new(&reg, stats, ev), 0);
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, reg, 1), 0);
	if (!c)
		return;
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xp_up up;
		struct xp_rq rq[3];
		int ok = 1;

		memset(&up, 0, sizeof(up));
		memset(rq, 0, sizeof(rq));
		up.next_id = cases[i].next_id;
		for (int k = 0; k < 3; k++)
			if (cases[i].busy[k])
				xp_pmap_put(&up.pending, cases[i].busy[k], rq_of(100 + (uint64_t)k));
		for (int k = 0; k < 3; k++) {
			rq[k].f.id_size = cases[i].id_size;
			T_CHECK_EQ(xm_cluster_rq_acquire(c), 0);
			T_CHECK_EQ(xp_rq_attach(&rq[k], &up, c, &c->hosts[0], 0), 0);
			ok &= rq[k].up_id == cases[i].want[k] && rq[k].up == &up && xp_pmap_get(&up.pending, rq[k].up_id) == &rq[k];
		}
		if (!ok)
			fprintf(stderr, "  case: %s: got %llx %llx %llx\n", cases[i].desc, (unsigned long long)rq[0].up_id,
				(unsigned long long)rq[1].up_id, (unsigned long long)rq[2].up_id);
		T_CHECK(ok);
		/* The request holds the breaker slot and the references attach took. */
		T_CHECK_EQ(*xm_stats_gauge(stats, "cluster.{cluster=c}.upstream_rq_active"), 3);
		for (int k = 0; k < 3; k++)
			xm_attempt_drop(&rq[k].at);
		T_CHECK_EQ(*xm_stats_gauge(stats, "cluster.{cluster=c}.upstream_rq_active"), 0);
		pmap_free(&up.pending);
	}
	xm_cluster_free(c);
	xm_registry_free(reg);
	xm_events_free(ev);
	xm_stats_close(stats);
}

T_MAIN_BEGIN
	T_RUN("put/get/del in order, on an unused map too; ids 0 and the largest are keys", test_put_get_del);
	T_RUN("deletion in a run of colliding ids that wraps past the table's end", test_collisions_across_the_end);
	T_RUN("20,000 ids and 200,000 random deletes/puts agree with a plain array", test_many_ids);
	T_RUN("request ids wrap within the codec's width, skipping 0 and ids in flight", test_id_wraparound);
T_MAIN_END
