/* Tests for the eBPF capability probe: it loads, verifies and test-runs bpf/xmesh_probe. */
#include <errno.h>
#include <unistd.h>

#include "bpf/loader.h"
#include "t.h"

/* Skip (counted as passed) where BPF cannot be loaded at all: not root, or root in a
 * container/lockdown that refuses bpf(). Any other failure is a real failure. */
static int have_bpf_privilege(const char **why)
{
	static char reason[256];
	static int checked, ok;
	if (!checked) {
		checked = 1;
		ok = 1;
		if (geteuid() != 0) {
			snprintf(reason, sizeof(reason), "not root (needs CAP_BPF/CAP_SYS_ADMIN)");
			ok = 0;
		} else {
			int err = xm_bpf_probe(reason, sizeof(reason));
			if (err == -EPERM || err == -EACCES || err == -ENOSYS)
				ok = 0;
		}
	}
	*why = reason;
	return ok;
}

static void skip_or(void (*fn)(void))
{
	const char *why;
	if (!have_bpf_privilege(&why)) {
		fprintf(stderr, "  skip: %s\n", why);
		return; /* counted as passed */
	}
	fn();
}

static void test_probe_counts_one_packet(void)
{
	struct xm_bpf_probe_result r;
	char msg[256];
	int err = xm_bpf_probe_ex(&r, msg, sizeof(msg));
	fprintf(stderr, "  %s\n", msg);
	T_CHECK_EQ(err, 0);
	T_CHECK_EQ(r.retval, 1);
	T_CHECK_EQ(r.packets, 1);
	T_CHECK_EQ(r.bytes, XM_BPF_PROBE_L3_LEN);
	T_CHECK(r.libbpf_major >= 1);
}

static void test_probe_is_repeatable(void)
{
	/* Each probe owns a fresh skeleton: counters never carry over between calls. */
	struct xm_bpf_probe_result a, b;
	char msg[256];
	T_CHECK_EQ(xm_bpf_probe_ex(&a, msg, sizeof(msg)), 0);
	T_CHECK_EQ(xm_bpf_probe_ex(&b, msg, sizeof(msg)), 0);
	T_CHECK_EQ(a.packets, b.packets);
	T_CHECK_EQ(b.packets, 1);
}

static void test_plain_api_writes_summary(void)
{
	char msg[256];
	T_CHECK_EQ(xm_bpf_probe(msg, sizeof(msg)), 0);
	T_CHECK(strncmp(msg, "bpf ok:", 7) == 0);
}

static void test_tiny_buffer_is_terminated(void)
{
	char msg[8];
	memset(msg, 'x', sizeof(msg));
	xm_bpf_probe(msg, sizeof(msg));
	T_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
}

static void case_counts(void) { skip_or(test_probe_counts_one_packet); }
static void case_repeat(void) { skip_or(test_probe_is_repeatable); }
static void case_plain(void) { skip_or(test_plain_api_writes_summary); }
static void case_tiny(void) { skip_or(test_tiny_buffer_is_terminated); }

T_MAIN_BEGIN
	static const struct {
		const char *desc;
		void (*fn)(void);
	} cases[] = {
		{"probe loads, test-runs once and counts 1 packet of L3 length", case_counts},
		{"probe is repeatable: fresh counters per call", case_repeat},
		{"xm_bpf_probe writes a 'bpf ok:' summary", case_plain},
		{"a tiny message buffer stays NUL-terminated", case_tiny},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_RUN(cases[i].desc, cases[i].fn);
T_MAIN_END
