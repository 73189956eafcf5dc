/* xmesh-bpf test-run: BPF_PROG_TEST_RUN of the XDP deny list and sk_lookup on a private load,
 * one JSON document of verdicts and counters (test/bpf/redirect-testrun.test.ts is the table).
 * Built only with -DXM_BPF_CLI, like xmesh_bpf_main.c. */
#ifdef XM_BPF_CLI
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "redirect_testrun.h"
#include "xmesh_bpf_cli.h"

static int xmesh_bpf__hex(const char *s, unsigned char *out, size_t cap, size_t *n)
{
	size_t len = strlen(s);

	if (len % 2 || len / 2 > cap)
		return -1;
	for (*n = 0; *n < len / 2; (*n)++) {
		unsigned v;

		if (sscanf(s + 2 * *n, "%2x", &v) != 1)
			return -1;
		out[*n] = (unsigned char)v;
	}
	return 0;
}

static int xmesh_bpf__test_run_xdp(struct cli *c, struct xm_redirect_testrun *tr)
{
	unsigned char frame[2048];
	uint32_t ids[64], action;
	size_t len;
	char msg[64];
	int err;

	for (size_t i = 0; i < c->n_deny; i++) {
		char buf[128], *at;
		struct xm_redirect_cidr cidr;
		unsigned long port = 0;

		snprintf(buf, sizeof(buf), "%s", c->deny[i]);
		at = strchr(buf, '@');
		if (at)
			*at++ = '\0';
		if (!xmesh_bpf__cidr(buf, &cidr) || (at && !xmesh_bpf__num(at, 65535, &port)))
			return xmesh_bpf__usage_error("--deny: expected CIDR[@PORT]: %s", c->deny[i]);
		err = xm_redirect_testrun_deny_add(tr, &cidr, (uint16_t)port, &ids[i]);
		if (err)
			return xmesh_bpf__fail("deny add", err, NULL);
	}
	printf("{\"results\":[");
	for (size_t i = 0; i < c->n_packets; i++) {
		if (xmesh_bpf__hex(c->packets[i], frame, sizeof(frame), &len))
			return xmesh_bpf__usage_error("--packet: expected hex bytes: %s", c->packets[i]);
		err = xm_redirect_testrun_xdp(tr, frame, len, &action);
		if (err) {
			snprintf(msg, sizeof(msg), "packet %zu", i);
			return xmesh_bpf__fail(msg, err, NULL);
		}
		printf("%s{\"action\":%u}", i ? "," : "", action);
	}
	printf("],\"rules\":[");
	for (size_t i = 0; i < c->n_deny; i++) {
		uint64_t p, b;

		xm_redirect_testrun_deny_counters(tr, ids[i], &p, &b);
		printf("%s{\"id\":%u,\"packets\":%llu,\"bytes\":%llu}", i ? "," : "", ids[i], (unsigned long long)p,
		       (unsigned long long)b);
	}
	printf("]}\n");
	return 0;
}

/* "tcp,SRC,SPORT,DST,DPORT" */
static bool xmesh_bpf__lookup(const char *s, struct xm_redirect_lookup *l)
{
	char buf[256], *f[5], *save = NULL;
	struct xm_redirect_cidr a, b;
	unsigned long sp, dp;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n != 5 || !xmesh_bpf__cidr(f[1], &a) || !xmesh_bpf__cidr(f[3], &b) || a.family != b.family ||
	    !xmesh_bpf__num(f[2], 65535, &sp) || !xmesh_bpf__num(f[4], 65535, &dp))
		return false;
	memset(l, 0, sizeof(*l));
	l->protocol = !strcmp(f[0], "tcp") ? IPPROTO_TCP : !strcmp(f[0], "udp") ? IPPROTO_UDP : -1;
	l->family = a.family;
	memcpy(l->remote_ip, a.ip, sizeof(l->remote_ip));
	memcpy(l->local_ip, b.ip, sizeof(l->local_ip));
	l->remote_port = (uint16_t)sp;
	l->local_port = (uint16_t)dp;
	return l->protocol > 0;
}

static int xmesh_bpf__listener(int family, uint64_t *cookie)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(*cookie);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if ((family == AF_INET ? bind(fd, (struct sockaddr *)&a4, sizeof(a4)) : bind(fd, (struct sockaddr *)&a6, sizeof(a6))) ||
	    listen(fd, 1) || getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int xmesh_bpf__test_run_sk_lookup(struct cli *c, struct xm_redirect_testrun *tr)
{
	uint64_t cookies[2] = { 0, 0 }, cookie;
	int fds[2] = { -1, -1 }, rc = 0, err;
	struct xm_redirect_lookup l;
	uint32_t verdict;

	for (int i = 0; i < 2 && !c->no_listener; i++) {
		fds[i] = xmesh_bpf__listener(i ? AF_INET6 : AF_INET, &cookies[i]);
		if (fds[i] < 0 || (err = xm_redirect_testrun_set_listener(tr, fds[i]))) {
			rc = xmesh_bpf__fail("test listener", fds[i] < 0 ? fds[i] : err, NULL);
			goto out;
		}
	}
	printf("{\"results\":[");
	for (size_t i = 0; i < c->n_lookups; i++) {
		if (!xmesh_bpf__lookup(c->lookups[i], &l)) {
			rc = xmesh_bpf__usage_error("--lookup: expected tcp|udp,SRC,SPORT,DST,DPORT: %s", c->lookups[i]);
			goto out;
		}
		err = xm_redirect_testrun_sk_lookup(tr, &l, &verdict, &cookie);
		if (err) {
			rc = xmesh_bpf__fail("sk_lookup test run", err, NULL);
			goto out;
		}
		printf("%s{\"verdict\":%u,\"steered\":%s}", i ? "," : "", verdict,
		       cookie && (cookie == cookies[0] || cookie == cookies[1]) ? "true" : "false");
	}
	printf("]}\n");
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

int xmesh_bpf__test_run(struct cli *c, const char *prog)
{
	struct xm_redirect_testrun *tr;
	char msg[512];
	int err, rc;

	if ((rc = xmesh_bpf__lists(c)))
		return rc;
	err = xm_redirect_testrun_open(&c->cfg, &tr, msg, sizeof(msg));
	if (err)
		return xmesh_bpf__fail("test-run", err, msg);
	if (!strcmp(prog, "xdp"))
		rc = xmesh_bpf__test_run_xdp(c, tr);
	else if (!strcmp(prog, "sk_lookup"))
		rc = xmesh_bpf__test_run_sk_lookup(c, tr);
	else
		rc = xmesh_bpf__usage_error("test-run: unknown program %s (xdp, sk_lookup)", prog);
	xm_redirect_testrun_close(tr);
	return rc;
}

#endif /* XM_BPF_CLI */
