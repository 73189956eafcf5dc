/* Cluster views built from config, circuit breakers, outlier detection and the consistent-hash key hash. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>

#include "upstream/cluster_int.h"

/* ---- xm_hash64: XXH64 (Yann Collet's algorithm), written out here ---- */

#define H__P1 0x9E3779B185EBCA87ull
#define H__P2 0xC2B2AE3D27D4EB4Full
#define H__P3 0x165667B19E3779F9ull
#define H__P4 0x85EBCA77C2B2AE63ull
#define H__P5 0x27D4EB2F165667C5ull

static inline uint64_t h__rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian reads, so the hash (and every ring built on it) is the same on any host. */
static inline uint64_t h__read64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t h__read32(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t h__round(uint64_t acc, uint64_t in)
{
	acc += in * H__P2;
	acc = h__rotl(acc, 31);
	return acc * H__P1;
}

static inline uint64_t h__merge(uint64_t acc, uint64_t v)
{
	acc ^= h__round(0, v);
	return acc * H__P1 + H__P4;
}

uint64_t xm__hash64_seed(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + H__P1 + H__P2, v2 = seed + H__P2, v3 = seed, v4 = seed - H__P1;
		do {
			v1 = h__round(v1, h__read64(p));
			v2 = h__round(v2, h__read64(p + 8));
			v3 = h__round(v3, h__read64(p + 16));
			v4 = h__round(v4, h__read64(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = h__rotl(v1, 1) + h__rotl(v2, 7) + h__rotl(v3, 12) + h__rotl(v4, 18);
		h = h__merge(h, v1);
		h = h__merge(h, v2);
		h = h__merge(h, v3);
		h = h__merge(h, v4);
	} else {
		h = seed + H__P5;
	}
	h += (uint64_t)len;
	for (; p + 8 <= end; p += 8) {
		h ^= h__round(0, h__read64(p));
		h = h__rotl(h, 27) * H__P1 + H__P4;
	}
	if (p + 4 <= end) {
		h ^= h__read32(p) * H__P1;
		h = h__rotl(h, 23) * H__P2 + H__P3;
		p += 4;
	}
	for (; p < end; p++) {
		h ^= (*p) * H__P5;
		h = h__rotl(h, 11) * H__P1;
	}
	h ^= h >> 33;
	h *= H__P2;
	h ^= h >> 29;
	h *= H__P3;
	h ^= h >> 32;
	return h;
}

uint64_t xm_hash64(const void *data, size_t len) { return xm__hash64_seed(data, len, 0); }

uint64_t xm_hash_peer(const struct sockaddr_storage *ss, int with_port)
{
	uint8_t buf[18];
	size_t n;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
		memcpy(buf, &in4->sin_addr, 4);
		memcpy(buf + 4, &in4->sin_port, 2);
		n = 4;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		memcpy(buf, &in6->sin6_addr, 16);
		memcpy(buf + 16, &in6->sin6_port, 2);
		n = 16;
	}
	return xm_hash64(buf, with_port ? n + 2 : n);
}

/* ---- addresses ---- */

int xm__addr_parse(const char *address, uint16_t port, struct sockaddr_storage *addr, socklen_t *addrlen,
		   char *name, size_t namelen)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], canon[INET6_ADDRSTRLEN];
	const char *scope = NULL;
	size_t len = address ? strlen(address) : 0;
	int err = -EINVAL, n;

	memset(addr, 0, sizeof(*addr));
	if (len == 0 || len >= sizeof(buf))
		goto out;
	if (address[0] == '[' && address[len - 1] == ']') { /* tolerate "[v6]" */
		address++;
		len -= 2;
	}
	memcpy(buf, address, len);
	buf[len] = '\0';
	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*addrlen = sizeof(*in4);
		inet_ntop(AF_INET, &in4->sin_addr, canon, sizeof(canon));
		n = snprintf(name, namelen, "%s:%u", canon, (unsigned)port);
		err = n > 0 && (size_t)n < namelen ? 0 : -EINVAL;
		goto out;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	char *pct = strchr(buf, '%');
	if (pct) {
		*pct = '\0';
		scope = pct + 1;
		char *e;
		unsigned long id = strtoul(scope, &e, 10);
		if (*scope && !*e)
			in6->sin6_scope_id = (uint32_t)id;
		else if (!(in6->sin6_scope_id = if_nametoindex(scope)))
			goto out;
	}
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
		goto out;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	*addrlen = sizeof(*in6);
	inet_ntop(AF_INET6, &in6->sin6_addr, canon, sizeof(canon));
	n = snprintf(name, namelen, "[%s%s%s]:%u", canon, scope ? "%" : "", scope ? scope : "", (unsigned)port);
	err = n > 0 && (size_t)n < namelen ? 0 : -EINVAL;
out:
	if (err)
		memset(addr, 0, sizeof(*addr));
	return err;
}

