/* Sessions: what a worker does with an accepted connection, dispatched on the listener's filter. */
#ifndef XM_SESSION_H
#define XM_SESSION_H

#include <sys/socket.h>

#include "server/worker.h"
#include "xm.h"

struct xm_worker;
struct xm_listener_cfg;
struct xm_dp;

/* Why a session ended; counted per filter and written to the access log. */
enum xm_end_reason {
	XM_END_DOWNSTREAM_CLOSE = 0,  /* client closed first (FIN), normal */
	XM_END_UPSTREAM_CLOSE,        /* upstream closed first (FIN), normal */
	XM_END_DOWNSTREAM_RESET,
	XM_END_UPSTREAM_RESET,
	XM_END_CONNECT_FAILED,        /* every connect attempt failed */
	XM_END_CONNECT_TIMEOUT,       /* the last attempt timed out */
	XM_END_NO_HEALTHY_UPSTREAM,
	XM_END_OVERFLOW,              /* circuit breaker */
	XM_END_IDLE_TIMEOUT,
	XM_END_SHUTDOWN,
	XM_END_NO_MEMORY,
	XM_END__COUNT
};
const char *xm_end_reason_name(enum xm_end_reason r);

/* Per tcp_proxy stat_prefix, persistent for the data plane's lifetime. */
struct xm_tcp_stats {
	char *prefix;
	struct xm_tcp_stats *next;
	uint64_t *downstream_cx_total;
	uint64_t *downstream_cx_rx_bytes_total;
	uint64_t *downstream_cx_tx_bytes_total;
	uint64_t *downstream_flow_control_paused_reading_total;
	uint64_t *downstream_flow_control_resumed_reading_total;
	uint64_t *upstream_flow_control_paused_reading_total;
	uint64_t *upstream_flow_control_resumed_reading_total;
	uint64_t *upstream_connect_attempts_total;
	uint64_t *bytes_copied;      /* payload bytes copied in user space: 0 on epoll (zero-copy); io_uring copies writes <= 2 KiB */
	uint64_t *splice_started_total; /* directions switched to splice() for bulk transfer */
	int64_t *downstream_cx_active;
	uint64_t *end[XM_END__COUNT];
};
struct xm_tcp_stats *xm_tcp_stats_get(struct xm_dp *dp, const char *prefix);
void xm_tcp_stats_free_all(struct xm_dp *dp);

/* Access log sink: one O_APPEND file per path, whole lines per write(2). */
struct xm_alog {
	char *path;
	int fd;
	struct xm_alog *next;
};
int xm_alog_get(struct xm_dp *dp, const char *path, struct xm_alog **out);
void xm_alog_free_all(struct xm_dp *dp);

/* What every session kind embeds, so a worker can close them all on shutdown. */
struct xm_session {
	struct xm_link link;
	void (*abort)(struct xm_session *s, enum xm_end_reason why);
};

/* The tcp_proxy filter (tcp_proxy.c): take an accepted fd on listener lcfg (lcfg->tcp). */
void xm_tcp_proxy_accept(struct xm_worker *w, const struct xm_listener_cfg *lcfg, int fd,
			 const struct sockaddr_storage *peer, socklen_t plen);
/* Take over an accepted connection whose first bytes another filter already read (x_proxy
 * protocol detection that recognised no codec) as a tcp_proxy session of lcfg->tcp: fd must
 * be out of the worker's loop; pre's slices move to the session (pre is left empty) and go
 * upstream first, by reference; eof: the client's FIN came too. LB, breakers, connect
 * retries, stats and the access log apply as for any tcp_proxy session; the listener's
 * accept counter is not bumped again. lcfg must belong to the worker's current table. */
void xm_tcp_proxy_adopt(struct xm_worker *w, const struct xm_listener_cfg *lcfg, int fd, struct xm_iovq *pre,
			int eof);

/* Take ownership of an accepted fd. */
void xm_session_accept(struct xm_worker *w, const struct xm_listener_cfg *cfg, int fd,
		       const struct sockaddr_storage *peer, socklen_t plen);
/* Close every session of the worker (shutdown). */
void xm_session_close_all(struct xm_worker *w);

#endif
