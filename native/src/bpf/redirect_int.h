/* Internals shared by the redirect loader's files: pin paths, the attachment table, errors. */
#ifndef XM_BPF_REDIRECT_INT_H
#define XM_BPF_REDIRECT_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "xmesh_abi.h"

/* Where an attachment's program attaches. */
enum xm_redirect__target {
	XM_T_APP_CGROUP,
	XM_T_SIDECAR_CGROUP,
	XM_T_SOCKOPS_CGROUP,
	XM_T_NETNS,
	XM_T_IFINDEX,
	XM_T_SOCKHASH, /* bpf_prog_attach to sock_pairs: no link, the program is pinned instead */
};

/* One program the loader attaches: its name in the skeleton, the features that need it, and
 * the pin under links/ (or progs/ for XM_T_SOCKHASH) that holds it attached. */
struct xm_redirect__att {
	const char *prog;
	unsigned features; /* attached when any of these is installed */
	enum bpf_attach_type type;
	enum xm_redirect__target target;
	const char *pin;
};

extern const struct xm_redirect__att xm_redirect__atts[];
extern const size_t xm_redirect__n_atts;

/* Pin paths: XM_PIN_ROOT/<instance>/v<ABI>[/<sub>[/<name>]]. Returns 0 or -ENAMETOOLONG. */
int xm_redirect__path(char *buf, size_t len, const char *instance, const char *sub, const char *name);

/* -ENOTSUP with a message when /sys/fs/bpf is not a bpffs mount. */
int xm_redirect__check_bpffs(char *msg, size_t msglen);

/* Formats into msg (when given) and returns err, for `return xm_redirect__fail(...)`. */
int xm_redirect__fail(int err, char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* libbpf's print hook: silent unless XMESH_BPF_DEBUG is set (verifier logs on demand). */
int xm_redirect__print(enum libbpf_print_level level, const char *fmt, va_list ap);

struct xm_redirect_cidr;

/* Map-fd level updates behind the instance-level API (also used on an unpinned test load):
 * replace a port set / CIDR set, add a deny rule. Return 0 or -errno. */
int xm_redirect__set_ports_fd(int fd, const __u16 *ports, size_t n);
int xm_redirect__set_cidrs_fd(int fd, const struct xm_redirect_cidr *c, size_t n);
int xm_redirect__deny_add_fd(int rules_fd, int counters_fd, const struct xm_redirect_cidr *c, __u16 port,
			     __u32 *id);

/* Opens a pinned map of the instance; -errno (ENOENT: not installed). */
int xm_redirect__map_fd(const char *instance, const char *name);

#endif
