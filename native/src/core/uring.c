/* The io_uring backend: the ring, its provided-buffer ring of pooled chunks, the slot table and the wait. */
#include "core/uring.h"

#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/loop.h"
#include "stats/stats.h"

#define UR__SQ 256
#define UR__CQ 4096
#define UR__NBUFS 128     /* receive buffers (whole chunks) in flight at most */
#define UR__BATCH 64

/* Incremental buffer consumption (kernel 6.12): a receive takes only the bytes it needs
 * from the head buffer, the next one continues after them, and the CQE says (BUF_MORE)
 * whether the kernel goes on filling that buffer. Defined here: the distribution's
 * headers predate it. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

struct ur__slot {
	struct xm_uring_user *u;
	uint32_t gen;
	uint32_t next_free;
};

struct xm_uring {
	struct io_uring ring;
	struct xm_pool *pool;
	struct io_uring_buf_ring *br;
	struct xm_chunk *bufs[UR__NBUFS];
	uint32_t boff[UR__NBUFS];    /* incremental mode: bytes of each buffer the kernel filled so far */
	int inc;                     /* buffers consumed incrementally (IOU_PBUF_RING_INC) */
	unsigned br_mask, br_pending;
	uint16_t missing[UR__NBUFS]; /* buffer ids the pool could not refill */
	unsigned nmissing;
	struct ur__slot *slots;      /* slot 0 is never used */
	uint32_t nslots, capslots, free_head;
	uint32_t live;               /* slots naming a connection */
	uint32_t inflight;           /* SQEs (bar the epoll poll) whose last CQE has not come */
	uint32_t *starved;           /* (slot, gen) pairs whose receive ran out of buffers */
	uint32_t nstarved, capstarved;
	int epoll_armed;
	uint64_t enter_errors;
	struct xm_uring_report report;
	struct msghdr msgs[UR__SQ];
	struct iovec iovs[UR__SQ * XM_URING_SEND_IOV];
};

int xm_io_backend_parse(const char *s)
{
	if (!s || !*s || !strcmp(s, "epoll"))
		return XM_IO_EPOLL;
	if (!strcmp(s, "io_uring") || !strcmp(s, "uring"))
		return XM_IO_URING;
	if (!strcmp(s, "auto"))
		return XM_IO_AUTO;
	return -EINVAL;
}

const char *xm_io_backend_name(int b)
{
	return b == XM_IO_URING ? "io_uring" : b == XM_IO_AUTO ? "auto" : "epoll";
}

static int ur__init_ring(struct io_uring *ring)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	/* DEFER_TASKRUN: completions are run in our own io_uring_enter, never by interrupting
	 * the worker; SINGLE_ISSUER is its precondition (only the worker submits). */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = UR__CQ;
	int rc = io_uring_queue_init_params(UR__SQ, ring, &p);
	if (rc < 0)
		return rc;
	/* Needed: NODROP (CQ overflow is buffered, not lost), SUBMIT_STABLE (send headers and
	 * iovecs may be reused once submitted), EXT_ARG (wait with a timeout in one call). */
	uint32_t need = IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_EXT_ARG;
	if ((p.features & need) != need) {
		io_uring_queue_exit(ring);
		return -EOPNOTSUPP;
	}
	return 0;
}

int xm_uring_probe(void)
{
	struct io_uring ring;
	int rc = ur__init_ring(&ring);
	if (rc < 0)
		return rc;
	/* Provided-buffer rings (5.19+) are the other requirement. */
	void *br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED) {
		io_uring_queue_exit(&ring);
		return -ENOMEM;
	}
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = 8, .bgid = 0 };
	rc = io_uring_register_buf_ring(&ring, &reg, 0);
	io_uring_queue_exit(&ring);
	munmap(br, 4096);
	return rc < 0 ? rc : 0;
}

static void ur__buf_add(struct xm_uring *ur, unsigned bid)
{
	io_uring_buf_ring_add(ur->br, ur->bufs[bid]->data, XM_CHUNK_SIZE, (unsigned short)bid, ur->br_mask,
			      (int)ur->br_pending);
	ur->br_pending++;
}

