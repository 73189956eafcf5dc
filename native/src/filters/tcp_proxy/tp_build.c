/* The tcp_proxy filter's config from its TcpProxy message, and its kept stats and access-log sinks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/keep.h"
#include "filters/tcp_proxy/tcp_proxy.h"
#include "stats/stats.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

static const char *const tp__end_names[TP_END__COUNT] = {
	[TP_END_DOWNSTREAM_CLOSE] = "downstream_close",
	[TP_END_UPSTREAM_CLOSE] = "upstream_close",
	[TP_END_DOWNSTREAM_RESET] = "downstream_reset",
	[TP_END_UPSTREAM_RESET] = "upstream_reset",
	[TP_END_CONNECT_FAILED] = "connect_failed",
	[TP_END_CONNECT_TIMEOUT] = "connect_timeout",
	[TP_END_NO_HEALTHY_UPSTREAM] = "no_healthy_upstream",
	[TP_END_OVERFLOW] = "overflow",
	[TP_END_IDLE_TIMEOUT] = "idle_timeout",
	[TP_END_SHUTDOWN] = "shutdown",
	[TP_END_NO_MEMORY] = "no_memory",
	[TP_END_MAX_DURATION] = "max_duration_reached",
};

const char *tp_end_name(enum tp_end r)
{
	return (unsigned)r < TP_END__COUNT ? tp__end_names[r] : "unknown";
}

static void *tp__stats_make(void *ctx, const char *prefix, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	struct tp_stats *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
#define TP__C(f) t->f = xm_stats_counterf(s, "tcp.{stat_prefix=%s}." #f, prefix)
	TP__C(downstream_cx_total);
	TP__C(downstream_cx_rx_bytes_total);
	TP__C(downstream_cx_tx_bytes_total);
	TP__C(downstream_flow_control_paused_reading_total);
	TP__C(downstream_flow_control_resumed_reading_total);
	TP__C(upstream_flow_control_paused_reading_total);
	TP__C(upstream_flow_control_resumed_reading_total);
	TP__C(upstream_connect_attempts_total);
	TP__C(bytes_copied);
	TP__C(splice_started_total);
#undef TP__C
	t->downstream_cx_active = xm_stats_gaugef(s, "tcp.{stat_prefix=%s}.downstream_cx_active", prefix);
	for (int r = 0; r < TP_END__COUNT; r++)
		t->end[r] = xm_stats_counterf(s, "tcp.{stat_prefix=%s}.cx_end.{reason=%s}", prefix, tp_end_name((enum tp_end)r));
	return t;
}

static const struct xm_keep_kind tp__stats_kind = { "tcp_proxy stats", tp__stats_make, free };

/* Access-log sinks, one O_APPEND file per path, kept so that every filter (and every table)
 * writing to a path shares one fd. */
struct xm_alog {
	int fd;
};

static void *tp__alog_make(void *ctx, const char *path, size_t klen, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	struct xm_alog *a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		return NULL;
	}
	a->fd = fd;
	return a;
}

static void tp__alog_free(void *obj)
{
	struct xm_alog *a = obj;
	close(a->fd);
	free(a);
}

static const struct xm_keep_kind tp__alog_kind = { "access log", tp__alog_make, tp__alog_free };

int xm_alog_fd(const struct xm_alog *a) { return a->fd; }

static int tp__resolve(void *ctx, const char *name, struct xm_cluster **out, char *err, size_t errlen)
{
	const struct xm_filter_build *b = ctx;
	if ((*out = b->cluster(b, name)))
		return 0;
	snprintf(err, errlen, "listener '%s': tcp_proxy cluster '%s' not found", b->listener, name);
	return -ENOENT;
}

void tp_free(void *cfg)
{
	struct tp_cfg *c = cfg;
	if (!c)
		return;
	xm_route_action_free(&c->action);
	free(c);
}

int tp_build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **out, char *err, size_t errlen)
{
	const Xmesh__Dataplane__V1__TcpProxy *tp = (const Xmesh__Dataplane__V1__TcpProxy *)msg;
	struct tp_cfg *c = calloc(1, sizeof(*c));
	char why[160] = "";
	int rc = -ENOMEM;

	xm_assert(msg->descriptor == &xmesh__dataplane__v1__tcp_proxy__descriptor);
	if (!c)
		return -ENOMEM;
	/* Required (the control core makes every default explicit): refused, not filled in. */
	if (!tp->stat_prefix[0] || tp->max_connect_attempts < 1) {
		snprintf(err, errlen, "listener '%s': tcp_proxy %s is required", b->listener,
			 !tp->stat_prefix[0] ? "stat_prefix" : "max_connect_attempts");
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < tp->n_weighted_clusters; i++)
		if (tp->weighted_clusters[i]->weight < 1) {
			snprintf(err, errlen, "listener '%s': tcp_proxy weighted_clusters[%zu].weight is required", b->listener, i);
			rc = -EINVAL;
			goto out;
		}
	c->idle_timeout_ms = tp->idle_timeout_ms; /* 0 = no idle timeout */
	c->max_duration_ms = tp->max_connection_duration_ms; /* 0 = no limit */
	c->max_connect_attempts = tp->max_connect_attempts;
	c->hash_key = tp->hash_policy && tp->hash_policy->key == XMESH__DATAPLANE__V1__HASH_POLICY__KEY__SOURCE_ADDRESS_PORT
			      ? TP_HASH_SOURCE_ADDRESS_PORT
			      : TP_HASH_SOURCE_IP;
	if (tp->n_weighted_clusters > 0) {
		const char **names = calloc(tp->n_weighted_clusters, sizeof(*names));
		uint32_t *weights = calloc(tp->n_weighted_clusters, sizeof(*weights));
		rc = -ENOMEM;
		if (names && weights) {
			for (size_t i = 0; i < tp->n_weighted_clusters; i++) {
				names[i] = tp->weighted_clusters[i]->cluster;
				weights[i] = tp->weighted_clusters[i]->weight;
			}
			rc = xm_route_action_weighted(&c->action, names, weights, tp->n_weighted_clusters, tp__resolve,
						      (void *)b, err, errlen);
		}
		free(names);
		free(weights);
		if (rc < 0)
			goto out;
	} else if ((rc = tp__resolve((void *)b, tp->cluster, &c->action.cluster, err, errlen)) < 0) {
		goto out;
	}
	rc = -ENOMEM;
	const char *prefix = tp->stat_prefix;
	if (!(c->st = xm_keep_get(b->keep, &tp__stats_kind, prefix, strlen(prefix), b->stats, why, sizeof(why))))
		goto out;
	if (tp->access_log_path && tp->access_log_path[0]) {
		c->alog = xm_keep_get(b->keep, &tp__alog_kind, tp->access_log_path, strlen(tp->access_log_path), NULL, why,
				      sizeof(why));
		if (!c->alog) {
			snprintf(err, errlen, "listener '%s': access log '%s': %s", b->listener, tp->access_log_path,
				 why[0] ? why : "out of memory");
			rc = -EINVAL;
			goto out;
		}
	}
	*out = c;
	return 0;
out:
	tp_free(c);
	return rc;
}
