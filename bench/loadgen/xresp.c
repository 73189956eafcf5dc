/* xresp: a single-threaded epoll responder for the xmesh bench: answers every fixed-size
 * request with a fixed-size response, or (--bulk) sinks or sources a byte stream. Prints
 * {"port":N} once listening. Exits on SIGTERM/SIGINT or after --max-seconds. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "common.h"

#define XR_MAX_EVENTS 256
#define XR_RBUF (256 * 1024)
#define XR_IOV 64

enum xr_mode { XR_RR = 0, XR_SINK, XR_SOURCE };

struct xr_conn {
	int fd;
	size_t in_off;      /* bytes of the current request received so far */
	uint64_t owed;      /* responses not yet fully written */
	size_t out_off;     /* bytes of the first owed response already written */
	uint64_t sent;      /* source mode: bytes written so far */
	/* id-echo mode (RPC frames through a multiplexing proxy): each response carries the
	 * id bytes of its request, so the proxy can match it; responses queue in obuf. */
	uint8_t id[8];
	uint8_t *obuf;
	size_t olen, ocap, ooff;
};

static struct {
	struct sockaddr_in addr;
	size_t req_size, resp_size;
	enum xr_mode mode;
	uint64_t bulk_bytes; /* source: bytes per connection, then close; 0 = until the peer leaves */
	int cpu, backlog;
	double max_seconds;
	size_t id_off, id_len; /* id_len > 0: copy request bytes [id_off, +id_len) into each response */
} cfg = {.req_size = 128, .resp_size = 128, .cpu = -1, .backlog = 4096, .max_seconds = 600};

static volatile sig_atomic_t stop_flag;
static uint8_t rbuf[XR_RBUF];
static uint8_t *resp, *bulk;
static int epfd, lfd;
static uint64_t n_conns, n_requests;

static void on_signal(int sig) { stop_flag = 1; }

static void usage(void)
{
	fprintf(stderr, "usage: xresp [--listen 127.0.0.1:0] [--req-size N] [--resp-size N]\n"
			"             [--bulk sink|source] [--bulk-bytes N] [--cpu C] [--max-seconds S]\n"
			"             [--reply-file F] [--echo-id OFFSET:LEN]   (reply with F, copying each request's id)\n");
	exit(2);
}

static void conn_close(struct xr_conn *c)
{
	close(c->fd);
	free(c->obuf);
	free(c);
}

/* id-echo mode: write the queued responses; -1 if the connection was closed. */
static int conn_flush_obuf(struct xr_conn *c)
{
	while (c->ooff < c->olen) {
		ssize_t w = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			conn_close(c);
			return -1;
		}
		c->ooff += (size_t)w;
	}
	c->olen = c->ooff = 0;
	return 0;
}

/* id-echo mode: consume r request bytes, queueing one response per complete request. */
static int conn_echo_id(struct xr_conn *c, const uint8_t *p, size_t r)
{
	while (r > 0) {
		size_t take = cfg.req_size - (size_t)c->in_off;
		if (take > r)
			take = r;
		for (size_t k = 0; k < take; k++) {
			size_t at = (size_t)c->in_off + k;
			if (at >= cfg.id_off && at < cfg.id_off + cfg.id_len)
				c->id[at - cfg.id_off] = p[k];
		}
		c->in_off += take;
		p += take;
		r -= take;
		if (c->in_off < cfg.req_size)
			break;
		c->in_off = 0;
		n_requests++;
		if (c->olen + cfg.resp_size > c->ocap) {
			size_t ncap = c->ocap ? c->ocap * 2 : 64 * cfg.resp_size;
			uint8_t *nb = realloc(c->obuf, ncap);
			if (!nb)
				return -1;
			c->obuf = nb;
			c->ocap = ncap;
		}
		memcpy(c->obuf + c->olen, resp, cfg.resp_size);
		memcpy(c->obuf + c->olen + cfg.id_off, c->id, cfg.id_len);
		c->olen += cfg.resp_size;
	}
	return 0;
}

/* Write what is owed; returns -1 if the connection was closed. */
static int conn_flush(struct xr_conn *c)
{
	struct iovec iov[XR_IOV];
	while (c->owed) {
		int n = 0;
		iov[0].iov_base = resp + c->out_off;
		iov[0].iov_len = cfg.resp_size - c->out_off;
		for (n = 1; n < XR_IOV && (uint64_t)n < c->owed; n++) {
			iov[n].iov_base = resp;
			iov[n].iov_len = cfg.resp_size;
		}
		ssize_t w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			conn_close(c);
			return -1;
		}
		uint64_t pos = c->out_off + (uint64_t)w;
		c->owed -= pos / cfg.resp_size;
		c->out_off = pos % cfg.resp_size;
		if ((size_t)w < iov[0].iov_len + (size_t)(n - 1) * cfg.resp_size)
			return 0;
	}
	return 0;
}

static int conn_source(struct xr_conn *c)
{
	while (!cfg.bulk_bytes || c->sent < cfg.bulk_bytes) {
		size_t len = XR_RBUF;
		if (cfg.bulk_bytes && cfg.bulk_bytes - c->sent < len)
			len = (size_t)(cfg.bulk_bytes - c->sent);
		ssize_t w = write(c->fd, bulk, len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			conn_close(c);
			return -1;
		}
		c->sent += (uint64_t)w;
	}
	shutdown(c->fd, SHUT_WR);
	return 0;
}

