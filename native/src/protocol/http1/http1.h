/* HTTP/1.1 codec (RFC 9112): strict, zero-copy parsing of message heads and body framing over a segmented view. */
#ifndef XM_HTTP1_H
#define XM_HTTP1_H

#include <stdint.h>
#include <sys/types.h>

#include "protocol/codec.h" /* struct xm_iview only */

/*
 * Contract (the same as every xmesh splitter):
 *  - input is a read-only struct xm_iview over a connection's chunks; a message may span
 *    any number of segments, and the verdict never depends on where they are cut;
 *  - nothing is copied: positions are offsets into the view (struct xm_http1_span); the
 *    only copies are into small stack buffers, to recognise words: field names (24 bytes),
 *    list elements such as "chunked" (16), methods (8) and URI schemes (5);
 *  - nothing past v->len is read, and nothing is written;
 *  - parsers return <0 (-enum xm_http1_err), 0 (need more bytes) or >0 (bytes consumed).
 *
 * The codec is strict where a lenient reading could frame a message differently from the
 * peer behind us (request smuggling, response splitting): see
 * native/test/protocol/http1/SMUGGLING.md for every refusal, its status and its source.
 */

/* Why a message was refused. Names (xm_http1_err_name) label the counter
 * downstream_rq_rejected.{reason=...}; xm_http1_err_status gives the status to answer. */
enum xm_http1_err {
	XM_H1_OK = 0,
	XM_H1_E_START_LINE,         /* request/status line malformed: missing part, extra space, bad method */
	XM_H1_E_VERSION,            /* well-formed HTTP-version other than HTTP/1.0 or HTTP/1.1 (505) */
	XM_H1_E_TARGET,             /* request-target: bad byte, form not allowed for the method, userinfo */
	XM_H1_E_TARGET_TOO_LONG,    /* request line alone exceeds max_head_bytes (414) */
	XM_H1_E_BARE_LF,            /* LF not preceded by CR, in any line the codec parses */
	XM_H1_E_BARE_CR,            /* CR not followed by LF */
	XM_H1_E_LEADING_WS,         /* whitespace line between the start line and the first field */
	XM_H1_E_OBS_FOLD,           /* field line continued by a line starting with SP/HTAB */
	XM_H1_E_FIELD_NAME,         /* empty name, non-token byte, no colon */
	XM_H1_E_WS_BEFORE_COLON,    /* SP/HTAB between field name and colon */
	XM_H1_E_FIELD_VALUE,        /* NUL or another control byte in a field value */
	XM_H1_E_HEAD_TOO_LARGE,     /* head above max_head_bytes (431) */
	XM_H1_E_TOO_MANY_FIELDS,    /* more than max_fields field lines (431) */
	XM_H1_E_HOST_MISSING,       /* HTTP/1.1 request without Host */
	XM_H1_E_HOST_REPEATED,      /* more than one Host line */
	XM_H1_E_HOST_INVALID,       /* Host value is not uri-host [":" port] */
	XM_H1_E_HOST_MISMATCH,      /* absolute-form authority differs from Host */
	XM_H1_E_CL_INVALID,         /* Content-Length not 1*DIGIT (lists included) or above 2^63-1 */
	XM_H1_E_CL_REPEATED,        /* more than one Content-Length line, even if equal */
	XM_H1_E_CL_WITH_TE,         /* Content-Length and Transfer-Encoding together */
	XM_H1_E_TE_INVALID,         /* Transfer-Encoding empty, empty list element, parameters, non-token */
	XM_H1_E_TE_NOT_CHUNKED,     /* final transfer coding is not chunked */
	XM_H1_E_TE_CHUNKED_TWICE,   /* chunked applied more than once */
	XM_H1_E_TE_UNSUPPORTED,     /* a coding other than chunked before the final chunked (501) */
	XM_H1_E_TE_HTTP10,          /* Transfer-Encoding in an HTTP/1.0 message */
	XM_H1_E_BODY_NOT_ALLOWED,   /* CONNECT request with content; 1xx/204 with TE or Content-Length != 0 */
	XM_H1_E_BODY_TOO_LARGE,     /* Content-Length or chunked total above max_body (413) */
	XM_H1_E_CHUNK_SIZE,         /* chunk-size not 1*HEXDIG, junk or whitespace after it, overflow */
	XM_H1_E_CHUNK_EXT,          /* malformed chunk extension, or chunk line above max_chunk_line */
	XM_H1_E_CHUNK_CRLF,         /* chunk data not followed by CRLF */
	XM_H1_E_TRAILERS_TOO_LARGE, /* trailer section above max_trailer_bytes (431) */
	XM_H1_E__COUNT
};
const char *xm_http1_err_name(int err); /* "start_line", ...; accepts err or -err; "unknown" otherwise */
/* Status code to answer with: the request table (400/413/414/431/501/505) or, for a
 * response the upstream sent (is_response != 0), always 502. */
