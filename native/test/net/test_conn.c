/* Connections (net/conn.c, net/conn_uring.c) on a real loop over loopback TCP, on the backend XMESH_IO_BACKEND names:
 * direct and queued writes, watermarks, half-close, read backpressure, close modes, connect, fd hand-over, splice. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/uring.h"
#include "net/conn.h"
#include "t.h"
#include "t_net.h"

/* ------------------------------------------------------------ the loop */

static int ring_wanted; /* XMESH_IO_BACKEND=io_uring: the loop runs a ring, as a worker would */
static struct xm_loop L;

static void loop_open(void)
{
	T_CHECK_EQ(xm_loop_init(&L, 0), 0);
	L.turn_end = xm_conn_flush_batched; /* what a worker does at a turn's end */
	if (ring_wanted)
		T_CHECK_EQ(xm_uring_new(&L.ur, &L.pool, NULL, 0), 0);
}

/* Chunks out of the pool other than the ring's receive buffers: what connections hold. */
static uint64_t held_chunks(void)
{
	return L.pool.allocated - (L.ur ? xm_uring_ring_chunks(L.ur) : 0);
}

/* Every connection is closed: nothing may still hold a chunk. */
static void loop_close(void)
{
	if (L.ur) {
		xm_uring_free(L.ur);
		L.ur = NULL;
	}
	T_CHECK_EQ(L.pool.allocated, 0);
	xm_loop_close(&L);
}

/* Turn the loop until cond holds, for at most ms; the value of cond. */
#define RUN_UNTIL(cond, ms)                                                      \
	({                                                                       \
		uint64_t d__ = xm_now_ms() + (ms);                               \
		int ok__;                                                        \
		while (!(ok__ = !!(cond)) && xm_now_ms() < d__)                  \
			xm_loop_run_once(&L, 5);                                 \
		ok__;                                                            \
	})

/* The bytes of every stream here: byte i of a stream is pat(i). */
static inline uint8_t pat(uint64_t i) { return (uint8_t)((i * 131u + (i >> 9)) & 0xff); }

static struct xm_chunk *chunk_pat(uint64_t off, uint32_t len)
{
	struct xm_chunk *ch = xm_chunk_get(&L.pool);
	for (uint32_t i = 0; i < len; i++)
		ch->data[i] = (char)pat(off + i);
	ch->len = len;
	return ch;
}

/* ------------------------------------------------------------ an owner */

struct side {
	struct xm_conn c;
	uint64_t rx;                 /* bytes delivered by on_read, checked against pat() */
	int intact;
	int reads, eofs, errors, err, connected, conn_err;
	int drained, drained_high;   /* on_drained calls; calls with ABOVE_HIGH still set */
	uint64_t drained_q[64];      /* xm_conn_queued at each on_drained */
	uint64_t stop_at, rx_at_stop;/* read_stop from inside on_read once rx reaches stop_at */
	int hold;                    /* keep a reference to every slice read (in held) */
	struct xm_iovq held;
	struct side *dst;            /* splice: where our bytes go */
	struct side *paused_src;     /* splice destination: the source it paused */
	uint64_t spliced;
	int splice_err;
};

static void on_read(struct xm_conn *c, struct xm_chunk *ch, uint32_t off, uint32_t len)
{
	struct side *s = xm_container_of(c, struct side, c);
	for (uint32_t i = 0; i < len; i++)
		if ((uint8_t)ch->data[off + i] != pat(s->rx + i))
			s->intact = 0;
	s->rx += len;
	s->reads++;
	if (s->hold)
		xm_iovq_push(&s->held, ch, off, len);
	if (s->stop_at && !s->rx_at_stop && s->rx >= s->stop_at) {
		xm_conn_read_stop(c);
		s->rx_at_stop = s->rx;
	}
}

static void on_eof(struct xm_conn *c)
{
	struct side *s = xm_container_of(c, struct side, c);
	s->eofs++;
	if (s->dst)
		xm_conn_shutdown_write(&s->dst->c); /* splice relay: pass the FIN on */
}

