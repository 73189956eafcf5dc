/* HTTP/1 codec: body framing (RFC 9112 §6.3, §7.1): content-length, chunked and close-delimited bodies reported by reference. */
#include <string.h>
#include <sys/uio.h>

#include "http1_int.h"

enum h1__chunk_state {
	H1__CH_SIZE = 0,  /* at a chunk-size line */
	H1__CH_DATA,      /* inside chunk data: b->remaining bytes left */
	H1__CH_DATA_CRLF, /* at the CRLF that closes chunk data */
	H1__CH_TRAILERS,  /* after the last chunk: trailer section and empty line */
};

void xm_http1_body_init(struct xm_http1_body *b, const struct xm_http1_head *h, const struct xm_http1_limits *lim)
{
	memset(b, 0, sizeof(*b));
	b->kind = h->body;
	b->lim = *lim;
	switch (h->body) {
	case XM_H1_BODY_NONE:
		b->done = 1;
		break;
	case XM_H1_BODY_LENGTH:
		b->remaining = h->content_length;
		b->done = b->remaining == 0;
		break;
	default:
		break;
	}
}

/* chunk-ext-val quoted-string (RFC 9110 §5.6.4), the opening quote consumed. */
static int h1__quoted(struct h1__cur *c)
{
	for (;;) {
		int ch = h1__next(c);
		if (ch == H1__EOF)
			return H1__MORE;
		if (ch == '"')
			return XM_H1_OK;
		if (ch == '\\') {
			ch = h1__next(c);
			if (ch == H1__EOF)
				return H1__MORE;
			if (!(h1__vchar[ch] || ch == ' ' || ch == '\t'))
				return XM_H1_E_CHUNK_EXT;
		} else if (!(h1__vchar[ch] || ch == ' ' || ch == '\t')) {
			return XM_H1_E_CHUNK_EXT;
		}
	}
}

static size_t h1__token(struct h1__cur *c)
{
	size_t n = 0;
	int ch;
	while ((ch = h1__peek(c)) != H1__EOF && h1__tchar[ch]) {
		c->p++;
		n++;
	}
	return n;
}

/*
 * chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1, §7.1.1). Strict: no whitespace anywhere
 * (BWS around ';' and '=' is grammatical but "bad", and llhttp refuses spaces after the
 * size unless made lenient), extensions are ";" token [ "=" ( token / quoted-string ) ],
 * and the size is at most 2^64 - 1 before the max_body check.
 */
static int h1__chunk_line(struct h1__cur *c, uint64_t *size, int *in_ext)
{
	uint64_t n = 0;
	int ch, d, digits = 0, r;

	while ((ch = h1__peek(c)) != H1__EOF && (d = h1__hex(ch)) >= 0) {
		if (n >> 60)
			return XM_H1_E_CHUNK_SIZE;
		n = n << 4 | (uint64_t)d;
		digits++;
		c->p++;
	}
	if (ch == H1__EOF)
		return H1__MORE;
	if (digits == 0)
		return ch == '\n' ? XM_H1_E_BARE_LF : XM_H1_E_CHUNK_SIZE;
	if (ch != ';' && ch != '\r' && ch != '\n')
		return XM_H1_E_CHUNK_SIZE; /* junk or whitespace after the size */
	while (ch == ';') {
		*in_ext = 1;
		c->p++;
		if (h1__token(c) == 0)
			return h1__peek(c) == H1__EOF ? H1__MORE : XM_H1_E_CHUNK_EXT;
		if ((ch = h1__peek(c)) == '=') {
			c->p++;
			if ((ch = h1__peek(c)) == '"') {
				c->p++;
				if ((r = h1__quoted(c)) != XM_H1_OK)
					return r;
			} else if (h1__token(c) == 0) {
				return ch == H1__EOF ? H1__MORE : XM_H1_E_CHUNK_EXT;
			}
			ch = h1__peek(c);
		}
	}
	if (ch == H1__EOF)
		return H1__MORE;
	if (ch == '\n')
		return XM_H1_E_BARE_LF;
	if (ch != '\r')
		return XM_H1_E_CHUNK_EXT;
	c->p++;
	if ((r = h1__lf(c)) != XM_H1_OK)
		return r;
	*size = n;
	return XM_H1_OK;
}

/* Walk a chunked body from where the last call stopped. pos tracks what is consumed: a
 * chunk line or trailer section is consumed whole or not at all, chunk data in any part.
 * Line parsers look no further than their limit, so the verdict on an oversized line is
 * the same whether it arrives whole or a byte at a time. */
