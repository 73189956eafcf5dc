/* Internals shared by the two files of the xmesh-bpf command line (xmesh_bpf_main.c, xmesh_bpf_testrun.c). */
#ifndef XM_BPF_XMESH_BPF_CLI_H
#define XM_BPF_XMESH_BPF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redirect_loader.h"

#define CLI_MAX_LIST 1024
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Everything the command line parsed. */
struct cli {
	struct xm_redirect_config cfg;
	const char *netns, *iface, *cidr, *lists[4];
	long pid, fd, port;
	bool no_listener;
	const char *deny[64], *packets[256], *lookups[256];
	size_t n_deny, n_packets, n_lookups;
	uint16_t ports[2][CLI_MAX_LIST];
	struct xm_redirect_cidr cidrs[2][CLI_MAX_LIST];
};

/* Prints "xmesh-bpf: <fmt with arg>" and the usage; returns CLI_EXIT_USAGE. */
int xmesh_bpf__usage_error(const char *fmt, const char *arg);
/* Prints "xmesh-bpf: what: msg (or strerror(-err))"; returns CLI_EXIT_FAIL. */
int xmesh_bpf__fail(const char *what, int err, const char *msg);
/* Decimal number <= max into *out. */
bool xmesh_bpf__num(const char *s, unsigned long max, unsigned long *out);
/* "10.0.0.0/8", "fd00::/8" or a bare address. */
bool xmesh_bpf__cidr(const char *s, struct xm_redirect_cidr *c);
/* The list options into c->cfg.lists; 0 or a usage exit code. */
int xmesh_bpf__lists(struct cli *c);
/* `xmesh-bpf test-run xdp|sk_lookup ...` */
int xmesh_bpf__test_run(struct cli *c, const char *prog);

#endif