int xm_uring_new(struct xm_uring **out, struct xm_pool *pool, const struct xm_uring_report *report, unsigned flags)
{
	struct xm_uring *ur = calloc(1, sizeof(*ur));
	int rc;

	if (!ur)
		return -ENOMEM;
	ur->pool = pool;
	if (report)
		ur->report = *report;
	rc = ur__init_ring(&ur->ring);
	if (rc < 0) {
		free(ur);
		return rc;
	}
	size_t rsz = UR__NBUFS * sizeof(struct io_uring_buf);
	ur->br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ur->br == MAP_FAILED) {
		ur->br = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	io_uring_buf_ring_init(ur->br);
	/* Incremental consumption where the kernel has it (6.12): a connection sending a byte
	 * at a time then fills one buffer instead of pinning one per byte. The flags share the
	 * place of the pad field in the headers we build with. */
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)ur->br, .ring_entries = UR__NBUFS,
					.bgid = XM_URING_BGID };
	rc = -EINVAL;
	if (!(flags & XM_URING_NO_INCREMENTAL)) {
		memcpy((char *)&reg + offsetof(struct io_uring_buf_reg, bgid) + sizeof(reg.bgid),
		       &(uint16_t){ IOU_PBUF_RING_INC }, sizeof(uint16_t));
		rc = io_uring_register_buf_ring(&ur->ring, &reg, 0);
	}
	ur->inc = rc == 0;
	if (rc == -EINVAL) {
		reg = (struct io_uring_buf_reg){ .ring_addr = (uint64_t)(uintptr_t)ur->br, .ring_entries = UR__NBUFS,
						 .bgid = XM_URING_BGID };
		rc = io_uring_register_buf_ring(&ur->ring, &reg, 0);
	}
	if (rc < 0)
		goto fail;
	ur->br_mask = (unsigned)io_uring_buf_ring_mask(UR__NBUFS);
	for (unsigned b = 0; b < UR__NBUFS; b++) {
		ur->bufs[b] = xm_chunk_get(pool);
		if (!ur->bufs[b]) {
			rc = -ENOMEM;
			goto fail;
		}
		ur__buf_add(ur, b);
	}
	io_uring_buf_ring_advance(ur->br, (int)ur->br_pending);
	ur->br_pending = 0;
	ur->slots = calloc(64, sizeof(*ur->slots));
	if (!ur->slots) {
		rc = -ENOMEM;
		goto fail;
	}
	ur->capslots = 64;
	ur->nslots = 1; /* slot 0 means "none" */
	*out = ur;
	return 0;
fail:
	xm_uring_free(ur);
	return rc;
}

void xm_uring_free(struct xm_uring *ur)
{
	if (!ur)
		return;
	/* Cancels and reaps whatever is left (nothing should be: connections are closed). */
	io_uring_queue_exit(&ur->ring);
	for (unsigned b = 0; b < UR__NBUFS; b++)
		if (ur->bufs[b])
			xm_chunk_unref(ur->bufs[b]);
	if (ur->br)
		munmap(ur->br, UR__NBUFS * sizeof(struct io_uring_buf));
	free(ur->slots);
	free(ur->starved);
	free(ur);
}

uint32_t xm_uring_slot_new(struct xm_uring *ur, struct xm_uring_user *u)
{
	uint32_t s = ur->free_head;

	if (s) {
		ur->free_head = ur->slots[s].next_free;
	} else {
		if (ur->nslots == ur->capslots) {
			uint32_t cap = ur->capslots * 2;
			struct ur__slot *ns = realloc(ur->slots, cap * sizeof(*ns));
			if (!ns)
				return 0;
			ur->slots = ns;
			ur->capslots = cap;
		}
		s = ur->nslots++;
		ur->slots[s].gen = 0;
	}
	ur->slots[s].u = u;
	ur->slots[s].next_free = 0;
	ur->live++;
	if (ur->report.connections)
		xm_gauge_add(ur->report.connections, 1);
	return s;
}

void xm_uring_slot_free(struct xm_uring *ur, uint32_t slot)
{
	struct ur__slot *s = &ur->slots[slot];
	s->u = NULL;
	s->gen = (s->gen + 1) & 0xffffffu;
	s->next_free = ur->free_head;
	ur->free_head = slot;
	ur->live--;
	if (ur->report.connections)
		xm_gauge_add(ur->report.connections, -1);
}

int xm_uring_busy(const struct xm_uring *ur)
{
	return ur->live > 0 || ur->inflight > 0;
}

int xm_uring_retry_pending(const struct xm_uring *ur)
{
	return ur->nmissing > 0 || ur->nstarved > 0;
}

