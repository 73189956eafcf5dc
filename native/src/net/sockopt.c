/* Configured socket options (listeners: in their state; upstream sockets: before connect). */
#include "net/sockopt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int xm_sockopts_apply(int fd, const struct xm_sockopts *o, int state, char *err, size_t errlen)
{
	if (!o)
		return 0;
	for (uint32_t i = 0; i < o->n; i++) {
		const struct xm_sockopt *s = &o->v[i];
		int rc;

		if (state >= 0 && s->state != state)
			continue;
		if (s->is_buf)
			rc = setsockopt(fd, s->level, s->name, s->buf, s->len);
		else
			rc = setsockopt(fd, s->level, s->name, &s->ival, sizeof(s->ival));
		if (rc < 0) {
			rc = -errno;
			snprintf(err, errlen, "socket_options[%u] (level %d, name %d): %s", i, s->level, s->name, strerror(errno));
			return rc;
		}
	}
	return 0;
}

int xm_sockopts_check_upstream(const struct xm_sockopts *o, int family, char *err, size_t errlen)
{
	if (!o || o->n == 0)
		return 0;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "socket_options: scratch socket: %s", strerror(errno));
		return rc;
	}
	int rc = xm_sockopts_apply(fd, o, -1, err, errlen);
	close(fd);
	return rc;
}

static int sockopt__same(const struct xm_sockopt *a, const struct xm_sockopt *b)
{
	if (a->level != b->level || a->name != b->name || a->state != b->state || a->is_buf != b->is_buf)
		return 0;
	if (a->is_buf)
		return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
	return a->ival == b->ival;
}

int xm_sockopts_equal(const struct xm_sockopts *a, const struct xm_sockopts *b)
{
	uint32_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return 0;
	for (uint32_t i = 0; i < na; i++)
		if (!sockopt__same(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}
