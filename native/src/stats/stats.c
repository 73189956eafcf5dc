/* The shared-memory statistics block: an append-only record file mapped by every process that shares the counters. */
#include "stats/stats.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xm.h"

/*
 * File layout (all offsets from the start of the file, everything 8-byte aligned):
 *   struct stats__hdr            64 bytes
 *   record, record, ...          up to hdr.used
 * A record is { u32 type, u32 key_len, key bytes + NUL, pad to 8, value }. Records are never
 * moved or freed, so a value pointer handed out stays valid for the life of the mapping.
 *
 * Appends are serialised by the in-process mutex plus flock() on the file, because during
 * a hot restart two processes map the same block and both may add entries. A writer fills
 * the record beyond `used` and then publishes it with a release store of `used`; readers
 * (another process catching up, foreach) load `used` with acquire and only look below it.
 * A snapshot build registers up to ~10 entries per endpoint: inside xm_stats_batch_begin/end
 * the flock is taken once and kept: a lock/unlock pair per entry was about half of a
 * 100k-endpoint first apply (native 1.8 s -> 0.9-1.3 s, bench/RESULTS.md).
 */

#define STATS__MAGIC 0x31535441544d5858ull /* "XXMTATS1" little-endian, arbitrary */
#define STATS__VERSION 1u
#define STATS__KEY_MAX 4096u /* defensive: keys are built by code, never this long */

struct stats__hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hist_buckets; /* struct xm_hist layout check */
	uint64_t capacity;     /* bytes, as sized by the process that last grew the file */
	uint64_t used;         /* end of the last published record (release / acquire) */
	uint64_t overflow;     /* fallback overflow counter if even its record did not fit */
	uint64_t reserved[3];
};

struct stats__rec {
	uint32_t type;
	uint32_t key_len; /* without the NUL */
	char key[];
};

struct stats__slot {
	uint64_t hash;
	uint64_t off; /* 0 = empty: no record starts at offset 0 */
};

struct xm_stats {
	pthread_mutex_t lock; /* index + appends within this process */
	int fd;
	char *path;           /* NULL for memfd */
	unsigned char *map;
	size_t map_size;
	struct stats__hdr *hdr;
	uint64_t scanned;     /* records below this offset are in the index */
	struct stats__slot *index;
	size_t index_cap, index_len;
	uint64_t *overflow;
	int64_t *used_gauge;  /* stats.used_bytes (NULL until created) */
	char overflow_key[160]; /* the first key that did not fit (under lock) */
	unsigned batch;       /* xm_stats_batch_begin depth (under lock) */
	int flocked;          /* this process holds the file lock for a batch (under lock) */
	/* Process-local sinks for callers when the block is full: written, never read. */
	uint64_t dummy_counter;
	int64_t dummy_gauge;
	struct xm_hist dummy_hist;
};

_Static_assert(sizeof(struct stats__hdr) == 64, "stats header is 64 bytes");

static inline size_t stats__align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

static size_t stats__value_size(uint32_t type)
{
	switch (type) {
	case XM_STAT_COUNTER:
		return sizeof(uint64_t);
	case XM_STAT_GAUGE:
		return sizeof(int64_t);
	case XM_STAT_HIST:
		return sizeof(struct xm_hist);
	}
	return 0;
}

static inline size_t stats__value_off(uint32_t key_len) { return stats__align8(sizeof(struct stats__rec) + key_len + 1u); }

/* FNV-1a with a final avalanche: keys are short and trusted, this only spreads the index. */
static uint64_t stats__hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Bytes this process may use: its own mapping, never more than the header says. */
static size_t stats__limit(const struct xm_stats *s)
{
	uint64_t cap = xm_atomic_load(&s->hdr->capacity);
	return cap < s->map_size ? (size_t)cap : s->map_size;
}

static size_t stats__published(const struct xm_stats *s)
{
	uint64_t used = __atomic_load_n(&s->hdr->used, __ATOMIC_ACQUIRE);
	return used < s->map_size ? (size_t)used : s->map_size;
}

