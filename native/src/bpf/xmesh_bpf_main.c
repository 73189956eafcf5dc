/* xmesh-bpf: a small command line over the redirect loader, so the control core (and tests)
 * can install, inspect and remove eBPF redirection before the loader is wired into the addon.
 * Prints one JSON document on stdout; errors go to stderr with exit 1 (usage errors: exit 2).
 * Built only by native/src/bpf/Makefile (-DXM_BPF_CLI): the addon build, which compiles every
 * .c under native/src, sees an empty file. */
#ifdef XM_BPF_CLI
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "redirect_loader.h"
#include "redirect_maps.h"
#include "redirect_probe.h"
#include "redirect_status.h"
#include "xmesh_abi.h"
#include "xmesh_bpf_cli.h"


static const char xmesh_bpf__usage[] =
	"usage: xmesh-bpf COMMAND [options]   (one JSON document on stdout)\n"
	"  probe                                  which kernel features redirection can use\n"
	"  install --instance N --features LIST   attach (connect,origdst,sockmap,sklookup,xdp)\n"
	"      --app-cgroup DIR --sidecar-cgroup DIR --sockops-cgroup DIR --netns PATH --iface IF\n"
	"      --outbound-ip4 A --outbound-ip6 A --outbound-port P --inbound-port P\n"
	"      --exclude-uid UID|none --exclude-mark M --include-only --redirect-ipv6\n"
	"      --inbound-steer-all --xdp-generic --exclude-ports L --exclude-cidrs L\n"
	"      --include-cidrs L --inbound-ports L\n"
	"  status --instance N                    knobs, attachments, maps, counters\n"
	"  uninstall --instance N                 detach and unpin everything of N\n"
	"  set --instance N [--exclude-ports L] [--exclude-cidrs L] [--include-cidrs L] [--inbound-ports L]\n"
	"  deny add|del --instance N --cidr C [--port P];  deny list --instance N\n"
	"  inbound-listener --instance N --pid PID --fd FD   register another process's listener\n"
	"  test-run xdp [--deny CIDR[@PORT]]... --packet HEX...\n"
	"  test-run sk_lookup [--inbound-port P] [--inbound-ports L] [--inbound-steer-all] [--no-listener]\n"
	"      --lookup tcp|udp,SRC,SPORT,DST,DPORT ...\n";



int xmesh_bpf__usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "xmesh-bpf: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", xmesh_bpf__usage);
	return CLI_EXIT_USAGE;
}

int xmesh_bpf__fail(const char *what, int err, const char *msg)
{
	fprintf(stderr, "xmesh-bpf: %s: %s\n", what, msg && msg[0] ? msg : strerror(-err));
	return CLI_EXIT_FAIL;
}

bool xmesh_bpf__num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out <= max && s[0] != '-';
}

/* "10.0.0.0/8", "fd00::/8", or a bare address (/32, /128). */
bool xmesh_bpf__cidr(const char *s, struct xm_redirect_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 5];
	char *slash;
	unsigned long len;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->ip) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->ip) == 1)
		c->family = AF_INET6;
	else
		return false;
	len = c->family == AF_INET ? 32 : 128;
	if (slash && !xmesh_bpf__num(slash, len, &len))
		return false;
	c->len = (uint8_t)len;
	return true;
}

/* Comma-separated ports; "" is the empty list. */
static int xmesh_bpf__ports(const char *s, uint16_t *out, size_t *n)
{
	char buf[8192], *save = NULL, *tok;
	unsigned long v;

	*n = 0;
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == CLI_MAX_LIST || !xmesh_bpf__num(tok, 65535, &v) || v == 0)
			return -1;
		out[(*n)++] = (uint16_t)v;
	}
	return 0;
}

static int xmesh_bpf__cidrs(const char *s, struct xm_redirect_cidr *out, size_t *n)
{
	char buf[16384], *save = NULL, *tok;

	*n = 0;
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (*n == CLI_MAX_LIST || !xmesh_bpf__cidr(tok, &out[(*n)++]))
			return -1;
	return 0;
}

