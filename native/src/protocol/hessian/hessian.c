/* Hessian2 (final and 2.0 draft) string/int reader and value skipper over a segmented view, for routing keys. */
#include <errno.h>
#include <string.h>

#include "protocol/hessian/hessian.h"

void xm_hcur_init(struct xm_hcur *c, const struct xm_iview *v, size_t pos, size_t end, int draft)
{
	memset(c, 0, sizeof(*c));
	c->v = v;
	c->pos = pos;
	c->end = end < v->len ? end : v->len;
	c->draft = draft ? 1 : 0;
}

/* Pointer to the byte at pos, moving the segment cache forward (pos only grows). */
static const uint8_t *hcur__at(struct xm_hcur *c)
{
	if (c->pos >= c->end)
		return NULL;
	while (c->seg < c->v->niov && c->pos - c->seg_start >= c->v->iov[c->seg].iov_len) {
		c->seg_start += c->v->iov[c->seg].iov_len;
		c->seg++;
	}
	if (c->seg >= c->v->niov)
		return NULL;
	return (const uint8_t *)c->v->iov[c->seg].iov_base + (c->pos - c->seg_start);
}

int xm_hcur_peek(struct xm_hcur *c)
{
	const uint8_t *p = hcur__at(c);
	return p ? *p : -1;
}

int xm_hcur_byte(struct xm_hcur *c, uint8_t *b)
{
	const uint8_t *p = hcur__at(c);
	if (!p)
		return -EBADMSG;
	*b = *p;
	c->pos++;
	return 0;
}

static int hcur__skip(struct xm_hcur *c, size_t n)
{
	if (n > c->end - c->pos)
		return -EBADMSG;
	c->pos += n;
	return 0;
}

static int hcur__be(struct xm_hcur *c, unsigned n, uint32_t *out)
{
	uint32_t v = 0;
	uint8_t b;
	for (unsigned i = 0; i < n; i++) {
		if (xm_hcur_byte(c, &b) < 0)
			return -EBADMSG;
		v = v << 8 | b;
	}
	*out = v;
	return 0;
}

/* An int whose first byte code was already consumed. */
static int hessian__int_tail(struct xm_hcur *c, uint8_t code, int32_t *out)
{
	uint32_t v;

	if (code >= 0x80 && code <= 0xbf) {
		*out = (int32_t)code - 0x90;
		return 0;
	}
	if (code >= 0xc0 && code <= 0xcf) {
		if (hcur__be(c, 1, &v) < 0)
			return -EBADMSG;
		*out = (((int32_t)code - 0xc8) * 256) + (int32_t)v;
		return 0;
	}
	if (code >= 0xd0 && code <= 0xd7) {
		if (hcur__be(c, 2, &v) < 0)
			return -EBADMSG;
		*out = (((int32_t)code - 0xd4) * 65536) + (int32_t)v;
		return 0;
	}
	if (code == 'I') {
		if (hcur__be(c, 4, &v) < 0)
			return -EBADMSG;
		*out = (int32_t)v;
		return 0;
	}
	return -EBADMSG;
}

int xm_hessian_int(struct xm_hcur *c, int32_t *out)
{
	uint8_t code;
	if (xm_hcur_byte(c, &code) < 0)
		return -EBADMSG;
	return hessian__int_tail(c, code, out);
}

/* Read nchars UTF-16 units of UTF-8 (Hessian lengths count chars, not bytes); append the bytes
 * to dst while they fit. Supplementary characters count two units, as Java writes them. */
