/* HTTP/1 codec: request and response heads (RFC 9112 §2-§6) and the framing decision they imply. */
#include <string.h>
#include <sys/uio.h>

#include "http1_int.h"

void xm_http1_head_init(struct xm_http1_head *h, struct xm_http1_field *fields, uint16_t fields_cap)
{
	memset(h, 0, sizeof(*h));
	h->fields = fields;
	h->fields_cap = fields ? fields_cap : 0;
}

/* ---- end-of-head scan ---- */

#define H1__PEEK 64 /* bytes judged before a head is complete */

enum h1__scan {
	H1__SCAN_MORE = 0,  /* no end yet, below the limit: only a prefix may be judged */
	H1__SCAN_END,       /* *end is just past the empty line ending the head */
	H1__SCAN_BAD_EOL,   /* *end is just past a bare LF: the full parse will refuse at or before it */
	H1__SCAN_LIMIT,     /* max_head_bytes scanned without an end */
};

/*
 * Find where the head ends without parsing it, resuming where the last call stopped
 * (h->scan_*), so a head that trickles in is scanned once; the full parse then runs
 * once over a known range. Only LFs are looked at (memchr per segment): a line ends at
 * CR LF, the head at the first empty line after a non-empty one (leading empty lines are
 * skipped, RFC 9112 §2.2), and a bare LF stops the scan early so garbage is refused
 * without waiting for the limit.
 */
static enum h1__scan h1__scan(struct xm_http1_head *h, const struct xm_iview *v, size_t max, size_t *end)
{
	size_t avail = v->len < max ? v->len : max;
	size_t off = h->scan_off, seg_off = 0;
	unsigned seg = 0;

	while (off < avail && seg < v->niov) {
		size_t seg_end = seg_off + v->iov[seg].iov_len;
		if (off >= seg_end) {
			seg_off = seg_end;
			seg++;
			continue;
		}
		const uint8_t *base = (const uint8_t *)v->iov[seg].iov_base + (off - seg_off);
		size_t n = (seg_end < avail ? seg_end : avail) - off;
		const uint8_t *lf = memchr(base, '\n', n);
		if (!lf) {
			h->scan_prev = base[n - 1];
			off += n;
			continue;
		}
		size_t k = (size_t)(lf - base), at = off + k;
		uint8_t prev = k ? base[k - 1] : h->scan_prev;
		off = at + 1;
		h->scan_prev = '\n';
		h->scan_off = (uint32_t)off;
		if (prev != '\r') {
			*end = off;
			return H1__SCAN_BAD_EOL;
		}
		if (at - 1 == h->scan_ls) { /* empty line */
			if (h->scan_seen) {
				*end = off;
				return H1__SCAN_END;
			}
		} else {
			h->scan_seen = 1;
		}
		h->scan_ls = (uint32_t)off;
	}
	h->scan_off = (uint32_t)off;
	if (off >= max) {
		*end = max;
		return H1__SCAN_LIMIT;
	}
	return H1__SCAN_MORE;
}

/* ---- start lines ---- */

/* Read len(pat) bytes that must match pat, where 'D' stands for a digit, into buf.
 * OK, START_LINE at the first byte that cannot match, or MORE when the bytes run out on a
 * prefix that still could (only then is the head "too large" rather than malformed). */
static int h1__pattern(struct h1__cur *c, const char *pat, char *buf)
{
	for (size_t i = 0; pat[i]; i++) {
		int ch = h1__next(c);
		if (ch == H1__EOF)
			return H1__MORE;
		if (pat[i] == 'D' ? ch < '0' || ch > '9' : ch != pat[i])
			return XM_H1_E_START_LINE;
		buf[i] = (char)ch;
	}
	return XM_H1_OK;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3, case-sensitive). Sets h->version
 * for 1.0 and 1.1; *other is set for any other well-formed version (answered with 505). */
static int h1__version(struct h1__cur *c, struct xm_http1_head *h, int *other)
{
	char b[8];
	int r = h1__pattern(c, "HTTP/D.D", b);

	if (r != XM_H1_OK)
		return r;
	*other = !(b[5] == '1' && (b[7] == '0' || b[7] == '1'));
	h->version = b[7] == '0' ? 10 : 11;
	return XM_H1_OK;
}

