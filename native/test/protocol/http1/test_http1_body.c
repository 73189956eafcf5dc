/* Tests for HTTP/1 body framing: payload reported by reference, partial lines never consumed, limits, sticky errors. */
#include <stdio.h>
#include <string.h>

#include "http1.h"
#include "t.h"
#include "t_http1.h"

static const struct xm_http1_limits lim = {
	.max_head_bytes = 1024,
	.max_fields = 8,
	.max_body = 100,
	.max_chunk_line = 32,
	.max_trailer_bytes = 64,
};

static struct iovec iov[TH_MAX_IOV];

static void body_init(struct xm_http1_body *b, int kind, uint64_t cl)
{
	struct xm_http1_head h;
	xm_http1_head_init(&h, NULL, 0);
	h.body = (uint8_t)kind;
	h.content_length = cl;
	xm_http1_body_init(b, &h, &lim);
}

static void test_init(void)
{
	struct xm_http1_body b;
	body_init(&b, XM_H1_BODY_NONE, 0);
	T_CHECK(b.done);
	body_init(&b, XM_H1_BODY_LENGTH, 0);
	T_CHECK(b.done);
	body_init(&b, XM_H1_BODY_LENGTH, 3);
	T_CHECK(!b.done);
	body_init(&b, XM_H1_BODY_CHUNKED, 0);
	T_CHECK(!b.done);
}

/* A Content-Length body is one range per call, and stops at the message end. */
static void test_length(void)
{
	static const char in[] = "helloworldGET";
	struct xm_http1_body b;
	struct xm_http1_span d[4];
	struct xm_iview v;
	unsigned nd;

	body_init(&b, XM_H1_BODY_LENGTH, 10);
	th_view(&v, iov, (const uint8_t *)in, 0, 4, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 4, &nd, NULL), 4);
	T_CHECK_EQ(nd, 1);
	T_CHECK_EQ(d[0].off, 0);
	T_CHECK_EQ(d[0].len, 4);
	T_CHECK_EQ(b.remaining, 6);
	th_view(&v, iov, (const uint8_t *)in, 4, strlen(in), NULL, 0, 3, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 4, &nd, NULL), 6);
	T_CHECK_EQ(d[0].len, 6);
	T_CHECK(b.done);
	T_CHECK_EQ(b.total, 10);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 4, &nd, NULL), 0); /* "GET" is the next message */
	T_CHECK_EQ(nd, 0);
}

/* Chunk data comes back as view ranges that skip the framing; cap bounds one call. */
static void test_chunked_ranges(void)
{
	static const char in[] = "3\r\nabc\r\n4;x=y\r\ndefg\r\n1\r\nh\r\n0\r\nT: 1\r\n\r\nNEXT";
	size_t n = strlen(in) - 4;
	static const size_t segs[] = { 0, 1, 2, 5 };
	for (size_t s = 0; s < TH_ARRAY_SIZE(segs); s++) {
		for (unsigned cap = 1; cap <= 3; cap++) {
			struct xm_http1_body b;
			struct xm_http1_span d[3], tr = { 0, 0 }, t;
			char out[16] = { 0 };
			size_t off = 0, olen = 0;
			unsigned nd, calls = 0;
			body_init(&b, XM_H1_BODY_CHUNKED, 0);
			while (!b.done && calls++ < 20) {
				struct xm_iview v;
				th_view(&v, iov, (const uint8_t *)in, off, strlen(in), NULL, 0, segs[s], 0);
				ssize_t r = xm_http1_body_parse(&b, &v, d, cap, &nd, &t);
				T_CHECK(r > 0);
				if (r <= 0)
					break;
				T_CHECK(nd <= cap);
				for (unsigned i = 0; i < nd; i++) {
					T_CHECK(d[i].off + d[i].len <= (size_t)r);
					memcpy(out + olen, in + off + d[i].off, d[i].len);
					olen += d[i].len;
				}
				if (t.len)
					tr = (struct xm_http1_span){ (uint32_t)(t.off + off), t.len };
				off += (size_t)r;
			}
			T_CHECK(b.done);
			T_CHECK_EQ(off, n);
			T_CHECK(strcmp(out, "abcdefgh") == 0);
			T_CHECK_EQ(b.total, 8);
			T_CHECK_EQ(b.chunks, 4);
			T_CHECK(th_span_is((const uint8_t *)in, tr, "T: 1\r\n"));
		}
	}
}

