/* Loopback servers, clients and snapshot builders shared by the native integration tests. */
#include "t_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/dp.h"
#include "stats/stats.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

static int t__listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(*port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 512) < 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

uint16_t t_closed_port(void)
{
	uint16_t port = 0;
	int fd = t__listen(&port);
	close(fd);
	return port;
}

/* One thread per echo connection: simple and bounded by the tests' sizes. */
struct t__echo_arg {
	int fd;
	const char *banner;
};

static void *t__echo_conn(void *arg)
{
	struct t__echo_arg a = *(struct t__echo_arg *)arg;
	int fd = a.fd;
	char buf[65536];
	free(arg);
	if (a.banner && write(fd, a.banner, strlen(a.banner)) != (ssize_t)strlen(a.banner))
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
out:
	close(fd);
	return NULL;
}

static void *t__echo_accept(void *arg)
{
	struct t_server *s = arg;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(s->fd, NULL, NULL);
		if (fd < 0)
			continue;
		__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
		pthread_t th;
		struct t__echo_arg *a = malloc(sizeof(*a));
		if (a)
			*a = (struct t__echo_arg){ fd, s->banner };
		if (a && pthread_create(&th, NULL, t__echo_conn, a) == 0) {
			pthread_detach(th);
		} else {
			free(a);
			close(fd);
		}
	}
	return NULL;
}

static int t__echo_start(struct t_server *s, uint16_t port, const char *banner)
{
	memset(s, 0, sizeof(*s));
	s->banner = banner;
	s->port = port;
	s->fd = t__listen(&s->port);
	if (s->fd < 0)
		return -1;
	s->thread = malloc(sizeof(pthread_t));
	return pthread_create((pthread_t *)s->thread, NULL, t__echo_accept, s);
}

int t_echo_start(struct t_server *s)
{
	return t__echo_start(s, 0, NULL);
}

int t_echo_start_on(struct t_server *s, uint16_t port)
{
	return t__echo_start(s, port, NULL);
}

int t_echo_start_banner(struct t_server *s, const char *banner)
{
	return t__echo_start(s, 0, banner);
}

void t_echo_stop(struct t_server *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(*(pthread_t *)s->thread, NULL);
	free(s->thread);
	close(s->fd);
	usleep(20000); /* detached connection threads finish on their own EOF */
}

