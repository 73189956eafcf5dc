/* eBPF capability probe: load + verify + BPF_PROG_TEST_RUN of bpf/xmesh_probe, never attached. */
#include "bpf/loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps.h"
#include "xmesh_probe.skel.h"

/* libbpf chatter (verifier logs, missing-BTF warnings) only with XMESH_BPF_DEBUG set: the
 * probe's result is the return code and msg, not stderr noise. */
static int bpf_loader__print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!getenv("XMESH_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Plain-language reason for a load failure; errno values are those libbpf returns. */
static const char *bpf_loader__reason(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return geteuid() == 0 ? "BPF not permitted (root, but blocked: lockdown, seccomp or a "
					"container without CAP_BPF/CAP_SYS_ADMIN?)"
				      : "BPF not permitted: need CAP_BPF/CAP_SYS_ADMIN";
	case ENOSYS:
		return "kernel has no bpf() syscall (CONFIG_BPF_SYSCALL off)";
	case EINVAL:
		return "kernel rejected the program or map (too old for cgroup_skb/per-CPU arrays?)";
	case ENOMEM:
		return "out of memory loading BPF (RLIMIT_MEMLOCK too low on a pre-5.11 kernel?)";
	case ESRCH:
	case ENOENT:
		return access("/sys/kernel/btf/vmlinux", R_OK) == 0 ? "BPF object or kernel feature not found"
								   : "kernel lacks BTF (/sys/kernel/btf/vmlinux missing)";
	case ENOTSUP:
		return "operation not supported by this kernel";
	default:
		return "BPF load failed";
	}
}

/* Ethernet + IPv4 + TCP header + zero payload, XM_BPF_PROBE_PKT_LEN bytes in all. */
static void bpf_loader__fill_packet(unsigned char *pkt)
{
	memset(pkt, 0, XM_BPF_PROBE_PKT_LEN);
	/* Ethernet: dst/src MAC zero, ethertype IPv4 */
	pkt[12] = 0x08;
	pkt[13] = 0x00;
	unsigned char *ip = pkt + 14;
	ip[0] = 0x45;                                        /* v4, IHL 5 */
	uint16_t tot = htons(XM_BPF_PROBE_L3_LEN);
	memcpy(ip + 2, &tot, 2);
	ip[8] = 64;                                          /* TTL */
	ip[9] = 6;                                           /* TCP */
	uint32_t lo = htonl(0x7f000001);
	memcpy(ip + 12, &lo, 4);
	memcpy(ip + 16, &lo, 4);
	unsigned char *tcp = ip + 20;
	tcp[12] = 5 << 4;                                    /* data offset 5 words */
	tcp[13] = 0x10;                                      /* ACK */
}

int xm_bpf_probe(char *msg, size_t msglen)
{
	return xm_bpf_probe_ex(NULL, msg, msglen);
}

int xm_bpf_probe_ex(struct xm_bpf_probe_result *res, char *msg, size_t msglen)
{
	struct xmesh_probe_bpf *skel = NULL;
	struct xm_probe_counters *percpu = NULL;
	unsigned char pkt[XM_BPF_PROBE_PKT_LEN];
	libbpf_print_fn_t old_print;
	int ncpu, err, i;
	uint64_t packets = 0, bytes = 0;

	if (msglen)
		msg[0] = '\0';
	if (res) {
		memset(res, 0, sizeof(*res));
		res->libbpf_major = libbpf_major_version();
		res->libbpf_minor = libbpf_minor_version();
	}
	old_print = libbpf_set_print(bpf_loader__print);

	skel = xmesh_probe_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(msg, msglen, "%s (open: %s)", bpf_loader__reason(-err), strerror(-err));
		goto out;
	}
	skel->rodata->match_ip_proto = 0; /* count everything: the knob is exercised, not used */
	err = xmesh_probe_bpf__load(skel);
	if (err) {
		err = err < 0 ? err : -EINVAL;
		snprintf(msg, msglen, "%s (load: %s)", bpf_loader__reason(-err), strerror(-err));
		goto out;
	}

	bpf_loader__fill_packet(pkt);
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 1);
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xmesh_probe), &topts);
	if (err) {
		err = -errno;
		snprintf(msg, msglen, "BPF_PROG_TEST_RUN failed: %s", strerror(-err));
		goto out;
	}
	if (res)
		res->retval = topts.retval;
	if (topts.retval != 1) {
		err = -EPROTO;
		snprintf(msg, msglen, "probe program returned %u, expected 1 (allow)", topts.retval);
		goto out;
	}

	/* Per-CPU lookup returns one 8-byte-aligned value per *possible* CPU. */
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		err = ncpu < 0 ? ncpu : -EINVAL;
		snprintf(msg, msglen, "cannot count possible CPUs: %s", strerror(-err));
		goto out;
	}
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu) {
		err = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	uint32_t key = 0;
	err = bpf_map__lookup_elem(skel->maps.probe_counters, &key, sizeof(key), percpu,
				   (size_t)ncpu * sizeof(*percpu), 0);
	if (err) {
		err = -errno;
		snprintf(msg, msglen, "reading probe_counters failed: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < ncpu; i++) {
		packets += percpu[i].packets;
		bytes += percpu[i].bytes;
	}
	if (res) {
		res->packets = packets;
		res->bytes = bytes;
	}
	snprintf(msg, msglen, "bpf ok: libbpf %u.%u, prog verified, test_run counted %llu packet%s/%llu bytes",
		 libbpf_major_version(), libbpf_minor_version(), (unsigned long long)packets,
		 packets == 1 ? "" : "s", (unsigned long long)bytes);
	err = 0;
out:
	free(percpu);
	xmesh_probe_bpf__destroy(skel);
	libbpf_set_print(old_print);
	return err;
}
