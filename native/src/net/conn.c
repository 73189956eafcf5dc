/* Connection I/O: one read per readiness event, direct write with queue-by-reference fallback. */
#include "net/conn.h"
#include "net/conn_int.h"

#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/uring.h"
#include "net/sockopt.h"

/* Bytes moved per splice call: the pipe is sized to hold this much. */
#define CONN__SPLICE_MAX (256u * 1024u)

static void conn__on_io(struct xm_io *io, uint32_t revents);


/* Recompute the epoll interest from the flags; xm_io_set skips unchanged masks. */
void xm__conn_update(struct xm_conn *c)
{
	uint32_t ev = 0;

	if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_DETACHED))
		return;
	if (xm_conn_on_ring(c)) {
		xm__conn_uring_update(c);
		return;
	}
	if (c->flags & XM_CONN_F_CONNECTING)
		ev = EPOLLOUT;
	else {
		if ((c->flags & (XM_CONN_F_READING | XM_CONN_F_EOF)) == XM_CONN_F_READING)
			ev |= EPOLLIN;
		if (!xm__conn_out_empty(c))
			ev |= EPOLLOUT;
	}
	if (xm_io_set(c->loop, &c->io, ev) < 0)
		c->flags |= XM_CONN_F_ERROR;
}

static void conn__init(struct xm_conn *c, struct xm_loop *loop, int fd, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	c->io.fd = fd;
	c->io.mask = 0;
	c->io.registered = 0;
	c->io.cb = conn__on_io;
	c->loop = loop;
	c->ops = ops;
	xm_iovq_init(&c->outq);
	c->rchunk = NULL;
	c->rxc = NULL;
	c->splice_to = NULL;
	c->pipe_r = c->pipe_w = -1;
	c->piped = 0;
	c->flags = 0;
	xm_link_init(&c->batch_link);
	xm_assert(high_wm > 0); /* the listener's or cluster's buffer limit */
	c->high_wm = high_wm;
	c->uslot = c->usend = 0;
	c->ru.cb = xm__conn_uring_cqe;
	c->rx_bytes = c->tx_bytes = 0;
}

/* Does this connection go through the worker's ring? Takes a slot if so. */
static int conn__want_uring(struct xm_conn *c, int *rc)
{
	struct xm_uring *ur = c->loop->ur;

	*rc = 0;
	if (!ur || !c->ops->uring)
		return 0;
	c->uslot = xm_uring_slot_new(ur, &c->ru);
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

int xm_conn_accept(struct xm_conn *c, struct xm_loop *loop, int fd, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	int rc;

	conn__init(c, loop, fd, ops, high_wm);
	conn__sockopts(fd);
	if (conn__want_uring(c, &rc))
		return rc; /* nothing is armed until read_start */
	return xm_io_add(loop, &c->io, 0);
}

int xm_conn_connect(struct xm_conn *c, struct xm_loop *loop, const struct sockaddr *sa, socklen_t salen,
		    const struct xm_sockopts *opts, const struct xm_conn_ops *ops, uint32_t high_wm)
{
	char why[160];
	int rc = 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	conn__init(c, loop, -1, ops, high_wm);
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
			struct xm_uring *ur = loop->ur;
			struct io_uring_sqe *sqe = xm_uring_sqe(ur, NULL);
			io_uring_prep_poll_add(sqe, fd, POLLOUT);
			io_uring_sqe_set_data64(sqe, xm_uring_ud(ur, c->uslot, XM_UOP_CONNECT));
		}
	} else {
		rc = xm_io_add(loop, &c->io, EPOLLOUT);
	}
out:
	if (rc < 0 && c->uslot) {
		xm_uring_slot_free(loop->ur, c->uslot);
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
	xm__conn_update(c);
}

void xm_conn_read_stop(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_READING;
	xm__conn_update(c);
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

int xm_conn_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	if (xm_unlikely(c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_SHUT_DONE)))
		return -EPIPE;
	if (xm_conn_on_ring(c))
		return xm__conn_uring_write(c, ch, off, len);
	if (xm_likely(xm__conn_out_empty(c) && !(c->flags & XM_CONN_F_CONNECTING))) {
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
	xm__conn_update(c);
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
	if (xm_conn_on_ring(c))
		return xm__conn_uring_write(c, ch, off, len);
	if (xm_iovq_push(&c->outq, ch, off, len) < 0)
		return -ENOMEM;
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->loop->batched, &c->batch_link);
	if (c->outq.bytes >= c->high_wm) {
		c->flags |= XM_CONN_F_ABOVE_HIGH;
		return XM_WRITE_PAUSE;
	}
	return XM_WRITE_OK;
}

