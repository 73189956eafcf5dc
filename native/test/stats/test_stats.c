/* Tests for the shared-memory stats block: find-or-create, hot-restart adoption, foreach, overflow, key sanitising, batched creation. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/file.h>
#include <unistd.h>

#include "stats/stats.h"
#include "t.h"
#include "xm.h"

static char path_buf[128];
static const char *tmp_path(const char *tag)
{
	snprintf(path_buf, sizeof(path_buf), "/dev/shm/xmesh-test-%d-%s.stats", (int)getpid(), tag);
	unlink(path_buf);
	return path_buf;
}

struct visit {
	int n, counters, gauges, hists, stop_after;
	const char *want;
	int found;
	enum xm_stat_type found_type;
};

static int visit_cb(void *ctx, enum xm_stat_type type, const char *key, const void *value)
{
	struct visit *v = ctx;
	v->n++;
	v->counters += type == XM_STAT_COUNTER;
	v->gauges += type == XM_STAT_GAUGE;
	v->hists += type == XM_STAT_HIST;
	if (v->want && strcmp(v->want, key) == 0) {
		v->found++;
		v->found_type = type;
	}
	T_CHECK(((uintptr_t)value & 7) == 0);
	return v->stop_after && v->n >= v->stop_after;
}

static void test_find_or_create(void)
{
	struct xm_stats *s;
	T_CHECK_EQ(xm_stats_open(&s, NULL, 1 << 20), 0);
	if (!s)
		return;
	uint64_t *a = xm_stats_counter(s, "a.b"), *a2 = xm_stats_counter(s, "a.b"), *c = xm_stats_counter(s, "a.c");
	int64_t *g = xm_stats_gauge(s, "g");
	struct xm_hist *h = xm_stats_hist(s, "h");
	T_CHECK(a && a == a2 && c && c != a && g && h);
	T_CHECK(((uintptr_t)a & 7) == 0 && ((uintptr_t)g & 7) == 0 && ((uintptr_t)h & 7) == 0);
	T_CHECK_EQ(*a, 0);
	xm_stat_inc(a);
	xm_stat_add(a, 4);
	xm_gauge_add(g, -3);
	xm_hist_record(h, 100);
	T_CHECK_EQ(*xm_stats_counter(s, "a.b"), 5);
	T_CHECK_EQ(*xm_stats_gauge(s, "g"), -3);
	T_CHECK_EQ(xm_stats_hist(s, "h")->count, 1);
	/* The same key with another type is refused, and counted as overflow. */
	T_CHECK(xm_stats_gauge(s, "a.b") == NULL);
	T_CHECK_EQ(*xm_stats_counter(s, "stats.overflow_total"), 1);
	T_CHECK(strcmp(xm_stats_path(s), "") == 0);
	T_CHECK(xm_stats_used(s) > 64 && xm_stats_used(s) <= xm_stats_capacity(s));
	/* Many keys: the index grows and every key keeps its own slot. */
	uint64_t *p[2000];
	for (int i = 0; i < 2000; i++) {
		p[i] = xm_stats_counterf(s, "k.%d", i);
		*p[i] = (uint64_t)i;
	}
	int ok = 1;
	for (int i = 0; i < 2000; i++)
		ok &= xm_stats_counterf(s, "k.%d", i) == p[i] && *p[i] == (uint64_t)i;
	T_CHECK(ok);
	xm_stats_close(s);
}

