/* Chunk pools and slice queues (core/buf.c): the pool's bound and accounting, chunk references, and queues of slices that grow, wrap and release their chunks. */
#include <sys/uio.h>

#include "core/buf.h"
#include "t.h"

/* ------------------------------------------------------------ pool */

/* Get n chunks, give them all back: the pool keeps at most max_free of them, and every
 * chunk it keeps comes back before a new one is allocated. */
static void test_pool_bound(void)
{
	static const struct {
		const char *desc;
		uint32_t max_free, n;
	} cases[] = {
		{ "fewer than max_free: all kept", 8, 3 },
		{ "exactly max_free: all kept", 4, 4 },
		{ "more than max_free: the surplus is freed", 4, 10 },
		{ "max_free 0: nothing kept", 0, 5 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xm_pool p;
		struct xm_chunk *c[16], *again[16];
		uint32_t n = cases[i].n, kept = n < cases[i].max_free ? n : cases[i].max_free;
		int failed = t__case_failed;

		t__case_failed = 0;
		xm_pool_init(&p, cases[i].max_free);
		for (uint32_t k = 0; k < n; k++) {
			c[k] = xm_chunk_get(&p);
			T_CHECK(c[k] != NULL);
			T_CHECK_EQ(c[k]->refcnt, 1);
			T_CHECK_EQ(c[k]->len, 0);
			T_CHECK(c[k]->pool == &p);
			T_CHECK_EQ(p.allocated, k + 1);
			c[k]->len = 100; /* a used chunk: get must hand it back reset */
		}
		T_CHECK_EQ(p.nfree, 0);
		for (uint32_t k = 0; k < n; k++)
			xm_chunk_unref(c[k]);
		T_CHECK_EQ(p.allocated, 0);
		T_CHECK_EQ(p.nfree, kept);
		/* The kept chunks are reused, most recently returned first, reset. */
		for (uint32_t k = 0; k < kept; k++) {
			again[k] = xm_chunk_get(&p);
			T_CHECK(again[k] == c[kept - 1 - k]);
			T_CHECK_EQ(again[k]->len, 0);
			T_CHECK_EQ(again[k]->refcnt, 1);
		}
		T_CHECK_EQ(p.nfree, 0);
		T_CHECK_EQ(p.allocated, kept);
		for (uint32_t k = 0; k < kept; k++)
			xm_chunk_unref(again[k]);
		xm_pool_destroy(&p);
		T_CHECK_EQ(p.nfree, 0);
		T_CHECK(p.free == NULL);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* A chunk goes back to its pool when its last reference goes, not before. */
static void test_chunk_refs(void)
{
	struct xm_pool p;
	xm_pool_init(&p, 4);
	struct xm_chunk *c = xm_chunk_get(&p);
	xm_chunk_ref(c);
	xm_chunk_ref(c);
	T_CHECK_EQ(c->refcnt, 3);
	xm_chunk_unref(c);
	xm_chunk_unref(c);
	T_CHECK_EQ(c->refcnt, 1);
	T_CHECK_EQ(p.allocated, 1); /* still out */
	T_CHECK_EQ(p.nfree, 0);
	xm_chunk_unref(c);
	T_CHECK_EQ(p.allocated, 0);
	T_CHECK_EQ(p.nfree, 1);
	xm_pool_destroy(&p);
}

/* ------------------------------------------------------------ slice queues */

/* The queue's bytes as one string, through xm_iovq_iov. */
static size_t flatten(const struct xm_iovq *q, char *out, size_t cap)
{
	struct iovec iov[256];
	int n = xm_iovq_iov(q, iov, 256);
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		if (len + iov[i].iov_len > cap)
			return (size_t)-1;
		memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

static struct xm_chunk *chunk_with(struct xm_pool *p, const char *s)
{
	struct xm_chunk *c = xm_chunk_get(p);
	size_t n = strlen(s);
	memcpy(c->data, s, n);
	c->len = (uint32_t)n;
	return c;
}

/* Slices of several chunks: each push takes a reference, contiguous pushes of one chunk
 * merge into one slice, iov lists them in order, consume drops bytes from the head across
 * slice boundaries and lets a chunk go once no slice needs it. */
static void test_iovq_push_consume(void)
{
	struct xm_pool p;
	struct xm_iovq q;
	char out[256];

	xm_pool_init(&p, 8);
	xm_iovq_init(&q);
	struct xm_chunk *a = chunk_with(&p, "hello world");
	struct xm_chunk *b = chunk_with(&p, "0123456789");
	T_CHECK_EQ(xm_iovq_push(&q, a, 0, 5), 0);   /* "hello" */
	T_CHECK_EQ(xm_iovq_push(&q, a, 5, 6), 0);   /* " world": contiguous, merged */
	T_CHECK_EQ(q.n, 1);
	T_CHECK_EQ(a->refcnt, 2);                   /* one slice, one reference */
	T_CHECK_EQ(xm_iovq_push(&q, b, 2, 3), 0);   /* "234" */
	T_CHECK_EQ(xm_iovq_push(&q, a, 0, 1), 0);   /* "h": same chunk, not contiguous */
	T_CHECK_EQ(xm_iovq_push(&q, b, 7, 3), 0);   /* "789": not contiguous with "234" */
	T_CHECK_EQ(q.n, 4);
	T_CHECK_EQ(q.bytes, 11 + 3 + 1 + 3);
	T_CHECK_EQ(a->refcnt, 3);
	T_CHECK_EQ(b->refcnt, 3);
	size_t n = flatten(&q, out, sizeof(out));
	T_CHECK_EQ(n, 18);
	T_CHECK(n == 18 && memcmp(out, "hello world234h789", 18) == 0);
	/* iov stops at max. */
	struct iovec iov[2];
	T_CHECK_EQ(xm_iovq_iov(&q, iov, 2), 2);
	T_CHECK_EQ(iov[1].iov_len, 3);
	/* The writer drops its own references: only the queue holds the chunks now. */
	xm_chunk_unref(a);
	xm_chunk_unref(b);
	/* Part of the first slice, then across the boundary into the second. */
	xm_iovq_consume(&q, 6);
	T_CHECK_EQ(q.bytes, 12);
	T_CHECK_EQ(q.n, 4);
	n = flatten(&q, out, sizeof(out));
	T_CHECK(n == 12 && memcmp(out, "world234h789", 12) == 0);
	xm_iovq_consume(&q, 7); /* "world" + "23" */
	T_CHECK_EQ(q.n, 3);
	T_CHECK_EQ(a->refcnt, 1); /* the "h" slice only */
	n = flatten(&q, out, sizeof(out));
	T_CHECK(n == 5 && memcmp(out, "4h789", 5) == 0);
	xm_iovq_consume(&q, 2); /* "4h": a's last slice goes, a goes back to the pool */
	T_CHECK_EQ(p.allocated, 1);
	T_CHECK_EQ(b->refcnt, 1);
	xm_iovq_consume(&q, 3);
	/* Empty: the ring itself is released, the last chunk too. */
	T_CHECK(xm_iovq_empty(&q));
	T_CHECK(q.s == NULL);
	T_CHECK_EQ(q.cap, 0);
	T_CHECK_EQ(p.allocated, 0);
	xm_pool_destroy(&p);
}

/* The ring doubles while its head is not at slot 0 (slices wrapped past the end): order is
 * kept through every growth, for as many slices as a big frame has. */
static void test_iovq_wrap_and_grow(void)
{
	static const struct {
		const char *desc;
		uint32_t before, consumed, after;
	} cases[] = {
		{ "grow from empty", 0, 0, 100 },
		{ "wrap then grow (head 3 of 4)", 4, 3, 20 },
		{ "wrap then grow (head 5 of 8)", 8, 5, 200 },
		{ "consume all but one, then 1000 slices", 16, 15, 1000 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xm_pool p;
		struct xm_iovq q;
		int failed = t__case_failed;

		t__case_failed = 0;
		xm_pool_init(&p, 4);
		xm_iovq_init(&q);
		struct xm_chunk *c = xm_chunk_get(&p);
		for (uint32_t k = 0; k < XM_CHUNK_SIZE; k++)
			c->data[k] = (char)(k & 0x7f);
		c->len = XM_CHUNK_SIZE;
		/* Slice k is byte k of the chunk (never contiguous with slice k - 1: offsets step 2). */
		uint32_t total = cases[i].before + cases[i].after;
		for (uint32_t k = 0; k < cases[i].before; k++)
			T_CHECK_EQ(xm_iovq_push(&q, c, 2 * k, 1), 0);
		xm_iovq_consume(&q, cases[i].consumed);
		for (uint32_t k = cases[i].before; k < total; k++)
			T_CHECK_EQ(xm_iovq_push(&q, c, 2 * k, 1), 0);
		uint32_t live = total - cases[i].consumed;
		T_CHECK_EQ(q.n, live);
		T_CHECK_EQ(q.bytes, live);
		T_CHECK(q.cap >= q.n && (q.cap & (q.cap - 1)) == 0);
		T_CHECK_EQ(c->refcnt, 1 + live);
		struct iovec iov[1200];
		int n = xm_iovq_iov(&q, iov, 1200);
		T_CHECK_EQ(n, (int)live);
		int order = 1;
		for (int k = 0; k < n; k++)
			order &= iov[k].iov_base == c->data + 2 * (cases[i].consumed + (uint32_t)k) && iov[k].iov_len == 1;
		T_CHECK(order);
		/* Clear lets every reference go and leaves an empty, reusable queue. */
		xm_iovq_clear(&q);
		T_CHECK(xm_iovq_empty(&q));
		T_CHECK(q.s == NULL);
		T_CHECK_EQ(q.bytes, 0);
		T_CHECK_EQ(c->refcnt, 1);
		T_CHECK_EQ(xm_iovq_push(&q, c, 0, 10), 0);
		T_CHECK_EQ(q.bytes, 10);
		xm_iovq_clear(&q);
		xm_chunk_unref(c);
		T_CHECK_EQ(p.allocated, 0);
		xm_pool_destroy(&p);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* Clearing a queue of slices of many chunks returns every chunk its slices held. */
static void test_iovq_clear_releases(void)
{
	struct xm_pool p;
	struct xm_iovq q;
	struct xm_chunk *c[10];

	xm_pool_init(&p, 16);
	xm_iovq_init(&q);
	for (int i = 0; i < 10; i++) {
		c[i] = chunk_with(&p, "abcdef");
		T_CHECK_EQ(xm_iovq_push(&q, c[i], 1, 2), 0);
		T_CHECK_EQ(xm_iovq_push(&q, c[i], 4, 2), 0);
		xm_chunk_unref(c[i]); /* the queue holds them alone */
	}
	T_CHECK_EQ(p.allocated, 10);
	T_CHECK_EQ(q.n, 20);
	xm_iovq_consume(&q, 3); /* a partial slice at the head */
	xm_iovq_clear(&q);
	T_CHECK_EQ(p.allocated, 0);
	T_CHECK_EQ(p.nfree, 10);
	T_CHECK_EQ(q.n, 0);
	xm_iovq_clear(&q); /* idempotent */
	xm_pool_destroy(&p);
}

T_MAIN_BEGIN
	T_RUN("pool keeps at most max_free idle chunks, counts the ones out, reuses the kept ones", test_pool_bound);
	T_RUN("a chunk returns to its pool with its last reference", test_chunk_refs);
	T_RUN("queue: push references and merges, iov lists in order, consume crosses slices and releases", test_iovq_push_consume);
	T_RUN("queue: the ring grows while wrapped and keeps the order", test_iovq_wrap_and_grow);
	T_RUN("queue: clear releases every chunk its slices held", test_iovq_clear_releases);
T_MAIN_END
