/* Tests for cluster views and persistent state: build, registry lifetimes, circuit breakers, outlier detection, hash. */
#include <arpa/inet.h>
#include <pthread.h>

#include "upstream/cluster_int.h"
#include "core/event.h"
#include "t.h"

struct env {
	struct xm_stats *stats;
	struct xm_events *ev;
	struct xm_registry *reg;
};

static void env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	xm_stats_open(&e->stats, NULL, 1 << 20);
	xm_events_new(&e->ev, 64, NULL, NULL);
	xm_registry_new(&e->reg, e->stats, e->ev);
}

static void env_close(struct env *e)
{
	xm_registry_free(e->reg);
	xm_events_free(e->ev);
	xm_stats_close(e->stats);
}

/* n endpoints 10.0.0.1..n:80, weight 1, healthy. */
static struct xm_endpoint_cfg eps[64];
static struct xm_cluster_cfg mkcfg(const char *name, unsigned n)
{
	static char addrs[64][32];
	for (unsigned i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%u", i + 1);
		eps[i] = (struct xm_endpoint_cfg){ .address = addrs[i], .port = 80, .weight = 1, .healthy = 1 };
	}
	/* Outlier detection settings at Envoy's defaults (the control core's), off until a test
	 * turns it on. */
	return (struct xm_cluster_cfg){ .name = name, .endpoints = eps, .nendpoints = n, .least_request_choices = 2,
					.maglev_table_size = 65537, .od_consecutive_gateway_failure = 5, .od_consecutive_5xx = 5,
					.od_base_ejection_time_ms = 30000, .od_max_ejection_time_ms = 300000,
					.od_max_ejection_percent = 10, T_CLUSTER_REQUIRED };
}

static int64_t gauge(struct env *e, const char *key) { return *xm_stats_gauge(e->stats, key); }
static uint64_t counter(struct env *e, const char *key) { return *xm_stats_counter(e->stats, key); }

static void test_build_addresses(void)
{
	static const struct {
		const char *desc, *addr;
		uint16_t port;
		int err, family;
		const char *name;
	} cases[] = {
		{ "IPv4 literal", "127.0.0.1", 8080, 0, AF_INET, "127.0.0.1:8080" },
		{ "IPv6 literal is canonicalised", "0:0::1", 9000, 0, AF_INET6, "[::1]:9000" },
		{ "bracketed IPv6 tolerated", "[2001:db8::5]", 1, 0, AF_INET6, "[2001:db8::5]:1" },
		{ "IPv6 with numeric scope", "fe80::1%2", 80, 0, AF_INET6, "[fe80::1%2]:80" },
		{ "hostname refused", "localhost", 80, -EINVAL, 0, NULL },
		{ "short IPv4 form refused", "127.1", 80, -EINVAL, 0, NULL },
		{ "empty refused", "", 80, -EINVAL, 0, NULL },
	};
	struct env e;
	env_open(&e);
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xm_endpoint_cfg ep = { .address = cases[i].addr, .port = cases[i].port, .weight = 1, .healthy = 1 };
		struct xm_cluster_cfg cfg = { .name = "c", .endpoints = &ep, .nendpoints = 1, T_CLUSTER_REQUIRED };
		struct xm_cluster *c = NULL;
		int err = xm_cluster_build(&c, &cfg, e.reg, 1);
		if (err != cases[i].err)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK_EQ(err, cases[i].err);
		if (!c) {
			/* A failed build leaves nothing behind in the registry. */
			T_CHECK_EQ(e.reg->nhosts, 0);
			T_CHECK_EQ(e.reg->nclusters, 0);
			continue;
		}
		T_CHECK_EQ(c->hosts[0].addr.ss_family, cases[i].family);
		T_CHECK(strcmp(c->hosts[0].st->name, cases[i].name) == 0);
		if (cases[i].family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&c->hosts[0].addr;
			T_CHECK_EQ(ntohs(in->sin_port), cases[i].port);
			T_CHECK_EQ(c->hosts[0].addrlen, sizeof(*in));
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->hosts[0].addr;
			T_CHECK_EQ(ntohs(in6->sin6_port), cases[i].port);
			T_CHECK_EQ(c->hosts[0].addrlen, sizeof(*in6));
		}
		xm_cluster_free(c);
	}
	env_close(&e);
}

/* The build takes every value from its config (the control core made each default
 * explicit); a breaker limit of 0 is a limit, not "unset". */
