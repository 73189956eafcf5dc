/* Helpers for native integration tests: snapshot builders, loopback echo servers, clients. */
#ifndef XM_T_NET_H
#define XM_T_NET_H

#include <stddef.h>
#include <stdint.h>

#include "xmesh/dataplane/v1/snapshot.pb-c.h"

struct xm_dp;

/* A loopback TCP server on its own thread. mode: echo (reply with what was received, FIN
 * after the client's FIN), or refuse (a closed port). Bounded by the test. */
struct t_server {
	int fd;
	uint16_t port;
	int stop;
	int nthreads;
	unsigned long accepted;
	const char *banner;  /* sent on accept, before echoing (a server-speaks-first protocol) */
	void *thread; /* pthread_t storage */
};
int t_echo_start(struct t_server *s);
/* An echo server that greets each connection with banner first. */
int t_echo_start_banner(struct t_server *s, const char *banner);
/* Same, on a given port (0 = ephemeral). */
int t_echo_start_on(struct t_server *s, uint16_t port);
void t_echo_stop(struct t_server *s);
/* A port with nothing listening (bound then closed). */
uint16_t t_closed_port(void);

/* Knobs for t_snapshot_opts (zero = default). */
struct t_snap_opts {
	uint64_t version;
	const uint16_t *ports;
	size_t nports;
	int lb_policy;
	uint32_t idle_timeout_ms;
	uint32_t buffer_limit;
	uint32_t max_connect_attempts;
	int outlier;                 /* enable outlier detection */
	uint32_t od_consecutive;     /* consecutive gateway failures */
	uint32_t od_base_ms;
	uint32_t od_max_percent;
	uint32_t max_connections;
	uint16_t listen_port;        /* 0 = ephemeral */
	uint32_t keepalive_time_s;   /* >0: tcp_keepalive on listener and cluster */
	const uint32_t *weights;     /* per endpoint (NULL = 1) */
	uint32_t connect_timeout_ms; /* 0 = 1000 */
	const char *access_log_path;
	int inherited_fd;            /* >0: adopt this listening socket */
	int hash_source_port;        /* hash policy SOURCE_ADDRESS_PORT instead of SOURCE_IP */
	const char *listener_cc;     /* socket_options: TCP_CONGESTION on the listener (STATE_LISTENING) */
	const char *upstream_cc;     /* upstream_socket_options: TCP_CONGESTION */
	int upstream_maxseg;         /* >0: upstream_socket_options: TCP_MAXSEG (seen by the peer in the SYN) */
};
int t_snapshot_opts(const struct t_snap_opts *o, uint8_t **out, size_t *outlen);

/* Encoded one-listener tcp_proxy snapshot: listener "l" on 127.0.0.1:0 -> cluster "c"
 * whose endpoints are 127.0.0.1:ports[i] (lname/cname must be "l"/"c"). Caller frees *out. */
int t_snapshot_tcp(uint64_t version, const char *lname, const char *cname, const uint16_t *ports, size_t nports,
		   int lb_policy, uint32_t idle_timeout_ms, uint32_t buffer_limit, uint8_t **out, size_t *outlen);

/* Port the data plane bound for listener lname (0 if none). */
uint16_t t_listener_port(struct xm_dp *dp, const char *lname);

/* Connect to 127.0.0.1:port, send len bytes of a pattern, shut down write, read back
 * everything until EOF into a buffer; returns bytes read or -errno. Bounded by timeout_ms. */
long t_roundtrip(uint16_t port, size_t len, int timeout_ms, int *intact);
/* Connect from source address src (any 127.x.y.z; NULL = default), exchange one byte so the
 * proxied upstream connection exists, and return the open fd (or -errno). */
int t_hold_from(const char *src, uint16_t port, int timeout_ms);

/* A connected loopback TCP pair, both ends non-blocking: *srv accepted, *cli connected.
 * small: both ends' kernel buffers set to 16 KiB before the handshake (no autotuning), so a
 * test fills them quickly. 0 or -errno. */
int t_tcp_pair(int *srv, int *cli, int small);

/* Connect and wait for EOF/RST without sending; returns 0 on EOF, -errno otherwise. */
int t_connect_expect_close(uint16_t port, int timeout_ms);

/* Read a counter from the dp's stats by exact key; -1 if missing. */
long long t_stat(struct xm_dp *dp, const char *key);

/* The listener shapes the control core emits (src/config/translate.ts). One network filter
 * in a listener's only, catch-all chain: */
struct t_chain {
	Xmesh__Dataplane__V1__FilterChain fc, *fcp[1];
	Xmesh__Dataplane__V1__NetworkFilter nf, *nfp[1];
};
void t_chain_tcp(Xmesh__Dataplane__V1__Listener *l, struct t_chain *c, Xmesh__Dataplane__V1__TcpProxy *tp);
void t_chain_x(Xmesh__Dataplane__V1__Listener *l, struct t_chain *c, Xmesh__Dataplane__V1__XProxy *xp);
/* An x_proxy whose protocols are detected by a listener filter (several, or a fallback): the
 * x_proxy chain matches the detected protocols, the fallback tcp_proxy (may be NULL) is the
 * default chain. */
struct t_detect {
	Xmesh__Dataplane__V1__ListenerFilter lf, *lfp[1];
	Xmesh__Dataplane__V1__ProtocolDetection pd;
	Xmesh__Dataplane__V1__FilterChainMatch m;
	struct t_chain x;
	Xmesh__Dataplane__V1__FilterChain dc;
	Xmesh__Dataplane__V1__NetworkFilter df, *dfp[1];
};
void t_chain_detect(Xmesh__Dataplane__V1__Listener *l, struct t_detect *d, Xmesh__Dataplane__V1__XProxy *xp,
		    uint32_t timeout_ms, Xmesh__Dataplane__V1__TcpProxy *fallback);

/* What the control core does before it hands a snapshot over (translate.ts DEFAULTS): every
 * required field a test left 0 gets its default. Call it just before packing. */
void t_snapshot_defaults(Xmesh__Dataplane__V1__Snapshot *s);

#endif