static void test_hot_restart(void)
{
	const char *path = tmp_path("restart");
	struct xm_stats *old, *nw = NULL;
	T_CHECK_EQ(xm_stats_open(&old, path, 1 << 20), 0);
	if (!old)
		return;
	uint64_t *c = xm_stats_counter(old, "cluster.{cluster=a}.upstream_cx_total");
	int64_t *g = xm_stats_gauge(old, "cluster.{cluster=a}.upstream_cx_active");
	xm_stat_add(c, 41);
	xm_gauge_set(g, 7);

	/* The new process maps the same file while the old one is still running. */
	T_CHECK_EQ(xm_stats_open(&nw, path, 1 << 20), 0);
	if (!nw)
		goto out;
	uint64_t *c2 = xm_stats_counter(nw, "cluster.{cluster=a}.upstream_cx_total");
	T_CHECK_EQ(*c2, 41);
	T_CHECK_EQ(*xm_stats_gauge(nw, "cluster.{cluster=a}.upstream_cx_active"), 7);
	xm_stat_inc(c2); /* both see every increment: one counter, two mappings */
	xm_stat_inc(c);
	T_CHECK_EQ(*c, 43);
	T_CHECK_EQ(*c2, 43);
	/* An entry the new process adds is found (not duplicated) by the old one. */
	uint64_t *n1 = xm_stats_counter(nw, "new.key");
	xm_stat_add(n1, 3);
	uint64_t *n2 = xm_stats_counter(old, "new.key");
	T_CHECK(n2 && *n2 == 3);
	struct visit v = { .want = "new.key" };
	xm_stats_foreach(old, visit_cb, &v);
	T_CHECK_EQ(v.found, 1);
	T_CHECK_EQ(xm_stats_used(old), xm_stats_used(nw));
	/* The old process exits; a third generation still has everything. */
	xm_stats_close(old);
	old = NULL;
	xm_stats_close(nw);
	T_CHECK_EQ(xm_stats_open(&nw, path, 1 << 20), 0);
	if (nw) {
		T_CHECK_EQ(*xm_stats_counter(nw, "cluster.{cluster=a}.upstream_cx_total"), 43);
		T_CHECK_EQ(*xm_stats_counter(nw, "new.key"), 3);
		T_CHECK(strcmp(xm_stats_path(nw), path) == 0);
	}
out:
	xm_stats_close(old);
	xm_stats_close(nw);
	unlink(path);
}

static void test_adopt_capacity(void)
{
	const char *path = tmp_path("cap");
	struct xm_stats *a, *b = NULL;
	T_CHECK_EQ(xm_stats_open(&a, path, 1 << 16), 0);
	if (!a)
		return;
	/* Asking for less keeps the block as big as it is; asking for more grows it. */
	T_CHECK_EQ(xm_stats_open(&b, path, 4096), 0);
	if (b)
		T_CHECK_EQ(xm_stats_capacity(b), 1 << 16);
	xm_stats_close(b);
	T_CHECK_EQ(xm_stats_open(&b, path, 1 << 17), 0);
	if (b)
		T_CHECK_EQ(xm_stats_capacity(b), 1 << 17);
	xm_stats_close(b);
	xm_stats_close(a);
	unlink(path);
}

static void test_incompatible_file(void)
{
	const char *path = tmp_path("junk");
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	T_CHECK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	close(fd);
	struct xm_stats *s;
	/* A foreign or older-version file is replaced, not trusted. */
	T_CHECK_EQ(xm_stats_open(&s, path, 1 << 16), 0);
	if (s) {
		struct visit v = { 0 };
		xm_stats_foreach(s, visit_cb, &v);
		T_CHECK_EQ(v.n, 3); /* only the block's own: overflow_total, capacity_bytes, used_bytes */
		xm_stats_close(s);
	}
	unlink(path);
	T_CHECK_EQ(xm_stats_open(&s, NULL, 16), -EINVAL);
	T_CHECK(s == NULL);
}

static void test_foreach(void)
{
	struct xm_stats *s;
	T_CHECK_EQ(xm_stats_open(&s, NULL, 1 << 20), 0);
	if (!s)
		return;
	for (int i = 0; i < 10; i++)
		xm_stats_counterf(s, "c.%d", i);
	for (int i = 0; i < 5; i++)
		xm_stats_gaugef(s, "g.%d", i);
	for (int i = 0; i < 3; i++)
		xm_stats_histf(s, "h.%d", i);
	struct visit v = { .want = "g.4" };
	T_CHECK_EQ(xm_stats_foreach(s, visit_cb, &v), 0);
	T_CHECK_EQ(v.n, 21);
	T_CHECK_EQ(v.counters, 11); /* + stats.overflow_total */
	T_CHECK_EQ(v.gauges, 7);    /* + stats.capacity_bytes, stats.used_bytes */
	T_CHECK_EQ(v.hists, 3);
	T_CHECK(v.found == 1 && v.found_type == XM_STAT_GAUGE);
	struct visit stop = { .stop_after = 4 };
	T_CHECK_EQ(xm_stats_foreach(s, visit_cb, &stop), 1);
	T_CHECK_EQ(stop.n, 4);
	xm_stats_close(s);
}

