// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* sk_lookup: hands inbound TCP connections for application ports to the inbound listener
 * (5.9+). The socket is chosen at lookup time, nothing rewrites the packet, and the accepted
 * socket's local address is the original destination. Attached to the pod's network
 * namespace. Loopback destinations are never steered: the sidecar reaches the app there. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "knobs.h"
#include "sock_key.h"

static __always_inline int xm__local_is_loopback(struct bpf_sk_lookup *ctx)
{
	__u32 ip6[4];

	if (ctx->family == XM_AF_INET)
		return (bpf_ntohl(ctx->local_ip4) >> 24) == 127;
	XM_CTX_COPY_IP6(ip6, ctx, local_ip6);
	if (xm_ip6_is_v4mapped(ip6))
		return (bpf_ntohl(ip6[3]) >> 24) == 127;
	return xm_key_ip_is_loopback(XM_AF_INET6, ip6);
}

SEC("sk_lookup")
int xm_sk_lookup(struct bpf_sk_lookup *ctx)
{
	__u16 port = (__u16)ctx->local_port;
	__u32 slot = ctx->family == XM_AF_INET ? 0 : 1;
	struct bpf_sock *sk;
	int listed;
	long err;

	if (ctx->protocol != IPPROTO_TCP || port == inbound_port || xm__local_is_loopback(ctx))
		return SK_PASS;
	listed = bpf_map_lookup_elem(&inbound_ports, &port) != NULL;
	if (inbound_steer_all ? listed : !listed)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&inbound_listener, &slot);
	if (!sk) {
		xm_count(XM_C_sklookup_no_listener, 1);
		return SK_PASS;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	xm_count(err ? XM_C_sklookup_assign_failed : XM_C_sklookup_steered, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
