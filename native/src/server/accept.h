/* The listener stage of accepted connections: listener filters, then the filter chain that fits. */
#ifndef XM_ACCEPT_H
#define XM_ACCEPT_H

#include <sys/socket.h>

#include "config/table.h"
#include "server/worker.h"

/* Take an accepted fd of listener lc (a config of w's current table). */
void xm_accept(struct xm_worker *w, const struct xm_listener_cfg *lc, int fd, const struct sockaddr_storage *peer,
	       socklen_t plen);
/* xm_fworker.lookup: a filter's config for a connection after a swap. */
void *xm_accept_lookup(struct xm_fworker *fw, uint64_t listener_id, uint64_t chain_key, const struct xm_filter_ops *ops);

#endif
