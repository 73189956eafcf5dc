/* Updates of a running instance's pinned maps without reloading programs: exclude/include
 * lists, inbound ports, the sk_lookup listener, XDP deny rules; and reading counters. */
#include "redirect_maps.h"
#include "redirect_int.h"
#include "redirect_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Zeroes the host bits of a prefix (a trie key with host bits set would never match a
 * lookup that uses them differently). */
static void redirect_maps__mask(uint32_t ip[4], unsigned bits)
{
	for (unsigned w = 0; w < 4; w++) {
		unsigned keep = bits > 32 * w ? bits - 32 * w : 0;
		uint32_t mask = keep >= 32 ? 0xffffffffu : keep == 0 ? 0 : ~(0xffffffffu >> keep);

		ip[w] = htonl(ntohl(ip[w]) & mask);
	}
}

static int redirect_maps__cidr_key(const struct xm_redirect_cidr *c, struct xm_cidr_key *k)
{
	unsigned max = c->family == AF_INET ? 32 : 128;

	if ((c->family != AF_INET && c->family != AF_INET6) || c->len > max)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->prefixlen = XM_CIDR_KEY_BITS(c->len);
	k->family = c->family == AF_INET ? XM_AF_INET : XM_AF_INET6;
	memcpy(k->ip, c->ip, sizeof(k->ip));
	redirect_maps__mask(k->ip, c->len);
	return 0;
}

/* Replaces a map's whole key set with keys[0..n): stale keys go, new ones are added. */
static int redirect_maps__replace_set(int fd, const void *keys, size_t n, size_t key_size)
{
	unsigned char cur[sizeof(struct xm_cidr_key)], next[sizeof(struct xm_cidr_key)];
	unsigned char one = 1;
	void *prev = NULL;
	int err = 0;

	/* Deleting while iterating restarts the walk: get_next_key(NULL) is always valid. */
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		bool keep = false;

		for (size_t i = 0; i < n && !keep; i++)
			keep = !memcmp((const unsigned char *)keys + i * key_size, next, key_size);
		memcpy(cur, next, key_size);
		if (!keep) {
			if (bpf_map_delete_elem(fd, cur))
				return -errno;
			prev = NULL;
		} else {
			prev = cur;
		}
	}
	for (size_t i = 0; i < n && !err; i++)
		if (bpf_map_update_elem(fd, (const unsigned char *)keys + i * key_size, &one, BPF_ANY))
			err = -errno;
	return err;
}

int xm_redirect__set_ports_fd(int fd, const uint16_t *ports, size_t n)
{
	if (n > XM_PORTS_MAX)
		return -E2BIG;
	return redirect_maps__replace_set(fd, ports, n, sizeof(uint16_t));
}

static int redirect_maps__set_ports(const char *instance, const char *map, const uint16_t *ports, size_t n,
			   char *msg, size_t msglen)
{
	int fd, err;

	if (n > XM_PORTS_MAX)
		return xm_redirect__fail(-E2BIG, msg, msglen, "%s: %zu ports, at most %d", map, n, XM_PORTS_MAX);
	fd = xm_redirect__map_fd(instance, map);
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "%s: %s (is instance %s installed?)", map, strerror(-fd), instance);
	err = xm_redirect__set_ports_fd(fd, ports, n);
	close(fd);
	return err ? xm_redirect__fail(err, msg, msglen, "%s: %s", map, strerror(-err)) : 0;
}

int xm_redirect__set_cidrs_fd(int fd, const struct xm_redirect_cidr *c, size_t n)
{
	struct xm_cidr_key *keys;
	int err = 0;

	if (n > XM_CIDRS_MAX)
		return -E2BIG;
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = redirect_maps__cidr_key(&c[i], &keys[i]);
	if (!err)
		err = redirect_maps__replace_set(fd, keys, n, sizeof(*keys));
	free(keys);
	return err;
}

