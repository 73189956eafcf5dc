/* Bolt v1 helpers for native x_proxy tests (see t_bolt.h). */
#include "t_bolt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec.h"

static size_t t_bolt__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
	return 4;
}

static const char t_bolt__class[] = "com.alipay.sofa.rpc.core.request.SofaRequest";

/* A v1 request (cmdcode 1) or heartbeat (cmdcode 0) with header map {service, sofa_head_method_name}. */
size_t t_bolt_req(uint8_t *out, uint32_t id, int heartbeat, const char *service, const char *method,
			  const char *content)
{
	uint8_t hdr[512];
	size_t hl = 0, cl = heartbeat ? 0 : strlen(content), kl = heartbeat ? 0 : strlen(t_bolt__class);
	if (!heartbeat) {
		const char *kv[4] = { "service", service, "sofa_head_method_name", method };
		for (int i = 0; i < 4; i++) {
			hl += t_bolt__put32(hdr + hl, (uint32_t)strlen(kv[i]));
			memcpy(hdr + hl, kv[i], strlen(kv[i]));
			hl += strlen(kv[i]);
		}
	}
	uint8_t *p = out;
	*p++ = 1;                        /* proto v1 */
	*p++ = 1;                        /* type request */
	*p++ = 0, *p++ = heartbeat ? 0 : 1; /* cmdcode */
	*p++ = 1;                        /* ver2 */
	p += t_bolt__put32(p, id);
	*p++ = 1;                        /* codec hessian2 */
	p += t_bolt__put32(p, 3000);          /* timeout */
	*p++ = (uint8_t)(kl >> 8), *p++ = (uint8_t)kl;
	*p++ = (uint8_t)(hl >> 8), *p++ = (uint8_t)hl;
	p += t_bolt__put32(p, (uint32_t)cl);
	memcpy(p, t_bolt__class, kl), p += kl;
	memcpy(p, hdr, hl), p += hl;
	if (cl)
		memcpy(p, content, cl), p += cl;
	return (size_t)(p - out);
}


/* Read exactly one Bolt v1 response from fd (blocking, bounded). 0 or -1. */
int t_bolt_read_resp(int fd, struct t_bolt_resp *r, int timeout_ms)
{
	uint8_t h[20], body[4096];
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got < 20) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, h + got, 20 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	/* v1 response: proto type cmdcode(2) ver2 id(4) codec status(2) classLen(2) headerLen(2) contentLen(4) */
	r->cmd = (uint16_t)(h[2] << 8 | h[3]);
	r->id = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
	r->status = (uint16_t)(h[10] << 8 | h[11]);
	uint32_t kl = (uint32_t)(h[12] << 8 | h[13]);
	uint32_t hl = (uint32_t)(h[14] << 8 | h[15]);
	uint32_t clen = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
	size_t rest = kl + hl + clen;
	if (rest > sizeof(body))
		return -1;
	got = 0;
	while (got < rest) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = read(fd, body + got, rest - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	size_t cn = clen < sizeof(r->content) - 1 ? clen : sizeof(r->content) - 1;
	memcpy(r->content, body + kl + hl, cn);
	r->content[cn] = 0;
	return 0;
}

/* ------------------------------------------------------------ a Bolt server */


/* One thread serves every connection with poll(): requests are answered with a response
 * whose content is "<tag>:<request content>", except method "hang" (never answered). */
static void *t_bolt__srv_main(void *arg)
{
	struct t_bolt_srv *s = arg;
	struct pollfd fds[64];
	uint8_t (*bufs)[65536] = malloc(64 * sizeof(*bufs)); /* not TLS: static TLS lives on thread stacks */
	size_t lens[64];
	int n = 1;
	const struct xm_codec *bolt = xm_codec_builtin("bolt");

	fds[0].fd = s->lfd;
	fds[0].events = POLLIN;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (poll(fds, (nfds_t)n, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 64) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0) {
				__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
				fds[n].fd = fd;
				fds[n].events = POLLIN;
				lens[n] = 0;
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
			for (;;) {
				struct iovec iov;
				struct xm_iview v;
				struct xm_frame f;
				struct xm_route_info ri;
				xm_iview_flat(&v, &iov, bufs[i], lens[i]);
				memset(&f, 0, sizeof(f));
				ssize_t fl = bolt->ops->split(bolt, &v, 1u << 20, &f);
				if (fl <= 0)
					break;
				if (f.kind == XM_FRAME_REQUEST) {
					ri.used = ri.nmetas = 0;
					bolt->ops->route_info(bolt, &v, &f, &ri);
					__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
					const char *die = s->die_method ? s->die_method : "die";
					if (ri.method_len == strlen(die) && memcmp(ri.method, die, ri.method_len) == 0) {
						/* Drop the connection with everything in flight on it. */
						close(fds[i].fd);
						fds[i] = fds[n - 1];
						lens[i] = lens[n - 1];
						memcpy(bufs[i], bufs[n - 1], lens[i]);
						n--, i--;
						break;
					}
					if (!(ri.method_len == 4 && memcmp(ri.method, "hang", 4) == 0)) {
						uint8_t out[1024], *p = out;
						size_t cl = f.len - f.body_off;
						*p++ = 1, *p++ = 0, *p++ = 0, *p++ = 2, *p++ = 1;
						p += t_bolt__put32(p, (uint32_t)f.id);
						*p++ = 1, *p++ = 0, *p++ = 0; /* codec, status 0 */
						*p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;
						p += t_bolt__put32(p, (uint32_t)(cl + 2));
						*p++ = (uint8_t)s->tag, *p++ = ':';
						memcpy(p, bufs[i] + f.body_off, cl), p += cl;
						ssize_t w = write(fds[i].fd, out, (size_t)(p - out));
						(void)w;
					}
				}
				memmove(bufs[i], bufs[i] + fl, lens[i] - (size_t)fl);
				lens[i] -= (size_t)fl;
			}
		}
	}
	for (int i = 1; i < n; i++)
		close(fds[i].fd);
	free(bufs);
	return NULL;
}

void t_bolt_srv_start(struct t_bolt_srv *s, char tag)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	const char *die = s->die_method;
	memset(s, 0, sizeof(*s));
	s->die_method = die;
	s->tag = tag;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	listen(s->lfd, 128);
	getsockname(s->lfd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, t_bolt__srv_main, s);
}

void t_bolt_srv_stop(struct t_bolt_srv *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->th, NULL);
	close(s->lfd);
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

int t_bolt_call(int fd, uint32_t id, const char *svc, const char *method, const char *content, struct t_bolt_resp *r)
{
	uint8_t req[2048];
	size_t n = t_bolt_req(req, id, 0, svc, method, content);
	if (write(fd, req, n) != (ssize_t)n)
		return -1;
	return t_bolt_read_resp(fd, r, 3000);
}