/* Turns the four list options into cfg.lists (only those given are "set"). */
int xmesh_bpf__lists(struct cli *c)
{
	struct xm_redirect_lists *l = &c->cfg.lists;

	if (c->lists[0]) {
		l->set_exclude_ports = true;
		l->exclude_ports = c->ports[0];
		if (xmesh_bpf__ports(c->lists[0], c->ports[0], &l->n_exclude_ports))
			return xmesh_bpf__usage_error("--exclude-ports: expected ports 1-65535, comma-separated: %s", c->lists[0]);
	}
	if (c->lists[1]) {
		l->set_inbound_ports = true;
		l->inbound_ports = c->ports[1];
		if (xmesh_bpf__ports(c->lists[1], c->ports[1], &l->n_inbound_ports))
			return xmesh_bpf__usage_error("--inbound-ports: expected ports 1-65535, comma-separated: %s", c->lists[1]);
	}
	if (c->lists[2]) {
		l->set_exclude_cidrs = true;
		l->exclude_cidrs = c->cidrs[0];
		if (xmesh_bpf__cidrs(c->lists[2], c->cidrs[0], &l->n_exclude_cidrs))
			return xmesh_bpf__usage_error("--exclude-cidrs: expected CIDRs, comma-separated: %s", c->lists[2]);
	}
	if (c->lists[3]) {
		l->set_include_cidrs = true;
		l->include_cidrs = c->cidrs[1];
		if (xmesh_bpf__cidrs(c->lists[3], c->cidrs[1], &l->n_include_cidrs))
			return xmesh_bpf__usage_error("--include-cidrs: expected CIDRs, comma-separated: %s", c->lists[3]);
	}
	return 0;
}

static unsigned xmesh_bpf__features(const char *s)
{
	static const struct { const char *name; unsigned f; } names[] = {
		{ "connect", XM_FEAT_CONNECT }, { "origdst", XM_FEAT_ORIGDST }, { "sockmap", XM_FEAT_SOCKMAP },
		{ "sklookup", XM_FEAT_SKLOOKUP }, { "xdp", XM_FEAT_XDP },
	};
	char buf[256], *save = NULL, *tok;
	unsigned f = 0;

	if (strlen(s) >= sizeof(buf))
		return 0;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]) && strcmp(tok, names[i].name); i++)
			;
		if (i == sizeof(names) / sizeof(names[0]))
			return 0;
		f |= names[i].f;
	}
	return f;
}

static void xmesh_bpf__print_features(unsigned f)
{
	static const char *const names[] = { "connect", "origdst", "sockmap", "sklookup", "xdp" };
	bool first = true;

	putchar('[');
	for (unsigned i = 0; i < 5; i++)
		if (f & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", names[i]);
			first = false;
		}
	putchar(']');
}

static int xmesh_bpf__probe(void)
{
	struct xm_redirect_probe p[XM_REDIRECT_N_PROBES];
	size_t n;
	unsigned avail = xm_redirect_probe_all(p, XM_REDIRECT_N_PROBES, &n);
	struct utsname uts;

	if (uname(&uts))
		snprintf(uts.release, sizeof(uts.release), "unknown");

	printf("{\"available\":");
	xmesh_bpf__print_features(avail);
	printf(",\"probes\":[");
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"name\":\"%s\",\"ok\":%s,\"what\":\"%s\",\"needs\":\"%s\",\"features\":", i ? "," : "",
		       p[i].name, p[i].err ? "false" : "true", p[i].what, p[i].needs);
		xmesh_bpf__print_features(p[i].features);
		printf(",\"error\":%s%s%s}", p[i].err ? "\"" : "", p[i].err ? strerror(-p[i].err) : "null", p[i].err ? "\"" : "");
	}
	printf("],\"kernel\":\"%s\"}\n", uts.release);
	return 0;
}

