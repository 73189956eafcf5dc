/* Kept statistics of the x_proxy filter: per stat_prefix, virtual host (service), method and protocol. */
#include <stdlib.h>
#include <string.h>

#include "core/keep.h"
#include "filters/x_proxy/x_proxy.h"
#include "stats/stats.h"

/* Label values for enum xm_status. */
static const char *const xp__status_name[XM_XSTATUS__COUNT] = {
	[XM_STATUS_OK] = "ok",
	[XM_STATUS_NO_ROUTE] = "no_route",
	[XM_STATUS_TIMEOUT] = "timeout",
	[XM_STATUS_OVERFLOW] = "overflow",
	[XM_STATUS_UNAVAILABLE] = "unavailable",
	[XM_STATUS_SERVER_ERROR] = "server_error",
	[XM_STATUS_CODEC_ERROR] = "codec_error",
};

const char *xm_xstatus_name(enum xm_status st)
{
	return (unsigned)st < XM_XSTATUS__COUNT ? xp__status_name[st] : "other";
}

static void *xp__stats_make(void *ctx, const char *prefix, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	struct xm_xproxy_stats *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
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
	XP__C(upstream_rq_retry);
	XP__C(bytes_copied);
	XP__C(downstream_cx_idle_timeout);
	XP__C(downstream_cx_frame_timeout);
	XP__C(downstream_cx_max_duration_reached);
	XP__C(downstream_cx_drain_close);
	XP__C(downstream_cx_overload_reset);
	XP__G(downstream_cx_active);
	XP__G(downstream_rq_active);
#undef XP__C
#undef XP__G
	for (int e = 0; e < XM_CODEC_E__COUNT; e++) {
		const char *why = e == 0 ? "other" : xm_codec_err_name(e);
		t->decode_error[e] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.decode_error.{reason=%s}", prefix, why);
		t->upstream_decode_error[e] =
			xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.upstream_decode_error.{reason=%s}", prefix, why);
	}
	for (int i = 0; i < XM_XSTATUS__COUNT; i++)
		t->downstream_rs[i] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_rs.{status=%s}", prefix,
							 xp__status_name[i]);
	t->rq_time_ms = xm_stats_histf(s, "xproxy.{stat_prefix=%s}.rq_time_ms", prefix);
	return t;
}

static const struct xm_keep_kind xp__stats_kind = { "x_proxy stats", xp__stats_make, free };

struct xm_xproxy_stats *xm_xproxy_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix)
{
	char err[64];
	return xm_keep_get(k, &xp__stats_kind, prefix, strlen(prefix), s, err, sizeof(err));
}

/* Keys of the per-vhost and per-protocol stats: prefix and name joined by a NUL. */
static size_t xp__key(char *buf, size_t cap, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix), nl = strlen(name);
	if (pl + nl + 2 > cap)
		return 0;
	memcpy(buf, prefix, pl + 1);
	memcpy(buf + pl + 1, name, nl + 1);
	return pl + 1 + nl;
}

static void *xp__proto_make(void *ctx, const char *key, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	const char *prefix = key, *protocol = key + strlen(key) + 1;
	struct xm_xproto_stats *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->downstream_cx_protocol =
		xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_cx_protocol.{protocol=%s}", prefix, protocol);
	t->rq_total = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.protocol.{protocol=%s}.rq_total", prefix, protocol);
	for (int i = 0; i < XM_XSTATUS__COUNT; i++)
		t->rs[i] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.protocol.{protocol=%s}.rs.{status=%s}", prefix,
					     protocol, xp__status_name[i]);
	t->rq_time_ms = xm_stats_histf(s, "xproxy.{stat_prefix=%s}.protocol.{protocol=%s}.rq_time_ms", prefix, protocol);
	return t;
}

static const struct xm_keep_kind xp__proto_kind = { "x_proxy protocol stats", xp__proto_make, free };

struct xm_xproto_stats *xm_xproto_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix, const char *protocol)
{
	char key[512], err[64];
	size_t n = xp__key(key, sizeof(key), prefix, protocol);
	return n ? xm_keep_get(k, &xp__proto_kind, key, n, s, err, sizeof(err)) : NULL;
}

static void xp__vhost_free(void *obj);