static int hessian__utf8(struct xm_hcur *c, uint32_t nchars, char *dst, size_t cap, size_t *len, int *big)
{
	while (nchars > 0) {
		uint8_t b[4];
		unsigned n, units = 1;
		const uint8_t *p = hcur__at(c);

		if (!p)
			return -EBADMSG;
		/* Fast path: routing keys (class, field, method and service names) are ASCII, one
		 * byte per char; take the run that lies in the current segment in one step instead
		 * of a bounds-checked call per byte. hcur__at left seg on pos. */
		size_t run = c->v->iov[c->seg].iov_len - (c->pos - c->seg_start);
		if (run > c->end - c->pos)
			run = c->end - c->pos;
		if (run > nchars)
			run = nchars;
		size_t k = 0;
		while (k < run && p[k] < 0x80)
			k++;
		if (k > 0) {
			if (dst && !*big) {
				/* as the byte-wise path: copy what fits, then mark the string too big */
				size_t fit = *len < cap ? cap - *len : 0;
				memcpy(dst + *len, p, k < fit ? k : fit);
				if (k > fit)
					*big = 1;
			}
			*len += k;
			c->pos += k;
			nchars -= (uint32_t)k;
			continue;
		}
		if (xm_hcur_byte(c, &b[0]) < 0)
			return -EBADMSG;
		if (b[0] < 0x80)
			n = 1;
		else if (b[0] >= 0xc0 && b[0] <= 0xdf)
			n = 2;
		else if (b[0] >= 0xe0 && b[0] <= 0xef)
			n = 3;
		else if (b[0] >= 0xf0 && b[0] <= 0xf7)
			n = 4, units = 2;
		else
			return -EBADMSG;
		for (unsigned i = 1; i < n; i++)
			if (xm_hcur_byte(c, &b[i]) < 0 || (b[i] & 0xc0) != 0x80)
				return -EBADMSG;
		if (dst && !*big && *len + n <= cap)
			memcpy(dst + *len, b, n);
		else if (dst)
			*big = 1;
		*len += n;
		nchars = nchars > units ? nchars - units : 0;
	}
	return 0;
}

int xm_hessian_string(struct xm_hcur *c, char *dst, size_t cap, size_t *len)
{
	int big = 0;
	size_t n = 0;

	for (;;) {
		uint8_t code;
		uint32_t nchars;
		int last = 1;

		if (xm_hcur_byte(c, &code) < 0)
			return -EBADMSG;
		if (code <= 0x1f) {
			nchars = code;
		} else if (code >= 0x30 && code <= 0x33) {
			if (hcur__be(c, 1, &nchars) < 0)
				return -EBADMSG;
			nchars += (uint32_t)(code - 0x30) << 8;
		} else if (code == 'S' || code == (c->draft ? 's' : 'R')) {
			if (hcur__be(c, 2, &nchars) < 0)
				return -EBADMSG;
			last = code == 'S';
		} else if (code == 'N' && n == 0) {
			*len = 0;
			return 1;
		} else {
			return -EBADMSG;
		}
		if (hessian__utf8(c, nchars, dst, cap, &n, &big) < 0)
			return -EBADMSG;
		if (last)
			break;
	}
	*len = big ? cap : n;
	return big ? -E2BIG : 0;
}

int xm_hessian_add_class(struct xm_hcur *c, int32_t nfields)
{
	if (nfields < 0 || nfields > 0xffff || c->nclasses >= XM_HESSIAN_MAX_CLASSES)
		return -EBADMSG;
	c->class_fields[c->nclasses++] = (uint16_t)nfields;
	return 0;
}

static int hessian__skip(struct xm_hcur *c, unsigned depth);

/* n values in a row. */
static int hessian__skip_n(struct xm_hcur *c, int64_t n, unsigned depth)
{
	if (n < 0)
		return -EBADMSG;
	while (n-- > 0)
		if (hessian__skip(c, depth) < 0)
			return -EBADMSG;
	return 0;
}

/* Values (or key/value pairs: they skip the same way) up to the terminator. */
static int hessian__skip_until(struct xm_hcur *c, uint8_t term, unsigned depth)
{
	for (;;) {
		int p = xm_hcur_peek(c);
		if (p < 0)
			return -EBADMSG;
		if (p == term)
			return hcur__skip(c, 1);
		if (hessian__skip(c, depth) < 0)
			return -EBADMSG;
	}
}

static int hessian__instance(struct xm_hcur *c, int32_t ref, unsigned depth)
{
	if (ref < 0 || ref >= c->nclasses)
		return -EBADMSG;
	return hessian__skip_n(c, c->class_fields[ref], depth);
}

