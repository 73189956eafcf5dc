// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* sk_msg: moves what a socket in sock_pairs sends straight into its peer's receive queue,
 * skipping the TCP/IP stack on both loopback legs. Attached to the sock_pairs map. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "sock_key.h"

SEC("sk_msg")
int xm_sk_msg(struct sk_msg_md *msg)
{
	struct xm_sock_key self, peer;
	__u8 one = 1;
	__u32 size = msg->size;

	XM_SOCK_KEY_FROM_CTX(&self, msg);
	/* once on the TCP path, always on it: redirected bytes would overtake queued ones */
	if (bpf_map_lookup_elem(&unpaired, &self)) {
		xm_count(XM_C_skmsg_passed, 1);
		return SK_PASS;
	}
	xm_sock_key_peer(&peer, &self);
	if (bpf_msg_redirect_hash(msg, &sock_pairs, &peer, BPF_F_INGRESS) == SK_PASS) {
		xm_count(XM_C_skmsg_redirected, 1);
		xm_count(XM_C_skmsg_redirected_bytes, size);
		return SK_PASS;
	}
	/* peer not (yet) in the map: this message and every later one take the TCP path */
	bpf_map_update_elem(&unpaired, &self, &one, BPF_ANY);
	xm_count(XM_C_skmsg_passed, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