static void on_error(struct xm_conn *c, int err)
{
	struct side *s = xm_container_of(c, struct side, c);
	s->errors++;
	s->err = err;
}

static void on_drained(struct xm_conn *c)
{
	struct side *s = xm_container_of(c, struct side, c);
	if (s->drained < 64)
		s->drained_q[s->drained] = xm_conn_queued(c);
	s->drained++;
	s->drained_high += (c->flags & XM_CONN_F_ABOVE_HIGH) != 0;
	if (s->paused_src) {
		xm_conn_read_start(&s->paused_src->c);
		s->paused_src = NULL;
	}
}

static void on_connected(struct xm_conn *c, int err)
{
	struct side *s = xm_container_of(c, struct side, c);
	s->connected++;
	s->conn_err = err;
}

static void on_spliced(struct xm_conn *c, uint32_t n, int status)
{
	struct side *s = xm_container_of(c, struct side, c);
	s->spliced += n;
	if (status < 0)
		s->splice_err = status;
	else if (status == XM_WRITE_PAUSE) {
		xm_conn_read_stop(c);
		s->dst->paused_src = s;
	}
}

/* An owner that accepts the ring's terms: on the ring when the loop has one. */
static const struct xm_conn_ops ops_any = { on_read, on_spliced, on_eof, on_error, on_drained, on_connected, .uring = 1 };
/* An owner that needs epoll (hands its fd over, splices): stays on epoll on either backend. */
static const struct xm_conn_ops ops_epoll = { on_read, on_spliced, on_eof, on_error, on_drained, on_connected, .uring = 0 };

static void side_init(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->intact = 1;
	xm_iovq_init(&s->held);
}

static void side_close(struct side *s, enum xm_close_mode mode)
{
	xm_conn_close(&s->c, mode);
	xm_iovq_clear(&s->held);
}

/* ------------------------------------------------------------ the peer (a plain socket) */

struct peer {
	int fd;
	uint64_t got, tx;
	int intact, eof, err;
};

static void peer_init(struct peer *p, int fd)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->intact = 1;
}

/* Read what is there, at most max bytes (0 = all), checking pat(); bytes read. */
static uint64_t peer_pump(struct peer *p, uint64_t max)
{
	uint8_t buf[65536];
	uint64_t n0 = p->got;
	while (!p->eof && !p->err && (max == 0 || p->got - n0 < max)) {
		size_t want = sizeof(buf);
		if (max && max - (p->got - n0) < want)
			want = (size_t)(max - (p->got - n0));
		ssize_t r = recv(p->fd, buf, want, MSG_DONTWAIT);
		if (r == 0)
			p->eof = 1;
		if (r < 0 && errno != EAGAIN)
			p->err = errno;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(p->got + (uint64_t)i))
				p->intact = 0;
		p->got += (uint64_t)r;
	}
	return p->got - n0;
}

/* Send pattern bytes until the socket takes no more or max were sent; bytes sent. */
static uint64_t peer_send(struct peer *p, uint64_t max)
{
	uint8_t buf[65536];
	uint64_t n0 = p->tx;
	while (p->tx - n0 < max) {
		size_t n = max - (p->tx - n0) < sizeof(buf) ? (size_t)(max - (p->tx - n0)) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(p->tx + i);
		ssize_t w = send(p->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0)
			break;
		p->tx += (uint64_t)w;
	}
	return p->tx - n0;
}

/* How the peer's stream ended so far: 0 on FIN, -errno on an error such as a reset,
 * 1 while it has not ended (bytes or nothing yet). */
static int peer_end(int fd)
{
	char b[64];
	ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	return r == 0 ? 0 : r < 0 && errno != EAGAIN ? -errno : 1;
}

/* ------------------------------------------------------------ tests */

/* With nothing queued, epoll writes at once and keeps no reference; the ring copies a small
 * write (no reference either) and references a large one, sending both at the turn's end. */
