/* Numeric socket addresses: IP literals (DNS is the control core's) and the canonical "ip:port" spelling hosts are keyed by. */
#ifndef XM_ADDR_H
#define XM_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Parse a numeric IPv4/IPv6 literal (IPv6 may be bracketed and carry %scope) into addr and
 * write the canonical host name ("1.2.3.4:80", "[::1]:80") to name. 0 or -EINVAL. */
int xm_addr_parse(const char *address, uint16_t port, struct sockaddr_storage *addr, socklen_t *addrlen, char *name,
		  size_t namelen);
/* Canonical spelling of an "ip:port" / "[v6]:port" host name; 0 or -EINVAL. */
int xm_addr_canonical(const char *in, char *out, size_t outlen);

#endif
