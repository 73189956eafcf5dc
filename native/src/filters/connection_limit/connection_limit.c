/* The connection_limit filter: a count shared by every worker (the stat_prefix's gauge), raised at accept and lowered when the connection ends wherever it went. */
#include "filters/connection_limit/connection_limit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/keep.h"
#include "stats/stats.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/*
 * One atomic add at accept decides (a connection that takes the count above the limit gives
 * its place back and is closed); the connection's accounting (xm_cx_acct) lowers the count
 * and the gauge when it ends, whichever filter owns it by then. Kept by stat_prefix for the
 * data plane's life, so a config swap keeps the count of the connections still open. The
 * count is not the gauge: a full stats block hands out a shared dummy gauge.
 */

struct cl_stats {
	int64_t count;                  /* atomic */
	int64_t *active_connections;
	uint64_t *limited_connections;
};

struct cl_cfg {
	uint64_t max;
	struct cl_stats *st; /* kept */
};

static void *cl__stats_make(void *ctx, const char *prefix, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	struct cl_stats *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->active_connections = xm_stats_gaugef(s, "connection_limit.{stat_prefix=%s}.active_connections", prefix);
	t->limited_connections = xm_stats_counterf(s, "connection_limit.{stat_prefix=%s}.limited_connections", prefix);
	return t;
}

static const struct xm_keep_kind cl__stats_kind = { "connection_limit stats", cl__stats_make, free };

static int cl__build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **out, char *err,
		     size_t errlen)
{
	const Xmesh__Dataplane__V1__ConnectionLimit *m = (const Xmesh__Dataplane__V1__ConnectionLimit *)msg;
	char why[128] = "";

	xm_assert(msg->descriptor == &xmesh__dataplane__v1__connection_limit__descriptor);
	if (!m->stat_prefix[0] || m->max_connections < 1) {
		snprintf(err, errlen, "listener '%s': connection_limit %s is required", b->listener,
			 !m->stat_prefix[0] ? "stat_prefix" : "max_connections");
		return -EINVAL;
	}
	struct cl_cfg *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->max = m->max_connections;
	c->st = xm_keep_get(b->keep, &cl__stats_kind, m->stat_prefix, strlen(m->stat_prefix), b->stats, why,
			    sizeof(why));
	if (!c->st) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static void cl__free(void *cfg)
{
	free(cfg);
}

static enum xm_filter_status cl__on_accept(struct xm_fworker *fw, void *cfgp, struct xm_fconn *fc)
{
	struct cl_cfg *c = cfgp;
	int64_t n = __atomic_add_fetch(&c->st->count, 1, __ATOMIC_RELAXED);

	if ((uint64_t)n > c->max || fc->acct.nholds + 2 > XM_CX_HOLDS_MAX) {
		__atomic_sub_fetch(&c->st->count, 1, __ATOMIC_RELAXED);
		xm_stat_inc(c->st->limited_connections);
		close(fc->fd);
		return XM_FILTER_STOP;
	}
	xm_gauge_add(c->st->active_connections, 1);
	fc->acct.holds[fc->acct.nholds++] = &c->st->count;
	fc->acct.holds[fc->acct.nholds++] = c->st->active_connections;
	return XM_FILTER_CONTINUE;
}

const struct xm_filter_ops xm_connection_limit_filter = {
	.name = "envoy.filters.network.connection_limit",
	.terminal = 0,
	.build = cl__build,
	.free = cl__free,
	.on_accept = cl__on_accept,
};
