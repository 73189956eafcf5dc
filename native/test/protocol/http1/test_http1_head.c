/* Tests for HTTP/1 heads: positions across segments, the resumable scan, limits, pipelining, reason names. */
#include <stdio.h>
#include <string.h>

#include "http1.h"
#include "t.h"
#include "t_http1.h"

static const struct xm_http1_limits lim = {
	.max_head_bytes = 1024,
	.max_fields = 32,
	.max_body = 1 << 20,
	.max_chunk_line = 64,
	.max_trailer_bytes = 256,
};

static struct iovec iov[TH_MAX_IOV];

static ssize_t parse_req(struct xm_http1_head *h, const char *s, size_t seg)
{
	struct xm_iview v;
	th_view(&v, iov, (const uint8_t *)s, 0, strlen(s), NULL, 0, seg, 0);
	return xm_http1_parse_request(h, &v, &lim);
}

static void test_names_and_statuses(void)
{
	const char *seen[XM_H1_E__COUNT];
	for (int e = 1; e < XM_H1_E__COUNT; e++) {
		seen[e] = xm_http1_err_name(e);
		T_CHECK(strcmp(seen[e], "unknown") != 0);
		T_CHECK(strcmp(xm_http1_err_name(-e), seen[e]) == 0);
		for (int f = 1; f < e; f++)
			T_CHECK(strcmp(seen[f], seen[e]) != 0);
		int st = xm_http1_err_status(e, 0);
		T_CHECK(st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505);
		T_CHECK_EQ(xm_http1_err_status(-e, 1), 502);
	}
	T_CHECK(strcmp(xm_http1_err_name(XM_H1_E__COUNT), "unknown") == 0);
	T_CHECK(strcmp(xm_http1_err_name(-1000), "unknown") == 0);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E_VERSION, 0), 505);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E_TE_UNSUPPORTED, 0), 501);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E_TOO_MANY_FIELDS, 0), 431);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E_BODY_TOO_LARGE, 0), 413);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E_TARGET_TOO_LONG, 0), 414);
	T_CHECK_EQ(xm_http1_err_status(XM_H1_OK, 0), 500); /* not a refusal: a caller bug */
	T_CHECK_EQ(xm_http1_err_status(XM_H1_E__COUNT, 1), 500);
}

/* Every recognised name, in any case, gets its id; near misses do not. */
static void test_known_fields(void)
{
	static const struct { const char *name; uint8_t id; } k[] = {
		{ "Content-Length", XM_H1_H_CONTENT_LENGTH }, { "TRANSFER-ENCODING", XM_H1_H_TRANSFER_ENCODING },
		{ "host", XM_H1_H_HOST }, { "Connection", XM_H1_H_CONNECTION }, { "Upgrade", XM_H1_H_UPGRADE },
		{ "Expect", XM_H1_H_EXPECT }, { "Keep-Alive", XM_H1_H_KEEP_ALIVE },
		{ "Proxy-Connection", XM_H1_H_PROXY_CONNECTION }, { "TE", XM_H1_H_TE }, { "Trailer", XM_H1_H_TRAILER },
		{ "Trailers", XM_H1_H_OTHER }, { "Hosts", XM_H1_H_OTHER }, { "Content-Length2", XM_H1_H_OTHER },
		{ "X-Transfer-Encoding-Is-A-Long-Name", XM_H1_H_OTHER },
	};
	for (size_t i = 0; i < TH_ARRAY_SIZE(k); i++) {
		char req[160];
		struct xm_http1_field f[4];
		struct xm_http1_head h;
		snprintf(req, sizeof(req), "GET / HTTP/1.0\r\n%s: 100-continue\r\n\r\n", k[i].name);
		xm_http1_head_init(&h, f, 4);
		ssize_t r = parse_req(&h, req, 0);
		if (k[i].id == XM_H1_H_CONTENT_LENGTH) {
			T_CHECK_EQ(r, -XM_H1_E_CL_INVALID);
			continue;
		}
		if (k[i].id == XM_H1_H_TRANSFER_ENCODING) {
			T_CHECK_EQ(r, -XM_H1_E_TE_HTTP10);
			continue;
		}
		T_CHECK_EQ(r, (ssize_t)strlen(req)); /* "100-continue" is a valid reg-name for Host */
		T_CHECK_EQ(f[0].known, k[i].id);
		T_CHECK_EQ(!!(h.flags & XM_H1_F_HOST), k[i].id == XM_H1_H_HOST);
	}
}

