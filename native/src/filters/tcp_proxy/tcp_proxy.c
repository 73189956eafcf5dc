/* The tcp_proxy filter's sessions: pick a cluster and host, connect, then pump bytes both ways by reference. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/logq.h"
#include "filters/tcp_proxy/tcp_proxy.h"
#include "net/conn.h"
#include "net/listener.h"
#include "router/router.h"
#include "stats/stats.h"
#include "upstream/cluster.h"

enum tp__state {
	TP_CONNECTING = 0,
	TP_OPEN,
	TP_CLOSED,
};

struct tp_session {
	struct xm_session base;
	struct xm_conn down, up;
	struct xm_defer defer;
	struct xm_timer timer;             /* connect timeout while connecting, idle after */
	struct xm_fworker *fw;
	struct xm_loop *loop;
	/* Valid only while connecting: the table is referenced until the upstream is up. */
	struct xm_epoch *epoch;
	const struct tp_cfg *cfg;
	struct xm_cluster *cluster;
	const struct xm_host *host;
	/* Persistent state, referenced from the first attempt until the end. */
	struct xm_cluster_state *cs;
	struct xm_host_state *hs;
	struct tp_stats *st;
	struct xm_cx_acct acct;
	struct xm_alog *alog;
	uint64_t start_us, connect_start_us, start_wall_ms;
	uint64_t last_io_ms;
	uint64_t hash;
	uint32_t idle_timeout_ms;
	uint64_t expires_ms;               /* max_connection_duration: 0 = never */
	uint8_t attempts, max_attempts;
	uint8_t state;
	uint8_t breaker_held;
	uint8_t last_fail;                 /* end reason of the last failed attempt */
	uint8_t first_fin;                 /* end reason if both sides close cleanly: who sent FIN first */
	uint8_t pre_eof;                   /* adopted: the client's FIN arrived with the pre-read bytes */
	/* Adopted connections (protocol detection fell back): the client's bytes already read,
	 * as slices of the chunks they were read into; sent upstream first, once connected. */
	struct xm_iovq pre;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} peer;
};

static void tp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void tp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len);
static void tp__on_eof(struct xm_conn *c);
static void tp__on_error(struct xm_conn *c, int err);
static void tp__on_drained(struct xm_conn *c);
static void tp__on_connected(struct xm_conn *c, int err);
static void tp__on_timer(struct xm_timer *t);
static void tp__on_spliced(struct xm_conn *c, uint32_t n, int status);
static void tp__connect_next(struct tp_session *s);
static void tp__arm(struct tp_session *s);

static const struct xm_conn_ops tp__down_ops = {
	.on_read = tp__down_read,
	.on_spliced = tp__on_spliced,
	.on_eof = tp__on_eof,
	.on_error = tp__on_error,
	.on_drained = tp__on_drained,
	.on_connected = tp__on_connected,
	.uring = 1, /* flow control tolerates late bytes; no fd handover; bulk leaves the ring to splice */
};
static const struct xm_conn_ops tp__up_ops = {
	.on_read = tp__up_read,
	.on_spliced = tp__on_spliced,
	.on_eof = tp__on_eof,
	.on_error = tp__on_error,
	.on_drained = tp__on_drained,
	.on_connected = tp__on_connected,
	.uring = 1, /* flow control tolerates late bytes; no fd handover; bulk leaves the ring to splice */
};

static void tp__free(struct xm_defer *d)
{
	free(xm_container_of(d, struct tp_session, defer));
}

static void tp__drop_table(struct tp_session *s)
{
	if (!s->epoch)
		return;
	xm_fworker_release(s->fw, s->epoch);
	s->epoch = NULL;
	s->cfg = NULL;
	s->cluster = NULL;
	s->host = NULL;
}

/* Release what the current upstream attempt holds (host state, breaker, gauges). */
static void tp__release_upstream(struct tp_session *s)
{
	if (s->hs) {
		xm_gauge_add(s->hs->st.cx_active, -1);
		xm_atomic_sub(&s->hs->active_rq, 1);
		xm_host_state_unref(s->hs);
		s->hs = NULL;
	}
	if (s->cs) {
		xm_gauge_add(s->cs->st.upstream_cx_active, -1);
		if (s->breaker_held)
			xm_cluster_cx_release(s->cs);
		s->breaker_held = 0;
		xm_cluster_state_unref(s->cs);
		s->cs = NULL;
	}
}

