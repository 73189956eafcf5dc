/* The data plane's kept objects: a chained hash by (kind, key), freed all at once at teardown. */
#include "core/keep.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct keep__ent {
	struct keep__ent *next;        /* hash chain */
	struct keep__ent *all;         /* every entry, newest first (teardown order) */
	const struct xm_keep_kind *kind;
	void *obj;
	size_t klen;
	char key[];
};

struct xm_keep {
	struct keep__ent **b;
	size_t nb, n;
	struct keep__ent *all;
};

static uint64_t keep__hash(const struct xm_keep_kind *kind, const char *key, size_t klen)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)kind; /* FNV-1a over the key */
	for (size_t i = 0; i < klen; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	return h;
}

int xm_keep_new(struct xm_keep **out)
{
	struct xm_keep *k = calloc(1, sizeof(*k));
	if (!k || !(k->b = calloc(64, sizeof(*k->b)))) {
		free(k);
		return -ENOMEM;
	}
	k->nb = 64;
	*out = k;
	return 0;
}

static int keep__grow(struct xm_keep *k)
{
	size_t nb = k->nb * 2;
	struct keep__ent **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (struct keep__ent *e = k->all; e; e = e->all) {
		size_t i = keep__hash(e->kind, e->key, e->klen) & (nb - 1);
		e->next = b[i];
		b[i] = e;
	}
	free(k->b);
	k->b = b;
	k->nb = nb;
	return 0;
}

void *xm_keep_get(struct xm_keep *k, const struct xm_keep_kind *kind, const char *key, size_t klen, void *ctx,
		  char *err, size_t errlen)
{
	size_t i = keep__hash(kind, key, klen) & (k->nb - 1);
	for (struct keep__ent *e = k->b[i]; e; e = e->next)
		if (e->kind == kind && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e->obj;
	if (k->n + 1 > k->nb && keep__grow(k) == 0)
		i = keep__hash(kind, key, klen) & (k->nb - 1);
	struct keep__ent *e = malloc(sizeof(*e) + klen + 1);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->obj = kind->make(ctx, key, klen, err, errlen);
	if (!e->obj) {
		free(e);
		return NULL;
	}
	e->kind = kind;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->key[klen] = 0;
	e->next = k->b[i];
	k->b[i] = e;
	e->all = k->all;
	k->all = e;
	k->n++;
	return e->obj;
}

void xm_keep_free(struct xm_keep *k)
{
	if (!k)
		return;
	while (k->all) {
		struct keep__ent *e = k->all;
		k->all = e->all;
		if (e->kind->free)
			e->kind->free(e->obj);
		free(e);
	}
	free(k->b);
	free(k);
}
