/* Tests for the Dubbo codec: header framing, hessian2 routing keys (short, medium, chunked, multibyte strings), heartbeats, error responses. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "protocol/codec.h"
#include "xm.h"
#include "t.h"

/* Frames written by native/fuzz/gen_corpus.js (hessian.js encodes the bodies as Dubbo's
 * DubboCodec does): DemoService.sayHello("world") with attachments {group: g1, ...} (id 1,
 * oneway twin id 2), a 74-char service path and a non-ASCII method "grüß" (id 3), responses,
 * heartbeat (id 4) and its ack. */
static const uint8_t dubbo_request[] = {
	0xda, 0xbb, 0xc2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xbf,
	0x05, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x30, 0x21, 0x6f, 0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63,
	0x68, 0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e, 0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65,
	0x6d, 0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x05, 0x31, 0x2e, 0x30, 0x2e, 0x30, 0x08,
	0x73, 0x61, 0x79, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x12, 0x4c, 0x6a, 0x61, 0x76, 0x61, 0x2f, 0x6c,
	0x61, 0x6e, 0x67, 0x2f, 0x53, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x3b, 0x05, 0x77, 0x6f, 0x72, 0x6c,
	0x64, 0x48, 0x05, 0x67, 0x72, 0x6f, 0x75, 0x70, 0x02, 0x67, 0x31, 0x09, 0x69, 0x6e, 0x74, 0x65,
	0x72, 0x66, 0x61, 0x63, 0x65, 0x30, 0x21, 0x6f, 0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63, 0x68,
	0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e, 0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65, 0x6d,
	0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x04, 0x70, 0x61, 0x74, 0x68, 0x30, 0x21, 0x6f,
	0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63, 0x68, 0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e,
	0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65, 0x6d, 0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65,
	0x07, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x05, 0x31, 0x2e, 0x30, 0x2e, 0x30, 0x5a,
};
static const uint8_t dubbo_oneway[] = {
	0xda, 0xbb, 0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0xbf,
	0x05, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x30, 0x21, 0x6f, 0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63,
	0x68, 0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e, 0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65,
	0x6d, 0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x05, 0x31, 0x2e, 0x30, 0x2e, 0x30, 0x08,
	0x73, 0x61, 0x79, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x12, 0x4c, 0x6a, 0x61, 0x76, 0x61, 0x2f, 0x6c,
	0x61, 0x6e, 0x67, 0x2f, 0x53, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x3b, 0x05, 0x77, 0x6f, 0x72, 0x6c,
	0x64, 0x48, 0x05, 0x67, 0x72, 0x6f, 0x75, 0x70, 0x02, 0x67, 0x31, 0x09, 0x69, 0x6e, 0x74, 0x65,
	0x72, 0x66, 0x61, 0x63, 0x65, 0x30, 0x21, 0x6f, 0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63, 0x68,
	0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e, 0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65, 0x6d,
	0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x04, 0x70, 0x61, 0x74, 0x68, 0x30, 0x21, 0x6f,
	0x72, 0x67, 0x2e, 0x61, 0x70, 0x61, 0x63, 0x68, 0x65, 0x2e, 0x64, 0x75, 0x62, 0x62, 0x6f, 0x2e,
	0x64, 0x65, 0x6d, 0x6f, 0x2e, 0x44, 0x65, 0x6d, 0x6f, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65,
	0x07, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x05, 0x31, 0x2e, 0x30, 0x2e, 0x30, 0x5a,
};
static const uint8_t dubbo_request_long[] = {
	0xda, 0xbb, 0xc2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x5d,
	0x05, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x30, 0x4a, 0x63, 0x6f, 0x6d, 0x2e, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x2e, 0x76, 0x65, 0x72, 0x79, 0x2e, 0x6c, 0x6f, 0x6e, 0x67, 0x2e, 0x70, 0x61,
	0x63, 0x6b, 0x61, 0x67, 0x65, 0x2e, 0x6e, 0x61, 0x6d, 0x65, 0x2e, 0x74, 0x68, 0x61, 0x74, 0x2e,
	0x65, 0x78, 0x63, 0x65, 0x65, 0x64, 0x73, 0x2e, 0x73, 0x68, 0x6f, 0x72, 0x74, 0x2e, 0x73, 0x74,
	0x72, 0x69, 0x6e, 0x67, 0x73, 0x2e, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x53, 0x65, 0x72, 0x76, 0x69,
	0x63, 0x65, 0x00, 0x04, 0x67, 0x72, 0xc3, 0xbc, 0xc3, 0x9f, 0x00, 0x48, 0x5a,
};
static const uint8_t dubbo_response[] = {
	0xda, 0xbb, 0x02, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0d,
	0x91, 0x0b, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64,
};
static const uint8_t dubbo_response_error[] = {
	0xda, 0xbb, 0x02, 0x46, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x27,
	0x30, 0x25, 0x6a, 0x61, 0x76, 0x61, 0x2e, 0x6c, 0x61, 0x6e, 0x67, 0x2e, 0x49, 0x6c, 0x6c, 0x65,
	0x67, 0x61, 0x6c, 0x53, 0x74, 0x61, 0x74, 0x65, 0x45, 0x78, 0x63, 0x65, 0x70, 0x74, 0x69, 0x6f,
	0x6e, 0x3a, 0x20, 0x62, 0x6f, 0x6f, 0x6d,
};
static const uint8_t dubbo_heartbeat[] = {
	0xda, 0xbb, 0xe2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
	0x4e,
};
static const uint8_t dubbo_heartbeat_ack[] = {
	0xda, 0xbb, 0x22, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
	0x4e,
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

static const struct xm_codec *dubbo(void)
{
	return xm_codec_builtin("dubbo");
}

static int is(const char *p, uint16_t len, const char *want)
{
	return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_split(void)
{
	static const struct {
		const char *desc;
		const uint8_t *buf;
		size_t len;
		enum xm_frame_kind kind;
		uint64_t id;
		uint8_t raw;
		enum xm_status st;
	} cases[] = {
		{ "two-way request", dubbo_request, sizeof(dubbo_request), XM_FRAME_REQUEST, 1, 0, XM_STATUS_OK },
		{ "oneway request", dubbo_oneway, sizeof(dubbo_oneway), XM_FRAME_ONEWAY, 2, 0, XM_STATUS_OK },
		{ "request with long strings", dubbo_request_long, sizeof(dubbo_request_long), XM_FRAME_REQUEST, 3, 0, XM_STATUS_OK },
		{ "response OK", dubbo_response, sizeof(dubbo_response), XM_FRAME_RESPONSE, 1, 20, XM_STATUS_OK },
		{ "response SERVICE_ERROR", dubbo_response_error, sizeof(dubbo_response_error), XM_FRAME_RESPONSE, 1, 70, XM_STATUS_SERVER_ERROR },
		{ "heartbeat", dubbo_heartbeat, sizeof(dubbo_heartbeat), XM_FRAME_HEARTBEAT, 4, 0, XM_STATUS_OK },
		{ "heartbeat ack", dubbo_heartbeat_ack, sizeof(dubbo_heartbeat_ack), XM_FRAME_HEARTBEAT_ACK, 4, 20, XM_STATUS_OK },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_frame f;
			int bad = t__case_failed;
			view(&v, cases[i].buf, cases[i].len, segs[s]);
			T_CHECK_EQ(dubbo()->ops->match(dubbo(), &v), 1);
			T_CHECK_EQ(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f), (ssize_t)cases[i].len);
			T_CHECK_EQ(f.kind, cases[i].kind);
			T_CHECK_EQ(f.id, cases[i].id);
			T_CHECK_EQ(f.id_off, 4);
			T_CHECK_EQ(f.id_size, 8);
			T_CHECK_EQ(f.body_off, 16);
			T_CHECK_EQ(f.raw_status, cases[i].raw);
			T_CHECK_EQ(f.status, cases[i].st);
			for (size_t n = 0; n < cases[i].len; n++) {
				view(&v, cases[i].buf, n, segs[s]);
				if (dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) != 0) {
					T_CHECK_EQ(n, -1);
					break;
				}
			}
			if (t__case_failed && !bad)
				fprintf(stderr, "  case: %s, segment %zu\n", cases[i].desc, segs[s]);
		}
	}
}

