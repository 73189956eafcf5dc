/* Snapshot -> table: decode the protobuf contract and build the immutable lookup tables (listeners, their filter chains, clusters). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/snapshot_int.h"
#include "config/table.h"
#include "core/keep.h"
#include "net/listener.h"
#include "protocol/codec.h"
#include "protocol/desc/desc_intern.h"

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

const struct xm_listener_cfg *xm_table_listener_by_id(const struct xm_table *t, uint64_t id)
{
	for (uint32_t i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].l && t->listeners[i].l->id == id)
			return &t->listeners[i];
	return NULL;
}

static void table__listener_unref(struct xm_tables *ts, struct xm_listener *l)
{
	if (--l->refcnt > 0)
		return;
	for (struct xm_listener **pp = &ts->listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	xm_listener_close(l);
}

static void table__match_free(struct xm_chain_match *m)
{
	free(m->dst);
	for (uint32_t i = 0; i < m->nserver_names; i++)
		free(m->server_names[i]);
	free(m->server_names);
	free(m->transport);
	for (uint32_t i = 0; i < m->napp_protos; i++)
		free(m->app_protos[i]);
	free(m->app_protos);
	free(m->src);
	free(m->sports);
}

static void table__chain_free(struct xm_chain *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->nfilters; i++)
		if (c->filters[i].ops)
			c->filters[i].ops->free(c->filters[i].cfg);
	free(c->filters);
	free(c->name);
	table__match_free(&c->m);
}

void xm_table_free(struct xm_tables *ts, struct xm_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nlisteners; i++) {
		struct xm_listener_cfg *lc = &t->listeners[i];
		if (lc->l)
			table__listener_unref(ts, lc->l);
		free(lc->name);
		for (uint32_t j = 0; j < lc->nchains; j++)
			table__chain_free(&lc->chains[j]);
		free(lc->chains);
		table__chain_free(lc->dflt);
		free(lc->dflt);
		for (uint32_t j = 0; j < lc->nlfilters; j++)
			if (lc->lfilters[j].ops)
				lc->lfilters[j].ops->free(lc->lfilters[j].cfg);
		free(lc->lfilters);
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
	free(t->epoch.wrefs);
	free(t);
}

_Static_assert(XMESH__DATAPLANE__V1__LIMITS__MAX_KEEPALIVE_PROBES <= UINT8_MAX && XMESH__DATAPLANE__V1__LIMITS__MAX_KEEPALIVE_SECONDS <= UINT16_MAX,
	       "struct xm_keepalive holds the shared limits");
_Static_assert(XMESH__DATAPLANE__V1__LIMITS__MAX_SOCKET_OPTION_BUF_LEN == XM_SOCKOPT_BUF_MAX, "one limit, two spellings");
/* The protocol layer sizes descriptors by the limits the control core validates against. */
_Static_assert(sizeof(((struct xm_descriptor *)0)->name) == XMESH__DATAPLANE__V1__LIMITS__MAX_DESCRIPTOR_NAME_LEN + 1, "one limit");
_Static_assert(sizeof(((struct xm_descriptor *)0)->magic) == XMESH__DATAPLANE__V1__LIMITS__MAX_DESCRIPTOR_MAGIC_LEN, "one limit");
_Static_assert(XM_DESC_HEADER_MAX == XMESH__DATAPLANE__V1__LIMITS__MAX_DESCRIPTOR_HEADER_LEN, "one limit");

static int table__keepalive(struct xm_keepalive *ka, const Xmesh__Dataplane__V1__TcpKeepalive *pk, const char *what,
			    char *err, size_t errlen)
{
	memset(ka, 0, sizeof(*ka));
	if (!pk)
		return 0;
	XM_REQUIRE(pk->keepalive_probes <= XMESH__DATAPLANE__V1__LIMITS__MAX_KEEPALIVE_PROBES &&
			   pk->keepalive_time_s <= XMESH__DATAPLANE__V1__LIMITS__MAX_KEEPALIVE_SECONDS &&
			   pk->keepalive_interval_s <= XMESH__DATAPLANE__V1__LIMITS__MAX_KEEPALIVE_SECONDS,
		   err, errlen, "%s: tcp_keepalive beyond the limits", what);
	ka->enabled = 1;
	ka->probes = (uint8_t)pk->keepalive_probes;
	ka->time_s = (uint16_t)pk->keepalive_time_s;
	ka->interval_s = (uint16_t)pk->keepalive_interval_s;
	return 0;
}

