/* Snapshot -> table: decode the protobuf contract and build the immutable lookup tables. */
#include <stdio.h>
#include <stdlib.h>

#include "desc_intern.h"
#include "dp.h"
#include "listener.h"
#include "session.h"
#include "codec.h"
#include "table.h"
#include "xproxy.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

typedef Xmesh__Dataplane__V1__Snapshot pb_snapshot;
typedef Xmesh__Dataplane__V1__Cluster pb_cluster;
typedef Xmesh__Dataplane__V1__Listener pb_listener;

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

static void table__xproxy_free(struct xm_xproxy_cfg *x)
{
	for (uint32_t v = 0; v < x->nvhosts; v++) {
		struct xm_xvhost *vh = &x->vhosts[v];
		for (uint32_t d = 0; d < vh->ndomains; d++)
			xm_str_match_free(&vh->domains[d]);
		for (uint32_t r = 0; r < vh->nroutes; r++) {
			struct xm_xroute *rt = &vh->routes[r];
			xm_str_match_free(&rt->method);
			for (uint32_t m = 0; m < rt->nmetas; m++) {
				free(rt->metas[m].name);
				xm_str_match_free(&rt->metas[m].m);
			}
			free(rt->metas);
			free(rt->wclusters);
			free(rt->wcum);
		}
		free(vh->name);
		free(vh->domains);
		free(vh->routes);
	}
	free(x->vhosts);
	free(x->descs);
}

/* Free a table no worker uses any more (dp lock held). */
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
		table__xproxy_free(&lc->x);
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

typedef Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry pb_kv;

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
static int table__build_cluster(struct xm_dp *dp, const pb_cluster *pc, pb_kv *const *match, size_t nmatch,
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
	if (rc == 0)
		table__keepalive(&(*out)->keepalive, pc->tcp_keepalive);
	if (rc < 0)
		snprintf(err, errlen, "cluster '%s': %s", pc->name, rc == -EINVAL ? "invalid endpoint address or settings" : strerror(-rc));
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
	int rc;

	if (port == 0)
		snprintf(key, sizeof(key), "%s|%s:0", pl->name, addr);
	else
		snprintf(key, sizeof(key), "%s:%u", addr, port);
	for (struct xm_listener *l = dp->listeners; l; l = l->next)
		if (strcmp(l->key, key) == 0) {
			l->refcnt++;
			*out = l;
			return 0;
		}
	rc = xm_listener_open(out, addr, (uint16_t)port, (int)pl->backlog, pl->inherited_fd, dp->nworkers, why, sizeof(why));
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
	l->next = dp->listeners;
	dp->listeners = l;
	return 0;
}

/* Fill lc->tcp from tp: the listener's tcp_proxy filter, or an x_proxy's fallback (what
 * names it in error messages). */