static void test_build_values(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("values", 2);
	const char *mk[] = { "zone" }, *mv[] = { "a" };
	eps[0].nmeta = 1;
	eps[0].meta_keys = mk;
	eps[0].meta_values = mv;
	eps[1].weight = 7;
	cfg.connect_timeout_ms = 1234;
	cfg.per_connection_buffer_limit = 4096;
	cfg.max_connections = 0;
	cfg.max_retries = 9;
	cfg.outlier_enabled = 1;
	cfg.od_consecutive_gateway_failure = 2, cfg.od_consecutive_5xx = 3;
	cfg.od_base_ejection_time_ms = 100, cfg.od_max_ejection_time_ms = 1000, cfg.od_max_ejection_percent = 0;
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 2), 0);
	if (!c)
		goto out;
	T_CHECK_EQ(c->connect_timeout_ms, 1234);
	T_CHECK_EQ(c->buffer_limit, 4096);
	T_CHECK_EQ(c->max_connections, 0);
	T_CHECK_EQ(xm_cluster_cx_acquire(c), -EBUSY); /* 0 allows none */
	T_CHECK_EQ(c->max_pending_requests, 1024);
	T_CHECK_EQ(c->max_requests, 1024);
	T_CHECK_EQ(c->max_retries, 9);
	T_CHECK_EQ(c->od_consecutive_gateway_failure, 2);
	T_CHECK_EQ(c->od_consecutive_5xx, 3);
	T_CHECK_EQ(c->od_base_ejection_time_ms, 100);
	T_CHECK_EQ(c->od_max_ejection_time_ms, 1000);
	T_CHECK_EQ(c->od_max_ejection_percent, 0);
	T_CHECK_EQ(c->nworkers, 2);
	T_CHECK_EQ(c->hosts[1].weight, 7);
	T_CHECK(c->hosts[0].nmeta == 1 && strcmp(c->hosts[0].meta[0].key, "zone") == 0 &&
		strcmp(c->hosts[0].meta[0].value, "a") == 0);
	xm_cluster_free(c);
	/* Maglev table sizes must be prime. */
	cfg.lb_policy = XM_LB_MAGLEV;
	cfg.maglev_table_size = 100;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), -EINVAL);
	cfg.maglev_table_size = 0;
	cfg.lb_policy = (enum xm_lb_policy)42;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), -EINVAL);
out:
	env_close(&e);
}

struct keys {
	int hits;
	const char *prefix;
};
static int count_prefix(void *ctx, enum xm_stat_type t, const char *key, const void *v)
{
	struct keys *k = ctx;
	k->hits += strncmp(key, k->prefix, strlen(k->prefix)) == 0;
	return 0;
}

static void test_stats_registered(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("web", 3);
	eps[2].healthy = 0;
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
	if (!c)
		goto out;
	/* Every field of xm_cluster_stats is one key named after it. */
	struct keys k = { 0, "cluster.{cluster=web}." };
	xm_stats_foreach(e.stats, count_prefix, &k);
	T_CHECK_EQ(k.hits, 20 + 3 * 7);
	T_CHECK(c->st->st.upstream_cx_total == xm_stats_counter(e.stats, "cluster.{cluster=web}.upstream_cx_total"));
	T_CHECK(c->st->st.upstream_cx_length_ms == xm_stats_hist(e.stats, "cluster.{cluster=web}.upstream_cx_length_ms"));
	T_CHECK(c->hosts[0].st->st.cx_total ==
		xm_stats_counter(e.stats, "cluster.{cluster=web}.host.{host=10.0.0.1:80}.cx_total"));
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.membership_total"), 3);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.membership_healthy"), 2);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.host.{host=10.0.0.3:80}.healthy"), 0);
	T_CHECK_EQ(xm_registry_set_health(e.reg, "web", "10.0.0.3:80", 1), 0);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.membership_healthy"), 3);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.host.{host=10.0.0.3:80}.healthy"), 1);
	/* Host stats are fed by xm_host_report. */
	xm_host_report(c->st, c->hosts[0].st, c, XM_HOST_CONNECT_OK, 0);
	xm_host_report(c->st, c->hosts[0].st, c, XM_HOST_CONNECT_FAIL, 0);
	xm_host_report(c->st, c->hosts[0].st, c, XM_HOST_RESPONSE_ERROR, 0);
	T_CHECK_EQ(counter(&e, "cluster.{cluster=web}.host.{host=10.0.0.1:80}.cx_total"), 2);
	T_CHECK_EQ(counter(&e, "cluster.{cluster=web}.host.{host=10.0.0.1:80}.cx_connect_fail"), 1);
	T_CHECK_EQ(counter(&e, "cluster.{cluster=web}.host.{host=10.0.0.1:80}.rq_error"), 1);
	xm_cluster_free(c);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.membership_total"), 0);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=web}.membership_healthy"), 0);
