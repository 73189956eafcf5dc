/* HTTP/1 codec: field lines (RFC 9112 §5) and the meaning of the fields that frame or route a message. */
#include <string.h>

#include "http1_int.h"

#define H1__NAME_MAX 24 /* longest recognised name is transfer-encoding (17) */

static uint8_t h1__known(const char *n, size_t len)
{
	switch (len) {
	case 2:
		return memcmp(n, "te", 2) == 0 ? XM_H1_H_TE : XM_H1_H_OTHER;
	case 4:
		return memcmp(n, "host", 4) == 0 ? XM_H1_H_HOST : XM_H1_H_OTHER;
	case 6:
		return memcmp(n, "expect", 6) == 0 ? XM_H1_H_EXPECT : XM_H1_H_OTHER;
	case 7:
		if (memcmp(n, "upgrade", 7) == 0)
			return XM_H1_H_UPGRADE;
		return memcmp(n, "trailer", 7) == 0 ? XM_H1_H_TRAILER : XM_H1_H_OTHER;
	case 10:
		if (memcmp(n, "connection", 10) == 0)
			return XM_H1_H_CONNECTION;
		return memcmp(n, "keep-alive", 10) == 0 ? XM_H1_H_KEEP_ALIVE : XM_H1_H_OTHER;
	case 14:
		return memcmp(n, "content-length", 14) == 0 ? XM_H1_H_CONTENT_LENGTH : XM_H1_H_OTHER;
	case 16:
		return memcmp(n, "proxy-connection", 16) == 0 ? XM_H1_H_PROXY_CONNECTION : XM_H1_H_OTHER;
	case 17:
		return memcmp(n, "transfer-encoding", 17) == 0 ? XM_H1_H_TRANSFER_ENCODING : XM_H1_H_OTHER;
	}
	return XM_H1_H_OTHER;
}

/*
 * One field line: token ":" OWS value OWS CRLF, the cursor at its first byte (not CR, LF,
 * SP or HTAB: the caller sorted those out). Value bytes are HTAB, SP, VCHAR and obs-text;
 * NUL and every other control byte are refused rather than replaced (RFC 9110 §5.5 allows
 * either; replacing would mean writing into the connection's buffers).
 */
static int h1__field_line(struct h1__cur *c, struct xm_http1_field *f, size_t *err_off)
{
	char name[H1__NAME_MAX];
	size_t nlen = 0, colon, vstart, vend;
	int ch, r;

	f->name.off = (uint32_t)h1__off(c);
	for (;;) {
		while (c->p < c->e && h1__tchar[*c->p]) {
			if (nlen < sizeof(name))
				name[nlen] = (char)h1__lower(*c->p);
			nlen++;
			c->p++;
		}
		if (c->p < c->e)
			break;
		if (h1__refill(c) < 0)
			return H1__MORE;
	}
	colon = h1__off(c);
	ch = *c->p;
	if (ch != ':' || nlen == 0) {
		*err_off = colon;
		return ch == ' ' || ch == '\t' ? XM_H1_E_WS_BEFORE_COLON : XM_H1_E_FIELD_NAME;
	}
	c->p++;
	while ((ch = h1__peek(c)) == ' ' || ch == '\t')
		c->p++;
	if (ch == H1__EOF)
		return H1__MORE;
	vstart = vend = h1__off(c);
	for (;;) {
		const uint8_t *run = c->p;
		while (c->p < c->e && h1__vchar[*c->p])
			c->p++;
		if (c->p != run)
			vend = h1__off(c);
		if (c->p == c->e) {
			if (h1__refill(c) < 0)
				return H1__MORE;
			continue;
		}
		ch = *c->p;
		if (ch == ' ' || ch == '\t') {
			c->p++;
			continue;
		}
		*err_off = h1__off(c);
		if (ch == '\r') {
			c->p++;
			r = h1__lf(c);
			if (r != XM_H1_OK)
				return r;
			break;
		}
		return ch == '\n' ? XM_H1_E_BARE_LF : XM_H1_E_FIELD_VALUE;
	}
	f->name.len = (uint32_t)(colon - f->name.off);
	f->value.off = (uint32_t)vstart;
	f->value.len = (uint32_t)(vend - vstart);
	f->end = (uint32_t)h1__off(c);
	f->known = nlen <= sizeof(name) ? h1__known(name, nlen) : XM_H1_H_OTHER;
	return XM_H1_OK;
}

