/* Every map of xmesh's redirection programs, declared once. Each part (bpf/<part>.bpf.c) includes this
 * header and `bpftool gen object` links them into one xmesh_redirect.bpf.o, so the weak
 * definitions below become one map each, shared by every program of the skeleton. User space
 * includes it only for the ABI (the map declarations exist for BPF targets alone). */
#ifndef XM_BPF_MAPS_H
#define XM_BPF_MAPS_H

#include "xmesh_abi.h"

#if defined(__bpf__)
#include <bpf/bpf_helpers.h>

#define XM_MAP SEC(".maps") __weak

/* Per-CPU counters, one u64 per enum xm_counter (so the hot path takes no atomic). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_C__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters XM_MAP;

/* Original destination by socket cookie, written by connect4/6 before the socket has a port. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_ORIG_DST_MAX);
	__type(key, __u64);
	__type(value, struct xm_orig_dst);
} orig_dst_by_cookie XM_MAP;

/* Original destination by the app socket's (local, remote) tuple, moved there by sockops on ESTABLISHED. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_ORIG_DST_MAX);
	__type(key, struct xm_sock_key);
	__type(value, struct xm_orig_dst);
} orig_dst_by_tuple XM_MAP;

/* Destination ports (host order) connect4/6 never redirect. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} exclude_ports XM_MAP;

/* Destination CIDRs connect4/6 never redirect. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_CIDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_cidr_key);
	__type(value, __u8);
} exclude_cidrs XM_MAP;

/* In include-only mode, the only destination CIDRs connect4/6 redirect. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_CIDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_cidr_key);
	__type(value, __u8);
} include_cidrs XM_MAP;

/* App<->sidecar loopback sockets by their own tuple; sk_msg redirects into the peer's entry. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, XM_SOCKHASH_MAX);
	__type(key, struct xm_sock_key);
	__type(value, __u64);
} sock_pairs XM_MAP;

/* Sockets that once sent on the TCP path (peer not yet in sock_pairs): they stay on it, so bytes never overtake each other. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XM_SOCKHASH_MAX);
	__type(key, struct xm_sock_key);
	__type(value, __u8);
} unpaired XM_MAP;

/* Inbound ports (host order): the ports steered to the inbound listener, or the ports left alone when inbound_steer_all is set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XM_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} inbound_ports XM_MAP;

/* The inbound listener sockets sk_lookup hands connections to: slot 0 IPv4, slot 1 IPv6. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, XM_INBOUND_LISTENERS);
	__type(key, __u32);
	__type(value, __u64);
} inbound_listener XM_MAP;

/* XDP deny rules: (destination port, family, source CIDR) -> rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XM_DENY_RULES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xm_deny_key);
	__type(value, struct xm_deny_rule);
} deny_rules XM_MAP;

/* Per-CPU packets/bytes dropped by each deny rule, indexed by rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XM_DENY_RULES_MAX);
	__type(key, __u32);
	__type(value, struct xm_deny_counters);
} deny_counters XM_MAP;

/* Adds n to counter c on this CPU. */
static __always_inline void xm_count(enum xm_counter c, __u64 n)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += n;
}

#endif /* __bpf__ */
#endif
