/* Test support for the HTTP/1 codec: segmented views and a connection simulator that feeds bytes as they would arrive. */
#ifndef XM_T_HTTP1_H
#define XM_T_HTTP1_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "http1.h"

#define TH_MAX_MSGS 8
#define TH_MAX_IOV 4096
#define TH_PAYLOAD 8192
#define TH_INCOMPLETE 1000 /* verdict.err: the input ended inside a message */
#define TH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One message as the simulator saw it. */
struct th_msg {
	uint32_t head_len;
	uint8_t body, method, form, version;
	uint16_t status;
	uint32_t flags;
	uint16_t nfields;
	uint64_t content_length;
	uint32_t trailers_len;
	size_t start;                 /* offset of the message in the input */
	size_t payload_off, payload_len; /* into verdict.payload */
};

/* Everything the codec decided about an input, comparable between ways of feeding it. */
struct th_verdict {
	int err;            /* 0, a positive enum xm_http1_err, or TH_INCOMPLETE */
	int stage;          /* err found in the head (0) or the body (1) */
	unsigned nmsgs;
	struct th_msg m[TH_MAX_MSGS];
	struct xm_http1_head first;   /* head of the first message (fields in first_fields) */
	struct xm_http1_field first_fields[64];
	size_t consumed;
	size_t plen;
	uint8_t payload[TH_PAYLOAD];
};

/*
 * Build a view over buf[from, to) cut at every absolute position in cuts[] (ascending) that
 * falls inside, at vcut, and every `seg` bytes (0: no extra cuts).
 */
