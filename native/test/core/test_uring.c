/* The io_uring backend's own contract: backend choice and fallback when the kernel refuses
 * io_uring (here: a seccomp filter, as Docker's default profile does), slot generations, and
 * when a worker may sleep in plain epoll. Traffic through the ring is covered by every other
 * suite, which `make run` repeats with XMESH_IO_BACKEND=io_uring. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "server/dp.h"
#include "t.h"
#include "t_net.h"
#include "core/uring.h"

/* io_uring_setup fails with ENOSYS from here on (this process and its threads). */
static int t__deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = (unsigned short)XM_ARRAY_SIZE(f), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -errno : 0;
}

/* In a child (the filter cannot be undone): what xm_dp_new does with backend b. Exit code:
 * 10 + resolved backend on success, 20 + errno (capped) on failure, 1 on a setup error. */
static int t__child_backend(int b, int deny)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (deny && t__deny_io_uring() < 0)
			_exit(1);
		struct xm_dp *dp = NULL;
		struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 4u << 20, .io_backend = b + 1 };
		int rc = xm_dp_new(&dp, &o);
		if (rc < 0)
			_exit(20 + (-rc > 100 ? 100 : -rc));
		int got = dp->io_backend;
		/* The worker makes its ring when it starts: the gauge says whether it did. */
		for (int i = 0; i < 200 && got == XM_IO_URING && t_stat(dp, "dataplane.io_uring_workers") != 1; i++)
			usleep(5000);
		if (got == XM_IO_URING && t_stat(dp, "dataplane.io_uring_workers") != 1)
			_exit(2);
		xm_dp_free(dp);
		_exit(10 + got);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_fallback(void)
{
	/* This kernel offers io_uring: auto takes it, io_uring gets it, epoll stays epoll. */
	T_CHECK_EQ(xm_uring_probe(), 0);
	T_CHECK_EQ(t__child_backend(XM_IO_AUTO, 0), 10 + XM_IO_URING);
	T_CHECK_EQ(t__child_backend(XM_IO_URING, 0), 10 + XM_IO_URING);
	T_CHECK_EQ(t__child_backend(XM_IO_EPOLL, 0), 10 + XM_IO_EPOLL);
	/* Refused (seccomp): auto falls back to epoll, a required io_uring fails with the
	 * kernel's reason, epoll never notices. */
	T_CHECK_EQ(t__child_backend(XM_IO_AUTO, 1), 10 + XM_IO_EPOLL);
	T_CHECK_EQ(t__child_backend(XM_IO_URING, 1), 20 + ENOSYS);
	T_CHECK_EQ(t__child_backend(XM_IO_EPOLL, 1), 10 + XM_IO_EPOLL);
}

static void test_parse(void)
{
	T_CHECK_EQ(xm_io_backend_parse(NULL), XM_IO_EPOLL);
	T_CHECK_EQ(xm_io_backend_parse("epoll"), XM_IO_EPOLL);
	T_CHECK_EQ(xm_io_backend_parse("io_uring"), XM_IO_URING);
	T_CHECK_EQ(xm_io_backend_parse("auto"), XM_IO_AUTO);
	T_CHECK_EQ(xm_io_backend_parse("kqueue"), -EINVAL);
	T_CHECK(strcmp(xm_io_backend_name(XM_IO_URING), "io_uring") == 0);
}

