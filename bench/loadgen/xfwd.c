/* xfwd: a minimal, featureless single-threaded TCP forwarder for measuring the floor of a
 * user-space proxy on this machine (bench/tools/floor.sh). Each accepted connection gets its
 * own upstream connection; bytes are pumped both ways; EOF or an error on either side closes
 * the pair. Prints {"port":N,"pid":N} once listening. Loopback only; exits on SIGTERM/SIGINT
 * or after --max-seconds (alarm).
 *
 *   --mode epoll  edge-triggered epoll; per readiness event one read into the direction's
 *                 buffer and an immediate send() (the "read + send per hop" design that
 *                 xmesh, HAProxy and nginx use).
 *   --mode uring  io_uring (built only with liburing, XFWD_URING): multishot recv into a
 *                 provided-buffer ring; every send of one loop turn goes out in a single
 *                 io_uring_enter (io_uring_submit_and_wait), so syscall entries are amortised
 *                 and a peer woken by the first send cannot preempt us between sends. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "common.h"

#ifdef XFWD_URING
#include <liburing.h>
#endif

#define XF_MAX_EVENTS 1024
#define XF_BUF 16384 /* epoll: fixed buffer per direction */

static struct {
	struct sockaddr_in listen, upstream;
	int uring;
	double max_seconds;
	int nodelay;          /* TCP_NODELAY on both sockets of a pair (default on) */
	int quickack;         /* -1 untouched, else TCP_QUICKACK value */
	int quickack_each;    /* re-apply TCP_QUICKACK after every read (it is not sticky) */
	int rcvlowat;         /* 0 untouched, else SO_RCVLOWAT */
	const char *setup;    /* uring: defer | coop | plain */
	unsigned nbufs, bufsz; /* uring: provided buffers */
} cfg = {.max_seconds = 600, .nodelay = 1, .quickack = -1, .setup = "defer", .nbufs = 4096, .bufsz = 2048};

static volatile sig_atomic_t stop_flag;
static uint64_t n_pairs, n_closed;

static void on_signal(int sig)
{
	if (sig == SIGALRM && stop_flag)
		_exit(0); /* the loop missed the first signal (it raced with the wait): end anyway */
	stop_flag = 1;
	if (sig == SIGALRM)
		alarm(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xfwd --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] [--mode epoll|uring]\n"
		"            [--max-seconds S] [--no-nodelay] [--quickack 0|1] [--quickack-each]\n"
		"            [--rcvlowat N] [--uring-setup defer|coop|plain] [--uring-bufs N] [--uring-bufsz N]\n"
		"  epoll: edge-triggered, one read per readiness event, immediate send()\n"
		"  uring: multishot recv + provided-buffer ring, all sends of a loop turn in one enter%s\n",
#ifdef XFWD_URING
		""
#else
		" (NOT BUILT: no liburing)"
#endif
	);
	exit(2);
}

/* Per-socket knobs of a pair's sockets (only these sockets; nothing system-wide). */
static void sock_opts(int fd)
{
	if (cfg.nodelay)
		xb_nodelay(fd);
	if (cfg.quickack >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &cfg.quickack, sizeof(cfg.quickack));
	if (cfg.rcvlowat > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &cfg.rcvlowat, sizeof(cfg.rcvlowat));
}

static void quickack_again(int fd)
{
	if (cfg.quickack_each && cfg.quickack >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &cfg.quickack, sizeof(cfg.quickack));
}

static int listen_socket(int nonblock)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&cfg.listen, sizeof(cfg.listen)) != 0 || listen(lfd, 4096) != 0) {
		perror("bind/listen");
		exit(1);
	}
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	getsockname(lfd, (struct sockaddr *)&bound, &blen);
	printf("{\"port\":%u,\"pid\":%d}\n", ntohs(bound.sin_port), (int)getpid());
	fflush(stdout);
	return lfd;
}

/* ------------------------------------------------------------------------------------ */
/* epoll mode                                                                           */

