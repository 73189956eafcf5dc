/* HTTP/1 codec: refusal reasons, their counter names and the status each is answered with. */
#include "http1.h"

static const struct {
	const char *name;
	uint16_t status;
} h1__errs[XM_H1_E__COUNT] = {
	[XM_H1_OK] = { "ok", 200 },
	[XM_H1_E_START_LINE] = { "start_line", 400 },
	[XM_H1_E_VERSION] = { "version", 505 },
	[XM_H1_E_TARGET] = { "target", 400 },
	[XM_H1_E_TARGET_TOO_LONG] = { "target_too_long", 414 },
	[XM_H1_E_BARE_LF] = { "bare_lf", 400 },
	[XM_H1_E_BARE_CR] = { "bare_cr", 400 },
	[XM_H1_E_LEADING_WS] = { "leading_ws", 400 },
	[XM_H1_E_OBS_FOLD] = { "obs_fold", 400 },
	[XM_H1_E_FIELD_NAME] = { "field_name", 400 },
	[XM_H1_E_WS_BEFORE_COLON] = { "ws_before_colon", 400 },
	[XM_H1_E_FIELD_VALUE] = { "field_value", 400 },
	[XM_H1_E_HEAD_TOO_LARGE] = { "head_too_large", 431 },
	[XM_H1_E_TOO_MANY_FIELDS] = { "too_many_fields", 431 },
	[XM_H1_E_HOST_MISSING] = { "host_missing", 400 },
	[XM_H1_E_HOST_REPEATED] = { "host_repeated", 400 },
	[XM_H1_E_HOST_INVALID] = { "host_invalid", 400 },
	[XM_H1_E_HOST_MISMATCH] = { "host_mismatch", 400 },
	[XM_H1_E_CL_INVALID] = { "cl_invalid", 400 },
	[XM_H1_E_CL_REPEATED] = { "cl_repeated", 400 },
	[XM_H1_E_CL_WITH_TE] = { "cl_with_te", 400 },
	[XM_H1_E_TE_INVALID] = { "te_invalid", 400 },
	[XM_H1_E_TE_NOT_CHUNKED] = { "te_not_chunked", 400 },
	[XM_H1_E_TE_CHUNKED_TWICE] = { "te_chunked_twice", 400 },
	[XM_H1_E_TE_UNSUPPORTED] = { "te_unsupported", 501 },
	[XM_H1_E_TE_HTTP10] = { "te_http10", 400 },
	[XM_H1_E_BODY_NOT_ALLOWED] = { "body_not_allowed", 400 },
	[XM_H1_E_BODY_TOO_LARGE] = { "body_too_large", 413 },
	[XM_H1_E_CHUNK_SIZE] = { "chunk_size", 400 },
	[XM_H1_E_CHUNK_EXT] = { "chunk_ext", 400 },
	[XM_H1_E_CHUNK_CRLF] = { "chunk_crlf", 400 },
	[XM_H1_E_TRAILERS_TOO_LARGE] = { "trailers_too_large", 431 },
};

const char *xm_http1_err_name(int err)
{
	if (err < 0)
		err = -err;
	if (err >= XM_H1_E__COUNT || !h1__errs[err].name)
		return "unknown";
	return h1__errs[err].name;
}

/* A broken response is the upstream's fault: the client gets 502 whatever the reason
 * (RFC 9112 §6.3: "the proxy MUST ... send a 502 (Bad Gateway) response to the client"). */
int xm_http1_err_status(int err, int is_response)
{
	if (err < 0)
		err = -err;
	if (err <= XM_H1_OK || err >= XM_H1_E__COUNT)
		return 500;
	return is_response ? 502 : h1__errs[err].status;
}