static void test_slots(void)
{
	struct xm_pool pool;
	struct xm_uring *ur = NULL;
	struct xm_uring_user ua = { 0 }, ub = { 0 }, *a = &ua, *b = &ub;

	xm_pool_init(&pool, 4);
	T_CHECK_EQ(xm_uring_new(&ur, &pool, NULL, 0), 0);
	if (!ur)
		return;
	T_CHECK_EQ(xm_uring_ring_chunks(ur), 128);
	T_CHECK(!xm_uring_busy(ur)); /* no connection: the worker may sleep in epoll_wait */
	uint32_t sa = xm_uring_slot_new(ur, a), sb = xm_uring_slot_new(ur, b);
	T_CHECK(sa != 0 && sb != 0 && sa != sb);
	T_CHECK(xm_uring_busy(ur));
	uint64_t ud_old = xm_uring_ud(ur, sa, XM_UOP_RECV);
	xm_uring_slot_free(ur, sa);
	/* The freed slot comes back for the next connection under a new generation, so a
	 * completion still naming the old one cannot reach the new connection. */
	uint32_t sc = xm_uring_slot_new(ur, b);
	T_CHECK_EQ(sc, sa);
	T_CHECK(xm_uring_ud(ur, sc, XM_UOP_RECV) != ud_old);
	T_CHECK_EQ(xm_uring_ud(ur, sc, XM_UOP_RECV) >> 32, sa);
	T_CHECK_EQ(xm_uring_ud(ur, sc, XM_UOP_SEND) & 0xff, XM_UOP_SEND);
	/* Many slots: the table grows past its first 64 entries. */
	uint32_t s[200];
	for (int i = 0; i < 200; i++)
		s[i] = xm_uring_slot_new(ur, a);
	for (int i = 0; i < 200; i++) {
		T_CHECK(s[i] != 0);
		xm_uring_slot_free(ur, s[i]);
	}
	xm_uring_slot_free(ur, sb);
	xm_uring_slot_free(ur, sc);
	T_CHECK(!xm_uring_busy(ur));
	xm_uring_free(ur);
	T_CHECK_EQ(pool.allocated, 0); /* every ring buffer went back */
	xm_pool_destroy(&pool);
}

/* Bulk on the ring (splice disabled, so pairs never leave it): a multishot receive takes
 * every buffer the ring has, the next ones find it empty (counted) and are re-armed once the
 * ring is refilled; bytes must arrive intact and nothing may stall. */
static void test_bulk_on_ring(void)
{
	struct t_server up;
	struct xm_dp *dp = NULL;
	uint8_t *buf;
	size_t len;
	char err[256];

	setenv("XMESH_DISABLE_SPLICE", "1", 1);
	struct xm_dp_opts o = { .nworkers = 1, .stats_capacity = 8u << 20, .io_backend = XM_IO_URING + 1 };
	T_CHECK_EQ(xm_dp_new(&dp, &o), 0);
	unsetenv("XMESH_DISABLE_SPLICE");
	if (!dp)
		return;
	T_CHECK_EQ(t_echo_start(&up), 0);
	t_snapshot_tcp(1, "l", "c", &up.port, 1, 0, 0, 0, &buf, &len);
	T_CHECK_EQ(xm_dp_apply(dp, buf, len, err, sizeof(err)), 0);
	free(buf);
	uint16_t port = t_listener_port(dp, "l");
	for (int i = 0; i < 4; i++) {
		int intact = 0;
		T_CHECK_EQ(t_roundtrip(port, 16u << 20, 10000, &intact), 16u << 20);
		T_CHECK(intact);
	}
	T_CHECK_EQ(t_stat(dp, "tcp.{stat_prefix=l}.splice_started_total"), 0);
	T_CHECK(t_stat(dp, "tcp.{stat_prefix=l}.bytes_copied") < (16 << 20)); /* by reference, mostly */
	fprintf(stderr, "  receives that found the ring empty: %lld\n", t_stat(dp, "dataplane.io_uring_recv_nobufs_total"));
	T_CHECK_EQ(t_stat(dp, "dataplane.io_uring_enter_errors_total"), 0); /* registered, and no failed wait */
	xm_dp_free(dp);
	t_echo_stop(&up);
}

T_MAIN_BEGIN
	T_RUN("backend names parse; unknown ones are refused", test_parse);
	T_RUN("auto falls back to epoll when seccomp refuses io_uring; a required io_uring fails", test_fallback);
	T_RUN("slots change generation when reused; the ring is idle without connections", test_slots);
	T_RUN("bulk on the ring (no splice): 4 x 16 MiB intact through buffer starvation", test_bulk_on_ring);
T_MAIN_END
