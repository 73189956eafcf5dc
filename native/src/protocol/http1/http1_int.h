/* HTTP/1 codec internals: a byte cursor over the segmented view, character classes, the shared field-line parser. */
#ifndef XM_HTTP1_INT_H
#define XM_HTTP1_INT_H

#include <stddef.h>
#include <stdint.h>

#include "http1.h"

/*
 * The cursor walks [off, end) of a view one segment at a time: the hot loops scan
 * c->p..c->e directly and call h1__refill only at a segment boundary, so a message cut
 * into many chunks costs one extra call per chunk, never a copy.
 */
struct h1__cur {
	const struct iovec *iov;
	unsigned niov, seg;
	const uint8_t *s;  /* start of iov[seg] */
	const uint8_t *p;  /* next byte */
	const uint8_t *e;  /* end of the usable part of iov[seg] (clipped to end) */
	size_t seg_off;    /* view offset of s */
	size_t end;        /* the cursor never goes past this view offset */
};

#define H1__EOF (-1) /* h1__peek / h1__next: no byte before end */

void h1__cur_init(struct h1__cur *c, const struct xm_iview *v, size_t off, size_t end);
int h1__refill(struct h1__cur *c); /* 0, or -1 when end is reached */

static inline size_t h1__off(const struct h1__cur *c)
{
	return c->seg_off + (size_t)(c->p - c->s);
}

static inline int h1__peek(struct h1__cur *c)
{
	if (c->p == c->e && h1__refill(c) < 0)
		return H1__EOF;
	return *c->p;
}

static inline int h1__next(struct h1__cur *c)
{
	if (c->p == c->e && h1__refill(c) < 0)
		return H1__EOF;
	return *c->p++;
}

/* Character classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, RFC 3986 host). */
extern const uint8_t h1__tchar[256];  /* token characters */
extern const uint8_t h1__vchar[256];  /* VCHAR and obs-text: field value bytes other than SP/HTAB */
extern const uint8_t h1__target[256]; /* request-target bytes: VCHAR except '#' (no fragment) */
extern const uint8_t h1__regname[256];/* reg-name: unreserved, sub-delims, '%' */

static inline int h1__lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static inline int h1__hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = h1__lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Result of the line parsers besides OK (0) and a positive enum xm_http1_err. */
#define H1__MORE (-1) /* the cursor reached its end inside the line */

/* Expect LF right after a CR that was just consumed. */
static inline int h1__lf(struct h1__cur *c)
{
	int ch = h1__next(c);
	if (ch == '\n')
		return XM_H1_OK;
	return ch == H1__EOF ? H1__MORE : XM_H1_E_BARE_CR;
}

/*
 * Parse field lines (RFC 9112 §5) from the cursor up to and including the empty line that
 * ends the block. Fields go to fields[0..cap) when fields != NULL; more than max lines is
 * XM_H1_E_TOO_MANY_FIELDS. on_field (may be NULL) sees each field once it is complete and
 * may refuse it with a positive enum xm_http1_err. Returns OK, a positive error (*err_off
 * set), or H1__MORE.
 */
typedef int (*h1__field_fn)(void *ctx, const struct xm_http1_field *f);
int h1__fields(struct h1__cur *c, struct xm_http1_field *fields, uint16_t cap, uint16_t max, uint16_t *n,
	       h1__field_fn on_field, void *ctx, size_t *err_off);

/* Header semantics (http1_field.c): per-field state collected while the head is parsed. */
struct h1__sem {
	struct xm_http1_head *h;
	const struct xm_iview *v;
	int is_response;
	int ignore_framing;   /* 2xx to CONNECT: Content-Length / Transfer-Encoding are ignored */
	uint8_t cl_seen, te_seen, te_chunked, te_last_chunked, te_other, te_other_before_chunked;
	uint8_t conn_close, conn_keep_alive, conn_upgrade, expect_continue;
};
int h1__on_field(void *ctx, const struct xm_http1_field *f);

/* Authority (RFC 3986 §3.2.2 host, §3.2.3 port) inside [off, off+len) of v: host and port
 * spans out, port value in *port (-1 when absent). 0, or -1 if invalid (userinfo included). */
int h1__authority(const struct xm_iview *v, struct xm_http1_span a, struct xm_http1_span *host, int *port);
/* Copy a short span (names, schemes) into buf, which holds at least s.len bytes. 0 or -1. */
int h1__copy(const struct xm_iview *v, struct xm_http1_span s, char *buf);
/* Case-insensitive comparison of two spans of the same view. 1 if equal. */
int h1__span_ieq(const struct xm_iview *v, struct xm_http1_span a, struct xm_http1_span b);

#endif
