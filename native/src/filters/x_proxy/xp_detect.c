/* Protocol detection on an x_proxy listener with several protocols or a fallback: sniff a connection's first bytes, pick its codec, or hand it to tcp_proxy. */
#include "filters/x_proxy/xp_int.h"

/*
 * A connection accepted undetected keeps its bytes in d->in (slices of the chunks they were
 * read into, exactly as for framing) while the listener's codecs judge them with match():
 *  - codecs are asked in configuration order, and a codec still undecided ("need more
 *    bytes") holds back the ones after it, so the verdict never depends on how the bytes
 *    were split into reads;
 *  - a codec that recognises them becomes the connection's codec for its whole life and
 *    the bytes already read are processed as its first frames;
 *  - when none does (or the client stays silent until detect_timeout_ms, as a
 *    server-speaks-first protocol does, or closes first), the connection goes to the
 *    listener's fallback tcp_proxy with the bytes already read, sent upstream first and
 *    never copied; without a fallback it is closed. Each outcome is counted by reason.
 * Built-in codecs decide within 5 bytes; the sniff limit only bounds what a descriptor
 * codec (magic at an offset) may ask for.
 */
#define XP__SNIFF_MAX 1024

enum xp__verdict {
	XP__MATCH = 0,   /* *idx recognises the bytes */
	XP__MORE,        /* a codec (and every one before it said no) needs more bytes */
	XP__NONE,        /* no codec recognises them */
};

static enum xp__verdict xp__sniff(const struct xm_xproxy_cfg *cfg, const struct xm_iview *v, uint32_t *idx)
{
	for (uint32_t i = 0; i < cfg->ncodecs; i++) {
		const struct xm_codec *c = cfg->codecs[i];
		int m = c->ops->match(c, v);
		if (m > 0) {
			*idx = i;
			return XP__MATCH;
		}
		if (m == 0 && v->len < XP__SNIFF_MAX)
			return XP__MORE;
		/* m < 0, or still undecided at the sniff limit: not this codec */
	}
	return XP__NONE;
}

/* Hand d to the listener's fallback tcp_proxy: its fd leaves the x_proxy side, the bytes
 * already read move (by reference) to the new session. */
static void xp__fallback(struct xp_down *d, enum xm_detect_end why)
{
	struct xm_worker *w = d->w;
	const struct xm_listener_cfg *lc = d->lcfg; /* current: refreshed by xp_down_cfg */
	struct xm_iovq pre = d->in;
	int eof = d->eof;

	xm_stat_inc(d->st->downstream_cx_fallback[why]);
	xm_iovq_init(&d->in);
	int fd = xm_conn_release_fd(&d->conn);
	d->handed_off = 1;
	xp_down_close(d, XM_CLOSE_FIN); /* the x_proxy side's bookkeeping; the fd is no longer its */
	if (fd < 0) {
		xm_iovq_clear(&pre);
		return;
	}
	xm_tcp_proxy_adopt(w, lc, fd, &pre, eof);
}

static void xp__give_up(struct xp_down *d, const struct xm_xproxy_cfg *cfg, enum xm_detect_end why)
{
	if (cfg->fallback && !(why == XM_DETECT_CLIENT_CLOSE && xm_iovq_empty(&d->in))) {
		xp__fallback(d, why);
		return;
	}
	/* No fallback (or a client that closed without sending a byte: nothing to proxy). */
	xm_stat_inc(d->st->downstream_cx_detect_failed[why]);
	xp_down_close(d, why == XM_DETECT_UNKNOWN ? XM_CLOSE_RESET : XM_CLOSE_FIN);
}

static void xp__detect_timeout(struct xm_timer *t)
{
	struct xp_down *d = xm_container_of(t, struct xp_down, detect_timer);
	const struct xm_xproxy_cfg *cfg = xp_down_cfg(d);

	if (!cfg) {
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	xp__give_up(d, cfg, XM_DETECT_TIMEOUT);
}

void xp_detect_start(struct xp_down *d, const struct xm_xproxy_cfg *cfg)
{
	xm_timer_init(&d->detect_timer, xp__detect_timeout);
	xm_timer_start(&d->w->loop, &d->detect_timer, cfg->detect_timeout_ms);
}

void xp_detect_input(struct xp_down *d)
{
	/* The listener's current config: a swap may have changed its codecs or fallback. */
	const struct xm_xproxy_cfg *cfg = xp_down_cfg(d);
	struct xm_iview v;
	uint32_t idx = 0;

	if (!cfg) {
		xp_down_close(d, XM_CLOSE_FIN);
		return;
	}
	if (xp_view(d->w, &d->in, &v) < 0) {
		xp_down_close(d, XM_CLOSE_RESET);
		return;
	}
	switch (v.len ? xp__sniff(cfg, &v, &idx) : XP__MORE) {
	case XP__MATCH:
		xm_timer_stop(&d->w->loop, &d->detect_timer);
		d->codec = cfg->codecs[idx];
		d->pst = cfg->pst[idx];
		xm_stat_inc(d->pst->downstream_cx_protocol);
		/* Its codec is fixed for life, no fallback can take the fd any more. */
		xm_conn_uring_enter(&d->conn, &xp_down_ops_ring);
		xp_down_process(d);
		if (d->eof)
			xp_down_maybe_finish(d);
		return;
	case XP__MORE:
		if (d->eof)
			xp__give_up(d, cfg, XM_DETECT_CLIENT_CLOSE);
		return;
	case XP__NONE:
		xp__give_up(d, cfg, XM_DETECT_UNKNOWN);
		return;
	}
}
