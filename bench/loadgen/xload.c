/* xload: a single-threaded epoll load generator for the xmesh bench (closed loop, pipelined,
 * or open loop at a fixed rate without coordinated omission; bulk, idle and churn modes).
 * Prints one JSON line of results. Loopback only; every run is bounded by --duration. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "common.h"
#include "framing.h"
#include "hist.h"

#define XL_MAX_EVENTS 256
#define XL_RBUF (256 * 1024)
#define XL_IOV 64
#define XL_HDR_MAX 64
#define XL_CONNECT_TIMEOUT_NS (10ull * 1000000000ull)

enum xl_mode { XL_RR = 0, XL_IDLE, XL_BULK_RECV, XL_BULK_SEND, XL_CHURN };
enum xl_state { XL_CONNECTING = 0, XL_UP, XL_DEAD };

struct xl_conn {
	int fd;
	enum xl_state state;
	uint64_t *ring;        /* scheduled (open loop) or send (closed loop) time of each in-flight request */
	unsigned ring_mask, ring_head, inflight;
	uint32_t queued;       /* requests accepted into the ring but not yet fully written */
	size_t out_off;        /* bytes of the first queued request already written */
	uint8_t hdr[XL_HDR_MAX];
	size_t hlen;           /* header bytes gathered for the next frame */
	uint64_t remain;       /* bytes still to consume of the current frame */
	int in_frame;
	uint64_t next_due;     /* open loop: scheduled time of the next request to send */
	int answered;          /* idle mode: the one warm-up exchange finished */
};

static struct {
	struct sockaddr_in addr;
	int conns, depth, cpu;
	double duration, warmup, rate;
	enum xl_mode mode;
	uint8_t *req;
	size_t req_len;
	struct xb_framing framing;
	uint64_t bulk_chunk;
	uint64_t churn;        /* churn mode: connections to open in all (each: one request, then close) */
} cfg = {.conns = 1, .depth = 1, .cpu = -1, .duration = 5, .mode = XL_RR, .bulk_chunk = 65536};

static struct {
	uint64_t requests, errors, bytes_in, bytes_out, reconnects, sent;
	uint64_t opened, connect_errors; /* churn mode: connections opened so far, connect() refusals */
	struct xb_hist hist;
} st;

static int epfd;
static int want_hist; /* --hist: append the non-empty histogram buckets to the result line */
static int measuring;
static int started; /* traffic phase began: a reconnected conn re-primes its pipeline */
static volatile sig_atomic_t stop_flag;
static uint8_t rbuf[XL_RBUF];
static uint8_t *bulk_buf;
static struct xl_conn *conns;
static long max_reconnects;

static void on_signal(int sig) { stop_flag = 1; }

static void usage(void)
{
	fprintf(stderr,
		"usage: xload --connect 127.0.0.1:PORT [--conns N] [--depth D] [--duration S]\n"
		"             [--warmup S] [--rate R] [--req-size N | --req-file F] [--resp-size N]\n"
		"             [--framing fixed|len:OFF:SIZE:be|le:HDRLEN] [--cpu C]\n"
		"             [--idle] [--bulk recv|send] [--churn N] [--hist]\n"
		"  --churn N  open N connections in all, --conns at a time: each sends one request,\n"
		"          reads its response and closes (FIN); a closed one is replaced until N were\n"
		"          opened. requests = exchanges completed, rps = connections per second\n"
		"  --hist  add \"hist\":[[bucket,count],...] (non-empty buckets of hist.h, ns) and\n"
		"          \"hist_max_ns\" to the result, so runs can be pooled exactly\n");
	exit(2);
}