uint64_t xm_uring_ud(const struct xm_uring *ur, uint32_t slot, enum xm_uring_op op)
{
	return ((uint64_t)slot << 32) | ((uint64_t)ur->slots[slot].gen << 8) | (uint64_t)op;
}

void xm_uring_submit(struct xm_uring *ur)
{
	io_uring_submit(&ur->ring);
}

struct io_uring_sqe *xm_uring_sqe(struct xm_uring *ur, unsigned *idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ur->ring);
	/* A full SQ is submitted; SUBMIT_ALL consumes it even if some entries fail. Should the
	 * kernel refuse the submit itself (-EBUSY while it cannot flush an overflowed CQ),
	 * flushing completions into our CQ ring lets the next try through. */
	for (int tries = 0; xm_unlikely(!sqe); tries++) {
		xm_assert(tries < 1000); /* a kernel that never takes our SQEs: nothing sane is left to do */
		if (tries)
			io_uring_get_events(&ur->ring);
		io_uring_submit(&ur->ring);
		sqe = io_uring_get_sqe(&ur->ring);
	}
	if (idx)
		*idx = (unsigned)(sqe - ur->ring.sq.sqes);
	ur->inflight++;
	return sqe;
}

struct msghdr *xm_uring_msg(struct xm_uring *ur, unsigned idx)
{
	return &ur->msgs[idx];
}

struct iovec *xm_uring_iov(struct xm_uring *ur, unsigned idx)
{
	return &ur->iovs[idx * XM_URING_SEND_IOV];
}

int xm_uring_incremental(const struct xm_uring *ur)
{
	return ur->inc;
}

static void ur__refill(struct xm_uring *ur, unsigned bid)
{
	ur->bufs[bid] = xm_chunk_get(ur->pool);
	if (ur->bufs[bid])
		ur__buf_add(ur, bid);
	else
		ur->missing[ur->nmissing++] = (uint16_t)bid;
}

struct xm_chunk *xm_uring_recv_buf(struct xm_uring *ur, uint32_t cqe_flags, int res, uint32_t *off)
{
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	struct xm_chunk *ch = ur->bufs[bid];

	*off = ur->inc ? ur->boff[bid] : 0;
	if (res > 0) {
		ur->boff[bid] = *off + (uint32_t)res;
		ch->len = ur->boff[bid];
	}
	return ch;
}

void xm_uring_recv_done(struct xm_uring *ur, uint32_t cqe_flags)
{
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	struct xm_chunk *ch = ur->bufs[bid];

	if (!(cqe_flags & IORING_CQE_F_BUFFER) || (ur->inc && (cqe_flags & IORING_CQE_F_BUF_MORE)))
		return; /* the kernel goes on filling it */
	ur->boff[bid] = 0;
	if (ch->refcnt == 1) {
		ch->len = 0; /* nobody kept a byte of it: back to the ring as it is */
		ur__buf_add(ur, bid);
		return;
	}
	/* Slices keep it (a connection's unfinished frame, output queued elsewhere): the ring
	 * gets a fresh chunk and lets go of this one. */
	ur__refill(ur, bid);
	xm_chunk_unref(ch);
}

void xm_uring_starved(struct xm_uring *ur, uint32_t slot)
{
	if (ur->report.recv_nobufs_total)
		xm_atomic_add(ur->report.recv_nobufs_total, 1);
	if (ur->nstarved + 2 > ur->capstarved) {
		uint32_t cap = ur->capstarved ? ur->capstarved * 2 : 32;
		uint32_t *ns = realloc(ur->starved, cap * sizeof(*ns));
		if (!ns)
			return; /* the connection stays without a receive until it is closed (idle timeout) */
		ur->starved = ns;
		ur->capstarved = cap;
	}
	ur->starved[ur->nstarved++] = slot;
	ur->starved[ur->nstarved++] = ur->slots[slot].gen;
}

/* After a batch: publish the buffers given back, refill what the pool could not, and
 * restart the receives that ran dry. */
