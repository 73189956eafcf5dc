/* Persistent statistics of the x_proxy filter: per stat_prefix and per virtual host (service). */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "xproxy.h"

struct xm_xproxy_stats *xm_xproxy_stats_get(struct xm_dp *dp, const char *prefix)
{
	struct xm_xproxy_stats *t;

	for (t = dp->xproxy_stats; t; t = t->next)
		if (strcmp(t->prefix, prefix) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->prefix = strdup(prefix))) {
		free(t);
		return NULL;
	}
	struct xm_stats *s = dp->stats;
#define XP__C(f) t->f = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}." #f, prefix)
#define XP__G(f) t->f = xm_stats_gaugef(s, "xproxy.{stat_prefix=%s}." #f, prefix)
	XP__C(downstream_cx_total);
	XP__C(downstream_rq_total);
	XP__C(downstream_rq_oneway);
	XP__C(downstream_rq_heartbeat);
	XP__C(downstream_rq_no_route);
	XP__C(downstream_rq_timeout);
	XP__C(downstream_rq_overflow);
	XP__C(downstream_rq_unavailable);
	XP__C(upstream_rs_total);
	XP__C(upstream_rs_error);
	XP__C(upstream_rs_dropped);
	XP__C(upstream_cx_total);
	XP__C(bytes_copied);
	XP__G(downstream_cx_active);
	XP__G(downstream_rq_active);
	XP__G(upstream_cx_active);
#undef XP__C
#undef XP__G
	for (int e = 0; e < XM_CODEC_E__COUNT; e++)
		t->decode_error[e] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.decode_error.{reason=%s}", prefix,
						       e == 0 ? "other" : xm_codec_err_name(e));
	for (int r = 0; r < XM_DETECT__COUNT; r++) {
		const char *why = xm_detect_end_name((enum xm_detect_end)r);
		t->downstream_cx_fallback[r] =
			xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_cx_fallback.{reason=%s}", prefix, why);
		t->downstream_cx_detect_failed[r] =
			xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_cx_detect_failed.{reason=%s}", prefix, why);
	}
	t->rq_time_ms = xm_stats_histf(s, "xproxy.{stat_prefix=%s}.rq_time_ms", prefix);
	t->next = dp->xproxy_stats;
	dp->xproxy_stats = t;
	return t;
}

const char *xm_detect_end_name(enum xm_detect_end r)
{
	static const char *const names[XM_DETECT__COUNT] = {
		[XM_DETECT_UNKNOWN] = "unknown_protocol",
		[XM_DETECT_TIMEOUT] = "detect_timeout",
		[XM_DETECT_CLIENT_CLOSE] = "downstream_close",
	};
	return (unsigned)r < XM_DETECT__COUNT ? names[r] : "other";
}

uint64_t *xm_xproxy_protocol_counter(struct xm_dp *dp, const char *prefix, const char *protocol)
{
	return xm_stats_counterf(dp->stats, "xproxy.{stat_prefix=%s}.downstream_cx_protocol.{protocol=%s}", prefix,
				 protocol);
}

struct xm_xvhost_stats *xm_xvhost_stats_get(struct xm_dp *dp, const char *prefix, const char *vhost)
{
	size_t pl = strlen(prefix), vl = strlen(vhost);
	struct xm_xvhost_stats *t;

	for (t = dp->xvhost_stats; t; t = t->next)
		if (strcmp(t->key, prefix) == 0 && strcmp(t->key + pl + 1, vhost) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->key = malloc(pl + vl + 2))) {
		free(t);
		return NULL;
	}
	memcpy(t->key, prefix, pl + 1);
	memcpy(t->key + pl + 1, vhost, vl + 1);
	struct xm_stats *s = dp->stats;
#define XV__C(f) t->f = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}." #f, prefix, vhost)
	XV__C(rq_total);
	XV__C(rs_error);
	XV__C(rq_timeout);
	XV__C(rq_unavailable);
#undef XV__C
	t->rq_active = xm_stats_gaugef(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.rq_active", prefix, vhost);
	t->rq_time_ms = xm_stats_histf(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.rq_time_ms", prefix, vhost);
	t->next = dp->xvhost_stats;
	dp->xvhost_stats = t;
	return t;
}

void xm_xproxy_stats_free_all(struct xm_dp *dp)
{
	while (dp->xvhost_stats) {
		struct xm_xvhost_stats *t = dp->xvhost_stats;
		dp->xvhost_stats = t->next;
		free(t->key);
		free(t);
	}
	while (dp->xproxy_stats) {
		struct xm_xproxy_stats *t = dp->xproxy_stats;
		dp->xproxy_stats = t->next;
		free(t->prefix);
		free(t);
	}
}
