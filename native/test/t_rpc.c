/* Bolt v1 and Dubbo frames, and a loopback server answering both, for the x_proxy tests. */
#include "t_rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "protocol/codec.h"

static size_t t__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
	return 4;
}

static size_t t__put64(uint8_t *p, uint64_t v)
{
	t__put32(p, (uint32_t)(v >> 32));
	return 4 + t__put32(p + 4, (uint32_t)v);
}

static const char t__class[] = "com.alipay.sofa.rpc.core.request.SofaRequest";

size_t t_bolt_req(uint8_t *out, uint32_t id, int heartbeat, const char *service, const char *method,
		  const char *content)
{
	uint8_t hdr[512];
	size_t hl = 0, cl = heartbeat ? 0 : strlen(content), kl = heartbeat ? 0 : strlen(t__class);
	if (!heartbeat) {
		const char *kv[4] = { "service", service, "sofa_head_method_name", method };
		for (int i = 0; i < 4; i++) {
			hl += t__put32(hdr + hl, (uint32_t)strlen(kv[i]));
			memcpy(hdr + hl, kv[i], strlen(kv[i]));
			hl += strlen(kv[i]);
		}
	}
	uint8_t *p = out;
	*p++ = 1;                        /* proto v1 */
	*p++ = 1;                        /* type request */
	*p++ = 0, *p++ = heartbeat ? 0 : 1; /* cmdcode */
	*p++ = 1;                        /* ver2 */
	p += t__put32(p, id);
	*p++ = 1;                        /* codec hessian2 */
	p += t__put32(p, 3000);          /* timeout */
	*p++ = (uint8_t)(kl >> 8), *p++ = (uint8_t)kl;
	*p++ = (uint8_t)(hl >> 8), *p++ = (uint8_t)hl;
	p += t__put32(p, (uint32_t)cl);
	memcpy(p, t__class, kl), p += kl;
	memcpy(p, hdr, hl), p += hl;
	if (cl)
		memcpy(p, content, cl), p += cl;
	return (size_t)(p - out);
}

