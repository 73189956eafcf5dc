/* Tests for descriptor codecs: validation names the bad field; "tinyrpc", a protocol defined only by a table, runs end to end. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "protocol/codec.h"
#include "xm.h"
#include "t.h"

/*
 * tinyrpc, defined by nothing but the descriptor below:
 *
 *   0      2      3       4         8          12
 *   +------+------+-------+---------+----------+-------------------+--------------------------+
 *   | "TR" | kind |status | id u32BE| len u32BE| method[16] NUL-pad| svcLen u16BE | service...|
 *   +------+------+-------+---------+----------+-------------------+--------------------------+
 *
 * kind: 0 request, 1 response, 2 oneway, 3 heartbeat, 4 heartbeat ack (low 3 bits; the high
 * bits are flags the codec keeps). status: 0 ok, 1 no route, 2 timeout, 3 busy, 4 unavailable,
 * 5 error, 6 bad request. len counts the body only, so frame length = len + 12.
 */
static const struct xm_descriptor tinyrpc = {
	.name = "tinyrpc",
	.magic = { 'T', 'R' },
	.magic_len = 2,
	.magic_offset = 0,
	.length = { .offset = 8, .size = 4 },
	.length_adjust = 12,
	.header_len = 12,
	.request_id = { .offset = 4, .size = 4 },
	.kind_field = { .offset = 2, .size = 1 },
	.kind_mask = 0x07,
	.kind_request = 0,
	.kind_response = 1,
	.kind_oneway = 2,
	.kind_heartbeat = 3,
	.kind_heartbeat_ack = 4,
	.has_oneway = 1,
	.has_heartbeat = 1,
	.has_heartbeat_ack = 1,
	.status = { .offset = 3, .size = 1 },
	.status_ok = 0,
	.status_for = { [XM_STATUS_OK] = 0, [XM_STATUS_NO_ROUTE] = 1, [XM_STATUS_TIMEOUT] = 2, [XM_STATUS_OVERFLOW] = 3,
			[XM_STATUS_UNAVAILABLE] = 4, [XM_STATUS_SERVER_ERROR] = 5, [XM_STATUS_CODEC_ERROR] = 6 },
	.service = { .kind = XM_DESC_LOC_LPSTR, .offset = 28, .len = 2 },
	.method = { .kind = XM_DESC_LOC_FIXED, .offset = 12, .len = 16 },
	.pool_mode = XM_POOL_MULTIPLEX,
};

static const size_t segs[] = { 0, 1, 3, 7, 16384 };
static struct iovec iovs[4096];

static void view(struct xm_iview *v, const uint8_t *buf, size_t len, size_t seg)
{
	if (seg == 0)
		xm_iview_flat(v, iovs, buf, len);
	else
		xm_iview_segmented(v, iovs, XM_ARRAY_SIZE(iovs), buf, len, seg);
}

/* A tinyrpc frame: header, then (when method != NULL) the routing area and a payload. */
static size_t tiny(uint8_t *out, uint8_t kind, uint8_t status, uint32_t id, const char *method, const char *service,
		   size_t payload)
{
	size_t body = 0;
	memset(out, 0, 12);
	out[0] = 'T', out[1] = 'R', out[2] = kind, out[3] = status;
	out[4] = (uint8_t)(id >> 24), out[5] = (uint8_t)(id >> 16), out[6] = (uint8_t)(id >> 8), out[7] = (uint8_t)id;
	if (method) {
		size_t sl = strlen(service);
		memset(out + 12, 0, 16);
		memcpy(out + 12, method, strlen(method));
		out[28] = (uint8_t)(sl >> 8), out[29] = (uint8_t)sl;
		memcpy(out + 30, service, sl);
		memset(out + 30 + sl, 0x5a, payload);
		body = 18 + sl + payload;
	}
	out[8] = (uint8_t)(body >> 24), out[9] = (uint8_t)(body >> 16), out[10] = (uint8_t)(body >> 8), out[11] = (uint8_t)body;
	return 12 + body;
}

