/* Descriptor codecs named in snapshots, compiled once and interned in the data plane for its whole life. */
#ifndef XM_DESC_INTERN_H
#define XM_DESC_INTERN_H

#include <stddef.h>

struct xm_keep;
struct xm_codec;
struct Xmesh__Dataplane__V1__XCodecDescriptor;

/* The codec for descriptor message pd: the interned one when an identical descriptor was
 * compiled before, else a new one, kept in k until the data plane's teardown (control
 * side, dp lock held). 0, -EINVAL (err names the descriptor field) or -ENOMEM. */
int xm_desc_intern_get(struct xm_keep *k, const struct Xmesh__Dataplane__V1__XCodecDescriptor *pd,
		       const struct xm_codec **out, char *err, size_t errlen);

#endif
