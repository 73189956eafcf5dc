/* Dubbo (hessian2) codec: 16-byte header framing, request ids, service/method/version/attachments from the body, heartbeats and error responses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol/codec.h"
#include "protocol/hessian/hessian.h"

/*
 * Header (ExchangeCodec): magic 0xdabb(2) flag(1) status(1) id(8 BE) dataLen(4 BE).
 * flag: 0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization id (2 = hessian2).
 * Request body (DubboCodec.encodeRequestData): dubbo version, service path, service version,
 * method name, parameter descriptor, arguments..., attachments map. Responses: a status byte
 * in the header; errors carry a hessian string message as the body.
 */

#define DUBBO_HDR 16
#define DUBBO_FLAG_REQUEST 0x80
#define DUBBO_FLAG_TWOWAY 0x40
#define DUBBO_FLAG_EVENT 0x20
#define DUBBO_SER_MASK 0x1f
#define DUBBO_SER_HESSIAN2 2

#define DUBBO_OK 20
#define DUBBO_CLIENT_TIMEOUT 30
#define DUBBO_SERVER_TIMEOUT 31
#define DUBBO_BAD_REQUEST 40
#define DUBBO_BAD_RESPONSE 50
#define DUBBO_SERVICE_NOT_FOUND 60
#define DUBBO_SERVICE_ERROR 70
#define DUBBO_SERVER_ERROR 80
#define DUBBO_CLIENT_ERROR 90
#define DUBBO_THREADPOOL_EXHAUSTED 100

#define DUBBO_MSG_MAX 1024
/* Attachments behind more arguments than this are not looked for. */
#define DUBBO_MAX_ARGS 64

enum { DUBBO_P_FLAG };

static int dubbo_match(const struct xm_codec *c, const struct xm_iview *in)
{
	if (in->len < 1)
		return 0;
	if (xm_iview_u8(in, 0) != 0xda)
		return -1;
	if (in->len < 2)
		return 0;
	return xm_iview_u8(in, 1) == 0xbb ? 1 : -1;
}

static enum xm_status dubbo__status(uint8_t st)
{
	switch (st) {
	case DUBBO_OK:
		return XM_STATUS_OK;
	case DUBBO_CLIENT_TIMEOUT:
	case DUBBO_SERVER_TIMEOUT:
		return XM_STATUS_TIMEOUT;
	case DUBBO_SERVICE_NOT_FOUND:
		return XM_STATUS_NO_ROUTE;
	case DUBBO_THREADPOOL_EXHAUSTED:
		return XM_STATUS_OVERFLOW;
	case DUBBO_BAD_REQUEST:
	case DUBBO_BAD_RESPONSE:
		return XM_STATUS_CODEC_ERROR;
	default:
		return XM_STATUS_SERVER_ERROR;
	}
}

static ssize_t dubbo_split(const struct xm_codec *c, const struct xm_iview *in, uint32_t max_frame, struct xm_frame *f)
{
	uint8_t h[DUBBO_HDR];
	uint32_t dl;
	uint64_t total;

	if (in->len < 2) {
		if (in->len == 1 && xm_iview_u8(in, 0) != 0xda)
			return -XM_CODEC_E_MAGIC;
		return 0;
	}
	if (xm_iview_be16(in, 0) != 0xdabb)
		return -XM_CODEC_E_MAGIC;
	if (in->len < DUBBO_HDR)
		return 0;
	xm_iview_copy(in, 0, h, DUBBO_HDR);
	dl = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
	if (dl > 0x7fffffffu) /* Java reads an int: negative lengths are broken frames */
		return -XM_CODEC_E_LENGTH;
	total = (uint64_t)DUBBO_HDR + dl;
	if (total > max_frame)
		return -XM_CODEC_E_TOO_LARGE;
	if (in->len < total)
		return 0;

	memset(f, 0, sizeof(*f));
	f->len = (uint32_t)total;
	f->body_off = DUBBO_HDR;
	f->id_off = 4;
	f->id_size = 8;
	for (int i = 0; i < 8; i++)
		f->id = f->id << 8 | h[4 + i];
	if (h[2] & DUBBO_FLAG_REQUEST) {
		if (h[2] & DUBBO_FLAG_EVENT) {
			/* A one-way event whose data is the string "R" is Dubbo's READONLY_EVENT: the
			 * provider is shutting down and wants no new requests. */
			if (!(h[2] & DUBBO_FLAG_TWOWAY) && dl == 2 && xm_iview_u8(in, 16) == 0x01 && xm_iview_u8(in, 17) == 'R')
				f->kind = XM_FRAME_GOAWAY;
			else
				f->kind = XM_FRAME_HEARTBEAT;
		} else {
			f->kind = (h[2] & DUBBO_FLAG_TWOWAY) ? XM_FRAME_REQUEST : XM_FRAME_ONEWAY;
		}
	} else {
		f->kind = (h[2] & DUBBO_FLAG_EVENT) ? XM_FRAME_HEARTBEAT_ACK : XM_FRAME_RESPONSE;
		f->raw_status = h[3];
		f->status = dubbo__status(h[3]);
	}
	f->priv[DUBBO_P_FLAG] = h[2];
	return (ssize_t)total;
}

