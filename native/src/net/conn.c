/* Connection I/O: one read per readiness event, direct write with queue-by-reference fallback. */
#include "net/conn.h"

#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/sockopt.h"
#include "core/uring.h"
#include "server/worker.h"

/* Bytes moved per splice call: the pipe is sized to hold this much. */
#define CONN__SPLICE_MAX (256u * 1024u)

static void conn__on_io(struct xm_io *io, uint32_t revents);

static inline int conn__out_empty(const struct xm_conn *c) { return xm_iovq_empty(&c->outq) && c->piped == 0; }
static inline int conn__uring(const struct xm_conn *c) { return c->uslot != 0; }
static void conn__uring_update(struct xm_conn *c);
static void conn__uring_link(struct xm_conn *c);

/* Recompute the epoll interest from the flags; xm_io_set skips unchanged masks. */
static void conn__update(struct xm_conn *c)
{
	uint32_t ev = 0;

	if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_DETACHED))
		return;
	if (conn__uring(c)) {
		conn__uring_update(c);
		return;
	}
	if (c->flags & XM_CONN_F_CONNECTING)
		ev = EPOLLOUT;
	else {
		if ((c->flags & (XM_CONN_F_READING | XM_CONN_F_EOF)) == XM_CONN_F_READING)
			ev |= EPOLLIN;
		if (!conn__out_empty(c))
			ev |= EPOLLOUT;
	}
	if (xm_io_set(&c->w->loop, &c->io, ev) < 0)
		c->flags |= XM_CONN_F_ERROR;
}

static void conn__init(struct xm_conn *c, struct xm_worker *w, int fd, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	c->io.fd = fd;
	c->io.mask = 0;
	c->io.registered = 0;
	c->io.cb = conn__on_io;
	c->w = w;
	c->ops = ops;
	xm_iovq_init(&c->outq);
	c->rchunk = NULL;
	c->splice_to = NULL;
	c->pipe_r = c->pipe_w = -1;
	c->piped = 0;
	c->flags = 0;
	xm_link_init(&c->batch_link);
	c->high_wm = high_wm ? high_wm : (1u << 20);
	c->uslot = c->usend = 0;
	c->rx_bytes = c->tx_bytes = 0;
}

/* Does this connection go through the worker's ring? Takes a slot if so. */
static int conn__want_uring(struct xm_conn *c, int *rc)
{
	struct xm_uring *ur = c->w->loop.ur;

	*rc = 0;
	if (!ur || !c->ops->uring)
		return 0;
	c->uslot = xm_uring_slot_new(ur, c);
	if (!c->uslot)
		*rc = -ENOMEM;
	return 1;
}

static void conn__sockopts(int fd)
{
	int one = 1;
	/* Proxied request/response traffic must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void xm_conn_set_keepalive(struct xm_conn *c, const struct xm_keepalive *ka)
{
	int one = 1, v;

	if (!ka->enabled || c->io.fd < 0)
		return;
	setsockopt(c->io.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (ka->probes && (v = ka->probes))
		setsockopt(c->io.fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
	if (ka->time_s && (v = ka->time_s))
		setsockopt(c->io.fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
	if (ka->interval_s && (v = ka->interval_s))
		setsockopt(c->io.fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
}

int xm_conn_accept(struct xm_conn *c, struct xm_worker *w, int fd, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	int rc;

	conn__init(c, w, fd, ops, high_wm);
	conn__sockopts(fd);
	if (conn__want_uring(c, &rc))
		return rc; /* nothing is armed until read_start */
	return xm_io_add(&w->loop, &c->io, 0);
}

int xm_conn_connect(struct xm_conn *c, struct xm_worker *w, const struct sockaddr *sa, socklen_t salen,
		    const struct xm_sockopts *opts, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	char why[160];
	int rc = 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	conn__init(c, w, -1, ops, high_wm);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	conn__sockopts(fd);
	c->io.fd = fd;
	if ((rc = xm_sockopts_apply(fd, opts, -1, why, sizeof(why))) < 0)
		goto out;
	if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	/* Even an immediate success is reported through the loop, so the caller sees one
	 * code path. */
	c->flags |= XM_CONN_F_CONNECTING;
	if (conn__want_uring(c, &rc)) {
		if (rc == 0) {
			struct xm_uring *ur = w->loop.ur;
			struct io_uring_sqe *sqe = xm_uring_sqe(ur, NULL);
			io_uring_prep_poll_add(sqe, fd, POLLOUT);
			io_uring_sqe_set_data64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_CONNECT));
		}
	} else {
		rc = xm_io_add(&w->loop, &c->io, EPOLLOUT);
	}