static void conn_open(struct xl_conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("socket");
		c->state = XL_DEAD;
		return;
	}
	xb_nodelay(c->fd);
	c->state = XL_CONNECTING;
	c->ring_head = c->inflight = c->queued = 0;
	c->out_off = c->hlen = c->remain = 0;
	c->in_frame = c->answered = 0;
	if (cfg.mode == XL_CHURN) {
		st.opened++;
		c->next_due = xb_now_ns();
	}
	if (connect(c->fd, (struct sockaddr *)&cfg.addr, sizeof(cfg.addr)) != 0 && errno != EINPROGRESS) {
		if (cfg.mode == XL_CHURN)
			st.connect_errors++; /* e.g. EADDRNOTAVAIL: no local port free (TIME_WAIT) */
		close(c->fd);
		c->fd = -1;
		c->state = XL_DEAD;
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		xb_die("epoll_ctl failed");
}

/* Churn mode: this connection is done (answered or failed); close it and open the next
 * one while the budget lasts. A connect() that fails at once takes the next one's turn, so
 * the loop ends even when no local port is free. */
static void conn_churn_next(struct xl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = XL_DEAD;
	while (!stop_flag && st.opened < cfg.churn) {
		conn_open(c);
		if (c->state != XL_DEAD)
			break;
		st.errors++;
	}
}

/* A broken connection loses its in-flight requests (counted as errors) and is reopened,
 * up to a global reconnect budget. */
static void conn_fail(struct xl_conn *c)
{
	if (cfg.mode == XL_CHURN) {
		st.errors += 1;
		conn_churn_next(c);
		return;
	}
	if (measuring)
		st.errors += 1 + c->inflight;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = XL_DEAD;
	if (!stop_flag && (long)st.reconnects < max_reconnects) {
		st.reconnects++;
		uint64_t due = c->next_due;
		conn_open(c);
		c->next_due = due;
	}
}

static void conn_push(struct xl_conn *c, uint64_t t)
{
	c->ring[(c->ring_head + c->inflight) & c->ring_mask] = t;
	c->inflight++;
	c->queued++;
}

static void conn_flush(struct xl_conn *c)
{
	struct iovec iov[XL_IOV];
	while (c->queued && c->state == XL_UP) {
		int n = 0;
		iov[n].iov_base = cfg.req + c->out_off;
		iov[n].iov_len = cfg.req_len - c->out_off;
		for (n = 1; n < XL_IOV && (uint32_t)n < c->queued; n++) {
			iov[n].iov_base = cfg.req;
			iov[n].iov_len = cfg.req_len;
		}
		ssize_t w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_fail(c);
			return;
		}
		if (measuring)
			st.bytes_out += (uint64_t)w;
		uint64_t pos = c->out_off + (uint64_t)w;
		c->queued -= (uint32_t)(pos / cfg.req_len);
		c->out_off = pos % cfg.req_len;
		if ((size_t)w < iov[0].iov_len + (size_t)(n - 1) * cfg.req_len)
			return; /* socket buffer full: EPOLLOUT (edge) resumes */
	}
}

static void frame_done(struct xl_conn *c, uint64_t now)
{
	if (!c->inflight) {
		/* a response nobody asked for: the peer is broken */
		conn_fail(c);
		return;
	}
	uint64_t t = c->ring[c->ring_head];
	c->ring_head = (c->ring_head + 1) & c->ring_mask;
	c->inflight--;
	if (cfg.mode == XL_IDLE) {
		c->answered = 1;
		return;
	}
	if (measuring) {
		st.requests++;
		xb_hist_record(&st.hist, now > t ? now - t : 0);
	}
	if (cfg.mode == XL_CHURN) {
		conn_churn_next(c); /* latency above: from the connect() to the whole response */
		return;
	}
	if (cfg.rate == 0 && !stop_flag)
		conn_push(c, now); /* closed loop: replace the finished request */
}