struct ep_pair;
struct ep_side {
	struct ep_pair *p;
	int fd, idx; /* idx 0: client, 1: upstream */
};
struct ep_dir {
	size_t off, len; /* bytes of buf not yet sent to the other side */
	uint8_t buf[XF_BUF];
};
struct ep_pair {
	struct ep_side s[2];
	struct ep_dir d[2]; /* d[i]: read from s[i], written to s[1-i] */
	int dead;
	struct ep_pair *next_dead;
};

static int epfd;
static struct ep_pair *dead_list;

static void ep_kill(struct ep_pair *p)
{
	if (p->dead)
		return;
	p->dead = 1;
	close(p->s[0].fd); /* also removes them from the epoll set */
	close(p->s[1].fd);
	p->next_dead = dead_list; /* freed after the event batch: later events may point here */
	dead_list = p;
	n_closed++;
}

/* Read from s[i] and forward to s[1-i] until the source is drained, a send falls short (the
 * rest waits for EPOLLOUT on the destination) or the connection ends. -1: close the pair. */
static int ep_pump(struct ep_pair *p, int i)
{
	struct ep_dir *d = &p->d[i];
	int src = p->s[i].fd, dst = p->s[1 - i].fd;
	while (d->len == 0) {
		ssize_t r = read(src, d->buf, XF_BUF);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		quickack_again(src);
		ssize_t w = send(dst, d->buf, (size_t)r, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			w = 0;
		}
		if (w < r) {
			d->off = (size_t)w;
			d->len = (size_t)(r - w);
			return 0;
		}
		if (r < XF_BUF) /* a short read drained the socket: the next byte brings a new edge */
			return 0;
	}
	return 0;
}

/* s[1-i] became writable: send what direction i still holds, then resume reading s[i]
 * (its edge may have been consumed while the buffer was full). */
static int ep_flush(struct ep_pair *p, int i)
{
	struct ep_dir *d = &p->d[i];
	if (d->len == 0)
		return 0;
	while (d->len) {
		ssize_t w = send(p->s[1 - i].fd, d->buf + d->off, d->len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		d->off += (size_t)w;
		d->len -= (size_t)w;
	}
	return ep_pump(p, i);
}

static void ep_accept(int lfd)
{
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				perror("accept4");
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct ep_pair *p = ufd >= 0 ? calloc(1, sizeof(*p)) : NULL;
		if (!p || (connect(ufd, (struct sockaddr *)&cfg.upstream, sizeof(cfg.upstream)) != 0 &&
			   errno != EINPROGRESS)) {
			perror("upstream");
			close(cfd);
			if (ufd >= 0)
				close(ufd);
			free(p);
			continue;
		}
		sock_opts(cfd);
		sock_opts(ufd);
		p->s[0] = (struct ep_side){p, cfd, 0};
		p->s[1] = (struct ep_side){p, ufd, 1};
		n_pairs++;
		for (int k = 0; k < 2; k++) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &p->s[k]};
			if (epoll_ctl(epfd, EPOLL_CTL_ADD, p->s[k].fd, &ev) != 0) {
				perror("epoll_ctl");
				ep_kill(p);
				break;
			}
		}
	}
}