int xm_http1_err_status(int err, int is_response);

enum xm_http1_method {
	XM_H1_M_OTHER = 0, /* any other token: forwarded as is */
	XM_H1_M_GET,
	XM_H1_M_HEAD,
	XM_H1_M_POST,
	XM_H1_M_PUT,
	XM_H1_M_DELETE,
	XM_H1_M_CONNECT,
	XM_H1_M_OPTIONS,
	XM_H1_M_TRACE,
	XM_H1_M_PATCH,
};

enum xm_http1_form {
	XM_H1_FORM_ORIGIN = 1, /* "/path?query" */
	XM_H1_FORM_ABSOLUTE,   /* "http://authority/path" (proxies) */
	XM_H1_FORM_AUTHORITY,  /* "host:port" (CONNECT only) */
	XM_H1_FORM_ASTERISK,   /* "*" (OPTIONS only) */
};

/* How the message body is delimited (RFC 9112 §6.3). */
enum xm_http1_body_kind {
	XM_H1_BODY_NONE = 0,   /* no body: the next message starts right after the head */
	XM_H1_BODY_LENGTH,     /* content_length bytes */
	XM_H1_BODY_CHUNKED,    /* chunked coding, ends with the last chunk and trailer section */
	XM_H1_BODY_CLOSE,      /* response read until the server closes */
	XM_H1_BODY_TUNNEL,     /* 101 or 2xx to CONNECT: raw bytes both ways from here on */
};

/* Field names the codec recognises (field.known), so the proxy finds framing and
 * hop-by-hop fields without comparing names again. */
enum xm_http1_hdr {
	XM_H1_H_OTHER = 0,
	XM_H1_H_CONTENT_LENGTH,
	XM_H1_H_TRANSFER_ENCODING,
	XM_H1_H_HOST,
	XM_H1_H_CONNECTION,
	XM_H1_H_UPGRADE,
	XM_H1_H_EXPECT,
	XM_H1_H_KEEP_ALIVE,
	XM_H1_H_PROXY_CONNECTION,
	XM_H1_H_TE,
	XM_H1_H_TRAILER,
};

/* Message facts (head.flags). */
enum {
	XM_H1_F_KEEP_ALIVE = 1u << 0,      /* the connection may carry another message after this one */
	XM_H1_F_EXPECT_CONTINUE = 1u << 1, /* HTTP/1.1 request with Expect: 100-continue */
	XM_H1_F_UPGRADE = 1u << 2,         /* request: Connection: upgrade + Upgrade (1.1); response: 101 */
	XM_H1_F_INTERIM = 1u << 3,         /* 1xx other than 101: the final response still follows */
	XM_H1_F_HOST = 1u << 4,            /* a Host field is present (head.host) */
	XM_H1_F_CONN_CLOSE = 1u << 5,      /* Connection: close was sent */
};

/* Bytes [off, off + len) of the view the message was parsed from. */
struct xm_http1_span {
	uint32_t off, len;
};

struct xm_http1_field {
	struct xm_http1_span name;  /* as sent (case kept) */
	struct xm_http1_span value; /* leading and trailing SP/HTAB trimmed; may be empty */
	uint32_t end;               /* just past the line's CRLF: [name.off, end) is the whole line */
	uint8_t known;              /* enum xm_http1_hdr */
};

/* Limits, owned by the control core's snapshot (none is defaulted here). */
struct xm_http1_limits {
	uint32_t max_head_bytes;    /* start line + fields + empty line, leading empty lines included */
	uint16_t max_fields;        /* field lines per head / trailer section */
	uint64_t max_body;          /* Content-Length or decoded chunked total; UINT64_MAX for none */
	uint32_t max_chunk_line;    /* one chunk-size line with its extensions and CRLF */
	uint32_t max_trailer_bytes; /* trailer section including its empty line */
};

