/* x_proxy routing features end to end with real Bolt frames: regex matches, subsets by
 * endpoint metadata, retries (connect failure, reset on idempotent routes), per-method stats
 * and responses counted by status. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_rpc.h"
#include "t_net.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/* ------------------------------------------------------------ snapshot builder */

struct t_ep {
	uint16_t port;
	const char *mk, *mv; /* one metadata pair, or NULL */
};

struct t_cl {
	const char *name;
	struct t_ep eps[4];
	int neps;
	int lb_policy;                   /* xmesh.dataplane.v1.Cluster.LbPolicy; 0 = round robin */
	uint32_t od_gateway;             /* >0: outlier detection after this many gateway failures */
};

struct t_rt {
	const char *method_exact, *method_regex;
	const char *meta, *meta_regex;   /* a meta matcher (regex) */
	const char *cluster;
	const char *mm_key, *mm_val;     /* metadata_match pair */
	uint32_t retries;
	int on_connect_failure, on_reset, idempotent;
	const char *hash_meta;           /* hash policy: this meta's value */
};

typedef Xmesh__Dataplane__V1__XStringMatch pb_sm;

/* One bolt listener "rpc", one virtual host "svc" for every service, routes rs in order,
 * clusters cs (round robin). Returns the apply result; err gets the reason. */