static struct xm_codec *make(const struct xm_descriptor *d)
{
	struct xm_codec *c = NULL;
	char err[128];
	int r = xm_codec_descriptor_new(d, &c, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "  descriptor error: %s\n", err);
	T_CHECK_EQ(r, 0);
	return c;
}

static void test_validation(void)
{
	/* each case i breaks one field of tinyrpc (the switch below); want is the error's start */
	static const char *const want[] = {
		"length.size: must be 1, 2, 4 or 8",
		"request_id.size: must be 1, 2, 4 or 8",
		"length.offset: field [12, 16) is outside the 12-byte header",
		"name: must be 1..31 characters",
		"magic_len: must be 0..8",
		"kind_mask: must be non-zero",
		"kind_oneway: same value as kind_request",
		"kind_response: has bits outside kind_mask",
		"kind_heartbeat_ack: required when has_heartbeat",
		"status_for[2]: does not fit status.size",
		"service.len: length-field size must be 1, 2 or 4",
		"method.len: must be 1..65535",
		"pool_mode: must be multiplex or pingpong",
		"request_id.offset: overlaps kind_field",
		"length_adjust: header_len - length_adjust",
		"status.size: must be 1, 2, 4 or 8 (or 0 for none)",
		"magic_offset: magic is outside",
		"header_len: must be 1..4096",
		"header_len: must be 1..4096",
		"status_for[1]: same value as status_ok",
		"status_for[6]: same value as status_ok",
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(want); i++) {
		struct xm_descriptor d = tinyrpc;
		struct xm_codec *c = (struct xm_codec *)1;
		char err[160] = "";
		switch (i) {
		case 0: d.length.size = 3; break;
		case 1: d.request_id.size = 0; break;
		case 2: d.length.offset = 12; break;
		case 3: d.name[0] = 0; break;
		case 4: d.magic_len = 9; break;
		case 5: d.kind_mask = 0; break;
		case 6: d.kind_oneway = 0; break;
		case 7: d.kind_response = 8; break;
		case 8: d.has_heartbeat_ack = 0; break;
		case 9: d.status_for[2] = 256; break;
		case 10: d.service.len = 3; break;
		case 11: d.method.len = 0; break;
		case 12: d.pool_mode = 0; break;
		case 13: d.request_id.offset = 1; break;
		case 14: d.length_adjust = 100; break;
		case 15: d.status.size = 3; break;
		case 16: d.magic_offset = 11; break;
		case 17: d.header_len = 0; break;
		case 18: d.header_len = XM_DESC_HEADER_MAX + 1; break;
		case 19: d.status_for[XM_STATUS_NO_ROUTE] = 0; break;
		case 20: d.status_ok = 6; break;
		}
		int r = xm_codec_descriptor_new(&d, &c, err, sizeof(err));
		if (r != -EINVAL || strncmp(err, want[i], strlen(want[i])) != 0)
			fprintf(stderr, "  case %zu: want \"%s\", got %d \"%s\"\n", i, want[i], r, err);
		T_CHECK_EQ(r, -EINVAL);
		T_CHECK(strncmp(err, want[i], strlen(want[i])) == 0);
		T_CHECK(c == NULL);
	}
	struct xm_codec *c = make(&tinyrpc);
	if (c) {
		T_CHECK(strcmp(c->name, "tinyrpc") == 0);
		T_CHECK_EQ(c->pool_mode, XM_POOL_MULTIPLEX);
		c->ops->destroy(c);
	}
}

