/* A tiny table-driven test harness for the native core: no framework, plain "N passed, N failed". */
#ifndef XM_T_H
#define XM_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int t__failed, t__passed, t__case_failed;
extern const char *t__case;

/* Check a condition inside a case; a failure marks the case failed and continues. */
#define T_CHECK(cond)                                                                        \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "  FAIL %s: %s:%d: %s\n", t__case, __FILE__, __LINE__, #cond); \
			t__case_failed = 1;                                                  \
		}                                                                            \
	} while (0)
#define T_CHECK_EQ(a, b)                                                                     \
	do {                                                                                 \
		long long t__a = (long long)(a), t__b = (long long)(b);                      \
		if (t__a != t__b) {                                                          \
			fprintf(stderr, "  FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", t__case,  \
				__FILE__, __LINE__, #a, #b, t__a, t__b);                     \
			t__case_failed = 1;                                                  \
		}                                                                            \
	} while (0)

/* A behaviour we want that native/src does not have yet: a bug, described where the check
 * stands and tagged id. Reported on every run but not counted as a failure (the suite stays
 * green while the bug is open); once cond holds it says so, and should become a T_CHECK. */
#define T_KNOWN_BUG(id, cond, what)                                                          \
	do {                                                                                 \
		if (!(cond))                                                                 \
			fprintf(stderr, "  KNOWN BUG (%s) %s:%d: %s\n", id, __FILE__, __LINE__, what); \
		else                                                                         \
			fprintf(stderr, "  KNOWN BUG (%s) %s:%d: no longer seen, make it a T_CHECK\n", id, \
				__FILE__, __LINE__);                                         \
	} while (0)

/* Run one named case: T_RUN("round robin visits every host", test_rr); */
#define T_RUN(desc, fn)                                                                      \
	do {                                                                                 \
		t__case = (desc);                                                            \
		t__case_failed = 0;                                                          \
		fn();                                                                        \
		if (t__case_failed) {                                                        \
			t__failed++;                                                         \
			fprintf(stderr, "not ok - %s\n", t__case);                           \
		} else {                                                                     \
			t__passed++;                                                         \
			fprintf(stderr, "ok - %s\n", t__case);                               \
		}                                                                            \
	} while (0)

/* The values a cluster config must carry (the control core's defaults; 0 is not "unset"). */
#define T_CLUSTER_REQUIRED                                                                   \
	.connect_timeout_ms = 5000, .per_connection_buffer_limit = 1u << 20, .max_connections = 1024, \
	.max_pending_requests = 1024, .max_requests = 1024, .max_retries = 3, .ring_hash_min_size = 1024

#define T_MAIN_BEGIN                                                                         \
	int t__failed, t__passed, t__case_failed;                                            \
	const char *t__case;                                                                 \
	int main(void)                                                                       \
	{
#define T_MAIN_END                                                                           \
	printf("%s: %d passed, %d failed\n", __FILE__, t__passed, t__failed);                \
	return t__failed ? 1 : 0;                                                            \
	}

#endif