static void test_split_errors(void)
{
	static const struct {
		const char *desc;
		uint8_t bytes[18];
		size_t len;
		uint32_t max_frame;
		ssize_t want;
		enum xm_frame_kind kind;
	} cases[] = {
		{ "bad magic", { 0xda, 0xbc }, 2, 1 << 20, -XM_CODEC_E_MAGIC, 0 },
		{ "bad first byte", { 0x01 }, 1, 1 << 20, -XM_CODEC_E_MAGIC, 0 },
		{ "negative length", { 0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0, 0, 0 }, 16, 1 << 20, -XM_CODEC_E_LENGTH, 0 },
		{ "too large once the header is in", { 0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x10, 0, 0 }, 16, 1 << 20, -XM_CODEC_E_TOO_LARGE, 0 },
		{ "header only: need more", { 0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5 }, 16, 1 << 20, 0, 0 },
		{ "readonly event is a goaway", { 0xda, 0xbb, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 0x01, 'R' }, 18, 1 << 20, 18, XM_FRAME_GOAWAY },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_frame f;
			view(&v, cases[i].bytes, cases[i].len, segs[s]);
			ssize_t r = dubbo()->ops->split(dubbo(), &v, cases[i].max_frame, &f);
			if (r != cases[i].want)
				fprintf(stderr, "  case: %s: got %zd\n", cases[i].desc, r);
			T_CHECK_EQ(r, cases[i].want);
			if (r > 0)
				T_CHECK_EQ(f.kind, cases[i].kind);
		}
	}
}