/* Validate the record at off (below end); returns its size or 0 if it is not a record. */
static size_t stats__rec_size(const struct xm_stats *s, size_t off, size_t end)
{
	const struct stats__rec *r;
	size_t vs, size;

	if (off + sizeof(*r) > end)
		return 0;
	r = (const struct stats__rec *)(s->map + off);
	vs = stats__value_size(r->type);
	if (!vs || r->key_len > STATS__KEY_MAX)
		return 0;
	size = stats__value_off(r->key_len) + vs;
	if (off + size > end || r->key[r->key_len] != '\0')
		return 0;
	return size;
}

static int stats__index_grow(struct xm_stats *s)
{
	size_t ncap = s->index_cap ? s->index_cap * 2 : 256;
	struct stats__slot *n = calloc(ncap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < s->index_cap; i++) {
		struct stats__slot *o = &s->index[i];
		if (!o->off)
			continue;
		size_t j = o->hash & (ncap - 1);
		while (n[j].off)
			j = (j + 1) & (ncap - 1);
		n[j] = *o;
	}
	free(s->index);
	s->index = n;
	s->index_cap = ncap;
	return 0;
}

static int stats__index_add(struct xm_stats *s, uint64_t hash, uint64_t off)
{
	int err = 0;
	size_t j;

	if ((s->index_len + 1) * 10 > s->index_cap * 7) {
		err = stats__index_grow(s);
		if (err)
			goto out;
	}
	j = hash & (s->index_cap - 1);
	while (s->index[j].off)
		j = (j + 1) & (s->index_cap - 1);
	s->index[j].hash = hash;
	s->index[j].off = off;
	s->index_len++;
out:
	return err;
}

static struct stats__rec *stats__index_find(struct xm_stats *s, uint64_t hash, const char *key, size_t len)
{
	if (!s->index_cap)
		return NULL;
	for (size_t j = hash & (s->index_cap - 1); s->index[j].off; j = (j + 1) & (s->index_cap - 1)) {
		struct stats__rec *r = (struct stats__rec *)(s->map + s->index[j].off);
		if (s->index[j].hash == hash && r->key_len == len && memcmp(r->key, key, len) == 0)
			return r;
	}
	return NULL;
}

/* Index the records published since the last scan (by us or by another process). A
 * malformed record stops the scan: nothing after it can be trusted to be aligned. */
static void stats__catch_up(struct xm_stats *s)
{
	size_t end = stats__published(s);

	while (s->scanned < end) {
		size_t size = stats__rec_size(s, s->scanned, end);
		if (!size)
			break;
		struct stats__rec *r = (struct stats__rec *)(s->map + s->scanned);
		/* A duplicate key (two processes racing before flock existed) keeps the first. */
		uint64_t h = stats__hash(r->key, r->key_len);
		if (!stats__index_find(s, h, r->key, r->key_len) && stats__index_add(s, h, s->scanned) < 0)
			break;
		s->scanned += size;
	}
}

static void *stats__find_or_create(struct xm_stats *s, uint32_t type, const char *key)
{
	size_t len = strlen(key), size, off;
	uint64_t h = stats__hash(key, len);
	struct stats__rec *r;
	void *val = NULL;
	int locked = 0;

	pthread_mutex_lock(&s->lock);
	stats__catch_up(s);
	r = stats__index_find(s, h, key, len);
	if (!r && len <= STATS__KEY_MAX) {
		/* Another process may have appended the same key since our scan: serialise
		 * with it, then look again before appending. Inside a batch the lock, once
		 * taken, stays held until xm_stats_batch_end. */
		if (!s->flocked) {
			locked = flock(s->fd, LOCK_EX) == 0;
			if (locked && s->batch) {
				s->flocked = 1;
				locked = 0;
			}
		}
		stats__catch_up(s);
		r = stats__index_find(s, h, key, len);
		if (!r && s->scanned == stats__published(s)) {
			size = stats__value_off((uint32_t)len) + stats__value_size(type);
			off = s->scanned;
			if (off + size <= stats__limit(s)) {
				r = (struct stats__rec *)(s->map + off);
				/* The area past `used` is zero (sparse file, never written), except
				 * after a writer died mid-append: clear it to be sure. */
				memset(r, 0, size);
				r->type = type;
				r->key_len = (uint32_t)len;
				memcpy(r->key, key, len + 1);
				if (stats__index_add(s, h, off) < 0) {
					r = NULL;
				} else {
					__atomic_store_n(&s->hdr->used, off + size, __ATOMIC_RELEASE);
					s->scanned = off + size;
					if (s->used_gauge)
						xm_gauge_set(s->used_gauge, (int64_t)(off + size));
				}
			}
		}
		if (locked)
			flock(s->fd, LOCK_UN);
	}
	if (r && r->type == type) {
		val = (char *)r + stats__value_off(r->key_len);
	} else {
		xm_stat_inc(s->overflow); /* full, or the key exists with another type */
		if (!s->overflow_key[0])
			snprintf(s->overflow_key, sizeof(s->overflow_key), "%s%s", key,
				 r ? " (exists with another type)" : "");
	}
	pthread_mutex_unlock(&s->lock);
	return val;
}