static void conn__on_writable(struct xm_conn *c);

void xm_conn_flush_batched(struct xm_loop *l)
{
	while (l->batched.next != &l->batched) {
		struct xm_conn *c = xm_container_of(l->batched.next, struct xm_conn, batch_link);
		xm_link_del(&c->batch_link);
		if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_CONNECTING)) {
			xm__conn_update(c); /* a connecting socket flushes when it is up */
			continue;
		}
		if ((c->flags & XM_CONN_F_UENTER) && xm__conn_uring_finish_enter(c))
			continue;
		if (xm_conn_on_ring(c)) {
			xm__conn_uring_send(c);
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
	if (xm__conn_out_empty(c) && !(c->flags & XM_CONN_F_CONNECTING))
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
	if (xm_conn_on_ring(c)) {
		struct xm_uring *ur = c->loop->ur;
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
	if (c->rxc) {
		xm_chunk_unref(c->rxc);
		c->rxc = NULL;
	}
}

int xm_conn_release_fd(struct xm_conn *c)
{
	int fd = c->io.fd;

	if (c->flags & XM_CONN_F_CLOSED)
		return -1;
	xm_assert(!xm_conn_on_ring(c)); /* owners that opt into io_uring never hand fds over */
	if (fd >= 0 && c->io.registered)
		xm_io_del(c->loop, &c->io);
	c->io.fd = -1;
	xm_conn_close(c, XM_CLOSE_FIN);
	return fd;
}

int xm_conn_splice_start(struct xm_conn *src, struct xm_conn *dst)
{
	int p[2];

	if (xm_conn_on_ring(src) || xm_conn_on_ring(dst))
		return -ENOTSUP; /* a connection on the ring leaves it first (xm_conn_uring_leave) */
	if (!xm__conn_out_empty(dst))
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
		xm__conn_update(c);
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
		xm__conn_update(dst);
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
			ch = c->rchunk = xm_chunk_get(&c->loop->pool);
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
			xm__conn_update(c);
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

static void conn__on_writable(struct xm_conn *c)
{
	int rc = conn__flush(c);
	if (rc < 0) {
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, -rc);
		return;
	}
	xm__conn_after_flush(c);
}

/* After bytes went out: a pending FIN, the interest, and the drained notification. */
void xm__conn_after_flush(struct xm_conn *c)
{
	if (xm__conn_out_empty(c) && (c->flags & XM_CONN_F_SHUT_PENDING))
		conn__do_shutdown(c);
	xm__conn_update(c);
	/* Tell the owner when a backlog clears: below the low watermark after the high one
	 * (resume the source), or fully flushed (a half-closed pair may now finish). A
	 * spliced backlog counts as drained only when the pipe is empty. */
	int notify = xm__conn_out_empty(c);
	if ((c->flags & XM_CONN_F_ABOVE_HIGH) && c->piped == 0 && c->outq.bytes <= c->high_wm / 2) {
		c->flags &= ~XM_CONN_F_ABOVE_HIGH;
		notify = 1;
	}
	if (notify)
		c->ops->on_drained(c);
}

void xm__conn_on_connected(struct xm_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	c->flags &= ~XM_CONN_F_CONNECTING;
	if (err == 0) {
		/* Data queued while connecting goes out now (io_uring: at the turn's end). */
		if (!xm__conn_out_empty(c) && xm_conn_on_ring(c)) {
			xm__conn_uring_link(c);
		} else if (!xm__conn_out_empty(c)) {
			conn__flush(c);
		}
		if (xm__conn_out_empty(c) && (c->flags & XM_CONN_F_SHUT_PENDING))
			conn__do_shutdown(c);
		xm__conn_update(c);
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
		xm__conn_on_connected(c);
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
			} else if (!(c->flags & XM_CONN_F_SHUT_DONE) || !xm__conn_out_empty(c)) {
				/* The peer is gone while we still had bytes or a FIN to send. */
				c->flags |= XM_CONN_F_ERROR;
				c->ops->on_error(c, EPIPE);
			} else {
				/* Both directions are shut and nothing failed: a clean end. EPOLLHUP
				 * cannot be masked, so level-triggered epoll would report it forever:
				 * drop the fd from epoll. The owner finishes when its other side has
				 * flushed (our own output queue is empty: we shut down after it). */
				xm_io_del(c->loop, &c->io);
				c->flags |= XM_CONN_F_DETACHED;
			}
			return;
		}
		if (!(c->flags & XM_CONN_F_EOF))
			conn__on_readable(c);
	}
}