static int run_epoll(void)
{
	int lfd = listen_socket(1);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	static struct epoll_event evs[XF_MAX_EVENTS];
	while (!stop_flag) {
		int n = epoll_wait(epfd, evs, XF_MAX_EVENTS, -1); /* SIGALRM/SIGTERM interrupt it */
		for (int k = 0; k < n; k++) {
			struct ep_side *s = evs[k].data.ptr;
			uint32_t ev = evs[k].events;
			if (!s) {
				ep_accept(lfd);
				continue;
			}
			struct ep_pair *p = s->p;
			if (p->dead)
				continue;
			if ((ev & EPOLLOUT) && ep_flush(p, 1 - s->idx) < 0) {
				ep_kill(p);
				continue;
			}
			if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && ep_pump(p, s->idx) < 0)
				ep_kill(p);
		}
		while (dead_list) {
			struct ep_pair *p = dead_list;
			dead_list = p->next_dead;
			free(p);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* io_uring mode                                                                        */

#ifdef XFWD_URING
enum { OP_ACCEPT = 0, OP_RECV0, OP_RECV1, OP_SEND0, OP_SEND1 }; /* SENDi: direction i */
#define OP_MASK 7ull
#define BGID 0

struct u_dir {
	int head, tail;   /* FIFO of received buffers (ids) waiting to go to the other side */
	int sending;      /* one send in flight per direction keeps the byte order */
};
struct u_pair {
	int fd[2];        /* 0: client, 1: upstream */
	struct u_dir d[2]; /* d[i]: received on fd[i], sent to fd[1-i] */
	int recv_armed[2], want_rearm[2];
	int inflight;     /* armed multishot recvs + sends in flight: freed at 0 once closing */
	int closing;
	struct u_pair *next_starved; /* recv ended with -ENOBUFS: re-armed once buffers return */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static uint8_t *bufs;
static int *b_next;           /* FIFO links, per buffer id */
static uint32_t *b_len, *b_off;
static unsigned br_mask, br_pending; /* buffers handed back since the last advance */
static struct u_pair *starved;
static int ulfd;

static struct io_uring_sqe *u_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			xb_die("xfwd: no SQE");
	}
	return sqe;
}

static void u_arm_accept(void)
{
	struct io_uring_sqe *sqe = u_sqe();
	io_uring_prep_multishot_accept(sqe, ulfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void u_arm_recv(struct u_pair *p, int i)
{
	struct io_uring_sqe *sqe = u_sqe();
	io_uring_prep_recv_multishot(sqe, p->fd[i], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | (uint64_t)(OP_RECV0 + i));
	p->recv_armed[i] = 1;
	p->inflight++;
}

static void u_send_head(struct u_pair *p, int i)
{
	int bid = p->d[i].head;
	struct io_uring_sqe *sqe = u_sqe();
	io_uring_prep_send(sqe, p->fd[1 - i], bufs + (size_t)bid * cfg.bufsz + b_off[bid], b_len[bid] - b_off[bid],
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | (uint64_t)(OP_SEND0 + i));
	p->d[i].sending = 1;
	p->inflight++;
}

static void u_recycle(int bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * cfg.bufsz, cfg.bufsz, (unsigned short)bid, br_mask,
			      (int)br_pending);
	br_pending++;
}

static void u_close(struct u_pair *p)
{
	if (p->closing)
		return;
	p->closing = 1;
	n_closed++;
	/* completes the armed recvs (res 0) and fails the sends in flight */
	shutdown(p->fd[0], SHUT_RDWR);
	shutdown(p->fd[1], SHUT_RDWR);
	for (int i = 0; i < 2; i++) { /* queued, unsent buffers go back; the one in flight stays */
		struct u_dir *d = &p->d[i];
		if (d->head < 0)
			continue;
		int bid = d->sending ? b_next[d->head] : d->head;
		while (bid >= 0) {
			int nx = b_next[bid];
			u_recycle(bid);
			bid = nx;
		}
		if (d->sending) {
			b_next[d->head] = -1;
			d->tail = d->head;
		} else {
			d->head = d->tail = -1;
		}
	}
}

static void u_maybe_free(struct u_pair *p)
{
	if (p->closing && p->inflight == 0) {
		close(p->fd[0]);
		close(p->fd[1]);
		free(p);
	}
}

static void u_new_pair(int cfd)
{
	int ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* blocking connect: loopback completes it at once; io_uring never blocks on the fds */
	if (ufd < 0 || connect(ufd, (struct sockaddr *)&cfg.upstream, sizeof(cfg.upstream)) != 0) {
		perror("upstream");
		close(cfd);
		if (ufd >= 0)
			close(ufd);
		return;
	}
	struct u_pair *p = calloc(1, sizeof(*p));
	if (!p)
		xb_die("out of memory");
	p->fd[0] = cfd;
	p->fd[1] = ufd;
	p->d[0].head = p->d[0].tail = p->d[1].head = p->d[1].tail = -1;
	sock_opts(cfd);
	sock_opts(ufd);
	n_pairs++;
	u_arm_recv(p, 0);
	u_arm_recv(p, 1);
}

static void u_on_recv(struct u_pair *p, int i, struct io_uring_cqe *cqe)
{
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	if (!more) {
		p->recv_armed[i] = 0;
		p->inflight--;
	}
	if (cqe->res > 0) {
		int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (!(cqe->flags & IORING_CQE_F_BUFFER))
			xb_die("xfwd: recv completed without a buffer");
		if (cfg.quickack_each)
			quickack_again(p->fd[i]);
		if (p->closing) {
			u_recycle(bid);
		} else {
			b_len[bid] = (uint32_t)cqe->res;
			b_off[bid] = 0;
			b_next[bid] = -1;
			if (p->d[i].tail >= 0)
				b_next[p->d[i].tail] = bid;
			else
				p->d[i].head = bid;
			p->d[i].tail = bid;
			if (!p->d[i].sending)
				u_send_head(p, i);
			if (!more) /* the multishot ended with data (e.g. CQ overflow): re-arm it */
				u_arm_recv(p, i);
		}
	} else if (cqe->res == -ENOBUFS && !p->closing) {
		/* the buffer ring ran dry: re-arm once sends hand buffers back */
		if (!p->want_rearm[0] && !p->want_rearm[1])
			p->next_starved = starved, starved = p;
		p->want_rearm[i] = 1;
		p->inflight++; /* the starved list holds a reference */
	} else {
		u_close(p); /* EOF (0) or an error */
	}
	u_maybe_free(p);
}

static void u_on_send(struct u_pair *p, int i, struct io_uring_cqe *cqe)
{
	struct u_dir *d = &p->d[i];
	int bid = d->head;
	p->inflight--;
	d->sending = 0;
	if (cqe->res < 0 || p->closing) {
		d->head = b_next[bid];
		if (d->head < 0)
			d->tail = -1;
		u_recycle(bid);
		u_close(p);
		u_maybe_free(p);
		return;
	}
	b_off[bid] += (uint32_t)cqe->res;
	if (b_off[bid] < b_len[bid]) { /* partial send: the rest goes next */
		u_send_head(p, i);
		return;
	}
	d->head = b_next[bid];
	if (d->head < 0)
		d->tail = -1;
	u_recycle(bid);
	if (d->head >= 0)
		u_send_head(p, i);
}

static int run_uring(void)
{
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	params.cq_entries = 65536;
	if (!strcmp(cfg.setup, "defer"))
		params.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	else if (!strcmp(cfg.setup, "coop"))
		params.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	else if (strcmp(cfg.setup, "plain"))
		usage();
	int ret = io_uring_queue_init_params(4096, &ring, &params);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init_params: %s\n", strerror(-ret));
		return 1;
	}
	if (!(params.features & IORING_FEAT_NODROP))
		xb_die("xfwd: kernel lacks IORING_FEAT_NODROP");

	/* provided-buffer ring, set up by hand (io_uring_setup_buf_ring is liburing 2.4+) */
	if (cfg.nbufs < 2 || cfg.nbufs > 32768 || (cfg.nbufs & (cfg.nbufs - 1)) || cfg.bufsz < 64)
		xb_die("--uring-bufs: a power of two in 2..32768; --uring-bufsz >= 64");
	size_t rsz = cfg.nbufs * sizeof(struct io_uring_buf);
	br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = malloc((size_t)cfg.nbufs * cfg.bufsz);
	b_next = calloc(cfg.nbufs, sizeof(*b_next));
	b_len = calloc(cfg.nbufs, sizeof(*b_len));
	b_off = calloc(cfg.nbufs, sizeof(*b_off));
	if (br == MAP_FAILED || !bufs || !b_next || !b_len || !b_off)
		xb_die("out of memory");
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = cfg.nbufs, .bgid = BGID};
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-ret));
		return 1;
	}
	br_mask = (unsigned)io_uring_buf_ring_mask(cfg.nbufs);
	for (unsigned b = 0; b < cfg.nbufs; b++)
		u_recycle((int)b);
	io_uring_buf_ring_advance(br, (int)br_pending);
	br_pending = 0;

	ulfd = listen_socket(0);
	u_arm_accept();
	while (!stop_flag) {
		ret = io_uring_submit_and_wait(&ring, 1); /* every send of the last turn, one enter */
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-ret));
			return 1;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			unsigned op = (unsigned)(ud & OP_MASK);
			struct u_pair *p = (struct u_pair *)(uintptr_t)(ud & ~OP_MASK);
			if (op == OP_ACCEPT) {
				if (cqe->res >= 0)
					u_new_pair(cqe->res);
				else if (cqe->res != -EINTR && cqe->res != -ECONNABORTED)
					fprintf(stderr, "accept: %s\n", strerror(-cqe->res));
				if (!(cqe->flags & IORING_CQE_F_MORE))
					u_arm_accept();
			} else if (op == OP_RECV0 || op == OP_RECV1) {
				u_on_recv(p, (int)(op - OP_RECV0), cqe);
			} else {
				u_on_send(p, (int)(op - OP_SEND0), cqe);
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (br_pending) {
			io_uring_buf_ring_advance(br, (int)br_pending);
			br_pending = 0;
			while (starved) { /* buffers are back: restart the recvs that ran dry */
				struct u_pair *p = starved;
				starved = p->next_starved;
				for (int i = 0; i < 2; i++)
					if (p->want_rearm[i]) {
						p->want_rearm[i] = 0;
						p->inflight--;
						if (!p->closing)
							u_arm_recv(p, i);
					}
				u_maybe_free(p);
			}
		}
	}
	return 0;
}
#endif

