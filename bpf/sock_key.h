/* The one builder of struct xm_sock_key, shared by sockops, sk_msg and getsockopt: every
 * context hands it addresses in network order and ports in host order, and it folds
 * IPv4-mapped IPv6 addresses into IPv4, so both ends of one connection build mirror keys.
 *
 * Byte order, per context (the bugs live here):
 *   bpf_sock_ops, sk_msg_md: local_port host order; remote_port network order in a u32 whose
 *                            upper 16 bits hold it on little endian -> bpf_ntohl(remote_port).
 *   bpf_sock (sockopt ctx):  src_port host order; dst_port __be16 -> bpf_ntohs(dst_port).
 *   bpf_sk_lookup:           local_port host order; remote_port __be16. */
#ifndef XM_BPF_SOCK_KEY_H
#define XM_BPF_SOCK_KEY_H

#include <bpf/bpf_endian.h>
#include "xmesh_abi.h"

/* True when a[0..3] is ::ffff:a.b.c.d. */
static __always_inline int xm_ip6_is_v4mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/* Fills *k for one end of a connection. lip6/rip6 are read only for XM_AF_INET6. */
static __always_inline void xm_sock_key_build(struct xm_sock_key *k, __u32 family,
					      __u32 lip4, const __u32 lip6[4], __u16 lport,
					      __u32 rip4, const __u32 rip6[4], __u16 rport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->local_port = lport;
	k->remote_port = rport;
	if (family == XM_AF_INET6 && !(xm_ip6_is_v4mapped(lip6) && xm_ip6_is_v4mapped(rip6))) {
		k->family = XM_AF_INET6;
		k->local_ip[0] = lip6[0];
		k->local_ip[1] = lip6[1];
		k->local_ip[2] = lip6[2];
		k->local_ip[3] = lip6[3];
		k->remote_ip[0] = rip6[0];
		k->remote_ip[1] = rip6[1];
		k->remote_ip[2] = rip6[2];
		k->remote_ip[3] = rip6[3];
		return;
	}
	k->family = XM_AF_INET;
	k->local_ip[0] = family == XM_AF_INET6 ? lip6[3] : lip4;
	k->remote_ip[0] = family == XM_AF_INET6 ? rip6[3] : rip4;
}

/* Context fields are UAPI: the kernel rewrites each access at its fixed offset and refuses
 * arithmetic on a ctx or socket pointer. CO-RE relocates an array field's base (r = off;
 * p += r), which the verifier rejects, so array elements go through one load or store each at
 * their offsetof(). */
#define XM_CTX_LOAD32(ptr, member)                                                               \
	({                                                                                       \
		__u32 v_;                                                                        \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                            \
			     : "=r"(v_)                                                          \
			     : "r"(ptr), "i"(__builtin_offsetof(typeof(*(ptr)), member)));      \
		v_;                                                                              \
	})
#define XM_CTX_STORE32(ptr, member, val)                                                         \
	asm volatile("*(u32 *)(%0 + %1) = %2" ::"r"(ptr),                                        \
		     "i"(__builtin_offsetof(typeof(*(ptr)), member)), "r"((__u32)(val))          \
		     : "memory")

/* dst[0..3] = ptr->field[0..3] */
#define XM_CTX_COPY_IP6(dst, ptr, field)                                                         \
	do {                                                                                     \
		(dst)[0] = XM_CTX_LOAD32(ptr, field[0]);                                         \
		(dst)[1] = XM_CTX_LOAD32(ptr, field[1]);                                         \
		(dst)[2] = XM_CTX_LOAD32(ptr, field[2]);                                         \
		(dst)[3] = XM_CTX_LOAD32(ptr, field[3]);                                         \
	} while (0)

/* Key of the socket a bpf_sock_ops or sk_msg_md context describes (same field semantics).
 * Every field is read with its own fixed-offset load (see XM_CTX_LOAD32). */
#define XM_SOCK_KEY_FROM_CTX(k, ctx)                                                             \
	do {                                                                                     \
		__u32 l6_[4] = {}, r6_[4] = {};                                                  \
		__u32 fam_ = XM_CTX_LOAD32(ctx, family);                                         \
		__u32 l4_ = XM_CTX_LOAD32(ctx, local_ip4);                                       \
		__u32 r4_ = XM_CTX_LOAD32(ctx, remote_ip4);                                      \
		__u32 lport_ = XM_CTX_LOAD32(ctx, local_port);                                   \
		__u32 rport_ = XM_CTX_LOAD32(ctx, remote_port);                                  \
		if (fam_ == XM_AF_INET6) {                                                       \
			XM_CTX_COPY_IP6(l6_, ctx, local_ip6);                                    \
			XM_CTX_COPY_IP6(r6_, ctx, remote_ip6);                                   \
		}                                                                                \
		xm_sock_key_build((k), fam_, l4_, l6_, (__u16)lport_, r4_, r6_,                  \
				  (__u16)bpf_ntohl(rport_));                                     \
	} while (0)

/* The key of the other end of the connection k describes. */
static __always_inline void xm_sock_key_peer(struct xm_sock_key *peer, const struct xm_sock_key *k)
{
	__builtin_memset(peer, 0, sizeof(*peer));
	peer->family = k->family;
	peer->local_port = k->remote_port;
	peer->remote_port = k->local_port;
	peer->local_ip[0] = k->remote_ip[0];
	peer->local_ip[1] = k->remote_ip[1];
	peer->local_ip[2] = k->remote_ip[2];
	peer->local_ip[3] = k->remote_ip[3];
	peer->remote_ip[0] = k->local_ip[0];
	peer->remote_ip[1] = k->local_ip[1];
	peer->remote_ip[2] = k->local_ip[2];
	peer->remote_ip[3] = k->local_ip[3];
}

/* True for 127.0.0.0/8 and ::1 (a key's addresses are already folded to IPv4 when mapped). */
static __always_inline int xm_key_ip_is_loopback(__u16 family, const __u32 ip[4])
{
	if (family == XM_AF_INET)
		return (bpf_ntohl(ip[0]) >> 24) == 127;
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] == bpf_htonl(1);
}

#endif
