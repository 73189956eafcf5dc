/* Response framing for the load generator: how many bytes make the next response frame.
 * A splitter follows the project contract: <0 error, 0 need more bytes, >0 frame length
 * (which may exceed the bytes available: the caller then skips the rest of the body). */
#ifndef XB_FRAMING_H
#define XB_FRAMING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum xb_framing_kind {
	XB_FRAME_FIXED = 0, /* every response is exactly `fixed` bytes */
	XB_FRAME_LENFIELD,  /* length field at an offset: frame = hdr_len + value (Bolt/Dubbo-like) */
};

struct xb_framing {
	enum xb_framing_kind kind;
	size_t fixed;
	size_t len_off, len_size; /* field position and width (1, 2, 4 or 8 bytes) */
	int big_endian;
	size_t hdr_len;           /* bytes the length value does not count */
};

/* Bytes needed before split() can decide. */
static inline size_t xb_framing_min(const struct xb_framing *f)
{
	return f->kind == XB_FRAME_FIXED ? 1 : f->len_off + f->len_size;
}

static inline long long xb_framing_split(const struct xb_framing *f, const uint8_t *p, size_t n)
{
	switch (f->kind) {
	case XB_FRAME_FIXED:
		return (long long)f->fixed;
	case XB_FRAME_LENFIELD: {
		if (n < f->len_off + f->len_size)
			return 0;
		uint64_t v = 0;
		for (size_t i = 0; i < f->len_size; i++) {
			size_t k = f->big_endian ? i : f->len_size - 1 - i;
			v = (v << 8) | p[f->len_off + k];
		}
		uint64_t total = f->hdr_len + v;
		if (total == 0 || total > (1ull << 31))
			return -1;
		return (long long)total;
	}
	}
	return -1;
}

/* "--framing fixed" or "--framing len:OFF:SIZE:be|le:HDRLEN" */
static inline int xb_framing_parse(struct xb_framing *f, const char *s, size_t resp_size)
{
	memset(f, 0, sizeof(*f));
	if (!strcmp(s, "fixed")) {
		f->kind = XB_FRAME_FIXED;
		f->fixed = resp_size;
		return resp_size > 0 ? 0 : -1;
	}
	unsigned off, size, hdr;
	char endian[3];
	if (sscanf(s, "len:%u:%u:%2[bl]e:%u", &off, &size, endian, &hdr) == 4 &&
	    (size == 1 || size == 2 || size == 4 || size == 8)) {
		f->kind = XB_FRAME_LENFIELD;
		f->len_off = off;
		f->len_size = size;
		f->big_endian = endian[0] == 'b';
		f->hdr_len = hdr;
		return 0;
	}
	return -1;
}

#endif
