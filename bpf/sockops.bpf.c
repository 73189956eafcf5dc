// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* sockops: when a TCP connection is established, moves an app socket's original destination
 * from its cookie to its tuple (where the sidecar's accepted socket can find it), and puts
 * both ends of every loopback connection into sock_pairs for sk_msg. Attached to a cgroup
 * that holds both the app's and the sidecar's sockets (their common parent). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "knobs.h"
#include "sock_key.h"

/* Active side: an app socket connect4/6 redirected carries a cookie record. */
static __always_inline void xm__record_orig_dst(struct bpf_sock_ops *ctx, const struct xm_sock_key *k)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct xm_orig_dst *od = bpf_map_lookup_elem(&orig_dst_by_cookie, &cookie);

	if (!od)
		return;
	if (bpf_map_update_elem(&orig_dst_by_tuple, k, od, BPF_ANY) == 0) {
		xm_count(XM_C_origdst_recorded, 1);
		/* the tuple entry goes when this socket closes (STATE_CB) */
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	}
	bpf_map_delete_elem(&orig_dst_by_cookie, &cookie);
}

/* Both ends on loopback: an app<->sidecar leg (or any local pair under the parent cgroup). */
static __always_inline void xm__add_pair(struct bpf_sock_ops *ctx, struct xm_sock_key *k)
{
	if (!sockmap_enabled || !xm_key_ip_is_loopback(k->family, k->local_ip) ||
	    !xm_key_ip_is_loopback(k->family, k->remote_ip))
		return;
	if (bpf_sock_hash_update(ctx, &sock_pairs, k, BPF_NOEXIST) == 0)
		xm_count(XM_C_sockhash_added, 1);
	else
		xm_count(XM_C_sockhash_add_failed, 1);
}

SEC("sockops")
int xm_sockops(struct bpf_sock_ops *ctx)
{
	struct xm_sock_key k;

	switch (ctx->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		XM_SOCK_KEY_FROM_CTX(&k, ctx);
		xm__record_orig_dst(ctx, &k);
		xm__add_pair(ctx, &k);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		XM_SOCK_KEY_FROM_CTX(&k, ctx);
		xm__add_pair(ctx, &k);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* only sockets that recorded a tuple asked for state callbacks */
		if (ctx->args[1] != BPF_TCP_CLOSE)
			break;
		XM_SOCK_KEY_FROM_CTX(&k, ctx);
		if (bpf_map_delete_elem(&orig_dst_by_tuple, &k) == 0)
			xm_count(XM_C_origdst_released, 1);
		bpf_map_delete_elem(&unpaired, &k);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
