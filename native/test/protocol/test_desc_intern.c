/* Descriptor codecs from the snapshot: tinyrpc routed end to end, codecs interned across swaps, bad descriptors refused by field. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/codec.h"
#include "server/dp.h"
#include "config/table.h"
#include "t.h"
#include "filters/x_proxy/x_proxy.h"
#include "t_net.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/*
 * tinyrpc (as in test_codec_desc.c), here defined only by the snapshot:
 *   "TR" kind(1) status(1) id(u32 BE) len(u32 BE, body only) | method[16] NUL-padded | svcLen(u16 BE) service | payload
 * kind: 0 request, 1 response, 2 oneway, 3 heartbeat, 4 heartbeat ack. status: 0 ok, 1 no route, ... 6 bad request.
 */
static size_t t__tiny(uint8_t *out, uint8_t kind, uint32_t id, const char *method, const char *service, const char *payload)
{
	size_t body = 0;
	memset(out, 0, 12);
	out[0] = 'T', out[1] = 'R', out[2] = kind;
	out[4] = (uint8_t)(id >> 24), out[5] = (uint8_t)(id >> 16), out[6] = (uint8_t)(id >> 8), out[7] = (uint8_t)id;
	if (method) {
		size_t sl = strlen(service), pl = strlen(payload);
		memset(out + 12, 0, 16);
		memcpy(out + 12, method, strlen(method));
		out[28] = (uint8_t)(sl >> 8), out[29] = (uint8_t)sl;
		memcpy(out + 30, service, sl);
		memcpy(out + 30 + sl, payload, pl);
		body = 18 + sl + pl;
	}
	out[8] = (uint8_t)(body >> 24), out[9] = (uint8_t)(body >> 16), out[10] = (uint8_t)(body >> 8), out[11] = (uint8_t)body;
	return 12 + body;
}

struct t_reply {
	uint8_t kind, status;
	uint32_t id;
	char body[256];
};

/* Read one tinyrpc frame (bounded). 0 or -1. */
static int t__read(int fd, struct t_reply *r)
{
	uint8_t b[4096];
	size_t got = 0, want = 12;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got < want) {
		if (poll(&p, 1, 3000) <= 0)
			return -1;
		ssize_t n = read(fd, b + got, want - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got == 12) {
			want = 12 + ((size_t)b[8] << 24 | (size_t)b[9] << 16 | (size_t)b[10] << 8 | b[11]);
			if (want > sizeof(b))
				return -1;
		}
	}
	r->kind = b[2] & 7, r->status = b[3];
	r->id = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
	size_t bl = want - 12 < sizeof(r->body) - 1 ? want - 12 : sizeof(r->body) - 1;
	memcpy(r->body, b + 12, bl);
	r->body[bl] = 0;
	return 0;
}

/* ------------------------------------------------------------ a tinyrpc echo server */

struct t_tiny_srv {
	int lfd;
	uint16_t port;
	int stop;
	unsigned long accepted, requests, heartbeats;
	pthread_t th;
};

/* Requests are answered with the same frame turned into an ok response (body echoed). */
static void *t__srv_main(void *arg)
{
	struct t_tiny_srv *s = arg;
	struct pollfd fds[16];
	static __thread uint8_t bufs[16][8192];
	size_t lens[16];
	int n = 1;

	fds[0].fd = s->lfd;
	fds[0].events = POLLIN;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (poll(fds, (nfds_t)n, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 16) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0) {
				__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
				fds[n].fd = fd, fds[n].events = POLLIN, lens[n] = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(fds[i].fd, bufs[i] + lens[i], sizeof(bufs[i]) - lens[i]);
			if (r <= 0) {
				close(fds[i].fd);
				fds[i] = fds[n - 1];
				lens[i] = lens[n - 1];
				memcpy(bufs[i], bufs[n - 1], lens[i]);
				n--, i--;
				continue;
			}
			lens[i] += (size_t)r;
			while (lens[i] >= 12) {
				uint8_t *f = bufs[i];
				size_t fl = 12 + ((size_t)f[8] << 24 | (size_t)f[9] << 16 | (size_t)f[10] << 8 | f[11]);
				if (lens[i] < fl)
					break;
				if ((f[2] & 7) == 0 || (f[2] & 7) == 3) {
					__atomic_add_fetch((f[2] & 7) ? &s->heartbeats : &s->requests, 1, __ATOMIC_RELAXED);
					f[2] = (uint8_t)((f[2] & ~7) | ((f[2] & 7) ? 4 : 1));
					f[3] = 0;
					ssize_t w = write(fds[i].fd, f, fl);
					(void)w;
				}
				memmove(bufs[i], bufs[i] + fl, lens[i] - fl);
				lens[i] -= fl;
			}
		}
	}
	for (int i = 1; i < n; i++)
		close(fds[i].fd);
	return NULL;
}