static void tp__fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "-";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", ip, port);
	} else {
		snprintf(buf, len, "-");
	}
}

static void tp__access_log(struct tp_session *s, enum tp_end why, uint64_t dur_us)
{
	char line[512], down[64];

	tp__fmt_addr(&s->peer.sa, down, sizeof(down));
	int n = snprintf(line, sizeof(line),
			 "{\"start_time_ms\":%llu,\"duration_us\":%llu,\"downstream\":\"%s\",\"upstream_host\":\"%s\","
			 "\"bytes_received\":%llu,\"bytes_sent\":%llu,\"attempts\":%u,\"termination\":\"%s\"}\n",
			 (unsigned long long)s->start_wall_ms, (unsigned long long)dur_us, down,
			 s->hs ? s->hs->name : "-", (unsigned long long)s->down.rx_bytes,
			 (unsigned long long)s->down.tx_bytes, s->attempts, tp_end_name(why));
	if (n > 0 && (size_t)n < sizeof(line))
		xm_logq_put(s->fw->logq, s->loop->id, xm_alog_fd(s->alog), line, (uint32_t)n);
}

/* End the session. down_mode/up_mode choose FIN or RST per side (RST propagates a reset). */
static void tp__end(struct tp_session *s, enum tp_end why, enum xm_close_mode down_mode,
		    enum xm_close_mode up_mode)
{
	struct xm_loop *loop = s->loop;
	uint64_t dur_us;

	if (s->state == TP_CLOSED)
		return;
	/* After connect the session no longer holds its table, so the view is gone; the
	 * persistent cluster state carries the current outlier settings. */
	if (s->hs && s->cs && s->state == TP_OPEN &&
	    (why == TP_END_UPSTREAM_RESET || why == TP_END_DOWNSTREAM_CLOSE || why == TP_END_UPSTREAM_CLOSE))
		xm_host_report(s->cs, s->hs, s->epoch ? s->cluster : NULL,
			       why == TP_END_UPSTREAM_RESET ? XM_HOST_RESET : XM_HOST_SESSION_OK, loop->now_ms);
	s->state = TP_CLOSED;
	xm_timer_stop(loop, &s->timer);
	xm_conn_close(&s->down, down_mode);
	xm_conn_close(&s->up, up_mode);
	dur_us = xm_now_us() - s->start_us;
	xm_stat_inc(s->st->end[why]);
	xm_gauge_add(s->st->downstream_cx_active, -1);
	xm_cx_end(&s->acct);
	if (s->cs) {
		xm_hist_record(s->cs->st.upstream_cx_length_ms, dur_us);
		if (why == TP_END_UPSTREAM_CLOSE || why == TP_END_UPSTREAM_RESET)
			xm_stat_inc(s->cs->st.upstream_cx_destroy_remote);
		else
			xm_stat_inc(s->cs->st.upstream_cx_destroy_local);
	}
	if (s->alog)
		tp__access_log(s, why, dur_us);
	tp__release_upstream(s);
	tp__drop_table(s);
	xm_iovq_clear(&s->pre);
	xm_fworker_del(s->fw, &s->base);
	xm_loop_defer(loop, &s->defer, tp__free);
}

static void tp__abort(struct xm_session *base)
{
	struct tp_session *s = xm_container_of(base, struct tp_session, base);
	tp__end(s, TP_END_SHUTDOWN, XM_CLOSE_FIN, XM_CLOSE_FIN);
}

static struct xm_cluster *tp__pick_cluster(struct tp_session *s)
{
	return xm_route_cluster(s->loop, &s->cfg->action);
}

