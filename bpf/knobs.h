/* Runtime knobs of the redirection programs: `const volatile` rodata the loader sets in the
 * skeleton before load (defined once, in knobs.bpf.c). The values below the names are
 * placeholders; the control core owns every default and always sets each knob. */
#ifndef XM_BPF_KNOBS_H
#define XM_BPF_KNOBS_H

extern const volatile __u32 outbound_ip4;    /* outbound listener IPv4, host order (127.0.0.1) */
extern const volatile __u32 outbound_ip6[4]; /* outbound listener IPv6, network order (::1) */
extern const volatile __u16 outbound_port;   /* outbound listener port (15001) */
extern const volatile __u16 inbound_port;    /* inbound listener port (15006); never steered itself */
extern const volatile __u32 exclude_uid;     /* connects by this uid are left alone; 0xffffffff = none */
extern const volatile __u32 exclude_mark;    /* sockets with (mark & exclude_mark) == exclude_mark are left alone; 0 = none */
extern const volatile __u8 include_only;     /* 1: redirect only destinations in include_cidrs */
extern const volatile __u8 redirect_ipv6;    /* 1: also redirect native IPv6 connects (needs an [::1] listener) */
extern const volatile __u8 sockmap_enabled;  /* 1: sockops puts loopback sockets into sock_pairs */
extern const volatile __u8 inbound_steer_all;/* 1: steer every port but inbound_ports; 0: only inbound_ports */

#endif