/* Class definition: final 'C' string int string*; draft 'O' int-length raw-name int string*. */
static int hessian__class_def(struct xm_hcur *c, uint8_t code)
{
	int32_t n;
	size_t l;

	if (code == 'C') {
		if (xm_hessian_string(c, NULL, 0, &l) != 0)
			return -EBADMSG;
	} else {
		int big = 0;
		if (xm_hessian_int(c, &n) < 0 || n < 0)
			return -EBADMSG;
		l = 0;
		if (hessian__utf8(c, (uint32_t)n, NULL, 0, &l, &big) < 0)
			return -EBADMSG;
	}
	if (xm_hessian_int(c, &n) < 0 || n < 0)
		return -EBADMSG;
	for (int32_t i = 0; i < n; i++)
		if (xm_hessian_string(c, NULL, 0, &l) != 0)
			return -EBADMSG;
	return xm_hessian_add_class(c, n);
}

/* Final-dialect type: a string or a type-reference int. */
static int hessian__type_final(struct xm_hcur *c)
{
	int p = xm_hcur_peek(c);
	size_t l;
	int32_t n;

	if (p < 0)
		return -EBADMSG;
	if (p <= 0x1f || (p >= 0x30 && p <= 0x33) || p == 'R' || p == 'S')
		return xm_hessian_string(c, NULL, 0, &l) == 0 ? 0 : -EBADMSG;
	return xm_hessian_int(c, &n);
}

/* Draft-dialect optional type: 't' len16 name | 'T'/'u' int ref | nothing. */
static int hessian__type_draft(struct xm_hcur *c)
{
	int p = xm_hcur_peek(c);
	uint32_t n;
	int32_t r;

	if (p == 't') {
		size_t l = 0;
		int big = 0;
		c->pos++;
		if (hcur__be(c, 2, &n) < 0)
			return -EBADMSG;
		return hessian__utf8(c, n, NULL, 0, &l, &big);
	}
	if (p == 'T' || p == 'u') {
		c->pos++;
		return xm_hessian_int(c, &r);
	}
	return 0;
}

static int hessian__skip_binary(struct xm_hcur *c, uint8_t code)
{
	uint32_t n;
	for (;;) {
		int more = 0;
		if (code >= 0x20 && code <= 0x2f) {
			n = code - 0x20u;
		} else if (!c->draft && code >= 0x34 && code <= 0x37) {
			if (hcur__be(c, 1, &n) < 0)
				return -EBADMSG;
			n += (uint32_t)(code - 0x34) << 8;
		} else if (code == 'B' || code == (c->draft ? 'b' : 'A')) {
			if (hcur__be(c, 2, &n) < 0)
				return -EBADMSG;
			more = code != 'B';
		} else {
			return -EBADMSG;
		}
		if (hcur__skip(c, n) < 0)
			return -EBADMSG;
		if (!more)
			return 0;
		if (xm_hcur_byte(c, &code) < 0)
			return -EBADMSG;
	}
}

static int hessian__skip_draft(struct xm_hcur *c, uint8_t code, unsigned depth)
{
	uint32_t n;
	int32_t r, len;

	switch (code) {
	case 'N': case 'T': case 'F': case 'g': case 'h':
		return 0;
	case 'i': case 'J':
		return hcur__skip(c, 1);
	case 'j': case 'K':
		return hcur__skip(c, 2);
	case 'k': case 'w': case 'R':
		return hcur__skip(c, 4);
	case 'D': case 'L': case 'd':
		return hcur__skip(c, 8);
	case 'b': case 'B':
		return hessian__skip_binary(c, code);
	case 'O':
		if (hessian__class_def(c, code) < 0)
			return -EBADMSG;
		return hessian__skip(c, depth); /* a definition precedes the value that uses it */
	case 'o':
		if (xm_hessian_int(c, &r) < 0)
			return -EBADMSG;
		return hessian__instance(c, r, depth);
	case 'V': {
		int p;
		if (hessian__type_draft(c) < 0)
			return -EBADMSG;
		p = xm_hcur_peek(c);
		if (p == 'n' || p == 'l') {
			c->pos++;
			if (hcur__be(c, p == 'n' ? 1 : 4, &n) < 0 || hessian__skip_n(c, (int32_t)n, depth) < 0)
				return -EBADMSG;
			/* a known length may still be followed by the terminator */
			if (xm_hcur_peek(c) == 'z')
				c->pos++;
			return 0;
		}
		return hessian__skip_until(c, 'z', depth);
	}
	case 'v':
		if (xm_hessian_int(c, &r) < 0 || xm_hessian_int(c, &len) < 0)
			return -EBADMSG;
		return hessian__skip_n(c, len, depth);
	case 'M':
		if (hessian__type_draft(c) < 0)
			return -EBADMSG;
		return hessian__skip_until(c, 'z', depth);
	case 'H':
		return hessian__skip_until(c, 'z', depth);
	}
	return -EBADMSG;
}

