/* Internals of the table builder (snapshot.c): protobuf type names and the cluster builder the subset views reuse. */
#ifndef XM_SNAPSHOT_INT_H
#define XM_SNAPSHOT_INT_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "xmesh/dataplane/v1/snapshot.pb-c.h"

struct xm_tables;
struct xm_cluster;

typedef Xmesh__Dataplane__V1__Snapshot pb_snapshot;
typedef Xmesh__Dataplane__V1__Cluster pb_cluster;
typedef Xmesh__Dataplane__V1__Listener pb_listener;
typedef Xmesh__Dataplane__V1__XRoute__MetadataMatchEntry pb_kv;

/* The snapshot's required fields: the control core makes every default explicit, so a 0
 * here is a broken snapshot, refused (not filled in) with the field's name. */
#define XM_REQUIRE(cond, err, errlen, ...)                                                \
	do {                                                                              \
		if (!(cond)) {                                                            \
			snprintf((err), (errlen), __VA_ARGS__);                           \
			return -EINVAL;                                                   \
		}                                                                         \
	} while (0)

/* The cluster view of pc; with match, a subset view of the endpoints that carry every
 * pair (sharing the persistent states of the full view). 0 or -errno, err set. */
int xm__table_build_cluster(struct xm_tables *ts, const pb_cluster *pc, pb_kv *const *match, size_t nmatch,
			    struct xm_cluster **out, char *err, size_t errlen);

#endif
