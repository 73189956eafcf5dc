/* x_proxy routing: virtual hosts by service, then routes by method and metas (exact, prefix, suffix, present, regex). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/table.h"
#include "filters/x_proxy/x_proxy.h"

/* One match-data block per thread (workers, and tests calling the router directly);
 * freed by the key's destructor when the thread exits. pcre2_match_data is not shareable,
 * the compiled pattern is. */
static pthread_key_t xp__md_key;
static pthread_once_t xp__md_once = PTHREAD_ONCE_INIT;

static void xp__md_free(void *md) { pcre2_match_data_free(md); }
static void xp__md_init(void) { pthread_key_create(&xp__md_key, xp__md_free); }

static pcre2_match_data *xp__md(void)
{
	pthread_once(&xp__md_once, xp__md_init);
	pcre2_match_data *md = pthread_getspecific(xp__md_key);
	if (!md && (md = pcre2_match_data_create(1, NULL)))
		pthread_setspecific(xp__md_key, md);
	return md;
}

int xm_str_match_regex(struct xm_str_match *m, const char *pattern, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE at;

	memset(m, 0, sizeof(*m));
	/* Anchored at both ends: the whole value must match, as Envoy's safe_regex does. */
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF,
				       &code, &at, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "regex '%s': %s at offset %zu", pattern, (const char *)msg, (size_t)at);
		return -EINVAL;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreted if JIT is unavailable */
	m->kind = XM_MATCH_REGEX;
	m->re = re;
	return 0;
}

void xm_str_match_free(struct xm_str_match *m)
{
	free(m->s);
	if (m->re)
		pcre2_code_free(m->re);
	m->s = NULL;
	m->re = NULL;
}

int xm_str_match(const struct xm_str_match *m, const char *s, size_t len)
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
	case XM_MATCH_REGEX: {
		pcre2_match_data *md = xp__md();
		/* NO_UTF_CHECK is not passed: values come from the wire and may be invalid UTF-8,
		 * which then simply does not match. */
		return md && pcre2_match(m->re, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, md, NULL) >= 0;
	}
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
				const char *v = xm_route_info_get(ri, rt->metas[m].name, rt->metas[m].name_len, &vlen);
				if (!v || !xm_str_match(&rt->metas[m].m, v, vlen))
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
