/* libFuzzer target for descriptor codecs: validation of arbitrary descriptors, and the generic splitter under two fixed ones. */
#include <errno.h>

#include "fuzz_common.h"

/* tinyrpc, as in native/test/protocol/test_codec_desc.c: "TR" kind status id(u32 BE) len(u32 BE) +
 * method[16] + LPSTR(u16) service. */
static const struct xm_descriptor fz_tinyrpc = {
	.name = "tinyrpc",
	.magic = { 'T', 'R' },
	.magic_len = 2,
	.length = { .offset = 8, .size = 4 },
	.length_adjust = 12,
	.header_len = 12,
	.request_id = { .offset = 4, .size = 4 },
	.kind_field = { .offset = 2, .size = 1 },
	.kind_mask = 0x07,
	.kind_request = 0, .kind_response = 1, .kind_oneway = 2, .kind_heartbeat = 3, .kind_heartbeat_ack = 4,
	.has_oneway = 1, .has_heartbeat = 1, .has_heartbeat_ack = 1,
	.status = { .offset = 3, .size = 1 },
	.status_for = { 0, 1, 2, 3, 4, 5, 6 },
	.service = { .kind = XM_DESC_LOC_LPSTR, .offset = 28, .len = 2 },
	.method = { .kind = XM_DESC_LOC_FIXED, .offset = 12, .len = 16 },
	.pool_mode = XM_POOL_MULTIPLEX,
};

/* No magic, little-endian 8-byte id and 2-byte length counting the whole frame, TLV keys. */
static const struct xm_descriptor fz_tlv = {
	.name = "tlvrpc",
	.length = { .offset = 12, .size = 2, .little_endian = 1 },
	.length_adjust = 0,
	.header_len = 16,
	.request_id = { .offset = 4, .size = 8, .little_endian = 1 },
	.kind_field = { .offset = 0, .size = 2 },
	.kind_mask = 0x0300,
	.kind_request = 0x0000, .kind_response = 0x0100, .kind_heartbeat = 0x0200, .kind_heartbeat_ack = 0x0300,
	.has_heartbeat = 1, .has_heartbeat_ack = 1,
	.status = { .offset = 2, .size = 2 },
	.status_ok = 200,
	.status_for = { 200, 404, 504, 429, 503, 500, 400 },
	.service = { .kind = XM_DESC_LOC_TLV, .offset = 16, .tlv_type = 1 },
	.method = { .kind = XM_DESC_LOC_TLV, .offset = 16, .tlv_type = 2 },
	.pool_mode = XM_POOL_MULTIPLEX,
};

static void fz_with(const struct xm_descriptor *d, const uint8_t *data, size_t size)
{
	struct xm_codec *c = NULL;
	char err[128];
	int r = xm_codec_descriptor_new(d, &c, err, sizeof(err));
	if (r < 0) {
		FZ_CHECK(r == -EINVAL && c == NULL && err[0] != 0);
		return;
	}
	fz_run(c, data, size);
	c->ops->destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] == 'T') {
		fz_with(&fz_tinyrpc, data, size);
	} else if (data[0] == 'D' && size > sizeof(struct xm_descriptor)) {
		/* an arbitrary descriptor: validation must refuse what the splitter cannot run */
		struct xm_descriptor d;
		memcpy(&d, data + 1, sizeof(d));
		fz_with(&d, data + 1 + sizeof(d), size - 1 - sizeof(d));
	} else {
		fz_with(&fz_tlv, data, size);
	}
	return 0;
}