int h1__fields(struct h1__cur *c, struct xm_http1_field *fields, uint16_t cap, uint16_t max, uint16_t *n,
	       h1__field_fn on_field, void *ctx, size_t *err_off)
{
	struct xm_http1_field f;
	int ch, r, pending = 0;

	*n = 0;
	for (;;) {
		*err_off = h1__off(c);
		ch = h1__peek(c);
		if (ch == H1__EOF)
			return H1__MORE;
		/* RFC 9112 §2.2 and §5.2: a line starting with whitespace is either junk before
		 * the first field or an obs-fold; unfolding would mean rewriting the buffer. A
		 * field is only judged once the next line shows it is not folded. */
		if (ch == ' ' || ch == '\t')
			return *n == 0 ? XM_H1_E_LEADING_WS : XM_H1_E_OBS_FOLD;
		if (pending && on_field && (r = on_field(ctx, &f)) != XM_H1_OK) {
			*err_off = f.name.off;
			return r;
		}
		pending = 0;
		if (ch == '\r') {
			c->p++;
			return h1__lf(c);
		}
		if (ch == '\n')
			return XM_H1_E_BARE_LF;
		if (*n >= max)
			return XM_H1_E_TOO_MANY_FIELDS;
		r = h1__field_line(c, &f, err_off);
		if (r != XM_H1_OK)
			return r;
		if (fields && *n < cap)
			fields[*n] = f;
		(*n)++;
		pending = 1;
	}
}

/* ---- list-valued fields (RFC 9110 §5.6.1): element *( OWS "," OWS element ) ---- */

struct h1__elem {
	char buf[16];     /* lowercased start of the element */
	size_t len;       /* element length */
	int bad;          /* not a single token (parameters, quotes, inner spaces, ...) */
};

/* Next element of the list under the cursor: 1 (possibly empty), or 0 past the last one.
 * *more tracks whether a comma promised another element. */
static int h1__elem_next(struct h1__cur *c, struct h1__elem *e, int *more)
{
	int ch;

	if (!*more)
		return 0;
	e->len = 0;
	e->bad = 0;
	while ((ch = h1__peek(c)) == ' ' || ch == '\t')
		c->p++;
	while ((ch = h1__peek(c)) != H1__EOF && h1__tchar[ch]) {
		if (e->len < sizeof(e->buf))
			e->buf[e->len] = (char)h1__lower(ch);
		e->len++;
		c->p++;
	}
	while ((ch = h1__peek(c)) == ' ' || ch == '\t')
		c->p++;
	for (;;) {
		ch = h1__next(c);
		if (ch == H1__EOF) {
			*more = 0;
			return 1;
		}
		if (ch == ',') {
			*more = 1;
			return 1;
		}
		e->bad = 1;
	}
}

static int h1__elem_is(const struct h1__elem *e, const char *word)
{
	size_t n = strlen(word);
	return !e->bad && e->len == n && memcmp(e->buf, word, n) == 0;
}

static void h1__list_init(struct h1__cur *c, const struct xm_iview *v, struct xm_http1_span s, int *more)
{
	h1__cur_init(c, v, s.off, (size_t)s.off + s.len);
	*more = 1;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). A list of equal values ("5, 5") could be
 * collapsed, as HAProxy does, but forwarding the original bytes would hand the upstream
 * the same ambiguity: refused, as Envoy does. */
static int h1__content_length(struct h1__sem *s, struct xm_http1_span val)
{
	struct h1__cur c;
	uint64_t n = 0;
	int ch;

	if (val.len == 0)
		return XM_H1_E_CL_INVALID;
	h1__cur_init(&c, s->v, val.off, (size_t)val.off + val.len);
	while ((ch = h1__next(&c)) != H1__EOF) {
		if (ch < '0' || ch > '9')
			return XM_H1_E_CL_INVALID;
		if (n > (INT64_MAX - (uint64_t)(ch - '0')) / 10)
			return XM_H1_E_CL_INVALID;
		n = n * 10 + (uint64_t)(ch - '0');
	}
	s->h->content_length = n;
	return XM_H1_OK;
}

/* Transfer-Encoding (RFC 9112 §6.1), across every line of it in order. Only a final,
 * single, parameterless "chunked" is ever accepted; the verdict on the whole list is
 * taken by the head parser once all lines are seen. */