void xm_stats_batch_begin(struct xm_stats *s)
{
	pthread_mutex_lock(&s->lock);
	s->batch++;
	pthread_mutex_unlock(&s->lock);
}

void xm_stats_batch_end(struct xm_stats *s)
{
	pthread_mutex_lock(&s->lock);
	xm_assert(s->batch > 0);
	if (--s->batch == 0 && s->flocked) {
		flock(s->fd, LOCK_UN);
		s->flocked = 0;
	}
	pthread_mutex_unlock(&s->lock);
}

uint64_t *xm_stats_counter(struct xm_stats *s, const char *key) { return stats__find_or_create(s, XM_STAT_COUNTER, key); }
int64_t *xm_stats_gauge(struct xm_stats *s, const char *key) { return stats__find_or_create(s, XM_STAT_GAUGE, key); }
struct xm_hist *xm_stats_hist(struct xm_stats *s, const char *key) { return stats__find_or_create(s, XM_STAT_HIST, key); }

/* ---- formatted keys ---- */

struct stats__sb {
	char *p;
	size_t len, cap;
	int oom;
	char inl[256];
};

static void stats__sb_printf(struct stats__sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stats__sb_printf(struct stats__sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len)
			break;
		size_t ncap = (b->len + (size_t)n + 1) * 2;
		char *np = b->p == b->inl ? malloc(ncap) : realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		if (b->p == b->inl)
			memcpy(np, b->inl, b->len + 1);
		b->p = np;
		b->cap = ncap;
	}
	b->len += (size_t)n;
}

/*
 * vsnprintf, except that the output of every %s conversion has '}' replaced by '_' so a
 * label value cannot close its {k=v} segment early. Conversions are formatted one at a
 * time so we know which bytes came from %s. '*' widths and %n are not supported.
 */