/* Read one hessian string into ri->buf. 0 (or 1 for null, as empty) with *p and *len set. */
static int dubbo__string(struct xm_hcur *cur, struct xm_route_info *ri, const char **p, uint16_t *len)
{
	size_t l;
	char *dst = ri->buf + ri->used;
	int r = xm_hessian_string(cur, dst, (size_t)(XM_ROUTE_BUF - ri->used), &l);

	if (r < 0 || l > 0xffff)
		return r == -E2BIG ? -E2BIG : -EBADMSG;
	ri->used = (uint16_t)(ri->used + l);
	*p = dst;
	*len = (uint16_t)l;
	return r;
}

/* Number of parameters in a JVM method descriptor such as "Ljava/lang/String;[II". */
static int dubbo__count_params(const char *d, size_t n)
{
	int count = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && d[i] == '[')
			i++;
		if (i >= n)
			return -1;
		if (d[i] == 'L') {
			const char *semi = memchr(d + i, ';', n - i);
			if (!semi)
				return -1;
			i = (size_t)(semi - d) + 1;
		} else if (d[i] && strchr("ZBCDFIJSV", d[i])) {
			i++;
		} else {
			return -1;
		}
		count++;
	}
	return count;
}

/* Attachments (Dubbo 2.7+ puts path, group, version, interface there): string -> string
 * entries become metas. Best effort: reaching them means skipping every argument, so any
 * value the skipper does not know ends the search quietly. */
static void dubbo__attachments(struct xm_hcur *cur, int nargs, struct xm_route_info *ri)
{
	int p;
	uint8_t term = 'Z';

	for (int i = 0; i < nargs; i++)
		if (xm_hessian_skip(cur) < 0)
			return;
	p = xm_hcur_peek(cur);
	if (p == 'H') {
		cur->pos++;
	} else if (p == 'M') {
		cur->pos++;
		size_t l;
		if (xm_hessian_string(cur, NULL, 0, &l) < 0) /* map type */
			return;
	} else {
		return;
	}
	while (xm_hcur_peek(cur) >= 0 && xm_hcur_peek(cur) != term && ri->nmetas < XM_ROUTE_MAX_METAS) {
		uint16_t saved = ri->used, kl, vl;
		const char *k, *v;
		if (dubbo__string(cur, ri, &k, &kl) != 0) {
			return;
		}
		if (dubbo__string(cur, ri, &v, &vl) < 0) {
			ri->used = saved;
			return; /* non-string value (or too long): stop here */
		}
		if (xm_route_info_get(ri, k, kl, NULL)) { /* body fields win over attachments */
			ri->used = saved;
			continue;
		}
		xm_route_info_meta(ri, k, kl, v, vl);
	}
}

static int dubbo_route_info(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			    struct xm_route_info *ri)
{
	struct xm_hcur cur;
	const char *dv, *sv, *desc, *k;
	uint16_t dvl, svl, descl;
	int r;

	ri->service = ri->method = ri->buf;
	ri->service_len = ri->method_len = 0;
	ri->nmetas = 0;
	ri->used = 0;
	if ((f->priv[DUBBO_P_FLAG] & DUBBO_SER_MASK) != DUBBO_SER_HESSIAN2)
		return -XM_CODEC_E_VERSION;
	if (f->len > frame->len)
		return -XM_CODEC_E_LENGTH;
	xm_hcur_init(&cur, frame, DUBBO_HDR, f->len, 0);
	/* dubbo version, path, service version, method name: all required */
	if (dubbo__string(&cur, ri, &dv, &dvl) < 0 || dubbo__string(&cur, ri, &ri->service, &ri->service_len) < 0 ||
	    dubbo__string(&cur, ri, &sv, &svl) < 0 || dubbo__string(&cur, ri, &ri->method, &ri->method_len) < 0)
		return -XM_CODEC_E_BODY;
	if (svl && (k = xm_route_info_put(ri, "version", 7)))
		xm_route_info_meta(ri, k, 7, sv, svl);
	if (dvl && (k = xm_route_info_put(ri, "dubbo", 5)))
		xm_route_info_meta(ri, k, 5, dv, dvl);
	/* the parameter descriptor tells how many arguments precede the attachments */
	r = dubbo__string(&cur, ri, &desc, &descl);
	if (r == -EBADMSG)
		return -XM_CODEC_E_BODY;
	if (r >= 0) {
		int n = dubbo__count_params(desc, descl);
		ri->used = (uint16_t)(ri->used - descl); /* not a routing key: give the room back */
		if (n >= 0 && n <= DUBBO_MAX_ARGS)
			dubbo__attachments(&cur, n, ri);
	}
	return 0;
}

