/* SOFARPC Bolt v1/v2 codec: framing, request ids, routing keys from the header map (or the SofaRequest body), heartbeats and error responses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol/codec.h"
#include "protocol/hessian/hessian.h"

/*
 * Wire layout (sofa-bolt RpcProtocol / RpcProtocolV2, checked against sofa-bolt-node 2.x):
 *
 *   v1 request  (22 B): proto=1 type cmdcode(2) ver2 id(4) codec timeout(4) classLen(2) headerLen(2) contentLen(4)
 *   v1 response (20 B): proto=1 type cmdcode(2) ver2 id(4) codec status(2)  classLen(2) headerLen(2) contentLen(4)
 *   v2: proto=2, ver1 after proto, switch after codec (so +2 bytes); switch bit 0 = CRC32 of
 *       the whole frame appended (4 B).
 *
 * then className, the header map, the content. Peers read the three lengths as signed Java
 * shorts/int, so values with the sign bit set are refused as E_LENGTH.
 */

#define BOLT_V1 1
#define BOLT_V2 2
#define BOLT_TYPE_RESPONSE 0
#define BOLT_TYPE_REQUEST 1
#define BOLT_TYPE_ONEWAY 2
#define BOLT_CMD_HEARTBEAT 0
#define BOLT_CMD_REQUEST 1
#define BOLT_CMD_RESPONSE 2
#define BOLT_CODEC_HESSIAN2 1
#define BOLT_SWITCH_CRC 0x01

/* ResponseStatus (com.alipay.remoting.ResponseStatus, sofa-bolt-node enum/response_status.js). */
#define BOLT_ST_SUCCESS 0x0000
#define BOLT_ST_ERROR 0x0001
#define BOLT_ST_SERVER_EXCEPTION 0x0002
#define BOLT_ST_UNKNOWN 0x0003
#define BOLT_ST_SERVER_THREADPOOL_BUSY 0x0004
#define BOLT_ST_ERROR_COMM 0x0005
#define BOLT_ST_NO_PROCESSOR 0x0006
#define BOLT_ST_TIMEOUT 0x0007
#define BOLT_ST_CLIENT_SEND_ERROR 0x0008
#define BOLT_ST_CODEC_EXCEPTION 0x0009
#define BOLT_ST_CONNECTION_CLOSED 0x0010
#define BOLT_ST_SERVER_SERIAL_EXCEPTION 0x0011
#define BOLT_ST_SERVER_DESERIAL_EXCEPTION 0x0012

/* f->priv layout, recorded by split. */
enum { BOLT_P_PROTO, BOLT_P_HDR, BOLT_P_CLASS, BOLT_P_HEADER, BOLT_P_CONTENT, BOLT_P_MISC };
#define BOLT_MISC(codec, sw, ver1, ver2) ((uint32_t)(codec) | (uint32_t)(sw) << 8 | (uint32_t)(ver1) << 16 | (uint32_t)(ver2) << 24)

#define BOLT_ERR_CLASS "com.alipay.remoting.rpc.exception.RpcServerException"
#define BOLT_REQ_CLASS "com.alipay.sofa.rpc.core.request.SofaRequest"
#define BOLT_MSG_MAX 1024

/* Reflected CRC-32 (IEEE, as java.util.zip.CRC32 and sofa-bolt-node), one nibble at a time. */
static const uint32_t bolt__crc_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

static uint32_t bolt__crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ bolt__crc_nibble[crc & 15];
		crc = (crc >> 4) ^ bolt__crc_nibble[crc & 15];
	}
	return crc;
}

static uint32_t bolt__crc_view(const struct xm_iview *v, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (unsigned i = 0; i < v->niov && len > 0; i++) {
		size_t n = v->iov[i].iov_len < len ? v->iov[i].iov_len : len;
		crc = bolt__crc_update(crc, v->iov[i].iov_base, n);
		len -= n;
	}
	return crc ^ 0xffffffffu;
}

static void bolt__put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void bolt__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The stream layer rewrites request ids in place; on a v2 frame carrying a CRC that would
 * make the peer refuse it ("CRC check failed"), so it must call this after the rewrite.
 * Wired in as the vtable's id_rewritten op. 0, or -EINVAL if f is not such a frame.
 */