/* The fields every cluster message must carry (see XM_REQUIRE). */
static int table__cluster_required(const pb_cluster *pc, char *err, size_t errlen)
{
	XM_REQUIRE(pc->connect_timeout_ms > 0, err, errlen, "cluster '%s': connect_timeout_ms is required", pc->name);
	XM_REQUIRE(pc->per_connection_buffer_limit > 0, err, errlen, "cluster '%s': per_connection_buffer_limit is required",
		   pc->name);
	XM_REQUIRE(pc->circuit_breakers, err, errlen, "cluster '%s': circuit_breakers is required", pc->name);
	XM_REQUIRE(pc->lb_policy != XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__RING_HASH || pc->ring_hash_min_size > 0, err,
		   errlen, "cluster '%s': ring_hash_min_size is required", pc->name);
	XM_REQUIRE(pc->lb_policy != XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__MAGLEV || pc->maglev_table_size > 0, err,
		   errlen, "cluster '%s': maglev_table_size is required", pc->name);
	XM_REQUIRE(pc->lb_policy != XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__LEAST_REQUEST || pc->least_request_choices >= 2,
		   err, errlen, "cluster '%s': least_request_choices must be at least 2", pc->name);
	const Xmesh__Dataplane__V1__OutlierDetection *od = pc->outlier_detection;
	XM_REQUIRE(!od || !od->enabled ||
			   (od->consecutive_gateway_failure && od->consecutive_5xx && od->base_ejection_time_ms &&
			    od->max_ejection_time_ms),
		   err, errlen, "cluster '%s': outlier_detection needs every threshold and time", pc->name);
	for (size_t j = 0; j < pc->n_endpoints; j++)
		XM_REQUIRE(pc->endpoints[j]->weight >= 1, err, errlen, "cluster '%s': endpoints[%zu].weight is required",
			   pc->name, j);
	return 0;
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
int xm__table_build_cluster(struct xm_tables *ts, const pb_cluster *pc, pb_kv *const *match, size_t nmatch,
				struct xm_cluster **out, char *err, size_t errlen)
{
	struct xm_cluster_cfg cfg = { 0 };
	struct xm_endpoint_cfg *eps;
	int rc;
	uint32_t n = 0;

	if ((rc = table__cluster_required(pc, err, errlen)) < 0)
		return rc;
	if (!(eps = calloc(pc->n_endpoints ? pc->n_endpoints : 1, sizeof(*eps))))
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
		eps[i].weight = pe->weight;
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
	/* 0 is a configured value here (Envoy's: nothing allowed), not "unset". */
	cfg.max_connections = pc->circuit_breakers->max_connections;
	cfg.max_pending_requests = pc->circuit_breakers->max_pending_requests;
	cfg.max_requests = pc->circuit_breakers->max_requests;
	cfg.max_retries = pc->circuit_breakers->max_retries;
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
	rc = xm_cluster_build(out, &cfg, ts->reg, ts->nworkers);
	if (rc < 0) {
		snprintf(err, errlen, "cluster '%s': %s", pc->name, rc == -EINVAL ? "invalid endpoint address or settings" : strerror(-rc));
		goto out;
	}
	char what[300];
	snprintf(what, sizeof(what), "cluster '%s'", pc->name);
	if ((rc = table__keepalive(&(*out)->keepalive, pc->tcp_keepalive, what, err, errlen)) < 0 ||
	    (rc = table__cluster_sockopts(*out, pc, err, errlen)) < 0) {
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

static void *table__lstats_make(void *ctx, const char *name, size_t klen, char *err, size_t errlen)
{
	return xm_listener_stats_new(ctx, name);
}

static const struct xm_keep_kind table__lstats_kind = { "listener stats", table__lstats_make, free };

static int table__open_listener(struct xm_tables *ts, const pb_listener *pl, struct xm_listener **out, char *err,
				size_t errlen)
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
	for (struct xm_listener *l = ts->listeners; l; l = l->next)
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
	struct xm_listener_stats *st = xm_keep_get(ts->keep, &table__lstats_kind, pl->name, strlen(pl->name), ts->stats,
						   why, sizeof(why));
	if (!st) {
		free(opts);
		return -ENOMEM;
	}
	rc = xm_listener_open(out, addr, (uint16_t)port, (int)pl->backlog, pl->inherited_fd, opts, ts->nworkers, why,
			      sizeof(why));
	free(opts);
	if (rc < 0) {
		snprintf(err, errlen, "listener '%s': %s", pl->name, why);
		return rc;
	}
	struct xm_listener *l = *out;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->refcnt = 1;
	l->id = ++ts->listener_ids;
	l->st = st;
	l->events = ts->events;
	l->next = ts->listeners;
	ts->listeners = l;
	return 0;
}

/* ---- what a filter's build may ask of the table being built ---- */

struct table__bctx {
	struct xm_tables *ts;
	struct xm_table *t;
	const pb_snapshot *pb;
};

static struct xm_cluster *table__b_cluster(const struct xm_filter_build *b, const char *name)
{
	const struct table__bctx *bc = b->ctx;
	return xm_table_cluster(bc->t, name);
}

static int table__cmp_kv(const void *a, const void *b)
{
	return strcmp((*(pb_kv *const *)a)->key, (*(pb_kv *const *)b)->key);
}

/* The subset view of cluster name for a route's metadata_match: built once per table and
 * shared by every route with the same pairs. */
static int table__b_subset(const struct xm_filter_build *b, const char *name, xm_pb_kv *const *match, size_t nmatch,
			   struct xm_cluster **out, char *err, size_t errlen)
{
	const struct table__bctx *bc = b->ctx;
	struct xm_table *t = bc->t;
	pb_kv **kv = calloc(nmatch ? nmatch : 1, sizeof(*kv));
	char *key = NULL;
	size_t klen = 0;
	FILE *f;
	int rc = -ENOMEM;

	if (!kv)
		return -ENOMEM;
	memcpy(kv, match, nmatch * sizeof(*kv));
	qsort(kv, nmatch, sizeof(*kv), table__cmp_kv);
	if (!(f = open_memstream(&key, &klen)))
		goto out;
	for (size_t i = 0; i < nmatch; i++)
		fprintf(f, "%s=%s\n", kv[i]->key, kv[i]->value);
	fclose(f);
	for (uint32_t i = 0; i < t->nsubsets; i++)
		if (strcmp(t->subsets[i].base, name) == 0 && strcmp(t->subsets[i].key, key) == 0) {
			*out = t->subsets[i].c;
			rc = 0;
			goto out;
		}
	const pb_cluster *pc = NULL;
	for (size_t i = 0; i < bc->pb->n_clusters && !pc; i++)
		if (strcmp(bc->pb->clusters[i]->name, name) == 0)
			pc = bc->pb->clusters[i];
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
	rc = xm__table_build_cluster(bc->ts, pc, kv, nmatch, &ns->c, err, errlen);
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

static int table__b_codec(const struct xm_filter_build *b, const char *name,
			  Xmesh__Dataplane__V1__XCodecDescriptor *const *descs, size_t ndescs, const struct xm_codec **out,
			  char *err, size_t errlen)
{
	const struct table__bctx *bc = b->ctx;
	char why[192];

	for (size_t i = 0; i < ndescs; i++) {
		if (strcmp(descs[i]->name, name) != 0)
			continue;
		size_t dup = i + 1;
		while (dup < ndescs && strcmp(descs[dup]->name, name) != 0)
			dup++;
		if (xm_codec_builtin(name) || dup < ndescs) {
			snprintf(err, errlen, "listener '%s': descriptors[%zu] '%s': name: already a codec name", b->listener,
				 dup < ndescs ? dup : i, name);
			return -EINVAL;
		}
		why[0] = 0;
		int rc = xm_desc_intern_get(bc->ts->keep, descs[i], out, why, sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "listener '%s': descriptors[%zu] '%s': %s", b->listener, i, name,
				 why[0] ? why : strerror(-rc));
		return rc;
	}
	if (!(*out = xm_codec_builtin(name))) {
		snprintf(err, errlen, "listener '%s': protocol '%s' is not supported", b->listener, name);
		return -EINVAL;
	}
	return 0;
}

/* ---- filter chains ---- */

/* The set field of a message's oneof (its case is the field number): the filter's config.
 * The core does not know the filter's message type; its ops assert it. */
static const ProtobufCMessage *table__oneof(const ProtobufCMessage *m, uint32_t number)
{
	const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(m->descriptor, number);
	if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return *(const ProtobufCMessage *const *)((const char *)m + fd->offset);
}

static int table__cidrs(Xmesh__Dataplane__V1__CidrRange *const *v, size_t n, struct xm_cidr **out, uint32_t *nout)
{
	if (n == 0)
		return 0;
	struct xm_cidr *c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (inet_pton(AF_INET, v[i]->address_prefix, c[i].addr) == 1)
			c[i].family = AF_INET;
		else if (inet_pton(AF_INET6, v[i]->address_prefix, c[i].addr) == 1)
			c[i].family = AF_INET6;
		else {
			free(c);
			return -EINVAL; /* validated by the control core */
		}
		uint32_t max = c[i].family == AF_INET ? 32 : 128;
		c[i].len = (uint8_t)(v[i]->prefix_len > max ? max : v[i]->prefix_len);
	}
	*out = c;
	*nout = (uint32_t)n;
	return 0;
}

static int table__strs(char *const *v, size_t n, char ***out, uint32_t *nout)
{
	if (n == 0)
		return 0;
	if (!(*out = calloc(n, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!((*out)[(*nout)++] = strdup(v[i])))
			return -ENOMEM;
	return 0;
}

static int table__match(struct xm_chain_match *m, const Xmesh__Dataplane__V1__FilterChainMatch *pm, int *need_local)
{
	int rc;
	if (!pm)
		return 0;
	m->dport = (uint16_t)pm->destination_port;
	if (pm->destination_port || pm->n_prefix_ranges)
		*need_local = 1;
	if ((rc = table__cidrs(pm->prefix_ranges, pm->n_prefix_ranges, &m->dst, &m->ndst)) < 0 ||
	    (rc = table__cidrs(pm->source_prefix_ranges, pm->n_source_prefix_ranges, &m->src, &m->nsrc)) < 0 ||
	    (rc = table__strs(pm->server_names, pm->n_server_names, &m->server_names, &m->nserver_names)) < 0 ||
	    (rc = table__strs(pm->application_protocols, pm->n_application_protocols, &m->app_protos, &m->napp_protos)) < 0)
		return rc;
	if (pm->transport_protocol[0] && !(m->transport = strdup(pm->transport_protocol)))
		return -ENOMEM;
	if (pm->n_source_ports) {
		if (!(m->sports = calloc(pm->n_source_ports, sizeof(*m->sports))))
			return -ENOMEM;
		for (size_t i = 0; i < pm->n_source_ports; i++)
			m->sports[m->nsports++] = (uint16_t)pm->source_ports[i];
	}
	return 0;
}

static uint64_t table__chain_key(const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static int table__chain(const struct xm_filter_build *b, const Xmesh__Dataplane__V1__FilterChain *pc, struct xm_chain *c,
			int *need_local, char *err, size_t errlen)
{
	int rc;

	if (!(c->name = strdup(pc->name)))
		return -ENOMEM;
	c->key = table__chain_key(pc->name);
	if ((rc = table__match(&c->m, pc->filter_chain_match, need_local)) < 0) {
		snprintf(err, errlen, "listener '%s': filter chain '%s': %s", b->listener, pc->name,
			 rc == -EINVAL ? "bad address range" : strerror(-rc));
		return rc;
	}
	if (pc->n_filters == 0) {
		snprintf(err, errlen, "listener '%s': filter chain '%s': no network filter", b->listener, pc->name);
		return -EINVAL;
	}
	if (!(c->filters = calloc(pc->n_filters, sizeof(*c->filters))))
		return -ENOMEM;
	for (size_t i = 0; i < pc->n_filters; i++) {
		const Xmesh__Dataplane__V1__NetworkFilter *pf = pc->filters[i];
		const struct xm_filter_ops *ops = xm_filter_find(pf->name);
		const ProtobufCMessage *msg = table__oneof(&pf->base, (uint32_t)pf->config_case);
		int last = i + 1 == pc->n_filters;
		if (!ops || !msg || (int)ops->terminal != last) {
			snprintf(err, errlen, "listener '%s': filter chain '%s': filters[%zu] '%s': %s", b->listener, pc->name, i,
				 pf->name, !ops ? "unknown network filter" : !msg ? "no config"
					   : last ? "the last filter must be terminal" : "a terminal filter must come last");
			return -EINVAL;
		}
		if ((rc = ops->build(b, msg, &c->filters[i].cfg, err, errlen)) < 0)
			return rc;
		c->filters[i].ops = ops;
		c->nfilters++;
	}
	return 0;
}

static int table__listener_filters(const struct xm_filter_build *b, const pb_listener *pl, struct xm_listener_cfg *lc,
				   char *err, size_t errlen)
{
	if (pl->n_listener_filters == 0)
		return 0;
	if (!(lc->lfilters = calloc(pl->n_listener_filters, sizeof(*lc->lfilters))))
		return -ENOMEM;
	for (size_t i = 0; i < pl->n_listener_filters; i++) {
		const Xmesh__Dataplane__V1__ListenerFilter *pf = pl->listener_filters[i];
		const struct xm_lfilter_ops *ops = xm_lfilter_find(pf->name);
		const ProtobufCMessage *msg = table__oneof(&pf->base, (uint32_t)pf->config_case);
		if (!ops || !msg) {
			snprintf(err, errlen, "listener '%s': listener_filters[%zu] '%s': %s", b->listener, i, pf->name,
				 !ops ? "unknown listener filter" : "no config");
			return -EINVAL;
		}
		int rc = ops->build(b, msg, &lc->lfilters[i].cfg, err, errlen);
		if (rc < 0)
			return rc;
		lc->lfilters[i].ops = ops;
		lc->nlfilters++;
		if (ops->needs_data(lc->lfilters[i].cfg))
			lc->need_data = 1;
	}
	return 0;
}

static int table__listener(struct table__bctx *bc, const pb_listener *pl, struct xm_listener_cfg *lc, char *err,
			   size_t errlen)
{
	int rc, need_local = 0;
	struct xm_filter_build b = {
		.listener = pl->name, .stats = bc->ts->stats, .keep = bc->ts->keep, .events = bc->ts->events,
		.nworkers = bc->ts->nworkers, .ctx = bc, .cluster = table__b_cluster, .subset = table__b_subset,
		.codec = table__b_codec,
	};

	char what[300];
	snprintf(what, sizeof(what), "listener '%s'", pl->name);
	XM_REQUIRE(pl->buffer_limit > 0, err, errlen, "listener '%s': buffer_limit is required", pl->name);
	XM_REQUIRE(pl->backlog > 0, err, errlen, "listener '%s': backlog is required", pl->name);
	lc->buffer_limit = pl->buffer_limit;
	if ((rc = table__keepalive(&lc->keepalive, pl->tcp_keepalive, what, err, errlen)) < 0)
		return rc;
	if ((rc = table__open_listener(bc->ts, pl, &lc->l, err, errlen)) < 0)
		return rc;
	if ((rc = table__listener_filters(&b, pl, lc, err, errlen)) < 0)
		return rc;
	if (pl->n_filter_chains == 0 && !pl->default_filter_chain) {
		snprintf(err, errlen, "listener '%s': no filter chain", pl->name);
		return -EINVAL;
	}
	if (pl->n_filter_chains && !(lc->chains = calloc(pl->n_filter_chains, sizeof(*lc->chains))))
		return -ENOMEM;
	for (size_t i = 0; i < pl->n_filter_chains; i++) {
		rc = table__chain(&b, pl->filter_chains[i], &lc->chains[lc->nchains++], &need_local, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (pl->default_filter_chain) {
		if (!(lc->dflt = calloc(1, sizeof(*lc->dflt))))
			return -ENOMEM;
		if ((rc = table__chain(&b, pl->default_filter_chain, lc->dflt, &need_local, err, errlen)) < 0)
			return rc;
	}
	lc->need_local = (uint8_t)need_local;
	return 0;
}

/* Build a table from an encoded snapshot (dp lock held). On failure *out is NULL, every
 * resource taken is released and err names the culprit. */
int xm_table_build(struct xm_tables *ts, const void *buf, size_t len, struct xm_table **out, char *err, size_t errlen)
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
	t->max_downstream_cx = pb->max_downstream_connections; /* 0 = no limit */
	t->epoch.nworkers = ts->nworkers;
	t->epoch.wrefs = aligned_alloc(XM_CACHELINE, sizeof(*t->epoch.wrefs) * ts->nworkers);
	t->clusters = calloc(pb->n_clusters ? pb->n_clusters : 1, sizeof(*t->clusters));
	t->listeners = calloc(pb->n_listeners ? pb->n_listeners : 1, sizeof(*t->listeners));
	if (!t->epoch.wrefs || !t->clusters || !t->listeners) {
		rc = -ENOMEM;
		goto out;
	}
	memset(t->epoch.wrefs, 0, sizeof(*t->epoch.wrefs) * ts->nworkers);
	for (size_t i = 0; i < pb->n_clusters; i++) {
		rc = xm__table_build_cluster(ts, pb->clusters[i], NULL, 0, &t->clusters[t->nclusters], err, errlen);
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
	struct table__bctx bc = { ts, t, pb };
	for (size_t i = 0; i < pb->n_listeners; i++) {
		struct xm_listener_cfg *lc = &t->listeners[t->nlisteners];
		if (!(lc->name = strdup(pb->listeners[i]->name))) {
			rc = -ENOMEM;
			goto out;
		}
		t->nlisteners++;
		if ((rc = table__listener(&bc, pb->listeners[i], lc, err, errlen)) < 0)
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
	t->epoch.gen = ++ts->gen;
	*out = t;
	t = NULL;
out:
	if (rc < 0 && err[0] == 0)
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
	xm_table_free(ts, t);
	xmesh__dataplane__v1__snapshot__free_unpacked(pb, NULL);
	return rc;
}
