/* Descriptor codecs: a length-prefixed RPC protocol defined by configuration alone, validated once and run by one generic splitter. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/codec.h"

/* One allocation: the codec handed out and the descriptor it runs on. */
struct desc_codec {
	struct xm_codec codec;
	struct xm_descriptor d;
};

#define DESC(c) (&((const struct desc_codec *)(c)->ctx)->d)

/* f->priv layout, recorded by split: the raw kind field (its flag bits go back in replies). */
enum { DESC_P_KIND_LO, DESC_P_KIND_HI };

static int desc__err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint64_t desc__max(uint8_t size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

/* Field value; the caller has checked that the field lies inside the view. */
static uint64_t desc__get(const struct xm_iview *v, const struct xm_desc_field *fd)
{
	uint8_t b[8];
	uint64_t x = 0;

	xm_iview_copy(v, fd->offset, b, fd->size);
	for (unsigned i = 0; i < fd->size; i++) {
		unsigned j = fd->little_endian ? fd->size - 1 - i : i;
		x = x << 8 | b[j];
	}
	return x;
}

static void desc__put(uint8_t *out, const struct xm_desc_field *fd, uint64_t x)
{
	for (unsigned i = 0; i < fd->size; i++) {
		unsigned j = fd->little_endian ? i : fd->size - 1 - i;
		out[fd->offset + j] = (uint8_t)(x >> (8 * i));
	}
}

static int desc__size_ok(uint8_t s)
{
	return s == 1 || s == 2 || s == 4 || s == 8;
}

struct desc_range {
	const char *name;
	uint32_t off, len;
};

static int desc__check_field(const struct xm_descriptor *d, const char *name, const struct xm_desc_field *fd,
			     int optional, char *err, size_t errlen)
{
	if (optional && fd->size == 0)
		return 0;
	if (!desc__size_ok(fd->size))
		return desc__err(err, errlen, "%s.size: must be 1, 2, 4 or 8%s", name, optional ? " (or 0 for none)" : "");
	if (fd->little_endian > 1)
		return desc__err(err, errlen, "%s.little_endian: must be 0 or 1", name);
	if ((uint64_t)fd->offset + fd->size > d->header_len)
		return desc__err(err, errlen, "%s.offset: field [%u, %u) is outside the %u-byte header", name, fd->offset,
				 fd->offset + fd->size, d->header_len);
	return 0;
}

static int desc__check_loc(const char *name, const struct xm_desc_loc *l, char *err, size_t errlen)
{
	switch (l->kind) {
	case XM_DESC_LOC_NONE:
		return 0;
	case XM_DESC_LOC_FIXED:
		if (l->len == 0 || l->len > 0xffff)
			return desc__err(err, errlen, "%s.len: must be 1..65535 for a fixed location", name);
		return 0;
	case XM_DESC_LOC_LPSTR:
		if (l->len != 1 && l->len != 2 && l->len != 4)
			return desc__err(err, errlen, "%s.len: length-field size must be 1, 2 or 4", name);
		return 0;
	case XM_DESC_LOC_TLV:
		return 0;
	}
	return desc__err(err, errlen, "%s.kind: unknown location kind %d", name, (int)l->kind);
}

static int desc__validate(const struct xm_descriptor *d, char *err, size_t errlen)
{
	size_t nl = strnlen(d->name, sizeof(d->name));
	int r;

	if (nl == 0 || nl == sizeof(d->name))
		return desc__err(err, errlen, "name: must be 1..%zu characters", sizeof(d->name) - 1);
	if (d->header_len == 0 || d->header_len > XM_DESC_HEADER_MAX)
		return desc__err(err, errlen, "header_len: must be 1..%d", XM_DESC_HEADER_MAX);
	if (d->magic_len > sizeof(d->magic))
		return desc__err(err, errlen, "magic_len: must be 0..%zu", sizeof(d->magic));
	if (d->magic_len && (uint64_t)d->magic_offset + d->magic_len > d->header_len)
		return desc__err(err, errlen, "magic_offset: magic is outside the %u-byte header", d->header_len);
	if ((r = desc__check_field(d, "length", &d->length, 0, err, errlen)) < 0 ||
	    (r = desc__check_field(d, "request_id", &d->request_id, 0, err, errlen)) < 0 ||
	    (r = desc__check_field(d, "kind_field", &d->kind_field, 0, err, errlen)) < 0 ||
	    (r = desc__check_field(d, "status", &d->status, 1, err, errlen)) < 0)
		return r;
	/* replies are built by writing these fields into a copy of the request header: they
	 * must not overlap each other or the magic */
	struct desc_range rg[] = {
		{ "length", d->length.offset, d->length.size },
		{ "request_id", d->request_id.offset, d->request_id.size },
		{ "kind_field", d->kind_field.offset, d->kind_field.size },
		{ "status", d->status.offset, d->status.size },
		{ "magic", d->magic_offset, d->magic_len },
	};
	for (size_t i = 0; i < sizeof(rg) / sizeof(rg[0]); i++)
		for (size_t j = i + 1; j < sizeof(rg) / sizeof(rg[0]); j++)
			if (rg[i].len && rg[j].len && rg[i].off < rg[j].off + rg[j].len && rg[j].off < rg[i].off + rg[i].len)
				return desc__err(err, errlen, "%s.offset: overlaps %s", rg[i].name, rg[j].name);
	/* an empty-body reply must be expressible in the length field */
	int64_t empty = (int64_t)d->header_len - d->length_adjust;
	if (empty < 0 || (uint64_t)empty > desc__max(d->length.size))
		return desc__err(err, errlen, "length_adjust: header_len - length_adjust = %lld does not fit length.size",
				 (long long)empty);
	uint64_t km = desc__max(d->kind_field.size);
	if (d->kind_mask == 0 || (d->kind_mask & ~km))
		return desc__err(err, errlen, "kind_mask: must be non-zero and fit kind_field.size");
	struct {
		const char *name;
		uint64_t v;
		int on;
	} kinds[] = {
		{ "kind_request", d->kind_request, 1 },
		{ "kind_response", d->kind_response, 1 },
		{ "kind_oneway", d->kind_oneway, d->has_oneway },
		{ "kind_heartbeat", d->kind_heartbeat, d->has_heartbeat },
		{ "kind_heartbeat_ack", d->kind_heartbeat_ack, d->has_heartbeat_ack },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!kinds[i].on)
			continue;
		if (kinds[i].v & ~d->kind_mask)
			return desc__err(err, errlen, "%s: has bits outside kind_mask", kinds[i].name);
		for (size_t j = 0; j < i; j++)
			if (kinds[j].on && kinds[j].v == kinds[i].v)
				return desc__err(err, errlen, "%s: same value as %s", kinds[i].name, kinds[j].name);
	}
	if (d->has_heartbeat && !d->has_heartbeat_ack)
		return desc__err(err, errlen, "kind_heartbeat_ack: required when has_heartbeat (the reply's kind)");
	if (d->status.size) {
		uint64_t sm = desc__max(d->status.size);
		if (d->status_ok > sm)
			return desc__err(err, errlen, "status_ok: does not fit status.size");
		for (int i = 0; i < 8; i++)
			if (d->status_for[i] > sm)
				return desc__err(err, errlen, "status_for[%d]: does not fit status.size", i);
		/* an error reply carrying the success value would read as a success */
		for (int i = XM_STATUS_NO_ROUTE; i <= XM_STATUS_CODEC_ERROR; i++)
			if (d->status_for[i] == d->status_ok)
				return desc__err(err, errlen, "status_for[%d]: same value as status_ok", i);
	}
	if ((r = desc__check_loc("service", &d->service, err, errlen)) < 0 ||
	    (r = desc__check_loc("method", &d->method, err, errlen)) < 0)
		return r;
	if (d->pool_mode != XM_POOL_MULTIPLEX && d->pool_mode != XM_POOL_PINGPONG)
		return desc__err(err, errlen, "pool_mode: must be multiplex or pingpong");
	if (d->pool_mode == XM_POOL_MULTIPLEX && d->request_id.size < 2)
		return desc__err(err, errlen, "request_id.size: multiplexing needs an id of at least 2 bytes");
	return 0;
}