static void test_write_direct(void)
{
	static const struct {
		const char *desc;
		uint32_t len;
	} cases[] = {
		{ "100 bytes (copied on the ring)", 100 },
		{ "the ring's copy limit", XM_CONN_URING_COPY_MAX },
		{ "8000 bytes (by reference on the ring)", 8000 },
	};
	struct side s;
	struct peer p;
	int a, b;

	loop_open();
	T_CHECK_EQ(t_tcp_pair(&a, &b, 0), 0);
	side_init(&s);
	peer_init(&p, b);
	T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_any, 1u << 20), 0);
	T_CHECK_EQ(xm_conn_on_ring(&s.c), ring_wanted);
	uint64_t off = 0;
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		uint32_t len = cases[i].len;
		t__case_failed = 0;
		struct xm_chunk *ch = chunk_pat(off, len);
		T_CHECK_EQ(xm_conn_write(&s.c, ch, 0, len), XM_WRITE_OK);
		off += len;
		if (!ring_wanted) {
			T_CHECK_EQ(xm_conn_queued(&s.c), 0);  /* written by the call itself */
			T_CHECK_EQ(s.c.tx_bytes, off);
			T_CHECK_EQ(ch->refcnt, 1);            /* nothing kept */
		} else {
			T_CHECK_EQ(xm_conn_queued(&s.c), len); /* goes out at the turn's end */
			T_CHECK_EQ(ch->refcnt, xm_conn_copies(&s.c, len) ? 1 : 2);
		}
		xm_chunk_unref(ch);
		T_CHECK(RUN_UNTIL((peer_pump(&p, 0), p.got == off), 3000));
		T_CHECK(p.intact);
		T_CHECK_EQ(xm_conn_queued(&s.c), 0);
		T_CHECK_EQ(s.c.tx_bytes, off);
		T_CHECK_EQ(held_chunks(), 0); /* the ring's copy chunk goes once the queue is empty */
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
	side_close(&s, XM_CLOSE_FIN);
	close(b);
	loop_close();
}

/* A peer that does not read: writes queue by reference until the queue reaches the high
 * watermark (XM_WRITE_PAUSE exactly then); as the peer reads, on_drained comes once the queue
 * is at half the watermark or less, and again once it is empty; every byte arrives in order. */
