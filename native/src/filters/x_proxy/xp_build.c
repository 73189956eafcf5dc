/* Table building for the x_proxy filter: codecs (built-in, descriptors, detection list), virtual hosts, routes with their matchers, retries and subset clusters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/codec.h"
#include "protocol/desc/desc_intern.h"
#include "server/dp.h"
#include "config/snapshot_int.h"
#include "config/table.h"
#include "filters/x_proxy/x_proxy.h"

void xm__table_xproxy_free(struct xm_xproxy_cfg *x)
{
	for (uint32_t v = 0; v < x->nvhosts; v++) {
		struct xm_xvhost *vh = &x->vhosts[v];
		for (uint32_t d = 0; d < vh->ndomains; d++)
			xm_str_match_free(&vh->domains[d]);
		for (uint32_t r = 0; r < vh->nroutes; r++) {
			struct xm_xroute *rt = &vh->routes[r];
			xm_str_match_free(&rt->method);
			free(rt->hash_meta);
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
static int xt__str_match(struct xm_str_match *m, const Xmesh__Dataplane__V1__XStringMatch *pm, char *err,
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

static int xt__cmp_kv(const void *a, const void *b)
{
	return strcmp((*(pb_kv *const *)a)->key, (*(pb_kv *const *)b)->key);
}

/* The subset view of cluster name for a route's metadata_match: built once per table and
 * shared by every route with the same pairs. */
static int xt__subset(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, const char *name,
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
	qsort(kv, pr->n_metadata_match, sizeof(*kv), xt__cmp_kv);
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
	rc = xm__table_build_cluster(dp, pc, kv, pr->n_metadata_match, &ns->c, err, errlen);
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
static int xt__route_cluster(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, const char *lname,
				const Xmesh__Dataplane__V1__XRoute *pr, const char *name, struct xm_cluster **out,
				char *err, size_t errlen)
{
	int rc = 0;

	*out = xm_table_cluster(t, name);
	if (*out && pr->n_metadata_match)
		rc = xt__subset(dp, t, pb, name, pr, out, err, errlen);
	if (!*out || rc == -ENOENT) {
		snprintf(err, errlen, "listener '%s': x_proxy route cluster '%s' not found", lname, name);
		return -ENOENT;
	}
	return rc;
}

/* Domains are service names: "*" any, "*suffix", "prefix*", else exact. */
static int xt__domain(struct xm_str_match *m, const char *d)
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
static const struct xm_codec *xt__codec_by_name(const struct xm_xproxy_cfg *x, const char *name)
{
	for (uint32_t i = 0; i < x->ndescs; i++)
		if (strcmp(x->descs[i]->name, name) == 0)
			return x->descs[i];
	return xm_codec_builtin(name);
}

/* The filter's descriptor codecs, interned in the dp (see desc_intern.c: they outlive
 * this table because connections and upstream pools keep their codec). */
static int xt__xproxy_descs(struct xm_dp *dp, struct xm_listener_cfg *lc, const Xmesh__Dataplane__V1__XProxy *px,
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
		if (xt__codec_by_name(x, name)) {
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
static int xt__build_xproxy_codecs(struct xm_dp *dp, struct xm_table *t, struct xm_listener_cfg *lc,
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
		const struct xm_codec *codec = xt__codec_by_name(x, name);
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
		if (!(x->pst[x->ncodecs++] = xm_xproto_stats_get(dp, prefix, codec->name)))
			return -ENOMEM;
	}
	x->detect_timeout_ms = px->detect_timeout_ms ? px->detect_timeout_ms : 15000;
	if (px->fallback_tcp_proxy) {
		int rc = xm__table_build_tcp_proxy(dp, t, lc, px->fallback_tcp_proxy, "x_proxy fallback_tcp_proxy", err, errlen);
		if (rc < 0)
			return rc;
		x->fallback = 1;
	}
	x->codec = x->ncodecs == 1 && !x->fallback ? x->codecs[0] : NULL;
	return 0;
}

int xm__table_build_xproxy(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, struct xm_listener_cfg *lc,
			       const Xmesh__Dataplane__V1__XProxy *px, char *err, size_t errlen)
{
	struct xm_xproxy_cfg *x = &lc->x;
	const char *prefix = px->stat_prefix[0] ? px->stat_prefix : lc->name;
	int rc;

	lc->filter = XM_FILTER_X_PROXY;
	if ((rc = xt__xproxy_descs(dp, lc, px, err, errlen)) < 0)
		return rc;
	if ((rc = xt__build_xproxy_codecs(dp, t, lc, px, prefix, err, errlen)) < 0)
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
			if (xt__domain(&vh->domains[vh->ndomains], pv->domains[d]) < 0)
				return -ENOMEM;
			vh->ndomains++;
		}
		for (size_t r = 0; r < pv->n_routes; r++) {
			const Xmesh__Dataplane__V1__XRoute *pr = pv->routes[r];
			struct xm_xroute *rt = &vh->routes[vh->nroutes++];
			int rc = xt__str_match(&rt->method, pr->method, err, errlen);
			if (rc < 0)
				return rc;
			rt->timeout_ms = pr->timeout_ms;
			if (pr->hash_policy && pr->hash_policy->key_case == XMESH__DATAPLANE__V1__XHASH_POLICY__KEY_META) {
				rt->hash_kind = XM_XHASH_META;
				if (!(rt->hash_meta = strdup(pr->hash_policy->meta)))
					return -ENOMEM;
				rt->hash_meta_len = (uint16_t)strnlen(rt->hash_meta, 65535);
			} else if (pr->hash_policy && pr->hash_policy->key_case == XMESH__DATAPLANE__V1__XHASH_POLICY__KEY_SOURCE_IP) {
				rt->hash_kind = XM_XHASH_SOURCE_IP;
			}
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
					if ((rc = xt__str_match(&mm->m, pr->metas[m]->match, err, errlen)) < 0)
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
					rc = xt__route_cluster(dp, t, pb, lc->name, pr, pr->weighted_clusters[i]->cluster,
								  &rt->wclusters[i], err, errlen);
					if (rc < 0)
						return rc;
					cum += pr->weighted_clusters[i]->weight ? pr->weighted_clusters[i]->weight : 1;
					rt->wcum[i] = cum;
				}
				rt->nwclusters = (uint32_t)pr->n_weighted_clusters;
			} else if ((rc = xt__route_cluster(dp, t, pb, lc->name, pr, pr->cluster, &rt->cluster, err, errlen)) < 0) {
				return rc;
			}
		}
	}
	return 0;
}