out:
	if (rc < 0 && c->uslot) {
		xm_uring_slot_free(w->loop.ur, c->uslot);
		c->uslot = 0;
	}
	if (rc < 0 && fd >= 0) {
		close(fd);
		c->io.fd = -1;
		c->flags |= XM_CONN_F_CLOSED;
	}
	return rc;
}

void xm_conn_read_start(struct xm_conn *c)
{
	c->flags |= XM_CONN_F_READING;
	conn__update(c);
}

void xm_conn_read_stop(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_READING;
	conn__update(c);
}

static void conn__do_shutdown(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_SHUT_PENDING;
	c->flags |= XM_CONN_F_SHUT_DONE;
	shutdown(c->io.fd, SHUT_WR);
}

/* Write as much of the queue as the socket takes. Returns 0 or -errno. */
static int conn__flush(struct xm_conn *c)
{
	struct iovec iov[XM_IOVQ_MAX_IOV];

	while (!xm_iovq_empty(&c->outq)) {
		int n = xm_iovq_iov(&c->outq, iov, XM_IOVQ_MAX_IOV);
		ssize_t w = writev(c->io.fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->tx_bytes += (uint64_t)w;
		xm_iovq_consume(&c->outq, (uint64_t)w);
		if (n < XM_IOVQ_MAX_IOV && !xm_iovq_empty(&c->outq))
			return 0; /* short write: the socket buffer is full */
	}
	while (c->piped > 0) {
		ssize_t w = splice(c->pipe_r, NULL, c->io.fd, NULL, c->piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->tx_bytes += (uint64_t)w;
		c->piped -= (uint32_t)w;
	}
	return 0;
}

static int conn__uring_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);

int xm_conn_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	if (xm_unlikely(c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_SHUT_DONE)))
		return -EPIPE;
	if (conn__uring(c))
		return conn__uring_write(c, ch, off, len);
	if (xm_likely(conn__out_empty(c) && !(c->flags & XM_CONN_F_CONNECTING))) {
		ssize_t w = send(c->io.fd, ch->data + off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			w = 0;
		}
		c->tx_bytes += (uint64_t)w;
		if ((uint32_t)w == len)
			return XM_WRITE_OK;
		off += (uint32_t)w;
		len -= (uint32_t)w;
	}
	if (xm_iovq_push(&c->outq, ch, off, len) < 0)
		return -ENOMEM;
	conn__update(c);
	if (c->outq.bytes >= c->high_wm) {
		c->flags |= XM_CONN_F_ABOVE_HIGH;
		return XM_WRITE_PAUSE;
	}
	return XM_WRITE_OK;
}

int xm_conn_write_batched(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	if (xm_unlikely(c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_SHUT_DONE)))
		return -EPIPE;
	if (conn__uring(c))
		return conn__uring_write(c, ch, off, len);
	if (xm_iovq_push(&c->outq, ch, off, len) < 0)
		return -ENOMEM;
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->w->batched, &c->batch_link);
	if (c->outq.bytes >= c->high_wm) {
		c->flags |= XM_CONN_F_ABOVE_HIGH;
		return XM_WRITE_PAUSE;
	}
	return XM_WRITE_OK;
}

static void conn__on_writable(struct xm_conn *c);
static void conn__uring_send(struct xm_conn *c);
static int conn__uring_finish_enter(struct xm_conn *c);

void xm_conn_flush_batched(struct xm_worker *w)
{
	while (w->batched.next != &w->batched) {
		struct xm_conn *c = xm_container_of(w->batched.next, struct xm_conn, batch_link);
		xm_link_del(&c->batch_link);
		if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_CONNECTING)) {
			conn__update(c); /* a connecting socket flushes when it is up */
			continue;
		}
		if ((c->flags & XM_CONN_F_UENTER) && conn__uring_finish_enter(c))
			continue;
		if (conn__uring(c)) {
			conn__uring_send(c);
			continue;
		}
		/* Same as a writable event: flush, pending FIN, interest, drained notification
		 * (a half-closed client may finish once its last responses are out). */
		conn__on_writable(c);
	}
}

