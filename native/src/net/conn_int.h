/* Private glue between the two halves of a connection: conn.c (epoll, splice, common paths) and conn_uring.c (io_uring). */
#ifndef XM_CONN_INT_H
#define XM_CONN_INT_H

#include "core/uring.h"
#include "net/conn.h"

static inline int xm__conn_out_empty(const struct xm_conn *c) { return xm_iovq_empty(&c->outq) && c->piped == 0; }

/* conn.c */
void xm__conn_update(struct xm_conn *c);        /* interest from the flags (either backend) */
void xm__conn_after_flush(struct xm_conn *c);   /* pending FIN, interest, drained notification */
void xm__conn_on_connected(struct xm_conn *c);  /* the connect completed (either backend) */

/* conn_uring.c */
void xm__conn_uring_cqe(struct xm_uring_user *u, enum xm_uring_op op, int res, uint32_t flags);
void xm__conn_uring_update(struct xm_conn *c);  /* arm or cancel the receive */
void xm__conn_uring_link(struct xm_conn *c);    /* send at the turn's end */
int xm__conn_uring_write(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
void xm__conn_uring_send(struct xm_conn *c);
int xm__conn_uring_finish_enter(struct xm_conn *c);

#endif
