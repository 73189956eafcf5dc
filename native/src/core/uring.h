/* Optional io_uring backend of a worker: batched sends, multishot receives into pooled chunks. */
#ifndef XM_URING_H
#define XM_URING_H

#include <stdint.h>

#include "xm.h"

/*
 * Why: on this class of machine (retpolines, SRSO mitigations) a syscall costs about as much
 * as the loopback delivery it carries, and an epoll proxy pays 4.4 of them per proxied
 * request (read + send on each side, plus epoll_wait). With io_uring every send of a loop
 * turn goes to the kernel in the one io_uring_enter that also waits for the next events,
 * and receives complete in that same call (multishot recv into a provided-buffer ring whose
 * buffers are the worker's pooled chunks). bench/RESULTS.md has the measurements.
 *
 * Shape: the worker's epoll loop stays (listeners, the wakeup eventfd, and connections whose
 * owner does not opt in); its fd is watched by a one-shot POLL_ADD on the ring, so the ring
 * is the one place the worker sleeps. Connections opt in through their owner's ops
 * (xm_conn_ops.uring); net/conn_uring.c holds their I/O logic, this file the ring, the
 * buffers and the slot table. A slot names a *user* (struct xm_uring_user), and completions
 * go to the callback the user registered, as libuv's uv__io_t does: this layer never knows
 * what a connection is.
 *
 * Lifetime: a CQE can arrive after its connection was closed and freed (a cancelled
 * receive completes in a later turn). CQEs therefore name a slot index and generation, never
 * a pointer; a closed connection's slot changes generation at once, and a stale CQE only
 * gives its buffer back.
 */

struct io_uring_sqe;
struct xm_chunk;
struct xm_loop;
struct xm_pool;
struct xm_uring;
struct iovec;
struct msghdr;

enum xm_uring_op {
	XM_UOP_NONE = 0,   /* cancellations: their own CQE carries nothing we need */
	XM_UOP_EPOLL,      /* the worker's epoll fd became readable */
	XM_UOP_RECV,
	XM_UOP_SEND,
	XM_UOP_CONNECT,    /* POLLOUT on a connecting socket */
	XM_UOP_WPOLL,      /* POLLOUT after a send came back EAGAIN */
	XM_UOP_REARM,      /* not a CQE: buffers are back after the user's receive ran dry (res 0) */
};

/* What a slot names: completions for it are delivered to cb (res and flags as in the CQE). */
struct xm_uring_user;
typedef void (*xm_uring_cb)(struct xm_uring_user *u, enum xm_uring_op op, int res, uint32_t flags);
struct xm_uring_user {
	xm_uring_cb cb;
};

#define XM_URING_BGID 0
#define XM_URING_SEND_IOV 8 /* iovecs per send (each up to a whole chunk) */

/* Backend choice (dp option / XMESH_IO_BACKEND). */
enum xm_io_backend {
	XM_IO_EPOLL = 0,
	XM_IO_URING = 1,   /* required: fail if the kernel refuses */
	XM_IO_AUTO = 2,    /* io_uring when the kernel offers it, else epoll */
};
int xm_io_backend_parse(const char *s);
const char *xm_io_backend_name(int b);

/* Can this kernel (and seccomp policy) run the backend? 0 or -errno. */
int xm_uring_probe(void);

/* Where the ring reports: each pointer may be NULL. */
struct xm_events;
struct xm_uring_report {
	struct xm_events *events;     /* failures of the ring itself (rate-limited log events) */
	uint64_t *recv_nobufs_total;  /* receives that found the buffer ring empty */
	uint64_t *enter_errors_total; /* io_uring_enter calls that failed (retried) */
	int64_t *connections;         /* gauge: connections on the ring (slots in use) */
};
/* Create the ring in the calling (worker) thread; it becomes the only thread that may
 * submit. Buffers come from pool. XM_URING_NO_INCREMENTAL: whole-chunk receives even where
 * the kernel offers incremental ones (the older kernels' path, for tests). */
#define XM_URING_NO_INCREMENTAL 0x1u
int xm_uring_new(struct xm_uring **out, struct xm_pool *pool, const struct xm_uring_report *report, unsigned flags);
/* Tear down after every connection was closed: waits for cancellations, returns buffers. */
void xm_uring_free(struct xm_uring *ur);

/* A slot names a user in CQEs; 0 = none (ENOMEM). */
uint32_t xm_uring_slot_new(struct xm_uring *ur, struct xm_uring_user *u);
void xm_uring_slot_free(struct xm_uring *ur, uint32_t slot);
uint64_t xm_uring_ud(const struct xm_uring *ur, uint32_t slot, enum xm_uring_op op);

/* An SQE (submitting the queue first if it is full); never NULL. idx names its slot in the
 * per-SQE scratch space (send headers and iovecs), valid until the next submit. */
struct io_uring_sqe *xm_uring_sqe(struct xm_uring *ur, unsigned *idx);
struct msghdr *xm_uring_msg(struct xm_uring *ur, unsigned idx);
struct iovec *xm_uring_iov(struct xm_uring *ur, unsigned idx);
/* Submit now (a close must make its cancellation take effect before close()). */
void xm_uring_submit(struct xm_uring *ur);

/* A receive's bytes (res > 0): the chunk and offset they start at. The ring keeps its
 * reference through the receive's owner's on_read (push slices to keep bytes). With
 * incremental buffers one chunk holds several receives, of several connections. */
struct xm_chunk *xm_uring_recv_buf(struct xm_uring *ur, uint32_t cqe_flags, int res, uint32_t *off);
/* After the owner had its bytes: a buffer the kernel has finished with goes back to the
 * ring as it is (nobody kept a slice), or is replaced by a fresh chunk (slices keep it). */
void xm_uring_recv_done(struct xm_uring *ur, uint32_t cqe_flags);
/* Are buffers consumed incrementally (kernel 6.12+)? Else each receive takes a whole chunk. */
int xm_uring_incremental(const struct xm_uring *ur);
/* Chunks the receive ring holds (memory accounting: they are the worker's, not a
 * connection's). */
unsigned xm_uring_ring_chunks(const struct xm_uring *ur);
/* A receive ran out of buffers: slot's user gets XM_UOP_REARM once buffers are back. */
void xm_uring_starved(struct xm_uring *ur, uint32_t slot);

/* Does the ring have work: a connection on it, or an operation not finished (a cancelled
 * receive still holds its socket open until its completion is reaped)? When not, the worker
 * sleeps in plain epoll_wait, so a worker serving only epoll connections (x_proxy) pays
 * nothing for the ring. */
int xm_uring_busy(const struct xm_uring *ur);
/* Buffers the pool could not supply, or receives waiting for them: the loop must turn
 * again within a tick even if nothing else happens. */
int xm_uring_retry_pending(const struct xm_uring *ur);

/* Wait (submitting everything queued) for at most timeout_ms (-1: no limit), dispatch the
 * completions to their connections and, when the epoll fd fired, the epoll events.
 * Returns the number of completions and events, or -errno. */
int xm_uring_run(struct xm_uring *ur, struct xm_loop *l, int timeout_ms);

#endif