void xm_conn_shutdown_write(struct xm_conn *c)
{
	if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_SHUT_DONE))
		return;
	if (conn__out_empty(c) && !(c->flags & XM_CONN_F_CONNECTING))
		conn__do_shutdown(c);
	else
		c->flags |= XM_CONN_F_SHUT_PENDING;
}

void xm_conn_close(struct xm_conn *c, enum xm_close_mode mode)
{
	if (c->flags & XM_CONN_F_CLOSED)
		return;
	c->flags |= XM_CONN_F_CLOSED;
	if (c->batch_link.next != &c->batch_link)
		xm_link_del(&c->batch_link);
	if (conn__uring(c)) {
		struct xm_uring *ur = c->w->loop.ur;
		/* Operations in flight hold the socket open and read the output queue: cancel
		 * them now (a submit: queued ones are issued first, then cancelled), so that
		 * close() below really ends the socket and the queue can be released. */
		if (c->io.fd >= 0 && ((c->flags & (XM_CONN_F_URECV | XM_CONN_F_CONNECTING | XM_CONN_F_UWPOLL)) || c->usend)) {
			struct io_uring_sqe *sqe = xm_uring_sqe(ur, NULL);
			io_uring_prep_cancel_fd(sqe, c->io.fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, XM_UOP_NONE);
			xm_uring_submit(ur);
		}
		xm_uring_slot_free(ur, c->uslot);
		c->uslot = 0;
		c->usend = 0;
	}
	if (c->io.fd >= 0) {
		if (mode == XM_CLOSE_RESET) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		/* close() also removes the fd from epoll: we never dup data-plane fds. */
		close(c->io.fd);
		c->io.fd = -1;
		c->io.registered = 0;
	}
	xm_iovq_clear(&c->outq);
	if (c->pipe_r >= 0) {
		close(c->pipe_r);
		close(c->pipe_w);
		c->pipe_r = c->pipe_w = -1;
		c->piped = 0;
	}
	c->splice_to = NULL;
	if (c->rchunk) {
		xm_chunk_unref(c->rchunk);
		c->rchunk = NULL;
	}
}

int xm_conn_release_fd(struct xm_conn *c)
{
	int fd = c->io.fd;

	if (c->flags & XM_CONN_F_CLOSED)
		return -1;
	xm_assert(!conn__uring(c)); /* owners that opt into io_uring never hand fds over */
	if (fd >= 0 && c->io.registered)
		xm_io_del(&c->w->loop, &c->io);
	c->io.fd = -1;
	xm_conn_close(c, XM_CLOSE_FIN);
	return fd;
}

int xm_conn_splice_start(struct xm_conn *src, struct xm_conn *dst)
{
	int p[2];

	if (conn__uring(src) || conn__uring(dst))
		return -ENOTSUP; /* a connection on the ring leaves it first (xm_conn_uring_leave) */
	if (!conn__out_empty(dst))
		return -EBUSY;
	if (src->rchunk) {
		/* Only this connection may still hold its read chunk (all of it was written). */
		if (src->rchunk->refcnt != 1)
			return -EBUSY;
		xm_chunk_unref(src->rchunk);
		src->rchunk = NULL;
	}
	if (dst->pipe_r < 0) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return -errno;
		/* The pipe is this connection's output buffer in splice mode: size it like the
		 * buffer limit (the kernel rounds up to a power-of-two number of pages). */
		uint32_t sz = dst->high_wm < CONN__SPLICE_MAX ? dst->high_wm : CONN__SPLICE_MAX;
		fcntl(p[1], F_SETPIPE_SZ, (int)(sz < 16384 ? 16384 : sz));
		dst->pipe_r = p[0];
		dst->pipe_w = p[1];
	}
	src->splice_to = dst;
	return 0;
}

/* Splice mode: socket -> dst's pipe -> dst's socket, all in the kernel. */
static void conn__on_readable_splice(struct xm_conn *c)
{
	struct xm_conn *dst = c->splice_to;
	int status = XM_WRITE_OK;

	ssize_t n = splice(c->io.fd, NULL, dst->pipe_w, NULL, CONN__SPLICE_MAX, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n == 0) {
		c->flags |= XM_CONN_F_EOF;
		conn__update(c);
		c->ops->on_eof(c);
		return;
	}
	if (n < 0) {
		/* EAGAIN from splice can also mean "pipe full": the destination drains it and
		 * on_drained resumes us, so either way there is nothing to do now. */
		if (errno == EAGAIN || errno == EINTR)
			return;
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, errno);
		return;
	}
	c->rx_bytes += (uint64_t)n;
	dst->piped += (uint32_t)n;
	int rc = conn__flush(dst);
	if (rc < 0) {
		/* The destination failed: report it as a failed write, like xm_conn_write. */
		status = rc;
	} else if (dst->piped > 0) {
		dst->flags |= XM_CONN_F_ABOVE_HIGH;
		conn__update(dst);
		status = XM_WRITE_PAUSE;
	}
	c->ops->on_spliced(c, (uint32_t)n, status);
}