/* Consume n response bytes; returns -1 if the connection failed. */
static int conn_consume(struct xl_conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	size_t need = xb_framing_min(&cfg.framing);
	while (n > 0) {
		if (!c->in_frame) {
			long long total;
			if (c->hlen == 0 && n >= need) {
				total = xb_framing_split(&cfg.framing, p, n);
			} else {
				size_t k = need - c->hlen < n ? need - c->hlen : n;
				memcpy(c->hdr + c->hlen, p, k);
				c->hlen += k;
				p += k;
				n -= k;
				if (c->hlen < need)
					return 0;
				total = xb_framing_split(&cfg.framing, c->hdr, c->hlen);
				if (total > 0)
					total -= (long long)c->hlen; /* those bytes are already consumed */
				c->hlen = 0;
			}
			if (total < 0) {
				conn_fail(c);
				return -1;
			}
			c->remain = (uint64_t)total;
			c->in_frame = 1;
		}
		size_t k = c->remain < n ? (size_t)c->remain : n;
		c->remain -= k;
		p += k;
		n -= k;
		if (c->remain == 0) {
			c->in_frame = 0;
			frame_done(c, now);
			if (c->state != XL_UP)
				return -1;
		}
	}
	return 0;
}

static void conn_readable(struct xl_conn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, rbuf, sizeof(rbuf));
		if (r == 0) {
			conn_fail(c);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_fail(c);
			return;
		}
		if (measuring)
			st.bytes_in += (uint64_t)r;
		if (cfg.mode == XL_BULK_RECV) {
			if ((size_t)r < sizeof(rbuf))
				break;
			continue;
		}
		if (conn_consume(c, rbuf, (size_t)r, xb_now_ns()) < 0)
			return;
		if ((size_t)r < sizeof(rbuf))
			break; /* drained: the next arrival raises a new edge */
	}
	if (cfg.rate == 0)
		conn_flush(c);
}

static void conn_bulk_send(struct xl_conn *c)
{
	while (c->state == XL_UP && !stop_flag) {
		ssize_t w = write(c->fd, bulk_buf, cfg.bulk_chunk);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_fail(c);
			return;
		}
		if (measuring)
			st.bytes_out += (uint64_t)w;
	}
}

static void conn_event(struct xl_conn *c, uint32_t ev)
{
	if (c->state == XL_CONNECTING) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			conn_fail(c);
			return;
		}
		c->state = XL_UP;
		if (cfg.mode == XL_CHURN) {
			conn_push(c, c->next_due); /* next_due: when connect() was called */
		} else if (started && cfg.mode == XL_RR && cfg.rate == 0) {
			for (int d = 0; d < cfg.depth; d++)
				conn_push(c, xb_now_ns());
		}
	}
	if (c->state != XL_UP)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		conn_readable(c);
	if (c->state == XL_UP && (ev & EPOLLOUT)) {
		if (cfg.mode == XL_BULK_SEND)
			conn_bulk_send(c);
		else
			conn_flush(c);
	}
}

static void poll_once(uint64_t timeout_ns)
{
	struct epoll_event evs[XL_MAX_EVENTS];
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
			      .tv_nsec = (long)(timeout_ns % 1000000000ull)};
	int n = epoll_pwait2(epfd, evs, XL_MAX_EVENTS, &ts, NULL);
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(epfd, evs, XL_MAX_EVENTS, (int)((timeout_ns + 999999) / 1000000));
	for (int i = 0; i < n; i++)
		conn_event(evs[i].data.ptr, evs[i].events);
}

static int count_state(enum xl_state s)
{
	int n = 0;
	for (int i = 0; i < cfg.conns; i++)
		n += conns[i].state == s;
	return n;
}

static void load_req_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		xb_die("--req-file: cannot open");
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (sz <= 0 || sz > (1 << 24))
		xb_die("--req-file: empty or larger than 16 MiB");
	cfg.req = malloc((size_t)sz);
	if (!cfg.req || fread(cfg.req, 1, (size_t)sz, f) != (size_t)sz)
		xb_die("--req-file: read failed");
	cfg.req_len = (size_t)sz;
	fclose(f);
}

static void reset_stats(void)
{
	memset(&st.hist, 0, sizeof(st.hist));
	st.requests = st.errors = st.bytes_in = st.bytes_out = 0;
}

