/* Install and uninstall of eBPF redirection for one instance: skeleton load with pinned maps,
 * attach through pinned bpf_links (replaced in place on a second install), detach and unpin. */
#include "redirect_loader.h"
#include "redirect_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xmesh_redirect.skel.h"

#define XM__CGROUP2_SUPER_MAGIC 0x63677270

/* Target file descriptors of one install, opened once. -1 when not needed. */
struct xm_redirect__targets {
	int app_cg, sidecar_cg, sockops_cg, netns, sock_pairs;
};

/* Opens a cgroup v2 directory for attaching; refuses anything else and a hierarchy's root,
 * which holds every process of the machine. */
static int redirect_loader__open_cgroup(const char *path, const char *what, char *msg, size_t msglen)
{
	char parent[PATH_MAX];
	struct statfs sfs;
	struct stat st, pst;
	int fd, err;

	if (!path || !path[0])
		return xm_redirect__fail(-EINVAL, msg, msglen, "%s cgroup: no path given", what);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return xm_redirect__fail(-errno, msg, msglen, "%s cgroup %s: %s", what, path, strerror(errno));
	if (fstatfs(fd, &sfs) || (unsigned long)sfs.f_type != XM__CGROUP2_SUPER_MAGIC) {
		err = xm_redirect__fail(-EINVAL, msg, msglen, "%s cgroup %s: not a cgroup v2 directory", what, path);
		goto fail;
	}
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (fstat(fd, &st) || stat(parent, &pst)) {
		err = xm_redirect__fail(-errno, msg, msglen, "%s cgroup %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if (st.st_ino == 1 || st.st_dev != pst.st_dev || st.st_ino == pst.st_ino) {
		err = xm_redirect__fail(-EPERM, msg, msglen,
					"%s cgroup %s: refusing a cgroup hierarchy's root (it holds every process)",
					what, path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

static void redirect_loader__close_targets(struct xm_redirect__targets *t)
{
	int *fds[] = { &t->app_cg, &t->sidecar_cg, &t->sockops_cg, &t->sock_pairs };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	t->netns = -1; /* the caller's */
}

/* Opens what the requested features attach to. */
static int redirect_loader__open_targets(const struct xm_redirect_config *cfg, struct xm_redirect__targets *t,
				char *msg, size_t msglen)
{
	unsigned f = cfg->features;

	if (f & XM_FEAT_CONNECT && (t->app_cg = redirect_loader__open_cgroup(cfg->app_cgroup, "app", msg, msglen)) < 0)
		return t->app_cg;
	if (f & XM_FEAT_ORIGDST &&
	    (t->sidecar_cg = redirect_loader__open_cgroup(cfg->sidecar_cgroup, "sidecar", msg, msglen)) < 0)
		return t->sidecar_cg;
	if (f & (XM_FEAT_CONNECT | XM_FEAT_SOCKMAP) &&
	    (t->sockops_cg = redirect_loader__open_cgroup(cfg->sockops_cgroup, "sockops", msg, msglen)) < 0)
		return t->sockops_cg;
	if (f & XM_FEAT_SKLOOKUP) {
		if (cfg->netns_fd < 0)
			return xm_redirect__fail(-EINVAL, msg, msglen, "sk_lookup: no network namespace given");
		t->netns = cfg->netns_fd;
	}
	if (f & XM_FEAT_XDP && cfg->ifindex <= 0)
		return xm_redirect__fail(-EINVAL, msg, msglen, "xdp: no interface given");
	return 0;
}

static int redirect_loader__mkdirs(const char *instance, char *msg, size_t msglen)
{
	static const char *const subs[] = { "maps", "links", "progs" };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", XM_PIN_ROOT);
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", XM_PIN_ROOT, instance);
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	xm_redirect__path(path, sizeof(path), instance, NULL, NULL);
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	for (size_t i = 0; i < 3; i++) {
		xm_redirect__path(path, sizeof(path), instance, subs[i], NULL);
		if (mkdir(path, 0700) && errno != EEXIST)
			goto fail;
	}
	return 0;
fail:
	return xm_redirect__fail(-errno, msg, msglen, "mkdir %s: %s", path, strerror(errno));
}

static void redirect_loader__set_knobs(struct xmesh_redirect_bpf *skel, const struct xm_redirect_config *cfg)
{
	skel->rodata->outbound_ip4 = cfg->outbound_ip4;
	memcpy((void *)skel->rodata->outbound_ip6, cfg->outbound_ip6, sizeof(cfg->outbound_ip6));
	skel->rodata->outbound_port = cfg->outbound_port;
	skel->rodata->inbound_port = cfg->inbound_port;
	skel->rodata->exclude_uid = cfg->exclude_uid;
	skel->rodata->exclude_mark = cfg->exclude_mark;
	skel->rodata->include_only = cfg->include_only;
	skel->rodata->redirect_ipv6 = cfg->redirect_ipv6;
	skel->rodata->sockmap_enabled = !!(cfg->features & XM_FEAT_SOCKMAP);
	skel->rodata->inbound_steer_all = cfg->inbound_steer_all;
}

/* Maps are pinned by name, so a second install (a restart) reuses them and their contents;
 * the rodata map is not (each load carries its own knobs) and is pinned after load. */
static int redirect_loader__pin_maps(struct bpf_object *obj, const char *instance)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		err = xm_redirect__path(path, sizeof(path), instance, "maps", bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

/* Detaches what one pin holds and removes the pin. ENOENT is success: nothing there. */
static int redirect_loader__detach_pin(const char *instance, const struct xm_redirect__att *a)
{
	char path[PATH_MAX];
	int fd, map_fd, err = 0;

	xm_redirect__path(path, sizeof(path), instance, a->target == XM_T_SOCKHASH ? "progs" : "links", a->pin);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (a->target == XM_T_SOCKHASH) {
		map_fd = xm_redirect__map_fd(instance, "sock_pairs");
		if (map_fd >= 0) {
			if (bpf_prog_detach2(fd, map_fd, a->type) && errno != ENOENT)
				err = -errno;
			close(map_fd);
		}
	} else if (bpf_link_detach(fd) && errno != ENOENT) {
		err = -errno;
	}
	close(fd);
	if (unlink(path) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

/* The attach point a pinned link holds matches the one asked for (so it can be updated in place). */
static bool redirect_loader__link_matches(int link_fd, const struct xm_redirect__att *a, int target_fd, int ifindex)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct stat st;

	if (bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return false;
	switch (a->target) {
	case XM_T_APP_CGROUP:
	case XM_T_SIDECAR_CGROUP:
	case XM_T_SOCKOPS_CGROUP:
		return !fstat(target_fd, &st) && info.cgroup.cgroup_id == (__u64)st.st_ino &&
		       info.cgroup.attach_type == a->type;
	case XM_T_NETNS:
		return !fstat(target_fd, &st) && info.netns.netns_ino == (__u32)st.st_ino;
	case XM_T_IFINDEX:
		return info.xdp.ifindex == (__u32)ifindex;
	default:
		return false;
	}
}

/* Attaches one program, replacing a pinned link in place when it holds the same attach point. */
static int redirect_loader__attach(const char *instance, const struct xm_redirect__att *a, int prog_fd,
			  const struct xm_redirect__targets *t, const struct xm_redirect_config *cfg,
			  bool *replaced, char *msg, size_t msglen)
{
	char path[PATH_MAX];
	int target_fd, link_fd, err;

	*replaced = false;
	xm_redirect__path(path, sizeof(path), instance, a->target == XM_T_SOCKHASH ? "progs" : "links", a->pin);
	if (a->target == XM_T_SOCKHASH) {
		/* a sockmap holds one program per attach type: attaching replaces the old one */
		if (bpf_prog_attach(prog_fd, t->sock_pairs, a->type, 0))
			return xm_redirect__fail(-errno, msg, msglen, "attach %s to sock_pairs: %s", a->pin, strerror(errno));
		*replaced = unlink(path) == 0;
		if (bpf_obj_pin(prog_fd, path))
			return xm_redirect__fail(-errno, msg, msglen, "pin %s: %s", path, strerror(errno));
		return 0;
	}
	target_fd = a->target == XM_T_APP_CGROUP ? t->app_cg
		  : a->target == XM_T_SIDECAR_CGROUP ? t->sidecar_cg
		  : a->target == XM_T_SOCKOPS_CGROUP ? t->sockops_cg
		  : a->target == XM_T_NETNS ? t->netns : cfg->ifindex;

	link_fd = bpf_obj_get(path);
	if (link_fd >= 0) {
		if (redirect_loader__link_matches(link_fd, a, target_fd, cfg->ifindex) &&
		    bpf_link_update(link_fd, prog_fd, NULL) == 0) {
			close(link_fd);
			*replaced = true;
			return 0;
		}
		close(link_fd);
		/* a different attach point (or no update support): the old one goes first */
		err = redirect_loader__detach_pin(instance, a);
		if (err)
			return xm_redirect__fail(err, msg, msglen, "detach old %s: %s", a->pin, strerror(-err));
	}

	LIBBPF_OPTS(bpf_link_create_opts, opts);
	if (a->target == XM_T_IFINDEX && cfg->xdp_generic)
		opts.flags = XDP_FLAGS_SKB_MODE;
	link_fd = bpf_link_create(prog_fd, target_fd, a->type, &opts);
	if (link_fd < 0)
		return xm_redirect__fail(-errno, msg, msglen, "attach %s: %s", a->pin, strerror(errno));
	err = bpf_obj_pin(link_fd, path) ? -errno : 0;
	if (err) {
		bpf_link_detach(link_fd);
		xm_redirect__fail(err, msg, msglen, "pin %s: %s", path, strerror(-err));
	}
	close(link_fd);
	return err;
}

static const char *redirect_loader__xdp_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return "unknown";
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV: return "native";
	case XDP_ATTACHED_SKB: return "generic";
	case XDP_ATTACHED_HW: return "offload";
	case XDP_ATTACHED_MULTI: return "multi";
	default: return "none";
	}
}

int xm_redirect_install(const struct xm_redirect_config *cfg, struct xm_redirect_result *res,
			char *msg, size_t msglen)
{
	struct xm_redirect__targets t = { -1, -1, -1, -1, -1 };
	struct xmesh_redirect_bpf *skel = NULL;
	libbpf_print_fn_t old_print = libbpf_set_print(xm_redirect__print);
	char path[PATH_MAX];
	bool fresh, replaced;
	int err;

	memset(res, 0, sizeof(*res));
	if (msg && msglen)
		msg[0] = '\0';
	if (!xm_redirect_instance_valid(cfg->instance)) {
		err = xm_redirect__fail(-EINVAL, msg, msglen, "instance name must match [A-Za-z0-9_.-]{1,64}");
		goto out;
	}
	if (!cfg->features || cfg->features & ~XM_FEAT__ALL) {
		err = xm_redirect__fail(-EINVAL, msg, msglen, "no or unknown features requested (0x%x)", cfg->features);
		goto out;
	}
	if ((err = xm_redirect__check_bpffs(msg, msglen)) || (err = redirect_loader__open_targets(cfg, &t, msg, msglen)))
		goto out;
	xm_redirect__path(path, sizeof(path), cfg->instance, NULL, NULL);
	fresh = access(path, F_OK) != 0;
	if ((err = redirect_loader__mkdirs(cfg->instance, msg, msglen)))
		goto out;

	skel = xmesh_redirect_bpf__open();
	if (!skel) {
		err = xm_redirect__fail(-errno, msg, msglen, "open bpf/xmesh_redirect: %s", strerror(errno));
		goto undo;
	}
	redirect_loader__set_knobs(skel, cfg);
	for (size_t i = 0; i < xm_redirect__n_atts; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(skel->obj, xm_redirect__atts[i].prog);

		if (p)
			bpf_program__set_autoload(p, (xm_redirect__atts[i].features & cfg->features) != 0);
	}
	if ((err = redirect_loader__pin_maps(skel->obj, cfg->instance))) {
		xm_redirect__fail(err, msg, msglen, "map pin paths: %s", strerror(-err));
		goto undo;
	}
	xm_redirect__path(path, sizeof(path), cfg->instance, "maps", "counters");
	res->reused_maps = access(path, F_OK) == 0;
	err = xmesh_redirect_bpf__load(skel);
	if (err) {
		err = err < 0 ? err : -EINVAL;
		xm_redirect__fail(err, msg, msglen,
				  "load bpf/xmesh_redirect: %s (a pinned map from an incompatible build? "
				  "XMESH_BPF_DEBUG=1 shows the verifier log)", strerror(-err));
		goto undo;
	}
	/* knobs of this load, for status: replace the previous load's rodata pin */
	xm_redirect__path(path, sizeof(path), cfg->instance, "maps", "rodata");
	unlink(path);
	if (bpf_map__pin(skel->maps.rodata, path)) {
		err = xm_redirect__fail(-errno, msg, msglen, "pin %s: %s", path, strerror(errno));
		goto undo;
	}
	/* lists before programs: an excluded port is never redirected, not even once */
	if ((err = xm_redirect_set_lists(cfg->instance, &cfg->lists, msg, msglen)))
		goto undo;
	t.sock_pairs = dup(bpf_map__fd(skel->maps.sock_pairs));

	for (size_t i = 0; i < xm_redirect__n_atts; i++) {
		const struct xm_redirect__att *a = &xm_redirect__atts[i];

		if (!(a->features & cfg->features)) {
			err = redirect_loader__detach_pin(cfg->instance, a);
			if (err) {
				xm_redirect__fail(err, msg, msglen, "detach %s: %s", a->pin, strerror(-err));
				goto undo;
			}
			continue;
		}
		err = redirect_loader__attach(cfg->instance, a, bpf_program__fd(bpf_object__find_program_by_name(skel->obj, a->prog)),
				     &t, cfg, &replaced, msg, msglen);
		if (err)
			goto undo;
		res->attached |= a->features & cfg->features;
		res->replaced += replaced;
	}
	if (cfg->features & XM_FEAT_XDP)
		res->xdp_mode = redirect_loader__xdp_mode(cfg->ifindex);
	err = 0;
	goto out;
undo:
	/* a failed fresh install leaves nothing; a failed upgrade keeps what still runs */
	if (fresh)
		xm_redirect_uninstall(cfg->instance, NULL, NULL, 0);
out:
	xmesh_redirect_bpf__destroy(skel);
	redirect_loader__close_targets(&t);
	libbpf_set_print(old_print);
	return err;
}

/* Removes every entry of a pin directory (ours alone: anything there was pinned by xmesh). */
static unsigned redirect_loader__clear_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			n += unlink(path) == 0;
	}
	closedir(d);
	rmdir(dir);
	return n;
}

/* Removes every socket from sock_pairs (each goes back to the plain TCP path). */
static void redirect_loader__flush_sockhash(const char *instance)
{
	struct xm_sock_key key;
	int fd = xm_redirect__map_fd(instance, "sock_pairs");

	if (fd < 0)
		return;
	/* bounded: each pass deletes the first key; a socket added meanwhile is deleted too */
	for (unsigned n = 0; n < 2 * XM_SOCKHASH_MAX && bpf_map_get_next_key(fd, NULL, &key) == 0; n++)
		bpf_map_delete_elem(fd, &key);
	close(fd);
}

int xm_redirect_uninstall(const char *instance, unsigned *removed, char *msg, size_t msglen)
{
	static const char *const subs[] = { "links", "progs", "maps" };
	char path[PATH_MAX];
	unsigned n = 0;
	int err = 0, e;

	if (removed)
		*removed = 0;
	if (!xm_redirect_instance_valid(instance))
		return xm_redirect__fail(-EINVAL, msg, msglen, "instance name must match [A-Za-z0-9_.-]{1,64}");
	xm_redirect__path(path, sizeof(path), instance, NULL, NULL);
	if (access(path, F_OK))
		goto out; /* nothing installed */
	for (size_t i = xm_redirect__n_atts; i-- > 0;) {
		const struct xm_redirect__att *a = &xm_redirect__atts[i];
		char pin[PATH_MAX];

		xm_redirect__path(pin, sizeof(pin), instance, a->target == XM_T_SOCKHASH ? "progs" : "links", a->pin);
		if (access(pin, F_OK))
			continue;
		e = redirect_loader__detach_pin(instance, a);
		if (e && !err)
			err = xm_redirect__fail(e, msg, msglen, "detach %s: %s", a->pin, strerror(-e));
		n += e == 0;
	}
	/* Sockets in sock_pairs hold the sk_msg program through their psock, and the program holds
	 * the map: empty it (sockops is detached, nothing adds to it now), or that cycle keeps both
	 * alive until every one of those connections closes. */
	redirect_loader__flush_sockhash(instance);
	for (size_t i = 0; i < 3; i++) {
		xm_redirect__path(path, sizeof(path), instance, subs[i], NULL);
		n += redirect_loader__clear_dir(path);
	}
	xm_redirect__path(path, sizeof(path), instance, NULL, NULL);
	if (rmdir(path) && errno != ENOENT && !err)
		err = xm_redirect__fail(-errno, msg, msglen, "rmdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", XM_PIN_ROOT, instance);
	rmdir(path); /* fails while another ABI version's pins remain: theirs to remove */
	rmdir(XM_PIN_ROOT);
out:
	if (removed)
		*removed = n;
	return err;
}
