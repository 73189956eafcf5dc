/* Chunk pool and slice queue implementation (single-threaded: one per worker). */
#include "core/buf.h"

#include <stdlib.h>

void xm_pool_init(struct xm_pool *p, uint32_t max_free)
{
	p->free = NULL;
	p->nfree = 0;
	p->max_free = max_free;
	p->allocated = 0;
	p->released = 0;
}

void xm_pool_destroy(struct xm_pool *p)
{
	while (p->free) {
		struct xm_chunk *c = p->free;
		p->free = c->next_free;
		free(c);
	}
	p->nfree = 0;
}

struct xm_chunk *xm_chunk_get(struct xm_pool *p)
{
	struct xm_chunk *c = p->free;

	if (c) {
		p->free = c->next_free;
		p->nfree--;
	} else {
		/* Not zeroed: only len/refcnt matter, data is always written before it is read. */
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->pool = p;
	}
	c->refcnt = 1;
	c->len = 0;
	c->next_free = NULL;
	p->allocated++;
	return c;
}

void xm_chunk_unref(struct xm_chunk *c)
{
	struct xm_pool *p = c->pool;

	xm_assert(c->refcnt > 0);
	if (--c->refcnt)
		return;
	p->allocated--;
	if (p->nfree < p->max_free) {
		c->next_free = p->free;
		p->free = c;
		p->nfree++;
	} else {
		free(c);
		p->released++;
	}
}

int xm_iovq_push(struct xm_iovq *q, struct xm_chunk *c, uint32_t off, uint32_t len)
{
	if (q->n > 0) {
		/* Coalesce with the tail when contiguous in the same chunk: the common case of
		 * several reads into one chunk while the peer is slow. */
		struct xm_slice *t = &q->s[(q->head + q->n - 1) & (q->cap - 1)];
		if (t->c == c && t->off + t->len == off) {
			t->len += len;
			q->bytes += len;
			return 0;
		}
	}
	if (q->n == q->cap) {
		uint32_t ncap = q->cap ? q->cap * 2 : 4;
		struct xm_slice *ns = malloc(sizeof(*ns) * ncap);
		if (!ns)
			return -ENOMEM;
		for (uint32_t i = 0; i < q->n; i++)
			ns[i] = q->s[(q->head + i) & (q->cap - 1)];
		free(q->s);
		q->s = ns;
		q->cap = ncap;
		q->head = 0;
	}
	struct xm_slice *s = &q->s[(q->head + q->n) & (q->cap - 1)];
	s->c = c;
	s->off = off;
	s->len = len;
	xm_chunk_ref(c);
	q->n++;
	q->bytes += len;
	return 0;
}

int xm_iovq_iov(const struct xm_iovq *q, struct iovec *iov, int max)
{
	int i;

	for (i = 0; i < max && (uint32_t)i < q->n; i++) {
		const struct xm_slice *s = &q->s[(q->head + i) & (q->cap - 1)];
		iov[i].iov_base = s->c->data + s->off;
		iov[i].iov_len = s->len;
	}
	return i;
}

void xm_iovq_consume(struct xm_iovq *q, uint64_t n)
{
	xm_assert(n <= q->bytes);
	q->bytes -= n;
	while (n > 0) {
		struct xm_slice *s = &q->s[q->head];
		if (n < s->len) {
			s->off += (uint32_t)n;
			s->len -= (uint32_t)n;
			return;
		}
		n -= s->len;
		xm_chunk_unref(s->c);
		q->head = (q->head + 1) & (q->cap - 1);
		q->n--;
	}
	/* Release an idle ring so an idle connection holds no queue memory. */
	if (q->n == 0) {
		free(q->s);
		q->s = NULL;
		q->cap = q->head = 0;
	}
}

void xm_iovq_clear(struct xm_iovq *q)
{
	while (q->n > 0) {
		xm_chunk_unref(q->s[q->head].c);
		q->head = (q->head + 1) & (q->cap - 1);
		q->n--;
	}
	free(q->s);
	xm_iovq_init(q);
}
