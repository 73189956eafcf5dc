/* String matchers of L7 routes: exact, prefix, suffix, present and whole-string regex (PCRE2, JIT when available). */
#ifndef XM_MATCH_H
#define XM_MATCH_H

#include <stddef.h>
#include <stdint.h>

enum xm_str_match_kind {
	XM_MATCH_ANY = 0,
	XM_MATCH_EXACT,
	XM_MATCH_PREFIX,
	XM_MATCH_SUFFIX,      /* domains only: "*suffix" */
	XM_MATCH_PRESENT,
	XM_MATCH_REGEX,       /* whole-string PCRE2 match */
};

struct xm_str_match {
	enum xm_str_match_kind kind;
	char *s;
	uint16_t len;
	void *re;             /* XM_MATCH_REGEX: compiled pcre2_code (JIT when available) */
};

/* Compile pattern into m (kind XM_MATCH_REGEX). 0, or -EINVAL with the reason in err. */
int xm_str_match_regex(struct xm_str_match *m, const char *pattern, char *err, size_t errlen);
/* A literal matcher of kind (EXACT, PREFIX, SUFFIX) over s[0, n). 0, -EINVAL (too long) or -ENOMEM. */
int xm_str_match_literal(struct xm_str_match *m, enum xm_str_match_kind kind, const char *s, size_t n);
/* A virtual host domain: "*" any, "*suffix", "prefix*", else exact. 0, -EINVAL or -ENOMEM. */
int xm_str_match_domain(struct xm_str_match *m, const char *d);
void xm_str_match_free(struct xm_str_match *m);
/* 1 if s (len bytes, not NUL-terminated) matches. */
int xm_str_match(const struct xm_str_match *m, const char *s, size_t len);

#endif
