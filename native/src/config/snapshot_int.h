/* Internals shared by the table builders: snapshot.c (listeners, clusters, tcp_proxy) and snapshot_xproxy.c. */
#ifndef XM_SNAPSHOT_INT_H
#define XM_SNAPSHOT_INT_H

#include <stddef.h>

#include "xmesh/dataplane/v1/snapshot.pb-c.h"

struct xm_dp;
struct xm_table;
struct xm_cluster;
struct xm_listener_cfg;
struct xm_xproxy_cfg;

typedef Xmesh__Dataplane__V1__Snapshot pb_snapshot;
typedef Xmesh__Dataplane__V1__Cluster pb_cluster;
typedef Xmesh__Dataplane__V1__Listener pb_listener;
typedef Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry pb_kv;

/* The cluster view of pc; with match, a subset view of the endpoints that carry every
 * pair (sharing the persistent states of the full view). 0 or -errno, err set. */
int xm__table_build_cluster(struct xm_dp *dp, const pb_cluster *pc, pb_kv *const *match, size_t nmatch,
			    struct xm_cluster **out, char *err, size_t errlen);
/* tcp_proxy settings into lc->tcp, for the tcp_proxy filter or an x_proxy's fallback (what names it in errors). */
int xm__table_build_tcp_proxy(struct xm_dp *dp, struct xm_table *t, struct xm_listener_cfg *lc,
			      const Xmesh__Dataplane__V1__TcpProxy *pt, const char *what, char *err, size_t errlen);
/* The x_proxy filter of a listener. 0 or -errno, err set. */
int xm__table_build_xproxy(struct xm_dp *dp, struct xm_table *t, const pb_snapshot *pb, struct xm_listener_cfg *lc,
			   const Xmesh__Dataplane__V1__XProxy *px, char *err, size_t errlen);
void xm__table_xproxy_free(struct xm_xproxy_cfg *x);

#endif