static void ur__after_batch(struct xm_uring *ur)
{
	unsigned n = ur->nmissing;
	ur->nmissing = 0;
	for (unsigned i = 0; i < n; i++)
		ur__refill(ur, ur->missing[i]);
	if (ur->br_pending) {
		io_uring_buf_ring_advance(ur->br, (int)ur->br_pending);
		ur->br_pending = 0;
	}
	/* Restart every receive that ran dry: the ring is full again now (each buffer taken
	 * was replaced), unless the pool itself failed, in which case the next turn retries
	 * (xm_uring_retry_pending keeps that turn within one tick). */
	if (!ur->nstarved || ur->nmissing == UR__NBUFS)
		return;
	uint32_t ns = ur->nstarved;
	ur->nstarved = 0;
	for (uint32_t i = 0; i + 1 < ns; i += 2) {
		struct ur__slot *s = &ur->slots[ur->starved[i]];
		if (s->u && s->gen == ur->starved[i + 1])
			s->u->cb(s->u, XM_UOP_REARM, 0, 0);
	}
}

unsigned xm_uring_ring_chunks(const struct xm_uring *ur)
{
	return ur ? UR__NBUFS - ur->nmissing : 0;
}

static void ur__dispatch(struct xm_uring *ur, const struct io_uring_cqe *cqe, int *epoll_ready)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum xm_uring_op op = (enum xm_uring_op)(ud & 0xff);
	uint32_t slot = (uint32_t)(ud >> 32), gen = (uint32_t)(ud >> 8) & 0xffffffu;

	if (op == XM_UOP_EPOLL) {
		ur->epoll_armed = 0;
		*epoll_ready = 1;
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		ur->inflight--;
	if (op == XM_UOP_NONE)
		return;
	struct ur__slot *s = slot < ur->nslots ? &ur->slots[slot] : NULL;
	if (!s || !s->u || s->gen != gen) {
		/* The connection is gone: only a buffer needs to go back. */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			uint32_t off;
			xm_uring_recv_buf(ur, cqe->flags, cqe->res, &off);
			xm_uring_recv_done(ur, cqe->flags);
		}
		return;
	}
	s->u->cb(s->u, op, cqe->res, cqe->flags);
}

int xm_uring_run(struct xm_uring *ur, struct xm_loop *l, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct io_uring_cqe *batch[UR__BATCH];
	int epoll_ready = 0, total = 0;

	if (!ur->epoll_armed) {
		/* One-shot, re-armed after each firing: arming checks readiness at once, so a
		 * level-triggered fd still ready after our epoll_wait is seen again. */
		struct io_uring_sqe *sqe = xm_uring_sqe(ur, NULL);
		io_uring_prep_poll_add(sqe, l->epfd, POLLIN);
		io_uring_sqe_set_data64(sqe, XM_UOP_EPOLL);
		ur->epoll_armed = 1;
		ur->inflight--; /* not a connection's: the worker may still sleep in epoll_wait */
	}
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
	int rc = io_uring_submit_and_wait_timeout(&ur->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
		/* Never stop the worker for it: report (rate-limited), back off one tick, go on
		 * with whatever completed. */
		if (ur->report.enter_errors_total)
			xm_atomic_add(ur->report.enter_errors_total, 1);
		if (ur->enter_errors++ % 1024 == 0) {
			char why[96];
			snprintf(why, sizeof(why), "io_uring_enter failed: %s (%llu times)", strerror(-rc),
				 (unsigned long long)ur->enter_errors);
			xm_event_post(ur->report.events, XM_EV_LOG, "worker", why);
		}
		struct timespec nap = { 0, (long)XM_WHEEL_TICK_MS * 1000000L };
		nanosleep(&nap, NULL);
	}
	l->now_ms = xm_now_ms();
	uint64_t woke_us = xm_now_us();
	/* Completions handled here may queue more (a close submits its cancellation at once),
	 * so drain in batches; bounded so a flood cannot keep us from the turn's end. */
	for (int round = 0; round < 64; round++) {
		unsigned n = io_uring_peek_batch_cqe(&ur->ring, batch, UR__BATCH);
		if (!n)
			break;
		for (unsigned i = 0; i < n; i++)
			ur__dispatch(ur, batch[i], &epoll_ready);
		io_uring_cq_advance(&ur->ring, n);
		total += (int)n;
		if (n < UR__BATCH)
			break;
	}
	ur__after_batch(ur);
	if (epoll_ready) {
		int n = xm_loop_epoll_dispatch(l, 0);
		if (n > 0)
			total += n;
	}
	l->woke_us = woke_us; /* the turn began when the ring's wait returned */
	return total;
}
