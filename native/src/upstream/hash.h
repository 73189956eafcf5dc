/* 64-bit hashes of consistent-hashing keys and peers' addresses: stable across processes and versions (ring hash and Maglev positions depend on them). */
#ifndef XM_HASH_H
#define XM_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

uint64_t xm_hash64(const void *data, size_t len);
/* Seeded variant (xm_hash64 is seed 0). */
uint64_t xm_hash64_seed(const void *data, size_t len, uint64_t seed);
/* Hash of a peer's IP address (and port when with_port): the source-address LB key. */
uint64_t xm_hash_peer(const struct sockaddr_storage *ss, int with_port);

#endif
