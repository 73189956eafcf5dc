/* Kernel feature probes for eBPF redirection: each loads a two-instruction program (or makes a
 * map or a bad-fd call) and never attaches anything, so the control core can say plainly what
 * this kernel lacks and fall back per feature. */
#ifndef XM_BPF_REDIRECT_PROBE_H
#define XM_BPF_REDIRECT_PROBE_H

#include <stddef.h>

/* One probe's result. */
struct xm_redirect_probe {
	const char *name;  /* "cgroup_getsockopt" */
	const char *what;  /* what it enables, for messages */
	const char *needs; /* "Linux 5.3" */
	unsigned features; /* XM_FEAT_* that need it */
	int err;           /* 0 = available, else -errno of the probe */
};

/* Runs every probe into out[0..*n) (cap must be >= XM_REDIRECT_N_PROBES) and returns the
 * XM_FEAT_* mask whose needs are all met. */
#define XM_REDIRECT_N_PROBES 12
unsigned xm_redirect_probe_all(struct xm_redirect_probe *out, size_t cap, size_t *n);

#endif