int main(int argc, char **argv)
{
	const char *listen_s = "127.0.0.1:0", *up_s = NULL, *mode = "epoll";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define XF_ARG(name) (!strcmp(a, name) && (v || (usage(), 0)) && ++i)
		if (XF_ARG("--listen"))
			listen_s = v;
		else if (XF_ARG("--upstream"))
			up_s = v;
		else if (XF_ARG("--mode"))
			mode = v;
		else if (XF_ARG("--max-seconds"))
			cfg.max_seconds = xb_parse_d(a, v);
		else if (!strcmp(a, "--no-nodelay"))
			cfg.nodelay = 0;
		else if (XF_ARG("--quickack"))
			cfg.quickack = (int)xb_parse_ll(a, v);
		else if (!strcmp(a, "--quickack-each"))
			cfg.quickack_each = 1;
		else if (XF_ARG("--rcvlowat"))
			cfg.rcvlowat = (int)xb_parse_ll(a, v);
		else if (XF_ARG("--uring-setup"))
			cfg.setup = v;
		else if (XF_ARG("--uring-bufs"))
			cfg.nbufs = (unsigned)xb_parse_ll(a, v);
		else if (XF_ARG("--uring-bufsz"))
			cfg.bufsz = (unsigned)xb_parse_ll(a, v);
		else
			usage();
#undef XF_ARG
	}
	if (!up_s)
		usage();
	xb_parse_addr("--listen", listen_s, &cfg.listen);
	xb_parse_addr("--upstream", up_s, &cfg.upstream);
	if (!(cfg.max_seconds >= 1 && cfg.max_seconds <= 86400))
		xb_die("--max-seconds must be in [1, 86400]");
	if (cfg.quickack > 1 || (cfg.quickack_each && cfg.quickack < 0))
		xb_die("--quickack 0|1 (--quickack-each needs it)");
	if (!strcmp(mode, "uring")) {
#ifdef XFWD_URING
		cfg.uring = 1;
#else
		xb_die("xfwd: built without liburing (apt-get install liburing-dev, then make -C bench/loadgen)");
#endif
	} else if (strcmp(mode, "epoll")) {
		usage();
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait / io_uring_enter return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)cfg.max_seconds);
	xb_raise_nofile(1 << 16);

	int rc;
#ifdef XFWD_URING
	rc = cfg.uring ? run_uring() : run_epoll();
#else
	rc = run_epoll();
#endif
	fprintf(stderr, "xfwd: exiting after %llu pairs (%llu closed)%s\n", (unsigned long long)n_pairs,
		(unsigned long long)n_closed, stop_flag ? "" : " (error)");
	return rc;
}