out:
	env_close(&e);
}

static void test_rebuild_keeps_state(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("svc", 2); /* hosts .1 .2 */
	struct xm_cluster *c1, *c2;
	T_CHECK_EQ(xm_cluster_build(&c1, &cfg, e.reg, 2), 0);
	if (!c1)
		goto out;
	struct xm_host_state *a = c1->hosts[0].st;
	xm_registry_set_health(e.reg, "svc", "10.0.0.1:80", 0);
	xm_atomic_store(&a->consecutive_5xx, 3);

	/* New snapshot: .1 stays (its cfg now says healthy: ignored, known host), .2 goes,
	 * .3 arrives unhealthy (first seen: cfg decides). */
	cfg = mkcfg("svc", 3);
	cfg.endpoints = &eps[0];
	struct xm_endpoint_cfg next[2] = { eps[0], eps[2] };
	next[1].healthy = 0;
	cfg.endpoints = next;
	cfg.nendpoints = 2;
	T_CHECK_EQ(xm_cluster_build(&c2, &cfg, e.reg, 2), 0);
	if (!c2) {
		xm_cluster_free(c1);
		goto out;
	}
	T_CHECK(c2->st == c1->st);
	T_CHECK(c2->hosts[0].st == a);
	T_CHECK(xm_atomic_load(&a->flags) & XM_HOST_F_UNHEALTHY);
	T_CHECK_EQ(a->consecutive_5xx, 3);
	T_CHECK(c2->hosts[1].st->flags & XM_HOST_F_UNHEALTHY);
	T_CHECK_EQ(e.reg->nhosts, 3);
	T_CHECK_EQ(a->refcnt, 2);
	/* The old view goes: .2 is referenced by nobody and is freed. */
	xm_cluster_free(c1);
	T_CHECK_EQ(e.reg->nhosts, 2);
	T_CHECK_EQ(a->refcnt, 1);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=svc}.membership_total"), 2);
	T_CHECK_EQ(xm_registry_set_health(e.reg, "svc", "10.0.0.2:80", 1), -ENOENT);
	T_CHECK_EQ(xm_registry_set_health(e.reg, "nope", "10.0.0.1:80", 1), -ENOENT);
	xm_cluster_free(c2);
	T_CHECK_EQ(e.reg->nhosts, 0);
	T_CHECK_EQ(e.reg->nclusters, 0);
out:
	env_close(&e);
}

static void *unref_thread(void *arg)
{
	xm_host_state_unref(arg);
	return NULL;
}

static void test_session_ref_outlives_view(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("s", 1);
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
	if (!c)
		goto out;
	struct xm_host_state *hs = c->hosts[0].st;
	xm_host_state_ref(hs); /* a session on a worker */
	xm_cluster_free(c);
	T_CHECK_EQ(e.reg->nhosts, 1);
	T_CHECK_EQ(e.reg->nclusters, 1); /* kept alive by the host's reference */
	/* The worker finishes the session: the last reference drops off the control thread. */
	pthread_t t;
	pthread_create(&t, NULL, unref_thread, hs);
	pthread_join(t, NULL);
	T_CHECK_EQ(e.reg->nhosts, 0);
	T_CHECK_EQ(e.reg->nclusters, 0);
out:
	env_close(&e);
}

static void test_set_health_names(void)
{
	static const struct {
		const char *desc, *name;
		int err;
	} cases[] = {
		{ "canonical v6 name", "[2001:db8::1]:443", 0 },
		{ "non-canonical v6 spelling", "[2001:0db8:0::1]:443", 0 },
		{ "wrong port", "[2001:db8::1]:444", -ENOENT },
		{ "bare v6 without brackets is not a host name", "2001:db8::1:443", -ENOENT },
		{ "garbage", "nonsense", -ENOENT },
	};
	struct env e;
	env_open(&e);
	struct xm_endpoint_cfg ep = { .address = "2001:db8::1", .port = 443, .weight = 1, .healthy = 1 };
	struct xm_cluster_cfg cfg = { .name = "v6", .endpoints = &ep, .nendpoints = 1, T_CLUSTER_REQUIRED };
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
	for (size_t i = 0; c && i < XM_ARRAY_SIZE(cases); i++) {
		int err = xm_registry_set_health(e.reg, "v6", cases[i].name, 0);
		if (err != cases[i].err)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK_EQ(err, cases[i].err);
	}
	if (c)
		T_CHECK(c->hosts[0].st->flags & XM_HOST_F_UNHEALTHY);
	xm_cluster_free(c);
	env_close(&e);
}