static int hessian__skip_final(struct xm_hcur *c, uint8_t code, unsigned depth)
{
	int32_t r, len;

	if (code >= 0x60 && code <= 0x6f)
		return hessian__instance(c, code - 0x60, depth);
	if (code >= 0x70 && code <= 0x77)
		return hessian__type_final(c) < 0 ? -EBADMSG : hessian__skip_n(c, code - 0x70, depth);
	if (code >= 0x78 && code <= 0x7f)
		return hessian__skip_n(c, code - 0x78, depth);
	switch (code) {
	case 'N': case 'T': case 'F': case 0x5b: case 0x5c:
		return 0;
	case 0x5d:
		return hcur__skip(c, 1);
	case 0x5e:
		return hcur__skip(c, 2);
	case 0x5f: case 'K': case 'Y':
		return hcur__skip(c, 4);
	case 'D': case 'J': case 'L':
		return hcur__skip(c, 8);
	case 'A': case 'B':
		return hessian__skip_binary(c, code);
	case 'C':
		if (hessian__class_def(c, code) < 0)
			return -EBADMSG;
		return hessian__skip(c, depth);
	case 'O':
		if (xm_hessian_int(c, &r) < 0)
			return -EBADMSG;
		return hessian__instance(c, r, depth);
	case 'Q':
		return xm_hessian_int(c, &r);
	case 'H': case 'W':
		return hessian__skip_until(c, 'Z', depth);
	case 'M': case 'U':
		if (hessian__type_final(c) < 0)
			return -EBADMSG;
		return hessian__skip_until(c, 'Z', depth);
	case 'V':
		if (hessian__type_final(c) < 0 || xm_hessian_int(c, &len) < 0)
			return -EBADMSG;
		return hessian__skip_n(c, len, depth);
	case 'X':
		if (xm_hessian_int(c, &len) < 0)
			return -EBADMSG;
		return hessian__skip_n(c, len, depth);
	}
	return -EBADMSG;
}

static int hessian__skip(struct xm_hcur *c, unsigned depth)
{
	int p = xm_hcur_peek(c);
	uint8_t code;
	int32_t i;
	size_t l;

	if (p < 0 || depth >= XM_HESSIAN_MAX_DEPTH)
		return -EBADMSG;
	/* shared by both dialects: strings, short binary, ints, compact longs */
	if (p <= 0x1f || (p >= 0x30 && p <= 0x33) || p == 'S' || p == (c->draft ? 's' : 'R'))
		return xm_hessian_string(c, NULL, 0, &l) == 0 ? 0 : -EBADMSG;
	if (p >= 0x80 && p <= 0xd7)
		return xm_hessian_int(c, &i);
	c->pos++;
	code = (uint8_t)p;
	if (code >= 0x20 && code <= 0x2f)
		return hessian__skip_binary(c, code);
	if (code >= 0xd8 && code <= 0xef)
		return 0;
	if (code >= 0xf0)
		return hcur__skip(c, 1);
	if (code >= 0x38 && code <= 0x3f)
		return hcur__skip(c, 2);
	return c->draft ? hessian__skip_draft(c, code, depth + 1) : hessian__skip_final(c, code, depth + 1);
}

int xm_hessian_skip(struct xm_hcur *c)
{
	return hessian__skip(c, 0);
}
