/* The snapshot's required fields (config/snapshot.c and the filters' builds): the control core makes every default explicit, so a snapshot that leaves one 0 is refused naming the field, and the running table stays. */
#include <stdlib.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"

typedef Xmesh__Dataplane__V1__Snapshot pb_snap;

static const struct {
	const char *desc;
	const char *want;
} cases[] = {
	{ "listener buffer_limit", "listener 'l': buffer_limit is required" },
	{ "listener backlog", "listener 'l': backlog is required" },
	{ "cluster connect_timeout_ms", "cluster 'c': connect_timeout_ms is required" },
	{ "cluster per_connection_buffer_limit", "cluster 'c': per_connection_buffer_limit is required" },
	{ "cluster circuit_breakers", "cluster 'c': circuit_breakers is required" },
	{ "endpoint weight", "cluster 'c': endpoints[0].weight is required" },
	{ "maglev table size of a MAGLEV cluster", "cluster 'c': maglev_table_size is required" },
	{ "tcp_proxy max_connect_attempts", "listener 'l': tcp_proxy max_connect_attempts is required" },
	{ "tcp_proxy stat_prefix", "listener 'l': tcp_proxy stat_prefix is required" },
};

static void spoil(pb_snap *s, size_t i)
{
	Xmesh__Dataplane__V1__Listener *l = s->listeners[0];
	Xmesh__Dataplane__V1__Cluster *c = s->clusters[0];
	Xmesh__Dataplane__V1__TcpProxy *tp = l->filter_chains[0]->filters[0]->tcp_proxy;
	switch (i) {
	case 0: l->buffer_limit = 0; break;
	case 1: l->backlog = 0; break;
	case 2: c->connect_timeout_ms = 0; break;
	case 3: c->per_connection_buffer_limit = 0; break;
	case 4: c->circuit_breakers = NULL; break;
	case 5: c->endpoints[0]->weight = 0; break;
	case 6: c->lb_policy = XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__MAGLEV, c->maglev_table_size = 0; break;
	case 7: tp->max_connect_attempts = 0; break;
	case 8: tp->stat_prefix = ""; break;
	}
}

static void test_required(void)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 4u << 20 };
	uint16_t ports[1] = { 9 };
	struct t_snap_opts so = { .version = 1, .ports = ports, .nports = 1 };
	uint8_t *good;
	size_t goodlen;
	char err[256];

	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	T_CHECK_EQ(t_snapshot_opts(&so, &good, &goodlen), 0);
	T_CHECK_EQ(xm_dp_apply(dp, good, goodlen, err, sizeof(err)), 0);
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		pb_snap *s = xmesh__dataplane__v1__snapshot__unpack(NULL, goodlen, good);
		/* what spoil() replaces, put back before free_unpacked frees the message */
		Xmesh__Dataplane__V1__CircuitBreakers *cb = s->clusters[0]->circuit_breakers;
		char *prefix = s->listeners[0]->filter_chains[0]->filters[0]->tcp_proxy->stat_prefix;
		s->version = 100 + i;
		spoil(s, i);
		size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(s);
		uint8_t *buf = malloc(len);
		xmesh__dataplane__v1__snapshot__pack(s, buf);
		err[0] = 0;
		int rc = xm_dp_apply(dp, buf, len, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, cases[i].want) != 0)
			fprintf(stderr, "  %s: want -EINVAL \"%s\", got %d \"%s\"\n", cases[i].desc, cases[i].want, rc, err);
		T_CHECK_EQ(rc, -EINVAL);
		T_CHECK(strcmp(err, cases[i].want) == 0);
		s->clusters[0]->circuit_breakers = cb;
		s->listeners[0]->filter_chains[0]->filters[0]->tcp_proxy->stat_prefix = prefix;
		xmesh__dataplane__v1__snapshot__free_unpacked(s, NULL);
		free(buf);
	}
	T_CHECK_EQ(dp->table->version, 1); /* the running table stays */
	free(good);
	xm_dp_free(dp);
}

T_MAIN_BEGIN
T_RUN("a snapshot missing a required value is refused naming it; the running table stays", test_required);
T_MAIN_END