/* Reads per readiness event at most: a read that fills all the space offered probably left
 * more bytes in the socket, so read again (into a fresh chunk) rather than wait for the next
 * epoll_wait. Bounded so one busy connection cannot starve the others in the turn. */
#define CONN__READS_PER_EVENT 4

static void conn__on_readable(struct xm_conn *c)
{
	if (c->splice_to) {
		conn__on_readable_splice(c);
		return;
	}
	for (int i = 0; i < CONN__READS_PER_EVENT; i++) {
		struct xm_chunk *ch = c->rchunk;
		if (!ch || ch->len == XM_CHUNK_SIZE) {
			if (ch)
				xm_chunk_unref(ch);
			ch = c->rchunk = xm_chunk_get(&c->w->pool);
			if (!ch) {
				c->flags |= XM_CONN_F_ERROR;
				c->ops->on_error(c, ENOMEM);
				return;
			}
		}
		uint32_t off = ch->len;
		uint32_t room = XM_CHUNK_SIZE - off;
		ssize_t n = read(c->io.fd, ch->data + off, room);
		if (n > 0) {
			ch->len += (uint32_t)n;
			c->rx_bytes += (uint64_t)n;
			c->ops->on_read(c, ch, off, (uint32_t)n);
			/* If nobody kept a slice, recycle the chunk now so an idle connection holds no
			 * buffer memory. (on_read may have closed c, which already dropped rchunk.) */
			if (c->rchunk == ch && ch->refcnt == 1) {
				c->rchunk = NULL;
				xm_chunk_unref(ch);
			}
			if ((uint32_t)n < room || (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR | XM_CONN_F_EOF)) ||
			    !(c->flags & XM_CONN_F_READING) || c->splice_to)
				return;
			continue;
		}
		if (n == 0) {
			c->flags |= XM_CONN_F_EOF;
			conn__update(c);
			c->ops->on_eof(c);
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, errno);
		return;
	}
}

static void conn__after_flush(struct xm_conn *c);

static void conn__on_writable(struct xm_conn *c)
{
	int rc = conn__flush(c);
	if (rc < 0) {
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, -rc);
		return;
	}
	conn__after_flush(c);
}

/* After bytes went out: a pending FIN, the interest, and the drained notification. */
static void conn__after_flush(struct xm_conn *c)
{
	if (conn__out_empty(c) && (c->flags & XM_CONN_F_SHUT_PENDING))
		conn__do_shutdown(c);
	conn__update(c);
	/* Tell the owner when a backlog clears: below the low watermark after the high one
	 * (resume the source), or fully flushed (a half-closed pair may now finish). A
	 * spliced backlog counts as drained only when the pipe is empty. */
	int notify = conn__out_empty(c);
	if ((c->flags & XM_CONN_F_ABOVE_HIGH) && c->piped == 0 && c->outq.bytes <= c->high_wm / 2) {
		c->flags &= ~XM_CONN_F_ABOVE_HIGH;
		notify = 1;
	}
	if (notify)
		c->ops->on_drained(c);
}

static void conn__on_connected(struct xm_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	c->flags &= ~XM_CONN_F_CONNECTING;
	if (err == 0) {
		/* Data queued while connecting goes out now (io_uring: at the turn's end). */
		if (!conn__out_empty(c) && conn__uring(c)) {
			conn__uring_link(c);
		} else if (!conn__out_empty(c)) {
			conn__flush(c);
		}
		if (conn__out_empty(c) && (c->flags & XM_CONN_F_SHUT_PENDING))
			conn__do_shutdown(c);
		conn__update(c);
	} else {
		c->flags |= XM_CONN_F_ERROR;
	}
	c->ops->on_connected(c, err);
}