static int table__build_tcp_proxy(struct xm_dp *dp, struct xm_table *t, struct xm_listener_cfg *lc,
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

static int table__str_match(struct xm_str_match *m, const Xmesh__Dataplane__V1__XStringMatch *pm, char *err,
			    size_t errlen)
{
	const char *s = NULL;

	memset(m, 0, sizeof(*m));
	if (!pm)
		return 0;
	switch (pm->kind_case) {
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_EXACT:
		m->kind = XM_MATCH_EXACT;
		s = pm->exact;
		break;
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_PREFIX:
		m->kind = XM_MATCH_PREFIX;
		s = pm->prefix;
		break;
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_PRESENT:
		m->kind = XM_MATCH_PRESENT;
		return 0;
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_SAFE_REGEX:
		return xm_str_match_regex(m, pm->safe_regex, err, errlen);
	default:
		return 0;
	}
	if (strlen(s) > 65535 || !(m->s = strdup(s)))
		return -ENOMEM;
	m->len = (uint16_t)strlen(s);
	return 0;
}

static int table__cmp_kv(const void *a, const void *b)
{
	return strcmp((*(pb_kv *const *)a)->key, (*(pb_kv *const *)b)->key);
}

/* The subset view of cluster name for a route's metadata_match: built once per table and
 * shared by every route with the same pairs. */
static int table__subset(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, const char *name,
			 const Xmesh__Dataplane__V1__XRoute *pr, struct xm_cluster **out, char *err, size_t errlen)
{
	pb_kv **kv = calloc(pr->n_metadata_match, sizeof(*kv));
	char *key = NULL;
	size_t klen = 0;
	FILE *f;
	int rc = -ENOMEM;

	if (!kv)
		return -ENOMEM;
	memcpy(kv, pr->metadata_match, pr->n_metadata_match * sizeof(*kv));
	qsort(kv, pr->n_metadata_match, sizeof(*kv), table__cmp_kv);
	if (!(f = open_memstream(&key, &klen)))
		goto out;
	for (size_t i = 0; i < pr->n_metadata_match; i++)
		fprintf(f, "%s=%s\n", kv[i]->key, kv[i]->value);
	fclose(f);
	for (uint32_t i = 0; i < t->nsubsets; i++)
		if (strcmp(t->subsets[i].base, name) == 0 && strcmp(t->subsets[i].key, key) == 0) {
			*out = t->subsets[i].c;
			rc = 0;
			goto out;
		}
	const pb_cluster *pc = NULL;
	for (size_t i = 0; i < pb->n_clusters && !pc; i++)
		if (strcmp(pb->clusters[i]->name, name) == 0)
			pc = pb->clusters[i];
	if (!pc) {
		rc = -ENOENT;
		goto out;
	}
	struct xm_table_subset *ns = realloc(t->subsets, (t->nsubsets + 1) * sizeof(*ns));
	if (!ns)
		goto out;
	t->subsets = ns;
	ns = &t->subsets[t->nsubsets];
	memset(ns, 0, sizeof(*ns));
	if (!(ns->base = strdup(name)))
		goto out;
	rc = table__build_cluster(dp, pc, kv, pr->n_metadata_match, &ns->c, err, errlen);
	if (rc < 0) {
		free(ns->base);
		goto out;
	}
	ns->key = key;
	key = NULL;
	t->nsubsets++;
	*out = ns->c;
out:
	free(key);
	free(kv);
	return rc;
}

/* The cluster a route sends to: the full view, or its subset for metadata_match. */
static int table__route_cluster(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, const char *lname,
				const Xmesh__Dataplane__V1__XRoute *pr, const char *name, struct xm_cluster **out,
				char *err, size_t errlen)
{
	int rc = 0;

	*out = xm_table_cluster(t, name);
	if (*out && pr->n_metadata_match)
		rc = table__subset(dp, t, pb, name, pr, out, err, errlen);
	if (!*out || rc == -ENOENT) {
		snprintf(err, errlen, "listener '%s': x_proxy route cluster '%s' not found", lname, name);
		return -ENOENT;
	}
	return rc;
}

/* Domains are service names: "*" any, "*suffix", "prefix*", else exact. */
static int table__domain(struct xm_str_match *m, const char *d)
{
	size_t n = strlen(d);

	memset(m, 0, sizeof(*m));
	if (n == 1 && d[0] == '*') {
		m->kind = XM_MATCH_ANY;
		return 0;
	}
	if (n > 65535)
		return -EINVAL;
	if (n > 1 && d[0] == '*') {
		m->kind = XM_MATCH_SUFFIX;
		d++, n--;
	} else if (n > 1 && d[n - 1] == '*') {
		m->kind = XM_MATCH_PREFIX;
		n--;
	} else {
		m->kind = XM_MATCH_EXACT;
	}
	if (!(m->s = strndup(d, n)))
		return -ENOMEM;
	m->len = (uint16_t)n;
	return 0;
}

/* A codec name as an x_proxy filter resolves it: its own descriptors first, then the
 * built-ins. NULL when unknown. (One lookup for protocol and, later, a protocols list.) */
static const struct xm_codec *table__codec_by_name(const struct xm_xproxy_cfg *x, const char *name)
{
	for (uint32_t i = 0; i < x->ndescs; i++)
		if (strcmp(x->descs[i]->name, name) == 0)
			return x->descs[i];
	return xm_codec_builtin(name);
}

/* The filter's descriptor codecs, interned in the dp (see desc_intern.c: they outlive
 * this table because connections and upstream pools keep their codec). */
static int table__xproxy_descs(struct xm_dp *dp, struct xm_listener_cfg *lc, const Xmesh__Dataplane__V1__XProxy *px,
			       char *err, size_t errlen)
{
	struct xm_xproxy_cfg *x = &lc->x;
	char why[192];
	int rc;

	if (px->n_descriptors == 0)
		return 0;
	x->descs = calloc(px->n_descriptors, sizeof(*x->descs));
	if (!x->descs)
		return -ENOMEM;
	for (size_t i = 0; i < px->n_descriptors; i++) {
		const char *name = px->descriptors[i]->name;
		if (table__codec_by_name(x, name)) {
			snprintf(err, errlen, "listener '%s': x_proxy descriptors[%zu] '%s': name: already a codec name", lc->name,
				 i, name);
			return -EINVAL;
		}
		why[0] = 0;
		rc = xm_desc_intern_get(dp, px->descriptors[i], &x->descs[x->ndescs], why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "listener '%s': x_proxy descriptors[%zu] '%s': %s", lc->name, i, name,
				 why[0] ? why : strerror(-rc));
			return rc;
		}
		x->ndescs++;
	}
	return 0;
}

