/* The loop's timer wheel: when the loop sleeps until (xm_loop_timer_timeout), and that
 * timers still fire on time and in order when it sleeps that long. */
#include "t.h"

#include "loop.h"
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
	T_CHECK_EQ(xm_loop_init(&l), 0);
	T_CHECK_EQ(xm_loop_timer_timeout(&l), -1);
	xm_loop_close(&l);
}

/* The wait is the time to the deadline rounded up to the next tick, never shorter. */
static void test_timeout_to_deadline(void)
{
	struct xm_loop l;
	struct xm_timer t;
	T_CHECK_EQ(xm_loop_init(&l), 0);
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
	T_CHECK_EQ(xm_loop_init(&l), 0);
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

/* A deadline more than one revolution away wakes the loop once per revolution, not per tick. */
static void test_far_timer_wakes_per_revolution(void)
{
	struct xm_loop l;
	struct xm_timer t;
	T_CHECK_EQ(xm_loop_init(&l), 0);
	at(&l, 77777);
	xm_timer_init(&t, on_timer);
	xm_timer_start(&l, &t, 3600 * 1000);
	int rev = (int)(XM_WHEEL_SLOTS * XM_WHEEL_TICK_MS);
	int w = xm_loop_timer_timeout(&l); /* first pass over its slot: within one revolution */
	T_CHECK(w >= 0 && w <= rev);
	at(&l, l.now_ms + (uint64_t)w); /* that pass: not due, stays; next pass one revolution on */
	w = xm_loop_timer_timeout(&l);
	T_CHECK(w > rev - (int)XM_WHEEL_TICK_MS && w <= rev);
	xm_timer_stop(&l, &t);
	xm_loop_close(&l);
}

/* Real turns on the real clock: a 120 ms and a 40 ms timer fire in deadline order, never
 * early, and the loop needs a handful of turns for it instead of one per 8 ms tick. */
static void test_real_turns(void)
{
	struct xm_loop l;
	struct xm_timer a, b;
	T_CHECK_EQ(xm_loop_init(&l), 0);
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
	T_CHECK_EQ(xm_loop_init(&l), 0);
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
T_RUN("a timer a revolution away wakes once per revolution", test_far_timer_wakes_per_revolution);
T_RUN("timers fire in order, not early, in a few turns", test_real_turns);
T_RUN("the turn's end runs after that turn's timers", test_turn_end_after_timers);
T_MAIN_END