static int t__build(struct xm_dp *dp, const struct t_cl *cs, int ncs, const struct t_rt *rs, int nrs, char *err,
		    size_t errlen)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh = XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT;
	Xmesh__Dataplane__V1__XVirtualHost *vhs[] = { &vh };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };
	char *dom[] = { "*" };
	Xmesh__Dataplane__V1__XRoute r[8], *rp[8];
	pb_sm ms[8], mm[8];
	Xmesh__Dataplane__V1__XMetaMatch meta[8], *metap[8];
	Xmesh__Dataplane__V1__XRetryPolicy rpol[8];
	Xmesh__Dataplane__V1__XHashPolicy hpol[8];
	Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry mme[8], *mmep[8];
	Xmesh__Dataplane__V1__Cluster c[4], *cp[4];
	Xmesh__Dataplane__V1__Endpoint e[4][4], *ep[4][4];
	Xmesh__Dataplane__V1__SocketAddress ea[4][4];
	Xmesh__Dataplane__V1__Endpoint__MetadataEntry eme[4][4], *emep[4][4];
	Xmesh__Dataplane__V1__OutlierDetection od[4];

	for (int i = 0; i < nrs; i++) {
		xmesh__dataplane__v1__xroute__init(&r[i]);
		rp[i] = &r[i];
		r[i].cluster = (char *)rs[i].cluster;
		if (rs[i].method_exact || rs[i].method_regex) {
			xmesh__dataplane__v1__xstring_match__init(&ms[i]);
			if (rs[i].method_exact) {
				ms[i].kind_case = XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_EXACT;
				ms[i].exact = (char *)rs[i].method_exact;
			} else {
				ms[i].kind_case = XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_SAFE_REGEX;
				ms[i].safe_regex = (char *)rs[i].method_regex;
			}
			r[i].method = &ms[i];
		}
		if (rs[i].meta) {
			xmesh__dataplane__v1__xmeta_match__init(&meta[i]);
			xmesh__dataplane__v1__xstring_match__init(&mm[i]);
			mm[i].kind_case = XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_SAFE_REGEX;
			mm[i].safe_regex = (char *)rs[i].meta_regex;
			meta[i].name = (char *)rs[i].meta;
			meta[i].match = &mm[i];
			metap[i] = &meta[i];
			r[i].n_metas = 1, r[i].metas = &metap[i];
		}
		if (rs[i].retries) {
			xmesh__dataplane__v1__xretry_policy__init(&rpol[i]);
			rpol[i].num_retries = rs[i].retries;
			rpol[i].on_connect_failure = rs[i].on_connect_failure;
			rpol[i].on_reset = rs[i].on_reset;
			r[i].retry_policy = &rpol[i];
		}
		r[i].idempotent = rs[i].idempotent;
		if (rs[i].hash_meta) {
			xmesh__dataplane__v1__xhash_policy__init(&hpol[i]);
			hpol[i].key_case = XMESH__DATAPLANE__V1__XHASH_POLICY__KEY_META;
			hpol[i].meta = (char *)rs[i].hash_meta;
			r[i].hash_policy = &hpol[i];
		}
		if (rs[i].mm_key) {
			xmesh__dataplane__v1__xroute__metadata_match_entry__init(&mme[i]);
			mme[i].key = (char *)rs[i].mm_key;
			mme[i].value = (char *)rs[i].mm_val;
			mmep[i] = &mme[i];
			r[i].n_metadata_match = 1, r[i].metadata_match = &mmep[i];
		}
	}
	for (int i = 0; i < ncs; i++) {
		xmesh__dataplane__v1__cluster__init(&c[i]);
		cp[i] = &c[i];
		c[i].name = (char *)cs[i].name;
		c[i].connect_timeout_ms = 1000;
		c[i].lb_policy = (Xmesh__Dataplane__V1__Cluster__LbPolicy)cs[i].lb_policy;
		if (cs[i].od_gateway) {
			xmesh__dataplane__v1__outlier_detection__init(&od[i]);
			od[i].enabled = 1;
			od[i].consecutive_gateway_failure = cs[i].od_gateway;
			od[i].max_ejection_percent = 50;
			c[i].outlier_detection = &od[i];
		}
		for (int j = 0; j < cs[i].neps; j++) {
			xmesh__dataplane__v1__endpoint__init(&e[i][j]);
			xmesh__dataplane__v1__socket_address__init(&ea[i][j]);
			ea[i][j].address = "127.0.0.1";
			ea[i][j].port = cs[i].eps[j].port;
			e[i][j].address = &ea[i][j];
			e[i][j].weight = 1;
			e[i][j].healthy = 1;
			if (cs[i].eps[j].mk) {
				xmesh__dataplane__v1__endpoint__metadata_entry__init(&eme[i][j]);
				eme[i][j].key = (char *)cs[i].eps[j].mk;
				eme[i][j].value = (char *)cs[i].eps[j].mv;
				emep[i][j] = &eme[i][j];
				e[i][j].n_metadata = 1, e[i][j].metadata = &emep[i][j];
			}
			ep[i][j] = &e[i][j];
		}
		c[i].n_endpoints = (size_t)cs[i].neps, c[i].endpoints = ep[i];
	}
	vh.name = "svc";
	vh.n_domains = 1, vh.domains = dom;
	vh.n_routes = (size_t)nrs, vh.routes = rp;
	xp.stat_prefix = "rpc";
	static char *bolt_only[] = { "bolt" };
	xp.n_protocols = 1, xp.protocols = bolt_only;
	xp.n_virtual_hosts = 1, xp.virtual_hosts = vhs;
	la.address = "127.0.0.1";
	l.name = "rpc";
	l.address = &la;
	struct t_chain ch;
	t_chain_x(&l, &ch, &xp);
	snap.version = 1;
	snap.n_listeners = 1, snap.listeners = ls;
	snap.n_clusters = (size_t)ncs, snap.clusters = cp;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	int rc = xm_dp_apply(dp, buf, len, err, errlen);
	free(buf);
	return rc;
}

static struct xm_dp *t__dp(const struct t_cl *cs, int ncs, const struct t_rt *rs, int nrs)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 8u << 20 };
	char err[256] = "";
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	int rc = t__build(dp, cs, ncs, rs, nrs, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	return dp;
}

/* ------------------------------------------------------------ tests */

