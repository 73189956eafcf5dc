/* The kept-object store (core/keep.c): find-or-create by (kind, key), keys with NULs, growth, failed makes, teardown. */
#include "core/keep.h"
#include "t.h"
#include "xm.h"

/* An object remembers its key; kinds count their makes and frees. */
struct obj {
	char key[64];
	size_t klen;
	int *frees;
};

struct kind_ctx {
	int makes, frees, fail;
};

static void *obj_make(void *ctx, const char *key, size_t klen, char *err, size_t errlen)
{
	struct kind_ctx *k = ctx;
	if (k->fail) {
		snprintf(err, errlen, "refused");
		return NULL;
	}
	struct obj *o = calloc(1, sizeof(*o));
	memcpy(o->key, key, klen < sizeof(o->key) ? klen : sizeof(o->key));
	o->klen = klen;
	o->frees = &k->frees;
	k->makes++;
	return o;
}

static void obj_free(void *p)
{
	struct obj *o = p;
	(*o->frees)++;
	free(o);
}

static const struct xm_keep_kind kind_a = { "a", obj_make, obj_free };
static const struct xm_keep_kind kind_b = { "b", obj_make, obj_free };

/* Lookups in one store, in order: each either finds an object made earlier (same step
 * index) or makes a new one. */
static void test_find_or_create(void)
{
	static const struct {
		const char *desc;
		int kind;           /* 0 = a, 1 = b */
		const char *key;
		size_t klen;
		int same_as;        /* -1: a new object; else the object of that earlier step */
	} steps[] = {
		{ "first key of kind a is made", 0, "svc", 3, -1 },
		{ "same kind and key: found, not made again", 0, "svc", 3, 0 },
		{ "same key, other kind: its own object", 1, "svc", 3, -1 },
		{ "a prefix of a key is another key", 0, "sv", 2, -1 },
		{ "a key with a NUL inside", 0, "svc\0x", 5, -1 },
		{ "differs from it after the NUL only", 0, "svc\0y", 5, -1 },
		{ "the NUL key again is found", 0, "svc\0x", 5, 4 },
		{ "the empty key is a key", 0, "", 0, -1 },
		{ "the empty key again", 0, "", 0, 7 },
		{ "kind b's key found again", 1, "svc", 3, 2 },
	};
	struct kind_ctx ctx[2] = { { 0 }, { 0 } };
	struct xm_keep *k = NULL;
	void *got[XM_ARRAY_SIZE(steps)];
	char err[64];
	int made = 0;

	T_CHECK_EQ(xm_keep_new(&k), 0);
	for (size_t i = 0; i < XM_ARRAY_SIZE(steps); i++) {
		const struct xm_keep_kind *kind = steps[i].kind ? &kind_b : &kind_a;
		got[i] = xm_keep_get(k, kind, steps[i].key, steps[i].klen, &ctx[steps[i].kind], err, sizeof(err));
		int ok = got[i] != NULL;
		if (ok && steps[i].same_as >= 0)
			ok = got[i] == got[steps[i].same_as];
		if (ok && steps[i].same_as < 0) {
			made++;
			for (size_t j = 0; j < i; j++)
				ok &= got[j] != got[i];
			struct obj *o = got[i];
			ok &= o->klen == steps[i].klen && memcmp(o->key, steps[i].key, steps[i].klen) == 0;
		}
		if (!ok)
			fprintf(stderr, "  step %zu: %s\n", i, steps[i].desc);
		T_CHECK(ok);
	}
	T_CHECK_EQ(ctx[0].makes + ctx[1].makes, made);
	T_CHECK_EQ(ctx[1].makes, 1);
	xm_keep_free(k);
	/* Every object made is freed once, by its own kind. */
	T_CHECK_EQ(ctx[0].frees, ctx[0].makes);
	T_CHECK_EQ(ctx[1].frees, ctx[1].makes);
}

/* Far more keys than the initial 64 buckets: every one is still found after the table
 * doubled several times, and none is made twice. */