static int desc_match(const struct xm_codec *c, const struct xm_iview *in)
{
	const struct xm_descriptor *d = DESC(c);
	uint8_t m[8];

	/* without magic bytes a descriptor codec cannot be sniffed: it claims the connection */
	if (d->magic_len == 0)
		return 1;
	if (in->len < (size_t)d->magic_offset + d->magic_len)
		return 0;
	xm_iview_copy(in, d->magic_offset, m, d->magic_len);
	return memcmp(m, d->magic, d->magic_len) == 0 ? 1 : -1;
}

static ssize_t desc_split(const struct xm_codec *c, const struct xm_iview *in, uint32_t max_frame, struct xm_frame *f)
{
	const struct xm_descriptor *d = DESC(c);
	uint64_t lv, kind;
	int64_t total;

	/* the magic is judged on the bytes we have, so garbage is refused early */
	if (d->magic_len) {
		uint8_t m[8];
		size_t n = in->len - (in->len > d->magic_offset ? d->magic_offset : in->len);
		if (n > d->magic_len)
			n = d->magic_len;
		if (n && (xm_iview_copy(in, d->magic_offset, m, n) < 0 || memcmp(m, d->magic, n) != 0))
			return -XM_CODEC_E_MAGIC;
	}
	if (in->len < (size_t)d->length.offset + d->length.size)
		return 0;
	lv = desc__get(in, &d->length);
	if (lv > (uint64_t)INT64_MAX / 2)
		return -XM_CODEC_E_TOO_LARGE;
	total = (int64_t)lv + d->length_adjust;
	if (total < (int64_t)d->header_len)
		return -XM_CODEC_E_LENGTH;
	if ((uint64_t)total > max_frame)
		return -XM_CODEC_E_TOO_LARGE;
	if (in->len < d->header_len || in->len < (uint64_t)total)
		return 0;

	memset(f, 0, sizeof(*f));
	uint64_t raw_kind = desc__get(in, &d->kind_field);
	f->priv[DESC_P_KIND_LO] = (uint32_t)raw_kind;
	f->priv[DESC_P_KIND_HI] = (uint32_t)(raw_kind >> 32);
	kind = raw_kind & d->kind_mask;
	if (kind == d->kind_request)
		f->kind = XM_FRAME_REQUEST;
	else if (kind == d->kind_response)
		f->kind = XM_FRAME_RESPONSE;
	else if (d->has_oneway && kind == d->kind_oneway)
		f->kind = XM_FRAME_ONEWAY;
	else if (d->has_heartbeat && kind == d->kind_heartbeat)
		f->kind = XM_FRAME_HEARTBEAT;
	else if (d->has_heartbeat_ack && kind == d->kind_heartbeat_ack)
		f->kind = XM_FRAME_HEARTBEAT_ACK;
	else
		return -XM_CODEC_E_HEADER;
	f->len = (uint32_t)total;
	f->body_off = d->header_len;
	f->id = desc__get(in, &d->request_id);
	f->id_off = d->request_id.offset;
	f->id_size = d->request_id.size;
	f->id_le = d->request_id.little_endian;
	if ((f->kind == XM_FRAME_RESPONSE || f->kind == XM_FRAME_HEARTBEAT_ACK) && d->status.size) {
		uint64_t st = desc__get(in, &d->status);
		f->raw_status = (uint16_t)st;
		f->status = XM_STATUS_SERVER_ERROR;
		if (st == d->status_ok) {
			f->status = XM_STATUS_OK;
		} else if (st != d->status_for[XM_STATUS_SERVER_ERROR]) {
			/* a status the descriptor hijacks with maps back to its generic meaning; a
			 * value several outcomes share (a protocol with one error code) stays a
			 * server error */
			for (int i = XM_STATUS_NO_ROUTE; i <= XM_STATUS_CODEC_ERROR; i++)
				if (d->status_for[i] == st) {
					f->status = (enum xm_status)i;
					break;
				}
		}
	}
	return (ssize_t)total;
}

