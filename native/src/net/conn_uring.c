/* Connection I/O on the worker's io_uring (core/uring.h): multishot receives into the ring's chunks, sends batched at the turn's end.
 *
 * Receives: one multishot recv per reading connection, into the ring's chunks; a chunk
 * nobody kept after on_read goes straight back to the ring. Sends: queued slices go out at
 * the turn's end, one send (or sendmsg over up to XM_URING_SEND_IOV slices) in flight per
 * connection, submitted with the wait. rchunk is not a read chunk here but the chunk small
 * writes are copied into, so a slow reader's backlog costs its bytes, not a chunk per
 * slice; it is let go whenever the queue empties, so an idle connection holds no buffer. */

#include <liburing.h>
#include <poll.h>
#include <string.h>

#include "core/uring.h"
#include "net/conn.h"
#include "net/conn_int.h"

void xm__conn_uring_link(struct xm_conn *c)
{
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->loop->batched, &c->batch_link);
}

void xm__conn_uring_update(struct xm_conn *c)
{
	struct xm_uring *ur = c->loop->ur;
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

int xm__conn_uring_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct xm_iovq *q = &c->outq;

	if (len <= XM_CONN_URING_COPY_MAX) {
		struct xm_chunk *t = c->rchunk;
		if (!t || XM_CHUNK_SIZE - t->len < len) {
			if (t)
				xm_chunk_unref(t);
			t = c->rchunk = xm_chunk_get(&c->loop->pool);
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
		xm__conn_uring_link(c); /* else the send's (or the poll's) completion queues the rest */
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
	xm_uring_slot_free(c->loop->ur, c->uslot);
	c->uslot = 0;
	c->flags &= ~(XM_CONN_F_ULEAVE | XM_CONN_F_USTARVED);
	if (c->rchunk) { /* the write-coalescing chunk: on epoll rchunk is the read chunk */
		xm_chunk_unref(c->rchunk);
		c->rchunk = NULL;
	}
	if (xm_io_add(c->loop, &c->io, 0) < 0) {
		c->flags |= XM_CONN_F_ERROR;
		c->ops->on_error(c, ENOMEM);
		return;
	}
	/* Interest from the flags: EPOLLIN if reading, EPOLLOUT for what is still queued. */
	xm__conn_update(c);
}

void xm_conn_uring_enter(struct xm_conn *c, const struct xm_conn_ops *ops)
{
	if (!c->loop->ur || xm_conn_on_ring(c) || !ops->uring ||
	    (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR | XM_CONN_F_EOF | XM_CONN_F_DETACHED | XM_CONN_F_CONNECTING)))
		return;
	c->ops = ops;
	c->flags |= XM_CONN_F_UENTER;
	if (c->batch_link.next == &c->batch_link)
		xm_link_add(&c->loop->batched, &c->batch_link);
}

/* At the turn's end (the owner's callbacks are done with the epoll read path): take a
 * slot, drop the epoll registration and the read chunk (its bytes are referenced by the
 * owner's slices), then arm the receive and send what is queued on the ring. */
int xm__conn_uring_finish_enter(struct xm_conn *c)
{
	c->flags &= ~XM_CONN_F_UENTER;
	if (c->flags & (XM_CONN_F_CLOSED | XM_CONN_F_ERROR | XM_CONN_F_EOF | XM_CONN_F_DETACHED))
		return 0;
	uint32_t slot = xm_uring_slot_new(c->loop->ur, &c->ru);
	if (!slot)
		return 0; /* stays on epoll */
	if (c->io.registered)
		xm_io_del(c->loop, &c->io);
	if (c->rchunk) { /* on the ring rchunk is the write-coalescing chunk */
		xm_chunk_unref(c->rchunk);
		c->rchunk = NULL;
	}
	c->uslot = slot;
	xm__conn_update(c); /* the receive, if reading */
	xm__conn_uring_link(c); /* the queue, if any, goes out in this flush */
	return 1;
}

void xm_conn_uring_leave(struct xm_conn *c)
{
	if (!xm_conn_on_ring(c) || (c->flags & (XM_CONN_F_ULEAVE | XM_CONN_F_CLOSED)))
		return;
	c->flags |= XM_CONN_F_ULEAVE;
	xm__conn_update(c); /* cancels the receive */
	xm__conn_uring_link(c);
}

/* The turn's end: put the head of the output queue in flight. */
void xm__conn_uring_send(struct xm_conn *c)
{
	struct xm_uring *ur = c->loop->ur;
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
		struct xm_uring *ur = c->loop->ur;
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
		xm__conn_uring_link(c);
	}
	xm__conn_after_flush(c);
}

