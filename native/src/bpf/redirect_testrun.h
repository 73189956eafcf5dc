/* BPF_PROG_TEST_RUN of the redirect programs that support it (XDP deny list, sk_lookup) on a
 * private load: nothing pinned, nothing attached. For table-driven tests and self-checks. */
#ifndef XM_BPF_REDIRECT_TESTRUN_H
#define XM_BPF_REDIRECT_TESTRUN_H

#include <stddef.h>
#include <stdint.h>

#include "redirect_loader.h"

struct xm_redirect_testrun;

/* Loads the XDP and sk_lookup programs with cfg's knobs and lists (features, cgroups, netns,
 * ifindex and instance are ignored). */
int xm_redirect_testrun_open(const struct xm_redirect_config *cfg, struct xm_redirect_testrun **out,
			     char *msg, size_t msglen);
void xm_redirect_testrun_close(struct xm_redirect_testrun *tr);

/* Adds a deny rule to the private load; *id as xm_redirect_deny_add(). */
int xm_redirect_testrun_deny_add(struct xm_redirect_testrun *tr, const struct xm_redirect_cidr *cidr,
				 uint16_t port, uint32_t *id);

/* Runs the XDP program once on an Ethernet frame; *action is its XDP_* verdict. */
int xm_redirect_testrun_xdp(struct xm_redirect_testrun *tr, const void *frame, size_t len, uint32_t *action);

/* Packets/bytes the deny rule with this id dropped so far. */
int xm_redirect_testrun_deny_counters(struct xm_redirect_testrun *tr, uint32_t id, uint64_t *packets,
				      uint64_t *bytes);

/* Registers a listening socket as the sk_lookup target (its family picks the slot). */
int xm_redirect_testrun_set_listener(struct xm_redirect_testrun *tr, int fd);

/* One lookup as the kernel would make it for an arriving TCP SYN: addresses network order
 * (IPv4 in [0]), ports host order. *cookie is the socket the program selected, 0 for none. */
struct xm_redirect_lookup {
	int family; /* AF_INET or AF_INET6 */
	int protocol;
	uint32_t remote_ip[4], local_ip[4];
	uint16_t remote_port, local_port;
};
int xm_redirect_testrun_sk_lookup(struct xm_redirect_testrun *tr, const struct xm_redirect_lookup *l,
				  uint32_t *verdict, uint64_t *cookie);

#endif
