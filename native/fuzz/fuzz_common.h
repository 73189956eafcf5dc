/* Shared body of the codec fuzz targets: feed bytes flat and segmented, split every frame, exercise every op, assert invariants. */
#ifndef XM_FUZZ_COMMON_H
#define XM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "protocol/codec.h"

/* Invariant checks abort so libFuzzer records the input (assert() may be compiled out). */
#define FZ_CHECK(cond)                                                                        \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort();                                                              \
		}                                                                             \
	} while (0)

#define FZ_MAX_FRAME (1u << 20)
#define FZ_MAXIOV 512

static struct iovec fz_iov[FZ_MAXIOV];
static struct iovec fz_iov2[FZ_MAXIOV];
static struct xm_route_info fz_ri;
static uint8_t fz_out[8192];

/* Check a reply the codec built (heartbeat answer or hijack): it must be one whole frame of
 * the expected kind for the same id. */
static void fz_check_reply(const struct xm_codec *c, ssize_t n, size_t cap, const struct xm_frame *req,
			   enum xm_frame_kind want)
{
	struct xm_iview rv;
	struct xm_frame rf;

	if (n == -ENOSPC || n == -EINVAL)
		return;
	FZ_CHECK(n > 0 && (size_t)n <= cap);
	xm_iview_flat(&rv, fz_iov2, fz_out, (size_t)n);
	FZ_CHECK(c->ops->split(c, &rv, FZ_MAX_FRAME, &rf) == n);
	FZ_CHECK(rf.kind == want);
	FZ_CHECK(rf.id == req->id);
}

static void fz_frame(const struct xm_codec *c, const struct xm_iview *v, const struct xm_frame *f, ssize_t r)
{
	FZ_CHECK((size_t)r <= v->len);
	FZ_CHECK(f->len == (uint32_t)r);
	FZ_CHECK(f->body_off <= f->len);
	FZ_CHECK((uint64_t)f->id_off + f->id_size <= f->len);
	FZ_CHECK(f->id_size == 0 || f->id_size == 1 || f->id_size == 2 || f->id_size == 4 || f->id_size == 8);

	if (f->kind == XM_FRAME_REQUEST || f->kind == XM_FRAME_ONEWAY) {
		int rr = c->ops->route_info(c, v, f, &fz_ri);
		FZ_CHECK(rr == 0 || (rr < 0 && -rr < XM_CODEC_E__COUNT));
		if (rr == 0) {
			const char *lo = fz_ri.buf, *hi = fz_ri.buf + XM_ROUTE_BUF;
			FZ_CHECK(fz_ri.used <= XM_ROUTE_BUF);
			FZ_CHECK(fz_ri.service && fz_ri.service >= lo && fz_ri.service + fz_ri.service_len <= hi);
			FZ_CHECK(fz_ri.method && fz_ri.method >= lo && fz_ri.method + fz_ri.method_len <= hi);
			FZ_CHECK(fz_ri.nmetas <= XM_ROUTE_MAX_METAS);
			for (unsigned i = 0; i < fz_ri.nmetas; i++) {
				FZ_CHECK(fz_ri.metas[i].key >= lo && fz_ri.metas[i].key + fz_ri.metas[i].klen <= hi);
				FZ_CHECK(fz_ri.metas[i].value >= lo && fz_ri.metas[i].value + fz_ri.metas[i].vlen <= hi);
			}
		}
		for (int st = XM_STATUS_NO_ROUTE; st <= XM_STATUS_CODEC_ERROR; st++) {
			size_t cap = st == XM_STATUS_TIMEOUT ? 40 : sizeof(fz_out); /* a small cap too */
			ssize_t n = c->ops->hijack(c, v, f, (enum xm_status)st, st == XM_STATUS_NO_ROUTE ? NULL : "fuzz \xff detail", fz_out, cap);
			fz_check_reply(c, n, cap, f, XM_FRAME_RESPONSE);
		}
		FZ_CHECK(c->ops->heartbeat_reply(c, v, f, fz_out, sizeof(fz_out)) == -EINVAL);
	}
	if (f->kind == XM_FRAME_HEARTBEAT) {
		ssize_t n = c->ops->heartbeat_reply(c, v, f, fz_out, sizeof(fz_out));
		fz_check_reply(c, n, sizeof(fz_out), f, XM_FRAME_HEARTBEAT_ACK);
	}
	/* the stream layer's in-place id rewrite stays inside the frame */
	if (f->id_size) {
		uint8_t id[8];
		FZ_CHECK(xm_iview_copy(v, f->id_off, id, f->id_size) == 0);
		FZ_CHECK(xm_iview_write(v, f->id_off, id, f->id_size) == 0);
	}
}

/* Split the whole input frame by frame, as a connection would. */
static void fz_stream(const struct xm_codec *c, uint8_t *buf, size_t len, size_t seg)
{
	size_t off = 0;

	(void)c->ops->match(c, &(struct xm_iview){ 0 });
	for (int guard = 0; off < len && guard < 10000; guard++) {
		struct xm_iview v;
		struct xm_frame f;
		if (seg == 0)
			xm_iview_flat(&v, fz_iov, buf + off, len - off);
		else
			xm_iview_segmented(&v, fz_iov, FZ_MAXIOV, buf + off, len - off, seg);
		int m = c->ops->match(c, &v);
		FZ_CHECK(m >= -1 && m <= 1);
		ssize_t r = c->ops->split(c, &v, FZ_MAX_FRAME, &f);
		FZ_CHECK(r <= 0 || (size_t)r <= len - off);
		if (r < 0) {
			FZ_CHECK(-r < XM_CODEC_E__COUNT);
			FZ_CHECK(strcmp(xm_codec_err_name((int)r), "unknown") != 0);
			return;
		}
		if (r == 0)
			return;
		fz_frame(c, &v, &f, r);
		off += (size_t)r;
	}
}

/* Run one input through codec c: flat, then in segments whose size comes from the first byte. */
static void fz_run(const struct xm_codec *c, const uint8_t *data, size_t size)
{
	static const size_t segs[] = { 1, 2, 3, 5, 7, 13, 64, 16384 };
	uint8_t *buf;

	if (size == 0)
		return;
	buf = malloc(size); /* writable copy: the id rewrite writes into it */
	if (!buf)
		return;
	memcpy(buf, data, size);
	fz_stream(c, buf, size, 0);
	fz_stream(c, buf, size, segs[(data[0] ^ size) % (sizeof(segs) / sizeof(segs[0]))]);
	FZ_CHECK(memcmp(buf, data, size) == 0); /* nothing but the same id was written */
	free(buf);
}

#endif