int xm_bolt_crc_refresh(const struct xm_iview *frame, const struct xm_frame *f)
{
	uint8_t crc[4];

	if (f->priv[BOLT_P_PROTO] != BOLT_V2 || !((f->priv[BOLT_P_MISC] >> 8) & BOLT_SWITCH_CRC) || f->len < 4 ||
	    frame->len < f->len)
		return -EINVAL;
	bolt__put32(crc, bolt__crc_view(frame, f->len - 4));
	return xm_iview_write(frame, f->len - 4, crc, 4) == 0 ? 0 : -EINVAL;
}

static int bolt_match(const struct xm_codec *c, const struct xm_iview *in)
{
	uint8_t b[5];
	size_t n = in->len < 5 ? in->len : 5;

	if (n == 0 || xm_iview_copy(in, 0, b, n) < 0)
		return 0;
	if (b[0] == BOLT_V1) {
		if (n > 1 && b[1] > BOLT_TYPE_ONEWAY)
			return -1;
		if (n > 2 && b[2] != 0)
			return -1;
		if (n > 3 && b[3] > BOLT_CMD_RESPONSE)
			return -1;
		return n >= 4 ? 1 : 0;
	}
	if (b[0] == BOLT_V2) {
		if (n > 1 && (b[1] < 1 || b[1] > 2))
			return -1;
		if (n > 2 && b[2] > BOLT_TYPE_ONEWAY)
			return -1;
		if (n > 3 && b[3] != 0)
			return -1;
		if (n > 4 && b[4] > BOLT_CMD_RESPONSE)
			return -1;
		return n >= 5 ? 1 : 0;
	}
	return -1;
}

static enum xm_status bolt__status(uint16_t st)
{
	switch (st) {
	case BOLT_ST_SUCCESS:
		return XM_STATUS_OK;
	case BOLT_ST_SERVER_THREADPOOL_BUSY:
		return XM_STATUS_OVERFLOW;
	case BOLT_ST_NO_PROCESSOR:
		return XM_STATUS_NO_ROUTE;
	case BOLT_ST_TIMEOUT:
		return XM_STATUS_TIMEOUT;
	case BOLT_ST_ERROR_COMM:
	case BOLT_ST_CLIENT_SEND_ERROR:
	case BOLT_ST_CONNECTION_CLOSED:
		return XM_STATUS_UNAVAILABLE;
	case BOLT_ST_CODEC_EXCEPTION:
	case BOLT_ST_SERVER_SERIAL_EXCEPTION:
	case BOLT_ST_SERVER_DESERIAL_EXCEPTION:
		return XM_STATUS_CODEC_ERROR;
	default:
		return XM_STATUS_SERVER_ERROR;
	}
}