static void tp__fail_attempt(struct tp_session *s, enum tp_end why)
{
	struct xm_loop *loop = s->loop;

	xm_timer_stop(loop, &s->timer);
	xm_conn_close(&s->up, XM_CLOSE_FIN);
	if (s->hs) {
		/* Host counters (cx_total, cx_connect_fail) are kept by xm_host_report. */
		xm_stat_inc(s->cs->st.upstream_cx_connect_fail);
		if (why == TP_END_CONNECT_TIMEOUT)
			xm_stat_inc(s->cs->st.upstream_cx_connect_timeout);
		xm_host_report(s->cs, s->hs, s->cluster, XM_HOST_CONNECT_FAIL, loop->now_ms);
	}
	tp__release_upstream(s);
	s->last_fail = (uint8_t)why;
	tp__connect_next(s);
}

static void tp__connect_next(struct tp_session *s)
{
	struct xm_loop *loop = s->loop;
	const struct xm_host *prev = s->host;

	if (s->attempts >= s->max_attempts) {
		if (s->attempts > 1)
			xm_stat_inc(s->st->upstream_connect_attempts_total);
		tp__end(s, (enum tp_end)s->last_fail, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	struct xm_cluster *c = tp__pick_cluster(s);
	s->cluster = c;
	if (xm_cluster_cx_acquire(c) < 0) {
		tp__end(s, TP_END_OVERFLOW, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	const struct xm_host *h = xm_lb_pick(c, loop->id, s->hash, prev, loop->now_ms);
	if (!h) {
		xm_cluster_cx_release(c->st);
		xm_stat_inc(c->st->st.upstream_cx_none_healthy);
		tp__end(s, TP_END_NO_HEALTHY_UPSTREAM, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	s->attempts++;
	s->host = h;
	s->cs = c->st;
	s->hs = h->st;
	s->breaker_held = 1;
	xm_cluster_state_ref(s->cs);
	xm_host_state_ref(s->hs);
	xm_atomic_add(&s->hs->active_rq, 1);
	xm_gauge_add(s->hs->st.cx_active, 1);
	xm_gauge_add(s->cs->st.upstream_cx_active, 1);
	xm_stat_inc(s->cs->st.upstream_cx_total);
	xm_stat_inc(s->st->upstream_connect_attempts_total);
	s->connect_start_us = xm_now_us();
	int rc = xm_conn_connect(&s->up, loop, (const struct sockaddr *)&h->addr, h->addrlen, c->sockopts, &tp__up_ops,
				 c->buffer_limit);
	if (rc < 0) {
		tp__fail_attempt(s, TP_END_CONNECT_FAILED);
		return;
	}
	xm_conn_set_keepalive(&s->up, &c->keepalive);
	xm_timer_start(loop, &s->timer, c->connect_timeout_ms);
}

static void tp__after_write(struct tp_session *s, struct xm_conn *from, struct xm_conn *to, int rc);

/* Adopted connection, upstream just connected: send the bytes read during protocol
 * detection, by reference (the slices move to the upstream's output, no copy). Returns
 * XM_WRITE_OK, XM_WRITE_PAUSE (the client stays paused until the upstream drains), or -1
 * when the session ended. */
static int tp__send_pre(struct tp_session *s)
{
	int rc = XM_WRITE_OK;
	uint64_t n = s->pre.bytes;

	for (uint32_t i = 0; i < s->pre.n && rc >= 0; i++) {
		const struct xm_slice *sl = &s->pre.s[(s->pre.head + i) & (s->pre.cap - 1)];
		int r = xm_conn_write(&s->up, sl->c, sl->off, sl->len);
		rc = r < 0 ? r : (r == XM_WRITE_PAUSE ? r : rc);
	}
	xm_iovq_clear(&s->pre);
	xm_stat_add(s->st->downstream_cx_rx_bytes_total, n);
	xm_stat_add(s->cs->st.upstream_cx_tx_bytes_total, n);
	tp__after_write(s, &s->down, &s->up, rc);
	return s->state == TP_CLOSED ? -1 : rc;
}

static void tp__on_connected(struct xm_conn *c, int err)
{
	struct tp_session *s = xm_container_of(c, struct tp_session, up);
	struct xm_loop *loop = s->loop;

	if (err) {
		tp__fail_attempt(s, TP_END_CONNECT_FAILED);
		return;
	}
	xm_timer_stop(loop, &s->timer);
	xm_host_report(s->cs, s->hs, s->cluster, XM_HOST_CONNECT_OK, loop->now_ms);
	xm_hist_record(s->cs->st.upstream_cx_connect_ms, xm_now_us() - s->connect_start_us);
	s->state = TP_OPEN;
	/* From here on only persistent state is used: let the table go. */
	tp__drop_table(s);
	s->last_io_ms = loop->now_ms;
	int pre = xm_unlikely(!xm_iovq_empty(&s->pre)) ? tp__send_pre(s) : XM_WRITE_OK;
	if (pre < 0)
		return;
	if (pre == XM_WRITE_OK)
		xm_conn_read_start(&s->down);
	xm_conn_read_start(&s->up);
	tp__arm(s);
	if (s->pre_eof)
		tp__on_eof(&s->down); /* the client's FIN came with its first bytes: pass it on */
}

/* An open pair's timer: the idle deadline or the end of its allowed duration, whichever
 * comes first (none: not armed). */
static void tp__arm(struct tp_session *s)
{
	uint64_t at = s->idle_timeout_ms ? s->last_io_ms + s->idle_timeout_ms : 0, now = s->loop->now_ms;
	if (s->expires_ms && (!at || s->expires_ms < at))
		at = s->expires_ms;
	if (at)
		xm_timer_start(s->loop, &s->timer, at > now ? at - now : 0);
}

static void tp__on_timer(struct xm_timer *t)
{
	struct tp_session *s = xm_container_of(t, struct tp_session, timer);
	struct xm_loop *loop = s->loop;

	if (s->state == TP_CONNECTING) {
		tp__fail_attempt(s, TP_END_CONNECT_TIMEOUT);
		return;
	}
	if (s->expires_ms && loop->now_ms >= s->expires_ms) {
		tp__end(s, TP_END_MAX_DURATION, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	/* Idle: the timer is not pushed on every byte; it checks the last activity instead. */
	if (s->idle_timeout_ms && loop->now_ms - s->last_io_ms >= s->idle_timeout_ms) {
		tp__end(s, TP_END_IDLE_TIMEOUT, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	tp__arm(s);
}

/* What to do after handing bytes to the destination: named by xm_conn_write's status. */
static void tp__after_write(struct tp_session *s, struct xm_conn *from, struct xm_conn *to, int rc)
{
	s->last_io_ms = s->loop->now_ms;
	if (xm_likely(rc == XM_WRITE_OK))
		return;
	if (rc == XM_WRITE_PAUSE) {
		xm_conn_read_stop(from);
		xm_stat_inc(from == &s->down ? s->st->downstream_flow_control_paused_reading_total
					     : s->st->upstream_flow_control_paused_reading_total);
		return;
	}
	if (rc == -ENOMEM) {
		tp__end(s, TP_END_NO_MEMORY, XM_CLOSE_RESET, XM_CLOSE_RESET);
		return;
	}
	/* The destination is gone: a reset there is propagated as a reset to the source. */
	if (to == &s->up)
		tp__end(s, TP_END_UPSTREAM_RESET, XM_CLOSE_RESET, XM_CLOSE_FIN);
	else
		tp__end(s, TP_END_DOWNSTREAM_RESET, XM_CLOSE_FIN, XM_CLOSE_RESET);
}

static void tp__forward(struct tp_session *s, struct xm_conn *from, struct xm_conn *to, struct xm_chunk *ch,
			uint32_t off, uint32_t len)
{
	int rc = xm_conn_write(to, ch, off, len);

	if (xm_conn_copies(to, len))
		xm_stat_add(s->st->bytes_copied, len);
	if (xm_unlikely(xm_conn_rx_copied(from)))
		xm_stat_add(s->st->bytes_copied, len);

	/* A read that filled a whole chunk means a bulk transfer: from now on this direction
	 * moves through a pipe with splice(), never entering user space. Small
	 * request/response traffic never fills a chunk, so it keeps the cheaper read/send.
	 * On io_uring the pair first moves back to epoll (splice has no cheap ring form); the
	 * next full read there starts splicing. */
	if (xm_unlikely(off == 0 && len == XM_CHUNK_SIZE) && rc == XM_WRITE_OK && !s->fw->splice_disabled) {
		if (xm_conn_on_ring(from) || xm_conn_on_ring(to)) {
			xm_conn_uring_leave(from);
			xm_conn_uring_leave(to);
		} else if (xm_conn_splice_start(from, to) == 0) {
			xm_stat_inc(s->st->splice_started_total);
		}
	}
	tp__after_write(s, from, to, rc);
}

static void tp__on_spliced(struct xm_conn *c, uint32_t n, int status)
{
	int is_down = c->ops == &tp__down_ops;
	struct tp_session *s = is_down ? xm_container_of(c, struct tp_session, down)
				       : xm_container_of(c, struct tp_session, up);

	if (is_down) {
		xm_stat_add(s->st->downstream_cx_rx_bytes_total, n);
		xm_stat_add(s->cs->st.upstream_cx_tx_bytes_total, n);
		tp__after_write(s, c, &s->up, status);
	} else {
		xm_stat_add(s->st->downstream_cx_tx_bytes_total, n);
		xm_stat_add(s->cs->st.upstream_cx_rx_bytes_total, n);
		tp__after_write(s, c, &s->down, status);
	}
}

static void tp__down_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct tp_session *s = xm_container_of(c, struct tp_session, down);

	xm_stat_add(s->st->downstream_cx_rx_bytes_total, len);
	xm_stat_add(s->cs->st.upstream_cx_tx_bytes_total, len);
	tp__forward(s, c, &s->up, ch, off, len);
}

static void tp__up_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct tp_session *s = xm_container_of(c, struct tp_session, up);

	xm_stat_add(s->st->downstream_cx_tx_bytes_total, len);
	xm_stat_add(s->cs->st.upstream_cx_rx_bytes_total, len);
	tp__forward(s, c, &s->down, ch, off, len);
}

static void tp__maybe_finish(struct tp_session *s)
{
	/* Both sides sent FIN and everything was flushed: a clean close. */
	if ((s->down.flags & XM_CONN_F_EOF) && (s->up.flags & XM_CONN_F_EOF) && xm_conn_queued(&s->down) == 0 &&
	    xm_conn_queued(&s->up) == 0)
		tp__end(s, (enum tp_end)s->first_fin, XM_CLOSE_FIN, XM_CLOSE_FIN);
}

static void tp__on_eof(struct xm_conn *c)
{
	struct tp_session *s = c->ops == &tp__down_ops ? xm_container_of(c, struct tp_session, down)
						      : xm_container_of(c, struct tp_session, up);
	struct xm_conn *peer = c == &s->down ? &s->up : &s->down;

	if (s->state == TP_CONNECTING) {
		/* The client gave up before the upstream answered. */
		tp__end(s, TP_END_DOWNSTREAM_CLOSE, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	if (!(peer->flags & XM_CONN_F_EOF))
		s->first_fin = c == &s->down ? TP_END_DOWNSTREAM_CLOSE : TP_END_UPSTREAM_CLOSE;
	/* Half-close: pass the FIN on once the peer's queue is flushed; keep the other
	 * direction running. */
	xm_conn_shutdown_write(peer);
	tp__maybe_finish(s);
}

static void tp__on_error(struct xm_conn *c, int err)
{
	int is_down = c->ops == &tp__down_ops;
	struct tp_session *s = is_down ? xm_container_of(c, struct tp_session, down)
				       : xm_container_of(c, struct tp_session, up);
	/* A reset is propagated as a reset; anything else closes the other side cleanly. */
	enum xm_close_mode other = err == ECONNRESET ? XM_CLOSE_RESET : XM_CLOSE_FIN;

	if (err == ENOMEM)
		tp__end(s, TP_END_NO_MEMORY, XM_CLOSE_RESET, XM_CLOSE_RESET);
	else if (is_down)
		tp__end(s, TP_END_DOWNSTREAM_RESET, XM_CLOSE_FIN, other);
	else
		tp__end(s, TP_END_UPSTREAM_RESET, other, XM_CLOSE_FIN);
}

static void tp__on_drained(struct xm_conn *c)
{
	int is_down = c->ops == &tp__down_ops;
	struct tp_session *s = is_down ? xm_container_of(c, struct tp_session, down)
				       : xm_container_of(c, struct tp_session, up);
	struct xm_conn *src = is_down ? &s->up : &s->down;

	if (!(c->flags & XM_CONN_F_ABOVE_HIGH) && !(src->flags & (XM_CONN_F_READING | XM_CONN_F_EOF)) &&
	    s->state == TP_OPEN) {
		xm_conn_read_start(src);
		xm_stat_inc(src == &s->down ? s->st->downstream_flow_control_resumed_reading_total
					    : s->st->upstream_flow_control_resumed_reading_total);
	}
	tp__maybe_finish(s);
}

static uint64_t tp__hash_peer(const struct tp_session *s, enum tp_hash_key key)
{
	return xm_hash_peer((const struct sockaddr_storage *)&s->peer, key == TP_HASH_SOURCE_ADDRESS_PORT);
}

/* Take the connection: a session with the downstream registered (no interest yet) and the
 * bytes already read (listener filters) moved in, then the first connect attempt. */
static void tp__accept(struct xm_fworker *fw, void *cfgp, struct xm_fconn *fc)
{
	const struct tp_cfg *cfg = cfgp;
	struct tp_session *s = calloc(1, sizeof(*s));

	if (!s) {
		close(fc->fd);
		xm_iovq_clear(&fc->pre);
		xm_stat_inc(cfg->st->end[TP_END_NO_MEMORY]);
		xm_cx_end(&fc->acct);
		return;
	}
	s->base.abort = tp__abort;
	s->base.listener_id = fc->listener_id; /* no drain op: a pair lives until the drain time ends */
	s->fw = fw;
	s->loop = fw->loop;
	s->epoch = fc->epoch;
	xm_epoch_ref(s->epoch, s->loop->id);
	s->cfg = cfg;
	s->st = cfg->st;
	s->acct = fc->acct;
	s->alog = cfg->alog;
	s->idle_timeout_ms = cfg->idle_timeout_ms;
	s->expires_ms = cfg->max_duration_ms ? s->loop->now_ms + cfg->max_duration_ms : 0;
	s->max_attempts = (uint8_t)(cfg->max_connect_attempts ? (cfg->max_connect_attempts > 255 ? 255 : cfg->max_connect_attempts) : 1);
	s->last_fail = TP_END_CONNECT_FAILED;
	s->start_us = xm_now_us();
	s->start_wall_ms = s->alog ? xm_wall_ms() : 0;
	s->state = TP_CONNECTING;
	if (fc->facts.peer_len <= sizeof(s->peer))
		memcpy(&s->peer, &fc->facts.peer, fc->facts.peer_len);
	s->hash = tp__hash_peer(s, cfg->hash_key);
	xm_timer_init(&s->timer, tp__on_timer);
	xm_fworker_add(fw, &s->base);
	xm_stat_inc(s->st->downstream_cx_total);
	xm_gauge_add(s->st->downstream_cx_active, 1);
	/* The bytes a listener filter already read go upstream first, by reference. */
	s->pre = fc->pre;
	xm_iovq_init(&fc->pre);
	s->down.rx_bytes = s->pre.bytes;
	s->pre_eof = fc->eof;
	/* The downstream is registered with no interest until the upstream is connected:
	 * bytes wait in the kernel, which is the cheapest buffer there is. */
	s->down.flags = XM_CONN_F_CLOSED; /* until adopted, so an early end closes nothing */
	s->up.flags = XM_CONN_F_CLOSED;
	if (xm_conn_accept(&s->down, s->loop, fc->fd, &tp__down_ops, fc->buffer_limit) < 0) {
		close(fc->fd);
		s->down.flags = XM_CONN_F_CLOSED;
		tp__end(s, TP_END_NO_MEMORY, XM_CLOSE_FIN, XM_CLOSE_FIN);
		return;
	}
	if (fc->eof)
		s->down.flags |= XM_CONN_F_EOF;
	xm_conn_set_keepalive(&s->down, &fc->keepalive);
	tp__connect_next(s);
}

const struct xm_filter_ops xm_tcp_proxy_filter = {
	.name = "envoy.filters.network.tcp_proxy",
	.terminal = 1,
	.build = tp_build,
	.free = tp_free,
	.accept = tp__accept,
};