static void test_circuit_breakers(void)
{
	static const struct {
		const char *desc;
		int (*acquire)(const struct xm_cluster *);
		void (*release)(struct xm_cluster_state *);
		const char *overflow;
	} cases[] = {
		{ "max_connections", xm_cluster_cx_acquire, xm_cluster_cx_release, "upstream_cx_overflow" },
		{ "max_requests", xm_cluster_rq_acquire, xm_cluster_rq_release, "upstream_rq_pending_overflow" },
		{ "max_pending_requests", xm_cluster_pending_acquire, xm_cluster_pending_release,
		  "upstream_rq_pending_overflow" },
		{ "max_retries", xm_cluster_retry_acquire, xm_cluster_retry_release, "upstream_rq_retry_overflow" },
	};
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("cb", 1);
	cfg.max_connections = cfg.max_requests = cfg.max_pending_requests = cfg.max_retries = 3;
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
	for (size_t i = 0; c && i < XM_ARRAY_SIZE(cases); i++) {
		char key[128];
		snprintf(key, sizeof(key), "cluster.{cluster=cb}.%s", cases[i].overflow);
		uint64_t before = counter(&e, key);
		int ok = 1;
		for (int k = 0; k < 3; k++)
			ok &= cases[i].acquire(c) == 0;
		ok &= cases[i].acquire(c) == -EBUSY;
		ok &= cases[i].acquire(c) == -EBUSY;
		ok &= counter(&e, key) == before + 2;
		cases[i].release(c->st);
		ok &= cases[i].acquire(c) == 0; /* room again after a release */
		for (int k = 0; k < 3; k++)
			cases[i].release(c->st);
		if (!ok)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK(ok);
	}
	if (c)
		T_CHECK(c->st->cx_open == 0 && c->st->rq_open == 0 && c->st->pending_open == 0 && c->st->retries_open == 0);
	xm_cluster_free(c);
	env_close(&e);
}

/* ---- outlier detection ---- */

static unsigned drain(struct env *e, struct xm_event *out, unsigned max) { return xm_events_drain(e->ev, out, max); }

static void fail_n(struct xm_cluster *c, unsigned h, enum xm_host_result r, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		xm_host_report(c->st, c->hosts[h].st, c, r, now);
}

static void test_outlier_eject_uneject(void)
{
	static const struct {
		const char *desc;
		enum xm_host_result fail, ok;
	} cases[] = {
		{ "consecutive connect failures", XM_HOST_CONNECT_FAIL, XM_HOST_SESSION_OK },
		{ "consecutive resets", XM_HOST_RESET, XM_HOST_SESSION_OK },
		{ "consecutive 5xx", XM_HOST_RESPONSE_ERROR, XM_HOST_RESPONSE_OK },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct env e;
		env_open(&e);
		struct xm_cluster_cfg cfg = mkcfg("od", 10);
		cfg.outlier_enabled = 1;
		struct xm_cluster *c;
		T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
		if (!c) {
			env_close(&e);
			continue;
		}
		struct xm_host_state *hs = c->hosts[0].st;
		struct xm_event ev[8];
		int ok = 1;
		/* A success inside the streak restarts it; a bare connect success does not (a host
		 * that accepts and then resets every connection is failing). */
		fail_n(c, 0, cases[i].fail, 4, 1000);
		xm_host_report(c->st, hs, c, cases[i].ok, 1000);
		xm_host_report(c->st, hs, c, XM_HOST_CONNECT_OK, 1000);
		fail_n(c, 0, cases[i].fail, 4, 1000);
		ok &= xm_host_available(&c->hosts[0], 1000);
		fail_n(c, 0, cases[i].fail, 1, 1000);
		ok &= !xm_host_available(&c->hosts[0], 1000);
		ok &= hs->ejected_until_ms == 1000 + 30000;
		ok &= drain(&e, ev, 8) == 1 && ev[0].kind == XM_EV_HOST_EJECTED && strcmp(ev[0].subject, "od/10.0.0.1:80") == 0;
		ok &= counter(&e, "cluster.{cluster=od}.outlier_detection_ejections_total") == 1;
		ok &= gauge(&e, "cluster.{cluster=od}.outlier_detection_ejections_active") == 1;
		ok &= gauge(&e, "cluster.{cluster=od}.membership_healthy") == 9;
		ok &= !xm_host_available(&c->hosts[0], 30999);
		ok &= drain(&e, ev, 8) == 0;
		/* Lifted lazily once the time has passed, with one event. */
		ok &= xm_host_available(&c->hosts[0], 31000);
		ok &= xm_host_available(&c->hosts[0], 31001);
		ok &= drain(&e, ev, 8) == 1 && ev[0].kind == XM_EV_HOST_UNEJECTED;
		ok &= gauge(&e, "cluster.{cluster=od}.outlier_detection_ejections_active") == 0;
		ok &= gauge(&e, "cluster.{cluster=od}.membership_healthy") == 10;
		ok &= c->st->ejected_hosts == 0;
		if (!ok)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK(ok);
		xm_cluster_free(c);
		env_close(&e);
	}
}