static int is(const char *p, uint16_t len, const char *want)
{
	return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_split_and_route(void)
{
	struct xm_codec *c = make(&tinyrpc);
	if (!c)
		return;
	static const struct {
		const char *desc;
		uint8_t kind, status;
		int routed;
		enum xm_frame_kind want;
		enum xm_status st;
	} cases[] = {
		{ "request", 0, 0, 1, XM_FRAME_REQUEST, XM_STATUS_OK },
		{ "request with flag bits above the mask", 0x80, 0, 1, XM_FRAME_REQUEST, XM_STATUS_OK },
		{ "oneway", 2, 0, 1, XM_FRAME_ONEWAY, XM_STATUS_OK },
		{ "response ok", 1, 0, 0, XM_FRAME_RESPONSE, XM_STATUS_OK },
		{ "response timeout maps back", 1, 2, 0, XM_FRAME_RESPONSE, XM_STATUS_TIMEOUT },
		{ "response unknown status is a server error", 1, 99, 0, XM_FRAME_RESPONSE, XM_STATUS_SERVER_ERROR },
		{ "heartbeat", 3, 0, 0, XM_FRAME_HEARTBEAT, XM_STATUS_OK },
		{ "heartbeat ack", 4, 0, 0, XM_FRAME_HEARTBEAT_ACK, XM_STATUS_OK },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		uint8_t buf[256];
		size_t len = cases[i].routed ? tiny(buf, cases[i].kind, cases[i].status, 0x01020304, "getBook", "acme.Books", 40)
					     : tiny(buf, cases[i].kind, cases[i].status, 0x01020304, NULL, NULL, 0);
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_frame f;
			static struct xm_route_info ri;
			int bad = t__case_failed;
			view(&v, buf, len, segs[s]);
			T_CHECK_EQ(c->ops->match(c, &v), 1);
			T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)len);
			T_CHECK_EQ(f.kind, cases[i].want);
			T_CHECK_EQ(f.id, 0x01020304);
			T_CHECK_EQ(f.id_off, 4);
			T_CHECK_EQ(f.id_size, 4);
			T_CHECK_EQ(f.id_le, 0);
			T_CHECK_EQ(f.body_off, 12);
			if (cases[i].want == XM_FRAME_RESPONSE)
				T_CHECK_EQ(f.status, cases[i].st);
			if (cases[i].routed) {
				T_CHECK_EQ(c->ops->route_info(c, &v, &f, &ri), 0);
				T_CHECK(is(ri.service, ri.service_len, "acme.Books"));
				T_CHECK(is(ri.method, ri.method_len, "getBook"));
			}
			for (size_t n = 0; n < len; n++) {
				view(&v, buf, n, segs[s]);
				if (c->ops->split(c, &v, 1 << 20, &f) != 0) {
					T_CHECK_EQ(n, -1);
					break;
				}
			}
			if (t__case_failed && !bad)
				fprintf(stderr, "  case: %s, segment %zu\n", cases[i].desc, segs[s]);
		}
	}
	c->ops->destroy(c);
}

static void test_errors(void)
{
	struct xm_codec *c = make(&tinyrpc);
	if (!c)
		return;
	static const struct {
		const char *desc;
		uint8_t bytes[40];
		size_t len;
		uint32_t max;
		ssize_t split;
		int route; /* route_info result when split succeeds */
	} cases[] = {
		{ "wrong magic", { 'T', 'X' }, 2, 1 << 20, -XM_CODEC_E_MAGIC, 0 },
		{ "wrong magic on the first byte", { 'X' }, 1, 1 << 20, -XM_CODEC_E_MAGIC, 0 },
		{ "too large once the length is readable", { 'T', 'R', 0, 0, 0, 0, 0, 1, 0, 0, 1, 0 }, 12, 200, -XM_CODEC_E_TOO_LARGE, 0 },
		{ "length + adjust beyond 32 bits", { 'T', 'R', 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff }, 12, UINT32_MAX, -XM_CODEC_E_TOO_LARGE, 0 },
		{ "unknown kind", { 'T', 'R', 5, 0, 0, 0, 0, 1, 0, 0, 0, 0 }, 12, 1 << 20, -XM_CODEC_E_HEADER, 0 },
		{ "request without routing area", { 'T', 'R', 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 }, 12, 1 << 20, 12, -XM_CODEC_E_BODY },
		{ "service length past the frame", { 'T', 'R', 0, 0, 0, 0, 0, 1, 0, 0, 0, 19, 'm', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 's' }, 31, 1 << 20, 31, -XM_CODEC_E_BODY },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_frame f;
			static struct xm_route_info ri;
			view(&v, cases[i].bytes, cases[i].len, segs[s]);
			ssize_t r = c->ops->split(c, &v, cases[i].max, &f);
			if (r != cases[i].split)
				fprintf(stderr, "  case: %s: split %zd\n", cases[i].desc, r);
			T_CHECK_EQ(r, cases[i].split);
			if (r > 0)
				T_CHECK_EQ(c->ops->route_info(c, &v, &f, &ri), cases[i].route);
		}
	}
	/* a length field below header_len */
	struct xm_descriptor d = tinyrpc;
	d.length_adjust = 0; /* length counts the whole frame */
	struct xm_codec *c2 = make(&d);
	if (c2) {
		uint8_t b[12] = { 'T', 'R', 0, 0, 0, 0, 0, 1, 0, 0, 0, 5 };
		struct xm_iview v;
		struct xm_frame f;
		view(&v, b, sizeof(b), 0);
		T_CHECK_EQ(c2->ops->split(c2, &v, 1 << 20, &f), -XM_CODEC_E_LENGTH);
		c2->ops->destroy(c2);
	}
	c->ops->destroy(c);
}