static void dubbo__header(uint8_t *out, uint8_t flag, uint8_t status, uint64_t id, uint32_t len)
{
	out[0] = 0xda;
	out[1] = 0xbb;
	out[2] = flag;
	out[3] = status;
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(id >> (56 - 8 * i));
	out[12] = (uint8_t)(len >> 24);
	out[13] = (uint8_t)(len >> 16);
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
}

/* Replies are always hessian2 (id 2): every Dubbo client can read it whatever it sent. */
static ssize_t dubbo_heartbeat_reply(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
				     uint8_t *out, size_t cap)
{
	if (f->kind != XM_FRAME_HEARTBEAT)
		return -EINVAL;
	if (cap < DUBBO_HDR + 1)
		return -ENOSPC;
	dubbo__header(out, DUBBO_FLAG_EVENT | DUBBO_SER_HESSIAN2, DUBBO_OK, f->id, 1);
	out[DUBBO_HDR] = 'N'; /* heartbeat data is null */
	return DUBBO_HDR + 1;
}

static uint8_t dubbo__hijack_status(enum xm_status st)
{
	switch (st) {
	case XM_STATUS_NO_ROUTE:
		return DUBBO_SERVICE_NOT_FOUND;
	case XM_STATUS_TIMEOUT:
		return DUBBO_SERVER_TIMEOUT;
	case XM_STATUS_OVERFLOW:
		return DUBBO_THREADPOOL_EXHAUSTED;
	case XM_STATUS_CODEC_ERROR:
		return DUBBO_BAD_REQUEST;
	case XM_STATUS_UNAVAILABLE:
		return DUBBO_SERVER_ERROR;
	case XM_STATUS_SERVER_ERROR:
	default:
		return DUBBO_SERVICE_ERROR;
	}
}

/* Error response: status byte plus the message as a hessian string (Response.errorMessage,
 * written with writeUTF by DubboCodec). */
static ssize_t dubbo_hijack(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			    enum xm_status st, const char *msg, uint8_t *out, size_t cap)
{
	char text[DUBBO_MSG_MAX];
	size_t tl, body;
	uint8_t *p;

	if (st == XM_STATUS_OK || (f->kind != XM_FRAME_REQUEST && f->kind != XM_FRAME_ONEWAY))
		return -EINVAL;
	/* ASCII only, so that the hessian char count is the byte count */
	tl = xm_status_text(text, sizeof(text), st, msg);
	body = (tl < 32 ? 1 : 3) + tl;
	if (cap < DUBBO_HDR + body)
		return -ENOSPC;
	dubbo__header(out, DUBBO_SER_HESSIAN2, dubbo__hijack_status(st), f->id, (uint32_t)body);
	p = out + DUBBO_HDR;
	if (tl < 32) {
		*p++ = (uint8_t)tl;
	} else {
		*p++ = 'S';
		*p++ = (uint8_t)(tl >> 8);
		*p++ = (uint8_t)tl;
	}
	memcpy(p, text, tl);
	return (ssize_t)(DUBBO_HDR + body);
}

static const struct xm_codec_ops dubbo__ops = {
	.match = dubbo_match,
	.split = dubbo_split,
	.route_info = dubbo_route_info,
	.heartbeat_reply = dubbo_heartbeat_reply,
	.hijack = dubbo_hijack,
	.destroy = NULL,
};

const struct xm_codec xm_codec_dubbo = {
	.name = "dubbo",
	.ops = &dubbo__ops,
	.pool_mode = XM_POOL_MULTIPLEX,
	.ctx = NULL,
};
