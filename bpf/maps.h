/* Structs shared between the eBPF programs in bpf/ and their user-space loaders: the map ABI. */
#ifndef XM_BPF_MAPS_H
#define XM_BPF_MAPS_H

/* BPF side gets __u32/__u64 from vmlinux.h or <linux/bpf.h>; user space from <linux/types.h>. */
#if !defined(__VMLINUX_H__) && !defined(__LINUX_BPF_H__)
#include <linux/types.h>
#endif

/* xmesh_probe: value of the per-CPU `probe_counters` array (one slot, key 0). User space
 * sums the per-CPU copies. Only ever extended at the end. */
struct xm_probe_counters {
	__u64 packets; /* packets the program saw (after the rodata protocol filter) */
	__u64 bytes;   /* skb->len summed: L3 bytes for cgroup_skb */
};

#endif
