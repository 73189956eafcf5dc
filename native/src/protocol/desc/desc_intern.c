/* Descriptor codecs named in snapshots: decode an XCodecDescriptor, compile it once, and intern the codec in the data plane. */
#include "protocol/desc/desc_intern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/codec.h"
#include "core/keep.h"
#include "xmesh/dataplane/v1/snapshot.pb-c.h"

/*
 * Why intern instead of creating codecs per table and destroying them with it: a codec
 * outlives the table it came from. A client connection keeps the codec it was accepted
 * with across swaps (xp_down.codec), and the per-worker upstream pools key on the codec
 * pointer and keep their connections (and that pointer) until they close. Destroying a
 * codec with its table would leave them a dangling pointer, and a new allocation at the
 * same address could even join a pool of another protocol.
 *
 * So codecs are interned by their exact descriptor: a swap that keeps a descriptor keeps
 * its codec, hence its upstream pools and connections; a changed descriptor gets a new
 * codec (and new pools) while the old one stays valid for the connections still using
 * it. Interned codecs are freed at data-plane teardown. The list only grows with distinct
 * descriptors ever applied, a few hundred bytes each.
 *
 * The key is the message packed again by protobuf-c (fields in a fixed order): equal
 * descriptors pack to equal bytes, and the comparison stays complete when fields are added.
 * The data plane's keep store holds them (core/keep.h).
 */

typedef Xmesh__Dataplane__V1__XCodecDescriptor pb_desc;
typedef Xmesh__Dataplane__V1__XDescField pb_field;
typedef Xmesh__Dataplane__V1__XDescLocation pb_loc;

static int desc_intern__err(char *err, size_t errlen, const char *what, const char *msg)
{
	snprintf(err, errlen, "%s: %s", what, msg);
	return -EINVAL;
}

/* Values wider than the C struct's fields are refused here, before any narrowing, with
 * the same words the codec's own validation uses. */
static int desc_intern__field(struct xm_desc_field *f, const pb_field *pf, const char *name, int optional, char *err,
			      size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (!pf)
		return optional ? 0 : desc_intern__err(err, errlen, name, "required");
	if (pf->size > 8) {
		snprintf(err, errlen, "%s.size: must be 1, 2, 4 or 8", name);
		return -EINVAL;
	}
	f->offset = pf->offset;
	f->size = (uint8_t)pf->size;
	f->little_endian = pf->little_endian ? 1 : 0;
	return 0;
}

static int desc_intern__loc(struct xm_desc_loc *l, const pb_loc *pl, const char *name, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (!pl)
		return 0;
	switch (pl->kind_case) {
	case XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_FIXED:
		l->kind = XM_DESC_LOC_FIXED;
		l->offset = pl->fixed->offset;
		l->len = pl->fixed->length;
		return 0;
	case XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_LENGTH_PREFIXED:
		l->kind = XM_DESC_LOC_LPSTR;
		l->offset = pl->length_prefixed->offset;
		l->len = pl->length_prefixed->length_size;
		return 0;
	case XMESH__DATAPLANE__V1__XDESC_LOCATION__KIND_TLV:
		if (pl->tlv->type > 255) {
			snprintf(err, errlen, "%s.tlv.type: must be 0..255", name);
			return -EINVAL;
		}
		l->kind = XM_DESC_LOC_TLV;
		l->offset = pl->tlv->offset;
		l->tlv_type = (uint8_t)pl->tlv->type;
		return 0;
	default:
		return 0;
	}
}