static ssize_t bolt_split(const struct xm_codec *c, const struct xm_iview *in, uint32_t max_frame, struct xm_frame *f)
{
	uint8_t h[24];
	unsigned sh, hdr, ver1 = 0, sw = 0;
	uint8_t type;
	uint16_t cmd, cls, hl;
	uint32_t cl;
	uint64_t total;

	if (in->len < 1)
		return 0;
	h[0] = xm_iview_u8(in, 0);
	if (h[0] != BOLT_V1 && h[0] != BOLT_V2)
		return -XM_CODEC_E_MAGIC;
	sh = h[0] == BOLT_V2 ? 1 : 0;
	if (in->len < 2u + sh)
		return 0;
	if (sh) {
		ver1 = xm_iview_u8(in, 1);
		if (ver1 != 1 && ver1 != 2)
			return -XM_CODEC_E_VERSION;
	}
	type = xm_iview_u8(in, 1 + sh);
	if (type > BOLT_TYPE_ONEWAY)
		return -XM_CODEC_E_HEADER;
	hdr = (type == BOLT_TYPE_RESPONSE ? 20u : 22u) + 2 * sh;
	if (in->len < hdr)
		return 0;
	xm_iview_copy(in, 0, h, hdr);
	cmd = (uint16_t)(h[2 + sh] << 8 | h[3 + sh]);
	if (cmd > BOLT_CMD_RESPONSE)
		return -XM_CODEC_E_HEADER;
	if ((cmd == BOLT_CMD_REQUEST && type == BOLT_TYPE_RESPONSE) || (cmd == BOLT_CMD_RESPONSE && type != BOLT_TYPE_RESPONSE))
		return -XM_CODEC_E_HEADER;
	if (sh)
		sw = h[11];
	cls = (uint16_t)(h[hdr - 8] << 8 | h[hdr - 7]);
	hl = (uint16_t)(h[hdr - 6] << 8 | h[hdr - 5]);
	cl = (uint32_t)h[hdr - 4] << 24 | (uint32_t)h[hdr - 3] << 16 | (uint32_t)h[hdr - 2] << 8 | h[hdr - 1];
	if (cls > 0x7fff || hl > 0x7fff || cl > 0x7fffffffu)
		return -XM_CODEC_E_LENGTH;
	total = (uint64_t)hdr + cls + hl + cl + ((sw & BOLT_SWITCH_CRC) ? 4 : 0);
	if (total > max_frame)
		return -XM_CODEC_E_TOO_LARGE;
	if (in->len < total)
		return 0;

	memset(f, 0, sizeof(*f));
	f->len = (uint32_t)total;
	f->body_off = hdr + cls + hl;
	f->id_off = 5 + sh;
	f->id_size = 4;
	f->id = (uint32_t)h[5 + sh] << 24 | (uint32_t)h[6 + sh] << 16 | (uint32_t)h[7 + sh] << 8 | h[8 + sh];
	if (cmd == BOLT_CMD_HEARTBEAT)
		f->kind = type == BOLT_TYPE_RESPONSE ? XM_FRAME_HEARTBEAT_ACK : XM_FRAME_HEARTBEAT;
	else if (type == BOLT_TYPE_RESPONSE)
		f->kind = XM_FRAME_RESPONSE;
	else
		f->kind = type == BOLT_TYPE_ONEWAY ? XM_FRAME_ONEWAY : XM_FRAME_REQUEST;
	if (type == BOLT_TYPE_RESPONSE) {
		f->raw_status = (uint16_t)(h[10 + 2 * sh] << 8 | h[11 + 2 * sh]);
		f->status = bolt__status(f->raw_status);
	}
	f->priv[BOLT_P_PROTO] = h[0];
	f->priv[BOLT_P_HDR] = hdr;
	f->priv[BOLT_P_CLASS] = cls;
	f->priv[BOLT_P_HEADER] = hl;
	f->priv[BOLT_P_CONTENT] = cl;
	f->priv[BOLT_P_MISC] = BOLT_MISC(h[9 + sh], sw, ver1, h[4 + sh]);
	return (ssize_t)total;
}

static int bolt__key_is(const struct xm_iview *v, size_t off, uint32_t klen, const char *want)
{
	char k[32];
	size_t wl = strlen(want);
	if (klen != wl || wl > sizeof(k) || xm_iview_copy(v, off, k, wl) < 0)
		return 0;
	return memcmp(k, want, wl) == 0;
}

/* Read methodName (and targetServiceUniqueName when the header had no service) from a
 * hessian2 SofaRequest: the class definition names the fields, the instance follows with
 * one value per field. Best effort: anything unexpected leaves the keys as they are. */
static void bolt__body_keys(const struct xm_iview *frame, size_t off, size_t end, struct xm_route_info *ri)
{
	struct xm_hcur cur;
	char name[48];
	size_t l;
	int32_t nfields, ref;
	int32_t idx_m = -1, idx_s = -1;
	uint8_t code;
	int draft, r;

	xm_hcur_init(&cur, frame, off, end, 0);
	r = xm_hcur_peek(&cur);
	if (r != 'O' && r != 'C')
		return;
	draft = r == 'O';
	cur.draft = (uint8_t)draft;
	cur.pos++;
	if (draft) {
		/* draft definition: the class name is an int length and that many raw chars */
		int32_t n;
		if (xm_hessian_int(&cur, &n) < 0 || n != (int32_t)strlen(BOLT_REQ_CLASS) ||
		    xm_iview_copy(frame, cur.pos, name, (size_t)n) < 0 || memcmp(name, BOLT_REQ_CLASS, (size_t)n) != 0)
			return;
		cur.pos += (size_t)n;
		if (cur.pos > cur.end)
			return;
	} else {
		if (xm_hessian_string(&cur, name, sizeof(name), &l) != 0 || l != strlen(BOLT_REQ_CLASS) ||
		    memcmp(name, BOLT_REQ_CLASS, l) != 0)
			return;
	}
	if (xm_hessian_int(&cur, &nfields) < 0 || nfields < 0 || nfields > 64)
		return;
	for (int32_t i = 0; i < nfields; i++) {
		r = xm_hessian_string(&cur, name, sizeof(name), &l);
		if (r == -EBADMSG || r == 1)
			return;
		if (r == 0 && l == 10 && memcmp(name, "methodName", 10) == 0)
			idx_m = i;
		else if (r == 0 && l == 23 && memcmp(name, "targetServiceUniqueName", 23) == 0)
			idx_s = i;
	}
	if (xm_hessian_add_class(&cur, nfields) < 0 || xm_hcur_byte(&cur, &code) < 0)
		return;
	if (draft && code == 'o') {
		if (xm_hessian_int(&cur, &ref) < 0)
			return;
	} else if (!draft && code == 'O') {
		if (xm_hessian_int(&cur, &ref) < 0)
			return;
	} else if (!draft && code >= 0x60 && code <= 0x6f) {
		ref = code - 0x60;
	} else {
		return;
	}
	if (ref != 0)
		return;
	for (int32_t i = 0; i < nfields; i++) {
		int want_m = i == idx_m && ri->method_len == 0;
		int want_s = i == idx_s && ri->service_len == 0;
		if (want_m || want_s) {
			char *dst = ri->buf + ri->used;
			r = xm_hessian_string(&cur, dst, (size_t)(XM_ROUTE_BUF - ri->used), &l);
			if (r < 0 || l > 0xffff)
				return;
			ri->used = (uint16_t)(ri->used + l);
			if (want_m)
				ri->method = dst, ri->method_len = (uint16_t)l;
			else
				ri->service = dst, ri->service_len = (uint16_t)l;
		} else if (xm_hessian_skip(&cur) < 0) {
			return;
		}
		if ((idx_m < 0 || ri->method_len) && (idx_s < 0 || ri->service_len))
			return;
	}
}