/* Without incremental buffers every receive takes a whole chunk: copy a small one into the
 * connection's own receive chunk (appending, as an epoll read does), so a trickle of bytes
 * costs about its size. ch and off become that chunk and offset. 0 when out of memory. */
static int conn__rx_copy(struct xm_conn *c, struct xm_chunk **ch, uint32_t *off, int res)
{
	struct xm_chunk *t = c->rxc;
	if (!t || XM_CHUNK_SIZE - t->len < (uint32_t)res) {
		if (t)
			xm_chunk_unref(t);
		if (!(t = c->rxc = xm_chunk_get(&c->loop->pool)))
			return 0;
	}
	memcpy(t->data + t->len, (*ch)->data + *off, (size_t)res);
	*off = t->len;
	t->len += (uint32_t)res;
	*ch = t;
	return 1;
}

static void conn__uring_recv(struct xm_conn *c, int res, uint32_t flags)
{
	struct xm_uring *ur = c->loop->ur;

	if (!(flags & IORING_CQE_F_MORE))
		c->flags &= ~(XM_CONN_F_URECV | XM_CONN_F_URECV_CANCEL);
	if (res > 0 && !(flags & IORING_CQE_F_BUFFER))
		res = -EIO; /* bytes without a buffer: cannot happen with BUFFER_SELECT; end this connection only */
	if (res > 0) {
		uint32_t off;
		struct xm_chunk *ch = xm_uring_recv_buf(ur, flags, res, &off);
		c->rx_bytes += (uint64_t)res;
		int copy = (uint32_t)res <= XM_CONN_URING_COPY_MAX &&
			   (!xm_uring_incremental(ur) || (c->flags & XM_CONN_F_RXHELD));
		if (copy && conn__rx_copy(c, &ch, &off, res)) {
			xm_uring_recv_done(ur, flags); /* its bytes were copied: the buffer goes back at once */
			c->flags |= XM_CONN_F_RXCOPY;
			xm_chunk_ref(ch);       /* through on_read, even if c is closed in it */
			c->ops->on_read(c, ch, off, (uint32_t)res);
			c->flags &= ~XM_CONN_F_RXCOPY;
			if (c->rxc == ch && ch->refcnt == 2) { /* nobody kept a byte: no idle buffer */
				xm_chunk_unref(c->rxc);
				c->rxc = NULL;
			}
			xm_chunk_unref(ch);
			if (!(flags & IORING_CQE_F_MORE) && !(c->flags & XM_CONN_F_CLOSED))
				xm__conn_update(c);
			return;
		}
		/* The ring's reference keeps ch alive through on_read, even if c is closed in it. */
		c->ops->on_read(c, ch, off, (uint32_t)res);
		xm_uring_recv_done(ur, flags);
		if (!(flags & IORING_CQE_F_MORE) && !(c->flags & XM_CONN_F_CLOSED))
			xm__conn_update(c);
		return;
	}
	xm_uring_recv_done(ur, flags);
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
		xm__conn_update(c); /* read_stop, maybe undone since: re-arm if reading again */
		return;
	}
	c->flags |= XM_CONN_F_ERROR;
	c->ops->on_error(c, -res);
}

void xm__conn_uring_cqe(struct xm_uring_user *u, enum xm_uring_op op, int res, uint32_t flags)
{
	struct xm_conn *c = xm_container_of(u, struct xm_conn, ru);

	if (op == XM_UOP_REARM) {
		c->flags &= ~XM_CONN_F_USTARVED;
		xm__conn_update(c);
		return;
	}
	/* A leaving connection finishes at the turn's end once this was its last operation. */
	if (c->flags & XM_CONN_F_ULEAVE)
		xm__conn_uring_link(c);
	switch (op) {
	case XM_UOP_RECV:
		conn__uring_recv(c, res, flags);
		break;
	case XM_UOP_SEND:
		conn__uring_sent(c, res);
		break;
	case XM_UOP_CONNECT:
		xm__conn_on_connected(c);
		break;
	case XM_UOP_WPOLL:
		c->flags &= ~XM_CONN_F_UWPOLL;
		xm__conn_uring_link(c);
		break;
	default:
		break;
	}
}