static void conn__on_io(struct xm_io *io, uint32_t revents)
{
	struct xm_conn *c = xm_container_of(io, struct xm_conn, io);

	if (c->flags & XM_CONN_F_CLOSED)
		return;
	if (c->flags & XM_CONN_F_CONNECTING) {
		conn__on_connected(c);
		return;
	}
	if (revents & EPOLLOUT) {
		conn__on_writable(c);
		if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR))
			return;
	}
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* EPOLLERR / EPOLLHUP: the read reports the real error (or EOF). */
		if ((c->flags & XM_CONN_F_EOF) && (revents & (EPOLLHUP | EPOLLERR))) {
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				c->flags |= XM_CONN_F_ERROR;
				c->ops->on_error(c, err);
			} else if (!(c->flags & XM_CONN_F_SHUT_DONE) || !conn__out_empty(c)) {
				/* The peer is gone while we still had bytes or a FIN to send. */
				c->flags |= XM_CONN_F_ERROR;
				c->ops->on_error(c, EPIPE);
			} else {
				/* Both directions are shut and nothing failed: a clean end. EPOLLHUP
				 * cannot be masked, so level-triggered epoll would report it forever:
				 * drop the fd from epoll. The owner finishes when its other side has
				 * flushed (our own output queue is empty: we shut down after it). */
				xm_io_del(&c->w->loop, &c->io);
				c->flags |= XM_CONN_F_DETACHED;
			}
			return;
		}
		if (!(c->flags & XM_CONN_F_EOF))
			conn__on_readable(c);
	}
}

/* ---- io_uring mode (uring.h) ------------------------------------------------------------
 * Receives: one multishot recv per reading connection, into the ring's chunks; a chunk
 * nobody kept after on_read goes straight back to the ring. Sends: queued slices go out at
 * the turn's end, one send (or sendmsg over up to XM_URING_SEND_IOV slices) in flight per
 * connection, submitted with the wait. rchunk is not a read chunk here but the chunk small
 * writes are copied into, so a slow reader's backlog costs its bytes, not a chunk per
 * slice; it is let go whenever the queue empties, so an idle connection holds no buffer. */

static void conn__uring_link(struct xm_conn *c)
{
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->w->batched, &c->batch_link);
}

static void conn__uring_update(struct xm_conn *c)
{
	struct xm_uring *ur = c->w->loop.ur;
	struct io_uring_sqe *sqe;

	if (c->flags & (XM_CONN_F_ERROR | XM_CONN_F_CONNECTING))
		return;
	int want = (c->flags & (XM_CONN_F_READING | XM_CONN_F_EOF | XM_CONN_F_ULEAVE)) == XM_CONN_F_READING;
	if (want && !(c->flags & (XM_CONN_F_URECV | XM_CONN_F_USTARVED))) {
		sqe = xm_uring_sqe(ur, NULL);
		if (c->flags & XM_CONN_F_UONESHOT) {
			io_uring_prep_recv(sqe, c->io.fd, NULL, 0, 0);
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		} else {
			io_uring_prep_recv_multishot(sqe, c->io.fd, NULL, 0, 0);
		}
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = XM_URING_BGID;
		io_uring_sqe_set_data64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_RECV));
		c->flags |= XM_CONN_F_URECV;
	} else if (!want && (c->flags & (XM_CONN_F_URECV | XM_CONN_F_URECV_CANCEL)) == XM_CONN_F_URECV) {
		/* Backpressure: stop the receive. What it already took still arrives (on_read):
		 * a multishot receive takes all the socket holds while the ring has buffers, so
		 * from now on this connection receives one buffer per receive (UONESHOT) and a
		 * later pause overshoots by one chunk at most. */
		c->flags |= XM_CONN_F_UONESHOT;
		sqe = xm_uring_sqe(ur, NULL);
		io_uring_prep_cancel64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_RECV), 0);
		io_uring_sqe_set_data64(sqe, XM_UOP_NONE);
		c->flags |= XM_CONN_F_URECV_CANCEL;
	}
}