/* Enters the network namespace at path (for XDP's ifindex); returns its fd for sk_lookup. */
static int xmesh_bpf__netns(const char *path, bool enter)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (enter && setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int xmesh_bpf__install(struct cli *c)
{
	struct xm_redirect_result res;
	char msg[512];
	int err, rc;

	if (!c->cfg.features)
		return xmesh_bpf__usage_error("install: --features is required (%s)", "connect,origdst,sockmap,sklookup,xdp");
	if ((rc = xmesh_bpf__lists(c)))
		return rc;
	if (c->netns) {
		c->cfg.netns_fd = xmesh_bpf__netns(c->netns, c->iface != NULL);
		if (c->cfg.netns_fd < 0)
			return xmesh_bpf__fail(c->netns, c->cfg.netns_fd, NULL);
	}
	if (c->iface) {
		c->cfg.ifindex = (int)if_nametoindex(c->iface);
		if (!c->cfg.ifindex)
			return xmesh_bpf__fail(c->iface, -errno, NULL);
	}
	err = xm_redirect_install(&c->cfg, &res, msg, sizeof(msg));
	if (err)
		return xmesh_bpf__fail("install", err, msg);
	printf("{\"instance\":\"%s\",\"attached\":", c->cfg.instance);
	xmesh_bpf__print_features(res.attached);
	printf(",\"replaced\":%u,\"reused_maps\":%s,\"xdp_mode\":%s%s%s}\n", res.replaced,
	       res.reused_maps ? "true" : "false", res.xdp_mode ? "\"" : "", res.xdp_mode ? res.xdp_mode : "null",
	       res.xdp_mode ? "\"" : "");
	return 0;
}

static int xmesh_bpf__deny(struct cli *c, const char *op)
{
	struct xm_redirect_deny_entry e[XM_DENY_RULES_MAX];
	struct xm_redirect_cidr cidr;
	char msg[512], addr[INET6_ADDRSTRLEN];
	uint32_t id;
	size_t n;
	int err;

	if (!strcmp(op, "list")) {
		err = xm_redirect_deny_list(c->cfg.instance, e, XM_DENY_RULES_MAX, &n, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("deny list", err, msg);
		printf("{\"rules\":[");
		for (size_t i = 0; i < n; i++) {
			inet_ntop(e[i].cidr.family, e[i].cidr.ip, addr, sizeof(addr));
			printf("%s{\"id\":%u,\"cidr\":\"%s/%u\",\"port\":%u,\"packets\":%llu,\"bytes\":%llu}", i ? "," : "",
			       e[i].id, addr, e[i].cidr.len, e[i].port, (unsigned long long)e[i].packets,
			       (unsigned long long)e[i].bytes);
		}
		printf("]}\n");
		return 0;
	}
	if (!c->cidr || !xmesh_bpf__cidr(c->cidr, &cidr))
		return xmesh_bpf__usage_error("deny %s: --cidr ADDR[/LEN] is required", op);
	if (!strcmp(op, "add")) {
		err = xm_redirect_deny_add(c->cfg.instance, &cidr, (uint16_t)c->port, &id, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("deny add", err, msg);
		printf("{\"id\":%u}\n", id);
		return 0;
	}
	if (!strcmp(op, "del")) {
		err = xm_redirect_deny_del(c->cfg.instance, &cidr, (uint16_t)c->port, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("deny del", err, msg);
		printf("{\"deleted\":true}\n");
		return 0;
	}
	return xmesh_bpf__usage_error("deny: unknown operation %s (add, del, list)", op);
}

/* Borrows another process's listening socket (pidfd_getfd, 5.6+) and registers it. */
static int xmesh_bpf__inbound_listener(struct cli *c)
{
	char msg[512];
	int pidfd, fd, err;

	if (c->pid <= 0 || c->fd < 0)
		return xmesh_bpf__usage_error("inbound-listener: --pid and --fd are required%s", "");
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)c->pid, 0);
	if (pidfd < 0)
		return xmesh_bpf__fail("pidfd_open", -errno, NULL);
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)c->fd, 0);
	err = fd < 0 ? -errno : 0;
	close(pidfd);
	if (err)
		return xmesh_bpf__fail("pidfd_getfd (needs Linux 5.6 and ptrace rights over the process)", err, NULL);
	err = xm_redirect_set_inbound_listener(c->cfg.instance, fd, msg, sizeof(msg));
	close(fd);
	if (err)
		return xmesh_bpf__fail("inbound-listener", err, msg);
	printf("{\"registered\":true}\n");
	return 0;
}

enum {
	O_INSTANCE = 256, O_FEATURES, O_APP_CG, O_SIDECAR_CG, O_SOCKOPS_CG, O_NETNS, O_IFACE, O_OUT4, O_OUT6,
	O_OUTPORT, O_INPORT, O_EXUID, O_EXMARK, O_INCONLY, O_IPV6, O_STEERALL, O_XDPGEN, O_EXPORTS, O_INPORTS,
	O_EXCIDRS, O_INCCIDRS, O_CIDR, O_PORT, O_PID, O_FD, O_DENY, O_PACKET, O_LOOKUP, O_NOLISTENER, O_HELP,
};

