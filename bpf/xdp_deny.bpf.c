// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* xdp_deny: drops, at the driver, packets whose source matches a deny rule (source CIDR and
 * destination port, or any port), counting packets and bytes per rule. Attached to the pod's
 * interface. IPv4 fragments after the first and IPv6 packets with extension headers carry
 * no port here: only any-port rules match them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"

#define XM_ETH_P_IP 0x0800
#define XM_ETH_P_IPV6 0x86DD
#define XM_ETH_P_8021Q 0x8100
#define XM_IP_OFFSET_MASK 0x1fff

/* Parses Ethernet, IPv4/IPv6 and the TCP/UDP destination port into *k (port 0 when there is
 * none). Returns 0, or -1 for packets no rule can match (not IP, truncated). */
static __always_inline int xm__parse(struct xdp_md *ctx, struct xm_deny_key *k)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l4;
	__u16 proto;
	__u8 l4proto;

	if ((void *)(eth + 1) > end)
		return -1;
	proto = eth->h_proto;
	l4 = eth + 1;
	if (proto == bpf_htons(XM_ETH_P_8021Q)) {
		struct vlan_hdr *vh = l4;

		if ((void *)(vh + 1) > end)
			return -1;
		proto = vh->h_vlan_encapsulated_proto;
		l4 = vh + 1;
	}
	if (proto == bpf_htons(XM_ETH_P_IP)) {
		struct iphdr *ip = l4;

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return -1;
		k->family = XM_AF_INET;
		k->ip[0] = ip->saddr;
		l4proto = ip->protocol;
		if (ip->frag_off & bpf_htons(XM_IP_OFFSET_MASK))
			return 0; /* not the first fragment: no L4 header */
		l4 = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(XM_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l4;

		if ((void *)(ip6 + 1) > end)
			return -1;
		k->family = XM_AF_INET6;
		k->ip[0] = ip6->saddr.in6_u.u6_addr32[0];
		k->ip[1] = ip6->saddr.in6_u.u6_addr32[1];
		k->ip[2] = ip6->saddr.in6_u.u6_addr32[2];
		k->ip[3] = ip6->saddr.in6_u.u6_addr32[3];
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return -1;
	}
	if (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) {
		/* the destination port sits at offset 2 of both headers */
		__be16 *ports = l4;

		if ((void *)(ports + 2) > end)
			return 0;
		k->port = ports[1];
	}
	return 0;
}

SEC("xdp")
int xm_xdp_deny(struct xdp_md *ctx)
{
	struct xm_deny_key k = {};
	struct xm_deny_rule *rule;
	struct xm_deny_counters *c;
	__u32 id;

	if (xm__parse(ctx, &k))
		return XDP_PASS;
	k.prefixlen = XM_CIDR_KEY_BITS(k.family == XM_AF_INET ? 32 : 128);
	rule = NULL;
	if (k.port)
		rule = bpf_map_lookup_elem(&deny_rules, &k);
	if (!rule) {
		k.port = 0;
		rule = bpf_map_lookup_elem(&deny_rules, &k);
	}
	if (!rule)
		return XDP_PASS;
	id = rule->id;
	c = bpf_map_lookup_elem(&deny_counters, &id);
	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
