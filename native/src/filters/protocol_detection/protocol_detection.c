/* Protocol detection, a listener filter: the codec that recognises a connection's first bytes names its application protocol, which picks its filter chain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keep.h"
#include "filters/protocol_detection/protocol_detection.h"
#include "stats/stats.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/*
 * The worker reads a connection's first bytes into fc->pre (slices of the chunks they were
 * read into, exactly as for framing) while this filter judges them:
 *  - codecs are asked in configuration order, and a codec still undecided ("need more
 *    bytes") holds back the ones after it, so the verdict never depends on how the bytes
 *    were split into reads;
 *  - a codec that recognises them names the connection's application protocol (its codec
 *    name), which FilterChainMatch.application_protocols selects on (an x_proxy chain);
 *  - when none does (or the client stays silent until the timeout, as a server-speaks-first
 *    protocol does, or closes first), the connection goes on with no application protocol:
 *    the default chain (a tcp_proxy: the "fallback") takes it with the bytes already read,
 *    or it is closed. Each outcome is counted by reason.
 * Built-in codecs decide within 5 bytes; the sniff limit only bounds what a descriptor codec
 * (magic at an offset) may ask for.
 */
#define PD__SNIFF_MAX 1024
#define PD__MAX_CODECS 8

enum pd__end {
	PD__UNKNOWN = 0,       /* no codec recognises the first bytes (or none decided within the sniff limit) */
	PD__TIMEOUT,           /* the client sent too little before timeout_ms */
	PD__CLIENT_CLOSE,      /* the client closed (FIN) before a codec was recognised */
	PD__COUNT
};

static const char *const pd__end_names[PD__COUNT] = {
	[PD__UNKNOWN] = "unknown_protocol",
	[PD__TIMEOUT] = "detect_timeout",
	[PD__CLIENT_CLOSE] = "downstream_close",
};

/* Kept per stat_prefix: the names are x_proxy's, as the filter was part of it before. */
struct pd_stats {
	uint64_t *fallback[PD__COUNT];       /* taken by the default chain */
	uint64_t *detect_failed[PD__COUNT];  /* closed: no chain */
};

struct pd_cfg {
	const struct xm_codec *codecs[PD__MAX_CODECS];
	uint32_t ncodecs;
	uint32_t timeout_ms;
	struct pd_stats *st;
};

static void *pd__stats_make(void *ctx, const char *prefix, size_t klen, char *err, size_t errlen)
{
	struct xm_stats *s = ctx;
	struct pd_stats *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	for (int r = 0; r < PD__COUNT; r++) {
		t->fallback[r] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_cx_fallback.{reason=%s}", prefix,
						   pd__end_names[r]);
		t->detect_failed[r] = xm_stats_counterf(s, "xproxy.{stat_prefix=%s}.downstream_cx_detect_failed.{reason=%s}",
							prefix, pd__end_names[r]);
	}
	return t;
}

static const struct xm_keep_kind pd__stats_kind = { "protocol detection stats", pd__stats_make, free };

static int pd__build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **out, char *err,
		     size_t errlen)
{
	const Xmesh__Dataplane__V1__ProtocolDetection *pm = (const Xmesh__Dataplane__V1__ProtocolDetection *)msg;
	const char *prefix = pm->stat_prefix;
	char why[96] = "";
	struct pd_cfg *c;

	xm_assert(msg->descriptor == &xmesh__dataplane__v1__protocol_detection__descriptor);
	if (!pm->stat_prefix[0] || !pm->timeout_ms) {
		snprintf(err, errlen, "listener '%s': protocol detection %s is required", b->listener,
			 !pm->stat_prefix[0] ? "stat_prefix" : "timeout_ms");
		return -EINVAL;
	}
	if (pm->n_protocols == 0 || pm->n_protocols > PD__MAX_CODECS) {
		snprintf(err, errlen, "listener '%s': protocol detection needs 1..%d protocols", b->listener, PD__MAX_CODECS);
		return -EINVAL;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	for (size_t i = 0; i < pm->n_protocols; i++) {
		const struct xm_codec *codec;
		int rc = b->codec(b, pm->protocols[i], pm->descriptors, pm->n_descriptors, &codec, err, errlen);
		if (rc < 0) {
			free(c);
			return rc;
		}
		/* A codec that cannot tell its frames from other bytes would claim every connection. */
		const struct xm_descriptor *dd = xm_codec_descriptor_of(codec);
		if (dd && dd->magic_len == 0) {
			snprintf(err, errlen, "listener '%s': protocol '%s' has no magic, so it cannot be detected among others",
				 b->listener, pm->protocols[i]);
			free(c);
			return -EINVAL;
		}
		c->codecs[c->ncodecs++] = codec;
	}
	c->timeout_ms = pm->timeout_ms;
	if (!(c->st = xm_keep_get(b->keep, &pd__stats_kind, prefix, strlen(prefix), b->stats, why, sizeof(why)))) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static int pd__needs_data(const void *cfg) { return 1; }
static uint32_t pd__timeout_ms(const void *cfg) { return ((const struct pd_cfg *)cfg)->timeout_ms; }

static enum xm_lfilter_status pd__on_data(void *cfgp, struct xm_fconn *fc, const struct xm_iview *v)
{
	const struct pd_cfg *cfg = cfgp;

	fc->lfilter_note = PD__CLIENT_CLOSE; /* what it is if the client closes while we wait */
	if (v->len == 0)
		return fc->eof ? XM_LFILTER_DONE : XM_LFILTER_MORE;
	for (uint32_t i = 0; i < cfg->ncodecs; i++) {
		const struct xm_codec *c = cfg->codecs[i];
		int m = c->ops->match(c, v);
		if (m > 0) {
			fc->facts.app_proto = c->name;
			return XM_LFILTER_DONE;
		}
		if (m == 0 && v->len < PD__SNIFF_MAX)
			return fc->eof ? XM_LFILTER_DONE : XM_LFILTER_MORE;
		/* m < 0, or still undecided at the sniff limit: not this codec */
	}
	fc->lfilter_note = PD__UNKNOWN; /* no codec recognises them */
	return XM_LFILTER_DONE;
}

static void pd__done(void *cfgp, const struct xm_fconn *fc, enum xm_lfilter_end end, int matched)
{
	const struct pd_cfg *cfg = cfgp;
	enum pd__end why;

	if (fc->facts.app_proto)
		return; /* detected: the x_proxy counts it per protocol */
	why = end == XM_LFILTER_END_TIMEOUT ? PD__TIMEOUT : (enum pd__end)fc->lfilter_note;
	xm_stat_inc(matched ? cfg->st->fallback[why] : cfg->st->detect_failed[why]);
}

const struct xm_lfilter_ops xm_protocol_detection_filter = {
	.name = "xmesh.listener.protocol_detection",
	.build = pd__build,
	.free = free,
	.needs_data = pd__needs_data,
	.timeout_ms = pd__timeout_ms,
	.on_data = pd__on_data,
	.done = pd__done,
};
