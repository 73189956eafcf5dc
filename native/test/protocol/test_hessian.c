/* Tests for the Hessian2 string reader: ASCII runs, multibyte and supplementary chars, chunks, too-long strings, over every segmentation. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "protocol/hessian/hessian.h"
#include "t.h"
#include "xm.h"

static const size_t segs[] = { 0, 1, 2, 3, 5, 16 };
static struct iovec iovs[1024];

static void view(struct xm_iview *v, const uint8_t *buf, size_t len, size_t seg)
{
	if (seg == 0)
		xm_iview_flat(v, iovs, buf, len);
	else
		xm_iview_segmented(v, iovs, XM_ARRAY_SIZE(iovs), buf, len, seg);
}

static void test_string(void)
{
	/* "abc" + U+00FC (2 bytes) + "d" + U+1F600 (4 bytes, 2 UTF-16 units): 7 chars, 10 bytes */
	static const uint8_t mixed[] = { 0x07, 'a', 'b', 'c', 0xc3, 0xbc, 'd', 0xf0, 0x9f, 0x98, 0x80 };
	static const uint8_t ascii[] = { 0x0a, 'm', 'e', 't', 'h', 'o', 'd', 'N', 'a', 'm', 'e' };
	/* draft chunk 's' (3 chars) then final 'S' (2 chars) */
	static const uint8_t chunks[] = { 's', 0x00, 0x03, 'a', 'b', 'c', 'S', 0x00, 0x02, 'd', 'e' };
	static const uint8_t medium[] = { 0x30, 0x21, 'o', 'r', 'g', '.', 'a', 'p', 'a', 'c', 'h', 'e', '.', 'd', 'u', 'b', 'b',
					 'o', '.', 'd', 'e', 'm', 'o', '.', 'D', 'e', 'm', 'o', 'S', 'e', 'r', 'v', 'i', 'c', 'e' };
	static const uint8_t truncated[] = { 0x05, 'a', 'b' };
	static const uint8_t bad_utf8[] = { 0x03, 'a', 0xff, 'b' };
	static const uint8_t null_str[] = { 'N' };
	static const struct {
		const char *desc;
		const uint8_t *buf;
		size_t len;
		size_t cap;
		int draft;
		int rc;
		const char *want; /* the string (rc 0) or the prefix kept (rc -E2BIG) */
		size_t consumed;
	} cases[] = {
		{ "ASCII field name", ascii, sizeof(ascii), 64, 1, 0, "methodName", sizeof(ascii) },
		{ "ASCII with 2- and 4-byte chars", mixed, sizeof(mixed), 64, 0, 0, "abc\xc3\xbc" "d\xf0\x9f\x98\x80", sizeof(mixed) },
		{ "draft chunks joined", chunks, sizeof(chunks), 64, 1, 0, "abcde", sizeof(chunks) },
		{ "medium length (0x30)", medium, sizeof(medium), 64, 0, 0, "org.apache.dubbo.demo.DemoService", sizeof(medium) },
		{ "too long: a prefix is kept, all consumed", ascii, sizeof(ascii), 4, 1, -E2BIG, "meth", sizeof(ascii) },
		{ "too long inside a multibyte run", mixed, sizeof(mixed), 4, 0, -E2BIG, "abc", sizeof(mixed) },
		{ "truncated", truncated, sizeof(truncated), 64, 0, -EBADMSG, NULL, 0 },
		{ "malformed UTF-8", bad_utf8, sizeof(bad_utf8), 64, 0, -EBADMSG, NULL, 0 },
		{ "null", null_str, sizeof(null_str), 64, 0, 1, "", 1 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
			struct xm_iview v;
			struct xm_hcur c;
			char out[64];
			size_t len = 0;
			int bad = t__case_failed;
			memset(out, 0, sizeof(out));
			view(&v, cases[i].buf, cases[i].len, segs[s]);
			xm_hcur_init(&c, &v, 0, v.len, cases[i].draft);
			int rc = xm_hessian_string(&c, out, cases[i].cap, &len);
			T_CHECK_EQ(rc, cases[i].rc);
			if (cases[i].want) {
				size_t wl = strlen(cases[i].want);
				T_CHECK_EQ(len, rc == -E2BIG ? cases[i].cap : wl);
				T_CHECK(memcmp(out, cases[i].want, wl) == 0);
				T_CHECK_EQ(c.pos, cases[i].consumed);
			}
			/* skipping (no destination) consumes the same bytes */
			xm_hcur_init(&c, &v, 0, v.len, cases[i].draft);
			rc = xm_hessian_string(&c, NULL, 0, &len);
			T_CHECK_EQ(rc, cases[i].rc == -E2BIG ? 0 : cases[i].rc);
			if (cases[i].want)
				T_CHECK_EQ(c.pos, cases[i].consumed);
			if (t__case_failed && !bad)
				fprintf(stderr, "  case: %s, segments of %zu\n", cases[i].desc, segs[s]);
		}
	}
}

static void test_end_bound(void)
{
	/* A cursor bounded before the string's end must not read past it, even when the
	 * bytes beyond are in the same segment. */
	static const uint8_t buf[] = { 0x05, 'a', 'b', 'c', 'd', 'e' };
	for (size_t s = 0; s < XM_ARRAY_SIZE(segs); s++) {
		struct xm_iview v;
		struct xm_hcur c;
		char out[8];
		size_t len;
		view(&v, buf, sizeof(buf), segs[s]);
		xm_hcur_init(&c, &v, 0, 4, 0);
		T_CHECK_EQ(xm_hessian_string(&c, out, sizeof(out), &len), -EBADMSG);
		T_CHECK(c.pos <= 4);
	}
}

T_MAIN_BEGIN
T_RUN("strings: ASCII runs, multibyte, chunks, too long, malformed, over every segmentation", test_string);
T_RUN("the cursor never reads past its end bound", test_end_bound);
T_MAIN_END