/* Header map: { keyLen(4 BE) key valueLen(4 BE) value }* filling headerLen; valueLen -1 is a
 * null value (SimpleMapSerializer). Every key becomes a meta; service and method are copied
 * first so that they always fit in the bounded buffer. */
static int bolt_route_info(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			   struct xm_route_info *ri)
{
	size_t start = (size_t)f->priv[BOLT_P_HDR] + f->priv[BOLT_P_CLASS];
	size_t end = start + f->priv[BOLT_P_HEADER];
	size_t svc_off = 0, mth_off = 0;
	uint32_t svc_len = 0, mth_len = 0;
	int have_svc = 0, have_mth = 0;

	ri->service = ri->method = ri->buf;
	ri->service_len = ri->method_len = 0;
	ri->nmetas = 0;
	ri->used = 0;
	if (end > frame->len || end > f->len)
		return -XM_CODEC_E_LENGTH;

	for (int pass = 0; pass < 2; pass++) {
		size_t off = start;
		while (off < end) {
			uint32_t kl, vl;
			size_t koff, voff;

			if (end - off < 4)
				return -XM_CODEC_E_HEADER;
			kl = xm_iview_be32(frame, off);
			off += 4;
			if (kl > end - off || end - off - kl < 4)
				return -XM_CODEC_E_HEADER;
			koff = off;
			off += kl;
			vl = xm_iview_be32(frame, off);
			off += 4;
			if (vl == 0xffffffffu)
				vl = 0;
			else if (vl > end - off)
				return -XM_CODEC_E_HEADER;
			voff = off;
			off += vl;

			if (pass == 0) {
				if (!have_svc && bolt__key_is(frame, koff, kl, "service"))
					svc_off = voff, svc_len = vl, have_svc = 1;
				else if (!have_mth && bolt__key_is(frame, koff, kl, "sofa_head_method_name"))
					mth_off = voff, mth_len = vl, have_mth = 1;
				continue;
			}
			/* metas that do not fit (count, buffer, 64 KiB fields) are dropped: routing
			 * only needs the first few keys; the frame is forwarded whole anyway */
			if (kl > 0xffff || vl > 0xffff || ri->nmetas >= XM_ROUTE_MAX_METAS)
				continue;
			const char *k = xm_route_info_copy(ri, frame, koff, kl), *v;
			if (!k)
				continue;
			if (have_svc && voff == svc_off)
				v = ri->service;
			else if (have_mth && voff == mth_off)
				v = ri->method;
			else if (!(v = xm_route_info_copy(ri, frame, voff, vl)))
				continue;
			xm_route_info_meta(ri, k, (uint16_t)kl, v, (uint16_t)vl);
		}
		if (pass == 0) {
			const char *p;
			if (have_svc) {
				if (svc_len > 0xffff || !(p = xm_route_info_copy(ri, frame, svc_off, svc_len)))
					return -XM_CODEC_E_HEADER;
				ri->service = p, ri->service_len = (uint16_t)svc_len;
			}
			if (have_mth) {
				if (mth_len > 0xffff || !(p = xm_route_info_copy(ri, frame, mth_off, mth_len)))
					return -XM_CODEC_E_HEADER;
				ri->method = p, ri->method_len = (uint16_t)mth_len;
			}
		}
	}
	/* hessian2 requests from sofa-rpc(-node) carry only `service` in the header map; the
	 * method is the SofaRequest's methodName */
	if ((!have_mth || !have_svc) && (f->priv[BOLT_P_MISC] & 0xff) == BOLT_CODEC_HESSIAN2 && f->priv[BOLT_P_CONTENT] > 0)
		bolt__body_keys(frame, end, end + f->priv[BOLT_P_CONTENT], ri);
	return 0;
}

