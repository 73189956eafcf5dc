/* Filter chain selection (config/chain_match.c): Envoy's FilterChainMatch order and specificity, table-driven over built tables. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "config/table.h"
#include "t.h"

/* A chain spelled in a compact form: "" = any for every field. */
struct cm_spec {
	const char *name;
	uint16_t dport;
	const char *dst;        /* "10.0.0.0/8" */
	const char *app;        /* one application protocol */
	const char *transport;
	const char *sni;
	const char *src;        /* source range */
	uint16_t sport;
};

static void cm__cidr(struct xm_cidr *c, const char *s)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	*slash = 0;
	c->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	inet_pton(c->family, buf, c->addr);
	c->len = (uint8_t)atoi(slash + 1);
}

static void cm__build(struct xm_chain *ch, const struct cm_spec *sp)
{
	memset(ch, 0, sizeof(*ch));
	ch->name = (char *)sp->name;
	ch->m.dport = sp->dport;
	if (sp->dst) {
		ch->m.dst = calloc(1, sizeof(*ch->m.dst));
		cm__cidr(ch->m.dst, sp->dst);
		ch->m.ndst = 1;
	}
	if (sp->src) {
		ch->m.src = calloc(1, sizeof(*ch->m.src));
		cm__cidr(ch->m.src, sp->src);
		ch->m.nsrc = 1;
	}
	if (sp->app) {
		ch->m.app_protos = calloc(1, sizeof(char *));
		ch->m.app_protos[0] = (char *)sp->app;
		ch->m.napp_protos = 1;
	}
	if (sp->sni) {
		ch->m.server_names = calloc(1, sizeof(char *));
		ch->m.server_names[0] = (char *)sp->sni;
		ch->m.nserver_names = 1;
	}
	ch->m.transport = (char *)sp->transport;
	if (sp->sport) {
		ch->m.sports = calloc(1, sizeof(uint16_t));
		ch->m.sports[0] = sp->sport;
		ch->m.nsports = 1;
	}
}

static void cm__free(struct xm_chain *ch)
{
	free(ch->m.dst);
	free(ch->m.src);
	free(ch->m.app_protos);
	free(ch->m.server_names);
	free(ch->m.sports);
}

static void cm__addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		a->sin6_port = htons(port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &a->sin_addr);
		a->sin_port = htons(port);
	}
}

static const struct {
	const char *desc;
	struct cm_spec chains[4];
	int nchains;
	int has_default;
	const char *dst_ip;
	uint16_t dst_port;
	const char *src_ip;
	uint16_t src_port;
	const char *app;
	const char *want; /* chain name, "default", or NULL (closed) */
} cases[] = {
	{ "one catch-all chain takes everything", { { "all" } }, 1, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "all" },
	{ "an exact destination port beats any port", { { "any" }, { "p80", .dport = 80 } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "p80" },
	{ "another port falls to the wildcard chain", { { "any" }, { "p80", .dport = 80 } }, 2, 0, "10.1.2.3", 81, "1.1.1.1", 5000, NULL, "any" },
	{ "no chain for the port and no wildcard: the default chain", { { "p80", .dport = 80 } }, 1, 1, "10.1.2.3", 81, "1.1.1.1", 5000, NULL, "default" },
	{ "no chain and no default: closed", { { "p80", .dport = 80 } }, 1, 0, "10.1.2.3", 81, "1.1.1.1", 5000, NULL, NULL },
	{ "the longest destination prefix wins", { { "wide", .dst = "10.0.0.0/8" }, { "narrow", .dst = "10.1.0.0/16" } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "narrow" },
	{ "a /0 still beats a chain without ranges", { { "none" }, { "zero", .dst = "0.0.0.0/0" } }, 2, 0, "192.168.1.1", 80, "1.1.1.1", 5000, NULL, "zero" },
	{ "the port is decided before the address (Envoy's order)", { { "addr", .dst = "10.1.2.3/32" }, { "port", .dport = 80 } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "port" },
	{ "IPv6 ranges", { { "v4", .dst = "10.0.0.0/8" }, { "v6", .dst = "fd00::/8" } }, 2, 0, "fd00::1", 80, "::1", 5000, NULL, "v6" },
	{ "a detected protocol picks its chain", { { "rpc", .app = "bolt" }, { "other" } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, "bolt", "rpc" },
	{ "an undetected connection takes the chain without protocols", { { "rpc", .app = "bolt" }, { "other" } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "other" },
	{ "another protocol: the chain without protocols", { { "rpc", .app = "bolt" }, { "other" } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, "dubbo", "other" },
	{ "server names need a TLS inspector: never matched yet", { { "sni", .sni = "a.example" } }, 1, 1, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "default" },
	{ "transport raw_buffer matches plain TCP, tls does not", { { "tls", .transport = "tls" }, { "raw", .transport = "raw_buffer" } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "raw" },
	{ "source ranges after destinations", { { "any" }, { "lan", .src = "192.168.0.0/16" } }, 2, 0, "10.1.2.3", 80, "192.168.5.5", 5000, NULL, "lan" },
	{ "a source port", { { "any" }, { "sp", .sport = 5000 } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, NULL, "sp" },
	{ "a chain that names another value drops out at that level", { { "p80", .dport = 80, .app = "dubbo" }, { "p80any", .dport = 80 } }, 2, 0, "10.1.2.3", 80, "1.1.1.1", 5000, "bolt", "p80any" },
};

static void test_select(void)
{
	for (size_t i = 0; i < XM_ARRAY_SIZE(cases); i++) {
		struct xm_chain chains[4], dflt = { .name = "default" };
		struct xm_listener_cfg lc = { .chains = chains, .nchains = (uint32_t)cases[i].nchains };
		struct xm_conn_facts f;
		for (int c = 0; c < cases[i].nchains; c++)
			cm__build(&chains[c], &cases[i].chains[c]);
		if (cases[i].has_default)
			lc.dflt = &dflt;
		cm__addr(&f.local, cases[i].dst_ip, cases[i].dst_port);
		cm__addr(&f.peer, cases[i].src_ip, cases[i].src_port);
		f.app_proto = cases[i].app;
		const struct xm_chain *got = xm_chain_select(&lc, &f);
		const char *name = got ? got->name : NULL;
		int ok = (name == NULL && cases[i].want == NULL) || (name && cases[i].want && strcmp(name, cases[i].want) == 0);
		if (!ok)
			fprintf(stderr, "  %s: want %s, got %s\n", cases[i].desc, cases[i].want ? cases[i].want : "(none)",
				name ? name : "(none)");
		T_CHECK(ok);
		for (int c = 0; c < cases[i].nchains; c++)
			cm__free(&chains[c]);
	}
}

static void test_by_key(void)
{
	struct xm_chain chains[2] = { { .name = "a", .key = 11 }, { .name = "b", .key = 22 } }, dflt = { .name = "d", .key = 33 };
	struct xm_listener_cfg lc = { .chains = chains, .nchains = 2, .dflt = &dflt };
	T_CHECK(xm_chain_by_key(&lc, 22) == &chains[1]);
	T_CHECK(xm_chain_by_key(&lc, 33) == &dflt);
	T_CHECK(xm_chain_by_key(&lc, 44) == NULL);
}

T_MAIN_BEGIN
T_RUN("filter chains are chosen as Envoy chooses them: order of criteria, most specific, default chain", test_select);
T_RUN("a connection finds its chain again by key after a swap", test_by_key);
T_MAIN_END
