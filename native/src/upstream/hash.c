/* The 64-bit hash of consistent-hashing keys (XXH64, Yann Collet's algorithm, written out here) and of peers' addresses. */
#include <string.h>
#include <netinet/in.h>

#include "upstream/hash.h"

#define H__P1 0x9E3779B185EBCA87ull
#define H__P2 0xC2B2AE3D27D4EB4Full
#define H__P3 0x165667B19E3779F9ull
#define H__P4 0x85EBCA77C2B2AE63ull
#define H__P5 0x27D4EB2F165667C5ull

static inline uint64_t h__rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian reads, so the hash (and every ring built on it) is the same on any host. */
static inline uint64_t h__read64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t h__read32(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t h__round(uint64_t acc, uint64_t in)
{
	acc += in * H__P2;
	acc = h__rotl(acc, 31);
	return acc * H__P1;
}

static inline uint64_t h__merge(uint64_t acc, uint64_t v)
{
	acc ^= h__round(0, v);
	return acc * H__P1 + H__P4;
}

uint64_t xm_hash64_seed(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + H__P1 + H__P2, v2 = seed + H__P2, v3 = seed, v4 = seed - H__P1;
		do {
			v1 = h__round(v1, h__read64(p));
			v2 = h__round(v2, h__read64(p + 8));
			v3 = h__round(v3, h__read64(p + 16));
			v4 = h__round(v4, h__read64(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = h__rotl(v1, 1) + h__rotl(v2, 7) + h__rotl(v3, 12) + h__rotl(v4, 18);
		h = h__merge(h, v1);
		h = h__merge(h, v2);
		h = h__merge(h, v3);
		h = h__merge(h, v4);
	} else {
		h = seed + H__P5;
	}
	h += (uint64_t)len;
	for (; p + 8 <= end; p += 8) {
		h ^= h__round(0, h__read64(p));
		h = h__rotl(h, 27) * H__P1 + H__P4;
	}
	if (p + 4 <= end) {
		h ^= h__read32(p) * H__P1;
		h = h__rotl(h, 23) * H__P2 + H__P3;
		p += 4;
	}
	for (; p < end; p++) {
		h ^= (*p) * H__P5;
		h = h__rotl(h, 11) * H__P1;
	}
	h ^= h >> 33;
	h *= H__P2;
	h ^= h >> 29;
	h *= H__P3;
	h ^= h >> 32;
	return h;
}

uint64_t xm_hash64(const void *data, size_t len) { return xm_hash64_seed(data, len, 0); }

uint64_t xm_hash_peer(const struct sockaddr_storage *ss, int with_port)
{
	uint8_t buf[18];
	size_t n;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
		memcpy(buf, &in4->sin_addr, 4);
		memcpy(buf + 4, &in4->sin_port, 2);
		n = 4;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		memcpy(buf, &in6->sin6_addr, 16);
		memcpy(buf + 16, &in6->sin6_port, 2);
		n = 16;
	}
	return xm_hash64(buf, with_port ? n + 2 : n);
}