static int conn__uring_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xm_iovq *q = &c->outq;

	if (len <= XM_CONN_URING_COPY_MAX) {
		struct xm_chunk *t = c->rchunk;
		if (!t || XM_CHUNK_SIZE - t->len < len) {
			if (t)
				xm_chunk_unref(t);
			t = c->rchunk = xm_chunk_get(&c->w->pool);
			if (!t)
				return -ENOMEM;
		}
		memcpy(t->data + t->len, ch->data + off, len);
		struct xm_slice *last = q->n ? &q->s[(q->head + q->n - 1) & (q->cap - 1)] : NULL;
		/* Contiguous with the last slice: extend it. Safe even if that slice is in a send
		 * in flight: completions consume bytes from the head, not slices. */
		if (last && last->c == t && last->off + last->len == t->len) {
			last->len += len;
			q->bytes += len;
		} else if (xm_iovq_push(q, t, t->len, len) < 0) {
			return -ENOMEM;
		}
		t->len += len;
	} else if (xm_iovq_push(q, ch, off, len) < 0) {
		return -ENOMEM;
	}
	if (!c->usend && !(c->flags & XM_CONN_F_UWPOLL))
		conn__uring_link(c); /* else the send's (or the poll's) completion queues the rest */
	if (q->bytes >= c->high_wm) {
		c->flags |= XM_CONN_F_ABOVE_HIGH;
		return XM_WRITE_PAUSE;
	}
	return XM_WRITE_OK;
}

/* Leaving the ring and nothing in flight any more: register with epoll. Runs at a turn's
 * end (from the batched flush), never inside an owner's callback. */
static void conn__uring_finish_leave(struct xm_conn *c)
{
	if ((c->flags & (XM_CONN_F_URECV | XM_CONN_F_UWPOLL | XM_CONN_F_CLOSED)) || c->usend)
		return; /* the last completion queues us again */
	xm_uring_slot_free(c->w->loop.ur, c->uslot);
	c->uslot = 0;
	c->flags &= ~(XM_CONN_F_ULEAVE | XM_CONN_F_USTARVED);
	if (c->rchunk) { /* the write-coalescing chunk: on epoll rchunk is the read chunk */
		xm_chunk_unref(c->rchunk);
		c->rchunk = NULL;
	}
	if (xm_io_add(&c->w->loop, &c->io, 0) < 0) {
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, ENOMEM);
		return;
	}
	/* Interest from the flags: EPOLLIN if reading, EPOLLOUT for what is still queued. */
	conn__update(c);
}

void xm_conn_uring_enter(struct xm_conn *c, const struct xm_conn_ops *ops)
{
	if (!c->w->loop.ur || conn__uring(c) || !ops->uring ||
	    (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR | XM_CONN_F_EOF | XM_CONN_F_DETACHED | XM_CONN_F_CONNECTING)))
		return;
	c->ops = ops;
	c->flags |= XM_CONN_F_UENTER;
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->w->batched, &c->batch_link);
}

/* At the turn's end (the owner's callbacks are done with the epoll read path): take a
 * slot, drop the epoll registration and the read chunk (its bytes are referenced by the
 * owner's slices), then arm the receive and send what is queued on the ring. */
static int conn__uring_finish_enter(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_UENTER;
	if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR | XM_CONN_F_EOF | XM_CONN_F_DETACHED))
		return 0;
	uint32_t slot = xm_uring_slot_new(c->w->loop.ur, c);
	if (!slot)
		return 0; /* stays on epoll */
	if (c->io.registered)
		xm_io_del(&c->w->loop, &c->io);
	if (c->rchunk) { /* on the ring rchunk is the write-coalescing chunk */
		xm_chunk_unref(c->rchunk);
		c->rchunk = NULL;
	}
	c->uslot = slot;
	conn__update(c); /* the receive, if reading */
	conn__uring_link(c); /* the queue, if any, goes out in this flush */
	return 1;
}

void xm_conn_uring_leave(struct xm_conn *c)
{
	if (!conn__uring(c) || (c->flags & (XM_CONN_F_ULEAVE | XM_CONN_F_CLOSED)))
		return;
	c->flags |= XM_CONN_F_ULEAVE;
	conn__update(c); /* cancels the receive */
	conn__uring_link(c);
}