static void test_route_info(void)
{
	static struct xm_route_info ri;
	for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
		struct xm_iview v;
		struct xm_frame f;
		uint16_t vl;
		const char *p;

		view(&v, dubbo_request, sizeof(dubbo_request), segs[s]);
		T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
		T_CHECK_EQ(dubbo()->ops->route_info(dubbo(), &v, &f, &ri), 0);
		T_CHECK(is(ri.service, ri.service_len, "org.apache.dubbo.demo.DemoService"));
		T_CHECK(is(ri.method, ri.method_len, "sayHello"));
		p = xm_route_info_get(&ri, "version", 7, &vl);
		T_CHECK(p && is(p, vl, "1.0.0"));
		p = xm_route_info_get(&ri, "dubbo", 5, &vl);
		T_CHECK(p && is(p, vl, "2.0.2"));
		/* attachments, reached by skipping the one String argument */
		p = xm_route_info_get(&ri, "group", 5, &vl);
		T_CHECK(p && is(p, vl, "g1"));
		p = xm_route_info_get(&ri, "interface", 9, &vl);
		T_CHECK(p && is(p, vl, "org.apache.dubbo.demo.DemoService"));

		view(&v, dubbo_request_long, sizeof(dubbo_request_long), segs[s]);
		T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
		T_CHECK_EQ(dubbo()->ops->route_info(dubbo(), &v, &f, &ri), 0);
		T_CHECK(is(ri.service, ri.service_len, "com.example.very.long.package.name.that.exceeds.short.strings.HelloService"));
		T_CHECK(is(ri.method, ri.method_len, "gr\xc3\xbc\xc3\x9f"));
		T_CHECK(xm_route_info_get(&ri, "version", 7, NULL) == NULL);
	}
}

