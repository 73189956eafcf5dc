/* Session dispatch by filter kind, and the persistent per-filter stats and access-log sinks. */
#include "filters/session.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/dp.h"
#include "config/table.h"
#include "filters/x_proxy/x_proxy.h"

void xm_session_accept(struct xm_worker *w, const struct xm_listener_cfg *cfg, int fd,
		       const struct sockaddr_storage *peer, socklen_t plen)
{
	switch (cfg->filter) {
	case XM_FILTER_TCP_PROXY:
		xm_tcp_proxy_accept(w, cfg, fd, peer, plen);
		return;
	case XM_FILTER_X_PROXY:
		xm_xproxy_accept(w, cfg, fd, peer, plen);
		return;
	}
	close(fd);
}

void xm_session_close_all(struct xm_worker *w)
{
	while (w->sessions.next != &w->sessions) {
		struct xm_session *s = xm_container_of(w->sessions.next, struct xm_session, link);
		s->abort(s, XM_END_SHUTDOWN);
	}
	xm_loop_run_deferred(&w->loop);
}

/* Control side only (called while building a table under the dp lock). */
struct xm_tcp_stats *xm_tcp_stats_get(struct xm_dp *dp, const char *prefix)
{
	struct xm_tcp_stats *t;

	for (t = dp->tcp_stats; t; t = t->next)
		if (strcmp(t->prefix, prefix) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->prefix = strdup(prefix))) {
		free(t);
		return NULL;
	}
	struct xm_stats *s = dp->stats;
#define TP__C(f) t->f = xm_stats_counterf(s, "tcp.{stat_prefix=%s}." #f, prefix)
	TP__C(downstream_cx_total);
	TP__C(downstream_cx_rx_bytes_total);
	TP__C(downstream_cx_tx_bytes_total);
	TP__C(downstream_flow_control_paused_reading_total);
	TP__C(downstream_flow_control_resumed_reading_total);
	TP__C(upstream_flow_control_paused_reading_total);
	TP__C(upstream_flow_control_resumed_reading_total);
	TP__C(upstream_connect_attempts_total);
	TP__C(bytes_copied);
	TP__C(splice_started_total);
#undef TP__C
	t->downstream_cx_active = xm_stats_gaugef(s, "tcp.{stat_prefix=%s}.downstream_cx_active", prefix);
	for (int r = 0; r < XM_END__COUNT; r++)
		t->end[r] = xm_stats_counterf(s, "tcp.{stat_prefix=%s}.cx_end.{reason=%s}", prefix,
					      xm_end_reason_name((enum xm_end_reason)r));
	t->next = dp->tcp_stats;
	dp->tcp_stats = t;
	return t;
}

void xm_tcp_stats_free_all(struct xm_dp *dp)
{
	while (dp->tcp_stats) {
		struct xm_tcp_stats *t = dp->tcp_stats;
		dp->tcp_stats = t->next;
		free(t->prefix);
		free(t);
	}
}

int xm_alog_get(struct xm_dp *dp, const char *path, struct xm_alog **out)
{
	struct xm_alog *a;

	for (a = dp->alogs; a; a = a->next)
		if (strcmp(a->path, path) == 0) {
			*out = a;
			return 0;
		}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->path = strdup(path))) {
		free(a);
		close(fd);
		return -ENOMEM;
	}
	a->fd = fd;
	a->next = dp->alogs;
	dp->alogs = a;
	*out = a;
	return 0;
}

void xm_alog_free_all(struct xm_dp *dp)
{
	while (dp->alogs) {
		struct xm_alog *a = dp->alogs;
		dp->alogs = a->next;
		close(a->fd);
		free(a->path);
		free(a);
	}
}