static void test_outlier_backoff(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("bo", 10);
	cfg.outlier_enabled = 1;
	cfg.od_base_ejection_time_ms = 1000;
	cfg.od_max_ejection_time_ms = 5000;
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
	if (!c)
		goto out;
	struct xm_host_state *hs = c->hosts[0].st;
	/* Failing again as soon as it is back: 1s, 2s, 4s, then capped at 5s. */
	static const uint64_t want[] = { 1000, 2000, 4000, 5000, 5000 };
	uint64_t now = 100;
	for (size_t i = 0; i < XM_ARRAY_SIZE(want); i++) {
		T_CHECK(xm_host_available(&c->hosts[0], now));
		fail_n(c, 0, XM_HOST_CONNECT_FAIL, 5, now);
		T_CHECK_EQ(hs->ejected_until_ms - now, want[i]);
		now = hs->ejected_until_ms;
	}
	/* Behaving for a while decays the multiplier: 5 ejections, back for 3 base periods ->
	 * the next one counts as the 3rd: 4s. */
	T_CHECK(xm_host_available(&c->hosts[0], now));
	now += 3000;
	fail_n(c, 0, XM_HOST_CONNECT_FAIL, 5, now);
	T_CHECK_EQ(hs->ejected_until_ms - now, 4000);
	xm_cluster_free(c);
out:
	env_close(&e);
}