/* CRLF closing a start line. */
static int h1__eol(struct h1__cur *c)
{
	int ch = h1__next(c);
	if (ch == '\r')
		return h1__lf(c);
	if (ch == H1__EOF)
		return H1__MORE;
	return ch == '\n' ? XM_H1_E_BARE_LF : XM_H1_E_START_LINE;
}

static uint8_t h1__method_id(const struct xm_iview *v, struct xm_http1_span m)
{
	static const struct { const char *s; uint8_t len, id; } known[] = {
		{ "GET", 3, XM_H1_M_GET },	   { "HEAD", 4, XM_H1_M_HEAD },	      { "POST", 4, XM_H1_M_POST },
		{ "PUT", 3, XM_H1_M_PUT },	   { "DELETE", 6, XM_H1_M_DELETE },   { "CONNECT", 7, XM_H1_M_CONNECT },
		{ "OPTIONS", 7, XM_H1_M_OPTIONS }, { "TRACE", 5, XM_H1_M_TRACE },     { "PATCH", 5, XM_H1_M_PATCH },
	};
	char b[8];

	if (m.len > sizeof(b) || h1__copy(v, m, b) < 0)
		return XM_H1_M_OTHER;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].len == m.len && memcmp(known[i].s, b, m.len) == 0) /* methods are case-sensitive */
			return known[i].id;
	return XM_H1_M_OTHER;
}

/* request-line = method SP request-target SP HTTP-version CRLF, single spaces only
 * (RFC 9112 §3: lenient whitespace parsing is a MAY we do not take). */
static int h1__request_line(struct h1__cur *c, struct xm_http1_head *h, const struct xm_iview *v, int *other,
			    size_t *err_off)
{
	size_t at = h1__off(c);
	int ch;

	while ((ch = h1__peek(c)) != H1__EOF && h1__tchar[ch])
		c->p++;
	*err_off = h1__off(c);
	if (ch == H1__EOF)
		return H1__MORE;
	if (ch != ' ' || *err_off == at)
		return XM_H1_E_START_LINE;
	h->method_s.off = (uint32_t)at;
	h->method_s.len = (uint32_t)(*err_off - at);
	h->method = h1__method_id(v, h->method_s);
	c->p++;

	at = h1__off(c);
	for (;;) {
		while (c->p < c->e && h1__target[*c->p])
			c->p++;
		if (c->p < c->e || h1__refill(c) < 0)
			break;
	}
	*err_off = h1__off(c);
	ch = h1__peek(c);
	if (ch == H1__EOF)
		return H1__MORE;
	if (ch != ' ')
		return ch == '\r' || ch == '\n' ? XM_H1_E_START_LINE : XM_H1_E_TARGET;
	if (*err_off == at)
		return XM_H1_E_START_LINE; /* two spaces: empty target */
	h->target.off = (uint32_t)at;
	h->target.len = (uint32_t)(*err_off - at);
	c->p++;

	*err_off = h1__off(c);
	int r = h1__version(c, h, other);
	if (r != XM_H1_OK)
		return r;
	*err_off = h1__off(c);
	return h1__eol(c);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4). A
 * missing SP after the code is accepted: servers send "HTTP/1.1 200\r\n" and the reason is
 * ignored anyway. */
static int h1__status_line(struct h1__cur *c, struct xm_http1_head *h, int *other, size_t *err_off)
{
	char b[4];
	int r, ch;

	*err_off = h1__off(c);
	r = h1__version(c, h, other);
	if (r != XM_H1_OK)
		return r;
	*err_off = h1__off(c);
	r = h1__pattern(c, " DDD", b);
	if (r != XM_H1_OK)
		return r;
	h->status = (uint16_t)((b[1] - '0') * 100 + (b[2] - '0') * 10 + (b[3] - '0'));
	if (h->status < 100 || h->status > 599)
		return XM_H1_E_START_LINE;
	*err_off = h1__off(c);
	ch = h1__peek(c);
	if (ch == ' ') {
		c->p++;
		h->reason.off = (uint32_t)h1__off(c);
		while ((ch = h1__peek(c)) != H1__EOF && (h1__vchar[ch] || ch == ' ' || ch == '\t'))
			c->p++;
		h->reason.len = (uint32_t)(h1__off(c) - h->reason.off);
	}
	*err_off = h1__off(c);
	return h1__eol(c);
}