/* Locate one routing key inside the frame. 0 with *off and *len set (len 0: absent), or -E_BODY. */
static int desc__locate(const struct xm_iview *v, size_t flen, const struct xm_desc_loc *l, size_t *off, size_t *len)
{
	*off = 0;
	*len = 0;
	switch (l->kind) {
	case XM_DESC_LOC_NONE:
		return 0;
	case XM_DESC_LOC_FIXED: {
		uint8_t b;
		if ((uint64_t)l->offset + l->len > flen)
			return -XM_CODEC_E_BODY;
		/* fixed-width names are NUL padded */
		size_t n = l->len;
		while (n > 0 && (b = xm_iview_u8(v, l->offset + n - 1)) == 0)
			n--;
		*off = l->offset, *len = n;
		return 0;
	}
	case XM_DESC_LOC_LPSTR: {
		uint64_t n = 0;
		if ((uint64_t)l->offset + l->len > flen)
			return -XM_CODEC_E_BODY;
		for (unsigned i = 0; i < l->len; i++)
			n = n << 8 | xm_iview_u8(v, l->offset + i);
		if (n > flen - l->offset - l->len)
			return -XM_CODEC_E_BODY;
		*off = l->offset + l->len, *len = (size_t)n;
		return 0;
	}
	case XM_DESC_LOC_TLV: {
		size_t p = l->offset;
		while (p < flen) {
			if (flen - p < 3)
				return -XM_CODEC_E_BODY;
			uint8_t t = xm_iview_u8(v, p);
			size_t n = xm_iview_be16(v, p + 1);
			if (n > flen - p - 3)
				return -XM_CODEC_E_BODY;
			if (t == l->tlv_type) {
				*off = p + 3, *len = n;
				return 0;
			}
			p += 3 + n;
		}
		return 0;
	}
	}
	return -XM_CODEC_E_BODY;
}

