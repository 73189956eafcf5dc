/* Live updates of an installed instance's maps (no program reload) and counter reads. */
#ifndef XM_BPF_REDIRECT_MAPS_H
#define XM_BPF_REDIRECT_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "redirect_loader.h"

/* One XDP deny rule as listed, with its counters summed over CPUs. */
struct xm_redirect_deny_entry {
	struct xm_redirect_cidr cidr; /* source prefix */
	uint16_t port;                /* destination port, host order; 0 = any */
	uint32_t id;                  /* counters slot */
	uint64_t packets, bytes;      /* dropped by this rule */
};

/* Adds a deny rule (source CIDR, destination port or 0 for any) and returns its id in *id;
 * adding an existing rule returns its id and keeps its counters. A new rule's counters start
 * at zero. */
int xm_redirect_deny_add(const char *instance, const struct xm_redirect_cidr *cidr, uint16_t port,
			 uint32_t *id, char *msg, size_t msglen);

/* Removes a deny rule; -ENOENT when there is none. */
int xm_redirect_deny_del(const char *instance, const struct xm_redirect_cidr *cidr, uint16_t port,
			 char *msg, size_t msglen);

/* Lists up to cap rules into out, *n set to how many. */
int xm_redirect_deny_list(const char *instance, struct xm_redirect_deny_entry *out, size_t cap,
			  size_t *n, char *msg, size_t msglen);

/* Sums the per-CPU u64 slots 0..n-1 of a per-CPU array map fd into out[0..n). */
int xm_redirect_read_counters(int fd, unsigned n, uint64_t *out);

#endif
