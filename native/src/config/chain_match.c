/* Filter chain selection: Envoy's FilterChainMatch, criterion by criterion, most specific match first. */
#include <string.h>

#include "config/table.h"

/*
 * Envoy's rule (config.listener.v3.FilterChainMatch): the criteria are tried in a fixed
 * order — destination port, destination IP, server name, transport protocol, application
 * protocols, source IP, source port — and at each one only the chains that match most
 * specifically survive: an exact port beats "any", a longer prefix beats a shorter one,
 * a listed protocol beats "any". A chain that names a value the connection does not have
 * drops out; if no chain is left the default chain (if any) takes the connection.
 * Listeners have few chains (Istio's inbound listener: one or two per port), so this is a
 * plain pass per criterion over a candidate list; a single catch-all chain is the fast path.
 */

#define CM__MAX 256 /* chains considered per listener; more are matched by the first 256 only */

static int cm__empty(const struct xm_chain_match *m)
{
	return !m->dport && !m->ndst && !m->nserver_names && !m->transport && !m->napp_protos && !m->nsrc && !m->nsports;
}

/* Bits of addr (family, 4 or 16 bytes) within cidr; -1 when it does not match. */
static int cm__cidr_len(const struct xm_cidr *c, const struct sockaddr_storage *ss)
{
	const uint8_t *a;
	unsigned bytes;

	if (ss->ss_family != c->family)
		return -1;
	if (ss->ss_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		bytes = 4;
	} else if (ss->ss_family == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		bytes = 16;
	} else {
		return -1;
	}
	unsigned full = c->len / 8, rest = c->len % 8;
	if (full > bytes || memcmp(a, c->addr, full) != 0)
		return -1;
	if (rest && ((a[full] ^ c->addr[full]) & (uint8_t)(0xff << (8 - rest))))
		return -1;
	return c->len;
}

static uint16_t cm__port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* Specificity of chain m for one criterion: -1 no match, 0 wildcard, higher = more specific. */
static int cm__score(const struct xm_chain_match *m, int level, const struct xm_conn_facts *f)
{
	int best = -1;

	switch (level) {
	case 0: /* destination port */
		if (!m->dport)
			return 0;
		return cm__port(&f->local) == m->dport ? 1 : -1;
	case 1: /* destination IP: longest prefix (+1 so a /0 beats "any") */
		if (!m->ndst)
			return 0;
		for (uint32_t i = 0; i < m->ndst; i++) {
			int l = cm__cidr_len(&m->dst[i], &f->local);
			if (l >= 0 && l + 1 > best)
				best = l + 1;
		}
		return best;
	case 2: /* server names: no TLS inspector yet, so a connection has none */
		return m->nserver_names ? -1 : 0;
	case 3: /* transport protocol: every connection is raw_buffer today */
		if (!m->transport)
			return 0;
		return strcmp(m->transport, "raw_buffer") == 0 ? 1 : -1;
	case 4: /* application protocols */
		if (!m->napp_protos)
			return 0;
		for (uint32_t i = 0; f->app_proto && i < m->napp_protos; i++)
			if (strcmp(m->app_protos[i], f->app_proto) == 0)
				return 1;
		return -1;
	case 5: /* source IP */
		if (!m->nsrc)
			return 0;
		for (uint32_t i = 0; i < m->nsrc; i++) {
			int l = cm__cidr_len(&m->src[i], &f->peer);
			if (l >= 0 && l + 1 > best)
				best = l + 1;
		}
		return best;
	default: /* source port */
		if (!m->nsports)
			return 0;
		for (uint32_t i = 0; i < m->nsports; i++)
			if (m->sports[i] == cm__port(&f->peer))
				return 1;
		return -1;
	}
}

const struct xm_chain *xm_chain_select(const struct xm_listener_cfg *lc, const struct xm_conn_facts *f)
{
	const struct xm_chain *cand[CM__MAX];
	uint32_t n = 0;

	if (lc->nchains == 1 && cm__empty(&lc->chains[0].m))
		return &lc->chains[0];
	for (uint32_t i = 0; i < lc->nchains && n < CM__MAX; i++)
		cand[n++] = &lc->chains[i];
	for (int level = 0; level < 7 && n > 0; level++) {
		int best = -1;
		for (uint32_t i = 0; i < n; i++) {
			int s = cm__score(&cand[i]->m, level, f);
			if (s > best)
				best = s;
		}
		uint32_t kept = 0;
		for (uint32_t i = 0; i < n && best >= 0; i++)
			if (cm__score(&cand[i]->m, level, f) == best)
				cand[kept++] = cand[i];
		n = kept;
	}
	/* Validation keeps chain matches distinct, so at most one survives; the first wins. */
	return n > 0 ? cand[0] : lc->dflt;
}

const struct xm_chain *xm_chain_by_key(const struct xm_listener_cfg *lc, uint64_t key)
{
	for (uint32_t i = 0; i < lc->nchains; i++)
		if (lc->chains[i].key == key)
			return &lc->chains[i];
	return lc->dflt && lc->dflt->key == key ? lc->dflt : NULL;
}
