/* Shared x-protocol plumbing: segmented-view access, bounded route-info buffers, error names, built-in lookup. */
#include <string.h>

#include "protocol/codec.h"

#include <stdio.h>

extern const struct xm_codec xm_codec_bolt;
extern const struct xm_codec xm_codec_dubbo;

/*
 * Views are short (a frame rarely spans more than two 16 KiB chunks), so a linear walk to
 * the segment holding off is cheaper than any index. Each accessor bounds-checks against
 * v->len first; iov lengths are trusted to add up to v->len.
 */
static int iview__seek(const struct xm_iview *v, size_t off, unsigned *seg, size_t *in)
{
	for (unsigned i = 0; i < v->niov; i++) {
		if (off < v->iov[i].iov_len) {
			*seg = i;
			*in = off;
			return 0;
		}
		off -= v->iov[i].iov_len;
	}
	return -1;
}

int xm_iview_copy(const struct xm_iview *v, size_t off, void *dst, size_t len)
{
	unsigned seg;
	size_t in;
	uint8_t *d = dst;

	if (off > v->len || len > v->len - off)
		return -1;
	if (len == 0)
		return 0;
	if (iview__seek(v, off, &seg, &in) < 0)
		return -1;
	while (len > 0 && seg < v->niov) {
		size_t n = v->iov[seg].iov_len - in;
		if (n > len)
			n = len;
		memcpy(d, (const uint8_t *)v->iov[seg].iov_base + in, n);
		d += n;
		len -= n;
		seg++;
		in = 0;
	}
	return len == 0 ? 0 : -1;
}

int xm_iview_write(const struct xm_iview *v, size_t off, const void *src, size_t len)
{
	unsigned seg;
	size_t in;
	const uint8_t *s = src;

	if (off > v->len || len > v->len - off)
		return -1;
	if (len == 0)
		return 0;
	if (iview__seek(v, off, &seg, &in) < 0)
		return -1;
	while (len > 0 && seg < v->niov) {
		size_t n = v->iov[seg].iov_len - in;
		if (n > len)
			n = len;
		memcpy((uint8_t *)v->iov[seg].iov_base + in, s, n);
		s += n;
		len -= n;
		seg++;
		in = 0;
	}
	return len == 0 ? 0 : -1;
}

uint8_t xm_iview_u8(const struct xm_iview *v, size_t off)
{
	uint8_t b = 0;
	xm_iview_copy(v, off, &b, 1);
	return b;
}

uint16_t xm_iview_be16(const struct xm_iview *v, size_t off)
{
	uint8_t b[2] = { 0 };
	xm_iview_copy(v, off, b, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

uint32_t xm_iview_be32(const struct xm_iview *v, size_t off)
{
	uint8_t b[4] = { 0 };
	xm_iview_copy(v, off, b, 4);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t xm_iview_be64(const struct xm_iview *v, size_t off)
{
	return (uint64_t)xm_iview_be32(v, off) << 32 | xm_iview_be32(v, off + 4);
}

void xm_iview_flat(struct xm_iview *v, struct iovec *iov, const void *buf, size_t len)
{
	iov->iov_base = (void *)buf;
	iov->iov_len = len;
	v->iov = iov;
	v->niov = 1;
	v->len = len;
}

/* When maxiov segments are not enough, the last one takes the rest: the view always covers
 * all len bytes. */
void xm_iview_segmented(struct xm_iview *v, struct iovec *iov, unsigned maxiov, const void *buf, size_t len, size_t seg)
{
	const uint8_t *p = buf;
	unsigned n = 0;
	size_t off = 0;

	if (seg == 0)
		seg = len ? len : 1;
	while (off < len && n < maxiov) {
		size_t l = len - off;
		if (l > seg && n + 1 < maxiov)
			l = seg;
		iov[n].iov_base = (void *)(p + off);
		iov[n].iov_len = l;
		off += l;
		n++;
	}
	v->iov = iov;
	v->niov = n;
	v->len = off;
}

const char *xm_route_info_put(struct xm_route_info *ri, const char *s, size_t len)
{
	if (ri->used > XM_ROUTE_BUF || len > (size_t)(XM_ROUTE_BUF - ri->used))
		return NULL;
	char *d = ri->buf + ri->used;
	if (len)
		memcpy(d, s, len);
	ri->used = (uint16_t)(ri->used + len);
	return d;
}

const char *xm_route_info_copy(struct xm_route_info *ri, const struct xm_iview *v, size_t off, size_t len)
{
	if (ri->used > XM_ROUTE_BUF || len > (size_t)(XM_ROUTE_BUF - ri->used))
		return NULL;
	char *d = ri->buf + ri->used;
	if (xm_iview_copy(v, off, d, len) < 0)
		return NULL;
	ri->used = (uint16_t)(ri->used + len);
	return d;
}

int xm_route_info_meta(struct xm_route_info *ri, const char *k, uint16_t klen, const char *v, uint16_t vlen)
{
	if (ri->nmetas >= XM_ROUTE_MAX_METAS)
		return -1;
	ri->metas[ri->nmetas].key = k;
	ri->metas[ri->nmetas].klen = klen;
	ri->metas[ri->nmetas].value = v;
	ri->metas[ri->nmetas].vlen = vlen;
	ri->nmetas++;
	return 0;
}

const char *xm_route_info_get(const struct xm_route_info *ri, const char *key, size_t klen, uint16_t *vlen)
{
	for (unsigned i = 0; i < ri->nmetas; i++) {
		if (ri->metas[i].klen == klen && memcmp(ri->metas[i].key, key, klen) == 0) {
			if (vlen)
				*vlen = ri->metas[i].vlen;
			return ri->metas[i].value;
		}
	}
	return NULL;
}

static const char *const codec__err_names[XM_CODEC_E__COUNT] = {
	[0] = "ok",
	[XM_CODEC_E_MAGIC] = "magic",
	[XM_CODEC_E_TOO_LARGE] = "too_large",
	[XM_CODEC_E_LENGTH] = "length",
	[XM_CODEC_E_HEADER] = "header",
	[XM_CODEC_E_VERSION] = "version",
	[XM_CODEC_E_BODY] = "body",
};

/* Accepts the error either as returned (negative) or as the enum value. */
const char *xm_codec_err_name(int err)
{
	if (err < 0)
		err = -err;
	if (err >= XM_CODEC_E__COUNT)
		return "unknown";
	return codec__err_names[err];
}

size_t xm_status_text(char *buf, size_t cap, enum xm_status st, const char *detail)
{
	static const char *const what[] = {
		[XM_STATUS_OK] = "ok",
		[XM_STATUS_NO_ROUTE] = "no route",
		[XM_STATUS_TIMEOUT] = "upstream timeout",
		[XM_STATUS_OVERFLOW] = "overflow",
		[XM_STATUS_UNAVAILABLE] = "upstream unavailable",
		[XM_STATUS_SERVER_ERROR] = "upstream error",
		[XM_STATUS_CODEC_ERROR] = "bad request",
	};
	const char *w = (unsigned)st < sizeof(what) / sizeof(what[0]) ? what[st] : "upstream error";
	int n = snprintf(buf, cap, "xmesh: %s%s%s", w, detail ? ": " : "", detail ? detail : "");
	size_t len = n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x80 || (unsigned char)buf[i] < 0x20)
			buf[i] = '?';
	return len;
}

const struct xm_codec *xm_codec_builtin(const char *name)
{
	static const struct xm_codec *const all[] = { &xm_codec_bolt, &xm_codec_dubbo };

	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