static void test_replies(void)
{
	struct xm_codec *c = make(&tinyrpc);
	if (!c)
		return;
	uint8_t buf[256], out[64];
	struct xm_iview v, rv;
	struct xm_frame f, rf;
	size_t len = tiny(buf, 0x83, 0, 77, NULL, NULL, 0); /* heartbeat with a flag bit */
	view(&v, buf, len, 1);
	T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)len);
	T_CHECK_EQ(f.kind, XM_FRAME_HEARTBEAT);
	ssize_t n = c->ops->heartbeat_reply(c, &v, &f, out, sizeof(out));
	T_CHECK_EQ(n, 12);
	view(&rv, out, (size_t)n, 0);
	T_CHECK_EQ(c->ops->split(c, &rv, 1 << 20, &rf), 12);
	T_CHECK_EQ(rf.kind, XM_FRAME_HEARTBEAT_ACK);
	T_CHECK_EQ(rf.id, 77);
	T_CHECK_EQ(out[2], 0x84); /* flags kept, kind replaced */
	T_CHECK_EQ(c->ops->heartbeat_reply(c, &v, &f, out, 11), -ENOSPC);

	static const enum xm_status sts[] = { XM_STATUS_NO_ROUTE, XM_STATUS_TIMEOUT, XM_STATUS_OVERFLOW,
					      XM_STATUS_UNAVAILABLE, XM_STATUS_SERVER_ERROR, XM_STATUS_CODEC_ERROR };
	len = tiny(buf, 0, 0, 0xfeedbeef, "getBook", "acme.Books", 100);
	for (size_t i = 0; i < XM_ARRAY_SIZE(sts); i++) {
		view(&v, buf, len, 7);
		T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)len);
		n = c->ops->hijack(c, &v, &f, sts[i], "ignored: tinyrpc has no message field", out, sizeof(out));
		T_CHECK_EQ(n, 12);
		view(&rv, out, (size_t)n, 0);
		T_CHECK_EQ(c->ops->split(c, &rv, 1 << 20, &rf), 12);
		T_CHECK_EQ(rf.kind, XM_FRAME_RESPONSE);
		T_CHECK_EQ(rf.id, 0xfeedbeef);
		T_CHECK_EQ(rf.raw_status, tinyrpc.status_for[sts[i]]);
		T_CHECK_EQ(rf.status, sts[i]);
	}
	/* a timeout or a lost upstream: the request's bytes are gone, only the split facts remain */
	len = tiny(buf, 0x80, 0, 0xabcdef01, "getBook", "acme.Books", 10);
	view(&v, buf, len, 3);
	T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)len);
	memset(buf, 0xee, sizeof(buf)); /* the frame's memory is reused */
	struct xm_iview empty = { 0 };
	n = c->ops->hijack(c, &empty, &f, XM_STATUS_TIMEOUT, NULL, out, sizeof(out));
	T_CHECK_EQ(n, 12);
	static const uint8_t want[12] = { 'T', 'R', 0x81, 2, 0xab, 0xcd, 0xef, 0x01, 0, 0, 0, 0 };
	T_CHECK(n == 12 && memcmp(out, want, 12) == 0);
	T_CHECK_EQ(c->ops->hijack(c, &v, &f, XM_STATUS_OK, NULL, out, sizeof(out)), -EINVAL);
	T_CHECK_EQ(c->ops->heartbeat_reply(c, &v, &f, out, sizeof(out)), -EINVAL);
	c->ops->destroy(c);
}

