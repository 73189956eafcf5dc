// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* xmesh_probe: a cgroup_skb/egress program that counts packets and bytes; used to prove at
 * startup (load + verify + BPF_PROG_TEST_RUN) that this kernel and libbpf can run xmesh's
 * eBPF. It never drops anything and is not attached by the probe. */
#if __has_include("vmlinux.h")
#include "vmlinux.h"
#else
#include <linux/bpf.h>
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xmesh_abi.h"

#define XM_ETH_P_IP 0x0800
#define XM_ETH_P_IPV6 0x86DD
#define XM_IPV4_PROTO_OFF 9
#define XM_IPV6_NEXTHDR_OFF 6

/* 0 = count every packet; otherwise count only IPv4/IPv6 packets with this L4 protocol
 * (6 = TCP). Set in the skeleton's rodata before load. */
const volatile __u8 match_ip_proto = 0;

/* Packet/byte counters, one slot per CPU so the hot path takes no atomic. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xm_probe_counters);
} probe_counters SEC(".maps");

static __always_inline int xm__proto_matches(struct __sk_buff *skb)
{
	__u8 proto = 0;
	__u32 off;

	if (match_ip_proto == 0)
		return 1;
	if (skb->protocol == bpf_htons(XM_ETH_P_IP))
		off = XM_IPV4_PROTO_OFF;
	else if (skb->protocol == bpf_htons(XM_ETH_P_IPV6))
		off = XM_IPV6_NEXTHDR_OFF;
	else
		return 0;
	/* cgroup_skb data starts at the L3 header */
	if (bpf_skb_load_bytes(skb, off, &proto, sizeof(proto)) < 0)
		return 0;
	return proto == match_ip_proto;
}

SEC("cgroup_skb/egress")
int xmesh_probe(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct xm_probe_counters *c;

	if (!xm__proto_matches(skb))
		return 1;
	c = bpf_map_lookup_elem(&probe_counters, &key);
	if (c) {
		c->packets++;
		c->bytes += skb->len;
	}
	return 1; /* 1 = allow: the probe observes, never drops */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