static int redirect_maps__set_cidrs(const char *instance, const char *map, const struct xm_redirect_cidr *c,
			   size_t n, char *msg, size_t msglen)
{
	int fd, err;

	if (n > XM_CIDRS_MAX)
		return xm_redirect__fail(-E2BIG, msg, msglen, "%s: %zu CIDRs, at most %d", map, n, XM_CIDRS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct xm_cidr_key k;

		if (redirect_maps__cidr_key(&c[i], &k))
			return xm_redirect__fail(-EINVAL, msg, msglen, "%s[%zu]: bad family or prefix length", map, i);
	}
	fd = xm_redirect__map_fd(instance, map);
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "%s: %s (is instance %s installed?)", map, strerror(-fd), instance);
	err = xm_redirect__set_cidrs_fd(fd, c, n);
	close(fd);
	return err ? xm_redirect__fail(err, msg, msglen, "%s: %s", map, strerror(-err)) : 0;
}

int xm_redirect_set_lists(const char *instance, const struct xm_redirect_lists *l, char *msg, size_t msglen)
{
	int err = 0;

	if (!xm_redirect_instance_valid(instance))
		return xm_redirect__fail(-EINVAL, msg, msglen, "instance name must match [A-Za-z0-9_.-]{1,64}");
	if (!err && l->set_exclude_ports)
		err = redirect_maps__set_ports(instance, "exclude_ports", l->exclude_ports, l->n_exclude_ports, msg, msglen);
	if (!err && l->set_inbound_ports)
		err = redirect_maps__set_ports(instance, "inbound_ports", l->inbound_ports, l->n_inbound_ports, msg, msglen);
	if (!err && l->set_exclude_cidrs)
		err = redirect_maps__set_cidrs(instance, "exclude_cidrs", l->exclude_cidrs, l->n_exclude_cidrs, msg, msglen);
	if (!err && l->set_include_cidrs)
		err = redirect_maps__set_cidrs(instance, "include_cidrs", l->include_cidrs, l->n_include_cidrs, msg, msglen);
	return err;
}

int xm_redirect_set_inbound_listener(const char *instance, int sock, char *msg, size_t msglen)
{
	int domain = 0, listening = 0, fd, err = 0;
	socklen_t len = sizeof(domain);
	uint64_t value = (uint64_t)sock;
	uint32_t slot;

	if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &len) ||
	    (len = sizeof(listening), getsockopt(sock, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)))
		return xm_redirect__fail(-errno, msg, msglen, "inbound listener: %s", strerror(errno));
	if (!listening || (domain != AF_INET && domain != AF_INET6))
		return xm_redirect__fail(-EINVAL, msg, msglen, "inbound listener: not a listening TCP/IP socket");
	slot = domain == AF_INET ? 0 : 1;
	fd = xm_redirect__map_fd(instance, "inbound_listener");
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "inbound_listener: %s (is instance %s installed?)",
					 strerror(-fd), instance);
	if (bpf_map_update_elem(fd, &slot, &value, BPF_ANY))
		err = xm_redirect__fail(-errno, msg, msglen, "inbound_listener[%u]: %s", slot, strerror(errno));
	close(fd);
	return err;
}

int xm_redirect_read_counters(int fd, unsigned n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *percpu;
	int err = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !err; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, percpu)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpu; c++)
			out[i] += percpu[c];
	}
	free(percpu);
	return err;
}

static int redirect_maps__deny_key(const struct xm_redirect_cidr *c, uint16_t port, struct xm_deny_key *k)
{
	struct xm_cidr_key ck;

	if (redirect_maps__cidr_key(c, &ck))
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->prefixlen = ck.prefixlen;
	k->port = htons(port);
	k->family = ck.family;
	memcpy(k->ip, ck.ip, sizeof(k->ip));
	return 0;
}

int xm_redirect__deny_add_fd(int fd, int cfd, const struct xm_redirect_cidr *c, uint16_t port, uint32_t *id)
{
	unsigned char used[XM_DENY_RULES_MAX] = { 0 };
	struct xm_deny_key k, it, *prev = NULL;
	struct xm_deny_rule rule = { 0 };
	struct xm_deny_counters *zero;
	int ncpu, err = 0;

	if (redirect_maps__deny_key(c, port, &k))
		return -EINVAL;
	if (bpf_map_lookup_elem(fd, &k, &rule) == 0) {
		*id = rule.id; /* the same rule again: same id, counters kept */
		return 0;
	}
	while (bpf_map_get_next_key(fd, prev, &it) == 0) {
		if (bpf_map_lookup_elem(fd, &it, &rule) == 0 && rule.id < XM_DENY_RULES_MAX)
			used[rule.id] = 1;
		prev = &it;
	}
	memset(&rule, 0, sizeof(rule));
	while (rule.id < XM_DENY_RULES_MAX && used[rule.id])
		rule.id++;
	if (rule.id == XM_DENY_RULES_MAX)
		return -ENOSPC;
	/* a reused id starts its counters from zero */
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(cfd, &rule.id, zero, BPF_ANY) || bpf_map_update_elem(fd, &k, &rule, BPF_NOEXIST))
		err = -errno;
	else
		*id = rule.id;
	free(zero);
	return err;
}