static void test_overflow(void)
{
	struct xm_stats *s;
	T_CHECK_EQ(xm_stats_open(&s, NULL, 4096), 0);
	if (!s)
		return;
	int created = 0, nulls = 0;
	for (int i = 0; i < 500; i++) {
		char key[32];
		snprintf(key, sizeof(key), "counter.%d", i);
		if (xm_stats_counter(s, key))
			created++;
		else
			nulls++;
	}
	T_CHECK(created > 50 && nulls > 0);
	T_CHECK(xm_stats_used(s) <= xm_stats_capacity(s));
	uint64_t ov = *xm_stats_counter(s, "stats.overflow_total");
	T_CHECK_EQ(ov, nulls);
	/* The first key that did not fit is kept for the log line; the gauges say how full. */
	char first[160], want[32];
	T_CHECK_EQ(xm_stats_overflow(s, first, sizeof(first)), (uint64_t)nulls);
	snprintf(want, sizeof(want), "counter.%d", created);
	T_CHECK(strcmp(first, want) == 0);
	int64_t *used = xm_stats_gauge(s, "stats.used_bytes"), *cap = xm_stats_gauge(s, "stats.capacity_bytes");
	T_CHECK(used && cap);
	T_CHECK_EQ(*used, (int64_t)xm_stats_used(s));
	T_CHECK_EQ(*cap, (int64_t)xm_stats_capacity(s));
	/* The formatted variants never return NULL: a process-local dummy takes the writes. */
	uint64_t *d = xm_stats_counterf(s, "counter.more.%d", 1);
	int64_t *dg = xm_stats_gaugef(s, "counter.more.%d", 2);
	struct xm_hist *dh = xm_stats_histf(s, "counter.more.%d", 3);
	T_CHECK(d && dg && dh);
	xm_stat_inc(d);
	xm_gauge_add(dg, 1);
	xm_hist_record(dh, 5);
	T_CHECK_EQ(*xm_stats_counter(s, "stats.overflow_total"), ov + 3);
	/* Existing entries are still found when full. */
	T_CHECK(xm_stats_counter(s, "counter.0") != NULL);
	xm_stats_close(s);
}

static void test_format_sanitise(void)
{
	static const struct {
		const char *desc, *label, *want;
	} cases[] = {
		{ "plain label unchanged", "backend", "cluster.{cluster=backend}.cx_total" },
		{ "'}' in a label becomes '_'", "a}b", "cluster.{cluster=a_b}.cx_total" },
		{ "every '}' is replaced", "}}", "cluster.{cluster=__}.cx_total" },
	};
	struct xm_stats *s;
	T_CHECK_EQ(xm_stats_open(&s, NULL, 1 << 20), 0);
	if (!s)
		return;
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		uint64_t *f = xm_stats_counterf(s, "cluster.{cluster=%s}.cx_total", cases[i].label);
		if (f != xm_stats_counter(s, cases[i].want))
			fprintf(stderr, "  case: %s\n", cases[i].desc);
		T_CHECK(f == xm_stats_counter(s, cases[i].want));
	}
	/* Other conversions are formatted as printf would; literal '}' in fmt is kept. */
	uint64_t *f = xm_stats_counterf(s, "x.{a=%d}.{b=%u}.{c=%zu}.{d=%lld}.{e=%05.1f}.{f=%x}.{g=%c}.%%.%.2s", -1, 2u,
					(size_t)3, -4ll, 2.5, 255, 'z', "abc");
	T_CHECK(f == xm_stats_counter(s, "x.{a=-1}.{b=2}.{c=3}.{d=-4}.{e=002.5}.{f=ff}.{g=z}.%.ab"));
	/* A key longer than any inline buffer. */
	char longv[1500];
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	uint64_t *l = xm_stats_counterf(s, "long.{v=%s}", longv);
	char want[1600];
	snprintf(want, sizeof(want), "long.{v=%s}", longv);
	T_CHECK(l == xm_stats_counter(s, want));
	xm_stats_close(s);
}