static void test_regex(void)
{
	struct t_rpc_srv a = { 0 }, b = { 0 };
	struct t_resp r;

	t_rpc_srv_start(&a, 'A');
	t_rpc_srv_start(&b, 'B');
	struct t_cl cs[] = { { "a", { { a.port } }, 1 }, { "b", { { b.port } }, 1 } };
	struct t_rt rs[] = {
		{ .method_regex = "get(Book|Author)s?", .cluster = "b" },
		{ .meta = "service", .meta_regex = "com\\.acme\\..*:2\\.[0-9]+", .cluster = "b" },
		{ .cluster = "a" },
	};
	struct xm_dp *dp = t__dp(cs, 2, rs, 3);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	static const struct {
		const char *svc, *method;
		char want;
	} cases[] = {
		{ "com.acme.X:1.0", "getBook", 'B' },     { "com.acme.X:1.0", "getAuthors", 'B' },
		{ "com.acme.X:1.0", "getBookX", 'A' },    /* whole-string match only */
		{ "com.acme.X:1.0", "xgetBook", 'A' },    { "com.acme.X:2.17", "put", 'B' }, /* meta regex */
		{ "com.acme.X:2.x", "put", 'A' },         { "com.other.X:2.1", "put", 'A' },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		T_CHECK_EQ(t_bolt_call(fd, (uint32_t)i + 1, cases[i].svc, cases[i].method, "x", &r), 0);
		if (r.content[0] != cases[i].want)
			fprintf(stderr, "  %s %s -> %s\n", cases[i].svc, cases[i].method, r.content);
		T_CHECK_EQ(r.content[0], cases[i].want);
	}
	close(fd);
	xm_dp_free(dp);
	/* A bad pattern is refused with its reason; nothing is applied. */
	struct t_rt bad[] = { { .method_regex = "get(", .cluster = "a" } };
	struct xm_dp *dp2 = NULL;
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 1u << 20 };
	char err[256] = "";
	T_CHECK_EQ(xm_dp_new(&dp2, &o), 0);
	T_CHECK(t__build(dp2, cs, 2, bad, 1, err, sizeof(err)) < 0);
	fprintf(stderr, "  bad regex: %s\n", err);
	T_CHECK(strstr(err, "regex 'get('") != NULL);
	xm_dp_free(dp2);
	t_rpc_srv_stop(&a);
	t_rpc_srv_stop(&b);
}

/* metadata_match sends only to endpoints carrying the pair; no such endpoint is UNAVAILABLE. */
static void test_subset(void)
{
	struct t_rpc_srv v1 = { 0 }, v2 = { 0 };
	struct t_resp r;

	t_rpc_srv_start(&v1, '1');
	t_rpc_srv_start(&v2, '2');
	struct t_cl cs[] = { { "svc", { { v1.port, "version", "1.0" }, { v2.port, "version", "2.0" } }, 2 } };
	struct t_rt rs[] = {
		{ .method_exact = "v2", .cluster = "svc", .mm_key = "version", .mm_val = "2.0" },
		{ .method_exact = "v3", .cluster = "svc", .mm_key = "version", .mm_val = "3.0" },
		{ .cluster = "svc" },
	};
	struct xm_dp *dp = t__dp(cs, 1, rs, 3);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	int to2 = 0, any[2] = { 0 };
	for (uint32_t i = 0; i < 40; i++) {
		T_CHECK_EQ(t_bolt_call(fd, i + 1, "com.acme.S:1.0", "v2", "x", &r), 0);
		to2 += r.content[0] == '2';
	}
	for (uint32_t i = 0; i < 40; i++) {
		T_CHECK_EQ(t_bolt_call(fd, 100 + i, "com.acme.S:1.0", "all", "x", &r), 0);
		if (r.content[0] == '1' || r.content[0] == '2')
			any[r.content[0] - '1']++;
	}
	fprintf(stderr, "  subset version=2.0: %d of 40 to v2; whole cluster: %d/%d\n", to2, any[0], any[1]);
	T_CHECK_EQ(to2, 40);
	T_CHECK_EQ(any[0], 20); /* round robin over both without the subset */
	T_CHECK_EQ(any[1], 20);
	T_CHECK_EQ(t_bolt_call(fd, 999, "com.acme.S:1.0", "v3", "x", &r), 0);
	T_CHECK_EQ(r.id, 999);
	T_CHECK_EQ(r.status, 5); /* no endpoint has version 3.0: unavailable (ERROR_COMM) */
	close(fd);
	/* Subset views share the cluster's state: one set of cluster counters. */
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=svc}.upstream_rq_total"), 80);
	xm_dp_free(dp);
	t_rpc_srv_stop(&v1);
	t_rpc_srv_stop(&v2);
}

/* Retries on connect failure go to another host; every call succeeds. The failures feed
 * outlier detection (x_proxy reports without a cluster view: the persistent settings
 * apply), so the dead host is ejected after two and costs no more retries. */