/* The codecs of an x_proxy (protocol, or protocols in detection order), its per-protocol
 * counters, and the fallback tcp_proxy. One codec and no fallback is the fast path: a
 * connection starts with its codec known; otherwise each connection is detected. */
static int table__build_xproxy_codecs(struct xm_dp *dp, struct xm_table *t, struct xm_listener_cfg *lc,
				      const Xmesh__Dataplane__V1__XProxy *px, const char *prefix, char *err,
				      size_t errlen)
{
	struct xm_xproxy_cfg *x = &lc->x;
	int has_one = px->protocol && px->protocol[0];
	size_t n = has_one ? 1 : px->n_protocols;

	if ((has_one && px->n_protocols > 0) || n == 0) {
		snprintf(err, errlen, "listener '%s': x_proxy needs exactly one of protocol or protocols", lc->name);
		return -EINVAL;
	}
	if (n > XM_XPROXY_MAX_CODECS) {
		snprintf(err, errlen, "listener '%s': x_proxy lists %zu protocols (at most %d)", lc->name, n,
			 XM_XPROXY_MAX_CODECS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = has_one ? px->protocol : px->protocols[i];
		const struct xm_codec *codec = table__codec_by_name(x, name);
		if (!codec) {
			snprintf(err, errlen, "listener '%s': x_proxy protocol '%s' is not supported", lc->name, name);
			return -EINVAL;
		}
		if (n > 1 || px->fallback_tcp_proxy) {
			/* Detection asks each codec in turn; one that cannot tell its frames from
			 * other bytes would claim every connection. */
			const struct xm_descriptor *dd = xm_codec_descriptor_of(codec);
			if (dd && dd->magic_len == 0) {
				snprintf(err, errlen, "listener '%s': x_proxy protocol '%s' has no magic, so it cannot be detected among others",
					 lc->name, name);
				return -EINVAL;
			}
		}
		x->codecs[x->ncodecs] = codec;
		x->cx_protocol[x->ncodecs++] = xm_xproxy_protocol_counter(dp, prefix, codec->name);
	}
	x->detect_timeout_ms = px->detect_timeout_ms ? px->detect_timeout_ms : 15000;
	if (px->fallback_tcp_proxy) {
		int rc = table__build_tcp_proxy(dp, t, lc, px->fallback_tcp_proxy, "x_proxy fallback_tcp_proxy", err, errlen);
		if (rc < 0)
			return rc;
		x->fallback = 1;
	}
	x->codec = x->ncodecs == 1 && !x->fallback ? x->codecs[0] : NULL;
	return 0;
}

static int table__build_xproxy(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, struct xm_listener_cfg *lc,
			       const Xmesh__Dataplane__V1__XProxy *px, char *err, size_t errlen)
{
	struct xm_xproxy_cfg *x = &lc->x;
	const char *prefix = px->stat_prefix[0] ? px->stat_prefix : lc->name;
	int rc;

	lc->filter = XM_FILTER_X_PROXY;
	if ((rc = table__xproxy_descs(dp, lc, px, err, errlen)) < 0)
		return rc;
	if ((rc = table__build_xproxy_codecs(dp, t, lc, px, prefix, err, errlen)) < 0)
		return rc;
	x->max_frame = px->max_frame_size ? px->max_frame_size : (16u << 20);
	x->conns_per_host = px->upstream_connections_per_host ? px->upstream_connections_per_host : 1;
	x->timeout_ms = px->request_timeout_ms ? px->request_timeout_ms : 15000;
	x->st = xm_xproxy_stats_get(dp, prefix);
	x->vhosts = calloc(px->n_virtual_hosts ? px->n_virtual_hosts : 1, sizeof(*x->vhosts));
	if (!x->st || !x->vhosts)
		return -ENOMEM;
	for (size_t v = 0; v < px->n_virtual_hosts; v++) {
		const Xmesh__Dataplane__V1__XVirtualHost *pv = px->virtual_hosts[v];
		struct xm_xvhost *vh = &x->vhosts[x->nvhosts++];
		vh->name = strdup(pv->name);
		vh->st = xm_xvhost_stats_get(dp, prefix, pv->name);
		vh->domains = calloc(pv->n_domains ? pv->n_domains : 1, sizeof(*vh->domains));
		vh->routes = calloc(pv->n_routes ? pv->n_routes : 1, sizeof(*vh->routes));
		if (!vh->name || !vh->st || !vh->domains || !vh->routes)
			return -ENOMEM;
		for (size_t d = 0; d < pv->n_domains; d++) {
			if (table__domain(&vh->domains[vh->ndomains], pv->domains[d]) < 0)
				return -ENOMEM;
			vh->ndomains++;
		}
		for (size_t r = 0; r < pv->n_routes; r++) {
			const Xmesh__Dataplane__V1__XRoute *pr = pv->routes[r];
			struct xm_xroute *rt = &vh->routes[vh->nroutes++];
			int rc = table__str_match(&rt->method, pr->method, err, errlen);
			if (rc < 0)
				return rc;
			rt->timeout_ms = pr->timeout_ms;
			if (pr->retry_policy && pr->retry_policy->num_retries) {
				rt->retry.num_retries = pr->retry_policy->num_retries;
				rt->retry.on_connect_failure = pr->retry_policy->on_connect_failure;
				/* Validated in the control core; asserted here: a request lost in flight is
				 * sent again only where the config says that is harmless. */
				rt->retry.on_reset = pr->retry_policy->on_reset && pr->idempotent;
			}
			if (pr->n_metas) {
				rt->metas = calloc(pr->n_metas, sizeof(*rt->metas));
				if (!rt->metas)
					return -ENOMEM;
				for (size_t m = 0; m < pr->n_metas; m++) {
					struct xm_xmeta_match *mm = &rt->metas[rt->nmetas++];
					if (!(mm->name = strdup(pr->metas[m]->name)))
						return -ENOMEM;
					if ((rc = table__str_match(&mm->m, pr->metas[m]->match, err, errlen)) < 0)
						return rc;
					mm->name_len = (uint16_t)strlen(mm->name);
					if (mm->m.kind == XM_MATCH_ANY)
						mm->m.kind = XM_MATCH_PRESENT;
				}
			}
			if (pr->n_weighted_clusters > 0) {
				rt->wclusters = calloc(pr->n_weighted_clusters, sizeof(*rt->wclusters));
				rt->wcum = calloc(pr->n_weighted_clusters, sizeof(*rt->wcum));
				if (!rt->wclusters || !rt->wcum)
					return -ENOMEM;
				uint32_t cum = 0;
				for (size_t i = 0; i < pr->n_weighted_clusters; i++) {
					rc = table__route_cluster(dp, t, pb, lc->name, pr, pr->weighted_clusters[i]->cluster,
								  &rt->wclusters[i], err, errlen);
					if (rc < 0)
						return rc;
					cum += pr->weighted_clusters[i]->weight ? pr->weighted_clusters[i]->weight : 1;
					rt->wcum[i] = cum;
				}
				rt->nwclusters = (uint32_t)pr->n_weighted_clusters;
			} else if ((rc = table__route_cluster(dp, t, pb, lc->name, pr, pr->cluster, &rt->cluster, err, errlen)) < 0) {
				return rc;
			}
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
		rc = table__build_cluster(dp, pb->clusters[i], NULL, 0, &t->clusters[t->nclusters], err, errlen);
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
			rc = table__build_tcp_proxy(dp, t, lc, pl->tcp_proxy, "tcp_proxy", err, errlen);
			break;
		case XMESH__DATAPLANE__V1__LISTENER__FILTER_X_PROXY:
			rc = table__build_xproxy(dp, t, pb, lc, pl->x_proxy, err, errlen);
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