static void t__srv_start(struct t_tiny_srv *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(s->lfd, 128);
	getsockname(s->lfd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, t__srv_main, s);
}

static void t__srv_stop(struct t_tiny_srv *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* ------------------------------------------------------------ snapshots */

typedef Xmesh__Dataplane__V1__XCodecDescriptor pb_desc;

/* Storage for one tinyrpc descriptor message and its nested messages. */
struct t_desc {
	pb_desc d;
	Xmesh__Dataplane__V1__XDescField length, id, kind, status;
	Xmesh__Dataplane__V1__XDescStatusCodes codes;
	Xmesh__Dataplane__V1__XDescLocation service, method;
	Xmesh__Dataplane__V1__XDescLocation__Fixed fixed;
	Xmesh__Dataplane__V1__XDescLocation__LengthPrefixed lp;
};

static void t__desc(struct t_desc *t, const char *name)
{
	static const Xmesh__Dataplane__V1__XDescField f0 = XMESH__DATAPLANE__V1__XDESC_FIELD__INIT;
	static const Xmesh__Dataplane__V1__XDescLocation l0 = XMESH__DATAPLANE__V1__XDESC_LOCATION__INIT;
	*t = (struct t_desc){ .d = XMESH__DATAPLANE__V1__XCODEC_DESCRIPTOR__INIT, .length = f0, .id = f0, .kind = f0,
			      .status = f0, .codes = XMESH__DATAPLANE__V1__XDESC_STATUS_CODES__INIT, .service = l0,
			      .method = l0, .fixed = XMESH__DATAPLANE__V1__XDESC_LOCATION__FIXED__INIT,
			      .lp = XMESH__DATAPLANE__V1__XDESC_LOCATION__LENGTH_PREFIXED__INIT };
	t->d.name = (char *)name;
	t->d.magic.data = (uint8_t *)"TR", t->d.magic.len = 2;
	t->length.offset = 8, t->length.size = 4;
	t->d.length = &t->length, t->d.length_adjust = 12, t->d.header_len = 12;
	t->id.offset = 4, t->id.size = 4;
	t->d.request_id = &t->id;
	t->kind.offset = 2, t->kind.size = 1;
	t->d.kind_field = &t->kind, t->d.kind_mask = 7, t->d.kind_request = 0, t->d.kind_response = 1;
	t->d.kind_heartbeat = 3, t->d.has_heartbeat = 1, t->d.kind_heartbeat_ack = 4, t->d.has_heartbeat_ack = 1;
	t->status.offset = 3, t->status.size = 1;
	t->d.status = &t->status, t->d.status_ok = 0;
	t->codes = (Xmesh__Dataplane__V1__XDescStatusCodes)XMESH__DATAPLANE__V1__XDESC_STATUS_CODES__INIT;
	t->codes.no_route = 1, t->codes.timeout = 2, t->codes.overflow = 3, t->codes.unavailable = 4;
	t->codes.server_error = 5, t->codes.codec_error = 6;
	t->d.status_codes = &t->codes;
	t->lp.offset = 28, t->lp.length_size = 2;
	t->service.kind_case = XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_LENGTH_PREFIXED, t->service.length_prefixed = &t->lp;
	t->fixed.offset = 12, t->fixed.length = 16;
	t->method.kind_case = XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_FIXED, t->method.fixed = &t->fixed;
	t->d.service = &t->service, t->d.method = &t->method;
}

/* Listener "tiny" speaking protocol, with descriptors ds: service "acme.Books" -> cluster a. */
static int t__apply(struct xm_dp *dp, uint64_t version, const char *protocol, pb_desc **ds, size_t nds, uint16_t port,
		    char *err, size_t errlen)
{
	Xmesh__Dataplane__V1__Snapshot snap = XMESH__DATAPLANE__V1__SNAPSHOT__INIT;
	Xmesh__Dataplane__V1__Listener l = XMESH__DATAPLANE__V1__LISTENER__INIT;
	Xmesh__Dataplane__V1__SocketAddress la = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	Xmesh__Dataplane__V1__XProxy xp = XMESH__DATAPLANE__V1__XPROXY__INIT;
	Xmesh__Dataplane__V1__XVirtualHost vh = XMESH__DATAPLANE__V1__XVIRTUAL_HOST__INIT;
	Xmesh__Dataplane__V1__XRoute rt = XMESH__DATAPLANE__V1__XROUTE__INIT;
	Xmesh__Dataplane__V1__Cluster ca = XMESH__DATAPLANE__V1__CLUSTER__INIT;
	Xmesh__Dataplane__V1__Endpoint ea = XMESH__DATAPLANE__V1__ENDPOINT__INIT;
	Xmesh__Dataplane__V1__SocketAddress aa = XMESH__DATAPLANE__V1__SOCKET_ADDRESS__INIT;
	char *domains[] = { "acme.Books" };
	Xmesh__Dataplane__V1__XRoute *rts[] = { &rt };
	Xmesh__Dataplane__V1__XVirtualHost *vhs[] = { &vh };
	Xmesh__Dataplane__V1__Endpoint *eps[] = { &ea };
	Xmesh__Dataplane__V1__Cluster *cls[] = { &ca };
	Xmesh__Dataplane__V1__Listener *ls[] = { &l };

	rt.cluster = "a";
	vh.name = "books", vh.n_domains = 1, vh.domains = domains, vh.n_routes = 1, vh.routes = rts;
	char *protos[] = { (char *)protocol };
	xp.stat_prefix = "tiny", xp.n_protocols = 1, xp.protocols = protos;
	xp.n_virtual_hosts = 1, xp.virtual_hosts = vhs;
	xp.n_descriptors = nds, xp.descriptors = ds;
	la.address = "127.0.0.1";
	l.name = "tiny", l.address = &la;
	struct t_chain ch;
	t_chain_x(&l, &ch, &xp);
	aa.address = "127.0.0.1", aa.port = port;
	ea.address = &aa, ea.weight = 1, ea.healthy = 1;
	ca.name = "a", ca.n_endpoints = 1, ca.endpoints = eps, ca.connect_timeout_ms = 1000;
	snap.version = version;
	snap.n_listeners = 1, snap.listeners = ls;
	snap.n_clusters = 1, snap.clusters = cls;
	t_snapshot_defaults(&snap);
	size_t len = xmesh__dataplane__v1__snapshot__get_packed_size(&snap);
	uint8_t *buf = malloc(len);
	xmesh__dataplane__v1__snapshot__pack(&snap, buf);
	int rc = xm_dp_apply(dp, buf, len, err, errlen);
	free(buf);
	return rc;
}

static struct xm_dp *t__dp(void)
{
	struct xm_dp *dp = NULL;
	struct xm_dp_opts o = { .nworkers = 2, .stats_capacity = 8u << 20 };
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	return dp;
}

static int t__connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int t__call(int fd, uint8_t kind, uint32_t id, const char *service, const char *payload, struct t_reply *r)
{
	uint8_t req[512];
	size_t n = kind == 3 ? t__tiny(req, kind, id, NULL, NULL, NULL) : t__tiny(req, kind, id, "get", service, payload);
	if (write(fd, req, n) != (ssize_t)n)
		return -1;
	return t__read(fd, r);
}

static const struct xm_codec *t__codec(struct xm_dp *dp)
{
	if (!dp->table || !dp->table->nlisteners || !dp->table->listeners[0].nchains)
		return NULL;
	const struct xp_cfg *x = dp->table->listeners[0].chains[0].filters[0].cfg;
	return x->codecs[0];
}

/* ------------------------------------------------------------ tests */

static void test_end_to_end(void)
{
	struct t_tiny_srv s;
	struct t_desc td;
	struct t_reply r;
	char err[256] = "";

	t__srv_start(&s);
	t__desc(&td, "tinyrpc");
	pb_desc *ds[] = { &td.d };
	struct xm_dp *dp = t__dp();
	int rc = t__apply(dp, 1, "tinyrpc", ds, 1, s.port, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	T_CHECK_EQ(rc, 0);
	T_CHECK(t__codec(dp) && strcmp(t__codec(dp)->name, "tinyrpc") == 0);
	int fd = t__connect(t_listener_port(dp, "tiny"));
	T_CHECK_EQ(t__call(fd, 0, 7, "acme.Books", "hello", &r), 0);
	T_CHECK_EQ(r.kind, 1);
	T_CHECK_EQ(r.status, 0);
	T_CHECK_EQ(r.id, 7);
	T_CHECK(strcmp(r.body + 18 + 10, "hello") == 0); /* after method[16], svcLen, "acme.Books" */
	/* no route: the descriptor's no_route status, from the sidecar itself */
	T_CHECK_EQ(t__call(fd, 0, 8, "acme.Other", "x", &r), 0);
	T_CHECK_EQ(r.kind, 1);
	T_CHECK_EQ(r.status, 1);
	T_CHECK_EQ(r.id, 8);
	/* heartbeat: answered locally with the ack kind */
	T_CHECK_EQ(t__call(fd, 3, 9, NULL, NULL, &r), 0);
	T_CHECK_EQ(r.kind, 4);
	T_CHECK_EQ(r.id, 9);
	T_CHECK_EQ(__atomic_load_n(&s.requests, __ATOMIC_RELAXED), 1);
	T_CHECK_EQ(__atomic_load_n(&s.heartbeats, __ATOMIC_RELAXED), 0);
	close(fd);
	usleep(20000);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=tiny}.downstream_rq_no_route"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=tiny}.downstream_rq_heartbeat"), 1);
	T_CHECK_EQ(t_stat(dp, "xproxy.{stat_prefix=tiny}.bytes_copied"), 0);
	xm_dp_free(dp);
	t__srv_stop(&s);
}