int t_snapshot_opts(const struct t_snap_opts *o, uint8_t **out, size_t *outlen)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__TcpProxy tp = XMESH__DATAPLANE__V1__TCP_PROXY__INIT;
	Xmesh__Dataplane__V1__Cluster c = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__OutlierDetection od = XMESH__DATAPLANE__V1__OUTLIER_DETECTION__INIT;
	Xmesh__Dataplane__V1__CircuitBreakers cb = XMESH__DATAPLANE__V1__CIRCUIT_BREAKERS__INIT;
	Xmesh__Dataplane__V1__TcpKeepalive ka = XMESH__DATAPLANE__V1__TCP_KEEPALIVE__INIT;
	Xmesh__Dataplane__V1__HashPolicy hp = XMESH__DATAPLANE__V1__HASH_POLICY__INIT;
	Xmesh__Dataplane__V1__Listener *ls[1] = { &l };
	Xmesh__Dataplane__V1__Cluster *cs[1] = { &c };
	Xmesh__Dataplane__V1__Endpoint eps[16];
	Xmesh__Dataplane__V1__SocketAddress eas[16];
	Xmesh__Dataplane__V1__Endpoint *epp[16];
	Xmesh__Dataplane__V1__SocketOption lso = XMESH__DATAPLANE__V1__SOCKET_OPTION__INIT;
	Xmesh__Dataplane__V1__SocketOption uso[2] = { XMESH__DATAPLANE__V1__SOCKET_OPTION__INIT,
						     XMESH__DATAPLANE__V1__SOCKET_OPTION__INIT };
	Xmesh__Dataplane__V1__SocketOption *lsop[1] = { &lso }, *usop[2];

	if (o->nports > 16)
		return -1;
	snap.version = o->version;
	la.address = "127.0.0.1";
	la.port = o->listen_port;
	l.name = "l";
	l.address = &la;
	l.buffer_limit = o->buffer_limit;
	struct t_chain tch;
	t_chain_tcp(&l, &tch, &tp);
	tp.stat_prefix = "l";
	tp.cluster = "c";
	tp.idle_timeout_ms = o->idle_timeout_ms;
	tp.max_connect_attempts = o->max_connect_attempts ? o->max_connect_attempts : 1;
	tp.access_log_path = (char *)(o->access_log_path ? o->access_log_path : "");
	l.inherited_fd = o->inherited_fd;
	if (o->hash_source_port) {
		hp.key = XMESH__DATAPLANE__V1__HASH_POLICY__KEY__SOURCE_ADDRESS_PORT;
		tp.hash_policy = &hp;
	}
	c.name = "c";
	c.lb_policy = o->lb_policy;
	c.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 1000;
	c.per_connection_buffer_limit = o->buffer_limit;
	if (o->outlier) {
		od.enabled = 1;
		od.consecutive_gateway_failure = o->od_consecutive;
		od.base_ejection_time_ms = o->od_base_ms;
		od.max_ejection_percent = o->od_max_percent;
		c.outlier_detection = &od;
	}
	if (o->keepalive_time_s) {
		ka.keepalive_time_s = o->keepalive_time_s;
		ka.keepalive_interval_s = 7;
		ka.keepalive_probes = 3;
		l.tcp_keepalive = &ka;
		c.tcp_keepalive = &ka;
	}
	if (o->listener_cc) {
		lso.level = IPPROTO_TCP;
		lso.name = TCP_CONGESTION;
		lso.state = XMESH__DATAPLANE__V1__SOCKET_OPTION__STATE__STATE_LISTENING;
		lso.value_case = XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_BUF_VALUE;
		lso.buf_value.data = (uint8_t *)o->listener_cc;
		lso.buf_value.len = strlen(o->listener_cc);
		l.n_socket_options = 1;
		l.socket_options = lsop;
	}
	if (o->upstream_cc) {
		uso[0].level = IPPROTO_TCP;
		uso[0].name = TCP_CONGESTION;
		uso[0].value_case = XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_BUF_VALUE;
		uso[0].buf_value.data = (uint8_t *)o->upstream_cc;
		uso[0].buf_value.len = strlen(o->upstream_cc);
		usop[c.n_upstream_socket_options++] = &uso[0];
	}
	if (o->upstream_maxseg) {
		uso[1].level = IPPROTO_TCP;
		uso[1].name = TCP_MAXSEG;
		uso[1].value_case = XMESH__DATAPLANE__V1__SOCKET_OPTION__VALUE_INT_VALUE;
		uso[1].int_value = o->upstream_maxseg;
		usop[c.n_upstream_socket_options++] = &uso[1];
	}
	c.upstream_socket_options = usop;
	if (o->max_connections) {
		cb.max_connections = o->max_connections;
		c.circuit_breakers = &cb;
	}
	for (size_t i = 0; i < o->nports; i++) {
		xmesh__dataplane__v1__endpoint__init(&eps[i]);
		xmesh__dataplane__v1__socket_address__init(&eas[i]);
		eas[i].address = "127.0.0.1";
		eas[i].port = o->ports[i];
		eps[i].address = &eas[i];
		eps[i].weight = o->weights ? o->weights[i] : 1;
		eps[i].healthy = 1;
		epp[i] = &eps[i];
	}
	c.n_endpoints = o->nports;
	c.endpoints = epp;
	snap.n_listeners = 1;
	snap.listeners = ls;
	snap.n_clusters = 1;
	snap.clusters = cs;
	t_snapshot_defaults(&snap);
	*outlen = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	*out = malloc(*outlen);
	xmesh__dataplane__v1__snapshot__pack(&snap, *out);
	return 0;
}

int t_snapshot_tcp(uint64_t version, const char *lname, const char *cname, const uint16_t *ports, size_t nports,
		   int lb_policy, uint32_t idle_timeout_ms, uint32_t buffer_limit, uint8_t **out, size_t *outlen)
{
	struct t_snap_opts o = { .version = version, .ports = ports, .nports = nports, .lb_policy = lb_policy,
				 .idle_timeout_ms = idle_timeout_ms, .buffer_limit = buffer_limit };
	(void)lname;
	(void)cname;
	return t_snapshot_opts(&o, out, outlen);
}