static int desc_intern__from_pb(struct xm_descriptor *d, const pb_desc *pd, char *err, size_t errlen)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (strlen(pd->name) >= sizeof(d->name)) {
		snprintf(err, errlen, "name: must be 1..%zu characters", sizeof(d->name) - 1);
		return -EINVAL;
	}
	memcpy(d->name, pd->name, strlen(pd->name));
	if (pd->magic.len > sizeof(d->magic)) {
		snprintf(err, errlen, "magic: must be 0..%zu bytes", sizeof(d->magic));
		return -EINVAL;
	}
	if (pd->magic.len)
		memcpy(d->magic, pd->magic.data, pd->magic.len);
	d->magic_len = (uint8_t)pd->magic.len;
	d->magic_offset = pd->magic_offset;
	d->length_adjust = pd->length_adjust;
	d->header_len = pd->header_len;
	if ((rc = desc_intern__field(&d->length, pd->length, "length", 0, err, errlen)) < 0 ||
	    (rc = desc_intern__field(&d->request_id, pd->request_id, "request_id", 0, err, errlen)) < 0 ||
	    (rc = desc_intern__field(&d->kind_field, pd->kind_field, "kind_field", 0, err, errlen)) < 0 ||
	    (rc = desc_intern__field(&d->status, pd->status, "status", 1, err, errlen)) < 0)
		return rc;
	d->kind_mask = pd->kind_mask;
	d->kind_request = pd->kind_request;
	d->kind_response = pd->kind_response;
	d->kind_oneway = pd->kind_oneway;
	d->kind_heartbeat = pd->kind_heartbeat;
	d->kind_heartbeat_ack = pd->kind_heartbeat_ack;
	d->has_oneway = pd->has_oneway ? 1 : 0;
	d->has_heartbeat = pd->has_heartbeat ? 1 : 0;
	d->has_heartbeat_ack = pd->has_heartbeat_ack ? 1 : 0;
	d->status_ok = pd->status_ok;
	d->status_for[XM_STATUS_OK] = pd->status_ok;
	if (pd->status_codes) {
		d->status_for[XM_STATUS_NO_ROUTE] = pd->status_codes->no_route;
		d->status_for[XM_STATUS_TIMEOUT] = pd->status_codes->timeout;
		d->status_for[XM_STATUS_OVERFLOW] = pd->status_codes->overflow;
		d->status_for[XM_STATUS_UNAVAILABLE] = pd->status_codes->unavailable;
		d->status_for[XM_STATUS_SERVER_ERROR] = pd->status_codes->server_error;
		d->status_for[XM_STATUS_CODEC_ERROR] = pd->status_codes->codec_error;
	} else if (d->status.size) {
		return desc_intern__err(err, errlen, "status_codes", "required with a status field");
	}
	if ((rc = desc_intern__loc(&d->service, pd->service, "service", err, errlen)) < 0 ||
	    (rc = desc_intern__loc(&d->method, pd->method, "method", err, errlen)) < 0)
		return rc;
	switch (pd->pool_mode) {
	case XMESH__DATAPLANE__V1__XCODEC_DESCRIPTOR__POOL_MODE__MULTIPLEX:
		d->pool_mode = XM_POOL_MULTIPLEX;
		break;
	case XMESH__DATAPLANE__V1__XCODEC_DESCRIPTOR__POOL_MODE__PINGPONG:
		d->pool_mode = XM_POOL_PINGPONG;
		break;
	default:
		return desc_intern__err(err, errlen, "pool_mode", "must be multiplex or pingpong");
	}
	return 0;
}

static void *desc_intern__make(void *ctx, const char *key, size_t klen, char *err, size_t errlen)
{
	const pb_desc *pd = ctx;
	struct xm_descriptor d;
	struct xm_codec *c = NULL;

	if (desc_intern__from_pb(&d, pd, err, errlen) < 0 || xm_codec_descriptor_new(&d, &c, err, errlen) < 0)
		return NULL;
	return c;
}

static void desc_intern__free(void *obj)
{
	struct xm_codec *c = obj;
	c->ops->destroy(c);
}

static const struct xm_keep_kind desc_intern__kind = { "descriptor codec", desc_intern__make, desc_intern__free };

int xm_desc_intern_get(struct xm_keep *k, const pb_desc *pd, const struct xm_codec **out, char *err, size_t errlen)
{
	size_t keylen = xmesh__dataplane__v1__xcodec_descriptor__get_packed_size(pd);
	uint8_t *key = malloc(keylen ? keylen : 1);

	*out = NULL;
	if (!key)
		return -ENOMEM;
	keylen = xmesh__dataplane__v1__xcodec_descriptor__pack(pd, key);
	err[0] = 0;
	*out = xm_keep_get(k, &desc_intern__kind, (const char *)key, keylen, (void *)pd, err, errlen);
	free(key);
	if (*out)
		return 0;
	return err[0] && strcmp(err, "out of memory") ? -EINVAL : -ENOMEM;
}
