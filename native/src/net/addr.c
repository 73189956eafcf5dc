/* Numeric socket addresses: parse an IP literal (IPv6 with %scope) and port, and spell a host canonically ("1.2.3.4:80", "[::1]:80"). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"

int xm_addr_parse(const char *address, uint16_t port, struct sockaddr_storage *addr, socklen_t *addrlen,
		   char *name, size_t namelen)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], canon[INET6_ADDRSTRLEN];
	const char *scope = NULL;
	size_t len = address ? strlen(address) : 0;
	int err = -EINVAL, n;

	memset(addr, 0, sizeof(*addr));
	if (len == 0 || len >= sizeof(buf))
		goto out;
	if (address[0] == '[' && address[len - 1] == ']') { /* tolerate "[v6]" */
		address++;
		len -= 2;
	}
	memcpy(buf, address, len);
	buf[len] = '\0';
	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*addrlen = sizeof(*in4);
		inet_ntop(AF_INET, &in4->sin_addr, canon, sizeof(canon));
		n = snprintf(name, namelen, "%s:%u", canon, (unsigned)port);
		err = n > 0 && (size_t)n < namelen ? 0 : -EINVAL;
		goto out;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	char *pct = strchr(buf, '%');
	if (pct) {
		*pct = '\0';
		scope = pct + 1;
		char *e;
		unsigned long id = strtoul(scope, &e, 10);
		if (*scope && !*e)
			in6->sin6_scope_id = (uint32_t)id;
		else if (!(in6->sin6_scope_id = if_nametoindex(scope)))
			goto out;
	}
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
		goto out;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	*addrlen = sizeof(*in6);
	inet_ntop(AF_INET6, &in6->sin6_addr, canon, sizeof(canon));
	n = snprintf(name, namelen, "[%s%s%s]:%u", canon, scope ? "%" : "", scope ? scope : "", (unsigned)port);
	err = n > 0 && (size_t)n < namelen ? 0 : -EINVAL;
out:
	if (err)
		memset(addr, 0, sizeof(*addr));
	return err;
}

int xm_addr_canonical(const char *in, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *colon = strrchr(in, ':'), *hb = in, *he;
	char *e;
	int err = -EINVAL;

	if (!colon)
		goto out;
	he = colon;
	if (in[0] == '[') { /* "[v6]:port" */
		if (colon == in || colon[-1] != ']')
			goto out;
		hb = in + 1;
		he = colon - 1;
	} else if (memchr(in, ':', (size_t)(colon - in))) {
		goto out; /* bare v6 with a port is ambiguous */
	}
	unsigned long port = strtoul(colon + 1, &e, 10);
	if (!colon[1] || *e || port > 65535 || (size_t)(he - hb) >= sizeof(host))
		goto out;
	memcpy(host, hb, (size_t)(he - hb));
	host[he - hb] = '\0';
	err = xm_addr_parse(host, (uint16_t)port, &ss, &sl, out, outlen);
out:
	return err;
}