struct t__lp {
	const char *name;
	uint16_t port;
};
static void t__lp_cb(void *ctx, const struct xm_dp_listener_info *li)
{
	struct t__lp *x = ctx;
	if (strcmp(li->name, x->name) == 0)
		x->port = li->port;
}

uint16_t t_listener_port(struct xm_dp *dp, const char *lname)
{
	struct t__lp x = { lname, 0 };
	xm_dp_listeners(dp, t__lp_cb, &x);
	return x.port;
}

static int t__connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static inline unsigned char t__pat(size_t i) { return (unsigned char)((i * 131u + (i >> 9)) & 0xff); }

long t_roundtrip(uint16_t port, size_t len, int timeout_ms, int *intact)
{
	int fd = t__connect(port);
	size_t sent = 0, got = 0;
	int ok = 1, shut = 0;
	unsigned char buf[65536];

	if (fd < 0)
		return fd;
	*intact = 0;
	if (len == 0) {
		shutdown(fd, SHUT_WR);
		shut = 1;
	}
	while (1) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT) };
		int n = poll(&p, 1, timeout_ms);
		if (n <= 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		if (!shut && (p.revents & POLLOUT)) {
			size_t chunk = len - sent < sizeof(buf) ? len - sent : sizeof(buf);
			for (size_t i = 0; i < chunk; i++)
				buf[i] = t__pat(sent + i);
			ssize_t w = send(fd, buf, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			if (sent == len) {
				shutdown(fd, SHUT_WR);
				shut = 1;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0)
				break;
			if (r < 0) {
				if (errno == EAGAIN)
					continue;
				int e = errno;
				close(fd);
				return -e;
			}
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != t__pat(got + (size_t)i))
					ok = 0;
			got += (size_t)r;
		}
	}
	close(fd);
	*intact = ok && got == len;
	return (long)got;
}

int t_tcp_pair(int *srv, int *cli, int small)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int sz = 16384, rc = 0;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*srv = *cli = -1;
	if (lfd < 0 || c < 0) {
		rc = -errno;
		goto out;
	}
	if (small) {
		/* Set before listen/connect: the accepted socket inherits them, and the window
		 * scale is chosen from them in the handshake. */
		setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(c, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		goto out;
	}
	*srv = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (*srv < 0) {
		rc = -errno;
		goto out;
	}
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	*cli = c;
	c = -1;
out:
	if (c >= 0)
		close(c);
	if (lfd >= 0)
		close(lfd);
	return rc;
}

int t_hold_from(const char *src, uint16_t port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char b;

	if (src) {
		struct sockaddr_in s = { .sin_family = AF_INET };
		inet_pton(AF_INET, src, &s.sin_addr);
		if (bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || write(fd, "h", 1) != 1) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0 || read(fd, &b, 1) != 1) {
		close(fd);
		return -ETIMEDOUT;
	}
	return fd;
}

