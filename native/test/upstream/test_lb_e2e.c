/* Load-balancing policies end to end: real connections through the data plane to real servers. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/dp.h"
#include "t.h"
#include "t_net.h"

#define NHOSTS 3

struct t_env {
	struct t_server ups[NHOSTS];
	uint16_t ports[NHOSTS];
	struct xm_dp *dp;
	uint16_t port;
};

static void t__up(struct t_env *e, unsigned workers, struct t_snap_opts *o)
{
	struct xm_dp_opts dopts = { .nworkers = workers, .stats_capacity = 8u << 20 };
	uint8_t *buf;
	size_t len;
	char err[256];

	for (int i = 0; i < NHOSTS; i++) {
		T_CHECK_EQ(t_echo_start(&e->ups[i]), 0);
		e->ports[i] = e->ups[i].port;
	}
	T_CHECK_EQ(xm_dp_new(&e->dp, &dopts), 0);
	o->version = 1;
	o->ports = e->ports;
	o->nports = NHOSTS;
	t_snapshot_opts(o, &buf, &len);
	T_CHECK_EQ(xm_dp_apply(e->dp, buf, len, err, sizeof(err)), 0);
	free(buf);
	e->port = t_listener_port(e->dp, "l");
}

static void t__down(struct t_env *e)
{
	xm_dp_free(e->dp);
	for (int i = 0; i < NHOSTS; i++)
		t_echo_stop(&e->ups[i]);
}

static void t__counts(struct t_env *e, unsigned long *c)
{
	for (int i = 0; i < NHOSTS; i++)
		c[i] = __atomic_load_n(&e->ups[i].accepted, __ATOMIC_RELAXED);
	fprintf(stderr, "  hosts got %lu / %lu / %lu\n", c[0], c[1], c[2]);
}

/* n short connections, each from its own source address when distinct_src. */
static void t__connections(struct t_env *e, int n, int distinct_src, const char *fixed_src)
{
	char src[32];
	for (int i = 0; i < n; i++) {
		if (distinct_src)
			snprintf(src, sizeof(src), "127.0.%d.%d", 1 + i / 200, 1 + i % 200);
		int fd = t_hold_from(distinct_src ? src : fixed_src, e->port, 3000);
		T_CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
	}
}

static void test_weighted_round_robin(void)
{
	struct t_env e;
	static const uint32_t w[NHOSTS] = { 1, 2, 3 };
	struct t_snap_opts o = { .lb_policy = 2, .weights = w };
	unsigned long c[NHOSTS];

	t__up(&e, 1, &o);
	t__connections(&e, 60, 0, NULL);
	t__counts(&e, c);
	/* One worker, one smooth cycle of 6: proportions are exact. */
	T_CHECK_EQ(c[0], 10);
	T_CHECK_EQ(c[1], 20);
	T_CHECK_EQ(c[2], 30);
	t__down(&e);
}

static void test_random(void)
{
	struct t_env e;
	struct t_snap_opts o = { .lb_policy = 1 };
	unsigned long c[NHOSTS];

	t__up(&e, 2, &o);
	t__connections(&e, 300, 0, NULL);
	t__counts(&e, c);
	/* Expected 100 each; +-30 is > 5 sigma for a fair random choice. */
	for (int i = 0; i < NHOSTS; i++)
		T_CHECK(c[i] >= 70 && c[i] <= 130);
	t__down(&e);
}

/* Least request: with connections held open, each new one goes to a less loaded host, so
 * the held set stays balanced (power of two choices). */
static void test_least_request(void)
{
	struct t_env e;
	struct t_snap_opts o = { .lb_policy = 3 };
	unsigned long c[NHOSTS];
	int held[30];

	t__up(&e, 1, &o);
	for (int i = 0; i < 30; i++) {
		held[i] = t_hold_from(NULL, e.port, 3000);
		T_CHECK(held[i] >= 0);
	}
	t__counts(&e, c);
	for (int i = 0; i < NHOSTS; i++)
		T_CHECK(c[i] >= 7 && c[i] <= 13);
	for (int i = 0; i < 30; i++)
		if (held[i] >= 0)
			close(held[i]);
	t__down(&e);
}

/* Consistent hashing on the source IP: one client address always lands on one host;
 * many addresses spread over all hosts. */
static void test_consistent_hash(int policy)
{
	struct t_env e;
	struct t_snap_opts o = { .lb_policy = policy };
	unsigned long c[NHOSTS], c2[NHOSTS];

	t__up(&e, 2, &o);
	t__connections(&e, 30, 0, "127.0.9.9");
	t__counts(&e, c);
	int hosts_used = (c[0] > 0) + (c[1] > 0) + (c[2] > 0);
	T_CHECK_EQ(hosts_used, 1);
	t__connections(&e, 300, 1, NULL);
	t__counts(&e, c2);
	for (int i = 0; i < NHOSTS; i++)
		T_CHECK(c2[i] - c[i] >= 50);
	t__down(&e);
}

static void test_ring_hash(void) { test_consistent_hash(4); }
static void test_maglev(void) { test_consistent_hash(5); }

/* A host the control core marks unhealthy gets nothing until it is marked healthy again. */
static void test_control_plane_health(void)
{
	struct t_env e;
	struct t_snap_opts o = { .lb_policy = 0 };
	unsigned long c[NHOSTS], c2[NHOSTS];
	char host[32];

	t__up(&e, 1, &o);
	snprintf(host, sizeof(host), "127.0.0.1:%u", e.ports[1]);
	T_CHECK_EQ(xm_dp_set_health(e.dp, "c", host, 0), 0);
	T_CHECK_EQ(xm_dp_set_health(e.dp, "c", "127.0.0.1:1", 0), -ENOENT);
	t__connections(&e, 30, 0, NULL);
	t__counts(&e, c);
	T_CHECK_EQ(c[1], 0);
	T_CHECK_EQ(c[0] + c[2], 30);
	T_CHECK_EQ(xm_dp_set_health(e.dp, "c", host, 1), 0);
	t__connections(&e, 30, 0, NULL);
	t__counts(&e, c2);
	T_CHECK(c2[1] >= 9);
	t__down(&e);
}

T_MAIN_BEGIN
	signal(SIGPIPE, SIG_IGN);
	T_RUN("weighted round robin 1:2:3 gives exactly 10/20/30 of 60 connections", test_weighted_round_robin);
	T_RUN("random spreads 300 connections fairly over 3 hosts", test_random);
	T_RUN("least request keeps 30 held connections balanced", test_least_request);
	T_RUN("ring hash: one source IP sticks to one host, many spread", test_ring_hash);
	T_RUN("maglev: one source IP sticks to one host, many spread", test_maglev);
	T_RUN("host marked unhealthy by the control core receives nothing until healthy", test_control_plane_health);
T_MAIN_END
