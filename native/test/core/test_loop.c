/* The loop's timer wheel: when the loop sleeps until (xm_loop_timer_timeout), and that
 * timers still fire on time and in order when it sleeps that long. */
#include "t.h"

#include "core/loop.h"
#include "xm.h"

static int fired[8];
static int nfired;
static uint64_t fired_at[8];
static struct xm_loop *cur_loop;

static void on_timer(struct xm_timer *t)
{
	(void)t;
	if (nfired < 8)
		fired_at[nfired] = cur_loop->now_ms;
	fired[nfired < 8 ? nfired : 7] = 1;
	nfired++;
}

/* A loop whose clock and wheel position the test sets (no turn reads the clock). */
static void at(struct xm_loop *l, uint64_t now_ms)
{
	l->now_ms = now_ms;
	l->wheel_tick = now_ms / XM_WHEEL_TICK_MS;
}

static void test_no_timer(void)
{
	struct xm_loop l;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	T_CHECK_EQ(xm_loop_timer_timeout(&l), -1);
	xm_loop_close(&l);
}

/* The wait is the time to the deadline rounded up to the next tick, never shorter. */
static void test_timeout_to_deadline(void)
{
	struct xm_loop l;
	struct xm_timer t;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	at(&l, 1000003);
	xm_timer_init(&t, on_timer);
	xm_timer_start(&l, &t, 100);
	int w = xm_loop_timer_timeout(&l);
	T_CHECK(w >= 100 && w < 100 + (int)XM_WHEEL_TICK_MS);
	xm_timer_stop(&l, &t);
	T_CHECK_EQ(xm_loop_timer_timeout(&l), -1);
	xm_loop_close(&l);
}

/* Stopping the earliest timer moves the wait to the next one (its slot's bit is stale and
 * cleared by the scan), also when the next one lies past the end of the slot array. */
static void test_stop_earliest_and_wrap(void)
{
	struct xm_loop l;
	struct xm_timer a, b;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	/* wheel position 500 of 512: a 200 ms timer lands 25 ticks on, in slot 13 */
	at(&l, (uint64_t)(3 * XM_WHEEL_SLOTS + 500) * XM_WHEEL_TICK_MS + 5);
	xm_timer_init(&a, on_timer);
	xm_timer_init(&b, on_timer);
	xm_timer_start(&l, &a, 50);
	xm_timer_start(&l, &b, 200);
	int w = xm_loop_timer_timeout(&l);
	T_CHECK(w >= 50 && w < 50 + (int)XM_WHEEL_TICK_MS);
	xm_timer_stop(&l, &a);
	w = xm_loop_timer_timeout(&l);
	T_CHECK(w >= 200 && w < 200 + (int)XM_WHEEL_TICK_MS);
	xm_timer_stop(&l, &b);
	T_CHECK_EQ(xm_loop_timer_timeout(&l), -1);
	xm_loop_close(&l);
}

/* Simulated clock: timers that each remember when they fired. */
struct sim_timer {
	struct xm_timer t;
	uint64_t deadline, fired_at;
	int fires, stopped, rearm_ms;
};
static struct xm_loop *sim_loop;

static void sim_fire(struct xm_timer *t)
{
	struct sim_timer *st = xm_container_of(t, struct sim_timer, t);
	st->fires++;
	st->fired_at = sim_loop->now_ms;
	if (st->rearm_ms > 0 && st->fires == 1) { /* started again from its own callback */
		st->deadline = sim_loop->now_ms + (uint64_t)st->rearm_ms;
		xm_timer_start(sim_loop, &st->t, (uint64_t)st->rearm_ms);
	}
}

/* Sleep as the loop would (until xm_loop_timer_timeout) and run the due timers, until none
 * is left; returns how many wakeups that took. */
static int sim_run(struct xm_loop *l, int max_wakes)
{
	int wakes = 0;
	for (int w; (w = xm_loop_timer_timeout(l)) >= 0 && wakes < max_wakes; wakes++) {
		l->now_ms += (uint64_t)w;
		xm_loop_run_timers(l);
	}
	return wakes;
}

static void sim_start(struct xm_loop *l, struct sim_timer *st, uint64_t after_ms)
{
	memset(st, 0, sizeof(*st));
	xm_timer_init(&st->t, sim_fire);
	st->deadline = l->now_ms + after_ms;
	xm_timer_start(l, &st->t, after_ms);
}

/* Deadlines from 10 ms to 30 h: each fires within one tick after its deadline, never early,
 * and the loop wakes a few times per deadline (far slots cascade once per 4 s span, and a
 * deadline past the far wheel's ~35 min is placed again once per ~35 min), not once per
 * tick or per near revolution. */
static void test_far_timers(void)
{
	static const uint64_t after[] = { 10, 3000, 5000, 100000, 40 * 60000, 3600000, 3 * 3600000, 30 * 3600000ull };
	enum { N = sizeof(after) / sizeof(after[0]) };
	struct sim_timer ts[N];
	struct xm_loop l;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	sim_loop = &l;
	at(&l, 123456789);
	for (int i = 0; i < N; i++)
		sim_start(&l, &ts[i], after[i]);
	int wakes = sim_run(&l, 100000);
	for (int i = 0; i < N; i++) {
		T_CHECK_EQ(ts[i].fires, 1);
		T_CHECK(ts[i].fired_at >= ts[i].deadline && ts[i].fired_at < ts[i].deadline + XM_WHEEL_TICK_MS);
	}
	fprintf(stderr, "  %d wakeups for %d timers up to 30 h\n", wakes, N);
	T_CHECK(wakes <= 3 * N + 30 * 60 / 34); /* 30 h: ~53 placements of ~35 min */
	T_CHECK_EQ(l.ntimers, 0);
	xm_loop_close(&l);
}