static inline void th_view(struct xm_iview *v, struct iovec *iov, const uint8_t *buf, size_t from, size_t to,
			   const size_t *cuts, unsigned ncuts, size_t seg, size_t vcut)
{
	unsigned n = 0, lo = 0, hi = ncuts;
	size_t at = from;

	while (lo < hi) { /* first cut above from */
		unsigned mid = (lo + hi) / 2;
		if (cuts[mid] <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (at < to) {
		size_t next = to;
		if (lo < ncuts && cuts[lo] < next)
			next = cuts[lo];
		if (vcut > at && vcut < next)
			next = vcut;
		if (seg && (at / seg + 1) * seg < next)
			next = (at / seg + 1) * seg;
		if (n == TH_MAX_IOV - 1)
			next = to;
		iov[n].iov_base = (void *)(buf + at);
		iov[n].iov_len = next - at;
		n++;
		at = next;
		while (lo < ncuts && cuts[lo] <= at)
			lo++;
	}
	v->iov = iov;
	v->niov = n;
	v->len = to - from;
}

struct th_feed {
	int response;
	enum xm_http1_method req_method;
	const struct xm_http1_limits *lim;
};

/*
 * Feed buf[0, len) as arrivals ending at arrive[0] < arrive[1] < ... = len, parsing
 * messages back to back (pipelining) as a connection would: a head is retried on a longer
 * view while it needs more, a body is walked as bytes come, each view starts at the first
 * unconsumed byte and is cut where reads ended (and at vcut, every seg bytes). Close-delimited and
 * tunnel bodies end with the input.
 */
static inline void th_feed(const struct th_feed *f, const uint8_t *buf, size_t len, const size_t *arrive, unsigned narrive,
			   size_t seg, size_t vcut, struct th_verdict *out)
{
	static struct iovec iov[TH_MAX_IOV];
	struct xm_http1_field fields[64];
	struct xm_http1_head h;
	struct xm_http1_body b;
	struct xm_iview v;
	size_t off = 0;
	int in_body = 0;

	memset(out, 0, sizeof(*out));
	xm_http1_head_init(&h, fields, 64);
	for (unsigned a = 0; a < narrive; a++) {
		size_t arrived = arrive[a];
		for (;;) {
			th_view(&v, iov, buf, off, arrived, arrive, narrive, seg, vcut);
			if (!in_body) {
				ssize_t r = f->response ? xm_http1_parse_response(&h, &v, f->lim, f->req_method)
							: xm_http1_parse_request(&h, &v, f->lim);
				if (r < 0) {
					out->err = (int)-r;
					out->stage = 0;
					goto done;
				}
				if (r == 0)
					break;
				if (out->nmsgs >= TH_MAX_MSGS) {
					out->err = TH_INCOMPLETE;
					goto done;
				}
				struct th_msg *m = &out->m[out->nmsgs];
				m->head_len = (uint32_t)r;
				m->body = h.body;
				m->method = h.method;
				m->form = h.form;
				m->version = h.version;
				m->status = h.status;
				m->flags = h.flags;
				m->nfields = h.nfields;
				m->content_length = h.content_length;
				m->start = off;
				m->payload_off = out->plen;
				if (out->nmsgs == 0) {
					out->first = h;
					memcpy(out->first_fields, fields, sizeof(fields));
					out->first.fields = out->first_fields;
				}
				off += (size_t)r;
				xm_http1_body_init(&b, &h, f->lim);
				in_body = 1;
				xm_http1_head_init(&h, fields, 64);
			} else {
				struct xm_http1_span data[8], tr;
				unsigned nd = 0;
				struct th_msg *m = &out->m[out->nmsgs];
				if (!b.done) {
					ssize_t r = xm_http1_body_parse(&b, &v, data, 8, &nd, &tr);
					if (r < 0) {
						out->err = (int)-r;
						out->stage = 1;
						goto done;
					}
					if (r == 0)
						break;
					for (unsigned i = 0; i < nd; i++) {
						if (out->plen + data[i].len <= TH_PAYLOAD)
							memcpy(out->payload + out->plen, buf + off + data[i].off, data[i].len);
						out->plen += data[i].len;
					}
					if (tr.len)
						m->trailers_len = tr.len;
					off += (size_t)r;
				}
				if (b.done) {
					m->payload_len = out->plen - m->payload_off;
					out->nmsgs++;
					in_body = 0;
				}
			}
		}
	}
	if (in_body && (b.kind == XM_H1_BODY_CLOSE || b.kind == XM_H1_BODY_TUNNEL)) {
		struct th_msg *m = &out->m[out->nmsgs];
		m->payload_len = out->plen - m->payload_off;
		out->nmsgs++;
		in_body = 0;
	}
	if (in_body || off < len)
		out->err = TH_INCOMPLETE;
done:
	out->consumed = off;
	if (out->plen > TH_PAYLOAD)
		out->plen = TH_PAYLOAD;
}

/* 1 if the two verdicts agree on everything the codec decided. How much of a message was
 * streamed before it failed (or before the input ended) depends on how bytes arrived;
 * completed messages and the verdict do not. */
static inline int th_same(const struct th_verdict *a, const struct th_verdict *b)
{
	if (a->err != b->err || a->stage != b->stage || a->nmsgs != b->nmsgs)
		return 0;
	if (!a->err && (a->consumed != b->consumed || a->plen != b->plen || memcmp(a->payload, b->payload, a->plen) != 0))
		return 0;
	if (a->nmsgs) {
		const struct th_msg *x = &a->m[a->nmsgs - 1];
		size_t upto = x->payload_off + x->payload_len;
		if (upto > TH_PAYLOAD)
			upto = TH_PAYLOAD;
		if (a->plen < upto || b->plen < upto || memcmp(a->payload, b->payload, upto) != 0)
			return 0;
	}
	for (unsigned i = 0; i < a->nmsgs; i++) {
		const struct th_msg *x = &a->m[i], *y = &b->m[i];
		if (x->head_len != y->head_len || x->body != y->body || x->method != y->method || x->form != y->form ||
		    x->version != y->version || x->status != y->status || x->flags != y->flags || x->nfields != y->nfields ||
		    x->content_length != y->content_length || x->trailers_len != y->trailers_len || x->start != y->start ||
		    x->payload_off != y->payload_off || x->payload_len != y->payload_len)
			return 0;
	}
	return 1;
}

/* Bytes of span s of a message that starts at msg. */
static inline int th_span_is(const uint8_t *msg, struct xm_http1_span s, const char *want)
{
	return s.len == strlen(want) && memcmp(msg + s.off, want, s.len) == 0;
}

#endif