static void test_outlier_max_percent(void)
{
	static const struct {
		const char *desc;
		unsigned nhosts, percent, max_ejected;
		int enabled;
	} cases[] = {
		{ "10% (Envoy's default) of 10 hosts: one", 10, 10, 1, 1 },
		{ "0%: never eject (a configured 0 is not \"unset\")", 10, 0, 0, 1 },
		{ "50% of 10 hosts: five", 10, 50, 5, 1 },
		{ "10% of 3 hosts still allows one", 3, 10, 1, 1 },
		{ "100% of 4 hosts: all", 4, 100, 4, 1 },
		{ "disabled: none", 10, 100, 0, 0 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct env e;
		env_open(&e);
		struct xm_cluster_cfg cfg = mkcfg("mp", cases[i].nhosts);
		cfg.outlier_enabled = cases[i].enabled;
		cfg.od_max_ejection_percent = cases[i].percent;
		struct xm_cluster *c;
		T_CHECK_EQ(xm_cluster_build(&c, &cfg, e.reg, 1), 0);
		if (!c) {
			env_close(&e);
			continue;
		}
		for (unsigned h = 0; h < cases[i].nhosts; h++)
			fail_n(c, h, XM_HOST_CONNECT_FAIL, 5, 0);
		unsigned ejected = 0;
		for (unsigned h = 0; h < cases[i].nhosts; h++)
			ejected += !xm_host_available(&c->hosts[h], 1);
		if (ejected != cases[i].max_ejected || (unsigned)c->st->ejected_hosts != cases[i].max_ejected)
			fprintf(stderr, "  case: %s (ejected %u)\n", cases[i].desc, ejected);
		T_CHECK_EQ(ejected, cases[i].max_ejected);
		T_CHECK_EQ(c->st->ejected_hosts, cases[i].max_ejected);
		xm_cluster_free(c);
		/* Freeing ejected hosts returns their slots. */
		env_close(&e);
	}
}

static void test_outlier_no_events_queue(void)
{
	struct xm_registry *reg;
	xm_registry_new(&reg, NULL, NULL); /* no stats block, no event queue */
	struct xm_cluster_cfg cfg = mkcfg("q", 1);
	cfg.outlier_enabled = 1;
	struct xm_cluster *c;
	T_CHECK_EQ(xm_cluster_build(&c, &cfg, reg, 1), 0);
	if (c) {
		fail_n(c, 0, XM_HOST_RESET, 5, 0);
		T_CHECK(!xm_host_available(&c->hosts[0], 0));
		T_CHECK(xm_host_available(&c->hosts[0], 30000));
		xm_cluster_free(c);
	}
	xm_registry_free(reg);
}

static void test_hash64(void)
{
	/* XXH64 reference values (seed 0). */
	T_CHECK(xm_hash64("", 0) == 0xEF46DB3751D8E999ull);
	T_CHECK(xm_hash64("abc", 3) == 0x44BC2CF5AD770999ull);
	/* Avalanche: flipping any one input bit flips about half the output bits. */
	unsigned char buf[48];
	long flips = 0, trials = 0;
	for (unsigned len = 1; len <= sizeof(buf); len += 7) {
		for (unsigned i = 0; i < len; i++)
			buf[i] = (unsigned char)(i * 31 + len);
		uint64_t h0 = xm_hash64(buf, len);
		for (unsigned bit = 0; bit < len * 8; bit++) {
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			flips += __builtin_popcountll(h0 ^ xm_hash64(buf, len));
			trials++;
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
	double avg = (double)flips / (double)trials;
	T_CHECK(avg > 30.0 && avg < 34.0);
}

static struct xm_cluster *conc_c;
static void *conc_worker(void *arg)
{
	unsigned w = (unsigned)(uintptr_t)arg;
	for (uint64_t i = 0; i < 20000; i++) {
		const struct xm_host *h = xm_lb_pick(conc_c, w, i, NULL, i);
		xm_host_report(conc_c->st, h->st, conc_c, (i % 3) ? XM_HOST_CONNECT_OK : XM_HOST_CONNECT_FAIL, i);
		if (xm_cluster_rq_acquire(conc_c) == 0)
			xm_cluster_rq_release(conc_c->st);
	}
	return NULL;
}

static void test_concurrent_workers(void)
{
	struct env e;
	env_open(&e);
	struct xm_cluster_cfg cfg = mkcfg("conc", 8);
	cfg.outlier_enabled = 1;
	cfg.od_consecutive_gateway_failure = 2;
	cfg.od_max_ejection_percent = 50;
	cfg.od_base_ejection_time_ms = 50;
	cfg.lb_policy = XM_LB_LEAST_REQUEST;
	T_CHECK_EQ(xm_cluster_build(&conc_c, &cfg, e.reg, 4), 0);
	if (!conc_c)
		goto out;
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, conc_worker, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* Whatever interleaving happened, the bookkeeping adds up. */
	int32_t ejected = 0;
	for (unsigned h = 0; h < conc_c->nhosts; h++)
		ejected += (conc_c->hosts[h].st->flags & XM_HOST_F_EJECTED) != 0;
	T_CHECK_EQ(conc_c->st->ejected_hosts, ejected);
	T_CHECK(ejected <= 4);
	T_CHECK_EQ(gauge(&e, "cluster.{cluster=conc}.outlier_detection_ejections_active"), ejected);
	T_CHECK_EQ(conc_c->st->rq_open, 0);
	xm_cluster_free(conc_c);
out:
	env_close(&e);
}

T_MAIN_BEGIN
T_RUN("build parses numeric IPv4/IPv6 addresses and refuses names", test_build_addresses);
T_RUN("build takes every value from its config (0 breakers allow none) and copies metadata", test_build_values);
T_RUN("cluster and host stats are registered under their keys", test_stats_registered);
T_RUN("host state survives a rebuild and is freed when unreferenced", test_rebuild_keeps_state);
T_RUN("a session reference outlives the view; last unref from a worker frees", test_session_ref_outlives_view);
T_RUN("set_health finds hosts by any spelling of their address", test_set_health_names);
T_RUN("circuit breakers refuse at the limit and count overflow", test_circuit_breakers);
T_RUN("outlier detection ejects after N failures and lifts after the time", test_outlier_eject_uneject);
T_RUN("ejection time doubles, is capped, and decays", test_outlier_backoff);
T_RUN("max_ejection_percent is respected", test_outlier_max_percent);
T_RUN("outlier detection works without stats block or event queue", test_outlier_no_events_queue);
T_RUN("xm_hash64 matches XXH64 and avalanches", test_hash64);
T_RUN("workers picking and reporting concurrently keep counts consistent", test_concurrent_workers);
T_MAIN_END
