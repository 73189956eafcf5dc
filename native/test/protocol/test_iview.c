/* Tests for the segmented view, the bounded route-info buffer, codec error names and built-in lookup. */
#include <string.h>
#include <sys/uio.h>

#include "protocol/codec.h"
#include "xm.h"
#include "t.h"

static void test_reads_across_segments(void)
{
	uint8_t buf[64];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	static const size_t segs[] = { 1, 2, 3, 5, 7, 64, 16384 };
	for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
		struct iovec iov[64];
		struct xm_iview v;
		uint8_t out[64];
		xm_iview_segmented(&v, iov, XM_ARRAY_SIZE(iov), buf, sizeof(buf), segs[s]);
		T_CHECK_EQ(v.len, sizeof(buf));
		T_CHECK_EQ(xm_iview_u8(&v, 63), 63);
		T_CHECK_EQ(xm_iview_be16(&v, 6), 0x0607);
		T_CHECK_EQ(xm_iview_be32(&v, 1), 0x01020304);
		T_CHECK(xm_iview_be64(&v, 56) == 0x38393a3b3c3d3e3full);
		T_CHECK_EQ(xm_iview_copy(&v, 10, out, 50), 0);
		T_CHECK(memcmp(out, buf + 10, 50) == 0);
		T_CHECK_EQ(xm_iview_copy(&v, 0, out, 64), 0);
		T_CHECK_EQ(xm_iview_copy(&v, 64, out, 0), 0);
		/* out of range, including offset + len overflow */
		T_CHECK_EQ(xm_iview_copy(&v, 60, out, 5), -1);
		T_CHECK_EQ(xm_iview_copy(&v, 65, out, 0), -1);
		T_CHECK_EQ(xm_iview_copy(&v, 1, out, SIZE_MAX), -1);
		T_CHECK_EQ(xm_iview_copy(&v, SIZE_MAX, out, 2), -1);
	}
}

static void test_write_across_segments(void)
{
	uint8_t buf[16] = { 0 };
	struct iovec iov[16];
	struct xm_iview v;
	xm_iview_segmented(&v, iov, XM_ARRAY_SIZE(iov), buf, sizeof(buf), 3);
	static const uint8_t id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	T_CHECK_EQ(xm_iview_write(&v, 4, id, 8), 0);
	T_CHECK(memcmp(buf + 4, id, 8) == 0);
	T_CHECK_EQ(buf[3], 0);
	T_CHECK_EQ(buf[12], 0);
	T_CHECK_EQ(xm_iview_write(&v, 12, id, 8), -1);
	T_CHECK_EQ(buf[12], 0); /* a refused write writes nothing */
}

static void test_segmented_shapes(void)
{
	uint8_t buf[10];
	struct iovec iov[4];
	struct xm_iview v;
	/* more segments than iovs: the last one takes the rest */
	xm_iview_segmented(&v, iov, 4, buf, sizeof(buf), 1);
	T_CHECK_EQ(v.niov, 4);
	T_CHECK_EQ(v.len, 10);
	T_CHECK_EQ(iov[3].iov_len, 7);
	xm_iview_segmented(&v, iov, 4, buf, 0, 3);
	T_CHECK_EQ(v.niov, 0);
	T_CHECK_EQ(v.len, 0);
	T_CHECK_EQ(xm_iview_copy(&v, 0, buf, 0), 0);
	T_CHECK_EQ(xm_iview_copy(&v, 0, buf, 1), -1);
	xm_iview_flat(&v, iov, buf, sizeof(buf));
	T_CHECK_EQ(v.niov, 1);
	T_CHECK_EQ(v.len, 10);
}

static void test_route_info_buffer(void)
{
	static struct xm_route_info ri;
	memset(&ri, 0, sizeof(ri));
	const char *k = xm_route_info_put(&ri, "group", 5);
	const char *val = xm_route_info_put(&ri, "g1", 2);
	T_CHECK(k && val);
	T_CHECK_EQ(xm_route_info_meta(&ri, k, 5, val, 2), 0);
	uint16_t vl = 0;
	const char *got = xm_route_info_get(&ri, "group", 5, &vl);
	T_CHECK(got == val && vl == 2);
	T_CHECK(xm_route_info_get(&ri, "grou", 4, NULL) == NULL);
	/* the buffer is bounded: a put that does not fit fails whole */
	static char big[XM_ROUTE_BUF];
	memset(big, 'x', sizeof(big));
	T_CHECK(xm_route_info_put(&ri, big, XM_ROUTE_BUF - ri.used + 1) == NULL);
	T_CHECK(xm_route_info_put(&ri, big, XM_ROUTE_BUF - ri.used) != NULL);
	T_CHECK_EQ(ri.used, XM_ROUTE_BUF);
	T_CHECK(xm_route_info_put(&ri, "y", 1) == NULL);
	T_CHECK(xm_route_info_put(&ri, "", 0) != NULL);
	/* copy from a view, out of range refused */
	uint8_t src[8] = "abcdefg";
	struct iovec iov[8];
	struct xm_iview v;
	xm_iview_segmented(&v, iov, 8, src, 8, 3);
	memset(&ri, 0, sizeof(ri));
	const char *c = xm_route_info_copy(&ri, &v, 2, 4);
	T_CHECK(c && memcmp(c, "cdef", 4) == 0);
	T_CHECK(xm_route_info_copy(&ri, &v, 6, 4) == NULL);
	T_CHECK_EQ(ri.used, 4);
	/* at most XM_ROUTE_MAX_METAS metas */
	for (int i = 0; i < XM_ROUTE_MAX_METAS; i++)
		T_CHECK_EQ(xm_route_info_meta(&ri, c, 1, c, 1), 0);
	T_CHECK_EQ(xm_route_info_meta(&ri, c, 1, c, 1), -1);
}

static void test_names_and_builtins(void)
{
	static const struct {
		int err;
		const char *name;
	} cases[] = {
		{ -XM_CODEC_E_MAGIC, "magic" },   { -XM_CODEC_E_TOO_LARGE, "too_large" }, { -XM_CODEC_E_LENGTH, "length" },
		{ -XM_CODEC_E_HEADER, "header" }, { -XM_CODEC_E_VERSION, "version" },     { -XM_CODEC_E_BODY, "body" },
		{ XM_CODEC_E_BODY, "body" },      { -99, "unknown" },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++)
		T_CHECK(strcmp(xm_codec_err_name(cases[i].err), cases[i].name) == 0);
	T_CHECK(xm_codec_builtin("bolt") && strcmp(xm_codec_builtin("bolt")->name, "bolt") == 0);
	T_CHECK(xm_codec_builtin("dubbo") && xm_codec_builtin("dubbo")->pool_mode == XM_POOL_MULTIPLEX);
	T_CHECK(xm_codec_builtin("http") == NULL);
	T_CHECK(xm_codec_builtin(NULL) == NULL);
}

T_MAIN_BEGIN
	T_RUN("fixed-width reads and copies across segments; out of range refused", test_reads_across_segments);
	T_RUN("request-id write spans segments; out of range writes nothing", test_write_across_segments);
	T_RUN("segmented views: iov cap, empty, flat", test_segmented_shapes);
	T_RUN("route info buffer and metas are bounded", test_route_info_buffer);
	T_RUN("error names and built-in codec lookup", test_names_and_builtins);
T_MAIN_END