static void test_interned_across_swaps(void)
{
	struct t_tiny_srv s;
	struct t_desc td, td2;
	struct t_reply r;
	char err[256] = "";

	t__srv_start(&s);
	t__desc(&td, "tinyrpc");
	pb_desc *ds[] = { &td.d };
	struct xm_dp *dp = t__dp();
	T_CHECK_EQ(t__apply(dp, 1, "tinyrpc", ds, 1, s.port, err, sizeof(err)), 0);
	const struct xm_codec *c1 = t__codec(dp);
	uint16_t port = t_listener_port(dp, "tiny");
	int old = t__connect(port);
	T_CHECK_EQ(t__call(old, 0, 1, "acme.Books", "a", &r), 0);
	T_CHECK_EQ(r.status, 0);

	/* an identical descriptor (a new message, same content): same codec, same upstream pool */
	t__desc(&td2, "tinyrpc");
	pb_desc *ds2[] = { &td2.d };
	T_CHECK_EQ(t__apply(dp, 2, "tinyrpc", ds2, 1, s.port, err, sizeof(err)), 0);
	T_CHECK(t__codec(dp) == c1);
	T_CHECK_EQ(t__call(old, 0, 2, "acme.Books", "b", &r), 0);
	T_CHECK_EQ(r.status, 0);
	int fresh = t__connect(port);
	T_CHECK_EQ(t__call(fresh, 0, 3, "acme.Books", "c", &r), 0);
	T_CHECK_EQ(r.status, 0);
	unsigned long accepted = __atomic_load_n(&s.accepted, __ATOMIC_RELAXED);
	T_CHECK(accepted >= 1 && accepted <= 2); /* one pool connection per worker at most */
	close(fresh);

	/* a changed descriptor: a new codec; the old connection keeps the old one (still alive,
	 * ASan would see a use after free) and new connections use the new one */
	td2.d.kind_oneway = 2, td2.d.has_oneway = 1;
	T_CHECK_EQ(t__apply(dp, 3, "tinyrpc", ds2, 1, s.port, err, sizeof(err)), 0);
	const struct xm_codec *c3 = t__codec(dp);
	T_CHECK(c3 != NULL && c3 != c1);
	T_CHECK_EQ(xm_dp_reclaim(dp), 0); /* old tables are gone: the codecs are not theirs */
	T_CHECK_EQ(t__call(old, 0, 4, "acme.Books", "d", &r), 0);
	T_CHECK_EQ(r.status, 0);
	T_CHECK(strcmp(r.body + 18 + 10, "d") == 0);
	fresh = t__connect(port);
	T_CHECK_EQ(t__call(fresh, 0, 5, "acme.Books", "e", &r), 0);
	T_CHECK_EQ(r.status, 0);
	T_CHECK(__atomic_load_n(&s.accepted, __ATOMIC_RELAXED) > accepted); /* pools key on the codec */
	/* back to the first descriptor: the first codec again */
	T_CHECK_EQ(t__apply(dp, 4, "tinyrpc", ds, 1, s.port, err, sizeof(err)), 0);
	T_CHECK(t__codec(dp) == c1);
	close(fresh);
	close(old);
	xm_dp_free(dp);
	t__srv_stop(&s);
}

