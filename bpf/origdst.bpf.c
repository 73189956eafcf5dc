// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* origdst: cgroup/getsockopt answers SO_ORIGINAL_DST (and IP6T_SO_ORIGINAL_DST) on the
 * sidecar's accepted sockets from orig_dst_by_tuple, so a `use_original_dst` listener works
 * exactly as behind iptables REDIRECT. Attached to the sidecar's cgroup (5.3+). Without a
 * record it answers the socket's own local address, as conntrack does for a connection
 * nothing rewrote (and as an sk_lookup-steered inbound connection needs: its local address
 * is the original destination). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "sock_key.h"

#define XM_SOCKOPT_OK 1 /* cgroup/getsockopt: 1 returns ctx->retval and the buffer to the caller */

/* Writes od into the caller's buffer as the sockaddr its level asks for. */
static __always_inline void xm__answer(struct bpf_sockopt *ctx, const struct xm_orig_dst *od)
{
	if (ctx->level == XM_SOL_IP) {
		struct sockaddr_in *sin = ctx->optval;

		if (od->family != XM_AF_INET || (void *)(sin + 1) > ctx->optval_end)
			return;
		__builtin_memset(sin, 0, sizeof(*sin));
		sin->sin_family = XM_AF_INET;
		sin->sin_port = bpf_htons(od->port);
		sin->sin_addr.s_addr = od->ip[0];
		ctx->optlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = ctx->optval;

		if ((void *)(sin6 + 1) > ctx->optval_end)
			return;
		__builtin_memset(sin6, 0, sizeof(*sin6));
		sin6->sin6_family = XM_AF_INET6;
		sin6->sin6_port = bpf_htons(od->port);
		if (od->family == XM_AF_INET) {
			/* an IPv4 destination asked for on an IPv6 socket: ::ffff:a.b.c.d */
			sin6->sin6_addr.in6_u.u6_addr32[2] = bpf_htonl(0x0000ffff);
			sin6->sin6_addr.in6_u.u6_addr32[3] = od->ip[0];
		} else {
			sin6->sin6_addr.in6_u.u6_addr32[0] = od->ip[0];
			sin6->sin6_addr.in6_u.u6_addr32[1] = od->ip[1];
			sin6->sin6_addr.in6_u.u6_addr32[2] = od->ip[2];
			sin6->sin6_addr.in6_u.u6_addr32[3] = od->ip[3];
		}
		ctx->optlen = sizeof(*sin6);
	}
	ctx->retval = 0;
}

SEC("cgroup/getsockopt")
int xm_getsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct xm_sock_key app;
	struct xm_orig_dst local = {}, *od;
	__u32 l6[4] = {}, r6[4] = {};
	__u32 family;
	__u16 lport, rport;

	if (!((ctx->level == XM_SOL_IP && ctx->optname == XM_SO_ORIGINAL_DST) ||
	      (ctx->level == XM_SOL_IPV6 && ctx->optname == XM_IP6T_SO_ORIGINAL_DST)))
		return XM_SOCKOPT_OK;
	if (!sk)
		return XM_SOCKOPT_OK;
	family = XM_CTX_LOAD32(sk, family);
	if (family == XM_AF_INET6) {
		XM_CTX_COPY_IP6(l6, sk, src_ip6);
		XM_CTX_COPY_IP6(r6, sk, dst_ip6);
	}
	/* dst_port: __be16 in the low-addressed half of a 32-bit slot (a 4-byte load is the
	 * form every kernel accepts); src_port: host order */
	rport = bpf_ntohs((__u16)XM_CTX_LOAD32(sk, dst_port));
	lport = (__u16)XM_CTX_LOAD32(sk, src_port);
	/* The app's view of this connection: its local end is our remote one. */
	xm_sock_key_build(&app, family, XM_CTX_LOAD32(sk, dst_ip4), r6, rport, XM_CTX_LOAD32(sk, src_ip4),
			  l6, lport);
	od = bpf_map_lookup_elem(&orig_dst_by_tuple, &app);
	if (od) {
		xm_count(XM_C_getsockopt_hit, 1);
		xm__answer(ctx, od);
		return XM_SOCKOPT_OK;
	}
	if (ctx->retval == 0)
		return XM_SOCKOPT_OK; /* the kernel (conntrack) answered; keep its answer */
	/* our local end, from the key (IPv4-mapped already folded) */
	local.family = app.family;
	local.port = app.remote_port;
	local.ip[0] = app.remote_ip[0];
	local.ip[1] = app.remote_ip[1];
	local.ip[2] = app.remote_ip[2];
	local.ip[3] = app.remote_ip[3];
	xm_count(XM_C_getsockopt_local, 1);
	xm__answer(ctx, &local);
	return XM_SOCKOPT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