static char *stats__vformat(struct stats__sb *b, const char *fmt, va_list ap)
{
	b->p = b->inl;
	b->cap = sizeof(b->inl);
	b->len = 0;
	b->oom = 0;
	b->p[0] = '\0';
	while (*fmt && !b->oom) {
		const char *pct = strchr(fmt, '%');
		if (!pct) {
			stats__sb_printf(b, "%s", fmt);
			break;
		}
		if (pct > fmt)
			stats__sb_printf(b, "%.*s", (int)(pct - fmt), fmt);
		const char *p = pct + 1;
		char spec[32];
		int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 intmax, 5 ptrdiff, 6 long double */
		while (*p && strchr("-+ #0'", *p))
			p++;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'h') {
			p += p[1] == 'h' ? 2 : 1;
		} else if (*p == 'l') {
			lng = p[1] == 'l' ? 2 : 1;
			p += lng;
		} else if (*p == 'q' || *p == 'L') {
			lng = *p == 'L' ? 6 : 2;
			p++;
		} else if (*p == 'z' || *p == 'Z') {
			lng = 3;
			p++;
		} else if (*p == 'j') {
			lng = 4;
			p++;
		} else if (*p == 't') {
			lng = 5;
			p++;
		}
		xm_assert(*p && *p != '*' && *p != 'n' && (size_t)(p - pct + 1) < sizeof(spec));
		memcpy(spec, pct, (size_t)(p - pct + 1));
		spec[p - pct + 1] = '\0';
		switch (*p) {
		case '%':
			stats__sb_printf(b, "%%");
			break;
		case 's': {
			size_t from = b->len;
			stats__sb_printf(b, spec, va_arg(ap, const char *));
			for (size_t i = from; i < b->len && !b->oom; i++)
				if (b->p[i] == '}')
					b->p[i] = '_';
			break;
		}
		case 'c':
			stats__sb_printf(b, spec, va_arg(ap, int));
			break;
		case 'p':
			stats__sb_printf(b, spec, va_arg(ap, void *));
			break;
		case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
			if (lng == 6)
				stats__sb_printf(b, spec, va_arg(ap, long double));
			else
				stats__sb_printf(b, spec, va_arg(ap, double));
			break;
		default: /* d i u o x X */
			xm_assert(strchr("diouxX", *p));
			switch (lng) {
			case 1: stats__sb_printf(b, spec, va_arg(ap, long)); break;
			case 2: stats__sb_printf(b, spec, va_arg(ap, long long)); break;
			case 3: stats__sb_printf(b, spec, va_arg(ap, size_t)); break;
			case 4: stats__sb_printf(b, spec, va_arg(ap, intmax_t)); break;
			case 5: stats__sb_printf(b, spec, va_arg(ap, ptrdiff_t)); break;
			default: stats__sb_printf(b, spec, va_arg(ap, int)); break;
			}
		}
		fmt = p + 1;
	}
	return b->oom ? NULL : b->p;
}

static void *stats__findf(struct xm_stats *s, uint32_t type, const char *fmt, va_list ap)
{
	struct stats__sb b;
	char *key = stats__vformat(&b, fmt, ap);
	void *v = NULL;

	if (key)
		v = stats__find_or_create(s, type, key);
	else
		xm_stat_inc(s->overflow);
	if (b.p != b.inl)
		free(b.p);
	return v;
}

uint64_t *xm_stats_counterf(struct xm_stats *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	uint64_t *v = stats__findf(s, XM_STAT_COUNTER, fmt, ap);
	va_end(ap);
	return v ? v : &s->dummy_counter;
}

int64_t *xm_stats_gaugef(struct xm_stats *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int64_t *v = stats__findf(s, XM_STAT_GAUGE, fmt, ap);
	va_end(ap);
	return v ? v : &s->dummy_gauge;
}

struct xm_hist *xm_stats_histf(struct xm_stats *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct xm_hist *v = stats__findf(s, XM_STAT_HIST, fmt, ap);
	va_end(ap);
	return v ? v : &s->dummy_hist;
}

/* ---- open / close ---- */

/* Open path (or a memfd) locked, and decide whether its content can be adopted. A file
 * written by an incompatible version is unlinked and replaced: a process still mapping
 * it keeps its own inode, so it is not disturbed. */
