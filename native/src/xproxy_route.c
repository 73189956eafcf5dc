/* x_proxy routing: virtual hosts by service, then routes by method and metas. */
#include <string.h>

#include "table.h"
#include "xproxy.h"

static int xp__str_match(const struct xm_str_match *m, const char *s, size_t len)
{
	switch (m->kind) {
	case XM_MATCH_ANY:
	case XM_MATCH_PRESENT:
		return 1;
	case XM_MATCH_EXACT:
		return len == m->len && memcmp(s, m->s, len) == 0;
	case XM_MATCH_PREFIX:
		return len >= m->len && memcmp(s, m->s, m->len) == 0;
	case XM_MATCH_SUFFIX:
		return len >= m->len && memcmp(s + len - m->len, m->s, m->len) == 0;
	}
	return 0;
}

const struct xm_xroute *xm_xroute_find(const struct xm_xproxy_cfg *cfg, const struct xm_route_info *ri,
				       const struct xm_xvhost **vhost)
{
	for (uint32_t v = 0; v < cfg->nvhosts; v++) {
		const struct xm_xvhost *vh = &cfg->vhosts[v];
		uint32_t d;
		for (d = 0; d < vh->ndomains; d++)
			if (xp__str_match(&vh->domains[d], ri->service, ri->service_len))
				break;
		if (d == vh->ndomains)
			continue;
		for (uint32_t r = 0; r < vh->nroutes; r++) {
			const struct xm_xroute *rt = &vh->routes[r];
			if (rt->method.kind != XM_MATCH_ANY && !xp__str_match(&rt->method, ri->method, ri->method_len))
				continue;
			uint32_t m;
			for (m = 0; m < rt->nmetas; m++) {
				uint16_t vlen;
				const char *v = xm_route_info_get(ri, rt->metas[m].name, rt->metas[m].name_len, &vlen);
				if (!v || !xp__str_match(&rt->metas[m].m, v, vlen))
					break;
			}
			if (m == rt->nmetas) {
				if (vhost)
					*vhost = vh;
				return rt;
			}
		}
		return NULL; /* the first matching virtual host decides, as in Envoy */
	}
	return NULL;
}
