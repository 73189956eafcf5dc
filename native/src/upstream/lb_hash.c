/* Consistent hashing: the Ketama-style ring and the Maglev table, built once per cluster view. */
#include <stdlib.h>

#include "upstream/cluster_int.h"

/* Envoy's bound on ring size; a ring is at most about twice its minimum size. */
#define LB__RING_MAX (1u << 23)
/* Maglev: table slots tried (deterministically, from the key) before the fallback scan. */
#define LB__MAGLEV_PROBES 16u
#define LB__RING_WALK_MIN 64u

/* ---- ring hash ---- */

static int lb__ring_cmp(const void *a, const void *b)
{
	const struct xm_lb_ring_entry *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host;
}

/*
 * Host i gets w_i * 2^k points (or ceil(w_i / 2^-k) when weights are large), with k the
 * smallest power making the ring reach min_size. Point j of a host hashes its name with
 * seed j, so a host's points do not depend on the other hosts: removing a host removes
 * only its own points (and so remaps only its own keys) unless the total weight crosses
 * a power of two -- rounding the scale to powers of two is what buys that stability.
 */
int xm__lb_ring_build(struct xm_lb *lb, const struct xm_cluster *c, uint32_t min_size)
{
	uint64_t total_w = 0, total = 0;
	int shift = 0; /* > 0: multiply weights by 2^shift; < 0: divide by 2^-shift */
	uint32_t pos = 0;
	int err = 0;

	if (min_size > LB__RING_MAX / 2)
		min_size = LB__RING_MAX / 2;
	for (uint32_t i = 0; i < c->nhosts; i++)
		total_w += c->hosts[i].weight;
	if (total_w < min_size) {
		while ((total_w << shift) < min_size) /* total_w < 2^22: no overflow */
			shift++;
	} else {
		while (shift > -63 && (total_w >> (1 - shift)) >= min_size)
			shift--;
	}
	for (uint32_t i = 0; i < c->nhosts; i++) {
		uint64_t w = c->hosts[i].weight;
		total += shift >= 0 ? w << shift : (w + (1ull << -shift) - 1) >> -shift;
	}
	if (total > LB__RING_MAX) {
		err = -E2BIG; /* only with hundreds of thousands of hosts */
		goto out;
	}
	lb->ring = malloc((size_t)total * sizeof(*lb->ring));
	if (!lb->ring) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < c->nhosts; i++) {
		const char *name = c->hosts[i].st->name;
		size_t len = strlen(name);
		uint64_t w = c->hosts[i].weight;
		uint64_t reps = shift >= 0 ? w << shift : (w + (1ull << -shift) - 1) >> -shift;
		for (uint64_t j = 0; j < reps; j++)
			lb->ring[pos++] = (struct xm_lb_ring_entry){ .hash = xm_hash64_seed(name, len, j), .host = i };
	}
	qsort(lb->ring, total, sizeof(*lb->ring), lb__ring_cmp);
	lb->size = (uint32_t)total;
out:
	return err;
}

const struct xm_host *xm__lb_ring_pick(const struct xm_cluster *c, uint64_t hash, const struct xm_lb_pick *p)
{
	const struct xm_lb *lb = c->lb;
	uint32_t lo = 0, hi = lb->size, walk;

	/* First point clockwise from the key: the lowest hash >= key, wrapping to 0. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (lb->ring[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* An unavailable owner hands the key to the next point's host, as in Ketama. The walk
	 * is bounded; the fallback scan after it is still a function of the key. */
	walk = 4 * c->nhosts + LB__RING_WALK_MIN;
	if (walk > lb->size)
		walk = lb->size;
	for (uint32_t k = 0; k < walk; k++) {
		if (lo >= lb->size)
			lo = 0;
		const struct xm_host *h = &c->hosts[lb->ring[lo++].host];
		if (xm__lb_ok(p, h))
			return h;
	}
	return NULL;
}

/* ---- maglev ---- */

/*
 * Population from the Maglev paper (Eisenbud et al., NSDI'16) with Envoy's weighting: each
 * host walks its own permutation (offset + j * skip) mod M of the slots, and in every round
 * a host claims its next free slot only if its share so far is behind its weight (a host
 * of the largest weight claims one slot per round, one of a third of it every third round).
 */
int xm__lb_maglev_build(struct xm_lb *lb, const struct xm_cluster *c, uint32_t m)
{
	struct ent {
		uint64_t offset, skip, next, target;
	} *e = NULL;
	uint64_t max_w = 0;
	uint32_t filled = 0;
	int err = -ENOMEM;

	lb->maglev = malloc((size_t)m * sizeof(*lb->maglev));
	e = calloc(c->nhosts, sizeof(*e));
	if (!lb->maglev || !e)
		goto out;
	memset(lb->maglev, 0xff, (size_t)m * sizeof(*lb->maglev)); /* UINT32_MAX = free */
	for (uint32_t i = 0; i < c->nhosts; i++) {
		const char *name = c->hosts[i].st->name;
		size_t len = strlen(name);
		e[i].offset = xm_hash64_seed(name, len, 0) % m;
		e[i].skip = xm_hash64_seed(name, len, 1) % (m - 1) + 1;
		if (c->hosts[i].weight > max_w)
			max_w = c->hosts[i].weight;
	}
	for (uint64_t round = 1; filled < m; round++) {
		for (uint32_t i = 0; i < c->nhosts && filled < m; i++) {
			if (round * c->hosts[i].weight < e[i].target)
				continue;
			e[i].target += max_w;
			uint64_t slot;
			/* m is prime and skip in [1, m-1]: the permutation visits every slot, so a
			 * free one is always found while filled < m. */
			do
				slot = (e[i].offset + e[i].skip * (e[i].next++ % m)) % m;
			while (lb->maglev[slot] != UINT32_MAX);
			lb->maglev[slot] = i;
			filled++;
		}
	}
	lb->size = m;
	err = 0;
out:
	free(e);
	return err;
}

const struct xm_host *xm__lb_maglev_pick(const struct xm_cluster *c, uint64_t hash, const struct xm_lb_pick *p)
{
	const struct xm_lb *lb = c->lb;
	uint64_t k = hash;

	/* Slot of the key, then (if its host cannot take it) a key-derived probe sequence, so
	 * an ejected host's keys spread over all others and come back when it does. */
	for (uint32_t i = 0; i <= LB__MAGLEV_PROBES; i++) {
		const struct xm_host *h = &c->hosts[lb->maglev[k % lb->size]];
		if (xm__lb_ok(p, h))
			return h;
		k = xm__mix64(hash + i + 1);
	}
	return NULL;
}