/* 1 if another open file description can take the block's file lock right now. */
static int lock_free(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), ok;
	if (fd < 0)
		return -1;
	ok = flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (!ok && errno != EWOULDBLOCK)
		ok = -1;
	close(fd);
	return ok;
}

static double create_ms(struct xm_stats *s, const char *tag, int n, int batch)
{
	uint64_t t0 = xm_now_us();
	if (batch)
		xm_stats_batch_begin(s);
	for (int i = 0; i < n; i++)
		xm_stats_counterf(s, "t.{tag=%s}.{i=%d}.c", tag, i);
	if (batch)
		xm_stats_batch_end(s);
	return (double)(xm_now_us() - t0) / 1000.0;
}

static void test_batch(void)
{
	const char *path = tmp_path("batch");
	struct xm_stats *a, *b = NULL;
	enum { N = 20000 };

	T_CHECK_EQ(xm_stats_open(&a, path, 64u << 20), 0);
	if (!a)
		return;
	T_CHECK_EQ(lock_free(path), 1);
	xm_stats_batch_begin(a);
	xm_stats_batch_begin(a); /* nests */
	for (int i = 0; i < N; i++)
		xm_stat_add(xm_stats_counterf(a, "batch.{i=%d}.n", i), (uint64_t)i);
	/* The file lock is held across the batch (taken once, not per entry) ... */
	T_CHECK_EQ(lock_free(path), 0);
	xm_stats_batch_end(a);
	T_CHECK_EQ(lock_free(path), 0);
	/* ... and every entry is published and found again without a second record. */
	size_t used = xm_stats_used(a);
	T_CHECK_EQ(*xm_stats_counter(a, "batch.{i=7}.n"), 7);
	T_CHECK_EQ(xm_stats_used(a), used);
	xm_stats_batch_end(a);
	/* After the batch another process can lock, map and append to the block. */
	T_CHECK_EQ(lock_free(path), 1);
	T_CHECK_EQ(xm_stats_open(&b, path, 64u << 20), 0);
	if (b) {
		T_CHECK_EQ(*xm_stats_counter(b, "batch.{i=0}.n"), 0);
		T_CHECK_EQ(*xm_stats_counter(b, "batch.{i=19999}.n"), N - 1);
		xm_stat_add(xm_stats_counter(b, "after.batch"), 5);
		T_CHECK_EQ(*xm_stats_counter(a, "after.batch"), 5);
		T_CHECK_EQ(xm_stats_used(a), xm_stats_used(b));
	}
	/* What the batch saves (informational): N new entries with one lock vs one per entry. */
	double per = create_ms(a, "per", N, 0), bat = create_ms(a, "bat", N, 1);
	fprintf(stderr, "  %d new entries: %.1f ms with a lock per entry, %.1f ms batched\n", N, per, bat);
	xm_stats_close(a);
	xm_stats_close(b);
	unlink(path);
}

T_MAIN_BEGIN
T_RUN("find-or-create returns one aligned slot per key and type", test_find_or_create);
T_RUN("hot restart: a second open of the file continues the same counters", test_hot_restart);
T_RUN("adopting keeps or grows the capacity, never shrinks it", test_adopt_capacity);
T_RUN("an incompatible file is replaced; tiny capacity refused", test_incompatible_file);
T_RUN("foreach visits every entry with its type and can stop early", test_foreach);
T_RUN("a full block counts overflow and hands out dummy slots", test_overflow);
T_RUN("formatted keys: %s label values are sanitised", test_format_sanitise);
T_RUN("batched creation holds the file lock once and publishes every entry", test_batch);
T_MAIN_END