int xm_redirect_deny_add(const char *instance, const struct xm_redirect_cidr *c, uint16_t port,
			 uint32_t *id, char *msg, size_t msglen)
{
	int fd, cfd, err;

	fd = xm_redirect__map_fd(instance, "deny_rules");
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "deny_rules: %s (is instance %s installed?)", strerror(-fd), instance);
	cfd = xm_redirect__map_fd(instance, "deny_counters");
	if (cfd < 0) {
		close(fd);
		return xm_redirect__fail(cfd, msg, msglen, "deny_counters: %s", strerror(-cfd));
	}
	err = xm_redirect__deny_add_fd(fd, cfd, c, port, id);
	close(cfd);
	close(fd);
	if (err == -ENOSPC)
		return xm_redirect__fail(err, msg, msglen, "deny_rules: all %d rules in use", XM_DENY_RULES_MAX);
	if (err == -EINVAL)
		return xm_redirect__fail(err, msg, msglen, "deny rule: bad family or prefix length");
	return err ? xm_redirect__fail(err, msg, msglen, "deny_rules: %s", strerror(-err)) : 0;
}

int xm_redirect_deny_del(const char *instance, const struct xm_redirect_cidr *c, uint16_t port,
			 char *msg, size_t msglen)
{
	struct xm_deny_key k;
	int fd, err = 0;

	if (redirect_maps__deny_key(c, port, &k))
		return xm_redirect__fail(-EINVAL, msg, msglen, "deny rule: bad family or prefix length");
	fd = xm_redirect__map_fd(instance, "deny_rules");
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "deny_rules: %s (is instance %s installed?)", strerror(-fd), instance);
	if (bpf_map_delete_elem(fd, &k))
		err = xm_redirect__fail(-errno, msg, msglen, "deny_rules: %s", errno == ENOENT ? "no such rule" : strerror(errno));
	close(fd);
	return err;
}

int xm_redirect_deny_list(const char *instance, struct xm_redirect_deny_entry *out, size_t cap,
			  size_t *n, char *msg, size_t msglen)
{
	struct xm_deny_key it, *prev = NULL;
	struct xm_deny_rule rule;
	struct xm_deny_counters *percpu = NULL;
	int fd, cfd = -1, ncpu = libbpf_num_possible_cpus(), err = 0;

	*n = 0;
	fd = xm_redirect__map_fd(instance, "deny_rules");
	if (fd < 0)
		return xm_redirect__fail(fd, msg, msglen, "deny_rules: %s (is instance %s installed?)", strerror(-fd), instance);
	cfd = xm_redirect__map_fd(instance, "deny_counters");
	percpu = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(*percpu));
	if (cfd < 0 || !percpu || ncpu <= 0) {
		err = xm_redirect__fail(cfd < 0 ? cfd : -ENOMEM, msg, msglen, "deny_counters: cannot read");
		goto out;
	}
	while (bpf_map_get_next_key(fd, prev, &it) == 0 && *n < cap) {
		struct xm_redirect_deny_entry *e = &out[*n];

		prev = &it;
		if (bpf_map_lookup_elem(fd, &it, &rule))
			continue;
		memset(e, 0, sizeof(*e));
		e->id = rule.id;
		e->port = ntohs(it.port);
		e->cidr.family = it.family == XM_AF_INET ? AF_INET : AF_INET6;
		e->cidr.len = (uint8_t)(it.prefixlen - XM_CIDR_KEY_BITS(0));
		memcpy(e->cidr.ip, it.ip, sizeof(e->cidr.ip));
		if (bpf_map_lookup_elem(cfd, &rule.id, percpu) == 0)
			for (int c = 0; c < ncpu; c++) {
				e->packets += percpu[c].packets;
				e->bytes += percpu[c].bytes;
			}
		(*n)++;
	}
out:
	free(percpu);
	if (cfd >= 0)
		close(cfd);
	close(fd);
	return err;
}