int main(int argc, char **argv)
{
	const char *connect_s = NULL, *req_file = NULL, *framing_s = "fixed", *bulk_s = NULL;
	long long req_size = 128, resp_size = 128;
	int idle = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define XL_ARG(name) (!strcmp(a, name) && (v || (usage(), 0)) && ++i)
		if (XL_ARG("--connect"))
			connect_s = v;
		else if (XL_ARG("--conns"))
			cfg.conns = (int)xb_parse_ll(a, v);
		else if (XL_ARG("--depth"))
			cfg.depth = (int)xb_parse_ll(a, v);
		else if (XL_ARG("--duration"))
			cfg.duration = xb_parse_d(a, v);
		else if (XL_ARG("--warmup"))
			cfg.warmup = xb_parse_d(a, v);
		else if (XL_ARG("--rate"))
			cfg.rate = xb_parse_d(a, v);
		else if (XL_ARG("--req-size"))
			req_size = xb_parse_ll(a, v);
		else if (XL_ARG("--req-file"))
			req_file = v;
		else if (XL_ARG("--resp-size"))
			resp_size = xb_parse_ll(a, v);
		else if (XL_ARG("--framing"))
			framing_s = v;
		else if (XL_ARG("--cpu"))
			cfg.cpu = (int)xb_parse_ll(a, v);
		else if (XL_ARG("--bulk"))
			bulk_s = v;
		else if (XL_ARG("--churn"))
			cfg.churn = (uint64_t)xb_parse_ll(a, v);
		else if (!strcmp(a, "--idle"))
			idle = 1;
		else if (!strcmp(a, "--hist"))
			want_hist = 1;
		else
			usage();
#undef XL_ARG
	}
	if (!connect_s)
		usage();
	xb_parse_addr("--connect", connect_s, &cfg.addr);
	if (cfg.conns < 1 || cfg.conns > 200000 || cfg.depth < 1 || cfg.depth > 65536)
		xb_die("--conns must be 1..200000 and --depth 1..65536");
	if (!(cfg.duration > 0 && cfg.duration <= 3600) || cfg.warmup < 0 || cfg.warmup > 600 || cfg.rate < 0)
		xb_die("--duration must be in (0, 3600], --warmup in [0, 600], --rate >= 0");
	if (bulk_s) {
		if (!strcmp(bulk_s, "recv"))
			cfg.mode = XL_BULK_RECV;
		else if (!strcmp(bulk_s, "send"))
			cfg.mode = XL_BULK_SEND;
		else
			xb_die("--bulk: recv or send");
	} else if (idle) {
		cfg.mode = XL_IDLE;
	} else if (cfg.churn) {
		if (cfg.churn > 100000000ull || cfg.warmup > 0 || cfg.rate > 0 || cfg.depth != 1)
			xb_die("--churn: at most 100000000 connections, without --warmup, --rate or --depth");
		cfg.mode = XL_CHURN;
		measuring = 1; /* connections churn from the first connect: count them all */
	}
	if (req_file) {
		load_req_file(req_file);
	} else {
		if (req_size < 1 || req_size > (1 << 24))
			xb_die("--req-size must be 1..16777216");
		cfg.req_len = (size_t)req_size;
		cfg.req = malloc(cfg.req_len);
		if (!cfg.req)
			xb_die("out of memory");
		memset(cfg.req, 'q', cfg.req_len);
	}
	if (xb_framing_parse(&cfg.framing, framing_s, resp_size > 0 ? (size_t)resp_size : 0) != 0 ||
	    xb_framing_min(&cfg.framing) > XL_HDR_MAX)
		xb_die("--framing: fixed (with --resp-size > 0) or len:OFF:SIZE:be|le:HDRLEN");
	bulk_buf = calloc(1, cfg.bulk_chunk);

	/* hard bound even if the loop misbehaves: SIGALRM's default action ends the process */
	alarm((unsigned)(cfg.warmup + cfg.duration) + 30u);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	xb_pin_cpu(cfg.cpu);
	xb_tight_timers();
	xb_raise_nofile((rlim_t)cfg.conns + 64);
	max_reconnects = 10L * cfg.conns;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc((size_t)cfg.conns, sizeof(*conns));
	unsigned ring = 1;
	while (ring < (unsigned)cfg.depth + 1)
		ring <<= 1;
	for (int i = 0; i < cfg.conns; i++) {
		conns[i].fd = -1;
		conns[i].ring = calloc(ring, sizeof(uint64_t));
		conns[i].ring_mask = ring - 1;
		if (!conns[i].ring)
			xb_die("out of memory");
		if (cfg.mode == XL_CHURN)
			conn_churn_next(&conns[i]); /* --conns may exceed --churn: the budget decides */
		else
			conn_open(&conns[i]);
	}
	uint64_t cpu0 = 0, tmeas = xb_now_ns();
	if (cfg.mode == XL_CHURN) {
		cpu0 = xb_cpu_us();
		printf("{\"event\":\"measure_start\"}\n");
		fflush(stdout);
	}

	/* connect everything before the clock starts */
	uint64_t t0 = xb_now_ns();
	while (cfg.mode != XL_CHURN && !stop_flag && count_state(XL_CONNECTING) && xb_now_ns() - t0 < XL_CONNECT_TIMEOUT_NS)
		poll_once(10000000);
	int up = count_state(XL_UP);
	if (cfg.mode != XL_CHURN && up < cfg.conns) {
		printf("{\"error\":\"connected %d of %d connections\"}\n", up, cfg.conns);
		return 1;
	}

	if (cfg.mode == XL_IDLE) {
		/* one exchange per connection proves the whole path (proxy + upstream) is set up */
		uint64_t now = xb_now_ns();
		for (int i = 0; i < cfg.conns; i++) {
			conn_push(&conns[i], now);
			conn_flush(&conns[i]);
		}
		int answered = 0;
		while (!stop_flag && xb_now_ns() - now < XL_CONNECT_TIMEOUT_NS * 3) {
			answered = 0;
			for (int i = 0; i < cfg.conns; i++)
				answered += conns[i].answered;
			if (answered == cfg.conns)
				break;
			poll_once(10000000);
		}
		printf("{\"event\":\"ready\",\"conns\":%d,\"answered\":%d}\n", cfg.conns, answered);
		fflush(stdout);
	}

	uint64_t start = xb_now_ns();
	uint64_t mstart = start + (uint64_t)(cfg.warmup * 1e9);
	uint64_t end = mstart + (uint64_t)(cfg.duration * 1e9);
	uint64_t interval = cfg.rate > 0 ? (uint64_t)(1e9 * cfg.conns / cfg.rate) : 0;
	if (cfg.mode != XL_CHURN)
		tmeas = mstart;

	started = 1;
	for (int i = 0; i < cfg.conns; i++) {
		struct xl_conn *c = &conns[i];
		if (cfg.mode == XL_RR && cfg.rate == 0) {
			for (int d = 0; d < cfg.depth; d++)
				conn_push(c, start);
			conn_flush(c);
		} else if (cfg.mode == XL_RR) {
			c->next_due = start + (uint64_t)((double)i * 1e9 / cfg.rate);
		} else if (cfg.mode == XL_BULK_SEND) {
			conn_bulk_send(c);
		}
	}
	if (cfg.warmup == 0 && cfg.mode != XL_CHURN) {
		measuring = 1;
		cpu0 = xb_cpu_us();
		tmeas = xb_now_ns();
		printf("{\"event\":\"measure_start\"}\n");
		fflush(stdout);
	}

	for (;;) {
		uint64_t now = xb_now_ns();
		if (!measuring && now >= mstart) {
			reset_stats();
			measuring = 1;
			cpu0 = xb_cpu_us();
			tmeas = now;
			printf("{\"event\":\"measure_start\"}\n");
			fflush(stdout);
		}
		if (now >= end || stop_flag)
			break;
		if (cfg.mode == XL_CHURN && st.opened >= cfg.churn && count_state(XL_DEAD) == cfg.conns)
			break; /* every connection of the budget opened and finished */
		uint64_t wake = end;
		if (interval) {
			for (int i = 0; i < cfg.conns; i++) {
				struct xl_conn *c = &conns[i];
				if (c->state != XL_UP)
					continue;
				int pushed = 0;
				while (c->inflight < (unsigned)cfg.depth && c->next_due <= now) {
					conn_push(c, c->next_due);
					c->next_due += interval;
					pushed = 1;
				}
				if (pushed)
					conn_flush(c);
				if (c->inflight < (unsigned)cfg.depth && c->next_due < wake)
					wake = c->next_due;
			}
		}
		if (!measuring && mstart < wake)
			wake = mstart;
		poll_once(wake > now ? wake - now : 0);
	}

	uint64_t tend = xb_now_ns();
	uint64_t cpu = measuring ? xb_cpu_us() - cpu0 : 0;
	double secs = (double)(tend - tmeas) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	int alive = count_state(XL_UP);
	const char *mode = cfg.mode == XL_RR ? "rr" : cfg.mode == XL_IDLE ? "idle" : cfg.mode == XL_BULK_RECV ? "bulk_recv" :
			   cfg.mode == XL_BULK_SEND ? "bulk_send" : "churn";
	printf("{\"event\":\"result\",\"mode\":\"%s\",\"conns\":%d,\"alive\":%d,\"depth\":%d,\"rate\":%.0f,"
	       "\"req_bytes\":%zu,\"requests\":%llu,\"errors\":%llu,\"reconnects\":%llu,\"duration_s\":%.6f,"
	       "\"rps\":%.1f,\"bytes_in\":%llu,\"bytes_out\":%llu,\"mib_s_in\":%.2f,\"mib_s_out\":%.2f,"
	       "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
	       "\"cpu_us\":%llu,\"cpu_pct\":%.1f,\"interrupted\":%s",
	       mode, cfg.conns, alive, cfg.depth, cfg.rate, cfg.req_len, (unsigned long long)st.requests,
	       (unsigned long long)st.errors, (unsigned long long)st.reconnects, secs, (double)st.requests / secs,
	       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
	       (double)st.bytes_in / secs / 1048576.0, (double)st.bytes_out / secs / 1048576.0,
	       xb_hist_quantile(&st.hist, 0.50) / 1e3, xb_hist_quantile(&st.hist, 0.90) / 1e3,
	       xb_hist_quantile(&st.hist, 0.99) / 1e3, xb_hist_quantile(&st.hist, 0.999) / 1e3,
	       (double)st.hist.max / 1e3, (unsigned long long)cpu, 100.0 * (double)cpu / 1e6 / secs,
	       stop_flag ? "true" : "false");
	if (cfg.mode == XL_CHURN)
		printf(",\"churn\":%llu,\"opened\":%llu,\"connect_errors\":%llu", (unsigned long long)cfg.churn,
		       (unsigned long long)st.opened, (unsigned long long)st.connect_errors);
	if (want_hist) {
		/* Bucket indexes, not values: a reader merges runs bucket by bucket and takes
		 * quantiles exactly as xb_hist_quantile does. */
		const char *sep = "";
		printf(",\"hist\":[");
		for (unsigned i = 0; i < XB_HIST_N; i++) {
			if (st.hist.b[i]) {
				printf("%s[%u,%llu]", sep, i, (unsigned long long)st.hist.b[i]);
				sep = ",";
			}
		}
		printf("],\"hist_max_ns\":%llu", (unsigned long long)st.hist.max);
	}
	printf("}\n");
	return 0;
}