/* Common response header for replies: same protocol version, id, codec and switch as the
 * request, so the client decodes it with the settings it used. Returns the header length. */
static size_t bolt__reply_header(const struct xm_frame *f, uint8_t *out, uint16_t cmd, uint16_t status,
				 uint16_t cls, uint32_t content)
{
	unsigned sh = f->priv[BOLT_P_PROTO] == BOLT_V2 ? 1 : 0;
	uint32_t misc = f->priv[BOLT_P_MISC];
	uint8_t *p = out;

	*p++ = (uint8_t)f->priv[BOLT_P_PROTO];
	if (sh)
		*p++ = (uint8_t)(misc >> 16);
	*p++ = BOLT_TYPE_RESPONSE;
	bolt__put16(p, cmd), p += 2;
	*p++ = (uint8_t)(misc >> 24) ? (uint8_t)(misc >> 24) : 1;
	bolt__put32(p, (uint32_t)f->id), p += 4;
	*p++ = (uint8_t)misc;
	if (sh)
		*p++ = (uint8_t)(misc >> 8);
	bolt__put16(p, status), p += 2;
	bolt__put16(p, cls), p += 2;
	bolt__put16(p, 0), p += 2;
	bolt__put32(p, content), p += 4;
	return (size_t)(p - out);
}

static size_t bolt__reply_crc(const struct xm_frame *f, uint8_t *out, size_t len)
{
	if (f->priv[BOLT_P_PROTO] != BOLT_V2 || !((f->priv[BOLT_P_MISC] >> 8) & BOLT_SWITCH_CRC))
		return len;
	bolt__put32(out + len, ~bolt__crc_update(0xffffffffu, out, len));
	return len + 4;
}

static ssize_t bolt_heartbeat_reply(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
				    uint8_t *out, size_t cap)
{
	if (f->kind != XM_FRAME_HEARTBEAT || (f->priv[BOLT_P_PROTO] != BOLT_V1 && f->priv[BOLT_P_PROTO] != BOLT_V2))
		return -EINVAL;
	if (cap < 26)
		return -ENOSPC;
	size_t n = bolt__reply_header(f, out, BOLT_CMD_HEARTBEAT, BOLT_ST_SUCCESS, 0, 0);
	return (ssize_t)bolt__reply_crc(f, out, n);
}

static uint16_t bolt__hijack_status(enum xm_status st)
{
	switch (st) {
	case XM_STATUS_NO_ROUTE:
		return BOLT_ST_NO_PROCESSOR;
	case XM_STATUS_TIMEOUT:
		return BOLT_ST_TIMEOUT;
	case XM_STATUS_OVERFLOW:
		return BOLT_ST_SERVER_THREADPOOL_BUSY;
	case XM_STATUS_UNAVAILABLE:
		return BOLT_ST_ERROR_COMM;
	case XM_STATUS_CODEC_ERROR:
		return BOLT_ST_CODEC_EXCEPTION;
	case XM_STATUS_SERVER_ERROR:
	default:
		return BOLT_ST_SERVER_EXCEPTION;
	}
}

/* The error content sofa-bolt-node decodes for a non-success response: a hessian2 (draft)
 * RpcServerException whose detailMessage becomes the client's Error message. The bytes
 * before and after the message are exactly what sofa-bolt-node itself writes. */