/* Every span lands on the same bytes however the head is cut into segments. */
static void test_spans_across_segments(void)
{
	static const char req[] = "POST http://svc.example:8080/a/b?c=d HTTP/1.1\r\n"
				  "Host: svc.example:8080\r\n"
				  "User-Agent: curl/8.5.0\r\n"
				  "X-Long:   some value with  spaces \t \r\n"
				  "Content-Length: 11\r\n"
				  "\r\n";
	static const size_t segs[] = { 0, 1, 2, 3, 5, 7, 13, 64 };
	for (size_t i = 0; i < TH_ARRAY_SIZE(segs); i++) {
		struct xm_http1_field f[8];
		struct xm_http1_head h;
		xm_http1_head_init(&h, f, 8);
		ssize_t r = parse_req(&h, req, segs[i]);
		T_CHECK_EQ(r, (ssize_t)strlen(req));
		T_CHECK_EQ(h.len, strlen(req));
		T_CHECK_EQ(h.nfields, 4);
		T_CHECK_EQ(h.method, XM_H1_M_POST);
		T_CHECK_EQ(h.form, XM_H1_FORM_ABSOLUTE);
		T_CHECK_EQ(h.body, XM_H1_BODY_LENGTH);
		T_CHECK_EQ(h.content_length, 11);
		const uint8_t *m = (const uint8_t *)req;
		T_CHECK(th_span_is(m, h.target, "http://svc.example:8080/a/b?c=d"));
		T_CHECK(th_span_is(m, h.authority, "svc.example:8080"));
		T_CHECK(th_span_is(m, h.host, "svc.example:8080"));
		T_CHECK(th_span_is(m, f[1].name, "User-Agent"));
		T_CHECK(th_span_is(m, f[1].value, "curl/8.5.0"));
		T_CHECK(th_span_is(m, f[2].value, "some value with  spaces"));
		T_CHECK_EQ(f[3].known, XM_H1_H_CONTENT_LENGTH);
		T_CHECK_EQ(f[3].end, strlen(req) - 2);
		T_CHECK_EQ(f[0].known, XM_H1_H_HOST);
	}
}

/* Views may hold empty iovecs (NULL base): they are skipped. */
static void test_empty_iovecs(void)
{
	static const char a[] = "GET / HT", b[] = "TP/1.1\r\nHo", c[] = "st: a\r\n\r\n";
	struct iovec v6[6] = {
		{ NULL, 0 }, { (void *)a, 8 }, { NULL, 0 }, { (void *)b, 10 }, { (void *)c, 9 }, { NULL, 0 },
	};
	struct xm_iview v = { v6, 6, 27 };
	struct xm_http1_head h;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), 27);
	T_CHECK_EQ(h.host.off, 22);
	T_CHECK_EQ(h.host.len, 1);
}

/* A head that trickles in: 0 until its end arrives, then the same result as in one piece;
 * the scan resumes where it stopped. */
static void test_trickle(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
	struct xm_http1_field f[8];
	struct xm_http1_head h, ref;
	struct xm_iview v;
	size_t n = strlen(req);

	xm_http1_head_init(&ref, f, 8);
	T_CHECK_EQ(parse_req(&ref, req, 0), (ssize_t)n);
	xm_http1_head_init(&h, f, 8);
	uint32_t last_scan = 0;
	for (size_t k = 1; k < n; k++) {
		th_view(&v, iov, (const uint8_t *)req, 0, k, NULL, 0, 3, 0);
		T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), 0);
		T_CHECK(h.scan_off >= last_scan);
		last_scan = h.scan_off;
	}
	th_view(&v, iov, (const uint8_t *)req, 0, n, NULL, 0, 3, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), (ssize_t)n);
	T_CHECK_EQ(h.nfields, ref.nfields);
	T_CHECK_EQ(h.target.off, ref.target.off);
	T_CHECK_EQ(h.flags, ref.flags);
}

/* Garbage is refused on its first bytes, not after max_head_bytes. */
static void test_fail_fast(void)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	struct xm_http1_head h;
	struct xm_iview v;

	xm_http1_head_init(&h, NULL, 0);
	th_view(&v, iov, tls, 0, 3, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), -XM_H1_E_START_LINE);
	T_CHECK_EQ(h.err, XM_H1_E_START_LINE);
	T_CHECK_EQ(h.err_off, 0);

	xm_http1_head_init(&h, NULL, 0);
	th_view(&v, iov, (const uint8_t *)"hello", 0, 5, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_GET), -XM_H1_E_START_LINE);

	/* a valid prefix waits */
	xm_http1_head_init(&h, NULL, 0);
	th_view(&v, iov, (const uint8_t *)"HTTP/1.1 2", 0, 10, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_GET), 0);
	/* an error in a complete field line before the head ends */
	xm_http1_head_init(&h, NULL, 0);
	th_view(&v, iov, (const uint8_t *)"GET / HTTP/1.1\r\nX : 1\r\n", 0, 23, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), -XM_H1_E_WS_BEFORE_COLON);
	T_CHECK_EQ(h.err_off, 17);
}

static void test_err_off(void)
{
	struct xm_http1_head h;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nX: ab\x01\r\n\r\n", 0), -XM_H1_E_FIELD_VALUE);
	T_CHECK_EQ(h.err_off, 30);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(parse_req(&h, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 0), -XM_H1_E_CL_INVALID);
	T_CHECK_EQ(h.err_off, 25); /* the field's line */
}