/* A request whose body is the given bytes. */
static size_t make_req(uint8_t *out, const void *body, size_t n)
{
	static const uint8_t h[16] = { 0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 7 };
	memcpy(out, h, 16);
	out[12] = (uint8_t)(n >> 24), out[13] = (uint8_t)(n >> 16), out[14] = (uint8_t)(n >> 8), out[15] = (uint8_t)n;
	memcpy(out + 16, body, n);
	return 16 + n;
}

static void test_route_info_strings(void)
{
	static const struct {
		const char *desc;
		const char *body;
		size_t len;
		int want;
		const char *service, *method;
	} cases[] = {
		{ "chunked 'R' + final 'S' service", "\x05" "2.0.2" "R\x00\x02" "ab" "S\x00\x01" "c" "\x00" "\x01" "m" "\x00", 19, 0, "abc", "m" },
		{ "medium string 0x30", "\x00" "\x30\x03" "abc" "\x00" "\x02" "mm", 11, 0, "abc", "mm" },
		{ "UTF-8 counted in chars, not bytes", "\x00" "\x02" "\xe4\xb8\xad\xe6\x96\x87" "\x00" "\x01" "x", 12, 0, "\xe4\xb8\xad\xe6\x96\x87", "x" },
		{ "null service version", "\x00" "\x01" "s" "N" "\x01" "m" "\x00", 7, 0, "s", "m" },
		{ "truncated string", "\x00" "\x05" "ab", 4, -XM_CODEC_E_BODY, NULL, NULL },
		{ "bad UTF-8 continuation", "\x00" "\x01" "\xc3\x41" "\x00" "\x01" "m", 7, -XM_CODEC_E_BODY, NULL, NULL },
		{ "not a string", "\x91" "\x01" "s", 3, -XM_CODEC_E_BODY, NULL, NULL },
		{ "empty body", "", 0, -XM_CODEC_E_BODY, NULL, NULL },
		{ "garbage after method: attachments skipped quietly", "\x00" "\x01" "s" "\x00" "\x01" "m" "\x01" "I" "\xff", 10, 0, "s", "m" },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		uint8_t buf[256];
		size_t len = make_req(buf, cases[i].body, cases[i].len);
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_frame f;
			static struct xm_route_info ri;
			view(&v, buf, len, segs[s]);
			T_CHECK_EQ(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f), (ssize_t)len);
			int r = dubbo()->ops->route_info(dubbo(), &v, &f, &ri);
			if (r != cases[i].want)
				fprintf(stderr, "  case: %s: got %d\n", cases[i].desc, r);
			T_CHECK_EQ(r, cases[i].want);
			if (r == 0) {
				T_CHECK(is(ri.service, ri.service_len, cases[i].service));
				T_CHECK(is(ri.method, ri.method_len, cases[i].method));
			}
		}
	}
	/* another serialization: framing works, routing keys are refused by name */
	uint8_t buf[64];
	size_t len = make_req(buf, "\x00", 1);
	buf[2] = 0xc6; /* kryo */
	struct xm_iview v;
	struct xm_frame f;
	static struct xm_route_info ri;
	view(&v, buf, len, 0);
	T_CHECK_EQ(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f), (ssize_t)len);
	T_CHECK_EQ(dubbo()->ops->route_info(dubbo(), &v, &f, &ri), -XM_CODEC_E_VERSION);
}

static void test_heartbeat_reply(void)
{
	struct xm_iview v;
	struct xm_frame f;
	uint8_t out[64];
	view(&v, dubbo_heartbeat, sizeof(dubbo_heartbeat), 1);
	T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
	ssize_t n = dubbo()->ops->heartbeat_reply(dubbo(), &v, &f, out, sizeof(out));
	/* what Dubbo's HeaderExchangeHandler answers: response, event, status 20, data null */
	T_CHECK_EQ(n, (ssize_t)sizeof(dubbo_heartbeat_ack));
	T_CHECK(n > 0 && memcmp(out, dubbo_heartbeat_ack, (size_t)n) == 0);
	T_CHECK_EQ(dubbo()->ops->heartbeat_reply(dubbo(), &v, &f, out, 16), -ENOSPC);
	view(&v, dubbo_request, sizeof(dubbo_request), 0);
	T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
	T_CHECK_EQ(dubbo()->ops->heartbeat_reply(dubbo(), &v, &f, out, sizeof(out)), -EINVAL);
}