static void test_retry_connect_failure(void)
{
	struct t_rpc_srv a = { 0 };
	struct t_resp r;
	uint16_t dead = t_closed_port();

	t_rpc_srv_start(&a, 'A');
	struct t_cl cs[] = { { "c", { { dead }, { a.port } }, 2, 0, 2 } };
	struct t_rt rs[] = { { .cluster = "c", .retries = 2, .on_connect_failure = 1 } };
	struct xm_dp *dp = t__dp(cs, 1, rs, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	int ok = 0;
	for (uint32_t i = 0; i < 10; i++) {
		T_CHECK_EQ(t_bolt_call(fd, i + 1, "com.acme.S:1.0", "get", "x", &r), 0);
		ok += r.status == 0 && r.id == i + 1 && strcmp(r.content, "A:x") == 0;
	}
	close(fd);
	usleep(20000);
	long long retries = t_stat(dp, "xproxy.{stat_prefix=rpc}.upstream_rq_retry");
	fprintf(stderr, "  %d of 10 answered; %lld retries\n", ok, retries);
	T_CHECK_EQ(ok, 10);
	T_CHECK_EQ(retries, 2);
	T_CHECK_EQ(t_stat(dp, "cluster.{cluster=c}.outlier_detection_ejections_total"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rs.{status=ok}"), 10);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.downstream_rs.{status=unavailable}"), 0);
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
}

/* A request lost in flight is sent again only on an idempotent route. */
static void test_retry_reset(void)
{
	struct t_rpc_srv x = { 0 }, y = { 0 };
	struct t_resp r;

	t_rpc_srv_start_dying(&x, 'X', "flaky"); /* x drops the connection on "flaky"; y answers it */
	t_rpc_srv_start_dying(&y, 'Y', "never");
	struct t_cl cs[] = { { "c", { { x.port }, { y.port } }, 2 } };
	struct t_rt rs[] = {
		{ .meta = "service", .meta_regex = "idem\\..*", .cluster = "c", .retries = 1, .on_reset = 1, .idempotent = 1 },
		{ .cluster = "c", .retries = 1, .on_reset = 1 }, /* not idempotent: on_reset is ignored */
	};
	struct xm_dp *dp = t__dp(cs, 1, rs, 2);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	int ok = 0;
	for (uint32_t i = 0; i < 6; i++) {
		T_CHECK_EQ(t_bolt_call(fd, i + 1, "idem.S:1.0", "flaky", "f", &r), 0);
		ok += r.status == 0 && strcmp(r.content, "Y:f") == 0;
	}
	T_CHECK_EQ(ok, 6);
	/* The same loss on a route that is not idempotent fails with ERROR_COMM. */
	int failed = 0, answered = 0;
	for (uint32_t i = 0; i < 4; i++) {
		T_CHECK_EQ(t_bolt_call(fd, 50 + i, "com.acme.S:1.0", "flaky", "d", &r), 0);
		failed += r.status == 5;
		answered += r.status == 0;
	}
	fprintf(stderr, "  idempotent: 6 of 6 answered by Y; not idempotent: %d failed, %d answered\n", failed, answered);
	T_CHECK_EQ(failed + answered, 4);
	T_CHECK(failed >= 1);
	close(fd);
	usleep(20000);
	T_CHECK(t_stat(dp, "xproxy.{stat_prefix=rpc}.upstream_rq_retry") >= 3);
	xm_dp_free(dp);
	t_rpc_srv_stop(&x);
	t_rpc_srv_stop(&y);
}

/* Per-method stats: requests, responses by status, latency; hostile names are sanitised
 * and the number of methods per virtual host is bounded. */
static void test_method_stats(void)
{
	struct t_rpc_srv a = { 0 };
	struct t_resp r;
	char m[32];

	t_rpc_srv_start(&a, 'A');
	struct t_cl cs[] = { { "a", { { a.port } }, 1 } };
	struct t_rt rs[] = { { .cluster = "a" } };
	struct xm_dp *dp = t__dp(cs, 1, rs, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	for (uint32_t i = 0; i < 3; i++)
		T_CHECK_EQ(t_bolt_call(fd, i + 1, "com.acme.S:1.0", "getBook", "x", &r), 0);
	T_CHECK_EQ(t_bolt_call(fd, 4, "com.acme.S:1.0", "die", "x", &r), 0);
	T_CHECK_EQ(t_bolt_call(fd, 5, "com.acme.S:1.0", "a}.b{c=d", "x", &r), 0);
	for (uint32_t i = 0; i < 70; i++) {
		snprintf(m, sizeof(m), "m%u", i);
		T_CHECK_EQ(t_bolt_call(fd, 10 + i, "com.acme.S:1.0", m, "x", &r), 0);
	}
	close(fd);
	usleep(20000);
	/* Per protocol: the same requests, by status. */
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.protocol.{protocol=bolt}.rq_total"), 75);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.protocol.{protocol=bolt}.rs.{status=ok}"), 74);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=rpc}.protocol.{protocol=bolt}.rs.{status=unavailable}"), 1);
	/* x_proxy connections are counted on their listener too. */
	T_CHECK_EQ(t_stat(dp, "listener.{listener=rpc}.downstream_cx_destroy"), 1);
	T_CHECK_EQ(t_stat(dp, "listener.{listener=rpc}.downstream_cx_active"), 0);
