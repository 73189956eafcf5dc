/* BPF_PROG_TEST_RUN of the XDP deny list and sk_lookup on a private, unattached load. */
#include "redirect_testrun.h"
#include "redirect_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xmesh_redirect.skel.h"

struct xm_redirect_testrun {
	struct xmesh_redirect_bpf *skel;
};

int xm_redirect_testrun_open(const struct xm_redirect_config *cfg, struct xm_redirect_testrun **out,
			     char *msg, size_t msglen)
{
	libbpf_print_fn_t old_print = libbpf_set_print(xm_redirect__print);
	struct xm_redirect_testrun *tr = calloc(1, sizeof(*tr));
	struct bpf_program *p;
	const struct xm_redirect_lists *l = &cfg->lists;
	int err = 0;

	*out = NULL;
	if (!tr) {
		err = -ENOMEM;
		goto out;
	}
	tr->skel = xmesh_redirect_bpf__open();
	if (!tr->skel) {
		err = xm_redirect__fail(-errno, msg, msglen, "open bpf/xmesh_redirect: %s", strerror(errno));
		goto out;
	}
	tr->skel->rodata->inbound_port = cfg->inbound_port;
	tr->skel->rodata->inbound_steer_all = cfg->inbound_steer_all;
	bpf_object__for_each_program(p, tr->skel->obj)
		bpf_program__set_autoload(p, p == tr->skel->progs.xm_xdp_deny || p == tr->skel->progs.xm_sk_lookup);
	err = xmesh_redirect_bpf__load(tr->skel);
	if (err) {
		err = xm_redirect__fail(err < 0 ? err : -EINVAL, msg, msglen, "load bpf/xmesh_redirect: %s",
					strerror(err < 0 ? -err : EINVAL));
		goto out;
	}
	if (l->set_inbound_ports)
		err = xm_redirect__set_ports_fd(bpf_map__fd(tr->skel->maps.inbound_ports), l->inbound_ports,
						l->n_inbound_ports);
	if (err)
		xm_redirect__fail(err, msg, msglen, "inbound_ports: %s", strerror(-err));
out:
	libbpf_set_print(old_print);
	if (err) {
		xm_redirect_testrun_close(tr);
		return err;
	}
	*out = tr;
	return 0;
}

void xm_redirect_testrun_close(struct xm_redirect_testrun *tr)
{
	if (!tr)
		return;
	xmesh_redirect_bpf__destroy(tr->skel);
	free(tr);
}

int xm_redirect_testrun_deny_add(struct xm_redirect_testrun *tr, const struct xm_redirect_cidr *cidr,
				 uint16_t port, uint32_t *id)
{
	return xm_redirect__deny_add_fd(bpf_map__fd(tr->skel->maps.deny_rules),
					bpf_map__fd(tr->skel->maps.deny_counters), cidr, port, id);
}

int xm_redirect_testrun_xdp(struct xm_redirect_testrun *tr, const void *frame, size_t len, uint32_t *action)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len, .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(tr->skel->progs.xm_xdp_deny), &o))
		return -errno;
	*action = o.retval;
	return 0;
}

int xm_redirect_testrun_deny_counters(struct xm_redirect_testrun *tr, uint32_t id, uint64_t *packets,
				      uint64_t *bytes)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xm_deny_counters *v;
	int err = 0;

	*packets = *bytes = 0;
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(tr->skel->maps.deny_counters), &id, v))
		err = -errno;
	for (int c = 0; c < ncpu && !err; c++) {
		*packets += v[c].packets;
		*bytes += v[c].bytes;
	}
	free(v);
	return err;
}

int xm_redirect_testrun_set_listener(struct xm_redirect_testrun *tr, int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	uint64_t value = (uint64_t)fd;
	uint32_t slot;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len))
		return -errno;
	slot = domain == AF_INET ? 0 : 1;
	return bpf_map_update_elem(bpf_map__fd(tr->skel->maps.inbound_listener), &slot, &value, BPF_ANY) ? -errno : 0;
}

int xm_redirect_testrun_sk_lookup(struct xm_redirect_testrun *tr, const struct xm_redirect_lookup *l,
				  uint32_t *verdict, uint64_t *cookie)
{
	struct bpf_sk_lookup ctx;
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx), .repeat = 1);

	memset(&ctx, 0, sizeof(ctx));
	ctx.family = (__u32)l->family;
	ctx.protocol = (__u32)l->protocol;
	ctx.remote_port = htons(l->remote_port);
	ctx.local_port = l->local_port;
	if (l->family == AF_INET) {
		ctx.remote_ip4 = l->remote_ip[0];
		ctx.local_ip4 = l->local_ip[0];
	} else {
		memcpy(ctx.remote_ip6, l->remote_ip, sizeof(ctx.remote_ip6));
		memcpy(ctx.local_ip6, l->local_ip, sizeof(ctx.local_ip6));
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(tr->skel->progs.xm_sk_lookup), &o))
		return -errno;
	*verdict = o.retval;
	*cookie = ctx.cookie;
	return 0;
}