int xm__host_name_canonical(const char *in, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *colon = strrchr(in, ':'), *hb = in, *he;
	char *e;
	int err = -EINVAL;

	if (!colon)
		goto out;
	he = colon;
	if (in[0] == '[') { /* "[v6]:port" */
		if (colon == in || colon[-1] != ']')
			goto out;
		hb = in + 1;
		he = colon - 1;
	} else if (memchr(in, ':', (size_t)(colon - in))) {
		goto out; /* bare v6 with a port is ambiguous */
	}
	unsigned long port = strtoul(colon + 1, &e, 10);
	if (!colon[1] || *e || port > 65535 || (size_t)(he - hb) >= sizeof(host))
		goto out;
	memcpy(host, hb, (size_t)(he - hb));
	host[he - hb] = '\0';
	err = xm__addr_parse(host, (uint16_t)port, &ss, &sl, out, outlen);
out:
	return err;
}

/* ---- build / free ---- */

static uint32_t cluster__def(uint32_t v, uint32_t def) { return v ? v : def; }

static int cluster__is_prime(uint32_t n)
{
	if (n < 2)
		return 0;
	for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

static int cluster__host_init(struct xm_host *h, const struct xm_endpoint_cfg *e, struct xm_cluster *c,
			      struct xm_registry *reg)
{
	char name[128];
	int err;

	err = xm__addr_parse(e->address, e->port, &h->addr, &h->addrlen, name, sizeof(name));
	if (err)
		goto out;
	err = xm__registry_host_get(reg, c->st, name, e->healthy, &h->st);
	if (err)
		goto out;
	h->weight = e->weight ? e->weight : 1;
	h->priority = e->priority;
	if (e->nmeta) {
		h->meta = calloc(e->nmeta, sizeof(*h->meta));
		if (!h->meta) {
			err = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < e->nmeta; i++, h->nmeta++) {
			h->meta[i].key = strdup(e->meta_keys[i]);
			h->meta[i].value = strdup(e->meta_values[i]);
			if (!h->meta[i].key || !h->meta[i].value) {
				h->nmeta++; /* so free sees the half-filled pair */
				err = -ENOMEM;
				goto out;
			}
		}
	}
out:
	return err;
}

int xm_cluster_build(struct xm_cluster **out, const struct xm_cluster_cfg *cfg, struct xm_registry *reg,
		     unsigned nworkers)
{
	struct xm_cluster *c = NULL;
	int err = -EINVAL;

	if (!cfg->name || (cfg->nendpoints && !cfg->endpoints))
		goto out;
	if (cfg->lb_policy == XM_LB_MAGLEV) {
		uint32_t m = cluster__def(cfg->maglev_table_size, 65537);
		if (!cluster__is_prime(m) || m < cfg->nendpoints)
			goto out;
	}
	if ((unsigned)cfg->lb_policy > XM_LB_MAGLEV)
		goto out;
	err = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(cfg->name)))
		goto out;
	err = xm__registry_cluster_get(reg, cfg->name, &c->st);
	if (err)
		goto out;
	c->lb_policy = cfg->lb_policy;
	c->connect_timeout_ms = cluster__def(cfg->connect_timeout_ms, 5000);
	c->buffer_limit = cluster__def(cfg->per_connection_buffer_limit, 1u << 20);
	c->max_connections = cluster__def(cfg->max_connections, 1024);
	c->max_pending_requests = cluster__def(cfg->max_pending_requests, 1024);
	c->max_requests = cluster__def(cfg->max_requests, 1024);
	c->max_retries = cluster__def(cfg->max_retries, 3);
	c->outlier_enabled = cfg->outlier_enabled;
	c->od_consecutive_gateway_failure = cluster__def(cfg->od_consecutive_gateway_failure, 5);
	c->od_consecutive_5xx = cluster__def(cfg->od_consecutive_5xx, 5);
	c->od_base_ejection_time_ms = cluster__def(cfg->od_base_ejection_time_ms, 30000);
	c->od_max_ejection_time_ms = cluster__def(cfg->od_max_ejection_time_ms, 300000);
	c->od_max_ejection_percent = cluster__def(cfg->od_max_ejection_percent, 10);
	c->least_request_choices = cluster__def(cfg->least_request_choices, 2);
	c->nworkers = nworkers ? nworkers : 1;
	err = -ENOMEM;
	c->hosts = calloc(cfg->nendpoints ? cfg->nendpoints : 1, sizeof(*c->hosts));
	if (!c->hosts)
		goto out;
	for (uint32_t i = 0; i < cfg->nendpoints; i++) {
		/* Counted before init so a failure half-way frees exactly what was taken. */
		c->nhosts++;
		err = cluster__host_init(&c->hosts[i], &cfg->endpoints[i], c, reg);
		if (err)
			goto out;
	}
	err = xm__lb_build(c, cfg);
	if (!err && !cfg->subset) {
		struct xm_od_params *od = &c->st->od;
		xm_atomic_store(&od->consecutive_gateway_failure, c->od_consecutive_gateway_failure);
		xm_atomic_store(&od->consecutive_5xx, c->od_consecutive_5xx);
		xm_atomic_store(&od->base_ejection_time_ms, c->od_base_ejection_time_ms);
		xm_atomic_store(&od->max_ejection_time_ms, c->od_max_ejection_time_ms);
		xm_atomic_store(&od->max_ejection_percent, c->od_max_ejection_percent);
		xm_atomic_store(&od->nhosts, c->nhosts);
		xm_atomic_store(&od->enabled, (uint32_t)(c->outlier_enabled != 0));
	}