/* ---- target and framing ---- */

static int h1__default_port(const struct xm_iview *v, struct xm_http1_span scheme)
{
	char b[5];

	if (scheme.len < 4 || scheme.len > 5 || h1__copy(v, scheme, b) < 0)
		return -1;
	for (uint32_t i = 0; i < scheme.len; i++)
		b[i] = (char)h1__lower(b[i]);
	if (scheme.len == 4 && memcmp(b, "http", 4) == 0)
		return 80;
	if (scheme.len == 5 && memcmp(b, "https", 5) == 0)
		return 443;
	return -1;
}

/*
 * request-target forms (RFC 9112 §3.2): origin-form for everything but CONNECT, which
 * takes authority-form "host:port" only; "*" for OPTIONS only; absolute-form
 * scheme "://" authority [path], whose authority must name the same host and port as the
 * Host field (the scheme's default port may be implied on one side, as HAProxy accepts).
 */
static int h1__check_target(struct xm_http1_head *h, const struct xm_iview *v)
{
	struct xm_http1_span host, ahost, scheme;
	struct h1__cur c;
	int ch, port, aport;

	h1__cur_init(&c, v, h->target.off, (size_t)h->target.off + h->target.len);
	ch = h1__peek(&c);
	if (h->method == XM_H1_M_CONNECT) {
		h->form = XM_H1_FORM_AUTHORITY;
		h->authority = h->target;
		if (ch == '/' || h1__authority(v, h->target, &ahost, &aport) < 0 || aport < 0)
			return XM_H1_E_TARGET;
		return XM_H1_OK;
	}
	if (ch == '/') {
		h->form = XM_H1_FORM_ORIGIN;
		return XM_H1_OK;
	}
	if (ch == '*') {
		h->form = XM_H1_FORM_ASTERISK;
		return h->target.len == 1 && h->method == XM_H1_M_OPTIONS ? XM_H1_OK : XM_H1_E_TARGET;
	}
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	scheme.off = h->target.off;
	if (!((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
		return XM_H1_E_TARGET;
	while ((ch = h1__peek(&c)) != H1__EOF &&
	       (((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'))
		c.p++;
	scheme.len = (uint32_t)(h1__off(&c) - scheme.off);
	if (h1__next(&c) != ':' || h1__next(&c) != '/' || h1__next(&c) != '/')
		return XM_H1_E_TARGET;
	h->form = XM_H1_FORM_ABSOLUTE;
	h->authority.off = (uint32_t)h1__off(&c);
	while ((ch = h1__peek(&c)) != H1__EOF && ch != '/' && ch != '?')
		c.p++;
	h->authority.len = (uint32_t)(h1__off(&c) - h->authority.off);
	if (h1__authority(v, h->authority, &ahost, &aport) < 0)
		return XM_H1_E_TARGET;
	if (!(h->flags & XM_H1_F_HOST) || h1__span_ieq(v, h->authority, h->host))
		return XM_H1_OK;
	if (h1__authority(v, h->host, &host, &port) < 0 || !h1__span_ieq(v, ahost, host))
		return XM_H1_E_HOST_MISMATCH;
	int def = h1__default_port(v, scheme);
	if (aport < 0)
		aport = def;
	if (port < 0)
		port = def;
	return aport == port && aport >= 0 ? XM_H1_OK : XM_H1_E_HOST_MISMATCH;
}

/* Transfer-Encoding / Content-Length rules shared by requests and responses (RFC 9112
 * §6.1-§6.3), in a fixed order so a message has one reason whatever else is wrong. */
static int h1__check_framing(const struct h1__sem *s, const struct xm_http1_head *h)
{
	if (!s->te_seen)
		return XM_H1_OK;
	if (h->version == 10)
		return XM_H1_E_TE_HTTP10;
	if (s->cl_seen)
		return XM_H1_E_CL_WITH_TE;
	if (!s->te_last_chunked)
		return XM_H1_E_TE_NOT_CHUNKED;
	if (s->te_other_before_chunked)
		return XM_H1_E_TE_UNSUPPORTED;
	return XM_H1_OK;
}

static int h1__finish_request(struct h1__sem *s, struct xm_http1_head *h, const struct xm_http1_limits *lim)
{
	int r = h1__check_framing(s, h);
	if (r != XM_H1_OK)
		return r;
	if (h->method == XM_H1_M_CONNECT && (s->te_seen || h->content_length > 0))
		return XM_H1_E_BODY_NOT_ALLOWED; /* RFC 9110 §9.3.6: CONNECT has no content */
	if (h->content_length > lim->max_body)
		return XM_H1_E_BODY_TOO_LARGE;
	if (h->version == 11 && !(h->flags & XM_H1_F_HOST))
		return XM_H1_E_HOST_MISSING;
	r = h1__check_target(h, s->v);
	if (r != XM_H1_OK)
		return r;
	h->body = s->te_seen ? XM_H1_BODY_CHUNKED : h->content_length ? XM_H1_BODY_LENGTH : XM_H1_BODY_NONE;
	if (h->version == 11) {
		if (s->expect_continue)
			h->flags |= XM_H1_F_EXPECT_CONTINUE;
		if (s->conn_upgrade && h->upgrade.len) /* RFC 9110 §7.8: ignored in HTTP/1.0 */
			h->flags |= XM_H1_F_UPGRADE;
	}
	return XM_H1_OK;
}

static int h1__finish_response(struct h1__sem *s, struct xm_http1_head *h, const struct xm_http1_limits *lim,
			       enum xm_http1_method req_method)
{
	int no_body = h->status < 200 || h->status == 204;

	if (s->ignore_framing) {
		h->body = XM_H1_BODY_TUNNEL; /* RFC 9112 §6.3 rule 2 */
		return XM_H1_OK;
	}
	/* RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length (but 0) or Transfer-Encoding on
	 * 1xx and 204, refused as Envoy does */
	if (no_body && (s->te_seen || h->content_length > 0))
		return XM_H1_E_BODY_NOT_ALLOWED;
	int r = h1__check_framing(s, h);
	if (r != XM_H1_OK)
		return r;
	if (h->status == 101) {
		h->body = XM_H1_BODY_TUNNEL;
		h->flags |= XM_H1_F_UPGRADE;
	} else if (h->status < 200) {
		h->flags |= XM_H1_F_INTERIM;
	} else if (no_body || h->status == 304 || req_method == XM_H1_M_HEAD) {
		h->body = XM_H1_BODY_NONE;
	} else if (s->te_seen) {
		h->body = XM_H1_BODY_CHUNKED;
	} else if (s->cl_seen) {
		if (h->content_length > lim->max_body)
			return XM_H1_E_BODY_TOO_LARGE;
		h->body = h->content_length ? XM_H1_BODY_LENGTH : XM_H1_BODY_NONE;
	} else {
		h->body = XM_H1_BODY_CLOSE;
	}
	return XM_H1_OK;
}

/* ---- driver ---- */

/* Parse the whole head in [0, end). scan says how the range was found; running out of
 * bytes inside it means the limit was hit (or, after a bare LF, cannot happen). */
static ssize_t h1__head(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim,
			size_t end, enum h1__scan scan, int is_response, enum xm_http1_method req_method)
{
	struct h1__sem s = { .h = h, .v = v, .is_response = is_response };
	struct h1__cur c;
	size_t err_off = 0;
	int r, ch, other = 0, in_start_line = 0;
	uint16_t max = lim->max_fields;

	h->nfields = 0;
	h->flags = 0;
	h->method = XM_H1_M_OTHER;
	h->form = 0;
	h->body = XM_H1_BODY_NONE;
	h->status = 0;
	h->content_length = 0;
	h->method_s = h->target = h->authority = h->host = h->upgrade = h->reason = (struct xm_http1_span){ 0, 0 };
	if (h->fields && h->fields_cap < max)
		max = h->fields_cap;

	h1__cur_init(&c, v, 0, end);
	for (;;) { /* empty lines before the start line (RFC 9112 §2.2) */
		err_off = h1__off(&c);
		ch = h1__peek(&c);
		if (ch == '\n' || ch == H1__EOF) {
			r = ch == '\n' ? XM_H1_E_BARE_LF : H1__MORE;
			goto out;
		}
		if (ch != '\r')
			break;
		c.p++;
		if ((r = h1__lf(&c)) != XM_H1_OK)
			goto out;
	}
	h->start = (uint32_t)h1__off(&c);
	in_start_line = 1;
	r = is_response ? h1__status_line(&c, h, &other, &err_off) : h1__request_line(&c, h, v, &other, &err_off);
	if (r != XM_H1_OK)
		goto out;
	if (other) {
		r = XM_H1_E_VERSION;
		goto out;
	}
	in_start_line = 0;
	/* a 2xx to CONNECT is a tunnel: its Content-Length / Transfer-Encoding are ignored
	 * (RFC 9112 §6.3 rule 2), not judged */
	s.ignore_framing = is_response && req_method == XM_H1_M_CONNECT && h->status >= 200 && h->status < 300;
	r = h1__fields(&c, h->fields, h->fields_cap, max, &h->nfields, h1__on_field, &s, &err_off);
	if (r != XM_H1_OK)
		goto out;
	err_off = h1__off(&c);
	if (scan == H1__SCAN_MORE)
		return 0; /* a peek never judges a whole head */
	r = is_response ? h1__finish_response(&s, h, lim, req_method) : h1__finish_request(&s, h, lim);
	if (r != XM_H1_OK)
		goto out;
	if (s.conn_close)
		h->flags |= XM_H1_F_CONN_CLOSE;
	if (h->body != XM_H1_BODY_CLOSE && h->body != XM_H1_BODY_TUNNEL && !s.conn_close && (h->version == 11 || s.conn_keep_alive))
		h->flags |= XM_H1_F_KEEP_ALIVE;
	h->len = (uint32_t)h1__off(&c);
	h->err = XM_H1_OK;
	return (ssize_t)h->len;
out:
	if (r == H1__MORE) {
		err_off = end;
		if (scan == H1__SCAN_MORE)
			return 0; /* a prefix without error */
		if (scan == H1__SCAN_LIMIT)
			r = in_start_line && !is_response ? XM_H1_E_TARGET_TOO_LONG : XM_H1_E_HEAD_TOO_LARGE;
		else /* unreachable: the range ends with an empty line or a bare LF, which every
		      * parse step either ends on or refuses */
#ifdef XM_HTTP1_CHECKS
			__builtin_trap();
#else
			r = XM_H1_E_START_LINE;
#endif
	}
	h->err = (uint8_t)r;
	h->err_off = (uint32_t)err_off;
	return -(ssize_t)r;
}

static ssize_t h1__parse(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim,
			 int is_response, enum xm_http1_method req_method)
{
	size_t end = 0;
	enum h1__scan scan = h1__scan(h, v, lim->max_head_bytes, &end);

	if (scan == H1__SCAN_MORE) {
		/* Judge the first bytes now, so that garbage (a TLS hello, a body sent after a
		 * 204) fails at once instead of waiting for a line end or the limit. The parser
		 * decides left to right on bytes it has seen, so an error found on a prefix is
		 * the error the whole head would get. Bounded: a trickling head costs O(n). */
		end = v->len < H1__PEEK ? v->len : H1__PEEK; /* < max_head_bytes, or the scan says LIMIT */
		ssize_t r = h1__head(h, v, lim, end, H1__SCAN_MORE, is_response, req_method);
		return r < 0 ? r : 0;
	}
	return h1__head(h, v, lim, end, scan, is_response, req_method);
}

ssize_t xm_http1_parse_request(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim)
{
	return h1__parse(h, v, lim, 0, XM_H1_M_OTHER);
}

ssize_t xm_http1_parse_response(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim,
				enum xm_http1_method req_method)
{
	return h1__parse(h, v, lim, 1, req_method);
}
