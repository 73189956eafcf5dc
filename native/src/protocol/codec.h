/* x-protocol codecs: the small vtable an RPC protocol implements, over a segmented, zero-copy view. */
#ifndef XM_CODEC_H
#define XM_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * A codec only understands framing and a few header fields: it splits frames, says where
 * the request id is (the stream layer rewrites it in place when it multiplexes), says what
 * kind of frame it is, extracts the routing keys of requests (service, method, metas), and
 * builds the few frames the sidecar answers itself (heartbeat replies, error responses
 * "hijacked" in the protocol's own terms). Routing, load balancing, retries, timeouts,
 * limits and stats are shared by every protocol and never live in a codec.
 *
 * Input is a read-only *segmented view*: the connection reads into 16 KiB chunks, so a frame
 * may span several. Codecs never copy or modify payload; they may copy header fields they
 * need to parse into small buffers (routing keys land in struct xm_route_info, bounded).
 * Every access must stay within view->len: a codec is fed hostile bytes (it is fuzzed).
 */

/* Read-only view over a connection's unconsumed bytes (iov order = byte order). */
struct xm_iview {
	struct iovec *iov;
	unsigned niov;
	size_t len;          /* total bytes in the view */
};

/* Copy len bytes at off into dst. 0, or -1 if [off, off+len) is not inside the view. */
int xm_iview_copy(const struct xm_iview *v, size_t off, void *dst, size_t len);
/* Write len bytes at off (stream layer only: request-id rewrite). 0 or -1. */
int xm_iview_write(const struct xm_iview *v, size_t off, const void *src, size_t len);
/* Fixed-width reads; the caller has checked off + width <= v->len. */
uint8_t xm_iview_u8(const struct xm_iview *v, size_t off);
uint16_t xm_iview_be16(const struct xm_iview *v, size_t off);
uint32_t xm_iview_be32(const struct xm_iview *v, size_t off);
uint64_t xm_iview_be64(const struct xm_iview *v, size_t off);
/* Convenience for tests and fuzzers: a one-segment view over a flat buffer. */
void xm_iview_flat(struct xm_iview *v, struct iovec *iov, const void *buf, size_t len);
/* Split a flat buffer into segments of seg bytes (tests: exercise frames spanning chunks). */
void xm_iview_segmented(struct xm_iview *v, struct iovec *iov, unsigned maxiov, const void *buf, size_t len, size_t seg);

enum xm_frame_kind {
	XM_FRAME_REQUEST = 1,   /* expects a response */
	XM_FRAME_ONEWAY,        /* request without response */
	XM_FRAME_RESPONSE,
	XM_FRAME_HEARTBEAT,     /* heartbeat request: answered by the sidecar itself */
	XM_FRAME_HEARTBEAT_ACK, /* heartbeat response */
	XM_FRAME_GOAWAY,        /* peer is closing (protocols that can say so) */
};

enum xm_pool_mode {
	XM_POOL_MULTIPLEX = 1,  /* many requests in flight per connection, matched by id */
	XM_POOL_PINGPONG,       /* one request at a time per connection */
};

/* Generic outcomes the router reports; hijack() turns them into the protocol's own error,
 * and response frames are mapped back to them (for stats and outlier detection). */
enum xm_status {
	XM_STATUS_OK = 0,
	XM_STATUS_NO_ROUTE,          /* no virtual host / route / cluster: Bolt NoProcessor, Dubbo SERVICE_NOT_FOUND */
	XM_STATUS_TIMEOUT,           /* upstream did not answer in time: Bolt Timeout, Dubbo SERVER_TIMEOUT */
	XM_STATUS_OVERFLOW,          /* circuit breaker / limit: Bolt ThreadpoolBusy, Dubbo SERVER_THREADPOOL_EXHAUSTED */
	XM_STATUS_UNAVAILABLE,       /* no healthy upstream, connect failure, upstream reset */
	XM_STATUS_SERVER_ERROR,      /* the upstream answered with an error */
	XM_STATUS_CODEC_ERROR,       /* the request could not be decoded */
};

/* Why split() or route_info() refused the input (returned as a negative value). The
 * connection is then closed (or answered with hijack where the protocol can express it)
 * and the reason is counted. */
enum xm_codec_err {
	XM_CODEC_E_MAGIC = 1,     /* not this protocol / wrong magic or protocol code */
	XM_CODEC_E_TOO_LARGE,     /* frame length above max_frame */
	XM_CODEC_E_LENGTH,        /* inconsistent length fields */
	XM_CODEC_E_HEADER,        /* malformed header / header map */
	XM_CODEC_E_VERSION,       /* unsupported protocol version / serialization */
	XM_CODEC_E_BODY,          /* body does not hold what the header says (e.g. bad Hessian string) */
	XM_CODEC_E__COUNT
};
const char *xm_codec_err_name(int err); /* "magic", "too_large", ... */
/* The text of an error the sidecar answers itself, in every protocol that carries one:
 * "xmesh: <what st means>[: detail]" in buf (ASCII: other bytes of detail become '?', so a
 * hessian string's char count is its byte count). Returns its length (< cap). */
size_t xm_status_text(char *buf, size_t cap, enum xm_status st, const char *detail);

/* What split() learns about one frame. */
struct xm_frame {
	uint32_t len;            /* whole frame, bytes */
	uint32_t body_off;       /* where the payload starts (after fixed header + header map) */
	enum xm_frame_kind kind;
	uint64_t id;             /* request id as on the wire */
	uint32_t id_off;         /* offset of the request-id field, rewritten in place */
	uint8_t id_size;         /* bytes: 4 (Bolt) or 8 (Dubbo) */
	uint8_t id_le;           /* 1 if little endian (descriptor codecs) */
	uint16_t raw_status;     /* responses: the protocol's status code */
	enum xm_status status;   /* responses: raw_status mapped to a generic status */
	uint32_t priv[6];        /* codec-private facts recorded by split for later calls */
};

#define XM_ROUTE_MAX_METAS 32
#define XM_ROUTE_BUF 4096

/* Routing keys of a request, copied into a bounded buffer (header fields, never payload).
 * Strings are not NUL-terminated: use the lengths. */
struct xm_route_info {
	const char *service;     /* e.g. "com.acme.BookService:1.0" (Bolt) or path (Dubbo) */
	uint16_t service_len;
	const char *method;
	uint16_t method_len;
	uint16_t nmetas;
	struct {
		const char *key, *value;
		uint16_t klen, vlen;
	} metas[XM_ROUTE_MAX_METAS];
	uint16_t used;           /* bytes of buf in use */
	char buf[XM_ROUTE_BUF];
};
/* Append a key (or value) to ri->buf; returns a pointer to the copy or NULL when full. */
const char *xm_route_info_put(struct xm_route_info *ri, const char *s, size_t len);
/* Copy [off, off+len) of the view into ri->buf; NULL if out of range or full. */
const char *xm_route_info_copy(struct xm_route_info *ri, const struct xm_iview *v, size_t off, size_t len);
/* Add a meta (already in ri->buf); -1 when full. */
int xm_route_info_meta(struct xm_route_info *ri, const char *k, uint16_t klen, const char *v, uint16_t vlen);
/* Value of meta key, or NULL. */
const char *xm_route_info_get(const struct xm_route_info *ri, const char *key, size_t klen, uint16_t *vlen);

struct xm_codec;

struct xm_codec_ops {
	/* Sniff the first bytes of a connection: 1 = this protocol, 0 = need more bytes,
	 * -1 = not this protocol. */
	int (*match)(const struct xm_codec *c, const struct xm_iview *in);
	/* Split the frame at the front of in. >0: its length (f filled), 0: need more bytes,
	 * <0: -enum xm_codec_err. Must not read beyond in->len; frames above max_frame are
	 * refused as soon as the length field is readable. */
	ssize_t (*split)(const struct xm_codec *c, const struct xm_iview *in, uint32_t max_frame, struct xm_frame *f);
	/* Requests only (f from split, frame = view starting at the frame, len >= f->len):
	 * fill the routing keys. 0 or -enum xm_codec_err. */
	int (*route_info)(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			  struct xm_route_info *ri);
	/* Build the answer to heartbeat request f into out. Length, or -ENOSPC/-EINVAL. */
	ssize_t (*heartbeat_reply)(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
				   uint8_t *out, size_t cap);
	/* Build an error response to request f meaning status st, in the protocol's own
	 * terms, so a real client sees a proper error. msg (may be NULL) is a human-readable
	 * detail where the protocol can carry one. Length, or -ENOSPC/-EINVAL. */
	ssize_t (*hijack)(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f,
			  enum xm_status st, const char *msg, uint8_t *out, size_t cap);
	/* Optional (NULL = nothing to do): called after the stream layer rewrote the request id
	 * of frame f in place, for protocols whose frames carry a checksum over it (Bolt v2
	 * with CRC32). 0 or -EINVAL. */
	int (*id_rewritten)(const struct xm_codec *c, const struct xm_iview *frame, const struct xm_frame *f);
	/* Release a codec made at run time (descriptor codecs); NULL for built-ins. */
	void (*destroy)(struct xm_codec *c);
};

struct xm_codec {
	const char *name;              /* "bolt", "dubbo", or the descriptor's name */
	const struct xm_codec_ops *ops;
	enum xm_pool_mode pool_mode;
	void *ctx;                     /* descriptor codecs: the compiled descriptor */
};

/* Built-in codecs by name ("bolt", "dubbo"), or NULL. */
const struct xm_codec *xm_codec_builtin(const char *name);

/* ---- descriptor codecs: a length-prefixed protocol defined by configuration alone ---- */

enum xm_desc_loc_kind {
	XM_DESC_LOC_NONE = 0,
	XM_DESC_LOC_FIXED,       /* bytes [offset, offset+len) of the frame */
	XM_DESC_LOC_LPSTR,       /* length field (len_size bytes, big endian) at offset, string follows */
	XM_DESC_LOC_TLV,         /* in a TLV area starting at offset: key(1 byte type) len(2 BE) value; match type == tlv_type */
};

struct xm_desc_loc {
	enum xm_desc_loc_kind kind;
	uint32_t offset;
	uint32_t len;            /* FIXED: length; LPSTR: size of the length field (1, 2 or 4) */
	uint8_t tlv_type;        /* TLV: type to look for */
};

struct xm_desc_field {
	uint32_t offset;
	uint8_t size;            /* 1, 2, 4 or 8 */
	uint8_t little_endian;
};

struct xm_descriptor {
	char name[32];
	uint8_t magic[8];
	uint8_t magic_len;       /* 0 = no magic */
	uint32_t magic_offset;
	struct xm_desc_field length;   /* frame length field */
	int32_t length_adjust;   /* frame length = field value + length_adjust */
	uint32_t header_len;     /* fixed header size: body starts here */
	struct xm_desc_field request_id;
	/* Frame kind: (field & kind_mask) compared with these values. */
	struct xm_desc_field kind_field;
	uint64_t kind_mask;
	uint64_t kind_request, kind_response, kind_oneway, kind_heartbeat, kind_heartbeat_ack;
	uint8_t has_oneway, has_heartbeat, has_heartbeat_ack;
	struct xm_desc_field status; /* responses: status field (size 0 = none) */
	uint64_t status_ok;      /* raw status meaning success */
	/* hijack / heartbeat replies are header-only frames: the request's fixed header with
	 * the kind field set to kind_response (kind_heartbeat_ack), the length field set for
	 * an empty body, and the status field set to status_for[generic status]. */
	uint64_t status_for[8];  /* indexed by enum xm_status */
	struct xm_desc_loc service, method;
	enum xm_pool_mode pool_mode;
};

/* Largest header_len: the sidecar's own replies (heartbeat acks, hijacked errors) are
 * header-only frames built in the stream layer's generated-frame buffer (XP__GEN_MAX). */
#define XM_DESC_HEADER_MAX 4096

/* Validate and compile a descriptor into a codec. err names the bad field. 0 or -EINVAL. */
int xm_codec_descriptor_new(const struct xm_descriptor *d, struct xm_codec **out, char *err, size_t errlen);
/* The descriptor a codec runs on, or NULL for a built-in. */
const struct xm_descriptor *xm_codec_descriptor_of(const struct xm_codec *c);

#endif
