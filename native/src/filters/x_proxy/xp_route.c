/* x_proxy route matching: virtual hosts by service, then routes by method and metas; the action is the shared router's. */
#include "filters/x_proxy/x_proxy.h"

const struct xm_xroute *xm_xroute_find(const struct xp_cfg *cfg, const struct xm_route_info *ri,
				       const struct xm_xvhost **vhost)
{
	for (uint32_t v = 0; v < cfg->nvhosts; v++) {
		const struct xm_xvhost *vh = &cfg->vhosts[v];
		uint32_t d;
		for (d = 0; d < vh->ndomains; d++)
			if (xm_str_match(&vh->domains[d], ri->service, ri->service_len))
				break;
		if (d == vh->ndomains)
			continue;
		for (uint32_t r = 0; r < vh->nroutes; r++) {
			const struct xm_xroute *rt = &vh->routes[r];
			if (rt->method.kind != XM_MATCH_ANY && !xm_str_match(&rt->method, ri->method, ri->method_len))
				continue;
			uint32_t m;
			for (m = 0; m < rt->nmetas; m++) {
				uint16_t vlen;
				const char *val = xm_route_info_get(ri, rt->metas[m].name, rt->metas[m].name_len, &vlen);
				if (!val || !xm_str_match(&rt->metas[m].m, val, vlen))
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
