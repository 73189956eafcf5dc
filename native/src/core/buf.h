/* Refcounted chunk buffers and slice queues: bytes are read once and forwarded from the same memory. */
#ifndef XM_BUF_H
#define XM_BUF_H

#include <stdint.h>
#include <sys/uio.h>

#include "xm.h"

/*
 * A chunk is a fixed-size block owned by one worker's pool. Connections read into the tail
 * of a chunk; the bytes read are then referenced by slices (chunk + offset + length) that
 * sit in the peer's output queue until written. Nothing is copied on the way through:
 * a slice holds a reference, and the chunk returns to its pool when the last slice and
 * the reader have let go. Chunks never cross workers, so refcounts are plain integers.
 */
#define XM_CHUNK_SIZE (16u * 1024u)
#define XM_IOVQ_MAX_IOV 64 /* iovecs per writev */

struct xm_pool;

struct xm_chunk {
	uint32_t refcnt;
	uint32_t len;              /* bytes written into data (the read tail) */
	struct xm_pool *pool;
	struct xm_chunk *next_free;
	char data[XM_CHUNK_SIZE];
};

/* Per-worker free list; keeps at most max_free idle chunks so idle memory stays bounded. */
struct xm_pool {
	struct xm_chunk *free;
	uint32_t nfree;
	uint32_t max_free;
	uint64_t allocated;        /* chunks currently out of the pool (for memory accounting) */
	uint64_t released;         /* chunks given back to malloc since the owner last trimmed */
};

void xm_pool_init(struct xm_pool *p, uint32_t max_free);
void xm_pool_destroy(struct xm_pool *p);
/* A fresh chunk with refcnt 1 and len 0, or NULL on ENOMEM. */
struct xm_chunk *xm_chunk_get(struct xm_pool *p);
static inline void xm_chunk_ref(struct xm_chunk *c) { c->refcnt++; }
void xm_chunk_unref(struct xm_chunk *c);

struct xm_slice {
	struct xm_chunk *c;
	uint32_t off;
	uint32_t len;
};

/* A FIFO of slices (a ring that grows by doubling). bytes = sum of slice lengths. */
struct xm_iovq {
	struct xm_slice *s;
	uint32_t head, n, cap;
	uint64_t bytes;
};

static inline void xm_iovq_init(struct xm_iovq *q) { q->s = NULL, q->head = q->n = q->cap = 0, q->bytes = 0; }
static inline int xm_iovq_empty(const struct xm_iovq *q) { return q->n == 0; }
/* Append a slice, taking a new reference on its chunk. Returns 0 or -ENOMEM. */
int xm_iovq_push(struct xm_iovq *q, struct xm_chunk *c, uint32_t off, uint32_t len);
/* Fill up to max iovecs from the head; returns how many. */
int xm_iovq_iov(const struct xm_iovq *q, struct iovec *iov, int max);
/* Drop n bytes from the head, releasing chunks that are done. */
void xm_iovq_consume(struct xm_iovq *q, uint64_t n);
/* Release everything (and the ring). */
void xm_iovq_clear(struct xm_iovq *q);

#endif