static void test_hijack(void)
{
	static const struct {
		const char *desc;
		enum xm_status st;
		uint8_t raw;
		enum xm_status back;
	} cases[] = {
		{ "no route -> SERVICE_NOT_FOUND", XM_STATUS_NO_ROUTE, 60, XM_STATUS_NO_ROUTE },
		{ "timeout -> SERVER_TIMEOUT", XM_STATUS_TIMEOUT, 31, XM_STATUS_TIMEOUT },
		{ "overflow -> SERVER_THREADPOOL_EXHAUSTED", XM_STATUS_OVERFLOW, 100, XM_STATUS_OVERFLOW },
		{ "unavailable -> SERVER_ERROR", XM_STATUS_UNAVAILABLE, 80, XM_STATUS_SERVER_ERROR },
		{ "server error -> SERVICE_ERROR", XM_STATUS_SERVER_ERROR, 70, XM_STATUS_SERVER_ERROR },
		{ "codec error -> BAD_REQUEST", XM_STATUS_CODEC_ERROR, 40, XM_STATUS_CODEC_ERROR },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xm_iview v, rv;
		struct xm_frame f, rf;
		uint8_t out[2048];
		view(&v, dubbo_request, sizeof(dubbo_request), 7);
		T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
		ssize_t n = dubbo()->ops->hijack(dubbo(), &v, &f, cases[i].st, "no healthy host in cluster \"demo\"", out, sizeof(out));
		T_CHECK(n > 16);
		if (n <= 16)
			continue;
		view(&rv, out, (size_t)n, 0);
		T_CHECK_EQ(dubbo()->ops->split(dubbo(), &rv, 1 << 20, &rf), n);
		T_CHECK_EQ(rf.kind, XM_FRAME_RESPONSE);
		T_CHECK_EQ(rf.id, 1);
		T_CHECK_EQ(rf.raw_status, cases[i].raw);
		T_CHECK_EQ(rf.status, cases[i].back);
		T_CHECK_EQ(out[2], 0x02); /* response, hessian2 */
		/* the body is one hessian string: 'S' len16 (>= 32 chars) */
		T_CHECK_EQ(out[16], 'S');
		T_CHECK_EQ((size_t)(out[17] << 8 | out[18]), (size_t)n - 19);
		T_CHECK(memmem(out, (size_t)n, "xmesh: ", 7) != NULL);
	}
	struct xm_iview v;
	struct xm_frame f;
	uint8_t out[64];
	view(&v, dubbo_request, sizeof(dubbo_request), 0);
	T_CHECK(dubbo()->ops->split(dubbo(), &v, 1 << 20, &f) > 0);
	T_CHECK_EQ(dubbo()->ops->hijack(dubbo(), &v, &f, XM_STATUS_TIMEOUT, NULL, out, 20), -ENOSPC);
	T_CHECK_EQ(dubbo()->ops->hijack(dubbo(), &v, &f, XM_STATUS_OK, NULL, out, sizeof(out)), -EINVAL);
}

T_MAIN_BEGIN
	T_RUN("real frames split at every segment size; prefixes need more", test_split);
	T_RUN("malformed headers are refused; readonly event is goaway", test_split_errors);
	T_RUN("route info: path, method, version, attachments", test_route_info);
	T_RUN("hessian string forms and invalid bodies", test_route_info_strings);
	T_RUN("heartbeat reply is Dubbo's event response", test_heartbeat_reply);
	T_RUN("hijack builds a status response with a hessian message", test_hijack);
T_MAIN_END
