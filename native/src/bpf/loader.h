/* eBPF capability probe: loads, verifies and test-runs a trivial program so the control core
 * can report plainly whether this host can run xmesh's eBPF redirection. */
#ifndef XM_BPF_LOADER_H
#define XM_BPF_LOADER_H

#include <stddef.h>

/* Opens and loads the xmesh_probe skeleton, runs it once through BPF_PROG_TEST_RUN on a
 * small synthetic IPv4/TCP packet, reads its per-CPU counters, then destroys everything
 * (nothing is attached or pinned). Returns 0 with a summary in msg ("bpf ok: libbpf 1.1,
 * prog verified, test_run counted 1 packet/50 bytes"), or -errno with a plain reason
 * ("BPF not permitted: need CAP_BPF/CAP_SYS_ADMIN"). msg is always NUL-terminated when
 * msglen > 0. Not thread-safe with other libbpf users (it swaps libbpf's print hook). */
int xm_bpf_probe(char *msg, size_t msglen);

/* What the probe observed, for callers (and tests) that want numbers rather than text. */
struct xm_bpf_probe_result {
	unsigned libbpf_major, libbpf_minor;
	unsigned retval;             /* program return code from the test run (1 = allow) */
	unsigned long long packets;  /* probe_counters summed over CPUs */
	unsigned long long bytes;
};

/* xm_bpf_probe() that also fills *res (zeroed first; may be NULL). */
int xm_bpf_probe_ex(struct xm_bpf_probe_result *res, char *msg, size_t msglen);

/* Bytes of the synthetic packet handed to BPF_PROG_TEST_RUN (Ethernet + IPv4 + TCP + payload),
 * and what a cgroup_skb program sees of it (the kernel strips the Ethernet header). */
#define XM_BPF_PROBE_PKT_LEN 64
#define XM_BPF_PROBE_L3_LEN (XM_BPF_PROBE_PKT_LEN - 14)

#endif