/* max_head_bytes counts the whole head; the array given may bound max_fields further. */
static void test_limits(void)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	struct xm_http1_limits l = lim;
	struct xm_http1_field f[2];
	struct xm_http1_head h;
	struct xm_iview v;
	size_t n = strlen(req);

	th_view(&v, iov, (const uint8_t *)req, 0, n, NULL, 0, 0, 0);
	l.max_head_bytes = (uint32_t)n;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), (ssize_t)n);
	l.max_head_bytes = (uint32_t)n - 1;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), -XM_H1_E_HEAD_TOO_LARGE);

	l = lim;
	l.max_fields = 3;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), (ssize_t)n);
	T_CHECK_EQ(h.nfields, 3);
	l.max_fields = 2;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), -XM_H1_E_TOO_MANY_FIELDS);
	/* an array of 2 is a limit of 2 */
	xm_http1_head_init(&h, f, 2);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &lim), -XM_H1_E_TOO_MANY_FIELDS);
	/* a head limit below the early-judging window */
	l = lim;
	l.max_head_bytes = 10;
	xm_http1_head_init(&h, NULL, 0);
	th_view(&v, iov, (const uint8_t *)req, 0, 9, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), 0);
	th_view(&v, iov, (const uint8_t *)req, 0, 12, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), -XM_H1_E_TARGET_TOO_LONG);
	/* leading empty lines count */
	static const char lead[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	th_view(&v, iov, (const uint8_t *)lead, 0, strlen(lead), NULL, 0, 0, 0);
	l = lim;
	l.max_head_bytes = (uint32_t)strlen(lead) - 1;
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_request(&h, &v, &l), -XM_H1_E_HEAD_TOO_LARGE);
}

/* Pipelining: each head's length lets the caller move on to the next one. */
static void test_pipeline_offsets(void)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.0\r\n\r\n";
	size_t off = 0, n = strlen(in);
	int count = 0;
	while (off < n) {
		struct xm_http1_head h;
		struct xm_iview v;
		char want[16];
		th_view(&v, iov, (const uint8_t *)in, off, n, NULL, 0, 4, 0);
		xm_http1_head_init(&h, NULL, 0);
		ssize_t r = xm_http1_parse_request(&h, &v, &lim);
		T_CHECK(r > 0);
		if (r <= 0)
			return;
		count++;
		snprintf(want, sizeof(want), "/%d", count);
		T_CHECK(th_span_is((const uint8_t *)in + off, h.target, want));
		T_CHECK_EQ(!!(h.flags & XM_H1_F_KEEP_ALIVE), count < 3);
		off += (size_t)r;
	}
	T_CHECK_EQ(count, 3);
}

static void test_response_framing(void)
{
	static const char r200[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	struct xm_http1_head h;
	struct xm_iview v;

	th_view(&v, iov, (const uint8_t *)r200, 0, strlen(r200), NULL, 0, 0, 0);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_GET), (ssize_t)strlen(r200));
	T_CHECK_EQ(h.body, XM_H1_BODY_LENGTH);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_HEAD), (ssize_t)strlen(r200));
	T_CHECK_EQ(h.body, XM_H1_BODY_NONE);
	T_CHECK_EQ(h.content_length, 3);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_CONNECT), (ssize_t)strlen(r200));
	T_CHECK_EQ(h.body, XM_H1_BODY_TUNNEL);
	T_CHECK(!(h.flags & XM_H1_F_KEEP_ALIVE));

	static const char r407[] = "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n";
	th_view(&v, iov, (const uint8_t *)r407, 0, strlen(r407), NULL, 0, 0, 0);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_CONNECT), (ssize_t)strlen(r407));
	T_CHECK_EQ(h.body, XM_H1_BODY_NONE); /* only a 2xx opens the tunnel */
	T_CHECK(h.flags & XM_H1_F_KEEP_ALIVE);

	static const char r10[] = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
	th_view(&v, iov, (const uint8_t *)r10, 0, strlen(r10), NULL, 0, 0, 0);
	xm_http1_head_init(&h, NULL, 0);
	T_CHECK_EQ(xm_http1_parse_response(&h, &v, &lim, XM_H1_M_GET), (ssize_t)strlen(r10));
	T_CHECK_EQ(h.version, 10);
	T_CHECK(h.flags & XM_H1_F_KEEP_ALIVE);
}

T_MAIN_BEGIN
	T_RUN("every reason has a unique name and a status", test_names_and_statuses);
	T_RUN("recognised field names get their id", test_known_fields);
	T_RUN("spans point at the same bytes for any segmentation", test_spans_across_segments);
	T_RUN("empty iovecs with NULL base are skipped", test_empty_iovecs);
	T_RUN("a trickling head returns 0 until complete, scan resumes", test_trickle);
	T_RUN("garbage is refused on its first bytes", test_fail_fast);
	T_RUN("err_off points at the offending byte or line", test_err_off);
	T_RUN("head size and field count limits, array cap", test_limits);
	T_RUN("pipelined heads parse one after another", test_pipeline_offsets);
	T_RUN("response framing depends on the request method", test_response_framing);
T_MAIN_END