/* The turn's end: put the head of the output queue in flight. */
static void conn__uring_send(struct xm_conn *c)
{
	struct xm_uring *ur = c->w->loop.ur;
	unsigned idx;

	if (c->flags & XM_CONN_F_ULEAVE) {
		conn__uring_finish_leave(c);
		return;
	}
	if ((c->flags & (XM_CONN_F_ERROR | XM_CONN_F_CONNECTING | XM_CONN_F_UWPOLL)) || c->usend ||
	    xm_iovq_empty(&c->outq))
		return;
	struct io_uring_sqe *sqe = xm_uring_sqe(ur, &idx);
	struct iovec *iov = xm_uring_iov(ur, idx);
	int n = xm_iovq_iov(&c->outq, iov, XM_URING_SEND_IOV);
	uint32_t bytes = 0;
	for (int i = 0; i < n; i++)
		bytes += (uint32_t)iov[i].iov_len;
	if (n == 1) {
		io_uring_prep_send(sqe, c->io.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	} else {
		struct msghdr *m = xm_uring_msg(ur, idx);
		memset(m, 0, sizeof(*m));
		m->msg_iov = iov;
		m->msg_iovlen = (size_t)n;
		io_uring_prep_sendmsg(sqe, c->io.fd, m, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_SEND));
	c->usend = bytes;
}

static void conn__uring_sent(struct xm_conn *c, int res)
{
	c->usend = 0;
	if (res == -EAGAIN) {
		/* The kernel may hand a full socket's send back instead of waiting on it: wait
		 * for room ourselves, then send again. */
		struct xm_uring *ur = c->w->loop.ur;
		struct io_uring_sqe *sqe = xm_uring_sqe(ur, NULL);
		io_uring_prep_poll_add(sqe, c->io.fd, POLLOUT);
		io_uring_sqe_set_data64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_WPOLL));
		c->flags |= XM_CONN_F_UWPOLL;
		return;
	}
	if (res < 0) {
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, -res);
		return;
	}
	c->tx_bytes += (uint64_t)res;
	xm_iovq_consume(&c->outq, (uint64_t)res);
	if (xm_iovq_empty(&c->outq)) {
		if (c->rchunk) {
			xm_chunk_unref(c->rchunk);
			c->rchunk = NULL;
		}
	} else {
		conn__uring_link(c);
	}
	conn__after_flush(c);
}

static void conn__uring_recv(struct xm_conn *c, int res, uint32_t flags)
{
	struct xm_uring *ur = c->w->loop.ur;

	if (!(flags & IORING_CQE_F_MORE))
		c->flags &= ~(XM_CONN_F_URECV | XM_CONN_F_URECV_CANCEL);
	if (res > 0 && !(flags & IORING_CQE_F_BUFFER))
		res = -EIO; /* bytes without a buffer: cannot happen with BUFFER_SELECT; end this connection only */
	if (res > 0) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		struct xm_chunk *ch = xm_uring_buf(ur, bid);
		ch->len = (uint32_t)res;
		c->rx_bytes += (uint64_t)res;
		/* The ring's reference keeps ch alive through on_read, even if c is closed in it. */
		c->ops->on_read(c, ch, 0, (uint32_t)res);
		if (ch->refcnt == 1) {
			xm_uring_buf_recycle(ur, bid);
		} else {
			xm_uring_buf_take(ur, bid); /* the slices keep it; the ring gets a fresh chunk */
			xm_chunk_unref(ch);
		}
		if (!(flags & IORING_CQE_F_MORE) && !(c->flags & XM_CONN_F_CLOSED))
			conn__update(c);
		return;
	}
	if (flags & IORING_CQE_F_BUFFER)
		xm_uring_buf_recycle(ur, flags >> IORING_CQE_BUFFER_SHIFT);
	if (res == 0) {
		c->flags |= XM_CONN_F_EOF;
		c->ops->on_eof(c);
		return;
	}
	if (res == -ENOBUFS) {
		c->flags |= XM_CONN_F_USTARVED;
		xm_uring_starved(ur, c->uslot);
		return;
	}
	if (res == -ECANCELED || res == -EAGAIN) {
		conn__update(c); /* read_stop, maybe undone since: re-arm if reading again */
		return;
	}
	c->flags |= XM_CONN_F_ERROR;
	c->ops->on_error(c, -res);
}

void xm_conn_uring_cqe(struct xm_conn *c, enum xm_uring_op op, int res, uint32_t flags)
{
	/* A leaving connection finishes at the turn's end once this was its last operation. */
	if (c->flags & XM_CONN_F_ULEAVE)
		conn__uring_link(c);
	switch (op) {
	case XM_UOP_RECV:
		conn__uring_recv(c, res, flags);
		break;
	case XM_UOP_SEND:
		conn__uring_sent(c, res);
		break;
	case XM_UOP_CONNECT:
		conn__on_connected(c);
		break;
	case XM_UOP_WPOLL:
		c->flags &= ~XM_CONN_F_UWPOLL;
		conn__uring_link(c);
		break;
	default:
		break;
	}
}

void xm_conn_uring_rearm(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_USTARVED;
	conn__update(c);
}
