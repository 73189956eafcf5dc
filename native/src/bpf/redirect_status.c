/* Status of an installed instance as one JSON document: knobs, attachments (from the pinned
 * links' kernel info), map fill levels and counters, read from the pins alone. */
#include "redirect_status.h"
#include "redirect_int.h"
#include "redirect_loader.h"
#include "redirect_maps.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "xmesh_redirect.skel.h" /* for struct xmesh_redirect_bpf__rodata only */
#pragma GCC diagnostic pop

#define XM__COUNTER_NAME(name, desc) #name,
static const char *const redirect_status__counter_names[] = { XM_COUNTERS(XM__COUNTER_NAME) };
#undef XM__COUNTER_NAME

/* Maps whose fill level status reports (the per-CPU arrays are always full). */
static const char *const redirect_status__maps[] = {
	"orig_dst_by_cookie", "orig_dst_by_tuple", "sock_pairs", "unpaired", "exclude_ports",
	"exclude_cidrs", "include_cidrs", "inbound_ports", "inbound_listener", "deny_rules",
};

static void redirect_status__knobs(FILE *f, const char *instance)
{
	struct xmesh_redirect_bpf__rodata ro;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), key = 0;
	char ip4[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN], uid[16];
	unsigned char *buf = NULL;
	uint32_t a4;
	int fd = xm_redirect__map_fd(instance, "rodata");

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.value_size < sizeof(ro) ||
	    !(buf = calloc(1, info.value_size)) || bpf_map_lookup_elem(fd, &key, buf)) {
		fprintf(f, "\"knobs\":null,");
		goto out;
	}
	memcpy(&ro, buf, sizeof(ro));
	a4 = htonl(ro.outbound_ip4);
	inet_ntop(AF_INET, &a4, ip4, sizeof(ip4));
	inet_ntop(AF_INET6, (const void *)ro.outbound_ip6, ip6, sizeof(ip6));
	if (ro.exclude_uid == 0xffffffff)
		snprintf(uid, sizeof(uid), "null");
	else
		snprintf(uid, sizeof(uid), "%u", ro.exclude_uid);
	fprintf(f,
		"\"knobs\":{\"outbound_ip4\":\"%s\",\"outbound_ip6\":\"%s\",\"outbound_port\":%u,"
		"\"inbound_port\":%u,\"exclude_uid\":%s,\"exclude_mark\":%u,\"include_only\":%s,"
		"\"redirect_ipv6\":%s,\"sockmap\":%s,\"inbound_steer_all\":%s},",
		ip4, ip6, ro.outbound_port, ro.inbound_port, uid, ro.exclude_mark,
		ro.include_only ? "true" : "false", ro.redirect_ipv6 ? "true" : "false",
		ro.sockmap_enabled ? "true" : "false", ro.inbound_steer_all ? "true" : "false");
out:
	free(buf);
	if (fd >= 0)
		close(fd);
}

/* One attachment's kernel view: program id and where it is attached. */
static void redirect_status__attachment(FILE *f, const char *instance, const struct xm_redirect__att *a, bool *first)
{
	char path[PATH_MAX];
	struct bpf_link_info li = {};
	struct bpf_prog_info pi = {};
	__u32 len;
	int fd;

	xm_redirect__path(path, sizeof(path), instance, a->target == XM_T_SOCKHASH ? "progs" : "links", a->pin);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	fprintf(f, "%s{\"name\":\"%s\"", *first ? "" : ",", a->pin);
	*first = false;
	if (a->target == XM_T_SOCKHASH) {
		len = sizeof(pi);
		if (!bpf_obj_get_info_by_fd(fd, &pi, &len))
			fprintf(f, ",\"prog_id\":%u,\"attach\":\"map\",\"map\":\"sock_pairs\"", pi.id);
	} else {
		len = sizeof(li);
		if (!bpf_obj_get_info_by_fd(fd, &li, &len)) {
			fprintf(f, ",\"link_id\":%u,\"prog_id\":%u", li.id, li.prog_id);
			if (a->target == XM_T_NETNS)
				fprintf(f, ",\"attach\":\"netns\",\"netns_ino\":%u", li.netns.netns_ino);
			else if (a->target == XM_T_IFINDEX)
				fprintf(f, ",\"attach\":\"xdp\",\"ifindex\":%u", li.xdp.ifindex);
			else
				fprintf(f, ",\"attach\":\"cgroup\",\"cgroup_id\":%llu",
					(unsigned long long)li.cgroup.cgroup_id);
		}
	}
	fputc('}', f);
	close(fd);
}

static void redirect_status__maps_fill(FILE *f, const char *instance)
{
	unsigned char key[64], next[64];
	bool first = true;

	fprintf(f, "\"maps\":{");
	for (size_t i = 0; i < sizeof(redirect_status__maps) / sizeof(redirect_status__maps[0]); i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		unsigned long n = 0;
		void *prev = NULL;
		int fd = xm_redirect__map_fd(instance, redirect_status__maps[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.key_size <= sizeof(key)) {
			while (bpf_map_get_next_key(fd, prev, next) == 0) {
				memcpy(key, next, info.key_size);
				prev = key;
				n++;
			}
			fprintf(f, "%s\"%s\":{\"entries\":%lu,\"max\":%u}", first ? "" : ",", redirect_status__maps[i], n,
				info.max_entries);
			first = false;
		}
		close(fd);
	}
	fprintf(f, "},");
}

static void redirect_status__counters(FILE *f, const char *instance)
{
	uint64_t v[XM_C__COUNT];
	int fd = xm_redirect__map_fd(instance, "counters");

	if (fd < 0 || xm_redirect_read_counters(fd, XM_C__COUNT, v)) {
		fprintf(f, "\"counters\":null");
	} else {
		fprintf(f, "\"counters\":{");
		for (unsigned i = 0; i < XM_C__COUNT; i++)
			fprintf(f, "%s\"%s\":%llu", i ? "," : "", redirect_status__counter_names[i], (unsigned long long)v[i]);
		fputc('}', f);
	}
	if (fd >= 0)
		close(fd);
}

int xm_redirect_status_json(const char *instance, char **json, char *msg, size_t msglen)
{
	char path[PATH_MAX];
	size_t size = 0;
	bool first = true;
	FILE *f;

	*json = NULL;
	if (!xm_redirect_instance_valid(instance))
		return xm_redirect__fail(-EINVAL, msg, msglen, "instance name must match [A-Za-z0-9_.-]{1,64}");
	f = open_memstream(json, &size);
	if (!f)
		return xm_redirect__fail(-ENOMEM, msg, msglen, "out of memory");
	xm_redirect__path(path, sizeof(path), instance, NULL, NULL);
	fprintf(f, "{\"instance\":\"%s\",\"abi\":%d,\"pin_dir\":\"%s\",", instance, XM_ABI_VERSION, path);
	if (access(path, F_OK)) {
		fprintf(f, "\"installed\":false}");
		fclose(f);
		return 0;
	}
	fprintf(f, "\"installed\":true,");
	redirect_status__knobs(f, instance);
	fprintf(f, "\"attachments\":[");
	for (size_t i = 0; i < xm_redirect__n_atts; i++)
		redirect_status__attachment(f, instance, &xm_redirect__atts[i], &first);
	fprintf(f, "],");
	redirect_status__maps_fill(f, instance);
	redirect_status__counters(f, instance);
	fprintf(f, ",\"note\":\"connections established before install keep their path; only new connects are redirected\"}");
	if (fclose(f)) {
		free(*json);
		*json = NULL;
		return xm_redirect__fail(-ENOMEM, msg, msglen, "out of memory");
	}
	return 0;
}