static ssize_t h1__chunked(struct xm_http1_body *b, const struct xm_iview *v, struct xm_http1_span *data, unsigned cap,
			   unsigned *ndata, struct xm_http1_span *trailers)
{
	struct h1__cur c;
	size_t pos = 0, err_off;
	uint64_t size;
	uint16_t nf;
	int r, ch;

	for (;;) {
		size_t avail = v->len - pos;
		switch (b->state) {
		case H1__CH_SIZE: {
			size_t lim = avail < b->lim.max_chunk_line ? avail : b->lim.max_chunk_line;
			int in_ext = 0;
			h1__cur_init(&c, v, pos, pos + lim);
			r = h1__chunk_line(&c, &size, &in_ext);
			if (r == H1__MORE) {
				if (avail < b->lim.max_chunk_line)
					return (ssize_t)pos;
				/* the limit cut the line: the part it was in names the reason */
				r = in_ext ? XM_H1_E_CHUNK_EXT : XM_H1_E_CHUNK_SIZE;
			}
			if (r != XM_H1_OK)
				return -r;
			pos = h1__off(&c);
			b->chunks++;
			if (size == 0) {
				b->state = H1__CH_TRAILERS;
				break;
			}
			if (size > b->lim.max_body - b->total)
				return -XM_H1_E_BODY_TOO_LARGE;
			b->remaining = size;
			b->state = H1__CH_DATA;
			break;
		}
		case H1__CH_DATA: {
			size_t n = avail < b->remaining ? avail : (size_t)b->remaining;
			if (n == 0 || *ndata == cap)
				return (ssize_t)pos;
			if (n > UINT32_MAX)
				n = UINT32_MAX;
			data[*ndata].off = (uint32_t)pos;
			data[*ndata].len = (uint32_t)n;
			(*ndata)++;
			pos += n;
			b->remaining -= n;
			b->total += n;
			if (b->remaining == 0)
				b->state = H1__CH_DATA_CRLF;
			break;
		}
		case H1__CH_DATA_CRLF:
			h1__cur_init(&c, v, pos, v->len);
			ch = h1__next(&c);
			if (ch == H1__EOF)
				return (ssize_t)pos;
			if (ch != '\r')
				return -XM_H1_E_CHUNK_CRLF;
			ch = h1__next(&c);
			if (ch == H1__EOF)
				return (ssize_t)pos;
			if (ch != '\n')
				return -XM_H1_E_CHUNK_CRLF;
			pos += 2;
			b->state = H1__CH_SIZE;
			break;
		case H1__CH_TRAILERS: {
			size_t lim = avail < b->lim.max_trailer_bytes ? avail : b->lim.max_trailer_bytes;
			h1__cur_init(&c, v, pos, pos + lim);
			r = h1__fields(&c, NULL, 0, b->lim.max_fields, &nf, NULL, NULL, &err_off);
			if (r == H1__MORE) {
				if (avail < b->lim.max_trailer_bytes)
					return (ssize_t)pos;
				r = XM_H1_E_TRAILERS_TOO_LARGE;
			}
			if (r != XM_H1_OK)
				return -r;
			if (trailers) {
				trailers->off = (uint32_t)pos;
				trailers->len = (uint32_t)(h1__off(&c) - 2 - pos);
			}
			pos = h1__off(&c);
			b->done = 1;
			return (ssize_t)pos;
		}
		}
	}
}

ssize_t xm_http1_body_parse(struct xm_http1_body *b, const struct xm_iview *v, struct xm_http1_span *data, unsigned cap,
			    unsigned *ndata, struct xm_http1_span *trailers)
{
	ssize_t r;
	size_t n;

	*ndata = 0;
	if (trailers)
		*trailers = (struct xm_http1_span){ 0, 0 };
	if (b->err)
		return -(ssize_t)b->err;
	if (b->done || v->len == 0 || cap == 0)
		return 0;
	switch (b->kind) {
	case XM_H1_BODY_LENGTH:
		n = v->len < b->remaining ? v->len : (size_t)b->remaining;
		if (n > UINT32_MAX)
			n = UINT32_MAX;
		data[0] = (struct xm_http1_span){ 0, (uint32_t)n };
		*ndata = 1;
		b->remaining -= n;
		b->total += n;
		b->done = b->remaining == 0;
		return (ssize_t)n;
	case XM_H1_BODY_CHUNKED:
		r = h1__chunked(b, v, data, cap, ndata, trailers);
		if (r < 0) {
			b->err = (uint8_t)-r;
			*ndata = 0;
		}
		return r;
	default: /* CLOSE, TUNNEL: every byte is payload until the peer closes */
		n = v->len < UINT32_MAX ? v->len : UINT32_MAX;
		data[0] = (struct xm_http1_span){ 0, (uint32_t)n };
		*ndata = 1;
		b->total += n;
		return (ssize_t)n;
	}
}
