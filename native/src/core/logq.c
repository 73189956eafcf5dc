/* The access-log queue: per-worker SPSC byte rings of [len, fd, line] records and the writer thread that drains them. */
#include "core/logq.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xm.h"

struct logq__rec {
	uint32_t len;
	int32_t fd;
};

struct logq__ring {
	uint64_t head;             /* consumed (writer) */
	char pad0[XM_CACHELINE - sizeof(uint64_t)];
	uint64_t tail;             /* produced (worker) */
	char pad1[XM_CACHELINE - sizeof(uint64_t)];
	char *buf;
} __attribute__((aligned(XM_CACHELINE))); /* sizeof a multiple of the line: aligned_alloc's rule */

struct xm_logq {
	unsigned n;
	uint32_t size, mask;
	struct logq__ring *rings;
	uint64_t *dropped;
	int efd;                   /* wakes the writer when a ring goes from empty to not */
	int stop;                  /* atomic */
	pthread_t thread;
	int started;
};

/* Copy len bytes into the ring at position pos (wrapping). */
static void logq__copy_in(struct xm_logq *q, struct logq__ring *r, uint64_t pos, const void *src, uint32_t len)
{
	uint32_t at = (uint32_t)(pos & q->mask), first = q->size - at < len ? q->size - at : len;
	memcpy(r->buf + at, src, first);
	memcpy(r->buf, (const char *)src + first, len - first);
}

static void logq__copy_out(struct xm_logq *q, struct logq__ring *r, uint64_t pos, void *dst, uint32_t len)
{
	uint32_t at = (uint32_t)(pos & q->mask), first = q->size - at < len ? q->size - at : len;
	memcpy(dst, r->buf + at, first);
	memcpy((char *)dst + first, r->buf, len - first);
}

int xm_logq_put(struct xm_logq *q, unsigned worker, int fd, const char *line, uint32_t len)
{
	struct logq__ring *r = &q->rings[worker];
	struct logq__rec rec = { len, fd };
	uint64_t tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	if (tail - head + sizeof(rec) + len > q->size) {
		xm_atomic_add(q->dropped, 1);
		return -ENOSPC;
	}
	logq__copy_in(q, r, tail, &rec, sizeof(rec));
	logq__copy_in(q, r, tail + sizeof(rec), line, len);
	__atomic_store_n(&r->tail, tail + sizeof(rec) + len, __ATOMIC_RELEASE);
	/* Wake the writer if it had written everything before this record: it may be asleep.
	 * The fence pairs with the writer's: either it sees this tail on its next pass, or we
	 * see its head at our old tail here (so it never sleeps on a line; no timed poll). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == tail) {
		uint64_t one = 1;
		ssize_t w = write(q->efd, &one, sizeof(one));
		(void)w;
	}
	return 0;
}

/* Write every record of ring r; returns how many bytes were consumed. */
static uint64_t logq__drain(struct xm_logq *q, struct logq__ring *r, char *line)
{
	uint64_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE), start = head;

	while (head < tail) {
		struct logq__rec rec;
		logq__copy_out(q, r, head, &rec, sizeof(rec));
		logq__copy_out(q, r, head + sizeof(rec), line, rec.len);
		head += sizeof(rec) + rec.len;
		/* O_APPEND and one write per line: whole lines, whatever else writes the file. */
		for (uint32_t off = 0; off < rec.len;) {
			ssize_t w = write(rec.fd, line + off, rec.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break; /* the disk refused it: nothing better to do with an access log line */
			off += (uint32_t)w;
		}
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return head - start;
}

static void *logq__main(void *arg)
{
	struct xm_logq *q = arg;
	char *line = malloc(q->size);

	pthread_setname_np(pthread_self(), "xmesh-log");
	for (;;) {
		int stop = __atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
		uint64_t moved = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with xm_logq_put's */
		for (unsigned i = 0; line && i < q->n; i++)
			moved += logq__drain(q, &q->rings[i], line);
		if (moved)
			continue;
		if (stop)
			break; /* a pass after the stop found nothing left */
		struct pollfd p = { .fd = q->efd, .events = POLLIN };
		if (poll(&p, 1, -1) > 0) { /* no timeout: an idle sidecar does not wake */
			uint64_t v;
			ssize_t r = read(q->efd, &v, sizeof(v));
			(void)r;
		}
	}
	free(line);
	return NULL;
}

int xm_logq_new(struct xm_logq **out, unsigned nworkers, uint32_t ring_bytes, uint64_t *dropped)
{
	struct xm_logq *q = calloc(1, sizeof(*q));
	int rc = -ENOMEM;

	xm_assert(ring_bytes >= 1024 && (ring_bytes & (ring_bytes - 1)) == 0);
	if (!q)
		return -ENOMEM;
	q->n = nworkers;
	q->size = ring_bytes;
	q->mask = ring_bytes - 1;
	q->dropped = dropped;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->rings = aligned_alloc(XM_CACHELINE, sizeof(*q->rings) * nworkers);
	if (q->efd < 0 || !q->rings)
		goto fail;
	memset(q->rings, 0, sizeof(*q->rings) * nworkers);
	for (unsigned i = 0; i < nworkers; i++)
		if (!(q->rings[i].buf = malloc(ring_bytes)))
			goto fail;
	if ((rc = -pthread_create(&q->thread, NULL, logq__main, q)) < 0)
		goto fail;
	q->started = 1;
	*out = q;
	return 0;
fail:
	xm_logq_free(q);
	return rc;
}

void xm_logq_free(struct xm_logq *q)
{
	if (!q)
		return;
	if (q->started) {
		uint64_t one = 1;
		__atomic_store_n(&q->stop, 1, __ATOMIC_RELEASE);
		ssize_t w = write(q->efd, &one, sizeof(one));
		(void)w;
		pthread_join(q->thread, NULL);
	}
	for (unsigned i = 0; q->rings && i < q->n; i++)
		free(q->rings[i].buf);
	free(q->rings);
	if (q->efd >= 0)
		close(q->efd);
	free(q);
}