static const struct option xmesh_bpf__options[] = {
	{ "instance", required_argument, 0, O_INSTANCE }, { "features", required_argument, 0, O_FEATURES },
	{ "app-cgroup", required_argument, 0, O_APP_CG }, { "sidecar-cgroup", required_argument, 0, O_SIDECAR_CG },
	{ "sockops-cgroup", required_argument, 0, O_SOCKOPS_CG }, { "netns", required_argument, 0, O_NETNS },
	{ "iface", required_argument, 0, O_IFACE }, { "outbound-ip4", required_argument, 0, O_OUT4 },
	{ "outbound-ip6", required_argument, 0, O_OUT6 }, { "outbound-port", required_argument, 0, O_OUTPORT },
	{ "inbound-port", required_argument, 0, O_INPORT }, { "exclude-uid", required_argument, 0, O_EXUID },
	{ "exclude-mark", required_argument, 0, O_EXMARK }, { "include-only", no_argument, 0, O_INCONLY },
	{ "redirect-ipv6", no_argument, 0, O_IPV6 }, { "inbound-steer-all", no_argument, 0, O_STEERALL },
	{ "xdp-generic", no_argument, 0, O_XDPGEN }, { "exclude-ports", required_argument, 0, O_EXPORTS },
	{ "inbound-ports", required_argument, 0, O_INPORTS }, { "exclude-cidrs", required_argument, 0, O_EXCIDRS },
	{ "include-cidrs", required_argument, 0, O_INCCIDRS }, { "cidr", required_argument, 0, O_CIDR },
	{ "port", required_argument, 0, O_PORT }, { "pid", required_argument, 0, O_PID },
	{ "fd", required_argument, 0, O_FD }, { "deny", required_argument, 0, O_DENY },
	{ "packet", required_argument, 0, O_PACKET }, { "lookup", required_argument, 0, O_LOOKUP },
	{ "no-listener", no_argument, 0, O_NOLISTENER }, { "help", no_argument, 0, O_HELP },
	{ 0, 0, 0, 0 },
};

