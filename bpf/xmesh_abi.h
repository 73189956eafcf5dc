/* The ABI between xmesh's eBPF programs (bpf/) and their user-space loader (native/src/bpf/):
 * map keys and values, counter indexes, limits and the pin layout. Both sides include this one
 * header; a struct here is only ever extended at its end, and a change that breaks a pinned map
 * bumps XM_ABI_VERSION (the pin directory's name), so an old and a new xmesh never share maps. */
#ifndef XM_BPF_ABI_H
#define XM_BPF_ABI_H

/* BPF side gets __u32/__u64 from vmlinux.h or <linux/bpf.h>; user space from <linux/types.h>. */
#if !defined(__VMLINUX_H__) && !defined(__LINUX_BPF_H__)
#include <linux/types.h>
#endif

/* Pins live in /sys/fs/bpf/xmesh/<instance>/v<XM_ABI_VERSION>/{maps,links,progs}/. */
#define XM_ABI_VERSION 1
#define XM_PIN_ROOT "/sys/fs/bpf/xmesh"

/* Address families as the kernel numbers them (vmlinux.h has no AF_* macros). */
#define XM_AF_INET 2
#define XM_AF_INET6 10

/* getsockopt(2) names the original-destination query uses (netfilter's numbers, so
 * `use_original_dst` code written for iptables REDIRECT works unchanged). */
#define XM_SOL_IP 0
#define XM_SOL_IPV6 41
#define XM_SO_ORIGINAL_DST 80      /* SOL_IP: struct sockaddr_in */
#define XM_IP6T_SO_ORIGINAL_DST 80 /* SOL_IPV6: struct sockaddr_in6 */

/* Limits: each map's size is defined here once and nowhere else (maps.h, loader, status). */
#define XM_ORIG_DST_MAX 65536   /* connections whose original destination is remembered */
#define XM_SOCKHASH_MAX 65536   /* app<->sidecar loopback sockets in the sockhash */
#define XM_PORTS_MAX 256        /* entries of each port list (exclude, inbound) */
#define XM_CIDRS_MAX 256        /* entries of each CIDR list (exclude, include) */
#define XM_DENY_RULES_MAX 1024  /* XDP deny rules; a rule's id indexes its counters */
#define XM_INBOUND_LISTENERS 2  /* sk_lookup targets: slot 0 IPv4, slot 1 IPv6 */

/* An address as the kernel stores it, network byte order: IPv4 in ip[0] with ip[1..3] zero,
 * IPv6 in ip[0..3]. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is always stored as IPv4
 * with family XM_AF_INET, so a dual-stack socket and a v4 socket build the same key. */

/* One TCP connection seen from one of its ends: the key of the sockhash (sk_msg redirect) and
 * of orig_dst_by_tuple. Built only by xm_sock_key_build() (bpf/sock_key.h). 40 bytes, no
 * implicit padding: hash keys are compared bytewise. */
struct xm_sock_key {
	__u32 local_ip[4];  /* network order */
	__u32 remote_ip[4]; /* network order */
	__u16 local_port;   /* host order */
	__u16 remote_port;  /* host order */
	__u16 family;       /* XM_AF_INET or XM_AF_INET6 */
	__u16 zero;         /* always 0 */
};

/* Where an application meant to connect before connect4/6 rewrote it to the outbound
 * listener. Value of orig_dst_by_cookie and orig_dst_by_tuple. */
struct xm_orig_dst {
	__u32 ip[4];  /* network order, IPv4 in ip[0] */
	__u16 port;   /* host order */
	__u16 family; /* XM_AF_INET or XM_AF_INET6 */
	__u32 uid;    /* uid of the process that called connect() */
	__u32 zero;
};

/* Key of the include/exclude CIDR tries (BPF_MAP_TYPE_LPM_TRIE). The trie matches bits from
 * `family` on, so prefixlen = 32 + the CIDR's prefix length, and an IPv4 rule never matches
 * an IPv6 address. */
struct xm_cidr_key {
	__u32 prefixlen;
	__u16 family; /* XM_AF_INET or XM_AF_INET6 */
	__u16 zero;
	__u32 ip[4];  /* network order */
};
#define XM_CIDR_KEY_BITS(cidr_len) (32 + (cidr_len))

/* Key of the XDP deny trie: destination port and family first, then the source prefix, so
 * prefixlen = 32 + the CIDR's prefix length. Port 0 means any port (and non-TCP/UDP). */
struct xm_deny_key {
	__u32 prefixlen;
	__u16 port;   /* destination port, network order; 0 = any */
	__u16 family; /* XM_AF_INET or XM_AF_INET6 */
	__u32 ip[4];  /* source address, network order */
};

/* Value of the deny trie: which counters slot the rule owns. */
struct xm_deny_rule {
	__u32 id; /* < XM_DENY_RULES_MAX */
	__u32 zero;
};

/* Per-CPU value of deny_counters[id]. */
struct xm_deny_counters {
	__u64 packets;
	__u64 bytes;
};

/* Every counter of the redirect programs: one per-CPU u64 each in `counters`, indexed by
 * enum xm_counter. X(name, description); the loader prints `name`. Append only. */
#define XM_COUNTERS(X)                                                                           \
	X(connect_redirected, "connects rewritten to the outbound listener")                     \
	X(connect_skip_loopback, "connects to a loopback address left alone")                    \
	X(connect_skip_port, "connects to an excluded port left alone")                          \
	X(connect_skip_cidr, "connects to an excluded CIDR left alone")                          \
	X(connect_skip_not_included, "connects outside the include-only CIDRs left alone")       \
	X(connect_skip_uid, "connects by the excluded uid left alone")                           \
	X(connect_skip_mark, "connects from sockets with the excluded mark left alone")          \
	X(connect_skip_ipv6, "IPv6 connects left alone (IPv6 redirection off)")                  \
	X(connect_record_failed, "connects left alone because the cookie map was full")          \
	X(origdst_recorded, "established app sockets whose original destination moved to the tuple map") \
	X(origdst_released, "tuple-map entries removed when the app socket closed")              \
	X(getsockopt_hit, "SO_ORIGINAL_DST answered from the tuple map")                         \
	X(getsockopt_local, "SO_ORIGINAL_DST answered with the socket's own local address")      \
	X(sockhash_added, "loopback sockets added to the sockhash")                              \
	X(sockhash_add_failed, "loopback sockets the sockhash refused (full?)")                   \
	X(skmsg_redirected, "sendmsg calls moved socket to socket by sk_msg")                    \
	X(skmsg_redirected_bytes, "bytes moved socket to socket by sk_msg")                      \
	X(skmsg_passed, "sendmsg calls left on the TCP path (peer not in the sockhash)")         \
	X(sklookup_steered, "inbound connections handed to the inbound listener")                \
	X(sklookup_no_listener, "inbound connections left alone: no inbound listener registered") \
	X(sklookup_assign_failed, "inbound connections left alone: bpf_sk_assign failed")

#define XM__COUNTER_ENUM(name, desc) XM_C_##name,
enum xm_counter { XM_COUNTERS(XM__COUNTER_ENUM) XM_C__COUNT };
#undef XM__COUNTER_ENUM

/* xmesh_probe: value of the per-CPU `probe_counters` array (one slot, key 0). User space
 * sums the per-CPU copies. Only ever extended at the end. */
struct xm_probe_counters {
	__u64 packets; /* packets the program saw (after the rodata protocol filter) */
	__u64 bytes;   /* skb->len summed: L3 bytes for cgroup_skb */
};

#endif