/* A hessian2 short string (< 32 bytes): length byte, then the bytes. */
static size_t t__hstr(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

size_t t_dubbo_req(uint8_t *out, uint64_t id, const char *service, const char *method)
{
	uint8_t *p = out + 16;
	p += t__hstr(p, "2.0.2");
	p += t__hstr(p, service);
	p += t__hstr(p, "1.0.0");
	p += t__hstr(p, method);
	p += t__hstr(p, "");       /* parameter descriptor: no arguments */
	*p++ = 'H', *p++ = 'Z';    /* attachments: empty map */
	out[0] = 0xda, out[1] = 0xbb;
	out[2] = 0x80 | 0x40 | 2;  /* request, two-way, hessian2 */
	out[3] = 0;
	t__put64(out + 4, id);
	t__put32(out + 12, (uint32_t)(p - out - 16));
	return (size_t)(p - out);
}

static int t__read_full(int fd, uint8_t *buf, size_t n, int timeout_ms);

size_t t_bolt_resp(uint8_t *out, uint32_t id, uint16_t status, const char *content)
{
	size_t cl = strlen(content);
	uint8_t *p = out;
	*p++ = 1, *p++ = 0, *p++ = 0, *p++ = 2, *p++ = 1; /* proto v1, response, cmdcode 2, ver2 */
	p += t__put32(p, id);
	*p++ = 1;                                          /* codec hessian2 */
	*p++ = (uint8_t)(status >> 8), *p++ = (uint8_t)status;
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;            /* no class, no header map */
	p += t__put32(p, (uint32_t)cl);
	memcpy(p, content, cl);
	return (size_t)(p - out) + cl;
}

size_t t_dubbo_resp(uint8_t *out, uint64_t id, uint8_t status, const char *body)
{
	size_t bl = strlen(body);
	out[0] = 0xda, out[1] = 0xbb, out[2] = 2, out[3] = status; /* response, hessian2 */
	t__put64(out + 4, id);
	t__put32(out + 12, (uint32_t)bl);
	memcpy(out + 16, body, bl);
	return 16 + bl;
}

long t_rpc_read_req(int fd, int dubbo, uint8_t *buf, size_t cap, uint64_t *id, int timeout_ms)
{
	size_t hl = dubbo ? 16 : 22, rest;
	if (cap < hl || t__read_full(fd, buf, hl, timeout_ms) < 0)
		return -1;
	if (dubbo) {
		rest = (size_t)buf[12] << 24 | (size_t)buf[13] << 16 | (size_t)buf[14] << 8 | buf[15];
		*id = 0;
		for (int i = 0; i < 8; i++)
			*id = *id << 8 | buf[4 + i];
	} else {
		/* v1 request: proto type cmdcode(2) ver2 id(4) codec timeout(4) classLen(2) headerLen(2) contentLen(4) */
		rest = (size_t)(buf[14] << 8 | buf[15]) + (size_t)(buf[16] << 8 | buf[17]) +
		       ((size_t)buf[18] << 24 | (size_t)buf[19] << 16 | (size_t)buf[20] << 8 | buf[21]);
		*id = (uint64_t)buf[5] << 24 | (uint64_t)buf[6] << 16 | (uint64_t)buf[7] << 8 | buf[8];
	}
	if (hl + rest > cap || t__read_full(fd, buf + hl, rest, timeout_ms) < 0)
		return -1;
	return (long)(hl + rest);
}

static int t__read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	while (got < n) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int t_bolt_read_resp(int fd, struct t_resp *r, int timeout_ms)
{
	uint8_t h[20], body[4096];

	/* v1 response: proto type cmdcode(2) ver2 id(4) codec status(2) classLen(2) headerLen(2) contentLen(4) */
	if (t__read_full(fd, h, sizeof(h), timeout_ms) < 0)
		return -1;
	r->cmd = (uint16_t)(h[2] << 8 | h[3]);
	r->id = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
	r->status = (uint16_t)(h[10] << 8 | h[11]);
	uint32_t kl = (uint32_t)(h[12] << 8 | h[13]);
	uint32_t hl = (uint32_t)(h[14] << 8 | h[15]);
	uint32_t clen = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
	size_t rest = kl + hl + clen;
	if (rest > sizeof(body) || t__read_full(fd, body, rest, timeout_ms) < 0)
		return -1;
	size_t cn = clen < sizeof(r->content) - 1 ? clen : sizeof(r->content) - 1;
	memcpy(r->content, body + kl + hl, cn);
	r->content[cn] = 0;
	return 0;
}

int t_dubbo_read_resp(int fd, struct t_resp *r, int timeout_ms)
{
	uint8_t h[16], body[4096];

	if (t__read_full(fd, h, sizeof(h), timeout_ms) < 0 || h[0] != 0xda || h[1] != 0xbb)
		return -1;
	r->cmd = h[2];
	r->status = h[3];
	r->id = 0;
	for (int i = 0; i < 8; i++)
		r->id = r->id << 8 | h[4 + i];
	uint32_t len = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
	if (len > sizeof(body) || t__read_full(fd, body, len, timeout_ms) < 0)
		return -1;
	size_t cn = len < sizeof(r->content) - 1 ? len : sizeof(r->content) - 1;
	memcpy(r->content, body, cn);
	r->content[cn] = 0;
	return 0;
}

int t_bolt_call(int fd, uint32_t id, const char *svc, const char *method, const char *content, struct t_resp *r)
{
	uint8_t req[2048];
	size_t n = t_bolt_req(req, id, 0, svc, method, content);
	if (write(fd, req, n) != (ssize_t)n)
		return -1;
	return t_bolt_read_resp(fd, r, 3000);
}

int t_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ the server */

#define T__MAXC 64

struct t__srv_conn {
	const struct xm_codec *codec; /* NULL until recognised */
	size_t len;
	uint8_t buf[65536];
};

/* The answer to request f (frame at the front of c->buf) into out; its length, 0 for none. */
static size_t t__answer(struct t_rpc_srv *s, struct t__srv_conn *c, const struct xm_frame *f,
			const struct xm_route_info *ri, uint8_t *out)
{
	uint8_t *p = out;

	if (c->codec == xm_codec_builtin("bolt")) {
		size_t cl = f->len - f->body_off;
		if (cl > 512)
			cl = 512; /* echo a prefix: out holds 1 KiB */
		if (ri->method_len == 4 && memcmp(ri->method, "hang", 4) == 0)
			return 0;
		*p++ = 1, *p++ = 0, *p++ = 0, *p++ = 2, *p++ = 1;
		p += t__put32(p, (uint32_t)f->id);
		*p++ = 1, *p++ = 0, *p++ = 0; /* codec, status 0 */
		*p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;
		p += t__put32(p, (uint32_t)(cl + 2));
		*p++ = (uint8_t)s->tag, *p++ = ':';
		memcpy(p, c->buf + f->body_off, cl), p += cl;
		return (size_t)(p - out);
	}
	*p++ = 0xda, *p++ = 0xbb, *p++ = 2, *p++ = 20; /* response, hessian2, OK */
	p += t__put64(p, f->id);
	p += t__put32(p, (uint32_t)(2 + ri->method_len));
	*p++ = (uint8_t)s->tag, *p++ = ':';
	memcpy(p, ri->method, ri->method_len), p += ri->method_len;
	return (size_t)(p - out);
}

/* Serve what c->buf holds; -1 when the connection must be dropped ("die"). */
static int t__serve(struct t_rpc_srv *s, int fd, struct t__srv_conn *c)
{
	static const char *const names[] = { "bolt", "dubbo" };

	for (;;) {
		struct iovec iov;
		struct xm_iview v;
		struct xm_frame f;
		struct xm_route_info ri;
		uint8_t out[1024];

		xm_iview_flat(&v, &iov, c->buf, c->len);
		for (int i = 0; !c->codec && i < 2; i++) {
			const struct xm_codec *k = xm_codec_builtin(names[i]);
			if (k->ops->match(k, &v) > 0)
				c->codec = k;
		}
		if (!c->codec)
			return 0;
		memset(&f, 0, sizeof(f));
		ssize_t fl = c->codec->ops->split(c->codec, &v, 1u << 20, &f);
		if (fl < 0)
			return -1;
		if (fl == 0)
			return 0;
		if (f.kind == XM_FRAME_REQUEST) {
			ri.used = ri.nmetas = 0;
			c->codec->ops->route_info(c->codec, &v, &f, &ri);
			__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
			const char *die = s->die_method ? s->die_method : "die";
			if (ri.method_len == strlen(die) && memcmp(ri.method, die, ri.method_len) == 0)
				return -1;
			size_t n = t__answer(s, c, &f, &ri, out);
			if (n > 0 && write(fd, out, n) != (ssize_t)n)
				return -1;
		}
		memmove(c->buf, c->buf + fl, c->len - (size_t)fl);
		c->len -= (size_t)fl;
	}
}

static void *t__srv_main(void *arg)
{
	struct t_rpc_srv *s = arg;
	struct pollfd fds[T__MAXC];
	static __thread struct t__srv_conn conns[T__MAXC];
	int n = 1;

	fds[0].fd = s->lfd;
	fds[0].events = POLLIN;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		/* Stalled: only accept, so clients' bytes pile up in the kernel and upstream of it. */
		int stalled = __atomic_load_n(&s->stall, __ATOMIC_ACQUIRE);
		if (poll(fds, stalled ? 1 : (nfds_t)n, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < T__MAXC) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0) {
				__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
				fds[n].fd = fd;
				fds[n].events = POLLIN;
				fds[n].revents = 0; /* not polled yet this round */
				conns[n].codec = NULL;
				conns[n].len = 0;
				n++;
			}
		}
		for (int i = 1; i < n && !stalled; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct t__srv_conn *c = &conns[i];
			ssize_t r = read(fds[i].fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r > 0)
				c->len += (size_t)r;
			if (r <= 0 || t__serve(s, fds[i].fd, c) < 0) {
				close(fds[i].fd);
				fds[i] = fds[n - 1];
				conns[i].codec = conns[n - 1].codec;
				conns[i].len = conns[n - 1].len;
				memcpy(conns[i].buf, conns[n - 1].buf, conns[i].len);
				n--, i--;
			}
		}
	}
	for (int i = 1; i < n; i++)
		close(fds[i].fd);
	return NULL;
}

void t_rpc_srv_start_dying(struct t_rpc_srv *s, char tag, const char *die_method)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->die_method = die_method;
	s->tag = tag;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(s->lfd, 128);
	getsockname(s->lfd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, t__srv_main, s);
}

void t_rpc_srv_start(struct t_rpc_srv *s, char tag)
{
	t_rpc_srv_start_dying(s, tag, NULL);
}

void t_rpc_srv_stop(struct t_rpc_srv *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->th, NULL);
	close(s->lfd);
}
