/* The x_proxy filter's config from its XProxy message: codecs, virtual hosts, routes with their matchers and router actions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/x_proxy/x_proxy.h"
#include "filters/x_proxy/xp_int.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

typedef Xmesh__Dataplane__V1__XRoute pb_xroute;

void xp_free(void *cfgp)
{
	struct xp_cfg *x = cfgp;
	if (!x)
		return;
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
			xm_route_action_free(&rt->action);
		}
		free(vh->name);
		free(vh->domains);
		free(vh->routes);
	}
	free(x->vhosts);
	free(x);
}

static int xb__str_match(struct xm_str_match *m, const Xmesh__Dataplane__V1__XStringMatch *pm, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (!pm)
		return 0;
	switch (pm->kind_case) {
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_EXACT:
		return xm_str_match_literal(m, XM_MATCH_EXACT, pm->exact, strlen(pm->exact));
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_PREFIX:
		return xm_str_match_literal(m, XM_MATCH_PREFIX, pm->prefix, strlen(pm->prefix));
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_PRESENT:
		m->kind = XM_MATCH_PRESENT;
		return 0;
	case XMESH__DATAPLANE__V1__XSTRING_MATCH__KIND_SAFE_REGEX:
		return xm_str_match_regex(m, pm->safe_regex, err, errlen);
	default:
		return 0;
	}
}

/* Resolving a route's cluster names: the full view, or its subset for metadata_match. */
struct xb__route_ctx {
	const struct xm_filter_build *b;
	const pb_xroute *pr;
};

static int xb__resolve(void *ctx, const char *name, struct xm_cluster **out, char *err, size_t errlen)
{
	struct xb__route_ctx *rc = ctx;
	const struct xm_filter_build *b = rc->b;
	int r = 0;

	*out = b->cluster(b, name);
	if (*out && rc->pr->n_metadata_match)
		r = b->subset(b, name, rc->pr->metadata_match, rc->pr->n_metadata_match, out, err, errlen);
	if (!*out || r == -ENOENT) {
		snprintf(err, errlen, "listener '%s': x_proxy route cluster '%s' not found", b->listener, name);
		return -ENOENT;
	}
	return r;
}

static int xb__action(const struct xm_filter_build *b, const pb_xroute *pr, struct xm_route_action *a, char *err,
		      size_t errlen)
{
	struct xb__route_ctx rc = { b, pr };
	int r;

	a->timeout_ms = pr->timeout_ms;
	if (a->timeout_ms == 0) {
		snprintf(err, errlen, "listener '%s': x_proxy route timeout_ms is required", b->listener);
		return -EINVAL;
	}
	for (size_t i = 0; i < pr->n_weighted_clusters; i++)
		if (pr->weighted_clusters[i]->weight < 1) {
			snprintf(err, errlen, "listener '%s': x_proxy route weighted_clusters[%zu].weight is required", b->listener, i);
			return -EINVAL;
		}
	if (pr->hash_policy && pr->hash_policy->key_case == XMESH__DATAPLANE__V1__XHASH_POLICY__KEY_META) {
		a->hash_kind = XM_HASH_KEY;
		if (!(a->hash_key = strdup(pr->hash_policy->meta)))
			return -ENOMEM;
		a->hash_key_len = (uint16_t)strnlen(a->hash_key, 65535);
	} else if (pr->hash_policy && pr->hash_policy->key_case == XMESH__DATAPLANE__V1__XHASH_POLICY__KEY_SOURCE_IP) {
		a->hash_kind = XM_HASH_SOURCE_IP;
	}
	if (pr->retry_policy && pr->retry_policy->num_retries) {
		a->retry.num_retries = pr->retry_policy->num_retries;
		a->retry.on_connect_failure = pr->retry_policy->on_connect_failure;
		/* Validated in the control core; asserted here: a request lost in flight is sent
		 * again only where the config says that is harmless. */
		a->retry.on_reset = pr->retry_policy->on_reset && pr->idempotent;
	}
	if (pr->n_weighted_clusters == 0)
		return xb__resolve(&rc, pr->cluster, &a->cluster, err, errlen);
	const char **names = calloc(pr->n_weighted_clusters, sizeof(*names));
	uint32_t *weights = calloc(pr->n_weighted_clusters, sizeof(*weights));
	if (!names || !weights) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < pr->n_weighted_clusters; i++) {
		names[i] = pr->weighted_clusters[i]->cluster;
		weights[i] = pr->weighted_clusters[i]->weight;
	}
	r = xm_route_action_weighted(a, names, weights, pr->n_weighted_clusters, xb__resolve, &rc, err, errlen);
out:
	free(names);
	free(weights);
	return r;
}

static int xb__route(const struct xm_filter_build *b, const pb_xroute *pr, struct xm_xroute *rt, char *err,
		     size_t errlen)
{
	int rc = xb__str_match(&rt->method, pr->method, err, errlen);
	if (rc < 0)
		return rc;
	if (pr->n_metas) {
		if (!(rt->metas = calloc(pr->n_metas, sizeof(*rt->metas))))
			return -ENOMEM;
		for (size_t m = 0; m < pr->n_metas; m++) {
			struct xm_xmeta_match *mm = &rt->metas[rt->nmetas++];
			if (!(mm->name = strdup(pr->metas[m]->name)))
				return -ENOMEM;
			if ((rc = xb__str_match(&mm->m, pr->metas[m]->match, err, errlen)) < 0)
				return rc;
			mm->name_len = (uint16_t)strlen(mm->name);
			if (mm->m.kind == XM_MATCH_ANY)
				mm->m.kind = XM_MATCH_PRESENT;
		}
	}
	return xb__action(b, pr, &rt->action, err, errlen);
}

