/* String matchers of L7 routes: literals compared in place, regexes with one PCRE2 match-data block per thread. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/match.h"

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

int xm_str_match_literal(struct xm_str_match *m, enum xm_str_match_kind kind, const char *s, size_t n)
{
	memset(m, 0, sizeof(*m));
	if (n > 65535)
		return -EINVAL;
	if (!(m->s = strndup(s, n)))
		return -ENOMEM;
	m->kind = kind;
	m->len = (uint16_t)n;
	return 0;
}

int xm_str_match_domain(struct xm_str_match *m, const char *d)
{
	size_t n = strlen(d);

	memset(m, 0, sizeof(*m));
	if (n == 1 && d[0] == '*')
		return 0; /* XM_MATCH_ANY */
	if (n > 1 && d[0] == '*')
		return xm_str_match_literal(m, XM_MATCH_SUFFIX, d + 1, n - 1);
	if (n > 1 && d[n - 1] == '*')
		return xm_str_match_literal(m, XM_MATCH_PREFIX, d, n - 1);
	return xm_str_match_literal(m, XM_MATCH_EXACT, d, n);
}
