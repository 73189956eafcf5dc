/* Snapshot -> table: decode the protobuf contract and build the immutable lookup tables. */
#include <stdio.h>
#include <stdlib.h>

#include "server/dp.h"
#include "net/listener.h"
#include "filters/session.h"
#include "config/snapshot_int.h"
#include "config/table.h"

static int table__cmp_cluster(const void *a, const void *b)
{
	return strcmp((*(struct xm_cluster *const *)a)->name, (*(struct xm_cluster *const *)b)->name);
}

struct xm_cluster *xm_table_cluster(const struct xm_table *t, const char *name)
{
	uint32_t lo = 0, hi = t->nclusters;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = strcmp(name, t->clusters[mid]->name);
		if (c == 0)
			return t->clusters[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct xm_listener_cfg *xm_table_listener_for(const struct xm_table *t, const struct xm_listener *l)
{
	for (uint32_t i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].l == l)
			return &t->listeners[i];
	return NULL;
}

static void table__listener_unref(struct xm_dp *dp, struct xm_listener *l)
{
	if (--l->refcnt > 0)
		return;
	for (struct xm_listener **pp = &dp->listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	xm_listener_close(l);
}

void xm_table_free(struct xm_dp *dp, struct xm_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nlisteners; i++) {
		struct xm_listener_cfg *lc = &t->listeners[i];
		if (lc->l)
			table__listener_unref(dp, lc->l);
		free(lc->name);
		free(lc->tcp.wclusters);
		free(lc->tcp.wcum);
		xm__table_xproxy_free(&lc->x);
	}
	for (uint32_t i = 0; i < t->nclusters; i++)
		xm_cluster_free(t->clusters[i]);
	for (uint32_t i = 0; i < t->nsubsets; i++) {
		xm_cluster_free(t->subsets[i].c);
		free(t->subsets[i].base);
		free(t->subsets[i].key);
	}
	free(t->subsets);
	free(t->listeners);
	free(t->clusters);
	free(t->wrefs);
	free(t);
}

static void table__keepalive(struct xm_keepalive *ka, const Xmesh__Dataplane__V1__TcpKeepalive *pk)
{
	memset(ka, 0, sizeof(*ka));
	if (!pk)
		return;
	ka->enabled = 1;
	ka->probes = (uint8_t)(pk->keepalive_probes > 255 ? 255 : pk->keepalive_probes);
	ka->time_s = (uint16_t)(pk->keepalive_time_s > 65535 ? 65535 : pk->keepalive_time_s);
	ka->interval_s = (uint16_t)(pk->keepalive_interval_s > 65535 ? 65535 : pk->keepalive_interval_s);
}

/* The protobuf options as a native list (NULL when there are none). */
static int table__sockopts(Xmesh__Dataplane__V1__SocketOption *const *v, size_t n, struct xm_sockopts **out, char *err,
			   size_t errlen)
{
	*out = NULL;
	if (n == 0)
		return 0;
	struct xm_sockopts *o = calloc(1, sizeof(*o) + n * sizeof(o->v[0]));
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct xm_sockopt *s = &o->v[i];
		s->level = v[i]->level;
		s->name = v[i]->name;
		s->state = (uint8_t)v[i]->state;
		if (v[i]->value_case == XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_BUF_VALUE) {
			if (v[i]->buf_value.len > XM_SOCKOPT_BUF_MAX) {
				snprintf(err, errlen, "socket_options[%zu]: buf_value longer than %u bytes", i, XM_SOCKOPT_BUF_MAX);
				free(o);
				return -EINVAL;
			}
			s->is_buf = 1;
			s->len = (uint16_t)v[i]->buf_value.len;
			memcpy(s->buf, v[i]->buf_value.data, s->len);
		} else if (v[i]->value_case == XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_INT_VALUE) {
			s->ival = v[i]->int_value;
		} else {
			snprintf(err, errlen, "socket_options[%zu]: no int_value or buf_value", i);
			free(o);
			return -EINVAL;
		}
	}
	o->n = (uint32_t)n;
	*out = o;
	return 0;
}

/* Upstream options of pc on c, checked on scratch sockets of each endpoint family. */
static int table__cluster_sockopts(struct xm_cluster *c, const pb_cluster *pc, char *err, size_t errlen)
{
	char why[160];
	int rc = table__sockopts(pc->upstream_socket_options, pc->n_upstream_socket_options, &c->sockopts, why, sizeof(why));
	int v4 = 0, v6 = 0;

	for (uint32_t i = 0; rc == 0 && c->sockopts && i < c->nhosts; i++) {
		int fam = c->hosts[i].addr.ss_family;
		if ((fam == AF_INET && v4++) || (fam == AF_INET6 && v6++))
			continue;
		rc = xm_sockopts_check_upstream(c->sockopts, fam, why, sizeof(why));
	}
	if (rc < 0)
		snprintf(err, errlen, "cluster '%s': upstream %s", pc->name, why);
	return rc;
}