int t_connect_expect_close(uint16_t port, int timeout_ms)
{
	char b[16];
	int fd = t__connect(port);
	if (fd < 0)
		return fd;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc = poll(&p, 1, timeout_ms) <= 0 ? -ETIMEDOUT : 0;
	if (rc == 0 && recv(fd, b, sizeof(b), 0) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

struct t__sk {
	const char *key;
	long long v;
};
static int t__stat_cb(void *ctx, enum xm_stat_type type, const char *key, const void *value)
{
	struct t__sk *x = ctx;
	if (strcmp(key, x->key) != 0)
		return 0;
	x->v = type == XM_STAT_GAUGE ? (long long)*(const int64_t *)value : (long long)*(const uint64_t *)value;
	return 1;
}

long long t_stat(struct xm_dp *dp, const char *key)
{
	struct t__sk x = { key, -1 };
	xm_stats_foreach(dp->stats, t__stat_cb, &x);
	return x.v;
}

static void t__chain(struct t_chain *c)
{
	xmesh__dataplane__v1__filter_chain__init(&c->fc);
	c->fc.name = "main";
	c->nfp[0] = &c->nf;
	c->fc.n_filters = 1, c->fc.filters = c->nfp;
	c->fcp[0] = &c->fc;
}

void t_chain_tcp(Xmesh__Dataplane__V1__Listener *l, struct t_chain *c, Xmesh__Dataplane__V1__TcpProxy *tp)
{
	t__chain(c);
	xmesh__dataplane__v1__network_filter__init(&c->nf);
	c->nf.name = "envoy.filters.network.tcp_proxy";
	c->nf.config_case = XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_TCP_PROXY;
	c->nf.tcp_proxy = tp;
	l->n_filter_chains = 1, l->filter_chains = c->fcp;
}

void t_chain_x(Xmesh__Dataplane__V1__Listener *l, struct t_chain *c, Xmesh__Dataplane__V1__XProxy *xp)
{
	t__chain(c);
	xmesh__dataplane__v1__network_filter__init(&c->nf);
	c->nf.name = "xmesh.x_proxy";
	c->nf.config_case = XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_X_PROXY;
	c->nf.x_proxy = xp;
	l->n_filter_chains = 1, l->filter_chains = c->fcp;
}

void t_chain_detect(Xmesh__Dataplane__V1__Listener *l, struct t_detect *d, Xmesh__Dataplane__V1__XProxy *xp,
		    uint32_t timeout_ms, Xmesh__Dataplane__V1__TcpProxy *fallback)
{
	t_chain_x(l, &d->x, xp);
	d->x.fc.name = "x_proxy";
	xmesh__dataplane__v1__filter_chain_match__init(&d->m);
	d->m.n_application_protocols = xp->n_protocols, d->m.application_protocols = xp->protocols;
	d->x.fc.filter_chain_match = &d->m;
	xmesh__dataplane__v1__protocol_detection__init(&d->pd);
	d->pd.n_protocols = xp->n_protocols, d->pd.protocols = xp->protocols;
	d->pd.n_descriptors = xp->n_descriptors, d->pd.descriptors = xp->descriptors;
	d->pd.timeout_ms = timeout_ms;
	d->pd.stat_prefix = xp->stat_prefix;
	xmesh__dataplane__v1__listener_filter__init(&d->lf);
	d->lf.name = "xmesh.listener.protocol_detection";
	d->lf.config_case = XMESH__DATAPLANE__V1__LISTENER_FILTER__CONFIG_PROTOCOL_DETECTION;
	d->lf.protocol_detection = &d->pd;
	d->lfp[0] = &d->lf;
	l->n_listener_filters = 1, l->listener_filters = d->lfp;
	if (fallback) {
		xmesh__dataplane__v1__filter_chain__init(&d->dc);
		d->dc.name = "fallback";
		xmesh__dataplane__v1__network_filter__init(&d->df);
		d->df.name = "envoy.filters.network.tcp_proxy";
		d->df.config_case = XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_TCP_PROXY;
		d->df.tcp_proxy = fallback;
		d->dfp[0] = &d->df;
		d->dc.n_filters = 1, d->dc.filters = d->dfp;
		l->default_filter_chain = &d->dc;
	}
}

static Xmesh__Dataplane__V1__CircuitBreakers t__breakers[64];

static void t__tcp_defaults(Xmesh__Dataplane__V1__TcpProxy *tp, const char *lname)
{
	if (!tp->stat_prefix || !tp->stat_prefix[0])
		tp->stat_prefix = (char *)lname;
	if (!tp->max_connect_attempts)
		tp->max_connect_attempts = 1;
	for (size_t i = 0; i < tp->n_weighted_clusters; i++)
		if (!tp->weighted_clusters[i]->weight)
			tp->weighted_clusters[i]->weight = 1;
}

static void t__x_defaults(Xmesh__Dataplane__V1__XProxy *x, const char *lname)
{
	if (!x->stat_prefix || !x->stat_prefix[0])
		x->stat_prefix = (char *)lname;
	if (!x->max_frame_size)
		x->max_frame_size = 16u << 20;
	if (!x->upstream_connections_per_host)
		x->upstream_connections_per_host = 1;
	if (!x->request_timeout_ms)
		x->request_timeout_ms = 15000;
	for (size_t v = 0; v < x->n_virtual_hosts; v++)
		for (size_t r = 0; r < x->virtual_hosts[v]->n_routes; r++) {
			Xmesh__Dataplane__V1__XRoute *rt = x->virtual_hosts[v]->routes[r];
			if (!rt->timeout_ms)
				rt->timeout_ms = x->request_timeout_ms;
			for (size_t w = 0; w < rt->n_weighted_clusters; w++)
				if (!rt->weighted_clusters[w]->weight)
					rt->weighted_clusters[w]->weight = 1;
		}
}

static void t__chain_defaults(Xmesh__Dataplane__V1__FilterChain *fc, const char *lname)
{
	for (size_t f = 0; fc && f < fc->n_filters; f++) {
		if (fc->filters[f]->config_case == XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_TCP_PROXY)
			t__tcp_defaults(fc->filters[f]->tcp_proxy, lname);
		if (fc->filters[f]->config_case == XMESH__DATAPLANE__V1__NETWORK_FILTER__CONFIG_X_PROXY)
			t__x_defaults(fc->filters[f]->x_proxy, lname);
	}
}

void t_snapshot_defaults(Xmesh__Dataplane__V1__Snapshot *s)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		Xmesh__Dataplane__V1__Listener *l = s->listeners[i];
		if (!l->backlog)
			l->backlog = 1024;
		if (!l->buffer_limit)
			l->buffer_limit = 1u << 20;
		for (size_t c = 0; c < l->n_filter_chains; c++)
			t__chain_defaults(l->filter_chains[c], l->name);
		t__chain_defaults(l->default_filter_chain, l->name);
		for (size_t f = 0; f < l->n_listener_filters; f++) {
			Xmesh__Dataplane__V1__ProtocolDetection *pd =
				l->listener_filters[f]->config_case == XMESH__DATAPLANE__V1__LISTENER_FILTER__CONFIG_PROTOCOL_DETECTION
					? l->listener_filters[f]->protocol_detection
					: NULL;
			if (pd && !pd->timeout_ms)
				pd->timeout_ms = 15000;
			if (pd && (!pd->stat_prefix || !pd->stat_prefix[0]))
				pd->stat_prefix = l->name;
		}
	}
	for (size_t i = 0; i < s->n_clusters; i++) {
		Xmesh__Dataplane__V1__Cluster *c = s->clusters[i];
		if (!c->connect_timeout_ms)
			c->connect_timeout_ms = 5000;
		if (!c->per_connection_buffer_limit)
			c->per_connection_buffer_limit = 1u << 20;
		if (!c->circuit_breakers && i < 64) {
			xmesh__dataplane__v1__circuit_breakers__init(&t__breakers[i]);
			t__breakers[i].max_connections = t__breakers[i].max_pending_requests = t__breakers[i].max_requests = 1024;
			t__breakers[i].max_retries = 3;
			c->circuit_breakers = &t__breakers[i];
		}
		if (c->lb_policy == XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__RING_HASH && !c->ring_hash_min_size)
			c->ring_hash_min_size = 1024;
		if (c->lb_policy == XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__MAGLEV && !c->maglev_table_size)
			c->maglev_table_size = 65537;
		if (c->lb_policy == XMESH__DATAPLANE__V1__CLUSTER__LB_POLICY__LEAST_REQUEST && !c->least_request_choices)
			c->least_request_choices = 2;
		Xmesh__Dataplane__V1__OutlierDetection *od = c->outlier_detection;
		if (od && od->enabled) {
			if (!od->consecutive_gateway_failure)
				od->consecutive_gateway_failure = 5;
			if (!od->consecutive_5xx)
				od->consecutive_5xx = 5;
			if (!od->base_ejection_time_ms)
				od->base_ejection_time_ms = 30000;
			if (!od->max_ejection_time_ms)
				od->max_ejection_time_ms = 300000;
		}
		for (size_t e = 0; e < c->n_endpoints; e++)
			if (!c->endpoints[e]->weight)
				c->endpoints[e]->weight = 1;
	}
}
