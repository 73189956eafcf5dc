/* Configured setsockopt() lists (Envoy's SocketOption): listeners and upstream sockets. */
#ifndef XM_SOCKOPT_H
#define XM_SOCKOPT_H

#include <stddef.h>
#include <stdint.h>

#define XM_SOCKOPT_BUF_MAX 128u

enum xm_sockopt_state {
	XM_SOCKOPT_PREBIND = 0,   /* after socket(), before bind() or connect() */
	XM_SOCKOPT_BOUND = 1,     /* after bind(), before listen() */
	XM_SOCKOPT_LISTENING = 2, /* after listen() */
};

struct xm_sockopt {
	int level;
	int name;
	uint8_t state;
	uint8_t is_buf;
	uint16_t len;             /* buffer length (is_buf) */
	int ival;
	unsigned char buf[XM_SOCKOPT_BUF_MAX];
};

/* An immutable list, shared by reference between table versions' configs. */
struct xm_sockopts {
	uint32_t n;
	struct xm_sockopt v[];
};

/* Apply every option of the given state to fd (state < 0: all of them, in list order).
 * Returns 0, or -errno with "socket_options[i] (level L, name N): reason" in err. */
int xm_sockopts_apply(int fd, const struct xm_sockopts *o, int state, char *err, size_t errlen);

/* Check a list on a scratch socket of the family (every option, as before connect()), so
 * that a bad upstream option rejects the snapshot instead of failing each connection. */
int xm_sockopts_check_upstream(const struct xm_sockopts *o, int family, char *err, size_t errlen);

/* 1 when both lists hold the same options in the same order (NULL = empty). */
int xm_sockopts_equal(const struct xm_sockopts *a, const struct xm_sockopts *b);

#endif
