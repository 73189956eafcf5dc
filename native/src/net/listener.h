/* Listening sockets: bound once by the control side, shared by every worker with EPOLLEXCLUSIVE. */
#ifndef XM_LISTENER_H
#define XM_LISTENER_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "stats/hist.h"
#include "net/sockopt.h"

struct xm_events;

/* A worker's accept callback, in that worker's loop: fd is non-blocking and now the callee's. */
typedef void (*xm_accept_cb)(struct xm_loop *loop, void *ctx, int fd, const struct sockaddr_storage *peer,
			     socklen_t plen);

/*
 * Why one shared socket with EPOLLEXCLUSIVE rather than SO_REUSEPORT per worker: one fd
 * per listener is what hot restart hands over, removing a worker-socket would drop the
 * connections in its accept queue, and a busy worker does not strand connections hashed
 * to it. A listener outlives snapshots: a new snapshot with the same address keeps the
 * same socket, so listeners that stay never drop a connection.
 */
/* Per listener name, kept for the data plane's life (sessions outlive sockets). */
struct xm_listener_stats {
	uint64_t *downstream_cx_total;
	uint64_t *downstream_cx_destroy;
	uint64_t *downstream_cx_overflow;      /* shed because of fd exhaustion */
	uint64_t *downstream_cx_accept_error;
	uint64_t *no_filter_chain_match;       /* closed: no filter chain (nor a default one) fits */
	uint64_t *downstream_global_cx_overflow; /* closed at accept: the data plane's connection limit was reached */
	uint64_t *downstream_cx_overload_reject; /* closed at accept: the overload manager rejects incoming connections */
	int64_t *downstream_cx_active;
	struct xm_hist *downstream_cx_length_ms; /* microseconds */
};
struct xm_stats;
/* Make the stats of listener name (control side). NULL on ENOMEM. */
struct xm_listener_stats *xm_listener_stats_new(struct xm_stats *s, const char *name);

#define XM_CX_HOLDS_MAX 6
/* What a downstream connection counts in from accept to close: its listener's stats, and
 * counts it holds a place in (the data plane's, for the overload manager's global limit;
 * those of the connection_limit filters that let it in) with their gauges. The session
 * owning the connection keeps a copy and ends it once, however the connection ends. */
struct xm_cx_acct {
	struct xm_listener_stats *lst;      /* NULL once ended */
	uint64_t accepted_us;
	int64_t *holds[XM_CX_HOLDS_MAX];    /* each goes down by one at the end */
	uint32_t nholds;
};
/* The connection ended (whoever owned it): every count it is in goes down, its length is
 * recorded. A second call does nothing. */
void xm_cx_end(struct xm_cx_acct *a);

/* Per-worker accept watcher. Touched only by its worker once published. */
struct xm_listener_w {
	struct xm_io io;
	struct xm_loop *loop;               /* NULL: not watched */
	struct xm_listener *l;
	xm_accept_cb cb;
	void *ctx;                          /* the worker's current config for this socket */
	int paused;                         /* removed from epoll after EMFILE */
	struct xm_timer resume;
};

struct xm_listener {
	char addr_str[64];                  /* "127.0.0.1:10000" as configured */
	char key[192];                      /* identity across snapshots: address, or name + address for port 0 */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint16_t bound_port;
	int fd;
	int refcnt;                         /* tables referencing it (control side, under dp lock) */
	int inherited;
	int drained;                        /* stopped accepting for good (xm_dp_drain): workers never watch it again */
	struct xm_sockopts *opts;           /* as applied at creation (owned); NULL = none */
	uint64_t id;                        /* unique per data plane (never reused, unlike the address) */
	struct xm_listener_stats *st;       /* kept by listener name (set by the table builder) */
	struct xm_events *events;           /* where a worker reports that it cannot watch the socket */
	struct xm_listener_w *lw;           /* nworkers */
	unsigned nworkers;
	struct xm_listener *next;           /* dp's list */
};

/* Bind+listen (or adopt inherited_fd >= 0), applying opts in their states (an inherited
 * socket gets the STATE_LISTENING ones). err receives a readable reason. */
int xm_listener_open(struct xm_listener **out, const char *address, uint16_t port, int backlog, int inherited_fd,
		     const struct xm_sockopts *opts, unsigned nworkers, char *err, size_t errlen);
void xm_listener_close(struct xm_listener *l);

/* Worker side: start watching l in loop (slot loop->id), handing accepted fds to cb(ctx, ...);
 * on a socket already watched only ctx changes (a table swap keeps the registration). */
int xm_listener_watch(struct xm_listener *l, struct xm_loop *loop, xm_accept_cb cb, void *ctx);
void xm_listener_unwatch(struct xm_listener *l, struct xm_loop *loop);

#endif