out:
	if (err) {
		xm_cluster_free(c);
		c = NULL;
	}
	*out = c;
	return err;
}

void xm_cluster_free(struct xm_cluster *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->nhosts; i++) {
		struct xm_host *h = &c->hosts[i];
		for (uint32_t j = 0; j < h->nmeta; j++) {
			free(h->meta[j].key);
			free(h->meta[j].value);
		}
		free(h->meta);
		xm_host_state_unref(h->st);
	}
	free(c->hosts);
	xm__lb_free(c->lb);
	free(c->lbw);
	xm_cluster_state_unref(c->st);
	free(c->sockopts);
	free(c->name);
	free(c);
}

/* ---- circuit breakers ---- */

static int cluster__acquire(int32_t *open, uint32_t limit, uint64_t *overflow)
{
	/* Optimistic add then undo: one atomic in the common case. A burst may briefly read
	 * above the limit, but never admits more than limit at once. */
	if (xm_unlikely((uint32_t)xm_atomic_add(open, 1) >= limit)) {
		xm_atomic_sub(open, 1);
		xm_stat_inc(overflow);
		return -EBUSY;
	}
	return 0;
}

static void cluster__release(int32_t *open)
{
	int32_t old = xm_atomic_sub(open, 1);
	xm_assert(old > 0);
}

int xm_cluster_cx_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->cx_open, c->max_connections, c->st->st.upstream_cx_overflow);
}
void xm_cluster_cx_release(struct xm_cluster_state *cs) { cluster__release(&cs->cx_open); }

/* Envoy counts both the pending and the request breaker in upstream_rq_pending_overflow. */
int xm_cluster_rq_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->rq_open, c->max_requests, c->st->st.upstream_rq_pending_overflow);
}
void xm_cluster_rq_release(struct xm_cluster_state *cs) { cluster__release(&cs->rq_open); }

int xm_cluster_pending_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->pending_open, c->max_pending_requests, c->st->st.upstream_rq_pending_overflow);
}
void xm_cluster_pending_release(struct xm_cluster_state *cs) { cluster__release(&cs->pending_open); }