/* One parsed head. Call xm_http1_head_init before the first parse of each message, then
 * call the parser again with the same head and a longer view while it returns 0: a head
 * arriving a byte at a time is scanned once for its end and parsed once in full. */
struct xm_http1_head {
	struct xm_http1_field *fields; /* caller's array; NULL to only count */
	uint16_t fields_cap;
	uint16_t nfields;
	uint8_t version;               /* 10 or 11 */
	uint8_t method;                /* enum xm_http1_method (requests) */
	uint8_t form;                  /* enum xm_http1_form (requests) */
	uint8_t body;                  /* enum xm_http1_body_kind */
	uint16_t status;               /* responses: 100..599 */
	uint32_t flags;                /* XM_H1_F_* */
	uint32_t start;                /* start line offset (after skipped empty lines) */
	uint32_t len;                  /* head length, the parser's return value */
	struct xm_http1_span method_s; /* request method token */
	struct xm_http1_span target;   /* request-target as sent */
	struct xm_http1_span authority;/* absolute-form / authority-form: host[:port] part of target */
	struct xm_http1_span host;     /* value of the Host field (XM_H1_F_HOST) */
	struct xm_http1_span upgrade;  /* value of the first Upgrade field (len 0: none) */
	struct xm_http1_span reason;   /* responses: reason phrase */
	uint64_t content_length;       /* XM_H1_BODY_LENGTH (also kept for HEAD/304 responses) */
	uint8_t err;                   /* enum xm_http1_err of the last refusal */
	uint32_t err_off;              /* where it was found (for logs) */
	/* private: resumable end-of-head scan */
	uint32_t scan_off, scan_ls;
	uint8_t scan_prev, scan_seen;
};

void xm_http1_head_init(struct xm_http1_head *h, struct xm_http1_field *fields, uint16_t fields_cap);
/* Parse the request head at the front of v. >0: head length (h filled), 0: need more,
 * <0: -enum xm_http1_err (h->err, h->err_off). Leading empty lines are skipped and counted. */
ssize_t xm_http1_parse_request(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim);
/* Parse the response head at the front of v, answering a request made with req_method
 * (HEAD and CONNECT change how the body is delimited). Same returns. */
ssize_t xm_http1_parse_response(struct xm_http1_head *h, const struct xm_iview *v, const struct xm_http1_limits *lim,
				enum xm_http1_method req_method);

/* Body framing state machine for one message, fed the bytes that follow its head. */
struct xm_http1_body {
	uint8_t kind;         /* enum xm_http1_body_kind */
	uint8_t state;        /* private: chunked state */
	uint8_t done;         /* the message is complete: later bytes belong to the next one */
	uint8_t err;          /* enum xm_http1_err of the last refusal */
	uint64_t remaining;   /* LENGTH: body bytes still to come; CHUNKED: of the current chunk */
	uint64_t total;       /* payload bytes reported so far */
	uint32_t chunks;      /* chunks seen, the last (empty) one included */
	struct xm_http1_limits lim;
};

void xm_http1_body_init(struct xm_http1_body *b, const struct xm_http1_head *h, const struct xm_http1_limits *lim);
/*
 * Walk body bytes at the front of v (the view starts where the previous call stopped).
 * Payload is reported by reference: up to cap ranges in data (offsets into v; *ndata set),
 * which for chunked bodies skip the chunk framing. Returns the bytes consumed (framing and
 * payload), 0 when nothing can be consumed yet, <0 -enum xm_http1_err. Stops at the end of
 * the message (b->done) so that pipelined bytes stay unconsumed. Incomplete chunk lines and
 * trailer sections are never consumed in part. trailers (may be NULL) receives the trailer
 * field lines when this call consumed them (len 0 otherwise). CLOSE and TUNNEL bodies take
 * every byte as payload and are never done: the caller ends them when the peer closes.
 * After a refusal every later call returns the same error (b->err).
 */
ssize_t xm_http1_body_parse(struct xm_http1_body *b, const struct xm_iview *v, struct xm_http1_span *data, unsigned cap,
			    unsigned *ndata, struct xm_http1_span *trailers);

#endif