static void test_watermarks(void)
{
	static const struct {
		const char *desc;
		uint32_t high_wm, slice;
	} cases[] = {
		{ "64 KiB watermark, 16 KiB slices", 65536, 16384 },
		{ "32 KiB watermark, 3000-byte slices", 32768, 3000 },
		{ "96 KiB watermark, 4000-byte slices (8 per send on the ring)", 98304, 4000 },
		{ "8 KiB watermark, 1000-byte slices (copied on the ring)", 8192, 1000 },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		uint32_t high = cases[i].high_wm, slice = cases[i].slice;
		struct side s;
		struct peer p;
		int a, b, rc = XM_WRITE_OK, below = 1, byref = 1, nwrites;
		uint64_t off = 0;

		t__case_failed = 0;
		loop_open();
		T_CHECK_EQ(t_tcp_pair(&a, &b, 1), 0);
		side_init(&s);
		peer_init(&p, b);
		T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_any, high), 0);
		for (nwrites = 0; nwrites < 4096 && rc == XM_WRITE_OK; nwrites++) {
			struct xm_chunk *ch = chunk_pat(off, slice);
			rc = xm_conn_write(&s.c, ch, 0, slice);
			off += slice;
			if (rc == XM_WRITE_OK)
				below &= s.c.outq.bytes < high;
			/* Not copied: the queue's last slice is this very chunk. */
			if (!xm_conn_copies(&s.c, slice) && s.c.outq.n) {
				const struct xm_slice *t = &s.c.outq.s[(s.c.outq.head + s.c.outq.n - 1) & (s.c.outq.cap - 1)];
				byref &= t->c == ch;
			}
			xm_chunk_unref(ch);
		}
		T_CHECK_EQ(rc, XM_WRITE_PAUSE);
		T_CHECK(below);                         /* no PAUSE below the watermark */
		T_CHECK(s.c.outq.bytes >= high);
		T_CHECK(s.c.flags & XM_CONN_F_ABOVE_HIGH);
		T_CHECK(byref);
		T_CHECK_EQ(s.drained, 0);
		/* Each queued chunk is held by the queue alone (not copied). */
		int alone = 1;
		for (uint32_t k = 0; !xm_conn_copies(&s.c, slice) && k < s.c.outq.n; k++)
			alone &= s.c.outq.s[(s.c.outq.head + k) & (s.c.outq.cap - 1)].c->refcnt == 1;
		T_CHECK(alone);
		/* The peer reads 4 KiB per turn. */
		uint64_t deadline = xm_now_ms() + 5000;
		while ((p.got < off || xm_conn_queued(&s.c)) && xm_now_ms() < deadline && !p.err) {
			xm_loop_run_once(&L, 5);
			peer_pump(&p, 4096);
		}
		T_CHECK_EQ(p.got, off);
		T_CHECK(p.intact);
		T_CHECK(s.drained >= 1);
		T_CHECK_EQ(s.drained_high, 0);          /* ABOVE_HIGH is cleared before the call */
		T_CHECK(s.drained_q[0] <= high / 2);    /* resumed at the low watermark, not before */
		T_CHECK_EQ(s.drained_q[(s.drained < 64 ? s.drained : 64) - 1], 0);
		T_CHECK(!(s.c.flags & XM_CONN_F_ABOVE_HIGH));
		T_CHECK_EQ(s.errors, 0);
		T_CHECK_EQ(held_chunks(), 0);
		fprintf(stderr, "  %s: %d writes, first drained at %llu bytes queued\n", cases[i].desc, nwrites,
			(unsigned long long)s.drained_q[0]);
		side_close(&s, XM_CLOSE_FIN);
		close(b);
		loop_close();
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* shutdown_write with a backlog: the FIN follows the last queued byte, later writes are
 * refused, and the other direction stays open until the peer's own FIN. */
static void test_half_close(void)
{
	struct side s;
	struct peer p;
	int a, b;
	uint64_t off = 0;

	loop_open();
	T_CHECK_EQ(t_tcp_pair(&a, &b, 1), 0);
	side_init(&s);
	peer_init(&p, b);
	T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_any, 1u << 20), 0);
	xm_conn_read_start(&s.c);
	for (int i = 0; i < 16; i++) {
		struct xm_chunk *ch = chunk_pat(off, 16384);
		T_CHECK(xm_conn_write(&s.c, ch, 0, 16384) >= 0);
		off += 16384;
		xm_chunk_unref(ch);
	}
	T_CHECK(xm_conn_queued(&s.c) > 0); /* the peer reads nothing yet: 256 KiB do not fit its buffers */
	xm_conn_shutdown_write(&s.c);
	T_CHECK(s.c.flags & XM_CONN_F_SHUT_PENDING);
	T_CHECK(!(s.c.flags & XM_CONN_F_SHUT_DONE));
	T_CHECK(RUN_UNTIL((peer_pump(&p, 8192), p.eof || p.err), 5000));
	T_CHECK_EQ(p.got, off); /* every byte before the FIN */
	T_CHECK(p.intact);
	T_CHECK(s.c.flags & XM_CONN_F_SHUT_DONE);
	struct xm_chunk *ch = chunk_pat(0, 10);
	T_CHECK_EQ(xm_conn_write(&s.c, ch, 0, 10), -EPIPE);
	xm_chunk_unref(ch);
	/* Half-closed, not closed: the peer still talks to us. */
	T_CHECK_EQ(peer_send(&p, 3000), 3000);
	T_CHECK(RUN_UNTIL(s.rx == 3000, 3000));
	T_CHECK(s.intact);
	T_CHECK_EQ(s.eofs, 0);
	shutdown(b, SHUT_WR);
	T_CHECK(RUN_UNTIL(s.eofs == 1, 3000));
	T_CHECK_EQ(s.errors, 0);
	side_close(&s, XM_CLOSE_FIN);
	close(b);
	loop_close();
}

