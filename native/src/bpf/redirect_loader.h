/* eBPF traffic redirection for one xmesh instance: loads bpf/xmesh_redirect through its libbpf
 * skeleton, attaches its programs (app cgroup, sidecar cgroup, their common parent, a network
 * namespace, an interface), pins maps and links under /sys/fs/bpf/xmesh/<instance>/v1/ so
 * redirection outlives the process and survives a restart, and removes all of it again.
 *
 * Contract: functions return 0 or -errno and, when msg/msglen are given, leave a plain
 * reason in msg ("sk_lookup needs Linux 5.9 ..."). They are not thread-safe with each other
 * or with other libbpf users of the same process (they swap libbpf's print hook). */
#ifndef XM_BPF_REDIRECT_LOADER_H
#define XM_BPF_REDIRECT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an install attaches. Each maps to the programs of bpf/xmesh_redirect it needs. */
enum xm_redirect_feature {
	XM_FEAT_CONNECT = 1u << 0,   /* cgroup/connect4+6 on the app cgroup, sockops on the parent */
	XM_FEAT_ORIGDST = 1u << 1,   /* cgroup/getsockopt SO_ORIGINAL_DST on the sidecar cgroup (5.3) */
	XM_FEAT_SOCKMAP = 1u << 2,   /* sockops on the parent + sk_msg on sock_pairs */
	XM_FEAT_SKLOOKUP = 1u << 3,  /* sk_lookup on the pod's network namespace (5.9) */
	XM_FEAT_XDP = 1u << 4,       /* XDP deny list on an interface */
	XM_FEAT__ALL = (1u << 5) - 1,
};

/* An address prefix: IPv4 in ip[0], IPv6 in ip[0..3], network order; len in bits. */
struct xm_redirect_cidr {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint8_t len;
	uint32_t ip[4];
};

/* Replaceable lists: written into their maps before any program is attached at install, and
 * replaced whole (entries not in the new list are removed) by xm_redirect_set_lists(). A NULL
 * pointer with n == 0 means "empty"; `set` flags say which lists a call replaces. */
struct xm_redirect_lists {
	bool set_exclude_ports, set_exclude_cidrs, set_include_cidrs, set_inbound_ports;
	const uint16_t *exclude_ports;
	size_t n_exclude_ports;
	const struct xm_redirect_cidr *exclude_cidrs;
	size_t n_exclude_cidrs;
	const struct xm_redirect_cidr *include_cidrs;
	size_t n_include_cidrs;
	const uint16_t *inbound_ports;
	size_t n_inbound_ports;
};

/* Everything one install needs. Every field is explicit: the control core owns the defaults. */
struct xm_redirect_config {
	const char *instance;       /* [A-Za-z0-9_.-]{1,64}: the pin directory's name */
	unsigned features;          /* XM_FEAT_* */
	const char *app_cgroup;     /* cgroup v2 directory of the application (CONNECT) */
	const char *sidecar_cgroup; /* cgroup v2 directory of xmesh (ORIGDST) */
	const char *sockops_cgroup; /* a cgroup v2 directory above both (CONNECT, SOCKMAP) */
	int netns_fd;               /* network namespace for sk_lookup (SKLOOKUP), else -1 */
	int ifindex;                /* interface in the current namespace for XDP, else 0 */
	bool xdp_generic;           /* XDP in generic (skb) mode even where the driver has native */
	uint32_t outbound_ip4;      /* host order, e.g. 0x7f000001 */
	uint32_t outbound_ip6[4];   /* network order, e.g. ::1 */
	uint16_t outbound_port;
	uint16_t inbound_port;
	uint32_t exclude_uid;       /* 0xffffffff: none */
	uint32_t exclude_mark;      /* 0: none */
	bool include_only;
	bool redirect_ipv6;
	bool inbound_steer_all;
	struct xm_redirect_lists lists;
};

/* What an install did, per attachment, for the caller to report. */
struct xm_redirect_result {
	unsigned attached;        /* XM_FEAT_* now attached */
	unsigned replaced;        /* of those, how many were live-replaced through pinned links */
	bool reused_maps;         /* the maps existed (restart): their contents were kept */
	const char *xdp_mode;     /* "native", "generic" or NULL when XDP is not attached */
};

/* Loads and attaches cfg->features for cfg->instance. A second install of the same instance
 * replaces each program atomically through its pinned link (no moment without redirection),
 * keeps the pinned maps and their contents, and detaches the features no longer asked for.
 * A fresh install that fails part-way removes what it attached. Refuses a cgroup2 root. */
int xm_redirect_install(const struct xm_redirect_config *cfg, struct xm_redirect_result *res,
			char *msg, size_t msglen);

/* Detaches every link and program of the instance and removes its pins (maps go with their
 * last reference). *removed counts the pins removed; 0 when nothing was installed (not an
 * error). */
int xm_redirect_uninstall(const char *instance, unsigned *removed, char *msg, size_t msglen);

/* Replaces the lists cfg->set_* name in the pinned maps of a running instance. */
int xm_redirect_set_lists(const char *instance, const struct xm_redirect_lists *lists, char *msg,
			  size_t msglen);

/* Puts a listening TCP socket into the sk_lookup target map (slot 0 for IPv4, 1 for IPv6).
 * fd is a socket of this process (the addon passes its listener; the CLI fetches one from
 * another process with pidfd_getfd). */
int xm_redirect_set_inbound_listener(const char *instance, int fd, char *msg, size_t msglen);

/* Instance names are [A-Za-z0-9_.-]{1,64}: they become one path component. */
bool xm_redirect_instance_valid(const char *instance);

#endif