/* 1 if endpoint metadata has every pair of match. */
static int table__ep_matches(const Xmesh__Dataplane__V1__Endpoint *pe, pb_kv *const *match, size_t nmatch)
{
	for (size_t k = 0; k < nmatch; k++) {
		size_t m;
		for (m = 0; m < pe->n_metadata; m++)
			if (strcmp(pe->metadata[m]->key, match[k]->key) == 0 && strcmp(pe->metadata[m]->value, match[k]->value) == 0)
				break;
		if (m == pe->n_metadata)
			return 0;
	}
	return 1;
}

/* Build the cluster view of pc; with match, a subset view of the endpoints that carry every
 * pair (the persistent cluster and host states are shared with the full view). */
int xm__table_build_cluster(struct xm_dp *dp, const pb_cluster *pc, pb_kv *const *match, size_t nmatch,
				struct xm_cluster **out, char *err, size_t errlen)
{
	struct xm_cluster_cfg cfg = { 0 };
	struct xm_endpoint_cfg *eps = calloc(pc->n_endpoints ? pc->n_endpoints : 1, sizeof(*eps));
	int rc;
	uint32_t n = 0;

	if (!eps)
		return -ENOMEM;
	cfg.name = pc->name;
	cfg.subset = match != NULL;
	cfg.lb_policy = (enum xm_lb_policy)pc->lb_policy;
	cfg.connect_timeout_ms = pc->connect_timeout_ms;
	cfg.endpoints = eps;
	for (size_t j = 0; j < pc->n_endpoints; j++) {
		const Xmesh__Dataplane__V1__Endpoint *pe = pc->endpoints[j];
		if (match && !table__ep_matches(pe, match, nmatch))
			continue;
		uint32_t i = n++;
		eps[i].address = pe->address ? pe->address->address : "";
		eps[i].port = (uint16_t)(pe->address ? pe->address->port : 0);
		eps[i].weight = pe->weight ? pe->weight : 1;
		eps[i].priority = pe->priority;
		eps[i].healthy = pe->healthy;
		eps[i].nmeta = 0;
		if (pe->n_metadata) {
			const char **keys = calloc(pe->n_metadata, sizeof(char *));
			const char **vals = calloc(pe->n_metadata, sizeof(char *));
			if (!keys || !vals) {
				free(keys);
				free(vals);
				rc = -ENOMEM;
				goto out;
			}
			for (size_t m = 0; m < pe->n_metadata; m++) {
				keys[m] = pe->metadata[m]->key;
				vals[m] = pe->metadata[m]->value;
			}
			eps[i].nmeta = (uint32_t)pe->n_metadata;
			eps[i].meta_keys = keys;
			eps[i].meta_values = vals;
		}
	}
	cfg.nendpoints = n;
	if (pc->circuit_breakers) {
		cfg.max_connections = pc->circuit_breakers->max_connections;
		cfg.max_pending_requests = pc->circuit_breakers->max_pending_requests;
		cfg.max_requests = pc->circuit_breakers->max_requests;
		cfg.max_retries = pc->circuit_breakers->max_retries;
	}
	if (pc->outlier_detection && pc->outlier_detection->enabled) {
		const Xmesh__Dataplane__V1__OutlierDetection *od = pc->outlier_detection;
		cfg.outlier_enabled = 1;
		cfg.od_consecutive_gateway_failure = od->consecutive_gateway_failure;
		cfg.od_consecutive_5xx = od->consecutive_5xx;
		cfg.od_base_ejection_time_ms = od->base_ejection_time_ms;
		cfg.od_max_ejection_time_ms = od->max_ejection_time_ms;
		cfg.od_max_ejection_percent = od->max_ejection_percent;
	}
	cfg.ring_hash_min_size = pc->ring_hash_min_size;
	cfg.maglev_table_size = pc->maglev_table_size;
	cfg.per_connection_buffer_limit = pc->per_connection_buffer_limit;
	cfg.least_request_choices = pc->least_request_choices;
	rc = xm_cluster_build(out, &cfg, dp->reg, dp->nworkers);
	if (rc < 0) {
		snprintf(err, errlen, "cluster '%s': %s", pc->name, rc == -EINVAL ? "invalid endpoint address or settings" : strerror(-rc));
		goto out;
	}
	table__keepalive(&(*out)->keepalive, pc->tcp_keepalive);
	if ((rc = table__cluster_sockopts(*out, pc, err, errlen)) < 0) {
		xm_cluster_free(*out);
		*out = NULL;
	}
out:
	for (size_t i = 0; i < n; i++) {
		free((void *)eps[i].meta_keys);
		free((void *)eps[i].meta_values);
	}
	free(eps);
	return rc;
}