static void test_shared_error_code(void)
{
	/* a protocol with one error code: every outcome the sidecar answers uses it, and an
	 * upstream response carrying it counts as a server error (not the first outcome) */
	struct xm_descriptor d = tinyrpc;
	for (int i = XM_STATUS_NO_ROUTE; i <= XM_STATUS_CODEC_ERROR; i++)
		d.status_for[i] = 9;
	struct xm_codec *c = make(&d);
	if (!c)
		return;
	uint8_t buf[64];
	struct xm_iview v;
	struct xm_frame f;
	size_t len = tiny(buf, 1, 9, 5, NULL, NULL, 0);
	view(&v, buf, len, 0);
	T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)len);
	T_CHECK_EQ(f.kind, XM_FRAME_RESPONSE);
	T_CHECK_EQ(f.status, XM_STATUS_SERVER_ERROR);
	T_CHECK_EQ(f.raw_status, 9);
	c->ops->destroy(c);
}

static void test_variants(void)
{
	/* little-endian 8-byte id, TLV routing keys, no magic */
	struct xm_descriptor d = tinyrpc;
	d.magic_len = 0;
	d.request_id.size = 8;
	d.request_id.offset = 4;
	d.request_id.little_endian = 1;
	d.length.offset = 12;
	d.header_len = 16;
	d.length_adjust = 16;
	d.service = (struct xm_desc_loc){ .kind = XM_DESC_LOC_TLV, .offset = 16, .tlv_type = 1 };
	d.method = (struct xm_desc_loc){ .kind = XM_DESC_LOC_TLV, .offset = 16, .tlv_type = 2 };
	struct xm_codec *c = make(&d);
	if (!c)
		return;
	static const uint8_t frame[] = {
		'T', 'R', 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 17,
		9, 0, 1, 'x', /* unrelated TLV first */
		2, 0, 3, 'g', 'e', 't', 1, 0, 4, 'b', 'o', 'o', 'k',
	};
	for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
		struct xm_iview v;
		struct xm_frame f;
		static struct xm_route_info ri;
		view(&v, frame, sizeof(frame), segs[s]);
		T_CHECK_EQ(c->ops->match(c, &v), 1);
		T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)sizeof(frame));
		T_CHECK(f.id == 0x0102030405060708ull);
		T_CHECK_EQ(f.id_le, 1);
		T_CHECK_EQ(f.id_size, 8);
		T_CHECK_EQ(c->ops->route_info(c, &v, &f, &ri), 0);
		T_CHECK(is(ri.service, ri.service_len, "book"));
		T_CHECK(is(ri.method, ri.method_len, "get"));
	}
	/* a TLV whose length overruns the frame */
	uint8_t bad[sizeof(frame)];
	memcpy(bad, frame, sizeof(frame));
	bad[18] = 50;
	struct xm_iview v;
	struct xm_frame f;
	static struct xm_route_info ri;
	view(&v, bad, sizeof(bad), 0);
	T_CHECK_EQ(c->ops->split(c, &v, 1 << 20, &f), (ssize_t)sizeof(bad));
	T_CHECK_EQ(c->ops->route_info(c, &v, &f, &ri), -XM_CODEC_E_BODY);
	c->ops->destroy(c);
}

T_MAIN_BEGIN
	T_RUN("validation names the bad field", test_validation);
	T_RUN("tinyrpc frames split and route at every segment size", test_split_and_route);
	T_RUN("tinyrpc malformed frames are refused by name", test_errors);
	T_RUN("heartbeat replies and hijacks are header-only frames that map back", test_replies);
	T_RUN("a status code shared by several outcomes maps back to a server error", test_shared_error_code);
	T_RUN("little-endian 8-byte ids, TLV keys, no magic", test_variants);
T_MAIN_END