static void conn_event(struct xr_conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t r = read(c->fd, rbuf, sizeof(rbuf));
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c);
				return;
			}
			if (r < 0)
				break;
			if (cfg.mode == XR_RR && cfg.id_len) {
				if (conn_echo_id(c, rbuf, (size_t)r) < 0) {
					conn_close(c);
					return;
				}
			} else if (cfg.mode == XR_RR) {
				uint64_t pos = c->in_off + (uint64_t)r;
				uint64_t k = pos / cfg.req_size;
				c->owed += k;
				n_requests += k;
				c->in_off = pos % cfg.req_size;
			}
			if ((size_t)r < sizeof(rbuf))
				break;
		}
		if (cfg.mode == XR_RR && (cfg.id_len ? conn_flush_obuf(c) : conn_flush(c)) < 0)
			return;
	}
	if (ev & EPOLLOUT) {
		if (cfg.mode == XR_RR)
			cfg.id_len ? conn_flush_obuf(c) : conn_flush(c);
		else if (cfg.mode == XR_SOURCE)
			conn_source(c);
	}
}

static void do_accept(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				perror("accept4");
			return;
		}
		struct xr_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		xb_nodelay(fd);
		n_conns++;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			conn_close(c);
			continue;
		}
		if (cfg.mode == XR_SOURCE)
			conn_source(c);
	}
}

int main(int argc, char **argv)
{
	const char *listen_s = "127.0.0.1:0", *bulk_s = NULL, *reply_file = NULL, *echo_id = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define XR_ARG(name) (!strcmp(a, name) && (v || (usage(), 0)) && ++i)
		if (XR_ARG("--listen"))
			listen_s = v;
		else if (XR_ARG("--req-size"))
			cfg.req_size = (size_t)xb_parse_ll(a, v);
		else if (XR_ARG("--resp-size"))
			cfg.resp_size = (size_t)xb_parse_ll(a, v);
		else if (XR_ARG("--bulk"))
			bulk_s = v;
		else if (XR_ARG("--bulk-bytes"))
			cfg.bulk_bytes = (uint64_t)xb_parse_ll(a, v);
		else if (XR_ARG("--cpu"))
			cfg.cpu = (int)xb_parse_ll(a, v);
		else if (XR_ARG("--max-seconds"))
			cfg.max_seconds = xb_parse_d(a, v);
		else if (XR_ARG("--reply-file"))
			reply_file = v;
		else if (XR_ARG("--echo-id"))
			echo_id = v;
		else
			usage();
#undef XR_ARG
	}
	xb_parse_addr("--listen", listen_s, &cfg.addr);
	if (bulk_s && !strcmp(bulk_s, "sink"))
		cfg.mode = XR_SINK;
	else if (bulk_s && !strcmp(bulk_s, "source"))
		cfg.mode = XR_SOURCE;
	else if (bulk_s)
		xb_die("--bulk: sink or source");
	if (cfg.req_size < 1 || cfg.resp_size < 1 || cfg.req_size > (1u << 24) || cfg.resp_size > (1u << 24))
		xb_die("--req-size/--resp-size must be 1..16777216");
	if (!(cfg.max_seconds > 0 && cfg.max_seconds <= 86400))
		xb_die("--max-seconds must be in (0, 86400]");
	if (reply_file) {
		FILE *f = fopen(reply_file, "rb");
		if (!f || fseek(f, 0, SEEK_END) != 0)
			xb_die("--reply-file: cannot read");
		long sz = ftell(f);
		rewind(f);
		if (sz < 1 || sz > (1 << 24))
			xb_die("--reply-file: bad size");
		cfg.resp_size = (size_t)sz;
		resp = malloc(cfg.resp_size);
		if (!resp || fread(resp, 1, cfg.resp_size, f) != cfg.resp_size)
			xb_die("--reply-file: short read");
		fclose(f);
	} else {
		resp = malloc(cfg.resp_size);
		if (resp)
			memset(resp, 'r', cfg.resp_size);
	}
	if (echo_id) {
		unsigned long off, len;
		if (sscanf(echo_id, "%lu:%lu", &off, &len) != 2 || len < 1 || len > 8 || off + len > cfg.resp_size ||
		    off + len > cfg.req_size)
			xb_die("--echo-id OFFSET:LEN with LEN 1..8 inside both the request and the reply");
		cfg.id_off = off;
		cfg.id_len = len;
	}
	bulk = calloc(1, XR_RBUF);
	if (!resp || !bulk)
		xb_die("out of memory");

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	xb_pin_cpu(cfg.cpu);
	xb_raise_nofile(1 << 20);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&cfg.addr, sizeof(cfg.addr)) != 0 || listen(lfd, cfg.backlog) != 0) {
		perror("bind/listen");
		return 1;
	}
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	getsockname(lfd, (struct sockaddr *)&bound, &blen);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	printf("{\"port\":%u,\"pid\":%d}\n", ntohs(bound.sin_port), (int)getpid());
	fflush(stdout);

	uint64_t deadline = xb_now_ns() + (uint64_t)(cfg.max_seconds * 1e9);
	struct epoll_event evs[XR_MAX_EVENTS];
	while (!stop_flag) {
		uint64_t now = xb_now_ns();
		if (now >= deadline)
			break;
		uint64_t left_ms = (deadline - now) / 1000000 + 1;
		int n = epoll_wait(epfd, evs, XR_MAX_EVENTS, left_ms > 1000 ? 1000 : (int)left_ms);
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				do_accept();
			else
				conn_event(evs[i].data.ptr, evs[i].events);
		}
	}
	fprintf(stderr, "xresp: exiting after %llu connections, %llu requests%s\n",
		(unsigned long long)n_conns, (unsigned long long)n_requests, stop_flag ? "" : " (max-seconds)");
	return 0;
}
