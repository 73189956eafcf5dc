/* A non-blocking TCP connection: reads into pooled chunks, writes slices, tracks epoll interest. */
#ifndef XM_CONN_H
#define XM_CONN_H

#include <sys/socket.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/uring.h"

struct xm_conn;

/*
 * The owner (a tcp_proxy session, later a stream layer) supplies callbacks. Contract:
 *  - on_read gets bytes in a chunk the connection owns; to keep them past the call, push
 *    a slice of that chunk (xm_conn_write does so for the peer), never copy.
 *  - on_eof: the peer sent FIN; reading has stopped. on_error: the connection failed
 *    (reset, refused...): the owner must close it. on_drained: the output queue fell to
 *    the low watermark after having crossed the high one, or emptied after a backlog. on_connected: outbound connect
 *    finished (err = 0 or a positive errno).
 *  Callbacks may close the connection (xm_conn_close) but must not free its memory
 *  before the loop's deferred pass (xm_loop_defer).
 */
struct xm_conn_ops {
	void (*on_read)(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
	/* Splice mode only: n bytes moved from this connection into splice_to's pipe.
	 * status is enum xm_write_status (PAUSE: the destination is full, stop reading). */
	void (*on_spliced)(struct xm_conn *c, uint32_t n, int status);
	void (*on_eof)(struct xm_conn *c);
	void (*on_error)(struct xm_conn *c, int err);
	void (*on_drained)(struct xm_conn *c);
	void (*on_connected)(struct xm_conn *c, int err);
	/* The owner accepts the io_uring backend's terms (uring.h), used when the worker runs
	 * one: on_read may still deliver bytes received before a read_stop took effect (the
	 * first time at most what one loop turn received: the worker's receive ring, 2 MiB;
	 * later one chunk), xm_conn_release_fd and splice mode are unavailable (a connection
	 * can leave the ring for epoll: xm_conn_uring_leave). */
	int uring;
};

#define XM_CONN_F_READING 0x01u    /* read interest wanted */
#define XM_CONN_F_EOF 0x02u        /* FIN received */
#define XM_CONN_F_CONNECTING 0x04u
#define XM_CONN_F_SHUT_PENDING 0x08u /* shutdown(SHUT_WR) once the output queue drains */
#define XM_CONN_F_SHUT_DONE 0x10u
#define XM_CONN_F_ABOVE_HIGH 0x20u /* output queue crossed the high watermark */
#define XM_CONN_F_CLOSED 0x40u
#define XM_CONN_F_ERROR 0x80u
#define XM_CONN_F_DETACHED 0x100u /* removed from epoll after a clean full close */
#define XM_CONN_F_URECV 0x200u     /* io_uring: a multishot receive is armed */
#define XM_CONN_F_URECV_CANCEL 0x400u /* io_uring: ... and its cancellation was queued */
#define XM_CONN_F_USTARVED 0x800u  /* io_uring: the receive ran out of buffers, re-armed later */
#define XM_CONN_F_UWPOLL 0x1000u   /* io_uring: a send came back EAGAIN, waiting for POLLOUT */
#define XM_CONN_F_ULEAVE 0x2000u   /* io_uring: moving to epoll once its operations are done */
#define XM_CONN_F_UONESHOT 0x4000u /* io_uring: flow-controlled once: one buffer per receive */
#define XM_CONN_F_UENTER 0x8000u   /* epoll: moving onto the ring at the turn's end */
#define XM_CONN_F_RXCOPY 0x10000u  /* io_uring: the bytes on_read gets were copied (see xm_conn_rx_copied) */
#define XM_CONN_F_RXHELD 0x20000u  /* the owner holds an unfinished frame (xm_conn_rx_partial) */

/* Named results of a write, so callers branch on intent, not on magic numbers. */
enum xm_write_status {
	XM_WRITE_OK = 0,          /* queued or written; keep reading the source */
	XM_WRITE_PAUSE = 1,       /* output queue is above the high watermark: pause the source */
};

struct xm_conn {
	struct xm_io io;
	struct xm_link batch_link;  /* in the worker's list while batched output awaits the turn's end */
	struct xm_loop *loop;
	const struct xm_conn_ops *ops;
	struct xm_iovq outq;
	/* Bulk transfers: reads are spliced into the destination's pipe and from there into
	 * its socket, so the payload never enters user space. pipe_r/pipe_w belong to the
	 * destination (output side); splice_to is set on the source. */
	struct xm_conn *splice_to;
	int pipe_r, pipe_w;
	uint32_t piped;            /* bytes sitting in this connection's output pipe */
	struct xm_chunk *rchunk;   /* partly filled read chunk, or NULL when idle */
	struct xm_chunk *rxc;      /* io_uring without incremental buffers: small receives copied here */
	uint32_t flags;
	uint32_t high_wm;
	struct xm_uring_user ru;   /* io_uring: where the ring delivers our completions */
	uint32_t uslot;            /* io_uring: the slot naming us in completions (0: epoll mode) */
	uint32_t usend;            /* io_uring: bytes of the output queue's head in a send in flight */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
};

/* TCP keepalive for a socket (Envoy's TcpKeepalive); zero fields keep kernel defaults. */
struct xm_keepalive {
	uint8_t enabled;
	uint8_t probes;
	uint16_t time_s;
	uint16_t interval_s;
};
void xm_conn_set_keepalive(struct xm_conn *c, const struct xm_keepalive *ka);

/* Adopt an accepted (non-blocking) fd; interest starts empty, call xm_conn_read_start. */
int xm_conn_accept(struct xm_conn *c, struct xm_loop *loop, int fd, const struct xm_conn_ops *ops, uint32_t high_wm);
/* Start an outbound connect, with the cluster's socket options (NULL = none) set first;
 * completion arrives through ops->on_connected. Returns 0 or -errno (immediate failures
 * such as EMFILE, ENETUNREACH or an option the kernel refuses). */
struct xm_sockopts;
int xm_conn_connect(struct xm_conn *c, struct xm_loop *loop, const struct sockaddr *sa, socklen_t salen,
		    const struct xm_sockopts *opts, const struct xm_conn_ops *ops, uint32_t high_wm);

void xm_conn_read_start(struct xm_conn *c);
void xm_conn_read_stop(struct xm_conn *c);

/* Send a slice: written at once when nothing is queued, the remainder queued by reference.
 * Returns enum xm_write_status or -errno (EPIPE, ECONNRESET ...: the caller tears down). */
int xm_conn_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
/* Queue a slice (by reference) and flush it with everything else batched for this
 * connection at the end of the loop turn: one writev for a whole read's worth of frames
 * from many sources. Same statuses as xm_conn_write. */
int xm_conn_write_batched(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
/* The worker's turn_end hook: flush every batched connection. */
void xm_conn_flush_batched(struct xm_loop *l);

/* Half-close: FIN after the queue is flushed. */
void xm_conn_shutdown_write(struct xm_conn *c);

enum xm_close_mode {
	XM_CLOSE_FIN = 0,   /* close(): the kernel sends what it has, then FIN */
	XM_CLOSE_RESET = 1, /* SO_LINGER 0: RST, to propagate a reset from the other side */
};
/* Close the fd and release buffers; idempotent. The struct stays valid until freed by
 * its owner. */
void xm_conn_close(struct xm_conn *c, enum xm_close_mode mode);

/* Give the fd away without closing it (the connection changes owner, e.g. x_proxy
 * detection handing it to tcp_proxy): it leaves the loop, c's buffers are released and c
 * is closed. Unread bytes stay in the socket. Returns the fd, or -1 if c had none. */
int xm_conn_release_fd(struct xm_conn *c);

/* Switch src to splice mode towards dst (dst's output queue must be empty). Returns 0 or
 * -errno (then src simply stays in copy mode). */
int xm_conn_splice_start(struct xm_conn *src, struct xm_conn *dst);

/* io_uring mode copies writes up to this size into a per-connection chunk (coalescing:
 * a slow reader's backlog then costs its bytes, not a chunk per slice). */
#define XM_CONN_URING_COPY_MAX 2048u
/* Is the connection on the worker's io_uring? */
static inline int xm_conn_on_ring(const struct xm_conn *c) { return c->uslot != 0; }
/* Move it to epoll (for splice mode): no new operation is started, the receive is
 * cancelled, and once its operations in flight have completed it is registered with epoll
 * (at a turn's end; what is still queued goes out through the epoll path). No-op when not
 * on the ring. */
void xm_conn_uring_leave(struct xm_conn *c);
/* The reverse, for a connection whose owner now accepts the ring's terms (an x_proxy client
 * once detection has fixed its codec): from now on ops (which must have .uring set) serve
 * it, and at the turn's end it leaves epoll for the ring. No-op without a ring, on the ring
 * already, or once the connection saw EOF or was closed; stays on epoll if no slot can be
 * had. */
void xm_conn_uring_enter(struct xm_conn *c, const struct xm_conn_ops *ops);
/* Were the bytes this on_read delivers copied on the way in (for the owner's bytes_copied)?
 * Only io_uring copies, small receives only: without incremental buffers always (each would
 * pin a whole chunk), with them while the owner holds an unfinished frame (xm_conn_rx_partial:
 * a trickle's reads would each be a slice of a shared buffer, never contiguous with the last
 * one, so its queue would grow by a slice per read). */
static inline int xm_conn_rx_copied(const struct xm_conn *c) { return (c->flags & XM_CONN_F_RXCOPY) != 0; }
/* The owner holds an unfinished frame of this connection's bytes (1), or none (0): on
 * io_uring its next small receives are then copied into a chunk of its own, so a trickle
 * costs about its bytes, not a shared buffer's slice per read. */
static inline void xm_conn_rx_partial(struct xm_conn *c, int partial)
{
	if (partial)
		c->flags |= XM_CONN_F_RXHELD;
	else
		c->flags &= ~XM_CONN_F_RXHELD;
}
/* Will xm_conn_write copy these bytes (for the owner's bytes_copied)? */
static inline int xm_conn_copies(const struct xm_conn *c, uint32_t len) { return c->uslot && len <= XM_CONN_URING_COPY_MAX; }

static inline int xm_conn_is_closed(const struct xm_conn *c) { return (c->flags & XM_CONN_F_CLOSED) != 0; }
static inline uint64_t xm_conn_queued(const struct xm_conn *c) { return c->outq.bytes + c->piped; }

#endif
