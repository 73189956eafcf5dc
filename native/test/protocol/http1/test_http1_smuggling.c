/* The request-smuggling and bad-input table for the HTTP/1 codec: every row's verdict, however its bytes arrive. */
#include <stdio.h>
#include <string.h>

#include "http1.h"
#include "t.h"
#include "t_http1.h"

/*
 * Each row is one input and what the codec must decide: a refusal (reason + the status
 * the proxy answers with) or an acceptance (messages, framing, payload, flags, and a
 * check of parsed fields). Every row runs flat, then with its bytes cut at every
 * position (both as two segments present at once and as two reads), then a byte per
 * segment and a byte per read: the verdict must never change.
 *
 * `./test_http1_smuggling --markdown` prints the table that SMUGGLING.md holds (`make
 * run` fails when they differ); `--corpus DIR` writes the rows as seeds for the fuzzer.
 */

static const struct xm_http1_limits lim_table = {
	.max_head_bytes = 512,
	.max_fields = 16,
	.max_body = 1 << 20,
	.max_chunk_line = 64,
	.max_trailer_bytes = 128,
};

#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16
#define A512 A64 A64 A64 A64 A64 A64 A64 A64
#define CRLF8 "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
#define CRLF64 CRLF8 CRLF8 CRLF8 CRLF8 CRLF8 CRLF8 CRLF8 CRLF8
#define F4(p) p "1: x\r\n" p "2: x\r\n" p "3: x\r\n" p "4: x\r\n"
#define IN(s) .in = (s), .len = sizeof(s) - 1

#define RQ "GET / HTTP/1.1\r\nHost: a\r\n"
#define PQ "POST / HTTP/1.1\r\nHost: a\r\n"
#define PQC PQ "Transfer-Encoding: chunked\r\n\r\n"
#define RS "HTTP/1.1 200 OK\r\n"
#define RSC RS "Transfer-Encoding: chunked\r\n\r\n"

struct row {
	const char *id;
	const char *what;
	const char *in;
	size_t len;
	uint8_t resp;           /* a response to req_method */
	uint8_t req_method;
	int err;                /* expected reason; 0: accepted */
	int status;             /* expected answer for a refusal */
	unsigned nmsgs;         /* messages accepted before the end / the refusal (default: 1 / 0) */
	int body;               /* accepted: body kind of the first message */
	const char *payload;    /* accepted: decoded payload of all messages */
	uint32_t flags;         /* flags the first message must have (exactly, for the F_* listed in flag_mask) */
	uint32_t flag_mask;
	void (*check)(const struct th_verdict *vd, const uint8_t *in);
	const char *show;       /* how SMUGGLING.md shows the bytes, when they are too long */
	const char *src;
};

/* ---- field checks for accepted rows ---- */

#define CK(name) static void name(const struct th_verdict *vd, const uint8_t *in)
#define FIRST (&vd->first)
#define AT(s) (in + vd->m[0].start), (s)

CK(ck_get)
{
	T_CHECK_EQ(FIRST->method, XM_H1_M_GET);
	T_CHECK_EQ(FIRST->form, XM_H1_FORM_ORIGIN);
	T_CHECK_EQ(FIRST->version, 11);
	T_CHECK(th_span_is(AT(FIRST->method_s), "GET"));
	T_CHECK(th_span_is(AT(FIRST->target), "/"));
	T_CHECK(th_span_is(AT(FIRST->host), "a"));
	T_CHECK_EQ(FIRST->nfields, 1);
}
CK(ck_leading_crlf)
{
	T_CHECK_EQ(FIRST->start, 4);
	T_CHECK(th_span_is(AT(FIRST->target), "/x"));
}
CK(ck_post_cl)
{
	T_CHECK_EQ(FIRST->method, XM_H1_M_POST);
	T_CHECK_EQ(FIRST->content_length, 5);
	T_CHECK_EQ(FIRST->fields[1].known, XM_H1_H_CONTENT_LENGTH);
	T_CHECK(th_span_is(AT(FIRST->fields[1].value), "5"));
}
CK(ck_cl_zeros) { T_CHECK_EQ(FIRST->content_length, 5); }
CK(ck_chunked_trailers)
{
	T_CHECK_EQ(vd->m[0].trailers_len, strlen("X-T: 1\r\nX-Checksum: abc\r\n"));
	T_CHECK_EQ(FIRST->fields[1].known, XM_H1_H_TRANSFER_ENCODING);
}
CK(ck_options) { T_CHECK_EQ(FIRST->form, XM_H1_FORM_ASTERISK); T_CHECK_EQ(FIRST->method, XM_H1_M_OPTIONS); }
CK(ck_connect)
{
	T_CHECK_EQ(FIRST->method, XM_H1_M_CONNECT);
	T_CHECK_EQ(FIRST->form, XM_H1_FORM_AUTHORITY);
	T_CHECK(th_span_is(AT(FIRST->authority), "a.example:443"));
}
CK(ck_absolute)
{
	T_CHECK_EQ(FIRST->form, XM_H1_FORM_ABSOLUTE);
	T_CHECK(th_span_is(AT(FIRST->authority), "a.example"));
	T_CHECK(th_span_is(AT(FIRST->target), "http://a.example/p?q"));
}
CK(ck_absolute_port) { T_CHECK(th_span_is(AT(FIRST->authority), "a.example:80")); }
CK(ck_http10) { T_CHECK_EQ(FIRST->version, 10); T_CHECK(!(FIRST->flags & XM_H1_F_HOST)); }
CK(ck_upgrade) { T_CHECK(th_span_is(AT(FIRST->upgrade), "websocket")); }
CK(ck_ows)
{
	T_CHECK(th_span_is(AT(FIRST->host), "a"));
	T_CHECK(th_span_is(AT(FIRST->fields[1].name), "X-A"));
	T_CHECK(th_span_is(AT(FIRST->fields[1].value), "b \t c"));
	T_CHECK(th_span_is(AT(FIRST->fields[2].value), ""));
	T_CHECK_EQ(FIRST->fields[2].known, XM_H1_H_OTHER);
	/* a whole line is [name.off, end) */
	T_CHECK_EQ(FIRST->fields[2].end - FIRST->fields[2].name.off, strlen("X-Empty:\r\n"));
}
CK(ck_obs_text) { T_CHECK_EQ(FIRST->fields[1].value.len, 4); }
CK(ck_underscore)
{
	T_CHECK_EQ(FIRST->fields[1].known, XM_H1_H_OTHER);
	T_CHECK(th_span_is(AT(FIRST->fields[1].name), "Transfer_Encoding"));
}
CK(ck_ipv6) { T_CHECK(th_span_is(AT(FIRST->host), "[::1]:8080")); }
CK(ck_custom_method) { T_CHECK_EQ(FIRST->method, XM_H1_M_OTHER); T_CHECK(th_span_is(AT(FIRST->method_s), "M-SEARCH")); }
CK(ck_long_method) { T_CHECK_EQ(FIRST->method, XM_H1_M_OTHER); T_CHECK(th_span_is(AT(FIRST->method_s), "MKCALENDAR")); }
CK(ck_resp_host) { T_CHECK(!(FIRST->flags & XM_H1_F_HOST)); T_CHECK_EQ(FIRST->fields[0].known, XM_H1_H_HOST); }
CK(ck_lower_method) { T_CHECK_EQ(FIRST->method, XM_H1_M_OTHER); T_CHECK(th_span_is(AT(FIRST->method_s), "get")); }
CK(ck_pipeline)
{
	T_CHECK_EQ(vd->m[0].method, XM_H1_M_GET);
	T_CHECK_EQ(vd->m[1].method, XM_H1_M_POST);
	T_CHECK_EQ(vd->m[1].payload_len, 5);
	T_CHECK_EQ(vd->m[2].method, XM_H1_M_HEAD);
	T_CHECK_EQ(vd->m[2].start, vd->m[1].start + vd->m[1].head_len + 5);
}
CK(ck_resp_200) { T_CHECK_EQ(FIRST->status, 200); T_CHECK(th_span_is(AT(FIRST->reason), "OK")); }
CK(ck_resp_noreason) { T_CHECK_EQ(FIRST->status, 200); T_CHECK_EQ(FIRST->reason.len, 0); }
CK(ck_resp_interim)
{
	T_CHECK_EQ(vd->m[0].status, 100);
	T_CHECK(vd->m[0].flags & XM_H1_F_INTERIM);
	T_CHECK_EQ(vd->m[1].status, 200);
	T_CHECK(!(vd->m[1].flags & XM_H1_F_INTERIM));
}
CK(ck_resp_304) { T_CHECK_EQ(FIRST->status, 304); T_CHECK_EQ(FIRST->content_length, 5); }
CK(ck_resp_trailers) { T_CHECK_EQ(vd->m[0].trailers_len, strlen("grpc-status: 0\r\n")); }
CK(ck_status) { T_CHECK_EQ(vd->m[0].status, 204); }

