/* Kernel feature probes for eBPF redirection (see redirect_probe.h). */
#include "redirect_probe.h"
#include "redirect_int.h"
#include "redirect_loader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

enum redirect_probe__kind { PROBE_PROG, PROBE_MAP, PROBE_LINK, PROBE_BTF, PROBE_PIDFD_GETFD };

struct redirect_probe__def {
	const char *name, *what, *needs;
	unsigned features;
	enum redirect_probe__kind kind;
	enum bpf_prog_type prog_type;
	enum bpf_attach_type attach_type;
	enum bpf_map_type map_type;
};

static const struct redirect_probe__def redirect_probe__defs[XM_REDIRECT_N_PROBES] = {
	{ "kernel_btf", "CO-RE relocations (/sys/kernel/btf/vmlinux)", "Linux 5.4 with CONFIG_DEBUG_INFO_BTF",
	  XM_FEAT__ALL, PROBE_BTF },
	{ "bpf_link", "attachments pinned as bpf_links (kept across restarts, replaced atomically)", "Linux 5.7",
	  XM_FEAT__ALL, PROBE_LINK },
	{ "cgroup_connect", "cgroup/connect4+6 outbound redirection", "Linux 4.17",
	  XM_FEAT_CONNECT, PROBE_PROG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT },
	{ "sockops", "sockops (original destination by tuple, sockhash inserts)", "Linux 4.13",
	  XM_FEAT_CONNECT | XM_FEAT_SOCKMAP, PROBE_PROG, BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS },
	{ "lru_hash", "LRU hash maps (original destinations)", "Linux 4.10",
	  XM_FEAT_CONNECT | XM_FEAT_SOCKMAP, PROBE_MAP, 0, 0, BPF_MAP_TYPE_LRU_HASH },
	{ "lpm_trie", "LPM trie maps (CIDR lists, deny rules)", "Linux 4.11",
	  XM_FEAT_CONNECT | XM_FEAT_XDP, PROBE_MAP, 0, 0, BPF_MAP_TYPE_LPM_TRIE },
	{ "cgroup_getsockopt", "cgroup/getsockopt answering SO_ORIGINAL_DST", "Linux 5.3",
	  XM_FEAT_ORIGDST, PROBE_PROG, BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT },
	{ "sk_msg", "sk_msg socket-to-socket redirection", "Linux 4.17",
	  XM_FEAT_SOCKMAP, PROBE_PROG, BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT },
	{ "sockhash", "sockhash maps", "Linux 4.18",
	  XM_FEAT_SOCKMAP, PROBE_MAP, 0, 0, BPF_MAP_TYPE_SOCKHASH },
	{ "sk_lookup", "sk_lookup inbound steering", "Linux 5.9",
	  XM_FEAT_SKLOOKUP, PROBE_PROG, BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP },
	{ "xdp", "XDP deny list", "Linux 5.9 (XDP through bpf_link)",
	  XM_FEAT_XDP, PROBE_PROG, BPF_PROG_TYPE_XDP, BPF_XDP },
	{ "pidfd_getfd", "registering another process's inbound listener (CLI)", "Linux 5.6",
	  0, PROBE_PIDFD_GETFD },
};

static int redirect_probe__prog(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	/* r0 = 1; exit: "allow"/SK_PASS/XDP_DROP-free for every type probed */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int fd = bpf_prog_load(type, "xm_probe", "GPL", insns, 2, &opts);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int redirect_probe__map(enum bpf_map_type type)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	__u32 key_size = 4, value_size = 8, flags = 0;
	int fd;

	if (type == BPF_MAP_TYPE_LPM_TRIE) {
		key_size = 8;
		flags = BPF_F_NO_PREALLOC;
	}
	opts.map_flags = flags;
	fd = bpf_map_create(type, "xm_probe", key_size, value_size, 4, &opts);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* BPF_LINK_CREATE with a bad program fd: EBADF where the command exists, EINVAL where not. */
static int redirect_probe__link(void)
{
	int fd = bpf_link_create(-1, -1, BPF_CGROUP_INET4_CONNECT, NULL);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EBADF ? 0 : -errno;
}

/* pidfd_getfd on a bad pidfd: EBADF where the syscall exists, ENOSYS where not. */
static int redirect_probe__pidfd_getfd(void)
{
#ifdef SYS_pidfd_getfd
	if (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS)
		return -ENOSYS;
	return 0;
#else
	return -ENOSYS;
#endif
}

unsigned xm_redirect_probe_all(struct xm_redirect_probe *out, size_t cap, size_t *n)
{
	libbpf_print_fn_t old_print = libbpf_set_print(xm_redirect__print);
	unsigned missing = 0;

	*n = 0;
	for (size_t i = 0; i < XM_REDIRECT_N_PROBES && i < cap; i++) {
		const struct redirect_probe__def *d = &redirect_probe__defs[i];
		int err;

		switch (d->kind) {
		case PROBE_PROG: err = redirect_probe__prog(d->prog_type, d->attach_type); break;
		case PROBE_MAP: err = redirect_probe__map(d->map_type); break;
		case PROBE_LINK: err = redirect_probe__link(); break;
		case PROBE_BTF: err = access("/sys/kernel/btf/vmlinux", R_OK) ? -errno : 0; break;
		default: err = redirect_probe__pidfd_getfd(); break;
		}
		out[i] = (struct xm_redirect_probe){ d->name, d->what, d->needs, d->features, err };
		if (err)
			missing |= d->features;
		(*n)++;
	}
	libbpf_set_print(old_print);
	return XM_FEAT__ALL & ~missing;
}