/* read_stop makes the peer's writes block (epoll: no byte after the call; the ring: only
 * what its receive had taken, at most one turn's receive ring the first time and one chunk
 * after that), read_start resumes, and no byte is lost or reordered. */
static void test_read_backpressure(void)
{
	struct side s;
	struct peer p;
	int a, b;

	loop_open();
	T_CHECK_EQ(t_tcp_pair(&a, &b, 1), 0);
	side_init(&s);
	peer_init(&p, b);
	T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_any, 1u << 20), 0);
	xm_conn_read_start(&s.c);
	T_CHECK_EQ(peer_send(&p, 1000), 1000);
	T_CHECK(RUN_UNTIL(s.rx == 1000, 3000));
	/* Pause from outside a callback, with bytes waiting in the socket. */
	peer_send(&p, 1u << 20);
	uint64_t at_stop = s.rx;
	xm_conn_read_stop(&s.c);
	T_CHECK(RUN_UNTIL(!(s.c.flags & XM_CONN_F_URECV), 3000)); /* the ring's receive is cancelled */
	uint64_t late = s.rx - at_stop;
	/* Stopped: the peer fills the buffers, then nothing more is delivered. */
	peer_send(&p, 64u << 20);
	uint64_t sent = p.tx;
	T_CHECK(peer_send(&p, 1) == 0); /* the peer is blocked */
	uint64_t rx = s.rx;
	for (int i = 0; i < 5; i++)
		xm_loop_run_once(&L, 10);
	T_CHECK_EQ(s.rx, rx);
	if (!ring_wanted)
		T_CHECK_EQ(late, 0);
	else
		T_CHECK(late <= 128u * XM_CHUNK_SIZE);
	/* Resume, then pause again from inside on_read. */
	s.stop_at = s.rx + 1;
	xm_conn_read_start(&s.c);
	T_CHECK(RUN_UNTIL(s.rx_at_stop != 0, 3000));
	T_CHECK(RUN_UNTIL(!(s.c.flags & XM_CONN_F_URECV), 3000));
	for (int i = 0; i < 3; i++)
		xm_loop_run_once(&L, 10);
	uint64_t late2 = s.rx - s.rx_at_stop;
	if (!ring_wanted)
		T_CHECK_EQ(late2, 0);
	else
		T_CHECK(late2 <= XM_CHUNK_SIZE);
	/* Resume for good: the rest arrives, in order, while the peer sends more. */
	xm_conn_read_start(&s.c);
	uint64_t goal = sent + (1u << 20);
	T_CHECK(RUN_UNTIL((peer_send(&p, goal - p.tx), s.rx == goal), 5000));
	T_CHECK_EQ(s.rx, goal);
	T_CHECK(s.intact);
	T_CHECK_EQ(s.errors + s.eofs, 0);
	fprintf(stderr, "  %llu bytes blocked the peer; delivered after a stop: %llu, then %llu\n", (unsigned long long)sent,
		(unsigned long long)late, (unsigned long long)late2);
	side_close(&s, XM_CLOSE_FIN);
	close(b);
	loop_close();
}

/* Closing with FIN ends the peer's stream cleanly; with RESET the peer's read fails with
 * ECONNRESET (a reset propagated from the other side). */