static void test_growth(void)
{
	struct kind_ctx ctx = { 0 };
	struct xm_keep *k = NULL;
	static void *objs[5000];
	char key[32], err[64];

	T_CHECK_EQ(xm_keep_new(&k), 0);
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "listener-%d", i);
		objs[i] = xm_keep_get(k, &kind_a, key, (size_t)n, &ctx, err, sizeof(err));
		T_CHECK(objs[i] != NULL);
	}
	int found = 0;
	for (int i = 4999; i >= 0; i--) {
		int n = snprintf(key, sizeof(key), "listener-%d", i);
		found += xm_keep_get(k, &kind_a, key, (size_t)n, &ctx, err, sizeof(err)) == objs[i];
	}
	T_CHECK_EQ(found, 5000);
	T_CHECK_EQ(ctx.makes, 5000);
	xm_keep_free(k);
	T_CHECK_EQ(ctx.frees, 5000);
}

/* A make that fails returns NULL with its reason and keeps nothing: the next lookup of the
 * key makes it again, and teardown frees only what was made. */
static void test_make_failure(void)
{
	struct kind_ctx ctx = { .fail = 1 };
	struct xm_keep *k = NULL;
	char err[64] = "";

	T_CHECK_EQ(xm_keep_new(&k), 0);
	T_CHECK(xm_keep_get(k, &kind_a, "x", 1, &ctx, err, sizeof(err)) == NULL);
	T_CHECK(strcmp(err, "refused") == 0);
	T_CHECK(xm_keep_get(k, &kind_a, "x", 1, &ctx, err, sizeof(err)) == NULL);
	T_CHECK_EQ(ctx.makes, 0);
	ctx.fail = 0;
	void *o = xm_keep_get(k, &kind_a, "x", 1, &ctx, err, sizeof(err));
	T_CHECK(o != NULL);
	T_CHECK_EQ(ctx.makes, 1);
	T_CHECK(xm_keep_get(k, &kind_a, "x", 1, &ctx, err, sizeof(err)) == o);
	xm_keep_free(k);
	T_CHECK_EQ(ctx.frees, 1);
}

static int plain_makes;
static void *plain_make(void *ctx, const char *key, size_t klen, char *err, size_t errlen)
{
	static int slots[4];
	(void)ctx, (void)key, (void)klen, (void)err, (void)errlen;
	return &slots[plain_makes++ % 4];
}

/* A kind without a free (objects it does not own) is torn down without a call; the others
 * still get theirs; an empty store and NULL free cleanly. */
static void test_free(void)
{
	static const struct xm_keep_kind plain = { "plain", plain_make, NULL };
	struct kind_ctx ctx = { 0 };
	struct xm_keep *k = NULL;
	char err[64];

	T_CHECK_EQ(xm_keep_new(&k), 0);
	T_CHECK(xm_keep_get(k, &plain, "p", 1, NULL, err, sizeof(err)) != NULL);
	T_CHECK(xm_keep_get(k, &kind_a, "p", 1, &ctx, err, sizeof(err)) != NULL);
	T_CHECK(xm_keep_get(k, &kind_b, "p", 1, &ctx, err, sizeof(err)) != NULL);
	T_CHECK_EQ(plain_makes, 1);
	xm_keep_free(k);
	T_CHECK_EQ(ctx.frees, 2);
	T_CHECK_EQ(xm_keep_new(&k), 0);
	xm_keep_free(k);
	xm_keep_free(NULL);
}

T_MAIN_BEGIN
	T_RUN("find-or-create by (kind, key); keys may hold NULs; kinds never share objects", test_find_or_create);
	T_RUN("5,000 keys past the initial buckets: all found again, none made twice", test_growth);
	T_RUN("a failed make returns its reason and keeps nothing", test_make_failure);
	T_RUN("teardown frees each object once through its kind (none without a free)", test_free);
T_MAIN_END
