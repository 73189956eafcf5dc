/* Descriptor codecs named in snapshots, compiled once and interned in the data plane for its whole life. */
#ifndef XM_DESC_INTERN_H
#define XM_DESC_INTERN_H

#include <stddef.h>

struct xm_dp;
struct xm_codec;
struct Xmesh__Dataplane__V1__XCodecDescriptor;

/* The codec for descriptor message pd: the interned one when an identical descriptor was
 * compiled before, else a new one, kept until xm_desc_intern_free_all(). dp lock held.
 * 0, -EINVAL (err names the descriptor field) or -ENOMEM. */
int xm_desc_intern_get(struct xm_dp *dp, const struct Xmesh__Dataplane__V1__XCodecDescriptor *pd,
		       const struct xm_codec **out, char *err, size_t errlen);
/* Data-plane teardown, once no worker or connection can use a codec any more. */
void xm_desc_intern_free_all(struct xm_dp *dp);

#endif