static void test_close_modes(void)
{
	static const struct {
		const char *desc;
		enum xm_close_mode mode;
		int expect; /* peer_wait_end */
	} cases[] = {
		{ "FIN: the peer reads the bytes, then EOF", XM_CLOSE_FIN, 0 },
		{ "RESET: the peer's read fails with ECONNRESET", XM_CLOSE_RESET, -ECONNRESET },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct side s;
		struct peer p;
		int a, b;

		t__case_failed = 0;
		loop_open();
		T_CHECK_EQ(t_tcp_pair(&a, &b, 0), 0);
		side_init(&s);
		peer_init(&p, b);
		T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_any, 1u << 20), 0);
		xm_conn_read_start(&s.c); /* a receive armed (ring): close cancels it */
		struct xm_chunk *ch = chunk_pat(0, 500);
		T_CHECK_EQ(xm_conn_write(&s.c, ch, 0, 500), XM_WRITE_OK);
		xm_chunk_unref(ch);
		T_CHECK(RUN_UNTIL(xm_conn_queued(&s.c) == 0, 3000));
		T_CHECK(RUN_UNTIL((peer_pump(&p, 0), p.got == 500), 3000));
		side_close(&s, cases[i].mode);
		T_CHECK(xm_conn_is_closed(&s.c));
		T_CHECK_EQ(s.c.io.fd, -1);
		xm_conn_close(&s.c, cases[i].mode); /* idempotent */
		/* On epoll the socket ends in close(); on the ring a receive in flight holds a
		 * reference to it until its cancellation is reaped (deferred task work, run in
		 * the loop's next waits). */
		int end = 1, turns = 0;
		while ((end = peer_end(b)) == 1 && turns < 100) {
			xm_loop_run_once(&L, 5);
			turns++;
		}
		T_CHECK_EQ(end, cases[i].expect);
		T_CHECK(turns <= (ring_wanted ? 2 : 0));
		if (ring_wanted)
			fprintf(stderr, "  %s: the peer saw the end after %d loop turns\n", cases[i].mode ? "RESET" : "FIN", turns);
		for (int k = 0; k < 3; k++) /* a cancelled receive completes: nothing reaches the owner */
			xm_loop_run_once(&L, 5);
		T_CHECK_EQ(s.reads + s.eofs + s.errors, 0);
		close(b);
		loop_close();
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* An outbound connect completes through on_connected once: err 0, and what was written and
 * a half-close requested while connecting follow; or the refusal's errno. */
