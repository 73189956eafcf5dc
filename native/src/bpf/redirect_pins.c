/* Pin layout, attachment table and error plumbing shared by the redirect loader's files. */
#include "redirect_int.h"
#include "redirect_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <bpf/bpf.h>

#define XM__BPF_FS_MAGIC 0xcafe4a11

/* Order matters: install attaches top to bottom, so the tuple recorder (sockops) and the
 * original-destination answer (getsockopt) are in place before connect4/6 start redirecting,
 * and uninstall detaches bottom to top. */
const struct xm_redirect__att xm_redirect__atts[] = {
	{ "xm_sk_msg", XM_FEAT_SOCKMAP, BPF_SK_MSG_VERDICT, XM_T_SOCKHASH, "sk_msg" },
	{ "xm_sockops", XM_FEAT_CONNECT | XM_FEAT_SOCKMAP, BPF_CGROUP_SOCK_OPS, XM_T_SOCKOPS_CGROUP, "sockops" },
	{ "xm_getsockopt", XM_FEAT_ORIGDST, BPF_CGROUP_GETSOCKOPT, XM_T_SIDECAR_CGROUP, "getsockopt" },
	{ "xm_connect4", XM_FEAT_CONNECT, BPF_CGROUP_INET4_CONNECT, XM_T_APP_CGROUP, "connect4" },
	{ "xm_connect6", XM_FEAT_CONNECT, BPF_CGROUP_INET6_CONNECT, XM_T_APP_CGROUP, "connect6" },
	{ "xm_sk_lookup", XM_FEAT_SKLOOKUP, BPF_SK_LOOKUP, XM_T_NETNS, "sk_lookup" },
	{ "xm_xdp_deny", XM_FEAT_XDP, BPF_XDP, XM_T_IFINDEX, "xdp" },
};
const size_t xm_redirect__n_atts = sizeof(xm_redirect__atts) / sizeof(xm_redirect__atts[0]);

bool xm_redirect_instance_valid(const char *instance)
{
	size_t n = 0;

	if (!instance || !instance[0] || !strcmp(instance, ".") || !strcmp(instance, ".."))
		return false;
	for (; instance[n]; n++) {
		char c = instance[n];

		if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

int xm_redirect__path(char *buf, size_t len, const char *instance, const char *sub, const char *name)
{
	int n;

	if (name)
		n = snprintf(buf, len, "%s/%s/v%d/%s/%s", XM_PIN_ROOT, instance, XM_ABI_VERSION, sub, name);
	else if (sub)
		n = snprintf(buf, len, "%s/%s/v%d/%s", XM_PIN_ROOT, instance, XM_ABI_VERSION, sub);
	else
		n = snprintf(buf, len, "%s/%s/v%d", XM_PIN_ROOT, instance, XM_ABI_VERSION);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int xm_redirect__fail(int err, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return err;
}

int xm_redirect__check_bpffs(char *msg, size_t msglen)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) || (unsigned long)st.f_type != XM__BPF_FS_MAGIC)
		return xm_redirect__fail(-ENOTSUP, msg, msglen,
					 "/sys/fs/bpf is not a bpffs mount: pins need it (mount -t bpf bpf /sys/fs/bpf)");
	return 0;
}

int xm_redirect__print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!getenv("XMESH_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int xm_redirect__map_fd(const char *instance, const char *name)
{
	char path[256];
	int err, fd;

	err = xm_redirect__path(path, sizeof(path), instance, "maps", name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}