/* A chunk line (or trailer section) is consumed whole or not at all; data in any part. */
static void test_partial(void)
{
	static const char in[] = "5\r\nhello\r\n0\r\n\r\n";
	struct xm_http1_body b;
	struct xm_http1_span d[2];
	struct xm_iview v;
	unsigned nd;

	body_init(&b, XM_H1_BODY_CHUNKED, 0);
	th_view(&v, iov, (const uint8_t *)in, 0, 2, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), 0);
	th_view(&v, iov, (const uint8_t *)in, 0, 6, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), 6); /* line + "hel" */
	T_CHECK_EQ(nd, 1);
	T_CHECK_EQ(d[0].off, 3);
	T_CHECK_EQ(d[0].len, 3);
	th_view(&v, iov, (const uint8_t *)in, 6, 9, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), 2); /* "lo", the CR waits */
	th_view(&v, iov, (const uint8_t *)in, 8, 13, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), 5); /* CRLF + "0\r\n" */
	T_CHECK_EQ(nd, 0);
	T_CHECK(!b.done);
	th_view(&v, iov, (const uint8_t *)in, 13, strlen(in), NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), 2);
	T_CHECK(b.done);
}

static void test_max_body(void)
{
	char in[160];
	struct xm_http1_body b;
	struct xm_http1_span d[4];
	struct xm_iview v;
	unsigned nd;

	/* exactly max_body (100 = 0x64) decoded bytes pass */
	int n = snprintf(in, sizeof(in), "64\r\n%0100d\r\n0\r\n\r\n", 0);
	body_init(&b, XM_H1_BODY_CHUNKED, 0);
	th_view(&v, iov, (const uint8_t *)in, 0, (size_t)n, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 4, &nd, NULL), n);
	T_CHECK(b.done);
	/* one more across two chunks does not */
	n = snprintf(in, sizeof(in), "64\r\n%0100d\r\n1\r\nx\r\n0\r\n\r\n", 0);
	body_init(&b, XM_H1_BODY_CHUNKED, 0);
	th_view(&v, iov, (const uint8_t *)in, 0, (size_t)n, NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 4, &nd, NULL), -XM_H1_E_BODY_TOO_LARGE);
	T_CHECK_EQ(nd, 0);
}

/* Once refused, always refused: the connection cannot be resynchronised. */
static void test_sticky_error(void)
{
	static const char bad[] = "5x\r\nhello\r\n", good[] = "5\r\nhello\r\n";
	struct xm_http1_body b;
	struct xm_http1_span d[2];
	struct xm_iview v;
	unsigned nd;

	body_init(&b, XM_H1_BODY_CHUNKED, 0);
	th_view(&v, iov, (const uint8_t *)bad, 0, strlen(bad), NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), -XM_H1_E_CHUNK_SIZE);
	T_CHECK_EQ(b.err, XM_H1_E_CHUNK_SIZE);
	th_view(&v, iov, (const uint8_t *)good, 0, strlen(good), NULL, 0, 0, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 2, &nd, NULL), -XM_H1_E_CHUNK_SIZE);
}

static void test_close_delimited(void)
{
	static const char in[] = "anything at all\r\n0\r\n\r\n";
	struct xm_http1_body b;
	struct xm_http1_span d[1];
	struct xm_iview v;
	unsigned nd;

	body_init(&b, XM_H1_BODY_CLOSE, 0);
	th_view(&v, iov, (const uint8_t *)in, 0, strlen(in), NULL, 0, 4, 0);
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 1, &nd, NULL), (ssize_t)strlen(in));
	T_CHECK_EQ(nd, 1);
	T_CHECK_EQ(d[0].len, strlen(in));
	T_CHECK(!b.done);
	/* no room for a range: nothing consumed */
	T_CHECK_EQ(xm_http1_body_parse(&b, &v, d, 0, &nd, NULL), 0);
}

T_MAIN_BEGIN
	T_RUN("init marks bodies without bytes done", test_init);
	T_RUN("content-length body is one range per call and stops at the end", test_length);
	T_RUN("chunk data as view ranges for any segmentation and cap", test_chunked_ranges);
	T_RUN("partial chunk lines wait, partial data is consumed", test_partial);
	T_RUN("max_body bounds the decoded chunked total", test_max_body);
	T_RUN("a refused body stays refused", test_sticky_error);
	T_RUN("close-delimited bodies take every byte", test_close_delimited);
T_MAIN_END
