/* Cluster views: the immutable hosts and LB of one snapshot, over persistent cluster and host states. */
#include <stdio.h>
#include <stdlib.h>

#include "net/addr.h"
#include "upstream/cluster_int.h"

/* ---- build / free ---- */


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

	err = xm_addr_parse(e->address, e->port, &h->addr, &h->addrlen, name, sizeof(name));
	if (err)
		goto out;
	err = xm__registry_host_get(reg, c->st, name, e->healthy, &h->st);
	if (err)
		goto out;
	xm_assert(e->weight >= 1);
	h->weight = e->weight;
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
		uint32_t m = cfg->maglev_table_size;
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
	/* Every value is the snapshot's (the config layer refused missing ones); breaker limits of
	 * 0 mean "none allowed", as in Envoy. */
	xm_assert(cfg->connect_timeout_ms > 0 && cfg->per_connection_buffer_limit > 0);
	xm_assert(!cfg->outlier_enabled || (cfg->od_consecutive_gateway_failure && cfg->od_consecutive_5xx &&
					    cfg->od_base_ejection_time_ms && cfg->od_max_ejection_time_ms));
	c->connect_timeout_ms = cfg->connect_timeout_ms;
	c->buffer_limit = cfg->per_connection_buffer_limit;
	c->max_connections = cfg->max_connections;
	c->max_pending_requests = cfg->max_pending_requests;
	c->max_requests = cfg->max_requests;
	c->max_retries = cfg->max_retries;
	c->outlier_enabled = cfg->outlier_enabled;
	c->od_consecutive_gateway_failure = cfg->od_consecutive_gateway_failure;
	c->od_consecutive_5xx = cfg->od_consecutive_5xx;
	c->od_base_ejection_time_ms = cfg->od_base_ejection_time_ms;
	c->od_max_ejection_time_ms = cfg->od_max_ejection_time_ms;
	c->od_max_ejection_percent = cfg->od_max_ejection_percent; /* 0 = never eject */
	c->least_request_choices = cfg->least_request_choices;
	xm_assert(nworkers > 0);
	c->nworkers = nworkers;
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