/* ---- the table ---- */

#define HAP "HAProxy"
#define ENV "Envoy"

static const struct row rows[] = {
	/* ===== accepted: what a strict parser must still take ===== */
	{ "ok-get", "simple GET", IN(RQ "\r\n"), .body = XM_H1_BODY_NONE, .flags = XM_H1_F_KEEP_ALIVE | XM_H1_F_HOST,
	  .flag_mask = ~0u, .check = ck_get, .src = "RFC 9112 §3" },
	{ "ok-leading-crlf", "empty lines before the request line are skipped", IN("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .check = ck_leading_crlf, .src = "RFC 9112 §2.2 (SHOULD ignore at least one); " HAP " skips them" },
	{ "ok-post-cl", "Content-Length body forwarded by reference", IN(PQ "Content-Length: 5\r\n\r\nhello"),
	  .body = XM_H1_BODY_LENGTH, .payload = "hello", .check = ck_post_cl, .src = "RFC 9112 §6.2" },
	{ "ok-cl-zeros", "Content-Length with leading zeros", IN(PQ "Content-Length: 005\r\n\r\nhello"),
	  .body = XM_H1_BODY_LENGTH, .payload = "hello", .check = ck_cl_zeros, .src = "RFC 9110 §8.6 (1*DIGIT); llhttp, " HAP " accept" },
	{ "ok-chunked", "chunked with extensions, a quoted extension, upper-case hex and trailers",
	  IN(PQC "5;a=b;c\r\nhello\r\nA;q=\"x \\\"y\\\"\"\r\n0123456789\r\n000\r\nX-T: 1\r\nX-Checksum: abc\r\n\r\n"),
	  .body = XM_H1_BODY_CHUNKED, .payload = "hello0123456789", .check = ck_chunked_trailers, .src = "RFC 9112 §7.1, §7.1.1, §7.1.2" },
	{ "ok-te-case", "transfer coding names are case-insensitive", IN(PQ "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"),
	  .body = XM_H1_BODY_CHUNKED, .payload = "", .src = "RFC 9112 §7 (case-insensitive)" },
	{ "ok-options-star", "asterisk-form for OPTIONS", IN("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), .check = ck_options,
	  .src = "RFC 9112 §3.2.4" },
	{ "ok-connect", "CONNECT in authority-form, Content-Length: 0 allowed",
	  IN("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nContent-Length: 0\r\n\r\n"), .check = ck_connect,
	  .src = "RFC 9112 §3.2.3; " ENV " drops a zero Content-Length on CONNECT" },
	{ "ok-absolute", "absolute-form whose authority equals Host",
	  IN("GET http://a.example/p?q HTTP/1.1\r\nHost: a.example\r\n\r\n"), .check = ck_absolute, .src = "RFC 9112 §3.2.2" },
	{ "ok-absolute-default-port", "absolute-form with the scheme's default port spelled out",
	  IN("GET http://a.example:80/ HTTP/1.1\r\nHost: A.Example\r\n\r\n"), .check = ck_absolute_port,
	  .src = HAP " h1_validate_mismatch_authority (default ports)" },
	{ "ok-http10", "HTTP/1.0 without Host, closes by default", IN("GET / HTTP/1.0\r\n\r\n"), .flags = 0,
	  .flag_mask = XM_H1_F_KEEP_ALIVE, .check = ck_http10, .src = "RFC 9112 §9.3 (1.0 persists only with keep-alive)" },
	{ "ok-http10-keepalive", "HTTP/1.0 with Connection: keep-alive", IN("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
	  .flags = XM_H1_F_KEEP_ALIVE, .flag_mask = XM_H1_F_KEEP_ALIVE, .src = "RFC 9112 §9.3, Appendix C.2.2" },
	{ "ok-close", "Connection: close ends the connection after the message", IN(RQ "Connection: foo, close\r\n\r\n"),
	  .flags = XM_H1_F_CONN_CLOSE, .flag_mask = XM_H1_F_KEEP_ALIVE | XM_H1_F_CONN_CLOSE, .src = "RFC 9112 §9.6" },
	{ "ok-expect", "Expect: 100-continue on HTTP/1.1", IN(PQ "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nx"),
	  .body = XM_H1_BODY_LENGTH, .payload = "x", .flags = XM_H1_F_EXPECT_CONTINUE, .flag_mask = XM_H1_F_EXPECT_CONTINUE,
	  .src = "RFC 9110 §10.1.1" },
	{ "ok-expect-http10", "Expect: 100-continue is ignored on HTTP/1.0",
	  IN("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"), .body = XM_H1_BODY_LENGTH, .payload = "x",
	  .flags = 0, .flag_mask = XM_H1_F_EXPECT_CONTINUE, .src = "RFC 9110 §10.1.1 (MUST ignore in 1.0)" },
	{ "ok-upgrade", "websocket upgrade request", IN(RQ "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
	  .flags = XM_H1_F_UPGRADE, .flag_mask = XM_H1_F_UPGRADE, .check = ck_upgrade, .src = "RFC 9110 §7.8" },
	{ "ok-upgrade-no-conn", "Upgrade without Connection: upgrade is not an upgrade", IN(RQ "Upgrade: websocket\r\n\r\n"),
	  .flags = 0, .flag_mask = XM_H1_F_UPGRADE, .src = "RFC 9110 §7.8, §7.6.1" },
	{ "ok-ows", "OWS around values trimmed, empty value kept", IN("GET / HTTP/1.1\r\nHost:\t a \t\r\nX-A:  b \t c  \r\nX-Empty:\r\n\r\n"),
	  .check = ck_ows, .src = "RFC 9112 §5.1" },
	{ "ok-obs-text", "obs-text (bytes >= 0x80) in a value", IN(RQ "X-U: \xc3\xa9t\xe9\r\n\r\n"), .check = ck_obs_text,
	  .src = "RFC 9110 §5.5 (obs-text)" },
	{ "ok-underscore", "Transfer_Encoding is another field (underscore is a tchar), not framing",
	  IN(RQ "Transfer_Encoding: chunked\r\n\r\n"), .body = XM_H1_BODY_NONE, .check = ck_underscore,
	  .src = "RFC 9110 §5.6.2; " ENV " forwards by default (headers_with_underscores_action: ALLOW)" },
	{ "ok-ipv6-host", "IP-literal Host with port", IN("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), .check = ck_ipv6,
	  .src = "RFC 3986 §3.2.2" },
	{ "ok-custom-method", "an unknown method in origin-form", IN("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .check = ck_custom_method, .src = "RFC 9110 §9.1 (method = token)" },
	{ "ok-long-method", "a method longer than any the codec names", IN("MKCALENDAR /cal HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .check = ck_long_method, .src = "RFC 9110 §9.1; RFC 4791" },
	{ "ok-lowercase-method", "methods are case-sensitive: get is another method", IN("get / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .check = ck_lower_method, .src = "RFC 9110 §9.1" },
	{ "ok-pipeline", "three pipelined requests, each head's length reported",
	  IN(RQ "\r\n" PQ "Content-Length: 5\r\n\r\nhello" "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), .nmsgs = 3, .payload = "hello",
	  .check = ck_pipeline, .src = "RFC 9112 §9.3.2" },
	{ "ok-resp-host-ignored", "a Host field in a response is an ordinary field", IN(RS "Host: x\r\nHost: y\r\nContent-Length: 0\r\n\r\n"),
	  .resp = 1, .check = ck_resp_host, .src = "RFC 9110 §7.2 (Host is a request field)" },
	{ "ok-resp-200", "response with Content-Length", IN(RS "Content-Length: 2\r\n\r\nok"), .resp = 1,
	  .body = XM_H1_BODY_LENGTH, .payload = "ok", .flags = XM_H1_F_KEEP_ALIVE, .flag_mask = XM_H1_F_KEEP_ALIVE,
	  .check = ck_resp_200, .src = "RFC 9112 §4, §6.3" },
	{ "ok-resp-chunked", "chunked response with trailers", IN(RSC "2\r\nok\r\n0\r\ngrpc-status: 0\r\n\r\n"), .resp = 1,
	  .body = XM_H1_BODY_CHUNKED, .payload = "ok", .check = ck_resp_trailers, .src = "RFC 9112 §7.1.2" },
	{ "ok-resp-close", "response without length is read until close", IN(RS "\r\nuntil close"), .resp = 1,
	  .body = XM_H1_BODY_CLOSE, .payload = "until close", .flags = 0, .flag_mask = XM_H1_F_KEEP_ALIVE,
	  .src = "RFC 9112 §6.3 rule 8" },
	{ "ok-resp-noreason", "status line without reason phrase (no second SP)", IN("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
	  .resp = 1, .check = ck_resp_noreason, .src = HAP " accepts; reason is ignored (RFC 9112 §4)" },
	{ "ok-resp-204-cl0", "204 with Content-Length: 0", IN("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"), .resp = 1,
	  .body = XM_H1_BODY_NONE, .check = ck_status, .src = ENV " (strict 1xx/204: only a zero Content-Length)" },
	{ "ok-resp-304-cl", "304 with Content-Length has no body", IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
	  .resp = 1, .body = XM_H1_BODY_NONE, .check = ck_resp_304, .src = "RFC 9112 §6.3 rule 1, RFC 9110 §8.6" },
	{ "ok-resp-head", "response to HEAD with Content-Length has no body", IN(RS "Content-Length: 5\r\n\r\n"), .resp = 1,
	  .req_method = XM_H1_M_HEAD, .body = XM_H1_BODY_NONE, .src = "RFC 9112 §6.3 rule 1" },
	{ "ok-resp-100", "interim 100 then the final response", IN("HTTP/1.1 100 Continue\r\n\r\n" RS "Content-Length: 0\r\n\r\n"),
	  .resp = 1, .nmsgs = 2, .check = ck_resp_interim, .src = "RFC 9110 §15.2" },
	{ "ok-resp-101", "101 switches to a tunnel", IN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x7f"),
	  .resp = 1, .body = XM_H1_BODY_TUNNEL, .payload = "\x81\x7f", .flags = XM_H1_F_UPGRADE, .flag_mask = XM_H1_F_UPGRADE,
	  .src = "RFC 9110 §15.2.2" },
	{ "ok-resp-connect", "2xx to CONNECT is a tunnel; its Content-Length is ignored, not judged",
	  IN(RS "Content-Length: junk\r\n\r\ntunnel"), .resp = 1, .req_method = XM_H1_M_CONNECT, .body = XM_H1_BODY_TUNNEL,
	  .payload = "tunnel", .src = "RFC 9112 §6.3 rule 2 (MUST ignore)" },

	/* ===== Content-Length / Transfer-Encoding: the smuggling core ===== */
	{ "cl-te", "Content-Length and Transfer-Encoding together", IN(PQ "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CL_WITH_TE, .status = 400,
	  .src = "RFC 9112 §6.1, §6.3 rule 3 (ought to be an error), §11.2; " ENV " 400 http1.content_length_and_chunked_not_allowed; " HAP " drops CL and closes" },
	{ "te-cl", "Transfer-Encoding first, then Content-Length", IN(PQ "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CL_WITH_TE, .status = 400, .src = "same as cl-te" },
	{ "cl-te-zero", "CL: 0 with TE", IN(PQ "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"), .err = XM_H1_E_CL_WITH_TE,
	  .status = 400, .src = "same as cl-te" },
	{ "cl-repeated-same", "Content-Length twice with the same value", IN(PQ "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
	  .err = XM_H1_E_CL_REPEATED, .status = 400,
	  .src = "RFC 9110 §8.6 (MAY reject or merge); " ENV " rejects (disallow_multiple_content_length); " HAP " merges equal values" },
	{ "cl-repeated-differ", "Content-Length twice with different values", IN(PQ "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
	  .err = XM_H1_E_CL_REPEATED, .status = 400, .src = "RFC 9110 §8.6, RFC 9112 §6.3 rule 5; " HAP ", " ENV " reject" },
	{ "cl-list-same", "Content-Length list of equal values", IN(PQ "Content-Length: 5, 5\r\n\r\nhello"), .err = XM_H1_E_CL_INVALID,
	  .status = 400, .src = "RFC 9110 §8.6 (MAY reject); " HAP " collapses to 5; " ENV " and llhttp reject" },
	{ "cl-list-differ", "Content-Length list of different values", IN(PQ "Content-Length: 5, 6\r\n\r\nhello!"),
	  .err = XM_H1_E_CL_INVALID, .status = 400, .src = "RFC 9112 §6.3 rule 5; every proxy rejects" },
	{ "cl-plus", "Content-Length with a sign", IN(PQ "Content-Length: +5\r\n\r\nhello"), .err = XM_H1_E_CL_INVALID, .status = 400,
	  .src = "RFC 9110 §8.6 (1*DIGIT)" },
	{ "cl-negative", "negative Content-Length", IN(PQ "Content-Length: -1\r\n\r\n"), .err = XM_H1_E_CL_INVALID, .status = 400,
	  .src = "RFC 9110 §8.6" },
	{ "cl-hex", "hex Content-Length", IN(PQ "Content-Length: 0x5\r\n\r\nhello"), .err = XM_H1_E_CL_INVALID, .status = 400,
	  .src = "RFC 9110 §8.6" },
	{ "cl-inner-space", "digits separated by a space", IN(PQ "Content-Length: 1 2\r\n\r\n"), .err = XM_H1_E_CL_INVALID, .status = 400,
	  .src = "RFC 9110 §8.6" },
	{ "cl-empty", "empty Content-Length", IN(PQ "Content-Length:\r\n\r\n"), .err = XM_H1_E_CL_INVALID, .status = 400,
	  .src = "RFC 9110 §8.6; " HAP ", llhttp reject" },
	{ "cl-overflow", "Content-Length above 2^63-1", IN(PQ "Content-Length: 9223372036854775808\r\n\r\n"), .err = XM_H1_E_CL_INVALID,
	  .status = 400, .src = "RFC 9110 §8.6 (anticipate overflow); llhttp 'Content-Length overflow'" },
	{ "cl-too-large", "Content-Length above max_body", IN(PQ "Content-Length: 1048577\r\n\r\n"), .err = XM_H1_E_BODY_TOO_LARGE,
	  .status = 413, .src = "RFC 9110 §15.5.14" },
	{ "cl-nul", "NUL after the Content-Length digits", IN(PQ "Content-Length: 5\x00\r\n\r\nhello"), .err = XM_H1_E_FIELD_VALUE,
	  .status = 400, .src = "RFC 9110 §5.5" },
	{ "cl-ws-colon", "second Content-Length hidden by a space before the colon",
	  IN(PQ "Content-Length: 5\r\nContent-Length : 6\r\n\r\nhello!"), .err = XM_H1_E_WS_BEFORE_COLON, .status = 400,
	  .src = "RFC 9112 §5.1 (MUST reject with 400)" },
	{ "te-chunked-gzip", "chunked is not the final coding", IN(PQ "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_TE_NOT_CHUNKED, .status = 400, .src = "RFC 9112 §6.1, §6.3 rule 4 (MUST 400 and close); " HAP " fatal" },
	{ "te-gzip-chunked", "a coding we do not implement before chunked", IN(PQ "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_TE_UNSUPPORTED, .status = 501,
	  .src = "RFC 9112 §6.1 (SHOULD 501); " ENV " 501 http1.invalid_transfer_encoding; " HAP " 422" },
	{ "te-identity", "identity (removed from the registry)", IN(PQ "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
	  .err = XM_H1_E_CL_WITH_TE, .status = 400, .src = "RFC 9112 §6.1, §6.3; llhttp rejects TE + CL" },
	{ "te-identity-alone", "identity without Content-Length", IN(PQ "Transfer-Encoding: identity\r\n\r\n"),
	  .err = XM_H1_E_TE_NOT_CHUNKED, .status = 400, .src = "RFC 9112 §6.3 rule 4; llhttp 'Request has invalid Transfer-Encoding'" },
	{ "te-xchunked", "a coding that only looks like chunked", IN(PQ "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_TE_NOT_CHUNKED, .status = 400, .src = "RFC 9112 §6.3 rule 4" },
	{ "te-chunked-twice", "chunked applied twice in one line", IN(PQ "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_TE_CHUNKED_TWICE, .status = 400, .src = "RFC 9112 §6.1 (MUST NOT apply chunked more than once); " HAP " rejects" },
	{ "te-chunked-two-lines", "chunked in two Transfer-Encoding lines",
	  IN(PQ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_CHUNKED_TWICE,
	  .status = 400, .src = "RFC 9110 §5.3 (lines combine in order); " ENV "/Balsa MULTIPLE_TRANSFER_ENCODING_KEYS" },
	{ "te-two-lines-gzip-last", "second TE line makes gzip final",
	  IN(PQ "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_NOT_CHUNKED, .status = 400,
	  .src = "RFC 9110 §5.3, RFC 9112 §6.3 rule 4" },
	{ "te-two-lines-gzip-first", "first TE line gzip, second chunked",
	  IN(PQ "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_UNSUPPORTED, .status = 501,
	  .src = "RFC 9112 §6.1 (SHOULD 501)" },
	{ "te-empty", "empty Transfer-Encoding", IN(PQ "Transfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello"),
	  .err = XM_H1_E_TE_INVALID, .status = 400, .src = HAP ", llhttp reject an empty TE" },
	{ "te-empty-element", "empty list element before chunked", IN(PQ "Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_TE_INVALID, .status = 400,
	  .src = "RFC 9110 §5.6.1 would skip it, but a peer reading the first element sees no coding: " HAP " rejects" },
	{ "te-trailing-comma", "trailing comma", IN(PQ "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_INVALID,
	  .status = 400, .src = HAP " rejects (empty last value)" },
	{ "te-param", "chunked with a parameter", IN(PQ "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_INVALID,
	  .status = 400, .src = "RFC 9112 §7 (chunked takes no parameters); " ENV " accepts only 'chunked'" },
	{ "te-quoted", "quoted chunked", IN(PQ "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_INVALID,
	  .status = 400, .src = "RFC 9112 §6.1 (transfer-coding is a token)" },
	{ "te-inner-space", "space inside the coding name", IN(PQ "Transfer-Encoding: chun ked\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_INVALID,
	  .status = 400, .src = "RFC 9112 §6.1" },
	{ "te-vtab", "vertical tab before chunked", IN(PQ "Transfer-Encoding: \x0b" "chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_FIELD_VALUE, .status = 400, .src = "RFC 9110 §5.5 (CTL); PortSwigger TE obfuscation" },
	{ "te-http10", "Transfer-Encoding in an HTTP/1.0 request",
	  IN("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), .err = XM_H1_E_TE_HTTP10, .status = 400,
	  .src = "RFC 9112 §6.1 (treat framing as faulty); " HAP " forces close" },
	{ "te-ws-colon", "space between Transfer-Encoding and colon", IN(PQ "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_WS_BEFORE_COLON, .status = 400, .src = "RFC 9112 §5.1 (MUST 400); " HAP ", " ENV " reject" },
	{ "te-tab-colon", "tab between Transfer-Encoding and colon", IN(PQ "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_WS_BEFORE_COLON, .status = 400, .src = "RFC 9112 §5.1" },
	{ "te-leading-ws", "whitespace before the first field hides it", IN("POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_LEADING_WS, .status = 400, .src = "RFC 9112 §2.2 (MUST reject or ignore the line)" },
	{ "te-obs-fold", "chunked folded onto a continuation line", IN(PQ "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_OBS_FOLD, .status = 400, .src = "RFC 9112 §5.2 (MUST 400 or unfold); " HAP " unfolds; " ENV " (Balsa) accepts" },
	{ "connect-cl", "CONNECT with content", IN("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\nhello"),
	  .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 400, .src = "RFC 9110 §9.3.6; " ENV " http1.content_length_not_allowed" },
	{ "connect-te", "CONNECT with Transfer-Encoding", IN("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	  .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 400, .src = "RFC 9110 §9.3.6; " ENV " http1.transfer_encoding_not_allowed" },

	/* ===== chunked body ===== */
	{ "chunk-overflow", "chunk size above 2^64", IN(PQC "10000000000000000\r\nx\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE,
	  .status = 400, .src = "RFC 9112 §7.1 (anticipate overflow); llhttp 'Chunk size overflow'" },
	{ "chunk-huge", "chunk size 2^64-1 passes parsing but not max_body", IN(PQC "ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
	  .err = XM_H1_E_BODY_TOO_LARGE, .status = 413, .src = "RFC 9110 §15.5.14" },
	{ "chunk-total-too-large", "chunks adding up above max_body", IN(PQC "100001\r\n"), .err = XM_H1_E_BODY_TOO_LARGE, .status = 413,
	  .src = "max_body counts decoded bytes" },
	{ "chunk-junk", "junk after the size", IN(PQC "5x\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "RFC 9112 §7.1; llhttp 'Invalid character in chunk size'" },
	{ "chunk-0x", "0x prefix", IN(PQC "0x5\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400, .src = "RFC 9112 §7.1" },
	{ "chunk-negative", "negative size", IN(PQC "-5\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "RFC 9112 §7.1" },
	{ "chunk-leading-space", "space before the size", IN(PQC " 5\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "RFC 9112 §7.1" },
	{ "chunk-trailing-space", "space after the size", IN(PQC "5 \r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "llhttp (lenient_spaces_after_chunk_size off); " HAP " tolerates" },
	{ "chunk-trailing-tab", "tab after the size", IN(PQC "5\t\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "as chunk-trailing-space" },
	{ "chunk-bws-ext", "whitespace before ';'", IN(PQC "5 ;a=b\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "BWS is grammatical (RFC 9112 §7.1.1) but refused like llhttp: its peers may not parse it" },
	{ "chunk-empty-size", "empty chunk-size line", IN(PQC "\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE, .status = 400,
	  .src = "RFC 9112 §7.1 (1*HEXDIG)" },
	{ "chunk-bare-lf", "chunk-size line ended by a bare LF", IN(PQC "5\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = "RFC 9112 §2.2 (MAY accept; refused); llhttp strict" },
	{ "chunk-bare-cr", "chunk-size line with CR not followed by LF", IN(PQC "5\rhello\r\n0\r\n\r\n"), .err = XM_H1_E_BARE_CR,
	  .status = 400, .src = "RFC 9112 §2.2" },
	{ "chunk-no-crlf", "chunk data not followed by CRLF", IN(PQC "5\r\nhelloX0\r\n\r\n"), .err = XM_H1_E_CHUNK_CRLF, .status = 400,
	  .src = "RFC 9112 §7.1; llhttp (lenient_optional_crlf_after_chunk off)" },
	{ "chunk-lf-only", "chunk data followed by a bare LF", IN(PQC "5\r\nhello\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_CRLF, .status = 400,
	  .src = "RFC 9112 §7.1" },
	{ "chunk-cr-only", "chunk data followed by CR and not LF", IN(PQC "5\r\nhello\r0\r\n\r\n"), .err = XM_H1_E_CHUNK_CRLF,
	  .status = 400, .src = "RFC 9112 §7.1" },
	{ "chunk-longer-than-size", "more data than the size says", IN(PQC "3\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_CRLF,
	  .status = 400, .src = "RFC 9112 §7.1" },
	{ "chunk-ext-empty", "';' with no extension name", IN(PQC "5;\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_EXT, .status = 400,
	  .src = "RFC 9112 §7.1.1; llhttp 'Invalid character in chunk extensions'" },
	{ "chunk-ext-bws", "space after ';'", IN(PQC "5; a=b\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_EXT, .status = 400,
	  .src = "as chunk-bws-ext" },
	{ "chunk-ext-no-semicolon", "extension without ';'", IN(PQC "2 erfrferferf\r\naa\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_SIZE,
	  .status = 400, .src = "llhttp transfer-encoding.md 'No semicolon before chunk extensions'" },
	{ "chunk-ext-double-eq", "a=b=c", IN(PQC "5;a=b=c\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_CHUNK_EXT, .status = 400,
	  .src = "RFC 9112 §7.1.1" },
	{ "chunk-ext-unterminated", "quoted value running into the line end", IN(PQC "5;a=\"b\r\nhello\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CHUNK_EXT, .status = 400, .src = "llhttp 'Invalid character in chunk extensions quoted value'" },
	{ "chunk-ext-quoted-ctl", "quoted-pair escaping a control byte", IN(PQC "5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CHUNK_EXT, .status = 400, .src = "RFC 9110 §5.6.4 (quoted-pair: HTAB / SP / VCHAR / obs-text)" },
	{ "chunk-ext-lf", "bare LF inside an extension", IN(PQC "5;a\nb\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = ENV "/Balsa disallow_lone_lf_in_chunk_extension" },
	{ "chunk-ext-cr", "bare CR inside an extension", IN(PQC "5;a\rb\r\nhello\r\n0\r\n\r\n"), .err = XM_H1_E_BARE_CR, .status = 400,
	  .src = ENV " http1_balsa_disallow_lone_cr_in_chunk_extension" },
	{ "chunk-ext-too-long", "chunk line above max_chunk_line (64)", IN(PQC "5;a=" A64 "\r\nhello\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CHUNK_EXT, .status = 400, .show = "POST ... chunked\\r\\n\\r\\n5;a=aaa…(64 a)\\r\\nhello…",
	  .src = "RFC 9112 §7.1.1 (limit extensions; CVE-2023-39326, CVE-2024-22019)" },
	{ "chunk-size-too-long", "64 zeros of chunk size", IN(PQC "0000000000000000000000000000000000000000000000000000000000000000005\r\nhello\r\n0\r\n\r\n"),
	  .err = XM_H1_E_CHUNK_SIZE, .status = 400, .show = "POST ... chunked\\r\\n\\r\\n000…(66 zeros)5\\r\\nhello…",
	  .src = "bounded by max_chunk_line" },
	{ "chunk-trailer-fold", "obs-fold in the trailer section", IN(PQC "0\r\nX-T: a\r\n b\r\n\r\n"), .err = XM_H1_E_OBS_FOLD,
	  .status = 400, .src = "RFC 9112 §5.2, §7.1.2" },
	{ "chunk-trailer-ws-colon", "space before the colon in a trailer", IN(PQC "0\r\nX-T : a\r\n\r\n"), .err = XM_H1_E_WS_BEFORE_COLON,
	  .status = 400, .src = "RFC 9112 §5.1" },
	{ "chunk-trailer-bare-lf", "trailer line ended by a bare LF", IN(PQC "0\r\nX-T: a\n\r\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = "RFC 9112 §2.2" },
	{ "chunk-trailer-too-large", "trailer section above max_trailer_bytes (128)", IN(PQC "0\r\nX-T: " A64 A64 "\r\n\r\n"),
	  .err = XM_H1_E_TRAILERS_TOO_LARGE, .status = 431, .show = "POST ... chunked\\r\\n\\r\\n0\\r\\nX-T: aaa…(128 a)\\r\\n\\r\\n",
	  .src = "RFC 6585 §5; " ENV " TRAILER_TOO_LONG" },
	{ "chunk-incomplete", "stream ends before the last chunk's CRLF: waits, forwards nothing as complete", IN(PQC "0\r\n"),
	  .err = TH_INCOMPLETE, .src = "RFC 9112 §8 (incomplete message)" },

	/* ===== field syntax ===== */
	{ "value-nul", "NUL in a value", IN(RQ "X-A: a\x00" "b\r\n\r\n"), .err = XM_H1_E_FIELD_VALUE, .status = 400,
	  .src = "RFC 9110 §5.5 (MUST reject or replace with SP); " HAP " rejects" },
	{ "value-cr", "CR inside a value", IN(RQ "X-A: a\rb\r\n\r\n"), .err = XM_H1_E_BARE_CR, .status = 400,
	  .src = "RFC 9110 §5.5, RFC 9112 §2.2" },
	{ "value-lf", "LF inside a value (a second line without CR)", IN(RQ "X-A: a\nTransfer-Encoding: chunked\r\n\r\n"),
	  .err = XM_H1_E_BARE_LF, .status = 400, .src = "RFC 9110 §5.5, RFC 9112 §2.2" },
	{ "value-ctl", "another control byte in a value", IN(RQ "X-A: a\x01" "b\r\n\r\n"), .err = XM_H1_E_FIELD_VALUE, .status = 400,
	  .src = "RFC 9110 §5.5 (field-vchar); " ENV " http1.invalid_characters" },
	{ "value-del", "DEL in a value", IN(RQ "X-A: a\x7f\r\n\r\n"), .err = XM_H1_E_FIELD_VALUE, .status = 400, .src = "RFC 9110 §5.5" },
	{ "name-paren", "non-token byte in a name", IN(RQ "X(A): 1\r\n\r\n"), .err = XM_H1_E_FIELD_NAME, .status = 400,
	  .src = "RFC 9110 §5.1 (token); " HAP " rejects unless accept-unsafe-violations" },
	{ "name-obs-text", "byte >= 0x80 in a name", IN(RQ "X-\xe9: 1\r\n\r\n"), .err = XM_H1_E_FIELD_NAME, .status = 400,
	  .src = "RFC 9110 §5.1; Balsa disallow_obs_text_in_field_names" },
	{ "name-nul", "NUL in a name", IN(RQ "X\x00" "A: 1\r\n\r\n"), .err = XM_H1_E_FIELD_NAME, .status = 400, .src = "RFC 9110 §5.1" },
	{ "name-empty", "empty name", IN(RQ ": x\r\n\r\n"), .err = XM_H1_E_FIELD_NAME, .status = 400,
	  .src = "RFC 9110 §5.1; " ENV " uhv.empty_header_name" },
	{ "name-no-colon", "line without a colon", IN(RQ "Foo\r\n\r\n"), .err = XM_H1_E_FIELD_NAME, .status = 400,
	  .src = "RFC 9112 §5; Balsa HEADER_MISSING_COLON" },
	{ "name-ws-colon", "space before the colon", IN(RQ "X-A : 1\r\n\r\n"), .err = XM_H1_E_WS_BEFORE_COLON, .status = 400,
	  .src = "RFC 9112 §5.1" },
	{ "leading-ws", "whitespace line before the first field", IN("GET / HTTP/1.1\r\n X: 1\r\nHost: a\r\n\r\n"),
	  .err = XM_H1_E_LEADING_WS, .status = 400, .src = "RFC 9112 §2.2" },
	{ "obs-fold", "continuation line", IN(RQ "X-A: 1\r\n\t2\r\n\r\n"), .err = XM_H1_E_OBS_FOLD, .status = 400,
	  .src = "RFC 9112 §5.2 (MUST 400 or unfold)" },
	{ "bare-lf-head", "request with LF line endings only", IN("GET / HTTP/1.1\nHost: a\n\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = "RFC 9112 §2.2 (MAY accept); llhttp strict rejects; " HAP " and " ENV "/Balsa accept" },
	{ "bare-lf-field", "one field line ended by LF", IN(RQ "X-A: 1\n\r\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = "RFC 9112 §2.2" },
	{ "bare-lf-end", "head ended by CRLF LF", IN(RQ "\n"), .err = XM_H1_E_BARE_LF, .status = 400, .src = "RFC 9112 §2.2" },
	{ "bare-lf-late", "a bare LF far into an unfinished head is refused at once", IN(RQ "X-A: " A64 "\r\nX-B: 1\n"),
	  .err = XM_H1_E_BARE_LF, .status = 400, .show = "GET / HTTP/1.1\\r\\nHost: a\\r\\nX-A: aaa…(64 a)\\r\\nX-B: 1\\n",
	  .src = "fail fast: the end-of-head scan stops at the first bare LF" },
	{ "bare-lf-leading", "LF before the request line", IN("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_BARE_LF,
	  .status = 400, .src = "RFC 9112 §2.2" },
	{ "bare-cr-eol", "lines ended by CR only", IN("GET / HTTP/1.1\rHost: a\r\r\n\r\n"), .err = XM_H1_E_BARE_CR, .status = 400,
	  .src = "RFC 9112 §2.2 (bare CR MUST be invalid or replaced)" },
	{ "too-many-fields", "17 fields (max_fields 16)", IN(RQ F4("A") F4("B") F4("C") F4("D") "\r\n"), .err = XM_H1_E_TOO_MANY_FIELDS,
	  .status = 431, .show = "GET / HTTP/1.1\\r\\nHost: a\\r\\nA1: x\\r\\n…(16 more fields)\\r\\n",
	  .src = "RFC 6585 §5; " ENV " http1.too_many_headers (431)" },
	{ "head-too-large", "head above max_head_bytes (512)", IN(RQ "X-A: " A512 "\r\n\r\n"), .err = XM_H1_E_HEAD_TOO_LARGE,
	  .status = 431, .show = "GET / HTTP/1.1\\r\\nHost: a\\r\\nX-A: aaa…(512 a)\\r\\n\\r\\n", .src = "RFC 6585 §5; " ENV " http1.headers_too_large" },
	{ "empty-lines-too-many", "only empty lines up to max_head_bytes", IN(CRLF64 CRLF64 CRLF64 CRLF64 "GET / HTTP/1.1\r\n"),
	  .err = XM_H1_E_HEAD_TOO_LARGE, .status = 431, .show = "\\r\\n…(256 empty lines)GET / HTTP/1.1\\r\\n",
	  .src = "RFC 9112 §2.2 (ignore at least one empty line; not unboundedly many)" },
	{ "target-too-long", "request line above max_head_bytes", IN("GET /" A512 " HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .err = XM_H1_E_TARGET_TOO_LONG, .status = 414, .show = "GET /aaa…(512 a) HTTP/1.1\\r\\n…", .src = "RFC 9112 §3 (MUST 414)" },

	/* ===== request line ===== */
	{ "rl-no-version", "HTTP/0.9-style line without version", IN("GET /\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §3 (no 0.9); " HAP " would treat as 0.9" },
	{ "rl-no-target", "method and version only", IN("GET HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §3" },
	{ "rl-double-space", "two spaces after the method", IN("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE,
	  .status = 400, .src = "RFC 9112 §3 (single SP; whitespace-word parsing is a MAY not taken)" },
	{ "rl-trailing-space", "space after the version", IN("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE,
	  .status = 400, .src = "RFC 9112 §3" },
	{ "rl-tabs", "tabs as separators", IN("GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §3" },
	{ "rl-leading-space", "space before the method", IN(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE,
	  .status = 400, .src = "RFC 9112 §3" },
	{ "rl-method-char", "non-token byte in the method", IN("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE,
	  .status = 400, .src = "RFC 9110 §9.1" },
	{ "rl-lowercase-http", "lowercase HTTP-name", IN("GET / http/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §2.3 (case-sensitive)" },
	{ "rl-version-1.2", "HTTP/1.2", IN("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), .err = XM_H1_E_VERSION, .status = 505,
	  .src = "RFC 9110 §6.2 allows treating it as 1.1; refused like llhttp strict (lenient_version off); " ENV "/Balsa accept" },
	{ "rl-version-2.0", "HTTP/2.0 on an HTTP/1 connection", IN("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), .err = XM_H1_E_VERSION,
	  .status = 505, .src = "RFC 9110 §15.6.6" },
	{ "rl-h2-preface", "the HTTP/2 connection preface", IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), .err = XM_H1_E_VERSION, .status = 505,
	  .src = "RFC 9113 §3.4 (prior knowledge sent to an h1 port)" },
	{ "rl-version-0.9", "HTTP/0.9 spelled out", IN("GET / HTTP/0.9\r\n\r\n"), .err = XM_H1_E_VERSION, .status = 505,
	  .src = "RFC 9110 §15.6.6" },
	{ "rl-version-1.10", "three-digit version", IN("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §2.3 (DIGIT \".\" DIGIT)" },
	{ "rl-version-11", "version without a dot", IN("GET / HTTP/11\r\nHost: a\r\n\r\n"), .err = XM_H1_E_START_LINE, .status = 400,
	  .src = "RFC 9112 §2.3" },
	{ "rl-fragment", "fragment in the target", IN("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET, .status = 400,
	  .src = "RFC 9112 §3.2 (no fragment); " HAP " rejects '#'" },
	{ "rl-target-ctl", "control byte in the target", IN("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET,
	  .status = 400, .src = "RFC 3986 §2" },
	{ "rl-target-8bit", "byte >= 0x80 in the target", IN("GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET,
	  .status = 400, .src = "RFC 3986 §2; " HAP " rejects non-ASCII" },
	{ "rl-target-tab", "tab in the target", IN("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET, .status = 400,
	  .src = "RFC 3986 §2" },
	{ "rl-bare-lf", "request line ended by a bare LF", IN("GET / HTTP/1.1\nHost: a\r\n\r\n"), .err = XM_H1_E_BARE_LF, .status = 400,
	  .src = "RFC 9112 §2.2" },
	{ "target-star-get", "asterisk-form with GET", IN("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET, .status = 400,
	  .src = "RFC 9112 §3.2.4; " ENV " uhv, " HAP " reject" },
	{ "target-star-msearch", "asterisk-form with another method", IN("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9112 §3.2.4 (OPTIONS only); " HAP " lets unknown methods use it (PRI)" },
	{ "target-star-more", "asterisk followed by more", IN("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET,
	  .status = 400, .src = "RFC 9112 §3.2.4" },
	{ "target-authority-get", "authority-form with GET", IN("GET a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9112 §3.2.3 (CONNECT only); " HAP " rejects" },
	{ "target-connect-origin", "CONNECT with origin-form", IN("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET,
	  .status = 400, .src = "RFC 9112 §3.2.3" },
	{ "target-connect-no-port", "CONNECT without port", IN("CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9110 §9.3.6 (MUST reject empty or invalid port)" },
	{ "target-connect-userinfo", "CONNECT with userinfo", IN("CONNECT u@a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9112 §3.2.3 (uri-host \":\" port)" },
	{ "target-userinfo", "absolute-form with userinfo", IN("GET http://u:p@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9110 §4.2.4 (treat userinfo as an error)" },
	{ "target-empty-authority", "absolute-form with an empty host", IN("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .err = XM_H1_E_TARGET, .status = 400, .src = "RFC 9110 §4.2.1 (MUST reject empty host)" },
	{ "target-bad-scheme", "scheme starting with a digit", IN("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_TARGET,
	  .status = 400, .src = "RFC 3986 §3.1" },

	{ "target-other-scheme", "absolute-form of a scheme with no known default port, Host without port",
	  IN("GET ftp://a:21/f HTTP/1.1\r\nHost: a\r\n\r\n"), .err = XM_H1_E_HOST_MISMATCH, .status = 400,
	  .src = "only http/https default ports are implied" },
	{ "target-other-scheme-4", "a four-letter scheme is not http", IN("GET ftps://a/f HTTP/1.1\r\nHost: a:80\r\n\r\n"),
	  .err = XM_H1_E_HOST_MISMATCH, .status = 400, .src = "only http/https default ports are implied" },
	/* ===== Host ===== */
	{ "host-missing", "HTTP/1.1 without Host", IN("GET / HTTP/1.1\r\n\r\n"), .err = XM_H1_E_HOST_MISSING, .status = 400,
	  .src = "RFC 9112 §3.2 (MUST 400)" },
	{ "host-missing-absolute", "absolute-form does not excuse a missing Host", IN("GET http://a/ HTTP/1.1\r\n\r\n"),
	  .err = XM_H1_E_HOST_MISSING, .status = 400, .src = "RFC 9112 §3.2 (client MUST send Host even then)" },
	{ "host-repeated", "two Host lines", IN("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), .err = XM_H1_E_HOST_REPEATED,
	  .status = 400, .src = "RFC 9112 §3.2 (MUST 400)" },
	{ "host-repeated-same", "two equal Host lines", IN("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), .err = XM_H1_E_HOST_REPEATED,
	  .status = 400, .src = "RFC 9112 §3.2; " HAP " merges equal ones" },
	{ "host-empty", "empty Host", IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), .err = XM_H1_E_HOST_INVALID, .status = 400,
	  .src = "RFC 9110 §4.2.1 (empty host invalid for http); " ENV " uhv rejects" },
	{ "host-space", "space inside Host", IN("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), .err = XM_H1_E_HOST_INVALID, .status = 400,
	  .src = "RFC 9112 §3.2 (invalid field value: MUST 400)" },
	{ "host-slash", "path in Host", IN("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), .err = XM_H1_E_HOST_INVALID, .status = 400,
	  .src = "RFC 9110 §7.2" },
	{ "host-userinfo", "userinfo in Host", IN("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), .err = XM_H1_E_HOST_INVALID, .status = 400,
	  .src = "RFC 9110 §7.2 (uri-host [\":\" port])" },
	{ "host-port-range", "port above 65535", IN("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n"), .err = XM_H1_E_HOST_INVALID,
	  .status = 400, .src = "RFC 3986 §3.2.3" },
	{ "host-port-empty", "colon without port", IN("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), .err = XM_H1_E_HOST_INVALID, .status = 400,
	  .src = "refused for simplicity (RFC 3986 allows an empty port)" },
	{ "host-ipv6-open", "unterminated IP-literal", IN("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), .err = XM_H1_E_HOST_INVALID,
	  .status = 400, .src = "RFC 3986 §3.2.2" },
	{ "host-ipv6-empty", "empty IP-literal", IN("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), .err = XM_H1_E_HOST_INVALID,
	  .status = 400, .src = "RFC 3986 §3.2.2" },
	{ "host-ipv6-junk", "slash inside an IP-literal", IN("GET / HTTP/1.1\r\nHost: [::1/8]\r\n\r\n"), .err = XM_H1_E_HOST_INVALID,
	  .status = 400, .src = "RFC 3986 §3.2.2" },
	{ "host-pct-bad", "bad percent-encoding in Host", IN("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"), .err = XM_H1_E_HOST_INVALID,
	  .status = 400, .src = "RFC 3986 §2.1" },
	{ "host-mismatch", "absolute-form names another host", IN("GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n"), .err = XM_H1_E_HOST_MISMATCH,
	  .status = 400, .src = "RFC 9112 §3.2 (Host identical to the authority); " HAP " rejects" },
	{ "host-mismatch-port", "absolute-form names another port", IN("GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .err = XM_H1_E_HOST_MISMATCH, .status = 400, .src = HAP " h1_validate_mismatch_authority" },
	{ "host-mismatch-scheme-port", "https default port is not 80", IN("GET https://a/ HTTP/1.1\r\nHost: a:80\r\n\r\n"),
	  .err = XM_H1_E_HOST_MISMATCH, .status = 400, .src = HAP " h1_validate_mismatch_authority" },

	/* ===== response side (the client is answered 502) ===== */
	{ "resp-cl-te", "response with Content-Length and Transfer-Encoding", IN(RS "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	  .resp = 1, .err = XM_H1_E_CL_WITH_TE, .status = 502, .src = "RFC 9112 §6.3 rule 3 (response splitting)" },
	{ "resp-cl-repeated", "response with two Content-Length lines", IN(RS "Content-Length: 2\r\nContent-Length: 3\r\n\r\nok!"),
	  .resp = 1, .err = XM_H1_E_CL_REPEATED, .status = 502, .src = "RFC 9112 §6.3 rule 5 (proxy MUST 502)" },
	{ "resp-te-gzip", "response whose final coding is not chunked", IN(RS "Transfer-Encoding: gzip\r\n\r\nxx"), .resp = 1,
	  .err = XM_H1_E_TE_NOT_CHUNKED, .status = 502,
	  .src = "RFC 9112 §6.3 rule 4 would read to close; " HAP " 502 (TE_OTHER), " ENV " accepts only chunked" },
	{ "resp-te-http10", "HTTP/1.0 response with Transfer-Encoding", IN("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	  .resp = 1, .err = XM_H1_E_TE_HTTP10, .status = 502, .src = "RFC 9112 §6.1 (framing faulty)" },
	{ "resp-204-te", "204 with Transfer-Encoding", IN("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"), .resp = 1,
	  .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 502, .src = "RFC 9112 §6.1 (MUST NOT); " ENV " http1.transfer_encoding_not_allowed" },
	{ "resp-204-cl", "204 with a non-zero Content-Length", IN("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
	  .resp = 1, .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 502, .src = "RFC 9110 §8.6 (MUST NOT); " ENV " http1.content_length_not_allowed" },
	{ "resp-100-cl", "100 with Content-Length", IN("HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello"), .resp = 1,
	  .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 502, .src = "RFC 9110 §8.6" },
	{ "resp-101-te", "101 with Transfer-Encoding", IN("HTTP/1.1 101 Switching Protocols\r\nTransfer-Encoding: chunked\r\nUpgrade: x\r\n\r\n"),
	  .resp = 1, .err = XM_H1_E_BODY_NOT_ALLOWED, .status = 502, .src = "RFC 9112 §6.1" },
	{ "resp-204-body", "bytes after a 204 are not its body: they fail as the next response",
	  IN("HTTP/1.1 204 No Content\r\n\r\nhello"), .resp = 1, .nmsgs = 1, .err = XM_H1_E_START_LINE, .status = 502,
	  .src = "RFC 9112 §6.3 rule 1" },
	{ "resp-304-body", "bytes after a 304 with Content-Length are not its body", IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"),
	  .resp = 1, .nmsgs = 1, .err = XM_H1_E_START_LINE, .status = 502, .src = "RFC 9112 §6.3 rule 1" },
	{ "resp-head-body", "bytes after a HEAD response are not its body", IN(RS "Content-Length: 5\r\n\r\nhello"), .resp = 1,
	  .req_method = XM_H1_M_HEAD, .nmsgs = 1, .err = XM_H1_E_START_LINE, .status = 502, .src = "RFC 9112 §6.3 rule 1" },
	{ "resp-1xx-body", "bytes after a 1xx are the next response, not a body", IN("HTTP/1.1 103 Early Hints\r\n\r\nhello"),
	  .resp = 1, .nmsgs = 1, .err = XM_H1_E_START_LINE, .status = 502, .src = "RFC 9110 §15.2" },
	{ "resp-cl-too-large", "response Content-Length above max_body", IN(RS "Content-Length: 1048577\r\n\r\n"), .resp = 1,
	  .err = XM_H1_E_BODY_TOO_LARGE, .status = 502, .src = "max_body applies both ways" },
	{ "resp-status-2digits", "two-digit status", IN("HTTP/1.1 20 OK\r\n\r\n"), .resp = 1, .err = XM_H1_E_START_LINE, .status = 502,
	  .src = "RFC 9112 §4 (3DIGIT)" },
	{ "resp-status-4digits", "four-digit status", IN("HTTP/1.1 2000 OK\r\n\r\n"), .resp = 1, .err = XM_H1_E_START_LINE, .status = 502,
	  .src = "RFC 9112 §4" },
	{ "resp-status-range", "status outside 100..599", IN("HTTP/1.1 600 X\r\n\r\n"), .resp = 1, .err = XM_H1_E_START_LINE,
	  .status = 502, .src = "RFC 9110 §15; " ENV " uhv validates the range" },
	{ "resp-version-2", "HTTP/2.0 status line", IN("HTTP/2.0 200 OK\r\n\r\n"), .resp = 1, .err = XM_H1_E_VERSION, .status = 502,
	  .src = "RFC 9110 §6.2" },
	{ "resp-lowercase-http", "lowercase HTTP-name", IN("http/1.1 200 OK\r\n\r\n"), .resp = 1, .err = XM_H1_E_START_LINE,
	  .status = 502, .src = "RFC 9112 §2.3" },
	{ "resp-reason-nul", "NUL in the reason phrase", IN("HTTP/1.1 200 O\x00K\r\n\r\n"), .resp = 1, .err = XM_H1_E_START_LINE,
	  .status = 502, .src = "RFC 9112 §4 (reason-phrase bytes)" },
	{ "resp-obs-fold", "obs-fold in a response", IN(RS "X-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n"), .resp = 1,
	  .err = XM_H1_E_OBS_FOLD, .status = 502, .src = "RFC 9112 §5.2 (proxy MUST 502 or unfold)" },
	{ "resp-ws-colon", "space before the colon in a response", IN(RS "Content-Length : 0\r\n\r\n"), .resp = 1,
	  .err = XM_H1_E_WS_BEFORE_COLON, .status = 502, .src = "RFC 9112 §5.1 (proxy MUST remove it; we cannot rewrite)" },
	{ "resp-chunk-size", "bad chunk size in a response", IN(RSC "zz\r\n"), .resp = 1, .err = XM_H1_E_CHUNK_SIZE, .status = 502,
	  .src = "RFC 9112 §7.1" },
	{ "resp-bare-lf", "response with LF line endings", IN("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), .resp = 1,
	  .err = XM_H1_E_BARE_LF, .status = 502, .src = "RFC 9112 §2.2" },
};

/* ---- runner ---- */

#define XM_ARRAY_SIZE_ROWS (sizeof(rows) / sizeof(rows[0]))

static const char *th_kind_name(int body)
{
	static const char *const n[] = { "none", "length", "chunked", "close", "tunnel" };
	return body >= 0 && body <= XM_H1_BODY_TUNNEL ? n[body] : "?";
}

static void th_describe(const struct th_verdict *v, char *out, size_t cap)
{
	snprintf(out, cap, "err=%s stage=%d nmsgs=%u consumed=%zu plen=%zu",
		 v->err == TH_INCOMPLETE ? "incomplete" : xm_http1_err_name(v->err), v->stage, v->nmsgs, v->consumed, v->plen);
}

static const struct row *cur;
static unsigned ways_checked;

static void run_row(void)
{
	const struct row *r = cur;
	const uint8_t *in = (const uint8_t *)r->in;
	struct th_feed f = { .response = r->resp, .req_method = r->req_method, .lim = &lim_table };
	static struct th_verdict ref, v;
	char a[160], b[160];
	size_t whole[1] = { r->len };

	/* flat: one read, one segment */
	th_feed(&f, in, r->len, whole, 1, 0, 0, &ref);
	unsigned want_msgs = r->nmsgs ? r->nmsgs : (r->err ? 0 : 1);
	if (ref.err != r->err || ref.nmsgs != want_msgs) {
		th_describe(&ref, a, sizeof(a));
		fprintf(stderr, "  %s: got %s, want err=%s nmsgs=%u\n", r->id, a,
			r->err == TH_INCOMPLETE ? "incomplete" : xm_http1_err_name(r->err), want_msgs);
	}
	T_CHECK_EQ(ref.err, r->err);
	T_CHECK_EQ(ref.nmsgs, want_msgs);
	if (r->err && r->err != TH_INCOMPLETE) {
		T_CHECK_EQ(xm_http1_err_status(r->err, r->resp), r->status);
		T_CHECK(strcmp(xm_http1_err_name(r->err), "unknown") != 0);
	}
	if (!r->err) {
		T_CHECK_EQ(ref.consumed, r->len);
		T_CHECK_EQ(ref.m[0].body, r->body);
		const char *want = r->payload ? r->payload : "";
		/* payloads may hold NUL-free binary: compare by length of the literal */
		T_CHECK_EQ(ref.plen, strlen(want));
		T_CHECK(memcmp(ref.payload, want, ref.plen) == 0);
		if (r->flag_mask)
			T_CHECK_EQ(ref.m[0].flags & r->flag_mask, r->flags);
		if (r->check)
			r->check(&ref, in);
	}

	/* every cut, as two segments of one read and as two reads */
	for (size_t k = 1; k < r->len; k++) {
		size_t reads[2] = { k, r->len };
		th_feed(&f, in, r->len, whole, 1, 0, k, &v);
		if (!th_same(&ref, &v)) {
			th_describe(&ref, a, sizeof(a));
			th_describe(&v, b, sizeof(b));
			fprintf(stderr, "  %s: two segments cut at %zu: %s vs %s\n", r->id, k, b, a);
			T_CHECK(0);
			return;
		}
		th_feed(&f, in, r->len, reads, 2, 0, 0, &v);
		if (!th_same(&ref, &v)) {
			th_describe(&ref, a, sizeof(a));
			th_describe(&v, b, sizeof(b));
			fprintf(stderr, "  %s: two reads cut at %zu: %s vs %s\n", r->id, k, b, a);
			T_CHECK(0);
			return;
		}
		ways_checked += 2;
	}
	/* one segment per byte, all present; then one read per byte */
	th_feed(&f, in, r->len, whole, 1, 1, 0, &v);
	if (!th_same(&ref, &v)) {
		th_describe(&v, b, sizeof(b));
		fprintf(stderr, "  %s: one-byte segments: %s\n", r->id, b);
		T_CHECK(0);
	}
	size_t *each = malloc(r->len * sizeof(*each));
	for (size_t k = 0; k < r->len; k++)
		each[k] = k + 1;
	th_feed(&f, in, r->len, each, (unsigned)r->len, 0, 0, &v);
	free(each);
	if (!th_same(&ref, &v)) {
		th_describe(&v, b, sizeof(b));
		fprintf(stderr, "  %s: one-byte reads: %s\n", r->id, b);
		T_CHECK(0);
	}
	ways_checked += 2;
}

static void md_bytes(const struct row *r)
{
	if (r->show) {
		printf("`%s`", r->show);
		return;
	}
	putchar('`');
	for (size_t i = 0; i < r->len; i++) {
		unsigned char ch = (unsigned char)r->in[i];
		if (ch == '\r')
			fputs("\\r", stdout);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch == '|')
			fputs("\\|", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	putchar('`');
}

static void print_markdown(void)
{
	printf("| # | case | bytes | verdict | status | source |\n");
	printf("|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < XM_ARRAY_SIZE_ROWS; i++) {
		const struct row *r = &rows[i];
		printf("| %zu | `%s` %s%s | ", i + 1, r->id, r->resp ? "(response) " : "", r->what);
		md_bytes(r);
		if (r->err == TH_INCOMPLETE)
			printf(" | waits for more | - | ");
		else if (r->err)
			printf(" | `%s`%s | %d | ", xm_http1_err_name(r->err), r->nmsgs ? " after one message" : "", r->status);
		else
			printf(" | accepted (%s) | - | ", th_kind_name(r->body));
		for (const char *p = r->src; *p; p++)
			putchar(*p == '|' ? '/' : *p);
		printf(" |\n");
	}
}

/* Each row as a fuzz seed (native/fuzz/http1 format: a mode byte, then the bytes). */
static int write_corpus(const char *dir)
{
	char path[512];
	for (size_t i = 0; i < XM_ARRAY_SIZE_ROWS; i++) {
		const struct row *r = &rows[i];
		snprintf(path, sizeof(path), "%s/table_%s", dir, r->id);
		FILE *f = fopen(path, "wb");
		if (!f) {
			perror(path);
			return 1;
		}
		fputc(r->resp | r->req_method << 1, f);
		fwrite(r->in, 1, r->len, f);
		fclose(f);
	}
	return 0;
}

static void check_table(void)
{
	int covered[XM_H1_E__COUNT] = { 0 };
	for (size_t i = 0; i < XM_ARRAY_SIZE_ROWS; i++) {
		if (rows[i].err > 0 && rows[i].err < XM_H1_E__COUNT)
			covered[rows[i].err]++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(rows[i].id, rows[j].id) == 0) {
				fprintf(stderr, "  duplicate id %s\n", rows[i].id);
				T_CHECK(0);
			}
	}
	for (int e = 1; e < XM_H1_E__COUNT; e++)
		if (!covered[e]) {
			fprintf(stderr, "  no row for reason %s\n", xm_http1_err_name(e));
			T_CHECK(0);
		}
}

int t__failed, t__passed, t__case_failed;
const char *t__case;

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
		print_markdown();
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--corpus") == 0)
		return write_corpus(argv[2]);
	T_RUN("table: ids are unique and every reason has a row", check_table);
	for (size_t i = 0; i < XM_ARRAY_SIZE_ROWS; i++) {
		cur = &rows[i];
		char name[200];
		snprintf(name, sizeof(name), "%s: %s", rows[i].id, rows[i].what);
		T_RUN(name, run_row);
	}
	printf("smuggling table: %zu rows, %u ways of feeding them compared\n", XM_ARRAY_SIZE_ROWS, ways_checked);
	printf("%s: %d passed, %d failed\n", __FILE__, t__passed, t__failed);
	return t__failed ? 1 : 0;
}