static void *xp__vhost_make(void *ctx, const char *key, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	struct xm_xvhost_stats *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->prefix = strdup(key);
	t->vhost = strdup(key + strlen(key) + 1);
	if (!t->prefix || !t->vhost) {
		free(t->prefix);
		free(t->vhost);
		free(t);
		return NULL;
	}
	const char *prefix = t->prefix, *vhost = t->vhost;
	t->stats = s;
	pthread_mutex_init(&t->mlock, NULL);
#define XV__C(f) t->f = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}." #f, prefix, vhost)
	XV__C(rq_total);
	XV__C(rs_error);
	XV__C(rq_timeout);
	XV__C(rq_unavailable);
#undef XV__C
	t->rq_active = xm_stats_gaugef(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.rq_active", prefix, vhost);
	t->rq_time_ms = xm_stats_histf(s, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.rq_time_ms", prefix, vhost);
	return t;
}

static const struct xm_keep_kind xp__vhost_kind = { "x_proxy virtual host stats", xp__vhost_make, xp__vhost_free };

struct xm_xvhost_stats *xm_xvhost_stats_get(struct xm_keep *k, struct xm_stats *s, const char *prefix, const char *vhost)
{
	char key[512], err[64];
	size_t n = xp__key(key, sizeof(key), prefix, vhost);
	return n ? xm_keep_get(k, &xp__vhost_kind, key, n, s, err, sizeof(err)) : NULL;
}

static void xp__method_free(struct xm_xmethod_stats *m)
{
	if (m) {
		free(m->name);
		free(m);
	}
}

static uint32_t xp__method_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* Stats entries for one method. The name goes into stat keys: bytes outside
 * [A-Za-z0-9_$-] become '_' so a hostile name cannot forge labels. */
static struct xm_xmethod_stats *xp__method_new(struct xm_xvhost_stats *v, const char *method, size_t len)
{
	struct xm_xmethod_stats *m = calloc(1, sizeof(*m));
	char label[72];
	size_t n = len < 64 ? len : 64;

	if (!m || !(m->name = malloc(len + 1))) {
		free(m);
		return NULL;
	}
	memcpy(m->name, method, len);
	m->name[len] = 0;
	m->len = (uint16_t)len;
	for (size_t i = 0; i < n; i++) {
		char c = method[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
			 c == '-';
		label[i] = ok ? c : '_';
	}
	label[n] = 0;
	if (n == 0)
		strcpy(label, "_none");
	const char *prefix = v->prefix, *vhost = v->vhost;
	m->rq_total = xm_stats_counterf(v->stats, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.method.{method=%s}.rq_total",
					prefix, vhost, label);
	for (int i = 0; i < XM_XSTATUS__COUNT; i++)
		m->rs[i] = xm_stats_counterf(v->stats, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.method.{method=%s}.rs.{status=%s}",
					     prefix, vhost, label, xp__status_name[i]);
	m->rq_time_ms = xm_stats_histf(v->stats, "xproxy.{stat_prefix=%s}.vhost.{vhost=%s}.method.{method=%s}.rq_time_ms",
				       prefix, vhost, label);
	return m;
}

struct xm_xmethod_stats *xm_xmethod_stats_get(struct xm_xvhost_stats *v, const char *method, size_t len)
{
	uint32_t h = xp__method_hash(method, len), i;
	struct xm_xmethod_stats *m;

	if (len > 65535)
		len = 65535;
	/* Lock-free probe: a slot, once set, never changes. */
	for (i = h & (XM_XMETHOD_SLOTS - 1);; i = (i + 1) & (XM_XMETHOD_SLOTS - 1)) {
		m = __atomic_load_n(&v->mslots[i], __ATOMIC_ACQUIRE);
		if (!m)
			break;
		if (m->len == len && memcmp(m->name, method, len) == 0)
			return m;
	}
	/* Set only once the table is full: every method not in it is counted there. */
	if ((m = __atomic_load_n(&v->mother, __ATOMIC_ACQUIRE)))
		return m;
	/* First request naming this method: once per method. */
	pthread_mutex_lock(&v->mlock);
	for (i = h & (XM_XMETHOD_SLOTS - 1);; i = (i + 1) & (XM_XMETHOD_SLOTS - 1)) {
		m = v->mslots[i];
		if (!m || (m->len == len && memcmp(m->name, method, len) == 0))
			break;
	}
	if (!m && v->nmethods < XM_XMETHODS_MAX && (m = xp__method_new(v, method, len))) {
		v->nmethods++;
		__atomic_store_n(&v->mslots[i], m, __ATOMIC_RELEASE);
	} else if (!m) {
		if (!v->mother)
			__atomic_store_n(&v->mother, xp__method_new(v, "_other", 6), __ATOMIC_RELEASE);
		m = v->mother;
	}
	pthread_mutex_unlock(&v->mlock);
	return m;
}

void xm_xproxy_count_rs(struct xm_xproxy_stats *st, struct xm_xproto_stats *ps, struct xm_xmethod_stats *ms,
			enum xm_status status)
{
	unsigned i = (unsigned)status < XM_XSTATUS__COUNT ? (unsigned)status : XM_STATUS_SERVER_ERROR;
	xm_stat_inc(st->downstream_rs[i]);
	if (ps)
		xm_stat_inc(ps->rs[i]);
	if (ms)
		xm_stat_inc(ms->rs[i]);
}

static void xp__vhost_free(void *obj)
{
	struct xm_xvhost_stats *t = obj;
	for (uint32_t i = 0; i < XM_XMETHOD_SLOTS; i++)
		xp__method_free(t->mslots[i]);
	xp__method_free(t->mother);
	pthread_mutex_destroy(&t->mlock);
	free(t->prefix);
	free(t->vhost);
	free(t);
}
