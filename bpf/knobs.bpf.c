// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* knobs: the one definition of every rodata knob declared in knobs.h. */
#include "vmlinux.h"
#include "knobs.h"

const volatile __u32 outbound_ip4 = 0x7f000001;
const volatile __u32 outbound_ip6[4] = { 0, 0, 0, 0x01000000 }; /* ::1 in network order on little endian */
const volatile __u16 outbound_port = 15001;
const volatile __u16 inbound_port = 15006;
const volatile __u32 exclude_uid = 0xffffffff;
const volatile __u32 exclude_mark = 0;
const volatile __u8 include_only = 0;
const volatile __u8 redirect_ipv6 = 0;
const volatile __u8 sockmap_enabled = 1;
const volatile __u8 inbound_steer_all = 0;