static const uint8_t bolt__exc_head[] = {
	'O', 0xc8, 0x34, /* class definition, name of 52 chars */
	'c', 'o', 'm', '.', 'a', 'l', 'i', 'p', 'a', 'y', '.', 'r', 'e', 'm', 'o', 't', 'i', 'n', 'g', '.',
	'r', 'p', 'c', '.', 'e', 'x', 'c', 'e', 'p', 't', 'i', 'o', 'n', '.',
	'R', 'p', 'c', 'S', 'e', 'r', 'v', 'e', 'r', 'E', 'x', 'c', 'e', 'p', 't', 'i', 'o', 'n',
	0x93, /* 3 fields */
	0x0d, 'd', 'e', 't', 'a', 'i', 'l', 'M', 'e', 's', 's', 'a', 'g', 'e',
	0x0a, 's', 't', 'a', 'c', 'k', 'T', 'r', 'a', 'c', 'e',
	0x05, 'c', 'a', 'u', 's', 'e',
	'o', 0x90, /* instance of class 0 */
};
static const uint8_t bolt__exc_tail[] = {
	'V', 't', 0x00, 0x1c, '[', 'j', 'a', 'v', 'a', '.', 'l', 'a', 'n', 'g', '.', 'S', 't', 'a', 'c', 'k', 'T',
	'r', 'a', 'c', 'e', 'E', 'l', 'e', 'm', 'e', 'n', 't', 'n', 0x00, 'z', /* empty stackTrace */
	'N', /* cause */
};

static ssize_t bolt_hijack(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			   enum xm_status st, const char *msg, uint8_t *out, size_t cap)
{
	char text[BOLT_MSG_MAX];
	size_t tl, content = 0, hdr, need;
	unsigned sh;
	int hessian;

	if (st == XM_STATUS_OK || (f->kind != XM_FRAME_REQUEST && f->kind != XM_FRAME_ONEWAY) ||
	    (f->priv[BOLT_P_PROTO] != BOLT_V1 && f->priv[BOLT_P_PROTO] != BOLT_V2))
		return -EINVAL;
	/* The message is ours plus maybe bytes from the wire: keep it ASCII so its hessian char
	 * count equals its byte count. */
	tl = xm_status_text(text, sizeof(text), st, msg);
	/* other serializations (protobuf) get an empty content, which sofa-bolt-node reports as
	 * a server exception without detail */
	hessian = (f->priv[BOLT_P_MISC] & 0xff) == BOLT_CODEC_HESSIAN2;
	if (hessian)
		content = sizeof(bolt__exc_head) + (tl < 32 ? 1 : 3) + tl + sizeof(bolt__exc_tail);
	sh = f->priv[BOLT_P_PROTO] == BOLT_V2 ? 1 : 0;
	need = 20 + 2 * sh + strlen(BOLT_ERR_CLASS) + content + 4;
	if (cap < need)
		return -ENOSPC;
	hdr = bolt__reply_header(f, out, BOLT_CMD_RESPONSE, bolt__hijack_status(st), (uint16_t)strlen(BOLT_ERR_CLASS),
				 (uint32_t)content);
	uint8_t *p = out + hdr;
	memcpy(p, BOLT_ERR_CLASS, strlen(BOLT_ERR_CLASS)), p += strlen(BOLT_ERR_CLASS);
	if (hessian) {
		memcpy(p, bolt__exc_head, sizeof(bolt__exc_head)), p += sizeof(bolt__exc_head);
		if (tl < 32) {
			*p++ = (uint8_t)tl;
		} else {
			*p++ = 'S';
			bolt__put16(p, (uint16_t)tl), p += 2;
		}
		memcpy(p, text, tl), p += tl;
		memcpy(p, bolt__exc_tail, sizeof(bolt__exc_tail)), p += sizeof(bolt__exc_tail);
	}
	return (ssize_t)bolt__reply_crc(f, out, (size_t)(p - out));
}

static int bolt_id_rewritten(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f)
{
	(void)c;
	return xm_bolt_crc_refresh(frame, f);
}

static const struct xm_codec_ops bolt__ops = {
	.id_rewritten = bolt_id_rewritten,
	.match = bolt_match,
	.split = bolt_split,
	.route_info = bolt_route_info,
	.heartbeat_reply = bolt_heartbeat_reply,
	.hijack = bolt_hijack,
	.destroy = NULL,
};

const struct xm_codec xm_codec_bolt = {
	.name = "bolt",
	.ops = &bolt__ops,
	.pool_mode = XM_POOL_MULTIPLEX,
	.ctx = NULL,
};