/* 3,000 timers with random deadlines up to 3 h, a quarter stopped before they are due and
 * a tenth started again from their own callback: every live one fires exactly once (twice
 * when restarted) within a tick of its deadline, no stopped one fires. */
static void test_random_timers(void)
{
	enum { N = 3000 };
	static struct sim_timer ts[N];
	struct xm_loop l;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	sim_loop = &l;
	at(&l, 987654321);
	for (int i = 0; i < N; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33;
		uint64_t after_ms = (i % 3 == 0) ? r % 5000 : r % (3 * 3600000ull);
		sim_start(&l, &ts[i], after_ms);
		if (i % 10 == 1)
			ts[i].rearm_ms = (int)(r % 7000000);
	}
	for (int i = 0; i < N; i += 4) {
		xm_timer_stop(&l, &ts[i].t);
		ts[i].stopped = 1;
	}
	int wakes = sim_run(&l, 1000000);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int want = ts[i].stopped ? 0 : ts[i].rearm_ms > 0 ? 2 : 1;
		if (ts[i].fires != want ||
		    (want && (ts[i].fired_at < ts[i].deadline || ts[i].fired_at >= ts[i].deadline + XM_WHEEL_TICK_MS)))
			bad++;
	}
	fprintf(stderr, "  %d wakeups, %d timers off\n", wakes, bad);
	T_CHECK_EQ(bad, 0);
	T_CHECK_EQ(l.ntimers, 0);
	xm_loop_close(&l);
}

/* A worker that did not turn for hours: the overdue fire in its first pass, the others
 * still on time. */
static void test_clock_jump(void)
{
	struct sim_timer a, b, c;
	struct xm_loop l;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	sim_loop = &l;
	at(&l, 5000000);
	sim_start(&l, &a, 1000);
	sim_start(&l, &b, 2 * 3600000);
	sim_start(&l, &c, 5 * 3600000);
	l.now_ms += 3 * 3600000; /* stalled 3 h */
	xm_loop_run_timers(&l);
	T_CHECK_EQ(a.fires, 1);
	T_CHECK_EQ(b.fires, 1);
	T_CHECK_EQ(c.fires, 0);
	sim_run(&l, 1000);
	T_CHECK_EQ(c.fires, 1);
	T_CHECK(c.fired_at >= c.deadline && c.fired_at < c.deadline + XM_WHEEL_TICK_MS);
	xm_loop_close(&l);
}

/* Real turns on the real clock: a 120 ms and a 40 ms timer fire in deadline order, never
 * early, and the loop needs a handful of turns for it instead of one per 8 ms tick. */
static void test_real_turns(void)
{
	struct xm_loop l;
	struct xm_timer a, b;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	cur_loop = &l;
	nfired = 0;
	memset(fired, 0, sizeof(fired));
	xm_timer_init(&a, on_timer);
	xm_timer_init(&b, on_timer);
	uint64_t t0 = l.now_ms;
	xm_timer_start(&l, &a, 120);
	xm_timer_start(&l, &b, 40);
	int turns = 0;
	while (nfired < 2 && turns < 100) {
		T_CHECK(xm_loop_run_once(&l, -1) >= 0);
		turns++;
	}
	T_CHECK_EQ(nfired, 2);
	T_CHECK(fired_at[0] >= t0 + 40);
	T_CHECK(fired_at[1] >= t0 + 120);
	T_CHECK(fired_at[0] < fired_at[1]);
	/* one turn per deadline, plus at most one early return each (EINTR, clock rounding) */
	T_CHECK(turns <= 4);
	T_CHECK_EQ(xm_loop_timer_timeout(&l), -1);
	xm_loop_close(&l);
}

static int turn_ends_after_fire;
static void on_turn_end(struct xm_loop *l)
{
	(void)l;
	if (nfired > 0 && turn_ends_after_fire == 0)
		turn_ends_after_fire = nfired;
}

/* A timer's callback writes are batched output: the turn's end (which flushes it) must
 * come after the timers of that turn, or the answer waits for the next wakeup. */
static void test_turn_end_after_timers(void)
{
	struct xm_loop l;
	struct xm_timer t;
	T_CHECK_EQ(xm_loop_init(&l, 0), 0);
	cur_loop = &l;
	nfired = 0;
	turn_ends_after_fire = 0;
	l.turn_end = on_turn_end;
	xm_timer_init(&t, on_timer);
	xm_timer_start(&l, &t, 20);
	for (int turns = 0; nfired == 0 && turns < 10; turns++)
		T_CHECK(xm_loop_run_once(&l, -1) >= 0);
	T_CHECK_EQ(nfired, 1);
	T_CHECK_EQ(turn_ends_after_fire, 1); /* the firing turn's end saw it */
	xm_loop_close(&l);
}

T_MAIN_BEGIN
T_RUN("no timer armed: the loop may sleep without a deadline", test_no_timer);
T_RUN("the wait ends at the deadline rounded up to a tick", test_timeout_to_deadline);
T_RUN("stopping the earliest timer moves the wait on, across the wheel's end", test_stop_earliest_and_wrap);
T_RUN("deadlines from 10 ms to 30 h fire on time with a few wakeups each", test_far_timers);
T_RUN("3,000 random timers, stopped and restarted ones: each fires on time, once", test_random_timers);
T_RUN("after a 3 h stall the overdue fire at once, the rest on time", test_clock_jump);
T_RUN("timers fire in order, not early, in a few turns", test_real_turns);
T_RUN("the turn's end runs after that turn's timers", test_turn_end_after_timers);
T_MAIN_END