static int xmesh_bpf__parse(struct cli *c, int argc, char **argv)
{
	unsigned long v;
	int o;

	while ((o = getopt_long(argc, argv, "h", xmesh_bpf__options, NULL)) != -1) {
		switch (o) {
		case O_INSTANCE: c->cfg.instance = optarg; break;
		case O_FEATURES:
			if (!(c->cfg.features = xmesh_bpf__features(optarg)))
				return xmesh_bpf__usage_error("--features: expected connect,origdst,sockmap,sklookup,xdp: %s", optarg);
			break;
		case O_APP_CG: c->cfg.app_cgroup = optarg; break;
		case O_SIDECAR_CG: c->cfg.sidecar_cgroup = optarg; break;
		case O_SOCKOPS_CG: c->cfg.sockops_cgroup = optarg; break;
		case O_NETNS: c->netns = optarg; break;
		case O_IFACE: c->iface = optarg; break;
		case O_OUT4:
			if (inet_pton(AF_INET, optarg, &c->cfg.outbound_ip4) != 1)
				return xmesh_bpf__usage_error("--outbound-ip4: not an IPv4 address: %s", optarg);
			c->cfg.outbound_ip4 = ntohl(c->cfg.outbound_ip4);
			break;
		case O_OUT6:
			if (inet_pton(AF_INET6, optarg, c->cfg.outbound_ip6) != 1)
				return xmesh_bpf__usage_error("--outbound-ip6: not an IPv6 address: %s", optarg);
			break;
		case O_OUTPORT:
		case O_INPORT:
		case O_PORT:
			if (!xmesh_bpf__num(optarg, 65535, &v) || (v == 0 && o != O_PORT))
				return xmesh_bpf__usage_error("expected a port 1-65535: %s", optarg);
			if (o == O_OUTPORT)
				c->cfg.outbound_port = (uint16_t)v;
			else if (o == O_INPORT)
				c->cfg.inbound_port = (uint16_t)v;
			else
				c->port = (long)v;
			break;
		case O_EXUID:
			if (!strcmp(optarg, "none"))
				c->cfg.exclude_uid = 0xffffffff;
			else if (!xmesh_bpf__num(optarg, 0xfffffffe, &v))
				return xmesh_bpf__usage_error("--exclude-uid: expected a uid or none: %s", optarg);
			else
				c->cfg.exclude_uid = (uint32_t)v;
			break;
		case O_EXMARK:
			if (!xmesh_bpf__num(optarg, 0xffffffff, &v))
				return xmesh_bpf__usage_error("--exclude-mark: expected a number: %s", optarg);
			c->cfg.exclude_mark = (uint32_t)v;
			break;
		case O_INCONLY: c->cfg.include_only = true; break;
		case O_IPV6: c->cfg.redirect_ipv6 = true; break;
		case O_STEERALL: c->cfg.inbound_steer_all = true; break;
		case O_XDPGEN: c->cfg.xdp_generic = true; break;
		case O_EXPORTS: c->lists[0] = optarg; break;
		case O_INPORTS: c->lists[1] = optarg; break;
		case O_EXCIDRS: c->lists[2] = optarg; break;
		case O_INCCIDRS: c->lists[3] = optarg; break;
		case O_CIDR: c->cidr = optarg; break;
		case O_PID:
		case O_FD:
			if (!xmesh_bpf__num(optarg, INT_MAX, &v))
				return xmesh_bpf__usage_error("expected a number: %s", optarg);
			*(o == O_PID ? &c->pid : &c->fd) = (long)v;
			break;
		case O_DENY:
			if (c->n_deny == 64)
				return xmesh_bpf__usage_error("at most 64 --deny%s", "");
			c->deny[c->n_deny++] = optarg;
			break;
		case O_PACKET:
			if (c->n_packets == 256)
				return xmesh_bpf__usage_error("at most 256 --packet%s", "");
			c->packets[c->n_packets++] = optarg;
			break;
		case O_LOOKUP:
			if (c->n_lookups == 256)
				return xmesh_bpf__usage_error("at most 256 --lookup%s", "");
			c->lookups[c->n_lookups++] = optarg;
			break;
		case O_NOLISTENER: c->no_listener = true; break;
		case O_HELP:
		case 'h': fputs(xmesh_bpf__usage, stdout); exit(0);
		default: return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct cli c; /* large lists: not on the stack */
	const char *cmd = argc > 1 ? argv[1] : NULL, *sub = NULL;
	char msg[512], *json;
	unsigned removed;
	int rc, err;

	if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		fputs(xmesh_bpf__usage, cmd ? stdout : stderr);
		return cmd ? 0 : CLI_EXIT_USAGE;
	}
	c.cfg.netns_fd = -1;
	c.cfg.exclude_uid = 0xffffffff;
	c.fd = -1;
	if ((!strcmp(cmd, "deny") || !strcmp(cmd, "test-run")) && argc > 2 && argv[2][0] != '-')
		sub = argv[2];
	optind = sub ? 3 : 2;
	if ((rc = xmesh_bpf__parse(&c, argc, argv)))
		return rc;
	if (optind < argc)
		return xmesh_bpf__usage_error("unexpected argument %s", argv[optind]);
	if (!strcmp(cmd, "probe"))
		return xmesh_bpf__probe();
	if (!strcmp(cmd, "test-run"))
		return sub ? xmesh_bpf__test_run(&c, sub) : xmesh_bpf__usage_error("test-run: which program? (%s)", "xdp, sk_lookup");
	if (!c.cfg.instance)
		return xmesh_bpf__usage_error("%s: --instance is required", cmd);
	if (!strcmp(cmd, "install"))
		return xmesh_bpf__install(&c);
	if (!strcmp(cmd, "uninstall")) {
		err = xm_redirect_uninstall(c.cfg.instance, &removed, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("uninstall", err, msg);
		printf("{\"instance\":\"%s\",\"removed\":%u}\n", c.cfg.instance, removed);
		return 0;
	}
	if (!strcmp(cmd, "status")) {
		err = xm_redirect_status_json(c.cfg.instance, &json, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("status", err, msg);
		printf("%s\n", json);
		free(json);
		return 0;
	}
	if (!strcmp(cmd, "set")) {
		if ((rc = xmesh_bpf__lists(&c)))
			return rc;
		err = xm_redirect_set_lists(c.cfg.instance, &c.cfg.lists, msg, sizeof(msg));
		if (err)
			return xmesh_bpf__fail("set", err, msg);
		printf("{\"updated\":true}\n");
		return 0;
	}
	if (!strcmp(cmd, "deny"))
		return sub ? xmesh_bpf__deny(&c, sub) : xmesh_bpf__usage_error("deny: which operation? (%s)", "add, del, list");
	if (!strcmp(cmd, "inbound-listener"))
		return xmesh_bpf__inbound_listener(&c);
	return xmesh_bpf__usage_error("unknown command %s", cmd);
}
#endif /* XM_BPF_CLI */
