/* HTTP/1 codec: the byte cursor over a segmented view, and the character classes the parsers share. */
#include <sys/uio.h>

#include "http1_int.h"

/* A cursor at the end of its range points here, so that p - s stays defined. */
static const uint8_t h1__nil[1];

void h1__cur_init(struct h1__cur *c, const struct xm_iview *v, size_t off, size_t end)
{
	size_t seg_off = 0;

	c->iov = v->iov;
	c->niov = v->niov;
	c->end = end;
	for (unsigned i = 0; i < v->niov; i++) {
		size_t n = v->iov[i].iov_len;
		if (off < seg_off + n && off < end) {
			c->seg = i;
			c->seg_off = seg_off;
			c->s = v->iov[i].iov_base;
			c->p = c->s + (off - seg_off);
			c->e = c->s + (end - seg_off < n ? end - seg_off : n);
			return;
		}
		seg_off += n;
	}
	/* off is at (or past) the end: an empty cursor that reports off */
	c->seg = v->niov;
	c->seg_off = off;
	c->s = c->p = c->e = h1__nil;
}

int h1__refill(struct h1__cur *c)
{
	while (c->p == c->e) {
		size_t next_off = c->seg_off + (size_t)(c->e - c->s);
		/* e was clipped to end inside this segment iff next_off == end */
		if (c->seg + 1 >= c->niov || next_off >= c->end)
			return -1; /* stay put so h1__off() keeps reporting the end */
		c->seg++;
		c->seg_off = next_off;
		size_t n = c->iov[c->seg].iov_len;
		if (n == 0) { /* an empty iovec may carry a NULL base */
			c->s = c->p = c->e = h1__nil;
			continue;
		}
		c->s = c->iov[c->seg].iov_base;
		c->p = c->s;
		c->e = c->s + (c->end - next_off < n ? c->end - next_off : n);
	}
	return 0;
}

int h1__copy(const struct xm_iview *v, struct xm_http1_span s, char *buf)
{
	struct h1__cur c;
	int ch;

	h1__cur_init(&c, v, s.off, (size_t)s.off + s.len);
	for (uint32_t i = 0; i < s.len; i++) {
		if ((ch = h1__next(&c)) == H1__EOF)
			return -1;
		buf[i] = (char)ch;
	}
	return 0;
}

int h1__span_ieq(const struct xm_iview *v, struct xm_http1_span a, struct xm_http1_span b)
{
	struct h1__cur ca, cb;

	if (a.len != b.len)
		return 0;
	h1__cur_init(&ca, v, a.off, (size_t)a.off + a.len);
	h1__cur_init(&cb, v, b.off, (size_t)b.off + b.len);
	for (uint32_t i = 0; i < a.len; i++)
		if (h1__lower(h1__next(&ca)) != h1__lower(h1__next(&cb)))
			return 0;
	return 1;
}

#define H1__ALNUM ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1

const uint8_t h1__tchar[256] = {
	H1__ALNUM, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

const uint8_t h1__vchar[256] = { [0x21 ... 0x7e] = 1, [0x80 ... 0xff] = 1 };

/* RFC 3986 allows fewer bytes than this ('"', '<', '>', '\\', '^', '`', '{', '|', '}' are not
 * URI characters), but HAProxy and Envoy forward them; only '#' is refused because a
 * fragment never belongs in a request-target, and bytes >= 0x80 as HAProxy does. */
const uint8_t h1__target[256] = { [0x21 ... 0x22] = 1, [0x24 ... 0x7e] = 1 };

/* unreserved / sub-delims / '%' (pct-encoded, checked by the caller) */
const uint8_t h1__regname[256] = {
	H1__ALNUM, ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1,
	['%'] = 1,
};