int xm_cluster_retry_acquire(const struct xm_cluster *c)
{
	return cluster__acquire(&c->st->retries_open, c->max_retries, c->st->st.upstream_rq_retry_overflow);
}
void xm_cluster_retry_release(struct xm_cluster_state *cs) { cluster__release(&cs->retries_open); }

/* ---- outlier detection ---- */

static void cluster__event(struct xm_host_state *hs, enum xm_event_kind kind, const char *detail)
{
	char subject[160];

	snprintf(subject, sizeof(subject), "%s/%s", hs->cluster->name, hs->name);
	xm_event_post(hs->cluster->reg->events, kind, subject, detail);
}

/* The settings a report is judged by: the caller's view, else the persistent copy. */
static void cluster__od_get(const struct xm_cluster_state *cs, const struct xm_cluster *c, struct xm_od_params *p)
{
	if (c) {
		*p = (struct xm_od_params){ (uint32_t)(c->outlier_enabled != 0), c->od_consecutive_gateway_failure,
					    c->od_consecutive_5xx, c->od_base_ejection_time_ms, c->od_max_ejection_time_ms,
					    c->od_max_ejection_percent, c->nhosts };
		return;
	}
	p->enabled = xm_atomic_load(&cs->od.enabled);
	p->consecutive_gateway_failure = xm_atomic_load(&cs->od.consecutive_gateway_failure);
	p->consecutive_5xx = xm_atomic_load(&cs->od.consecutive_5xx);
	p->base_ejection_time_ms = xm_atomic_load(&cs->od.base_ejection_time_ms);
	p->max_ejection_time_ms = xm_atomic_load(&cs->od.max_ejection_time_ms);
	p->max_ejection_percent = xm_atomic_load(&cs->od.max_ejection_percent);
	p->nhosts = xm_atomic_load(&cs->od.nhosts);
}

static void cluster__eject(const struct xm_od_params *c, struct xm_host_state *hs, uint64_t now_ms, const char *why)
{
	struct xm_cluster_state *cs = hs->cluster;
	uint32_t max, n, decay;
	int32_t cur;
	uint64_t dur, maxdur, since;
	char detail[160];

	if (xm_atomic_load(&hs->flags) & XM_HOST_F_EJECTED)
		return;
	/* Reserve one of the cluster's ejection slots first, so concurrent ejections can
	 * never exceed max_ejection_percent; at least one host may go if percent > 0. */
	max = (uint32_t)((uint64_t)c->nhosts * c->max_ejection_percent / 100);
	if (max == 0 && c->max_ejection_percent > 0)
		max = 1;
	cur = xm_atomic_load(&cs->ejected_hosts);
	do {
		if (cur < 0 || (uint32_t)cur >= max)
			return;
	} while (!__atomic_compare_exchange_n(&cs->ejected_hosts, &cur, cur + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));

	/* Backoff: base * 2^(n-1). The multiplier decays by one per base period the host has
	 * spent back in service (Envoy decays per interval), so a host that fails again right
	 * after coming back is out twice as long, and one that behaved for a while is not. */
	n = xm_atomic_load(&hs->ejections);
	since = xm_atomic_load(&hs->unejected_ms);
	if (n && now_ms > since) {
		decay = (uint32_t)((now_ms - since) / c->base_ejection_time_ms);
		n = n > decay ? n - decay : 0;
	}
	n++;
	maxdur = c->max_ejection_time_ms > c->base_ejection_time_ms ? c->max_ejection_time_ms
									   : c->base_ejection_time_ms;
	dur = n - 1 >= 32 ? maxdur : (uint64_t)c->base_ejection_time_ms << (n - 1);
	if (dur > maxdur)
		dur = maxdur;
	/* ejected_until must be visible before the flag: the flag CAS below is a release. */
	xm_atomic_store(&hs->ejected_until_ms, now_ms + dur);
	if (xm__host_flags_update(hs, XM_HOST_F_EJECTED, 0) & XM_HOST_F_EJECTED) {
		xm_atomic_sub(&cs->ejected_hosts, 1); /* another thread ejected it first */
		return;
	}
	xm_atomic_store(&hs->ejections, n);
	xm_stat_inc(cs->st.outlier_detection_ejections_total);
	xm_gauge_add(cs->st.outlier_detection_ejections_active, 1);
	snprintf(detail, sizeof(detail), "%s; ejection %u for %llu ms", why, n, (unsigned long long)dur);
	cluster__event(hs, XM_EV_HOST_EJECTED, detail);
}