static int table__open_listener(struct xm_dp *dp, const pb_listener *pl, struct xm_listener **out, char *err, size_t errlen)
{
	char key[192], why[160];
	const char *addr = pl->address ? pl->address->address : "";
	unsigned port = pl->address ? pl->address->port : 0;
	struct xm_sockopts *opts;
	int rc;

	if ((rc = table__sockopts(pl->socket_options, pl->n_socket_options, &opts, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "listener '%s': %s", pl->name, why);
		return rc;
	}

	if (port == 0)
		snprintf(key, sizeof(key), "%s|%s:0", pl->name, addr);
	else
		snprintf(key, sizeof(key), "%s:%u", addr, port);
	for (struct xm_listener *l = dp->listeners; l; l = l->next)
		if (strcmp(l->key, key) == 0) {
			/* A kept socket keeps the options it was created with; changing them in
			 * place would half-apply them (PREBIND/BOUND are gone) and a failure would
			 * leave the running listener altered, so ask for a new socket instead. */
			int same = xm_sockopts_equal(l->opts, opts);
			free(opts);
			if (!same) {
				snprintf(err, errlen,
					 "listener '%s': socket_options differ from those of the running socket on %s; they "
					 "apply when the socket is created (give the listener another address, or restart)",
					 pl->name, l->addr_str);
				return -EINVAL;
			}
			l->refcnt++;
			*out = l;
			return 0;
		}
	rc = xm_listener_open(out, addr, (uint16_t)port, (int)pl->backlog, pl->inherited_fd, opts, dp->nworkers, why,
			      sizeof(why));
	free(opts);
	if (rc < 0) {
		snprintf(err, errlen, "listener '%s': %s", pl->name, why);
		return rc;
	}
	struct xm_listener *l = *out;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->refcnt = 1;
	struct xm_stats *s = dp->stats;
	l->st.downstream_cx_total = xm_stats_counterf(s, "listener.{listener=%s}.downstream_cx_total", pl->name);
	l->st.downstream_cx_destroy = xm_stats_counterf(s, "listener.{listener=%s}.downstream_cx_destroy", pl->name);
	l->st.downstream_cx_overflow = xm_stats_counterf(s, "listener.{listener=%s}.downstream_cx_overflow", pl->name);
	l->st.downstream_cx_accept_error = xm_stats_counterf(s, "listener.{listener=%s}.downstream_cx_accept_error", pl->name);
	l->st.downstream_cx_active = xm_stats_gaugef(s, "listener.{listener=%s}.downstream_cx_active", pl->name);
	l->st.downstream_cx_length_ms = xm_stats_histf(s, "listener.{listener=%s}.downstream_cx_length_ms", pl->name);
	l->events = dp->events;
	l->next = dp->listeners;
	dp->listeners = l;
	return 0;
}

/* Fill lc->tcp from tp: the listener's tcp_proxy filter, or an x_proxy's fallback (what
 * names it in error messages). */
int xm__table_build_tcp_proxy(struct xm_dp *dp, struct xm_table *t, struct xm_listener_cfg *lc,
			      const Xmesh__Dataplane__V1__TcpProxy *tp, const char *what, char *err, size_t errlen)
{
	struct xm_tcp_proxy_cfg *c = &lc->tcp;

	c->idle_timeout_ms = tp->idle_timeout_ms;
	c->max_connect_attempts = tp->max_connect_attempts ? tp->max_connect_attempts : 1;
	c->hash_key = tp->hash_policy && tp->hash_policy->key == XMESH__DATAPLANE__V1__HASH_POLICY__KEY__SOURCE_ADDRESS_PORT
			      ? XM_HASH_SOURCE_ADDRESS_PORT
			      : XM_HASH_SOURCE_IP;
	if (tp->n_weighted_clusters > 0) {
		c->wclusters = calloc(tp->n_weighted_clusters, sizeof(*c->wclusters));
		c->wcum = calloc(tp->n_weighted_clusters, sizeof(*c->wcum));
		if (!c->wclusters || !c->wcum)
			return -ENOMEM;
		uint32_t cum = 0;
		for (size_t i = 0; i < tp->n_weighted_clusters; i++) {
			const char *name = tp->weighted_clusters[i]->cluster;
			c->wclusters[i] = xm_table_cluster(t, name);
			if (!c->wclusters[i]) {
				snprintf(err, errlen, "listener '%s': %s weighted cluster '%s' not found", lc->name, what, name);
				return -ENOENT;
			}
			cum += tp->weighted_clusters[i]->weight ? tp->weighted_clusters[i]->weight : 1;
			c->wcum[i] = cum;
		}
		c->nwclusters = (uint32_t)tp->n_weighted_clusters;
	} else {
		c->cluster = xm_table_cluster(t, tp->cluster);
		if (!c->cluster) {
			snprintf(err, errlen, "listener '%s': %s cluster '%s' not found", lc->name, what, tp->cluster);
			return -ENOENT;
		}
	}
	c->st = xm_tcp_stats_get(dp, tp->stat_prefix[0] ? tp->stat_prefix : lc->name);
	if (!c->st)
		return -ENOMEM;
	if (tp->access_log_path && tp->access_log_path[0]) {
		int rc = xm_alog_get(dp, tp->access_log_path, &c->alog);
		if (rc < 0) {
			snprintf(err, errlen, "listener '%s': access log '%s': %s", lc->name, tp->access_log_path, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Build a table from an encoded snapshot (dp lock held). On failure *out is NULL, every
 * resource taken is released and err names the culprit. */
int xm_table_build(struct xm_dp *dp, const void *buf, size_t len, struct xm_table **out, char *err, size_t errlen)
{
	pb_snapshot *pb = xmesh__dataplane__v1__snapshot__unpack(NULL, len, buf);
	struct xm_table *t = NULL;
	int rc = 0;

	*out = NULL;
	if (!pb) {
		snprintf(err, errlen, "snapshot: protobuf decode failed (%zu bytes)", len);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	t->version = pb->version;
	t->nworkers = dp->nworkers;
	t->wrefs = aligned_alloc(XM_CACHELINE, sizeof(*t->wrefs) * dp->nworkers);
	t->clusters = calloc(pb->n_clusters ? pb->n_clusters : 1, sizeof(*t->clusters));
	t->listeners = calloc(pb->n_listeners ? pb->n_listeners : 1, sizeof(*t->listeners));
	if (!t->wrefs || !t->clusters || !t->listeners) {
		rc = -ENOMEM;
		goto out;
	}
	memset(t->wrefs, 0, sizeof(*t->wrefs) * dp->nworkers);
	for (size_t i = 0; i < pb->n_clusters; i++) {
		rc = xm__table_build_cluster(dp, pb->clusters[i], NULL, 0, &t->clusters[t->nclusters], err, errlen);
		if (rc < 0)
			goto out;
		t->nclusters++;
	}
	qsort(t->clusters, t->nclusters, sizeof(*t->clusters), table__cmp_cluster);
	for (uint32_t i = 1; i < t->nclusters; i++)
		if (strcmp(t->clusters[i - 1]->name, t->clusters[i]->name) == 0) {
			snprintf(err, errlen, "cluster '%s': duplicate name", t->clusters[i]->name);
			rc = -EINVAL;
			goto out;
		}
	for (size_t i = 0; i < pb->n_listeners; i++) {
		const pb_listener *pl = pb->listeners[i];
		struct xm_listener_cfg *lc = &t->listeners[t->nlisteners];
		lc->name = strdup(pl->name);
		if (!lc->name) {
			rc = -ENOMEM;
			goto out;
		}
		t->nlisteners++;
		lc->buffer_limit = pl->buffer_limit ? pl->buffer_limit : (1u << 20);
		table__keepalive(&lc->keepalive, pl->tcp_keepalive);
		rc = table__open_listener(dp, pl, &lc->l, err, errlen);
		if (rc < 0)
			goto out;
		switch (pl->filter_case) {
		case XMESH__DATAPLANE__V1__LISTENER__FILTER_TCP_PROXY:
			lc->filter = XM_FILTER_TCP_PROXY;
			rc = xm__table_build_tcp_proxy(dp, t, lc, pl->tcp_proxy, "tcp_proxy", err, errlen);
			break;
		case XMESH__DATAPLANE__V1__LISTENER__FILTER_X_PROXY:
			rc = xm__table_build_xproxy(dp, t, pb, lc, pl->x_proxy, err, errlen);
			break;
		default:
			snprintf(err, errlen, "listener '%s': no network filter", pl->name);
			rc = -EINVAL;
		}
		if (rc < 0)
			goto out;
	}
	for (uint32_t i = 0; i < t->nlisteners; i++)
		for (uint32_t j = i + 1; j < t->nlisteners; j++)
			if (t->listeners[i].l == t->listeners[j].l) {
				snprintf(err, errlen, "listener '%s': same address as listener '%s'", t->listeners[j].name,
					 t->listeners[i].name);
				rc = -EINVAL;
				goto out;
			}
	*out = t;
	t = NULL;
out:
	if (rc < 0 && err[0] == 0)
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
	xm_table_free(dp, t);
	xmesh__dataplane__v1__snapshot__free_unpacked(pb, NULL);
	return rc;
}