static int desc_route_info(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			   struct xm_route_info *ri)
{
	const struct xm_descriptor *d = DESC(c);
	size_t off, len;
	int r;

	ri->service = ri->method = ri->buf;
	ri->service_len = ri->method_len = 0;
	ri->nmetas = 0;
	ri->used = 0;
	if (f->len > frame->len)
		return -XM_CODEC_E_LENGTH;
	if ((r = desc__locate(frame, f->len, &d->service, &off, &len)) < 0)
		return r;
	if (len > 0xffff || !(ri->service = xm_route_info_copy(ri, frame, off, len)))
		return -XM_CODEC_E_BODY;
	ri->service_len = (uint16_t)len;
	if ((r = desc__locate(frame, f->len, &d->method, &off, &len)) < 0)
		return r;
	if (len > 0xffff || !(ri->method = xm_route_info_copy(ri, frame, off, len)))
		return -XM_CODEC_E_BODY;
	ri->method_len = (uint16_t)len;
	return 0;
}

/* Header-only reply: the request's header with kind, length, id and status rewritten. When
 * the request's bytes are gone (a timeout, a lost upstream: the frame went upstream), it is
 * built from the split facts alone: magic, kind with the request's flag bits, id, length and
 * status, other header bytes zero. */
static ssize_t desc__reply(const struct xm_descriptor *d, const struct xm_iview *frame, const struct xm_frame *f,
			   uint64_t kind, int with_status, uint64_t status, uint8_t *out, size_t cap)
{
	uint64_t k = (uint64_t)f->priv[DESC_P_KIND_HI] << 32 | f->priv[DESC_P_KIND_LO];

	if (cap < d->header_len)
		return -ENOSPC;
	if (frame->len >= d->header_len) {
		if (xm_iview_copy(frame, 0, out, d->header_len) < 0)
			return -EINVAL;
	} else {
		memset(out, 0, d->header_len);
		memcpy(out + d->magic_offset, d->magic, d->magic_len);
	}
	desc__put(out, &d->kind_field, (k & ~d->kind_mask) | kind);
	desc__put(out, &d->request_id, f->id);
	desc__put(out, &d->length, (uint64_t)((int64_t)d->header_len - d->length_adjust));
	if (with_status && d->status.size)
		desc__put(out, &d->status, status);
	return d->header_len;
}

static ssize_t desc_heartbeat_reply(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
				    uint8_t *out, size_t cap)
{
	const struct xm_descriptor *d = DESC(c);

	if (f->kind != XM_FRAME_HEARTBEAT || !d->has_heartbeat_ack)
		return -EINVAL;
	return desc__reply(d, frame, f, d->kind_heartbeat_ack, 1, d->status_ok, out, cap);
}

static ssize_t desc_hijack(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			   enum xm_status st, const char *msg, uint8_t *out, size_t cap)
{
	const struct xm_descriptor *d = DESC(c);

	if (st == XM_STATUS_OK || (unsigned)st >= 8 || (f->kind != XM_FRAME_REQUEST && f->kind != XM_FRAME_ONEWAY))
		return -EINVAL;
	return desc__reply(d, frame, f, d->kind_response, 1, d->status_for[st], out, cap);
}

static void desc_destroy(struct xm_codec *c)
{
	free(c->ctx);
}

static const struct xm_codec_ops desc__ops = {
	.match = desc_match,
	.split = desc_split,
	.route_info = desc_route_info,
	.heartbeat_reply = desc_heartbeat_reply,
	.hijack = desc_hijack,
	.destroy = desc_destroy,
};

int xm_codec_descriptor_new(const struct xm_descriptor *d, struct xm_codec **out, char *err, size_t errlen)
{
	struct desc_codec *dc;
	int r;

	*out = NULL;
	if (!d)
		return desc__err(err, errlen, "descriptor: missing");
	if ((r = desc__validate(d, err, errlen)) < 0)
		return r;
	dc = calloc(1, sizeof(*dc));
	if (!dc)
		return -ENOMEM;
	dc->d = *d;
	dc->codec.name = dc->d.name;
	dc->codec.ops = &desc__ops;
	dc->codec.pool_mode = d->pool_mode;
	dc->codec.ctx = dc;
	*out = &dc->codec;
	if (err && errlen)
		err[0] = 0;
	return 0;
}

const struct xm_descriptor *xm_codec_descriptor_of(const struct xm_codec *c)
{
	return c && c->ops == &desc__ops ? DESC(c) : NULL;
}