#define MK(meth, what) "xproxy.{stat_prefix=rpc}.vhost.{vhost=svc}.method.{method=" meth "}." what
	T_CHECK_EQ(t_stat(dp, MK("getBook", "rq_total")), 3);
	T_CHECK_EQ(t_stat(dp, MK("getBook", "rs.{status=ok}")), 3);
	T_CHECK(t_stat(dp, MK("getBook", "rq_time_ms")) != -1); /* histogram present */
	T_CHECK_EQ(t_stat(dp, MK("die", "rs.{status=unavailable}")), 1);
	T_CHECK_EQ(t_stat(dp, MK("a__b_c_d", "rq_total")), 1);
	T_CHECK_EQ(t_stat(dp, MK("m0", "rq_total")), 1);
	/* 64 distinct methods per virtual host: getBook, die, a_.., m0..m60; the rest in _other. */
	T_CHECK_EQ(t_stat(dp, MK("m60", "rq_total")), 1);
	T_CHECK_EQ(t_stat(dp, MK("m61", "rq_total")), -1);
	T_CHECK_EQ(t_stat(dp, MK("_other", "rq_total")), 9);
#undef MK
	xm_dp_free(dp);
	t_rpc_srv_stop(&a);
}

/* A ring-hash cluster with a meta hash policy: each value sticks to one host, values spread. */
static void test_hash_policy(void)
{
	struct t_rpc_srv srv[4];
	struct t_resp r;
	char m[16];

	for (int i = 0; i < 4; i++)
		t_rpc_srv_start(&srv[i], (char)('0' + i));
	struct t_cl cs[] = { { "h", { { srv[0].port }, { srv[1].port }, { srv[2].port }, { srv[3].port } }, 4,
			       XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__RING_HASH } };
	struct t_rt rs[] = { { .cluster = "h", .hash_meta = "sofa_head_method_name" } };
	struct xm_dp *dp = t__dp(cs, 1, rs, 1);
	int fd = t_connect(t_listener_port(dp, "rpc"));
	int sticky = 1, used[4] = { 0 };
	for (int k = 0; k < 16; k++) {
		char first = 0;
		snprintf(m, sizeof(m), "method%d", k);
		for (uint32_t i = 0; i < 5; i++) {
			T_CHECK_EQ(t_bolt_call(fd, (uint32_t)(k * 10 + i + 1), "com.acme.S:1.0", m, "x", &r), 0);
			if (!first)
				first = r.content[0];
			sticky &= r.content[0] == first;
		}
		if (first >= '0' && first <= '3')
			used[first - '0'] = 1;
	}
	int nused = used[0] + used[1] + used[2] + used[3];
	fprintf(stderr, "  16 keys x 5 calls: sticky %d, %d of 4 hosts used\n", sticky, nused);
	T_CHECK(sticky);
	T_CHECK(nused >= 2);
	close(fd);
	xm_dp_free(dp);
	for (int i = 0; i < 4; i++)
		t_rpc_srv_stop(&srv[i]);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("method and meta regex matches are whole-string; a bad pattern is refused", test_regex);
	T_RUN("metadata_match routes to the endpoint subset; an empty subset is unavailable", test_subset);
	T_RUN("retry on connect failure reaches another host; the failures eject the dead host", test_retry_connect_failure);
	T_RUN("retry on reset only for idempotent routes", test_retry_reset);
	T_RUN("per-method stats with responses by status, bounded and sanitised", test_method_stats);
	T_RUN("hash policy on a meta: ring hash keeps each value on one host", test_hash_policy);
T_MAIN_END