static void test_bad_descriptors(void)
{
	struct t_tiny_srv s;
	struct t_desc good, bad, dup;
	struct t_reply r;

	t__srv_start(&s);
	t__desc(&good, "tinyrpc");
	pb_desc *ds[] = { &good.d };
	struct xm_dp *dp = t__dp();
	char err[256] = "";
	T_CHECK_EQ(t__apply(dp, 1, "tinyrpc", ds, 1, s.port, err, sizeof(err)), 0);
	static const char *const want[] = {
		"listener 'tiny': descriptors[0] 'tinyrpc': length.size: must be 1, 2, 4 or 8",
		"listener 'tiny': descriptors[0] 'bolt': name: already a codec name",
		"listener 'tiny': descriptors[1] 'tinyrpc': name: already a codec name",
		"listener 'tiny': protocol 'nope' is not supported",
		"listener 'tiny': descriptors[0] 'tinyrpc': kind_mask: must be non-zero",
		"listener 'tiny': descriptors[0] 'tinyrpc': status_codes: required with a status field",
		"listener 'tiny': descriptors[0] 'tinyrpc': method.tlv.type: must be 0..255",
		"listener 'tiny': descriptors[0] 'tinyrpc': magic: must be 0..8 bytes",
		"listener 'tiny': descriptors[0] 'tinyrpc': request_id: required",
		"listener 'tiny': descriptors[0] 'tinyrpc': header_len: must be 1..4096",
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(want); i++) {
		Xmesh__Dataplane__V1__XDescLocation__Tlv tlv = XMESH__DATAPLANE__V1__XDESC_LOCATION__TLV__INIT;
		const char *proto = "tinyrpc";
		size_t n = 1;
		t__desc(&bad, "tinyrpc");
		t__desc(&dup, "tinyrpc");
		pb_desc *bs[] = { &bad.d, &dup.d };
		switch (i) {
		case 0: bad.length.size = 260; break; /* would be 4 once narrowed to a byte */
		case 1: bad.d.name = "bolt"; break;
		case 2: n = 2; break;
		case 3: proto = "nope"; break;
		case 4: bad.d.kind_mask = 0; break;
		case 5: bad.d.status_codes = NULL; break;
		case 6:
			tlv.type = 300;
			bad.method.kind_case = XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_TLV, bad.method.tlv = &tlv;
			break;
		case 7: bad.d.magic.data = (uint8_t *)"TRTRTRTRT", bad.d.magic.len = 9; break;
		case 8: bad.d.request_id = NULL; break;
		case 9: bad.d.header_len = 5000; break;
		}
		err[0] = 0;
		int rc = t__apply(dp, 10 + i, proto, bs, n, s.port, err, sizeof(err));
		if (rc != -EINVAL || strncmp(err, want[i], strlen(want[i])) != 0)
			fprintf(stderr, "  case %zu: want \"%s\", got %d \"%s\"\n", i, want[i], rc, err);
		T_CHECK_EQ(rc, -EINVAL);
		T_CHECK(strncmp(err, want[i], strlen(want[i])) == 0);
	}
	/* the running table stays and serves */
	T_CHECK_EQ(dp->table->version, 1);
	int fd = t__connect(t_listener_port(dp, "tiny"));
	T_CHECK_EQ(t__call(fd, 0, 1, "acme.Books", "still", &r), 0);
	T_CHECK_EQ(r.status, 0);
	close(fd);
	xm_dp_free(dp);
	t__srv_stop(&s);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("a descriptor in the snapshot runs tinyrpc end to end (route, no-route status, local heartbeat)", test_end_to_end);
	T_RUN("identical descriptors keep one codec across swaps; a changed one gets a new codec, old connections go on", test_interned_across_swaps);
	T_RUN("bad descriptors are refused naming the descriptor and field; the running table stays", test_bad_descriptors);
T_MAIN_END
