/* libFuzzer target for the HTTP/1 codec: the verdict must not depend on how bytes arrive, and every position must stay inside the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "t_http1.h"

/*
 * Input: one mode byte (bit 0: parse responses; bits 1-4: the request method they answer),
 * then the bytes of a connection. Each input is fed flat, then cut into segments, as two
 * reads, and as many small reads (one byte each up to 256 bytes): the verdicts must agree (th_same). On the
 * flat run every span the codec reports is checked against the input.
 * FZ_VERBOSE=1 prints each input's verdict (to check seeds are accepted).
 */

#define FZ_CHECK(cond)                                                                              \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort();                                                                    \
		}                                                                                   \
	} while (0)

/* Small limits so that every limit is within reach of short inputs. */
static const struct xm_http1_limits fz_lim = {
	.max_head_bytes = 2048,
	.max_fields = 24,
	.max_body = 1 << 16,
	.max_chunk_line = 64,
	.max_trailer_bytes = 256,
};

static int fz_inside(struct xm_http1_span s, size_t len)
{
	return (size_t)s.off + s.len <= len;
}

/* Direct checks on the first head: spans inside it, fields in order, names before values. */
static void fz_head(const struct th_verdict *v, size_t size)
{
	const struct xm_http1_head *h = &v->first;
	size_t len = v->m[0].head_len;

	FZ_CHECK(h->len == len && v->m[0].start + len <= size);
	FZ_CHECK(h->start < len);
	FZ_CHECK(fz_inside(h->method_s, len) && fz_inside(h->target, len) && fz_inside(h->authority, len));
	FZ_CHECK(fz_inside(h->host, len) && fz_inside(h->upgrade, len) && fz_inside(h->reason, len));
	FZ_CHECK(h->version == 10 || h->version == 11);
	FZ_CHECK(h->body <= XM_H1_BODY_TUNNEL);
	FZ_CHECK(h->nfields <= fz_lim.max_fields);
	uint32_t prev_end = 0;
	for (unsigned i = 0; i < h->nfields && i < 64; i++) {
		const struct xm_http1_field *f = &h->fields[i];
		FZ_CHECK(f->name.len > 0);
		FZ_CHECK(f->name.off >= prev_end);
		FZ_CHECK(f->value.off >= f->name.off + f->name.len + 1);
		FZ_CHECK((size_t)f->value.off + f->value.len + 2 <= f->end);
		FZ_CHECK(f->end <= len - 2);
		prev_end = f->end;
	}
	if (h->body == XM_H1_BODY_LENGTH)
		FZ_CHECK(h->content_length > 0 && h->content_length <= fz_lim.max_body);
}

static void fz_verdict(const struct th_verdict *v, size_t size)
{
	FZ_CHECK(v->err == TH_INCOMPLETE || (v->err >= 0 && v->err < XM_H1_E__COUNT));
	if (v->err && v->err != TH_INCOMPLETE)
		FZ_CHECK(strcmp(xm_http1_err_name(v->err), "unknown") != 0);
	FZ_CHECK(v->consumed <= size);
	FZ_CHECK(v->nmsgs <= TH_MAX_MSGS);
	size_t at = 0;
	for (unsigned i = 0; i < v->nmsgs; i++) {
		FZ_CHECK(v->m[i].start >= at);
		FZ_CHECK(v->m[i].head_len > 0);
		at = v->m[i].start + v->m[i].head_len;
		FZ_CHECK(at <= size);
	}
	if (v->nmsgs)
		fz_head(v, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct th_verdict ref, v;
	static const size_t segs[] = { 1, 2, 3, 7, 16, 61 };

	if (size < 1)
		return 0;
	struct th_feed f = { .response = data[0] & 1, .req_method = (enum xm_http1_method)((data[0] >> 1) % 10), .lim = &fz_lim };
	uint8_t *buf = malloc(size); /* an exact-size copy: ASan sees any read past the end */
	size_t len = size - 1, whole[1] = { len };
	memcpy(buf, data + 1, len);

	th_feed(&f, buf, len, whole, 1, 0, 0, &ref);
	fz_verdict(&ref, len);
	if (getenv("FZ_VERBOSE"))
		fprintf(stderr, "verdict: %s%s, %u message(s), %zu/%zu bytes\n",
			ref.err == TH_INCOMPLETE ? "incomplete" : xm_http1_err_name(ref.err), ref.err ? "" : " (accepted)",
			ref.nmsgs, ref.consumed, len);

	if (len > 1) {
		size_t seg = segs[(data[0] >> 5) % (sizeof(segs) / sizeof(segs[0]))];
		size_t cut = 1 + (size_t)data[len] * (len - 1) / 256; /* somewhere inside, from the last byte */
		size_t reads[2] = { cut, len };

		th_feed(&f, buf, len, whole, 1, seg, 0, &v);
		FZ_CHECK(th_same(&ref, &v));
		th_feed(&f, buf, len, reads, 2, 0, 0, &v);
		FZ_CHECK(th_same(&ref, &v));
		/* many small reads: one byte each for short inputs, 1/256 of the input otherwise */
		static size_t each[256];
		size_t step = len <= 256 ? 1 : (len + 255) / 256;
		unsigned n = 0;
		for (size_t at = step; n < 256; at += step) {
			each[n++] = at < len ? at : len;
			if (at >= len)
				break;
		}
		th_feed(&f, buf, len, each, n, 0, 0, &v);
		FZ_CHECK(th_same(&ref, &v));
	}
	FZ_CHECK(memcmp(buf, data + 1, len) == 0); /* the codec never writes */
	free(buf);
	return 0;
}
