// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* connect: cgroup/connect4 and connect6 rewrite an application's outbound TCP connect to the
 * outbound listener and remember where it meant to go, keyed by socket cookie (sockops moves
 * the record to the connection's tuple once it is established). Attached to the app's cgroup;
 * the sidecar runs outside it, and the uid/mark knobs exclude it where it does not. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "knobs.h"
#include "sock_key.h"

#define XM_SOCK_STREAM 1
#define XM_ALLOW 1 /* cgroup sock_addr: 1 lets connect() proceed (with or without a rewrite) */

/* Why a connect is, or is not, redirected: the counter it moves. */
enum xm_connect_verdict {
	XM_REDIRECT = XM_C_connect_redirected,
	XM_SKIP_LOOPBACK = XM_C_connect_skip_loopback,
	XM_SKIP_PORT = XM_C_connect_skip_port,
	XM_SKIP_CIDR = XM_C_connect_skip_cidr,
	XM_SKIP_NOT_INCLUDED = XM_C_connect_skip_not_included,
	XM_SKIP_UID = XM_C_connect_skip_uid,
	XM_SKIP_MARK = XM_C_connect_skip_mark,
};

/* The exclusions, in Istio's order: owner, mark, loopback, port, CIDR, include-only. od holds
 * the destination with IPv4-mapped addresses already folded to IPv4. */
static __always_inline enum xm_connect_verdict xm__verdict(struct bpf_sock_addr *ctx,
							  const struct xm_orig_dst *od)
{
	struct xm_cidr_key ck = {};
	struct bpf_sock *sk = ctx->sk;
	__u16 port = od->port;

	if (exclude_uid != 0xffffffff && od->uid == exclude_uid)
		return XM_SKIP_UID;
	if (exclude_mark && sk && (sk->mark & exclude_mark) == exclude_mark)
		return XM_SKIP_MARK;
	if (xm_key_ip_is_loopback(od->family, od->ip))
		return XM_SKIP_LOOPBACK;
	if (bpf_map_lookup_elem(&exclude_ports, &port))
		return XM_SKIP_PORT;
	ck.family = od->family;
	ck.ip[0] = od->ip[0];
	ck.ip[1] = od->ip[1];
	ck.ip[2] = od->ip[2];
	ck.ip[3] = od->ip[3];
	ck.prefixlen = XM_CIDR_KEY_BITS(od->family == XM_AF_INET ? 32 : 128);
	if (bpf_map_lookup_elem(&exclude_cidrs, &ck))
		return XM_SKIP_CIDR;
	if (include_only && !bpf_map_lookup_elem(&include_cidrs, &ck))
		return XM_SKIP_NOT_INCLUDED;
	return XM_REDIRECT;
}

/* Records od under the socket's cookie; 0 when the record is stored (redirect only then, or
 * the listener could not learn where to go). */
static __always_inline int xm__remember(void *ctx, const struct xm_orig_dst *od)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	if (bpf_map_update_elem(&orig_dst_by_cookie, &cookie, od, BPF_ANY)) {
		xm_count(XM_C_connect_record_failed, 1);
		return -1;
	}
	return 0;
}

SEC("cgroup/connect4")
int xm_connect4(struct bpf_sock_addr *ctx)
{
	struct xm_orig_dst od = {};
	enum xm_connect_verdict v;

	if (ctx->type != XM_SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return XM_ALLOW;
	od.family = XM_AF_INET;
	od.ip[0] = ctx->user_ip4;
	od.port = bpf_ntohs((__u16)ctx->user_port);
	od.uid = (__u32)bpf_get_current_uid_gid();
	v = xm__verdict(ctx, &od);
	if (v == XM_REDIRECT && xm__remember(ctx, &od))
		return XM_ALLOW;
	xm_count((enum xm_counter)v, 1);
	if (v != XM_REDIRECT)
		return XM_ALLOW;
	ctx->user_ip4 = bpf_htonl(outbound_ip4);
	ctx->user_port = bpf_htons(outbound_port);
	return XM_ALLOW;
}

SEC("cgroup/connect6")
int xm_connect6(struct bpf_sock_addr *ctx)
{
	struct xm_orig_dst od = {};
	enum xm_connect_verdict v;
	__u32 ip6[4];
	int mapped;

	if (ctx->type != XM_SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return XM_ALLOW;
	XM_CTX_COPY_IP6(ip6, ctx, user_ip6);
	mapped = xm_ip6_is_v4mapped(ip6);
	if (!mapped && !redirect_ipv6) {
		xm_count(XM_C_connect_skip_ipv6, 1);
		return XM_ALLOW;
	}
	if (mapped) {
		od.family = XM_AF_INET;
		od.ip[0] = ip6[3];
	} else {
		od.family = XM_AF_INET6;
		od.ip[0] = ip6[0];
		od.ip[1] = ip6[1];
		od.ip[2] = ip6[2];
		od.ip[3] = ip6[3];
	}
	od.port = bpf_ntohs((__u16)ctx->user_port);
	od.uid = (__u32)bpf_get_current_uid_gid();
	v = xm__verdict(ctx, &od);
	if (v == XM_REDIRECT && xm__remember(ctx, &od))
		return XM_ALLOW;
	xm_count((enum xm_counter)v, 1);
	if (v != XM_REDIRECT)
		return XM_ALLOW;
	if (mapped) {
		/* a dual-stack socket reaches the IPv4 listener through ::ffff:<outbound_ip4> */
		XM_CTX_STORE32(ctx, user_ip6[0], 0);
		XM_CTX_STORE32(ctx, user_ip6[1], 0);
		XM_CTX_STORE32(ctx, user_ip6[2], bpf_htonl(0x0000ffff));
		XM_CTX_STORE32(ctx, user_ip6[3], bpf_htonl(outbound_ip4));
	} else {
		XM_CTX_STORE32(ctx, user_ip6[0], outbound_ip6[0]);
		XM_CTX_STORE32(ctx, user_ip6[1], outbound_ip6[1]);
		XM_CTX_STORE32(ctx, user_ip6[2], outbound_ip6[2]);
		XM_CTX_STORE32(ctx, user_ip6[3], outbound_ip6[3]);
	}
	ctx->user_port = bpf_htons(outbound_port);
	return XM_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