/* The codecs the filter speaks, each with its kept per-protocol counters. */
static int xb__codecs(const struct xm_filter_build *b, const Xmesh__Dataplane__V1__XProxy *px, struct xp_cfg *x,
		      const char *prefix, char *err, size_t errlen)
{
	if (px->n_protocols == 0) {
		snprintf(err, errlen, "listener '%s': x_proxy needs a protocol", b->listener);
		return -EINVAL;
	}
	/* Every descriptor is compiled (and checked) even if no protocol names it yet. */
	for (size_t i = 0; i < px->n_descriptors; i++) {
		const struct xm_codec *c;
		int rc = b->codec(b, px->descriptors[i]->name, px->descriptors, px->n_descriptors, &c, err, errlen);
		if (rc < 0)
			return rc;
	}
	_Static_assert(XM_XPROXY_MAX_CODECS == XMESH__DATAPLANE__V1__LIMITS__MAX_X_PROXY_CODECS, "one limit, two spellings");
	if (px->n_protocols > XM_XPROXY_MAX_CODECS) {
		snprintf(err, errlen, "listener '%s': x_proxy lists %zu protocols (at most %d)", b->listener, px->n_protocols,
			 XM_XPROXY_MAX_CODECS);
		return -EINVAL;
	}
	for (size_t i = 0; i < px->n_protocols; i++) {
		int rc = b->codec(b, px->protocols[i], px->descriptors, px->n_descriptors, &x->codecs[x->ncodecs], err, errlen);
		if (rc < 0)
			return rc;
		if (!(x->pst[x->ncodecs++] = xm_xproto_stats_get(b->keep, b->stats, prefix, px->protocols[i])))
			return -ENOMEM;
	}
	return 0;
}

int xp_build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **out, char *err, size_t errlen)
{
	const Xmesh__Dataplane__V1__XProxy *px = (const Xmesh__Dataplane__V1__XProxy *)msg;
	const char *prefix = px->stat_prefix;
	struct xp_cfg *x;
	int rc = -ENOMEM;

	xm_assert(msg->descriptor == &xmesh__dataplane__v1__xproxy__descriptor);
	/* Required (the control core makes every default explicit): refused, not filled in. */
	const char *missing = !px->stat_prefix[0] ? "stat_prefix" : !px->max_frame_size ? "max_frame_size"
			      : !px->request_timeout_ms ? "request_timeout_ms"
			      : px->upstream_connections_per_host < 1 ||
					px->upstream_connections_per_host > XMESH__DATAPLANE__V1__LIMITS__MAX_UPSTREAM_CONNECTIONS_PER_HOST
				  ? "upstream_connections_per_host (1..16)"
				  : NULL;
	if (missing) {
		snprintf(err, errlen, "listener '%s': x_proxy %s is required", b->listener, missing);
		return -EINVAL;
	}
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	if ((rc = xb__codecs(b, px, x, prefix, err, errlen)) < 0)
		goto out;
	rc = -ENOMEM;
	/* A frame's view holds XP__MAX_IOV slices: whole chunks once it is large. */
	_Static_assert((uint64_t)(XP__MAX_IOV - 76) * XM_CHUNK_SIZE >= XMESH__DATAPLANE__V1__LIMITS__MAX_X_PROXY_FRAME_SIZE,
		       "x_proxy views cover the largest frame");
	if (px->max_frame_size > XMESH__DATAPLANE__V1__LIMITS__MAX_X_PROXY_FRAME_SIZE) {
		snprintf(err, errlen, "listener '%s': x_proxy max_frame_size above %u", b->listener,
			 (unsigned)XMESH__DATAPLANE__V1__LIMITS__MAX_X_PROXY_FRAME_SIZE);
		rc = -EINVAL;
		goto out;
	}
	x->max_frame = px->max_frame_size;
	x->conns_per_host = px->upstream_connections_per_host;
	x->timeout_ms = px->request_timeout_ms;
	x->idle_timeout_ms = px->idle_timeout_ms;
	x->frame_timeout_ms = px->frame_timeout_ms;
	x->max_duration_ms = px->max_connection_duration_ms;
	x->st = xm_xproxy_stats_get(b->keep, b->stats, prefix);
	x->vhosts = calloc(px->n_virtual_hosts ? px->n_virtual_hosts : 1, sizeof(*x->vhosts));
	if (!x->st || !x->vhosts)
		goto out;
	for (size_t v = 0; v < px->n_virtual_hosts; v++) {
		const Xmesh__Dataplane__V1__XVirtualHost *pv = px->virtual_hosts[v];
		struct xm_xvhost *vh = &x->vhosts[x->nvhosts++];
		vh->name = strdup(pv->name);
		vh->st = xm_xvhost_stats_get(b->keep, b->stats, prefix, pv->name);
		vh->domains = calloc(pv->n_domains ? pv->n_domains : 1, sizeof(*vh->domains));
		vh->routes = calloc(pv->n_routes ? pv->n_routes : 1, sizeof(*vh->routes));
		if (!vh->name || !vh->st || !vh->domains || !vh->routes)
			goto out;
		for (size_t d = 0; d < pv->n_domains; d++) {
			if (xm_str_match_domain(&vh->domains[d], pv->domains[d]) < 0)
				goto out;
			vh->ndomains++;
		}
		for (size_t r = 0; r < pv->n_routes; r++)
			if ((rc = xb__route(b, pv->routes[r], &vh->routes[vh->nroutes++], err, errlen)) < 0)
				goto out;
	}
	*out = x;
	return 0;
out:
	xp_free(x);
	return rc;
}