static int stats__open_fd(struct xm_stats *s, const char *path, int *adopt)
{
	struct stats__hdr hdr;
	struct stat sb;
	int err = 0, tries;

	*adopt = 0;
	for (tries = 0; tries < 2; tries++) {
		s->fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : memfd_create("xmesh-stats", MFD_CLOEXEC);
		if (s->fd < 0) {
			err = -errno;
			goto out;
		}
		if (flock(s->fd, LOCK_EX) < 0 || fstat(s->fd, &sb) < 0) {
			err = -errno;
			goto out;
		}
		if (sb.st_size == 0)
			goto out; /* fresh: initialise */
		if (sb.st_size >= (off_t)sizeof(hdr) && pread(s->fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
		    hdr.magic == STATS__MAGIC && hdr.version == STATS__VERSION && hdr.hist_buckets == XM_HIST_NBUCKETS &&
		    hdr.used >= sizeof(hdr) && hdr.used <= (uint64_t)sb.st_size) {
			*adopt = 1;
			goto out;
		}
		if (!path || unlink(path) < 0) {
			err = path ? -errno : -EPROTO;
			goto out;
		}
		close(s->fd);
		s->fd = -1;
	}
	err = -EEXIST; /* someone keeps recreating an incompatible file under us */
out:
	return err;
}

int xm_stats_open(struct xm_stats **out, const char *path, size_t capacity)
{
	struct xm_stats *s = NULL;
	struct stat sb;
	int err, adopt = 0, flocked = 0;

	capacity = stats__align8(capacity);
	if (capacity < sizeof(struct stats__hdr) + 256) {
		err = -EINVAL;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (path && !(s->path = strdup(path))) {
		err = -ENOMEM;
		goto out;
	}
	err = stats__open_fd(s, path, &adopt);
	flocked = s->fd >= 0;
	if (err)
		goto out;
	if (fstat(s->fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	/* Grow (sparsely) to the requested capacity; an adopted block never shrinks, since
	 * the process that created it may be using all of it. */
	if ((size_t)sb.st_size < capacity && ftruncate(s->fd, (off_t)capacity) < 0) {
		err = -errno;
		goto out;
	}
	s->map_size = (size_t)sb.st_size > capacity ? (size_t)sb.st_size : capacity;
	s->map = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		err = -errno;
		goto out;
	}
	s->hdr = (struct stats__hdr *)s->map;
	if (!adopt) {
		s->hdr->version = STATS__VERSION;
		s->hdr->hist_buckets = XM_HIST_NBUCKETS;
		s->hdr->used = sizeof(struct stats__hdr);
		__atomic_store_n(&s->hdr->magic, STATS__MAGIC, __ATOMIC_RELEASE);
	}
	if (s->hdr->capacity < s->map_size)
		xm_atomic_store(&s->hdr->capacity, s->map_size);
	flock(s->fd, LOCK_UN);
	flocked = 0;
	s->scanned = sizeof(struct stats__hdr);
	s->overflow = &s->hdr->overflow;
	pthread_mutex_lock(&s->lock);
	stats__catch_up(s);
	pthread_mutex_unlock(&s->lock);
	/* The overflow counter is an ordinary entry so exporters see it; it is created first,
	 * so it only falls back to the header field in an absurdly small block. */
	uint64_t *ov = xm_stats_counter(s, "stats.overflow_total");
	if (ov)
		s->overflow = ov;
	int64_t *cap = xm_stats_gauge(s, "stats.capacity_bytes");
	if (cap)
		xm_gauge_set(cap, (int64_t)stats__limit(s));
	s->used_gauge = xm_stats_gauge(s, "stats.used_bytes");
	if (s->used_gauge)
		xm_gauge_set(s->used_gauge, (int64_t)stats__published(s));
out:
	if (flocked)
		flock(s->fd, LOCK_UN);
	if (err) {
		xm_stats_close(s);
		s = NULL;
	}
	*out = s;
	return err;
}

void xm_stats_close(struct xm_stats *s)
{
	if (!s)
		return;
	if (s->map)
		munmap(s->map, s->map_size);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->index);
	free(s->path);
	free(s);
}

int xm_stats_foreach(struct xm_stats *s, xm_stats_visit_fn cb, void *ctx)
{
	size_t end = stats__published(s), off = sizeof(struct stats__hdr), size;
	int rc = 0;

	/* Published records are immutable, so no lock is needed to walk them, and the
	 * callback may itself create entries (they are simply not visited). */
	while (off < end && (size = stats__rec_size(s, off, end)) != 0) {
		const struct stats__rec *r = (const struct stats__rec *)(s->map + off);
		rc = cb(ctx, (enum xm_stat_type)r->type, r->key, (const char *)r + stats__value_off(r->key_len));
		if (rc)
			break;
		off += size;
	}
	return rc;
}

size_t xm_stats_used(const struct xm_stats *s) { return (size_t)__atomic_load_n(&s->hdr->used, __ATOMIC_ACQUIRE); }
size_t xm_stats_capacity(const struct xm_stats *s) { return s->map_size; }
const char *xm_stats_path(const struct xm_stats *s) { return s->path ? s->path : ""; }

uint64_t xm_stats_overflow(struct xm_stats *s, char *key, size_t keylen)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = __atomic_load_n(s->overflow, __ATOMIC_RELAXED);
	if (keylen)
		snprintf(key, keylen, "%s", s->overflow_key);
	pthread_mutex_unlock(&s->lock);
	return n;
}