static int h1__transfer_encoding(struct h1__sem *s, struct xm_http1_span val)
{
	struct h1__cur c;
	struct h1__elem e;
	int more;

	s->te_seen = 1;
	h1__list_init(&c, s->v, val, &more);
	while (h1__elem_next(&c, &e, &more)) {
		if (e.bad || e.len == 0)
			return XM_H1_E_TE_INVALID;
		if (h1__elem_is(&e, "chunked")) {
			if (s->te_chunked)
				return XM_H1_E_TE_CHUNKED_TWICE;
			s->te_chunked = 1;
			s->te_last_chunked = 1;
			s->te_other_before_chunked = s->te_other;
		} else {
			s->te_other = 1;
			s->te_last_chunked = 0;
		}
	}
	return XM_H1_OK;
}

static void h1__connection(struct h1__sem *s, struct xm_http1_span val)
{
	struct h1__cur c;
	struct h1__elem e;
	int more;

	h1__list_init(&c, s->v, val, &more);
	while (h1__elem_next(&c, &e, &more)) {
		if (h1__elem_is(&e, "close"))
			s->conn_close = 1;
		else if (h1__elem_is(&e, "keep-alive"))
			s->conn_keep_alive = 1;
		else if (h1__elem_is(&e, "upgrade"))
			s->conn_upgrade = 1;
	}
}

int h1__on_field(void *ctx, const struct xm_http1_field *f)
{
	struct h1__sem *s = ctx;
	struct xm_http1_head *h = s->h;
	struct xm_http1_span host;
	int port;

	switch (f->known) {
	case XM_H1_H_CONTENT_LENGTH:
		if (s->ignore_framing)
			return XM_H1_OK;
		if (s->cl_seen)
			return XM_H1_E_CL_REPEATED;
		s->cl_seen = 1;
		return h1__content_length(s, f->value);
	case XM_H1_H_TRANSFER_ENCODING:
		return s->ignore_framing ? XM_H1_OK : h1__transfer_encoding(s, f->value);
	case XM_H1_H_HOST:
		if (s->is_response)
			return XM_H1_OK;
		if (h->flags & XM_H1_F_HOST)
			return XM_H1_E_HOST_REPEATED;
		if (h1__authority(s->v, f->value, &host, &port) < 0)
			return XM_H1_E_HOST_INVALID;
		h->flags |= XM_H1_F_HOST;
		h->host = f->value;
		return XM_H1_OK;
	case XM_H1_H_CONNECTION:
		h1__connection(s, f->value);
		return XM_H1_OK;
	case XM_H1_H_UPGRADE:
		if (h->upgrade.len == 0)
			h->upgrade = f->value;
		return XM_H1_OK;
	case XM_H1_H_EXPECT: {
		struct h1__cur c;
		struct h1__elem e;
		int more;
		h1__list_init(&c, s->v, f->value, &more);
		if (h1__elem_next(&c, &e, &more) && !more && h1__elem_is(&e, "100-continue"))
			s->expect_continue = 1;
		return XM_H1_OK;
	}
	}
	return XM_H1_OK;
}

/*
 * uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2). uri-host is an IP-literal in
 * brackets or a reg-name (IPv4 addresses are reg-names syntactically); an empty host is
 * refused (RFC 9110 §4.2.1) and so is userinfo ('@'), which RFC 9110 §4.2.4 tells
 * recipients to treat as an error. port is 1 to 5 digits up to 65535.
 */
int h1__authority(const struct xm_iview *v, struct xm_http1_span a, struct xm_http1_span *host, int *port)
{
	struct h1__cur c;
	int ch;

	h1__cur_init(&c, v, a.off, (size_t)a.off + a.len);
	host->off = a.off;
	*port = -1;
	if (h1__peek(&c) == '[') {
		size_t inner = 0;
		c.p++;
		for (;;) {
			ch = h1__next(&c);
			if (ch == ']')
				break;
			if (ch == H1__EOF || !(h1__regname[ch] || ch == ':') || ch == '%')
				return -1;
			inner++;
		}
		if (inner == 0)
			return -1;
	} else {
		while ((ch = h1__peek(&c)) != H1__EOF && h1__regname[ch]) {
			c.p++;
			if (ch == '%' && (h1__hex(h1__next(&c)) < 0 || h1__hex(h1__next(&c)) < 0))
				return -1;
		}
	}
	host->len = (uint32_t)(h1__off(&c) - a.off);
	if (host->len == 0)
		return -1;
	ch = h1__next(&c);
	if (ch == H1__EOF)
		return 0;
	if (ch != ':')
		return -1;
	int p = 0, digits = 0;
	while ((ch = h1__next(&c)) != H1__EOF) {
		if (ch < '0' || ch > '9' || ++digits > 5)
			return -1;
		p = p * 10 + (ch - '0');
	}
	if (digits == 0 || p > 65535)
		return -1;
	*port = p;
	return 0;
}
