/* The tcp_proxy network filter (Envoy's envoy.filters.network.tcp_proxy): one upstream connection per client, bytes pumped both ways by reference. */
#ifndef XM_TCP_PROXY_H
#define XM_TCP_PROXY_H

#include <stdint.h>

#include "filters/filter.h"
#include "router/router.h"

extern const struct xm_filter_ops xm_tcp_proxy_filter;

/* Why a session ended; counted per stat_prefix and written to the access log. */
enum tp_end {
	TP_END_DOWNSTREAM_CLOSE = 0,  /* client closed first (FIN), normal */
	TP_END_UPSTREAM_CLOSE,        /* upstream closed first (FIN), normal */
	TP_END_DOWNSTREAM_RESET,
	TP_END_UPSTREAM_RESET,
	TP_END_CONNECT_FAILED,        /* every connect attempt failed */
	TP_END_CONNECT_TIMEOUT,       /* the last attempt timed out */
	TP_END_NO_HEALTHY_UPSTREAM,
	TP_END_OVERFLOW,              /* circuit breaker */
	TP_END_IDLE_TIMEOUT,
	TP_END_SHUTDOWN,
	TP_END_NO_MEMORY,
	TP_END_MAX_DURATION,          /* max_connection_duration reached */
	TP_END__COUNT
};
const char *tp_end_name(enum tp_end r);

/* Per stat_prefix, kept for the data plane's life. */
struct tp_stats {
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
	uint64_t *end[TP_END__COUNT];
};

enum tp_hash_key {
	TP_HASH_SOURCE_IP = 0,
	TP_HASH_SOURCE_ADDRESS_PORT = 1,
};

struct xm_alog;

/* A tcp_proxy filter's immutable config (one per filter in a table). */
struct tp_cfg {
	struct xm_route_action action;   /* the cluster, or weighted clusters (the shared router's) */
	uint32_t idle_timeout_ms;
	uint32_t max_duration_ms;        /* 0 = no limit */
	uint32_t max_connect_attempts;
	enum tp_hash_key hash_key;
	struct tp_stats *st;             /* kept */
	struct xm_alog *alog;            /* kept; NULL = no access log */
};

/* The fd of a kept access-log sink (tp_build.c). */
int xm_alog_fd(const struct xm_alog *a);

/* tp_build.c */
int tp_build(const struct xm_filter_build *b, const struct ProtobufCMessage *msg, void **cfg, char *err, size_t errlen);
void tp_free(void *cfg);

#endif