static void test_connect(void)
{
	static const struct {
		const char *desc;
		int listening;
		int err;
	} cases[] = {
		{ "a listening port: connected, then the queued bytes and the FIN", 1, 0 },
		{ "a closed port: ECONNREFUSED", 0, ECONNREFUSED },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t slen = sizeof(sa);
		int lfd = -1;
		struct side s;

		t__case_failed = 0;
		loop_open();
		side_init(&s);
		if (cases[i].listening) {
			lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			T_CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
			getsockname(lfd, (struct sockaddr *)&sa, &slen);
		} else {
			sa.sin_port = htons(t_closed_port());
		}
		T_CHECK_EQ(xm_conn_connect(&s.c, &L, (struct sockaddr *)&sa, sizeof(sa), NULL, &ops_any, 1u << 20), 0);
		T_CHECK(s.c.flags & XM_CONN_F_CONNECTING);
		struct xm_chunk *ch = chunk_pat(0, 300);
		T_CHECK_EQ(xm_conn_write(&s.c, ch, 0, 300), XM_WRITE_OK); /* queued until connected */
		xm_chunk_unref(ch);
		xm_conn_shutdown_write(&s.c);
		T_CHECK(RUN_UNTIL(s.connected, 3000));
		T_CHECK_EQ(s.connected, 1);
		T_CHECK_EQ(s.conn_err, cases[i].err);
		if (cases[i].listening) {
			struct pollfd pf = { .fd = lfd, .events = POLLIN };
			T_CHECK(poll(&pf, 1, 3000) == 1);
			struct peer p;
			peer_init(&p, accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
			T_CHECK(RUN_UNTIL((peer_pump(&p, 0), p.eof || p.err), 3000));
			T_CHECK_EQ(p.got, 300);
			T_CHECK(p.intact);
			T_CHECK(p.eof);
			close(p.fd);
			close(lfd);
		} else {
			T_CHECK(s.c.flags & XM_CONN_F_ERROR);
		}
		for (int k = 0; k < 3; k++)
			xm_loop_run_once(&L, 5);
		T_CHECK_EQ(s.connected, 1); /* once */
		side_close(&s, XM_CLOSE_FIN);
		loop_close();
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
}

/* release_fd hands a working socket over (an epoll owner, on either backend's loop): the
 * connection is closed without closing the fd, unread bytes stay in the socket for the new
 * owner, and nothing more reaches the old owner. */
static void test_release_fd(void)
{
	struct side s;
	struct peer p;
	int a, b;
	char buf[64];

	loop_open();
	T_CHECK_EQ(t_tcp_pair(&a, &b, 0), 0);
	side_init(&s);
	peer_init(&p, b);
	T_CHECK_EQ(xm_conn_accept(&s.c, &L, a, &ops_epoll, 1u << 20), 0);
	T_CHECK(!xm_conn_on_ring(&s.c));
	xm_conn_read_start(&s.c);
	T_CHECK_EQ(peer_send(&p, 100), 100);
	T_CHECK(RUN_UNTIL(s.rx == 100, 3000));
	xm_conn_read_stop(&s.c);
	T_CHECK_EQ(send(b, "unread", 6, MSG_NOSIGNAL), 6);
	int fd = xm_conn_release_fd(&s.c);
	T_CHECK_EQ(fd, a);
	T_CHECK(xm_conn_is_closed(&s.c));
	T_CHECK(!s.c.io.registered);
	T_CHECK_EQ(xm_conn_release_fd(&s.c), -1); /* only once */
	T_CHECK_EQ(fcntl(fd, F_GETFD) >= 0, 1);   /* still open */
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	T_CHECK_EQ(poll(&pf, 1, 3000), 1);
	T_CHECK_EQ(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 6);
	T_CHECK(memcmp(buf, "unread", 6) == 0);
	T_CHECK_EQ(send(fd, "new owner", 9, MSG_NOSIGNAL), 9);
	pf.fd = b;
	T_CHECK_EQ(poll(&pf, 1, 3000), 1);
	T_CHECK_EQ(recv(b, buf, sizeof(buf), MSG_DONTWAIT), 9);
	/* The loop no longer watches it: more bytes reach nobody but the new owner. */
	T_CHECK_EQ(send(b, "x", 1, MSG_NOSIGNAL), 1);
	for (int k = 0; k < 3; k++)
		xm_loop_run_once(&L, 5);
	T_CHECK_EQ(s.rx, 100);
	T_CHECK_EQ(s.errors + s.eofs, 0);
	close(fd);
	close(b);
	loop_close();
}

/* Splice mode (epoll owners): 4 MiB move from one socket to another inside the kernel, no
 * chunk used and no on_read, with backpressure through on_spliced/on_drained and the FIN
 * passed on; splice_start refuses a ring connection, a destination with output queued and
 * a source whose read chunk someone still holds. */
static void test_splice(void)
{
	struct side src, dst;
	struct peer pin, pout;
	int a1, a2, b1, b2;
	const uint64_t total = 4u << 20;

	loop_open();
	T_CHECK_EQ(t_tcp_pair(&a1, &a2, 0), 0);
	T_CHECK_EQ(t_tcp_pair(&b1, &b2, 0), 0);
	side_init(&src);
	side_init(&dst);
	peer_init(&pin, a2);
	peer_init(&pout, b2);
	T_CHECK_EQ(xm_conn_accept(&src.c, &L, a1, &ops_epoll, 1u << 20), 0);
	T_CHECK_EQ(xm_conn_accept(&dst.c, &L, b1, &ops_epoll, 256u << 10), 0);
	src.dst = &dst;
	T_CHECK_EQ(xm_conn_splice_start(&src.c, &dst.c), 0);
	xm_conn_read_start(&src.c);
	xm_conn_read_start(&dst.c);
	uint64_t deadline = xm_now_ms() + 10000;
	int shut = 0, chunkless = 1;
	while (!pout.eof && !pout.err && xm_now_ms() < deadline) {
		if (pin.tx < total)
			peer_send(&pin, total - pin.tx < 65536 ? total - pin.tx : 65536);
		if (pin.tx == total && !shut) {
			shutdown(a2, SHUT_WR);
			shut = 1;
		}
		xm_loop_run_once(&L, 2);
		peer_pump(&pout, 0);
		chunkless &= held_chunks() == 0;
	}
	T_CHECK(chunkless);
	T_CHECK_EQ(pout.got, total);
	T_CHECK(pout.intact);
	T_CHECK(pout.eof);
	T_CHECK_EQ(src.spliced, total);
	T_CHECK_EQ(src.reads, 0);
	T_CHECK_EQ(src.c.rx_bytes, total);
	T_CHECK_EQ(dst.c.tx_bytes, total);
	T_CHECK_EQ(src.splice_err, 0);
	T_CHECK_EQ(src.errors + dst.errors, 0);
	side_close(&src, XM_CLOSE_FIN);
	side_close(&dst, XM_CLOSE_FIN);
	close(a2);
	close(b2);

	/* Refusals: src simply stays in copy mode. */
	static const struct {
		const char *desc;
		int what;
		int err;
	} cases[] = {
		{ "a connection on the ring leaves it first", 0, -ENOTSUP },
		{ "the destination has output queued", 1, -EBUSY },
		{ "the source's read chunk is still referenced", 2, -EBUSY },
	};
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		int failed = t__case_failed;
		t__case_failed = 0;
		if (cases[i].what == 0 && !ring_wanted)
			continue;
		side_init(&src);
		side_init(&dst);
		T_CHECK_EQ(t_tcp_pair(&a1, &a2, 1), 0);
		T_CHECK_EQ(t_tcp_pair(&b1, &b2, 1), 0);
		T_CHECK_EQ(xm_conn_accept(&src.c, &L, a1, cases[i].what == 0 ? &ops_any : &ops_epoll, 1u << 20), 0);
		T_CHECK_EQ(xm_conn_accept(&dst.c, &L, b1, &ops_epoll, 1u << 20), 0);
		if (cases[i].what == 1) {
			uint64_t off = 0;
			for (int k = 0; k < 64 && xm_conn_queued(&dst.c) == 0; k++, off += 16384) {
				struct xm_chunk *ch = chunk_pat(off, 16384);
				xm_conn_write(&dst.c, ch, 0, 16384);
				xm_chunk_unref(ch);
			}
			T_CHECK(xm_conn_queued(&dst.c) > 0);
		}
		if (cases[i].what == 2) {
			src.hold = 1;
			xm_conn_read_start(&src.c);
			peer_init(&pin, a2);
			T_CHECK_EQ(peer_send(&pin, 100), 100);
			T_CHECK(RUN_UNTIL(src.rx == 100, 3000));
			xm_conn_read_stop(&src.c);
		}
		T_CHECK_EQ(xm_conn_splice_start(&src.c, &dst.c), cases[i].err);
		T_CHECK(src.c.splice_to == NULL);
		side_close(&src, XM_CLOSE_FIN);
		side_close(&dst, XM_CLOSE_FIN);
		close(a2);
		close(b2);
		if (t__case_failed)
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		t__case_failed |= failed;
	}
	loop_close();
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	const char *be = getenv("XMESH_IO_BACKEND");
	ring_wanted = xm_io_backend_parse(be) == XM_IO_URING;
	fprintf(stderr, "  backend: %s\n", ring_wanted ? "io_uring" : "epoll");
	T_RUN("write: at once on epoll, at the turn's end on the ring (small copied, large referenced)", test_write_direct);
	T_RUN("write: queued by reference up to the high watermark (PAUSE), on_drained at the low one", test_watermarks);
	T_RUN("half-close: FIN after the queued bytes; the other direction stays open", test_half_close);
	T_RUN("read_stop blocks the peer (bounded late bytes on the ring); read_start resumes in order", test_read_backpressure);
	T_RUN("close: FIN ends the peer's stream, RESET makes its read fail with ECONNRESET", test_close_modes);
	T_RUN("connect: on_connected once, with 0 then the queued bytes and FIN, or ECONNREFUSED", test_connect);
	T_RUN("release_fd hands a working socket over with its unread bytes", test_release_fd);
	T_RUN("splice: 4 MiB socket to socket in the kernel with backpressure and FIN; refusals", test_splice);
T_MAIN_END
