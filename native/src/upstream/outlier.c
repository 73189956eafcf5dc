/* Outlier detection and host availability: reports from sessions, consecutive-failure ejections with backoff, and lifting them when they expire. */
#include <stdio.h>

#include "upstream/cluster_int.h"

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