/* Count a failure in a streak; 1 when it reached the threshold (the streak restarts). */
static int cluster__streak(uint32_t *streak, uint32_t threshold)
{
	if (xm_atomic_add(streak, 1) + 1 < threshold)
		return 0;
	xm_atomic_store(streak, 0);
	return 1;
}

static inline void cluster__streak_reset(uint32_t *streak)
{
	/* Read first: successes are the common case and must not dirty a shared line. */
	if (xm_atomic_load(streak))
		xm_atomic_store(streak, 0);
}

void xm_host_report(struct xm_cluster_state *cs, struct xm_host_state *hs, const struct xm_cluster *cfg,
		    enum xm_host_result r, uint64_t now_ms)
{
	struct xm_od_params p;
	int od;

	/* Only the enabled flag is read on the success path; the rest when a streak may end. */
	od = cfg ? cfg->outlier_enabled != 0 : (int)xm_atomic_load(&cs->od.enabled);
	switch (r) {
	case XM_HOST_CONNECT_OK:
		/* Not the end of a gateway-failure streak: a host that accepts and then resets
		 * every connection must still be ejected. Clean ends and responses end it. */
		xm_stat_inc(hs->st.cx_total);
		break;
	case XM_HOST_SESSION_OK:
		if (od)
			cluster__streak_reset(&hs->consecutive_gateway_fail);
		break;
	case XM_HOST_CONNECT_FAIL:
		xm_stat_inc(hs->st.cx_total);
		xm_stat_inc(hs->st.cx_connect_fail);
		/* fall through */
	case XM_HOST_RESET:
		if (!od)
			break;
		cluster__od_get(cs, cfg, &p);
		if (cluster__streak(&hs->consecutive_gateway_fail, p.consecutive_gateway_failure))
			cluster__eject(&p, hs, now_ms, "consecutive gateway failures");
		break;
	case XM_HOST_RESPONSE_OK:
		xm_stat_inc(hs->st.rq_total);
		if (od) {
			cluster__streak_reset(&hs->consecutive_5xx);
			cluster__streak_reset(&hs->consecutive_gateway_fail);
		}
		break;
	case XM_HOST_RESPONSE_ERROR:
		xm_stat_inc(hs->st.rq_total);
		xm_stat_inc(hs->st.rq_error);
		if (!od)
			break;
		cluster__od_get(cs, cfg, &p);
		if (cluster__streak(&hs->consecutive_5xx, p.consecutive_5xx))
			cluster__eject(&p, hs, now_ms, "consecutive 5xx");
		break;
	}
}

int xm_host_available(const struct xm_host *h, uint64_t now_ms)
{
	struct xm_host_state *hs = h->st;
	uint32_t f = xm_atomic_load(&hs->flags);

	if (xm_likely(f == 0))
		return 1;
	while (f & XM_HOST_F_EJECTED) {
		/* Pairs with the ejector's release: the deadline we read is this ejection's. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (now_ms < xm_atomic_load(&hs->ejected_until_ms))
			return 0;
		/* Lift it lazily; exactly one thread wins the CAS and does the bookkeeping. */
		if (__atomic_compare_exchange_n(&hs->flags, &f, f & ~XM_HOST_F_EJECTED, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			struct xm_cluster_state *cs = hs->cluster;
			if (!(f & XM_HOST_F_UNHEALTHY)) {
				xm_gauge_add(cs->st.membership_healthy, 1);
				xm_gauge_set(hs->st.healthy, 1);
			}
			xm_atomic_store(&hs->unejected_ms, now_ms);
			xm_atomic_sub(&cs->ejected_hosts, 1);
			xm_gauge_add(cs->st.outlier_detection_ejections_active, -1);
			xm_atomic_add(&cs->health_gen, 1);
			cluster__event(hs, XM_EV_HOST_UNEJECTED, "ejection time elapsed");
			f &= ~XM_HOST_F_EJECTED;
		}
	}
	return !(f & XM_HOST_F_UNHEALTHY);
}
